/* hg-agent-client.c: asking the desktop agent about unlisted hosts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * HgAgentClient is the approver of a proxy in approval mode `ask`. It
 * keeps one connection to hostgate-agent on a Unix socket, sends `hello`,
 * takes the profile's filter from `welcome` and from later `filter`
 * pushes, and turns each question of the policy into an `ask`.
 *
 * Questions about the same host and port share one prompt, and every
 * request waiting on it gets the same answer. A prompt ends with a
 * `decision`, with its timeout (the agent gets `cancel` with `timeout`),
 * when every waiting client has gone (`cancel` with `client-gone`), or
 * when the connection is lost. All but the first deny once, so only a
 * `decision` ever approves.
 *
 * Session and Always answers go to this proxy's own session lists. The
 * server's policy is rebuilt from the profile part, the command-line
 * entries and the session lists, and swapped whole, so requests being
 * decided keep the policy they started with.
 */
#include "config.h"

#include "hg-agent-client.h"

#include "hg-error.h"
#include "hg-message-stream.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n.h>
#include <unistd.h>

/* The `code` of the `error` hostgate-agent sends before `welcome` when it
 * cannot read the profile; its `welcome` then carries an empty filter. */
#define ERROR_CODE_INVALID_PROFILE "invalid-profile"

/* Events kept while the connection is being set up, sent after `hello`;
 * past this many the oldest are dropped. */
#define MAX_QUEUED_EVENTS 64

/* Ids of prompts that timed out or were withdrawn, remembered so that a
 * late Session or Always decision still applies. Oldest dropped first. */
#define MAX_EXPIRED_PROMPTS 64

typedef enum {
  STATE_STOPPED,
  STATE_DISCONNECTED,  /* waiting to reconnect */
  STATE_CONNECTING,
  STATE_GREETING,      /* `hello` sent, waiting for `welcome` */
  STATE_READY,
} ConnectionState;

typedef struct _Prompt Prompt;

typedef struct {
  Prompt *prompt;
  GTask *task;
  GCancellable *cancellable;
  gulong cancelled_id;
  gboolean gone;
} Waiter;

struct _Prompt {
  HgAgentClient *client;
  char *id;
  char *key;
  HgHost *target;
  HgAskKind kind;
  GPtrArray *waiters;     /* Waiter */
  gint64 start_time;
  gint64 deadline;
  guint timeout_id;
  guint sweep_id;
  gboolean sent;
};

typedef struct {
  char *id;
  HgHost *target;
  HgAskKind kind;
} ExpiredPrompt;

struct _HgAgentClient
{
  GObject parent_instance;

  HgProxyServer *server;  /* weak, because the server refs its approver */
  const HgOptions *options;

  char *socket_path;
  char *session_id;
  char *label;
  char *command;
  int pid;

  HgApprovalMode mode;
  guint timeout_secs;

  char *profile_name;
  gboolean have_revision;
  guint64 revision;
  HgFilter *profile_allow;  /* the profile's list and `--allow-domain` */
  HgFilter *profile_deny;
  HgFilter *session_allow;  /* never shared: merged into copies */
  HgFilter *session_deny;
  /* The Always answers of a proxy whose profile comes from a file. They
   * live in the session lists, since the file is not written, and stay
   * there when the agent asks to forget the Session answers. */
  GPtrArray *file_always_allow;
  GPtrArray *file_always_deny;

  ConnectionState state;
  GCancellable *cancellable;  /* the current connect and read */
  HgMessageStream *stream;
  const char *unavailable_reason;
  guint welcome_timeout_id;
  guint reconnect_id;
  guint backoff_ms;
  guint connect_failures;
  gboolean agent_profile_invalid;
  gboolean file_lists_logged;  /* the notice that the agent's lists are unused */

  GHashTable *prompts_by_key;  /* "host port" → Prompt, owns the prompts */
  GHashTable *prompts_by_id;   /* id → Prompt */
  GQueue expired;              /* ExpiredPrompt */
  GQueue queued_events;        /* HgMessage, while connecting */
  guint64 next_id;
};

static void hg_agent_client_iface_init (HgApproverInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HgAgentClient, hg_agent_client, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (HG_TYPE_APPROVER, hg_agent_client_iface_init))

static void connect_agent (HgAgentClient *self);
static void lose_connection (HgAgentClient *self, const char *reason, const char *detail);

/* ------------------------------------------------------------------ */
/* Pure helpers                                                        */
/* ------------------------------------------------------------------ */

static HgHost *
copy_host (const HgHost *host)
{
  HgHost *copy = g_new0 (HgHost, 1);

  copy->name = g_strdup (host->name);
  copy->port = host->port;
  if (host->address != NULL)
    copy->address = g_object_ref (host->address);

  return copy;
}

static gboolean
filter_matches_host (HgFilter     *filter,
                     const HgHost *host)
{
  if (host->address == NULL)
    return hg_filter_match_name (filter, host->name, host->port);

  return hg_filter_match_host (filter, host->name, host->address, host->port);
}

/* The entry that names exactly @host, on any port. */
static char *
exact_entry (const HgHost *host)
{
  if (host->address != NULL &&
      g_inet_address_get_family (host->address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]", host->name);

  return g_strdup (host->name);
}

/**
 * hg_agent_decision_entries:
 * @pattern: (nullable): the `pattern` of a decision; %NULL for the exact
 *   host asked about
 * @verdict: approve or deny; a deny pattern may not be `*`
 * @target: the host and port that was asked about
 * @error: return location for a #GError
 *
 * Validates the pattern of a decision and expands it into list entries:
 * a wildcard `*.example.com` also covers `example.com`, so it gives both.
 * The pattern must cover @target, so an agent cannot approve one host in
 * answer to a question about another.
 *
 * Returns: (transfer full) (nullable): the normalised entries, or %NULL
 *   with %HG_PROTOCOL_ERROR_INVALID_PATTERN set
 */
GStrv
hg_agent_decision_entries (const char   *pattern,
                           HgVerdict     verdict,
                           const HgHost *target,
                           GError      **error)
{
  HgPatternFlags flags = verdict == HG_VERDICT_DENY ? HG_PATTERN_FLAG_DENY : HG_PATTERN_FLAG_NONE;
  g_autofree char *exact = NULL;
  g_autoptr(HgPattern) parsed = NULL;
  g_autoptr(HgFilter) filter = hg_filter_new ();
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *entry = NULL;
  g_autofree char *apex = NULL;

  g_return_val_if_fail (target != NULL, NULL);

  if (pattern == NULL)
    pattern = exact = exact_entry (target);

  parsed = hg_pattern_parse (pattern, flags, error);
  if (parsed == NULL)
    return NULL;

  entry = hg_pattern_to_string (parsed);
  g_strv_builder_add (builder, entry);
  hg_filter_add_pattern (filter, parsed);

  if (parsed->kind == HG_PATTERN_WILDCARD)
    {
      if (parsed->port != 0)
        apex = g_strdup_printf ("%s:%u", parsed->host, parsed->port);
      else
        apex = g_strdup (parsed->host);
      if (!hg_filter_add (filter, apex, flags, error))
        return NULL;
      g_strv_builder_add (builder, apex);
    }

  if (!filter_matches_host (filter, target))
    {
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN,
                   _("The pattern “%s” does not cover the requested host “%s” on port %u"),
                   pattern, target->name, target->port);
      return NULL;
    }

  return g_strv_builder_end (builder);
}

