/* hg-pattern-list.c: an editor for one allow or deny list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The list shows the entries of one profile list, filtered by a search
 * field, and edits them through the profile store. The entries shown are
 * always the ones last read from disk: an edit is shown only after the
 * store wrote it and the settings window read the profile again, so the
 * list cannot drift from the file.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "hg-pattern-list-io.h"
#include "hg-pattern-list.h"
#include "hg-resources.h"

/* A plain list larger than this is not imported. It is far more than a
 * person's block list, and the store's duplicate check would be slow. */
#define IMPORT_MAX_SIZE (1024 * 1024)

/* How many rejected lines an import report lists by line number. */
#define IMPORT_REPORT_LINES 10

struct _HgPatternList
{
  GtkBox parent_instance;

  GtkLabel *title_label;
  GtkLabel *description_label;
  GtkSearchEntry *search_entry;
  GtkStack *list_stack;
  GtkListView *list_view;
  GtkLabel *empty_label;
  GtkButton *edit_button;
  GtkButton *remove_button;
  GtkButton *import_button;
  GtkButton *export_button;
  GtkEntry *add_entry;
  GtkButton *add_button;
  GtkLabel *error_label;
  GtkScrolledWindow *status_scroll;
  GtkLabel *status_label;

  GtkStringList *entries;
  GtkFilterListModel *filtered;
  GtkSingleSelection *selection;

  gboolean deny;
  HgProfileStore *store;
  char *profile;

  /* The entry being changed with Edit, replaced when the new text is
   * saved; NULL while adding. */
  char *editing;

  /* The text of the add running now. */
  char *adding;

  /* Set while a store edit started here runs, so Add cannot start a
   * second write of the same text. */
  gboolean busy;

  GtkNativeDialog *chooser;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (HgPatternList, hg_pattern_list, GTK_TYPE_BOX)

enum {
  PROP_0,
  PROP_TITLE,
  PROP_DESCRIPTION,
  PROP_DENY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static HgProfileList
list_kind (HgPatternList *list)
{
  return list->deny ? HG_PROFILE_LIST_DENY : HG_PROFILE_LIST_ALLOW;
}

static HgPatternFlags
pattern_flags (HgPatternList *list)
{
  return list->deny ? HG_PATTERN_FLAG_DENY : HG_PATTERN_FLAG_NONE;
}

/* Characters of a message under the add field at most: about five
 * lines of the label, room for the longest German reason after a
 * shortened entry. A longer message, which quotes a long label a second
 * time, would make the window taller. */
#define ERROR_MAX_CHARS 200

/* Returns @message without the profile folder in front of file names,
 * which the banner at the top of the window shows whole. What follows
 * the name, such as the line and column of a parse error, then fits. */
static char *
drop_profile_folder (HgPatternList *list,
                     const char    *message)
{
  g_autofree char *prefix = NULL;
  GString *text = g_string_new (message);

  if (list->store != NULL)
    {
      prefix = g_strconcat (hg_profile_store_get_directory (list->store), G_DIR_SEPARATOR_S, NULL);
      g_string_replace (text, prefix, "", 0);
    }

  return g_string_free (text, FALSE);
}

static void
show_error (HgPatternList *list,
            const char    *message)
{
  g_autofree char *cut = NULL;
  g_autofree char *short_names = NULL;
  glong n_chars = 0;

  if (message != NULL)
    {
      short_names = drop_profile_folder (list, message);
      message = short_names;
      n_chars = g_utf8_strlen (message, -1);
    }

  /* The middle goes, so the start of the entry and the end of the
   * reason stay. */
  if (n_chars > ERROR_MAX_CHARS)
    {
      const char *head_end = g_utf8_offset_to_pointer (message, ERROR_MAX_CHARS / 2);
      const char *tail = g_utf8_offset_to_pointer (message, n_chars - ERROR_MAX_CHARS / 2);

      cut = g_strdup_printf ("%.*s…%s", (int) (head_end - message), message, tail);
      message = cut;
    }

  gtk_label_set_text (list->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (list->error_label), message != NULL);
}

static void
show_status (HgPatternList *list,
             const char    *message,
             gboolean       is_error)
{
  GtkAdjustment *vadjustment = gtk_scrolled_window_get_vadjustment (list->status_scroll);

  gtk_label_set_text (list->status_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (list->status_scroll), message != NULL);
  gtk_adjustment_set_value (vadjustment, gtk_adjustment_get_lower (vadjustment));
  if (is_error)
    gtk_widget_add_css_class (GTK_WIDGET (list->status_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (list->status_label), "error");
}

/* Shows in the status label that @entry, in canonical form, is already
 * on this list. */
static void
show_duplicate (HgPatternList *list,
                const char    *entry,
                gboolean       is_error)
{
  g_autofree char *text = NULL;

  if (list->deny)
    /* Translators: %s is a list entry, such as example.com. */
    text = g_strdup_printf (_("“%s” is already on the deny list."), entry);
  else
    /* Translators: %s is a list entry, such as example.com. */
    text = g_strdup_printf (_("“%s” is already on the allow list."), entry);
  show_status (list, text, is_error);
}

/* Shows that adding @entry took it off the other list, which the person
 * may not have expected. */
static void
show_moved (HgPatternList *list,
            const char    *entry)
{
  g_autofree char *text = NULL;

  if (list->deny)
    /* Translators: %s is a list entry, such as example.com. */
    text = g_strdup_printf (_("“%s” was taken off the allow list, as it is now denied."), entry);
  else
    /* Translators: %s is a list entry, such as example.com. */
    text = g_strdup_printf (_("“%s” was taken off the deny list, as it is now allowed."), entry);
  show_status (list, text, FALSE);
}

static const char *
selected_entry (HgPatternList *list)
{
  GtkStringObject *item = gtk_single_selection_get_selected_item (list->selection);

  return item != NULL ? gtk_string_object_get_string (item) : NULL;
}

static void
update_buttons (HgPatternList *list)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (list->add_entry));
  gboolean has_selection = selected_entry (list) != NULL;
  gboolean valid = FALSE;

