/* hg-agent-session.c: one connected proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A session reads the proxy's messages one at a time. The first must be
 * `hello`; the agent answers it with `welcome` and the filter of the
 * session's profile. After that, each `ask` becomes an HgPrompt that the
 * application shows, each `cancel` withdraws one, and `event` records go
 * into the shared history. A line that is not JSON ends the session.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "hg-agent-session.h"
#include "hg-error.h"
#include "hg-history-entry.h"

/* The `code` of the `error` sent when the session's profile cannot be
 * read. hostgate-proxy logs it and keeps the lists it loaded itself. */
#define ERROR_CODE_INVALID_PROFILE "invalid-profile"

struct _HgAgentSession
{
  GObject parent_instance;

  GSocketConnection *connection;
  HgMessageStream *stream;
  HgProfileStore *store;
  GListStore *history;
  GCancellable *cancellable;

  HgSessionInfo *info;
  GDateTime *connected;
  guint n_asked;
  GError *profile_error;

  /* `ask` id → HgPrompt, the prompts not yet answered or withdrawn. */
  GHashTable *prompts;

  gboolean closed;
};

G_DEFINE_FINAL_TYPE (HgAgentSession, hg_agent_session, G_TYPE_OBJECT)

enum {
  PROMPT_ADDED,
  PROMPT_WITHDRAWN,
  CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void read_next (HgAgentSession *session);

static void
hg_agent_session_dispose (GObject *object)
{
  HgAgentSession *session = HG_AGENT_SESSION (object);

  g_cancellable_cancel (session->cancellable);
  if (session->stream != NULL)
    hg_message_stream_close (session->stream);
  g_clear_object (&session->stream);
  g_clear_object (&session->connection);
  g_clear_object (&session->store);
  g_clear_object (&session->history);
  if (session->prompts != NULL)
    g_hash_table_remove_all (session->prompts);

  G_OBJECT_CLASS (hg_agent_session_parent_class)->dispose (object);
}

static void
hg_agent_session_finalize (GObject *object)
{
  HgAgentSession *session = HG_AGENT_SESSION (object);

  g_clear_object (&session->cancellable);
  g_clear_pointer (&session->info, hg_session_info_free);
  g_clear_pointer (&session->connected, g_date_time_unref);
  g_clear_error (&session->profile_error);
  g_clear_pointer (&session->prompts, g_hash_table_unref);

  G_OBJECT_CLASS (hg_agent_session_parent_class)->finalize (object);
}

static void
hg_agent_session_class_init (HgAgentSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_agent_session_dispose;
  object_class->finalize = hg_agent_session_finalize;

  /**
   * HgAgentSession::prompt-added:
   * @prompt: the new prompt
   *
   * Emitted when the proxy asks about a host.
   */
  signals[PROMPT_ADDED] =
    g_signal_new ("prompt-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, HG_TYPE_PROMPT);

  /**
   * HgAgentSession::prompt-withdrawn:
   * @prompt: the prompt that no longer waits
   *
   * Emitted when a prompt ends without the person: the proxy cancelled
   * it, its deadline passed, or the session closed.
   */
  signals[PROMPT_WITHDRAWN] =
    g_signal_new ("prompt-withdrawn", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, HG_TYPE_PROMPT);

  /**
   * HgAgentSession::closed:
   *
   * Emitted once when the connection ends, after its prompts were
   * withdrawn.
   */
  signals[CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
hg_agent_session_init (HgAgentSession *session)
{
  session->cancellable = g_cancellable_new ();
  session->connected = g_date_time_new_now_local ();
  session->prompts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

/**
 * hg_agent_session_new:
 * @connection: a connection that passed hg_unix_peer_check()
 * @store: the profiles, for the `welcome` filter
 * @history: a list of #HgHistoryEntry the session appends `event`
 *   records to
 *
 * Creates a session for a newly connected proxy. Call
 * hg_agent_session_start() to read its messages.
 *
 * Returns: (transfer full): the session
 */
HgAgentSession *
hg_agent_session_new (GSocketConnection *connection,
                      HgProfileStore    *store,
                      GListStore        *history)
{
  HgAgentSession *session;

  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);
  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), NULL);
  g_return_val_if_fail (G_IS_LIST_STORE (history), NULL);

  session = g_object_new (HG_TYPE_AGENT_SESSION, NULL);
  session->connection = g_object_ref (connection);
  session->stream = hg_message_stream_new (G_IO_STREAM (connection));
  session->store = g_object_ref (store);
  session->history = g_object_ref (history);
  return session;
}

/**
 * hg_agent_session_close:
 *
 * Ends the session: withdraws its prompts, closes the connection and
 * emits #HgAgentSession::closed. Closing twice does nothing.
 */
void
hg_agent_session_close (HgAgentSession *session)
{
  g_autoptr(HgAgentSession) self = NULL;
  g_autoptr(GPtrArray) prompts = NULL;

  g_return_if_fail (HG_IS_AGENT_SESSION (session));

  if (session->closed)
    return;

  /* Handlers of the signals below may drop the last other reference. */
  self = g_object_ref (session);
  session->closed = TRUE;
  g_cancellable_cancel (session->cancellable);
  hg_message_stream_close (session->stream);

  prompts = hg_agent_session_list_prompts (session);
  g_hash_table_remove_all (session->prompts);
  for (guint i = 0; i < prompts->len; i++)
    {
      hg_prompt_stop_timer (prompts->pdata[i]);
      g_signal_emit (session, signals[PROMPT_WITHDRAWN], 0, prompts->pdata[i]);
    }

  /* A connection without hello is a probe, such as another agent
   * checking whether this one is alive; it is not worth a message. */
  if (session->info != NULL)
    /* Translators: %s is the session id and %u the number of prompts
     * the proxy asked for. */
    g_message (g_dngettext (GETTEXT_PACKAGE, "Session %s left after %u prompt",
                            "Session %s left after %u prompts", session->n_asked),
               session->info->id, session->n_asked);
  else
    g_debug ("A connection closed before sending hello");
  g_signal_emit (session, signals[CLOSED], 0);
}

gboolean
hg_agent_session_is_closed (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), TRUE);

