/* hg-message.c: building, serialising and validating wire messages
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-message.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "hg-error.h"
#include "hg-host.h"
#include "hg-pattern.h"

G_DEFINE_QUARK (hg-message-error-quark, hg_message_error)

/* How much of a bad value an error message quotes. */
#define QUOTE_MAX_BYTES 48

#define ERROR_CODE_MAX_LENGTH 64

static const char * const message_type_names[] = {
  [HG_MESSAGE_TYPE_UNKNOWN] = NULL,
  [HG_MESSAGE_TYPE_HELLO] = "hello",
  [HG_MESSAGE_TYPE_WELCOME] = "welcome",
  [HG_MESSAGE_TYPE_ASK] = "ask",
  [HG_MESSAGE_TYPE_DECISION] = "decision",
  [HG_MESSAGE_TYPE_CANCEL] = "cancel",
  [HG_MESSAGE_TYPE_FILTER] = "filter",
  [HG_MESSAGE_TYPE_EVENT] = "event",
  [HG_MESSAGE_TYPE_PING] = "ping",
  [HG_MESSAGE_TYPE_PONG] = "pong",
  [HG_MESSAGE_TYPE_ERROR] = "error",
};

static const char * const ask_kind_names[] = { "connect", "http", NULL };
static const char * const verdict_names[] = { "approve", "deny", NULL };
static const char * const duration_names[] = { "once", "session", "always", NULL };
static const char * const cancel_reason_names[] = { "timeout", "client-gone", NULL };
static const char * const approval_mode_names[] = {
  [HG_APPROVAL_OFF] = "off",
  [HG_APPROVAL_ASK] = "ask",
  NULL
};

/* ------------------------------------------------------------------ */
/* Strict JSON syntax check                                            */
/* ------------------------------------------------------------------ */

/* json-glib 1.6 accepts more than RFC 8259 allows (comments, single
 * quotes, hex and leading-zero numbers, raw control characters in
 * strings, data after the first value) and silently wraps integers
 * outside 64 bits. So every line passes this check before json-glib
 * builds the tree. A syntax problem sets HG_MESSAGE_ERROR_NOT_JSON and
 * stops the scan. A content problem in well-formed JSON (an integer out
 * of range, U+0000, an unpaired surrogate) is kept in @content_error and
 * reported only if the whole line turns out to be valid JSON. */
typedef struct {
  const guchar *start;
  const guchar *cursor;
  const guchar *end;
  guchar stack[HG_MESSAGE_MAX_DEPTH];
  guint depth;
  GError *content_error;
} JsonCheck;

typedef enum {
  EXPECT_VALUE,
  EXPECT_VALUE_OR_CLOSE,
  EXPECT_KEY,
  EXPECT_KEY_OR_CLOSE,
  EXPECT_AFTER_VALUE,
} JsonCheckState;

static gboolean
json_check_fail (JsonCheck   *check,
                 const char  *problem,
                 GError     **error)
{
  g_set_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON,
               _("line is not valid JSON: %s at byte %zu"),
               problem, (gsize) (check->cursor - check->start));
  return FALSE;
}

static void
json_check_content_problem (JsonCheck  *check,
                            const char *problem)
{
  if (check->content_error != NULL)
    return;

  check->content_error = g_error_new (HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE,
                                      _("%s at byte %zu"),
                                      problem, (gsize) (check->cursor - check->start));
}

static void
json_check_skip_whitespace (JsonCheck *check)
{
  while (check->cursor < check->end &&
         (*check->cursor == ' ' || *check->cursor == '\t' ||
          *check->cursor == '\r' || *check->cursor == '\n'))
    check->cursor++;
}

static gboolean
json_check_hex4 (JsonCheck *check,
                 gunichar  *value)
{
  *value = 0;

  if (check->end - check->cursor < 4)
    return FALSE;

  for (guint i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (check->cursor[i]);

      if (digit < 0)
        return FALSE;
      *value = (*value << 4) | (gunichar) digit;
    }

  check->cursor += 4;
  return TRUE;
}

/* Check a `\uXXXX` escape, the cursor just after the `u`. */
static gboolean
json_check_unicode_escape (JsonCheck  *check,
                           GError    **error)
{
  gunichar value;

  if (!json_check_hex4 (check, &value))
    return json_check_fail (check, _("\\u is not followed by four hex digits"), error);

  if (value == 0)
    {
      json_check_content_problem (check, _("a string contains U+0000"));
      return TRUE;
    }

  if (value >= 0xDC00 && value <= 0xDFFF)
    {
      json_check_content_problem (check, _("a string contains an unpaired surrogate"));
      return TRUE;
    }

  if (value < 0xD800 || value > 0xDBFF)
    return TRUE;

  /* A high surrogate must be followed by a low one. If it is not, the
   * escape that follows is checked on its own by the caller. */
  if (check->end - check->cursor >= 6 &&
      check->cursor[0] == '\\' && check->cursor[1] == 'u')
    {
      JsonCheck lookahead = *check;
      gunichar low;

      lookahead.cursor += 2;
      if (json_check_hex4 (&lookahead, &low) && low >= 0xDC00 && low <= 0xDFFF)
        {
          check->cursor = lookahead.cursor;
          return TRUE;
        }
    }

  json_check_content_problem (check, _("a string contains an unpaired surrogate"));
  return TRUE;
}

/* Check a string, the cursor on its opening quote. The line is already
 * known to be valid UTF-8 without NUL bytes. */
static gboolean
json_check_string (JsonCheck  *check,
                   GError    **error)
{
  check->cursor++;

  while (check->cursor < check->end)
    {
      guchar byte = *check->cursor;

      if (byte == '"')
        {
          check->cursor++;
          return TRUE;
        }

      if (byte < 0x20)
        return json_check_fail (check, _("a control character is not escaped in a string"), error);

      check->cursor++;
      if (byte != '\\')
        continue;

      if (check->cursor == check->end)
        break;

      byte = *check->cursor++;
      if (byte == 'u')
        {
          if (!json_check_unicode_escape (check, error))
            return FALSE;
        }
      else if (strchr ("\"\\/bfnrt", byte) == NULL)
        {
          check->cursor--;
          return json_check_fail (check, _("a string contains an invalid escape"), error);
        }
    }

  return json_check_fail (check, _("a string is not terminated"), error);
}

static gsize
json_check_digits (JsonCheck *check)
{
  const guchar *first = check->cursor;

  while (check->cursor < check->end && g_ascii_isdigit (*check->cursor))
    check->cursor++;

  return check->cursor - first;
}

static gboolean
json_check_number (JsonCheck  *check,
                   GError    **error)
{
  const guchar *first = check->cursor;
  gboolean is_integer = TRUE;
  gsize n_digits;

  if (*check->cursor == '-')
    check->cursor++;

  if (check->cursor < check->end && *check->cursor == '0')
    check->cursor++;
  else if (json_check_digits (check) == 0)
    return json_check_fail (check, _("a number has no digits"), error);

  if (check->cursor < check->end && *check->cursor == '.')
    {
      check->cursor++;
      is_integer = FALSE;
      if (json_check_digits (check) == 0)
        return json_check_fail (check, _("a number has no digits after the decimal point"), error);
    }

  if (check->cursor < check->end && (*check->cursor == 'e' || *check->cursor == 'E'))
    {
      check->cursor++;
      is_integer = FALSE;
      if (check->cursor < check->end && (*check->cursor == '+' || *check->cursor == '-'))
        check->cursor++;
      if (json_check_digits (check) == 0)
        return json_check_fail (check, _("a number has no digits in its exponent"), error);
    }

  n_digits = check->cursor - first - (*first == '-' ? 1 : 0);
  if (is_integer && n_digits >= 19)
    {
      char text[24];

      /* 19 digits may still fit in 64 bits; more never do. */
      if (n_digits > 19)
        {
          json_check_content_problem (check, _("an integer is outside the 64-bit range"));
          return TRUE;
        }

      memcpy (text, first, check->cursor - first);
      text[check->cursor - first] = '\0';
      errno = 0;
      g_ascii_strtoll (text, NULL, 10);
      if (errno == ERANGE)
        json_check_content_problem (check, _("an integer is outside the 64-bit range"));
    }

  return TRUE;
}

