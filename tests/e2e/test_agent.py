"""End-to-end tests of hostgate-agent: the built agent on an Xvfb
display, fake proxies on its real Unix socket, and the prompt window
answered with real X input from xdotool."""

import json
import os
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

import agentharness as ah
import hgtest
from fakeproxy import Closed, FakeProxy

display = None


def setUpModule():
    global display
    display = ah.Display()


def tearDownModule():
    if display is not None:
        display.close()


class AgentTestCase(unittest.TestCase):
    """Starts a fresh agent per test; profiles from self.profiles() are
    written before it starts."""

    def profiles(self):
        return {"work": {"allow": ["api.example"], "deny": ["ads.example"]}}

    def setUp(self):
        self.agent = ah.Agent(display, start=False)
        for name, lists in self.profiles().items():
            self.agent.write_profile(name, **lists)
        self.agent.start()
        self.proxies = []

    def tearDown(self):
        for proxy in self.proxies:
            proxy.close()
        self.agent.close()
        ah.wait_no_window(display)

    def connect(self, profile="work", **kwargs):
        """Connect a fake proxy, send hello; return (proxy, filter)."""
        proxy = FakeProxy(self.agent.socket_path)
        self.proxies.append(proxy)
        return proxy, proxy.hello(profile, **kwargs)

    def prompt(self, proxy, host, **kwargs):
        """Send ask and wait for the window and its input guard; return
        (ask id, window id)."""
        ask_id = proxy.ask(host, **kwargs)
        window = ah.find_window(display)
        ah.wait_guard()
        return ask_id, window


class WelcomeTest(AgentTestCase):
    def test_welcome_carries_filter(self):
        _, welcome = self.connect("work")
        self.assertEqual(welcome["profile"], "work")
        self.assertEqual(welcome["allow"], ["api.example"])
        self.assertEqual(welcome["deny"], ["ads.example"])
        self.assertEqual(welcome["approval_mode"], "ask")
        self.assertEqual(welcome["approval_timeout_secs"], 60)
        self.assertIsInstance(welcome["revision"], int)

    def test_welcome_default_profile(self):
        _, welcome = self.connect("default")
        self.assertEqual(welcome["profile"], "default")
        self.assertIn(welcome["approval_mode"], ("off", "ask"))

    def test_missing_profile_fails_closed(self):
        # A proxy whose lists come from --profile-file may name a profile
        # the agent has no file for. The error makes the proxy keep its
        # own lists, and the filter adds nothing.
        proxy, welcome = self.connect("nosuch")
        error = proxy.expect("error")
        self.assertEqual(error["code"], "invalid-profile")
        self.assertEqual(error["message"], "The agent has no profile “nosuch” yet, so it sends no lists; "
                                           "the first Always answer creates it")
        self.assertEqual(welcome["allow"], [])
        self.assertEqual(welcome["deny"], [])
        self.assertEqual(welcome["approval_mode"], "off")
        self.assertFalse(os.path.exists(self.agent.profile_path("nosuch")))

    def test_ping_pong(self):
        proxy, _ = self.connect()
        proxy.send({"type": "ping", "id": "p1"})
        self.assertEqual(proxy.expect("pong")["id"], "p1")


class SocketTest(AgentTestCase):
    def test_socket_modes(self):
        socket_mode = stat.S_IMODE(os.lstat(self.agent.socket_path).st_mode)
        folder_mode = stat.S_IMODE(os.lstat(os.path.dirname(self.agent.socket_path)).st_mode)
        self.assertEqual(socket_mode, 0o600)
        self.assertEqual(folder_mode, 0o700)

    def test_second_agent_refused(self):
        # A second agent on its own session bus reaches the socket check.
        second = ah.Agent(display, start=False, tmp=self.agent.tmp)
        second.stderr_path = os.path.join(self.agent.dir, "second-stderr")
        second.launch()
        status = second.wait_exit()
        self.assertEqual(status, 1)
        self.assertIn("already running", second.stderr())
        self.assertTrue(self.agent.listening())
        proxy, welcome = self.connect()
        self.assertEqual(welcome["profile"], "work")

    def test_socket_removed_on_exit(self):
        self.assertEqual(self.agent.stop(), 0)
        self.assertIn("Stopped listening", self.agent.stderr())
        self.assertFalse(os.path.exists(self.agent.socket_path))


