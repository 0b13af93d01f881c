/* hg-policy.h: deciding whether a request may go through
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-approval.h"
#include "hg-filter.h"
#include "hg-host.h"
#include "hg-resolver.h"

G_BEGIN_DECLS

/**
 * HgPolicy:
 *
 * The lists and switches a request is decided against. Reference counted
 * and never changed once created: a request keeps the policy it started
 * with, and the server swaps in a new one whole.
 */
typedef struct _HgPolicy HgPolicy;

typedef enum {
  HG_POLICY_ALLOW,      /* go on: connect or forward */
  HG_POLICY_DENY,       /* refused by the policy: 403 */
  HG_POLICY_ERROR,      /* could not be decided or served: 502 */
  HG_POLICY_UNMATCHED,  /* on neither list: ask the approver */
} HgPolicyOutcome;

/**
 * HgDecision:
 * @kind: the outcome
 * @status: the HTTP status to respond with when not allowed, else 0
 * @reason: (nullable): why, fit for the status line once sanitised
 * @pattern: (nullable): the list entry or approval pattern that decided
 * @addresses: (element-type GInetAddress) (nullable): for an allowed
 *   request that was resolved, the vetted addresses to connect to
 *
 * The outcome of hg_policy_check_target() or hg_policy_decide_async().
 */
typedef struct {
  HgPolicyOutcome kind;
  guint status;
  char *reason;
  char *pattern;
  GPtrArray *addresses;
} HgDecision;

/**
 * HgPolicyContext:
 * @approver: asked about hosts on neither list
 * @resolver: looks up allowed names
 * @own_addresses: (element-type GInetSocketAddress): the proxy's own
 *   listening addresses, and for an unspecified one every local
 *   interface address with the same port
 *
 * What a decision needs besides the policy, owned by the server.
 */
typedef struct {
  HgApprover *approver;
  HgResolver *resolver;
  GPtrArray *own_addresses;
} HgPolicyContext;

HgPolicy   *hg_policy_new               (HgFilter              *allow,
                                         HgFilter              *deny,
                                         gboolean               allow_loopback);
HgPolicy   *hg_policy_ref               (HgPolicy              *policy);
void        hg_policy_unref             (HgPolicy              *policy);
void        hg_policy_set_session_deny  (HgPolicy              *policy,
                                         HgFilter              *session_deny);
HgFilter   *hg_policy_get_allow         (HgPolicy              *policy);
HgFilter   *hg_policy_get_deny          (HgPolicy              *policy);
gboolean    hg_policy_get_allow_loopback (HgPolicy             *policy);

HgDecision *hg_policy_check_target      (HgPolicy              *policy,
                                         GPtrArray             *own_addresses,
                                         const HgHost          *target);
HgDecision *hg_policy_check_addresses   (HgPolicy              *policy,
                                         GPtrArray             *own_addresses,
                                         const HgHost          *target,
                                         GPtrArray             *addresses);

gboolean    hg_policy_decide_async      (HgPolicy              *policy,
                                         const HgPolicyContext *context,
                                         const HgHost          *target,
                                         const char            *kind,
                                         gboolean               resolve,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
HgDecision *hg_policy_decide_finish     (HgPolicy              *policy,
                                         GAsyncResult          *result,
                                         GError               **error);

HgDecision *hg_decision_new             (HgPolicyOutcome         kind,
                                         guint                  status,
                                         const char            *pattern,
                                         const char            *reason_format,
                                         ...) G_GNUC_PRINTF (4, 5);
void        hg_decision_free            (HgDecision            *decision);

GPtrArray  *hg_own_addresses_new        (GInetSocketAddress    *bound);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgPolicy, hg_policy_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgDecision, hg_decision_free)

G_END_DECLS
