//! Token-bucket rate limits for the session's total upload and download.
//!
//! Depends on nothing but `std`. Pure: the reactor calls [`TokenBucket::refill`] with
//! `now` every [`REFILL_INTERVAL`] and spends tokens before sending blocks (upload) or
//! requesting them (download). The bucket holds at most a quarter second of tokens, so
//! a burst after idling stays small.

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
}
