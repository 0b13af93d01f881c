/* hg-proxy-main.c: entry point of hostgate-proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "hg-agent-client.h"
#include "hg-options.h"
#include "hg-proxy-server.h"
#include "hg-run.h"

/* A proxy token shorter than this gets a warning at start. */
#define TOKEN_ADVISED_LENGTH 16

typedef struct {
  GMainLoop *loop;
  HgProxyServer *server;
  gboolean stopping;
} Main;

static void
shutdown_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Main *main_data = user_data;

  hg_proxy_server_shutdown_finish (HG_PROXY_SERVER (source), result, NULL);
  g_message (_("Stopped"));
  g_main_loop_quit (main_data->loop);
}

static gboolean
signal_cb (gpointer user_data)
{
  Main *main_data = user_data;

  if (main_data->stopping)
    return G_SOURCE_CONTINUE;

  g_message (_("Shutting down on a signal: no new connections are accepted"));
  main_data->stopping = TRUE;
  hg_proxy_server_shutdown_async (main_data->server, NULL, shutdown_cb, main_data);

  return G_SOURCE_CONTINUE;
}

static gboolean
announce_address (HgProxyServer   *server,
                  const HgOptions *options,
                  GError         **error)
{
  g_autofree char *address = NULL;
  g_autofree char *line = NULL;

  address = hg_socket_address_to_string (G_SOCKET_ADDRESS (hg_proxy_server_get_address (server)));
  line = g_strconcat (address, "\n", NULL);

  /* The address goes to stdout before the port file exists, so a parent
   * that waits for the file can read the line too. */
  fputs (line, stdout);
  fflush (stdout);

  if (options->port_file != NULL && !hg_write_port_file (options->port_file, address, error))
    return FALSE;

  /* Translators: the first %s is the version of hostgate-proxy, the
   * second the address and port it listens on. */
  g_message (_("hostgate-proxy %s listening on %s"), PACKAGE_VERSION, address);

  /* Any program of any user on the machine can try tokens against a
   * loopback port, and nothing slows it down. */
  if (options->auth_required)
    {
      glong token_length = g_utf8_strlen (options->token, -1);

      if (token_length < TOKEN_ADVISED_LENGTH)
        /* Translators: both %ld are numbers of characters; the command makes a random token. */
        g_warning (_("The proxy token has only %ld characters, which a program on this machine can guess. "
                     "Use at least %ld random ones, such as the output of: head -c 24 /dev/urandom | base64"),
                   token_length, (long) TOKEN_ADVISED_LENGTH);
    }

  if (!options->auth_required &&
      !g_inet_address_get_is_loopback (g_inet_socket_address_get_address (hg_proxy_server_get_address (server))))
    /* Translators: %s is the address and port the proxy listens on. */
    g_warning (_("Listening on %s with --auth off: every host that can reach this address can use the proxy. "
                 "Listen on a loopback address or require the proxy token."), address);
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(HgOptions) options = NULL;
  g_autoptr(HgProxyServer) server = NULL;
  g_autoptr(HgAgentClient) agent = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();
  Main main_data = { 0 };
  guint sigint_id;
  guint sigterm_id;
  guint sighup_id;
  const char *localedir;

  /* A peer that closes while we write must give an error, not kill us. */
  signal (SIGPIPE, SIG_IGN);

  /* stdout carries only the bound address; GLib would send debug and
   * info lines there too. */
  g_log_writer_default_set_use_stderr (TRUE);

  setlocale (LC_ALL, "");
  /* Tests point this at the catalogues in the build tree. */
  localedir = g_getenv ("HOSTGATE_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (argc > 1 && g_str_equal (argv[1], "run"))
    return hg_run_main (argc, argv, (const char * const *) envp);

  options = hg_options_parse (&argc, &argv, (const char * const *) envp, &error);
  if (options == NULL)
    {
      /* Translators: %s is an error message. */
      g_printerr (_("hostgate-proxy: %s\n"), error->message);
      return EXIT_FAILURE;
    }

  if (options->show_version)
    {
      g_print ("hostgate-proxy %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  /* Catch the signals before the address is announced: a parent may send
   * one as soon as it reads the port file, and the default action would
   * kill the proxy without a clean shutdown. The handlers run only once
   * the loop runs, when the server exists. */
  loop = g_main_loop_new (NULL, FALSE);
  main_data.loop = loop;
  sigint_id = g_unix_signal_add (SIGINT, signal_cb, &main_data);
  sigterm_id = g_unix_signal_add (SIGTERM, signal_cb, &main_data);
  /* A closed terminal sends SIGHUP; its default action would end the
   * proxy without the grace period and the last audit records. */
  sighup_id = g_unix_signal_add (SIGHUP, signal_cb, &main_data);

  server = hg_proxy_server_new (options, &error);
  if (server == NULL || !hg_proxy_server_start (server, &error) ||
      !announce_address (server, options, &error))
    {
      /* Translators: %s is an error message. */
      g_printerr (_("hostgate-proxy: %s\n"), error->message);
      return EXIT_FAILURE;
    }

  if (options->settings.approval_mode == HG_APPROVAL_ASK)
    {
      agent = hg_agent_client_new (server);
      hg_proxy_server_set_approver (server, HG_APPROVER (agent));
      hg_agent_client_start (agent);
    }

  main_data.server = server;
  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_source_remove (sighup_id);
  if (agent != NULL)
    hg_agent_client_stop (agent);

  return EXIT_SUCCESS;
}
