#!/usr/bin/env python3
# Runs the hostgate benchmarks; started by tests/bench/run.sh, which
# installs the peers and builds the tools first.
#
# Every figure compares hostgate-proxy, tinyproxy and squid with the
# direct path (no proxy), all in one run on this machine, all on
# 127.0.0.1. Results go to BUILD/bench.json and to the Markdown doc.

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import benchdoc

HOST = "origin.test"
PROXIES = ["hostgate", "tinyproxy", "squid"]
TARGETS = ["direct"] + PROXIES


def log(text):
    print(f"\033[1m==> {text}\033[0m", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not happen within {seconds} s")


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def read_port_file(path):
    try:
        text = open(path).read().strip()
    except OSError:
        return None
    if not text:
        return None
    return int(text.rsplit(":", 1)[-1])


def proc_status(pid, field):
    """A number from /proc/PID/status, such as VmRSS in KiB or Threads."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    """Resident memory of PID and its threads, in KiB."""
    return proc_status(pid, "VmRSS")


def cpu_seconds(pid):
    """User plus system CPU time of PID, all threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listen_overflows():
    """The machine's count of connections dropped by full accept queues."""
    with open("/proc/net/netstat") as netstat:
        lines = netstat.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


def machine_ticks():
    """The first line of /proc/stat: the whole machine's CPU time by kind,
    in clock ticks. Softirq time, where loopback TCP does much of its
    work, is counted there and in no process's own time."""
    with open("/proc/stat") as stat:
        names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
        return dict(zip(names, map(int, stat.readline().split()[1:9])))


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kernel_memory_kib():
    """Slab and TCP buffer memory of the whole machine, in KiB."""
    fields = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0])
    tcp_pages = 0
    with open("/proc/net/sockstat") as sockstat:
        for line in sockstat:
            if line.startswith("TCP:"):
                words = line.split()
                tcp_pages = int(words[words.index("mem") + 1])
    return {
        "slab": fields.get("Slab", 0),
        "tcp_buffers": tcp_pages * resource.getpagesize() // 1024,
    }


def count_fds(pid):
    counts = {"socket": 0, "pipe": 0, "other": 0}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        kind = target.split(":", 1)[0]
        counts[kind if kind in counts else "other"] += 1
    return counts


class Processes:
    """Every process the run starts, stopped at exit by its own id."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kwargs):
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc, seconds=5):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(seconds)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self):
        for proc in list(self.procs):
            self.stop(proc)


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.tmp = tempfile.mkdtemp(prefix="hostgate-bench-")
        os.chmod(self.tmp, 0o755)
        self.procs = Processes()
        self.origin_port = None
        self.proxies = {}
        self.commands = {}
        self.hosts_file = os.path.join(self.tmp, "hosts")
        with open(self.hosts_file, "w") as hosts:
            hosts.write(f"127.0.0.1 {HOST}\n")

    def tool(self, name):
        return os.path.join(self.build, "tests", "bench", name)

    # The commands recorded in the doc use names, not this run's ports.
    def symbolic(self, argv):
        text = shlex.join(str(a) for a in argv)
        for name, info in self.proxies.items():
            variable = name.upper().replace("-", "_")
            text = text.replace(f"127.0.0.1:{info['port']}", f"127.0.0.1:${variable}_PORT")
        text = text.replace(f":{self.origin_port}", ":$ORIGIN_PORT")
        text = text.replace(f"--origin-port {self.origin_port}", "--origin-port $ORIGIN_PORT")
        return text.replace(self.tmp, "$TMP").replace(self.build, "build")

    def start_origin(self):
        port_file = os.path.join(self.tmp, "origin.port")
        self.origin = self.procs.start([self.tool("hg-bench-origin"), "--port-file", port_file])
        self.origin_port = wait_for(lambda: read_port_file(port_file), 10, "origin listening")

    # Each proxy, started fresh, returns its process and port.
    def start_hostgate(self, name):
        port_file = os.path.join(self.tmp, f"{name}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        argv = [os.path.join(self.build, "proxy", "hostgate-proxy"),
                "--listen", "127.0.0.1:0", "--port-file", port_file, "--auth", "off",
                "--allow-domain", HOST, "--allow-loopback",
                "--resolve", f"{HOST}:{self.origin_port}:127.0.0.1",
                "--max-connections", "20000",
                "--audit-log", os.path.join(self.tmp, "hostgate-audit.log")]
        env = dict(os.environ)
        if name == "hostgate-splice":
            env["HOSTGATE_TUNNEL_SPLICE"] = "1"
        proc = self.procs.start(argv, stdout=subprocess.DEVNULL, env=env,
                                stderr=open(os.path.join(self.tmp, f"{name}.err"), "a"))
        port = wait_for(lambda: proc.poll() is None and read_port_file(port_file), 10,
                        "hostgate-proxy listening")
        if name == "hostgate-splice":
            argv = ["env", "HOSTGATE_TUNNEL_SPLICE=1"] + argv
        return proc, port, argv

    def start_tinyproxy(self, name):
        port = free_port()
        conf = os.path.join(self.tmp, "tinyproxy.conf")
        with open(conf, "w") as out:
            out.write(f"""User nobody
