"""A scripted fake proxy for testing hostgate-agent.

FakeProxy connects to the agent's Unix socket and speaks the proxy side
of the newline-delimited JSON protocol: the test sends messages with
send() or the helpers (hello, ask, cancel, event, ping) and reads the
agent's messages with expect(), which waits for the first message of a
type and keeps the others for later reads.
"""

import json
import os
import socket
import time

from hgtest import TIMEOUT


class Closed(Exception):
    """The agent closed the connection."""


class FakeProxy:
    def __init__(self, socket_path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        self.buffer = b""
        self.received = []
        self.closed = False
        self.next_id = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, message):
        self.send_raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def hello(self, profile="default", session_id=None, label="test sandbox",
              command="curl example", pid=None):
        """Send hello and return the welcome's filter."""
        self.session_id = session_id or f"s{os.getpid()}-{id(self)}"
        self.send({"type": "hello", "version": 1,
                   "session": {"id": self.session_id, "label": label, "profile": profile,
                               "pid": pid or os.getpid(), "command": command}})
        return self.expect("welcome")["filter"]

    def ask(self, host, port=443, kind="connect", timeout_ms=60000, ask_id=None):
        """Send ask; return its id."""
        if ask_id is None:
            ask_id = str(self.next_id)
            self.next_id += 1
        self.send({"type": "ask", "id": ask_id, "host": host, "port": port,
                   "kind": kind, "timeout_ms": timeout_ms})
        return ask_id

    def cancel(self, ask_id, reason="client-gone"):
        self.send({"type": "cancel", "id": ask_id, "reason": reason})

    def _read_line(self, deadline):
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message from the agent in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no message from the agent in time") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed("the agent closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def expect(self, message_type, timeout=TIMEOUT, **fields):
        """Return the first received message of message_type whose fields
        match; other messages stay queued for later calls."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.received):
                if message.get("type") == message_type and all(
                        message.get(k) == v for k, v in fields.items()):
                    return self.received.pop(index)
            self.received.append(self._read_line(deadline))

    def expect_nothing(self, message_type, wait=0.5, **fields):
        """Fail if a matching message arrives within wait seconds. Only
        absence can be checked this way, so the wait is a bounded sleep."""
        try:
            message = self.expect(message_type, timeout=wait, **fields)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message from the agent: {message}")

    def wait_closed(self, timeout=TIMEOUT):
        """Wait until the agent closes the connection; return the messages
        it sent before."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.received.append(self._read_line(deadline))
        except Closed:
            return self.received
