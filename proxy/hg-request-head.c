/* hg-request-head.c: strict parsing of a raw HTTP/1.x request head
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * SoupServer (libsoup 3.2) accepts heads that a filtering proxy must
 * reject: CR or LF inside the request line, NUL bytes, duplicate Host,
 * conflicting Content-Length and `CONNECT host` without a port. So the
 * proxy reads the head from the socket itself and checks it here against
 * RFC 9112 before any other code reads it.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "hg-request-head.h"

G_DEFINE_QUARK (hg-http-error-quark, hg_http_error)

/* Content-Length values with more digits could overflow a gint64. */
#define CONTENT_LENGTH_MAX_DIGITS 18

/* Headers that describe one connection, never the message (RFC 9110,
 * section 7.6.1), besides those the Connection header names. */
static const char * const hop_by_hop_headers[] = {
  "Connection",
  "Keep-Alive",
  "Proxy-Connection",
  "Proxy-Authorization",
  "TE",
  "Trailer",
  "Upgrade",
};

static gboolean
is_tchar (guchar c)
{
  return g_ascii_isalnum (c) || strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

static gboolean
is_token (const char *text,
          gsize       length)
{
  if (length == 0)
    return FALSE;

  for (gsize i = 0; i < length; i++)
    {
      if (text[i] == '\0' || !is_tchar ((guchar) text[i]))
        return FALSE;
    }

  return TRUE;
}

static gboolean
is_ows (char c)
{
  return c == ' ' || c == '\t';
}

/* Returns a quotable copy of LENGTH bytes of client input: control bytes
 * removed and cut to HG_HTTP_REASON_MAX bytes. */
static char *
quote_input (const char *text,
             gsize       length)
{
  g_autofree char *copy = g_strndup (text, length);

  return hg_http_sanitize_reason (copy);
}

static gsize
skip_leading_crlf (const char *data,
                   gsize       length)
{
  gsize pos = 0;

  /* RFC 9112, section 2.2: a server ignores empty lines received before
   * the request line, which some clients send after a request body. */
  while (pos + 1 < length && data[pos] == '\r' && data[pos + 1] == '\n')
    pos += 2;

  return pos;
}

/**
 * hg_request_head_find_end:
 * @data: the bytes read from the client so far
 * @length: the number of bytes in @data
 *
 * Finds the empty line that ends a request head. Only the first
 * %HG_REQUEST_HEAD_MAX bytes of @data are searched. A head whose lines end
 * in a bare LF is also ended here (by `\n\n` or `\n\r\n`), so that
 * hg_request_head_parse() can reject it at once instead of the client
 * waiting for a CRLF that never comes.
 *
 * Returns: the length of the head including its empty line, or 0 when
 *   the head is not complete yet
 */
gsize
hg_request_head_find_end (const char *data,
                          gsize       length)
{
  gsize limit;
  gsize line_start;

  g_return_val_if_fail (data != NULL || length == 0, 0);

  limit = MIN (length, HG_REQUEST_HEAD_MAX);
  line_start = skip_leading_crlf (data, limit);

  while (line_start < limit)
    {
      const char *lf = memchr (data + line_start, '\n', limit - line_start);
      gsize lf_pos;
      gsize line_length;

      if (lf == NULL)
        return 0;

      lf_pos = (gsize) (lf - data);
      line_length = lf_pos - line_start;
      if (line_length == 0 || (line_length == 1 && data[line_start] == '\r'))
        return lf_pos + 1;

      line_start = lf_pos + 1;
    }

  return 0;
}

/**
 * hg_request_head_is_too_large:
 * @length: the number of bytes buffered while hg_request_head_find_end()
 *   still returns 0
 *
 * Tells whether a head that has not ended after @length bytes can no
 * longer end within %HG_REQUEST_HEAD_MAX, so the caller responds with 431.
 *
 * Returns: %TRUE when @length reached %HG_REQUEST_HEAD_MAX
 */
gboolean
hg_request_head_is_too_large (gsize length)
{
  return length >= HG_REQUEST_HEAD_MAX;
}

/* Splits off the next line at *POS, which must end in CRLF and contain no
 * other CR. Sets LINE and LINE_LENGTH to the line without its CRLF. */
static gboolean
next_line (const char  *data,
           gsize        length,
           gsize       *pos,
           const char **line,
           gsize       *line_length,
           GError     **error)
{
  const char *start = data + *pos;
  const char *lf = memchr (start, '\n', length - *pos);
  gsize span;

  if (lf == NULL)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request head does not end with an empty line"));
      return FALSE;
    }

  span = (gsize) (lf - start);
  if (span == 0 || start[span - 1] != '\r')
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request head contains a bare LF instead of CRLF"));
      return FALSE;
    }

  if (memchr (start, '\r', span - 1) != NULL)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request head contains a bare CR"));
      return FALSE;
    }

  *line = start;
  *line_length = span - 1;
  *pos += span + 1;
  return TRUE;
}

