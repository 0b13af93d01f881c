/* test-profile-store.c: the agent's profile writes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "hg-error.h"
#include "hg-profile-store.h"

#define DEADLINE_SECONDS 10

typedef struct {
  char *dir;
  HgProfileStore *store;
  GPtrArray *changed;
} Fixture;

static void
changed_cb (HgProfileStore *store,
            const char     *name,
            gpointer        user_data)
{
  Fixture *fixture = user_data;

  g_ptr_array_add (fixture->changed, g_strdup (name));
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->dir = g_dir_make_tmp ("hostgate-store-XXXXXX", NULL);
  g_assert_nonnull (fixture->dir);
  fixture->store = hg_profile_store_new (fixture->dir);
  fixture->changed = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (fixture->store, "changed", G_CALLBACK (changed_cb), fixture);
}

static void
remove_tree (const char *dir)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_signal_handlers_disconnect_by_data (fixture->store, fixture);
  g_object_run_dispose (G_OBJECT (fixture->store));
  g_clear_object (&fixture->store);
  g_ptr_array_unref (fixture->changed);
  remove_tree (fixture->dir);
  g_free (fixture->dir);
}

static gboolean
deadline_cb (gpointer user_data)
{
  g_error ("timed out after %d s waiting for the profile store", DEADLINE_SECONDS);
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until *done, failing the test after the
 * deadline. */
static void
wait_until (const gboolean *done)
{
  guint deadline = g_timeout_add_seconds (DEADLINE_SECONDS, deadline_cb, NULL);

  while (!*done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (deadline);
}

typedef struct {
  gboolean done;
  gboolean ok;
  GError *error;
} Result;

static void
edit_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Result *r = user_data;

  r->ok = hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &r->error);
  r->done = TRUE;
}

static gboolean
add_entries (Fixture             *fixture,
             const char          *name,
             HgProfileList        list,
             const char * const  *entries,
             GError             **error)
{
  Result r = { 0 };

  hg_profile_store_add_entries_async (fixture->store, name, list, entries, NULL, edit_cb, &r);
  wait_until (&r.done);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.ok;
}

typedef struct {
  gboolean done;
  gboolean ok;
  GStrv duplicates;
  GStrv moved;
  GError *error;
} AddResult;

static void
add_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  AddResult *r = user_data;

  r->ok = hg_profile_store_add_entries_finish (HG_PROFILE_STORE (object), result,
                                               &r->duplicates, &r->moved, &r->error);
  r->done = TRUE;
}

/* Adds entries and returns, in @duplicates, those the store reported as
 * already on the list. */
static gboolean
add_entries_with_duplicates (Fixture             *fixture,
                             const char          *name,
                             HgProfileList        list,
                             const char * const  *entries,
                             GStrv               *duplicates,
                             GError             **error)
{
  AddResult r = { 0 };

  hg_profile_store_add_entries_async (fixture->store, name, list, entries, NULL, add_cb, &r);
  wait_until (&r.done);
  g_strfreev (r.moved);
  *duplicates = r.duplicates;
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.ok;
}

/* Replaces @old_entry with @new_entry and returns, in @duplicates, what
 * the store reported as already on the list, and in @moved what it took
 * off the other list. */
static gboolean
replace_entry (Fixture        *fixture,
               const char     *name,
               HgProfileList   list,
               const char     *old_entry,
               const char     *new_entry,
               GStrv          *duplicates,
               GStrv          *moved,
               GError        **error)
{
  AddResult r = { 0 };

  hg_profile_store_replace_entry_async (fixture->store, name, list, old_entry, new_entry,
                                        NULL, add_cb, &r);
  wait_until (&r.done);
  *duplicates = r.duplicates;
  *moved = r.moved;
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.ok;
}

static gboolean
add_entry (Fixture        *fixture,
           const char     *name,
           HgProfileList   list,
           const char     *entry,
           GError        **error)
{
  const char *entries[] = { entry, NULL };

  return add_entries (fixture, name, list, entries, error);
}

