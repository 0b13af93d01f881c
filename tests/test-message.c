/* test-message.c: building, serialising and validating wire messages
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gio/gio.h>
#include <string.h>

#include "hg-error.h"
#include "hg-message.h"

/* Fails the test with @fragment and @text printed when @text lacks it. */
static void
assert_contains (const char *text,
                 const char *fragment)
{
  if (strstr (text, fragment) == NULL)
    g_error ("expected “%s” to contain “%s”", text, fragment);
}

static HgMessage *
parse_string (const char  *line,
              GError     **error)
{
  return hg_message_parse (line, strlen (line), error);
}

static void
assert_strv_equal (char **actual,
                   char **expected)
{
  g_assert_nonnull (actual);
  g_assert_nonnull (expected);
  g_assert_cmpuint (g_strv_length (actual), ==, g_strv_length (expected));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (actual[i], ==, expected[i]);
}

static void
assert_filters_equal (const HgFilterUpdate *actual,
                      const HgFilterUpdate *expected)
{
  g_assert_nonnull (actual);
  g_assert_cmpstr (actual->profile, ==, expected->profile);
  g_assert_cmpuint (actual->revision, ==, expected->revision);
  assert_strv_equal (actual->allow, expected->allow);
  assert_strv_equal (actual->deny, expected->deny);
  g_assert_cmpint (actual->approval_mode, ==, expected->approval_mode);
  g_assert_cmpuint (actual->approval_timeout_secs, ==, expected->approval_timeout_secs);
  g_assert_cmpint (actual->forget_session, ==, expected->forget_session);
}

static void
assert_events_equal (const HgEvent *actual,
                     const HgEvent *expected)
{
  g_assert_nonnull (actual);
  g_assert_cmpstr (actual->time, ==, expected->time);
  g_assert_cmpstr (actual->session, ==, expected->session);
  g_assert_cmpstr (actual->client, ==, expected->client);
  g_assert_cmpstr (actual->method, ==, expected->method);
  g_assert_cmpstr (actual->host, ==, expected->host);
  g_assert_cmpuint (actual->port, ==, expected->port);
  g_assert_cmpstr (actual->decision, ==, expected->decision);
  g_assert_cmpstr (actual->reason, ==, expected->reason);
  g_assert_cmpint (actual->bytes_up, ==, expected->bytes_up);
  g_assert_cmpint (actual->bytes_down, ==, expected->bytes_down);
  g_assert_cmpint (actual->duration_ms, ==, expected->duration_ms);
  g_assert_cmpstr (actual->pattern, ==, expected->pattern);
}

static void
assert_messages_equal (const HgMessage *actual,
                       const HgMessage *expected)
{
  g_assert_cmpint (actual->type, ==, expected->type);
  g_assert_cmpstr (actual->type_name, ==, expected->type_name);
  g_assert_cmpstr (actual->id, ==, expected->id);
  g_assert_cmpuint (actual->version, ==, expected->version);

  if (expected->session != NULL)
    {
      g_assert_nonnull (actual->session);
      g_assert_cmpstr (actual->session->id, ==, expected->session->id);
      g_assert_cmpstr (actual->session->label, ==, expected->session->label);
      g_assert_cmpstr (actual->session->profile, ==, expected->session->profile);
      g_assert_cmpint (actual->session->pid, ==, expected->session->pid);
      g_assert_cmpstr (actual->session->command, ==, expected->session->command);
    }
  else
    {
      g_assert_null (actual->session);
    }

  if (expected->filter != NULL)
    assert_filters_equal (actual->filter, expected->filter);
  else
    g_assert_null (actual->filter);

  if (expected->event != NULL)
    assert_events_equal (actual->event, expected->event);
  else
    g_assert_null (actual->event);

  g_assert_cmpstr (actual->ask.host, ==, expected->ask.host);
  g_assert_cmpuint (actual->ask.port, ==, expected->ask.port);
  g_assert_cmpint (actual->ask.kind, ==, expected->ask.kind);
  g_assert_cmpuint (actual->ask.timeout_ms, ==, expected->ask.timeout_ms);
  g_assert_cmpint (actual->decision.verdict, ==, expected->decision.verdict);
  g_assert_cmpint (actual->decision.duration, ==, expected->decision.duration);
  g_assert_cmpstr (actual->decision.pattern, ==, expected->decision.pattern);
  g_assert_cmpint (actual->cancel.reason, ==, expected->cancel.reason);
  g_assert_cmpstr (actual->error.code, ==, expected->error.code);
  g_assert_cmpstr (actual->error.message, ==, expected->error.message);
}

/* Serialise @message, check the line, parse it back and compare. */
static void
assert_round_trip (const HgMessage *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgMessage) parsed = NULL;
  g_autoptr(HgMessage) copy = NULL;
  g_autofree char *line = hg_message_serialize (message);
  g_autofree char *line_again = NULL;

  g_assert_nonnull (line);
  g_assert_null (strchr (line, '\n'));
  g_assert_null (strchr (line, '\r'));
  g_assert_true (g_utf8_validate (line, -1, NULL));

  parsed = parse_string (line, &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);
  assert_messages_equal (parsed, message);

  line_again = hg_message_serialize (parsed);
  g_assert_cmpstr (line_again, ==, line);

  copy = hg_message_copy (parsed);
  assert_messages_equal (copy, message);
}

static HgFilterUpdate *
sample_filter (void)
{
  const char * const allow[] = { "api.github.com", "*.npmjs.org", "example.com:8443",
                                 "203.0.113.7", "[2001:db8::1]:443", "10.0.0.0/8", "*", NULL };
  const char * const deny[] = { "*.ad.com", "tracker.example:443", "2001:db8::/32", NULL };

  return hg_filter_update_new ("work", 42, allow, deny, HG_APPROVAL_ASK, 60);
}

