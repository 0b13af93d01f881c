/* hg-settings-window.c: profiles, sessions and history of the agent
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every change to a profile goes through the profile store, which writes
 * the file and emits "changed". The window then reads the profile again
 * and shows what is on disk. The same signal reaches the agent server,
 * which pushes the new filter to the proxies of that profile, so an edit
 * here takes effect in running sandboxes without a restart.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "hg-agent-session.h"
#include "hg-history-entry.h"
#include "hg-pattern-list.h"
#include "hg-resources.h"
#include "hg-settings-window.h"

#define DEFAULT_PROFILE_RESOURCE "/io/github/hostgate/protocol/profiles/default.json"

/* How often the sessions page reads the session list again while the
 * window is shown: a session's `hello` and its prompt count change
 * without a signal. */
#define SESSIONS_REFRESH_SECONDS 2

struct _HgSettingsWindow
{
  GtkWindow parent_instance;

  GtkInfoBar *info_bar;
  gboolean load_error_shown;  /* the info bar shows that the profile cannot be read */
  GtkLabel *info_label;
  GtkStack *stack;
  GtkDropDown *profile_dropdown;
  GtkMenuButton *new_button;
  GtkPopover *new_popover;
  GtkEntry *new_name_entry;
  GtkButton *create_button;
  GtkLabel *new_name_error;
  GtkMenuButton *rename_button;
  GtkPopover *rename_popover;
  GtkEntry *rename_entry;
  GtkButton *rename_confirm_button;
  GtkLabel *rename_error;
  GtkButton *delete_button;
  GtkLabel *path_label;
  GtkWidget *approval_box;
  GtkDropDown *approval_dropdown;
  GtkSpinButton *timeout_spin;
  HgPatternList *allow_list;
  HgPatternList *deny_list;
  GtkColumnView *sessions_view;
  GtkButton *forget_button;
  GtkColumnView *history_view;
  GtkLabel *history_label;
  GtkLabel *history_status;

  HgProfileStore *store;
  HgAgentServer *server;
  GtkStringList *profile_names;
  GListStore *sessions;
  GtkSingleSelection *sessions_selection;

  /* The profile shown; always one of the store's names. */
  char *profile;

  /* The new name while a rename of the profile shown runs: the store
   * announces the new file before the old one is gone, and the window
   * follows the profile to its new name rather than to `default`. */
  char *renaming_to;

  /* The profile that the window's Delete removes, while that runs. Its
   * file going away then needs no warning. */
  char *deleting;

  /* Set while the window itself changes the controls, so their change
   * signals do not write the values back to the store. */
  gboolean loading;

  GtkNativeDialog *chooser;
  GtkWindow *confirm_dialog;
  guint sessions_timer;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (HgSettingsWindow, hg_settings_window, GTK_TYPE_WINDOW)

static void select_profile (HgSettingsWindow *self,
                            const char       *name);

static void
show_info (HgSettingsWindow *self,
           GtkMessageType    type,
           const char       *message)
{
  gtk_info_bar_set_message_type (self->info_bar, type);
  gtk_label_set_text (self->info_label, message);
  gtk_info_bar_set_revealed (self->info_bar, TRUE);
  self->load_error_shown = FALSE;
}

static void
hide_info (HgSettingsWindow *self)
{
  gtk_info_bar_set_revealed (self->info_bar, FALSE);
}

static void
info_bar_response_cb (HgSettingsWindow *self)
{
  hide_info (self);
}

static gboolean
is_cancelled (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static gboolean
profile_exists (HgSettingsWindow *self,
                const char       *name)
{
  g_auto(GStrv) names = hg_profile_store_list_names (self->store);

  return g_strv_contains ((const char * const *) names, name);
}

/* Returns why @name cannot be the name of a new profile, or NULL. */
static char *
check_new_name (HgSettingsWindow *self,
                const char       *name)
{
  if (!hg_profile_name_is_valid (name))
    return g_strdup_printf (_("“%s” is not a valid profile name: use up to 64 letters, digits, “.”, “_” or “-”, starting with a letter or digit, without “..”"),
                            name);

  if (profile_exists (self, name))
    return g_strdup_printf (_("A profile named “%s” already exists"), name);

  return NULL;
}

/* Validates a name as the person types it into @entry, showing the
 * reason under it and keeping @button insensitive while it is invalid. */
static void
validate_name_entry (HgSettingsWindow *self,
                     GtkEntry         *entry,
                     GtkLabel         *error_label,
                     GtkButton        *button)
{
  const char *name = gtk_editable_get_text (GTK_EDITABLE (entry));
  g_autofree char *problem = NULL;

  if (name[0] != '\0')
    problem = check_new_name (self, name);

  gtk_label_set_text (error_label, problem != NULL ? problem : "");
  gtk_widget_set_visible (GTK_WIDGET (error_label), problem != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (button), name[0] != '\0' && problem == NULL);
}

static void
show_name_error (GtkLabel     *error_label,
                 const GError *error)
{
  gtk_label_set_text (error_label, error->message);
  gtk_widget_set_visible (GTK_WIDGET (error_label), TRUE);
}

/* Profiles page: reading the profile shown */

static void
update_path_label (HgSettingsWindow *self,
                   const HgProfile  *profile)
{
  g_autofree char *file_name = g_strconcat (self->profile, ".json", NULL);
  g_autofree char *path = g_build_filename (hg_profile_store_get_directory (self->store),
                                            file_name, NULL);
  g_autofree char *text = NULL;

  if (profile != NULL && profile->path == NULL)
    text = g_strdup_printf (_("The built-in default profile. The first change creates %s."), path);
  else
    text = g_strdup_printf (_("Stored in %s"), path);
  gtk_label_set_text (self->path_label, text);
}

static void
show_profile (HgSettingsWindow *self,
              const HgProfile  *profile)
{
  g_autoptr(GStrvBuilder) allow = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) deny = g_strv_builder_new ();
  g_auto(GStrv) allow_entries = NULL;
  g_auto(GStrv) deny_entries = NULL;

  for (guint i = 0; i < profile->allow->len; i++)
    g_strv_builder_add (allow, profile->allow->pdata[i]);
  for (guint i = 0; i < profile->deny->len; i++)
    g_strv_builder_add (deny, profile->deny->pdata[i]);
  allow_entries = g_strv_builder_end (allow);
  deny_entries = g_strv_builder_end (deny);

  hg_pattern_list_set_entries (self->allow_list, (const char * const *) allow_entries);
  hg_pattern_list_set_entries (self->deny_list, (const char * const *) deny_entries);

  self->loading = TRUE;
  gtk_drop_down_set_selected (self->approval_dropdown,
                              profile->approval_mode == HG_APPROVAL_ASK ? 1 : 0);
  gtk_spin_button_set_value (self->timeout_spin,
                             profile->approval_timeout_set ? profile->approval_timeout_secs
                                                           : HG_APPROVAL_TIMEOUT_DEFAULT);
  self->loading = FALSE;
}

/* Reads the profile shown from disk. A file that does not parse is
 * reported and its lists are shown empty. Edits stay possible, so the
 * store's refusal, which names the file, shows where the person typed. */
static void
load_profile (HgSettingsWindow *self)
{
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GError) error = NULL;

