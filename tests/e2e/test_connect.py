"""CONNECT tunnels through hostgate-proxy: allowed, denied, byte-exact."""

import socket
import unittest

import hgtest
from hgtest import EchoServer, Proxy


class ConnectTest(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer(tail=b"bye\n")
        self.addCleanup(self.echo.close)

    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def pinned(self, name, *args):
        return self.proxy("--allow-loopback", "--resolve", f"{name}:{self.echo.port}:127.0.0.1", *args)

    def test_tunnel_byte_exact(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        payload = bytes(range(256)) * 64
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}")
        with sock:
            self.assertEqual(response.status, 200)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            echoed = response.rest + hgtest.recv_all(sock)
        self.assertEqual(echoed, payload + b"bye\n")

    def test_bytes_after_head_same_write(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}", extra=b"early bytes")
        with sock:
            sock.shutdown(socket.SHUT_WR)
            echoed = response.rest + hgtest.recv_all(sock)
        self.assertEqual(response.status, 200)
        self.assertEqual(echoed, b"early bytes" + b"bye\n")

    def test_established_exact_reply(self):
        proxy = self.pinned("a.example.test", "--allow-domain", "a.example.test")
        sock, response = proxy.open_tunnel(f"a.example.test:{self.echo.port}")
        sock.close()
        self.assertEqual(response.raw_head, b"HTTP/1.1 200 Connection established")
        self.assertNotIn("content-length", response.header_names())

    def test_unmatched_denied(self):
        proxy = self.pinned("a.example.test")
        response = proxy.request(proxy.connect_request(f"a.example.test:{self.echo.port}"))
        self.assertEqual(response.status, 403)
        self.assertIn("not in the allow list", response.reason)
        self.assertEqual(self.echo.connections, 0)


if __name__ == "__main__":
    hgtest.main()
