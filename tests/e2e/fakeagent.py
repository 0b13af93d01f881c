"""A scripted stand-in for hostgate-agent, for end-to-end tests.

FakeAgent listens on a Unix socket in a temporary folder (or at a path
the test chooses), accepts proxies on a thread per connection, records
every message it receives, and answers `hello` with `welcome` and a
filter the test sets. Everything else is up to the test: answer an
`ask` (or stay silent), push a `filter`, send any line, close the
connections, or kill the agent outright.

Waits poll the recorded messages with a deadline; nothing sleeps to
wait. The same uid runs both sides, so the proxy's SO_PEERCRED check
passes.
"""

import json
import os
import socket
import tempfile
import threading
import time

TIMEOUT = 10.0


class AgentConnection:
    """One proxy connected to the fake agent."""

    def __init__(self, agent, sock):
        self.agent = agent
        self.sock = sock
        self.hello = None
        self.closed = False
        self.write_lock = threading.Lock()

    def send(self, message):
        """Send one message (a dict) as a JSON line."""
        self.send_raw(json.dumps(message).encode() + b"\n")

    def send_raw(self, data):
        """Send bytes as they are, such as a line that is not JSON. A
        connection the test has closed drops them."""
        with self.write_lock:
            if self.closed:
                return
            self.sock.sendall(data)

    def close(self):
        with self.write_lock:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


class FakeAgent:
    """A fake approval agent on a Unix socket.

    allow, deny, approval_mode and timeout_secs make up the filter sent
    in `welcome`; its `profile` is the one the proxy named in `hello`
    unless profile is given. welcome=False leaves `hello` unanswered.
    before_welcome lists messages sent right before `welcome`, such as
    the `error` hostgate-agent sends when it cannot read the profile.
    """

    def __init__(self, path=None, allow=(), deny=(), approval_mode="ask", timeout_secs=60,
                 profile=None, revision=1, welcome=True, before_welcome=(), start=True):
        self.tmp = None
        if path is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="hostgate-agent-")
            path = os.path.join(self.tmp.name, "agent.sock")
        self.path = path
        self.allow = list(allow)
        self.deny = list(deny)
        self.approval_mode = approval_mode
        self.timeout_secs = timeout_secs
        self.profile = profile
        self.revision = revision
        self.welcome = welcome
        self.before_welcome = list(before_welcome)
        self.condition = threading.Condition()
        self.received = []
        self.connections = []
        self.listener = None
        if start:
            self.start()

    # Lifecycle

    def start(self):
        """Listen on self.path and accept proxies on a thread."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self.listener.listen(16)
        threading.Thread(target=self._accept_loop, args=(self.listener,), daemon=True).start()
        return self

    def close_connections(self):
        """Close every proxy connection; keep listening."""
        with self.condition:
            connections = list(self.connections)
        for connection in connections:
            connection.close()

    def kill(self):
        """Stop as a crashed agent would: connections and socket gone."""
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        self.close_connections()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def close(self):
        self.kill()
        if self.tmp is not None:
            self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Serving

    def _accept_loop(self, listener):
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            sock.settimeout(None)
            connection = AgentConnection(self, sock)
            with self.condition:
                self.connections.append(connection)
                self.condition.notify_all()
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        buffer = b""
        while True:
            try:
                chunk = connection.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                try:
                    message = json.loads(line)
                except ValueError:
                    message = {"type": None, "line": line}
                self._receive(connection, message)
        connection.closed = True
        with self.condition:
            self.condition.notify_all()

    def _receive(self, connection, message):
        with self.condition:
            self.received.append((connection, message))
            self.condition.notify_all()
        if message.get("type") == "hello":
            connection.hello = message
            for early in self.before_welcome:
                connection.send(early)
            if self.welcome:
                connection.send({"type": "welcome", "version": 1,
                                 "filter": self.filter_object(message["session"]["profile"])})

    def filter_object(self, profile=None):
        """Return the current filter as the members of a `filter`."""
        return {"profile": self.profile or profile or "default", "revision": self.revision,
                "allow": self.allow, "deny": self.deny, "approval_mode": self.approval_mode,
                "approval_timeout_secs": self.timeout_secs}

    # Observing

    def messages(self, kind=None):
        """Return the messages received so far, of type kind if given."""
        with self.condition:
            return [m for _, m in self.received if kind is None or m.get("type") == kind]

    def wait_message(self, kind, match=None, timeout=TIMEOUT, count=1):
        """Wait until count messages of type kind (for which match(message)
        is true, if given) have arrived; return the last of them."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                found = [m for _, m in self.received
                         if m.get("type") == kind and (match is None or match(m))]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {count} "
                                         f"“{kind}” messages; received {self.messages()}")
                self.condition.wait(remaining)

    def connection(self, timeout=TIMEOUT):
        """Wait for a proxy that has sent `hello`; return the latest one."""
        self.wait_message("hello", timeout=timeout)
        with self.condition:
            return [c for c in self.connections if c.hello is not None][-1]

    # Acting

    def send(self, message):
        """Send message to the latest proxy that said hello."""
        self.connection().send(message)

    def decide(self, ask, verdict="approve", duration="once", pattern=None):
        """Answer an `ask` message; pattern defaults to its host."""
        self.send({"type": "decision", "id": ask["id"], "verdict": verdict, "duration": duration,
                   "pattern": pattern if pattern is not None else ask["host"]})

    def push_filter(self, allow=None, deny=None, approval_mode=None, timeout_secs=None,
                    forget_session=False, bump_revision=True):
        """Change the filter, raise the revision unless bump_revision is
        false, and push it. forget_session=True adds the member that makes
        the proxy drop its session allow and deny entries."""
        if allow is not None:
            self.allow = list(allow)
        if deny is not None:
            self.deny = list(deny)
        if approval_mode is not None:
            self.approval_mode = approval_mode
        if timeout_secs is not None:
            self.timeout_secs = timeout_secs
        if bump_revision:
            self.revision += 1
        connection = self.connection()
        message = {"type": "filter"}
        message.update(self.filter_object(connection.hello["session"]["profile"]))
        if forget_session:
            message["forget_session"] = True
        connection.send(message)
