/* test-host.c: parsing and normalising requested hosts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-error.h"
#include "hg-host.h"

#include <string.h>

typedef struct {
  const char *path;
  const char *input;
  HgHostFlags flags;
  const char *name;      /* expected normalised name */
  guint16 port;
  gboolean is_address;
} ValidCase;

static const ValidCase valid_cases[] = {
  { "lower-case", "API.Example.COM.", HG_HOST_PORT_OPTIONAL, "api.example.com", 0, FALSE },
  { "punycode", "münchen.de", HG_HOST_PORT_OPTIONAL, "xn--mnchen-3ya.de", 0, FALSE },
  { "nontransitional", "faß.de", HG_HOST_PORT_OPTIONAL, "xn--fa-hia.de", 0, FALSE },
  { "ideographic-stop", "evil\343\200\202com", HG_HOST_PORT_OPTIONAL, "evil.com", 0, FALSE },
  { "fullwidth-stop", "evil\357\274\216com", HG_HOST_PORT_OPTIONAL, "evil.com", 0, FALSE },
  { "halfwidth-stop", "evil\357\275\241com", HG_HOST_PORT_OPTIONAL, "evil.com", 0, FALSE },
  { "fullwidth-letters", "ＥＸＡＭＰＬＥ.com", HG_HOST_PORT_OPTIONAL, "example.com", 0, FALSE },
  { "unicode-upper", "MÜNCHEN.DE", HG_HOST_PORT_OPTIONAL, "xn--mnchen-3ya.de", 0, FALSE },
  { "punycode-input", "XN--MNCHEN-3YA.de", HG_HOST_PORT_OPTIONAL, "xn--mnchen-3ya.de", 0, FALSE },
  { "underscore", "_dmarc.Example.com", HG_HOST_PORT_OPTIONAL, "_dmarc.example.com", 0, FALSE },
  { "single-label", "localhost", HG_HOST_PORT_OPTIONAL, "localhost", 0, FALSE },
  { "digit-label", "123.example.com", HG_HOST_PORT_OPTIONAL, "123.example.com", 0, FALSE },
  { "with-port", "example.com:443", HG_HOST_PORT_OPTIONAL, "example.com", 443, FALSE },
  { "max-port", "example.com:65535", HG_HOST_PORT_OPTIONAL, "example.com", 65535, FALSE },
  { "connect", "example.com:443", HG_HOST_PORT_REQUIRED, "example.com", 443, FALSE },
  { "forbidden", "example.com", HG_HOST_PORT_FORBIDDEN, "example.com", 0, FALSE },
  { "ipv4", "203.0.113.7", HG_HOST_PORT_OPTIONAL, "203.0.113.7", 0, TRUE },
  { "ipv4-port", "203.0.113.7:8080", HG_HOST_PORT_REQUIRED, "203.0.113.7", 8080, TRUE },
  { "ipv4-trailing-dot", "203.0.113.7.", HG_HOST_PORT_OPTIONAL, "203.0.113.7", 0, TRUE },
  { "ipv4-zero", "0.0.0.0", HG_HOST_PORT_OPTIONAL, "0.0.0.0", 0, TRUE },
  { "ipv4-fullwidth", "１２７.０.０.１", HG_HOST_PORT_OPTIONAL, "127.0.0.1", 0, TRUE },
  { "ipv6-canonical", "[2001:DB8:0:0::1]", HG_HOST_PORT_OPTIONAL, "2001:db8::1", 0, TRUE },
  { "ipv6-port", "[2001:db8::1]:443", HG_HOST_PORT_REQUIRED, "2001:db8::1", 443, TRUE },
  { "ipv6-mapped", "[::ffff:169.254.169.254]", HG_HOST_PORT_OPTIONAL, "169.254.169.254", 0, TRUE },
  { "ipv6-mapped-hex", "[::ffff:a9fe:a9fe]:80", HG_HOST_PORT_REQUIRED, "169.254.169.254", 80, TRUE },
  { "ipv6-bare", "2001:DB8::1", HG_HOST_PORT_FORBIDDEN, "2001:db8::1", 0, TRUE },
  { "ipv6-loopback-bare", "::1", HG_HOST_PORT_FORBIDDEN, "::1", 0, TRUE },
};

