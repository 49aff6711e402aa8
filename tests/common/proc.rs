//! The one child-process harness of the integration tests: deadlines, a guard for a
//! running child whose output lines can be waited for, bounded runs to completion,
//! bounded polling, and free loopback ports.
//!
//! Invariants: every wait takes a [`Deadline`] and fails the test (quoting what the
//! child wrote) once it passes; a wait for a child's output or exit is woken by the
//! reader threads, never by polling, and in this harness only [`poll_until`] sleeps,
//! between probes of something that announces nothing; every child is killed and
//! reaped when its [`Proc`] guard drops, and when a test panics every live guard
//! prints what its child wrote (which is where hivebt's log goes, with
//! `RUST_LOG=debug`).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The most any one test may take, from its first command to its last check.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How often a condition that nothing announces (a tracker's swarm, a client's
/// progress over RPC) is looked at again.
pub const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------
// Deadlines

/// The point in time by which a test, or one step of it, must be done.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// [`TEST_TIMEOUT`] from now.
    pub fn start() -> Deadline {
        Deadline::after(TEST_TIMEOUT)
    }

    /// `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now() + d)
    }

    /// `d` from now, or this deadline if that comes first.
    pub fn within(self, d: Duration) -> Deadline {
        Deadline(self.0.min(Instant::now() + d))
    }

    /// Time left (zero once passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
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

/// What the reader threads have collected so far.
struct Collected {
    /// Every line of both streams, in the order read, without its line end.
    lines: Vec<(Stream, String)>,
    /// The bytes of each stream exactly as written.
    raw: [Vec<u8>; 2],
    /// Whether each stream's pipe is still open.
    open: [bool; 2],
}

/// [`Collected`] shared with the reader threads, which notify `grew` after each line
/// and at end of file.
struct Shared {
    state: Mutex<Collected>,
    grew: Condvar,
}

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    /// Every stdout line.
    pub stdout: Vec<String>,
    /// All of stderr, as text.
    pub stderr: String,
    raw: [Vec<u8>; 2],
}

impl Finished {
    /// The status and both streams byte for byte, as [`Command::output`] gives them.
    pub fn into_output(self) -> Output {
        let [stdout, stderr] = self.raw;
        Output {
            status: self.status,
            stdout,
            stderr,
        }
    }
}

/// A running child, killed and reaped when dropped. Its stdout and stderr are kept,
/// line by line and byte for byte, and a line can be waited for; stdin is a pipe kept
/// open until [`Proc::close_stdin`] (how the libtorrent scripts are told to stop).
pub struct Proc {
    pub label: String,
    /// The command line, for failure messages.
    desc: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Shared>,
    status: Option<ExitStatus>,
    started_at: Instant,
}

