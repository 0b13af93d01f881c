/* hg-proxy-server.c: the listener, the connection limit and shutdown
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-proxy-server.h"

#include "hg-client.h"

#include <glib/gi18n.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

/* Each refused host is logged at most once per this many seconds. */
#define DENIAL_LOG_INTERVAL_SECS  60
/* Past this many remembered hosts the rate limiter starts afresh, so a
 * client cycling through names cannot grow the table without bound. */
#define DENIAL_LOG_MAX_HOSTS      4096
/* After the grace period, aborted connections get this long to close. */
#define ABORT_TIMEOUT_SECS        2
/* Pending connections the kernel queues before the proxy accepts them. */
#define LISTEN_BACKLOG            512
/* The pause before accepting again after accepting failed twice in a
 * row or ran out of descriptors: the listening socket stays readable,
 * so accepting at once would fail again at once, in a busy loop. */
#define ACCEPT_RETRY_MS           100
/* Connections over the limit still get a 503 response, which holds a
 * descriptor for up to the lingering close. Past this many at once,
 * further ones are closed as soon as they are accepted, so that a flood
 * of connections cannot use up the process's descriptors. */
#define OVER_LIMIT_MAX_RESPONDING 64
/* Descriptors one connection may hold at once: the client and origin
 * sockets and a pipe (two descriptors) per tunnel direction. */
#define FDS_PER_CONNECTION        6
/* Descriptors for everything else: the listener, the audit log, the
 * agent connection and GLib's own, the tunnels' pool of up to 32 empty
 * pipes, the connections being answered with 503, and the forwarder's
 * idle connections to origins. */
#define FDS_RESERVED              (64 + 2 * 32 + OVER_LIMIT_MAX_RESPONDING + HG_FORWARDER_IDLE_MAX)

struct _HgProxyServer
{
  GObject parent_instance;

  const HgOptions *options;
  GSocketListener *listener;
  GCancellable *accept_cancellable;
  guint accept_retry_id;
  gboolean accept_failing;
  GInetSocketAddress *address;
  GPtrArray *own_addresses;
  HgPolicy *policy;
  HgApprover *approver;
  HgResolver *resolver;
  HgForwarder *forwarder;
  HgAudit *audit;

  GHashTable *clients;   /* HgClient → whether it was over the limit */
  guint n_served;
  GHashTable *denials;   /* host → monotonic time of its last log line */

  GTask *shutdown_task;
  guint shutdown_timeout_id;
  gboolean aborted;
};

G_DEFINE_FINAL_TYPE (HgProxyServer, hg_proxy_server, G_TYPE_OBJECT)

