/* test-options.c: the command line of hostgate-proxy and the audit format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-audit.h"
#include "hg-options.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

typedef struct {
  const char *path;
  const char *text;
  const char *formatted;  /* NULL when the text is invalid */
} ListenCase;

static const ListenCase listen_cases[] = {
  { "/options/listen/ipv4", "127.0.0.1:8080", "127.0.0.1:8080" },
  { "/options/listen/port-zero", "127.0.0.1:0", "127.0.0.1:0" },
  { "/options/listen/ipv6", "[::1]:8080", "[::1]:8080" },
  { "/options/listen/any", "0.0.0.0:3128", "0.0.0.0:3128" },
  { "/options/listen/name", "localhost:8080", NULL },
  { "/options/listen/no-port", "127.0.0.1", NULL },
  { "/options/listen/empty-port", "127.0.0.1:", NULL },
  { "/options/listen/big-port", "127.0.0.1:65536", NULL },
  { "/options/listen/signed-port", "127.0.0.1:+80", NULL },
  { "/options/listen/bare-ipv6", "::1:8080", NULL },
  { "/options/listen/empty", "", NULL },
  { "/options/listen/colon", ":8080", NULL },
};

static void
test_listen (gconstpointer data)
{
  const ListenCase *test = data;
  g_autoptr(GInetSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *formatted = NULL;
  gboolean ok;

  ok = hg_parse_listen_address (test->text, &address, &error);
  if (test->formatted == NULL)
    {
      g_assert_false (ok);
      g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
      g_assert_nonnull (strstr (error->message, test->text));
      return;
    }

  g_assert_no_error (error);
  g_assert_true (ok);
  formatted = hg_socket_address_to_string (G_SOCKET_ADDRESS (address));
  g_assert_cmpstr (formatted, ==, test->formatted);
}

typedef struct {
  const char *path;
  const char *text;
  gboolean valid;
  guint64 size;
  const char *message;    /* part of the error message, or NULL */
} SizeCase;

static const SizeCase size_cases[] = {
  { "/options/size/bytes", "1000", TRUE, 1000 },
  { "/options/size/zero", "0", TRUE, 0 },
  { "/options/size/kib", "4K", TRUE, 4096 },
  { "/options/size/mib-lower", "16m", TRUE, 16 * 1024 * 1024 },
  { "/options/size/gib", "2G", TRUE, G_GUINT64_CONSTANT (2) << 30 },
  { "/options/size/unknown-suffix", "12Q", FALSE, 0 },
  { "/options/size/suffix-only", "K", FALSE, 0 },
  { "/options/size/negative", "-1", FALSE, 0 },
  { "/options/size/space", "1 K", FALSE, 0 },
  { "/options/size/empty", "", FALSE, 0 },
  { "/options/size/overflow", "99999999999999999999G", FALSE, 0, "too large" },
  { "/options/size/overflow-suffix", "99999999999G", FALSE, 0, "too large" },
  { "/options/size/invalid-named", "20x", FALSE, 0, "Invalid size “20x”" },
};

static void
test_size (gconstpointer data)
{
  const SizeCase *test = data;
  g_autoptr(GError) error = NULL;
  guint64 size = 0;
  gboolean ok;

  ok = hg_parse_size (test->text, &size, &error);
  g_assert_cmpint (ok, ==, test->valid);
  if (!test->valid)
    {
      g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
      if (test->message != NULL)
        g_assert_nonnull (strstr (error->message, test->message));
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, test->size);
}

/* Parses @args (NULL-terminated, without the program name) with
 * XDG_CONFIG_HOME pointing at an empty folder, so only the built-in
 * default profile exists. */
static HgOptions *
parse (const char * const *envp,
       GError            **error,
       ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autofree char **argv = NULL;
  int argc;
  va_list list;
  const char *arg;

  g_ptr_array_add (args, (gpointer) "hostgate-proxy");
  va_start (list, error);
  while ((arg = va_arg (list, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) arg);
  va_end (list);
  g_ptr_array_add (args, NULL);

  argc = (int) args->len - 1;
  argv = (char **) g_ptr_array_free (g_steal_pointer (&args), FALSE);

  return hg_options_parse (&argc, &argv, envp, error);
}

static void
test_defaults (void)
{
  const char *envp[] = { "HOSTGATE_PROXY_TOKEN=secret", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgOptions) options = parse (envp, &error, NULL);
  g_autofree char *listen = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (options);
  listen = hg_socket_address_to_string (G_SOCKET_ADDRESS (options->listen_address));
  g_assert_cmpstr (listen, ==, "127.0.0.1:0");
  g_assert_true (options->auth_required);
  g_assert_cmpstr (options->token, ==, "secret");
  g_assert_cmpuint (options->header_timeout_secs, ==, 10);
  g_assert_cmpuint (options->idle_timeout_secs, ==, 600);
  g_assert_cmpuint (options->connect_timeout_secs, ==, 10);
  g_assert_cmpuint (options->io_timeout_secs, ==, 60);
  g_assert_cmpuint (options->dns_timeout_secs, ==, 5);
  g_assert_cmpuint (options->max_body, ==, 16 * 1024 * 1024);
  g_assert_cmpuint (options->max_connections, ==, 1024);
  g_assert_cmpuint (options->grace_period_secs, ==, 5);
  g_assert_false (options->allow_loopback);
  g_assert_null (options->upstream);
  g_assert_cmpint (options->settings.approval_mode, ==, HG_APPROVAL_OFF);
  g_assert_cmpuint (options->settings.approval_timeout_secs, ==, 60);
}

static void
test_missing_token (void)
{
  const char *envp[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgOptions) options = parse (envp, &error, NULL);

  g_assert_null (options);
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  g_assert_nonnull (strstr (error->message, "HOSTGATE_PROXY_TOKEN"));
}

static void
test_auth_off (void)
{
  const char *envp[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgOptions) options = parse (envp, &error, "--auth", "off", NULL);

  g_assert_no_error (error);
  g_assert_false (options->auth_required);
  g_assert_null (options->token);
}

static void
test_token_file (void)
{
  const char *envp[] = { "HOSTGATE_PROXY_TOKEN=from-env", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-options-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "token", NULL);
  g_autoptr(HgOptions) options = NULL;

  g_assert_true (g_file_set_contents (path, "from-file\r\nsecond line\n", -1, NULL));
  options = parse (envp, &error, "--token-file", path, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (options->token, ==, "from-file");

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_empty_token_file (void)
{
  const char *envp[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-options-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "token", NULL);
  g_autoptr(HgOptions) options = NULL;

  g_assert_true (g_file_set_contents (path, "\n", -1, NULL));
  options = parse (envp, &error, "--token-file", path, NULL);
  g_assert_null (options);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, path));

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_lists (void)
{
  const char *envp[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgOptions) options = parse (envp, &error, "--auth", "off",
                                        "--allow-domain", "*.example.test",
                                        "--deny-domain", "ad.example.test",
                                        "--reject-domain", "10.0.0.0/8",
                                        "--upstream-proxy", "proxy.test:3128",
                                        "--upstream-bypass", "*.corp.test",
                                        "--allow-loopback", NULL);

  g_assert_no_error (error);
  g_assert_true (hg_filter_match_name (options->allow, "a.example.test", 443));
  g_assert_false (hg_filter_match_name (options->allow, "example.test", 443));
  g_assert_true (hg_filter_match_name (options->deny, "ad.example.test", 443));
  g_assert_cmpuint (hg_filter_get_size (options->deny), ==, 2);
  g_assert_true (hg_filter_match_name (options->upstream_bypass, "x.corp.test", 443));
  g_assert_cmpstr (options->upstream->name, ==, "proxy.test");
  g_assert_cmpuint (options->upstream->port, ==, 3128);
  g_assert_true (options->allow_loopback);
}

typedef struct {
  const char *path;
  const char *option;
  const char *value;
  const char *message;  /* expected substring */
} BadCase;

static const BadCase bad_cases[] = {
  { "/options/invalid/header-timeout-zero", "--header-timeout", "0", "--header-timeout" },
  { "/options/invalid/idle-timeout-word", "--idle-timeout", "long", "--idle-timeout" },
  { "/options/invalid/io-timeout-zero", "--io-timeout", "0", "--io-timeout" },
  { "/options/invalid/max-connections", "--max-connections", "0", "--max-connections" },
  { "/options/invalid/max-body", "--max-body", "lots", "--max-body" },
  { "/options/invalid/max-body-4g", "--max-body", "4G",
    "--max-body: “4G” is more than 4294967295 bytes, the largest request body the proxy can hold" },
  { "/options/invalid/auth", "--auth", "maybe", "--auth" },
  { "/options/invalid/allow-entry", "--allow-domain", "a.*.test", "--allow-domain" },
  { "/options/invalid/deny-any", "--deny-domain", "*", "--deny-domain" },
  { "/options/invalid/upstream-no-port", "--upstream-proxy", "proxy.test", "proxy.test" },
  { "/options/invalid/upstream-empty", "--upstream-proxy", "", "--upstream-proxy is empty" },
  { "/options/invalid/upstream-login", "--upstream-proxy", "user:secret@proxy.test:3128",
    "Invalid --upstream-proxy: hostgate cannot log in to an upstream proxy" },
  { "/options/invalid/port-file-empty", "--port-file", "", "--port-file is empty" },
  { "/options/invalid/approval-mode", "--network-approval", "sometimes", "sometimes" },
  { "/options/invalid/listen", "--listen", "localhost:80", "localhost:80" },
};

static void
test_invalid (gconstpointer data)
{
  const BadCase *test = data;
  const char *envp[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgOptions) options = parse (envp, &error, "--auth", "off", test->option, test->value, NULL);

  g_assert_null (options);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, test->message));
}

static void
test_version_flag (void)
{
  const char *envp[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(HgOptions) options = parse (envp, &error, "--version", NULL);

  g_assert_no_error (error);
  g_assert_true (options->show_version);
}

static void
test_audit_format (void)
{
  g_autoptr(GDateTime) time = g_date_time_new_utc (2026, 12, 4, 20, 30, 1.2345);
  HgAuditRecord record = {
    .client = "127.0.0.1:5000", .method = "CONNECT", .host = "a.test", .port = 443,
    .decision = "deny", .status = 403, .reason = "quote \" and \n newline",
    .pattern = "*.test", .bytes_up = 1, .bytes_down = 2, .duration_ms = 3,
  };
  g_autofree char *line = hg_audit_format (&record, time);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *object;

  g_assert_null (strchr (line, '\n'));
  g_assert_true (json_parser_load_from_data (parser, line, -1, &error));
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, "time"), ==, "2026-12-04T20:30:01.234Z");
  g_assert_cmpstr (json_object_get_string_member (object, "client"), ==, "127.0.0.1:5000");
  g_assert_cmpstr (json_object_get_string_member (object, "method"), ==, "CONNECT");
  g_assert_cmpstr (json_object_get_string_member (object, "host"), ==, "a.test");
  g_assert_cmpint (json_object_get_int_member (object, "port"), ==, 443);
  g_assert_cmpstr (json_object_get_string_member (object, "decision"), ==, "deny");
  g_assert_cmpint (json_object_get_int_member (object, "status"), ==, 403);
  g_assert_cmpstr (json_object_get_string_member (object, "reason"), ==, "quote \" and \n newline");
  g_assert_cmpstr (json_object_get_string_member (object, "pattern"), ==, "*.test");
  g_assert_cmpint (json_object_get_int_member (object, "bytes_up"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (object, "bytes_down"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (object, "duration_ms"), ==, 3);
}

static void
test_audit_format_nulls (void)
{
  g_autoptr(GDateTime) time = g_date_time_new_utc (2026, 1, 2, 3, 4, 5.0);
  HgAuditRecord record = { .client = "[::1]:1", .decision = "error", .status = 408 };
  g_autofree char *line = hg_audit_format (&record, time);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object;

  g_assert_true (json_parser_load_from_data (parser, line, -1, NULL));
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_get_null_member (object, "method"));
  g_assert_true (json_object_get_null_member (object, "host"));
  g_assert_true (json_object_get_null_member (object, "reason"));
  g_assert_false (json_object_has_member (object, "pattern"));
  g_assert_cmpstr (json_object_get_string_member (object, "time"), ==, "2026-01-02T03:04:05.000Z");
}

/* The whole line, so the field order and the separators stay fixed. */
static void
test_audit_format_exact (void)
{
  g_autoptr(GDateTime) time = g_date_time_new_utc (2026, 12, 4, 20, 30, 1.2345);
  HgAuditRecord record = {
    .client = "127.0.0.1:5000", .method = "CONNECT", .host = "a.test", .port = 443,
    .decision = "deny", .status = 403, .reason = "denied",
    .pattern = "*.test", .bytes_up = 1, .bytes_down = G_MAXUINT64, .duration_ms = -3,
  };
  g_autofree char *line = hg_audit_format (&record, time);

  g_assert_cmpstr (line, ==,
                   "{\"time\":\"2026-12-04T20:30:01.234Z\",\"client\":\"127.0.0.1:5000\","
                   "\"method\":\"CONNECT\",\"host\":\"a.test\",\"port\":443,"
                   "\"decision\":\"deny\",\"status\":403,\"reason\":\"denied\","
                   "\"pattern\":\"*.test\",\"bytes_up\":1,"
                   "\"bytes_down\":9223372036854775807,\"duration_ms\":-3}");
}

typedef struct
{
  const char *path;
  const char *value;
  const char *escaped;  /* the JSON string as written, quotes included */
  const char *decoded;  /* what a JSON parser reads back */
} EscapeCase;

static const EscapeCase escape_cases[] = {
  { "/audit/escape/plain", "plain text", "\"plain text\"", "plain text" },
  { "/audit/escape/empty", "", "\"\"", "" },
  { "/audit/escape/quote", "a\"b", "\"a\\\"b\"", "a\"b" },
  { "/audit/escape/backslash", "a\\b", "\"a\\\\b\"", "a\\b" },
  { "/audit/escape/newline", "a\nb\r", "\"a\\nb\\r\"", "a\nb\r" },
  { "/audit/escape/tab", "\ta", "\"\\ta\"", "\ta" },
  { "/audit/escape/control", "a\001b\037", "\"a\\u0001b\\u001f\"", "a\001b\037" },
  { "/audit/escape/delete", "a\177", "\"a\\u007f\"", "a\177" },
  { "/audit/escape/utf8", "caf\xc3\xa9 \xe5\x90\x8d", "\"caf\xc3\xa9 \xe5\x90\x8d\"",
    "caf\xc3\xa9 \xe5\x90\x8d" },
  { "/audit/escape/invalid-utf8", "a\xff" "b\xc3", "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"",
    "a\xef\xbf\xbd" "b\xef\xbf\xbd" },
  { "/audit/escape/slash", "a/b", "\"a/b\"", "a/b" },
};

static void
test_audit_escape (gconstpointer data)
{
  const EscapeCase *test = data;
  g_autoptr(GDateTime) time = g_date_time_new_utc (2026, 1, 2, 3, 4, 5.0);
  HgAuditRecord record = { .client = "127.0.0.1:1", .decision = "deny", .status = 403,
                           .reason = test->value };
  g_autofree char *line = hg_audit_format (&record, time);
  g_autofree char *member = g_strdup_printf (",\"reason\":%s,", test->escaped);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *object;

  g_assert_nonnull (strstr (line, member));
  g_assert_true (g_utf8_validate (line, -1, NULL));
  g_assert_true (json_parser_load_from_data (parser, line, -1, &error));
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, "reason"), ==, test->decoded);
}

