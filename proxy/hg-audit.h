/* hg-audit.h: the audit log, one JSON object per line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * HgAuditRecord:
 * @client: the client's address and port
 * @method: (nullable): the request method, %NULL when no head was read
 * @host: (nullable): the normalised target host
 * @port: the target port, 0 when unknown
 * @decision: `allow`, `deny` (refused by the policy), `error` (not
 *   decided: malformed, unauthenticated, timed out, upstream or DNS
 *   failure), or a step of interactive approval: `approval-requested`,
 *   `approval-granted`, `approval-denied`, `approval-timed-out`,
 *   `approval-cancelled`, `approval-failed`
 * @status: the HTTP status answered (200 for an established tunnel)
 * @reason: (nullable): why, as sent to the client
 * @pattern: (nullable): the list entry that decided, when one did
 * @bytes_up: bytes sent from the client to the destination
 * @bytes_down: bytes sent from the destination to the client
 * @duration_ms: time from the start of the request to the record
 *
 * One line of the audit log.
 */
typedef struct {
  const char *client;
  const char *method;
  const char *host;
  guint16 port;
  const char *decision;
  guint status;
  const char *reason;
  const char *pattern;
  guint64 bytes_up;
  guint64 bytes_down;
  gint64 duration_ms;
} HgAuditRecord;

typedef struct _HgAudit HgAudit;

HgAudit *hg_audit_open        (const char          *path,
                               GError             **error);
void     hg_audit_write       (HgAudit             *audit,
                               const HgAuditRecord *record);
char    *hg_audit_format      (const HgAuditRecord *record,
                               GDateTime           *time);
void     hg_audit_free        (HgAudit             *audit);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgAudit, hg_audit_free)

G_END_DECLS
