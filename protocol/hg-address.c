/* hg-address.c: classifying addresses for the built-in hard denies
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Classification is pure computation on the address bytes: nothing here
 * opens a socket or resolves a name.
 */
#include "config.h"

#include "hg-address.h"

#include <glib/gi18n.h>
#include <string.h>

typedef struct {
  const char *prefix;
  guint length;
  HgAddressClass klass;
} AddressRange;

/* Checked in order, first match wins, so the single metadata addresses
 * come before the link-local and private ranges that contain them. */
static const AddressRange address_ranges[] = {
  /* Cloud instance metadata and other platform services a guest reaches
   * without credentials. */
  { "169.254.169.254", 32, HG_ADDRESS_METADATA },  /* AWS, GCP, Azure, OpenStack, DigitalOcean… */
  { "169.254.170.2", 32, HG_ADDRESS_METADATA },    /* AWS ECS task metadata and credentials */
  { "169.254.169.123", 32, HG_ADDRESS_METADATA },  /* AWS time sync service */
  { "fd00:ec2::254", 128, HG_ADDRESS_METADATA },   /* AWS instance metadata over IPv6 */
  { "100.100.100.200", 32, HG_ADDRESS_METADATA },  /* Alibaba Cloud */
  { "168.63.129.16", 32, HG_ADDRESS_METADATA },    /* Azure WireServer */
  { "192.0.0.192", 32, HG_ADDRESS_METADATA },      /* Oracle Cloud */

  { "0.0.0.0", 8, HG_ADDRESS_UNSPECIFIED },
  { "::", 128, HG_ADDRESS_UNSPECIFIED },
  { "127.0.0.0", 8, HG_ADDRESS_LOOPBACK },
  { "::1", 128, HG_ADDRESS_LOOPBACK },
  { "169.254.0.0", 16, HG_ADDRESS_LINK_LOCAL },
  { "fe80::", 10, HG_ADDRESS_LINK_LOCAL },
  { "224.0.0.0", 4, HG_ADDRESS_MULTICAST },
  { "ff00::", 8, HG_ADDRESS_MULTICAST },

  /* 240.0.0.0/4 is reserved and not routed on the internet; it contains
   * the limited broadcast address 255.255.255.255. Both are denied. */
  { "240.0.0.0", 4, HG_ADDRESS_BROADCAST },

  { "10.0.0.0", 8, HG_ADDRESS_PRIVATE },
  { "172.16.0.0", 12, HG_ADDRESS_PRIVATE },
  { "192.168.0.0", 16, HG_ADDRESS_PRIVATE },
  { "100.64.0.0", 10, HG_ADDRESS_PRIVATE },        /* carrier-grade NAT */
  { "198.18.0.0", 15, HG_ADDRESS_PRIVATE },        /* benchmarking networks */
  { "fc00::", 7, HG_ADDRESS_PRIVATE },             /* unique local addresses */
  { "fec0::", 10, HG_ADDRESS_PRIVATE },            /* deprecated site-local addresses */
};

typedef struct {
  guint8 bytes[16];
  gsize size;
} CompiledRange;

static const CompiledRange *
compiled_ranges (void)
{
  static CompiledRange ranges[G_N_ELEMENTS (address_ranges)];
  static gsize initialized = 0;
  guint i;

  if (g_once_init_enter (&initialized))
    {
      for (i = 0; i < G_N_ELEMENTS (address_ranges); i++)
        {
          g_autoptr(GInetAddress) address = g_inet_address_new_from_string (address_ranges[i].prefix);

          g_assert (address != NULL);
          ranges[i].size = g_inet_address_get_native_size (address);
          memcpy (ranges[i].bytes, g_inet_address_to_bytes (address), ranges[i].size);
        }

      g_once_init_leave (&initialized, 1);
    }

  return ranges;
}

static gboolean
prefix_matches (const guint8 *bytes,
                const guint8 *prefix,
                guint         length)
{
  guint whole = length / 8;
  guint8 mask = (guint8) (0xff00 >> (length % 8));

  if (memcmp (bytes, prefix, whole) != 0)
    return FALSE;

  return length % 8 == 0 || (bytes[whole] & mask) == prefix[whole];
}

/**
 * hg_address_unmap:
 * @address: an address
 *
 * Finds the IPv4 address that an IPv6 address carries: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, except `::` and `::1`)
 * and NAT64 (`64:ff9b::a.b.c.d`) addresses reach that IPv4 host.
 *
 * Returns: (transfer full): the IPv4 address, or a new reference to
 *   @address for any other address
 */
