//! Malformed and hostile .torrent files, fed to the real binary.
//!
//! The fixtures are in `tests/data/`, written by `tests/data/make.py`: `bad-*.torrent`
//! must be rejected with exit code 2 and an exact message naming what is wrong;
//! `hostile-*.torrent` are valid torrents whose names and paths try to leave the
//! download directory, which hivebt must sanitise (never reject), report, and keep
//! `verify` inside the directory it was given. No run may panic.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::proc::Deadline;
use common::{Scratch, code, run, stderr, stdout};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn assert_no_panic(out: &Output, what: &str) {
    for text in [stdout(out), stderr(out)] {
        assert!(!text.contains("panicked"), "{what} panicked:\n{text}");
    }
}

/// Runs `hivebt ARGS` in tests/data.
fn run_in_data(args: &[&str]) -> Output {
    let out = run(&data_dir(), args);
    assert_no_panic(&out, &args.join(" "));
    out
}

/// Asserts that `inspect FILE` fails with exit code 2, nothing on stdout and exactly
/// `hivebt: error: FILE: MESSAGE` on stderr; collects mismatches into `failures`.
fn check_rejected(file: &str, message: &str, failures: &mut Vec<String>) {
    let out = run_in_data(&["inspect", file]);
    let want = format!("hivebt: error: {file}: {message}\n");
    if code(&out) != 2 || stderr(&out) != want || !out.stdout.is_empty() {
        failures.push(format!(
            "inspect {file}: want exit 2 and {want:?}, got exit {} and {:?} (stdout {:?})",
            code(&out),
            stderr(&out),
            stdout(&out)
        ));
    }
}

