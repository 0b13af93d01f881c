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
  { "/pattern-list/parse/repeats", "a.example\nA.example\na.example.\n", ALLOW,
    { "a.example", "a.example", "a.example", NULL }, { 0 } },
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

/* Returns the one line of the report on @text, which must contain a
 * single rejected line, and that rejection's full message. */
static char *
describe_one (const char  *text,
              gssize       length,
              char       **message)
{
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  HgPatternListRejection *rejection;

  hg_pattern_list_parse (text, length, ALLOW, &valid, &rejected);
  g_assert_cmpuint (rejected->len, ==, 1);
  rejection = rejected->pdata[0];
  *message = g_strdup (rejection->message);
  return hg_pattern_list_describe_rejections (rejected, 10);
}

static void
test_describe_long_entry (void)
{
  g_autofree char *padding = g_strnfill (300, 'x');
  g_autofree char *text = g_strconcat ("bad..example", padding, "\n", NULL);
  g_autofree char *message = NULL;
  g_autofree char *report = describe_one (text, -1, &message);

  /* The parser's own message quotes 200 characters and "…". The report
   * keeps the first 24 and the last 12 of them, and the whole reason. */
  g_assert_cmpint (g_utf8_strlen (message, -1), >, 200);
  g_assert_cmpstr (report, ==,
                   "Line 1: Invalid list entry “bad..examplexxxxxxxxxxxx…xxxxxxxxxxx…”: "
                   "a host cannot contain an empty label (“..”)");
}

static void
test_describe_short_entry (void)
{
  g_autofree char *message = NULL;
  g_autofree char *report = describe_one ("b..x\n", -1, &message);
  g_autofree char *expected = g_strconcat ("Line 1: ", message, NULL);

  g_assert_cmpstr (report, ==, expected);
}

/* Entries whose reason contains a closing quote and a colon, as “%”:
 * does, or that contain them themselves. The whole reason must survive
 * the cut. */
static void
test_describe_quotes_in_reason (void)
{
  const char *entries[] = {
    "a”: b..example.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    "host%25zone.example.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
  };

  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      g_autofree char *text = g_strconcat (entries[i], "\n", NULL);
      g_autofree char *quoted = g_strconcat ("Invalid list entry “", entries[i], "”: ", NULL);
      g_autofree char *message = NULL;
      g_autofree char *report = describe_one (text, -1, &message);
      const char *reason;

      g_test_message ("entry %s", entries[i]);
      g_assert_true (g_str_has_prefix (message, quoted));
      reason = message + strlen (quoted) - strlen ("”: ");

      g_assert_true (g_str_has_prefix (report, "Line 1: Invalid list entry “"));
      g_assert_true (g_str_has_suffix (report, reason));
      g_assert_nonnull (strstr (report, "…"));
      g_assert_cmpint (g_utf8_strlen (report, -1), <, g_utf8_strlen (message, -1));
    }
}

/* An entry with user information is quoted without it, which the
 * report does not match, so the message is kept whole and the password
 * stays out. */
static void
test_describe_user_information (void)
{
  g_autofree char *padding = g_strnfill (80, 'z');
  g_autofree char *text = g_strconcat ("user:secret@host.", padding, ".example\n", NULL);
  g_autofree char *message = NULL;
  g_autofree char *report = describe_one (text, -1, &message);
  g_autofree char *expected = g_strconcat ("Line 1: ", message, NULL);

  g_assert_true (g_str_has_prefix (message, "Invalid list entry “…@host."));
  g_assert_null (strstr (message, "secret"));
  g_assert_cmpstr (report, ==, expected);
}

/* An entry with a control character is quoted in escaped form, which
 * the report does not match, so the message is kept whole. */
static void
test_describe_escaped_entry (void)
{
  g_autofree char *padding = g_strnfill (80, 'z');
  g_autofree char *text = g_strconcat ("a\tb..", padding, "\n", NULL);
  g_autofree char *message = NULL;
  g_autofree char *report = describe_one (text, -1, &message);
  g_autofree char *expected = g_strconcat ("Line 1: ", message, NULL);

  g_assert_nonnull (strstr (message, "\\t"));
  g_assert_cmpstr (report, ==, expected);
}

/* A message that quotes no entry, such as the one for a NUL byte, is
 * reported as it is. */
static void
test_describe_other_message (void)
{
  static const char text[] = "b.ex\0ample\n";
  g_autofree char *message = NULL;
  g_autofree char *report = describe_one (text, sizeof text - 1, &message);
  g_autofree char *expected = g_strconcat ("Line 1: ", message, NULL);

  g_assert_cmpstr (report, ==, expected);
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
  g_test_add_func ("/pattern-list/describe/long-entry", test_describe_long_entry);
  g_test_add_func ("/pattern-list/describe/short-entry", test_describe_short_entry);
  g_test_add_func ("/pattern-list/describe/quotes-in-reason", test_describe_quotes_in_reason);
  g_test_add_func ("/pattern-list/describe/escaped-entry", test_describe_escaped_entry);
  g_test_add_func ("/pattern-list/describe/user-information", test_describe_user_information);
  g_test_add_func ("/pattern-list/describe/other-message", test_describe_other_message);

  return g_test_run ();
}
