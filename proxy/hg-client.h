/* hg-client.h: serving one client connection
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-proxy-server.h"

G_BEGIN_DECLS

#define HG_TYPE_CLIENT (hg_client_get_type ())
G_DECLARE_FINAL_TYPE (HgClient, hg_client, HG, CLIENT, GObject)

HgClient *hg_client_new        (HgProxyServer       *server,
                                GSocketConnection   *connection,
                                gboolean             over_limit);
void      hg_client_run_async  (HgClient            *client,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data);
gboolean  hg_client_run_finish (HgClient            *client,
                                GAsyncResult        *result,
                                GError             **error);
void      hg_client_shutdown   (HgClient            *client);
void      hg_client_abort      (HgClient            *client);

G_END_DECLS
