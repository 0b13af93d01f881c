/* hg-upstream.c: opening a tunnel through an upstream HTTP proxy
 *
 * With an upstream proxy, hostgate sends the name in the CONNECT line and
 * the upstream resolves it, so the upstream's DNS is trusted: the address
 * checks of a direct connection cannot apply to the tunnel's far end. The
 * filter has still decided on the name before anything is sent.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-upstream.h"

#include <string.h>
#include <glib/gi18n.h>

G_DEFINE_QUARK (hg-upstream-error-quark, hg_upstream_error)

/* Limits on the upstream's reply head, in bytes. */
#define MAX_LINE_LENGTH (8 * 1024)
#define MAX_HEAD_LENGTH (64 * 1024)
#define READ_CHUNK_SIZE 4096

/* The maximum length in bytes of text quoted from the upstream in an
 * error message. */
#define MAX_QUOTED_LENGTH 200

typedef struct {
  GSocketConnection *connection;
  char *authority;      /* sanitised for messages; sent only when valid */
  guint timeout_ms;
  char *request;

  /* The caller's cancellable and the deadline both cancel this one. */
  GCancellable *io_cancellable;
  GSource *timeout_source;
  GSource *cancelled_source;
  gboolean timed_out;

  GByteArray *buffer;
  gsize scanned;        /* bytes of @buffer already split into lines */
  gboolean seen_status_line;
  guint status;
  char *reason;
  guint8 chunk[READ_CHUNK_SIZE];
} UpstreamData;

static void
upstream_data_free (UpstreamData *data)
{
  if (data->timeout_source != NULL)
    g_source_destroy (data->timeout_source);
  g_clear_pointer (&data->timeout_source, g_source_unref);
  if (data->cancelled_source != NULL)
    g_source_destroy (data->cancelled_source);
  g_clear_pointer (&data->cancelled_source, g_source_unref);
  g_clear_object (&data->connection);
  g_clear_object (&data->io_cancellable);
  g_free (data->authority);
  g_free (data->request);
  g_byte_array_unref (data->buffer);
  g_free (data->reason);
  g_free (data);
}

/* Returns @text of @length bytes as valid UTF-8 with every control
 * character (C0, DEL and C1) removed and at most MAX_QUOTED_LENGTH bytes,
 * so it can go into a status line or a log without breaking either. */
static char *
sanitize_quoted_text (const char *text,
                      gssize      length)
{
  g_autofree char *valid = g_utf8_make_valid (text, length);
  GString *clean = g_string_new (NULL);

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      int char_length = g_utf8_next_char (p) - p;

      if (g_unichar_iscntrl (c))
        continue;
      if (clean->len + char_length > MAX_QUOTED_LENGTH)
        break;

      g_string_append_len (clean, p, char_length);
    }

  return g_string_free (clean, FALSE);
}

/* Stops the deadline and the cancellation watch once the task has its
 * result, so neither fires while the caller keeps a reference to it. */
static void
upstream_stop_watch (UpstreamData *data)
{
  if (data->timeout_source != NULL)
    g_source_destroy (data->timeout_source);
  if (data->cancelled_source != NULL)
    g_source_destroy (data->cancelled_source);
}

static void
upstream_return_error (GTask      *task,
                       gint        code,
                       const char *format,
                       ...) G_GNUC_PRINTF (3, 4);

static void
upstream_return_error (GTask      *task,
                       gint        code,
                       const char *format,
                       ...)
{
  UpstreamData *data = g_task_get_task_data (task);
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_debug ("CONNECT %s through the upstream proxy failed: %s", data->authority, message);
  upstream_stop_watch (data);
  g_task_return_new_error (task, HG_UPSTREAM_ERROR, code, "%s", message);
}

/* Maps an I/O error, including the cancellation the deadline causes. */
static void
upstream_return_io_error (GTask  *task,
                          GError *error)
{
  UpstreamData *data = g_task_get_task_data (task);

  upstream_stop_watch (data);
  if (g_task_return_error_if_cancelled (task))
    return;

  if (data->timed_out)
    {
      upstream_return_error (task, HG_UPSTREAM_ERROR_TIMED_OUT,
                             _("the upstream proxy did not answer CONNECT %s within %u ms"),
                             data->authority, data->timeout_ms);
      return;
    }

  upstream_return_error (task, HG_UPSTREAM_ERROR_FAILED,
                         _("talking to the upstream proxy failed: %s"), error->message);
}

