"""The readable report of tools/compare: header (command, machine, versions, settings),
one seeding table per pattern with the hivebt / best-other ratios, the idle-memory table
and the download table. Reads the results dictionary only; prints to stdout.
"""


def _mib(kib):
    return "%.1f" % (kib / 1024.0) if isinstance(kib, (int, float)) else "n/a"


def _ms(us):
    return "%.1f" % (us / 1000.0) if isinstance(us, (int, float)) else "n/a"


def _num(v, fmt="%.1f"):
    return fmt % v if isinstance(v, (int, float)) else "n/a"


def _short(text, n=160):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _per_cpu_s(r):
    """MB served per second of seeder CPU; None below 5 % CPU, where a few clock ticks
    more or less would swing it."""
    cpu = r.get("seeder_cpu_pct")
    return r["mb_per_s"] / (cpu / 100.0) if cpu and cpu >= 5 else None


def print_report(res):
    """Prints the report; returns True when any measurement failed."""
    failed = False
    opts = res["options"]
    print()
    print("hivebt vs other clients: seeding throughput, idle memory, loopback download")
    print("command: %s" % res["command"])
    print("started %s, finished %s" % (res["started"], res.get("finished", "?")))
    print("machine: %s" % res.get("machine", "?"))
    print("load average (1, 5, 15 min): at start %s, at end %s; figures are noisy when other work ran"
          % (res.get("load_start", "?"), res.get("load_end", "?")))
    print("versions:")
    for k, v in res.get("versions", {}).items():
        print("  %-22s %s" % (k, v))
    data = res.get("data")
    if data:
        print("data: %s MiB random file (%s), %s KiB pieces (mktorrent), %s%% in the page cache"
              % (data["mib"], data["how"], data["piece_kib"], _num(data.get("resident_pct"), "%.0f")))
    print("seeders pinned to CPU 0 (taskset -c 0, every thread); hivebt-loadgen and this script on CPU 1")
    print("load generator sources: %s" % (
        "one 127.a.b.c address per connection, fresh each run (LD_PRELOAD shim)" if res.get("spread_sources")
        else "all from 127.0.0.1"))
    print("settings:")
    for name, s in res.get("seeding", {}).items():
        print("  %-12s %s" % (name, s.get("settings", "")))
        if s.get("threads_cpus"):
            print("  %-12s %s threads, allowed CPUs %s; ready (data checked, first block served) after %s s"
                  % ("", s.get("threads"), "/".join(s["threads_cpus"]), s.get("ready_s")))
    seeding = res.get("seeding", {})
    for name, s in seeding.items():
        if s.get("error"):
            failed = True
            print("  (!) %s: seeding not measured: %s" % (name, _short(s["error"], 400)))

    for pattern in opts["patterns"] if opts["conn_list"] else []:
        print()
        print("Seeding, pattern %s, depth %d, measured window %g s after the warm-up; MB = 10^6 bytes"
              % (pattern, opts["depth"], opts["duration"]))
        print("(MB/s, CPU and memory over the window; p50/p99 and errors over the load generator's whole run; "
              "held = connections the seeder had accepted at the end)")
        print()
        print("| seeder | N | held | MB/s | MB per seeder CPU-s | seeder CPU % | CPU 0 busy % | VmHWM MiB "
              "| peak RssAnon MiB | p50 ms | p99 ms | loadgen CPU % | loadgen MB/s, whole run | warm-up s | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for n in opts["conn_list"]:
            for name, s in seeding.items():
                r = _run(s, pattern, n)
                if r is None:
                    continue
                if r.get("error"):
                    failed = True
                    print("| %s | %d | n/a | n/a | | | | | | | | | | | %s |" % (name, n, _short(r["error"])))
                    continue
                errs = ", ".join("%s %d" % kv for kv in sorted(r["errors"].items())) or "0"
                warm = _num(r["warmup_s"]) + (" (cap)" if r.get("warmup_capped") else "")
                print("| %s | %d | %d | %.1f | %s | %.0f | %s | %s | %s | %s | %s | %s | %.1f | %s | %s |" % (
                    name, n, r["held"], r["mb_per_s"], _num(_per_cpu_s(r)), r["seeder_cpu_pct"],
                    _num(r.get("cpu0_busy_pct"), "%.0f"), _mib(r["seeder_vmhwm_kib"]),
                    _mib(r["seeder_peak_anon_kib"]), _ms(r["latency_p50_us"]), _ms(r["latency_p99_us"]),
                    _num(r["loadgen_cpu_pct"], "%.0f"), r["loadgen_mb_per_s"], warm, errs))
        print()
        print("hivebt / best other, pattern %s (above 1: hivebt ahead):" % pattern)
        for n in opts["conn_list"]:
            print("  N=%-4d %s" % (n, _ratio_line(seeding, pattern, n)))
        short = [(name, n, r["held"]) for name, s in seeding.items() for n in opts["conn_list"]
                 for r in [_run(s, pattern, n)] if r and not r.get("error") and r["held"] < n]
        for name, n, held in short:
            print("  note: %s held %d of %d connections at the end of the N=%d window" % (name, held, n, n))

    if not opts["skip_idle"]:
        print()
        print("Idle connections: hivebt-loadgen --idle --connections %d, seeder memory before and while held"
              % opts["idle_connections"])
        print()
        print("| seeder | held / asked | stopped waiting | VmRSS before MiB | VmRSS held MiB | KiB per connection "
              "| RssAnon KiB per connection | load generator errors |")
        print("|---|---:|---|---:|---:|---:|---:|---|")
        for name, s in seeding.items():
            i = s.get("idle")
            if not i:
                continue
            if i.get("error"):
                failed = True
                print("| %s | n/a | | | | | | %s |" % (name, _short(i["error"])))
                continue
            errs = ", ".join("%s %d" % kv for kv in sorted(i["errors"].items())) or "0"
            print("| %s | %d / %d | %s after %.0f s | %s | %s | %s | %s | %s |" % (
                name, i["held"], i["asked"], i["stopped_waiting"], i["waited_s"], _mib(i["rss_before_kib"]),
                _mib(i["rss_after_kib"]), _num(i["kib_per_connection"]), _num(i["anon_kib_per_connection"]),
                errs))
        for name, s in seeding.items():
            i = s.get("idle") or {}
            if i.get("held") is not None and i["held"] < i["asked"]:
                print("  note: %s held %d of %d; its KiB per connection is per connection held"
                      % (name, i["held"], i["asked"]))

    if "download" in res:
        dd = res.get("download_data", {})
        print()
        print("Download: %s MiB file (%s), %s KiB pieces, one client seeding (CPU 0) to a second instance of "
              "itself (CPU 1)" % (dd.get("mib"), dd.get("how"), opts["piece_kib"]))
        print()
        print("| pair | seconds | MB/s | content verified | how the peers met |")
        print("|---|---:|---:|---|---|")
        for name, d in res["download"].items():
            if d.get("error"):
                failed = True
                print("| %s -> %s | n/a | n/a | n/a: %s | %s |" % (name, name, _short(d["error"], 300),
                                                                  d.get("peers", "")))
                continue
            if not d.get("verified"):
                failed = True
            print("| %s -> %s | %.1f | %.1f | %s | %s |" % (name, name, d["seconds"], d["mb_per_s"],
                                                        "yes (cmp)" if d["verified"] else "NO: copy differs",
                                                        d.get("peers", "")))
        others = {k: v for k, v in res["download"].items() if k != "hivebt" and v.get("verified")}
        hb = res["download"].get("hivebt", {})
        if hb.get("verified") and others:
            best = min(others, key=lambda k: others[k]["seconds"])
            print()
            print("hivebt download time / best other: %.2f (best: %s %.1f s; below 1: hivebt faster)"
                  % (hb["seconds"] / others[best]["seconds"], best, others[best]["seconds"]))
    if res.get("aborted"):
        print()
        print("(!) aborted: %s" % res["aborted"])
    return failed


def _run(s, pattern, n):
    for r in s.get("runs", []):
        if r.get("connections") == n and r.get("pattern") == pattern:
            return r
    return None


def _ratio_line(seeding, pattern, n):
    hb = _run(seeding.get("hivebt", {}), pattern, n)
    others = {name: _run(s, pattern, n) for name, s in seeding.items() if name != "hivebt"}
    others = {k: v for k, v in others.items() if v and not v.get("error")}
    if not hb or hb.get("error"):
        return "n/a (no hivebt figure)"
    if not others:
        return "n/a (no other client measured)"
    best = max(others, key=lambda k: others[k]["mb_per_s"])
    line = "MB/s %.2f (hivebt %.1f, best other %s %.1f)" % (
        hb["mb_per_s"] / others[best]["mb_per_s"] if others[best]["mb_per_s"] else float("inf"),
        hb["mb_per_s"], best, others[best]["mb_per_s"])
    eff = {k: _per_cpu_s(v) for k, v in others.items() if _per_cpu_s(v)}
    hb_eff = _per_cpu_s(hb)
    if eff and hb_eff:
        best_eff = max(eff, key=eff.get)
        line += "; MB per seeder CPU-second %.2f (hivebt %.1f, best other %s %.1f)" % (
            hb_eff / eff[best_eff], hb_eff, best_eff, eff[best_eff])
    return line
