/* test-forward.c: forwarding plain HTTP requests to a local origin
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A SoupServer on 127.0.0.1 in this process is the origin. The client is
 * one end of a real TCP connection. The forwarder gets the other end,
 * reads the request body from it and writes the response to it.
 */
#include "config.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <gio/gnetworking.h>

#include "hg-forward.h"
#include "hg-request-head.h"

#define MAX_BODY (64 * 1024)
#define TIMEOUT_SECS 10
#define LARGE_SIZE ((guint64) 256 * 1024 * 1024)
#define LARGE_PIECE (256 * 1024)
/* Allowed growth of this process's resident memory while the large
 * response passes: far below its size, above allocator noise. */
#define LARGE_RSS_MARGIN_KIB (48 * 1024)

/* AddressSanitizer keeps freed blocks in a quarantine (256 MiB by
 * default), which would show as resident memory in the large-response
 * test. A small quarantine keeps that measurement meaningful. */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "quarantine_size_mb=4";
}

/* ------------------------------------------------------------------ */
/* The origin                                                          */

static SoupServer *origin;
static guint16 origin_port;
static GHashTable *origin_hits;        /* path → count */
static char *origin_last_headers;      /* "Name: value\n" lines */
static GBytes *origin_last_body;
static char *origin_last_peer;         /* the forwarder's address:port */
static GBytes *gzip_body;
static guint8 large_piece[LARGE_PIECE];

/* Requests to /gather wait until this many have arrived, then all get
 * their response. A request that waited for another's connection to the
 * origin would never arrive, so none would end. */
#define GATHER_COUNT 80
static GPtrArray *gathered;            /* SoupServerMessage, paused */

/* A bare origin in a thread of its own: it records each request head
 * byte for byte, which SoupServer does not expose. */
static GSocketService *raw_origin;
static guint16 raw_origin_port;
static GMutex raw_origin_lock;
static char *raw_origin_head;

/* A listener given as http_proxy, which the forwarder must not use. */
static GSocket *trap;

static guint
origin_hit_count (const char *path)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (origin_hits, path));
}

static void
large_wrote_chunk_cb (SoupServerMessage *message,
                      guint64           *sent)
{
  SoupMessageBody *body = soup_server_message_get_response_body (message);
  gsize size = (gsize) MIN ((guint64) LARGE_PIECE, LARGE_SIZE - *sent);

  if (size == 0)
    {
      soup_message_body_complete (body);
      return;
    }

  soup_message_body_append (body, SOUP_MEMORY_STATIC, large_piece, size);
  *sent += size;
}

static void
serve_large (SoupServerMessage *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (message);
  SoupMessageBody *body = soup_server_message_get_response_body (message);
  guint64 *sent = g_new0 (guint64, 1);

  soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_length (headers, (goffset) LARGE_SIZE);
  soup_message_body_set_accumulate (body, FALSE);
  g_signal_connect_data (message, "wrote-chunk", G_CALLBACK (large_wrote_chunk_cb),
                         sent, (GClosureNotify) (void (*) (void)) g_free, 0);
  large_wrote_chunk_cb (message, sent);
}

static void
serve_chunked (SoupServerMessage *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (message);
  SoupMessageBody *body = soup_server_message_get_response_body (message);

  soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_append (body, SOUP_MEMORY_STATIC, "first,", 6);
  soup_message_body_append (body, SOUP_MEMORY_STATIC, "second,", 7);
  soup_message_body_append (body, SOUP_MEMORY_STATIC, "third", 5);
  soup_message_body_complete (body);
}

static void
gather (SoupServerMessage *message)
{
  soup_server_message_pause (message);
  g_ptr_array_add (gathered, g_object_ref (message));
  if (gathered->len < GATHER_COUNT)
    return;

  for (guint i = 0; i < gathered->len; i++)
    {
      SoupServerMessage *waiting = g_ptr_array_index (gathered, i);

      soup_server_message_set_response (waiting, "text/plain", SOUP_MEMORY_STATIC, "all here", 8);
      soup_server_message_set_status (waiting, SOUP_STATUS_OK, NULL);
      soup_server_message_unpause (waiting);
    }
  g_ptr_array_set_size (gathered, 0);
}

static void
origin_cb (SoupServer        *server,
           SoupServerMessage *message,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (message);
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (message);
  SoupMessageBody *request_body = soup_server_message_get_request_body (message);
  GString *seen = g_string_new (NULL);
  SoupMessageHeadersIter iter;
  const char *name, *value;

  g_hash_table_insert (origin_hits, g_strdup (path),
                       GUINT_TO_POINTER (origin_hit_count (path) + 1));

  soup_message_headers_iter_init (&iter, request_headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_string_append_printf (seen, "%s: %s\n", name, value);
  g_free (origin_last_headers);
  origin_last_headers = g_string_free (seen, FALSE);

  g_clear_pointer (&origin_last_body, g_bytes_unref);
  origin_last_body = soup_message_body_flatten (request_body);
  g_free (origin_last_peer);
  origin_last_peer = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (soup_server_message_get_remote_address (message)));

  if (g_str_equal (path, "/hello"))
    {
      soup_message_headers_append (response_headers, "X-Origin", "yes");
      soup_server_message_set_response (message, "text/plain", SOUP_MEMORY_STATIC,
                                        "hello, world\n", 13);
      soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
    }
  else if (g_str_equal (path, "/peer"))
    {
      soup_server_message_set_response (message, "text/plain", SOUP_MEMORY_STATIC, "peer", 4);
      soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
    }
  else if (g_str_equal (path, "/headers"))
    {
      soup_server_message_set_response (message, "text/plain", SOUP_MEMORY_COPY,
                                        origin_last_headers, strlen (origin_last_headers));
      soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
    }
  else if (g_str_equal (path, "/gzip"))
    {
      soup_message_headers_append (response_headers, "Content-Encoding", "gzip");
      soup_server_message_set_response (message, "text/plain", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (gzip_body, NULL),
                                        g_bytes_get_size (gzip_body));
      soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
    }
  else if (g_str_equal (path, "/redirect"))
    {
      g_autofree char *location = g_strdup_printf ("http://127.0.0.1:%u/target", origin_port);

      soup_server_message_set_redirect (message, SOUP_STATUS_FOUND, location);
    }
  else if (g_str_equal (path, "/echo"))
    {
      soup_server_message_set_response (message, "application/octet-stream", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (origin_last_body, NULL),
                                        g_bytes_get_size (origin_last_body));
      soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
    }
  else if (g_str_equal (path, "/chunked"))
    {
      serve_chunked (message);
    }
  else if (g_str_equal (path, "/hop"))
    {
      soup_message_headers_append (response_headers, "Connection", "X-Hop");
      soup_message_headers_append (response_headers, "X-Hop", "1");
      soup_message_headers_append (response_headers, "Keep-Alive", "timeout=5");
      soup_message_headers_append (response_headers, "X-End", "2");
      soup_server_message_set_response (message, "text/plain", SOUP_MEMORY_STATIC, "hop", 3);
      soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
    }
  else if (g_str_equal (path, "/auth"))
    {
      soup_message_headers_append (response_headers, "WWW-Authenticate", "Basic realm=\"test\"");
      soup_server_message_set_status (message, SOUP_STATUS_UNAUTHORIZED, NULL);
    }
  else if (g_str_equal (path, "/reason"))
    {
      soup_server_message_set_status (message, 299, "Fine\x01 Thanks");
    }
  else if (g_str_equal (path, "/large"))
    {
      serve_large (message);
    }
  else if (g_str_equal (path, "/gather"))
    {
      gather (message);
    }

  else
    {
      soup_server_message_set_status (message, SOUP_STATUS_NOT_FOUND, NULL);
    }
}

