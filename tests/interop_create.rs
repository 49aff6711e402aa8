//! `hivebt create` against the reference tools, on local files only.
//!
//! - mktorrent 1.1 builds the same `info` dictionary for the same content and options,
//!   so the info-hashes must be equal (and libtorrent must agree on both).
//! - transmission-show and libtorrent read hivebt's files and see the same info-hash,
//!   name, files, pieces, trackers and flags.
//! - hivebt reads torrents made by libtorrent (v1-only) and transmission-create, and
//!   verifies the original data against them.
//!
//! A missing tool makes a test print SKIP and pass, unless `HIVEBT_REQUIRE_INTEROP=1`.
//! Every external process is killed if it runs longer than [`TOOL_TIMEOUT`].

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::clients::{LT_TORRENT, mktorrent};
use common::proc::{Deadline, run};
use common::{Scratch, content, hivebt, require_libtorrent, require_tool};
use serde_json::Value;

/// How long any one external command may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

const TRACKER: &str = "http://127.0.0.1:6969/announce";

// ---------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------

/// Runs `cmd` to completion and returns its output; kills it and fails the test if it
/// is still running after [`TOOL_TIMEOUT`].
fn run_bounded(cmd: &mut Command) -> Output {
    let label = cmd.get_program().to_string_lossy().into_owned();
    run(&label, cmd, Deadline::after(TOOL_TIMEOUT)).into_output()
}

/// [`run_bounded`], failing the test unless the command exits 0.
fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run_bounded(cmd);
    assert!(
        out.status.success(),
        "{desc} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn parse_json(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what} did not print JSON ({e}): {}", text(out)))
}

/// `hivebt create --no-date TARGET -o OUT EXTRA...`.
fn hivebt_create(target: &Path, out: &Path, extra: &[&str]) {
    run_ok(
        hivebt()
            .arg("create")
            .arg(target)
            .arg("-o")
            .arg(out)
            .arg("--no-date")
            .args(extra),
    );
}

/// `hivebt inspect --json TORRENT`.
fn hivebt_inspect(torrent: &Path) -> Value {
    let out = run_ok(hivebt().args(["inspect", "--json"]).arg(torrent));
    parse_json(&out, "hivebt inspect --json")
}

/// What libtorrent sees in `torrent` (see tests/py/lt_torrent.py).
fn lt_describe(py: &Path, torrent: &Path) -> Value {
    let out = run_ok(
        Command::new(py)
            .arg(LT_TORRENT)
            .arg("describe")
            .arg(torrent),
    );
    parse_json(&out, "lt_torrent.py describe")
}

// ---------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------

/// A scratch area with the shared content under `data/` and torrents under `out/`.
struct Area {
    scratch: Scratch,
}

impl Area {
    fn new(tag: &str) -> Area {
        let scratch = Scratch::new(tag);
        std::fs::create_dir_all(scratch.path().join("out")).expect("create out dir");
        Area { scratch }
    }

    fn data(&self) -> PathBuf {
        self.scratch.path().join("data")
    }

    fn out(&self, file: &str) -> PathBuf {
        self.scratch.path().join("out").join(file)
    }

    /// `data/NAME`: one file of `len` deterministic bytes.
    fn single_file(&self, name: &str, len: usize) -> PathBuf {
        self.scratch
            .write(&format!("data/{name}"), &content(len, len as u64))
    }

    /// `data/NAME/...`: the files of `tree`, each `(relative path, length)`.
    fn tree(&self, name: &str, tree: &[(&str, usize)]) -> PathBuf {
        for (i, (rel, len)) in tree.iter().enumerate() {
            self.scratch.write(
                &format!("data/{name}/{rel}"),
                &content(*len, 100 + i as u64),
            );
        }
        self.data().join(name)
    }
}

/// 32 KiB, mktorrent `-l 15`.
const PIECE_32K: u64 = 1 << 15;