  if (text[0] != '\0')
    {
      g_autoptr(HgPattern) pattern = hg_pattern_parse (text, pattern_flags (list), NULL);
      valid = pattern != NULL;
    }

  gtk_widget_set_sensitive (GTK_WIDGET (list->add_button), valid && !list->busy && list->profile != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (list->edit_button), has_selection && !list->busy);
  gtk_widget_set_sensitive (GTK_WIDGET (list->remove_button), has_selection && !list->busy);
  gtk_widget_set_sensitive (GTK_WIDGET (list->import_button), !list->busy && list->profile != NULL);
  gtk_button_set_label (list->add_button, list->editing != NULL ? _("Save") : _("Add"));
}

static void
update_empty_state (HgPatternList *list)
{
  guint n_all = g_list_model_get_n_items (G_LIST_MODEL (list->entries));
  guint n_shown = g_list_model_get_n_items (G_LIST_MODEL (list->filtered));

  if (n_shown > 0)
    {
      gtk_stack_set_visible_child_name (list->list_stack, "list");
      return;
    }

  if (n_all > 0)
    gtk_label_set_text (list->empty_label, _("No entry matches the search."));
  else if (list->deny)
    gtk_label_set_text (list->empty_label, _("No host is denied."));
  else
    gtk_label_set_text (list->empty_label, _("No host is allowed without asking."));
  gtk_stack_set_visible_child_name (list->list_stack, "empty");
}

/* Validates the text as the person types: the Add button stays
 * insensitive and the parser's message shows while it is invalid. */
static void
add_entry_changed_cb (HgPatternList *list)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (list->add_entry));
  g_autoptr(HgPattern) pattern = NULL;
  g_autoptr(GError) error = NULL;

  /* An empty field keeps an edit going: typing over the selected text
   * empties the field for a moment. Escape ends the edit. */
  if (text[0] == '\0')
    {
      show_error (list, NULL);
      update_buttons (list);
      return;
    }

  /* The person types a new entry, so a message about an earlier action
   * no longer applies. */
  show_status (list, NULL, FALSE);

  pattern = hg_pattern_parse (text, pattern_flags (list), &error);
  if (pattern == NULL)
    {
      g_autofree char *message = hg_pattern_list_shorten_message (error->message, text);

      show_error (list, message);
    }
  else
    {
      show_error (list, NULL);
    }
  update_buttons (list);
}

