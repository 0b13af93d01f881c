/* hg-pattern.c: allow and deny list entries
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Host names in entries are normalised exactly like requested hosts (see
 * hg-host.c). An address range whose address has bits set after the prefix
 * length, such as "10.0.0.1/8", is rejected rather than widened or
 * narrowed, because either reading could be what the writer meant. An
 * IPv4-mapped range of at least 96 bits, such as "::ffff:10.0.0.0/104",
 * becomes the IPv4 range "10.0.0.0/8", because mapped addresses are
 * unmapped before they are matched.
 */
#include "config.h"

#include "hg-pattern.h"
#include "hg-host.h"
#include "hg-host-private.h"
#include "hg-error.h"

#include <glib/gi18n.h>
#include <string.h>

static gboolean
set_address (HgPattern     *pattern,
             GInetAddress  *address,
             guint          length)
{
  pattern->mask = g_inet_address_mask_new (address, length, NULL);
  if (pattern->kind == HG_PATTERN_ADDRESS)
    pattern->host = g_inet_address_to_string (address);

  return pattern->mask != NULL;
}

static gboolean
parse_prefix_length (const char  *text,
                     gsize        length,
                     guint        max,
                     guint       *prefix,
                     char       **reason)
{
  guint value = 0;
  gsize i;

  for (i = 0; i < length && i < 4; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        break;
      value = value * 10 + (guint) (text[i] - '0');
    }

  if (length == 0 || i < length || value > max || (text[0] == '0' && length > 1))
    {
      *reason = g_strdup_printf (_("the prefix length after “/” must be a number from 0 to %u without leading zeros"),
                                 max);
      return FALSE;
    }

  *prefix = value;
  return TRUE;
}

static gboolean
has_host_bits (GInetAddress *address,
               guint         prefix)
{
  const guint8 *bytes = g_inet_address_to_bytes (address);
  gsize size = g_inet_address_get_native_size (address);
  gsize i;

  for (i = prefix / 8; i < size; i++)
    {
      guint8 allowed = i == prefix / 8 ? (guint8) (0xff00 >> (prefix % 8)) : 0;

      if ((bytes[i] & ~allowed) != 0)
        return TRUE;
    }

  return FALSE;
}

static GInetAddress *
clear_host_bits (GInetAddress *address,
                 guint         prefix)
{
  guint8 bytes[16];
  gsize size = g_inet_address_get_native_size (address);
  gsize i;

  memcpy (bytes, g_inet_address_to_bytes (address), size);
  for (i = prefix / 8; i < size; i++)
    bytes[i] &= i == prefix / 8 ? (guint8) (0xff00 >> (prefix % 8)) : 0;

  return g_inet_address_new_from_bytes (bytes, g_inet_address_get_family (address));
}

static gboolean
only_digits_and_dots (const char *text,
                      gsize       length)
{
  gsize i;

  for (i = 0; i < length; i++)
    if (!g_ascii_isdigit (text[i]) && text[i] != '.')
      return FALSE;

  return length > 0;
}

/* Parses `10.0.0.0/8` or `2001:db8::/32`. */
static gboolean
parse_cidr (const char  *entry,
            gsize        length,
            HgPattern   *pattern,
            char       **reason)
{
  const char *slash = memchr (entry, '/', length);
  gsize address_length = slash - entry;
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GInetAddress) masked = NULL;
  g_autofree char *masked_text = NULL;
  gboolean ipv6_text = memchr (entry, ':', address_length) != NULL;
  guint prefix;

  pattern->kind = HG_PATTERN_CIDR;

  if (entry[0] == '[')
    {
      *reason = g_strdup (_("write an address range without brackets, as in “2001:db8::/32”"));
      return FALSE;
    }

  if (ipv6_text)
    address = hg_ipv6_text_parse (entry, address_length, reason);
  else if (only_digits_and_dots (entry, address_length))
    address = hg_ipv4_text_parse (entry, address_length, reason);
  else
    *reason = g_strdup (_("“/” is allowed only in an address range such as “10.0.0.0/8”"));

  if (address == NULL)
    return FALSE;

  if (!parse_prefix_length (slash + 1, entry + length - slash - 1,
                            ipv6_text ? 128 : 32, &prefix, reason))
    return FALSE;

  /* An IPv4-mapped range was unmapped with its address. Below 96 bits its
   * host bits are set, which the check below reports. */
  if (ipv6_text && g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      if (prefix < 96)
        {
          *reason = g_strdup_printf (_("the address has bits set after the first %u bits"), prefix);
          return FALSE;
        }
      prefix -= 96;
    }

  if (has_host_bits (address, prefix))
    {
      masked = clear_host_bits (address, prefix);
      masked_text = g_inet_address_to_string (masked);
      *reason = g_strdup_printf (_("the address has bits set after the first %u bits; for the whole range write “%s/%u”"),
                                 prefix, masked_text, prefix);
      return FALSE;
    }

  return set_address (pattern, address, prefix);
}

