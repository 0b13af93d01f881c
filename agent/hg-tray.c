/* hg-tray.c: the agent's tray icon and its menu
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * GTK 4 has no status icon, and the appindicator libraries load GTK 3,
 * which must not share a process with GTK 4. So the tray speaks the two
 * D-Bus interfaces tray hosts read: org.kde.StatusNotifierItem for the
 * icon, tooltip and clicks, and com.canonical.dbusmenu for its menu. The
 * item owns a name of the form org.kde.StatusNotifierItem-PID-N and
 * registers it with org.kde.StatusNotifierWatcher, again each time a
 * watcher appears. With no watcher on the bus (GNOME without the
 * AppIndicator extension), waiting prompts are announced with a
 * GNotification instead.
 *
 * The tray never touches a widget: the application connects its
 * signals to the windows.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

#include "hg-resources.h"
#include "hg-agent-session.h"
#include "hg-tray.h"

#define WATCHER_NAME      "org.kde.StatusNotifierWatcher"
#define WATCHER_PATH      "/StatusNotifierWatcher"
#define WATCHER_INTERFACE "org.kde.StatusNotifierWatcher"
#define ITEM_INTERFACE    "org.kde.StatusNotifierItem"
#define MENU_INTERFACE    "com.canonical.dbusmenu"
#define RESOURCE_PREFIX   "/io/github/hostgate/Agent/"

#define ICON_NAME           APPLICATION_ID "-symbolic"
#define ATTENTION_ICON_NAME APPLICATION_ID "-attention-symbolic"
#define PAUSED_ICON_NAME    APPLICATION_ID "-paused-symbolic"

/* The application action a notification activates; its target is the
 * prompt's serial number. Exporting it on the bus only lets a caller
 * bring a prompt window up, never answer it. */
#define SHOW_PROMPT_ACTION "show-prompt"

/* dbusmenu item ids. Prompts get serial numbers from MENU_FIRST_PROMPT
 * up, never reused, so a click on a stale menu cannot reach another
 * prompt. */
enum {
  MENU_ROOT = 0,
  MENU_EMPTY,
  MENU_SEPARATOR,
  MENU_PAUSE,
  MENU_SETTINGS,
  MENU_QUIT,
  MENU_FIRST_PROMPT = 16,
};

struct _HgTray
{
  GObject parent_instance;

  GApplication *application;
  GDBusConnection *connection;
  /* The waiting prompts (HgPrompt), oldest first. */
  GListModel *prompts;
  GSettings *settings;
  GCancellable *cancellable;

  char *bus_name;
  guint item_registration;
  guint menu_registration;
  guint own_id;
  guint watch_id;
  gboolean name_owned;
  gboolean embedded;
  /* Whether the missing tray host was logged, so the message is logged
   * once until a host appears. */
  gboolean host_missing_logged;

  gboolean paused;
  guint n_paused_denials;
  gboolean icon_visible;
  gboolean notifications;

  guint revision;
  /* Serial numbers of the prompts announced by a notification. */
  GHashTable *notified;

  /* The values last announced with NewStatus, NewIcon and NewToolTip. */
  char *status;
  char *icon_name;
  char *tooltip;
};

G_DEFINE_FINAL_TYPE (HgTray, hg_tray, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_APPLICATION,
  PROP_CONNECTION,
  PROP_PAUSED,
  PROP_N_PAUSED_DENIALS,
  PROP_ICON_VISIBLE,
  PROP_NOTIFICATIONS,
  PROP_EMBEDDED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  ACTIVATE,
  SHOW_PROMPT,
  SETTINGS,
  QUIT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static guint next_serial = MENU_FIRST_PROMPT;
static guint n_instances;

static void tray_export (HgTray *tray);
static void tray_unexport (HgTray *tray);
static void sync_prompts (HgTray *tray);

/* Menu item ids and texts, collected fresh for every request. */
typedef struct {
  gint32 id;
  const char *type;
  char *label;
  gboolean enabled;
  int toggle_state;
} MenuEntry;

static void
menu_entry_clear (gpointer data)
{
  MenuEntry *entry = data;

  g_free (entry->label);
}

static GQuark
serial_quark (void)
{
  return g_quark_from_static_string ("hg-tray-serial");
}

/* Returns the serial number that names @prompt in menus and
 * notifications, assigning one on first use. */
static guint
prompt_serial (HgPrompt *prompt)
{
  guint serial = GPOINTER_TO_UINT (g_object_get_qdata (G_OBJECT (prompt), serial_quark ()));

  if (serial == 0)
    {
      serial = next_serial++;
      g_object_set_qdata (G_OBJECT (prompt), serial_quark (), GUINT_TO_POINTER (serial));
    }

  return serial;
}

static HgPrompt *
find_prompt (HgTray *tray,
             guint   serial)
{
  guint n = g_list_model_get_n_items (tray->prompts);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(HgPrompt) prompt = g_list_model_get_item (tray->prompts, i);

      if (prompt_serial (prompt) == serial)
        return g_steal_pointer (&prompt);
    }

  return NULL;
}

static char *
format_target (HgPrompt *prompt)
{
  const char *host = hg_prompt_get_host (prompt);

  /* An IPv6 address needs brackets before the port; the proxy may send
   * it with or without them. */
  if (strchr (host, ':') != NULL && host[0] != '[')
    return g_strdup_printf ("[%s]:%u", host, hg_prompt_get_port (prompt));

  return g_strdup_printf ("%s:%u", host, hg_prompt_get_port (prompt));
}

static const char *
prompt_label (HgPrompt *prompt)
{
  HgAgentSession *session = hg_prompt_get_session (prompt);
  const char *label;

  if (session == NULL)
    return NULL;

  label = hg_agent_session_get_label (session);
  if (label == NULL || label[0] == '\0')
    return NULL;

  return label;
}

/* Returns "HOST:PORT — LABEL", with each `_` doubled because dbusmenu
 * reads a single one as a mnemonic. */
