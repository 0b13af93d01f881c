/* hg-agent-server.c: the Unix socket proxies connect to
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The socket lives in a folder only its owner can enter (mode 0700), and
 * is itself mode 0600. On top of that, every connection is checked with
 * SO_PEERCRED and dropped unless the peer runs as the same user, because
 * file modes do not hold for processes that inherited an open socket.
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hg-agent-server.h"
#include "hg-history-entry.h"

struct _HgAgentServer
{
  GObject parent_instance;

  char *socket_path;
  HgProfileStore *store;
  GSocketService *service;
  GListStore *history;
  GPtrArray *sessions;
  gulong changed_id;
  gboolean listening;
};

G_DEFINE_FINAL_TYPE (HgAgentServer, hg_agent_server, G_TYPE_OBJECT)

enum {
  SESSION_ADDED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
hg_agent_server_dispose (GObject *object)
{
  HgAgentServer *server = HG_AGENT_SERVER (object);

  hg_agent_server_stop (server);
  g_clear_signal_handler (&server->changed_id, server->store);
  g_clear_object (&server->store);
  g_clear_object (&server->service);

  G_OBJECT_CLASS (hg_agent_server_parent_class)->dispose (object);
}

static void
hg_agent_server_finalize (GObject *object)
{
  HgAgentServer *server = HG_AGENT_SERVER (object);

  g_free (server->socket_path);
  g_clear_object (&server->history);
  g_clear_pointer (&server->sessions, g_ptr_array_unref);

  G_OBJECT_CLASS (hg_agent_server_parent_class)->finalize (object);
}

static void
hg_agent_server_class_init (HgAgentServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_agent_server_dispose;
  object_class->finalize = hg_agent_server_finalize;

  /**
   * HgAgentServer::session-added:
   * @session: the new session
   *
   * Emitted for each proxy that connects and passes the peer check,
   * before its first message is read.
   */
  signals[SESSION_ADDED] =
    g_signal_new ("session-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, HG_TYPE_AGENT_SESSION);
}

static void
hg_agent_server_init (HgAgentServer *server)
{
  server->history = g_list_store_new (HG_TYPE_HISTORY_ENTRY);
  server->sessions = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * hg_agent_server_default_socket_path:
 *
 * Returns: (transfer full): `HOSTGATE_AGENT_SOCKET` if set, else
 *   `$XDG_RUNTIME_DIR/hostgate/agent.sock`
 */
char *
hg_agent_server_default_socket_path (void)
{
  const char *path = g_getenv ("HOSTGATE_AGENT_SOCKET");

  if (path != NULL && path[0] != '\0')
    return g_strdup (path);

  return g_build_filename (g_get_user_runtime_dir (), "hostgate", "agent.sock", NULL);
}

static void
profile_changed_cb (HgProfileStore *store,
                    const char     *name,
                    gpointer        user_data)
{
  hg_agent_server_push_profile (HG_AGENT_SERVER (user_data), name);
}

/**
 * hg_agent_server_new:
 * @socket_path: where to listen
 * @store: the profiles; their changes are pushed to the sessions
 *
 * Creates a server. It listens once hg_agent_server_start() succeeds.
 *
 * Returns: (transfer full): the server
 */
HgAgentServer *
hg_agent_server_new (const char     *socket_path,
                     HgProfileStore *store)
{
  HgAgentServer *server;

  g_return_val_if_fail (socket_path != NULL, NULL);
  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), NULL);

  server = g_object_new (HG_TYPE_AGENT_SERVER, NULL);
  server->socket_path = g_strdup (socket_path);
  server->store = g_object_ref (store);
  server->changed_id = g_signal_connect (store, "changed", G_CALLBACK (profile_changed_cb), server);
  return server;
}

/* Creates the socket folder with mode 0700, or checks that an existing
 * one is a real folder of ours that nobody else can enter. */
static gboolean
prepare_folder (const char  *dir,
                GError     **error)
{
  struct stat st;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not create the socket folder “%s”: %s"), dir, g_strerror (saved));
      return FALSE;
    }

  if (lstat (dir, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not check the socket folder “%s”: %s"), dir, g_strerror (saved));
      return FALSE;
    }

  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                   _("The socket folder “%s” is not a folder (a symbolic link is not accepted). Remove it and start the agent again."),
                   dir);
      return FALSE;
    }

  if (st.st_uid != geteuid ())
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("The socket folder “%s” belongs to user id %u, not to you (%u). Remove it or choose another path with --socket."),
                   dir, (guint) st.st_uid, (guint) geteuid ());
      return FALSE;
    }

  /* A folder others may write to, such as /tmp, must not be made
   * private: the socket belongs in a folder of its own. */
  if ((st.st_mode & (S_ISVTX | S_IWGRP | S_IWOTH)) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("The socket folder “%s” is shared with other users (mode %04o), so they could reach the socket. Choose a socket path in a folder of its own (--socket or HOSTGATE_AGENT_SOCKET), such as %s/hostgate/agent.sock."),
                   dir, (guint) (st.st_mode & 07777), g_get_user_runtime_dir ());
      return FALSE;
    }

  if ((st.st_mode & 07777) != 0700)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("The socket folder “%s” has mode %04o, but it must be 0700 so that no other user can reach the socket. Run “chmod 700 %s”, or choose a socket path in a folder of its own."),
                   dir, (guint) (st.st_mode & 07777), dir);
      return FALSE;
    }

  return TRUE;
}

