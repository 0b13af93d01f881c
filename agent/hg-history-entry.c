/* hg-history-entry.c: one audit record received from a proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-history-entry.h"

#include <glib/gi18n.h>

/**
 * HgHistoryEntry:
 *
 * An `event` record as a proxy sent it, with the session's label and
 * profile and the time the agent received it, for the history view.
 */
struct _HgHistoryEntry
{
  GObject parent_instance;

  HgEvent *event;
  char *session_label;
  char *profile;
  GDateTime *received;
  guint64 sequence;
};

/* Counts the entries made, so the order of arrival survives two entries
 * received in the same microsecond and a clock set back. Entries are
 * made on the main thread only. */
static guint64 last_sequence;

G_DEFINE_FINAL_TYPE (HgHistoryEntry, hg_history_entry, G_TYPE_OBJECT)

static void
hg_history_entry_finalize (GObject *object)
{
  HgHistoryEntry *entry = HG_HISTORY_ENTRY (object);

  g_clear_pointer (&entry->event, hg_event_free);
  g_free (entry->session_label);
  g_free (entry->profile);
  g_clear_pointer (&entry->received, g_date_time_unref);

  G_OBJECT_CLASS (hg_history_entry_parent_class)->finalize (object);
}

static void
hg_history_entry_class_init (HgHistoryEntryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hg_history_entry_finalize;
}

static void
hg_history_entry_init (HgHistoryEntry *entry)
{
}

/**
 * hg_history_entry_new:
 * @event: the record; it is copied
 * @session_label: (nullable): the label of the session that sent it
 * @profile: (nullable): the profile of that session
 *
 * Creates a history entry stamped with the current time.
 *
 * Returns: (transfer full): the entry
 */
HgHistoryEntry *
hg_history_entry_new (const HgEvent *event,
                      const char    *session_label,
                      const char    *profile)
{
  HgHistoryEntry *entry;

  g_return_val_if_fail (event != NULL, NULL);

  entry = g_object_new (HG_TYPE_HISTORY_ENTRY, NULL);
  entry->event = hg_event_copy (event);
  entry->session_label = g_strdup (session_label);
  entry->profile = g_strdup (profile);
  entry->received = g_date_time_new_now_utc ();
  entry->sequence = ++last_sequence;
  return entry;
}

/**
 * hg_history_entry_compare_arrival:
 * @a: an entry
 * @b: another entry
 *
 * Compares two entries by the order in which they were made.
 *
 * Returns: a negative value when @a was made before @b, a positive one
 *   when after, 0 for the same entry
 */
int
hg_history_entry_compare_arrival (HgHistoryEntry *a,
                                  HgHistoryEntry *b)
{
  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (a), 0);
  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (b), 0);

  return (a->sequence > b->sequence) - (a->sequence < b->sequence);
}

const HgEvent *
hg_history_entry_get_event (HgHistoryEntry *entry)
{
  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (entry), NULL);

  return entry->event;
}

const char *
hg_history_entry_get_session_label (HgHistoryEntry *entry)
{
  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (entry), NULL);

  return entry->session_label;
}

const char *
hg_history_entry_get_profile (HgHistoryEntry *entry)
{
  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (entry), NULL);

  return entry->profile;
}

/* The decisions of requests and of the steps of a question, as the
 * audit log writes them, with their labels. */
static const struct
{
  const char *decision;
  const char *label;
} decision_labels[] = {
  { "allow", NC_("history decision", "Allowed") },
  { "deny", NC_("history decision", "Denied") },
  { "error", NC_("history decision", "Failed") },
  { "approval-requested", NC_("history decision", "Asked") },
  { "approval-granted", NC_("history decision", "User approved") },
  { "approval-denied", NC_("history decision", "User denied") },
  { "approval-timed-out", NC_("history decision", "No answer") },
  { "approval-cancelled", NC_("history decision", "Withdrawn") },
  { "approval-failed", NC_("history decision", "Question failed") },
};

/**
 * hg_history_entry_get_decision_label:
 * @entry: a history entry
 *
 * Returns the record's decision for display: a translated word for the
 * decisions a proxy writes (`allow`, `deny`, `error`), any other value
 * as it is, and a dash when the record has none.
 *
 * Returns: (transfer none): the label
 */
const char *
hg_history_entry_get_decision_label (HgHistoryEntry *entry)
{
  const char *decision;

  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (entry), NULL);

  decision = entry->event->decision;
  if (decision == NULL)
    return "—";

  for (gsize i = 0; i < G_N_ELEMENTS (decision_labels); i++)
    {
      if (g_str_equal (decision, decision_labels[i].decision))
        return g_dpgettext2 (GETTEXT_PACKAGE, "history decision", decision_labels[i].label);
    }

  return decision;
}

/**
 * hg_history_entry_get_received:
 *
 * Returns: (transfer none): when the agent received the record, in UTC
 */
GDateTime *
hg_history_entry_get_received (HgHistoryEntry *entry)
{
  g_return_val_if_fail (HG_IS_HISTORY_ENTRY (entry), NULL);

  return entry->received;
}

/**
 * hg_history_append:
 * @history: a list of #HgHistoryEntry, oldest first
 *
 * Appends @entry and drops the oldest entries beyond
 * %HG_HISTORY_MAX_ENTRIES, so the list works as a ring buffer.
 */
void
hg_history_append (GListStore     *history,
                   HgHistoryEntry *entry)
{
  guint n_items;

  g_return_if_fail (G_IS_LIST_STORE (history));
  g_return_if_fail (HG_IS_HISTORY_ENTRY (entry));

  g_list_store_append (history, entry);

  n_items = g_list_model_get_n_items (G_LIST_MODEL (history));
  if (n_items > HG_HISTORY_MAX_ENTRIES)
    g_list_store_splice (history, 0, n_items - HG_HISTORY_MAX_ENTRIES, NULL, 0);
}
