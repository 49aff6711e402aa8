//! The peer engine against itself and libtorrent, over real TCP on loopback.
//!
//! - libtorrent downloads from `hivebt seed`, and `hivebt download` downloads from a
//!   libtorrent seeder, for a single file and a directory of awkward sizes, at 16 KiB
//!   and 4 MiB pieces.
//! - One hivebt-to-hivebt transfer over `[::1]`, seeding a plain file (the
//!   create-then-seed path).
//! - A swarm of one slow hivebt seeder and three hivebt leechers that must trade pieces.
//! - One `hivebt seed` process serving two torrents on one port to two downloaders.
//! - `hivebt seed --peer` dialling a libtorrent leecher, and libtorrent downloading
//!   through a hivebt leecher that relays pieces as it verifies them.
//!
//! Every process listens on 127.0.0.1 or ::1 on a port the kernel picks, and the tests
//! learn the port from the `listening on ADDR` line each peer prints once it is ready.
//! The one poll is the swarm's: a `download --seed` peer prints nothing when it
//! completes, so that test reruns `hivebt verify`. Every child is killed when its
//! [`Peer`] guard drops, and every test fails with a message naming what it was waiting
//! for once [`TEST_TIMEOUT`] is spent. Content is compared by the SHA-256 of every file.
//!
//! libtorrent runs with its defaults apart from what tests/py/lt_peer.py lists; its
//! first connection to a hivebt peer is an encrypted (MSE) handshake, which hivebt
//! closes as a bad handshake, and libtorrent then redials in plain text.
//!
//! The libtorrent tests print SKIP and pass when python3-libtorrent is missing, unless
//! `HIVEBT_REQUIRE_INTEROP=1`. Run with `RUST_LOG=debug` to get hivebt's log in the
//! stderr a failing test prints for each of its peers.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Scratch, content, hivebt, inspect_json, require_libtorrent};
use sha2::{Digest, Sha256};

/// The most any one test may take, from its first command to its last check.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The libtorrent peer script.
const LT_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lt_peer.py");

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------
// Deadlines and child processes
// ---------------------------------------------------------------------------------

/// The point in time by which a test must be done.
#[derive(Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn start() -> Deadline {
        Deadline(Instant::now() + TEST_TIMEOUT)
    }

    fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}

/// What the reader threads of a child report.
enum Event {
    Line(String),
    StdoutClosed,
    StderrClosed,
}

/// How a child ended.
struct Finished {
    status: ExitStatus,
    /// Every stdout line.
    stdout: Vec<String>,
    stderr: String,
}

/// A running child process, killed when dropped. Its stdout lines arrive on a channel
/// (so a test can wait for one with a deadline); its stderr is collected for the
/// summary lines and for the failure message. When a test panics, every guard prints
/// its child's stderr, which is where hivebt's log goes.
struct Peer {
    label: String,
    /// The command line, printed with the stderr when a test fails.
    desc: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Event>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stdout_open: bool,
    stderr_open: bool,
    status: Option<ExitStatus>,
}

impl Peer {
    /// Starts `cmd` with piped stdout and stderr; stdin stays open (a pipe) until
    /// [`Peer::close_stdin`], which is how the libtorrent script is told to stop.
    fn spawn(label: &str, cmd: &mut Command) -> Peer {
        let desc = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start {desc}: {e}"));
        let (tx, events) = mpsc::channel();
        let out = child.stdout.take().expect("stdout piped");
        let out_tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if out_tx.send(Event::Line(line)).is_err() {
                    return;
                }
            }
            let _ = out_tx.send(Event::StdoutClosed);
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock().expect("stderr lock").push_str(&text);
            }
            let _ = tx.send(Event::StderrClosed);
        });
        Peer {
            label: label.to_string(),
            desc,
            stdin: child.stdin.take(),
            child,
            events,
            stdout: Vec::new(),
            stderr,
            stdout_open: true,
            stderr_open: true,
            status: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Records one event; `Some(line)` for a stdout line.
    fn take(&mut self, event: Event) -> Option<String> {
        match event {
            Event::Line(line) => {
                self.stdout.push(line.clone());
                Some(line)
            }
            Event::StdoutClosed => {
                self.stdout_open = false;
                None
            }
            Event::StderrClosed => {
                self.stderr_open = false;
                None
            }
        }
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it.
    fn wait_line(&mut self, prefix: &str, deadline: Deadline) -> String {
        if let Some(seen) = self.stdout.iter().find_map(|l| l.strip_prefix(prefix)) {
            return seen.to_string();
        }
        loop {
            if !self.stdout_open {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "{}: exited ({status:?}) without printing '{prefix}...'\nstdout: {:?}\nstderr:\n{}",
                    self.label,
                    self.stdout,
                    self.stderr_text()
                );
            }
            match self.events.recv_timeout(deadline.remaining()) {
                Ok(event) => {
                    if let Some(line) = self.take(event) {
                        if let Some(rest) = line.strip_prefix(prefix) {
                            return rest.to_string();
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: no '{prefix}...' line on stdout within {TEST_TIMEOUT:?}\nstdout: {:?}\nstderr:\n{}",
                        self.label,
                        self.stdout,
                        self.stderr_text()
                    )
                }
            }
        }
    }

    /// The address from the first `listening on ADDR` line.
    fn listen_addr(&mut self, deadline: Deadline) -> SocketAddr {
        let addr = self.wait_line("listening on ", deadline);
        addr.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{}: bad address in 'listening on {addr}': {e}", self.label))
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends SIGTERM and waits for the child to exit.
    fn terminate(&mut self, deadline: Deadline) -> Finished {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "{}: kill -TERM failed", self.label);
        self.wait(deadline)
    }

    /// Waits for the child to exit (both pipes closed, then its status).
    fn wait(&mut self, deadline: Deadline) -> Finished {
        while self.stdout_open || self.stderr_open {
            match self.events.recv_timeout(deadline.remaining()) {
                Ok(event) => {
                    self.take(event);
                }
                Err(_) => panic!(
                    "{}: still running after {TEST_TIMEOUT:?}\nstdout: {:?}\nstderr:\n{}",
                    self.label,
                    self.stdout,
                    self.stderr_text()
                ),
            }
        }
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("{}: wait: {e}", self.label));
        self.status = Some(status);
        Finished {
            status,
            stdout: self.stdout.clone(),
            stderr: self.stderr_text(),
        }
    }

    /// [`Peer::wait`], failing the test unless the child exits 0.
    fn wait_ok(&mut self, deadline: Deadline) -> Finished {
        let done = self.wait(deadline);
        assert!(
            done.status.success(),
            "{} failed ({})\nstdout: {:?}\nstderr:\n{}",
            self.label,
            done.status,
            done.stdout,
            done.stderr
        );
        done
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "----- {} (pid {}): {}\n{}",
                self.label,
                self.pid(),
                self.desc,
                self.stderr_text()
            );
        }
    }
}

