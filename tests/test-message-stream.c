/* test-message-stream.c: framing wire messages on a real Unix socket
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hg-error.h"
#include "hg-message-stream.h"

#define TIMEOUT_SECONDS 20

/* ------------------------------------------------------------------ */
/* Main loop helpers                                                   */
/* ------------------------------------------------------------------ */

static gboolean
deadline_cb (gpointer user_data)
{
  g_error ("timed out after %d s waiting for %s", TIMEOUT_SECONDS, (const char *) user_data);
  return G_SOURCE_REMOVE;
}

/* Iterate the main context until *@flag is set, failing the test after
 * TIMEOUT_SECONDS. */
static void
wait_for (const gboolean *flag,
          const char     *what)
{
  guint deadline = g_timeout_add_seconds (TIMEOUT_SECONDS, deadline_cb, (gpointer) what);

  while (!*flag)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (deadline);
}

static void
drain_main_context (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

typedef struct {
  gboolean done;
  HgMessage *message;
  GError *error;
} ReadResult;

static void
read_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadResult *read = user_data;

  read->message = hg_message_stream_read_finish (HG_MESSAGE_STREAM (source), result, &read->error);
  read->done = TRUE;
}

static HgMessage *
read_message (HgMessageStream  *stream,
              GError          **error)
{
  ReadResult read = { 0 };

  hg_message_stream_read_async (stream, NULL, read_done_cb, &read);
  wait_for (&read.done, "a message");

  if (read.error != NULL)
    g_propagate_error (error, read.error);
  return read.message;
}

typedef struct {
  gboolean done;
  gboolean success;
  GError *error;
} WriteResult;

static void
raw_write_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  WriteResult *write = user_data;

  write->success = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL,
                                                     &write->error);
  write->done = TRUE;
}

/* ------------------------------------------------------------------ */
/* Fixture: a connected socket pair, one end wrapped in a stream       */
/* ------------------------------------------------------------------ */

typedef struct {
  GSocketConnection *near;
  GSocketConnection *far;
  HgMessageStream *stream;
} Pair;

