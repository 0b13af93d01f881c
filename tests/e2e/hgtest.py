"""Harness for the end-to-end tests of hostgate-proxy.

Every test runs the built proxy as a real process (its path comes from the
HOSTGATE_PROXY environment variable that meson sets) and talks to it over
real sockets, with raw requests or with curl. All traffic stays on
127.0.0.1 and ::1: names in tests are fake (*.example, *.test) and are
pinned with the proxy's own --resolve, because `curl --resolve` does not
change what curl sends to a proxy in a CONNECT line.

Pieces:

- Proxy: starts hostgate-proxy with a token file, a port file and an audit
  log in a temporary folder, waits for the port file, and offers helpers
  to send raw requests, open tunnels, run curl and read the audit log.
- EchoServer: a threaded raw TCP echo server, with a connection count.
- HttpOrigin: a threaded HTTP/1.1 origin whose handler the test supplies.
- FakeUpstream: an upstream proxy that records each request head and
  answers with a canned reply, then echoes.
- main(): runs the calling module's unittest cases and prints TAP, so
  meson counts each test method (`protocol: 'tap'`).

Everything is bounded in time: sockets have timeouts, waits poll a
condition with a deadline, and no test sleeps to wait for readiness.
"""

import base64
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

PROXY_PATH = os.environ.get("HOSTGATE_PROXY", "")
CURL = shutil.which("curl")
TOKEN = "e2e-test-token-5d1c"
TIMEOUT = 10.0


def wait_for(condition, timeout=TIMEOUT, interval=0.01, message="condition"):
    """Poll condition() until it returns a true value; return that value.

    Raises AssertionError after timeout seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def basic_auth(token=TOKEN, user="hostgate"):
    """Return the value of a Proxy-Authorization header for Basic auth."""
    raw = f"{user}:{token}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class Response:
    """A parsed HTTP response head, with the body read so far."""

    def __init__(self, raw_head, body):
        self.raw_head = raw_head
        lines = raw_head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        parts = self.status_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))
        self.body = body

    def header(self, name):
        """Return the first value of header name, or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_names(self):
        return [key.lower() for key, _ in self.headers]

    def __repr__(self):
        return f"<Response {self.status_line!r} body={self.body[:200]!r}>"


def closed_port():
    """Return a port of 127.0.0.1 where nothing listens: bound, read and
    closed again."""
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        return spare.getsockname()[1]


def full_listener_port(test):
    """Return the port of a listener on 127.0.0.1 whose accept queue is
    full: it drops further SYNs, so a connection attempt to it hangs
    until the proxy's deadline. The sockets close when test ends; test is
    skipped where the kernel accepts past a full backlog."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    test.addCleanup(full.close)
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(full.getsockname())
        test.addCleanup(filler.close)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(full.getsockname())
        test.skipTest("the kernel accepted a connection past a full backlog")
    except socket.timeout:
        pass
    finally:
        probe.close()
    return full.getsockname()[1]


def recv_until(sock, marker, limit=1 << 20):
    """Read from sock until marker is in the data; return all data read."""
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            break
    return data


def recv_all(sock, limit=64 << 20):
    """Read from sock until the peer closes or limit bytes."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock, read_body=True):
    """Read one response head from sock, and its body when it has a
    Content-Length (or, without one, until close if read_body is "close").
    Returns a Response; extra bytes past the body stay in response.rest."""
    data = recv_until(sock, b"\r\n\r\n")
    if b"\r\n\r\n" not in data:
        raise AssertionError(f"no complete response head, got {data!r}")
    head, _, rest = data.partition(b"\r\n\r\n")
    response = Response(head, b"")
    length = response.header("Content-Length")
    if read_body and length is not None:
        length = int(length)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        response.body, response.rest = rest[:length], rest[length:]
    elif read_body == "close":
        response.body, response.rest = rest + recv_all(sock), b""
    else:
        response.rest = rest
    return response


