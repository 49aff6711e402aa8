"""The five BitTorrent clients tools/compare measures, and the tracker it uses, each
driven the same way: a seeder on HOST:PORT pinned to CPU 0, a downloader pinned to
CPU 1, everything on loopback with DHT, local discovery, PEX, UPnP and NAT-PMP off.

Owns: each client's command line and settings (the fairness knobs: no rate limits, no
cap on unchoked peers, room for 5000 peers), how to tell that a seeder is seeding and a
download is complete, and the Transmission RPC client. Depends on common.py.

Each client's `seed(...)` returns a Seeder whose `pid` is the process to measure (the
client itself: `taskset` execs it); `download(...)` returns a Download. `wait_seeding`
and `wait_complete` raise StepFailed on a timeout or an early exit.
"""

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from common import Proc, StepFailed, free_port, run, wait_until

PEERS = 5000  # peer and unchoke-slot limit given to every client that has one
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + list(argv)


def http_get(url, timeout=5):
    with NO_PROXY.open(url, timeout=timeout) as r:
        return r.read()


class Seeder:
    def __init__(self, client, proc, host, port, **extra):
        self.client = client
        self.proc = proc
        self.pid = proc.pid
        self.host = host
        self.port = port
        self.__dict__.update(extra)

    def stop(self):
        self.proc.stop()
        for p in getattr(self, "others", []):
            p.stop()


class Download:
    def __init__(self, proc, started_at, **extra):
        self.proc = proc
        self.started_at = started_at
        self.__dict__.update(extra)

    def stop(self):
        self.proc.stop()


def wait_line(proc, needle, timeout, what):
    return wait_until(what, timeout, lambda: needle in proc.stdout_text(), proc)


def wait_exit_ok(proc, timeout, what):
    """Waits for `proc` to exit 0; returns the monotonic time it was seen exiting."""
    deadline = time.monotonic() + timeout
    while proc.alive():
        if time.monotonic() >= deadline:
            raise StepFailed("%s: no %s within %d s:\n%s" % (proc.label, what, timeout, proc.tail()))
        time.sleep(0.05)
    done_at = time.monotonic()
    if proc.returncode() != 0:
        raise StepFailed("%s exited %s before %s:\n%s" % (proc.label, proc.returncode(), what, proc.tail()))
    return done_at


# --- hivebt ------------------------------------------------------------------------------


class Hivebt:
    name = "hivebt"
    probe_seconds = 2
    needs_tracker = False
    peers_how = "--peer on the downloader"

    def __init__(self, ctx):
        self.ctx = ctx

    def version(self):
        return run([self.ctx.hivebt, "--version"], 10).stdout.strip()

    def settings(self):
        extra = " ".join(self.ctx.hivebt_args or [])
        return "hivebt seed --upload-slots %d --max-peers %d --no-tracker%s (threads: default)" % (
            PEERS, PEERS, " " + extra if extra else "")

    def seed(self, torrent, data_dir, host, port, tag, logdir):
        state = os.path.join(logdir, tag + "-state")
        argv = [self.ctx.hivebt, "seed", "--no-dht", "--no-lsd", torrent, "--data", data_dir, "--listen", "%s:%d" % (host, port),
                "--no-tracker", "--upload-slots", PEERS, "--max-peers", PEERS, "--state", state]
        argv += self.ctx.hivebt_args or []
        return Seeder(self, Proc(tag, pinned(0, argv), logdir), host, port)

    def wait_seeding(self, seeder, timeout):
        wait_line(seeder.proc, "listening on", timeout, "'listening on' line")

    def download(self, torrent, out_dir, host, seed_host, seed_port, tag, logdir):
        state = os.path.join(logdir, tag + "-state")
        argv = [self.ctx.hivebt, "download", "--no-dht", "--no-lsd", torrent, "--out", out_dir, "--peer", "%s:%d" % (seed_host, seed_port),
                "--listen", "%s:0" % host, "--state", state]
        argv += self.ctx.hivebt_args or []
        started = time.monotonic()
        return Download(Proc(tag, pinned(1, argv), logdir), started)

    def wait_complete(self, dl, timeout):
        return wait_exit_ok(dl.proc, timeout, "complete download")


# --- libtorrent --------------------------------------------------------------------------