static void
test_round_trip_hello (void)
{
  g_autoptr(HgSessionInfo) session =
    hg_session_info_new ("s-1", "build box", "work", 4242, "npm install");
  g_autoptr(HgMessage) message = hg_message_new_hello (session);

  g_assert_cmpuint (message->version, ==, HG_PROTOCOL_VERSION);
  assert_round_trip (message);
}

static void
test_round_trip_hello_minimal (void)
{
  g_autoptr(HgSessionInfo) session = hg_session_info_new ("s-1", NULL, "default", 1, NULL);
  g_autoptr(HgMessage) message = hg_message_new_hello (session);

  assert_round_trip (message);
}

static void
test_round_trip_welcome (void)
{
  g_autoptr(HgFilterUpdate) filter = sample_filter ();
  g_autoptr(HgMessage) message = hg_message_new_welcome (filter);

  assert_round_trip (message);
}

static void
test_round_trip_ask (void)
{
  g_autoptr(HgMessage) message =
    hg_message_new_ask ("a-7", "example.com", 443, HG_ASK_KIND_CONNECT, 60000);

  assert_round_trip (message);
}

static void
test_round_trip_ask_ipv6 (void)
{
  g_autoptr(HgMessage) message =
    hg_message_new_ask ("a-8", "2001:db8::1", 80, HG_ASK_KIND_HTTP, 1);

  assert_round_trip (message);
}

static void
test_round_trip_decision (void)
{
  g_autoptr(HgMessage) message =
    hg_message_new_decision ("a-7", HG_DECISION_APPROVE, HG_DECISION_ALWAYS, "*.example.com");

  assert_round_trip (message);
}

static void
test_round_trip_decision_deny (void)
{
  g_autoptr(HgMessage) message =
    hg_message_new_decision ("a-7", HG_DECISION_DENY, HG_DECISION_SESSION, "example.com:443");

  assert_round_trip (message);
}

static void
test_round_trip_cancel (void)
{
  g_autoptr(HgMessage) message = hg_message_new_cancel ("a-7", HG_CANCEL_REASON_CLIENT_GONE);

  assert_round_trip (message);
}

static void
test_round_trip_filter (void)
{
  g_autoptr(HgFilterUpdate) filter = sample_filter ();
  g_autoptr(HgMessage) message = hg_message_new_filter (filter);

  assert_round_trip (message);
}

static void
test_round_trip_filter_empty (void)
{
  g_autoptr(HgFilterUpdate) filter = hg_filter_update_new ("default", 0, NULL, NULL,
                                                           HG_APPROVAL_OFF, 5);
  g_autoptr(HgMessage) message = hg_message_new_filter (filter);

  assert_round_trip (message);
}

static void
test_round_trip_filter_forget (void)
{
  g_autoptr(HgFilterUpdate) filter = sample_filter ();
  g_autoptr(HgFilterUpdate) copy = NULL;
  g_autoptr(HgMessage) message = NULL;
  g_autofree char *line = NULL;

  filter->forget_session = TRUE;
  copy = hg_filter_update_copy (filter);
  g_assert_true (copy->forget_session);

  message = hg_message_new_filter (filter);
  g_assert_true (message->filter->forget_session);
  line = hg_message_serialize (message);
  assert_contains (line, "\"forget_session\":true");
  assert_round_trip (message);
}

/* The member is left out unless it is true, and a `welcome` never
 * carries it. */
static void
test_serialize_forget_default (void)
{
  g_autoptr(HgFilterUpdate) filter = sample_filter ();
  g_autoptr(HgMessage) plain = hg_message_new_filter (filter);
  g_autoptr(HgMessage) welcome = NULL;
  g_autofree char *plain_line = hg_message_serialize (plain);
  g_autofree char *welcome_line = NULL;

  g_assert_null (strstr (plain_line, "forget_session"));

  filter->forget_session = TRUE;
  welcome = hg_message_new_welcome (filter);
  welcome_line = hg_message_serialize (welcome);
  g_assert_null (strstr (welcome_line, "forget_session"));
}

static void
test_parse_forget_absent (void)
{
  static const char * const lines[] = {
    "{\"type\":\"filter\",\"profile\":\"p\",\"revision\":1,\"allow\":[],\"deny\":[],"
    "\"approval_mode\":\"ask\",\"approval_timeout_secs\":60}",
    "{\"type\":\"filter\",\"profile\":\"p\",\"revision\":1,\"allow\":[],\"deny\":[],"
    "\"approval_mode\":\"ask\",\"approval_timeout_secs\":60,\"forget_session\":null}",
    "{\"type\":\"filter\",\"profile\":\"p\",\"revision\":1,\"allow\":[],\"deny\":[],"
    "\"approval_mode\":\"ask\",\"approval_timeout_secs\":60,\"forget_session\":false}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      g_autoptr(HgMessage) message = NULL;
      g_autoptr(GError) error = NULL;

      message = parse_string (lines[i], &error);
      g_assert_no_error (error);
      g_assert_nonnull (message->filter);
      g_assert_false (message->filter->forget_session);
    }
}

static void
test_parse_forget_true (void)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string ("{\"type\":\"filter\",\"profile\":\"p\",\"revision\":1,\"allow\":[],"
                          "\"deny\":[],\"approval_mode\":\"ask\",\"approval_timeout_secs\":60,"
                          "\"forget_session\":true}", &error);
  g_assert_no_error (error);
  g_assert_true (message->filter->forget_session);
}