/// Runs `cmd` to completion within `deadline`, failing the test unless it exits 0.
fn run_ok(label: &str, cmd: &mut Command, deadline: Deadline) -> Finished {
    let mut peer = Peer::spawn(label, cmd);
    peer.close_stdin();
    peer.wait_ok(deadline)
}

// ---------------------------------------------------------------------------------
// hivebt and libtorrent peers
// ---------------------------------------------------------------------------------

/// `hivebt create PATH -o OUT --no-date --piece-length PIECE`.
fn create_torrent(target: &Path, out: &Path, piece: &str, deadline: Deadline) {
    run_ok(
        "hivebt create",
        hivebt().arg("create").arg(target).arg("-o").arg(out).args([
            "--no-date",
            "--piece-length",
            piece,
        ]),
        deadline,
    );
}

/// `hivebt seed TORRENTS... --data DATA --listen LISTEN --state STATE EXTRA...`.
fn hivebt_seed(
    label: &str,
    torrents: &[&Path],
    data: &Path,
    listen: &str,
    state: &Path,
    extra: &[&str],
) -> Peer {
    Peer::spawn(
        label,
        hivebt()
            .arg("seed")
            .args(torrents)
            .arg("--data")
            .arg(data)
            .args(["--listen", listen])
            .arg("--state")
            .arg(state)
            .args(extra),
    )
}

/// `hivebt download TORRENT --out OUT --listen LISTEN --state STATE --peer P... EXTRA...`.
fn hivebt_download(
    label: &str,
    torrent: &Path,
    out: &Path,
    listen: &str,
    state: &Path,
    peers: &[SocketAddr],
    extra: &[&str],
) -> Peer {
    let mut cmd = hivebt();
    cmd.arg("download")
        .arg(torrent)
        .arg("--out")
        .arg(out)
        .args(["--listen", listen])
        .arg("--state")
        .arg(state);
    for p in peers {
        cmd.arg("--peer").arg(p.to_string());
    }
    cmd.args(extra);
    Peer::spawn(label, &mut cmd)
}

/// What one torrent's summary line (stderr, at exit) says:
/// `<infohash> <name>: complete|incomplete, downloaded X in S s (R/s), uploaded Y,
/// N peers used, F hash failures`.
#[derive(Debug)]
struct Summary {
    line: String,
    complete: bool,
    downloaded: u64,
    /// From the start of the run to completion (or to its end, if never complete).
    seconds: f64,
    uploaded: u64,
    peers_used: u64,
    hash_failures: u64,
}

/// Parses `12 B`, `1.5 KiB`, `7.0 MiB`. The summary prints one decimal, so a value
/// of a unit or more is off by up to 5%: see [`at_least`].
fn parse_human_bytes(s: &str) -> u64 {
    let (num, unit) = s
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a byte count: {s:?}"));
    let scale: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => panic!("unknown unit in byte count {s:?}"),
    };
    let num: f64 = num
        .parse()
        .unwrap_or_else(|_| panic!("not a byte count: {s:?}"));
    (num * scale as f64).round() as u64
}

