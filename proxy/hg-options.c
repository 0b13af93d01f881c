/* hg-options.c: command line and settings of hostgate-proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-options.h"

#include <glib/gi18n.h>
#include <string.h>

#define MAX_TIMEOUT_SECS    86400
#define MAX_CONNECTIONS     1000000
#define MAX_PENDING_APPROVALS 1024

/* The raw strings GOption fills in; validated into HgOptions afterwards so
 * that every message can name the option and the rule it broke. */
typedef struct {
  char *listen;
  char *port_file;
  char *auth;
  char *token_file;
  char *audit_log;
  char *header_timeout;
  char *idle_timeout;
  char *connect_timeout;
  char *io_timeout;
  char *dns_timeout;
  char *max_body;
  char *max_connections;
  char *grace_period;
  char *profile;
  char *profile_file;
  GStrv allow_domains;
  GStrv deny_domains;
  GStrv reject_domains;
  gboolean allow_loopback;
  char *upstream_proxy;
  GStrv upstream_bypass;
  GStrv resolve;
  char *network_approval;
  char *approval_timeout;
  char *agent_socket;
  char *label;
  char *max_pending_approvals;
  gboolean version;
} RawOptions;

static void
raw_options_clear (RawOptions *raw)
{
  g_free (raw->listen);
  g_free (raw->port_file);
  g_free (raw->auth);
  g_free (raw->token_file);
  g_free (raw->audit_log);
  g_free (raw->header_timeout);
  g_free (raw->idle_timeout);
  g_free (raw->connect_timeout);
  g_free (raw->io_timeout);
  g_free (raw->dns_timeout);
  g_free (raw->max_body);
  g_free (raw->max_connections);
  g_free (raw->grace_period);
  g_free (raw->profile);
  g_free (raw->profile_file);
  g_strfreev (raw->allow_domains);
  g_strfreev (raw->deny_domains);
  g_strfreev (raw->reject_domains);
  g_free (raw->upstream_proxy);
  g_strfreev (raw->upstream_bypass);
  g_strfreev (raw->resolve);
  g_free (raw->network_approval);
  g_free (raw->approval_timeout);
  g_free (raw->agent_socket);
  g_free (raw->label);
  g_free (raw->max_pending_approvals);
}

void
hg_options_free (HgOptions *options)
{
  if (options == NULL)
    return;

  g_clear_object (&options->listen_address);
  g_free (options->port_file);
  if (options->token != NULL)
    memset (options->token, 0, strlen (options->token));
  g_free (options->token);
  g_free (options->audit_log);
  g_clear_pointer (&options->profile, hg_profile_free);
  g_clear_pointer (&options->allow, hg_filter_unref);
  g_clear_pointer (&options->deny, hg_filter_unref);
  g_clear_pointer (&options->upstream, hg_host_free);
  g_clear_pointer (&options->upstream_bypass, hg_filter_unref);
  g_strfreev (options->resolve_pins);
  g_clear_pointer (&options->flag_allow, hg_filter_unref);
  g_clear_pointer (&options->flag_deny, hg_filter_unref);
  g_free (options->agent_socket);
  g_free (options->label);
  g_free (options);
}

/**
 * hg_write_port_file:
 * @path: the `--port-file` path
 * @address: the bound address, as hg_socket_address_to_string() formats it
 *
 * Writes @address and a newline to @path, replacing the file atomically
 * so that a script polling for it never reads half a line.
 *
 * Returns: %TRUE on success, else %FALSE with @error set
 */
gboolean
hg_write_port_file (const char  *path,
                    const char  *address,
                    GError     **error)
{
  g_autofree char *line = g_strconcat (address, "\n", NULL);

  if (!g_file_set_contents (path, line, -1, error))
    {
      /* Translators: %s is the path given with --port-file; an error
       * message follows. */
      g_prefix_error (error, _("Could not write the port file “%s”: "), path);
      return FALSE;
    }

  return TRUE;
}

/**
 * hg_socket_address_to_string:
 * @address: an inet socket address
 *
 * Formats @address as `127.0.0.1:8080` or `[::1]:8080`.
 *
 * Returns: (transfer full): the text
 */
char *
hg_socket_address_to_string (GSocketAddress *address)
{
  GInetSocketAddress *inet;
  g_autofree char *host = NULL;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (address), NULL);

  inet = G_INET_SOCKET_ADDRESS (address);
  host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
  if (g_socket_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (inet));

  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (inet));
}

