/* test-filter.c: compiled sets of list entries
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-error.h"
#include "hg-filter.h"

#include <string.h>

typedef struct {
  const char *path;
  const char *entries[4];  /* NULL-terminated */
  const char *name;        /* NULL to match the address alone */
  const char *address;     /* NULL to match the name alone */
  guint16 port;
  gboolean matches;
} MatchCase;

static const MatchCase match_cases[] = {
  { "exact/same", { "example.com" }, "example.com", NULL, 443, TRUE },
  { "exact/any-port", { "example.com" }, "example.com", NULL, 8080, TRUE },
  { "exact/subdomain", { "example.com" }, "www.example.com", NULL, 443, FALSE },
  { "exact/parent", { "www.example.com" }, "example.com", NULL, 443, FALSE },
  { "wildcard/subdomain", { "*.example.com" }, "a.example.com", NULL, 443, TRUE },
  { "wildcard/deep", { "*.example.com" }, "x.y.example.com", NULL, 443, TRUE },
  { "wildcard/apex", { "*.example.com" }, "example.com", NULL, 443, FALSE },
  { "wildcard/lookalike", { "*.example.com" }, "badexample.com", NULL, 443, FALSE },
  { "wildcard/other", { "*.example.com" }, "example.org", NULL, 443, FALSE },
  { "wildcard/tld", { "*.com" }, "example.com", NULL, 443, TRUE },
  { "wildcard/depths-deep", { "*.com", "*.x.y.example.org" }, "a.x.y.example.org", NULL, 443, TRUE },
  { "wildcard/depths-short", { "*.com", "*.x.y.example.org" }, "a.b.c.d.e.com", NULL, 443, TRUE },
  { "wildcard/depths-miss", { "*.com", "*.x.y.example.org" }, "a.y.example.org", NULL, 443, FALSE },
  { "port/match", { "tracker.example:443" }, "tracker.example", NULL, 443, TRUE },
  { "port/other", { "tracker.example:443" }, "tracker.example", NULL, 80, FALSE },
  { "port/wildcard", { "*.example.com:443" }, "a.example.com", NULL, 443, TRUE },
  { "port/wildcard-other", { "*.example.com:443" }, "a.example.com", NULL, 8443, FALSE },
  { "port/list-hit", { "a.com:1", "a.com:3", "a.com:2" }, "a.com", NULL, 2, TRUE },
  { "port/list-miss", { "a.com:1", "a.com:3", "a.com:2" }, "a.com", NULL, 4, FALSE },
  { "port/list-and-any", { "a.com:1", "a.com:2", "a.com" }, "a.com", NULL, 4, TRUE },
  { "any/name", { "*" }, "anything.example.org", NULL, 443, TRUE },
  { "any/address", { "*" }, NULL, "192.0.2.1", 443, TRUE },
  { "any/port", { "*:443" }, "anything.example.org", NULL, 443, TRUE },
  { "any/port-other", { "*:443" }, "anything.example.org", NULL, 80, FALSE },
  { "empty/name", { NULL }, "example.com", NULL, 443, FALSE },
  { "empty/address", { NULL }, NULL, "192.0.2.1", 443, FALSE },
  { "cidr/inside", { "10.0.0.0/8" }, NULL, "10.200.1.1", 443, TRUE },
  { "cidr/outside", { "10.0.0.0/8" }, NULL, "11.0.0.1", 443, FALSE },
  { "cidr/mapped", { "10.0.0.0/8" }, NULL, "::ffff:10.1.1.1", 443, TRUE },
  { "cidr/nat64", { "10.0.0.0/8" }, NULL, "64:ff9b::a00:1", 443, TRUE },
  { "cidr/compatible", { "10.0.0.0/8" }, NULL, "::10.0.0.1", 443, TRUE },
  { "cidr/all-ipv4", { "0.0.0.0/0" }, NULL, "198.51.100.1", 443, TRUE },
  { "cidr/all-ipv4-not-ipv6", { "0.0.0.0/0" }, NULL, "2001:db8::1", 443, FALSE },
  { "cidr/ipv6-inside", { "2001:db8::/32" }, NULL, "2001:db8:ffff::1", 443, TRUE },
  { "cidr/ipv6-outside", { "2001:db8::/32" }, NULL, "2001:db9::1", 443, FALSE },
  { "cidr/ipv6-odd-length", { "fe80::/10" }, NULL, "febf::1", 443, TRUE },
  { "cidr/ipv6-odd-outside", { "fe80::/10" }, NULL, "fec0::1", 443, FALSE },
  { "cidr/lengths-hit", { "10.0.0.0/8", "192.168.1.0/24", "192.168.1.7" }, NULL, "192.168.1.200", 443, TRUE },
  { "cidr/lengths-miss", { "10.0.0.0/8", "192.168.1.0/24", "192.168.1.7" }, NULL, "192.168.2.1", 443, FALSE },
  { "address/ipv4", { "203.0.113.7" }, NULL, "203.0.113.7", 80, TRUE },
  { "address/ipv4-other", { "203.0.113.7" }, NULL, "203.0.113.8", 80, FALSE },
  { "address/ipv6-port", { "[2001:db8::1]:443" }, NULL, "2001:db8::1", 443, TRUE },
  { "address/ipv6-other-port", { "[2001:db8::1]:443" }, NULL, "2001:db8::1", 80, FALSE },
  { "address/name-entry", { "example.com" }, NULL, "192.0.2.1", 443, FALSE },
  { "literal-name/ipv4", { "10.0.0.0/8" }, "10.1.2.3", NULL, 443, TRUE },
  { "literal-name/ipv4-miss", { "10.0.0.0/8" }, "11.1.2.3", NULL, 443, FALSE },
  { "literal-name/ipv6", { "[2001:db8::1]:443" }, "2001:db8::1", NULL, 443, TRUE },
  { "literal-name/nat64", { "192.0.2.0/24" }, "64:ff9b::c000:201", NULL, 443, TRUE },
  { "literal-name/digit-tld", { "10.0.0.0/8" }, "host.a1", NULL, 443, FALSE },
  { "host/resolved", { "10.0.0.0/8" }, "internal.example", "10.1.2.3", 443, TRUE },
  { "host/name", { "internal.example" }, "internal.example", "192.0.2.9", 443, TRUE },
  { "host/neither", { "other.example", "10.0.0.0/8" }, "internal.example", "192.0.2.9", 443, FALSE },
};