static void
test_round_trip_event (void)
{
  g_autoptr(HgEvent) event = hg_event_new ();
  g_autoptr(HgMessage) message = NULL;

  event->time = g_strdup ("2026-12-04T20:17:00.123Z");
  event->session = g_strdup ("s-1");
  event->client = g_strdup ("127.0.0.1:40000");
  event->method = g_strdup ("CONNECT");
  event->host = g_strdup ("example.com");
  event->port = 443;
  event->decision = g_strdup ("deny");
  event->reason = g_strdup ("not in the allow list");
  event->bytes_up = 0;
  event->bytes_down = G_MAXINT64;
  event->duration_ms = 12;
  event->pattern = g_strdup ("*.example.com");
  message = hg_message_new_event (event);

  assert_round_trip (message);
}

static void
test_round_trip_event_empty (void)
{
  g_autoptr(HgEvent) event = hg_event_new ();
  g_autoptr(HgMessage) message = hg_message_new_event (event);
  g_autofree char *line = hg_message_serialize (message);

  g_assert_cmpstr (line, ==, "{\"type\":\"event\"}");
  assert_round_trip (message);
}

static void
test_round_trip_ping_pong (void)
{
  g_autoptr(HgMessage) ping = hg_message_new_ping ("p-1");
  g_autoptr(HgMessage) pong = hg_message_new_pong ("p-1");

  assert_round_trip (ping);
  assert_round_trip (pong);
}

static void
test_round_trip_error (void)
{
  g_autoptr(HgMessage) plain = hg_message_new_error (NULL, HG_ERROR_CODE_UNKNOWN_TYPE,
                                                     "unknown message type \"x\"");
  g_autoptr(HgMessage) with_id = hg_message_new_error ("a-9", HG_ERROR_CODE_TOO_MANY_PROMPTS, "");

  assert_round_trip (plain);
  assert_round_trip (with_id);
}

static void
test_serialize_escapes_newlines (void)
{
  g_autoptr(HgSessionInfo) session =
    hg_session_info_new ("s-1", "line one\nline two\r\n", "work", 7, "printf 'a\\nb'\t\x01\x1f\x7f");
  g_autoptr(HgMessage) message = hg_message_new_hello (session);
  g_autofree char *line = hg_message_serialize (message);

  g_assert_null (strchr (line, '\n'));
  g_assert_null (strchr (line, '\r'));
  g_assert_null (strchr (line, '\t'));
  g_assert_null (strchr (line, '\x01'));
  assert_contains (line, "line one\\nline two\\r\\n");
  assert_round_trip (message);
}

static void
test_serialize_invalid_utf8 (void)
{
  g_autoptr(HgSessionInfo) session = hg_session_info_new ("s-1", NULL, "work", 7, "cat caf\xe9");
  g_autoptr(HgMessage) message = hg_message_new_hello (session);
  g_autofree char *line = hg_message_serialize (message);
  g_autoptr(HgMessage) parsed = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_utf8_validate (line, -1, NULL));
  parsed = parse_string (line, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (parsed->session->command, ==, "cat caf\xef\xbf\xbd");
}

static void
test_serialize_unknown (void)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  message = parse_string ("{\"type\":\"shiny\",\"x\":[1,2]}", &error);
  g_assert_no_error (error);
  line = hg_message_serialize (message);
  g_assert_cmpstr (line, ==, "{\"type\":\"shiny\"}");
}

/* Lines that must parse, with the type they give. */
typedef struct {
  const char *name;
  const char *line;
  HgMessageType type;
} ValidCase;

static const ValidCase valid_cases[] = {
  { "unknown-fields", "{\"type\":\"ping\",\"id\":\"p\",\"extra\":{\"a\":[1,2.5,true,null]},\"z\":\"\"}",
    HG_MESSAGE_TYPE_PING },
  { "whitespace", " \t{ \"type\" : \"pong\" , \"id\" : \"p\" } \r", HG_MESSAGE_TYPE_PONG },
  { "key-order", "{\"id\":\"p\",\"type\":\"ping\"}", HG_MESSAGE_TYPE_PING },
  { "escapes", "{\"type\":\"ping\",\"id\":\"\\u00e9\\ud83d\\ude00\\/\\\"\"}", HG_MESSAGE_TYPE_PING },
  { "null-optional", "{\"type\":\"event\",\"host\":null,\"port\":null}", HG_MESSAGE_TYPE_EVENT },
  { "id-max", "{\"type\":\"ping\",\"id\":\""
    "0123456789012345678901234567890123456789012345678901234567890123"
    "0123456789012345678901234567890123456789012345678901234567890123\"}", HG_MESSAGE_TYPE_PING },
  { "ask-ipv4", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"203.0.113.7\",\"port\":65535,"
    "\"kind\":\"http\",\"timeout_ms\":600000}", HG_MESSAGE_TYPE_ASK },
  { "ask-ipv6-brackets", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"[2001:db8::1]\",\"port\":1,"
    "\"kind\":\"connect\",\"timeout_ms\":1}", HG_MESSAGE_TYPE_ASK },
  { "filter-limits", "{\"type\":\"filter\",\"profile\":\"p\",\"revision\":9223372036854775807,"
    "\"allow\":[],\"deny\":[],\"approval_mode\":\"off\",\"approval_timeout_secs\":300}",
    HG_MESSAGE_TYPE_FILTER },
  { "error-empty-message", "{\"type\":\"error\",\"code\":\"some-new-code\",\"message\":\"\"}",
    HG_MESSAGE_TYPE_ERROR },
  { "unknown-type", "{\"type\":\"future-thing\",\"id\":5}", HG_MESSAGE_TYPE_UNKNOWN },
  { "unknown-type-empty", "{\"type\":\"\"}", HG_MESSAGE_TYPE_UNKNOWN },
  { "negative-zero", "{\"type\":\"event\",\"bytes_up\":-0}", HG_MESSAGE_TYPE_EVENT },
};