/* Removes a socket file that nothing listens on any more, left by an
 * agent that crashed. A connect to a local socket returns at once, so
 * this does not stall the main loop. */
static gboolean
clear_stale_socket (const char  *path,
                    GError     **error)
{
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  struct stat st;
  int fd;
  int result;
  int saved;

  if (lstat (path, &st) != 0)
    return TRUE;

  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("“%s” exists and is not a socket. Remove it or choose another path with --socket."),
                   path);
      return FALSE;
    }

  if (strlen (path) >= sizeof address.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   _("The socket path “%s” is longer than %zu bytes"), path,
                   sizeof address.sun_path - 1);
      return FALSE;
    }
  strcpy (address.sun_path, path);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not create a socket: %s"), g_strerror (saved));
      return FALSE;
    }

  result = connect (fd, (struct sockaddr *) &address, sizeof address);
  saved = errno;
  close (fd);

  if (result == 0 || saved == EAGAIN)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   _("Another hostgate-agent is already running on “%s”. Stop it first, or start this one with another --socket path."),
                   path);
      return FALSE;
    }

  if (saved != ECONNREFUSED)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not check whether an agent listens on “%s”: %s"), path,
                   g_strerror (saved));
      return FALSE;
    }

  g_message (_("Removing the stale socket “%s” that nothing listens on"), path);
  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not remove the stale socket “%s”: %s"), path, g_strerror (saved));
      return FALSE;
    }

  return TRUE;
}

static void
session_closed_cb (HgAgentSession *session,
                   gpointer        user_data)
{
  HgAgentServer *server = user_data;

  g_signal_handlers_disconnect_by_data (session, server);
  g_ptr_array_remove (server->sessions, session);
}

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  HgAgentServer *server = user_data;
  g_autoptr(HgAgentSession) session = NULL;
  g_autoptr(GError) error = NULL;

  if (!hg_unix_peer_check (connection, &error))
    {
      /* Translators: the first %s is the path of the agent's socket, the
       * second the reason for rejecting the connection. */
      g_warning (_("Dropped a connection on %s: %s"), server->socket_path, error->message);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  session = hg_agent_session_new (connection, server->store, server->history);
  g_ptr_array_add (server->sessions, g_object_ref (session));
  g_signal_connect (session, "closed", G_CALLBACK (session_closed_cb), server);
  g_signal_emit (server, signals[SESSION_ADDED], 0, session);
  hg_agent_session_start (session);

  return TRUE;
}

/**
 * hg_agent_server_start:
 *
 * Prepares the socket folder, replaces a stale socket file, and starts
 * listening. Fails when the folder is not private, when the path is
 * taken by something other than a socket, or when another agent
 * answers on the socket.
 *
 * Returns: %TRUE when the server listens
 */
gboolean
hg_agent_server_start (HgAgentServer  *server,
                       GError        **error)
{
  g_autofree char *dir = NULL;
  g_autoptr(GSocketAddress) address = NULL;

  g_return_val_if_fail (HG_IS_AGENT_SERVER (server), FALSE);
  g_return_val_if_fail (!server->listening, FALSE);

  dir = g_path_get_dirname (server->socket_path);
  if (!prepare_folder (dir, error))
    return FALSE;

  if (!clear_stale_socket (server->socket_path, error))
    return FALSE;

  server->service = g_socket_service_new ();
  address = g_unix_socket_address_new (server->socket_path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                      NULL, NULL, error))
    {
      g_prefix_error (error, _("Could not listen on “%s”: "), server->socket_path);
      return FALSE;
    }

  /* The folder already keeps others out; the mode is a second fence. */
  if (g_chmod (server->socket_path, 0600) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not set mode 0600 on the socket “%s”: %s"), server->socket_path,
                   g_strerror (saved));
      g_socket_listener_close (G_SOCKET_LISTENER (server->service));
      g_unlink (server->socket_path);
      return FALSE;
    }

  g_signal_connect (server->service, "incoming", G_CALLBACK (incoming_cb), server);
  g_socket_service_start (server->service);
  server->listening = TRUE;
  /* Translators: %s is the path of the agent's socket. */
  g_message (_("Listening on %s"), server->socket_path);

  return TRUE;
}

