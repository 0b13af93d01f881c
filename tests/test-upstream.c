/* test-upstream.c: CONNECT through a fake upstream proxy on 127.0.0.1
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "hg-upstream.h"

/* How long a test waits for an operation before it fails. */
#define TEST_DEADLINE_MS 5000
#define TEST_VIA "1.1 hostgate-0123456789abcdef"

/* A fake upstream proxy: it accepts one connection, reads the request
 * head, records it, and sends @reply in one write. With @close_at_once
 * it closes the connection as soon as it accepts; with a NULL @reply it
 * reads the request and then stays silent. */
typedef struct {
  const char *reply;
  gsize reply_length;
  gboolean close_at_once;

  GSocketListener *listener;
  guint16 port;
  GCancellable *cancellable;
  GSocketConnection *connection;
  GString *request;
  gboolean request_read;
  gboolean finished;       /* the reply was written, or nothing will be */
  guint operations;        /* async calls still running */
  char buffer[1024];
} FakeUpstream;

static void fake_read_request (FakeUpstream *fake);

static void
fake_write_cb (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  FakeUpstream *fake = user_data;

  /* The client may close first, when it rejects the reply early. */
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, NULL);
  fake->operations--;
  fake->finished = TRUE;
}

static void
fake_read_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  FakeUpstream *fake = user_data;
  g_autoptr(GError) error = NULL;
  gssize count;
  GOutputStream *output;

  count = g_input_stream_read_finish (G_INPUT_STREAM (source_object), result, &error);
  fake->operations--;
  if (count <= 0)
    {
      fake->finished = TRUE;
      return;
    }

  g_string_append_len (fake->request, fake->buffer, count);
  if (strstr (fake->request->str, "\r\n\r\n") == NULL)
    {
      fake_read_request (fake);
      return;
    }

  fake->request_read = TRUE;
  if (fake->reply == NULL)
    {
      fake->finished = TRUE;
      return;
    }

  output = g_io_stream_get_output_stream (G_IO_STREAM (fake->connection));
  fake->operations++;
  g_output_stream_write_all_async (output, fake->reply, fake->reply_length, G_PRIORITY_DEFAULT,
                                   fake->cancellable, fake_write_cb, fake);
}

static void
fake_read_request (FakeUpstream *fake)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (fake->connection));

  fake->operations++;
  g_input_stream_read_async (input, fake->buffer, sizeof fake->buffer, G_PRIORITY_DEFAULT,
                             fake->cancellable, fake_read_cb, fake);
}

static void
fake_accept_cb (GObject      *source_object,
                GAsyncResult *result,
                gpointer      user_data)
{
  FakeUpstream *fake = user_data;
  g_autoptr(GError) error = NULL;

  fake->connection = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source_object), result,
                                                      NULL, &error);
  fake->operations--;
  if (fake->connection == NULL)
    {
      fake->finished = TRUE;
      return;
    }

  if (fake->close_at_once)
    {
      g_io_stream_close (G_IO_STREAM (fake->connection), NULL, &error);
      g_assert_no_error (error);
      fake->finished = TRUE;
      return;
    }

  fake_read_request (fake);
}

