/* hg-pattern-list-io.c: plain-text lists of patterns, one per line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The format is the one people keep block lists in: one entry per line,
 * blank lines ignored, and `#` starting a comment that runs to the end of
 * the line. `#` can never be part of a valid entry, so a comment after an
 * entry on the same line is safe to cut off.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "hg-pattern-list-io.h"

/**
 * hg_pattern_list_rejection_free:
 *
 * Frees a rejection and its strings.
 */
void
hg_pattern_list_rejection_free (HgPatternListRejection *rejection)
{
  if (rejection == NULL)
    return;

  g_free (rejection->text);
  g_free (rejection->message);
  g_free (rejection);
}

static void
add_rejection (GPtrArray  *rejected,
               guint       line,
               const char *text,
               gsize       length,
               const char *message)
{
  HgPatternListRejection *rejection = g_new0 (HgPatternListRejection, 1);

  rejection->line = line;
  rejection->text = g_utf8_make_valid (text, length);
  rejection->message = g_strdup (message);
  g_ptr_array_add (rejected, rejection);
}

/* Cuts the comment and the surrounding blanks off one line. Returns the
 * start of the entry and sets *length to its length. */
static const char *
trim_line (const char *line,
           gsize      *length)
{
  const char *end = line + *length;
  const char *hash = memchr (line, '#', *length);

  if (hash != NULL)
    end = hash;

  while (line < end && g_ascii_isspace (*line))
    line++;
  while (end > line && g_ascii_isspace (end[-1]))
    end--;

  *length = end - line;
  return line;
}

static void
parse_line (const char     *line,
            gsize           length,
            guint           number,
            HgPatternFlags  flags,
            GPtrArray      *valid,
            GPtrArray      *rejected)
{
  g_autofree char *entry = NULL;
  g_autoptr(HgPattern) pattern = NULL;
  g_autoptr(GError) error = NULL;

  line = trim_line (line, &length);
  if (length == 0)
    return;

  if (memchr (line, '\0', length) != NULL)
    {
      add_rejection (rejected, number, line, length, _("the line contains a NUL byte"));
      return;
    }

  entry = g_strndup (line, length);
  pattern = hg_pattern_parse (entry, flags, &error);
  if (pattern == NULL)
    {
      add_rejection (rejected, number, line, length, error->message);
      return;
    }

  g_ptr_array_add (valid, hg_pattern_to_string (pattern));
}

/**
 * hg_pattern_list_parse:
 * @text: the list, not necessarily NUL-terminated, in UTF-8
 * @length: the length of @text in bytes, or -1 if it is NUL-terminated
 * @flags: %HG_PATTERN_FLAG_DENY to check the lines as deny-list entries
 * @valid: (out) (transfer full): the valid entries in canonical form,
 *   in file order, a repeated one as often as it is given, so the
 *   caller can count the repeats
 * @rejected: (out) (transfer full) (element-type HgPatternListRejection):
 *   the lines that are not valid entries, in file order
 *
 * Splits a plain list into lines and checks each with the pattern
 * parser. Blank lines and `#` comments are skipped; a `\r` before the
 * line feed is ignored.
 */
void
hg_pattern_list_parse (const char      *text,
                       gssize           length,
                       HgPatternFlags   flags,
                       GStrv           *valid,
                       GPtrArray      **rejected)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) errors = NULL;
  const char *end;
  guint number = 0;

  g_return_if_fail (text != NULL || length == 0);
  g_return_if_fail (valid != NULL);
  g_return_if_fail (rejected != NULL);

  errors = g_ptr_array_new_with_free_func ((GDestroyNotify) hg_pattern_list_rejection_free);
  if (length < 0)
    length = strlen (text);
  end = text + length;

  while (text < end)
    {
      const char *newline = memchr (text, '\n', end - text);
      const char *line_end = newline != NULL ? newline : end;

      number++;
      parse_line (text, line_end - text, number, flags, entries, errors);
      text = newline != NULL ? newline + 1 : end;
    }

  g_ptr_array_add (entries, NULL);
  *valid = (GStrv) g_ptr_array_steal (entries, NULL);
  *rejected = g_steal_pointer (&errors);
}

/**
 * hg_pattern_list_format:
 * @entries: the entries to write
 * @header: (nullable): text written first, each of its lines as a `#` comment
 *
 * Writes @entries as a plain list that hg_pattern_list_parse() reads
 * back: one entry per line, each line ending in a line feed.
 *
 * Returns: (transfer full): the text
 */