static gboolean
raw_origin_run_cb (GThreadedSocketService *service,
                   GSocketConnection      *connection,
                   GObject                *source,
                   gpointer                user_data)
{
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  static const char eof_reply[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited";
  static const char short_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  GString *head = g_string_new (NULL);
  char byte;

  while (!g_str_has_suffix (head->str, "\r\n\r\n") && head->len < 65536)
    {
      if (g_input_stream_read (input, &byte, 1, NULL, NULL) != 1)
        break;
      g_string_append_c (head, byte);
    }

  g_mutex_lock (&raw_origin_lock);
  g_free (raw_origin_head);
  raw_origin_head = g_strdup (head->str);
  g_mutex_unlock (&raw_origin_lock);

  /* A body without a length ends when the connection closes. */
  if (g_str_has_prefix (head->str, "GET /eof "))
    {
      g_output_stream_write_all (output, eof_reply, sizeof eof_reply - 1, NULL, NULL, NULL);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    }
  else if (g_str_has_prefix (head->str, "GET /truncated "))
    {
      g_output_stream_write_all (output, short_reply, sizeof short_reply - 1, NULL, NULL, NULL);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    }
  else
    {
      g_output_stream_write_all (output, reply, sizeof reply - 1, NULL, NULL, NULL);
    }

  g_string_free (head, TRUE);
  return TRUE;
}

static char *
raw_origin_take_head (void)
{
  char *head;

  g_mutex_lock (&raw_origin_lock);
  head = g_steal_pointer (&raw_origin_head);
  g_mutex_unlock (&raw_origin_lock);
  return head;
}

static void
start_raw_origin (void)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  raw_origin = g_threaded_socket_service_new (2);
  g_socket_listener_add_address (G_SOCKET_LISTENER (raw_origin), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  g_signal_connect (raw_origin, "run", G_CALLBACK (raw_origin_run_cb), NULL);
  raw_origin_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static GBytes *
gzip_compress (const char *text)
{
  g_autoptr(GZlibCompressor) compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
  g_autoptr(GInputStream) plain = g_memory_input_stream_new_from_data (text, -1, NULL);
  g_autoptr(GInputStream) compressed = g_converter_input_stream_new (plain, G_CONVERTER (compressor));
  g_autoptr(GOutputStream) output = g_memory_output_stream_new_resizable ();

  g_output_stream_splice (output, compressed,
                          G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                          NULL, NULL);
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (output));
}

static void
start_origin (void)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;

  origin_hits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gathered = g_ptr_array_new_with_free_func (g_object_unref);
  gzip_body = gzip_compress ("compressed text that must reach the client still compressed\n");
  for (gsize i = 0; i < sizeof large_piece; i++)
    large_piece[i] = (guint8) (i * 7);

  origin = soup_server_new (NULL, NULL);
  soup_server_add_handler (origin, NULL, origin_cb, NULL, NULL);
  soup_server_listen_local (origin, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);

  uris = soup_server_get_uris (origin);
  origin_port = (guint16) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
}

/* Starts a listener and names it in http_proxy, before any thread or
 * the default proxy resolver exists. It never accepts, so connections
 * to it wait in its backlog, where trap_count_connections() finds them. */
static void
start_trap (void)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *proxy = NULL;

  trap = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (trap, address, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (trap, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (trap, FALSE);
  bound = g_socket_get_local_address (trap, &error);
  g_assert_no_error (error);

  proxy = g_strdup_printf ("http://127.0.0.1:%u/",
                           g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_setenv ("http_proxy", proxy, TRUE);
  g_setenv ("HTTP_PROXY", proxy, TRUE);
  g_unsetenv ("no_proxy");
  g_unsetenv ("NO_PROXY");
}

static guint
trap_count_connections (void)
{
  guint count = 0;

  for (;;)
    {
      g_autoptr(GSocket) accepted = g_socket_accept (trap, NULL, NULL);

      if (accepted == NULL)
        return count;
      count++;
    }
}

/* ------------------------------------------------------------------ */
/* The client connection                                               */

typedef struct
{
  GSocketConnection *client;   /* the test's end */
  GSocketConnection *server;   /* the end the forwarder gets */
  GByteArray *received;
  guint64 received_total;
  gsize keep_limit;            /* bytes of the stream kept in received */
  guint64 close_after;         /* closes the test's end after this many bytes */
  guint64 pause_after;         /* stops reading after this many bytes */
  gboolean paused;
  gboolean eof;
  GError *error;
  guint8 buffer[64 * 1024];
} Connection;

static void read_client (Connection *connection);

static void
read_client_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Connection *connection = user_data;
  gssize count = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &connection->error);

  if (count <= 0)
    {
      connection->eof = TRUE;
      return;
    }

  if (connection->received->len < connection->keep_limit)
    g_byte_array_append (connection->received, connection->buffer,
                         (guint) MIN ((gsize) count, connection->keep_limit - connection->received->len));
  connection->received_total += (guint64) count;

  if (connection->close_after > 0 && connection->received_total >= connection->close_after)
    {
      g_io_stream_close (G_IO_STREAM (connection->client), NULL, NULL);
      connection->eof = TRUE;
      return;
    }

  if (connection->pause_after > 0 && connection->received_total >= connection->pause_after)
    {
      connection->paused = TRUE;
      return;
    }

  read_client (connection);
}

static void
read_client (Connection *connection)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection->client));

  g_input_stream_read_async (input, connection->buffer, sizeof connection->buffer,
                             G_PRIORITY_DEFAULT, NULL, read_client_cb, connection);
}

static Connection *
connection_new (void)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  Connection *connection = g_new0 (Connection, 1);

  g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);

  g_socket_client_set_enable_proxy (socket_client, FALSE);
  connection->client = g_socket_client_connect (socket_client, G_SOCKET_CONNECTABLE (bound),
                                                NULL, &error);
  g_assert_no_error (error);
  connection->server = g_socket_listener_accept (listener, NULL, NULL, &error);
  g_assert_no_error (error);

  connection->received = g_byte_array_new ();
  connection->keep_limit = G_MAXSIZE;
  read_client (connection);
  return connection;
}

static void
connection_free (Connection *connection)
{
  g_io_stream_close (G_IO_STREAM (connection->server), NULL, NULL);
  while (!connection->eof && !connection->paused)
    g_main_context_iteration (NULL, TRUE);

  g_io_stream_close (G_IO_STREAM (connection->client), NULL, NULL);
  g_object_unref (connection->client);
  g_object_unref (connection->server);
  g_byte_array_unref (connection->received);
  g_clear_error (&connection->error);
  g_free (connection);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Connection, connection_free)

static void
client_send (Connection *connection,
             const void *data,
             gsize       length)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection->client));
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (output, data, length, NULL, NULL, &error);
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------ */
/* Waiting with a deadline                                             */

static gboolean
deadline_cb (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*Condition) (gpointer data);

/* Iterates the main context until @condition holds; fails the test when
 * @seconds pass first. */
static void
wait_until (Condition   condition,
            gpointer    data,
            guint       seconds)
{
  gboolean expired = FALSE;
  guint deadline = g_timeout_add_seconds (seconds, deadline_cb, &expired);

  while (!condition (data) && !expired)
    g_main_context_iteration (NULL, TRUE);

  if (expired)
    g_error ("condition not met within %u seconds", seconds);
  g_source_remove (deadline);
}

/* ------------------------------------------------------------------ */
/* Forwarding                                                          */

typedef struct
{
  HgForwarder *forwarder;
  gboolean done;
  gboolean ok;
  gboolean keep_alive;
  GBytes *pending;
  guint64 bytes_up;
  guint64 bytes_down;
  gboolean response_started;
  guint status;
  GError *error;
} Outcome;

static void
outcome_clear (Outcome *outcome)
{
  g_clear_pointer (&outcome->pending, g_bytes_unref);
  g_clear_error (&outcome->error);
  memset (outcome, 0, sizeof *outcome);
}

static void
forward_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Outcome *outcome = user_data;

  outcome->ok = hg_forwarder_forward_finish (outcome->forwarder, result, &outcome->keep_alive,
                                             &outcome->pending, &outcome->bytes_up,
                                             &outcome->bytes_down, &outcome->response_started,
                                             &outcome->status, &outcome->error);
  outcome->done = TRUE;
}

static gboolean
outcome_is_done (gpointer data)
{
  return ((Outcome *) data)->done;
}

static GPtrArray *
loopback_addresses (void)
{
  GPtrArray *addresses = g_ptr_array_new_with_free_func (g_object_unref);

  g_ptr_array_add (addresses, g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4));
  return addresses;
}

/* Parses the request head at the start of @request, forwards it with the
 * bytes after the head as already read, and waits for the outcome. */
