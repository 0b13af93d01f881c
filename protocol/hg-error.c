/* hg-error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "hg-error.h"

G_DEFINE_QUARK (hg-protocol-error-quark, hg_protocol_error)