/// A directory meant to catch every ordering and boundary mistake, for 32 KiB pieces:
/// empty files first, inside and last; a 1-byte file; a hidden directory; nested
/// directories; names whose order differs between byte-wise sorting of the full path
/// and per-component or case-insensitive sorting (`-` < `.` < `/` < `0`, upper case
/// before lower case); files that end mid-piece and files that span pieces. No two
/// paths differ only in case, so libtorrent need not rename any.
const AWKWARD: &[(&str, usize)] = &[
    ("-empty-first", 0),
    (".hidden/h", 5_000),
    ("B-upper.bin", 40_000),
    ("a", 32_768),
    ("a.d/y", 100),
    ("a.txt", 70_001),
    ("deep/er/est/leaf.bin", 65_537),
    ("deep/er/empty", 0),
    ("dir-x", 7),
    ("dir.txt", 3),
    ("dir/x", 33_000),
    ("dir0", 9),
    ("one", 1),
    ("zz-empty-last", 0),
];

/// Paths that differ only in case (`Readme`/`readme`): byte-wise `R` < `r`.
const CASE_PAIR: &[(&str, usize)] = &[("Readme", 1_234), ("readme", 4_321)];

/// `(path, size)` of every file `hivebt inspect --json` lists.
fn inspect_files(inspected: &Value) -> Vec<(String, u64)> {
    inspected["files"]
        .as_array()
        .expect("inspect --json has a files array")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("file path").to_string(),
                f["size"].as_u64().expect("file size"),
            )
        })
        .collect()
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

// ---------------------------------------------------------------------------------
// 1. Same info-hash as mktorrent
// ---------------------------------------------------------------------------------

/// Creates torrents of `target` with hivebt and mktorrent using the same piece length
/// and the matching options, and checks that both tools' files have the same
/// info-hash (by hivebt and, when available, libtorrent) and the same file list.
/// Returns hivebt's `inspect --json` of (ours, mktorrent's).
fn same_as_mktorrent(
    area: &Area,
    target: &Path,
    log2_piece: u32,
    hivebt_args: &[&str],
    mktorrent_args: &[&str],
) -> Option<(Value, Value)> {
    let mk = require_tool("mktorrent")?;
    let ours = area.out("hivebt.torrent");
    let theirs = area.out("mktorrent.torrent");
    let piece = (1u64 << log2_piece).to_string();
    let mut args = vec!["--piece-length", piece.as_str()];
    args.extend_from_slice(hivebt_args);
    hivebt_create(target, &ours, &args);
    let deadline = Deadline::after(TOOL_TIMEOUT);
    mktorrent(&mk, target, log2_piece, &theirs, mktorrent_args, deadline);

    let ours_json = hivebt_inspect(&ours);
    let theirs_json = hivebt_inspect(&theirs);
    assert_eq!(
        str_of(&ours_json, "info_hash"),
        str_of(&theirs_json, "info_hash"),
        "info-hash of hivebt create {hivebt_args:?} differs from mktorrent -l {log2_piece} \
         {mktorrent_args:?}\nhivebt files: {:?}\nmktorrent files: {:?}",
        inspect_files(&ours_json),
        inspect_files(&theirs_json)
    );
    assert_eq!(
        inspect_files(&ours_json),
        inspect_files(&theirs_json),
        "hivebt and mktorrent list different files (path, size) or a different order"
    );
    assert_eq!(u64_of(&ours_json, "piece_length"), 1 << log2_piece);
    assert_eq!(
        u64_of(&ours_json, "piece_count"),
        u64_of(&theirs_json, "piece_count")
    );

    if let Some(py) = require_libtorrent() {
        for (file, by_hivebt) in [(&ours, &ours_json), (&theirs, &theirs_json)] {
            let lt = lt_describe(&py, file);
            assert_eq!(
                str_of(&lt, "info_hash"),
                str_of(by_hivebt, "info_hash"),
                "libtorrent and hivebt disagree on the info-hash of {}",
                file.display()
            );
        }
    }
    Some((ours_json, theirs_json))
}

