"""Runs one tools/compare download pair inside a private network namespace.

  unshare --net python3 netns_pair.py CTX.json CLIENT SOURCE_FILE FILE.torrent

Brings up the namespace's own lo with 10.200.0.1 (seeder), 10.200.0.2 (downloader) and
10.200.0.3 (tracker), runs runs.download_pair with those addresses and prints its result
as one JSON line ({"failed": "why"} on failure). Nothing in the namespace can reach, or
be reached from, any other network, the host's loopback included.

Why: Transmission drops every peer a tracker names on 127.0.0.0/8 (and ::1, and IPv4-
mapped addresses), and keys peers by IP address alone, so two Transmission daemons on
the host's loopback never connect; here each has an address of its own that it accepts.
"""

import json
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clients import CLIENTS  # noqa: E402
from common import Proc, StepFailed, run  # noqa: E402
from runs import Ctx, download_pair  # noqa: E402

HOSTS = {"seed": "10.200.0.1", "down": "10.200.0.2", "tracker": "10.200.0.3"}


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1]) as f:
        ctx = Ctx(**json.load(f))
    ctx.logdir = os.path.join(ctx.logdir, "netns-" + argv[2])
    os.makedirs(ctx.logdir, exist_ok=True)
    client = CLIENTS[argv[2]](ctx)

    def stop(*_):
        raise SystemExit(130)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        run(["ip", "link", "set", "lo", "up"], 10)
        for addr in HOSTS.values():
            run(["ip", "addr", "add", addr + "/32", "dev", "lo"], 10)
        # No load generator probe here: its connection would come from the seeder's own
        # address, which Transmission closes; its RPC status says when it is seeding.
        result = download_pair(ctx, client, argv[3], argv[4], hosts=HOSTS, probe_seeder=False)
    except StepFailed as e:
        result = {"failed": str(e)}
    finally:
        Proc.stop_all()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
