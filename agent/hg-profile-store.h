/* hg-profile-store.h: the agent's profiles on disk, write side
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-profile.h"

G_BEGIN_DECLS

typedef enum {
  HG_PROFILE_LIST_ALLOW,
  HG_PROFILE_LIST_DENY,
} HgProfileList;

#define HG_TYPE_PROFILE_STORE (hg_profile_store_get_type ())
G_DECLARE_FINAL_TYPE (HgProfileStore, hg_profile_store, HG, PROFILE_STORE, GObject)

HgProfileStore *hg_profile_store_new              (const char      *directory);
const char     *hg_profile_store_get_directory    (HgProfileStore  *store);
GStrv           hg_profile_store_list_names       (HgProfileStore  *store);
HgProfile      *hg_profile_store_load             (HgProfileStore  *store,
                                                   const char      *name,
                                                   GError         **error);
gboolean        hg_profile_store_has_profile      (HgProfileStore  *store,
                                                   const char      *name);
guint64         hg_profile_store_get_revision     (HgProfileStore  *store,
                                                   const char      *name);

void            hg_profile_store_add_entries_async (HgProfileStore      *store,
                                                    const char          *name,
                                                    HgProfileList        list,
                                                    const char * const  *entries,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean        hg_profile_store_add_entries_finish (HgProfileStore     *store,
                                                     GAsyncResult       *result,
                                                     GStrv              *duplicates,
                                                     GStrv              *moved,
                                                     GError            **error);
void            hg_profile_store_replace_entry_async (HgProfileStore      *store,
                                                      const char          *name,
                                                      HgProfileList        list,
                                                      const char          *old_entry,
                                                      const char          *new_entry,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
void            hg_profile_store_remove_entry_async (HgProfileStore      *store,
                                                     const char          *name,
                                                     HgProfileList        list,
                                                     const char          *entry,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
void            hg_profile_store_set_approval_async (HgProfileStore      *store,
                                                     const char          *name,
                                                     HgApprovalMode       mode,
                                                     guint                timeout_secs,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
void            hg_profile_store_create_async      (HgProfileStore      *store,
                                                    const char          *name,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
void            hg_profile_store_delete_async      (HgProfileStore      *store,
                                                    const char          *name,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
void            hg_profile_store_rename_async      (HgProfileStore      *store,
                                                    const char          *name,
                                                    const char          *new_name,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
void            hg_profile_store_import_async      (HgProfileStore      *store,
                                                    const char          *name,
                                                    GBytes              *contents,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean        hg_profile_store_edit_finish       (HgProfileStore      *store,
                                                    GAsyncResult        *result,
                                                    GError             **error);

G_END_DECLS