/* Tells whether VERSION has the form `HTTP/` DIGITS [`.` DIGITS]. */
static gboolean
is_http_version_syntax (const char *version,
                        gsize       length)
{
  gsize i = 5;
  gsize minor_start;

  if (length <= 5 || memcmp (version, "HTTP/", 5) != 0)
    return FALSE;

  while (i < length && g_ascii_isdigit (version[i]))
    i++;
  if (i == 5)
    return FALSE;
  if (i == length)
    return TRUE;
  if (version[i] != '.')
    return FALSE;

  minor_start = ++i;
  while (i < length && g_ascii_isdigit (version[i]))
    i++;

  return i > minor_start && i == length;
}

static gboolean
parse_version (HgRequestHead  *head,
               const char     *version,
               gsize           length,
               GError        **error)
{
  if (length == 8 && memcmp (version, "HTTP/1.", 7) == 0
      && (version[7] == '0' || version[7] == '1'))
    {
      head->http_minor = (guint) (version[7] - '0');
      return TRUE;
    }

  /* A well-formed version this proxy does not speak is 505, not 400. */
  if (is_http_version_syntax (version, length))
    {
      g_autofree char *quoted = quote_input (version, length);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_HTTP_VERSION_NOT_SUPPORTED,
                   _("HTTP version “%s” is not supported (use HTTP/1.1 or HTTP/1.0)"),
                   quoted);
      return FALSE;
    }

  g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                       _("Invalid HTTP version in the request line"));
  return FALSE;
}

static gboolean
parse_request_line (HgRequestHead  *head,
                    const char     *line,
                    gsize           length,
                    GError        **error)
{
  const char *first_space;
  const char *second_space;
  const char *end = line + length;

  for (gsize i = 0; i < length; i++)
    {
      guchar c = (guchar) line[i];

      if (c < 0x20 || c == 0x7f)
        {
          g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                               _("Request line contains a control character"));
          return FALSE;
        }
    }

  first_space = memchr (line, ' ', length);
  second_space = first_space ? memchr (first_space + 1, ' ', (gsize) (end - first_space - 1)) : NULL;
  if (second_space == NULL || second_space == first_space + 1
      || memchr (second_space + 1, ' ', (gsize) (end - second_space - 1)) != NULL)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Malformed request line (expected “METHOD target HTTP/1.1” with single spaces)"));
      return FALSE;
    }

  if (!is_token (line, (gsize) (first_space - line)))
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Invalid request method"));
      return FALSE;
    }

  /* Only visible ASCII: RFC 3986 has no raw bytes over 0x7e in a URI. */
  for (const char *p = first_space + 1; p < second_space; p++)
    {
      if ((guchar) *p > 0x7e)
        {
          g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                               _("Request target contains a byte that is not visible ASCII (percent-encode it)"));
          return FALSE;
        }
    }

  if (!parse_version (head, second_space + 1, (gsize) (end - second_space - 1), error))
    return FALSE;

  head->method = g_strndup (line, (gsize) (first_space - line));
  head->target = g_strndup (first_space + 1, (gsize) (second_space - first_space - 1));
  return TRUE;
}

