//! Helpers for the tests of hivebt's tracker and tracker client (tests/tracker.rs,
//! and the interop tests that find peers through a tracker): `hivebt tracker`,
//! `seed` and `download` children that log their tracker traffic, the protocol a
//! test's trackers speak, and waits on what a tracker lists. [`http`] speaks raw HTTP
//! and bencode to a tracker, [`udp`] BEP 15.
//!
//! Every process binds 127.0.0.1 or ::1 and runs under the harness in
//! `tests/common/proc.rs`: every wait has a [`Deadline`], and every child is killed
//! when its guard drops.
#![allow(dead_code)]

pub mod http;
pub mod udp;

use std::net::SocketAddr;
use std::path::Path;

use crate::common::fixture::Fixture;
use crate::common::proc::{Deadline, Proc, Stream, poll_until, reports};
use crate::common::{download_cmd, seed_cmd};

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
        let mut cmd = crate::common::hivebt();
        cmd.arg("tracker");
        for h in http {
            cmd.args(["--http", h]);
        }
        for u in udp {
            cmd.args(["--udp", u]);
        }
        cmd.args(extra);
        let proc = Proc::spawn("hivebt tracker", &mut cmd);
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

/// `hivebt seed TORRENT --data DATA --listen 127.0.0.1:0 --state STATE EXTRA...`,
/// with `RUST_LOG=debug` so a failure shows the tracker traffic.
pub fn hivebt_seed(label: &str, torrent: &Path, data: &Path, state: &Path, extra: &[&str]) -> Proc {
    let mut cmd = seed_cmd(&[torrent], data, "127.0.0.1:0", state);
    Proc::spawn(label, cmd.env("RUST_LOG", "debug").args(extra))
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
    let mut cmd = download_cmd(torrent, out, "127.0.0.1:0", state, &[]);
    Proc::spawn(label, cmd.env("RUST_LOG", "debug").args(extra))
}

// ---------------------------------------------------------------------------------
// What a tracker lists

/// The protocol a test's trackers speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Http,
    Udp,
}

impl Proto {
    /// `http` or `udp`, as in `/stats` and URLs.
    pub fn label(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Udp => "udp",
        }
    }

    /// The other one.
    pub fn other(self) -> Proto {
        match self {
            Proto::Http => Proto::Udp,
            Proto::Udp => Proto::Http,
        }
    }

    /// `PROTO://ADDR/announce`.
    pub fn url(self, addr: SocketAddr) -> String {
        format!("{}://{addr}/announce", self.label())
    }
}

/// Announces answered over `proto`, from `/stats`.
pub fn answered(stats: &serde_json::Value, proto: Proto) -> u64 {
    stats["announces"][proto.label()]["ok"]
        .as_u64()
        .unwrap_or_else(|| panic!("/stats has no announces.{}.ok: {stats}", proto.label()))
}

/// Polls the tracker's HTTP scrape at `addr` until `ready` holds for `fx`'s swarm.
pub fn wait_swarm(
    addr: SocketAddr,
    fx: &Fixture,
    what: &str,
    deadline: Deadline,
    procs: &[&Proc],
    ready: impl Fn(http::Counts) -> bool,
) -> http::Counts {
    poll_until(
        what,
        deadline,
        || reports(procs),
        || http::scrape(addr, fx.info_hash_bytes()).filter(|c| ready(*c)),
    )
}

/// Whether the HTTP tracker at `addr` answers an announce for `info_hash` without a
/// failure (a `stopped` from a peer that was never there, which lists nobody).
pub fn accepts_announce(addr: SocketAddr, info_hash: [u8; 20]) -> bool {
    let probe = http::Announce::new(info_hash, 9).event("stopped");
    let answer = || -> Option<bool> {
        let mut c = http::HttpConn::connect(addr).ok()?;
        let r = c.get(&probe.query()).ok()?;
        let b = http::decode(&r.body).ok()?;
        Some(b.get("failure reason").is_none())
    };
    answer() == Some(true)
}