static void
test_parse_valid (gconstpointer data)
{
  const ValidCase *test = data;
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autoptr(HgMessage) again = NULL;

  message = parse_string (test->line, &error);
  g_assert_no_error (error);
  g_assert_nonnull (message);
  g_assert_cmpint (message->type, ==, test->type);

  line = hg_message_serialize (message);
  again = parse_string (line, &error);
  g_assert_no_error (error);
  g_assert_cmpint (again->type, ==, test->type);
}

static void
test_parse_unknown_type (void)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string ("{\"type\":\"future-thing\",\"id\":5}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_UNKNOWN);
  g_assert_cmpstr (message->type_name, ==, "future-thing");
  g_assert_null (message->id);
}

static void
test_parse_fields (void)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string ("{\"type\":\"ask\",\"id\":\"a-1\",\"host\":\"example.com\","
                          "\"port\":8443,\"kind\":\"http\",\"timeout_ms\":30000}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_ASK);
  g_assert_cmpstr (message->type_name, ==, "ask");
  g_assert_cmpstr (message->id, ==, "a-1");
  g_assert_cmpstr (message->ask.host, ==, "example.com");
  g_assert_cmpuint (message->ask.port, ==, 8443);
  g_assert_cmpint (message->ask.kind, ==, HG_ASK_KIND_HTTP);
  g_assert_cmpuint (message->ask.timeout_ms, ==, 30000);
}

static void
test_parse_null_optional (void)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string ("{\"type\":\"event\",\"host\":null,\"bytes_up\":null}", &error);
  g_assert_no_error (error);
  g_assert_null (message->event->host);
  g_assert_cmpint (message->event->bytes_up, ==, -1);
  g_assert_cmpuint (message->event->port, ==, 0);
}

/* Lines that must fail, with the error and words the message must hold. */
typedef struct {
  const char *name;
  const char *line;
  gboolean not_json;
  const char *fragment;
  const char *fragment2;
} InvalidCase;

#define ASK_TAIL "\"kind\":\"connect\",\"timeout_ms\":1000}"
#define FILTER_HEAD "{\"type\":\"filter\",\"profile\":\"p\",\"revision\":1,"
#define HELLO_HEAD "{\"type\":\"hello\",\"version\":1,"

