/* hg-client.c: serving one client connection
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Why hostgate-proxy reads request heads itself instead of using
 * SoupServer (libsoup 3.2): SoupServer accepts `CONNECT host` and `host:`
 * as port 80 and does not keep the raw request-target, so a strict CONNECT
 * check is impossible. It drops NUL bytes silently, keeps duplicate Host
 * headers and lets the last Content-Length win, so framing checks cannot
 * be done on what it hands over. It has no header, idle or body timeouts,
 * and it reads whole request bodies into memory before the handler runs.
 *
 * So the server accepts sockets with a GSocketListener. Each connection
 * here reads its head into a bounded buffer under a deadline and checks it
 * with the strict parser in hg-request-head.c. Then it authenticates,
 * decides, and either opens a tunnel (CONNECT) or hands the request to
 * HgForwarder, which uses SoupSession only as an HTTP client.
 *
 * One connection, one HgClient, one GTask from accept to close. Requests
 * on a kept-alive connection are decided one by one, each against the
 * policy current when its head was complete.
 */
#include "config.h"

#include "hg-client.h"

#include "hg-request-head.h"
#include "hg-tunnel.h"
#include "hg-upstream.h"

#include <string.h>

#include <glib/gi18n.h>

#define READ_CHUNK           16384
/* After an error response the rest of the request is read and dropped for
 * a while, so that closing does not reset the connection before the client
 * has read the response. */
#define LINGER_TIMEOUT_SECS  2
#define LINGER_MAX_BYTES     (64 * 1024 * 1024)
/* Bytes a client may send after its head while the request is decided;
 * past this the proxy stops reading until the decision. */
#define WATCH_MAX_BYTES      (256 * 1024)

#define CONNECT_ESTABLISHED  "HTTP/1.1 200 Connection established\r\n\r\n"

struct _HgClient
{
  GObject parent_instance;

  HgProxyServer *server;
  const HgOptions *options;
  GSocketConnection *connection;
  char *peer;
  gboolean over_limit;

  GTask *task;
  GCancellable *cancellable;       /* everything; cancelled on abort */
  GCancellable *read_cancellable;  /* the current head read or linger */
  gboolean shutting_down;
  gboolean timed_out;
  gboolean reading_head;
  guint timeout_id;
  guint n_requests;
  /* Allocated while the client's requests are read, and freed once the
   * connection becomes a tunnel, so an idle tunnel does not keep it. */
  char *read_buffer;
  char *response;                  /* kept until its write completes */
  gsize linger_bytes;

  /* The current request. */
  GByteArray *buffer;
  gsize head_length;
  HgRequestHead *head;
  gint64 head_time;
  gboolean authenticated;          /* the head carried the proxy token */
  HgPolicy *policy;
  GSource *watch;                  /* the connection, until a response */
  gboolean asking;                 /* the decision waits for a person */
  gboolean client_closed;          /* the client closed before a response */
  HgDecision *decision;
  GSocketConnection *origin;
  GBytes *origin_pending;
  HgTunnel *tunnel;
};

G_DEFINE_FINAL_TYPE (HgClient, hg_client, G_TYPE_OBJECT)

static void read_head (HgClient *client);
static void handle_head (HgClient *client);
static void watch (HgClient *client, GIOCondition condition);
static void watch_reset (HgClient *client);

static void
unwatch (HgClient *client)
{
  if (client->watch == NULL)
    return;

  g_source_destroy (client->watch);
  g_clear_pointer (&client->watch, g_source_unref);
}

static void
clear_request (HgClient *client)
{
  unwatch (client);
  g_clear_pointer (&client->head, hg_request_head_free);
  g_clear_pointer (&client->policy, hg_policy_unref);
  g_clear_pointer (&client->decision, hg_decision_free);
  g_clear_pointer (&client->tunnel, hg_tunnel_free);
  g_clear_object (&client->origin);
  g_clear_pointer (&client->origin_pending, g_bytes_unref);
  client->head_length = 0;
  client->authenticated = FALSE;
  client->asking = FALSE;
  client->client_closed = FALSE;
}

static void
hg_client_dispose (GObject *object)
{
  HgClient *client = HG_CLIENT (object);

  g_clear_handle_id (&client->timeout_id, g_source_remove);
  clear_request (client);
  g_clear_object (&client->connection);
  g_clear_object (&client->cancellable);
  g_clear_object (&client->read_cancellable);
  g_clear_object (&client->task);
  g_clear_object (&client->server);

  G_OBJECT_CLASS (hg_client_parent_class)->dispose (object);
}