  return session->closed;
}

static void
send_error (HgAgentSession *session,
            const char     *id,
            const char     *code,
            const char     *text)
{
  g_autoptr(HgMessage) message = hg_message_new_error (id, code, text);

  hg_message_stream_send (session->stream, message);
}

static void
close_after_flush_cb (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(HgAgentSession) session = user_data;

  hg_message_stream_close_finish (HG_MESSAGE_STREAM (object), result, NULL);
  hg_agent_session_close (session);
}

/* Sends the messages already queued, then ends the session. */
static void
close_after_flush (HgAgentSession *session)
{
  g_cancellable_cancel (session->cancellable);
  hg_message_stream_close_async (session->stream, NULL, close_after_flush_cb,
                                 g_object_ref (session));
}

/**
 * hg_agent_filter_from_profile:
 * @profile: a profile that loaded without error
 * @name: the profile name the proxy asked for
 * @revision: the store's revision of the profile
 *
 * Builds the filter the agent sends for @profile.
 *
 * Returns: (transfer full): the filter
 */
HgFilterUpdate *
hg_agent_filter_from_profile (const HgProfile *profile,
                              const char      *name,
                              guint64          revision)
{
  g_autoptr(GPtrArray) allow = g_ptr_array_new ();
  g_autoptr(GPtrArray) deny = g_ptr_array_new ();

  g_return_val_if_fail (profile != NULL, NULL);

  for (guint i = 0; profile->allow != NULL && i < profile->allow->len; i++)
    g_ptr_array_add (allow, profile->allow->pdata[i]);
  g_ptr_array_add (allow, NULL);

  for (guint i = 0; profile->deny != NULL && i < profile->deny->len; i++)
    g_ptr_array_add (deny, profile->deny->pdata[i]);
  g_ptr_array_add (deny, NULL);

  return hg_filter_update_new (name, revision,
                               (const char * const *) allow->pdata,
                               (const char * const *) deny->pdata,
                               profile->approval_mode_set ? profile->approval_mode : HG_APPROVAL_OFF,
                               profile->approval_timeout_set ? profile->approval_timeout_secs
                                                             : HG_APPROVAL_TIMEOUT_DEFAULT);
}

/* Loads the profile the session's proxy uses. When the agent has no file
 * of that name, or cannot read it, returns NULL with @reason set to a
 * sentence for the proxy. A read failure also sets @error. */