static char *
describe_prompt (HgPrompt *prompt)
{
  g_autofree char *target = format_target (prompt);
  const char *label = prompt_label (prompt);
  g_autofree char *text = NULL;
  g_auto(GStrv) parts = NULL;

  if (label == NULL)
    text = g_steal_pointer (&target);
  else
    /* Translators: a tray menu item; the first %s is HOST:PORT, the
     * second the name of the program that wants to reach it. */
    text = g_strdup_printf (_("%s — %s"), target, label);

  parts = g_strsplit (text, "_", -1);
  return g_strjoinv ("__", parts);
}

static void
add_entry (GArray     *entries,
           gint32      id,
           const char *type,
           const char *label,
           gboolean    enabled,
           int         toggle_state)
{
  MenuEntry entry = { id, type, g_strdup (label), enabled, toggle_state };

  g_array_append_val (entries, entry);
}

static GArray *
collect_entries (HgTray *tray)
{
  GArray *entries = g_array_new (FALSE, TRUE, sizeof (MenuEntry));
  guint n = g_list_model_get_n_items (tray->prompts);

  g_array_set_clear_func (entries, menu_entry_clear);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(HgPrompt) prompt = g_list_model_get_item (tray->prompts, i);
      g_autofree char *label = describe_prompt (prompt);

      add_entry (entries, prompt_serial (prompt), "standard", label, TRUE, -1);
    }

  if (n == 0)
    add_entry (entries, MENU_EMPTY, "standard", _("No requests waiting"), FALSE, -1);

  add_entry (entries, MENU_SEPARATOR, "separator", NULL, TRUE, -1);
  add_entry (entries, MENU_PAUSE, "standard", _("_Pause Prompts"), TRUE, tray->paused ? 1 : 0);
  add_entry (entries, MENU_SETTINGS, "standard", _("_Settings…"), TRUE, -1);
  add_entry (entries, MENU_QUIT, "standard", _("_Quit"), TRUE, -1);

  return entries;
}

static const MenuEntry *
find_entry (GArray *entries,
            gint32  id)
{
  for (guint i = 0; i < entries->len; i++)
    {
      const MenuEntry *entry = &g_array_index (entries, MenuEntry, i);

      if (entry->id == id)
        return entry;
    }

  return NULL;
}

/* Adds @value unless @names lists properties and @name is not among
 * them. Takes @value's floating reference either way. */
static void
add_menu_property (GVariantBuilder    *builder,
                   const char * const *names,
                   const char         *name,
                   GVariant           *value)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);

  if (names != NULL && names[0] != NULL && !g_strv_contains (names, name))
    return;

  g_variant_builder_add (builder, "{sv}", name, owned);
}

static GVariant *
entry_properties (const MenuEntry    *entry,
                  const char * const *names)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);

  if (g_str_equal (entry->type, "separator"))
    {
      add_menu_property (&builder, names, "type", g_variant_new_string ("separator"));
      return g_variant_builder_end (&builder);
    }

  add_menu_property (&builder, names, "label", g_variant_new_string (entry->label));
  add_menu_property (&builder, names, "enabled", g_variant_new_boolean (entry->enabled));
  add_menu_property (&builder, names, "visible", g_variant_new_boolean (TRUE));
  if (entry->toggle_state >= 0)
    {
      add_menu_property (&builder, names, "toggle-type", g_variant_new_string ("checkmark"));
      add_menu_property (&builder, names, "toggle-state", g_variant_new_int32 (entry->toggle_state));
    }

  return g_variant_builder_end (&builder);
}

static GVariant *
entry_layout (const MenuEntry    *entry,
              const char * const *names)
{
  return g_variant_new ("(i@a{sv}@av)", entry->id, entry_properties (entry, names),
                        g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0));
}

static GVariant *
root_layout (GArray             *entries,
             int                 depth,
             const char * const *names)
{
  GVariantBuilder props;
  GVariantBuilder children;

  g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
  add_menu_property (&props, names, "children-display", g_variant_new_string ("submenu"));

  g_variant_builder_init (&children, G_VARIANT_TYPE ("av"));
  if (depth != 0)
    {
      for (guint i = 0; i < entries->len; i++)
        g_variant_builder_add (&children, "v",
                               entry_layout (&g_array_index (entries, MenuEntry, i), names));
    }

  return g_variant_new ("(ia{sv}av)", MENU_ROOT, &props, &children);
}

static char *
dup_status (HgTray *tray)
{
  if (g_list_model_get_n_items (tray->prompts) > 0)
    return g_strdup ("NeedsAttention");

  return g_strdup ("Active");
}

static char *
dup_icon_name (HgTray *tray)
{
  return g_strdup (tray->paused ? PAUSED_ICON_NAME : ICON_NAME);
}

static char *
dup_tooltip (HgTray *tray)
{
  guint n = g_list_model_get_n_items (tray->prompts);
  g_autofree char *waiting = NULL;

  if (n == 0)
    waiting = g_strdup (_("No requests waiting"));
  else
    waiting = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u request waiting",
                                            "%u requests waiting", n), n);

  if (!tray->paused)
    return g_steal_pointer (&waiting);

  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "Prompts paused: %u request denied\n%s",
                                       "Prompts paused: %u requests denied\n%s",
                                       tray->n_paused_denials),
                          tray->n_paused_denials, waiting);
}

static void
emit_item_signal (HgTray     *tray,
                  const char *name,
                  GVariant   *parameters)
{
  g_autoptr(GError) error = NULL;

  if (tray->item_registration == 0)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return;
    }

  if (!g_dbus_connection_emit_signal (tray->connection, NULL, HG_TRAY_ITEM_PATH, ITEM_INTERFACE,
                                      name, parameters, &error))
    g_debug ("Could not emit %s: %s", name, error->message);
}

static void
emit_menu_signal (HgTray     *tray,
                  const char *name,
                  GVariant   *parameters)
{
  g_autoptr(GError) error = NULL;

  if (tray->menu_registration == 0)
    {
      g_variant_unref (g_variant_ref_sink (parameters));
      return;
    }

  if (!g_dbus_connection_emit_signal (tray->connection, NULL, HG_TRAY_MENU_PATH, MENU_INTERFACE,
                                      name, parameters, &error))
    g_debug ("Could not emit %s: %s", name, error->message);
}

/* Replaces *@last with @value and returns whether it changed. */
static gboolean
replace_string (char **last,
                char  *value)
{
  gboolean changed = g_strcmp0 (*last, value) != 0;

  g_free (*last);
  *last = value;
  return changed;
}