static gboolean
parse_header_line (SoupMessageHeaders  *headers,
                   const char          *line,
                   gsize                length,
                   GError             **error)
{
  const char *colon;
  gsize name_length;
  const char *value;
  const char *value_end;
  g_autofree char *name_copy = NULL;
  g_autofree char *value_copy = NULL;

  /* Obsolete line folding (RFC 9112, section 5.2) would let a header
   * continue on a line that other parsers read as a new field. */
  if (length > 0 && is_ows (line[0]))
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Header line starts with whitespace (obsolete line folding is not accepted)"));
      return FALSE;
    }

  colon = memchr (line, ':', length);
  if (colon == NULL)
    {
      g_autofree char *quoted = quote_input (line, length);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Header line “%s” has no colon"), quoted);
      return FALSE;
    }

  name_length = (gsize) (colon - line);
  if (name_length == 0)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Header line has an empty name"));
      return FALSE;
    }

  if (is_ows (line[name_length - 1]))
    {
      g_autofree char *quoted = quote_input (line, name_length);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Header “%s” has whitespace before its colon"), g_strstrip (quoted));
      return FALSE;
    }

  if (!is_token (line, name_length))
    {
      g_autofree char *quoted = quote_input (line, name_length);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Invalid header name “%s”"), quoted);
      return FALSE;
    }

  value = colon + 1;
  value_end = line + length;
  while (value < value_end && is_ows (*value))
    value++;
  while (value_end > value && is_ows (value_end[-1]))
    value_end--;

  name_copy = g_strndup (line, name_length);
  for (const char *p = value; p < value_end; p++)
    {
      guchar c = (guchar) *p;

      if ((c < 0x20 && c != '\t') || c == 0x7f)
        {
          g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                       _("Header “%s” contains a control character"), name_copy);
          return FALSE;
        }
    }

  value_copy = g_strndup (value, (gsize) (value_end - value));
  soup_message_headers_append (headers, name_copy, value_copy);
  return TRUE;
}

static guint
count_headers (SoupMessageHeaders *headers,
               const char         *name)
{
  SoupMessageHeadersIter iter;
  const char *header_name;
  const char *header_value;
  guint count = 0;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &header_name, &header_value))
    {
      if (g_ascii_strcasecmp (header_name, name) == 0)
        count++;
    }

  return count;
}

/* Parses one element of a Content-Length list: 1 to 18 decimal digits. */
static gboolean
parse_content_length_element (const char  *element,
                              gint64      *value,
                              GError     **error)
{
  gsize length = strlen (element);
  gint64 result = 0;

  if (length == 0)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Content-Length is empty"));
      return FALSE;
    }

  for (gsize i = 0; i < length; i++)
    {
      if (!g_ascii_isdigit (element[i]))
        {
          g_autofree char *quoted = hg_http_sanitize_reason (element);

          g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                       _("Invalid Content-Length “%s” (only decimal digits are allowed)"),
                       quoted);
          return FALSE;
        }
      result = result * 10 + (element[i] - '0');
      if (i + 1 >= CONTENT_LENGTH_MAX_DIGITS && i + 1 < length)
        {
          g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                       _("Content-Length has more than %d digits"),
                       CONTENT_LENGTH_MAX_DIGITS);
          return FALSE;
        }
    }

  *value = result;
  return TRUE;
}

/* Reads every Content-Length field. Repeated fields and comma lists are
 * accepted when all values are equal (RFC 9110, section 8.6 allows that)
 * and are then reduced to one field, so that later readers of @headers
 * see a single number. Different values are 400: they are the classic
 * request smuggling vector. */
static gboolean
check_content_length (HgRequestHead  *head,
                      GError        **error)
{
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;
  guint count = 0;
  gint64 length = -1;

  soup_message_headers_iter_init (&iter, head->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      g_auto(GStrv) elements = NULL;

      if (g_ascii_strcasecmp (name, "Content-Length") != 0)
        continue;

      elements = g_strsplit (value, ",", -1);
      if (elements[0] == NULL)
        return parse_content_length_element ("", &length, error);

      for (guint i = 0; elements[i] != NULL; i++)
        {
          gint64 element_value;

          if (!parse_content_length_element (g_strstrip (elements[i]), &element_value, error))
            return FALSE;
          if (count > 0 && element_value != length)
            {
              g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                                   _("Request has conflicting Content-Length values"));
              return FALSE;
            }
          length = element_value;
          count++;
        }
    }

  if (count > 1)
    soup_message_headers_set_content_length (head->headers, length);

  head->content_length = length;
  return TRUE;
}

static gboolean
check_transfer_encoding (HgRequestHead  *head,
                         GError        **error)
{
  guint count = count_headers (head->headers, "Transfer-Encoding");
  const char *value;

  if (count == 0)
    return TRUE;

  if (count > 1)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request has more than one Transfer-Encoding header"));
      return FALSE;
    }

  /* Only a lone `chunked` has one reading in every parser. A coding list
   * such as `gzip, chunked` would make this proxy decode bodies. */
  value = soup_message_headers_get_one (head->headers, "Transfer-Encoding");
  if (g_ascii_strcasecmp (value, "chunked") != 0)
    {
      g_autofree char *quoted = hg_http_sanitize_reason (value);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Unsupported Transfer-Encoding “%s” (only chunked is accepted)"),
                   quoted);
      return FALSE;
    }

  head->chunked = TRUE;
  return TRUE;
}