static HgProfile *
load_session_profile (HgAgentSession  *session,
                      char           **reason,
                      GError         **error)
{
  const char *name = session->info->profile;
  HgProfile *profile;

  if (!hg_profile_store_has_profile (session->store, name))
    {
      *reason = g_strdup_printf (_("The agent has no profile “%s” yet, so it sends no lists; "
                                   "the first Always answer creates it"), name);
      return NULL;
    }

  profile = hg_profile_store_load (session->store, name, error);
  if (profile == NULL)
    *reason = g_strdup_printf (_("The agent cannot read the profile “%s”, so it sends no lists: %s"),
                               name, (*error)->message);
  return profile;
}

/* Sends the `invalid-profile` error that makes the proxy keep its own
 * lists, and returns the empty filter, approval off, that goes with it
 * in the next message. */
static HgFilterUpdate *
refuse_lists (HgAgentSession *session,
              const char     *reason)
{
  const char *name = session->info->profile;

  send_error (session, NULL, ERROR_CODE_INVALID_PROFILE, reason);
  return hg_filter_update_new (name, hg_profile_store_get_revision (session->store, name),
                               NULL, NULL, HG_APPROVAL_OFF, HG_APPROVAL_TIMEOUT_DEFAULT);
}

/* Replies to `hello` with the profile's filter. A profile that is
 * missing or does not parse gets an `error` naming the problem and a
 * `welcome` with an empty filter and approval off, so the agent adds
 * nothing to what the proxy loaded itself: the protocol's one code for
 * both makes the proxy keep its own lists. A missing profile is no
 * fault of the session, which marks no profile error, so that an Always
 * answer may create the file. */
static void
welcome (HgAgentSession *session)
{
  const char *name = session->info->profile;
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(HgFilterUpdate) filter = NULL;
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  profile = load_session_profile (session, &text, &error);
  if (profile != NULL)
    {
      filter = hg_agent_filter_from_profile (profile, name,
                                             hg_profile_store_get_revision (session->store, name));
    }
  else
    {
      if (error == NULL)
        /* Translators: the first %s is the session id, the second a
         * sentence about the session's profile. */
        g_message (_("Session %s: %s"), session->info->id, text);
      else
        {
          /* Translators: the first %s is the session id, the second a
           * sentence about the session's profile. */
          g_warning (_("Session %s: %s"), session->info->id, text);
          hg_agent_session_set_profile_error (session, error);
        }
      filter = refuse_lists (session, text);
    }

  message = hg_message_new_welcome (filter);
  hg_message_stream_send (session->stream, message);
}

static void
handle_hello (HgAgentSession *session,
              HgMessage      *message)
{
  const HgSessionInfo *info;

  if (session->info != NULL)
    {
      send_error (session, NULL, HG_ERROR_CODE_NOT_ALLOWED,
                  "hello was already received on this connection");
      return;
    }

  session->info = hg_session_info_copy (message->session);
  info = session->info;
  if (info->command != NULL && info->command[0] != '\0')
    /* Translators: the first %s is the session id, the second the
     * proxy's label, the third the profile name, %d the proxy's process
     * id and the last %s the command it runs. */
    g_message (_("Session %s connected: label “%s”, profile “%s”, pid %d, command “%s”"),
               info->id, info->label ? info->label : "", info->profile, info->pid,
               info->command);
  else
    /* Translators: the first %s is the session id, the second the
     * proxy's label, the third the profile name and %d the proxy's
     * process id. */
    g_message (_("Session %s connected: label “%s”, profile “%s”, pid %d"),
               info->id, info->label ? info->label : "", info->profile, info->pid);
  welcome (session);
}

/* Removes the open prompt @id and returns it, or NULL if none is open. */
static HgPrompt *
take_prompt (HgAgentSession *session,
             const char     *id)
{
  HgPrompt *prompt = g_hash_table_lookup (session->prompts, id);

  if (prompt == NULL)
    return NULL;

  g_object_ref (prompt);
  g_hash_table_remove (session->prompts, id);
  hg_prompt_stop_timer (prompt);
  return prompt;
}

