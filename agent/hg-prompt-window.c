/* hg-prompt-window.c: the window that asks the person about a host
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Approve and Deny are actions of a group private to the window. They
 * are deliberately not application actions: GtkApplication exports
 * those on the session bus, where a sandboxed program could call them
 * to approve its own request.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "hg-agent-session.h"
#include "hg-resources.h"
#include "hg-prompt-window.h"

enum {
  DURATION_ONCE,
  DURATION_SESSION,
  DURATION_ALWAYS,
};

struct _HgPromptWindow
{
  GtkWindow parent_instance;

  GtkLabel *session_label;
  GtkLabel *host_label;
  GtkLabel *kind_label;
  GtkLabel *profile_error_label;
  GtkCheckButton *domain_check;
  GtkDropDown *duration_dropdown;
  GtkLabel *duration_hint_label;
  GtkLabel *countdown_label;
  GtkLabel *more_label;

  GSimpleActionGroup *actions;
  HgPrompt *prompt;
  gboolean guarded;
  guint guard_id;
  guint tick_id;
};

G_DEFINE_FINAL_TYPE (HgPromptWindow, hg_prompt_window, GTK_TYPE_WINDOW)

enum {
  ANSWERED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
set_guarded (HgPromptWindow *window,
             gboolean        guarded)
{
  const char *names[] = { "approve", "deny", "dismiss" };

  window->guarded = guarded;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      GAction *action = g_action_map_lookup_action (G_ACTION_MAP (window->actions), names[i]);

      g_simple_action_set_enabled (G_SIMPLE_ACTION (action), !guarded);
    }

  gtk_widget_set_sensitive (GTK_WIDGET (window->duration_dropdown), !guarded);
  gtk_widget_set_sensitive (GTK_WIDGET (window->domain_check), !guarded);
}

static gboolean
guard_done_cb (gpointer user_data)
{
  HgPromptWindow *window = user_data;

  window->guard_id = 0;
  set_guarded (window, FALSE);
  return G_SOURCE_REMOVE;
}

static void
update_countdown (HgPromptWindow *window)
{
  g_autofree char *text = NULL;
  gint64 seconds;

  if (window->prompt == NULL)
    return;

  seconds = (hg_prompt_get_remaining_ms (window->prompt) + 999) / 1000;
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "Denied once automatically in %d second",
                                       "Denied once automatically in %d seconds",
                                       (gulong) seconds),
                          (int) seconds);
  gtk_label_set_text (window->countdown_label, text);
}

static gboolean
tick_cb (gpointer user_data)
{
  update_countdown (HG_PROMPT_WINDOW (user_data));
  return G_SOURCE_CONTINUE;
}

static void
update_duration_hint (HgPromptWindow *window)
{
  const char *hint;

  switch (gtk_drop_down_get_selected (window->duration_dropdown))
    {
    case DURATION_SESSION:
      hint = _("Applies to this sandbox until its proxy exits.");
      break;
    case DURATION_ALWAYS:
      if (gtk_widget_get_visible (GTK_WIDGET (window->profile_error_label)))
        hint = _("Not saved, as the profile cannot be read: applies to this sandbox until its proxy exits.");
      else
        hint = _("Saved in the profile and applied to every sandbox that uses it.");
      break;
    case DURATION_ONCE:
    default:
      hint = _("Applies only to the requests waiting now.");
      break;
    }

  gtk_label_set_text (window->duration_hint_label, hint);
}

static void
duration_selected_cb (GObject    *object,
                      GParamSpec *pspec,
                      gpointer    user_data)
{
  update_duration_hint (HG_PROMPT_WINDOW (user_data));
}

static void
answer (HgPromptWindow    *window,
        HgDecisionVerdict  verdict,
        gboolean           dismissed)
{
  g_autoptr(HgPrompt) prompt = NULL;
  HgDecisionDuration duration = HG_DECISION_ONCE;
  gboolean whole_domain = FALSE;

  if (window->prompt == NULL)
    return;

  if (!dismissed)
    {
      switch (gtk_drop_down_get_selected (window->duration_dropdown))
        {
        case DURATION_SESSION:
          duration = HG_DECISION_SESSION;
          break;
        case DURATION_ALWAYS:
          duration = HG_DECISION_ALWAYS;
          break;
        default:
          duration = HG_DECISION_ONCE;
          break;
        }
      whole_domain = gtk_widget_get_visible (GTK_WIDGET (window->domain_check)) &&
                     gtk_check_button_get_active (window->domain_check);
    }

  /* The handler usually moves the window on to the next prompt. */
  prompt = g_object_ref (window->prompt);
  g_signal_emit (window, signals[ANSWERED], 0, prompt, (guint) verdict, (guint) duration,
                 whole_domain);
}