  hg_pattern_list_set_profile (self->allow_list, self->store, self->profile);
  hg_pattern_list_set_profile (self->deny_list, self->store, self->profile);
  gtk_widget_set_sensitive (GTK_WIDGET (self->rename_button), g_strcmp0 (self->profile, "default") != 0);
  gtk_button_set_label (GTK_BUTTON (self->delete_button),
                        g_strcmp0 (self->profile, "default") == 0 ? _("Rese_t…") : _("_Delete…"));

  profile = hg_profile_store_load (self->store, self->profile, &error);
  update_path_label (self, profile);

  /* The built-in default has no file to delete. A file that cannot be
   * read can still be deleted, which is how a broken `default` is reset. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->delete_button), profile == NULL || profile->path != NULL);

  /* Values of a profile that cannot be read would be guesses. */
  gtk_widget_set_sensitive (self->approval_box, profile != NULL);

  if (profile == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("The profile “%s” cannot be read, so it is shown empty and changes to it are refused until the file is fixed. %s"),
                                               self->profile, error->message);

      hg_pattern_list_set_entries (self->allow_list, NULL);
      hg_pattern_list_set_entries (self->deny_list, NULL);
      show_info (self, GTK_MESSAGE_ERROR, text);
      self->load_error_shown = TRUE;
      return;
    }

  /* The file was fixed: its problem no longer holds. */
  if (self->load_error_shown)
    hide_info (self);
  self->load_error_shown = FALSE;
  show_profile (self, profile);
}

static guint
find_name (GtkStringList *names,
           const char    *name)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (names));

  for (guint i = 0; i < n; i++)
    if (g_strcmp0 (gtk_string_list_get_string (names, i), name) == 0)
      return i;

  return GTK_INVALID_LIST_POSITION;
}

/* Shows `default` in place of the profile shown, whose file is gone.
 * Text typed for that profile is cleared, so that Add cannot put it in
 * `default` instead. */
static void
show_default_for_gone (HgSettingsWindow *self)
{
  g_autofree char *deleted = g_strdup (self->profile);
  gboolean deleted_here = g_strcmp0 (deleted, self->deleting) == 0;

  hg_pattern_list_clear_field (self->allow_list);
  hg_pattern_list_clear_field (self->deny_list);
  g_clear_pointer (&self->deleting, g_free);
  select_profile (self, "default");

  if (!deleted_here)
    {
      /* Translators: both %s are the same profile name. */
      g_autofree char *text = g_strdup_printf (_("The file of the profile “%s” was deleted, so the window now shows "
                                                 "“default”. Text typed into the lists of “%s” was cleared."),
                                               deleted, deleted);

      show_info (self, GTK_MESSAGE_WARNING, text);
    }
}

/* Reads the profile names again and keeps the profile shown selected;
 * when it is gone, `default` is shown, which always exists. */
static void
refresh_names (HgSettingsWindow *self)
{
  g_auto(GStrv) names = hg_profile_store_list_names (self->store);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->profile_names));
  guint position;

  self->loading = TRUE;
  gtk_string_list_splice (self->profile_names, 0, n, (const char * const *) names);
  self->loading = FALSE;

  position = find_name (self->profile_names, self->profile);
  if (position == GTK_INVALID_LIST_POSITION)
    {
      gboolean renamed = self->renaming_to != NULL &&
                         find_name (self->profile_names, self->renaming_to) != GTK_INVALID_LIST_POSITION;

      if (renamed)
        select_profile (self, self->renaming_to);
      else
        show_default_for_gone (self);
      return;
    }

  self->loading = TRUE;
  gtk_drop_down_set_selected (self->profile_dropdown, position);
  self->loading = FALSE;
}

static void
select_profile (HgSettingsWindow *self,
                const char       *name)
{
  guint position;

  g_free (self->profile);
  self->profile = g_strdup (name);

  position = find_name (self->profile_names, name);
  if (position != GTK_INVALID_LIST_POSITION)
    {
      self->loading = TRUE;
      gtk_drop_down_set_selected (self->profile_dropdown, position);
      self->loading = FALSE;
    }

  load_profile (self);
}

static void
profile_selected_cb (HgSettingsWindow *self)
{
  GtkStringObject *item = gtk_drop_down_get_selected_item (self->profile_dropdown);

  if (self->loading || item == NULL)
    return;

  hide_info (self);
  select_profile (self, gtk_string_object_get_string (item));
}

static void
store_changed_cb (HgProfileStore   *store,
                  const char       *name,
                  HgSettingsWindow *self)
{
  refresh_names (self);
  if (g_strcmp0 (name, self->profile) == 0)
    load_profile (self);
}

/* Profiles page: approval settings */

static void
approval_saved_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error) || is_cancelled (error))
    return;

  /* The controls keep the values the person chose, so they can retry. */
  show_info (HG_SETTINGS_WINDOW (user_data), GTK_MESSAGE_ERROR, error->message);
}

/* Reads the timeout typed into the spin button. Text that is no number,
 * such as an emptied field, keeps the current value: the default
 * conversion would read it as 0 and save the lowest timeout. */
static int
timeout_input_cb (GtkSpinButton *spin,
                  double        *new_value,
                  gpointer       user_data)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));
  guint64 value;

  if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT, &value, NULL))
    *new_value = (double) value;
  else
    *new_value = gtk_spin_button_get_value (spin);

  return TRUE;
}

static void
approval_changed_cb (HgSettingsWindow *self)
{
  HgApprovalMode mode;
  guint timeout;

  if (self->loading || self->profile == NULL)
    return;

  mode = gtk_drop_down_get_selected (self->approval_dropdown) == 1 ? HG_APPROVAL_ASK : HG_APPROVAL_OFF;
  timeout = gtk_spin_button_get_value_as_int (self->timeout_spin);
  hg_profile_store_set_approval_async (self->store, self->profile, mode, timeout,
                                       self->cancellable, approval_saved_cb, self);
}

/* Profiles page: create, rename, delete */

static void
new_popover_show_cb (HgSettingsWindow *self)
{
  gtk_editable_set_text (GTK_EDITABLE (self->new_name_entry), "");
  gtk_widget_set_visible (GTK_WIDGET (self->new_name_error), FALSE);
  gtk_widget_grab_focus (GTK_WIDGET (self->new_name_entry));
}

static void
new_name_changed_cb (HgSettingsWindow *self)
{
  validate_name_entry (self, self->new_name_entry, self->new_name_error, self->create_button);
}

static void
created_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  HgSettingsWindow *self;

  if (!hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error) && is_cancelled (error))
    return;

  self = HG_SETTINGS_WINDOW (user_data);
  gtk_widget_set_sensitive (GTK_WIDGET (self->create_button), TRUE);
  if (error != NULL)
    {
      show_name_error (self->new_name_error, error);
      return;
    }

  gtk_popover_popdown (self->new_popover);
  hide_info (self);
  g_free (self->profile);
  self->profile = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->new_name_entry)));
  refresh_names (self);
  load_profile (self);
}