#[test]
fn mktorrent_single_file_short_last_piece_same_info_hash() {
    let area = Area::new("mk-single");
    // Five whole 32 KiB pieces and a last piece of 1,234 bytes.
    let file = area.single_file("movie.mkv", 5 * PIECE_32K as usize + 1_234);
    let Some((ours, _)) = same_as_mktorrent(&area, &file, 15, &[], &[]) else {
        return;
    };
    assert_eq!(u64_of(&ours, "piece_count"), 6);
    assert_eq!(
        inspect_files(&ours),
        vec![("movie.mkv".to_string(), 5 * PIECE_32K + 1_234)]
    );
}

#[test]
fn mktorrent_awkward_directory_same_info_hash() {
    let area = Area::new("mk-awkward");
    let tree: Vec<(&str, usize)> = AWKWARD.iter().chain(CASE_PAIR).copied().collect();
    let dir = area.tree("awkward", &tree);
    let Some((ours, _)) = same_as_mktorrent(&area, &dir, 15, &[], &[]) else {
        return;
    };
    // The order is checked against mktorrent above; check it is byte-wise too, so a
    // change of mktorrent's own order cannot hide behind the comparison.
    let mut expected: Vec<(String, u64)> = tree
        .iter()
        .map(|(rel, len)| (format!("awkward/{rel}"), *len as u64))
        .collect();
    expected.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    assert_eq!(
        inspect_files(&ours),
        expected,
        "files are not in byte-wise order of their full path"
    );
}

#[test]
fn mktorrent_with_tracker_same_info_hash() {
    let area = Area::new("mk-tracker");
    // 256 KiB pieces (mktorrent -l 18): three whole pieces and 77 bytes.
    let file = area.single_file("image.iso", 3 * (256 << 10) + 77);
    let Some((ours, theirs)) =
        same_as_mktorrent(&area, &file, 18, &["-t", TRACKER], &["-a", TRACKER])
    else {
        return;
    };
    let tiers = serde_json::json!([[TRACKER]]);
    assert_eq!(ours["trackers"], tiers, "hivebt's own torrent");
    assert_eq!(
        theirs["trackers"], tiers,
        "mktorrent's torrent, read by hivebt"
    );
}

#[test]
fn mktorrent_private_and_source_same_info_hash() {
    let area = Area::new("mk-private");
    let dir = area.tree("private", AWKWARD);
    let Some((ours, theirs)) = same_as_mktorrent(
        &area,
        &dir,
        15,
        &["--private", "--source", "X", "-t", TRACKER],
        &["-p", "-s", "X", "-a", TRACKER],
    ) else {
        return;
    };
    for (who, json) in [("hivebt", &ours), ("mktorrent", &theirs)] {
        assert_eq!(json["private"], true, "{who}'s torrent is not private");
        assert_eq!(json["source"], "X", "{who}'s torrent has the wrong source");
    }
}

// ---------------------------------------------------------------------------------
// 2. transmission-show reads our files
// ---------------------------------------------------------------------------------

/// What transmission-show (3.00) prints: `Key: value` lines under GENERAL, `Tier #N`
/// groups of URLs under TRACKERS, and `path (size)` lines under FILES, the size rounded
/// in decimal units (`0.02 kB`, `3.00 MB`).
#[derive(Debug, Default)]
struct Shown {
    general: Vec<(String, String)>,
    tiers: Vec<Vec<String>>,
    files: Vec<(String, String)>,
}

