/* hg-filter.h: a compiled set of list entries
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "hg-pattern.h"

G_BEGIN_DECLS

/**
 * HgFilter:
 *
 * A set of patterns compiled into hash tables, so a lookup costs one probe
 * per label of the host rather than one per entry. Reference counted and
 * never changed once shared: a request keeps the filter it started with
 * while a new one replaces it.
 */
typedef struct _HgFilter HgFilter;

HgFilter *hg_filter_new           (void);
HgFilter *hg_filter_ref           (HgFilter        *filter);
HgFilter *hg_filter_copy          (HgFilter        *filter);
void      hg_filter_unref         (HgFilter        *filter);

void      hg_filter_add_pattern   (HgFilter        *filter,
                                   const HgPattern *pattern);
gboolean  hg_filter_add           (HgFilter        *filter,
                                   const char      *entry,
                                   HgPatternFlags   flags,
                                   GError         **error);
void      hg_filter_merge         (HgFilter        *filter,
                                   HgFilter        *other);
guint     hg_filter_get_size      (HgFilter        *filter);

gboolean  hg_filter_match_name    (HgFilter        *filter,
                                   const char      *normalized_name,
                                   guint16          port);
gboolean  hg_filter_match_address (HgFilter        *filter,
                                   GInetAddress    *address,
                                   guint16          port);
gboolean  hg_filter_match_host    (HgFilter        *filter,
                                   const char      *normalized_name,
                                   GInetAddress    *address,
                                   guint16          port);

char     *hg_filter_find_match    (HgFilter        *filter,
                                   const char      *normalized_name,
                                   GInetAddress    *address,
                                   guint16          port);

GStrv     hg_filter_to_strv       (HgFilter        *filter);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgFilter, hg_filter_unref)

G_END_DECLS
