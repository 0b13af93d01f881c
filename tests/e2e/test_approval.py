"""Interactive approval: hostgate-proxy in approval mode `ask` against a
scripted fake agent (fakeagent.py) on a Unix socket. Clients are raw
sockets; names are pinned to 127.0.0.1 with the proxy's --resolve."""

import json
import os
import signal
import socket
import tempfile
import time
import unittest

import hgtest
from fakeagent import FakeAgent
from hgtest import EchoServer, HttpOrigin, Proxy


class PendingConnect:
    """A CONNECT request sent on its own connection, answer not read yet."""

    def __init__(self, proxy, authority):
        self.sock = proxy.connect()
        self.sock.sendall(proxy.connect_request(authority))

    def response(self):
        return hgtest.read_response(self.sock)

    def close(self):
        self.sock.close()


class ApprovalTest(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer()
        self.addCleanup(self.echo.close)
        self.agent = FakeAgent()
        self.addCleanup(self.agent.close)

    def proxy(self, *args, agent_socket=None, network_approval="ask", **kwargs):
        mode = ["--network-approval", network_approval] if network_approval else []
        proxy = Proxy(*mode, "--allow-loopback", "--agent-socket", agent_socket or self.agent.path,
                      *args, **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def profile_proxy(self, *args, allow=()):
        """A proxy running the profile named `t`, found in its config folder."""
        folder = tempfile.TemporaryDirectory(prefix="hostgate-config-")
        self.addCleanup(folder.cleanup)
        profiles = os.path.join(folder.name, "hostgate", "profiles")
        os.makedirs(profiles)
        with open(os.path.join(profiles, "t.json"), "w") as f:
            json.dump({"meta": {"name": "t"},
                       "network": {"approval_mode": "ask", "allow_domain": list(allow)}}, f)
        return self.proxy("--profile", "t", *args, network_approval=None,
                          env={"XDG_CONFIG_HOME": folder.name})

    def pins(self, *names):
        args = []
        for name in names:
            args += ["--resolve", f"{name}:*:127.0.0.1"]
        return args

    def pending(self, proxy, name):
        request = PendingConnect(proxy, f"{name}:{self.echo.port}")
        self.addCleanup(request.close)
        return request

    def assert_echo(self, sock, response):
        self.assertEqual(response.status, 200, response)
        sock.sendall(b"ping")
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(response.rest + hgtest.recv_all(sock), b"ping")

    def assert_tunnel(self, proxy, name):
        sock, response = proxy.open_tunnel(f"{name}:{self.echo.port}")
        with sock:
            self.assert_echo(sock, response)

    def assert_timeout_ms(self, ask, expected):
        # A question that waited for `welcome` carries the time it has left.
        self.assertLessEqual(ask["timeout_ms"], expected)
        self.assertGreater(ask["timeout_ms"], expected - 2000)

    def wait_log(self, proxy, text):
        hgtest.wait_for(lambda: text in proxy.stderr(), message=f"“{text}” in the proxy's log")

    def three_waiting(self, proxy, name):
        requests = [self.pending(proxy, name) for _ in range(3)]
        ask = self.agent.wait_message("ask")
        self.wait_log(proxy, f"3 requests wait on question {ask['id']}")
        return requests, ask


class SharedPromptTest(ApprovalTest):
    def test_deny_once_answers_all(self):
        proxy = self.proxy(*self.pins("a.test"), debug=True)
        requests, ask = self.three_waiting(proxy, "a.test")
        self.assertEqual(ask["host"], "a.test")
        self.assertEqual(ask["port"], self.echo.port)
        self.assertEqual(ask["kind"], "connect")
        self.assert_timeout_ms(ask, 60000)

        self.agent.decide(ask, "deny", "once")
        for request in requests:
            response = request.response()
            self.assertEqual(response.status, 403, response)
            self.assertIn("denied by the user", response.reason)
        self.assertEqual(len(self.agent.messages("ask")), 1)
        self.assertEqual(self.echo.connections, 0)

    def test_approve_session_answers_all(self):
        proxy = self.proxy(*self.pins("a.test"), debug=True)
        requests, ask = self.three_waiting(proxy, "a.test")

        self.agent.decide(ask, "approve", "session")
        for request in requests:
            self.assert_echo(request.sock, request.response())
        self.assert_tunnel(proxy, "a.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)

    def test_request_records_sent_as_events(self):
        proxy = self.proxy("--allow-domain", "ok.test", *self.pins("ok.test"))
        self.agent.connection()
        self.wait_log(proxy, "Using revision 1")
        self.assert_tunnel(proxy, "ok.test")

        event = self.agent.wait_message("event", lambda m: m.get("decision") == "allow")
        self.assertEqual(event["host"], "ok.test")
        self.assertEqual(event["method"], "CONNECT")
        self.assertEqual(event["bytes_up"], 4)
        self.assertEqual(event["bytes_down"], 4)
        self.assertIn("client", event)

    def test_steps_sent_as_events(self):
        proxy = self.proxy(*self.pins("a.test"))
        request = self.pending(proxy, "a.test")
        ask = self.agent.wait_message("ask")
        self.agent.decide(ask, "approve", "once")
        self.assert_echo(request.sock, request.response())

        granted = self.agent.wait_message("event", lambda m: m.get("decision") == "approval-granted")
        self.assertEqual(granted["host"], "a.test")
        self.assertEqual(granted["pattern"], "a.test")
        self.assertEqual(granted["session"], self.agent.messages("hello")[0]["session"]["id"])
        requested = self.agent.messages("event")[0]
        self.assertEqual(requested["decision"], "approval-requested")
        records = [r for r in proxy.audit_records() if r["decision"].startswith("approval-")]
        self.assertEqual([r["decision"] for r in records], ["approval-requested", "approval-granted"])

    def test_wildcard_session_covers_apex(self):
        proxy = self.proxy(*self.pins("www.b.test", "b.test"))
        request = self.pending(proxy, "www.b.test")
        ask = self.agent.wait_message("ask")
        self.agent.decide(ask, "approve", "session", "*.b.test")
        self.assert_echo(request.sock, request.response())
        self.assert_tunnel(proxy, "b.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)

    def test_deny_session_blocks_later(self):
        proxy = self.proxy(*self.pins("no.test"))
        request = self.pending(proxy, "no.test")
        ask = self.agent.wait_message("ask")
        self.agent.decide(ask, "deny", "session")
        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("denied by the user for this session", response.reason)

        # The entry is in no file, so the reason names the person's answer.
        response = proxy.request(proxy.connect_request(f"no.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertEqual(response.reason, '"no.test" was denied by the user for this session')
        self.assertEqual(len(self.agent.messages("ask")), 1)
        self.assertEqual(self.echo.connections, 0)

    def test_approve_always_then_filter(self):
        proxy = self.proxy(*self.pins("al.test"))
        request = self.pending(proxy, "al.test")
        ask = self.agent.wait_message("ask")
        self.agent.decide(ask, "approve", "always")
        self.agent.push_filter(allow=["al.test"])
        self.assert_echo(request.sock, request.response())

        self.wait_log(proxy, "Using revision 2")
        self.assert_tunnel(proxy, "al.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)

    def test_unknown_decision_ignored(self):
        proxy = self.proxy(*self.pins("a.test"))
        connection = self.agent.connection()
        for duration in ("once", "session"):
            connection.send({"type": "decision", "id": "999", "verdict": "approve",
                             "duration": duration, "pattern": "a.test"})
        connection.send({"type": "ping", "id": "after"})
        self.assertEqual(self.agent.wait_message("pong")["id"], "after")

        request = self.pending(proxy, "a.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "a.test")
        self.assertEqual(self.agent.messages("error"), [])
        request.close()

    def test_agent_too_many_prompts(self):
        proxy = self.proxy(*self.pins("busy.test"))
        request = self.pending(proxy, "busy.test")
        ask = self.agent.wait_message("ask")
        self.agent.send({"type": "error", "code": "too-many-prompts", "message": "busy",
                         "id": ask["id"]})

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("too many open prompts", response.reason)

    def test_agent_prompts_paused(self):
        proxy = self.proxy(*self.pins("paused.test"))
        request = self.pending(proxy, "paused.test")
        ask = self.agent.wait_message("ask")
        self.agent.send({"type": "error", "code": "prompts-paused", "message": "paused",
                         "id": ask["id"]})

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertEqual(response.reason, "the user paused the approval prompts")
        records = hgtest.wait_for(
            lambda: [r for r in proxy.audit_records() if r["decision"] == "approval-failed"],
            message="the approval-failed record")
        self.assertEqual(records[0]["reason"], "the user paused the approval prompts")

    def test_wildcard_answer_settles_others(self):
        proxy = self.proxy(*self.pins("a.w.test", "b.w.test"))
        first = self.pending(proxy, "a.w.test")
        ask_a = self.agent.wait_message("ask")
        second = self.pending(proxy, "b.w.test")
        ask_b = self.agent.wait_message("ask", count=2)

        self.agent.decide(ask_a, "approve", "session", "*.w.test")
        self.assert_echo(first.sock, first.response())
        self.assert_echo(second.sock, second.response())
        cancel = self.agent.wait_message("cancel")
        self.assertEqual(cancel["id"], ask_b["id"])
        self.assertEqual(cancel["reason"], "client-gone")
        self.assertEqual(len(self.agent.messages("cancel")), 1)

    def test_filter_push_settles_open(self):
        proxy = self.proxy(*self.pins("f.test"))
        request = self.pending(proxy, "f.test")
        ask = self.agent.wait_message("ask")
        self.agent.push_filter(allow=["f.test"])

        self.assert_echo(request.sock, request.response())
        cancel = self.agent.wait_message("cancel")
        self.assertEqual(cancel["id"], ask["id"])

    def test_pattern_not_covering_host(self):
        proxy = self.proxy(*self.pins("a.test", "b.test"))
        request = self.pending(proxy, "a.test")
        ask = self.agent.wait_message("ask")
        self.agent.decide(ask, "approve", "session", "b.test")

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("invalid decision", response.reason)
        error = self.agent.wait_message("error")
        self.assertEqual(error["id"], ask["id"])
        self.assertEqual(error["code"], "invalid-message")
        self.assertEqual(self.echo.connections, 0)


class EndOfPromptTest(ApprovalTest):
    def test_timeout_denies_and_cancels(self):
        proxy = self.proxy("--approval-timeout", "5", *self.pins("slow.test"))
        request = self.pending(proxy, "slow.test")
        ask = self.agent.wait_message("ask")
        self.assert_timeout_ms(ask, 5000)

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("approval timed out", response.reason)
        cancel = self.agent.wait_message("cancel")
        self.assertEqual(cancel["id"], ask["id"])
        self.assertEqual(cancel["reason"], "timeout")

    def assert_unanswered(self, proxy, host, reason):
        records = hgtest.wait_for(
            lambda: [r for r in proxy.audit_records() if r["decision"] == "error"],
            message="the record of the unanswered request")
        self.assertEqual(len(records), 1, records)
        self.assertEqual(records[0]["host"], host)
        self.assertEqual(records[0]["method"], "CONNECT")
        self.assertEqual(records[0]["status"], 0)
        self.assertEqual(records[0]["reason"], reason)
        self.assertIsNotNone(records[0]["client"])

    def test_client_gone_cancels(self):
        proxy = self.proxy(*self.pins("gone.test"))
        request = self.pending(proxy, "gone.test")
        ask = self.agent.wait_message("ask")
        request.close()

        cancel = self.agent.wait_message("cancel")
        self.assertEqual(cancel["id"], ask["id"])
        self.assertEqual(cancel["reason"], "client-gone")
        self.assert_unanswered(proxy, "gone.test",
                               "the client closed the connection before the response")

    def test_half_closed_client_recorded(self):
        # The proxy cannot tell a client that only stopped sending from
        # one that left, so it withdraws the question either way.
        proxy = self.proxy(*self.pins("half.test"))
        request = self.pending(proxy, "half.test")
        self.agent.wait_message("ask")
        request.sock.shutdown(socket.SHUT_WR)

        self.assertEqual(hgtest.recv_all(request.sock), b"")
        self.assertEqual(self.agent.wait_message("cancel")["reason"], "client-gone")
        self.assert_unanswered(proxy, "half.test",
                               "the client closed the connection before the response")
        event = self.agent.wait_message("event", lambda m: m.get("decision") == "error")
        self.assertEqual(event["host"], "half.test")
        self.assertEqual(event["reason"], "the client closed the connection before the response")

    def test_unanswered_at_shutdown_recorded(self):
        proxy = self.proxy("--grace-period", "1", *self.pins("late.test"))
        request = self.pending(proxy, "late.test")
        self.agent.wait_message("ask")
        proxy.process.send_signal(signal.SIGTERM)

        self.assertEqual(proxy.process.wait(hgtest.TIMEOUT), 0)
        self.assertEqual(hgtest.recv_all(request.sock), b"")
        self.assert_unanswered(proxy, "late.test",
                               "closed at the end of the shutdown grace period")
        cancelled = [r for r in proxy.audit_records() if r["decision"] == "approval-cancelled"]
        self.assertEqual([r["reason"] for r in cancelled],
                         ["the proxy closed every waiting client at the end of the shutdown grace period"])

    def test_one_client_gone_keeps_prompt(self):
        proxy = self.proxy(*self.pins("a.test"), debug=True)
        requests, ask = self.three_waiting(proxy, "a.test")
        requests[0].close()
        self.wait_log(proxy, f"2 requests still wait on question {ask['id']}")
        self.agent.decide(ask, "approve", "once")
        for request in requests[1:]:
            self.assert_echo(request.sock, request.response())
        self.assertEqual(self.agent.messages("cancel"), [])

    def test_agent_killed_denies_at_once(self):
        proxy = self.proxy(*self.pins("a.test"))
        request = self.pending(proxy, "a.test")
        self.agent.wait_message("ask")

        start = time.monotonic()
        self.agent.kill()
        response = request.response()
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(response.status, 403, response)
        self.assertIn("approval agent disconnected", response.reason)

    def test_late_session_decision_applies(self):
        proxy = self.proxy("--approval-timeout", "5", *self.pins("late.test"))
        request = self.pending(proxy, "late.test")
        ask = self.agent.wait_message("ask")
        self.assertEqual(request.response().status, 403)
        self.agent.wait_message("cancel")

        self.agent.decide(ask, "approve", "session")
        self.wait_log(proxy, f"after the question {ask['id']} ended")
        self.assert_tunnel(proxy, "late.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)


class WaitingClientTest(ApprovalTest):
    def test_bytes_sent_while_waiting(self):
        proxy = self.proxy(*self.pins("early.test"))
        sock = proxy.connect()
        self.addCleanup(sock.close)
        sock.sendall(proxy.connect_request(f"early.test:{self.echo.port}"))
        ask = self.agent.wait_message("ask")
        sock.sendall(b"early bytes")
        self.agent.decide(ask, "approve", "once")

        response = hgtest.read_response(sock)
        self.assertEqual(response.status, 200, response)
        sock.sendall(b" and more")
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(response.rest + hgtest.recv_all(sock), b"early bytes and more")

    def test_plain_http_asks_kind_http(self):
        origin = HttpOrigin()
        self.addCleanup(origin.close)
        proxy = self.proxy(*self.pins("web.test"))
        sock = proxy.connect()
        self.addCleanup(sock.close)
        body = b"posted while waiting"
        head = (f"POST http://web.test:{origin.port}/form HTTP/1.1\r\n"
                f"Host: web.test:{origin.port}\r\n{proxy.auth_lines()}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        sock.sendall(head)
        ask = self.agent.wait_message("ask")
        self.assertEqual(ask["kind"], "http")
        self.assertEqual(ask["host"], "web.test")
        self.assertEqual(ask["port"], origin.port)
        sock.sendall(body)
        self.agent.decide(ask, "approve", "once")

        response = hgtest.read_response(sock)
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.body, b"hello from the origin\n")
        self.assertEqual(origin.requests[0][0], "POST")
        self.assertEqual(origin.requests[0][3], body)


class AddressCheckTest(ApprovalTest):
    def test_once_approval_of_metadata_pin(self):
        proxy = self.proxy("--resolve", "meta.test:*:169.254.169.254")
        request = self.pending(proxy, "meta.test")
        ask = self.agent.wait_message("ask")
        self.assertEqual(ask["host"], "meta.test")
        self.agent.decide(ask, "approve", "once")

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("169.254.169.254", response.reason)

    def test_no_token_never_asks(self):
        proxy = self.proxy(*self.pins("a.test"))
        self.agent.connection()
        raw = f"CONNECT a.test:{self.echo.port} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode()
        response = proxy.request(raw)
        self.assertEqual(response.status, 407, response)

        request = self.pending(proxy, "b.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "b.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)
        request.close()

    def test_denied_hosts_never_ask(self):
        proxy = self.proxy("--deny-domain", "bad.test", *self.pins("bad.test", "fine.test"))
        for authority in ("bad.test:443", "169.254.169.254:80", "metadata.google.internal:443",
                          "[fd00:ec2::254]:80", "0.0.0.0:80"):
            with self.subTest(authority=authority):
                response = proxy.request(proxy.connect_request(authority))
                self.assertEqual(response.status, 403, response)
        response = proxy.request(proxy.connect_request("bad host:443"))
        self.assertEqual(response.status, 400, response)

        # An unlisted host afterwards is asked about, so the agent was
        # connected all along and the hosts above were never asked.
        request = self.pending(proxy, "fine.test")
        ask = self.agent.wait_message("ask")
        self.assertEqual(ask["host"], "fine.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)
        request.close()


class FilterPushTest(ApprovalTest):
    def test_push_allow_needs_no_ask(self):
        proxy = self.proxy(*self.pins("pushed.test"))
        self.agent.connection()
        self.agent.push_filter(allow=["pushed.test"])
        self.wait_log(proxy, "Using revision 2")

        self.assert_tunnel(proxy, "pushed.test")
        self.assertEqual(self.agent.messages("ask"), [])

    def test_push_deny_blocks_allowed(self):
        proxy = self.proxy("--allow-domain", "ok.test", *self.pins("ok.test"))
        self.assert_tunnel(proxy, "ok.test")

        self.agent.push_filter(deny=["ok.test"])
        self.wait_log(proxy, "Using revision 2")
        response = proxy.request(proxy.connect_request(f"ok.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertIn("deny list", response.reason)
        self.assertEqual(self.agent.messages("ask"), [])

    def test_old_revision_ignored(self):
        proxy = self.proxy(*self.pins("old.test"), debug=True)
        connection = self.agent.connection()
        message = {"type": "filter"}
        message.update(self.agent.filter_object())
        message.update({"revision": 0, "allow": ["old.test"]})
        connection.send(message)
        self.wait_log(proxy, "Ignoring revision 0")

        request = self.pending(proxy, "old.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "old.test")
        request.close()

    def file_proxy(self, *args, allow=(), deny=()):
        """A proxy running `elsewhere/default.json` through --profile-file.
        The file has no meta.name, so the proxy names it `default` too."""
        folder = tempfile.TemporaryDirectory(prefix="hostgate-profile-")
        self.addCleanup(folder.cleanup)
        os.makedirs(os.path.join(folder.name, "elsewhere"))
        path = os.path.join(folder.name, "elsewhere", "default.json")
        with open(path, "w") as f:
            json.dump({"network": {"approval_mode": "ask", "allow_domain": list(allow),
                                   "deny_domain": list(deny)}}, f)
        return self.proxy("--profile-file", path, *args, network_approval=None)

    def test_welcome_replaces_profile_lists(self):
        proxy = self.profile_proxy(*self.pins("kept.test"), allow=["kept.test"])
        self.wait_log(proxy, "Using revision 1")
        request = self.pending(proxy, "kept.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "kept.test")
        request.close()

    def test_welcome_keeps_file_lists(self):
        self.agent.close()
        self.agent = FakeAgent(allow=["other.test", "no.test"], deny=["yes.test"],
                               approval_mode="off")
        self.addCleanup(self.agent.close)
        proxy = self.file_proxy(*self.pins("yes.test", "no.test", "other.test"),
                                allow=["yes.test"], deny=["no.test"])
        self.wait_log(proxy, "Not using the agent's lists of profile “default”")

        self.assert_tunnel(proxy, "yes.test")
        response = proxy.request(proxy.connect_request(f"no.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertIn("deny list", response.reason)
        request = self.pending(proxy, "other.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "other.test")
        request.close()
        self.assertNotIn("Using revision", proxy.stderr())

    def test_push_keeps_file_lists(self):
        proxy = self.file_proxy(*self.pins("yes.test", "new.test"), allow=["yes.test"])
        self.agent.connection()
        self.agent.push_filter(allow=["new.test"], deny=["yes.test"], approval_mode="off")
        self.agent.push_filter(allow=["new.test"])
        # The proxy reads its agent messages in order: the pong follows the pushes.
        self.agent.send({"type": "ping", "id": "after-push"})
        self.agent.wait_message("pong", lambda m: m.get("id") == "after-push")

        self.assert_tunnel(proxy, "yes.test")
        request = self.pending(proxy, "new.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "new.test")
        request.close()
        self.assertEqual(proxy.stderr().count("Not using the agent's lists"), 1)

    def test_file_profile_always_answer(self):
        proxy = self.file_proxy(*self.pins("yes.test"))
        self.agent.connection()
        request = self.pending(proxy, "yes.test")
        self.agent.decide(self.agent.wait_message("ask"), "approve", "always")
        self.assert_echo(request.sock, request.response())

        # The agent stores the answer in its own profile and pushes it.
        self.agent.push_filter(allow=["yes.test"])
        self.agent.send({"type": "ping", "id": "after-push"})
        self.agent.wait_message("pong", lambda m: m.get("id") == "after-push")
        self.assert_tunnel(proxy, "yes.test")
        self.assertEqual(len(self.agent.messages("ask")), 1)

    def test_file_profile_forget_session(self):
        proxy = self.file_proxy(*self.pins("yes.test"))
        self.agent.connection()
        request = self.pending(proxy, "yes.test")
        self.agent.decide(self.agent.wait_message("ask"), "approve", "session")
        self.assert_echo(request.sock, request.response())
        self.assert_tunnel(proxy, "yes.test")

        self.agent.push_filter(forget_session=True)
        self.wait_log(proxy, "forget the session decisions")
        request = self.pending(proxy, "yes.test")
        self.agent.wait_message("ask", count=2)
        request.close()

    def test_file_profile_forget_keeps_always(self):
        """A proxy with --profile-file holds its Always answers in the
        session lists, and forgetting the Session answers keeps them."""
        proxy = self.file_proxy(*self.pins("always.test", "never.test", "yes.test"))
        self.agent.connection()
        for name, verdict, duration in (("always.test", "approve", "always"),
                                        ("never.test", "deny", "always"),
                                        ("yes.test", "approve", "session")):
            request = self.pending(proxy, name)
            ask = self.agent.wait_message("ask", lambda m, name=name: m["host"] == name)
            self.agent.decide(ask, verdict, duration)
            request.response()
            request.close()

        self.agent.push_filter(forget_session=True)
        self.wait_log(proxy, "forget the session decisions")

        self.assert_tunnel(proxy, "always.test")
        response = proxy.request(proxy.connect_request(f"never.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        request = self.pending(proxy, "yes.test")
        self.agent.wait_message("ask", lambda m: m["host"] == "yes.test", count=2)
        request.close()
        hosts = [m["host"] for m in self.agent.messages("ask")]
        self.assertEqual(hosts.count("always.test"), 1)
        self.assertEqual(hosts.count("never.test"), 1)

    def test_unreadable_profile_keeps_lists(self):
        self.agent.close()
        self.agent = FakeAgent(approval_mode="off", before_welcome=[
            {"type": "error", "code": "invalid-profile", "message": "cannot read t"}])
        self.addCleanup(self.agent.close)
        proxy = self.profile_proxy(*self.pins("kept.test", "new.test"), allow=["kept.test"])
        self.wait_log(proxy, "keeping the lists this proxy loaded")
        self.assertIn("The approval agent sent no lists: cannot read t", proxy.stderr())
        self.assertNotIn("reported an error", proxy.stderr())

        self.assert_tunnel(proxy, "kept.test")
        request = self.pending(proxy, "new.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "new.test")
        request.close()

    def test_pushed_address_entries_apply(self):
        """IPv4 entries pushed by the agent apply as written: an allowed
        address goes through without a question, and a denied address
        denies a name that resolves to it."""
        proxy = self.proxy(*self.pins("named.test"))
        self.agent.connection()
        self.agent.push_filter(allow=["127.0.0.1", "named.test"], deny=["127.0.0.1/32"])
        self.wait_log(proxy, "Using revision 2")

        response = proxy.request(proxy.connect_request(f"named.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertIn("the deny list entry \"127.0.0.1\"", response.reason)

        self.agent.push_filter(allow=["127.0.0.1"], deny=[])
        self.wait_log(proxy, "Using revision 3")
        self.assert_tunnel(proxy, "127.0.0.1")
        self.assertEqual(self.agent.messages("ask"), [])

    def test_push_mode_off_from_profile(self):
        proxy = self.profile_proxy(*self.pins("off.test"))
        self.agent.connection()
        self.agent.push_filter(approval_mode="off")
        self.wait_log(proxy, "approval off")

        response = proxy.request(proxy.connect_request(f"off.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertIn("not in the allow list", response.reason)
        self.assertEqual(self.agent.messages("ask"), [])

    def test_flag_mode_beats_push(self):
        proxy = self.proxy(*self.pins("on.test"))
        self.agent.connection()
        self.agent.push_filter(approval_mode="off", timeout_secs=7)
        self.wait_log(proxy, "Using revision 2")

        request = self.pending(proxy, "on.test")
        self.assert_timeout_ms(self.agent.wait_message("ask"), 7000)
        request.close()


class ForgetSessionTest(ApprovalTest):
    def session_answer(self, proxy, name, verdict):
        request = self.pending(proxy, name)
        ask = self.agent.wait_message("ask", lambda m: m["host"] == name)
        self.agent.decide(ask, verdict, "session")
        response = request.response()
        self.assertEqual(response.status, 200 if verdict == "approve" else 403, response)
        request.close()

    def asks_for(self, name):
        return [m for m in self.agent.messages("ask") if m["host"] == name]

    def test_forget_asks_again(self):
        proxy = self.proxy(*self.pins("yes.test", "no.test"))
        self.agent.connection()
        self.session_answer(proxy, "yes.test", "approve")
        self.session_answer(proxy, "no.test", "deny")
        self.assert_tunnel(proxy, "yes.test")

        self.agent.push_filter(forget_session=True, bump_revision=False)
        self.wait_log(proxy, "forget the session decisions")

        for name in ("yes.test", "no.test"):
            request = self.pending(proxy, name)
            ask = self.agent.wait_message("ask", lambda m, name=name: m["host"] == name, count=2)
            self.assertEqual(len(self.asks_for(name)), 2)
            self.agent.decide(ask, "approve", "once")
            self.assert_echo(request.sock, request.response())

    def test_forget_applies_pushed_lists(self):
        proxy = self.proxy(*self.pins("old.test", "new.test"))
        self.agent.connection()
        self.session_answer(proxy, "old.test", "approve")

        self.agent.push_filter(allow=["new.test"], forget_session=True)
        self.wait_log(proxy, "Using revision 2")
        self.assert_tunnel(proxy, "new.test")
        self.assertEqual(self.asks_for("new.test"), [])

        request = self.pending(proxy, "old.test")
        self.agent.wait_message("ask", lambda m: m["host"] == "old.test", count=2)
        request.close()

    def test_push_without_flag_keeps_session(self):
        proxy = self.proxy(*self.pins("yes.test", "no.test"))
        self.agent.connection()
        self.session_answer(proxy, "yes.test", "approve")
        self.session_answer(proxy, "no.test", "deny")

        self.agent.push_filter(allow=["other.test"])
        self.wait_log(proxy, "Using revision 2")
        self.assert_tunnel(proxy, "yes.test")
        response = proxy.request(proxy.connect_request(f"no.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertEqual(response.reason, "\"no.test\" was denied by the user for this session")
        self.assertEqual(len(self.asks_for("yes.test")), 1)
        self.assertEqual(len(self.asks_for("no.test")), 1)
        self.assertNotIn("forget the session decisions", proxy.stderr())

    def test_forget_without_lists_keeps_lists(self):
        """A filter right after an invalid-profile error only makes the
        proxy forget its Session answers; its lists and approval mode
        stay."""
        self.agent.allow = ["kept.test"]
        proxy = self.profile_proxy(*self.pins("kept.test", "yes.test"), allow=["kept.test"])
        connection = self.agent.connection()
        self.session_answer(proxy, "yes.test", "approve")

        connection.send({"type": "error", "code": "invalid-profile", "message": "no such profile"})
        message = {"type": "filter", "forget_session": True}
        message.update(self.agent.filter_object(connection.hello["session"]["profile"]))
        message.update(allow=[], deny=[], approval_mode="off", revision=0)
        connection.send(message)
        self.wait_log(proxy, "forget the session decisions")
        self.assertIn("keeping the lists this proxy loaded", proxy.stderr())

        self.assert_tunnel(proxy, "kept.test")
        request = self.pending(proxy, "yes.test")
        self.agent.wait_message("ask", lambda m: m["host"] == "yes.test", count=2)
        request.close()

        # The error covers only the filter right after it: the next push
        # replaces the lists as usual.
        self.agent.push_filter(allow=["yes.test"], approval_mode="off")
        self.wait_log(proxy, "Using revision 2")
        response = proxy.request(proxy.connect_request(f"kept.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)

    def test_forget_for_other_profile_ignored(self):
        proxy = self.proxy(*self.pins("yes.test"), debug=True)
        connection = self.agent.connection()
        self.session_answer(proxy, "yes.test", "approve")

        message = {"type": "filter", "forget_session": True}
        message.update(self.agent.filter_object())
        message["profile"] = "elsewhere"
        connection.send(message)
        self.wait_log(proxy, "Ignoring the filter of profile “elsewhere”")
        self.assert_tunnel(proxy, "yes.test")
        self.assertEqual(len(self.asks_for("yes.test")), 1)


class ConnectionTest(ApprovalTest):
    def test_no_agent_then_reconnect(self):
        folder = tempfile.TemporaryDirectory(prefix="hostgate-noagent-")
        self.addCleanup(folder.cleanup)
        path = os.path.join(folder.name, "agent.sock")
        proxy = self.proxy(*self.pins("a.test"), agent_socket=path)

        start = time.monotonic()
        response = proxy.request(proxy.connect_request(f"a.test:{self.echo.port}"))
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(response.status, 403, response)
        self.assertIn("approval agent not running", response.reason)

        # No person is asked, so a client that shuts down its sending
        # side right after the request still gets the 403.
        with proxy.connect() as sock:
            sock.sendall(proxy.connect_request(f"a.test:{self.echo.port}"))
            sock.shutdown(socket.SHUT_WR)
            response = hgtest.read_response(sock)
        self.assertEqual(response.status, 403, response)
        self.assertIn("approval agent not running", response.reason)

        agent = FakeAgent(path=path)
        self.addCleanup(agent.close)
        hello = agent.wait_message("hello", timeout=20)
        self.assertEqual(hello["version"], 1)

    def test_reconnect_after_agent_restart(self):
        proxy = self.proxy(*self.pins("a.test"))
        first = self.agent.wait_message("hello")
        self.agent.close_connections()
        second = self.agent.wait_message("hello", count=2, timeout=20)
        self.assertEqual(first["session"]["id"], second["session"]["id"])

    def welcome_later(self):
        self.agent.close()
        self.agent = FakeAgent(welcome=False)
        self.addCleanup(self.agent.close)

    def send_welcome(self, connection, **changes):
        filter_object = self.agent.filter_object()
        filter_object.update(changes)
        connection.send({"type": "welcome", "version": 1, "filter": filter_object})

    def test_ask_waits_for_welcome(self):
        self.welcome_later()
        proxy = self.proxy(*self.pins("a.test"), debug=True)
        connection = self.agent.connection()
        request = self.pending(proxy, "a.test")
        self.wait_log(proxy, "1 requests wait on question 1")
        self.assertEqual(self.agent.messages("ask"), [])

        self.send_welcome(connection)
        ask = self.agent.wait_message("ask")
        self.assertEqual(ask["host"], "a.test")
        self.agent.decide(ask, "approve", "once")
        self.assert_echo(request.sock, request.response())

    def test_welcome_filter_decides_queued(self):
        self.welcome_later()
        proxy = self.proxy(*self.pins("a.test"), debug=True)
        connection = self.agent.connection()
        request = self.pending(proxy, "a.test")
        self.wait_log(proxy, "1 requests wait on question 1")

        self.send_welcome(connection, allow=["a.test"])
        self.assert_echo(request.sock, request.response())
        self.assertEqual(self.agent.messages("ask"), [])

    def test_no_welcome_denies(self):
        self.welcome_later()
        proxy = self.proxy(*self.pins("a.test"))
        connection = self.agent.connection()
        request = self.pending(proxy, "a.test")

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("approval agent did not answer", response.reason)
        hgtest.wait_for(lambda: connection.closed, message="the proxy to close the connection")

    def test_restarted_agent_revision_applies(self):
        self.agent.revision = 5
        proxy = self.proxy(*self.pins("r.test"))
        self.agent.wait_message("hello")
        self.wait_log(proxy, "Using revision 5")

        self.agent.revision = 1
        self.agent.allow = ["r.test"]
        self.agent.close_connections()
        self.agent.wait_message("hello", count=2, timeout=20)
        self.wait_log(proxy, "Using revision 1")
        self.assert_tunnel(proxy, "r.test")

    def test_unknown_type_answered(self):
        proxy = self.proxy(*self.pins("a.test"))
        connection = self.agent.connection()
        connection.send({"type": "stats", "requests": 12})
        error = self.agent.wait_message("error")
        self.assertEqual(error["code"], "unknown-type")

        connection.send({"type": "ping", "id": "p1"})
        self.assertEqual(self.agent.wait_message("pong")["id"], "p1")
        request = self.pending(proxy, "a.test")
        self.assertEqual(self.agent.wait_message("ask")["host"], "a.test")
        request.close()

    def test_invalid_json_closes(self):
        proxy = self.proxy(*self.pins("a.test"))
        connection = self.agent.connection()
        request = self.pending(proxy, "a.test")
        self.agent.wait_message("ask")
        connection.send_raw(b"{not json\n")

        response = request.response()
        self.assertEqual(response.status, 403, response)
        self.assertIn("approval agent disconnected", response.reason)
        hgtest.wait_for(lambda: connection.closed, message="the proxy to close the connection")

    def test_hello_fields(self):
        proxy = self.proxy("--label", "my sandbox")
        hello = self.agent.wait_message("hello")
        self.assertEqual(hello["version"], 1)
        session = hello["session"]
        self.assertEqual(session["label"], "my sandbox")
        self.assertEqual(session["profile"], "default")
        self.assertEqual(session["pid"], proxy.process.pid)
        self.assertTrue(session["id"])

    def test_default_label(self):
        proxy = self.proxy()
        label = self.agent.wait_message("hello")["session"]["label"]
        self.assertIn("default", label)
        self.assertIn(proxy.address, label)

    def test_socket_from_environment(self):
        proxy = Proxy("--network-approval", "ask",
                      env={"HOSTGATE_AGENT_SOCKET": self.agent.path})
        self.addCleanup(proxy.close)
        self.assertEqual(self.agent.wait_message("hello")["session"]["pid"], proxy.process.pid)

    def test_socket_in_runtime_dir(self):
        proxy = Proxy("--network-approval", "ask", start=False)
        self.addCleanup(proxy.close)
        agent = FakeAgent(path=os.path.join(proxy.dir, "hostgate", "agent.sock"))
        self.addCleanup(agent.close)
        proxy.start()
        self.assertEqual(agent.wait_message("hello")["session"]["pid"], proxy.process.pid)

    def test_too_many_pending(self):
        proxy = self.proxy("--max-pending-approvals", "2", *self.pins("x1.test", "x2.test", "x3.test"))
        self.pending(proxy, "x1.test")
        self.pending(proxy, "x2.test")
        self.agent.wait_message("ask", count=2)

        response = proxy.request(proxy.connect_request(f"x3.test:{self.echo.port}"))
        self.assertEqual(response.status, 403, response)
        self.assertIn("too many pending approvals", response.reason)
        self.assertEqual(len(self.agent.messages("ask")), 2)


if __name__ == "__main__":
    hgtest.main()