static GSocketConnection *
connection_from_fd (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

static void
pair_setup (Pair          *pair,
            gconstpointer  data)
{
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  pair->near = connection_from_fd (fds[0]);
  pair->far = connection_from_fd (fds[1]);
  pair->stream = hg_message_stream_new (G_IO_STREAM (pair->near));
}

static void
pair_teardown (Pair          *pair,
               gconstpointer  data)
{
  g_clear_object (&pair->stream);
  drain_main_context ();
  g_clear_object (&pair->near);
  g_clear_object (&pair->far);
}

/* Write @data to the far end; small amounts fit in the socket buffer. */
static void
far_write (Pair       *pair,
           const char *data,
           gsize       length)
{
  g_autoptr(GError) error = NULL;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (pair->far));

  g_output_stream_write_all (output, data, length, NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
far_close (Pair *pair)
{
  g_autoptr(GError) error = NULL;

  g_io_stream_close (G_IO_STREAM (pair->far), NULL, &error);
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static void
test_read_several_in_one_write (Pair          *pair,
                                gconstpointer  data)
{
  static const char lines[] =
    "{\"type\":\"ping\",\"id\":\"one\"}\n"
    "{\"type\":\"pong\",\"id\":\"two\"}\n"
    "{\"type\":\"cancel\",\"id\":\"three\",\"reason\":\"timeout\"}\n";
  g_autoptr(HgMessage) first = NULL;
  g_autoptr(HgMessage) second = NULL;
  g_autoptr(HgMessage) third = NULL;
  g_autoptr(HgMessage) end = NULL;
  g_autoptr(GError) error = NULL;

  far_write (pair, lines, sizeof lines - 1);
  far_close (pair);

  first = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_cmpint (first->type, ==, HG_MESSAGE_TYPE_PING);
  g_assert_cmpstr (first->id, ==, "one");

  second = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_cmpint (second->type, ==, HG_MESSAGE_TYPE_PONG);
  g_assert_cmpstr (second->id, ==, "two");

  third = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_cmpint (third->type, ==, HG_MESSAGE_TYPE_CANCEL);
  g_assert_cmpint (third->cancel.reason, ==, HG_CANCEL_REASON_TIMEOUT);

  end = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_null (end);
}

typedef struct {
  Pair *pair;
  const char *data;
  gsize length;
  gsize written;
} ByteWriter;

static gboolean
write_one_byte_cb (gpointer user_data)
{
  ByteWriter *writer = user_data;

  far_write (writer->pair, writer->data + writer->written, 1);
  writer->written++;

  return writer->written < writer->length ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
test_read_split_writes (Pair          *pair,
                        gconstpointer  data)
{
  static const char line[] =
    "{\"type\":\"ask\",\"id\":\"a-1\",\"host\":\"example.com\",\"port\":443,"
    "\"kind\":\"connect\",\"timeout_ms\":60000}\n";
  ByteWriter writer = { pair, line, sizeof line - 1, 0 };
  ReadResult read = { 0 };
  g_autoptr(HgMessage) message = NULL;

  hg_message_stream_read_async (pair->stream, NULL, read_done_cb, &read);
  g_idle_add (write_one_byte_cb, &writer);
  wait_for (&read.done, "the split message");

  message = read.message;
  g_assert_no_error (read.error);
  g_assert_cmpuint (writer.written, ==, writer.length);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_ASK);
  g_assert_cmpstr (message->ask.host, ==, "example.com");
  g_assert_cmpuint (message->ask.port, ==, 443);
}

/* A ping line of @length bytes without its `\n`, padded in an unknown
 * field. */
static GString *
ping_line_of_length (gsize length)
{
  const char *head = "{\"type\":\"ping\",\"id\":\"big\",\"pad\":\"";
  const char *tail = "\"}";
  GString *line = g_string_sized_new (length + 1);

  g_string_append (line, head);
  while (line->len < length - strlen (tail))
    g_string_append_c (line, 'x');
  g_string_append (line, tail);
  g_assert_cmpuint (line->len, ==, length);
  return line;
}

static void
test_read_max_line (Pair          *pair,
                    gconstpointer  data)
{
  g_autoptr(GString) line = ping_line_of_length (HG_MESSAGE_MAX_LINE);
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (pair->far));
  WriteResult write = { 0 };
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_string_append_c (line, '\n');
  g_output_stream_write_all_async (output, line->str, line->len, G_PRIORITY_DEFAULT, NULL,
                                   raw_write_done_cb, &write);

  message = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_nonnull (message);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_PING);
  g_assert_cmpstr (message->id, ==, "big");

  wait_for (&write.done, "the writer");
  g_assert_no_error (write.error);
}

static void
test_read_max_line_plus_one (Pair          *pair,
                             gconstpointer  data)
{
  g_autoptr(GString) line = ping_line_of_length (HG_MESSAGE_MAX_LINE + 1);
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (pair->far));
  WriteResult write = { 0 };
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_string_append_c (line, '\n');
  g_output_stream_write_all_async (output, line->str, line->len, G_PRIORITY_DEFAULT, NULL,
                                   raw_write_done_cb, &write);

  message = read_message (pair->stream, &error);
  g_assert_null (message);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG);
  g_assert_true (hg_message_error_is_fatal (error));

  wait_for (&write.done, "the writer");
  g_clear_error (&write.error);
}

static void
test_read_too_long_bounded (Pair          *pair,
                            gconstpointer  data)
{
  const gsize total = 1024 * 1024;
  g_autofree char *flood = g_malloc (total);
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (pair->far));
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  WriteResult write = { 0 };
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(HgMessage) again = NULL;
  g_autoptr(GError) error = NULL;

  memset (flood, 'x', total);
  g_output_stream_write_all_async (output, flood, total, G_PRIORITY_DEFAULT, cancellable,
                                   raw_write_done_cb, &write);

  message = read_message (pair->stream, &error);
  g_assert_null (message);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG);

  /* The reader stopped after about 80 KiB, so 1 MiB cannot have fitted
   * into the socket buffers: the writer is still blocked. */
  g_assert_false (write.done);

  /* The stream has lost its place, so every later read fails too. */
  g_clear_error (&error);
  again = read_message (pair->stream, &error);
  g_assert_null (again);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG);

  g_cancellable_cancel (cancellable);
  wait_for (&write.done, "the cancelled writer");
  g_clear_error (&write.error);
}

static void
test_read_eof (Pair          *pair,
               gconstpointer  data)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  far_close (pair);
  message = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_null (message);
}

