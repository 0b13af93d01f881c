"""End-to-end tests of the agent's tray icon.

The built agent runs on an Xvfb display under dbus-run-session. On the
agent's own session bus, fake-sni-watcher (built next to the tests)
plays a tray host's org.kde.StatusNotifierWatcher and prints each item
that registers. The test then reads the item and its menu the way a
panel does, with `gdbus call`: the org.kde.StatusNotifierItem
properties, the com.canonical.dbusmenu layout, and a `clicked` event.
Prompts come from a fake proxy on the agent's socket.

gdbus prints replies as GVariant text; the helpers below read the few
values the tests need out of it with regular expressions."""

import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

import agentharness as ah
from fakeproxy import FakeProxy
from hgtest import TIMEOUT, wait_for

WATCHER = os.environ.get("HOSTGATE_SNI_WATCHER", "")
GDBUS = shutil.which("gdbus")
SETTINGS_TITLE = "hostgate Settings"
ITEM_PATH = "/StatusNotifierItem"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
MENU_PATH = "/io/github/hostgate/Agent/TrayMenu"
MENU_INTERFACE = "com.canonical.dbusmenu"

# A GVariant text string in single quotes, with its escapes.
QUOTED = r"'((?:[^'\\]|\\.)*)'"

display = None


def setUpModule():
    global display
    display = ah.Display()


def tearDownModule():
    if display is not None:
        display.close()


def bus_environment(agent):
    """Return an environment whose session bus is the one
    dbus-run-session gave the agent."""
    pid = wait_for(agent.agent_pid, message="the agent's process")
    with open(f"/proc/{pid}/environ", "rb") as f:
        for item in f.read().split(b"\0"):
            if item.startswith(b"DBUS_SESSION_BUS_ADDRESS="):
                address = item.split(b"=", 1)[1].decode()
                return dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
    raise AssertionError("the agent has no DBUS_SESSION_BUS_ADDRESS")


def gdbus_call(env, dest, path, method, *args):
    """Call method (INTERFACE.NAME) on dest with `gdbus call`; return
    the reply as GVariant text. The arguments follow `--` so that a
    negative number is not read as an option."""
    result = subprocess.run([GDBUS, "call", "--session", "--dest", dest, "--object-path", path,
                             "--method", method, "--", *[str(arg) for arg in args]],
                            capture_output=True, env=env, timeout=TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"gdbus call {method} failed: {result.stderr.decode()}")
    return result.stdout.decode()


def unescape(text):
    """Undo the escapes of a GVariant text string in single quotes."""
    return re.sub(r"\\(.)", r"\1", text)


def plain_label(label):
    """Return a dbusmenu label as shown: without the mnemonic marks
    (a single `_`; `__` stands for one underscore) and without a
    trailing ellipsis."""
    text = re.sub(r"_(_?)", r"\1", label)
    return text.removesuffix("…")


class Watcher:
    """A running fake-sni-watcher; lines() returns what it printed."""

    def __init__(self, env):
        self.process = subprocess.Popen([WATCHER], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, env=env)
        os.set_blocking(self.process.stdout.fileno(), False)
        self.output = b""

    def lines(self):
        """Read what the watcher printed so far; return the whole lines."""
        try:
            chunk = os.read(self.process.stdout.fileno(), 65536)
        except BlockingIOError:
            chunk = b""
        self.output += chunk or b""
        return [line.decode() for line in self.output.split(b"\n")[:-1]]

    def registrations(self):
        """Return (service, sender) of each RegisterStatusNotifierItem."""
        return [tuple(line.split()[1:3]) for line in self.lines()
                if line.startswith("registered ")]

    def wait_registrations(self, count):
        """Wait until count items have registered; return them all."""
        def done():
            if self.process.poll() is not None:
                raise AssertionError(f"fake-sni-watcher exited with {self.process.returncode}")
            found = self.registrations()
            return found if len(found) >= count else None

        return wait_for(done, message=f"{count} registration(s) with the watcher")

    def close(self):
        """Stop the watcher with SIGTERM; return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(TIMEOUT)
        self.process.stdout.close()
        return status


class TrayTestCase(unittest.TestCase):
    """Starts an agent with the profile `work` (approval mode ask), then
    a watcher on its bus, and waits for the tray to register."""

    def setUp(self):
        self.agent = ah.Agent(display, start=False)
        self.addCleanup(self.close_agent)
        self.agent.write_profile("work", allow=["api.example"])
        self.agent.start()
        self.env = bus_environment(self.agent)
        self.watcher = self.start_watcher()
        self.item, self.item_owner = self.watcher.wait_registrations(1)[0]

    def close_agent(self):
        self.agent.close()
        ah.wait_no_window(display)
        ah.wait_no_window(display, SETTINGS_TITLE)

    def start_watcher(self):
        watcher = Watcher(self.env)
        self.addCleanup(watcher.close)
        return watcher

    def connect(self, profile="work"):
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello(profile)
        return proxy

    def item_properties(self):
        """Return the item's properties as GVariant text (GetAll)."""
        return gdbus_call(self.env, self.item, ITEM_PATH, "org.freedesktop.DBus.Properties.GetAll",
                          ITEM_INTERFACE)

    def status(self):
        return re.search(r"'Status': <" + QUOTED + ">", self.item_properties()).group(1)

    def tooltip(self):
        """Return the tooltip's text, the last field of ToolTip."""
        match = re.search(r"'ToolTip': <\(" + QUOTED + r", @a\(iiay\) \[\], " + QUOTED + ", "
                          + QUOTED + r"\)>", self.item_properties())
        return unescape(match.group(3))

    def wait_status(self, status):
        wait_for(lambda: self.status() == status, interval=0.05,
                 message=f"the tray's Status {status}")

    def menu_items(self):
        """Return {shown label: id} of the menu's labelled items."""
        layout = gdbus_call(self.env, self.item, MENU_PATH, MENU_INTERFACE + ".GetLayout",
                            0, -1, "[]")
        items = re.findall(r"<\((-?\d+), \{'label': <" + QUOTED + ">", layout)
        return {plain_label(unescape(label)): int(item_id) for item_id, label in items}

    def click(self, item_id):
        gdbus_call(self.env, self.item, MENU_PATH, MENU_INTERFACE + ".Event",
                   item_id, "clicked", "<''>", 0)