static gboolean
json_check_literal (JsonCheck  *check,
                    GError    **error)
{
  static const char * const literals[] = { "true", "false", "null" };

  for (guint i = 0; i < G_N_ELEMENTS (literals); i++)
    {
      gsize length = strlen (literals[i]);

      if ((gsize) (check->end - check->cursor) >= length &&
          memcmp (check->cursor, literals[i], length) == 0)
        {
          check->cursor += length;
          return TRUE;
        }
    }

  return json_check_fail (check, _("unexpected character"), error);
}

/* Move past a `,` or a closing bracket after a value inside a container. */
static gboolean
json_check_after_value (JsonCheck       *check,
                        JsonCheckState  *state,
                        GError         **error)
{
  guchar container = check->stack[check->depth - 1];
  guchar closing = container == '{' ? '}' : ']';

  if (*check->cursor == ',')
    {
      check->cursor++;
      *state = container == '{' ? EXPECT_KEY : EXPECT_VALUE;
      return TRUE;
    }

  if (*check->cursor == closing)
    {
      check->cursor++;
      check->depth--;
      return TRUE;
    }

  if (container == '{')
    return json_check_fail (check, _("expected “,” or “}”"), error);
  return json_check_fail (check, _("expected “,” or “]”"), error);
}

static gboolean
json_check_open (JsonCheck       *check,
                 JsonCheckState  *state,
                 GError         **error)
{
  if (check->depth == HG_MESSAGE_MAX_DEPTH)
    return json_check_fail (check, _("arrays and objects are nested too deep"), error);

  check->stack[check->depth++] = *check->cursor;
  *state = *check->cursor == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
  check->cursor++;
  return TRUE;
}

static gboolean
json_check_value (JsonCheck       *check,
                  JsonCheckState  *state,
                  GError         **error)
{
  guchar byte = *check->cursor;

  if (byte == '{' || byte == '[')
    return json_check_open (check, state, error);

  *state = EXPECT_AFTER_VALUE;

  if (byte == '"')
    return json_check_string (check, error);
  if (byte == '-' || g_ascii_isdigit (byte))
    return json_check_number (check, error);
  return json_check_literal (check, error);
}

static gboolean
json_check_key (JsonCheck  *check,
                GError    **error)
{
  if (*check->cursor != '"')
    return json_check_fail (check, _("expected a member name in double quotes"), error);

  if (!json_check_string (check, error))
    return FALSE;

  json_check_skip_whitespace (check);
  if (check->cursor == check->end || *check->cursor != ':')
    return json_check_fail (check, _("expected “:” after a member name"), error);

  check->cursor++;
  return TRUE;
}

static gboolean
json_check_syntax (JsonCheck  *check,
                   GError    **error)
{
  JsonCheckState state = EXPECT_VALUE;

  for (;;)
    {
      json_check_skip_whitespace (check);

      if (state == EXPECT_AFTER_VALUE && check->depth == 0)
        {
          if (check->cursor != check->end)
            return json_check_fail (check, _("unexpected data after the JSON value"), error);
          return TRUE;
        }

      if (check->cursor == check->end)
        return json_check_fail (check, _("unexpected end of line"), error);

      if ((state == EXPECT_KEY_OR_CLOSE && *check->cursor == '}') ||
          (state == EXPECT_VALUE_OR_CLOSE && *check->cursor == ']'))
        {
          check->cursor++;
          check->depth--;
          state = EXPECT_AFTER_VALUE;
          continue;
        }

      switch (state)
        {
        case EXPECT_AFTER_VALUE:
          if (!json_check_after_value (check, &state, error))
            return FALSE;
          break;

        case EXPECT_KEY:
        case EXPECT_KEY_OR_CLOSE:
          if (!json_check_key (check, error))
            return FALSE;
          state = EXPECT_VALUE;
          break;

        case EXPECT_VALUE:
        case EXPECT_VALUE_OR_CLOSE:
        default:
          if (!json_check_value (check, &state, error))
            return FALSE;
          break;
        }
    }
}

/* Check that @line is one strict JSON text. Invalid UTF-8, NUL bytes and
 * syntax errors are HG_MESSAGE_ERROR_NOT_JSON; well-formed JSON with
 * content this protocol cannot represent is
 * HG_PROTOCOL_ERROR_INVALID_MESSAGE. */
static gboolean
check_json (const char  *line,
            gsize        length,
            GError     **error)
{
  JsonCheck check = { 0 };
  const char *invalid_end;
  const char *nul;

  nul = memchr (line, '\0', length);
  if (nul != NULL)
    {
      g_set_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON,
                   _("line is not valid JSON: NUL byte at byte %zu"),
                   (gsize) (nul - line));
      return FALSE;
    }

  if (!g_utf8_validate_len (line, length, &invalid_end))
    {
      g_set_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON,
                   _("line is not valid UTF-8 at byte %zu"),
                   (gsize) (invalid_end - line));
      return FALSE;
    }

  check.start = (const guchar *) line;
  check.cursor = check.start;
  check.end = check.start + length;

  if (!json_check_syntax (&check, error))
    {
      g_clear_error (&check.content_error);
      return FALSE;
    }

  if (check.content_error != NULL)
    {
      g_propagate_error (error, check.content_error);
      return FALSE;
    }

  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Reading fields                                                      */
/* ------------------------------------------------------------------ */

/* Where a field sits, for error messages: `"session.pid" of "hello"`. */
typedef struct {
  const char *type_name;
  const char *prefix;
} FieldScope;

/* json-glib 1.6 escapes every control character but U+001F, which it
 * writes raw, and a raw control byte is invalid JSON. The compact
 * generator puts no whitespace between tokens, so any byte below 0x20 in
 * its output sits inside a string and can be escaped there. This also
 * guarantees that a line never contains a raw `\n`. */
static char *
escape_control_bytes (char *line)
{
  const char *first = line;
  GString *escaped;

  while (*first != '\0' && (guchar) *first >= 0x20)
    first++;
  if (*first == '\0')
    return line;

  escaped = g_string_sized_new (strlen (line) + 16);
  for (const char *p = line; *p != '\0'; p++)
    {
      if ((guchar) *p < 0x20)
        g_string_append_printf (escaped, "\\u%04x", (guint) (guchar) *p);
      else
        g_string_append_c (escaped, *p);
    }

  g_free (line);
  return g_string_free (escaped, FALSE);
}

/* Quote a JSON value for an error message, shortened to a few dozen
 * bytes. The JSON form escapes control characters, so the result is
 * safe to log. */
static char *
quote_node (JsonNode *node)
{
  g_autofree char *text = escape_control_bytes (json_to_string (node, FALSE));
  const char *cut;

  if (strlen (text) <= QUOTE_MAX_BYTES)
    return g_steal_pointer (&text);

  cut = g_utf8_find_prev_char (text, text + QUOTE_MAX_BYTES + 1);
  return g_strdup_printf ("%.*s…", (int) (cut - text), text);
}