static FakeUpstream *
fake_upstream_new (const char *reply,
                   gsize       reply_length)
{
  FakeUpstream *fake = g_new0 (FakeUpstream, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  fake->reply = reply;
  fake->reply_length = reply != NULL && reply_length == 0 ? strlen (reply) : reply_length;
  fake->listener = g_socket_listener_new ();
  fake->cancellable = g_cancellable_new ();
  fake->request = g_string_new (NULL);

  g_socket_listener_add_address (fake->listener, address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  fake->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  fake->operations++;
  g_socket_listener_accept_async (fake->listener, fake->cancellable, fake_accept_cb, fake);
  return fake;
}

/* Cancels what still runs and waits for those calls to return, so no
 * callback touches the freed struct. */
static void
fake_upstream_free (FakeUpstream *fake)
{
  g_cancellable_cancel (fake->cancellable);
  while (fake->operations > 0)
    g_main_context_iteration (NULL, TRUE);

  g_socket_listener_close (fake->listener);
  g_clear_object (&fake->listener);
  g_clear_object (&fake->connection);
  g_clear_object (&fake->cancellable);
  g_string_free (fake->request, TRUE);
  g_free (fake);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeUpstream, fake_upstream_free)

/* Main loop helpers */

static gboolean
deadline_cb (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default main context until *@done is set, failing the
 * test if that takes longer than TEST_DEADLINE_MS. */
static void
run_until (const gboolean *done)
{
  gboolean expired = FALSE;
  guint deadline_id = g_timeout_add (TEST_DEADLINE_MS, deadline_cb, &expired);

  while (!*done && !expired)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (expired);
  g_source_remove (deadline_id);
}

static void
store_result_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GAsyncResult **result_out = user_data;

  *result_out = g_object_ref (result);
}

static void
run_until_result (GAsyncResult **result)
{
  gboolean expired = FALSE;
  guint deadline_id = g_timeout_add (TEST_DEADLINE_MS, deadline_cb, &expired);

  while (*result == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (expired);
  g_source_remove (deadline_id);
}

static GSocketConnection *
connect_to_fake (FakeUpstream *fake)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", fake->port);
  GSocketConnection *connection;

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_connect_to_host_async (client, address, 0, NULL, store_result_cb, &result);
  run_until_result (&result);

  connection = g_socket_client_connect_to_host_finish (client, result, &error);
  g_assert_no_error (error);

  return connection;
}

/* Opens a tunnel to host.example:443 through @fake. */
static GSocketConnection *
open_tunnel (FakeUpstream  *fake,
             guint          timeout_ms,
             GBytes       **pending,
             GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  hg_upstream_connect_async (connect_to_fake (fake), "host.example:443", TEST_VIA, timeout_ms, NULL,
                             store_result_cb, &result);
  run_until_result (&result);

  return hg_upstream_connect_finish (result, pending, error);
}

static char *
first_line (const char *text)
{
  const char *end = strstr (text, "\r\n");

  return end != NULL ? g_strndup (text, end - text) : g_strdup (text);
}

/* Checks that @message has no control character at all. */
static void
assert_no_control_bytes (const char *message)
{
  for (const char *p = message; *p != '\0'; p++)
    {
      g_assert_cmpint ((guchar) *p, >=, 0x20);
      g_assert_cmpint ((guchar) *p, !=, 0x7f);
    }
}

static void
test_established (void)
{
  static const char reply[] = "HTTP/1.1 200 Connection established\r\n\r\ntunnel \0bytes";
  g_autoptr(FakeUpstream) fake = fake_upstream_new (reply, sizeof reply - 1);
  g_autoptr(GBytes) pending = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, &pending, &error);
  g_autofree char *request_line = NULL;
  g_autoptr(GBytes) expected = g_bytes_new_static ("tunnel \0bytes", 13);

  g_assert_no_error (error);
  g_assert_nonnull (connection);
  run_until (&fake->finished);

  request_line = first_line (fake->request->str);
  g_assert_cmpstr (request_line, ==, "CONNECT host.example:443 HTTP/1.1");
  g_assert_cmpstr (fake->request->str, ==,
                   "CONNECT host.example:443 HTTP/1.1\r\nHost: host.example:443\r\n"
                   "Via: " TEST_VIA "\r\n\r\n");
  g_assert_nonnull (pending);
  g_assert_true (g_bytes_equal (pending, expected));
}

static void
test_established_headers (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.0 200 OK\r\nProxy-Agent: fake\r\n"
                                                    "Content-Length: 5\r\n\r\n", 0);
  g_autoptr(GBytes) pending = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, &pending, &error);

  g_assert_no_error (error);
  g_assert_nonnull (connection);
  g_assert_null (pending);
}

static void
test_established_bare_lf (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 200 OK\n\nxyz", 0);
  g_autoptr(GBytes) pending = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, &pending, &error);

  g_assert_no_error (error);
  g_assert_nonnull (connection);
  g_assert_nonnull (pending);
  g_assert_cmpmem (g_bytes_get_data (pending, NULL), g_bytes_get_size (pending), "xyz", 3);
}

/* The returned connection stays open for tunnel data. */
static void
test_established_tunnel_works (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 200 Connection established\r\n\r\n", 0);
  g_autoptr(GBytes) pending = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, &pending, &error);
  GOutputStream *output;
  gsize written = 0;

  g_assert_no_error (error);
  g_assert_nonnull (connection);
  run_until (&fake->finished);

  output = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_output_stream_write_all (output, "ping", 4, &written, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 4);
}

static void
test_refused (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_REFUSED);
  g_assert_cmpstr (error->message, ==, "upstream proxy refused: 403 Forbidden");
}

static void
test_refused_no_reason (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 429\r\n\r\n", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_REFUSED);
  g_assert_cmpstr (error->message, ==, "upstream proxy refused: 429");
}

/* A 407 asks for a login hostgate cannot give, and says so. */
static void
test_refused_login (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 407\r\n\r\n", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_REFUSED);
  g_assert_cmpstr (error->message, ==,
                   "the upstream proxy asks for a login (407), which hostgate cannot give: "
                   "use one that needs none, or add this host to --upstream-bypass");
}

