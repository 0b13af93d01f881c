/* test-tray.c: the tray icon on a private session bus
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each test runs its own dbus-daemon. The tray exports itself on one
 * connection; a second connection plays the tray host: it owns
 * org.kde.StatusNotifierWatcher, records registrations and reads the
 * item and its menu the way a panel does. The prompts belong to a real
 * HgAgentSession whose proxy end is a socket pair.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <sys/socket.h>

#include "hg-agent-session.h"
#include "hg-history-entry.h"
#include "hg-tray.h"

#define DEADLINE_SECONDS 10

#define ITEM_INTERFACE "org.kde.StatusNotifierItem"
#define MENU_INTERFACE "com.canonical.dbusmenu"

static const char watcher_xml[] =
  "<node>"
  "  <interface name='org.kde.StatusNotifierWatcher'>"
  "    <method name='RegisterStatusNotifierItem'>"
  "      <arg name='service' type='s' direction='in'/>"
  "    </method>"
  "  </interface>"
  "</node>";

typedef struct {
  GTestDBus *bus;
  GDBusConnection *agent_bus;
  GDBusConnection *host_bus;

  char *store_dir;
  HgProfileStore *store;
  GListStore *history;
  HgAgentSession *session;
  GSocket *peer;
  GString *peer_input;

  HgTray *tray;

  guint watcher_own_id;
  guint watcher_object_id;
  gboolean watcher_owned;
  GPtrArray *registrations;

  guint item_subscription;
  guint menu_subscription;
  GPtrArray *item_signals;
  GPtrArray *statuses;
  guint n_layout_updates;
  guint last_layout_revision;
  GPtrArray *menu_updates;

  GPtrArray *shown;
  guint n_settings;
  guint n_quit;

  GApplication *application;
  guint notifications_own_id;
  guint notifications_object_id;
  gboolean notifications_owned;
  GPtrArray *notifications;
  GPtrArray *withdrawn;

  guint log_handler;
  GPtrArray *log_messages;
} Fixture;

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main context until @cond holds, failing the test after
 * the deadline. The tick wakes the loop so the deadline is checked even
 * while nothing else happens. */
