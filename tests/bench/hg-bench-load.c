/* hg-bench-load.c: a load generator for HTTP proxies, CONNECT included
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Debian's load generators cannot open CONNECT tunnels (wrk) or hold
 * thousands of them open (hey), so the benchmarks use this one. One thread,
 * epoll, a fixed number of concurrent clients. Three modes:
 *
 * - connect: each request opens a connection, sends CONNECT (unless
 *   direct), a GET with `Connection: close`, reads to the end and closes.
 * - keepalive: each client keeps its connection and sends GETs one after
 *   another, in absolute form through a proxy, in origin form directly.
 * - idle: opens --requests tunnels, sends one GET through each, prints a
 *   line, keeps them open until standard input is closed or has a line.
 *
 * Every run is bounded by a request count and a wall-clock cap. The result
 * is one JSON object per line on standard output.
 */
#include "config.h"

#include <glib.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX    16384
#define READ_SIZE   65536
#define MAX_EVENTS  512

typedef enum {
  MODE_CONNECT,
  MODE_KEEPALIVE,
  MODE_IDLE,
} Mode;

typedef enum {
  STATE_CONNECTING,
  STATE_TUNNEL_REPLY,
  STATE_RESPONSE,
  STATE_IDLE,
} State;

typedef struct {
  int      fd;
  State    state;
  gint64   started;          /* when the current request began, µs */
  char     head[HEAD_MAX];
  gsize    head_len;
  gboolean head_done;
  gint64   body_left;        /* -1: until end of stream */
  gboolean close_after;
  gboolean drain;            /* body read; waiting for end of stream */
  guint    served;           /* responses read on this connection */
} Client;

typedef struct {
  Mode     mode;
  gboolean direct;
  struct sockaddr_in target;  /* the proxy, or the origin when direct */
  char    *connect_request;
  char    *get_request;
  gsize    connect_len;
  gsize    get_len;

  guint    clients;
  guint64  requests;          /* to start, in total */
  gint64   deadline;

  guint64  started;
  guint64  completed;
  guint64  errors;
  guint64  reconnects;
  guint64  dropped;
  guint    active;
  guint    idle;
  guint32 *latencies;
  guint64  n_latencies;
  int      epoll_fd;
  GHashTable *all_clients;    /* every open Client, freed at exit */
  char     scratch[READ_SIZE];
} Load;

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

static void
client_free (Load   *load,
             Client *client)
{
  epoll_ctl (load->epoll_fd, EPOLL_CTL_DEL, client->fd, NULL);
  close (client->fd);
  g_hash_table_remove (load->all_clients, client);
  g_free (client);
  load->active--;
}

static gboolean
send_all (int         fd,
          const char *data,
          gsize       len)
{
  /* Requests are a few hundred bytes, which a fresh socket accepts in one
   * call. */
  while (len > 0)
    {
      ssize_t sent = send (fd, data, len, MSG_NOSIGNAL);

      if (sent < 0 && errno == EINTR)
        continue;
      if (sent <= 0)
        return FALSE;
      data += sent;
      len -= sent;
    }
  return TRUE;
}

static void
client_reset_response (Client *client)
{
  client->head_len = 0;
  client->head_done = FALSE;
  client->body_left = -1;
  client->close_after = FALSE;
  client->drain = FALSE;
}

static gboolean
client_send_get (Load   *load,
                 Client *client)
{
  client_reset_response (client);
  client->state = STATE_RESPONSE;
  return send_all (client->fd, load->get_request, load->get_len);
}

/* Starts one connection; returns NULL if even that fails. */
static Client *
client_start (Load *load)
{
  Client *client;
  struct epoll_event ev;
  int fd, one = 1;

  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  client = g_new0 (Client, 1);
  client->fd = fd;
  client->state = STATE_CONNECTING;
  client->started = now_us ();
  load->active++;
  g_hash_table_add (load->all_clients, client);

  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.ptr = client;
  epoll_ctl (load->epoll_fd, EPOLL_CTL_ADD, fd, &ev);

  if (connect (fd, (struct sockaddr *) &load->target, sizeof load->target) < 0
      && errno != EINPROGRESS)
    {
      client_free (load, client);
      return NULL;
    }

  return client;
}

static void
record_latency (Load   *load,
                Client *client)
{
  gint64 elapsed = now_us () - client->started;

  if (load->n_latencies < load->requests)
    load->latencies[load->n_latencies++] = (guint32) MIN (elapsed, (gint64) G_MAXUINT32);
  load->completed++;
}

/* Returns TRUE when another request may start now. */
static gboolean
may_start (Load *load)
{
  return load->started < load->requests && now_us () < load->deadline;
}