static HgFilter *
filter_from_entries (const char *const *entries)
{
  HgFilter *filter = hg_filter_new ();
  guint i;

  for (i = 0; entries[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      hg_filter_add (filter, entries[i], HG_PATTERN_FLAG_NONE, &error);
      g_assert_no_error (error);
    }

  return filter;
}

static void
test_match (gconstpointer data)
{
  const MatchCase *c = data;
  g_autoptr(HgFilter) filter = filter_from_entries (c->entries);
  g_autoptr(GInetAddress) address = NULL;
  gboolean matches;

  if (c->address != NULL)
    {
      address = g_inet_address_new_from_string (c->address);
      g_assert_nonnull (address);
    }

  if (c->name == NULL)
    matches = hg_filter_match_address (filter, address, c->port);
  else if (address == NULL)
    matches = hg_filter_match_name (filter, c->name, c->port);
  else
    matches = hg_filter_match_host (filter, c->name, address, c->port);

  g_assert_true (matches == c->matches);
}

/* hg_filter_find_match() must agree with the match functions. */
static void
test_find_agrees (gconstpointer data)
{
  const MatchCase *c = data;
  g_autoptr(HgFilter) filter = filter_from_entries (c->entries);
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *entry = NULL;

  if (c->address != NULL)
    address = g_inet_address_new_from_string (c->address);

  entry = hg_filter_find_match (filter, c->name, address, c->port);
  g_assert_true ((entry != NULL) == c->matches);
}

typedef struct {
  const char *path;
  const char *name;
  const char *address;
  guint16 port;
  const char *entry;     /* expected match, or NULL */
} FindCase;

static const char *const find_entries[] = {
  "Example.com", "api.example.com:443", "*.example.org", "*.example.org:8443",
  "10.0.0.0/8", "192.0.2.1:80", "[2001:db8::1]:443", "2001:db8::/32", NULL,
};

static const FindCase find_cases[] = {
  { "exact", "example.com", NULL, 80, "example.com" },
  { "exact-port", "api.example.com", NULL, 443, "api.example.com:443" },
  { "wildcard", "a.b.example.org", NULL, 80, "*.example.org" },
  { "cidr", "internal.example", "10.9.8.7", 443, "10.0.0.0/8" },
  { "cidr-mapped", NULL, "::ffff:10.9.8.7", 443, "10.0.0.0/8" },
  { "address-port", NULL, "192.0.2.1", 80, "192.0.2.1:80" },
  { "ipv6-port", NULL, "2001:db8::1", 443, "[2001:db8::1]:443" },
  { "ipv6-range", NULL, "2001:db8::1", 80, "2001:db8::/32" },
  { "literal-name", "10.1.1.1", NULL, 443, "10.0.0.0/8" },
  { "none", "other.example", "192.0.2.2", 443, NULL },
};

static void
test_find (gconstpointer data)
{
  const FindCase *c = data;
  g_autoptr(HgFilter) filter = filter_from_entries (find_entries);
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *entry = NULL;

  if (c->address != NULL)
    address = g_inet_address_new_from_string (c->address);

  entry = hg_filter_find_match (filter, c->name, address, c->port);
  g_assert_cmpstr (entry, ==, c->entry);
}

static void
test_to_strv (void)
{
  static const char *const entries[] = {
    "Example.com", "example.com:443", "example.com", "*.example.org:8443",
    "*.example.org:80", "*", "10.0.0.0/8", "[2001:DB8::1]:443", "2001:db8::/32",
    "192.0.2.1/32", "203.0.113.7", NULL,
  };
  static const char *const expected[] = {
    "*", "*.example.org:80", "*.example.org:8443", "10.0.0.0/8", "192.0.2.1",
    "2001:db8::/32", "203.0.113.7", "[2001:db8::1]:443", "example.com",
    "example.com:443", NULL,
  };
  g_autoptr(HgFilter) filter = filter_from_entries (entries);
  g_auto(GStrv) strv = hg_filter_to_strv (filter);

  g_assert_cmpstrv (strv, expected);
  g_assert_cmpuint (hg_filter_get_size (filter), ==, g_strv_length ((GStrv) expected));
}

static void
test_to_strv_round_trip (void)
{
  static const char *const entries[] = {
    "a.example:1", "a.example:2", "a.example:3", "*.b.example", "*:8080",
    "[::ffff:10.0.0.1]:22", "fe80::/10", "0.0.0.0/0", NULL,
  };
  g_autoptr(HgFilter) filter = filter_from_entries (entries);
  g_auto(GStrv) strv = hg_filter_to_strv (filter);
  g_autoptr(HgFilter) again = filter_from_entries ((const char *const *) strv);
  g_auto(GStrv) strv_again = hg_filter_to_strv (again);

  g_assert_cmpstrv (strv_again, strv);
  g_assert_cmpuint (hg_filter_get_size (again), ==, hg_filter_get_size (filter));
}

static void
test_merge (void)
{
  static const char *const first_entries[] = { "a.example", "*.b.example", "10.0.0.0/8", NULL };
  static const char *const second_entries[] = {
    "a.example", "a.example:443", "*.c.example", "*:443", "[2001:db8::1]", "10.0.0.0/8", NULL,
  };
  static const char *const expected[] = {
    "*.b.example", "*.c.example", "*:443", "10.0.0.0/8", "[2001:db8::1]", "a.example",
    "a.example:443", NULL,
  };
  g_autoptr(HgFilter) first = filter_from_entries (first_entries);
  g_autoptr(HgFilter) second = filter_from_entries (second_entries);
  g_autoptr(HgFilter) shared = hg_filter_ref (second);
  g_auto(GStrv) strv = NULL;

  hg_filter_merge (first, second);
  strv = hg_filter_to_strv (first);

  g_assert_cmpstrv (strv, expected);
  g_assert_cmpuint (hg_filter_get_size (first), ==, 7);
  g_assert_true (hg_filter_match_name (first, "x.c.example", 443));
}

/* Merges filters large enough that the name tables grow several times. */
static void
test_merge_large (void)
{
  g_autoptr(HgFilter) first = hg_filter_new ();
  g_autoptr(HgFilter) second = hg_filter_new ();
  g_auto(GStrv) strv = NULL;
  char entry[64];
  guint i;

  for (i = 0; i < 10000; i++)
    {
      g_snprintf (entry, sizeof entry, "name%u.example", i);
      g_assert_true (hg_filter_add (i % 2 == 0 ? first : second, entry, HG_PATTERN_FLAG_NONE, NULL));
      g_snprintf (entry, sizeof entry, "*.zone%u.example:%u", i, 1 + i % 3);
      g_assert_true (hg_filter_add (first, entry, HG_PATTERN_FLAG_NONE, NULL));
      g_snprintf (entry, sizeof entry, "*.zone%u.example:%u", i, 1 + (i + 1) % 3);
      g_assert_true (hg_filter_add (second, entry, HG_PATTERN_FLAG_NONE, NULL));
    }

  hg_filter_merge (first, second);
  strv = hg_filter_to_strv (first);

  g_assert_cmpuint (hg_filter_get_size (first), ==, 30000);
  g_assert_cmpuint (g_strv_length (strv), ==, 30000);
  g_assert_true (hg_filter_match_name (first, "name9999.example", 443));
  g_assert_true (hg_filter_match_name (first, "a.zone5.example", 3));
  g_assert_true (hg_filter_match_name (first, "a.zone5.example", 1));
  g_assert_false (hg_filter_match_name (first, "a.zone5.example", 2));
  g_assert_false (hg_filter_match_name (first, "name10000.example", 443));
}

static void
test_copy (void)
{
  static const char *const entries[] = { "a.example", "[2001:db8::1]:443", NULL };
  g_autoptr(HgFilter) filter = filter_from_entries (entries);
  g_autoptr(HgFilter) shared = hg_filter_ref (filter);
  g_autoptr(HgFilter) copy = hg_filter_copy (filter);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) strv = NULL;
  g_auto(GStrv) copy_strv = NULL;

  hg_filter_add (copy, "b.example", HG_PATTERN_FLAG_NONE, &error);
  g_assert_no_error (error);

  strv = hg_filter_to_strv (filter);
  copy_strv = hg_filter_to_strv (copy);
  g_assert_cmpuint (g_strv_length (strv), ==, 2);
  g_assert_cmpuint (g_strv_length (copy_strv), ==, 3);
  g_assert_false (hg_filter_match_name (filter, "b.example", 443));
  g_assert_true (hg_filter_match_name (copy, "b.example", 443));
}

