/* hg-audit.c: the audit log, one JSON object per line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-audit.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

struct _HgAudit {
  char *path;
  GOutputStream *stream;
  gboolean failed;
};

/**
 * hg_audit_open:
 * @path: the log file; created with mode 0600 if missing, else appended to
 * @error: return location for a #GError
 *
 * Opens the audit log.
 *
 * Returns: (transfer full) (nullable): the log, or %NULL on error
 */
HgAudit *
hg_audit_open (const char *path,
               GError    **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileOutputStream) stream = NULL;
  HgAudit *audit;

  stream = g_file_append_to (file, G_FILE_CREATE_PRIVATE, NULL, error);
  if (stream == NULL)
    {
      g_prefix_error (error, _("Could not open the audit log “%s”: "), path);
      return NULL;
    }

  audit = g_new0 (HgAudit, 1);
  audit->path = g_strdup (path);
  audit->stream = G_OUTPUT_STREAM (g_steal_pointer (&stream));

  return audit;
}

void
hg_audit_free (HgAudit *audit)
{
  if (audit == NULL)
    return;

  g_output_stream_close (audit->stream, NULL, NULL);
  g_clear_object (&audit->stream);
  g_free (audit->path);
  g_free (audit);
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  g_autofree char *valid = NULL;

  json_builder_set_member_name (builder, name);
  if (value == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }

  valid = g_utf8_make_valid (value, -1);
  json_builder_add_string_value (builder, valid);
}

static void
add_int (JsonBuilder *builder,
         const char  *name,
         gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static char *
format_time (GDateTime *time)
{
  g_autofree char *seconds = g_date_time_format (time, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", seconds, g_date_time_get_microsecond (time) / 1000);
}

/**
 * hg_audit_format:
 * @record: the record
 * @time: when it happened, in UTC
 *
 * Formats @record as one line of JSON, without the newline. Absent
 * strings become `null`; `pattern` is left out when no entry decided.
 *
 * Returns: (transfer full): the line
 */
char *
hg_audit_format (const HgAuditRecord *record,
                 GDateTime           *time)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *stamp = format_time (time);

  json_builder_begin_object (builder);
  add_string (builder, "time", stamp);
  add_string (builder, "client", record->client);
  add_string (builder, "method", record->method);
  add_string (builder, "host", record->host);
  add_int (builder, "port", record->port);
  add_string (builder, "decision", record->decision);
  add_int (builder, "status", record->status);
  add_string (builder, "reason", record->reason);
  if (record->pattern != NULL)
    add_string (builder, "pattern", record->pattern);
  /* JSON numbers are read as doubles by many consumers; byte counts stay
   * exact up to 2^53, far beyond one connection's traffic. */
  add_int (builder, "bytes_up", (gint64) MIN (record->bytes_up, (guint64) G_MAXINT64));
  add_int (builder, "bytes_down", (gint64) MIN (record->bytes_down, (guint64) G_MAXINT64));
  add_int (builder, "duration_ms", record->duration_ms);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);

  return json_generator_to_data (generator, NULL);
}

/**
 * hg_audit_write:
 * @audit: the log
 * @record: the record to append
 *
 * Appends @record as one line and flushes it, so a reader sees whole
 * lines only. The write is synchronous: a line is a few hundred bytes to
 * a local file. A failure is logged once and later records are dropped.
 */
void
hg_audit_write (HgAudit             *audit,
                const HgAuditRecord *record)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *json = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GError) error = NULL;

  if (audit == NULL || audit->failed)
    return;

  json = hg_audit_format (record, now);
  line = g_strconcat (json, "\n", NULL);
  if (!g_output_stream_write_all (audit->stream, line, strlen (line), NULL, NULL, &error) ||
      !g_output_stream_flush (audit->stream, NULL, &error))
    {
      g_warning ("Could not write to the audit log “%s”, no further records are written: %s",
                 audit->path, error->message);
      audit->failed = TRUE;
    }
}
