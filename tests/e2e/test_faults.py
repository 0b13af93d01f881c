"""hostgate when something around it fails: the approval agent dies or
hangs, an origin resets or never accepts, DNS never answers, the profile
writer is killed or loses its disk, and the proxy is stopped with
tunnels open. Each test checks that clients get a clear answer within
the configured deadline and that the proxy's descriptors return to
where they were."""

import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import agentharness as ah
import hgtest
import proctools
from fakeagent import FakeAgent
from hgtest import EchoServer, Proxy

PROFILE_WRITER = os.environ.get("HOSTGATE_PROFILE_WRITER", "")
UNSHARE = proctools.UNSHARE
KILL_ROUNDS = int(os.environ.get("HOSTGATE_KILL_ROUNDS", "200"))
INITIAL_PROFILE = {"meta": {"name": "work"}, "filesystem": {"read": ["/usr"]},
                   "network": {"allow_domain": ["first.example"]}}


class PendingConnect:
    """A CONNECT sent on its own connection, response not read yet."""

    def __init__(self, proxy, authority):
        self.sock = proxy.connect()
        self.sock.sendall(proxy.connect_request(authority))

    def response(self):
        return hgtest.read_response(self.sock)


class FaultTest(unittest.TestCase):
    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def agent(self, **kwargs):
        agent = FakeAgent(**kwargs)
        self.addCleanup(agent.close)
        return agent

    def pending(self, proxy, authority):
        request = PendingConnect(proxy, authority)
        self.addCleanup(request.sock.close)
        return request


class AgentFaultTest(FaultTest):
    def approval_proxy(self, agent, *args, names=()):
        pins = []
        for name in names:
            pins += ["--resolve", f"{name}:*:127.0.0.1"]
        return self.proxy("--network-approval", "ask", "--agent-socket", agent.path,
                          "--allow-loopback", *pins, *args)

    def test_agent_killed_denies_waiters(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        agent = self.agent()
        hosts = [f"h{n}.test" for n in range(10)]
        proxy = self.approval_proxy(agent, names=hosts + ["again.test"])
        requests = [self.pending(proxy, f"{host}:443") for host in hosts for _ in range(2)]
        agent.wait_message("ask", count=len(hosts))

        start = time.monotonic()
        agent.kill()
        for request in requests:
            response = request.response()
            self.assertEqual(response.status, 403, response)
            self.assertIn("approval agent disconnected", response.reason)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 1.0)

        # A new agent on the same path gets a new hello and the next ask.
        restarted = self.agent(path=agent.path)
        reconnect_start = time.monotonic()
        restarted.wait_message("hello")
        reconnected = time.monotonic() - reconnect_start
        request = self.pending(proxy, f"again.test:{echo.port}")
        ask = restarted.wait_message("ask")
        self.assertEqual(ask["host"], "again.test")
        restarted.decide(ask, "approve", "once")
        response = request.response()
        self.assertEqual(response.status, 200, response)
        proctools.note(f"{len(requests)} waiters on {len(hosts)} prompts denied "
                       f"{elapsed * 1000:.0f} ms after the agent died; reconnected "
                       f"{reconnected * 1000:.0f} ms after it came back")

    def test_silent_agent_times_out(self):
        agent = self.agent()
        proxy = self.approval_proxy(agent, "--approval-timeout", "5", names=["silent.test"])
        pid = proxy.process.pid
        agent.connection()
        baseline = proctools.fd_count_except_caches(pid)
        start = time.monotonic()
        requests = [self.pending(proxy, "silent.test:443") for _ in range(3)]
        ask = agent.wait_message("ask")
        for request in requests:
            response = request.response()
            self.assertEqual(response.status, 403, response)
            self.assertIn("approval timed out", response.reason)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 4.9)
        self.assertLess(elapsed, 6.5)
        cancel = agent.wait_message("cancel")
        self.assertEqual(cancel["id"], ask["id"])
        self.assertEqual(cancel["reason"], "timeout")
        for request in requests:
            request.sock.close()
        proctools.wait_fd_count(pid, baseline)

    def test_agent_without_welcome_denies(self):
        agent = self.agent(welcome=False)
        proxy = self.approval_proxy(agent, "--approval-timeout", "5", names=["mute.test"])
        agent.wait_message("hello")
        start = time.monotonic()
        request = self.pending(proxy, "mute.test:443")
        response = request.response()
        elapsed = time.monotonic() - start
        self.assertEqual(response.status, 403, response)
        self.assertLess(elapsed, 6.5)
        self.assertEqual(agent.messages("ask"), [])
        proctools.note(f"agent without welcome: denied after {elapsed:.1f} s with "
                       f"“{response.reason}”")