/**
 * hg_agent_backoff_next:
 * @current_ms: the wait before the last attempt, or 0 before the first
 *
 * Computes the wait before the next attempt to reach the agent: it starts
 * at %HG_AGENT_BACKOFF_MIN_MS and doubles up to %HG_AGENT_BACKOFF_MAX_MS.
 *
 * Returns: the next wait in milliseconds
 */
guint
hg_agent_backoff_next (guint current_ms)
{
  if (current_ms < HG_AGENT_BACKOFF_MIN_MS)
    return HG_AGENT_BACKOFF_MIN_MS;
  if (current_ms >= HG_AGENT_BACKOFF_MAX_MS / 2)
    return HG_AGENT_BACKOFF_MAX_MS;

  return current_ms * 2;
}

/* ------------------------------------------------------------------ */
/* Sending, audit records and events                                   */
/* ------------------------------------------------------------------ */

static void
send_message (HgAgentClient *self,
              HgMessage     *message)
{
  g_autoptr(HgMessage) owned = message;

  if (self->stream != NULL && self->state >= STATE_GREETING)
    hg_message_stream_send (self->stream, owned);
}

static void
send_error (HgAgentClient *self,
            const char    *id,
            const char    *code,
            const char    *text)
{
  send_message (self, hg_message_new_error (id, code, text));
}

static const char *
kind_method (HgAskKind kind)
{
  return kind == HG_ASK_KIND_CONNECT ? "CONNECT" : NULL;
}

/* Writes one step of a question to the audit log; audit_record_cb()
 * passes it on to the agent. */
static void
record_step (HgAgentClient *self,
             const HgHost  *target,
             HgAskKind      kind,
             const char    *decision,
             const char    *reason,
             const char    *pattern,
             gint64         duration_ms)
{
  HgAuditRecord record = { 0 };

  record.method = kind_method (kind);
  record.host = target->name;
  record.port = target->port;
  record.decision = decision;
  record.reason = reason;
  record.pattern = pattern;
  record.duration_ms = duration_ms;
  if (self->server != NULL)
    hg_proxy_server_write_audit (self->server, &record);
}

/* Sends every audit record of the server, requests and questions alike,
 * to the agent as an `event` for its history view. */
static void
audit_record_cb (HgProxyServer       *server,
                 const HgAuditRecord *record,
                 gpointer             user_data)
{
  HgAgentClient *self = user_data;
  g_autoptr(HgEvent) event = NULL;
  g_autoptr(GDateTime) now = NULL;

  /* Events may go out once `hello` has opened the session, even before
   * `welcome`. Events from before `hello` are queued until then. */
  if (self->state != STATE_READY && self->state != STATE_GREETING &&
      self->state != STATE_CONNECTING)
    return;

  event = hg_event_new ();
  now = g_date_time_new_now_utc ();
  event->time = g_date_time_format_iso8601 (now);
  event->session = g_strdup (self->session_id);
  event->client = g_strdup (record->client);
  event->method = g_strdup (record->method);
  event->host = g_strdup (record->host);
  event->port = record->port;
  event->decision = g_strdup (record->decision);
  event->reason = g_strdup (record->reason);
  event->pattern = g_strdup (record->pattern);
  event->bytes_up = (gint64) MIN (record->bytes_up, (guint64) G_MAXINT64);
  event->bytes_down = (gint64) MIN (record->bytes_down, (guint64) G_MAXINT64);
  event->duration_ms = MAX (record->duration_ms, 0);

  if (self->state != STATE_CONNECTING)
    {
      send_message (self, hg_message_new_event (event));
      return;
    }

  g_queue_push_tail (&self->queued_events, hg_message_new_event (event));
  if (g_queue_get_length (&self->queued_events) > MAX_QUEUED_EVENTS)
    hg_message_free (g_queue_pop_head (&self->queued_events));
}

static void
drop_queued_events (HgAgentClient *self)
{
  g_queue_clear_full (&self->queued_events, (GDestroyNotify) hg_message_free);
}

static void
send_queued_events (HgAgentClient *self)
{
  HgMessage *message;

  while ((message = g_queue_pop_head (&self->queued_events)) != NULL)
    send_message (self, message);
}

/* ------------------------------------------------------------------ */
/* Policy                                                              */
/* ------------------------------------------------------------------ */

/* Swaps the server's policy for one built from the profile part and
 * the session lists. */
static void
update_policy (HgAgentClient *self)
{
  g_autoptr(HgPolicy) current = NULL;
  g_autoptr(HgPolicy) policy = NULL;
  g_autoptr(HgFilter) allow = hg_filter_copy (self->profile_allow);
  g_autoptr(HgFilter) deny = hg_filter_copy (self->profile_deny);
  g_autoptr(HgFilter) session_deny = hg_filter_copy (self->session_deny);

  if (self->server == NULL)
    return;

  hg_filter_merge (allow, self->session_allow);
  hg_filter_merge (deny, self->session_deny);

  current = hg_proxy_server_dup_policy (self->server);
  policy = hg_policy_new (allow, deny, hg_policy_get_allow_loopback (current));
  hg_policy_set_session_deny (policy, session_deny);
  hg_proxy_server_set_policy (self->server, policy);
}

static void
add_to_filter (HgFilter           *filter,
               HgVerdict           verdict,
               const char * const *entries,
               guint               n_entries)
{
  HgPatternFlags flags = verdict == HG_VERDICT_APPROVE ? HG_PATTERN_FLAG_NONE : HG_PATTERN_FLAG_DENY;

  for (guint i = 0; i < n_entries; i++)
    {
      g_autoptr(GError) error = NULL;

      /* hg_agent_decision_entries() validated them with the same flags. */
      if (!hg_filter_add (filter, entries[i], flags, &error))
        /* Translators: the first %s is a host pattern, the second an error message. */
        g_warning (_("Could not add “%s” to the session list: %s"), entries[i], error->message);
    }
}

static void
add_session_entries (HgAgentClient      *self,
                     HgVerdict           verdict,
                     HgDecisionDuration  duration,
                     const char * const *entries)
{
  gboolean approve = verdict == HG_VERDICT_APPROVE;
  guint n_entries = g_strv_length ((char **) entries);

  add_to_filter (approve ? self->session_allow : self->session_deny, verdict, entries, n_entries);

  if (duration == HG_DECISION_ALWAYS && self->options->profile_from_file)
    {
      GPtrArray *always = approve ? self->file_always_allow : self->file_always_deny;

      for (guint i = 0; i < n_entries; i++)
        g_ptr_array_add (always, g_strdup (entries[i]));
    }

  update_policy (self);
}

static HgFilter *
build_list (HgFilter           *base,
            const char * const *entries,
            HgPatternFlags      flags,
            const char         *list_name,
            GError            **error)
{
  g_autoptr(HgFilter) filter = base != NULL ? hg_filter_copy (base) : hg_filter_new ();

  for (guint i = 0; entries != NULL && entries[i] != NULL; i++)
    {
      if (!hg_filter_add (filter, entries[i], flags, error))
        {
          g_prefix_error (error, "%s[%u]: ", list_name, i);
          return NULL;
        }
    }

  return g_steal_pointer (&filter);
}

static void
forget_session (HgAgentClient *self)
{
  g_clear_pointer (&self->session_allow, hg_filter_unref);
  g_clear_pointer (&self->session_deny, hg_filter_unref);
  self->session_allow = hg_filter_new ();
  self->session_deny = hg_filter_new ();
  add_to_filter (self->session_allow, HG_VERDICT_APPROVE,
                 (const char * const *) self->file_always_allow->pdata, self->file_always_allow->len);
  add_to_filter (self->session_deny, HG_VERDICT_DENY,
                 (const char * const *) self->file_always_deny->pdata, self->file_always_deny->len);
  g_message (_("The agent asked to forget the session decisions; "
               "hosts with a Session answer will be asked about again"));
}