#define WAIT_FOR(cond) \
  G_STMT_START { \
    guint tick_ = g_timeout_add (20, tick_cb, NULL); \
    gint64 end_ = g_get_monotonic_time () + DEADLINE_SECONDS * G_USEC_PER_SEC; \
    while (!(cond)) \
      { \
        if (g_get_monotonic_time () > end_) \
          g_error ("timed out after %d s waiting for %s", DEADLINE_SECONDS, #cond); \
        g_main_context_iteration (NULL, TRUE); \
      } \
    g_source_remove (tick_); \
  } G_STMT_END

static GDBusConnection *
connect_to_bus (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  connection = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (fixture->bus),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                       | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

/* The fake watcher. */

static void
watcher_method_cb (GDBusConnection       *connection,
                   const char            *sender,
                   const char            *object_path,
                   const char            *interface_name,
                   const char            *method_name,
                   GVariant              *parameters,
                   GDBusMethodInvocation *invocation,
                   gpointer               user_data)
{
  Fixture *fixture = user_data;
  const char *service;

  g_variant_get (parameters, "(&s)", &service);
  g_ptr_array_add (fixture->registrations, g_strdup (service));
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable watcher_vtable = { watcher_method_cb, NULL, NULL, { 0 } };

static void
watcher_acquired_cb (GDBusConnection *connection,
                     const char      *name,
                     gpointer         user_data)
{
  Fixture *fixture = user_data;

  fixture->watcher_owned = TRUE;
}

static void
start_watcher (Fixture *fixture)
{
  g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (watcher_xml, NULL);
  g_autoptr(GError) error = NULL;

  fixture->watcher_object_id =
    g_dbus_connection_register_object (fixture->host_bus, "/StatusNotifierWatcher",
                                       node->interfaces[0], &watcher_vtable, fixture, NULL, &error);
  g_assert_no_error (error);

  fixture->watcher_owned = FALSE;
  fixture->watcher_own_id = g_bus_own_name_on_connection (fixture->host_bus,
                                                          "org.kde.StatusNotifierWatcher",
                                                          G_BUS_NAME_OWNER_FLAGS_NONE,
                                                          watcher_acquired_cb, NULL, fixture, NULL);
  WAIT_FOR (fixture->watcher_owned);
}

static void
stop_watcher (Fixture *fixture)
{
  g_clear_handle_id (&fixture->watcher_own_id, g_bus_unown_name);
  if (fixture->watcher_object_id != 0)
    g_dbus_connection_unregister_object (fixture->host_bus, fixture->watcher_object_id);
  fixture->watcher_object_id = 0;
}

/* Recording what the tray emits. */

static void
item_signal_cb (GDBusConnection *connection,
                const char      *sender,
                const char      *object_path,
                const char      *interface_name,
                const char      *signal_name,
                GVariant        *parameters,
                gpointer         user_data)
{
  Fixture *fixture = user_data;

  g_ptr_array_add (fixture->item_signals, g_strdup (signal_name));
  if (g_str_equal (signal_name, "NewStatus"))
    {
      const char *status;

      g_variant_get (parameters, "(&s)", &status);
      g_ptr_array_add (fixture->statuses, g_strdup (status));
    }
}

static void
menu_signal_cb (GDBusConnection *connection,
                const char      *sender,
                const char      *object_path,
                const char      *interface_name,
                const char      *signal_name,
                GVariant        *parameters,
                gpointer         user_data)
{
  Fixture *fixture = user_data;

  if (g_str_equal (signal_name, "LayoutUpdated"))
    {
      fixture->n_layout_updates++;
      g_variant_get (parameters, "(ui)", &fixture->last_layout_revision, NULL);
    }
  else if (g_str_equal (signal_name, "ItemsPropertiesUpdated"))
    g_ptr_array_add (fixture->menu_updates, g_variant_ref (parameters));
}

static void
show_prompt_cb (HgTray   *tray,
                HgPrompt *prompt,
                gpointer  user_data)
{
  Fixture *fixture = user_data;

  g_ptr_array_add (fixture->shown, g_strdup (hg_prompt_get_id (prompt)));
}

static void
settings_cb (HgTray   *tray,
             gpointer  user_data)
{
  Fixture *fixture = user_data;

  fixture->n_settings++;
}

static void
quit_cb (HgTray   *tray,
         gpointer  user_data)
{
  Fixture *fixture = user_data;

  fixture->n_quit++;
}

/* The proxy end of the session. */

static void
peer_send (Fixture    *fixture,
           const char *line)
{
  g_autoptr(GError) error = NULL;
  gssize n = g_socket_send (fixture->peer, line, strlen (line), NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (n, ==, (gssize) strlen (line));
}

/* Reads what the agent has sent so far, without blocking. */
static const char *
peer_received (Fixture *fixture)
{
  char buffer[4096];
  gssize n;

  while ((n = g_socket_receive (fixture->peer, buffer, sizeof buffer, NULL, NULL)) > 0)
    g_string_append_len (fixture->peer_input, buffer, n);

  return fixture->peer_input->str;
}

static void
start_session (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) agent_end = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  agent_end = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  fixture->peer = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  g_socket_set_blocking (fixture->peer, FALSE);

  connection = g_socket_connection_factory_create_connection (agent_end);
  fixture->session = hg_agent_session_new (connection, fixture->store, fixture->history);
  hg_agent_session_start (fixture->session);

  peer_send (fixture, "{\"type\":\"hello\",\"version\":1,\"session\":{\"id\":\"s1\","
                      "\"label\":\"build_job\",\"profile\":\"default\",\"pid\":4242}}\n");
  WAIT_FOR (strstr (peer_received (fixture), "\"welcome\"") != NULL);
  g_assert_cmpstr (hg_agent_session_get_label (fixture->session), ==, "build_job");
}

static HgPrompt *
add_prompt (Fixture    *fixture,
            const char *id,
            const char *host,
            guint16     port)
{
  g_autoptr(HgPrompt) prompt = hg_prompt_new (fixture->session, id, host, port,
                                              HG_ASK_KIND_CONNECT, 600000);

  hg_tray_add_prompt (fixture->tray, prompt);
  return prompt;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fixture->bus);
  fixture->agent_bus = connect_to_bus (fixture);
  fixture->host_bus = connect_to_bus (fixture);

  fixture->store_dir = g_dir_make_tmp ("hostgate-tray-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->store = hg_profile_store_new (fixture->store_dir);
  fixture->history = g_list_store_new (HG_TYPE_HISTORY_ENTRY);
  fixture->peer_input = g_string_new (NULL);

  fixture->registrations = g_ptr_array_new_with_free_func (g_free);
  fixture->item_signals = g_ptr_array_new_with_free_func (g_free);
  fixture->statuses = g_ptr_array_new_with_free_func (g_free);
  fixture->menu_updates = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  fixture->shown = g_ptr_array_new_with_free_func (g_free);
  fixture->notifications = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  fixture->withdrawn = g_ptr_array_new_with_free_func (g_free);

  fixture->item_subscription =
    g_dbus_connection_signal_subscribe (fixture->host_bus, NULL, ITEM_INTERFACE, NULL,
                                        HG_TRAY_ITEM_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        item_signal_cb, fixture, NULL);
  fixture->menu_subscription =
    g_dbus_connection_signal_subscribe (fixture->host_bus, NULL, MENU_INTERFACE, NULL,
                                        HG_TRAY_MENU_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        menu_signal_cb, fixture, NULL);

  start_session (fixture);
}

static void
create_tray (Fixture *fixture)
{
  fixture->tray = hg_tray_new (NULL, fixture->agent_bus);
  g_signal_connect (fixture->tray, "show-prompt", G_CALLBACK (show_prompt_cb), fixture);
  g_signal_connect (fixture->tray, "settings", G_CALLBACK (settings_cb), fixture);
  g_signal_connect (fixture->tray, "quit", G_CALLBACK (quit_cb), fixture);
}

/* Starts the watcher, then the tray, and waits for the registration. */
static void
create_registered_tray (Fixture *fixture)
{
  start_watcher (fixture);
  create_tray (fixture);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  g_clear_object (&fixture->tray);
  g_clear_object (&fixture->application);
  if (fixture->log_handler != 0)
    g_log_remove_handler ("hostgate-agent", fixture->log_handler);
  g_clear_pointer (&fixture->log_messages, g_ptr_array_unref);
  g_clear_handle_id (&fixture->notifications_own_id, g_bus_unown_name);
  if (fixture->notifications_object_id != 0)
    g_dbus_connection_unregister_object (fixture->host_bus, fixture->notifications_object_id);
  stop_watcher (fixture);
  g_dbus_connection_signal_unsubscribe (fixture->host_bus, fixture->item_subscription);
  g_dbus_connection_signal_unsubscribe (fixture->host_bus, fixture->menu_subscription);

  hg_agent_session_close (fixture->session);
  g_clear_object (&fixture->session);
  g_clear_object (&fixture->peer);
  g_clear_object (&fixture->history);
  g_object_run_dispose (G_OBJECT (fixture->store));
  g_clear_object (&fixture->store);

  dir = g_dir_open (fixture->store_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fixture->store_dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (fixture->store_dir);
  g_free (fixture->store_dir);

  g_dbus_connection_close_sync (fixture->agent_bus, NULL, NULL);
  g_dbus_connection_close_sync (fixture->host_bus, NULL, NULL);
  g_clear_object (&fixture->agent_bus);
  g_clear_object (&fixture->host_bus);
  g_test_dbus_down (fixture->bus);
  g_clear_object (&fixture->bus);

  g_string_free (fixture->peer_input, TRUE);
  g_ptr_array_unref (fixture->registrations);
  g_ptr_array_unref (fixture->item_signals);
  g_ptr_array_unref (fixture->statuses);
  g_ptr_array_unref (fixture->menu_updates);
  g_ptr_array_unref (fixture->shown);
  g_ptr_array_unref (fixture->notifications);
  g_ptr_array_unref (fixture->withdrawn);
}

/* Calling the tray as the host does. */

typedef struct {
  GVariant *reply;
  GError *error;
  gboolean done;
} CallResult;

static void
call_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  CallResult *call = user_data;

  call->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &call->error);
  call->done = TRUE;
}

/* Calls @method on the tray from the host's connection and iterates the
 * main context until the reply, since the tray answers on this thread. */
static GVariant *
call_tray (Fixture     *fixture,
           const char  *path,
           const char  *interface,
           const char  *method,
           GVariant    *parameters,
           GError     **error)
{
  CallResult call = { NULL, NULL, FALSE };

  g_dbus_connection_call (fixture->host_bus, hg_tray_get_bus_name (fixture->tray), path,
                          interface, method, parameters, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                          NULL, call_done_cb, &call);
  WAIT_FOR (call.done);

  if (call.error != NULL)
    g_propagate_error (error, call.error);
  return call.reply;
}

static GVariant *
get_item_property (Fixture    *fixture,
                   const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *value;

  reply = call_tray (fixture, HG_TRAY_ITEM_PATH, "org.freedesktop.DBus.Properties", "Get",
                     g_variant_new ("(ss)", ITEM_INTERFACE, name), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static char *
get_item_string (Fixture    *fixture,
                 const char *name)
{
  g_autoptr(GVariant) value = get_item_property (fixture, name);

  return g_variant_dup_string (value, NULL);
}

static char *
get_tooltip_text (Fixture *fixture)
{
  g_autoptr(GVariant) value = get_item_property (fixture, "ToolTip");
  char *text;

  g_assert_cmpstr (g_variant_get_type_string (value), ==, "(sa(iiay)ss)");
  g_variant_get_child (value, 3, "s", &text);
  return text;
}

/* Returns the menu's top-level items as (id, properties) pairs. */
static GVariant *
get_layout (Fixture *fixture,
            guint   *revision)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) layout = NULL;
  g_autoptr(GVariant) children = NULL;
  GVariantBuilder items;
  GVariantIter iter;
  GVariant *child;

  reply = call_tray (fixture, HG_TRAY_MENU_PATH, MENU_INTERFACE, "GetLayout",
                     g_variant_new ("(ii@as)", 0, -1, g_variant_new_strv (NULL, 0)), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u@(ia{sv}av))", revision, &layout);
  children = g_variant_get_child_value (layout, 2);

  g_variant_builder_init (&items, G_VARIANT_TYPE ("a(ia{sv})"));
  g_variant_iter_init (&iter, children);
  while (g_variant_iter_next (&iter, "v", &child))
    {
      gint32 id;
      g_autoptr(GVariant) props = NULL;

      g_variant_get (child, "(i@a{sv}av)", &id, &props, NULL);
      g_variant_builder_add (&items, "(i@a{sv})", id, props);
      g_variant_unref (child);
    }

  return g_variant_ref_sink (g_variant_builder_end (&items));
}

static char *
item_label (GVariant *items,
            gsize     index)
{
  g_autoptr(GVariant) props = NULL;
  char *label = NULL;

  g_variant_get_child (items, index, "(i@a{sv})", NULL, &props);
  g_variant_lookup (props, "label", "s", &label);
  return label;
}

/* Returns the id of the item labelled @label, or -1. */
static gint32
find_item (Fixture    *fixture,
           const char *label)
{
  guint revision;
  g_autoptr(GVariant) items = get_layout (fixture, &revision);

  for (gsize i = 0; i < g_variant_n_children (items); i++)
    {
      g_autofree char *text = item_label (items, i);
      gint32 id;

      if (g_strcmp0 (text, label) == 0)
        {
          g_variant_get_child (items, i, "(i@a{sv})", &id, NULL);
          return id;
        }
    }

  return -1;
}

static void
click (Fixture *fixture,
       gint32   id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = call_tray (fixture, HG_TRAY_MENU_PATH, MENU_INTERFACE, "Event",
                     g_variant_new ("(isvu)", id, "clicked", g_variant_new_int32 (0), 0), &error);
  g_assert_no_error (error);
}

static gboolean
has_string (GPtrArray  *array,
            const char *text)
{
  return g_ptr_array_find_with_equal_func (array, text, g_str_equal, NULL);
}

/* Registration. */

static void
record_message_cb (const char     *domain,
                   GLogLevelFlags  level,
                   const char     *message,
                   gpointer        user_data)
{
  Fixture *fixture = user_data;

  g_ptr_array_add (fixture->log_messages, g_strdup (message));
}

/* Records the agent's g_message() lines from here on. */
static void
record_messages (Fixture *fixture)
{
  fixture->log_messages = g_ptr_array_new_with_free_func (g_free);
  fixture->log_handler = g_log_set_handler ("hostgate-agent", G_LOG_LEVEL_MESSAGE,
                                            record_message_cb, fixture);
}

static guint
count_messages (Fixture    *fixture,
                const char *prefix)
{
  guint count = 0;

  for (guint i = 0; i < fixture->log_messages->len; i++)
    {
      if (g_str_has_prefix (fixture->log_messages->pdata[i], prefix))
        count++;
    }
  return count;
}

static gboolean
name_has_owner (Fixture    *fixture,
                const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean owned;

  /* The bus daemon answers this itself, so a blocking call is safe. */
  reply = g_dbus_connection_call_sync (fixture->host_bus, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", g_variant_new ("(s)", name),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(b)", &owned);
  return owned;
}

static void
test_register_watcher_first (Fixture       *fixture,
                             gconstpointer  data)
{
  create_registered_tray (fixture);

  g_assert_cmpuint (fixture->registrations->len, ==, 1);
  g_assert_cmpstr (fixture->registrations->pdata[0], ==, hg_tray_get_bus_name (fixture->tray));
  g_assert_true (g_str_has_prefix (hg_tray_get_bus_name (fixture->tray),
                                   "org.kde.StatusNotifierItem-"));
}

static void
test_register_watcher_later (Fixture       *fixture,
                             gconstpointer  data)
{
  create_tray (fixture);

  /* The tray owns its name even while no watcher runs. */
  WAIT_FOR (name_has_owner (fixture, hg_tray_get_bus_name (fixture->tray)));
  g_assert_false (hg_tray_get_embedded (fixture->tray));
  g_assert_cmpuint (fixture->registrations->len, ==, 0);

  start_watcher (fixture);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
  g_assert_cmpuint (fixture->registrations->len, ==, 1);
  g_assert_cmpstr (fixture->registrations->pdata[0], ==, hg_tray_get_bus_name (fixture->tray));
}

static void
test_register_watcher_restart (Fixture       *fixture,
                               gconstpointer  data)
{
  create_registered_tray (fixture);

  stop_watcher (fixture);
  WAIT_FOR (!hg_tray_get_embedded (fixture->tray));

  start_watcher (fixture);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
  g_assert_cmpuint (fixture->registrations->len, ==, 2);
  g_assert_cmpstr (fixture->registrations->pdata[1], ==, hg_tray_get_bus_name (fixture->tray));
}

static void
test_register_host_missing_logged (Fixture       *fixture,
                                   gconstpointer  data)
{
  const char *missing = "No tray host (org.kde.StatusNotifierWatcher) runs on the session bus";
  const char *appeared = "A tray host appeared on the session bus";

  record_messages (fixture);
  create_tray (fixture);
  WAIT_FOR (count_messages (fixture, missing) == 1);
  g_assert_cmpuint (count_messages (fixture, appeared), ==, 0);

  start_watcher (fixture);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
  g_assert_cmpuint (count_messages (fixture, appeared), ==, 1);

  stop_watcher (fixture);
  WAIT_FOR (!hg_tray_get_embedded (fixture->tray));
  g_assert_cmpuint (count_messages (fixture, missing), ==, 2);
}

static void
test_register_host_present_quiet (Fixture       *fixture,
                                  gconstpointer  data)
{
  record_messages (fixture);
  create_registered_tray (fixture);

  g_assert_cmpuint (count_messages (fixture, "No tray host"), ==, 0);
  g_assert_cmpuint (count_messages (fixture, "A tray host appeared"), ==, 0);
}

static void
test_register_hidden (Fixture       *fixture,
                      gconstpointer  data)
{
  const char *name;

  create_registered_tray (fixture);
  name = hg_tray_get_bus_name (fixture->tray);

  hg_tray_set_icon_visible (fixture->tray, FALSE);
  g_assert_false (hg_tray_get_embedded (fixture->tray));
  WAIT_FOR (!name_has_owner (fixture, name));

  hg_tray_set_icon_visible (fixture->tray, TRUE);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
  g_assert_cmpuint (fixture->registrations->len, ==, 2);
  g_assert_true (name_has_owner (fixture, name));
}

/* Item properties. */

static void
test_properties_idle (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *category = NULL;
  g_autofree char *status = NULL;
  g_autofree char *icon = NULL;
  g_autofree char *attention_icon = NULL;
  g_autofree char *tooltip = NULL;
  g_autofree char *id = NULL;
  g_autoptr(GVariant) menu = NULL;
  g_autoptr(GVariant) is_menu = NULL;

  create_registered_tray (fixture);

  category = get_item_string (fixture, "Category");
  g_assert_cmpstr (category, ==, "ApplicationStatus");
  id = get_item_string (fixture, "Id");
  g_assert_cmpstr (id, ==, "io.github.hostgate.Agent");
  status = get_item_string (fixture, "Status");
  g_assert_cmpstr (status, ==, "Active");
  icon = get_item_string (fixture, "IconName");
  g_assert_cmpstr (icon, ==, "io.github.hostgate.Agent-symbolic");
  attention_icon = get_item_string (fixture, "AttentionIconName");
  g_assert_cmpstr (attention_icon, ==, "io.github.hostgate.Agent-attention-symbolic");
  tooltip = get_tooltip_text (fixture);
  g_assert_cmpstr (tooltip, ==, "No requests waiting");

  menu = get_item_property (fixture, "Menu");
  g_assert_true (g_variant_is_of_type (menu, G_VARIANT_TYPE_OBJECT_PATH));
  g_assert_cmpstr (g_variant_get_string (menu, NULL), ==, HG_TRAY_MENU_PATH);
  is_menu = get_item_property (fixture, "ItemIsMenu");
  g_assert_false (g_variant_get_boolean (is_menu));
}

static void
test_properties_attention (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autofree char *status = NULL;
  g_autofree char *tooltip = NULL;
  g_autofree char *idle_status = NULL;
  HgPrompt *first;
  HgPrompt *second;

  create_registered_tray (fixture);

  first = add_prompt (fixture, "1", "example.com", 443);
  second = add_prompt (fixture, "2", "example.org", 80);
  status = get_item_string (fixture, "Status");
  g_assert_cmpstr (status, ==, "NeedsAttention");
  tooltip = get_tooltip_text (fixture);
  g_assert_cmpstr (tooltip, ==, "2 requests waiting");
  WAIT_FOR (fixture->statuses->len >= 1);
  g_assert_cmpstr (fixture->statuses->pdata[0], ==, "NeedsAttention");
  g_assert_true (has_string (fixture->item_signals, "NewToolTip"));

  hg_tray_remove_prompt (fixture->tray, first);
  hg_tray_remove_prompt (fixture->tray, second);
  idle_status = get_item_string (fixture, "Status");
  g_assert_cmpstr (idle_status, ==, "Active");
  WAIT_FOR (fixture->statuses->len >= 2);
  g_assert_cmpstr (fixture->statuses->pdata[1], ==, "Active");
}

/* The menu. */

static void
test_menu_empty (Fixture       *fixture,
                 gconstpointer  data)
{
  guint revision;
  g_autoptr(GVariant) items = NULL;
  g_autoptr(GVariant) props = NULL;
  g_autofree char *first = NULL;
  gboolean enabled = TRUE;

  create_registered_tray (fixture);
  items = get_layout (fixture, &revision);

  g_assert_cmpuint (g_variant_n_children (items), ==, 5);
  first = item_label (items, 0);
  g_assert_cmpstr (first, ==, "No requests waiting");
  g_variant_get_child (items, 0, "(i@a{sv})", NULL, &props);
  g_assert_true (g_variant_lookup (props, "enabled", "b", &enabled));
  g_assert_false (enabled);
}

static void
test_menu_layout (Fixture       *fixture,
                  gconstpointer  data)
{
  guint revision;
  g_autoptr(GVariant) items = NULL;
  g_autoptr(GVariant) separator = NULL;
  g_autoptr(GVariant) pause = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *pause_label = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *quit = NULL;
  const char *type = NULL;
  const char *toggle_type = NULL;
  gint32 toggle_state = -1;

  create_registered_tray (fixture);
  add_prompt (fixture, "1", "example.com", 443);
  add_prompt (fixture, "2", "2001:db8::1", 8443);
  items = get_layout (fixture, &revision);

  g_assert_cmpuint (g_variant_n_children (items), ==, 6);
  /* The session label "build_job" has its underscore doubled so the
   * host does not read it as a mnemonic. */
  first = item_label (items, 0);
  g_assert_cmpstr (first, ==, "example.com:443 — build__job");
  second = item_label (items, 1);
  g_assert_cmpstr (second, ==, "[2001:db8::1]:8443 — build__job");

  g_variant_get_child (items, 2, "(i@a{sv})", NULL, &separator);
  g_assert_true (g_variant_lookup (separator, "type", "&s", &type));
  g_assert_cmpstr (type, ==, "separator");

  pause_label = item_label (items, 3);
  g_assert_cmpstr (pause_label, ==, "_Pause Prompts");
  g_variant_get_child (items, 3, "(i@a{sv})", NULL, &pause);
  g_assert_true (g_variant_lookup (pause, "toggle-type", "&s", &toggle_type));
  g_assert_cmpstr (toggle_type, ==, "checkmark");
  g_assert_true (g_variant_lookup (pause, "toggle-state", "i", &toggle_state));
  g_assert_cmpint (toggle_state, ==, 0);

  settings = item_label (items, 4);
  g_assert_cmpstr (settings, ==, "_Settings…");
  quit = item_label (items, 5);
  g_assert_cmpstr (quit, ==, "_Quit");
}

static void
test_menu_layout_updated (Fixture       *fixture,
                          gconstpointer  data)
{
  guint before;
  guint after;
  g_autoptr(GVariant) items_before = NULL;
  g_autoptr(GVariant) items_after = NULL;

  create_registered_tray (fixture);
  items_before = get_layout (fixture, &before);

  add_prompt (fixture, "1", "example.com", 443);
  WAIT_FOR (fixture->n_layout_updates >= 1);
  items_after = get_layout (fixture, &after);

  g_assert_cmpuint (after, >, before);
  g_assert_cmpuint (fixture->last_layout_revision, ==, after);
}

static void
test_menu_pause (Fixture       *fixture,
                 gconstpointer  data)
{
  gint32 id;
  g_autofree char *icon = NULL;
  g_autofree char *tooltip = NULL;
  g_autofree char *resumed_icon = NULL;
  g_autoptr(GVariant) updated = NULL;
  g_autoptr(GVariant) props = NULL;
  gint32 updated_id = -1;
  gint32 state = -1;

  create_registered_tray (fixture);
  id = find_item (fixture, "_Pause Prompts");
  g_assert_cmpint (id, >, 0);

  click (fixture, id);
  g_assert_true (hg_tray_get_paused (fixture->tray));
  icon = get_item_string (fixture, "IconName");
  g_assert_cmpstr (icon, ==, "io.github.hostgate.Agent-paused-symbolic");
  tooltip = get_tooltip_text (fixture);
  g_assert_cmpstr (tooltip, ==, "Prompts paused: 0 requests denied\nNo requests waiting");
  WAIT_FOR (fixture->menu_updates->len >= 1);
  updated = g_variant_get_child_value (fixture->menu_updates->pdata[0], 0);
  g_assert_cmpuint (g_variant_n_children (updated), ==, 1);
  g_variant_get_child (updated, 0, "(i@a{sv})", &updated_id, &props);
  g_assert_cmpint (updated_id, ==, id);
  g_assert_true (g_variant_lookup (props, "toggle-state", "i", &state));
  g_assert_cmpint (state, ==, 1);
  WAIT_FOR (has_string (fixture->item_signals, "NewIcon"));

  click (fixture, id);
  g_assert_false (hg_tray_get_paused (fixture->tray));
  resumed_icon = get_item_string (fixture, "IconName");
  g_assert_cmpstr (resumed_icon, ==, "io.github.hostgate.Agent-symbolic");
}

static void
test_menu_click_prompt (Fixture       *fixture,
                        gconstpointer  data)
{
  gint32 id;

  create_registered_tray (fixture);
  add_prompt (fixture, "1", "example.com", 443);
  add_prompt (fixture, "2", "example.org", 443);

  id = find_item (fixture, "example.org:443 — build__job");
  g_assert_cmpint (id, >, 0);
  click (fixture, id);

  g_assert_cmpuint (fixture->shown->len, ==, 1);
  g_assert_cmpstr (fixture->shown->pdata[0], ==, "2");
}

static void
test_menu_click_settings_quit (Fixture       *fixture,
                               gconstpointer  data)
{
  create_registered_tray (fixture);

  click (fixture, find_item (fixture, "_Settings…"));
  g_assert_cmpuint (fixture->n_settings, ==, 1);
  g_assert_cmpuint (fixture->n_quit, ==, 0);

  click (fixture, find_item (fixture, "_Quit"));
  g_assert_cmpuint (fixture->n_quit, ==, 1);
}

static void
test_menu_unknown_item (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) event_error = NULL;
  g_autoptr(GError) layout_error = NULL;
  g_autoptr(GVariant) event_reply = NULL;
  g_autoptr(GVariant) layout_reply = NULL;

  create_registered_tray (fixture);

  event_reply = call_tray (fixture, HG_TRAY_MENU_PATH, MENU_INTERFACE, "Event",
                           g_variant_new ("(isvu)", 9999, "clicked", g_variant_new_int32 (0), 0),
                           &event_error);
  g_assert_error (event_error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  layout_reply = call_tray (fixture, HG_TRAY_MENU_PATH, MENU_INTERFACE, "GetLayout",
                            g_variant_new ("(ii@as)", 9999, -1, g_variant_new_strv (NULL, 0)), &layout_error);
  g_assert_error (layout_error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_assert_cmpuint (fixture->shown->len, ==, 0);
}

static void
test_menu_stale_prompt (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  HgPrompt *prompt;
  gint32 id;

  create_registered_tray (fixture);
  prompt = add_prompt (fixture, "1", "example.com", 443);
  id = find_item (fixture, "example.com:443 — build__job");
  hg_tray_remove_prompt (fixture->tray, prompt);

  reply = call_tray (fixture, HG_TRAY_MENU_PATH, MENU_INTERFACE, "Event",
                     g_variant_new ("(isvu)", id, "clicked", g_variant_new_int32 (0), 0), &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_assert_cmpuint (fixture->shown->len, ==, 0);
}

/* Clicking the icon. */

static void
test_activate_prompt (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  create_registered_tray (fixture);
  add_prompt (fixture, "1", "example.com", 443);
  add_prompt (fixture, "2", "example.org", 443);

  reply = call_tray (fixture, HG_TRAY_ITEM_PATH, ITEM_INTERFACE, "Activate",
                     g_variant_new ("(ii)", 0, 0), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->shown->len, ==, 1);
  g_assert_cmpstr (fixture->shown->pdata[0], ==, "1");
  g_assert_cmpuint (fixture->n_settings, ==, 0);
}

static void
test_activate_settings (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  create_registered_tray (fixture);

  reply = call_tray (fixture, HG_TRAY_ITEM_PATH, ITEM_INTERFACE, "Activate",
                     g_variant_new ("(ii)", 0, 0), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->n_settings, ==, 1);
  g_assert_cmpuint (fixture->shown->len, ==, 0);
}

/* Pausing. */

static void
prompt_added_cb (HgAgentSession *session,
                 HgPrompt       *prompt,
                 gpointer        user_data)
{
  Fixture *fixture = user_data;

  if (!hg_tray_deny_if_paused (fixture->tray, prompt))
    hg_tray_add_prompt (fixture->tray, prompt);
}

static void
test_pause_denies (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *tooltip = NULL;

  create_registered_tray (fixture);
  g_signal_connect (fixture->session, "prompt-added", G_CALLBACK (prompt_added_cb), fixture);
  click (fixture, find_item (fixture, "_Pause Prompts"));

  peer_send (fixture, "{\"type\":\"ask\",\"id\":\"7\",\"host\":\"example.com\",\"port\":443,"
                      "\"kind\":\"connect\",\"timeout_ms\":60000}\n");
  WAIT_FOR (strstr (peer_received (fixture), "\"error\"") != NULL);

  /* An error, not a decision: no person decided, and the proxy reports that. */
  g_assert_nonnull (strstr (fixture->peer_input->str, "\"code\":\"prompts-paused\""));
  g_assert_nonnull (strstr (fixture->peer_input->str, "\"id\":\"7\""));
  g_assert_null (strstr (fixture->peer_input->str, "\"decision\""));
  g_assert_cmpuint (hg_tray_get_n_paused_denials (fixture->tray), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (hg_tray_get_prompts (fixture->tray)), ==, 0);
  tooltip = get_tooltip_text (fixture);
  g_assert_cmpstr (tooltip, ==, "Prompts paused: 1 request denied\nNo requests waiting");
}

static void
test_pause_resumed_asks (Fixture       *fixture,
                         gconstpointer  data)
{
  create_registered_tray (fixture);
  g_signal_connect (fixture->session, "prompt-added", G_CALLBACK (prompt_added_cb), fixture);

  peer_send (fixture, "{\"type\":\"ask\",\"id\":\"8\",\"host\":\"example.com\",\"port\":443,"
                      "\"kind\":\"connect\",\"timeout_ms\":60000}\n");
  WAIT_FOR (g_list_model_get_n_items (hg_tray_get_prompts (fixture->tray)) == 1);

  g_assert_null (strstr (peer_received (fixture), "\"decision\""));
  g_assert_cmpuint (hg_tray_get_n_paused_denials (fixture->tray), ==, 0);
}

/* Notifications, while no tray host shows the icon. The host's
 * connection plays the notification server that GApplication talks to
 * when org.gtk.Notifications is on the bus. */

static const char notifications_xml[] =
  "<node>"
  "  <interface name='org.gtk.Notifications'>"
  "    <method name='AddNotification'>"
  "      <arg name='app_id' type='s' direction='in'/>"
  "      <arg name='id' type='s' direction='in'/>"
  "      <arg name='notification' type='a{sv}' direction='in'/>"
  "    </method>"
  "    <method name='RemoveNotification'>"
  "      <arg name='app_id' type='s' direction='in'/>"
  "      <arg name='id' type='s' direction='in'/>"
  "    </method>"
  "  </interface>"
  "</node>";

#define TEST_APP_ID "io.github.hostgate.TrayTest"
#define TEST_APP_PATH "/io/github/hostgate/TrayTest"

static void
notifications_method_cb (GDBusConnection       *connection,
                         const char            *sender,
                         const char            *object_path,
                         const char            *interface_name,
                         const char            *method_name,
                         GVariant              *parameters,
                         GDBusMethodInvocation *invocation,
                         gpointer               user_data)
{
  Fixture *fixture = user_data;

  if (g_str_equal (method_name, "AddNotification"))
    g_ptr_array_add (fixture->notifications, g_variant_ref (parameters));
  else
    {
      const char *id;

      g_variant_get (parameters, "(&s&s)", NULL, &id);
      g_ptr_array_add (fixture->withdrawn, g_strdup (id));
    }

  g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable notifications_vtable = {
  notifications_method_cb, NULL, NULL, { 0 }
};

static void
notifications_acquired_cb (GDBusConnection *connection,
                           const char      *name,
                           gpointer         user_data)
{
  Fixture *fixture = user_data;

  fixture->notifications_owned = TRUE;
}

/* Starts the fake notification server and a registered application,
 * then the tray with no watcher on the bus. */
static void
create_tray_with_notifications (Fixture *fixture)
{
  g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (notifications_xml, NULL);
  g_autoptr(GError) error = NULL;

  fixture->notifications_object_id =
    g_dbus_connection_register_object (fixture->host_bus, "/org/gtk/Notifications",
                                       node->interfaces[0], &notifications_vtable, fixture,
                                       NULL, &error);
  g_assert_no_error (error);
  fixture->notifications_own_id =
    g_bus_own_name_on_connection (fixture->host_bus, "org.gtk.Notifications",
                                  G_BUS_NAME_OWNER_FLAGS_NONE, notifications_acquired_cb, NULL,
                                  fixture, NULL);
  WAIT_FOR (fixture->notifications_owned);

  fixture->application = g_application_new (TEST_APP_ID, G_APPLICATION_DEFAULT_FLAGS);
  g_application_register (fixture->application, NULL, &error);
  g_assert_no_error (error);

  fixture->tray = hg_tray_new (fixture->application, fixture->agent_bus);
  g_signal_connect (fixture->tray, "show-prompt", G_CALLBACK (show_prompt_cb), fixture);
}

static char *
notification_string (GVariant   *call,
                     const char *key)
{
  g_autoptr(GVariant) notification = g_variant_get_child_value (call, 2);
  char *value = NULL;

  g_variant_lookup (notification, key, "s", &value);
  return value;
}

static void
test_notify_without_watcher (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autofree char *title = NULL;
  g_autofree char *body = NULL;
  g_autofree char *action = NULL;
  g_autoptr(GVariant) notification = NULL;
  g_autoptr(GVariant) target = NULL;
  const char *app_id;

  create_tray_with_notifications (fixture);
  add_prompt (fixture, "1", "example.com", 443);
  WAIT_FOR (fixture->notifications->len == 1);

  g_variant_get_child (fixture->notifications->pdata[0], 0, "&s", &app_id);
  g_assert_cmpstr (app_id, ==, TEST_APP_ID);
  title = notification_string (fixture->notifications->pdata[0], "title");
  g_assert_cmpstr (title, ==, "Network access request");
  body = notification_string (fixture->notifications->pdata[0], "body");
  g_assert_cmpstr (body, ==, "build_job wants to connect to example.com:443");
  action = notification_string (fixture->notifications->pdata[0], "default-action");
  g_assert_cmpstr (action, ==, "app.show-prompt");
  notification = g_variant_get_child_value (fixture->notifications->pdata[0], 2);
  target = g_variant_lookup_value (notification, "default-action-target", G_VARIANT_TYPE_UINT32);
  g_assert_nonnull (target);
}

static void
test_notify_activate (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GVariant) notification = NULL;
  g_autoptr(GVariant) target = NULL;
  g_autoptr(GVariant) reply = NULL;
  CallResult call = { NULL, NULL, FALSE };

  create_tray_with_notifications (fixture);
  add_prompt (fixture, "1", "example.com", 443);
  add_prompt (fixture, "2", "example.org", 443);
  WAIT_FOR (fixture->notifications->len == 2);
  notification = g_variant_get_child_value (fixture->notifications->pdata[1], 2);
  target = g_variant_lookup_value (notification, "default-action-target", G_VARIANT_TYPE_UINT32);
  g_assert_nonnull (target);

  /* The notification server activates the default action over D-Bus. */
  g_dbus_connection_call (fixture->host_bus, TEST_APP_ID, TEST_APP_PATH, "org.gtk.Actions",
                          "Activate",
                          g_variant_new ("(s@av@a{sv})", "show-prompt",
                                         g_variant_new_array (G_VARIANT_TYPE_VARIANT,
                                                              (GVariant *[]) { g_variant_new_variant (target) }, 1),
                                         g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)),
                          NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, call_done_cb, &call);
  WAIT_FOR (call.done);
  g_assert_no_error (call.error);
  reply = call.reply;

  WAIT_FOR (fixture->shown->len == 1);
  g_assert_cmpstr (fixture->shown->pdata[0], ==, "2");
}

static void
test_notify_withdrawn (Fixture       *fixture,
                       gconstpointer  data)
{
  HgPrompt *prompt;
  g_autofree char *id = NULL;

  create_tray_with_notifications (fixture);
  prompt = add_prompt (fixture, "1", "example.com", 443);
  WAIT_FOR (fixture->notifications->len == 1);
  g_variant_get_child (fixture->notifications->pdata[0], 1, "s", &id);

  hg_tray_remove_prompt (fixture->tray, prompt);
  WAIT_FOR (fixture->withdrawn->len == 1);
  g_assert_cmpstr (fixture->withdrawn->pdata[0], ==, id);
}

/* Calls the application over its own connection. A notification sent
 * before the call travels the same way ahead of the reply, so once the
 * reply is in, every such notification has arrived. */
static void
sync_with_application (Fixture *fixture)
{
  CallResult call = { NULL, NULL, FALSE };

  g_dbus_connection_call (fixture->host_bus, TEST_APP_ID, TEST_APP_PATH, "org.gtk.Actions",
                          "List", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          call_done_cb, &call);
  WAIT_FOR (call.done);
  g_assert_no_error (call.error);
  g_variant_unref (call.reply);
}

static void
test_notify_not_with_watcher (Fixture       *fixture,
                              gconstpointer  data)
{
  start_watcher (fixture);
  create_tray_with_notifications (fixture);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));

  add_prompt (fixture, "1", "example.com", 443);
  sync_with_application (fixture);
  g_assert_cmpuint (fixture->notifications->len, ==, 0);
}

static void
test_notify_not_on_dispose (Fixture       *fixture,
                            gconstpointer  data)
{
  start_watcher (fixture);
  create_tray_with_notifications (fixture);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
  add_prompt (fixture, "1", "example.com", 443);

  /* Leaving the tray host on the way out must not announce the
   * waiting prompt. */
  g_clear_object (&fixture->tray);
  sync_with_application (fixture);
  g_assert_cmpuint (fixture->notifications->len, ==, 0);
}

/* Settings. The schema comes from the build tree and the values live in
 * memory, so the test changes nothing on this machine. */

static GSettings *
bind_test_settings (Fixture *fixture)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APPLICATION_ID, TRUE);
  if (schema == NULL)
    return NULL;

  hg_tray_bind_settings (fixture->tray);
  return g_settings_new_full (schema, NULL, NULL);
}

