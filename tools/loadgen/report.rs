//! What a run measured, and how it is printed: a text table for people, JSON for
//! scripts.
//!
//! Depends on `hdrhistogram`, `libc` (for `getrusage`), `hivebt::json` and `close`.
//! Latencies are kept in microseconds, from 1 µs to one hour at three significant
//! digits; a request's latency runs from the turn of the loop that sent it to the read
//! that brought its block's last byte.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use hivebt::json::Json;

use crate::close::CloseKind;

/// Counters kept while the run goes on.
#[derive(Debug)]
pub struct Stats {
    /// Bytes of `piece` data received for blocks we asked for.
    pub bytes: u64,
    /// Requests sent.
    pub requests_sent: u64,
    /// Requests answered with their whole block.
    pub requests_completed: u64,
    /// Requests the seeder rejected (BEP 6), or dropped by a choke without the fast
    /// extension; each is asked for again.
    pub requests_rejected: u64,
    /// `choke` messages received.
    pub chokes: u64,
    /// Blocks that came without a request of ours (skipped, not counted in `bytes`).
    pub blocks_unrequested: u64,
    /// Request latency in microseconds.
    pub latency_us: Histogram<u64>,
    /// Pieces whose SHA-1 matched (`--verify`).
    pub pieces_verified: u64,
    /// Pieces whose SHA-1 did not match (`--verify`).
    pub pieces_failed: u64,
    /// Connections started.
    pub connections_started: u64,
    /// Connections that reached TCP established.
    pub connections_connected: u64,
    /// Connections whose handshake with the seeder completed.
    pub connections_handshaken: u64,
    /// Connections that failed, by kind (indexed by [`CloseKind::index`]).
    pub errors: [u64; CloseKind::ALL.len()],
}

impl Stats {
    /// Zeroed counters and an empty histogram.
    pub fn new() -> Stats {
        Stats {
            bytes: 0,
            requests_sent: 0,
            requests_completed: 0,
            requests_rejected: 0,
            chokes: 0,
            blocks_unrequested: 0,
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid"),
            pieces_verified: 0,
            pieces_failed: 0,
            connections_started: 0,
            connections_connected: 0,
            connections_handshaken: 0,
            errors: [0; CloseKind::ALL.len()],
        }
    }

    /// Records one completed request that took `latency`.
    pub fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(us.max(1));
    }

    /// Counts a failed connection.
    pub fn error(&mut self, kind: CloseKind) {
        self.errors[kind.index()] += 1;
    }
}

impl Default for Stats {
    fn default() -> Stats {
        Stats::new()
    }
}

/// CPU time this process has used (`getrusage(RUSAGE_SELF)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time in user mode.
    pub user: Duration,
    /// Time in the kernel on our behalf (socket reads and writes, mostly).
    pub system: Duration,
}

impl CpuTime {
    /// The process's CPU time so far; zero if the call fails, which it cannot with
    /// these arguments.
    pub fn now() -> CpuTime {
        // SAFETY: `getrusage` writes one `rusage` into the pointed-to zeroed struct,
        // which lives for the call; RUSAGE_SELF is always a valid `who`.
        let usage = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
                return CpuTime::default();
            }
            ru
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        CpuTime {
            user: tv(usage.ru_utime),
            system: tv(usage.ru_stime),
        }
    }

    /// The time used since `earlier`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    /// User plus system time.
    pub fn total(self) -> Duration {
        self.user + self.system
    }
}

/// How the run was set up, for the report's header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The seeder's address as given.
    pub peer: String,
    /// The torrent's info-hash in hex.
    pub info_hash: String,
    /// Connections asked for.
    pub connections: usize,
    /// Requests in flight per connection asked for.
    pub depth: usize,
    /// `random` or `sequential`.
    pub pattern: &'static str,
    /// `--verify`.
    pub verify: bool,
    /// `--idle`.
    pub idle: bool,
}

/// Everything printed at the end.
#[derive(Debug)]
pub struct Report {
    /// The setup.
    pub info: RunInfo,
    /// The counters.
    pub stats: Stats,
    /// Wall time from the first connection attempt to the end.
    pub elapsed: Duration,
    /// CPU time the load generator used meanwhile.
    pub cpu: CpuTime,
    /// Handshaken connections still open when the run ended.
    pub open_at_end: u64,
}

