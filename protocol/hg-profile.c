/* hg-profile.c: profiles, read side, and resolving settings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-profile.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hg-error.h"
#include "hg-host.h"
#include "hg-protocol-resources.h"

#define DEFAULT_PROFILE_RESOURCE "/io/github/hostgate/protocol/profiles/default.json"

/* json-glib 1.6 parses nested arrays and objects by recursion without a
 * limit: 200 000 opening brackets overflowed an 8 MiB stack when tried.
 * A profile needs only a few levels. */
#define PROFILE_MAX_DEPTH 64

#define READ_CHUNK_SIZE (64 * 1024)
#define SIZE_FORMAT_FLAGS (G_FORMAT_SIZE_IEC_UNITS | G_FORMAT_SIZE_LONG_FORMAT)

#define ENV_APPROVAL_MODE "HOSTGATE_NETWORK_APPROVAL"
#define ENV_APPROVAL_TIMEOUT "HOSTGATE_APPROVAL_TIMEOUT"
#define FLAG_APPROVAL_MODE "--network-approval"
#define FLAG_APPROVAL_TIMEOUT "--approval-timeout"

static void set_invalid (GError     **error,
                         const char  *origin,
                         const char  *key,
                         const char  *format,
                         ...) G_GNUC_PRINTF (4, 5);

/* Sets an HG_PROTOCOL_ERROR_INVALID_PROFILE error of the form
 * "ORIGIN: KEY: REASON", or "ORIGIN: REASON" when @key is %NULL. */
static void
set_invalid (GError     **error,
             const char  *origin,
             const char  *key,
             const char  *format,
             ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);

  if (key != NULL)
    g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE,
                 "%s: %s: %s", origin, key, reason);
  else
    g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE,
                 "%s: %s", origin, reason);
}

static HgProfile *
profile_new (void)
{
  HgProfile *profile = g_new0 (HgProfile, 1);

  profile->allow = g_ptr_array_new_with_free_func (g_free);
  profile->deny = g_ptr_array_new_with_free_func (g_free);
  profile->upstream_bypass = g_ptr_array_new_with_free_func (g_free);
  profile->approval_mode = HG_APPROVAL_OFF;
  profile->approval_timeout_secs = HG_APPROVAL_TIMEOUT_DEFAULT;

  return profile;
}

/**
 * hg_profile_free:
 * @profile: (nullable) (transfer full): a profile
 *
 * Frees @profile and everything it owns.
 */
void
hg_profile_free (HgProfile *profile)
{
  if (profile == NULL)
    return;

  g_free (profile->name);
  g_free (profile->path);
  g_clear_pointer (&profile->allow, g_ptr_array_unref);
  g_clear_pointer (&profile->deny, g_ptr_array_unref);
  g_free (profile->upstream_proxy);
  g_clear_pointer (&profile->upstream_bypass, g_ptr_array_unref);
  g_free (profile);
}

static guint
clamp_timeout (guint64 secs)
{
  return (guint) CLAMP (secs, HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX);
}

/* Returns the 1-based line and column (in characters) of @offset in @text,
 * which must be valid UTF-8 up to @offset. */
static void
locate_offset (const char *text,
               gsize       offset,
               guint      *line,
               guint      *column)
{
  gsize line_start = 0;

  *line = 1;
  for (gsize i = 0; i < offset; i++)
    {
      if (text[i] == '\n')
        {
          *line += 1;
          line_start = i + 1;
        }
    }

  *column = (guint) g_utf8_strlen (text + line_start, offset - line_start) + 1;
}

static void
set_invalid_at (GError    **error,
                const char *origin,
                const char *text,
                gsize       offset,
                const char *reason)
{
  guint line;
  guint column;

  locate_offset (text, offset, &line, &column);
  set_invalid (error, origin, NULL, _("line %u, column %u: %s"), line, column, reason);
}

static gboolean
read_hex4 (const char *text,
           gsize       length,
           gsize       start,
           guint      *value)
{
  *value = 0;
  if (start > length || length - start < 4)
    return FALSE;

  for (gsize i = start; i < start + 4; i++)
    {
      if (!g_ascii_isxdigit (text[i]))
        return FALSE;
      *value = *value * 16 + (guint) g_ascii_xdigit_value (text[i]);
    }

  return TRUE;
}

/* Moves *@index past the escape that starts with the backslash at
 * *@index. Only escapes that json-glib 1.6 decodes to what they mean are
 * accepted. json-glib cuts a string at a NUL character, so "\u0000" and
 * octal escapes such as "\0" would shorten the entry. It also reads a
 * short "\u" escape past its end, and a lone surrogate into invalid UTF-8. */
