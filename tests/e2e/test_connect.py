"""CONNECT tunnels through hostgate-proxy: byte-exact relaying, the exact
200 reply, half-close, loopback and the proxy's own address."""

import os
import resource
import socket
import struct
import threading
import time
import unittest

import hgtest
import proctools
from hgtest import EchoServer, HttpOrigin, Proxy


class SourceServer(hgtest._ThreadedServer):
    """Sends `size` zero bytes to each client, then closes, or with
    keep_open waits for the client to close first."""

    def __init__(self, size, keep_open=False):
        self.size = size
        self.keep_open = keep_open
        super().__init__()

    def _serve(self, conn):
        chunk = bytes(1 << 20)
        with conn:
            try:
                for offset in range(0, self.size, len(chunk)):
                    conn.sendall(chunk[:self.size - offset])
                while self.keep_open and conn.recv(4096):
                    pass
            except OSError:
                pass


class ConnectTest(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer(tail=b"bye\n")
        self.addCleanup(self.echo.close)

    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def pinned(self, name, *args, port=None, **kwargs):
        port = port or self.echo.port
        return self.proxy("--allow-loopback", "--resolve", f"{name}:{port}:127.0.0.1", *args,
                          **kwargs)

    def test_tunnel_byte_exact(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        payload = bytes(range(256)) * 4096
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}")
        with sock:
            self.assertEqual(response.status, 200)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            echoed = response.rest + hgtest.recv_all(sock)
        self.assertEqual(len(echoed), len(payload) + 4)
        self.assertEqual(echoed, payload + b"bye\n")

    def download(self, proxy, authority):
        """Read everything the origin sends through a new tunnel; return
        the byte count."""
        sock, response = proxy.open_tunnel(authority)
        with sock:
            self.assertEqual(response.status, 200)
            received = len(response.rest)
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        return received

    def wait_memory_back(self, proxy, baseline):
        """Wait until the proxy's resident memory is within 2 MiB of
        baseline (KiB)."""
        hgtest.wait_for(lambda: proctools.rss_kib(proxy.process.pid) < baseline + 2048,
                        message=f"resident memory back near {baseline} KiB")

    def test_memory_returned_after_transfer(self):
        # Copy buffers are 4 MiB. After the tunnel ends, their pages must
        # go back to the kernel instead of staying resident.
        size = 48 << 20
        source = SourceServer(size)
        self.addCleanup(source.close)
        proxy = self.pinned("big.test", "--allow-domain", "big.test", port=source.port)
        authority = f"big.test:{source.port}"
        source.size = 4096
        self.assertEqual(self.download(proxy, authority), 4096)
        baseline = proctools.rss_kib(proxy.process.pid)

        source.size = size
        for _ in range(2):
            self.assertEqual(self.download(proxy, authority), size)

        self.wait_memory_back(proxy, baseline)

    def test_memory_returned_while_tunnel_idle(self):
        # The tunnel stays open after its transfer. The pages still go
        # back within a few of the proxy's one-second sweeps.
        size = 48 << 20
        source = SourceServer(size, keep_open=True)
        self.addCleanup(source.close)
        proxy = self.pinned("big.test", "--allow-domain", "big.test", port=source.port)
        baseline = proctools.rss_kib(proxy.process.pid)

        sock, response = proxy.open_tunnel(f"big.test:{source.port}")
        with sock:
            self.assertEqual(response.status, 200)
            received = len(response.rest)
            while received < size:
                chunk = sock.recv(1 << 20)
                self.assertTrue(chunk, "the tunnel closed early")
                received += len(chunk)
            self.assertEqual(received, size)
            self.wait_memory_back(proxy, baseline)

    def test_copy_without_room_to_map(self):
        # With its address space limited to what it uses plus 2 MiB, the
        # proxy cannot map a 4 MiB copy buffer. Each direction then copies
        # through a small one, and every byte still arrives in order.
        proxy = self.pinned("small.test", "--allow-domain", "small.test", debug=True)
        pid = proxy.process.pid
        if proctools.uses_asan(pid):
            self.skipTest("AddressSanitizer reserves far more address space than it maps")
        limit = (proctools.status_kib(pid, "VmSize") + 2048) * 1024
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))

        payload = os.urandom(1 << 20) * 8
        sock, response = proxy.open_tunnel(f"small.test:{self.echo.port}")
        with sock:
            self.assertEqual(response.status, 200)
            sender = threading.Thread(target=self.send_and_close, args=(sock, payload))
            sender.start()
            echoed = response.rest + hgtest.recv_all(sock)
            sender.join(hgtest.TIMEOUT)
        self.assertEqual(len(echoed), len(payload) + 4)
        self.assertEqual(echoed, payload + b"bye\n")
        self.assertIn("could not map a 4194304-byte copy buffer", proxy.stderr())

    @staticmethod
    def send_and_close(sock, payload):
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)

    def test_no_descriptor_for_origin_is_502(self):
        # With its descriptor limit set so that only the client's
        # connection fits, the proxy cannot create the origin's socket and
        # responds with 502 and the system's reason.
        proxy = self.pinned("nofd.test", "--allow-domain", "nofd.test")
        pid = proxy.process.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        used = {int(name) for name in os.listdir(f"/proc/{pid}/fd")}
        free = [number for number in range(max(used) + 3) if number not in used]
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (free[1], hard))
        try:
            response = proxy.request(proxy.connect_request(f"nofd.test:{self.echo.port}"))
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))

        self.assertEqual(response.status, 502, response)
        self.assertEqual(response.reason,
                         f'"nofd.test": could not connect to 127.0.0.1 port {self.echo.port}: '
                         "Unable to create socket: Too many open files")
        sock, response = proxy.open_tunnel(f"nofd.test:{self.echo.port}")
        sock.close()
        self.assertEqual(response.status, 200)

    def test_bytes_after_head_same_write(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}", extra=b"early bytes")
        with sock:
            sock.shutdown(socket.SHUT_WR)
            echoed = response.rest + hgtest.recv_all(sock)
        self.assertEqual(response.status, 200)
        self.assertEqual(echoed, b"early bytes" + b"bye\n")

    def test_established_reply_exact(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}")
        sock.close()
        self.assertEqual(response.raw_head, b"HTTP/1.1 200 Connection established")
        self.assertNotIn("content-length", response.header_names())
        self.assertNotIn("transfer-encoding", response.header_names())

    def test_half_close_keeps_reply(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}")
        with sock:
            self.assertEqual(response.status, 200)
            sock.sendall(b"request")
            sock.shutdown(socket.SHUT_WR)
            reply = response.rest + hgtest.recv_all(sock)
        # The echo server sends its tail only after it has seen end of
        # stream, so the tail proves the half-close went through while
        # the other direction stayed open.
        self.assertEqual(reply, b"request" + b"bye\n")

    def test_curl_through_tunnel(self):
        origin = HttpOrigin()
        self.addCleanup(origin.close)
        proxy = self.proxy("--allow-loopback", "--allow-domain", "site.example.test",
                           "--resolve", f"site.example.test:{origin.port}:127.0.0.1")
        result = proxy.curl("-p", f"http://site.example.test:{origin.port}/hello")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, b"hello from the origin\n")

    def test_loopback_literal_denied_by_default(self):
        proxy = self.proxy("--allow-domain", "*")
        response = proxy.request(proxy.connect_request(f"127.0.0.1:{self.echo.port}"))
        self.assertEqual(response.status, 403)
        self.assertIn("loopback", response.reason)
        self.assertEqual(self.echo.connections, 0)

    def test_loopback_name_denied_by_default(self):
        proxy = self.proxy("--allow-domain", "*", "--resolve", f"lo.test:{self.echo.port}:127.0.0.1")
        response = proxy.request(proxy.connect_request(f"lo.test:{self.echo.port}"))
        self.assertEqual(response.status, 403)
        self.assertIn("resolves to 127.0.0.1 (loopback); start the proxy with --allow-loopback "
                      "or set network.allow_loopback to allow it", response.reason)
        self.assertEqual(self.echo.connections, 0)

    def test_localhost_denied_by_default(self):
        proxy = self.proxy("--allow-domain", "*", debug=True)
        for name in ("localhost", "app.localhost"):
            with self.subTest(name=name):
                response = proxy.request(proxy.connect_request(f"{name}:{self.echo.port}"))
                self.assertEqual(response.status, 403)
                self.assertIn("loopback", response.reason)
        self.assertNotIn("resolving", proxy.stderr())
        self.assertEqual(self.echo.connections, 0)

    def test_loopback_allowed_with_option(self):
        proxy = self.proxy("--allow-domain", "*", "--allow-loopback")
        sock, response = proxy.open_tunnel(f"127.0.0.1:{self.echo.port}")
        with sock:
            sock.sendall(b"x")
            sock.shutdown(socket.SHUT_WR)
            reply = response.rest + hgtest.recv_all(sock)
        self.assertEqual(response.status, 200)
        self.assertEqual(reply, b"xbye\n")

    def test_own_port_denied(self):
        proxy = self.proxy("--allow-domain", "*", "--allow-loopback",
                           "--resolve", "self.test:*:127.0.0.1")
        for authority in (f"127.0.0.1:{proxy.port}", f"127.0.0.2:{proxy.port}",
                          f"[::1]:{proxy.port}", f"self.test:{proxy.port}"):
            with self.subTest(authority=authority):
                response = proxy.request(proxy.connect_request(authority))
                self.assertEqual(response.status, 403)
                self.assertIn("own address", response.reason)

    def test_refused_connect_closes(self):
        proxy = self.proxy()
        with proxy.connect() as sock:
            sock.sendall(proxy.connect_request("nowhere.test:443"))
            response = hgtest.read_response(sock)
            self.assertEqual(response.status, 403)
            self.assertEqual(response.header("Connection"), "close")
            self.assertEqual(hgtest.recv_all(sock), b"")

    def test_connect_failure_is_502(self):
        port = hgtest.closed_port()
        proxy = self.proxy("--allow-domain", "*", "--allow-loopback",
                           "--resolve", f"closed.test:{port}:127.0.0.1")
        response = proxy.request(proxy.connect_request(f"127.0.0.1:{port}"))
        self.assertEqual(response.status, 502)
        self.assertEqual(response.reason,
                         f"could not connect to 127.0.0.1 port {port}: Connection refused")

        response = proxy.request(proxy.connect_request(f"closed.test:{port}"))
        self.assertEqual(response.status, 502)
        self.assertEqual(response.reason,
                         f'"closed.test": could not connect to 127.0.0.1 port {port}: Connection refused')

    def test_idle_tunnel_closed(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test",
                            "--idle-timeout", "1")
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}")
        with sock:
            self.assertEqual(response.status, 200)
            start = time.monotonic()
            self.assertEqual(hgtest.recv_all(sock), b"")
            elapsed = time.monotonic() - start
        self.assertGreater(elapsed, 0.5)
        self.assertLess(elapsed, 5)

    def test_connect_timeout_is_504(self):
        port = hgtest.full_listener_port(self)
        proxy = self.proxy("--allow-domain", "*", "--allow-loopback", "--connect-timeout", "1")
        start = time.monotonic()
        response = proxy.request(proxy.connect_request(f"127.0.0.1:{port}"))
        self.assertEqual(response.status, 504)
        self.assertEqual(response.reason,
                         f"could not connect to 127.0.0.1 port {port}: connecting timed out after 1 s")
        self.assertLess(time.monotonic() - start, 5)


    def test_client_reset_while_connecting(self):
        # The proxy watches the client while it connects the origin, so a
        # client that resets its connection ends the attempt instead of
        # waiting for it. A plain close looks like a half-close, so it
        # lets the attempt go on (test_half_closed_client_answered).
        # A client may half-close first and reset later.
        port = hgtest.full_listener_port(self)
        for half_close in (False, True):
            with self.subTest(half_close=half_close):
                proxy = self.proxy("--allow-domain", "*", "--allow-loopback",
                                   "--connect-timeout", "60")
                sock = proxy.connect()
                self.addCleanup(sock.close)
                sock.sendall(proxy.connect_request(f"127.0.0.1:{port}"))
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
                pid = proxy.process.pid
                hgtest.wait_for(lambda: connecting_to(pid, port),
                                message="the proxy's SYN to the full listener")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()

                record = proxy.wait_audit(1)[0]
                self.assertEqual(record["decision"], "allow")
                self.assertEqual(record["status"], 0)
                self.assertEqual(record["reason"],
                                 "the client closed the connection before the response")
                hgtest.wait_for(lambda: not connecting_to(pid, port),
                                message="the attempt abandoned")

    def test_plain_client_reset_while_connecting(self):
        # A plain request's client is watched for a reset while the
        # forwarder connects, so the attempt stops at once instead of
        # running to --io-timeout.
        port = hgtest.full_listener_port(self)
        proxy = self.proxy("--allow-domain", "*", "--allow-loopback", "--io-timeout", "60")
        sock = proxy.connect()
        self.addCleanup(sock.close)
        sock.sendall((f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"{proxy.auth_lines()}\r\n").encode())
        self.assert_reset_stops_connect(proxy, sock, port)

    def test_upstream_client_reset_while_connecting(self):
        port = hgtest.full_listener_port(self)
        proxy = self.proxy("--allow-domain", "up.test", "--upstream-proxy", f"127.0.0.1:{port}",
                           "--connect-timeout", "60")
        sock = proxy.connect()
        self.addCleanup(sock.close)
        sock.sendall(proxy.connect_request("up.test:443"))
        self.assert_reset_stops_connect(proxy, sock, port)

    def assert_reset_stops_connect(self, proxy, sock, port):
        """Reset sock once the proxy connects to port, then check that the
        attempt stops and the request is recorded without a response."""
        pid = proxy.process.pid
        hgtest.wait_for(lambda: connecting_to(pid, port), message=f"the proxy's SYN to port {port}")
        reset(sock)

        record = proxy.wait_audit(1)[0]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["status"], 0)
        self.assertEqual(record["reason"], "the client closed the connection before the response")
        hgtest.wait_for(lambda: not connecting_to(pid, port), message="the attempt abandoned")

    def test_plain_client_reset_during_response(self):
        # The origin stalls after part of the body, so without the watch
        # the reset would be noticed only at --io-timeout.
        release = threading.Event()
        self.addCleanup(release.set)

        def stall(request):
            request.send_response(200)
            request.send_header("Content-Length", "1000")
            request.end_headers()
            request.wfile.write(b"x" * 10)
            request.wfile.flush()
            release.wait(hgtest.TIMEOUT)

        origin = HttpOrigin(stall)
        self.addCleanup(origin.close)
        proxy = self.pinned("stall.test", "--allow-domain", "stall.test", "--io-timeout", "60",
                            port=origin.port)
        sock = proxy.connect()
        self.addCleanup(sock.close)
        sock.sendall((f"GET http://stall.test:{origin.port}/ HTTP/1.1\r\nHost: stall.test:{origin.port}\r\n"
                      f"{proxy.auth_lines()}\r\n").encode())
        self.assertTrue(hgtest.recv_until(sock, b"x" * 10).endswith(b"x" * 10))
        reset(sock)

        record = proxy.wait_audit(1)[0]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["status"], 200)
        self.assertEqual(record["reason"], "the client closed the connection during the response")

    def test_half_closed_client_answered(self):
        # A client that shuts down its sending side right after CONNECT
        # (`nc -N`) still gets the 200 and the origin's bytes.
        source = SourceServer(4096)
        self.addCleanup(source.close)
        proxy = self.pinned("half.test", "--allow-domain", "half.test", port=source.port)
        for _ in range(10):
            with proxy.connect() as sock:
                sock.sendall(proxy.connect_request(f"half.test:{source.port}"))
                sock.shutdown(socket.SHUT_WR)
                response = hgtest.read_response(sock, read_body=False)
                self.assertEqual(response.status, 200, response)
                self.assertEqual(len(response.rest + hgtest.recv_all(sock)), 4096)

    def test_half_closed_unlisted_refused(self):
        # Without approval an unlisted host is refused at once, so the
        # end of the connection must not cut the 403 off.
        proxy = self.proxy("--allow-domain", "listed.test")
        for request in (proxy.connect_request("unlisted.test:443"),
                        f"GET http://unlisted.test/ HTTP/1.1\r\nHost: unlisted.test\r\n"
                        f"{proxy.auth_lines()}\r\n".encode()):
            for _ in range(10):
                response = half_closed_request(proxy, request)
                self.assertEqual(response.status, 403, response)
                self.assertEqual(response.reason, "not in the allow list")

    def test_half_closed_plain_request_answered(self):
        origin = HttpOrigin()
        self.addCleanup(origin.close)
        proxy = self.pinned("web.test", "--allow-domain", "web.test", port=origin.port)
        head = (f"GET http://web.test:{origin.port}/ HTTP/1.1\r\nHost: web.test:{origin.port}\r\n"
                f"{proxy.auth_lines()}Connection: close\r\n\r\n").encode()
        for _ in range(10):
            response = half_closed_request(proxy, head)
            self.assertEqual(response.status, 200, response)
            self.assertEqual(response.body, b"hello from the origin\n")


def reset(sock):
    """Close sock with a reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def half_closed_request(proxy, request):
    """Send request on a new connection, shut down the sending side at
    once, as `nc -N` does, and return the response."""
    with proxy.connect() as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        return hgtest.read_response(sock)


def connecting_to(pid, port):
    """Tell whether process pid has a socket in SYN_SENT towards
    127.0.0.1:port (state 02 of /proc/net/tcp, matched by inode)."""
    inodes = {target[len("socket:["):-1] for target in proctools.fd_targets(pid)
              if target.startswith("socket:[")}
    remote = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return any(row[2] == remote and row[3] == "02" and row[9] in inodes for row in rows)


if __name__ == "__main__":
    hgtest.main()