static void
create_clicked_cb (HgSettingsWindow *self)
{
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->new_name_entry));

  if (!gtk_widget_get_sensitive (GTK_WIDGET (self->create_button)))
    return;

  /* Only the button is made insensitive, to block a second submit. An
   * insensitive popover would take the focus from the entry without a
   * focus-out event, which GTK 4.8 warns about. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->create_button), FALSE);
  hg_profile_store_create_async (self->store, name, self->cancellable, created_cb, self);
}

static void
rename_popover_show_cb (HgSettingsWindow *self)
{
  gtk_editable_set_text (GTK_EDITABLE (self->rename_entry), self->profile);
  gtk_widget_set_visible (GTK_WIDGET (self->rename_error), FALSE);
  gtk_widget_grab_focus (GTK_WIDGET (self->rename_entry));
}

static void
rename_changed_cb (HgSettingsWindow *self)
{
  validate_name_entry (self, self->rename_entry, self->rename_error, self->rename_confirm_button);
}

static void
renamed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  HgSettingsWindow *self;

  if (!hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error) && is_cancelled (error))
    return;

  self = HG_SETTINGS_WINDOW (user_data);
  g_clear_pointer (&self->renaming_to, g_free);
  gtk_widget_set_sensitive (GTK_WIDGET (self->rename_confirm_button), TRUE);
  if (error != NULL)
    {
      show_name_error (self->rename_error, error);
      return;
    }

  gtk_popover_popdown (self->rename_popover);
  g_free (self->profile);
  self->profile = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->rename_entry)));
  refresh_names (self);
  load_profile (self);
}

static void
rename_clicked_cb (HgSettingsWindow *self)
{
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->rename_entry));

  if (!gtk_widget_get_sensitive (GTK_WIDGET (self->rename_confirm_button)))
    return;

  gtk_widget_set_sensitive (GTK_WIDGET (self->rename_confirm_button), FALSE);
  g_free (self->renaming_to);
  self->renaming_to = g_strdup (name);
  hg_profile_store_rename_async (self->store, self->profile, name, self->cancellable,
                                 renamed_cb, self);
}

static void
deleted_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  HgSettingsWindow *self;

  if (hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error) || is_cancelled (error))
    return;

  self = HG_SETTINGS_WINDOW (user_data);
  g_clear_pointer (&self->deleting, g_free);
  show_info (self, GTK_MESSAGE_ERROR, error->message);
}

static void
delete_response_cb (GtkDialog        *dialog,
                    int               response,
                    HgSettingsWindow *self)
{
  const char *name = g_object_get_data (G_OBJECT (dialog), "hg-profile");

  if (response == GTK_RESPONSE_ACCEPT)
    {
      hide_info (self);
      g_free (self->deleting);
      self->deleting = g_strdup (name);
      hg_profile_store_delete_async (self->store, name, self->cancellable, deleted_cb, self);
    }

  self->confirm_dialog = NULL;
  gtk_window_destroy (GTK_WINDOW (dialog));
}

static void
delete_clicked_cb (HgSettingsWindow *self)
{
  gboolean is_default = g_strcmp0 (self->profile, "default") == 0;
  GtkWidget *dialog;
  GtkWidget *button;

  if (self->confirm_dialog != NULL)
    gtk_window_destroy (self->confirm_dialog);

  dialog = gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                   GTK_MESSAGE_WARNING, GTK_BUTTONS_NONE,
                                   is_default ? _("Reset the profile “%s”?") : _("Delete the profile “%s”?"),
                                   self->profile);
  if (is_default)
    gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s",
                                              _("Its allow list, deny list and approval settings go back to the built-in default: nothing allowed, nothing denied, hosts refused without asking."));
  else
    gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s",
                                              _("Its file is removed. Proxies that use it keep their current filter until they restart, and then fail to start until the profile exists again."));

  gtk_window_set_title (GTK_WINDOW (dialog), is_default ? _("Reset Profile") : _("Delete Profile"));
  gtk_dialog_add_button (GTK_DIALOG (dialog), _("_Cancel"), GTK_RESPONSE_CANCEL);
  button = gtk_dialog_add_button (GTK_DIALOG (dialog), is_default ? _("_Reset") : _("_Delete"),
                                  GTK_RESPONSE_ACCEPT);
  gtk_widget_add_css_class (button, "destructive-action");
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_CANCEL);

  g_object_set_data_full (G_OBJECT (dialog), "hg-profile", g_strdup (self->profile), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (delete_response_cb), self, 0);
  self->confirm_dialog = GTK_WINDOW (dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Profiles page: importing and exporting profile files */

typedef struct {
  HgSettingsWindow *self;
  char *name;
  char *file_name;
  char *dropped;  /* (nullable): the settings left out, comma-separated */
} ProfileImport;

static void
profile_import_free (ProfileImport *import)
{
  g_free (import->name);
  g_free (import->file_name);
  g_free (import->dropped);
  g_free (import);
}

/* Names the settings of @profile that the store leaves out of an import
 * and that would change what the proxy may reach, or returns %NULL. */
static char *
describe_dropped_settings (const HgProfile *profile)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) keys = NULL;

  if (profile->upstream_proxy != NULL)
    g_strv_builder_add (builder, "upstream_proxy");
  if (profile->upstream_bypass != NULL && profile->upstream_bypass->len > 0)
    g_strv_builder_add (builder, "upstream_bypass");
  if (profile->allow_loopback)
    g_strv_builder_add (builder, "allow_loopback");

  keys = g_strv_builder_end (builder);
  return keys[0] != NULL ? g_strjoinv (", ", keys) : NULL;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ProfileImport, profile_import_free)

static void
profile_imported_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(ProfileImport) import = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error))
    {
      if (is_cancelled (error))
        return;

      text = g_strdup_printf (_("Could not import “%s”: %s"), import->file_name, error->message);
      show_info (import->self, GTK_MESSAGE_ERROR, text);
      return;
    }

  if (import->dropped != NULL)
    /* Translators: the last %s is a list of profile keys, such as
     * “upstream_proxy, allow_loopback”, which stay untranslated. */
    text = g_strdup_printf (_("Created the profile “%s” from “%s”, without %s: a profile from a file "
                              "may not widen what the proxy can reach. Set them with the proxy's options."),
                            import->name, import->file_name, import->dropped);
  else
    text = g_strdup_printf (_("Created the profile “%s” from “%s”."), import->name, import->file_name);
  show_info (import->self, GTK_MESSAGE_INFO, text);
  select_profile (import->self, import->name);
}

static gboolean
profile_read_more_cb (const char *file_contents,
                      goffset     file_size,
                      gpointer    user_data)
{
  return file_size <= HG_PROFILE_MAX_SIZE;
}

