/* hg-tunnel.c: moving bytes both ways between a client and an origin
 *
 * Each direction (up: client to origin, down: origin to client) reads
 * into a buffer and writes it out. A direction borrows the buffer from a
 * small process-wide pool only while bytes are queued in it. So an idle
 * tunnel owns no buffer and no descriptor but its sockets, and a few
 * buffers serve any number of busy tunnels.
 * Where asked to, the same state machine moves the bytes through a pipe
 * with splice(2) instead, socket to pipe and pipe to socket, borrowing
 * pipes from a pool the same way.
 *
 * All tunnels of a main context share one GSource, the poller, which
 * owns an epoll descriptor and is the only thing GLib polls for them. A
 * tunnel registers its two sockets with epoll (level-triggered) and
 * changes their conditions with EPOLL_CTL_MOD, so a main-loop iteration
 * costs in proportion to the sockets that are ready, not to the tunnels
 * that are open. A socket is watched for input only while its direction
 * has room and for output only while its direction has bytes queued,
 * which is the back-pressure between the two sides. Idle deadlines sit in
 * one sorted queue whose first entry is the poller's ready time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <linux/sockios.h>

/* Bytes read per direction in one dispatch: one full buffer, a few
 * milliseconds of copying. Beyond it the tunnel waits for the next
 * main-loop iteration, so one busy tunnel cannot starve others. */
#define WAKEUP_BUDGET COPY_BUFFER_SIZE

/* Size of a copy buffer. Fewer, larger reads and writes cut the kernel's
 * work per byte. Through a minimal copying relay, one tunnel over loopback
 * on a 2-CPU virtual machine carried about 1.2 GB/s with 64 KiB buffers,
 * 1.9 GB/s with 1 MiB and 2.4 GB/s with 4 MiB. The same relay reached
 * 1.5 GB/s with splice(2) through a 1 MiB pipe. Beyond 4 MiB, the kernel's
 * default ceiling for a TCP send buffer, it gained nothing. */
#define COPY_BUFFER_SIZE (4 * 1024 * 1024)

/* Full-size copy buffers borrowed at once, across all tunnels. A direction
 * keeps one past its wakeup only while its destination is too slow to
 * take what was read. With this many borrowed, further directions copy
 * through a small buffer, which bounds the copy buffers at 64 MiB plus
 * 64 KiB per blocked direction. */
#define COPY_BUFFERS_MAX 16
#define COPY_BUFFER_SMALL (64 * 1024)

/* Empty full-size copy buffers kept for reuse. */
#define COPY_POOL_MAX 2

/* Bytes read into a pooled buffer above which its pages go back to the
 * kernel once no tunnel borrows a full-size buffer. */
#define COPY_POOL_KEEP_TOUCHED COPY_BUFFER_SMALL

/* Capacity asked for each pipe. Compared with the default 64 KiB it cut
 * the pump's CPU time for 1 GiB over loopback by about a third (measured
 * with `test-tunnel -m perf` on a 2-CPU virtual machine). The kernel
 * allocates pages only for queued bytes, but the capacity counts against
 * the per-user limit fs.pipe-user-pages-soft. */
#define PIPE_CAPACITY (256 * 1024)

/* Empty pipes kept for reuse across all tunnels of the process. */
#define PIPE_POOL_MAX 32

/* Ready sockets taken from epoll in one dispatch. More wait for the next
 * main-loop iteration, so other sources get their turn. */
#define EVENT_BATCH 256

/* A socket its owner closes under a running tunnel leaves the epoll set
 * silently, so the poller checks this many tunnels for one every
 * SWEEP_INTERVAL microseconds, in turn. */
#define SWEEP_BATCH 256
#define SWEEP_INTERVAL G_USEC_PER_SEC

typedef struct
{
  GBytes  *pending;         /* sent before any byte read from the socket */
  gsize    pending_offset;
  int      pipe_fds[2];     /* borrowed while bytes are queued, else -1 */
  guint8  *buffer;          /* copy path: borrowed while bytes are queued */
  gsize    buffer_size;
  gsize    buffer_touched;  /* most bytes read into the buffer at once */
  gsize    buffer_offset;
  gsize    queued;          /* bytes waiting in the pipe or the buffer */
  guint64  bytes;           /* bytes written to the destination */
  guint    eof : 1;         /* the source socket returned end of stream */
  guint    shut_down : 1;   /* shutdown (SHUT_WR) done on the destination */
  guint    pipe_full : 1;   /* EAGAIN from splice with bytes queued */
  guint    copy_only : 1;   /* splice() is not asked for or unsupported */
} HgTunnelDirection;

typedef struct _HgTunnelPoller HgTunnelPoller;

/* One socket of a tunnel; its address is the data of its epoll event. */
typedef struct
{
  HgTunnel     *tunnel;
  int           fd;
  GIOCondition  events;     /* conditions registered with epoll, or 0 */
  GIOCondition  revents;    /* conditions reported in the current batch */
} HgTunnelWatch;

struct _HgTunnel
{
  GSocketConnection   *client;
  GSocketConnection   *origin;
  int                  client_fd;
  int                  origin_fd;

  HgTunnelDirection    up;
  HgTunnelDirection    down;

  HgTunnelPoller      *poller;          /* set while running */
  HgTunnelWatch        client_watch;
  HgTunnelWatch        origin_watch;
  GList                poller_link;     /* in the poller's tunnels */
  GList                cancel_link;     /* in the poller's cancelled */
  gboolean             cancel_queued;   /* guarded by the poller's mutex */
  GSequenceIter       *idle_iter;       /* in the poller's idle queue */
  gint64               idle_check_at;

  guint                idle_timeout_secs;
  gint64               last_activity;

  /* The unacknowledged bytes in each socket's kernel queue at the last
   * activity, or -1. A queue that shrank since means its peer read,
   * though the tunnel itself was waiting for room to write. */
  gssize               client_unsent;
  gssize               origin_unsent;

  GCancellable        *cancellable;
  gulong               cancelled_id;
  GAsyncReadyCallback  callback;
  gpointer             user_data;

  guint                started : 1;
  guint                running : 1;
  guint                closed : 1;
  guint                in_batch : 1;
};