static void
forward_with_pending (HgForwarder *forwarder,
                      Connection  *connection,
                      const char  *request,
                      gsize        length,
                      GBytes      *extra_pending,
                      GPtrArray   *addresses,
                      guint        seconds,
                      Outcome     *outcome)
{
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GBytes) pending = NULL;
  g_autoptr(GError) error = NULL;
  gsize head_length = hg_request_head_find_end (request, length);

  g_assert_cmpuint (head_length, >, 0);
  head = hg_request_head_parse (request, head_length, &error);
  g_assert_no_error (error);

  if (extra_pending != NULL)
    pending = g_bytes_ref (extra_pending);
  else
    pending = g_bytes_new (request + head_length, length - head_length);

  outcome_clear (outcome);
  outcome->forwarder = forwarder;
  hg_forwarder_forward_async (forwarder, head, G_IO_STREAM (connection->server), pending,
                              addresses, NULL, forward_cb, outcome);
  g_clear_pointer (&head, hg_request_head_free);
  wait_until (outcome_is_done, outcome, seconds);
}

static void
forward (HgForwarder *forwarder,
         Connection  *connection,
         const char  *request,
         Outcome     *outcome)
{
  g_autoptr(GPtrArray) addresses = loopback_addresses ();

  forward_with_pending (forwarder, connection, request, strlen (request), NULL,
                        addresses, 30, outcome);
}

/* ------------------------------------------------------------------ */
/* Reading the response the client got                                 */

typedef struct
{
  guint status;
  char *reason;
  SoupMessageHeaders *headers;
  GByteArray *body;
  gsize length;                /* bytes of the stream it took */
} Response;

static void
response_clear (Response *response)
{
  g_clear_pointer (&response->reason, g_free);
  g_clear_pointer (&response->headers, soup_message_headers_unref);
  g_clear_pointer (&response->body, g_byte_array_unref);
}

/* Decodes a chunked body. Returns the bytes it took, or 0 when it is
 * incomplete. */
static gsize
decode_chunked (const guint8 *data,
                gsize         length,
                GByteArray   *body)
{
  gsize pos = 0;

  for (;;)
    {
      const guint8 *lf = memchr (data + pos, '\n', length - pos);
      guint64 size;
      char *end;

      if (lf == NULL)
        return 0;
      size = g_ascii_strtoull ((const char *) data + pos, &end, 16);
      g_assert_true ((const guint8 *) end == lf - 1);
      g_assert_cmpint (*end, ==, '\r');
      pos = (gsize) (lf - data) + 1;

      if (size == 0)
        {
          if (length - pos < 2)
            return 0;
          g_assert_cmpmem (data + pos, 2, "\r\n", 2);
          return pos + 2;
        }

      if (length - pos < size + 2)
        return 0;
      g_byte_array_append (body, data + pos, (guint) size);
      g_assert_cmpmem (data + pos + size, 2, "\r\n", 2);
      pos += size + 2;
    }
}

/* Parses one response at @offset of what the client received. Returns
 * FALSE while it is incomplete. */
static gboolean
parse_response (Connection *connection,
                gsize       offset,
                gboolean    is_head,
                Response   *response)
{
  const guint8 *data = connection->received->data + offset;
  gsize length = connection->received->len - offset;
  gsize head_length = hg_request_head_find_end ((const char *) data, length);
  SoupHTTPVersion version;
  goffset content_length;

  if (head_length == 0)
    return FALSE;

  response_clear (response);
  response->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_assert_true (soup_headers_parse_response ((const char *) data, (int) head_length,
                                              response->headers, &version,
                                              &response->status, &response->reason));
  g_assert_cmpint (version, ==, SOUP_HTTP_1_1);
  response->body = g_byte_array_new ();

  if (is_head || response->status == 204 || response->status == 304)
    {
      response->length = head_length;
      return TRUE;
    }

  if (soup_message_headers_get_encoding (response->headers) == SOUP_ENCODING_CHUNKED)
    {
      gsize consumed = decode_chunked (data + head_length, length - head_length, response->body);

      response->length = head_length + consumed;
      return consumed > 0;
    }

  content_length = soup_message_headers_get_content_length (response->headers);
  if (soup_message_headers_get_encoding (response->headers) == SOUP_ENCODING_CONTENT_LENGTH)
    {
      if (length - head_length < (gsize) content_length)
        return FALSE;
      g_byte_array_append (response->body, data + head_length, (guint) content_length);
      response->length = head_length + (gsize) content_length;
      return TRUE;
    }

  if (!connection->eof)
    return FALSE;
  g_byte_array_append (response->body, data + head_length, (guint) (length - head_length));
  response->length = length;
  return TRUE;
}

typedef struct
{
  Connection *connection;
  gsize offset;
  gboolean is_head;
  Response *response;
} ResponseWait;

static gboolean
response_is_complete (gpointer data)
{
  ResponseWait *wait = data;

  return parse_response (wait->connection, wait->offset, wait->is_head, wait->response)
         || wait->connection->eof;
}

static void
wait_for_response (Connection *connection,
                   gsize       offset,
                   gboolean    is_head,
                   Response   *response)
{
  ResponseWait wait = { connection, offset, is_head, response };

  wait_until (response_is_complete, &wait, 30);
  g_assert_true (parse_response (connection, offset, is_head, response));
}

static gboolean
has_header_line (const char *lines,
                 const char *line)
{
  g_autofree char *needle = g_strdup_printf ("\n%s\n", line);

  return g_str_has_prefix (lines, needle + 1) || strstr (lines, needle) != NULL;
}

static gboolean
has_header_name (const char *lines,
                 const char *name)
{
  g_auto(GStrv) split = g_strsplit (lines, "\n", -1);
  gsize name_length = strlen (name);

  for (guint i = 0; split[i] != NULL; i++)
    {
      if (g_ascii_strncasecmp (split[i], name, name_length) == 0 && split[i][name_length] == ':')
        return TRUE;
    }

  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */

static char *
request_for (const char *method,
             const char *path,
             const char *extra_headers)
{
  return g_strdup_printf ("%s http://127.0.0.1:%u%s HTTP/1.1\r\n"
                          "Host: 127.0.0.1:%u\r\n"
                          "%s"
                          "\r\n",
                          method, origin_port, path, origin_port, extra_headers);
}

static void
test_get_passes (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/hello", "");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_true (outcome.keep_alive);
  g_assert_true (outcome.response_started);
  g_assert_cmpuint (outcome.status, ==, 200);
  g_assert_cmpuint (outcome.bytes_up, ==, 0);
  g_assert_cmpuint (outcome.bytes_down, ==, 13);
  g_assert_cmpuint (g_bytes_get_size (outcome.pending), ==, 0);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpstr (response.reason, ==, "OK");
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "X-Origin"), ==, "yes");
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Content-Type"), ==, "text/plain");
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Content-Length"), ==, "13");
  g_assert_null (soup_message_headers_get_one (response.headers, "Connection"));
  g_assert_cmpmem (response.body->data, response.body->len, "hello, world\n", 13);
  g_assert_cmpuint (response.length, ==, connection->received->len);

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_request_headers_hop_by_hop (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/headers",
                                          "Connection: keep-alive, X-Secret\r\n"
                                          "X-Secret: 1\r\n"
                                          "Keep-Alive: 300\r\n"
                                          "Proxy-Connection: keep-alive\r\n"
                                          "Proxy-Authorization: Basic aGc6dG9rZW4=\r\n"
                                          "TE: trailers\r\n"
                                          "Trailer: X-Checksum\r\n"
                                          "User-Agent: test-agent/1\r\n"
                                          "Cookie: a=b\r\n"
                                          "X-Keep: yes\r\n");
  Outcome outcome = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);

  g_assert_false (has_header_name (origin_last_headers, "Connection"));
  g_assert_false (has_header_name (origin_last_headers, "X-Secret"));
  g_assert_false (has_header_name (origin_last_headers, "Keep-Alive"));
  g_assert_false (has_header_name (origin_last_headers, "Proxy-Connection"));
  g_assert_false (has_header_name (origin_last_headers, "Proxy-Authorization"));
  g_assert_false (has_header_name (origin_last_headers, "TE"));
  g_assert_false (has_header_name (origin_last_headers, "Trailer"));
  g_assert_true (has_header_line (origin_last_headers, "X-Keep: yes"));
  g_assert_true (has_header_line (origin_last_headers, "Cookie: a=b"));
  g_assert_true (has_header_line (origin_last_headers, "User-Agent: test-agent/1"));

  outcome_clear (&outcome);
}

/* libsoup adds nothing of its own: no Accept-Encoding, User-Agent,
 * Accept-Language, Connection or Content-Length on a bodiless GET. */