static void
test_read_eof_mid_line (Pair          *pair,
                        gconstpointer  data)
{
  static const char partial[] = "{\"type\":\"ping\",";
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  far_write (pair, partial, sizeof partial - 1);
  far_close (pair);
  message = read_message (pair->stream, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
}

static void
test_read_bad_lines_then_good (Pair          *pair,
                               gconstpointer  data)
{
  static const char lines[] =
    "not json\n"
    "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":\"443\"}\n"
    "{\"type\":\"brand-new\"}\n"
    "\n"
    "{\"type\":\"ping\",\"id\":\"after\"}\r\n";
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  far_write (pair, lines, sizeof lines - 1);

  message = read_message (pair->stream, &error);
  g_assert_null (message);
  g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
  g_clear_error (&error);

  message = read_message (pair->stream, &error);
  g_assert_null (message);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE);
  g_clear_error (&error);

  message = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_UNKNOWN);
  g_assert_cmpstr (message->type_name, ==, "brand-new");
  g_clear_pointer (&message, hg_message_free);

  /* An empty line is not a JSON text. */
  message = read_message (pair->stream, &error);
  g_assert_null (message);
  g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
  g_clear_error (&error);

  /* A CR before the LF is JSON whitespace. */
  message = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_PING);
  g_assert_cmpstr (message->id, ==, "after");
}

static void
test_read_cancel (Pair          *pair,
                  gconstpointer  data)
{
  static const char line[] = "{\"type\":\"ping\",\"id\":\"later\"}\n";
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ReadResult read = { 0 };
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  hg_message_stream_read_async (pair->stream, cancellable, read_done_cb, &read);
  g_cancellable_cancel (cancellable);
  wait_for (&read.done, "the cancelled read");
  g_assert_null (read.message);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&read.error);

  /* A cancelled read leaves the stream usable. */
  far_write (pair, line, sizeof line - 1);
  message = read_message (pair->stream, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (message->id, ==, "later");
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

#define N_ORDERED 2000

static void
test_send_in_order (Pair          *pair,
                    gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));

  /* Queue everything before the main loop runs, so most lines wait in
   * the queue behind a write in flight. */
  for (guint i = 0; i < N_ORDERED; i++)
    {
      g_autofree char *id = g_strdup_printf ("m-%u", i);
      g_autoptr(HgMessage) message = NULL;

      if (i % 3 == 0)
        message = hg_message_new_ask (id, "example.com", 443, HG_ASK_KIND_CONNECT, 1000);
      else
        message = hg_message_new_ping (id);
      hg_message_stream_send (pair->stream, message);
    }

  for (guint i = 0; i < N_ORDERED; i++)
    {
      g_autofree char *id = g_strdup_printf ("m-%u", i);
      g_autoptr(HgMessage) message = NULL;
      g_autoptr(GError) error = NULL;

      message = read_message (far_stream, &error);
      g_assert_no_error (error);
      g_assert_nonnull (message);
      g_assert_cmpstr (message->id, ==, id);
      g_assert_cmpint (message->type, ==, i % 3 == 0 ? HG_MESSAGE_TYPE_ASK : HG_MESSAGE_TYPE_PING);
    }
}

typedef struct {
  gboolean done;
  gboolean success;
  GError *error;
} StreamWriteResult;

static void
stream_write_done_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  StreamWriteResult *write = user_data;

  write->success = hg_message_stream_write_finish (HG_MESSAGE_STREAM (source), result, &write->error);
  write->done = TRUE;
}

static void
test_write_async (Pair          *pair,
                  gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  g_autoptr(HgMessage) sent = hg_message_new_decision ("a-1", HG_DECISION_APPROVE,
                                                       HG_DECISION_ONCE, "example.com");
  StreamWriteResult write = { 0 };
  g_autoptr(HgMessage) received = NULL;
  g_autoptr(GError) error = NULL;

  hg_message_stream_write_async (pair->stream, sent, NULL, stream_write_done_cb, &write);
  wait_for (&write.done, "the write");
  g_assert_no_error (write.error);
  g_assert_true (write.success);

  received = read_message (far_stream, &error);
  g_assert_no_error (error);
  g_assert_cmpint (received->type, ==, HG_MESSAGE_TYPE_DECISION);
  g_assert_cmpstr (received->decision.pattern, ==, "example.com");
}

static void close_done_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data);

typedef struct {
  HgMessageStream *stream;
  gboolean done;
  GError *error;
} SendFromCallback;

static void
send_follow_up_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  SendFromCallback *state = user_data;
  g_autoptr(HgMessage) follow_up = hg_message_new_pong ("follow-up");

  hg_message_stream_write_finish (HG_MESSAGE_STREAM (source), result, &state->error);
  hg_message_stream_send (state->stream, follow_up);
  state->done = TRUE;
}

/* A write callback that sends again must not make the stream write the
 * next queued line twice. */