static void
approve_activated_cb (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  answer (HG_PROMPT_WINDOW (user_data), HG_DECISION_APPROVE, FALSE);
}

static void
deny_activated_cb (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  answer (HG_PROMPT_WINDOW (user_data), HG_DECISION_DENY, FALSE);
}

static void
dismiss_activated_cb (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  answer (HG_PROMPT_WINDOW (user_data), HG_DECISION_DENY, TRUE);
}

/* Closing the window denies the prompt once, like Escape. While the
 * guard is up the close is ignored, as Alt+F4 is a keystroke too. */
static gboolean
hg_prompt_window_close_request (GtkWindow *gtk_window)
{
  HgPromptWindow *window = HG_PROMPT_WINDOW (gtk_window);

  if (window->prompt == NULL)
    return FALSE;

  if (!window->guarded)
    answer (window, HG_DECISION_DENY, TRUE);

  return TRUE;
}

/* The guard runs from the moment the window is on screen, so a window
 * that takes long to map still gets its full second. */
static void
start_guard_timer (HgPromptWindow *window)
{
  g_clear_handle_id (&window->guard_id, g_source_remove);
  window->guard_id = g_timeout_add (HG_PROMPT_GUARD_MS, guard_done_cb, window);
}

static void
hg_prompt_window_map (GtkWidget *widget)
{
  HgPromptWindow *window = HG_PROMPT_WINDOW (widget);

  GTK_WIDGET_CLASS (hg_prompt_window_parent_class)->map (widget);

  if (window->guarded && window->guard_id == 0)
    start_guard_timer (window);
}

static void
hg_prompt_window_dispose (GObject *object)
{
  HgPromptWindow *window = HG_PROMPT_WINDOW (object);

  g_clear_handle_id (&window->guard_id, g_source_remove);
  g_clear_handle_id (&window->tick_id, g_source_remove);
  g_clear_object (&window->prompt);
  g_clear_object (&window->actions);

  gtk_widget_dispose_template (GTK_WIDGET (window), HG_TYPE_PROMPT_WINDOW);

  G_OBJECT_CLASS (hg_prompt_window_parent_class)->dispose (object);
}

static void
hg_prompt_window_class_init (HgPromptWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = hg_prompt_window_dispose;
  widget_class->map = hg_prompt_window_map;
  window_class->close_request = hg_prompt_window_close_request;

  hg_agent_ensure_resources ();
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/hostgate/Agent/hg-prompt-window.ui");
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, session_label);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, host_label);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, kind_label);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, profile_error_label);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, domain_check);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, duration_dropdown);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, duration_hint_label);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, countdown_label);
  gtk_widget_class_bind_template_child (widget_class, HgPromptWindow, more_label);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "prompt.dismiss", NULL);

  /**
   * HgPromptWindow::answered:
   * @prompt: the prompt shown
   * @verdict: an #HgDecisionVerdict
   * @duration: an #HgDecisionDuration
   * @whole_domain: whether the answer covers the registrable domain
   *
   * Emitted when the person answers, closes the window or presses
   * Escape; the last two are a deny once.
   */
  signals[ANSWERED] =
    g_signal_new ("answered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                  HG_TYPE_PROMPT, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_BOOLEAN);
}

static const GActionEntry action_entries[] = {
  { .name = "approve", .activate = approve_activated_cb },
  { .name = "deny", .activate = deny_activated_cb },
  { .name = "dismiss", .activate = dismiss_activated_cb },
};

static void
hg_prompt_window_init (HgPromptWindow *window)
{
  gtk_widget_init_template (GTK_WIDGET (window));

  window->actions = g_simple_action_group_new ();
  g_action_map_add_action_entries (G_ACTION_MAP (window->actions), action_entries,
                                   G_N_ELEMENTS (action_entries), window);
  gtk_widget_insert_action_group (GTK_WIDGET (window), "prompt", G_ACTION_GROUP (window->actions));

  g_signal_connect_object (window->duration_dropdown, "notify::selected",
                           G_CALLBACK (duration_selected_cb), window, 0);
  update_duration_hint (window);
}

/**
 * hg_prompt_window_new:
 *
 * Creates the prompt window. It is a plain #GtkWindow, so none of its
 * actions are exported on the session bus.
 *
 * Returns: (transfer full): the window
 */
HgPromptWindow *
hg_prompt_window_new (GtkApplication *application)
{
  return g_object_new (HG_TYPE_PROMPT_WINDOW, "application", application, NULL);
}

