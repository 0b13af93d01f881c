/* hg-application.c: the hostgate-agent application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent runs without a window: it holds the application, listens
 * for proxies, and opens the prompt window only while prompts wait.
 * Prompts are shown one at a time, oldest first, in a single window.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>

#include "hg-agent-session.h"
#include "hg-application.h"
#include "hg-prompt-window.h"
#include "hg-settings-window.h"
#include "hg-tray.h"

struct _HgApplication
{
  GtkApplication parent_instance;

  char *socket_path;
  HgProfileStore *store;
  HgAgentServer *server;
  gboolean held;
  int exit_status;

  /* Prompts waiting for the person, oldest first; the head is shown. */
  GQueue prompts;
  HgPromptWindow *window;
  HgTray *tray;

  guint sigterm_id;
  guint sigint_id;
  guint sighup_id;

  /* Whether the agent's own start has been activated already. */
  gboolean activated;
};

G_DEFINE_FINAL_TYPE (HgApplication, hg_application, GTK_TYPE_APPLICATION)

typedef struct {
  HgApplication *app;
  char *profile;
  char *entries;
} WriteData;

static void
write_data_free (WriteData *data)
{
  g_object_unref (data->app);
  g_free (data->profile);
  g_free (data->entries);
  g_free (data);
}

static void
error_window_close_cb (GtkButton *button,
                       gpointer   user_data)
{
  gtk_window_destroy (GTK_WINDOW (user_data));
}

/* Shows an error the person must see, in a small window of its own. */
static void
show_error (HgApplication *app,
            const char    *title,
            const char    *text)
{
  GtkWidget *window = gtk_window_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget *label = gtk_label_new (text);
  GtkWidget *button = gtk_button_new_with_mnemonic (_("_Close"));
  GtkEventController *shortcuts = gtk_shortcut_controller_new ();

  gtk_window_set_title (GTK_WINDOW (window), title);
  gtk_window_set_application (GTK_WINDOW (window), GTK_APPLICATION (app));
  /* Window managers keep a transient window above its parent, so the
   * next prompt cannot hide the error. */
  if (app->window != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (window), GTK_WINDOW (app->window));
  gtk_window_set_resizable (GTK_WINDOW (window), FALSE);
  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_widget_set_margin_start (box, 18);
  gtk_widget_set_margin_end (box, 18);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 60);
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  gtk_widget_set_halign (button, GTK_ALIGN_END);
  g_signal_connect_object (button, "clicked", G_CALLBACK (error_window_close_cb), window, 0);

  /* Escape and Return close the window, as in the other dialogs. With
   * the focus on the button, the label's text is not selected either. */
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                        gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Escape, 0),
                                                          gtk_named_action_new ("window.close")));
  gtk_widget_add_controller (window, shortcuts);

  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), button);
  gtk_window_set_child (GTK_WINDOW (window), box);
  gtk_window_set_default_widget (GTK_WINDOW (window), button);
  gtk_window_set_focus (GTK_WINDOW (window), button);
  gtk_window_present (GTK_WINDOW (window));
}

static void answered_cb (HgPromptWindow *window,
                         HgPrompt       *prompt,
                         guint           verdict,
                         guint           duration,
                         gboolean        whole_domain,
                         gpointer        user_data);

static void
update_window (HgApplication *app)
{
  HgPrompt *head = g_queue_peek_head (&app->prompts);
  gboolean is_new;

  if (head == NULL)
    {
      if (app->window != NULL)
        gtk_window_destroy (GTK_WINDOW (app->window));
      return;
    }

  is_new = app->window == NULL || hg_prompt_window_get_prompt (app->window) != head;
  if (app->window == NULL)
    {
      app->window = hg_prompt_window_new (GTK_APPLICATION (app));
      g_object_add_weak_pointer (G_OBJECT (app->window), (gpointer *) &app->window);
      g_signal_connect_object (app->window, "answered", G_CALLBACK (answered_cb), app, 0);
    }

  hg_prompt_window_set_prompt (app->window, head, g_queue_get_length (&app->prompts) - 1);
  if (is_new)
    {
      HgAgentSession *session = hg_prompt_get_session (head);

      if (session != NULL)
        /* Translators: the first %s is the prompt id, the second the
         * session id, and %s:%u the requested host and port. */
        g_message (_("Showing prompt %s of session %s: %s:%u"), hg_prompt_get_id (head),
                   hg_agent_session_get_info (session)->id,
                   hg_prompt_get_host (head), hg_prompt_get_port (head));
      else
        /* Translators: %s is the prompt id, and %s:%u the requested host
         * and port. The session has closed. */
        g_message (_("Showing prompt %s of session (gone): %s:%u"), hg_prompt_get_id (head),
                   hg_prompt_get_host (head), hg_prompt_get_port (head));
      gtk_window_present (GTK_WINDOW (app->window));
    }
}