struct _HgTunnelPoller
{
  GSource       source;
  GMainContext *context;
  int           epoll_fd;
  GQueue        tunnels;      /* running tunnels, in the sweep's order */
  GSequence    *idle_queue;   /* tunnels with an idle timeout, by check time */
  gint64        next_sweep;
  gboolean      dispatching;
  GMutex        mutex;        /* guards cancelled and ready_time */
  GQueue        cancelled;    /* tunnels whose cancellable fired */
  gint64        ready_time;   /* the source's ready time, as last set */
};

typedef enum
{
  STEP_MOVED,
  STEP_BLOCKED,
  STEP_EOF,
  STEP_FAILED,
} HgTunnelStep;

static gboolean splice_enabled_set;
static gboolean splice_enabled;

G_LOCK_DEFINE_STATIC (pipe_pool);
static int pipe_pool[PIPE_POOL_MAX][2];
static guint pipe_pool_length;

/* A full-size copy buffer waiting in the pool. Each is a mapping of its
 * own, so its pages can go back to the kernel while it waits. */
typedef struct
{
  guint8 *data;
  gsize   touched;   /* most bytes read into it since its pages were dropped */
} HgCopyBuffer;

G_LOCK_DEFINE_STATIC (copy_pool);
static HgCopyBuffer copy_pool[COPY_POOL_MAX];
static guint copy_pool_length;
static guint copy_buffers_borrowed;
static guint64 copy_buffers_lent;       /* full-size loans so far */
static guint64 copy_buffers_lent_seen;  /* the count at the last sweep */

/* One poller per main context that runs tunnels. */
G_LOCK_DEFINE_STATIC (pollers);
static GSList *pollers;

/**
 * hg_socket_get_unsent:
 * @fd: a connected TCP socket
 *
 * Returns the bytes written to @fd that its peer has not acknowledged,
 * or -1 if the kernel cannot tell. While the peer's receive window is
 * closed, the count goes down only as the peer's program reads, which
 * distinguishes a slow reader from one that stopped.
 */
gssize
hg_socket_get_unsent (int fd)
{
  int unsent = 0;

  if (ioctl (fd, SIOCOUTQ, &unsent) < 0)
    return -1;

  return unsent;
}

static void
hg_tunnel_note_activity (HgTunnel *tunnel,
                         gint64    now)
{
  tunnel->last_activity = now;

  if (tunnel->idle_timeout_secs > 0)
    {
      tunnel->client_unsent = hg_socket_get_unsent (tunnel->client_fd);
      tunnel->origin_unsent = hg_socket_get_unsent (tunnel->origin_fd);
    }
}

/* Returns whether a peer read bytes the kernel held for it since the
 * last activity, which a reader slower than the tunnel does while the
 * tunnel waits for room to write. */
static gboolean
hg_tunnel_peer_read (HgTunnel *tunnel)
{
  gssize client_unsent = hg_socket_get_unsent (tunnel->client_fd);
  gssize origin_unsent = hg_socket_get_unsent (tunnel->origin_fd);

  return (client_unsent >= 0 && client_unsent < tunnel->client_unsent)
         || (origin_unsent >= 0 && origin_unsent < tunnel->origin_unsent);
}

/**
 * hg_tunnel_set_use_splice:
 * @use_splice: %TRUE to move bytes with splice(2) instead of copying them
 *
 * Sets whether tunnels created from now on use splice(2), for the whole
 * process. Without a call, tunnels copy through a buffer unless the
 * environment variable `HOSTGATE_TUNNEL_SPLICE` is `1` when the first
 * tunnel is created. Call it from the thread that creates tunnels.
 */
void
hg_tunnel_set_use_splice (gboolean use_splice)
{
  splice_enabled = use_splice;
  splice_enabled_set = TRUE;
}

/* Returns whether SIGPIPE is ignored or caught. splice() into a socket
 * whose peer has gone raises it, and by default it ends the process. */
static gboolean
sigpipe_is_handled (void)
{
  static gboolean warned;
  struct sigaction action;

  if (sigaction (SIGPIPE, NULL, &action) == 0 && action.sa_handler != SIG_DFL)
    return TRUE;

  if (!warned)
    {
      g_warning (_("SIGPIPE is not ignored, so tunnels copy through a buffer "
                   "instead of using splice()"));
      warned = TRUE;
    }

  return FALSE;
}

static gboolean
hg_tunnel_get_use_splice (void)
{
  if (!splice_enabled_set)
    hg_tunnel_set_use_splice (g_strcmp0 (g_getenv ("HOSTGATE_TUNNEL_SPLICE"),
                                         "1") == 0);

  return splice_enabled && sigpipe_is_handled ();
}

static gboolean
pipe_pool_take (int pipe_fds[2])
{
  gboolean found = FALSE;

  G_LOCK (pipe_pool);
  if (pipe_pool_length > 0)
    {
      pipe_pool_length--;
      pipe_fds[0] = pipe_pool[pipe_pool_length][0];
      pipe_fds[1] = pipe_pool[pipe_pool_length][1];
      found = TRUE;
    }
  G_UNLOCK (pipe_pool);

  if (found)
    return TRUE;

  if (pipe2 (pipe_fds, O_NONBLOCK | O_CLOEXEC) < 0)
    {
      g_debug ("Could not create a pipe for a tunnel, copying instead: %s",
               g_strerror (errno));
      pipe_fds[0] = pipe_fds[1] = -1;
      return FALSE;
    }

  /* Best effort: once the user's pipes pass fs.pipe-user-pages-soft, Linux
   * refuses to grow a pipe (EPERM) and the default capacity serves. */
  if (fcntl (pipe_fds[0], F_SETPIPE_SZ, PIPE_CAPACITY) < 0)
    g_debug ("Could not grow a tunnel pipe to %d bytes: %s",
             PIPE_CAPACITY, g_strerror (errno));

  return TRUE;
}

/* Hands an empty pipe back to the pool, or closes it when the pool is full
 * or when bytes are still in it. */
static void
pipe_pool_give (int pipe_fds[2],
                gboolean empty)
{
  gboolean pooled = FALSE;

  if (empty)
    {
      G_LOCK (pipe_pool);
      if (pipe_pool_length < PIPE_POOL_MAX)
        {
          pipe_pool[pipe_pool_length][0] = pipe_fds[0];
          pipe_pool[pipe_pool_length][1] = pipe_fds[1];
          pipe_pool_length++;
          pooled = TRUE;
        }
      G_UNLOCK (pipe_pool);
    }

  if (!pooled)
    {
      close (pipe_fds[0]);
      close (pipe_fds[1]);
    }

  pipe_fds[0] = pipe_fds[1] = -1;
}