typedef struct {
  const char *name;
  const char *reply;
  const char *expected_message;
} ReasonCase;

static const ReasonCase reason_cases[] = {
  { "bare-cr", "HTTP/1.1 403 Bad\rInjected: yes\r\n\r\n",
    "upstream proxy refused: 403 BadInjected: yes" },
  { "control-bytes", "HTTP/1.1 502 Bad\x01\x7f Gateway\x1b[31m\t!\r\n\r\n",
    "upstream proxy refused: 502 Bad Gateway[31m!" },
  { "c1-control", "HTTP/1.1 502 Bad\xc2\x85Gateway\r\n\r\n",
    "upstream proxy refused: 502 BadGateway" },
  { "invalid-utf8", "HTTP/1.1 502 Bad\xff\r\n\r\n",
    "upstream proxy refused: 502 Bad\xef\xbf\xbd" },
};

static void
test_reason_sanitized (gconstpointer user_data)
{
  const ReasonCase *reason_case = user_data;
  g_autoptr(FakeUpstream) fake = fake_upstream_new (reason_case->reply, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_REFUSED);
  g_assert_null (strchr (error->message, '\r'));
  g_assert_null (strchr (error->message, '\n'));
  assert_no_control_bytes (error->message);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_cmpstr (error->message, ==, reason_case->expected_message);
}

static void
test_reason_truncated (void)
{
  g_autofree char *reason = g_strnfill (1000, 'r');
  g_autofree char *reply = g_strdup_printf ("HTTP/1.1 403 %s\r\n\r\n", reason);
  g_autoptr(FakeUpstream) fake = fake_upstream_new (reply, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);
  const char *quoted;

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_REFUSED);
  g_assert_true (g_str_has_prefix (error->message, "upstream proxy refused: 403 "));
  quoted = error->message + strlen ("upstream proxy refused: 403 ");
  g_assert_cmpuint (strlen (quoted), ==, 200);
  g_assert_cmpuint (strspn (quoted, "r"), ==, 200);
}

static void
test_line_too_long (void)
{
  g_autofree char *value = g_strnfill (9000, 'a');
  g_autofree char *reply = g_strdup_printf ("HTTP/1.1 200 OK\r\nX: %s\r\n\r\n", value);
  g_autoptr(FakeUpstream) fake = fake_upstream_new (reply, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "the upstream proxy's reply has a line over 8192 bytes");
}

/* A status line that never ends is rejected once it passes the limit,
 * not at the deadline. */
static void
test_unterminated_line (void)
{
  g_autofree char *reply = g_strnfill (9000, 'H');
  g_autoptr(FakeUpstream) fake = fake_upstream_new (reply, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, TEST_DEADLINE_MS * 2, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_PROTOCOL);
}

static void
test_head_too_long (void)
{
  g_autoptr(GString) reply = g_string_new ("HTTP/1.1 200 OK\r\n");
  g_autoptr(FakeUpstream) fake = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  /* 700 lines of 100 bytes: each within the line limit, 70 000 in all. */
  for (guint i = 0; i < 700; i++)
    g_string_append_printf (reply, "X-Field-%03u: %086u\r\n", i, 0);
  g_string_append (reply, "\r\n");

  fake = fake_upstream_new (reply->str, reply->len);
  connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "the upstream proxy's reply head is over 65536 bytes");
}

