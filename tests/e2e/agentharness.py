"""Harness for the tests of hostgate-agent on a virtual display.

The agent is the built program (its path comes from the HOSTGATE_AGENT
environment variable that meson sets), started under `dbus-run-session`
on an Xvfb display, with XDG_CONFIG_HOME and XDG_RUNTIME_DIR in a
temporary folder. Windows are found and driven with xdotool, which sends
real X input events through the XTEST extension.

Pieces:

- Display: starts `Xvfb -displayfd` and reads the display number from
  the pipe, so no number is guessed and nothing sleeps.
- Agent: starts the agent in its own process group, waits until it
  listens, and stops it with SIGTERM, so its exit status is checked.
- find_window(), click(), key(): xdotool helpers with deadlines.
- main(): runs the tests as TAP, or skips them all with the reason when
  the agent, Xvfb, xdotool or dbus-run-session is missing.

Every wait polls a condition with a deadline; nothing sleeps to wait for
readiness.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import hgtest
from hgtest import TIMEOUT, wait_for

AGENT_PATH = os.environ.get("HOSTGATE_AGENT", "")
XVFB = shutil.which("Xvfb")
XDOTOOL = shutil.which("xdotool")
DBUS_RUN_SESSION = shutil.which("dbus-run-session")
PROMPT_TITLE = "Network access request"
ERROR_TITLE = "Could not save the answer"

# How long the prompt's answer controls stay insensitive, in seconds.
GUARD_SECONDS = 1.0


def missing_display_tools():
    """Return why the display tests cannot run, or None when they can."""
    if not AGENT_PATH:
        return "HOSTGATE_AGENT is not set (the agent is not built)"
    for name, path in (("Xvfb", XVFB), ("xdotool", XDOTOOL),
                       ("dbus-run-session", DBUS_RUN_SESSION)):
        if path is None:
            return f"{name} is not installed"
    return None


def main():
    """Run the calling module's tests as TAP, or print a TAP plan that
    skips them all with the reason when a tool is missing."""
    reason = missing_display_tools()
    if reason is not None:
        print(f"1..0 # SKIP {reason}", flush=True)
        sys.exit(0)
    hgtest.main()


class Display:
    """A private Xvfb display; self.name is like ":5"."""

    def __init__(self):
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            [XVFB, "-displayfd", str(write_fd), "-screen", "0", "1024x768x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write_fd)
        number = b""
        deadline = time.monotonic() + TIMEOUT
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while not number.endswith(b"\n"):
                if time.monotonic() > deadline:
                    raise AssertionError("Xvfb did not report its display number")
                chunk = pipe.read(16)
                if not chunk:
                    raise AssertionError(f"Xvfb exited with {self.process.wait(TIMEOUT)}")
                number += chunk
        self.name = ":" + number.decode().strip()

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)


class Agent:
    """A running hostgate-agent on display.

    The profile folder is self.profiles; write_profile() puts a profile
    there before or while the agent runs. start=False lets a test prepare
    files first; args are passed to the agent.
    """

    def __init__(self, display, *args, start=True, tmp=None, socket_path=None, bus=True,
                 env=None):
        self.display = display
        self.tmp = tmp or tempfile.TemporaryDirectory(prefix="hostgate-agent-")
        self.dir = self.tmp.name
        self.runtime_dir = os.path.join(self.dir, "runtime")
        self.config_dir = os.path.join(self.dir, "config")
        self.profiles = os.path.join(self.config_dir, "hostgate", "profiles")
        os.makedirs(self.runtime_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.profiles, exist_ok=True)
        self.socket_path = socket_path or os.path.join(self.runtime_dir, "hostgate", "agent.sock")
        self.args = list(args)
        self.bus = bus
        self.extra_env = env or {}
        self.process = None
        self.stderr_path = os.path.join(self.dir, "agent-stderr")
        if start:
            self.start()

    def environment(self):
        env = dict(os.environ)
        env.pop("HOSTGATE_AGENT_SOCKET", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env["DISPLAY"] = self.display.name
        env["GDK_BACKEND"] = "x11"
        env["GSK_RENDERER"] = "cairo"
        env["XDG_CONFIG_HOME"] = self.config_dir
        env["XDG_RUNTIME_DIR"] = self.runtime_dir
        env["NO_AT_BRIDGE"] = "1"
        env["GTK_A11Y"] = "none"
        env["G_MESSAGES_DEBUG"] = ""
        if not self.bus:
            # A bus address where nothing listens: the agent finds no bus.
            env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + os.path.join(self.dir, "no-bus")
        env.update(self.extra_env)
        return env

    def command(self):
        if not self.bus:
            return [AGENT_PATH] + self.args
        return [DBUS_RUN_SESSION, "--", AGENT_PATH] + self.args

    def launch(self):
        """Start the agent without waiting for its socket."""
        self.stderr_file = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=self.stderr_file,
                                        env=self.environment(), start_new_session=True)
        return self.process

    def start(self):
        self.launch()

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"hostgate-agent exited with {self.process.returncode}: {self.stderr()}")
            return self.listening() and "Listening on" in self.stderr()

        wait_for(ready, message="the agent's socket")
        return self

    def listening(self):
        """Tell whether the agent's socket file exists and is a socket."""
        try:
            return stat.S_ISSOCK(os.lstat(self.socket_path).st_mode)
        except FileNotFoundError:
            return False

    def wait_exit(self, timeout=TIMEOUT):
        """Wait for the agent to exit on its own; return its status."""
        status = self.process.wait(timeout)
        self.process.stdout.close()
        self.stderr_file.close()
        return status

    def bus_address(self):
        """Return the session bus address dbus-run-session gave the agent."""
        pid = wait_for(self.agent_pid, message="the agent's process")
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"DBUS_SESSION_BUS_ADDRESS="):
                    return item.split(b"=", 1)[1].decode()
        raise AssertionError("the agent has no DBUS_SESSION_BUS_ADDRESS")

    def agent_pid(self):
        """Return the pid of the agent under dbus-run-session, or None."""
        if not self.bus:
            return self.process.pid
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                children = [int(pid) for pid in f.read().split()]
        except FileNotFoundError:
            return None
        for pid in children:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "hostgate-agent":
                        return pid
            except FileNotFoundError:
                continue
        return None

    def stop(self):
        """Send SIGTERM to the agent and wait for it to exit; return its
        exit status, which dbus-run-session passes on."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            pid = self.agent_pid()
            try:
                if pid is not None:
                    os.kill(pid, signal.SIGTERM)
                else:
                    os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(TIMEOUT)
        if not self.process.stdout.closed:
            self.process.stdout.close()
        if not self.stderr_file.closed:
            self.stderr_file.close()
        return self.process.returncode

    def close(self):
        self.stop()
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def profile_path(self, name):
        return os.path.join(self.profiles, name + ".json")

    def write_profile(self, name, allow=(), deny=(), mode="ask", raw=None):
        """Write profile name atomically; raw (str) replaces the JSON."""
        text = raw if raw is not None else json.dumps({
            "meta": {"name": name},
            "network": {"allow_domain": list(allow), "deny_domain": list(deny),
                        "approval_mode": mode, "approval_timeout_secs": 60},
        }, indent=2) + "\n"
        path = self.profile_path(name)
        tmp_path = path + ".tmp-test"
        with open(tmp_path, "w") as f:
            f.write(text)
        os.rename(tmp_path, path)
        return path

    def read_profile(self, name):
        with open(self.profile_path(name)) as f:
            return json.load(f)


def xdotool(display, *args, check=True):
    """Run xdotool on display; return its stdout as text."""
    env = dict(os.environ)
    env["DISPLAY"] = display.name
    result = subprocess.run([XDOTOOL] + [str(arg) for arg in args], capture_output=True,
                            timeout=TIMEOUT, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"xdotool {args} failed: {result.stderr.decode()}")
    return result.stdout.decode()


def list_windows(display, title):
    """Return the ids of the mapped windows whose name contains title."""
    out = xdotool(display, "search", "--onlyvisible", "--name", title, check=False)
    return [int(line) for line in out.split()]


def find_window(display, title=PROMPT_TITLE, timeout=TIMEOUT):
    """Wait until a mapped window named title exists; return its id."""
    return wait_for(lambda: (list_windows(display, title) or [None])[0], timeout=timeout,
                    message=f"a window named {title!r}")


def wait_no_window(display, title=PROMPT_TITLE, timeout=TIMEOUT):
    wait_for(lambda: not list_windows(display, title), timeout=timeout,
             message=f"no window named {title!r}")


def window_size(display, window):
    """Return (width, height) of window."""
    out = xdotool(display, "getwindowgeometry", "--shell", window)
    values = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return int(values["WIDTH"]), int(values["HEIGHT"])


def click(display, window, x, y):
    """Move the pointer to (x, y) inside window and click button 1."""
    xdotool(display, "mousemove", "--window", window, x, y, "click", "1")


def key(display, *keys):
    """Type keys with XTEST into the focused window."""
    xdotool(display, "key", "--clearmodifiers", *keys)


def focus(display, window):
    xdotool(display, "windowfocus", "--sync", window)


def wait_guard():
    """Let the prompt's input guard pass. The guard is a timer in the
    agent, so the test waits for it out of necessity."""
    time.sleep(GUARD_SECONDS + 0.3)


def click_button(display, window, which):
    """Click the Deny ("deny") or Approve ("approve") button.

    The two buttons share the bottom row of the window in equal halves.
    The row has an 18 px margin left and right and 12 px below, so the
    button centres are at a quarter and three quarters of the width,
    about 28 px above the bottom edge.
    """
    width, height = window_size(display, window)
    x = width // 4 if which == "deny" else (3 * width) // 4
    click(display, window, x, height - 28)


def visible_windows(display):
    """Return the ids of all mapped windows, named or not."""
    out = xdotool(display, "search", "--onlyvisible", "--name", ".*", check=False)
    return set(out.split())


def popup_geometry(display, before, min_height=31):
    """Return (x, y, width, height) of the tallest window mapped since the
    set before was taken, or None while there is none of min_height px or
    taller. A popover maps a 1 px window of its own first."""
    tallest = None
    for window in visible_windows(display) - before:
        out = xdotool(display, "getwindowgeometry", "--shell", window, check=False)
        values = dict(line.split("=", 1) for line in out.split() if "=" in line)
        if "HEIGHT" not in values:
            continue
        geometry = tuple(int(values[name]) for name in ("X", "Y", "WIDTH", "HEIGHT"))
        if geometry[3] >= min_height and (tallest is None or geometry[3] > tallest[3]):
            tallest = geometry
    return tallest


def choose_duration(display, window, duration):
    """Pick "once", "session" or "always" in the duration drop-down: Alt+R
    focuses it and Space opens its list, a popover that X shows as windows
    of its own, then a click picks the row. Arrow keys sent right after
    the popover was mapped sometimes moved the list one row too far.
    The three rows fill the popover between equal margins, so the middle
    row is at its centre and the others a quarter of its height away."""
    row = {"once": -1, "session": 0, "always": 1}[duration]
    focus(display, window)
    key(display, "alt+r")
    before = visible_windows(display)
    key(display, "space")
    x, y, width, height = wait_for(lambda: popup_geometry(display, before),
                                   message="the duration list open")
    xdotool(display, "mousemove", x + width // 2, y + height // 2 + row * height // 4,
            "click", "1")
    wait_for(lambda: not visible_windows(display) - before, message="the duration list closed")


def close_window(display, window):
    """Ask window to close the way a window manager's close button does,
    by sending it a WM_DELETE_WINDOW client message. The windowclose
    command of Debian 12's xdotool destroys the window without asking
    it, so this talks to libX11 directly."""
    import ctypes
    import ctypes.util

    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                                ctypes.c_void_p]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5),
                    ("pad", ctypes.c_long * 12)]

    connection = xlib.XOpenDisplay(display.name.encode())
    if not connection:
        raise AssertionError(f"cannot open display {display.name}")
    try:
        event = ClientMessage()
        event.type = 33  # ClientMessage
        event.window = window
        event.message_type = xlib.XInternAtom(connection, b"WM_PROTOCOLS", 0)
        event.format = 32
        event.data[0] = xlib.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
        event.data[1] = 0  # CurrentTime
        if not xlib.XSendEvent(connection, window, 0, 0, ctypes.byref(event)):
            raise AssertionError("XSendEvent failed")
        xlib.XFlush(connection)
    finally:
        xlib.XCloseDisplay(connection)


def stacking_order(display):
    """Return the ids of the root window's children from the bottom-most
    to the top-most, as XQueryTree lists them. With no window manager
    on the display, GTK's windows are children of the root."""
    import ctypes
    import ctypes.util

    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                                ctypes.POINTER(ctypes.c_ulong),
                                ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
                                ctypes.POINTER(ctypes.c_uint)]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]

    connection = xlib.XOpenDisplay(display.name.encode())
    if not connection:
        raise AssertionError(f"cannot open display {display.name}")
    try:
        root, parent = ctypes.c_ulong(), ctypes.c_ulong()
        children = ctypes.POINTER(ctypes.c_ulong)()
        count = ctypes.c_uint()
        if not xlib.XQueryTree(connection, xlib.XDefaultRootWindow(connection), ctypes.byref(root),
                               ctypes.byref(parent), ctypes.byref(children), ctypes.byref(count)):
            raise AssertionError("XQueryTree failed")
        order = [children[i] for i in range(count.value)]
        if children:
            xlib.XFree(children)
        return order
    finally:
        xlib.XCloseDisplay(connection)


