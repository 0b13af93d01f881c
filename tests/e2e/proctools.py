"""Process statistics and limits for the reliability, fault and hostile
input tests: open file descriptors and resident memory of a running
process, read from /proc, and the test process's own descriptor limit."""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import unittest

import hgtest

UNSHARE = shutil.which("unshare")


# hostgate-proxy keeps up to this many empty pipes (two descriptors
# each) for reuse by later tunnels; they are a cache, not a leak.
PIPE_POOL_MAX = 32


def fd_count(pid):
    """Return how many file descriptors process pid has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_targets(pid):
    """Return the targets of process pid's descriptors (such as
    "socket:[123]" or "pipe:[456]"), skipping any that close meanwhile."""
    targets = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            pass
    return targets


def is_cache(target):
    """Tell whether a descriptor target is a pipe, which the tunnels'
    pipe pool may keep, or an eventfd, which GLib creates lazily for its
    worker threads and main contexts. Neither grows per request."""
    return target.startswith("pipe:") or target == "anon_inode:[eventfd]"


def fd_count_except_caches(pid):
    """Return how many of process pid's descriptors are neither pipes nor
    eventfds: sockets and files, which must come back after load."""
    return sum(1 for target in fd_targets(pid) if not is_cache(target))


def status_kib(pid, field):
    """Return a size field of /proc/PID/status, such as VmRSS, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} line in /proc/{pid}/status")


def rss_kib(pid):
    """Return the resident set size (VmRSS) of process pid in KiB."""
    return status_kib(pid, "VmRSS")


def wait_fd_count(pid, expected, timeout=hgtest.TIMEOUT):
    """Wait until process pid has at most expected descriptors open that
    are not caches (see is_cache), at most 2 * PIPE_POOL_MAX pipes (plus
    one spare pair) and at most 8 eventfds. Returns the last count of the
    others. Raises AssertionError with the descriptors' targets on
    timeout."""
    last = [None]

    def settled():
        targets = fd_targets(pid)
        pipes = sum(1 for target in targets if target.startswith("pipe:"))
        eventfds = sum(1 for target in targets if target == "anon_inode:[eventfd]")
        last[0] = len(targets) - pipes - eventfds
        return last[0] <= expected and pipes <= 2 * PIPE_POOL_MAX + 2 and eventfds <= 8

    try:
        hgtest.wait_for(settled, timeout=timeout, message=f"{expected} open descriptors")
    except AssertionError:
        targets = []
        for name in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
            try:
                targets.append(f"{name} -> {os.readlink(f'/proc/{pid}/fd/{name}')}")
            except OSError:
                pass
        raise AssertionError(f"process {pid} has {last[0]} descriptors open, expected at most "
                             f"{expected}:\n" + "\n".join(targets[:50]))
    return last[0]


def uses_asan(pid):
    """Tell whether process pid runs with AddressSanitizer, whose
    quarantine of freed memory makes resident memory grow by design."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def slowdown(pid):
    """Return the factor by which time limits of a test grow for process
    pid: 4 under AddressSanitizer, which slows a program down about
    that much, else 1."""
    return 4 if uses_asan(pid) else 1


def raise_fd_limit(wanted):
    """Raise this process's soft RLIMIT_NOFILE to wanted (or the hard
    limit, if lower); children such as the proxy inherit it. Returns the
    new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def note(text):
    """Print text as a TAP diagnostic line, for numbers a run measured."""
    sys.stdout.write(f"# {text}\n")
    sys.stdout.flush()


def run_in_network_namespace(script, child_flag, resolv_conf, timeout=60):
    """Run `python3 script child_flag` in a new user, mount and network
    namespace with only loopback (brought up) and /etc/resolv.conf
    replaced by resolv_conf (text). The child prints its result as one
    JSON line last; returns it parsed. Skips the test when namespaces
    cannot be made here."""
    if UNSHARE is None:
        raise unittest.SkipTest("unshare is not installed")
    with tempfile.TemporaryDirectory(prefix="hostgate-netns-") as folder:
        resolv = os.path.join(folder, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(resolv_conf)
        shell = ('ip link set lo up || exit 99; mount --bind "$1" /etc/resolv.conf || exit 99; '
                 'exec "$2" "$3" "$4"')
        command = [UNSHARE, "-rmn", "sh", "-c", shell, "sh", resolv, sys.executable,
                   os.path.abspath(script), child_flag]
        try:
            completed = subprocess.run(command, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the namespace child did not finish within {timeout} s")
    stderr = completed.stderr.decode("utf-8", "replace")
    if completed.returncode == 99 or (completed.returncode != 0 and "unshare:" in stderr):
        raise unittest.SkipTest(f"cannot make namespaces here: {stderr[:200]}")
    if completed.returncode != 0:
        raise AssertionError(f"the namespace child exited with {completed.returncode}: {stderr[-3000:]}")
    return json.loads(completed.stdout.decode().strip().splitlines()[-1])