char *
hg_pattern_list_format (const char * const *entries,
                        const char         *header)
{
  GString *text;

  g_return_val_if_fail (entries != NULL, NULL);

  text = g_string_new (NULL);
  if (header != NULL)
    {
      g_auto(GStrv) lines = g_strsplit (header, "\n", -1);

      for (guint i = 0; lines[i] != NULL; i++)
        g_string_append_printf (text, "# %s\n", lines[i]);
    }

  for (guint i = 0; entries[i] != NULL; i++)
    g_string_append_printf (text, "%s\n", entries[i]);

  return g_string_free (text, FALSE);
}

/* How many characters of a long invalid entry a shortened message
 * quotes: the first REPORT_QUOTE_HEAD_CHARS, "…" and the last
 * REPORT_QUOTE_TAIL_CHARS. The parser quotes up to 200 characters, which
 * in the settings window's narrow column would push the reason several
 * lines down. */
#define REPORT_QUOTE_HEAD_CHARS 24
#define REPORT_QUOTE_TAIL_CHARS 12

/* Returns the end of the quote of @entry that starts at @quote_start,
 * where @closing must follow, or NULL when the quote is not @entry as
 * written. The parser cuts a long entry off with "…". It also escapes
 * control characters, so the quote of such an entry does not match. */
static const char *
find_quote_end (const char *quote_start,
                const char *entry,
                const char *closing)
{
  const char *after = quote_start;

  while (*entry != '\0' && *after == *entry)
    {
      after++;
      entry++;
    }

  if (*entry != '\0' && g_str_has_prefix (after, "…"))
    after += strlen ("…");
  else if (*entry != '\0')
    return NULL;

  return g_str_has_prefix (after, closing) ? after : NULL;
}

/**
 * hg_pattern_list_shorten_message:
 * @message: a message of hg_pattern_parse()
 * @entry: the text given to hg_pattern_parse()
 *
 * Cuts the middle out of @entry where @message quotes it, when the
 * entry is long, so the reason that follows the quote stays in view. A
 * message of any other form is returned unchanged.
 *
 * Returns: (transfer full): the message to show
 */
char *
hg_pattern_list_shorten_message (const char *message,
                                 const char *entry)
{
  /* The format hg_pattern_parse() writes its message with, translated
   * the same way. */
  g_auto(GStrv) parts = g_strsplit (_("Invalid list entry “%s”: %s"), "%s", -1);
  const char *quote_start;
  const char *quote_end;
  const char *head_end;
  const char *tail_start;
  glong n_chars;

  if (g_strv_length (parts) != 3 || !g_str_has_prefix (message, parts[0]))
    return g_strdup (message);

  quote_start = message + strlen (parts[0]);
  quote_end = find_quote_end (quote_start, entry, parts[1]);
  if (quote_end == NULL)
    return g_strdup (message);

  n_chars = g_utf8_strlen (quote_start, quote_end - quote_start);
  if (n_chars <= REPORT_QUOTE_HEAD_CHARS + 1 + REPORT_QUOTE_TAIL_CHARS)
    return g_strdup (message);

  head_end = g_utf8_offset_to_pointer (quote_start, REPORT_QUOTE_HEAD_CHARS);
  tail_start = g_utf8_offset_to_pointer (quote_start, n_chars - REPORT_QUOTE_TAIL_CHARS);
  return g_strdup_printf ("%.*s…%s", (int) (head_end - message), message, tail_start);
}

/**
 * hg_pattern_list_describe_rejections:
 * @rejected: (element-type HgPatternListRejection): what
 *   hg_pattern_list_parse() rejected
 * @max_lines: how many rejections to list at most; the rest are counted
 *
 * Describes the rejected lines for a person, one per line, as
 * “Line 3: Invalid list entry …”. A long entry is quoted with its middle
 * cut out and replaced by “…”.
 *
 * Returns: (transfer full): the report, empty when nothing was rejected
 */
char *
hg_pattern_list_describe_rejections (GPtrArray *rejected,
                                     guint      max_lines)
{
  GString *text;
  guint n_listed;

  g_return_val_if_fail (rejected != NULL, NULL);

  text = g_string_new (NULL);
  n_listed = MIN (rejected->len, max_lines);
  for (guint i = 0; i < n_listed; i++)
    {
      HgPatternListRejection *rejection = rejected->pdata[i];
      g_autofree char *message = hg_pattern_list_shorten_message (rejection->message, rejection->text);

      if (i > 0)
        g_string_append_c (text, '\n');
      g_string_append_printf (text, _("Line %u: %s"), rejection->line, message);
    }

  if (rejected->len > n_listed)
    {
      guint rest = rejected->len - n_listed;

      g_string_append_c (text, '\n');
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE, "…and %u more line",
                                                 "…and %u more lines", rest), rest);
    }

  return g_string_free (text, FALSE);
}