static gboolean
matches_address (HgFilter   *filter,
                 const char *text,
                 guint16     port)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (text);

  return hg_filter_match_address (filter, address, port);
}

/* A copy holds the same IPv4 entries, not entries for 0.0.0.0 of the
 * same prefix lengths. */
static void
test_copy_ipv4 (void)
{
  static const char *const entries[] = {
    "10.0.0.0/8", "192.0.2.7", "192.0.2.8:443", "2001:db8::/32", NULL,
  };
  g_autoptr(HgFilter) filter = filter_from_entries (entries);
  g_autoptr(HgFilter) copy = hg_filter_copy (filter);
  g_auto(GStrv) strv = hg_filter_to_strv (filter);
  g_auto(GStrv) copy_strv = hg_filter_to_strv (copy);

  g_assert_cmpstrv (copy_strv, strv);
  g_assert_true (matches_address (copy, "10.1.2.3", 80));
  g_assert_true (matches_address (copy, "192.0.2.7", 80));
  g_assert_true (matches_address (copy, "192.0.2.8", 443));
  g_assert_false (matches_address (copy, "192.0.2.8", 80));
  g_assert_true (matches_address (copy, "2001:db8::5", 80));
  g_assert_false (matches_address (copy, "0.0.0.1", 80));
  g_assert_false (matches_address (copy, "0.0.0.0", 443));
}

