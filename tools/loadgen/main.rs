//! `hivebt-loadgen`: plays many leechers against any BitTorrent seeder and reports
//! throughput, request latency, connection errors and its own CPU time.
//!
//! One thread, one `mio` poll loop, no async runtime. Each connection does a BEP 3
//! handshake (announcing the fast extension and BEP 10), says `interested`, and once
//! unchoked keeps `--depth` 16 KiB requests in flight; block data is counted (or, with
//! `--verify`, hashed) straight out of one shared read buffer. See the README section
//! for usage and the report's keys.
//!
//! Modules: `framer` (receive-side framing), `session` (one connection's protocol
//! state), `plan` (which blocks to ask for), `verify` (incremental piece hashing),
//! `report` (counters and output), `close` (connection error kinds), `run` (the loop).
//! Exit codes: 0 success, 1 a piece failed `--verify` or no connection completed a
//! handshake, 2 bad input.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod close;
mod framer;
mod plan;
mod report;
mod run;
mod session;
mod verify;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use hivebt::error::Error;

use crate::plan::{Geometry, Pattern, Planner, Rng};
use crate::report::{Report, RunInfo};
use crate::run::Plan;
use crate::session::Setup;

/// Most connections one run opens.
const MAX_CONNECTIONS: usize = 100_000;
/// Most requests in flight per connection.
const MAX_DEPTH: usize = 4096;
/// Longest run, in seconds (a week).
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

#[derive(Parser)]
#[command(
    name = "hivebt-loadgen",
    version,
    about = "Play many leechers against a BitTorrent seeder and measure it"
)]
struct Args {
    /// The .torrent file the seeder serves.
    #[arg(long, value_name = "FILE")]
    torrent: PathBuf,
    /// The seeder's address.
    #[arg(long, value_name = "HOST:PORT")]
    peer: String,
    /// Connections to open.
    #[arg(long, value_name = "N")]
    connections: usize,
    /// 16 KiB requests in flight per connection (capped by the seeder's `reqq`).
    #[arg(long, value_name = "D", default_value_t = 16)]
    depth: usize,
    /// How blocks are chosen among the pieces the seeder has.
    #[arg(long, value_enum, default_value_t = PatternArg::Random)]
    pattern: PatternArg,
    /// How long to run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    duration: f64,
    /// How long a connection may take to connect and handshake, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    connect_timeout: f64,
    /// Download whole pieces and check each one's SHA-1; exit 1 if any fails.
    #[arg(long, conflicts_with = "idle")]
    verify: bool,
    /// Only handshake and hold the connections open (no `interested`, no requests).
    #[arg(long)]
    idle: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum PatternArg {
    /// A random block of a random piece.
    Random,
    /// The torrent front to back, one cursor shared by every connection.
    Sequential,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hivebt-loadgen: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, Error> {
    let duration = seconds("--duration", args.duration)?;
    let connect_timeout = seconds("--connect-timeout", args.connect_timeout)?;
    if !(1..=MAX_CONNECTIONS).contains(&args.connections) {
        return Err(Error::BadInput(format!(
            "--connections must be from 1 to {MAX_CONNECTIONS}"
        )));
    }
    if !(1..=MAX_DEPTH).contains(&args.depth) {
        return Err(Error::BadInput(format!(
            "--depth must be from 1 to {MAX_DEPTH}"
        )));
    }
    let peer = resolve(&args.peer)?;
    let meta = hivebt::ops::load_torrent(&args.torrent)?;
    let geometry = Geometry::of(&meta.info).ok_or_else(|| {
        Error::BadInput(format!("{}: unusable piece layout", args.torrent.display()))
    })?;
    let pattern = match args.pattern {
        PatternArg::Random => Pattern::Random,
        PatternArg::Sequential => Pattern::Sequential,
    };
    let setup = Setup {
        info_hash: meta.info_hash,
        hashes: meta.info.pieces.clone(),
        depth: args.depth,
        verify: args.verify,
        idle: args.idle,
    };
    let plan = Plan {
        peer,
        connections: args.connections,
        duration,
        connect_timeout,
    };
    let planner = Planner::new(geometry, pattern, Rng::from_os());
    let outcome = run::run(&setup, &plan, planner)
        .map_err(|e| Error::Failed(format!("the poll loop failed: {e}")))?;
    let report = Report {
        info: RunInfo {
            peer: args.peer.clone(),
            info_hash: meta.info_hash.to_hex(),
            connections: args.connections,
            depth: args.depth,
            pattern: pattern.name(),
            verify: args.verify,
            idle: args.idle,
        },
        stats: outcome.stats,
        elapsed: outcome.elapsed,
        cpu: outcome.cpu,
        open_at_end: outcome.open_at_end,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.verify_failed() {
        eprintln!(
            "hivebt-loadgen: error: {} pieces failed their SHA-1 check",
            report.stats.pieces_failed
        );
        return Ok(ExitCode::from(1));
    }
    if report.stats.connections_handshaken == 0 {
        eprintln!("hivebt-loadgen: error: no connection to {peer} completed a handshake");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A positive number of seconds from an option.
fn seconds(option: &str, secs: f64) -> Result<Duration, Error> {
    if !(secs > 0.0 && secs <= MAX_SECONDS) {
        return Err(Error::BadInput(format!(
            "{option} must be more than 0 and at most {MAX_SECONDS} seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The first address `HOST:PORT` resolves to.
fn resolve(peer: &str) -> Result<SocketAddr, Error> {
    let bad = |why: String| Error::BadInput(format!("--peer {peer}: {why}"));
    peer.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))
}
