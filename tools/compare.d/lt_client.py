#!/usr/bin/python3
"""The libtorrent side of tools/compare: one libtorrent session on one loopback address,
seeding a torrent or downloading it from one peer.

Run with Debian's /usr/bin/python3, the one that has the libtorrent module.

  lt_client.py seed FILE.torrent SAVE_PATH HOST PORT
      Checks the content under SAVE_PATH, prints `seeding HOST:PORT` once the torrent is
      seeding, and serves until stdin is closed or SIGTERM/SIGINT arrives.

  lt_client.py download FILE.torrent SAVE_PATH HOST PORT PEER_HOST:PEER_PORT
      Listens on HOST:PORT, connects to the peer and downloads into SAVE_PATH; prints
      `complete SECONDS` (time since the session was created) once every piece passed its
      hash check, then flushes the files and exits 0. Exits 1 on a torrent error or if
      stdin is closed / a signal arrives first.

Seeding uses libtorrent's own seed-box preset, `lt.high_performance_seed()`, plus no cap
on unchoked peers (`unchoke_slots_limit` -1) and room for 5000 connections; downloading
uses the default settings. Both: DHT, local service discovery, UPnP, NAT-PMP and uTP off
(the load generator and every other client here speak TCP), outgoing encryption off
(plain BitTorrent, as hivebt, rqbit and the load generator speak; incoming encrypted
connections are still accepted), several connections from one IP allowed (every peer
here is 127.0.0.1), no rate limits (libtorrent exempts local peers from them anyway).
Only error alerts are asked for and they go to stderr.
"""

import signal
import sys
import threading
import time

import libtorrent as lt

CONNECTIONS = 5000


def log(msg):
    sys.stderr.write("lt_client: %s\n" % msg)
    sys.stderr.flush()


def settings(host, port, seed):
    pack = lt.high_performance_seed() if seed else {}
    pack.update(
        {
            "listen_interfaces": "%s:%d" % (host, port),
            "outgoing_interfaces": host,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            "out_enc_policy": int(lt.enc_policy.disabled),
            "allow_multiple_connections_per_ip": True,
            "upload_rate_limit": 0,
            "download_rate_limit": 0,
            "alert_mask": int(lt.alert.category_t.error_notification),
        }
    )
    if seed:
        pack.update(
            {
                "unchoke_slots_limit": -1,
                "connections_limit": CONNECTIONS,
                "listen_queue_size": max(pack.get("listen_queue_size", 0), 3000),
                # The preset drops a peer that is neither interested nor interesting
                # after 20 s; the idle-memory step holds 1000 such connections.
                "inactivity_timeout": 600,
            }
        )
    else:
        pack["min_reconnect_time"] = 1
    return pack


def stop_event():
    """Set once stdin reaches end-of-file or SIGTERM/SIGINT arrives."""
    stop = threading.Event()

    def watch():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def drain(ses, timeout_ms=250):
    ses.wait_for_alert(timeout_ms)
    for a in ses.pop_alerts():
        if a.category() & lt.alert.category_t.error_notification:
            log("%s: %s" % (type(a).__name__, a.message()))


def add(ses, torrent, save_path):
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save_path
    return ses.add_torrent(params)


def failed(h):
    st = h.status()
    if st.errc.value() != 0:
        log("torrent error: %s" % st.errc.message())
        return True
    return False


def seed(torrent, save_path, host, port):
    stop = stop_event()
    ses = lt.session(settings(host, port, True))
    h = add(ses, torrent, save_path)
    while not h.status().is_seeding:
        if stop.is_set() or failed(h):
            return 1
        drain(ses)
    print("seeding %s:%d" % (host, port), flush=True)
    while not stop.is_set():
        drain(ses, 500)
    return 0


def download(torrent, save_path, host, port, peer):
    started = time.monotonic()
    stop = stop_event()
    ses = lt.session(settings(host, port, False))
    h = add(ses, torrent, save_path)
    peer_host, peer_port = peer.rsplit(":", 1)
    h.connect_peer((peer_host.strip("[]"), int(peer_port)))
    while not h.status().is_seeding:
        if stop.is_set() or failed(h):
            st = h.status()
            log("stopped before the download finished: %d pieces, %d peers" % (st.num_pieces, st.num_peers))
            return 1
        drain(ses, 100)
    print("complete %.3f" % (time.monotonic() - started), flush=True)
    # Flush what the disk threads still hold before the process exits.
    h.save_resume_data(lt.torrent_handle.flush_disk_cache)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stop.is_set():
        ses.wait_for_alert(200)
        if any(isinstance(a, lt.save_resume_data_alert) for a in ses.pop_alerts()):
            break
    del h
    del ses
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "seed":
        return seed(argv[2], argv[3], argv[4], int(argv[5]))
    if len(argv) == 7 and argv[1] == "download":
        return download(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
