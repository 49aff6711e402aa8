#!/usr/bin/python3
"""The libtorrent side of tests/pex.rs: two libtorrent leechers, A and B, that are each
given only the address of a hivebt seed, so that B can learn of A only from hivebt's
peer exchange (BEP 11).

Run with Debian's /usr/bin/python3, the one that has the libtorrent module.

  lt_pex.py FILE.torrent DIR_A DIR_B HOST:PORT
      Starts A (downloading into DIR_A) and connects it to the seed at HOST:PORT; once
      A has the seed's extension handshake (so the seed has A's, with A's listen port),
      prints `A listening on 127.0.0.1:PORT` and starts B (into DIR_B); once B listens,
      prints `B listening on 127.0.0.1:PORT` and connects it to the seed only. When one
      has dialled the other (either may learn of the other first), prints
      `X dialled Y at IP:PORT source SOURCES` (the dialler's view) and exits 0; exits 1
      after 60 s or when stdin is closed first.

Both sessions are lt_peer.py's (127.0.0.1 only; no DHT, LSD, UPnP, NAT-PMP or uTP, no
tracker in the torrent), so the seed's ut_pex messages are the only way they can meet.
A libtorrent peer is told apart from hivebt by its peer id (`-LT`).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import libtorrent as lt  # noqa: E402
from lt_peer import Session, log, stdin_closed  # noqa: E402


class Peer(Session):
    """lt_peer.py's session, its log lines prefixed with `name`, with the torrent added."""

    def __init__(self, name, torrent, save_path, stop):
        super().__init__(stop, name)
        self.name = name
        self.h = self.add(torrent, save_path)

    def libtorrent_peers(self):
        """The connected peers whose peer id is libtorrent's."""
        busy = lt.peer_info.connecting | lt.peer_info.handshake
        return [p for p in self.h.get_peer_info()
                if not p.flags & busy and bytes(p.pid.to_bytes()).startswith(b"-LT")]

    def has_hivebt_handshake(self):
        """Whether the seed's extension handshake (its `v`, the client name) arrived."""
        return any(client(p).startswith("hivebt") for p in self.h.get_peer_info())


def client(p):
    """A peer's client name as text (the bindings give bytes)."""
    c = p.client
    return c.decode("utf-8", "replace") if isinstance(c, bytes) else c


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    torrent, dir_a, dir_b, seed = argv[1:]
    host, port = seed.rsplit(":", 1)
    seed = (host.strip("[]"), int(port))
    stop = stdin_closed()
    end = time.monotonic() + 60
    a = Peer("A", torrent, dir_a, stop)
    a.h.connect_peer(seed)
    while not (a.port and a.has_hivebt_handshake()):
        if stop.is_set() or time.monotonic() > end:
            log("A never completed its handshakes with the seed")
            return 1
        a.pump(100)
    print("A listening on 127.0.0.1:%d" % a.port, flush=True)
    b = Peer("B", torrent, dir_b, stop)
    while not b.port:
        if stop.is_set() or time.monotonic() > end:
            log("B never listened")
            return 1
        b.pump(100)
    print("B listening on 127.0.0.1:%d" % b.port, flush=True)
    b.h.connect_peer(seed)
    while True:
        if stop.is_set() or time.monotonic() > end:
            for p in (a, b):
                log("%s never met the other; its peers: %s"
                    % (p.name, [(i.ip, client(i), i.source) for i in p.h.get_peer_info()]))
            return 1
        b.pump(100)
        a.pump(0)
        for me, other in ((a, b), (b, a)):
            for p in me.libtorrent_peers():
                if not p.flags & lt.peer_info.outgoing_connection:
                    continue
                names = [n for n, bit in (("tracker", lt.peer_info.tracker),
                                          ("dht", lt.peer_info.dht), ("pex", lt.peer_info.pex),
                                          ("lsd", lt.peer_info.lsd)) if p.source & bit]
                print("%s dialled %s at %s:%d source %s"
                      % (me.name, other.name, p.ip[0], p.ip[1], ",".join(names) or "none"),
                      flush=True)
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
