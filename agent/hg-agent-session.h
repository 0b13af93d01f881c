/* hg-agent-session.h: one connected proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-message.h"
#include "hg-message-stream.h"
#include "hg-profile-store.h"
#include "hg-prompt.h"

G_BEGIN_DECLS

/* The number of prompts one session may have open at once; an `ask`
 * beyond it is answered with the error `too-many-prompts`. */
#define HG_SESSION_MAX_PROMPTS 32

#define HG_TYPE_AGENT_SESSION (hg_agent_session_get_type ())
G_DECLARE_FINAL_TYPE (HgAgentSession, hg_agent_session, HG, AGENT_SESSION, GObject)

HgAgentSession      *hg_agent_session_new            (GSocketConnection  *connection,
                                                      HgProfileStore     *store,
                                                      GListStore         *history);
void                 hg_agent_session_start          (HgAgentSession     *session);
void                 hg_agent_session_close          (HgAgentSession     *session);
gboolean             hg_agent_session_is_closed      (HgAgentSession     *session);

const HgSessionInfo *hg_agent_session_get_info       (HgAgentSession     *session);
const char          *hg_agent_session_get_profile    (HgAgentSession     *session);
const char          *hg_agent_session_get_label      (HgAgentSession     *session);
const GError        *hg_agent_session_get_profile_error (HgAgentSession  *session);
GDateTime           *hg_agent_session_get_connected  (HgAgentSession     *session);
guint                hg_agent_session_get_n_asked    (HgAgentSession     *session);
GPtrArray           *hg_agent_session_list_prompts   (HgAgentSession     *session);

void                 hg_agent_session_send_filter    (HgAgentSession     *session,
                                                      const HgFilterUpdate *filter);
gboolean             hg_agent_session_forget_decisions (HgAgentSession *session,
                                                        GError        **error);
void                 hg_agent_session_set_profile_error (HgAgentSession  *session,
                                                         const GError    *error);
void                 hg_agent_session_decline_paused (HgAgentSession     *session,
                                                      HgPrompt           *prompt);
void                 hg_agent_session_answer         (HgAgentSession     *session,
                                                      HgPrompt           *prompt,
                                                      HgDecisionVerdict   verdict,
                                                      HgDecisionDuration  duration,
                                                      const char         *pattern);

HgFilterUpdate      *hg_agent_filter_from_profile    (const HgProfile    *profile,
                                                      const char         *name,
                                                      guint64             revision);

G_END_DECLS