static void
prompt_expired_cb (HgPrompt *expired,
                   gpointer  user_data)
{
  HgAgentSession *session = user_data;
  g_autoptr(HgPrompt) prompt = take_prompt (session, hg_prompt_get_id (expired));

  if (prompt == NULL)
    return;

  /* Translators: the first %s is the session id, the second the prompt
   * id, and %s:%u the requested host and port. */
  g_message (_("Session %s: prompt %s for %s:%u timed out without an answer"),
             session->info->id, hg_prompt_get_id (prompt), hg_prompt_get_host (prompt),
             hg_prompt_get_port (prompt));
  /* No decision is sent: the proxy's own timer ends the question with
   * "approval timed out", which tells the client and the audit log what
   * happened, where a deny would read as the person's answer. */
  g_signal_emit (session, signals[PROMPT_WITHDRAWN], 0, prompt);
}

static void
handle_ask (HgAgentSession *session,
            HgMessage      *message)
{
  g_autoptr(HgPrompt) prompt = NULL;

  if (g_hash_table_contains (session->prompts, message->id))
    {
      send_error (session, message->id, HG_ERROR_CODE_INVALID_MESSAGE,
                  "an ask with this id is already open");
      return;
    }

  if (g_hash_table_size (session->prompts) >= HG_SESSION_MAX_PROMPTS)
    {
      /* Translators: %s is the session id, and %s:%u the requested host
       * and port. */
      g_message (_("Session %s: too many open prompts, %s:%u denied once"),
                 session->info->id, message->ask.host, message->ask.port);
      send_error (session, message->id, HG_ERROR_CODE_TOO_MANY_PROMPTS,
                  "too many prompts are open for this session");
      return;
    }

  session->n_asked++;
  prompt = hg_prompt_new (session, message->id, message->ask.host, message->ask.port,
                          message->ask.kind, message->ask.timeout_ms);
  g_signal_connect_object (prompt, "expired", G_CALLBACK (prompt_expired_cb), session, 0);
  g_hash_table_insert (session->prompts, g_strdup (message->id), g_object_ref (prompt));
  g_signal_emit (session, signals[PROMPT_ADDED], 0, prompt);
}

static void
handle_cancel (HgAgentSession *session,
               HgMessage      *message)
{
  g_autoptr(HgPrompt) prompt = take_prompt (session, message->id);

  if (prompt == NULL)
    return;

  /* Translators: the first %s is the session id, the second the prompt
   * id, and %s:%u the requested host and port. The last %s is the
   * reason as the agent protocol names it, such as “client-gone” or
   * “timeout”, which stays untranslated. */
  g_message (_("Session %s: prompt %s for %s:%u withdrawn (%s)"),
             session->info->id, message->id, hg_prompt_get_host (prompt),
             hg_prompt_get_port (prompt), hg_cancel_reason_to_string (message->cancel.reason));
  g_signal_emit (session, signals[PROMPT_WITHDRAWN], 0, prompt);
}

static void
handle_event (HgAgentSession *session,
              HgMessage      *message)
{
  g_autoptr(HgHistoryEntry) entry = NULL;

  entry = hg_history_entry_new (message->event, hg_agent_session_get_label (session),
                                session->info->profile);
  hg_history_append (session->history, entry);
}

