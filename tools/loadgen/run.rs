//! The I/O loop: one thread, one `mio::Poll`, every connection to the seeder in it.
//!
//! Depends on `mio`, `libc` (the descriptor limit), `signal-hook` and the pure modules.
//! Each turn: open connections up to the limit of handshakes in progress -> fail those
//! whose connect timeout passed -> every second, keep-alives for connections silent
//! for a minute -> poll until the next deadline -> for each event, finish a connect or
//! read until `WouldBlock` into one 256 KiB buffer shared by every connection (the
//! framer passes block data on as slices of it), then top up the requests and write.
//! Reading to `WouldBlock` is bounded: a connection never has more than `depth`
//! blocks in flight. Connections live in a `Vec` indexed by their token and are never
//! reopened, so a token is never reused and a stale event finds an empty slot.
//!
//! The run ends at `--duration`, on SIGINT or SIGTERM, or when every connection has
//! failed; it always ends.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use hivebt::types::PeerId;
use hivebt::wire::peer;

use crate::close::CloseKind;
use crate::framer::Framer;
use crate::plan::Planner;
use crate::report::{CpuTime, Stats};
use crate::session::{Env, Session, Setup};

/// The read buffer every connection shares.
const READ_BUF: usize = 256 * 1024;

/// Most connections connecting or handshaking at once, so that thousands of them do
/// not overflow the seeder's accept backlog all in the same millisecond.
const MAX_OPENING: usize = 256;

/// A connection that sent nothing for this long gets a keep-alive (the seeder's
/// inactivity timeout is longer, BEP 3 suggests two minutes).
const KEEPALIVE_AFTER: Duration = Duration::from_secs(60);

/// How often connections are checked for a keep-alive.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The I/O side of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The seeder.
    pub peer: SocketAddr,
    /// Connections to open.
    pub connections: usize,
    /// How long to run.
    pub duration: Duration,
    /// How long a connection may take to connect and handshake.
    pub connect_timeout: Duration,
}

/// What the loop hands back.
#[derive(Debug)]
pub struct Outcome {
    /// The counters.
    pub stats: Stats,
    /// From the first connection attempt to the end.
    pub elapsed: Duration,
    /// CPU time used meanwhile.
    pub cpu: CpuTime,
    /// Handshaken connections open at the end.
    pub open_at_end: u64,
}

/// One connection.
struct Conn {
    stream: TcpStream,
    /// TCP is established.
    connected: bool,
    /// Counted in the loop's handshakes in progress.
    opening: bool,
    framer: Framer,
    session: Session,
    last_send_at: Instant,
}

/// The loop's state.
struct Loop<'a> {
    setup: &'a Setup,
    plan: &'a Plan,
    poll: Poll,
    conns: Vec<Option<Conn>>,
    /// Connect deadlines in the order connections were started (so in time order).
    deadlines: VecDeque<(Instant, usize)>,
    planner: Planner,
    stats: Stats,
    /// Connections started and neither handshaken nor closed.
    opening: usize,
    /// Connections open.
    live: usize,
    /// Bytes of one peer id shared by the run; the connection number fills the rest.
    id_base: PeerId,
    max_frame: u32,
    piece_count: u32,
}

/// Runs the load until the plan's duration is over.
pub fn run(setup: &Setup, plan: &Plan, planner: Planner) -> io::Result<Outcome> {
    raise_fd_limit(plan.connections as u64 + 64);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let piece_count = planner.geometry().piece_count;
    let mut lp = Loop {
        setup,
        plan,
        poll: Poll::new()?,
        conns: Vec::with_capacity(plan.connections),
        deadlines: VecDeque::new(),
        planner,
        stats: Stats::new(),
        opening: 0,
        live: 0,
        id_base: peer_id_base(),
        max_frame: peer::max_frame_for(piece_count),
        piece_count,
    };
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; READ_BUF].into_boxed_slice();
    let cpu_start = CpuTime::now();
    let started_at = Instant::now();
    let end_at = started_at + plan.duration;
    let mut sweep_at = started_at + SWEEP_EVERY;
    loop {
        let now = Instant::now();
        if now >= end_at || stop.load(Ordering::Relaxed) {
            break;
        }
        lp.open_more(now);
        lp.expire(now);
        if now >= sweep_at {
            lp.keep_alives(now);
            sweep_at = now + SWEEP_EVERY;
        }
        if lp.live == 0 && lp.conns.len() == plan.connections {
            break;
        }
        let mut wake_at = end_at.min(sweep_at);
        if let Some(&(at, _)) = lp.deadlines.front() {
            wake_at = wake_at.min(at);
        }
        // Rounded up, so the loop does not spin through the last partial millisecond.
        let timeout = wake_at
            .saturating_duration_since(now)
            .as_micros()
            .div_ceil(1000) as u64;
        match lp
            .poll
            .poll(&mut events, Some(Duration::from_millis(timeout)))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            lp.on_event(event.token().0, &mut buf);
        }
    }
    let elapsed = started_at.elapsed();
    let cpu = CpuTime::now().since(cpu_start);
    let open_at_end = lp
        .conns
        .iter()
        .flatten()
        .filter(|c| c.session.handshaken())
        .count() as u64;
    Ok(Outcome {
        stats: lp.stats,
        elapsed,
        cpu,
        open_at_end,
    })
}

