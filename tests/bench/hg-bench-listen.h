/* hg-bench-listen.h: the listening socket of the benchmark servers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int      hg_bench_listen          (const char *address,
                                   guint16     port,
                                   GError    **error);
gboolean hg_bench_write_port_file (const char *path,
                                   int         listen_fd,
                                   GError    **error);

G_END_DECLS
