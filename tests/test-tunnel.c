/* test-tunnel.c: the byte pump between a client and an origin
 *
 * Every case builds two real connections, one between a test "client" and
 * the proxy side, one between the proxy side and a test "origin", and runs
 * a tunnel between the two proxy-side sockets. The test ends of both
 * connections are driven by fd watches on the same main loop, so each
 * case waits on conditions with a deadline and never sleeps.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-tunnel.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>

#define MIB (1024 * 1024)

/* Upper bound for any one case to reach its end condition, in seconds. */
#define DEADLINE_SECS 60

/* One test end of a connection: what it sends, what it received. */
typedef struct
{
  int           fd;
  guint         watch;
  GIOCondition  watching;

  GBytes       *to_send;
  gsize         sent;
  gboolean      send_after_eof;  /* wait for end of stream before sending */
  gboolean      shut_after_send; /* shutdown (SHUT_WR) once all was sent */
  gboolean      shut;
  gsize         reset_after;     /* close with RST after this many bytes */
  gboolean      reset_when_sent; /* close with RST once all was sent */
  gboolean      paused;          /* not reading, to build back-pressure */

  GByteArray   *received;
  gboolean      eof;
  int           read_errno;
  int           write_errno;
} Peer;

typedef struct
{
  Peer               client;     /* the application's end */
  Peer               origin;     /* the server's end */
  GSocketConnection *client_connection;  /* the proxy's end to the client */
  GSocketConnection *origin_connection;  /* the proxy's end to the origin */
  HgTunnel          *tunnel;
  gboolean           done;
  gboolean           success;
  GError            *error;
} Fixture;

static GBytes *
random_bytes (gsize   size,
              guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (size);
  gsize i;

  for (i = 0; i + 4 <= size; i += 4)
    {
      guint32 word = g_rand_int (rand);
      memcpy (data + i, &word, 4);
    }
  for (; i < size; i++)
    data[i] = g_rand_int_range (rand, 0, 256);

  return g_bytes_new_take (data, size);
}

static gchar *
sha256_of (const guint8 *data,
           gsize         size)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);
}

static void
tcp_pair (int *a,
          int *b)
{
  struct sockaddr_in address = { .sin_family = AF_INET };
  socklen_t length = sizeof address;
  int listener;

  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);

  listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (listener, >=, 0);
  g_assert_no_errno (bind (listener, (struct sockaddr *) &address, sizeof address));
  g_assert_no_errno (listen (listener, 1));
  g_assert_no_errno (getsockname (listener, (struct sockaddr *) &address, &length));

  *a = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (*a, >=, 0);
  /* A loopback connect completes from the listen backlog without waiting
   * for accept(). */
  g_assert_no_errno (connect (*a, (struct sockaddr *) &address, sizeof address));
  *b = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (*b, >=, 0);

  close (listener);
}

static void
unix_pair (int *a,
           int *b)
{
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  *a = fds[0];
  *b = fds[1];
}

static GSocketConnection *
connection_from_fd (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

static void peer_update_watch (Peer *peer);

static void
peer_reset (Peer *peer)
{
  struct linger linger = { .l_onoff = 1, .l_linger = 0 };

  g_assert_no_errno (setsockopt (peer->fd, SOL_SOCKET, SO_LINGER,
                                 &linger, sizeof linger));
  close (peer->fd);
  peer->fd = -1;
}

static void
peer_read (Peer *peer)
{
  guint8 chunk[64 * 1024];
  gsize budget = MIB;

  while (budget > 0 && peer->fd >= 0 && !peer->eof)
    {
      ssize_t n = recv (peer->fd, chunk, sizeof chunk, MSG_DONTWAIT);

      if (n < 0)
        {
          if (errno != EAGAIN && errno != EINTR)
            peer->read_errno = errno;
          return;
        }

      if (n == 0)
        {
          peer->eof = TRUE;
          return;
        }

      g_byte_array_append (peer->received, chunk, n);
      budget -= MIN (budget, (gsize) n);

      if (peer->reset_after > 0 && peer->received->len >= peer->reset_after)
        peer_reset (peer);
    }
}

static void
peer_write (Peer *peer)
{
  gsize size;
  const guint8 *data;

  if (peer->to_send == NULL || peer->fd < 0 || peer->write_errno != 0)
    return;
  if (peer->send_after_eof && !peer->eof)
    return;

  data = g_bytes_get_data (peer->to_send, &size);
  while (peer->sent < size)
    {
      ssize_t n = send (peer->fd, data + peer->sent, MIN (size - peer->sent, MIB),
                        MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno != EAGAIN && errno != EINTR)
            peer->write_errno = errno;
          return;
        }
      peer->sent += n;
    }

  if (peer->reset_when_sent)
    {
      peer_reset (peer);
      return;
    }

  if (peer->shut_after_send && !peer->shut)
    {
      g_assert_no_errno (shutdown (peer->fd, SHUT_WR));
      peer->shut = TRUE;
    }
}

