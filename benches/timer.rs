//! Cost of the reactor's deadline heap (`timer::Timers`) holding 10^5 live timers:
//! `schedule`, `pop_due`, `cancel`, and `pop_due` once cancelled entries lie in the heap.
//!
//! Deadlines are spread over the 30 s after the last deadline fired, like request
//! timeouts, keep-alives and choker rounds. Time is virtual: a timer's payload is its
//! own deadline, and the heap is drained with a `now` past every deadline, so each
//! `pop_due` returns the earliest timer (its cost does not depend on `now`). Every
//! sample keeps the live count at 10^5:
//! - `schedule`: schedule a batch (timed), then pop as many (untimed);
//! - `pop_due`: schedule a batch (untimed), then pop as many (timed);
//! - `cancel`: schedule two batches (untimed), cancel every other new timer (timed),
//!   pop a batch (untimed). This is the life of a request timeout, cancelled when the
//!   block arrives. Cancelling is lazy, so the heap keeps the stale entry until it
//!   reaches the top; in steady state the heap holds about as many stale entries as
//!   live ones;
//! - `pop_due after cancels`: the same, with the pop timed: it pays for dropping the
//!   stale entries it meets.
//!
//! Output, one line per measurement (percentiles are of per-op means over a batch):
//!
//! ```text
//! timer schedule                  unit=ns/op  p50=..  p90=..  p99=..  p99.9=..  max=..  Mops/s=..  samples=..  batch=100
//! ```
//!
//! Run with `cargo bench --bench timer`; about 1.2 s per measurement.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use hivebt::timer::{TimerId, Timers};

use common::{Recorder, Rng};

/// Live timers.
const LIVE: usize = 100_000;

/// Operations per sample.
const BATCH: usize = 100;

/// Deadlines fall within this span after the last fired one.
const SPREAD_US: u64 = 30_000_000;

/// A heap of [`LIVE`] timers and the virtual clock that drives it.
struct Heap {
    timers: Timers<Instant>,
    rng: Rng,
    /// The deadline of the last timer fired: the virtual now.
    now: Instant,
    /// Past every deadline: `pop_due(far)` always returns the earliest timer.
    far: Instant,
    /// Deadlines drawn for the next [`Heap::schedule`], so drawing them is not timed.
    deadlines: Vec<Instant>,
    /// Ids of the last batches scheduled.
    ids: Vec<TimerId>,
}

impl Heap {
    fn new(rng: Rng) -> Heap {
        let now = Instant::now();
        let mut heap = Heap {
            timers: Timers::new(),
            rng,
            now,
            far: now + Duration::from_secs(365 * 24 * 3600),
            deadlines: Vec::with_capacity(LIVE),
            ids: Vec::with_capacity(LIVE),
        };
        heap.draw(LIVE);
        heap.schedule();
        heap.ids.clear();
        heap
    }

    /// Draws `n` deadlines for the next [`Heap::schedule`].
    fn draw(&mut self, n: usize) {
        for _ in 0..n {
            let at = self.now + Duration::from_micros(self.rng.below(SPREAD_US));
            self.deadlines.push(at);
        }
    }

    /// Schedules the drawn deadlines, keeping their ids in `ids`.
    fn schedule(&mut self) {
        for &at in &self.deadlines {
            self.ids.push(self.timers.schedule(black_box(at), at));
        }
        self.deadlines.clear();
    }

    /// Fires the `n` earliest timers, checking they come in deadline order.
    fn pop(&mut self, n: usize) {
        for _ in 0..n {
            match self.timers.pop_due(black_box(self.far)) {
                Some(at) => {
                    assert!(at >= self.now, "timer: fired out of deadline order");
                    self.now = at;
                }
                None => panic!("timer: pop_due found nothing due"),
            }
        }
    }

    /// Cancels every other timer of `ids` (all live), then forgets the ids.
    fn cancel_every_other(&mut self) {
        for id in self.ids.iter().step_by(2) {
            let payload = self.timers.cancel(black_box(*id));
            assert!(payload.is_some(), "timer: cancel found nothing");
            black_box(payload);
        }
        self.ids.clear();
    }

    fn check_live(&self) {
        assert_eq!(self.timers.len(), LIVE, "timer: the live count drifted");
    }
}

fn print(name: &str, m: &Recorder) {
    m.print("timer", name, "ns/op", &[("Mops/s", m.ops_per_sec() / 1e6)]);
}

fn main() {
    let mut heap = Heap::new(Rng::new(0x0071_31e5));
    heap.check_live();
    println!("# timer::Timers, one thread; {LIVE} live timers, deadlines over 30 s");
    let n = BATCH as u64;

    let m = common::measure_timed(n, || {
        heap.draw(BATCH);
        let ((), took) = common::timed(|| heap.schedule());
        heap.ids.clear();
        heap.pop(BATCH);
        took
    });
    heap.check_live();
    print("schedule", &m);

    let m = common::measure_timed(n, || {
        heap.draw(BATCH);
        heap.schedule();
        heap.ids.clear();
        let ((), took) = common::timed(|| heap.pop(BATCH));
        took
    });
    heap.check_live();
    print("pop_due", &m);

    let m = common::measure_timed(n, || {
        heap.draw(2 * BATCH);
        heap.schedule();
        let ((), took) = common::timed(|| heap.cancel_every_other());
        heap.pop(BATCH);
        took
    });
    heap.check_live();
    print("cancel", &m);

    let m = common::measure_timed(n, || {
        heap.draw(2 * BATCH);
        heap.schedule();
        heap.cancel_every_other();
        let ((), took) = common::timed(|| heap.pop(BATCH));
        took
    });
    heap.check_live();
    print("pop_due after cancels", &m);
}
