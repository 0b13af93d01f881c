"""A client that reads a large response steadily but slower than the
proxy writes it keeps its download, through plain HTTP and through a
tunnel, with a one-second --io-timeout and --idle-timeout.

The proxy then waits for room in its socket's kernel queue, which the
kernel reports only after about half of the queue has gone, seconds
later at this pace. The client takes bytes all that time, so neither
timeout may fire. The client paces its reads to a fixed rate with
short sleeps: the pace is what the test is about, not a wait for the
proxy to get ready."""

import socket
import time
import unittest

import hgtest
from hgtest import HttpOrigin, Proxy

BODY_SIZE = 8 << 20
READ_RATE = 1 << 20           # bytes per second
READ_SIZE = 16 << 10
RECEIVE_BUFFER = 256 << 10
BLOCK = bytes(range(256)) * 4096


def large_body(request):
    request.send_response(200)
    request.send_header("Content-Type", "application/octet-stream")
    request.send_header("Content-Length", str(BODY_SIZE))
    request.end_headers()
    for offset in range(0, BODY_SIZE, len(BLOCK)):
        request.wfile.write(BLOCK[:BODY_SIZE - offset])


def read_paced(sock, length):
    """Read up to length bytes at READ_RATE; return what was read."""
    chunks = []
    received = 0
    start = time.monotonic()
    deadline = start + 4 * BODY_SIZE / READ_RATE
    while received < length and time.monotonic() < deadline:
        data = sock.recv(min(READ_SIZE, length - received))
        if not data:
            break
        chunks.append(data)
        received += len(data)
        ahead = received / READ_RATE - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return b"".join(chunks)


def expected_body():
    return (BLOCK * (BODY_SIZE // len(BLOCK) + 1))[:BODY_SIZE]


class SlowReaderTest(unittest.TestCase):
    def setUp(self):
        self.origin = HttpOrigin(large_body)
        self.addCleanup(self.origin.close)
        self.authority = f"slow.test:{self.origin.port}"
        self.proxy = Proxy("--allow-loopback", "--allow-domain", "slow.test",
                           "--io-timeout", "1", "--idle-timeout", "1",
                           "--resolve", f"{self.authority}:127.0.0.1")
        self.addCleanup(self.proxy.close)

    def connect(self):
        """Connect to the proxy with a small receive buffer, so that the
        proxy's queue fills early and drains at the client's pace."""
        host, port = self.proxy.address.rsplit(":", 1)
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.settimeout(hgtest.TIMEOUT)
        sock.connect((host, int(port)))
        return sock

    def read_response(self, sock, request):
        sock.sendall(request)
        head, rest = hgtest.recv_until(sock, b"\r\n\r\n").split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        return rest + read_paced(sock, BODY_SIZE - len(rest))

    def test_plain_http_download_complete(self):
        sock = self.connect()
        request = (f"GET http://{self.authority}/ HTTP/1.1\r\nHost: {self.authority}\r\n"
                   f"{self.proxy.auth_lines()}\r\n").encode()

        body = self.read_response(sock, request)

        self.assertEqual(len(body), BODY_SIZE)
        self.assertEqual(body, expected_body())
        record = self.proxy.wait_audit(1)[-1]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["status"], 200)
        self.assertIsNone(record.get("reason"))

    def test_tunnel_download_complete(self):
        sock = self.connect()
        sock.sendall(self.proxy.connect_request(self.authority))
        head = hgtest.recv_until(sock, b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)

        body = self.read_response(sock, f"GET / HTTP/1.1\r\nHost: {self.authority}\r\n\r\n".encode())

        self.assertEqual(len(body), BODY_SIZE)
        self.assertEqual(body, expected_body())
        sock.close()
        record = self.proxy.wait_audit(1)[-1]
        self.assertEqual(record["decision"], "allow")
        self.assertGreaterEqual(record["bytes_down"], BODY_SIZE)
        self.assertIsNone(record.get("reason"))


if __name__ == "__main__":
    hgtest.main()
