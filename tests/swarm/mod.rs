//! Helpers for the tests that run hivebt's peer engine: `hivebt` child processes that
//! are killed when dropped, a torrent fixture with its content kept in memory, a
//! scripted peer-wire client, and scripted fake seeders (corrupt, stalling, malformed),
//! all speaking through hivebt's own codec.
//!
//! Everything is on loopback with ephemeral ports, every blocking read has a timeout,
//! and every wait has a deadline that fails the test with the child's stderr.
#![allow(dead_code)]

mod fake;
mod wire;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hivebt::types::{BlockRef, InfoHash, PieceIndex};
use hivebt::wire::metainfo::Metainfo;

use crate::common::proc::{Deadline, Proc, Stream, run, run_ok};
use crate::common::{Scratch, content, hivebt};

// Each test binary uses a different part of these.
#[allow(unused_imports)]
pub use fake::{FakeSeeder, Script, Seen};
#[allow(unused_imports)]
pub use wire::{End, Got, Wire, brief, check_still_serving, test_peer_id};

/// The longest any single wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// Read timeout on every test socket: a read that sees nothing for this long fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Block size hivebt and these tests use.
pub const BLOCK: u32 = 16 * 1024;

pub use crate::common::s;

// ---------------------------------------------------------------------------------
// The torrent under test.

/// A single-file torrent of deterministic content, created with `hivebt create`.
pub struct Fixture {
    /// Holds everything below.
    pub scratch: Scratch,
    /// The .torrent file.
    pub torrent: PathBuf,
    /// The directory that holds the content file (`--data` for a seeder).
    pub data: PathBuf,
    /// The file name, which is also the torrent name.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// Piece length.
    pub piece_len: u32,
    /// Number of pieces.
    pub pieces: u32,
    /// The info-hash.
    pub info_hash: InfoHash,
}

impl Fixture {
    /// `len` bytes in pieces of `piece_len` (a power of two, at least 16 KiB).
    pub fn new(tag: &str, len: usize, piece_len: u32, seed: u64) -> Fixture {
        let scratch = Scratch::new(tag);
        let name = format!("{tag}.bin");
        let bytes = content(len, seed);
        let file = scratch.write(&format!("data/{name}"), &bytes);
        let torrent = scratch.path().join(format!("{tag}.torrent"));
        let mut create = hivebt();
        create
            .args(["create", s(&file), "-o", s(&torrent), "--no-date"])
            .args(["--piece-length", &piece_len.to_string()]);
        run_ok("hivebt create", &mut create, Deadline::after(WAIT));
        let meta = Metainfo::from_bytes(&std::fs::read(&torrent).expect("read torrent"))
            .expect("hivebt create wrote a torrent hivebt can load");
        assert_eq!(meta.info.piece_length, u64::from(piece_len));
        assert_eq!(meta.info.total_length, len as u64);
        Fixture {
            data: scratch.path().join("data"),
            scratch,
            torrent,
            name,
            bytes,
            piece_len,
            pieces: meta.info.pieces.len() as u32,
            info_hash: meta.info_hash,
        }
    }

    /// Total size.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Length of piece `piece` (the last one may be short).
    pub fn piece_size(&self, piece: u32) -> u32 {
        let start = u64::from(piece) * u64::from(self.piece_len);
        (self.len() - start).min(u64::from(self.piece_len)) as u32
    }

    /// A block of the content.
    pub fn block(&self, piece: u32, offset: u32, len: u32) -> BlockRef {
        BlockRef {
            piece: PieceIndex(piece),
            offset,
            len,
        }
    }

    /// The bytes of `b`.
    pub fn data_of(&self, b: BlockRef) -> &[u8] {
        let start = b.piece.0 as usize * self.piece_len as usize + b.offset as usize;
        &self.bytes[start..start + b.len as usize]
    }

    /// Every block of the torrent, in order; the last one of the last piece may be
    /// short.
    pub fn all_blocks(&self) -> Vec<BlockRef> {
        let mut out = Vec::new();
        for p in 0..self.pieces {
            let size = self.piece_size(p);
            let mut off = 0;
            while off < size {
                out.push(self.block(p, off, BLOCK.min(size - off)));
                off += BLOCK;
            }
        }
        out
    }

