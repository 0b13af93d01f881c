/* hg-run.c: `hostgate-proxy run`, one program behind its own proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hg-agent-client.h"
#include "hg-landlock.h"
#include "hg-options.h"
#include "hg-proxy-server.h"
#include "hg-run.h"

/* The user name in the proxy URL. Any name works: only the token is
 * checked. */
#define RUN_PROXY_USER "hostgate"

/* Bytes of randomness in the token, printed as twice as many hex digits. */
#define RUN_TOKEN_BYTES 24

typedef enum {
  CONFINE_AUTO,
  CONFINE_LANDLOCK,
  CONFINE_NONE,
} Confine;

typedef struct {
  GMainLoop *loop;
  HgProxyServer *server;
  const char *token;
  const char *address;
  GPid child;
  gboolean child_exited;
  int exit_status;
  int ruleset_fd;
  guint signal_source;

  /* The descriptor limit before the proxy raised it for its own
   * connections; the command gets this one back. */
  struct rlimit original_nofile;
  gboolean have_original_nofile;

  pid_t parent;  /* this process, for the child to check after fork() */
} Run;

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* The signal handler writes one byte per signal to this pipe, which the
 * main loop reads: the signal number, with SIGNAL_FROM_KERNEL set when
 * the kernel sent it rather than a process. */
static int signal_pipe[2] = { -1, -1 };
static struct sigaction previous_actions[G_N_ELEMENTS (forwarded_signals)];

#define SIGNAL_FROM_KERNEL 0x80

static char *
generate_token (GError **error)
{
  guint8 bytes[RUN_TOKEN_BYTES];
  GString *token = g_string_sized_new (2 * RUN_TOKEN_BYTES);

  if (getrandom (bytes, sizeof bytes, 0) != sizeof bytes)
    {
      int saved = errno;
      g_string_free (token, TRUE);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not generate the proxy token: %s"), g_strerror (saved));
      return NULL;
    }

  for (guint i = 0; i < sizeof bytes; i++)
    g_string_append_printf (token, "%02x", bytes[i]);

  return g_string_free (token, FALSE);
}

static void
print_run_help (void)
{
  g_print ("%s\n\n%s\n\n%s\n",
           _("Usage: hostgate-proxy run [OPTIONS] -- COMMAND [ARGUMENTS…]"),
           _("Runs COMMAND behind a proxy of its own on 127.0.0.1, with a random port and token. "
             "The command gets HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and their lower-case forms "
             "pointing at the proxy, and NO_PROXY cleared. SIGINT, SIGTERM and SIGHUP are passed "
             "on, and run exits with the command's status, or 128 plus the signal number."),
           _("Options:\n"
             "  --confine=auto|landlock|none   Confine the command with Landlock to TCP connections to the proxy's port only "
             "(default: auto, which runs unconfined with a warning where the kernel lacks Landlock ABI 4)\n\n"
             "Every option of hostgate-proxy (see hostgate-proxy --help) works before “--”, "
             "except --auth and --token-file: run always makes its own token."));
}

static gboolean
parse_confine (const char  *text,
               Confine     *confine,
               GError     **error)
{
  if (g_str_equal (text, "auto"))
    *confine = CONFINE_AUTO;
  else if (g_str_equal (text, "landlock"))
    *confine = CONFINE_LANDLOCK;
  else if (g_str_equal (text, "none"))
    *confine = CONFINE_NONE;
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid value “%s” for --confine: use auto, landlock or none"), text);
      return FALSE;
    }

  return TRUE;
}

/* Splits `run [OPTIONS] -- COMMAND…` into the proxy's own arguments and
 * the command, and takes out `--confine`, which only `run` accepts. */