impl Report {
    fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    /// Throughput in MB/s (10^6 bytes per second).
    pub fn mb_per_s(&self) -> f64 {
        let s = self.seconds();
        if s > 0.0 {
            self.stats.bytes as f64 / 1e6 / s
        } else {
            0.0
        }
    }

    /// CPU time as a share of wall time, in percent of one core.
    pub fn cpu_percent(&self) -> f64 {
        let s = self.seconds();
        if s > 0.0 {
            self.cpu.total().as_secs_f64() / s * 100.0
        } else {
            0.0
        }
    }

    /// Latency percentiles in microseconds: p50, p90, p99, p99.9, max; `None` when no
    /// request completed.
    pub fn latency(&self) -> Option<[(&'static str, u64); 5]> {
        let h = &self.stats.latency_us;
        if h.is_empty() {
            return None;
        }
        Some([
            ("p50", h.value_at_quantile(0.50)),
            ("p90", h.value_at_quantile(0.90)),
            ("p99", h.value_at_quantile(0.99)),
            ("p99_9", h.value_at_quantile(0.999)),
            ("max", h.max()),
        ])
    }

    /// Whether `--verify` found a bad piece.
    pub fn verify_failed(&self) -> bool {
        self.stats.pieces_failed > 0
    }

    /// The report as a JSON object (keys documented in the README).
    pub fn to_json(&self) -> Json {
        let s = &self.stats;
        let int = |n: u64| Json::int(n);
        let latency = match self.latency() {
            None => Json::Null,
            Some(points) => {
                let mut obj: Vec<(&'static str, Json)> =
                    points.iter().map(|&(k, v)| (k, int(v))).collect();
                obj.push(("mean", Json::Float(s.latency_us.mean())));
                obj.push(("count", int(s.latency_us.len())));
                Json::Obj(obj)
            }
        };
        let errors = Json::Obj(
            CloseKind::ALL
                .iter()
                .map(|k| (k.name(), int(s.errors[k.index()])))
                .collect(),
        );
        let verify = |n: u64| if self.info.verify { int(n) } else { Json::Null };
        Json::Obj(vec![
            ("peer", Json::str(&self.info.peer)),
            ("info_hash", Json::str(&self.info.info_hash)),
            ("connections", int(self.info.connections as u64)),
            ("depth", int(self.info.depth as u64)),
            ("pattern", Json::str(self.info.pattern)),
            ("verify", Json::Bool(self.info.verify)),
            ("idle", Json::Bool(self.info.idle)),
            ("seconds", Json::Float(self.seconds())),
            ("bytes", int(s.bytes)),
            ("mb_per_s", Json::Float(self.mb_per_s())),
            ("requests_sent", int(s.requests_sent)),
            ("requests_completed", int(s.requests_completed)),
            ("requests_rejected", int(s.requests_rejected)),
            ("chokes", int(s.chokes)),
            ("blocks_unrequested", int(s.blocks_unrequested)),
            ("latency_us", latency),
            ("connections_started", int(s.connections_started)),
            ("connections_connected", int(s.connections_connected)),
            ("connections_handshaken", int(s.connections_handshaken)),
            ("connections_open_at_end", int(self.open_at_end)),
            ("errors", errors),
            ("pieces_verified", verify(s.pieces_verified)),
            ("pieces_failed", verify(s.pieces_failed)),
            (
                "cpu",
                Json::Obj(vec![
                    ("user_s", Json::Float(self.cpu.user.as_secs_f64())),
                    ("system_s", Json::Float(self.cpu.system.as_secs_f64())),
                    ("total_s", Json::Float(self.cpu.total().as_secs_f64())),
                    ("percent", Json::Float(self.cpu_percent())),
                ]),
            ),
        ])
    }

    /// The report as a text table.
    pub fn to_text(&self) -> String {
        let s = &self.stats;
        let i = &self.info;
        let mut out = String::new();
        let mode = match (i.idle, i.verify) {
            (true, _) => "idle".to_string(),
            (false, true) => format!("depth {}, {}, verify", i.depth, i.pattern),
            (false, false) => format!("depth {}, {}", i.depth, i.pattern),
        };
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<12} {v}");
        };
        row(
            "run",
            format!("{} connections to {}, {mode}", i.connections, i.peer),
        );
        row("torrent", i.info_hash.clone());
        row("seconds", format!("{:.3}", self.seconds()));
        if !i.idle {
            row(
                "bytes",
                format!("{} ({:.1} MB)", s.bytes, s.bytes as f64 / 1e6),
            );
            row("throughput", format!("{:.1} MB/s", self.mb_per_s()));
            row(
                "requests",
                format!(
                    "{} completed, {} sent, {} rejected, {} chokes, {} unrequested blocks",
                    s.requests_completed,
                    s.requests_sent,
                    s.requests_rejected,
                    s.chokes,
                    s.blocks_unrequested
                ),
            );
            let latency = match self.latency() {
                None => "no request completed".to_string(),
                Some(points) => points
                    .iter()
                    .map(|&(k, us)| format!("{} {:.3} ms", k.replace('_', "."), us as f64 / 1e3))
                    .collect::<Vec<_>>()
                    .join("  "),
            };
            row("latency", latency);
        }
        row(
            "connections",
            format!(
                "{} started, {} connected, {} handshaken, {} open at the end",
                s.connections_started,
                s.connections_connected,
                s.connections_handshaken,
                self.open_at_end
            ),
        );
        let errors: Vec<String> = CloseKind::ALL
            .iter()
            .filter(|k| s.errors[k.index()] > 0)
            .map(|k| format!("{} {}", k.name(), s.errors[k.index()]))
            .collect();
        row(
            "errors",
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            },
        );
        if i.verify {
            row(
                "pieces",
                format!("{} verified, {} failed", s.pieces_verified, s.pieces_failed),
            );
        }
        row(
            "cpu",
            format!(
                "{:.3} s (user {:.3} s, system {:.3} s), {:.1}% of one core",
                self.cpu.total().as_secs_f64(),
                self.cpu.user.as_secs_f64(),
                self.cpu.system.as_secs_f64(),
                self.cpu_percent()
            ),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut stats = Stats::new();
        stats.bytes = 50_000_000;
        for us in 1..=1000u64 {
            stats.record_latency(Duration::from_micros(us));
        }
        stats.error(CloseKind::Reset);
        Report {
            info: RunInfo {
                peer: "127.0.0.1:6881".into(),
                info_hash: "00".repeat(20),
                connections: 4,
                depth: 16,
                pattern: "random",
                verify: true,
                idle: false,
            },
            stats,
            elapsed: Duration::from_secs(2),
            cpu: CpuTime {
                user: Duration::from_millis(300),
                system: Duration::from_millis(200),
            },
            open_at_end: 3,
        }
    }