static guint8 *
copy_buffer_map (void)
{
  void *data = mmap (NULL, COPY_BUFFER_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (data == MAP_FAILED)
    {
      g_debug ("could not map a %d-byte copy buffer, copying through a small one: %s",
               COPY_BUFFER_SIZE, g_strerror (errno));
      return NULL;
    }

  return data;
}

/* Lends the direction a full-size buffer, or a small one when
 * COPY_BUFFERS_MAX full-size buffers are borrowed. */
static void
direction_take_buffer (HgTunnelDirection *direction)
{
  HgCopyBuffer pooled = { NULL, 0 };
  gboolean full_size = FALSE;

  G_LOCK (copy_pool);
  if (copy_buffers_borrowed < COPY_BUFFERS_MAX)
    {
      copy_buffers_borrowed++;
      copy_buffers_lent++;
      full_size = TRUE;
      if (copy_pool_length > 0)
        pooled = copy_pool[--copy_pool_length];
    }
  G_UNLOCK (copy_pool);

  if (full_size && pooled.data == NULL)
    {
      pooled.data = copy_buffer_map ();
      if (pooled.data == NULL)
        {
          G_LOCK (copy_pool);
          copy_buffers_borrowed--;
          G_UNLOCK (copy_pool);
          full_size = FALSE;
        }
    }

  if (full_size)
    {
      direction->buffer = pooled.data;
      direction->buffer_size = COPY_BUFFER_SIZE;
      direction->buffer_touched = pooled.touched;
    }
  else
    {
      direction->buffer = g_malloc (COPY_BUFFER_SMALL);
      direction->buffer_size = COPY_BUFFER_SMALL;
      direction->buffer_touched = 0;
    }
}

/* Takes the direction's buffer back, into the pool when it is full-size
 * and the pool has room. */
static void
direction_give_buffer (HgTunnelDirection *direction)
{
  gboolean pooled = FALSE;

  if (direction->buffer == NULL)
    return;

  if (direction->buffer_size != COPY_BUFFER_SIZE)
    {
      g_clear_pointer (&direction->buffer, g_free);
      return;
    }

  G_LOCK (copy_pool);
  copy_buffers_borrowed--;
  if (copy_pool_length < COPY_POOL_MAX)
    {
      copy_pool[copy_pool_length].data = direction->buffer;
      copy_pool[copy_pool_length].touched = direction->buffer_touched;
      copy_pool_length++;
      pooled = TRUE;
    }
  G_UNLOCK (copy_pool);

  if (!pooled)
    munmap (direction->buffer, COPY_BUFFER_SIZE);
  direction->buffer = NULL;
}

/* Drops the pages of the pooled buffers while no tunnel borrows a
 * full-size buffer, so that a proxy that carried a large transfer does
 * not keep the memory. During a transfer the buffer goes back to the pool
 * after every wakeup, so this runs only when a tunnel ends or, with
 * @if_unused, when no buffer was lent since the previous such call. */
static void
copy_pool_drop_pages (gboolean if_unused)
{
  G_LOCK (copy_pool);
  if (copy_buffers_borrowed == 0
      && (!if_unused || copy_buffers_lent == copy_buffers_lent_seen))
    {
      for (guint i = 0; i < copy_pool_length; i++)
        {
          if (copy_pool[i].touched <= COPY_POOL_KEEP_TOUCHED)
            continue;

          madvise (copy_pool[i].data, copy_pool[i].touched, MADV_DONTNEED);
          copy_pool[i].touched = 0;
        }
    }
  copy_buffers_lent_seen = copy_buffers_lent;
  G_UNLOCK (copy_pool);
}

static void
direction_init (HgTunnelDirection *direction,
                GBytes            *pending,
                gboolean           use_splice)
{
  if (pending != NULL && g_bytes_get_size (pending) > 0)
    direction->pending = g_bytes_ref (pending);

  direction->pipe_fds[0] = direction->pipe_fds[1] = -1;
  direction->copy_only = !use_splice;
}

/* Releases what a direction holds. Bytes still queued are dropped. */
static void
direction_clear (HgTunnelDirection *direction)
{
  g_clear_pointer (&direction->pending, g_bytes_unref);

  if (direction->pipe_fds[0] >= 0)
    pipe_pool_give (direction->pipe_fds, direction->queued == 0);

  direction_give_buffer (direction);
  direction->queued = 0;
}

/* Frees the pipe or buffer of a direction whose queue is empty, so an idle
 * direction keeps neither. */
static void
direction_release_if_empty (HgTunnelDirection *direction)
{
  if (direction->queued > 0)
    return;

  if (direction->pipe_fds[0] >= 0)
    pipe_pool_give (direction->pipe_fds, TRUE);

  direction_give_buffer (direction);
  direction->pipe_full = FALSE;
}

static gboolean
direction_has_output (HgTunnelDirection *direction)
{
  return direction->pending != NULL || direction->queued > 0;
}

static gboolean
direction_can_fill (HgTunnelDirection *direction)
{
  if (direction->eof)
    return FALSE;

  if (direction->buffer != NULL)
    return direction->queued == 0;

  return !direction->pipe_full;
}

static gboolean
direction_is_done (HgTunnelDirection *direction)
{
  return direction->eof && direction->shut_down;
}

static void
set_io_error (GError   **error,
              int        saved_errno,
              gboolean   up,
              gboolean   writing)
{
  const char *format;

  if (up)
    format = writing ? _("Failed to write to the origin: %s")
                     : _("Failed to read from the client: %s");
  else
    format = writing ? _("Failed to write to the client: %s")
                     : _("Failed to read from the origin: %s");

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               format, g_strerror (saved_errno));
}

