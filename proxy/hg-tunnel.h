/* hg-tunnel.h: moving bytes both ways between a client and an origin
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * HgTunnel:
 *
 * A bidirectional byte pump between two connected sockets. It copies
 * through buffers of up to 4 MiB borrowed from a process-wide pool, or,
 * when asked with hg_tunnel_set_use_splice(), moves the bytes with
 * splice(2) through a pipe per direction so they do not pass through user
 * space. End of stream on one side becomes shutdown(SHUT_WR) on the other
 * (half-close); an error on either side closes both. The tunnel ends when
 * both directions are done, on error, or after the idle timeout with no
 * byte moved in either direction, counting the bytes a slow reader takes
 * from the kernel's queue while the tunnel waits to write more.
 *
 * Writing into a socket whose peer has gone raises SIGPIPE with splice(2),
 * which has no MSG_NOSIGNAL, so a process that turns on splice(2) should
 * ignore SIGPIPE (`signal (SIGPIPE, SIG_IGN)`). While SIGPIPE has its
 * default action, new tunnels copy instead, and the first one logs a
 * warning.
 *
 * Lifetime: free the tunnel in or after the callback of
 * hg_tunnel_run_async(), or at any time before it. Freeing a running
 * tunnel closes both sockets and stops watching them, and the callback is
 * then never called. The one exception is a handler of the
 * #GCancellable::cancelled signal of the tunnel's own cancellable, which
 * must not free or close the tunnel, because g_cancellable_disconnect()
 * would wait for that handler to return.
 */
typedef struct _HgTunnel HgTunnel;

HgTunnel *hg_tunnel_new        (GSocketConnection    *client,
                                GSocketConnection    *origin,
                                GBytes               *client_pending,
                                GBytes               *origin_pending,
                                guint                 idle_timeout_secs);
void      hg_tunnel_run_async  (HgTunnel             *tunnel,
                                GCancellable         *cancellable,
                                GAsyncReadyCallback   callback,
                                gpointer              user_data);
gboolean  hg_tunnel_run_finish (HgTunnel             *tunnel,
                                GAsyncResult         *result,
                                GError              **error);
void      hg_tunnel_close      (HgTunnel             *tunnel);
guint64   hg_tunnel_get_bytes_up   (HgTunnel         *tunnel);
guint64   hg_tunnel_get_bytes_down (HgTunnel         *tunnel);
void      hg_tunnel_free       (HgTunnel             *tunnel);

void      hg_tunnel_set_use_splice (gboolean          use_splice);

gssize    hg_socket_get_unsent     (int               fd);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgTunnel, hg_tunnel_free)

G_END_DECLS