/* A header line of exactly 8192 bytes is accepted. */
static void
test_head_at_limit (void)
{
  g_autofree char *value = g_strnfill (8192 - strlen ("X: "), 'a');
  g_autofree char *reply = g_strdup_printf ("HTTP/1.1 200 OK\r\nX: %s\r\n\r\n", value);
  g_autoptr(FakeUpstream) fake = fake_upstream_new (reply, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (connection);
}

typedef struct {
  const char *name;
  const char *reply;
} MalformedCase;

static const MalformedCase malformed_cases[] = {
  { "not-http", "SSH-2.0-OpenSSH_9.2\r\n\r\n" },
  { "status-four-digits", "HTTP/1.1 2000 OK\r\n\r\n" },
  { "status-letters", "HTTP/1.1 2x0 OK\r\n\r\n" },
  { "status-below-100", "HTTP/1.1 099 Odd\r\n\r\n" },
  { "no-space-after-status", "HTTP/1.1 200OK\r\n\r\n" },
  { "http-2", "HTTP/2 200\r\n\r\n" },
  { "empty-first-line", "\r\nHTTP/1.1 200 OK\r\n\r\n" },
  { "header-without-colon", "HTTP/1.1 200 OK\r\nbroken header\r\n\r\n" },
  { "folded-header", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n" },
};

static void
test_malformed (gconstpointer user_data)
{
  const MalformedCase *malformed_case = user_data;
  g_autoptr(FakeUpstream) fake = fake_upstream_new (malformed_case->reply, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_PROTOCOL);
  assert_no_control_bytes (error->message);
}

static void
test_silent (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new (NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed_ms;

  connection = open_tunnel (fake, 200, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_TIMED_OUT);
  g_assert_true (fake->request_read);
  g_assert_cmpint (elapsed_ms, >=, 150);
  g_assert_cmpint (elapsed_ms, <, 2000);
}

static void
test_partial_then_silent (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 200 OK\r\nX: y\r\n", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = open_tunnel (fake, 200, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_TIMED_OUT);
}

static void
test_closed (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new (NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  fake->close_at_once = TRUE;
  connection = open_tunnel (fake, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_FAILED);
}

static void
test_closed_mid_head (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 200 OK\r\n", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  hg_upstream_connect_async (connect_to_fake (fake), "host.example:443", TEST_VIA, 2000, NULL,
                             store_result_cb, &result);
  run_until (&fake->finished);
  g_io_stream_close (G_IO_STREAM (fake->connection), NULL, &error);
  g_assert_no_error (error);
  run_until_result (&result);

  connection = hg_upstream_connect_finish (result, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_FAILED);
}

static void
test_cancelled (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new (NULL, 0);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  hg_upstream_connect_async (connect_to_fake (fake), "host.example:443", TEST_VIA,
                             TEST_DEADLINE_MS * 2,
                             cancellable, store_result_cb, &result);
  run_until (&fake->request_read);
  g_cancellable_cancel (cancellable);
  run_until_result (&result);

  connection = hg_upstream_connect_finish (result, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_invalid_authority (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 200 OK\r\n\r\n", 0);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  hg_upstream_connect_async (connect_to_fake (fake), "host.example:443\r\nX: y", TEST_VIA, 2000, NULL,
                             store_result_cb, &result);
  run_until_result (&result);

  connection = hg_upstream_connect_finish (result, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_FAILED);
  assert_no_control_bytes (error->message);
  g_assert_cmpuint (fake->request->len, ==, 0);
}

static void
test_invalid_via (void)
{
  g_autoptr(FakeUpstream) fake = fake_upstream_new ("HTTP/1.1 200 OK\r\n\r\n", 0);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  hg_upstream_connect_async (connect_to_fake (fake), "host.example:443", "1.1 a\r\nX: y", 2000, NULL,
                             store_result_cb, &result);
  run_until_result (&result);

  connection = hg_upstream_connect_finish (result, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, HG_UPSTREAM_ERROR, HG_UPSTREAM_ERROR_FAILED);
  g_assert_cmpuint (fake->request->len, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/upstream/established", test_established);
  g_test_add_func ("/upstream/established/headers", test_established_headers);
  g_test_add_func ("/upstream/established/bare-lf", test_established_bare_lf);
  g_test_add_func ("/upstream/established/tunnel-works", test_established_tunnel_works);
  g_test_add_func ("/upstream/refused", test_refused);
  g_test_add_func ("/upstream/refused/no-reason", test_refused_no_reason);
  g_test_add_func ("/upstream/refused/login", test_refused_login);

  for (guint i = 0; i < G_N_ELEMENTS (reason_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/upstream/reason/%s", reason_cases[i].name);
      g_test_add_data_func (path, &reason_cases[i], test_reason_sanitized);
    }

  g_test_add_func ("/upstream/reason/truncated", test_reason_truncated);
  g_test_add_func ("/upstream/limits/line-too-long", test_line_too_long);
  g_test_add_func ("/upstream/limits/unterminated-line", test_unterminated_line);
  g_test_add_func ("/upstream/limits/head-too-long", test_head_too_long);
  g_test_add_func ("/upstream/limits/head-at-limit", test_head_at_limit);

  for (guint i = 0; i < G_N_ELEMENTS (malformed_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/upstream/malformed/%s", malformed_cases[i].name);
      g_test_add_data_func (path, &malformed_cases[i], test_malformed);
    }

  g_test_add_func ("/upstream/timeout/silent", test_silent);
  g_test_add_func ("/upstream/timeout/partial-head", test_partial_then_silent);
  g_test_add_func ("/upstream/closed/at-once", test_closed);
  g_test_add_func ("/upstream/closed/mid-head", test_closed_mid_head);
  g_test_add_func ("/upstream/cancelled", test_cancelled);
  g_test_add_func ("/upstream/invalid-authority", test_invalid_authority);
  g_test_add_func ("/upstream/invalid-via", test_invalid_via);

  return g_test_run ();
}
