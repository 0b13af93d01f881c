/* hg-policy.c: deciding whether a request may go through
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The order is fixed, and each step is final when it decides:
 *
 *  1. the target was parsed and normalised by the head parser (400 there);
 *  2. built-in hard denies: metadata names and addresses, link-local,
 *     unspecified, multicast, broadcast, the proxy's own address, and
 *     loopback unless allowed;
 *  3. the deny list, so a denied name is never resolved;
 *  4. the allow list;
 *  5. otherwise the approver, still without resolving the name;
 *  6. for an allowed name, a lookup with a deadline, and every address it
 *     returns checked against step 2 and the deny list.
 *
 * Reasons are sent to the client in the status line, so they are plain
 * ASCII protocol text and are not translated.
 */
#include "config.h"

#include "hg-policy.h"

#include "hg-address.h"

#include <ifaddrs.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <glib/gi18n.h>

struct _HgPolicy {
  gatomicrefcount ref_count;
  HgFilter *allow;
  HgFilter *deny;
  HgFilter *session_deny;  /* (nullable): the part of @deny a person chose */
  gboolean allow_loopback;
};

/**
 * hg_policy_new:
 * @allow: the allow list (a reference is taken)
 * @deny: the deny list (a reference is taken)
 * @allow_loopback: whether loopback destinations are allowed
 *
 * Creates a policy. Neither filter may change afterwards.
 *
 * Returns: (transfer full): the policy
 */
HgPolicy *
hg_policy_new (HgFilter *allow,
               HgFilter *deny,
               gboolean  allow_loopback)
{
  HgPolicy *policy;

  g_return_val_if_fail (allow != NULL, NULL);
  g_return_val_if_fail (deny != NULL, NULL);

  policy = g_new0 (HgPolicy, 1);
  g_atomic_ref_count_init (&policy->ref_count);
  policy->allow = hg_filter_ref (allow);
  policy->deny = hg_filter_ref (deny);
  policy->allow_loopback = allow_loopback;

  return policy;
}

HgPolicy *
hg_policy_ref (HgPolicy *policy)
{
  g_return_val_if_fail (policy != NULL, NULL);

  g_atomic_ref_count_inc (&policy->ref_count);
  return policy;
}

void
hg_policy_unref (HgPolicy *policy)
{
  if (policy == NULL || !g_atomic_ref_count_dec (&policy->ref_count))
    return;

  hg_filter_unref (policy->allow);
  hg_filter_unref (policy->deny);
  g_clear_pointer (&policy->session_deny, hg_filter_unref);
  g_free (policy);
}

/**
 * hg_policy_set_session_deny:
 * @policy: a policy not yet in use
 * @session_deny: the entries of the deny list that a person chose for
 *   this session (a reference is taken); it may not change afterwards
 *
 * Lets a refusal report that a person denied the host for this session,
 * since such an entry is in no file the user could look in.
 */
void
hg_policy_set_session_deny (HgPolicy *policy,
                            HgFilter *session_deny)
{
  g_clear_pointer (&policy->session_deny, hg_filter_unref);
  policy->session_deny = hg_filter_ref (session_deny);
}

HgFilter *
hg_policy_get_allow (HgPolicy *policy)
{
  return policy->allow;
}

HgFilter *
hg_policy_get_deny (HgPolicy *policy)
{
  return policy->deny;
}

gboolean
hg_policy_get_allow_loopback (HgPolicy *policy)
{
  return policy->allow_loopback;
}

/**
 * hg_decision_new:
 * @kind: the outcome
 * @status: the HTTP status for a refusal, else 0
 * @pattern: (nullable): the entry that decided
 * @reason_format: (nullable): printf format of the reason
 * @...: arguments for @reason_format
 *
 * Creates a decision.
 *
 * Returns: (transfer full): the decision
 */
