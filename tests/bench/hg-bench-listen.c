/* hg-bench-listen.c: the listening socket of the benchmark servers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-bench-listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* Returns a non-blocking socket listening on ADDRESS:PORT, or -1. */
int
hg_bench_listen (const char *address,
                 guint16     port,
                 GError    **error)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port) };
  socklen_t len = sizeof sin;
  int fd, one = 1;

  if (inet_pton (AF_INET, address, &sin.sin_addr) != 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "Invalid address “%s”: expected an IPv4 address such as 127.0.0.1",
                   address);
      return -1;
    }

  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) < 0
      || listen (fd, 4096) < 0
      || getsockname (fd, (struct sockaddr *) &sin, &len) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "Could not listen on %s:%u: %s", address, port, g_strerror (errno));
      close (fd);
      return -1;
    }

  return fd;
}

/* Writes the port LISTEN_FD is bound to, so a harness can find it. */
gboolean
hg_bench_write_port_file (const char *path,
                          int         listen_fd,
                          GError    **error)
{
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  g_autofree char *text = NULL;

  getsockname (listen_fd, (struct sockaddr *) &sin, &len);
  text = g_strdup_printf ("%u\n", ntohs (sin.sin_port));
  return g_file_set_contents (path, text, -1, error);
}