static void
test_write_send_from_callback (Pair          *pair,
                               gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  g_autoptr(HgMessage) first = hg_message_new_ping ("first");
  g_autoptr(HgMessage) queued = hg_message_new_ping ("queued");
  g_autoptr(HgMessage) last = hg_message_new_ping ("last");
  SendFromCallback state = { pair->stream, FALSE, NULL };
  static const char * const expected[] = { "first", "queued", "follow-up", "last" };

  hg_message_stream_write_async (pair->stream, first, NULL, send_follow_up_cb, &state);
  hg_message_stream_send (pair->stream, queued);
  wait_for (&state.done, "the first write");
  g_assert_no_error (state.error);
  hg_message_stream_send (pair->stream, last);

  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autoptr(HgMessage) message = NULL;
      g_autoptr(GError) error = NULL;

      message = read_message (far_stream, &error);
      g_assert_no_error (error);
      g_assert_nonnull (message);
      g_assert_cmpstr (message->id, ==, expected[i]);
    }
}

static void
test_write_cancelled_in_queue (Pair          *pair,
                               gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  g_autoptr(HgMessage) first = hg_message_new_ping ("first");
  g_autoptr(HgMessage) dropped = hg_message_new_ping ("dropped");
  g_autoptr(HgMessage) last = hg_message_new_ping ("last");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  SendFromCallback state = { pair->stream, FALSE, NULL };
  static const char * const expected[] = { "first", "follow-up", "last" };

  /* "first" is in flight; "dropped" waits behind it and is cancelled.
   * Its callback queues a pong, which must go out exactly once. */
  hg_message_stream_send (pair->stream, first);
  hg_message_stream_write_async (pair->stream, dropped, cancellable, send_follow_up_cb, &state);
  g_cancellable_cancel (cancellable);
  wait_for (&state.done, "the cancelled write");
  g_assert_error (state.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&state.error);
  hg_message_stream_send (pair->stream, last);

  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autoptr(HgMessage) message = NULL;
      g_autoptr(GError) error = NULL;

      message = read_message (far_stream, &error);
      g_assert_no_error (error);
      g_assert_nonnull (message);
      g_assert_cmpstr (message->id, ==, expected[i]);
    }
}

typedef struct {
  guint count;
  gboolean done;
  GError *error;
} ReadLoop;

/* Read on from inside the callback, as a connection handler does. */
static void
read_loop_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadLoop *loop = user_data;
  HgMessageStream *stream = HG_MESSAGE_STREAM (source);
  g_autoptr(HgMessage) message = hg_message_stream_read_finish (stream, result, &loop->error);

  if (message == NULL)
    {
      loop->done = TRUE;
      return;
    }

  g_assert_cmpuint (message->version, ==, 0);
  loop->count++;
  hg_message_stream_read_async (stream, NULL, read_loop_cb, loop);
}

static void
test_read_from_callback (Pair          *pair,
                         gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  ReadLoop loop = { 0 };
  StreamWriteResult close = { 0 };

  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *id = g_strdup_printf ("%u", i);
      g_autoptr(HgMessage) message = hg_message_new_cancel (id, HG_CANCEL_REASON_TIMEOUT);

      hg_message_stream_send (far_stream, message);
    }
  hg_message_stream_close_async (far_stream, NULL, close_done_cb, &close);

  hg_message_stream_read_async (pair->stream, NULL, read_loop_cb, &loop);
  wait_for (&loop.done, "the end of the stream");
  g_assert_no_error (loop.error);
  g_assert_cmpuint (loop.count, ==, 300);

  wait_for (&close.done, "the close");
  g_assert_no_error (close.error);
}

