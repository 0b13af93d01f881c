# Renders the results of tests/bench/bench.py as docs/benchmarks.md.
#
# The numbers come from the run; the paragraphs under "What limited it"
# come from profiling sessions and are kept in NOTES below, so a rerun
# keeps them. Update them when a new profile shows something else.

import statistics

TARGETS = ["direct", "hostgate", "tinyproxy", "squid"]
PROXIES = TARGETS[1:]
LABELS = {"direct": "direct (no proxy)", "hostgate": "hostgate-proxy",
          "hostgate-splice": "hostgate-proxy, splicing (`HOSTGATE_TUNNEL_SPLICE=1`)",
          "tinyproxy": "tinyproxy", "squid": "squid",
          "sockmap": "in-kernel relay (BPF sockhash; a reference, not hostgate)"}

NOTES = {}


def load_notes(path):
    """Reads the analysis paragraphs: `## key` headings, then Markdown."""
    notes, key, lines = {}, None, []
    try:
        text = open(path).read()
    except OSError:
        return notes
    for line in text.splitlines():
        if line.startswith("## "):
            if key:
                notes[key] = "\n".join(lines).strip()
            key, lines = line[3:].strip(), []
        elif key:
            lines.append(line)
    if key:
        notes[key] = "\n".join(lines).strip()
    return notes


def med(values):
    return statistics.median(values) if values else float("nan")


def fmt(value, digits=2):
    if value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return a / b if b else float("nan")


def verdict(ok, detail):
    return f"**met** ({detail})" if ok else f"**missed** ({detail})"


def command_block(commands):
    if isinstance(commands, str):
        commands = {"": commands}
    lines = []
    for name, command in commands.items():
        prefix = f"# {LABELS.get(name, name)}\n" if name else ""
        if name in ("static", "session"):
            prefix = f"# answered by the {'allow list' if name == 'static' else 'session filter'}\n"
        lines.append(prefix + command)
    return "```sh\n" + "\n".join(lines) + "\n```\n"


def section_machine(results):
    m = results["machine"]
    opts = results["options"]
    rows = [
        ("command", f"`{opts['command']}`"),
        ("date (UTC)", f"{results['started']} to {results['finished']}"),
        ("`nproc`", str(m["nproc"])),
        ("kernel", m["kernel"]),
        ("CPU model", m["cpu"]),
        ("memory", f"{m['memory_gib']} GiB"),
        ("open files limit (hard)", str(m["fd_limit"])),
        ("hostgate-proxy", f"built from the working tree at `{m['hostgate']}`"),
        ("tinyproxy", m["tinyproxy"]),
        ("squid", m["squid"]),
        ("curl", m["curl"]),
        ("rounds per figure", str(opts["rounds"])),
        ("load average (1 min) at start and end",
         f"{m.get('load_start', 'n/a')} and {results.get('load_end', 'n/a')}"),
    ]
    out = "## Machine and run\n\n| | |\n|---|---|\n"
    out += "".join(f"| {k} | {v} |\n" for k, v in rows)
    return out + "\n"


def section_setup(results):
    cmds = results["commands"].get("proxies", {})
    out = "## How each proxy runs\n\n"
    out += NOTES.get("setup", "") + "\n\n"
    if cmds:
        out += command_block(cmds) + "\n"
    return out