static void
set_busy (HgPatternList *list,
          gboolean       busy)
{
  list->busy = busy;
  update_buttons (list);
}

/* Returns whether the running add is an edit that would turn the edited
 * entry into another one already on the list. A replace never reports
 * the edited entry itself. */
static gboolean
edit_hits_duplicate (HgPatternList      *list,
                     const char * const *duplicates)
{
  return duplicates[0] != NULL && list->editing != NULL;
}

static void
add_done_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  HgPatternList *list;

  if (!hg_profile_store_add_entries_finish (HG_PROFILE_STORE (object), result, &duplicates, &moved, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  list = HG_PATTERN_LIST (user_data);
  set_busy (list, FALSE);

  /* On failure the text stays in the field, so nothing typed is lost. */
  if (error != NULL)
    {
      show_error (list, error->message);
      return;
    }

  /* The store left the file alone. The old entry and the text stay, so
   * the person can type another entry, or press Escape and remove the
   * old one. */
  if (edit_hits_duplicate (list, (const char * const *) duplicates))
    {
      g_clear_pointer (&list->adding, g_free);
      show_duplicate (list, duplicates[0], TRUE);
      return;
    }

  g_clear_pointer (&list->editing, g_free);
  g_clear_pointer (&list->adding, g_free);
  gtk_editable_set_text (GTK_EDITABLE (list->add_entry), "");

  if (duplicates[0] != NULL)
    show_duplicate (list, duplicates[0], FALSE);
  else if (moved[0] != NULL)
    show_moved (list, moved[0]);
  else
    show_status (list, NULL, FALSE);
}

/* Saving an empty field does not remove the edited entry, because
 * Remove is the way to do that. */
static void
refuse_empty_edit (HgPatternList *list)
{
  g_autofree char *text = NULL;

  /* Translators: %s is the list entry being edited. */
  text = g_strdup_printf (_("Type the new entry, or press Escape to keep “%s”."), list->editing);
  show_error (list, text);
}

static void
add_clicked_cb (HgPatternList *list)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (list->add_entry));
  const char *entries[] = { text, NULL };
  g_autoptr(HgPattern) pattern = NULL;
  g_autoptr(GError) error = NULL;

  if (list->busy || list->profile == NULL)
    return;

  if (text[0] == '\0')
    {
      if (list->editing != NULL)
        refuse_empty_edit (list);
      return;
    }

  /* The person types a new entry, so a message about an earlier action
   * no longer applies. */
  show_status (list, NULL, FALSE);

  pattern = hg_pattern_parse (text, pattern_flags (list), &error);
  if (pattern == NULL)
    {
      show_error (list, error->message);
      return;
    }

  set_busy (list, TRUE);
  g_free (list->adding);
  list->adding = g_strdup (text);
  if (list->editing != NULL)
    hg_profile_store_replace_entry_async (list->store, list->profile, list_kind (list),
                                          list->editing, text, list->cancellable,
                                          add_done_cb, list);
  else
    hg_profile_store_add_entries_async (list->store, list->profile, list_kind (list), entries,
                                        list->cancellable, add_done_cb, list);
}

static gboolean
cancel_edit_cb (GtkWidget *widget,
                GVariant  *args,
                gpointer   user_data)
{
  HgPatternList *list = user_data;

  if (list->editing == NULL)
    return FALSE;

  g_clear_pointer (&list->editing, g_free);
  gtk_editable_set_text (GTK_EDITABLE (list->add_entry), "");
  show_error (list, NULL);
  show_status (list, NULL, FALSE);
  update_buttons (list);
  return TRUE;
}