/* Parses `[2001:db8::1]` or `[2001:db8::1]:443`. */
static gboolean
parse_bracketed (const char  *entry,
                 gsize        length,
                 HgPattern   *pattern,
                 char       **reason)
{
  const char *close = memchr (entry, ']', length);
  const char *end = entry + length;
  g_autoptr(GInetAddress) address = NULL;

  pattern->kind = HG_PATTERN_ADDRESS;

  if (close == NULL)
    {
      *reason = g_strdup (_("“[” has no matching “]”"));
      return FALSE;
    }

  if (close + 1 < end && close[1] != ':')
    {
      *reason = g_strdup (_("only “:” and a port may follow “]”"));
      return FALSE;
    }

  address = hg_ipv6_text_parse (entry + 1, close - entry - 1, reason);
  if (address == NULL)
    return FALSE;

  if (close + 1 < end &&
      !hg_port_parse_len (close + 2, end - close - 2, &pattern->port, reason))
    return FALSE;

  return set_address (pattern, address, g_inet_address_get_native_size (address) * 8);
}

/* Parses `*`, `*.example.com`, `example.com` or `203.0.113.7`, each with
 * an optional port. */
static gboolean
parse_host_entry (const char      *entry,
                  gsize            length,
                  HgPatternFlags   flags,
                  HgPattern       *pattern,
                  char           **reason)
{
  const char *colon = memchr (entry, ':', length);
  gsize host_length = colon != NULL ? (gsize) (colon - entry) : length;
  g_autoptr(GInetAddress) address = NULL;

  if (colon != NULL &&
      !hg_port_parse_len (colon + 1, entry + length - colon - 1, &pattern->port, reason))
    return FALSE;

  if (host_length == 1 && entry[0] == '*')
    {
      pattern->kind = HG_PATTERN_ANY;
      if ((flags & HG_PATTERN_FLAG_DENY) == 0)
        return TRUE;

      *reason = g_strdup (_("“*” (every host) is allowed only in an allow list"));
      return FALSE;
    }

  if (host_length >= 2 && entry[0] == '*' && entry[1] == '.')
    {
      pattern->kind = HG_PATTERN_WILDCARD;
      if (host_length == 2)
        {
          *reason = g_strdup (_("nothing follows “*.”; write a domain after it, as in “*.example.com”"));
          return FALSE;
        }

      if (!hg_host_text_parse (entry + 2, host_length - 2, TRUE, &pattern->host, &address, reason))
        return FALSE;

      if (address == NULL)
        return TRUE;

      *reason = g_strdup (_("“*.” must be followed by a domain name, not an address"));
      return FALSE;
    }

  pattern->kind = HG_PATTERN_EXACT;
  if (!hg_host_text_parse (entry, host_length, TRUE, &pattern->host, &address, reason))
    return FALSE;

  if (address == NULL)
    return TRUE;

  pattern->kind = HG_PATTERN_ADDRESS;
  return set_address (pattern, address, 32);
}