static char *
ensure_read_buffer (HgClient *client)
{
  if (client->read_buffer == NULL)
    client->read_buffer = g_malloc (READ_CHUNK);

  return client->read_buffer;
}

static void
hg_client_finalize (GObject *object)
{
  HgClient *client = HG_CLIENT (object);

  g_free (client->peer);
  g_free (client->response);
  g_free (client->read_buffer);
  g_clear_pointer (&client->buffer, g_byte_array_unref);

  G_OBJECT_CLASS (hg_client_parent_class)->finalize (object);
}

static void
hg_client_class_init (HgClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_client_dispose;
  object_class->finalize = hg_client_finalize;
}

static void
hg_client_init (HgClient *client)
{
  client->cancellable = g_cancellable_new ();
  client->buffer = g_byte_array_new ();
}

/**
 * hg_client_new:
 * @server: the server that accepted the connection
 * @connection: the accepted connection
 * @over_limit: whether the server is at its connection limit, so the
 *   client only gets a 503 response
 *
 * Creates the handler of one client connection.
 *
 * Returns: (transfer full): the client
 */
HgClient *
hg_client_new (HgProxyServer     *server,
               GSocketConnection *connection,
               gboolean           over_limit)
{
  HgClient *client = g_object_new (HG_TYPE_CLIENT, NULL);
  g_autoptr(GSocketAddress) remote = NULL;

  client->server = g_object_ref (server);
  client->options = hg_proxy_server_get_options (server);
  client->connection = g_object_ref (connection);
  client->over_limit = over_limit;

  remote = g_socket_connection_get_remote_address (connection, NULL);
  if (G_IS_INET_SOCKET_ADDRESS (remote))
    client->peer = hg_socket_address_to_string (remote);
  else
    client->peer = g_strdup ("unknown");

  return client;
}

static void
finish (HgClient *client)
{
  g_autoptr(GTask) task = g_steal_pointer (&client->task);

  if (task == NULL)
    return;

  g_clear_handle_id (&client->timeout_id, g_source_remove);
  if (client->tunnel != NULL)
    hg_tunnel_close (client->tunnel);
  clear_request (client);
  g_io_stream_close (G_IO_STREAM (client->connection), NULL, NULL);

  g_task_return_boolean (task, TRUE);
}

static gint64
elapsed_ms (HgClient *client)
{
  if (client->head_time == 0)
    return 0;

  return (g_get_monotonic_time () - client->head_time) / 1000;
}

static void
audit (HgClient   *client,
       const char *decision,
       guint       status,
       const char *reason,
       const char *pattern,
       guint64     bytes_up,
       guint64     bytes_down)
{
  HgAuditRecord record = { 0 };
  HgHost *target = client->head != NULL ? client->head->authority : NULL;

  record.client = client->peer;
  record.method = client->head != NULL ? client->head->method : NULL;
  record.host = target != NULL ? target->name : NULL;
  record.port = target != NULL ? target->port : 0;
  record.decision = decision;
  record.status = status;
  record.reason = reason;
  record.pattern = pattern;
  record.bytes_up = bytes_up;
  record.bytes_down = bytes_down;
  record.duration_ms = elapsed_ms (client);

  /* A request that did not pass the token check is kept out of the
   * agent's history view: anyone who can reach the port could otherwise
   * fill it with made-up hosts. The audit log still records it. */
  if (client->authenticated)
    hg_proxy_server_write_audit (client->server, &record);
  else
    hg_audit_write (hg_proxy_server_get_audit (client->server), &record);
}

/* Records a request that stopped before a response was sent, because the
 * watch saw its client leave or the shutdown grace period ended. Status 0
 * means that nothing was sent. */
static void
finish_unanswered (HgClient *client)
{
  const char *reason = _("closed at the end of the shutdown grace period");
  const char *decision = "error";
  const char *pattern = NULL;

  if (client->client_closed)
    reason = _("the client closed the connection before the response");

  if (client->decision != NULL)
    {
      pattern = client->decision->pattern;
      if (client->decision->kind == HG_POLICY_ALLOW)
        decision = "allow";
    }

  audit (client, decision, 0, reason, pattern, 0, 0);
  finish (client);
}

/* Lingering close: the rest of the request is read and dropped until the
 * client closes, a time limit passes or a byte limit is reached. */
