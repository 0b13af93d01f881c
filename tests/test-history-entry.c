/* test-history-entry.c: the agent's audit records as the History page
 * shows them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-history-entry.h"

typedef struct
{
  const char *decision;
  const char *label;
} LabelCase;

static const LabelCase label_cases[] = {
  { "allow", "Allowed" },
  { "deny", "Denied" },
  { "error", "Failed" },
  { "approval-requested", "Asked" },
  { "approval-granted", "User approved" },
  { "approval-denied", "User denied" },
  { "approval-timed-out", "No answer" },
  { "approval-cancelled", "Withdrawn" },
  { "approval-failed", "Question failed" },
  { "redirect", "redirect" },
  { NULL, "—" },
};

static void
test_decision_label (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (label_cases); i++)
    {
      g_autoptr(HgEvent) event = hg_event_new ();
      g_autoptr(HgHistoryEntry) entry = NULL;

      event->decision = g_strdup (label_cases[i].decision);
      entry = hg_history_entry_new (event, "session", "default");

      g_assert_cmpstr (hg_history_entry_get_decision_label (entry), ==, label_cases[i].label);
    }
}

/* Entries sort in the order they were made, even when the clock gives
 * two of them the same time. */
static void
test_arrival_order (void)
{
  g_autoptr(HgEvent) event = hg_event_new ();
  g_autoptr(HgHistoryEntry) first = hg_history_entry_new (event, "session", "default");
  g_autoptr(HgHistoryEntry) second = hg_history_entry_new (event, "session", "default");
  g_autoptr(HgHistoryEntry) third = hg_history_entry_new (event, "session", "default");

  g_assert_cmpint (hg_history_entry_compare_arrival (first, second), <, 0);
  g_assert_cmpint (hg_history_entry_compare_arrival (third, second), >, 0);
  g_assert_cmpint (hg_history_entry_compare_arrival (first, third), <, 0);
  g_assert_cmpint (hg_history_entry_compare_arrival (second, second), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/history-entry/decision-label", test_decision_label);
  g_test_add_func ("/history-entry/arrival-order", test_arrival_order);

  return g_test_run ();
}
