"""End-to-end tests of the agent's settings window.

The built agent runs on an Xvfb display. The window is opened through
the application's `settings` action over D-Bus, as the tray and
`gapplication` open it. Entries are typed and added with real X input
from xdotool, and the profile files on disk are checked afterwards."""

import json
import os
import subprocess
import time
import unittest
from collections import Counter

import agentharness as ah
import hgtest
from fakeproxy import FakeProxy
from hgtest import TIMEOUT, wait_for

APPLICATION_ID = "io.github.hostgate.Agent"
SETTINGS_TITLE = "hostgate Settings"

display = None


def setUpModule():
    global display
    display = ah.Display()


def tearDownModule():
    if display is not None:
        display.close()


def open_settings(agent):
    """Activate the agent's `settings` action; return the window id."""
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=agent.bus_address(), DISPLAY=display.name)
    result = subprocess.run(["gapplication", "action", APPLICATION_ID, "settings"],
                            capture_output=True, env=env, timeout=TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"gapplication action failed: {result.stderr.decode()}")
    window = ah.find_window(display, SETTINGS_TITLE)
    # A click sent right after the window maps can be lost; once the
    # window has the input focus, GTK has handled the map.
    ah.focus(display, window)
    return window


def focus_allow_field():
    """Move the focus to the allow list's add field with its mnemonic,
    Alt+A of the list's heading “Allowed hosts”."""
    ah.key(display, "alt+a")


def focus_deny_field():
    """Move the focus to the deny list's add field with Alt+E, the
    mnemonic of the heading “Denied hosts”."""
    ah.key(display, "alt+e")


def allow_add_button(window):
    """Return the centre of the allow list's Add button, at the right end
    of the left column. The page has an 18 px margin, the two lists share
    its width with 18 px between them, and the button is about 58 px
    wide. The add row is the last row of the list, centred 40 px above
    the window's bottom edge while no message shows under the field."""
    width, height = ah.window_size(display, window)
    return width // 2 - 9 - 29, height - 40


def retype(text):
    """Replace the text of the focused field with text."""
    ah.key(display, "ctrl+a", "BackSpace")
    ah.xdotool(display, "type", "--delay", "10", text)


def choose_approval(arrow):
    """Pick the approval drop-down's next ("Down", Ask me) or previous
    ("Up", Off) row: Alt+H focuses it, Space opens its list, the arrow
    and Return pick the row."""
    ah.key(display, "alt+h")
    ah.key(display, "space")
    wait_for(lambda: len(ah.xdotool(display, "search", "--onlyvisible", "--class",
                                    "hostgate-agent", check=False).split()) > 1,
             message="the drop-down's list")
    ah.key(display, arrow, "Return")


def history_tab(window):
    """Return the centre of the History button of the page switcher in
    the header bar, the last of three buttons centred in the window."""
    width, height = ah.window_size(display, window)
    return width // 2 + 132, 26


def sessions_tab(window):
    """Return the centre of the Sessions button of the page switcher, the
    middle of three buttons centred in the header bar."""
    width, height = ah.window_size(display, window)
    return width // 2, 26


def newest_allow_always(window):
    """Return the centre of Allow Always in the newest history row. At
    the window's default width the page's description takes two lines,
    so the first row spans 138 to 194 px below the top. The buttons
    are stacked in the last column, which ends 25 px left of the right
    edge: Allow Always above, centred 157 px below the top."""
    width, height = ah.window_size(display, window)
    return width - 91, 157


def newest_deny_always(window):
    """Return the centre of Deny Always in the newest history row, the
    button under Allow Always (see newest_allow_always)."""
    width, height = ah.window_size(display, window)
    return width - 91, 177


def history_row_centre(index):
    """Return the y of the centre of history row index, 0 the first
    shown. The first is centred 166 px below the window's top (see
    newest_allow_always), and the two stacked buttons make every row
    56 px tall."""
    return 166 + 56 * index


