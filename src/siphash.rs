//! SipHash-2-4 with a caller's 128-bit key (Aumasson and Bernstein, "SipHash: a fast
//! short-input PRF", 2012): a keyed hash for values a remote party must not forge, such
//! as the tracker's stateless UDP connection ids (BEP 15) and, later, DHT tokens.
//!
//! Depends on nothing. Std hashes with SipHash too, but only behind `RandomState`, whose
//! keys cannot be chosen, or the deprecated `SipHasher`; the inputs here are a few dozen
//! bytes known at once, so a one-shot function over a byte slice is all that is needed.

/// SipHash-2-4 of `msg` under `key` (read as two little-endian words, as in the paper).
pub fn siphash24(key: &[u8; 16], msg: &[u8]) -> u64 {
    let k0 = le_word(&key[..8]);
    let k1 = le_word(&key[8..]);
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    let words = msg.chunks_exact(8);
    let tail = words.remainder();
    for word in words {
        compress(&mut v, le_word(word));
    }
    // The last block: the remaining bytes, and the message length mod 256 on top.
    let mut last = (msg.len() as u64) << 56;
    for (i, &b) in tail.iter().enumerate() {
        last |= u64::from(b) << (8 * i);
    }
    compress(&mut v, last);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The little-endian word in `bytes`, exactly 8 of them.
fn le_word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// Absorbs one message word with the two compression rounds of SipHash-2-4.
fn compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    round(v);
    round(v);
    v[0] ^= m;
}

/// One SipRound.
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_key() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn paper_test_vector() {
        // Appendix A of the paper: key 00..0f, message 00..0e (15 bytes).
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&paper_key(), &msg), 0xa129_ca61_49be_45e5);
        // First entry of the reference implementation's vectors.h: the empty message.
        assert_eq!(siphash24(&paper_key(), &[]), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    #[allow(deprecated)]
    fn agrees_with_std_siphasher_at_every_length() {
        use std::hash::Hasher;
        let key: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
        let k0 = u64::from_le_bytes(key[..8].try_into().unwrap());
        let k1 = u64::from_le_bytes(key[8..].try_into().unwrap());
        let msg: Vec<u8> = (0..70u8)
            .map(|i| i.wrapping_mul(151).wrapping_add(7))
            .collect();
        for len in 0..=msg.len() {
            let mut std_hasher = std::hash::SipHasher::new_with_keys(k0, k1);
            std_hasher.write(&msg[..len]);
            assert_eq!(
                siphash24(&key, &msg[..len]),
                std_hasher.finish(),
                "len {len}"
            );
        }
    }
}
