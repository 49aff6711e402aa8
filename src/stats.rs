//! Latency histograms the engine keeps when asked (`--stats`), printed at exit:
//! request to block (download), hash queue wait and hash time, disk read queue wait and
//! read time, and the reactor's loop time. Values are microseconds in hdrhistogram
//! histograms (two significant digits, 1 µs to 10 minutes: about 20 KiB each).
//!
//! Depends on `hdrhistogram` and `json`. Allocated only with `--stats`, so a seed box
//! that does not ask pays nothing.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::json::Json;

/// Which histogram a measurement goes to; its discriminant is its row in `METRICS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// From sending a request to receiving its block.
    RequestToBlock,
    /// A downloaded piece waiting for a worker.
    HashWait,
    /// Hashing a downloaded piece.
    HashTime,
    /// Writing a verified piece.
    WriteTime,
    /// A piece read (or prefetch) for upload waiting for a worker.
    DiskReadWait,
    /// Reading (buffered) or prefetching (sendfile) a piece for upload.
    DiskRead,
    /// One turn of the reactor loop, from poll's return to the next poll.
    ReactorLoop,
}

const METRICS: [(Metric, &str, &str); 7] = [
    (
        Metric::RequestToBlock,
        "request to block",
        "request_to_block",
    ),
    (Metric::HashWait, "hash queue wait", "hash_wait"),
    (Metric::HashTime, "hash time", "hash_time"),
    (Metric::WriteTime, "write time", "write_time"),
    (
        Metric::DiskReadWait,
        "disk read queue wait",
        "disk_read_wait",
    ),
    (Metric::DiskRead, "disk read", "disk_read"),
    (Metric::ReactorLoop, "reactor loop", "reactor_loop"),
];

/// The engine's histograms.
#[derive(Debug)]
pub struct EngineStats {
    hists: Vec<Histogram<u64>>,
}

impl Default for EngineStats {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineStats {
    /// Empty histograms.
    pub fn new() -> EngineStats {
        let hists = METRICS
            .iter()
            .map(|_| {
                Histogram::new_with_bounds(1, 600_000_000, 2)
                    .expect("constant histogram bounds are valid")
            })
            .collect();
        EngineStats { hists }
    }

    /// Records one measurement (clamped to the histogram's range).
    pub fn record(&mut self, metric: Metric, d: Duration) {
        let i = metric as usize;
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        self.hists[i].saturating_record(us);
    }

    /// Number of measurements of `metric`.
    pub fn count(&self, metric: Metric) -> u64 {
        self.hists[metric as usize].len()
    }

    /// A table: one row per metric with count, p50, p90, p99, p99.9 and max, in µs.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "latency (µs)", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for ((_, name, _), h) in METRICS.iter().zip(&self.hists) {
            if h.is_empty() {
                let _ = writeln!(out, "{name:<22} {:>10} {:>9}", 0, "-");
                continue;
            }
            let _ = writeln!(
                out,
                "{name:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            );
        }
        out
    }

    /// Prometheus summaries in seconds, one per metric, named
    /// `hivebt_<key>_seconds` with quantiles 0.5, 0.9 and 0.99, `_sum` and `_count`.
    pub fn write_prometheus(&self, out: &mut String) {
        for ((_, name, key), h) in METRICS.iter().zip(&self.hists) {
            let _ = writeln!(out, "# HELP hivebt_{key}_seconds Latency: {name}.");
            let _ = writeln!(out, "# TYPE hivebt_{key}_seconds summary");
            for q in [0.5, 0.9, 0.99] {
                let v = if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(q)
                };
                let _ = writeln!(
                    out,
                    "hivebt_{key}_seconds{{quantile=\"{q}\"}} {}",
                    v as f64 / 1e6
                );
            }
            let sum = h.mean() * h.len() as f64 / 1e6;
            let _ = writeln!(out, "hivebt_{key}_seconds_sum {sum}");
            let _ = writeln!(out, "hivebt_{key}_seconds_count {}", h.len());
        }
    }

    /// The same as JSON: `{"request_to_block": {"count", "p50_us", ...}, ...}`.
    pub fn to_json(&self) -> Json {
        let mut fields = Vec::new();
        for ((_, _, key), h) in METRICS.iter().zip(&self.hists) {
            let q = |x: f64| {
                Json::Int(if h.is_empty() {
                    0
                } else {
                    i128::from(h.value_at_quantile(x))
                })
            };
            fields.push((
                *key,
                Json::Obj(vec![
                    ("count", Json::Int(i128::from(h.len()))),
                    ("p50_us", q(0.5)),
                    ("p90_us", q(0.9)),
                    ("p99_us", q(0.99)),
                    ("p99_9_us", q(0.999)),
                    ("max_us", Json::Int(i128::from(h.max()))),
                ]),
            ));
        }
        Json::Obj(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_indexes_its_own_row() {
        for (i, (m, _, _)) in METRICS.iter().enumerate() {
            assert_eq!(*m as usize, i, "{m:?}");
        }
    }

    #[test]
    fn records_into_the_right_row_and_renders_percentiles() {
        let mut s = EngineStats::new();
        for ms in 1..=100 {
            s.record(Metric::HashTime, Duration::from_millis(ms));
        }
        s.record(Metric::ReactorLoop, Duration::ZERO);
        assert_eq!(s.count(Metric::HashTime), 100);
        assert_eq!(s.count(Metric::ReactorLoop), 1);
        assert_eq!(s.count(Metric::DiskRead), 0);
        let table = s.render();
        let row = table.lines().find(|l| l.starts_with("hash time")).unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        // "hash time" is two words: count, p50, p90, p99, p99.9, max follow.
        assert_eq!(cols[2], "100");
        let p50: u64 = cols[3].parse().unwrap();
        assert!((49_500..=50_500).contains(&p50), "p50 {p50}");
        let max: u64 = cols[7].parse().unwrap();
        assert!((99_000..=101_000).contains(&max), "max {max}");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("reactor loop") && l.contains(" 1 "))
        );
        let json = s.to_json().to_string();
        let compact: String = json.split_whitespace().collect();
        assert!(compact.contains("\"hash_time\":{\"count\":100,"), "{json}");
    }
}