fn expect_rejected(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (file, message) in cases {
        check_rejected(file, message, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const NOT_TORRENTS: &[(&str, &str)] = &[
    (
        "bad-empty.torrent",
        "invalid bencode at byte 0: input ends inside a value",
    ),
    (
        "bad-png.torrent",
        "invalid bencode at byte 0: unexpected byte 0x89",
    ),
    (
        "bad-not-dict.torrent",
        "torrent: expected a dictionary, got list at byte 0",
    ),
];

const INVALID_BENCODE: &[(&str, &str)] = &[
    (
        "bad-bencode.torrent",
        "invalid bencode at byte 18: unexpected byte 'x'",
    ),
    (
        "bad-key-not-string.torrent",
        "invalid bencode at byte 8: dictionary key is not a string",
    ),
    (
        "bad-non-canonical-int.torrent",
        "invalid bencode at byte 17: integer is empty, has leading zeros or is -0",
    ),
    (
        "bad-truncated.torrent",
        "invalid bencode at byte 102: string of 20 bytes but only 7 bytes remain",
    ),
    (
        "bad-truncated-dict.torrent",
        "invalid bencode at byte 126: input ends inside a value",
    ),
    (
        "bad-trailing-garbage.torrent",
        "invalid bencode at byte 127: 8 bytes of trailing data after the value",
    ),
    (
        "bad-duplicate-key.torrent",
        "invalid bencode at byte 39: duplicate dictionary key \"announce\"",
    ),
    (
        "bad-duplicate-key-unsorted.torrent",
        "invalid bencode at byte 81: duplicate dictionary key \"length\"",
    ),
    (
        "bad-int-overflow.torrent",
        "invalid bencode at byte 17: integer does not fit in 64 bits",
    ),
    (
        "bad-string-length-overflow.torrent",
        "invalid bencode at byte 7: integer does not fit in 64 bits",
    ),
    (
        // 'd4:info' then 100,000 'l': the 64th level starts at byte 7 + 63.
        "bad-deep-nesting.torrent",
        "invalid bencode at byte 70: nesting deeper than 64 levels",
    ),
];

const WRONG_TYPES: &[(&str, &str)] = &[
    (
        "bad-info-not-dict.torrent",
        "info: expected a dictionary, got integer at byte 51",
    ),
    (
        "bad-name-int.torrent",
        "info.name: expected a string, got integer at byte 69",
    ),
    (
        "bad-piece-length-string.torrent",
        "info.piece length: expected an integer, got string at byte 87",
    ),
    (
        "bad-files-not-list.torrent",
        "info.files: expected a list, got dictionary at byte 59",
    ),
    (
        "bad-path-element-int.torrent",
        "info.files[0].path[1]: expected a string, got integer at byte 82",
    ),
    (
        "bad-announce-list-not-list.torrent",
        "announce-list: expected a list of lists, got string at byte 61",
    ),
    (
        "bad-announce-list-tier-not-list.torrent",
        "announce-list[1]: expected a list, got string at byte 85",
    ),
];

const MISSING_KEYS: &[(&str, &str)] = &[
    ("bad-missing-info.torrent", "info: missing"),
    ("bad-missing-name.torrent", "info.name: missing"),
    (
        "bad-missing-piece-length.torrent",
        "info.piece length: missing",
    ),
    ("bad-missing-pieces.torrent", "info.pieces: missing"),
    (
        "bad-missing-length.torrent",
        "info: has neither 'length' nor 'files'",
    ),
    (
        "bad-length-and-files.torrent",
        "info: has both 'length' and 'files'",
    ),
    ("bad-files-empty.torrent", "info.files: is empty"),
];

const IMPOSSIBLE_VALUES: &[(&str, &str)] = &[
    (
        "bad-pieces-not-multiple-of-20.torrent",
        "info.pieces: length 30 is not a multiple of 20",
    ),
    (
        "bad-pieces-count.torrent",
        "info.pieces: has 1 hashes but 16385 bytes in pieces of 16384 need 2",
    ),
    (
        "bad-pieces-too-many.torrent",
        "info.pieces: has 2 hashes but 1 bytes in pieces of 16384 need 1",
    ),
    (
        "bad-piece-length-zero.torrent",
        "info.piece length: must be positive, got 0",
    ),
    (
        "bad-piece-length-negative.torrent",
        "info.piece length: must be positive, got -16384",
    ),
    (
        "bad-piece-length-huge.torrent",
        "info.piece length: 1099511627776 is larger than the 268435456 bytes supported",
    ),
    (
        "bad-length-negative.torrent",
        "info.length: must not be negative, got -1",
    ),
    (
        "bad-file-length-negative.torrent",
        "info.files[1].length: must not be negative, got -5",
    ),
    (
        "bad-zero-length.torrent",
        "info: total length is 0: a torrent must hold data",
    ),
    (
        "bad-zero-length-files.torrent",
        "info: total length is 0: a torrent must hold data",
    ),
    (
        "bad-length-sum-overflow.torrent",
        "info.files: total length overflows 64 bits",
    ),
];

/// The message a `bad-*` fixture is rejected with, from the tables above.
fn expected_message(file: &str) -> &'static str {
    [
        NOT_TORRENTS,
        INVALID_BENCODE,
        WRONG_TYPES,
        MISSING_KEYS,
        IMPOSSIBLE_VALUES,
    ]
    .iter()
    .flat_map(|cases| cases.iter())
    .find(|(f, _)| *f == file)
    .map(|(_, m)| *m)
    .unwrap_or_else(|| panic!("no case for {file}"))
}

#[test]
fn files_that_are_not_torrents_are_rejected() {
    expect_rejected(NOT_TORRENTS);
}

#[test]
fn invalid_bencode_is_rejected_naming_the_offset() {
    expect_rejected(INVALID_BENCODE);
}

#[test]
fn fields_of_the_wrong_type_are_rejected() {
    expect_rejected(WRONG_TYPES);
}

#[test]
fn missing_keys_are_rejected() {
    expect_rejected(MISSING_KEYS);
}

#[test]
fn impossible_values_are_rejected() {
    expect_rejected(IMPOSSIBLE_VALUES);
}

/// A fixture added to tests/data without an expectation here would test nothing.
#[test]
fn every_fixture_has_a_case() {
    let known: HashSet<&str> = [
        NOT_TORRENTS,
        INVALID_BENCODE,
        WRONG_TYPES,
        MISSING_KEYS,
        IMPOSSIBLE_VALUES,
    ]
    .iter()
    .flat_map(|cases| cases.iter().map(|(f, _)| *f))
    .chain(HOSTILE.iter().map(|h| h.file))
    .chain([
        "unsorted-keys.torrent",
        "hostile-long-names.torrent",
        "hostile-text.torrent",
    ])
    .collect();
    let mut unknown = Vec::new();
    for entry in std::fs::read_dir(data_dir()).expect("read tests/data") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("bad-") || name.starts_with("hostile-");
        if ours && !known.contains(name.as_ref()) {
            unknown.push(name.into_owned());
        }
    }
    assert!(unknown.is_empty(), "fixtures without a case: {unknown:?}");
    for file in &known {
        assert!(
            data_dir().join(file).is_file(),
            "{file} missing: run make.py"
        );
    }
}

/// `verify` parses the torrent before it looks at the data: the same message, exit 2,
/// and the data directory left as it was.
#[test]
fn verify_rejects_bad_torrents_before_touching_data() {
    let scratch = Scratch::new("bad-verify");
    scratch.write("data/x", b"\0");
    let before = snapshot(scratch.path());
    let dir = scratch.path().join("data");
    for file in [
        "bad-bencode.torrent",
        "bad-deep-nesting.torrent",
        "bad-pieces-count.torrent",
        "bad-missing-info.torrent",
    ] {
        let message = expected_message(file);
        let torrent = data_dir().join(file);
        let out = run(
            scratch.path(),
            &["verify", path_str(&torrent), path_str(&dir)],
        );
        assert_no_panic(&out, file);
        assert_eq!(code(&out), 2, "verify {file}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!("hivebt: error: {}: {message}\n", torrent.display())
        );
        assert!(out.stdout.is_empty(), "{}", stdout(&out));
    }
    assert_eq!(snapshot(scratch.path()), before);
}

#[test]
fn missing_torrent_file_is_an_operational_failure() {
    for args in [
        &["inspect", "no-such.torrent"][..],
        &["verify", "no-such.torrent", "."],
    ] {
        let out = run_in_data(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("hivebt: error: cannot open no-such.torrent: "),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn malformed_magnet_links_are_bad_input() {
    let cases = [
        (
            "magnet:?xt=urn:btih:abc".to_string(),
            "magnet link info-hash 'abc' is neither 40 hex nor 32 base32 characters".to_string(),
        ),
        (
            format!("magnet:?xt=urn:btih:{}&dn=x", "g".repeat(40)),
            format!(
                "magnet link info-hash '{}' is neither 40 hex nor 32 base32 characters",
                "g".repeat(40)
            ),
        ),
        (
            // '1' and '8' are not in the base32 alphabet.
            format!("magnet:?xt=urn:btih:{}", "18".repeat(16)),
            format!(
                "magnet link info-hash '{}' is neither 40 hex nor 32 base32 characters",
                "18".repeat(16)
            ),
        ),
        (
            format!("magnet:?xt=urn:btih:{}0", "a".repeat(40)),
            format!(
                "magnet link info-hash '{}0' is neither 40 hex nor 32 base32 characters",
                "a".repeat(40)
            ),
        ),
        (
            "magnet:?dn=name&tr=http%3A%2F%2Ft%2Fa".to_string(),
            "magnet link has no 'xt=urn:btih:' info-hash (v1 info-hash required)".to_string(),
        ),
        (
            "magnet:xt=urn:btih:abc".to_string(),
            "magnet link must start with 'magnet:?'".to_string(),
        ),
    ];
    for (link, message) in cases {
        for json in [false, true] {
            let mut args = vec!["inspect", link.as_str()];
            if json {
                args.push("--json");
            }
            let out = run_in_data(&args);
            assert_eq!(code(&out), 2, "{link}: {}", stderr(&out));
            assert_eq!(stderr(&out), format!("hivebt: error: {message}\n"));
            assert!(out.stdout.is_empty());
        }
    }
}

/// Unsorted keys are accepted with a warning, and the info-hash is taken over the
/// bytes as they stand (not over a sorted re-encoding).
#[test]
fn unsorted_keys_are_accepted_with_a_warning() {
    let file = "unsorted-keys.torrent";
    let out = run_in_data(&["inspect", file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings,
        [
            "warning: dictionary keys are not sorted (key at byte 17)",
            "warning: dictionary keys are not sorted (key at byte 82)",
        ]
    );
    let json = inspect_json(file);
    assert_eq!(
        json["warnings"],
        serde_json::json!([
            "dictionary keys are not sorted (key at byte 17)",
            "dictionary keys are not sorted (key at byte 82)",
        ])
    );
    let bytes = std::fs::read(data_dir().join(file)).expect("read fixture");
    // `d4:info` is 7 bytes; the info value ends where `8:announce` begins.
    let info = &bytes[7..82];
    assert!(info.starts_with(b"d4:name") && info.ends_with(b"e"));
    assert_eq!(json["info_hash"], sha1_hex(info));
    assert_eq!(json["name"], "x");
    assert_eq!(
        json["trackers"],
        serde_json::json!([["http://tracker.example/announce"]])
    );
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn inspect_json(file: &str) -> Value {
    let out = run_in_data(&["inspect", "--json", file]);
    assert_eq!(code(&out), 0, "inspect --json {file}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

/// A hostile fixture and what hivebt must make of it.
struct Hostile {
    file: &'static str,
    /// The sanitised torrent name.
    name: &'static str,
    /// The sanitised file paths, in torrent order.
    paths: &'static [&'static str],
    /// The `warning:` lines of `inspect`, without the prefix.
    warnings: &'static [&'static str],
    /// Files (relative to the scratch directory, which holds `data/` and `outside/`)
    /// where the *unsanitised* path of file `i` would land, with `i`. They are written
    /// with file `i`'s content: a verify that followed the raw path would find them.
    bait: &'static [(&'static str, usize)],
}

const HOSTILE: &[Hostile] = &[
    Hostile {
        file: "hostile-dotdot.torrent",
        name: "top",
        paths: &["top/_/_/outside/x", "top/ok.txt", "top/a/_/_/b"],
        warnings: &[
            r#"file 0 "top/../../outside/x" renamed to "top/_/_/outside/x" ('..' component)"#,
            r#"file 2 "top/a/../../b" renamed to "top/a/_/_/b" ('..' component)"#,
        ],
        bait: &[("outside/x", 0), ("data/b", 2)],
    },
    Hostile {
        file: "hostile-absolute.torrent",
        name: "top",
        paths: &["top/_etc_passwd", "top/_/etc/shadow"],
        warnings: &[
            r#"file 0 "top//etc/passwd" renamed to "top/_etc_passwd" (absolute path, path separator)"#,
            r#"file 1 "top//etc/shadow" renamed to "top/_/etc/shadow" (empty component)"#,
        ],
        bait: &[],
    },
    Hostile {
        file: "hostile-empty.torrent",
        name: "top",
        paths: &["top/a/_/b", "top/_", "top/c/_"],
        warnings: &[
            r#"file 0 "top/a//b" renamed to "top/a/_/b" (empty component)"#,
            r#"file 1 "top/" renamed to "top/_" (empty path)"#,
            r#"file 2 "top/c/" renamed to "top/c/_" (empty component)"#,
        ],
        bait: &[],
    },
    Hostile {
        file: "hostile-nul.torrent",
        name: "top",
        paths: &["top/n_ul", "top/dir_/f"],
        warnings: &[
            r#"file 0 "top/n\0ul" renamed to "top/n_ul" (NUL byte)"#,
            r#"file 1 "top/dir\0/f" renamed to "top/dir_/f" (NUL byte)"#,
        ],
        bait: &[],
    },
    Hostile {
        file: "hostile-dot.torrent",
        name: "top",
        paths: &["top/_/x", "top/_.1", "top/y/_"],
        warnings: &[
            r#"file 0 "top/./x" renamed to "top/_/x" ('.' component)"#,
            r#"file 1 "top/." renamed to "top/_.1" ('.' component, duplicate path)"#,
            r#"file 2 "top/y/." renamed to "top/y/_" ('.' component)"#,
        ],
        bait: &[],
    },
    Hostile {
        file: "hostile-slash.torrent",
        name: "top",
        paths: &["top/a_b", "top/a/b", "top/a_b.1", "top/.._.._escape"],
        warnings: &[
            r#"file 0 "top/a/b" renamed to "top/a_b" (path separator)"#,
            r#"file 2 "top/a\\b" renamed to "top/a_b.1" (path separator, duplicate path)"#,
            r#"file 3 "top/../../escape" renamed to "top/.._.._escape" (path separator)"#,
        ],
        bait: &[("escape", 3)],
    },
    Hostile {
        file: "hostile-duplicate.torrent",
        name: "top",
        paths: &[
            "top/same.txt",
            "top/same.1.txt",
            "top/same.1.1.txt",
            "top/dir/f",
            "top/dir.1",
        ],
        warnings: &[
            r#"file 1 "top/same.txt" renamed to "top/same.1.txt" (duplicate path)"#,
            r#"file 2 "top/same.1.txt" renamed to "top/same.1.1.txt" (duplicate path)"#,
            r#"file 4 "top/dir" renamed to "top/dir.1" (duplicate path)"#,
        ],
        bait: &[],
    },
    Hostile {
        file: "hostile-name.torrent",
        name: "_",
        paths: &["_/outside/x"],
        warnings: &[r#"torrent name ".." renamed to "_" ('..' component)"#],
        bait: &[("outside/x", 0)],
    },
    Hostile {
        file: "hostile-name-single.torrent",
        name: "_",
        paths: &["_"],
        warnings: &[r#"torrent name ".." renamed to "_" ('..' component)"#],
        bait: &[],
    },
    Hostile {
        file: "hostile-name-absolute.torrent",
        name: "_etc_passwd",
        paths: &["_etc_passwd"],
        warnings: &[
            r#"torrent name "/etc/passwd" renamed to "_etc_passwd" (absolute path, path separator)"#,
        ],
        bait: &[],
    },
];

/// Content of file `index` of a hostile fixture: the twin of `fill` in make.py.
fn fill(index: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((index * 31 + j) % 251) as u8).collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The safety promises of the sanitiser, checked on what `inspect --json` prints.
fn assert_paths_safe(h: &Hostile, json: &Value) {
    let name = json["name"].as_str().expect("name");
    let files = json["files"].as_array().expect("files");
    let mut seen = HashSet::new();
    for f in files {
        let p = Path::new(f["path"].as_str().expect("path"));
        assert!(
            p.components().all(|c| matches!(c, Component::Normal(_))),
            "{}: {p:?} has a non-normal component",
            h.file
        );
        assert!(
            p.to_str()
                .is_some_and(|s| !s.contains('\0') && !s.contains("//")),
            "{}: {p:?}",
            h.file
        );
        assert!(p.starts_with(name), "{}: {p:?} not under {name}", h.file);
        assert!(seen.insert(p.to_path_buf()), "{}: {p:?} twice", h.file);
    }
    // No file may be the directory of another.
    for f in &seen {
        for g in &seen {
            assert!(
                f == g || !g.starts_with(f),
                "{}: {f:?} is a directory of {g:?}",
                h.file
            );
        }
    }
}

#[test]
fn hostile_paths_are_sanitised_and_reported() {
    for h in HOSTILE {
        let out = run_in_data(&["inspect", h.file]);
        assert_eq!(code(&out), 0, "inspect {}: {}", h.file, stderr(&out));
        let text = stdout(&out);
        let warnings: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("warning: "))
            .collect();
        assert_eq!(warnings, h.warnings, "{}", h.file);
        assert!(
            text.lines()
                .any(|l| l == format!("name:         {}", h.name)),
            "{}: {text}",
            h.file
        );

        let json = inspect_json(h.file);
        assert_eq!(json["name"], h.name, "{}", h.file);
        let paths: Vec<&str> = json["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["path"].as_str().expect("path"))
            .collect();
        assert_eq!(paths, h.paths, "{}", h.file);
        assert_eq!(
            json["warnings"],
            serde_json::json!(h.warnings),
            "{}",
            h.file
        );
        assert_paths_safe(h, &json);
    }
}

/// Every entry under `root` with its type, size, contents and modification time.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            let mtime = meta.modified().expect("mtime");
            let desc = if meta.is_dir() {
                walk(root, &path, out);
                format!("dir {mtime:?}")
            } else {
                let body = std::fs::read(&path).expect("read file");
                format!("file {} {mtime:?} {}", meta.len(), sha1_hex(&body))
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn verify_json(cwd: &Path, torrent: &Path, data: &Path) -> (i32, Value) {
    let out = run(
        cwd,
        &["verify", "--json", path_str(torrent), path_str(data)],
    );
    assert_no_panic(&out, "verify");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", stderr(&out)));
    (code(&out), json)
}

/// `verify` of a hostile torrent reads only the sanitised paths below the data
/// directory: bait at the raw paths is never found, and nothing anywhere changes.
#[test]
fn verify_of_hostile_torrents_stays_inside_the_data_directory() {
    for h in HOSTILE {
        let scratch = Scratch::new("hostile-verify");
        let torrent = data_dir().join(h.file);
        let json = inspect_json(h.file);
        let files: Vec<(String, usize)> = json["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| {
                let path = f["path"].as_str().expect("path").to_string();
                (path, f["size"].as_u64().expect("size") as usize)
            })
            .collect();
        let pieces = json["piece_count"].as_u64().expect("piece_count");
        scratch.write("outside/canary", b"must stay as it is");
        for (bait, i) in h.bait {
            scratch.write(bait, &fill(*i, files[*i].1));
        }
        std::fs::create_dir_all(scratch.path().join("data")).expect("mkdir data");
        let data = scratch.path().join("data");

        // Only bait exists: everything is missing.
        let before = snapshot(scratch.path());
        let (rc, report) = verify_json(scratch.path(), &torrent, &data);
        assert_eq!(rc, 1, "{}: {report}", h.file);
        assert_eq!(report["pieces"]["verified"], 0, "{}: {report}", h.file);
        assert_eq!(report["pieces"]["missing"], pieces, "{}: {report}", h.file);
        assert_eq!(snapshot(scratch.path()), before, "{} changed files", h.file);

        // The content at the sanitised paths verifies.
        for (i, (path, len)) in files.iter().enumerate() {
            scratch.write(&format!("data/{path}"), &fill(i, *len));
        }
        let before = snapshot(scratch.path());
        let (rc, report) = verify_json(scratch.path(), &torrent, &data);
        assert_eq!(rc, 0, "{}: {report}", h.file);
        assert_eq!(report["complete"], true, "{}", h.file);
        assert_eq!(report["pieces"]["verified"], pieces, "{}", h.file);
        let reported: Vec<&str> = report["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["path"].as_str().expect("path"))
            .collect();
        assert_eq!(reported, h.paths, "{}", h.file);

        // The same through the text report and with the content itself as DATA_PATH.
        let out = run(
            scratch.path(),
            &["verify", path_str(&torrent), path_str(&data)],
        );
        assert_no_panic(&out, h.file);
        assert_eq!(code(&out), 0, "{}: {}", h.file, stdout(&out));
        let content = data.join(h.name);
        let (rc, report) = verify_json(scratch.path(), &torrent, &content);
        assert_eq!(rc, 0, "{} with DATA_PATH {content:?}: {report}", h.file);
        assert_eq!(snapshot(scratch.path()), before, "{} changed files", h.file);
    }
}

// --- Regressions: each of these once failed (quadratic sanitising, long names, raw text). ---

/// The sanitiser promises components of at most 255 bytes (what file systems accept),
/// but numbering a duplicate after cutting a long name adds `.1` past the limit.
#[test]

fn sanitised_components_fit_the_file_system() {
    let json = inspect_json("hostile-long-names.torrent");
    let paths: Vec<&str> = json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths.len(), 4);
    assert_eq!(paths.iter().collect::<HashSet<_>>().len(), 4, "{paths:?}");
    for p in &paths {
        for c in p.split('/') {
            assert!(c.len() <= 255, "{} bytes: {c}", c.len());
        }
    }
}

/// Strings from the torrent (comment, created by, source, trackers, web seeds) must
/// not be able to add lines to `inspect` or send escape sequences to the terminal.
#[test]

fn inspect_text_cannot_be_forged_by_the_torrent() {
    let out = run_in_data(&["inspect", "hostile-text.torrent"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control characters in:\n{text:?}"
    );
    let forged: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert!(forged.is_empty(), "{forged:?}");
}

/// Builds a multi-file torrent of one-byte files at `paths` (hashes are not checked by
/// `inspect`, so they are zeros).
fn torrent_of_paths(paths: &[Vec<&str>]) -> Vec<u8> {
    let mut files = b"l".to_vec();
    for p in paths {
        files.extend_from_slice(b"d6:lengthi1e4:pathl");
        for c in p {
            files.extend_from_slice(format!("{}:{c}", c.len()).as_bytes());
        }
        files.extend_from_slice(b"ee");
    }
    files.push(b'e');
    let pieces = paths.len().div_ceil(16384) * 20;
    let mut out = b"d4:infod5:files".to_vec();
    out.extend(files);
    out.extend_from_slice(b"4:name3:top12:piece lengthi16384e6:pieces");
    out.extend_from_slice(format!("{pieces}:").as_bytes());
    out.extend(std::iter::repeat_n(0u8, pieces));
    out.extend_from_slice(b"ee");
    out
}

/// Runs `inspect --json FILE` and fails if it takes longer than `budget`.
fn inspect_within(cwd: &Path, file: &str, budget: Duration) {
    let mut cmd = common::hivebt();
    cmd.args(["inspect", "--json", file]).current_dir(cwd);
    let label = format!("inspect {file} (allowed {budget:?})");
    let out = common::proc::run(&label, &mut cmd, Deadline::after(budget)).into_output();
    assert_no_panic(&out, file);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// 20,000 identical paths (a 480 KB torrent) must not take minutes to sanitise:
/// renaming duplicates tries `.1`, `.2`, ... from 1 again for every file.
#[test]

fn many_duplicate_paths_are_sanitised_quickly() {
    let scratch = Scratch::new("duplicates");
    let paths = vec![vec!["a"]; 20_000];
    std::fs::write(
        scratch.path().join("dups.torrent"),
        torrent_of_paths(&paths),
    )
    .expect("write");
    inspect_within(scratch.path(), "dups.torrent", Duration::from_secs(10));
}

/// One path 40,000 components deep (a 120 KB torrent) must not take a minute and
/// gigabytes to sanitise: the set of implied directories holds every ancestor of every
/// path as a full copy.
#[test]

fn deep_paths_are_sanitised_quickly() {
    let scratch = Scratch::new("deep");
    let paths = vec![vec!["a"; 40_000]];
    std::fs::write(
        scratch.path().join("deep.torrent"),
        torrent_of_paths(&paths),
    )
    .expect("write");
    inspect_within(scratch.path(), "deep.torrent", Duration::from_secs(10));
}