HgDecision *
hg_decision_new (HgPolicyOutcome kind,
                 guint          status,
                 const char    *pattern,
                 const char    *reason_format,
                 ...)
{
  HgDecision *decision = g_new0 (HgDecision, 1);
  va_list args;

  decision->kind = kind;
  decision->status = status;
  decision->pattern = g_strdup (pattern);
  if (reason_format != NULL)
    {
      va_start (args, reason_format);
      decision->reason = g_strdup_vprintf (reason_format, args);
      va_end (args);
    }

  return decision;
}

void
hg_decision_free (HgDecision *decision)
{
  if (decision == NULL)
    return;

  g_free (decision->reason);
  g_free (decision->pattern);
  g_clear_pointer (&decision->addresses, g_ptr_array_unref);
  g_free (decision);
}

static void
add_interface_addresses (GPtrArray *own,
                         guint16    port)
{
  struct ifaddrs *list = NULL;

  if (getifaddrs (&list) != 0)
    return;

  for (struct ifaddrs *entry = list; entry != NULL; entry = entry->ifa_next)
    {
      g_autoptr(GSocketAddress) address = NULL;
      gsize size;

      if (entry->ifa_addr == NULL)
        continue;
      if (entry->ifa_addr->sa_family == AF_INET)
        size = sizeof (struct sockaddr_in);
      else if (entry->ifa_addr->sa_family == AF_INET6)
        size = sizeof (struct sockaddr_in6);
      else
        continue;

      address = g_socket_address_new_from_native (entry->ifa_addr, size);
      if (address == NULL)
        continue;

      g_ptr_array_add (own, g_inet_socket_address_new (
                               g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)),
                               port));
    }

  freeifaddrs (list);
}

/**
 * hg_own_addresses_new:
 * @bound: the address the proxy listens on
 *
 * Lists the addresses a client could use to reach the proxy itself: the
 * bound address and, when it is unspecified (0.0.0.0 or ::), every
 * address of every local interface, each with the bound port.
 *
 * Returns: (transfer full) (element-type GInetSocketAddress): the list
 */
GPtrArray *
hg_own_addresses_new (GInetSocketAddress *bound)
{
  GPtrArray *own = g_ptr_array_new_with_free_func (g_object_unref);
  GInetAddress *address = g_inet_socket_address_get_address (bound);

  g_ptr_array_add (own, g_object_ref (bound));
  if (g_inet_address_get_is_any (address))
    add_interface_addresses (own, g_inet_socket_address_get_port (bound));

  return own;
}

static gboolean
is_own_address (GPtrArray    *own_addresses,
                GInetAddress *address,
                guint16       port)
{
  g_autoptr(GInetAddress) plain = hg_address_unmap (address);

  for (guint i = 0; own_addresses != NULL && i < own_addresses->len; i++)
    {
      GInetSocketAddress *own = g_ptr_array_index (own_addresses, i);

      if (g_inet_socket_address_get_port (own) != port)
        continue;

      /* Every loopback and unspecified address reaches a listener bound to
       * loopback or to all interfaces, so the port alone decides there. */
      if (g_inet_address_get_is_loopback (plain) ||
          g_inet_address_get_is_any (plain) ||
          g_inet_address_equal (plain, g_inet_socket_address_get_address (own)))
        return TRUE;
    }

  return FALSE;
}

#define LOOPBACK N_("loopback")

/* Returns what is wrong with connecting to @address, untranslated, or
 * NULL. */
static const char *
address_problem (HgPolicy     *policy,
                 GPtrArray    *own_addresses,
                 GInetAddress *address,
                 guint16       port)
{
  if (is_own_address (own_addresses, address, port))
    return N_("the proxy's own address");

  switch (hg_address_classify (address))
    {
    case HG_ADDRESS_PUBLIC:
    case HG_ADDRESS_PRIVATE:
      return NULL;
    case HG_ADDRESS_LOOPBACK:
      return policy->allow_loopback ? NULL : LOOPBACK;
    case HG_ADDRESS_LINK_LOCAL:
      return N_("link-local");
    case HG_ADDRESS_UNSPECIFIED:
      return N_("unspecified");
    case HG_ADDRESS_MULTICAST:
      return N_("multicast");
    case HG_ADDRESS_BROADCAST:
      return N_("broadcast");
    case HG_ADDRESS_METADATA:
      return N_("cloud metadata");
    default:
      return N_("unknown address class");
    }
}

