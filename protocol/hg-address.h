/* hg-address.h: classifying addresses for the built-in hard denies
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * HgAddressClass:
 *
 * What kind of destination an address is, after unmapping. Every class but
 * %HG_ADDRESS_PUBLIC and %HG_ADDRESS_PRIVATE is a hard deny in the proxy
 * (loopback only unless the profile allows it).
 */
typedef enum {
  HG_ADDRESS_PUBLIC,
  HG_ADDRESS_PRIVATE,
  HG_ADDRESS_LOOPBACK,
  HG_ADDRESS_LINK_LOCAL,
  HG_ADDRESS_UNSPECIFIED,
  HG_ADDRESS_MULTICAST,
  HG_ADDRESS_BROADCAST,
  HG_ADDRESS_METADATA,
} HgAddressClass;

GInetAddress   *hg_address_unmap            (GInetAddress   *address);
HgAddressClass  hg_address_classify         (GInetAddress   *address);
const char     *hg_address_class_to_string  (HgAddressClass  klass);
gboolean        hg_host_is_metadata_name    (const char     *normalized_name);

G_END_DECLS
