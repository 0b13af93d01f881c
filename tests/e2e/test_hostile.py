"""hostgate against hostile input: clients without the proxy token, a
storm of questions for distinct hosts, processes of another user at a
Unix socket, a DNS server that maps allowed names to forbidden
addresses, and malformed lines sent to the agent. Everything stays on
127.0.0.1, in private network namespaces, and on Unix sockets in
temporary folders."""

import json
import os
import random
import selectors
import socket
import stat
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
from fakeproxy import Closed, FakeProxy
from hgtest import Proxy

OTHER_UID = 65534
# The interpreter for processes of another user: the test's own may sit
# in a home folder that user cannot enter.
SYSTEM_PYTHON = "/usr/bin/python3"
STORM_HOSTS = 1000


class HostileTest(unittest.TestCase):
    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def agent(self, **kwargs):
        agent = FakeAgent(**kwargs)
        self.addCleanup(agent.close)
        return agent


class NoTokenTest(HostileTest):
    def test_no_token_reaches_nothing(self):
        agent = self.agent(allow=["allowed.test"], deny=["denied.test"])
        proxy = self.proxy("--network-approval", "ask", "--agent-socket", agent.path,
                           "--allow-domain", "named.test", debug=True)
        agent.connection()
        targets = ["unlisted.test:443", "allowed.test:443", "named.test:443", "denied.test:443",
                   "169.254.169.254:80"]
        credentials = [
            "",
            "Proxy-Authorization: Basic " + hgtest.basic_auth("wrong-token").split(" ", 1)[1] + "\r\n",
            "Proxy-Authorization: Bearer wrong-token\r\n",
            "Proxy-Authorization: Bearer \r\n",
            # The right token twice is still not exactly one field.
            f"Proxy-Authorization: {hgtest.basic_auth()}\r\n" * 2,
        ]
        for target in targets:
            for credential in credentials:
                raw = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{credential}\r\n".encode()
                with self.subTest(target=target, credential=credential):
                    response = proxy.request(raw)
                    self.assertEqual(response.status, 407, response)
            with self.subTest(target=target, form="absolute URI"):
                raw = f"GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
                self.assertEqual(proxy.request(raw).status, 407)

        # A ping round trip orders everything the proxy sent before it.
        agent.send({"type": "ping", "id": "after-requests"})
        agent.wait_message("pong")
        records = proxy.audit_records()
        self.assertEqual(len(records), len(targets) * (len(credentials) + 1))
        self.assertEqual({r["status"] for r in records}, {407})
        self.assertEqual({r["decision"] for r in records}, {"error"})
        self.assertEqual({r.get("pattern") for r in records}, {None})
        self.assertEqual(agent.messages("ask"), [])
        self.assertEqual(agent.messages("event"), [])
        self.assertNotIn("resolving", proxy.stderr())