static void
handle_message (HgAgentSession *session,
                HgMessage      *message)
{
  if (message->type == HG_MESSAGE_TYPE_UNKNOWN)
    {
      g_autofree char *text = g_strdup_printf ("unknown message type \"%s\"", message->type_name);

      send_error (session, message->id, HG_ERROR_CODE_UNKNOWN_TYPE, text);
      return;
    }

  if (session->info == NULL && message->type != HG_MESSAGE_TYPE_HELLO &&
      message->type != HG_MESSAGE_TYPE_ERROR)
    {
      g_autofree char *text = g_strdup_printf ("%s before hello",
                                               hg_message_type_to_string (message->type));

      send_error (session, message->id, HG_ERROR_CODE_NOT_ALLOWED, text);
      return;
    }

  switch (message->type)
    {
    case HG_MESSAGE_TYPE_HELLO:
      handle_hello (session, message);
      break;

    case HG_MESSAGE_TYPE_ASK:
      handle_ask (session, message);
      break;

    case HG_MESSAGE_TYPE_CANCEL:
      handle_cancel (session, message);
      break;

    case HG_MESSAGE_TYPE_EVENT:
      handle_event (session, message);
      break;

    case HG_MESSAGE_TYPE_PING:
      {
        g_autoptr(HgMessage) pong = hg_message_new_pong (message->id);
        hg_message_stream_send (session->stream, pong);
      }
      break;

    case HG_MESSAGE_TYPE_PONG:
      break;

    case HG_MESSAGE_TYPE_ERROR:
      if (session->info != NULL)
        /* Translators: the first %s is the session id, the second an
         * error code of the agent protocol, such as “invalid-message”,
         * which stays untranslated, and the last %s the proxy's error
         * message. */
        g_message (_("Session %s reported an error: %s: %s"), session->info->id,
                   message->error.code, message->error.message);
      else
        /* Translators: the first %s is an error code of the agent
         * protocol, such as “invalid-message”, which stays untranslated,
         * and the second %s the proxy's error message. “hello” is the
         * protocol's first message and stays untranslated. */
        g_message (_("Session (before hello) reported an error: %s: %s"),
                   message->error.code, message->error.message);
      break;

    case HG_MESSAGE_TYPE_WELCOME:
    case HG_MESSAGE_TYPE_DECISION:
    case HG_MESSAGE_TYPE_FILTER:
    case HG_MESSAGE_TYPE_UNKNOWN:
    default:
      {
        g_autofree char *text = g_strdup_printf ("%s is sent by the agent, not by a proxy",
                                                 hg_message_type_to_string (message->type));
        send_error (session, message->id, HG_ERROR_CODE_NOT_ALLOWED, text);
      }
      break;
    }
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(HgAgentSession) session = user_data;
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = hg_message_stream_read_finish (HG_MESSAGE_STREAM (object), result, &error);
  if (session->closed)
    return;

  if (message == NULL && error == NULL)
    {
      hg_agent_session_close (session);
      return;
    }

  if (error != NULL && g_error_matches (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_VERSION_MISMATCH))
    {
      if (session->info != NULL)
        /* Translators: the first %s is the session id, the second an
         * error message. */
        g_message (_("Session %s: %s; closing"), session->info->id, error->message);
      else
        /* Translators: %s is an error message. “hello” is the protocol's
         * first message and stays untranslated. */
        g_message (_("Session (before hello): %s; closing"), error->message);
      send_error (session, NULL, HG_ERROR_CODE_VERSION_MISMATCH, error->message);
      close_after_flush (session);
      return;
    }

  if (error != NULL && hg_message_error_is_fatal (error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          if (session->info != NULL)
            /* Translators: the first %s is the session id, the second an
             * error message. */
            g_message (_("Session %s: closing the connection: %s"), session->info->id,
                       error->message);
          else
            /* Translators: %s is an error message. “hello” is the
             * protocol's first message and stays untranslated. */
            g_message (_("Session (before hello): closing the connection: %s"),
                       error->message);
        }
      hg_agent_session_close (session);
      return;
    }

  if (error != NULL)
    send_error (session, NULL, hg_message_error_to_code (error), error->message);
  else
    handle_message (session, message);

  read_next (session);
}

static void
read_next (HgAgentSession *session)
{
  if (session->closed || hg_message_stream_is_closed (session->stream))
    return;

  hg_message_stream_read_async (session->stream, session->cancellable, read_cb,
                                g_object_ref (session));
}

static void
stream_failed_cb (HgMessageStream *stream,
                  const GError    *error,
                  gpointer         user_data)
{
  HgAgentSession *session = user_data;

  if (session->info != NULL)
    /* Translators: the first %s is the session id, the second an error
     * message. */
    g_message (_("Session %s: writing failed: %s"), session->info->id, error->message);
  else
    /* Translators: %s is an error message. “hello” is the protocol's
     * first message and stays untranslated. */
    g_message (_("Session (before hello): writing failed: %s"), error->message);
  hg_agent_session_close (session);
}

/**
 * hg_agent_session_start:
 *
 * Starts reading the proxy's messages.
 */
void
hg_agent_session_start (HgAgentSession *session)
{
  g_return_if_fail (HG_IS_AGENT_SESSION (session));

  g_signal_connect_object (session->stream, "failed", G_CALLBACK (stream_failed_cb), session, 0);
  read_next (session);
}