static gboolean
skip_escape (const char *text,
             gsize       length,
             gsize      *index,
             const char *origin,
             GError    **error)
{
  gsize start = *index;
  guint value;
  guint low;

  if (start + 1 >= length)
    {
      *index = length;
      return TRUE;
    }

  if (g_ascii_isdigit (text[start + 1]))
    {
      set_invalid_at (error, origin, text, start,
                      _("a string contains an octal escape such as \\0, which JSON does not allow"));
      return FALSE;
    }

  if (text[start + 1] != 'u')
    {
      *index = start + 2;
      return TRUE;
    }

  if (!read_hex4 (text, length, start + 2, &value))
    {
      set_invalid_at (error, origin, text, start,
                      _("a string contains an invalid \\u escape; write four hex digits, as in \\u00e9"));
      return FALSE;
    }

  if (value == 0)
    {
      set_invalid_at (error, origin, text, start,
                      _("a string contains the escape \\u0000 (a NUL character), which is not allowed"));
      return FALSE;
    }

  *index = start + 6;
  if (value < 0xD800 || value > 0xDFFF)
    return TRUE;

  if (value <= 0xDBFF && *index + 1 < length &&
      text[*index] == '\\' && text[*index + 1] == 'u' &&
      read_hex4 (text, length, *index + 2, &low) && low >= 0xDC00 && low <= 0xDFFF)
    {
      *index += 6;
      return TRUE;
    }

  set_invalid_at (error, origin, text, start,
                  _("a string contains a \\u escape of half a UTF-16 surrogate pair"));
  return FALSE;
}

/* Moves *@index from the opening quote of a string to its closing quote,
 * or to @length when the string is not closed. */
static gboolean
skip_string (const char *text,
             gsize       length,
             gsize      *index,
             const char *origin,
             GError    **error)
{
  gsize i = *index + 1;

  while (i < length && text[i] != '"')
    {
      if (text[i] != '\\')
        i++;
      else if (!skip_escape (text, length, &i, origin, error))
        return FALSE;
    }

  *index = i;
  return TRUE;
}

/* Checks what json-glib would accept silently or crash on: invalid UTF-8,
 * NUL bytes and NUL escapes, and nesting deeper than PROFILE_MAX_DEPTH.
 * json-glib also accepts single-quoted strings and two kinds of comments.
 * Those are rejected, because standard JSON has neither, and counting
 * brackets past them would need a second copy of json-glib's rules. */
static gboolean
check_json_text (const char *text,
                 gsize       length,
                 const char *origin,
                 GError    **error)
{
  const char *invalid = NULL;
  guint depth = 0;

  if (!g_utf8_validate_len (text, length, &invalid))
    {
      set_invalid_at (error, origin, text, invalid - text,
                      *invalid == '\0' ? _("the file contains a NUL byte")
                                       : _("the file is not valid UTF-8"));
      return FALSE;
    }

  for (gsize i = 0; i < length; i++)
    {
      char c = text[i];

      if (c == '"' && !skip_string (text, length, &i, origin, error))
        return FALSE;

      if (c == '\'')
        {
          set_invalid_at (error, origin, text, i,
                          _("single-quoted strings are not allowed in JSON; use double quotes"));
          return FALSE;
        }

      if (c == '/')
        {
          set_invalid_at (error, origin, text, i, _("comments are not allowed in JSON"));
          return FALSE;
        }

      if ((c == '[' || c == '{') && ++depth > PROFILE_MAX_DEPTH)
        {
          g_autofree char *reason =
            g_strdup_printf (_("arrays and objects are nested more than %u levels deep"),
                             PROFILE_MAX_DEPTH);
          set_invalid_at (error, origin, text, i, reason);
          return FALSE;
        }

      if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }

  return TRUE;
}

typedef struct {
  gboolean seen;
  guint line;
  guint column;
} ParsePosition;

static void
parser_error_cb (JsonParser *parser,
                 gpointer    error,
                 gpointer    user_data)
{
  ParsePosition *position = user_data;

  position->seen = TRUE;
  position->line = json_parser_get_current_line (parser);
  position->column = json_parser_get_current_pos (parser);
}

/* Rewrites json-glib's "<data>:LINE:COLUMN: Parse error: DETAIL" into
 * "ORIGIN: line LINE, column COLUMN: invalid JSON: DETAIL". */
static void
set_syntax_error (GError             **error,
                  const char          *origin,
                  const ParsePosition *position,
                  const GError        *parse_error)
{
  const char *detail = parse_error->message;
  g_autofree char *prefix = NULL;
  g_autofree char *parse_error_label = NULL;
  g_autofree char *valid_detail = NULL;

  if (!position->seen)
    {
      valid_detail = g_utf8_make_valid (detail, -1);
      set_invalid (error, origin, NULL, _("invalid JSON: %s"), valid_detail);
      return;
    }

  prefix = g_strdup_printf ("<data>:%u:%u: ", position->line, position->column);
  if (g_str_has_prefix (detail, prefix))
    detail += strlen (prefix);

  parse_error_label = g_strconcat (g_dgettext ("json-glib-1.0", "Parse error"), ": ", NULL);
  if (g_str_has_prefix (detail, parse_error_label))
    detail += strlen (parse_error_label);
  else if (g_str_has_prefix (detail, "Parse error: "))
    detail += strlen ("Parse error: ");

  /* json-glib quotes at most a fixed number of bytes of the token it
   * rejects, which can cut a multi-byte character in half. */
  valid_detail = g_utf8_make_valid (detail, -1);
  set_invalid (error, origin, NULL, _("line %u, column %u: invalid JSON: %s"),
               position->line, position->column, valid_detail);
}

