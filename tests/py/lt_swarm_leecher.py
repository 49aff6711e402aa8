#!/usr/bin/python3
"""A libtorrent leecher for tests/tracker_interop.rs that stays in the swarm after it
finishes, so the peers still downloading can keep fetching from it.

Run with Debian's /usr/bin/python3, the one that has the libtorrent module.

  lt_swarm_leecher.py FILE.torrent SAVE_PATH
      Downloads into SAVE_PATH from the peers the torrent's trackers give (libtorrent
      announces by itself; no peer is given). Once every piece passed its hash check
      and the files are flushed, prints `complete` and goes on serving until stdin is
      closed; then prints {"uploaded": payload bytes} as JSON and exits 0. Exits 1 if
      stdin is closed before it completes.

The session is lt_peer.py's (127.0.0.1 only; no DHT, LSD, UPnP, NAT-PMP or uTP).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import libtorrent as lt  # noqa: E402
from lt_peer import Session, log  # noqa: E402


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    s = Session()
    h = s.add(argv[1], argv[2])
    while not h.status().is_seeding:
        if s.stop.is_set():
            st = h.status()
            log("stdin closed before the download finished: %d pieces, %d peers"
                % (st.num_pieces, st.num_peers))
            return 1
        s.pump()
    h.save_resume_data(lt.torrent_handle.flush_disk_cache)
    flushed = False
    while not flushed and not s.stop.is_set():
        s.ses.wait_for_alert(200)
        flushed = any(isinstance(a, lt.save_resume_data_alert) for a in s.ses.pop_alerts())
    print("complete", flush=True)
    while not s.stop.is_set():
        s.pump()
    print(json.dumps({"uploaded": h.status().total_payload_upload}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