/* Parses `HTTP/1.1 200 Connection established`: the version, one space,
 * three digits, then nothing or a space and the reason phrase. */
static gboolean
parse_status_line (UpstreamData *data,
                   const char   *line,
                   gsize         length)
{
  if (length < 12 || memcmp (line, "HTTP/1.", 7) != 0 ||
      !g_ascii_isdigit (line[7]) || line[8] != ' ')
    return FALSE;

  for (gsize i = 9; i < 12; i++)
    {
      if (!g_ascii_isdigit (line[i]))
        return FALSE;
    }

  data->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (data->status < 100)
    return FALSE;

  if (length > 12 && line[12] != ' ')
    return FALSE;

  data->reason = sanitize_quoted_text (line + MIN (length, 13), length - MIN (length, 13));
  return TRUE;
}

/* Consumes one line of the head. Returns FALSE and completes @task on a
 * malformed line. */
static gboolean
upstream_take_line (GTask      *task,
                    const char *line,
                    gsize       length)
{
  UpstreamData *data = g_task_get_task_data (task);

  g_autofree char *quoted = NULL;

  if (!data->seen_status_line)
    {
      data->seen_status_line = TRUE;
      if (parse_status_line (data, line, length))
        return TRUE;

      quoted = sanitize_quoted_text (line, length);
      upstream_return_error (task, HG_UPSTREAM_ERROR_PROTOCOL,
                             _("the upstream proxy sent an invalid status line: \"%s\""),
                             quoted);
      return FALSE;
    }

  /* The header fields of a CONNECT reply are not used, but each must at
   * least look like a field. */
  if (memchr (line, ':', length) == NULL || line[0] == ' ' || line[0] == '\t')
    {
      quoted = sanitize_quoted_text (line, length);
      upstream_return_error (task, HG_UPSTREAM_ERROR_PROTOCOL,
                             _("the upstream proxy sent an invalid header line: \"%s\""),
                             quoted);
      return FALSE;
    }

  return TRUE;
}

static gboolean
upstream_return_line_too_long (GTask *task)
{
  upstream_return_error (task, HG_UPSTREAM_ERROR_PROTOCOL,
                         _("the upstream proxy's reply has a line over %u bytes"),
                         MAX_LINE_LENGTH);
  return TRUE;
}

/**
 * hg_upstream_login_reason:
 *
 * Returns the reason given to a client when the upstream proxy answers
 * 407: it asks for a login, which hostgate cannot give, for a tunnel or
 * a plain request alike.
 *
 * Returns: (transfer none): the translated reason
 */
const char *
hg_upstream_login_reason (void)
{
  return _("the upstream proxy asks for a login (407), which hostgate cannot give: use one that needs none, or add this host to --upstream-bypass");
}

static gboolean
upstream_return_head_too_long (GTask *task)
{
  upstream_return_error (task, HG_UPSTREAM_ERROR_PROTOCOL,
                         _("the upstream proxy's reply head is over %u bytes"),
                         MAX_HEAD_LENGTH);
  return TRUE;
}

static void
upstream_finish_head (GTask *task,
                      gsize  head_length)
{
  UpstreamData *data = g_task_get_task_data (task);
  GBytes *pending = NULL;

  if (data->status == 407)
    {
      upstream_return_error (task, HG_UPSTREAM_ERROR_REFUSED, "%s", hg_upstream_login_reason ());
      return;
    }

  if ((data->status < 200 || data->status > 299) && data->reason[0] == '\0')
    {
      upstream_return_error (task, HG_UPSTREAM_ERROR_REFUSED,
                             _("upstream proxy refused: %u"), data->status);
      return;
    }

  if (data->status < 200 || data->status > 299)
    {
      upstream_return_error (task, HG_UPSTREAM_ERROR_REFUSED,
                             _("upstream proxy refused: %u %s"),
                             data->status, data->reason);
      return;
    }

  if (data->buffer->len > head_length)
    pending = g_bytes_new (data->buffer->data + head_length, data->buffer->len - head_length);

  upstream_stop_watch (data);
  g_task_return_pointer (task, pending, (GDestroyNotify) g_bytes_unref);
}