static gboolean
peer_ready_cb (int           fd,
               GIOCondition  condition,
               gpointer      user_data)
{
  Peer *peer = user_data;

  if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    peer_read (peer);
  peer_write (peer);

  peer_update_watch (peer);
  return G_SOURCE_CONTINUE;
}

static gboolean
peer_wants_write (Peer *peer)
{
  if (peer->to_send == NULL || peer->write_errno != 0)
    return FALSE;
  if (peer->send_after_eof && !peer->eof)
    return FALSE;

  return peer->sent < g_bytes_get_size (peer->to_send)
         || (peer->shut_after_send && !peer->shut);
}

static void
peer_update_watch (Peer *peer)
{
  GIOCondition needed = 0;

  if (peer->fd >= 0 && !peer->eof && peer->read_errno == 0 && !peer->paused)
    needed |= G_IO_IN;
  if (peer->fd >= 0 && peer_wants_write (peer))
    needed |= G_IO_OUT;

  if (needed == peer->watching && peer->watch != 0)
    return;

  g_clear_handle_id (&peer->watch, g_source_remove);
  if (needed != 0)
    peer->watch = g_unix_fd_add (peer->fd, needed, peer_ready_cb, peer);
  peer->watching = needed;
}

static void
peer_clear (Peer *peer)
{
  g_clear_handle_id (&peer->watch, g_source_remove);
  if (peer->fd >= 0)
    close (peer->fd);
  peer->fd = -1;
  g_clear_pointer (&peer->to_send, g_bytes_unref);
  g_clear_pointer (&peer->received, g_byte_array_unref);
}

static gboolean
peer_finished (Peer *peer)
{
  return peer->eof || peer->read_errno != 0 || peer->fd < 0;
}

/* Connects the test ends and the proxy ends; @use_unix picks socketpairs
 * instead of loopback TCP. */
static void
fixture_init (Fixture  *fixture,
              gboolean  use_unix)
{
  int client_app, client_proxy, origin_proxy, origin_app;

  memset (fixture, 0, sizeof *fixture);

  if (use_unix)
    {
      unix_pair (&client_app, &client_proxy);
      unix_pair (&origin_proxy, &origin_app);
    }
  else
    {
      tcp_pair (&client_app, &client_proxy);
      tcp_pair (&origin_proxy, &origin_app);
    }

  fixture->client.fd = client_app;
  fixture->client.received = g_byte_array_new ();
  fixture->origin.fd = origin_app;
  fixture->origin.received = g_byte_array_new ();
  fixture->client_connection = connection_from_fd (client_proxy);
  fixture->origin_connection = connection_from_fd (origin_proxy);
}

static void
fixture_clear (Fixture *fixture)
{
  peer_clear (&fixture->client);
  peer_clear (&fixture->origin);
  g_clear_pointer (&fixture->tunnel, hg_tunnel_free);
  g_clear_object (&fixture->client_connection);
  g_clear_object (&fixture->origin_connection);
  g_clear_error (&fixture->error);
}

static void
tunnel_done_cb (GObject      *source_object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Fixture *fixture = user_data;

  g_assert_false (fixture->done);
  fixture->success = hg_tunnel_run_finish (fixture->tunnel, result,
                                           &fixture->error);
  fixture->done = TRUE;
}

static void
fixture_start (Fixture      *fixture,
               GBytes       *client_pending,
               GBytes       *origin_pending,
               guint         idle_timeout_secs,
               GCancellable *cancellable)
{
  fixture->tunnel = hg_tunnel_new (fixture->client_connection,
                                   fixture->origin_connection,
                                   client_pending, origin_pending,
                                   idle_timeout_secs);
  hg_tunnel_run_async (fixture->tunnel, cancellable, tunnel_done_cb, fixture);
  peer_update_watch (&fixture->client);
  peer_update_watch (&fixture->origin);
}

static gboolean
deadline_cb (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*Condition) (gpointer data);

/* Iterates the main context until @condition holds; fails the test if it
 * does not within @seconds. */
static void
wait_for (Condition condition,
          gpointer  data,
          guint     seconds)
{
  gboolean expired = FALSE;
  guint deadline = g_timeout_add_seconds (seconds, deadline_cb, &expired);

  while (!condition (data) && !expired)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (expired);
  g_source_remove (deadline);
}

/* Runs the main context for @milliseconds, to show that an event does not
 * happen. */