static gboolean
check_framing (HgRequestHead  *head,
               GError        **error)
{
  if (count_headers (head->headers, "Host") > 1)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request has more than one Host header"));
      return FALSE;
    }

  if (!check_content_length (head, error))
    return FALSE;

  if (!check_transfer_encoding (head, error))
    return FALSE;

  if (head->chunked && head->content_length >= 0)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request has both Content-Length and Transfer-Encoding"));
      return FALSE;
    }

  if (hg_request_head_is_connect (head) && (head->chunked || head->content_length > 0))
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("CONNECT request has a body, which CONNECT does not allow"));
      return FALSE;
    }

  return TRUE;
}

/* Rejects a target with user information, from @userinfo up to @at in
 * @target. The user information may hold a password and the reason
 * reaches the audit log, so the reason quotes the target with "…" in its
 * place. */
static void
set_userinfo_error (const char  *target,
                    const char  *userinfo,
                    const char  *at,
                    GError     **error)
{
  g_autofree char *redacted = g_strdup_printf ("%.*s…%s", (int) (userinfo - target), target, at);
  g_autofree char *quoted = hg_http_sanitize_reason (redacted);

  g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
               _("Request target “%s” contains user information, which is not allowed"),
               quoted);
}

static gboolean
parse_connect_target (HgRequestHead  *head,
                      GError        **error)
{
  g_autoptr(GError) host_error = NULL;
  const char *at = strrchr (head->target, '@');

  if (at != NULL)
    {
      set_userinfo_error (head->target, head->target, at, error);
      return FALSE;
    }

  head->authority = hg_host_parse (head->target, HG_HOST_PORT_REQUIRED, &host_error);
  if (head->authority == NULL)
    {
      g_autofree char *quoted = hg_http_sanitize_reason (head->target);
      g_autofree char *reason = hg_http_sanitize_reason (host_error->message);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Invalid CONNECT target “%s”: %s"), quoted, reason);
      return FALSE;
    }

  return TRUE;
}

/* Returns the URI scheme of TARGET in lower case, or NULL when TARGET does
 * not start with one (RFC 3986, section 3.1). g_uri_peek_scheme() is not
 * used because it interns every scheme it parses, and a client could grow
 * that table without bound. */
static char *
dup_scheme (const char *target)
{
  gsize length = 0;

  if (!g_ascii_isalpha (target[0]))
    return NULL;

  while (g_ascii_isalnum (target[length]) || target[length] == '+'
         || target[length] == '-' || target[length] == '.')
    length++;

  if (target[length] != ':')
    return NULL;

  return g_ascii_strdown (target, (gssize) length);
}

/* Rejects every request-target that is not an absolute `http://` URI,
 * naming the form that was sent. */
static gboolean
check_absolute_form (const char  *target,
                     GError     **error)
{
  g_autofree char *quoted = hg_http_sanitize_reason (target);
  g_autofree char *scheme = dup_scheme (target);

  if (scheme == NULL)
    {
      if (target[0] == '/' || strcmp (target, "*") == 0)
        g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                     _("Request target “%s” is not an absolute URI. This is a proxy, so send http://host/path"),
                     quoted);
      else
        g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                     _("Request target “%s” is not an absolute http:// URI"), quoted);
      return FALSE;
    }

  if (strcmp (scheme, "https") == 0)
    {
      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Use CONNECT for https:// URLs, not a plain request for “%s”"), quoted);
      return FALSE;
    }

  if (strcmp (scheme, "http") != 0 || strncmp (target + strlen ("http:"), "//", 2) != 0)
    {
      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Request target “%s” is not an http:// URI, and this proxy forwards only http://"),
                   quoted);
      return FALSE;
    }

  return TRUE;
}

/* Checks the URI authority (the bytes between `//` and the path) and
 * stores the parsed host in head->authority. The raw bytes go to
 * hg_host_parse() instead of GUri's host and port, because GUri accepts
 * an empty port (`host:`) and a port with leading zeros. */
