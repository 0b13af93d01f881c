/* test-agent-client.c: the pure parts of the approval agent client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-agent-client.h"
#include "hg-error.h"

#include <string.h>

typedef struct {
  const char *path;
  const char *pattern;      /* NULL for the exact host */
  HgVerdict verdict;
  const char *host;         /* as hg_host_parse() reads it, with a port */
  const char *entries[3];   /* NULL-terminated; { NULL } when rejected */
} EntriesCase;

static const EntriesCase entries_cases[] = {
  { "exact/default", NULL, HG_VERDICT_APPROVE, "example.com:443", { "example.com" } },
  { "exact/given", "example.com", HG_VERDICT_APPROVE, "example.com:443", { "example.com" } },
  { "exact/normalised", "EXAMPLE.com.", HG_VERDICT_APPROVE, "example.com:443", { "example.com" } },
  { "exact/port", "example.com:443", HG_VERDICT_APPROVE, "example.com:443", { "example.com:443" } },
  { "exact/deny", "example.com", HG_VERDICT_DENY, "example.com:443", { "example.com" } },
  { "wildcard/subdomain", "*.example.com", HG_VERDICT_APPROVE, "www.example.com:443",
    { "*.example.com", "example.com" } },
  { "wildcard/apex", "*.example.com", HG_VERDICT_APPROVE, "example.com:443",
    { "*.example.com", "example.com" } },
  { "wildcard/port", "*.example.com:443", HG_VERDICT_APPROVE, "a.example.com:443",
    { "*.example.com:443", "example.com:443" } },
  { "wildcard/deny", "*.example.com", HG_VERDICT_DENY, "a.example.com:80",
    { "*.example.com", "example.com" } },
  { "any/approve", "*", HG_VERDICT_APPROVE, "example.com:443", { "*" } },
  { "address/ipv4-default", NULL, HG_VERDICT_APPROVE, "192.0.2.7:443", { "192.0.2.7" } },
  { "address/ipv6-default", NULL, HG_VERDICT_APPROVE, "[2001:db8::1]:443", { "[2001:db8::1]" } },
  { "address/cidr", "192.0.2.0/24", HG_VERDICT_APPROVE, "192.0.2.7:443", { "192.0.2.0/24" } },
  { "reject/other-host", "other.com", HG_VERDICT_APPROVE, "example.com:443", { NULL } },
  { "reject/other-port", "example.com:80", HG_VERDICT_APPROVE, "example.com:443", { NULL } },
  { "reject/parent-wildcard", "*.www.example.com", HG_VERDICT_APPROVE, "example.com:443", { NULL } },
  { "reject/lookalike", "*.example.com", HG_VERDICT_APPROVE, "badexample.com:443", { NULL } },
  { "reject/deny-any", "*", HG_VERDICT_DENY, "example.com:443", { NULL } },
  { "reject/invalid", "exa mple.com", HG_VERDICT_APPROVE, "example.com:443", { NULL } },
  { "reject/scheme", "https://example.com", HG_VERDICT_APPROVE, "example.com:443", { NULL } },
  { "reject/empty", "", HG_VERDICT_APPROVE, "example.com:443", { NULL } },
  { "reject/other-cidr", "198.51.100.0/24", HG_VERDICT_APPROVE, "192.0.2.7:443", { NULL } },
};

static void
test_entries (gconstpointer data)
{
  const EntriesCase *test = data;
  g_autoptr(HgHost) host = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) entries = NULL;

  host = hg_host_parse (test->host, HG_HOST_PORT_REQUIRED, &error);
  g_assert_no_error (error);
  g_assert_nonnull (host);

  entries = hg_agent_decision_entries (test->pattern, test->verdict, host, &error);
  if (test->entries[0] == NULL)
    {
      g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);
      g_assert_null (entries);
      return;
    }

  g_assert_no_error (error);
  g_assert_nonnull (entries);
  g_assert_cmpstrv (entries, test->entries);
}

static void
test_uncovered_message (void)
{
  g_autoptr(HgHost) host = hg_host_parse ("example.com:443", HG_HOST_PORT_REQUIRED, NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) entries = NULL;

  entries = hg_agent_decision_entries ("other.com", HG_VERDICT_APPROVE, host, &error);
  g_assert_null (entries);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "other.com"));
  g_assert_nonnull (strstr (error->message, "example.com"));
  g_assert_nonnull (strstr (error->message, "443"));
}

static void
test_backoff_sequence (void)
{
  const guint expected[] = { 500, 1000, 2000, 4000, 4000 };
  guint wait = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      wait = hg_agent_backoff_next (wait);
      g_assert_cmpuint (wait, ==, expected[i]);
    }
}

static void
test_backoff_bounds (void)
{
  g_assert_cmpuint (hg_agent_backoff_next (1), ==, HG_AGENT_BACKOFF_MIN_MS);
  g_assert_cmpuint (hg_agent_backoff_next (HG_AGENT_BACKOFF_MAX_MS), ==, HG_AGENT_BACKOFF_MAX_MS);
  g_assert_cmpuint (hg_agent_backoff_next (G_MAXUINT), ==, HG_AGENT_BACKOFF_MAX_MS);
  g_assert_cmpuint (hg_agent_backoff_next (3000), ==, HG_AGENT_BACKOFF_MAX_MS);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (entries_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/agent-client/entries/%s", entries_cases[i].path);

      g_test_add_data_func (path, &entries_cases[i], test_entries);
    }
  g_test_add_func ("/agent-client/entries/uncovered-message", test_uncovered_message);
  g_test_add_func ("/agent-client/backoff/sequence", test_backoff_sequence);
  g_test_add_func ("/agent-client/backoff/bounds", test_backoff_bounds);

  return g_test_run ();
}
