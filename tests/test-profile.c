/* test-profile.c: loading profiles and resolving settings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "hg-error.h"
#include "hg-profile.h"

static char *
data_path (const char *filename)
{
  return g_test_build_filename (G_TEST_DIST, "data", "profiles", filename, NULL);
}

static HgProfile *
load_data_file (const char  *filename,
                GError     **error)
{
  g_autofree char *path = data_path (filename);

  return hg_profile_load_file (path, error);
}

static gboolean
strv_equal (GPtrArray         *array,
            const char * const *expected)
{
  guint n = g_strv_length ((char **) expected);

  if (array->len != n)
    return FALSE;

  for (guint i = 0; i < n; i++)
    {
      if (g_strcmp0 (g_ptr_array_index (array, i), expected[i]) != 0)
        return FALSE;
    }

  return TRUE;
}

/* Compares the start of @message with @prefix, so a failure prints both. */
static void
assert_starts_with (const char *message,
                    const char *prefix)
{
  g_autofree char *head = g_strndup (message, strlen (prefix));

  g_assert_cmpstr (head, ==, prefix);
}

static void
assert_contains (const char *message,
                 const char *fragment)
{
  if (strstr (message, fragment) == NULL)
    g_test_message ("“%s” does not contain “%s”", message, fragment);
  g_assert_nonnull (strstr (message, fragment));
}

/* Asserts an invalid-profile error whose message starts with @origin and
 * contains @fragment. */
static void
assert_invalid (const GError *error,
                const char   *origin,
                const char   *fragment)
{
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, origin);
  assert_contains (error->message, fragment);
}