impl Shown {
    fn parse(output: &str) -> Shown {
        let mut shown = Shown::default();
        let mut section = "";
        for line in output.lines() {
            if matches!(line, "GENERAL" | "TRACKERS" | "FILES") {
                section = line;
                continue;
            }
            let item = line.trim();
            if item.is_empty() {
                continue;
            }
            match section {
                "GENERAL" => {
                    let (k, v) = item
                        .split_once(": ")
                        .unwrap_or_else(|| panic!("GENERAL line without ': ': {line:?}"));
                    shown.general.push((k.to_string(), v.to_string()));
                }
                "TRACKERS" if item.starts_with("Tier #") => shown.tiers.push(Vec::new()),
                "TRACKERS" => shown
                    .tiers
                    .last_mut()
                    .unwrap_or_else(|| panic!("tracker before any tier: {line:?}"))
                    .push(item.to_string()),
                "FILES" => {
                    let (path, size) = item
                        .strip_suffix(')')
                        .and_then(|i| i.rsplit_once(" ("))
                        .unwrap_or_else(|| panic!("FILES line not 'path (size)': {line:?}"));
                    shown.files.push((path.to_string(), size.to_string()));
                }
                _ => {}
            }
        }
        shown
    }

    fn get(&self, key: &str) -> &str {
        self.general
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("transmission-show printed no {key:?} line: {self:?}"))
    }
}

/// Whether a size transmission printed (`"70.00 kB"`, `"256.0 KiB"`) is `bytes` rounded
/// to the digits shown: it must lie within half a unit of its last digit.
fn shown_size_is(shown: &str, bytes: u64) -> bool {
    let Some((number, unit)) = shown.split_once(' ') else {
        return false;
    };
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1_048_576.0,
        "GiB" => 1_073_741_824.0,
        _ => return false,
    };
    let Ok(value) = number.parse::<f64>() else {
        return false;
    };
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let half_step = 0.5 * 10f64.powi(-decimals) * scale;
    (value * scale - bytes as f64).abs() <= half_step * (1.0 + 1e-9)
}

#[test]
fn shown_size_is_rounding_not_anything() {
    assert!(shown_size_is("0.02 kB", 17));
    assert!(!shown_size_is("0.02 kB", 26));
    assert!(shown_size_is("70.00 kB", 70_001));
    assert!(!shown_size_is("70.00 kB", 70_010));
    assert!(shown_size_is("3.00 MB", 3_000_077));
    assert!(!shown_size_is("3.00 MB", 3_010_000));
    assert!(shown_size_is("32.00 KiB", 32_768));
    assert!(shown_size_is("256.0 KiB", 262_144));
    assert!(!shown_size_is("256.0 KiB", 262_244));
    assert!(!shown_size_is("3.00", 3));
    assert!(!shown_size_is("3.00 parsecs", 3));
}

/// Runs `transmission-show -u` (files in torrent order) on `torrent` and checks it
/// against hivebt's view of the same file.
fn check_transmission_show(show: &Path, torrent: &Path) -> Shown {
    let out = run_ok(Command::new(show).arg("-u").arg(torrent));
    let shown = Shown::parse(&text(&out));
    let ours = hivebt_inspect(torrent);
    assert_eq!(
        shown.get("Hash"),
        str_of(&ours, "info_hash"),
        "transmission-show's info-hash"
    );
    assert_eq!(shown.get("Name"), str_of(&ours, "name"), "name");
    assert_eq!(
        shown.get("Piece Count"),
        u64_of(&ours, "piece_count").to_string(),
        "piece count"
    );
    let piece_size = shown.get("Piece Size");
    assert!(
        shown_size_is(piece_size, u64_of(&ours, "piece_length")),
        "Piece Size {piece_size:?} is not {} bytes",
        u64_of(&ours, "piece_length")
    );
    let total = shown.get("Total Size");
    assert!(
        shown_size_is(total, u64_of(&ours, "total_size")),
        "Total Size {total:?} is not {} bytes",
        u64_of(&ours, "total_size")
    );

    let expected = inspect_files(&ours);
    let paths: Vec<&str> = shown.files.iter().map(|(p, _)| p.as_str()).collect();
    let expected_paths: Vec<&str> = expected.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, expected_paths, "transmission-show's file list");
    for ((path, size), (_, bytes)) in shown.files.iter().zip(&expected) {
        assert!(
            shown_size_is(size, *bytes),
            "transmission-show gives {path} as {size:?}, hivebt created it with {bytes} bytes"
        );
    }
    shown
}