def history_column_edges(window):
    """Return the x of each line between two columns of the history, left
    to right, read from a capture of the first row. Inside a row only
    these lines are a straight run of one colour, other than the row's
    own background, through the row's whole height."""
    width, height = ah.window_size(display, window)
    left = 30
    top = history_row_centre(0) - 20
    rows = ah.capture(display, window, left, top, width - 2 * left, 40)
    size = len(rows[0]) // (width - 2 * left)
    pixels = [[row[x:x + size] for x in range(0, len(row), size)] for row in rows]
    background = Counter(pixel for row in pixels for pixel in row).most_common(1)[0][0]
    edges = []
    for x in range(len(pixels[0])):
        colours = {row[x] for row in pixels}
        if len(colours) == 1 and background not in colours and left + x - 1 not in edges:
            edges.append(left + x)
    return edges


def tooltip_shown(window, x, y, expected):
    """Rest the pointer on (x, y) of window and return whether a tooltip
    opens, as a window at least one line of text tall. A tooltip opens
    after half a second. When none is expected, the check waits two
    seconds for one, because absence cannot be polled."""
    move_pointer_away()
    before = ah.visible_windows(display)

    def tooltip():
        return ah.popup_geometry(display, before, min_height=10)

    ah.xdotool(display, "mousemove", "--window", window, x, y)
    if expected:
        return wait_for(tooltip, message="a tooltip") is not None
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if tooltip() is not None:
            return True
        time.sleep(0.1)
    return False


def history_rows(window):
    """Return (x, y, width, height) of a rectangle inside the history
    rows, below the column titles. It leaves out the scroll bar at the
    right, which moves whenever a row is added."""
    width, height = ah.window_size(display, window)
    return 30, 145, width - 90, height - 175


