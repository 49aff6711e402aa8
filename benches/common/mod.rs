//! Timing and percentile reporting shared by the benches (each bench includes it with
//! `mod common;`; none uses all of it, hence the `dead_code` allowance).
//!
//! A *sample* is one timed run of one operation or of a batch of them. The histogram
//! holds the time per operation of each sample (the batch time divided by its size), in
//! picoseconds so that operations of a few nanoseconds keep their digits. For a batch,
//! the percentiles and the maximum are therefore of batch means, not of single
//! operations: a batch keeps the clock read (tens of ns) out of what is measured.
//!
//! Output is one line per measurement, `key=value` pairs after the bench and
//! measurement names, the style of `benches/sha1.rs`:
//!
//! ```text
//! timer schedule         unit=ns/op  p50=40.1  p90=44.0  p99=61.2  p99.9=90.3  max=130.0  Mops/s=24.1  samples=20000  batch=100
//! ```
#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Time spent running a measurement before recording it (clocks ramp up, caches fill).
pub const WARM_UP: Duration = Duration::from_millis(200);

/// Time spent recording one measurement.
pub const MEASURE: Duration = Duration::from_secs(1);

/// Picoseconds per nanosecond.
const PS_PER_NS: u128 = 1000;

/// Per-operation times of a measurement, with what is needed for rates.
pub struct Recorder {
    /// Time per operation of each sample, in picoseconds.
    histogram: Histogram<u64>,
    samples: u64,
    ops: u64,
    /// Sum of the timed spans: the time the measured code ran, loop overhead excluded.
    busy: Duration,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// No samples.
    pub fn new() -> Recorder {
        // 1 ps to 60 s at 3 significant digits; the bounds are constants, so this
        // cannot fail.
        let histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000_000, 3)
            .expect("histogram bounds are valid");
        Recorder {
            histogram,
            samples: 0,
            ops: 0,
            busy: Duration::ZERO,
        }
    }

    /// Records one sample: `ops` operations (at least 1) that took `took` in all.
    pub fn record(&mut self, took: Duration, ops: u64) {
        let ops = ops.max(1);
        let per_op_ps = took.as_nanos() * PS_PER_NS / u128::from(ops);
        self.histogram
            .saturating_record(u64::try_from(per_op_ps).unwrap_or(u64::MAX).max(1));
        self.samples += 1;
        self.ops += ops;
        self.busy += took;
    }

    /// Samples recorded.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Operations recorded over all samples.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Total time the measured code ran.
    pub fn busy(&self) -> Duration {
        self.busy
    }

    /// Operations per second of measured time.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.busy.as_secs_f64()
    }

    /// MB/s (10^6 bytes) of measured time, for `bytes_per_op` bytes per operation.
    pub fn mb_per_sec(&self, bytes_per_op: f64) -> f64 {
        self.ops as f64 * bytes_per_op / self.busy.as_secs_f64() / 1e6
    }

    /// The time per operation at quantile `q` (0.0..=1.0), in nanoseconds.
    pub fn quantile_ns(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / PS_PER_NS as f64
    }

    /// The longest time per operation, in nanoseconds.
    pub fn max_ns(&self) -> f64 {
        self.histogram.max() as f64 / PS_PER_NS as f64
    }

    /// Prints the measurement's line: `bench name`, the per-operation percentiles in
    /// `unit` (`ns/op`, `us/decode`...; its prefix must be `ns` or `us`), then the
    /// `rates` (`("MB/s", value)`...), the sample count and, for batches, their size.
    pub fn print(&self, bench: &str, name: &str, unit: &str, rates: &[(&str, f64)]) {
        let scale = if unit.starts_with("us") { 1e3 } else { 1.0 };
        let v = |ns: f64| format_value(ns / scale);
        let mut line = format!(
            "{bench} {name:<28} unit={unit}  p50={}  p90={}  p99={}  p99.9={}  max={}",
            v(self.quantile_ns(0.50)),
            v(self.quantile_ns(0.90)),
            v(self.quantile_ns(0.99)),
            v(self.quantile_ns(0.999)),
            v(self.max_ns()),
        );
        for (key, value) in rates {
            line.push_str(&format!("  {key}={}", format_value(*value)));
        }
        line.push_str(&format!("  samples={}", self.samples));
        let batch = self.ops / self.samples.max(1);
        if batch > 1 {
            line.push_str(&format!("  batch={batch}"));
        }
        println!("{line}");
    }
}

/// A value with one decimal, or three below 10 (a 2.4 ns operation needs them).
fn format_value(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

/// Runs `sample` untimed for `warm_up`, then timed, one call per sample, until
/// `measure` has passed; each call counts as `ops_per_sample` operations. The caller
/// `black_box`es inside `sample` whatever it computes.
pub fn measure_for(
    warm_up: Duration,
    measure: Duration,
    ops_per_sample: u64,
    mut sample: impl FnMut(),
) -> Recorder {
    measure_timed_for(warm_up, measure, ops_per_sample, || {
        let at = Instant::now();
        sample();
        at.elapsed()
    })
}

/// [`measure_for`] with the default [`WARM_UP`] and [`MEASURE`].
pub fn measure(ops_per_sample: u64, sample: impl FnMut()) -> Recorder {
    measure_for(WARM_UP, MEASURE, ops_per_sample, sample)
}

/// Like [`measure_for`], for samples that need untimed set-up or clean-up: `sample`
/// times its own measured part (see [`timed`]) and returns how long it took. The
/// bounds are on wall time, set-up included.
pub fn measure_timed_for(
    warm_up: Duration,
    measure: Duration,
    ops_per_sample: u64,
    mut sample: impl FnMut() -> Duration,
) -> Recorder {
    let warm_until = Instant::now() + warm_up;
    while Instant::now() < warm_until {
        sample();
    }
    let mut recorder = Recorder::new();
    let started_at = Instant::now();
    loop {
        let took = sample();
        recorder.record(took, ops_per_sample);
        if started_at.elapsed() >= measure {
            return recorder;
        }
    }
}

/// [`measure_timed_for`] with the default [`WARM_UP`] and [`MEASURE`].
pub fn measure_timed(ops_per_sample: u64, sample: impl FnMut() -> Duration) -> Recorder {
    measure_timed_for(WARM_UP, MEASURE, ops_per_sample, sample)
}

/// The median cost of reading the clock twice back to back, in nanoseconds: what every
/// sample timed alone carries on top of the code it measures.
pub fn clock_cost_ns() -> f64 {
    let mut r = Recorder::new();
    for _ in 0..10_000 {
        let at = Instant::now();
        r.record(black_box(Instant::now()) - at, 1);
    }
    r.quantile_ns(0.5)
}

/// Times one call of `f`, returning its result and how long it took. For benches whose
/// samples need untimed set-up between them.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let at = Instant::now();
    let r = black_box(f());
    (r, at.elapsed())
}

/// A small deterministic generator (xorshift64) for bench inputs, so every run measures
/// the same data.
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed (0 is replaced, as xorshift would stay at 0).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`); the bias is negligible for bench inputs.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `0.0..1.0`.
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.fraction() < p
    }
}