static void
test_audit_appends_lines (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-audit-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "audit.jsonl", NULL);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  HgAuditRecord record = { .client = "127.0.0.1:1", .decision = "allow", .status = 200 };
  GStatBuf buf;

  for (int round = 0; round < 2; round++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HgAudit) audit = hg_audit_open (path, &error);

      g_assert_no_error (error);
      hg_audit_write (audit, &record);
    }

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_cmpstr (lines[2], ==, "");
  g_assert_cmpint (g_stat (path, &buf), ==, 0);
  g_assert_cmpint (buf.st_mode & 0777, ==, 0600);

  g_unlink (path);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *config = NULL;

  g_test_init (&argc, &argv, NULL);

  /* The default profile must be the built-in one, not the user's. */
  config = g_dir_make_tmp ("test-options-config-XXXXXX", NULL);
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);

  for (gsize i = 0; i < G_N_ELEMENTS (listen_cases); i++)
    g_test_add_data_func (listen_cases[i].path, &listen_cases[i], test_listen);
  for (gsize i = 0; i < G_N_ELEMENTS (size_cases); i++)
    g_test_add_data_func (size_cases[i].path, &size_cases[i], test_size);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    g_test_add_data_func (bad_cases[i].path, &bad_cases[i], test_invalid);

  g_test_add_func ("/options/defaults", test_defaults);
  g_test_add_func ("/options/token/missing", test_missing_token);
  g_test_add_func ("/options/token/auth-off", test_auth_off);
  g_test_add_func ("/options/token/file", test_token_file);
  g_test_add_func ("/options/token/empty-file", test_empty_token_file);
  g_test_add_func ("/options/lists", test_lists);
  g_test_add_func ("/options/version", test_version_flag);
  g_test_add_func ("/audit/format/fields", test_audit_format);
  g_test_add_func ("/audit/format/nulls", test_audit_format_nulls);
  g_test_add_func ("/audit/format/exact", test_audit_format_exact);
  for (gsize i = 0; i < G_N_ELEMENTS (escape_cases); i++)
    g_test_add_data_func (escape_cases[i].path, &escape_cases[i], test_audit_escape);
  g_test_add_func ("/audit/append", test_audit_appends_lines);

  return g_test_run ();
}