def scroll_history(window, clicks, button):
    """Turn the mouse wheel over the history rows: button 5 scrolls
    down, button 4 up and button 7 right."""
    width, height = ah.window_size(display, window)
    ah.xdotool(display, "mousemove", "--window", window, width // 2, height // 2)
    for _ in range(clicks):
        ah.xdotool(display, "click", button)


def warning_shown(window):
    """Return whether window shows a warning bar, found by its background
    of light beige (241, 230, 217 in the theme): pixels whose red is well
    above their blue. The theme's other colours are greys, white and
    blue."""
    width, height = ah.window_size(display, window)
    rows = ah.capture(display, window, 0, 0, width, min(height, 200))
    size = len(rows[0]) // width
    beige = 0
    for row in rows:
        for x in range(0, len(row), size):
            blue, green, red = row[x], row[x + 1], row[x + 2]
            if red - blue >= 18 and green - blue >= 8:
                beige += 1
    return beige > width * 10


def move_pointer_away():
    """Move the pointer to the screen corner, outside the window, so no
    row is drawn as hovered."""
    ah.xdotool(display, "mousemove", 1020, 764)


def wait_still(window, rect):
    """Wait until two captures of rect in a row are equal, which means
    scrolling and redrawing are done, and return the capture."""
    previous = [None]

    def still():
        current = ah.capture(display, window, *rect)
        done = current == previous[0]
        previous[0] = current
        return current if done else None

    return wait_for(still, interval=0.1, message="the history rows to stop moving")


def send_events(proxy, hosts):
    """Send one denied request per host, oldest first, and wait until
    they are in the history. The agent reads a connection's messages in
    order, so its pong to the ping sent after them means that."""
    for host in hosts:
        proxy.send({"type": "event", "session": proxy.session_id, "method": "CONNECT",
                    "host": host, "port": 443, "decision": "deny",
                    "reason": f'"{host}" is denied by the deny list', "duration_ms": 3})
    proxy.send({"type": "ping", "id": f"after-{hosts[-1]}"})
    proxy.expect("pong", id=f"after-{hosts[-1]}")


def send_event(proxy, host, decision, reason, **fields):
    """Send one request of host to port 443 with decision and reason,
    plus any other event fields, and wait until it is in the history."""
    proxy.send({"type": "event", "session": proxy.session_id, "method": "CONNECT",
                "host": host, "port": 443, "decision": decision, "reason": reason,
                "duration_ms": 3, **fields})
    proxy.send({"type": "ping", "id": f"after-{host}"})
    proxy.expect("pong", id=f"after-{host}")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class SettingsTestCase(unittest.TestCase):
    """Starts a fresh agent per test with the profiles from profiles()."""

    def profiles(self):
        return {}

    def setUp(self):
        self.agent = ah.Agent(display, start=False)
        for name, text in self.profiles().items():
            self.agent.write_profile(name, raw=text)
        self.agent.start()
        self.window = open_settings(self.agent)

    def tearDown(self):
        self.agent.close()
        ah.wait_no_window(display, SETTINGS_TITLE)

    def wait_allow(self, expected, name="default"):
        """Wait until profile name's allow list is expected."""
        path = self.agent.profile_path(name)

        def done():
            return os.path.exists(path) and read_json(path)["network"]["allow_domain"] == expected

        wait_for(done, message=f"allow list {expected} in {path}")

    def wait_log(self, text):
        wait_for(lambda: text in self.agent.stderr(), message=f"{text!r} in the agent's log")


class AddTests(SettingsTestCase):

    def test_add_button_writes_entry(self):
        """The built-in default gets its file on the first added entry."""
        path = self.agent.profile_path("default")
        self.assertFalse(os.path.exists(path))

        focus_allow_field()
        retype("API.Example.COM")
        ah.click(display, self.window, *allow_add_button(self.window))

        self.wait_allow(["api.example.com"])
        self.assertEqual(read_json(path)["network"]["deny_domain"], [])

    def test_invalid_entry_not_written(self):
        """Return in the field does not add an invalid entry; the valid
        entry typed after it is the only one written. The store runs
        edits in order, so had the invalid entry been sent it would be in
        the file or its failure in the log first."""
        focus_allow_field()
        retype("bad..example")
        ah.key(display, "Return")

        retype("good.example")
        ah.key(display, "Return")

        self.wait_allow(["good.example"])
        self.assertNotIn("bad..example", self.agent.stderr())
        self.assertNotIn("Editing profile", self.agent.stderr())

    def test_star_rejected_in_deny_list(self):
        """`*` is valid in the allow list only."""
        path = self.agent.profile_path("default")

        focus_deny_field()
        retype("*")
        ah.key(display, "Return")
        retype("ads.example")
        ah.key(display, "Return")

        wait_for(lambda: os.path.exists(path) and
                 read_json(path)["network"]["deny_domain"] == ["ads.example"],
                 message=f"deny list ['ads.example'] in {path}")
        self.assertEqual(read_json(path)["network"]["allow_domain"], [])


class PushTests(SettingsTestCase):
    """An entry added in the window reaches a connected proxy as a
    `filter` message. An invalid entry reaches neither disk nor proxy."""

    def setUp(self):
        super().setUp()
        self.proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(self.proxy.close)
        self.welcome = self.proxy.hello("default")
        ah.focus(display, self.window)

    def test_added_entry_sent_to_proxy(self):
        focus_allow_field()
        retype("*.example.com")
        ah.click(display, self.window, *allow_add_button(self.window))

        self.wait_allow(["*.example.com"])
        message = self.proxy.expect("filter")
        self.assertEqual(message["profile"], "default")
        self.assertIn("*.example.com", message["allow"])
        self.assertNotEqual(message["revision"], self.welcome["revision"])

    def test_invalid_entry_not_sent(self):
        """The check for absence waits a bounded time. The valid entry
        typed next must be the only one pushed, because the agent
        handles the field's input in order."""
        path = self.agent.profile_path("default")

        focus_allow_field()
        retype("bad..example.com")
        ah.key(display, "Return")

        self.proxy.expect_nothing("filter")
        self.assertFalse(os.path.exists(path))

        retype("good.example.com")
        ah.key(display, "Return")

        self.wait_allow(["good.example.com"])
        self.assertEqual(self.proxy.expect("filter")["allow"], ["good.example.com"])
        self.proxy.expect_nothing("filter")


class BrokenProfileTests(SettingsTestCase):
    """A profile file with a syntax error is never rewritten, and the
    text typed is kept so it can be added once the file is fixed."""

    BROKEN = '{"network": {"allow_domain": ["a.example" "b.example"]}}\n'

    def profiles(self):
        return {"default": self.BROKEN}

    def test_broken_file_untouched_and_input_kept(self):
        path = self.agent.profile_path("default")

        focus_allow_field()
        retype("kept.example")
        ah.key(display, "Return")
        self.wait_log("Editing profile “default” failed")

        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), self.BROKEN)

        self.agent.write_profile("default", allow=["a.example"])
        # The field still has the focus and the text: Return adds it now.
        wait_for(lambda: self.agent.read_profile("default")["network"]["allow_domain"] == ["a.example"],
                 message="the fixed profile on disk")
        ah.key(display, "End", "Return")

        self.wait_allow(["a.example", "kept.example"])


