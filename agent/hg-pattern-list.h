/* hg-pattern-list.h: an editor for one allow or deny list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "hg-profile-store.h"

G_BEGIN_DECLS

#define HG_TYPE_PATTERN_LIST (hg_pattern_list_get_type ())
G_DECLARE_FINAL_TYPE (HgPatternList, hg_pattern_list, HG, PATTERN_LIST, GtkBox)

void  hg_pattern_list_set_profile (HgPatternList      *list,
                                   HgProfileStore     *store,
                                   const char         *profile);
void  hg_pattern_list_clear_field (HgPatternList      *list);
void  hg_pattern_list_set_entries (HgPatternList      *list,
                                   const char * const *entries);

G_END_DECLS
