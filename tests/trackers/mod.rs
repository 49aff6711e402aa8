//! Helpers for tests/tracker.rs and tests/tracker_interop.rs: child processes that are
//! killed when dropped and whose output lines can be waited for, `hivebt tracker`,
//! `seed` and `download` children, content fixtures compared by SHA-256, free loopback
//! ports, and bounded polling. [`http`] speaks raw HTTP and bencode to a tracker,
//! [`udp`] BEP 15, and [`clients`] drives aria2, Transmission, libtorrent and
//! opentracker.
//!
//! Every process binds 127.0.0.1 or ::1, every wait has a [`Deadline`] and fails the
//! test with the stdout and stderr of every child when it passes, and every child is
//! killed when its [`Proc`] guard drops.
#![allow(dead_code)]

pub mod clients;
pub mod http;
pub mod udp;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::common::{Scratch, content, hivebt, inspect_json};

/// The most any one test may take, from its first command to its last check.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How often a condition that nothing announces (a tracker's swarm, a client's
/// progress over RPC) is looked at again.
pub const POLL: Duration = Duration::from_millis(100);

pub const KIB: usize = 1 << 10;
pub const MIB: usize = 1 << 20;

/// A path as `&str` for an argument list.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

// ---------------------------------------------------------------------------------
// Deadlines

/// The point in time by which a test must be done.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// [`TEST_TIMEOUT`] from now.
    pub fn start() -> Deadline {
        Deadline(Instant::now() + TEST_TIMEOUT)
    }

    /// `d` from now, or the test's deadline if that comes first.
    pub fn within(self, d: Duration) -> Deadline {
        Deadline(self.0.min(Instant::now() + d))
    }

    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}

/// Calls `probe` every [`POLL`] until it returns `Some`, failing with `what` (and
/// `context()`, which is where the children's output goes) once `deadline` passes.
pub fn poll_until<T>(
    what: &str,
    deadline: Deadline,
    context: impl Fn() -> String,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            !deadline.passed(),
            "timed out waiting for {what}\n{}",
            context()
        );
        thread::sleep(POLL.min(deadline.remaining()));
    }
}

// ---------------------------------------------------------------------------------
// Child processes

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

enum Event {
    Line(Stream, String),
    Closed(Stream),
}

