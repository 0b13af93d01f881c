/* hg-bench-sockmap.c: an in-kernel CONNECT relay, the benchmarks' reference
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Not part of hostgate. It serves one CONNECT at a time, to one port of
 * 127.0.0.1, and then adds the two sockets to a BPF sockhash. A verdict
 * program sends every byte that arrives on one socket out of the other,
 * inside the kernel, with no copy to user space. It measures how fast a
 * tunnel could be on the machine without the copies. Loading the
 * program needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN, which
 * hostgate-proxy, run by the user for one sandbox, does not have.
 *
 * The sockhash maps the cookie of the socket that receives to the socket
 * that sends. A request head followed by early bytes is rejected, and the
 * benchmark origin waits for the request, so no byte arrives before both
 * sockets are in the map.
 */
#include "config.h"

#include "hg-bench-listen.h"

#include <glib.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define HEAD_MAX        4096
#define HEAD_TIMEOUT_MS 10000
#define MAP_ENTRIES     16

static volatile sig_atomic_t stop_requested;

static void
stop_cb (int signum)
{
  stop_requested = 1;
}

static int
sys_bpf (int             cmd,
         union bpf_attr *attr)
{
  return syscall (__NR_bpf, cmd, attr, sizeof *attr);
}

#define INSN(op, dst, src, offset, immediate) \
  ((struct bpf_insn) { .code = (op), .dst_reg = (dst), .src_reg = (src), \
                       .off = (offset), .imm = (immediate) })

/* Loads the verdict program. Its map key is the cookie of the socket the
 * bytes arrived on, and the map entry is the socket that sends them on. */
static int
load_program (int      map_fd,
              GError **error)
{
  struct bpf_insn program[] = {
    INSN (BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0),
    INSN (BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_socket_cookie),
    INSN (BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, BPF_REG_0, -8, 0),
    INSN (BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0),
    INSN (BPF_LD | BPF_IMM | BPF_DW, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0, map_fd),
    INSN (0, 0, 0, 0, 0),
    INSN (BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_10, 0, 0),
    INSN (BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, -8),
    INSN (BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 0),
    INSN (BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_redirect_hash),
    INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static char verifier_log[16384];
  union bpf_attr attr = { 0 };
  int prog_fd;

  attr.prog_type = BPF_PROG_TYPE_SK_SKB;
  attr.insns = (guint64) (guintptr) program;
  attr.insn_cnt = G_N_ELEMENTS (program);
  attr.license = (guint64) (guintptr) "GPL";
  attr.log_buf = (guint64) (guintptr) verifier_log;
  attr.log_size = sizeof verifier_log;
  attr.log_level = 1;
  prog_fd = sys_bpf (BPF_PROG_LOAD, &attr);
  if (prog_fd < 0)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "Could not load the verdict program: %s\n%s",
                 g_strerror (errno), verifier_log);
  return prog_fd;
}

/* Creates the sockhash and attaches the verdict program to it. */
static int
load_relay (GError **error)
{
  union bpf_attr map_attr = { 0 };
  union bpf_attr attach_attr = { 0 };
  int map_fd, prog_fd;

  map_attr.map_type = BPF_MAP_TYPE_SOCKHASH;
  map_attr.key_size = sizeof (guint64);
  map_attr.value_size = sizeof (guint64);
  map_attr.max_entries = MAP_ENTRIES;
  map_fd = sys_bpf (BPF_MAP_CREATE, &map_attr);
  if (map_fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "Could not create the sockhash: %s (it needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)",
                   g_strerror (errno));
      return -1;
    }

  prog_fd = load_program (map_fd, error);
  if (prog_fd < 0)
    {
      close (map_fd);
      return -1;
    }

  attach_attr.target_fd = map_fd;
  attach_attr.attach_bpf_fd = prog_fd;
  attach_attr.attach_type = BPF_SK_SKB_STREAM_VERDICT;
  if (sys_bpf (BPF_PROG_ATTACH, &attach_attr) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "Could not attach the verdict program: %s", g_strerror (errno));
      close (prog_fd);
      close (map_fd);
      return -1;
    }

  /* The map keeps its own reference to the attached program. */
  close (prog_fd);
  return map_fd;
}

static gboolean
socket_cookie (int      fd,
               guint64 *cookie)
{
  socklen_t len = sizeof *cookie;

  return getsockopt (fd, SOL_SOCKET, SO_COOKIE, cookie, &len) == 0;
}

/* Adds the map entry that sends bytes arriving on from_fd out of to_fd. */
static gboolean
join_one_way (int map_fd,
              int from_fd,
              int to_fd)
{
  union bpf_attr attr = { 0 };
  guint64 key, value = to_fd;

  if (!socket_cookie (from_fd, &key))
    return FALSE;

  attr.map_fd = map_fd;
  attr.key = (guint64) (guintptr) &key;
  attr.value = (guint64) (guintptr) &value;
  attr.flags = BPF_ANY;
  return sys_bpf (BPF_MAP_UPDATE_ELEM, &attr) == 0;
}

