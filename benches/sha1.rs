//! Single-core SHA-1 throughput of the `sha1` crate, the hasher `hivebt` uses for pieces.
//!
//! Each piece is hashed the way the workers hash it (`disk::hash_piece`): successive
//! `update` calls of at most 256 KiB from one reused buffer, then `finalize`. The buffer
//! stays in cache, as a freshly read chunk does, so this is the compute ceiling a
//! worker thread can reach, not a disk figure.
//!
//! Output, one line per size (MB = 10^6 bytes; percentiles are per-piece times):
//!
//! ```text
//! sha1 piece=1MiB    MB/s=1234.5  p50_us=850.1  p99_us=900.2  pieces=2345
//! ```
//!
//! `tools/bench-create` parses the `piece=1MiB` line. Run with `cargo bench --bench sha1`.
//! Total run time is bounded: about [`WARM_UP`] + [`MEASURE`] per size.

mod common;

use std::hint::black_box;
use std::time::Duration;

use sha1::{Digest, Sha1};

use common::Rng;

/// Bytes per `update` call, the worker's read chunk (`disk::READ_CHUNK`).
const CHUNK: usize = 256 * 1024;

/// Time spent hashing before measuring, per size (clocks ramp up, caches fill).
const WARM_UP: Duration = Duration::from_millis(300);

/// Time spent measuring, per size.
const MEASURE: Duration = Duration::from_secs(2);

/// Sizes measured: a 16 KiB block (BEP 3 request size), and common piece lengths.
const SIZES: [(&str, usize); 3] = [
    ("16KiB", 16 * 1024),
    ("256KiB", 256 * 1024),
    ("1MiB", 1024 * 1024),
];

/// Hashes `len` bytes as `disk::hash_piece` does: chunks of at most [`CHUNK`] bytes,
/// all taken from the same reused buffer.
fn hash_piece(chunk: &[u8], len: usize) -> [u8; 20] {
    let mut sha = Sha1::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        sha.update(&chunk[..n]);
        left -= n;
    }
    sha.finalize().into()
}

/// A buffer of pseudo-random bytes (SHA-1's speed does not depend on the data, this
/// only keeps the input from being trivially regular).
fn random_chunk() -> Vec<u8> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(CHUNK);
    while out.len() < CHUNK {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out
}

fn sha_ni() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("sha") {
            return "yes";
        }
        "no"
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        "n/a"
    }
}

fn main() {
    // Sanity check against a known vector (FIPS 180-1, "abc") so a broken build of the
    // hasher cannot report a fast rate.
    let abc: [u8; 20] = Sha1::digest(b"abc").into();
    assert_eq!(
        abc,
        [
            0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
            0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
        ]
    );
    let chunk = random_chunk();
    println!(
        "# sha1 crate, one thread, update() chunks of 256 KiB; sha-ni: {}",
        sha_ni()
    );
    for (label, len) in SIZES {
        let m = common::measure_for(WARM_UP, MEASURE, 1, || {
            black_box(hash_piece(black_box(&chunk), len));
        });
        let mb_s = m.mb_per_sec(len as f64);
        let p50 = m.quantile_ns(0.50) / 1e3;
        let p99 = m.quantile_ns(0.99) / 1e3;
        println!(
            "sha1 piece={label:<7} MB/s={mb_s:.1}  p50_us={p50:.1}  p99_us={p99:.1}  pieces={}",
            m.samples()
        );
    }
}