static char *
quote_string (const char *text)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_VALUE);

  json_node_set_string (node, text);
  return quote_node (node);
}

static gboolean
field_fail (const FieldScope  *scope,
            const char        *name,
            const char        *rule,
            JsonNode          *node,
            GError           **error)
{
  if (node == NULL)
    {
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE,
                   _("field \"%s%s\" of \"%s\" is missing; it must be %s"),
                   scope->prefix, name, scope->type_name, rule);
    }
  else
    {
      g_autofree char *quoted = quote_node (node);

      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE,
                   _("field \"%s%s\" of \"%s\" must be %s, got %s"),
                   scope->prefix, name, scope->type_name, rule, quoted);
    }

  return FALSE;
}

/* Fail for a value of the right JSON type that the host or pattern
 * parser rejected; its message already quotes the value. */
static gboolean
field_fail_detail (const FieldScope  *scope,
                   const char        *name,
                   const GError      *detail,
                   GError           **error)
{
  g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE,
               _("field \"%s%s\" of \"%s\" is invalid: %s"),
               scope->prefix, name, scope->type_name, detail->message);
  return FALSE;
}

/* Return the member @name, or NULL when it is absent. An optional field
 * set to null counts as absent. */
static JsonNode *
lookup_field (JsonObject *object,
              const char *name,
              gboolean    required)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node != NULL && !required && JSON_NODE_HOLDS_NULL (node))
    return NULL;

  return node;
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
node_is_integer (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

/* Read a string field of @min_length to @max_length bytes (0 for no
 * maximum). An absent optional field leaves *@value at NULL. */
static gboolean
read_string (JsonObject        *object,
             const FieldScope  *scope,
             const char        *name,
             gboolean           required,
             gsize              min_length,
             gsize              max_length,
             char             **value,
             GError           **error)
{
  JsonNode *node = lookup_field (object, name, required);
  g_autofree char *rule = NULL;
  const char *text;
  gsize length;

  if (node == NULL && !required)
    return TRUE;

  if (max_length > 0)
    rule = g_strdup_printf (_("a string of %zu to %zu bytes"), min_length, max_length);
  else if (min_length > 0)
    rule = g_strdup (_("a non-empty string"));
  else
    rule = g_strdup (_("a string"));

  if (node == NULL || !node_is_string (node))
    return field_fail (scope, name, rule, node, error);

  text = json_node_get_string (node);
  length = strlen (text);
  if (length < min_length || (max_length > 0 && length > max_length))
    return field_fail (scope, name, rule, node, error);

  *value = g_strdup (text);
  return TRUE;
}

static gboolean
read_id (JsonObject        *object,
         const FieldScope  *scope,
         gboolean           required,
         char             **value,
         GError           **error)
{
  return read_string (object, scope, "id", required, 1, HG_MESSAGE_MAX_ID_LENGTH, value, error);
}

/* Read an integer field from @min to @max. An absent optional field
 * leaves *@value unchanged. */
static gboolean
read_integer (JsonObject        *object,
              const FieldScope  *scope,
              const char        *name,
              gboolean           required,
              gint64             min,
              gint64             max,
              gint64            *value,
              GError           **error)
{
  JsonNode *node = lookup_field (object, name, required);
  gint64 number;

  if (node == NULL && !required)
    return TRUE;

  if (node != NULL && node_is_integer (node))
    {
      number = json_node_get_int (node);
      if (number >= min && number <= max)
        {
          *value = number;
          return TRUE;
        }
    }

  {
    /* Plain C formats, because xgettext cannot expand G_GINT64_FORMAT. */
    g_autofree char *rule = g_strdup_printf (_("an integer from %lld to %lld"),
                                             (long long) min, (long long) max);

    return field_fail (scope, name, rule, node, error);
  }
}

/* Read a required string field that must be one of @names; *@value is
 * its index. */
static gboolean
read_enum (JsonObject          *object,
           const FieldScope    *scope,
           const char          *name,
           const char * const  *names,
           int                 *value,
           GError             **error)
{
  JsonNode *node = lookup_field (object, name, TRUE);
  g_autoptr(GString) rule = NULL;

  if (node != NULL && node_is_string (node))
    {
      const char *text = json_node_get_string (node);

      for (int i = 0; names[i] != NULL; i++)
        {
          if (strcmp (text, names[i]) == 0)
            {
              *value = i;
              return TRUE;
            }
        }
    }

  rule = g_string_new (_("one of"));
  for (int i = 0; names[i] != NULL; i++)
    g_string_append_printf (rule, "%s \"%s\"", i == 0 ? "" : ",", names[i]);

  return field_fail (scope, name, rule->str, node, error);
}

/* Read an optional boolean field. An absent field leaves *@value
 * unchanged. */
static gboolean
read_boolean (JsonObject        *object,
              const FieldScope  *scope,
              const char        *name,
              gboolean          *value,
              GError           **error)
{
  JsonNode *node = lookup_field (object, name, FALSE);

  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return field_fail (scope, name, _("true or false"), node, error);

  *value = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
read_object (JsonObject        *object,
             const FieldScope  *scope,
             const char        *name,
             JsonObject       **value,
             GError           **error)
{
  JsonNode *node = lookup_field (object, name, TRUE);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return field_fail (scope, name, _("an object"), node, error);

  *value = json_node_get_object (node);
  return TRUE;
}

/* Read an array of host patterns; each must pass hg_pattern_parse()
 * with @flags. */
static gboolean
read_pattern_list (JsonObject        *object,
                   const FieldScope  *scope,
                   const char        *name,
                   HgPatternFlags     flags,
                   GStrv             *value,
                   GError           **error)
{
  JsonNode *node = lookup_field (object, name, TRUE);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;
  guint n_entries;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return field_fail (scope, name, _("an array of host patterns"), node, error);

  array = json_node_get_array (node);
  n_entries = json_array_get_length (array);

  for (guint i = 0; i < n_entries; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      g_autofree char *element_name = g_strdup_printf ("%s[%u]", name, i);
      g_autoptr(HgPattern) pattern = NULL;
      g_autoptr(GError) local_error = NULL;
      const char *entry;

      if (!node_is_string (element))
        return field_fail (scope, element_name, _("a string"), element, error);

      entry = json_node_get_string (element);
      pattern = hg_pattern_parse (entry, flags, &local_error);
      if (pattern == NULL)
        return field_fail_detail (scope, element_name, local_error, error);

      g_strv_builder_add (builder, entry);
    }

  *value = g_strv_builder_end (builder);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Parsing each type                                                   */
/* ------------------------------------------------------------------ */

/* `version` comes first, so that a peer speaking another version gets a
 * version error rather than a complaint about a field that changed. */
static gboolean
read_version (JsonObject        *object,
              const FieldScope  *scope,
              guint             *version,
              GError           **error)
{
  JsonNode *node = lookup_field (object, "version", TRUE);
  gint64 number;

  if (node == NULL || !node_is_integer (node))
    {
      g_autofree char *rule = g_strdup_printf (_("the integer %d"), HG_PROTOCOL_VERSION);

      return field_fail (scope, "version", rule, node, error);
    }

  number = json_node_get_int (node);
  if (number != HG_PROTOCOL_VERSION)
    {
      g_set_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_VERSION_MISMATCH,
                   _("the peer speaks protocol version %lld but this program speaks version %d; update both to the same release"),
                   (long long) number, HG_PROTOCOL_VERSION);
      return FALSE;
    }

  *version = HG_PROTOCOL_VERSION;
  return TRUE;
}

static gboolean
parse_session (JsonObject      *object,
               HgMessage       *message,
               GError         **error)
{
  const FieldScope scope = { "hello", "session." };
  g_autoptr(HgSessionInfo) info = g_new0 (HgSessionInfo, 1);
  JsonObject *session;
  gint64 pid = 0;

  if (!read_object (object, &(FieldScope) { "hello", "" }, "session", &session, error))
    return FALSE;

  if (!read_id (session, &scope, TRUE, &info->id, error) ||
      !read_string (session, &scope, "label", FALSE, 0, 0, &info->label, error) ||
      !read_string (session, &scope, "profile", TRUE, 1, 0, &info->profile, error) ||
      !read_integer (session, &scope, "pid", TRUE, 1, G_MAXINT32, &pid, error) ||
      !read_string (session, &scope, "command", FALSE, 0, 0, &info->command, error))
    return FALSE;

  info->pid = (int) pid;
  message->session = g_steal_pointer (&info);
  return TRUE;
}

static gboolean
parse_hello (JsonObject  *object,
             HgMessage   *message,
             GError     **error)
{
  const FieldScope scope = { "hello", "" };

  return read_version (object, &scope, &message->version, error) &&
         parse_session (object, message, error);
}

/* Read the fields of a filter update from @object, which is the message
 * itself for `filter` and its `filter` member for `welcome`. */
static HgFilterUpdate *
parse_filter_update (JsonObject        *object,
                     const FieldScope  *scope,
                     GError           **error)
{
  g_autoptr(HgFilterUpdate) filter = g_new0 (HgFilterUpdate, 1);
  gint64 revision = 0;
  gint64 timeout = 0;
  int mode = 0;

  if (!read_string (object, scope, "profile", TRUE, 1, 0, &filter->profile, error) ||
      !read_integer (object, scope, "revision", TRUE, 0, G_MAXINT64, &revision, error) ||
      !read_pattern_list (object, scope, "allow", HG_PATTERN_FLAG_NONE, &filter->allow, error) ||
      !read_pattern_list (object, scope, "deny", HG_PATTERN_FLAG_DENY, &filter->deny, error) ||
      !read_enum (object, scope, "approval_mode", approval_mode_names, &mode, error) ||
      !read_integer (object, scope, "approval_timeout_secs", TRUE,
                     HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX, &timeout, error))
    return NULL;

  filter->revision = (guint64) revision;
  filter->approval_mode = (HgApprovalMode) mode;
  filter->approval_timeout_secs = (guint) timeout;
  return g_steal_pointer (&filter);
}

static gboolean
parse_welcome (JsonObject  *object,
               HgMessage   *message,
               GError     **error)
{
  const FieldScope scope = { "welcome", "" };
  const FieldScope filter_scope = { "welcome", "filter." };
  JsonObject *filter;

  if (!read_version (object, &scope, &message->version, error) ||
      !read_object (object, &scope, "filter", &filter, error))
    return FALSE;

  message->filter = parse_filter_update (filter, &filter_scope, error);
  return message->filter != NULL;
}

static gboolean
parse_filter (JsonObject  *object,
              HgMessage   *message,
              GError     **error)
{
  const FieldScope scope = { "filter", "" };

  message->filter = parse_filter_update (object, &scope, error);
  if (message->filter == NULL)
    return FALSE;

  return read_boolean (object, &scope, "forget_session", &message->filter->forget_session, error);
}

/* The host of an `ask` is a bare host: a name, an IPv4 address, or an
 * IPv6 address with or without brackets. */
static gboolean
check_ask_host (const FieldScope  *scope,
                const char        *host,
                GError           **error)
{
  g_autofree char *bracketed = NULL;
  g_autoptr(HgHost) parsed = NULL;
  g_autoptr(GError) local_error = NULL;

  if (strchr (host, ':') != NULL && host[0] != '[')
    bracketed = g_strdup_printf ("[%s]", host);

  parsed = hg_host_parse (bracketed != NULL ? bracketed : host,
                          HG_HOST_PORT_FORBIDDEN, &local_error);
  if (parsed != NULL)
    return TRUE;

  return field_fail_detail (scope, "host", local_error, error);
}

static gboolean
parse_ask (JsonObject  *object,
           HgMessage   *message,
           GError     **error)
{
  const FieldScope scope = { "ask", "" };
  gint64 port = 0;
  gint64 timeout_ms = 0;
  int kind = 0;

  if (!read_id (object, &scope, TRUE, &message->id, error) ||
      !read_string (object, &scope, "host", TRUE, 1, HG_MESSAGE_MAX_HOST_LENGTH,
                    &message->ask.host, error) ||
      !check_ask_host (&scope, message->ask.host, error) ||
      !read_integer (object, &scope, "port", TRUE, 1, G_MAXUINT16, &port, error) ||
      !read_enum (object, &scope, "kind", ask_kind_names, &kind, error) ||
      !read_integer (object, &scope, "timeout_ms", TRUE, 1, HG_MESSAGE_MAX_TIMEOUT_MS,
                     &timeout_ms, error))
    return FALSE;

  message->ask.port = (guint16) port;
  message->ask.kind = (HgAskKind) kind;
  message->ask.timeout_ms = (guint) timeout_ms;
  return TRUE;
}

static gboolean
parse_decision (JsonObject  *object,
                HgMessage   *message,
                GError     **error)
{
  const FieldScope scope = { "decision", "" };
  g_autoptr(HgPattern) pattern = NULL;
  g_autoptr(GError) local_error = NULL;
  int verdict = 0;
  int duration = 0;

  if (!read_id (object, &scope, TRUE, &message->id, error) ||
      !read_enum (object, &scope, "verdict", verdict_names, &verdict, error) ||
      !read_enum (object, &scope, "duration", duration_names, &duration, error) ||
      !read_string (object, &scope, "pattern", TRUE, 1, 0, &message->decision.pattern, error))
    return FALSE;

  message->decision.verdict = (HgDecisionVerdict) verdict;
  message->decision.duration = (HgDecisionDuration) duration;

  pattern = hg_pattern_parse (message->decision.pattern,
                              verdict == HG_DECISION_DENY ? HG_PATTERN_FLAG_DENY : HG_PATTERN_FLAG_NONE,
                              &local_error);
  if (pattern == NULL)
    return field_fail_detail (&scope, "pattern", local_error, error);

  return TRUE;
}

static gboolean
parse_cancel (JsonObject  *object,
              HgMessage   *message,
              GError     **error)
{
  const FieldScope scope = { "cancel", "" };
  int reason = 0;

  if (!read_id (object, &scope, TRUE, &message->id, error) ||
      !read_enum (object, &scope, "reason", cancel_reason_names, &reason, error))
    return FALSE;

  message->cancel.reason = (HgCancelReason) reason;
  return TRUE;
}

static gboolean
check_event_time (JsonObject        *object,
                  const FieldScope  *scope,
                  const char        *time,
                  GError           **error)
{
  g_autoptr(GDateTime) parsed = NULL;

  if (time == NULL)
    return TRUE;

  parsed = g_date_time_new_from_iso8601 (time, NULL);
  if (parsed != NULL)
    return TRUE;

  return field_fail (scope, "time", _("an ISO 8601 date and time with a time zone"),
                     json_object_get_member (object, "time"), error);
}

static gboolean
parse_event (JsonObject  *object,
             HgMessage   *message,
             GError     **error)
{
  const FieldScope scope = { "event", "" };
  g_autoptr(HgEvent) event = hg_event_new ();
  gint64 port = 0;

  if (!read_string (object, &scope, "time", FALSE, 0, 0, &event->time, error) ||
      !check_event_time (object, &scope, event->time, error) ||
      !read_string (object, &scope, "session", FALSE, 0, 0, &event->session, error) ||
      !read_string (object, &scope, "client", FALSE, 0, 0, &event->client, error) ||
      !read_string (object, &scope, "method", FALSE, 0, 0, &event->method, error) ||
      !read_string (object, &scope, "host", FALSE, 0, 0, &event->host, error) ||
      !read_integer (object, &scope, "port", FALSE, 1, G_MAXUINT16, &port, error) ||
      !read_string (object, &scope, "decision", FALSE, 0, 0, &event->decision, error) ||
      !read_string (object, &scope, "reason", FALSE, 0, 0, &event->reason, error) ||
      !read_integer (object, &scope, "bytes_up", FALSE, 0, G_MAXINT64, &event->bytes_up, error) ||
      !read_integer (object, &scope, "bytes_down", FALSE, 0, G_MAXINT64, &event->bytes_down, error) ||
      !read_integer (object, &scope, "duration_ms", FALSE, 0, G_MAXINT64, &event->duration_ms, error) ||
      !read_string (object, &scope, "pattern", FALSE, 0, 0, &event->pattern, error))
    return FALSE;

  event->port = (guint16) port;
  message->event = g_steal_pointer (&event);
  return TRUE;
}

static gboolean
parse_ping_or_pong (JsonObject  *object,
                    HgMessage   *message,
                    GError     **error)
{
  const FieldScope scope = { message->type_name, "" };

  return read_id (object, &scope, TRUE, &message->id, error);
}

static gboolean
parse_error (JsonObject  *object,
             HgMessage   *message,
             GError     **error)
{
  const FieldScope scope = { "error", "" };

  return read_id (object, &scope, FALSE, &message->id, error) &&
         read_string (object, &scope, "code", TRUE, 1, ERROR_CODE_MAX_LENGTH,
                      &message->error.code, error) &&
         read_string (object, &scope, "message", TRUE, 0, 0, &message->error.message, error);
}

typedef gboolean (*ParseFunc) (JsonObject  *object,
                               HgMessage   *message,
                               GError     **error);

static const ParseFunc parse_funcs[] = {
  [HG_MESSAGE_TYPE_UNKNOWN] = NULL,
  [HG_MESSAGE_TYPE_HELLO] = parse_hello,
  [HG_MESSAGE_TYPE_WELCOME] = parse_welcome,
  [HG_MESSAGE_TYPE_ASK] = parse_ask,
  [HG_MESSAGE_TYPE_DECISION] = parse_decision,
  [HG_MESSAGE_TYPE_CANCEL] = parse_cancel,
  [HG_MESSAGE_TYPE_FILTER] = parse_filter,
  [HG_MESSAGE_TYPE_EVENT] = parse_event,
  [HG_MESSAGE_TYPE_PING] = parse_ping_or_pong,
  [HG_MESSAGE_TYPE_PONG] = parse_ping_or_pong,
  [HG_MESSAGE_TYPE_ERROR] = parse_error,
};

static HgMessageType
message_type_from_string (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (message_type_names); i++)
    {
      if (message_type_names[i] != NULL && strcmp (name, message_type_names[i]) == 0)
        return (HgMessageType) i;
    }

  return HG_MESSAGE_TYPE_UNKNOWN;
}

/* ------------------------------------------------------------------ */
/* Parsing a line                                                      */
/* ------------------------------------------------------------------ */

typedef struct {
  GHashTable *member_counts;  /* JsonObject * → number of members read */
  char *duplicate;
} DuplicateCheck;

/* json-glib keeps the last of several members with one name. Count the
 * members as the parser reads them: when an object has fewer members
 * than were read, a name was repeated. */
static void
object_member_cb (JsonParser *parser,
                  JsonObject *object,
                  const char *member_name,
                  gpointer    user_data)
{
  DuplicateCheck *check = user_data;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (check->member_counts, object)) + 1;

  g_hash_table_insert (check->member_counts, object, GUINT_TO_POINTER (count));
  if (check->duplicate == NULL && json_object_get_size (object) < count)
    check->duplicate = g_strdup (member_name);
}