static void
test_load_valid (void)
{
  static const char * const allow[] = { "api.github.com", "*.npmjs.org", NULL };
  static const char * const deny[] = { "*.ad.com", "tracker.example:443", NULL };
  static const char * const bypass[] = { "*.corp.example", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("valid.json", &error);
  g_autofree char *path = data_path ("valid.json");

  g_assert_no_error (error);
  g_assert_nonnull (profile);
  g_assert_cmpstr (profile->name, ==, "work");
  g_assert_cmpstr (profile->path, ==, path);
  g_assert_true (strv_equal (profile->allow, allow));
  g_assert_true (strv_equal (profile->deny, deny));
  g_assert_true (profile->approval_mode_set);
  g_assert_cmpint (profile->approval_mode, ==, HG_APPROVAL_ASK);
  g_assert_true (profile->approval_timeout_set);
  g_assert_cmpuint (profile->approval_timeout_secs, ==, 90);
  g_assert_cmpstr (profile->upstream_proxy, ==, "proxy.corp.example:3128");
  g_assert_true (strv_equal (profile->upstream_bypass, bypass));
  g_assert_true (profile->allow_loopback);
}

static void
test_load_nono (void)
{
  static const char * const allow[] = { "registry.npmjs.org", "*.github.com", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("nono.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (profile);
  g_assert_cmpstr (profile->name, ==, "node-dev");
  g_assert_true (strv_equal (profile->allow, allow));
  g_assert_cmpuint (profile->deny->len, ==, 0);
  g_assert_false (profile->approval_mode_set);
  g_assert_false (profile->approval_timeout_set);
  g_assert_null (profile->upstream_proxy);
  g_assert_false (profile->allow_loopback);
}

static void
test_load_no_network (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("no-network.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (profile);
  g_assert_cmpstr (profile->name, ==, "empty");
  g_assert_cmpuint (profile->allow->len, ==, 0);
  g_assert_cmpuint (profile->deny->len, ==, 0);
  g_assert_cmpuint (profile->upstream_bypass->len, ==, 0);
  g_assert_false (profile->approval_mode_set);
  g_assert_cmpint (profile->approval_mode, ==, HG_APPROVAL_OFF);
  g_assert_false (profile->approval_timeout_set);
  g_assert_cmpuint (profile->approval_timeout_secs, ==, HG_APPROVAL_TIMEOUT_DEFAULT);
}

static void
test_load_null_members (void)
{
  static const char json[] =
    "{\"meta\": null, \"network\": {\"allow_domain\": null, \"approval_mode\": null,"
    " \"approval_timeout_secs\": null, \"upstream_proxy\": null}}";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (json, -1, "nulls.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (profile);
  g_assert_cmpstr (profile->name, ==, "nulls");
  g_assert_cmpuint (profile->allow->len, ==, 0);
  g_assert_false (profile->approval_mode_set);
  g_assert_false (profile->approval_timeout_set);
  g_assert_null (profile->upstream_proxy);
}

static void
test_load_name_from_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data ("{}", -1, "/tmp/x/home.json", &error);

  g_assert_no_error (error);
  g_assert_cmpstr (profile->name, ==, "home");
  g_assert_null (profile->path);
}

static void
test_load_byte_order_mark (void)
{
  static const char json[] = "\xEF\xBB\xBF{\"network\": {\"allow_domain\": [\"a.example\"]}}";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (json, -1, "bom.json", &error);

  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
}

static void
test_reject_domain (void)
{
  static const char * const deny[] = { "*.ad.com", "tracker.example:443", "203.0.113.0/24", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("reject-domain.json", &error);
  g_autoptr(HgFilter) filter = NULL;
  g_autoptr(GInetAddress) inside = g_inet_address_new_from_string ("203.0.113.9");
  g_autoptr(GInetAddress) outside = g_inet_address_new_from_string ("198.51.100.9");

  g_assert_no_error (error);
  g_assert_true (strv_equal (profile->deny, deny));

  filter = hg_profile_build_deny (profile);
  g_assert_cmpuint (hg_filter_get_size (filter), ==, 3);
  g_assert_true (hg_filter_match_name (filter, "tracker.example", 443));
  g_assert_false (hg_filter_match_name (filter, "tracker.example", 80));
  g_assert_true (hg_filter_match_name (filter, "x.ad.com", 443));
  g_assert_false (hg_filter_match_name (filter, "example.org", 443));
  g_assert_true (hg_filter_match_address (filter, inside, 443));
  g_assert_false (hg_filter_match_address (filter, outside, 443));
}

static void
test_build_allow (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("valid.json", &error);
  g_autoptr(HgFilter) allow = NULL;

  g_assert_no_error (error);
  allow = hg_profile_build_allow (profile);
  g_assert_cmpuint (hg_filter_get_size (allow), ==, 2);
  g_assert_true (hg_filter_match_name (allow, "api.github.com", 443));
  g_assert_true (hg_filter_match_name (allow, "registry.npmjs.org", 443));
  g_assert_false (hg_filter_match_name (allow, "npmjs.org", 443));
  g_assert_false (hg_filter_match_name (allow, "github.com", 443));
}

static void
test_default_builtin (void)
{
  g_autoptr(HgProfile) profile = hg_profile_load_default ();
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (profile);
  g_assert_cmpstr (profile->name, ==, "default");
  g_assert_null (profile->path);
  g_assert_cmpuint (profile->allow->len, ==, 0);
  g_assert_cmpuint (profile->deny->len, ==, 0);
  g_assert_cmpint (profile->approval_mode, ==, HG_APPROVAL_OFF);
  g_assert_cmpuint (profile->approval_timeout_secs, ==, HG_APPROVAL_TIMEOUT_DEFAULT);
  g_assert_false (profile->allow_loopback);

  /* The agent reads the same resource through the global registry. */
  bytes = g_resources_lookup_data ("/io/github/hostgate/protocol/profiles/default.json",
                                   G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
}

typedef struct {
  const char *filename;
  const char *fragment;
} FileErrorCase;

static const FileErrorCase file_error_cases[] = {
  { "syntax-error.json", ": line 3, column 32: invalid JSON: " },
  { "wrong-type.json", ": network.allow_loopback: expected true or false, got a string" },
  { "bad-entry.json", ": network.allow_domain[1]: " },
  { "deny-star.json", ": network.deny_domain[2]: " },
  { "timeout-negative.json", ": network.approval_timeout_secs: -1 is negative" },
  { "timeout-string.json", ": network.approval_timeout_secs: expected a whole number of seconds, got a string" },
  { "bad-upstream.json", ": network.upstream_proxy: " },
  { "not-object.json", ": the top level must be a JSON object, not an array" },
  { "duplicate-key.json", ": line 4, column 22: the key \"allow_domain\" appears more than once in one object" },
};

static void
test_file_error (gconstpointer data)
{
  const FileErrorCase *test = data;
  g_autofree char *path = data_path (test->filename);
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_file (path, &error);
  g_autofree char *expected = g_strconcat (path, test->fragment, NULL);

  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, expected);
}

static void
test_deny_star_names_entry (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("deny-star.json", &error);

  g_assert_null (profile);
  assert_contains (error->message, "*");
}

static void
test_missing_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = load_data_file ("does-not-exist.json", &error);
  g_autofree char *path = data_path ("does-not-exist.json");

  g_assert_null (profile);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  assert_starts_with (error->message, path);
}

typedef struct {
  const char *json;
  const char *key;
} TypeCase;

/* One case per key: each value has the wrong JSON type for its key. */
static const TypeCase type_cases[] = {
  { "{\"meta\": \"work\"}", "meta" },
  { "{\"meta\": {\"name\": 7}}", "meta.name" },
  { "{\"network\": [\"a.example\"]}", "network" },
  { "{\"network\": {\"allow_domain\": \"a.example\"}}", "network.allow_domain" },
  { "{\"network\": {\"allow_domain\": [7]}}", "network.allow_domain[0]" },
  { "{\"network\": {\"deny_domain\": {\"a\": 1}}}", "network.deny_domain" },
  { "{\"network\": {\"deny_domain\": [\"a.example\", null]}}", "network.deny_domain[1]" },
  { "{\"network\": {\"reject_domain\": true}}", "network.reject_domain" },
  { "{\"network\": {\"reject_domain\": [[\"a.example\"]]}}", "network.reject_domain[0]" },
  { "{\"network\": {\"approval_mode\": true}}", "network.approval_mode" },
  { "{\"network\": {\"approval_mode\": \"maybe\"}}", "network.approval_mode" },
  { "{\"network\": {\"approval_timeout_secs\": \"60\"}}", "network.approval_timeout_secs" },
  { "{\"network\": {\"approval_timeout_secs\": 60.5}}", "network.approval_timeout_secs" },
  { "{\"network\": {\"approval_timeout_secs\": false}}", "network.approval_timeout_secs" },
  { "{\"network\": {\"upstream_proxy\": 3128}}", "network.upstream_proxy" },
  { "{\"network\": {\"upstream_bypass\": \"*.corp.example\"}}", "network.upstream_bypass" },
  { "{\"network\": {\"upstream_bypass\": [1]}}", "network.upstream_bypass[0]" },
  { "{\"network\": {\"allow_loopback\": \"false\"}}", "network.allow_loopback" },
  { "{\"network\": {\"allow_loopback\": 0}}", "network.allow_loopback" },
  { "{\"network\": {\"block\": \"yes\"}}", "network.block" },
};

static void
test_wrong_type (gconstpointer data)
{
  const TypeCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (test->json, -1, "inline.json", &error);
  g_autofree char *prefix = g_strconcat ("inline.json: ", test->key, ": ", NULL);

  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, prefix);
}

typedef struct {
  const char *json;
  const char *key;
} EntryCase;

static const EntryCase entry_cases[] = {
  { "{\"network\": {\"allow_domain\": [\"a.example\", \"b.example\", \"http://c.example\"]}}",
    "network.allow_domain[2]: " },
  { "{\"network\": {\"deny_domain\": [\"*\"]}}", "network.deny_domain[0]: " },
  { "{\"network\": {\"deny_domain\": [\"a.example\"], \"reject_domain\": [\"ok.example\", \"*\"]}}",
    "network.reject_domain[1]: " },
  { "{\"network\": {\"upstream_bypass\": [\"a..example\"]}}", "network.upstream_bypass[0]: " },
  { "{\"network\": {\"allow_domain\": [\"\"]}}", "network.allow_domain[0]: " },
  { "{\"network\": {\"upstream_proxy\": \"proxy.example:0\"}}", "network.upstream_proxy: " },
};

static void
test_bad_entry (gconstpointer data)
{
  const EntryCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (test->json, -1, "inline.json", &error);
  g_autofree char *prefix = g_strconcat ("inline.json: ", test->key, NULL);

  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, prefix);
}

static void
test_star_allowed_in_allow (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile =
    hg_profile_load_data ("{\"network\": {\"allow_domain\": [\"*\"]}}", -1, "inline.json", &error);

  g_assert_no_error (error);
  g_assert_cmpuint (profile->allow->len, ==, 1);
}

typedef struct {
  const char *json;
  guint expected;
} TimeoutCase;

static const TimeoutCase timeout_cases[] = {
  { "{\"network\": {\"approval_timeout_secs\": 1}}", 5 },
  { "{\"network\": {\"approval_timeout_secs\": 0}}", 5 },
  { "{\"network\": {\"approval_timeout_secs\": 5}}", 5 },
  { "{\"network\": {\"approval_timeout_secs\": 300}}", 300 },
  { "{\"network\": {\"approval_timeout_secs\": 999}}", 300 },
};

static void
test_timeout_clamp (gconstpointer data)
{
  const TimeoutCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (test->json, -1, "inline.json", &error);

  g_assert_no_error (error);
  g_assert_true (profile->approval_timeout_set);
  g_assert_cmpuint (profile->approval_timeout_secs, ==, test->expected);
}

typedef struct {
  const char *json;
  gssize length;
  const char *fragment;
} TextCase;

static const TextCase text_cases[] = {
  { "", 0, "inline.json: the file is empty" },
  { "  \n", -1, "inline.json: the file is empty" },
  { "{\"meta\": {\"name\": \"a\xff\"}}", -1, "inline.json: line 1, column 21: the file is not valid UTF-8" },
  { "{\n\"x\": 1}\0{}", 11, "inline.json: line 2, column 8: the file contains a NUL byte" },
  { "{\"network\": {\"allow_domain\": [\"a.example\\u0000.b\"]}}", -1,
    "inline.json: line 1, column 41: a string contains the escape \\u0000" },
  { "{\"network\": {\"allow_domain\": [\"a.example\",]}}", -1,
    "inline.json: line 1, column 42: invalid JSON: " },
  { "{\"a\": 1} x", -1, "inline.json: line 1, column 10: invalid JSON: " },
  { "{\"network\": {\"allow_domain\": [\"a.example\\u00zz\"]}}", -1,
    "inline.json: line 1, column 41: a string contains an invalid \\u escape" },
  { "{\"network\": {\"allow_domain\": [\"a.example\\u\"]}}", -1,
    "inline.json: line 1, column 41: a string contains an invalid \\u escape" },
  { "{\"meta\": {\"name\": \"\\ud800x\"}}", -1,
    "inline.json: line 1, column 20: a string contains a \\u escape of half a UTF-16 surrogate pair" },
  { "{\"meta\": {\"name\": \"\\ud800\\u0041\"}}", -1,
    "inline.json: line 1, column 20: a string contains a \\u escape of half a UTF-16 surrogate pair" },
  { "{\"meta\": {\"name\": \"\\udc00\"}}", -1,
    "inline.json: line 1, column 20: a string contains a \\u escape of half a UTF-16 surrogate pair" },
  { "{\"network\": {\"allow_domain\": [\"a.example\\0.b\"]}}", -1,
    "inline.json: line 1, column 41: a string contains an octal escape" },
  { "{\n  /* work */\n  \"network\": {}\n}", -1,
    "inline.json: line 2, column 3: comments are not allowed in JSON" },
  { "{'network': {}}", -1,
    "inline.json: line 1, column 2: single-quoted strings are not allowed in JSON" },
};

static void
test_bad_text (gconstpointer data)
{
  const TextCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile =
    hg_profile_load_data (test->json, test->length, "inline.json", &error);

  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, test->fragment);
}

typedef struct {
  const char *json;
  const char *fragment;  /* the message after "inline.json: " */
} DuplicateCase;

static const DuplicateCase duplicate_cases[] = {
  { "{\"network\": {\"allow_domain\": [\"a.test\"], \"allow_domain\": []}}",
    "line 1, column 59: the key \"allow_domain\" appears more than once in one object; keep only one" },
  { "{\"network\": {}, \"network\": {\"allow_loopback\": true}}",
    "line 1, column 51: the key \"network\" appears more than once in one object" },
  { "{\n  \"meta\": {\n    \"name\": \"a\",\n    \"name\": \"b\"\n  }\n}",
    "line 4, column 15: the key \"name\" appears more than once in one object" },
  { "{\"filesystem\": {\"x\": [{\"read\": 1, \"read\": 2}]}}",
    "line 1, column 43: the key \"read\" appears more than once in one object" },
  { "{\"network\": {\"deny_domain\": [], \"deny_\\u0064omain\": [\"b.test\"]}}",
    "line 1, column 62: the key \"deny_domain\" appears more than once in one object" },
};

static void
test_duplicate_key (gconstpointer data)
{
  const DuplicateCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (test->json, -1, "inline.json", &error);
  g_autofree char *expected = g_strconcat ("inline.json: ", test->fragment, NULL);

  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, expected);
}