class Proxy:
    """A running hostgate-proxy.

    Args are passed after the harness's own options (--port-file,
    --token-file, --audit-log, unless auth is False, which passes
    --auth off instead of a token). token_via="env" passes the token in
    HOSTGATE_PROXY_TOKEN instead of a file. debug=True sets
    G_MESSAGES_DEBUG=hostgate-proxy so that debug lines land in stderr.
    Use as a context manager, or call stop().
    """

    def __init__(self, *args, auth=True, token=TOKEN, token_via="file", debug=False,
                 env=None, audit=True, start=True):
        if not PROXY_PATH:
            raise unittest.SkipTest("HOSTGATE_PROXY is not set")
        self.tmp = tempfile.TemporaryDirectory(prefix="hostgate-e2e-")
        self.dir = self.tmp.name
        self.port_file = os.path.join(self.dir, "port")
        self.audit_path = os.path.join(self.dir, "audit.jsonl") if audit else None
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.token = token
        self.token_via = token_via
        self.args = list(args)
        self.auth = auth
        self.debug = debug
        self.extra_env = env or {}
        self.process = None
        self.address = None
        self.stdout_line = None
        if start:
            self.start()

    def command(self):
        command = [PROXY_PATH, "--port-file", self.port_file]
        if self.auth and self.token_via == "env":
            pass
        elif self.auth:
            token_file = os.path.join(self.dir, "token")
            with open(token_file, "w") as f:
                f.write(self.token + "\n")
            command += ["--token-file", token_file]
        else:
            command += ["--auth", "off"]
        if self.audit_path:
            command += ["--audit-log", self.audit_path]
        return command + self.args

    def environment(self):
        env = dict(os.environ)
        env.pop("HOSTGATE_PROXY_TOKEN", None)
        env.pop("HOSTGATE_NETWORK_APPROVAL", None)
        env.pop("HOSTGATE_APPROVAL_TIMEOUT", None)
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            env.pop(name, None)
        if self.auth and self.token_via == "env":
            env["HOSTGATE_PROXY_TOKEN"] = self.token
        # A GLib critical is a bug: make it abort, so close() reports it.
        env["G_DEBUG"] = "fatal-criticals"
        env["XDG_CONFIG_HOME"] = os.path.join(self.dir, "config")
        env["XDG_RUNTIME_DIR"] = self.dir
        if self.debug:
            env["G_MESSAGES_DEBUG"] = "hostgate-proxy"
        else:
            env.pop("G_MESSAGES_DEBUG", None)
        env.update(self.extra_env)
        return env

    def start(self):
        self.stderr_file = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=self.stderr_file,
                                        env=self.environment())

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"hostgate-proxy exited with {self.process.returncode}: {self.stderr()}")
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read()
                return text if text.endswith("\n") else None
            return None

        text = wait_for(ready, message="the port file").strip()
        self.stdout_line = self.process.stdout.readline().decode().strip()
        host, _, port = text.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.address = text
        return self

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        """Send sig and wait for the exit; return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(TIMEOUT)
        self.process.stdout.close()
        self.stderr_file.close()
        return self.process.returncode

    def close(self):
        """Stop the proxy and remove its folder. Raises AssertionError when
        the proxy did not exit with status 0 after SIGTERM, which also
        catches leaks and errors that a sanitizer reports at exit."""
        status = self.stop()
        stderr = self.stderr() if self.process is not None else ""
        self.tmp.cleanup()
        if status not in (0, None):
            raise AssertionError(f"hostgate-proxy exited with {status}: {stderr[-4000:]}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def audit_records(self):
        """Return the audit log as a list of dicts (every line must parse)."""
        if not self.audit_path or not os.path.exists(self.audit_path):
            return []
        with open(self.audit_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def wait_audit(self, count=1):
        """Wait until the audit log holds at least count records."""
        return wait_for(lambda: len(self.audit_records()) >= count and self.audit_records(),
                        message=f"{count} audit records")

    def connect(self, timeout=TIMEOUT):
        """Open a raw TCP connection to the proxy."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((self.host, self.port))
        return sock

    def auth_lines(self):
        return f"Proxy-Authorization: {basic_auth(self.token)}\r\n" if self.auth else ""

    def request(self, raw, read_body=True, timeout=TIMEOUT):
        """Send raw bytes on a new connection and return the Response."""
        with self.connect(timeout) as sock:
            sock.sendall(raw)
            return read_response(sock, read_body)

    def connect_request(self, authority, extra=b"", headers=""):
        """Return the raw bytes of an authenticated CONNECT request."""
        return (f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
                f"{self.auth_lines()}{headers}\r\n").encode() + extra

    def open_tunnel(self, authority, extra=b"", headers=""):
        """Send CONNECT (and extra bytes in the same write); return
        (socket, Response). The socket is open unless the proxy closed it."""
        sock = self.connect()
        sock.sendall(self.connect_request(authority, extra, headers))
        return sock, read_response(sock)

    def curl(self, *args, timeout=TIMEOUT, proxy_user=True):
        """Run curl through this proxy; return the CompletedProcess.

        -p (tunnel) is not added: pass it for CONNECT."""
        if CURL is None:
            raise unittest.SkipTest("curl is not installed")
        command = [CURL, "-sS", "--max-time", str(int(timeout)), "--noproxy", "",
                   "-x", f"http://{self.address}"]
        if proxy_user and self.auth:
            command += ["--proxy-user", f"hostgate:{self.token}"]
        command += list(args)
        return subprocess.run(command, capture_output=True, timeout=timeout + 5,
                              env=self.environment())