static JsonNode *
load_json (const char  *line,
           gsize        length,
           GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local_error = NULL;
  DuplicateCheck check = { 0 };
  JsonNode *root;

  check.member_counts = g_hash_table_new (NULL, NULL);
  g_signal_connect (parser, "object-member", G_CALLBACK (object_member_cb), &check);

  if (!json_parser_load_from_data (parser, line, length, &local_error))
    {
      /* The strict check has passed, so this should not happen. */
      g_set_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON,
                   _("line is not valid JSON: %s"), local_error->message);
      root = NULL;
    }
  else if (check.duplicate != NULL)
    {
      g_autofree char *quoted = quote_string (check.duplicate);

      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE,
                   _("member %s appears more than once in an object"), quoted);
      root = NULL;
    }
  else
    {
      root = json_parser_steal_root (parser);
    }

  g_signal_handlers_disconnect_by_data (parser, &check);
  g_hash_table_unref (check.member_counts);
  g_free (check.duplicate);
  return root;
}

static const char *
json_node_describe (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_ARRAY:
      return _("an array");
    case JSON_NODE_NULL:
      return _("null");
    case JSON_NODE_VALUE:
    case JSON_NODE_OBJECT:
    default:
      return _("a single value");
    }
}

/**
 * hg_message_parse:
 * @line: one line, without its `\n`; need not be NUL-terminated
 * @length: the length of @line in bytes
 * @error: return location for a #GError
 *
 * Parses and validates one wire message. A JSON object with a `type` this
 * version does not know is not an error: it gives a message of type
 * %HG_MESSAGE_TYPE_UNKNOWN, to which the receiver replies with an `error` of
 * code `unknown-type`.
 *
 * Errors: %HG_MESSAGE_ERROR_NOT_JSON when @line is not one strict JSON
 * text (RFC 8259) in UTF-8, nested at most %HG_MESSAGE_MAX_DEPTH deep;
 * %HG_MESSAGE_ERROR_VERSION_MISMATCH for a `hello` or `welcome` of
 * another version; %HG_PROTOCOL_ERROR_INVALID_MESSAGE for everything
 * else, with a message naming the field and the rule it broke. Unknown
 * fields are ignored, but a repeated member name is an error.
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 */
HgMessage *
hg_message_parse (const char  *line,
                  gsize        length,
                  GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(HgMessage) message = NULL;
  JsonObject *object;
  JsonNode *type_node;
  ParseFunc parse;

  g_return_val_if_fail (line != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (line == NULL)
    line = "";

  if (length > HG_MESSAGE_MAX_LINE)
    {
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG,
                   _("line of %zu bytes is longer than the limit of %d bytes"),
                   length, HG_MESSAGE_MAX_LINE);
      return NULL;
    }

  if (!check_json (line, length, error))
    return NULL;

  root = load_json (line, length, error);
  if (root == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE,
                   _("message must be a JSON object, got %s"), json_node_describe (root));
      return NULL;
    }

  object = json_node_get_object (root);
  type_node = json_object_get_member (object, "type");
  if (type_node == NULL || !node_is_string (type_node))
    {
      const FieldScope scope = { "message", "" };

      field_fail (&scope, "type", _("a string"), type_node, error);
      return NULL;
    }

  message = g_new0 (HgMessage, 1);
  message->type_name = g_strdup (json_node_get_string (type_node));
  message->type = message_type_from_string (message->type_name);

  parse = parse_funcs[message->type];
  if (parse != NULL && !parse (object, message, error))
    return NULL;

  return g_steal_pointer (&message);
}