static void
edit_clicked_cb (HgPatternList *list)
{
  const char *entry = selected_entry (list);

  if (entry == NULL)
    return;

  g_free (list->editing);
  list->editing = g_strdup (entry);
  gtk_editable_set_text (GTK_EDITABLE (list->add_entry), entry);
  show_error (list, NULL);
  show_status (list, NULL, FALSE);
  update_buttons (list);
  gtk_widget_grab_focus (GTK_WIDGET (list->add_entry));
}

static void
remove_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  HgPatternList *list;

  if (!hg_profile_store_edit_finish (HG_PROFILE_STORE (object), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  list = HG_PATTERN_LIST (user_data);
  set_busy (list, FALSE);
  show_status (list, error != NULL ? error->message : NULL, TRUE);
}

static void
remove_clicked_cb (HgPatternList *list)
{
  const char *entry = selected_entry (list);

  if (entry == NULL || list->busy || list->profile == NULL)
    return;

  set_busy (list, TRUE);
  hg_profile_store_remove_entry_async (list->store, list->profile, list_kind (list), entry,
                                       list->cancellable, remove_done_cb, list);
}

typedef struct {
  HgPatternList *list;
  char *file_name;
  guint n_valid;
  char *report;
  guint n_rejected;
} ImportData;

static void
import_data_free (ImportData *data)
{
  g_free (data->file_name);
  g_free (data->report);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImportData, import_data_free)

/* Shows what an import did: how many entries were added, how many were
 * on the list already, how many it took off the other list, and each
 * rejected line with its number and the reason. */
static void
show_import_report (HgPatternList *list,
                    ImportData    *data,
                    guint          n_added,
                    guint          n_duplicates,
                    guint          n_moved)
{
  g_autoptr(GString) text = g_string_new (NULL);

  if (n_added > 0)
    g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                               "Added %u entry from “%s”.",
                                               "Added %u entries from “%s”.", n_added),
                            n_added, data->file_name);
  else
    g_string_append_printf (text, _("No entry was added from “%s”."), data->file_name);

  if (n_duplicates > 0)
    {
      g_string_append_c (text, ' ');
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                                 "%u entry was already on the list.",
                                                 "%u entries were already on the list.",
                                                 n_duplicates),
                              n_duplicates);
    }

  if (n_moved > 0)
    {
      g_string_append_c (text, ' ');
      if (list->deny)
        g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                                   "%u entry was taken off the allow list.",
                                                   "%u entries were taken off the allow list.",
                                                   n_moved),
                                n_moved);
      else
        g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                                   "%u entry was taken off the deny list.",
                                                   "%u entries were taken off the deny list.",
                                                   n_moved),
                                n_moved);
    }

  if (data->n_rejected > 0)
    {
      g_string_append_c (text, ' ');
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                                 "%u line is not a valid entry and was left out:",
                                                 "%u lines are not valid entries and were left out:",
                                                 data->n_rejected),
                              data->n_rejected);
      g_string_append_printf (text, "\n%s", data->report);
    }

  show_status (list, text->str, data->n_rejected > 0);
}

static void
import_added_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(ImportData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) duplicates = NULL;
  g_auto(GStrv) moved = NULL;
  HgPatternList *list;
  guint n_duplicates;

  if (!hg_profile_store_add_entries_finish (HG_PROFILE_STORE (object), result, &duplicates, &moved, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  list = data->list;
  set_busy (list, FALSE);
  if (error != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Could not import “%s”: %s"),
                                               data->file_name, error->message);
      show_status (list, text, TRUE);
      return;
    }

  n_duplicates = g_strv_length (duplicates);
  show_import_report (list, data, data->n_valid - n_duplicates, n_duplicates, g_strv_length (moved));
}

static gboolean
import_read_more_cb (const char *file_contents,
                     goffset     file_size,
                     gpointer    user_data)
{
  return file_size <= IMPORT_MAX_SIZE;
}

