/* hg-profile-store.c: the agent's profiles on disk, write side
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent is the only writer of profile files. Every edit is a
 * read-modify-write of the JSON tree, so keys the agent does not know
 * (a nono profile's filesystem rules, say) and the order of keys survive.
 * Edits run in a worker thread one at a time under a mutex, so two
 * decisions that arrive together cannot lose each other's entry. Each file
 * is replaced atomically: a temporary file in the same folder is written,
 * synced and renamed over the old one, and then the folder is synced. A
 * reader therefore sees either the old or the new file, never a torn one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hg-error.h"
#include "hg-pattern.h"
#include "hg-profile-store.h"


struct _HgProfileStore
{
  GObject parent_instance;

  char *directory;

  /* Taken by worker threads around each read-modify-write. */
  GMutex lock;

  /* Main thread only: profile name → guint64 revision, and profile name
   * → SHA-256 of the content last seen, to tell our own writes and
   * repeated monitor events from real external edits. */
  GHashTable *revisions;
  GHashTable *checksums;

  GFileMonitor *monitor;

  /* Cancels the reads started by the monitor when the store goes. */
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (HgProfileStore, hg_profile_store, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_DIRECTORY,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

typedef enum {
  EDIT_ADD,
  EDIT_REPLACE,
  EDIT_REMOVE,
  EDIT_SET_APPROVAL,
  EDIT_CREATE,
  EDIT_DELETE,
  EDIT_RENAME,
  EDIT_IMPORT,
} EditKind;

typedef struct {
  EditKind kind;
  char *name;
  char *new_name;
  HgProfileList list;
  GStrv entries;
  HgApprovalMode mode;
  guint timeout_secs;
  GBytes *contents;

  /* Filled in by the worker: the names whose files changed and the
   * checksum of each new content (NULL for a deleted file). */
  GPtrArray *changed_names;
  GPtrArray *changed_checksums;

  /* Filled in by the worker of an add or a replace: the entries, in
   * canonical form, that were on the list before the edit, and those
   * it took off the other list. */
  GPtrArray *duplicates;
  GPtrArray *moved;
} Edit;

static void
edit_free (Edit *edit)
{
  g_free (edit->name);
  g_free (edit->new_name);
  g_strfreev (edit->entries);
  g_clear_pointer (&edit->contents, g_bytes_unref);
  g_clear_pointer (&edit->changed_names, g_ptr_array_unref);
  g_clear_pointer (&edit->changed_checksums, g_ptr_array_unref);
  g_clear_pointer (&edit->duplicates, g_ptr_array_unref);
  g_clear_pointer (&edit->moved, g_ptr_array_unref);
  g_free (edit);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Edit, edit_free)

static char *
profile_path (HgProfileStore *store,
              const char     *name)
{
  g_autofree char *file_name = g_strconcat (name, ".json", NULL);

  return g_build_filename (store->directory, file_name, NULL);
}

static char *
checksum_of (const char *data,
             gsize       length)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, length);
}

/* Writes @contents to @path so that the file is replaced whole or not at
 * all, even if the process is killed half way. */
static gboolean
write_atomically (const char  *path,
                  const char  *contents,
                  gsize        length,
                  GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp_path = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  gsize written = 0;
  GStatBuf old = { 0 };
  gboolean replacing;
  int fd;
  int dir_fd;

  /* A person who took away the write permission meant the file to stay
   * as it is, and the rename below would not ask for that permission. */
  replacing = g_stat (path, &old) == 0;
  if (replacing && (old.st_mode & S_IWUSR) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("The profile file “%s” is read-only, so nothing was saved. Make it writable (chmod u+w) to save changes."),
                   path);
      return FALSE;
    }

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not create the profile folder “%s”: %s"), dir, g_strerror (saved));
      return FALSE;
    }

  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not write to the profile folder “%s”: %s"), dir, g_strerror (saved));
      return FALSE;
    }

  /* The new file keeps the permissions of the one it replaces. */
  if (replacing && fchmod (fd, old.st_mode & 07777) != 0)
    goto fail;

  while (written < length)
    {
      gssize n = write (fd, contents + written, length - written);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        goto fail;
      written += n;
    }

  if (fsync (fd) != 0 || close (fd) != 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;

  if (rename (tmp_path, path) != 0)
    goto fail;

  /* The rename is durable only once the folder itself is synced. */
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      fsync (dir_fd);
      close (dir_fd);
    }

  return TRUE;

fail:
  {
    int saved = errno;

    if (fd >= 0)
      close (fd);
    g_unlink (tmp_path);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 _("Could not save the profile “%s”: %s. The previous file is unchanged."),
                 path, g_strerror (saved));
    return FALSE;
  }
}

static char *
skeleton_json (const char *name)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "meta");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, name);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "network");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "allow_domain");
  json_builder_begin_array (builder);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "deny_domain");
  json_builder_begin_array (builder);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "approval_mode");
  json_builder_add_string_value (builder, "off");
  json_builder_set_member_name (builder, "approval_timeout_secs");
  json_builder_add_int_value (builder, HG_APPROVAL_TIMEOUT_DEFAULT);
  json_builder_set_member_name (builder, "allow_loopback");
  json_builder_add_boolean_value (builder, FALSE);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);

  return json_generator_to_data (generator, NULL);
}

/* Returns the text of profile @name before it has a file: the built-in
 * profile for `default`, an empty one for any other name. A proxy may use
 * a name the agent has no file for (its lists come from --profile-file),
 * and the first Always answer or edit then creates the file. */
