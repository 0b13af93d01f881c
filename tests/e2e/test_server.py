"""The hostgate-proxy process: start-up output, options, the audit log
and shutdown on signals."""

import datetime
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import hgtest
from hgtest import EchoServer, Proxy

OPTIONS = ["--listen", "--port-file", "--auth", "--token-file", "--audit-log",
           "--header-timeout", "--idle-timeout", "--connect-timeout", "--dns-timeout",
           "--max-body", "--max-connections", "--grace-period", "--profile",
           "--profile-file", "--allow-domain", "--deny-domain", "--reject-domain",
           "--allow-loopback", "--upstream-proxy", "--upstream-bypass", "--resolve",
           "--network-approval", "--approval-timeout", "--version"]

AUDIT_FIELDS = {"time": str, "client": str, "method": str, "host": str, "port": int,
                "decision": str, "status": int, "reason": (str, type(None)),
                "bytes_up": int, "bytes_down": int, "duration_ms": int}


def run_proxy(*args, env=None, timeout=hgtest.TIMEOUT):
    if not hgtest.PROXY_PATH:
        raise unittest.SkipTest("HOSTGATE_PROXY is not set")
    full_env = dict(os.environ)
    full_env.pop("HOSTGATE_PROXY_TOKEN", None)
    full_env.update(env or {})
    return subprocess.run([hgtest.PROXY_PATH, *args], capture_output=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL)


class CommandLineTest(unittest.TestCase):
    def test_help_lists_every_option(self):
        result = run_proxy("--help")
        self.assertEqual(result.returncode, 0)
        text = result.stdout.decode()
        for option in OPTIONS:
            with self.subTest(option=option):
                self.assertIn(option, text)
        for unit in ("SECS", "BYTES", "ADDR:PORT", "default"):
            with self.subTest(unit=unit):
                self.assertIn(unit, text)

    def test_version(self):
        result = run_proxy("--version")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout.decode(), r"^hostgate-proxy \d+\.\d+")

    def test_missing_token_fails(self):
        result = run_proxy("--listen", "127.0.0.1:0")
        self.assertEqual(result.returncode, 1)
        self.assertIn("HOSTGATE_PROXY_TOKEN", result.stderr.decode())
        self.assertEqual(result.stdout, b"")

    def test_invalid_values_fail(self):
        cases = [["--listen", "localhost:80"], ["--listen", "127.0.0.1"],
                 ["--listen", "::1:80"], ["--header-timeout", "0"],
                 ["--header-timeout", "ten"], ["--max-body", "12Q"],
                 ["--max-connections", "-1"], ["--auth", "maybe"],
                 ["--allow-domain", "*.*.test"], ["--deny-domain", "*"],
                 ["--upstream-proxy", "proxy.test"], ["--resolve", "bad"],
                 ["--network-approval", "sometimes"], ["--profile", "../etc"],
                 ["--profile", "a", "--profile-file", "b"], ["stray"]]
        for args in cases:
            with self.subTest(args=args):
                result = run_proxy("--auth", "off", *args)
                self.assertEqual(result.returncode, 1)
                self.assertTrue(result.stderr.startswith(b"hostgate-proxy: "), result.stderr)

    def test_invalid_resolve_names_option_once(self):
        result = run_proxy("--auth", "off", "--resolve", "bad")
        self.assertEqual(result.returncode, 1)
        self.assertTrue(result.stderr.startswith("hostgate-proxy: Invalid --resolve entry “bad”: ".encode()),
                        result.stderr)
        self.assertEqual(result.stderr.count(b"--resolve"), 1, result.stderr)