static void
iterate_for (guint milliseconds)
{
  gboolean expired = FALSE;

  g_timeout_add (milliseconds, deadline_cb, &expired);
  while (!expired)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
tunnel_and_peers_done (gpointer data)
{
  Fixture *fixture = data;

  return fixture->done
         && peer_finished (&fixture->client)
         && peer_finished (&fixture->origin);
}

static gboolean
tunnel_done (gpointer data)
{
  Fixture *fixture = data;

  return fixture->done;
}

static void
assert_received (Peer   *peer,
                 GBytes *first,
                 GBytes *then)
{
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autofree gchar *expected_sum = NULL;
  g_autofree gchar *received_sum = NULL;

  if (first != NULL)
    g_byte_array_append (expected, g_bytes_get_data (first, NULL),
                         g_bytes_get_size (first));
  if (then != NULL)
    g_byte_array_append (expected, g_bytes_get_data (then, NULL),
                         g_bytes_get_size (then));

  expected_sum = sha256_of (expected->data, expected->len);
  received_sum = sha256_of (peer->received->data, peer->received->len);

  g_assert_cmpuint (peer->received->len, ==, expected->len);
  g_assert_cmpstr (received_sum, ==, expected_sum);
}

/* Sends @size bytes each way at once, each side shutting down its write
 * side at the end, and checks both streams and counters. */
static void
check_both_ways (gsize    size,
                 gboolean use_unix,
                 gboolean use_splice)
{
  Fixture fixture;

  hg_tunnel_set_use_splice (use_splice);
  fixture_init (&fixture, use_unix);
  fixture.client.to_send = random_bytes (size, 1);
  fixture.client.shut_after_send = TRUE;
  fixture.origin.to_send = random_bytes (size, 2);
  fixture.origin.shut_after_send = TRUE;

  fixture_start (&fixture, NULL, NULL, 0, NULL);
  wait_for (tunnel_and_peers_done, &fixture, DEADLINE_SECS);

  g_assert_no_error (fixture.error);
  g_assert_true (fixture.success);
  g_assert_true (fixture.client.eof);
  g_assert_true (fixture.origin.eof);
  assert_received (&fixture.origin, NULL, fixture.client.to_send);
  assert_received (&fixture.client, NULL, fixture.origin.to_send);
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), ==, size);
  g_assert_cmpuint (hg_tunnel_get_bytes_down (fixture.tunnel), ==, size);

  fixture_clear (&fixture);
  hg_tunnel_set_use_splice (FALSE);
}

static void
test_bulk_tcp_splice (void)
{
  check_both_ways (16 * MIB, FALSE, TRUE);
}

static void
test_bulk_tcp_copy (void)
{
  check_both_ways (16 * MIB, FALSE, FALSE);
}

static void
test_bulk_unix_splice (void)
{
  check_both_ways (4 * MIB, TRUE, TRUE);
}

static void
test_bulk_unix_copy (void)
{
  check_both_ways (4 * MIB, TRUE, FALSE);
}

typedef struct
{
  gsize pending_size;
  gsize body_size;
} PendingCase;

/* Large pending bytes exceed the socket buffers, so they are sent over
 * several wakeups while the rest waits behind them. */
static const PendingCase pending_small = { 13, 1000 };
static const PendingCase pending_large = { 3 * MIB, 3 * MIB };

static void
test_pending (gconstpointer data)
{
  const PendingCase *pending_case = data;
  g_autoptr(GBytes) client_pending = random_bytes (pending_case->pending_size, 3);
  g_autoptr(GBytes) origin_pending = random_bytes (pending_case->pending_size, 4);
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.client.to_send = random_bytes (pending_case->body_size, 5);
  fixture.client.shut_after_send = TRUE;
  fixture.origin.to_send = random_bytes (pending_case->body_size, 6);
  fixture.origin.shut_after_send = TRUE;

  fixture_start (&fixture, client_pending, origin_pending, 0, NULL);
  wait_for (tunnel_and_peers_done, &fixture, DEADLINE_SECS);

  g_assert_no_error (fixture.error);
  g_assert_true (fixture.success);
  assert_received (&fixture.origin, client_pending, fixture.client.to_send);
  assert_received (&fixture.client, origin_pending, fixture.origin.to_send);
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), ==,
                    pending_case->pending_size + pending_case->body_size);
  g_assert_cmpuint (hg_tunnel_get_bytes_down (fixture.tunnel), ==,
                    pending_case->pending_size + pending_case->body_size);

  fixture_clear (&fixture);
}

static gboolean
origin_saw_eof (gpointer data)
{
  Fixture *fixture = data;

  return fixture->origin.eof;
}

/* The client shuts down its write side after the request; the origin
 * sends its reply only after it saw end of stream. */
static void
test_half_close (void)
{
  g_autoptr(GBytes) request = g_bytes_new_static ("GET / HTTP/1.0\r\n\r\n", 18);
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.client.to_send = g_bytes_ref (request);
  fixture.client.shut_after_send = TRUE;
  fixture.origin.to_send = random_bytes (MIB, 7);
  fixture.origin.send_after_eof = TRUE;
  fixture.origin.shut_after_send = TRUE;

  fixture_start (&fixture, NULL, NULL, 0, NULL);

  wait_for (origin_saw_eof, &fixture, DEADLINE_SECS);
  g_assert_false (fixture.done);
  assert_received (&fixture.origin, NULL, request);

  wait_for (tunnel_and_peers_done, &fixture, DEADLINE_SECS);
  g_assert_no_error (fixture.error);
  g_assert_true (fixture.success);
  g_assert_true (fixture.client.eof);
  g_assert_cmpint (fixture.client.read_errno, ==, 0);
  assert_received (&fixture.client, NULL, fixture.origin.to_send);
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), ==, 18);
  g_assert_cmpuint (hg_tunnel_get_bytes_down (fixture.tunnel), ==, MIB);

  fixture_clear (&fixture);
}