/* A profile given with `--profile-file` keeps its own lists and approval
 * settings: the agent's profile of the same name is another file. Only
 * `forget_session` applies. */
static void
apply_filter_to_file_profile (HgAgentClient        *self,
                              const HgFilterUpdate *update)
{
  if (!self->file_lists_logged)
    {
      g_message (_("Not using the agent's lists of profile “%s”: this proxy's profile "
                   "comes from a file given with --profile-file"), update->profile);
      self->file_lists_logged = TRUE;
    }

  self->have_revision = TRUE;
  self->revision = update->revision;
  if (update->forget_session)
    {
      forget_session (self);
      update_policy (self);
    }
}

/* Replaces the profile part of the lists, and the approval settings that
 * no flag or environment variable fixed. With `forget_session` it also
 * empties the session lists. The single update_policy() call publishes
 * both changes at once, and requests already checked keep the policy
 * they hold a reference to. */
static void
apply_filter (HgAgentClient        *self,
              const HgFilterUpdate *update)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgFilter) allow = NULL;
  g_autoptr(HgFilter) deny = NULL;

  if (g_strcmp0 (update->profile, self->profile_name) != 0)
    {
      g_debug ("Ignoring the filter of profile “%s”: this proxy uses “%s”",
               update->profile, self->profile_name);
      return;
    }
  if (self->have_revision && update->revision < self->revision)
    {
      g_debug ("Ignoring revision %" G_GUINT64_FORMAT " of profile “%s”: revision %"
               G_GUINT64_FORMAT " is in use", update->revision, update->profile, self->revision);
      return;
    }
  if (self->options->profile_from_file)
    {
      apply_filter_to_file_profile (self, update);
      return;
    }

  allow = build_list (self->options->flag_allow, (const char * const *) update->allow,
                      HG_PATTERN_FLAG_NONE, "allow", &error);
  if (allow != NULL)
    deny = build_list (self->options->flag_deny, (const char * const *) update->deny,
                       HG_PATTERN_FLAG_DENY, "deny", &error);
  if (deny == NULL)
    {
      /* Plain C formats, because xgettext cannot expand G_GUINT64_FORMAT.
       * Translators: %llu is the revision number, %s the profile name,
       * and the last %s an error message. */
      g_warning (_("Ignoring revision %llu of profile “%s” from the agent: %s"),
                 (unsigned long long) update->revision, update->profile, error->message);
      send_error (self, NULL, HG_ERROR_CODE_INVALID_MESSAGE, error->message);
      return;
    }

  g_clear_pointer (&self->profile_allow, hg_filter_unref);
  g_clear_pointer (&self->profile_deny, hg_filter_unref);
  self->profile_allow = g_steal_pointer (&allow);
  self->profile_deny = g_steal_pointer (&deny);
  self->have_revision = TRUE;
  self->revision = update->revision;

  if (update->forget_session)
    forget_session (self);

  if (!self->options->approval_mode_fixed)
    self->mode = update->approval_mode;
  if (!self->options->approval_timeout_fixed)
    self->timeout_secs = CLAMP (update->approval_timeout_secs,
                                HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX);

  update_policy (self);
  /* Translators: %llu is the revision number and %s the profile name.
   * The two %u are the numbers of allowed and denied patterns. The
   * second %s is the approval mode as profiles and --network-approval
   * write it, “off” or “ask”, which stays untranslated. The last %u is
   * the approval timeout in seconds. */
  g_message (_("Using revision %llu of profile “%s” from the agent: "
               "%u allowed, %u denied, approval %s, timeout %u s"),
             (unsigned long long) update->revision, update->profile,
             update->allow != NULL ? g_strv_length (update->allow) : 0,
             update->deny != NULL ? g_strv_length (update->deny) : 0,
             hg_approval_mode_to_string (self->mode), self->timeout_secs);
}

/* ------------------------------------------------------------------ */
/* Prompts and their waiters                                           */
/* ------------------------------------------------------------------ */

static HgApproval *
deny_once (const char *reason)
{
  return hg_approval_new (HG_VERDICT_DENY, HG_DURATION_ONCE, NULL, reason);
}

static void
waiter_free (Waiter *waiter)
{
  if (waiter->cancelled_id != 0)
    g_cancellable_disconnect (waiter->cancellable, waiter->cancelled_id);
  g_clear_object (&waiter->cancellable);
  g_clear_object (&waiter->task);
  g_free (waiter);
}

/* Takes @approval. A waiter whose client has gone gets the cancellation
 * instead, which the policy treats as the end of the request. */
static void
waiter_answer (Waiter     *waiter,
               HgApproval *approval)
{
  GTask *task = g_object_ref (waiter->task);

  waiter_free (waiter);
  if (!g_task_return_error_if_cancelled (task))
    g_task_return_pointer (task, approval, (GDestroyNotify) hg_approval_free);
  else
    hg_approval_free (approval);
  g_object_unref (task);
}

static void
prompt_free (Prompt *prompt)
{
  g_clear_handle_id (&prompt->timeout_id, g_source_remove);
  g_clear_handle_id (&prompt->sweep_id, g_source_remove);
  g_assert (prompt->waiters->len == 0);
  g_ptr_array_unref (prompt->waiters);
  hg_host_free (prompt->target);
  g_free (prompt->key);
  g_free (prompt->id);
  g_free (prompt);
}

static gint64
prompt_age_ms (Prompt *prompt)
{
  return (g_get_monotonic_time () - prompt->start_time) / 1000;
}

static void
expired_prompt_free (ExpiredPrompt *expired)
{
  hg_host_free (expired->target);
  g_free (expired->id);
  g_free (expired);
}

static void
remember_expired (HgAgentClient *self,
                  Prompt        *prompt)
{
  ExpiredPrompt *expired;

  if (!prompt->sent)
    return;

  expired = g_new0 (ExpiredPrompt, 1);
  expired->id = g_strdup (prompt->id);
  expired->target = copy_host (prompt->target);
  expired->kind = prompt->kind;
  g_queue_push_tail (&self->expired, expired);
  if (g_queue_get_length (&self->expired) > MAX_EXPIRED_PROMPTS)
    expired_prompt_free (g_queue_pop_head (&self->expired));
}

static ExpiredPrompt *
find_expired (HgAgentClient *self,
              const char    *id)
{
  for (GList *link = self->expired.head; link != NULL; link = link->next)
    {
      ExpiredPrompt *expired = link->data;

      if (g_str_equal (expired->id, id))
        return expired;
    }

  return NULL;
}

static void
forget_expired (HgAgentClient *self)
{
  g_queue_clear_full (&self->expired, (GDestroyNotify) expired_prompt_free);
}

/* Takes @prompt out of the tables; the caller then owns it. */
static Prompt *
prompt_detach (Prompt *prompt)
{
  HgAgentClient *self = prompt->client;

  g_hash_table_remove (self->prompts_by_id, prompt->id);
  g_hash_table_steal (self->prompts_by_key, prompt->key);
  g_clear_handle_id (&prompt->timeout_id, g_source_remove);
  g_clear_handle_id (&prompt->sweep_id, g_source_remove);

  return prompt;
}

