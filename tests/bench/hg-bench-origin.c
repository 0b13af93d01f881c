/* hg-bench-origin.c: a fast HTTP/1.1 origin for the benchmarks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One thread, epoll, keep-alive. `GET /bytes/N` responds with N bytes sent
 * from a static 1 MiB buffer, any other path with a short body. The server must not
 * be what limits a benchmark, so it does no allocation per request and no
 * copying beyond the kernel's.
 */
#include "config.h"

#include "hg-bench-listen.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BODY_CHUNK    (1024 * 1024)
#define HEAD_MAX      8192
#define MAX_EVENTS    256

static const char small_body[] = "hello from the hostgate bench origin\n";

typedef struct {
  int      fd;
  char     in[HEAD_MAX];
  gsize    in_len;
  char     head[256];
  gsize    head_len;
  gsize    head_sent;
  guint64  body_left;
  const char *body;         /* small_body, or NULL for the big buffer */
  gsize    body_sent;       /* offset into small_body */
  gboolean close_after;
  gboolean writing;
} Conn;

static char big_buffer[BODY_CHUNK];
static int epoll_fd = -1;
static GHashTable *all_conns;    /* every open Conn, freed at exit */
static volatile sig_atomic_t stop_requested;

static void
stop_cb (int signum)
{
  stop_requested = 1;
}

static void
conn_close (Conn *conn)
{
  epoll_ctl (epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
  close (conn->fd);
  g_hash_table_remove (all_conns, conn);
  g_free (conn);
}

static void
conn_watch (Conn    *conn,
            uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.ptr = conn };

  epoll_ctl (epoll_fd, EPOLL_CTL_MOD, conn->fd, &ev);
}

