/* test-pattern.c: allow and deny list entries
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-error.h"
#include "hg-pattern.h"

#include <string.h>

typedef struct {
  const char *path;
  const char *entry;
  HgPatternFlags flags;
  HgPatternKind kind;
  const char *host;      /* expected HgPattern.host */
  guint16 port;
  const char *text;      /* expected hg_pattern_to_string() */
} ValidCase;

#define ALLOW HG_PATTERN_FLAG_NONE
#define DENY HG_PATTERN_FLAG_DENY

static const ValidCase valid_cases[] = {
  { "exact", "example.com", DENY, HG_PATTERN_EXACT, "example.com", 0, "example.com" },
  { "exact-normalised", "API.Example.COM.", ALLOW, HG_PATTERN_EXACT, "api.example.com", 0, "api.example.com" },
  { "exact-port", "example.com:8443", ALLOW, HG_PATTERN_EXACT, "example.com", 8443, "example.com:8443" },
  { "exact-punycode", "münchen.de", ALLOW, HG_PATTERN_EXACT, "xn--mnchen-3ya.de", 0, "xn--mnchen-3ya.de" },
  { "exact-ideographic-stop", "evil\343\200\202com", DENY, HG_PATTERN_EXACT, "evil.com", 0, "evil.com" },
  { "exact-underscore", "_sip._tcp.example.com", ALLOW, HG_PATTERN_EXACT, "_sip._tcp.example.com", 0, "_sip._tcp.example.com" },
  { "wildcard", "*.example.com", DENY, HG_PATTERN_WILDCARD, "example.com", 0, "*.example.com" },
  { "wildcard-port", "*.Example.com:443", ALLOW, HG_PATTERN_WILDCARD, "example.com", 443, "*.example.com:443" },
  { "wildcard-unicode", "*.MÜNCHEN.de", ALLOW, HG_PATTERN_WILDCARD, "xn--mnchen-3ya.de", 0, "*.xn--mnchen-3ya.de" },
  { "wildcard-tld", "*.com", DENY, HG_PATTERN_WILDCARD, "com", 0, "*.com" },
  { "any", "*", ALLOW, HG_PATTERN_ANY, NULL, 0, "*" },
  { "any-port", "*:443", ALLOW, HG_PATTERN_ANY, NULL, 443, "*:443" },
  { "ipv4", "203.0.113.7", DENY, HG_PATTERN_ADDRESS, "203.0.113.7", 0, "203.0.113.7" },
  { "ipv4-port", "203.0.113.7:80", ALLOW, HG_PATTERN_ADDRESS, "203.0.113.7", 80, "203.0.113.7:80" },
  { "ipv6", "[2001:DB8:0:0::1]", ALLOW, HG_PATTERN_ADDRESS, "2001:db8::1", 0, "[2001:db8::1]" },
  { "ipv6-port", "[2001:db8::1]:443", ALLOW, HG_PATTERN_ADDRESS, "2001:db8::1", 443, "[2001:db8::1]:443" },
  { "ipv6-mapped", "[::ffff:10.1.2.3]", DENY, HG_PATTERN_ADDRESS, "10.1.2.3", 0, "10.1.2.3" },
  { "cidr-ipv4", "10.0.0.0/8", DENY, HG_PATTERN_CIDR, NULL, 0, "10.0.0.0/8" },
  { "cidr-ipv4-all", "0.0.0.0/0", DENY, HG_PATTERN_CIDR, NULL, 0, "0.0.0.0/0" },
  { "cidr-ipv4-host", "192.0.2.1/32", DENY, HG_PATTERN_CIDR, NULL, 0, "192.0.2.1/32" },
  { "cidr-ipv6", "2001:DB8::/32", DENY, HG_PATTERN_CIDR, NULL, 0, "2001:db8::/32" },
  { "cidr-ipv6-odd", "fe80::/10", DENY, HG_PATTERN_CIDR, NULL, 0, "fe80::/10" },
  { "cidr-mapped", "::ffff:10.0.0.0/104", DENY, HG_PATTERN_CIDR, NULL, 0, "10.0.0.0/8" },
};