/* Splits the complete lines received so far. Returns TRUE if @task is
 * completed, FALSE if more bytes are needed. */
static gboolean
upstream_scan_head (GTask *task)
{
  UpstreamData *data = g_task_get_task_data (task);

  for (;;)
    {
      const char *start = (const char *) data->buffer->data + data->scanned;
      const char *newline = memchr (start, '\n', data->buffer->len - data->scanned);
      gsize length;
      gsize line_end;

      if (newline == NULL)
        break;

      length = newline - start;
      line_end = data->scanned + length + 1;
      if (length > 0 && start[length - 1] == '\r')
        length--;

      if (length > MAX_LINE_LENGTH)
        return upstream_return_line_too_long (task);
      if (line_end > MAX_HEAD_LENGTH)
        return upstream_return_head_too_long (task);

      data->scanned = line_end;

      if (length == 0 && data->seen_status_line)
        {
          upstream_finish_head (task, data->scanned);
          return TRUE;
        }

      if (!upstream_take_line (task, start, length))
        return TRUE;
    }

  /* The unfinished line may still get its CR. */
  if (data->buffer->len - data->scanned > MAX_LINE_LENGTH + 1)
    return upstream_return_line_too_long (task);
  if (data->buffer->len > MAX_HEAD_LENGTH)
    return upstream_return_head_too_long (task);

  return FALSE;
}

static void upstream_read_more (GTask *task);

static void
upstream_read_cb (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  UpstreamData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gssize count;

  count = g_input_stream_read_finish (G_INPUT_STREAM (source_object), result, &error);
  if (count < 0)
    {
      upstream_return_io_error (task, error);
      return;
    }

  if (count == 0)
    {
      if (data->buffer->len == 0)
        upstream_return_error (task, HG_UPSTREAM_ERROR_FAILED,
                               _("the upstream proxy closed the connection without answering CONNECT %s"),
                               data->authority);
      else
        upstream_return_error (task, HG_UPSTREAM_ERROR_FAILED,
                               _("the upstream proxy closed the connection in the middle of its reply to CONNECT %s"),
                               data->authority);
      return;
    }

  g_byte_array_append (data->buffer, data->chunk, count);

  if (!upstream_scan_head (task))
    upstream_read_more (task);
}

static void
upstream_read_more (GTask *task)
{
  UpstreamData *data = g_task_get_task_data (task);
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (data->connection));

  g_input_stream_read_async (input, data->chunk, sizeof data->chunk, G_PRIORITY_DEFAULT,
                             data->io_cancellable, upstream_read_cb, g_object_ref (task));
}

static void
upstream_write_cb (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, &error))
    {
      upstream_return_io_error (task, error);
      return;
    }

  upstream_read_more (task);
}

static gboolean
upstream_timeout_cb (gpointer user_data)
{
  UpstreamData *data = user_data;

  data->timed_out = TRUE;
  g_cancellable_cancel (data->io_cancellable);

  return G_SOURCE_REMOVE;
}

static gboolean
upstream_cancelled_cb (GCancellable *cancellable,
                       gpointer      user_data)
{
  UpstreamData *data = user_data;

  g_cancellable_cancel (data->io_cancellable);

  return G_SOURCE_REMOVE;
}

static void
upstream_watch (GTask *task)
{
  UpstreamData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (data->timeout_ms > 0)
    {
      data->timeout_source = g_timeout_source_new (data->timeout_ms);
      g_source_set_callback (data->timeout_source, upstream_timeout_cb, data, NULL);
      g_source_attach (data->timeout_source, g_task_get_context (task));
    }

  if (cancellable != NULL)
    {
      data->cancelled_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (data->cancelled_source, G_SOURCE_FUNC (upstream_cancelled_cb),
                             data, NULL);
      g_source_attach (data->cancelled_source, g_task_get_context (task));
    }
}

