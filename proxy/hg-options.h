/* hg-options.h: command line and settings of hostgate-proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "hg-host.h"
#include "hg-filter.h"
#include "hg-profile.h"

G_BEGIN_DECLS

#define HG_OPTIONS_DEFAULT_LISTEN           "127.0.0.1:0"
#define HG_OPTIONS_DEFAULT_HEADER_TIMEOUT   10
#define HG_OPTIONS_DEFAULT_IDLE_TIMEOUT     600
#define HG_OPTIONS_DEFAULT_CONNECT_TIMEOUT  10
#define HG_OPTIONS_DEFAULT_IO_TIMEOUT       60
#define HG_OPTIONS_DEFAULT_DNS_TIMEOUT      5
#define HG_OPTIONS_DEFAULT_MAX_BODY         (16 * 1024 * 1024)
#define HG_OPTIONS_DEFAULT_MAX_CONNECTIONS  1024
#define HG_OPTIONS_DEFAULT_GRACE_PERIOD     5
#define HG_OPTIONS_DEFAULT_MAX_PENDING_APPROVALS 32

/**
 * HgOptions:
 * @listen_address: the address to bind (port 0 picks a free port)
 * @port_file: (nullable): where to write the bound address
 * @auth_required: whether clients must send the proxy token
 * @token: (nullable): the proxy token; a secret, never logged
 * @audit_log: (nullable): the audit log file
 * @header_timeout_secs: time allowed for a complete request head
 * @idle_timeout_secs: time a tunnel may move no byte before it closes
 * @connect_timeout_secs: time allowed for connecting to an origin or the
 *   upstream proxy, and for the upstream's CONNECT reply
 * @io_timeout_secs: time a plain HTTP exchange may wait for the origin
 *   (connecting, each read and write) or for a stalled client
 * @dns_timeout_secs: time allowed for one name lookup
 * @max_body: the largest plain HTTP request body forwarded, in bytes
 * @max_connections: the most client connections served at once
 * @grace_period_secs: time open connections get to finish at shutdown
 * @profile: the loaded profile
 * @profile_from_file: whether @profile came from `--profile-file`, so the
 *   agent's lists and approval settings do not replace the file's
 * @settings: approval settings resolved from flags, environment and profile
 * @allow: the allow list: the profile's plus `--allow-domain`
 * @deny: the deny list: the profile's plus `--deny-domain`
 * @allow_loopback: whether loopback destinations are allowed
 * @upstream: (nullable): the upstream proxy as `host:port`
 * @upstream_bypass: targets that do not go through the upstream proxy
 * @resolve_pins: (array zero-terminated=1): `--resolve` entries, unparsed
 * @flag_allow: the `--allow-domain` entries alone, kept when the agent
 *   replaces the profile's lists
 * @flag_deny: the `--deny-domain` and `--reject-domain` entries alone
 * @approval_mode_fixed: whether a flag or the environment set the
 *   approval mode, so the agent's profile updates do not change it
 * @approval_timeout_fixed: the same for the approval timeout
 * @agent_socket: the agent's socket: `--agent-socket`, else
 *   `HOSTGATE_AGENT_SOCKET`, else `$XDG_RUNTIME_DIR/hostgate/agent.sock`
 * @label: (nullable): `--label`, the name prompts show for this proxy
 * @max_pending_approvals: the most distinct questions waiting at once
 * @show_version: whether `--version` was given
 *
 * Everything hostgate-proxy runs with, validated.
 */
typedef struct {
  GInetSocketAddress *listen_address;
  char *port_file;
  gboolean auth_required;
  char *token;
  char *audit_log;
  guint header_timeout_secs;
  guint idle_timeout_secs;
  guint connect_timeout_secs;
  guint io_timeout_secs;
  guint dns_timeout_secs;
  guint64 max_body;
  guint max_connections;
  guint grace_period_secs;
  HgProfile *profile;
  gboolean profile_from_file;
  HgSettings settings;
  HgFilter *allow;
  HgFilter *deny;
  gboolean allow_loopback;
  HgHost *upstream;
  HgFilter *upstream_bypass;
  GStrv resolve_pins;
  HgFilter *flag_allow;
  HgFilter *flag_deny;
  gboolean approval_mode_fixed;
  gboolean approval_timeout_fixed;
  char *agent_socket;
  char *label;
  guint max_pending_approvals;
  gboolean show_version;
} HgOptions;

HgOptions *hg_options_parse           (int                 *argc,
                                       char              ***argv,
                                       const char * const  *envp,
                                       GError             **error);
void       hg_options_free            (HgOptions           *options);

gboolean   hg_parse_listen_address    (const char          *text,
                                       GInetSocketAddress **address,
                                       GError             **error);
gboolean   hg_parse_size              (const char          *text,
                                       guint64             *size,
                                       GError             **error);
char      *hg_socket_address_to_string (GSocketAddress     *address);
gboolean   hg_write_port_file         (const char          *path,
                                       const char          *address,
                                       GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgOptions, hg_options_free)

G_END_DECLS