class StartupTest(unittest.TestCase):
    def test_stale_socket_replaced(self):
        with ah.Agent(display, start=False) as agent:
            os.makedirs(os.path.dirname(agent.socket_path), mode=0o700)
            stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            stale.bind(agent.socket_path)
            stale.close()
            self.assertTrue(agent.listening())
            agent.start()
            self.assertIn("stale socket", agent.stderr())
            with FakeProxy(agent.socket_path) as proxy:
                self.assertEqual(proxy.hello("default")["profile"], "default")

    def test_open_folder_refused(self):
        with ah.Agent(display, start=False) as agent:
            folder = os.path.dirname(agent.socket_path)
            os.makedirs(folder)
            os.chmod(folder, 0o755)
            agent.launch()
            self.assertEqual(agent.wait_exit(), 1)
            self.assertIn("0755", agent.stderr())
            self.assertIn("0700", agent.stderr())
            self.assertFalse(agent.listening())

    def test_shared_folder_refused(self):
        """A folder others may write to is not to be made private: the
        message asks for a folder of the socket's own instead."""
        with ah.Agent(display, start=False) as agent:
            folder = os.path.dirname(agent.socket_path)
            os.makedirs(folder)
            os.chmod(folder, 0o1777)
            agent.launch()
            self.assertEqual(agent.wait_exit(), 1)
            self.assertIn("is shared with other users (mode 1777)", agent.stderr())
            self.assertNotIn("chmod", agent.stderr())
            self.assertFalse(agent.listening())

    def test_empty_socket_option_refused(self):
        result = subprocess.run([ah.AGENT_PATH, "--socket", ""], capture_output=True, timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"--socket is empty", result.stderr)

    def test_stray_argument_refused(self):
        """GApplication would take the word for a file to open, log a
        critical and keep running."""
        with tempfile.TemporaryDirectory(prefix="hostgate-agent-") as folder:
            env = dict(os.environ, XDG_RUNTIME_DIR=folder, XDG_CONFIG_HOME=folder)
            result = subprocess.run([ah.AGENT_PATH, "extra-word"], capture_output=True, env=env,
                                    timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn("unexpected argument “extra-word”", result.stderr.decode())
        self.assertNotIn(b"CRITICAL", result.stderr)

    def test_sighup_stops_cleanly(self):
        with ah.Agent(display) as agent:
            os.kill(agent.agent_pid(), signal.SIGHUP)
            self.assertEqual(agent.wait_exit(), 0)
            self.assertIn("Stopping on a termination signal", agent.stderr())
            self.assertFalse(os.path.exists(agent.socket_path))

    def test_quit_action(self):
        """`gapplication action … quit` stops an agent on a desktop
        without a tray."""
        with ah.Agent(display) as agent:
            env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=agent.bus_address())
            result = subprocess.run(["gapplication", "action", "io.github.hostgate.Agent", "quit"],
                                    capture_output=True, env=env, timeout=hgtest.TIMEOUT)
            self.assertEqual(result.returncode, 0, result.stderr.decode())
            self.assertEqual(agent.wait_exit(), 0)
            self.assertIn("Stopping on request", agent.stderr())
            self.assertFalse(os.path.exists(agent.socket_path))

    def test_socket_option(self):
        with ah.Agent(display, start=False) as agent:
            path = os.path.join(agent.runtime_dir, "custom", "agent.sock")
            agent.args = ["--socket", path]
            agent.socket_path = path
            agent.start()
            with FakeProxy(path) as proxy:
                self.assertEqual(proxy.hello("default")["profile"], "default")

    def test_socket_from_environment(self):
        with ah.Agent(display, start=False) as agent:
            path = os.path.join(agent.runtime_dir, "from-env", "agent.sock")
            agent.extra_env = {"HOSTGATE_AGENT_SOCKET": path}
            agent.socket_path = path
            agent.start()
            with FakeProxy(path) as proxy:
                self.assertEqual(proxy.hello("default")["profile"], "default")

    def test_gapplication_service(self):
        with ah.Agent(display, "--gapplication-service") as agent:
            with FakeProxy(agent.socket_path) as proxy:
                self.assertEqual(proxy.hello("default")["profile"], "default")
            self.assertEqual(agent.stop(), 0)

    def test_without_session_bus(self):
        with ah.Agent(display, bus=False) as agent:
            self.assertIn("No session bus", agent.stderr())
            with FakeProxy(agent.socket_path) as proxy:
                self.assertEqual(proxy.hello("default")["profile"], "default")
            self.assertEqual(agent.stop(), 0)

    def test_version(self):
        result = subprocess.run([ah.AGENT_PATH, "--version"], capture_output=True, timeout=10)
        self.assertEqual(result.returncode, 0)
        self.assertTrue(result.stdout.startswith(b"hostgate-agent "))