/* Returns TRUE if the head has `Connection: close`, in any case. */
static gboolean
head_wants_close (const char *head,
                  gsize       len)
{
  static const char name[] = "\r\nconnection:";
  static const char value[] = "close";

  for (gsize i = 0; i + sizeof name - 1 < len; i++)
    {
      gsize at = i + sizeof name - 1;

      if (g_ascii_strncasecmp (head + i, name, sizeof name - 1) != 0)
        continue;
      while (at < len && head[at] == ' ')
        at++;
      if (at + sizeof value - 1 <= len
          && g_ascii_strncasecmp (head + at, value, sizeof value - 1) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Parses the request head at the start of conn->in and sets up the
 * response. Returns the head's length, 0 when it is incomplete, or -1 when
 * the request is not understood. */
static gssize
conn_parse_request (Conn *conn)
{
  const char *end, *target, *space, *path, *line_end;
  guint64 size = 0;
  gboolean is_bytes = FALSE;
  gsize head_len;

  end = g_strstr_len (conn->in, conn->in_len, "\r\n\r\n");
  if (end == NULL)
    return conn->in_len >= sizeof conn->in ? -1 : 0;
  head_len = end + 4 - conn->in;

  line_end = memchr (conn->in, '\r', head_len);
  target = memchr (conn->in, ' ', line_end - conn->in);
  if (target == NULL)
    return -1;
  target++;
  space = memchr (target, ' ', line_end - target);
  if (space == NULL)
    return -1;

  /* Proxies forward the origin form, but accept the absolute form too. */
  path = target;
  if (g_str_has_prefix (target, "http://"))
    {
      path = memchr (target + 7, '/', space - target - 7);
      if (path == NULL)
        path = space;
    }
  if (space - path > 7 && strncmp (path, "/bytes/", 7) == 0)
    {
      size = g_ascii_strtoull (path + 7, NULL, 10);
      is_bytes = TRUE;
    }

  conn->close_after = head_wants_close (conn->in, head_len)
                      || strncmp (space + 1, "HTTP/1.0", 8) == 0;

  conn->body = is_bytes ? NULL : small_body;
  conn->body_left = is_bytes ? size : sizeof small_body - 1;
  conn->body_sent = 0;
  conn->head_len = g_snprintf (conn->head, sizeof conn->head,
                               "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Content-Length: %" G_GUINT64_FORMAT "\r\n"
                               "%s\r\n",
                               conn->body_left,
                               conn->close_after ? "Connection: close\r\n" : "");
  conn->head_sent = 0;
  return head_len;
}

/* Sends as much of the response as the socket takes. Returns FALSE on a
 * socket error; sets conn->writing while bytes remain. */
static gboolean
conn_send (Conn *conn)
{
  while (conn->head_sent < conn->head_len || conn->body_left > 0)
    {
      struct iovec iov[2];
      int n_iov = 0;
      ssize_t sent;
      gsize body_now = 0;

      if (conn->head_sent < conn->head_len)
        {
          iov[n_iov].iov_base = conn->head + conn->head_sent;
          iov[n_iov].iov_len = conn->head_len - conn->head_sent;
          n_iov++;
        }
      if (conn->body_left > 0)
        {
          if (conn->body != NULL)
            {
              body_now = conn->body_left;
              iov[n_iov].iov_base = (char *) conn->body + conn->body_sent;
            }
          else
            {
              body_now = MIN (conn->body_left, (guint64) BODY_CHUNK);
              iov[n_iov].iov_base = big_buffer;
            }
          iov[n_iov].iov_len = body_now;
          n_iov++;
        }

      sent = writev (conn->fd, iov, n_iov);
      if (sent < 0 && errno == EINTR)
        continue;
      if (sent < 0 && errno == EAGAIN)
        {
          conn->writing = TRUE;
          return TRUE;
        }
      if (sent < 0)
        return FALSE;

      if (conn->head_sent < conn->head_len)
        {
          gsize head_part = MIN ((gsize) sent, conn->head_len - conn->head_sent);

          conn->head_sent += head_part;
          sent -= head_part;
        }
      conn->body_left -= sent;
      if (conn->body != NULL)
        conn->body_sent += sent;
    }

  conn->writing = FALSE;
  return TRUE;
}

/* Serves every complete request in the input buffer, in order. Returns
 * FALSE when the connection must be closed. */
static gboolean
conn_serve (Conn *conn)
{
  while (!conn->writing)
    {
      gssize used = conn_parse_request (conn);

      if (used < 0)
        return FALSE;
      if (used == 0)
        return TRUE;

      memmove (conn->in, conn->in + used, conn->in_len - used);
      conn->in_len -= used;

      if (!conn_send (conn))
        return FALSE;
      if (!conn->writing && conn->close_after)
        return FALSE;
    }

  return TRUE;
}

static void
conn_event (Conn    *conn,
            uint32_t events)
{
  if (conn->writing && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
    {
      if (!conn_send (conn))
        {
          conn_close (conn);
          return;
        }
      if (conn->writing)
        return;
      if (conn->close_after)
        {
          conn_close (conn);
          return;
        }
      conn_watch (conn, EPOLLIN);
    }

  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    {
      while (!conn->writing && conn->in_len < sizeof conn->in)
        {
          ssize_t got = read (conn->fd, conn->in + conn->in_len,
                              sizeof conn->in - conn->in_len);

          if (got < 0 && errno == EINTR)
            continue;
          if (got < 0 && errno == EAGAIN)
            break;
          if (got <= 0)
            {
              conn_close (conn);
              return;
            }
          conn->in_len += got;
          if (!conn_serve (conn))
            {
              conn_close (conn);
              return;
            }
        }
    }

  if (conn->writing)
    conn_watch (conn, EPOLLOUT);
}

static void
accept_all (int listen_fd)
{
  for (;;)
    {
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      int one = 1;
      Conn *conn;
      struct epoll_event ev;

      if (fd < 0)
        return;

      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conn = g_new0 (Conn, 1);
      conn->fd = fd;
      ev.events = EPOLLIN;
      ev.data.ptr = conn;
      if (epoll_ctl (epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        {
          close (fd);
          g_free (conn);
          continue;
        }
      g_hash_table_add (all_conns, conn);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *address = NULL;
  g_autofree char *port_file = NULL;
  int port = 0;
  GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Listen on this IPv4 address (default: 127.0.0.1)", "ADDR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "Listen on this port; 0 picks a free one (default: 0)", "PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file, "Write the bound port to FILE once listening", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  struct epoll_event ev, events[MAX_EVENTS];
  int listen_fd;

  g_option_context_set_summary (context, "Serve GET /bytes/N (N bytes) and GET / over HTTP/1.1 for benchmarks.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  /* GOption replaces a default without freeing it. */
  if (address == NULL)
    address = g_strdup ("127.0.0.1");
  if (port < 0 || port > 65535)
    {
      g_printerr ("Invalid port %d: expected 0 to 65535\n", port);
      return 2;
    }

  memset (big_buffer, 'x', sizeof big_buffer);
  signal (SIGPIPE, SIG_IGN);
  signal (SIGTERM, stop_cb);
  signal (SIGINT, stop_cb);

  listen_fd = hg_bench_listen (address, port, &error);
  if (listen_fd < 0)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  all_conns = g_hash_table_new (NULL, NULL);
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  epoll_ctl (epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);

  if (port_file != NULL && !hg_bench_write_port_file (port_file, listen_fd, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  while (!stop_requested)
    {
      int n = epoll_wait (epoll_fd, events, MAX_EVENTS, 1000);

      for (int i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            accept_all (listen_fd);
          else
            conn_event (events[i].data.ptr, events[i].events);
        }
    }

  while (g_hash_table_size (all_conns) > 0)
    {
      GHashTableIter iter;
      gpointer conn;

      g_hash_table_iter_init (&iter, all_conns);
      g_hash_table_iter_next (&iter, &conn, NULL);
      conn_close (conn);
    }
  g_hash_table_unref (all_conns);
  close (listen_fd);
  close (epoll_fd);
  return 0;
}