static char *
new_profile_text (const char *name,
                  gsize      *length)
{
  g_autoptr(GBytes) builtin = NULL;
  char *text;

  if (g_strcmp0 (name, "default") != 0)
    {
      /* A valid name has no character that JSON would need escaped. */
      text = g_strdup_printf ("{\n  \"meta\": { \"name\": \"%s\" },\n  \"network\": {}\n}\n", name);
      *length = strlen (text);
      return text;
    }

  builtin = hg_profile_get_default_data ();
  *length = g_bytes_get_size (builtin);
  return g_strndup (g_bytes_get_data (builtin, NULL), *length);
}

/* Reads the current text of profile @name: the file, or without a file
 * the text new_profile_text() gives, which the first write then
 * materialises. */
static char *
read_profile_text (const char  *path,
                   const char  *name,
                   gsize       *length,
                   GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  char *contents = NULL;

  if (g_file_get_contents (path, &contents, length, &local_error))
    return contents;

  if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  return new_profile_text (name, length);
}

/* Parses the profile text into a JSON tree, after checking that the
 * profile as a whole is valid: the store never rewrites a file it cannot
 * read, so a person's hand edit with a typo is reported, not lost. */
static JsonNode *
parse_profile_tree (const char  *path,
                    const char  *text,
                    gsize        length,
                    GError     **error)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  profile = hg_profile_load_data (text, length, path, error);
  if (profile == NULL)
    return NULL;

  if (!json_parser_load_from_data (parser, text, length, error))
    return NULL;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE,
                   _("%s: the top level must be a JSON object"), path);
      return NULL;
    }

  return json_node_copy (root);
}

static JsonObject *
ensure_object_member (JsonObject *object,
                      const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    json_object_set_object_member (object, member, json_object_new ());

  return json_object_get_object_member (object, member);
}

static JsonArray *
ensure_array_member (JsonObject *object,
                     const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    json_object_set_array_member (object, member, json_array_new ());

  return json_object_get_array_member (object, member);
}

/* Returns the canonical text of @entry, or NULL if it is not a valid
 * entry for @list. */
static char *
canonical_entry (const char     *entry,
                 HgProfileList   list,
                 GError        **error)
{
  HgPatternFlags flags = list == HG_PROFILE_LIST_DENY ? HG_PATTERN_FLAG_DENY : HG_PATTERN_FLAG_NONE;
  g_autoptr(HgPattern) pattern = hg_pattern_parse (entry, flags, error);

  if (pattern == NULL)
    return NULL;

  return hg_pattern_to_string (pattern);
}

/* Removes every element of @array equal to @canonical once both are in
 * canonical form. Returns whether anything was removed. */
static gboolean
array_remove_entry (JsonArray     *array,
                    HgProfileList  list,
                    const char    *canonical)
{
  gboolean removed = FALSE;
  guint i = json_array_get_length (array);

  while (i-- > 0)
    {
      const char *text = json_array_get_string_element (array, i);
      g_autofree char *existing = NULL;

      if (text == NULL)
        continue;

      existing = canonical_entry (text, list, NULL);
      if (g_strcmp0 (text, canonical) == 0 || g_strcmp0 (existing, canonical) == 0)
        {
          json_array_remove_element (array, i);
          removed = TRUE;
        }
    }

  return removed;
}

/* The keys that hold @list. Deny entries may also sit under nono's
 * `reject_domain`, which is read as an alias. */
static const char * const *
list_keys (HgProfileList list)
{
  static const char * const allow_keys[] = { "allow_domain", NULL };
  static const char * const deny_keys[] = { "deny_domain", "reject_domain", NULL };

  return list == HG_PROFILE_LIST_DENY ? deny_keys : allow_keys;
}

/* Returns the arrays under the keys of @list that @network has, in the
 * order of list_keys(). */
static GPtrArray *
list_arrays (JsonObject    *network,
             HgProfileList  list)
{
  const char * const *keys = list_keys (list);
  GPtrArray *arrays = g_ptr_array_new ();

  for (guint i = 0; keys[i] != NULL; i++)
    {
      JsonNode *node = json_object_get_member (network, keys[i]);

      if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
        g_ptr_array_add (arrays, json_node_get_array (node));
    }

  return arrays;
}

/* Returns the canonical form of every entry of @list, so that adding
 * many entries costs one parse per existing entry, not one per pair. */
static GHashTable *
list_canonical_set (JsonObject    *network,
                    HgProfileList  list)
{
  g_autoptr(GPtrArray) arrays = list_arrays (network, list);
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < arrays->len; i++)
    {
      JsonArray *array = arrays->pdata[i];

      for (guint j = 0; j < json_array_get_length (array); j++)
        {
          const char *text = json_array_get_string_element (array, j);
          char *existing = text != NULL ? canonical_entry (text, list, NULL) : NULL;

          if (existing != NULL)
            g_hash_table_add (set, existing);
        }
    }

  return set;
}

static gboolean
list_remove (JsonObject    *network,
             HgProfileList  list,
             const char    *canonical)
{
  g_autoptr(GPtrArray) arrays = list_arrays (network, list);
  gboolean removed = FALSE;

  for (guint i = 0; i < arrays->len; i++)
    removed |= array_remove_entry (arrays->pdata[i], list, canonical);

  return removed;
}

/* Adds each entry to the list unless it is already there, and takes it
 * off the other list. A person who now allows what they once denied
 * expects the new rule to hold, but the deny entry would win over it.
 * The entries that were on the list before go to edit->duplicates. An
 * entry given twice in @edit is added once, and its repeat goes there
 * too, so that an import's counts add up to its valid lines. */
