#!/usr/bin/env python3
"""Writes the hand-made .torrent fixtures read by tests/bad_input.rs.

Run from anywhere: `python3 tests/data/make.py`. The output is deterministic (no dates,
no randomness), so re-running it must leave `git status` clean. The tests read the
committed files; they never run this script.

- `bad-*.torrent`: one defect each; hivebt must reject them with exit code 2.
- `unsorted-keys.torrent`: valid but with dictionary keys out of order (a warning).
- `hostile-*.torrent`: valid torrents whose names and paths try to escape the download
  directory. Their piece hashes are real: file `i` of a torrent holds `fill(i, length)`,
  which tests/bad_input.rs recreates to check `hivebt verify` end to end.
"""

import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PIECE = 16384


class Raw(bytes):
    """Already-encoded bencode, written verbatim."""


class Ordered(list):
    """A dictionary as (key, value) pairs, written in the given order (maybe unsorted,
    maybe with duplicates)."""


def enc(v):
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, bool):
        raise TypeError("no booleans in bencode")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:" % len(v) + v
    if isinstance(v, Ordered):
        return b"d" + b"".join(enc(k) + enc(x) for k, x in v) + b"e"
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(enc(k) + enc(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def fill(index, length):
    """Content of file `index` of a hostile torrent (tests/bad_input.rs has the twin)."""
    return bytes((index * 31 + j) % 251 for j in range(length))


def pieces_of(data, piece=PIECE):
    return b"".join(hashlib.sha1(data[i:i + piece]).digest() for i in range(0, len(data), piece))


def single_info(**over):
    """A valid single-file info dict of one byte; `over` replaces or (None) drops keys."""
    info = {"length": 1, "name": "x", "piece length": PIECE, "pieces": pieces_of(b"\0")}
    for k, v in over.items():
        k = k.replace("_", " ")
        if v is None:
            info.pop(k, None)
        else:
            info[k] = v
    return info


def multi_info(files, name="top", piece=PIECE, **extra):
    """A valid multi-file info dict whose pieces hash `fill` content."""
    data = b"".join(fill(i, length) for i, (_, length) in enumerate(files))
    info = {
        "files": [{"length": length, "path": path} for path, length in files],
        "name": name,
        "piece length": piece,
        "pieces": pieces_of(data, piece),
    }
    info.update(extra)
    return info


def torrent(info, **top):
    d = {"announce": "http://tracker.example/announce", "info": info}
    d.update(top)
    return enc(d)


FIXTURES = {}


def fixture(name, data):
    assert name not in FIXTURES, name
    FIXTURES[name] = data


# --- Not bencode at all -------------------------------------------------------------

fixture("bad-empty.torrent", b"")
fixture("bad-png.torrent", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
        b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

# --- Broken bencode -----------------------------------------------------------------

# An 'x' inside the integer of `length`, at byte 18.
fixture("bad-bencode.torrent",
        b"d4:infod6:lengthi1x0e4:name1:x12:piece lengthi16384e6:pieces20:" + b"a" * 20 + b"ee")
# A dictionary key that is an integer, at byte 8.
fixture("bad-key-not-string.torrent", b"d4:infodi1ei2eee")
# `length` written as i01e.
fixture("bad-non-canonical-int.torrent",
        enc({"info": Raw(enc(single_info(length=Raw(b"i01e"))))}))
VALID = torrent(single_info())
# Cut in the middle of the 20-byte pieces string.
cut = VALID.index(b"6:pieces20:") + len(b"6:pieces20:") + 7
fixture("bad-truncated.torrent", VALID[:cut])
# Everything but the final 'e'.
fixture("bad-truncated-dict.torrent", VALID[:-1])
fixture("bad-trailing-garbage.torrent", VALID + b"GARBAGE\n")
# Sorted keys where one repeats: `announce` twice at the top level.
fixture("bad-duplicate-key.torrent", enc(Ordered([
    (b"announce", "http://a.example/announce"),
    (b"announce", "http://b.example/announce"),
    (b"info", Raw(enc(single_info()))),
])))
# Unsorted keys inside info, where `length` comes back after `name`.
fixture("bad-duplicate-key-unsorted.torrent", enc({"info": Ordered([
    (b"name", "x"),
    (b"length", 1),
    (b"piece length", PIECE),
    (b"pieces", pieces_of(b"\0")),
    (b"length", 2),
])}))
# An integer one past i64::MAX as the file length.
fixture("bad-int-overflow.torrent",
        enc({"info": Raw(enc(single_info(length=Raw(b"i9223372036854775808e"))))}))
# A string length prefix beyond 64 bits.
fixture("bad-string-length-overflow.torrent", b"d4:info99999999999999999999:xe")
# 100,000 nested lists inside info: must be an error, not a stack overflow.
DEPTH = 100_000
fixture("bad-deep-nesting.torrent", b"d4:info" + b"l" * DEPTH + b"e" * DEPTH + b"e")

# --- Wrong types --------------------------------------------------------------------

fixture("bad-not-dict.torrent", enc([b"spam"]))
fixture("bad-info-not-dict.torrent", torrent(1))
fixture("bad-name-int.torrent", torrent(single_info(name=5)))
fixture("bad-piece-length-string.torrent", torrent(single_info(piece_length="16384")))
fixture("bad-files-not-list.torrent", torrent({
    "files": {"length": 1, "path": ["a"]},
    "name": "top",
    "piece length": PIECE,
    "pieces": pieces_of(b"\0"),
}))
fixture("bad-path-element-int.torrent", torrent({
    "files": [{"length": 1, "path": ["a", 7]}],
    "name": "top",
    "piece length": PIECE,
    "pieces": pieces_of(b"\0"),
}))
fixture("bad-announce-list-not-list.torrent",
        torrent(single_info(), **{"announce-list": "http://t.example/announce"}))
fixture("bad-announce-list-tier-not-list.torrent",
        torrent(single_info(), **{"announce-list": [["http://t.example/a"], "http://t.example/b"]}))

# --- Missing keys -------------------------------------------------------------------

fixture("bad-missing-info.torrent", enc({"announce": "http://tracker.example/announce"}))
fixture("bad-missing-name.torrent", torrent(single_info(name=None)))
fixture("bad-missing-piece-length.torrent", torrent(single_info(piece_length=None)))
fixture("bad-missing-pieces.torrent", torrent(single_info(pieces=None)))
fixture("bad-missing-length.torrent", torrent(single_info(length=None)))
fixture("bad-length-and-files.torrent",
        torrent(single_info(files=[{"length": 1, "path": ["a"]}])))
fixture("bad-files-empty.torrent", torrent({
    "files": [], "name": "top", "piece length": PIECE, "pieces": b"",
}))

# --- Impossible values --------------------------------------------------------------

fixture("bad-pieces-not-multiple-of-20.torrent", torrent(single_info(pieces=b"p" * 30)))
# 16,385 bytes need two pieces of 16 KiB; one hash given.
fixture("bad-pieces-count.torrent", torrent(single_info(length=PIECE + 1)))
# One byte needs one piece; two hashes given.
fixture("bad-pieces-too-many.torrent", torrent(single_info(pieces=b"p" * 40)))
fixture("bad-piece-length-zero.torrent", torrent(single_info(piece_length=0)))
fixture("bad-piece-length-negative.torrent", torrent(single_info(piece_length=-16384)))
fixture("bad-piece-length-huge.torrent", torrent(single_info(piece_length=1 << 40)))
fixture("bad-length-negative.torrent", torrent(single_info(length=-1)))
fixture("bad-file-length-negative.torrent", torrent({
    "files": [{"length": 1, "path": ["a"]}, {"length": -5, "path": ["b"]}],
    "name": "top",
    "piece length": PIECE,
    "pieces": pieces_of(b"\0"),
}))
fixture("bad-zero-length.torrent", torrent(single_info(length=0, pieces=b"")))
fixture("bad-zero-length-files.torrent", torrent({
    "files": [{"length": 0, "path": ["a"]}, {"length": 0, "path": ["b"]}],
    "name": "top",
    "piece length": PIECE,
    "pieces": b"",
}))
# Each length fits in an i64; their sum does not fit in a u64.
I64_MAX = (1 << 63) - 1
fixture("bad-length-sum-overflow.torrent", torrent({
    "files": [{"length": I64_MAX, "path": [p]} for p in ("a", "b", "c")],
    "name": "top",
    "piece length": PIECE,
    "pieces": b"p" * 20,
}))

# --- Valid but odd ------------------------------------------------------------------

# `info` before `announce` at the top level, `name` before `length` inside info.
fixture("unsorted-keys.torrent", enc(Ordered([
    (b"info", Raw(enc(Ordered([
        (b"name", "x"),
        (b"length", 1),
        (b"piece length", PIECE),
        (b"pieces", pieces_of(b"\0")),
    ])))),
    (b"announce", "http://tracker.example/announce"),
])))

# --- Hostile paths (valid torrents, real piece hashes) ------------------------------

fixture("hostile-dotdot.torrent", torrent(multi_info([
    (["..", "..", "outside", "x"], 5000),
    (["ok.txt"], 20000),
    (["a", "..", "..", "b"], 7),
])))
fixture("hostile-absolute.torrent", torrent(multi_info([
    (["/etc/passwd"], 100),
    (["", "etc", "shadow"], 200),
])))
fixture("hostile-empty.torrent", torrent(multi_info([
    (["a", "", "b"], 10),
    ([], 20),
    (["c", ""], 30),
])))
fixture("hostile-nul.torrent", torrent(multi_info([
    (["n\0ul"], 10),
    (["dir\0", "f"], 20),
])))
fixture("hostile-dot.torrent", torrent(multi_info([
    ([".", "x"], 10),
    (["."], 20),
    (["y", "."], 30),
])))
fixture("hostile-slash.torrent", torrent(multi_info([
    (["a/b"], 10),
    (["a", "b"], 20),
    (["a\\b"], 30),
    (["../../escape"], 40),
])))
fixture("hostile-duplicate.torrent", torrent(multi_info([
    (["same.txt"], 10),
    (["same.txt"], 20),
    (["same.1.txt"], 30),
    (["dir", "f"], 40),
    (["dir"], 50),
])))
fixture("hostile-name.torrent", torrent(multi_info([
    (["outside", "x"], 100),
], name="..")))
fixture("hostile-name-single.torrent", torrent({
    "length": 100,
    "name": "..",
    "piece length": PIECE,
    "pieces": pieces_of(fill(0, 100)),
}))
fixture("hostile-name-absolute.torrent", torrent({
    "length": 100,
    "name": "/etc/passwd",
    "piece length": PIECE,
    "pieces": pieces_of(fill(0, 100)),
}))

# --- Regression fixtures: each reproduced a hivebt bug, since fixed -----------------

# Names cut to 255 bytes, then numbered as duplicates: the number must not push them
# past 255 bytes again.
fixture("hostile-long-names.torrent", torrent(multi_info([
    (["\u00e9" * 200 + ".mkv"], 1),
    (["\u00e9" * 200 + "x.mkv"], 1),
    (["a" * 300], 1),
    (["a" * 301], 1),
])))
# Text fields with newlines and terminal escapes that could forge `inspect` lines.
fixture("hostile-text.torrent", torrent(
    single_info(source="S\rRC"),
    announce="http://t.example/a\nwarning: forged by the tracker URL",
    comment="fine\nwarning: none, this torrent is safe\x1b[2K\r",
    **{"created by": "x\x1b]0;retitled\x07", "url-list": ["http://w.example/\x1b[31m"]},
))


def main():
    for name, data in sorted(FIXTURES.items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(FIXTURES)} fixtures to {HERE}")


if __name__ == "__main__":
    main()
