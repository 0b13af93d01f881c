/* hg-agent-client.h: asking the desktop agent about unlisted hosts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-approval.h"
#include "hg-proxy-server.h"

G_BEGIN_DECLS

/* The first and the longest wait before connecting to the agent again.
 * Questions are denied while the agent is away, so the longest step is
 * what a person who starts it again may have to wait. A connect to a
 * Unix socket every few seconds costs next to nothing. */
#define HG_AGENT_BACKOFF_MIN_MS   500
#define HG_AGENT_BACKOFF_MAX_MS   4000

/* How long the agent has to answer `hello` with `welcome`. */
#define HG_AGENT_WELCOME_TIMEOUT_SECS 5

/* Reasons sent to clients, translated where they are used (the file that
 * uses them includes <glib/gi18n.h>). */
#define HG_AGENT_REASON_NOT_RUNNING   _("approval agent not running")
#define HG_AGENT_REASON_DISCONNECTED  _("approval agent disconnected")
#define HG_AGENT_REASON_NO_WELCOME    _("approval agent did not answer")
#define HG_AGENT_REASON_TIMED_OUT     _("approval timed out")
#define HG_AGENT_REASON_TOO_MANY      _("too many pending approvals")
#define HG_AGENT_REASON_BAD_DECISION  _("the approval agent sent an invalid decision")
#define HG_AGENT_REASON_AGENT_BUSY    _("the approval agent has too many open prompts")
#define HG_AGENT_REASON_PAUSED        _("the user paused the approval prompts")

#define HG_TYPE_AGENT_CLIENT (hg_agent_client_get_type ())
G_DECLARE_FINAL_TYPE (HgAgentClient, hg_agent_client, HG, AGENT_CLIENT, GObject)

HgAgentClient *hg_agent_client_new            (HgProxyServer  *server);
void           hg_agent_client_set_label      (HgAgentClient  *self,
                                               const char     *label);
void           hg_agent_client_set_command    (HgAgentClient  *self,
                                               const char     *command);
void           hg_agent_client_set_pid        (HgAgentClient  *self,
                                               int             pid);
void           hg_agent_client_start          (HgAgentClient  *self);
void           hg_agent_client_stop           (HgAgentClient  *self);
gboolean       hg_agent_client_is_connected   (HgAgentClient  *self);

GStrv          hg_agent_decision_entries      (const char     *pattern,
                                               HgVerdict       verdict,
                                               const HgHost   *target,
                                               GError        **error);
guint          hg_agent_backoff_next          (guint           current_ms);

G_END_DECLS