def section_throughput(results):
    fig = results["figures"].get("throughput")
    if not fig:
        return ""
    data = fig["bytes_per_second"]
    direct = med(data["direct"])

    out = f"## 1. Tunnel throughput\n\nOne CONNECT tunnel carrying {fig['bytes']:,} bytes " \
          "(curl's `speed_download`, GB/s = 10⁹ bytes per second); direct is the same curl " \
          "without a proxy.\n\n"

    cpu = fig.get("proxy_cpu_seconds_per_gib", {})
    client_cpu = fig.get("client_cpu_seconds_per_gib", {})
    origin_cpu = fig.get("origin_cpu_seconds_per_gib", {})
    softirq = fig.get("softirq_cpu_seconds_per_gib", {})
    machine = fig.get("machine_cpu_seconds_per_gib", {})
    idle = fig.get("machine_idle_percent", {})
    out += "CPU columns: seconds of CPU time (user + system, from `/proc`) spent per GiB " \
           "carried by the proxy, by curl and by the origin. Then the whole machine's " \
           "softirq time per GiB: loopback TCP does much of its work there, and the " \
           "kernel charges that time to no process. Then all busy time of both cores " \
           "per GiB, which also counts the kernel's worker threads. The last column is " \
           "the share of both cores left idle during the transfer.\n\n"
    out += "| path | median GB/s | min | max | × direct | proxy CPU s/GiB | curl CPU s/GiB | " \
           "origin CPU s/GiB | softirq s/GiB | machine CPU s/GiB | idle % |\n" \
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for t in TARGETS + [t for t in data if t not in TARGETS]:
        v = data[t]
        out += f"| {LABELS[t]} | {fmt(med(v) / 1e9)} | {fmt(min(v, default=float('nan')) / 1e9)} | " \
               f"{fmt(max(v, default=float('nan')) / 1e9)} | {fmt(ratio(med(v), direct))} | " \
               f"{fmt(med(cpu.get(t, [])), 2) if t in cpu else '–'} | " \
               f"{fmt(med(client_cpu.get(t, [])), 2)} | {fmt(med(origin_cpu.get(t, [])), 2)} | " \
               f"{fmt(med(softirq.get(t, [])), 2)} | {fmt(med(machine.get(t, [])), 2)} | " \
               f"{fmt(med(idle.get(t, [])), 0)} |\n"

    hg = med(data["hostgate"])
    r_direct, r_squid = ratio(hg, direct), ratio(hg, med(data["squid"]))
    out += "\nTargets: ≥ 0.8 × direct: " + \
        verdict(r_direct >= 0.8, f"{fmt(r_direct)} × direct, {fmt(100 * r_direct / 0.8, 0)} % of the target") + \
        "; ≥ 3 × squid: " + \
        verdict(r_squid >= 3, f"{fmt(r_squid)} × squid, {fmt(100 * r_squid / 3, 0)} % of the target") + ".\n\n"
    out += command_block(results["commands"].get("throughput", {}))
    out += "\n### What limited it\n\n" + NOTES.get("throughput", "Not profiled yet.") + "\n\n"
    return out


def load_table(fig, overflows):
    runs = fig["runs"]
    d_rps = med([r["rps"] for r in runs["direct"]])
    d_p50 = med([r["p50_us"] for r in runs["direct"]])
    d_p99 = med([r["p99_us"] for r in runs["direct"]])
    out = "| path | median req/s | min | max | × direct | p50 µs | × direct | p99 µs | × direct | " \
          "proxy CPU µs / request | " + ("accept queue overflows | " if overflows else "") + "errors |\n"
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if overflows else "") + "---:|\n"
    for t in TARGETS:
        rps = [r["rps"] for r in runs[t]]
        p50 = med([r["p50_us"] for r in runs[t]])
        p99 = med([r["p99_us"] for r in runs[t]])
        errors = sum(r["errors"] for r in runs[t])
        out += f"| {LABELS[t]} | {fmt(med(rps), 0)} | {fmt(min(rps), 0)} | {fmt(max(rps), 0)} | " \
               f"{fmt(ratio(med(rps), d_rps))} | {fmt(p50, 0)} | {fmt(ratio(p50, d_p50), 1)} | " \
               f"{fmt(p99, 0)} | {fmt(ratio(p99, d_p99), 1)} | " \
               f"{'–' if t == 'direct' else fmt(med([r.get('proxy_cpu_us_per_request', float('nan')) for r in runs[t]]), 0)} | " \
               + (f"{sum(r.get('listen_overflows', 0) for r in runs[t]):,} | " if overflows else "") \
               + f"{errors} |\n"
    out += "\nLatencies are the medians of the rounds' p50 and p99."
    if overflows:
        out += " Accept queue overflows: `ListenOverflows` of `/proc/net/netstat`, summed over " \
               "the rounds. The counter covers the whole machine, other work included; each " \
               "overflow is a dropped SYN that the client sends again a second later."
    return out + "\n"


