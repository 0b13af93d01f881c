/* profile-writer.c: adds allow-list entries to a profile one write at a
 * time, for the end-to-end tests that kill the writer or take its disk
 * away
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: profile-writer FOLDER PROFILE PREFIX COUNT
 *
 * Adds PREFIX-0.example, PREFIX-1.example, … to the allow list of
 * PROFILE in FOLDER with hg_profile_store_add_entries_async(), one entry
 * per write, each write started after the previous one finished. After
 * each finished write it prints `done ENTRY` and flushes standard
 * output, so a test that kills the process knows which writes were
 * reported complete. A failed write prints `error MESSAGE` and ends the
 * program with status 1.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "hg-profile-store.h"

typedef struct {
  HgProfileStore *store;
  GMainLoop *loop;
  const char *profile;
  const char *prefix;
  guint count;
  guint next;
  char *entry;
  int status;
} Writer;

static void write_next (Writer *writer);

static void
written_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Writer *writer = user_data;
  g_autoptr(GError) error = NULL;

  if (!hg_profile_store_edit_finish (HG_PROFILE_STORE (source), result, &error))
    {
      printf ("error %s\n", error->message);
      fflush (stdout);
      writer->status = 1;
      g_main_loop_quit (writer->loop);
      return;
    }

  printf ("done %s\n", writer->entry);
  fflush (stdout);
  write_next (writer);
}

static void
write_next (Writer *writer)
{
  const char *entries[2] = { NULL, NULL };

  if (writer->next >= writer->count)
    {
      g_main_loop_quit (writer->loop);
      return;
    }

  g_free (writer->entry);
  writer->entry = g_strdup_printf ("%s-%u.example", writer->prefix, writer->next++);
  entries[0] = writer->entry;
  hg_profile_store_add_entries_async (writer->store, writer->profile, HG_PROFILE_LIST_ALLOW,
                                      entries, NULL, written_cb, writer);
}

int
main (int   argc,
      char *argv[])
{
  Writer writer = { 0 };
  guint64 count = 0;

  if (argc != 5 || !g_ascii_string_to_unsigned (argv[4], 10, 1, G_MAXUINT, &count, NULL))
    {
      fprintf (stderr, "Usage: %s FOLDER PROFILE PREFIX COUNT\n", argv[0]);
      return 2;
    }

  writer.store = hg_profile_store_new (argv[1]);
  writer.loop = g_main_loop_new (NULL, FALSE);
  writer.profile = argv[2];
  writer.prefix = argv[3];
  writer.count = (guint) count;

  write_next (&writer);
  g_main_loop_run (writer.loop);

  g_free (writer.entry);
  g_main_loop_unref (writer.loop);
  g_object_unref (writer.store);
  return writer.status;
}