/* Emits NewStatus, NewIcon and NewToolTip for the values that differ
 * from the ones last sent to the tray host. */
static void
update_item (HgTray *tray)
{
  if (replace_string (&tray->status, dup_status (tray)))
    emit_item_signal (tray, "NewStatus", g_variant_new ("(s)", tray->status));
  if (replace_string (&tray->icon_name, dup_icon_name (tray)))
    emit_item_signal (tray, "NewIcon", NULL);
  if (replace_string (&tray->tooltip, dup_tooltip (tray)))
    emit_item_signal (tray, "NewToolTip", NULL);
}

static void
emit_pause_state (HgTray *tray)
{
  GVariantBuilder updated;
  GVariantBuilder props;

  g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&props, "{sv}", "toggle-state", g_variant_new_int32 (tray->paused ? 1 : 0));

  g_variant_builder_init (&updated, G_VARIANT_TYPE ("a(ia{sv})"));
  g_variant_builder_add (&updated, "(ia{sv})", MENU_PAUSE, &props);

  emit_menu_signal (tray, "ItemsPropertiesUpdated",
                    g_variant_new ("(a(ia{sv})a(ias))", &updated, NULL));
}

static void
hg_tray_real_activate (HgTray *tray)
{
  g_autoptr(HgPrompt) prompt = NULL;

  if (g_list_model_get_n_items (tray->prompts) == 0)
    {
      g_signal_emit (tray, signals[SETTINGS], 0);
      return;
    }

  prompt = g_list_model_get_item (tray->prompts, 0);
  g_signal_emit (tray, signals[SHOW_PROMPT], 0, prompt);
}

static void
click_entry (HgTray *tray,
             gint32  id)
{
  g_autoptr(HgPrompt) prompt = NULL;

  switch (id)
    {
    case MENU_PAUSE:
      hg_tray_set_paused (tray, !tray->paused);
      return;

    case MENU_SETTINGS:
      g_signal_emit (tray, signals[SETTINGS], 0);
      return;

    case MENU_QUIT:
      g_signal_emit (tray, signals[QUIT], 0);
      return;

    default:
      break;
    }

  if (id < MENU_FIRST_PROMPT)
    return;

  prompt = find_prompt (tray, (guint) id);
  if (prompt != NULL)
    g_signal_emit (tray, signals[SHOW_PROMPT], 0, prompt);
}

/* The D-Bus callbacks hold the tray weakly, so a call that arrives while
 * the tray is being disposed finds nothing instead of freed memory. */
static gpointer
weak_ref_new (HgTray *tray)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, tray);
  return ref;
}

static void
weak_ref_free (gpointer data)
{
  GWeakRef *ref = data;

  g_weak_ref_clear (ref);
  g_free (ref);
}

static void
weak_ref_closure_free (gpointer  data,
                       GClosure *closure)
{
  weak_ref_free (data);
}

static void
item_method_call_cb (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *object_path,
                     const char            *interface_name,
                     const char            *method_name,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  g_autoptr(HgTray) tray = g_weak_ref_get (user_data);

  g_dbus_method_invocation_return_value (invocation, NULL);

  if (tray != NULL && g_str_equal (method_name, "Activate"))
    g_signal_emit (tray, signals[ACTIVATE], 0);
}

static GVariant *
empty_pixmaps (void)
{
  return g_variant_new_array (G_VARIANT_TYPE ("(iiay)"), NULL, 0);
}

static GVariant *
item_get_property_cb (GDBusConnection  *connection,
                      const char       *sender,
                      const char       *object_path,
                      const char       *interface_name,
                      const char       *property_name,
                      GError          **error,
                      gpointer          user_data)
{
  g_autoptr(HgTray) tray = g_weak_ref_get (user_data);

  if (tray == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT, "The tray icon is gone");
      return NULL;
    }

  if (g_str_equal (property_name, "Category"))
    return g_variant_new_string ("ApplicationStatus");
  if (g_str_equal (property_name, "Id"))
    return g_variant_new_string (APPLICATION_ID);
  if (g_str_equal (property_name, "Title"))
    return g_variant_new_string ("hostgate");
  if (g_str_equal (property_name, "Status"))
    return g_variant_new_string (tray->status);
  if (g_str_equal (property_name, "WindowId"))
    return g_variant_new_int32 (0);
  if (g_str_equal (property_name, "IconName"))
    return g_variant_new_string (tray->icon_name);
  if (g_str_equal (property_name, "AttentionIconName"))
    return g_variant_new_string (ATTENTION_ICON_NAME);
  if (g_str_equal (property_name, "ToolTip"))
    return g_variant_new ("(s@a(iiay)ss)", tray->icon_name, empty_pixmaps (),
                          "hostgate", tray->tooltip);
  if (g_str_equal (property_name, "ItemIsMenu"))
    return g_variant_new_boolean (FALSE);
  if (g_str_equal (property_name, "Menu"))
    return g_variant_new_object_path (HG_TRAY_MENU_PATH);
  if (g_str_has_suffix (property_name, "Pixmap"))
    return empty_pixmaps ();

  /* IconThemePath, OverlayIconName and AttentionMovieName: the icons
   * come from the installed icon theme, so these stay empty. */
  return g_variant_new_string ("");
}

static const GDBusInterfaceVTable item_vtable = {
  item_method_call_cb,
  item_get_property_cb,
  NULL,
  { 0 }
};

static void
return_unknown_item (GDBusMethodInvocation *invocation,
                     gint32                 id)
{
  g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                         "No menu item has the id %d", id);
}

static void
menu_get_layout (HgTray                *tray,
                 GVariant              *parameters,
                 GDBusMethodInvocation *invocation)
{
  g_autoptr(GArray) entries = collect_entries (tray);
  g_autofree const char **names = NULL;
  const MenuEntry *entry;
  gint32 parent;
  gint32 depth;
  GVariant *layout;

  g_variant_get (parameters, "(ii^a&s)", &parent, &depth, &names);

  if (parent == MENU_ROOT)
    layout = root_layout (entries, depth, names);
  else if ((entry = find_entry (entries, parent)) != NULL)
    layout = entry_layout (entry, names);
  else
    {
      return_unknown_item (invocation, parent);
      return;
    }

  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(u@(ia{sv}av))", tray->revision, layout));
}