/* The origin resets the connection in the middle of an upload, or right
 * after sending, while the tunnel reads from it. */
static void
test_reset (gconstpointer data)
{
  gboolean while_reading = GPOINTER_TO_INT (data);
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  if (while_reading)
    {
      fixture.origin.to_send = random_bytes (64 * 1024, 12);
      fixture.origin.reset_when_sent = TRUE;
    }
  else
    {
      fixture.client.to_send = random_bytes (64 * MIB, 8);
      fixture.origin.reset_after = MIB;
    }

  fixture_start (&fixture, NULL, NULL, 0, NULL);
  wait_for (tunnel_and_peers_done, &fixture, DEADLINE_SECS);

  g_assert_false (fixture.success);
  g_assert_nonnull (fixture.error);
  g_test_message ("reset ended the tunnel with: %s", fixture.error->message);
  g_assert_true (fixture.error->domain == G_IO_ERROR);
  g_assert_false (g_error_matches (fixture.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_assert_false (g_error_matches (fixture.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
  if (while_reading)
    g_assert_true (g_str_has_prefix (fixture.error->message,
                                     "Failed to read from the origin"));
  g_assert_true (fixture.client.eof || fixture.client.read_errno == ECONNRESET);
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.client_connection)));
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.origin_connection)));
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), <, 64 * MIB);
  g_assert_cmpuint (hg_tunnel_get_bytes_down (fixture.tunnel), <=, 64 * 1024);

  fixture_clear (&fixture);
}

/* With SIGPIPE at its default action, a reset peer must not end the
 * process, so the tunnel copies instead of splicing. */
static void
test_sigpipe_default (void)
{
  signal (SIGPIPE, SIG_DFL);
  hg_tunnel_set_use_splice (TRUE);
  g_test_expect_message ("hostgate-proxy", G_LOG_LEVEL_WARNING, "SIGPIPE is not ignored*");
  test_reset (GINT_TO_POINTER (FALSE));
  g_test_assert_expected_messages ();
  hg_tunnel_set_use_splice (FALSE);
  signal (SIGPIPE, SIG_IGN);
}

static void
test_idle_timeout (void)
{
  Fixture fixture;
  gint64 start;
  gint64 elapsed;

  fixture_init (&fixture, FALSE);
  start = g_get_monotonic_time ();
  fixture_start (&fixture, NULL, NULL, 1, NULL);
  wait_for (tunnel_and_peers_done, &fixture, 3);
  elapsed = g_get_monotonic_time () - start;

  /* The upper bound leaves half a second for a loaded test machine. */
  g_assert_error (fixture.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (elapsed, >=, G_USEC_PER_SEC - G_USEC_PER_SEC / 10);
  g_assert_cmpint (elapsed, <, 2 * G_USEC_PER_SEC + G_USEC_PER_SEC / 2);
  g_assert_true (fixture.client.eof);
  g_assert_true (fixture.origin.eof);

  fixture_clear (&fixture);
}

typedef struct
{
  Fixture *fixture;
  guint    sends_left;
} Ticker;

static gboolean
send_byte_cb (gpointer user_data)
{
  Ticker *ticker = user_data;

  g_assert_cmpint (send (ticker->fixture->client.fd, "x", 1, MSG_NOSIGNAL), ==, 1);
  ticker->sends_left--;
  return ticker->sends_left > 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Traffic every 400 ms keeps a tunnel with a 1 s idle timeout open; it
 * times out about 1 s after the last byte. */
static void
test_idle_activity (void)
{
  Ticker ticker = { NULL, 5 };
  Fixture fixture;
  gint64 start;
  gint64 elapsed;

  fixture_init (&fixture, FALSE);
  ticker.fixture = &fixture;
  start = g_get_monotonic_time ();
  fixture_start (&fixture, NULL, NULL, 1, NULL);
  g_timeout_add (400, send_byte_cb, &ticker);
  wait_for (tunnel_done, &fixture, 5);
  elapsed = g_get_monotonic_time () - start;

  g_assert_error (fixture.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpuint (ticker.sends_left, ==, 0);
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), ==, 5);
  g_assert_cmpint (elapsed, >=, 2900 * 1000);
  g_assert_cmpint (elapsed, <, 4 * G_USEC_PER_SEC);

  fixture_clear (&fixture);
}

/* Tunnels with different idle timeouts each end at their own deadline,
 * the shorter first, though they share one timer queue. */
static void
test_idle_order (void)
{
  Fixture fixtures[2];
  gint64 start;
  gint64 elapsed;

  fixture_init (&fixtures[0], FALSE);
  fixture_init (&fixtures[1], FALSE);
  start = g_get_monotonic_time ();
  fixture_start (&fixtures[0], NULL, NULL, 2, NULL);
  fixture_start (&fixtures[1], NULL, NULL, 1, NULL);

  wait_for (tunnel_done, &fixtures[1], 4);
  elapsed = g_get_monotonic_time () - start;
  g_assert_false (fixtures[0].done);
  g_assert_cmpint (elapsed, >=, G_USEC_PER_SEC - G_USEC_PER_SEC / 10);

  wait_for (tunnel_done, &fixtures[0], 4);
  elapsed = g_get_monotonic_time () - start;
  g_assert_error (fixtures[0].error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_error (fixtures[1].error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (elapsed, >=, 2 * G_USEC_PER_SEC - G_USEC_PER_SEC / 10);
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC + G_USEC_PER_SEC / 2);

  fixture_clear (&fixtures[0]);
  fixture_clear (&fixtures[1]);
}

static gboolean
origin_got_bytes (gpointer data)
{
  Fixture *fixture = data;

  return fixture->origin.received->len >= 4;
}

static void
assert_closed_after_cancel (Fixture *fixture)
{
  wait_for (tunnel_and_peers_done, fixture, DEADLINE_SECS);

  g_assert_error (fixture->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (fixture->success);
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture->client_connection)));
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture->origin_connection)));
  g_assert_true (fixture->client.eof);
  g_assert_true (fixture->origin.eof);
}