class ProfileTests(SettingsTestCase):

    def profiles(self):
        return {"default": json.dumps({"network": {"allow_domain": ["api.example"]}})}

    def test_new_profile_name_checked(self):
        """New… refuses an invalid name and an existing one, then creates
        the profile under a valid name."""
        ah.key(display, "alt+n")
        retype("../x")
        ah.key(display, "Return")
        retype("default")
        ah.key(display, "Return")
        retype("work")
        ah.key(display, "Return")

        path = self.agent.profile_path("work")
        wait_for(lambda: os.path.exists(path), message=path)
        self.assertEqual(read_json(path)["network"]["allow_domain"], [])
        self.assertEqual(sorted(os.listdir(self.agent.profiles)), ["default.json", "work.json"])
        self.assertEqual(read_json(self.agent.profile_path("default"))["network"]["allow_domain"],
                         ["api.example"])
        self.assertNotIn("Editing profile", self.agent.stderr())

    def test_deleted_profile_text_cleared(self):
        """When the file of the profile shown is deleted outside the
        window, the window shows `default`, and what was typed for the
        deleted profile is cleared instead of going into `default`."""
        ah.key(display, "alt+n")
        retype("work")
        ah.key(display, "Return")
        path = self.agent.profile_path("work")
        wait_for(lambda: os.path.exists(path), message=path)

        focus_allow_field()
        retype("typed.example")
        os.unlink(path)
        wait_for(lambda: "The file of the profile “work”" in self.agent.stderr(),
                 message="the deletion in the log")
        focus_allow_field()
        ah.key(display, "End", "Return")
        retype("later.example")
        ah.key(display, "Return")

        self.wait_allow(["api.example", "later.example"])
        self.assertFalse(os.path.exists(path))

    def test_deletion_notice_hidden_by_new_profile(self):
        """The warning that the profile shown was deleted outside the
        window goes away when a profile is created from the window."""
        ah.key(display, "alt+n")
        retype("work")
        ah.key(display, "Return")
        path = self.agent.profile_path("work")
        wait_for(lambda: os.path.exists(path), message=path)
        self.assertFalse(warning_shown(self.window))

        os.unlink(path)
        wait_for(lambda: warning_shown(self.window), message="the deletion warning")

        ah.key(display, "alt+n")
        retype("other")
        ah.key(display, "Return")
        wait_for(lambda: os.path.exists(self.agent.profile_path("other")), message="other.json")
        wait_for(lambda: not warning_shown(self.window), message="the deletion warning hidden")

    def test_reset_default_removes_file(self):
        """Reset… on `default` shows a confirmation first, and confirming
        removes the file."""
        path = self.agent.profile_path("default")

        ah.key(display, "alt+t")
        dialog = ah.find_window(display, "Reset Profile")
        ah.focus(display, dialog)
        ah.key(display, "Escape")
        ah.wait_no_window(display, "Reset Profile")

        # Edits run in order: the entry added after the cancelled dialog
        # lands in the file, so the dialog deleted nothing.
        focus_allow_field()
        retype("b.example")
        ah.key(display, "Return")
        self.wait_allow(["api.example", "b.example"])

        ah.key(display, "alt+t")
        dialog = ah.find_window(display, "Reset Profile")
        ah.focus(display, dialog)
        ah.key(display, "alt+r")
        wait_for(lambda: not os.path.exists(path), message=f"{path} removed")


