/* hg-settings-window.h: profiles, sessions and history of the agent
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "hg-application.h"

G_BEGIN_DECLS

#define HG_TYPE_SETTINGS_WINDOW (hg_settings_window_get_type ())
G_DECLARE_FINAL_TYPE (HgSettingsWindow, hg_settings_window, HG, SETTINGS_WINDOW, GtkWindow)

HgSettingsWindow *hg_settings_window_new     (HgApplication *app);
void              hg_settings_window_present (HgApplication *app);

G_END_DECLS