/* Ends @prompt: every waiter gets a copy of @approval (taken). */
static void
prompt_finish (Prompt     *prompt,
               HgApproval *approval)
{
  g_autoptr(HgApproval) owned = approval;
  g_autoptr(GPtrArray) waiters = NULL;

  prompt_detach (prompt);
  waiters = g_steal_pointer (&prompt->waiters);
  prompt->waiters = g_ptr_array_new ();
  prompt_free (prompt);

  for (guint i = 0; i < waiters->len; i++)
    waiter_answer (g_ptr_array_index (waiters, i),
                   hg_approval_new (owned->verdict, owned->duration, owned->pattern, owned->reason));
}

/* Denies @prompt once, as when the agent cannot answer it. */
static void
prompt_fail (Prompt     *prompt,
             const char *decision,
             const char *reason)
{
  HgAgentClient *self = prompt->client;

  record_step (self, prompt->target, prompt->kind, decision, reason, NULL, prompt_age_ms (prompt));
  prompt_finish (prompt, deny_once (reason));
}

static void
fail_all_prompts (HgAgentClient *self,
                  const char    *reason)
{
  g_autoptr(GList) prompts = g_hash_table_get_values (self->prompts_by_key);

  for (GList *link = prompts; link != NULL; link = link->next)
    prompt_fail (link->data, "approval-failed", reason);
}

static void
send_ask (HgAgentClient *self,
          Prompt        *prompt)
{
  gint64 remaining_ms = (prompt->deadline - g_get_monotonic_time () + 999) / 1000;

  prompt->sent = TRUE;
  /* Translators: the first %s is a host name and %u its port. The
   * second %s is the kind of request as the agent protocol names it,
   * “connect” or “http”, which stays untranslated. The last %s is the
   * question id. */
  g_message (_("Asking the agent about %s port %u (%s), question %s"),
             prompt->target->name, prompt->target->port,
             hg_ask_kind_to_string (prompt->kind), prompt->id);
  send_message (self, hg_message_new_ask (prompt->id, prompt->target->name, prompt->target->port,
                                          prompt->kind, (guint) CLAMP (remaining_ms, 1, HG_MESSAGE_MAX_TIMEOUT_MS)));
}

static void
send_cancel (HgAgentClient  *self,
             Prompt         *prompt,
             HgCancelReason  reason)
{
  if (prompt->sent && self->state == STATE_READY)
    send_message (self, hg_message_new_cancel (prompt->id, reason));
}

static gboolean
prompt_timeout_cb (gpointer user_data)
{
  Prompt *prompt = user_data;
  HgAgentClient *self = prompt->client;

  prompt->timeout_id = 0;
  /* Translators: %s is a host name, the first %u its port, the second %u
   * a number of seconds and the last %s the question id. */
  g_message (_("No answer about %s port %u within %u s, question %s"),
             prompt->target->name, prompt->target->port,
             (guint) (prompt_age_ms (prompt) / 1000), prompt->id);
  send_cancel (self, prompt, HG_CANCEL_REASON_TIMEOUT);
  remember_expired (self, prompt);
  prompt_fail (prompt, "approval-timed-out", HG_AGENT_REASON_TIMED_OUT);

  return G_SOURCE_REMOVE;
}

/* Runs after a waiter's cancellable fired: a handler may not disconnect
 * itself while the cancellable emits, so the waiters go here. */
static gboolean
prompt_sweep_cb (gpointer user_data)
{
  Prompt *prompt = user_data;
  HgAgentClient *self = prompt->client;
  const char *reason;

  prompt->sweep_id = 0;
  for (guint i = prompt->waiters->len; i > 0; i--)
    {
      Waiter *waiter = g_ptr_array_index (prompt->waiters, i - 1);

      if (!waiter->gone)
        continue;
      g_ptr_array_remove_index (prompt->waiters, i - 1);
      waiter_answer (waiter, deny_once (HG_AGENT_REASON_DISCONNECTED));
    }

  if (prompt->waiters->len > 0)
    {
      g_debug ("%u requests still wait on question %s", prompt->waiters->len, prompt->id);
      return G_SOURCE_REMOVE;
    }

  /* The protocol has no shutdown reason, because to the agent the
   * clients are gone either way. The audit record gives the cause. */
  if (self->server != NULL && hg_proxy_server_is_aborting (self->server))
    reason = _("the proxy closed every waiting client at the end of the shutdown grace period");
  else
    reason = _("every waiting client has gone");
  /* Translators: the first %s is a host name, %u its port and the last
   * %s the reason, such as “every waiting client has gone”. */
  g_message (_("Withdrawing the question about %s port %u: %s"),
             prompt->target->name, prompt->target->port, reason);
  send_cancel (self, prompt, HG_CANCEL_REASON_CLIENT_GONE);
  remember_expired (self, prompt);
  record_step (self, prompt->target, prompt->kind, "approval-cancelled",
               reason, NULL, prompt_age_ms (prompt));
  prompt_free (prompt_detach (prompt));

  return G_SOURCE_REMOVE;
}

static void
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *waiter = user_data;
  Prompt *prompt = waiter->prompt;

  waiter->gone = TRUE;
  if (prompt->sweep_id == 0)
    prompt->sweep_id = g_idle_add (prompt_sweep_cb, prompt);
}

static void
prompt_add_waiter (Prompt *prompt,
                   GTask  *task)
{
  Waiter *waiter = g_new0 (Waiter, 1);
  GCancellable *cancellable = g_task_get_cancellable (task);

  waiter->prompt = prompt;
  waiter->task = g_object_ref (task);
  g_ptr_array_add (prompt->waiters, waiter);
  g_debug ("%u requests wait on question %s about %s port %u", prompt->waiters->len,
           prompt->id, prompt->target->name, prompt->target->port);

  if (cancellable != NULL)
    {
      waiter->cancellable = g_object_ref (cancellable);
      waiter->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (waiter_cancelled_cb),
                                                    waiter, NULL);
    }
}

static char *
prompt_key (const HgHost *target)
{
  return g_strdup_printf ("%s %u", target->name, target->port);
}

static Prompt *
prompt_new (HgAgentClient *self,
            const HgHost  *target,
            HgAskKind      kind)
{
  Prompt *prompt = g_new0 (Prompt, 1);

  prompt->client = self;
  prompt->id = g_strdup_printf ("%" G_GUINT64_FORMAT, ++self->next_id);
  prompt->key = prompt_key (target);
  prompt->target = copy_host (target);
  prompt->kind = kind;
  prompt->waiters = g_ptr_array_new ();
  prompt->start_time = g_get_monotonic_time ();
  prompt->deadline = prompt->start_time + (gint64) self->timeout_secs * G_USEC_PER_SEC;
  prompt->timeout_id = g_timeout_add (self->timeout_secs * 1000, prompt_timeout_cb, prompt);

  g_hash_table_insert (self->prompts_by_key, prompt->key, prompt);
  g_hash_table_insert (self->prompts_by_id, prompt->id, prompt);

  return prompt;
}

/* Decides @target from the current lists, which may have changed since
 * the request was checked: a Session or Always answer, or a new filter.
 * Approval `off` denies what the lists leave open. Returns %NULL when a
 * person must be asked. */
static HgApproval *
decide_from_lists (HgAgentClient *self,
                   const HgHost  *target)
{
  g_autoptr(HgPolicy) policy = NULL;
  g_autoptr(HgDecision) decision = NULL;
  HgPolicyContext context;

  if (self->server == NULL)
    return deny_once (_("not in the allow list"));

  policy = hg_proxy_server_dup_policy (self->server);
  hg_proxy_server_get_policy_context (self->server, &context);
  decision = hg_policy_check_target (policy, context.own_addresses, target);
  if (decision->kind == HG_POLICY_ALLOW)
    return hg_approval_new (HG_VERDICT_APPROVE, HG_DURATION_ONCE, decision->pattern, NULL);
  if (decision->kind == HG_POLICY_DENY)
    return hg_approval_new (HG_VERDICT_DENY, HG_DURATION_ONCE, decision->pattern, decision->reason);
  if (self->mode == HG_APPROVAL_OFF)
    return deny_once (_("not in the allow list"));

  return NULL;
}

