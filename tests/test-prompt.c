/* test-prompt.c: the agent's prompts and history, without a display
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <sys/socket.h>

#include "hg-agent-session.h"
#include "hg-history-entry.h"
#include "hg-prompt.h"

typedef struct {
  char *dir;
  HgProfileStore *store;
  GListStore *history;
  GSocketConnection *connection;
  GSocketConnection *peer;
  HgAgentSession *session;
} Fixture;

static GSocketConnection *
connection_from_fd (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  int fds[2];

  fixture->dir = g_dir_make_tmp ("hostgate-prompt-XXXXXX", NULL);
  g_assert_nonnull (fixture->dir);
  fixture->store = hg_profile_store_new (fixture->dir);
  fixture->history = g_list_store_new (HG_TYPE_HISTORY_ENTRY);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  fixture->connection = connection_from_fd (fds[0]);
  fixture->peer = connection_from_fd (fds[1]);
  fixture->session = hg_agent_session_new (fixture->connection, fixture->store, fixture->history);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  hg_agent_session_close (fixture->session);
  g_clear_object (&fixture->session);
  g_clear_object (&fixture->connection);
  g_clear_object (&fixture->peer);
  g_clear_object (&fixture->history);
  g_clear_object (&fixture->store);
  g_rmdir (fixture->dir);
  g_free (fixture->dir);
}

typedef struct {
  const char *host;
  const char *registrable;
  const char *exact_pattern;
  const char *domain_pattern;
  const char *domain_entries;
} PatternCase;

static const PatternCase pattern_cases[] = {
  { "www.example.com", "example.com", "www.example.com", "*.example.com", "example.com *.example.com" },
  { "a.b.example.co.uk", "example.co.uk", "a.b.example.co.uk", "*.example.co.uk", "example.co.uk *.example.co.uk" },
  { "example.com", NULL, "example.com", "example.com", "example.com" },
  { "co.uk", NULL, "co.uk", "co.uk", "co.uk" },
  { "203.0.113.7", NULL, "203.0.113.7", "203.0.113.7", "203.0.113.7" },
  { "2001:db8::1", NULL, "[2001:db8::1]", "[2001:db8::1]", "[2001:db8::1]" },
  { "[2001:db8::1]", NULL, "[2001:db8::1]", "[2001:db8::1]", "[2001:db8::1]" },
};

static void
test_patterns (Fixture       *fixture,
               gconstpointer  data)
{
  for (guint i = 0; i < G_N_ELEMENTS (pattern_cases); i++)
    {
      const PatternCase *c = &pattern_cases[i];
      g_autoptr(HgPrompt) prompt = hg_prompt_new (fixture->session, "1", c->host, 443,
                                                  HG_ASK_KIND_CONNECT, 60000);
      g_autofree char *exact = hg_prompt_dup_pattern (prompt, FALSE);
      g_autofree char *domain = hg_prompt_dup_pattern (prompt, TRUE);
      g_auto(GStrv) entries = hg_prompt_dup_entries (prompt, TRUE);
      g_autofree char *joined = g_strjoinv (" ", entries);

      g_test_message ("host %s", c->host);
      g_assert_cmpstr (hg_prompt_get_registrable_domain (prompt), ==, c->registrable);
      g_assert_cmpstr (exact, ==, c->exact_pattern);
      g_assert_cmpstr (domain, ==, c->domain_pattern);
      g_assert_cmpstr (joined, ==, c->domain_entries);
    }
}

static void
test_exact_entries (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(HgPrompt) prompt = hg_prompt_new (fixture->session, "1", "www.example.com", 443,
                                              HG_ASK_KIND_HTTP, 60000);
  g_auto(GStrv) entries = hg_prompt_dup_entries (prompt, FALSE);

  g_assert_cmpuint (g_strv_length (entries), ==, 1);
  g_assert_cmpstr (entries[0], ==, "www.example.com");
  g_assert_cmpint (hg_prompt_get_kind (prompt), ==, HG_ASK_KIND_HTTP);
  g_assert_cmpuint (hg_prompt_get_port (prompt), ==, 443);
}

static void
test_target_text (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(HgPrompt) named = hg_prompt_new (fixture->session, "1", "my-bank.example", 8443,
                                             HG_ASK_KIND_CONNECT, 60000);
  g_autoptr(HgPrompt) address = hg_prompt_new (fixture->session, "2", "2001:db8::1", 443,
                                               HG_ASK_KIND_CONNECT, 60000);
  g_autofree char *named_text = hg_prompt_dup_target_text (named);
  g_autofree char *address_text = hg_prompt_dup_target_text (address);

  g_assert_cmpstr (named_text, ==, "my-\u2060bank.example\u2060:\u20608443");
  g_assert_cmpstr (address_text, ==,
                   "[2001\u2060:\u2060db8\u2060:\u2060\u2060:\u20601]\u2060:\u2060443");
}

static void
expired_cb (HgPrompt *prompt,
            gpointer  user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
}

static gboolean
deadline_cb (gpointer user_data)
{
  g_assert_not_reached ();
  return G_SOURCE_REMOVE;
}

static void
test_expires (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(HgPrompt) prompt = hg_prompt_new (fixture->session, "1", "slow.example", 443,
                                              HG_ASK_KIND_CONNECT, 50);
  gboolean expired = FALSE;
  guint deadline_id = g_timeout_add_seconds (10, deadline_cb, NULL);

  g_signal_connect (prompt, "expired", G_CALLBACK (expired_cb), &expired);
  g_assert_cmpint (hg_prompt_get_remaining_ms (prompt), <=, 50);

  while (!expired)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (deadline_id);
  g_assert_cmpint (hg_prompt_get_remaining_ms (prompt), ==, 0);
}

static gboolean
stop_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_stop_timer (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(HgPrompt) prompt = hg_prompt_new (fixture->session, "1", "slow.example", 443,
                                              HG_ASK_KIND_CONNECT, 20);
  gboolean expired = FALSE;
  gboolean done = FALSE;

  g_signal_connect (prompt, "expired", G_CALLBACK (expired_cb), &expired);
  hg_prompt_stop_timer (prompt);
  g_timeout_add (100, stop_cb, &done);

  while (!done)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (expired);
}

static void
test_session_gone (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(HgPrompt) prompt = hg_prompt_new (fixture->session, "1", "a.example", 443,
                                              HG_ASK_KIND_CONNECT, 60000);

  g_assert_true (hg_prompt_get_session (prompt) == fixture->session);
  hg_agent_session_close (fixture->session);
  g_clear_object (&fixture->session);
  g_assert_null (hg_prompt_get_session (prompt));

  fixture->session = hg_agent_session_new (fixture->connection, fixture->store, fixture->history);
}

static void
test_history_ring (Fixture       *fixture,
                   gconstpointer  data)
{
  for (guint i = 0; i < HG_HISTORY_MAX_ENTRIES + 5; i++)
    {
      g_autoptr(HgEvent) event = hg_event_new ();
      g_autoptr(HgHistoryEntry) entry = NULL;

      event->port = (guint16) (i + 1);
      entry = hg_history_entry_new (event, "label", "work");
      hg_history_append (fixture->history, entry);
    }

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (fixture->history)), ==,
                    HG_HISTORY_MAX_ENTRIES);

  {
    g_autoptr(HgHistoryEntry) first = g_list_model_get_item (G_LIST_MODEL (fixture->history), 0);
    g_autoptr(HgHistoryEntry) last = g_list_model_get_item (G_LIST_MODEL (fixture->history),
                                                            HG_HISTORY_MAX_ENTRIES - 1);

    g_assert_cmpuint (hg_history_entry_get_event (first)->port, ==, 6);
    g_assert_cmpuint (hg_history_entry_get_event (last)->port, ==, HG_HISTORY_MAX_ENTRIES + 5);
    g_assert_cmpstr (hg_history_entry_get_session_label (last), ==, "label");
    g_assert_cmpstr (hg_history_entry_get_profile (last), ==, "work");
    g_assert_nonnull (hg_history_entry_get_received (last));
  }
}

static void
test_filter_from_profile (Fixture       *fixture,
                          gconstpointer  data)
{
  const char *json = "{\"network\": {\"allow_domain\": [\"a.example\", \"*.b.example\"],"
                     " \"deny_domain\": [\"c.example\"], \"reject_domain\": [\"d.example\"],"
                     " \"approval_mode\": \"ask\", \"approval_timeout_secs\": 1000}}";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (json, -1, "test", &error);
  g_autoptr(HgFilterUpdate) filter = NULL;
  g_autofree char *allow = NULL;
  g_autofree char *deny = NULL;

  g_assert_no_error (error);
  filter = hg_agent_filter_from_profile (profile, "work", 7);
  allow = g_strjoinv (" ", filter->allow);
  deny = g_strjoinv (" ", filter->deny);

  g_assert_cmpstr (filter->profile, ==, "work");
  g_assert_cmpuint (filter->revision, ==, 7);
  g_assert_cmpstr (allow, ==, "a.example *.b.example");
  g_assert_cmpstr (deny, ==, "c.example d.example");
  g_assert_cmpint (filter->approval_mode, ==, HG_APPROVAL_ASK);
  g_assert_cmpuint (filter->approval_timeout_secs, ==, HG_APPROVAL_TIMEOUT_MAX);
}

static void
test_filter_defaults (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data ("{}", -1, "test", &error);
  g_autoptr(HgFilterUpdate) filter = NULL;

  g_assert_no_error (error);
  filter = hg_agent_filter_from_profile (profile, "empty", 0);

  g_assert_cmpuint (g_strv_length (filter->allow), ==, 0);
  g_assert_cmpuint (g_strv_length (filter->deny), ==, 0);
  g_assert_cmpint (filter->approval_mode, ==, HG_APPROVAL_OFF);
  g_assert_cmpuint (filter->approval_timeout_secs, ==, HG_APPROVAL_TIMEOUT_DEFAULT);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/prompt/patterns", test_patterns);
  ADD ("/prompt/exact-entries", test_exact_entries);
  ADD ("/prompt/target-text", test_target_text);
  ADD ("/prompt/expires", test_expires);
  ADD ("/prompt/stop-timer", test_stop_timer);
  ADD ("/prompt/session-gone", test_session_gone);
  ADD ("/history/ring", test_history_ring);
  ADD ("/filter/from-profile", test_filter_from_profile);
  ADD ("/filter/defaults", test_filter_defaults);

  return g_test_run ();
}