class ProtocolTest(AgentTestCase):
    def test_unknown_type(self):
        proxy, _ = self.connect()
        proxy.send({"type": "stats", "requests": 12})
        error = proxy.expect("error")
        self.assertEqual(error["code"], "unknown-type")
        self.assertIn("stats", error["message"])
        proxy.send({"type": "ping", "id": "after"})
        self.assertEqual(proxy.expect("pong")["id"], "after")

    def test_invalid_json_closes(self):
        proxy, _ = self.connect()
        proxy.send_raw(b"{not json\n")
        proxy.wait_closed()
        self.assertTrue(proxy.closed)

    def test_invalid_message_keeps_connection(self):
        proxy, _ = self.connect()
        proxy.send({"type": "ask", "id": "1", "host": "a.example", "port": "443",
                    "kind": "connect", "timeout_ms": 1000})
        self.assertEqual(proxy.expect("error")["code"], "invalid-message")
        proxy.send({"type": "ping", "id": "after"})
        self.assertEqual(proxy.expect("pong")["id"], "after")

    def test_version_mismatch_closes(self):
        proxy = FakeProxy(self.agent.socket_path)
        self.proxies.append(proxy)
        proxy.send({"type": "hello", "version": 2,
                    "session": {"id": "x", "profile": "work", "pid": 1}})
        messages = proxy.wait_closed()
        self.assertEqual([m["code"] for m in messages if m["type"] == "error"],
                         ["version-mismatch"])

    def test_ask_before_hello(self):
        proxy = FakeProxy(self.agent.socket_path)
        self.proxies.append(proxy)
        proxy.ask("a.example")
        error = proxy.expect("error")
        self.assertEqual(error["code"], "not-allowed")
        self.assertEqual(ah.list_windows(display, ah.PROMPT_TITLE), [])

    def test_event_accepted(self):
        proxy, _ = self.connect()
        proxy.send({"type": "event", "host": "a.example", "port": 443, "decision": "allow"})
        proxy.send({"type": "ping", "id": "after"})
        self.assertEqual(proxy.expect("pong")["id"], "after")
        proxy.expect_nothing("error", wait=0.2)