typedef struct {
  GHashTable *member_counts;  /* JsonObject * → members read into it */
  char *key;                  /* the first key read twice in one object */
  guint line;
  guint column;
} DuplicateKey;

/* json-glib keeps the last of several members with one name, so a
 * repeated key would silently replace an allow or deny list. Counting
 * the members as the parser reads them finds the repeat: the object
 * then has fewer members than were read into it. */
static void
object_member_cb (JsonParser *parser,
                  JsonObject *object,
                  const char *member_name,
                  gpointer    user_data)
{
  DuplicateKey *duplicate = user_data;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (duplicate->member_counts, object)) + 1;

  g_hash_table_insert (duplicate->member_counts, object, GUINT_TO_POINTER (count));
  if (duplicate->key == NULL && json_object_get_size (object) < count)
    {
      duplicate->key = g_strdup (member_name);
      /* NOTE: json-glib emits the signal after the member's value, so this
       * is where the repeated member ends, not where its key starts. */
      duplicate->line = json_parser_get_current_line (parser);
      duplicate->column = json_parser_get_current_pos (parser);
    }
}

static void
set_duplicate_error (GError            **error,
                     const char         *origin,
                     const DuplicateKey *duplicate)
{
  g_autofree char *escaped = g_strescape (duplicate->key, NULL);

  set_invalid (error, origin, NULL,
               _("line %u, column %u: the key \"%s\" appears more than once in one object; "
                 "keep only one"),
               duplicate->line, duplicate->column, escaped);
}

static JsonNode *
parse_json (const char *text,
            gsize       length,
            const char *origin,
            GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(GHashTable) member_counts = g_hash_table_new (NULL, NULL);
  g_autofree char *duplicate_key = NULL;
  ParsePosition position = { FALSE, 0, 0 };
  DuplicateKey duplicate = { member_counts, NULL, 0, 0 };
  gboolean loaded;
  JsonNode *root;

  if (!check_json_text (text, length, origin, error))
    return NULL;

  g_signal_connect (parser, "error", G_CALLBACK (parser_error_cb), &position);
  g_signal_connect (parser, "object-member", G_CALLBACK (object_member_cb), &duplicate);
  loaded = json_parser_load_from_data (parser, text, length, &parse_error);
  g_signal_handlers_disconnect_by_data (parser, &duplicate);
  duplicate_key = duplicate.key;

  if (!loaded)
    {
      set_syntax_error (error, origin, &position, parse_error);
      return NULL;
    }
  if (duplicate.key != NULL)
    {
      set_duplicate_error (error, origin, &duplicate);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      set_invalid (error, origin, NULL,
                   _("the file is empty; a profile is a JSON object such as {\"network\": {}}"));
      return NULL;
    }

  return json_node_ref (root);
}

static const char *
describe_node (JsonNode *node)
{
  GType type;

  if (JSON_NODE_HOLDS_OBJECT (node))
    return _("an object");
  if (JSON_NODE_HOLDS_ARRAY (node))
    return _("an array");
  if (JSON_NODE_HOLDS_NULL (node))
    return _("null");

  type = json_node_get_value_type (node);
  if (type == G_TYPE_STRING)
    return _("a string");
  if (type == G_TYPE_BOOLEAN)
    return _("a boolean");
  if (type == G_TYPE_INT64)
    return _("a whole number");
  if (type == G_TYPE_DOUBLE)
    return _("a decimal number");

  return _("a value of unknown type");
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* Returns the member named @member of @object, or %NULL when it is absent
 * or JSON null. A null member counts as absent, so a file that writes null
 * for an unset key loads. */
static JsonNode *
get_member (JsonObject *object,
            const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;

  return node;
}

static gboolean
read_pattern_list (JsonObject     *network,
                   const char     *member,
                   HgPatternFlags  flags,
                   GPtrArray      *entries,
                   const char     *origin,
                   GError        **error)
{
  g_autofree char *key = g_strconcat ("network.", member, NULL);
  JsonNode *node = get_member (network, member);
  JsonArray *array;

  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      set_invalid (error, origin, key, _("expected an array of strings, got %s"),
                   describe_node (node));
      return FALSE;
    }

  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      g_autofree char *element_key = g_strdup_printf ("%s[%u]", key, i);
      g_autoptr(HgPattern) pattern = NULL;
      g_autoptr(GError) pattern_error = NULL;
      const char *entry;

      if (!node_is_string (element))
        {
          set_invalid (error, origin, element_key, _("expected a string, got %s"),
                       describe_node (element));
          return FALSE;
        }

      entry = json_node_get_string (element);
      pattern = hg_pattern_parse (entry, flags, &pattern_error);
      if (pattern == NULL)
        {
          set_invalid (error, origin, element_key, "%s", pattern_error->message);
          return FALSE;
        }

      g_ptr_array_add (entries, g_strdup (entry));
    }

  return TRUE;
}

