/* hg-message-stream.c: reading and writing wire messages on a connection
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-message-stream.h"

#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

#include "hg-error.h"

/* Bytes requested from the socket per read. The reader fails as soon as
 * more than HG_MESSAGE_MAX_LINE bytes wait without a `\n`, and it reads
 * again only below that, so the buffer never grows beyond
 * HG_MESSAGE_MAX_LINE + READ_CHUNK_SIZE bytes. */
#define READ_CHUNK_SIZE 16384
#define READ_BUFFER_MAX (HG_MESSAGE_MAX_LINE + READ_CHUNK_SIZE)

typedef struct {
  GBytes *line;
  GTask *task;  /* (nullable): the write_async task, NULL for send() */
} WriteRequest;

/**
 * HgMessageStream:
 *
 * A connection that carries wire messages, one JSON line each. Reads
 * return one message at a time. Writes are queued and go out one at a
 * time in the order they were made, so many parts of a program can send
 * on one connection without interleaving lines.
 *
 * Only one read may be pending at a time. A line longer than
 * %HG_MESSAGE_MAX_LINE bytes fails the read with
 * %HG_PROTOCOL_ERROR_LINE_TOO_LONG and every later read with the same
 * error, because the stream has lost its place; close it then.
 */
struct _HgMessageStream {
  GObject parent_instance;

  GIOStream *base_stream;

  /* Reading: bytes [read_start, read_end) of read_buffer are received but
   * not returned yet; the first read_scanned of them contain no `\n`. */
  guint8 *read_buffer;
  gsize read_capacity;
  gsize read_start;
  gsize read_end;
  gsize read_scanned;
  gboolean read_eof;
  GError *read_error;
  GTask *read_task;
  GCancellable *read_cancellable;
  GCancellable *read_user_cancellable;
  gulong read_cancelled_id;
  gboolean read_in_flight;

  /* Writing */
  GQueue write_queue;
  gboolean write_in_flight;
  GCancellable *write_cancellable;
  GError *write_error;
  gboolean failed_emitted;

  /* Closing */
  gboolean closed;
  GTask *close_task;
};

enum {
  PROP_0,
  PROP_BASE_STREAM,
  N_PROPS
};

enum {
  SIGNAL_FAILED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (HgMessageStream, hg_message_stream, G_TYPE_OBJECT)

static void read_process (HgMessageStream *self);
static void write_next (HgMessageStream *self);
static void close_if_idle (HgMessageStream *self);

static void
write_request_free (WriteRequest *request)
{
  g_bytes_unref (request->line);
  g_clear_object (&request->task);
  g_free (request);
}

static void
hg_message_stream_dispose (GObject *object)
{
  HgMessageStream *self = HG_MESSAGE_STREAM (object);

  /* Every pending operation keeps a reference, so none is left here. */
  g_queue_clear_full (&self->write_queue, (GDestroyNotify) write_request_free);
  g_clear_object (&self->base_stream);
  g_clear_object (&self->write_cancellable);

  G_OBJECT_CLASS (hg_message_stream_parent_class)->dispose (object);
}

static void
hg_message_stream_finalize (GObject *object)
{
  HgMessageStream *self = HG_MESSAGE_STREAM (object);

  g_free (self->read_buffer);
  g_clear_error (&self->read_error);
  g_clear_error (&self->write_error);

  G_OBJECT_CLASS (hg_message_stream_parent_class)->finalize (object);
}

static void
hg_message_stream_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HgMessageStream *self = HG_MESSAGE_STREAM (object);