/**
 * hg_agent_session_get_info:
 *
 * Returns: (nullable): the `session` object of the proxy's `hello`, or
 *   %NULL before it arrived
 */
const HgSessionInfo *
hg_agent_session_get_info (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), NULL);

  return session->info;
}

/**
 * hg_agent_session_get_profile:
 *
 * Returns: (nullable): the profile the proxy uses, %NULL before `hello`
 */
const char *
hg_agent_session_get_profile (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), NULL);

  return session->info != NULL ? session->info->profile : NULL;
}

/**
 * hg_agent_session_get_label:
 *
 * Returns: a name to show for the session: its label, else its command,
 *   else its id
 */
const char *
hg_agent_session_get_label (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), NULL);

  if (session->info == NULL)
    return "";
  if (session->info->label != NULL && session->info->label[0] != '\0')
    return session->info->label;
  if (session->info->command != NULL && session->info->command[0] != '\0')
    return session->info->command;
  return session->info->id;
}

/**
 * hg_agent_session_get_profile_error:
 *
 * Returns: (nullable): why the session's profile could not be read when
 *   the agent last tried, or %NULL when it could
 */
const GError *
hg_agent_session_get_profile_error (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), NULL);

  return session->profile_error;
}

/**
 * hg_agent_session_set_profile_error:
 * @error: (nullable): the load error, or %NULL once the profile reads
 *
 * Records whether the session's profile can be read, for the prompt
 * window to show.
 */
void
hg_agent_session_set_profile_error (HgAgentSession *session,
                                    const GError   *error)
{
  g_return_if_fail (HG_IS_AGENT_SESSION (session));

  g_clear_error (&session->profile_error);
  if (error != NULL)
    session->profile_error = g_error_copy (error);
}

/**
 * hg_agent_session_get_connected:
 *
 * Returns: (transfer none): when the proxy connected, in local time
 */
GDateTime *
hg_agent_session_get_connected (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), NULL);

  return session->connected;
}

/**
 * hg_agent_session_get_n_asked:
 *
 * Returns: how many prompts the proxy asked for on this connection
 */
guint
hg_agent_session_get_n_asked (HgAgentSession *session)
{
  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), 0);

  return session->n_asked;
}

/**
 * hg_agent_session_list_prompts:
 *
 * Returns: (transfer container) (element-type HgPrompt): the prompts
 *   that wait for an answer
 */
GPtrArray *
hg_agent_session_list_prompts (HgAgentSession *session)
{
  GPtrArray *prompts = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), prompts);

  g_hash_table_iter_init (&iter, session->prompts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (prompts, g_object_ref (value));

  return prompts;
}

/**
 * hg_agent_session_send_filter:
 *
 * Sends a `filter` message with the profile's new content. The proxy
 * must have sent `hello`, which names its profile.
 */
void
hg_agent_session_send_filter (HgAgentSession       *session,
                              const HgFilterUpdate *filter)
{
  g_autoptr(HgMessage) message = NULL;

  g_return_if_fail (HG_IS_AGENT_SESSION (session));
  g_return_if_fail (filter != NULL);
  g_return_if_fail (session->info != NULL);

  if (session->closed)
    return;

  message = hg_message_new_filter (filter);
  hg_message_stream_send (session->stream, message);
  hg_agent_session_set_profile_error (session, NULL);
  /* Plain C formats, because xgettext cannot expand G_GUINT64_FORMAT.
   * Translators: the first %s is the session id, %llu the revision
   * number and the last %s the profile name. */
  g_message (_("Session %s: sent revision %llu of profile “%s”"),
             session->info->id, (unsigned long long) filter->revision, filter->profile);
}

/**
 * hg_agent_session_forget_decisions:
 * @error: return location for a #GError
 *
 * Makes the session's proxy drop the Session answers it holds: sends it
 * the current filter of its profile with `forget_session` set, so later
 * requests to those hosts are asked about again. The revision is the
 * store's current one, not a new one, because the profile itself did
 * not change; the proxy applies a filter whose revision equals its own.
 * Only this session gets the message. When the agent has no file for
 * the profile, or cannot read it, an `invalid-profile` error goes first
 * and the proxy keeps its lists, because an empty filter would replace
 * them.
 *
 * Returns: %TRUE when the message was queued; %FALSE with @error set
 *   when the session has closed or has not sent `hello` yet
 */
