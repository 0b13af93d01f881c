/* fuzz-request-head.c: libFuzzer target for the request head parser
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Feeds the input to hg_request_head_find_end() and, when it finds a
 * head, to hg_request_head_parse(). A parsed head must carry no NUL, CR
 * or LF in its method, target or header fields, must parse the same when
 * written out again, and every error message must be free of control
 * characters.
 */
#include <string.h>

#include "hg-request-head.h"

int LLVMFuzzerTestOneInput (const guint8 *data,
                            size_t        size);

static void
assert_clean (const char *text)
{
  g_assert_nonnull (text);
  g_assert_null (strpbrk (text, "\r\n"));
}

static void
check_head (HgRequestHead *head)
{
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;
  g_autofree char *authority = NULL;

  assert_clean (head->method);
  assert_clean (head->target);
  g_assert_cmpuint (head->http_minor, <=, 1);
  g_assert_true (head->content_length >= -1);
  g_assert_false (head->chunked && head->content_length >= 0);

  soup_message_headers_iter_init (&iter, head->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      assert_clean (name);
      assert_clean (value);
      g_assert_null (strchr (name, ':'));
    }

  g_assert_nonnull (head->authority);
  g_assert_cmpuint (head->authority->port, !=, 0);
  authority = hg_host_to_string (head->authority);
  assert_clean (authority);

  if (hg_request_head_is_connect (head))
    {
      g_assert_null (head->uri);
    }
  else
    {
      g_autofree char *uri = NULL;

      g_assert_nonnull (head->uri);
      uri = g_uri_to_string (head->uri);
      assert_clean (uri);
    }

  hg_request_head_strip_hop_by_hop (head->headers);
  g_assert_null (soup_message_headers_get_one (head->headers, "Connection"));
}

/* Writes HEAD out again in canonical form. Parsing that text must give
 * the same request, or the parser reads some input two ways. */
static void
check_round_trip (HgRequestHead *head)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(HgRequestHead) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *authority = NULL;
  g_autofree char *authority_again = NULL;
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;

  g_string_append_printf (text, "%s %s HTTP/1.%u\r\n", head->method, head->target, head->http_minor);
  soup_message_headers_iter_init (&iter, head->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_string_append_printf (text, "%s: %s\r\n", name, value);
  g_string_append (text, "\r\n");

  g_assert_cmpuint (hg_request_head_find_end (text->str, text->len), ==, text->len);
  again = hg_request_head_parse (text->str, text->len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->method, ==, head->method);
  g_assert_cmpstr (again->target, ==, head->target);
  g_assert_cmpuint (again->http_minor, ==, head->http_minor);
  g_assert_cmpint (again->content_length, ==, head->content_length);
  g_assert_cmpint (again->chunked, ==, head->chunked);
  g_assert_cmpint (again->keep_alive, ==, head->keep_alive);

  authority = hg_host_to_string (head->authority);
  authority_again = hg_host_to_string (again->authority);
  g_assert_cmpstr (authority_again, ==, authority);
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  const char *text = (const char *) data;
  gsize end = hg_request_head_find_end (text, size);
  g_autoptr(HgRequestHead) head = NULL;
  g_autoptr(GError) error = NULL;

  if (end == 0)
    return 0;

  g_assert_cmpuint (end, <=, size);
  g_assert_cmpuint (end, <=, HG_REQUEST_HEAD_MAX);

  head = hg_request_head_parse (text, end, &error);
  if (head == NULL)
    {
      g_autofree char *reason = NULL;

      g_assert_nonnull (error);
      g_assert_true (error->domain == HG_HTTP_ERROR);
      g_assert_true (error->code == 400 || error->code == 501 || error->code == 505);
      for (const char *p = error->message; *p != '\0'; p++)
        g_assert_false (g_ascii_iscntrl (*p));

      reason = hg_http_sanitize_reason (error->message);
      g_assert_true (g_utf8_validate (reason, -1, NULL));
      g_assert_cmpuint (strlen (reason), <=, HG_HTTP_REASON_MAX);
      return 0;
    }

  check_round_trip (head);
  check_head (head);
  return 0;
}