static void
start_request (Load *load)
{
  load->started++;
  if (client_start (load) == NULL)
    load->errors++;
}

/* Parses the response head collected so far. Returns -1 on a bad head, 0
 * when it is incomplete, else the head length. */
static gssize
parse_head (Client  *client,
            guint   *status)
{
  const char *end, *p;
  g_autofree char *lower = NULL;
  gsize head_len;

  end = g_strstr_len (client->head, client->head_len, "\r\n\r\n");
  if (end == NULL)
    return client->head_len >= HEAD_MAX ? -1 : 0;
  head_len = end + 4 - client->head;

  if (head_len < 12 || strncmp (client->head, "HTTP/1.", 7) != 0)
    return -1;
  *status = (guint) g_ascii_strtoull (client->head + 9, NULL, 10);

  lower = g_ascii_strdown (client->head, head_len);
  p = strstr (lower, "\r\ncontent-length:");
  client->body_left = p != NULL ? (gint64) g_ascii_strtoull (p + 17, NULL, 10) : -1;
  client->close_after = strstr (lower, "\r\nconnection: close") != NULL
                        || strncmp (lower, "http/1.0", 8) == 0;
  return head_len;
}

/* Reads what is available. Returns 1 when the response (or tunnel reply)
 * is complete, 0 when more is needed, -1 on error. */
static int
client_read (Load   *load,
             Client *client)
{
  for (;;)
    {
      char *buffer = client->head_done ? load->scratch : client->head + client->head_len;
      gsize room = client->head_done ? sizeof load->scratch : HEAD_MAX - client->head_len;
      ssize_t got;

      if (client->head_done && client->body_left == 0)
        {
          /* With `Connection: close`, wait for the end of stream so that
           * the server side, which closes first, keeps the TIME_WAIT. */
          if (load->mode != MODE_CONNECT)
            return 1;
          client->drain = TRUE;
          client->body_left = -1;
        }
      if (client->head_done && client->body_left >= 0)
        room = MIN ((gint64) room, client->body_left);

      got = recv (client->fd, buffer, room, 0);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0 && errno == EAGAIN)
        return 0;
      if (got < 0)
        return -1;
      if (got == 0)
        return client->head_done && client->body_left < 0 ? 1 : -1;
      if (client->drain)
        return -1;

      if (!client->head_done)
        {
          guint status = 0;
          gssize head_len;

          client->head_len += got;
          head_len = parse_head (client, &status);
          if (head_len < 0)
            return -1;
          if (head_len == 0)
            continue;
          if (status != 200)
            return -1;
          client->head_done = TRUE;
          if (client->state == STATE_TUNNEL_REPLY)
            return client->head_len == (gsize) head_len ? 1 : -1;
          got = client->head_len - head_len;
          if (client->body_left < 0)
            continue;
        }

      if (client->body_left >= 0)
        {
          if (got > client->body_left)
            return -1;
          client->body_left -= got;
        }
    }
}

/* Called when a request (or in idle mode, the tunnel's first request)
 * has completed. */
static void
client_done (Load   *load,
             Client *client)
{
  record_latency (load, client);
  client->served++;

  if (load->mode == MODE_IDLE)
    {
      client->state = STATE_IDLE;
      load->idle++;
      return;
    }

  if (load->mode == MODE_KEEPALIVE && !client->close_after && may_start (load))
    {
      load->started++;
      client->started = now_us ();
      if (!client_send_get (load, client))
        {
          load->errors++;
          client_free (load, client);
          start_request (load);
        }
      return;
    }

  client_free (load, client);
  if (may_start (load))
    {
      if (load->mode == MODE_KEEPALIVE)
        load->reconnects++;
      start_request (load);
    }
}

static void
client_fail (Load   *load,
             Client *client)
{
  if (client->state == STATE_IDLE)
    {
      load->dropped++;
      load->idle--;
      client_free (load, client);
      return;
    }

  /* A server may close a kept-alive connection instead of responding to
   * the next request, as tinyproxy does after every response without
   * sending `Connection: close`. Like curl, send the request again on a
   * new connection. Its latency includes the reconnection. */
  if (load->mode == MODE_KEEPALIVE && client->state == STATE_RESPONSE
      && client->served > 0 && client->head_len == 0)
    {
      gint64 started = client->started;
      Client *retry;

      client_free (load, client);
      load->reconnects++;
      retry = client_start (load);
      if (retry != NULL)
        retry->started = started;
      else
        load->errors++;
      return;
    }

  load->errors++;
  client_free (load, client);
  if (may_start (load))
    start_request (load);
}