static const InvalidCase invalid_cases[] = {
  /* Not JSON at all: the connection closes. */
  { "not-json/word", "hello", TRUE, "not valid JSON", NULL },
  { "not-json/empty", "", TRUE, "unexpected end of line", NULL },
  { "not-json/blank", "  \t ", TRUE, "unexpected end of line", NULL },
  { "not-json/unterminated", "{\"type\":\"ping\"", TRUE, "not valid JSON", NULL },
  { "not-json/trailing-data", "{\"type\":\"ping\",\"id\":\"a\"} x", TRUE, "after the JSON value", NULL },
  { "not-json/two-objects", "{\"type\":\"ping\",\"id\":\"a\"}{}", TRUE, "after the JSON value", NULL },
  { "not-json/single-quotes", "{'type':'ping','id':'a'}", TRUE, "member name", NULL },
  { "not-json/bare-key", "{type:\"ping\"}", TRUE, "member name", NULL },
  { "not-json/comment", "/*c*/{\"type\":\"ping\",\"id\":\"a\"}", TRUE, "unexpected character", NULL },
  { "not-json/trailing-comma", "{\"type\":\"ping\",\"id\":\"a\",}", TRUE, "member name", NULL },
  { "not-json/array-trailing-comma", "{\"a\":[1,],\"type\":\"ping\"}", TRUE, "not valid JSON", NULL },
  { "not-json/hex", "{\"type\":\"event\",\"port\":0x10}", TRUE, "not valid JSON", NULL },
  { "not-json/leading-zero", "{\"type\":\"event\",\"port\":0443}", TRUE, "not valid JSON", NULL },
  { "not-json/plus", "{\"type\":\"event\",\"port\":+443}", TRUE, "not valid JSON", NULL },
  { "not-json/bare-dot", "{\"type\":\"event\",\"port\":1.}", TRUE, "decimal point", NULL },
  { "not-json/nan", "{\"type\":\"event\",\"port\":NaN}", TRUE, "unexpected character", NULL },
  { "not-json/raw-tab", "{\"type\":\"ping\",\"id\":\"a\tb\"}", TRUE, "control character", NULL },
  { "not-json/bad-escape", "{\"type\":\"ping\",\"id\":\"a\\x\"}", TRUE, "invalid escape", NULL },
  { "not-json/short-unicode", "{\"type\":\"ping\",\"id\":\"\\u12\"}", TRUE, "four hex digits", NULL },
  { "not-json/missing-colon", "{\"type\" \"ping\"}", TRUE, "“:”", NULL },
  { "not-json/bom", "\xef\xbb\xbf{\"type\":\"ping\",\"id\":\"a\"}", TRUE, "unexpected character", NULL },
  { "not-json/invalid-utf8", "{\"type\":\"ping\",\"id\":\"\xff\"}", TRUE, "not valid UTF-8", "byte 21" },
  { "not-json/overlong-utf8", "{\"type\":\"ping\",\"id\":\"\xc0\xaf\"}", TRUE, "not valid UTF-8", NULL },
  { "not-json/utf8-surrogate", "{\"type\":\"ping\",\"id\":\"\xed\xa0\x80\"}", TRUE, "not valid UTF-8", NULL },

  /* Valid JSON, bad content. */
  { "top/array", "[1,2]", FALSE, "must be a JSON object", "an array" },
  { "top/number", "42", FALSE, "must be a JSON object", NULL },
  { "top/null", "null", FALSE, "must be a JSON object", "null" },
  { "top/string", "\"ping\"", FALSE, "must be a JSON object", NULL },
  { "type/missing", "{\"id\":\"a\"}", FALSE, "\"type\"", "missing" },
  { "type/number", "{\"type\":7}", FALSE, "\"type\"", "got 7" },
  { "type/null", "{\"type\":null}", FALSE, "\"type\"", "got null" },
  { "duplicate-key", "{\"type\":\"ping\",\"id\":\"a\",\"id\":\"b\"}", FALSE, "\"id\"", "more than once" },
  { "duplicate-key-nested", "{\"type\":\"ping\",\"id\":\"a\",\"x\":{\"k\":1,\"k\":2}}", FALSE, "\"k\"", NULL },
  { "duplicate-key-escaped", "{\"type\":\"ping\",\"id\":\"a\",\"k\\n\":1,\"k\\n\":2}", FALSE,
    "member \"k\\n\" appears more than once", NULL },
  { "nul-escape", "{\"type\":\"ping\",\"id\":\"a\\u0000b\"}", FALSE, "U+0000", NULL },
  { "lone-high-surrogate", "{\"type\":\"ping\",\"id\":\"\\ud83dx\"}", FALSE, "unpaired surrogate", NULL },
  { "lone-low-surrogate", "{\"type\":\"ping\",\"id\":\"\\ude00\"}", FALSE, "unpaired surrogate", NULL },
  { "integer-overflow", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":18446744073709551617,"
    ASK_TAIL, FALSE, "64-bit range", NULL },
  { "integer-overflow-19-digits", "{\"type\":\"event\",\"bytes_up\":9223372036854775808}", FALSE,
    "64-bit range", NULL },

  { "ask/port-string", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":\"443\"," ASK_TAIL,
    FALSE, "field \"port\" of \"ask\" must be an integer from 1 to 65535, got \"443\"", NULL },
  { "ask/port-zero", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":0," ASK_TAIL,
    FALSE, "\"port\"", "got 0" },
  { "ask/port-high", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":65536," ASK_TAIL,
    FALSE, "\"port\"", "got 65536" },
  { "ask/port-float", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":443.0," ASK_TAIL,
    FALSE, "\"port\"", "integer" },
  { "ask/port-exponent", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":4e2," ASK_TAIL,
    FALSE, "\"port\"", "integer" },
  { "ask/port-missing", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\"," ASK_TAIL,
    FALSE, "field \"port\" of \"ask\" is missing", NULL },
  { "ask/port-null", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":null," ASK_TAIL,
    FALSE, "\"port\"", "got null" },
  { "ask/host-missing", "{\"type\":\"ask\",\"id\":\"a\",\"port\":443," ASK_TAIL,
    FALSE, "field \"host\" of \"ask\" is missing", NULL },
  { "ask/host-empty", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"\",\"port\":443," ASK_TAIL,
    FALSE, "\"host\"", "1 to 255 bytes" },
  { "ask/host-space", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"exa mple.com\",\"port\":443," ASK_TAIL,
    FALSE, "field \"host\" of \"ask\" is invalid: ", "exa mple.com" },
  { "ask/host-with-port", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com:443\",\"port\":443," ASK_TAIL,
    FALSE, "field \"host\" of \"ask\" is invalid: ", "example.com:443" },
  { "ask/host-scheme", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"http://example.com\",\"port\":443," ASK_TAIL,
    FALSE, "\"host\"", NULL },
  { "ask/host-number", "{\"type\":\"ask\",\"id\":\"a\",\"host\":2130706433,\"port\":443," ASK_TAIL,
    FALSE, "\"host\"", "got 2130706433" },
  { "ask/kind", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":443,\"kind\":\"ftp\","
    "\"timeout_ms\":1000}", FALSE, "field \"kind\" of \"ask\" must be one of \"connect\", \"http\", got \"ftp\"", NULL },
  { "ask/timeout-zero", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":443,\"kind\":\"http\","
    "\"timeout_ms\":0}", FALSE, "\"timeout_ms\"", "from 1 to 600000" },
  { "ask/timeout-high", "{\"type\":\"ask\",\"id\":\"a\",\"host\":\"example.com\",\"port\":443,\"kind\":\"http\","
    "\"timeout_ms\":600001}", FALSE, "\"timeout_ms\"", "got 600001" },
  { "ask/id-missing", "{\"type\":\"ask\",\"host\":\"example.com\",\"port\":443," ASK_TAIL,
    FALSE, "field \"id\" of \"ask\" is missing", NULL },
  { "ask/id-empty", "{\"type\":\"ask\",\"id\":\"\",\"host\":\"example.com\",\"port\":443," ASK_TAIL,
    FALSE, "\"id\"", "1 to 128 bytes" },
  { "ask/id-number", "{\"type\":\"ask\",\"id\":1,\"host\":\"example.com\",\"port\":443," ASK_TAIL,
    FALSE, "\"id\"", "got 1" },
  { "ping/id-too-long", "{\"type\":\"ping\",\"id\":\""
    "0123456789012345678901234567890123456789012345678901234567890123"
    "01234567890123456789012345678901234567890123456789012345678901234\"}",
    FALSE, "field \"id\" of \"ping\"", "…" },
  { "pong/id-missing", "{\"type\":\"pong\"}", FALSE, "field \"id\" of \"pong\" is missing", NULL },

  { "decision/verdict", "{\"type\":\"decision\",\"id\":\"a\",\"verdict\":\"maybe\",\"duration\":\"once\","
    "\"pattern\":\"example.com\"}", FALSE, "\"verdict\"", "\"approve\", \"deny\"" },
  { "decision/duration", "{\"type\":\"decision\",\"id\":\"a\",\"verdict\":\"deny\",\"duration\":\"forever\","
    "\"pattern\":\"example.com\"}", FALSE, "\"duration\"", "\"once\", \"session\", \"always\"" },
  { "decision/pattern-missing", "{\"type\":\"decision\",\"id\":\"a\",\"verdict\":\"deny\",\"duration\":\"once\"}",
    FALSE, "field \"pattern\" of \"decision\" is missing", NULL },
  { "decision/pattern-invalid", "{\"type\":\"decision\",\"id\":\"a\",\"verdict\":\"approve\",\"duration\":\"once\","
    "\"pattern\":\"exa*mple.com\"}", FALSE, "field \"pattern\" of \"decision\" is invalid: ", "exa*mple.com" },
  { "decision/deny-star", "{\"type\":\"decision\",\"id\":\"a\",\"verdict\":\"deny\",\"duration\":\"once\","
    "\"pattern\":\"*\"}", FALSE, "field \"pattern\" of \"decision\" is invalid: ", NULL },

  { "cancel/reason", "{\"type\":\"cancel\",\"id\":\"a\",\"reason\":\"bored\"}", FALSE,
    "field \"reason\" of \"cancel\"", "\"timeout\", \"client-gone\"" },

  { "filter/allow-missing", FILTER_HEAD "\"deny\":[],\"approval_mode\":\"ask\",\"approval_timeout_secs\":60}",
    FALSE, "field \"allow\" of \"filter\" is missing", NULL },
  { "filter/allow-object", FILTER_HEAD "\"allow\":{},\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":60}", FALSE, "\"allow\"", "an array" },
  { "filter/allow-entry-type", FILTER_HEAD "\"allow\":[\"a.com\",7],\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":60}", FALSE, "field \"allow[1]\" of \"filter\"", "got 7" },
  { "filter/allow-entry-invalid", FILTER_HEAD "\"allow\":[\"a.com\",\"b..com\"],\"deny\":[],"
    "\"approval_mode\":\"ask\",\"approval_timeout_secs\":60}", FALSE, "field \"allow[1]\" of \"filter\" is invalid: ", "b..com" },
  { "filter/deny-star", FILTER_HEAD "\"allow\":[\"*\"],\"deny\":[\"*\"],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":60}", FALSE, "field \"deny[0]\" of \"filter\"", NULL },
  { "filter/mode", FILTER_HEAD "\"allow\":[],\"deny\":[],\"approval_mode\":\"sometimes\","
    "\"approval_timeout_secs\":60}", FALSE, "\"approval_mode\"", "\"off\", \"ask\"" },
  { "filter/timeout-low", FILTER_HEAD "\"allow\":[],\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":4}", FALSE, "\"approval_timeout_secs\"", "from 5 to 300" },
  { "filter/timeout-high", FILTER_HEAD "\"allow\":[],\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":301}", FALSE, "\"approval_timeout_secs\"", "got 301" },
  { "filter/forget-string", FILTER_HEAD "\"allow\":[],\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":60,\"forget_session\":\"true\"}", FALSE,
    "field \"forget_session\" of \"filter\" must be true or false", "got \"true\"" },
  { "filter/forget-integer", FILTER_HEAD "\"allow\":[],\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":60,\"forget_session\":1}", FALSE,
    "field \"forget_session\" of \"filter\"", "got 1" },
  { "filter/forget-array", FILTER_HEAD "\"allow\":[],\"deny\":[],\"approval_mode\":\"ask\","
    "\"approval_timeout_secs\":60,\"forget_session\":[true]}", FALSE,
    "field \"forget_session\" of \"filter\"", "true or false" },
  { "filter/revision-negative", "{\"type\":\"filter\",\"profile\":\"p\",\"revision\":-1,\"allow\":[],\"deny\":[],"
    "\"approval_mode\":\"ask\",\"approval_timeout_secs\":60}", FALSE, "\"revision\"", "got -1" },
  { "filter/profile-empty", "{\"type\":\"filter\",\"profile\":\"\",\"revision\":1,\"allow\":[],\"deny\":[],"
    "\"approval_mode\":\"ask\",\"approval_timeout_secs\":60}", FALSE, "\"profile\"", "non-empty" },

  { "hello/session-missing", HELLO_HEAD "\"x\":1}", FALSE, "field \"session\" of \"hello\" is missing", NULL },
  { "hello/session-array", HELLO_HEAD "\"session\":[]}", FALSE, "\"session\"", "an object" },
  { "hello/pid-zero", HELLO_HEAD "\"session\":{\"id\":\"s\",\"profile\":\"p\",\"pid\":0}}", FALSE,
    "field \"session.pid\" of \"hello\"", "got 0" },
  { "hello/pid-string", HELLO_HEAD "\"session\":{\"id\":\"s\",\"profile\":\"p\",\"pid\":\"12\"}}", FALSE,
    "\"session.pid\"", NULL },
  { "hello/pid-huge", HELLO_HEAD "\"session\":{\"id\":\"s\",\"profile\":\"p\",\"pid\":2147483648}}", FALSE,
    "\"session.pid\"", "2147483647" },
  { "hello/label-number", HELLO_HEAD "\"session\":{\"id\":\"s\",\"profile\":\"p\",\"pid\":1,\"label\":3}}",
    FALSE, "\"session.label\"", "a string" },
  { "hello/version-missing", "{\"type\":\"hello\",\"session\":{}}", FALSE, "\"version\"", "missing" },
  { "hello/version-string", "{\"type\":\"hello\",\"version\":\"1\",\"session\":{}}", FALSE,
    "field \"version\" of \"hello\" must be the integer 1", NULL },
  { "welcome/filter-missing", "{\"type\":\"welcome\",\"version\":1}", FALSE,
    "field \"filter\" of \"welcome\" is missing", NULL },
  { "welcome/filter-field", "{\"type\":\"welcome\",\"version\":1,\"filter\":{\"profile\":\"p\"}}", FALSE,
    "field \"filter.revision\" of \"welcome\" is missing", NULL },

  { "event/port-string", "{\"type\":\"event\",\"port\":\"443\"}", FALSE, "field \"port\" of \"event\"", NULL },
  { "event/bytes-negative", "{\"type\":\"event\",\"bytes_up\":-5}", FALSE, "\"bytes_up\"", "got -5" },
  { "event/duration-float", "{\"type\":\"event\",\"duration_ms\":1.5}", FALSE, "\"duration_ms\"", NULL },
  { "event/time-invalid", "{\"type\":\"event\",\"time\":\"yesterday\"}", FALSE, "\"time\"", "ISO 8601" },
  { "event/time-no-zone", "{\"type\":\"event\",\"time\":\"2026-12-04T20:17:00\"}", FALSE, "\"time\"", NULL },
  { "event/host-object", "{\"type\":\"event\",\"host\":{}}", FALSE, "\"host\"", "got {}" },

  { "error/code-missing", "{\"type\":\"error\",\"message\":\"m\"}", FALSE,
    "field \"code\" of \"error\" is missing", NULL },
  { "error/message-missing", "{\"type\":\"error\",\"code\":\"c\"}", FALSE,
    "field \"message\" of \"error\" is missing", NULL },
};