static gboolean
read_approval_mode (JsonObject  *network,
                    HgProfile   *profile,
                    const char  *origin,
                    GError     **error)
{
  JsonNode *node = get_member (network, "approval_mode");
  const char *text;

  if (node == NULL)
    return TRUE;

  if (!node_is_string (node))
    {
      set_invalid (error, origin, "network.approval_mode",
                   _("expected the string “off” or “ask”, got %s"), describe_node (node));
      return FALSE;
    }

  text = json_node_get_string (node);
  if (!hg_approval_mode_from_string (text, &profile->approval_mode))
    {
      g_autofree char *escaped = g_strescape (text, NULL);
      set_invalid (error, origin, "network.approval_mode",
                   _("“%s” is not an approval mode; use “off” or “ask”"), escaped);
      return FALSE;
    }

  profile->approval_mode_set = TRUE;
  return TRUE;
}

/* json-glib 1.6 reads integers from 2^63 to 2^64 - 1 as negative numbers
 * and larger ones as -1, so those are reported as negative rather than
 * clamped to the maximum. */
static gboolean
read_approval_timeout (JsonObject  *network,
                       HgProfile   *profile,
                       const char  *origin,
                       GError     **error)
{
  JsonNode *node = get_member (network, "approval_timeout_secs");
  gint64 secs;

  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      set_invalid (error, origin, "network.approval_timeout_secs",
                   _("expected a whole number of seconds, got %s"), describe_node (node));
      return FALSE;
    }

  secs = json_node_get_int (node);
  if (secs < 0)
    {
      g_autofree char *secs_text = g_strdup_printf ("%" G_GINT64_FORMAT, secs);
      set_invalid (error, origin, "network.approval_timeout_secs",
                   _("%s is negative; use a number of seconds from %u to %u"),
                   secs_text, HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX);
      return FALSE;
    }

  profile->approval_timeout_secs = clamp_timeout ((guint64) secs);
  profile->approval_timeout_set = TRUE;
  return TRUE;
}

/**
 * hg_profile_upstream_login_message:
 *
 * Returns why an upstream proxy given with a user name or password, in a
 * profile or on the command line, is rejected. The message does not
 * quote the value, since it may contain a password.
 *
 * Returns: (transfer none): the translated message
 */
const char *
hg_profile_upstream_login_message (void)
{
  return _("hostgate cannot log in to an upstream proxy: give HOST:PORT without a user name or password");
}

static gboolean
read_upstream_proxy (JsonObject  *network,
                     HgProfile   *profile,
                     const char  *origin,
                     GError     **error)
{
  JsonNode *node = get_member (network, "upstream_proxy");
  g_autoptr(HgHost) host = NULL;
  g_autoptr(GError) host_error = NULL;

  if (node == NULL)
    return TRUE;

  if (!node_is_string (node))
    {
      set_invalid (error, origin, "network.upstream_proxy",
                   _("expected a string of the form host:port, got %s"), describe_node (node));
      return FALSE;
    }

  if (strchr (json_node_get_string (node), '@') != NULL)
    {
      set_invalid (error, origin, "network.upstream_proxy", "%s", hg_profile_upstream_login_message ());
      return FALSE;
    }

  host = hg_host_parse (json_node_get_string (node), HG_HOST_PORT_REQUIRED, &host_error);
  if (host == NULL)
    {
      set_invalid (error, origin, "network.upstream_proxy", "%s", host_error->message);
      return FALSE;
    }

  profile->upstream_proxy = hg_host_to_string (host);
  return TRUE;
}

static gboolean
read_allow_loopback (JsonObject  *network,
                     HgProfile   *profile,
                     const char  *origin,
                     GError     **error)
{
  JsonNode *node = get_member (network, "allow_loopback");

  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      set_invalid (error, origin, "network.allow_loopback",
                   _("expected true or false, got %s"), describe_node (node));
      return FALSE;
    }

  profile->allow_loopback = json_node_get_boolean (node);
  return TRUE;
}

/* nono's `block: true` cuts a sandbox off from the network. Ignoring it,
 * as other keys hostgate does not know are ignored, would open the
 * lists of the same file instead, so such a profile is refused. */
