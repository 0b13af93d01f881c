/* fuzz-request-head.c: libFuzzer target for the request head parser
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Feeds the input to hg_request_head_find_end() and, when it finds a
 * head, to hg_request_head_parse(). A parsed head must carry no NUL, CR
 * or LF in its method, target or header fields, and every error message
 * must be free of control characters.
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

  check_head (head);
  return 0;
}