class RealAgentFaultTest(FaultTest):
    """The built hostgate-agent on a private Xvfb display, killed and
    started again under a running proxy."""

    display = None
    missing = None

    @classmethod
    def setUpClass(cls):
        # Skipped per test in setUp, so that TAP counts every test.
        cls.missing = ah.missing_display_tools()
        if cls.missing is None:
            cls.display = ah.Display()

    @classmethod
    def tearDownClass(cls):
        if cls.display is not None:
            cls.display.close()

    def setUp(self):
        if self.missing is not None:
            self.skipTest(self.missing)

    def test_agent_sigkill_and_restart(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        agent = ah.Agent(self.display)
        self.addCleanup(agent.close)
        hosts = [f"k{n}.test" for n in range(5)]
        pins = []
        for name in hosts + ["again.test"]:
            pins += ["--resolve", f"{name}:*:127.0.0.1"]
        proxy = self.proxy("--network-approval", "ask", "--agent-socket", agent.socket_path,
                           "--allow-loopback", *pins)
        hgtest.wait_for(lambda: "Using revision" in proxy.stderr(), message="the agent's welcome")
        requests = [self.pending(proxy, f"{host}:{echo.port}") for host in hosts]
        ah.find_window(self.display)

        start = time.monotonic()
        os.kill(agent.agent_pid(), signal.SIGKILL)
        for request in requests:
            response = request.response()
            self.assertEqual(response.status, 403, response)
            self.assertIn("approval agent disconnected", response.reason)
        denied = time.monotonic() - start
        self.assertLess(denied, 1.0)
        agent.process.wait(hgtest.TIMEOUT)
        # The killed agent left its socket file behind.
        self.assertTrue(agent.listening())

        restarted = ah.Agent(self.display, tmp=agent.tmp)
        self.addCleanup(restarted.close)
        hgtest.wait_for(lambda: proxy.stderr().count("Using revision") >= 2, timeout=40,
                        message="the proxy's reconnection")
        reconnected = time.monotonic() - start
        request = self.pending(proxy, f"again.test:{echo.port}")
        window = ah.find_window(self.display)
        ah.wait_guard()
        ah.click_button(self.display, window, "approve")
        response = request.response()
        self.assertEqual(response.status, 200, response)
        proctools.note(f"real agent SIGKILLed: 5 waiters denied in {denied * 1000:.0f} ms; the "
                       f"restarted agent replaced the stale socket and the proxy was back "
                       f"{reconnected:.1f} s after the kill")


class OriginFaultTest(FaultTest):
    def test_origin_reset_mid_tunnel(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.addCleanup(listener.close)

        def reset_after_first_chunk():
            conn, _ = listener.accept()
            conn.settimeout(hgtest.TIMEOUT)
            conn.recv(65536)
            conn.sendall(b"partial")
            # SO_LINGER with a zero timeout makes close() send RST.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

        thread = threading.Thread(target=reset_after_first_chunk, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        proxy = self.proxy("--allow-loopback", "--allow-domain", "reset.test",
                           "--resolve", f"reset.test:{port}:127.0.0.1")
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        sock, response = proxy.open_tunnel(f"reset.test:{port}")
        with sock:
            self.assertEqual(response.status, 200)
            sock.sendall(b"hello")
            start = time.monotonic()
            data = response.rest + hgtest.recv_all(sock)
            self.assertLess(time.monotonic() - start, 2.0)
        self.assertEqual(data, b"partial")
        record = proxy.wait_audit(1)[-1]
        self.assertEqual(record["status"], 200)
        self.assertIsNotNone(record["reason"])
        self.assertEqual(record["bytes_down"], len(b"partial"))
        proctools.wait_fd_count(pid, baseline)
        proctools.note(f"origin reset: tunnel closed, audit reason “{record['reason']}”")

    def test_origin_never_accepts_is_504(self):
        port = hgtest.full_listener_port(self)
        proxy = self.proxy("--allow-loopback", "--allow-domain", "full.test", "--connect-timeout", "2",
                           "--resolve", f"full.test:{port}:127.0.0.1")
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        start = time.monotonic()
        response = proxy.request(proxy.connect_request(f"full.test:{port}"))
        elapsed = time.monotonic() - start
        self.assertEqual(response.status, 504, response)
        self.assertIn("timed out", response.reason)
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 3.5)
        proctools.wait_fd_count(pid, baseline)

    def test_origin_never_accepts_plain_http_is_504(self):
        # Plain HTTP connects through libsoup, which bounds the connect by
        # --io-timeout and names the host and port, not each address.
        port = hgtest.full_listener_port(self)
        proxy = self.proxy("--allow-loopback", "--allow-domain", "full.test", "--io-timeout", "2",
                           "--resolve", f"full.test:{port}:127.0.0.1")
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        start = time.monotonic()
        response = proxy.request((f"GET http://full.test:{port}/ HTTP/1.1\r\nHost: full.test:{port}\r\n"
                                  f"{proxy.auth_lines()}\r\n").encode())
        elapsed = time.monotonic() - start
        self.assertEqual(response.status, 504, response)
        self.assertEqual(response.reason, f"could not connect to full.test:{port} within 2 seconds")
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 3.5)
        record = proxy.wait_audit(1)[0]
        self.assertEqual((record["status"], record["reason"]), (504, response.reason))
        proctools.wait_fd_count(pid, baseline)

    def test_closed_port_is_502(self):
        port = hgtest.closed_port()
        proxy = self.proxy("--allow-loopback", "--allow-domain", "closed.test",
                           "--resolve", f"closed.test:{port}:127.0.0.1")
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        start = time.monotonic()
        response = proxy.request(proxy.connect_request(f"closed.test:{port}"))
        self.assertEqual(response.status, 502, response)
        self.assertIn("refused", response.reason.lower())
        self.assertLess(time.monotonic() - start, 1.0)
        proctools.wait_fd_count(pid, baseline)


DNS_TIMEOUT = 2


def dns_blackhole_child():
    """Runs inside a private network and mount namespace whose
    /etc/resolv.conf names 127.0.0.1: listens on UDP port 53 without ever
    answering, asks the proxy for a name, and prints the outcome as JSON."""
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blackhole.bind(("127.0.0.1", 53))
    blackhole.settimeout(0.2)
    queries = []
    stop = threading.Event()

    def swallow():
        while not stop.is_set():
            try:
                queries.append(blackhole.recv(512))
            except socket.timeout:
                pass

    threading.Thread(target=swallow, daemon=True).start()
    result = {}
    proxy = Proxy("--allow-domain", "blackhole.test", "--dns-timeout", str(DNS_TIMEOUT), debug=True)
    try:
        pid = proxy.process.pid
        baseline = proctools.fd_count_except_caches(pid)
        start = time.monotonic()
        response = proxy.request(proxy.connect_request("blackhole.test:443"))
        result["elapsed"] = time.monotonic() - start
        result["status"] = response.status
        result["reason"] = response.reason
        result["queries"] = len(queries)
        # The lookup thread stays blocked in getaddrinfo() until the stub
        # resolver's own timeout (resolv.conf below) passes.
        try:
            proctools.wait_fd_count(pid, baseline, timeout=15)
            result["fds_back"] = True
        except AssertionError as e:
            result["fds_back"] = str(e)
        result["resolving_logged"] = "resolving blackhole.test" in proxy.stderr()
    finally:
        stop.set()
        result["exit"] = proxy.stop()
    print(json.dumps(result), flush=True)


class DnsFaultTest(FaultTest):
    def test_dns_never_answers_is_502(self):
        result = proctools.run_in_network_namespace(
            __file__, "--dns-blackhole-child",
            "nameserver 127.0.0.1\noptions timeout:3 attempts:1\n")

        self.assertEqual(result["status"], 502, result)
        self.assertIn("timed out", result["reason"])
        self.assertGreaterEqual(result["elapsed"], DNS_TIMEOUT - 0.1)
        self.assertLess(result["elapsed"], DNS_TIMEOUT + 1.5)
        self.assertGreater(result["queries"], 0)
        self.assertTrue(result["resolving_logged"])
        self.assertIs(result["fds_back"], True)
        self.assertEqual(result["exit"], 0)
        proctools.note(f"DNS black hole: 502 after {result['elapsed']:.2f} s "
                       f"({result['queries']} queries swallowed): {result['reason']}")


class ShutdownFaultTest(FaultTest):
    def test_sigterm_with_open_tunnels(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        grace = 2
        proxy = self.proxy("--grace-period", str(grace), "--allow-loopback", "--allow-domain", "t.test",
                           "--resolve", f"t.test:{echo.port}:127.0.0.1")
        tunnels = []
        for _ in range(20):
            sock, response = proxy.open_tunnel(f"t.test:{echo.port}")
            self.addCleanup(sock.close)
            self.assertEqual(response.status, 200)
            tunnels.append(sock)

        start = time.monotonic()
        proxy.process.send_signal(signal.SIGTERM)

        def refused():
            try:
                proxy.connect(timeout=1).close()
            except ConnectionRefusedError:
                return True
            except ConnectionResetError:
                # Queued in the backlog just as the listener closed: ask again.
                return False
            return False

        hgtest.wait_for(refused, timeout=1, message="the listener to close")
        listener_closed = time.monotonic() - start

        # Half of the tunnels finish within the grace period.
        for sock in tunnels[:10]:
            sock.sendall(b"during grace")
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(hgtest.recv_all(sock), b"during grace")
        # The rest are closed when it ends.
        for sock in tunnels[10:]:
            sock.sendall(b"still here")
            self.assertEqual(hgtest.recv_until(sock, b"here"), b"still here")
        for sock in tunnels[10:]:
            self.assertEqual(hgtest.recv_all(sock), b"")
        closed = time.monotonic() - start
        status = proxy.process.wait(hgtest.TIMEOUT)
        exited = time.monotonic() - start

        self.assertEqual(status, 0)
        self.assertLess(listener_closed, 0.5)
        self.assertGreaterEqual(closed, grace - 0.05)
        self.assertLess(exited, grace + 2.5)
        proctools.note(f"SIGTERM: listener closed after {listener_closed * 1000:.0f} ms, "
                       f"idle tunnels closed after {closed:.2f} s, exit 0 after {exited:.2f} s")

    def test_sigterm_with_forward_waiting(self):
        # The origin accepts and reads the request but never responds.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(hgtest.TIMEOUT)
        port = silent.getsockname()[1]
        proxy = self.proxy("--grace-period", "1", "--allow-loopback", "--allow-domain", "slow.test",
                           "--resolve", f"slow.test:{port}:127.0.0.1")
        sock = proxy.connect()
        self.addCleanup(sock.close)
        sock.sendall(f"GET http://slow.test:{port}/ HTTP/1.1\r\nHost: slow.test:{port}\r\n"
                     f"{proxy.auth_lines()}\r\n".encode())
        origin, _ = silent.accept()
        self.addCleanup(origin.close)
        self.assertIn(b"GET / HTTP/1.1", hgtest.recv_until(origin, b"\r\n\r\n"))

        proxy.process.send_signal(signal.SIGTERM)
        self.assertEqual(proxy.process.wait(hgtest.TIMEOUT), 0)
        self.assertEqual(hgtest.recv_all(sock), b"")
        records = proxy.audit_records()
        self.assertEqual(len(records), 1, records)
        self.assertEqual(records[0]["decision"], "allow")
        self.assertEqual(records[0]["status"], 0)
        self.assertEqual(records[0]["reason"], "closed at the end of the shutdown grace period")

    def test_sigterm_with_partial_head(self):
        # A head still arriving is a request in progress: it gets the
        # grace period, then a record, like a request already decided.
        proxy = self.proxy("--grace-period", "1", "--header-timeout", "30")
        idle = proxy.connect()
        self.addCleanup(idle.close)
        partial = proxy.connect()
        self.addCleanup(partial.close)
        partial.sendall(b"GET http://partial.test/ HTTP/1.1\r\nHost: parti")
        hgtest.wait_for(lambda: proxy_has_clients(proxy.process.pid, 2),
                        message="both connections accepted and their bytes read")

        start = time.monotonic()
        proxy.process.send_signal(signal.SIGTERM)
        self.assertEqual(hgtest.recv_all(idle), b"")
        self.assertLess(time.monotonic() - start, 0.9)
        self.assertEqual(hgtest.recv_all(partial), b"")
        self.assertGreaterEqual(time.monotonic() - start, 0.95)
        self.assertEqual(proxy.process.wait(hgtest.TIMEOUT), 0)

        records = proxy.audit_records()
        self.assertEqual(len(records), 1, records)
        self.assertEqual(records[0]["decision"], "error")
        self.assertEqual(records[0]["status"], 0)
        self.assertIsNone(records[0]["method"])
        self.assertEqual(records[0]["reason"], "closed at the end of the shutdown grace period")


def proxy_has_clients(pid, count):
    """Tell whether process pid has at least count established TCP
    connections (state 01 of /proc/net/tcp) and has read every byte that
    arrived on them (receive queue 0)."""
    inodes = {target[len("socket:["):-1] for target in proctools.fd_targets(pid)
              if target.startswith("socket:[")}
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    mine = [row for row in rows if row[3] == "01" and row[9] in inodes]
    return len(mine) >= count and all(row[4].endswith(":00000000") for row in mine)


class ProfileFaultTest(unittest.TestCase):
    def setUp(self):
        if not PROFILE_WRITER:
            self.skipTest("HOSTGATE_PROFILE_WRITER is not set (built without the agent)")
        self.tmp = tempfile.TemporaryDirectory(prefix="hostgate-profile-")
        self.addCleanup(self.tmp.cleanup)
        self.folder = os.path.join(self.tmp.name, "profiles")
        os.mkdir(self.folder, 0o700)
        self.path = os.path.join(self.folder, "work.json")
        with open(self.path, "w") as f:
            json.dump(INITIAL_PROFILE, f)

    def load(self):
        with open(self.path) as f:
            return json.load(f)

    def test_killed_writer_keeps_valid_file(self):
        rng = random.Random(int(os.environ.get("HOSTGATE_KILL_SEED", "0")) or None)
        done = {"first.example"}
        killed_mid_run = 0
        start = time.monotonic()
        for round_number in range(KILL_ROUNDS):
            self.assertLess(time.monotonic() - start, 120, f"only {round_number} rounds in 120 s")
            writer = subprocess.Popen([PROFILE_WRITER, self.folder, "work", f"r{round_number}", "100000"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            # Startup takes about 20 ms and a write about 1 ms, so most
            # kills land in the middle of a write.
            time.sleep(rng.uniform(0.0, 0.06))
            writer.send_signal(signal.SIGKILL)
            output, _ = writer.communicate(timeout=hgtest.TIMEOUT)
            if writer.returncode == -signal.SIGKILL:
                killed_mid_run += 1
            for line in output.decode().splitlines():
                self.assertFalse(line.startswith("error"), line)
                if line.startswith("done "):
                    done.add(line[5:])

            with self.subTest(round=round_number):
                profile = self.load()
                allow = profile["network"]["allow_domain"]
                self.assertEqual(profile["filesystem"], INITIAL_PROFILE["filesystem"])
                self.assertEqual(len(allow), len(set(allow)))
                missing = done - set(allow)
                self.assertEqual(missing, set())

        # A killed write may leave its temporary file; the next store
        # to start removes it.
        leftovers = [name for name in os.listdir(self.folder) if name != "work.json"]
        self.assertLessEqual(len(leftovers), 1, leftovers)
        completed = subprocess.run([PROFILE_WRITER, self.folder, "work", "last", "1"],
                                   capture_output=True, timeout=hgtest.TIMEOUT)
        self.assertEqual(completed.stdout.decode(), "done last-0.example\n")
        self.assertEqual(os.listdir(self.folder), ["work.json"])
        allow = self.load()["network"]["allow_domain"]
        self.assertEqual(done - set(allow), set())
        proctools.note(f"{KILL_ROUNDS} SIGKILLs in {time.monotonic() - start:.1f} s "
                       f"({killed_mid_run} while running): {len(done)} writes reported done, "
                       f"all present among {len(allow)} entries")

    def run_in_mount_namespace(self, script):
        if UNSHARE is None:
            self.skipTest("unshare is not installed")
        command = [UNSHARE, "-rm", "sh", "-c", script, "sh", self.folder, PROFILE_WRITER]
        completed = subprocess.run(command, capture_output=True, timeout=60)
        if completed.returncode == 99:
            self.skipTest(f"cannot mount here: {completed.stderr.decode()[:200]}")
        return completed

    def assert_error_keeps_file(self, completed, expected):
        before = json.dumps(INITIAL_PROFILE)
        output = completed.stdout.decode()
        self.assertEqual(completed.returncode, 1, output + completed.stderr.decode())
        self.assertIn("error Could not", output)
        self.assertIn(expected, output)
        self.assertIn(self.folder, output)
        with open(self.path) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(os.listdir(self.folder), ["work.json"])
        proctools.note(output.strip())

    def test_full_disk_keeps_old_file(self):
        # A 64 KiB tmpfs over the folder, filled up; the profile is copied
        # in first and copied back out after the failed write.
        script = r'''
            keep=$(mktemp) && cp "$1/work.json" "$keep" || exit 99
            mount -t tmpfs -o size=64k tmpfs "$1" || exit 99
            cp "$keep" "$1/work.json"
            dd if=/dev/zero of="$1/filler" bs=4096 2>/dev/null
            "$2" "$1" work full 1; status=$?
            rm -f "$1/filler"
            cp "$1/work.json" "$keep.after"; ls -A "$1" > "$keep.list"
            umount "$1"; cp "$keep.after" "$1/work.json"
            if [ "$(cat "$keep.list")" != "work.json" ]; then echo "left behind: $(cat "$keep.list")"; fi
            rm -f "$keep" "$keep.after" "$keep.list"
            exit $status
        '''
        self.assert_error_keeps_file(self.run_in_mount_namespace(script), "No space left on device")

    def test_read_only_folder_keeps_old_file(self):
        script = r'''
            mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
            exec "$2" "$1" work ro 1
        '''
        self.assert_error_keeps_file(self.run_in_mount_namespace(script), "Read-only file system")

    def test_file_in_place_of_folder(self):
        blocker = os.path.join(self.tmp.name, "config")
        with open(blocker, "w") as f:
            f.write("not a folder\n")
        folder = os.path.join(blocker, "profiles")
        completed = subprocess.run([PROFILE_WRITER, folder, "default", "nodir", "1"],
                                   capture_output=True, timeout=hgtest.TIMEOUT)
        output = completed.stdout.decode()
        self.assertEqual(completed.returncode, 1, output)
        self.assertIn("Not a directory", output)
        self.assertIn(folder, output)
        with open(blocker) as f:
            self.assertEqual(f.read(), "not a folder\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--dns-blackhole-child"]:
        dns_blackhole_child()
    else:
        hgtest.main()