static gboolean
check_block (JsonObject  *network,
             const char  *origin,
             GError     **error)
{
  JsonNode *node = get_member (network, "block");

  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      set_invalid (error, origin, "network.block",
                   _("expected true or false, got %s"), describe_node (node));
      return FALSE;
    }

  if (json_node_get_boolean (node))
    {
      set_invalid (error, origin, "network.block",
                   _("true blocks all network access, so this profile cannot be used with a proxy; "
                     "remove the key, or list no hosts and set approval_mode to \"off\" to refuse every host"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
read_network (JsonObject  *root,
              HgProfile   *profile,
              const char  *origin,
              GError     **error)
{
  JsonNode *node = get_member (root, "network");
  JsonObject *network;

  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      set_invalid (error, origin, "network", _("expected an object, got %s"),
                   describe_node (node));
      return FALSE;
    }

  network = json_node_get_object (node);

  return check_block (network, origin, error) &&
         read_pattern_list (network, "allow_domain", HG_PATTERN_FLAG_NONE,
                            profile->allow, origin, error) &&
         read_pattern_list (network, "deny_domain", HG_PATTERN_FLAG_DENY,
                            profile->deny, origin, error) &&
         read_pattern_list (network, "reject_domain", HG_PATTERN_FLAG_DENY,
                            profile->deny, origin, error) &&
         read_approval_mode (network, profile, origin, error) &&
         read_approval_timeout (network, profile, origin, error) &&
         read_upstream_proxy (network, profile, origin, error) &&
         read_pattern_list (network, "upstream_bypass", HG_PATTERN_FLAG_NONE,
                            profile->upstream_bypass, origin, error) &&
         read_allow_loopback (network, profile, origin, error);
}

/* Sets the name from `meta.name`, else from the file name in @origin. */
static gboolean
read_name (JsonObject  *root,
           HgProfile   *profile,
           const char  *origin,
           GError     **error)
{
  JsonNode *meta = get_member (root, "meta");
  g_autofree char *basename = NULL;

  if (meta != NULL && !JSON_NODE_HOLDS_OBJECT (meta))
    {
      set_invalid (error, origin, "meta", _("expected an object, got %s"), describe_node (meta));
      return FALSE;
    }

  if (meta != NULL)
    {
      JsonNode *name = get_member (json_node_get_object (meta), "name");

      if (name != NULL && !node_is_string (name))
        {
          set_invalid (error, origin, "meta.name", _("expected a string, got %s"),
                       describe_node (name));
          return FALSE;
        }

      if (name != NULL && *json_node_get_string (name) != '\0')
        {
          profile->name = g_strdup (json_node_get_string (name));
          return TRUE;
        }
    }

  basename = g_path_get_basename (origin);
  if (g_str_has_suffix (basename, ".json") && strlen (basename) > strlen (".json"))
    basename[strlen (basename) - strlen (".json")] = '\0';
  profile->name = g_steal_pointer (&basename);

  return TRUE;
}

/**
 * hg_profile_load_data:
 * @data: the bytes of a profile file
 * @length: the length of @data, or -1 if it is nul-terminated
 * @origin: (nullable): where @data came from, such as a file path; it starts
 *   every error message and gives the name when `meta.name` is absent
 * @error: return location for a #GError
 *
 * Parses and validates a profile. Unknown keys are ignored, a key repeated
 * in one object is an error, and a missing `network` object makes an
 * empty profile. Every list entry is checked with
 * hg_pattern_parse(), and `upstream_proxy` with hg_host_parse().
 *
 * Returns: (transfer full) (nullable): the profile with @path unset, or
 *   %NULL with %HG_PROTOCOL_ERROR_INVALID_PROFILE set; the message names
 *   @origin, the key (such as `network.deny_domain[2]`, counting from 0) or
 *   the line and column, and the reason
 */
HgProfile *
hg_profile_load_data (const char  *data,
                      gssize       length,
                      const char  *origin,
                      GError     **error)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(JsonNode) root = NULL;
  gsize size;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (origin == NULL)
    origin = _("profile");

  size = length < 0 ? strlen (data) : (gsize) length;
  if (size > HG_PROFILE_MAX_SIZE)
    {
      g_autofree char *size_text = g_format_size_full (size, SIZE_FORMAT_FLAGS);
      set_invalid (error, origin, NULL, _("the profile is %s, over the limit of %u MiB"),
                   size_text, HG_PROFILE_MAX_SIZE / (1024 * 1024));
      return NULL;
    }

  /* Editors on some systems start UTF-8 files with a byte order mark. */
  if (size >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0)
    {
      data += 3;
      size -= 3;
    }

  root = parse_json (data != NULL ? data : "", size, origin, error);
  if (root == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      set_invalid (error, origin, NULL, _("the top level must be a JSON object, not %s"),
                   describe_node (root));
      return NULL;
    }

  profile = profile_new ();
  if (!read_name (json_node_get_object (root), profile, origin, error) ||
      !read_network (json_node_get_object (root), profile, origin, error))
    return NULL;

  return g_steal_pointer (&profile);
}

static void
set_io_error (GError     **error,
              const char  *path,
              int          saved_errno)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               _("%s: cannot read the profile: %s"), path, g_strerror (saved_errno));
}

