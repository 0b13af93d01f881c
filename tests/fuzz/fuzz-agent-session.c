/* fuzz-agent-session.c: the agent's handling of a proxy's messages under
 * libFuzzer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each input is the byte stream one proxy sends on its connection. It is
 * written into one end of a Unix socket pair while an HgAgentSession
 * reads the other end, the main context runs until the session has
 * closed (it closes at the end of the stream at the latest), and the
 * session's replies are read and dropped. The store holds one profile,
 * `work`, so `hello` for `work` and for the built-in `default` both
 * succeed. A crash, a failed assertion, a GLib critical or a sanitizer
 * report is a finding.
 */
#include "config.h"

#include "hg-agent-session.h"
#include "hg-history-entry.h"
#include "hg-profile-store.h"

#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* Main context iterations per input. A session reads a line per
 * iteration or so, and inputs are at most a few kilobytes. */
#define MAX_ITERATIONS 20000

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static HgProfileStore *store;
static GListStore *history;

static void
set_up_once (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  if (store != NULL)
    return;

  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  dir = g_dir_make_tmp ("hostgate-fuzz-XXXXXX", NULL);
  g_assert_nonnull (dir);
  path = g_build_filename (dir, "work.json", NULL);
  g_assert_true (g_file_set_contents (path,
                                      "{\"network\": {\"allow_domain\": [\"api.example\"], "
                                      "\"deny_domain\": [\"ads.example\"], \"approval_mode\": \"ask\"}}\n",
                                      -1, NULL));
  store = hg_profile_store_new (dir);
  history = g_list_store_new (HG_TYPE_HISTORY_ENTRY);
}

/* Writes as much of the input as the socket takes without blocking and
 * reads whatever the session replied, so neither side stalls. */
static void
pump (int            fd,
      const uint8_t *data,
      size_t         size,
      size_t        *written,
      gboolean      *shut)
{
  char sink[4096];

  while (*written < size)
    {
      ssize_t n = send (fd, data + *written, size - *written, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n <= 0)
        break;
      *written += (size_t) n;
    }

  if (*written == size && !*shut)
    {
      shutdown (fd, SHUT_WR);
      *shut = TRUE;
    }

  while (recv (fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
    ;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(HgAgentSession) session = NULL;
  size_t written = 0;
  gboolean shut = FALSE;
  int fds[2];

  set_up_once ();
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);

  socket = g_socket_new_from_fd (fds[0], NULL);
  g_assert_nonnull (socket);
  connection = g_socket_connection_factory_create_connection (socket);
  session = hg_agent_session_new (connection, store, history);
  hg_agent_session_start (session);

  for (guint i = 0; i < MAX_ITERATIONS && !hg_agent_session_is_closed (session); i++)
    {
      pump (fds[1], data, size, &written, &shut);
      g_main_context_iteration (NULL, FALSE);
    }

  hg_agent_session_close (session);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  close (fds[1]);

  if (g_list_model_get_n_items (G_LIST_MODEL (history)) > 100)
    g_list_store_remove_all (history);

  return 0;
}