class PromptTest(AgentTestCase):
    def test_cancel_removes_window(self):
        proxy, _ = self.connect()
        ask_id = proxy.ask("cancelled.example")
        ah.find_window(display)
        proxy.cancel(ask_id)
        ah.wait_no_window(display)
        proxy.expect_nothing("decision")

    def test_approve_once(self):
        proxy, _ = self.connect()
        ask_id, window = self.prompt(proxy, "once.example", port=8443)
        ah.click_button(display, window, "approve")
        decision = proxy.expect("decision")
        self.assertEqual(decision["id"], ask_id)
        self.assertEqual(decision["verdict"], "approve")
        self.assertEqual(decision["duration"], "once")
        self.assertEqual(decision["pattern"], "once.example")
        ah.wait_no_window(display)
        self.assertNotIn("once.example", self.agent.read_profile("work")["network"]["allow_domain"])

    def test_deny_session(self):
        proxy, _ = self.connect()
        ask_id, window = self.prompt(proxy, "session.example")
        ah.choose_duration(display, window, "session")
        ah.click_button(display, window, "deny")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "deny")
        self.assertEqual(decision["duration"], "session")
        proxy.expect_nothing("filter")

    def test_close_denies_once(self):
        proxy, _ = self.connect()
        ask_id, window = self.prompt(proxy, "closed.example")
        ah.close_window(display, window)
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "deny")
        self.assertEqual(decision["duration"], "once")
        ah.wait_no_window(display)

    def test_escape_denies_once(self):
        proxy, _ = self.connect()
        ask_id, window = self.prompt(proxy, "escaped.example")
        ah.choose_duration(display, window, "always")
        ah.focus(display, window)
        ah.key(display, "Escape")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "deny")
        self.assertEqual(decision["duration"], "once")
        network = self.agent.read_profile("work")["network"]
        self.assertNotIn("escaped.example", network["deny_domain"])

    def test_deadline_withdraws_without_answer(self):
        """At the deadline the window closes, and no decision is sent: the
        proxy's own timer answers "approval timed out"."""
        proxy, _ = self.connect()
        proxy.ask("slow.example", timeout_ms=1500)
        ah.find_window(display)
        ah.wait_no_window(display)
        proxy.expect_nothing("decision", wait=0.5)
        hgtest.wait_for(lambda: "timed out without an answer" in self.agent.stderr(),
                        message="the timeout in the agent's log")

    def test_keys_in_guard_ignored(self):
        proxy, _ = self.connect()
        ask_id = proxy.ask("typing.example")
        window = ah.find_window(display)
        ah.focus(display, window)
        ah.key(display, "alt+a", "Return", "space", "alt+d", "Escape", "Tab", "space")
        proxy.expect_nothing("decision", wait=0.2)
        ah.wait_guard()
        ah.click_button(display, window, "deny")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "deny")
        self.assertEqual(decision["duration"], "once")

    def test_disconnect_drops_prompt(self):
        proxy, _ = self.connect()
        proxy.ask("gone.example")
        ah.find_window(display)
        proxy.close()
        ah.wait_no_window(display)

    def test_queue_shows_next(self):
        proxy, _ = self.connect()
        first = proxy.ask("first.example")
        second = proxy.ask("second.example")
        window = ah.find_window(display)
        ah.wait_guard()
        ah.click_button(display, window, "deny")
        self.assertEqual(proxy.expect("decision")["id"], first)
        window = ah.find_window(display)
        ah.wait_guard()
        ah.click_button(display, window, "approve")
        decision = proxy.expect("decision")
        self.assertEqual(decision["id"], second)
        self.assertEqual(decision["verdict"], "approve")

    def test_too_many_prompts(self):
        proxy, _ = self.connect()
        for number in range(32):
            proxy.ask(f"h{number}.example")
        over = proxy.ask("over.example")
        error = proxy.expect("error", id=over)
        self.assertEqual(error["code"], "too-many-prompts")