static void
linger_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);
  client->linger_bytes += MAX (n, 0);
  if (n <= 0 || client->linger_bytes > LINGER_MAX_BYTES)
    {
      finish (client);
      return;
    }

  g_input_stream_read_async (G_INPUT_STREAM (source), ensure_read_buffer (client), READ_CHUNK,
                             G_PRIORITY_DEFAULT, client->read_cancellable,
                             linger_read_cb, g_object_ref (client));
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  HgClient *client = user_data;

  client->timeout_id = 0;
  g_cancellable_cancel (client->read_cancellable);
  return G_SOURCE_REMOVE;
}

static void
linger (HgClient *client)
{
  GSocket *socket = g_socket_connection_get_socket (client->connection);
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (client->connection));

  if (!g_socket_shutdown (socket, FALSE, TRUE, NULL))
    {
      finish (client);
      return;
    }

  g_clear_object (&client->read_cancellable);
  client->read_cancellable = g_cancellable_new ();
  g_clear_handle_id (&client->timeout_id, g_source_remove);
  client->timeout_id = g_timeout_add_seconds (LINGER_TIMEOUT_SECS, linger_timeout_cb, client);
  client->linger_bytes = 0;

  g_input_stream_read_async (input, ensure_read_buffer (client), READ_CHUNK,
                             G_PRIORITY_DEFAULT, client->read_cancellable,
                             linger_read_cb, g_object_ref (client));
}

static void
respond_written_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      finish (client);
      return;
    }

  linger (client);
}

static const char *
status_text (guint status)
{
  switch (status)
    {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 508: return "Loop Detected";
    default: return "Error";
    }
}

/* Sends an error response with @reason in the status line and the body,
 * then closes the connection. Every response the proxy makes itself closes
 * it, because the rest of the request is unread and a rejected client has
 * nothing more to send that the proxy would accept. */
static void
respond_and_close (HgClient   *client,
                   guint       status,
                   const char *reason)
{
  g_autofree char *clean = hg_http_sanitize_reason (reason != NULL ? reason : status_text (status));
  g_autofree char *phrase = NULL;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (client->connection));
  GString *response = g_string_new (NULL);
  gsize length;

  if (clean[0] == '\0')
    {
      g_free (clean);
      clean = g_strdup (status_text (status));
    }

  /* The status line is read as Latin-1 or ASCII by many clients, so it
   * carries an ASCII transliteration of a translated reason, and the body
   * the reason itself, in UTF-8. The rules of the message language give
   * "oe" for a German "ö" where the C locale's give "o". */
  phrase = g_str_to_ascii (clean, g_get_language_names ()[0]);
  g_string_append_printf (response, "HTTP/1.1 %u %s\r\n", status, phrase);
  if (status == 407)
    g_string_append (response, "Proxy-Authenticate: Basic realm=\"hostgate\"\r\n");
  g_string_append_printf (response,
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Length: %zu\r\n"
                          "Connection: close\r\n"
                          "\r\n"
                          "%s\n",
                          strlen (clean) + 1, clean);

  length = response->len;
  g_free (client->response);
  client->response = g_string_free (response, FALSE);
  g_output_stream_write_all_async (output, client->response, length,
                                   G_PRIORITY_DEFAULT, client->cancellable,
                                   respond_written_cb, g_object_ref (client));
}

static void
refuse (HgClient   *client,
        const char *decision,
        guint       status,
        const char *reason,
        const char *pattern)
{
  HgHost *target = client->head != NULL ? client->head->authority : NULL;

  unwatch (client);
  if (status == 403 || status == 502 || status == 504 || status == 508)
    hg_proxy_server_log_denial (client->server, target != NULL ? target->name : client->peer,
                                status, reason);
  else
    g_debug ("%s: responding with %u: %s", client->peer, status, reason);

  audit (client, decision, status, reason, pattern, 0, 0);
  respond_and_close (client, status, reason);
}

static gboolean
header_timeout_cb (gpointer user_data)
{
  HgClient *client = user_data;

  client->timeout_id = 0;
  client->timed_out = TRUE;
  g_cancellable_cancel (client->read_cancellable);
  return G_SOURCE_REMOVE;
}

static void
refuse_head_timeout (HgClient *client)
{
  guint secs = client->options->header_timeout_secs;
  g_autofree char *reason = NULL;

  reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "timed out waiting for the request head after %u second (--header-timeout)",
                                         "timed out waiting for the request head after %u seconds (--header-timeout)",
                                         secs),
                            secs);
  refuse (client, "error", 408, reason, NULL);
}