class PromptStormTest(HostileTest):
    def test_storm_capped_agent_responsive(self):
        proctools.raise_fd_limit(8192)
        agent = self.agent()
        proxy = self.proxy("--network-approval", "ask", "--agent-socket", agent.path,
                           "--max-connections", str(STORM_HOSTS + 100))
        agent.connection()
        cap = 32

        sockets = []
        self.addCleanup(lambda: [sock.close() for sock in sockets])
        for _ in range(STORM_HOSTS):
            sockets.append(proxy.connect())
        start = time.monotonic()
        for n, sock in enumerate(sockets):
            sock.sendall(proxy.connect_request(f"storm{n}.test:443"))
        sent = time.monotonic() - start
        self.assertLess(sent, 1.0)

        # While the storm is answered, the agent's ping gets its pong.
        ping_start = time.monotonic()
        agent.send({"type": "ping", "id": "storm"})
        agent.wait_message("pong", lambda m: m.get("id") == "storm")
        pong = time.monotonic() - ping_start

        answered = self.read_answers(sockets, STORM_HOSTS - cap, deadline=10)
        storm = time.monotonic() - start
        statuses = {status for status, _ in answered.values()}
        reasons = {reason for _, reason in answered.values()}
        self.assertEqual(len(answered), STORM_HOSTS - cap)
        self.assertEqual(statuses, {403})
        self.assertEqual(reasons, {"too many pending approvals"})
        asks = agent.messages("ask")
        self.assertEqual(len(asks), cap)
        waiting = {f"storm{n}.test" for n in range(STORM_HOSTS) if n not in answered}
        self.assertEqual({ask["host"] for ask in asks}, waiting)
        # The pong queues behind the proxy's events about the storm, which
        # the fake agent parses in Python first.
        self.assertLess(pong, 2.0 * proctools.slowdown(proxy.process.pid))

        # The waiting clients leave, each question is withdrawn, and the
        # proxy asks again at once.
        for n, sock in enumerate(sockets):
            if n not in answered:
                sock.close()
        agent.wait_message("cancel", count=cap)
        request = proxy.connect()
        self.addCleanup(request.close)
        request.sendall(proxy.connect_request("after.test:443"))
        agent.wait_message("ask", lambda m: m["host"] == "after.test")
        proctools.note(f"{STORM_HOSTS} questions sent in {sent * 1000:.0f} ms: {cap} asked, "
                       f"{len(answered)} denied within {storm:.2f} s; pong after "
                       f"{pong * 1000:.0f} ms")

    def read_answers(self, sockets, count, deadline):
        """Reads the response head from each socket that answers within
        deadline seconds; returns {index: (status, reason)}."""
        selector = selectors.DefaultSelector()
        self.addCleanup(selector.close)
        buffers = {}
        for n, sock in enumerate(sockets):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, n)
            buffers[n] = b""
        answered = {}
        end = time.monotonic() + deadline
        while len(answered) < count and time.monotonic() < end:
            for key, _ in selector.select(timeout=0.2):
                n = key.data
                try:
                    chunk = key.fileobj.recv(4096)
                except OSError:
                    chunk = b""
                buffers[n] += chunk
                if b"\r\n\r\n" in buffers[n] or not chunk:
                    selector.unregister(key.fileobj)
                    response = hgtest.Response(buffers[n].partition(b"\r\n\r\n")[0], b"")
                    answered[n] = (response.status, response.reason)
        for sock in sockets:
            sock.setblocking(True)
            sock.settimeout(hgtest.TIMEOUT)
        return answered