static void
profile_loaded_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *path = g_file_get_path (G_FILE (object));
  g_autofree char *file_name = g_file_get_parse_name (G_FILE (object));
  g_autofree char *problem = NULL;
  g_autoptr(HgProfile) profile = NULL;
  g_autoptr(GBytes) bytes = NULL;
  HgSettingsWindow *self;
  ProfileImport *import;
  gsize length = 0;

  if (!g_file_load_partial_contents_finish (G_FILE (object), result, &contents, &length, NULL, &error) &&
      is_cancelled (error))
    return;

  self = HG_SETTINGS_WINDOW (user_data);
  if (error == NULL && length > HG_PROFILE_MAX_SIZE)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 _("the file is larger than the profile limit of %u MiB"), HG_PROFILE_MAX_SIZE / (1024 * 1024));

  /* The name comes from `meta.name`, else from the file name. */
  if (error == NULL)
    profile = hg_profile_load_data (contents, length, path != NULL ? path : file_name, &error);

  if (profile != NULL)
    problem = check_new_name (self, profile->name);
  if (problem != NULL)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("%s. Rename or delete that profile first, or change “meta.name” in the file."),
                 problem);

  if (error != NULL || profile == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Could not import “%s”: %s"), file_name,
                                               error != NULL ? error->message : "");
      show_info (self, GTK_MESSAGE_ERROR, text);
      return;
    }

  /* The store keeps unknown keys but leaves out those that widen what
   * the proxy may reach. */
  bytes = g_bytes_new_take (g_steal_pointer (&contents), length);
  import = g_new0 (ProfileImport, 1);
  import->self = self;
  import->name = g_strdup (profile->name);
  import->file_name = g_steal_pointer (&file_name);
  import->dropped = describe_dropped_settings (profile);
  hg_profile_store_import_async (self->store, import->name, bytes, self->cancellable,
                                 profile_imported_cb, import);
}

static void
import_profile_response_cb (GtkNativeDialog  *chooser,
                            int               response,
                            HgSettingsWindow *self)
{
  g_autoptr(GFile) file = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  gtk_native_dialog_destroy (chooser);
  g_clear_object (&self->chooser);

  if (file == NULL)
    return;

  hide_info (self);
  g_file_load_partial_contents_async (file, self->cancellable, profile_read_more_cb,
                                      profile_loaded_cb, self);
}

static void
open_profile_chooser (HgSettingsWindow     *self,
                      const char           *title,
                      GtkFileChooserAction  action,
                      const char           *accept_label,
                      GCallback             response_cb)
{
  GtkFileChooserNative *chooser;
  g_autoptr(GtkFileFilter) json = gtk_file_filter_new ();

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);

  chooser = gtk_file_chooser_native_new (title, GTK_WINDOW (self), action, accept_label, _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_filter_set_name (json, _("Profile files"));
  gtk_file_filter_add_pattern (json, "*.json");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), json);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  g_signal_connect (chooser, "response", response_cb, self);

  if (action == GTK_FILE_CHOOSER_ACTION_SAVE)
    {
      g_autofree char *name = g_strconcat (self->profile, ".json", NULL);
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
    }

  gtk_native_dialog_show (self->chooser);
}

static void
import_profile_clicked_cb (HgSettingsWindow *self)
{
  open_profile_chooser (self, _("Import a profile"), GTK_FILE_CHOOSER_ACTION_OPEN,
                        _("_Import"), G_CALLBACK (import_profile_response_cb));
}

static void
exported_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *file_name = g_file_get_parse_name (G_FILE (object));
  g_autofree char *text = NULL;

  if (!g_file_replace_contents_finish (G_FILE (object), result, NULL, &error) && is_cancelled (error))
    return;

  if (error != NULL)
    text = g_strdup_printf (_("Could not export to “%s”: %s"), file_name, error->message);
  else
    text = g_strdup_printf (_("Saved a copy of the profile to “%s”."), file_name);
  show_info (HG_SETTINGS_WINDOW (user_data), error != NULL ? GTK_MESSAGE_ERROR : GTK_MESSAGE_INFO, text);
}

/* Returns the text of profile @name as the proxies read it: the file,
 * or the built-in profile for `default` without one. */
static GBytes *
read_profile_file (HgSettingsWindow  *self,
                   const char        *name,
                   GError           **error)
{
  g_autofree char *file_name = g_strconcat (name, ".json", NULL);
  g_autofree char *path = g_build_filename (hg_profile_store_get_directory (self->store), file_name, NULL);
  g_autoptr(GError) local_error = NULL;
  GBytes *builtin;
  char *contents = NULL;
  gsize length = 0;

  if (g_file_get_contents (path, &contents, &length, &local_error))
    return g_bytes_new_take (contents, length);

  if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT) || g_strcmp0 (name, "default") != 0)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  builtin = g_resources_lookup_data (DEFAULT_PROFILE_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (builtin != NULL)
    return builtin;

  return g_bytes_new_static ("{}\n", 3);
}

static void
export_profile_response_cb (GtkNativeDialog  *chooser,
                            int               response,
                            HgSettingsWindow *self)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  gtk_native_dialog_destroy (chooser);
  g_clear_object (&self->chooser);

  if (file == NULL)
    return;

  /* A profile file is small and local; reading it here keeps the copy
   * exactly what the proxies read, unknown keys included. */
  bytes = read_profile_file (self, self->profile, &error);
  if (bytes == NULL)
    {
      show_info (self, GTK_MESSAGE_ERROR, error->message);
      return;
    }

  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE, G_FILE_CREATE_NONE,
                                       self->cancellable, exported_cb, self);
}

static void
export_profile_clicked_cb (HgSettingsWindow *self)
{
  open_profile_chooser (self, _("Export the profile"), GTK_FILE_CHOOSER_ACTION_SAVE,
                        _("_Export"), G_CALLBACK (export_profile_response_cb));
}

/* Columns of the sessions and history pages */

typedef char *(*CellTextFunc) (gpointer item);

/* Shows the whole text of a cell that is cut short. GTK asks for the
 * tooltip when the pointer rests on the cell. Setting it in the bind
 * callback instead made GTK query the X server for each row bound,
 * which slowed the agent down more with every request in the history. */
static gboolean
text_cell_query_tooltip_cb (GtkLabel   *label,
                            int         x,
                            int         y,
                            gboolean    keyboard_mode,
                            GtkTooltip *tooltip,
                            gpointer    user_data)
{
  if (!pango_layout_is_ellipsized (gtk_label_get_layout (label)))
    return FALSE;

  gtk_tooltip_set_text (tooltip, gtk_label_get_text (label));
  return TRUE;
}

/* How the label of a text column fits its text into the column. */
typedef struct
{
  PangoEllipsizeMode ellipsize;  /* PANGO_ELLIPSIZE_NONE: never cut */
  int width_chars;               /* minimum width in characters, or -1 */
  int max_width_chars;           /* natural width in characters at most, or -1 */
  int lines;                     /* lines the text may wrap to */
} TextFit;

static const TextFit text_fit_end = { PANGO_ELLIPSIZE_END, -1, -1, 1 };

