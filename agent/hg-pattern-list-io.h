/* hg-pattern-list-io.h: plain-text lists of patterns, one per line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "hg-pattern.h"

G_BEGIN_DECLS

/**
 * HgPatternListRejection:
 * @line: the line number, counted from 1
 * @text: the entry as written on that line, comment and blanks removed,
 *   in valid UTF-8
 * @message: why the pattern parser rejected it
 *
 * One line of a plain list that is not a valid entry.
 */
typedef struct {
  guint line;
  char *text;
  char *message;
} HgPatternListRejection;

void   hg_pattern_list_rejection_free (HgPatternListRejection *rejection);

void   hg_pattern_list_parse          (const char            *text,
                                       gssize                 length,
                                       HgPatternFlags         flags,
                                       GStrv                 *valid,
                                       GPtrArray            **rejected);
char  *hg_pattern_list_format         (const char * const    *entries,
                                       const char            *header);
char  *hg_pattern_list_describe_rejections (GPtrArray         *rejected,
                                            guint              max_lines);
char  *hg_pattern_list_shorten_message     (const char        *message,
                                            const char        *entry);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgPatternListRejection, hg_pattern_list_rejection_free)

G_END_DECLS