class _ThreadedServer:
    """Base for the small servers: a listening socket and an accept thread."""

    def __init__(self, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            conn.settimeout(TIMEOUT)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        raise NotImplementedError

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EchoServer(_ThreadedServer):
    """A raw TCP echo server. After the client half-closes, it sends
    `tail` (if any) and closes, which shows a half-close passed through."""

    def __init__(self, host="127.0.0.1", tail=b""):
        self.tail = tail
        self.received = []
        super().__init__(host)

    def _serve(self, conn):
        data = b""
        with conn:
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    conn.sendall(chunk)
                if self.tail:
                    conn.sendall(self.tail)
            except OSError:
                pass
        with self.lock:
            self.received.append(data)


class FakeUpstream(_ThreadedServer):
    """An upstream HTTP proxy that records every request head and sends
    `reply` (bytes). After a 2xx reply to CONNECT it echoes the tunnel.
    A plain request gets `plain_reply` instead, once per connection."""

    def __init__(self, reply=b"HTTP/1.1 200 Connection established\r\n\r\n", host="127.0.0.1",
                 plain_reply=b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nfrom upstream\n"):
        self.reply = reply
        self.plain_reply = plain_reply
        self.heads = []
        super().__init__(host)

    def _serve(self, conn):
        with conn:
            try:
                data = recv_until(conn, b"\r\n\r\n", 65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                with self.lock:
                    self.heads.append(head)
                if not head.startswith(b"CONNECT "):
                    conn.sendall(self.plain_reply)
                    return
                conn.sendall(self.reply)
                if not self.reply.split(b" ", 2)[1].startswith(b"2"):
                    return
                if rest:
                    conn.sendall(rest)
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    conn.sendall(chunk)
            except OSError:
                pass

    def request_lines(self):
        with self.lock:
            return [head.split(b"\r\n", 1)[0].decode("latin-1") for head in self.heads]


class HttpOrigin:
    """A threaded HTTP/1.1 origin on 127.0.0.1.

    handler(request) is called with the BaseHTTPRequestHandler for every
    request and must send the response itself; the default answers 200
    with the body "hello from the origin\\n". Requests are recorded as
    (method, path, headers dict, body bytes) in self.requests."""

    def __init__(self, handler=None, host="127.0.0.1"):
        origin = self
        self.requests = []
        self.lock = threading.Lock()
        self.handler = handler or HttpOrigin.hello

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with origin.lock:
                    origin.requests.append((self.command, self.path, dict(self.headers), body))
                origin.handler(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @staticmethod
    def hello(request):
        body = b"hello from the origin\n"
        request.send_response(200)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TapResult(unittest.TestResult):
    """Prints one TAP line per test case when it finishes; failed subtests
    make the whole case fail, with each failure as a diagnostic."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.number = 0
        self.current = None

    def _diagnostic(self, text):
        for line in text.rstrip().splitlines():
            self.stream.write(f"# {line}\n")

    def _line(self, test, ok, directive, diagnostics):
        self.number += 1
        status = "ok" if ok else "not ok"
        self.stream.write(f"{status} {self.number} - {test.id()}{directive}\n")
        for text in diagnostics:
            self._diagnostic(text)
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self.current = {"problems": [], "directive": ""}

    def stopTest(self, test):
        super().stopTest(test)
        state, self.current = self.current, None
        self._line(test, not state["problems"], state["directive"], state["problems"])

    def _problem(self, test, details):
        if self.current is None:
            # An error outside a test case, such as in setUpClass.
            self._line(test, False, "", [details])
        else:
            self.current["problems"].append(details)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._problem(test, self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self._problem(test, self.errors[-1][1])

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._problem(test, f"{subtest.id()}\n{self._exc_info_to_string(err, test)}")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self.current is None:
            self._line(test, True, f" # SKIP {reason}", [])
        else:
            self.current["directive"] = f" # SKIP {reason}"

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.current["directive"] = " # TODO expected failure"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.current["problems"].append("unexpected success")


def main(module="__main__"):
    """Run the test cases of module and print TAP; exit 0 (TAP carries
    the results) unless the suite could not be loaded."""
    try:
        suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module])
    except Exception:
        print("Bail out! could not load the tests")
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
    print(f"1..{suite.countTestCases()}", flush=True)
    result = TapResult(sys.stdout)
    suite.run(result)
    sys.exit(0)
