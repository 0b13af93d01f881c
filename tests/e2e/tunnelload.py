"""Many concurrent CONNECT tunnels through hostgate-proxy, driven by one
selector loop in the test process.

Each client connects to the proxy, sends CONNECT, waits for the 200,
sends its own slice of random bytes and shuts down its sending side.
The origin, on the same selector, hashes what arrives until end of
stream and replies with sha256(received) + its own random body +
sha256(body), then closes. A client that reads back exactly that has
proven that every byte went through both ways and that the half-close
was passed on.

With hold=True the origin keeps every answer until all tunnels have
reached it, so all of them are open at the same moment; on_all_open is
called then (to sample the proxy's descriptor count, say).
"""

import errno
import hashlib
import os
import selectors
import socket
import time

DIGEST = 32


class _Client:
    def __init__(self, load, index, payload):
        self.load = load
        self.index = index
        self.payload = payload
        self.expected_digest = hashlib.sha256(payload).digest()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.state = "connecting"
        self.head = b""
        self.out = memoryview(load.connect_head)
        self.reply = bytearray()
        self.error = None
        err = self.sock.connect_ex((load.proxy.host, load.proxy.port))
        if err not in (0, errno.EINPROGRESS):
            self.fail(f"connect failed: {os.strerror(err)}")
            return
        load.selector.register(self.sock, selectors.EVENT_WRITE, self)

    def fail(self, message):
        self.error = message
        self.close("failed")
        self.load.failed += 1
        self.load.release()

    def close(self, state):
        self.state = state
        try:
            self.load.selector.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()
        self.load.finished += 1

    def on_event(self, mask):
        if self.state == "connecting":
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.fail(f"connect failed: {os.strerror(err)}")
                return
            self.state = "head"
        if self.state in ("head", "payload") and mask & selectors.EVENT_WRITE:
            self._write()
        elif self.state in ("response", "reply") and mask & selectors.EVENT_READ:
            self._read()

    def _write(self):
        try:
            n = self.sock.send(self.out[:65536])
        except BlockingIOError:
            return
        except OSError as e:
            self.fail(f"send failed in state {self.state}: {e}")
            return
        self.out = self.out[n:]
        if len(self.out):
            return
        if self.state == "head":
            self.state = "response"
        else:
            self.sock.shutdown(socket.SHUT_WR)
            self.state = "reply"
        self.load.selector.modify(self.sock, selectors.EVENT_READ, self)

    def _read(self):
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self.fail(f"recv failed in state {self.state}: {e}")
            return
        if self.state == "response":
            if not chunk:
                self.fail(f"closed before the CONNECT response, got {self.head!r}")
                return
            self.head += chunk
            if b"\r\n\r\n" not in self.head:
                return
            head, _, rest = self.head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 "):
                status_line = head.split(b"\r\n")[0]
                self.fail(f"CONNECT answered {status_line!r}")
                return
            self.reply += rest
            self.state = "payload"
            self.out = memoryview(self.payload)
            self.load.selector.modify(self.sock, selectors.EVENT_WRITE, self)
            return
        if chunk:
            self.reply += chunk
            return
        self._check()

    def _check(self):
        reply = bytes(self.reply)
        body = reply[DIGEST:-DIGEST]
        if len(reply) != 2 * DIGEST + self.load.down_size:
            self.fail(f"reply has {len(reply)} bytes, expected {2 * DIGEST + self.load.down_size}")
        elif reply[:DIGEST] != self.expected_digest:
            self.fail("the origin's digest of the upload does not match what was sent")
        elif hashlib.sha256(body).digest() != reply[-DIGEST:]:
            self.fail("the downloaded body does not match its digest")
        else:
            self.close("done")