class ApprovalTests(SettingsTestCase):

    def test_approval_settings_written(self):
        """The timeout spin button and the approval drop-down write
        approval_timeout_secs and approval_mode; a timeout over 300 s
        becomes 300 s."""
        path = self.agent.profile_path("default")

        ah.key(display, "alt+w")
        retype("900")
        ah.key(display, "Tab")
        wait_for(lambda: os.path.exists(path) and
                 read_json(path)["network"]["approval_timeout_secs"] == 300,
                 message=f"approval_timeout_secs 300 in {path}")
        self.assertEqual(read_json(path)["network"]["approval_mode"], "off")

        choose_approval("Down")
        wait_for(lambda: read_json(path)["network"]["approval_mode"] == "ask",
                 message=f"approval_mode ask in {path}")
        self.assertEqual(read_json(path)["network"]["approval_timeout_secs"], 300)

        # Text that is no number keeps the timeout: without the check it
        # became 0 and was saved as the lowest timeout, 5 s. Changing the
        # mode afterwards writes the file again with whatever the field
        # holds, so the file shows what the field kept.
        ah.key(display, "alt+w")
        retype("abc")
        ah.key(display, "Tab")
        choose_approval("Up")
        wait_for(lambda: read_json(path)["network"]["approval_mode"] == "off",
                 message=f"approval_mode off in {path}")
        self.assertEqual(read_json(path)["network"]["approval_timeout_secs"], 300)


class HistoryTests(SettingsTestCase):

    def profiles(self):
        return {"work": json.dumps({"network": {"allow_domain": ["api.example"]}})}

    def test_allow_always_writes_rule(self):
        """Allow Always on a history row adds its host, without the
        port, to the profile of the session that made the request."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("work", label="npm build")
        proxy.send({"type": "event", "time": "2026-12-04T20:17:03.512Z", "session": proxy.session_id,
                    "method": "CONNECT", "host": "GitHub.com", "port": 443, "decision": "deny",
                    "reason": "on neither list", "duration_ms": 3})
        # The agent reads a connection's messages in order, so the pong
        # means the event is in the history.
        proxy.send({"type": "ping", "id": "after-event"})
        proxy.expect("pong", id="after-event")

        ah.click(display, self.window, *history_tab(self.window))
        ah.click(display, self.window, *newest_allow_always(self.window))

        self.wait_allow(["api.example", "github.com"], name="work")
        self.assertFalse(os.path.exists(self.agent.profile_path("default")))

    def test_history_opens_without_button_focus(self):
        """Switching to the History page does not put the keyboard focus
        on a row's Allow Always button, which Space would press. The
        allow list then gets only the entry clicked afterwards; the
        writes run in order, so a pressed button would show first."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("work", label="npm build")
        send_events(proxy, ["first.example"])

        ah.click(display, self.window, *history_tab(self.window))
        move_pointer_away()
        wait_still(self.window, history_rows(self.window))
        ah.key(display, "space", "Return")
        send_events(proxy, ["second.example"])
        wait_still(self.window, history_rows(self.window))
        ah.click(display, self.window, *newest_allow_always(self.window))

        self.wait_allow(["api.example", "second.example"], name="work")

    def test_deny_always_writes_rule(self):
        """Deny Always, stacked under Allow Always, adds the host to the
        deny list of the session's profile."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("work", label="npm build")
        send_events(proxy, ["tracker.example"])

        ah.click(display, self.window, *history_tab(self.window))
        move_pointer_away()
        wait_still(self.window, history_rows(self.window))
        ah.click(display, self.window, *newest_deny_always(self.window))

        path = self.agent.profile_path("work")
        wait_for(lambda: read_json(path)["network"]["deny_domain"] == ["tracker.example"],
                 message=f"deny list ['tracker.example'] in {path}")
        self.assertEqual(read_json(path)["network"]["allow_domain"], ["api.example"])

    def test_allow_always_after_delete_refused(self):
        """Allow Always for a profile whose file was deleted while a proxy
        uses it writes no new file: that file would hold only the new
        entry and replace the proxy's lists. The agent logs the refusal
        as it logs a failed write."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("work", label="npm build")
        send_events(proxy, ["wanted.example"])
        os.remove(self.agent.profile_path("work"))
        self.wait_log("Profile “work” changed but cannot be read")

        ah.click(display, self.window, *history_tab(self.window))
        move_pointer_away()
        wait_still(self.window, history_rows(self.window))
        ah.click(display, self.window, *newest_allow_always(self.window))

        self.wait_log("Could not save wanted.example to profile “work”: ")
        proxy.expect_nothing("filter")
        self.assertEqual(os.listdir(self.agent.profiles), [])