/// Whether a byte count parsed from a summary line is `expected` bytes or more, allowing
/// for its rounding to one decimal of KiB, MiB or GiB (at most 5% of the value).
fn at_least(printed: u64, expected: u64) -> bool {
    printed >= expected - expected / 20
}

/// Fails the test: `line` is not a summary line.
fn unparsable<T>(label: &str, line: &str) -> T {
    panic!("{label}: cannot parse summary line {line:?}")
}

/// Finds and parses the summary line for `info_hash` in `stderr`.
fn summary(label: &str, stderr: &str, info_hash: &str) -> Summary {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(info_hash))
        .unwrap_or_else(|| panic!("{label}: no summary line for {info_hash} in stderr:\n{stderr}"));
    let bad = || unparsable(label, line);
    let (_, rest) = line.split_once(": ").unwrap_or_else(bad);
    let fields: Vec<&str> = rest.split(", ").collect();
    if fields.len() != 5 {
        return unparsable(label, line);
    }
    let complete = match fields[0] {
        "complete" => true,
        "incomplete" => false,
        _ => unparsable(label, line),
    };
    let (downloaded, seconds) = fields[1]
        .strip_prefix("downloaded ")
        .and_then(|d| d.split_once(" in "))
        .and_then(|(bytes, time)| {
            let seconds = time.split_once(" s ")?.0.parse().ok()?;
            Some((parse_human_bytes(bytes), seconds))
        })
        .unwrap_or_else(|| unparsable(label, line));
    let uploaded = fields[2]
        .strip_prefix("uploaded ")
        .map(parse_human_bytes)
        .unwrap_or_else(|| unparsable(label, line));
    let count = |field: &str, suffix: &str| -> u64 {
        field
            .strip_suffix(suffix)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| unparsable(label, line))
    };
    Summary {
        line: line.to_string(),
        complete,
        downloaded,
        seconds,
        uploaded,
        peers_used: count(fields[3], " peers used"),
        hash_failures: count(fields[4], " hash failures"),
    }
}

/// Starts the libtorrent script seeding `torrent` from `save_path`; returns it once it
/// printed its address (after checking the data).
fn lt_seed(py: &Path, torrent: &Path, save_path: &Path, deadline: Deadline) -> (Peer, SocketAddr) {
    let mut peer = Peer::spawn(
        "libtorrent seed",
        Command::new(py)
            .arg(LT_PEER)
            .arg("seed")
            .arg(torrent)
            .arg(save_path),
    );
    let addr = peer.listen_addr(deadline);
    (peer, addr)
}

/// Starts the libtorrent script downloading `torrent` into `out`, from `peer` if given
/// (else it waits for peers to connect to the address it prints).
fn lt_download(py: &Path, torrent: &Path, out: &Path, peer: Option<SocketAddr>) -> Peer {
    let mut cmd = Command::new(py);
    cmd.arg(LT_PEER).arg("download").arg(torrent).arg(out);
    if let Some(peer) = peer {
        cmd.arg(peer.to_string());
    }
    Peer::spawn("libtorrent download", &mut cmd)
}

/// The JSON object the libtorrent script prints last.
fn lt_result(done: &Finished) -> serde_json::Value {
    let last = done.stdout.last().expect("lt_peer.py printed nothing");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("lt_peer.py: not JSON ({e}): {last}"))
}

// ---------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------

/// Lower-case hex SHA-256 of the file at `path`.
fn sha256_file(path: &Path) -> String {
    let data =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Content laid out under `src/`, with the SHA-256 of every file.
struct Fixture {
    /// `src/<name>`: the file or directory a torrent is made of.
    path: PathBuf,
    /// Relative path under `path` (empty for a single file) -> (size, SHA-256).
    files: BTreeMap<String, (usize, String)>,
}

impl Fixture {
    /// One file `src/<name>` of `len` deterministic bytes.
    fn single(scratch: &Scratch, name: &str, len: usize, seed: u64) -> Fixture {
        let path = scratch.write(&format!("src/{name}"), &content(len, seed));
        let files = BTreeMap::from([(String::new(), (len, sha256_file(&path)))]);
        Fixture { path, files }
    }

    /// A directory `src/<name>/` holding `tree`'s `(relative path, size)` files.
    fn tree(scratch: &Scratch, name: &str, tree: &[(&str, usize)]) -> Fixture {
        let mut files = BTreeMap::new();
        for (i, (rel, len)) in tree.iter().enumerate() {
            let p = scratch.write(
                &format!("src/{name}/{rel}"),
                &content(*len, 1000 + i as u64),
            );
            files.insert(rel.to_string(), (*len, sha256_file(&p)));
        }
        Fixture {
            path: scratch.path().join("src").join(name),
            files,
        }
    }

    /// Directory holding the content (`--data`, libtorrent's save path).
    fn data_dir(&self) -> &Path {
        self.path.parent().expect("content has a parent")
    }

    fn name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 name")
    }

    fn total_size(&self) -> usize {
        self.files.values().map(|(len, _)| len).sum()
    }

    /// Fails unless `out_dir/<name>` holds every file with the same size and SHA-256
    /// (empty files included).
    fn check_copy(&self, who: &str, out_dir: &Path) {
        let root = out_dir.join(self.name());
        for (rel, (len, hash)) in &self.files {
            let file = if rel.is_empty() {
                root.clone()
            } else {
                root.join(rel)
            };
            let meta = std::fs::metadata(&file).unwrap_or_else(|e| {
                panic!("{who}: {} is missing: {e}", file.display());
            });
            assert!(meta.is_file(), "{who}: {} is not a file", file.display());
            assert_eq!(meta.len(), *len as u64, "{who}: size of {}", file.display());
            assert_eq!(
                &sha256_file(&file),
                hash,
                "{who}: SHA-256 of {} differs from the original",
                file.display()
            );
        }
    }
}

