//! The one source of random numbers: a small, fast generator (splitmix64) that every
//! core takes as a seed or as a value, and the operating system's random source that
//! seeds it.
//!
//! Depends on nothing. Sans-io cores (picker, choker, tracker client and server) never
//! seed themselves: the reactor seeds them from [`os_u64`], and tests give a fixed seed,
//! so the same calls replay the same picks. The generator is for uniform choices
//! (tie-breaks, samples, transaction ids), not for secrets; a secret (a keyed hash's key)
//! takes its bits from [`os_u64`] directly.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;

/// A splitmix64 generator: 64 bits of state, every seed (zero included) a full-period
/// sequence.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator seeded from the operating system's random source (see [`os_u64`]).
    pub fn from_os() -> Rng {
        Rng::new(os_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` by multiply-and-shift (0 when `n` is 0); the bias is below
    /// `n / 2^64`, nothing for the sizes used here.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// 64 random bits from the operating system (`/dev/urandom`), for seeds and secrets;
/// where it cannot be read, std's randomly keyed hasher (seeded by the standard library
/// from the operating system) over the process id.
pub fn os_u64() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_known_values() {
        // The reference sequence for seed 0 (Vigna's splitmix64.c).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(42);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[r.below(7)] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn a_seed_replays() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::from_os().next_u64(), Rng::from_os().next_u64());
    }
}