/**
 * hg_message_error_to_code:
 * @error: an error from hg_message_parse() or from reading a message stream
 *
 * Chooses the `code` of the `error` message sent in reply to a bad line.
 *
 * Returns: %HG_ERROR_CODE_VERSION_MISMATCH or %HG_ERROR_CODE_INVALID_MESSAGE
 */
const char *
hg_message_error_to_code (const GError *error)
{
  g_return_val_if_fail (error != NULL, NULL);

  if (g_error_matches (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_VERSION_MISMATCH))
    return HG_ERROR_CODE_VERSION_MISMATCH;

  return HG_ERROR_CODE_INVALID_MESSAGE;
}

/**
 * hg_message_error_is_fatal:
 * @error: an error from hg_message_parse() or from reading a message stream
 *
 * Tells whether the connection must close after @error. It must when the
 * line was not JSON, was too long, or came from another protocol version,
 * and on any I/O error. After an invalid message that was valid JSON the
 * receiver replies with an `error` and reads on.
 *
 * Returns: %TRUE when the connection must close
 */
gboolean
hg_message_error_is_fatal (const GError *error)
{
  g_return_val_if_fail (error != NULL, TRUE);

  return !g_error_matches (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE);
}

/* ------------------------------------------------------------------ */
/* Serialising                                                         */
/* ------------------------------------------------------------------ */