impl Proc {
    /// Starts `cmd` with piped stdin, stdout and stderr; `label` names it in failure
    /// messages.
    pub fn spawn(label: &str, cmd: &mut Command) -> Proc {
        let desc = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start {desc}: {e}"));
        let out = Arc::new(Shared {
            state: Mutex::new(Collected {
                lines: Vec::new(),
                raw: [Vec::new(), Vec::new()],
                open: [true, true],
            }),
            grew: Condvar::new(),
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        reader(Stream::Stdout, stdout, Arc::clone(&out));
        reader(Stream::Stderr, stderr, Arc::clone(&out));
        Proc {
            label: label.to_string(),
            desc,
            stdin: child.stdin.take(),
            child,
            out,
            status: None,
            started_at: Instant::now(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time since the child was started.
    pub fn elapsed(&self) -> Duration {
        self.started_at.elapsed()
    }

    fn state(&self) -> MutexGuard<'_, Collected> {
        self.out.state.lock().expect("output lock")
    }

    /// Waits until the reader threads add to `state` or `deadline` passes.
    fn wait_grew<'a>(
        &'a self,
        state: MutexGuard<'a, Collected>,
        deadline: Deadline,
    ) -> MutexGuard<'a, Collected> {
        let waited = self.out.grew.wait_timeout(state, deadline.remaining());
        waited.expect("output lock").0
    }

    /// Lines of `stream` so far.
    pub fn lines(&self, stream: Stream) -> Vec<String> {
        self.state()
            .lines
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Stderr so far, as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.state().raw[Stream::Stderr as usize]).into_owned()
    }

    /// Everything the child wrote so far, both streams interleaved as read.
    pub fn output(&self) -> String {
        let mut text = String::new();
        for (stream, line) in &self.state().lines {
            if *stream == Stream::Stderr {
                text.push_str("[stderr] ");
            }
            text.push_str(line);
            text.push('\n');
        }
        text
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

    /// Waits for a line of `stream` that `matches` (one seen before counts) and
    /// returns it; `None` once `deadline` passes or the stream ends without one.
    pub fn try_wait_for(
        &self,
        stream: Stream,
        deadline: Deadline,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let mut state = self.state();
        let mut looked = 0;
        loop {
            let found = state.lines[looked..]
                .iter()
                .find(|(s, l)| *s == stream && matches(l));
            if let Some((_, line)) = found {
                return Some(line.clone());
            }
            looked = state.lines.len();
            if !state.open[stream as usize] || deadline.passed() {
                return None;
            }
            state = self.wait_grew(state, deadline);
        }
    }

    /// [`Proc::try_wait_for`], failing the test (with `what` and the child's output)
    /// when no such line comes.
    pub fn wait_for(
        &self,
        stream: Stream,
        what: &str,
        deadline: Deadline,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        self.try_wait_for(stream, deadline, matches)
            .unwrap_or_else(|| {
                let why = if self.state().open[stream as usize] {
                    "within the deadline"
                } else {
                    "before its output ended"
                };
                panic!("{}: no {what} {why}\n{}", self.label, self.report())
            })
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it.
    pub fn wait_line(&self, prefix: &str, deadline: Deadline) -> String {
        let line = self.wait_for(
            Stream::Stdout,
            &format!("'{prefix}...' line on stdout"),
            deadline,
            |l| l.starts_with(prefix),
        );
        line[prefix.len()..].to_string()
    }

    /// The address on the first stdout line starting with `prefix`.
    pub fn wait_addr(&self, prefix: &str, deadline: Deadline) -> SocketAddr {
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
    pub fn listen_addr(&self, deadline: Deadline) -> SocketAddr {
        self.wait_addr("listening on ", deadline)
    }

    /// Closes the child's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The exit status if the child has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `signal` (`libc::SIGTERM`, ...) unless the child was already reaped.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.exited().is_none() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped,
            // so the pid cannot have been reused.
            let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
            assert_eq!(rc, 0, "{}: kill({signal}) failed", self.label);
        }
    }

    /// Sends SIGTERM and waits for the child to exit.
    pub fn terminate(&mut self, deadline: Deadline) -> Finished {
        self.signal(libc::SIGTERM);
        self.wait(deadline)
    }

    /// Waits for the child to exit (both pipes closed, then its status).
    pub fn wait(&mut self, deadline: Deadline) -> Finished {
        let mut state = self.state();
        while state.open.iter().any(|o| *o) {
            if deadline.passed() {
                drop(state);
                panic!(
                    "{}: still running at the deadline\n{}",
                    self.label,
                    self.report()
                );
            }
            state = self.wait_grew(state, deadline);
        }
        drop(state);
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("{}: wait: {e}", self.label));
        self.status = Some(status);
        Finished {
            status,
            stdout: self.lines(Stream::Stdout),
            stderr: self.stderr(),
            raw: self.state().raw.clone(),
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

/// Reads `pipe` to its end on a thread of its own into `out`.
fn reader(stream: Stream, pipe: impl Read + Send + 'static, out: Arc<Shared>) {
    thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    let mut state = out.state.lock().expect("output lock");
                    state.raw[stream as usize].extend_from_slice(&buf);
                    state.lines.push((stream, line));
                    out.grew.notify_all();
                }
            }
        }
        out.state.lock().expect("output lock").open[stream as usize] = false;
        out.grew.notify_all();
    });
}

/// Runs `cmd` to completion, stdin closed; kills it and fails the test if it is still
/// running at `deadline`.
pub fn run(label: &str, cmd: &mut Command, deadline: Deadline) -> Finished {
    let mut p = Proc::spawn(label, cmd);
    p.close_stdin();
    p.wait(deadline)
}

/// [`run_ok`] with `input` written to the child's stdin (then closed).
pub fn run_with_stdin(
    label: &str,
    cmd: &mut Command,
    input: &[u8],
    deadline: Deadline,
) -> Finished {
    let mut p = Proc::spawn(label, cmd);
    if let Some(stdin) = p.stdin.as_mut() {
        use std::io::Write;
        let _ = stdin.write_all(input);
    }
    p.close_stdin();
    p.wait_ok(deadline)
}

/// [`run`], failing the test unless `cmd` exits 0.
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