static gboolean
split_arguments (int           argc,
                 char        **argv,
                 GPtrArray    *proxy_args,
                 GStrv        *command,
                 Confine      *confine,
                 GError      **error)
{
  int i;

  g_ptr_array_add (proxy_args, g_strdup (argv[0]));

  for (i = 2; i < argc && !g_str_equal (argv[i], "--"); i++)
    {
      const char *value = NULL;

      if (g_str_equal (argv[i], "--auth") || g_str_has_prefix (argv[i], "--auth=") ||
          g_str_equal (argv[i], "--token-file") || g_str_has_prefix (argv[i], "--token-file="))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("%s cannot be used with run: run always makes its own random token and passes it to the command"),
                       argv[i]);
          return FALSE;
        }

      if (g_str_has_prefix (argv[i], "--confine="))
        value = argv[i] + strlen ("--confine=");
      else if (g_str_equal (argv[i], "--confine") && i + 1 < argc)
        value = argv[++i];
      else
        {
          g_ptr_array_add (proxy_args, g_strdup (argv[i]));
          continue;
        }

      if (!parse_confine (value, confine, error))
        return FALSE;
    }

  if (i >= argc)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           _("Missing -- before the command. Usage: hostgate-proxy run [OPTIONS] -- COMMAND [ARGUMENTS…]"));
      return FALSE;
    }

  if (i + 1 >= argc)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           _("No command given. Usage: hostgate-proxy run [OPTIONS] -- COMMAND [ARGUMENTS…]"));
      return FALSE;
    }

  *command = g_strdupv (argv + i + 1);
  g_ptr_array_add (proxy_args, NULL);
  return TRUE;
}

static HgOptions *
parse_proxy_options (GPtrArray           *proxy_args,
                     const char * const  *envp,
                     const char          *token,
                     GError             **error)
{
  g_auto(GStrv) parse_envp = g_environ_setenv (g_strdupv ((char **) envp), "HOSTGATE_PROXY_TOKEN", token, TRUE);
  g_autoptr(HgOptions) options = NULL;
  int argc = proxy_args->len - 1;
  g_autofree char **argv = NULL;
  char **parse_argv;
  GInetAddress *listen;

  /* GOption takes parsed arguments out of the vector it is given without
   * freeing them, so it gets a copy and proxy_args keeps every string. */
  argv = g_memdup2 (proxy_args->pdata, proxy_args->len * sizeof (char *));
  parse_argv = argv;
  options = hg_options_parse (&argc, &parse_argv, (const char * const *) parse_envp, error);
  if (options == NULL)
    return NULL;

  /* The program gets the token in its proxy URL; a token from a file or
   * the environment is replaced, so each run has a fresh one. */
  options->auth_required = TRUE;
  g_free (options->token);
  options->token = g_strdup (token);

  listen = g_inet_socket_address_get_address (options->listen_address);
  if (!g_inet_address_get_is_loopback (listen))
    {
      g_autofree char *listen_text = hg_socket_address_to_string (G_SOCKET_ADDRESS (options->listen_address));

      /* Translators: %s is the address given to --listen, such as 10.0.0.2:8080. */
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("run listens on a loopback address only, not on “%s”: drop --listen or give one such as 127.0.0.1:PORT"),
                   listen_text);
      return NULL;
    }

  return g_steal_pointer (&options);
}

/* Prepares the Landlock ruleset for the child in *ruleset_fd, which is -1
 * when the child runs unconfined. Fails only for --confine landlock on a
 * kernel without Landlock network rules. */
static gboolean
prepare_confinement (Confine   confine,
                     guint16   port,
                     int      *ruleset_fd,
                     GError  **error)
{
  g_autoptr(GError) local_error = NULL;

  *ruleset_fd = -1;
  if (confine == CONFINE_NONE)
    return TRUE;

  *ruleset_fd = hg_landlock_prepare_tcp_only (port, &local_error);
  if (*ruleset_fd >= 0)
    return TRUE;

  if (confine == CONFINE_LANDLOCK)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  g_printerr (_("hostgate-proxy: warning: running the command without confinement: %s\n"),
              local_error->message);
  return TRUE;
}

