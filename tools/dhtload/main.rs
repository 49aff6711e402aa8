//! `hivebt-dhtload`: plays many DHT nodes querying one node, at a fixed total rate, and
//! reports how many queries were answered, the answer latency and, with `--pid`, the
//! CPU time and resident memory of the node's process.
//!
//! One thread, one `mio` poll loop. Each of `--sources` UDP sockets binds its own
//! loopback address (127.64.0.0/10 upwards: Linux answers for all of 127/8), so each
//! looks like a distinct node from a distinct IP and the node's per-address limits see
//! honest traffic. Queries cycle through `ping`, `find_node` and `get_peers` with random
//! targets; transaction ids index a ring of send times. Exit codes: 0 done, 2 bad input.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

/// Most source sockets one run opens.
const MAX_SOURCES: usize = 16_384;
/// Send times remembered, by transaction id; an answer older than the ring is not timed.
const RING: usize = 1 << 20;

#[derive(Parser)]
#[command(
    name = "hivebt-dhtload",
    version,
    about = "Query a DHT node from many source addresses and measure it"
)]
struct Args {
    /// The node's UDP address.
    #[arg(long, value_name = "ADDR")]
    node: SocketAddr,
    /// Queries per second, all sources together.
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// Source sockets, each on its own loopback address.
    #[arg(long, default_value_t = 1024)]
    sources: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// The node's process id: report its CPU time and resident memory over the run.
    #[arg(long)]
    pid: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.sources == 0 || args.sources > MAX_SOURCES || args.rate == 0 {
        eprintln!("hivebt-dhtload: error: --sources must be 1..={MAX_SOURCES}, --rate above 0");
        return ExitCode::from(2);
    }
    if !args.node.ip().is_loopback() {
        eprintln!("hivebt-dhtload: error: --node must be a loopback address");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hivebt-dhtload: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `i`th source address: 127.64.0.1, 127.64.0.2, ...
fn source_ip(i: usize) -> IpAddr {
    let n = 0x7f40_0001u32 + i as u32;
    IpAddr::V4(Ipv4Addr::from(n))
}

/// A KRPC query with transaction id `t`, our node id `id` and a random `target`.
fn query(kind: u64, t: u32, id: &[u8; 20], target: &[u8; 20]) -> Vec<u8> {
    let mut q = Vec::with_capacity(128);
    q.extend_from_slice(b"d1:ad2:id20:");
    q.extend_from_slice(id);
    let method: &[u8] = match kind % 3 {
        0 => b"ping",
        1 => {
            q.extend_from_slice(b"6:target20:");
            q.extend_from_slice(target);
            b"find_node"
        }
        _ => {
            q.extend_from_slice(b"9:info_hash20:");
            q.extend_from_slice(target);
            b"get_peers"
        }
    };
    q.extend_from_slice(format!("e1:q{}:", method.len()).as_bytes());
    q.extend_from_slice(method);
    q.extend_from_slice(b"1:t4:");
    q.extend_from_slice(&t.to_be_bytes());
    q.extend_from_slice(b"1:y1:qe");
    q
}

/// What the node sent one of our sources.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// A response to our query with this transaction id.
    Answer(u32),
    /// A KRPC error.
    Error,
    /// A query of its own (it pings senders it has not met, to check them).
    Query,
    /// Anything else.
    Other,
}

/// Sorts a datagram by its `y` key, and finds the 4-byte transaction id of a response.
fn reply(datagram: &[u8]) -> Reply {
    let has = |key: &[u8]| datagram.windows(key.len()).any(|w| w == key);
    if has(b"1:y1:e") {
        return Reply::Error;
    }
    if has(b"1:y1:q") {
        return Reply::Query;
    }
    let t = datagram
        .windows(5)
        .position(|w| w == b"1:t4:")
        .and_then(|at| datagram.get(at + 5..at + 9))
        .and_then(|t| t.try_into().ok())
        .map(u32::from_be_bytes);
    match t {
        Some(t) if has(b"1:y1:r") => Reply::Answer(t),
        _ => Reply::Other,
    }
}

/// xorshift64*: random ids and targets, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn id(&mut self) -> [u8; 20] {
        let mut id = [0u8; 20];
        for chunk in id.chunks_mut(8) {
            let n = self.next().to_le_bytes();
            chunk.copy_from_slice(&n[..chunk.len()]);
        }
        id
    }
}