    #[test]
    fn rates_and_percentiles() {
        let r = report();
        assert_eq!(r.mb_per_s(), 25.0);
        assert_eq!(r.cpu_percent(), 25.0);
        let l = r.latency().unwrap();
        assert_eq!(l[0], ("p50", 500));
        assert_eq!(l[4], ("max", 1000));
        assert!(l[3].1 >= l[2].1 && l[2].1 >= l[1].1);
    }

    #[test]
    fn json_has_every_key() {
        let text = report().to_json().to_string();
        for key in [
            "\"bytes\": 50000000",
            "\"mb_per_s\": 25",
            "\"p99_9\"",
            "\"reset\": 1",
            "\"pieces_failed\": 0",
            "\"percent\": 25",
        ] {
            assert!(text.contains(key), "{key} missing from {text}");
        }
    }

    #[test]
    fn text_names_the_errors_seen() {
        let text = report().to_text();
        assert!(text.contains("reset 1"), "{text}");
        assert!(text.contains("25.0 MB/s"), "{text}");
        assert!(text.contains("p99.9 "), "{text}");
    }

    #[test]
    fn cpu_time_grows_while_busy() {
        let start = CpuTime::now();
        let wall = std::time::Instant::now();
        let mut x = 0u64;
        while CpuTime::now().since(start).total() < Duration::from_millis(20) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            assert!(
                wall.elapsed() < Duration::from_secs(10),
                "CPU time never grew"
            );
        }
    }
}