/**
 * hg_agent_server_stop:
 *
 * Closes every session, stops listening and removes the socket file.
 */
void
hg_agent_server_stop (HgAgentServer *server)
{
  g_autoptr(GPtrArray) sessions = NULL;

  g_return_if_fail (HG_IS_AGENT_SERVER (server));

  if (!server->listening)
    return;

  server->listening = FALSE;
  g_socket_service_stop (server->service);
  g_socket_listener_close (G_SOCKET_LISTENER (server->service));
  g_signal_handlers_disconnect_by_data (server->service, server);
  g_unlink (server->socket_path);

  sessions = hg_agent_server_list_sessions (server);
  for (guint i = 0; i < sessions->len; i++)
    hg_agent_session_close (sessions->pdata[i]);

  /* Translators: %s is the path of the agent's socket. */
  g_message (_("Stopped listening on %s"), server->socket_path);
}

const char *
hg_agent_server_get_socket_path (HgAgentServer *server)
{
  g_return_val_if_fail (HG_IS_AGENT_SERVER (server), NULL);

  return server->socket_path;
}

/**
 * hg_agent_server_get_history:
 *
 * Returns: (transfer none): the `event` records of all sessions, oldest
 *   first, at most %HG_HISTORY_MAX_ENTRIES of them, as #HgHistoryEntry
 */
GListModel *
hg_agent_server_get_history (HgAgentServer *server)
{
  g_return_val_if_fail (HG_IS_AGENT_SERVER (server), NULL);

  return G_LIST_MODEL (server->history);
}

/**
 * hg_agent_server_list_sessions:
 *
 * Returns: (transfer container) (element-type HgAgentSession): the
 *   connected sessions
 */
GPtrArray *
hg_agent_server_list_sessions (HgAgentServer *server)
{
  GPtrArray *sessions = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_val_if_fail (HG_IS_AGENT_SERVER (server), sessions);

  for (guint i = 0; i < server->sessions->len; i++)
    g_ptr_array_add (sessions, g_object_ref (server->sessions->pdata[i]));

  return sessions;
}

/**
 * hg_agent_server_get_profile_error:
 * @name: a profile name
 *
 * Returns why a connected session cannot get the lists of profile @name,
 * when its file became unreadable or was deleted while the session used
 * it. Its proxies then keep their last lists, and a write that created
 * the file anew, with one entry, would replace those lists: an Always
 * answer for such a profile must not be saved.
 *
 * Returns: (transfer none) (nullable): the error, or %NULL if every
 *   session of @name has its lists
 */
const GError *
hg_agent_server_get_profile_error (HgAgentServer *server,
                                   const char    *name)
{
  g_return_val_if_fail (HG_IS_AGENT_SERVER (server), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  for (guint i = 0; i < server->sessions->len; i++)
    {
      HgAgentSession *session = server->sessions->pdata[i];
      const GError *error = hg_agent_session_get_profile_error (session);

      if (error != NULL && g_strcmp0 (hg_agent_session_get_profile (session), name) == 0)
        return error;
    }

  return NULL;
}

/**
 * hg_agent_server_push_profile:
 * @name: a profile that changed
 *
 * Sends the current content of profile @name, with the store's new
 * revision, to every session that uses it. When the file no longer
 * parses, nothing is sent: the proxies keep their last good filter.
 */
void
hg_agent_server_push_profile (HgAgentServer *server,
                              const char    *name)
{
  g_autoptr(GPtrArray) targets = g_ptr_array_new ();
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(HgFilterUpdate) filter = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (HG_IS_AGENT_SERVER (server));
  g_return_if_fail (name != NULL);

  for (guint i = 0; i < server->sessions->len; i++)
    {
      HgAgentSession *session = server->sessions->pdata[i];

      if (g_strcmp0 (hg_agent_session_get_profile (session), name) == 0)
        g_ptr_array_add (targets, session);
    }

  /* A deleted or renamed profile nobody uses needs no push and no
   * warning. */
  if (targets->len == 0)
    return;

  profile = hg_profile_store_load (server->store, name, &error);
  if (profile == NULL)
    {
      /* Translators: the first %s is the profile name, %u the number of
       * sessions that use it and the last %s an error message. */
      g_warning (g_dngettext (GETTEXT_PACKAGE, "Profile “%s” changed but cannot be read, "
                              "so its %u session keeps its last filter: %s",
                              "Profile “%s” changed but cannot be read, "
                              "so its %u sessions keep their last filter: %s",
                              targets->len),
                 name, targets->len, error->message);
      for (guint i = 0; i < targets->len; i++)
        hg_agent_session_set_profile_error (targets->pdata[i], error);
      return;
    }

  filter = hg_agent_filter_from_profile (profile, name,
                                         hg_profile_store_get_revision (server->store, name));
  for (guint i = 0; i < targets->len; i++)
    hg_agent_session_send_filter (targets->pdata[i], filter);
}