/* json-glib writes strings as given, so invalid UTF-8 (a command line
 * from argv, say) would make the line invalid. Such bytes become U+FFFD. */
static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  if (value == NULL)
    return;

  json_builder_set_member_name (builder, name);
  if (g_utf8_validate (value, -1, NULL))
    {
      json_builder_add_string_value (builder, value);
    }
  else
    {
      g_autofree char *valid = g_utf8_make_valid (value, -1);

      json_builder_add_string_value (builder, valid);
    }
}

static void
add_int (JsonBuilder *builder,
         const char  *name,
         gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static void
add_strv (JsonBuilder        *builder,
          const char         *name,
          const char * const *values)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (gsize i = 0; values != NULL && values[i] != NULL; i++)
    {
      if (g_utf8_validate (values[i], -1, NULL))
        {
          json_builder_add_string_value (builder, values[i]);
        }
      else
        {
          g_autofree char *valid = g_utf8_make_valid (values[i], -1);

          json_builder_add_string_value (builder, valid);
        }
    }
  json_builder_end_array (builder);
}

static void
add_filter_update (JsonBuilder          *builder,
                   const HgFilterUpdate *filter)
{
  add_string (builder, "profile", filter->profile);
  add_int (builder, "revision", (gint64) MIN (filter->revision, (guint64) G_MAXINT64));
  add_strv (builder, "allow", (const char * const *) filter->allow);
  add_strv (builder, "deny", (const char * const *) filter->deny);
  add_string (builder, "approval_mode", approval_mode_names[filter->approval_mode]);
  add_int (builder, "approval_timeout_secs", filter->approval_timeout_secs);
}

static void
add_session (JsonBuilder         *builder,
             const HgSessionInfo *session)
{
  json_builder_set_member_name (builder, "session");
  json_builder_begin_object (builder);
  add_string (builder, "id", session->id);
  add_string (builder, "label", session->label);
  add_string (builder, "profile", session->profile);
  add_int (builder, "pid", session->pid);
  add_string (builder, "command", session->command);
  json_builder_end_object (builder);
}

static void
add_event (JsonBuilder   *builder,
           const HgEvent *event)
{
  add_string (builder, "time", event->time);
  add_string (builder, "session", event->session);
  add_string (builder, "client", event->client);
  add_string (builder, "method", event->method);
  add_string (builder, "host", event->host);
  if (event->port != 0)
    add_int (builder, "port", event->port);
  add_string (builder, "decision", event->decision);
  add_string (builder, "reason", event->reason);
  if (event->bytes_up >= 0)
    add_int (builder, "bytes_up", event->bytes_up);
  if (event->bytes_down >= 0)
    add_int (builder, "bytes_down", event->bytes_down);
  if (event->duration_ms >= 0)
    add_int (builder, "duration_ms", event->duration_ms);
  add_string (builder, "pattern", event->pattern);
}

static void
add_fields (JsonBuilder     *builder,
            const HgMessage *message)
{
  switch (message->type)
    {
    case HG_MESSAGE_TYPE_HELLO:
      add_int (builder, "version", message->version);
      add_session (builder, message->session);
      break;

    case HG_MESSAGE_TYPE_WELCOME:
      add_int (builder, "version", message->version);
      json_builder_set_member_name (builder, "filter");
      json_builder_begin_object (builder);
      add_filter_update (builder, message->filter);
      json_builder_end_object (builder);
      break;

    case HG_MESSAGE_TYPE_ASK:
      add_string (builder, "id", message->id);
      add_string (builder, "host", message->ask.host);
      add_int (builder, "port", message->ask.port);
      add_string (builder, "kind", ask_kind_names[message->ask.kind]);
      add_int (builder, "timeout_ms", message->ask.timeout_ms);
      break;

    case HG_MESSAGE_TYPE_DECISION:
      add_string (builder, "id", message->id);
      add_string (builder, "verdict", verdict_names[message->decision.verdict]);
      add_string (builder, "duration", duration_names[message->decision.duration]);
      add_string (builder, "pattern", message->decision.pattern);
      break;

    case HG_MESSAGE_TYPE_CANCEL:
      add_string (builder, "id", message->id);
      add_string (builder, "reason", cancel_reason_names[message->cancel.reason]);
      break;

    case HG_MESSAGE_TYPE_FILTER:
      add_filter_update (builder, message->filter);
      if (message->filter->forget_session)
        {
          json_builder_set_member_name (builder, "forget_session");
          json_builder_add_boolean_value (builder, TRUE);
        }
      break;

    case HG_MESSAGE_TYPE_EVENT:
      add_event (builder, message->event);
      break;

    case HG_MESSAGE_TYPE_PING:
    case HG_MESSAGE_TYPE_PONG:
      add_string (builder, "id", message->id);
      break;

    case HG_MESSAGE_TYPE_ERROR:
      add_string (builder, "id", message->id);
      add_string (builder, "code", message->error.code);
      add_string (builder, "message", message->error.message);
      break;

    case HG_MESSAGE_TYPE_UNKNOWN:
    default:
      break;
    }
}

/**
 * hg_message_serialize:
 * @message: a message
 *
 * Serialises @message as one line of compact JSON. Control characters in
 * strings are escaped, so the line never contains a raw `\n` or `\r`;
 * invalid UTF-8 in a string is replaced with U+FFFD. A message of type
 * %HG_MESSAGE_TYPE_UNKNOWN serialises to its `type` alone.
 *
 * Returns: (transfer full): the line, without a trailing newline
 */