static void
test_parse_invalid (gconstpointer data)
{
  const InvalidCase *test = data;
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string (test->line, &error);
  g_assert_null (message);
  if (test->not_json)
    g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
  else
    g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE);

  assert_contains (error->message, test->fragment);
  if (test->fragment2 != NULL)
    assert_contains (error->message, test->fragment2);

  g_assert_true (hg_message_error_is_fatal (error) == test->not_json);
  g_assert_cmpstr (hg_message_error_to_code (error), ==, HG_ERROR_CODE_INVALID_MESSAGE);
}

static void
test_parse_nul_byte (void)
{
  static const char line[] = "{\"type\":\"ping\",\"id\":\"a\0b\"}";
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = hg_message_parse (line, sizeof line - 1, &error);
  g_assert_null (message);
  g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
  assert_contains (error->message, "NUL byte at byte 22");
}

static void
test_parse_not_terminated (void)
{
  /* The parser reads exactly @length bytes: here the `}` lies beyond. */
  static const char line[] = "{\"type\":\"ping\",\"id\":\"a\"}";
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = hg_message_parse (line, sizeof line - 2, &error);
  g_assert_null (message);
  g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
}

static char *
nested_line (guint depth)
{
  GString *line = g_string_new ("{\"type\":\"ping\",\"id\":\"a\",\"x\":");

  for (guint i = 1; i < depth; i++)
    g_string_append_c (line, '[');
  for (guint i = 1; i < depth; i++)
    g_string_append_c (line, ']');
  g_string_append_c (line, '}');
  return g_string_free (line, FALSE);
}

