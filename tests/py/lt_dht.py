#!/usr/bin/python3
"""The libtorrent side of tests/dht_interop.rs: one libtorrent session on loopback with
its DHT on, bootstrapping only from the loopback node given, no trackers, no LSD.

Run with Debian's /usr/bin/python3, the one that has the libtorrent module.

  lt_dht.py seed FILE.torrent SAVE_PATH BOOTSTRAP
      Checks the content under SAVE_PATH, prints `listening on 127.0.0.1:PORT` (the TCP
      peer port; its DHT node is on the same port over UDP) once seeding, announces the
      torrent in the DHT every 2 s, and serves until stdin is closed.

  lt_dht.py download SOURCE SAVE_PATH BOOTSTRAP
      SOURCE is a .torrent file or a magnet link. Prints `listening on 127.0.0.1:PORT`,
      finds peers through the DHT only and downloads into SAVE_PATH; once every piece
      passed its hash check, flushes the files and prints {"downloaded": payload bytes,
      "peers": the peers it had, as HOST:PORT} as JSON, exit 0. Exits 1 if stdin is
      closed first.

BOOTSTRAP is HOST:PORT of a DHT node on loopback. The settings are the ones
INTEROP.md lists for libtorrent's DHT on loopback (libtorrent otherwise ignores
loopback nodes); alerts worth reading go to stderr.
"""

import json
import sys
import time

import libtorrent as lt

import lt_peer


def dht_settings(bootstrap, alert_mask):
    """What lt_peer.py's loopback session needs for libtorrent's DHT on loopback."""
    return {
        "enable_dht": True,
        "dht_bootstrap_nodes": bootstrap,
        "dht_ignore_dark_internet": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "alert_mask": alert_mask | lt.alert.category_t.dht_notification,
    }


class Session(lt_peer.Session):
    """lt_peer.py's session wrapper (alerts to stderr, the TCP port), DHT on; adds a
    .torrent file or a magnet link."""

    def __init__(self, bootstrap):
        super().__init__()
        mask = self.ses.get_settings()["alert_mask"]
        self.ses.apply_settings(dht_settings(bootstrap, mask))

    def add(self, source, save_path):
        if source.startswith("magnet:"):
            params = lt.parse_magnet_uri(source)
        else:
            params = lt.add_torrent_params()
            params.ti = lt.torrent_info(source)
        params.save_path = save_path
        return self.ses.add_torrent(params)


def seed(torrent, save_path, bootstrap):
    s = Session(bootstrap)
    h = s.add(torrent, save_path)
    while not (s.port and h.status().is_seeding):
        if s.stop.is_set():
            return 1
        s.pump()
    print("listening on 127.0.0.1:%d" % s.port, flush=True)
    last = 0.0
    while not s.stop.is_set():
        if time.monotonic() - last > 2:
            h.force_dht_announce()
            last = time.monotonic()
        s.pump()
    return 0


def download(source, save_path, bootstrap):
    s = Session(bootstrap)
    h = s.add(source, save_path)
    while not s.port:
        if s.stop.is_set():
            return 1
        s.pump()
    print("listening on 127.0.0.1:%d" % s.port, flush=True)
    peers = set()
    last = 0.0
    while not h.status().is_seeding:
        if s.stop.is_set():
            st = h.status()
            lt_peer.log("stdin closed first: state %s, %d peers" % (st.state, st.num_peers))
            return 1
        if time.monotonic() - last > 2:
            h.force_dht_announce()
            last = time.monotonic()
        for p in h.get_peer_info():
            peers.add("%s:%d" % (p.ip[0], p.ip[1]))
        s.pump()
    downloaded = h.status().total_payload_download
    h.save_resume_data(lt.torrent_handle.flush_disk_cache)
    while not s.stop.is_set():
        s.ses.wait_for_alert(200)
        if any(isinstance(a, lt.save_resume_data_alert) for a in s.ses.pop_alerts()):
            break
    del h
    del s
    print(json.dumps({"downloaded": downloaded, "peers": sorted(peers)}), flush=True)
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "seed":
        return seed(argv[2], argv[3], argv[4])
    if len(argv) == 5 and argv[1] == "download":
        return download(argv[2], argv[3], argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
