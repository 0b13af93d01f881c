"""Requests hostgate-proxy must reject before deciding anything:
malformed CONNECT targets, ambiguous framing, oversized heads and
bodies, missing tokens, slow clients and too many connections."""

import socket
import time
import unittest

import hgtest
from hgtest import HttpOrigin, Proxy


class FramingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = HttpOrigin()
        cls.proxy = Proxy("--allow-loopback", "--allow-domain", "*.test", "--max-body", "1K",
                          "--resolve", "site.test:*:127.0.0.1")
        cls.site = f"site.test:{cls.origin.port}"

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        cls.origin.close()

    def send(self, raw):
        return self.proxy.request(raw)

    def plain(self, target=None, headers="", body=b"", method="GET"):
        target = target or f"http://{self.site}/path"
        return (f"{method} {target} HTTP/1.1\r\nHost: {self.site}\r\n"
                f"{self.proxy.auth_lines()}{headers}\r\n").encode() + body

    def test_malformed_connect_targets(self):
        targets = ["host", "host:", "[1.2.3.4]:443", "[name]:443", "host:443x",
                   "host :443", "host: 443", "host:0", "host:65536", "host:0443",
                   ":443", "user@host:443", "http://host:443", "host:443/path",
                   "*.host:443", "ho%73t:443"]
        for target in targets:
            with self.subTest(target=target):
                raw = (f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
                       f"{self.proxy.auth_lines()}\r\n").encode()
                self.assertEqual(self.send(raw).status, 400)

    def test_connect_line_whitespace(self):
        auth = self.proxy.auth_lines()
        lines = [f"CONNECT  {self.site} HTTP/1.1", f"CONNECT {self.site}  HTTP/1.1",
                 f"CONNECT\t{self.site} HTTP/1.1", f"CONNECT {self.site} HTTP/1.1 ",
                 f" CONNECT {self.site} HTTP/1.1"]
        for line in lines:
            with self.subTest(line=line):
                raw = f"{line}\r\nHost: {self.site}\r\n{auth}\r\n".encode()
                self.assertEqual(self.send(raw).status, 400)

    def test_duplicate_host(self):
        response = self.send(self.plain(headers=f"Host: {self.site}\r\n"))
        self.assertEqual(response.status, 400)

    def test_bad_content_length_forms(self):
        for value in ("abc", "-1", "+5", "1 2", "5, 6", "0x10", ""):
            with self.subTest(value=value):
                response = self.send(self.plain(method="POST", headers=f"Content-Length: {value}\r\n"))
                self.assertEqual(response.status, 400)

    def test_two_content_lengths_differ(self):
        response = self.send(self.plain(method="POST",
                                        headers="Content-Length: 1\r\nContent-Length: 2\r\n",
                                        body=b"ab"))
        self.assertEqual(response.status, 400)

    def test_content_length_with_chunked(self):
        response = self.send(self.plain(method="POST",
                                        headers="Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                                        body=b"0\r\n\r\n"))
        self.assertEqual(response.status, 400)

    def test_transfer_encoding_not_chunked(self):
        for value in ("gzip", "gzip, chunked", "chunked, gzip", "identity"):
            with self.subTest(value=value):
                response = self.send(self.plain(method="POST",
                                                headers=f"Transfer-Encoding: {value}\r\n"))
                self.assertEqual(response.status, 400)

    def test_space_before_colon(self):
        response = self.send(self.plain(headers="X-Test : value\r\n"))
        self.assertEqual(response.status, 400)

    def test_nul_in_head(self):
        response = self.send(self.plain(headers="X-Test: a\0b\r\n"))
        self.assertEqual(response.status, 400)

    def test_bare_lf(self):
        raw = self.plain().replace(b"\r\n", b"\n")
        response = self.send(raw)
        self.assertEqual(response.status, 400)

    def test_userinfo_rejected(self):
        response = self.send(self.plain(target=f"http://user:secret-pw@{self.site}/"))
        self.assertEqual(response.status, 400)
        # The reason reaches the audit log: it must not carry the password.
        self.assertIn(f"http://…@{self.site}/", response.body.decode())
        self.assertNotIn("secret-pw", response.body.decode())
        hgtest.wait_for(lambda: any("…@" in (r.get("reason") or "") for r in self.proxy.audit_records()),
                        message="the audit record")
        self.assertNotIn("secret-pw", open(self.proxy.audit_path).read())

    def test_connect_userinfo_rejected(self):
        raw = (f"CONNECT user:secret-pw@{self.site}:443 HTTP/1.1\r\n"
               f"{self.proxy.auth_lines()}\r\n").encode()
        response = self.send(raw)
        self.assertEqual(response.status, 400)
        self.assertIn(f"…@{self.site}:443", response.body.decode())
        self.assertNotIn("secret-pw", response.body.decode())
        hgtest.wait_for(lambda: any(f"…@{self.site}:443" in (r.get("reason") or "")
                                    for r in self.proxy.audit_records()),
                        message="the audit record")
        self.assertNotIn("secret-pw", open(self.proxy.audit_path).read())

    def test_https_absolute_mentions_connect(self):
        response = self.send(self.plain(target=f"https://{self.site}/"))
        self.assertEqual(response.status, 400)
        self.assertIn("CONNECT", response.reason)
        self.assertIn(b"CONNECT", response.body)

    def test_origin_form_rejected(self):
        response = self.send(self.plain(target="/path"))
        self.assertEqual(response.status, 400)

    def test_upgrade_not_implemented(self):
        response = self.send(self.plain(headers="Connection: Upgrade\r\nUpgrade: websocket\r\n"))
        self.assertEqual(response.status, 501)

    def test_http2_version(self):
        raw = self.plain().replace(b"HTTP/1.1\r\n", b"HTTP/2.0\r\n", 1)
        self.assertEqual(self.send(raw).status, 505)

    def test_body_over_max_body(self):
        body = b"x" * 2048
        response = self.send(self.plain(method="POST", headers=f"Content-Length: {len(body)}\r\n",
                                        body=body))
        self.assertEqual(response.status, 413)
        self.assertEqual(response.reason, "The request body exceeds 1.0 KiB (1024 bytes), the limit set by --max-body")
        self.assertEqual(len(self.origin.requests), 0)

    def test_chunked_body_over_max_body(self):
        body = b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n"
        response = self.send(self.plain(method="POST", headers="Transfer-Encoding: chunked\r\n",
                                        body=body))
        self.assertEqual(response.status, 413)
        self.assertEqual(response.reason, "The request body exceeds 1.0 KiB (1024 bytes), the limit set by --max-body")
        self.assertEqual(len(self.origin.requests), 0)

    def test_head_over_64k(self):
        filler = "".join(f"X-Filler-{i}: {'a' * 100}\r\n" for i in range(700))
        response = self.send(self.plain(headers=filler))
        self.assertEqual(response.status, 431)

    def test_error_reply_shape(self):
        response = self.send(self.plain(headers=f"Host: {self.site}\r\n"))
        self.assertEqual(response.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(response.header("Connection"), "close")
        self.assertEqual(int(response.header("Content-Length")), len(response.body))
        self.assertEqual(response.body, response.reason.encode() + b"\n")


class AuthTest(unittest.TestCase):
    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def connect_raw(self, proxy, authority, auth_line):
        return (f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth_line}\r\n").encode()

    def test_missing_token_before_filtering(self):
        proxy = self.proxy("--deny-domain", "denied.test", debug=True)
        response = proxy.request(self.connect_raw(proxy, "denied.test:443", ""))
        self.assertEqual(response.status, 407)
        self.assertEqual(response.header("Proxy-Authenticate"), 'Basic realm="hostgate"')
        records = proxy.wait_audit(1)
        self.assertEqual(records[0]["status"], 407)
        self.assertNotIn("deny", [record["decision"] for record in records])
        self.assertNotIn(403, [record["status"] for record in records])
        self.assertNotIn("resolving", proxy.stderr())

    def test_wrong_tokens(self):
        proxy = self.proxy("--allow-domain", "*")
        lines = ["Proxy-Authorization: Basic " + hgtest.basic_auth("wrong").split(" ")[1] + "\r\n",
                 f"Proxy-Authorization: Bearer {hgtest.TOKEN}x\r\n",
                 f"Proxy-Authorization: Bearer {hgtest.TOKEN[:-1]}\r\n",
                 "Proxy-Authorization: Basic !!!notbase64\r\n",
                 f"Proxy-Authorization: Digest {hgtest.TOKEN}\r\n",
                 f"Proxy-Authorization: {hgtest.basic_auth()}\r\nProxy-Authorization: {hgtest.basic_auth()}\r\n",
                 f"Authorization: {hgtest.basic_auth()}\r\n"]
        for line in lines:
            with self.subTest(line=line):
                response = proxy.request(self.connect_raw(proxy, "nowhere.test:443", line))
                self.assertEqual(response.status, 407)

    def test_good_tokens_reach_policy(self):
        proxy = self.proxy()
        lines = [f"Proxy-Authorization: {hgtest.basic_auth()}\r\n",
                 f"Proxy-Authorization: {hgtest.basic_auth(user='anyone')}\r\n",
                 f"Proxy-Authorization: Bearer {hgtest.TOKEN}\r\n",
                 f"proxy-authorization: bearer {hgtest.TOKEN}\r\n"]
        for line in lines:
            with self.subTest(line=line):
                response = proxy.request(self.connect_raw(proxy, "nowhere.test:443", line))
                self.assertEqual(response.status, 403)

    def test_token_from_environment(self):
        proxy = self.proxy(token="from-env", token_via="env")
        response = proxy.request(self.connect_raw(proxy, "nowhere.test:443",
                                                  "Proxy-Authorization: Bearer from-env\r\n"))
        self.assertEqual(response.status, 403)
        response = proxy.request(self.connect_raw(proxy, "nowhere.test:443", ""))
        self.assertEqual(response.status, 407)

    def test_auth_off(self):
        proxy = self.proxy(auth=False)
        response = proxy.request(self.connect_raw(proxy, "nowhere.test:443", ""))
        self.assertEqual(response.status, 403)

    def test_token_not_logged(self):
        proxy = self.proxy(debug=True)
        proxy.request(self.connect_raw(proxy, "nowhere.test:443", f"Proxy-Authorization: Bearer {hgtest.TOKEN}\r\n"))
        proxy.request(self.connect_raw(proxy, "nowhere.test:443", f"Proxy-Authorization: Bearer {hgtest.TOKEN}x\r\n"))
        proxy.stop()
        self.assertNotIn(hgtest.TOKEN, proxy.stderr())
        with open(proxy.audit_path) as f:
            self.assertNotIn(hgtest.TOKEN, f.read())


class LimitsTest(unittest.TestCase):
    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def test_header_timeout_partial(self):
        proxy = self.proxy("--header-timeout", "1")
        with proxy.connect() as sock:
            start = time.monotonic()
            sock.sendall(b"CONNECT a.test:443 HTTP/1.1\r\n")
            response = hgtest.read_response(sock)
            elapsed = time.monotonic() - start
        self.assertEqual(response.status, 408)
        self.assertEqual(response.reason,
                         "timed out waiting for the request head after 1 second (--header-timeout)")
        self.assertLess(elapsed, 5)

    def test_header_timeout_silent(self):
        proxy = self.proxy("--header-timeout", "1")
        with proxy.connect() as sock:
            response = hgtest.read_response(sock)
        self.assertEqual(response.status, 408)

    def test_slow_drip_times_out(self):
        proxy = self.proxy("--header-timeout", "1")
        with proxy.connect() as sock:
            data = b""
            deadline = time.monotonic() + 5
            for byte in b"CONNECT a.test:443 HTTP/1.1\r\nX-Slow: yes yes yes yes yes\r\n":
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                sock.settimeout(0.1)
                try:
                    data += sock.recv(4096)
                except socket.timeout:
                    pass
                if data or time.monotonic() > deadline:
                    break
            sock.settimeout(hgtest.TIMEOUT)
            data += hgtest.recv_all(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)

    def test_max_connections(self):
        proxy = self.proxy("--max-connections", "2")
        first = proxy.connect()
        second = proxy.connect()
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        # Both must be accepted and counted before the third arrives: a
        # request on each proves the proxy is serving them.
        for sock in (first, second):
            sock.sendall(b"CONNECT a.test:443 HTTP/1.1\r\n")
        with proxy.connect() as third:
            response = hgtest.read_response(third)
        self.assertEqual(response.status, 503)
        self.assertEqual(response.reason,
                         "too many connections to the proxy: the limit set by --max-connections is 2")
        self.assertEqual(response.header("Connection"), "close")

    def test_slot_freed_after_close(self):
        proxy = self.proxy("--max-connections", "1")
        with proxy.connect() as sock:
            sock.sendall(proxy.connect_request("nowhere.test:443"))
            self.assertEqual(hgtest.read_response(sock).status, 403)

        def served():
            response = proxy.request(proxy.connect_request("nowhere.test:443"))
            return response.status == 403
        hgtest.wait_for(served, message="a free connection slot")


if __name__ == "__main__":
    hgtest.main()