/**
 * hg_parse_listen_address:
 * @text: `ADDR:PORT`, with an IPv6 address in brackets
 * @address: (out): the parsed address
 * @error: return location for a #GError
 *
 * Parses a listening address. The address must be an IP literal, so that
 * binding never depends on a name lookup; port 0 asks for a free port.
 *
 * Returns: %TRUE on success
 */
gboolean
hg_parse_listen_address (const char          *text,
                         GInetSocketAddress **address,
                         GError             **error)
{
  const char *colon;
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  guint64 port;

  colon = strrchr (text, ':');
  if (colon == NULL || colon == text)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid listening address “%s”: expected ADDR:PORT, such as 127.0.0.1:8080 or [::1]:8080"),
                   text);
      return FALSE;
    }

  if (text[0] == '[' && colon[-1] == ']')
    host = g_strndup (text + 1, colon - text - 2);
  else
    host = g_strndup (text, colon - text);

  inet = g_inet_address_new_from_string (host);
  if (inet == NULL || (text[0] != '[' && strchr (host, ':') != NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid listening address “%s”: “%s” is not an IP address (IPv6 goes in brackets)"),
                   text, host);
      return FALSE;
    }

  if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid listening address “%s”: the port must be a number from 0 to 65535"),
                   text);
      return FALSE;
    }

  *address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (inet, (guint16) port));
  return TRUE;
}

/**
 * hg_parse_size:
 * @text: a byte count, optionally followed by `K`, `M` or `G` (powers of 1024)
 * @size: (out): the size in bytes
 * @error: return location for a #GError
 *
 * Parses a size such as `16M`.
 *
 * Returns: %TRUE on success
 */
gboolean
hg_parse_size (const char *text,
               guint64    *size,
               GError    **error)
{
  g_autofree char *digits = g_strdup (text);
  g_autoptr(GError) number_error = NULL;
  gsize length = strlen (digits);
  guint shift = 0;
  guint64 value;

  if (length > 0)
    {
      switch (g_ascii_toupper (digits[length - 1]))
        {
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        default: break;
        }
      if (shift != 0)
        digits[length - 1] = '\0';
    }

  if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64 >> shift, &value, &number_error)
      && g_error_matches (number_error, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Size “%s” is too large: it must fit in 64 bits as a number of bytes"), text);
      return FALSE;
    }

  if (number_error != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid size “%s”: expected a number of bytes, optionally followed by K, M or G"),
                   text);
      return FALSE;
    }

  *size = value << shift;
  return TRUE;
}

static gboolean
parse_uint_option (const char *option,
                   const char *text,
                   guint       min,
                   guint       max,
                   guint      *value)
{
  guint64 parsed;

  if (text == NULL)
    return TRUE;

  if (!g_ascii_string_to_unsigned (text, 10, min, max, &parsed, NULL))
    return FALSE;

  *value = (guint) parsed;
  return TRUE;
}

static gboolean
parse_numbers (const RawOptions *raw,
               HgOptions        *options,
               GError          **error)
{
  const struct {
    const char *option;
    const char *text;
    guint min;
    guint max;
    guint *value;
  } numbers[] = {
    { "--header-timeout", raw->header_timeout, 1, MAX_TIMEOUT_SECS, &options->header_timeout_secs },
    { "--idle-timeout", raw->idle_timeout, 1, MAX_TIMEOUT_SECS, &options->idle_timeout_secs },
    { "--connect-timeout", raw->connect_timeout, 1, MAX_TIMEOUT_SECS, &options->connect_timeout_secs },
    { "--io-timeout", raw->io_timeout, 1, MAX_TIMEOUT_SECS, &options->io_timeout_secs },
    { "--dns-timeout", raw->dns_timeout, 1, MAX_TIMEOUT_SECS, &options->dns_timeout_secs },
    { "--grace-period", raw->grace_period, 0, MAX_TIMEOUT_SECS, &options->grace_period_secs },
    { "--max-connections", raw->max_connections, 1, MAX_CONNECTIONS, &options->max_connections },
    { "--max-pending-approvals", raw->max_pending_approvals, 1, MAX_PENDING_APPROVALS,
      &options->max_pending_approvals },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (numbers); i++)
    {
      if (!parse_uint_option (numbers[i].option, numbers[i].text,
                              numbers[i].min, numbers[i].max, numbers[i].value))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("Invalid value “%s” for %s: expected a whole number from %u to %u"),
                       numbers[i].text, numbers[i].option, numbers[i].min, numbers[i].max);
          return FALSE;
        }
    }

  if (raw->max_body != NULL && !hg_parse_size (raw->max_body, &options->max_body, error))
    {
      g_prefix_error (error, "--max-body: ");
      return FALSE;
    }

  /* The forwarder keeps a body in a GByteArray, whose length is a guint. */
  if (options->max_body > G_MAXUINT)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--max-body: “%s” is more than %u bytes, the largest request body the proxy can hold"),
                   raw->max_body, G_MAXUINT);
      return FALSE;
    }

  return TRUE;
}