enum {
  SIGNAL_AUDIT_RECORD,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void stop_accepting (HgProxyServer *server);

static void
hg_proxy_server_dispose (GObject *object)
{
  HgProxyServer *server = HG_PROXY_SERVER (object);

  stop_accepting (server);
  g_clear_object (&server->listener);
  g_clear_object (&server->accept_cancellable);
  g_clear_handle_id (&server->shutdown_timeout_id, g_source_remove);
  g_clear_pointer (&server->clients, g_hash_table_unref);
  g_clear_object (&server->shutdown_task);
  g_clear_object (&server->approver);

  G_OBJECT_CLASS (hg_proxy_server_parent_class)->dispose (object);
}

static void
hg_proxy_server_finalize (GObject *object)
{
  HgProxyServer *server = HG_PROXY_SERVER (object);

  g_clear_object (&server->address);
  g_clear_pointer (&server->own_addresses, g_ptr_array_unref);
  g_clear_pointer (&server->policy, hg_policy_unref);
  g_clear_pointer (&server->resolver, hg_resolver_free);
  g_clear_pointer (&server->forwarder, hg_forwarder_free);
  g_clear_pointer (&server->audit, hg_audit_free);
  g_clear_pointer (&server->denials, g_hash_table_unref);

  G_OBJECT_CLASS (hg_proxy_server_parent_class)->finalize (object);
}

static void
hg_proxy_server_class_init (HgProxyServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_proxy_server_dispose;
  object_class->finalize = hg_proxy_server_finalize;

  /**
   * HgProxyServer::audit-record:
   * @server: the server
   * @record: (type gpointer): the #HgAuditRecord just written, valid
   *   only during the emission
   *
   * Emitted for every record hg_proxy_server_write_audit() writes, also
   * when no audit log is open, so the approval agent's history view can
   * show it.
   */
  signals[SIGNAL_AUDIT_RECORD] =
    g_signal_new ("audit-record",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
hg_proxy_server_init (HgProxyServer *server)
{
  server->clients = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  server->denials = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * hg_proxy_server_new:
 * @options: the validated options; they must outlive the server
 * @error: return location for a #GError
 *
 * Creates the server: the resolver with its pins, the forwarder, the audit
 * log and the policy from the options. It does not listen yet.
 *
 * Returns: (transfer full) (nullable): the server, or %NULL on error
 */
HgProxyServer *
hg_proxy_server_new (const HgOptions *options,
                     GError         **error)
{
  g_autoptr(HgProxyServer) server = g_object_new (HG_TYPE_PROXY_SERVER, NULL);

  server->options = options;
  server->resolver = hg_resolver_new (options->dns_timeout_secs * 1000);
  for (guint i = 0; options->resolve_pins != NULL && options->resolve_pins[i] != NULL; i++)
    {
      /* The error names the option and the entry. */
      if (!hg_resolver_add_pin (server->resolver, options->resolve_pins[i], error))
        return NULL;
    }

  if (options->audit_log != NULL)
    {
      server->audit = hg_audit_open (options->audit_log, error);
      if (server->audit == NULL)
        return NULL;
    }

  server->forwarder = hg_forwarder_new (options->max_body, options->io_timeout_secs);
  server->policy = hg_policy_new (options->allow, options->deny, options->allow_loopback);
  server->approver = hg_deny_approver_new ();

  return g_steal_pointer (&server);
}

static void
shutdown_done (HgProxyServer *server)
{
  g_autoptr(GTask) task = g_steal_pointer (&server->shutdown_task);

  g_clear_handle_id (&server->shutdown_timeout_id, g_source_remove);
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

static void
client_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(HgProxyServer) server = user_data;
  HgClient *client = HG_CLIENT (source);
  gboolean over_limit;

  hg_client_run_finish (client, result, NULL);

  over_limit = GPOINTER_TO_INT (g_hash_table_lookup (server->clients, client));
  if (!over_limit)
    server->n_served--;
  g_hash_table_remove (server->clients, client);

  if (server->shutdown_task != NULL && g_hash_table_size (server->clients) == 0)
    shutdown_done (server);
}

static void
handle_incoming (HgProxyServer     *server,
                 GSocketConnection *connection)
{
  gboolean over_limit;
  HgClient *client;

  if (server->shutdown_task != NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return;
    }

  /* The proxy writes a response head and its body in separate sends;
   * with Nagle's algorithm the body waits for the client's delayed ACK. */
  if (g_socket_get_family (g_socket_connection_get_socket (connection)) != G_SOCKET_FAMILY_UNIX)
    g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  over_limit = server->n_served >= server->options->max_connections;
  if (over_limit &&
      g_hash_table_size (server->clients) - server->n_served >= OVER_LIMIT_MAX_RESPONDING)
    {
      g_debug ("Closed a connection over the limit without a response: "
               "%u connections are already being refused", OVER_LIMIT_MAX_RESPONDING);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return;
    }
  if (!over_limit)
    server->n_served++;

  client = hg_client_new (server, connection, over_limit);
  g_hash_table_insert (server->clients, client, GINT_TO_POINTER (over_limit));
  hg_client_run_async (client, client_done_cb, g_object_ref (server));
}

static void accept_next (HgProxyServer *server);

static gboolean
accept_retry_cb (gpointer user_data)
{
  HgProxyServer *server = user_data;

  server->accept_retry_id = 0;
  accept_next (server);
  return G_SOURCE_REMOVE;
}

/* Logs the first failure of a run of them, and waits before the next
 * accept unless the failure looks like a single bad connection. */
static void
accept_failed (HgProxyServer *server,
               const GError  *error)
{
  gboolean again = server->accept_failing;

  if (!server->accept_failing)
    {
      g_autofree char *address = hg_socket_address_to_string (G_SOCKET_ADDRESS (server->address));

      g_warning (_("Could not accept a connection on %s: %s. Connections wait until this works again; "
                   "if descriptors ran out, lower --max-connections or raise the limit on open files "
                   "(ulimit -n)"),
                 address, error->message);
      server->accept_failing = TRUE;
    }

  if (!again && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES))
    {
      accept_next (server);
      return;
    }

  server->accept_retry_id = g_timeout_add (ACCEPT_RETRY_MS, accept_retry_cb, server);
}

static void
accept_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  HgProxyServer *server;

  connection = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result, NULL, &error);

  /* Cancelled when the server stops accepting, which may have freed it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  server = user_data;
  if (connection == NULL)
    {
      accept_failed (server, error);
      return;
    }

  if (server->accept_failing)
    g_message (_("Accepting connections again"));
  server->accept_failing = FALSE;

  handle_incoming (server, connection);
  accept_next (server);
}

static void
accept_next (HgProxyServer *server)
{
  g_socket_listener_accept_async (server->listener, server->accept_cancellable, accept_cb, server);
}

/* Stops accepting and closes the listening socket. */
static void
stop_accepting (HgProxyServer *server)
{
  if (server->listener == NULL)
    return;

  g_cancellable_cancel (server->accept_cancellable);
  g_clear_handle_id (&server->accept_retry_id, g_source_remove);
  g_socket_listener_close (server->listener);
}

/* Raises the soft limit on open descriptors to what --max-connections
 * may need, within the hard limit. Running out makes every accept fail
 * until descriptors are freed. */
static void
ensure_fd_limit (guint max_connections)
{
  struct rlimit limit;
  rlim_t needed = (rlim_t) max_connections * FDS_PER_CONNECTION + FDS_RESERVED;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed)
    return;

  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : MIN (needed, limit.rlim_max);
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0 || getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;

  if (limit.rlim_cur >= needed)
    return;

  /* Plain C formats, because xgettext cannot expand G_GUINT64_FORMAT. */
  g_warning (g_dngettext (GETTEXT_PACKAGE,
                          /* Translators: %u is the value of --max-connections,
                           * the first %llu the number of file descriptors it
                           * may need, and the second %llu the current limit on
                           * open files. */
                          "--max-connections %u may need %llu file descriptor, "
                          "but the limit is %llu; raise the hard limit "
                          "(ulimit -Hn) or lower --max-connections",
                          "--max-connections %u may need %llu file descriptors, "
                          "but the limit is %llu; raise the hard limit "
                          "(ulimit -Hn) or lower --max-connections",
                          (gulong) MIN (needed, G_MAXULONG)),
             max_connections, (unsigned long long) needed,
             (unsigned long long) limit.rlim_cur);
}

/**
 * hg_proxy_server_start:
 * @server: the server
 * @error: return location for a #GError
 *
 * Binds the listening address and starts accepting connections.
 *
 * Returns: %TRUE on success
 */
gboolean
hg_proxy_server_start (HgProxyServer *server,
                       GError       **error)
{
  g_autoptr(GSocketAddress) effective = NULL;
  g_autofree char *wanted = NULL;

  g_return_val_if_fail (server->listener == NULL, FALSE);

  ensure_fd_limit (server->options->max_connections);
  server->listener = g_socket_listener_new ();
  server->accept_cancellable = g_cancellable_new ();
  /* GSocketListener's default backlog of 10 drops connections in a burst
   * long before the connection limit is reached. */
  g_socket_listener_set_backlog (server->listener, LISTEN_BACKLOG);
  if (!g_socket_listener_add_address (server->listener,
                                      G_SOCKET_ADDRESS (server->options->listen_address),
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, error))
    {
      wanted = hg_socket_address_to_string (G_SOCKET_ADDRESS (server->options->listen_address));
      g_prefix_error (error, _("Could not listen on %s: "), wanted);
      return FALSE;
    }

  server->address = G_INET_SOCKET_ADDRESS (g_steal_pointer (&effective));
  server->own_addresses = hg_own_addresses_new (server->address);

  accept_next (server);

  return TRUE;
}

/**
 * hg_proxy_server_get_address:
 * @server: a started server
 *
 * Returns: (transfer none): the bound address, with the real port
 */
GInetSocketAddress *
hg_proxy_server_get_address (HgProxyServer *server)
{
  return server->address;
}

guint
hg_proxy_server_get_n_clients (HgProxyServer *server)
{
  return g_hash_table_size (server->clients);
}

/**
 * hg_proxy_server_is_aborting:
 * @server: the server
 *
 * Returns: %TRUE once the shutdown grace period has ended and the
 *   remaining connections are being closed
 */
gboolean
hg_proxy_server_is_aborting (HgProxyServer *server)
{
  return server->aborted;
}

/**
 * hg_proxy_server_dup_policy:
 * @server: the server
 *
 * Returns: (transfer full): the current policy
 */
HgPolicy *
hg_proxy_server_dup_policy (HgProxyServer *server)
{
  return hg_policy_ref (server->policy);
}

/**
 * hg_proxy_server_set_policy:
 * @server: the server
 * @policy: the new policy
 *
 * Replaces the policy. Requests already being decided keep the policy
 * they started with; every request whose head completes later uses
 * @policy.
 */
void
hg_proxy_server_set_policy (HgProxyServer *server,
                            HgPolicy      *policy)
{
  g_return_if_fail (policy != NULL);

  hg_policy_ref (policy);
  g_clear_pointer (&server->policy, hg_policy_unref);
  server->policy = policy;
}

HgApprover *
hg_proxy_server_get_approver (HgProxyServer *server)
{
  return server->approver;
}

/**
 * hg_proxy_server_set_approver:
 * @server: the server
 * @approver: asked about hosts on neither list from now on
 *
 * Replaces the approver; questions already asked finish with the old one.
 */
void
hg_proxy_server_set_approver (HgProxyServer *server,
                              HgApprover    *approver)
{
  g_return_if_fail (HG_IS_APPROVER (approver));

  g_set_object (&server->approver, approver);
}

const HgOptions *
hg_proxy_server_get_options (HgProxyServer *server)
{
  return server->options;
}

/**
 * hg_proxy_server_get_policy_context:
 * @server: the server
 * @context: (out caller-allocates): filled with borrowed pointers that
 *   stay valid while the server lives
 *
 * Fills in what hg_policy_decide_async() needs besides the policy.
 */
void
hg_proxy_server_get_policy_context (HgProxyServer   *server,
                                    HgPolicyContext *context)
{
  context->approver = server->approver;
  context->resolver = server->resolver;
  context->own_addresses = server->own_addresses;
}

HgResolver *
hg_proxy_server_get_resolver (HgProxyServer *server)
{
  return server->resolver;
}

HgForwarder *
hg_proxy_server_get_forwarder (HgProxyServer *server)
{
  return server->forwarder;
}

HgAudit *
hg_proxy_server_get_audit (HgProxyServer *server)
{
  return server->audit;
}

/**
 * hg_proxy_server_write_audit:
 * @server: the server
 * @record: the record
 *
 * Appends @record to the audit log, when one is open, and emits
 * #HgProxyServer::audit-record.
 */
void
hg_proxy_server_write_audit (HgProxyServer       *server,
                             const HgAuditRecord *record)
{
  g_return_if_fail (HG_IS_PROXY_SERVER (server));
  g_return_if_fail (record != NULL);

  hg_audit_write (server->audit, record);
  g_signal_emit (server, signals[SIGNAL_AUDIT_RECORD], 0, record);
}

/**
 * hg_proxy_server_log_denial:
 * @server: the server
 * @host: the refused host, or the client address when there is none
 * @status: the status sent to the client
 * @reason: why
 *
 * Logs a refused request, at most once per host per minute.
 */
void
hg_proxy_server_log_denial (HgProxyServer *server,
                            const char    *host,
                            guint          status,
                            const char    *reason)
{
  gint64 now = g_get_monotonic_time ();
  gpointer last;

  if (g_hash_table_lookup_extended (server->denials, host, NULL, &last) &&
      now - GPOINTER_TO_SIZE (last) < DENIAL_LOG_INTERVAL_SECS * G_USEC_PER_SEC)
    return;

  if (g_hash_table_size (server->denials) >= DENIAL_LOG_MAX_HOSTS)
    g_hash_table_remove_all (server->denials);
  g_hash_table_insert (server->denials, g_strdup (host), GSIZE_TO_POINTER ((gsize) now));

  g_message (_("Refused a request for %s with status %u: %s"), host, status, reason);
}

static gboolean
shutdown_timeout_cb (gpointer user_data)
{
  HgProxyServer *server = user_data;
  GHashTableIter iter;
  gpointer client;
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);

