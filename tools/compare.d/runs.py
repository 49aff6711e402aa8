"""The measurements of tools/compare: readiness probe, idle memory per connection,
throughput under the load generator, and a loopback download between two instances of
one client.

Owns: how a run is timed and sampled. A throughput run starts `hivebt-loadgen`
(pinned to CPU 1) for longer than needed, waits out a warm-up (at least `warmup`
seconds, then until data flows and the seeder holds every connection or that count has
stopped growing for 2 s; at most `warmup_max`), then measures a window of `duration`
seconds: bytes the kernel delivered to the load generator's sockets (tcp_info
`bytes_received`, via `ss`), the seeder's and the load generator's utime+stime from
/proc, the seeder's memory sampled every 0.2 s; then SIGINTs the load generator for its
report (latency percentiles, errors; those cover the whole run). Depends on common.py
and clients.py.
"""

import json
import os
import signal
import sys
import threading
import time

from clients import Opentracker, pinned, with_announce, info_hash
from common import (
    CLK_TCK, Proc, StepFailed, busy_pct, bytes_received_from, cpu_busy_ticks, cpu_ticks, established_to, free_port,
    held_by, log, run, status_kib,
)


class Ctx:
    """Paths and options every step needs; plain data, so the network-namespace helper
    can rebuild it from JSON."""

    FIELDS = ("hivebt", "loadgen", "lt_python", "rqbit", "helpers", "logdir", "shim", "nofile",
              "depth", "duration", "warmup", "warmup_max", "idle_connections", "idle_wait",
              "ready_timeout", "download_timeout", "src_offset", "hivebt_args")

    def __init__(self, **kw):
        for k in self.FIELDS:
            setattr(self, k, kw.get(k))
        self._runs = 0

    def to_dict(self):
        return {k: getattr(self, k) for k in self.FIELDS}

    def next_label(self, what):
        self._runs += 1
        return "%03d-%s" % (self._runs, what)

    def spread_env(self, connections):
        """LD_PRELOAD of the source-address shim, at a fresh offset for each run."""
        if not self.shim:
            return {}
        env = {"LD_PRELOAD": self.shim, "COMPARE_SRC_OFFSET": str(self.src_offset)}
        self.src_offset += connections + 16
        return env


class Loadgen:
    def __init__(self, ctx, seeder, torrent, connections, duration, connect_timeout, pattern="random",
                 idle=False):
        argv = [ctx.loadgen, "--torrent", torrent, "--peer", "%s:%d" % (seeder.host, seeder.port),
                "--connections", connections, "--depth", ctx.depth, "--pattern", pattern,
                "--duration", "%g" % duration, "--connect-timeout", "%g" % connect_timeout, "--json"]
        if idle:
            argv.append("--idle")
        label = ctx.next_label("loadgen-%s-%s%d" % (seeder.client.name, "idle" if idle else pattern, connections))
        self.proc = Proc(label, pinned(1, argv), ctx.logdir, env=ctx.spread_env(connections))
        self.pid = self.proc.pid
        self.limit = duration + connect_timeout + 60

    def report(self, interrupt=True):
        """Ends the run (SIGINT: it still reports) and returns its JSON report."""
        if interrupt:
            self.proc.signal(signal.SIGINT)
        if self.proc.wait(self.limit) is None:
            self.proc.stop()
            raise StepFailed("hivebt-loadgen did not exit:\n%s" % self.proc.tail())
        self.proc.stop()
        text = self.proc.stdout_text().strip()
        try:
            return json.loads(text)
        except ValueError:
            raise StepFailed("hivebt-loadgen printed no report (exit %s):\n%s" % (self.proc.returncode(),
                                                                                  self.proc.tail()))


def drain(seeder, timeout=30):
    """Waits until no connection to the seeder's port is left from an earlier run."""
    deadline = time.monotonic() + timeout
    while established_to(seeder.port) > 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(1)


def check_alive(seeder):
    if not seeder.proc.alive():
        raise StepFailed("%s seeder exited %s:\n%s" % (seeder.client.name, seeder.proc.returncode(),
                                                       seeder.proc.tail()))


def probe(ctx, seeder, torrent, timeout):
    """Short one-connection load generator runs until one gets block data: the seeder
    has checked its data and serves it."""
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        check_alive(seeder)
        tries += 1
        secs = seeder.client.probe_seconds
        lg = Loadgen(ctx, seeder, torrent, 1, secs, 5)
        rep = lg.report(interrupt=False)
        if rep.get("bytes", 0) > 0:
            return tries
        if time.monotonic() >= deadline:
            raise StepFailed("%s served no data to a one-connection probe within %d s" % (seeder.client.name,
                                                                                       timeout))
        time.sleep(1)


