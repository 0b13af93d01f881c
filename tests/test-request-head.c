/* test-request-head.c: tests of the strict request head parser
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "hg-request-head.h"

/* A string literal and its length, so cases may contain NUL bytes. */
#define BYTES(literal) literal, sizeof (literal) - 1

typedef struct {
  const char *path;
  const char *data;
  gsize length;
  guint status;
  const char *message_part;
} InvalidCase;

static const InvalidCase invalid_cases[] = {
  { "/request-head/connect/missing-port",
    BYTES ("CONNECT host HTTP/1.1\r\nHost: host\r\n\r\n"), 400, "“host”" },
  { "/request-head/connect/empty-port",
    BYTES ("CONNECT host: HTTP/1.1\r\n\r\n"), 400, "“host:”" },
  { "/request-head/connect/bracketed-ipv4",
    BYTES ("CONNECT [1.2.3.4]:443 HTTP/1.1\r\n\r\n"), 400, "“[1.2.3.4]:443”" },
  { "/request-head/connect/bracketed-name",
    BYTES ("CONNECT [name]:443 HTTP/1.1\r\n\r\n"), 400, "“[name]:443”" },
  { "/request-head/connect/port-suffix",
    BYTES ("CONNECT host:443x HTTP/1.1\r\n\r\n"), 400, "“host:443x”" },
  { "/request-head/connect/port-slash",
    BYTES ("CONNECT host:443/ HTTP/1.1\r\n\r\n"), 400, "“host:443/”" },
  { "/request-head/connect/space-before-port",
    BYTES ("CONNECT host :443 HTTP/1.1\r\n\r\n"), 400, NULL },
  { "/request-head/connect/port-zero",
    BYTES ("CONNECT host:0 HTTP/1.1\r\n\r\n"), 400, "“host:0”" },
  { "/request-head/connect/port-too-large",
    BYTES ("CONNECT host:65536 HTTP/1.1\r\n\r\n"), 400, "“host:65536”" },
  { "/request-head/connect/port-leading-zero",
    BYTES ("CONNECT host:0443 HTTP/1.1\r\n\r\n"), 400, "“host:0443”" },
  { "/request-head/connect/wildcard",
    BYTES ("CONNECT *.a.example:443 HTTP/1.1\r\n\r\n"), 400, "“*.a.example:443”" },
  { "/request-head/connect/short-ipv4",
    BYTES ("CONNECT 127.1:443 HTTP/1.1\r\n\r\n"), 400, "“127.1:443”" },
  { "/request-head/connect/integer-ipv4",
    BYTES ("CONNECT 2130706433:443 HTTP/1.1\r\n\r\n"), 400, "“2130706433:443”" },
  { "/request-head/connect/absolute-uri",
    BYTES ("CONNECT http://a.example:443 HTTP/1.1\r\n\r\n"), 400, "“http://a.example:443”" },
  { "/request-head/connect/with-body",
    BYTES ("CONNECT host:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 400, "body" },
  { "/request-head/connect/chunked-body",
    BYTES ("CONNECT host:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "body" },
  { "/request-head/host/duplicate",
    BYTES ("GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400, "Host" },
  { "/request-head/host/duplicate-case",
    BYTES ("GET http://a/ HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n"), 400, "Host" },
  { "/request-head/content-length/plus",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), 400, "“+5”" },
  { "/request-head/content-length/suffix",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 5a\r\n\r\n"), 400, "“5a”" },
  { "/request-head/content-length/negative",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400, "“-1”" },
  { "/request-head/content-length/inner-space",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 1 0\r\n\r\n"), 400, "“1 0”" },
  { "/request-head/content-length/empty",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400, "empty" },
  { "/request-head/content-length/empty-element",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 5,\r\n\r\n"), 400, "empty" },
  { "/request-head/content-length/conflicting",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400, "conflicting" },
  { "/request-head/content-length/conflicting-list",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n"), 400, "conflicting" },
  { "/request-head/content-length/overflow",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n"), 400, "18" },
  { "/request-head/content-length/with-chunked",
    BYTES ("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "both" },
  { "/request-head/transfer-encoding/gzip-chunked",
    BYTES ("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 400, "“gzip, chunked”" },
  { "/request-head/transfer-encoding/identity",
    BYTES ("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), 400, "“identity”" },
  { "/request-head/transfer-encoding/repeated",
    BYTES ("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, "more than one" },
  { "/request-head/transfer-encoding/empty",
    BYTES ("POST http://a/ HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n"), 400, NULL },
  { "/request-head/header/space-before-colon",
    BYTES ("GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n"), 400, "“Host”" },
  { "/request-head/header/space-in-name",
    BYTES ("GET http://a/ HTTP/1.1\r\nX Y: z\r\n\r\n"), 400, "“X Y”" },
  { "/request-head/header/empty-name",
    BYTES ("GET http://a/ HTTP/1.1\r\n: z\r\n\r\n"), 400, "empty name" },
  { "/request-head/header/no-colon",
    BYTES ("GET http://a/ HTTP/1.1\r\nNoColon\r\n\r\n"), 400, "colon" },
  { "/request-head/header/control-char",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\001b\r\n\r\n"), 400, "“X-A”" },
  { "/request-head/header/delete-char",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\177b\r\n\r\n"), 400, "control" },
  { "/request-head/nul/header-value",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\0b\r\n\r\n"), 400, "NUL" },
  { "/request-head/nul/request-line",
    BYTES ("GET http://a/\0x HTTP/1.1\r\n\r\n"), 400, "NUL" },
  { "/request-head/line/bare-lf",
    BYTES ("GET http://a/ HTTP/1.1\nHost: a\n\n"), 400, "LF" },
  { "/request-head/line/bare-lf-header",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n"), 400, "LF" },
  { "/request-head/line/bare-cr-request-line",
    BYTES ("GET http://a/\r HTTP/1.1\r\n\r\n"), 400, "CR" },
  { "/request-head/line/bare-cr-header",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), 400, "CR" },
  { "/request-head/line/obs-fold",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"), 400, "folding" },
  { "/request-head/line/obs-fold-tab",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n"), 400, "folding" },
  { "/request-head/line/no-empty-line",
    BYTES ("GET http://a/ HTTP/1.1\r\nX-A: a\r\n"), 400, "empty line" },
  { "/request-head/line/trailing-bytes",
    BYTES ("GET http://a/ HTTP/1.1\r\n\r\nGET"), 400, "after" },
  { "/request-head/request-line/double-space",
    BYTES ("GET  http://a/ HTTP/1.1\r\n\r\n"), 400, "single spaces" },
  { "/request-head/request-line/trailing-space",
    BYTES ("GET http://a/ HTTP/1.1 \r\n\r\n"), 400, "single spaces" },
  { "/request-head/request-line/tab",
    BYTES ("GET\thttp://a/ HTTP/1.1\r\n\r\n"), 400, "control" },
  { "/request-head/request-line/missing-version",
    BYTES ("GET http://a/\r\n\r\n"), 400, "single spaces" },
  { "/request-head/request-line/empty",
    BYTES ("\n"), 400, "LF" },
  { "/request-head/request-line/bad-method",
    BYTES ("GE(T http://a/ HTTP/1.1\r\n\r\n"), 400, "method" },
  { "/request-head/request-line/non-ascii-target",
    BYTES ("GET http://a/\303\251 HTTP/1.1\r\n\r\n"), 400, "ASCII" },
  { "/request-head/version/lower-case",
    BYTES ("GET http://a/ http/1.1\r\n\r\n"), 400, "version" },
  { "/request-head/version/garbage",
    BYTES ("GET http://a/ HTTP/1.1x\r\n\r\n"), 400, "version" },
  { "/request-head/version/missing-minor",
    BYTES ("GET http://a/ HTTP/1.\r\n\r\n"), 400, "version" },
  { "/request-head/version/missing-major",
    BYTES ("GET http://a/ HTTP/.1\r\n\r\n"), 400, "version" },
  { "/request-head/version/http2",
    BYTES ("GET http://a/ HTTP/2.0\r\n\r\n"), 505, "“HTTP/2.0”" },
  { "/request-head/version/http2-no-minor",
    BYTES ("GET http://a/ HTTP/2\r\n\r\n"), 505, "“HTTP/2”" },
  { "/request-head/version/http12",
    BYTES ("GET http://a/ HTTP/1.2\r\n\r\n"), 505, "“HTTP/1.2”" },
  { "/request-head/version/http09",
    BYTES ("GET http://a/ HTTP/0.9\r\n\r\n"), 505, "“HTTP/0.9”" },
  { "/request-head/target/https",
    BYTES ("GET https://a/ HTTP/1.1\r\n\r\n"), 400, "CONNECT" },
  { "/request-head/target/origin-form",
    BYTES ("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "absolute URI" },
  { "/request-head/target/asterisk",
    BYTES ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "absolute URI" },
  { "/request-head/target/authority-form",
    BYTES ("GET a:80 HTTP/1.1\r\n\r\n"), 400, "http://" },
  { "/request-head/target/ftp",
    BYTES ("GET ftp://a/ HTTP/1.1\r\n\r\n"), 400, "http://" },
  { "/request-head/target/no-slashes",
    BYTES ("GET http:a/b HTTP/1.1\r\n\r\n"), 400, "http://" },
  { "/request-head/target/userinfo",
    BYTES ("GET http://user@a/ HTTP/1.1\r\n\r\n"), 400, "user information" },
  { "/request-head/target/password",
    BYTES ("GET http://user:pw@a/ HTTP/1.1\r\n\r\n"), 400, "user information" },
  { "/request-head/target/empty-host",
    BYTES ("GET http:///x HTTP/1.1\r\n\r\n"), 400, "empty host" },
  { "/request-head/target/empty-host-port",
    BYTES ("GET http://:80/x HTTP/1.1\r\n\r\n"), 400, "empty host" },
  { "/request-head/target/fragment",
    BYTES ("GET http://a/x#y HTTP/1.1\r\n\r\n"), 400, "fragment" },
  { "/request-head/target/bad-percent",
    BYTES ("GET http://a/%zz HTTP/1.1\r\n\r\n"), 400, "“http://a/%zz”" },
  { "/request-head/target/empty-port",
    BYTES ("GET http://a:/ HTTP/1.1\r\n\r\n"), 400, "“http://a:/”" },
  { "/request-head/target/port-leading-zero",
    BYTES ("GET http://a:080/ HTTP/1.1\r\n\r\n"), 400, "“http://a:080/”" },
  { "/request-head/target/port-too-large",
    BYTES ("GET http://a:65536/ HTTP/1.1\r\n\r\n"), 400, NULL },
  { "/request-head/target/percent-host",
    BYTES ("GET http://ex%61mple.com/ HTTP/1.1\r\n\r\n"), 400, NULL },
  { "/request-head/target/bracketed-name",
    BYTES ("GET http://[name]/ HTTP/1.1\r\n\r\n"), 400, NULL },
  { "/request-head/target/wildcard-host",
    BYTES ("GET http://*.a.example/ HTTP/1.1\r\n\r\n"), 400, "“http://*.a.example/”" },
  { "/request-head/target/hex-ipv4",
    BYTES ("GET http://0x7f.1/ HTTP/1.1\r\n\r\n"), 400, "“http://0x7f.1/”" },
  { "/request-head/target/backslash-host",
    BYTES ("GET http://a.example\\b/ HTTP/1.1\r\n\r\n"), 400, NULL },
  { "/request-head/target/backslash-userinfo",
    BYTES ("GET http://a.example\\@b/ HTTP/1.1\r\n\r\n"), 400, "user information" },
  { "/request-head/upgrade/websocket",
    BYTES ("GET http://a/ HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), 501, "Upgrade" },
  { "/request-head/upgrade/connect",
    BYTES ("CONNECT a:443 HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"), 501, "Upgrade" },
  { "/request-head/upgrade/after-framing",
    BYTES ("GET http://a/ HTTP/1.1\r\nUpgrade: websocket\r\nContent-Length: x\r\n\r\n"), 400, "“x”" },
};

static void
test_invalid (gconstpointer data)
{
  const InvalidCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgRequestHead) head = NULL;

  head = hg_request_head_parse (test->data, test->length, &error);

  g_assert_null (head);
  g_assert_error (error, HG_HTTP_ERROR, (gint) test->status);
  if (test->message_part != NULL)
    g_assert_nonnull (strstr (error->message, test->message_part));
  for (const char *p = error->message; *p != '\0'; p++)
    g_assert_false (g_ascii_iscntrl (*p));
}

static HgRequestHead *
parse_valid (const char *text)
{
  g_autoptr(GError) error = NULL;
  HgRequestHead *head;

  head = hg_request_head_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_nonnull (head);
  return head;
}

static void
test_connect_name (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("CONNECT Example.COM:443 HTTP/1.1\r\nHost: Example.COM:443\r\n\r\n");

  g_assert_true (hg_request_head_is_connect (head));
  g_assert_cmpstr (head->method, ==, "CONNECT");
  g_assert_cmpstr (head->target, ==, "Example.COM:443");
  g_assert_cmpuint (head->http_minor, ==, 1);
  g_assert_cmpstr (head->authority->name, ==, "example.com");
  g_assert_cmpuint (head->authority->port, ==, 443);
  g_assert_null (head->authority->address);
  g_assert_null (head->uri);
  g_assert_cmpint (head->content_length, ==, -1);
  g_assert_false (head->chunked);
  g_assert_true (head->keep_alive);
}

static void
test_connect_ipv6 (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("CONNECT [::1]:443 HTTP/1.1\r\n\r\n");

  g_assert_true (hg_request_head_is_connect (head));
  g_assert_cmpstr (head->authority->name, ==, "::1");
  g_assert_cmpuint (head->authority->port, ==, 443);
  g_assert_nonnull (head->authority->address);
}

static void
test_connect_ipv4 (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("CONNECT 1.2.3.4:443 HTTP/1.0\r\n\r\n");

  g_assert_cmpstr (head->authority->name, ==, "1.2.3.4");
  g_assert_cmpuint (head->authority->port, ==, 443);
  g_assert_nonnull (head->authority->address);
  g_assert_cmpuint (head->http_minor, ==, 0);
}

static void
test_connect_zero_length (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");

  g_assert_cmpint (head->content_length, ==, 0);
}

static void
test_get_query (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("GET http://Example.COM/a/../b/%7e?q=%7e&x HTTP/1.1\r\nHost: example.com\r\n\r\n");
  g_autofree char *uri = NULL;

  g_assert_false (hg_request_head_is_connect (head));
  g_assert_cmpstr (head->authority->name, ==, "example.com");
  g_assert_cmpuint (head->authority->port, ==, 80);
  g_assert_cmpstr (g_uri_get_scheme (head->uri), ==, "http");
  g_assert_cmpstr (g_uri_get_host (head->uri), ==, "example.com");
  g_assert_cmpint (g_uri_get_port (head->uri), ==, -1);
  g_assert_cmpstr (g_uri_get_path (head->uri), ==, "/a/../b/%7e");
  g_assert_cmpstr (g_uri_get_query (head->uri), ==, "q=%7e&x");
  g_assert_null (g_uri_get_userinfo (head->uri));
  uri = g_uri_to_string (head->uri);
  g_assert_cmpstr (uri, ==, "http://example.com/a/../b/%7e?q=%7e&x");
}

static void
test_get_port (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("GET http://a.example:8080/ HTTP/1.1\r\n\r\n");

  g_assert_cmpuint (head->authority->port, ==, 8080);
  g_assert_cmpint (g_uri_get_port (head->uri), ==, 8080);
}

static void
test_get_ipv6 (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("GET http://[::1]:8080/x HTTP/1.1\r\n\r\n");
  g_autofree char *uri = NULL;

  g_assert_cmpstr (head->authority->name, ==, "::1");
  g_assert_cmpuint (head->authority->port, ==, 8080);
  g_assert_cmpstr (g_uri_get_host (head->uri), ==, "::1");
  uri = g_uri_to_string (head->uri);
  g_assert_cmpstr (uri, ==, "http://[::1]:8080/x");
}

static void
test_get_empty_path (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("GET http://a.example?x=1 HTTP/1.1\r\n\r\n");

  g_assert_cmpstr (g_uri_get_path (head->uri), ==, "/");
  g_assert_cmpstr (g_uri_get_query (head->uri), ==, "x=1");
}

static void
test_upper_case_scheme (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("GET HTTP://a.example/p HTTP/1.1\r\n\r\n");

  g_assert_cmpstr (g_uri_get_scheme (head->uri), ==, "http");
  g_assert_cmpstr (g_uri_get_path (head->uri), ==, "/p");
}

static void
test_http10_keep_alive (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("GET http://a.example/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");

  g_assert_cmpuint (head->http_minor, ==, 0);
  g_assert_true (head->keep_alive);
}

static void
test_http10_default_close (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("GET http://a.example/ HTTP/1.0\r\n\r\n");

  g_assert_false (head->keep_alive);
}

static void
test_http10_chunked_closes (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("POST http://a.example/ HTTP/1.0\r\nConnection: keep-alive\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");

  g_assert_true (head->chunked);
  g_assert_false (head->keep_alive);
}

static void
test_http11_close (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("GET http://a.example/ HTTP/1.1\r\nConnection: x-foo\r\nConnection: x-bar ,  Close\r\n\r\n");

  g_assert_false (head->keep_alive);
}

static void
test_header_order (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("GET http://a.example/ HTTP/1.1\r\n"
                 "X-First: 1\r\n"
                 "X-Second:2\r\n"
                 "x-first: \t3 \t\r\n"
                 "X-Empty:\r\n"
                 "X-Obs-Text: caf\351\r\n"
                 "\r\n");
  static const char * const expected[][2] = {
    { "X-First", "1" },
    { "X-Second", "2" },
    { "x-first", "3" },
    { "X-Empty", "" },
    { "X-Obs-Text", "caf\351" },
  };
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;
  gsize i = 0;

  soup_message_headers_iter_init (&iter, head->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      g_assert_cmpuint (i, <, G_N_ELEMENTS (expected));
      g_assert_cmpstr (name, ==, expected[i][0]);
      g_assert_cmpstr (value, ==, expected[i][1]);
      i++;
    }
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (expected));
}

static void
test_chunked_post (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("POST http://a.example/upload HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");

  g_assert_cmpstr (head->method, ==, "POST");
  g_assert_true (head->chunked);
  g_assert_cmpint (head->content_length, ==, -1);
  g_assert_true (head->keep_alive);
}

static void
test_content_length (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 005\r\n\r\n");

  g_assert_cmpint (head->content_length, ==, 5);
  g_assert_false (head->chunked);
}

static void
test_content_length_max (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n");

  g_assert_cmpint (head->content_length, ==, G_GINT64_CONSTANT (999999999999999999));
}

static void
test_content_length_duplicate (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("POST http://a.example/ HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7 , 7\r\n\r\n");

  g_assert_cmpint (head->content_length, ==, 7);
  g_assert_cmpstr (soup_message_headers_get_list (head->headers, "Content-Length"), ==, "7");
}

static void
test_no_host (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("GET http://a.example/ HTTP/1.1\r\n\r\n");

  g_assert_null (soup_message_headers_get_one (head->headers, "Host"));
  g_assert_cmpstr (head->authority->name, ==, "a.example");
}

static void
test_leading_crlf (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("\r\n\r\nGET http://a.example/ HTTP/1.1\r\n\r\n");

  g_assert_cmpstr (head->method, ==, "GET");
}

/* A client choosing a new scheme per request must not grow a table that
 * lives as long as the proxy, such as GLib's interned strings. */
static void
test_scheme_not_interned (void)
{
  const char *text = "GET hgunusedscheme://a/ HTTP/1.1\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgRequestHead) head = NULL;

  head = hg_request_head_parse (text, strlen (text), &error);

  g_assert_null (head);
  g_assert_error (error, HG_HTTP_ERROR, 400);
  g_assert_cmpuint (g_quark_try_string ("hgunusedscheme"), ==, 0);
}

static void
test_find_end_incomplete (void)
{
  const char *text = "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r";

  g_assert_cmpuint (hg_request_head_find_end (text, strlen (text)), ==, 0);
  g_assert_cmpuint (hg_request_head_find_end (text, 0), ==, 0);
}

static void
test_find_end_complete (void)
{
  const char *text = "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n";

  g_assert_cmpuint (hg_request_head_find_end (text, strlen (text)), ==, strlen (text));
}

static void
test_find_end_extra (void)
{
  const char *head = "POST http://a/ HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
  g_autofree char *text = g_strconcat (head, "body\r\n\r\n", NULL);

  g_assert_cmpuint (hg_request_head_find_end (text, strlen (text)), ==, strlen (head));
}

static void
test_find_end_bare_lf (void)
{
  const char *text = "GET http://a/ HTTP/1.1\nHost: a\n\nrest";

  g_assert_cmpuint (hg_request_head_find_end (text, strlen (text)), ==, strlen (text) - 4);
}

static void
test_find_end_leading_crlf (void)
{
  const char *text = "\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n";

  g_assert_cmpuint (hg_request_head_find_end (text, 2), ==, 0);
  g_assert_cmpuint (hg_request_head_find_end (text, 4), ==, 0);
  g_assert_cmpuint (hg_request_head_find_end (text, strlen (text)), ==, strlen (text));
}

static void
test_find_end_max (void)
{
  gsize length = HG_REQUEST_HEAD_MAX + 4;
  g_autofree char *text = g_malloc (length);

  memset (text, 'a', length);
  memcpy (text, "GET http://a/ HTTP/1.1\r\nX-A: ", 29);
  memcpy (text + length - 4, "\r\n\r\n", 4);

  g_assert_cmpuint (hg_request_head_find_end (text, length), ==, 0);
  g_assert_true (hg_request_head_is_too_large (length));
  g_assert_true (hg_request_head_is_too_large (HG_REQUEST_HEAD_MAX));
  g_assert_false (hg_request_head_is_too_large (HG_REQUEST_HEAD_MAX - 1));

  /* A head that ends exactly at the limit is still accepted. */
  memcpy (text + HG_REQUEST_HEAD_MAX - 4, "\r\n\r\n", 4);
  g_assert_cmpuint (hg_request_head_find_end (text, length), ==, HG_REQUEST_HEAD_MAX);
}

static void
test_strip_connection_names (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("GET http://a.example/ HTTP/1.1\r\n"
                 "Host: a.example\r\n"
                 "Connection: X-Named, keep-alive\r\n"
                 "Connection: x-other\r\n"
                 "X-Named: 1\r\n"
                 "X-Other: 2\r\n"
                 "Keep-Alive: timeout=5\r\n"
                 "Proxy-Connection: keep-alive\r\n"
                 "Proxy-Authorization: Basic eDp5\r\n"
                 "TE: trailers\r\n"
                 "Trailer: X-Checksum\r\n"
                 "X-Kept: 3\r\n"
                 "\r\n");

  hg_request_head_strip_hop_by_hop (head->headers);

  g_assert_null (soup_message_headers_get_one (head->headers, "Connection"));
  g_assert_null (soup_message_headers_get_one (head->headers, "X-Named"));
  g_assert_null (soup_message_headers_get_one (head->headers, "X-Other"));
  g_assert_null (soup_message_headers_get_one (head->headers, "Keep-Alive"));
  g_assert_null (soup_message_headers_get_one (head->headers, "Proxy-Connection"));
  g_assert_null (soup_message_headers_get_one (head->headers, "Proxy-Authorization"));
  g_assert_null (soup_message_headers_get_one (head->headers, "TE"));
  g_assert_null (soup_message_headers_get_one (head->headers, "Trailer"));
  g_assert_cmpstr (soup_message_headers_get_one (head->headers, "X-Kept"), ==, "3");
  g_assert_cmpstr (soup_message_headers_get_one (head->headers, "Host"), ==, "a.example");
}

static void
test_strip_upgrade (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  soup_message_headers_append (headers, "Upgrade", "websocket");
  soup_message_headers_append (headers, "X-Kept", "1");

  hg_request_head_strip_hop_by_hop (headers);

  g_assert_null (soup_message_headers_get_one (headers, "Upgrade"));
  g_assert_cmpstr (soup_message_headers_get_one (headers, "X-Kept"), ==, "1");
}

static void
test_strip_keeps_framing (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("POST http://a.example/ HTTP/1.1\r\n"
                 "Connection: Content-Length, transfer-encoding\r\n"
                 "Content-Length: 4\r\n"
                 "\r\n");
  g_autoptr(SoupMessageHeaders) chunked = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  hg_request_head_strip_hop_by_hop (head->headers);
  g_assert_cmpstr (soup_message_headers_get_one (head->headers, "Content-Length"), ==, "4");

  soup_message_headers_append (chunked, "Connection", "Transfer-Encoding");
  soup_message_headers_append (chunked, "Transfer-Encoding", "chunked");
  hg_request_head_strip_hop_by_hop (chunked);
  g_assert_cmpstr (soup_message_headers_get_one (chunked, "Transfer-Encoding"), ==, "chunked");
}

static void
test_sanitize_crlf (void)
{
  g_autofree char *reason = hg_http_sanitize_reason ("bad\r\nX-Injected: 1");

  g_assert_cmpstr (reason, ==, "badX-Injected: 1");
}

static void
test_sanitize_controls (void)
{
  g_autofree char *reason = hg_http_sanitize_reason ("\001a\tb\177c\302\205d");

  g_assert_cmpstr (reason, ==, "abcd");
}

static void
test_sanitize_quotes (void)
{
  g_autofree char *reason = hg_http_sanitize_reason ("Invalid host \u201Ca\u201D, \u201Eb\u201C, \u2018c\u2019");

  g_assert_cmpstr (reason, ==, "Invalid host \"a\", \"b\", 'c'");
}

static void
test_sanitize_invalid_utf8 (void)
{
  g_autofree char *reason = hg_http_sanitize_reason ("a\377b");

  g_assert_cmpstr (reason, ==, "a\357\277\275b");
}

static void
test_sanitize_truncate (void)
{
  g_autofree char *ascii = g_strnfill (300, 'a');
  g_autoptr(GString) accented = g_string_new ("a");
  g_autofree char *short_ascii = NULL;
  g_autofree char *short_accented = NULL;

  for (guint i = 0; i < 150; i++)
    g_string_append (accented, "\303\251");

  short_ascii = hg_http_sanitize_reason (ascii);
  short_accented = hg_http_sanitize_reason (accented->str);

  g_assert_cmpuint (strlen (short_ascii), ==, HG_HTTP_REASON_MAX);
  /* "a" plus 99 two-byte characters: a 100th would end at byte 201. */
  g_assert_cmpuint (strlen (short_accented), ==, HG_HTTP_REASON_MAX - 1);
  g_assert_true (g_utf8_validate (short_accented, -1, NULL));
}

static void
test_userinfo_redacted (void)
{
  static const char text[] = "GET http://user:secret@a.example:81/p HTTP/1.1\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgRequestHead) head = hg_request_head_parse (text, strlen (text), &error);

  g_assert_null (head);
  g_assert_error (error, HG_HTTP_ERROR, 400);
  g_assert_nonnull (strstr (error->message, "“http://…@a.example:81/p”"));
  g_assert_null (strstr (error->message, "secret"));
  g_assert_null (strstr (error->message, "user:"));
}

static void
test_connect_userinfo_redacted (void)
{
  static const char text[] = "CONNECT user:secret@a.example:443 HTTP/1.1\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(HgRequestHead) head = hg_request_head_parse (text, strlen (text), &error);

  g_assert_null (head);
  g_assert_error (error, HG_HTTP_ERROR, 400);
  g_assert_nonnull (strstr (error->message, "“…@a.example:443”"));
  g_assert_nonnull (strstr (error->message, "user information"));
  g_assert_null (strstr (error->message, "secret"));
}

/* Via: this process's name, what it adds, and what counts as a loop. */

static void
test_via_name (void)
{
  const char *name = hg_request_head_via_name ();

  g_assert_true (g_str_has_prefix (name, "hostgate-"));
  g_assert_cmpuint (strlen (name), ==, strlen ("hostgate-") + 16);
  g_assert_true (hg_request_head_via_name () == name);
}

static void
test_via_build_first (void)
{
  g_autoptr(HgRequestHead) head = parse_valid ("CONNECT a.example:443 HTTP/1.0\r\n\r\n");
  g_autofree char *via = hg_request_head_build_via (head);
  g_autofree char *expected = g_strdup_printf ("1.0 %s", hg_request_head_via_name ());

  g_assert_cmpstr (via, ==, expected);
}

static void
test_via_build_appends (void)
{
  g_autoptr(HgRequestHead) head =
    parse_valid ("CONNECT a.example:443 HTTP/1.1\r\nVia: 1.1 one\r\nvia: 1.0 two (comment)\r\n\r\n");
  g_autofree char *via = hg_request_head_build_via (head);
  g_autofree char *expected = g_strdup_printf ("1.1 one, 1.0 two (comment), 1.1 %s",
                                               hg_request_head_via_name ());

  g_assert_cmpstr (via, ==, expected);
}

static void
test_via_looped (void)
{
  g_autofree char *text = g_strdup_printf ("GET http://a.example/ HTTP/1.1\r\n"
                                           "Via: 1.1 other\r\nVIA: 1.1 %s, 1.1 next\r\n\r\n",
                                           hg_request_head_via_name ());
  g_autoptr(HgRequestHead) head = parse_valid (text);

  g_assert_true (hg_request_head_is_looped (head));
}

static void
test_via_not_looped (void)
{
  g_autoptr(HgRequestHead) plain = parse_valid ("CONNECT a.example:443 HTTP/1.1\r\n\r\n");
  g_autoptr(HgRequestHead) other =
    parse_valid ("CONNECT a.example:443 HTTP/1.1\r\nVia: 1.1 hostgate-0123456789abcdef\r\n\r\n");

  g_assert_false (hg_request_head_is_looped (plain));
  g_assert_false (hg_request_head_is_looped (other));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    g_test_add_data_func (invalid_cases[i].path, &invalid_cases[i], test_invalid);

  g_test_add_func ("/request-head/valid/connect-name", test_connect_name);
  g_test_add_func ("/request-head/valid/connect-ipv6", test_connect_ipv6);
  g_test_add_func ("/request-head/valid/connect-ipv4", test_connect_ipv4);
  g_test_add_func ("/request-head/valid/connect-zero-length", test_connect_zero_length);
  g_test_add_func ("/request-head/valid/get-query", test_get_query);
  g_test_add_func ("/request-head/valid/get-port", test_get_port);
  g_test_add_func ("/request-head/valid/get-ipv6", test_get_ipv6);
  g_test_add_func ("/request-head/valid/get-empty-path", test_get_empty_path);
  g_test_add_func ("/request-head/valid/upper-case-scheme", test_upper_case_scheme);
  g_test_add_func ("/request-head/valid/http10-keep-alive", test_http10_keep_alive);
  g_test_add_func ("/request-head/valid/http10-default-close", test_http10_default_close);
  g_test_add_func ("/request-head/valid/http10-chunked-closes", test_http10_chunked_closes);
  g_test_add_func ("/request-head/valid/http11-close", test_http11_close);
  g_test_add_func ("/request-head/valid/header-order", test_header_order);
  g_test_add_func ("/request-head/valid/chunked-post", test_chunked_post);
  g_test_add_func ("/request-head/valid/content-length", test_content_length);
  g_test_add_func ("/request-head/valid/content-length-max", test_content_length_max);
  g_test_add_func ("/request-head/valid/content-length-duplicate", test_content_length_duplicate);
  g_test_add_func ("/request-head/valid/no-host", test_no_host);
  g_test_add_func ("/request-head/valid/leading-crlf", test_leading_crlf);

  g_test_add_func ("/request-head/target/scheme-not-interned", test_scheme_not_interned);

  g_test_add_func ("/request-head/find-end/incomplete", test_find_end_incomplete);
  g_test_add_func ("/request-head/find-end/complete", test_find_end_complete);
  g_test_add_func ("/request-head/find-end/extra-bytes", test_find_end_extra);
  g_test_add_func ("/request-head/find-end/bare-lf", test_find_end_bare_lf);
  g_test_add_func ("/request-head/find-end/leading-crlf", test_find_end_leading_crlf);
  g_test_add_func ("/request-head/find-end/max", test_find_end_max);

  g_test_add_func ("/request-head/strip/connection-names", test_strip_connection_names);
  g_test_add_func ("/request-head/strip/upgrade", test_strip_upgrade);
  g_test_add_func ("/request-head/strip/keeps-framing", test_strip_keeps_framing);

  g_test_add_func ("/request-head/sanitize/crlf", test_sanitize_crlf);
  g_test_add_func ("/request-head/sanitize/quotes", test_sanitize_quotes);
  g_test_add_func ("/request-head/sanitize/controls", test_sanitize_controls);
  g_test_add_func ("/request-head/sanitize/invalid-utf8", test_sanitize_invalid_utf8);
  g_test_add_func ("/request-head/sanitize/truncate", test_sanitize_truncate);
  g_test_add_func ("/request-head/target/userinfo-redacted", test_userinfo_redacted);
  g_test_add_func ("/request-head/connect/userinfo-redacted", test_connect_userinfo_redacted);
  g_test_add_func ("/request-head/via/name", test_via_name);
  g_test_add_func ("/request-head/via/build-first", test_via_build_first);
  g_test_add_func ("/request-head/via/build-appends", test_via_build_appends);
  g_test_add_func ("/request-head/via/looped", test_via_looped);
  g_test_add_func ("/request-head/via/not-looped", test_via_not_looped);

  return g_test_run ();
}