static GStrv
child_environment (const char * const *envp,
                   const char         *proxy_url)
{
  static const char * const proxy_variables[] = {
    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
  };
  static const char * const cleared_variables[] = {
    "NO_PROXY", "no_proxy", "HOSTGATE_PROXY_TOKEN",
  };
  GStrv env = g_strdupv ((char **) envp);

  for (guint i = 0; i < G_N_ELEMENTS (proxy_variables); i++)
    env = g_environ_setenv (env, proxy_variables[i], proxy_url, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (cleared_variables); i++)
    env = g_environ_unsetenv (env, cleared_variables[i]);

  return env;
}

/* Runs in the child between fork() and exec(), so it may only make
 * async-signal-safe calls. A child that cannot be confined must not run
 * at all. */
static void
child_setup (gpointer user_data)
{
  Run *run = user_data;
  static const char message[] = "hostgate-proxy: could not confine the command with Landlock\n";

  if (run->have_original_nofile)
    setrlimit (RLIMIT_NOFILE, &run->original_nofile);

  /* A proxy killed without a chance to forward a signal hangs up on the
   * command, as a closed terminal does: an interactive shell ignores
   * SIGTERM but not SIGHUP. A parent that died before the call leaves
   * the child to init. */
  if (prctl (PR_SET_PDEATHSIG, SIGHUP) != 0 || getppid () != run->parent)
    _exit (126);

  if (run->ruleset_fd < 0)
    return;

  if (!hg_landlock_restrict_self (run->ruleset_fd))
    {
      ssize_t ignored = write (STDERR_FILENO, message, sizeof message - 1);

      (void) ignored;
      _exit (126);
    }
}

static void
shutdown_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Run *run = user_data;

  hg_proxy_server_shutdown_finish (HG_PROXY_SERVER (source), result, NULL);
  g_main_loop_quit (run->loop);
}

static void
child_exited_cb (GPid     pid,
                 int      wait_status,
                 gpointer user_data)
{
  Run *run = user_data;

  run->child_exited = TRUE;
  g_spawn_close_pid (pid);

  if (WIFEXITED (wait_status))
    {
      run->exit_status = WEXITSTATUS (wait_status);
      g_message (_("Command exited with status %d"), run->exit_status);
    }
  else if (WIFSIGNALED (wait_status))
    {
      run->exit_status = 128 + WTERMSIG (wait_status);
      /* Translators: the first %d is a signal number, %s its description
       * from the C library and the last %d an exit status. */
      g_message (_("Command was killed by signal %d (%s); exiting with status %d"),
                 WTERMSIG (wait_status), g_strsignal (WTERMSIG (wait_status)), run->exit_status);
    }
  else
    {
      run->exit_status = EXIT_FAILURE;
      /* Translators: %d is the raw status from waitpid(). */
      g_message (_("Command stopped with wait status %d"), wait_status);
    }

  hg_proxy_server_shutdown_async (run->server, NULL, shutdown_cb, run);
}

static void
signal_handler (int        signum,
                siginfo_t *info,
                void      *context)
{
  int saved_errno = errno;
  unsigned char byte = (unsigned char) signum;
  ssize_t ignored;

  if (info != NULL && info->si_code == SI_KERNEL)
    byte |= SIGNAL_FROM_KERNEL;

  /* When the pipe is full, signals are already waiting to be forwarded. */
  ignored = write (signal_pipe[1], &byte, 1);
  (void) ignored;
  errno = saved_errno;
}

static void
forward_signal (Run      *run,
                int       signum,
                gboolean  from_kernel)
{
  if (run->child <= 0 || run->child_exited)
    return;

  /* The kernel sends a terminal's signals (Ctrl-C, hang-up) to its
   * foreground process group. A command in this process's group has had
   * its own copy, and a second one would count as a second Ctrl-C. */
  if (from_kernel && getpgid (run->child) == getpgrp ())
    return;

  kill (run->child, signum);
}

static gboolean
signal_pipe_cb (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  Run *run = user_data;
  unsigned char bytes[64];
  ssize_t count;

  while ((count = read (fd, bytes, sizeof bytes)) > 0)
    {
      for (ssize_t i = 0; i < count; i++)
        forward_signal (run, bytes[i] & ~SIGNAL_FROM_KERNEL, (bytes[i] & SIGNAL_FROM_KERNEL) != 0);
    }

  return G_SOURCE_CONTINUE;
}