def section_connect(results):
    fig = results["figures"].get("connect")
    if not fig:
        return ""
    runs = fig["runs"]
    out = "## 2. Connection rate\n\n" \
          f"{fig['clients']} concurrent clients, {fig['requests']:,} requests per round " \
          f"(or {fig['max_seconds']} s, whichever comes first); each request opens a connection, " \
          "sends `CONNECT`, a small `GET` with `Connection: close` through the tunnel, reads " \
          "to the end of stream and closes. Direct: connect, `GET`, read, close. Latency " \
          "is from `connect()` to the end of stream.\n\n"
    out += load_table(fig, overflows=True)
    hg = med([r["rps"] for r in runs["hostgate"]])
    tp = med([r["rps"] for r in runs["tinyproxy"]])
    sq = med([r["rps"] for r in runs["squid"]])
    hg99 = med([r["p99_us"] for r in runs["hostgate"]])
    sq99 = med([r["p99_us"] for r in runs["squid"]])
    out += "\nTargets: ≥ 2 × tinyproxy: " + \
        verdict(hg >= 2 * tp, f"{fmt(ratio(hg, tp))} × tinyproxy") + \
        "; ≥ squid: " + verdict(hg >= sq, f"{fmt(ratio(hg, sq))} × squid") + \
        "; p99 ≤ squid's: " + verdict(hg99 <= sq99, f"{fmt(ratio(hg99, sq99))} × squid's p99") + ".\n\n"
    out += command_block(results["commands"].get("connect", {}))
    out += "\n### What limited it\n\n" + NOTES.get("connect", "Not profiled yet.") + "\n\n"
    return out


def section_keepalive(results):
    fig = results["figures"].get("keepalive")
    if not fig:
        return ""
    runs = fig["runs"]
    out = "## 3. Plain HTTP forwarding with keep-alive\n\n" \
          f"{fig['clients']} clients, each on one kept-alive connection, {fig['requests']:,} " \
          f"requests per round (or {fig['max_seconds']} s): absolute-form `GET http://…/` " \
          "through the proxy, origin-form `GET /` directly. A proxy that closes the " \
          "connection after each response (tinyproxy) is reconnected, as curl does, and the " \
          "request's latency includes the reconnection.\n\n"
    out += load_table(fig, overflows=False)
    reconnects = {t: sum(r["reconnects"] for r in runs[t]) for t in TARGETS}
    out += "\nReconnections in all rounds: " + \
        ", ".join(f"{LABELS[t]} {reconnects[t]:,}" for t in TARGETS) + ".\n\n"
    out += "No target is set for this figure.\n\n"
    out += command_block(results["commands"].get("keepalive", {}))
    out += "\n### What limited it\n\n" + NOTES.get("keepalive", "Not profiled yet.") + "\n\n"
    return out