static char *
read_token_file (const char *path,
                 GError    **error)
{
  g_autofree char *contents = NULL;
  char *newline;

  if (!g_file_get_contents (path, &contents, NULL, error))
    {
      g_prefix_error (error, _("Could not read the token file: "));
      return NULL;
    }

  newline = strchr (contents, '\n');
  if (newline != NULL)
    *newline = '\0';
  g_strchomp (contents);

  if (contents[0] == '\0')
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("The token file “%s” is empty: write the proxy token on its first line"),
                   path);
      return NULL;
    }

  return g_steal_pointer (&contents);
}

static gboolean
load_token (const RawOptions   *raw,
            const char * const *envp,
            HgOptions          *options,
            GError            **error)
{
  const char *from_env;

  if (raw->auth == NULL || g_str_equal (raw->auth, "required"))
    options->auth_required = TRUE;
  else if (g_str_equal (raw->auth, "off"))
    options->auth_required = FALSE;
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid value “%s” for --auth: expected “required” or “off”"),
                   raw->auth);
      return FALSE;
    }

  from_env = g_environ_getenv ((char **) envp, "HOSTGATE_PROXY_TOKEN");
  if (raw->token_file != NULL)
    {
      options->token = read_token_file (raw->token_file, error);
      if (options->token == NULL)
        return FALSE;
    }
  else if (from_env != NULL && from_env[0] != '\0')
    options->token = g_strdup (from_env);

  if (options->auth_required && options->token == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("No proxy token: pass --token-file FILE or set HOSTGATE_PROXY_TOKEN, or turn authentication off with --auth off"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
add_entries (HgFilter       *filter,
             const char     *option,
             GStrv           entries,
             HgPatternFlags  flags,
             GError        **error)
{
  for (guint i = 0; entries != NULL && entries[i] != NULL; i++)
    {
      if (!hg_filter_add (filter, entries[i], flags, error))
        {
          g_prefix_error (error, "%s: ", option);
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
is_empty (const char *text)
{
  return text == NULL || text[0] == '\0';
}

static gboolean
load_profile (const RawOptions   *raw,
              const char * const *envp,
              HgOptions          *options,
              GError            **error)
{
  HgSettingsFlags flags = { raw->network_approval, raw->approval_timeout };

  if (raw->profile != NULL && raw->profile_file != NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("--profile and --profile-file cannot be used together: pick one"));
      return FALSE;
    }

  options->profile_from_file = raw->profile_file != NULL;
  if (raw->profile_file != NULL)
    options->profile = hg_profile_load_file (raw->profile_file, error);
  else
    options->profile = hg_profile_load_named (raw->profile != NULL ? raw->profile : "default", error);
  if (options->profile == NULL)
    return FALSE;

  /* hg_settings_resolve() counts an empty variable as unset; so does this. */
  options->approval_mode_fixed = raw->network_approval != NULL ||
    !is_empty (g_environ_getenv ((char **) envp, "HOSTGATE_NETWORK_APPROVAL"));
  options->approval_timeout_fixed = raw->approval_timeout != NULL ||
    !is_empty (g_environ_getenv ((char **) envp, "HOSTGATE_APPROVAL_TIMEOUT"));

  return hg_settings_resolve (&flags, envp, options->profile, &options->settings, error);
}

/* The agent socket: the flag, then the environment, then the folder the
 * agent listens in by default. */
static char *
choose_agent_socket (const RawOptions   *raw,
                     const char * const *envp)
{
  const char *from_env = g_environ_getenv ((char **) envp, "HOSTGATE_AGENT_SOCKET");
  const char *runtime_dir = g_environ_getenv ((char **) envp, "XDG_RUNTIME_DIR");

  if (raw->agent_socket != NULL)
    return g_strdup (raw->agent_socket);
  if (!is_empty (from_env))
    return g_strdup (from_env);
  if (is_empty (runtime_dir))
    runtime_dir = g_get_user_runtime_dir ();

  return g_build_filename (runtime_dir, "hostgate", "agent.sock", NULL);
}

static gboolean
build_lists (const RawOptions *raw,
             HgOptions        *options,
             GError          **error)
{
  HgProfile *profile = options->profile;
  const char *upstream = raw->upstream_proxy != NULL ? raw->upstream_proxy : profile->upstream_proxy;

  options->allow = hg_profile_build_allow (profile);
  options->deny = hg_profile_build_deny (profile);
  if (!add_entries (options->allow, "--allow-domain", raw->allow_domains, HG_PATTERN_FLAG_NONE, error) ||
      !add_entries (options->deny, "--deny-domain", raw->deny_domains, HG_PATTERN_FLAG_DENY, error) ||
      !add_entries (options->deny, "--reject-domain", raw->reject_domains, HG_PATTERN_FLAG_DENY, error))
    return FALSE;

  options->flag_allow = hg_filter_new ();
  options->flag_deny = hg_filter_new ();
  if (!add_entries (options->flag_allow, "--allow-domain", raw->allow_domains, HG_PATTERN_FLAG_NONE, error) ||
      !add_entries (options->flag_deny, "--deny-domain", raw->deny_domains, HG_PATTERN_FLAG_DENY, error) ||
      !add_entries (options->flag_deny, "--reject-domain", raw->reject_domains, HG_PATTERN_FLAG_DENY, error))
    return FALSE;

  options->allow_loopback = raw->allow_loopback || profile->allow_loopback;

  options->upstream_bypass = hg_filter_new ();
  for (guint i = 0; profile->upstream_bypass != NULL && i < profile->upstream_bypass->len; i++)
    {
      if (!hg_filter_add (options->upstream_bypass, g_ptr_array_index (profile->upstream_bypass, i),
                          HG_PATTERN_FLAG_NONE, error))
        return FALSE;
    }
  if (!add_entries (options->upstream_bypass, "--upstream-bypass", raw->upstream_bypass,
                    HG_PATTERN_FLAG_NONE, error))
    return FALSE;

  /* An empty flag, such as an unset variable in a script, would turn
   * off the profile's upstream proxy without a word. */
  if (raw->upstream_proxy != NULL && raw->upstream_proxy[0] == '\0')
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("--upstream-proxy is empty: give HOST:PORT, or leave the option out"));
      return FALSE;
    }

  /* A profile's value was checked when it was loaded. */
  if (upstream != NULL && strchr (upstream, '@') != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid --upstream-proxy: %s"), hg_profile_upstream_login_message ());
      return FALSE;
    }

  if (upstream != NULL)
    {
      options->upstream = hg_host_parse (upstream, HG_HOST_PORT_REQUIRED, error);
      if (options->upstream == NULL)
        {
          g_prefix_error (error, _("Invalid upstream proxy “%s”: "), upstream);
          return FALSE;
        }
    }

  return TRUE;
}

static GOptionContext *
create_context (RawOptions *raw)
{
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &raw->listen,
      N_("Listen on ADDR:PORT, an IP address and a port; port 0 picks a free one (default: 127.0.0.1:0)"), N_("ADDR:PORT") },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &raw->port_file,
      N_("Write the bound address to FILE once listening"), N_("FILE") },
    { "auth", 0, 0, G_OPTION_ARG_STRING, &raw->auth,
      N_("Whether clients must send the proxy token: required or off (default: required)"), N_("MODE") },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &raw->token_file,
      N_("Read the proxy token from the first line of FILE (default: the HOSTGATE_PROXY_TOKEN environment variable)"), N_("FILE") },
    { "audit-log", 0, 0, G_OPTION_ARG_FILENAME, &raw->audit_log,
      N_("Append one JSON line per decision to FILE"), N_("FILE") },
    { "header-timeout", 0, 0, G_OPTION_ARG_STRING, &raw->header_timeout,
      N_("Seconds a client has to send a complete request head (default: 10)"), N_("SECS") },
    { "idle-timeout", 0, 0, G_OPTION_ARG_STRING, &raw->idle_timeout,
      N_("Seconds a tunnel may stay idle before it is closed (default: 600)"), N_("SECS") },
    { "connect-timeout", 0, 0, G_OPTION_ARG_STRING, &raw->connect_timeout,
      N_("Seconds allowed for connecting to a destination or the upstream proxy (default: 10)"), N_("SECS") },
    { "io-timeout", 0, 0, G_OPTION_ARG_STRING, &raw->io_timeout,
      N_("Seconds a plain HTTP exchange may wait for the origin or a stalled client, connecting included (default: 60)"), N_("SECS") },
    { "dns-timeout", 0, 0, G_OPTION_ARG_STRING, &raw->dns_timeout,
      N_("Seconds allowed for one name lookup (default: 5)"), N_("SECS") },
    { "max-body", 0, 0, G_OPTION_ARG_STRING, &raw->max_body,
      N_("Largest plain HTTP request body in bytes, with an optional K, M or G suffix (default: 16M)"), N_("BYTES") },
    { "max-connections", 0, 0, G_OPTION_ARG_STRING, &raw->max_connections,
      N_("Most client connections served at once; more are answered with 503 (default: 1024)"), N_("COUNT") },
    { "grace-period", 0, 0, G_OPTION_ARG_STRING, &raw->grace_period,
      N_("Seconds open connections may keep running after SIGINT, SIGTERM or SIGHUP (default: 5)"), N_("SECS") },
    { "profile", 0, 0, G_OPTION_ARG_STRING, &raw->profile,
      N_("Use the profile NAME from the hostgate profile folder (default: default)"), N_("NAME") },
    { "profile-file", 0, 0, G_OPTION_ARG_FILENAME, &raw->profile_file,
      N_("Use the profile in PATH"), N_("PATH") },
    { "allow-domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->allow_domains,
      N_("Add PATTERN to the allow list; repeatable"), N_("PATTERN") },
    { "deny-domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->deny_domains,
      N_("Add PATTERN to the deny list; repeatable"), N_("PATTERN") },
    { "reject-domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->reject_domains,
      N_("Same as --deny-domain"), N_("PATTERN") },
    { "allow-loopback", 0, 0, G_OPTION_ARG_NONE, &raw->allow_loopback,
      N_("Allow destinations on loopback addresses (default: denied)"), NULL },
    { "upstream-proxy", 0, 0, G_OPTION_ARG_STRING, &raw->upstream_proxy,
      N_("Send requests through the HTTP proxy at HOST:PORT"), N_("HOST:PORT") },
    { "upstream-bypass", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->upstream_bypass,
      N_("Connect directly, not through the upstream proxy, to hosts matching PATTERN; repeatable"), N_("PATTERN") },
    { "resolve", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->resolve,
      N_("Answer lookups of HOST on PORT (a number or *) with ADDR (a comma-separated list) instead of DNS; "
         "HOST:ADDR pins every port; repeatable"), N_("HOST:[PORT:]ADDR") },
    { "network-approval", 0, 0, G_OPTION_ARG_STRING, &raw->network_approval,
      N_("Whether to ask about hosts on neither list: off or ask (default: the profile’s setting, else off)"), N_("MODE") },
    { "approval-timeout", 0, 0, G_OPTION_ARG_STRING, &raw->approval_timeout,
      N_("Seconds to wait for an answer, 5 to 300 (default: the profile’s setting, else 60)"), N_("SECS") },
    { "agent-socket", 0, 0, G_OPTION_ARG_FILENAME, &raw->agent_socket,
      N_("Ask the approval agent on the Unix socket PATH (default: $HOSTGATE_AGENT_SOCKET, else $XDG_RUNTIME_DIR/hostgate/agent.sock)"), N_("PATH") },
    { "label", 0, 0, G_OPTION_ARG_STRING, &raw->label,
      N_("Name this proxy with TEXT in approval prompts (default: the profile name and the listening address)"), N_("TEXT") },
    { "max-pending-approvals", 0, 0, G_OPTION_ARG_STRING, &raw->max_pending_approvals,
      N_("Most distinct hosts waiting for an answer at once; more are denied (default: 32)"), N_("COUNT") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &raw->version,
      N_("Print the version and exit"), NULL },
    { NULL }
  };
  GOptionContext *context;

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("A filtering HTTP and CONNECT proxy for one sandbox."));
  g_option_context_set_description (context,
    _("To run one program behind its own proxy, with a random port and token and, where the kernel allows, Landlock confinement: hostgate-proxy run [OPTIONS] -- COMMAND [ARGUMENTS…]. See hostgate-proxy run --help.\n\n"
      "Exit status: 0 after a clean shutdown on SIGINT, SIGTERM or SIGHUP, 1 when an option or the profile is invalid or the address cannot be bound."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  return context;
}

/* The address goes to standard output before the port file is written,
 * so the usual mistakes in its path are found here, before anything is
 * printed. */
static gboolean
check_port_file_path (const char  *path,
                        GError     **error)
{
  g_autofree char *folder = g_path_get_dirname (path);

  if (path[0] == '\0')
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("--port-file is empty: give the path of a file"));
      return FALSE;
    }

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--port-file “%s” is a folder: give the path of a file, such as %s/port"),
                   path, path);
      return FALSE;
    }

  if (g_file_test (folder, G_FILE_TEST_IS_DIR))
    return TRUE;

  if (g_file_test (folder, G_FILE_TEST_EXISTS))
    /* Translators: the first %s is the --port-file path, the second the
     * part before its last slash. */
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("--port-file “%s” is inside “%s”, which is not a folder: give a path in a folder"),
                 path, folder);
  else
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("The folder of --port-file “%s” does not exist: create it or give a path in another folder"),
                 path);
  return FALSE;
}