/* Returns the fix for a loopback refusal, added to its reason: the person
 * who reads it usually meant to reach a local server. */
static const char *
problem_hint (const char *problem)
{
  if (!g_str_equal (problem, LOOPBACK))
    return "";

  /* Translators: added to a reason such as "localhost" is a blocked
   * destination (loopback). */
  return _("; start the proxy with --allow-loopback or set network.allow_loopback to allow it");
}

static gboolean
filter_matches (HgFilter     *filter,
                const char   *name,
                GInetAddress *address,
                guint16       port)
{
  if (name == NULL)
    return hg_filter_match_address (filter, address, port);
  if (address == NULL)
    return hg_filter_match_name (filter, name, port);

  return hg_filter_match_host (filter, name, address, port);
}

static gboolean
is_localhost_name (const char *name)
{
  return g_str_equal (name, "localhost") || g_str_has_suffix (name, ".localhost");
}

static HgDecision *
check_hard_denies (HgPolicy     *policy,
                   GPtrArray    *own_addresses,
                   const HgHost *target)
{
  const char *problem;

  if (target->address != NULL)
    {
      problem = address_problem (policy, own_addresses, target->address, target->port);
      if (problem != NULL)
        /* Translators: the second %s is a kind of address, such as
         * loopback, and the third an optional hint. */
        return hg_decision_new (HG_POLICY_DENY, 403, NULL, _("%s is a blocked destination (%s)%s"),
                                target->name, _(problem), problem_hint (problem));
      return NULL;
    }

  if (hg_host_is_metadata_name (target->name))
    return hg_decision_new (HG_POLICY_DENY, 403, NULL,
                            _("\"%s\" is a blocked destination (%s)%s"), target->name,
                            _("cloud metadata"), "");

  /* GResolver resolves these to loopback without asking DNS. */
  if (!policy->allow_loopback && is_localhost_name (target->name))
    return hg_decision_new (HG_POLICY_DENY, 403, NULL,
                            _("\"%s\" is a blocked destination (%s)%s"), target->name,
                            _(LOOPBACK), problem_hint (LOOPBACK));

  return NULL;
}

/**
 * hg_policy_check_target:
 * @policy: the policy
 * @own_addresses: (element-type GInetSocketAddress): the proxy's addresses
 * @target: the normalised target host and port
 *
 * Applies steps 2 to 4 of the decision order: hard denies, the deny
 * list, the allow list. Nothing is resolved.
 *
 * Returns: (transfer full): %HG_POLICY_DENY, %HG_POLICY_ALLOW, or
 *   %HG_POLICY_UNMATCHED when the approver must be asked
 */
HgDecision *
hg_policy_check_target (HgPolicy     *policy,
                        GPtrArray    *own_addresses,
                        const HgHost *target)
{
  HgDecision *hard;
  g_autofree char *entry = NULL;

  hard = check_hard_denies (policy, own_addresses, target);
  if (hard != NULL)
    return hard;

  if (filter_matches (policy->deny, target->name, target->address, target->port))
    {
      entry = hg_filter_find_match (policy->deny, target->name, target->address, target->port);
      if (entry != NULL && policy->session_deny != NULL &&
          filter_matches (policy->session_deny, target->name, target->address, target->port))
        return hg_decision_new (HG_POLICY_DENY, 403, entry,
                                _("\"%s\" was denied by the user for this session"), target->name);
      if (entry != NULL)
        return hg_decision_new (HG_POLICY_DENY, 403, entry,
                                _("\"%s\" is denied by the deny list entry \"%s\""), target->name, entry);
      return hg_decision_new (HG_POLICY_DENY, 403, NULL,
                              _("\"%s\" is denied by the deny list"), target->name);
    }

  if (filter_matches (policy->allow, target->name, target->address, target->port))
    {
      entry = hg_filter_find_match (policy->allow, target->name, target->address, target->port);
      return hg_decision_new (HG_POLICY_ALLOW, 0, entry, NULL);
    }

  return hg_decision_new (HG_POLICY_UNMATCHED, 0, NULL, NULL);
}

