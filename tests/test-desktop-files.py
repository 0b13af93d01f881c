#!/usr/bin/env python3
# test-desktop-files.py: the agent's installed desktop files agree
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# desktop-file-validate, appstreamcli and glib-compile-schemas check each
# file on its own. This checks what ties them together: the names the
# session bus, the session manager and the tray host look up must match
# the files that are installed and the code that reads them.
#
# Usage: test-desktop-files.py SOURCE_ROOT BUILD_DATA_DIR [--systemd-unit]

import configparser
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

APP_ID = "io.github.hostgate.Agent"

results = []


def check(name, condition, detail=""):
    results.append((name, bool(condition), detail))


def read_entry(path, group):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser[group]


def check_launcher(build):
    path = build / f"{APP_ID}.desktop"
    entry = read_entry(path, "Desktop Entry")
    # D-Bus activation finds the launcher by its file name.
    check("launcher/file-name-is-app-id", path.exists(), str(path))
    check("launcher/dbus-activatable", entry.get("DBusActivatable") == "true")
    check("launcher/exec-absolute", entry.get("Exec", "").startswith("/"), entry.get("Exec"))
    check("launcher/exec-agent", entry.get("Exec", "").endswith("/hostgate-agent"),
          entry.get("Exec"))
    check("launcher/icon", entry.get("Icon") == APP_ID, entry.get("Icon"))
    check("launcher/categories", entry.get("Categories") == "Network;Security;",
          entry.get("Categories"))


def check_autostart(build):
    entry = read_entry(build / f"{APP_ID}-autostart.desktop", "Desktop Entry")
    exec_line = entry.get("Exec", "")
    check("autostart/exec-service", exec_line.endswith("/hostgate-agent --gapplication-service"),
          exec_line)
    check("autostart/enabled", entry.get("X-GNOME-Autostart-enabled") == "true")
    check("autostart/hidden-from-menus", entry.get("NoDisplay") == "true")


def check_dbus_service(build, systemd_unit):
    entry = read_entry(build / f"{APP_ID}.service", "D-BUS Service")
    check("dbus-service/name", entry.get("Name") == APP_ID, entry.get("Name"))
    check("dbus-service/exec-service",
          entry.get("Exec", "").endswith("/hostgate-agent --gapplication-service"),
          entry.get("Exec"))
    if systemd_unit:
        check("dbus-service/systemd-service",
              entry.get("SystemdService") == "hostgate-agent.service",
              entry.get("SystemdService"))
    else:
        check("dbus-service/no-systemd-service", "SystemdService" not in entry)


def check_systemd_unit(build):
    service = read_entry(build / "hostgate-agent.service", "Service")
    check("systemd-unit/type-dbus", service.get("Type") == "dbus")
    check("systemd-unit/bus-name", service.get("BusName") == APP_ID, service.get("BusName"))
    check("systemd-unit/exec-service",
          service.get("ExecStart", "").endswith("/hostgate-agent --gapplication-service"),
          service.get("ExecStart"))


def check_metainfo(build):
    root = ET.parse(build / f"{APP_ID}.metainfo.xml").getroot()
    check("metainfo/id", root.findtext("id") == APP_ID, root.findtext("id"))
    launchable = root.find("launchable")
    check("metainfo/launchable",
          launchable is not None and launchable.text == f"{APP_ID}.desktop")
    check("metainfo/dbus-provided",
          any(node.text == APP_ID for node in root.iter("dbus")))


def schema_keys(source):
    root = ET.parse(source / "data" / f"{APP_ID}.gschema.xml").getroot()
    schema = root.find(f"schema[@id='{APP_ID}']")
    return {key.get("name"): key for key in schema.iter("key")}


def check_schema(source):
    keys = schema_keys(source)
    check("schema/default-duration-once",
          keys.get("default-duration") is not None
          and keys["default-duration"].findtext("default") == "'once'")
    check("schema/notifications-default-on",
          keys.get("notifications") is not None
          and keys["notifications"].findtext("default") == "true")
    check("schema/show-tray-default-on",
          keys.get("show-tray") is not None
          and keys["show-tray"].findtext("default") == "true")

    # Every key the tray binds must exist, or g_settings_bind aborts.
    tray = (source / "agent" / "hg-tray.c").read_text(encoding="utf-8")
    bound = re.findall(r'g_settings_bind \(tray->settings, "([^"]+)"', tray)
    check("schema/tray-binds-keys", len(bound) > 0)
    for key in bound:
        check(f"schema/has-{key}", key in keys, key)


def check_icons(source):
    icons = source / "data" / "icons" / "hicolor"
    check("icons/scalable", (icons / "scalable" / "apps" / f"{APP_ID}.svg").exists())

    # The tray names its icons as APPLICATION_ID "-…-symbolic".
    tray = (source / "agent" / "hg-tray.c").read_text(encoding="utf-8")
    suffixes = re.findall(r'APPLICATION_ID "(-[a-z-]*symbolic)"', tray)
    check("icons/tray-names-found", len(suffixes) == 3, suffixes)
    for suffix in suffixes:
        path = icons / "symbolic" / "apps" / f"{APP_ID}{suffix}.svg"
        check(f"icons/has{suffix}", path.exists(), str(path))


def main():
    source = Path(sys.argv[1])
    build = Path(sys.argv[2])
    systemd_unit = "--systemd-unit" in sys.argv[3:]

    check_launcher(build)
    check_autostart(build)
    check_dbus_service(build, systemd_unit)
    if systemd_unit:
        check_systemd_unit(build)
    check_metainfo(build)
    check_schema(source)
    check_icons(source)

    print(f"1..{len(results)}")
    failed = 0
    for number, (name, passed, detail) in enumerate(results, 1):
        if passed:
            print(f"ok {number} /desktop-files/{name}")
        else:
            failed += 1
            print(f"not ok {number} /desktop-files/{name}")
            if detail:
                print(f"# {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