static void
test_write_too_long (Pair          *pair,
                     gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  g_autofree char *long_label = g_strnfill (HG_MESSAGE_MAX_LINE, 'x');
  g_autoptr(HgSessionInfo) session = hg_session_info_new ("s", long_label, "p", 1, NULL);
  g_autoptr(HgMessage) hello = hg_message_new_hello (session);
  g_autoptr(HgMessage) ping = hg_message_new_ping ("still-open");
  StreamWriteResult write = { 0 };
  g_autoptr(HgMessage) received = NULL;
  g_autoptr(GError) error = NULL;

  hg_message_stream_write_async (pair->stream, hello, NULL, stream_write_done_cb, &write);
  wait_for (&write.done, "the refused write");
  g_assert_false (write.success);
  g_assert_error (write.error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG);
  g_clear_error (&write.error);

  /* The connection stays usable. */
  hg_message_stream_send (pair->stream, ping);
  received = read_message (far_stream, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (received->id, ==, "still-open");
}

typedef struct {
  gboolean fired;
  guint count;
  GError *error;
} FailedCount;

static void
failed_cb (HgMessageStream *stream,
           const GError    *error,
           gpointer         user_data)
{
  FailedCount *failed = user_data;

  failed->fired = TRUE;
  failed->count++;
  if (failed->error == NULL)
    failed->error = g_error_copy (error);
}

static void
test_send_failed_signal (Pair          *pair,
                         gconstpointer  data)
{
  g_autoptr(HgMessage) ping = hg_message_new_ping ("p");
  FailedCount failed = { 0 };
  StreamWriteResult write = { 0 };

  g_signal_connect (pair->stream, "failed", G_CALLBACK (failed_cb), &failed);
  far_close (pair);

  hg_message_stream_send (pair->stream, ping);
  wait_for (&failed.fired, "the failed signal");

  g_assert_cmpuint (failed.count, ==, 1);
  g_assert_error (failed.error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_clear_error (&failed.error);

  /* Later sends are dropped without a second signal, and write_async
   * gets the stored error. */
  hg_message_stream_send (pair->stream, ping);
  hg_message_stream_write_async (pair->stream, ping, NULL, stream_write_done_cb, &write);
  wait_for (&write.done, "the refused write");
  g_assert_false (write.success);
  g_assert_error (write.error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_clear_error (&write.error);
  drain_main_context ();
  g_assert_cmpuint (failed.count, ==, 1);
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

static void
test_close_pending_read (Pair          *pair,
                         gconstpointer  data)
{
  ReadResult read = { 0 };
  StreamWriteResult write = { 0 };
  g_autoptr(HgMessage) ping = hg_message_new_ping ("p");
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  g_autoptr(HgMessage) end = NULL;
  g_autoptr(GError) error = NULL;

  hg_message_stream_read_async (pair->stream, NULL, read_done_cb, &read);
  hg_message_stream_close (pair->stream);
  g_assert_true (hg_message_stream_is_closed (pair->stream));
  wait_for (&read.done, "the read after close");
  g_assert_null (read.message);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&read.error);

  /* The socket itself is closed, so the peer reads the end of stream. */
  end = read_message (far_stream, &error);
  g_assert_no_error (error);
  g_assert_null (end);
  g_assert_true (g_io_stream_is_closed (G_IO_STREAM (pair->near)));

  hg_message_stream_write_async (pair->stream, ping, NULL, stream_write_done_cb, &write);
  wait_for (&write.done, "the write after close");
  g_assert_error (write.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&write.error);
}

static void
close_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  StreamWriteResult *close = user_data;

  close->success = hg_message_stream_close_finish (HG_MESSAGE_STREAM (source), result, &close->error);
  close->done = TRUE;
}

static void
test_close_async_flushes (Pair          *pair,
                          gconstpointer  data)
{
  g_autoptr(HgMessageStream) far_stream = hg_message_stream_new (G_IO_STREAM (pair->far));
  StreamWriteResult close = { 0 };
  ReadResult read = { 0 };
  g_autoptr(HgMessage) end = NULL;
  g_autoptr(GError) error = NULL;
  guint n_sent = 200;

  for (guint i = 0; i < n_sent; i++)
    {
      g_autofree char *id = g_strdup_printf ("last-%u", i);
      g_autoptr(HgMessage) message = hg_message_new_error (id, HG_ERROR_CODE_TOO_MANY_PROMPTS,
                                                           "too many prompts are open");

      hg_message_stream_send (pair->stream, message);
    }

  /* The pending read must not keep the stream open. */
  hg_message_stream_read_async (pair->stream, NULL, read_done_cb, &read);
  hg_message_stream_close_async (pair->stream, NULL, close_done_cb, &close);

  for (guint i = 0; i < n_sent; i++)
    {
      g_autofree char *id = g_strdup_printf ("last-%u", i);
      g_autoptr(HgMessage) message = read_message (far_stream, &error);

      g_assert_no_error (error);
      g_assert_nonnull (message);
      g_assert_cmpstr (message->id, ==, id);
    }

  end = read_message (far_stream, &error);
  g_assert_no_error (error);
  g_assert_null (end);

  wait_for (&close.done, "the close");
  g_assert_no_error (close.error);
  g_assert_true (close.success);

  wait_for (&read.done, "the read after close");
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&read.error);
}

/* ------------------------------------------------------------------ */
/* Peer credentials                                                    */
/* ------------------------------------------------------------------ */

static void
test_peer_check_same_uid (Pair          *pair,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_unix_peer_check (pair->near, &error));
  g_assert_no_error (error);
  g_assert_true (hg_unix_peer_check (pair->far, &error));
  g_assert_no_error (error);
}