static void
test_add_invalid (void)
{
  g_autoptr(HgFilter) filter = hg_filter_new ();
  g_autoptr(GError) error = NULL;

  g_assert_false (hg_filter_add (filter, "*example.com", HG_PATTERN_FLAG_NONE, &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);
  g_assert_cmpuint (hg_filter_get_size (filter), ==, 0);
}

static void
test_add_star_deny (void)
{
  g_autoptr(HgFilter) filter = hg_filter_new ();
  g_autoptr(GError) error = NULL;

  g_assert_false (hg_filter_add (filter, "*", HG_PATTERN_FLAG_DENY, &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);
  g_assert_false (hg_filter_match_name (filter, "example.com", 443));
}

static void
test_shared_is_immutable (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(HgFilter) filter = hg_filter_new ();
      g_autoptr(HgFilter) shared = hg_filter_ref (filter);

      hg_filter_add (filter, "example.com", HG_PATTERN_FLAG_NONE, NULL);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*filter_is_shared*");
}

/* Names are normally at most 127 labels long, but the lookup must not
 * depend on that for a name it is handed. */
static void
test_many_labels (void)
{
  static const char *const entries[] = { "*.com", "*.a.a.a.com", NULL };
  g_autoptr(HgFilter) filter = filter_from_entries (entries);
  g_autoptr(GString) name = g_string_new (NULL);
  guint i;

  for (i = 0; i < 300; i++)
    g_string_append (name, "a.");
  g_string_append (name, "com");

  g_assert_true (hg_filter_match_name (filter, name->str, 443));
  g_assert_false (hg_filter_match_name (filter, name->str + 2 * 300, 443));
}

#define MILLION 1000000

/* Loads half a million exact names and half a million wildcards. This
 * checks correctness at that size only; the timing is measured by the
 * benchmarks. */
static void
test_million_entries (void)
{
  g_autoptr(HgFilter) filter = hg_filter_new ();
  char entry[64];
  gint64 start = g_get_monotonic_time ();
  guint i;

  for (i = 0; i < MILLION / 2; i++)
    {
      g_snprintf (entry, sizeof entry, "host%u.example.com", i);
      g_assert_true (hg_filter_add (filter, entry, HG_PATTERN_FLAG_DENY, NULL));
      g_snprintf (entry, sizeof entry, "*.zone%u.example.net", i);
      g_assert_true (hg_filter_add (filter, entry, HG_PATTERN_FLAG_DENY, NULL));
    }

  g_test_message ("loaded %u entries in %.3f s", MILLION,
                  (g_get_monotonic_time () - start) / 1e6);

  g_assert_cmpuint (hg_filter_get_size (filter), ==, MILLION);
  g_assert_true (hg_filter_match_name (filter, "host0.example.com", 443));
  g_assert_true (hg_filter_match_name (filter, "host499999.example.com", 443));
  g_assert_false (hg_filter_match_name (filter, "host500000.example.com", 443));
  g_assert_false (hg_filter_match_name (filter, "a.host7.example.com", 443));
  g_assert_true (hg_filter_match_name (filter, "a.zone7.example.net", 443));
  g_assert_true (hg_filter_match_name (filter, "x.y.zone499999.example.net", 80));
  g_assert_false (hg_filter_match_name (filter, "zone7.example.net", 443));
  g_assert_false (hg_filter_match_name (filter, "a.zone500000.example.net", 443));
  g_assert_false (hg_filter_match_name (filter, "example.net", 443));
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, NULL);

  for (i = 0; i < G_N_ELEMENTS (match_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/filter/match/%s", match_cases[i].path);
      g_test_add_data_func (path, &match_cases[i], test_match);
    }

  for (i = 0; i < G_N_ELEMENTS (match_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/filter/find-agrees/%s", match_cases[i].path);
      g_test_add_data_func (path, &match_cases[i], test_find_agrees);
    }

  for (i = 0; i < G_N_ELEMENTS (find_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/filter/find/%s", find_cases[i].path);
      g_test_add_data_func (path, &find_cases[i], test_find);
    }

  g_test_add_func ("/filter/match/many-labels", test_many_labels);
  g_test_add_func ("/filter/to-strv/canonical", test_to_strv);
  g_test_add_func ("/filter/to-strv/round-trip", test_to_strv_round_trip);
  g_test_add_func ("/filter/merge", test_merge);
  g_test_add_func ("/filter/merge-large", test_merge_large);
  g_test_add_func ("/filter/copy", test_copy);
  g_test_add_func ("/filter/copy-ipv4", test_copy_ipv4);
  g_test_add_func ("/filter/add/invalid", test_add_invalid);
  g_test_add_func ("/filter/add/star-deny", test_add_star_deny);
  g_test_add_func ("/filter/shared-is-immutable", test_shared_is_immutable);
  g_test_add_func ("/filter/million-entries", test_million_entries);

  return g_test_run ();
}