#[test]
fn transmission_show_reads_single_file() {
    let Some(show) = require_tool("transmission-show") else {
        return;
    };
    let area = Area::new("tr-show-single");
    // 3,000,077 bytes: "3.00 MB"; 23 pieces of 128 KiB, the last one short.
    let file = area.single_file("song.flac", 3_000_077);
    let torrent = area.out("song.torrent");
    hivebt_create(
        &file,
        &torrent,
        &[
            "--piece-length",
            "128K",
            "-t",
            TRACKER,
            "--comment",
            "hi (there)",
        ],
    );
    let shown = check_transmission_show(&show, &torrent);
    assert_eq!(shown.get("Piece Count"), "23");
    assert_eq!(shown.get("Privacy"), "Public torrent");
    assert_eq!(shown.get("Comment"), "hi (there)");
    assert_eq!(shown.tiers, vec![vec![TRACKER.to_string()]], "trackers");
    assert_eq!(shown.files.len(), 1);
}

#[test]
fn transmission_show_reads_directory() {
    let Some(show) = require_tool("transmission-show") else {
        return;
    };
    let area = Area::new("tr-show-dir");
    let dir = area.tree("awkward", AWKWARD);
    let torrent = area.out("awkward.torrent");
    hivebt_create(
        &dir,
        &torrent,
        &[
            "--piece-length",
            "32K",
            "--private",
            "-t",
            TRACKER,
            "-t",
            "udp://127.0.0.1:6969/announce,http://127.0.0.2:6969/announce",
        ],
    );
    let shown = check_transmission_show(&show, &torrent);
    assert_eq!(shown.get("Privacy"), "Private torrent");
    assert_eq!(
        shown.tiers,
        vec![
            vec![TRACKER.to_string()],
            vec![
                "udp://127.0.0.1:6969/announce".to_string(),
                "http://127.0.0.2:6969/announce".to_string()
            ]
        ],
        "tracker tiers"
    );
    assert_eq!(shown.files.len(), AWKWARD.len());
}

// ---------------------------------------------------------------------------------
// 3. libtorrent reads our files
// ---------------------------------------------------------------------------------

/// Checks what libtorrent reads from `torrent` against hivebt's `inspect --json` and
/// the options it was created with.
fn check_libtorrent_reads(
    py: &Path,
    torrent: &Path,
    tiers: &[&[&str]],
    private: bool,
    comment: &str,
) {
    let lt = lt_describe(py, torrent);
    let ours = hivebt_inspect(torrent);
    assert_eq!(
        str_of(&lt, "info_hash"),
        str_of(&ours, "info_hash"),
        "libtorrent's v1 info-hash"
    );
    assert_eq!(str_of(&lt, "name"), str_of(&ours, "name"), "name");
    let files = inspect_files(&ours);
    assert_eq!(
        u64_of(&lt, "num_files"),
        files.len() as u64,
        "number of files"
    );
    let lt_files: Vec<(String, u64)> = lt["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            assert_eq!(f["pad"], false, "libtorrent sees a pad file: {f}");
            (str_of(f, "path").to_string(), u64_of(f, "size"))
        })
        .collect();
    assert_eq!(lt_files, files, "libtorrent's file paths and sizes");
    assert_eq!(
        u64_of(&lt, "piece_length"),
        u64_of(&ours, "piece_length"),
        "piece length"
    );
    assert_eq!(
        u64_of(&lt, "num_pieces"),
        u64_of(&ours, "piece_count"),
        "number of pieces"
    );
    assert_eq!(
        u64_of(&lt, "total_size"),
        u64_of(&ours, "total_size"),
        "total size"
    );
    // BEP 12: a client shuffles the URLs within each tier, and libtorrent does so when
    // it loads the file; so compare each tier as a sorted set.
    let mut lt_tiers: Vec<Vec<String>> = Vec::new();
    for t in lt["trackers"].as_array().expect("trackers") {
        let tier = u64_of(t, "tier") as usize;
        if lt_tiers.len() <= tier {
            lt_tiers.resize(tier + 1, Vec::new());
        }
        lt_tiers[tier].push(str_of(t, "url").to_string());
    }
    lt_tiers.iter_mut().for_each(|t| t.sort());
    let expected_tiers: Vec<Vec<String>> = tiers
        .iter()
        .map(|urls| {
            let mut urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
            urls.sort();
            urls
        })
        .collect();
    assert_eq!(lt_tiers, expected_tiers, "libtorrent's tracker tiers");
    assert_eq!(lt["private"], private, "libtorrent's private flag");
    assert_eq!(str_of(&lt, "comment"), comment, "libtorrent's comment");
}