typedef struct {
  const char *path;
  const char *input;
  gssize length;         /* -1 for a C string, else passed to hg_host_parse_len() */
  HgHostFlags flags;
  int code;
} InvalidCase;

#define HOST HG_PROTOCOL_ERROR_INVALID_HOST
#define PORT HG_PROTOCOL_ERROR_INVALID_PORT

static const InvalidCase invalid_cases[] = {
  { "empty", "", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "only-dot", ".", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "empty-label", "a..example.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "double-dot", "..", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "two-trailing-dots", "example.com..", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "leading-dot", ".example.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "wildcard", "*.example.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "space", "exa mple.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "tab", "exa\tmple.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "newline", "example.com\n", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "nul", "exa\0mple.com", 12, HG_HOST_PORT_OPTIONAL, HOST },
  { "nul-end", "example.com\0", 12, HG_HOST_PORT_OPTIONAL, HOST },
  { "nul-port", "example.com:443\0", 16, HG_HOST_PORT_REQUIRED, PORT },
  { "percent", "exa%6dple.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "userinfo", "user@host", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "scheme", "http://host", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "slash", "host/path", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "backslash", "host\\path", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "nbsp", "a\302\240b.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "snowman", "\342\230\203.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "bad-utf8", "\377.com", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "label-64",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
    -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "name-254",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.ee",
    -1, HG_HOST_PORT_OPTIONAL, HOST },
  /* 60 characters, but longer than 63 octets in punycode. */
  { "punycode-label-64", "üüüüüüüüüüüüüüüüüüüüaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.de", -1, HG_HOST_PORT_OPTIONAL, HOST },
  /* 247 characters, but 254 octets in punycode. */
  { "punycode-name-254",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
    "üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüab.de", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "decimal-number", "2130706433", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "hex-part", "0x7f.1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "hex-whole", "0x7f000001", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "short-form", "127.1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "three-parts", "10.0.1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "five-parts", "1.2.3.4.5", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "octal", "0177.0.0.1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "leading-zero", "012.0.0.1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "octet-256", "1.2.3.256", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "numeric-tld", "example.123", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "port-zero", "example.com:0", -1, HG_HOST_PORT_OPTIONAL, PORT },
  { "port-65536", "example.com:65536", -1, HG_HOST_PORT_OPTIONAL, PORT },
  { "port-leading-zero", "example.com:0443", -1, HG_HOST_PORT_OPTIONAL, PORT },
  { "port-sign", "example.com:+443", -1, HG_HOST_PORT_OPTIONAL, PORT },
  { "port-letters", "example.com:abc", -1, HG_HOST_PORT_OPTIONAL, PORT },
  { "port-huge", "example.com:99999999999999999999", -1, HG_HOST_PORT_OPTIONAL, PORT },
  { "port-forbidden", "example.com:443", -1, HG_HOST_PORT_FORBIDDEN, PORT },
  { "connect-no-port", "host", -1, HG_HOST_PORT_REQUIRED, PORT },
  { "connect-empty-port", "host:", -1, HG_HOST_PORT_REQUIRED, PORT },
  { "connect-bracket-ipv4", "[1.2.3.4]:443", -1, HG_HOST_PORT_REQUIRED, HOST },
  { "connect-bracket-name", "[name]:443", -1, HG_HOST_PORT_REQUIRED, HOST },
  { "connect-port-suffix", "host:443x", -1, HG_HOST_PORT_REQUIRED, PORT },
  { "connect-space-host", "host :443", -1, HG_HOST_PORT_REQUIRED, HOST },
  { "connect-space-port", "host:443 ", -1, HG_HOST_PORT_REQUIRED, PORT },
  { "connect-bare-ipv6", "::1:443", -1, HG_HOST_PORT_REQUIRED, HOST },
  { "connect-ipv6-no-port", "[::1]", -1, HG_HOST_PORT_REQUIRED, PORT },
  { "connect-two-ports", "host:443:80", -1, HG_HOST_PORT_REQUIRED, HOST },
  { "forbidden-two-colons", "host:443:80", -1, HG_HOST_PORT_FORBIDDEN, HOST },
  { "optional-bare-ipv6", "2001:db8::1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "bracket-unclosed", "[::1", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "bracket-suffix", "[::1]x", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "bracket-zone", "[fe80::1%eth0]", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "bracket-empty", "[]", -1, HG_HOST_PORT_OPTIONAL, HOST },
  { "bad-ipv6", "[1:2:3:4:5:6:7:8:9]", -1, HG_HOST_PORT_OPTIONAL, HOST },
};

static void
test_valid (gconstpointer data)
{
  const ValidCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse (c->input, c->flags, &error);

  g_assert_no_error (error);
  g_assert_nonnull (host);
  g_assert_cmpstr (host->name, ==, c->name);
  g_assert_cmpuint (host->port, ==, c->port);
  g_assert_true ((host->address != NULL) == c->is_address);
}

static void
test_invalid (gconstpointer data)
{
  const InvalidCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = NULL;

  if (c->length < 0)
    host = hg_host_parse (c->input, c->flags, &error);
  else
    host = hg_host_parse_len (c->input, c->length, c->flags, &error);

  g_assert_null (host);
  g_assert_error (error, HG_PROTOCOL_ERROR, c->code);
}

typedef struct {
  const char *path;
  const char *input;
  gssize length;
  const char *quoted;    /* what the message must contain */
} MessageCase;

static const MessageCase message_cases[] = {
  { "names-input", "exa mple.com", -1, "“exa mple.com”" },
  { "escapes-tab", "exa\tmple.com", -1, "“exa\\tmple.com”" },
  { "escapes-nul", "exa\0mple.com", 12, "“exa\\x00mple.com”" },
  { "escapes-newline", "a\r\nb", -1, "“a\\r\\nb”" },
  { "escapes-bidi", "a\342\200\256b.com", -1, "“a\\u{202e}b.com”" },
  { "escapes-bad-utf8", "\377.com", -1, "“\\xff.com”" },
  { "keeps-unicode", "münchen de", -1, "“münchen de”" },
  { "port-input", "example.com:0443", -1, "“example.com:0443”" },
  { "two-colons", "host:443:80", -1, "only one “:”" },
  { "bare-ipv6", "2001:db8::1:443", -1, "brackets" },
};

static void
test_message (gconstpointer data)
{
  const MessageCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse_len (c->input, c->length, HG_HOST_PORT_OPTIONAL, &error);

  g_assert_null (host);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, c->quoted));
}

static void
test_message_truncated (void)
{
  g_autofree char *input = g_strnfill (5000, 'a');
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse (input, HG_HOST_PORT_OPTIONAL, &error);

  g_assert_null (host);
  g_assert_nonnull (error);
  g_assert_cmpuint (strlen (error->message), <, 600);
  g_assert_nonnull (strstr (error->message, "…"));
}

static void
test_message_reason (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse ("0177.0.0.1", HG_HOST_PORT_OPTIONAL, &error);

  g_assert_null (host);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "leading zero"));
}

