"""End-to-end tests of `hostgate-proxy run`: one command behind its own proxy."""

import ctypes
import json
import os
import resource
import pty
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import hgtest

# Landlock's syscall number on x86_64 and aarch64 alike, and the flag that
# requests the ABI version instead of a new ruleset.
SYS_LANDLOCK_CREATE_RULESET = 444
LANDLOCK_CREATE_RULESET_VERSION = 1


def landlock_abi():
    """Return the kernel's Landlock ABI version, or 0 without Landlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return max(abi, 0)


def ipv6_loopback():
    """Return whether a socket can be bound to ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def interrupt_on_terminal(command, ready):
    """Run command on a new terminal, type Ctrl-C once the file ready
    exists, and send SIGTERM to the command's process once the terminal
    shows "interrupted"; return what the terminal showed until the process
    exited."""
    pid, master = pty.fork()
    if pid == 0:
        os.execv(command[0], command)
    try:
        hgtest.wait_for(lambda: os.path.exists(ready), message="the command to start")
        os.write(master, b"\x03")
        output = read_terminal(master, pid, until=b"interrupted")
        os.kill(pid, signal.SIGTERM)
        return output + read_terminal(master, pid)
    finally:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)


def read_terminal(master, pid, until=None, timeout=hgtest.TIMEOUT):
    """Read the terminal master until the output contains until, or, when
    until is None, until the process pid exits and reading fails with
    EIO. Raise AssertionError after timeout seconds."""
    output = b""
    deadline = time.monotonic() + timeout
    while until is None or until not in output:
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out reading the terminal, got {output!r}")
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        output += chunk
    return output


def run(*args, env=None, timeout=hgtest.TIMEOUT, preexec_fn=None):
    """Run `hostgate-proxy run ARGS…` to completion and return the result."""
    command = [hgtest.PROXY_PATH, "run", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=timeout,
                          preexec_fn=preexec_fn)


def shell(script):
    """Return the arguments that run script with /bin/sh after `--`."""
    return ["--", "/bin/sh", "-c", script]