  server->shutdown_timeout_id = 0;
  if (server->aborted)
    {
      /* Translators: the first %u is a number of seconds, the second the
       * number of connections still open. */
      g_warning (_("Connections still open %u s after being closed (%u open), exiting anyway"),
                 ABORT_TIMEOUT_SECS, g_hash_table_size (server->clients));
      shutdown_done (server);
      return G_SOURCE_REMOVE;
    }

  /* Translators: %u is the number of connections still open. */
  g_message (_("Grace period over, closing the remaining connections (%u open)"),
             g_hash_table_size (server->clients));
  server->aborted = TRUE;
  server->shutdown_timeout_id = g_timeout_add_seconds (ABORT_TIMEOUT_SECS, shutdown_timeout_cb, server);

  /* Aborting may finish a client at once, which changes the table. */
  g_hash_table_iter_init (&iter, server->clients);
  while (g_hash_table_iter_next (&iter, &client, NULL))
    g_ptr_array_add (clients, g_object_ref (client));
  for (guint i = 0; i < clients->len; i++)
    hg_client_abort (g_ptr_array_index (clients, i));

  return G_SOURCE_REMOVE;
}

/**
 * hg_proxy_server_shutdown_async:
 * @server: the server
 * @cancellable: (nullable): unused
 * @callback: called once every connection has closed
 * @user_data: data for @callback
 *
 * Stops accepting connections, closes idle ones, lets requests and
 * tunnels in progress run for the grace period, then aborts the rest.
 */