typedef struct {
  const char *path;
  const char *input;
  guint16 port;          /* 0 when @input is invalid */
} PortCase;

static const PortCase port_cases[] = {
  { "one", "1", 1 },
  { "https", "443", 443 },
  { "max", "65535", 65535 },
  { "zero", "0", 0 },
  { "over", "65536", 0 },
  { "leading-zero", "0443", 0 },
  { "plus", "+443", 0 },
  { "minus", "-1", 0 },
  { "letters", "abc", 0 },
  { "empty", "", 0 },
  { "space", " 443", 0 },
};

static void
test_port (gconstpointer data)
{
  const PortCase *c = data;
  g_autoptr(GError) error = NULL;
  guint16 port = 0;
  gboolean valid = hg_port_parse (c->input, &port, &error);

  if (c->port == 0)
    {
      g_assert_false (valid);
      g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PORT);
    }
  else
    {
      g_assert_no_error (error);
      g_assert_true (valid);
      g_assert_cmpuint (port, ==, c->port);
    }
}

typedef struct {
  const char *path;
  const char *input;
  const char *text;
} ToStringCase;

static const ToStringCase to_string_cases[] = {
  { "name", "Example.com", "example.com" },
  { "name-port", "example.com:8443", "example.com:8443" },
  { "ipv4-port", "192.0.2.1:80", "192.0.2.1:80" },
  { "ipv6", "[2001:db8:0::1]", "[2001:db8::1]" },
  { "ipv6-port", "[2001:db8::1]:443", "[2001:db8::1]:443" },
};