static void
head_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  client->reading_head = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n > 0)
    g_byte_array_append (client->buffer, (const guint8 *) client->read_buffer, n);

  if (client->timed_out && client->task != NULL)
    {
      /* A kept-alive connection that stays silent is simply closed; a
       * request that started and stalled gets a 408 response. */
      if (client->buffer->len == 0 && client->n_requests > 0)
        finish (client);
      else
        refuse_head_timeout (client);
      return;
    }
  if (n <= 0)
    {
      gboolean cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

      if (n < 0 && !cancelled)
        g_debug ("%s: reading the request head failed: %s", client->peer, error->message);
      /* A head cut off by the end of the grace period was a request in
       * progress, so it is recorded like any other. */
      if (cancelled && client->shutting_down && client->buffer->len > 0)
        audit (client, "error", 0, _("closed at the end of the shutdown grace period"), NULL, 0, 0);
      finish (client);
      return;
    }

  handle_head (client);
}

/* Reads until the buffer holds a complete head, then handles it. */
static void
read_head (HgClient *client)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (client->connection));

  if (client->shutting_down && client->buffer->len == 0)
    {
      finish (client);
      return;
    }

  if (client->timeout_id == 0 && !client->timed_out)
    client->timeout_id = g_timeout_add_seconds (client->options->header_timeout_secs,
                                                header_timeout_cb, client);

  g_clear_object (&client->read_cancellable);
  client->read_cancellable = g_cancellable_new ();
  client->reading_head = TRUE;
  g_input_stream_read_async (input, ensure_read_buffer (client), READ_CHUNK,
                             G_PRIORITY_DEFAULT, client->read_cancellable,
                             head_read_cb, g_object_ref (client));
}

/* Compares in time that depends only on the lengths, not on where the
 * first difference is. */
static gboolean
secret_equal (const char *given,
              gsize       given_length,
              const char *expected)
{
  gsize expected_length = strlen (expected);
  guint8 difference = given_length != expected_length;

  for (gsize i = 0; i < MAX (given_length, expected_length); i++)
    {
      guint8 a = i < given_length ? (guint8) given[i] : 0;
      guint8 b = i < expected_length ? (guint8) expected[i] : 0;

      difference |= a ^ b;
    }

  return difference == 0;
}

/* Accepts `Basic base64(user:token)`, any user name, or `Bearer token`.
 * Exactly one Proxy-Authorization field must be present. */
static gboolean
check_token (HgClient *client)
{
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;
  const char *credentials = NULL;
  guint count = 0;

  if (!client->options->auth_required)
    return TRUE;

  soup_message_headers_iter_init (&iter, client->head->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      if (g_ascii_strcasecmp (name, "Proxy-Authorization") == 0)
        {
          credentials = value;
          count++;
        }
    }
  if (count != 1)
    return FALSE;

  while (*credentials == ' ' || *credentials == '\t')
    credentials++;

  if (g_ascii_strncasecmp (credentials, "Basic ", 6) == 0)
    {
      g_autofree guchar *decoded = NULL;
      g_autofree char *text = g_strstrip (g_strdup (credentials + 6));
      gsize length = 0;
      const char *colon;
      gboolean equal;

      decoded = g_base64_decode (text, &length);
      colon = decoded != NULL ? memchr (decoded, ':', length) : NULL;
      if (colon == NULL)
        return FALSE;

      equal = secret_equal (colon + 1, length - (colon + 1 - (const char *) decoded),
                            client->options->token);
      memset (decoded, 0, length);
      return equal;
    }

  if (g_ascii_strncasecmp (credentials, "Bearer ", 7) == 0)
    {
      g_autofree char *token = g_strstrip (g_strdup (credentials + 7));

      return secret_equal (token, strlen (token), client->options->token);
    }

  return FALSE;
}

static GBytes *
take_pending (HgClient *client)
{
  gsize rest = client->buffer->len - client->head_length;
  GBytes *pending = NULL;

  if (rest > 0)
    pending = g_bytes_new (client->buffer->data + client->head_length, rest);
  g_byte_array_set_size (client->buffer, 0);

  return pending;
}

static gboolean
goes_upstream (HgClient *client)
{
  HgHost *target = client->head->authority;

  return client->options->upstream != NULL &&
         !hg_filter_match_host (client->options->upstream_bypass, target->name,
                                target->address, target->port);
}