static void
test_request_headers_nothing_added (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/headers", "Accept: */*\r\n");
  g_autofree char *host = g_strdup_printf ("Host: 127.0.0.1:%u", origin_port);
  g_auto(GStrv) lines = NULL;
  Outcome outcome = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);

  /* libsoup stores well-known headers first, so only the set counts. */
  lines = g_strsplit (origin_last_headers, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_true (has_header_line (origin_last_headers, host));
  g_assert_true (has_header_line (origin_last_headers, "Accept: */*"));

  outcome_clear (&outcome);
}

/* The Host header comes from the URI, and the URI's name is never looked
 * up: .invalid names do not resolve, yet the request reaches the origin. */
static void
test_request_host_from_uri (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://pinned.invalid:%u/headers HTTP/1.1\r\n"
                                              "Host: other.example\r\n\r\n",
                                              origin_port);
  g_autofree char *expected = g_strdup_printf ("Host: pinned.invalid:%u", origin_port);
  Outcome outcome = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_true (has_header_line (origin_last_headers, expected));
  g_assert_false (has_header_line (origin_last_headers, "Host: other.example"));

  outcome_clear (&outcome);
}

/* The request line and headers reach the origin exactly: path and query
 * bytes as sent (dot segments and escapes that URI normalisation would
 * rewrite included), Host from the URI, and nothing libsoup would add
 * (Accept-Encoding, User-Agent, Accept-Language, Connection). */
static void
test_request_exact (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://raw.invalid:%u/a/../x/%%7e%%41?q=%%2F&b HTTP/1.1\r\n"
                                              "Accept: */*\r\n"
                                              "X-Custom:  spaced value\r\n\r\n",
                                              raw_origin_port);
  g_autofree char *host = g_strdup_printf ("Host: raw.invalid:%u", raw_origin_port);
  g_autofree char *head = NULL;
  g_auto(GStrv) lines = NULL;
  Outcome outcome = { 0 };

  g_free (raw_origin_take_head ());
  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);

  head = raw_origin_take_head ();
  g_assert_nonnull (head);
  lines = g_strsplit (head, "\r\n", -1);
  /* The request line, three headers in libsoup's storage order, and the
   * empty line (two empty strings after the split). */
  g_assert_cmpuint (g_strv_length (lines), ==, 6);
  g_assert_cmpstr (lines[0], ==, "GET /a/../x/%7e%41?q=%2F&b HTTP/1.1");
  g_assert_true (g_strv_contains ((const char * const *) lines, host));
  g_assert_true (g_strv_contains ((const char * const *) lines, "Accept: */*"));
  g_assert_true (g_strv_contains ((const char * const *) lines, "X-Custom: spaced value"));

  outcome_clear (&outcome);
}

static void
test_response_gzip (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/gzip", "Accept-Encoding: gzip\r\n");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_true (has_header_line (origin_last_headers, "Accept-Encoding: gzip"));

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Content-Encoding"), ==, "gzip");
  g_assert_cmpmem (response.body->data, response.body->len,
                   g_bytes_get_data (gzip_body, NULL), g_bytes_get_size (gzip_body));

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_response_redirect_not_followed (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/redirect", "");
  g_autofree char *location = g_strdup_printf ("http://127.0.0.1:%u/target", origin_port);
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 302);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Location"), ==, location);
  g_assert_cmpuint (origin_hit_count ("/target"), ==, 0);

  response_clear (&response);
  outcome_clear (&outcome);
}

/* A 401 reaches the client with its challenge, and the forwarder does
 * not retry the request with credentials. */
static void
test_response_auth_passed (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/auth", "");
  guint hits_before = origin_hit_count ("/auth");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 401);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "WWW-Authenticate"), ==,
                   "Basic realm=\"test\"");
  g_assert_cmpuint (origin_hit_count ("/auth"), ==, hits_before + 1);

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_response_reason_sanitized (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/reason", "");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 299);
  g_assert_cmpstr (response.reason, ==, "Fine Thanks");

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_response_hop_by_hop (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/hop", "");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_null (soup_message_headers_get_one (response.headers, "X-Hop"));
  g_assert_null (soup_message_headers_get_one (response.headers, "Keep-Alive"));
  g_assert_null (soup_message_headers_get_one (response.headers, "Connection"));
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "X-End"), ==, "2");

  response_clear (&response);
  outcome_clear (&outcome);
}

static guint8 *
binary_body (gsize length)
{
  guint8 *body = g_malloc (length);

  for (gsize i = 0; i < length; i++)
    body[i] = (guint8) ((i * 31) ^ (i >> 8));
  return body;
}

/* Half of the body arrives with the head (pending), half on the socket. */
static void
test_request_length_body (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  gsize body_length = 40000;
  g_autofree guint8 *body = binary_body (body_length);
  g_autofree char *headers = g_strdup_printf ("Content-Length: %" G_GSIZE_FORMAT "\r\n"
                                              "Content-Type: application/octet-stream\r\n",
                                              body_length);
  g_autofree char *head = request_for ("POST", "/echo", headers);
  g_autoptr(GByteArray) request = g_byte_array_new ();
  g_autoptr(GBytes) pending = g_bytes_new (body, body_length / 2);
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autofree char *expected_length = g_strdup_printf ("Content-Length: %" G_GSIZE_FORMAT, body_length);
  Outcome outcome = { 0 };
  Response response = { 0 };

  client_send (connection, body + body_length / 2, body_length - body_length / 2);
  g_byte_array_append (request, (const guint8 *) head, (guint) strlen (head));
  forward_with_pending (forwarder, connection, (const char *) request->data, request->len,
                        pending, addresses, 30, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_cmpuint (outcome.bytes_up, ==, body_length);

  g_assert_cmpmem (g_bytes_get_data (origin_last_body, NULL), g_bytes_get_size (origin_last_body),
                   body, body_length);
  g_assert_true (has_header_line (origin_last_headers, expected_length));
  g_assert_true (has_header_line (origin_last_headers, "Content-Type: application/octet-stream"));

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpmem (response.body->data, response.body->len, body, body_length);

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_request_chunked_body (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *head = request_for ("POST", "/echo", "Transfer-Encoding: chunked\r\n");
  static const char chunks[] = "5;name=value\r\nhello\r\n"
                               "1\r\n,\r\n"
                               "A\r\n world\r\n\0\x01\r\n"
                               "0\r\n"
                               "X-Trailer: dropped\r\n"
                               "\r\n"
                               "GET /next";
  static const char expected[] = "hello, world\r\n\0\x01";
  g_autofree char *request = NULL;
  g_autoptr(GBytes) pending = g_bytes_new (chunks, 20);
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  Outcome outcome = { 0 };

  /* The first 20 bytes come with the head, the rest from the socket,
   * including the start of a pipelined request. */
  client_send (connection, chunks + 20, sizeof chunks - 1 - 20);
  forward_with_pending (forwarder, connection, head, strlen (head), pending,
                        addresses, 30, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_cmpuint (outcome.bytes_up, ==, sizeof expected - 1);

  g_assert_cmpmem (g_bytes_get_data (origin_last_body, NULL), g_bytes_get_size (origin_last_body),
                   expected, sizeof expected - 1);
  g_assert_false (has_header_name (origin_last_headers, "Transfer-Encoding"));
  g_assert_false (has_header_name (origin_last_headers, "X-Trailer"));
  g_assert_true (has_header_line (origin_last_headers, "Content-Length: 16"));
  g_assert_cmpmem (g_bytes_get_data (outcome.pending, NULL), g_bytes_get_size (outcome.pending),
                   "GET /next", 9);

  outcome_clear (&outcome);
}

static void
test_request_too_large (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (1000, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("POST", "/echo", "Content-Length: 1001\r\n");
  guint hits_before = origin_hit_count ("/echo");
  Outcome outcome = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 413);
  g_assert_nonnull (strstr (outcome.error->message, "1000 bytes"));
  g_assert_false (outcome.response_started);
  g_assert_false (outcome.keep_alive);
  g_assert_cmpuint (origin_hit_count ("/echo"), ==, hits_before);
  g_assert_cmpuint (connection->received->len, ==, 0);

  outcome_clear (&outcome);
}

static void
test_request_chunked_too_large (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (1000, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *head = request_for ("POST", "/echo", "Transfer-Encoding: chunked\r\n");
  g_autofree char *request = g_strconcat (head, "3e8\r\n", NULL);
  g_autofree char *filler = g_strnfill (1000, 'a');
  guint hits_before = origin_hit_count ("/echo");
  Outcome outcome = { 0 };

  /* 1000 bytes fit; the next chunk of one byte does not. */
  client_send (connection, filler, 1000);
  client_send (connection, "\r\n1\r\nb\r\n0\r\n\r\n", 14);
  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 413);
  g_assert_false (outcome.response_started);
  g_assert_cmpuint (origin_hit_count ("/echo"), ==, hits_before);

  outcome_clear (&outcome);
}

/* Chunk-size lines and trailers are bounded even when they end. */
static void
test_request_chunked_long_lines (void)
{
  g_autofree char *extension = g_strnfill (5000, 'x');
  g_autofree char *trailer_value = g_strnfill (1000, 'y');
  g_autoptr(GString) trailers = g_string_new ("1\r\na\r\n0\r\n");
  g_autofree char *long_size_line = g_strdup_printf ("1;%s\r\na\r\n0\r\n\r\n", extension);
  const char *bodies[2];

  for (guint i = 0; i < 70; i++)
    g_string_append_printf (trailers, "X-Trailer-%u: %s\r\n", i, trailer_value);
  g_string_append (trailers, "\r\n");
  bodies[0] = long_size_line;
  bodies[1] = trailers->str;

  for (gsize i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
      g_autoptr(Connection) connection = connection_new ();
      g_autofree char *head = request_for ("POST", "/echo", "Transfer-Encoding: chunked\r\n");
      g_autofree char *request = g_strconcat (head, bodies[i], NULL);
      Outcome outcome = { 0 };

      forward (forwarder, connection, request, &outcome);
      g_assert_false (outcome.ok);
      g_assert_error (outcome.error, HG_HTTP_ERROR, 400);
      g_assert_nonnull (strstr (outcome.error->message, "longer than"));

      outcome_clear (&outcome);
    }
}

static void
test_request_bad_chunked (void)
{
  static const char * const bodies[] = {
    "zz\r\nhello\r\n0\r\n\r\n",
    "5\r\nhello!!\r\n0\r\n\r\n",
    "5\nhello\r\n0\r\n\r\n",
    "fffffffffffffffff\r\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
      g_autoptr(Connection) connection = connection_new ();
      g_autofree char *head = request_for ("POST", "/echo", "Transfer-Encoding: chunked\r\n");
      g_autofree char *request = g_strconcat (head, bodies[i], NULL);
      Outcome outcome = { 0 };

      forward (forwarder, connection, request, &outcome);
      g_assert_false (outcome.ok);
      g_assert_error (outcome.error, HG_HTTP_ERROR, 400);
      g_assert_false (outcome.response_started);

      outcome_clear (&outcome);
    }
}

/* A client that closes before the body is complete gets a 400. */
static void
test_request_body_short (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("POST", "/echo", "Content-Length: 10\r\n");
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection->client));
  GSocket *socket = g_socket_connection_get_socket (connection->client);
  Outcome outcome = { 0 };

  client_send (connection, "12345", 5);
  g_output_stream_flush (output, NULL, NULL);
  g_socket_shutdown (socket, FALSE, TRUE, NULL);
  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 400);
  g_assert_cmpstr (outcome.error->message, ==,
                   "the client closed the connection after 5 of 10 request body bytes");
  g_assert_false (outcome.response_started);

  outcome_clear (&outcome);
}