/// A single file with a short last piece: at least 2 full pieces and at least 1 MiB,
/// plus a tail shorter than a piece.
fn single_file_len(piece: usize) -> usize {
    (2 * piece).max(MIB) + 12_345
}

/// A directory meant to catch boundary mistakes for pieces of `piece` bytes: a 0-byte
/// file first and another in a nested directory, a 1-byte file, a file that spans a
/// piece boundary and ends mid-piece, a file of several pieces, nested directories and
/// a short last piece. Listed here in byte-wise path order (the torrent's order).
fn awkward_tree(piece: usize) -> Vec<(&'static str, usize)> {
    vec![
        ("0-empty-first", 0),
        ("a/b/c/mid.bin", piece + piece / 2 + 3),
        ("a/b/empty", 0),
        ("a/c.txt", 100),
        ("a/one", 1),
        ("big.bin", piece.max(MIB) + 7),
        ("deep/er/est/leaf", piece / 3),
        ("z-last", piece / 4 + 1),
    ]
}

/// A scratch area with a fixture and its torrent at `torrents/<name>.torrent`.
struct Setup {
    scratch: Scratch,
    fixture: Fixture,
    torrent: PathBuf,
    info_hash: String,
}

impl Setup {
    fn single(tag: &str, piece: usize, piece_arg: &str, deadline: Deadline) -> Setup {
        let scratch = Scratch::new(tag);
        let fixture = Fixture::single(&scratch, "disk.img", single_file_len(piece), 7);
        Setup::finish(scratch, fixture, piece, piece_arg, deadline)
    }

    fn awkward(tag: &str, piece: usize, piece_arg: &str, deadline: Deadline) -> Setup {
        let scratch = Scratch::new(tag);
        let fixture = Fixture::tree(&scratch, "awkward", &awkward_tree(piece));
        Setup::finish(scratch, fixture, piece, piece_arg, deadline)
    }

    fn finish(
        scratch: Scratch,
        fixture: Fixture,
        piece: usize,
        piece_arg: &str,
        deadline: Deadline,
    ) -> Setup {
        let torrent = scratch
            .path()
            .join("torrents")
            .join(format!("{}.torrent", fixture.name()));
        std::fs::create_dir_all(torrent.parent().expect("parent")).expect("mkdir torrents");
        create_torrent(&fixture.path, &torrent, piece_arg, deadline);
        let inspected = inspect_json(scratch.path(), torrent.to_str().expect("UTF-8 path"));
        assert_eq!(inspected["piece_length"], piece as u64, "piece length");
        let total = fixture.total_size() as u64;
        assert_ne!(
            total % piece as u64,
            0,
            "the fixture must end in a short piece"
        );
        let info_hash = inspected["info_hash"]
            .as_str()
            .expect("info_hash")
            .to_string();
        Setup {
            scratch,
            fixture,
            torrent,
            info_hash,
        }
    }

    /// A fresh directory `scratch/<rel>`.
    fn dir(&self, rel: &str) -> PathBuf {
        let d = self.scratch.path().join(rel);
        std::fs::create_dir_all(&d).expect("create dir");
        d
    }
}

// ---------------------------------------------------------------------------------
// 1. libtorrent <-> hivebt
// ---------------------------------------------------------------------------------

/// `hivebt seed` serves `setup`'s torrent; libtorrent connects to it and downloads.
fn libtorrent_downloads_from_hivebt(py: &Path, setup: &Setup, deadline: Deadline) {
    let mut seeder = hivebt_seed(
        "hivebt seed",
        &[&setup.torrent],
        setup.fixture.data_dir(),
        "127.0.0.1:0",
        &setup.dir("state-seed"),
        &[],
    );
    let addr = seeder.listen_addr(deadline);
    let out = setup.dir("lt-out");
    let started = Instant::now();
    let mut leecher = lt_download(py, &setup.torrent, &out, Some(addr));
    let done = leecher.wait_ok(deadline);
    let elapsed = started.elapsed();
    let got = lt_result(&done);
    setup.fixture.check_copy("libtorrent from hivebt", &out);

    let end = seeder.terminate(deadline);
    assert!(
        end.status.success(),
        "hivebt seed exited {} on SIGTERM\nstderr:\n{}",
        end.status,
        end.stderr
    );
    let s = summary("hivebt seed", &end.stderr, &setup.info_hash);
    let total = setup.fixture.total_size() as u64;
    assert!(s.complete, "seeder summary: {}", s.line);
    assert!(
        at_least(s.uploaded, total),
        "the seeder says it uploaded less than the torrent ({total} B): {}",
        s.line
    );
    eprintln!(
        "libtorrent downloaded {} B from hivebt in {elapsed:.2?} (libtorrent: {got}); {}",
        total, s.line
    );
}