static void
test_settings_show_tray (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GSettings) settings = NULL;
  const char *name;

  create_registered_tray (fixture);
  settings = bind_test_settings (fixture);
  if (settings == NULL)
    {
      g_test_skip ("the compiled settings schema is not in GSETTINGS_SCHEMA_DIR");
      return;
    }
  name = hg_tray_get_bus_name (fixture->tray);

  g_settings_set_boolean (settings, "show-tray", FALSE);
  g_assert_false (hg_tray_get_icon_visible (fixture->tray));
  WAIT_FOR (!name_has_owner (fixture, name));

  g_settings_set_boolean (settings, "show-tray", TRUE);
  WAIT_FOR (hg_tray_get_embedded (fixture->tray));
  g_settings_reset (settings, "show-tray");
}

static void
test_settings_notifications (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GSettings) settings = NULL;

  create_registered_tray (fixture);
  settings = bind_test_settings (fixture);
  if (settings == NULL)
    {
      g_test_skip ("the compiled settings schema is not in GSETTINGS_SCHEMA_DIR");
      return;
    }

  g_assert_true (hg_tray_get_notifications (fixture->tray));
  g_settings_set_boolean (settings, "notifications", FALSE);
  g_assert_false (hg_tray_get_notifications (fixture->tray));
  g_settings_reset (settings, "notifications");
  g_assert_true (hg_tray_get_notifications (fixture->tray));
}