static gboolean
authority_is_valid (const char *authority)
{
  if (authority[0] == '\0')
    return FALSE;

  for (const char *p = authority; *p != '\0'; p++)
    {
      if ((guchar) *p <= ' ' || (guchar) *p >= 0x7f)
        return FALSE;
    }

  return TRUE;
}

/* A header value may contain spaces and tabs, but no other control byte. */
static gboolean
header_value_is_valid (const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      if (((guchar) *p < ' ' && *p != '\t') || (guchar) *p == 0x7f)
        return FALSE;
    }

  return TRUE;
}

/**
 * hg_upstream_connect_async:
 * @connection: (transfer full): an open connection to the upstream proxy;
 *   the operation owns it from now on and drops it on error
 * @authority: `host:port` or `[v6]:port`, already validated, to send in
 *   the CONNECT line and the Host header
 * @via: the Via header value to send, which names this proxy, so that
 *   the request is recognised if it comes back (see
 *   hg_request_head_build_via())
 * @timeout_ms: the deadline for sending the request and reading the
 *   reply head, in milliseconds, or 0 for none
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the tunnel is open or opening it failed
 * @user_data: data for @callback
 *
 * Sends `CONNECT authority` and reads the reply head, at most 8 KiB per
 * line and 64 KiB in all. Text quoted from the upstream in an error
 * message, such as the reason phrase of a refusal, is cut to 200 bytes
 * and has every control character removed.
 */
void
hg_upstream_connect_async (GSocketConnection   *connection,
                           const char          *authority,
                           const char          *via,
                           guint                timeout_ms,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  UpstreamData *data;
  GOutputStream *output;

  g_return_if_fail (G_IS_SOCKET_CONNECTION (connection));
  g_return_if_fail (authority != NULL);
  g_return_if_fail (via != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_upstream_connect_async);

  data = g_new0 (UpstreamData, 1);
  data->connection = connection;
  data->authority = sanitize_quoted_text (authority, -1);
  data->timeout_ms = timeout_ms;
  data->io_cancellable = g_cancellable_new ();
  data->buffer = g_byte_array_new ();
  g_task_set_task_data (task, data, (GDestroyNotify) upstream_data_free);

  /* The authority comes validated; this only keeps a caller's mistake
   * from becoming a request smuggled to the upstream. */
  if (!authority_is_valid (authority))
    {
      upstream_return_error (task, HG_UPSTREAM_ERROR_FAILED,
                             _("Invalid CONNECT authority \"%s\": it contains a space or a control character"),
                             data->authority);
      return;
    }

  if (!header_value_is_valid (via))
    {
      upstream_return_error (task, HG_UPSTREAM_ERROR_FAILED,
                             _("Invalid Via header for CONNECT %s: it contains a control character"),
                             data->authority);
      return;
    }

  data->request = g_strdup_printf ("CONNECT %s HTTP/1.1\r\nHost: %s\r\nVia: %s\r\n\r\n",
                                   authority, authority, via);
  upstream_watch (task);

  output = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_output_stream_write_all_async (output, data->request, strlen (data->request),
                                   G_PRIORITY_DEFAULT, data->io_cancellable,
                                   upstream_write_cb, g_object_ref (task));
}

/**
 * hg_upstream_connect_finish:
 * @result: the result passed to the callback
 * @pending: (out) (optional) (nullable) (transfer full): the bytes the
 *   upstream sent after the reply head, already tunnel data; %NULL if
 *   there were none
 * @error: return location for a %HG_UPSTREAM_ERROR or %G_IO_ERROR_CANCELLED
 *
 * Finishes opening the tunnel.
 *
 * Returns: (transfer full): the connection, now a tunnel to the
 *   authority, or %NULL on error
 */
GSocketConnection *
hg_upstream_connect_finish (GAsyncResult  *result,
                            GBytes       **pending,
                            GError       **error)
{
  GTask *task;
  UpstreamData *data;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hg_upstream_connect_async, NULL);

  task = G_TASK (result);
  data = g_task_get_task_data (task);

  if (pending != NULL)
    *pending = NULL;

  bytes = g_task_propagate_pointer (task, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  if (pending != NULL)
    *pending = g_steal_pointer (&bytes);

  return g_steal_pointer (&data->connection);
}