char *
hg_message_serialize (const HgMessage *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  const char *type_name;

  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (message->type != HG_MESSAGE_TYPE_UNKNOWN || message->type_name != NULL, NULL);

  type_name = message->type == HG_MESSAGE_TYPE_UNKNOWN
    ? message->type_name
    : message_type_names[message->type];

  json_builder_begin_object (builder);
  add_string (builder, "type", type_name);
  add_fields (builder, message);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return escape_control_bytes (json_generator_to_data (generator, NULL));
}

/* ------------------------------------------------------------------ */
/* Constructors, copies and free functions                             */
/* ------------------------------------------------------------------ */

/**
 * hg_session_info_new:
 * @id: the session id, 1–128 bytes
 * @label: (nullable): a name for the sandbox
 * @profile: the profile name
 * @pid: the proxy's process id
 * @command: (nullable): the sandboxed command line
 *
 * Creates the `session` object of a `hello`.
 *
 * Returns: (transfer full): the new session info
 */
HgSessionInfo *
hg_session_info_new (const char *id,
                     const char *label,
                     const char *profile,
                     int         pid,
                     const char *command)
{
  HgSessionInfo *info;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  info = g_new0 (HgSessionInfo, 1);
  info->id = g_strdup (id);
  info->label = g_strdup (label);
  info->profile = g_strdup (profile);
  info->pid = pid;
  info->command = g_strdup (command);
  return info;
}

/**
 * hg_session_info_copy:
 * @info: a session info
 *
 * Copies @info deeply.
 *
 * Returns: (transfer full): the copy
 */
HgSessionInfo *
hg_session_info_copy (const HgSessionInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);

  return hg_session_info_new (info->id, info->label, info->profile, info->pid, info->command);
}

/**
 * hg_session_info_free:
 * @info: (nullable): a session info
 *
 * Frees @info and its strings.
 */
void
hg_session_info_free (HgSessionInfo *info)
{
  if (info == NULL)
    return;

  g_free (info->id);
  g_free (info->label);
  g_free (info->profile);
  g_free (info->command);
  g_free (info);
}

/**
 * hg_filter_update_new:
 * @profile: the profile name
 * @revision: the profile's revision
 * @allow: (nullable) (array zero-terminated=1): allow-list entries
 * @deny: (nullable) (array zero-terminated=1): deny-list entries
 * @approval_mode: the approval mode
 * @approval_timeout_secs: the approval timeout, 5–300 seconds
 *
 * Creates the content of a `filter` or `welcome` message. The lists are
 * copied; %NULL stands for an empty list.
 *
 * Returns: (transfer full): the new filter update
 */
HgFilterUpdate *
hg_filter_update_new (const char         *profile,
                      guint64             revision,
                      const char * const *allow,
                      const char * const *deny,
                      HgApprovalMode      approval_mode,
                      guint               approval_timeout_secs)
{
  static const char * const empty[] = { NULL };
  HgFilterUpdate *filter;

  g_return_val_if_fail (profile != NULL, NULL);
  g_return_val_if_fail (approval_mode == HG_APPROVAL_OFF || approval_mode == HG_APPROVAL_ASK, NULL);

  filter = g_new0 (HgFilterUpdate, 1);
  filter->profile = g_strdup (profile);
  filter->revision = revision;
  filter->allow = g_strdupv ((GStrv) (allow != NULL ? allow : empty));
  filter->deny = g_strdupv ((GStrv) (deny != NULL ? deny : empty));
  filter->approval_mode = approval_mode;
  filter->approval_timeout_secs = approval_timeout_secs;
  return filter;
}

/**
 * hg_filter_update_copy:
 * @filter: a filter update
 *
 * Copies @filter deeply.
 *
 * Returns: (transfer full): the copy
 */
HgFilterUpdate *
hg_filter_update_copy (const HgFilterUpdate *filter)
{
  HgFilterUpdate *copy;

  g_return_val_if_fail (filter != NULL, NULL);

  copy = hg_filter_update_new (filter->profile, filter->revision,
                               (const char * const *) filter->allow,
                               (const char * const *) filter->deny,
                               filter->approval_mode, filter->approval_timeout_secs);
  copy->forget_session = filter->forget_session;
  return copy;
}

/**
 * hg_filter_update_free:
 * @filter: (nullable): a filter update
 *
 * Frees @filter and its lists.
 */
void
hg_filter_update_free (HgFilterUpdate *filter)
{
  if (filter == NULL)
    return;

  g_free (filter->profile);
  g_strfreev (filter->allow);
  g_strfreev (filter->deny);
  g_free (filter);
}

/**
 * hg_event_new:
 *
 * Creates an empty audit record: strings %NULL, @port 0 and the counters
 * -1, which all mean "not set". Fill in the fields directly.
 *
 * Returns: (transfer full): the new event
 */
HgEvent *
hg_event_new (void)
{
  HgEvent *event = g_new0 (HgEvent, 1);

  event->bytes_up = -1;
  event->bytes_down = -1;
  event->duration_ms = -1;
  return event;
}

/**
 * hg_event_copy:
 * @event: an event
 *
 * Copies @event deeply.
 *
 * Returns: (transfer full): the copy
 */
HgEvent *
hg_event_copy (const HgEvent *event)
{
  HgEvent *copy;

  g_return_val_if_fail (event != NULL, NULL);

  copy = g_new0 (HgEvent, 1);
  copy->time = g_strdup (event->time);
  copy->session = g_strdup (event->session);
  copy->client = g_strdup (event->client);
  copy->method = g_strdup (event->method);
  copy->host = g_strdup (event->host);
  copy->port = event->port;
  copy->decision = g_strdup (event->decision);
  copy->reason = g_strdup (event->reason);
  copy->bytes_up = event->bytes_up;
  copy->bytes_down = event->bytes_down;
  copy->duration_ms = event->duration_ms;
  copy->pattern = g_strdup (event->pattern);
  return copy;
}

/**
 * hg_event_free:
 * @event: (nullable): an event
 *
 * Frees @event and its strings.
 */
void
hg_event_free (HgEvent *event)
{
  if (event == NULL)
    return;

  g_free (event->time);
  g_free (event->session);
  g_free (event->client);
  g_free (event->method);
  g_free (event->host);
  g_free (event->decision);
  g_free (event->reason);
  g_free (event->pattern);
  g_free (event);
}

static HgMessage *
message_new (HgMessageType type)
{
  HgMessage *message = g_new0 (HgMessage, 1);

  message->type = type;
  message->type_name = g_strdup (message_type_names[type]);
  return message;
}