static void
remove_prompt (HgApplication *app,
               HgPrompt      *prompt)
{
  if (g_queue_remove (&app->prompts, prompt))
    g_object_unref (prompt);
  if (app->tray != NULL)
    hg_tray_remove_prompt (app->tray, prompt);
}

static void
report_unsaved (WriteData    *data,
                const GError *error)
{
  g_autofree char *text = g_strdup_printf (_("The answer for %s could not be saved to the profile “%s”. It still applies to this sandbox until its proxy exits.\n\n%s"),
                                           data->entries, data->profile, error->message);

  /* Translators: the first %s is a comma-separated list of host
   * patterns, the second the profile name and the last an error
   * message. */
  g_warning (_("Could not save %s to profile “%s”: %s"), data->entries, data->profile,
             error->message);
  show_error (data->app, _("Could not save the answer"), text);
}

static void
write_done_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  WriteData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error))
    {
      /* Translators: the first %s is a comma-separated list of host
       * patterns, the second the profile name. */
      g_message (_("Saved %s to profile “%s”"), data->entries, data->profile);
    }
  else
    {
      report_unsaved (data, error);
    }

  write_data_free (data);
}

/* Writes an Always answer to the session's profile, or reports
 * @profile_error, the reason the profile cannot take it, when set. */
static void
save_answer (HgApplication     *app,
             HgAgentSession    *session,
             HgPrompt          *prompt,
             HgDecisionVerdict  verdict,
             gboolean           whole_domain,
             const GError      *profile_error)
{
  g_auto(GStrv) entries = hg_prompt_dup_entries (prompt, whole_domain);
  WriteData *data = g_new0 (WriteData, 1);

  data->app = g_object_ref (app);
  data->profile = g_strdup (hg_agent_session_get_profile (session));
  data->entries = g_strjoinv (", ", entries);

  if (profile_error != NULL)
    {
      report_unsaved (data, profile_error);
      write_data_free (data);
      return;
    }

  hg_profile_store_add_entries_async (app->store, data->profile,
                                      verdict == HG_DECISION_APPROVE ? HG_PROFILE_LIST_ALLOW
                                                                     : HG_PROFILE_LIST_DENY,
                                      (const char * const *) entries, NULL, write_done_cb, data);
}

static void
answered_cb (HgPromptWindow *window,
             HgPrompt       *prompt,
             guint           verdict,
             guint           duration,
             gboolean        whole_domain,
             gpointer        user_data)
{
  HgApplication *app = user_data;
  HgAgentSession *session = hg_prompt_get_session (prompt);
  g_autofree char *pattern = hg_prompt_dup_pattern (prompt, whole_domain);
  g_autoptr(HgPrompt) self = g_object_ref (prompt);
  const GError *profile_error = NULL;

  remove_prompt (app, prompt);

  if (session != NULL && duration == HG_DECISION_ALWAYS)
    profile_error = hg_agent_server_get_profile_error (app->server, hg_agent_session_get_profile (session));

  /* An Always answer that the profile cannot take lasts as long as a
   * Session answer, so the proxy's reason and audit record give that. */
  if (session != NULL)
    hg_agent_session_answer (session, prompt, verdict,
                             profile_error != NULL ? HG_DECISION_SESSION : duration, pattern);

  /* The next prompt first, so that an error about this answer opens
   * over it. */
  update_window (app);

  if (session != NULL && duration == HG_DECISION_ALWAYS)
    save_answer (app, session, prompt, verdict, whole_domain, profile_error);
}

static void
prompt_added_cb (HgAgentSession *session,
                 HgPrompt       *prompt,
                 gpointer        user_data)
{
  HgApplication *app = user_data;

  if (app->tray != NULL && hg_tray_deny_if_paused (app->tray, prompt))
    return;

  g_queue_push_tail (&app->prompts, g_object_ref (prompt));
  if (app->tray != NULL)
    hg_tray_add_prompt (app->tray, prompt);
  update_window (app);
}

static void
prompt_withdrawn_cb (HgAgentSession *session,
                     HgPrompt       *prompt,
                     gpointer        user_data)
{
  HgApplication *app = user_data;

  remove_prompt (app, prompt);
  update_window (app);
}

