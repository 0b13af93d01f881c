"""The decision order of hostgate-proxy, seen from a client: lists,
name variants, no lookup before a decision, and vetting of every
resolved address."""

import socket
import unittest

import hgtest
from hgtest import EchoServer, Proxy


class PolicyTest(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer()
        self.addCleanup(self.echo.close)

    def proxy(self, *args, **kwargs):
        proxy = Proxy(*args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def status(self, proxy, authority):
        return proxy.request(proxy.connect_request(authority))

    def assert_tunnel(self, proxy, name):
        sock, response = proxy.open_tunnel(f"{name}:{self.echo.port}")
        with sock:
            self.assertEqual(response.status, 200, response)
            sock.sendall(b"ping")
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(response.rest + hgtest.recv_all(sock), b"ping")

    def test_wildcard_admits_subdomain(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*.example.test",
                           "--resolve", "example.test:*:127.0.0.1",
                           "--resolve", "a.example.test:*:127.0.0.1")
        self.assert_tunnel(proxy, "a.example.test")

    def test_wildcard_denies_apex(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*.example.test",
                           "--resolve", "example.test:*:127.0.0.1")
        response = self.status(proxy, f"example.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("not in the allow list", response.reason)
        self.assertEqual(self.echo.connections, 0)

    def test_deny_beats_allow(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "a.example.test",
                           "--deny-domain", "a.example.test",
                           "--resolve", "a.example.test:*:127.0.0.1")
        response = self.status(proxy, f"a.example.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("deny list", response.reason)
        self.assertEqual(self.echo.connections, 0)

    def test_deny_wildcard_with_allow_any(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--deny-domain", "*.ad.test",
                           "--resolve", "x.ad.test:*:127.0.0.1",
                           "--resolve", "ad.test:*:127.0.0.1")
        response = self.status(proxy, f"x.ad.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("*.ad.test", response.reason)
        self.assertEqual(self.echo.connections, 0)
        self.assert_tunnel(proxy, "ad.test")

    def test_reject_domain_alias(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--reject-domain", "bad.test",
                           "--resolve", "bad.test:*:127.0.0.1")
        response = self.status(proxy, f"bad.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("deny list", response.reason)

    def test_deny_port_entry(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--deny-domain", f"ported.test:{self.echo.port}",
                           "--resolve", "ported.test:*:127.0.0.1")
        response = self.status(proxy, f"ported.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("deny list", response.reason)

    def test_denied_name_variants(self):
        # With "*" on the allow list and pins to a live origin, only the
        # deny list keeps each variant from getting a working tunnel.
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--deny-domain", "evil.test",
                           "--deny-domain", "b\u00fccher.test",
                           "--deny-domain", "dots\u3002test",
                           "--resolve", "evil.test:*:127.0.0.1",
                           "--resolve", "xn--bcher-kva.test:*:127.0.0.1",
                           "--resolve", "dots.test:*:127.0.0.1",
                           debug=True)
        for name in ("evil.test", "evil.test.", "EVIL.TEST", "Evil.Test.",
                     "xn--bcher-kva.test", "XN--BCHER-KVA.TEST.", "dots.test"):
            with self.subTest(name=name):
                response = self.status(proxy, f"{name}:{self.echo.port}")
                self.assertEqual(response.status, 403)
                self.assertIn("deny list", response.reason)
        self.assertEqual(self.echo.connections, 0)
        self.assertNotIn("resolving", proxy.stderr())
        self.assertNotIn("from a pin", proxy.stderr())

    def test_unicode_target_rejected(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--deny-domain", "xn--bcher-kva.test",
                           "--resolve", "xn--bcher-kva.test:*:127.0.0.1")
        raw = (f"CONNECT b\u00fccher.test:{self.echo.port} HTTP/1.1\r\n"
               f"Host: b\u00fccher.test:{self.echo.port}\r\n"
               f"{proxy.auth_lines()}\r\n").encode()
        response = proxy.request(raw)
        self.assertIn(response.status, (400, 403))
        self.assertEqual(self.echo.connections, 0)

    def test_unmatched_name_not_resolved(self):
        proxy = self.proxy("--allow-loopback", debug=True)
        response = self.status(proxy, "unlisted.test:443")
        self.assertEqual(response.status, 403)
        self.assertEqual(response.reason, "not in the allow list")
        self.assertNotIn("resolving unlisted.test", proxy.stderr())

    def test_resolving_line_appears(self):
        # Control for the test above: an allowed name that is looked up
        # does produce the debug line. GResolver resolves localhost itself,
        # without DNS.
        proxy = self.proxy("--allow-loopback", "--allow-domain", "localhost", debug=True)
        self.assert_tunnel(proxy, "localhost")
        self.assertIn("resolving localhost", proxy.stderr())

    def test_denied_name_not_resolved(self):
        proxy = self.proxy("--allow-domain", "*", "--deny-domain", "blocked.test", debug=True)
        response = self.status(proxy, "blocked.test:443")
        self.assertEqual(response.status, 403)
        self.assertNotIn("resolving blocked.test", proxy.stderr())

    def test_metadata_name_denied(self):
        proxy = self.proxy("--allow-domain", "*", debug=True)
        for name in ("metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata.goog"):
            with self.subTest(name=name):
                response = self.status(proxy, f"{name}:80")
                self.assertEqual(response.status, 403)
                self.assertIn("cloud metadata", response.reason)
        self.assertNotIn("resolving", proxy.stderr())

    def test_metadata_literals_denied(self):
        proxy = self.proxy("--allow-domain", "*", "--allow-loopback")
        cases = {
            "169.254.169.254:80": "cloud metadata",
            "[::ffff:169.254.169.254]:80": "cloud metadata",
            "[fd00:ec2::254]:80": "cloud metadata",
            "169.254.1.1:80": "link-local",
            "[fe80::1]:80": "link-local",
            "0.0.0.0:80": "unspecified",
            "[::]:80": "unspecified",
            "224.0.0.1:80": "multicast",
            "255.255.255.255:80": "broadcast",
        }
        for authority, reason in cases.items():
            with self.subTest(authority=authority):
                response = self.status(proxy, authority)
                self.assertEqual(response.status, 403)
                self.assertIn(reason, response.reason)

    def test_pinned_bad_addresses_denied(self):
        cases = {
            "meta.test": ("169.254.169.254", "169.254.169.254 (cloud metadata)"),
            "mapped.test": ("[::ffff:169.254.169.254]", "169.254.169.254 (cloud metadata)"),
            "zero.test": ("0.0.0.0", "0.0.0.0 (unspecified)"),
            "mixed.test": ("203.0.113.5,169.254.1.1", "169.254.1.1 (link-local)"),
        }
        pins = []
        for name, (addresses, _) in cases.items():
            pins += ["--resolve", f"{name}:443:{addresses}"]
        proxy = self.proxy("--allow-domain", "*.test", "--connect-timeout", "1", *pins)
        for name, (_, reason) in cases.items():
            with self.subTest(name=name):
                response = self.status(proxy, f"{name}:443")
                self.assertEqual(response.status, 403)
                self.assertIn(f'"{name}" resolves to {reason}', response.reason)

    def test_resolved_address_on_deny_list(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--deny-domain", "127.0.0.0/8",
                           "--resolve", "cidr.test:*:127.0.0.1")
        response = self.status(proxy, f"cidr.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("deny list", response.reason)
        self.assertEqual(self.echo.connections, 0)

    def test_literal_on_deny_cidr(self):
        proxy = self.proxy("--allow-loopback", "--allow-domain", "*",
                           "--deny-domain", "127.0.0.0/8")
        response = self.status(proxy, f"127.0.0.1:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("deny list", response.reason)
        self.assertEqual(self.echo.connections, 0)

    def test_profile_file_lists(self):
        proxy_dir = self.proxy("--allow-loopback", start=False)
        profile = f"{proxy_dir.dir}/work.json"
        with open(profile, "w") as f:
            f.write('{"network": {"allow_domain": ["*.example.test"],'
                    ' "deny_domain": ["no.example.test"], "allow_loopback": true}}')
        proxy_dir.args += ["--profile-file", profile,
                           "--resolve", "ok.example.test:*:127.0.0.1",
                           "--resolve", "no.example.test:*:127.0.0.1"]
        proxy = proxy_dir.start()
        self.assert_tunnel(proxy, "ok.example.test")
        response = self.status(proxy, f"no.example.test:{self.echo.port}")
        self.assertEqual(response.status, 403)
        self.assertIn("deny list", response.reason)


class KeepAliveTest(unittest.TestCase):
    def setUp(self):
        self.origin = hgtest.HttpOrigin()
        self.addCleanup(self.origin.close)
        self.proxy = Proxy("--allow-loopback", "--allow-domain", "ok.test",
                           "--resolve", f"ok.test:{self.origin.port}:127.0.0.1",
                           "--resolve", f"no.test:{self.origin.port}:127.0.0.1")
        self.addCleanup(self.proxy.close)

    def get(self, host):
        authority = f"{host}:{self.origin.port}"
        return (f"GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n"
                f"{self.proxy.auth_lines()}\r\n").encode()

    def test_each_request_decided(self):
        with self.proxy.connect() as sock:
            statuses = []
            for host in ("ok.test", "ok.test", "no.test"):
                sock.sendall(self.get(host))
                statuses.append(hgtest.read_response(sock).status)
            self.assertEqual(hgtest.recv_all(sock), b"")
        self.assertEqual(statuses, [200, 200, 403])
        self.assertEqual(len(self.origin.requests), 2)

    def test_pipelined_requests(self):
        with self.proxy.connect() as sock:
            sock.sendall(self.get("ok.test") + self.get("no.test"))
            first = hgtest.read_response(sock)
            rest = first.rest + hgtest.recv_all(sock)
        self.assertEqual(first.status, 200)
        self.assertTrue(rest.startswith(b"HTTP/1.1 403 "), rest)
        self.assertEqual(len(self.origin.requests), 1)

    def test_idle_keepalive_closed_silently(self):
        proxy = Proxy("--header-timeout", "1", "--allow-loopback", "--allow-domain", "ok.test",
                      "--resolve", f"ok.test:{self.origin.port}:127.0.0.1")
        self.addCleanup(proxy.close)
        self.proxy = proxy
        with proxy.connect() as sock:
            sock.sendall(self.get("ok.test"))
            self.assertEqual(hgtest.read_response(sock).status, 200)
            self.assertEqual(hgtest.recv_all(sock), b"")


if __name__ == "__main__":
    hgtest.main()