static void
client_event (Load    *load,
              Client  *client,
              uint32_t events)
{
  int status;

  if (client->state == STATE_CONNECTING)
    {
      int err = 0;
      socklen_t len = sizeof err;
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = client };
      gboolean ok;

      getsockopt (client->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & EPOLLERR))
        {
          client_fail (load, client);
          return;
        }
      epoll_ctl (load->epoll_fd, EPOLL_CTL_MOD, client->fd, &ev);

      client_reset_response (client);
      if (load->direct)
        ok = client_send_get (load, client);
      else if (load->mode == MODE_KEEPALIVE)
        ok = client_send_get (load, client);
      else
        {
          client->state = STATE_TUNNEL_REPLY;
          ok = send_all (client->fd, load->connect_request, load->connect_len);
        }
      if (!ok)
        client_fail (load, client);
      return;
    }

  if (client->state == STATE_IDLE)
    {
      /* A byte or end of stream on an idle tunnel: the proxy gave up on it. */
      client_fail (load, client);
      return;
    }

  status = client_read (load, client);
  if (status < 0)
    {
      client_fail (load, client);
      return;
    }
  if (status == 0)
    return;

  if (client->state == STATE_TUNNEL_REPLY)
    {
      if (!client_send_get (load, client))
        client_fail (load, client);
      return;
    }

  client_done (load, client);
}

static int
compare_u32 (const void *a,
             const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return (x > y) - (x < y);
}

static guint32
percentile (const guint32 *sorted,
            guint64        n,
            double         fraction)
{
  guint64 index;

  if (n == 0)
    return 0;
  index = (guint64) (fraction * (double) (n - 1) + 0.5);
  return sorted[MIN (index, n - 1)];
}

static void
print_result (Load       *load,
              const char *phase,
              gint64      elapsed)
{
  double seconds = elapsed / 1e6;

  qsort (load->latencies, load->n_latencies, sizeof (guint32), compare_u32);
  g_print ("{\"phase\": \"%s\", \"completed\": %" G_GUINT64_FORMAT
           ", \"errors\": %" G_GUINT64_FORMAT
           ", \"reconnects\": %" G_GUINT64_FORMAT
           ", \"dropped\": %" G_GUINT64_FORMAT
           ", \"open\": %u, \"seconds\": %.6f, \"rps\": %.1f"
           ", \"p50_us\": %u, \"p99_us\": %u}\n",
           phase, load->completed, load->errors, load->reconnects, load->dropped,
           load->idle, seconds, seconds > 0 ? load->completed / seconds : 0.0,
           percentile (load->latencies, load->n_latencies, 0.50),
           percentile (load->latencies, load->n_latencies, 0.99));
  fflush (stdout);
}

/* Runs the event loop until no client is active, the deadline has passed
 * or, in idle mode, every tunnel is open. */
static void
run_loop (Load *load)
{
  struct epoll_event events[MAX_EVENTS];

  while (now_us () < load->deadline)
    {
      int n;

      if (load->mode == MODE_IDLE ? load->idle + load->errors >= load->requests
                                  : load->active == 0)
        return;

      n = epoll_wait (load->epoll_fd, events, MAX_EVENTS, 100);
      for (int i = 0; i < n; i++)
        client_event (load, events[i].data.ptr, events[i].events);

      /* Idle mode opens tunnels a few at a time, so the proxy gets a ramp
       * rather than thousands of simultaneous handshakes. */
      while (load->mode == MODE_IDLE && load->active - load->idle < load->clients
             && may_start (load))
        start_request (load);
    }
}

/* Keeps the idle tunnels open until standard input has a line or is closed,
 * or @hold_secs pass, counting the tunnels the proxy closes meanwhile. */
static void
hold_idle (Load *load,
           guint hold_secs)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
  struct epoll_event events[MAX_EVENTS];
  gint64 until = now_us () + (gint64) hold_secs * G_USEC_PER_SEC;

  epoll_ctl (load->epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
  while (now_us () < until)
    {
      int n = epoll_wait (load->epoll_fd, events, MAX_EVENTS, 100);

      for (int i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            return;
          client_event (load, events[i].data.ptr, events[i].events);
        }
    }
}

static gboolean
parse_address (const char         *text,
               struct sockaddr_in *sin,
               GError            **error)
{
  const char *colon = strrchr (text, ':');
  g_autofree char *host = NULL;
  guint64 port;

  memset (sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  if (colon == NULL)
    goto bad;
  host = g_strndup (text, colon - text);
  if (inet_pton (AF_INET, host, &sin->sin_addr) != 1
      || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL))
    goto bad;
  sin->sin_port = htons ((guint16) port);
  return TRUE;

bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "Invalid address “%s”: expected IPV4:PORT such as 127.0.0.1:8080", text);
  return FALSE;
}