static gboolean
validate (const RawOptions   *raw,
          const char * const *envp,
          HgOptions          *options,
          GError            **error)
{
  if (!hg_parse_listen_address (raw->listen != NULL ? raw->listen : HG_OPTIONS_DEFAULT_LISTEN,
                                &options->listen_address, error))
    return FALSE;

  if (!parse_numbers (raw, options, error))
    return FALSE;

  if (!load_token (raw, envp, options, error))
    return FALSE;

  if (!load_profile (raw, envp, options, error))
    return FALSE;

  if (!build_lists (raw, options, error))
    return FALSE;

  if (raw->port_file != NULL && !check_port_file_path (raw->port_file, error))
    return FALSE;

  options->port_file = g_strdup (raw->port_file);
  options->audit_log = g_strdup (raw->audit_log);
  options->resolve_pins = g_strdupv (raw->resolve);
  options->agent_socket = choose_agent_socket (raw, envp);
  options->label = g_strdup (raw->label);

  return TRUE;
}

/**
 * hg_options_parse:
 * @argc: (inout): the argument count
 * @argv: (inout): the arguments; parsed options are removed
 * @envp: the environment, for the token and the approval settings
 * @error: return location for a #GError
 *
 * Parses and validates the command line. `--help` prints and exits here,
 * as GOption does.
 *
 * Returns: (transfer full) (nullable): the options, or %NULL on error
 */
