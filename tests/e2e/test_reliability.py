"""hostgate-proxy under load: many concurrent tunnels, slow clients, the
connection limit, and a soak of mixed requests with memory and
descriptor checks. Everything runs on 127.0.0.1; every loop is bounded
in count and time. Measured numbers are printed as TAP diagnostics."""

import os
import shutil
import socket
import threading
import time
import unittest

import hgtest
import proctools
from hgtest import EchoServer, HttpOrigin, Proxy
from tunnelload import TunnelLoad

# 1,000 tunnels of 64 KiB each way took 1.2 s on a 2-core virtual machine.
TUNNELS = int(os.environ.get("HOSTGATE_RELIABILITY_TUNNELS", "1000"))
TUNNEL_BYTES = 64 * 1024
SLOW_CLIENTS = 500
SOAK_SECS = float(os.environ.get("HOSTGATE_SOAK_SECS", "60"))
# Resident memory may grow this much after the warm-up; GLib's slice
# and malloc arenas settle within it, while a leak of even 100 bytes per
# request over a soak of tens of thousands of requests does not.
RSS_MARGIN_KIB = 2048


class ReliabilityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fd_limit = proctools.raise_fd_limit(65536)

    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy


class ConcurrentTunnelTest(ReliabilityTest):
    def test_thousand_tunnels_half_close(self):
        # The proxy uses a client socket, an origin socket and two pipes
        # per tunnel, and the test process two sockets per tunnel.
        if self.fd_limit < 6 * TUNNELS + 256:
            self.skipTest(f"RLIMIT_NOFILE is {self.fd_limit}, {6 * TUNNELS + 256} needed")
        load = TunnelLoad(TUNNELS, TUNNEL_BYTES, TUNNEL_BYTES)
        self.addCleanup(load.close)
        proxy = self.proxy("--max-connections", str(TUNNELS + 100), "--allow-loopback",
                           "--allow-domain", "origin.test",
                           "--resolve", f"origin.test:{load.port}:127.0.0.1")
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        peak = {}
        load.on_all_open = lambda: peak.update(fds=proctools.fd_count(pid),
                                               rss=proctools.rss_kib(pid))

        seconds = load.run(proxy, f"origin.test:{load.port}", proxy.auth_lines(), 120)

        self.assertEqual(load.errors(), [])
        self.assertEqual(sum(1 for c in load.clients if c.state == "done"), TUNNELS)
        # Every tunnel was open at once, with two sockets each.
        self.assertGreaterEqual(peak["fds"], baseline + 2 * TUNNELS)
        proctools.wait_fd_count(pid, baseline)
        records = proxy.wait_audit(TUNNELS)
        tunnels = [r for r in records if r["method"] == "CONNECT"]
        self.assertEqual(len(tunnels), TUNNELS)
        self.assertEqual({r["bytes_up"] for r in tunnels}, {TUNNEL_BYTES})
        self.assertEqual({r["bytes_down"] for r in tunnels}, {TUNNEL_BYTES + 64})
        self.assertEqual({r["reason"] for r in tunnels}, {None})
        proctools.note(f"{TUNNELS} tunnels x {TUNNEL_BYTES} bytes each way in {seconds:.1f} s; "
                       f"proxy descriptors {baseline} -> {peak['fds']} -> {baseline}, "
                       f"RSS at peak {peak['rss']} KiB")