impl Loop<'_> {
    /// Starts connections while fewer than `MAX_OPENING` are connecting or handshaking.
    fn open_more(&mut self, now: Instant) {
        while self.conns.len() < self.plan.connections && self.opening < MAX_OPENING {
            let i = self.conns.len();
            self.stats.connections_started += 1;
            let conn = TcpStream::connect(self.plan.peer).and_then(|mut stream| {
                self.poll.registry().register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(stream)
            });
            match conn {
                Ok(stream) => {
                    let session = Session::new(self.setup, self.piece_count, self.peer_id(i));
                    self.conns.push(Some(Conn {
                        stream,
                        connected: false,
                        opening: true,
                        framer: Framer::new(self.max_frame),
                        session,
                        last_send_at: now,
                    }));
                    self.opening += 1;
                    self.live += 1;
                    self.deadlines
                        .push_back((now + self.plan.connect_timeout, i));
                }
                Err(e) => {
                    self.stats.error(CloseKind::of_connect_error(&e));
                    self.conns.push(None);
                }
            }
        }
    }

    /// Our peer id on connection `i`: distinct per connection, since a seeder drops
    /// a second connection from a peer id it already has.
    fn peer_id(&self, i: usize) -> PeerId {
        let mut id = self.id_base;
        id.0[12..].copy_from_slice(&(i as u64).to_be_bytes());
        id
    }

    /// Fails connections that have not handshaken by their deadline.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, i)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            let kind = match &self.conns[i] {
                Some(c) if !c.session.handshaken() => {
                    if c.connected {
                        CloseKind::HandshakeTimeout
                    } else {
                        CloseKind::ConnectTimeout
                    }
                }
                _ => continue,
            };
            self.close(i, kind);
        }
    }

    /// Sends a keep-alive on every handshaken connection that has been quiet a minute.
    fn keep_alives(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let Some(c) = &mut self.conns[i] else {
                continue;
            };
            if c.session.handshaken() && now.duration_since(c.last_send_at) >= KEEPALIVE_AFTER {
                c.session.keep_alive();
                if let Err(kind) = flush(c, now) {
                    self.close(i, kind);
                }
            }
        }
    }

    /// Drives connection `i` after a readiness event.
    fn on_event(&mut self, i: usize, buf: &mut [u8]) {
        let Some(Some(c)) = self.conns.get_mut(i) else {
            return;
        };
        let mut env = Env {
            setup: self.setup,
            planner: &mut self.planner,
            stats: &mut self.stats,
            now: Instant::now(),
        };
        let result = drive(c, buf, &mut env);
        if c.opening && c.session.handshaken() {
            c.opening = false;
            self.opening -= 1;
        }
        if let Err(kind) = result {
            self.close(i, kind);
        }
    }

    fn close(&mut self, i: usize, kind: CloseKind) {
        if let Some(c) = self.conns[i].take() {
            if c.opening {
                self.opening -= 1;
            }
            self.live -= 1;
            self.stats.error(kind);
            // Dropping the stream closes the socket, which takes it out of the poll.
        }
    }
}

/// Finishes a connect, reads until `WouldBlock`, tops up the requests and writes.
fn drive(c: &mut Conn, buf: &mut [u8], env: &mut Env<'_>) -> Result<(), CloseKind> {
    if !c.connected {
        // Any event on a connecting socket (writable, error, hang-up) settles it.
        match c.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return Err(CloseKind::of_connect_error(&e)),
        }
        match c.stream.peer_addr() {
            Ok(_) => {}
            // A spurious wake-up: still connecting.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
            Err(e) => return Err(CloseKind::of_connect_error(&e)),
        }
        c.connected = true;
        env.stats.connections_connected += 1;
        let _ = c.stream.set_nodelay(true);
        c.session.start(env.setup);
    }
    loop {
        match c.stream.read(buf) {
            Ok(0) => return Err(CloseKind::ClosedBySeeder),
            Ok(n) => {
                env.now = Instant::now();
                c.framer.feed(&buf[..n], &mut c.session.sink(env))?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CloseKind::of_io_error(&e)),
        }
    }
    c.session.fill(env);
    flush(c, env.now)
}

/// Writes what the session queued, as far as the socket takes it.
fn flush(c: &mut Conn, now: Instant) -> Result<(), CloseKind> {
    if c.session.out.pending() == 0 {
        return Ok(());
    }
    match c.session.out.write_to(&mut c.stream) {
        Ok(0) => Ok(()),
        Ok(_) => {
            c.last_send_at = now;
            Ok(())
        }
        Err(e) => Err(CloseKind::of_io_error(&e)),
    }
}

/// A peer id for this run: an Azureus-style prefix naming the load generator, then
/// four random bytes; the last eight hold the connection number.
fn peer_id_base() -> PeerId {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-HL0001-");
    let random = crate::plan::Rng::from_os().next_u64().to_be_bytes();
    id[8..12].copy_from_slice(&random[..4]);
    PeerId(id)
}

/// Raises the soft limit on open descriptors towards `wanted` (up to the hard limit),
/// so that thousands of connections do not fail with `EMFILE`. A failure leaves the
/// limit as it was; connections past it are then reported as `connect_failed`.
fn raise_fd_limit(wanted: u64) {
    // SAFETY: `getrlimit` and `setrlimit` read and write one `rlimit` that lives on
    // the stack for the duration of each call.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let target = (wanted as libc::rlim_t).min(lim.rlim_max);
        if target > lim.rlim_cur {
            lim.rlim_cur = target;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