/// libtorrent seeds `setup`'s torrent; `hivebt download --peer` fetches it.
fn hivebt_downloads_from_libtorrent(py: &Path, setup: &Setup, deadline: Deadline) {
    let (mut seeder, addr) = lt_seed(py, &setup.torrent, setup.fixture.data_dir(), deadline);
    let out = setup.dir("hivebt-out");
    let started = Instant::now();
    let mut leecher = hivebt_download(
        "hivebt download",
        &setup.torrent,
        &out,
        "127.0.0.1:0",
        &setup.dir("state-download"),
        &[addr],
        &[],
    );
    let done = leecher.wait_ok(deadline);
    let elapsed = started.elapsed();
    setup.fixture.check_copy("hivebt from libtorrent", &out);
    let s = summary("hivebt download", &done.stderr, &setup.info_hash);
    assert!(s.complete, "downloader summary: {}", s.line);
    assert_eq!(s.hash_failures, 0, "downloader summary: {}", s.line);
    assert_eq!(s.peers_used, 1, "downloader summary: {}", s.line);
    let total = setup.fixture.total_size() as u64;
    assert!(
        at_least(s.downloaded, total),
        "the downloader says it downloaded less than the torrent ({total} B): {}",
        s.line
    );

    seeder.close_stdin();
    let lt_done = seeder.wait_ok(deadline);
    let uploaded = lt_result(&lt_done)["uploaded"].as_u64().expect("uploaded");
    assert!(
        uploaded >= total,
        "libtorrent says it uploaded {uploaded} B of a {total} B torrent"
    );
    eprintln!(
        "hivebt downloaded {total} B from libtorrent in {elapsed:.2?}; {}",
        s.line
    );
}

#[test]
fn libtorrent_downloads_single_file_16k_from_hivebt() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::single("lt-from-hb-single-16k", 16 * KIB, "16K", deadline);
    libtorrent_downloads_from_hivebt(&py, &setup, deadline);
}

#[test]
fn libtorrent_downloads_single_file_4m_from_hivebt() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::single("lt-from-hb-single-4m", 4 * MIB, "4M", deadline);
    libtorrent_downloads_from_hivebt(&py, &setup, deadline);
}

#[test]
fn libtorrent_downloads_awkward_dir_16k_from_hivebt() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::awkward("lt-from-hb-dir-16k", 16 * KIB, "16K", deadline);
    libtorrent_downloads_from_hivebt(&py, &setup, deadline);
}

#[test]
fn libtorrent_downloads_awkward_dir_4m_from_hivebt() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::awkward("lt-from-hb-dir-4m", 4 * MIB, "4M", deadline);
    libtorrent_downloads_from_hivebt(&py, &setup, deadline);
}

#[test]
fn hivebt_downloads_single_file_16k_from_libtorrent() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::single("hb-from-lt-single-16k", 16 * KIB, "16K", deadline);
    hivebt_downloads_from_libtorrent(&py, &setup, deadline);
}

#[test]
fn hivebt_downloads_single_file_4m_from_libtorrent() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::single("hb-from-lt-single-4m", 4 * MIB, "4M", deadline);
    hivebt_downloads_from_libtorrent(&py, &setup, deadline);
}

#[test]
fn hivebt_downloads_awkward_dir_16k_from_libtorrent() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::awkward("hb-from-lt-dir-16k", 16 * KIB, "16K", deadline);
    hivebt_downloads_from_libtorrent(&py, &setup, deadline);
}

#[test]
fn hivebt_downloads_awkward_dir_4m_from_libtorrent() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::awkward("hb-from-lt-dir-4m", 4 * MIB, "4M", deadline);
    hivebt_downloads_from_libtorrent(&py, &setup, deadline);
}

// ---------------------------------------------------------------------------------
// 2. IPv6
// ---------------------------------------------------------------------------------