static void
test_valid (gconstpointer data)
{
  const ValidCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgPattern) pattern = hg_pattern_parse (c->entry, c->flags, &error);
  g_autoptr(HgPattern) again = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_again = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (pattern);
  g_assert_cmpint (pattern->kind, ==, c->kind);
  g_assert_cmpstr (pattern->host, ==, c->host);
  g_assert_cmpuint (pattern->port, ==, c->port);
  g_assert_true ((pattern->mask != NULL) ==
                 (c->kind == HG_PATTERN_ADDRESS || c->kind == HG_PATTERN_CIDR));

  text = hg_pattern_to_string (pattern);
  g_assert_cmpstr (text, ==, c->text);

  again = hg_pattern_parse (text, c->flags, &error);
  g_assert_no_error (error);
  text_again = hg_pattern_to_string (again);
  g_assert_cmpstr (text_again, ==, text);
}

typedef struct {
  const char *path;
  const char *entry;
  HgPatternFlags flags;
} InvalidCase;

static const InvalidCase invalid_cases[] = {
  { "empty", "", ALLOW },
  { "star-prefix", "*example.com", ALLOW },
  { "star-middle", "a.*.com", ALLOW },
  { "star-dot", "*.", ALLOW },
  { "star-star", "*.*.example.com", ALLOW },
  { "double-star", "**.example.com", ALLOW },
  { "star-suffix", "example.*", ALLOW },
  { "star-port-only", "*.:443", ALLOW },
  { "star-deny", "*", DENY },
  { "star-port-deny", "*:443", DENY },
  { "wildcard-address", "*.10.0.0.1", ALLOW },
  { "wildcard-numeric", "*.1", ALLOW },
  { "double-dot", "..", ALLOW },
  { "empty-label", "a..example.com", ALLOW },
  { "leading-dot", ".example.com", ALLOW },
  { "space", "exa mple.com", ALLOW },
  { "tab", "exa\tmple.com", ALLOW },
  { "userinfo", "user@host", ALLOW },
  { "scheme", "http://host", ALLOW },
  { "path", "example.com/path", ALLOW },
  { "percent", "exa%41mple.com", ALLOW },
  { "label-64",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", ALLOW },
  { "name-254",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.ee", ALLOW },
  { "port-zero", "example.com:0", ALLOW },
  { "port-65536", "example.com:65536", ALLOW },
  { "port-leading-zero", "example.com:0443", ALLOW },
  { "port-sign", "example.com:+443", ALLOW },
  { "port-letters", "example.com:abc", ALLOW },
  { "port-empty", "example.com:", ALLOW },
  { "decimal-number", "2130706433", DENY },
  { "hex-part", "0x7f.1", DENY },
  { "short-form", "127.1", DENY },
  { "octal", "0177.0.0.1", DENY },
  { "leading-zero", "012.0.0.1", DENY },
  { "bracket-ipv4", "[1.2.3.4]", ALLOW },
  { "bracket-name", "[example.com]:443", ALLOW },
  { "bracket-zone", "[fe80::1%eth0]", ALLOW },
  { "ipv6-bare", "2001:db8::1", DENY },
  { "ipv6-bare-port", "::1:443", DENY },
  { "cidr-host-bits", "10.0.0.1/8", DENY },
  { "cidr-ipv6-host-bits", "2001:db8::1/32", DENY },
  { "cidr-too-long", "10.0.0.0/33", DENY },
  { "cidr-ipv6-too-long", "2001:db8::/129", DENY },
  { "cidr-leading-zero", "10.0.0.0/08", DENY },
  { "cidr-empty-prefix", "10.0.0.0/", DENY },
  { "cidr-sign", "10.0.0.0/+8", DENY },
  { "cidr-port", "10.0.0.0/8:443", DENY },
  { "cidr-brackets", "[2001:db8::]/32", DENY },
  { "cidr-name", "example.com/8", DENY },
  { "cidr-octal", "010.0.0.0/8", DENY },
  { "cidr-short", "10/8", DENY },
  { "cidr-mapped-short", "::ffff:0:0/95", DENY },
  { "cidr-two-slashes", "10.0.0.0/8/8", DENY },
};

static void
test_invalid (gconstpointer data)
{
  const InvalidCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgPattern) pattern = hg_pattern_parse (c->entry, c->flags, &error);

  g_assert_null (pattern);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);
}