static gboolean
is_cancelled (GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void tunnel_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
established_written_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GBytes) client_pending = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      audit (client, "allow", 200, _("the client closed before the tunnel opened"),
             client->decision->pattern, 0, 0);
      finish (client);
      return;
    }

  client_pending = take_pending (client);

  /* A tunnel reads no more requests: drop the read buffers, which would
   * otherwise stay allocated for the tunnel's whole life. */
  g_clear_pointer (&client->read_buffer, g_free);
  g_byte_array_unref (client->buffer);
  client->buffer = g_byte_array_new ();

  client->tunnel = hg_tunnel_new (client->connection, client->origin, client_pending,
                                  client->origin_pending, client->options->idle_timeout_secs);
  hg_tunnel_run_async (client->tunnel, client->cancellable, tunnel_cb, g_object_ref (client));
}

static void
tunnel_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  const char *reason = NULL;

  if (!hg_tunnel_run_finish (client->tunnel, result, &error))
    {
      g_debug ("%s: tunnel to %s ended: %s", client->peer,
               client->head->authority->name, error->message);
      reason = error->message;
      if (is_cancelled (error))
        reason = _("closed at the end of the shutdown grace period");
    }

  audit (client, "allow", 200, reason, client->decision->pattern,
         hg_tunnel_get_bytes_up (client->tunnel), hg_tunnel_get_bytes_down (client->tunnel));
  finish (client);
}

static void
open_tunnel (HgClient          *client,
             GSocketConnection *origin,
             GBytes            *origin_pending)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (client->connection));

  unwatch (client);
  client->origin = origin;
  client->origin_pending = origin_pending;

  g_output_stream_write_all_async (output, CONNECT_ESTABLISHED, strlen (CONNECT_ESTABLISHED),
                                   G_PRIORITY_DEFAULT, client->cancellable,
                                   established_written_cb, g_object_ref (client));
}

static void
forward_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) pending = NULL;
  gboolean keep_alive = FALSE;
  gboolean started = FALSE;
  guint status = 0;
  guint64 up = 0;
  guint64 down = 0;

  unwatch (client);
  if (!hg_forwarder_forward_finish (hg_proxy_server_get_forwarder (client->server), result, &keep_alive, &pending,
                                    &up, &down, &started, &status, &error))
    {
      if (is_cancelled (error) && client->client_closed && !started)
        {
          finish_unanswered (client);
          return;
        }

      if (is_cancelled (error) || started)
        {
          const char *reason = error->message;

          /* The reset watch or hg_client_abort() cancelled the forward. */
          if (is_cancelled (error) && client->client_closed)
            reason = _("the client closed the connection during the response");
          else if (is_cancelled (error))
            reason = _("closed at the end of the shutdown grace period");
          audit (client, "allow", status, reason, client->decision->pattern, up, down);
          finish (client);
          return;
        }
      refuse (client, "error",
              error->domain == HG_HTTP_ERROR ? (guint) error->code : 502,
              error->message, client->decision->pattern);
      return;
    }

  audit (client, "allow", status, NULL, client->decision->pattern, up, down);

  if (!keep_alive || client->shutting_down)
    {
      finish (client);
      return;
    }

  clear_request (client);
  client->n_requests++;
  client->timed_out = FALSE;
  if (pending != NULL)
    g_byte_array_append (client->buffer, g_bytes_get_data (pending, NULL), g_bytes_get_size (pending));
  handle_head (client);
}

static void
forward (HgClient *client)
{
  g_autoptr(GBytes) pending = take_pending (client);

  hg_forwarder_forward_async (hg_proxy_server_get_forwarder (client->server), client->head,
                              G_IO_STREAM (client->connection), pending,
                              client->decision->addresses, client->cancellable,
                              forward_cb, g_object_ref (client));
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  GSocketConnection *origin;

  unwatch (client);
  origin = hg_connect_finish (result, &error);
  if (origin != NULL)
    {
      open_tunnel (client, origin, NULL);
      return;
    }

  if (is_cancelled (error))
    {
      finish_unanswered (client);
      return;
    }

  /* hg_connect_finish() names the addresses and the port, so a target
   * given as a name is added in front to tell which host they belong to. */
  if (client->head->authority->address != NULL)
    reason = g_strdup (error->message);
  else
    reason = g_strdup_printf ("\"%s\": %s", client->head->authority->name, error->message);
  refuse (client, "error", g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ? 504 : 502,
          reason, client->decision->pattern);
}