/* Reads at most HG_PROFILE_MAX_SIZE bytes of the regular file at @path,
 * checking the size before reading anything. */
static GByteArray *
read_file_capped (const char  *path,
                  GError     **error)
{
  g_autoptr(GByteArray) contents = NULL;
  struct stat st;
  int fd;

  /* O_NONBLOCK keeps open() from waiting for a writer on a FIFO. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      set_io_error (error, path, errno);
      return NULL;
    }

  if (fstat (fd, &st) != 0)
    {
      set_io_error (error, path, errno);
      g_close (fd, NULL);
      return NULL;
    }

  if (!S_ISREG (st.st_mode))
    {
      set_invalid (error, path, NULL, _("not a regular file"));
      g_close (fd, NULL);
      return NULL;
    }

  if (st.st_size > HG_PROFILE_MAX_SIZE)
    {
      g_autofree char *size_text = g_format_size_full ((guint64) st.st_size, SIZE_FORMAT_FLAGS);
      set_invalid (error, path, NULL, _("the file is %s, over the limit of %u MiB for a profile"),
                   size_text, HG_PROFILE_MAX_SIZE / (1024 * 1024));
      g_close (fd, NULL);
      return NULL;
    }

  contents = g_byte_array_sized_new ((guint) st.st_size);
  for (;;)
    {
      guint8 chunk[READ_CHUNK_SIZE];
      gssize n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;

      if (n < 0)
        {
          set_io_error (error, path, errno);
          g_close (fd, NULL);
          return NULL;
        }

      if (n == 0)
        break;

      /* The file may have grown since fstat(). */
      if (contents->len + (gsize) n > HG_PROFILE_MAX_SIZE)
        {
          set_invalid (error, path, NULL, _("the file is over the limit of %u MiB for a profile"),
                       HG_PROFILE_MAX_SIZE / (1024 * 1024));
          g_close (fd, NULL);
          return NULL;
        }

      g_byte_array_append (contents, chunk, (guint) n);
    }

  g_close (fd, NULL);
  return g_steal_pointer (&contents);
}

/**
 * hg_profile_load_file:
 * @path: the profile file
 * @error: return location for a #GError
 *
 * Reads and validates the profile at @path, as hg_profile_load_data()
 * does. Files over %HG_PROFILE_MAX_SIZE bytes are rejected before they are
 * read. This reads the file synchronously.
 *
 * Returns: (transfer full) (nullable): the profile, or %NULL with an error:
 *   a %G_IO_ERROR when the file cannot be opened or read (such as
 *   %G_IO_ERROR_NOT_FOUND), else %HG_PROTOCOL_ERROR_INVALID_PROFILE
 */
HgProfile *
hg_profile_load_file (const char  *path,
                      GError     **error)
{
  g_autoptr(GByteArray) contents = NULL;
  HgProfile *profile;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  contents = read_file_capped (path, error);
  if (contents == NULL)
    return NULL;

  profile = hg_profile_load_data ((const char *) contents->data, contents->len, path, error);
  if (profile == NULL)
    return NULL;

  profile->path = g_strdup (path);
  return profile;
}

/**
 * hg_profile_get_default_data:
 *
 * Returns the text of the built-in default profile, the file the agent
 * materialises as `default.json` on its first write.
 *
 * Returns: (transfer full): the JSON text
 */
GBytes *
hg_profile_get_default_data (void)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  /* Looking the data up in hg_protocol_get_resource () itself, rather than
   * through g_resources_lookup_data (), makes the linker keep the resource
   * object of the static library, whose constructor also registers it. */
  bytes = g_resource_lookup_data (hg_protocol_get_resource (), DEFAULT_PROFILE_RESOURCE,
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  if (bytes == NULL)
    g_error ("The built-in default profile is missing: %s", error->message);

  return bytes;
}

/**
 * hg_profile_load_default:
 *
 * Loads the built-in default profile from the library's resources. This
 * ignores any `default.json` on disk; hg_profile_load_named() prefers that.
 *
 * Returns: (transfer full): the built-in default profile, with @path unset
 */
HgProfile *
hg_profile_load_default (void)
{
  g_autoptr(GBytes) bytes = hg_profile_get_default_data ();
  g_autoptr(GError) error = NULL;
  HgProfile *profile;
  gsize size;
  const char *data;

  data = g_bytes_get_data (bytes, &size);
  profile = hg_profile_load_data (data, size, "resource://" DEFAULT_PROFILE_RESOURCE, &error);
  if (profile == NULL)
    g_error ("The built-in default profile is invalid: %s", error->message);

  return profile;
}

/**
 * hg_profile_name_is_valid:
 * @name: (nullable): a profile name
 *
 * Checks that @name can name a profile file: 1 to 64 ASCII letters, digits,
 * dots, hyphens and underscores, starting with a letter or digit, and not
 * containing `..`.
 *
 * Returns: whether @name is a valid profile name
 */