static void
test_to_string (gconstpointer data)
{
  const ToStringCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse (c->input, HG_HOST_PORT_OPTIONAL, &error);
  g_autoptr(HgHost) again = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_again = NULL;

  g_assert_no_error (error);
  text = hg_host_to_string (host);
  g_assert_cmpstr (text, ==, c->text);

  again = hg_host_parse (text, HG_HOST_PORT_OPTIONAL, &error);
  g_assert_no_error (error);
  text_again = hg_host_to_string (again);
  g_assert_cmpstr (text_again, ==, text);
}

static void
test_normalize_name (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = hg_host_normalize_name ("WWW.Example.ORG.", &error);
  g_autofree char *invalid = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "www.example.org");

  invalid = hg_host_normalize_name ("a..b", &error);
  g_assert_null (invalid);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_HOST);
}

static void
test_name_limits (void)
{
  g_autoptr(GString) name = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = NULL;
  g_autoptr(HgHost) longer = NULL;

  /* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 octets, the longest valid name. */
  g_string_append_len (name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", 64);
  g_string_append_len (name, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.", 64);
  g_string_append_len (name, "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.", 64);
  g_string_append_len (name, "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", 61);
  g_assert_cmpuint (name->len, ==, 253);

  host = hg_host_parse (name->str, HG_HOST_PORT_OPTIONAL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (host);

  g_string_append_c (name, 'd');
  longer = hg_host_parse (name->str, HG_HOST_PORT_OPTIONAL, &error);
  g_assert_null (longer);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_HOST);
}

/* User information, which may be a password, becomes "…" up to the
 * last "@", after any scheme. */
static void
test_hide_user_information (void)
{
  const struct {
    const char *text;
    const char *shown;
  } cases[] = {
    { "user:secret@host:443", "…@host:443" },
    { "http://user:secret@host", "http://…@host" },
    { "a@b@host", "…@host" },
    { "host:443", "host:443" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *shown = hg_hide_user_information (cases[i].text);

      g_assert_cmpstr (shown, ==, cases[i].shown);
    }
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, NULL);

  for (i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/host/valid/%s", valid_cases[i].path);
      g_test_add_data_func (path, &valid_cases[i], test_valid);
    }

  for (i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/host/invalid/%s", invalid_cases[i].path);
      g_test_add_data_func (path, &invalid_cases[i], test_invalid);
    }

  for (i = 0; i < G_N_ELEMENTS (message_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/host/message/%s", message_cases[i].path);
      g_test_add_data_func (path, &message_cases[i], test_message);
    }

  for (i = 0; i < G_N_ELEMENTS (port_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/host/port/%s", port_cases[i].path);
      g_test_add_data_func (path, &port_cases[i], test_port);
    }

  for (i = 0; i < G_N_ELEMENTS (to_string_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/host/to-string/%s", to_string_cases[i].path);
      g_test_add_data_func (path, &to_string_cases[i], test_to_string);
    }

  g_test_add_func ("/host/message/truncated", test_message_truncated);
  g_test_add_func ("/host/message/reason", test_message_reason);
  g_test_add_func ("/host/normalize-name", test_normalize_name);
  g_test_add_func ("/host/name-limits", test_name_limits);
  g_test_add_func ("/host/hide-user-information", test_hide_user_information);

  return g_test_run ();
}
