/* hg-forward.h: forwarding plain absolute-form HTTP requests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <libsoup/soup.h>
#include "hg-request-head.h"

G_BEGIN_DECLS

/**
 * HgForwarder:
 *
 * Forwards plain HTTP requests with SoupSessions that have no content
 * decoder, no auth manager, no redirect following and no proxy resolver,
 * each pinned to the addresses the policy vetted, so libsoup never looks
 * a name up on its own.
 */
typedef struct _HgForwarder HgForwarder;

/* The maximum number of idle sessions a forwarder keeps, over all
 * origins. Each may keep a connection to its origin open, so the
 * proxy's descriptor budget counts them. */
#define HG_FORWARDER_IDLE_MAX 64

HgForwarder *hg_forwarder_new            (gsize                max_body,
                                          guint                timeout_secs);
void         hg_forwarder_free           (HgForwarder         *forwarder);

/* Reads the request body (capped at max_body: 413), strips hop-by-hop
 * headers, sets Host from the URI, sends the request to one of the vetted
 * @addresses (element-type GInetAddress) and streams the response back
 * with back-pressure. */
void         hg_forwarder_forward_async  (HgForwarder         *forwarder,
                                          HgRequestHead       *head,
                                          GIOStream           *client,
                                          GBytes              *pending,
                                          GPtrArray           *addresses,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* The same through the upstream HTTP proxy at @upstream_addresses
 * (element-type GInetAddress, resolved by the caller), for targets not in
 * the upstream bypass list. Finish with hg_forwarder_forward_finish(). */
void         hg_forwarder_forward_upstream_async (HgForwarder         *forwarder,
                                                  HgRequestHead       *head,
                                                  GIOStream           *client,
                                                  GBytes              *pending,
                                                  GPtrArray           *upstream_addresses,
                                                  guint16              upstream_port,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
/* *status is the origin's status code once the response started, else 0.
 * On error, the error is in HG_HTTP_ERROR with the status to respond
 * with (400, 408, 413, 502, 504) unless *response_started, when the caller must
 * close the connection instead. *pending_out contains the bytes read past
 * the body. */
gboolean     hg_forwarder_forward_finish (HgForwarder         *forwarder,
                                          GAsyncResult        *result,
                                          gboolean            *keep_alive,
                                          GBytes             **pending_out,
                                          guint64             *bytes_up,
                                          guint64             *bytes_down,
                                          gboolean            *response_started,
                                          guint               *status,
                                          GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgForwarder, hg_forwarder_free)

G_END_DECLS