/**
 * hg_policy_check_addresses:
 * @policy: the policy
 * @own_addresses: (element-type GInetSocketAddress): the proxy's addresses
 * @target: the name that was resolved, and the port
 * @addresses: (element-type GInetAddress): what it resolved to
 *
 * Applies step 6: every address must pass the hard denies and miss the
 * deny list, or the whole host is denied.
 *
 * Returns: (transfer full): %HG_POLICY_ALLOW or %HG_POLICY_DENY
 */
HgDecision *
hg_policy_check_addresses (HgPolicy     *policy,
                           GPtrArray    *own_addresses,
                           const HgHost *target,
                           GPtrArray    *addresses)
{
  for (guint i = 0; i < addresses->len; i++)
    {
      GInetAddress *address = g_ptr_array_index (addresses, i);
      g_autofree char *text = g_inet_address_to_string (address);
      const char *problem = address_problem (policy, own_addresses, address, target->port);
      g_autofree char *entry = NULL;

      if (problem != NULL)
        /* Translators: the third %s is a kind of address, such as
         * loopback, and the fourth an optional hint. */
        return hg_decision_new (HG_POLICY_DENY, 403, NULL, _("\"%s\" resolves to %s (%s)%s"),
                                target->name, text, _(problem), problem_hint (problem));

      if (hg_filter_match_address (policy->deny, address, target->port))
        {
          entry = hg_filter_find_match (policy->deny, NULL, address, target->port);
          if (entry != NULL)
            return hg_decision_new (HG_POLICY_DENY, 403, entry,
                                    _("\"%s\" resolves to %s, which the deny list entry \"%s\" denies"),
                                    target->name, text, entry);
          return hg_decision_new (HG_POLICY_DENY, 403, NULL,
                                  _("\"%s\" resolves to %s, which the deny list denies"), target->name, text);
        }
    }

  return hg_decision_new (HG_POLICY_ALLOW, 0, NULL, NULL);
}

typedef struct {
  HgPolicy *policy;
  HgApprover *approver;
  HgResolver *resolver;
  GPtrArray *own_addresses;
  const HgHost *target;
  gboolean resolve;
  char *pattern;
} DecideData;

static void
decide_data_free (DecideData *data)
{
  hg_policy_unref (data->policy);
  g_clear_object (&data->approver);
  g_clear_pointer (&data->own_addresses, g_ptr_array_unref);
  g_free (data->pattern);
  g_free (data);
}

static void
return_decision (GTask      *task,
                 HgDecision *decision)
{
  g_task_return_pointer (task, decision, (GDestroyNotify) hg_decision_free);
}

static void
lookup_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DecideData *data = g_task_get_task_data (task);
  g_autoptr(GPtrArray) addresses = NULL;
  g_autoptr(GError) error = NULL;
  HgDecision *decision;

  addresses = hg_resolver_lookup_finish (data->resolver, result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (addresses == NULL || addresses->len == 0)
    {
      /* The resolver's errors already name the host. The pattern that
       * allowed the host stays in the decision for the audit record. */
      if (error != NULL)
        decision = hg_decision_new (HG_POLICY_ERROR, 502, data->pattern, "%s", error->message);
      else
        decision = hg_decision_new (HG_POLICY_ERROR, 502, data->pattern,
                                    _("could not resolve \"%s\": no addresses"), data->target->name);
      return_decision (task, decision);
      return;
    }

  decision = hg_policy_check_addresses (data->policy, data->own_addresses, data->target, addresses);
  if (decision->kind == HG_POLICY_ALLOW)
    {
      decision->addresses = g_steal_pointer (&addresses);
      decision->pattern = g_strdup (data->pattern);
    }

  return_decision (task, decision);
}