class StartupTest(unittest.TestCase):
    def test_stdout_matches_port_file(self):
        with Proxy() as proxy:
            self.assertEqual(proxy.stdout_line, proxy.address)
            self.assertRegex(proxy.address, r"^127\.0\.0\.1:\d+$")
            # The line is logged after the port file is written.
            hgtest.wait_for(lambda: f"listening on {proxy.address}" in proxy.stderr(),
                            message="the listening line on stderr")

    def test_ipv6_listen(self):
        try:
            probe = socket.socket(socket.AF_INET6)
            probe.bind(("::1", 0))
            probe.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        with Proxy("--listen", "[::1]:0") as proxy:
            self.assertRegex(proxy.address, r"^\[::1\]:\d+$")
            response = proxy.request(proxy.connect_request("nowhere.test:443"))
            self.assertEqual(response.status, 403)

    def test_open_proxy_warned(self):
        """Listening beyond loopback without a token is allowed but warned
        about; nothing connects from elsewhere in the test."""
        with Proxy("--listen", "0.0.0.0:0", auth=False) as proxy:
            hgtest.wait_for(lambda: "with --auth off" in proxy.stderr(),
                            message="the open proxy warning")
        with Proxy(auth=False) as proxy:
            self.assertNotIn("with --auth off", proxy.stderr())

    def test_short_token_warned(self):
        with Proxy(token="short1") as proxy:
            hgtest.wait_for(lambda: "The proxy token has only 6 characters" in proxy.stderr(),
                            message="the short token warning")
            response = proxy.request(proxy.connect_request("nowhere.test:443"))
            self.assertEqual(response.status, 403)
        with Proxy() as proxy:
            hgtest.wait_for(lambda: "listening on" in proxy.stderr(), message="the listening line")
            self.assertNotIn("The proxy token has only", proxy.stderr())

    def test_address_in_use_fails(self):
        with Proxy() as proxy:
            result = run_proxy("--auth", "off", "--listen", proxy.address)
        self.assertEqual(result.returncode, 1)
        self.assertIn(proxy.address, result.stderr.decode())

    def test_port_file_folder_missing_fails(self):
        """A missing folder is found before the address is printed, so
        stdout never names an address nothing listens on."""
        path = "/nonexistent/hostgate-test/port"
        result = run_proxy("--auth", "off", "--port-file", path)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, b"")
        self.assertIn(f"The folder of --port-file “{path}” does not exist", result.stderr.decode())

    def test_port_file_path_checked(self):
        """An empty path, a folder, or a file inside a regular file are
        found before the address is printed."""
        with tempfile.TemporaryDirectory() as folder:
            regular = os.path.join(folder, "regular")
            with open(regular, "w"):
                pass
            cases = [("", "--port-file is empty"),
                     (folder, f"--port-file “{folder}” is a folder"),
                     (f"{regular}/port", f"is inside “{regular}”, which is not a folder")]
            for path, message in cases:
                with self.subTest(path=path):
                    result = run_proxy("--auth", "off", "--port-file", path)
                    self.assertEqual(result.returncode, 1)
                    self.assertEqual(result.stdout, b"")
                    self.assertIn(message, result.stderr.decode())

    def test_unwritable_port_file_fails(self):
        """A folder where no file can be created passes the check of the
        path, so the write fails. The message names the path given."""
        path = "/proc/self/hostgate-port"
        result = run_proxy("--auth", "off", "--port-file", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"Could not write the port file “{path}”: ", result.stderr.decode())


class BurstTest(unittest.TestCase):
    def test_burst_of_connections(self):
        count = 200
        with Proxy() as proxy:
            sockets = [proxy.connect() for _ in range(count)]
            try:
                for sock in sockets:
                    sock.sendall(proxy.connect_request("burst.test:443"))
                statuses = [hgtest.read_response(sock).status for sock in sockets]
            finally:
                for sock in sockets:
                    sock.close()
        self.assertEqual(statuses, [403] * count)