typedef struct {
  const char *path;
  const char *entry;
  HgPatternFlags flags;
  const char *fragment;  /* what the message must contain */
} MessageCase;

static const MessageCase message_cases[] = {
  { "names-entry", "*example.com", ALLOW, "“*example.com”" },
  { "star-rule", "a.*.com", ALLOW, "first label" },
  { "deny-rule", "*", DENY, "allow list" },
  { "host-bits-hint", "10.0.0.1/8", DENY, "10.0.0.0/8" },
  { "escapes-tab", "exa\tmple.com", ALLOW, "“exa\\tmple.com”" },
  { "scheme-rule", "https://example.com", ALLOW, "scheme" },
  { "slash-rule", "example.com/x", ALLOW, "address range" },
  { "octal-rule", "0177.0.0.1", ALLOW, "leading zero" },
  { "decimal-rule", "2130706433", ALLOW, "dotted-quad" },
  { "brackets-rule", "[example.com]", ALLOW, "only for IPv6" },
  { "bare-ipv6-rule", "2001:db8::1", ALLOW, "brackets" },
  { "two-colons-rule", "example.com:443:1", ALLOW, "only one “:”" },
  { "userinfo-rule", "user:secret@example.com", ALLOW, "user information" },
  { "userinfo-hidden", "user:secret@example.com:443", ALLOW, "“…@example.com:443”" },
  { "userinfo-scheme-hidden", "http://user:secret@example.com", ALLOW, "“http://…@example.com”" },
};

static void
test_message (gconstpointer data)
{
  const MessageCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgPattern) pattern = hg_pattern_parse (c->entry, c->flags, &error);

  g_assert_null (pattern);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, c->fragment));
}

/* A password in a list entry stays out of the message, which the
 * settings window shows and the agent may log. */
static void
test_message_hides_password (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgPattern) pattern = hg_pattern_parse ("user:secret@example.com", ALLOW, &error);

  g_assert_null (pattern);
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, "secret"));
}

static void
test_mask (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgPattern) pattern = hg_pattern_parse ("10.0.0.0/8", DENY, &error);
  g_autoptr(GInetAddress) inside = g_inet_address_new_from_string ("10.200.1.1");
  g_autoptr(GInetAddress) outside = g_inet_address_new_from_string ("11.0.0.1");

  g_assert_no_error (error);
  g_assert_cmpuint (g_inet_address_mask_get_length (pattern->mask), ==, 8);
  g_assert_true (g_inet_address_mask_matches (pattern->mask, inside));
  g_assert_false (g_inet_address_mask_matches (pattern->mask, outside));
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, NULL);

  for (i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/pattern/valid/%s", valid_cases[i].path);
      g_test_add_data_func (path, &valid_cases[i], test_valid);
    }

  for (i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/pattern/invalid/%s", invalid_cases[i].path);
      g_test_add_data_func (path, &invalid_cases[i], test_invalid);
    }

  for (i = 0; i < G_N_ELEMENTS (message_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/pattern/message/%s", message_cases[i].path);
      g_test_add_data_func (path, &message_cases[i], test_message);
    }

  g_test_add_func ("/pattern/message/hides-password", test_message_hides_password);
  g_test_add_func ("/pattern/mask", test_mask);

  return g_test_run ();
}
