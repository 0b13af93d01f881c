/* hg-upstream.h: opening a tunnel through an upstream HTTP proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HG_UPSTREAM_ERROR (hg_upstream_error_quark ())
GQuark hg_upstream_error_quark (void);

typedef enum {
  HG_UPSTREAM_ERROR_REFUSED,    /* the upstream answered with a non-2xx status */
  HG_UPSTREAM_ERROR_PROTOCOL,   /* the reply was malformed or too long */
  HG_UPSTREAM_ERROR_TIMED_OUT,
  HG_UPSTREAM_ERROR_FAILED,     /* connecting or I/O failed */
} HgUpstreamError;

const char        *hg_upstream_login_reason   (void);

/**
 * hg_upstream_connect_async:
 * @connection: (transfer full): an open connection to the upstream proxy;
 *   the operation owns it and drops it on error
 * @authority: `host:port` or `[v6]:port` to send in the CONNECT line, by
 *   name; the upstream resolves it
 * @via: the Via header value, naming this proxy
 *
 * Sends `CONNECT authority` and reads the reply head with bounded line
 * lengths and a deadline. Error messages are sanitised: control bytes are
 * removed from anything quoted from the upstream.
 */
void               hg_upstream_connect_async  (GSocketConnection   *connection,
                                               const char          *authority,
                                               const char          *via,
                                               guint                timeout_ms,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
/* Returns the connection, now a tunnel, and in @pending any tunnel bytes
 * read past the reply head, or NULL when there were none. */
GSocketConnection *hg_upstream_connect_finish (GAsyncResult        *result,
                                               GBytes             **pending,
                                               GError             **error);

G_END_DECLS
