"""Real clients through `hostgate-proxy run`: git, pip, npm and curl.

Each client fetches over HTTPS through CONNECT from an origin on
127.0.0.1 that serves a certificate made for this test run. The clients
trust that certificate through their own CA options, never by turning
verification off. Names are fake (git.test, pypi.test, npm.test) and are
pinned to the origin with the proxy's --resolve, so nothing leaves
127.0.0.1; any other host is refused because it is not on the allow list.
"""

import base64
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest
import zipfile

import hgtest

# Time one client command may take, start to finish. npm starts slowly.
CLIENT_TIMEOUT = 90
OPENSSL = shutil.which("openssl")
GIT = shutil.which("git")
NPM = shutil.which("npm")
CURL = shutil.which("curl")
CERT_NAMES = ("git.test", "pypi.test", "npm.test")

# Environment variables that would point a client at another proxy,
# index, registry or configuration than the test's own.
SCRUBBED_PREFIXES = ("PIP_", "npm_config_", "NPM_CONFIG_", "GIT_", "HOSTGATE_")
SCRUBBED_NAMES = {"NO_PROXY", "no_proxy", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE",
                  "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "G_MESSAGES_DEBUG"}


def make_certificate(folder):
    """Create a self-signed certificate for CERT_NAMES in folder; return
    (certificate path, key path)."""
    if OPENSSL is None:
        raise unittest.SkipTest("openssl is not installed")
    cert = os.path.join(folder, "cert.pem")
    key = os.path.join(folder, "key.pem")
    san = ",".join(f"DNS:{name}" for name in CERT_NAMES)
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-subj", "/CN=git.test",
                    "-addext", f"subjectAltName={san}", "-days", "1"],
                   check=True, capture_output=True, timeout=hgtest.TIMEOUT * 3)
    return cert, key


class HttpsOrigin:
    """A threaded HTTPS origin on 127.0.0.1 with the test certificate.

    handler(request) gets each BaseHTTPRequestHandler and sends the whole
    response itself. The TLS handshake runs in the connection's thread, so
    a client that stalls it cannot block other connections."""

    def __init__(self, cert, key, handler):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.paths = []
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                with origin.lock:
                    origin.paths.append(self.path)
                handler(self)

            do_GET = do_POST = do_HEAD = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request, client_address):
                request.settimeout(hgtest.TIMEOUT)
                try:
                    request = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                super().finish_request(request, client_address)

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def send_bytes(request, status, body, content_type="application/octet-stream"):
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(body)


def client_output(result):
    """Return what the command itself wrote to standard output and error:
    `run` shares the command's standard error, so the proxy's own log
    lines, which start with "hostgate-proxy", are dropped."""
    lines = (result.stdout + result.stderr).splitlines()
    return "\n".join(line for line in lines if not line.startswith("hostgate-proxy"))


def client_environment(home):
    """Return an environment for `run` with a private HOME and without
    variables that would send a client elsewhere."""
    env = {name: value for name, value in os.environ.items()
           if name not in SCRUBBED_NAMES and not name.startswith(SCRUBBED_PREFIXES)}
    env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_CACHE_HOME=os.path.join(home, ".cache"), LC_ALL="C")
    return env