static gboolean
apply_add (JsonObject   *network,
           Edit         *edit,
           gboolean     *changed,
           GError      **error)
{
  HgProfileList other = edit->list == HG_PROFILE_LIST_DENY ? HG_PROFILE_LIST_ALLOW : HG_PROFILE_LIST_DENY;
  JsonArray *array = ensure_array_member (network, list_keys (edit->list)[0]);
  g_autoptr(GHashTable) present = list_canonical_set (network, edit->list);
  g_autoptr(GHashTable) present_other = list_canonical_set (network, other);
  g_autoptr(GHashTable) added = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; edit->entries[i] != NULL; i++)
    {
      g_autofree char *canonical = canonical_entry (edit->entries[i], edit->list, error);

      if (canonical == NULL)
        return FALSE;

      if (g_hash_table_remove (present_other, canonical) && list_remove (network, other, canonical))
        {
          g_ptr_array_add (edit->moved, g_strdup (canonical));
          *changed = TRUE;
        }

      if (g_hash_table_contains (present, canonical) || g_hash_table_contains (added, canonical))
        {
          g_ptr_array_add (edit->duplicates, g_steal_pointer (&canonical));
          continue;
        }

      json_array_add_string_element (array, canonical);
      g_hash_table_add (added, g_steal_pointer (&canonical));
      *changed = TRUE;
    }

  return TRUE;
}

/* Rewrites the first element of @list equal to @old_canonical in place
 * to contain @new_canonical, and sets @changed if its text differed.
 * Returns whether one was found. */
static gboolean
list_replace_first (JsonObject    *network,
                    HgProfileList  list,
                    const char    *old_canonical,
                    const char    *new_canonical,
                    gboolean      *changed)
{
  g_autoptr(GPtrArray) arrays = list_arrays (network, list);

  for (guint i = 0; i < arrays->len; i++)
    {
      JsonArray *array = arrays->pdata[i];

      for (guint j = 0; j < json_array_get_length (array); j++)
        {
          const char *text = json_array_get_string_element (array, j);
          g_autofree char *existing = text != NULL ? canonical_entry (text, list, NULL) : NULL;

          if (g_strcmp0 (text, old_canonical) != 0 && g_strcmp0 (existing, old_canonical) != 0)
            continue;

          if (!g_str_equal (text, new_canonical))
            {
              json_node_set_string (json_array_get_element (array, j), new_canonical);
              *changed = TRUE;
            }
          return TRUE;
        }
    }

  return FALSE;
}

/* Puts the second entry of @edit in place of the first, so an edited
 * entry keeps its place on the list, and takes it off the other list as
 * an add does. When the new entry is already on the list as another
 * entry, the file stays as it was and the entry goes to
 * edit->duplicates: merging the two without a word would lose the old
 * one. When the old entry is gone, the new one is added at the end. */
static gboolean
apply_replace (JsonObject   *network,
               Edit         *edit,
               gboolean     *changed,
               GError      **error)
{
  HgProfileList other = edit->list == HG_PROFILE_LIST_DENY ? HG_PROFILE_LIST_ALLOW : HG_PROFILE_LIST_DENY;
  g_autofree char *old_canonical = canonical_entry (edit->entries[0], edit->list, NULL);
  g_autofree char *new_canonical = canonical_entry (edit->entries[1], edit->list, error);
  const char *old_text = old_canonical != NULL ? old_canonical : edit->entries[0];
  g_autoptr(GHashTable) present = NULL;

  if (new_canonical == NULL)
    return FALSE;

  present = list_canonical_set (network, edit->list);
  if (!g_str_equal (old_text, new_canonical) && g_hash_table_contains (present, new_canonical))
    {
      g_ptr_array_add (edit->duplicates, g_steal_pointer (&new_canonical));
      return TRUE;
    }

  if (list_remove (network, other, new_canonical))
    {
      g_ptr_array_add (edit->moved, g_strdup (new_canonical));
      *changed = TRUE;
    }

  if (!list_replace_first (network, edit->list, old_text, new_canonical, changed))
    {
      json_array_add_string_element (ensure_array_member (network, list_keys (edit->list)[0]),
                                     new_canonical);
      *changed = TRUE;
    }
  else if (!g_str_equal (old_text, new_canonical) && list_remove (network, edit->list, old_text))
    {
      *changed = TRUE;
    }

  return TRUE;
}

static gboolean
apply_edit (JsonObject  *root,
            Edit        *edit,
            gboolean    *changed,
            GError     **error)
{
  JsonObject *network = ensure_object_member (root, "network");
  g_autofree char *canonical = NULL;

  switch (edit->kind)
    {
    case EDIT_ADD:
      return apply_add (network, edit, changed, error);

    case EDIT_REPLACE:
      return apply_replace (network, edit, changed, error);

    case EDIT_REMOVE:
      canonical = canonical_entry (edit->entries[0], edit->list, NULL);
      *changed = list_remove (network, edit->list, canonical ? canonical : edit->entries[0]);
      return TRUE;

    case EDIT_SET_APPROVAL:
      json_object_set_string_member (network, "approval_mode", hg_approval_mode_to_string (edit->mode));
      json_object_set_int_member (network, "approval_timeout_secs",
                                  CLAMP (edit->timeout_secs, HG_APPROVAL_TIMEOUT_MIN, HG_APPROVAL_TIMEOUT_MAX));
      *changed = TRUE;
      return TRUE;

    case EDIT_RENAME:
      json_object_set_string_member (ensure_object_member (root, "meta"), "name", edit->new_name);
      *changed = TRUE;
      return TRUE;

    case EDIT_CREATE:
    case EDIT_DELETE:
    default:
      g_assert_not_reached ();
    }
}