HgOptions *
hg_options_parse (int                 *argc,
                  char              ***argv,
                  const char * const  *envp,
                  GError             **error)
{
  RawOptions raw = { 0 };
  g_autoptr(GOptionContext) context = create_context (&raw);
  g_autoptr(HgOptions) options = g_new0 (HgOptions, 1);
  gboolean ok;

  options->header_timeout_secs = HG_OPTIONS_DEFAULT_HEADER_TIMEOUT;
  options->idle_timeout_secs = HG_OPTIONS_DEFAULT_IDLE_TIMEOUT;
  options->connect_timeout_secs = HG_OPTIONS_DEFAULT_CONNECT_TIMEOUT;
  options->io_timeout_secs = HG_OPTIONS_DEFAULT_IO_TIMEOUT;
  options->dns_timeout_secs = HG_OPTIONS_DEFAULT_DNS_TIMEOUT;
  options->max_body = HG_OPTIONS_DEFAULT_MAX_BODY;
  options->max_connections = HG_OPTIONS_DEFAULT_MAX_CONNECTIONS;
  options->grace_period_secs = HG_OPTIONS_DEFAULT_GRACE_PERIOD;
  options->max_pending_approvals = HG_OPTIONS_DEFAULT_MAX_PENDING_APPROVALS;

  ok = g_option_context_parse (context, argc, argv, error);
  if (ok && raw.version)
    options->show_version = TRUE;
  else if (ok && *argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   _("Unexpected argument “%s”: see --help"), (*argv)[1]);
      ok = FALSE;
    }
  else if (ok)
    ok = validate (&raw, envp, options, error);

  raw_options_clear (&raw);
  if (!ok)
    return NULL;

  return g_steal_pointer (&options);
}