#define OTHER_UID 65534

/* Connect to a listening socket from a child process running as another
 * user, and check that the listener rejects it. Needs root to switch. */
static void
test_peer_check_other_uid (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autofree char *own_uid = NULL;
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  int listener;
  int accepted;
  int status;
  pid_t child;

  if (geteuid () != 0)
    {
      g_test_skip ("switching to another uid needs root");
      return;
    }

  folder = g_dir_make_tmp ("hostgate-peer-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (folder, 0755), ==, 0);
  path = g_build_filename (folder, "agent.sock", NULL);
  g_assert_cmpuint (strlen (path), <, sizeof address.sun_path);
  strcpy (address.sun_path, path);

  listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (listener, >=, 0);
  g_assert_cmpint (bind (listener, (struct sockaddr *) &address, sizeof address), ==, 0);
  g_assert_cmpint (g_chmod (path, 0777), ==, 0);
  g_assert_cmpint (listen (listener, 1), ==, 0);

  child = fork ();
  g_assert_cmpint (child, >=, 0);
  if (child == 0)
    {
      /* Only async-signal-safe calls between fork and _exit. */
      char byte;
      int fd;

      if (setgid (OTHER_UID) != 0 || setuid (OTHER_UID) != 0)
        _exit (2);
      fd = socket (AF_UNIX, SOCK_STREAM, 0);
      if (fd < 0 || connect (fd, (struct sockaddr *) &address, sizeof address) != 0)
        _exit (3);
      /* Wait until the parent closes its end. */
      if (read (fd, &byte, 1) < 0)
        _exit (4);
      _exit (0);
    }

  accepted = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (accepted, >=, 0);
  close (listener);
  connection = connection_from_fd (accepted);

  g_assert_false (hg_unix_peer_check (connection, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "uid 65534"));
  own_uid = g_strdup_printf ("uid %u", (guint) geteuid ());
  g_assert_nonnull (strstr (error->message, own_uid));

  g_clear_error (&error);
  g_io_stream_close (G_IO_STREAM (connection), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (folder), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD_PAIR_TEST(path, func) \
  g_test_add (path, Pair, NULL, pair_setup, func, pair_teardown)

  ADD_PAIR_TEST ("/message-stream/read/several-in-one-write", test_read_several_in_one_write);
  ADD_PAIR_TEST ("/message-stream/read/split-writes", test_read_split_writes);
  ADD_PAIR_TEST ("/message-stream/read/max-line", test_read_max_line);
  ADD_PAIR_TEST ("/message-stream/read/max-line-plus-one", test_read_max_line_plus_one);
  ADD_PAIR_TEST ("/message-stream/read/too-long-bounded", test_read_too_long_bounded);
  ADD_PAIR_TEST ("/message-stream/read/eof", test_read_eof);
  ADD_PAIR_TEST ("/message-stream/read/eof-mid-line", test_read_eof_mid_line);
  ADD_PAIR_TEST ("/message-stream/read/bad-lines-then-good", test_read_bad_lines_then_good);
  ADD_PAIR_TEST ("/message-stream/read/cancel", test_read_cancel);
  ADD_PAIR_TEST ("/message-stream/send/in-order", test_send_in_order);
  ADD_PAIR_TEST ("/message-stream/send/failed-signal", test_send_failed_signal);
  ADD_PAIR_TEST ("/message-stream/write/async", test_write_async);
  ADD_PAIR_TEST ("/message-stream/write/too-long", test_write_too_long);
  ADD_PAIR_TEST ("/message-stream/write/send-from-callback", test_write_send_from_callback);
  ADD_PAIR_TEST ("/message-stream/write/cancelled-in-queue", test_write_cancelled_in_queue);
  ADD_PAIR_TEST ("/message-stream/read/from-callback", test_read_from_callback);
  ADD_PAIR_TEST ("/message-stream/close/pending-read", test_close_pending_read);
  ADD_PAIR_TEST ("/message-stream/close/async-flushes", test_close_async_flushes);
  ADD_PAIR_TEST ("/message-stream/peer-check/same-uid", test_peer_check_same_uid);
  g_test_add_func ("/message-stream/peer-check/other-uid", test_peer_check_other_uid);

  return g_test_run ();
}
