/* hg-approval.c: asking whether an unlisted host may be reached
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-approval.h"

#include <glib/gi18n.h>

/**
 * hg_approval_new:
 * @verdict: approve or deny
 * @duration: how long the answer holds
 * @pattern: (nullable): the entry the answer covers
 * @reason: (nullable): for a denial, the reason sent to the client
 *
 * Creates an answer.
 *
 * Returns: (transfer full): the answer
 */
HgApproval *
hg_approval_new (HgVerdict   verdict,
                 HgDuration  duration,
                 const char *pattern,
                 const char *reason)
{
  HgApproval *approval = g_new0 (HgApproval, 1);

  approval->verdict = verdict;
  approval->duration = duration;
  approval->pattern = g_strdup (pattern);
  approval->reason = g_strdup (reason);

  return approval;
}

void
hg_approval_free (HgApproval *approval)
{
  if (approval == NULL)
    return;

  g_free (approval->pattern);
  g_free (approval->reason);
  g_free (approval);
}

G_DEFINE_INTERFACE (HgApprover, hg_approver, G_TYPE_OBJECT)

static void
hg_approver_default_init (HgApproverInterface *iface)
{
}

/**
 * hg_approver_ask_async:
 * @approver: the approver
 * @target: the host and port asked about
 * @kind: `connect` or `http`
 * @cancellable: (nullable): cancelled when the client has gone
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Asks whether @target may be reached.
 *
 * Returns: %TRUE when the answer waits for a person, %FALSE when the
 *   approver answers without asking one
 */
gboolean
hg_approver_ask_async (HgApprover          *approver,
                       const HgHost        *target,
                       const char          *kind,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_return_val_if_fail (HG_IS_APPROVER (approver), FALSE);
  g_return_val_if_fail (target != NULL, FALSE);

  return HG_APPROVER_GET_IFACE (approver)->ask_async (approver, target, kind, cancellable,
                                                      callback, user_data);
}

/**
 * hg_approver_ask_finish:
 * @approver: the approver
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes hg_approver_ask_async().
 *
 * Returns: (transfer full) (nullable): the answer, or %NULL on error
 */
HgApproval *
hg_approver_ask_finish (HgApprover   *approver,
                        GAsyncResult *result,
                        GError      **error)
{
  g_return_val_if_fail (HG_IS_APPROVER (approver), NULL);

  return HG_APPROVER_GET_IFACE (approver)->ask_finish (approver, result, error);
}

struct _HgDenyApprover
{
  GObject parent_instance;
};

static void hg_deny_approver_iface_init (HgApproverInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HgDenyApprover, hg_deny_approver, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (HG_TYPE_APPROVER, hg_deny_approver_iface_init))

static gboolean
hg_deny_approver_ask_async (HgApprover          *approver,
                            const HgHost        *target,
                            const char          *kind,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (approver, cancellable, callback, user_data);

  g_task_set_source_tag (task, hg_deny_approver_ask_async);
  g_task_return_pointer (task,
                         hg_approval_new (HG_VERDICT_DENY, HG_DURATION_ONCE, NULL,
                                          _("not in the allow list")),
                         (GDestroyNotify) hg_approval_free);

  return FALSE;
}

static HgApproval *
hg_deny_approver_ask_finish (HgApprover   *approver,
                             GAsyncResult *result,
                             GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
hg_deny_approver_iface_init (HgApproverInterface *iface)
{
  iface->ask_async = hg_deny_approver_ask_async;
  iface->ask_finish = hg_deny_approver_ask_finish;
}

static void
hg_deny_approver_class_init (HgDenyApproverClass *klass)
{
}

static void
hg_deny_approver_init (HgDenyApprover *self)
{
}

/**
 * hg_deny_approver_new:
 *
 * Creates an approver that denies every question with the reason
 * "not in the allow list".
 *
 * Returns: (transfer full): the approver
 */
HgApprover *
hg_deny_approver_new (void)
{
  return g_object_new (HG_TYPE_DENY_APPROVER, NULL);
}