/* A login in the upstream proxy is rejected without quoting it, since
 * it may contain a password. */
static void
test_upstream_login (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile =
    hg_profile_load_data ("{\"network\": {\"upstream_proxy\": \"user:secret@proxy.test:3128\"}}", -1,
                          "inline.json", &error);

  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message,
                      "inline.json: network.upstream_proxy: hostgate cannot log in to an upstream proxy");
  g_assert_null (strstr (error->message, "secret"));
}

/* nono's `block: true` would let the lists of the same file through if
 * it were ignored; `block: false` changes nothing. */
static void
test_block (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) blocked =
    hg_profile_load_data ("{\"network\": {\"block\": true, \"allow_domain\": [\"a.test\"]}}", -1,
                          "inline.json", &error);
  g_autoptr(HgProfile) open = NULL;

  g_assert_null (blocked);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_starts_with (error->message, "inline.json: network.block: true blocks all network access");
  g_clear_error (&error);

  open = hg_profile_load_data ("{\"network\": {\"block\": false, \"allow_domain\": [\"a.test\"]}}", -1,
                               "inline.json", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (open->allow->len, ==, 1);
}

/* One key in several objects is not a repeat. */
static void
test_same_key_other_objects (void)
{
  static const char json[] =
    "{\"meta\": {\"name\": \"a\"}, \"network\": {\"allow_domain\": [\"a.test\"]},"
    " \"other\": {\"meta\": {\"name\": \"b\"}, \"list\": [{\"name\": 1}, {\"name\": 2}]}}";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgProfile) profile = hg_profile_load_data (json, -1, "inline.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (profile);
  g_assert_cmpstr (profile->name, ==, "a");
  g_assert_cmpuint (profile->allow->len, ==, 1);
}

