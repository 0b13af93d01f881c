#!/usr/bin/env python3
"""Print one line 'N passed, N failed, N skipped' from meson test logs.

A TAP test counts each of its own test points; any other test counts
once. A test that failed without printing a failing TAP point (a crash
or a timeout) counts as one failure on top of what it printed.
"""
import json
import re
import sys

TAP_POINT = re.compile(r"^(not ok|ok)\b[^#]*(#\s*(SKIP|TODO)\b)?", re.IGNORECASE)


def count_tap(stdout):
    passed = failed = skipped = 0
    for line in stdout.splitlines():
        match = TAP_POINT.match(line)
        if not match:
            continue
        if match.group(3):
            skipped += 1
        elif match.group(1) == "ok":
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as log:
                entries = [json.loads(line) for line in log if line.strip()]
        except FileNotFoundError:
            print(f"{path}: not found, so its tests did not run", file=sys.stderr)
            failed += 1
            continue

        for entry in entries:
            result = entry.get("result", "ERROR")
            p, f, s = count_tap(entry.get("stdout") or "")
            if p + f + s == 0:
                if result in ("OK", "EXPECTEDFAIL"):
                    p = 1
                elif result == "SKIP":
                    s = 1
                else:
                    f = 1
            elif result not in ("OK", "EXPECTEDFAIL", "SKIP") and f == 0:
                f = 1
            passed, failed, skipped = passed + p, failed + f, skipped + s

    print(f"{passed} passed, {failed} failed, {skipped} skipped")


if __name__ == "__main__":
    main(sys.argv[1:])
