/* hg-agent-main.c: entry point of hostgate-agent
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <gtk/gtk.h>
#include <locale.h>

#include "hg-application.h"

/* Without a session bus the application cannot be unique; it still
 * works, and the socket check keeps a second agent from starting. */
static GApplicationFlags
choose_flags (int    argc,
              char **argv)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;

  /* Printing help or the version needs no bus, so say nothing about it. */
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--version") || g_str_has_prefix (argv[i], "--help") ||
          g_str_equal (argv[i], "-h"))
        return G_APPLICATION_NON_UNIQUE;
    }

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus != NULL)
    return G_APPLICATION_DEFAULT_FLAGS;

  /* Translators: %s is the error message from connecting to the D-Bus
   * session bus. */
  g_warning (_("No session bus (%s); running as a non-unique application"), error->message);
  return G_APPLICATION_NON_UNIQUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(HgApplication) app = NULL;
  int status;
  const char *localedir;

  setlocale (LC_ALL, "");
  /* Tests point this at the catalogues in the build tree. */
  localedir = g_getenv ("HOSTGATE_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = hg_application_new (choose_flags (argc, argv));
  status = g_application_run (G_APPLICATION (app), argc, argv);

  return status != 0 ? status : hg_application_get_exit_status (app);
}