class OtherUserTest(HostileTest):
    """A process of another uid at a Unix socket: the proxy drops an
    agent run by another user."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("switching to another uid needs root")
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            self.skipTest(f"{SYSTEM_PYTHON}, which another user can run, is missing")

    def test_proxy_drops_agent_of_other_user(self):
        # The folder and socket are open to everyone, so that the
        # SO_PEERCRED check is the only barrier between the two users.
        tmp = tempfile.TemporaryDirectory(prefix="hostgate-other-")
        self.addCleanup(tmp.cleanup)
        os.chmod(tmp.name, 0o777)
        path = os.path.join(tmp.name, "agent.sock")
        listener = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", OTHER_USER_AGENT, path],
            user=OTHER_UID, group=OTHER_UID, extra_groups=[],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(listener.kill)
        self.assertEqual(listener.stdout.readline().strip(), b"listening")
        proxy = self.proxy("--network-approval", "ask", "--agent-socket", path, debug=True)
        hgtest.wait_for(lambda: "uid 65534" in proxy.stderr(), message="the peer check in the log")
        response = proxy.request(proxy.connect_request("who.test:443"))
        self.assertEqual(response.status, 403, response)
        listener.kill()
        output, _ = listener.communicate(timeout=hgtest.TIMEOUT)
        # The proxy closed the connection before sending anything.
        self.assertNotIn(b"hello", output)
        refusals = [line for line in proxy.stderr().splitlines() if "uid 65534" in line]
        proctools.note(f"proxy log: {refusals[0]}")


# A minimal listener for another user: accepts connections, prints what
# each sends, and keeps listening.
OTHER_USER_AGENT = r'''
import os, socket, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
os.chmod(path, 0o666)
server.listen(8)
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    conn.settimeout(5)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    print(repr(data), flush=True)
    conn.close()
'''


# Answers of the hostile DNS server: name → (A addresses, AAAA addresses).
# 192.0.2.1 is a documentation address; the namespace has no route to it
# anyway, so nothing can leave the machine.
HOSTILE_ANSWERS = {
    "meta.test": (["169.254.169.254"], []),
    "mixed.test": (["192.0.2.1", "169.254.1.1"], []),
    "mapped.test": ([], ["::ffff:169.254.169.254"]),
    "private.test": (["10.1.2.3"], []),
    "own.test": (["127.0.0.1"], []),
    "good.test": (["127.0.0.1"], []),
}


def dns_answer(query, answers):
    """Builds the response to a DNS query packet from answers, or None for
    a packet that is not a plain query. Unknown names get NXDOMAIN."""
    if len(query) < 17:
        return None
    labels = []
    position = 12
    while query[position] != 0:
        length = query[position]
        labels.append(query[position + 1:position + 1 + length].decode("ascii", "replace"))
        position += 1 + length
    question_end = position + 5
    qtype = int.from_bytes(query[position + 1:position + 3], "big")
    name = ".".join(labels).lower()
    header = query[:2]
    if name not in answers:
        return header + b"\x81\x83" + b"\x00\x01\x00\x00\x00\x00\x00\x00" + query[12:question_end]
    records = []
    v4, v6 = answers[name]
    if qtype == 1:
        records = [(1, socket.inet_pton(socket.AF_INET, a)) for a in v4]
    elif qtype == 28:
        records = [(28, socket.inet_pton(socket.AF_INET6, a)) for a in v6]
    body = b"".join(b"\xc0\x0c" + rtype.to_bytes(2, "big") + b"\x00\x01" + (60).to_bytes(4, "big")
                    + len(data).to_bytes(2, "big") + data for rtype, data in records)
    return (header + b"\x81\x80" + b"\x00\x01" + len(records).to_bytes(2, "big")
            + b"\x00\x00\x00\x00" + query[12:question_end] + body)


def hostile_dns_child():
    """Runs inside a private network namespace whose resolver is a DNS
    server on 127.0.0.1 that maps allowed names to forbidden addresses.
    Prints each request's status and reason as JSON."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 53))
    server.settimeout(0.2)
    stop = threading.Event()
    queried = []

    def serve():
        while not stop.is_set():
            try:
                query, peer = server.recvfrom(4096)
            except socket.timeout:
                continue
            response = dns_answer(query, HOSTILE_ANSWERS)
            if response is not None:
                queried.append(response[12:].split(b"\x00", 1)[0])
                server.sendto(response, peer)

    threading.Thread(target=serve, daemon=True).start()
    echo = hgtest.EchoServer()
    results = {}
    proxy = Proxy("--allow-domain", "*.test", "--deny-domain", "10.0.0.0/8", "--allow-loopback",
                  "--connect-timeout", "2", "--dns-timeout", "3")
    try:
        for name in HOSTILE_ANSWERS:
            port = proxy.port if name == "own.test" else echo.port
            response = proxy.request(proxy.connect_request(f"{name}:{port}"))
            results[name] = [response.status, response.reason]
        results["queries"] = len(queried)
        # The origin's thread counts the connection after the proxy's 200.
        try:
            hgtest.wait_for(lambda: echo.connections >= 1, timeout=5, message="the origin's accept")
        except AssertionError:
            pass
        results["echo_connections"] = echo.connections
    finally:
        stop.set()
        echo.close()
        results["exit"] = proxy.stop()
    print(json.dumps(results), flush=True)


