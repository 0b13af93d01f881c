"""hostgate-proxy in German: the built catalogue from the build tree
(HOSTGATE_LOCALEDIR, which meson sets) with LANGUAGE=de.

Only the C.UTF-8 locale needs to exist: glibc (2.36 on Debian 12)
ignores LANGUAGE only in the C and POSIX locales, so no German locale
has to be generated."""

import os
import subprocess
import unittest

import hgtest
from fakeagent import FakeAgent
from hgtest import TIMEOUT

GERMAN = {"LANGUAGE": "de", "LC_ALL": "C.UTF-8"}


def run_proxy(*args, env=None):
    """Run the proxy with args and return the finished process."""
    environment = dict(os.environ)
    environment.pop("HOSTGATE_PROXY_TOKEN", None)
    environment.update(env or {})
    return subprocess.run([hgtest.PROXY_PATH, *args], capture_output=True, text=True,
                          env=environment, timeout=TIMEOUT)


class ProxyGermanTest(unittest.TestCase):
    def setUp(self):
        if not os.environ.get("HOSTGATE_LOCALEDIR"):
            self.skipTest("HOSTGATE_LOCALEDIR is not set")

    def test_help_option_description(self):
        result = run_proxy("--help", env=GERMAN)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Ein filternder HTTP- und CONNECT-Proxy für eine Sandbox.", result.stdout)
        self.assertIn("Maximale Größe eines einfachen HTTP-Anfragekörpers in Bytes", result.stdout)
        self.assertIn("--max-body=BYTES", result.stdout)

    def test_run_help(self):
        result = run_proxy("run", "--help", env=GERMAN)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Aufruf: hostgate-proxy run [OPTIONEN] -- BEFEHL [ARGUMENTE …]", result.stdout)

    def test_help_english_without_language(self):
        result = run_proxy("--help", env={"LANGUAGE": "", "LC_ALL": "C.UTF-8"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Largest plain HTTP request body in bytes", result.stdout)

    def test_invalid_size_error(self):
        result = run_proxy("--auth", "off", "--max-body", "lots", env=GERMAN)
        self.assertEqual(result.returncode, 1)
        self.assertIn("--max-body: Ungültige Größe „lots“", result.stderr)

    def test_unexpected_argument_error(self):
        result = run_proxy("--auth", "off", "stray", env=GERMAN)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Unerwartetes Argument „stray“", result.stderr)


class ProxyGermanDenyReasonTest(unittest.TestCase):
    """A proxy started in German denies with German reasons, with
    the typographic quotes of the catalogue turned into ASCII ones. The
    body contains the reason in UTF-8, which the status line, read as
    Latin-1, would garble."""

    def setUp(self):
        if not os.environ.get("HOSTGATE_LOCALEDIR"):
            self.skipTest("HOSTGATE_LOCALEDIR is not set")
        self.proxy = hgtest.Proxy("--deny-domain", "blocked.test",
                                  "--allow-domain", "local.test",
                                  "--resolve", "local.test:127.0.0.1", env=GERMAN)
        self.addCleanup(self.proxy.close)

    def rejected_connect(self, authority):
        """Return the status and the body text of the response to CONNECT."""
        response = self.proxy.request(self.proxy.connect_request(authority))
        return response.status, response.body.decode("utf-8").rstrip("\n")

    def test_deny_list_reason(self):
        status, reason = self.rejected_connect("blocked.test:443")
        self.assertEqual(status, 403)
        self.assertEqual(reason,
                         '"blocked.test" wird durch den Eintrag "blocked.test" der Sperrliste abgelehnt')

    def test_unlisted_reason(self):
        status, reason = self.rejected_connect("elsewhere.test:443")
        self.assertEqual(status, 403)
        self.assertEqual(reason, "nicht in der Erlaubnisliste")

    def test_loopback_reason(self):
        status, reason = self.rejected_connect("127.0.0.1:9")
        self.assertEqual(status, 403)
        self.assertIn("127.0.0.1 ist ein gesperrtes Ziel (Loopback); starten Sie den Proxy "
                      "mit --allow-loopback", reason)

    def test_agent_not_running_reason(self):
        socket_path = os.path.join(self.proxy.dir, "no-agent.sock")
        proxy = hgtest.Proxy("--network-approval", "ask", "--agent-socket", socket_path,
                             env=GERMAN)
        self.addCleanup(proxy.close)
        response = proxy.request(proxy.connect_request("unlisted.test:443"))
        self.assertEqual(response.status, 403)
        self.assertEqual(response.body.decode("utf-8").rstrip("\n"),
                         "Freigabe-Agent läuft nicht")

    def test_user_denial_reason(self):
        agent = FakeAgent()
        self.addCleanup(agent.close)
        proxy = hgtest.Proxy("--network-approval", "ask", "--agent-socket", agent.path,
                             env=GERMAN)
        self.addCleanup(proxy.close)
        sock = proxy.connect()
        self.addCleanup(sock.close)
        sock.sendall(proxy.connect_request("asked.test:443"))
        agent.decide(agent.wait_message("ask"), "deny", "session")

        response = hgtest.read_response(sock)
        self.assertEqual(response.status, 403)
        self.assertEqual(response.body.decode("utf-8").rstrip("\n"),
                         "vom Benutzer für diese Sitzung verweigert")

    def test_refused_connect_reason(self):
        port = hgtest.closed_port()
        proxy = hgtest.Proxy("--allow-domain", "closed.test", "--allow-loopback",
                             "--resolve", f"closed.test:{port}:127.0.0.1", env=GERMAN)
        self.addCleanup(proxy.close)
        response = proxy.request(proxy.connect_request(f"closed.test:{port}"))
        self.assertEqual(response.status, 502)
        reason = response.body.decode("utf-8").rstrip("\n")
        self.assertTrue(reason.startswith(f'"closed.test": Verbindung zu 127.0.0.1 auf Port {port} '
                                          "konnte nicht hergestellt werden: "), reason)
        self.assertNotIn("Verbinden:", reason)

    def test_status_line_ascii(self):
        response = self.proxy.request(self.proxy.connect_request("local.test:9"))
        self.assertEqual(response.status, 403)
        self.assertIn('"local.test" wird zu 127.0.0.1 aufgelöst (Loopback)',
                      response.body.decode("utf-8"))
        self.assertTrue(response.reason.isascii(), response.reason)
        self.assertIn("127.0.0.1 aufgeloest", response.reason)


class ProxyGermanLogTest(unittest.TestCase):
    """A proxy started in German writes its log lines on stderr in German."""

    def setUp(self):
        if not os.environ.get("HOSTGATE_LOCALEDIR"):
            self.skipTest("HOSTGATE_LOCALEDIR is not set")

    def test_listening_line(self):
        proxy = hgtest.Proxy(env=GERMAN)
        self.addCleanup(proxy.close)

        # The proxy logs the line after it writes the port file.
        line = f" lauscht auf {proxy.address}"
        hgtest.wait_for(lambda: line in proxy.stderr(), message=f"“{line.strip()}” on stderr")
        self.assertNotIn("listening on", proxy.stderr())


if __name__ == "__main__":
    hgtest.main()