static void
upstream_connected_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  GBytes *pending = NULL;
  GSocketConnection *origin;

  origin = hg_upstream_connect_finish (result, &pending, &error);
  if (origin != NULL)
    {
      open_tunnel (client, origin, pending);
      return;
    }

  if (is_cancelled (error))
    {
      finish_unanswered (client);
      return;
    }

  /* Every error of hg_upstream_connect_finish() names the upstream proxy. */
  reason = g_strdup (error->message);
  if (g_error_matches (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_TIMED_OUT))
    refuse (client, "error", 504, reason, client->decision->pattern);
  else
    refuse (client, "error", 502, reason, client->decision->pattern);
}

static void
upstream_socket_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *authority = NULL;
  g_autofree char *via = NULL;
  GSocketConnection *connection;

  connection = hg_connect_finish (result, &error);
  if (connection == NULL)
    {
      if (is_cancelled (error))
        {
          finish_unanswered (client);
          return;
        }
      /* hg_connect_finish() names the addresses and the port, so only a
       * proxy given by name is named in front of them. */
      if (client->options->upstream->address != NULL)
        reason = g_strdup_printf (_("upstream proxy: %s"), error->message);
      else
        reason = g_strdup_printf (_("upstream proxy \"%s\": %s"), client->options->upstream->name,
                                  error->message);
      refuse (client, "error", g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ? 504 : 502,
              reason, client->decision->pattern);
      return;
    }

  authority = hg_host_to_string (client->head->authority);
  via = hg_request_head_build_via (client->head);
  /* hg_upstream_connect_async() takes @connection over. */
  hg_upstream_connect_async (connection, authority, via, client->options->connect_timeout_secs * 1000,
                             client->cancellable, upstream_connected_cb, g_object_ref (client));
}

/* Sends the request to the upstream proxy at @addresses: a CONNECT as a
 * CONNECT of its own, a plain request in absolute form. */
static void
use_upstream_addresses (HgClient  *client,
                        GPtrArray *addresses)
{
  g_autoptr(GBytes) pending = NULL;

  if (hg_request_head_is_connect (client->head))
    {
      hg_connect_async (addresses, client->options->upstream->port,
                        client->options->connect_timeout_secs * 1000, client->cancellable,
                        upstream_socket_cb, g_object_ref (client));
      return;
    }

  pending = take_pending (client);
  hg_forwarder_forward_upstream_async (hg_proxy_server_get_forwarder (client->server), client->head,
                                       G_IO_STREAM (client->connection), pending, addresses,
                                       client->options->upstream->port, client->cancellable,
                                       forward_cb, g_object_ref (client));
}

static void
upstream_lookup_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GPtrArray) addresses = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;

  addresses = hg_resolver_lookup_finish (hg_proxy_server_get_resolver (client->server), result, &error);
  if (addresses == NULL || addresses->len == 0)
    {
      if (is_cancelled (error))
        {
          finish_unanswered (client);
          return;
        }
      /* The resolver's errors name the host already. */
      if (error != NULL)
        reason = g_strdup_printf (_("upstream proxy: %s"), error->message);
      else
        reason = g_strdup_printf (_("could not resolve the upstream proxy \"%s\": no addresses"),
                                  client->options->upstream->name);
      refuse (client, "error", 502, reason, client->decision->pattern);
      return;
    }

  use_upstream_addresses (client, addresses);
}

/* The upstream proxy is configured by the user, so its address is not
 * subject to the hard denies; loopback upstreams are common. */
static void
reach_upstream (HgClient *client)
{
  const HgHost *upstream = client->options->upstream;
  g_autoptr(GPtrArray) addresses = NULL;

  if (upstream->address != NULL)
    {
      addresses = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (addresses, g_object_ref (upstream->address));
      use_upstream_addresses (client, addresses);
      return;
    }

  hg_resolver_lookup_async (hg_proxy_server_get_resolver (client->server), upstream->name,
                            upstream->port, client->cancellable, upstream_lookup_cb,
                            g_object_ref (client));
}

