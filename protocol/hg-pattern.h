/* hg-pattern.h: allow and deny list entries
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  HG_PATTERN_EXACT,     /* example.com[:port] */
  HG_PATTERN_WILDCARD,  /* *.example.com[:port], subdomains only */
  HG_PATTERN_ANY,       /* *, allow lists only */
  HG_PATTERN_ADDRESS,   /* 203.0.113.7, [2001:db8::1][:port] */
  HG_PATTERN_CIDR,      /* 10.0.0.0/8, 2001:db8::/32 */
} HgPatternKind;

/**
 * HgPatternFlags:
 * @HG_PATTERN_FLAG_NONE: an allow-list entry
 * @HG_PATTERN_FLAG_DENY: a deny-list entry, where `*` is invalid
 */
typedef enum {
  HG_PATTERN_FLAG_NONE = 0,
  HG_PATTERN_FLAG_DENY = 1 << 0,
} HgPatternFlags;

/**
 * HgPattern:
 * @kind: which form the entry has
 * @host: the normalised name, the suffix after `*.` for a wildcard, the
 *   canonical address text, or %NULL for `*` and CIDR
 * @port: the port the entry is limited to, or 0 for any port
 * @mask: (nullable): the range for %HG_PATTERN_ADDRESS and %HG_PATTERN_CIDR
 *
 * One parsed list entry.
 */
typedef struct {
  HgPatternKind kind;
  char *host;
  guint16 port;
  GInetAddressMask *mask;
} HgPattern;

HgPattern *hg_pattern_parse     (const char      *entry,
                                 HgPatternFlags   flags,
                                 GError         **error);
void       hg_pattern_free      (HgPattern       *pattern);
char      *hg_pattern_to_string (const HgPattern *pattern);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgPattern, hg_pattern_free)

G_END_DECLS