def capture(display, window, x, y, width, height):
    """Return the pixels of a rectangle of window as shown on the screen:
    rows of width pixels from the top, in the server's ZPixmap format.
    Two captures of the same rectangle are equal exactly when it shows
    the same picture."""
    import ctypes
    import ctypes.util

    class XImage(ctypes.Structure):
        # The leading fields of Xlib's XImage, up to the ones read here.
        _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                    ("xoffset", ctypes.c_int), ("format", ctypes.c_int),
                    ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
                    ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int),
                    ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
                    ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int)]

    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XGetImage.restype = ctypes.POINTER(XImage)
    xlib.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int,
                               ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    xlib.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    all_planes = ctypes.c_ulong(-1).value
    z_pixmap = 2

    connection = xlib.XOpenDisplay(display.name.encode())
    if not connection:
        raise AssertionError(f"cannot open display {display.name}")
    try:
        image = xlib.XGetImage(connection, window, x, y, width, height, all_planes, z_pixmap)
        if not image:
            raise AssertionError(f"XGetImage of {width}x{height}+{x}+{y} in {window} failed")
        try:
            stride = image.contents.bytes_per_line
            used = width * image.contents.bits_per_pixel // 8
            data = ctypes.string_at(image.contents.data, stride * height)
            return [data[row * stride:row * stride + used] for row in range(height)]
        finally:
            xlib.XDestroyImage(image)
    finally:
        xlib.XCloseDisplay(connection)
