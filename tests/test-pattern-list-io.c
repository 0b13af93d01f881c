/* test-pattern-list-io.c: plain-text pattern lists
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "hg-pattern-list-io.h"

#define ALLOW HG_PATTERN_FLAG_NONE
#define DENY HG_PATTERN_FLAG_DENY

/* Each case lists the valid entries expected and the line numbers
 * expected in the rejection report, each list ending with NULL or 0. */
typedef struct {
  const char *path;
  const char *text;
  HgPatternFlags flags;
  const char *valid[6];
  guint rejected[6];
} ParseCase;

static const ParseCase parse_cases[] = {
  { "/pattern-list/parse/empty", "", ALLOW, { NULL }, { 0 } },
  { "/pattern-list/parse/one", "example.com", ALLOW, { "example.com", NULL }, { 0 } },
  { "/pattern-list/parse/lines", "a.example\nb.example\n", ALLOW,
    { "a.example", "b.example", NULL }, { 0 } },
  { "/pattern-list/parse/crlf", "a.example\r\nb.example\r\n", ALLOW,
    { "a.example", "b.example", NULL }, { 0 } },
  { "/pattern-list/parse/blank-lines", "\n\n  \t\na.example\n\n", ALLOW,
    { "a.example", NULL }, { 0 } },
  { "/pattern-list/parse/comment-line", "# trackers\n  # indented\na.example\n", ALLOW,
    { "a.example", NULL }, { 0 } },
  { "/pattern-list/parse/comment-after", "a.example # the API\nb.example#x\n", ALLOW,
    { "a.example", "b.example", NULL }, { 0 } },
  { "/pattern-list/parse/blanks-around", "  a.example  \n\t*.b.example\t\n", ALLOW,
    { "a.example", "*.b.example", NULL }, { 0 } },
  { "/pattern-list/parse/canonical", "API.Example.COM.\n[2001:DB8::1]:443\n", ALLOW,
    { "api.example.com", "[2001:db8::1]:443", NULL }, { 0 } },
  { "/pattern-list/parse/duplicates", "a.example\nA.example\na.example.\n", ALLOW,
    { "a.example", NULL }, { 0 } },
  { "/pattern-list/parse/rejected-lines", "a.example\nb..example\n# c\nhttp://c.example\nd.example\n", ALLOW,
    { "a.example", "d.example", NULL }, { 2, 4, 0 } },
  { "/pattern-list/parse/star-allow", "*\n", ALLOW, { "*", NULL }, { 0 } },
  { "/pattern-list/parse/star-deny", "a.example\n*\n", DENY, { "a.example", NULL }, { 2, 0 } },
  { "/pattern-list/parse/cidr-deny", "10.0.0.0/8\n10.0.0.1/8\n", DENY, { "10.0.0.0/8", NULL }, { 2, 0 } },
  { "/pattern-list/parse/no-final-newline", "a.example\nbad entry", ALLOW,
    { "a.example", NULL }, { 2, 0 } },
  { "/pattern-list/parse/only-comments", "# nothing\n#\n", ALLOW, { NULL }, { 0 } },
  { "/pattern-list/parse/invalid-utf8", "a.example\n\xff\xfe.example\n", ALLOW,
    { "a.example", NULL }, { 2, 0 } },
};

static void
test_parse (gconstpointer data)
{
  const ParseCase *c = data;
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  guint n_rejected = 0;

  hg_pattern_list_parse (c->text, -1, c->flags, &valid, &rejected);

  g_assert_nonnull (valid);
  g_assert_nonnull (rejected);
  g_assert_cmpstrv (valid, c->valid);

  while (c->rejected[n_rejected] != 0)
    n_rejected++;
  g_assert_cmpuint (rejected->len, ==, n_rejected);

  for (guint i = 0; i < rejected->len; i++)
    {
      HgPatternListRejection *rejection = rejected->pdata[i];

      g_assert_cmpuint (rejection->line, ==, c->rejected[i]);
      g_assert_true (g_utf8_validate (rejection->text, -1, NULL));
      g_assert_nonnull (rejection->message);
      g_assert_cmpstr (rejection->message, !=, "");
    }
}