class HostileDnsTest(unittest.TestCase):
    def test_bad_answers_denied(self):
        result = proctools.run_in_network_namespace(
            __file__, "--hostile-dns-child", "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
        expected = {
            "meta.test": '"meta.test" resolves to 169.254.169.254 (cloud metadata)',
            "mixed.test": '"mixed.test" resolves to 169.254.1.1 (link-local)',
            "mapped.test": '"mapped.test" resolves to 169.254.169.254 (cloud metadata)',
            "private.test": ('"private.test" resolves to 10.1.2.3, '
                             'which the deny list entry "10.0.0.0/8" denies'),
            "own.test": "own",
        }
        for name, reason in expected.items():
            with self.subTest(name=name):
                status, text = result[name]
                self.assertEqual(status, 403, result[name])
                self.assertIn(reason, text)
        self.assertEqual(result["good.test"][0], 200, result["good.test"])
        # Only good.test reached the origin.
        self.assertEqual(result["echo_connections"], 1)
        self.assertGreater(result["queries"], 0)
        self.assertEqual(result["exit"], 0)
        proctools.note(f"hostile DNS: {result}")


class RealAgentTest(unittest.TestCase):
    """The built hostgate-agent on a private Xvfb display."""

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
        self.agent = ah.Agent(self.display, start=False)
        self.agent.write_profile("work", allow=["api.example"])
        self.agent.start()
        self.addCleanup(self.agent.close)

    def fake_proxy(self):
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        return proxy

    def assert_responsive(self, within=1.0):
        """A new connection gets its welcome and a pong within seconds
        (longer under AddressSanitizer)."""
        within *= proctools.slowdown(self.agent.agent_pid())
        start = time.monotonic()
        proxy = self.fake_proxy()
        proxy.hello("work")
        proxy.send({"type": "ping", "id": "alive"})
        self.assertEqual(proxy.expect("pong", timeout=within)["id"], "alive")
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, within)
        return elapsed

    def test_other_uid_refused(self):
        if os.geteuid() != 0:
            self.skipTest("switching to another uid needs root")
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            self.skipTest(f"{SYSTEM_PYTHON}, which another user can run, is missing")
        folder = os.path.dirname(self.agent.socket_path)
        self.assertEqual(stat.S_IMODE(os.lstat(folder).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.lstat(self.agent.socket_path).st_mode), 0o600)

        # With the modes opened up, SO_PEERCRED is the only barrier.
        for path, mode in ((self.agent.runtime_dir, 0o755), (folder, 0o755),
                           (self.agent.socket_path, 0o666)):
            os.chmod(path, mode)
        os.chmod(self.agent.dir, 0o755)
        completed = subprocess.run([SYSTEM_PYTHON, "-c", OTHER_USER_PROXY, self.agent.socket_path],
                                   user=OTHER_UID, group=OTHER_UID, extra_groups=[],
                                   capture_output=True, timeout=hgtest.TIMEOUT)
        self.assertEqual(completed.returncode, 0, completed.stderr.decode())
        self.assertEqual(completed.stdout.decode().strip(), "closed b''")
        self.assertIn("65534", self.agent.stderr())
        self.assert_responsive()

    def test_ask_storm_capped(self):
        proxy = self.fake_proxy()
        proxy.hello("work")
        start = time.monotonic()
        ids = [proxy.ask(f"storm{n}.example") for n in range(STORM_HOSTS)]
        sent = time.monotonic() - start
        self.assertLess(sent, 1.0 * proctools.slowdown(self.agent.agent_pid()))

        refused = set()
        while len(refused) < STORM_HOSTS - 32:
            error = proxy.expect("error", code="too-many-prompts")
            refused.add(error["id"])
        self.assertEqual(refused, set(ids[32:]))
        elapsed = self.assert_responsive()
        proctools.note(f"agent: {STORM_HOSTS} asks in {sent * 1000:.0f} ms, "
                       f"{len(refused)} refused with too-many-prompts, new session answered in "
                       f"{elapsed * 1000:.0f} ms")

    def test_proxy_storm_agent_responsive(self):
        proctools.raise_fd_limit(8192)
        proxy = Proxy("--network-approval", "ask", "--agent-socket", self.agent.socket_path,
                      "--max-connections", str(STORM_HOSTS + 100))
        self.addCleanup(proxy.close)
        hgtest.wait_for(lambda: "Using revision" in proxy.stderr(), message="the agent's welcome")
        sockets = [proxy.connect() for _ in range(STORM_HOSTS)]
        self.addCleanup(lambda: [sock.close() for sock in sockets])
        start = time.monotonic()
        for n, sock in enumerate(sockets):
            sock.sendall(proxy.connect_request(f"storm{n}.example:443"))

        refused = 0
        for sock in sockets[32:]:
            response = hgtest.read_response(sock)
            self.assertEqual(response.status, 403, response)
            self.assertEqual(response.reason, "too many pending approvals")
            refused += 1
        storm = time.monotonic() - start
        elapsed = self.assert_responsive()
        ah.find_window(self.display)
        self.assertIsNone(self.agent.process.poll())
        for sock in sockets:
            sock.close()
        ah.wait_no_window(self.display)
        proctools.note(f"proxy and agent: {refused} of {STORM_HOSTS} refused in {storm:.2f} s, "
                       f"32 prompts open; a new session answered in {elapsed * 1000:.0f} ms")

    def test_mangled_lines_survived(self):
        rng = random.Random(int(os.environ.get("HOSTGATE_MANGLE_SEED", "1")))
        templates = [
            {"type": "ask", "id": "1", "host": "a.example", "port": 443, "kind": "connect",
             "timeout_ms": 60000},
            {"type": "cancel", "id": "1", "reason": "timeout"},
            {"type": "event", "host": "a.example", "port": 443, "decision": "allow"},
            {"type": "ping", "id": "p"},
            {"type": "hello", "version": 1, "session": {"id": "x", "profile": "work", "pid": 1}},
        ]
        closed = 0
        errors = 0

        for round_number in range(60):
            proxy = FakeProxy(self.agent.socket_path)
            try:
                proxy.hello("work")
                for _ in range(5):
                    message = json.loads(json.dumps(rng.choice(templates)))
                    if round_number % 2:
                        line = mangle(rng, json.dumps(message).encode())
                    else:
                        line = json.dumps(mangle_fields(rng, message)).encode()
                    proxy.send_raw(line + b"\n")
                proxy.send({"type": "ping", "id": f"r{round_number}"})
                proxy.expect("pong", id=f"r{round_number}")
                errors += sum(1 for m in proxy.received if m.get("type") == "error")
            except (Closed, BrokenPipeError, ConnectionResetError):
                closed += 1
            finally:
                proxy.close()

        proxy = self.fake_proxy()
        proxy.hello("work")
        proxy.send_raw(b"x" * 65537)
        proxy.wait_closed()

        self.assertIsNone(self.agent.process.poll())
        self.assert_responsive()
        # Every session with broken JSON is closed; valid JSON with bad
        # fields is answered with errors on the same connection.
        self.assertGreaterEqual(closed, 30)
        self.assertLess(closed, 60)
        self.assertGreater(errors, 0)
        proctools.note(f"agent: 60 sessions of mangled lines, {closed} closed by the agent, "
                       f"{errors} errors answered on open ones; still answering")


