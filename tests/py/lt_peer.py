#!/usr/bin/python3
"""The libtorrent side of tests/peer_interop.rs: one libtorrent session on loopback that
seeds a torrent to, or downloads it from, a hivebt peer.

Run with Debian's /usr/bin/python3, the one that has the libtorrent module.

  lt_peer.py seed FILE.torrent SAVE_PATH
      Checks the content under SAVE_PATH, then prints `listening on 127.0.0.1:PORT`
      once the torrent is seeding, and serves until stdin is closed. Then prints
      {"uploaded": payload bytes} as JSON and exits 0.

  lt_peer.py download FILE.torrent SAVE_PATH [HOST:PORT]
      Prints `listening on 127.0.0.1:PORT`, connects to the peer at HOST:PORT if one is
      given (else waits for peers to connect) and downloads into SAVE_PATH; once every
      piece passed its hash check, flushes the files and prints {"downloaded": payload
      bytes, "seconds": time to finish} as JSON, exit 0. Exits 1 if stdin is closed
      first. FILE.torrent may be a magnet link instead (`magnet:?xt=...`, peers in
      `x.pe`): libtorrent then fetches the metadata from its peers (BEP 9) first, and
      the JSON also has "metadata_size", the length of the info dictionary it got.

The session listens on 127.0.0.1 only, with DHT, local service discovery, UPnP, NAT-PMP
and uTP off (hivebt speaks TCP only, and libtorrent would try uTP first), and allows
several connections from one IP (every peer here is 127.0.0.1). It redials a peer after
1 s rather than 60: libtorrent 2.0.8 drops a peer whose HAVE for the last piece it lacked
makes it a seed, when that HAVE arrives while libtorrent is not interested in it (it
checks for a redundant connection before it updates its interest), so a libtorrent
leecher that keeps pace with a downloading hivebt peer loses it just before the end.
Alerts worth reading when a transfer stalls (errors, peer connects and disconnects) go
to stderr.
"""

import json
import sys
import threading
import time

import libtorrent as lt


def log(msg):
    sys.stderr.write("lt_peer: %s\n" % msg)
    sys.stderr.flush()


def make_session():
    cat = lt.alert.category_t
    return lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            "allow_multiple_connections_per_ip": True,
            "min_reconnect_time": 1,
            "alert_mask": cat.error_notification
            | cat.peer_notification
            | cat.status_notification
            | cat.connect_notification,
        }
    )


def stdin_closed():
    """An event set once stdin reaches end-of-file (the test closed it or died)."""
    closed = threading.Event()

    def watch():
        sys.stdin.read()
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


class Session:
    """A session, its alerts logged to stderr, and the TCP port it listens on."""

    def __init__(self, stop=None, name=None):
        self.ses = make_session()
        self.port = None
        self.stop = stop if stop is not None else stdin_closed()
        self.prefix = name + " " if name else ""

    def pump(self, timeout_ms=200):
        """Waits up to `timeout_ms` for alerts and handles them."""
        self.ses.wait_for_alert(timeout_ms)
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                if a.socket_type == lt.socket_type_t.tcp:
                    self.port = a.port
            if isinstance(a, (lt.stats_alert, lt.state_update_alert)):
                continue
            log("%s%s: %s" % (self.prefix, type(a).__name__, a.message()))

    def add(self, torrent, save_path):
        if torrent.startswith("magnet:"):
            params = lt.parse_magnet_uri(torrent)
        else:
            params = lt.add_torrent_params()
            params.ti = lt.torrent_info(torrent)
        params.save_path = save_path
        return self.ses.add_torrent(params)


def seed(torrent, save_path):
    s = Session()
    h = s.add(torrent, save_path)
    while not (s.port and h.status().is_seeding):
        if s.stop.is_set():
            log("stdin closed before seeding; state %s" % h.status().state)
            return 1
        st = h.status()
        if st.errc.value() != 0:
            log("torrent error: %s" % st.errc.message())
            return 1
        s.pump()
    print("listening on 127.0.0.1:%d" % s.port, flush=True)
    while not s.stop.is_set():
        s.pump()
    st = h.status()
    print(json.dumps({"uploaded": st.total_payload_upload}), flush=True)
    return 0


def total_pieces(h):
    """The torrent's piece count, or -1 while a magnet's metadata is still missing."""
    ti = h.torrent_file()
    return ti.num_pieces() if ti is not None else -1


def download(torrent, save_path, peer):
    s = Session()
    started = time.monotonic()
    h = s.add(torrent, save_path)
    while not s.port:
        if s.stop.is_set():
            log("stdin closed before the session listened")
            return 1
        s.pump()
    print("listening on 127.0.0.1:%d" % s.port, flush=True)
    if peer:
        host, port = peer.rsplit(":", 1)
        h.connect_peer((host.strip("[]"), int(port)))
    while not h.status().is_seeding:
        if s.stop.is_set():
            st = h.status()
            log(
                "stdin closed before the download finished: state %s, %d of %d pieces, "
                "%d peers" % (st.state, st.num_pieces, total_pieces(h), st.num_peers)
            )
            return 1
        s.pump()
    seconds = time.monotonic() - started
    downloaded = h.status().total_payload_download
    result = {"downloaded": downloaded, "seconds": seconds}
    if torrent.startswith("magnet:"):
        result["metadata_size"] = h.torrent_file().metadata_size()
    # Flush what the disk threads still hold, then destroy the session, which waits
    # for those threads: the files are complete on disk when this process exits.
    h.save_resume_data(lt.torrent_handle.flush_disk_cache)
    while not s.stop.is_set():
        s.ses.wait_for_alert(200)
        alerts = s.ses.pop_alerts()
        if any(isinstance(a, lt.save_resume_data_alert) for a in alerts):
            break
    del h
    del s
    print(json.dumps(result), flush=True)
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "seed":
        return seed(argv[2], argv[3])
    if len(argv) in (4, 5) and argv[1] == "download":
        return download(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