static void
text_cell_setup_cb (GtkSignalListItemFactory *factory,
                    GtkListItem              *list_item,
                    const TextFit            *fit)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), fit->ellipsize);
  gtk_label_set_width_chars (GTK_LABEL (label), fit->width_chars);
  gtk_label_set_max_width_chars (GTK_LABEL (label), fit->max_width_chars);
  if (fit->lines > 1)
    {
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
      gtk_label_set_lines (GTK_LABEL (label), fit->lines);
    }
  gtk_widget_set_has_tooltip (label, TRUE);
  g_signal_connect (label, "query-tooltip", G_CALLBACK (text_cell_query_tooltip_cb), NULL);
  gtk_list_item_set_child (list_item, label);
}

static void
text_cell_bind_cb (GtkSignalListItemFactory *factory,
                   GtkListItem              *list_item,
                   gpointer                  user_data)
{
  CellTextFunc text_func = (CellTextFunc) user_data;
  g_autofree char *text = text_func (gtk_list_item_get_item (list_item));
  GtkWidget *label = gtk_list_item_get_child (list_item);

  gtk_label_set_text (GTK_LABEL (label), text);
}

static void
add_fitted_text_column (GtkColumnView *view,
                        const char    *title,
                        CellTextFunc   text_func,
                        const TextFit *fit,
                        gboolean       expand)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  g_autoptr(GtkColumnViewColumn) column = NULL;

  g_signal_connect (factory, "setup", G_CALLBACK (text_cell_setup_cb), (gpointer) fit);
  g_signal_connect (factory, "bind", G_CALLBACK (text_cell_bind_cb), (gpointer) text_func);
  column = gtk_column_view_column_new (title, factory);
  gtk_column_view_column_set_expand (column, expand);
  gtk_column_view_column_set_resizable (column, TRUE);
  gtk_column_view_append_column (view, column);
}

static void
add_text_column (GtkColumnView *view,
                 const char    *title,
                 CellTextFunc   text_func,
                 gboolean       expand)
{
  add_fitted_text_column (view, title, text_func, &text_fit_end, expand);
}

/* Formats a time of today as a time of day, and an older one with
 * older_format, which adds the date. */
static char *
format_time_or_date (GDateTime  *time,
                     const char *older_format)
{
  g_autoptr(GDateTime) local = g_date_time_to_local (time);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();

  if (g_date_time_get_year (local) == g_date_time_get_year (now) &&
      g_date_time_get_day_of_year (local) == g_date_time_get_day_of_year (now))
    return g_date_time_format (local, "%H:%M:%S");

  return g_date_time_format (local, older_format);
}

static char *
format_time (GDateTime *time)
{
  return format_time_or_date (time, "%Y-%m-%d %H:%M:%S");
}

static char *
session_label_text (gpointer item)
{
  const HgSessionInfo *info = hg_agent_session_get_info (item);

  if (info == NULL)
    return g_strdup (_("(connecting)"));

  return g_strdup (info->label != NULL && info->label[0] != '\0' ? info->label : info->id);
}

static char *
session_profile_text (gpointer item)
{
  const char *profile = hg_agent_session_get_profile (item);

  if (profile == NULL)
    return g_strdup ("—");
  if (hg_agent_session_get_profile_error (item) != NULL)
    return g_strdup_printf (_("%s (cannot be read)"), profile);

  return g_strdup (profile);
}

static char *
session_pid_text (gpointer item)
{
  const HgSessionInfo *info = hg_agent_session_get_info (item);

  return info != NULL ? g_strdup_printf ("%d", info->pid) : g_strdup ("—");
}

static char *
session_since_text (gpointer item)
{
  return format_time (hg_agent_session_get_connected (item));
}

static char *
session_prompts_text (gpointer item)
{
  return g_strdup_printf ("%u", hg_agent_session_get_n_asked (item));
}

static char *
session_command_text (gpointer item)
{
  const HgSessionInfo *info = hg_agent_session_get_info (item);

  return g_strdup (info != NULL && info->command != NULL ? info->command : "");
}

/* The button needs a session that has sent `hello`, because the agent
 * sends the filter of the profile named there. */
static void
update_forget_button (HgSettingsWindow *self)
{
  HgAgentSession *session = gtk_single_selection_get_selected_item (self->sessions_selection);
  gboolean usable = session != NULL &&
                    !hg_agent_session_is_closed (session) &&
                    hg_agent_session_get_info (session) != NULL;

  gtk_widget_set_sensitive (GTK_WIDGET (self->forget_button), usable);
}

static void
forget_clicked_cb (HgSettingsWindow *self)
{
  HgAgentSession *session = gtk_single_selection_get_selected_item (self->sessions_selection);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (session == NULL)
    return;

  if (!hg_agent_session_forget_decisions (session, &error))
    {
      show_info (self, GTK_MESSAGE_ERROR, error->message);
      return;
    }

  text = g_strdup_printf (_("Asked session “%s” to forget its Session answers. It will ask again about those hosts."),
                          hg_agent_session_get_label (session));
  show_info (self, GTK_MESSAGE_INFO, text);
}

static void
setup_sessions_view (HgSettingsWindow *self)
{
  self->sessions = g_list_store_new (HG_TYPE_AGENT_SESSION);
  self->sessions_selection = gtk_single_selection_new (G_LIST_MODEL (g_object_ref (self->sessions)));
  gtk_column_view_set_model (self->sessions_view, GTK_SELECTION_MODEL (self->sessions_selection));
  g_signal_connect_swapped (self->sessions_selection, "notify::selected-item",
                            G_CALLBACK (update_forget_button), self);

  add_text_column (self->sessions_view, _("Session"), session_label_text, FALSE);
  add_text_column (self->sessions_view, _("Profile"), session_profile_text, FALSE);
  add_text_column (self->sessions_view, _("Process"), session_pid_text, FALSE);
  add_text_column (self->sessions_view, _("Connected"), session_since_text, FALSE);
  add_text_column (self->sessions_view, _("Prompts"), session_prompts_text, FALSE);
  add_text_column (self->sessions_view, _("Command"), session_command_text, TRUE);
}

/* Reads the session list again and keeps the selected session selected
 * while it is still connected. */
static void
refresh_sessions (HgSettingsWindow *self)
{
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(HgAgentSession) selected = NULL;
  HgAgentSession *current;
  guint position;

  if (self->server == NULL)
    return;

  current = gtk_single_selection_get_selected_item (self->sessions_selection);
  if (current != NULL)
    selected = g_object_ref (current);

  sessions = hg_agent_server_list_sessions (self->server);
  g_list_store_splice (self->sessions, 0, g_list_model_get_n_items (G_LIST_MODEL (self->sessions)),
                       sessions->pdata, sessions->len);
  if (selected != NULL && g_list_store_find (self->sessions, selected, &position))
    gtk_single_selection_set_selected (self->sessions_selection, position);

  update_forget_button (self);
}

static gboolean
sessions_timer_cb (gpointer user_data)
{
  refresh_sessions (HG_SETTINGS_WINDOW (user_data));
  return G_SOURCE_CONTINUE;
}