static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *mode = NULL;
  g_autofree char *proxy = NULL;
  g_autofree char *origin = NULL;
  g_autofree char *host = NULL;
  g_autofree char *path = NULL;
  int clients = 64, requests = 1000, max_seconds = 60, hold_seconds = 120;
  GOptionEntry entries[] = {
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "connect, keepalive or idle (default: connect)", "MODE" },
    { "proxy", 0, 0, G_OPTION_ARG_STRING, &proxy, "Go through the proxy at IPV4:PORT; without it, connect to --origin", "ADDR" },
    { "origin", 0, 0, G_OPTION_ARG_STRING, &origin, "The origin's IPV4:PORT, used when there is no proxy", "ADDR" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host, "NAME:PORT to ask the proxy for, and the Host header", "HOST" },
    { "path", 0, 0, G_OPTION_ARG_STRING, &path, "Request path (default: /)", "PATH" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "Concurrent clients, or tunnels opening at once in idle mode (default: 64)", "N" },
    { "requests", 0, 0, G_OPTION_ARG_INT, &requests, "Requests in total, or tunnels in idle mode (default: 1000)", "N" },
    { "max-seconds", 0, 0, G_OPTION_ARG_INT, &max_seconds, "Stop starting requests after this many seconds (default: 60)", "SECS" },
    { "hold-seconds", 0, 0, G_OPTION_ARG_INT, &hold_seconds, "Longest time to hold idle tunnels (default: 120)", "SECS" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  Load load = { 0 };
  gint64 start;

  g_option_context_set_summary (context, "Load an HTTP proxy with CONNECT tunnels or plain requests.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  /* GOption replaces a default without freeing it, so defaults are set
   * after parsing. */
  if (mode == NULL)
    mode = g_strdup ("connect");
  if (path == NULL)
    path = g_strdup ("/");

  if (g_strcmp0 (mode, "connect") == 0)
    load.mode = MODE_CONNECT;
  else if (g_strcmp0 (mode, "keepalive") == 0)
    load.mode = MODE_KEEPALIVE;
  else if (g_strcmp0 (mode, "idle") == 0)
    load.mode = MODE_IDLE;
  else
    {
      g_printerr ("Invalid mode “%s”: expected connect, keepalive or idle\n", mode);
      return 2;
    }
  if (host == NULL || clients < 1 || requests < 1 || max_seconds < 1 || hold_seconds < 0
      || (proxy == NULL && origin == NULL))
    {
      g_printerr ("Give --host, and --proxy or --origin; counts must be positive\n");
      return 2;
    }
  load.direct = proxy == NULL;
  if (load.direct && load.mode == MODE_IDLE)
    {
      g_printerr ("Idle mode needs --proxy: it holds tunnels\n");
      return 2;
    }
  if (!parse_address (load.direct ? origin : proxy, &load.target, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  load.connect_request = g_strdup_printf ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", host, host);
  load.connect_len = strlen (load.connect_request);
  load.get_request = g_strdup_printf ("GET %s%s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
                                      load.mode == MODE_KEEPALIVE && !load.direct ? "http://" : "",
                                      load.mode == MODE_KEEPALIVE && !load.direct ? host : "",
                                      path, host,
                                      load.mode == MODE_CONNECT ? "Connection: close\r\n" : "");
  load.get_len = strlen (load.get_request);

  raise_fd_limit ();
  load.clients = clients;
  load.requests = requests;
  load.latencies = g_new (guint32, requests);
  load.epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  load.all_clients = g_hash_table_new (NULL, NULL);

  start = now_us ();
  load.deadline = start + (gint64) max_seconds * G_USEC_PER_SEC;
  for (guint i = 0; i < load.clients && may_start (&load); i++)
    start_request (&load);
  run_loop (&load);
  print_result (&load, load.mode == MODE_IDLE ? "open" : "done", now_us () - start);

  if (load.mode == MODE_IDLE)
    {
      hold_idle (&load, hold_seconds);
      print_result (&load, "held", now_us () - start);
    }

  while (g_hash_table_size (load.all_clients) > 0)
    {
      GHashTableIter iter;
      gpointer client;

      g_hash_table_iter_init (&iter, load.all_clients);
      g_hash_table_iter_next (&iter, &client, NULL);
      client_free (&load, client);
    }
  g_hash_table_unref (load.all_clients);
  close (load.epoll_fd);
  g_free (load.latencies);
  g_free (load.connect_request);
  g_free (load.get_request);
  return 0;
}