static void
test_cancel (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.client.to_send = g_bytes_new_static ("ping", 4);

  fixture_start (&fixture, NULL, NULL, 0, cancellable);
  wait_for (origin_got_bytes, &fixture, DEADLINE_SECS);
  g_cancellable_cancel (cancellable);
  g_assert_false (fixture.done);

  assert_closed_after_cancel (&fixture);
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), ==, 4);

  fixture_clear (&fixture);
}

static void
test_cancel_before_run (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  g_cancellable_cancel (cancellable);
  fixture_start (&fixture, NULL, NULL, 0, cancellable);

  assert_closed_after_cancel (&fixture);

  fixture_clear (&fixture);
}

static gpointer
cancel_thread (gpointer data)
{
  g_cancellable_cancel (data);
  return NULL;
}

/* Cancelling from another thread wakes the main context, which ends the
 * tunnel there. */
static void
test_cancel_thread (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  GThread *thread;
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.client.to_send = g_bytes_new_static ("ping", 4);

  fixture_start (&fixture, NULL, NULL, 0, cancellable);
  wait_for (origin_got_bytes, &fixture, DEADLINE_SECS);
  thread = g_thread_new ("cancel", cancel_thread, cancellable);
  assert_closed_after_cancel (&fixture);
  g_thread_join (thread);

  fixture_clear (&fixture);
}

static void
test_close (void)
{
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.client.to_send = g_bytes_new_static ("ping", 4);

  fixture_start (&fixture, NULL, NULL, 0, NULL);
  wait_for (origin_got_bytes, &fixture, DEADLINE_SECS);
  hg_tunnel_close (fixture.tunnel);
  g_assert_false (fixture.done);
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.client_connection)));

  assert_closed_after_cancel (&fixture);

  fixture_clear (&fixture);
}