/* Writes pending bytes, or else queued bytes, to @out_fd with one call. */
static HgTunnelStep
direction_drain (HgTunnelDirection  *direction,
                 int                 out_fd,
                 gboolean            up,
                 GError            **error)
{
  ssize_t written;
  int saved_errno;

  if (direction->pending != NULL)
    {
      gsize size;
      const guint8 *data = g_bytes_get_data (direction->pending, &size);

      do
        written = send (out_fd, data + direction->pending_offset,
                        size - direction->pending_offset,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
      while (written < 0 && errno == EINTR);
      saved_errno = errno;

      if (written > 0)
        {
          direction->pending_offset += written;
          if (direction->pending_offset == size)
            g_clear_pointer (&direction->pending, g_bytes_unref);
        }
    }
  else if (direction->pipe_fds[0] >= 0)
    {
      do
        written = splice (direction->pipe_fds[0], NULL, out_fd, NULL,
                          direction->queued,
                          SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      while (written < 0 && errno == EINTR);
      saved_errno = errno;

      if (written > 0)
        {
          direction->queued -= written;
          direction->pipe_full = FALSE;
        }
    }
  else
    {
      do
        written = send (out_fd, direction->buffer + direction->buffer_offset,
                        direction->queued, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (written < 0 && errno == EINTR);
      saved_errno = errno;

      if (written > 0)
        {
          direction->buffer_offset += written;
          direction->queued -= written;
        }
    }

  if (written < 0)
    {
      if (saved_errno == EAGAIN)
        return STEP_BLOCKED;

      set_io_error (error, saved_errno, up, TRUE);
      return STEP_FAILED;
    }

  direction->bytes += written;
  return written > 0 ? STEP_MOVED : STEP_BLOCKED;
}

/* Reads up to @max_bytes from @in_fd into the direction's pipe or buffer
 * with one call, taking a pipe or a buffer first if it has neither. */
static HgTunnelStep
direction_fill (HgTunnelDirection  *direction,
                int                 in_fd,
                gsize               max_bytes,
                gboolean            up,
                GError            **error)
{
  ssize_t n_read;
  int saved_errno;

  if (direction->buffer == NULL && direction->pipe_fds[0] < 0)
    {
      if (direction->copy_only || !pipe_pool_take (direction->pipe_fds))
        direction_take_buffer (direction);
    }

  if (direction->pipe_fds[0] >= 0)
    {
      do
        n_read = splice (in_fd, NULL, direction->pipe_fds[1], NULL, max_bytes,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      while (n_read < 0 && errno == EINTR);
      saved_errno = errno;

      /* NOTE: the tests never reach this switch, because every socket type
       * they use supports splice(); hg_tunnel_set_use_splice() covers the
       * copy path itself. */
      if (n_read < 0 && (saved_errno == EINVAL || saved_errno == ENOSYS)
          && direction->queued == 0)
        {
          g_debug ("splice() is unsupported on a tunnel socket, copying instead: %s",
                   g_strerror (saved_errno));
          direction->copy_only = TRUE;
          pipe_pool_give (direction->pipe_fds, TRUE);
          return direction_fill (direction, in_fd, max_bytes, up, error);
        }

      /* EAGAIN means either an empty socket or a full pipe. With bytes
       * queued, reading waits until some of them were written out, which
       * is the only event that can make room. */
      if (n_read < 0 && saved_errno == EAGAIN && direction->queued > 0)
        direction->pipe_full = TRUE;
    }
  else
    {
      direction->buffer_offset = 0;

      do
        n_read = recv (in_fd, direction->buffer,
                       MIN (max_bytes, direction->buffer_size), MSG_DONTWAIT);
      while (n_read < 0 && errno == EINTR);
      saved_errno = errno;

      if (n_read > 0)
        direction->buffer_touched = MAX (direction->buffer_touched, (gsize) n_read);
    }

  if (n_read < 0)
    {
      if (saved_errno == EAGAIN)
        return STEP_BLOCKED;

      set_io_error (error, saved_errno, up, FALSE);
      return STEP_FAILED;
    }

  if (n_read == 0)
    {
      direction->eof = TRUE;
      return STEP_EOF;
    }

  direction->queued += n_read;
  return STEP_MOVED;
}

/* Moves the bytes of one direction until both of its sockets would block,
 * the read budget of this wakeup is spent, or the source ended and all was
 * written out, which then shuts down writing on @out_fd. Sets @moved when
 * any byte was read or written. */
static gboolean
direction_pump (HgTunnelDirection  *direction,
                int                 in_fd,
                int                 out_fd,
                gboolean            up,
                gboolean           *moved,
                GError            **error)
{
  guint64 bytes_before = direction->bytes;
  gsize n_filled = 0;
  gboolean progress = TRUE;

  while (progress)
    {
      HgTunnelStep step;

      progress = FALSE;

      if (direction_has_output (direction))
        {
          step = direction_drain (direction, out_fd, up, error);
          if (step == STEP_FAILED)
            return FALSE;
          progress = (step == STEP_MOVED);
        }

      if (direction_can_fill (direction) && n_filled < WAKEUP_BUDGET)
        {
          gsize queued_before = direction->queued;

          step = direction_fill (direction, in_fd, WAKEUP_BUDGET - n_filled,
                                 up, error);
          if (step == STEP_FAILED)
            return FALSE;
          if (step == STEP_MOVED)
            {
              n_filled += direction->queued - queued_before;
              progress = TRUE;
            }
        }
    }

  if (n_filled > 0 || direction->bytes != bytes_before)
    *moved = TRUE;

  direction_release_if_empty (direction);

  if (direction->eof && !direction_has_output (direction)
      && !direction->shut_down)
    {
      /* ENOTCONN: the peer reset the connection already, so there is no
       * write side left to shut down. */
      if (shutdown (out_fd, SHUT_WR) < 0 && errno != ENOTCONN)
        {
          set_io_error (error, errno, up, TRUE);
          return FALSE;
        }
      direction->shut_down = TRUE;
    }

  return TRUE;
}

static GIOCondition
condition_from_epoll (guint32 events)
{
  GIOCondition condition = 0;

  if (events & EPOLLIN)
    condition |= G_IO_IN;
  if (events & EPOLLOUT)
    condition |= G_IO_OUT;
  if (events & EPOLLHUP)
    condition |= G_IO_HUP;
  if (events & EPOLLERR)
    condition |= G_IO_ERR;

  return condition;
}

/* Registers, changes or removes the conditions epoll watches on one
 * socket. A socket watched for no condition would still wake the loop on
 * a hang-up, so it is removed instead. */
static gboolean
hg_tunnel_watch_fd (HgTunnel       *tunnel,
                    HgTunnelWatch  *watch,
                    GIOCondition    needed,
                    GError        **error)
{
  struct epoll_event event = { 0, };
  int op;

  if (needed == watch->events)
    return TRUE;

  if (needed == 0)
    op = EPOLL_CTL_DEL;
  else if (watch->events == 0)
    op = EPOLL_CTL_ADD;
  else
    op = EPOLL_CTL_MOD;

  event.events = ((needed & G_IO_IN) ? EPOLLIN : 0)
                 | ((needed & G_IO_OUT) ? EPOLLOUT : 0);
  event.data.ptr = watch;

  if (epoll_ctl (tunnel->poller->epoll_fd, op, watch->fd, &event) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not watch a tunnel socket: %s"),
                   g_strerror (saved_errno));
      return FALSE;
    }

  watch->events = needed;
  return TRUE;
}

static gboolean
hg_tunnel_update_watches (HgTunnel  *tunnel,
                          GError   **error)
{
  GIOCondition client_needed = 0;
  GIOCondition origin_needed = 0;

  if (direction_can_fill (&tunnel->up))
    client_needed |= G_IO_IN;
  if (direction_has_output (&tunnel->down))
    client_needed |= G_IO_OUT;
  if (direction_can_fill (&tunnel->down))
    origin_needed |= G_IO_IN;
  if (direction_has_output (&tunnel->up))
    origin_needed |= G_IO_OUT;

  return hg_tunnel_watch_fd (tunnel, &tunnel->client_watch, client_needed, error)
         && hg_tunnel_watch_fd (tunnel, &tunnel->origin_watch, origin_needed, error);
}

/* Removes a socket from the epoll set. A socket that its owner closed has
 * left the set already, and its descriptor number may now belong to
 * another socket, so it is left alone.
 * NOTE: epoll drops a registration only when the last descriptor of the
 * socket closes. A copy held elsewhere, such as in a child between fork
 * and exec, would keep it, with its pointer to the tunnel, a while longer. */
static void
hg_tunnel_unwatch (HgTunnel          *tunnel,
                   HgTunnelWatch     *watch,
                   GSocketConnection *connection)
{
  if (watch->events != 0
      && !g_socket_is_closed (g_socket_connection_get_socket (connection)))
    epoll_ctl (tunnel->poller->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);

  watch->events = 0;
  watch->revents = 0;
}

static gboolean
hg_tunnel_socket_closed (HgTunnel *tunnel)
{
  return g_socket_is_closed (g_socket_connection_get_socket (tunnel->client))
         || g_socket_is_closed (g_socket_connection_get_socket (tunnel->origin));
}

static void
close_connection (GSocketConnection *connection)
{
  g_autoptr(GError) error = NULL;

  if (!g_io_stream_close (G_IO_STREAM (connection), NULL, &error))
    {
      g_debug ("Closing a tunnel stream failed, closing its socket: %s",
               error->message);
      g_socket_close (g_socket_connection_get_socket (connection), NULL);
    }
}

static gint
idle_compare (gconstpointer a,
              gconstpointer b,
              gpointer      user_data)
{
  const HgTunnel *tunnel_a = a;
  const HgTunnel *tunnel_b = b;

  return (tunnel_a->idle_check_at > tunnel_b->idle_check_at)
         - (tunnel_a->idle_check_at < tunnel_b->idle_check_at);
}

static void
hg_tunnel_idle_arm (HgTunnel *tunnel,
                    gint64    check_at)
{
  tunnel->idle_check_at = check_at;
  tunnel->idle_iter = g_sequence_insert_sorted (tunnel->poller->idle_queue,
                                                tunnel, idle_compare, NULL);
}

/* Sets the poller's ready time to its next timer, or to now while a
 * cancellation waits. The lock orders this against the cancelled
 * handler, which may run in another thread and sets it to now. Setting
 * the ready time wakes the main context, which would cost a system call
 * and one more loop iteration per dispatch, so an unchanged one is kept. */
static void
hg_tunnel_poller_update_ready_time (HgTunnelPoller *poller)
{
  gint64 ready_time = poller->next_sweep;
  GSequenceIter *first = g_sequence_get_begin_iter (poller->idle_queue);

  if (!g_sequence_iter_is_end (first))
    {
      HgTunnel *tunnel = g_sequence_get (first);

      ready_time = MIN (ready_time, tunnel->idle_check_at);
    }

  g_mutex_lock (&poller->mutex);
  if (!g_queue_is_empty (&poller->cancelled))
    ready_time = 0;
  if (ready_time != poller->ready_time)
    {
      g_source_set_ready_time (&poller->source, ready_time);
      poller->ready_time = ready_time;
    }
  g_mutex_unlock (&poller->mutex);
}

static void
hg_tunnel_poller_finalize (GSource *source)
{
  HgTunnelPoller *poller = (HgTunnelPoller *) source;

  close (poller->epoll_fd);
  g_sequence_free (poller->idle_queue);
  g_mutex_clear (&poller->mutex);
}

/* Drops the poller once its last tunnel ended, so a main context that is
 * no longer used keeps no source and no descriptor. */
static void
hg_tunnel_poller_release_if_unused (HgTunnelPoller *poller)
{
  if (poller->dispatching || !g_queue_is_empty (&poller->tunnels))
    return;

  G_LOCK (pollers);
  pollers = g_slist_remove (pollers, poller);
  G_UNLOCK (pollers);

  g_source_destroy (&poller->source);
  g_source_unref (&poller->source);
}

static void
hg_tunnel_poller_add (HgTunnelPoller *poller,
                      HgTunnel       *tunnel)
{
  tunnel->poller = poller;
  tunnel->poller_link.data = tunnel;
  tunnel->cancel_link.data = tunnel;
  g_queue_push_tail_link (&poller->tunnels, &tunnel->poller_link);

  if (poller->next_sweep < 0)
    poller->next_sweep = tunnel->last_activity + SWEEP_INTERVAL;

  if (tunnel->idle_timeout_secs > 0)
    hg_tunnel_idle_arm (tunnel, tunnel->last_activity
                                + (gint64) tunnel->idle_timeout_secs * G_USEC_PER_SEC);

  hg_tunnel_poller_update_ready_time (poller);
}

/* Disconnects and removes everything a running tunnel set up and closes
 * both sockets, without calling back. */
static void
hg_tunnel_stop (HgTunnel *tunnel)
{
  HgTunnelPoller *poller = tunnel->poller;

  if (!tunnel->running)
    return;

  tunnel->running = FALSE;

  /* Disconnecting waits for a handler running in another thread, which
   * uses the poller, so the tunnel leaves the poller only after it. */
  if (tunnel->cancelled_id != 0)
    {
      g_cancellable_disconnect (tunnel->cancellable, tunnel->cancelled_id);
      tunnel->cancelled_id = 0;
    }

  g_mutex_lock (&poller->mutex);
  if (tunnel->cancel_queued)
    {
      g_queue_unlink (&poller->cancelled, &tunnel->cancel_link);
      tunnel->cancel_queued = FALSE;
    }
  g_mutex_unlock (&poller->mutex);

  hg_tunnel_unwatch (tunnel, &tunnel->client_watch, tunnel->client);
  hg_tunnel_unwatch (tunnel, &tunnel->origin_watch, tunnel->origin);
  if (tunnel->idle_iter != NULL)
    {
      g_sequence_remove (tunnel->idle_iter);
      tunnel->idle_iter = NULL;
    }
  g_queue_unlink (&poller->tunnels, &tunnel->poller_link);
  tunnel->poller = NULL;

  direction_clear (&tunnel->up);
  direction_clear (&tunnel->down);
  copy_pool_drop_pages (FALSE);

  close_connection (tunnel->client);
  close_connection (tunnel->origin);

  hg_tunnel_poller_release_if_unused (poller);
}

/* Stops a running tunnel and returns its task with @error (taken), or with
 * success when @error is %NULL. The callback always runs from a later
 * main-loop iteration, because the task is created here. */
static void
hg_tunnel_complete (HgTunnel *tunnel,
                    GError   *error)
{
  g_autoptr(GTask) task = NULL;
  GMainContext *context = tunnel->poller->context;

  g_main_context_push_thread_default (context);
  task = g_task_new (NULL, tunnel->cancellable, tunnel->callback,
                     tunnel->user_data);
  g_main_context_pop_thread_default (context);

  g_task_set_source_tag (task, hg_tunnel_run_async);
  g_task_set_task_data (task, tunnel, NULL);

  hg_tunnel_stop (tunnel);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
hg_tunnel_complete_closed (HgTunnel *tunnel)
{
  hg_tunnel_complete (tunnel, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                   _("A tunnel socket was closed while the tunnel ran")));
}

/* Moves what the reported conditions allow for one running tunnel, then
 * ends it or watches for what it needs next. */
static void
hg_tunnel_handle (HgTunnel     *tunnel,
                  GIOCondition  client_revents,
                  GIOCondition  origin_revents)
{
  const GIOCondition broken = G_IO_HUP | G_IO_ERR;
  gboolean moved = FALSE;
  GError *error = NULL;

  if (tunnel->cancellable != NULL
      && g_cancellable_set_error_if_cancelled (tunnel->cancellable, &error))
    {
      hg_tunnel_complete (tunnel, error);
      return;
    }

  /* Only a caller closing a socket under a running tunnel causes this;
   * its descriptor number may already belong to another socket. */
  if (hg_tunnel_socket_closed (tunnel))
    {
      hg_tunnel_complete_closed (tunnel);
      return;
    }

  if (((client_revents & (G_IO_IN | broken))
       || (origin_revents & (G_IO_OUT | broken)))
      && !direction_pump (&tunnel->up, tunnel->client_fd, tunnel->origin_fd,
                          TRUE, &moved, &error))
    {
      hg_tunnel_complete (tunnel, error);
      return;
    }

  if (((origin_revents & (G_IO_IN | broken))
       || (client_revents & (G_IO_OUT | broken)))
      && !direction_pump (&tunnel->down, tunnel->origin_fd, tunnel->client_fd,
                          FALSE, &moved, &error))
    {
      hg_tunnel_complete (tunnel, error);
      return;
    }

  if (moved)
    hg_tunnel_note_activity (tunnel, g_source_get_time (&tunnel->poller->source));

  if (direction_is_done (&tunnel->up) && direction_is_done (&tunnel->down))
    {
      hg_tunnel_complete (tunnel, NULL);
      return;
    }

  if (!hg_tunnel_update_watches (tunnel, &error))
    hg_tunnel_complete (tunnel, error);
}

static void
hg_tunnel_poller_run_cancelled (HgTunnelPoller *poller)
{
  for (;;)
    {
      HgTunnel *tunnel = NULL;
      GList *link;

      g_mutex_lock (&poller->mutex);
      link = g_queue_pop_head_link (&poller->cancelled);
      if (link != NULL)
        {
          tunnel = link->data;
          tunnel->cancel_queued = FALSE;
        }
      g_mutex_unlock (&poller->mutex);

      if (tunnel == NULL)
        return;

      hg_tunnel_handle (tunnel, 0, 0);
    }
}

/* Handles one bounded batch of ready sockets; with more ready, the epoll
 * descriptor stays readable and the next iteration takes the rest. Both
 * sockets of a tunnel are handled in one call, so the read budget is per
 * tunnel and wakeup. */
static void
hg_tunnel_poller_run_events (HgTunnelPoller *poller)
{
  struct epoll_event events[EVENT_BATCH];
  HgTunnel *batch[EVENT_BATCH];
  guint n_batch = 0;
  int n_events;

  do
    n_events = epoll_wait (poller->epoll_fd, events, EVENT_BATCH, 0);
  while (n_events < 0 && errno == EINTR);

  if (n_events < 0)
    {
      g_warning (_("Could not wait for tunnel sockets: %s"), g_strerror (errno));
      return;
    }

  for (int i = 0; i < n_events; i++)
    {
      HgTunnelWatch *watch = events[i].data.ptr;
      HgTunnel *tunnel = watch->tunnel;

      watch->revents |= condition_from_epoll (events[i].events);
      if (!tunnel->in_batch)
        {
          tunnel->in_batch = TRUE;
          batch[n_batch++] = tunnel;
        }
    }

  /* A tunnel ended earlier in the batch is only stopped, not freed: its
   * callback runs in a later iteration. */
  for (guint i = 0; i < n_batch; i++)
    {
      HgTunnel *tunnel = batch[i];
      GIOCondition client_revents = tunnel->client_watch.revents;
      GIOCondition origin_revents = tunnel->origin_watch.revents;

      tunnel->in_batch = FALSE;
      tunnel->client_watch.revents = tunnel->origin_watch.revents = 0;
      if (tunnel->running)
        hg_tunnel_handle (tunnel, client_revents, origin_revents);
    }
}

/* Ends the tunnels whose idle deadline passed. A tunnel is queued by the
 * deadline it had when queued, and activity only updates last_activity.
 * So a tunnel found active is queued again once per timeout period, and
 * each call costs in proportion to the tunnels due, not to all of them. */
static void
hg_tunnel_poller_run_idle (HgTunnelPoller *poller,
                           gint64          now)
{
  for (;;)
    {
      GSequenceIter *first = g_sequence_get_begin_iter (poller->idle_queue);
      HgTunnel *tunnel;
      gint64 deadline;

      if (g_sequence_iter_is_end (first))
        return;

      tunnel = g_sequence_get (first);
      if (tunnel->idle_check_at > now)
        return;

      g_sequence_remove (first);
      tunnel->idle_iter = NULL;

      deadline = tunnel->last_activity
                 + (gint64) tunnel->idle_timeout_secs * G_USEC_PER_SEC;
      if (now >= deadline && hg_tunnel_peer_read (tunnel))
        {
          hg_tunnel_note_activity (tunnel, now);
          deadline = now + (gint64) tunnel->idle_timeout_secs * G_USEC_PER_SEC;
        }

      if (now >= deadline)
        hg_tunnel_complete (tunnel, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                                 _("The tunnel was idle for %u seconds and was closed"),
                                                 tunnel->idle_timeout_secs));
      else
        hg_tunnel_idle_arm (tunnel, deadline);
    }
}

/* A socket closed by its owner leaves the epoll set without an event, so
 * a few tunnels per tick are checked in turn for one. */
static void
hg_tunnel_poller_sweep (HgTunnelPoller *poller,
                        gint64          now)
{
  guint n_checks = MIN (SWEEP_BATCH, g_queue_get_length (&poller->tunnels));

  for (guint i = 0; i < n_checks && !g_queue_is_empty (&poller->tunnels); i++)
    {
      GList *link = g_queue_pop_head_link (&poller->tunnels);
      HgTunnel *tunnel = link->data;

      g_queue_push_tail_link (&poller->tunnels, link);
      if (hg_tunnel_socket_closed (tunnel))
        hg_tunnel_complete_closed (tunnel);
    }

  /* Open tunnels that went quiet after a large transfer. */
  copy_pool_drop_pages (TRUE);
  poller->next_sweep = now + SWEEP_INTERVAL;
}

static gboolean
hg_tunnel_poller_dispatch (GSource     *source,
                           GSourceFunc  callback,
                           gpointer     user_data)
{
  HgTunnelPoller *poller = (HgTunnelPoller *) source;
  gint64 now = g_source_get_time (source);

  poller->dispatching = TRUE;
  hg_tunnel_poller_run_cancelled (poller);
  hg_tunnel_poller_run_events (poller);
  hg_tunnel_poller_run_idle (poller, now);
  if (now >= poller->next_sweep)
    hg_tunnel_poller_sweep (poller, now);
  poller->dispatching = FALSE;

  if (g_queue_is_empty (&poller->tunnels))
    hg_tunnel_poller_release_if_unused (poller);
  else
    hg_tunnel_poller_update_ready_time (poller);

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs hg_tunnel_poller_funcs = {
  .dispatch = hg_tunnel_poller_dispatch,
  .finalize = hg_tunnel_poller_finalize,
};

/* Returns the poller of @context, creating it for the first tunnel. */
static HgTunnelPoller *
hg_tunnel_poller_get (GMainContext  *context,
                      GError       **error)
{
  HgTunnelPoller *poller = NULL;
  int epoll_fd;

  G_LOCK (pollers);
  for (GSList *l = pollers; l != NULL && poller == NULL; l = l->next)
    {
      HgTunnelPoller *candidate = l->data;

      if (candidate->context == context)
        poller = candidate;
    }
  G_UNLOCK (pollers);

  if (poller != NULL)
    return poller;

  epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (epoll_fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not create an epoll descriptor for tunnels: %s"),
                   g_strerror (saved_errno));
      return NULL;
    }

  poller = (HgTunnelPoller *) g_source_new (&hg_tunnel_poller_funcs,
                                            sizeof (HgTunnelPoller));
  poller->context = context;
  poller->epoll_fd = epoll_fd;
  poller->idle_queue = g_sequence_new (NULL);
  poller->next_sweep = -1;
  poller->ready_time = -1;
  g_mutex_init (&poller->mutex);
  g_source_set_static_name (&poller->source, "HgTunnelPoller");
  /* GLib takes a source's descriptors out of the poll set while it
   * dispatches and puts them back after, and each change wakes the main
   * context: two eventfd writes and one more iteration per dispatch. A
   * source that may recurse is left alone, and this one runs no code that
   * could iterate the context. */
  g_source_set_can_recurse (&poller->source, TRUE);
  g_source_add_unix_fd (&poller->source, epoll_fd, G_IO_IN);
  g_source_attach (&poller->source, context);

  G_LOCK (pollers);
  pollers = g_slist_prepend (pollers, poller);
  G_UNLOCK (pollers);

  return poller;
}

/* May run in any thread, so it only queues the tunnel and wakes the
 * poller, which finishes the tunnel in its own main context. */
static void
hg_tunnel_cancelled_cb (GCancellable *cancellable,
                        gpointer      user_data)
{
  HgTunnel *tunnel = user_data;
  HgTunnelPoller *poller = tunnel->poller;

  g_mutex_lock (&poller->mutex);
  if (!tunnel->cancel_queued)
    {
      g_queue_push_tail_link (&poller->cancelled, &tunnel->cancel_link);
      tunnel->cancel_queued = TRUE;
    }
  g_source_set_ready_time (&poller->source, 0);
  poller->ready_time = 0;
  g_mutex_unlock (&poller->mutex);
}

/**
 * hg_tunnel_new:
 * @client: the connection accepted from the client
 * @origin: the connection to the origin, or to the upstream proxy that
 *   tunnels to it
 * @client_pending: (nullable): bytes the client sent that were already read
 *   past the CONNECT head; they reach the origin first, unchanged
 * @origin_pending: (nullable): bytes already read from the origin side
 *   past an upstream proxy's reply; they reach the client first
 * @idle_timeout_secs: seconds without a byte moved in either direction
 *   after which the tunnel is closed, or 0 for no timeout
 *
 * Creates a tunnel between two connected sockets. It takes references to
 * both connections and to the pending bytes; nothing moves until
 * hg_tunnel_run_async().
 *
 * Returns: (transfer full): the new tunnel
 */
HgTunnel *
hg_tunnel_new (GSocketConnection *client,
               GSocketConnection *origin,
               GBytes            *client_pending,
               GBytes            *origin_pending,
               guint              idle_timeout_secs)
{
  HgTunnel *tunnel;
  gboolean use_splice;

  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (client), NULL);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (origin), NULL);

  tunnel = g_new0 (HgTunnel, 1);
  tunnel->client = g_object_ref (client);
  tunnel->origin = g_object_ref (origin);
  tunnel->client_fd = g_socket_get_fd (g_socket_connection_get_socket (client));
  tunnel->origin_fd = g_socket_get_fd (g_socket_connection_get_socket (origin));
  tunnel->idle_timeout_secs = idle_timeout_secs;

  use_splice = hg_tunnel_get_use_splice ();
  direction_init (&tunnel->up, client_pending, use_splice);
  direction_init (&tunnel->down, origin_pending, use_splice);

  return tunnel;
}