static char *
read_profile (Fixture    *fixture,
              const char *name)
{
  g_autofree char *file = g_strconcat (name, ".json", NULL);
  g_autofree char *path = g_build_filename (fixture->dir, file, NULL);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

static void
write_profile (Fixture    *fixture,
               const char *name,
               const char *contents)
{
  g_autofree char *file = g_strconcat (name, ".json", NULL);
  g_autofree char *path = g_build_filename (fixture->dir, file, NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
}

static void
test_add_materializes_default (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;
  g_autofree char *text = NULL;

  g_assert_null (read_profile (fixture, "default"));

  g_assert_true (add_entry (fixture, "default", HG_PROFILE_LIST_ALLOW, "API.Example.COM.", &error));
  g_assert_no_error (error);

  text = read_profile (fixture, "default");
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "\"api.example.com\""));

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
  g_assert_cmpstr (profile->allow->pdata[0], ==, "api.example.com");
}

/* A proxy may use a name the agent has no file for: its lists come from
 * --profile-file. Reading the profile fails, so that nothing replaces
 * the proxy's lists, and an Always answer creates its file. */
static void
test_add_creates_missing (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) missing = NULL;
  g_autoptr(HgProfile) profile = NULL;
  g_autofree char *text = NULL;

  g_assert_false (hg_profile_store_has_profile (fixture->store, "sandbox"));
  missing = hg_profile_store_load (fixture->store, "sandbox", &error);
  g_assert_null (missing);
  g_assert_nonnull (error);
  g_clear_error (&error);

  g_assert_true (add_entry (fixture, "sandbox", HG_PROFILE_LIST_ALLOW, "api.example.com", &error));
  g_assert_no_error (error);

  g_assert_true (hg_profile_store_has_profile (fixture->store, "sandbox"));
  text = read_profile (fixture, "sandbox");
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "\"name\" : \"sandbox\""));
  profile = hg_profile_store_load (fixture->store, "sandbox", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
  g_assert_cmpstr (profile->allow->pdata[0], ==, "api.example.com");
}

static void
test_add_keeps_unknown_keys (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  const char *filesystem;
  const char *network;
  const char *custom;

  write_profile (fixture, "nono",
                 "{\"filesystem\": {\"allow\": [\"/tmp\"]},\n"
                 " \"network\": {\"x_custom\": 7, \"allow_domain\": [\"a.example\"]},\n"
                 " \"meta\": {\"name\": \"nono\"}}\n");

  g_assert_true (add_entry (fixture, "nono", HG_PROFILE_LIST_ALLOW, "b.example", &error));
  g_assert_no_error (error);

  text = read_profile (fixture, "nono");
  filesystem = strstr (text, "\"filesystem\"");
  network = strstr (text, "\"network\"");
  custom = strstr (text, "\"x_custom\"");
  g_assert_nonnull (filesystem);
  g_assert_nonnull (network);
  g_assert_nonnull (custom);
  g_assert_true (filesystem < network);
  g_assert_nonnull (strstr (text, "\"/tmp\""));
  g_assert_nonnull (strstr (text, "\"a.example\""));
  g_assert_nonnull (strstr (text, "\"b.example\""));
}

static void
test_add_skips_duplicate (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;

  g_assert_true (add_entry (fixture, "default", HG_PROFILE_LIST_ALLOW, "api.example.com", &error));
  g_assert_true (add_entry (fixture, "default", HG_PROFILE_LIST_ALLOW, "API.EXAMPLE.com.", &error));
  g_assert_no_error (error);

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
}