class AuditTest(unittest.TestCase):
    def test_records_have_fields(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        proxy = Proxy("--allow-loopback", "--allow-domain", "ok.test", "--deny-domain", "no.test",
                      "--resolve", f"ok.test:{echo.port}:127.0.0.1")
        self.addCleanup(proxy.close)

        sock, response = proxy.open_tunnel(f"ok.test:{echo.port}")
        with sock:
            sock.sendall(b"12345")
            sock.shutdown(socket.SHUT_WR)
            hgtest.recv_all(sock)
        proxy.request(proxy.connect_request("no.test:443"))
        records = proxy.wait_audit(2)

        for record in records:
            for field, kind in AUDIT_FIELDS.items():
                with self.subTest(field=field, record=record):
                    self.assertIn(field, record)
                    self.assertIsInstance(record[field], kind)
            stamp = datetime.datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            self.assertLess(abs(datetime.datetime.utcnow() - stamp), datetime.timedelta(minutes=5))
            self.assertRegex(record["time"], r"\.\d{3}Z$")
            self.assertRegex(record["client"], r"^127\.0\.0\.1:\d+$")

        allowed = next(r for r in records if r["host"] == "ok.test")
        self.assertEqual(allowed["decision"], "allow")
        self.assertEqual(allowed["status"], 200)
        self.assertEqual(allowed["method"], "CONNECT")
        self.assertEqual(allowed["port"], echo.port)
        self.assertEqual(allowed["pattern"], "ok.test")
        self.assertEqual(allowed["bytes_up"], 5)
        self.assertEqual(allowed["bytes_down"], 5)

        denied = next(r for r in records if r["host"] == "no.test")
        self.assertEqual(denied["decision"], "deny")
        self.assertEqual(denied["status"], 403)
        self.assertEqual(denied["pattern"], "no.test")
        self.assertIn("deny list", denied["reason"])

    def test_denial_logged_once_per_host(self):
        with Proxy() as proxy:
            for _ in range(3):
                proxy.request(proxy.connect_request("again.test:443"))
            proxy.request(proxy.connect_request("other.test:443"))
            proxy.stop()
            log = proxy.stderr()
        self.assertEqual(log.count("again.test"), 1)
        self.assertEqual(log.count("other.test"), 1)


class ShutdownTest(unittest.TestCase):
    def test_sigterm_idle_exits_zero(self):
        proxy = Proxy()
        self.addCleanup(proxy.close)
        start = time.monotonic()
        self.assertEqual(proxy.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - start, 3)
        self.assertIn("Shutting down", proxy.stderr())

    def test_sigint_exits_zero(self):
        proxy = Proxy()
        self.addCleanup(proxy.close)
        self.assertEqual(proxy.stop(signal.SIGINT), 0)

    def test_sighup_shuts_down(self):
        """A closed terminal sends SIGHUP, which gets the same clean
        shutdown as SIGTERM."""
        proxy = Proxy()
        self.addCleanup(proxy.close)
        self.assertEqual(proxy.stop(signal.SIGHUP), 0)
        self.assertIn("Shutting down", proxy.stderr())

    def test_idle_keepalive_closed_at_once(self):
        proxy = Proxy("--grace-period", "30", debug=True)
        self.addCleanup(proxy.close)
        sock = proxy.connect()
        self.addCleanup(sock.close)
        local = "%s:%d" % sock.getsockname()[:2]
        hgtest.wait_for(lambda: f"{local}: accepted" in proxy.stderr(), message="the accept")
        start = time.monotonic()
        self.assertEqual(proxy.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - start, 5)

    def test_open_tunnel_drains_then_exits(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        proxy = Proxy("--grace-period", "2", "--allow-loopback", "--allow-domain", "t.test",
                      "--resolve", f"t.test:{echo.port}:127.0.0.1")
        self.addCleanup(proxy.close)
        sock, response = proxy.open_tunnel(f"t.test:{echo.port}")
        self.addCleanup(sock.close)
        self.assertEqual(response.status, 200)

        proxy.process.send_signal(signal.SIGTERM)
        hgtest.wait_for(lambda: "Shutting down" in proxy.stderr(), message="the shutdown log")
        # Still open during the grace period, and new connections are refused.
        sock.sendall(b"during grace")
        self.assertEqual(hgtest.recv_until(sock, b"grace"), b"during grace")
        with self.assertRaises(ConnectionRefusedError):
            proxy.connect(timeout=2)

        start = time.monotonic()
        status = proxy.process.wait(hgtest.TIMEOUT)
        self.assertEqual(status, 0)
        self.assertLess(time.monotonic() - start, 6)
        self.assertEqual(hgtest.recv_all(sock), b"")

    def test_finished_tunnel_exits_early(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        proxy = Proxy("--grace-period", "30", "--allow-loopback", "--allow-domain", "t.test",
                      "--resolve", f"t.test:{echo.port}:127.0.0.1")
        self.addCleanup(proxy.close)
        sock, response = proxy.open_tunnel(f"t.test:{echo.port}")
        proxy.process.send_signal(signal.SIGTERM)
        hgtest.wait_for(lambda: "Shutting down" in proxy.stderr(), message="the shutdown log")
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        hgtest.recv_all(sock)
        sock.close()
        self.assertEqual(proxy.process.wait(hgtest.TIMEOUT), 0)
        self.assertLess(time.monotonic() - start, 5)


if __name__ == "__main__":
    hgtest.main()