static void
test_parse_depth (void)
{
  g_autofree char *deepest = nested_line (HG_MESSAGE_MAX_DEPTH);
  g_autofree char *too_deep = nested_line (HG_MESSAGE_MAX_DEPTH + 1);
  g_autofree char *very_deep = NULL;
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string (deepest, &error);
  g_assert_no_error (error);
  g_assert_nonnull (message);

  g_clear_pointer (&message, hg_message_free);
  message = parse_string (too_deep, &error);
  g_assert_null (message);
  g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
  assert_contains (error->message, "nested too deep");

  /* json-glib recurses once per level, so a line of 60000 `[` must never
   * reach it. */
  g_clear_error (&error);
  very_deep = nested_line (30000);
  message = parse_string (very_deep, &error);
  g_assert_null (message);
  g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_NOT_JSON);
}

/* Build a valid ping line of exactly @length bytes by padding an unknown
 * field. */
static char *
ping_line_of_length (gsize length)
{
  const char *head = "{\"type\":\"ping\",\"id\":\"p\",\"pad\":\"";
  const char *tail = "\"}";
  gsize pad = length - strlen (head) - strlen (tail);
  GString *line = g_string_sized_new (length + 1);

  g_string_append (line, head);
  for (gsize i = 0; i < pad; i++)
    g_string_append_c (line, 'x');
  g_string_append (line, tail);
  g_assert_cmpuint (line->len, ==, length);
  return g_string_free (line, FALSE);
}

static void
test_parse_line_limit (void)
{
  g_autofree char *longest = ping_line_of_length (HG_MESSAGE_MAX_LINE);
  g_autofree char *too_long = ping_line_of_length (HG_MESSAGE_MAX_LINE + 1);
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = parse_string (longest, &error);
  g_assert_no_error (error);
  g_assert_cmpint (message->type, ==, HG_MESSAGE_TYPE_PING);

  g_clear_pointer (&message, hg_message_free);
  message = parse_string (too_long, &error);
  g_assert_null (message);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_LINE_TOO_LONG);
  g_assert_true (hg_message_error_is_fatal (error));
}

