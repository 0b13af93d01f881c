/* hg-application.h: the hostgate-agent application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "hg-agent-server.h"
#include "hg-profile-store.h"

G_BEGIN_DECLS

#define HG_TYPE_APPLICATION (hg_application_get_type ())
G_DECLARE_FINAL_TYPE (HgApplication, hg_application, HG, APPLICATION, GtkApplication)

HgApplication  *hg_application_new             (GApplicationFlags  flags);
HgAgentServer  *hg_application_get_server      (HgApplication     *app);
HgProfileStore *hg_application_get_store       (HgApplication     *app);
int             hg_application_get_exit_status (HgApplication     *app);

G_END_DECLS