static char *
nested_json (guint depth)
{
  GString *json = g_string_new ("{\"x\": ");

  /* The top-level object is one level, so depth - 1 arrays follow. */
  for (guint i = 1; i < depth; i++)
    g_string_append_c (json, '[');
  for (guint i = 1; i < depth; i++)
    g_string_append_c (json, ']');
  g_string_append_c (json, '}');

  return g_string_free (json, FALSE);
}

static void
test_depth_limit (void)
{
  g_autofree char *at_limit = nested_json (64);
  g_autofree char *over_limit = nested_json (65);
  g_autoptr(HgProfile) accepted = NULL;
  g_autoptr(HgProfile) rejected = NULL;
  g_autoptr(GError) error = NULL;

  accepted = hg_profile_load_data (at_limit, -1, "inline.json", &error);
  g_assert_no_error (error);
  g_assert_nonnull (accepted);

  rejected = hg_profile_load_data (over_limit, -1, "inline.json", &error);
  g_assert_null (rejected);
  assert_invalid (error, "inline.json: line 1, column 70: ", "nested more than 64 levels");
}

static void
test_depth_ignores_strings (void)
{
  g_autoptr(GString) json = g_string_new ("{\"x\": \"");
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 100; i++)
    g_string_append (json, "[{\\\"\\u0041");
  g_string_append (json, "\"}");

  profile = hg_profile_load_data (json->str, -1, "inline.json", &error);
  g_assert_no_error (error);
  g_assert_nonnull (profile);
}