class HistoryScrollTests(SettingsTestCase):
    """The history shows the newest requests first. It follows new
    requests while it shows the top, and keeps the rows in view still
    while the person reads further down. Allow Always on the first row
    shows which request is at the top, through the host it writes."""

    OLD_HOSTS = [f"old{number}.example" for number in range(40)]

    def profiles(self):
        return {"work": json.dumps({"network": {"allow_domain": ["api.example"]}})}

    def setUp(self):
        super().setUp()
        self.proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(self.proxy.close)
        self.proxy.hello("work", label="npm build")

    def allow_first_row(self):
        """Click Allow Always in the first row once the rows stand still."""
        move_pointer_away()
        wait_still(self.window, history_rows(self.window))
        ah.click(display, self.window, *newest_allow_always(self.window))

    def test_opens_at_newest(self):
        """Requests that came in while another page was shown are there,
        newest at the top, when the History page opens."""
        send_events(self.proxy, self.OLD_HOSTS)

        ah.click(display, self.window, *history_tab(self.window))
        self.allow_first_row()

        self.wait_allow(["api.example", "old39.example"], name="work")

    def test_top_follows_new_requests(self):
        """While the page shows the top, each new request appears there."""
        ah.click(display, self.window, *history_tab(self.window))
        send_events(self.proxy, self.OLD_HOSTS)
        send_events(self.proxy, ["newest.example"])

        self.allow_first_row()

        self.wait_allow(["api.example", "newest.example"], name="work")

    def test_scrolled_rows_stay_put(self):
        """Requests that come in while the person reads further down do
        not move the rows in view, and they are at the top once the
        person scrolls back up. Whether the rows stay still can only be
        watched for a bounded time, one second."""
        ah.click(display, self.window, *history_tab(self.window))
        send_events(self.proxy, self.OLD_HOSTS)
        scroll_history(self.window, 3, 5)
        move_pointer_away()
        rect = history_rows(self.window)
        before = wait_still(self.window, rect)

        send_events(self.proxy, [f"new{number}.example" for number in range(5)])

        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.assertTrue(ah.capture(display, self.window, *rect) == before,
                            "the rows in view moved when requests came in above them")
            time.sleep(0.05)

        scroll_history(self.window, 40, 4)
        self.allow_first_row()
        self.wait_allow(["api.example", "new4.example"], name="work")