class ClientTestCase(unittest.TestCase):
    """Base for the client tests: a temporary folder, the certificate,
    and run_client()."""

    @classmethod
    def setUpClass(cls):
        if not hgtest.PROXY_PATH:
            raise unittest.SkipTest("HOSTGATE_PROXY is not set")
        cls.tmp = tempfile.TemporaryDirectory(prefix="hostgate-clients-")
        cls.dir = cls.tmp.name
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.cert, cls.key = make_certificate(cls.dir)

    def setUp(self):
        self.work = tempfile.mkdtemp(dir=self.dir)
        self.home = os.path.join(self.work, "home")
        os.mkdir(self.home)
        self.audit_path = os.path.join(self.work, "audit.jsonl")
        self.env = client_environment(self.home)

    def run_client(self, proxy_args, command, env=None):
        """Run command behind `hostgate-proxy run` with the audit log on;
        return the CompletedProcess with text output."""
        full = [hgtest.PROXY_PATH, "run", "--allow-loopback", "--audit-log", self.audit_path,
                *proxy_args, "--", *command]
        return subprocess.run(full, env=env or self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=CLIENT_TIMEOUT, cwd=self.work)

    def audit_records(self):
        if not os.path.exists(self.audit_path):
            return []
        with open(self.audit_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def assert_only_host(self, host):
        """Assert that the audit log has records, all for host."""
        records = self.audit_records()
        self.assertTrue(records, "the audit log is empty")
        hosts = sorted({record["host"] for record in records})
        self.assertEqual(hosts, [host])

    def assert_denied(self, host):
        """Assert that the audit log has a 403 for host and nothing allowed."""
        records = self.audit_records()
        self.assertTrue(records, "the audit log is empty")
        self.assertIn((host, "deny", 403), [(r["host"], r["decision"], r["status"]) for r in records])
        self.assertNotIn("allow", [r["decision"] for r in records])


# git ---------------------------------------------------------------------

def git_backend_handler(project_root):
    """Return a handler that serves project_root with `git http-backend`
    as a CGI program: the request body is streamed to its standard input
    and its CGI `Status:` header becomes the response status."""

    def handler(request):
        path, _, query = request.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": project_root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": request.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": request.client_address[0],
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        }
        for name, value in request.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                env[key] = value
        length = request.headers.get("Content-Length")
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if length is not None:
            env["CONTENT_LENGTH"] = length

        backend = subprocess.Popen([GIT, "http-backend"], env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        writer = threading.Thread(target=stream_body,
                                  args=(request.rfile, backend.stdin, int(length or 0), chunked))
        writer.start()
        output = backend.stdout.read()
        writer.join(hgtest.TIMEOUT)
        backend.wait(hgtest.TIMEOUT)

        head, _, body = output.partition(b"\r\n\r\n")
        if not _:
            head, _, body = output.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


def stream_body(source, sink, length, chunked):
    """Copy a request body from source to sink in pieces, de-chunking it
    when chunked, then close sink so that the CGI program reads end of file."""
    try:
        if chunked:
            while True:
                size = int(source.readline().split(b";")[0], 16)
                if size == 0:
                    source.readline()
                    break
                sink.write(source.read(size))
                source.readline()
        else:
            while length > 0:
                piece = source.read(min(length, 65536))
                if not piece:
                    break
                sink.write(piece)
                length -= len(piece)
    except (OSError, ValueError):
        pass
    finally:
        try:
            sink.close()
        except OSError:
            pass


@unittest.skipIf(GIT is None, "git is not installed")
class GitTest(ClientTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        root = os.path.join(cls.dir, "repos")
        source = os.path.join(cls.dir, "source")
        env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@git.test",
                   GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@git.test",
                   GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")

        def git(*args):
            return subprocess.run([GIT, *args], env=env, check=True, capture_output=True,
                                  text=True, timeout=hgtest.TIMEOUT).stdout.strip()

        os.mkdir(root)
        git("init", "-q", "--bare", "-b", "main", os.path.join(root, "repo.git"))
        git("init", "-q", "-b", "main", source)
        with open(os.path.join(source, "README"), "w") as f:
            f.write("cloned through hostgate\n")
        git("-C", source, "add", "README")
        git("-C", source, "commit", "-q", "-m", "First commit")
        git("-C", source, "push", "-q", os.path.join(root, "repo.git"), "main")
        cls.commit = git("-C", source, "rev-parse", "HEAD")
        cls.origin = HttpsOrigin(cls.cert, cls.key, git_backend_handler(root))
        cls.addClassCleanup(cls.origin.close)

    def setUp(self):
        super().setUp()
        self.env.update(GIT_SSL_CAINFO=self.cert, GIT_CONFIG_NOSYSTEM="1",
                        GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
        self.url = f"https://git.test:{self.origin.port}/repo.git"
        self.pin = ["--resolve", f"git.test:{self.origin.port}:127.0.0.1"]

    def test_clone_allowed(self):
        dest = os.path.join(self.work, "clone")
        result = self.run_client(["--allow-domain", "git.test", *self.pin],
                                 [GIT, "clone", "-q", self.url, dest])
        self.assertEqual(result.returncode, 0, result.stderr)

        head = subprocess.run([GIT, "-C", dest, "rev-parse", "HEAD"], env=self.env,
                              capture_output=True, text=True, timeout=hgtest.TIMEOUT)
        self.assertEqual(head.stdout.strip(), self.commit)
        with open(os.path.join(dest, "README")) as f:
            self.assertEqual(f.read(), "cloned through hostgate\n")
        self.assert_only_host("git.test")

    def test_clone_not_allowed(self):
        dest = os.path.join(self.work, "clone")
        result = self.run_client(self.pin, [GIT, "clone", "-q", self.url, dest])
        self.assertEqual(result.returncode, 128, result.stderr)
        self.assertIn("CONNECT tunnel failed, response 403", client_output(result))
        self.assertFalse(os.path.exists(os.path.join(dest, "README")))
        self.assert_denied("git.test")


# pip ---------------------------------------------------------------------

WHEEL_NAME = "hostgate_probe"
WHEEL_VERSION = "1.0"


def make_wheel():
    """Return (file name, bytes) of a minimal pure-Python wheel."""
    dist_info = f"{WHEEL_NAME}-{WHEEL_VERSION}.dist-info"
    files = {
        f"{WHEEL_NAME}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": (f"Metadata-Version: 2.1\nName: {WHEEL_NAME}\n"
                                  f"Version: {WHEEL_VERSION}\n").encode(),
        f"{dist_info}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: hostgate-test\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
    return f"{WHEEL_NAME}-{WHEEL_VERSION}-py3-none-any.whl", buffer.getvalue()


def simple_index_handler(wheel_name, wheel):
    """Return a handler for a PEP 503 simple index with one project."""
    digest = hashlib.sha256(wheel).hexdigest()
    project = WHEEL_NAME.replace("_", "-")
    page = (f'<!DOCTYPE html><html><body><a href="/files/{wheel_name}#sha256={digest}">'
            f'{wheel_name}</a></body></html>\n').encode()

    def handler(request):
        if request.path == f"/simple/{project}/":
            send_bytes(request, 200, page, "text/html")
        elif request.path == f"/files/{wheel_name}":
            send_bytes(request, 200, wheel)
        else:
            send_bytes(request, 404, b"not found\n", "text/plain")

    return handler


def find_pip_python():
    """Return a Python interpreter that has pip, or None."""
    for python in (sys.executable, "/usr/bin/python3"):
        if python and os.path.exists(python):
            probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True,
                                   timeout=hgtest.TIMEOUT * 3)
            if probe.returncode == 0:
                return python
    return None


class PipTest(ClientTestCase):
    @classmethod
    def setUpClass(cls):
        cls.python = find_pip_python()
        if cls.python is None:
            raise unittest.SkipTest("no Python interpreter here has pip")
        super().setUpClass()
        cls.wheel_name, wheel = make_wheel()
        cls.origin = HttpsOrigin(cls.cert, cls.key, simple_index_handler(cls.wheel_name, wheel))
        cls.addClassCleanup(cls.origin.close)

    def setUp(self):
        super().setUp()
        self.env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
                        PIP_CONFIG_FILE=os.devnull, PYTHONDONTWRITEBYTECODE="1")
        self.dest = os.path.join(self.work, "download")
        self.pin = ["--resolve", f"pypi.test:{self.origin.port}:127.0.0.1"]
        self.command = [self.python, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                        "--retries", "0", "--timeout", str(int(hgtest.TIMEOUT)),
                        "--index-url", f"https://pypi.test:{self.origin.port}/simple/",
                        "--cert", self.cert, "-d", self.dest, WHEEL_NAME]

    def test_download_allowed(self):
        result = self.run_client(["--allow-domain", "pypi.test", *self.pin], self.command)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(os.listdir(self.dest), [self.wheel_name])
        self.assert_only_host("pypi.test")

    def test_download_not_allowed(self):
        # pip logs why it could not fetch the index page only at debug level.
        result = self.run_client(self.pin, [*self.command, "-vv"])
        self.assertNotEqual(result.returncode, 0)
        output = client_output(result)
        self.assertIn("Tunnel connection failed: 403 not in the allow list", output)
        self.assertFalse(os.path.exists(os.path.join(self.dest, self.wheel_name)))
        self.assert_denied("pypi.test")


# npm ---------------------------------------------------------------------

NPM_PACKAGE = "hostgate-probe"
NPM_VERSION = "1.0.0"


def make_npm_tarball():
    """Return the bytes of a package tarball with package.json and index.js."""
    files = {
        "package/package.json": json.dumps({"name": NPM_PACKAGE, "version": NPM_VERSION,
                                            "main": "index.js"}).encode(),
        "package/index.js": b"module.exports = 1;\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1767225600
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def npm_registry_handler(port, tarball):
    """Return a handler for a registry with one package: its packument at
    /NAME and its tarball at /NAME/-/NAME-VERSION.tgz."""
    tarball_path = f"/{NPM_PACKAGE}/-/{NPM_PACKAGE}-{NPM_VERSION}.tgz"
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    packument = json.dumps({
        "name": NPM_PACKAGE,
        "dist-tags": {"latest": NPM_VERSION},
        "versions": {
            NPM_VERSION: {
                "name": NPM_PACKAGE,
                "version": NPM_VERSION,
                "main": "index.js",
                "dist": {
                    "tarball": f"https://npm.test:{port}{tarball_path}",
                    "integrity": integrity,
                    "shasum": hashlib.sha1(tarball).hexdigest(),
                },
            },
        },
    }).encode()

    def handler(request):
        if request.path == f"/{NPM_PACKAGE}":
            send_bytes(request, 200, packument, "application/json")
        elif request.path == tarball_path:
            send_bytes(request, 200, tarball)
        else:
            send_bytes(request, 404, b'{"error":"not found"}', "application/json")

    return handler


@unittest.skipIf(NPM is None, "npm is not installed")
class NpmTest(ClientTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tarball = make_npm_tarball()
        cls.handler = None
        cls.origin = HttpsOrigin(cls.cert, cls.key, lambda request: cls.handler(request))
        cls.addClassCleanup(cls.origin.close)
        cls.handler = npm_registry_handler(cls.origin.port, cls.tarball)

    def setUp(self):
        super().setUp()
        registry = f"https://npm.test:{self.origin.port}/"
        userconfig = os.path.join(self.work, "npmrc")
        globalconfig = os.path.join(self.work, "npmrc-global")
        for path in (userconfig, globalconfig):
            with open(path, "w"):
                pass
        self.env.update(npm_config_registry=registry, npm_config_userconfig=userconfig,
                        npm_config_globalconfig=globalconfig,
                        npm_config_update_notifier="false", NO_UPDATE_NOTIFIER="1",
                        NODE_EXTRA_CA_CERTS=self.cert)
        self.dest = os.path.join(self.work, "packed")
        os.mkdir(self.dest)
        self.pin = ["--resolve", f"npm.test:{self.origin.port}:127.0.0.1"]
        self.command = [NPM, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--registry", registry,
                        "--cafile", self.cert, "--cache", os.path.join(self.work, "cache"),
                        "--pack-destination", self.dest, "--no-audit", "--no-fund",
                        "--offline=false", "--fetch-retries=0",
                        f"--fetch-timeout={int(hgtest.TIMEOUT * 1000)}", "--loglevel=warn"]

    def test_pack_allowed(self):
        result = self.run_client(["--allow-domain", "npm.test", *self.pin], self.command)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

        packed = os.path.join(self.dest, f"{NPM_PACKAGE}-{NPM_VERSION}.tgz")
        with tarfile.open(packed) as archive:
            manifest = json.load(archive.extractfile("package/package.json"))
        self.assertEqual(manifest["name"], NPM_PACKAGE)
        self.assertEqual(manifest["version"], NPM_VERSION)
        self.assert_only_host("npm.test")

    def test_pack_not_allowed(self):
        result = self.run_client(self.pin, self.command)
        self.assertNotEqual(result.returncode, 0)
        output = client_output(result)
        self.assertIn("E403", output)
        self.assertIn("403 not in the allow list", output)
        self.assertEqual(os.listdir(self.dest), [])
        self.assert_denied("npm.test")


# curl --------------------------------------------------------------------

@unittest.skipIf(CURL is None, "curl is not installed")
class CurlTest(ClientTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = HttpsOrigin(cls.cert, cls.key,
                                 lambda request: send_bytes(request, 200, b"hello over TLS\n",
                                                            "text/plain"))
        cls.addClassCleanup(cls.origin.close)

    def setUp(self):
        super().setUp()
        self.url = f"https://git.test:{self.origin.port}/hello"
        self.pin = ["--resolve", f"git.test:{self.origin.port}:127.0.0.1"]

    def curl(self, *args):
        return [CURL, "-sS", "--max-time", str(int(hgtest.TIMEOUT)), *args]

    def test_https_allowed(self):
        result = self.run_client(["--allow-domain", "git.test", *self.pin],
                                 self.curl("--cacert", self.cert, self.url))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "hello over TLS\n")
        self.assert_only_host("git.test")
        self.assertEqual(self.audit_records()[0]["method"], "CONNECT")

    def test_https_not_allowed(self):
        result = self.run_client(self.pin, self.curl("--cacert", self.cert, self.url))
        self.assertEqual(result.returncode, 56, result.stderr)
        self.assertIn("CONNECT tunnel failed, response 403", client_output(result))
        self.assert_denied("git.test")

    def test_untrusted_certificate_fails(self):
        result = self.run_client(["--allow-domain", "git.test", *self.pin], self.curl(self.url))
        self.assertEqual(result.returncode, 60, result.stderr)


# bubblewrap ----------------------------------------------------------------

BWRAP = shutil.which("bwrap")
SOCAT = shutil.which("socat")
SANDBOXING_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "..", "docs", "sandboxing.md")


def documented_bwrap_script():
    """Return the hostgate-bwrap script from docs/sandboxing.md: the
    shell code block that starts with #!/bin/sh."""
    with open(SANDBOXING_DOC) as f:
        blocks = f.read().split("```sh\n")[1:]
    for block in blocks:
        code = block.split("```", 1)[0]
        if code.startswith("#!/bin/sh\n"):
            return code
    raise AssertionError(f"no #!/bin/sh block in {SANDBOXING_DOC}")


def bwrap_usable():
    """Return whether bwrap can create the namespaces the script asks for."""
    if BWRAP is None:
        return False
    probe = subprocess.run([BWRAP, "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True, timeout=hgtest.TIMEOUT)
    return probe.returncode == 0


@unittest.skipIf(CURL is None, "curl is not installed")
@unittest.skipIf(SOCAT is None, "socat is not installed")
@unittest.skipUnless(bwrap_usable(), "bwrap is missing or cannot create namespaces here")
class BubblewrapTest(ClientTestCase):
    """The documented hostgate-bwrap script: a sandbox without a network,
    whose only way out is the proxy behind a Unix socket."""

    def setUp(self):
        super().setUp()
        self.script = os.path.join(self.work, "hostgate-bwrap")
        with open(self.script, "w") as f:
            f.write(documented_bwrap_script())
        os.chmod(self.script, 0o755)
        self.origin = hgtest.HttpOrigin()
        self.addCleanup(self.origin.close)
        self.pin = ["--resolve", f"origin.test:{self.origin.port}:127.0.0.1"]

    def test_proxy_reachable_inside(self):
        curl = f"{CURL} -sS --max-time {int(hgtest.TIMEOUT)}"
        script = (f"{curl} -o /dev/null -w 'forward %{{http_code}}\\n' http://origin.test:{self.origin.port}/; "
                  f"{curl} -p -o /dev/null -w 'tunnel %{{http_code}}\\n' http://origin.test:{self.origin.port}/")
        result = self.run_client(["--allow-domain", "origin.test", *self.pin],
                                 [self.script, "sh", "-c", script])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("forward 200", result.stdout)
        self.assertIn("tunnel 200", result.stdout)
        self.assert_only_host("origin.test")
        self.assertEqual(sorted(r["method"] for r in self.audit_records()), ["CONNECT", "GET"])

    def test_direct_connection_fails_inside(self):
        script = (f"{CURL} -sS --noproxy '*' --max-time {int(hgtest.TIMEOUT)} "
                  f"http://127.0.0.1:{self.origin.port}/")
        result = self.run_client(["--confine", "none", *self.pin],
                                 [self.script, "sh", "-c", script])
        self.assertEqual(result.returncode, 7, result.stderr)
        self.assertEqual(self.origin.requests, [])

    def test_exit_status_passes(self):
        result = self.run_client([], [self.script, "sh", "-c", "exit 5"])
        self.assertEqual(result.returncode, 5, result.stderr)


if __name__ == "__main__":
    sys.exit(hgtest.main())
