/* hg-run.h: `hostgate-proxy run`, one program behind its own proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int hg_run_main (int                  argc,
                 char               **argv,
                 const char * const  *envp);

G_END_DECLS