static void
decide_allowed (GTask *task)
{
  DecideData *data = g_task_get_task_data (task);
  HgDecision *decision;

  if (!data->resolve || data->target->address != NULL)
    {
      decision = hg_decision_new (HG_POLICY_ALLOW, 0, data->pattern, NULL);
      if (data->resolve)
        {
          decision->addresses = g_ptr_array_new_with_free_func (g_object_unref);
          g_ptr_array_add (decision->addresses, g_object_ref (data->target->address));
        }
      return_decision (task, decision);
      return;
    }

  hg_resolver_lookup_async (data->resolver, data->target->name, data->target->port,
                            g_task_get_cancellable (task), lookup_cb, g_object_ref (task));
}

static void
ask_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DecideData *data = g_task_get_task_data (task);
  g_autoptr(HgApproval) approval = NULL;
  g_autoptr(GError) error = NULL;

  approval = hg_approver_ask_finish (HG_APPROVER (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (approval == NULL)
    {
      return_decision (task, hg_decision_new (HG_POLICY_DENY, 403, NULL,
                                              _("not in the allow list, and approval failed: %s"),
                                              error->message));
      return;
    }
  if (approval->verdict != HG_VERDICT_APPROVE)
    {
      return_decision (task, hg_decision_new (HG_POLICY_DENY, 403, approval->pattern, "%s",
                                              approval->reason != NULL ? approval->reason
                                                                       : _("not in the allow list")));
      return;
    }

  g_free (data->pattern);
  data->pattern = g_strdup (approval->pattern);
  decide_allowed (task);
}

/**
 * hg_policy_decide_async:
 * @policy: the policy
 * @context: the approver, resolver and own addresses to use
 * @target: the normalised target; it must stay valid until @callback runs
 * @kind: `connect` or `http`, passed to the approver
 * @resolve: whether to resolve an allowed name (%FALSE when the request
 *   goes through an upstream proxy, which resolves it)
 * @cancellable: (nullable): cancels the question or the lookup
 * @callback: called with the decision
 * @user_data: data for @callback
 *
 * Decides @target in the full order, asking the approver and resolving
 * as needed.
 *
 * Returns: %TRUE when @target is on neither list and the decision waits
 *   for a person's answer
 */
gboolean
hg_policy_decide_async (HgPolicy              *policy,
                        const HgPolicyContext *context,
                        const HgHost          *target,
                        const char            *kind,
                        gboolean               resolve,
                        GCancellable          *cancellable,
                        GAsyncReadyCallback    callback,
                        gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(HgDecision) decision = NULL;
  DecideData *data;
  gboolean asking = FALSE;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_policy_decide_async);

  data = g_new0 (DecideData, 1);
  data->policy = hg_policy_ref (policy);
  data->approver = g_object_ref (context->approver);
  data->resolver = context->resolver;
  data->own_addresses = context->own_addresses != NULL ? g_ptr_array_ref (context->own_addresses) : NULL;
  data->target = target;
  data->resolve = resolve;
  g_task_set_task_data (task, data, (GDestroyNotify) decide_data_free);

  decision = hg_policy_check_target (policy, data->own_addresses, target);
  switch (decision->kind)
    {
    case HG_POLICY_ALLOW:
      data->pattern = g_strdup (decision->pattern);
      decide_allowed (task);
      break;
    case HG_POLICY_UNMATCHED:
      asking = hg_approver_ask_async (data->approver, target, kind, cancellable, ask_cb,
                                      g_object_ref (task));
      break;
    case HG_POLICY_DENY:
    case HG_POLICY_ERROR:
    default:
      return_decision (task, g_steal_pointer (&decision));
      break;
    }

  return asking;
}

/**
 * hg_policy_decide_finish:
 * @policy: the policy
 * @result: the result passed to the callback
 * @error: return location for a #GError; set only on cancellation
 *
 * Finishes hg_policy_decide_async().
 *
 * Returns: (transfer full) (nullable): the decision, never
 *   %HG_POLICY_UNMATCHED
 */
HgDecision *
hg_policy_decide_finish (HgPolicy     *policy,
                         GAsyncResult *result,
                         GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