class Libtorrent:
    name = "libtorrent"
    probe_seconds = 2
    needs_tracker = False
    peers_how = "connect_peer() on the downloader"

    def __init__(self, ctx):
        self.ctx = ctx
        self.script = os.path.join(ctx.helpers, "lt_client.py")

    def version(self):
        return run([self.ctx.lt_python, "-c", "import libtorrent; print(libtorrent.__version__)"], 20).stdout.strip()

    def settings(self):
        return ("lt.high_performance_seed() + unchoke_slots_limit -1, connections_limit %d, "
                "inactivity_timeout 600, outgoing encryption off" % PEERS)

    def seed(self, torrent, data_dir, host, port, tag, logdir):
        argv = [self.ctx.lt_python, self.script, "seed", torrent, data_dir, host, port]
        proc = Proc(tag, pinned(0, argv), logdir, hold_stdin=True)
        return Seeder(self, proc, host, port)

    def wait_seeding(self, seeder, timeout):
        wait_line(seeder.proc, "seeding", timeout, "'seeding' line")

    def download(self, torrent, out_dir, host, seed_host, seed_port, tag, logdir):
        port = free_port(host)
        argv = [self.ctx.lt_python, self.script, "download", torrent, out_dir, host, port,
                "%s:%d" % (seed_host, seed_port)]
        started = time.monotonic()
        return Download(Proc(tag, pinned(1, argv), logdir, hold_stdin=True), started)

    def wait_complete(self, dl, timeout):
        done = wait_until("'complete' line", timeout, lambda: "complete" in dl.proc.stdout_text() and time.monotonic(),
                          dl.proc, interval=0.05)
        # Let it flush its disk cache and exit before the copy is compared.
        if dl.proc.wait(60) is None:
            raise StepFailed("libtorrent downloader did not exit within 60 s of completing")
        return done


# --- Transmission -------------------------------------------------------------------------


class TransmissionRPC:
    def __init__(self, host, port):
        self.url = "http://%s:%d/transmission/rpc" % (host, port)
        self.session_id = ""

    def call(self, method, arguments=None, timeout=10):
        body = json.dumps({"method": method, "arguments": arguments or {}}).encode()
        for _ in range(3):
            req = urllib.request.Request(self.url, data=body, headers={
                "X-Transmission-Session-Id": self.session_id, "Content-Type": "application/json"})
            try:
                with NO_PROXY.open(req, timeout=timeout) as r:
                    reply = json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 409:
                    self.session_id = e.headers.get("X-Transmission-Session-Id", "")
                    continue
                raise StepFailed("Transmission RPC %s: HTTP %d" % (method, e.code))
            if reply.get("result") != "success":
                raise StepFailed("Transmission RPC %s: %s" % (method, reply.get("result")))
            return reply.get("arguments", {})
        raise StepFailed("Transmission RPC %s: no session id" % method)

    def answering(self):
        try:
            self.call("session-get", timeout=2)
            return True
        except (OSError, StepFailed):
            return False

    def add(self, torrent, directory):
        added = self.call("torrent-add", {"filename": torrent, "download-dir": directory, "paused": False})
        entry = added.get("torrent-added") or added.get("torrent-duplicate")
        if not entry:
            raise StepFailed("Transmission torrent-add: %s" % added)
        return entry["id"]

    def torrent(self, tid):
        got = self.call("torrent-get", {"ids": [tid], "fields": [
            "percentDone", "status", "error", "errorString", "peersConnected", "haveValid", "totalSize"]})
        items = got.get("torrents") or []
        if not items:
            raise StepFailed("Transmission lost torrent %s" % tid)
        t = items[0]
        if t.get("error"):
            raise StepFailed("Transmission torrent error: %s" % t.get("errorString"))
        return t


