/* hg-host.h: parsing and normalising requested hosts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * HgHostFlags:
 * @HG_HOST_PORT_OPTIONAL: `host` and `host:port` are both accepted
 * @HG_HOST_PORT_REQUIRED: a port must follow, as in a CONNECT authority
 * @HG_HOST_PORT_FORBIDDEN: only a bare host (or bracketed IPv6 literal)
 *
 * How hg_host_parse() treats the port part.
 */
typedef enum {
  HG_HOST_PORT_OPTIONAL,
  HG_HOST_PORT_REQUIRED,
  HG_HOST_PORT_FORBIDDEN,
} HgHostFlags;

/**
 * HgHost:
 * @name: the normalised host: lower-case ASCII (IDNA punycode) without a
 *   trailing dot, or for an IP literal the canonical address text without
 *   brackets (IPv4-mapped IPv6 already unmapped to IPv4)
 * @port: the port, or 0 when none was given
 * @address: (nullable): the address when the host is an IP literal
 *
 * A requested host, parsed and normalised.
 */
typedef struct {
  char *name;
  guint16 port;
  GInetAddress *address;
} HgHost;

HgHost   *hg_host_parse          (const char  *input,
                                  HgHostFlags  flags,
                                  GError     **error);
HgHost   *hg_host_parse_len      (const char  *input,
                                  gssize       length,
                                  HgHostFlags  flags,
                                  GError     **error);
void      hg_host_free           (HgHost      *host);
char     *hg_host_to_string      (const HgHost *host);

char     *hg_host_normalize_name (const char  *input,
                                  GError     **error);
char     *hg_hide_user_information (const char *text);
gboolean  hg_port_parse          (const char  *text,
                                  guint16     *port,
                                  GError     **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgHost, hg_host_free)

G_END_DECLS
