/* hg-history-entry.h: one audit record received from a proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-message.h"

G_BEGIN_DECLS

/* The number of records the agent keeps; older ones are dropped. */
#define HG_HISTORY_MAX_ENTRIES 1000

#define HG_TYPE_HISTORY_ENTRY (hg_history_entry_get_type ())
G_DECLARE_FINAL_TYPE (HgHistoryEntry, hg_history_entry, HG, HISTORY_ENTRY, GObject)

HgHistoryEntry *hg_history_entry_new               (const HgEvent  *event,
                                                    const char     *session_label,
                                                    const char     *profile);
const HgEvent  *hg_history_entry_get_event         (HgHistoryEntry *entry);
const char     *hg_history_entry_get_session_label (HgHistoryEntry *entry);
const char     *hg_history_entry_get_profile       (HgHistoryEntry *entry);
const char     *hg_history_entry_get_decision_label (HgHistoryEntry *entry);
GDateTime      *hg_history_entry_get_received      (HgHistoryEntry *entry);
int             hg_history_entry_compare_arrival   (HgHistoryEntry *a,
                                                    HgHistoryEntry *b);

void            hg_history_append                  (GListStore     *history,
                                                    HgHistoryEntry *entry);

G_END_DECLS