#[test]
fn libtorrent_reads_single_file() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let area = Area::new("lt-single");
    let file = area.single_file("disk.img", 7 * (64 << 10) + 5);
    let torrent = area.out("disk.torrent");
    hivebt_create(&file, &torrent, &["--piece-length", "64K", "-t", TRACKER]);
    check_libtorrent_reads(&py, &torrent, &[&[TRACKER]], false, "");
}

#[test]
fn libtorrent_reads_directory() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let area = Area::new("lt-dir");
    let dir = area.tree("awkward", AWKWARD);
    let torrent = area.out("awkward.torrent");
    let second_tier = "udp://127.0.0.1:6969/announce,http://127.0.0.2:6969/announce";
    hivebt_create(
        &dir,
        &torrent,
        &[
            "--piece-length",
            "32K",
            "--private",
            "--comment",
            "awkward names: ünïcödé",
            "-t",
            TRACKER,
            "-t",
            second_tier,
        ],
    );
    check_libtorrent_reads(
        &py,
        &torrent,
        &[
            &[TRACKER],
            &[
                "udp://127.0.0.1:6969/announce",
                "http://127.0.0.2:6969/announce",
            ],
        ],
        true,
        "awkward names: ünïcödé",
    );
}

// ---------------------------------------------------------------------------------
// 4. hivebt reads and verifies torrents made by the other tools
// ---------------------------------------------------------------------------------

/// Checks that hivebt reads `torrent` with info-hash `expected_hash` and that
/// `hivebt verify` finds every piece of it in `data_dir`.
fn check_hivebt_reads_and_verifies(torrent: &Path, expected_hash: &str, data_dir: &Path) {
    let inspected = hivebt_inspect(torrent);
    assert_eq!(
        str_of(&inspected, "info_hash"),
        expected_hash,
        "hivebt's info-hash of {}",
        torrent.display()
    );

    let out = run_ok(hivebt().arg("verify").arg(torrent).arg(data_dir));
    assert!(
        text(&out).contains("complete: every piece verified"),
        "hivebt verify of {} does not say every piece verified:\n{}",
        torrent.display(),
        text(&out)
    );
    let report = parse_json(
        &run_ok(
            hivebt()
                .args(["verify", "--json"])
                .arg(torrent)
                .arg(data_dir),
        ),
        "hivebt verify --json",
    );
    let pieces = &report["pieces"];
    assert_eq!(report["complete"], true, "verify --json: {report}");
    assert_eq!(
        (
            u64_of(pieces, "verified"),
            u64_of(pieces, "missing"),
            u64_of(pieces, "bad")
        ),
        (u64_of(&inspected, "piece_count"), 0, 0),
        "verify --json piece counts (verified, missing, bad): {report}"
    );

    // Control: the same data with one byte flipped must fail, in exactly one piece.
    let (path, _) = inspect_files(&inspected)
        .into_iter()
        .find(|(_, size)| *size > 0)
        .expect("the torrent has a non-empty file");
    let file = data_dir.join(&path);
    let original = std::fs::read(&file).expect("read data file");
    let mut flipped = original.clone();
    flipped[0] ^= 0xff;
    std::fs::write(&file, &flipped).expect("flip a byte of the data");
    let out = run_bounded(
        hivebt()
            .args(["verify", "--json"])
            .arg(torrent)
            .arg(data_dir),
    );
    std::fs::write(&file, &original).expect("restore the data");
    assert_eq!(
        out.status.code(),
        Some(1),
        "hivebt verify must exit 1 when {path} has a flipped byte: {}",
        text(&out)
    );
    let report = parse_json(&out, "hivebt verify --json");
    assert_eq!(
        (report["complete"].clone(), u64_of(&report["pieces"], "bad")),
        (Value::Bool(false), 1),
        "verify --json with one flipped byte in {path}: {report}"
    );
}