/* The same for a chunked body, whose full length is unknown. */
static void
test_request_chunked_body_short (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("POST", "/echo", "Transfer-Encoding: chunked\r\n");
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection->client));
  GSocket *socket = g_socket_connection_get_socket (connection->client);
  Outcome outcome = { 0 };

  client_send (connection, "5\r\n12345\r\n", 10);
  g_output_stream_flush (output, NULL, NULL);
  g_socket_shutdown (socket, FALSE, TRUE, NULL);
  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 400);
  g_assert_cmpstr (outcome.error->message, ==,
                   "the client closed the connection after 5 bytes of the chunked request body");
  g_assert_false (outcome.response_started);

  outcome_clear (&outcome);
}

/* With Expect: 100-continue, the body is sent only after the interim
 * response, and the origin does not see Expect. */
static void
test_request_expect_continue (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("POST", "/echo",
                                          "Content-Length: 4\r\nExpect: 100-continue\r\n");
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GError) error = NULL;
  static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
  Outcome outcome = { 0 };
  Response response = { 0 };

  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);
  outcome.forwarder = forwarder;
  hg_forwarder_forward_async (forwarder, head, G_IO_STREAM (connection->server), NULL,
                              addresses, NULL, forward_cb, &outcome);

  while (connection->received->len < sizeof interim - 1)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpmem (connection->received->data, sizeof interim - 1, interim, sizeof interim - 1);
  g_assert_false (outcome.done);

  client_send (connection, "ping", 4);
  wait_until (outcome_is_done, &outcome, 30);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_false (has_header_name (origin_last_headers, "Expect"));

  wait_for_response (connection, sizeof interim - 1, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpmem (response.body->data, response.body->len, "ping", 4);

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_response_chunked (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/chunked", "");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_true (outcome.keep_alive);
  g_assert_cmpuint (outcome.bytes_down, ==, 18);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Transfer-Encoding"), ==, "chunked");
  g_assert_null (soup_message_headers_get_one (response.headers, "Content-Length"));
  g_assert_cmpmem (response.body->data, response.body->len, "first,second,third", 18);
  g_assert_cmpuint (response.length, ==, connection->received->len);

  response_clear (&response);
  outcome_clear (&outcome);
}

/* A close-delimited origin response is chunked for an HTTP/1.1 client. */
static void
test_response_eof_http11 (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://127.0.0.1:%u/eof HTTP/1.1\r\n\r\n",
                                              raw_origin_port);
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.keep_alive);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Transfer-Encoding"), ==, "chunked");
  g_assert_cmpmem (response.body->data, response.body->len, "close-delimited", 15);

  response_clear (&response);
  outcome_clear (&outcome);
}

/* An origin that closes before its Content-Length ends the forward with
 * an error after the head went out, so the caller closes the client
 * connection and the client sees the body cut short. */
static void
test_response_truncated (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://127.0.0.1:%u/truncated HTTP/1.1\r\n\r\n",
                                              raw_origin_port);
  Outcome outcome = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_nonnull (outcome.error);
  g_assert_true (outcome.response_started);
  g_assert_false (outcome.keep_alive);

  outcome_clear (&outcome);
}

/* An HTTP/1.0 client gets a close-delimited body and no keep-alive. */
static void
test_response_eof_http10 (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://127.0.0.1:%u/chunked HTTP/1.0\r\n"
                                              "Connection: keep-alive\r\n\r\n", origin_port);
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_false (outcome.keep_alive);

  /* The caller closes the connection when keep_alive is FALSE. */
  g_io_stream_close (G_IO_STREAM (connection->server), NULL, NULL);
  wait_for_response (connection, 0, FALSE, &response);
  g_assert_null (soup_message_headers_get_one (response.headers, "Transfer-Encoding"));
  g_assert_null (soup_message_headers_get_one (response.headers, "Content-Length"));
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Connection"), ==, "close");
  g_assert_cmpmem (response.body->data, response.body->len, "first,second,third", 18);

  response_clear (&response);
  outcome_clear (&outcome);
}

/* An HTTP/1.0 client asking for keep-alive keeps it with a length. */
static void
test_response_http10_keep_alive (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://127.0.0.1:%u/hello HTTP/1.0\r\n"
                                              "Connection: keep-alive\r\n\r\n", origin_port);
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.keep_alive);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Connection"), ==, "keep-alive");
  g_assert_cmpmem (response.body->data, response.body->len, "hello, world\n", 13);

  response_clear (&response);
  outcome_clear (&outcome);
}

static void
test_response_head_request (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("HEAD", "/hello", "");
  Outcome outcome = { 0 };
  Response response = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_true (outcome.keep_alive);
  g_assert_cmpuint (outcome.bytes_down, ==, 0);

  wait_for_response (connection, 0, TRUE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (response.headers, "Content-Length"), ==, "13");
  g_assert_cmpuint (response.length, ==, connection->received->len);

  response_clear (&response);
  outcome_clear (&outcome);
}

