/* hg-prompt-window.h: the window that asks the person about a host
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "hg-prompt.h"

G_BEGIN_DECLS

/* How long the answer controls stay insensitive after a prompt appears,
 * so keys typed for another window cannot answer it. */
#define HG_PROMPT_GUARD_MS 1000

#define HG_TYPE_PROMPT_WINDOW (hg_prompt_window_get_type ())
G_DECLARE_FINAL_TYPE (HgPromptWindow, hg_prompt_window, HG, PROMPT_WINDOW, GtkWindow)

HgPromptWindow *hg_prompt_window_new        (GtkApplication *application);
void            hg_prompt_window_set_prompt (HgPromptWindow *window,
                                             HgPrompt       *prompt,
                                             guint           n_more);
HgPrompt       *hg_prompt_window_get_prompt (HgPromptWindow *window);

G_END_DECLS