static void
menu_get_group_properties (HgTray                *tray,
                           GVariant              *parameters,
                           GDBusMethodInvocation *invocation)
{
  g_autoptr(GArray) entries = collect_entries (tray);
  g_autoptr(GVariant) ids = NULL;
  g_autofree const char **names = NULL;
  GVariantBuilder result;
  gsize n_ids;
  const gint32 *id_list;

  g_variant_get (parameters, "(@ai^a&s)", &ids, &names);
  id_list = g_variant_get_fixed_array (ids, &n_ids, sizeof (gint32));

  g_variant_builder_init (&result, G_VARIANT_TYPE ("a(ia{sv})"));
  for (guint i = 0; i < entries->len; i++)
    {
      const MenuEntry *entry = &g_array_index (entries, MenuEntry, i);
      gboolean wanted = n_ids == 0;

      for (gsize j = 0; j < n_ids && !wanted; j++)
        wanted = id_list[j] == entry->id;

      if (wanted)
        g_variant_builder_add (&result, "(i@a{sv})", entry->id, entry_properties (entry, names));
    }

  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a(ia{sv}))", &result));
}

static void
menu_get_property (HgTray                *tray,
                   GVariant              *parameters,
                   GDBusMethodInvocation *invocation)
{
  g_autoptr(GArray) entries = collect_entries (tray);
  g_autoptr(GVariant) props = NULL;
  g_autoptr(GVariant) value = NULL;
  const char *names[2] = { NULL, NULL };
  const MenuEntry *entry;
  gint32 id;

  g_variant_get (parameters, "(i&s)", &id, &names[0]);

  entry = find_entry (entries, id);
  if (entry == NULL)
    {
      return_unknown_item (invocation, id);
      return;
    }

  props = g_variant_ref_sink (entry_properties (entry, names));
  value = g_variant_lookup_value (props, names[0], NULL);
  if (value == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                             "Menu item %d has no property \"%s\"", id, names[0]);
      return;
    }

  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(v)", value));
}

static gboolean
is_menu_item (HgTray *tray,
              gint32  id)
{
  g_autoptr(GArray) entries = NULL;

  if (id == MENU_ROOT)
    return TRUE;

  entries = collect_entries (tray);
  return find_entry (entries, id) != NULL;
}

/* Replies before running the click, so that a handler that ends the
 * program (Quit) does not leave the tray host without a reply. Hover,
 * open and close events need no action. */
static void
menu_event (HgTray                *tray,
            GVariant              *parameters,
            GDBusMethodInvocation *invocation)
{
  gint32 id;
  const char *event_id;

  g_variant_get (parameters, "(i&svu)", &id, &event_id, NULL, NULL);
  if (!is_menu_item (tray, id))
    {
      return_unknown_item (invocation, id);
      return;
    }

  g_dbus_method_invocation_return_value (invocation, NULL);
  if (g_str_equal (event_id, "clicked"))
    click_entry (tray, id);
}

static void
menu_event_group (HgTray                *tray,
                  GVariant              *parameters,
                  GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariantIter) iter = NULL;
  g_autoptr(GArray) clicks = g_array_new (FALSE, FALSE, sizeof (gint32));
  GVariantBuilder errors;
  gsize n_events;
  gsize n_errors = 0;
  gint32 id;
  const char *event_id;

  g_variant_get (parameters, "(a(isvu))", &iter);
  n_events = g_variant_iter_n_children (iter);
  g_variant_builder_init (&errors, G_VARIANT_TYPE ("ai"));

  while (g_variant_iter_loop (iter, "(i&svu)", &id, &event_id, NULL, NULL))
    {
      if (!is_menu_item (tray, id))
        {
          g_variant_builder_add (&errors, "i", id);
          n_errors++;
        }
      else if (g_str_equal (event_id, "clicked"))
        g_array_append_val (clicks, id);
    }

  if (n_events > 0 && n_errors == n_events)
    {
      g_variant_builder_clear (&errors);
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                             "None of the events names a menu item");
      return;
    }

  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(ai)", &errors));
  for (guint i = 0; i < clicks->len; i++)
    click_entry (tray, g_array_index (clicks, gint32, i));
}

static void
menu_method_call_cb (GDBusConnection       *connection,
                     const char            *sender,
                     const char            *object_path,
                     const char            *interface_name,
                     const char            *method_name,
                     GVariant              *parameters,
                     GDBusMethodInvocation *invocation,
                     gpointer               user_data)
{
  g_autoptr(HgTray) tray = g_weak_ref_get (user_data);

  if (tray == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                                             "The tray menu is gone");
      return;
    }

  if (g_str_equal (method_name, "GetLayout"))
    menu_get_layout (tray, parameters, invocation);
  else if (g_str_equal (method_name, "GetGroupProperties"))
    menu_get_group_properties (tray, parameters, invocation);
  else if (g_str_equal (method_name, "GetProperty"))
    menu_get_property (tray, parameters, invocation);
  else if (g_str_equal (method_name, "EventGroup"))
    menu_event_group (tray, parameters, invocation);
  else if (g_str_equal (method_name, "AboutToShow"))
    /* The menu announces its own changes with LayoutUpdated. */
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(b)", FALSE));
  else if (g_str_equal (method_name, "AboutToShowGroup"))
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(@ai@ai)",
                                           g_variant_new_array (G_VARIANT_TYPE_INT32, NULL, 0),
                                           g_variant_new_array (G_VARIANT_TYPE_INT32, NULL, 0)));
  else if (g_str_equal (method_name, "Event"))
    menu_event (tray, parameters, invocation);
  else
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "Unknown method %s", method_name);
}

static GVariant *
menu_get_property_cb (GDBusConnection  *connection,
                      const char       *sender,
                      const char       *object_path,
                      const char       *interface_name,
                      const char       *property_name,
                      GError          **error,
                      gpointer          user_data)
{
  g_autoptr(HgTray) tray = g_weak_ref_get (user_data);
  gboolean attention = tray != NULL && g_list_model_get_n_items (tray->prompts) > 0;

  if (g_str_equal (property_name, "Version"))
    return g_variant_new_uint32 (3);
  if (g_str_equal (property_name, "TextDirection"))
    return g_variant_new_string ("ltr");
  if (g_str_equal (property_name, "Status"))
    return g_variant_new_string (attention ? "notice" : "normal");

  return g_variant_new_strv (NULL, 0);
}