class AlwaysTest(AgentTestCase):
    def profiles(self):
        return {"work": {"allow": ["api.example"]}, "other": {"allow": ["else.example"]}}

    def test_always_persists_and_pushes(self):
        first, welcome = self.connect("work")
        second, _ = self.connect("work")
        other, _ = self.connect("other")
        ask_id, window = self.prompt(first, "new.example")
        ah.choose_duration(display, window, "always")
        ah.click_button(display, window, "approve")

        decision = first.expect("decision", id=ask_id)
        self.assertEqual(decision["duration"], "always")
        self.assertEqual(decision["pattern"], "new.example")
        for proxy in (first, second):
            pushed = proxy.expect("filter")
            self.assertEqual(pushed["profile"], "work")
            self.assertEqual(pushed["allow"], ["api.example", "new.example"])
            self.assertGreater(pushed["revision"], welcome["revision"])
            # A profile change leaves the proxies' Session answers alone.
            self.assertNotIn("forget_session", pushed)
        other.expect_nothing("filter")
        self.assertEqual(self.agent.read_profile("work")["network"]["allow_domain"],
                         ["api.example", "new.example"])

    def test_always_creates_missing_profile(self):
        proxy, _ = self.connect("sandbox")
        ask_id, window = self.prompt(proxy, "new.example")
        ah.choose_duration(display, window, "always")
        ah.click_button(display, window, "approve")

        self.assertEqual(proxy.expect("decision", id=ask_id)["duration"], "always")
        pushed = proxy.expect("filter")
        self.assertEqual(pushed["profile"], "sandbox")
        self.assertEqual(pushed["allow"], ["new.example"])
        saved = self.agent.read_profile("sandbox")
        self.assertEqual(saved["meta"]["name"], "sandbox")
        self.assertEqual(saved["network"]["allow_domain"], ["new.example"])

    def test_deleted_profile_keeps_filter(self):
        # The settings window promises that proxies using a deleted
        # profile keep their filter until they restart.
        proxy, _ = self.connect("work")
        os.remove(self.agent.profile_path("work"))
        hgtest.wait_for(lambda: "Profile “work” changed but cannot be read" in self.agent.stderr(),
                        message="the agent noticing the deletion")
        proxy.expect_nothing("filter")

    def test_always_after_delete_not_saved(self):
        """An Always answer for a deleted profile in use is not saved: a
        new file with only that entry would replace the proxies' lists.
        The other profile's file stays, and the decision sent to the proxy
        has the duration session, which is how long the answer lasts."""
        proxy, welcome = self.connect("work")
        self.assertEqual(welcome["allow"], ["api.example"])
        os.remove(self.agent.profile_path("work"))
        hgtest.wait_for(lambda: "Profile “work” changed but cannot be read" in self.agent.stderr(),
                        message="the agent noticing the deletion")

        # The red line about the profile wraps to three lines, and the
        # window may still grow after it maps, so Approve is pressed
        # with its access key rather than clicked.
        ask_id, window = self.prompt(proxy, "wanted.example")
        ah.choose_duration(display, window, "always")
        ah.focus(display, window)
        ah.key(display, "alt+a")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "approve")
        self.assertEqual(decision["duration"], "session")

        error_window = ah.find_window(display, ah.ERROR_TITLE)
        self.assertIn("Could not save wanted.example to profile “work”", self.agent.stderr())
        self.assertEqual(os.listdir(self.agent.profiles), ["other.json"])
        proxy.expect_nothing("filter")
        ah.focus(display, error_window)
        ah.key(display, "Escape")
        ah.wait_no_window(display, ah.ERROR_TITLE)

    def test_unsaved_error_over_next_prompt(self):
        """The window about an answer that was not saved opens over the
        next waiting prompt, which reuses the prompt window, and takes the
        focus, so it is seen."""
        proxy, _ = self.connect("work")
        os.remove(self.agent.profile_path("work"))
        hgtest.wait_for(lambda: "Profile “work” changed but cannot be read" in self.agent.stderr(),
                        message="the agent noticing the deletion")
        first_id, window = self.prompt(proxy, "first.example")
        proxy.ask("second.example")
        # The agent reads a connection's messages in order: after the
        # pong, the second question waits behind the first.
        proxy.send({"type": "ping", "id": "after-second"})
        proxy.expect("pong", id="after-second")

        ah.choose_duration(display, window, "always")
        ah.focus(display, window)
        ah.key(display, "alt+a")
        proxy.expect("decision", id=first_id)

        error_window = ah.find_window(display, ah.ERROR_TITLE)
        hgtest.wait_for(lambda: ah.xdotool(display, "getwindowfocus").strip() == str(error_window),
                        message="the error window with the focus")
        order = ah.stacking_order(display)
        self.assertGreater(order.index(error_window), order.index(window))
        ah.key(display, "Escape")
        ah.wait_no_window(display, ah.ERROR_TITLE)

    def test_open_prompt_learns_of_delete(self):
        """A prompt already shown when its profile's file is deleted adds
        the red line that says an Always answer cannot be saved: the
        window grows by it."""
        proxy, _ = self.connect("work")
        ask_id, window = self.prompt(proxy, "wanted.example")
        _, height = ah.window_size(display, window)

        os.remove(self.agent.profile_path("work"))
        hgtest.wait_for(lambda: ah.window_size(display, window)[1] > height,
                        message="the prompt to show the red line")

        proxy.cancel(ask_id)

    def test_always_whole_domain(self):
        proxy, _ = self.connect("work")
        ask_id, window = self.prompt(proxy, "www.shop.example.co.uk")
        ah.focus(display, window)
        ah.key(display, "alt+i")
        ah.choose_duration(display, window, "always")
        ah.click_button(display, window, "approve")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["pattern"], "*.example.co.uk")
        pushed = proxy.expect("filter")
        self.assertEqual(pushed["allow"], ["api.example", "example.co.uk", "*.example.co.uk"])

    def test_deny_always(self):
        proxy, _ = self.connect("work")
        ask_id, window = self.prompt(proxy, "tracker.example")
        ah.choose_duration(display, window, "always")
        ah.click_button(display, window, "deny")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "deny")
        pushed = proxy.expect("filter")
        self.assertEqual(pushed["deny"], ["tracker.example"])
        self.assertEqual(self.agent.read_profile("work")["network"]["deny_domain"],
                         ["tracker.example"])

    def test_external_edit_pushed(self):
        first, _ = self.connect("work")
        second, _ = self.connect("work")
        other, _ = self.connect("other")
        self.agent.write_profile("work", allow=["edited.example"], mode="off")
        for proxy in (first, second):
            pushed = proxy.expect("filter")
            self.assertEqual(pushed["allow"], ["edited.example"])
            self.assertEqual(pushed["approval_mode"], "off")
            self.assertNotIn("forget_session", pushed)
        other.expect_nothing("filter")

    def test_broken_edit_not_pushed(self):
        proxy, _ = self.connect("work")
        self.agent.write_profile("work", raw='{"network": {"allow_domain": ["a..b"]}}\n')
        proxy.expect_nothing("filter", wait=1.0)
        hgtest.wait_for(lambda: "cannot be read" in self.agent.stderr(),
                        message="the parse error in the log")


