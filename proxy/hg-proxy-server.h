/* hg-proxy-server.h: the listener, the connection limit and shutdown
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-approval.h"
#include "hg-audit.h"
#include "hg-forward.h"
#include "hg-options.h"
#include "hg-policy.h"
#include "hg-resolver.h"

G_BEGIN_DECLS

#define HG_TYPE_PROXY_SERVER (hg_proxy_server_get_type ())
G_DECLARE_FINAL_TYPE (HgProxyServer, hg_proxy_server, HG, PROXY_SERVER, GObject)

HgProxyServer      *hg_proxy_server_new             (const HgOptions      *options,
                                                     GError              **error);
gboolean            hg_proxy_server_start           (HgProxyServer        *server,
                                                     GError              **error);
GInetSocketAddress *hg_proxy_server_get_address     (HgProxyServer        *server);
guint               hg_proxy_server_get_n_clients   (HgProxyServer        *server);
gboolean            hg_proxy_server_is_aborting     (HgProxyServer        *server);

HgPolicy           *hg_proxy_server_dup_policy      (HgProxyServer        *server);
void                hg_proxy_server_set_policy      (HgProxyServer        *server,
                                                     HgPolicy             *policy);
HgApprover         *hg_proxy_server_get_approver    (HgProxyServer        *server);
void                hg_proxy_server_set_approver    (HgProxyServer        *server,
                                                     HgApprover           *approver);

void                hg_proxy_server_shutdown_async  (HgProxyServer        *server,
                                                     GCancellable         *cancellable,
                                                     GAsyncReadyCallback   callback,
                                                     gpointer              user_data);
gboolean            hg_proxy_server_shutdown_finish (HgProxyServer        *server,
                                                     GAsyncResult         *result,
                                                     GError              **error);

/* For the connections the server accepts. */
const HgOptions    *hg_proxy_server_get_options     (HgProxyServer        *server);
void                hg_proxy_server_get_policy_context (HgProxyServer     *server,
                                                     HgPolicyContext      *context);
HgResolver         *hg_proxy_server_get_resolver    (HgProxyServer        *server);
HgForwarder        *hg_proxy_server_get_forwarder   (HgProxyServer        *server);
HgAudit            *hg_proxy_server_get_audit       (HgProxyServer        *server);
void                hg_proxy_server_write_audit     (HgProxyServer        *server,
                                                     const HgAuditRecord  *record);
void                hg_proxy_server_log_denial      (HgProxyServer        *server,
                                                     const char           *host,
                                                     guint                 status,
                                                     const char           *reason);

G_END_DECLS