static void
session_added_cb (HgAgentServer  *server,
                  HgAgentSession *session,
                  gpointer        user_data)
{
  HgApplication *app = user_data;

  g_signal_connect_object (session, "prompt-added", G_CALLBACK (prompt_added_cb), app, 0);
  g_signal_connect_object (session, "prompt-withdrawn", G_CALLBACK (prompt_withdrawn_cb), app, 0);
}

/* Brings up the prompt the person picked in the tray menu or in a
 * notification. The window shows the head of the queue, so the prompt
 * moves there. */
static void
tray_show_prompt_cb (HgTray   *tray,
                     HgPrompt *prompt,
                     gpointer  user_data)
{
  HgApplication *app = user_data;
  GList *link = g_queue_find (&app->prompts, prompt);

  if (link == NULL)
    return;

  g_queue_unlink (&app->prompts, link);
  g_queue_push_head_link (&app->prompts, link);
  update_window (app);
  gtk_window_present (GTK_WINDOW (app->window));
}

static void
settings_activated_cb (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  hg_settings_window_present (HG_APPLICATION (user_data));
}

/* The tray's Quit and `gapplication action … quit`, which is the way
 * to stop the agent on a desktop without a tray. */
static void
quit_requested (HgApplication *app)
{
  g_message (_("Stopping on request"));
  g_application_quit (G_APPLICATION (app));
}

static void
quit_activated_cb (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  quit_requested (HG_APPLICATION (user_data));
}

static const GActionEntry app_actions[] = {
  { .name = "settings", .activate = settings_activated_cb },
  { .name = "quit", .activate = quit_activated_cb },
};

static gboolean
quit_signal_cb (gpointer user_data)
{
  g_message (_("Stopping on a termination signal"));
  g_application_quit (G_APPLICATION (user_data));
  return G_SOURCE_CONTINUE;
}

static void
hg_application_startup (GApplication *application)
{
  HgApplication *app = HG_APPLICATION (application);
  g_autoptr(GError) error = NULL;

  G_APPLICATION_CLASS (hg_application_parent_class)->startup (application);

  app->sigterm_id = g_unix_signal_add (SIGTERM, quit_signal_cb, app);
  app->sigint_id = g_unix_signal_add (SIGINT, quit_signal_cb, app);
  /* The end of the session may come as SIGHUP, whose default action
   * would leave the socket behind. */
  app->sighup_id = g_unix_signal_add (SIGHUP, quit_signal_cb, app);

  if (app->socket_path == NULL)
    app->socket_path = hg_agent_server_default_socket_path ();

  app->store = hg_profile_store_new (NULL);
  app->server = hg_agent_server_new (app->socket_path, app->store);
  g_signal_connect_object (app->server, "session-added", G_CALLBACK (session_added_cb), app, 0);
  /* Connected after the server's own handler, which marks the sessions
   * whose profile became unreadable, so the prompt shown learns it. */
  g_signal_connect_object (app->store, "changed", G_CALLBACK (update_window), app,
                           G_CONNECT_SWAPPED);

  if (!hg_agent_server_start (app->server, &error))
    {
      /* Translators: %s is an error message. */
      g_printerr (_("hostgate-agent: %s\n"), error->message);
      app->exit_status = 1;
      g_application_quit (application);
      return;
    }

  /* Translators: %s is the path of the profile folder. */
  g_message (_("Profiles are in %s"), hg_profile_store_get_directory (app->store));

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions), app);

  app->tray = hg_tray_new (application, g_application_get_dbus_connection (application));
  hg_tray_bind_settings (app->tray);
  g_signal_connect_object (app->tray, "show-prompt", G_CALLBACK (tray_show_prompt_cb), app, 0);
  g_signal_connect_swapped (app->tray, "settings", G_CALLBACK (hg_settings_window_present), app);
  g_signal_connect_swapped (app->tray, "quit", G_CALLBACK (quit_requested), app);

  /* No window at login: the agent waits for proxies in the background. */
  g_application_hold (application);
  app->held = TRUE;
}

static void
hg_application_shutdown (GApplication *application)
{
  HgApplication *app = HG_APPLICATION (application);
  HgPrompt *prompt;

  g_clear_handle_id (&app->sigterm_id, g_source_remove);
  g_clear_handle_id (&app->sigint_id, g_source_remove);
  g_clear_handle_id (&app->sighup_id, g_source_remove);

  if (app->server != NULL)
    hg_agent_server_stop (app->server);

  while ((prompt = g_queue_pop_head (&app->prompts)) != NULL)
    g_object_unref (prompt);
  if (app->window != NULL)
    gtk_window_destroy (GTK_WINDOW (app->window));
  g_clear_object (&app->tray);

  if (app->held)
    g_application_release (application);
  app->held = FALSE;

  G_APPLICATION_CLASS (hg_application_parent_class)->shutdown (application);
}

