"""hostgate-agent in German on a virtual display, with the catalogue
from the build tree (HOSTGATE_LOCALEDIR, which meson sets) and
LANGUAGE=de in the C.UTF-8 locale.

The window titles are read with xdotool and the log lines from the
agent's stderr. Button labels cannot be read without an accessibility
bus, so the prompt's buttons are checked through their mnemonics, which
come from the translated labels: Alt+V presses „_Verweigern“ and Alt+E
presses „_Erlauben“."""

import os
import subprocess
import unittest

import agentharness as ah
import hgtest
import test_list_editor_display as lists
from fakeproxy import FakeProxy
from hgtest import TIMEOUT, wait_for

APPLICATION_ID = "io.github.hostgate.Agent"
GERMAN = {"LANGUAGE": "de", "LC_ALL": "C.UTF-8"}
PROMPT_TITLE = "Anfrage nach Netzwerkzugriff"
SETTINGS_TITLE = "hostgate-Einstellungen"

display = None


def setUpModule():
    global display
    display = ah.Display()


def tearDownModule():
    if display is not None:
        display.close()


class AgentGermanTest(unittest.TestCase):
    def setUp(self):
        if not os.environ.get("HOSTGATE_LOCALEDIR"):
            self.skipTest("HOSTGATE_LOCALEDIR is not set")
        # unittest runs cleanups in reverse order, so these waits run
        # after the agent has stopped.
        self.addCleanup(ah.wait_no_window, display, SETTINGS_TITLE)
        self.addCleanup(ah.wait_no_window, display, PROMPT_TITLE)
        # ah.Agent.start() waits for the English start line, which this
        # agent writes in German.
        self.agent = ah.Agent(display, start=False, env=GERMAN)
        self.addCleanup(self.agent.close)
        self.agent.launch()
        wait_for(self.listening, message="the agent's socket and „Lauscht auf“ in its log")

    def listening(self):
        """Tell whether the agent listens and has logged it in German."""
        process = self.agent.process
        if process.poll() is not None:
            raise AssertionError(
                f"hostgate-agent exited with {process.returncode}: {self.agent.stderr()}")
        return (self.agent.listening()
                and f"Lauscht auf {self.agent.socket_path}" in self.agent.stderr())

    def ask(self, host):
        """Connect a fake proxy, ask about host; return (proxy, id, window)."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello(label="i18n test")
        ask_id = proxy.ask(host)
        window = ah.find_window(display, PROMPT_TITLE)
        ah.wait_guard()
        ah.focus(display, window)
        return proxy, ask_id, window

    def test_prompt_title(self):
        proxy, ask_id, window = self.ask("title.example")
        self.assertEqual(ah.xdotool(display, "getwindowname", window).strip(), PROMPT_TITLE)
        self.assertEqual(ah.list_windows(display, ah.PROMPT_TITLE), [])
        proxy.cancel(ask_id)

    def test_prompt_deny_mnemonic(self):
        proxy, ask_id, window = self.ask("deny.example")
        ah.key(display, "alt+v")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "deny")
        self.assertEqual(decision["duration"], "once")

    def test_prompt_approve_mnemonic(self):
        proxy, ask_id, window = self.ask("approve.example")
        ah.key(display, "alt+e")
        decision = proxy.expect("decision", id=ask_id)
        self.assertEqual(decision["verdict"], "approve")
        self.assertEqual(decision["duration"], "once")

    def test_session_log_lines(self):
        with_command = FakeProxy(self.agent.socket_path)
        self.addCleanup(with_command.close)
        with_command.hello(label="i18n test", command="curl example")
        without_command = FakeProxy(self.agent.socket_path)
        self.addCleanup(without_command.close)
        without_command.hello(label="i18n test", command="")

        pid = os.getpid()
        expected = [
            f"Sitzung {with_command.session_id} verbunden: Bezeichnung „i18n test“, "
            f"Profil „default“, PID {pid}, Befehl „curl example“\n",
            f"Sitzung {without_command.session_id} verbunden: Bezeichnung „i18n test“, "
            f"Profil „default“, PID {pid}\n",
        ]
        for line in expected:
            wait_for(lambda: line in self.agent.stderr(),
                     message=f"“{line.strip()}” in the agent's log")
        self.assertNotIn(f"Session {with_command.session_id} connected", self.agent.stderr())

    def open_settings(self):
        """Activate the agent's `settings` action; return the window id."""
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.agent.bus_address(),
                   DISPLAY=display.name)
        result = subprocess.run(["gapplication", "action", APPLICATION_ID, "settings"],
                                capture_output=True, env=env, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        window = ah.find_window(display, SETTINGS_TITLE)
        ah.focus(display, window)
        return window

    def test_settings_title(self):
        window = self.open_settings()
        self.assertEqual(ah.xdotool(display, "getwindowname", window).strip(), SETTINGS_TITLE)

    def test_list_message_whole(self):
        """The German reason under the allow list's add field is longer
        than the English one and is shown whole. Alt+E is the mnemonic of
        „_Erlaubte Hosts“; Tab moves the focus to the message, whose text
        becomes the primary selection."""
        self.open_settings()
        lists.display = display
        ah.key(display, "alt+e")
        ah.xdotool(display, "type", "--delay", "10", "http://x.test")
        reason = "ein Eintrag darf kein Schema wie „http://“ enthalten; geben Sie nur den Hostnamen an"
        texts = [""]

        def shown():
            ah.key(display, "alt+e", "Tab")
            texts.append(lists.read_primary_selection() or "")
            return "http://x.test" in texts[-1]

        wait_for(shown, interval=0.2, message="the message under the allow list")
        self.assertEqual(texts[-1], f"Ungültiger Listeneintrag „http://x.test“: {reason}")

    def test_forget_mnemonic(self):
        """Alt+A presses „Sitzungs_antworten vergessen“ on the Sessions
        page, the middle button of the page switcher in the header bar.
        The button turns sensitive when the page next reads the session
        list, so the key is pressed until the agent logs the request."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello(label="i18n test")
        window = self.open_settings()
        width, _ = ah.window_size(display, window)
        ah.click(display, window, width // 2, 26)

        def forgotten():
            if "Sitzungsantworten zu vergessen" in self.agent.stderr():
                return True
            ah.key(display, "alt+a")
            return False

        wait_for(forgotten, interval=0.5, message="the agent's log of the forget request")
        self.assertIs(proxy.expect("filter")["forget_session"], True)

    def test_agent_help(self):
        env = dict(os.environ, **GERMAN)
        result = subprocess.run([ah.AGENT_PATH, "--help"], capture_output=True, text=True,
                                env=env, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Version ausgeben und beenden", result.stdout)


if __name__ == "__main__":
    ah.main()
