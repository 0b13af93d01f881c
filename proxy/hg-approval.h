/* hg-approval.h: asking whether an unlisted host may be reached
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-host.h"

G_BEGIN_DECLS

typedef enum {
  HG_VERDICT_DENY,
  HG_VERDICT_APPROVE,
} HgVerdict;

typedef enum {
  HG_DURATION_ONCE,
  HG_DURATION_SESSION,
  HG_DURATION_ALWAYS,
} HgDuration;

/**
 * HgApproval:
 * @verdict: approve or deny
 * @duration: how long the answer holds
 * @pattern: (nullable): the entry the answer covers, such as
 *   `*.example.com`; %NULL for the exact host
 * @reason: (nullable): for a denial, the reason sent to the client
 *
 * The answer to one question.
 */
typedef struct {
  HgVerdict verdict;
  HgDuration duration;
  char *pattern;
  char *reason;
} HgApproval;

HgApproval *hg_approval_new  (HgVerdict    verdict,
                              HgDuration   duration,
                              const char  *pattern,
                              const char  *reason);
void        hg_approval_free (HgApproval  *approval);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgApproval, hg_approval_free)

#define HG_TYPE_APPROVER (hg_approver_get_type ())
G_DECLARE_INTERFACE (HgApprover, hg_approver, HG, APPROVER, GObject)

/**
 * HgApproverInterface:
 * @ask_async: asks about @target, a host on neither list; @kind is
 *   `connect` or `http`. Cancelling means the client has gone. Returns
 *   %TRUE when the answer waits for a person, %FALSE when it is known
 *   without asking one.
 * @ask_finish: returns the answer; an error counts as a denial
 *
 * What the policy calls at the one step that may ask a person: a host
 * on neither the allow nor the deny list. The proxy server holds one
 * approver and can swap it.
 */
struct _HgApproverInterface
{
  GTypeInterface parent_iface;

  gboolean     (*ask_async)  (HgApprover          *approver,
                              const HgHost        *target,
                              const char          *kind,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data);
  HgApproval * (*ask_finish) (HgApprover          *approver,
                              GAsyncResult        *result,
                              GError             **error);
};

gboolean    hg_approver_ask_async  (HgApprover          *approver,
                                    const HgHost        *target,
                                    const char          *kind,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
HgApproval *hg_approver_ask_finish (HgApprover          *approver,
                                    GAsyncResult        *result,
                                    GError             **error);

/* An approver that denies every question at once, with the reason
 * "not in the allow list": approval mode `off`, or no agent. */
#define HG_TYPE_DENY_APPROVER (hg_deny_approver_get_type ())
G_DECLARE_FINAL_TYPE (HgDenyApprover, hg_deny_approver, HG, DENY_APPROVER, GObject)

HgApprover *hg_deny_approver_new (void);

G_END_DECLS
