/* hg-request-head.h: strict parsing of a raw HTTP/1.x request head
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <libsoup/soup.h>
#include "hg-host.h"

G_BEGIN_DECLS

/* The largest head the proxy reads before answering 431. */
#define HG_REQUEST_HEAD_MAX (64 * 1024)

/* The maximum length in bytes of a reason from hg_http_sanitize_reason(). */
#define HG_HTTP_REASON_MAX 200

/* Errors in this domain carry the HTTP status to answer with as their
 * code (400, 413, 431, 501…) and a short reason as their message. */
#define HG_HTTP_ERROR (hg_http_error_quark ())
GQuark hg_http_error_quark (void);

/**
 * HgRequestHead:
 * @method: the request method, as sent
 * @target: the raw request-target, as sent
 * @http_minor: 0 for HTTP/1.0, 1 for HTTP/1.1
 * @headers: the header fields, appended in the order sent. libsoup 3.2
 *   stores well-known names (Host, Accept, Content-Length…) apart from
 *   the others, so iteration yields those first, each group in order.
 *   A repeated or listed Content-Length is reduced to one field.
 * @authority: (nullable): for CONNECT, the strictly parsed `host:port`;
 *   for absolute-form requests, the URI's host and port (80 by default)
 * @uri: (nullable): the absolute-form URI of a plain HTTP request, with
 *   the normalised host from @authority and the path and query exactly
 *   as sent (an empty path becomes `/`)
 * @content_length: the request body length, or -1 when there is none
 *   or it is chunked
 * @chunked: whether the body uses `Transfer-Encoding: chunked`
 * @keep_alive: whether the client wants the connection kept open
 *
 * A request head that passed every framing check the proxy makes.
 */
typedef struct {
  char *method;
  char *target;
  guint http_minor;
  SoupMessageHeaders *headers;
  HgHost *authority;
  GUri *uri;
  gint64 content_length;
  gboolean chunked;
  gboolean keep_alive;
} HgRequestHead;

gsize          hg_request_head_find_end (const char  *data,
                                         gsize        length);
gboolean       hg_request_head_is_too_large (gsize        length);
HgRequestHead *hg_request_head_parse    (const char  *data,
                                         gsize        length,
                                         GError     **error);
gboolean       hg_request_head_is_connect (const HgRequestHead *head);
void           hg_request_head_free     (HgRequestHead *head);

void           hg_request_head_strip_hop_by_hop (SoupMessageHeaders *headers);

const char    *hg_request_head_via_name  (void);
gboolean       hg_request_head_is_looped (const HgRequestHead *head);
char          *hg_request_head_own_via   (const HgRequestHead *head);
char          *hg_request_head_build_via (const HgRequestHead *head);

char          *hg_http_sanitize_reason  (const char  *text);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgRequestHead, hg_request_head_free)

G_END_DECLS