  switch (prop_id)
    {
    case PROP_BASE_STREAM:
      g_value_set_object (value, self->base_stream);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_message_stream_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  HgMessageStream *self = HG_MESSAGE_STREAM (object);

  switch (prop_id)
    {
    case PROP_BASE_STREAM:
      self->base_stream = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_message_stream_class_init (HgMessageStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_message_stream_dispose;
  object_class->finalize = hg_message_stream_finalize;
  object_class->get_property = hg_message_stream_get_property;
  object_class->set_property = hg_message_stream_set_property;

  /**
   * HgMessageStream:base-stream:
   *
   * The connection the messages travel on.
   */
  properties[PROP_BASE_STREAM] =
    g_param_spec_object ("base-stream", NULL, NULL,
                         G_TYPE_IO_STREAM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HgMessageStream::failed:
   * @self: the stream
   * @error: what went wrong
   *
   * Emitted once, when a queued write fails. The lines still queued are
   * dropped, later writes are refused, and the owner should close the
   * stream. Writes started with hg_message_stream_write_async() also get
   * the error through their callback.
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
hg_message_stream_init (HgMessageStream *self)
{
  g_queue_init (&self->write_queue);
  self->write_cancellable = g_cancellable_new ();
}

/**
 * hg_message_stream_new:
 * @base_stream: a connected stream, usually a #GSocketConnection
 *
 * Creates a message stream on @base_stream.
 *
 * Returns: (transfer full): the new stream
 */
HgMessageStream *
hg_message_stream_new (GIOStream *base_stream)
{
  g_return_val_if_fail (G_IS_IO_STREAM (base_stream), NULL);

  return g_object_new (HG_TYPE_MESSAGE_STREAM, "base-stream", base_stream, NULL);
}

/**
 * hg_message_stream_get_base_stream:
 * @self: a message stream
 *
 * Gives the connection under @self.
 *
 * Returns: (transfer none): the base stream
 */
GIOStream *
hg_message_stream_get_base_stream (HgMessageStream *self)
{
  g_return_val_if_fail (HG_IS_MESSAGE_STREAM (self), NULL);

  return self->base_stream;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static void
read_user_cancelled_cb (GCancellable *user_cancellable,
                        gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static void
read_complete (HgMessageStream *self,
               HgMessage       *message,
               GError          *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->read_task);

  if (self->read_user_cancellable != NULL)
    g_cancellable_disconnect (self->read_user_cancellable, self->read_cancelled_id);
  self->read_cancelled_id = 0;
  g_clear_object (&self->read_user_cancellable);
  g_clear_object (&self->read_cancellable);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, message, (GDestroyNotify) hg_message_free);

  close_if_idle (self);
}

/* Fail this read and every later one: after a framing error the stream
 * can no longer tell where the next line starts. */
static void
read_fail (HgMessageStream *self,
           GError          *error)
{
  g_clear_error (&self->read_error);
  self->read_error = g_error_copy (error);
  read_complete (self, NULL, error);
}

static GError *
line_too_long_error (void)
{
  return g_error_new (HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG,
                      _("the peer sent a line longer than %d bytes"), HG_MESSAGE_MAX_LINE);
}

/* Complete the read if a whole line is buffered or the buffered bytes
 * already exceed the limit. Returns FALSE when more bytes are needed. */
static gboolean
read_take_line (HgMessageStream *self)
{
  gsize n_pending = self->read_end - self->read_start;
  guint8 *pending;
  guint8 *newline = NULL;
  GError *error = NULL;
  HgMessage *message;
  gsize length;

  if (n_pending == 0)
    return FALSE;

  pending = self->read_buffer + self->read_start;
  if (n_pending > self->read_scanned)
    newline = memchr (pending + self->read_scanned, '\n', n_pending - self->read_scanned);

  if (newline == NULL)
    {
      self->read_scanned = n_pending;
      if (n_pending <= HG_MESSAGE_MAX_LINE)
        return FALSE;

      read_fail (self, line_too_long_error ());
      return TRUE;
    }

  length = newline - pending;
  if (length > HG_MESSAGE_MAX_LINE)
    {
      read_fail (self, line_too_long_error ());
      return TRUE;
    }

  self->read_start += length + 1;
  self->read_scanned = 0;

  message = hg_message_parse ((const char *) pending, length, &error);
  read_complete (self, message, error);
  return TRUE;
}

/* Move the pending bytes to the front and make room for one chunk. */
static void
read_make_room (HgMessageStream *self)
{
  gsize n_pending = self->read_end - self->read_start;
  gsize needed = n_pending + READ_CHUNK_SIZE;

  if (self->read_start > 0)
    {
      memmove (self->read_buffer, self->read_buffer + self->read_start, n_pending);
      self->read_start = 0;
      self->read_end = n_pending;
    }

  if (self->read_capacity >= needed)
    return;

  self->read_capacity = MIN (MAX (needed, self->read_capacity * 2), READ_BUFFER_MAX);
  self->read_buffer = g_realloc (self->read_buffer, self->read_capacity);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(HgMessageStream) self = user_data;
  GError *error = NULL;
  gssize n_read;

  n_read = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  self->read_in_flight = FALSE;

  if (self->closed)
    {
      g_clear_error (&error);
      read_complete (self, NULL, g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                              _("the message stream was closed")));
      return;
    }

  if (n_read < 0)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        read_complete (self, NULL, error);
      else
        read_fail (self, error);
      return;
    }

  if (n_read == 0)
    self->read_eof = TRUE;
  self->read_end += n_read;

  read_process (self);
}

static void
read_process (HgMessageStream *self)
{
  GInputStream *input;

  if (read_take_line (self))
    return;

  if (self->read_eof)
    {
      if (self->read_end == self->read_start)
        {
          read_complete (self, NULL, NULL);
          return;
        }

      read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                                    _("the peer closed the connection in the middle of a line")));
      return;
    }

  read_make_room (self);
  input = g_io_stream_get_input_stream (self->base_stream);
  self->read_in_flight = TRUE;
  g_input_stream_read_async (input,
                             self->read_buffer + self->read_end,
                             MIN ((gsize) READ_CHUNK_SIZE, self->read_capacity - self->read_end),
                             G_PRIORITY_DEFAULT,
                             self->read_cancellable,
                             read_cb,
                             g_object_ref (self));
}

/**
 * hg_message_stream_read_async:
 * @self: a message stream
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when a message, the end of the stream or an error
 *   arrives
 * @user_data: data for @callback
 *
 * Reads the next message. Only one read may be pending at a time.
 */
void
hg_message_stream_read_async (HgMessageStream     *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HG_IS_MESSAGE_STREAM (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (self->read_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_message_stream_read_async);

  if (self->closed)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("the message stream was closed"));
      return;
    }

