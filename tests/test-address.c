/* test-address.c: address classes for the built-in hard denies
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Classification is pure computation: no test here opens a socket.
 */
#include "config.h"

#include "hg-address.h"
#include "hg-host.h"

typedef struct {
  const char *path;
  const char *address;
  HgAddressClass klass;
} ClassifyCase;

static const ClassifyCase classify_cases[] = {
  { "metadata/aws", "169.254.169.254", HG_ADDRESS_METADATA },
  { "metadata/ecs", "169.254.170.2", HG_ADDRESS_METADATA },
  { "metadata/aws-ntp", "169.254.169.123", HG_ADDRESS_METADATA },
  { "metadata/aws-ipv6", "fd00:ec2::254", HG_ADDRESS_METADATA },
  { "metadata/aws-ipv6-zeros", "fd00:0ec2:0:0::254", HG_ADDRESS_METADATA },
  { "metadata/alibaba", "100.100.100.200", HG_ADDRESS_METADATA },
  { "metadata/azure", "168.63.129.16", HG_ADDRESS_METADATA },
  { "metadata/oracle", "192.0.0.192", HG_ADDRESS_METADATA },
  { "metadata/mapped", "::ffff:169.254.169.254", HG_ADDRESS_METADATA },
  { "metadata/mapped-hex", "::ffff:a9fe:a9fe", HG_ADDRESS_METADATA },
  { "metadata/nat64", "64:ff9b::a9fe:a9fe", HG_ADDRESS_METADATA },
  { "metadata/compatible", "::169.254.169.254", HG_ADDRESS_METADATA },
  { "unspecified/ipv4", "0.0.0.0", HG_ADDRESS_UNSPECIFIED },
  { "unspecified/this-network", "0.1.2.3", HG_ADDRESS_UNSPECIFIED },
  { "unspecified/ipv6", "::", HG_ADDRESS_UNSPECIFIED },
  { "unspecified/mapped", "::ffff:0.0.0.0", HG_ADDRESS_UNSPECIFIED },
  { "loopback/ipv4", "127.0.0.1", HG_ADDRESS_LOOPBACK },
  { "loopback/ipv4-high", "127.255.255.254", HG_ADDRESS_LOOPBACK },
  { "loopback/ipv6", "::1", HG_ADDRESS_LOOPBACK },
  { "loopback/mapped", "::ffff:127.0.0.1", HG_ADDRESS_LOOPBACK },
  { "loopback/nat64", "64:ff9b::7f00:1", HG_ADDRESS_LOOPBACK },
  { "link-local/ipv4", "169.254.1.1", HG_ADDRESS_LINK_LOCAL },
  { "link-local/ipv6", "fe80::1", HG_ADDRESS_LINK_LOCAL },
  { "link-local/ipv6-top", "febf:ffff::1", HG_ADDRESS_LINK_LOCAL },
  { "multicast/ipv4", "224.0.0.1", HG_ADDRESS_MULTICAST },
  { "multicast/ipv4-top", "239.255.255.255", HG_ADDRESS_MULTICAST },
  { "multicast/ipv6", "ff02::1", HG_ADDRESS_MULTICAST },
  { "broadcast/limited", "255.255.255.255", HG_ADDRESS_BROADCAST },
  { "broadcast/reserved", "240.0.0.1", HG_ADDRESS_BROADCAST },
  { "private/10", "10.1.2.3", HG_ADDRESS_PRIVATE },
  { "private/172-16", "172.16.0.1", HG_ADDRESS_PRIVATE },
  { "private/172-31", "172.31.255.255", HG_ADDRESS_PRIVATE },
  { "private/192-168", "192.168.1.1", HG_ADDRESS_PRIVATE },
  { "private/cgnat", "100.64.0.1", HG_ADDRESS_PRIVATE },
  { "private/cgnat-top", "100.127.255.255", HG_ADDRESS_PRIVATE },
  { "private/benchmark", "198.19.0.1", HG_ADDRESS_PRIVATE },
  { "private/ula", "fd12:3456::1", HG_ADDRESS_PRIVATE },
  { "private/ula-fc", "fc00::1", HG_ADDRESS_PRIVATE },
  { "private/site-local", "fec0::1", HG_ADDRESS_PRIVATE },
  { "private/mapped", "::ffff:10.0.0.1", HG_ADDRESS_PRIVATE },
  { "public/ipv4", "203.0.113.7", HG_ADDRESS_PUBLIC },
  { "public/172-32", "172.32.0.1", HG_ADDRESS_PUBLIC },
  { "public/172-15", "172.15.255.255", HG_ADDRESS_PUBLIC },
  { "public/cgnat-after", "100.128.0.1", HG_ADDRESS_PUBLIC },
  { "public/before-multicast", "223.255.255.255", HG_ADDRESS_PUBLIC },
  { "public/ipv6", "2001:db8::1", HG_ADDRESS_PUBLIC },
  { "public/nat64-public", "64:ff9b::cb00:7107", HG_ADDRESS_PUBLIC },
  { "public/near-metadata", "169.255.169.254", HG_ADDRESS_PUBLIC },
};

static void
test_classify (gconstpointer data)
{
  const ClassifyCase *c = data;
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (c->address);

  g_assert_nonnull (address);
  g_assert_cmpstr (hg_address_class_to_string (hg_address_classify (address)), ==,
                   hg_address_class_to_string (c->klass));
}

/* Hosts as a client writes them, parsed the way the proxy parses them. */
typedef struct {
  const char *path;
  const char *host;
  HgAddressClass klass;
} HostCase;