static gboolean
parse_uri_authority (HgRequestHead  *head,
                     const char     *authority,
                     gsize           length,
                     GError        **error)
{
  g_autofree char *quoted = hg_http_sanitize_reason (head->target);
  g_autofree char *text = g_strndup (authority, length);
  g_autoptr(GError) host_error = NULL;
  const char *at = g_strrstr_len (authority, length, "@");

  if (at != NULL)
    {
      set_userinfo_error (head->target, authority, at, error);
      return FALSE;
    }

  if (length == 0 || authority[0] == ':')
    {
      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Request target “%s” has an empty host"), quoted);
      return FALSE;
    }

  head->authority = hg_host_parse (text, HG_HOST_PORT_OPTIONAL, &host_error);
  if (head->authority == NULL)
    {
      g_autofree char *reason = hg_http_sanitize_reason (host_error->message);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Invalid host in request target “%s”: %s"), quoted, reason);
      return FALSE;
    }

  return TRUE;
}

/* Parses an absolute-form target into head->authority and head->uri.
 * g_uri_parse() only validates it, because even with G_URI_FLAGS_ENCODED
 * GLib 2.74 rewrites the path (it removes dot segments and decodes
 * escaped unreserved characters such as %7E), and the forwarder must
 * send the path and query exactly as the client did. */
static gboolean
parse_absolute_target (HgRequestHead  *head,
                       GError        **error)
{
  const char *target = head->target;
  const char *authority;
  gsize authority_length;
  const char *query;
  g_autofree char *path = NULL;
  g_autoptr(GUri) parsed = NULL;
  g_autoptr(GError) uri_error = NULL;

  if (!check_absolute_form (target, error))
    return FALSE;

  if (strchr (target, '#') != NULL)
    {
      g_autofree char *quoted = hg_http_sanitize_reason (target);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Request target “%s” contains a fragment, which is not allowed"), quoted);
      return FALSE;
    }

  authority = target + strlen ("http://");
  authority_length = strcspn (authority, "/?");
  if (!parse_uri_authority (head, authority, authority_length, error))
    return FALSE;

  parsed = g_uri_parse (target, G_URI_FLAGS_ENCODED, &uri_error);
  if (parsed == NULL)
    {
      g_autofree char *quoted = hg_http_sanitize_reason (target);
      g_autofree char *reason = hg_http_sanitize_reason (uri_error->message);

      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("Invalid request target “%s”: %s"), quoted, reason);
      return FALSE;
    }

  query = strchr (authority + authority_length, '?');
  if (query != NULL)
    path = g_strndup (authority + authority_length, (gsize) (query - authority - authority_length));
  else
    path = g_strdup (authority + authority_length);

  /* RFC 9112, section 3.2.1: an empty path is sent as `/`. */
  if (path[0] == '\0')
    {
      g_free (path);
      path = g_strdup ("/");
    }

  head->uri = g_uri_build (G_URI_FLAGS_ENCODED, "http", NULL, head->authority->name,
                           head->authority->port != 0 ? head->authority->port : -1,
                           path, query != NULL ? query + 1 : NULL, NULL);
  if (head->authority->port == 0)
    head->authority->port = 80;
  return TRUE;
}

/* Returns whether any Connection header lists TOKEN (case-insensitive). */
static gboolean
connection_has_token (SoupMessageHeaders *headers,
                      const char         *token)
{
  const char *list = soup_message_headers_get_list (headers, "Connection");
  g_auto(GStrv) elements = NULL;

  if (list == NULL)
    return FALSE;

  elements = g_strsplit (list, ",", -1);
  for (guint i = 0; elements[i] != NULL; i++)
    {
      if (g_ascii_strcasecmp (g_strstrip (elements[i]), token) == 0)
        return TRUE;
    }

  return FALSE;
}

/* HTTP/1.1 keeps the connection open unless the client sends `close`.
 * HTTP/1.0 closes unless the client sends `keep-alive`, and a chunked HTTP/1.0 request always
 * closes, because RFC 9112, section 6.1 treats its framing as faulty. */
static gboolean
wants_keep_alive (const HgRequestHead *head)
{
  if (connection_has_token (head->headers, "close"))
    return FALSE;

  if (head->http_minor == 1)
    return TRUE;

  return !head->chunked && connection_has_token (head->headers, "keep-alive");
}