static void
import_loaded_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(ImportData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_auto(GStrv) valid = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  HgPatternList *list;
  gsize length = 0;

  if (!g_file_load_partial_contents_finish (G_FILE (object), result, &contents, &length, NULL, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  list = data->list;
  if (error == NULL && length > IMPORT_MAX_SIZE)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 _("the file is larger than %u KiB; split it into smaller files"),
                 IMPORT_MAX_SIZE / 1024);

  if (error != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Could not import “%s”: %s"),
                                               data->file_name, error->message);
      set_busy (list, FALSE);
      show_status (list, text, TRUE);
      return;
    }

  hg_pattern_list_parse (contents, length, pattern_flags (list), &valid, &rejected);
  data->n_valid = g_strv_length (valid);
  data->n_rejected = rejected->len;
  data->report = hg_pattern_list_describe_rejections (rejected, IMPORT_REPORT_LINES);

  if (data->n_valid == 0)
    {
      set_busy (list, FALSE);
      show_import_report (list, data, 0, 0, 0);
      return;
    }

  hg_profile_store_add_entries_async (list->store, list->profile, list_kind (list),
                                      (const char * const *) valid, list->cancellable,
                                      import_added_cb, g_steal_pointer (&data));
}

static void
import_response_cb (GtkNativeDialog *chooser,
                    int              response,
                    gpointer         user_data)
{
  HgPatternList *list = user_data;
  g_autoptr(GFile) file = NULL;
  ImportData *data;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  gtk_native_dialog_destroy (chooser);
  g_clear_object (&list->chooser);

  if (file == NULL || list->profile == NULL)
    return;

  data = g_new0 (ImportData, 1);
  data->list = list;
  data->file_name = g_file_get_parse_name (file);
  set_busy (list, TRUE);
  show_status (list, NULL, FALSE);
  g_file_load_partial_contents_async (file, list->cancellable, import_read_more_cb,
                                      import_loaded_cb, data);
}

static GtkFileFilter *
text_filter (void)
{
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Text files"));
  gtk_file_filter_add_mime_type (filter, "text/plain");
  return filter;
}

static GtkFileFilter *
all_files_filter (void)
{
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("All files"));
  gtk_file_filter_add_pattern (filter, "*");
  return filter;
}

static void
open_chooser (HgPatternList        *list,
              const char           *title,
              GtkFileChooserAction  action,
              const char           *accept_label,
              GCallback             response_cb)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (list));
  GtkFileChooserNative *chooser;
  g_autoptr(GtkFileFilter) text = text_filter ();
  g_autoptr(GtkFileFilter) all = all_files_filter ();

  if (list->chooser != NULL)
    gtk_native_dialog_destroy (list->chooser);
  g_clear_object (&list->chooser);

  chooser = gtk_file_chooser_native_new (title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                         action, accept_label, _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), text);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), all);
  list->chooser = GTK_NATIVE_DIALOG (chooser);
  g_signal_connect (chooser, "response", response_cb, list);

  if (action == GTK_FILE_CHOOSER_ACTION_SAVE)
    {
      g_autofree char *name = g_strdup_printf ("%s-%s.txt", list->profile,
                                               list->deny ? "deny" : "allow");
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
    }

  gtk_native_dialog_show (list->chooser);
}

static void
import_clicked_cb (HgPatternList *list)
{
  if (list->profile == NULL || list->busy)
    return;

  open_chooser (list,
                list->deny ? _("Import hosts to deny") : _("Import hosts to allow"),
                GTK_FILE_CHOOSER_ACTION_OPEN, _("_Import"), G_CALLBACK (import_response_cb));
}

