"""End-to-end tests of the allow and deny list editors of the settings
window: editing an entry, entries already on a list, and the import
report.

The built agent runs on an Xvfb display, as in test_settings_display.py,
whose window helpers these tests share. Rows and buttons are clicked and
text is typed with real X input from xdotool. The messages under a list
are read back through the X primary selection: a selectable GTK label
selects all its text when it gets the keyboard focus, and GTK then owns
the primary selection with that text."""

import ctypes
import ctypes.util
import os
import time

import agentharness as ah
import test_settings_display as settings
from hgtest import TIMEOUT, wait_for

# The size of the Xvfb screen that agentharness.Display starts.
SCREEN_WIDTH = 1024
SCREEN_HEIGHT = 768

IMPORT_ALLOW_TITLE = "Import hosts to allow"

display = None


def setUpModule():
    global display
    settings.setUpModule()
    display = settings.display


def tearDownModule():
    settings.tearDownModule()


def read_primary_selection():
    """Return the text of the X primary selection as UTF-8 text, or None
    when no client owns it. The owner replies to a conversion request
    with a SelectionNotify event, which is polled for with a deadline."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XCreateSimpleWindow.restype = ctypes.c_ulong
    xlib.XCreateSimpleWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                                         ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                         ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulong]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XGetSelectionOwner.restype = ctypes.c_ulong
    xlib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XConvertSelection.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong,
                                       ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    xlib.XPending.argtypes = [ctypes.c_void_p]
    xlib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    xlib.XGetWindowProperty.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long, ctypes.c_long,
        ctypes.c_int, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_void_p)]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XDestroyWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class SelectionEvent(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("requestor", ctypes.c_ulong), ("selection", ctypes.c_ulong),
                    ("target", ctypes.c_ulong), ("property", ctypes.c_ulong),
                    ("time", ctypes.c_ulong)]

    selection_notify = 31
    connection = xlib.XOpenDisplay(display.name.encode())
    if not connection:
        raise AssertionError(f"cannot open display {display.name}")
    try:
        primary = xlib.XInternAtom(connection, b"PRIMARY", 0)
        if xlib.XGetSelectionOwner(connection, primary) == 0:
            return None
        utf8 = xlib.XInternAtom(connection, b"UTF8_STRING", 0)
        target = xlib.XInternAtom(connection, b"HOSTGATE_TEST_SELECTION", 0)
        window = xlib.XCreateSimpleWindow(connection, xlib.XDefaultRootWindow(connection),
                                          0, 0, 1, 1, 0, 0, 0)
        xlib.XConvertSelection(connection, primary, utf8, target, window, 0)
        xlib.XFlush(connection)

        # XEvent is a union of 24 longs.
        buffer = (ctypes.c_long * 24)()
        event = ctypes.cast(buffer, ctypes.POINTER(SelectionEvent)).contents

        def notified():
            while xlib.XPending(connection) > 0:
                xlib.XNextEvent(connection, buffer)
                if event.type == selection_notify:
                    return True
            return False

        wait_for(notified, message="the owner of the primary selection to answer")
        if event.property == 0:
            return None

        actual_type = ctypes.c_ulong()
        actual_format = ctypes.c_int()
        n_items = ctypes.c_ulong()
        bytes_after = ctypes.c_ulong()
        data = ctypes.c_void_p()
        xlib.XGetWindowProperty(connection, window, target, 0, 1 << 20, 0, 0,
                                ctypes.byref(actual_type), ctypes.byref(actual_format),
                                ctypes.byref(n_items), ctypes.byref(bytes_after),
                                ctypes.byref(data))
        try:
            return ctypes.string_at(data, n_items.value).decode("utf-8")
        finally:
            xlib.XFree(data)
            xlib.XDestroyWindow(connection, window)
    finally:
        xlib.XCloseDisplay(connection)


def label_text_after_field(focus_field, tabs):
    """Focus a list's add field, press Tab tabs times to move the focus to
    a message label under it, and return the label's text."""
    focus_field()
    ah.key(display, *["Tab"] * tabs)
    return read_primary_selection() or ""


def wait_message(focus_field, tabs, expected):
    """Wait until the label tabs Tab presses after the add field shows
    expected; return its whole text. The message shows once the agent
    has handled the input, so the label is read again until then."""
    texts = [None]

    def shown():
        texts.append(label_text_after_field(focus_field, tabs))
        return expected in texts[-1]

    try:
        wait_for(shown, interval=0.2, message=f"{expected!r} under the list")
    except AssertionError as error:
        raise AssertionError(f"{error}; the label read last: {texts[-1]!r}") from None
    return texts[-1]


def first_allow_row(window):
    """Return the centre of the first row of the allow list. The list
    starts 275 px below the window's top edge, under the profile rows
    and the list's heading, description and search field, and a row is
    24 px tall."""
    width, height = ah.window_size(display, window)
    return width // 4, 288