class _OriginConnection:
    def __init__(self, load, sock):
        self.load = load
        self.sock = sock
        self.sock.setblocking(False)
        self.hash = hashlib.sha256()
        self.received = 0
        self.out = None
        load.selector.register(sock, selectors.EVENT_READ, self)

    def on_event(self, mask):
        if self.out is None and mask & selectors.EVENT_READ:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                self._close()
                return
            if chunk:
                self.hash.update(chunk)
                self.received += len(chunk)
                return
            body = self.load.body_for(self.received)
            self.out = memoryview(self.hash.digest() + body + hashlib.sha256(body).digest())
            self.load.ready.append(self)
            self.load.selector.unregister(self.sock)
            self.load.release()
        elif self.out is not None and mask & selectors.EVENT_WRITE:
            try:
                n = self.sock.send(self.out[:65536])
            except BlockingIOError:
                return
            except OSError:
                self._close()
                return
            self.out = self.out[n:]
            if not len(self.out):
                self._close()

    def start_reply(self):
        self.load.selector.register(self.sock, selectors.EVENT_WRITE, self)

    def _close(self):
        try:
            self.load.selector.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()


class _Origin:
    def __init__(self, load):
        self.load = load
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        load.selector.register(self.sock, selectors.EVENT_READ, self)

    def on_event(self, mask):
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return
            self.accepted += 1
            _OriginConnection(self.load, conn)

    def close(self):
        self.sock.close()


class TunnelLoad:
    """count tunnels through proxy, up_size bytes up and down_size bytes
    down each, at most ramp connections waiting for their 200 at once.
    Start with run(); results are in self.clients."""

    def __init__(self, count, up_size, down_size, hold=True, ramp=128):
        self.count = count
        self.up_size = up_size
        self.down_size = down_size
        self.hold = hold
        self.ramp = ramp
        self.selector = selectors.DefaultSelector()
        self.origin = _Origin(self)
        self.random = os.urandom(max(up_size, down_size) + (1 << 20))
        self.clients = []
        self.ready = []
        self.released = False
        self.finished = 0
        self.failed = 0
        self.proxy = None
        self.connect_head = None
        self.on_all_open = None
        self.all_open_at = None

    @property
    def port(self):
        return self.origin.port

    def body_for(self, received):
        offset = int.from_bytes(os.urandom(4), "big") % (len(self.random) - self.down_size)
        return self.random[offset:offset + self.down_size]

    def release(self):
        """Starts the held replies once every tunnel has reached the
        origin (or at once without hold)."""
        if self.hold and not self.released and len(self.ready) < self.count - self.failed:
            return
        if not self.released:
            self.released = True
            self.all_open_at = time.monotonic()
            if self.on_all_open is not None:
                self.on_all_open()
        for connection in self.ready:
            connection.start_reply()
        self.ready = []

    def _waiting_for_response(self):
        return sum(1 for c in self.clients if c.state in ("connecting", "head", "response"))

    def run(self, proxy, authority, auth_line, deadline_secs):
        """Runs every tunnel to its end or until deadline_secs pass;
        returns the seconds taken."""
        self.proxy = proxy
        self.connect_head = (f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
                             f"{auth_line}\r\n").encode()
        start = time.monotonic()
        deadline = start + deadline_secs
        while self.finished < self.count:
            if time.monotonic() > deadline:
                states = {}
                for client in self.clients:
                    states[client.state] = states.get(client.state, 0) + 1
                raise AssertionError(f"tunnels not finished after {deadline_secs} s: {states}, "
                                     f"{self.origin.accepted} reached the origin, "
                                     f"{len(self.clients)} started")
            while len(self.clients) < self.count and self._waiting_for_response() < self.ramp:
                offset = (len(self.clients) * 7919) % (len(self.random) - self.up_size)
                self.clients.append(_Client(self, len(self.clients),
                                            self.random[offset:offset + self.up_size]))
            for key, mask in self.selector.select(timeout=0.2):
                key.data.on_event(mask)
        return time.monotonic() - start

    def errors(self):
        return [(c.index, c.error) for c in self.clients if c.error]

    def close(self):
        for client in self.clients:
            if client.state not in ("done", "failed"):
                client.sock.close()
        self.origin.close()
        self.selector.close()