static char *
serialize_tree (JsonNode *root,
                gsize    *length)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, length);

  /* End the file with a newline, as editors do. */
  *length += 1;
  return g_strconcat (text, "\n", NULL);
}

static void
note_changed (Edit       *edit,
              const char *name,
              const char *contents,
              gsize       length)
{
  g_ptr_array_add (edit->changed_names, g_strdup (name));
  g_ptr_array_add (edit->changed_checksums, contents ? checksum_of (contents, length) : NULL);
}

/* Applies an edit of the tree of profile @name and writes the result to
 * @target_path (the same file, or the new name of a renamed profile). */
static gboolean
rewrite_profile (HgProfileStore  *store,
                 Edit            *edit,
                 const char      *target_name,
                 GError         **error)
{
  g_autofree char *path = profile_path (store, edit->name);
  g_autofree char *target_path = profile_path (store, target_name);
  g_autofree char *text = NULL;
  g_autofree char *output = NULL;
  g_autoptr(JsonNode) root = NULL;
  gboolean changed = FALSE;
  gsize length = 0;

  text = read_profile_text (path, edit->name, &length, error);
  if (text == NULL)
    return FALSE;

  root = parse_profile_tree (path, text, length, error);
  if (root == NULL)
    return FALSE;

  if (!apply_edit (json_node_get_object (root), edit, &changed, error))
    return FALSE;

  if (!changed)
    return TRUE;

  output = serialize_tree (root, &length);
  if (!write_atomically (target_path, output, length, error))
    return FALSE;

  note_changed (edit, target_name, output, length);
  return TRUE;
}

static gboolean
create_profile (HgProfileStore  *store,
                Edit            *edit,
                GError         **error)
{
  g_autofree char *path = profile_path (store, edit->name);
  g_autofree char *skeleton = NULL;
  g_autofree char *text = NULL;

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("A profile named “%s” already exists"), edit->name);
      return FALSE;
    }

  skeleton = skeleton_json (edit->name);
  text = g_strconcat (skeleton, "\n", NULL);
  if (!write_atomically (path, text, strlen (text), error))
    return FALSE;

  note_changed (edit, edit->name, text, strlen (text));
  return TRUE;
}

/* The `network` keys an import leaves out. Each lets the proxy reach more
 * than its lists allow, so a file from elsewhere may not set them. The
 * settings window names them when it imports. */
static const char * const import_dropped_keys[] = {
  "upstream_proxy", "upstream_bypass", "allow_loopback", NULL,
};

/* Removes import_dropped_keys from the `network` object of
 * @root. Returns whether there was any. */
static gboolean
drop_import_keys (JsonNode *root)
{
  JsonObject *object = json_node_get_object (root);
  JsonObject *network;
  gboolean dropped = FALSE;

  if (!json_object_has_member (object, "network") ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (object, "network")))
    return FALSE;

  network = json_object_get_object_member (object, "network");
  for (guint i = 0; import_dropped_keys[i] != NULL; i++)
    {
      if (!json_object_has_member (network, import_dropped_keys[i]))
        continue;
      json_object_remove_member (network, import_dropped_keys[i]);
      dropped = TRUE;
    }

  return dropped;
}

/* Writes a profile file as given, after the same validation the proxy
 * applies when it loads it, so unknown keys survive an import. Only the
 * keys of import_dropped_keys are left out. */
static gboolean
import_profile (HgProfileStore  *store,
                Edit            *edit,
                GError         **error)
{
  g_autofree char *path = profile_path (store, edit->name);
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *rewritten = NULL;
  gsize length = 0;
  const char *data = g_bytes_get_data (edit->contents, &length);

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("A profile named “%s” already exists"), edit->name);
      return FALSE;
    }

  root = parse_profile_tree (path, data, length, error);
  if (root == NULL)
    return FALSE;

  if (drop_import_keys (root))
    {
      rewritten = serialize_tree (root, &length);
      data = rewritten;
    }

  if (!write_atomically (path, data, length, error))
    return FALSE;

  note_changed (edit, edit->name, data, length);
  return TRUE;
}

static gboolean
delete_profile (HgProfileStore  *store,
                Edit            *edit,
                GError         **error)
{
  g_autofree char *path = profile_path (store, edit->name);

  if (g_unlink (path) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not delete the profile “%s”: %s"), edit->name, g_strerror (saved));
      return FALSE;
    }

  note_changed (edit, edit->name, NULL, 0);
  return TRUE;
}

static gboolean
rename_profile (HgProfileStore  *store,
                Edit            *edit,
                GError         **error)
{
  g_autofree char *old_path = profile_path (store, edit->name);
  g_autofree char *new_path = profile_path (store, edit->new_name);

  if (g_strcmp0 (edit->name, "default") == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The profile “default” cannot be renamed; create a new profile instead"));
      return FALSE;
    }

  if (g_file_test (new_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("A profile named “%s” already exists"), edit->new_name);
      return FALSE;
    }

  /* Write the new file first: if removing the old one fails, the profile
   * exists twice, which is visible and loses nothing. */
  if (!rewrite_profile (store, edit, edit->new_name, error))
    return FALSE;

  if (g_unlink (old_path) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Saved “%s” but could not remove the old profile “%s”: %s"),
                   edit->new_name, edit->name, g_strerror (saved));
      return FALSE;
    }

  note_changed (edit, edit->name, NULL, 0);
  return TRUE;
}