gboolean
hg_agent_session_forget_decisions (HgAgentSession  *session,
                                   GError         **error)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(HgFilterUpdate) filter = NULL;
  g_autoptr(GError) load_error = NULL;
  g_autofree char *reason = NULL;
  const char *name;

  g_return_val_if_fail (HG_IS_AGENT_SESSION (session), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (session->closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                           _("The proxy has disconnected, so it has no Session answers left to forget."));
      return FALSE;
    }
  if (session->info == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                           _("The proxy has not sent hello yet; try again once it shows a profile."));
      return FALSE;
    }

  /* Without lists of the agent's own, the `invalid-profile` error right
   * before the filter makes the proxy apply only `forget_session`. */
  name = session->info->profile;
  profile = load_session_profile (session, &reason, &load_error);
  if (profile == NULL)
    {
      g_autoptr(HgMessage) message = NULL;

      filter = refuse_lists (session, reason);
      filter->forget_session = TRUE;
      message = hg_message_new_filter (filter);
      hg_message_stream_send (session->stream, message);
    }
  else
    {
      filter = hg_agent_filter_from_profile (profile, name, hg_profile_store_get_revision (session->store, name));
      filter->forget_session = TRUE;
      hg_agent_session_send_filter (session, filter);
    }

  /* Translators: %s is the session id. */
  g_message (_("Session %s: asked the proxy to forget its Session answers"), session->info->id);
  return TRUE;
}

/**
 * hg_agent_session_decline_paused:
 * @prompt: a prompt of this session
 *
 * Answers @prompt with an `error` saying that the person paused
 * prompts, which the proxy takes as a denial for this request, and
 * removes the prompt from the session.
 */
void
hg_agent_session_decline_paused (HgAgentSession *session,
                                 HgPrompt       *prompt)
{
  const char *id;

  g_return_if_fail (HG_IS_AGENT_SESSION (session));
  g_return_if_fail (HG_IS_PROMPT (prompt));

  id = hg_prompt_get_id (prompt);
  if (session->closed || g_hash_table_lookup (session->prompts, id) != prompt)
    return;

  hg_prompt_stop_timer (prompt);
  send_error (session, id, HG_ERROR_CODE_PROMPTS_PAUSED, "the person paused prompts");
  g_hash_table_remove (session->prompts, id);
}

/**
 * hg_agent_session_answer:
 * @prompt: a prompt of this session
 * @pattern: the `pattern` of the decision
 *
 * Sends the person's `decision` for @prompt and removes the prompt from
 * the session. An answer to a prompt that was already withdrawn is
 * dropped.
 */
void
hg_agent_session_answer (HgAgentSession     *session,
                         HgPrompt           *prompt,
                         HgDecisionVerdict   verdict,
                         HgDecisionDuration  duration,
                         const char         *pattern)
{
  g_autoptr(HgMessage) message = NULL;
  const char *id;

  g_return_if_fail (HG_IS_AGENT_SESSION (session));
  g_return_if_fail (HG_IS_PROMPT (prompt));
  g_return_if_fail (pattern != NULL);

  id = hg_prompt_get_id (prompt);
  if (session->closed || g_hash_table_lookup (session->prompts, id) != prompt)
    return;

  hg_prompt_stop_timer (prompt);
  message = hg_message_new_decision (id, verdict, duration, pattern);
  hg_message_stream_send (session->stream, message);
  /* Translators: the first %s is the session id, the second the prompt
   * id, and %s:%u the requested host and port. The next two %s are
   * the verdict (“approve” or “deny”) and the duration (“once”,
   * “session” or “always”) as the agent protocol writes them, which
   * stay untranslated. The last %s is the host pattern. */
  g_message (_("Session %s: prompt %s for %s:%u answered: %s %s %s"),
             session->info->id, id, hg_prompt_get_host (prompt), hg_prompt_get_port (prompt),
             hg_decision_verdict_to_string (verdict), hg_decision_duration_to_string (duration),
             pattern);

  g_hash_table_remove (session->prompts, id);
}