/// `hivebt seed PATH` (a plain file: create, then seed) on `[::1]`, and `hivebt
/// download` from it over `[::1]`.
#[test]
fn hivebt_to_hivebt_over_ipv6_loopback() {
    if let Err(e) = std::net::TcpListener::bind("[::1]:0") {
        eprintln!("SKIP: cannot bind [::1]:0 on this machine ({e})");
        return;
    }
    let deadline = Deadline::start();
    let scratch = Scratch::new("ipv6");
    let fixture = Fixture::single(&scratch, "v6.bin", 3 * MIB + 333, 6);
    let torrent = scratch.path().join("v6.torrent");
    let state = scratch.path().join("state-seed");
    let mut seeder = Peer::spawn(
        "hivebt seed PATH",
        hivebt()
            .arg("seed")
            .arg(&fixture.path)
            .args(["--piece-length", "32K", "--listen", "[::1]:0"])
            // No -t: the embedded tracker starts; keep it on loopback.
            .args(["--tracker-http", "[::1]:0", "--tracker-udp", "[::1]:0"])
            .args(["--announce-host", "::1"])
            .arg("-o")
            .arg(&torrent)
            .arg("--state")
            .arg(&state),
    );
    let printed = seeder.wait_line("torrent ", deadline);
    assert_eq!(
        Path::new(printed.trim()),
        torrent,
        "the 'torrent FILE' line"
    );
    let magnet = seeder.wait_line("magnet ", deadline);
    let addr = seeder.listen_addr(deadline);
    assert!(
        addr.is_ipv6() && addr.ip().is_loopback(),
        "seeder listens on {addr}"
    );
    let info_hash = inspect_json(scratch.path(), torrent.to_str().expect("UTF-8"))["info_hash"]
        .as_str()
        .expect("info_hash")
        .to_string();
    assert!(
        magnet.contains(&format!("xt=urn:btih:{info_hash}")),
        "magnet line {magnet} does not carry info-hash {info_hash}"
    );

    let out = scratch.path().join("out");
    let started = Instant::now();
    let mut leecher = hivebt_download(
        "hivebt download [::1]",
        &torrent,
        &out,
        "[::1]:0",
        &scratch.path().join("state-download"),
        &[addr],
        &[],
    );
    let leecher_addr = leecher.listen_addr(deadline);
    assert!(
        leecher_addr.is_ipv6(),
        "downloader listens on {leecher_addr}"
    );
    let done = leecher.wait_ok(deadline);
    let elapsed = started.elapsed();
    fixture.check_copy("hivebt over [::1]", &out);
    let s = summary("hivebt download", &done.stderr, &info_hash);
    assert!(s.complete && s.hash_failures == 0, "downloader: {}", s.line);
    eprintln!("hivebt downloaded over [::1] in {elapsed:.2?}; {}", s.line);

    let end = seeder.terminate(deadline);
    assert!(
        end.status.success(),
        "seeder exited {}:\n{}",
        end.status,
        end.stderr
    );
    let s = summary("hivebt seed", &end.stderr, &info_hash);
    assert!(
        at_least(s.uploaded, fixture.total_size() as u64),
        "seeder: {}",
        s.line
    );
}

// ---------------------------------------------------------------------------------
// 3. A swarm of hivebt peers
// ---------------------------------------------------------------------------------

/// Whether `hivebt verify` finds every piece of `torrent` under `out`.
fn verified(torrent: &Path, out: &Path, deadline: Deadline) -> bool {
    let mut check = Peer::spawn(
        "hivebt verify",
        hivebt()
            .arg("verify")
            .arg(torrent)
            .arg(out)
            .args(["--threads", "1"]),
    );
    check.close_stdin();
    check.wait(deadline).status.success()
}