class SlowClientTest(ReliabilityTest):
    def test_slowloris_does_not_delay(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        proxy = self.proxy("--header-timeout", "2", "--max-connections", "1000",
                           "--allow-loopback", "--allow-domain", "fast.test",
                           "--resolve", f"fast.test:{echo.port}:127.0.0.1")
        head = proxy.connect_request("slow.test:443")
        slow = []
        self.addCleanup(lambda: [sock.close() for sock in slow])
        for _ in range(SLOW_CLIENTS):
            sock = proxy.connect()
            sock.sendall(head[:1])
            slow.append(sock)

        # A thread sends one more header byte a second to each slow
        # client for at most 5 seconds. Sends to closed sockets fail.
        stop = threading.Event()

        def trickle():
            for position in range(1, 6):
                if stop.wait(1.0):
                    return
                for sock in slow:
                    try:
                        sock.send(head[position:position + 1])
                    except OSError:
                        pass

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(stop.set)

        latencies = []
        for _ in range(5):
            start = time.monotonic()
            sock, response = proxy.open_tunnel(f"fast.test:{echo.port}")
            with sock:
                self.assertEqual(response.status, 200, response)
                sock.sendall(b"ping")
                sock.shutdown(socket.SHUT_WR)
                self.assertEqual(response.rest + hgtest.recv_all(sock), b"ping")
            latencies.append(time.monotonic() - start)
        self.assertLess(max(latencies), 2.0)

        statuses = []
        for sock in slow:
            sock.settimeout(5)
            statuses.append(hgtest.read_response(sock).status)
        stop.set()
        self.assertEqual(statuses, [408] * SLOW_CLIENTS)
        proctools.note(f"{SLOW_CLIENTS} slow clients; normal tunnel latency max "
                       f"{max(latencies) * 1000:.0f} ms; all answered 408")


class ConnectionLimitTest(ReliabilityTest):
    def test_over_limit_gets_503_and_recovers(self):
        limit = 50
        echo = EchoServer()
        self.addCleanup(echo.close)
        proxy = self.proxy("--max-connections", str(limit), "--header-timeout", "30",
                           "--allow-loopback", "--allow-domain", "t.test",
                           "--resolve", f"t.test:{echo.port}:127.0.0.1")
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        idle = [proxy.connect() for _ in range(limit)]
        self.addCleanup(lambda: [sock.close() for sock in idle])
        hgtest.wait_for(lambda: proctools.fd_count(pid) >= baseline + limit,
                        message=f"{limit} accepted connections")

        for _ in range(20):
            with proxy.connect() as sock:
                response = hgtest.read_response(sock)
                self.assertEqual(response.status, 503, response)
                self.assertEqual(response.header("Connection"), "close")
                self.assertEqual(hgtest.recv_all(sock), b"")

        for sock in idle:
            sock.close()
        start = time.monotonic()

        def served():
            sock, response = proxy.open_tunnel(f"t.test:{echo.port}")
            with sock:
                return response.status == 200

        hgtest.wait_for(served, timeout=2, message="a tunnel after the idle clients left")
        recovery = time.monotonic() - start
        self.assertLess(recovery, 1.0)
        proctools.wait_fd_count(pid, baseline)
        proctools.note(f"limit {limit}: 20 extra connections got 503; served again "
                       f"{recovery * 1000:.0f} ms after the idle ones closed")


class LimitedProxy(Proxy):
    """A proxy started under prlimit with fd_limit ("SOFT:HARD", or one
    number for both) as its limit of open descriptors."""

    def __init__(self, fd_limit, *args, **kwargs):
        self.fd_limit = fd_limit
        super().__init__(*args, **kwargs)

    def command(self):
        limit = self.fd_limit if isinstance(self.fd_limit, str) else f"{self.fd_limit}:{self.fd_limit}"
        return [PRLIMIT, f"--nofile={limit}", "--"] + super().command()


PRLIMIT = shutil.which("prlimit")


class ConnectionFloodTest(ReliabilityTest):
    def test_flood_keeps_descriptors(self):
        if PRLIMIT is None:
            self.skipTest("prlimit is not installed")
        fd_limit = 320
        flood = 1000
        proxy = LimitedProxy(fd_limit, "--max-connections", "10")
        self.addCleanup(proxy.close)
        pid = proxy.process.pid
        sockets = []
        self.addCleanup(lambda: [sock.close() for sock in sockets])
        peak = 0
        for _ in range(flood):
            sockets.append(proxy.connect())
            peak = max(peak, proctools.fd_count(pid))

        statuses = {}
        for sock in sockets[10:]:
            sock.settimeout(5)
            data = hgtest.recv_all(sock)
            status = data.split(b" ", 2)[1].decode() if data else "closed"
            statuses[status] = statuses.get(status, 0) + 1
        for sock in sockets:
            sock.close()

        self.assertLess(peak, fd_limit)
        self.assertEqual(set(statuses) - {"503", "closed"}, set())
        self.assertGreaterEqual(statuses.get("503", 0), 64)
        self.assertNotIn("Too many open files", proxy.stderr())
        self.assertNotIn("file descriptors", proxy.stderr())
        response = proxy.request(proxy.connect_request("after.test:443"))
        self.assertEqual(response.status, 403)
        proctools.note(f"{flood} connections against a limit of 10 and {fd_limit} descriptors: "
                       f"{statuses}, proxy descriptors at most {peak}")


def cpu_seconds(pid):
    """Return the user and system CPU time pid has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescriptorsRunOutTest(ReliabilityTest):
    def test_accept_waits_without_spinning(self):
        """With every descriptor in use, accepting fails. The proxy logs
        that once and tries again now and then, instead of in a busy
        loop; once descriptors are free, waiting connections are served."""
        if PRLIMIT is None:
            self.skipTest("prlimit is not installed")
        proxy = LimitedProxy(64, "--max-connections", "200", "--header-timeout", "60")
        self.addCleanup(proxy.close)
        pid = proxy.process.pid
        unfinished_clients = []
        self.addCleanup(lambda: [sock.close() for sock in unfinished_clients])
        for _ in range(80):
            sock = proxy.connect()
            sock.sendall(b"GET ")
            unfinished_clients.append(sock)
        hgtest.wait_for(lambda: "Could not accept a connection" in proxy.stderr(),
                 message="the accept failure in the log")

        # A busy loop would use most of a core for the whole second.
        before = cpu_seconds(pid)
        time.sleep(1.0)
        self.assertLess(cpu_seconds(pid) - before, 0.3)
        self.assertEqual(proxy.stderr().count("Could not accept a connection"), 1)
        self.assertIn("Too many open files", proxy.stderr())

        waiting = proxy.connect()
        self.addCleanup(waiting.close)
        waiting.sendall(proxy.connect_request("later.test:443"))
        for sock in unfinished_clients:
            sock.close()
        response = hgtest.read_response(waiting)
        self.assertEqual(response.status, 403)
        hgtest.wait_for(lambda: "Accepting connections again" in proxy.stderr(),
                 message="the recovery in the log")


class DescriptorLimitTest(ReliabilityTest):
    def soft_limit(self, pid):
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        raise AssertionError("no open files line in /proc/PID/limits")

    def test_soft_limit_raised(self):
        if PRLIMIT is None:
            self.skipTest("prlimit is not installed")
        proxy = LimitedProxy("64:20000", "--max-connections", "1024")
        self.addCleanup(proxy.close)
        # 1,024 connections of up to 6 descriptors, and 256 for the rest.
        self.assertEqual(self.soft_limit(proxy.process.pid), 1024 * 6 + 256)

    def test_low_hard_limit_warns(self):
        if PRLIMIT is None:
            self.skipTest("prlimit is not installed")
        proxy = LimitedProxy(256, "--max-connections", "1024")
        self.addCleanup(proxy.close)
        self.assertEqual(self.soft_limit(proxy.process.pid), 256)
        self.assertIn("--max-connections 1024 may need 6400 file descriptors, but the limit is 256",
                      proxy.stderr())


class SoakTest(ReliabilityTest):
    """Mixed traffic for SOAK_SECS seconds from a few threads: allowed
    tunnels, forwarded plain HTTP, denied hosts, malformed heads and
    requests without the token."""

    def test_soak_memory_and_descriptors_flat(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        origin = HttpOrigin()
        self.addCleanup(origin.close)
        # A short I/O timeout closes the forwarder's idle pooled
        # connections to the origin within the final descriptor check.
        proxy = self.proxy("--allow-loopback", "--allow-domain", "ok.test",
                           "--deny-domain", "bad.test", "--io-timeout", "3",
                           "--resolve", "ok.test:*:127.0.0.1", audit=False)
        pid = proxy.process.pid
        deadline = time.monotonic() + SOAK_SECS
        warm_up_end = time.monotonic() + min(10.0, SOAK_SECS / 4)
        counts = {}
        failures = []
        lock = threading.Lock()
        auth = proxy.auth_lines()

        def one(kind):
            if kind == "tunnel":
                sock, response = proxy.open_tunnel(f"ok.test:{echo.port}")
                with sock:
                    sock.sendall(b"x" * 4096)
                    sock.shutdown(socket.SHUT_WR)
                    data = response.rest + hgtest.recv_all(sock)
                return response.status == 200 and len(data) == 4096
            if kind == "forward":
                raw = (f"GET http://ok.test:{origin.port}/ HTTP/1.1\r\nHost: ok.test:{origin.port}\r\n"
                       f"{auth}Connection: close\r\n\r\n").encode()
                return proxy.request(raw).status == 200
            if kind == "denied":
                return proxy.request(proxy.connect_request("x.bad.test:443")).status == 403
            if kind == "unlisted":
                return proxy.request(proxy.connect_request("other.test:443")).status == 403
            if kind == "malformed":
                return proxy.request(b"CONNECT bad..host:443 HTTP/1.1\r\n" + auth.encode() + b"\r\n").status == 400
            return proxy.request(b"CONNECT ok.test:443 HTTP/1.1\r\nHost: ok.test:443\r\n\r\n").status == 407

        kinds = ["tunnel", "forward", "denied", "unlisted", "malformed", "no-token"]

        def worker(offset):
            i = offset
            while time.monotonic() < deadline:
                kind = kinds[i % len(kinds)]
                i += 1
                try:
                    ok = one(kind)
                except OSError as e:
                    ok = False
                    kind = f"{kind}: {e}"
                with lock:
                    counts[kind] = counts.get(kind, 0) + 1
                    if not ok:
                        failures.append(kind)
                        if len(failures) > 20:
                            return

        rss = []

        def sampler():
            while time.monotonic() < deadline:
                if time.monotonic() >= warm_up_end:
                    rss.append(proctools.rss_kib(pid))
                time.sleep(0.5)

        baseline_fds = proctools.fd_count_except_caches(pid)
        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(6)]
        threads.append(threading.Thread(target=sampler, daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SOAK_SECS + 30)
            self.assertFalse(thread.is_alive(), "a soak thread did not finish")

        self.assertEqual(failures, [])
        proctools.wait_fd_count(pid, baseline_fds)
        self.assertGreater(len(rss), 4)
        after_warm_up = rss[0]
        # The lowest sample of the last quarter, so that a burst in
        # flight at the end does not count as growth.
        settled = min(rss[-max(1, len(rss) // 4):])
        growth = settled - after_warm_up
        total = sum(counts.values())
        proctools.note(f"soak {SOAK_SECS:.0f} s: {total} requests {counts}; RSS after warm-up "
                       f"{after_warm_up} KiB, at end {settled} KiB (peak {max(rss)} KiB), "
                       f"growth {growth} KiB, margin {RSS_MARGIN_KIB} KiB; descriptors back to "
                       f"{baseline_fds}")
        if proctools.uses_asan(pid):
            # LeakSanitizer checks for leaks when the proxy exits instead.
            proctools.note("AddressSanitizer build: RSS growth not checked")
        else:
            self.assertLessEqual(growth, RSS_MARGIN_KIB)


if __name__ == "__main__":
    hgtest.main()
