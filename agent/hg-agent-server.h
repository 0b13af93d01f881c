/* hg-agent-server.h: the Unix socket proxies connect to
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-agent-session.h"
#include "hg-profile-store.h"

G_BEGIN_DECLS

#define HG_TYPE_AGENT_SERVER (hg_agent_server_get_type ())
G_DECLARE_FINAL_TYPE (HgAgentServer, hg_agent_server, HG, AGENT_SERVER, GObject)

char          *hg_agent_server_default_socket_path (void);

HgAgentServer *hg_agent_server_new          (const char      *socket_path,
                                             HgProfileStore  *store);
gboolean       hg_agent_server_start        (HgAgentServer   *server,
                                             GError         **error);
void           hg_agent_server_stop         (HgAgentServer   *server);
const char    *hg_agent_server_get_socket_path (HgAgentServer *server);
GListModel    *hg_agent_server_get_history  (HgAgentServer   *server);
GPtrArray     *hg_agent_server_list_sessions (HgAgentServer  *server);
void           hg_agent_server_push_profile (HgAgentServer   *server,
                                             const char      *name);
const GError  *hg_agent_server_get_profile_error (HgAgentServer *server,
                                                  const char    *name);

G_END_DECLS