gboolean
hg_profile_name_is_valid (const char *name)
{
  gsize length;

  if (name == NULL || !g_ascii_isalnum (name[0]))
    return FALSE;

  length = strlen (name);
  if (length > 64 || strstr (name, "..") != NULL)
    return FALSE;

  for (gsize i = 1; i < length; i++)
    {
      if (!g_ascii_isalnum (name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
        return FALSE;
    }

  return TRUE;
}

/**
 * hg_profile_get_path:
 * @name: a profile name
 *
 * Builds the path of the profile file named @name:
 * `$XDG_CONFIG_HOME/hostgate/profiles/NAME.json`.
 *
 * Returns: (transfer full) (nullable): the path, or %NULL when @name is
 *   not a valid profile name
 */
char *
hg_profile_get_path (const char *name)
{
  g_autofree char *filename = NULL;

  if (!hg_profile_name_is_valid (name))
    return NULL;

  filename = g_strconcat (name, ".json", NULL);
  return g_build_filename (g_get_user_config_dir (), "hostgate", "profiles", filename, NULL);
}

/**
 * hg_profile_load_named:
 * @name: a profile name
 * @error: return location for a #GError
 *
 * Loads the profile @name from the user's profile folder. For `default`,
 * the built-in default is returned when no file exists yet. The returned
 * profile's @name is always @name, whatever its `meta.name` contains, because
 * the file name is what identifies a profile to the agent.
 *
 * Returns: (transfer full) (nullable): the profile, or %NULL with
 *   %HG_PROTOCOL_ERROR_INVALID_PROFILE for an invalid name or file, or a
 *   %G_IO_ERROR (%G_IO_ERROR_NOT_FOUND for a missing file, with a message
 *   naming the path and how to create it)
 */
HgProfile *
hg_profile_load_named (const char  *name,
                       GError     **error)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) local_error = NULL;
  HgProfile *profile;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = hg_profile_get_path (name);
  if (path == NULL)
    {
      g_autofree char *escaped = g_strescape (name, NULL);
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE,
                   _("“%s” is not a valid profile name: use 1 to 64 letters, digits, dots, "
                     "hyphens and underscores, starting with a letter or digit, without “..”"),
                   escaped);
      return NULL;
    }

  profile = hg_profile_load_file (path, &local_error);
  if (profile == NULL && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      if (g_str_equal (name, "default"))
        return hg_profile_load_default ();

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("Profile “%s” not found: %s does not exist. Create that file, for "
                     "example with the content {\"network\": {\"allow_domain\": []}}, or "
                     "choose another profile."),
                   name, path);
      return NULL;
    }

  if (profile == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  g_free (profile->name);
  profile->name = g_strdup (name);
  return profile;
}

static HgFilter *
build_filter (GPtrArray      *entries,
              HgPatternFlags  flags)
{
  HgFilter *filter = hg_filter_new ();

  for (guint i = 0; i < entries->len; i++)
    {
      g_autoptr(GError) error = NULL;
      const char *entry = g_ptr_array_index (entries, i);

      /* The loaders validate every entry, so a failure here means a caller
       * changed the profile's lists by hand. */
      if (!hg_filter_add (filter, entry, flags, &error))
        g_critical ("Profile entry “%s” was not validated: %s", entry, error->message);
    }

  return filter;
}

/**
 * hg_profile_build_allow:
 * @profile: a profile
 *
 * Compiles the profile's allow list into a filter.
 *
 * Returns: (transfer full): a new filter of the `allow_domain` entries
 */
HgFilter *
hg_profile_build_allow (HgProfile *profile)
{
  g_return_val_if_fail (profile != NULL, NULL);

  return build_filter (profile->allow, HG_PATTERN_FLAG_NONE);
}

/**
 * hg_profile_build_deny:
 * @profile: a profile
 *
 * Compiles the profile's deny list, `deny_domain` and `reject_domain`
 * together, into a filter.
 *
 * Returns: (transfer full): a new filter of the deny entries
 */
HgFilter *
hg_profile_build_deny (HgProfile *profile)
{
  g_return_val_if_fail (profile != NULL, NULL);

  return build_filter (profile->deny, HG_PATTERN_FLAG_DENY);
}

/**
 * hg_approval_mode_to_string:
 * @mode: an approval mode
 *
 * Converts @mode to its name.
 *
 * Returns: the name of @mode as profiles and flags write it: `off` or `ask`
 */
const char *
hg_approval_mode_to_string (HgApprovalMode mode)
{
  switch (mode)
    {
    case HG_APPROVAL_OFF:
      return "off";
    case HG_APPROVAL_ASK:
      return "ask";
    }

  g_return_val_if_reached ("off");
}

/**
 * hg_approval_mode_from_string:
 * @text: `off` or `ask`
 * @mode: (out): return location for the mode
 *
 * Parses an approval mode name. Matching is exact and case-sensitive.
 *
 * Returns: whether @text names a mode; @mode is set only then
 */