static void
session_added_cb (HgAgentServer    *server,
                  HgAgentSession   *session,
                  HgSettingsWindow *self)
{
  g_signal_connect_object (session, "closed", G_CALLBACK (refresh_sessions), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "prompt-added", G_CALLBACK (refresh_sessions), self, G_CONNECT_SWAPPED);
  refresh_sessions (self);
}

/* History page */

/* Widths of the history columns, in characters of the window's font.
 * Each label requests that width as both its minimum and its natural
 * width, so a column keeps its width whatever the rows in view contain.
 * When the widest cell in view set the width, the table jumped as rows
 * came and went. Time, Session, Decision and Reason wrap to two lines
 * before they cut their text, and two lines fit in the height of a
 * row's stacked buttons.
 * The widths and the buttons' column fit the window's default width of
 * 920 px. 15 characters keep a label such as "name on 127.0.0.1:43247"
 * or the reason "approved by the user once" whole on two lines, and a
 * time of an earlier day shows its date, 10 characters, on a line of
 * its own. The host loses its middle when cut, so its start and its
 * end, with the port, stay. The host and the reason share the width of
 * a wider window. */
static const TextFit history_fit_time = { PANGO_ELLIPSIZE_END, 10, 10, 2 };
static const TextFit history_fit_session = { PANGO_ELLIPSIZE_END, 15, 15, 2 };
static const TextFit history_fit_host = { PANGO_ELLIPSIZE_MIDDLE, 24, 24, 1 };
static const TextFit history_fit_decision = { PANGO_ELLIPSIZE_END, 9, 9, 2 };
static const TextFit history_fit_duration = { PANGO_ELLIPSIZE_END, 8, 8, 1 };
static const TextFit history_fit_reason = { PANGO_ELLIPSIZE_END, 15, 15, 2 };

static char *
history_time_text (gpointer item)
{
  const HgEvent *event = hg_history_entry_get_event (item);
  g_autoptr(GDateTime) time = NULL;

  if (event->time != NULL)
    time = g_date_time_new_from_iso8601 (event->time, NULL);
  if (time == NULL)
    time = g_date_time_ref (hg_history_entry_get_received (item));

  /* An older time has its date on a line of its own, so the column
   * stays about as narrow as a time of day. */
  return format_time_or_date (time, "%Y-%m-%d%n%H:%M:%S");
}

static char *
history_session_text (gpointer item)
{
  const char *label = hg_history_entry_get_session_label (item);
  const HgEvent *event = hg_history_entry_get_event (item);

  if (label != NULL && label[0] != '\0')
    return g_strdup (label);

  return g_strdup (event->session != NULL ? event->session : "—");
}

/* Returns the host as a list entry: an IPv6 address needs brackets. */
static char *
host_entry (const char *host)
{
  if (strchr (host, ':') != NULL && host[0] != '[')
    return g_strdup_printf ("[%s]", host);

  return g_strdup (host);
}

static char *
history_host_text (gpointer item)
{
  const HgEvent *event = hg_history_entry_get_event (item);
  g_autofree char *host = NULL;

  if (event->host == NULL)
    return g_strdup ("—");

  host = host_entry (event->host);
  if (event->port == 0)
    return g_steal_pointer (&host);

  return g_strdup_printf ("%s:%u", host, event->port);
}

static char *
history_decision_text (gpointer item)
{
  return g_strdup (hg_history_entry_get_decision_label (item));
}

static char *
history_reason_text (gpointer item)
{
  const HgEvent *event = hg_history_entry_get_event (item);

  return g_strdup (event->reason != NULL ? event->reason : "");
}

static char *
history_duration_text (gpointer item)
{
  const HgEvent *event = hg_history_entry_get_event (item);

  if (event->duration_ms < 0)
    return g_strdup ("—");
  if (event->duration_ms < 1000)
    return g_strdup_printf (_("%lld ms"), (long long) event->duration_ms);

  return g_strdup_printf (_("%.1f s"), event->duration_ms / 1000.0);
}

typedef struct {
  HgSettingsWindow *self;
  char *pattern;
  char *profile;
  gboolean deny;
} HistoryRule;

static void
history_rule_free (HistoryRule *rule)
{
  g_free (rule->pattern);
  g_free (rule->profile);
  g_free (rule);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HistoryRule, history_rule_free)

static void
show_history_status (HgSettingsWindow *self,
                     const char       *text,
                     gboolean          is_error)
{
  gtk_label_set_text (self->history_status, text);
  gtk_widget_set_visible (GTK_WIDGET (self->history_status), TRUE);
  if (is_error)
    gtk_widget_add_css_class (GTK_WIDGET (self->history_status), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->history_status), "error");
}

static void
show_history_rule_result (HistoryRule  *rule,
                          gboolean      moved,
                          const GError *error)
{
  g_autofree char *text = NULL;

  if (error != NULL)
    {
      /* Translators: the first %s is a comma-separated list of host
       * patterns, the second the profile name and the last an error
       * message. */
      g_warning (_("Could not save %s to profile “%s”: %s"), rule->pattern, rule->profile,
                 error->message);
      text = g_strdup_printf (_("Could not add “%s” to the profile “%s”: %s"),
                              rule->pattern, rule->profile, error->message);
    }
  else if (rule->deny && moved)
    text = g_strdup_printf (_("Added “%s” to the deny list of the profile “%s” and took it off the allow list."),
                            rule->pattern, rule->profile);
  else if (rule->deny)
    text = g_strdup_printf (_("Added “%s” to the deny list of the profile “%s”."), rule->pattern, rule->profile);
  else if (moved)
    text = g_strdup_printf (_("Added “%s” to the allow list of the profile “%s” and took it off the deny list."),
                            rule->pattern, rule->profile);
  else
    text = g_strdup_printf (_("Added “%s” to the allow list of the profile “%s”."), rule->pattern, rule->profile);
  show_history_status (rule->self, text, error != NULL);
}

static void
history_rule_added_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(HistoryRule) rule = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) moved = NULL;

  if (!hg_profile_store_add_entries_finish (HG_PROFILE_STORE (object), result, NULL, &moved, &error) &&
      is_cancelled (error))
    return;

  show_history_rule_result (rule, moved != NULL && moved[0] != NULL, error);
}

static void
history_rule_clicked_cb (GtkButton        *button,
                         HgSettingsWindow *self)
{
  HgHistoryEntry *entry = g_object_get_data (G_OBJECT (button), "hg-history-entry");
  gboolean deny = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "hg-deny"));
  const char *entries[2] = { NULL, NULL };
  const GError *profile_error;
  HistoryRule *rule;

  if (entry == NULL || hg_history_entry_get_profile (entry) == NULL ||
      hg_history_entry_get_event (entry)->host == NULL)
    return;

  rule = g_new0 (HistoryRule, 1);
  rule->self = self;
  rule->deny = deny;
  rule->pattern = host_entry (hg_history_entry_get_event (entry)->host);
  rule->profile = g_strdup (hg_history_entry_get_profile (entry));

  profile_error = self->server != NULL ? hg_agent_server_get_profile_error (self->server, rule->profile) : NULL;
  if (profile_error != NULL)
    {
      show_history_rule_result (rule, FALSE, profile_error);
      history_rule_free (rule);
      return;
    }

  entries[0] = rule->pattern;
  hg_profile_store_add_entries_async (self->store, rule->profile,
                                      deny ? HG_PROFILE_LIST_DENY : HG_PROFILE_LIST_ALLOW,
                                      entries, self->cancellable, history_rule_added_cb, rule);
}

