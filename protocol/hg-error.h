/* hg-error.h: the error domain of libhostgate
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HG_PROTOCOL_ERROR (hg_protocol_error_quark ())

/**
 * HgProtocolError:
 * @HG_PROTOCOL_ERROR_INVALID_HOST: a requested host or authority is malformed
 * @HG_PROTOCOL_ERROR_INVALID_PORT: a port is missing, zero, over 65535 or not plain digits
 * @HG_PROTOCOL_ERROR_INVALID_PATTERN: a list entry breaks the pattern syntax
 * @HG_PROTOCOL_ERROR_INVALID_MESSAGE: a wire message is not valid JSON or has a bad field
 * @HG_PROTOCOL_ERROR_LINE_TOO_LONG: a wire line exceeds %HG_MESSAGE_MAX_LINE bytes
 * @HG_PROTOCOL_ERROR_INVALID_PROFILE: a profile file is unreadable or has a bad key or entry
 * @HG_PROTOCOL_ERROR_INVALID_SETTING: a flag or environment variable has a bad value
 *
 * Error codes in the %HG_PROTOCOL_ERROR domain.
 */
typedef enum {
  HG_PROTOCOL_ERROR_INVALID_HOST,
  HG_PROTOCOL_ERROR_INVALID_PORT,
  HG_PROTOCOL_ERROR_INVALID_PATTERN,
  HG_PROTOCOL_ERROR_INVALID_MESSAGE,
  HG_PROTOCOL_ERROR_LINE_TOO_LONG,
  HG_PROTOCOL_ERROR_INVALID_PROFILE,
  HG_PROTOCOL_ERROR_INVALID_SETTING,
} HgProtocolError;

GQuark hg_protocol_error_quark (void);

G_END_DECLS
