/* hg-prompt.h: one pending request for a person's decision
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-message.h"

G_BEGIN_DECLS

typedef struct _HgAgentSession HgAgentSession;

#define HG_TYPE_PROMPT (hg_prompt_get_type ())
G_DECLARE_FINAL_TYPE (HgPrompt, hg_prompt, HG, PROMPT, GObject)

HgPrompt     *hg_prompt_new                      (HgAgentSession *session,
                                                  const char   *id,
                                                  const char   *host,
                                                  guint16       port,
                                                  HgAskKind     kind,
                                                  guint         timeout_ms);
HgAgentSession *hg_prompt_get_session              (HgPrompt     *prompt);
const char   *hg_prompt_get_id                   (HgPrompt     *prompt);
const char   *hg_prompt_get_host                 (HgPrompt     *prompt);
guint16       hg_prompt_get_port                 (HgPrompt     *prompt);
char         *hg_prompt_dup_target_text          (HgPrompt     *prompt);
HgAskKind     hg_prompt_get_kind                 (HgPrompt     *prompt);
gint64        hg_prompt_get_deadline             (HgPrompt     *prompt);
gint64        hg_prompt_get_remaining_ms         (HgPrompt     *prompt);
const char   *hg_prompt_get_registrable_domain   (HgPrompt     *prompt);
char         *hg_prompt_dup_pattern              (HgPrompt     *prompt,
                                                  gboolean      whole_domain);
GStrv         hg_prompt_dup_entries              (HgPrompt     *prompt,
                                                  gboolean      whole_domain);
void          hg_prompt_stop_timer               (HgPrompt     *prompt);

G_END_DECLS