/* Reads the request head. Returns the CONNECT port, or 0 when the head is
 * not a CONNECT, is too long, is followed by early bytes, or times out. */
static guint
read_connect_port (int fd)
{
  char head[HEAD_MAX + 1];
  gsize len = 0;
  const char *end = NULL;
  const char *colon, *space;
  g_autofree char *port_text = NULL;
  guint64 port;

  while (end == NULL && len < HEAD_MAX)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      ssize_t n;

      if (poll (&pfd, 1, HEAD_TIMEOUT_MS) <= 0)
        return 0;
      n = read (fd, head + len, HEAD_MAX - len);
      if (n <= 0)
        return 0;
      len += n;
      head[len] = '\0';
      end = strstr (head, "\r\n\r\n");
    }

  if (end == NULL || (gsize) (end + 4 - head) != len || !g_str_has_prefix (head, "CONNECT "))
    return 0;

  space = strchr (head + strlen ("CONNECT "), ' ');
  if (space == NULL)
    return 0;
  colon = g_strrstr_len (head, space - head, ":");
  if (colon == NULL)
    return 0;
  port_text = g_strndup (colon + 1, space - colon - 1);
  if (!g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &port, NULL))
    return 0;
  return port;
}

static int
connect_origin (guint port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd >= 0 && connect (fd, (struct sockaddr *) &sin, sizeof sin) < 0)
    {
      int saved_errno = errno;

      close (fd);
      errno = saved_errno;
      return -1;
    }
  return fd;
}

static void
send_text (int         fd,
           const char *text)
{
  if (write (fd, text, strlen (text)) < 0)
    g_printerr ("Could not answer the client: %s\n", g_strerror (errno));
}

/* Waits until either side hangs up, while the kernel moves the bytes.
 * Closing a socket removes it from the sockhash. */
static void
wait_for_hangup (int client_fd,
                 int origin_fd)
{
  struct pollfd pfd[2] = {
    { .fd = client_fd, .events = POLLRDHUP },
    { .fd = origin_fd, .events = POLLRDHUP },
  };

  while (!stop_requested && poll (pfd, 2, 1000) == 0)
    ;
}

static void
serve_client (int   map_fd,
              int   client_fd,
              guint origin_port)
{
  int one = 1;
  guint port = read_connect_port (client_fd);
  int origin_fd;

  if (port != origin_port)
    {
      g_printerr ("Rejected a request that is not a CONNECT to port %u\n", origin_port);
      send_text (client_fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }

  origin_fd = connect_origin (port);
  if (origin_fd < 0)
    {
      g_printerr ("Could not connect to 127.0.0.1:%u: %s\n", port, g_strerror (errno));
      send_text (client_fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }

  setsockopt (client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt (origin_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (join_one_way (map_fd, client_fd, origin_fd) && join_one_way (map_fd, origin_fd, client_fd))
    {
      send_text (client_fd, "HTTP/1.1 200 Connection established\r\n\r\n");
      wait_for_hangup (client_fd, origin_fd);
    }
  else
    {
      g_printerr ("Could not add the sockets to the sockhash: %s\n", g_strerror (errno));
      send_text (client_fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
  close (origin_fd);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *port_file = NULL;
  int origin_port = 0;
  GOptionEntry entries[] = {
    { "origin-port", 0, 0, G_OPTION_ARG_INT, &origin_port, "Relay CONNECT requests to this port of 127.0.0.1 only", "PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file, "Write the bound port to FILE once listening", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  int map_fd, listen_fd;

  g_option_context_set_summary (context, "Relay CONNECT tunnels inside the kernel (BPF sockhash), for benchmarks.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (origin_port < 1 || origin_port > 65535 || port_file == NULL)
    {
      g_printerr ("Give --origin-port (1 to 65535) and --port-file\n");
      return 2;
    }

  signal (SIGPIPE, SIG_IGN);
  signal (SIGTERM, stop_cb);
  signal (SIGINT, stop_cb);

  map_fd = load_relay (&error);
  if (map_fd < 0 || (listen_fd = hg_bench_listen ("127.0.0.1", 0, &error)) < 0
      || !hg_bench_write_port_file (port_file, listen_fd, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  while (!stop_requested)
    {
      struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
      int client_fd;

      if (poll (&pfd, 1, 1000) <= 0)
        continue;
      client_fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (client_fd < 0)
        continue;
      serve_client (map_fd, client_fd, origin_port);
      close (client_fd);
    }

  close (listen_fd);
  close (map_fd);
  return 0;
}
