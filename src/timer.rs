//! Deadlines for the reactor: a min-heap of timers with lazy, generation-checked
//! cancellation.
//!
//! Depends on nothing but `std`. Scheduling and popping are O(log n); cancelling is O(1)
//! (the slot's generation is bumped and the stale heap entry is dropped when it reaches
//! the top). Invariants, checked by `check_invariants` in tests:
//! - every live slot has exactly one heap entry carrying its current generation;
//! - the heap holds at most one entry per slot per generation ever issued, and stale
//!   entries are never returned.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Names a scheduled timer; stale once the timer fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    payload: Option<T>,
}

/// A set of deadlines, each carrying a payload of type `T`.
#[derive(Debug)]
pub struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, u64, u32, u32)>>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    seq: u64,
    live: usize,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            live: 0,
        }
    }
}

impl<T> Timers<T> {
    /// No timers.
    pub fn new() -> Timers<T> {
        Timers::default()
    }

    /// Schedules `payload` for `at`. Timers due at the same instant fire in the order
    /// they were scheduled.
    pub fn schedule(&mut self, at: Instant, payload: T) -> TimerId {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    payload: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.payload = Some(payload);
        self.seq += 1;
        self.live += 1;
        self.heap
            .push(Reverse((at, self.seq, slot, entry.generation)));
        TimerId {
            slot,
            generation: entry.generation,
        }
    }

    /// Cancels a timer; returns its payload if it had not fired yet.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let entry = self.slots.get_mut(id.slot as usize)?;
        if entry.generation != id.generation || entry.payload.is_none() {
            return None;
        }
        self.release(id.slot)
    }

    fn release(&mut self, slot: u32) -> Option<T> {
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        entry.payload.take()
    }

    fn drop_stale_top(&mut self) {
        while let Some(Reverse((_, _, slot, generation))) = self.heap.peek() {
            if self.slots[*slot as usize].generation == *generation {
                return;
            }
            self.heap.pop();
        }
    }

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.heap.peek().map(|Reverse((at, ..))| *at)
    }

    /// Removes and returns the payload of a timer due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        self.drop_stale_top();
        let Reverse((at, _, slot, _)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.release(slot)
    }

    /// Number of live timers.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no timer is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Checks the invariants in the module docs (tests and debug builds).
    pub fn check_invariants(&self) {
        let live_slots = self.slots.iter().filter(|s| s.payload.is_some()).count();
        assert_eq!(live_slots, self.live);
        assert_eq!(self.slots.len(), self.live + self.free.len());
        for (i, s) in self.slots.iter().enumerate() {
            if s.payload.is_some() {
                let entries = self
                    .heap
                    .iter()
                    .filter(|Reverse((_, _, slot, generation))| {
                        *slot as usize == i && *generation == s.generation
                    })
                    .count();
                assert_eq!(entries, 1, "slot {i} must have one current heap entry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_then_schedule_order() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.schedule(t0 + Duration::from_secs(3), "c");
        t.schedule(t0 + Duration::from_secs(1), "a1");
        t.schedule(t0 + Duration::from_secs(1), "a2");
        t.schedule(t0 + Duration::from_secs(2), "b");
        t.check_invariants();
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        let now = t0 + Duration::from_secs(2);
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_due(now)).collect();
        assert_eq!(fired, ["a1", "a2", "b"]);
        assert_eq!(t.len(), 1);
        t.check_invariants();
    }

    #[test]
    fn cancelled_and_stale_ids_never_fire() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        let a = t.schedule(t0, 1);
        let b = t.schedule(t0, 2);
        assert_eq!(t.cancel(a), Some(1));
        assert_eq!(t.cancel(a), None, "second cancel is a no-op");
        // The slot is reused by a new timer; the old id must not cancel it.
        let c = t.schedule(t0, 3);
        assert_eq!(t.cancel(a), None);
        t.check_invariants();
        assert_eq!(t.pop_due(t0), Some(2));
        assert_eq!(t.cancel(b), None, "fired timers cannot be cancelled");
        assert_eq!(t.pop_due(t0), Some(3));
        assert_eq!(t.cancel(c), None);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        t.check_invariants();
    }

    #[test]
    fn many_timers_stay_consistent() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        let mut ids = Vec::new();
        let mut x: u64 = 12345;
        for i in 0..2000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ids.push(t.schedule(t0 + Duration::from_millis(x % 1000), i));
        }
        for id in ids.iter().step_by(3) {
            t.cancel(*id);
        }
        t.check_invariants();
        let mut last = t0;
        let mut n = 0;
        while let Some(at) = t.next_deadline() {
            assert!(at >= last);
            last = at;
            t.pop_due(at).unwrap();
            n += 1;
        }
        assert_eq!(n, 2000 - 667);
    }
}