static gboolean
parse_lines (HgRequestHead  *head,
             const char     *data,
             gsize           length,
             GError        **error)
{
  gsize pos = skip_leading_crlf (data, length);
  const char *line;
  gsize line_length;

  if (!next_line (data, length, &pos, &line, &line_length, error))
    return FALSE;
  if (!parse_request_line (head, line, line_length, error))
    return FALSE;

  for (;;)
    {
      if (!next_line (data, length, &pos, &line, &line_length, error))
        return FALSE;
      if (line_length == 0)
        break;
      if (!parse_header_line (head->headers, line, line_length, error))
        return FALSE;
    }

  if (pos != length)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request head has bytes after its empty line"));
      return FALSE;
    }

  return TRUE;
}

/**
 * hg_request_head_parse:
 * @data: exactly one request head, as measured by hg_request_head_find_end()
 * @length: the number of bytes in @data
 * @error: return location for a %HG_HTTP_ERROR whose code is the status
 *   to respond with (400, 501 or 505)
 *
 * Parses and checks a raw HTTP/1.0 or HTTP/1.1 request head: the request
 * line, the header fields, the message framing (Host, Content-Length,
 * Transfer-Encoding), Upgrade, and the request-target. The target must be
 * a `host:port` authority for CONNECT and an absolute `http://` URI for
 * every other method. A Host header may be missing, because a proxy takes
 * the host from the request-target (RFC 9112, section 3.2.2).
 *
 * Returns: (transfer full): the parsed head, or %NULL with @error set
 */
HgRequestHead *
hg_request_head_parse (const char  *data,
                       gsize        length,
                       GError     **error)
{
  g_autoptr(HgRequestHead) head = NULL;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (memchr (data, '\0', length) != NULL)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                           _("Request head contains a NUL byte"));
      return NULL;
    }

  head = g_new0 (HgRequestHead, 1);
  head->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  head->content_length = -1;

  if (!parse_lines (head, data, length, error))
    return NULL;

  if (!check_framing (head, error))
    return NULL;

  /* After the framing checks, so a request that is both malformed and an
   * upgrade gets the 400. */
  if (count_headers (head->headers, "Upgrade") > 0)
    {
      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_NOT_IMPLEMENTED,
                           _("Upgrade is not supported through this proxy"));
      return NULL;
    }

  if (hg_request_head_is_connect (head))
    {
      if (!parse_connect_target (head, error))
        return NULL;
    }
  else if (!parse_absolute_target (head, error))
    {
      return NULL;
    }

  head->keep_alive = wants_keep_alive (head);
  return g_steal_pointer (&head);
}

/**
 * hg_request_head_is_connect:
 * @head: a parsed request head
 *
 * Tells whether @head is a CONNECT request. Methods are case-sensitive,
 * so `connect` is another method.
 *
 * Returns: %TRUE for CONNECT
 */
gboolean
hg_request_head_is_connect (const HgRequestHead *head)
{
  g_return_val_if_fail (head != NULL, FALSE);

  return g_strcmp0 (head->method, "CONNECT") == 0;
}

/**
 * hg_request_head_free:
 * @head: (nullable): a request head
 *
 * Frees @head and everything it owns.
 */
void
hg_request_head_free (HgRequestHead *head)
{
  if (head == NULL)
    return;

  g_free (head->method);
  g_free (head->target);
  g_clear_pointer (&head->headers, soup_message_headers_unref);
  g_clear_pointer (&head->authority, hg_host_free);
  g_clear_pointer (&head->uri, g_uri_unref);
  g_free (head);
}

static gboolean
is_framing_header (const char *name)
{
  return g_ascii_strcasecmp (name, "Content-Length") == 0
         || g_ascii_strcasecmp (name, "Transfer-Encoding") == 0;
}

/**
 * hg_request_head_strip_hop_by_hop:
 * @headers: request headers about to be forwarded
 *
 * Removes the header fields that describe the client's connection to this
 * proxy (RFC 9110, section 7.6.1): Connection and every field it names,
 * Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, Trailer and
 * Upgrade.
 *
 * Content-Length and Transfer-Encoding stay, even when Connection names
 * them. They frame the body, and the body is re-framed for the upstream
 * connection, so the forwarder must set them for the body it sends.
 * Keeping them here means a client cannot change that framing through
 * Connection.
 */