/* json-glib would read the quote after "\u12" as part of the escape, so
 * a short escape must be rejected before brackets are counted. */
static void
test_short_escape_swallows_quote (void)
{
  g_autoptr(GString) json = g_string_new ("{\"x\": [\"\\u12\",\" , ");
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 100; i++)
    g_string_append_c (json, '[');

  profile = hg_profile_load_data (json->str, -1, "inline.json", &error);
  g_assert_null (profile);
  assert_invalid (error, "inline.json: line 1, column 9: ", "invalid \\u escape");
}

/* Found by fuzzing: a short "\u" escape followed by a multi-byte character
 * made json-glib store a string that is not valid UTF-8. */
static void
test_short_escape_before_utf8 (void)
{
  static const char json[] = "{\"meta\": {\"name\": \"b\\u00f\xEF\xBB\xBF\"}}";
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  profile = hg_profile_load_data (json, -1, "inline.json", &error);
  g_assert_null (profile);
  assert_invalid (error, "inline.json: line 1, column 21: ", "invalid \\u escape");
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

/* Found by fuzzing: json-glib's syntax error quotes the start of a long
 * string token and can cut a multi-byte character in half. */
static void
test_syntax_error_utf8 (void)
{
  static const char json[] =
    "{\"network\": {\"allow_domain\": [\"00000000000000000000000000000000000\xEF\xBD\xA1\" \"a\"]}}";
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  profile = hg_profile_load_data (json, -1, "inline.json", &error);
  g_assert_null (profile);
  assert_invalid (error, "inline.json: line 1, column ", "invalid JSON: ");
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

static void
test_surrogate_pair (void)
{
  static const char json[] = "{\"meta\": {\"name\": \"\\ud83d\\ude00\"}}";
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  profile = hg_profile_load_data (json, -1, "inline.json", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->name, ==, "\xF0\x9F\x98\x80");
}

static void
test_oversized_data (void)
{
  gsize length = HG_PROFILE_MAX_SIZE + 1;
  g_autofree char *data = g_malloc (length);
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  memset (data, ' ', length);
  profile = hg_profile_load_data (data, length, "inline.json", &error);

  g_assert_null (profile);
  assert_invalid (error, "inline.json: ", "over the limit of 16 MiB");
}

static void
test_oversized_file (void)
{
  g_autofree char *path = g_build_filename (g_get_user_config_dir (), "big.json", NULL);
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  g_assert_no_errno (g_mkdir_with_parents (g_get_user_config_dir (), 0700));
  fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  /* A sparse file: the loader must reject it from its size alone. */
  g_assert_no_errno (ftruncate (fd, HG_PROFILE_MAX_SIZE + 1));
  g_assert_true (g_close (fd, NULL));

  profile = hg_profile_load_file (path, &error);
  g_assert_null (profile);
  assert_invalid (error, path, "over the limit of 16 MiB for a profile");
}

static void
test_not_regular_file (void)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_no_errno (g_mkdir_with_parents (g_get_user_config_dir (), 0700));
  profile = hg_profile_load_file (g_get_user_config_dir (), &error);
  g_assert_null (profile);
  assert_invalid (error, g_get_user_config_dir (), "not a regular file");
}

static void
write_profile (const char *name,
               const char *contents)
{
  g_autofree char *path = hg_profile_get_path (name);
  g_autofree char *folder = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_no_errno (g_mkdir_with_parents (folder, 0700));
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
test_get_path (void)
{
  g_autofree char *path = hg_profile_get_path ("work");
  g_autofree char *expected =
    g_build_filename (g_get_user_config_dir (), "hostgate", "profiles", "work.json", NULL);
  g_autofree char *invalid = hg_profile_get_path ("../x");

  g_assert_cmpstr (path, ==, expected);
  g_assert_null (invalid);
}

static void
test_named_file (void)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  write_profile ("work", "{\"meta\": {\"name\": \"copied\"}, \"network\": {\"allow_domain\": [\"a.example\"]}}");
  path = hg_profile_get_path ("work");

  profile = hg_profile_load_named ("work", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->name, ==, "work");
  g_assert_cmpstr (profile->path, ==, path);
  g_assert_cmpuint (profile->allow->len, ==, 1);
}

static void
test_named_missing (void)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = hg_profile_get_path ("nothere");

  profile = hg_profile_load_named ("nothere", &error);
  g_assert_null (profile);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  assert_contains (error->message, path);
  assert_contains (error->message, "Create that file");
}

static void
test_named_invalid_file (void)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = hg_profile_get_path ("broken");

  write_profile ("broken", "{\"network\": {\"deny_domain\": [\"*\"]}}");

  profile = hg_profile_load_named ("broken", &error);
  g_assert_null (profile);
  assert_invalid (error, path, ": network.deny_domain[0]: ");
}

static void
test_named_default_builtin (void)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = hg_profile_get_path ("default");

  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  profile = hg_profile_load_named ("default", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->name, ==, "default");
  g_assert_null (profile->path);
}

static void
test_named_default_on_disk (void)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  write_profile ("default", "{\"network\": {\"allow_domain\": [\"a.example\"]}}");
  path = hg_profile_get_path ("default");

  profile = hg_profile_load_named ("default", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (profile->name, ==, "default");
  g_assert_cmpstr (profile->path, ==, path);
  g_assert_cmpuint (profile->allow->len, ==, 1);

  g_assert_no_errno (g_unlink (path));
}