static guint16
closed_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (socket, address, FALSE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  /* Closing a bound socket that never listened leaves the port refusing
   * connections. */
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_connect_refused (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  guint16 port = closed_port ();
  g_autofree char *request = g_strdup_printf ("GET http://refused.invalid:%u/ HTTP/1.1\r\n\r\n", port);
  g_autofree char *expected = g_strdup_printf ("could not connect to refused.invalid:%u: Connection refused",
                                               port);
  Outcome outcome = { 0 };

  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 502);
  g_assert_cmpstr (outcome.error->message, ==, expected);
  g_assert_null (strpbrk (outcome.error->message, "\r\n"));
  g_assert_false (outcome.response_started);
  g_assert_cmpuint (connection->received->len, ==, 0);

  outcome_clear (&outcome);
}

/* The second vetted address is tried when the first refuses. */
static void
test_connect_next_address (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://two.invalid:%u/hello HTTP/1.1\r\n\r\n",
                                              origin_port);
  g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func (g_object_unref);
  Outcome outcome = { 0 };

  /* 127.0.0.2 is loopback too, but the origin listens on 127.0.0.1 only. */
  g_ptr_array_add (addresses, g_inet_address_new_from_string ("127.0.0.2"));
  g_ptr_array_add (addresses, g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4));
  forward_with_pending (forwarder, connection, request, strlen (request), NULL,
                        addresses, 30, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);

  outcome_clear (&outcome);
}

static void
test_connect_timeout (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, 1);
  g_autoptr(Connection) connection = connection_new ();
  g_autoptr(GSocketListener) silent = g_socket_listener_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  g_autofree char *expected = NULL;
  Outcome outcome = { 0 };

  /* The kernel completes the handshake, but the listener never accepts
   * or replies. */
  g_socket_listener_add_address (silent, address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  request = g_strdup_printf ("GET http://silent.invalid:%u/ HTTP/1.1\r\n\r\n",
                             g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  forward_with_pending (forwarder, connection, request, strlen (request), NULL,
                        addresses, 20, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 504);
  expected = g_strdup_printf ("silent.invalid:%u did not respond within 1 second",
                              g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_assert_cmpstr (outcome.error->message, ==, expected);
  g_assert_false (outcome.response_started);

  outcome_clear (&outcome);
}

/* http_proxy names a listener, and the forwarder must not use it. The
 * address list connectable never consults a proxy resolver, and the
 * sessions have none either. */
static void
test_environment_proxy_ignored (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/hello", "");
  g_autoptr(GProxyResolver) resolver = g_object_ref (g_proxy_resolver_get_default ());
  g_auto(GStrv) proxies = NULL;
  Outcome outcome = { 0 };

  /* The test only means something if the default resolver would proxy. */
  proxies = g_proxy_resolver_lookup (resolver, "http://203.0.113.7/", NULL, NULL);
  g_assert_nonnull (proxies);
  g_assert_true (g_str_has_prefix (proxies[0], "http://127.0.0.1:"));

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_cmpuint (trap_count_connections (), ==, 0);

  outcome_clear (&outcome);
}

/* Through an upstream proxy the request line carries the absolute URI,
 * exactly as sent, and only the upstream's address is connected to. */
static void
test_upstream_absolute_form (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET http://target.invalid:81/a/../b?%%7e HTTP/1.1\r\n"
                                              "Proxy-Authorization: Basic aGc6dG9rZW4=\r\n"
                                              "Accept: */*\r\n\r\n");
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GError) error = NULL;
  g_autofree char *upstream_head = NULL;
  g_autofree char *via_line = g_strdup_printf ("Via: 1.1 %s", hg_request_head_via_name ());
  g_auto(GStrv) lines = NULL;
  Outcome outcome = { 0 };
  Response response = { 0 };

  g_free (raw_origin_take_head ());
  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);
  outcome.forwarder = forwarder;
  hg_forwarder_forward_upstream_async (forwarder, head, G_IO_STREAM (connection->server), NULL,
                                       addresses, raw_origin_port, NULL, forward_cb, &outcome);
  wait_until (outcome_is_done, &outcome, 30);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);

  upstream_head = raw_origin_take_head ();
  g_assert_nonnull (upstream_head);
  lines = g_strsplit (upstream_head, "\r\n", -1);
  g_assert_cmpstr (lines[0], ==, "GET http://target.invalid:81/a/../b?%7e HTTP/1.1");
  g_assert_true (g_strv_contains ((const char * const *) lines, "Host: target.invalid:81"));
  g_assert_true (g_strv_contains ((const char * const *) lines, "Accept: */*"));
  g_assert_true (g_strv_contains ((const char * const *) lines, via_line));
  g_assert_cmpuint (g_strv_length (lines), ==, 6);

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpmem (response.body->data, response.body->len, "ok", 2);

  response_clear (&response);
  outcome_clear (&outcome);
}

typedef struct
{
  const char *target;
  const char *request_line;
  const char *host;
} HostCase;

/* Host comes from the URI: no port for 80, brackets for IPv6, and the
 * normalised name. Through an upstream, any target port can be shown
 * without a listener on it. libsoup 3.2 writes the absolute URI without
 * the default port. */
static const HostCase host_cases[] = {
  { "http://target.invalid/x", "GET http://target.invalid/x HTTP/1.1", "Host: target.invalid" },
  { "http://target.invalid:80/x", "GET http://target.invalid/x HTTP/1.1", "Host: target.invalid" },
  { "http://Target.INVALID./x", "GET http://target.invalid/x HTTP/1.1", "Host: target.invalid" },
  { "http://[2001:db8::1]:8080/x", "GET http://[2001:db8::1]:8080/x HTTP/1.1", "Host: [2001:db8::1]:8080" },
  { "http://[2001:db8::1]/", "GET http://[2001:db8::1]/ HTTP/1.1", "Host: [2001:db8::1]" },
  { "http://192.0.2.7:8080", "GET http://192.0.2.7:8080/ HTTP/1.1", "Host: 192.0.2.7:8080" },
};

static void
test_upstream_host_header (gconstpointer user_data)
{
  const HostCase *host_case = user_data;
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: other.invalid\r\n\r\n",
                                              host_case->target);
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GError) error = NULL;
  g_autofree char *upstream_head = NULL;
  g_auto(GStrv) lines = NULL;
  Outcome outcome = { 0 };

  g_free (raw_origin_take_head ());
  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);
  outcome.forwarder = forwarder;
  hg_forwarder_forward_upstream_async (forwarder, head, G_IO_STREAM (connection->server), NULL,
                                       addresses, raw_origin_port, NULL, forward_cb, &outcome);
  wait_until (outcome_is_done, &outcome, 30);
  g_assert_no_error (outcome.error);

  upstream_head = raw_origin_take_head ();
  g_assert_nonnull (upstream_head);
  lines = g_strsplit (upstream_head, "\r\n", -1);
  g_assert_cmpstr (lines[0], ==, host_case->request_line);
  g_assert_cmpstr (lines[1], ==, host_case->host);
  g_assert_true (g_str_has_prefix (lines[2], "Via: 1.1 hostgate-"));
  g_assert_cmpuint (g_strv_length (lines), ==, 5);

  outcome_clear (&outcome);
}

static void
test_upstream_refused (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = g_strdup ("GET http://target.invalid/ HTTP/1.1\r\n\r\n");
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GError) error = NULL;
  guint16 port = closed_port ();
  g_autofree char *expected = g_strdup_printf ("could not connect to the upstream proxy 127.0.0.1:%u: "
                                               "Connection refused", port);
  Outcome outcome = { 0 };

  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);
  outcome.forwarder = forwarder;
  hg_forwarder_forward_upstream_async (forwarder, head, G_IO_STREAM (connection->server), NULL,
                                       addresses, port, NULL, forward_cb, &outcome);
  wait_until (outcome_is_done, &outcome, 30);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 502);
  g_assert_cmpstr (outcome.error->message, ==, expected);
  g_assert_false (outcome.response_started);

  outcome_clear (&outcome);
}