static void
decide_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(HgClient) client = user_data;
  g_autoptr(GError) error = NULL;
  HgDecision *decision;

  decision = hg_policy_decide_finish (client->policy, result, &error);
  if (decision == NULL)
    {
      finish_unanswered (client);
      return;
    }

  client->decision = decision;
  client->asking = FALSE;

  if (decision->kind != HG_POLICY_ALLOW)
    {
      refuse (client, decision->kind == HG_POLICY_DENY ? "deny" : "error",
              decision->status, decision->reason, decision->pattern);
      return;
    }

  /* Connecting may take --connect-timeout for each address, so a tunnel's
   * client stays watched until its tunnel opens or fails. A plain
   * request's body belongs to the forwarder, which reads it, so only a
   * reset is watched for while it runs. */
  if (!hg_request_head_is_connect (client->head))
    watch_reset (client);

  /* No addresses: the target goes through the upstream proxy, which
   * resolves it. */
  if (decision->addresses == NULL)
    reach_upstream (client);
  else if (hg_request_head_is_connect (client->head))
    hg_connect_async (decision->addresses, client->head->authority->port,
                      client->options->connect_timeout_secs * 1000, client->cancellable,
                      connected_cb, g_object_ref (client));
  else
    forward (client);
}

/* A decision can wait minutes for a person's answer, so the connection
 * is watched meanwhile, and while a tunnel's origin or the upstream
 * proxy is connected. When the connection fails, or reaches its end
 * while a person is asked, the decision or the connect is cancelled,
 * which also withdraws a question.
 * Bytes that arrive early (a TLS ClientHello right after CONNECT, say)
 * are kept for the request.
 * The socket is read directly, not through its stream, so that the
 * watch can stop at once without a read still pending on the stream. */