static void
hg_application_activate (GApplication *application)
{
  HgApplication *app = HG_APPLICATION (application);

  gboolean own_start = !app->activated &&
                       !(g_application_get_flags (application) & G_APPLICATION_IS_SERVICE);

  app->activated = TRUE;

  /* Launching the agent again brings a waiting prompt to the front, or
   * Settings when nothing waits, so a click on the launcher always shows
   * something. Its own first start stays in the background. */
  if (app->window != NULL)
    gtk_window_present (GTK_WINDOW (app->window));
  else if (!own_start)
    hg_settings_window_present (app);
}

static int
hg_application_handle_local_options (GApplication *application,
                                     GVariantDict *options)
{
  HgApplication *app = HG_APPLICATION (application);
  const char *socket_path = NULL;
  g_autofree const char **arguments = NULL;

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("hostgate-agent %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (g_variant_dict_lookup (options, G_OPTION_REMAINING, "^a&ay", &arguments)
      && arguments[0] != NULL)
    {
      g_autofree char *display_name = g_filename_display_name (arguments[0]);

      /* Translators: %s is the first word on the command line that is not an option. */
      g_printerr (_("hostgate-agent: unexpected argument “%s”: the agent takes only options (see --help)\n"),
                  display_name);
      return EXIT_FAILURE;
    }

  if (g_variant_dict_lookup (options, "socket", "^&ay", &socket_path))
    {
      if (socket_path[0] == '\0')
        {
          g_printerr (_("hostgate-agent: --socket is empty: give the path of the socket\n"));
          return EXIT_FAILURE;
        }

      g_free (app->socket_path);
      app->socket_path = g_strdup (socket_path);
    }

  return -1;
}

static void
hg_application_dispose (GObject *object)
{
  HgApplication *app = HG_APPLICATION (object);

  g_clear_object (&app->server);
  g_clear_object (&app->store);

  G_OBJECT_CLASS (hg_application_parent_class)->dispose (object);
}

static void
hg_application_finalize (GObject *object)
{
  HgApplication *app = HG_APPLICATION (object);

  g_free (app->socket_path);

  G_OBJECT_CLASS (hg_application_parent_class)->finalize (object);
}

static void
hg_application_class_init (HgApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *application_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = hg_application_dispose;
  object_class->finalize = hg_application_finalize;
  application_class->startup = hg_application_startup;
  application_class->shutdown = hg_application_shutdown;
  application_class->activate = hg_application_activate;
  application_class->handle_local_options = hg_application_handle_local_options;
}

static const GOptionEntry option_entries[] = {
  { "socket", 0, 0, G_OPTION_ARG_FILENAME, NULL,
    N_("Listen on the Unix socket PATH instead of $XDG_RUNTIME_DIR/hostgate/agent.sock"),
    N_("PATH") },
  { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
  /* Collects the words that are not options, so that they are rejected.
   * GApplication would take them for files to open, which the agent cannot. */
  { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL, NULL, NULL },
  { NULL },
};

static void
hg_application_init (HgApplication *app)
{
  g_queue_init (&app->prompts);
  g_application_add_main_option_entries (G_APPLICATION (app), option_entries);
}

/**
 * hg_application_new:
 * @flags: %G_APPLICATION_DEFAULT_FLAGS, or %G_APPLICATION_NON_UNIQUE
 *   when no session bus is available
 *
 * Creates the agent application, `io.github.hostgate.Agent`.
 *
 * Returns: (transfer full): the application
 */
HgApplication *
hg_application_new (GApplicationFlags flags)
{
  return g_object_new (HG_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", flags,
                       NULL);
}

/**
 * hg_application_get_server:
 *
 * Returns: (transfer none) (nullable): the socket server, once started
 */
HgAgentServer *
hg_application_get_server (HgApplication *app)
{
  g_return_val_if_fail (HG_IS_APPLICATION (app), NULL);

  return app->server;
}

/**
 * hg_application_get_store:
 *
 * Returns: (transfer none) (nullable): the profile store, once started
 */
HgProfileStore *
hg_application_get_store (HgApplication *app)
{
  g_return_val_if_fail (HG_IS_APPLICATION (app), NULL);

  return app->store;
}

/**
 * hg_application_get_exit_status:
 *
 * Returns: 1 when the agent could not start listening, else 0
 */
int
hg_application_get_exit_status (HgApplication *app)
{
  g_return_val_if_fail (HG_IS_APPLICATION (app), 1);

  return app->exit_status;
}