/* Answers the open questions that the lists now decide, after a Session
 * or Always answer or a new filter: approving `*.example.com` settles
 * the questions about its other subdomains too. The agent gets `cancel`
 * for those, because no request waits on them any more. Answering
 * may run the waiters' callbacks, so each prompt is looked up again. */
static void
settle_open_questions (HgAgentClient *self)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->prompts_by_key);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, g_strdup (key));

  for (guint i = 0; i < keys->len; i++)
    {
      Prompt *prompt = g_hash_table_lookup (self->prompts_by_key, g_ptr_array_index (keys, i));
      HgApproval *answer;

      if (prompt == NULL)
        continue;
      answer = decide_from_lists (self, prompt->target);
      if (answer == NULL)
        continue;

      /* Translators: the first %s is a host name, %u its port and the
       * last %s the question id. */
      g_message (_("The lists now decide %s port %u, question %s"),
                 prompt->target->name, prompt->target->port, prompt->id);
      send_cancel (self, prompt, HG_CANCEL_REASON_CLIENT_GONE);
      remember_expired (self, prompt);
      record_step (self, prompt->target, prompt->kind, "approval-cancelled",
                   _("decided by the lists"), answer->pattern, prompt_age_ms (prompt));
      prompt_finish (prompt, answer);
    }
}

/* Sends the questions that waited for `welcome`, unless its filter has
 * decided them meanwhile. */
static void
send_unsent_asks (HgAgentClient *self)
{
  g_autoptr(GList) prompts = NULL;

  settle_open_questions (self);

  prompts = g_hash_table_get_values (self->prompts_by_key);
  for (GList *link = prompts; link != NULL; link = link->next)
    {
      Prompt *prompt = link->data;

      if (!prompt->sent)
        send_ask (self, prompt);
    }
}

/* ------------------------------------------------------------------ */
/* Messages from the agent                                             */
/* ------------------------------------------------------------------ */

/* Logs a person's decision about @pattern on question @id. Whole
 * sentences for each verdict and duration let translations order the
 * words. */
static void
log_decision (HgVerdict          verdict,
              HgDecisionDuration duration,
              const char        *pattern,
              const char        *id)
{
  if (verdict == HG_VERDICT_APPROVE)
    {
      switch (duration)
        {
        case HG_DECISION_SESSION:
          /* Translators: the first %s is a host pattern, the second a question id. */
          g_message (_("The user approved %s for this session, question %s"), pattern, id);
          return;
        case HG_DECISION_ALWAYS:
          /* Translators: the first %s is a host pattern, the second a question id. */
          g_message (_("The user approved %s always, question %s"), pattern, id);
          return;
        case HG_DECISION_ONCE:
        default:
          /* Translators: the first %s is a host pattern, the second a question id. */
          g_message (_("The user approved %s once, question %s"), pattern, id);
          return;
        }
    }

  switch (duration)
    {
    case HG_DECISION_SESSION:
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user denied %s for this session, question %s"), pattern, id);
      return;
    case HG_DECISION_ALWAYS:
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user denied %s always, question %s"), pattern, id);
      return;
    case HG_DECISION_ONCE:
    default:
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user denied %s once, question %s"), pattern, id);
      return;
    }
}

/* Logs a decision that came after question @id timed out or was
 * withdrawn. Only Session and Always answers get here, because a late
 * Once answer has nothing left to decide. */
static void
log_late_decision (HgVerdict          verdict,
                   HgDecisionDuration duration,
                   const char        *pattern,
                   const char        *id)
{
  gboolean always = duration == HG_DECISION_ALWAYS;

  g_return_if_fail (duration != HG_DECISION_ONCE);

  if (verdict == HG_VERDICT_APPROVE && always)
    {
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user approved %s always after the question %s ended"), pattern, id);
    }
  else if (verdict == HG_VERDICT_APPROVE)
    {
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user approved %s for this session after the question %s ended"),
                 pattern, id);
    }
  else if (always)
    {
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user denied %s always after the question %s ended"), pattern, id);
    }
  else
    {
      /* Translators: the first %s is a host pattern, the second a question id. */
      g_message (_("The user denied %s for this session after the question %s ended"),
                 pattern, id);
    }
}

/* Returns the reason recorded for a person's decision and sent with a
 * denial. Whole sentences let translations order the words. */
static const char *
decision_reason (HgVerdict          verdict,
                 HgDecisionDuration duration)
{
  if (verdict == HG_VERDICT_APPROVE)
    {
      switch (duration)
        {
        case HG_DECISION_SESSION: return _("approved by the user for this session");
        case HG_DECISION_ALWAYS: return _("approved by the user always");
        case HG_DECISION_ONCE:
        default: return _("approved by the user once");
        }
    }

  switch (duration)
    {
    case HG_DECISION_SESSION: return _("denied by the user for this session");
    case HG_DECISION_ALWAYS: return _("denied by the user always");
    case HG_DECISION_ONCE:
    default: return _("denied by the user once");
    }
}

static HgDuration
duration_from_decision (HgDecisionDuration duration)
{
  switch (duration)
    {
    case HG_DECISION_SESSION: return HG_DURATION_SESSION;
    case HG_DECISION_ALWAYS: return HG_DURATION_ALWAYS;
    case HG_DECISION_ONCE:
    default: return HG_DURATION_ONCE;
    }
}

/* A decision for a prompt that timed out or was withdrawn: the waiting
 * requests are gone, but Session and Always answers hold from now on. */
static void
apply_late_decision (HgAgentClient   *self,
                     const HgMessage *message)
{
  ExpiredPrompt *expired = find_expired (self, message->id);
  HgVerdict verdict = message->decision.verdict == HG_DECISION_APPROVE ? HG_VERDICT_APPROVE : HG_VERDICT_DENY;
  g_auto(GStrv) entries = NULL;
  g_autoptr(GError) error = NULL;

  if (expired == NULL || message->decision.duration == HG_DECISION_ONCE)
    {
      g_debug ("Ignoring a %s decision for question %s, which is not pending",
               hg_decision_duration_to_string (message->decision.duration), message->id);
      return;
    }

  entries = hg_agent_decision_entries (message->decision.pattern, verdict, expired->target, &error);
  if (entries == NULL)
    {
      /* Translators: the first %s is the question id, the second an error message. */
      g_message (_("Rejected the late decision for question %s: %s"), message->id, error->message);
      send_error (self, message->id, HG_ERROR_CODE_INVALID_MESSAGE, error->message);
      return;
    }

  log_late_decision (verdict, message->decision.duration, entries[0], message->id);
  add_session_entries (self, verdict, message->decision.duration, (const char * const *) entries);
  record_step (self, expired->target, expired->kind,
               verdict == HG_VERDICT_APPROVE ? "approval-granted" : "approval-denied",
               decision_reason (verdict, message->decision.duration), entries[0], 0);
  settle_open_questions (self);
}