class HistoryLoadTests(SettingsTestCase):

    def test_many_requests_handled_quickly(self):
        """300 requests reach the shown history within the harness's
        timeout of 10 s. While the cells set their tooltips as they were
        bound, each added row made GTK query the X server again for every
        row, and 200 requests took 16 s (measured on Xvfb; 300 take about
        1 s without that)."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("default", label="npm build")
        ah.click(display, self.window, *history_tab(self.window))

        send_events(proxy, [f"host{number}.example" for number in range(300)])


class HistoryColumnTests(SettingsTestCase):
    """At the window's default size the Host column shows a usual host in
    full, and the Session and Reason columns a default session label and
    the usual reasons. A cell shows a tooltip with its whole text only
    when the text is cut short, so whether a tooltip opens shows whether
    the cell is cut. The rows, newest first: registry.npmjs.org and
    LONG_HOST of “npm ci (frontend)”, then two rows of a session with the
    proxy's default style of label, one of them from an earlier day."""

    LONG_HOST = "a-very-long-subdomain-name-for-testing.cdn.eu-west-1.storage.example-cloud.com"
    DEFAULT_LABEL = "name on 127.0.0.1:43247"

    def setUp(self):
        super().setUp()
        self.proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(self.proxy.close)
        self.proxy.hello("default", label="npm ci (frontend)")
        self.unnamed = FakeProxy(self.agent.socket_path)
        self.addCleanup(self.unnamed.close)
        self.unnamed.hello("default", label=self.DEFAULT_LABEL)

        send_event(self.unnamed, "ads.example", "deny", "not in the allow list")
        send_event(self.unnamed, "api.example", "approval-granted", "approved by the user once",
                   time="2026-01-02T03:04:05Z")
        send_events(self.proxy, [self.LONG_HOST, "registry.npmjs.org"])
        ah.click(display, self.window, *history_tab(self.window))
        move_pointer_away()
        wait_still(self.window, history_rows(self.window))
        self.edges = history_column_edges(self.window)

    def column_centre(self, index):
        """Return the x of the centre of column index, from 1 for Session
        to 5 for Reason, which lie between two column edges."""
        self.assertGreaterEqual(len(self.edges), 6, f"column edges found: {self.edges}")
        return (self.edges[index - 1] + self.edges[index]) // 2

    def assert_whole(self, column, row, text):
        x = self.column_centre(column)
        self.assertFalse(tooltip_shown(self.window, x, history_row_centre(row), expected=False),
                         f"{text} is cut short")

    def test_long_host_cut_with_tooltip(self):
        """A host longer than the column shows its whole text in a tooltip."""
        x = self.column_centre(2)
        self.assertTrue(tooltip_shown(self.window, x, history_row_centre(1), expected=True))

    def test_usual_host_shown_whole(self):
        """registry.npmjs.org:443 fits, so it needs no tooltip."""
        self.assert_whole(2, 0, "the host registry.npmjs.org:443")

    def test_session_label_shown_whole(self):
        """The label “npm ci (frontend)” fits on the cell's two lines."""
        self.assert_whole(1, 0, "the session label npm ci (frontend)")

    def test_default_session_label_shown_whole(self):
        """The label keeps its port, which tells two proxies of one
        profile apart."""
        self.assert_whole(1, 2, f"the session label {self.DEFAULT_LABEL}")

    def test_usual_reasons_shown_whole(self):
        self.assert_whole(5, 2, "the reason approved by the user once")
        self.assert_whole(5, 3, "the reason not in the allow list")

    def test_no_horizontal_scrolling(self):
        """The columns fit the view, so scrolling right moves nothing.
        That can only be watched for a bounded time, two seconds."""
        rect = history_rows(self.window)
        before = ah.capture(display, self.window, *rect)

        scroll_history(self.window, 5, 7)
        move_pointer_away()
        wait_still(self.window, rect)

        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            self.assertTrue(ah.capture(display, self.window, *rect) == before,
                            "the history scrolled sideways, so it is wider than its view")
            time.sleep(0.05)


