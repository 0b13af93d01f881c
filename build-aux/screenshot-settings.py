#!/usr/bin/env python3
"""Make docs/images/settings.png: the settings window of a built agent,
showing an example profile "work", on a private Xvfb display.

    build-aux/screenshot-settings.py [--build DIR] [--output FILE]

DIR defaults to build/ and FILE to docs/images/settings.png. Needs Xvfb,
xdotool, dbus-run-session and xwd (Debian: xvfb, xdotool, dbus,
x11-apps). The agent's configuration goes to a temporary folder; the
window shows its path as /tmp/u/config/...
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "e2e"))

ALLOW = ["api.github.com", "*.npmjs.org", "registry.npmjs.org", "pypi.org",
         "files.pythonhosted.org", "[2001:db8::1]:443"]
DENY = ["*.doubleclick.net", "tracker.example:443", "10.0.0.0/8"]
TYPED = "*.ads.example"
CONFIG_ROOT = "/tmp/u"


class FixedFolder:
    """A folder at a fixed path, shaped like tempfile.TemporaryDirectory,
    so that the path the window shows is short and the same every time."""

    def __init__(self, path):
        if os.path.exists(path):
            sys.exit(f"screenshot-settings: {path} exists; remove it first")
        os.makedirs(path, mode=0o700)
        self.name = path

    def cleanup(self):
        shutil.rmtree(self.name, ignore_errors=True)


def png_from_xwd(data):
    """Return PNG bytes for an XWD dump of a TrueColor window with 32
    bits per pixel, the format xwd writes on Xvfb's 24-bit screen."""
    fields = struct.unpack(">25I", data[:100])
    header_size, width, height = fields[0], fields[4], fields[5]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    ncolors = fields[19]
    if bits_per_pixel != 32:
        sys.exit(f"screenshot-settings: {bits_per_pixel} bits per pixel are not supported, only 32")

    pixels = data[header_size + ncolors * 12:]
    # With LSBFirst each pixel is B, G, R, unused; with MSBFirst the reverse.
    order = (2, 1, 0) if byte_order == 0 else (1, 2, 3)
    rows = bytearray()
    for y in range(height):
        line = pixels[y * bytes_per_line:y * bytes_per_line + width * 4]
        rows.append(0)
        rgb = bytearray(width * 3)
        for c, channel in enumerate(order):
            rgb[c::3] = line[channel::4]
        rows += rgb

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))

    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(rows), 9)) +
            chunk(b"IEND", b""))


def settled_dump(ah, display, window):
    """Return an XWD dump of window once two dumps in a row are equal,
    that is once GTK has drawn the typed text and the focus."""
    env = dict(os.environ, DISPLAY=display.name)
    previous = None

    def settled():
        nonlocal previous
        dump = subprocess.run(["xwd", "-silent", "-id", str(window)], check=True,
                              capture_output=True, env=env, timeout=ah.TIMEOUT).stdout
        same = dump == previous
        previous = dump
        return dump if same else None

    return ah.wait_for(settled, message="the window drawn")


def open_work_profile(ah, display, window):
    """Pick the profile "work", the second of two in the drop-down."""
    ah.focus(display, window)
    before = ah.visible_windows(display)
    # The mnemonic opens the list at once.
    ah.key(display, "alt+p")
    x, y, width, height = ah.wait_for(lambda: ah.popup_geometry(display, before),
                                      message="the profile list open")
    ah.xdotool(display, "mousemove", x + width // 2, y + (3 * height) // 4, "click", "1")
    ah.wait_for(lambda: not ah.visible_windows(display) - before,
                message="the profile list closed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(SRCDIR, "build"))
    parser.add_argument("--output", default=os.path.join(SRCDIR, "docs", "images", "settings.png"))
    options = parser.parse_args()

    agent_path = os.path.join(os.path.abspath(options.build), "agent", "hostgate-agent")
    if not os.access(agent_path, os.X_OK):
        sys.exit(f"screenshot-settings: no agent at {agent_path}; "
                 f"build it first (meson setup {options.build} && ninja -C {options.build})")
    output_folder = os.path.dirname(os.path.abspath(options.output))
    if not os.path.isdir(output_folder):
        sys.exit(f"screenshot-settings: the folder {output_folder} of --output does not exist")
    os.environ["HOSTGATE_AGENT"] = agent_path
    import agentharness as ah
    from test_settings_display import SETTINGS_TITLE, bus_address

    missing = ah.missing_display_tools() or (None if shutil.which("xwd") else "xwd is missing")
    if missing:
        sys.exit(f"screenshot-settings: {missing}")

    display = ah.Display()
    agent = ah.Agent(display, start=False, tmp=FixedFolder(CONFIG_ROOT))
    try:
        agent.write_profile("work", allow=ALLOW, deny=DENY, mode="ask")
        agent.start()
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus_address(agent), DISPLAY=display.name)
        subprocess.run(["gapplication", "action", "io.github.hostgate.Agent", "settings"],
                       check=True, env=env, timeout=ah.TIMEOUT)
        window = ah.find_window(display, SETTINGS_TITLE)
        open_work_profile(ah, display, window)
        ah.key(display, "alt+e")
        ah.xdotool(display, "type", "--delay", "20", TYPED)
        # Keep the pointer off the window, where it would highlight a row.
        ah.xdotool(display, "mousemove", 1023, 767)
        dump = settled_dump(ah, display, window)
    finally:
        agent.close()
        display.close()

    with tempfile.NamedTemporaryFile(dir=output_folder, delete=False) as f:
        f.write(png_from_xwd(dump))
    os.chmod(f.name, 0o644)
    os.replace(f.name, options.output)
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