static gint64
process_cpu_time (void)
{
  struct rusage usage;

  g_assert_no_errno (getrusage (RUSAGE_SELF, &usage));
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC
         + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/* An origin that does not read stalls the client's upload once the socket
 * buffers and the pipe or buffer are full. The stalled tunnel must not
 * spin, and every byte arrives once the origin reads again. */
static void
test_back_pressure (gconstpointer data)
{
  Fixture fixture;
  gsize sent_before;
  gint64 cpu_before;
  gint64 cpu_used;

  hg_tunnel_set_use_splice (GPOINTER_TO_INT (data));
  fixture_init (&fixture, FALSE);
  fixture.client.to_send = random_bytes (64 * MIB, 11);
  fixture.client.shut_after_send = TRUE;
  fixture.origin.paused = TRUE;
  fixture.origin.shut_after_send = TRUE;
  fixture.origin.to_send = g_bytes_new_static ("", 0);

  fixture_start (&fixture, NULL, NULL, 0, NULL);
  iterate_for (500);

  sent_before = fixture.client.sent;
  cpu_before = process_cpu_time ();
  iterate_for (500);
  cpu_used = process_cpu_time () - cpu_before;

  g_test_message ("stalled after %zu bytes, %" G_GINT64_FORMAT " us CPU in 500 ms",
                  sent_before, cpu_used);
  g_assert_cmpuint (fixture.client.sent, ==, sent_before);
  g_assert_cmpuint (fixture.client.sent, <, 64 * MIB);
  g_assert_cmpint (cpu_used, <, 100 * 1000);

  fixture.origin.paused = FALSE;
  peer_update_watch (&fixture.origin);
  wait_for (tunnel_and_peers_done, &fixture, DEADLINE_SECS);

  g_assert_no_error (fixture.error);
  g_assert_true (fixture.success);
  assert_received (&fixture.origin, NULL, fixture.client.to_send);
  g_assert_cmpuint (hg_tunnel_get_bytes_up (fixture.tunnel), ==, 64 * MIB);

  fixture_clear (&fixture);
  hg_tunnel_set_use_splice (FALSE);
}

/* Tunnels that a test runs at once. */
typedef struct
{
  Fixture *items;
  guint    n_items;
} FixtureSet;

static gboolean
fixture_set_done (gpointer data)
{
  FixtureSet *set = data;

  for (guint i = 0; i < set->n_items; i++)
    if (!tunnel_and_peers_done (&set->items[i]))
      return FALSE;

  return TRUE;
}

#define BLOCKED_TUNNELS 24
#define BLOCKED_BYTES (6 * MIB)

static gboolean
all_stalled (gpointer data)
{
  Fixture *fixtures = data;

  for (guint i = 0; i < BLOCKED_TUNNELS; i++)
    if (hg_tunnel_get_bytes_up (fixtures[i].tunnel) == 0
        && fixtures[i].client.sent < BLOCKED_BYTES)
      return FALSE;

  return TRUE;
}


/* More tunnels than there are full-size copy buffers stall with bytes
 * queued at once, so some copy through small buffers. Every byte still
 * arrives once the origins read again. */
static void
test_copy_many_blocked (void)
{
  g_autofree Fixture *fixtures = g_new0 (Fixture, BLOCKED_TUNNELS);
  FixtureSet set = { fixtures, BLOCKED_TUNNELS };

  for (guint i = 0; i < BLOCKED_TUNNELS; i++)
    {
      fixture_init (&fixtures[i], FALSE);
      fixtures[i].client.to_send = random_bytes (BLOCKED_BYTES, 3000 + i);
      fixtures[i].client.shut_after_send = TRUE;
      fixtures[i].origin.paused = TRUE;
      fixtures[i].origin.shut_after_send = TRUE;
      fixtures[i].origin.to_send = g_bytes_new_static ("", 0);
      fixture_start (&fixtures[i], NULL, NULL, 0, NULL);
    }

  wait_for (all_stalled, fixtures, DEADLINE_SECS);

  for (guint i = 0; i < BLOCKED_TUNNELS; i++)
    {
      fixtures[i].origin.paused = FALSE;
      peer_update_watch (&fixtures[i].origin);
    }

  wait_for (fixture_set_done, &set, DEADLINE_SECS);

  for (guint i = 0; i < BLOCKED_TUNNELS; i++)
    {
      g_assert_no_error (fixtures[i].error);
      g_assert_true (fixtures[i].success);
      assert_received (&fixtures[i].origin, NULL, fixtures[i].client.to_send);
      g_assert_cmpuint (hg_tunnel_get_bytes_up (fixtures[i].tunnel), ==, BLOCKED_BYTES);
      fixture_clear (&fixtures[i]);
    }
}

static void
test_close_before_run (void)
{
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.tunnel = hg_tunnel_new (fixture.client_connection,
                                  fixture.origin_connection, NULL, NULL, 0);
  hg_tunnel_close (fixture.tunnel);
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.client_connection)));
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.origin_connection)));

  hg_tunnel_run_async (fixture.tunnel, NULL, tunnel_done_cb, &fixture);
  g_assert_false (fixture.done);
  wait_for (tunnel_done, &fixture, DEADLINE_SECS);
  g_assert_error (fixture.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  fixture_clear (&fixture);
}

/* A caller closing a proxy-side socket under a running tunnel ends it
 * with an error instead of leaving a watch on a closed descriptor. */
static void
test_socket_closed (void)
{
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture_start (&fixture, NULL, NULL, 0, NULL);
  g_assert_true (g_socket_close (g_socket_connection_get_socket (fixture.client_connection),
                                 NULL));

  wait_for (tunnel_done, &fixture, DEADLINE_SECS);
  g_assert_error (fixture.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.origin_connection)));

  fixture_clear (&fixture);
}

static gboolean
peers_finished (gpointer data)
{
  Fixture *fixture = data;

  return peer_finished (&fixture->client) && peer_finished (&fixture->origin);
}

/* Freeing a running tunnel closes both sockets and never calls back. */
static void
test_free_running (void)
{
  Fixture fixture;

  fixture_init (&fixture, FALSE);
  fixture.client.to_send = random_bytes (8 * MIB, 9);
  fixture.origin.to_send = random_bytes (8 * MIB, 10);

  fixture_start (&fixture, NULL, NULL, 1, NULL);
  wait_for (origin_got_bytes, &fixture, DEADLINE_SECS);
  g_clear_pointer (&fixture.tunnel, hg_tunnel_free);

  wait_for (peers_finished, &fixture, DEADLINE_SECS);
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.client_connection)));
  g_assert_true (g_socket_is_closed (g_socket_connection_get_socket (fixture.origin_connection)));

  /* Past the idle timeout, where a leftover source would fire. */
  iterate_for (1200);
  g_assert_false (fixture.done);

  fixture_clear (&fixture);
}

#define MANY_TUNNELS 200