static void
export_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *file_name = g_file_get_parse_name (G_FILE (object));
  g_autofree char *text = NULL;
  HgPatternList *list;

  if (!g_file_replace_contents_finish (G_FILE (object), result, NULL, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  list = HG_PATTERN_LIST (user_data);
  if (error != NULL)
    text = g_strdup_printf (_("Could not export to “%s”: %s"), file_name, error->message);
  else
    text = g_strdup_printf (_("Saved the list to “%s”."), file_name);
  show_status (list, text, error != NULL);
}

static GStrv
dup_all_entries (HgPatternList *list)
{
  GListModel *model = G_LIST_MODEL (list->entries);
  guint n = g_list_model_get_n_items (model);
  GStrv entries = g_new0 (char *, n + 1);

  for (guint i = 0; i < n; i++)
    entries[i] = g_strdup (gtk_string_list_get_string (list->entries, i));

  return entries;
}

static void
export_response_cb (GtkNativeDialog *chooser,
                    int              response,
                    gpointer         user_data)
{
  HgPatternList *list = user_data;
  g_autoptr(GFile) file = NULL;
  g_auto(GStrv) entries = NULL;
  g_autofree char *header = NULL;
  g_autoptr(GBytes) bytes = NULL;
  char *text;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  gtk_native_dialog_destroy (chooser);
  g_clear_object (&list->chooser);

  if (file == NULL || list->profile == NULL)
    return;

  entries = dup_all_entries (list);
  header = g_strdup_printf (list->deny ? _("hostgate deny list of the profile “%s”")
                                       : _("hostgate allow list of the profile “%s”"),
                            list->profile);
  text = hg_pattern_list_format ((const char * const *) entries, header);
  bytes = g_bytes_new_take (text, strlen (text));
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE, G_FILE_CREATE_NONE,
                                       list->cancellable, export_done_cb, list);
}

static void
export_clicked_cb (HgPatternList *list)
{
  if (list->profile == NULL)
    return;

  open_chooser (list,
                list->deny ? _("Export the hosts to deny") : _("Export the hosts to allow"),
                GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), G_CALLBACK (export_response_cb));
}

static void
selection_changed_cb (HgPatternList *list)
{
  update_buttons (list);
}

static void
items_changed_cb (HgPatternList *list)
{
  update_empty_state (list);
}

static void
hg_pattern_list_dispose (GObject *object)
{
  HgPatternList *list = HG_PATTERN_LIST (object);

  g_cancellable_cancel (list->cancellable);
  if (list->chooser != NULL)
    gtk_native_dialog_destroy (list->chooser);
  g_clear_object (&list->chooser);
  gtk_widget_dispose_template (GTK_WIDGET (list), HG_TYPE_PATTERN_LIST);
  g_clear_object (&list->selection);
  g_clear_object (&list->store);

  G_OBJECT_CLASS (hg_pattern_list_parent_class)->dispose (object);
}

static void
hg_pattern_list_finalize (GObject *object)
{
  HgPatternList *list = HG_PATTERN_LIST (object);

  g_free (list->profile);
  g_free (list->editing);
  g_free (list->adding);
  g_clear_object (&list->cancellable);

  G_OBJECT_CLASS (hg_pattern_list_parent_class)->finalize (object);
}

static void
hg_pattern_list_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  HgPatternList *list = HG_PATTERN_LIST (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      g_value_set_string (value, gtk_label_get_label (list->title_label));
      break;
    case PROP_DESCRIPTION:
      g_value_set_string (value, gtk_label_get_text (list->description_label));
      break;
    case PROP_DENY:
      g_value_set_boolean (value, list->deny);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_pattern_list_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  HgPatternList *list = HG_PATTERN_LIST (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      gtk_label_set_text_with_mnemonic (list->title_label, g_value_get_string (value));
      break;
    case PROP_DESCRIPTION:
      gtk_label_set_text (list->description_label, g_value_get_string (value));
      break;
    case PROP_DENY:
      list->deny = g_value_get_boolean (value);
      update_empty_state (list);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_pattern_list_class_init (HgPatternListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = hg_pattern_list_dispose;
  object_class->finalize = hg_pattern_list_finalize;
  object_class->get_property = hg_pattern_list_get_property;
  object_class->set_property = hg_pattern_list_set_property;

  /**
   * HgPatternList:title:
   *
   * The heading of the list; an underlined letter, marked with `_`,
   * moves the focus to the add field.
   */
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_DESCRIPTION] =
    g_param_spec_string ("description", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * HgPatternList:deny:
   *
   * Whether the list is a deny list, where `*` is not a valid entry.
   */
  properties[PROP_DENY] =
    g_param_spec_boolean ("deny", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  hg_agent_ensure_resources ();
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/hostgate/Agent/hg-pattern-list.ui");
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, title_label);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, description_label);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, search_entry);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, list_stack);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, list_view);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, empty_label);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, edit_button);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, remove_button);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, import_button);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, export_button);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, add_entry);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, add_button);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, error_label);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, status_scroll);
  gtk_widget_class_bind_template_child (widget_class, HgPatternList, status_label);
  gtk_widget_class_bind_template_callback (widget_class, add_entry_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, add_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, edit_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, remove_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, import_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, export_clicked_cb);
}