class Transmission:
    name = "transmission"
    # It unchokes on a 10 s timer, so a short probe often sees no data yet.
    probe_seconds = 12
    needs_tracker = True
    peers_how = ("opentracker, in a private network namespace with one 10.200.0.x address per "
                 "daemon on its lo (Transmission drops tracker peers on 127.0.0.0/8 and keys peers by IP)")

    def __init__(self, ctx):
        self.ctx = ctx

    def version(self):
        done = run(["transmission-daemon", "--version"], 10, check=False)
        return (done.stdout + done.stderr).strip().splitlines()[0]

    def settings(self):
        return ("transmission-daemon: peer-limit-global/per-torrent %d, upload-slots-per-torrent %d, "
                "no speed limits, encryption 0 (prefer plain), uTP off" % (PEERS, PEERS))

    def _daemon(self, host, port, tag, logdir, cpu):
        conf = os.path.join(logdir, tag + "-config")
        os.makedirs(conf, exist_ok=True)
        rpc_port = free_port("127.0.0.1")
        settings = {
            "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
            "port-forwarding-enabled": False, "blocklist-enabled": False,
            "bind-address-ipv4": host, "bind-address-ipv6": "::1",
            "peer-port": port, "peer-port-random-on-start": False,
            "peer-limit-global": PEERS, "peer-limit-per-torrent": PEERS,
            "upload-slots-per-torrent": PEERS,
            "speed-limit-up-enabled": False, "speed-limit-down-enabled": False, "alt-speed-enabled": False,
            "encryption": 0,
            "rpc-enabled": True, "rpc-bind-address": "127.0.0.1", "rpc-port": rpc_port,
            "rpc-authentication-required": False, "rpc-whitelist-enabled": True, "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": False,
            "download-dir": logdir, "incomplete-dir-enabled": False, "watch-dir-enabled": False,
            "rename-partial-files": False,
            "start-added-torrents": True, "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
            "download-queue-enabled": False, "seed-queue-enabled": False, "queue-stalled-enabled": False,
            "message-level": 1,
        }
        with open(os.path.join(conf, "settings.json"), "w") as f:
            json.dump(settings, f, indent=1)
        proc = Proc(tag, pinned(cpu, ["transmission-daemon", "-f", "-g", conf]), logdir)
        rpc = TransmissionRPC("127.0.0.1", rpc_port)
        wait_until("Transmission RPC answer", 30, rpc.answering, proc)
        return proc, rpc

    def seed(self, torrent, data_dir, host, port, tag, logdir):
        proc, rpc = self._daemon(host, port, tag, logdir, 0)
        tid = rpc.add(torrent, data_dir)
        return Seeder(self, proc, host, port, rpc=rpc, tid=tid)

    def wait_seeding(self, seeder, timeout):
        def seeding():
            t = seeder.rpc.torrent(seeder.tid)
            return t["percentDone"] >= 1.0 and t["status"] == 6
        wait_until("Transmission seeding (percentDone 1, status 6)", timeout, seeding, seeder.proc, interval=0.5)

    def download(self, torrent, out_dir, host, seed_host, seed_port, tag, logdir):
        started = time.monotonic()
        proc, rpc = self._daemon(host, free_port(host), tag, logdir, 1)
        tid = rpc.add(torrent, out_dir)
        return Download(proc, started, rpc=rpc, tid=tid)

    def wait_complete(self, dl, timeout):
        return wait_until("complete download", timeout,
                          lambda: dl.rpc.torrent(dl.tid)["percentDone"] >= 1.0 and time.monotonic(),
                          dl.proc, interval=0.2)


# --- aria2 ---------------------------------------------------------------------------------


class Aria2:
    name = "aria2"
    probe_seconds = 2
    needs_tracker = True
    peers_how = "opentracker on 127.0.0.1 (aria2 has no way to add a peer)"

    def __init__(self, ctx):
        self.ctx = ctx

    def version(self):
        return run(["aria2c", "--version"], 10).stdout.splitlines()[0].strip()

    def settings(self):
        return ("aria2c --bt-max-peers=0 (unlimited), no upload limit, --check-integrity "
                "--seed-ratio=0.0; its seeding choker and its accept rate (3 per second) have no option")

    def _argv(self, host, port):
        return [
            "aria2c", "--no-conf=true", "--interface=%s" % host, "--disable-ipv6=true",
            "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
            "--enable-peer-exchange=false", "--summary-interval=0", "--show-console-readout=false",
            "--console-log-level=notice", "--listen-port=%d" % port, "--bt-max-peers=0",
            "--max-overall-upload-limit=0", "--max-upload-limit=0", "--rlimit-nofile=%d" % self.ctx.nofile,
            "--stop-with-process=%d" % os.getpid(), "--auto-save-interval=0",
            "--bt-tracker-connect-timeout=10", "--bt-tracker-timeout=10",
        ]

    def seed(self, torrent, data_dir, host, port, tag, logdir):
        argv = self._argv(host, port) + [
            "--check-integrity=true", "--seed-ratio=0.0", "--dir=%s" % data_dir, torrent]
        return Seeder(self, Proc(tag, pinned(0, argv), logdir), host, port)

    def wait_seeding(self, seeder, timeout):
        wait_line(seeder.proc, "listening on TCP port", timeout, "'listening on TCP port' line")

    def download(self, torrent, out_dir, host, seed_host, seed_port, tag, logdir):
        argv = self._argv(host, free_port(host)) + [
            "--seed-time=0", "--file-allocation=falloc", "--dir=%s" % out_dir, torrent]
        started = time.monotonic()
        return Download(Proc(tag, pinned(1, argv), logdir), started)

    def wait_complete(self, dl, timeout):
        return wait_exit_ok(dl.proc, timeout, "complete download")


# --- rqbit ---------------------------------------------------------------------------------