/* CSS that shrinks each stacked button of a history row to about the
 * height of a line of text, so the row is only a few pixels taller than
 * a row of buttons side by side. */
static const char history_actions_css[] =
  ".hg-history-actions button { min-height: 0; padding-top: 1px; padding-bottom: 1px; }";

static void
add_history_actions_css (GdkDisplay *display)
{
  g_autoptr(GtkCssProvider) provider = NULL;

  /* One provider per display, however many windows are opened. */
  if (g_object_get_data (G_OBJECT (display), "hg-history-actions-css") != NULL)
    return;

  provider = gtk_css_provider_new ();
  gtk_css_provider_load_from_data (provider, history_actions_css, -1);
  gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_object_set_data_full (G_OBJECT (display), "hg-history-actions-css",
                          g_steal_pointer (&provider), g_object_unref);
}

static void
actions_cell_setup_cb (GtkSignalListItemFactory *factory,
                       GtkListItem              *list_item,
                       HgSettingsWindow         *self)
{
  /* Stacked, the buttons leave the text columns enough width at the
   * window's default size. */
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *allow = gtk_button_new_with_label (_("Allow Always"));
  GtkWidget *deny = gtk_button_new_with_label (_("Deny Always"));

  g_object_set_data (G_OBJECT (deny), "hg-deny", GINT_TO_POINTER (TRUE));
  g_signal_connect_object (allow, "clicked", G_CALLBACK (history_rule_clicked_cb), self, 0);
  g_signal_connect_object (deny, "clicked", G_CALLBACK (history_rule_clicked_cb), self, 0);
  gtk_widget_add_css_class (allow, "flat");
  gtk_widget_add_css_class (deny, "flat");
  gtk_widget_add_css_class (box, "hg-history-actions");
  gtk_widget_set_valign (box, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (box), allow);
  gtk_box_append (GTK_BOX (box), deny);
  gtk_list_item_set_child (list_item, box);
}

/* Sets up the buttons of one row. A request becomes a rule only when
 * its host is a valid list entry and its session named a profile. */
static void
actions_cell_bind_cb (GtkSignalListItemFactory *factory,
                      GtkListItem              *list_item,
                      HgSettingsWindow         *self)
{
  HgHistoryEntry *entry = gtk_list_item_get_item (list_item);
  const HgEvent *event = hg_history_entry_get_event (entry);
  GtkWidget *box = gtk_list_item_get_child (list_item);
  g_autofree char *pattern = event->host != NULL ? host_entry (event->host) : NULL;
  gboolean has_profile = hg_history_entry_get_profile (entry) != NULL;

  for (GtkWidget *button = gtk_widget_get_first_child (box); button != NULL;
       button = gtk_widget_get_next_sibling (button))
    {
      gboolean deny = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "hg-deny"));
      g_autoptr(HgPattern) parsed = NULL;

      if (pattern != NULL)
        parsed = hg_pattern_parse (pattern, deny ? HG_PATTERN_FLAG_DENY : HG_PATTERN_FLAG_NONE, NULL);
      g_object_set_data (G_OBJECT (button), "hg-history-entry", entry);
      gtk_widget_set_sensitive (button, parsed != NULL && has_profile);
    }
}

static void
actions_cell_unbind_cb (GtkSignalListItemFactory *factory,
                        GtkListItem              *list_item,
                        HgSettingsWindow         *self)
{
  GtkWidget *box = gtk_list_item_get_child (list_item);

  for (GtkWidget *button = gtk_widget_get_first_child (box); button != NULL;
       button = gtk_widget_get_next_sibling (button))
    g_object_set_data (G_OBJECT (button), "hg-history-entry", NULL);
}

static int
compare_newest_first (gconstpointer a,
                      gconstpointer b,
                      gpointer      user_data)
{
  return hg_history_entry_compare_arrival ((HgHistoryEntry *) b, (HgHistoryEntry *) a);
}

static void
setup_history_view (HgSettingsWindow *self)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  g_autoptr(GtkColumnViewColumn) column = NULL;
  g_autofree char *text = NULL;

  add_fitted_text_column (self->history_view, _("Time"), history_time_text, &history_fit_time, FALSE);
  add_fitted_text_column (self->history_view, _("Session"), history_session_text, &history_fit_session, FALSE);
  add_fitted_text_column (self->history_view, _("Host"), history_host_text, &history_fit_host, TRUE);
  add_fitted_text_column (self->history_view, _("Decision"), history_decision_text, &history_fit_decision, FALSE);
  add_fitted_text_column (self->history_view, _("Duration"), history_duration_text, &history_fit_duration, FALSE);
  add_fitted_text_column (self->history_view, _("Reason"), history_reason_text, &history_fit_reason, TRUE);

  add_history_actions_css (gtk_widget_get_display (GTK_WIDGET (self->history_view)));
  g_signal_connect (factory, "setup", G_CALLBACK (actions_cell_setup_cb), self);
  g_signal_connect (factory, "bind", G_CALLBACK (actions_cell_bind_cb), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (actions_cell_unbind_cb), self);
  column = gtk_column_view_column_new (NULL, factory);
  gtk_column_view_append_column (self->history_view, column);

  text = g_strdup_printf (_("Up to the last %u requests the proxies reported, newest first. Allow Always and Deny Always add the host to the profile of the session that made the request."),
                          HG_HISTORY_MAX_ENTRIES);
  gtk_label_set_text (self->history_label, text);
}

/* Scrolls the history to its first row, the newest. GTK 4.8 has no
 * scroll function on GtkColumnView (gtk_column_view_scroll_to() came in
 * 4.12), so this activates the action `list.scroll-to-item` of the
 * GtkListView inside it, which sets that view's anchor row. */
static void
scroll_history_to_newest (HgSettingsWindow *self)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->history_view));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (GTK_IS_LIST_VIEW (child))
        gtk_widget_activate_action (child, "list.scroll-to-item", "u", 0);
    }
}

/* Keeps the view at the newest rows while it shows the top. The
 * GtkListView of GTK 4.8 keeps its anchor row in place when rows are
 * inserted above it. That is right while the person reads further down,
 * but at the top it hides each new row above the view. The handler runs
 * after the view has taken the change and before the next layout, so the
 * adjustment still contains the position shown. */
static void
history_items_changed_cb (GListModel       *model,
                          guint             position,
                          guint             removed,
                          guint             added,
                          HgSettingsWindow *self)
{
  GtkAdjustment *adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (self->history_view));

  if (added == 0)
    return;

  if (gtk_adjustment_get_value (adjustment) <= gtk_adjustment_get_lower (adjustment))
    scroll_history_to_newest (self);
}