static void
test_many (void)
{
  g_autofree Fixture *fixtures = g_new0 (Fixture, MANY_TUNNELS);
  FixtureSet set = { fixtures, MANY_TUNNELS };

  for (guint i = 0; i < MANY_TUNNELS; i++)
    {
      g_autoptr(GBytes) client_pending = random_bytes (i % 7, 100 + i);

      fixture_init (&fixtures[i], FALSE);
      fixtures[i].client.to_send = random_bytes (16 * 1024 + i, 1000 + i);
      fixtures[i].client.shut_after_send = TRUE;
      fixtures[i].origin.to_send = random_bytes (32 * 1024 + i, 2000 + i);
      fixtures[i].origin.shut_after_send = TRUE;
      fixture_start (&fixtures[i], client_pending, NULL, 30, NULL);
    }

  wait_for (fixture_set_done, &set, DEADLINE_SECS);

  for (guint i = 0; i < MANY_TUNNELS; i++)
    {
      g_autoptr(GBytes) client_pending = random_bytes (i % 7, 100 + i);

      g_assert_no_error (fixtures[i].error);
      g_assert_true (fixtures[i].success);
      assert_received (&fixtures[i].origin, client_pending, fixtures[i].client.to_send);
      assert_received (&fixtures[i].client, NULL, fixtures[i].origin.to_send);
      fixture_clear (&fixtures[i]);
    }
}

/* Throughput and memory figures, run only with -m perf. */

typedef struct
{
  int     fd;
  guint64 size;    /* bytes to write, for the writer */
  guint64 count;   /* bytes read, for the reader */
} StreamJob;

static gpointer
write_stream_thread (gpointer data)
{
  StreamJob *job = data;
  g_autofree guint8 *chunk = g_malloc0 (MIB);
  guint64 left = job->size;

  while (left > 0)
    {
      ssize_t n = send (job->fd, chunk, MIN (left, MIB), MSG_NOSIGNAL);

      g_assert_cmpint (n, >, 0);
      left -= n;
    }
  g_assert_no_errno (shutdown (job->fd, SHUT_WR));

  return NULL;
}

static gpointer
read_stream_thread (gpointer data)
{
  StreamJob *job = data;
  g_autofree guint8 *chunk = g_malloc (MIB);

  for (;;)
    {
      ssize_t n = recv (job->fd, chunk, MIB, 0);

      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        break;
      job->count += n;
    }

  return NULL;
}

static guint64
perf_size (void)
{
  const char *mib = g_getenv ("HOSTGATE_TUNNEL_PERF_MIB");

  return (mib != NULL ? g_ascii_strtoull (mib, NULL, 10) : 1024) * MIB;
}

