/* hg-profile.h: profiles, read side, and resolving settings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "hg-filter.h"

G_BEGIN_DECLS

typedef enum {
  HG_APPROVAL_OFF,
  HG_APPROVAL_ASK,
} HgApprovalMode;

#define HG_APPROVAL_TIMEOUT_DEFAULT 60
#define HG_APPROVAL_TIMEOUT_MIN      5
#define HG_APPROVAL_TIMEOUT_MAX    300

/* The largest profile file read, in bytes; larger files are rejected. */
#define HG_PROFILE_MAX_SIZE (16 * 1024 * 1024)

/**
 * HgProfile:
 * @name: the profile name: for hg_profile_load_named() the name asked for,
 *   otherwise `meta.name`, else the file name without `.json`
 * @path: (nullable): the file it was read from, %NULL for the built-in default
 *   and for hg_profile_load_data()
 * @allow: (element-type utf8): `network.allow_domain`, validated, as written
 * @deny: (element-type utf8): `network.deny_domain` followed by
 *   `network.reject_domain`, validated, as written
 * @approval_mode_set: whether `network.approval_mode` was present
 * @approval_mode: `network.approval_mode`
 * @approval_timeout_set: whether `network.approval_timeout_secs` was present
 * @approval_timeout_secs: `network.approval_timeout_secs`, clamped to 5–300
 * @upstream_proxy: (nullable): `network.upstream_proxy` as `host:port`
 * @upstream_bypass: (element-type utf8): `network.upstream_bypass`
 * @allow_loopback: `network.allow_loopback`
 *
 * The `network` part of a profile file. Unknown keys are ignored here;
 * the agent's profile store keeps them when it writes.
 */
typedef struct {
  char *name;
  char *path;
  GPtrArray *allow;
  GPtrArray *deny;
  gboolean approval_mode_set;
  HgApprovalMode approval_mode;
  gboolean approval_timeout_set;
  guint approval_timeout_secs;
  char *upstream_proxy;
  GPtrArray *upstream_bypass;
  gboolean allow_loopback;
} HgProfile;

HgProfile  *hg_profile_load_file      (const char  *path,
                                       GError     **error);
HgProfile  *hg_profile_load_data      (const char  *data,
                                       gssize       length,
                                       const char  *origin,
                                       GError     **error);
HgProfile  *hg_profile_load_default   (void);
GBytes     *hg_profile_get_default_data (void);
HgProfile  *hg_profile_load_named     (const char  *name,
                                       GError     **error);
char       *hg_profile_get_path       (const char  *name);
gboolean    hg_profile_name_is_valid  (const char  *name);
const char *hg_profile_upstream_login_message (void);
void        hg_profile_free           (HgProfile   *profile);

HgFilter   *hg_profile_build_allow    (HgProfile   *profile);
HgFilter   *hg_profile_build_deny     (HgProfile   *profile);

const char *hg_approval_mode_to_string   (HgApprovalMode  mode);
gboolean    hg_approval_mode_from_string (const char     *text,
                                          HgApprovalMode *mode);

/**
 * HgSettings:
 *
 * The values the proxy runs with, each taken from the first source that
 * sets it: command-line flag, then environment, then profile, then the
 * built-in default. hg_settings_resolve() is the one place that applies
 * this order.
 */
typedef struct {
  HgApprovalMode approval_mode;
  guint approval_timeout_secs;
} HgSettings;

/**
 * HgSettingsFlags:
 * @approval_mode: (nullable): the `--network-approval` value, if given
 * @approval_timeout: (nullable): the `--approval-timeout` value, if given
 *
 * The raw flag values hg_settings_resolve() considers first.
 */
typedef struct {
  const char *approval_mode;
  const char *approval_timeout;
} HgSettingsFlags;

gboolean hg_settings_resolve (const HgSettingsFlags  *flags,
                              const char * const     *envp,
                              const HgProfile        *profile,
                              HgSettings             *settings,
                              GError                **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgProfile, hg_profile_free)

G_END_DECLS