static void
test_parse_version_mismatch (void)
{
  static const char * const lines[] = {
    "{\"type\":\"hello\",\"version\":2,\"session\":{\"changed\":true}}",
    "{\"type\":\"welcome\",\"version\":0}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      g_autoptr(HgMessage) message = NULL;
      g_autoptr(GError) error = NULL;

      message = parse_string (lines[i], &error);
      g_assert_null (message);
      g_assert_error (error, HG_MESSAGE_ERROR, HG_MESSAGE_ERROR_VERSION_MISMATCH);
      assert_contains (error->message, "version");
      g_assert_cmpstr (hg_message_error_to_code (error), ==, HG_ERROR_CODE_VERSION_MISMATCH);
      g_assert_true (hg_message_error_is_fatal (error));
    }
}

static void
test_parse_quote_truncated (void)
{
  g_autofree char *line = NULL;
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *value = g_strnfill (1000, 'y');

  line = g_strdup_printf ("{\"type\":\"ping\",\"id\":\"%s\"}", value);
  message = parse_string (line, &error);
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_MESSAGE);
  g_assert_cmpuint (strlen (error->message), <, 200);
  assert_contains (error->message, "…");
}

static void
test_error_mapping (void)
{
  g_autoptr(GError) io_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "gone");

  g_assert_true (hg_message_error_is_fatal (io_error));
  g_assert_cmpstr (hg_message_error_to_code (io_error), ==, HG_ERROR_CODE_INVALID_MESSAGE);
}

static void
test_type_names (void)
{
  g_assert_cmpstr (hg_message_type_to_string (HG_MESSAGE_TYPE_HELLO), ==, "hello");
  g_assert_cmpstr (hg_message_type_to_string (HG_MESSAGE_TYPE_ERROR), ==, "error");
  g_assert_null (hg_message_type_to_string (HG_MESSAGE_TYPE_UNKNOWN));
  g_assert_cmpstr (hg_ask_kind_to_string (HG_ASK_KIND_CONNECT), ==, "connect");
  g_assert_cmpstr (hg_decision_verdict_to_string (HG_DECISION_DENY), ==, "deny");
  g_assert_cmpstr (hg_decision_duration_to_string (HG_DECISION_SESSION), ==, "session");
  g_assert_cmpstr (hg_cancel_reason_to_string (HG_CANCEL_REASON_CLIENT_GONE), ==, "client-gone");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/message/round-trip/hello", test_round_trip_hello);
  g_test_add_func ("/message/round-trip/hello-minimal", test_round_trip_hello_minimal);
  g_test_add_func ("/message/round-trip/welcome", test_round_trip_welcome);
  g_test_add_func ("/message/round-trip/ask", test_round_trip_ask);
  g_test_add_func ("/message/round-trip/ask-ipv6", test_round_trip_ask_ipv6);
  g_test_add_func ("/message/round-trip/decision", test_round_trip_decision);
  g_test_add_func ("/message/round-trip/decision-deny", test_round_trip_decision_deny);
  g_test_add_func ("/message/round-trip/cancel", test_round_trip_cancel);
  g_test_add_func ("/message/round-trip/filter", test_round_trip_filter);
  g_test_add_func ("/message/round-trip/filter-empty", test_round_trip_filter_empty);
  g_test_add_func ("/message/round-trip/filter-forget", test_round_trip_filter_forget);
  g_test_add_func ("/message/round-trip/event", test_round_trip_event);
  g_test_add_func ("/message/round-trip/event-empty", test_round_trip_event_empty);
  g_test_add_func ("/message/round-trip/ping-pong", test_round_trip_ping_pong);
  g_test_add_func ("/message/round-trip/error", test_round_trip_error);

  g_test_add_func ("/message/serialize/escapes-newlines", test_serialize_escapes_newlines);
  g_test_add_func ("/message/serialize/invalid-utf8", test_serialize_invalid_utf8);
  g_test_add_func ("/message/serialize/unknown", test_serialize_unknown);
  g_test_add_func ("/message/serialize/forget-default", test_serialize_forget_default);

  for (guint i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/message/parse/valid/%s", valid_cases[i].name);

      g_test_add_data_func (path, &valid_cases[i], test_parse_valid);
    }

  for (guint i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/message/parse/invalid/%s", invalid_cases[i].name);

      g_test_add_data_func (path, &invalid_cases[i], test_parse_invalid);
    }

  g_test_add_func ("/message/parse/fields", test_parse_fields);
  g_test_add_func ("/message/parse/unknown-type", test_parse_unknown_type);
  g_test_add_func ("/message/parse/null-optional", test_parse_null_optional);
  g_test_add_func ("/message/parse/forget-absent", test_parse_forget_absent);
  g_test_add_func ("/message/parse/forget-true", test_parse_forget_true);
  g_test_add_func ("/message/parse/nul-byte", test_parse_nul_byte);
  g_test_add_func ("/message/parse/not-terminated", test_parse_not_terminated);
  g_test_add_func ("/message/parse/depth", test_parse_depth);
  g_test_add_func ("/message/parse/line-limit", test_parse_line_limit);
  g_test_add_func ("/message/parse/version-mismatch", test_parse_version_mismatch);
  g_test_add_func ("/message/parse/quote-truncated", test_parse_quote_truncated);
  g_test_add_func ("/message/error-mapping", test_error_mapping);
  g_test_add_func ("/message/type-names", test_type_names);

  return g_test_run ();
}
