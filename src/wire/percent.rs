//! Percent-encoding (RFC 3986) as magnet links and HTTP tracker URLs use it: binary
//! info-hashes and peer ids in queries, names and URLs in magnet parameters.
//!
//! Depends on `types`. Decoding reads `%XX` in either case and `+` as a space (form
//! encoding; a client that means a real `+` sends `%2B`); encoding leaves only the
//! RFC 3986 unreserved characters as they are.

use std::borrow::Cow;

use crate::types::hex_digit;

/// Decodes `%XX` escapes and `+`; `None` on a broken escape. Borrows when there is
/// nothing to decode, as for most keys and numbers.
pub fn decode(s: &str) -> Option<Cow<'_, [u8]>> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || c == b'+') {
        return Some(Cow::Borrowed(b));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut rest = b;
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        match c {
            b'%' => {
                let (&[hi, lo], tail) = rest.split_first_chunk::<2>()?;
                out.push((hex_digit(hi)? << 4) | hex_digit(lo)?);
                rest = tail;
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
    }
    Some(Cow::Owned(out))
}

/// Appends `bytes` with everything but RFC 3986 unreserved characters as `%XX`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// `bytes` percent-encoded.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    encode_into(bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_edges() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap().as_ref(), all.as_slice());
        assert_eq!(encode(b"a b/~"), "a%20b%2F~");
        assert_eq!(decode("a+b%2b%2B").unwrap().as_ref(), b"a b++");
        assert!(matches!(decode("plain"), Some(Cow::Borrowed(_))));
        for bad in ["%", "%4", "%zz", "%+f", "%\u{e9}"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