class CorruptProfileTest(AgentTestCase):
    CORRUPT = b'{\n  "network": { "allow_domain": ["keep.example", ]\n}\n'

    def profiles(self):
        return {}

    def test_corrupt_profile_untouched(self):
        path = self.agent.profile_path("broken")
        with open(path, "wb") as f:
            f.write(self.CORRUPT)
        proxy, welcome = self.connect("broken")
        self.assertEqual(proxy.expect("error")["code"], "invalid-profile")
        self.assertEqual(welcome["allow"], [])

        ask_id, window = self.prompt(proxy, "wanted.example")
        ah.choose_duration(display, window, "always")
        ah.click_button(display, window, "approve")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "approve")
        # It cannot be saved, so it lasts for the session.
        self.assertEqual(decision["duration"], "session")

        error_window = ah.find_window(display, ah.ERROR_TITLE)
        self.assertTrue(error_window)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.CORRUPT)
        self.assertEqual(sorted(os.listdir(self.agent.profiles)), ["broken.json"])
        proxy.expect_nothing("filter")
        # Escape closes the error window, as it does the other dialogs.
        ah.focus(display, error_window)
        ah.key(display, "Escape")
        ah.wait_no_window(display, ah.ERROR_TITLE)


if __name__ == "__main__":
    ah.main()
