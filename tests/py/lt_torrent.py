#!/usr/bin/python3
"""The libtorrent side of tests/interop_create.rs: reads or creates a .torrent file with
python3-libtorrent and prints what libtorrent sees as one JSON object on stdout.

Run with Debian's /usr/bin/python3, the one that has the libtorrent module.

  lt_torrent.py describe FILE.torrent
      {"info_hash", "name", "num_files", "files": [{"path", "size", "pad"}],
       "piece_length", "num_pieces", "total_size",
       "trackers": [{"url", "tier"}], "private", "comment"}

  lt_torrent.py create TARGET PIECE_LENGTH OUT.torrent
      Creates a v1-only torrent of TARGET (a file or a directory) and prints
      {"info_hash"} as libtorrent computes it for the file it wrote.

`lt.add_files` lists a directory in readdir order, not sorted (checked against
libtorrent 2.0.8), and a v1-only `create_torrent` keeps the order it is given; so
`create` lists the files itself, sorted byte-wise by their full relative path, the
order mktorrent and hivebt use, which is what makes the info-hashes comparable.
"""

import json
import os
import sys

import libtorrent as lt


def describe(path):
    ti = lt.torrent_info(path)
    fs = ti.files()
    files = [
        {
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "pad": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
        }
        for i in range(fs.num_files())
    ]
    return {
        "info_hash": str(ti.info_hashes().v1),
        "name": ti.name(),
        "num_files": fs.num_files(),
        "files": files,
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "total_size": ti.total_size(),
        "trackers": [{"url": t.url, "tier": t.tier} for t in list(ti.trackers())],
        "private": bool(ti.priv()),
        "comment": ti.comment(),
    }


def sorted_files(target):
    """(relative path with '/', size) of every regular file under `target`, sorted
    byte-wise by that path."""
    found = []
    for dirpath, _dirs, names in os.walk(target):
        for name in names:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, target).replace(os.sep, "/")
            found.append((os.fsencode(rel), rel, os.path.getsize(full)))
    found.sort(key=lambda f: f[0])
    return [(rel, size) for _key, rel, size in found]


def create(target, piece_length, out):
    target = os.path.abspath(target)
    name = os.path.basename(target)
    fs = lt.file_storage()
    if os.path.isfile(target):
        fs.add_file(name, os.path.getsize(target))
    else:
        for rel, size in sorted_files(target):
            fs.add_file(name + "/" + rel, size)
    ct = lt.create_torrent(fs, piece_length, flags=lt.create_torrent.v1_only)
    ct.set_creator("libtorrent " + lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(target))
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    return {"info_hash": str(lt.torrent_info(out).info_hashes().v1)}


def main(argv):
    if len(argv) == 3 and argv[1] == "describe":
        result = describe(argv[2])
    elif len(argv) == 5 and argv[1] == "create":
        result = create(argv[2], int(argv[3]), argv[4])
    else:
        sys.stderr.write(__doc__)
        return 2
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