static void
edit_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  HgProfileStore *store = source_object;
  Edit *edit = task_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  g_mutex_lock (&store->lock);
  switch (edit->kind)
    {
    case EDIT_CREATE:
      ok = create_profile (store, edit, &error);
      break;
    case EDIT_DELETE:
      ok = delete_profile (store, edit, &error);
      break;
    case EDIT_RENAME:
      ok = rename_profile (store, edit, &error);
      break;
    case EDIT_IMPORT:
      ok = import_profile (store, edit, &error);
      break;
    default:
      ok = rewrite_profile (store, edit, edit->name, &error);
      break;
    }
  g_mutex_unlock (&store->lock);

  if (!ok)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
bump_revision (HgProfileStore *store,
               const char     *name)
{
  guint64 revision = hg_profile_store_get_revision (store, name) + 1;

  g_hash_table_insert (store->revisions, g_strdup (name), g_memdup2 (&revision, sizeof revision));
  g_signal_emit (store, signals[CHANGED], 0, name);
}

/* Records the content now on disk for @name and announces a change
 * unless that content was already announced. */
static void
note_content (HgProfileStore *store,
              const char     *name,
              const char     *checksum)
{
  const char *known = g_hash_table_lookup (store->checksums, name);

  if (g_hash_table_contains (store->checksums, name) && g_strcmp0 (known, checksum) == 0)
    return;

  g_hash_table_insert (store->checksums, g_strdup (name), g_strdup (checksum));
  bump_revision (store, name);
}

/* What an add or a replace reports to its caller. */
typedef struct {
  GPtrArray *duplicates;
  GPtrArray *moved;
} AddOutcome;

static void
add_outcome_free (AddOutcome *outcome)
{
  g_ptr_array_unref (outcome->duplicates);
  g_ptr_array_unref (outcome->moved);
  g_free (outcome);
}

static GStrv
strv_from_array (GPtrArray *array)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; array != NULL && i < array->len; i++)
    g_strv_builder_add (builder, array->pdata[i]);

  return g_strv_builder_end (builder);
}

static void
edit_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  HgProfileStore *store = HG_PROFILE_STORE (object);
  g_autoptr(GTask) outer = user_data;
  Edit *edit = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < edit->changed_names->len; i++)
    {
      if (edit->changed_checksums->pdata[i] == NULL)
        /* Translators: the first %s is the profile name, the second the
         * path of the profile folder. */
        g_message (_("Removed profile “%s” from %s"), (char *) edit->changed_names->pdata[i],
                   store->directory);
      else
        /* Translators: the first %s is the profile name, the second the
         * path of the profile folder. */
        g_message (_("Wrote profile “%s” in %s"), (char *) edit->changed_names->pdata[i],
                   store->directory);
      note_content (store, edit->changed_names->pdata[i], edit->changed_checksums->pdata[i]);
    }

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_message (_("Editing profile “%s” failed: %s"), edit->name, error->message);
      g_task_return_error (outer, g_steal_pointer (&error));
      return;
    }

  if (edit->duplicates != NULL)
    {
      AddOutcome *outcome = g_new0 (AddOutcome, 1);

      outcome->duplicates = g_ptr_array_ref (edit->duplicates);
      outcome->moved = g_ptr_array_ref (edit->moved);
      g_task_set_task_data (outer, outcome, (GDestroyNotify) add_outcome_free);
    }
  g_task_return_boolean (outer, TRUE);
}

static void
run_edit (HgProfileStore      *store,
          Edit                *edit_in,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             user_data)
{
  g_autoptr(Edit) edit = edit_in;
  g_autoptr(GTask) outer = g_task_new (store, cancellable, callback, user_data);
  g_autoptr(GTask) inner = NULL;
  const char *names[] = { edit->name, edit->new_name };

  g_task_set_source_tag (outer, run_edit);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      if (names[i] != NULL && !hg_profile_name_is_valid (names[i]))
        {
          g_task_return_new_error (outer, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   _("“%s” is not a valid profile name: use up to 64 letters, digits, “.”, “_” or “-”, starting with a letter or digit"),
                                   names[i]);
          return;
        }
    }

  edit->changed_names = g_ptr_array_new_with_free_func (g_free);
  edit->changed_checksums = g_ptr_array_new_with_free_func (g_free);

  /* The edit is not cancellable once it starts: a half-applied edit is
   * what the atomic write exists to prevent. */
  inner = g_task_new (store, NULL, edit_done_cb, g_steal_pointer (&outer));
  g_task_set_task_data (inner, g_steal_pointer (&edit), (GDestroyNotify) edit_free);
  g_task_run_in_thread (inner, edit_thread);
}

static Edit *
edit_new (EditKind    kind,
          const char *name)
{
  Edit *edit = g_new0 (Edit, 1);

  edit->kind = kind;
  edit->name = g_strdup (name);
  return edit;
}

/**
 * hg_profile_store_add_entries_async:
 * @entries: the patterns to add, each validated with the pattern parser
 *
 * Adds entries to the allow or deny list of profile @name, in canonical
 * form, skipping those already present and taking them off the other
 * list. The whole edit fails if one entry is invalid. Complete it with
 * hg_profile_store_add_entries_finish() to learn which entries were
 * skipped, or with hg_profile_store_edit_finish().
 */