static void
test_add_reports_duplicates (Fixture       *fixture,
                             gconstpointer  data)
{
  const char *first[] = { "a.example", NULL };
  const char *second[] = { "b.example", "A.Example.", "b.example", "c.example", NULL };
  const char *none[] = { NULL };
  const char *expected[] = { "a.example", "b.example", NULL };
  g_auto(GStrv) first_duplicates = NULL;
  g_auto(GStrv) duplicates = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;

  g_assert_true (add_entries_with_duplicates (fixture, "default", HG_PROFILE_LIST_ALLOW, first,
                                              &first_duplicates, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (first_duplicates, none);

  /* A.Example. is a.example in canonical form. b.example is given twice:
   * it is added once and its repeat reported. */
  g_assert_true (add_entries_with_duplicates (fixture, "default", HG_PROFILE_LIST_ALLOW, second,
                                              &duplicates, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (duplicates, expected);

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 3);
  g_assert_cmpstr (profile->allow->pdata[0], ==, "a.example");
  g_assert_cmpstr (profile->allow->pdata[1], ==, "b.example");
  g_assert_cmpstr (profile->allow->pdata[2], ==, "c.example");
}

/* An entry under nono's reject_domain is on the deny list too. A write
 * that adds nothing leaves the file as it was. */
static void
test_add_duplicate_in_reject_domain (Fixture       *fixture,
                                     gconstpointer  data)
{
  const char *text = "{\"network\": {\"reject_domain\": [\"Ads.Example\"]}}\n";
  const char *entries[] = { "ads.example", NULL };
  const char *expected[] = { "ads.example", NULL };
  g_auto(GStrv) duplicates = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;

  write_profile (fixture, "work", text);

  g_assert_true (add_entries_with_duplicates (fixture, "work", HG_PROFILE_LIST_DENY, entries,
                                              &duplicates, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (duplicates, expected);

  after = read_profile (fixture, "work");
  g_assert_cmpstr (after, ==, text);
}

/* A failed add reports no duplicates, even for entries before the
 * invalid one that were on the list. */
static void
test_add_duplicates_on_failure (Fixture       *fixture,
                                gconstpointer  data)
{
  const char *entries[] = { "a.example", "exa mple.com", NULL };
  g_auto(GStrv) duplicates = NULL;
  g_autoptr(GError) error = NULL;

  write_profile (fixture, "work", "{\"network\": {\"allow_domain\": [\"a.example\"]}}\n");

  g_assert_false (add_entries_with_duplicates (fixture, "work", HG_PROFILE_LIST_ALLOW, entries,
                                               &duplicates, &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);
  g_assert_null (duplicates);
}

static void
test_add_invalid_entry (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  write_profile (fixture, "work", "{\"network\": {\"allow_domain\": [\"a.example\"]}}\n");
  before = read_profile (fixture, "work");

  g_assert_false (add_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "exa mple.com", &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);

  after = read_profile (fixture, "work");
  g_assert_cmpstr (before, ==, after);
}

static void
test_add_star_to_deny (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (add_entry (fixture, "default", HG_PROFILE_LIST_DENY, "*", &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN);
  g_assert_null (read_profile (fixture, "default"));
}

static void
test_unparseable_file_kept (Fixture       *fixture,
                            gconstpointer  data)
{
  const char *broken = "{\"network\": {\"allow_domain\": [\"a.example\",]}\n";
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;

  write_profile (fixture, "broken", broken);

  g_assert_false (add_entry (fixture, "broken", HG_PROFILE_LIST_ALLOW, "b.example", &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "broken.json"));

  after = read_profile (fixture, "broken");
  g_assert_cmpstr (after, ==, broken);
}

static void
test_read_only_file_kept (Fixture       *fixture,
                          gconstpointer  data)
{
  const char *text = "{\"network\": {\"allow_domain\": [\"a.example\"]}}\n";
  g_autofree char *path = g_build_filename (fixture->dir, "work.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;
  GStatBuf status;

  write_profile (fixture, "work", text);
  g_assert_cmpint (g_chmod (path, 0444), ==, 0);

  g_assert_false (add_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "b.example", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "read-only"));

  after = read_profile (fixture, "work");
  g_assert_cmpstr (after, ==, text);
  g_assert_cmpint (g_stat (path, &status), ==, 0);
  g_assert_cmpint (status.st_mode & 07777, ==, 0444);
}

static void
test_write_keeps_mode (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "work.json", NULL);
  g_autoptr(GError) error = NULL;
  GStatBuf status;

  write_profile (fixture, "work", "{\"network\": {\"allow_domain\": [\"a.example\"]}}\n");
  g_assert_cmpint (g_chmod (path, 0640), ==, 0);

  g_assert_true (add_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "b.example", &error));
  g_assert_no_error (error);

  g_assert_cmpint (g_stat (path, &status), ==, 0);
  g_assert_cmpint (status.st_mode & 07777, ==, 0640);
}

static void
test_allow_removes_deny (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;

  write_profile (fixture, "work",
                 "{\"network\": {\"deny_domain\": [\"a.example\"], \"reject_domain\": [\"a.example\", \"c.example\"]}}\n");

  g_assert_true (add_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "a.example", &error));
  g_assert_no_error (error);

  profile = hg_profile_store_load (fixture->store, "work", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
  g_assert_cmpuint (profile->deny->len, ==, 1);
  g_assert_cmpstr (profile->deny->pdata[0], ==, "c.example");
}

/* Asserts that the allow list of @name is exactly @expected, in order. */
static void
assert_allow_list (Fixture            *fixture,
                   const char         *name,
                   const char * const *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_store_load (fixture->store, name, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, g_strv_length ((char **) expected));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (profile->allow->pdata[i], ==, expected[i]);
}

static void
test_replace_keeps_place (Fixture       *fixture,
                          gconstpointer  data)
{
  const char *expected[] = { "a.example", "new.example", "c.example", NULL };
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;

  write_profile (fixture, "work",
                 "{\"network\": {\"allow_domain\": [\"a.example\", \"B.Example\", \"c.example\"],"
                 " \"deny_domain\": [\"new.example\", \"d.example\"]}}\n");

  g_assert_true (replace_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "b.example", "NEW.example.",
                                &duplicates, &moved, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (duplicates, ((const char * const[]) { NULL }));
  g_assert_cmpstrv (moved, ((const char * const[]) { "new.example", NULL }));

  assert_allow_list (fixture, "work", expected);

  /* The new entry is taken off the deny list, as an add takes it. */
  profile = hg_profile_store_load (fixture->store, "work", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->deny->len, ==, 1);
  g_assert_cmpstr (profile->deny->pdata[0], ==, "d.example");
}

static void
test_replace_into_duplicate (Fixture       *fixture,
                             gconstpointer  data)
{
  const char *text = "{\"network\": {\"allow_domain\": [\"a.example\", \"b.example\"]}}\n";
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;

  write_profile (fixture, "work", text);

  g_assert_true (replace_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "a.example", "B.example",
                                &duplicates, &moved, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (duplicates, ((const char * const[]) { "b.example", NULL }));
  g_assert_cmpstrv (moved, ((const char * const[]) { NULL }));

  after = read_profile (fixture, "work");
  g_assert_cmpstr (after, ==, text);
}

static void
test_replace_spelling_only (Fixture       *fixture,
                            gconstpointer  data)
{
  const char *expected[] = { "a.example", "b.example", NULL };
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  g_autoptr(GError) error = NULL;

  write_profile (fixture, "work", "{\"network\": {\"allow_domain\": [\"A.Example.\", \"b.example\"]}}\n");

  g_assert_true (replace_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "A.Example.", "a.EXAMPLE",
                                &duplicates, &moved, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (duplicates, ((const char * const[]) { NULL }));
  assert_allow_list (fixture, "work", expected);
}

static void
test_replace_gone_entry_appends (Fixture       *fixture,
                                 gconstpointer  data)
{
  const char *expected[] = { "b.example", "new.example", NULL };
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  g_autoptr(GError) error = NULL;

  write_profile (fixture, "work", "{\"network\": {\"allow_domain\": [\"b.example\"]}}\n");

  g_assert_true (replace_entry (fixture, "work", HG_PROFILE_LIST_ALLOW, "a.example", "new.example",
                                &duplicates, &moved, &error));
  g_assert_no_error (error);
  assert_allow_list (fixture, "work", expected);
}

static void
test_replace_invalid_entry (Fixture       *fixture,
                            gconstpointer  data)
{
  const char *text = "{\"network\": {\"deny_domain\": [\"a.example\"]}}\n";
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;

  write_profile (fixture, "work", text);

  g_assert_false (replace_entry (fixture, "work", HG_PROFILE_LIST_DENY, "a.example", "*",
                                 &duplicates, &moved, &error));
  g_assert_nonnull (error);
  g_assert_null (duplicates);
  g_assert_null (moved);

  after = read_profile (fixture, "work");
  g_assert_cmpstr (after, ==, text);
}

static void
test_concurrent_adds (Fixture       *fixture,
                      gconstpointer  data)
{
  enum { N_EDITS = 50 };
  Result results[N_EDITS] = { 0 };
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < N_EDITS; i++)
    {
      g_autofree char *host = g_strdup_printf ("host%u.example", i);
      const char *entries[] = { host, NULL };

      hg_profile_store_add_entries_async (fixture->store, "default", HG_PROFILE_LIST_ALLOW,
                                          entries, NULL, edit_cb, &results[i]);
    }

  for (guint i = 0; i < N_EDITS; i++)
    {
      wait_until (&results[i].done);
      g_assert_no_error (results[i].error);
      g_assert_true (results[i].ok);
    }

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, N_EDITS);
}

static void
test_widened_entries (Fixture       *fixture,
                      gconstpointer  data)
{
  const char *entries[] = { "example.com", "*.example.com", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;

  g_assert_true (add_entries (fixture, "default", HG_PROFILE_LIST_ALLOW, entries, &error));
  g_assert_no_error (error);

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_cmpuint (profile->allow->len, ==, 2);
  g_assert_cmpstr (profile->allow->pdata[1], ==, "*.example.com");
}

static void
run_simple_edit (Fixture    *fixture,
                 Result     *r)
{
  wait_until (&r->done);
}

static void
test_create_rename_delete (Fixture       *fixture,
                           gconstpointer  data)
{
  Result created = { 0 }, again = { 0 }, renamed = { 0 }, deleted = { 0 };
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) names = NULL;

  hg_profile_store_create_async (fixture->store, "work", NULL, edit_cb, &created);
  run_simple_edit (fixture, &created);
  g_assert_no_error (created.error);

  hg_profile_store_create_async (fixture->store, "work", NULL, edit_cb, &again);
  run_simple_edit (fixture, &again);
  g_assert_error (again.error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&again.error);

  hg_profile_store_rename_async (fixture->store, "work", "home", NULL, edit_cb, &renamed);
  run_simple_edit (fixture, &renamed);
  g_assert_no_error (renamed.error);
  g_assert_null (read_profile (fixture, "work"));

  profile = hg_profile_store_load (fixture->store, "home", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->name, ==, "home");

  names = hg_profile_store_list_names (fixture->store);
  g_assert_cmpuint (g_strv_length (names), ==, 2);
  g_assert_cmpstr (names[0], ==, "default");
  g_assert_cmpstr (names[1], ==, "home");

  hg_profile_store_delete_async (fixture->store, "home", NULL, edit_cb, &deleted);
  run_simple_edit (fixture, &deleted);
  g_assert_no_error (deleted.error);
  g_assert_null (read_profile (fixture, "home"));
}

static void
test_rename_default (Fixture       *fixture,
                     gconstpointer  data)
{
  Result r = { 0 };

  hg_profile_store_rename_async (fixture->store, "default", "other", NULL, edit_cb, &r);
  run_simple_edit (fixture, &r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&r.error);
}

static void
test_invalid_name (Fixture       *fixture,
                   gconstpointer  data)
{
  Result r = { 0 };

  hg_profile_store_create_async (fixture->store, "../escape", NULL, edit_cb, &r);
  run_simple_edit (fixture, &r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (r.error->message, "../escape"));
  g_clear_error (&r.error);
}

static gboolean
import_profile (Fixture     *fixture,
                const char  *name,
                const char  *contents,
                GError     **error)
{
  g_autoptr(GBytes) bytes = g_bytes_new (contents, strlen (contents));
  Result r = { 0 };

  hg_profile_store_import_async (fixture->store, name, bytes, NULL, edit_cb, &r);
  wait_until (&r.done);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.ok;
}

static void
test_import_keeps_unknown_keys (Fixture       *fixture,
                                gconstpointer  data)
{
  const char *contents = "{\"meta\": {\"name\": \"corp\"}, \"filesystem\": {\"x\": 1},\n"
                         " \"network\": {\"allow_domain\": [\"a.example\"], \"x_custom\": 7}}\n";
  g_autoptr(GError) error = NULL;
  g_autofree char *written = NULL;

  g_assert_true (import_profile (fixture, "corp", contents, &error));
  g_assert_no_error (error);

  written = read_profile (fixture, "corp");
  g_assert_cmpstr (written, ==, contents);
}

/* An imported file may not widen what the proxy can reach: the upstream
 * and loopback settings are left out, and the rest is kept. */
static void
test_import_drops_widening_keys (Fixture       *fixture,
                                 gconstpointer  data)
{
  const char *contents = "{\"meta\": {\"name\": \"corp\"}, \"filesystem\": {\"x\": 1},\n"
                         " \"network\": {\"allow_domain\": [\"a.example\"],"
                         " \"upstream_proxy\": \"proxy.example:3128\", \"upstream_bypass\": [\"b.example\"],"
                         " \"allow_loopback\": true, \"x_custom\": 7}}\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = NULL;
  g_autofree char *written = NULL;

  g_assert_true (import_profile (fixture, "corp", contents, &error));
  g_assert_no_error (error);

  written = read_profile (fixture, "corp");
  g_assert_null (strstr (written, "upstream_proxy"));
  g_assert_null (strstr (written, "upstream_bypass"));
  g_assert_null (strstr (written, "allow_loopback"));
  g_assert_nonnull (strstr (written, "\"x_custom\" : 7"));
  g_assert_nonnull (strstr (written, "\"filesystem\""));

  profile = hg_profile_store_load (fixture->store, "corp", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
  g_assert_false (profile->allow_loopback);
  g_assert_null (profile->upstream_proxy);
}

static void
test_import_invalid_rejected (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (import_profile (fixture, "bad", "{\"network\": {\"deny_domain\": [\"*\"]}}", &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  g_assert_null (read_profile (fixture, "bad"));
}

static void
test_import_existing_refused (Fixture       *fixture,
                              gconstpointer  data)
{
  const char *original = "{\"network\": {\"allow_domain\": [\"a.example\"]}}\n";
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;

  write_profile (fixture, "work", original);

  g_assert_false (import_profile (fixture, "work", "{}", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);

  after = read_profile (fixture, "work");
  g_assert_cmpstr (after, ==, original);
}

static void
test_add_many_entries (Fixture       *fixture,
                       gconstpointer  data)
{
  enum { N_ENTRIES = 5000 };
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < N_ENTRIES; i++)
    g_ptr_array_add (entries, g_strdup_printf ("host%u.example", i % (N_ENTRIES / 2)));
  g_ptr_array_add (entries, NULL);

  g_assert_true (add_entries (fixture, "default", HG_PROFILE_LIST_ALLOW,
                              (const char * const *) entries->pdata, &error));
  g_assert_no_error (error);

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, N_ENTRIES / 2);
}

static void
test_set_approval (Fixture       *fixture,
                   gconstpointer  data)
{
  Result r = { 0 };
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  hg_profile_store_set_approval_async (fixture->store, "default", HG_APPROVAL_ASK, 1000, NULL, edit_cb, &r);
  run_simple_edit (fixture, &r);
  g_assert_no_error (r.error);

  profile = hg_profile_store_load (fixture->store, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpint (profile->approval_mode, ==, HG_APPROVAL_ASK);
  g_assert_cmpuint (profile->approval_timeout_secs, ==, HG_APPROVAL_TIMEOUT_MAX);
}

static void
test_changed_once_per_write (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (add_entry (fixture, "default", HG_PROFILE_LIST_ALLOW, "a.example", &error));
  g_assert_cmpuint (fixture->changed->len, ==, 1);
  g_assert_cmpstr (fixture->changed->pdata[0], ==, "default");
  g_assert_cmpuint (hg_profile_store_get_revision (fixture->store, "default"), ==, 1);
}

static void
test_external_edit_noticed (Fixture       *fixture,
                            gconstpointer  data)
{
  guint deadline;

  write_profile (fixture, "outside", "{\"network\": {\"allow_domain\": [\"x.example\"]}}\n");

  deadline = g_timeout_add_seconds (DEADLINE_SECONDS, deadline_cb, NULL);
  while (fixture->changed->len == 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (deadline);

  g_assert_cmpstr (fixture->changed->pdata[0], ==, "outside");
  g_assert_cmpuint (hg_profile_store_get_revision (fixture->store, "outside"), >=, 1);
}

/* The temporary files of writes that were killed before their rename
 * are removed when a store starts; other dot files are left alone. */
static void
test_stale_temporaries_removed (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hostgate-store-XXXXXX", NULL);
  const char *stale[] = { ".work.json.Ab12Cd", ".default.json.zzzzzz" };
  const char *kept[] = { ".notes.txt", ".work.json.tmp-test", ".bad..name.json.Ab12Cd", "work.json" };
  g_autoptr(HgProfileStore) store = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (stale); i++)
    {
      g_autofree char *path = g_build_filename (dir, stale[i], NULL);
      g_assert_true (g_file_set_contents (path, "{\n", -1, NULL));
    }
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *path = g_build_filename (dir, kept[i], NULL);
      g_assert_true (g_file_set_contents (path, "{}\n", -1, NULL));
    }

  store = hg_profile_store_new (dir);

  for (guint i = 0; i < G_N_ELEMENTS (stale); i++)
    {
      g_autofree char *path = g_build_filename (dir, stale[i], NULL);
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *path = g_build_filename (dir, kept[i], NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
    }

  g_object_run_dispose (G_OBJECT (store));
  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/profile-store/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("add/materializes-default", test_add_materializes_default);
  ADD ("add/creates-missing", test_add_creates_missing);
  ADD ("add/keeps-unknown-keys", test_add_keeps_unknown_keys);
  ADD ("add/skips-duplicate", test_add_skips_duplicate);
  ADD ("add/reports-duplicates", test_add_reports_duplicates);
  ADD ("add/duplicate-in-reject-domain", test_add_duplicate_in_reject_domain);
  ADD ("add/duplicates-on-failure", test_add_duplicates_on_failure);
  ADD ("add/invalid-entry", test_add_invalid_entry);
  ADD ("add/star-in-deny", test_add_star_to_deny);
  ADD ("add/unparseable-file-kept", test_unparseable_file_kept);
  ADD ("add/allow-removes-deny", test_allow_removes_deny);
  ADD ("add/read-only-file-kept", test_read_only_file_kept);
  ADD ("add/keeps-mode", test_write_keeps_mode);
  ADD ("add/concurrent", test_concurrent_adds);
  ADD ("add/widened", test_widened_entries);
  ADD ("add/many-entries", test_add_many_entries);
  ADD ("replace/keeps-place", test_replace_keeps_place);
  ADD ("replace/into-duplicate", test_replace_into_duplicate);
  ADD ("replace/spelling-only", test_replace_spelling_only);
  ADD ("replace/gone-entry-appends", test_replace_gone_entry_appends);
  ADD ("replace/invalid-entry", test_replace_invalid_entry);
  ADD ("import/keeps-unknown-keys", test_import_keeps_unknown_keys);
  ADD ("import/drops-widening-keys", test_import_drops_widening_keys);
  ADD ("import/invalid", test_import_invalid_rejected);
  ADD ("import/existing", test_import_existing_refused);
  ADD ("profile/create-rename-delete", test_create_rename_delete);
  ADD ("profile/rename-default", test_rename_default);
  ADD ("profile/invalid-name", test_invalid_name);
  ADD ("approval/set", test_set_approval);
  ADD ("changed/once-per-write", test_changed_once_per_write);
  ADD ("changed/external-edit", test_external_edit_noticed);

#undef ADD

  g_test_add_func ("/profile-store/start/stale-temporaries-removed", test_stale_temporaries_removed);

  return g_test_run ();
}