void
hg_proxy_server_shutdown_async (HgProxyServer       *server,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  GHashTableIter iter;
  gpointer client;
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_if_fail (server->shutdown_task == NULL);

  server->shutdown_task = g_task_new (server, cancellable, callback, user_data);
  g_task_set_source_tag (server->shutdown_task, hg_proxy_server_shutdown_async);

  stop_accepting (server);

  g_hash_table_iter_init (&iter, server->clients);
  while (g_hash_table_iter_next (&iter, &client, NULL))
    g_ptr_array_add (clients, g_object_ref (client));
  for (guint i = 0; i < clients->len; i++)
    hg_client_shutdown (g_ptr_array_index (clients, i));

  if (g_hash_table_size (server->clients) == 0)
    {
      shutdown_done (server);
      return;
    }

  /* Translators: the first %u is the grace period in seconds, the
   * second the number of connections still open. */
  g_message (_("Waiting up to %u s for open connections to finish (%u open)"),
             server->options->grace_period_secs, g_hash_table_size (server->clients));
  /* Not g_timeout_add_seconds(): it may fire up to a quarter second
   * early, which would cut the promised grace period short. */
  server->shutdown_timeout_id = g_timeout_add (server->options->grace_period_secs * 1000,
                                               shutdown_timeout_cb, server);
}

gboolean
hg_proxy_server_shutdown_finish (HgProxyServer *server,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