Group nogroup
Port {port}
Listen 127.0.0.1
Timeout 600
MaxClients 20000
Allow 127.0.0.1
ConnectPort {self.origin_port}
DisableViaHeader Yes
LogLevel Connect
LogFile "{self.tmp}/tinyproxy.log"
PidFile "{self.tmp}/tinyproxy.pid"
""")
        open(os.path.join(self.tmp, "tinyproxy.log"), "a").close()
        os.chmod(os.path.join(self.tmp, "tinyproxy.log"), 0o666)
        # tinyproxy has no way to pin a name but /etc/hosts: give it a
        # private one in its own mount namespace.
        argv = ["unshare", "-m", "sh", "-c",
                f'mount --bind "$0" /etc/hosts && exec tinyproxy -d -c "$1"',
                self.hosts_file, conf]
        proc = self.procs.start(argv, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(self.tmp, "tinyproxy.err"), "a"))
        wait_for(lambda: proc.poll() is None and port_accepts(port), 10, "tinyproxy listening")
        return proc, port, ["tinyproxy", "-d", "-c", conf]

    def start_squid(self, name):
        port = free_port()
        conf = os.path.join(self.tmp, "squid.conf")
        # Squid drops to the proxy user before opening its logs.
        logs = os.path.join(self.tmp, "squid")
        os.makedirs(logs, exist_ok=True)
        os.chmod(logs, 0o777)
        with open(conf, "w") as out:
            out.write(f"""http_port 127.0.0.1:{port}