static gint64
thread_cpu_time (void)
{
  struct rusage usage;

  g_assert_no_errno (getrusage (RUSAGE_THREAD, &usage));
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC
         + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/* @cpu_microseconds is the main thread's CPU time, which runs the tunnel;
 * @process_cpu_microseconds adds the writer and the reader. */
static void
report_rate (const char *what,
             guint64     size,
             gint64      microseconds,
             gint64      cpu_microseconds,
             gint64      process_cpu_microseconds)
{
  double seconds = microseconds / (double) G_USEC_PER_SEC;

  g_test_message ("%s: %" G_GUINT64_FORMAT " MiB in %.2f s, %.0f MiB/s, "
                  "CPU %.2f s in the main thread, %.2f s in all threads",
                  what, size / MIB, seconds, size / (double) MIB / seconds,
                  cpu_microseconds / (double) G_USEC_PER_SEC,
                  process_cpu_microseconds / (double) G_USEC_PER_SEC);
  g_test_minimized_result (seconds, "%s: %.2f s", what, seconds);
}

/* One writer thread and one reader thread with blocking sockets, joined
 * either directly or through a tunnel on the main thread. */
static void
measure_upload (gboolean through_tunnel,
                gboolean use_splice)
{
  StreamJob writer = { -1, perf_size (), 0 };
  StreamJob reader = { -1, 0, 0 };
  const char *label;
  GThread *writer_thread;
  GThread *reader_thread;
  Fixture fixture;
  gint64 start;
  gint64 cpu_start;
  gint64 process_cpu_start;

  hg_tunnel_set_use_splice (use_splice);
  fixture_init (&fixture, FALSE);
  writer.fd = fixture.client.fd;
  reader.fd = fixture.origin.fd;

  start = g_get_monotonic_time ();
  cpu_start = thread_cpu_time ();
  process_cpu_start = process_cpu_time ();
  if (through_tunnel)
    {
      g_assert_no_errno (shutdown (fixture.origin.fd, SHUT_WR));
      fixture.tunnel = hg_tunnel_new (fixture.client_connection,
                                      fixture.origin_connection, NULL, NULL, 0);
      hg_tunnel_run_async (fixture.tunnel, NULL, tunnel_done_cb, &fixture);
    }
  else
    {
      /* The proxy's two ends stand in for a direct connection. */
      writer.fd = g_socket_get_fd (g_socket_connection_get_socket (fixture.origin_connection));
      g_assert_true (g_unix_set_fd_nonblocking (writer.fd, FALSE, NULL));
    }

  writer_thread = g_thread_new ("writer", write_stream_thread, &writer);
  reader_thread = g_thread_new ("reader", read_stream_thread, &reader);

  if (through_tunnel)
    {
      wait_for (tunnel_done, &fixture, 600);
      g_assert_no_error (fixture.error);
    }
  g_thread_join (writer_thread);
  g_thread_join (reader_thread);

  g_assert_cmpuint (reader.count, ==, writer.size);
  if (!through_tunnel)
    label = "direct";
  else if (use_splice)
    label = "splice";
  else
    label = "copy";
  report_rate (label, writer.size, g_get_monotonic_time () - start,
               thread_cpu_time () - cpu_start,
               process_cpu_time () - process_cpu_start);

  fixture_clear (&fixture);
  hg_tunnel_set_use_splice (TRUE);
}

static void
test_perf_direct (void)
{
  measure_upload (FALSE, TRUE);
}

static void
test_perf_splice (void)
{
  measure_upload (TRUE, TRUE);
}

static void
test_perf_copy (void)
{
  measure_upload (TRUE, FALSE);
}

#define IDLE_TUNNELS 500

/* Heap bytes per idle running tunnel, connections not counted. Exact only
 * with G_SLICE=always-malloc, because GLib 2.74's slice allocator takes
 * memory from malloc in blocks. */
static void
test_perf_idle_memory (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree Fixture *fixtures = g_new0 (Fixture, IDLE_TUNNELS);
  struct mallinfo2 before;
  struct mallinfo2 after;

  for (guint i = 0; i < IDLE_TUNNELS; i++)
    fixture_init (&fixtures[i], FALSE);

  before = mallinfo2 ();
  for (guint i = 0; i < IDLE_TUNNELS; i++)
    {
      fixtures[i].tunnel = hg_tunnel_new (fixtures[i].client_connection,
                                          fixtures[i].origin_connection,
                                          NULL, NULL, 300);
      hg_tunnel_run_async (fixtures[i].tunnel, cancellable, tunnel_done_cb,
                           &fixtures[i]);
    }
  g_main_context_iteration (NULL, FALSE);
  after = mallinfo2 ();

  g_test_message ("idle tunnel: %zu heap bytes each",
                  (after.uordblks - before.uordblks) / IDLE_TUNNELS);

  for (guint i = 0; i < IDLE_TUNNELS; i++)
    fixture_clear (&fixtures[i]);
}

int
main (int   argc,
      char *argv[])
{
  struct rlimit limit;

  /* Writing into a reset socket with splice() raises SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);
  hg_tunnel_set_use_splice (FALSE);

  /* Each tunnel case opens four sockets per tunnel. */
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 4096)
    {
      limit.rlim_cur = MIN (limit.rlim_max, 4096);
      setrlimit (RLIMIT_NOFILE, &limit);
    }

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tunnel/bulk/tcp-splice", test_bulk_tcp_splice);
  g_test_add_func ("/tunnel/bulk/tcp-copy", test_bulk_tcp_copy);
  g_test_add_func ("/tunnel/bulk/unix-splice", test_bulk_unix_splice);
  g_test_add_func ("/tunnel/bulk/unix-copy", test_bulk_unix_copy);
  g_test_add_data_func ("/tunnel/pending/small", &pending_small, test_pending);
  g_test_add_data_func ("/tunnel/pending/large", &pending_large, test_pending);
  g_test_add_func ("/tunnel/half-close", test_half_close);
  g_test_add_data_func ("/tunnel/reset/upload", GINT_TO_POINTER (FALSE), test_reset);
  g_test_add_data_func ("/tunnel/reset/download", GINT_TO_POINTER (TRUE), test_reset);
  g_test_add_func ("/tunnel/reset/sigpipe-default", test_sigpipe_default);
  g_test_add_func ("/tunnel/idle/timeout", test_idle_timeout);
  g_test_add_func ("/tunnel/idle/activity", test_idle_activity);
  g_test_add_func ("/tunnel/idle/order", test_idle_order);
  g_test_add_func ("/tunnel/cancel/running", test_cancel);
  g_test_add_func ("/tunnel/cancel/before-run", test_cancel_before_run);
  g_test_add_func ("/tunnel/cancel/thread", test_cancel_thread);
  g_test_add_func ("/tunnel/close/running", test_close);
  g_test_add_func ("/tunnel/close/before-run", test_close_before_run);
  g_test_add_data_func ("/tunnel/back-pressure/copy", GINT_TO_POINTER (FALSE),
                        test_back_pressure);
  g_test_add_data_func ("/tunnel/back-pressure/splice", GINT_TO_POINTER (TRUE),
                        test_back_pressure);
  g_test_add_func ("/tunnel/copy/many-blocked", test_copy_many_blocked);
  g_test_add_func ("/tunnel/free-running", test_free_running);
  g_test_add_func ("/tunnel/socket-closed", test_socket_closed);
  g_test_add_func ("/tunnel/many", test_many);

  if (g_test_perf ())
    {
      g_test_add_func ("/tunnel/perf/direct", test_perf_direct);
      g_test_add_func ("/tunnel/perf/splice", test_perf_splice);
      g_test_add_func ("/tunnel/perf/copy", test_perf_copy);
      g_test_add_func ("/tunnel/perf/idle-memory", test_perf_idle_memory);
    }

  return g_test_run ();
}
