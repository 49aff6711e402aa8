//! Token-bucket rate limits: the session's total upload and download, and each
//! torrent's own.
//!
//! Depends on nothing but `std`. Pure: the reactor calls [`Throttles::refill`] with
//! `now` every [`REFILL_INTERVAL`] and the engine spends tokens before sending blocks
//! (upload) or requesting them (download). A bucket holds at most a quarter second of
//! tokens, so a burst after idling stays small.
//!
//! A [`Throttle`] is a bucket and the connections waiting for its tokens (`K` is the
//! engine's connection key). Invariant: a key waits in a throttle at most once, and
//! only after that throttle turned it away; it is handed back by the first refill that
//! leaves tokens, or when the throttle's rate changes or it goes.
//!
//! Fairness: the keys a refill hands back are served in order, and the first usually
//! spends every token and is turned away first again. So each refill hands them back
//! turned by one: the key that went first last time goes last, and under a tight limit
//! the waiting connections take turns instead of one of them taking everything.

use std::time::{Duration, Instant};

/// How often buckets are topped up while a limit is set.
pub const REFILL_INTERVAL: Duration = Duration::from_millis(100);

/// A byte budget refilled at a fixed rate.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    tokens: i64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` bytes per second.
    pub fn new(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: Self::cap(rate),
            refilled_at: now,
        }
    }

    fn cap(rate: u64) -> i64 {
        (rate / 4).max(16 * 1024) as i64
    }

    /// Adds the tokens earned since the last refill.
    pub fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.refilled_at);
        self.refilled_at = now;
        let earned = (self.rate as u128 * elapsed.as_micros() / 1_000_000) as i64;
        self.tokens = (self.tokens + earned).min(Self::cap(self.rate));
    }

    /// Whether anything may be spent now.
    pub fn available(&self) -> bool {
        self.tokens > 0
    }

    /// Spends `n` bytes; the balance may go negative (one block of debt), which the
    /// next refills pay back before anything else is sent.
    pub fn spend(&mut self, n: u64) {
        self.tokens -= n as i64;
    }

    /// Bytes that may be spent now.
    pub fn tokens(&self) -> u64 {
        self.tokens.max(0) as u64
    }

    /// Bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }
}

/// A token bucket and the connections waiting for its tokens.
#[derive(Debug, Clone)]
pub struct Throttle<K> {
    bucket: TokenBucket,
    waiting: Vec<K>,
}

impl<K: Copy + PartialEq> Throttle<K> {
    /// A full bucket for `rate` bytes per second, nobody waiting.
    pub fn new(rate: u64, now: Instant) -> Throttle<K> {
        Throttle {
            bucket: TokenBucket::new(rate, now),
            waiting: Vec::new(),
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> u64 {
        self.bucket.rate()
    }

    /// Whether `k` may send a block now; if not, `k` waits for the next refill.
    pub fn admit(&mut self, k: K) -> bool {
        if self.bucket.available() {
            return true;
        }
        self.wait(k);
        false
    }

    /// How many of the `want` blocks of `block` bytes `k` may ask for now (a part
    /// block's worth of tokens buys a whole block); when fewer, `k` waits.
    pub fn afford(&mut self, k: K, want: usize, block: u64) -> usize {
        let affordable = self.bucket.tokens().div_ceil(block.max(1)) as usize;
        if affordable < want {
            self.wait(k);
        }
        want.min(affordable)
    }

    /// Spends `n` bytes (see [`TokenBucket::spend`]).
    pub fn spend(&mut self, n: u64) {
        self.bucket.spend(n);
    }

    /// Whether `k` waits for tokens.
    pub fn is_waiting(&self, k: K) -> bool {
        self.waiting.contains(&k)
    }

    fn wait(&mut self, k: K) {
        if !self.waiting.contains(&k) {
            self.waiting.push(k);
        }
    }

    /// Adds the tokens earned since the last refill; when some may be spent, hands back
    /// the waiting keys, the one turned away first moved to the end (see the module
    /// docs).
    fn refill(&mut self, now: Instant) -> Vec<K> {
        self.bucket.refill(now);
        if !self.bucket.available() {
            return Vec::new();
        }
        let mut woken = std::mem::take(&mut self.waiting);
        if !woken.is_empty() {
            woken.rotate_left(1);
        }
        woken
    }

    fn forget(&mut self, k: K) {
        self.waiting.retain(|&w| w != k);
    }
}

/// Keys handed back by [`Throttles`]: those to serve again (upload) and those to ask
/// again (download).
#[derive(Debug)]
pub struct Woken<K> {
    /// Waited to send blocks.
    pub up: Vec<K>,
    /// Waited to request blocks.
    pub down: Vec<K>,
}

impl<K> Woken<K> {
    /// Adds `other`'s keys after these.
    pub fn extend(&mut self, other: Woken<K>) {
        self.up.extend(other.up);
        self.down.extend(other.down);
    }
}

/// An optional upload and an optional download throttle.
#[derive(Debug, Clone)]
pub struct Throttles<K> {
    /// Blocks sent.
    pub up: Option<Throttle<K>>,
    /// Blocks requested.
    pub down: Option<Throttle<K>>,
}

impl<K> Default for Throttles<K> {
    fn default() -> Self {
        Throttles {
            up: None,
            down: None,
        }
    }
}

impl<K: Copy + PartialEq> Throttles<K> {
    /// Throttles for `up` and `down` bytes per second (`None` or 0: that side unlimited).
    pub fn new(up: Option<u64>, down: Option<u64>, now: Instant) -> Throttles<K> {
        let mut t = Throttles::default();
        t.set(up, down, now);
        t
    }

    /// Whether neither side is limited.
    pub fn is_empty(&self) -> bool {
        self.up.is_none() && self.down.is_none()
    }

    /// The upload and download rates, `None` where unlimited.
    pub fn rates(&self) -> (Option<u64>, Option<u64>) {
        (
            self.up.as_ref().map(Throttle::rate),
            self.down.as_ref().map(Throttle::rate),
        )
    }

    /// Sets the rates (`None` or 0: unlimited). A side whose rate is unchanged keeps
    /// its tokens and its waiting keys; one that changes starts with a full bucket and
    /// hands its waiting keys back, to go on under the new rate (or none).
    pub fn set(&mut self, up: Option<u64>, down: Option<u64>, now: Instant) -> Woken<K> {
        Woken {
            up: reset(&mut self.up, up, now),
            down: reset(&mut self.down, down, now),
        }
    }

    /// Tops both buckets up; hands back the keys that may go on.
    pub fn refill(&mut self, now: Instant) -> Woken<K> {
        let side = |t: &mut Option<Throttle<K>>| t.as_mut().map(|t| t.refill(now));
        Woken {
            up: side(&mut self.up).unwrap_or_default(),
            down: side(&mut self.down).unwrap_or_default(),
        }
    }

    /// `k` is gone: it waits no more.
    pub fn forget(&mut self, k: K) {
        for t in [self.up.as_mut(), self.down.as_mut()].into_iter().flatten() {
            t.forget(k);
        }
    }
}

/// Sets one side of [`Throttles::set`]; returns the keys released.
fn reset<K: Copy + PartialEq>(
    side: &mut Option<Throttle<K>>,
    rate: Option<u64>,
    now: Instant,
) -> Vec<K> {
    let rate = rate.filter(|&r| r > 0);
    if side.as_ref().map(Throttle::rate) == rate {
        return Vec::new();
    }
    let old = std::mem::replace(side, rate.map(|r| Throttle::new(r, now)));
    old.map(|t| t.waiting).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_rate_and_caps_bursts() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1_000_000, t0);
        assert_eq!(b.tokens(), 250_000);
        b.spend(300_000);
        assert!(!b.available());
        b.refill(t0 + Duration::from_millis(100));
        assert_eq!(b.tokens(), 50_000);
        b.refill(t0 + Duration::from_secs(10));
        assert_eq!(b.tokens(), 250_000, "capped at a quarter second");
    }