GInetAddress *
hg_address_unmap (GInetAddress *address)
{
  static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  static const guint8 compatible[12] = { 0 };
  static const guint8 nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
  static const guint8 unspecified_or_loopback[3] = { 0 };
  const guint8 *bytes;

  g_return_val_if_fail (G_IS_INET_ADDRESS (address), NULL);

  if (g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
    return g_object_ref (address);

  bytes = g_inet_address_to_bytes (address);

  if (memcmp (bytes, mapped, 12) == 0 || memcmp (bytes, nat64, 12) == 0)
    return g_inet_address_new_from_bytes (bytes + 12, G_SOCKET_FAMILY_IPV4);

  /* `::` and `::1` share the compatible prefix but are IPv6 addresses. */
  if (memcmp (bytes, compatible, 12) == 0 &&
      !(memcmp (bytes + 12, unspecified_or_loopback, 3) == 0 && bytes[15] <= 1))
    return g_inet_address_new_from_bytes (bytes + 12, G_SOCKET_FAMILY_IPV4);

  return g_object_ref (address);
}

/**
 * hg_address_classify:
 * @address: a literal or resolved address
 *
 * Unmaps @address with hg_address_unmap() and finds its class: cloud
 * metadata first, then unspecified, loopback, link-local, multicast,
 * broadcast (which includes the reserved 240.0.0.0/4), private (RFC 1918,
 * carrier-grade NAT 100.64.0.0/10, benchmarking 198.18.0.0/15, unique
 * local fc00::/7 and site-local fec0::/10), and otherwise public.
 *
 * Returns: the class
 */
HgAddressClass
hg_address_classify (GInetAddress *address)
{
  g_autoptr(GInetAddress) unmapped = NULL;
  const CompiledRange *ranges = compiled_ranges ();
  const guint8 *bytes;
  gsize size;
  guint i;

  g_return_val_if_fail (G_IS_INET_ADDRESS (address), HG_ADDRESS_UNSPECIFIED);

  unmapped = hg_address_unmap (address);
  bytes = g_inet_address_to_bytes (unmapped);
  size = g_inet_address_get_native_size (unmapped);

  for (i = 0; i < G_N_ELEMENTS (address_ranges); i++)
    {
      if (ranges[i].size == size &&
          prefix_matches (bytes, ranges[i].bytes, address_ranges[i].length))
        return address_ranges[i].klass;
    }

  return HG_ADDRESS_PUBLIC;
}

/**
 * hg_address_class_to_string:
 * @klass: an address class
 *
 * Names @klass in a few lower-case words, such as "cloud metadata" or
 * "link-local", for log lines and denial reasons. The name is marked for
 * translation but returned untranslated; pass it through gettext() to
 * show it to a person.
 *
 * Returns: a static string
 */
const char *
hg_address_class_to_string (HgAddressClass klass)
{
  switch (klass)
    {
    case HG_ADDRESS_PUBLIC:
      return N_("public");
    case HG_ADDRESS_PRIVATE:
      return N_("private");
    case HG_ADDRESS_LOOPBACK:
      return N_("loopback");
    case HG_ADDRESS_LINK_LOCAL:
      return N_("link-local");
    case HG_ADDRESS_UNSPECIFIED:
      return N_("unspecified");
    case HG_ADDRESS_MULTICAST:
      return N_("multicast");
    case HG_ADDRESS_BROADCAST:
      return N_("broadcast or reserved");
    case HG_ADDRESS_METADATA:
      return N_("cloud metadata");
    default:
      return "unknown";
    }
}

/* Names of cloud metadata services. Every subdomain is included too. */
static const char *const metadata_names[] = {
  "metadata.google.internal",
  "metadata.goog",
  "metadata.azure.internal",
  "metadata",
  "instance-data.ec2.internal",
  "metadata.tencentyun.com",
};

/**
 * hg_host_is_metadata_name:
 * @normalized_name: a host name as hg_host_parse() returns it
 *
 * Checks whether @normalized_name is the name of a cloud metadata
 * service, such as `metadata.google.internal`, or a subdomain of one.
 *
 * Returns: %TRUE for a metadata name
 */
gboolean
hg_host_is_metadata_name (const char *normalized_name)
{
  gsize length;
  guint i;

  g_return_val_if_fail (normalized_name != NULL, FALSE);

  length = strlen (normalized_name);

  for (i = 0; i < G_N_ELEMENTS (metadata_names); i++)
    {
      const char *name = metadata_names[i];
      gsize name_length = strlen (name);

      if (length == name_length && strcmp (normalized_name, name) == 0)
        return TRUE;

      if (length > name_length &&
          strcmp (normalized_name + length - name_length, name) == 0 &&
          normalized_name[length - name_length - 1] == '.')
        return TRUE;
    }

  return FALSE;
}