static const HostCase host_cases[] = {
  { "mapped", "[::ffff:169.254.169.254]:80", HG_ADDRESS_METADATA },
  { "mapped-hex", "[::ffff:a9fe:a9fe]:80", HG_ADDRESS_METADATA },
  { "nat64", "[64:ff9b::a9fe:a9fe]:80", HG_ADDRESS_METADATA },
  { "aws-ipv6-zeros", "[fd00:0ec2::254]:80", HG_ADDRESS_METADATA },
  { "ipv4", "169.254.169.254:80", HG_ADDRESS_METADATA },
};

static void
test_classify_host (gconstpointer data)
{
  const HostCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(HgHost) host = hg_host_parse (c->host, HG_HOST_PORT_REQUIRED, &error);

  g_assert_no_error (error);
  g_assert_nonnull (host->address);
  g_assert_cmpint (hg_address_classify (host->address), ==, c->klass);
}

typedef struct {
  const char *path;
  const char *address;
  const char *unmapped;
} UnmapCase;

static const UnmapCase unmap_cases[] = {
  { "mapped", "::ffff:192.0.2.1", "192.0.2.1" },
  { "compatible", "::192.0.2.1", "192.0.2.1" },
  { "compatible-low", "::2", "0.0.0.2" },
  { "nat64", "64:ff9b::c000:201", "192.0.2.1" },
  { "unspecified", "::", "::" },
  { "loopback", "::1", "::1" },
  { "ipv4", "192.0.2.1", "192.0.2.1" },
  { "ipv6", "2001:db8::1", "2001:db8::1" },
  { "nat64-other-prefix", "64:ff9b:1::c000:201", "64:ff9b:1::c000:201" },
  { "mapped-lookalike", "::fffe:c000:201", "::fffe:c000:201" },
};

static void
test_unmap (gconstpointer data)
{
  const UnmapCase *c = data;
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (c->address);
  g_autoptr(GInetAddress) unmapped = hg_address_unmap (address);
  g_autofree char *text = g_inet_address_to_string (unmapped);

  g_assert_cmpstr (text, ==, c->unmapped);
}

static void
test_unmap_same_reference (void)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string ("2001:db8::1");
  g_autoptr(GInetAddress) unmapped = hg_address_unmap (address);

  g_assert_true (unmapped == address);
}

typedef struct {
  const char *path;
  const char *name;
  gboolean metadata;
} NameCase;

static const NameCase name_cases[] = {
  { "google", "metadata.google.internal", TRUE },
  { "google-subdomain", "computemetadata.metadata.google.internal", TRUE },
  { "goog", "metadata.goog", TRUE },
  { "azure", "metadata.azure.internal", TRUE },
  { "bare", "metadata", TRUE },
  { "bare-subdomain", "x.metadata", TRUE },
  { "ec2", "instance-data.ec2.internal", TRUE },
  { "tencent", "metadata.tencentyun.com", TRUE },
  { "lookalike-prefix", "xmetadata.google.internal", FALSE },
  { "lookalike-suffix", "metadata.google.internal.example.com", FALSE },
  { "parent", "google.internal", FALSE },
  { "other", "example.com", FALSE },
  { "metadata-label", "metadata.example.com", FALSE },
};

static void
test_metadata_name (gconstpointer data)
{
  const NameCase *c = data;

  g_assert_true (hg_host_is_metadata_name (c->name) == c->metadata);
}

typedef struct {
  HgAddressClass klass;
  const char *name;
} ClassNameCase;

static const ClassNameCase class_name_cases[] = {
  { HG_ADDRESS_PUBLIC, "public" },
  { HG_ADDRESS_PRIVATE, "private" },
  { HG_ADDRESS_LOOPBACK, "loopback" },
  { HG_ADDRESS_LINK_LOCAL, "link-local" },
  { HG_ADDRESS_UNSPECIFIED, "unspecified" },
  { HG_ADDRESS_MULTICAST, "multicast" },
  { HG_ADDRESS_BROADCAST, "broadcast or reserved" },
  { HG_ADDRESS_METADATA, "cloud metadata" },
};

static void
test_class_name (gconstpointer data)
{
  const ClassNameCase *c = data;

  g_assert_cmpstr (hg_address_class_to_string (c->klass), ==, c->name);
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, NULL);

  for (i = 0; i < G_N_ELEMENTS (classify_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/address/classify/%s", classify_cases[i].path);
      g_test_add_data_func (path, &classify_cases[i], test_classify);
    }

  for (i = 0; i < G_N_ELEMENTS (host_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/address/classify-host/%s", host_cases[i].path);
      g_test_add_data_func (path, &host_cases[i], test_classify_host);
    }

  for (i = 0; i < G_N_ELEMENTS (unmap_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/address/unmap/%s", unmap_cases[i].path);
      g_test_add_data_func (path, &unmap_cases[i], test_unmap);
    }

  for (i = 0; i < G_N_ELEMENTS (name_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/address/metadata-name/%s", name_cases[i].path);
      g_test_add_data_func (path, &name_cases[i], test_metadata_name);
    }

  for (i = 0; i < G_N_ELEMENTS (class_name_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/address/class-name/%s",
                                               class_name_cases[i].name);

      g_strdelimit (path, " ", '-');
      g_test_add_data_func (path, &class_name_cases[i], test_class_name);
    }

  g_test_add_func ("/address/unmap/same-reference", test_unmap_same_reference);

  return g_test_run ();
}
