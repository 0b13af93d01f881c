"""Plain HTTP forwarding through hostgate-proxy, seen from a client.

Redirects come back unfollowed and encoded bodies pass byte for byte.
Each request on a kept-alive connection is decided on its own, and a
1 GiB response passes without the proxy's memory growing with it."""

import gzip
import os
import subprocess
import threading
import time
import unittest

import hgtest
import proctools
from hgtest import CURL, HttpOrigin, Proxy

# The large-response test: its size, the maximum growth of the proxy's
# resident memory while it passes, and the time it may take.
LARGE_SIZE = 1 << 30
LARGE_PIECE = 1 << 20
RSS_GROWTH_LIMIT_KIB = 64 * 1024
LARGE_TIMEOUT = 240

# Set by a test once its client has the head of /later, whose body the
# origin holds back until then.
LATER_HEAD_SEEN = threading.Event()

GZIP_TEXT = b"forwarded without decoding, " * 200
GZIP_BODY = gzip.compress(GZIP_TEXT, mtime=0)


def origin_handler(request):
    """Serve the paths the tests use, and "hello" for any other path."""
    if request.path == "/redirect":
        location = request.headers.get("X-Redirect-To", "")
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()
    elif request.path == "/gzip":
        request.send_response(200)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(GZIP_BODY)))
        request.end_headers()
        request.wfile.write(GZIP_BODY)
    elif request.path == "/stall":
        # Ten of the hundred bytes announced, then nothing until the
        # proxy gives up and closes, or the test ends.
        request.send_response(200)
        request.send_header("Content-Length", "100")
        request.end_headers()
        request.wfile.write(b"x" * 10)
        request.wfile.flush()
        request.rfile.read(1)
    elif request.path == "/later":
        request.send_response(200)
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        request.wfile.flush()
        LATER_HEAD_SEEN.wait(hgtest.TIMEOUT)
        request.wfile.write(b"5\r\nlater\r\n0\r\n\r\n")
    elif request.path == "/then-close":
        # Kept alive by its headers, but closed at once, as origins close
        # idle connections.
        request.send_response(200)
        request.send_header("Content-Length", "5")
        request.end_headers()
        request.wfile.write(b"fresh")
        request.close_connection = True
    elif request.path in ("/no-content", "/not-modified"):
        # Neither has a body, so neither needs a Content-Length.
        request.send_response(204 if request.path == "/no-content" else 304)
        request.send_header("X-Peer-Port", str(request.client_address[1]))
        request.end_headers()
    elif request.path == "/peer-port":
        body = str(request.client_address[1]).encode()
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
    elif request.path == "/switch":
        # A 101 the request did not ask for, then nothing until the proxy
        # closes.
        request.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\n"
                            b"Connection: Upgrade\r\n\r\n")
        request.wfile.flush()
        request.rfile.read(1)
        request.close_connection = True
    elif request.path in ("/two-lengths", "/same-lengths"):
        second = b"7" if request.path == "/two-lengths" else b"5"
        request.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: " + second +
                            b"\r\n\r\nabcdefg")
        request.close_connection = True
    elif request.path == "/large":
        piece = bytes(range(256)) * (LARGE_PIECE // 256)
        request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Length", str(LARGE_SIZE))
        request.end_headers()
        for _ in range(LARGE_SIZE // LARGE_PIECE):
            request.wfile.write(piece)
    else:
        HttpOrigin.hello(request)


class ForwardTest(unittest.TestCase):
    def setUp(self):
        self.origin = HttpOrigin(origin_handler)
        self.addCleanup(self.origin.close)
        self.port = self.origin.port
        self.proxy = Proxy("--allow-loopback",
                           "--allow-domain", "allowed.test",
                           "--deny-domain", "denied.test",
                           "--resolve", "allowed.test:*:127.0.0.1",
                           "--resolve", "denied.test:*:127.0.0.1")
        self.addCleanup(self.proxy.close)

    def paths_requested(self):
        with self.origin.lock:
            return [path for _, path, _, _ in self.origin.requests]

    def get(self, host, path, headers=""):
        return (f"GET http://{host}:{self.port}{path} HTTP/1.1\r\n"
                f"Host: {host}:{self.port}\r\n"
                f"{self.proxy.auth_lines()}{headers}\r\n").encode()

    def test_redirect_to_denied_host_not_followed(self):
        target = f"http://denied.test:{self.port}/secret"
        result = self.proxy.curl("-i", "-H", f"X-Redirect-To: {target}",
                                 f"http://allowed.test:{self.port}/redirect")
        self.assertEqual(result.returncode, 0, result.stderr)
        head = result.stdout.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 302 "), head)
        self.assertIn(f"Location: {target}", head)
        self.assertEqual(self.paths_requested(), ["/redirect"])

    def test_redirect_followed_by_client_is_decided(self):
        target = f"http://denied.test:{self.port}/secret"
        result = self.proxy.curl("-L", "-o", os.devnull, "-w", "%{http_code}",
                                 "-H", f"X-Redirect-To: {target}",
                                 f"http://allowed.test:{self.port}/redirect")
        self.assertEqual(result.stdout, b"403", result.stderr)
        self.assertEqual(self.paths_requested(), ["/redirect"])

    def test_gzip_body_byte_exact(self):
        result = self.proxy.curl("-H", "Accept-Encoding: gzip",
                                 f"http://allowed.test:{self.port}/gzip")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, GZIP_BODY)
        self.assertEqual(gzip.decompress(result.stdout), GZIP_TEXT)

    def test_stalled_body_names_timeout(self):
        """An origin that stops in the middle of a body ends the response
        after --io-timeout, and the audit record names the origin and the
        option, not the socket library's words."""
        proxy = Proxy("--allow-loopback", "--allow-domain", "allowed.test", "--io-timeout", "1",
                      "--resolve", "allowed.test:*:127.0.0.1")
        self.addCleanup(proxy.close)

        result = proxy.curl(f"http://allowed.test:{self.port}/stall")

        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stdout, b"x" * 10)
        record = proxy.wait_audit(1)[-1]
        self.assertEqual(record["status"], 200)
        self.assertEqual(record["reason"],
                         f"allowed.test:{self.port} sent no response data for 1 second (--io-timeout)")

    def test_audit_records_origin_status(self):
        result = self.proxy.curl(f"http://allowed.test:{self.port}/gzip")
        self.assertEqual(result.returncode, 0, result.stderr)
        record = self.proxy.wait_audit(1)[-1]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["status"], 200)

    def test_post_with_expect_continue(self):
        body = bytes(range(256)) * 400
        path = os.path.join(self.proxy.dir, "body")
        with open(path, "wb") as f:
            f.write(body)
        # curl waits up to --expect100-timeout for the interim response
        # before it sends the body anyway.
        start = time.monotonic()
        result = self.proxy.curl("--expect100-timeout", "5", "--data-binary", f"@{path}",
                                 "-H", "Expect: 100-continue",
                                 "-H", "Content-Type: application/octet-stream",
                                 f"http://allowed.test:{self.port}/hello")
        elapsed = time.monotonic() - start
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, b"hello from the origin\n")
        self.assertLess(elapsed, 4, "curl waited for 100 Continue")
        with self.origin.lock:
            method, _, headers, received = self.origin.requests[-1]
        self.assertEqual(method, "POST")
        self.assertEqual(received, body)
        self.assertNotIn("Expect", headers)

    def test_head_request(self):
        result = self.proxy.curl("-I", f"http://allowed.test:{self.port}/hello")
        self.assertEqual(result.returncode, 0, result.stderr)
        head = result.stdout.decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
        self.assertIn("Content-Length: 22", head)

    def test_keep_alive_each_request_decided(self):
        with self.proxy.connect() as sock:
            sock.sendall(self.get("allowed.test", "/hello"))
            first = hgtest.read_response(sock)
            self.assertEqual(first.status, 200, first)
            self.assertEqual(first.body, b"hello from the origin\n")
            self.assertNotEqual((first.header("Connection") or "").lower(), "close")

            sock.sendall(self.get("denied.test", "/secret"))
            second = hgtest.read_response(sock)
            self.assertEqual(second.status, 403, second)
            self.assertIn("deny list", second.reason)

        self.assertEqual(self.paths_requested(), ["/hello"])

    def test_head_passed_before_body(self):
        """The head reaches the client while the origin still keeps the
        body back, as a stream of events would, and the body follows."""
        LATER_HEAD_SEEN.clear()
        self.addCleanup(LATER_HEAD_SEEN.set)
        with self.proxy.connect() as sock:
            sock.sendall(self.get("allowed.test", "/later"))
            head = hgtest.recv_until(sock, b"\r\n\r\n").decode("latin-1")
            self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
            self.assertIn("Transfer-Encoding: chunked", head)
            rest = head.split("\r\n\r\n", 1)[1]
            self.assertEqual(rest, "")

            LATER_HEAD_SEEN.set()
            body = hgtest.recv_until(sock, b"0\r\n\r\n").decode("latin-1")
            self.assertEqual(body, "5\r\nlater\r\n0\r\n\r\n")

    def test_origin_closed_idle_connection(self):
        """A pooled origin connection that the origin closed is not used
        again: the next requests, from another client connection and
        from the same one, each get their response."""
        for _ in range(2):
            response = self.proxy.request(self.get("allowed.test", "/then-close"))
            self.assertEqual(response.status, 200, response)
            self.assertEqual(response.body, b"fresh")

        with self.proxy.connect() as sock:
            for _ in range(2):
                sock.sendall(self.get("allowed.test", "/then-close"))
                response = hgtest.read_response(sock)
                self.assertEqual(response.status, 200, response)
                self.assertEqual(response.body, b"fresh")

        self.assertEqual(self.paths_requested(), ["/then-close"] * 4)

    def test_connection_reused_after_204_and_304(self):
        """The origin connection of a 204 or 304 without Content-Length
        serves the next request too."""
        for path, status in (("/no-content", 204), ("/not-modified", 304)):
            first = self.proxy.request(self.get("allowed.test", path), read_body=False)
            self.assertEqual(first.status, status, first)
            second = self.proxy.request(self.get("allowed.test", "/peer-port"))
            self.assertEqual(second.status, 200, second)
            self.assertEqual(second.body.decode(), first.header("X-Peer-Port"))

    def test_unasked_switch_is_502(self):
        """An origin that switches protocols for a plain request gets the
        client a 502 at once, not after --io-timeout."""
        response = self.proxy.request(self.get("allowed.test", "/switch"))
        self.assertEqual(response.status, 502, response)
        self.assertEqual(response.reason, f"allowed.test:{self.port} switched protocols (101), "
                                          "which a plain request through the proxy cannot do")

    def test_conflicting_lengths_are_502(self):
        """A response whose Content-Length headers disagree has no known
        end, so the client gets 502 instead of a body cut at either one."""
        response = self.proxy.request(self.get("allowed.test", "/two-lengths"))
        self.assertEqual(response.status, 502, response)
        self.assertEqual(response.reason, f"allowed.test:{self.port} sent a response with an invalid "
                                          "or conflicting Content-Length")

        response = self.proxy.request(self.get("allowed.test", "/same-lengths"))
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.body, b"abcde")

    def test_keep_alive_two_allowed_requests(self):
        with self.proxy.connect() as sock:
            for _ in range(2):
                sock.sendall(self.get("allowed.test", "/hello"))
                response = hgtest.read_response(sock)
                self.assertEqual(response.status, 200, response)
                self.assertEqual(response.body, b"hello from the origin\n")

        self.assertEqual(self.paths_requested(), ["/hello", "/hello"])

    def test_large_response_flat_memory(self):
        if CURL is None:
            raise unittest.SkipTest("curl is not installed")
        pid = self.proxy.process.pid
        baseline = proctools.rss_kib(pid)
        peak = baseline
        command = [CURL, "-sS", "--max-time", str(LARGE_TIMEOUT), "--noproxy", "",
                   "-x", f"http://{self.proxy.address}",
                   "--proxy-user", f"hostgate:{self.proxy.token}",
                   "-o", os.devnull, "-w", "%{http_code} %{size_download}",
                   f"http://allowed.test:{self.port}/large"]
        client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=self.proxy.environment())
        deadline = time.monotonic() + LARGE_TIMEOUT + 10
        while client.poll() is None:
            peak = max(peak, proctools.rss_kib(pid))
            if time.monotonic() > deadline:
                client.kill()
                self.fail(f"the large response took over {LARGE_TIMEOUT} s")
            time.sleep(0.05)
        out, err = client.communicate()
        print(f"# resident memory {baseline} KiB before, {peak} KiB at most", flush=True)

        self.assertEqual(client.returncode, 0, err)
        self.assertEqual(out.decode(), f"200 {LARGE_SIZE}")
        self.assertLess(peak - baseline, RSS_GROWTH_LIMIT_KIB,
                        f"resident memory grew from {baseline} KiB to {peak} KiB")


if __name__ == "__main__":
    hgtest.main()