/**
 * hg_tunnel_run_async:
 * @tunnel: a tunnel that has not run yet
 * @cancellable: (nullable): cancelling it closes both sockets and ends the
 *   tunnel with %G_IO_ERROR_CANCELLED
 * @callback: called once the tunnel has ended
 * @user_data: data for @callback
 *
 * Sends the pending bytes, then moves bytes both ways on the thread-default
 * main context until both directions reached end of stream and were
 * flushed, a socket fails, the idle timeout passes, or the tunnel is
 * cancelled or closed. Both sockets are closed when the tunnel ends, in
 * every case. The callback runs from a later main-loop iteration, never
 * from inside this function or hg_tunnel_close().
 */
void
hg_tunnel_run_async (HgTunnel            *tunnel,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) context = NULL;
  HgTunnelPoller *poller;

  g_return_if_fail (tunnel != NULL);
  g_return_if_fail (!tunnel->started);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  tunnel->started = TRUE;

  if (tunnel->closed)
    {
      g_task_report_new_error (NULL, callback, user_data, hg_tunnel_run_async,
                               G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The tunnel was closed before it ran"));
      return;
    }

  context = g_main_context_ref_thread_default ();
  if (!g_unix_set_fd_nonblocking (tunnel->client_fd, TRUE, &error)
      || !g_unix_set_fd_nonblocking (tunnel->origin_fd, TRUE, &error)
      || (poller = hg_tunnel_poller_get (context, &error)) == NULL)
    {
      g_task_report_error (NULL, callback, user_data, hg_tunnel_run_async,
                           g_steal_pointer (&error));
      return;
    }

  tunnel->running = TRUE;
  tunnel->callback = callback;
  tunnel->user_data = user_data;
  hg_tunnel_note_activity (tunnel, g_get_monotonic_time ());
  tunnel->client_watch = (HgTunnelWatch) { tunnel, tunnel->client_fd, 0, 0 };
  tunnel->origin_watch = (HgTunnelWatch) { tunnel, tunnel->origin_fd, 0, 0 };
  hg_tunnel_poller_add (poller, tunnel);

  if (cancellable != NULL)
    {
      tunnel->cancellable = g_object_ref (cancellable);
      tunnel->cancelled_id = g_cancellable_connect (cancellable,
                                                    G_CALLBACK (hg_tunnel_cancelled_cb),
                                                    tunnel, NULL);
    }

  if (!hg_tunnel_update_watches (tunnel, &error))
    hg_tunnel_complete (tunnel, g_steal_pointer (&error));
}

