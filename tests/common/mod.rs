//! Helpers shared by the integration tests: the binary under test and its commands,
//! scratch directories, deterministic content, and the interop-client gate. [`proc`]
//! is the child-process harness every test uses, [`clients`] drives the reference
//! clients, [`fixture`] makes content and torrents of it, and [`summary`] reads the
//! line hivebt prints per torrent at exit.
#![allow(dead_code)]

pub mod clients;
pub mod daemon;
pub mod fixture;
pub mod proc;
pub mod summary;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proc::{Deadline, run_ok};

pub const KIB: usize = 1 << 10;
pub const MIB: usize = 1 << 20;

/// The `hivebt` binary cargo built for this test run.
pub fn hivebt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hivebt"))
}

/// Runs `hivebt` with `args` in `cwd` and returns its output; fails the test if it
/// runs longer than [`proc::TEST_TIMEOUT`].
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    let label = format!("hivebt {}", args.join(" "));
    let cmd = &mut hivebt();
    proc::run(&label, cmd.args(args).current_dir(cwd), Deadline::start()).into_output()
}

/// A path as `&str` for an argument list.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `hivebt create TARGET -o OUT --no-date --piece-length PIECE -t T...` (one tier per
/// entry of `trackers`; commas inside one entry make a tier of several).
pub fn create_torrent(
    target: &Path,
    out: &Path,
    piece: &str,
    trackers: &[&str],
    deadline: Deadline,
) {
    let mut cmd = hivebt();
    cmd.arg("create")
        .arg(target)
        .arg("-o")
        .arg(out)
        .args(["--no-date", "--piece-length", piece]);
    for t in trackers {
        cmd.args(["-t", t]);
    }
    run_ok("hivebt create", &mut cmd, deadline);
}

/// `hivebt seed TORRENTS... --data DATA --listen LISTEN --state STATE`.
pub fn seed_cmd(torrents: &[&Path], data: &Path, listen: &str, state: &Path) -> Command {
    let mut cmd = hivebt();
    cmd.arg("seed")
        .args(["--no-dht", "--no-lsd"])
        .args(torrents)
        .arg("--data")
        .arg(data)
        .args(["--listen", listen])
        .arg("--state")
        .arg(state);
    cmd
}

/// `hivebt download TORRENT --out OUT --listen LISTEN --state STATE --peer P...`.
pub fn download_cmd(
    torrent: &Path,
    out: &Path,
    listen: &str,
    state: &Path,
    peers: &[SocketAddr],
) -> Command {
    let mut cmd = hivebt();
    cmd.arg("download")
        .args(["--no-dht", "--no-lsd"])
        .arg(torrent)
        .arg("--out")
        .arg(out)
        .args(["--listen", listen])
        .arg("--state")
        .arg(state);
    for p in peers {
        cmd.arg("--peer").arg(p.to_string());
    }
    cmd
}

/// Exit code of a finished process (-1 when killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh, empty directory under the system temp dir, unique to this test.
    pub fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hivebt-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self/rel`, creating parent directories, written with `data`.
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, data).expect("write file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` bytes of deterministic pseudo-random content seeded by `seed` (xorshift).
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Whether CI demands every interop client (`HIVEBT_REQUIRE_INTEROP=1`).
pub fn interop_required() -> bool {
    std::env::var("HIVEBT_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// Finds `program` on PATH (or as an absolute path). When it is missing the test
/// prints SKIP and returns `None`, unless interop is required, in which case it fails.
pub fn require_tool(program: &str) -> Option<PathBuf> {
    let found = if program.starts_with('/') {
        Some(PathBuf::from(program)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        assert!(
            !interop_required(),
            "{program} is required (HIVEBT_REQUIRE_INTEROP=1) but not installed"
        );
        eprintln!("SKIP: {program} not installed");
    }
    found
}

/// Debian's python3 with the libtorrent module (INTEROP.md: not the python3 first on
/// PATH). `None` (SKIP) when it cannot import libtorrent, failing under
/// `HIVEBT_REQUIRE_INTEROP=1`.
pub fn require_libtorrent() -> Option<PathBuf> {
    let py = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&py)
        .args(["-c", "import libtorrent"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !interop_required(),
            "python3-libtorrent is required (HIVEBT_REQUIRE_INTEROP=1) but /usr/bin/python3 cannot import it"
        );
        eprintln!("SKIP: python3-libtorrent not installed");
        return None;
    }
    Some(py)
}

/// Parses `hivebt inspect --json FILE` output.
pub fn inspect_json(cwd: &Path, target: &str) -> serde_json::Value {
    let out = run(cwd, &["inspect", "--json", target]);
    assert_eq!(code(&out), 0, "inspect failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

/// Debian's `transmission-remote` (transmission-cli), for the Transmission RPC tests.
/// `None` (SKIP) when it is missing, failing under `HIVEBT_REQUIRE_INTEROP=1`.
pub fn require_transmission_remote() -> Option<PathBuf> {
    require_tool("transmission-remote")
}

/// The Python of the venv `tools/test` makes with the PyPI `qbittorrent-api` client
/// (`target/qbt-venv`). `None` (SKIP) when it is missing or cannot import the client,
/// failing under `HIVEBT_REQUIRE_INTEROP=1`.
pub fn require_qbittorrent_api() -> Option<PathBuf> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/qbt-venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import qbittorrentapi"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !interop_required(),
            "qbittorrent-api is required (HIVEBT_REQUIRE_INTEROP=1) but {} cannot import it (tools/test makes the venv)",
            py.display()
        );
        eprintln!("SKIP: qbittorrent-api not installed in target/qbt-venv");
        return None;
    }
    Some(py)
}