acl SSL_ports port {self.origin_port}
acl Safe_ports port {self.origin_port}
acl CONNECT method CONNECT
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localhost
http_access deny all
cache deny all
cache_mem 8 MB
max_filedescriptors 20000
hosts_file {self.hosts_file}
dns_nameservers 127.0.0.1
access_log stdio:{logs}/access.log
cache_log {logs}/cache.log
cache_store_log none
pid_filename {logs}/squid.pid
coredump_dir {logs}
pinger_enable off
icp_port 0
htcp_port 0
via off
forwarded_for delete
visible_hostname hostgate-bench
shutdown_lifetime 1 seconds
""")
        argv = ["squid", "-N", "-f", conf]
        proc = self.procs.start(argv, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(self.tmp, "squid.err"), "a"))
        wait_for(lambda: proc.poll() is None and port_accepts(port), 30, "squid listening")
        return proc, port, argv

    # The in-kernel reference relay loads a BPF program, which needs
    # CAP_BPF and CAP_NET_ADMIN. Without them it exits at once.
    def start_sockmap(self, name):
        port_file = os.path.join(self.tmp, "sockmap.port")
        argv = [self.tool("hg-bench-sockmap"), "--origin-port", str(self.origin_port),
                "--port-file", port_file]
        errors = os.path.join(self.tmp, "sockmap.err")
        proc = self.procs.start(argv, stdout=subprocess.DEVNULL, stderr=open(errors, "a"))
        port = wait_for(lambda: read_port_file(port_file) or proc.poll() is not None,
                        10, "in-kernel relay listening")
        if port is True:
            raise RuntimeError(open(errors).read().strip() or f"exit status {proc.returncode}")
        return proc, port, argv

    def start_proxy(self, name):
        starter = "start_hostgate" if name == "hostgate-splice" else f"start_{name}"
        proc, port, argv = getattr(self, starter)(name)
        self.proxies[name] = {"proc": proc, "port": port}
        self.commands.setdefault("proxies", {})[name] = self.symbolic(argv)
        return proc, port

    def stop_proxy(self, name):
        info = self.proxies.pop(name, None)
        if info:
            self.procs.stop(info["proc"])

    def start_all_proxies(self):
        for name in PROXIES:
            self.start_proxy(name)

    def proxy_cpu(self, target):
        info = self.proxies.get(target)
        return cpu_seconds(info["proc"].pid) if info else 0.0

    def proxy_args(self, target):
        return [] if target == "direct" else ["-x", f"http://127.0.0.1:{self.proxies[target]['port']}"]

    # Figure 1.
    def throughput_command(self, target, size):
        url = f"http://{HOST}:{self.origin_port}/bytes/{size}"
        argv = ["curl", "-sS", "--max-time", "300", "-o", "/dev/null", "-w", "%{speed_download}"]
        if target == "direct":
            argv += ["--resolve", f"{HOST}:{self.origin_port}:127.0.0.1"]
        else:
            argv += ["-p"] + self.proxy_args(target)
        return argv + [url]

    def figure_throughput(self):
        # A second hostgate-proxy moves the bytes with splice(2) instead of
        # copying them, to tell which of the two is faster on this machine.
        self.start_proxy("hostgate-splice")
        targets = TARGETS + ["hostgate-splice"]
        # A relay with no copy to user space shows what the copies cost.
        # It is left out where loading BPF programs is not permitted.
        if os.path.exists(self.tool("hg-bench-sockmap")):
            try:
                self.start_proxy("sockmap")
                targets.append("sockmap")
            except RuntimeError as error:
                log(f"throughput: no in-kernel relay: {error}")
        size = self.args.bytes
        results = {t: [] for t in targets}
        # The in-kernel relay's own process only waits; the kernel's
        # workers and softirq move its bytes, counted in `machine`.
        cpu = {t: [] for t in targets[1:] if t != "sockmap"}
        client_cpu = {t: [] for t in targets}
        origin_cpu = {t: [] for t in targets}
        softirq = {t: [] for t in targets}
        machine = {t: [] for t in targets}
        idle = {t: [] for t in targets}
        gib = size / 2**30
        tick = os.sysconf("SC_CLK_TCK")
        for round_ in range(self.args.rounds):
            for target in targets:
                argv = self.throughput_command(target, size)
                self.commands.setdefault("throughput", {})[target] = self.symbolic(argv)
                before = (self.proxy_cpu(target), children_cpu_seconds(), cpu_seconds(self.origin.pid))
                ticks_before = machine_ticks()
                out = subprocess.run(argv, capture_output=True, text=True, timeout=330)
                ticks = {k: v - ticks_before[k] for k, v in machine_ticks().items()}
                if out.returncode != 0:
                    log(f"throughput {target}: curl failed: {out.stderr.strip()}")
                    continue
                results[target].append(float(out.stdout))
                client_cpu[target].append((children_cpu_seconds() - before[1]) / gib)
                origin_cpu[target].append((cpu_seconds(self.origin.pid) - before[2]) / gib)
                softirq[target].append(ticks["softirq"] / tick / gib)
                busy = sum(ticks.values()) - ticks["idle"] - ticks["iowait"]
                machine[target].append(busy / tick / gib)
                idle[target].append(100 * ticks["idle"] / max(sum(ticks.values()), 1))
                if target in cpu:
                    cpu[target].append((self.proxy_cpu(target) - before[0]) / gib)
            log(f"throughput round {round_ + 1}: "
                + ", ".join(f"{t} {results[t][-1] / 1e9:.2f} GB/s" for t in targets if results[t]))
        self.stop_proxy("hostgate-splice")
        self.stop_proxy("sockmap")
        return {"bytes": size, "bytes_per_second": results, "proxy_cpu_seconds_per_gib": cpu,
                "client_cpu_seconds_per_gib": client_cpu, "origin_cpu_seconds_per_gib": origin_cpu,
                "softirq_cpu_seconds_per_gib": softirq, "machine_cpu_seconds_per_gib": machine,
                "machine_idle_percent": idle}

    # Figures 2 and 3.
    def load_command(self, target, mode, clients, requests, seconds):
        argv = [self.tool("hg-bench-load"), "--mode", mode, "--host", f"{HOST}:{self.origin_port}",
                "--clients", str(clients), "--requests", str(requests), "--max-seconds", str(seconds)]
        if target == "direct":
            argv += ["--origin", f"127.0.0.1:{self.origin_port}"]
        else:
            argv += ["--proxy", f"127.0.0.1:{self.proxies[target]['port']}"]
        return argv

    def run_load(self, argv, seconds):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed: {out.stderr.strip()}")
        return json.loads(out.stdout.splitlines()[-1])

    def figure_load(self, key, mode, requests, seconds):
        results = {t: [] for t in TARGETS}
        for round_ in range(self.args.rounds):
            for target in TARGETS:
                argv = self.load_command(target, mode, 64, requests, seconds)
                self.commands.setdefault(key, {})[target] = self.symbolic(argv)
                before = self.proxy_cpu(target)
                overflows = listen_overflows()
                result = self.run_load(argv, seconds)
                result["proxy_cpu_us_per_request"] = \
                    (self.proxy_cpu(target) - before) * 1e6 / max(result["completed"], 1)
                result["listen_overflows"] = listen_overflows() - overflows
                results[target].append(result)
            log(f"{key} round {round_ + 1}: "
                + ", ".join(f"{t} {results[t][-1]['rps']:.0f}/s p99 {results[t][-1]['p99_us']} µs"
                            + (f" ({results[t][-1]['errors']} errors)" if results[t][-1]['errors'] else "")
                            for t in TARGETS))
        return {"clients": 64, "requests": requests, "max_seconds": seconds, "runs": results}

    # Figure 4: a fresh proxy per measure, so earlier figures leave no
    # buffers or caches behind.
    def figure_idle(self):
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        count = min(self.args.tunnels, (limit - 200) // 2)
        results = {}
        for name in PROXIES:
            self.stop_proxy(name)
        for name in PROXIES:
            proc, port = self.start_proxy(name)
            # One tunnel first, so start-up allocations are not counted.
            self.run_load(self.load_command(name, "connect", 1, 10, 20), 20)
            time.sleep(0.5)
            rss_before = rss_kib(proc.pid)
            kernel_before = kernel_memory_kib()
            argv = [self.tool("hg-bench-load"), "--mode", "idle", "--proxy", f"127.0.0.1:{port}",
                    "--host", f"{HOST}:{self.origin_port}", "--clients", "64",
                    "--requests", str(count), "--max-seconds", "120", "--hold-seconds", "120"]
            self.commands.setdefault("idle", {})[name] = self.symbolic(argv)
            load = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            opened = json.loads(load.stdout.readline())
            # Let deferred frees and the proxies' own timers settle.
            time.sleep(1.0)
            rss_after = rss_kib(proc.pid)
            kernel_after = kernel_memory_kib()
            fds = count_fds(proc.pid)
            threads = proc_status(proc.pid, "Threads")
            load.stdin.write("done\n")
            load.stdin.flush()
            held = json.loads(load.stdout.readline())
            load.wait(60)
            n = max(opened["open"], 1)
            results[name] = {
                "tunnels": opened["open"], "errors": opened["errors"], "dropped": held["dropped"],
                "open_seconds": opened["seconds"],
                "rss_before_kib": rss_before, "rss_after_kib": rss_after,
                "user_bytes_per_tunnel": (rss_after - rss_before) * 1024 / n,
                "kernel_slab_bytes_per_tunnel": (kernel_after["slab"] - kernel_before["slab"]) * 1024 / n,
                "kernel_tcp_buffer_bytes_per_tunnel":
                    (kernel_after["tcp_buffers"] - kernel_before["tcp_buffers"]) * 1024 / n,
                "fds": fds,
                "threads": threads,
            }
            log(f"idle {name}: {opened['open']} tunnels, "
                f"{results[name]['user_bytes_per_tunnel'] / 1024:.1f} KiB user memory each")
            self.stop_proxy(name)
        return {"requested": self.args.tunnels, "count": count, "fd_limit": limit, "proxies": results}

    # Figure 5.
    def figure_filter(self):
        argv = [self.tool("hg-bench-filter"), "--entries", str(self.args.entries)]
        self.commands["filter"] = self.symbolic(argv)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
        result = json.loads(out.stdout)
        log(f"filter: {result['entries']} entries loaded in {result['load_seconds']:.2f} s, "
            f"lookup {result['lookup_exact_hit']['median_ns']:.0f} ns")
        return result

    # Figure 6: the same proxy answers a statically allowed host and a
    # host its agent approved for the session, one request at a time.
    def figure_approval(self):
        sys.path.insert(0, os.path.join(self.args.srcdir, "tests", "e2e"))
        import fakeagent

        session_hosts = ["first.session.test", "next.session.test"]
        port_file = os.path.join(self.tmp, "approval.port")
        agent = fakeagent.FakeAgent(approval_mode="ask")
        argv = [os.path.join(self.build, "proxy", "hostgate-proxy"),
                "--listen", "127.0.0.1:0", "--port-file", port_file, "--auth", "off",
                "--allow-domain", HOST, "--allow-loopback", "--network-approval", "ask",
                "--agent-socket", agent.path, "--max-connections", "20000",
                "--audit-log", os.path.join(self.tmp, "approval-audit.log")]
        for name in [HOST] + session_hosts:
            argv += ["--resolve", f"{name}:{self.origin_port}:127.0.0.1"]
        proc = None
        try:
            proc = self.procs.start(argv, stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(self.tmp, "approval.err"), "a"))
            port = wait_for(lambda: proc.poll() is None and read_port_file(port_file), 10,
                            "hostgate-proxy listening")
            agent.connection(timeout=10)
            self.proxies["approval"] = {"proc": proc, "port": port}
            self.commands.setdefault("proxies", {})["hostgate (approval)"] = \
                self.symbolic(argv).replace(agent.path, "$AGENT_SOCKET")

            # The first request asks; the answer covers the whole domain
            # for the session, so the next host is answered from the
            # session filter without asking.
            def load_argv(host, requests):
                return [self.tool("hg-bench-load"), "--mode", "connect", "--proxy", f"127.0.0.1:{port}",
                        "--host", f"{host}:{self.origin_port}", "--clients", "1",
                        "--requests", str(requests), "--max-seconds", str(self.args.seconds)]

            first = subprocess.Popen(load_argv(session_hosts[0], 1), stdout=subprocess.PIPE, text=True)
            ask = agent.wait_message("ask", timeout=10)
            agent.decide(ask, "approve", "session", "*.session.test")
            opened = json.loads(first.communicate(timeout=30)[0].splitlines()[-1])
            if opened["completed"] != 1:
                raise RuntimeError(f"the approved request failed: {opened}")

            runs = {"static": [], "session": []}
            hosts = {"static": HOST, "session": session_hosts[1]}
            for round_ in range(self.args.rounds):
                for kind, host in hosts.items():
                    command = load_argv(host, self.args.approval_requests)
                    self.commands.setdefault("approval", {})[kind] = self.symbolic(command)
                    runs[kind].append(self.run_load(command, self.args.seconds))
                log(f"approval round {round_ + 1}: " + ", ".join(
                    f"{k} p50 {runs[k][-1]['p50_us']} µs" for k in runs))
            return {"measured": True, "clients": 1, "requests": self.args.approval_requests,
                    "asks": len(agent.messages("ask")), "runs": runs}
        finally:
            self.proxies.pop("approval", None)
            if proc is not None:
                self.procs.stop(proc)
            agent.close()

    def run(self):
        figures = self.args.only.split(",") if self.args.only else \
            ["throughput", "connect", "keepalive", "idle", "filter", "approval"]
        results = {"machine": machine(), "options": vars(self.args), "figures": {},
                   "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.start_origin()
        self.start_all_proxies()

        if "throughput" in figures:
            results["figures"]["throughput"] = self.figure_throughput()
        if "connect" in figures:
            results["figures"]["connect"] = self.figure_load("connect", "connect",
                                                             self.args.requests, self.args.seconds)
        if "keepalive" in figures:
            results["figures"]["keepalive"] = self.figure_load("keepalive", "keepalive",
                                                               self.args.keepalive_requests,
                                                               self.args.seconds)
        if "idle" in figures:
            results["figures"]["idle"] = self.figure_idle()
        if "filter" in figures:
            results["figures"]["filter"] = self.figure_filter()
        if "approval" in figures:
            results["figures"]["approval"] = self.figure_approval()

        results["commands"] = self.commands
        results["load_end"] = open("/proc/loadavg").read().split()[0]
        results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return results

    def close(self):
        self.procs.stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "curl": " ".join(first_line(["curl", "--version"]).split()[:2]),
        "tinyproxy": first_line(["tinyproxy", "-v"]),
        "squid": first_line(["squid", "-v"]),
        "hostgate": first_line(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "log", "-1",
                                "--format=%h %s"]),
        "load_start": open("/proc/loadavg").read().split()[0],
    }


def main():
    parser = argparse.ArgumentParser(description="Benchmark hostgate-proxy against its peers.")
    parser.add_argument("--build", required=True)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--quick", action="store_true", help="smaller counts, about two minutes")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--only", help="comma-separated figures: throughput,connect,keepalive,idle,filter,approval")
    parser.add_argument("--doc", help="Markdown file to write (default: SRCDIR/docs/benchmarks.md)")
    parser.add_argument("--render", metavar="JSON",
                        help="only rewrite the doc from the results in JSON, running nothing")
    args = parser.parse_args()
    doc = args.doc or os.path.join(args.srcdir, "docs", "benchmarks.md")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")

    if args.render:
        with open(args.render) as source:
            results = json.load(source)
        with open(doc, "w") as out:
            out.write(benchdoc.render(results, notes))
        log(f"wrote {doc}")
        return

    # The options that change the figures; --build and --doc only say
    # where things go.
    args.command = "tests/bench/run.sh" + (" --quick" if args.quick else "")
    if args.rounds is not None:
        args.command += f" --rounds {args.rounds}"
    if args.only:
        args.command += f" --only {args.only}"
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    args.bytes = (256 << 20) if args.quick else (2 << 30)
    args.requests = 2000 if args.quick else 20000
    args.keepalive_requests = 5000 if args.quick else 50000
    args.seconds = 5 if args.quick else 12
    args.tunnels = 1000 if args.quick else 10000
    args.entries = 100000 if args.quick else 1000000
    args.approval_requests = 300 if args.quick else 2000

    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        results = bench.run()
    finally:
        bench.close()

    json_path = os.path.join(args.build, "bench.json")
    with open(json_path, "w") as out:
        json.dump(results, out, indent=2)
    with open(doc, "w") as out:
        out.write(benchdoc.render(results, notes))
    log(f"wrote {json_path} and {doc}")


if __name__ == "__main__":
    main()