static gboolean
watch_cb (GSocket      *socket,
          GIOCondition  condition,
          gpointer      user_data)
{
  HgClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_socket_receive_with_blocking (socket, ensure_read_buffer (client), READ_CHUNK, FALSE, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  if (n > 0)
    {
      g_byte_array_append (client->buffer, (const guint8 *) client->read_buffer, n);
      if (client->buffer->len - client->head_length < WATCH_MAX_BYTES)
        return G_SOURCE_CONTINUE;
    }
  else if (n == 0 && !client->asking && (condition & (G_IO_HUP | G_IO_ERR)) == 0)
    {
      /* The client shut down its sending side or closed, which the proxy
       * cannot tell apart before it writes. Unless a person is asked, the
       * request goes on: a half-closed client (`nc -N`) gets its response,
       * and writing it shows whether the client is still there. A reset
       * still counts, so the watch goes on for it alone. */
      g_debug ("%s: the client stopped sending; its request goes on", client->peer);
      g_clear_pointer (&client->watch, g_source_unref);
      watch (client, G_IO_HUP | G_IO_ERR);
      return G_SOURCE_REMOVE;
    }
  else
    {
      g_debug ("%s: the client closed before its request was answered", client->peer);
      client->client_closed = TRUE;
      g_cancellable_cancel (client->cancellable);
    }

  g_clear_pointer (&client->watch, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
attach_watch (HgClient          *client,
              GIOCondition       condition,
              GSocketSourceFunc  callback)
{
  GSocket *socket = g_socket_connection_get_socket (client->connection);

  client->watch = g_socket_create_source (socket, condition, NULL);
  g_source_set_callback (client->watch, G_SOURCE_FUNC (callback), client, NULL);
  g_source_attach (client->watch, g_main_context_get_thread_default ());
}

static void
watch (HgClient     *client,
       GIOCondition  condition)
{
  attach_watch (client, condition, watch_cb);
}

static gboolean
reset_cb (GSocket      *socket,
          GIOCondition  condition,
          gpointer      user_data)
{
  HgClient *client = user_data;

  g_debug ("%s: the client reset its connection during a forward", client->peer);
  client->client_closed = TRUE;
  g_cancellable_cancel (client->cancellable);

  g_clear_pointer (&client->watch, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* Replaces the watch with one that reads nothing and fires only when the
 * connection fails, which a socket reports as G_IO_HUP or G_IO_ERR. A
 * client that merely shut down its sending side does not fire it. */
static void
watch_reset (HgClient *client)
{
  unwatch (client);
  attach_watch (client, G_IO_HUP | G_IO_ERR, reset_cb);
}

static void
decide (HgClient *client)
{
  HgPolicyContext context;
  gboolean connect = hg_request_head_is_connect (client->head);

  watch (client, G_IO_IN | G_IO_HUP | G_IO_ERR);
  client->policy = hg_proxy_server_dup_policy (client->server);
  hg_proxy_server_get_policy_context (client->server, &context);

  client->asking = hg_policy_decide_async (client->policy, &context, client->head->authority,
                                           connect ? "connect" : "http", !goes_upstream (client),
                                           client->cancellable, decide_cb, g_object_ref (client));
}

/* Checks whether the buffer holds a complete head: if so handles it, if
 * not reads more, and responds with 431 once it cannot fit. */
/* The reason names this proxy's address, because the proxies in between
 * quote it in their own refusals. */
static void
refuse_loop (HgClient *client)
{
  GSocketAddress *own = G_SOCKET_ADDRESS (hg_proxy_server_get_address (client->server));
  g_autofree char *address = hg_socket_address_to_string (own);
  g_autofree char *reason = NULL;

  /* Translators: %s is the proxy's address and port, such as 127.0.0.1:8080. */
  reason = g_strdup_printf (_("forwarding loop: the request came back to the proxy at %s through "
                              "its upstream proxy; check that proxy's --upstream-proxy"), address);
  refuse (client, "error", 508, reason, NULL);
}

static void
handle_head (HgClient *client)
{
  g_autoptr(GError) error = NULL;
  gsize end;

  end = hg_request_head_find_end ((const char *) client->buffer->data, client->buffer->len);
  if (end == 0 && !hg_request_head_is_too_large (client->buffer->len))
    {
      read_head (client);
      return;
    }

  g_clear_handle_id (&client->timeout_id, g_source_remove);
  client->head_time = g_get_monotonic_time ();
  if (end == 0)
    {
      refuse (client, "error", 431, _("the request head is larger than 64 KiB"), NULL);
      return;
    }

  client->head_length = end;
  client->head = hg_request_head_parse ((const char *) client->buffer->data, end, &error);
  if (client->head == NULL)
    {
      refuse (client, "error", error->domain == HG_HTTP_ERROR ? (guint) error->code : 400,
              error->message, NULL);
      return;
    }

  /* Only an upstream proxy that sends requests back here makes a loop,
   * and the token check would hide it behind a 407. */
  if (hg_request_head_is_looped (client->head))
    {
      refuse_loop (client);
      return;
    }

  /* Before any filtering, lookup or question, so that a client without
   * the token learns nothing about the policy. */
  if (!check_token (client))
    {
      refuse (client, "error", 407, _("proxy authentication required"), NULL);
      return;
    }
  client->authenticated = TRUE;

  if (client->head->authority == NULL)
    {
      refuse (client, "error", 400,
              _("a proxy request needs an absolute http:// URI or CONNECT host:port"), NULL);
      return;
    }

  decide (client);
}

/**
 * hg_client_run_async:
 * @client: the client
 * @callback: called when the connection is closed
 * @user_data: data for @callback
 *
 * Serves the connection until it closes: reads each request head,
 * authenticates, decides, and tunnels or forwards.
 */
void
hg_client_run_async (HgClient            *client,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_return_if_fail (HG_IS_CLIENT (client));
  g_return_if_fail (client->task == NULL);

  client->task = g_task_new (client, NULL, callback, user_data);
  g_task_set_source_tag (client->task, hg_client_run_async);
  g_debug ("%s: accepted", client->peer);

  if (client->over_limit)
    {
      g_autofree char *reason = NULL;

      reason = g_strdup_printf (_("too many connections to the proxy: the limit set by --max-connections is %u"),
                                client->options->max_connections);
      client->head_time = g_get_monotonic_time ();
      refuse (client, "error", 503, reason, NULL);
      return;
    }

  read_head (client);
}

gboolean
hg_client_run_finish (HgClient     *client,
                      GAsyncResult *result,
                      GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * hg_client_shutdown:
 * @client: the client
 *
 * Closes the connection if it is waiting for a request that has not
 * started; a request in progress may finish, but the connection is not
 * kept alive after it.
 */
void
hg_client_shutdown (HgClient *client)
{
  client->shutting_down = TRUE;
  if (client->reading_head && client->buffer->len == 0)
    g_cancellable_cancel (client->read_cancellable);
}

/**
 * hg_client_abort:
 * @client: the client
 *
 * Stops everything the client is doing and closes its connection.
 */
void
hg_client_abort (HgClient *client)
{
  client->shutting_down = TRUE;
  g_cancellable_cancel (client->cancellable);
  if (client->read_cancellable != NULL)
    g_cancellable_cancel (client->read_cancellable);
  if (client->tunnel != NULL)
    hg_tunnel_close (client->tunnel);
}