static void
test_keep_alive_sequence (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *first = request_for ("GET", "/hello", "");
  g_autofree char *second = request_for ("GET", "/chunked", "");
  g_autofree char *both = g_strconcat (first, second, NULL);
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GBytes) pending = NULL;
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  Outcome outcome = { 0 };
  Response response = { 0 };
  gsize first_length;

  /* The second request arrives pipelined right behind the first. */
  forward_with_pending (forwarder, connection, both, strlen (both), NULL, addresses, 30, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.keep_alive);
  pending = g_bytes_ref (outcome.pending);
  g_assert_cmpmem (g_bytes_get_data (pending, NULL), g_bytes_get_size (pending),
                   second, strlen (second));

  wait_for_response (connection, 0, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpmem (response.body->data, response.body->len, "hello, world\n", 13);
  first_length = response.length;

  forward_with_pending (forwarder, connection, g_bytes_get_data (pending, NULL),
                        g_bytes_get_size (pending), empty, addresses, 30, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.keep_alive);

  wait_for_response (connection, first_length, FALSE, &response);
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpmem (response.body->data, response.body->len, "first,second,third", 18);
  g_assert_cmpuint (first_length + response.length, ==, connection->received->len);

  response_clear (&response);
  outcome_clear (&outcome);
}

static gsize
read_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return (gsize) g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
}

typedef struct
{
  Connection *connection;
  guint64 expected;
} TotalWait;

static gboolean
received_total_reached (gpointer data)
{
  TotalWait *wait = data;

  return wait->connection->received_total >= wait->expected || wait->connection->eof;
}

/* 256 MiB pass while this process's memory stays flat, because the
 * forwarder keeps one buffer, not the body. */
static void
test_response_large (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/large", "");
  Outcome outcome = { 0 };
  Response response = { 0 };
  TotalWait wait;
  gsize rss_before, rss_after;
  gsize head_length;

  connection->keep_limit = 4096;
  rss_before = read_rss_kib ();

  forward (forwarder, connection, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.ok);
  g_assert_cmpuint (outcome.bytes_down, ==, LARGE_SIZE);

  head_length = hg_request_head_find_end ((const char *) connection->received->data,
                                          connection->received->len);
  g_assert_cmpuint (head_length, >, 0);
  wait.connection = connection;
  wait.expected = head_length + LARGE_SIZE;
  wait_until (received_total_reached, &wait, 60);
  g_assert_cmpuint (connection->received_total, ==, head_length + LARGE_SIZE);

  rss_after = read_rss_kib ();
  g_test_message ("resident memory before %" G_GSIZE_FORMAT " KiB, after %" G_GSIZE_FORMAT " KiB",
                  rss_before, rss_after);
  g_assert_cmpuint (rss_after, <, rss_before + LARGE_RSS_MARGIN_KIB);

  g_assert_true (parse_response (connection, 0, TRUE, &response));
  g_assert_cmpuint (response.status, ==, 200);
  g_assert_cmpint (soup_message_headers_get_content_length (response.headers), ==, (goffset) LARGE_SIZE);

  response_clear (&response);
  outcome_clear (&outcome);
}

/* A client that goes away mid-body ends the forward with an error after
 * the response started, and the upstream message is aborted. */
static void
test_client_gone_mid_response (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/large", "");
  Outcome outcome = { 0 };

  connection->keep_limit = 4096;
  connection->close_after = 4 * 1024 * 1024;
  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_nonnull (outcome.error);
  g_assert_true (outcome.response_started);
  g_assert_false (outcome.keep_alive);
  g_assert_cmpuint (outcome.bytes_down, <, LARGE_SIZE);

  outcome_clear (&outcome);
}

/* A client that stops reading the response is cut off after the
 * forwarder's timeout instead of holding the forward forever. */
static void
test_client_stops_reading (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, 1);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("GET", "/large", "");
  gint64 start = g_get_monotonic_time ();
  Outcome outcome = { 0 };

  connection->keep_limit = 4096;
  connection->pause_after = 1024 * 1024;
  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (outcome.response_started);
  g_assert_true (connection->paused);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);

  outcome_clear (&outcome);
}

/* A client that stops sending the request body gets a 408. */
static void
test_client_stops_sending (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, 1);
  g_autoptr(Connection) connection = connection_new ();
  g_autofree char *request = request_for ("POST", "/echo", "Content-Length: 10\r\n");
  guint hits_before = origin_hit_count ("/echo");
  Outcome outcome = { 0 };

  client_send (connection, "12345", 5);
  forward (forwarder, connection, request, &outcome);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, HG_HTTP_ERROR, 408);
  g_assert_false (outcome.response_started);
  g_assert_cmpuint (origin_hit_count ("/echo"), ==, hits_before);

  outcome_clear (&outcome);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

/* Cancelling while the body is awaited or while the origin is silent
 * ends the forward with G_IO_ERROR_CANCELLED before any response. */
static void
test_cancel (gconstpointer user_data)
{
  gboolean while_sending = GPOINTER_TO_INT (user_data);
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) connection = connection_new ();
  g_autoptr(GSocketListener) silent = g_socket_listener_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  Outcome outcome = { 0 };

  g_socket_listener_add_address (silent, address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  request = g_strdup_printf ("POST http://silent.invalid:%u/ HTTP/1.1\r\n"
                             "Content-Length: %d\r\n\r\n",
                             g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)),
                             while_sending ? 0 : 10);
  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);

  outcome.forwarder = forwarder;
  hg_forwarder_forward_async (forwarder, head, G_IO_STREAM (connection->server), NULL,
                              addresses, cancellable, forward_cb, &outcome);
  g_timeout_add (100, cancel_cb, cancellable);
  wait_until (outcome_is_done, &outcome, 5);
  g_assert_false (outcome.ok);
  g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (outcome.response_started);

  outcome_clear (&outcome);
}

#define CACHE_CASES 80

typedef struct
{
  Outcome outcomes[CACHE_CASES];
} CacheRun;

static gboolean
all_outcomes_done (gpointer data)
{
  CacheRun *run = data;

  for (guint i = 0; i < CACHE_CASES; i++)
    {
      if (!run->outcomes[i].done)
        return FALSE;
    }

  return TRUE;
}

/* Waits for every forward of @run, checks that each relayed
 * @bytes_down bytes of body, and frees @run and @connections. */
static void
finish_run (CacheRun    *run,
            Connection **connections,
            guint64      bytes_down)
{
  wait_until (all_outcomes_done, run, 60);

  for (guint i = 0; i < CACHE_CASES; i++)
    {
      g_assert_no_error (run->outcomes[i].error);
      g_assert_true (run->outcomes[i].ok);
      g_assert_cmpuint (run->outcomes[i].bytes_down, ==, bytes_down);
      outcome_clear (&run->outcomes[i]);
      connection_free (connections[i]);
    }
  g_free (run);
}

/* More concurrent address sets than the forwarder keeps pools for:
 * pools are dropped while their requests still run, and every request
 * ends. */
static void
test_session_cache_overflow (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autofree char *request = request_for ("GET", "/hello", "");
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GError) error = NULL;
  Connection *connections[CACHE_CASES];
  CacheRun *run = g_new0 (CacheRun, 1);

  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);

  for (guint i = 0; i < CACHE_CASES; i++)
    {
      g_autoptr(GPtrArray) addresses = loopback_addresses ();
      g_autofree char *second = g_strdup_printf ("127.0.0.%u", i + 2);

      /* Each set differs in its second address, which is never used
       * because the first one accepts the connection. */
      g_ptr_array_add (addresses, g_inet_address_new_from_string (second));
      connections[i] = connection_new ();
      run->outcomes[i].forwarder = forwarder;
      hg_forwarder_forward_async (forwarder, head, G_IO_STREAM (connections[i]->server), NULL,
                                  addresses, NULL, forward_cb, &run->outcomes[i]);
    }

  finish_run (run, connections, 13);
}

/* Counts this process's sockets connected to the origin's port: the
 * forwarder's side of its origin connections. */
static guint
count_origin_connections (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  guint count = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      struct sockaddr_storage peer;
      socklen_t length = sizeof peer;
      int fd = atoi (name);

      if (getpeername (fd, (struct sockaddr *) &peer, &length) == 0 && peer.ss_family == AF_INET &&
          g_ntohs (((struct sockaddr_in *) &peer)->sin_port) == origin_port)
        count++;
    }

  return count;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
origin_connections_are (gpointer data)
{
  return count_origin_connections () == GPOINTER_TO_UINT (data);
}

/* Waits until the forwarder's side has @expected origin connections. A
 * closed socket sends no event, so a timer wakes the loop to count. */
static void
wait_for_origin_connections (guint expected)
{
  guint tick = g_timeout_add (20, tick_cb, NULL);

  wait_until (origin_connections_are, GUINT_TO_POINTER (expected), 10);
  g_source_remove (tick);
}

/* Concurrent requests to one origin each get a connection of their
 * own at once: none waits for another's connection, however many run. */