void
hg_request_head_strip_hop_by_hop (SoupMessageHeaders *headers)
{
  const char *list;

  g_return_if_fail (headers != NULL);

  list = soup_message_headers_get_list (headers, "Connection");
  if (list != NULL)
    {
      g_auto(GStrv) names = g_strsplit (list, ",", -1);

      for (guint i = 0; names[i] != NULL; i++)
        {
          const char *name = g_strstrip (names[i]);

          if (name[0] != '\0' && !is_framing_header (name))
            soup_message_headers_remove (headers, name);
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (hop_by_hop_headers); i++)
    soup_message_headers_remove (headers, hop_by_hop_headers[i]);
}

/**
 * hg_request_head_via_name:
 *
 * Returns the name this proxy process gives itself in the Via header of
 * what it sends to an upstream proxy: `hostgate-` and 16 random hex
 * digits, the same for the whole process. The 64 random bits keep two
 * proxies, even on one port at different times, from sharing a name.
 *
 * Returns: the name, owned by the process
 */
const char *
hg_request_head_via_name (void)
{
  static char *name;

  if (g_once_init_enter (&name))
    {
      char *value = g_strdup_printf ("hostgate-%08x%08x", g_random_int (), g_random_int ());

      g_once_init_leave (&name, value);
    }
  return name;
}

/**
 * hg_request_head_is_looped:
 * @head: a parsed request head
 *
 * Checks whether @head has already passed through this proxy process: one
 * of its Via headers carries hg_request_head_via_name(). That happens
 * when the upstream proxy, directly or through others, sends the request
 * back to this proxy.
 *
 * Returns: %TRUE for a request that came back to this proxy
 */
gboolean
hg_request_head_is_looped (const HgRequestHead *head)
{
  const char *via;

  g_return_val_if_fail (head != NULL, FALSE);

  via = soup_message_headers_get_list (head->headers, "Via");
  return via != NULL && strstr (via, hg_request_head_via_name ()) != NULL;
}

/**
 * hg_request_head_own_via:
 * @head: a parsed request head
 *
 * Formats this proxy's own Via entry for forwarding @head: the HTTP
 * version @head arrived with and hg_request_head_via_name().
 *
 * Returns: (transfer full): the entry, such as `1.1 hostgate-…`
 */
char *
hg_request_head_own_via (const HgRequestHead *head)
{
  g_return_val_if_fail (head != NULL, NULL);

  return g_strdup_printf ("1.%u %s", head->http_minor, hg_request_head_via_name ());
}

/**
 * hg_request_head_build_via:
 * @head: a parsed request head
 *
 * Builds the Via value for the request that forwards @head to an upstream
 * proxy: the Via entries @head arrived with, then this proxy's own, so
 * that a loop through several proxies comes back with it.
 *
 * Returns: (transfer full): the Via header value
 */
char *
hg_request_head_build_via (const HgRequestHead *head)
{
  g_autofree char *own = NULL;
  const char *via;

  g_return_val_if_fail (head != NULL, NULL);

  own = hg_request_head_own_via (head);
  via = soup_message_headers_get_list (head->headers, "Via");
  if (via == NULL || via[0] == '\0')
    return g_steal_pointer (&own);
  return g_strdup_printf ("%s, %s", via, own);
}

/**
 * hg_http_sanitize_reason:
 * @text: a reason, possibly containing client input
 *
 * Makes @text safe for a status line and a plain-text body. Invalid UTF-8
 * becomes U+FFFD, and every control character (C0, DEL and C1, including
 * CR, LF and HT) is removed. The result is cut on a character boundary to
 * at most %HG_HTTP_REASON_MAX bytes.
 *
 * Returns: (transfer full): the sanitised reason
 */
char *
hg_http_sanitize_reason (const char *text)
{
  g_autofree char *valid = NULL;
  GString *reason;

  g_return_val_if_fail (text != NULL, NULL);

  valid = g_utf8_make_valid (text, -1);
  reason = g_string_sized_new (MIN (strlen (valid), HG_HTTP_REASON_MAX) + 1);

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      gsize char_length = (gsize) (g_utf8_next_char (p) - p);

      if (g_unichar_iscntrl (c))
        continue;
      if (reason->len + char_length > HG_HTTP_REASON_MAX)
        break;

      /* Clients such as Python's http.client decode the status line as
       * Latin-1, so typographic quotes from messages become ASCII ones. */
      if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x00AB || c == 0x00BB)
        g_string_append_c (reason, '"');
      else if (c == 0x2018 || c == 0x2019 || c == 0x201A)
        g_string_append_c (reason, '\'');
      else
        g_string_append_len (reason, p, (gssize) char_length);
    }

  return g_string_free (reason, FALSE);
}