gboolean
hg_approval_mode_from_string (const char     *text,
                              HgApprovalMode *mode)
{
  g_return_val_if_fail (mode != NULL, FALSE);

  if (g_strcmp0 (text, "off") == 0)
    *mode = HG_APPROVAL_OFF;
  else if (g_strcmp0 (text, "ask") == 0)
    *mode = HG_APPROVAL_ASK;
  else
    return FALSE;

  return TRUE;
}

static gboolean
parse_mode_setting (const char      *text,
                    const char      *source,
                    HgApprovalMode  *mode,
                    GError         **error)
{
  g_autofree char *escaped = NULL;

  if (hg_approval_mode_from_string (text, mode))
    return TRUE;

  escaped = g_strescape (text, NULL);
  g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING,
               _("%s: “%s” is not an approval mode; use “off” or “ask”"), source, escaped);
  return FALSE;
}

/* Accepts only plain decimal digits, so "-1", "+5", " 60" and "60s" are
 * errors. Any number of digits is accepted and clamped to 5–300. */
static gboolean
parse_timeout_setting (const char  *text,
                       const char  *source,
                       guint       *secs,
                       GError     **error)
{
  guint64 value = 0;

  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        {
          value = G_MAXUINT64;
          break;
        }

      value = MIN (value * 10 + (guint64) (*p - '0'), (guint64) HG_APPROVAL_TIMEOUT_MAX + 1);
    }

  if (*text == '\0' || value == G_MAXUINT64)
    {
      g_autofree char *escaped = g_strescape (text, NULL);
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING,
                   _("%s: “%s” is not a valid timeout; use a whole number of seconds from %u to %u"),
                   source, escaped, HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX);
      return FALSE;
    }

  *secs = clamp_timeout (value);
  return TRUE;
}

/* Returns the value of @variable in @envp, or %NULL when it is unset or
 * empty. */
static const char *
get_env_setting (const char * const *envp,
                 const char         *variable)
{
  const char *value;

  if (envp == NULL)
    return NULL;

  value = g_environ_getenv ((char **) envp, variable);
  if (value == NULL || *value == '\0')
    return NULL;

  return value;
}

/**
 * hg_settings_resolve:
 * @flags: (nullable): the command-line flag values, %NULL for none
 * @envp: (nullable) (array zero-terminated=1): the environment to read
 *   `HOSTGATE_NETWORK_APPROVAL` and `HOSTGATE_APPROVAL_TIMEOUT` from, such
 *   as g_get_environ(); %NULL for none
 * @profile: (nullable): the profile in use
 * @settings: (out caller-allocates): return location for the settings
 * @error: return location for a #GError
 *
 * Resolves each setting from the first source that sets it: the flag, then
 * the environment variable (an empty value counts as unset), then the
 * profile (only keys present in the file), then the default (approval
 * `off`, timeout 60 s). The timeout is clamped to 5–300 s whatever its
 * source.
 *
 * Returns: %TRUE and fills @settings, or %FALSE with
 *   %HG_PROTOCOL_ERROR_INVALID_SETTING when a flag or environment value is
 *   malformed. The message names the flag or variable and the value.
 */
gboolean
hg_settings_resolve (const HgSettingsFlags  *flags,
                     const char * const     *envp,
                     const HgProfile        *profile,
                     HgSettings             *settings,
                     GError                **error)
{
  HgSettings resolved = { HG_APPROVAL_OFF, HG_APPROVAL_TIMEOUT_DEFAULT };
  const char *env_mode = get_env_setting (envp, ENV_APPROVAL_MODE);
  const char *env_timeout = get_env_setting (envp, ENV_APPROVAL_TIMEOUT);

  g_return_val_if_fail (settings != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (flags != NULL && flags->approval_mode != NULL)
    {
      if (!parse_mode_setting (flags->approval_mode, FLAG_APPROVAL_MODE, &resolved.approval_mode, error))
        return FALSE;
    }
  else if (env_mode != NULL)
    {
      if (!parse_mode_setting (env_mode, ENV_APPROVAL_MODE, &resolved.approval_mode, error))
        return FALSE;
    }
  else if (profile != NULL && profile->approval_mode_set)
    {
      resolved.approval_mode = profile->approval_mode;
    }

  if (flags != NULL && flags->approval_timeout != NULL)
    {
      if (!parse_timeout_setting (flags->approval_timeout, FLAG_APPROVAL_TIMEOUT,
                                  &resolved.approval_timeout_secs, error))
        return FALSE;
    }
  else if (env_timeout != NULL)
    {
      if (!parse_timeout_setting (env_timeout, ENV_APPROVAL_TIMEOUT,
                                  &resolved.approval_timeout_secs, error))
        return FALSE;
    }
  else if (profile != NULL && profile->approval_timeout_set)
    {
      resolved.approval_timeout_secs = clamp_timeout (profile->approval_timeout_secs);
    }

  *settings = resolved;
  return TRUE;
}