def mangle(rng, line):
    """Returns line with a few random byte flips, insertions or cuts."""
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        position = rng.randrange(len(data) + 1)
        if choice < 0.4 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif choice < 0.7:
            data[position:position] = bytes([rng.choice(b'{}[]",:\\0 \x00\xff')])
        else:
            del data[position:position + rng.randint(1, 8)]
    return bytes(data).replace(b"\n", b" ")


def mangle_fields(rng, message):
    """Returns message with one field removed, retyped or out of range,
    or an unknown field added, so the line stays valid JSON."""
    key = rng.choice(sorted(message))
    choice = rng.random()
    if choice < 0.25 and key != "type":
        del message[key]
    elif choice < 0.5:
        message[key] = rng.choice([None, 0, -1, 2 ** 63, 1.5, "", "x" * 300, [], {}, True,
                                   "a..example", "\u0000", "*"])
    elif choice < 0.75:
        message["type"] = rng.choice(["decision", "filter", "welcome", "stats", "", "ASK"])
    else:
        message["extra" + str(rng.randrange(100))] = {"nested": [1, 2, 3]}
    return message


# A proxy of another user: connects, sends hello, prints what comes back.
OTHER_USER_PROXY = r'''
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(5)
sock.connect(sys.argv[1])
hello = {"type": "hello", "version": 1, "session": {"id": "other", "profile": "work", "pid": 1}}
try:
    sock.sendall(json.dumps(hello).encode() + b"\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
except (BrokenPipeError, ConnectionResetError):
    data = b""
print("closed", repr(data))
'''


if __name__ == "__main__":
    if sys.argv[1:] == ["--hostile-dns-child"]:
        hostile_dns_child()
    else:
        hgtest.main()