def section_idle(results):
    fig = results["figures"].get("idle")
    if not fig:
        return ""
    out = "## 4. Idle tunnels\n\n"
    if fig["count"] < fig["requested"]:
        out += f"{fig['count']:,} tunnels held open at once in each proxy, not " \
               f"{fig['requested']:,}: the hard limit of open files here is {fig['fd_limit']:,} " \
               "per process and cannot be raised without CAP_SYS_RESOURCE, and a tunnel " \
               "takes two descriptors in a proxy. "
    else:
        out += f"{fig['count']:,} tunnels held open at once in each proxy. "
    short = [LABELS[t] for t, r in fig["proxies"].items() if r["tunnels"] < fig["count"]]
    if short:
        out += "Within the 120 s the client allows for opening them, " + ", ".join(short) + \
               " opened fewer (see the tunnels column). "
    out += "Each tunnel carries one small request and response, then stays idle. A fresh " \
           "proxy per row; user memory is the growth of the proxy's resident set " \
           "(`VmRSS`, threads included) divided by the tunnel count. Kernel memory is the " \
           "growth of the whole machine's slab (`/proc/meminfo`) and TCP buffers " \
           "(`/proc/net/sockstat`): it includes the client's and the origin's sockets too, " \
           "so only the differences between rows belong to a proxy.\n\n"

    out += "| proxy | tunnels | user KiB / tunnel | slab KiB / tunnel | TCP buffers KiB / tunnel | " \
           "sockets | pipes | threads | dropped | seconds to open | opened per second |\n"
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for t in PROXIES:
        r = fig["proxies"].get(t)
        if not r:
            continue
        out += f"| {LABELS[t]} | {r['tunnels']:,} | {fmt(r['user_bytes_per_tunnel'] / 1024, 1)} | " \
               f"{fmt(r['kernel_slab_bytes_per_tunnel'] / 1024, 1)} | " \
               f"{fmt(r['kernel_tcp_buffer_bytes_per_tunnel'] / 1024, 1)} | " \
               f"{r['fds']['socket']:,} | {r['fds']['pipe']} | {r.get('threads', 0):,} | {r['dropped']} | " \
               f"{fmt(r['open_seconds'], 1)} | {fmt(r['tunnels'] / max(r['open_seconds'], 1e-6), 0)} |\n"

    hg = fig["proxies"].get("hostgate")
    if hg:
        kib = hg["user_bytes_per_tunnel"] / 1024
        out += "\nTarget: ≤ 8 KiB of user-space memory per idle tunnel: " + \
            verdict(kib <= 8, f"{fmt(kib, 1)} KiB, {fmt(kib / 8, 1)} × the target") + ".\n\n"
    out += command_block(results["commands"].get("idle", {}))
    out += "\n### What limited it\n\n" + NOTES.get("idle", "Not profiled yet.") + "\n\n"
    return out


def section_filter(results):
    fig = results["figures"].get("filter")
    if not fig:
        return ""
    out = "## 5. Filter\n\n" \
          f"A deny list of {fig['entries']:,} entries, half exact names " \
          "(`host17.exact-17.example`) and half wildcards (`*.zone17.wild-17.test`), " \
          "loaded with `hg_filter_add()` (parsing included). It is then looked up in " \
          f"{fig['batches']} batches of {fig['batch_size']:,} lookups each. The table gives " \
          "the median batch, per lookup, and the fastest and slowest batch, on the " \
          "monotonic clock, and the median batch in CPU time of the thread, which leaves " \
          "out the time other processes held the CPU. There is no proxy in this figure, " \
          "so no ratio to direct.\n\n"
    out += f"Load: {fmt(fig['load_seconds'], 3)} s on the clock, " \
           f"{fmt(fig.get('load_cpu_seconds', float('nan')), 3)} s of CPU time; the filter's tables take " \
           f"{fmt(fig['filter_rss_kib'] / 1024, 1)} MiB of resident memory.\n\n"

    rows = [
        ("lookup_exact_hit", "`hg_filter_match_name()`, a name on the list"),
        ("lookup_wildcard_hit", "`hg_filter_match_name()`, three labels under a wildcard"),
        ("lookup_miss", "`hg_filter_match_name()`, a name matching no entry, five labels"),
        ("deny_decision", "`hg_filter_match_host()`, name and resolved address: the deny step"),
        ("parse_and_lookup", "`hg_host_parse()` of `API7.Sub.zone….test:443` plus the deny step"),
    ]
    out += "| lookup | median ns | min | max | median ns of CPU time |\n|---|---:|---:|---:|---:|\n"
    for key, label in rows:
        r = fig[key]
        out += f"| {label} | {fmt(r['median_ns'], 0)} | {fmt(r['min_ns'], 0)} | {fmt(r['max_ns'], 0)} | " \
               f"{fmt(r.get('cpu_median_ns', float('nan')), 0)} |\n"

    worst = max(fig[k]["median_ns"] for k, _ in rows[:4])
    out += "\nTargets: load in under 1 s: " + \
        verdict(fig["load_seconds"] < 1, f"{fmt(fig['load_seconds'], 3)} s, " +
                f"{fmt(fig.get('load_cpu_seconds', float('nan')), 3)} s of CPU time") + \
        "; a lookup under 1 µs median: " + \
        verdict(worst < 1000, f"slowest median {fmt(worst, 0)} ns, " +
                f"{fmt(max(fig[k].get('cpu_median_ns', float('nan')) for k, _ in rows[:4]), 0)} ns " +
                "of CPU time") + ".\n\n"
    out += command_block(results["commands"].get("filter", ""))
    out += "\n### What limited it\n\n" + NOTES.get("filter", "Not profiled yet.") + "\n\n"
    return out


