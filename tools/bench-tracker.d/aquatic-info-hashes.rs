//! Prints the info-hashes `aquatic_udp_load_test` 0.9 announces and scrapes, as 40 hex
//! digits a line, so a whitelisting tracker (Debian's opentracker) can be told them.
//!
//! Usage: aquatic-info-hashes N   (N = the load test's `requests.number_of_torrents`)
//!
//! The load test draws them in `InfoHashDist::new` from
//! `SmallRng::seed_from_u64(0xc3aa8be617b3acce)`, 20 `rng.gen::<u8>()` per hash. With
//! rand 0.8 on a 64-bit target that is: rand_core 0.6's default `seed_from_u64` (PCG32
//! fills the 32-byte seed; `SmallRng` does not override it), Xoshiro256++ state read
//! little-endian from the seed, and each byte is `(next_u64() >> 32) as u8`.
//! Standalone (no crates): `rustc -O aquatic-info-hashes.rs`.

use std::io::{BufWriter, Write};

const SEED: u64 = 0xc3aa8be617b3acce;

struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

impl Xoshiro256PlusPlus {
    /// rand_core 0.6 `SeedableRng::seed_from_u64` (PCG32 output into the seed).
    fn seed_from_u64(mut state: u64) -> Self {
        const MUL: u64 = 6364136223846793005;
        const INC: u64 = 11634580027462260723;
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(4) {
            state = state.wrapping_mul(MUL).wrapping_add(INC);
            let xorshifted = (((state >> 18) ^ state) >> 27) as u32;
            let rot = (state >> 59) as u32;
            chunk.copy_from_slice(&xorshifted.rotate_right(rot).to_le_bytes());
        }
        // An all-zero seed is remapped by rand; PCG32 output never is all zero here.
        let mut s = [0u64; 4];
        for (i, w) in s.iter_mut().enumerate() {
            *w = u64::from_le_bytes(seed[i * 8..i * 8 + 8].try_into().unwrap());
        }
        Xoshiro256PlusPlus { s }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// `Standard` for u8: `next_u32() as u8`, and `next_u32` is the upper half of
    /// `next_u64`.
    fn gen_u8(&mut self) -> u8 {
        (self.next_u64() >> 32) as u8
    }
}

fn main() {
    let n: usize = match std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        Some(n) => n,
        None => {
            eprintln!("usage: aquatic-info-hashes NUMBER_OF_TORRENTS");
            std::process::exit(2);
        }
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut line = [0u8; 41];
    line[40] = b'\n';
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for _ in 0..n {
        for i in 0..20 {
            let b = rng.gen_u8();
            line[2 * i] = HEX[usize::from(b >> 4)];
            line[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        if out.write_all(&line).is_err() {
            std::process::exit(1);
        }
    }
    if out.flush().is_err() {
        std::process::exit(1);
    }
}