static void
show_session (HgPromptWindow *window,
              HgAgentSession *session)
{
  const HgSessionInfo *info = session != NULL ? hg_agent_session_get_info (session) : NULL;
  const GError *profile_error = session != NULL ? hg_agent_session_get_profile_error (session) : NULL;
  g_autofree char *session_text = NULL;

  if (info == NULL)
    session_text = g_strdup (_("The proxy that asked has disconnected."));
  else if (info->command != NULL && info->command[0] != '\0')
    /* Under `hostgate-proxy run` the pid is the command's. */
    session_text = g_strdup_printf (_("Profile “%s”, command “%s” (process %d)"),
                                    info->profile, info->command, info->pid);
  else
    session_text = g_strdup_printf (_("Profile “%s”, proxy process %d"), info->profile, info->pid);
  gtk_label_set_text (window->session_label, session_text);

  gtk_widget_set_visible (GTK_WIDGET (window->profile_error_label), profile_error != NULL);
  if (profile_error != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("The profile cannot be read, so an Always answer cannot be saved: %s"),
                                               profile_error->message);
      gtk_label_set_text (window->profile_error_label, text);
    }
  update_duration_hint (window);
}

static void
show_target (HgPromptWindow *window,
             HgPrompt       *prompt)
{
  HgAgentSession *session = hg_prompt_get_session (prompt);
  const char *registrable = hg_prompt_get_registrable_domain (prompt);
  g_autofree char *host_text = NULL;
  g_autofree char *target = hg_prompt_dup_target_text (prompt);

  /* Translators: the first %s is the sandbox's label, the second the
   * host and port it wants to reach. */
  host_text = g_strdup_printf (_("“%s” wants to connect to %s"),
                               session != NULL ? hg_agent_session_get_label (session) : "",
                               target);
  gtk_label_set_text (window->host_label, host_text);
  gtk_label_set_text (window->kind_label,
                      hg_prompt_get_kind (prompt) == HG_ASK_KIND_HTTP
                        ? _("A plain HTTP request, which the proxy can read.")
                        : _("A CONNECT tunnel, such as HTTPS: the proxy sees only the host and port."));

  gtk_widget_set_visible (GTK_WIDGET (window->domain_check), registrable != NULL);
  gtk_check_button_set_active (window->domain_check, FALSE);
  if (registrable != NULL)
    {
      g_autofree char *check_text = g_strdup_printf (_("_Include all of %s and its subdomains"),
                                                     registrable);
      gtk_check_button_set_label (window->domain_check, check_text);
    }
}

/**
 * hg_prompt_window_set_prompt:
 * @prompt: the oldest waiting prompt
 * @n_more: how many more prompts wait behind it
 *
 * Shows @prompt. A prompt that was not shown before resets the choices
 * to Once and the exact host, and raises the input guard for
 * %HG_PROMPT_GUARD_MS milliseconds from the moment the window is mapped.
 */
void
hg_prompt_window_set_prompt (HgPromptWindow *window,
                             HgPrompt       *prompt,
                             guint           n_more)
{
  g_return_if_fail (HG_IS_PROMPT_WINDOW (window));
  g_return_if_fail (HG_IS_PROMPT (prompt));

  gtk_widget_set_visible (GTK_WIDGET (window->more_label), n_more > 0);
  if (n_more > 0)
    {
      g_autofree char *more_text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                                 "%u more request waiting",
                                                                 "%u more requests waiting",
                                                                 n_more),
                                                    n_more);
      gtk_label_set_text (window->more_label, more_text);
    }

  /* The same prompt again: its profile may have become unreadable, or
   * readable again, which the window must show before an answer. */
  if (window->prompt == prompt)
    {
      show_session (window, hg_prompt_get_session (prompt));
      return;
    }

  g_set_object (&window->prompt, prompt);
  show_session (window, hg_prompt_get_session (prompt));
  show_target (window, prompt);
  gtk_drop_down_set_selected (window->duration_dropdown, DURATION_ONCE);

  set_guarded (window, TRUE);
  g_clear_handle_id (&window->guard_id, g_source_remove);
  if (gtk_widget_get_mapped (GTK_WIDGET (window)))
    start_guard_timer (window);

  update_countdown (window);
  if (window->tick_id == 0)
    window->tick_id = g_timeout_add_seconds (1, tick_cb, window);
}

/**
 * hg_prompt_window_get_prompt:
 *
 * Returns: (transfer none) (nullable): the prompt shown
 */
HgPrompt *
hg_prompt_window_get_prompt (HgPromptWindow *window)
{
  g_return_val_if_fail (HG_IS_PROMPT_WINDOW (window), NULL);

  return window->prompt;
}