def section_approval(results):
    fig = results["figures"].get("approval")
    if fig is None:
        return ""
    out = "## 6. Approval path\n\n"
    if not fig.get("measured"):
        out += NOTES.get("approval-planned", "Not measured yet.") + "\n\n"
        out += "Target: the session-filter path adds under 50 µs at the median: not measured yet.\n\n"
        return out

    runs = fig["runs"]
    out += NOTES.get("approval-method", "") + "\n\n"
    asks = "once" if fig["asks"] == 1 else f"{fig['asks']} times"
    out += f"One client, {fig['requests']:,} requests per round; the agent was asked " \
           f"{asks} in the whole figure.\n\n"
    out += "| request answered by | median req/s | p50 µs | min | max | p99 µs |\n" \
           "|---|---:|---:|---:|---:|---:|\n"
    labels = {"static": "the allow list (`--allow-domain`)",
              "session": "the session filter (approved `*.session.test`)"}
    for kind in ("static", "session"):
        p50 = [r["p50_us"] for r in runs[kind]]
        out += f"| {labels[kind]} | {fmt(med([r['rps'] for r in runs[kind]]), 0)} | {fmt(med(p50), 0)} | " \
               f"{fmt(min(p50), 0)} | {fmt(max(p50), 0)} | {fmt(med([r['p99_us'] for r in runs[kind]]), 0)} |\n"
    added = med([r["p50_us"] for r in runs["session"]]) - med([r["p50_us"] for r in runs["static"]])
    deltas = [b["p50_us"] - a["p50_us"] for a, b in zip(runs["static"], runs["session"])]
    out += f"\nAdded latency at the median: {fmt(added, 0)} µs (per round, session minus static: " \
           + ", ".join(f"{d:+d}" for d in deltas) + " µs).\n\n"
    out += "Target: the session-filter path adds under 50 µs at the median: " + \
        verdict(added < 50, f"{fmt(added, 0)} µs") + ".\n\n"
    out += command_block(results["commands"].get("approval", {}))
    out += "\n### What limited it\n\n" + NOTES.get("approval", "Not profiled yet.") + "\n\n"
    return out


def render(results, notes_path):
    NOTES.clear()
    NOTES.update(load_notes(notes_path))
    out = "# Benchmarks\n\n" + NOTES.get("intro", "") + "\n\n"
    out += section_machine(results)
    if NOTES.get("summary"):
        out += "## What the figures say\n\n" + NOTES["summary"] + "\n\n"
    out += section_setup(results)
    for section in (section_throughput, section_connect, section_keepalive,
                    section_idle, section_filter, section_approval):
        out += section(results)
    return out.rstrip() + "\n"
