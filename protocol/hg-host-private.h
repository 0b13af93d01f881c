/* hg-host-private.h: host syntax helpers shared by hosts and patterns
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The helpers below check one part of a host or list entry. On failure they
 * return %NULL or %FALSE and set @reason to a translated phrase such as
 * "a host cannot contain spaces", which the caller puts into a GError
 * message that also quotes the whole input.
 */

char         *hg_escape_for_message (const char   *text,
                                     gssize        length);

gboolean      hg_port_parse_len     (const char   *text,
                                     gsize         length,
                                     guint16      *port,
                                     char        **reason);

/* Parses a bare host (no brackets, no port): a DNS name, which is returned
 * normalised in @name, or a dotted-quad IPv4 address, returned in @address.
 * Exactly one of the two is set on success. */
gboolean      hg_host_text_parse    (const char    *text,
                                     gsize          length,
                                     gboolean       wildcard_context,
                                     char         **name,
                                     GInetAddress **address,
                                     char         **reason);

/* Parses an IPv6 literal without brackets. An IPv4-mapped address
 * (::ffff:a.b.c.d) is returned as the IPv4 address. */
GInetAddress *hg_ipv6_text_parse    (const char   *text,
                                     gsize         length,
                                     char        **reason);

/* Whether @text consists of hex digits, ":" and "." only, as an IPv6
 * address written without brackets does. */
gboolean      hg_text_looks_like_ipv6 (const char *text,
                                       gsize       length);

/* Parses a strict dotted quad: four decimal parts 0–255 without leading
 * zeros. */
GInetAddress *hg_ipv4_text_parse    (const char   *text,
                                     gsize         length,
                                     char        **reason);

G_END_DECLS