void
hg_profile_store_add_entries_async (HgProfileStore      *store,
                                    const char          *name,
                                    HgProfileList        list,
                                    const char * const  *entries,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  Edit *edit;

  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);
  g_return_if_fail (entries != NULL);

  edit = edit_new (EDIT_ADD, name);
  edit->list = list;
  edit->entries = g_strdupv ((char **) entries);
  edit->duplicates = g_ptr_array_new_with_free_func (g_free);
  edit->moved = g_ptr_array_new_with_free_func (g_free);
  run_edit (store, edit, cancellable, callback, user_data);
}

/**
 * hg_profile_store_add_entries_finish:
 * @duplicates: (out) (optional) (transfer full): the entries that were
 *   already on the list and so were not added, in canonical form and in
 *   the order given; an entry given twice counts there once. It is empty
 *   when every entry was new.
 * @moved: (out) (optional) (transfer full): the entries, in canonical
 *   form, that the edit took off the other list
 *
 * Completes hg_profile_store_add_entries_async(). On failure the file
 * is unchanged and @duplicates and @moved are set to %NULL.
 *
 * Returns: %TRUE when the edit was applied, with @error unset
 */
gboolean
hg_profile_store_add_entries_finish (HgProfileStore  *store,
                                     GAsyncResult    *result,
                                     GStrv           *duplicates,
                                     GStrv           *moved,
                                     GError         **error)
{
  AddOutcome *outcome;

  g_return_val_if_fail (g_task_is_valid (result, store), FALSE);

  if (duplicates != NULL)
    *duplicates = NULL;
  if (moved != NULL)
    *moved = NULL;
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;

  outcome = g_task_get_task_data (G_TASK (result));
  if (duplicates != NULL)
    *duplicates = strv_from_array (outcome != NULL ? outcome->duplicates : NULL);
  if (moved != NULL)
    *moved = strv_from_array (outcome != NULL ? outcome->moved : NULL);
  return TRUE;
}

/**
 * hg_profile_store_replace_entry_async:
 * @old_entry: the entry being changed, compared in canonical form
 * @new_entry: what it becomes, validated with the pattern parser
 *
 * Puts @new_entry, in canonical form, in the place of @old_entry on a
 * list of profile @name, in one write, and takes it off the other list.
 * If @old_entry is gone, @new_entry is added at the end. If @new_entry
 * is already on the list as another entry, nothing is written. Complete
 * it with hg_profile_store_add_entries_finish(), whose @duplicates then
 * contains @new_entry.
 */
void
hg_profile_store_replace_entry_async (HgProfileStore      *store,
                                      const char          *name,
                                      HgProfileList        list,
                                      const char          *old_entry,
                                      const char          *new_entry,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  const char *entries[] = { old_entry, new_entry, NULL };
  Edit *edit;

  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);
  g_return_if_fail (old_entry != NULL);
  g_return_if_fail (new_entry != NULL);

  edit = edit_new (EDIT_REPLACE, name);
  edit->list = list;
  edit->entries = g_strdupv ((char **) entries);
  edit->duplicates = g_ptr_array_new_with_free_func (g_free);
  edit->moved = g_ptr_array_new_with_free_func (g_free);
  run_edit (store, edit, cancellable, callback, user_data);
}

/**
 * hg_profile_store_remove_entry_async:
 *
 * Removes @entry (compared in canonical form) from a list of profile
 * @name. Removing an entry that is not there succeeds and writes nothing.
 */
void
hg_profile_store_remove_entry_async (HgProfileStore      *store,
                                     const char          *name,
                                     HgProfileList        list,
                                     const char          *entry,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  const char *entries[] = { entry, NULL };
  Edit *edit;

  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);
  g_return_if_fail (entry != NULL);

  edit = edit_new (EDIT_REMOVE, name);
  edit->list = list;
  edit->entries = g_strdupv ((char **) entries);
  run_edit (store, edit, cancellable, callback, user_data);
}

/**
 * hg_profile_store_set_approval_async:
 * @timeout_secs: clamped to 5–300 seconds
 *
 * Sets `network.approval_mode` and `network.approval_timeout_secs`.
 */
void
hg_profile_store_set_approval_async (HgProfileStore      *store,
                                     const char          *name,
                                     HgApprovalMode       mode,
                                     guint                timeout_secs,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  Edit *edit;

  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);

  edit = edit_new (EDIT_SET_APPROVAL, name);
  edit->mode = mode;
  edit->timeout_secs = timeout_secs;
  run_edit (store, edit, cancellable, callback, user_data);
}

/**
 * hg_profile_store_create_async:
 *
 * Creates an empty profile @name. Fails with %G_IO_ERROR_EXISTS if the
 * file is already there.
 */
void
hg_profile_store_create_async (HgProfileStore      *store,
                               const char          *name,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);

  run_edit (store, edit_new (EDIT_CREATE, name), cancellable, callback, user_data);
}

/**
 * hg_profile_store_delete_async:
 *
 * Deletes the file of profile @name. Deleting `default` brings back the
 * built-in default profile.
 */
void
hg_profile_store_delete_async (HgProfileStore      *store,
                               const char          *name,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);

  run_edit (store, edit_new (EDIT_DELETE, name), cancellable, callback, user_data);
}

/**
 * hg_profile_store_rename_async:
 *
 * Renames profile @name to @new_name, updating `meta.name` in the file.
 * The built-in name `default` cannot be renamed.
 */
void
hg_profile_store_rename_async (HgProfileStore      *store,
                               const char          *name,
                               const char          *new_name,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  Edit *edit;

  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);
  g_return_if_fail (new_name != NULL);

  edit = edit_new (EDIT_RENAME, name);
  edit->new_name = g_strdup (new_name);
  run_edit (store, edit, cancellable, callback, user_data);
}

