/* fake-sni-watcher.c: a minimal tray host's watcher on the session bus,
 * for the end-to-end tests of the agent's tray icon
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: fake-sni-watcher
 *
 * Owns org.kde.StatusNotifierWatcher on the session bus named by
 * DBUS_SESSION_BUS_ADDRESS and exports the watcher interface at
 * /StatusNotifierWatcher. Once the name is owned it prints `ready`; each
 * RegisterStatusNotifierItem call prints `registered SERVICE SENDER`.
 * Every line is flushed at once, so a test reading the pipe gets it
 * while the program runs. SIGTERM or SIGINT ends the program with
 * status 0; losing the name or the bus ends it with 1.
 */
#include "config.h"

#include <glib-unix.h>
#include <gio/gio.h>
#include <signal.h>
#include <stdio.h>

#define WATCHER_NAME "org.kde.StatusNotifierWatcher"
#define WATCHER_PATH "/StatusNotifierWatcher"

static const char watcher_xml[] =
  "<node>"
  "  <interface name='org.kde.StatusNotifierWatcher'>"
  "    <method name='RegisterStatusNotifierItem'>"
  "      <arg name='service' type='s' direction='in'/>"
  "    </method>"
  "    <method name='RegisterStatusNotifierHost'>"
  "      <arg name='service' type='s' direction='in'/>"
  "    </method>"
  "    <property name='RegisteredStatusNotifierItems' type='as' access='read'/>"
  "    <property name='IsStatusNotifierHostRegistered' type='b' access='read'/>"
  "    <property name='ProtocolVersion' type='i' access='read'/>"
  "    <signal name='StatusNotifierItemRegistered'>"
  "      <arg name='service' type='s'/>"
  "    </signal>"
  "    <signal name='StatusNotifierItemUnregistered'>"
  "      <arg name='service' type='s'/>"
  "    </signal>"
  "    <signal name='StatusNotifierHostRegistered'/>"
  "  </interface>"
  "</node>";

typedef struct {
  GMainLoop *loop;
  GPtrArray *items;
  int status;
} Watcher;

static void
print_line (const char *format,
            ...) G_GNUC_PRINTF (1, 2);

static void
print_line (const char *format,
            ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

static void
method_call_cb (GDBusConnection       *connection,
                const char            *sender,
                const char            *object_path,
                const char            *interface_name,
                const char            *method_name,
                GVariant              *parameters,
                GDBusMethodInvocation *invocation,
                gpointer               user_data)
{
  Watcher *watcher = user_data;
  const char *service;

  g_variant_get (parameters, "(&s)", &service);
  g_dbus_method_invocation_return_value (invocation, NULL);

  if (!g_str_equal (method_name, "RegisterStatusNotifierItem"))
    return;

  g_ptr_array_add (watcher->items, g_strdup (service));
  print_line ("registered %s %s", service, sender);
  g_dbus_connection_emit_signal (connection, NULL, WATCHER_PATH, WATCHER_NAME,
                                 "StatusNotifierItemRegistered",
                                 g_variant_new ("(s)", service), NULL);
}

static GVariant *
get_property_cb (GDBusConnection  *connection,
                 const char       *sender,
                 const char       *object_path,
                 const char       *interface_name,
                 const char       *property_name,
                 GError          **error,
                 gpointer          user_data)
{
  Watcher *watcher = user_data;

  if (g_str_equal (property_name, "RegisteredStatusNotifierItems"))
    return g_variant_new_strv ((const char * const *) watcher->items->pdata, watcher->items->len);
  if (g_str_equal (property_name, "IsStatusNotifierHostRegistered"))
    return g_variant_new_boolean (TRUE);

  return g_variant_new_int32 (0);
}

static const GDBusInterfaceVTable watcher_vtable = {
  method_call_cb,
  get_property_cb,
  NULL,
  { 0 }
};

static void
name_acquired_cb (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  print_line ("ready");
}

static void
name_lost_cb (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  Watcher *watcher = user_data;

  g_printerr ("Could not own the bus name %s, or lost it\n", name);
  watcher->status = 1;
  g_main_loop_quit (watcher->loop);
}

static gboolean
quit_cb (gpointer user_data)
{
  Watcher *watcher = user_data;

  g_main_loop_quit (watcher->loop);
  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GDBusNodeInfo) node = NULL;
  Watcher watcher = { NULL, NULL, 0 };
  guint object_id;
  guint own_id;

  connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (connection == NULL)
    {
      g_printerr ("Could not connect to the session bus: %s\n", error->message);
      return 1;
    }

  node = g_dbus_node_info_new_for_xml (watcher_xml, &error);
  g_assert_no_error (error);

  watcher.items = g_ptr_array_new_with_free_func (g_free);
  object_id = g_dbus_connection_register_object (connection, WATCHER_PATH, node->interfaces[0],
                                                 &watcher_vtable, &watcher, NULL, &error);
  if (object_id == 0)
    {
      g_printerr ("Could not export %s: %s\n", WATCHER_PATH, error->message);
      g_ptr_array_unref (watcher.items);
      return 1;
    }

  watcher.loop = g_main_loop_new (NULL, FALSE);

  own_id = g_bus_own_name_on_connection (connection, WATCHER_NAME,
                                         G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                         name_acquired_cb, name_lost_cb, &watcher, NULL);
  g_unix_signal_add (SIGTERM, quit_cb, &watcher);
  g_unix_signal_add (SIGINT, quit_cb, &watcher);

  g_main_loop_run (watcher.loop);

  g_bus_unown_name (own_id);
  g_dbus_connection_unregister_object (connection, object_id);
  g_ptr_array_unref (watcher.items);
  g_main_loop_unref (watcher.loop);
  return watcher.status;
}