/// One seeder limited to 1 MiB/s and three leechers that know each other, all
/// `download --seed`: with a 7 MiB torrent the seeder alone would need about 21 s to
/// serve three copies, so the leechers finish sooner only by trading, and each must
/// report uploading to another leecher.
#[test]
fn hivebt_swarm_leechers_trade_pieces() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("swarm");
    let fixture = Fixture::single(&scratch, "swarm.bin", 7 * MIB + 4_321, 3);
    let setup = Setup::finish(scratch, fixture, 64 * KIB, "64K", deadline);
    let total = setup.fixture.total_size() as u64;

    let started = Instant::now();
    let mut seeder = hivebt_seed(
        "seeder",
        &[&setup.torrent],
        setup.fixture.data_dir(),
        "127.0.0.1:0",
        &setup.dir("state-seeder"),
        &["--max-upload-rate", "1M"],
    );
    let seeder_addr = seeder.listen_addr(deadline);

    let mut leechers: Vec<(Peer, PathBuf)> = Vec::new();
    let mut known = vec![seeder_addr];
    for name in ["A", "B", "C"] {
        let out = setup.dir(&format!("out-{name}"));
        let mut peer = hivebt_download(
            &format!("leecher {name}"),
            &setup.torrent,
            &out,
            "127.0.0.1:0",
            &setup.dir(&format!("state-{name}")),
            &known,
            &["--seed"],
        );
        known.push(peer.listen_addr(deadline));
        leechers.push((peer, out));
    }

    // No peer prints anything on completion, so poll: each round rechecks the
    // leechers not yet complete.
    let mut pending: Vec<usize> = (0..leechers.len()).collect();
    let mut finished_at = vec![Duration::ZERO; leechers.len()];
    while !pending.is_empty() {
        assert!(
            !deadline.passed(),
            "leechers {:?} not complete within {TEST_TIMEOUT:?}",
            pending
                .iter()
                .map(|&i| leechers[i].0.label.clone())
                .collect::<Vec<_>>()
        );
        pending.retain(|&i| {
            let done = verified(&setup.torrent, &leechers[i].1, deadline);
            if done {
                finished_at[i] = started.elapsed();
            }
            !done
        });
        if !pending.is_empty() {
            thread::sleep(Duration::from_millis(250));
        }
    }

    let mut report = Vec::new();
    for (i, (peer, out)) in leechers.iter_mut().enumerate() {
        let end = peer.terminate(deadline);
        assert!(
            end.status.success(),
            "{} exited {} on SIGTERM\nstderr:\n{}",
            peer.label,
            end.status,
            end.stderr
        );
        setup.fixture.check_copy(&peer.label, out);
        let s = summary(&peer.label, &end.stderr, &setup.info_hash);
        assert!(
            s.complete && s.hash_failures == 0,
            "{}: {}",
            peer.label,
            s.line
        );
        report.push((peer.label.clone(), finished_at[i], s));
    }
    let end = seeder.terminate(deadline);
    let seeder_ran = started.elapsed();
    assert!(
        end.status.success(),
        "seeder exited {}:\n{}",
        end.status,
        end.stderr
    );
    let seeder_summary = summary("seeder", &end.stderr, &setup.info_hash);
    // The premise: the seeder kept to its limit (plus a burst and the rounding of the
    // summary), so it could not have served every leecher by itself.
    let allowed = MIB as f64 * seeder_ran.as_secs_f64() * 1.05 + MIB as f64;
    assert!(
        (seeder_summary.uploaded as f64) <= allowed,
        "the seeder ignored --max-upload-rate 1M: uploaded {} B in {seeder_ran:.2?}: {}",
        seeder_summary.uploaded,
        seeder_summary.line
    );

    eprintln!(
        "swarm of {total} B, seeder at 1 MiB/s: {}",
        seeder_summary.line
    );
    for (label, at, s) in &report {
        eprintln!("  {label}: complete after {at:.2?}; {}", s.line);
    }
    for (label, _, s) in &report {
        assert!(
            s.uploaded > 0,
            "{label} uploaded nothing to the other leechers: {}\nseeder: {}",
            s.line,
            seeder_summary.line
        );
    }
    let from_leechers: u64 = report.iter().map(|(_, _, s)| s.uploaded).sum();
    assert!(
        from_leechers > 0 && seeder_summary.uploaded < 3 * total,
        "the leechers did not trade: leechers uploaded {from_leechers} B, seeder {}",
        seeder_summary.line
    );
}

// ---------------------------------------------------------------------------------
// 4. One process, two torrents, one port
// ---------------------------------------------------------------------------------

#[test]
fn hivebt_seeds_two_torrents_on_one_port() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("two-torrents");
    let alpha = Fixture::tree(&scratch, "alpha", &awkward_tree(32 * KIB));
    let beta = Fixture::single(&scratch, "beta.bin", 2 * MIB + 99, 42);
    let torrents = scratch.path().join("torrents");
    std::fs::create_dir_all(&torrents).expect("mkdir");
    let alpha_torrent = torrents.join("alpha.torrent");
    let beta_torrent = torrents.join("beta.torrent");
    create_torrent(&alpha.path, &alpha_torrent, "32K", deadline);
    create_torrent(&beta.path, &beta_torrent, "64K", deadline);
    let hash_of = |t: &Path| {
        inspect_json(scratch.path(), t.to_str().expect("UTF-8"))["info_hash"]
            .as_str()
            .expect("info_hash")
            .to_string()
    };
    let (alpha_hash, beta_hash) = (hash_of(&alpha_torrent), hash_of(&beta_torrent));

    let mut seeder = hivebt_seed(
        "hivebt seed alpha beta",
        &[&alpha_torrent, &beta_torrent],
        alpha.data_dir(),
        "127.0.0.1:0",
        &scratch.path().join("state-seed"),
        &[],
    );
    let addr = seeder.listen_addr(deadline);

    let mut downloads = Vec::new();
    for (name, torrent) in [("alpha", &alpha_torrent), ("beta", &beta_torrent)] {
        let out = scratch.path().join(format!("out-{name}"));
        let peer = hivebt_download(
            &format!("hivebt download {name}"),
            torrent,
            &out,
            "127.0.0.1:0",
            &scratch.path().join(format!("state-{name}")),
            &[addr],
            &[],
        );
        downloads.push((peer, out));
    }
    let mut outs = Vec::new();
    for ((peer, out), (fixture, hash)) in downloads
        .iter_mut()
        .zip([(&alpha, &alpha_hash), (&beta, &beta_hash)])
    {
        let done = peer.wait_ok(deadline);
        fixture.check_copy(&peer.label, out);
        let s = summary(&peer.label, &done.stderr, hash);
        assert!(
            s.complete && s.hash_failures == 0,
            "{}: {}",
            peer.label,
            s.line
        );
        outs.push(s);
    }

    let end = seeder.terminate(deadline);
    assert!(
        end.status.success(),
        "seeder exited {}:\n{}",
        end.status,
        end.stderr
    );
    for (fixture, hash) in [(&alpha, &alpha_hash), (&beta, &beta_hash)] {
        let s = summary("hivebt seed", &end.stderr, hash);
        assert!(
            at_least(s.uploaded, fixture.total_size() as u64),
            "the seeder's line for {} says it uploaded less than the torrent: {}",
            fixture.name(),
            s.line
        );
        eprintln!("{}", s.line);
    }
}