static void
handle_decision (HgAgentClient   *self,
                 const HgMessage *message)
{
  Prompt *prompt = g_hash_table_lookup (self->prompts_by_id, message->id);
  HgVerdict verdict = message->decision.verdict == HG_DECISION_APPROVE ? HG_VERDICT_APPROVE : HG_VERDICT_DENY;
  HgDuration duration = duration_from_decision (message->decision.duration);
  g_auto(GStrv) entries = NULL;
  g_autoptr(GError) error = NULL;
  const char *reason;

  if (prompt == NULL)
    {
      apply_late_decision (self, message);
      return;
    }

  entries = hg_agent_decision_entries (message->decision.pattern, verdict, prompt->target, &error);
  if (entries == NULL)
    {
      /* Translators: the first %s is the question id, the second an error message. */
      g_message (_("Rejected the decision for question %s: %s"), message->id, error->message);
      send_error (self, message->id, HG_ERROR_CODE_INVALID_MESSAGE, error->message);
      prompt_fail (prompt, "approval-failed", HG_AGENT_REASON_BAD_DECISION);
      return;
    }

  log_decision (verdict, message->decision.duration, entries[0], message->id);
  if (duration != HG_DURATION_ONCE)
    add_session_entries (self, verdict, message->decision.duration, (const char * const *) entries);

  reason = decision_reason (verdict, message->decision.duration);
  record_step (self, prompt->target, prompt->kind,
               verdict == HG_VERDICT_APPROVE ? "approval-granted" : "approval-denied",
               reason, entries[0], prompt_age_ms (prompt));
  prompt_finish (prompt, hg_approval_new (verdict, duration, entries[0],
                                          verdict == HG_VERDICT_DENY ? reason : NULL));
  if (duration != HG_DURATION_ONCE)
    settle_open_questions (self);
}

static void
handle_agent_error (HgAgentClient   *self,
                    const HgMessage *message)
{
  Prompt *prompt = NULL;

  /* A proxy with its own profile file meets this code on every start,
   * and it is no fault: the agent only has no lists to send. */
  if (g_str_equal (message->error.code, ERROR_CODE_INVALID_PROFILE))
    /* Translators: %s is the agent's message, such as “The agent has no
     * profile “work” yet, so it sends no lists”. */
    g_message (_("The approval agent sent no lists: %s"), message->error.message);
  else
    /* Translators: the first %s is an error code of the agent protocol,
     * such as “too-many-prompts”, which stays untranslated. The second %s
     * is the agent's error message. */
    g_message (_("The approval agent reported an error (%s): %s"),
               message->error.code, message->error.message);

  if (message->id != NULL)
    prompt = g_hash_table_lookup (self->prompts_by_id, message->id);
  if (prompt != NULL && g_str_equal (message->error.code, HG_ERROR_CODE_TOO_MANY_PROMPTS))
    prompt_fail (prompt, "approval-failed", HG_AGENT_REASON_AGENT_BUSY);
  else if (prompt != NULL && g_str_equal (message->error.code, HG_ERROR_CODE_PROMPTS_PAUSED))
    prompt_fail (prompt, "approval-failed", HG_AGENT_REASON_PAUSED);
  if (g_str_equal (message->error.code, ERROR_CODE_INVALID_PROFILE))
    self->agent_profile_invalid = TRUE;
}

static void
handle_welcome (HgAgentClient   *self,
                const HgMessage *message,
                gboolean         without_lists)
{
  g_clear_handle_id (&self->welcome_timeout_id, g_source_remove);
  self->state = STATE_READY;
  self->backoff_ms = 0;
  self->connect_failures = 0;
  /* Translators: %s is the path of the agent's socket. */
  g_message (_("Connected to the approval agent at %s"), self->socket_path);

  /* A restarted agent counts revisions from the start again. */
  self->have_revision = FALSE;

  /* The proxy read its profile itself, so an agent that could not read
   * it must not replace the lists with its empty stand-in. Later pushes
   * apply once the agent reads the profile again. */
  if (without_lists)
    g_message (_("The agent sent no lists for profile “%s”; keeping the lists this proxy loaded"),
               self->profile_name);
  else
    apply_filter (self, message->filter);
  send_unsent_asks (self);
}

static void
reply_not_allowed (HgAgentClient   *self,
                   const HgMessage *message)
{
  g_autofree char *text = g_strdup_printf ("a “%s” message may not come from the agent here",
                                           message->type_name);

  send_error (self, message->id, HG_ERROR_CODE_NOT_ALLOWED, text);
}

/* Applies a `filter` that came right after an `invalid-profile` error,
 * which means the agent has no lists for this proxy's profile. The
 * proxy keeps the lists it uses and applies only `forget_session`. The
 * revision is not taken either, because the agent's count for a profile
 * it cannot read does not describe the lists in use. */
static void
apply_filter_without_lists (HgAgentClient        *self,
                            const HgFilterUpdate *update)
{
  if (g_strcmp0 (update->profile, self->profile_name) != 0)
    return;

  g_message (_("The agent sent no lists for profile “%s”; keeping the lists this proxy loaded"),
             self->profile_name);
  if (update->forget_session)
    {
      forget_session (self);
      update_policy (self);
    }
}

static void
handle_message (HgAgentClient   *self,
                const HgMessage *message)
{
  gboolean ready = self->state == STATE_READY;
  g_autofree char *text = NULL;
  /* An `invalid-profile` error covers only the message right after it. */
  gboolean without_lists = self->agent_profile_invalid;

  if (message->type != HG_MESSAGE_TYPE_ERROR)
    self->agent_profile_invalid = FALSE;

  switch (message->type)
    {
    case HG_MESSAGE_TYPE_WELCOME:
      if (self->state == STATE_GREETING)
        handle_welcome (self, message, without_lists);
      else
        reply_not_allowed (self, message);
      break;
    case HG_MESSAGE_TYPE_DECISION:
      if (ready)
        handle_decision (self, message);
      else
        reply_not_allowed (self, message);
      break;
    case HG_MESSAGE_TYPE_FILTER:
      if (ready)
        {
          if (without_lists)
            apply_filter_without_lists (self, message->filter);
          else
            apply_filter (self, message->filter);
          settle_open_questions (self);
        }
      else
        reply_not_allowed (self, message);
      break;
    case HG_MESSAGE_TYPE_PING:
      send_message (self, hg_message_new_pong (message->id));
      break;
    case HG_MESSAGE_TYPE_PONG:
      break;
    case HG_MESSAGE_TYPE_ERROR:
      handle_agent_error (self, message);
      break;
    case HG_MESSAGE_TYPE_UNKNOWN:
      text = g_strdup_printf ("unknown message type “%s”", message->type_name);
      g_debug ("The approval agent sent an %s", text);
      send_error (self, NULL, HG_ERROR_CODE_UNKNOWN_TYPE, text);
      break;
    case HG_MESSAGE_TYPE_HELLO:
    case HG_MESSAGE_TYPE_ASK:
    case HG_MESSAGE_TYPE_CANCEL:
    case HG_MESSAGE_TYPE_EVENT:
    default:
      reply_not_allowed (self, message);
      break;
    }
}

/* ------------------------------------------------------------------ */
/* The connection                                                      */
/* ------------------------------------------------------------------ */

static void read_next (HgAgentClient *self);