static const char *const invalid_names[] = {
  "../x", "", "a/b", "x..y", ".hidden", "-x", "_x", "a b", "a\\b", "wörk",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

static const char *const valid_names[] = {
  "work", "a", "0", "my-profile_2.test",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

static void
test_name_invalid (gconstpointer data)
{
  const char *name = data;
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (hg_profile_name_is_valid (name));

  profile = hg_profile_load_named (name, &error);
  g_assert_null (profile);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
  assert_contains (error->message, "is not a valid profile name");
}

static void
test_name_valid (gconstpointer data)
{
  g_assert_true (hg_profile_name_is_valid (data));
}

static void
test_approval_mode_strings (void)
{
  HgApprovalMode mode = HG_APPROVAL_OFF;

  g_assert_cmpstr (hg_approval_mode_to_string (HG_APPROVAL_OFF), ==, "off");
  g_assert_cmpstr (hg_approval_mode_to_string (HG_APPROVAL_ASK), ==, "ask");
  g_assert_true (hg_approval_mode_from_string ("ask", &mode));
  g_assert_cmpint (mode, ==, HG_APPROVAL_ASK);
  g_assert_true (hg_approval_mode_from_string ("off", &mode));
  g_assert_cmpint (mode, ==, HG_APPROVAL_OFF);
  g_assert_false (hg_approval_mode_from_string ("ASK", &mode));
  g_assert_false (hg_approval_mode_from_string ("", &mode));
  g_assert_false (hg_approval_mode_from_string (NULL, &mode));
}

typedef struct {
  const char *flag_mode;
  const char *flag_timeout;
  const char *env_mode;
  const char *env_timeout;
  gboolean profile_mode_set;
  HgApprovalMode profile_mode;
  gboolean profile_timeout_set;
  guint profile_timeout;
  HgApprovalMode expected_mode;
  guint expected_timeout;
} PrecedenceCase;

static const PrecedenceCase precedence_default = {
  NULL, NULL, NULL, NULL, FALSE, HG_APPROVAL_OFF, FALSE, 0, HG_APPROVAL_OFF, 60,
};
static const PrecedenceCase precedence_profile = {
  NULL, NULL, NULL, NULL, TRUE, HG_APPROVAL_ASK, TRUE, 120, HG_APPROVAL_ASK, 120,
};
/* The profile's fields hold values, but the keys were absent from the file. */
static const PrecedenceCase precedence_unset_profile_key = {
  NULL, NULL, NULL, NULL, FALSE, HG_APPROVAL_ASK, FALSE, 120, HG_APPROVAL_OFF, 60,
};
static const PrecedenceCase precedence_env = {
  NULL, NULL, "off", "30", TRUE, HG_APPROVAL_ASK, TRUE, 120, HG_APPROVAL_OFF, 30,
};
static const PrecedenceCase precedence_env_empty = {
  NULL, NULL, "", "", TRUE, HG_APPROVAL_ASK, TRUE, 120, HG_APPROVAL_ASK, 120,
};
static const PrecedenceCase precedence_flag = {
  "ask", "200", "off", "30", TRUE, HG_APPROVAL_OFF, TRUE, 120, HG_APPROVAL_ASK, 200,
};
static const PrecedenceCase precedence_per_key = {
  "ask", NULL, NULL, "30", FALSE, HG_APPROVAL_OFF, TRUE, 120, HG_APPROVAL_ASK, 30,
};
static const PrecedenceCase precedence_flag_low = {
  NULL, "1", NULL, NULL, FALSE, HG_APPROVAL_OFF, FALSE, 0, HG_APPROVAL_OFF, 5,
};
static const PrecedenceCase precedence_flag_high = {
  NULL, "999999999999999999999999", NULL, NULL, FALSE, HG_APPROVAL_OFF, FALSE, 0, HG_APPROVAL_OFF, 300,
};
static const PrecedenceCase precedence_env_low = {
  NULL, NULL, NULL, "0", FALSE, HG_APPROVAL_OFF, FALSE, 0, HG_APPROVAL_OFF, 5,
};
static const PrecedenceCase precedence_profile_high = {
  NULL, NULL, NULL, NULL, FALSE, HG_APPROVAL_OFF, TRUE, 1000, HG_APPROVAL_OFF, 300,
};

static char **
build_environ (const char *mode,
               const char *timeout)
{
  char **envp = g_new0 (char *, 1);

  envp = g_environ_setenv (envp, "HOME", "/nonexistent", TRUE);
  if (mode != NULL)
    envp = g_environ_setenv (envp, "HOSTGATE_NETWORK_APPROVAL", mode, TRUE);
  if (timeout != NULL)
    envp = g_environ_setenv (envp, "HOSTGATE_APPROVAL_TIMEOUT", timeout, TRUE);

  return envp;
}

static void
test_precedence (gconstpointer data)
{
  const PrecedenceCase *test = data;
  HgSettingsFlags flags = { test->flag_mode, test->flag_timeout };
  g_auto(GStrv) envp = build_environ (test->env_mode, test->env_timeout);
  g_autoptr(HgProfile) profile = hg_profile_load_data ("{}", -1, "inline.json", NULL);
  HgSettings settings = { HG_APPROVAL_OFF, 0 };
  g_autoptr(GError) error = NULL;

  profile->approval_mode_set = test->profile_mode_set;
  profile->approval_mode = test->profile_mode;
  profile->approval_timeout_set = test->profile_timeout_set;
  profile->approval_timeout_secs = test->profile_timeout;

  g_assert_true (hg_settings_resolve (&flags, (const char * const *) envp, profile, &settings, &error));
  g_assert_no_error (error);
  g_assert_cmpint (settings.approval_mode, ==, test->expected_mode);
  g_assert_cmpuint (settings.approval_timeout_secs, ==, test->expected_timeout);
}

static void
test_settings_no_sources (void)
{
  HgSettings settings = { HG_APPROVAL_ASK, 0 };
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_settings_resolve (NULL, NULL, NULL, &settings, &error));
  g_assert_no_error (error);
  g_assert_cmpint (settings.approval_mode, ==, HG_APPROVAL_OFF);
  g_assert_cmpuint (settings.approval_timeout_secs, ==, HG_APPROVAL_TIMEOUT_DEFAULT);
}

typedef struct {
  const char *flag_mode;
  const char *flag_timeout;
  const char *env_mode;
  const char *env_timeout;
  const char *message;
} SettingErrorCase;

static const SettingErrorCase setting_mode_flag = {
  "maybe", NULL, NULL, NULL, "--network-approval: “maybe” is not an approval mode",
};
static const SettingErrorCase setting_mode_env = {
  NULL, NULL, "ASK", NULL, "HOSTGATE_NETWORK_APPROVAL: “ASK” is not an approval mode",
};
static const SettingErrorCase setting_timeout_flag_negative = {
  NULL, "-1", NULL, NULL, "--approval-timeout: “-1” is not a valid timeout",
};
static const SettingErrorCase setting_timeout_flag_empty = {
  NULL, "", NULL, NULL, "--approval-timeout: “” is not a valid timeout",
};
static const SettingErrorCase setting_timeout_flag_unit = {
  NULL, "60s", NULL, "30", "--approval-timeout: “60s” is not a valid timeout",
};
static const SettingErrorCase setting_timeout_env = {
  NULL, NULL, NULL, " 60", "HOSTGATE_APPROVAL_TIMEOUT: “ 60” is not a valid timeout",
};

static void
test_setting_error (gconstpointer data)
{
  const SettingErrorCase *test = data;
  HgSettingsFlags flags = { test->flag_mode, test->flag_timeout };
  g_auto(GStrv) envp = build_environ (test->env_mode, test->env_timeout);
  HgSettings settings = { HG_APPROVAL_ASK, 7 };
  g_autoptr(GError) error = NULL;

  g_assert_false (hg_settings_resolve (&flags, (const char * const *) envp, NULL, &settings, &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING);
  assert_starts_with (error->message, test->message);
  g_assert_cmpint (settings.approval_mode, ==, HG_APPROVAL_ASK);
  g_assert_cmpuint (settings.approval_timeout_secs, ==, 7);
}

static void
add_indexed_cases (const char    *prefix,
                   gsize          count,
                   gsize          size,
                   gconstpointer  cases,
                   GTestDataFunc  func)
{
  for (gsize i = 0; i < count; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%" G_GSIZE_FORMAT, prefix, i);
      g_test_add_data_func (path, (const char *) cases + i * size, func);
    }
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *child;

  while (dir != NULL && (child = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child_path = g_build_filename (path, child, NULL);

      if (g_file_test (child_path, G_FILE_TEST_IS_DIR) &&
          !g_file_test (child_path, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child_path);
      else
        g_unlink (child_path);
    }

  g_rmdir (path);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *config_home = NULL;
  int status;

  /* A private XDG_CONFIG_HOME for the named-profile tests, set before
   * anything reads it. G_TEST_OPTION_ISOLATE_DIRS would give one per test,
   * but GLib 2.74's g_set_user_dirs() leaks the strings it replaces, which
   * fails the test under LeakSanitizer. */
  config_home = g_dir_make_tmp ("test-profile-XXXXXX", NULL);
  g_assert_nonnull (config_home);
  g_setenv ("XDG_CONFIG_HOME", config_home, TRUE);

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/profile/load/valid", test_load_valid);
  g_test_add_func ("/profile/load/nono", test_load_nono);
  g_test_add_func ("/profile/load/no-network", test_load_no_network);
  g_test_add_func ("/profile/load/null-members", test_load_null_members);
  g_test_add_func ("/profile/load/name-from-file", test_load_name_from_file);
  g_test_add_func ("/profile/load/byte-order-mark", test_load_byte_order_mark);
  g_test_add_func ("/profile/reject-domain", test_reject_domain);
  g_test_add_func ("/profile/build/allow", test_build_allow);
  g_test_add_func ("/profile/default/builtin", test_default_builtin);

  for (gsize i = 0; i < G_N_ELEMENTS (file_error_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/profile/file-error/", file_error_cases[i].filename, NULL);
      g_test_add_data_func (path, &file_error_cases[i], test_file_error);
    }
  g_test_add_func ("/profile/file-error/deny-star-message", test_deny_star_names_entry);
  g_test_add_func ("/profile/file-error/missing", test_missing_file);

  for (gsize i = 0; i < G_N_ELEMENTS (type_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/profile/wrong-type/%s/%" G_GSIZE_FORMAT,
                                               type_cases[i].key, i);
      g_test_add_data_func (path, &type_cases[i], test_wrong_type);
    }

  add_indexed_cases ("/profile/bad-entry", G_N_ELEMENTS (entry_cases), sizeof (EntryCase),
                     entry_cases, test_bad_entry);
  g_test_add_func ("/profile/star/allow", test_star_allowed_in_allow);
  add_indexed_cases ("/profile/timeout/clamp", G_N_ELEMENTS (timeout_cases), sizeof (TimeoutCase),
                     timeout_cases, test_timeout_clamp);
  add_indexed_cases ("/profile/bad-text", G_N_ELEMENTS (text_cases), sizeof (TextCase),
                     text_cases, test_bad_text);
  add_indexed_cases ("/profile/duplicate-key", G_N_ELEMENTS (duplicate_cases), sizeof (DuplicateCase),
                     duplicate_cases, test_duplicate_key);
  g_test_add_func ("/profile/duplicate-key/other-objects", test_same_key_other_objects);
  g_test_add_func ("/profile/block", test_block);
  g_test_add_func ("/profile/upstream-login", test_upstream_login);
  g_test_add_func ("/profile/depth/limit", test_depth_limit);
  g_test_add_func ("/profile/depth/strings", test_depth_ignores_strings);
  g_test_add_func ("/profile/escape/swallowed-quote", test_short_escape_swallows_quote);
  g_test_add_func ("/profile/escape/before-utf8", test_short_escape_before_utf8);
  g_test_add_func ("/profile/escape/surrogate-pair", test_surrogate_pair);
  g_test_add_func ("/profile/syntax-error/utf8", test_syntax_error_utf8);
  g_test_add_func ("/profile/size/data", test_oversized_data);
  g_test_add_func ("/profile/size/file", test_oversized_file);
  g_test_add_func ("/profile/not-regular-file", test_not_regular_file);

  g_test_add_func ("/profile/named/path", test_get_path);
  g_test_add_func ("/profile/named/file", test_named_file);
  g_test_add_func ("/profile/named/missing", test_named_missing);
  g_test_add_func ("/profile/named/invalid-file", test_named_invalid_file);
  g_test_add_func ("/profile/named/default-builtin", test_named_default_builtin);
  g_test_add_func ("/profile/named/default-on-disk", test_named_default_on_disk);
  for (gsize i = 0; i < G_N_ELEMENTS (invalid_names); i++)
    {
      g_autofree char *path = g_strdup_printf ("/profile/name/invalid/%" G_GSIZE_FORMAT, i);
      g_test_add_data_func (path, invalid_names[i], test_name_invalid);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (valid_names); i++)
    {
      g_autofree char *path = g_strdup_printf ("/profile/name/valid/%" G_GSIZE_FORMAT, i);
      g_test_add_data_func (path, valid_names[i], test_name_valid);
    }

  g_test_add_func ("/settings/mode-strings", test_approval_mode_strings);
  g_test_add_func ("/settings/no-sources", test_settings_no_sources);
  g_test_add_data_func ("/settings/precedence/default", &precedence_default, test_precedence);
  g_test_add_data_func ("/settings/precedence/profile", &precedence_profile, test_precedence);
  g_test_add_data_func ("/settings/precedence/unset-profile-key", &precedence_unset_profile_key, test_precedence);
  g_test_add_data_func ("/settings/precedence/env", &precedence_env, test_precedence);
  g_test_add_data_func ("/settings/precedence/env-empty", &precedence_env_empty, test_precedence);
  g_test_add_data_func ("/settings/precedence/flag", &precedence_flag, test_precedence);
  g_test_add_data_func ("/settings/precedence/per-key", &precedence_per_key, test_precedence);
  g_test_add_data_func ("/settings/clamp/flag-low", &precedence_flag_low, test_precedence);
  g_test_add_data_func ("/settings/clamp/flag-high", &precedence_flag_high, test_precedence);
  g_test_add_data_func ("/settings/clamp/env-low", &precedence_env_low, test_precedence);
  g_test_add_data_func ("/settings/clamp/profile-high", &precedence_profile_high, test_precedence);
  g_test_add_data_func ("/settings/error/mode-flag", &setting_mode_flag, test_setting_error);
  g_test_add_data_func ("/settings/error/mode-env", &setting_mode_env, test_setting_error);
  g_test_add_data_func ("/settings/error/timeout-negative", &setting_timeout_flag_negative, test_setting_error);
  g_test_add_data_func ("/settings/error/timeout-empty", &setting_timeout_flag_empty, test_setting_error);
  g_test_add_data_func ("/settings/error/timeout-unit", &setting_timeout_flag_unit, test_setting_error);
  g_test_add_data_func ("/settings/error/timeout-env", &setting_timeout_env, test_setting_error);

  status = g_test_run ();
  remove_tree (config_home);

  return status;
}