    /// A fresh directory under the fixture's scratch.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let d = self.scratch.path().join(rel);
        std::fs::create_dir_all(&d).expect("create dir");
        d
    }

    /// Where `hivebt download --out DIR` puts the content.
    pub fn downloaded(&self, out: &Path) -> PathBuf {
        out.join(&self.name)
    }

    /// Fails unless the file at `path` is exactly the content.
    pub fn assert_identical(&self, path: &Path) {
        let got =
            std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert_eq!(
            got.len(),
            self.bytes.len(),
            "{}: wrong size",
            path.display()
        );
        if let Some(i) = got.iter().zip(&self.bytes).position(|(a, b)| a != b) {
            panic!(
                "{}: differs from the content at byte {i} (piece {})",
                path.display(),
                i / self.piece_len as usize
            );
        }
    }

    /// `hivebt seed` of the fixture's content on 127.0.0.1, ready to accept peers.
    pub fn seeder(&self, extra: &[&str]) -> Hivebt {
        self.start_seeder(extra, &[])
    }

    /// The same, with debug logging of closed connections (`closed ADDR (reason)`).
    pub fn logging_seeder(&self, extra: &[&str]) -> Hivebt {
        self.start_seeder(
            extra,
            &[("RUST_LOG", "hivebt::engine=debug,hivebt::reactor=debug")],
        )
    }

    /// `hivebt seed` of `torrents` (whose content is the fixture's data directory) on
    /// 127.0.0.1, ready to accept peers.
    pub fn seeder_of(&self, torrents: &[&Path]) -> Hivebt {
        self.start_seeder_of(torrents, &[], &[])
    }

    fn start_seeder(&self, extra: &[&str], env: &[(&str, &str)]) -> Hivebt {
        self.start_seeder_of(&[&self.torrent], extra, env)
    }

    fn start_seeder_of(&self, torrents: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> Hivebt {
        let state = self.dir(&format!("seed-state-{}", unique()));
        let mut args = vec!["seed", "--no-dht", "--no-lsd"];
        args.extend(torrents.iter().map(|t| s(t)));
        args.extend([
            "--data",
            s(&self.data),
            "--listen",
            "127.0.0.1:0",
            "--state",
            s(&state),
        ]);
        args.extend_from_slice(extra);
        let mut h = Hivebt::spawn("seeder", &args, env);
        h.wait_listening();
        h
    }
}

fn unique() -> u32 {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------
// hivebt child processes.

/// A running `hivebt` under the harness of tests/common/proc.rs (killed and reaped
/// when dropped), with `RUST_LOG` unset unless asked for, and the address it listens
/// on once [`Hivebt::wait_listening`] read it.
pub struct Hivebt {
    proc: Proc,
    /// The address from its `listening on ADDR` line.
    pub addr: Option<SocketAddr>,
}

impl Hivebt {
    /// Starts `hivebt ARGS` with extra environment variables; `what` names it in
    /// failure messages.
    pub fn spawn<S: AsRef<OsStr>>(what: &str, args: &[S], env: &[(&str, &str)]) -> Hivebt {
        let mut cmd = hivebt();
        cmd.args(args).env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Hivebt {
            proc: Proc::spawn(what, &mut cmd),
            addr: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// Waits for the `listening on ADDR` line and returns the address.
    pub fn wait_listening(&mut self) -> SocketAddr {
        let addr = self.proc.listen_addr(Deadline::after(WAIT));
        self.addr = Some(addr);
        addr
    }

    /// The listening address as `HOST:PORT`.
    pub fn peer_arg(&self) -> String {
        self.addr.expect("wait_listening first").to_string()
    }

    /// Waits until a line of stderr contains `needle`; false after `timeout`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        self.proc
            .try_wait_for(Stream::Stderr, Deadline::after(timeout), |l| {
                l.contains(needle)
            })
            .is_some()
    }

    /// As [`Hivebt::wait_stderr`], failing the test on timeout.
    pub fn expect_stderr(&self, needle: &str, timeout: Duration) {
        assert!(
            self.wait_stderr(needle, timeout),
            "{}: stderr never showed {needle:?} within {timeout:?}; stderr:\n{}",
            self.proc.label,
            self.stderr()
        );
    }

    /// Sends `signal` (`libc::SIGTERM`, `SIGKILL`, `SIGINT`) to the process.
    pub fn signal(&mut self, signal: libc::c_int) {
        self.proc.signal(signal);
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.proc.exited().is_none()
    }

    /// Waits for the process to exit and for its output to be read to the end; fails
    /// the test after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.proc.wait(Deadline::after(timeout)).status
    }

    /// SIGTERM, then waits for a clean exit (code 0 for a seeder) and returns stderr.
    pub fn stop(&mut self) -> String {
        let end = self.proc.terminate(Deadline::after(WAIT));
        assert_eq!(
            end.status.code(),
            Some(0),
            "{}: exit after SIGTERM: {}; stderr:\n{}",
            self.proc.label,
            end.status,
            end.stderr
        );
        assert_no_panic(&self.proc.label, &end.stderr);
        end.stderr
    }

    /// Time since the process was started.
    pub fn elapsed(&self) -> Duration {
        self.proc.elapsed()
    }

    /// The summary line for the torrent (`<infohash> <name>: complete|incomplete, ...`).
    pub fn summary(&self, info_hash: &InfoHash) -> Summary {
        let err = self.stderr();
        let prefix = format!("{} ", info_hash.to_hex());
        let line = err
            .lines()
            .rev()
            .find(|l| l.starts_with(&prefix) && l.contains(" hash failures"))
            .unwrap_or_else(|| panic!("{}: no summary line; stderr:\n{err}", self.proc.label));
        Summary::parse(line)
    }
}

/// Fails if `text` shows a Rust panic.
pub fn assert_no_panic(what: &str, text: &str) {
    assert!(
        !text.contains("panicked"),
        "{what} panicked; stderr:\n{text}"
    );
}

/// The summary line hivebt prints per torrent at exit.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The whole line.
    pub line: String,
    /// `complete` rather than `incomplete`.
    pub complete: bool,
    /// Bytes downloaded, from the human-readable figure (one decimal of its unit).
    pub downloaded: f64,
    /// The unit step of that figure, for tolerances (0.1 of the unit).
    pub downloaded_precision: f64,
    /// Bytes uploaded (as above).
    pub uploaded: f64,
    /// Peers used.
    pub peers_used: u64,
    /// Pieces that failed their hash check.
    pub hash_failures: u64,
}