static gboolean
reconnect_cb (gpointer user_data)
{
  HgAgentClient *self = user_data;

  self->reconnect_id = 0;
  connect_agent (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (HgAgentClient *self)
{
  self->state = STATE_DISCONNECTED;
  self->backoff_ms = hg_agent_backoff_next (self->backoff_ms);
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  self->reconnect_id = g_timeout_add (self->backoff_ms, reconnect_cb, self);
}

static void
close_stream (HgAgentClient *self)
{
  g_clear_handle_id (&self->welcome_timeout_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  if (self->stream != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->stream, self);
      hg_message_stream_close (self->stream);
    }
  g_clear_object (&self->stream);
}

/* Ends the connection: every question still open is denied once with
 * @reason, and the next connection is tried after the back-off. */
static void
lose_connection (HgAgentClient *self,
                 const char    *reason,
                 const char    *detail)
{
  if (self->state == STATE_READY || self->state == STATE_GREETING)
    /* Translators: %s is the reason, such as “the agent closed the connection”. */
    g_message (_("Disconnected from the approval agent: %s"), detail);

  close_stream (self);
  self->state = STATE_DISCONNECTED;
  self->agent_profile_invalid = FALSE;
  self->unavailable_reason = reason;
  forget_expired (self);
  fail_all_prompts (self, reason);
  schedule_reconnect (self);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(HgAgentClient) self = user_data;
  HgMessageStream *stream = HG_MESSAGE_STREAM (source);
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *detail = NULL;

  message = hg_message_stream_read_finish (stream, result, &error);
  if (stream != self->stream)
    return;

  if (message == NULL && error == NULL)
    {
      lose_connection (self, HG_AGENT_REASON_DISCONNECTED, _("the agent closed the connection"));
      return;
    }

  if (message == NULL && !hg_message_error_is_fatal (error))
    {
      g_message (_("The approval agent sent an invalid message: %s"), error->message);
      send_error (self, NULL, hg_message_error_to_code (error), error->message);
      read_next (self);
      return;
    }

  if (message == NULL)
    {
      if (g_error_matches (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_VERSION_MISMATCH))
        send_error (self, NULL, HG_ERROR_CODE_VERSION_MISMATCH, error->message);
      detail = g_strdup_printf (_("could not read a message: %s"), error->message);
      lose_connection (self, HG_AGENT_REASON_DISCONNECTED, detail);
      return;
    }

  handle_message (self, message);
  if (stream == self->stream)
    read_next (self);
}

static void
read_next (HgAgentClient *self)
{
  hg_message_stream_read_async (self->stream, self->cancellable, read_cb, g_object_ref (self));
}

static void
stream_failed_cb (HgMessageStream *stream,
                  GError          *error,
                  gpointer         user_data)
{
  HgAgentClient *self = user_data;
  g_autofree char *detail = g_strdup_printf (_("could not send a message: %s"), error->message);

  lose_connection (self, HG_AGENT_REASON_DISCONNECTED, detail);
}

static gboolean
welcome_timeout_cb (gpointer user_data)
{
  HgAgentClient *self = user_data;
  /* Translators: “welcome” and “hello” are messages of the agent
   * protocol and stay untranslated. %u is a number of seconds. */
  g_autofree char *detail = g_strdup_printf (_("no “welcome” within %u s of “hello”"),
                                             HG_AGENT_WELCOME_TIMEOUT_SECS);

  self->welcome_timeout_id = 0;
  lose_connection (self, HG_AGENT_REASON_NO_WELCOME, detail);
  return G_SOURCE_REMOVE;
}

static void
send_hello (HgAgentClient *self)
{
  g_autoptr(HgSessionInfo) session = NULL;

  session = hg_session_info_new (self->session_id, self->label, self->profile_name,
                                 self->pid, self->command);
  send_message (self, hg_message_new_hello (session));
}

static void
connect_failed (HgAgentClient *self,
                const char    *detail)
{
  /* Said once per outage: the agent may be stopped on purpose. */
  if (self->connect_failures++ == 0)
    /* Translators: the first %s is the path of the agent's socket, the
     * second an error message. */
    g_message (_("Cannot reach the approval agent at %s: %s; questions are denied until it runs"),
               self->socket_path, detail);
  else
    g_debug ("Cannot reach the approval agent at %s: %s", self->socket_path, detail);

  self->state = STATE_DISCONNECTED;
  self->unavailable_reason = HG_AGENT_REASON_NOT_RUNNING;
  drop_queued_events (self);
  fail_all_prompts (self, HG_AGENT_REASON_NOT_RUNNING);
  schedule_reconnect (self);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(HgAgentClient) self = user_data;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->state != STATE_CONNECTING)
    return;

  if (connection == NULL)
    {
      connect_failed (self, error->message);
      return;
    }

  if (!hg_unix_peer_check (connection, &error))
    {
      /* Translators: the first %s is the path of the agent's socket, the
       * second the reason for rejecting it. */
      g_warning (_("Refusing the approval agent at %s: %s"), self->socket_path, error->message);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      connect_failed (self, error->message);
      return;
    }

  self->stream = hg_message_stream_new (G_IO_STREAM (connection));
  g_signal_connect (self->stream, "failed", G_CALLBACK (stream_failed_cb), self);
  self->state = STATE_GREETING;
  send_hello (self);
  send_queued_events (self);
  self->welcome_timeout_id = g_timeout_add_seconds (HG_AGENT_WELCOME_TIMEOUT_SECS,
                                                    welcome_timeout_cb, self);
  read_next (self);
}

static void
connect_agent (HgAgentClient *self)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (self->socket_path);

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->state = STATE_CONNECTING;

  g_socket_client_set_enable_proxy (socket_client, FALSE);
  g_socket_client_connect_async (socket_client, G_SOCKET_CONNECTABLE (address), self->cancellable,
                                 connect_cb, g_object_ref (self));
}

/* ------------------------------------------------------------------ */
/* The approver                                                        */
/* ------------------------------------------------------------------ */

/* Decides at once when no person needs to be asked: when the lists
 * decide it or approval is off, or when the agent cannot be reached. */
static HgApproval *
answer_without_asking (HgAgentClient *self,
                       const HgHost  *target,
                       HgAskKind      kind)
{
  HgApproval *answer = decide_from_lists (self, target);

  if (answer != NULL)
    return answer;

  if (self->state == STATE_DISCONNECTED || self->state == STATE_STOPPED)
    {
      record_step (self, target, kind, "approval-failed", self->unavailable_reason, NULL, 0);
      return deny_once (self->unavailable_reason);
    }

  return NULL;
}

static gboolean
hg_agent_client_ask_async (HgApprover          *approver,
                           const HgHost        *target,
                           const char          *kind_name,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  HgAgentClient *self = HG_AGENT_CLIENT (approver);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  HgAskKind kind = g_strcmp0 (kind_name, "http") == 0 ? HG_ASK_KIND_HTTP : HG_ASK_KIND_CONNECT;
  g_autofree char *key = prompt_key (target);
  HgApproval *answer;
  Prompt *prompt;

  g_task_set_source_tag (task, hg_agent_client_ask_async);
  if (g_task_return_error_if_cancelled (task))
    return FALSE;

  answer = answer_without_asking (self, target, kind);
  if (answer != NULL)
    {
      g_task_return_pointer (task, answer, (GDestroyNotify) hg_approval_free);
      return FALSE;
    }

  prompt = g_hash_table_lookup (self->prompts_by_key, key);
  if (prompt == NULL)
    {
      if (g_hash_table_size (self->prompts_by_key) >= self->options->max_pending_approvals)
        {
          record_step (self, target, kind, "approval-failed", HG_AGENT_REASON_TOO_MANY, NULL, 0);
          g_task_return_pointer (task, deny_once (HG_AGENT_REASON_TOO_MANY),
                                 (GDestroyNotify) hg_approval_free);
          return FALSE;
        }

      prompt = prompt_new (self, target, kind);
      if (self->state == STATE_READY)
        send_ask (self, prompt);
      record_step (self, target, kind, "approval-requested", NULL, NULL, 0);
    }

  prompt_add_waiter (prompt, task);
  return TRUE;
}

