"""Calls the qBittorrent Web API of a hivebt daemon through the qbittorrent-api client.

usage: qbt_calls.py HOST PORT USERNAME PASSWORD CALLS_JSON

CALLS_JSON is a list of [method, kwargs] pairs, methods of qbittorrentapi.Client
(auth_log_in, torrents_add, torrents_info, sync_maindata, ...). Prints one JSON list
with, per call, {"ok": result} or {"error": exception class, "message": text}; a
failed call does not stop the ones after it.
"""

import json
import sys
from collections.abc import Mapping

import qbittorrentapi


def plain(x):
    """The client's result types (AttrDict, TorrentInfoList, TagList...) as JSON."""
    if x is None or isinstance(x, (str, bool, int, float)):
        return x
    if isinstance(x, Mapping):
        return {str(k): plain(v) for k, v in x.items()}
    if hasattr(x, "__iter__"):
        return [plain(v) for v in x]
    return str(x)


def main():
    host, port, username, password, calls = sys.argv[1:6]
    client = qbittorrentapi.Client(
        host=host,
        port=int(port),
        username=username,
        password=password,
        REQUESTS_ARGS={"timeout": 20},
    )
    out = []
    for name, kwargs in json.loads(calls):
        try:
            result = getattr(client, name)(**kwargs)
            out.append({"ok": plain(result)})
        except Exception as e:  # the test asserts on the class
            out.append({"error": type(e).__name__, "message": str(e)})
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