static const GDBusInterfaceVTable menu_vtable = {
  menu_method_call_cb,
  menu_get_property_cb,
  NULL,
  { 0 }
};

/* Returns the interface @name described by the introspection file @file
 * in the agent's resources. The parsed node stays for the process. */
static GDBusInterfaceInfo *
lookup_interface (const char *file,
                  const char *name)
{
  static GHashTable *nodes;
  g_autofree char *path = g_strconcat (RESOURCE_PREFIX, file, NULL);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  GDBusNodeInfo *node;

  if (nodes == NULL)
    nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) g_dbus_node_info_unref);

  node = g_hash_table_lookup (nodes, path);
  if (node == NULL)
    {
      hg_agent_ensure_resources ();

      bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
      if (bytes != NULL)
        node = g_dbus_node_info_new_for_xml (g_bytes_get_data (bytes, NULL), &error);
      if (node == NULL)
        {
          /* Translators: the first %s is a D-Bus interface name, the
           * second the path of a resource in the program and the last
           * an error message. */
          g_critical (_("Could not load the D-Bus interface %s from %s: %s"), name, path,
                      error->message);
          return NULL;
        }
      g_hash_table_insert (nodes, g_steal_pointer (&path), node);
    }

  return g_dbus_node_info_lookup_interface (node, name);
}

static void
set_embedded (HgTray   *tray,
              gboolean  embedded)
{
  if (tray->embedded == embedded)
    return;

  tray->embedded = embedded;
  g_object_notify_by_pspec (G_OBJECT (tray), properties[PROP_EMBEDDED]);
  sync_prompts (tray);
}

static void
register_item_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(HgTray) tray = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (reply == NULL)
    {
      /* Translators: the first %s is the D-Bus name of the tray icon, the
       * second an error message. */
      g_message (_("Could not register the tray icon %s with the tray host: %s"), tray->bus_name,
                 error->message);
      set_embedded (tray, FALSE);
      return;
    }

  g_debug ("Registered the tray icon %s", tray->bus_name);
  if (tray->host_missing_logged)
    g_message (_("A tray host appeared on the session bus and shows the tray icon"));
  tray->host_missing_logged = FALSE;
  set_embedded (tray, TRUE);
}

static void
watcher_appeared_cb (GDBusConnection *connection,
                     const char      *name,
                     const char      *name_owner,
                     gpointer         user_data)
{
  HgTray *tray = user_data;

  /* Watchers take the item's bus name. An item without one passes its
   * object path, which KDE's watcher pairs with the caller's unique
   * name. */
  g_dbus_connection_call (connection, name_owner, WATCHER_PATH, WATCHER_INTERFACE,
                          "RegisterStatusNotifierItem",
                          g_variant_new ("(s)", tray->name_owned ? tray->bus_name : HG_TRAY_ITEM_PATH),
                          NULL, G_DBUS_CALL_FLAGS_NONE, -1, tray->cancellable,
                          register_item_cb, g_object_ref (tray));
}

static void
watcher_vanished_cb (GDBusConnection *connection,
                     const char      *name,
                     gpointer         user_data)
{
  HgTray *tray = user_data;

  if (!tray->host_missing_logged)
    {
      /* Translators: %s is a D-Bus name. hostgate-agent is a command. */
      g_message (_("No tray host (%s) runs on the session bus, so the tray icon is not "
                   "shown. Run hostgate-agent again to open the settings."), WATCHER_NAME);
      tray->host_missing_logged = TRUE;
    }
  set_embedded (tray, FALSE);
}

static void
start_watching (HgTray *tray)
{
  if (tray->watch_id != 0)
    return;

  tray->watch_id = g_bus_watch_name_on_connection (tray->connection, WATCHER_NAME,
                                                   G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                   watcher_appeared_cb, watcher_vanished_cb,
                                                   tray, NULL);
}

static void
name_acquired_cb (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  HgTray *tray = user_data;

  tray->name_owned = TRUE;
  start_watching (tray);
}

static void
name_lost_cb (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  HgTray *tray = user_data;

  if (tray->name_owned)
    g_message (_("Lost the bus name %s of the tray icon"), name);
  else
    g_message (_("Could not own the bus name %s; registering the tray icon by object path"), name);

  tray->name_owned = FALSE;
  start_watching (tray);
}

static void
tray_export (HgTray *tray)
{
  g_autoptr(GError) error = NULL;
  GDBusInterfaceInfo *item_info = lookup_interface ("org.kde.StatusNotifierItem.xml", ITEM_INTERFACE);
  GDBusInterfaceInfo *menu_info = lookup_interface ("com.canonical.dbusmenu.xml", MENU_INTERFACE);

  if (tray->connection == NULL || tray->item_registration != 0)
    return;
  if (item_info == NULL || menu_info == NULL)
    return;

  tray->item_registration =
    g_dbus_connection_register_object (tray->connection, HG_TRAY_ITEM_PATH, item_info, &item_vtable,
                                       weak_ref_new (tray), weak_ref_free, &error);
  if (tray->item_registration != 0)
    tray->menu_registration =
      g_dbus_connection_register_object (tray->connection, HG_TRAY_MENU_PATH, menu_info,
                                         &menu_vtable, weak_ref_new (tray), weak_ref_free, &error);
  if (tray->menu_registration == 0)
    {
      g_warning (_("Could not export the tray icon: %s"), error->message);
      tray_unexport (tray);
      return;
    }

  tray->cancellable = g_cancellable_new ();
  tray->own_id = g_bus_own_name_on_connection (tray->connection, tray->bus_name,
                                               G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                               name_acquired_cb, name_lost_cb, tray, NULL);
}

static void
tray_unexport (HgTray *tray)
{
  g_cancellable_cancel (tray->cancellable);
  g_clear_object (&tray->cancellable);
  g_clear_handle_id (&tray->watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&tray->own_id, g_bus_unown_name);
  tray->name_owned = FALSE;

  if (tray->menu_registration != 0)
    g_dbus_connection_unregister_object (tray->connection, tray->menu_registration);
  if (tray->item_registration != 0)
    g_dbus_connection_unregister_object (tray->connection, tray->item_registration);
  tray->menu_registration = 0;
  tray->item_registration = 0;

  set_embedded (tray, FALSE);
}