class RegistrationTests(TrayTestCase):

    def test_item_named_after_agent(self):
        """The item registers under a bus name of its own, with the
        agent's pid in it, from the agent's connection."""
        pid = self.agent.agent_pid()
        self.assertRegex(self.item, rf"^org\.kde\.StatusNotifierItem-{pid}-\d+$")
        owner = gdbus_call(self.env, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus.GetNameOwner", self.item)
        self.assertEqual(owner.strip(), f"('{self.item_owner}',)")

    def test_registers_again_with_new_watcher(self):
        """A tray host that restarts gets the item again."""
        self.assertEqual(self.watcher.close(), 0)
        watcher = self.start_watcher()
        self.assertEqual(watcher.wait_registrations(1), [(self.item, self.item_owner)])


class PropertyTests(TrayTestCase):

    def test_idle_properties(self):
        properties = self.item_properties()
        self.assertIn("'Status': <'Active'>", properties)
        self.assertIn(f"'Menu': <objectpath '{MENU_PATH}'>", properties)
        self.assertIn("'Id': <'io.github.hostgate.Agent'>", properties)
        self.assertIn("'ItemIsMenu': <false>", properties)
        self.assertEqual(self.tooltip(), "No requests waiting")

    def test_idle_menu(self):
        items = self.menu_items()
        self.assertEqual(list(items), ["No requests waiting", "Pause Prompts", "Settings", "Quit"])


class MenuTests(TrayTestCase):

    def test_settings_item_opens_window(self):
        self.assertEqual(ah.list_windows(display, SETTINGS_TITLE), [])
        self.click(self.menu_items()["Settings"])
        ah.find_window(display, SETTINGS_TITLE)

    def test_unknown_item_rejected(self):
        with self.assertRaisesRegex(AssertionError, "No menu item has the id 999"):
            self.click(999)


class PromptTests(TrayTestCase):

    def test_waiting_prompt_needs_attention(self):
        """A waiting prompt turns the item to NeedsAttention, counts in
        the tooltip and is listed in the menu. Cancelling it turns the item
        back to Active."""
        proxy = self.connect()
        ask_id = proxy.ask("cancelled.example", port=8443)
        ah.find_window(display)

        self.wait_status("NeedsAttention")
        self.assertEqual(self.tooltip(), "1 request waiting")
        self.assertIn("cancelled.example:8443 — test sandbox", self.menu_items())

        proxy.cancel(ask_id)
        ah.wait_no_window(display)
        self.wait_status("Active")
        self.assertEqual(self.tooltip(), "No requests waiting")
        self.assertIn("No requests waiting", self.menu_items())

    def test_answered_prompt_returns_active(self):
        proxy = self.connect()
        ask_id = proxy.ask("denied.example")
        window = ah.find_window(display)
        self.wait_status("NeedsAttention")

        ah.wait_guard()
        ah.click_button(display, window, "deny")
        self.assertEqual(proxy.expect("decision", id=ask_id)["verdict"], "deny")

        self.wait_status("Active")
        self.assertEqual(self.tooltip(), "No requests waiting")


def main():
    if not WATCHER:
        print("1..0 # SKIP HOSTGATE_SNI_WATCHER is not set (the watcher is not built)", flush=True)
        sys.exit(0)
    if GDBUS is None:
        print("1..0 # SKIP gdbus is not installed", flush=True)
        sys.exit(0)
    ah.main()


if __name__ == "__main__":
    main()