def allow_edit_button(window):
    """Return the centre of the allow list's Edit button, the first in
    the row under the list. The row is centred 81 px above the window's
    bottom edge while no message shows under the field."""
    width, height = ah.window_size(display, window)
    return 52, height - 81


def import_allow_file(path):
    """Import the plain list at path into the allow list: Shift+Tab twice
    from the add field reaches Import…, and the file is typed into the
    chooser's location field. GTK's file chooser makes its Import button,
    which Return activates, sensitive only when a timer runs out after the
    last change of that field. So Return is sent again each second while
    the chooser stays open, to the chooser's window alone: were it gone
    by then, a Return to the settings window would press Import… again."""
    settings.focus_allow_field()
    ah.key(display, "shift+Tab", "shift+Tab", "space")
    chooser = ah.find_window(display, IMPORT_ALLOW_TITLE)
    ah.focus(display, chooser)
    ah.key(display, "ctrl+l")
    ah.xdotool(display, "type", "--delay", "5", path)

    def accepted():
        if not ah.list_windows(display, IMPORT_ALLOW_TITLE):
            return True
        ah.xdotool(display, "key", "--window", chooser, "Return", check=False)
        return False

    wait_for(accepted, interval=1.0, message=f"the import chooser to accept {path}")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class ListTestCase(settings.SettingsTestCase):
    """Starts an agent whose `default` profile allows a.example and
    b.example and denies ads.example. XDG_DATA_HOME is private, so the
    file chooser's list of recent files stays in the test's folder."""

    def setUp(self):
        self.agent = ah.Agent(display, start=False)
        self.agent.extra_env["XDG_DATA_HOME"] = os.path.join(self.agent.dir, "data")
        self.agent.write_profile("default", allow=["a.example", "b.example"],
                                 deny=["ads.example"], mode="off")
        self.path = self.agent.profile_path("default")
        self.agent.start()
        self.window = settings.open_settings(self.agent)

    def assert_unchanged(self, before, wait=0.5):
        """Fail if the profile file differs from before within wait
        seconds. Only absence can be checked this way, so the wait is a
        bounded sleep."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.assertEqual(read_bytes(self.path), before)
            time.sleep(0.05)
        self.assertEqual(read_bytes(self.path), before)

    def start_edit(self, text):
        """Select a.example, press Edit and type text over the entry. Edit
        selects the text it copies into the field, which makes it the
        primary selection. A click lost while the window is still busy
        after it opened would leave the field empty, so both clicks are
        repeated until the field contains the entry."""

        def editing():
            ah.click(display, self.window, *first_allow_row(self.window))
            ah.click(display, self.window, *allow_edit_button(self.window))
            return read_primary_selection() == "a.example"

        wait_for(editing, interval=0.2, message="a.example in the add field after Edit")
        ah.xdotool(display, "type", "--delay", "10", text)


class EditTests(ListTestCase):

    def test_edit_return_replaces_entry(self):
        """Edit copies the selected entry into the field with its text
        selected, so typing replaces it, and Return saves the new entry
        in place of the old one, first on the list as the old one was."""
        self.start_edit("new.example")
        ah.key(display, "Return")

        self.wait_allow(["new.example", "b.example"])
        self.assertEqual(self.agent.read_profile("default")["network"]["deny_domain"],
                         ["ads.example"])

    def test_edit_escape_keeps_file(self):
        """Escape ends the edit without a write. The entry typed next is
        added, and a.example stays: were the edit still going, Return
        would replace a.example with it."""
        before = read_bytes(self.path)

        self.start_edit("changed.example")
        ah.key(display, "Escape")
        self.assert_unchanged(before)

        settings.retype("c.example")
        ah.key(display, "Return")
        self.wait_allow(["a.example", "b.example", "c.example"])

    def test_edit_empty_field_refused(self):
        """Return on an emptied field keeps the entry and shows how to go
        on, in the message label right under the field."""
        before = read_bytes(self.path)

        self.start_edit("x")
        ah.key(display, "BackSpace", "Return")

        text = wait_message(settings.focus_allow_field, 1, "press Escape to keep")
        self.assertEqual(text, "Type the new entry, or press Escape to keep “a.example”.")
        self.assertEqual(read_bytes(self.path), before)


class LongEntryTests(ListTestCase):

    def test_long_invalid_entry_shortened(self):
        """The message under the field quotes a long invalid entry with
        its middle cut out, so the reason stays in view and the window
        keeps its size."""
        size = ah.window_size(display, self.window)

        settings.focus_allow_field()
        settings.retype("bad..example" + "x" * 300)

        text = wait_message(settings.focus_allow_field, 1, "empty label")
        self.assertEqual(text, "Invalid list entry “bad..examplexxxxxxxxxxxx…xxxxxxxxxxx…”: "
                               "a host cannot contain an empty label (“..”)")
        self.assertEqual(ah.window_size(display, self.window), size)

    def test_long_label_message_cut(self):
        """A message that quotes a long label twice loses its middle, so
        it stays about five lines long and the window keeps its size."""
        size = ah.window_size(display, self.window)

        settings.focus_allow_field()
        settings.retype("x" * 300 + ".example.com")

        text = wait_message(settings.focus_allow_field, 1, "Invalid list entry")
        self.assertLessEqual(len(text), 201)
        self.assertIn("…", text)
        self.assertTrue(text.startswith("Invalid list entry “xxxxxxxxxxxx"), text)
        self.assertEqual(ah.window_size(display, self.window), size)


class BrokenFileTests(ListTestCase):

    def test_parse_error_keeps_position(self):
        """A change refused because the file no longer parses says so
        under the field without the profile folder, which the banner
        shows, so the line and column of the error stay in view."""
        with open(self.path, "w", encoding="utf-8") as f:
            f.write('{\n  "network": {\n    "allow_domain": ["a.example", ]\n  }\n}\n')

        settings.focus_allow_field()
        settings.retype("c.example")
        ah.key(display, "Return")

        text = wait_message(settings.focus_allow_field, 2, "line 3")
        self.assertTrue(text.startswith("default.json: line 3, column "), text)
        self.assertNotIn(os.path.dirname(self.path), text)


class DuplicateTests(ListTestCase):

    def test_add_duplicate_named(self):
        """An entry already on the list, in another spelling, is named in
        its canonical form, and the file is not written."""
        before = read_bytes(self.path)

        settings.focus_allow_field()
        settings.retype("A.Example.")
        ah.key(display, "Return")

        text = wait_message(settings.focus_allow_field, 1, "already on")
        self.assertEqual(text, "“a.example” is already on the allow list.")
        self.assertEqual(read_bytes(self.path), before)

    def test_add_duplicate_deny_list(self):
        before = read_bytes(self.path)

        settings.focus_deny_field()
        settings.retype("ads.example")
        ah.key(display, "Return")

        text = wait_message(settings.focus_deny_field, 1, "already on")
        self.assertEqual(text, "“ads.example” is already on the deny list.")
        self.assertEqual(read_bytes(self.path), before)

    def test_add_moves_from_other_list(self):
        """Denying an allowed entry takes it off the allow list, and the
        window says so."""
        settings.focus_deny_field()
        settings.retype("a.example")
        ah.key(display, "Return")

        text = wait_message(settings.focus_deny_field, 1, "taken off")
        self.assertEqual(text, "“a.example” was taken off the allow list, as it is now denied.")
        self.wait_allow(["b.example"])

    def test_edit_into_duplicate_refused(self):
        """Editing a.example into b.example, which is on the list, keeps
        both entries and shows why. The field keeps the text, so the Add
        button is sensitive and the message is two Tabs away."""
        before = read_bytes(self.path)

        self.start_edit("b.example")
        ah.key(display, "Return")

        text = wait_message(settings.focus_allow_field, 2, "already on")
        self.assertEqual(text, "“b.example” is already on the allow list.")
        self.assert_unchanged(before)


class ImportTests(ListTestCase):

    def write_list(self, lines):
        path = os.path.join(self.agent.dir, "import.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        return path

    def test_import_counts_duplicates(self):
        """Entries already on the list are counted apart from the added
        ones, and so is a line the file repeats, in another spelling. An
        entry taken off the deny list is counted too."""
        path = self.write_list(["# from a block list", "A.example", "new.example",
                                "b.example.", "NEW.example", "ads.example"])

        import_allow_file(path)

        self.wait_allow(["a.example", "b.example", "new.example", "ads.example"])
        text = wait_message(settings.focus_allow_field, 1, "Added")
        self.assertEqual(text, f"Added 2 entries from “{path}”. "
                               "3 entries were already on the list. "
                               "1 entry was taken off the deny list.")
        self.assertEqual(self.agent.read_profile("default")["network"]["deny_domain"], [])

    def test_long_report_keeps_window_size(self):
        """Twelve rejected lines of 600 characters each make a report that
        scrolls under the list, and the window keeps its size."""
        size = ah.window_size(display, self.window)
        self.assertLessEqual(size[0], SCREEN_WIDTH)
        self.assertLessEqual(size[1], SCREEN_HEIGHT)
        path = self.write_list(["ok.example"] + ["bad..example" + "x" * 600] * 12)

        import_allow_file(path)

        self.wait_allow(["a.example", "b.example", "ok.example"])
        text = wait_message(settings.focus_allow_field, 1, "Added")
        self.assertEqual(ah.window_size(display, self.window), size)

        lines = text.split("\n")
        self.assertEqual(lines[0], f"Added 1 entry from “{path}”. "
                                   "12 lines are not valid entries and were left out:")
        self.assertEqual(len(lines), 12)
        self.assertEqual(lines[1], "Line 2: Invalid list entry “bad..examplexxxxxxxxxxxx…"
                                   "xxxxxxxxxxx…”: a host cannot contain an empty label (“..”)")
        self.assertTrue(lines[10].startswith("Line 11: "), lines[10])
        self.assertEqual(lines[11], "…and 2 more lines")


if __name__ == "__main__":
    ah.main()