static void
hg_pattern_list_init (HgPatternList *list)
{
  GtkStringFilter *filter;
  GtkEventController *escape;

  gtk_widget_init_template (GTK_WIDGET (list));

  list->cancellable = g_cancellable_new ();
  list->entries = gtk_string_list_new (NULL);
  filter = gtk_string_filter_new (gtk_property_expression_new (GTK_TYPE_STRING_OBJECT, NULL, "string"));
  gtk_string_filter_set_match_mode (filter, GTK_STRING_FILTER_MATCH_MODE_SUBSTRING);
  gtk_string_filter_set_ignore_case (filter, TRUE);
  g_object_bind_property (list->search_entry, "text", filter, "search", G_BINDING_DEFAULT);

  /* Each model owns the model it wraps, so the selection owns them all. */
  list->filtered = gtk_filter_list_model_new (G_LIST_MODEL (list->entries), GTK_FILTER (filter));
  list->selection = gtk_single_selection_new (G_LIST_MODEL (list->filtered));
  gtk_single_selection_set_autoselect (list->selection, FALSE);
  gtk_single_selection_set_can_unselect (list->selection, TRUE);
  gtk_list_view_set_model (list->list_view, GTK_SELECTION_MODEL (list->selection));

  g_signal_connect_swapped (list->selection, "selection-changed", G_CALLBACK (selection_changed_cb), list);

  escape = gtk_shortcut_controller_new ();
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (escape),
                                        gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Escape, 0),
                                                          gtk_callback_action_new (cancel_edit_cb, list, NULL)));
  gtk_widget_add_controller (GTK_WIDGET (list->add_entry), escape);
  g_signal_connect_swapped (list->selection, "items-changed", G_CALLBACK (items_changed_cb), list);
  update_empty_state (list);
  update_buttons (list);
}

/**
 * hg_pattern_list_set_profile:
 * @store: the store every edit goes through
 * @profile: (nullable): the profile to edit, or %NULL to edit nothing
 *
 * Points the editor at one profile. The text typed in the add field is
 * kept, so switching profiles does not lose it.
 */
void
hg_pattern_list_set_profile (HgPatternList  *list,
                             HgProfileStore *store,
                             const char     *profile)
{
  g_return_if_fail (HG_IS_PATTERN_LIST (list));
  g_return_if_fail (HG_IS_PROFILE_STORE (store));

  g_set_object (&list->store, store);
  if (g_strcmp0 (list->profile, profile) != 0)
    {
      g_free (list->profile);
      list->profile = g_strdup (profile);
      g_clear_pointer (&list->editing, g_free);
      show_status (list, NULL, FALSE);
    }

  update_buttons (list);
}

/**
 * hg_pattern_list_clear_field:
 * @list: a list editor
 *
 * Empties the add field and ends an Edit, for when the profile the text
 * was typed for is gone.
 */
void
hg_pattern_list_clear_field (HgPatternList *list)
{
  g_return_if_fail (HG_IS_PATTERN_LIST (list));

  g_clear_pointer (&list->editing, g_free);
  gtk_editable_set_text (GTK_EDITABLE (list->add_entry), "");
  show_error (list, NULL);
  update_buttons (list);
}

/**
 * hg_pattern_list_set_entries:
 * @entries: (nullable): the entries now in the profile's list
 *
 * Replaces the entries shown; the search text stays as it is.
 */
void
hg_pattern_list_set_entries (HgPatternList      *list,
                             const char * const *entries)
{
  guint n;

  g_return_if_fail (HG_IS_PATTERN_LIST (list));

  n = g_list_model_get_n_items (G_LIST_MODEL (list->entries));
  gtk_string_list_splice (list->entries, 0, n, entries);
  update_buttons (list);
}