static gboolean
parse_entry (const char      *entry,
             gsize            length,
             HgPatternFlags   flags,
             HgPattern       *pattern,
             char           **reason)
{
  const char *colon;

  if (length == 0)
    {
      *reason = g_strdup (_("the entry is empty"));
      return FALSE;
    }

  if (g_strstr_len (entry, length, "://") != NULL)
    {
      *reason = g_strdup (_("an entry cannot include a scheme such as “http://”; give the host name only"));
      return FALSE;
    }

  if (memchr (entry, '@', length) != NULL)
    {
      *reason = g_strdup (_("an entry cannot include user information such as “user@”; give the host name only"));
      return FALSE;
    }

  if (memchr (entry, '/', length) != NULL)
    return parse_cidr (entry, length, pattern, reason);

  if (entry[0] == '[')
    return parse_bracketed (entry, length, pattern, reason);

  /* Several colons: a bare IPv6 address. "2001:db8::1:443" reads as an
   * address but may have been meant as a port, and a deny entry read the
   * wrong way fails silently, so brackets are required. */
  colon = memchr (entry, ':', length);
  if (colon != NULL && memchr (colon + 1, ':', entry + length - colon - 1) != NULL)
    {
      if (hg_text_looks_like_ipv6 (entry, length))
        *reason = g_strdup (_("write an IPv6 address in brackets, as in “[2001:db8::1]” or “[2001:db8::1]:443”"));
      else
        *reason = g_strdup (_("an entry can contain only one “:”, before the port"));
      return FALSE;
    }

  return parse_host_entry (entry, length, flags, pattern, reason);
}

/**
 * hg_pattern_parse:
 * @entry: a list entry, such as `example.com`, `*.example.com:443`, `*`,
 *   `203.0.113.7`, `[2001:db8::1]:443` or `10.0.0.0/8`
 * @flags: %HG_PATTERN_FLAG_DENY for a deny-list entry
 * @error: return location for a %HG_PROTOCOL_ERROR
 *
 * Parses and normalises a list entry. Every error has the code
 * %HG_PROTOCOL_ERROR_INVALID_PATTERN and a message that quotes @entry, with
 * control characters escaped, and names the rule it breaks.
 *
 * Returns: (transfer full) (nullable): the pattern, or %NULL with @error set
 */
HgPattern *
hg_pattern_parse (const char      *entry,
                  HgPatternFlags   flags,
                  GError         **error)
{
  g_autoptr(HgPattern) pattern = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *shown = NULL;
  g_autofree char *escaped = NULL;
  gsize length;

  g_return_val_if_fail (entry != NULL, NULL);

  length = strlen (entry);
  pattern = g_new0 (HgPattern, 1);

  if (parse_entry (entry, length, flags, pattern, &reason))
    return g_steal_pointer (&pattern);

  shown = hg_hide_user_information (entry);
  escaped = hg_escape_for_message (shown, -1);
  g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PATTERN,
               _("Invalid list entry “%s”: %s"), escaped,
               reason != NULL ? reason : _("it is not a valid address"));
  return NULL;
}

/**
 * hg_pattern_free:
 * @pattern: (nullable): a pattern
 *
 * Frees @pattern.
 */
void
hg_pattern_free (HgPattern *pattern)
{
  if (pattern == NULL)
    return;

  g_free (pattern->host);
  g_clear_object (&pattern->mask);
  g_free (pattern);
}

/**
 * hg_pattern_to_string:
 * @pattern: a pattern
 *
 * Formats @pattern in its canonical form, which hg_pattern_parse() reads
 * back to the same pattern: IPv6 addresses in brackets, ranges as
 * `address/length`, and `:port` when the entry has a port.
 *
 * Returns: (transfer full): the entry text
 */
char *
hg_pattern_to_string (const HgPattern *pattern)
{
  GString *out = g_string_new (NULL);
  g_autofree char *address = NULL;

  g_return_val_if_fail (pattern != NULL, NULL);

  switch (pattern->kind)
    {
    case HG_PATTERN_EXACT:
      g_string_append (out, pattern->host);
      break;

    case HG_PATTERN_WILDCARD:
      g_string_append_printf (out, "*.%s", pattern->host);
      break;

    case HG_PATTERN_ANY:
      g_string_append_c (out, '*');
      break;

    case HG_PATTERN_ADDRESS:
      if (g_inet_address_mask_get_family (pattern->mask) == G_SOCKET_FAMILY_IPV6)
        g_string_append_printf (out, "[%s]", pattern->host);
      else
        g_string_append (out, pattern->host);
      break;

    case HG_PATTERN_CIDR:
      address = g_inet_address_to_string (g_inet_address_mask_get_address (pattern->mask));
      g_string_append_printf (out, "%s/%u", address, g_inet_address_mask_get_length (pattern->mask));
      break;

    default:
      g_assert_not_reached ();
    }

  if (pattern->port != 0)
    g_string_append_printf (out, ":%u", pattern->port);

  return g_string_free (out, FALSE);
}