static char *
notification_id (guint serial)
{
  return g_strdup_printf ("prompt-%u", serial);
}

static void
send_notification (HgTray   *tray,
                   HgPrompt *prompt)
{
  g_autoptr(GNotification) notification = g_notification_new (_("Network access request"));
  g_autofree char *target = format_target (prompt);
  g_autofree char *body = NULL;
  g_autofree char *id = notification_id (prompt_serial (prompt));
  const char *label = prompt_label (prompt);

  if (label != NULL)
    /* Translators: the first %s is a program's name, the second HOST:PORT. */
    body = g_strdup_printf (_("%s wants to connect to %s"), label, target);
  else
    body = g_strdup_printf (_("A program wants to connect to %s"), target);

  g_notification_set_body (notification, body);
  g_notification_set_priority (notification, G_NOTIFICATION_PRIORITY_HIGH);
  g_notification_set_default_action_and_target (notification, "app." SHOW_PROMPT_ACTION, "u",
                                                prompt_serial (prompt));
  g_application_send_notification (tray->application, id, notification);
}

/* Announces each waiting prompt once with a notification while no tray
 * host shows the icon, and withdraws the notifications of prompts that
 * are gone or once a tray host shows them. */
static void
sync_notifications (HgTray *tray)
{
  /* GIO sends notifications over the session bus and fails assertions
   * without one. */
  gboolean wanted = tray->application != NULL && tray->connection != NULL && tray->notifications
                    && !tray->embedded && g_application_get_is_registered (tray->application);
  g_autoptr(GHashTable) waiting = g_hash_table_new (NULL, NULL);
  guint n = g_list_model_get_n_items (tray->prompts);
  GHashTableIter iter;
  gpointer key;

  for (guint i = 0; i < n && wanted; i++)
    {
      g_autoptr(HgPrompt) prompt = g_list_model_get_item (tray->prompts, i);
      guint serial = prompt_serial (prompt);

      g_hash_table_add (waiting, GUINT_TO_POINTER (serial));
      if (g_hash_table_add (tray->notified, GUINT_TO_POINTER (serial)))
        send_notification (tray, prompt);
    }

  g_hash_table_iter_init (&iter, tray->notified);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *id = NULL;

      if (g_hash_table_contains (waiting, key))
        continue;

      id = notification_id (GPOINTER_TO_UINT (key));
      if (tray->application != NULL)
        g_application_withdraw_notification (tray->application, id);
      g_hash_table_iter_remove (&iter);
    }
}

static void
sync_prompts (HgTray *tray)
{
  update_item (tray);
  sync_notifications (tray);
}

static void
prompts_changed_cb (GListModel *model,
                    guint       position,
                    guint       removed,
                    guint       added,
                    gpointer    user_data)
{
  HgTray *tray = user_data;

  tray->revision++;
  emit_menu_signal (tray, "LayoutUpdated", g_variant_new ("(ui)", tray->revision, MENU_ROOT));
  sync_prompts (tray);
}

static void
show_prompt_action_cb (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  g_autoptr(HgTray) tray = g_weak_ref_get (user_data);
  g_autoptr(HgPrompt) prompt = NULL;

  if (tray == NULL)
    return;

  prompt = find_prompt (tray, g_variant_get_uint32 (parameter));
  if (prompt == NULL)
    {
      g_debug ("The prompt of notification %u was already answered", g_variant_get_uint32 (parameter));
      return;
    }

  g_signal_emit (tray, signals[SHOW_PROMPT], 0, prompt);
}

static void
add_show_prompt_action (HgTray *tray)
{
  g_autoptr(GSimpleAction) action = g_simple_action_new (SHOW_PROMPT_ACTION, G_VARIANT_TYPE_UINT32);

  g_signal_connect_data (action, "activate", G_CALLBACK (show_prompt_action_cb),
                         weak_ref_new (tray), weak_ref_closure_free, 0);
  g_action_map_add_action (G_ACTION_MAP (tray->application), G_ACTION (action));
}

static void
hg_tray_constructed (GObject *object)
{
  HgTray *tray = HG_TRAY (object);

  G_OBJECT_CLASS (hg_tray_parent_class)->constructed (object);

  tray->bus_name = g_strdup_printf ("org.kde.StatusNotifierItem-%d-%u", (int) getpid (),
                                    ++n_instances);
  tray->status = dup_status (tray);
  tray->icon_name = dup_icon_name (tray);
  tray->tooltip = dup_tooltip (tray);

  g_signal_connect (tray->prompts, "items-changed", G_CALLBACK (prompts_changed_cb), tray);
  if (tray->application != NULL && G_IS_ACTION_MAP (tray->application))
    add_show_prompt_action (tray);

  if (tray->icon_visible)
    tray_export (tray);
  sync_prompts (tray);
}

static void
hg_tray_dispose (GObject *object)
{
  HgTray *tray = HG_TRAY (object);

  /* Withdrawing the notifications before leaving the tray host keeps
   * the waiting prompts from being announced once more on the way out. */
  tray->notifications = FALSE;
  sync_notifications (tray);
  if (tray->settings != NULL)
    {
      g_settings_unbind (tray, "icon-visible");
      g_settings_unbind (tray, "notifications");
    }
  if (tray->connection != NULL)
    tray_unexport (tray);
  if (tray->application != NULL && G_IS_ACTION_MAP (tray->application))
    g_action_map_remove_action (G_ACTION_MAP (tray->application), SHOW_PROMPT_ACTION);

  g_clear_object (&tray->settings);
  g_clear_object (&tray->application);
  g_clear_object (&tray->connection);
  g_signal_handlers_disconnect_by_data (tray->prompts, tray);
  g_list_store_remove_all (G_LIST_STORE (tray->prompts));

  G_OBJECT_CLASS (hg_tray_parent_class)->dispose (object);
}