/**
 * hg_profile_store_import_async:
 * @contents: the profile file, at most %HG_PROFILE_MAX_SIZE bytes
 *
 * Creates profile @name from a whole profile file, byte for byte, so
 * every key survives. The contents must load as a valid profile, and
 * the import fails with %G_IO_ERROR_EXISTS if profile @name exists.
 */
void
hg_profile_store_import_async (HgProfileStore      *store,
                               const char          *name,
                               GBytes              *contents,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  Edit *edit;

  g_return_if_fail (HG_IS_PROFILE_STORE (store));
  g_return_if_fail (name != NULL);
  g_return_if_fail (contents != NULL);

  edit = edit_new (EDIT_IMPORT, name);
  edit->contents = g_bytes_ref (contents);
  run_edit (store, edit, cancellable, callback, user_data);
}

/**
 * hg_profile_store_edit_finish:
 *
 * Completes any of the store's edits. Returns %FALSE with @error set
 * when the edit was not written; the file on disk is then unchanged.
 */
gboolean
hg_profile_store_edit_finish (HgProfileStore  *store,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, store), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
external_load_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(HgProfileStore) store = user_data;
  g_autofree char *name = g_object_steal_data (object, "hg-profile-name");
  g_autofree char *contents = NULL;
  g_autofree char *checksum = NULL;
  g_autoptr(GError) error = NULL;
  gsize length = 0;

  if (!g_file_load_contents_finish (G_FILE (object), result, &contents, &length, NULL, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;

      /* The file was deleted or renamed outside the agent. The agent's
       * own deletions are known already and logged when they are done. */
      if (g_hash_table_lookup (store->checksums, name) != NULL)
        /* Translators: the first %s is the profile name, the second the
         * path of the profile folder. */
        g_message (_("The file of the profile “%s” in %s was deleted"), name, store->directory);
      note_content (store, name, NULL);
      return;
    }

  checksum = checksum_of (contents, length);
  note_content (store, name, checksum);
}

static void
monitor_changed_cb (GFileMonitor      *monitor,
                    GFile             *file,
                    GFile             *other_file,
                    GFileMonitorEvent  event,
                    gpointer           user_data)
{
  HgProfileStore *store = user_data;
  g_autofree char *base = g_file_get_basename (file);
  g_autofree char *name = NULL;

  if (event != G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT &&
      event != G_FILE_MONITOR_EVENT_DELETED &&
      event != G_FILE_MONITOR_EVENT_CREATED &&
      event != G_FILE_MONITOR_EVENT_MOVED_IN &&
      event != G_FILE_MONITOR_EVENT_MOVED_OUT &&
      event != G_FILE_MONITOR_EVENT_RENAMED)
    return;

  if (event == G_FILE_MONITOR_EVENT_RENAMED && other_file != NULL)
    monitor_changed_cb (monitor, other_file, NULL, G_FILE_MONITOR_EVENT_CREATED, user_data);

  if (!g_str_has_suffix (base, ".json") || base[0] == '.')
    return;

  name = g_strndup (base, strlen (base) - strlen (".json"));
  if (!hg_profile_name_is_valid (name))
    return;

  g_object_set_data_full (G_OBJECT (file), "hg-profile-name", g_steal_pointer (&name), g_free);
  g_file_load_contents_async (file, store->cancellable, external_load_cb, g_object_ref (store));
}

/* A writer killed between creating its temporary file and renaming it
 * leaves `.NAME.json.XXXXXX` behind. The agent is the only writer of the
 * folder, so when a store starts, every such file is stale. */
static void
remove_stale_temporaries (const char *directory)
{
  g_autoptr(GDir) dir = g_dir_open (directory, 0, NULL);
  const char *base;

  while (dir != NULL && (base = g_dir_read_name (dir)) != NULL)
    {
      const char *suffix = g_strrstr (base, ".json.");
      g_autofree char *name = NULL;
      g_autofree char *path = NULL;

      if (base[0] != '.' || suffix == NULL || strlen (suffix + strlen (".json.")) != 6)
        continue;

      name = g_strndup (base + 1, suffix - (base + 1));
      if (!hg_profile_name_is_valid (name))
        continue;

      path = g_build_filename (directory, base, NULL);
      if (g_unlink (path) == 0)
        /* Translators: %s is the path of a temporary file. */
        g_message (_("Removed “%s”, left behind by an interrupted profile write"), path);
    }
}

static void
hg_profile_store_constructed (GObject *object)
{
  HgProfileStore *store = HG_PROFILE_STORE (object);
  g_autoptr(GFile) dir = NULL;
  g_autoptr(GError) error = NULL;

  G_OBJECT_CLASS (hg_profile_store_parent_class)->constructed (object);

  if (store->directory == NULL)
    store->directory = g_build_filename (g_get_user_config_dir (), "hostgate", "profiles", NULL);

  /* Watching needs the folder to exist; creating it empty changes no
   * profile. */
  g_mkdir_with_parents (store->directory, 0700);
  remove_stale_temporaries (store->directory);

  dir = g_file_new_for_path (store->directory);
  store->monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (store->monitor == NULL)
    {
      g_warning (_("Cannot watch the profile folder “%s” for external edits: %s"),
                 store->directory, error->message);
      return;
    }

  g_signal_connect_object (store->monitor, "changed", G_CALLBACK (monitor_changed_cb), store, 0);
}

