"""End to end with real programs: curl through a real hostgate-proxy
in ask mode, the real agent on an Xvfb display, and the prompt answered
with real X input from xdotool."""

import subprocess
import unittest

import agentharness as ah
import hgtest
from hgtest import HttpOrigin, Proxy

display = None
BODY = b"hello from the origin\n"


def setUpModule():
    global display
    display = ah.Display()


def tearDownModule():
    if display is not None:
        display.close()


class PromptDisplayTest(unittest.TestCase):
    def setUp(self):
        if hgtest.CURL is None:
            self.skipTest("curl is not installed")
        self.origin = HttpOrigin()
        self.addCleanup(self.origin.close)
        self.agent = ah.Agent(display, start=False)
        self.agent.write_profile("work", allow=[], mode="ask")
        self.agent.start()
        self.addCleanup(self.agent.close)
        self.addCleanup(ah.wait_no_window, display)

    def proxy(self, *names, extra=()):
        """Start a proxy in ask mode on profile work, with names pinned to
        the origin; wait until it has a filter from the agent."""
        pins = list(extra)
        for name in names:
            pins += ["--resolve", f"{name}:{self.origin.port}:127.0.0.1"]
        proxy = Proxy("--profile", "work", "--network-approval", "ask",
                      "--agent-socket", self.agent.socket_path, "--allow-loopback",
                      "--label", "display test", *pins, debug=True,
                      env={"XDG_CONFIG_HOME": self.agent.config_dir})
        self.addCleanup(proxy.close)
        hgtest.wait_for(lambda: "Using revision" in proxy.stderr(),
                        message="the proxy's filter from the agent")
        return proxy

    def curl(self, proxy, name):
        """Start curl through proxy with a CONNECT tunnel to name."""
        command = [hgtest.CURL, "-sS", "--max-time", "30", "--noproxy", "", "-p",
                   "-x", f"http://{proxy.address}",
                   "--proxy-user", f"hostgate:{proxy.token}",
                   f"http://{name}:{self.origin.port}/"]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=proxy.environment())

    def answer(self, duration, button):
        window = ah.find_window(display)
        ah.wait_guard()
        if duration != "once":
            ah.choose_duration(display, window, duration)
        ah.click_button(display, window, button)
        ah.wait_no_window(display)

    def test_approve_once(self):
        proxy = self.proxy("once.example")
        curl = self.curl(proxy, "once.example")
        self.answer("once", "approve")
        out, err = curl.communicate(timeout=30)
        self.assertEqual(curl.returncode, 0, err)
        self.assertEqual(out, BODY)
        network = self.agent.read_profile("work")["network"]
        self.assertEqual(network["allow_domain"], [])

    def test_deny_once(self):
        proxy = self.proxy("denied.example")
        curl = self.curl(proxy, "denied.example")
        self.answer("once", "deny")
        out, err = curl.communicate(timeout=30)
        self.assertNotEqual(curl.returncode, 0)
        self.assertIn(b"403", err)
        self.assertEqual(len(self.origin.requests), 0)

    def test_unanswered_prompt_times_out(self):
        """A prompt nobody answers ends as a timeout, not as the person's
        denial, for the client and in the audit log."""
        proxy = self.proxy("ignored.example", extra=("--approval-timeout", "5"))
        raw = proxy.request(b"CONNECT ignored.example:%d HTTP/1.1\r\n%s\r\n"
                            % (self.origin.port, proxy.auth_lines().encode()), timeout=30)
        self.assertEqual(raw.status, 403)
        self.assertIn("approval timed out", raw.reason)
        ah.wait_no_window(display)
        decisions = [r["decision"] for r in proxy.audit_records()]
        self.assertIn("approval-timed-out", decisions)
        self.assertNotIn("approval-denied", decisions)

    def test_always_then_second_proxy(self):
        proxy = self.proxy("saved.example")
        curl = self.curl(proxy, "saved.example")
        self.answer("always", "approve")
        out, err = curl.communicate(timeout=30)
        self.assertEqual(curl.returncode, 0, err)
        self.assertEqual(out, BODY)
        hgtest.wait_for(lambda: "saved.example" in
                        self.agent.read_profile("work")["network"]["allow_domain"],
                        message="the entry in the profile file")

        second = self.proxy("saved.example")
        shown = self.agent.stderr().count("Showing prompt")
        curl = self.curl(second, "saved.example")
        out, err = curl.communicate(timeout=30)
        self.assertEqual(curl.returncode, 0, err)
        self.assertEqual(out, BODY)
        self.assertEqual(self.agent.stderr().count("Showing prompt"), shown)
        self.assertEqual(ah.list_windows(display, ah.PROMPT_TITLE), [])


if __name__ == "__main__":
    ah.main()