static void
hg_tray_finalize (GObject *object)
{
  HgTray *tray = HG_TRAY (object);

  g_hash_table_unref (tray->notified);
  g_object_unref (tray->prompts);
  g_free (tray->bus_name);
  g_free (tray->status);
  g_free (tray->icon_name);
  g_free (tray->tooltip);

  G_OBJECT_CLASS (hg_tray_parent_class)->finalize (object);
}

static void
hg_tray_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  HgTray *tray = HG_TRAY (object);

  switch (prop_id)
    {
    case PROP_APPLICATION:
      g_value_set_object (value, tray->application);
      break;
    case PROP_CONNECTION:
      g_value_set_object (value, tray->connection);
      break;
    case PROP_PAUSED:
      g_value_set_boolean (value, tray->paused);
      break;
    case PROP_N_PAUSED_DENIALS:
      g_value_set_uint (value, tray->n_paused_denials);
      break;
    case PROP_ICON_VISIBLE:
      g_value_set_boolean (value, tray->icon_visible);
      break;
    case PROP_NOTIFICATIONS:
      g_value_set_boolean (value, tray->notifications);
      break;
    case PROP_EMBEDDED:
      g_value_set_boolean (value, tray->embedded);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_tray_set_property (GObject      *object,
                      guint         prop_id,
                      const GValue *value,
                      GParamSpec   *pspec)
{
  HgTray *tray = HG_TRAY (object);

  switch (prop_id)
    {
    case PROP_APPLICATION:
      tray->application = g_value_dup_object (value);
      break;
    case PROP_CONNECTION:
      tray->connection = g_value_dup_object (value);
      break;
    case PROP_PAUSED:
      hg_tray_set_paused (tray, g_value_get_boolean (value));
      break;
    case PROP_ICON_VISIBLE:
      hg_tray_set_icon_visible (tray, g_value_get_boolean (value));
      break;
    case PROP_NOTIFICATIONS:
      hg_tray_set_notifications (tray, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hg_tray_class_init (HgTrayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = hg_tray_constructed;
  object_class->dispose = hg_tray_dispose;
  object_class->finalize = hg_tray_finalize;
  object_class->get_property = hg_tray_get_property;
  object_class->set_property = hg_tray_set_property;

  properties[PROP_APPLICATION] =
    g_param_spec_object ("application", NULL, NULL, G_TYPE_APPLICATION,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONNECTION] =
    g_param_spec_object ("connection", NULL, NULL, G_TYPE_DBUS_CONNECTION,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PAUSED] =
    g_param_spec_boolean ("paused", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_PAUSED_DENIALS] =
    g_param_spec_uint ("n-paused-denials", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ICON_VISIBLE] =
    g_param_spec_boolean ("icon-visible", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NOTIFICATIONS] =
    g_param_spec_boolean ("notifications", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EMBEDDED] =
    g_param_spec_boolean ("embedded", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HgTray::activate:
   *
   * Emitted when the person clicks the icon. The default handler emits
   * #HgTray::show-prompt for the oldest waiting prompt, or
   * #HgTray::settings when none waits.
   */
  signals[ACTIVATE] =
    g_signal_new_class_handler ("activate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                G_CALLBACK (hg_tray_real_activate), NULL, NULL, NULL,
                                G_TYPE_NONE, 0);

  /**
   * HgTray::show-prompt:
   * @prompt: the prompt to bring up
   *
   * Emitted when the person picks a prompt in the menu or a notification.
   */
  signals[SHOW_PROMPT] =
    g_signal_new ("show-prompt", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, HG_TYPE_PROMPT);

  /**
   * HgTray::settings:
   *
   * Emitted when the person picks Settings in the menu.
   */
  signals[SETTINGS] =
    g_signal_new ("settings", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * HgTray::quit:
   *
   * Emitted when the person picks Quit in the menu.
   */
  signals[QUIT] =
    g_signal_new ("quit", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
hg_tray_init (HgTray *tray)
{
  tray->icon_visible = TRUE;
  tray->notifications = TRUE;
  tray->notified = g_hash_table_new (NULL, NULL);
  tray->prompts = G_LIST_MODEL (g_list_store_new (HG_TYPE_PROMPT));
}

/**
 * hg_tray_new:
 * @application: (nullable): the application that sends notifications
 *   and gets the `show-prompt` action, or %NULL for neither
 * @connection: (nullable): the session bus, or %NULL for no tray icon
 *
 * Creates the tray icon, exports it on @connection and registers it
 * with the tray host whenever one is running.
 *
 * Returns: (transfer full): the tray
 */
HgTray *
hg_tray_new (GApplication    *application,
             GDBusConnection *connection)
{
  g_return_val_if_fail (application == NULL || G_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (connection == NULL || G_IS_DBUS_CONNECTION (connection), NULL);

  return g_object_new (HG_TYPE_TRAY,
                       "application", application,
                       "connection", connection,
                       NULL);
}

/**
 * hg_tray_add_prompt:
 * @prompt: a prompt that now waits for the person
 *
 * Lists @prompt in the menu after those already waiting, and announces
 * it with a notification when no tray host shows the icon.
 */
void
hg_tray_add_prompt (HgTray   *tray,
                    HgPrompt *prompt)
{
  g_return_if_fail (HG_IS_TRAY (tray));
  g_return_if_fail (HG_IS_PROMPT (prompt));

  if (g_list_store_find (G_LIST_STORE (tray->prompts), prompt, NULL))
    return;

  g_list_store_append (G_LIST_STORE (tray->prompts), prompt);
}

/**
 * hg_tray_remove_prompt:
 * @prompt: a prompt that was answered, withdrawn or expired
 *
 * Removes @prompt from the menu and withdraws its notification. A prompt
 * the tray does not list is ignored.
 */
void
hg_tray_remove_prompt (HgTray   *tray,
                       HgPrompt *prompt)
{
  guint position;

  g_return_if_fail (HG_IS_TRAY (tray));
  g_return_if_fail (HG_IS_PROMPT (prompt));

  if (g_list_store_find (G_LIST_STORE (tray->prompts), prompt, &position))
    g_list_store_remove (G_LIST_STORE (tray->prompts), position);
}

/**
 * hg_tray_get_prompts:
 *
 * Returns: (transfer none): the waiting prompts (#HgPrompt), oldest first
 */
GListModel *
hg_tray_get_prompts (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), NULL);

  return tray->prompts;
}

/**
 * hg_tray_deny_if_paused:
 * @prompt: a prompt that has just arrived
 *
 * Declines @prompt without showing it while the person has paused
 * prompts, which denies its request once, and counts it for the
 * tooltip.
 *
 * Returns: %TRUE when @prompt was denied and must not be shown
 */
gboolean
hg_tray_deny_if_paused (HgTray   *tray,
                        HgPrompt *prompt)
{
  HgAgentSession *session;

  g_return_val_if_fail (HG_IS_TRAY (tray), FALSE);
  g_return_val_if_fail (HG_IS_PROMPT (prompt), FALSE);

  if (!tray->paused)
    return FALSE;

  session = hg_prompt_get_session (prompt);
  if (session != NULL)
    {
      hg_agent_session_decline_paused (session, prompt);
      g_message (_("Denied %s:%u once without asking: prompts are paused"),
                 hg_prompt_get_host (prompt), hg_prompt_get_port (prompt));
    }

  hg_tray_add_paused_denial (tray);
  return TRUE;
}

/**
 * hg_tray_get_paused:
 *
 * Returns: whether the person paused prompts; the application then
 *   denies new requests without asking
 */
gboolean
hg_tray_get_paused (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), FALSE);

  return tray->paused;
}

/**
 * hg_tray_set_paused:
 * @paused: whether new requests are denied without asking
 *
 * Pauses or resumes prompts. Pausing starts a new count of denied
 * requests.
 */
void
hg_tray_set_paused (HgTray   *tray,
                    gboolean  paused)
{
  g_return_if_fail (HG_IS_TRAY (tray));

  paused = !!paused;
  if (tray->paused == paused)
    return;

  tray->paused = paused;
  if (paused && tray->n_paused_denials != 0)
    {
      tray->n_paused_denials = 0;
      g_object_notify_by_pspec (G_OBJECT (tray), properties[PROP_N_PAUSED_DENIALS]);
    }
  if (paused)
    g_message (_("Prompts paused"));
  else
    g_message (_("Prompts resumed"));

  g_object_notify_by_pspec (G_OBJECT (tray), properties[PROP_PAUSED]);
  emit_pause_state (tray);
  update_item (tray);
}

/**
 * hg_tray_get_n_paused_denials:
 *
 * Returns: the number of requests denied since prompts were last paused
 */
guint
hg_tray_get_n_paused_denials (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), 0);

  return tray->n_paused_denials;
}

/**
 * hg_tray_add_paused_denial:
 *
 * Counts one request denied because prompts are paused; the tooltip
 * shows the count.
 */
void
hg_tray_add_paused_denial (HgTray *tray)
{
  g_return_if_fail (HG_IS_TRAY (tray));

  tray->n_paused_denials++;
  g_object_notify_by_pspec (G_OBJECT (tray), properties[PROP_N_PAUSED_DENIALS]);
  update_item (tray);
}

/**
 * hg_tray_get_icon_visible:
 *
 * Returns: whether the icon is exported to tray hosts
 */
gboolean
hg_tray_get_icon_visible (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), FALSE);

  return tray->icon_visible;
}

/**
 * hg_tray_set_icon_visible:
 * @visible: whether to export the icon
 *
 * Shows or hides the tray icon. While it is hidden, waiting prompts are
 * announced with notifications, as when no tray host runs.
 */
void
hg_tray_set_icon_visible (HgTray   *tray,
                          gboolean  visible)
{
  g_return_if_fail (HG_IS_TRAY (tray));

  visible = !!visible;
  if (tray->icon_visible == visible)
    return;

  tray->icon_visible = visible;
  /* Before construction ends there is nothing to export or remove yet. */
  if (tray->bus_name != NULL)
    {
      if (visible)
        tray_export (tray);
      else
        tray_unexport (tray);
    }

  g_object_notify_by_pspec (G_OBJECT (tray), properties[PROP_ICON_VISIBLE]);
}

/**
 * hg_tray_get_notifications:
 *
 * Returns: whether waiting prompts are announced with notifications
 *   while no tray host shows the icon
 */
gboolean
hg_tray_get_notifications (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), FALSE);

  return tray->notifications;
}