/// Makes a v1-only torrent of `target` with libtorrent and returns libtorrent's
/// info-hash of it.
fn lt_create(py: &Path, target: &Path, piece_length: u64, out: &Path) -> String {
    let made = parse_json(
        &run_ok(
            Command::new(py)
                .arg(LT_TORRENT)
                .arg("create")
                .arg(target)
                .arg(piece_length.to_string())
                .arg(out),
        ),
        "lt_torrent.py create",
    );
    str_of(&made, "info_hash").to_string()
}

#[test]
fn hivebt_reads_libtorrent_v1_torrents() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let area = Area::new("lt-create");
    let file = area.single_file("single.bin", 3 * PIECE_32K as usize + 999);
    let dir = area.tree("awkward", AWKWARD);
    for target in [&file, &dir] {
        let torrent = area.out("by-libtorrent.torrent");
        let lt_hash = lt_create(&py, target, PIECE_32K, &torrent);
        check_hivebt_reads_and_verifies(&torrent, &lt_hash, &area.data());

        // With files in byte-wise order, libtorrent's v1 info dictionary is the one
        // hivebt (and mktorrent) writes.
        let ours = area.out("by-hivebt.torrent");
        hivebt_create(target, &ours, &["--piece-length", "32K"]);
        assert_eq!(
            str_of(&hivebt_inspect(&ours), "info_hash"),
            lt_hash,
            "hivebt create of {} differs from libtorrent's v1-only torrent",
            target.display()
        );
        std::fs::remove_file(&torrent).expect("remove torrent");
        std::fs::remove_file(&ours).expect("remove torrent");
    }
}

#[test]
fn hivebt_reads_transmission_create_torrents() {
    let (Some(create), Some(show)) = (
        require_tool("transmission-create"),
        require_tool("transmission-show"),
    ) else {
        return;
    };
    let area = Area::new("tr-create");
    let file = area.single_file("single.bin", 5 * PIECE_32K as usize + 321);
    let dir = area.tree("awkward", AWKWARD);
    for (target, name) in [(&file, "single"), (&dir, "dir")] {
        let torrent = area.out(&format!("{name}.torrent"));
        run_ok(
            Command::new(&create)
                .arg("-s")
                .arg("32")
                .arg("-t")
                .arg(TRACKER)
                .arg("-o")
                .arg(&torrent)
                .arg(target),
        );
        let shown = Shown::parse(&text(&run_ok(Command::new(&show).arg(&torrent))));
        check_hivebt_reads_and_verifies(&torrent, shown.get("Hash"), &area.data());
        let inspected = hivebt_inspect(&torrent);
        assert_eq!(
            inspected["trackers"],
            serde_json::json!([[TRACKER]]),
            "trackers of transmission-create's torrent"
        );
        assert_eq!(
            inspect_files(&inspected).len(),
            shown.files.len(),
            "hivebt and transmission-show count different files"
        );
    }
}