impl Summary {
    fn parse(line: &str) -> Summary {
        Summary::try_parse(line).unwrap_or_else(|| panic!("unexpected summary line: {line}"))
    }

    fn try_parse(line: &str) -> Option<Summary> {
        let (_, rest) = line.split_once(": ")?;
        let complete = rest.starts_with("complete,");
        let field = |key: &str| -> Option<&str> {
            let at = rest.find(key)? + key.len();
            let tail = &rest[at..];
            let end = [" in ", ",", " ("]
                .iter()
                .filter_map(|sep| tail.find(sep))
                .min()
                .unwrap_or(tail.len());
            Some(tail[..end].trim())
        };
        let count = |suffix: &str| -> Option<u64> {
            let end = rest.find(suffix)?;
            let start = rest[..end].rfind(' ').map_or(0, |i| i + 1);
            rest[start..end].parse().ok()
        };
        let (downloaded, downloaded_precision) = human(field("downloaded ")?)?;
        let (uploaded, _) = human(field("uploaded ")?)?;
        Some(Summary {
            line: line.to_string(),
            complete,
            downloaded,
            downloaded_precision,
            uploaded,
            peers_used: count(" peers used")?,
            hash_failures: count(" hash failures")?,
        })
    }
}

/// `1.5 MiB` -> (1572864.0, 104857.6): the value and 0.1 of its unit.
fn human(text: &str) -> Option<(f64, f64)> {
    let (num, unit) = text.split_once(' ')?;
    let v: f64 = num.parse().ok()?;
    let scale = match unit {
        "B" => return Some((v, 1.0)),
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((v * scale, 0.1 * scale))
}

/// `hivebt download` of the fixture into a fresh directory, with its own state
/// directory, listening on 127.0.0.1:0.
pub struct Download {
    /// The `--out` directory.
    pub out: PathBuf,
    /// The `--state` directory.
    pub state: PathBuf,
}

impl Download {
    /// Fresh directories under the fixture's scratch.
    pub fn new(fx: &Fixture, tag: &str) -> Download {
        Download {
            out: fx.dir(&format!("{tag}-out")),
            state: fx.dir(&format!("{tag}-state")),
        }
    }

    /// Starts the downloader against `peers`, with extra arguments and environment.
    pub fn start(
        &self,
        fx: &Fixture,
        peers: &[String],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Hivebt {
        let mut args: Vec<String> = vec![
            "download".into(),
            "--no-dht".into(),
            "--no-lsd".into(),
            s(&fx.torrent).into(),
            "--out".into(),
            s(&self.out).into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--state".into(),
            s(&self.state).into(),
        ];
        for p in peers {
            args.push("--peer".into());
            args.push(p.clone());
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut h = Hivebt::spawn("downloader", &args, env);
        h.wait_listening();
        h
    }
}

/// `hivebt verify --json` of a download: the number of verified pieces.
pub fn verified_pieces(fx: &Fixture, out: &Path) -> u64 {
    let mut verify = hivebt();
    verify.args(["verify", "--json", s(&fx.torrent), s(out)]);
    let o = run("hivebt verify", &mut verify, Deadline::after(WAIT)).into_output();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    v["pieces"]["verified"]
        .as_u64()
        .expect("pieces.verified in verify --json")
}

/// A process's resident memory in KiB, from `/proc`.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A process's CPU time (user and system) in milliseconds, from `/proc` (10 ms steps).
pub fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports them in USER_HZ, which is 100 on every architecture it supports.
    ticks * 10
}