static void
test_parse_rejection_text (void)
{
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  HgPatternListRejection *rejection;

  hg_pattern_list_parse ("  a*.example   # wildcard in the middle\n", -1, ALLOW, &valid, &rejected);

  g_assert_cmpuint (rejected->len, ==, 1);
  rejection = rejected->pdata[0];
  g_assert_cmpuint (rejection->line, ==, 1);
  g_assert_cmpstr (rejection->text, ==, "a*.example");
  g_assert_nonnull (strstr (rejection->message, "a*.example"));
}

static void
test_parse_nul_byte (void)
{
  static const char text[] = "a.example\nb.ex\0ample\nc.example\n";
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  const char *expected[] = { "a.example", "c.example", NULL };
  HgPatternListRejection *rejection;

  hg_pattern_list_parse (text, sizeof text - 1, ALLOW, &valid, &rejected);

  g_assert_cmpstrv (valid, expected);
  g_assert_cmpuint (rejected->len, ==, 1);
  rejection = rejected->pdata[0];
  g_assert_cmpuint (rejection->line, ==, 2);
}

static void
test_parse_length (void)
{
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  const char *expected[] = { "a.example", NULL };

  /* Only the first line lies within the length given. */
  hg_pattern_list_parse ("a.example\nb..example\n", 10, ALLOW, &valid, &rejected);

  g_assert_cmpstrv (valid, expected);
  g_assert_cmpuint (rejected->len, ==, 0);
}

static void
test_format_round_trip (void)
{
  const char *entries[] = { "a.example", "*.b.example", "[2001:db8::1]:443", "10.0.0.0/8", NULL };
  g_autofree char *text = hg_pattern_list_format (entries, "allow list of “work”\nsecond line");
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;

  g_assert_true (g_str_has_prefix (text, "# allow list of “work”\n# second line\na.example\n"));
  g_assert_true (g_str_has_suffix (text, "10.0.0.0/8\n"));

  hg_pattern_list_parse (text, -1, DENY, &valid, &rejected);
  g_assert_cmpstrv (valid, entries);
  g_assert_cmpuint (rejected->len, ==, 0);
}

static void
test_format_empty (void)
{
  const char *entries[] = { NULL };
  g_autofree char *text = hg_pattern_list_format (entries, NULL);

  g_assert_cmpstr (text, ==, "");
}

static void
test_describe (void)
{
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autofree char *report = NULL;
  g_autofree char *empty = NULL;
  g_auto(GStrv) lines = NULL;

  hg_pattern_list_parse ("ok.example\nb..x\nc..x\nd..x\ne..x\n", -1, ALLOW, &valid, &rejected);
  g_assert_cmpuint (rejected->len, ==, 4);

  report = hg_pattern_list_describe_rejections (rejected, 2);
  lines = g_strsplit (report, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_true (g_str_has_prefix (lines[0], "Line 2: "));
  g_assert_true (g_str_has_prefix (lines[1], "Line 3: "));
  g_assert_cmpstr (lines[2], ==, "…and 2 more lines");

  g_ptr_array_set_size (rejected, 0);
  empty = hg_pattern_list_describe_rejections (rejected, 2);
  g_assert_cmpstr (empty, ==, "");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    g_test_add_data_func (parse_cases[i].path, &parse_cases[i], test_parse);

  g_test_add_func ("/pattern-list/parse/rejection-text", test_parse_rejection_text);
  g_test_add_func ("/pattern-list/parse/nul-byte", test_parse_nul_byte);
  g_test_add_func ("/pattern-list/parse/length", test_parse_length);
  g_test_add_func ("/pattern-list/format/round-trip", test_format_round_trip);
  g_test_add_func ("/pattern-list/format/empty", test_format_empty);
  g_test_add_func ("/pattern-list/describe", test_describe);

  return g_test_run ();
}