class MemSampler(threading.Thread):
    """Largest VmRSS and RssAnon of a process, sampled every 0.2 s until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0
        self.peak_anon = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(0.2)

    def sample(self):
        try:
            s = status_kib(self.pid)
        except OSError:
            return
        self.peak_rss = max(self.peak_rss, s.get("VmRSS", 0))
        self.peak_anon = max(self.peak_anon, s.get("RssAnon", 0))

    def finish(self):
        self.halt.set()
        self.join(5)
        self.sample()


def throughput(ctx, seeder, torrent, connections, pattern):
    drain(seeder)
    check_alive(seeder)
    lg = Loadgen(ctx, seeder, torrent, connections, ctx.warmup_max + ctx.duration + 5, ctx.warmup_max,
                 pattern=pattern)
    t0 = time.monotonic()
    held = last_held = 0
    held_since = t0
    rx_prev = bytes_received_from(seeder.port)
    capped = False
    while True:
        time.sleep(0.25)
        now = time.monotonic()
        if not lg.proc.alive():
            raise StepFailed("hivebt-loadgen ended during the warm-up:\n%s" % lg.proc.tail())
        held = held_by(seeder.pid, seeder.port)
        if held != last_held:
            last_held, held_since = held, now
        rx = bytes_received_from(seeder.port)
        flowing = rx > rx_prev
        rx_prev = rx
        if now - t0 >= ctx.warmup and flowing and held > 0 and (held >= connections or now - held_since >= 2):
            break
        if now - t0 >= ctx.warmup_max:
            capped = True
            break
    warm = time.monotonic() - t0
    mem = MemSampler(seeder.pid)
    rx0 = bytes_received_from(seeder.port)
    c0, l0, k0, w0 = cpu_ticks(seeder.pid), cpu_ticks(lg.pid), cpu_busy_ticks(), time.monotonic()
    mem.start()
    time.sleep(ctx.duration)
    rx1 = bytes_received_from(seeder.port)
    c1, l1, k1, w1 = cpu_ticks(seeder.pid), cpu_ticks(lg.pid), cpu_busy_ticks(), time.monotonic()
    mem.finish()
    held_end = held_by(seeder.pid, seeder.port)
    st = status_kib(seeder.pid)
    rep = lg.report()
    span = w1 - w0
    lat = rep.get("latency_us") or {}
    errors = {k: v for k, v in (rep.get("errors") or {}).items() if v}
    return {
        "connections": connections,
        "pattern": pattern,
        "held": held_end,
        "warmup_s": round(warm, 2),
        "warmup_capped": capped,
        "window_s": round(span, 3),
        "mb_per_s": round(max(0, rx1 - rx0) / span / 1e6, 2),
        "loadgen_mb_per_s": round(rep.get("mb_per_s", 0.0), 2),
        "loadgen_seconds": round(rep.get("seconds", 0.0), 2),
        "seeder_cpu_pct": round(100.0 * (c1 - c0) / CLK_TCK / span, 1),
        "loadgen_cpu_pct": round(100.0 * (l1 - l0) / CLK_TCK / span, 1),
        "cpu0_busy_pct": busy_pct(k0, k1, 0),
        "cpu1_busy_pct": busy_pct(k0, k1, 1),
        "seeder_vmhwm_kib": st.get("VmHWM"),
        "seeder_peak_rss_kib": mem.peak_rss,
        "seeder_peak_anon_kib": mem.peak_anon,
        "latency_p50_us": lat.get("p50"),
        "latency_p99_us": lat.get("p99"),
        "requests_completed": rep.get("requests_completed"),
        "chokes": rep.get("chokes"),
        "handshaken": rep.get("connections_handshaken"),
        "errors": errors,
    }


def idle_memory(ctx, seeder, torrent):
    drain(seeder)
    check_alive(seeder)
    before = status_kib(seeder.pid)
    n = ctx.idle_connections
    lg = Loadgen(ctx, seeder, torrent, n, ctx.idle_wait + 60, ctx.idle_wait, idle=True)
    t0 = time.monotonic()
    held = last = 0
    since = t0
    why = "time cap (%d s)" % ctx.idle_wait
    while time.monotonic() - t0 < ctx.idle_wait:
        time.sleep(0.5)
        now = time.monotonic()
        if not lg.proc.alive():
            why = "load generator ended"
            break
        held = held_by(seeder.pid, seeder.port)
        if held != last:
            last, since = held, now
        if held >= n:
            why = "all held"
            break
        if held > 0 and now - since >= 5:
            why = "count steady for 5 s"
            break
    time.sleep(1)
    after = status_kib(seeder.pid)
    held = held_by(seeder.pid, seeder.port)
    wait_s = time.monotonic() - t0
    rep = lg.report()
    drain(seeder)
    d_rss = after["VmRSS"] - before["VmRSS"]
    d_anon = after.get("RssAnon", 0) - before.get("RssAnon", 0)
    return {
        "asked": n,
        "held": held,
        "stopped_waiting": why,
        "waited_s": round(wait_s, 1),
        "handshaken": rep.get("connections_handshaken"),
        "open_at_end": rep.get("connections_open_at_end"),
        "errors": {k: v for k, v in (rep.get("errors") or {}).items() if v},
        "rss_before_kib": before["VmRSS"],
        "rss_after_kib": after["VmRSS"],
        "anon_before_kib": before.get("RssAnon"),
        "anon_after_kib": after.get("RssAnon"),
        "kib_per_connection": round(d_rss / held, 2) if held else None,
        "anon_kib_per_connection": round(d_anon / held, 2) if held else None,
    }


def same_content(a, b):
    if not os.path.exists(b):
        return False
    return run(["cmp", "-s", a, b], 600, check=False).returncode == 0


def download_pair(ctx, client, src, torrent, hosts=None, probe_seeder=True):
    """`client` seeds `src` (torrent `torrent`) and a second instance downloads it, once
    the seeder says it is seeding and (with `probe_seeder`) has served a probe.
    Returns {seconds, mb_per_s, verified, ...}."""
    hosts = hosts or {"seed": "127.0.0.1", "down": "127.0.0.1", "tracker": "127.0.0.1"}
    logdir = ctx.logdir
    name = client.name
    stops = []
    try:
        if client.needs_tracker:
            with open(torrent, "rb") as f:
                ih = info_hash(f.read())
            tracker = Opentracker(hosts["tracker"], ih, logdir, tag="dl-%s-opentracker" % name)
            stops.append(tracker)
            tracked = os.path.join(logdir, "dl-%s.torrent" % name)
            with_announce(torrent, tracked, tracker.url)
            torrent = tracked
        port = free_port(hosts["seed"])
        seeder = client.seed(torrent, os.path.dirname(src), hosts["seed"], port, "dl-%s-seed" % name, logdir)
        stops.append(seeder)
        client.wait_seeding(seeder, ctx.ready_timeout)
        if probe_seeder:
            probe(ctx, seeder, torrent, ctx.ready_timeout)
            drain(seeder)
        out = os.path.join(logdir, "dl-%s-out" % name)
        os.makedirs(out, exist_ok=True)
        dl = client.download(torrent, out, hosts["down"], hosts["seed"], port, "dl-%s-get" % name, logdir)
        stops.append(dl)
        done_at = client.wait_complete(dl, ctx.download_timeout)
        seconds = done_at - dl.started_at
        dl.stop()
        seeder.stop()
        copy = os.path.join(out, os.path.basename(src))
        ok = same_content(src, copy)
        size = os.path.getsize(src)
        result = {
            "seconds": round(seconds, 2),
            "mb_per_s": round(size / seconds / 1e6, 1),
            "verified": ok,
            "peers": client.peers_how,
        }
        if not ok:
            result["error"] = "the downloaded copy differs from the source"
        if os.path.exists(copy):
            os.unlink(copy)
        return result
    finally:
        for s in reversed(stops):
            s.stop()


def netns_download(ctx_path, client_name, src, torrent, timeout):
    """Runs download_pair for `client_name` in a private network namespace (the
    netns_pair.py helper under `unshare --net`), where three 10.200.0.x addresses on its
    own lo stand in for three machines. Returns its result or raises StepFailed."""
    helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns_pair.py")
    argv = ["unshare", "--net"]
    if os.geteuid() != 0:
        argv.append("--map-root-user")
    argv += [sys.executable, helper, ctx_path, client_name, src, torrent]
    with open(ctx_path) as f:
        logdir = json.load(f)["logdir"]
    proc = Proc("netns-%s" % client_name, argv, logdir)
    try:
        if proc.wait(timeout) is None:
            raise StepFailed("the network-namespace download of %s ran over %d s" % (client_name, timeout))
        text = proc.stdout_text().strip()
        try:
            result = json.loads(text.splitlines()[-1]) if text else None
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise StepFailed("the network-namespace helper failed (exit %s):\n%s" % (proc.returncode(), proc.tail(12)))
        if "failed" in result:
            raise StepFailed(result["failed"])
        return result
    finally:
        proc.stop()
        log("network-namespace helper for %s done" % client_name)