static void
hg_profile_store_dispose (GObject *object)
{
  HgProfileStore *store = HG_PROFILE_STORE (object);

  g_cancellable_cancel (store->cancellable);
  if (store->monitor != NULL)
    g_file_monitor_cancel (store->monitor);
  g_clear_object (&store->monitor);

  G_OBJECT_CLASS (hg_profile_store_parent_class)->dispose (object);
}

static void
hg_profile_store_finalize (GObject *object)
{
  HgProfileStore *store = HG_PROFILE_STORE (object);

  g_free (store->directory);
  g_clear_object (&store->cancellable);
  g_hash_table_unref (store->revisions);
  g_hash_table_unref (store->checksums);
  g_mutex_clear (&store->lock);

  G_OBJECT_CLASS (hg_profile_store_parent_class)->finalize (object);
}

static void
hg_profile_store_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  HgProfileStore *store = HG_PROFILE_STORE (object);

  switch (prop_id)
    {
    case PROP_DIRECTORY:
      g_value_set_string (value, store->directory);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_profile_store_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  HgProfileStore *store = HG_PROFILE_STORE (object);

  switch (prop_id)
    {
    case PROP_DIRECTORY:
      store->directory = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_profile_store_class_init (HgProfileStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = hg_profile_store_constructed;
  object_class->dispose = hg_profile_store_dispose;
  object_class->finalize = hg_profile_store_finalize;
  object_class->get_property = hg_profile_store_get_property;
  object_class->set_property = hg_profile_store_set_property;

  /**
   * HgProfileStore:directory:
   *
   * The folder of the profile files; %NULL at construction means
   * `$XDG_CONFIG_HOME/hostgate/profiles`.
   */
  properties[PROP_DIRECTORY] =
    g_param_spec_string ("directory", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HgProfileStore::changed:
   * @name: the profile whose file changed, was created or was deleted
   *
   * Emitted once per change of a profile file, whether the store wrote
   * it or someone edited it outside the agent.
   */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
hg_profile_store_init (HgProfileStore *store)
{
  g_mutex_init (&store->lock);
  store->cancellable = g_cancellable_new ();
  store->revisions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  store->checksums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/**
 * hg_profile_store_new:
 * @directory: (nullable): the profile folder, or %NULL for the user's
 *
 * Creates a store for the profiles in @directory and starts watching it
 * for edits made outside the agent.
 *
 * Returns: (transfer full): a new store
 */
HgProfileStore *
hg_profile_store_new (const char *directory)
{
  return g_object_new (HG_TYPE_PROFILE_STORE, "directory", directory, NULL);
}

const char *
hg_profile_store_get_directory (HgProfileStore *store)
{
  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), NULL);

  return store->directory;
}

static int
compare_strings (const void *a,
                 const void *b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

/**
 * hg_profile_store_list_names:
 *
 * Lists the profiles in the folder, sorted, always including `default`.
 *
 * Returns: (transfer full): the names
 */
GStrv
hg_profile_store_list_names (HgProfileStore *store)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GDir) dir = NULL;
  g_auto(GStrv) names = NULL;
  const char *base;
  gboolean has_default = FALSE;

  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), NULL);

  dir = g_dir_open (store->directory, 0, NULL);
  while (dir != NULL && (base = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *name = NULL;

      if (!g_str_has_suffix (base, ".json") || base[0] == '.')
        continue;

      name = g_strndup (base, strlen (base) - strlen (".json"));
      if (!hg_profile_name_is_valid (name))
        continue;

      has_default |= g_str_equal (name, "default");
      g_strv_builder_add (builder, name);
    }

  if (!has_default)
    g_strv_builder_add (builder, "default");

  names = g_strv_builder_end (builder);
  qsort (names, g_strv_length (names), sizeof (char *), compare_strings);
  return g_steal_pointer (&names);
}

/**
 * hg_profile_store_load:
 *
 * Reads profile @name from the store's folder; `default` without a file
 * is the built-in default. Any other profile without a file cannot be
 * read, so that proxies using a deleted profile keep their filter; the
 * first write creates it again.
 *
 * Returns: (transfer full): the profile, or %NULL with @error set
 */
HgProfile *
hg_profile_store_load (HgProfileStore  *store,
                       const char      *name,
                       GError         **error)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), NULL);

  if (!hg_profile_name_is_valid (name))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("“%s” is not a valid profile name"), name);
      return NULL;
    }

  path = profile_path (store, name);
  if (g_str_equal (name, "default") && !g_file_test (path, G_FILE_TEST_EXISTS))
    return hg_profile_load_default ();

  return hg_profile_load_file (path, error);
}

/**
 * hg_profile_store_has_profile:
 * @store: the store
 * @name: a valid profile name
 *
 * Returns: %TRUE if profile @name has a file in the store's folder, or is
 *   `default`, which is built in
 */
gboolean
hg_profile_store_has_profile (HgProfileStore *store,
                              const char     *name)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), FALSE);

  if (g_strcmp0 (name, "default") == 0)
    return TRUE;

  path = profile_path (store, name);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/**
 * hg_profile_store_get_revision:
 *
 * Returns: how many changes of profile @name the store has seen; proxies
 *   receive it with each filter so they can tell a newer one
 */
guint64
hg_profile_store_get_revision (HgProfileStore *store,
                               const char     *name)
{
  guint64 *revision;

  g_return_val_if_fail (HG_IS_PROFILE_STORE (store), 0);

  revision = g_hash_table_lookup (store->revisions, name);
  return revision != NULL ? *revision : 0;
}