/* Installs the handler for the forwarded signals. GLib's
 * g_unix_signal_add() cannot be used, because it does not say who sent a
 * signal. */
static gboolean
catch_signals (Run     *run,
               GError **error)
{
  struct sigaction action = { 0 };

  if (pipe2 (signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not create a pipe for signals: %s"), g_strerror (saved));
      return FALSE;
    }

  action.sa_sigaction = signal_handler;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset (&action.sa_mask);
  for (guint i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &action, &previous_actions[i]);

  run->signal_source = g_unix_fd_add (signal_pipe[0], G_IO_IN, signal_pipe_cb, run);
  return TRUE;
}

static void
release_signals (Run *run)
{
  for (guint i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &previous_actions[i], NULL);

  g_clear_handle_id (&run->signal_source, g_source_remove);
  close (signal_pipe[0]);
  close (signal_pipe[1]);
  signal_pipe[0] = signal_pipe[1] = -1;
}

static gboolean
spawn_command (Run                *run,
               GStrv               command,
               const char * const *envp,
               GError            **error)
{
  g_autofree char *proxy_url = NULL;
  g_auto(GStrv) child_env = NULL;
  gboolean ok;

  proxy_url = g_strdup_printf ("http://%s:%s@%s", RUN_PROXY_USER, run->token, run->address);
  child_env = child_environment (envp, proxy_url);

  run->parent = getpid ();
  ok = g_spawn_async (NULL, command, child_env,
                      G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_DO_NOT_REAP_CHILD |
                      G_SPAWN_CHILD_INHERITS_STDIN,
                      child_setup, run, &run->child, error);

  if (run->ruleset_fd >= 0)
    close (run->ruleset_fd);
  run->ruleset_fd = -1;

  if (!ok)
    g_prefix_error (error, _("Could not run “%s”: "), command[0]);
  return ok;
}

/* Joins the command line for the agent's prompts, quoting the arguments
 * that a shell would split or expand. */
static char *
format_command_line (GStrv command)
{
  GString *line = g_string_new (NULL);

  for (guint i = 0; command[i] != NULL; i++)
    {
      const char *argument = command[i];
      gboolean plain = *argument != '\0';

      for (const char *c = argument; *c != '\0' && plain; c++)
        plain = g_ascii_isalnum (*c) || strchr ("-_./:=,+@%", *c) != NULL;

      if (i > 0)
        g_string_append_c (line, ' ');
      if (plain)
        g_string_append (line, argument);
      else
        {
          g_autofree char *quoted = g_shell_quote (argument);
          g_string_append (line, quoted);
        }
    }

  return g_string_free (line, FALSE);
}

/* Connects the proxy to the desktop agent, which prompts about hosts on
 * neither list, and tells the agent which command this proxy serves. */
static HgAgentClient *
start_agent_client (HgProxyServer *server,
                    GStrv          command,
                    GPid           child)
{
  HgAgentClient *agent = hg_agent_client_new (server);
  g_autofree char *command_line = format_command_line (command);

  hg_proxy_server_set_approver (server, HG_APPROVER (agent));
  hg_agent_client_set_command (agent, command_line);
  hg_agent_client_set_pid (agent, child);
  hg_agent_client_start (agent);

  return agent;
}

/**
 * hg_run_main:
 * @argv: the whole command line, with `run` as argv[1]
 *
 * Starts a proxy on 127.0.0.1 (or the loopback address given with
 * `--listen`) with a random port and token, and runs the command after
 * `--` with the proxy variables pointing at it. Where the
 * kernel allows, Landlock confines the command to TCP connections to the
 * proxy's port. SIGINT, SIGTERM and SIGHUP are forwarded to the command,
 * except those the terminal sent to a process group that contains the
 * command too.
 *
 * Returns: the command's exit status, or 128 plus the signal number when
 *   a signal killed it
 */
int
hg_run_main (int                  argc,
             char               **argv,
             const char * const  *envp)
{
  g_autoptr(GPtrArray) proxy_args = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) command = NULL;
  g_autoptr(HgOptions) options = NULL;
  g_autoptr(HgProxyServer) server = NULL;
  g_autoptr(HgAgentClient) agent = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *address = NULL;
  Confine confine = CONFINE_AUTO;
  gboolean confined;
  Run run = { .ruleset_fd = -1 };
  guint16 port;

  for (int i = 2; i < argc && !g_str_equal (argv[i], "--"); i++)
    {
      if (g_str_equal (argv[i], "--help") || g_str_equal (argv[i], "-h"))
        {
          print_run_help ();
          return EXIT_SUCCESS;
        }

      if (g_str_equal (argv[i], "--version"))
        {
          g_print ("hostgate-proxy %s\n", PACKAGE_VERSION);
          return EXIT_SUCCESS;
        }
    }

  if (!split_arguments (argc, argv, proxy_args, &command, &confine, &error) ||
      (token = generate_token (&error)) == NULL ||
      (options = parse_proxy_options (proxy_args, envp, token, &error)) == NULL)
    goto fail;

  if (options->label == NULL)
    options->label = g_path_get_basename (command[0]);

  run.have_original_nofile = getrlimit (RLIMIT_NOFILE, &run.original_nofile) == 0;

  server = hg_proxy_server_new (options, &error);
  if (server == NULL || !hg_proxy_server_start (server, &error))
    goto fail;

  port = g_inet_socket_address_get_port (hg_proxy_server_get_address (server));
  address = hg_socket_address_to_string (G_SOCKET_ADDRESS (hg_proxy_server_get_address (server)));
  if (options->port_file != NULL && !hg_write_port_file (options->port_file, address, &error))
    goto fail;

  if (!prepare_confinement (confine, port, &run.ruleset_fd, &error))
    goto fail;
  confined = run.ruleset_fd >= 0;

  loop = g_main_loop_new (NULL, FALSE);
  run.loop = loop;
  run.server = server;
  run.token = token;
  run.address = address;

  /* Catch the signals before the command starts, so that one sent right
   * after it starts is forwarded instead of ending this process and
   * leaving the command without its proxy. */
  if (!catch_signals (&run, &error))
    goto fail;

  if (!spawn_command (&run, command, envp, &error))
    {
      release_signals (&run);
      if (run.ruleset_fd >= 0)
        close (run.ruleset_fd);
      /* Translators: %s is an error message. */
      g_printerr (_("hostgate-proxy run: %s\n"), error->message);

      /* As a shell does: 127 when the command was not found, else 126. */
      return g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT) ? 127 : 126;
    }

  if (confined)
    /* Translators: the first %s is the command, %d its process id, the
     * second %s the proxy's address and port, and %u the proxy's port. */
    g_message (_("Running “%s” (pid %d) behind the proxy on %s, confined by Landlock to TCP connections to port %u"),
               command[0], run.child, address, port);
  else
    /* Translators: the first %s is the command, %d its process id and the
     * second %s the proxy's address and port. */
    g_message (_("Running “%s” (pid %d) behind the proxy on %s, not confined"),
               command[0], run.child, address);

  /* No request is served before the main loop runs, so the agent is in
   * place before the command's first request. */
  if (options->settings.approval_mode == HG_APPROVAL_ASK)
    agent = start_agent_client (server, command, run.child);

  g_child_watch_add (run.child, child_exited_cb, &run);
  g_main_loop_run (loop);
  release_signals (&run);
  if (agent != NULL)
    hg_agent_client_stop (agent);

  return run.exit_status;

fail:
  if (run.ruleset_fd >= 0)
    close (run.ruleset_fd);
  /* Translators: %s is an error message. */
  g_printerr (_("hostgate-proxy run: %s\n"), error->message);
  return EXIT_FAILURE;
}