static void
set_history_model (HgSettingsWindow *self,
                   GListModel       *history)
{
  GtkSorter *sorter = GTK_SORTER (gtk_custom_sorter_new (compare_newest_first, NULL, NULL));
  GtkSortListModel *sorted = gtk_sort_list_model_new (g_object_ref (history), sorter);
  g_autoptr(GtkNoSelection) selection = gtk_no_selection_new (G_LIST_MODEL (sorted));

  gtk_column_view_set_model (self->history_view, GTK_SELECTION_MODEL (selection));
  /* Connected after the view, so it runs after the view's handler. */
  g_signal_connect_object (selection, "items-changed", G_CALLBACK (history_items_changed_cb), self, 0);
}

/* The window */

static void
hg_settings_window_map (GtkWidget *widget)
{
  HgSettingsWindow *self = HG_SETTINGS_WINDOW (widget);

  GTK_WIDGET_CLASS (hg_settings_window_parent_class)->map (widget);

  refresh_sessions (self);
  if (self->sessions_timer == 0)
    self->sessions_timer = g_timeout_add_seconds (SESSIONS_REFRESH_SECONDS, sessions_timer_cb, self);
}

static void
hg_settings_window_unmap (GtkWidget *widget)
{
  HgSettingsWindow *self = HG_SETTINGS_WINDOW (widget);

  g_clear_handle_id (&self->sessions_timer, g_source_remove);

  GTK_WIDGET_CLASS (hg_settings_window_parent_class)->unmap (widget);
}

static void
hg_settings_window_dispose (GObject *object)
{
  HgSettingsWindow *self = HG_SETTINGS_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->sessions_timer, g_source_remove);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  if (self->confirm_dialog != NULL)
    gtk_window_destroy (self->confirm_dialog);
  self->confirm_dialog = NULL;

  if (self->sessions_selection != NULL)
    g_signal_handlers_disconnect_by_data (self->sessions_selection, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), HG_TYPE_SETTINGS_WINDOW);
  g_clear_object (&self->sessions_selection);
  g_clear_object (&self->sessions);
  g_clear_object (&self->profile_names);
  g_clear_object (&self->store);
  g_clear_object (&self->server);

  G_OBJECT_CLASS (hg_settings_window_parent_class)->dispose (object);
}

static void
hg_settings_window_finalize (GObject *object)
{
  HgSettingsWindow *self = HG_SETTINGS_WINDOW (object);

  g_free (self->profile);
  g_free (self->renaming_to);
  g_free (self->deleting);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (hg_settings_window_parent_class)->finalize (object);
}

static void
hg_settings_window_class_init (HgSettingsWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = hg_settings_window_dispose;
  object_class->finalize = hg_settings_window_finalize;
  widget_class->map = hg_settings_window_map;
  widget_class->unmap = hg_settings_window_unmap;

  hg_agent_ensure_resources ();
  g_type_ensure (HG_TYPE_PATTERN_LIST);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/hostgate/Agent/hg-settings-window.ui");
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, info_bar);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, info_label);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, profile_dropdown);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, new_button);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, new_popover);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, new_name_entry);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, create_button);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, new_name_error);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, rename_button);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, rename_popover);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, rename_entry);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, rename_confirm_button);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, rename_error);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, delete_button);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, path_label);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, approval_box);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, approval_dropdown);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, timeout_spin);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, allow_list);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, deny_list);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, sessions_view);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, forget_button);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, history_view);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, history_label);
  gtk_widget_class_bind_template_child (widget_class, HgSettingsWindow, history_status);
  gtk_widget_class_bind_template_callback (widget_class, info_bar_response_cb);
  gtk_widget_class_bind_template_callback (widget_class, forget_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, new_popover_show_cb);
  gtk_widget_class_bind_template_callback (widget_class, new_name_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, create_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, rename_popover_show_cb);
  gtk_widget_class_bind_template_callback (widget_class, rename_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, rename_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, delete_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, import_profile_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, export_profile_clicked_cb);
}

/* GtkStack moves the keyboard focus into the page it shows, to its first
 * focusable widget. On the History page that is an Allow Always button,
 * which Space or Enter would press, so the list takes the focus instead. */
static void
stack_page_changed_cb (HgSettingsWindow *self)
{
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "history") == 0)
    gtk_widget_grab_focus (GTK_WIDGET (self->history_view));
}

static void
hg_settings_window_init (HgSettingsWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  self->profile_names = gtk_string_list_new (NULL);
  gtk_drop_down_set_model (self->profile_dropdown, G_LIST_MODEL (self->profile_names));
  gtk_drop_down_set_expression (self->profile_dropdown,
                                gtk_property_expression_new (GTK_TYPE_STRING_OBJECT, NULL, "string"));

  g_signal_connect_swapped (self->profile_dropdown, "notify::selected", G_CALLBACK (profile_selected_cb), self);
  g_signal_connect_swapped (self->approval_dropdown, "notify::selected", G_CALLBACK (approval_changed_cb), self);
  g_signal_connect_swapped (self->timeout_spin, "value-changed", G_CALLBACK (approval_changed_cb), self);
  g_signal_connect (self->timeout_spin, "input", G_CALLBACK (timeout_input_cb), NULL);
  g_signal_connect_swapped (self->stack, "notify::visible-child", G_CALLBACK (stack_page_changed_cb), self);

  setup_sessions_view (self);
  setup_history_view (self);
}

/**
 * hg_settings_window_new:
 * @app: the running agent, whose profile store and server the window
 *   shows
 *
 * Creates the settings window, showing the profile `default`. Like
 * gtk_window_new(), the window belongs to GTK until it is destroyed.
 *
 * Returns: (transfer none): the window
 */
HgSettingsWindow *
hg_settings_window_new (HgApplication *app)
{
  HgSettingsWindow *self;
  HgProfileStore *store;
  HgAgentServer *server;

  g_return_val_if_fail (HG_IS_APPLICATION (app), NULL);

  store = hg_application_get_store (app);
  server = hg_application_get_server (app);
  g_return_val_if_fail (store != NULL, NULL);

  self = g_object_new (HG_TYPE_SETTINGS_WINDOW, "application", app, NULL);
  self->store = g_object_ref (store);
  g_signal_connect_object (store, "changed", G_CALLBACK (store_changed_cb), self, 0);

  if (server != NULL)
    {
      self->server = g_object_ref (server);
      g_signal_connect_object (server, "session-added", G_CALLBACK (session_added_cb), self, 0);
      set_history_model (self, hg_agent_server_get_history (server));
    }

  self->profile = g_strdup ("default");
  refresh_names (self);
  load_profile (self);

  return self;
}

/**
 * hg_settings_window_present:
 * @app: the running agent
 *
 * Shows the settings window of @app, creating it the first time; there
 * is at most one.
 */
void
hg_settings_window_present (HgApplication *app)
{
  g_return_if_fail (HG_IS_APPLICATION (app));

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    {
      if (HG_IS_SETTINGS_WINDOW (l->data))
        {
          gtk_window_present (GTK_WINDOW (l->data));
          return;
        }
    }

  gtk_window_present (GTK_WINDOW (hg_settings_window_new (app)));
}