/// A running child, killed and reaped when dropped. Its stdout and stderr lines are
/// kept and can be waited for; when a test panics every live guard prints what its
/// child wrote, which is where hivebt's log goes (`RUST_LOG=debug`).
pub struct Proc {
    pub label: String,
    desc: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Event>,
    lines: Vec<(Stream, String)>,
    /// Everything read so far, shared with the reader threads for failure messages.
    log: Arc<Mutex<String>>,
    open: [bool; 2],
    status: Option<ExitStatus>,
}

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Proc {
    /// Starts `cmd` with piped stdin (kept open until [`Proc::close_stdin`]), stdout
    /// and stderr.
    pub fn spawn(label: &str, cmd: &mut Command) -> Proc {
        let desc = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start {desc}: {e}"));
        let (tx, events) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        reader(Stream::Stdout, out, tx.clone(), Arc::clone(&log));
        reader(Stream::Stderr, err, tx, Arc::clone(&log));
        Proc {
            label: label.to_string(),
            desc,
            stdin: child.stdin.take(),
            child,
            events,
            lines: Vec::new(),
            log,
            open: [true, true],
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child wrote so far, both streams interleaved as read.
    pub fn output(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// A block naming the child and quoting its output, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "----- {} (pid {}): {}\n{}",
            self.label,
            self.pid(),
            self.desc,
            self.output()
        )
    }

    fn take(&mut self, event: Event) -> Option<(Stream, String)> {
        match event {
            Event::Line(stream, line) => {
                self.lines.push((stream, line.clone()));
                Some((stream, line))
            }
            Event::Closed(stream) => {
                self.open[stream as usize] = false;
                None
            }
        }
    }

    /// Takes whatever lines have arrived, without waiting.
    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.take(event);
        }
    }

    /// Lines of `stream` so far.
    pub fn lines(&mut self, stream: Stream) -> Vec<String> {
        self.drain();
        self.lines
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Waits for a line of `stream` that `matches` and returns it.
    pub fn wait_for(
        &mut self,
        stream: Stream,
        what: &str,
        deadline: Deadline,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        if let Some((_, l)) = self.lines.iter().find(|(s, l)| *s == stream && matches(l)) {
            return l.clone();
        }
        loop {
            if !self.open[stream as usize] {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "{}: {stream:?} closed ({status:?}) before {what}\n{}",
                    self.label,
                    self.report()
                );
            }
            match self.events.recv_timeout(deadline.remaining()) {
                Ok(event) => {
                    if let Some((s, line)) = self.take(event) {
                        if s == stream && matches(&line) {
                            return line;
                        }
                    }
                }
                Err(_) => panic!(
                    "{}: no {what} within the deadline\n{}",
                    self.label,
                    self.report()
                ),
            }
        }
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it.
    pub fn wait_line(&mut self, prefix: &str, deadline: Deadline) -> String {
        let line = self.wait_for(
            Stream::Stdout,
            &format!("'{prefix}...' line on stdout"),
            deadline,
            |l| l.starts_with(prefix),
        );
        line[prefix.len()..].to_string()
    }

    /// The address on the first stdout line starting with `prefix`.
    pub fn wait_addr(&mut self, prefix: &str, deadline: Deadline) -> SocketAddr {
        let rest = self.wait_line(prefix, deadline);
        rest.trim().parse().unwrap_or_else(|e| {
            panic!(
                "{}: bad address in '{prefix}{rest}': {e}\n{}",
                self.label,
                self.report()
            )
        })
    }

    /// The address from the first `listening on ADDR` line.
    pub fn listen_addr(&mut self, deadline: Deadline) -> SocketAddr {
        self.wait_addr("listening on ", deadline)
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Whether the child has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends SIGTERM and waits for the child to exit.
    pub fn terminate(&mut self, deadline: Deadline) -> Finished {
        if self.exited().is_none() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            let rc = unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
            assert_eq!(rc, 0, "{}: kill -TERM failed", self.label);
        }
        self.wait(deadline)
    }

    /// Waits for the child to exit (both pipes closed, then its status).
    pub fn wait(&mut self, deadline: Deadline) -> Finished {
        while self.open.iter().any(|o| *o) {
            match self.events.recv_timeout(deadline.remaining()) {
                Ok(event) => {
                    self.take(event);
                }
                Err(_) => panic!(
                    "{}: still running at the deadline\n{}",
                    self.label,
                    self.report()
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
            stdout: self.lines(Stream::Stdout),
            stderr: self.lines(Stream::Stderr).join("\n"),
        }
    }

    /// [`Proc::wait`], failing the test unless the child exits 0.
    pub fn wait_ok(&mut self, deadline: Deadline) -> Finished {
        let done = self.wait(deadline);
        assert!(
            done.status.success(),
            "{} failed ({})\n{}",
            self.label,
            done.status,
            self.report()
        );
        done
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

fn reader(
    stream: Stream,
    mut pipe: impl Read + Send + 'static,
    tx: mpsc::Sender<Event>,
    log: Arc<Mutex<String>>,
) {
    thread::spawn(move || {
        let mut r = BufReader::new(&mut pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    {
                        let mut log = log.lock().expect("log lock");
                        if stream == Stream::Stderr {
                            log.push_str("[stderr] ");
                        }
                        log.push_str(&line);
                        log.push('\n');
                    }
                    if tx.send(Event::Line(stream, line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::Closed(stream));
    });
}

/// Runs `cmd` to completion within `deadline`, failing the test unless it exits 0.
pub fn run_ok(label: &str, cmd: &mut Command, deadline: Deadline) -> Finished {
    let mut p = Proc::spawn(label, cmd);
    p.close_stdin();
    p.wait_ok(deadline)
}

/// Output of every guard in `procs`, for failure messages.
pub fn reports(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| p.report())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------
// Free ports

/// A TCP port on 127.0.0.1 that was free a moment ago (for clients that cannot be
/// told to bind port 0 and report it).
pub fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let u = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    u.local_addr().expect("local addr").port()
}

/// A port free on 127.0.0.1 for both TCP and UDP a moment ago.
pub fn free_port_both() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1");
}

// ---------------------------------------------------------------------------------
// hivebt children

/// A running `hivebt tracker` and the addresses it printed.
pub struct TrackerProc {
    pub proc: Proc,
    pub http: Vec<SocketAddr>,
    pub udp: Vec<SocketAddr>,
}

impl TrackerProc {
    /// `hivebt tracker --http H... --udp U... EXTRA...`; returns once every listener
    /// printed its `tracker http on ADDR` / `tracker udp on ADDR` line.
    pub fn start(http: &[&str], udp: &[&str], extra: &[&str], deadline: Deadline) -> TrackerProc {
        let mut cmd = hivebt();
        cmd.arg("tracker");
        for h in http {
            cmd.args(["--http", h]);
        }
        for u in udp {
            cmd.args(["--udp", u]);
        }
        cmd.args(extra);
        let mut proc = Proc::spawn("hivebt tracker", &mut cmd);
        let (mut got_http, mut got_udp) = (Vec::new(), Vec::new());
        for _ in http {
            let line = proc.wait_for(Stream::Stdout, "'tracker http on ADDR'", deadline, |l| {
                l.starts_with("tracker http on ") && !seen(&got_http, l)
            });
            got_http.push(parse_tail(&proc, &line, "tracker http on "));
        }
        for _ in udp {
            let line = proc.wait_for(Stream::Stdout, "'tracker udp on ADDR'", deadline, |l| {
                l.starts_with("tracker udp on ") && !seen(&got_udp, l)
            });
            got_udp.push(parse_tail(&proc, &line, "tracker udp on "));
        }
        TrackerProc {
            proc,
            http: got_http,
            udp: got_udp,
        }
    }

    /// A tracker on 127.0.0.1 with one HTTP and one UDP listener.
    pub fn loopback(extra: &[&str], deadline: Deadline) -> TrackerProc {
        TrackerProc::start(&["127.0.0.1:0"], &["127.0.0.1:0"], extra, deadline)
    }

    /// `http://ADDR/announce` of the first HTTP listener.
    pub fn http_url(&self) -> String {
        format!("http://{}/announce", self.http[0])
    }

    /// `udp://ADDR/announce` of the first UDP listener.
    pub fn udp_url(&self) -> String {
        format!("udp://{}/announce", self.udp[0])
    }

    /// `GET /stats` from the first HTTP listener, parsed.
    pub fn stats(&self) -> serde_json::Value {
        http::stats(self.http[0])
    }
}

fn seen(addrs: &[SocketAddr], line: &str) -> bool {
    addrs.iter().any(|a| line.ends_with(&a.to_string()))
}

fn parse_tail(proc: &Proc, line: &str, prefix: &str) -> SocketAddr {
    line[prefix.len()..].trim().parse().unwrap_or_else(|e| {
        panic!(
            "{}: bad address in '{line}': {e}\n{}",
            proc.label,
            proc.report()
        )
    })
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

/// `hivebt seed TORRENT --data DATA --listen 127.0.0.1:0 --state STATE EXTRA...`,
/// with `RUST_LOG=debug` so a failure shows the tracker traffic.
pub fn hivebt_seed(label: &str, torrent: &Path, data: &Path, state: &Path, extra: &[&str]) -> Proc {
    Proc::spawn(
        label,
        hivebt()
            .env("RUST_LOG", "debug")
            .arg("seed")
            .arg(torrent)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state")
            .arg(state)
            .args(extra),
    )
}

/// `hivebt download TORRENT --out OUT --listen 127.0.0.1:0 --state STATE EXTRA...`
/// (no `--peer`: peers come from trackers), with `RUST_LOG=debug`.
pub fn hivebt_download(
    label: &str,
    torrent: &Path,
    out: &Path,
    state: &Path,
    extra: &[&str],
) -> Proc {
    Proc::spawn(
        label,
        hivebt()
            .env("RUST_LOG", "debug")
            .arg("download")
            .arg(torrent)
            .arg("--out")
            .arg(out)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state")
            .arg(state)
            .args(extra),
    )
}

/// The summary line `hivebt seed`/`download` prints for `info_hash` at exit.
pub fn summary_line<'a>(label: &str, stderr: &'a str, info_hash: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.starts_with(info_hash) && l.contains(" peers used"))
        .unwrap_or_else(|| panic!("{label}: no summary line for {info_hash} in:\n{stderr}"))
}

// ---------------------------------------------------------------------------------
// Content

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> String {
    let data =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    hex(&Sha256::digest(&data))
}

/// Content under `scratch/src/`, a torrent of it, and the SHA-256 of every file.
pub struct Fixture {
    pub scratch: Scratch,
    /// `src/<name>`: the file or directory the torrent is made of.
    pub path: PathBuf,
    /// Relative path under `path` (empty for a single file) -> (size, SHA-256).
    pub files: BTreeMap<String, (usize, String)>,
    /// `torrents/<name>.torrent`.
    pub torrent: PathBuf,
    /// 40 lower-case hex digits.
    pub info_hash: String,
}

impl Fixture {
    /// One file `src/<name>` of `len` deterministic bytes, in a torrent announcing to
    /// `trackers`.
    pub fn single(
        tag: &str,
        name: &str,
        len: usize,
        piece: &str,
        trackers: &[&str],
        deadline: Deadline,
    ) -> Fixture {
        let scratch = Scratch::new(tag);
        let path = scratch.write(&format!("src/{name}"), &content(len, len as u64 ^ 0x5eed));
        let files = BTreeMap::from([(String::new(), (len, sha256_file(&path)))]);
        Fixture::finish(scratch, path, files, piece, trackers, deadline)
    }

    /// A directory `src/<name>/` of `tree`'s `(relative path, size)` files.
    pub fn tree(
        tag: &str,
        name: &str,
        tree: &[(&str, usize)],
        piece: &str,
        trackers: &[&str],
        deadline: Deadline,
    ) -> Fixture {
        let scratch = Scratch::new(tag);
        let mut files = BTreeMap::new();
        for (i, (rel, len)) in tree.iter().enumerate() {
            let p = scratch.write(
                &format!("src/{name}/{rel}"),
                &content(*len, 7000 + i as u64),
            );
            files.insert(rel.to_string(), (*len, sha256_file(&p)));
        }
        let path = scratch.path().join("src").join(name);
        Fixture::finish(scratch, path, files, piece, trackers, deadline)
    }

    fn finish(
        scratch: Scratch,
        path: PathBuf,
        files: BTreeMap<String, (usize, String)>,
        piece: &str,
        trackers: &[&str],
        deadline: Deadline,
    ) -> Fixture {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let torrent = scratch
            .path()
            .join("torrents")
            .join(format!("{name}.torrent"));
        std::fs::create_dir_all(torrent.parent().expect("parent")).expect("mkdir torrents");
        create_torrent(&path, &torrent, piece, trackers, deadline);
        let inspected = inspect_json(scratch.path(), s(&torrent));
        let tiers: Vec<Vec<String>> = trackers
            .iter()
            .map(|t| t.split(',').map(str::to_string).collect())
            .collect();
        assert_eq!(
            inspected["trackers"],
            serde_json::json!(tiers),
            "trackers written into {}",
            torrent.display()
        );
        let info_hash = inspected["info_hash"]
            .as_str()
            .expect("info_hash")
            .to_string();
        Fixture {
            scratch,
            path,
            files,
            torrent,
            info_hash,
        }
    }

    /// The info-hash as 20 bytes.
    pub fn info_hash_bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.info_hash[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }

    /// The directory holding the content (`--data`, a seeder's save path).
    pub fn data_dir(&self) -> &Path {
        self.path.parent().expect("content has a parent")
    }

    pub fn name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 name")
    }

    pub fn total_size(&self) -> usize {
        self.files.values().map(|(len, _)| len).sum()
    }

    /// A fresh directory `scratch/<rel>`.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let d = self.scratch.path().join(rel);
        std::fs::create_dir_all(&d).expect("create dir");
        d
    }

    /// Fails unless `out_dir/<name>` holds every file with the same size and SHA-256.
    pub fn check_copy(&self, who: &str, out_dir: &Path) {
        let root = out_dir.join(self.name());
        for (rel, (len, hash)) in &self.files {
            let file = if rel.is_empty() {
                root.clone()
            } else {
                root.join(rel)
            };
            let meta = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{who}: {} is missing: {e}", file.display()));
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

/// A directory with the boundary cases of a multi-file torrent for pieces of `piece`
/// bytes: empty files, a 1-byte file, a file spanning a piece boundary, nested
/// directories and a short last piece. Listed in byte-wise path order.
pub fn awkward_tree(piece: usize) -> Vec<(&'static str, usize)> {
    vec![
        ("0-empty", 0),
        ("a/b/mid.bin", piece + piece / 2 + 3),
        ("a/one", 1),
        ("big.bin", 2 * MIB + 7),
        ("z/last", piece / 3 + 1),
    ]
}