class Rqbit:
    name = "rqbit"
    probe_seconds = 2
    needs_tracker = False
    peers_how = "--initial-peers on the downloader"

    def __init__(self, ctx):
        self.ctx = ctx

    def version(self):
        return run([self.ctx.rqbit, "--version"], 10).stdout.strip()

    def settings(self):
        return "rqbit --peer-limit %d, no rate limits (it has no choker)" % PEERS

    def _argv(self, host, port, api_port):
        return [
            self.ctx.rqbit, "--disable-dht", "--disable-dht-persistence", "--disable-lsd",
            "--disable-upnp-port-forward", "--disable-trackers", "--listen-ip", host, "--listen-port", port,
            "--peer-limit", PEERS, "--http-api-listen-addr", "127.0.0.1:%d" % api_port,
        ]

    def seed(self, torrent, data_dir, host, port, tag, logdir):
        api = free_port("127.0.0.1")
        argv = self._argv(host, port, api) + ["download", "-o", data_dir, "--overwrite", torrent]
        return Seeder(self, Proc(tag, pinned(0, argv), logdir, cwd=logdir), host, port, api=api)

    def wait_seeding(self, seeder, timeout):
        def seeding():
            try:
                stats = json.loads(http_get("http://127.0.0.1:%d/torrents/0/stats/v1" % seeder.api))
            except (OSError, ValueError):
                return False
            if stats.get("error"):
                raise StepFailed("rqbit: %s" % stats["error"])
            return stats.get("finished") and stats.get("state") == "live"
        wait_until("rqbit seeding (finished, live)", timeout, seeding, seeder.proc, interval=0.5)

    def download(self, torrent, out_dir, host, seed_host, seed_port, tag, logdir):
        argv = self._argv(host, free_port(host), free_port("127.0.0.1")) + [
            "download", "-o", out_dir, "--exit-on-finish", "--initial-peers", "%s:%d" % (seed_host, seed_port),
            torrent]
        started = time.monotonic()
        return Download(Proc(tag, pinned(1, argv), logdir, cwd=logdir), started)

    def wait_complete(self, dl, timeout):
        return wait_exit_ok(dl.proc, timeout, "complete download")


CLIENTS = {c.name: c for c in (Hivebt, Libtorrent, Transmission, Aria2, Rqbit)}
ORDER = ["hivebt", "libtorrent", "transmission", "aria2", "rqbit"]


# --- torrents and the tracker ------------------------------------------------------------


def info_hash(torrent_bytes):
    """SHA-1 of the raw `info` value of a torrent (the top-level dictionary's `4:info` key)."""
    pos = 1
    data = torrent_bytes
    while data[pos:pos + 1] != b"e":
        key, pos = _bstring(data, pos)
        end = _bskip(data, pos)
        if key == b"info":
            return hashlib.sha1(data[pos:end]).hexdigest()
        pos = end
    raise StepFailed("torrent has no info dictionary")


def _bstring(data, pos):
    colon = data.index(b":", pos)
    n = int(data[pos:colon])
    return data[colon + 1:colon + 1 + n], colon + 1 + n


def _bskip(data, pos):
    c = data[pos:pos + 1]
    if c == b"i":
        return data.index(b"e", pos) + 1
    if c in (b"l", b"d"):
        pos += 1
        while data[pos:pos + 1] != b"e":
            pos = _bskip(data, pos)
        return pos + 1
    return _bstring(data, pos)[1]


def with_announce(src, dst, url):
    """Copies torrent `src` to `dst` with `announce` set to `url` (the info-hash is
    unchanged: `announce` lies outside `info`). `src` must have no announce keys."""
    with open(src, "rb") as f:
        data = f.read()
    if b"8:announce" in data[: data.find(b"4:info")]:
        raise StepFailed("%s already names a tracker" % src)
    url = url.encode()
    with open(dst, "wb") as f:
        f.write(b"d8:announce%d:%s" % (len(url), url) + data[1:])


class Opentracker:
    """opentracker on HOST:PORT (HTTP and UDP) that tracks only one info-hash."""

    def __init__(self, host, info_hash_hex, logdir, tag="opentracker"):
        self.host = host
        self.port = free_port(host, udp_too=True)
        whitelist = os.path.join(logdir, tag + ".whitelist")
        with open(whitelist, "w") as f:
            f.write(info_hash_hex + "\n")
        os.chmod(whitelist, 0o644)
        # Absolute path: run as root it changes to / before reading the list.
        self.proc = Proc(tag, ["opentracker", "-i", host, "-p", self.port, "-P", self.port, "-w",
                               os.path.abspath(whitelist)], logdir)
        self.url = "http://%s:%d/announce" % (host, self.port)
        probe = "%s?%s" % (self.url, urllib.parse.urlencode({
            "info_hash": bytes.fromhex(info_hash_hex), "peer_id": b"-CMP000-probeprobepr", "port": 9,
            "uploaded": 0, "downloaded": 0, "left": 0, "event": "stopped", "compact": 1}))

        def accepts():
            try:
                return b"failure reason" not in http_get(probe, timeout=2)
            except OSError:
                return False
        # It loads the whitelist on a thread of its own: ready means an accepted announce.
        wait_until("opentracker accepting an announce", 30, accepts, self.proc, interval=0.3)

    def stop(self):
        self.proc.stop()
