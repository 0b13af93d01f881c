/* hg-audit.c: the audit log, one JSON object per line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-audit.h"

#include <glib/gi18n.h>

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

/* Appends @value as a JSON string, or `null`. Quotes, backslashes and
 * control characters are escaped. A control character gets JSON's short
 * escape where there is one and \uXXXX otherwise, as json-glib wrote it.
 * Invalid UTF-8 becomes U+FFFD, and other characters stay as they are. */
static void
append_string (GString    *line,
               const char *value)
{
  g_autofree char *valid = NULL;
  const char *run;
  const char *p;

  if (value == NULL)
    {
      g_string_append (line, "null");
      return;
    }

  if (!g_utf8_validate (value, -1, NULL))
    value = valid = g_utf8_make_valid (value, -1);

  g_string_append_c (line, '"');
  for (run = p = value; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
        continue;

      g_string_append_len (line, run, p - run);
      run = p + 1;

      switch (c)
        {
        case '"':
        case '\\':
          g_string_append_c (line, '\\');
          g_string_append_c (line, c);
          break;
        case '\b':
          g_string_append (line, "\\b");
          break;
        case '\f':
          g_string_append (line, "\\f");
          break;
        case '\n':
          g_string_append (line, "\\n");
          break;
        case '\r':
          g_string_append (line, "\\r");
          break;
        case '\t':
          g_string_append (line, "\\t");
          break;
        default:
          g_string_append_printf (line, "\\u%04x", c);
          break;
        }
    }
  g_string_append_len (line, run, p - run);
  g_string_append_c (line, '"');
}

static void
append_member (GString    *line,
               const char *name,
               const char *value)
{
  g_string_append_printf (line, ",\"%s\":", name);
  append_string (line, value);
}

static void
append_int_member (GString    *line,
                   const char *name,
                   gint64      value)
{
  g_string_append_printf (line, ",\"%s\":%" G_GINT64_FORMAT, name, value);
}

/* Appends the record as one JSON object, without a newline. */
static void
append_record (GString             *line,
               const HgAuditRecord *record,
               GDateTime           *time)
{
  int year, month, day;

  g_date_time_get_ymd (time, &year, &month, &day);
  g_string_append_printf (line, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                          year, month, day,
                          g_date_time_get_hour (time),
                          g_date_time_get_minute (time),
                          g_date_time_get_second (time),
                          g_date_time_get_microsecond (time) / 1000);
  append_member (line, "client", record->client);
  append_member (line, "method", record->method);
  append_member (line, "host", record->host);
  append_int_member (line, "port", record->port);
  append_member (line, "decision", record->decision);
  append_int_member (line, "status", record->status);
  append_member (line, "reason", record->reason);
  if (record->pattern != NULL)
    append_member (line, "pattern", record->pattern);
  /* JSON numbers are read as doubles by many consumers; byte counts stay
   * exact up to 2^53, far beyond one connection's traffic. */
  append_int_member (line, "bytes_up", (gint64) MIN (record->bytes_up, (guint64) G_MAXINT64));
  append_int_member (line, "bytes_down", (gint64) MIN (record->bytes_down, (guint64) G_MAXINT64));
  append_int_member (line, "duration_ms", record->duration_ms);
  g_string_append_c (line, '}');
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
  GString *line = g_string_sized_new (256);

  append_record (line, record, time);

  return g_string_free (line, FALSE);
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
  g_autoptr(GDateTime) now = NULL;
  g_autoptr(GString) line = NULL;
  g_autoptr(GError) error = NULL;

  if (audit == NULL || audit->failed)
    return;

  now = g_date_time_new_now_utc ();
  line = g_string_sized_new (256);
  append_record (line, record, now);
  g_string_append_c (line, '\n');
  if (!g_output_stream_write_all (audit->stream, line->str, line->len, NULL, NULL, &error) ||
      !g_output_stream_flush (audit->stream, NULL, &error))
    {
      /* Translators: the first %s is a file path, the second an error message. */
      g_warning (_("Could not write to the audit log “%s”, no further records are written: %s"),
                 audit->path, error->message);
      audit->failed = TRUE;
    }
}
