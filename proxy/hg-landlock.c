/* hg-landlock.c: confining a child process to one TCP port
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Debian 12's kernel headers predate Landlock's network rules, so the
 * few definitions needed are declared here with the kernel's values
 * (include/uapi/linux/landlock.h, Linux 6.7). The system calls themselves
 * are numbered in glibc 2.36's <sys/syscall.h>.
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <gio/gio.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hg-landlock.h"

#define HG_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define HG_LANDLOCK_RULE_NET_PORT          2
#define HG_LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)

/* The ruleset attribute up to the network field. The kernel accepts a
 * shorter struct than its own and treats the missing fields as zero. */
struct hg_landlock_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
};

struct hg_landlock_net_port_attr {
  uint64_t allowed_access;
  uint64_t port;
};

/**
 * hg_landlock_get_abi:
 *
 * Returns: the Landlock ABI version the running kernel offers, or 0 when
 *   Landlock is missing or disabled
 */
int
hg_landlock_get_abi (void)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, HG_LANDLOCK_CREATE_RULESET_VERSION);

  return abi < 0 ? 0 : (int) abi;
}

/**
 * hg_landlock_prepare_tcp_only:
 * @port: the only TCP port the confined process may connect to
 *
 * Creates a Landlock ruleset that handles TCP connect and allows it to
 * @port alone. Other TCP ports are refused with EACCES; UDP, Unix sockets
 * and the file system are not restricted by it. The caller passes the
 * descriptor to hg_landlock_restrict_self() in the child.
 *
 * Returns: the ruleset descriptor, or -1 with @error set when the kernel
 *   lacks Landlock ABI 4
 */
int
hg_landlock_prepare_tcp_only (guint16   port,
                              GError  **error)
{
  struct hg_landlock_ruleset_attr ruleset = {
    .handled_access_fs = 0,
    .handled_access_net = HG_LANDLOCK_ACCESS_NET_CONNECT_TCP,
  };
  struct hg_landlock_net_port_attr rule = {
    .allowed_access = HG_LANDLOCK_ACCESS_NET_CONNECT_TCP,
    .port = port,
  };
  int abi = hg_landlock_get_abi ();
  int fd;

  if (abi < HG_LANDLOCK_NET_ABI)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _("This kernel offers Landlock ABI %d, but confining network access needs ABI %d (Linux 6.7 or later with Landlock enabled)"),
                   abi, HG_LANDLOCK_NET_ABI);
      return -1;
    }

  fd = syscall (SYS_landlock_create_ruleset, &ruleset, sizeof ruleset, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not create a Landlock ruleset: %s"), g_strerror (saved));
      return -1;
    }

  if (syscall (SYS_landlock_add_rule, fd, HG_LANDLOCK_RULE_NET_PORT, &rule, 0) != 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not add the Landlock rule for port %u: %s"), port, g_strerror (saved));
      return -1;
    }

  return fd;
}

/**
 * hg_landlock_restrict_self:
 * @ruleset_fd: from hg_landlock_prepare_tcp_only()
 *
 * Confines the calling process and everything it executes from now on.
 * Only async-signal-safe calls are made, so this can run between fork()
 * and exec(). Closes @ruleset_fd.
 *
 * Returns: whether the process is now confined
 */
gboolean
hg_landlock_restrict_self (int ruleset_fd)
{
  gboolean ok;

  /* Landlock requires no_new_privs unless the caller has CAP_SYS_ADMIN;
   * set it always so a set-uid program cannot shed the rules either. */
  ok = prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
       syscall (SYS_landlock_restrict_self, ruleset_fd, 0) == 0;
  close (ruleset_fd);

  return ok;
}
