"""CONNECT through an upstream proxy: the local decision comes first,
allowed targets go upstream by name, refusals become sanitised 502s."""

import re
import socket
import time
import unittest

import hgtest
from hgtest import EchoServer, FakeUpstream, Proxy


LOGIN_REASON = ("the upstream proxy asks for a login (407), which hostgate cannot give: "
                "use one that needs none, or add this host to --upstream-bypass")


class UpstreamTest(unittest.TestCase):
    def proxy(self, upstream, *args, **kwargs):
        proxy = Proxy("--upstream-proxy", f"127.0.0.1:{upstream.port}", *args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def upstream(self, reply=None):
        upstream = FakeUpstream(reply) if reply is not None else FakeUpstream()
        self.addCleanup(upstream.close)
        return upstream

    def test_allowed_goes_upstream_by_name(self):
        upstream = self.upstream()
        proxy = self.proxy(upstream, "--allow-domain", "allowed.test", debug=True)
        sock, response = proxy.open_tunnel("allowed.test:443", extra=b"hello")
        with sock:
            sock.shutdown(socket.SHUT_WR)
            echoed = response.rest + hgtest.recv_all(sock)
        self.assertEqual(response.status, 200)
        self.assertEqual(echoed, b"hello")
        self.assertEqual(upstream.request_lines(), ["CONNECT allowed.test:443 HTTP/1.1"])
        # The upstream resolves the name; the proxy never does.
        self.assertNotIn("resolving allowed.test", proxy.stderr())

    def test_denied_never_reaches_upstream(self):
        upstream = self.upstream()
        proxy = self.proxy(upstream, "--allow-domain", "*.test", "--deny-domain", "denied.test")
        response = proxy.request(proxy.connect_request("denied.test:443"))
        self.assertEqual(response.status, 403)
        response = proxy.request(proxy.connect_request("169.254.169.254:80"))
        self.assertEqual(response.status, 403)
        self.assertEqual(upstream.request_lines(), [])
        self.assertEqual(upstream.connections, 0)

    def test_unmatched_never_reaches_upstream(self):
        upstream = self.upstream()
        proxy = self.proxy(upstream)
        response = proxy.request(proxy.connect_request("unlisted.test:443"))
        self.assertEqual(response.status, 403)
        self.assertEqual(response.reason, "not in the allow list")
        self.assertEqual(upstream.connections, 0)

    def test_refusal_is_502(self):
        upstream = self.upstream(b"HTTP/1.1 403 Forbidden by policy\r\nContent-Length: 0\r\n\r\n")
        proxy = self.proxy(upstream, "--allow-domain", "allowed.test")
        response = proxy.request(proxy.connect_request("allowed.test:443"))
        self.assertEqual(response.status, 502)
        self.assertEqual(response.reason, "upstream proxy refused: 403 Forbidden by policy")

    def test_refusal_reason_cannot_inject(self):
        replies = [b"HTTP/1.1 403 Bad\rX-Injected: yes\r\n\r\n",
                   b"HTTP/1.1 403 Bad\r\nX-Injected: yes\r\n\r\n",
                   b"HTTP/1.1 403 Bad\nX-Injected: yes\r\n\r\n",
                   b"HTTP/1.1 403 Bad\x00\x1b[31m\r\n\r\n"]
        for reply in replies:
            with self.subTest(reply=reply):
                upstream = self.upstream(reply)
                proxy = self.proxy(upstream, "--allow-domain", "allowed.test")
                response = proxy.request(proxy.connect_request("allowed.test:443"), read_body="close")
                self.assertEqual(response.status, 502)
                self.assertNotIn("x-injected", response.header_names())
                self.assertIsNone(re.search(r"[\x00-\x1f\x7f]", response.reason))
                self.assertIsNone(re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", response.body))
                self.assertEqual(response.body.count(b"\n"), 1)

    def test_upstream_down_is_502(self):
        port = hgtest.closed_port()
        proxy = Proxy("--upstream-proxy", f"127.0.0.1:{port}", "--allow-domain", "allowed.test")
        self.addCleanup(proxy.close)
        response = proxy.request(proxy.connect_request("allowed.test:443"))
        self.assertEqual(response.status, 502)
        self.assertEqual(response.reason,
                         f"upstream proxy: could not connect to 127.0.0.1 port {port}: Connection refused")
        record = proxy.wait_audit(1)[0]
        self.assertEqual(record["status"], 502)
        self.assertEqual(record["pattern"], "allowed.test")

    def test_bypass_connects_directly(self):
        upstream = self.upstream()
        echo = EchoServer()
        self.addCleanup(echo.close)
        proxy = self.proxy(upstream, "--allow-domain", "*.test", "--allow-loopback",
                           "--upstream-bypass", "direct.test",
                           "--resolve", f"direct.test:{echo.port}:127.0.0.1")
        sock, response = proxy.open_tunnel(f"direct.test:{echo.port}", extra=b"direct")
        with sock:
            sock.shutdown(socket.SHUT_WR)
            echoed = response.rest + hgtest.recv_all(sock)
        self.assertEqual(response.status, 200)
        self.assertEqual(echoed, b"direct")
        self.assertEqual(upstream.connections, 0)

    def test_bypassed_host_still_vetted(self):
        upstream = self.upstream()
        proxy = self.proxy(upstream, "--allow-domain", "*.test",
                           "--upstream-bypass", "meta.test",
                           "--resolve", "meta.test:80:169.254.169.254")
        response = proxy.request(proxy.connect_request("meta.test:80"))
        self.assertEqual(response.status, 403)
        self.assertIn("cloud metadata", response.reason)
        self.assertEqual(upstream.connections, 0)

    def test_plain_http_goes_upstream(self):
        upstream = self.upstream()
        proxy = self.proxy(upstream, "--allow-domain", "allowed.test", debug=True)
        raw = (f"GET http://allowed.test/page?q=1 HTTP/1.1\r\nHost: allowed.test\r\n"
               f"{proxy.auth_lines()}\r\n").encode()
        response = proxy.request(raw)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"from upstream\n")
        self.assertEqual(upstream.request_lines(), ["GET http://allowed.test/page?q=1 HTTP/1.1"])
        self.assertNotIn("resolving allowed.test", proxy.stderr())

    def test_plain_http_upstream_login_is_502(self):
        """An upstream's 407 to a plain request is not passed on: the
        client would read it as hostgate asking for its token."""
        upstream = FakeUpstream(plain_reply=b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                            b"Proxy-Authenticate: Basic realm=\"corp\"\r\n"
                                            b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        self.addCleanup(upstream.close)
        proxy = self.proxy(upstream, "--allow-domain", "allowed.test")
        raw = (f"GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n"
               f"{proxy.auth_lines()}\r\n").encode()

        response = proxy.request(raw)

        self.assertEqual(response.status, 502)
        self.assertEqual(response.reason, LOGIN_REASON)
        self.assertNotIn("proxy-authenticate", [name.lower() for name, _ in response.headers])
        record = proxy.wait_audit(1)[-1]
        self.assertEqual(record["decision"], "error")
        self.assertEqual(record["status"], 502)

    def test_tunnel_upstream_login_is_502(self):
        upstream = self.upstream(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"corp\"\r\n\r\n")
        proxy = self.proxy(upstream, "--allow-domain", "allowed.test")

        response = proxy.request(proxy.connect_request("allowed.test:443"))

        self.assertEqual(response.status, 502)
        self.assertEqual(response.reason, LOGIN_REASON)

    def test_plain_http_denied_not_sent(self):
        upstream = self.upstream()
        proxy = self.proxy(upstream, "--allow-domain", "*.test", "--deny-domain", "denied.test")
        raw = (f"GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n"
               f"{proxy.auth_lines()}\r\n").encode()
        response = proxy.request(raw)
        self.assertEqual(response.status, 403)
        self.assertEqual(upstream.connections, 0)
    def test_silent_upstream_is_504(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        self.addCleanup(silent.close)
        proxy = Proxy("--upstream-proxy", f"127.0.0.1:{silent.getsockname()[1]}",
                      "--allow-domain", "allowed.test", "--connect-timeout", "1")
        self.addCleanup(proxy.close)
        start = time.monotonic()
        response = proxy.request(proxy.connect_request("allowed.test:443"))
        self.assertEqual(response.status, 504)
        self.assertLess(time.monotonic() - start, 5)


def unused_port():
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


VIA = re.compile(r"^Via: 1\.1 hostgate-[0-9a-f]{16}$", re.MULTILINE)


class UpstreamLoopTest(unittest.TestCase):
    """A request the upstream proxy sends back is refused with 508, once,
    instead of going round until the connection limit."""

    def loop_proxy(self, port, upstream_port, **kwargs):
        proxy = Proxy("--listen", f"127.0.0.1:{port}", "--upstream-proxy", f"127.0.0.1:{upstream_port}",
                      "--allow-domain", "allowed.test", **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def test_tunnel_names_proxy_in_via(self):
        upstream = FakeUpstream()
        self.addCleanup(upstream.close)
        proxy = Proxy("--upstream-proxy", f"127.0.0.1:{upstream.port}", "--allow-domain", "allowed.test")
        self.addCleanup(proxy.close)

        sock, response = proxy.open_tunnel("allowed.test:443")
        sock.close()

        self.assertEqual(response.status, 200)
        self.assertRegex(upstream.heads[0].decode(), VIA)

    def test_plain_names_proxy_in_via(self):
        upstream = FakeUpstream()
        self.addCleanup(upstream.close)
        proxy = Proxy("--upstream-proxy", f"127.0.0.1:{upstream.port}", "--allow-domain", "allowed.test")
        self.addCleanup(proxy.close)
        raw = (f"GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nVia: 1.1 client-side\r\n"
               f"{proxy.auth_lines()}\r\n").encode()

        response = proxy.request(raw)

        self.assertEqual(response.status, 200)
        head = upstream.heads[0].decode()
        self.assertIn("Via: 1.1 client-side", head)
        self.assertRegex(head, VIA)

    def test_origin_sees_no_via(self):
        origin = hgtest.HttpOrigin()
        self.addCleanup(origin.close)
        proxy = Proxy("--allow-loopback", "--resolve", f"origin.test:{origin.port}:127.0.0.1",
                      "--allow-domain", "origin.test")
        self.addCleanup(proxy.close)
        raw = (f"GET http://origin.test:{origin.port}/ HTTP/1.1\r\nHost: origin.test\r\n"
               f"{proxy.auth_lines()}\r\n").encode()

        response = proxy.request(raw)

        self.assertEqual(response.status, 200)
        self.assertNotIn("via", [name.lower() for name in origin.requests[0][2]])

    def test_self_loop_tunnel(self):
        port = unused_port()
        proxy = self.loop_proxy(port, port, auth=False)

        response = proxy.request(proxy.connect_request("allowed.test:443"))

        self.assertEqual(response.status, 502)
        self.assertIn("508", response.reason)
        records = proxy.wait_audit(2)
        self.assertEqual(sorted(record["status"] for record in records), [502, 508])
        self.assertIn("forwarding loop", proxy.stderr())
        # No further request goes round after the two responses.
        self.assertEqual(len(proxy.audit_records()), 2)

    def test_self_loop_plain(self):
        port = unused_port()
        proxy = self.loop_proxy(port, port, auth=False)
        raw = b"GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n"

        response = proxy.request(raw)

        self.assertEqual(response.status, 508)
        self.assertIn(f"came back to the proxy at 127.0.0.1:{port} ", response.reason)
        self.assertIn("--upstream-proxy", response.reason)
        self.assertEqual(len(proxy.wait_audit(2)), 2)
        hgtest.wait_for(lambda: "with status 508: forwarding loop" in proxy.stderr(),
                        message="the loop in the log")

    def test_self_loop_with_token(self):
        """The looped request has no token: it is the loop that is
        reported, not a missing login."""
        port = unused_port()
        proxy = self.loop_proxy(port, port)

        response = proxy.request(proxy.connect_request("allowed.test:443"))

        self.assertEqual(response.status, 502)
        self.assertIn("508", response.reason)
        self.assertNotEqual(response.reason, LOGIN_REASON)

    def test_loop_of_two_proxies(self):
        first_port, second_port = unused_port(), unused_port()
        first = self.loop_proxy(first_port, second_port, auth=False)
        second = self.loop_proxy(second_port, first_port, auth=False)

        response = first.request(first.connect_request("allowed.test:443"))

        self.assertEqual(response.status, 502)
        self.assertEqual(sorted(r["status"] for r in first.wait_audit(2)), [502, 508])
        self.assertEqual([r["status"] for r in second.wait_audit(1)], [502])
        self.assertEqual(len(first.audit_records()), 2)


if __name__ == "__main__":
    hgtest.main()