  if (self->read_error != NULL)
    {
      g_task_return_error (task, g_error_copy (self->read_error));
      return;
    }

  if (g_task_return_error_if_cancelled (task))
    return;

  self->read_task = g_steal_pointer (&task);
  self->read_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      self->read_user_cancellable = g_object_ref (cancellable);
      self->read_cancelled_id = g_cancellable_connect (cancellable,
                                                       G_CALLBACK (read_user_cancelled_cb),
                                                       self->read_cancellable, NULL);
    }

  read_process (self);
}

/**
 * hg_message_stream_read_finish:
 * @self: a message stream
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Finishes a read started with hg_message_stream_read_async().
 *
 * A clean end of stream, where the peer closed the connection after a
 * complete line, returns %NULL without setting @error. A connection that
 * ends inside a line fails with %G_IO_ERROR_PARTIAL_INPUT. A bad line
 * fails with the errors of hg_message_parse() or with
 * %HG_PROTOCOL_ERROR_LINE_TOO_LONG; hg_message_error_is_fatal()
 * returns whether the connection must close.
 *
 * Returns: (transfer full) (nullable): the message, or %NULL at the end
 *   of the stream or on error
 */
HgMessage *
hg_message_stream_read_finish (HgMessageStream  *self,
                               GAsyncResult     *result,
                               GError          **error)
{
  g_return_val_if_fail (HG_IS_MESSAGE_STREAM (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hg_message_stream_read_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static void
write_fail_queued (HgMessageStream *self,
                   const GError    *error)
{
  WriteRequest *request;

  while ((request = g_queue_pop_head (&self->write_queue)) != NULL)
    {
      if (request->task != NULL)
        g_task_return_error (request->task, g_error_copy (error));
      write_request_free (request);
    }
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(HgMessageStream) self = user_data;
  g_autoptr(GError) error = NULL;
  WriteRequest *request;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  self->write_in_flight = FALSE;
  request = g_queue_pop_head (&self->write_queue);

  /* Callbacks may send or close, so the stream is brought into a
   * consistent state before any of them runs. */
  if (error == NULL)
    {
      write_next (self);
      if (request->task != NULL)
        g_task_return_boolean (request->task, TRUE);
      write_request_free (request);
      return;
    }

  if (self->closed && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_error (&error);
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CLOSED, _("the message stream was closed"));
    }

  if (self->write_error == NULL)
    self->write_error = g_error_copy (error);

  if (request->task != NULL)
    g_task_return_error (request->task, g_error_copy (error));
  write_request_free (request);
  write_fail_queued (self, error);

  if (!self->closed && !self->failed_emitted)
    {
      self->failed_emitted = TRUE;
      g_signal_emit (self, signals[SIGNAL_FAILED], 0, error);
    }

  close_if_idle (self);
}

static void
write_next (HgMessageStream *self)
{
  WriteRequest *request;
  GOutputStream *output;

  /* Drop writes whose caller cancelled them before they started; a line
   * that has started is always finished, so the framing stays intact. */
  while ((request = g_queue_peek_head (&self->write_queue)) != NULL &&
         request->task != NULL &&
         g_cancellable_is_cancelled (g_task_get_cancellable (request->task)))
    {
      g_queue_pop_head (&self->write_queue);
      g_task_return_error_if_cancelled (request->task);
      write_request_free (request);
    }

  /* A cancelled caller's callback may have queued a line and started it. */
  if (self->write_in_flight)
    return;

  if (request == NULL)
    {
      close_if_idle (self);
      return;
    }

  output = g_io_stream_get_output_stream (self->base_stream);
  self->write_in_flight = TRUE;
  g_output_stream_write_all_async (output,
                                   g_bytes_get_data (request->line, NULL),
                                   g_bytes_get_size (request->line),
                                   G_PRIORITY_DEFAULT,
                                   self->write_cancellable,
                                   write_cb,
                                   g_object_ref (self));
}

static void
write_queue (HgMessageStream *self,
             const HgMessage *message,
             GTask           *task)
{
  WriteRequest *request;
  char *line;
  gsize length;

  if (self->closed || self->close_task != NULL)
    {
      if (task != NULL)
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                                 _("the message stream was closed"));
      else
        g_debug ("Dropping a “%s” message: the stream is closed", message->type_name);
      return;
    }

  if (self->write_error != NULL)
    {
      if (task != NULL)
        g_task_return_error (task, g_error_copy (self->write_error));
      else
        g_debug ("Dropping a “%s” message: an earlier write failed", message->type_name);
      return;
    }

  line = hg_message_serialize (message);
  length = strlen (line);

  /* The peer would reject the line and close the connection, so refuse
   * it here and keep the connection. */
  if (length > HG_MESSAGE_MAX_LINE)
    {
      if (task != NULL)
        g_task_return_new_error (task, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG,
                                 _("a “%s” message of %zu bytes is longer than the limit of %d bytes"),
                                 message->type_name, length, HG_MESSAGE_MAX_LINE);
      else
        g_warning ("Dropping a “%s” message of %zu bytes: the limit is %d bytes",
                   message->type_name, length, HG_MESSAGE_MAX_LINE);
      g_free (line);
      return;
    }

  line = g_realloc (line, length + 1);
  line[length] = '\n';

  request = g_new0 (WriteRequest, 1);
  request->line = g_bytes_new_take (line, length + 1);
  request->task = task != NULL ? g_object_ref (task) : NULL;
  g_queue_push_tail (&self->write_queue, request);

  if (!self->write_in_flight)
    write_next (self);
}

/**
 * hg_message_stream_write_async:
 * @self: a message stream
 * @message: the message to send
 * @cancellable: (nullable): a #GCancellable; it takes effect only while
 *   the line waits in the queue, never in the middle of a line
 * @callback: called when the line is written or has failed
 * @user_data: data for @callback
 *
 * Serialises @message and queues it behind the lines already queued. A
 * message whose line would exceed %HG_MESSAGE_MAX_LINE bytes fails with
 * %HG_PROTOCOL_ERROR_LINE_TOO_LONG and leaves the stream usable.
 */
void
hg_message_stream_write_async (HgMessageStream     *self,
                               const HgMessage     *message,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HG_IS_MESSAGE_STREAM (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_message_stream_write_async);
  write_queue (self, message, task);
}

/**
 * hg_message_stream_write_finish:
 * @self: a message stream
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Finishes a write started with hg_message_stream_write_async().
 *
 * Returns: %TRUE when the whole line was written
 */
gboolean
hg_message_stream_write_finish (HgMessageStream  *self,
                                GAsyncResult     *result,
                                GError          **error)
{
  g_return_val_if_fail (HG_IS_MESSAGE_STREAM (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hg_message_stream_write_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * hg_message_stream_send:
 * @self: a message stream
 * @message: the message to send
 *
 * Queues @message like hg_message_stream_write_async() but without a
 * callback. A failure is reported once through #HgMessageStream::failed;
 * after a failure or a close, messages are dropped. A message whose line
 * would exceed %HG_MESSAGE_MAX_LINE bytes is dropped with a warning.
 */
void
hg_message_stream_send (HgMessageStream *self,
                        const HgMessage *message)
{
  g_return_if_fail (HG_IS_MESSAGE_STREAM (self));
  g_return_if_fail (message != NULL);

  write_queue (self, message, NULL);
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

static void
base_stream_close_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_debug ("Closing a message stream failed: %s", error->message);

  if (task == NULL)
    return;

  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/* Close the base stream once no read or write is in flight, as GIO
 * refuses to close a stream with a pending operation. */
static void
close_if_idle (HgMessageStream *self)
{
  GTask *task;

  if (!self->closed)
    {
      /* close_async waits for the queue to drain, then closes. */
      if (self->close_task == NULL || self->write_in_flight ||
          !g_queue_is_empty (&self->write_queue))
        return;
      self->closed = TRUE;
      if (self->read_cancellable != NULL)
        g_cancellable_cancel (self->read_cancellable);
    }

  if (self->read_in_flight || self->write_in_flight)
    return;

  if (self->base_stream == NULL || g_io_stream_is_closed (self->base_stream) ||
      g_io_stream_has_pending (self->base_stream))
    return;

  task = g_steal_pointer (&self->close_task);
  g_io_stream_close_async (self->base_stream, G_PRIORITY_DEFAULT, NULL,
                           base_stream_close_cb, task);
}

/**
 * hg_message_stream_close:
 * @self: a message stream
 *
 * Closes @self at once. A pending read fails with %G_IO_ERROR_CLOSED,
 * lines not yet written are dropped, and the base stream is closed as
 * soon as no operation is in flight. To send a last message first, use
 * hg_message_stream_close_async() instead.
 */
void
hg_message_stream_close (HgMessageStream *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (HG_IS_MESSAGE_STREAM (self));

  if (self->closed)
    return;

  self->closed = TRUE;
  if (self->read_cancellable != NULL)
    g_cancellable_cancel (self->read_cancellable);
  g_cancellable_cancel (self->write_cancellable);

  /* The request in flight stays at the head until its callback. */
  g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CLOSED, _("the message stream was closed"));
  if (self->write_in_flight)
    {
      WriteRequest *in_flight = g_queue_pop_head (&self->write_queue);

      write_fail_queued (self, error);
      g_queue_push_head (&self->write_queue, in_flight);
    }
  else
    {
      write_fail_queued (self, error);
    }

  close_if_idle (self);
}

/**
 * hg_message_stream_close_async:
 * @self: a message stream
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the base stream is closed
 * @user_data: data for @callback
 *
 * Writes the lines already queued, then closes the base stream. New
 * writes are refused from now on and a pending read fails with
 * %G_IO_ERROR_CLOSED once the queue is written.
 */
void
hg_message_stream_close_async (HgMessageStream     *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HG_IS_MESSAGE_STREAM (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_message_stream_close_async);

  if (self->closed || self->close_task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("the message stream is already closed or closing"));
      return;
    }

  self->close_task = g_steal_pointer (&task);
  close_if_idle (self);
}

/**
 * hg_message_stream_close_finish:
 * @self: a message stream
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Finishes a close started with hg_message_stream_close_async().
 *
 * Returns: %TRUE when the queue was written and the stream closed
 */
gboolean
hg_message_stream_close_finish (HgMessageStream  *self,
                                GAsyncResult     *result,
                                GError          **error)
{
  g_return_val_if_fail (HG_IS_MESSAGE_STREAM (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * hg_message_stream_is_closed:
 * @self: a message stream
 *
 * Tells whether @self has been closed or is closing.
 *
 * Returns: %TRUE after hg_message_stream_close() or
 *   hg_message_stream_close_async()
 */
gboolean
hg_message_stream_is_closed (HgMessageStream *self)
{
  g_return_val_if_fail (HG_IS_MESSAGE_STREAM (self), TRUE);

  return self->closed || self->close_task != NULL;
}

/* ------------------------------------------------------------------ */
/* Peer credentials                                                    */
/* ------------------------------------------------------------------ */

/**
 * hg_unix_peer_check:
 * @connection: a connection on a Unix stream socket
 * @error: return location for a #GError
 *
 * Checks that the process at the other end of @connection runs as the
 * same user as this one. The kernel records the peer's effective uid
 * when it connects (SO_PEERCRED), so the peer needs to send nothing.
 *
 * Returns: %TRUE when the uids match; otherwise %FALSE with @error set
 *   (%G_IO_ERROR_PERMISSION_DENIED for another user)
 */
gboolean
hg_unix_peer_check (GSocketConnection  *connection,
                    GError            **error)
{
  g_autoptr(GCredentials) credentials = NULL;
  g_autoptr(GError) local_error = NULL;
  GSocket *socket;
  uid_t peer_uid;
  uid_t own_uid = geteuid ();

  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  socket = g_socket_connection_get_socket (connection);
  credentials = g_socket_get_credentials (socket, &local_error);
  if (credentials == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("could not read the credentials of the socket peer: %s"),
                   local_error->message);
      return FALSE;
    }

  peer_uid = g_credentials_get_unix_user (credentials, &local_error);
  if (peer_uid == (uid_t) -1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("could not read the uid of the socket peer: %s"),
                   local_error->message);
      return FALSE;
    }

  if (peer_uid != own_uid)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("the socket peer runs as uid %u but this process runs as uid %u; "
                     "only the same user may connect"),
                   (guint) peer_uid, (guint) own_uid);
      return FALSE;
    }

  return TRUE;
}