/// A process's CPU time (user + system) and resident memory, from /proc.
fn proc_usage(pid: u32) -> Option<(Duration, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    // Linux reports stat times in clock ticks of 1/100 s (USER_HZ) on every platform.
    Some((Duration::from_millis(ticks * 10), rss_kib * 1024))
}

fn run(args: &Args) -> std::io::Result<()> {
    let mut poll = Poll::new()?;
    let mut sockets = Vec::with_capacity(args.sources);
    let mut ids = Vec::with_capacity(args.sources);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..args.sources {
        let mut sock = UdpSocket::bind(SocketAddr::new(source_ip(i), 0))?;
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE)?;
        sockets.push(sock);
        ids.push(rng.id());
    }
    let before = args.pid.and_then(proc_usage);
    let mut sent_at = vec![None::<Instant>; RING];
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(std::io::Error::other)?;
    let (mut sent, mut answered, mut errors, mut send_failed) = (0u64, 0u64, 0u64, 0u64);
    let mut queried = 0u64;
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let run_for = Duration::from_secs_f64(args.seconds);
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut next_source = 0usize;
    loop {
        let now = Instant::now();
        let elapsed = now - start;
        if elapsed >= run_for + Duration::from_secs(1) {
            break;
        }
        // Open loop: send every query due by now (none in the last second: answers
        // still on their way are waited for).
        if elapsed < run_for {
            let due = (elapsed.as_secs_f64() * f64::from(args.rate)) as u64;
            while sent < due {
                let t = (sent % RING as u64) as u32;
                let target = rng.id();
                let q = query(sent, t, &ids[next_source], &target);
                match sockets[next_source].send_to(&q, args.node) {
                    Ok(_) => sent_at[t as usize] = Some(Instant::now()),
                    Err(_) => send_failed += 1,
                }
                sent += 1;
                next_source = (next_source + 1) % sockets.len();
            }
        }
        poll.poll(&mut events, Some(interval.max(Duration::from_micros(100))))?;
        for event in &events {
            let sock = &sockets[event.token().0];
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, _)) => match reply(&buf[..n]) {
                        Reply::Answer(t) => {
                            answered += 1;
                            if let Some(at) = sent_at.get_mut(t as usize).and_then(Option::take) {
                                let us = at.elapsed().as_micros() as u64;
                                let _ = latency.record(us.max(1));
                            }
                        }
                        Reply::Error => errors += 1,
                        Reply::Query => queried += 1,
                        Reply::Other => {}
                    },
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
    }
    let secs = args.seconds;
    println!(
        "sent {sent} ({:.0}/s) answered {answered} ({:.0}/s, {:.2} %) errors {errors} send_failed {send_failed} queries_from_node {queried}",
        sent as f64 / secs,
        answered as f64 / secs,
        100.0 * answered as f64 / sent.max(1) as f64
    );
    println!(
        "latency_us p50 {} p99 {} p99.9 {} max {}",
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.value_at_quantile(0.999),
        latency.max()
    );
    if let (Some(pid), Some((cpu0, rss0))) = (args.pid, before) {
        if let Some((cpu1, rss1)) = proc_usage(pid) {
            let cpu = (cpu1 - cpu0).as_secs_f64();
            println!(
                "node_cpu_s {cpu:.2} ({:.1} % of one core) node_rss_kib before {} after {} us_per_answer {:.1}",
                100.0 * cpu / (secs + 1.0),
                rss0 / 1024,
                rss1 / 1024,
                1e6 * cpu / answered.max(1) as f64
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_valid_krpc_and_its_answer_is_matched() {
        let q = query(2, 0xdead_beef, &[b'a'; 20], &[b'b'; 20]);
        let m = hivebt::wire::krpc::decode(&q).expect("valid KRPC");
        match m.body {
            hivebt::wire::krpc::Body::Query { query, .. } => {
                assert_eq!(query.method(), b"get_peers")
            }
            other => panic!("not a query: {other:?}"),
        }
        let r = b"d1:rd2:id20:aaaaaaaaaaaaaaaaaaaae1:t4:\xde\xad\xbe\xef1:y1:re";
        assert_eq!(reply(r), Reply::Answer(0xdead_beef));
        assert_eq!(
            reply(b"d1:eli201e1:xe1:t4:\x00\x00\x00\x011:y1:ee"),
            Reply::Error
        );
        assert_eq!(
            reply(b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe"),
            Reply::Query
        );
        assert_eq!(reply(b"garbage"), Reply::Other);
        assert_eq!(source_ip(0), IpAddr::V4(Ipv4Addr::new(127, 64, 0, 1)));
    }
}