static HgApproval *
hg_agent_client_ask_finish (HgApprover   *approver,
                            GAsyncResult *result,
                            GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
hg_agent_client_iface_init (HgApproverInterface *iface)
{
  iface->ask_async = hg_agent_client_ask_async;
  iface->ask_finish = hg_agent_client_ask_finish;
}

/* ------------------------------------------------------------------ */
/* The object                                                          */
/* ------------------------------------------------------------------ */

static void
hg_agent_client_dispose (GObject *object)
{
  HgAgentClient *self = HG_AGENT_CLIENT (object);

  hg_agent_client_stop (self);
  if (self->server != NULL)
    g_signal_handlers_disconnect_by_data (self->server, self);
  g_clear_weak_pointer (&self->server);

  G_OBJECT_CLASS (hg_agent_client_parent_class)->dispose (object);
}

static void
hg_agent_client_finalize (GObject *object)
{
  HgAgentClient *self = HG_AGENT_CLIENT (object);

  g_hash_table_unref (self->prompts_by_id);
  g_hash_table_unref (self->prompts_by_key);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->profile_allow, hg_filter_unref);
  g_clear_pointer (&self->profile_deny, hg_filter_unref);
  g_clear_pointer (&self->session_allow, hg_filter_unref);
  g_clear_pointer (&self->session_deny, hg_filter_unref);
  g_ptr_array_unref (self->file_always_allow);
  g_ptr_array_unref (self->file_always_deny);
  g_free (self->profile_name);
  g_free (self->socket_path);
  g_free (self->session_id);
  g_free (self->label);
  g_free (self->command);

  G_OBJECT_CLASS (hg_agent_client_parent_class)->finalize (object);
}

static void
hg_agent_client_class_init (HgAgentClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_agent_client_dispose;
  object_class->finalize = hg_agent_client_finalize;
}

static void
hg_agent_client_init (HgAgentClient *self)
{
  self->prompts_by_key = g_hash_table_new (g_str_hash, g_str_equal);
  self->prompts_by_id = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&self->expired);
  g_queue_init (&self->queued_events);
  self->cancellable = g_cancellable_new ();
  self->session_allow = hg_filter_new ();
  self->session_deny = hg_filter_new ();
  self->file_always_allow = g_ptr_array_new_with_free_func (g_free);
  self->file_always_deny = g_ptr_array_new_with_free_func (g_free);
  self->session_id = g_uuid_string_random ();
  self->pid = getpid ();
  self->state = STATE_STOPPED;
  self->unavailable_reason = HG_AGENT_REASON_NOT_RUNNING;
}

/**
 * hg_agent_client_new:
 * @server: the server whose unlisted hosts are asked about; it must
 *   outlive every question, and its options the client
 *
 * Creates the approver for approval mode `ask`. It reads the socket
 * path, the approval settings and the lists from the server's options.
 * Set it with hg_proxy_server_set_approver() and connect with
 * hg_agent_client_start().
 *
 * Returns: (transfer full): the client
 */
HgAgentClient *
hg_agent_client_new (HgProxyServer *server)
{
  HgAgentClient *self;
  const HgOptions *options;

  g_return_val_if_fail (HG_IS_PROXY_SERVER (server), NULL);

  self = g_object_new (HG_TYPE_AGENT_CLIENT, NULL);
  options = hg_proxy_server_get_options (server);
  g_set_weak_pointer (&self->server, server);
  g_signal_connect (server, "audit-record", G_CALLBACK (audit_record_cb), self);
  self->options = options;
  self->socket_path = g_strdup (options->agent_socket);
  self->label = g_strdup (options->label);
  self->mode = options->settings.approval_mode;
  self->timeout_secs = CLAMP (options->settings.approval_timeout_secs,
                              HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX);
  self->profile_name = g_strdup (options->profile != NULL ? options->profile->name : "default");
  self->profile_allow = hg_filter_ref (options->allow);
  self->profile_deny = hg_filter_ref (options->deny);

  return self;
}

/**
 * hg_agent_client_set_label:
 * @self: the client
 * @label: (nullable): the name prompts show for this proxy; %NULL for
 *   the program's name of the command, else the profile name and the
 *   listening address
 *
 * Sets the `label` of the next `hello`. `--label` sets it at start.
 */
void
hg_agent_client_set_label (HgAgentClient *self,
                           const char    *label)
{
  g_return_if_fail (HG_IS_AGENT_CLIENT (self));

  g_free (self->label);
  self->label = g_strdup (label);
}

/**
 * hg_agent_client_set_command:
 * @self: the client
 * @command: (nullable): the sandboxed command line, for display
 *
 * Sets the `command` of the next `hello`.
 */
void
hg_agent_client_set_command (HgAgentClient *self,
                             const char    *command)
{
  g_return_if_fail (HG_IS_AGENT_CLIENT (self));

  g_free (self->command);
  self->command = g_strdup (command);
}

/**
 * hg_agent_client_set_pid:
 * @self: the client
 * @pid: the sandbox's process id, greater than 0
 *
 * Sets the `pid` of the next `hello`; it is the proxy's own otherwise.
 */
void
hg_agent_client_set_pid (HgAgentClient *self,
                         int            pid)
{
  g_return_if_fail (HG_IS_AGENT_CLIENT (self));
  g_return_if_fail (pid > 0);

  self->pid = pid;
}

/* The program's name for a launched command, such as `npm` for
 * `/usr/bin/npm install`, else the profile and the listening address. */
static char *
default_label (HgAgentClient *self)
{
  g_auto(GStrv) words = NULL;
  GInetSocketAddress *address;
  g_autofree char *listen = NULL;

  if (self->command != NULL && g_shell_parse_argv (self->command, NULL, &words, NULL) &&
      words[0] != NULL && words[0][0] != '\0')
    return g_path_get_basename (words[0]);

  if (self->server == NULL || (address = hg_proxy_server_get_address (self->server)) == NULL)
    return g_strdup (self->profile_name);

  listen = hg_socket_address_to_string (G_SOCKET_ADDRESS (address));
  return g_strdup_printf ("%s on %s", self->profile_name, listen);
}

/**
 * hg_agent_client_start:
 * @self: the client
 *
 * Connects to the agent, and keeps reconnecting with back-off while it
 * cannot be reached. Call it once the server listens and the command is
 * set: without a label, the program's name or the listening address
 * names the proxy in prompts.
 */
void
hg_agent_client_start (HgAgentClient *self)
{
  g_return_if_fail (HG_IS_AGENT_CLIENT (self));
  g_return_if_fail (self->state == STATE_STOPPED);

  if (self->label == NULL)
    self->label = default_label (self);

  connect_agent (self);
}

/**
 * hg_agent_client_stop:
 * @self: the client
 *
 * Closes the connection, stops reconnecting, and denies every open
 * question once. Later questions are denied at once.
 */
void
hg_agent_client_stop (HgAgentClient *self)
{
  g_return_if_fail (HG_IS_AGENT_CLIENT (self));

  if (self->state == STATE_STOPPED)
    return;

  close_stream (self);
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  self->state = STATE_STOPPED;
  self->unavailable_reason = HG_AGENT_REASON_DISCONNECTED;
  forget_expired (self);
  drop_queued_events (self);
  fail_all_prompts (self, HG_AGENT_REASON_DISCONNECTED);
}

/**
 * hg_agent_client_is_connected:
 * @self: the client
 *
 * Tells whether the agent has answered `hello` on the current connection.
 *
 * Returns: %TRUE when questions go to the agent
 */
gboolean
hg_agent_client_is_connected (HgAgentClient *self)
{
  g_return_val_if_fail (HG_IS_AGENT_CLIENT (self), FALSE);

  return self->state == STATE_READY;
}