static void
test_concurrent_same_origin (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autofree char *request = request_for ("GET", "/gather", "");
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GPtrArray) addresses = loopback_addresses ();
  g_autoptr(GError) error = NULL;
  Connection *connections[CACHE_CASES];
  CacheRun *run = g_new0 (CacheRun, 1);

  G_STATIC_ASSERT (GATHER_COUNT == CACHE_CASES);
  G_STATIC_ASSERT (CACHE_CASES > HG_FORWARDER_IDLE_MAX);
  head = hg_request_head_parse (request, strlen (request), &error);
  g_assert_no_error (error);

  for (guint i = 0; i < CACHE_CASES; i++)
    {
      connections[i] = connection_new ();
      run->outcomes[i].forwarder = forwarder;
      hg_forwarder_forward_async (forwarder, head, G_IO_STREAM (connections[i]->server), NULL,
                                  addresses, NULL, forward_cb, &run->outcomes[i]);
    }

  finish_run (run, connections, 8);

  /* Every session came back, and the forwarder keeps no more idle ones,
   * each with its connection, than the descriptor budget counts. */
  wait_for_origin_connections (HG_FORWARDER_IDLE_MAX);
}

/* Host names on the same addresses, over several address sets: each
 * idle session has one connection, so the forwarder keeps no more
 * idle connections than its limit. libsoup keeps a connection per host
 * name in a session. */
static void
test_idle_limit_with_many_names (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);

  for (guint set = 0; set < 12; set++)
    {
      for (guint name = 0; name < 8; name++)
        {
          g_autoptr(Connection) connection = connection_new ();
          g_autoptr(GPtrArray) addresses = loopback_addresses ();
          g_autofree char *second = g_strdup_printf ("127.0.0.%u", set + 2);
          g_autofree char *request = g_strdup_printf ("GET http://name%u.test:%u/peer HTTP/1.1\r\n"
                                                      "Host: name%u.test:%u\r\n\r\n",
                                                      name, origin_port, name, origin_port);
          Outcome outcome = { 0 };

          g_ptr_array_add (addresses, g_inet_address_new_from_string (second));
          forward_with_pending (forwarder, connection, request, strlen (request), NULL,
                                addresses, 30, &outcome);
          g_assert_no_error (outcome.error);
          outcome_clear (&outcome);
        }
    }

  wait_for_origin_connections (HG_FORWARDER_IDLE_MAX);
}

/* After the response to a HEAD, which has no body, the next request
 * reuses the origin connection. */
static void
test_keep_alive_after_head (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) first = connection_new ();
  g_autoptr(Connection) second = connection_new ();
  g_autofree char *head = request_for ("HEAD", "/peer", "");
  g_autofree char *request = request_for ("GET", "/peer", "");
  g_autofree char *first_peer = NULL;
  Outcome outcome = { 0 };

  forward (forwarder, first, head, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.keep_alive);
  first_peer = g_strdup (origin_last_peer);
  outcome_clear (&outcome);

  forward (forwarder, second, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpstr (origin_last_peer, ==, first_peer);

  outcome_clear (&outcome);
}

/* Two requests through one forwarder reuse one origin connection. */
static void
test_keep_alive_upstream_reuse (void)
{
  g_autoptr(HgForwarder) forwarder = hg_forwarder_new (MAX_BODY, TIMEOUT_SECS);
  g_autoptr(Connection) first = connection_new ();
  g_autoptr(Connection) second = connection_new ();
  g_autofree char *request = request_for ("GET", "/peer", "");
  g_autofree char *first_peer = NULL;
  Outcome outcome = { 0 };

  forward (forwarder, first, request, &outcome);
  g_assert_no_error (outcome.error);
  first_peer = g_strdup (origin_last_peer);

  forward (forwarder, second, request, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpstr (origin_last_peer, ==, first_peer);

  outcome_clear (&outcome);
}

int
main (int    argc,
      char **argv)
{
  int status;

  start_trap ();
  g_test_init (&argc, &argv, NULL);

  start_origin ();
  start_raw_origin ();

  g_test_add_func ("/forward/get/passes", test_get_passes);
  g_test_add_func ("/forward/request/hop-by-hop", test_request_headers_hop_by_hop);
  g_test_add_func ("/forward/request/nothing-added", test_request_headers_nothing_added);
  g_test_add_func ("/forward/request/host-from-uri", test_request_host_from_uri);
  g_test_add_func ("/forward/request/exact", test_request_exact);
  g_test_add_func ("/forward/request/length-body", test_request_length_body);
  g_test_add_func ("/forward/request/chunked-body", test_request_chunked_body);
  g_test_add_func ("/forward/request/too-large", test_request_too_large);
  g_test_add_func ("/forward/request/chunked-too-large", test_request_chunked_too_large);
  g_test_add_func ("/forward/request/bad-chunked", test_request_bad_chunked);
  g_test_add_func ("/forward/request/chunked-long-lines", test_request_chunked_long_lines);
  g_test_add_func ("/forward/request/body-short", test_request_body_short);
  g_test_add_func ("/forward/request/chunked-body-short", test_request_chunked_body_short);
  g_test_add_func ("/forward/request/expect-continue", test_request_expect_continue);
  g_test_add_func ("/forward/response/gzip", test_response_gzip);
  g_test_add_func ("/forward/response/redirect", test_response_redirect_not_followed);
  g_test_add_func ("/forward/response/auth", test_response_auth_passed);
  g_test_add_func ("/forward/response/reason", test_response_reason_sanitized);
  g_test_add_func ("/forward/response/hop-by-hop", test_response_hop_by_hop);
  g_test_add_func ("/forward/response/chunked", test_response_chunked);
  g_test_add_func ("/forward/response/eof-http11", test_response_eof_http11);
  g_test_add_func ("/forward/response/eof-http10", test_response_eof_http10);
  g_test_add_func ("/forward/response/truncated", test_response_truncated);
  g_test_add_func ("/forward/response/http10-keep-alive", test_response_http10_keep_alive);
  g_test_add_func ("/forward/response/head", test_response_head_request);
  g_test_add_func ("/forward/response/large", test_response_large);
  g_test_add_func ("/forward/connect/refused", test_connect_refused);
  g_test_add_func ("/forward/connect/next-address", test_connect_next_address);
  g_test_add_func ("/forward/connect/timeout", test_connect_timeout);
  g_test_add_func ("/forward/connect/environment-proxy", test_environment_proxy_ignored);
  g_test_add_func ("/forward/keep-alive/sequence", test_keep_alive_sequence);
  g_test_add_func ("/forward/upstream/absolute-form", test_upstream_absolute_form);
  g_test_add_func ("/forward/upstream/refused", test_upstream_refused);
  for (gsize i = 0; i < G_N_ELEMENTS (host_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/forward/upstream/host-header/%" G_GSIZE_FORMAT, i);

      g_test_add_data_func (path, &host_cases[i], test_upstream_host_header);
    }
  g_test_add_func ("/forward/keep-alive/origin-reuse", test_keep_alive_upstream_reuse);
  g_test_add_func ("/forward/concurrent/same-origin", test_concurrent_same_origin);
  g_test_add_func ("/forward/keep-alive/after-head", test_keep_alive_after_head);
  g_test_add_func ("/forward/keep-alive/idle-limit-names", test_idle_limit_with_many_names);
  g_test_add_func ("/forward/session-cache/overflow", test_session_cache_overflow);
  g_test_add_func ("/forward/client/gone", test_client_gone_mid_response);
  g_test_add_func ("/forward/client/stops-reading", test_client_stops_reading);
  g_test_add_func ("/forward/client/stops-sending", test_client_stops_sending);
  g_test_add_data_func ("/forward/cancel/reading-body", GINT_TO_POINTER (FALSE), test_cancel);
  g_test_add_data_func ("/forward/cancel/sending", GINT_TO_POINTER (TRUE), test_cancel);

  status = g_test_run ();

  g_clear_object (&origin);
  g_clear_object (&trap);
  g_clear_object (&raw_origin);
  g_clear_pointer (&raw_origin_head, g_free);
  g_clear_pointer (&origin_hits, g_hash_table_unref);
  g_clear_pointer (&origin_last_headers, g_free);
  g_clear_pointer (&origin_last_body, g_bytes_unref);
  g_clear_pointer (&origin_last_peer, g_free);
  g_clear_pointer (&gzip_body, g_bytes_unref);
  return status;
}
