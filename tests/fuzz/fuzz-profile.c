/* fuzz-profile.c: libFuzzer target for the profile loader
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Feeds the input to hg_profile_load_data(). A rejected input must come
 * with an invalid-profile error whose message is valid UTF-8. An accepted
 * profile must have a name and a timeout within 5–300 s, must compile
 * into allow and deny filters with no more entries than its lists, and
 * must resolve into settings.
 */
#include "hg-error.h"
#include "hg-profile.h"

int LLVMFuzzerTestOneInput (const guint8 *data,
                            size_t        size);

static void
check_profile (HgProfile *profile)
{
  g_autoptr(HgFilter) allow = NULL;
  g_autoptr(HgFilter) deny = NULL;
  g_autoptr(GError) error = NULL;
  HgSettings settings;

  g_assert_nonnull (profile->name);
  g_assert_null (profile->path);
  g_assert_cmpuint (profile->approval_timeout_secs, >=, HG_APPROVAL_TIMEOUT_MIN);
  g_assert_cmpuint (profile->approval_timeout_secs, <=, HG_APPROVAL_TIMEOUT_MAX);

  allow = hg_profile_build_allow (profile);
  deny = hg_profile_build_deny (profile);
  g_assert_cmpuint (hg_filter_get_size (allow), <=, profile->allow->len);
  g_assert_cmpuint (hg_filter_get_size (deny), <=, profile->deny->len);

  g_assert_true (hg_settings_resolve (NULL, NULL, profile, &settings, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (settings.approval_timeout_secs, >=, HG_APPROVAL_TIMEOUT_MIN);
  g_assert_cmpuint (settings.approval_timeout_secs, <=, HG_APPROVAL_TIMEOUT_MAX);
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  if (size > HG_PROFILE_MAX_SIZE)
    return 0;

  profile = hg_profile_load_data ((const char *) data, (gssize) size, "fuzz.json", &error);
  if (profile == NULL)
    {
      g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PROFILE);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      return 0;
    }

  g_assert_no_error (error);
  check_profile (profile);
  return 0;
}