/**
 * hg_tunnel_run_finish:
 * @tunnel: the tunnel
 * @result: the result passed to the callback
 * @error: return location for the reason the tunnel ended early
 *
 * Finishes hg_tunnel_run_async(). The error is in %G_IO_ERROR: the code
 * mapped from errno for a socket error, %G_IO_ERROR_TIMED_OUT for the idle
 * timeout and %G_IO_ERROR_CANCELLED after cancelling or hg_tunnel_close().
 *
 * Returns: %TRUE when both directions ended with end of stream
 */
gboolean
hg_tunnel_run_finish (HgTunnel      *tunnel,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (tunnel != NULL, FALSE);
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hg_tunnel_run_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * hg_tunnel_close:
 * @tunnel: the tunnel
 *
 * Closes both sockets now. A running tunnel then ends with
 * %G_IO_ERROR_CANCELLED; a tunnel that has not run yet ends so as soon as
 * it is run. Does nothing after the tunnel ended.
 */
void
hg_tunnel_close (HgTunnel *tunnel)
{
  g_return_if_fail (tunnel != NULL);

  if (tunnel->running)
    {
      hg_tunnel_complete (tunnel, g_error_new_literal (G_IO_ERROR,
                                                       G_IO_ERROR_CANCELLED,
                                                       _("The tunnel was closed")));
      return;
    }

  if (!tunnel->started && !tunnel->closed)
    {
      tunnel->closed = TRUE;
      close_connection (tunnel->client);
      close_connection (tunnel->origin);
    }
}

/**
 * hg_tunnel_get_bytes_up:
 * @tunnel: the tunnel
 *
 * Returns: the bytes written to the origin so far, pending bytes included
 */
guint64
hg_tunnel_get_bytes_up (HgTunnel *tunnel)
{
  g_return_val_if_fail (tunnel != NULL, 0);

  return tunnel->up.bytes;
}

/**
 * hg_tunnel_get_bytes_down:
 * @tunnel: the tunnel
 *
 * Returns: the bytes written to the client so far, pending bytes included
 */
guint64
hg_tunnel_get_bytes_down (HgTunnel *tunnel)
{
  g_return_val_if_fail (tunnel != NULL, 0);

  return tunnel->down.bytes;
}

/**
 * hg_tunnel_free:
 * @tunnel: (nullable): the tunnel
 *
 * Frees a tunnel. Freeing one that is running closes both sockets and
 * stops watching them, and its callback is then never called. Freeing one
 * that never ran drops the references to the connections without closing
 * them.
 */
void
hg_tunnel_free (HgTunnel *tunnel)
{
  if (tunnel == NULL)
    return;

  hg_tunnel_stop (tunnel);

  direction_clear (&tunnel->up);
  direction_clear (&tunnel->down);
  g_clear_object (&tunnel->client);
  g_clear_object (&tunnel->origin);
  g_clear_object (&tunnel->cancellable);
  g_free (tunnel);
}
