/* hg-landlock.h: confining a child process to one TCP port
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The first Landlock ABI that can restrict TCP connect(2) by port
 * (Linux 6.7). */
#define HG_LANDLOCK_NET_ABI 4

int      hg_landlock_get_abi           (void);
int      hg_landlock_prepare_tcp_only  (guint16   port,
                                        GError  **error);
gboolean hg_landlock_restrict_self     (int       ruleset_fd);

G_END_DECLS