/**
 * hg_tray_set_notifications:
 * @notifications: whether to send notifications
 *
 * Turns the notifications for waiting prompts on or off; turning them
 * off withdraws those already sent.
 */
void
hg_tray_set_notifications (HgTray   *tray,
                           gboolean  notifications)
{
  g_return_if_fail (HG_IS_TRAY (tray));

  notifications = !!notifications;
  if (tray->notifications == notifications)
    return;

  tray->notifications = notifications;
  if (tray->bus_name != NULL)
    sync_notifications (tray);

  g_object_notify_by_pspec (G_OBJECT (tray), properties[PROP_NOTIFICATIONS]);
}

/**
 * hg_tray_get_embedded:
 *
 * Returns: whether a tray host accepted the icon
 */
gboolean
hg_tray_get_embedded (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), FALSE);

  return tray->embedded;
}

/**
 * hg_tray_get_bus_name:
 *
 * Returns: the well-known bus name the icon owns while it is exported
 */
const char *
hg_tray_get_bus_name (HgTray *tray)
{
  g_return_val_if_fail (HG_IS_TRAY (tray), NULL);

  return tray->bus_name;
}

/**
 * hg_tray_bind_settings:
 *
 * Binds the `show-tray` and `notifications` keys of the agent's
 * GSettings schema to the tray. Does nothing when the schema is not
 * installed, as in a build tree.
 */
void
hg_tray_bind_settings (HgTray *tray)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  g_return_if_fail (HG_IS_TRAY (tray));

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APPLICATION_ID, TRUE);
  if (schema == NULL)
    {
      g_debug ("The settings schema %s is not installed; using the default tray settings",
               APPLICATION_ID);
      return;
    }

  g_clear_object (&tray->settings);
  tray->settings = g_settings_new_full (schema, NULL, NULL);
  g_settings_bind (tray->settings, "show-tray", tray, "icon-visible", G_SETTINGS_BIND_GET);
  g_settings_bind (tray->settings, "notifications", tray, "notifications", G_SETTINGS_BIND_GET);
}