static void
test_notify_turned_off (Fixture       *fixture,
                        gconstpointer  data)
{
  create_tray_with_notifications (fixture);
  hg_tray_set_notifications (fixture->tray, FALSE);

  add_prompt (fixture, "1", "example.com", 443);
  hg_tray_set_notifications (fixture->tray, TRUE);
  WAIT_FOR (fixture->notifications->len == 1);
  hg_tray_set_notifications (fixture->tray, FALSE);
  WAIT_FOR (fixture->withdrawn->len == 1);
}

static void
add_test (const char *path,
          void (*func) (Fixture *, gconstpointer))
{
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *schema_dir = NULL;

  g_test_init (&argc, &argv, NULL);

  /* Before any thread starts, since setenv is not thread-safe. */
  schema_dir = g_test_build_filename (G_TEST_BUILT, "..", "data", NULL);
  g_setenv ("GSETTINGS_SCHEMA_DIR", schema_dir, TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);

  add_test ("/tray/register/watcher-first", test_register_watcher_first);
  add_test ("/tray/register/watcher-later", test_register_watcher_later);
  add_test ("/tray/register/watcher-restart", test_register_watcher_restart);
  add_test ("/tray/register/host-missing-logged", test_register_host_missing_logged);
  add_test ("/tray/register/host-present-quiet", test_register_host_present_quiet);
  add_test ("/tray/register/hidden", test_register_hidden);
  add_test ("/tray/properties/idle", test_properties_idle);
  add_test ("/tray/properties/attention", test_properties_attention);
  add_test ("/tray/menu/empty", test_menu_empty);
  add_test ("/tray/menu/layout", test_menu_layout);
  add_test ("/tray/menu/layout-updated", test_menu_layout_updated);
  add_test ("/tray/menu/pause", test_menu_pause);
  add_test ("/tray/menu/click-prompt", test_menu_click_prompt);
  add_test ("/tray/menu/click-settings-quit", test_menu_click_settings_quit);
  add_test ("/tray/menu/unknown-item", test_menu_unknown_item);
  add_test ("/tray/menu/stale-prompt", test_menu_stale_prompt);
  add_test ("/tray/activate/prompt", test_activate_prompt);
  add_test ("/tray/activate/settings", test_activate_settings);
  add_test ("/tray/pause/denies", test_pause_denies);
  add_test ("/tray/pause/resumed-asks", test_pause_resumed_asks);
  add_test ("/tray/notify/without-watcher", test_notify_without_watcher);
  add_test ("/tray/notify/activate", test_notify_activate);
  add_test ("/tray/notify/withdrawn", test_notify_withdrawn);
  add_test ("/tray/notify/not-with-watcher", test_notify_not_with_watcher);
  add_test ("/tray/notify/turned-off", test_notify_turned_off);
  add_test ("/tray/notify/not-on-dispose", test_notify_not_on_dispose);
  add_test ("/tray/settings/show-tray", test_settings_show_tray);
  add_test ("/tray/settings/notifications", test_settings_notifications);

  return g_test_run ();
}