    #[test]
    fn slow_rates_still_allow_one_block() {
        let t0 = Instant::now();
        let b = TokenBucket::new(1000, t0);
        assert_eq!(b.tokens(), 16 * 1024);
    }

    #[test]
    fn a_throttle_keeps_who_it_turned_away_until_a_refill_leaves_tokens() {
        let t0 = Instant::now();
        let mut t: Throttle<u32> = Throttle::new(160 * 1024, t0);
        assert!(t.admit(1), "a full bucket admits");
        t.spend(64 * 1024);
        assert!(!t.admit(1) && !t.admit(2) && !t.admit(1));
        assert!(t.is_waiting(1) && t.is_waiting(2));
        // 10 ms earn 1.6 KiB: still in debt, nobody goes on.
        assert!(t.refill(t0 + Duration::from_millis(10)).is_empty());
        t.forget(2);
        assert_eq!(
            t.refill(t0 + Duration::from_millis(500)),
            [1],
            "handed back once"
        );
        assert!(!t.is_waiting(1));
    }

    #[test]
    fn each_refill_puts_a_different_key_first() {
        let t0 = Instant::now();
        let mut t: Throttle<u32> = Throttle::new(160 * 1024, t0);
        t.spend(1 << 20);
        let (mut order, mut first) = (vec![1, 2, 3], Vec::new());
        for i in 1..=3 {
            // Served in the order handed back, the first spends everything and is
            // turned away first again.
            for &k in &order {
                assert!(!t.admit(k));
            }
            order = t.refill(t0 + Duration::from_secs(10 * i));
            first.push(order[0]);
            t.spend(1 << 20);
        }
        assert_eq!(first, [2, 3, 1], "round robin");
    }

    #[test]
    fn afford_rounds_part_blocks_up_and_waits_when_short() {
        let t0 = Instant::now();
        let mut t: Throttle<u32> = Throttle::new(1000, t0);
        assert_eq!(t.afford(1, 4, 16 * 1024), 1, "16 KiB of tokens: one block");
        assert!(t.is_waiting(1));
        assert_eq!(t.afford(2, 1, 16 * 1024), 1);
        assert!(!t.is_waiting(2), "got all it wanted");
        t.spend(16 * 1024);
        assert_eq!(t.afford(2, 1, 16 * 1024), 0);
        assert!(t.is_waiting(2));
    }

    #[test]
    fn changing_a_rate_releases_its_waiters_and_an_unchanged_one_keeps_its_state() {
        let t0 = Instant::now();
        let mut t: Throttles<u32> = Throttles::new(Some(100_000), Some(0), t0);
        assert_eq!(t.rates(), (Some(100_000), None), "0 is unlimited");
        let up = t.up.as_mut().unwrap();
        up.spend(1 << 20);
        assert!(!up.admit(7));
        let woken = t.set(Some(100_000), None, t0);
        assert!(woken.up.is_empty() && t.up.as_ref().unwrap().is_waiting(7));
        assert!(!t.up.as_mut().unwrap().admit(8), "the debt is kept");
        let woken = t.set(Some(200_000), Some(5_000), t0);
        assert_eq!(woken.up, [7, 8]);
        assert!(t.up.as_mut().unwrap().admit(9), "a new rate starts full");
        let woken = t.set(None, None, t0);
        assert!(woken.up.is_empty() && woken.down.is_empty() && t.is_empty());
    }
}
