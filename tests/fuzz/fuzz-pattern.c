/* fuzz-pattern.c: hosts, list entries and filters under libFuzzer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Feeds each input to hg_pattern_parse() with both flags, to
 * hg_host_parse_len() with all three port modes (NUL bytes included), and
 * to hg_host_parse() as a C string. Checks that canonical forms parse back
 * to themselves, that an accepted entry matches what it names once it is
 * in a filter and stays the same in a copy of the filter, and that error
 * messages contain no control characters.
 */
#include "config.h"

#include "hg-address.h"
#include "hg-filter.h"
#include "hg-host.h"

#include <stdint.h>
#include <string.h>

/* Longer inputs only repeat what shorter ones reach: names stop at 253
 * octets, and messages quote at most 200 characters. */
#define MAX_INPUT_SIZE 2048

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static void
check_message (const GError *error)
{
  const char *p;

  g_assert_nonnull (error);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));

  for (p = error->message; *p != '\0'; p++)
    g_assert_false ((guchar) *p < 0x20 || *p == 0x7f);
}

static void
check_filter_matches (const HgPattern *pattern)
{
  g_autoptr(HgFilter) filter = hg_filter_new ();
  g_autoptr(HgFilter) copy = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) strv = NULL;
  g_auto(GStrv) copy_strv = NULL;
  g_autofree char *subdomain = NULL;
  g_autofree char *found = NULL;
  guint16 port = pattern->port != 0 ? pattern->port : 443;
  guint16 other_port = port == 1 ? 2 : port - 1;
  GInetAddress *address;

  hg_filter_add_pattern (filter, pattern);
  g_assert_cmpuint (hg_filter_get_size (filter), ==, 1);

  strv = hg_filter_to_strv (filter);
  g_assert_cmpuint (g_strv_length (strv), ==, 1);

  switch (pattern->kind)
    {
    case HG_PATTERN_EXACT:
      g_assert_true (hg_filter_match_name (filter, pattern->host, port));
      g_assert_true (hg_filter_match_name (filter, pattern->host, other_port) == (pattern->port == 0));
      found = hg_filter_find_match (filter, pattern->host, NULL, port);
      break;

    case HG_PATTERN_WILDCARD:
      subdomain = g_strconcat ("x.", pattern->host, NULL);
      g_assert_true (hg_filter_match_name (filter, subdomain, port));
      g_assert_false (hg_filter_match_name (filter, pattern->host, port));
      found = hg_filter_find_match (filter, subdomain, NULL, port);
      break;

    case HG_PATTERN_ANY:
      g_assert_true (hg_filter_match_name (filter, "example.com", port));
      found = hg_filter_find_match (filter, "example.com", NULL, port);
      break;

    case HG_PATTERN_ADDRESS:
    case HG_PATTERN_CIDR:
      address = g_inet_address_mask_get_address (pattern->mask);
      g_assert_true (hg_filter_match_address (filter, address, port));
      g_assert_true (hg_filter_match_address (filter, address, other_port) == (pattern->port == 0));
      hg_address_classify (address);
      found = hg_filter_find_match (filter, NULL, address, port);
      break;

    default:
      g_assert_not_reached ();
    }

  g_assert_cmpstr (found, ==, strv[0]);

  /* A copy, as proxies connected to an agent build their lists, holds
   * the same entry. */
  copy = hg_filter_copy (filter);
  copy_strv = hg_filter_to_strv (copy);
  g_assert_cmpstrv (copy_strv, strv);

  g_assert_true (hg_filter_add (filter, strv[0], HG_PATTERN_FLAG_NONE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hg_filter_get_size (filter), ==, 1);
}

static void
check_pattern (const char     *text,
               HgPatternFlags  flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgPattern) pattern = hg_pattern_parse (text, flags, &error);
  g_autoptr(HgPattern) again = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *canonical_again = NULL;

  if (pattern == NULL)
    {
      check_message (error);
      return;
    }

  canonical = hg_pattern_to_string (pattern);
  again = hg_pattern_parse (canonical, flags, &error);
  g_assert_no_error (error);
  canonical_again = hg_pattern_to_string (again);
  g_assert_cmpstr (canonical_again, ==, canonical);
  g_assert_cmpint (again->kind, ==, pattern->kind);
  g_assert_cmpuint (again->port, ==, pattern->port);

  check_filter_matches (pattern);
}

static void
check_host (const char  *text,
            gssize       length,
            HgHostFlags  flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse_len (text, length, flags, &error);
  g_autoptr(HgHost) again = NULL;
  g_autofree char *formatted = NULL;
  g_autofree char *normalized = NULL;

  if (host == NULL)
    {
      check_message (error);
      return;
    }

  g_assert_nonnull (host->name);
  if (flags == HG_HOST_PORT_REQUIRED)
    g_assert_cmpuint (host->port, !=, 0);
  if (flags == HG_HOST_PORT_FORBIDDEN)
    g_assert_cmpuint (host->port, ==, 0);

  formatted = hg_host_to_string (host);
  again = hg_host_parse (formatted, HG_HOST_PORT_OPTIONAL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->name, ==, host->name);
  g_assert_cmpuint (again->port, ==, host->port);

  normalized = hg_host_normalize_name (host->name, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (normalized, ==, host->name);

  if (host->address != NULL)
    hg_address_classify (host->address);
  else
    hg_host_is_metadata_name (host->name);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = NULL;

  if (size > MAX_INPUT_SIZE)
    return 0;

  text = g_strndup ((const char *) data, size);

  check_pattern (text, HG_PATTERN_FLAG_NONE);
  check_pattern (text, HG_PATTERN_FLAG_DENY);

  check_host ((const char *) data, size, HG_HOST_PORT_OPTIONAL);
  check_host ((const char *) data, size, HG_HOST_PORT_REQUIRED);
  check_host ((const char *) data, size, HG_HOST_PORT_FORBIDDEN);
  check_host (text, -1, HG_HOST_PORT_OPTIONAL);

  return 0;
}