class RunTest(unittest.TestCase):
    def test_child_gets_proxy_environment(self):
        env = dict(os.environ, NO_PROXY="*", no_proxy="*", HOSTGATE_PROXY_TOKEN="secret")
        script = ('for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy; do '
                  'eval "echo $v=\\$$v"; done; '
                  'echo "NO_PROXY=${NO_PROXY-unset}"; echo "no_proxy=${no_proxy-unset}"; '
                  'echo "HOSTGATE_PROXY_TOKEN=${HOSTGATE_PROXY_TOKEN-unset}"')
        result = run(*shell(script), env=env)
        self.assertEqual(result.returncode, 0, result.stderr)

        lines = dict(line.split("=", 1) for line in result.stdout.decode().splitlines())
        url = lines["HTTP_PROXY"]
        self.assertRegex(url, r"^http://hostgate:[0-9a-f]{48}@127\.0\.0\.1:[0-9]+$")
        for name in ("HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            self.assertEqual(lines[name], url, name)
        self.assertEqual(lines["NO_PROXY"], "unset")
        self.assertEqual(lines["no_proxy"], "unset")
        self.assertEqual(lines["HOSTGATE_PROXY_TOKEN"], "unset")

    def test_token_differs_per_run(self):
        first = run(*shell('echo "$HTTP_PROXY"'))
        second = run(*shell('echo "$HTTP_PROXY"'))
        self.assertNotEqual(first.stdout, second.stdout)

    def test_child_keeps_descriptor_limit(self):
        """The proxy raises its own descriptor limit for its connections;
        the command must get the limit run was started with."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        start_limit = min(soft, 256)

        def lower_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (start_limit, hard))

        result = run(*shell("ulimit -n"), preexec_fn=lower_limit)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(int(result.stdout), start_limit)

    def test_exit_status_passes(self):
        result = run(*shell("exit 7"))
        self.assertEqual(result.returncode, 7)

    def test_killed_child_gives_128_plus_signal(self):
        result = run(*shell("kill -TERM $$"))
        self.assertEqual(result.returncode, 128 + signal.SIGTERM)

    def test_signals_forwarded(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with self.subTest(signal=signum.name), tempfile.TemporaryDirectory() as tmp:
                ready = os.path.join(tmp, "ready")
                marker = os.path.join(tmp, "marker")
                script = (f"trap 'echo {signum.name} > {marker}; exit 3' {signum.name[3:]}; "
                          f"touch {ready}; while :; do sleep 0.05; done")
                process = subprocess.Popen([hgtest.PROXY_PATH, "run", *shell(script)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    hgtest.wait_for(lambda: os.path.exists(ready), message="the child to start")
                    process.send_signal(signum)
                    self.assertEqual(process.wait(timeout=hgtest.TIMEOUT), 3)
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
                    process.stderr.close()
                with open(marker) as f:
                    self.assertEqual(f.read().strip(), signum.name)

    def test_killed_proxy_ends_command(self):
        """A proxy killed with SIGKILL cannot forward anything, so the
        kernel sends the command SIGHUP, which an interactive shell obeys
        too: the command does not run on without its proxy."""
        with tempfile.TemporaryDirectory() as tmp:
            marker = os.path.join(tmp, "marker")
            script = (f"trap 'echo HUP > {marker}; exit 3' HUP; "
                      f"echo $$ > {marker}.pid; while :; do sleep 0.05; done")
            process = subprocess.Popen([hgtest.PROXY_PATH, "run", *shell(script)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                hgtest.wait_for(lambda: os.path.exists(marker + ".pid"), message="the child to start")
                process.kill()
                process.wait(timeout=hgtest.TIMEOUT)
                hgtest.wait_for(lambda: os.path.exists(marker), message="SIGHUP in the command")
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            with open(marker) as f:
                self.assertEqual(f.read().strip(), "HUP")

    def test_version_before_separator(self):
        result = run("--version", *shell("true"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(b"hostgate-proxy "), result.stdout)
        self.assertEqual(result.stderr, b"")

    def test_terminal_interrupt_delivered_once(self):
        # Ctrl-C on a terminal sends SIGINT to the whole foreground process
        # group. A command in run's group gets it from the terminal and
        # must not get a forwarded copy; a command in a session of its own
        # (setsid) gets it only from run. Once the command has had a SIGINT,
        # the test sends SIGTERM, which is forwarded, and the command prints
        # how many SIGINTs it has had by then. Perl runs its handler once
        # per signal received.
        perl = ("$| = 1; $n = 0; $SIG{INT} = sub { $n++; print \"interrupted\\n\" }; "
                "$SIG{TERM} = sub { print \"count=$n\\n\"; exit 0 }; "
                "open my $f, \">\", $ARGV[0]; close $f; sleep 1 while 1")
        for prefix in ([], ["setsid"]):
            with self.subTest(prefix=prefix), tempfile.TemporaryDirectory() as tmp:
                ready = os.path.join(tmp, "ready")
                command = [hgtest.PROXY_PATH, "run", "--", *prefix, "perl", "-e", perl, ready]
                output = interrupt_on_terminal(command, ready)
                self.assertIn(b"count=1\r\n", output)

    def test_request_through_proxy(self):
        with hgtest.HttpOrigin() as origin:
            result = run("--allow-loopback", "--allow-domain", "origin.test",
                         "--resolve", f"origin.test:{origin.port}:127.0.0.1",
                         *shell(f"curl -sS http://origin.test:{origin.port}/hello"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"hello", result.stdout)

    def test_unlisted_host_denied(self):
        with hgtest.HttpOrigin() as origin:
            result = run("--allow-loopback",
                         "--resolve", f"other.test:{origin.port}:127.0.0.1",
                         *shell(f"curl -sS -o /dev/null -w '%{{http_code}}' http://other.test:{origin.port}/"))
        self.assertEqual(result.stdout, b"403")

    @unittest.skipUnless(landlock_abi() >= 4, "the kernel lacks Landlock network rules (ABI 4)")
    def test_confined_child_cannot_bypass(self):
        with hgtest.HttpOrigin() as origin:
            script = (f"curl -sS -o /dev/null -w 'proxy %{{http_code}}\\n' http://origin.test:{origin.port}/; "
                      f"curl -sS --noproxy '*' -o /dev/null -w 'direct %{{http_code}}\\n' "
                      f"http://127.0.0.1:{origin.port}/; echo direct-exit=$?")
            result = run("--confine", "landlock", "--allow-loopback", "--allow-domain", "origin.test",
                         "--resolve", f"origin.test:{origin.port}:127.0.0.1", *shell(script))
        output = result.stdout.decode()
        self.assertIn("proxy 200", output)
        self.assertIn("direct 000", output)
        self.assertIn("direct-exit=7", output)

    def test_unconfined_child_can_bypass(self):
        with hgtest.HttpOrigin() as origin:
            script = f"curl -sS --noproxy '*' -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{origin.port}/"
            result = run("--confine", "none", *shell(script))
        self.assertEqual(result.stdout, b"200")

    @unittest.skipUnless(ipv6_loopback(), "::1 is not available")
    def test_ipv6_listen_address(self):
        with hgtest.HttpOrigin() as origin, tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            script = (f'echo "$HTTP_PROXY"; '
                      f"curl -sS -o /dev/null -w '%{{http_code}}\\n' http://origin.test:{origin.port}/")
            result = run("--listen", "[::1]:0", "--port-file", port_file, "--allow-loopback",
                         "--allow-domain", "origin.test", "--resolve", f"origin.test:{origin.port}:127.0.0.1",
                         *shell(script))
            with open(port_file) as f:
                address = f.read()
        url, status = result.stdout.decode().splitlines()
        self.assertRegex(address, r"^\[::1\]:[0-9]+\n$")
        self.assertTrue(url.endswith("@" + address.strip()), url)
        self.assertEqual(status, "200")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_approval_without_agent(self):
        with tempfile.TemporaryDirectory() as tmp:
            audit = os.path.join(tmp, "audit.jsonl")
            result = run("--network-approval", "ask", "--audit-log", audit,
                         "--agent-socket", os.path.join(tmp, "missing.sock"),
                         *shell("curl -sS -o /dev/null -w '%{http_code}' http://unlisted.test/"))
            with open(audit) as f:
                records = [json.loads(line) for line in f]
        self.assertEqual(result.stdout, b"403")
        denials = [r for r in records if r["decision"] == "deny"]
        self.assertEqual(len(denials), 1, records)
        self.assertEqual(denials[0]["reason"], "approval agent not running")

    def test_agent_hello_names_command(self):
        with tempfile.TemporaryDirectory() as tmp:
            go = os.path.join(tmp, "go")
            path = os.path.join(tmp, "agent.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
                listener.bind(path)
                listener.listen(1)
                listener.settimeout(hgtest.TIMEOUT)
                script = f"echo $$; while [ ! -e {go} ]; do sleep 0.05; done"
                process = subprocess.Popen([hgtest.PROXY_PATH, "run", "--network-approval", "ask",
                                            "--agent-socket", path, *shell(script)],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                try:
                    child = int(process.stdout.readline())
                    connection, _ = listener.accept()
                    with connection:
                        connection.settimeout(hgtest.TIMEOUT)
                        hello = json.loads(hgtest.recv_until(connection, b"\n").split(b"\n")[0])
                    open(go, "w").close()
                    self.assertEqual(process.wait(timeout=hgtest.TIMEOUT), 0)
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
                    process.stdout.close()
        session = hello["session"]
        self.assertEqual(hello["type"], "hello")
        self.assertEqual(session["pid"], child)
        self.assertEqual(session["label"], "sh")
        self.assertEqual(session["command"], f"/bin/sh -c {shlex.quote(script)}")

    def test_invalid_confine_value(self):
        result = run("--confine", "sometimes", *shell("true"))
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"sometimes", result.stderr)
        self.assertIn(b"auto, landlock or none", result.stderr)

    def test_help_describes_run(self):
        result = run("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Usage: hostgate-proxy run", result.stdout)
        self.assertIn(b"--confine", result.stdout)

    def test_proxy_help_mentions_run(self):
        result = subprocess.run([hgtest.PROXY_PATH, "--help"], capture_output=True,
                                timeout=hgtest.TIMEOUT)
        self.assertIn(b"hostgate-proxy run", result.stdout)

    def test_own_token_options_rejected(self):
        for args in (["--auth", "off"], ["--auth=off"], ["--token-file", "/dev/null"]):
            with self.subTest(args=args):
                result = run(*args, *shell("true"))
                self.assertEqual(result.returncode, 1)
                self.assertIn(args[0].encode(), result.stderr)
                self.assertIn(b"own random token", result.stderr)

    def test_missing_command(self):
        result = run("--allow-domain", "a.test", "--")
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"No command given", result.stderr)

    def test_command_without_separator(self):
        for args in (("true",), ("--allow-domain", "a.test")):
            with self.subTest(args=args):
                result = run(*args)
                self.assertEqual(result.returncode, 1)
                self.assertIn("Missing -- before the command", result.stderr.decode())

    def test_command_not_found(self):
        result = run("--", "/nonexistent/hostgate-test-command")
        self.assertEqual(result.returncode, 127)
        self.assertIn(b"/nonexistent/hostgate-test-command", result.stderr)

    def test_command_not_executable(self):
        with tempfile.NamedTemporaryFile(suffix=".sh") as script:
            result = run("--", script.name)
        self.assertEqual(result.returncode, 126)
        self.assertIn(script.name.encode(), result.stderr)

    def test_killed_child_logged_as_signal(self):
        result = run(*shell("kill -TERM $$"))
        self.assertIn(b"killed by signal 15", result.stderr)

    def test_listen_must_be_loopback(self):
        result = run("--listen", "0.0.0.0:0", *shell("true"))
        self.assertEqual(result.returncode, 1)
        self.assertIn("loopback address only, not on “0.0.0.0:0”:", result.stderr.decode())


if __name__ == "__main__":
    sys.exit(hgtest.main())