class HistoryColumnWidthTests(SettingsTestCase):
    """The columns keep their widths whatever the rows in view contain."""

    def test_columns_keep_width(self):
        """30 requests with a long host, a long reason, a date and the
        longest decision come in after two short ones, and the lines
        between the columns stay where they were."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("default", label="ci")
        send_events(proxy, ["a.example", "b.example"])
        ah.click(display, self.window, *history_tab(self.window))
        move_pointer_away()
        wait_still(self.window, history_rows(self.window))
        edges = history_column_edges(self.window)

        for number in range(30):
            proxy.send({"type": "event", "time": "2026-01-02T03:04:05Z", "session": proxy.session_id,
                        "method": "CONNECT", "host": f"{number}.{HistoryColumnTests.LONG_HOST}",
                        "port": 443, "decision": "approval-failed",
                        "reason": "the question could not be shown on the display", "duration_ms": 12345})
        send_events(proxy, ["c.example"])
        wait_still(self.window, history_rows(self.window))

        self.assertGreaterEqual(len(edges), 6, f"column edges found: {edges}")
        self.assertEqual(history_column_edges(self.window), edges)


class SessionsTests(SettingsTestCase):

    def profiles(self):
        return {"work": json.dumps({"network": {"allow_domain": ["api.example"],
                                                "approval_mode": "ask"}})}

    def connect(self, label):
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        welcome = proxy.hello("work", label=label)
        return proxy, welcome

    def test_forget_button_sends_filter(self):
        """Forget Session Decisions, reached with Alt+F on the Sessions
        page, sends the selected proxy its profile's filter with
        forget_session at the same revision, and only to that proxy."""
        first, welcome = self.connect("first sandbox")
        second, _ = self.connect("second sandbox")
        self.wait_log(f"Session {second.session_id}")

        ah.click(display, self.window, *sessions_tab(self.window))
        # The first session is selected by default. The button turns
        # sensitive when the page next reads the session list after
        # `hello`, within two seconds, so Alt+F is pressed until the
        # agent logs the request.
        wait_for(lambda: self.forget_logged() or self.press_forget(), interval=0.5,
                 message="the agent's log of the forget request")

        message = first.expect("filter")
        self.assertIs(message["forget_session"], True)
        self.assertEqual(message["profile"], "work")
        self.assertEqual(message["revision"], welcome["revision"])
        self.assertEqual(message["allow"], ["api.example"])
        self.assertEqual(message["approval_mode"], "ask")
        self.assertIn(f"Session {first.session_id}: asked the proxy to forget", self.agent.stderr())
        second.expect_nothing("filter")

    def test_forget_without_profile_keeps_lists(self):
        """For a proxy whose profile the agent has no file for, Forget
        Session Decisions still works: an invalid-profile error goes
        right before the filter, so the proxy keeps its own lists."""
        proxy = FakeProxy(self.agent.socket_path)
        self.addCleanup(proxy.close)
        proxy.hello("elsewhere", label="own lists")
        self.assertEqual(proxy.expect("error")["code"], "invalid-profile")
        self.wait_log(f"Session {proxy.session_id}")

        ah.click(display, self.window, *sessions_tab(self.window))
        wait_for(lambda: self.forget_logged() or self.press_forget(), interval=0.5,
                 message="the agent's log of the forget request")

        error = proxy.expect("error")
        self.assertEqual(error["code"], "invalid-profile")
        self.assertIn("no profile “elsewhere”", error["message"])
        message = proxy.expect("filter")
        self.assertIs(message["forget_session"], True)
        self.assertEqual(message["profile"], "elsewhere")
        self.assertFalse(os.path.exists(self.agent.profile_path("elsewhere")))

    def forget_logged(self):
        return "asked the proxy to forget" in self.agent.stderr()

    def press_forget(self):
        ah.key(display, "alt+f")
        return False


class LaunchTests(unittest.TestCase):

    def test_second_launch_opens_settings(self):
        """The agent's own start shows no window; launching it again, as
        a click on its launcher does, brings up Settings."""
        with ah.Agent(display) as agent:
            self.assertEqual(ah.list_windows(display, SETTINGS_TITLE), [])

            env = dict(agent.environment(), DBUS_SESSION_BUS_ADDRESS=agent.bus_address())
            result = subprocess.run([ah.AGENT_PATH], capture_output=True, env=env, timeout=TIMEOUT)
            self.assertEqual(result.returncode, 0, result.stderr)
            ah.find_window(display, SETTINGS_TITLE)
        ah.wait_no_window(display, SETTINGS_TITLE)


if __name__ == "__main__":
    ah.main()
