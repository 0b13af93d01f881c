/* hg-tray.h: the agent's tray icon and its menu
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-prompt.h"

G_BEGIN_DECLS

/* The object paths of the exported item and its menu. */
#define HG_TRAY_ITEM_PATH "/StatusNotifierItem"
#define HG_TRAY_MENU_PATH "/io/github/hostgate/Agent/TrayMenu"

#define HG_TYPE_TRAY (hg_tray_get_type ())
G_DECLARE_FINAL_TYPE (HgTray, hg_tray, HG, TRAY, GObject)

HgTray   *hg_tray_new                   (GApplication    *application,
                                         GDBusConnection *connection);

void      hg_tray_add_prompt            (HgTray          *tray,
                                         HgPrompt        *prompt);
void      hg_tray_remove_prompt         (HgTray          *tray,
                                         HgPrompt        *prompt);
GListModel *hg_tray_get_prompts         (HgTray          *tray);
gboolean  hg_tray_deny_if_paused        (HgTray          *tray,
                                         HgPrompt        *prompt);

gboolean  hg_tray_get_paused            (HgTray          *tray);
void      hg_tray_set_paused            (HgTray          *tray,
                                         gboolean         paused);
guint     hg_tray_get_n_paused_denials  (HgTray          *tray);
void      hg_tray_add_paused_denial     (HgTray          *tray);

gboolean  hg_tray_get_icon_visible      (HgTray          *tray);
void      hg_tray_set_icon_visible      (HgTray          *tray,
                                         gboolean         visible);
gboolean  hg_tray_get_notifications     (HgTray          *tray);
void      hg_tray_set_notifications     (HgTray          *tray,
                                         gboolean         notifications);
gboolean  hg_tray_get_embedded          (HgTray          *tray);
const char *hg_tray_get_bus_name        (HgTray          *tray);

void      hg_tray_bind_settings         (HgTray          *tray);

G_END_DECLS