// ---------------------------------------------------------------------------------
// 5. Other directions with libtorrent
// ---------------------------------------------------------------------------------

/// `hivebt seed --peer` dials a libtorrent leecher that only listens: the seeder's
/// outgoing connection, and libtorrent accepting it.
#[test]
fn hivebt_seed_dials_a_libtorrent_leecher() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let setup = Setup::awkward("hb-dials-lt", 32 * KIB, "32K", deadline);
    let out = setup.dir("lt-out");
    let mut leecher = lt_download(&py, &setup.torrent, &out, None);
    let lt_addr = leecher.listen_addr(deadline);
    let mut seeder = hivebt_seed(
        "hivebt seed --peer",
        &[&setup.torrent],
        setup.fixture.data_dir(),
        "127.0.0.1:0",
        &setup.dir("state-seed"),
        &["--peer", &lt_addr.to_string()],
    );
    seeder.listen_addr(deadline);
    leecher.wait_ok(deadline);
    setup
        .fixture
        .check_copy("libtorrent dialled by hivebt", &out);
    let end = seeder.terminate(deadline);
    assert!(
        end.status.success(),
        "seeder exited {}:\n{}",
        end.status,
        end.stderr
    );
    let s = summary("hivebt seed", &end.stderr, &setup.info_hash);
    assert!(
        at_least(s.uploaded, setup.fixture.total_size() as u64),
        "seeder: {}",
        s.line
    );
}

/// libtorrent knows only a hivebt leecher (`download --seed`) that is itself fetching
/// from a seeder limited to 1 MiB/s, so every piece libtorrent gets is one the leecher
/// verified and announced (HAVE) while downloading.
#[test]
fn libtorrent_downloads_through_a_hivebt_leecher() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let scratch = Scratch::new("lt-via-relay");
    let fixture = Fixture::single(&scratch, "relay.bin", 4 * MIB + 777, 11);
    let setup = Setup::finish(scratch, fixture, 32 * KIB, "32K", deadline);
    let total = setup.fixture.total_size() as u64;

    let mut seeder = hivebt_seed(
        "seeder",
        &[&setup.torrent],
        setup.fixture.data_dir(),
        "127.0.0.1:0",
        &setup.dir("state-seeder"),
        &["--max-upload-rate", "1M"],
    );
    let seeder_addr = seeder.listen_addr(deadline);
    let relay_out = setup.dir("relay-out");
    let relay_started = Instant::now();
    let mut relay = hivebt_download(
        "relay (hivebt download --seed)",
        &setup.torrent,
        &relay_out,
        "127.0.0.1:0",
        &setup.dir("state-relay"),
        &[seeder_addr],
        &["--seed"],
    );
    let relay_addr = relay.listen_addr(deadline);
    let lt_out = setup.dir("lt-out");
    let lt_joined_after = relay_started.elapsed();
    let mut leecher = lt_download(&py, &setup.torrent, &lt_out, Some(relay_addr));
    let got = lt_result(&leecher.wait_ok(deadline));
    setup
        .fixture
        .check_copy("libtorrent via a hivebt leecher", &lt_out);

    let end = relay.terminate(deadline);
    assert!(
        end.status.success(),
        "relay exited {}:\n{}",
        end.status,
        end.stderr
    );
    setup.fixture.check_copy("relay", &relay_out);
    let s = summary("relay", &end.stderr, &setup.info_hash);
    eprintln!(
        "libtorrent joined {lt_joined_after:.2?} after the relay started; libtorrent: {got}; relay: {}",
        s.line
    );
    assert!(s.complete && s.hash_failures == 0, "relay: {}", s.line);
    assert!(
        at_least(s.uploaded, total),
        "the relay did not upload the torrent to libtorrent: {}",
        s.line
    );
    let relay_took = s.seconds;
    assert!(
        lt_joined_after.as_secs_f64() < relay_took,
        "the relay finished ({relay_took} s) before libtorrent joined ({lt_joined_after:.2?}): \
         nothing was relayed while downloading"
    );
    // libtorrent loses the relay when its last HAVE arrives (see tests/py/lt_peer.py)
    // and redials it 1 s later; anything much slower is a stall.
    let lt_took = got["seconds"].as_f64().expect("seconds");
    assert!(
        lt_took < relay_took + 30.0,
        "libtorrent took {lt_took:.1} s through a relay that was complete after {relay_took} s"
    );
    seeder.terminate(deadline);
}
