/* hg-resources.h: registering the agent's GResource once
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void hg_agent_ensure_resources (void);

G_END_DECLS