/**
 * hg_message_new_hello:
 * @session: the session the proxy serves
 *
 * Creates a `hello` of the current protocol version.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_hello (const HgSessionInfo *session)
{
  HgMessage *message;

  g_return_val_if_fail (session != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_HELLO);
  message->version = HG_PROTOCOL_VERSION;
  message->session = hg_session_info_copy (session);
  return message;
}

/**
 * hg_message_new_welcome:
 * @filter: the filter of the profile the proxy named in its `hello`
 *
 * Creates a `welcome` of the current protocol version.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_welcome (const HgFilterUpdate *filter)
{
  HgMessage *message;

  g_return_val_if_fail (filter != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_WELCOME);
  message->version = HG_PROTOCOL_VERSION;
  message->filter = hg_filter_update_copy (filter);
  return message;
}

/**
 * hg_message_new_ask:
 * @id: the prompt id, 1–128 bytes, unique on the connection
 * @host: the normalised host
 * @port: the port, 1–65535
 * @kind: whether the client sent CONNECT or a plain HTTP request
 * @timeout_ms: how long the proxy waits, 1–600000 ms
 *
 * Creates an `ask`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_ask (const char *id,
                    const char *host,
                    guint16     port,
                    HgAskKind   kind,
                    guint       timeout_ms)
{
  HgMessage *message;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (kind == HG_ASK_KIND_CONNECT || kind == HG_ASK_KIND_HTTP, NULL);

  message = message_new (HG_MESSAGE_TYPE_ASK);
  message->id = g_strdup (id);
  message->ask.host = g_strdup (host);
  message->ask.port = port;
  message->ask.kind = kind;
  message->ask.timeout_ms = timeout_ms;
  return message;
}

/**
 * hg_message_new_decision:
 * @id: the id of the `ask` it replies to
 * @verdict: approve or deny
 * @duration: once, for the session, or always
 * @pattern: the entry the verdict applies to, such as `example.com` or
 *   `*.example.com`
 *
 * Creates a `decision`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_decision (const char         *id,
                         HgDecisionVerdict   verdict,
                         HgDecisionDuration  duration,
                         const char         *pattern)
{
  HgMessage *message;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (verdict == HG_DECISION_APPROVE || verdict == HG_DECISION_DENY, NULL);
  g_return_val_if_fail (duration <= HG_DECISION_ALWAYS, NULL);
  g_return_val_if_fail (pattern != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_DECISION);
  message->id = g_strdup (id);
  message->decision.verdict = verdict;
  message->decision.duration = duration;
  message->decision.pattern = g_strdup (pattern);
  return message;
}

/**
 * hg_message_new_cancel:
 * @id: the id of the `ask` to withdraw
 * @reason: why the proxy stopped waiting
 *
 * Creates a `cancel`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_cancel (const char     *id,
                       HgCancelReason  reason)
{
  HgMessage *message;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (reason == HG_CANCEL_REASON_TIMEOUT ||
                        reason == HG_CANCEL_REASON_CLIENT_GONE, NULL);

  message = message_new (HG_MESSAGE_TYPE_CANCEL);
  message->id = g_strdup (id);
  message->cancel.reason = reason;
  return message;
}

/**
 * hg_message_new_filter:
 * @filter: the new filter
 *
 * Creates a `filter`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_filter (const HgFilterUpdate *filter)
{
  HgMessage *message;

  g_return_val_if_fail (filter != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_FILTER);
  message->filter = hg_filter_update_copy (filter);
  return message;
}

/**
 * hg_message_new_event:
 * @event: the audit record
 *
 * Creates an `event`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_event (const HgEvent *event)
{
  HgMessage *message;

  g_return_val_if_fail (event != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_EVENT);
  message->event = hg_event_copy (event);
  return message;
}

/**
 * hg_message_new_ping:
 * @id: an id the `pong` will carry back, 1–128 bytes
 *
 * Creates a `ping`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_ping (const char *id)
{
  HgMessage *message;

  g_return_val_if_fail (id != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_PING);
  message->id = g_strdup (id);
  return message;
}

/**
 * hg_message_new_pong:
 * @id: the id of the `ping` it replies to
 *
 * Creates a `pong`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_pong (const char *id)
{
  HgMessage *message;

  g_return_val_if_fail (id != NULL, NULL);

  message = message_new (HG_MESSAGE_TYPE_PONG);
  message->id = g_strdup (id);
  return message;
}

/**
 * hg_message_new_error:
 * @id: (nullable): the id of the message it replies to, if that had one
 * @code: one of the `HG_ERROR_CODE_` strings, or another short code
 * @message: a sentence for logs and people
 *
 * Creates an `error`.
 *
 * Returns: (transfer full): the new message
 */
HgMessage *
hg_message_new_error (const char *id,
                      const char *code,
                      const char *message)
{
  HgMessage *error;

  g_return_val_if_fail (code != NULL && *code != '\0', NULL);
  g_return_val_if_fail (message != NULL, NULL);

  error = message_new (HG_MESSAGE_TYPE_ERROR);
  error->id = g_strdup (id);
  error->error.code = g_strdup (code);
  error->error.message = g_strdup (message);
  return error;
}

/**
 * hg_message_copy:
 * @message: a message
 *
 * Copies @message deeply.
 *
 * Returns: (transfer full): the copy
 */
HgMessage *
hg_message_copy (const HgMessage *message)
{
  HgMessage *copy;

  g_return_val_if_fail (message != NULL, NULL);

  copy = g_new0 (HgMessage, 1);
  *copy = *message;
  copy->type_name = g_strdup (message->type_name);
  copy->id = g_strdup (message->id);
  copy->session = message->session != NULL ? hg_session_info_copy (message->session) : NULL;
  copy->filter = message->filter != NULL ? hg_filter_update_copy (message->filter) : NULL;
  copy->event = message->event != NULL ? hg_event_copy (message->event) : NULL;
  copy->ask.host = g_strdup (message->ask.host);
  copy->decision.pattern = g_strdup (message->decision.pattern);
  copy->error.code = g_strdup (message->error.code);
  copy->error.message = g_strdup (message->error.message);
  return copy;
}

/**
 * hg_message_free:
 * @message: (nullable): a message
 *
 * Frees @message and everything it owns.
 */
void
hg_message_free (HgMessage *message)
{
  if (message == NULL)
    return;

  g_free (message->type_name);
  g_free (message->id);
  hg_session_info_free (message->session);
  hg_filter_update_free (message->filter);
  hg_event_free (message->event);
  g_free (message->ask.host);
  g_free (message->decision.pattern);
  g_free (message->error.code);
  g_free (message->error.message);
  g_free (message);
}

/**
 * hg_message_type_to_string:
 * @type: a message type
 *
 * Gives the `type` string of @type.
 *
 * Returns: the name, or %NULL for %HG_MESSAGE_TYPE_UNKNOWN
 */
const char *
hg_message_type_to_string (HgMessageType type)
{
  g_return_val_if_fail (type <= HG_MESSAGE_TYPE_ERROR, NULL);

  return message_type_names[type];
}

/**
 * hg_ask_kind_to_string:
 * @kind: an ask kind
 *
 * Gives the wire name of @kind.
 *
 * Returns: `connect` or `http`
 */
const char *
hg_ask_kind_to_string (HgAskKind kind)
{
  g_return_val_if_fail (kind <= HG_ASK_KIND_HTTP, NULL);

  return ask_kind_names[kind];
}

/**
 * hg_decision_verdict_to_string:
 * @verdict: a verdict
 *
 * Gives the wire name of @verdict.
 *
 * Returns: `approve` or `deny`
 */
const char *
hg_decision_verdict_to_string (HgDecisionVerdict verdict)
{
  g_return_val_if_fail (verdict <= HG_DECISION_DENY, NULL);

  return verdict_names[verdict];
}

/**
 * hg_decision_duration_to_string:
 * @duration: a duration
 *
 * Gives the wire name of @duration.
 *
 * Returns: `once`, `session` or `always`
 */
const char *
hg_decision_duration_to_string (HgDecisionDuration duration)
{
  g_return_val_if_fail (duration <= HG_DECISION_ALWAYS, NULL);

  return duration_names[duration];
}

/**
 * hg_cancel_reason_to_string:
 * @reason: a cancel reason
 *
 * Gives the wire name of @reason.
 *
 * Returns: `timeout` or `client-gone`
 */
const char *
hg_cancel_reason_to_string (HgCancelReason reason)
{
  g_return_val_if_fail (reason <= HG_CANCEL_REASON_CLIENT_GONE, NULL);

  return cancel_reason_names[reason];
}
