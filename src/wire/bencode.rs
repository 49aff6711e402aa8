//! Bencode (BEP 3): a zero-copy decoder that keeps every value's byte span, and the
//! small encoder the rest of the crate builds messages with.
//!
//! Depends only on `config`. The decoder is strict where ambiguity could be exploited
//! and lenient where real files are sloppy but harmless:
//! - integers must be canonical (`i0e`, no leading zeros, no `-0`) and fit in an `i64`;
//! - string lengths must be canonical and fit in the input;
//! - nesting deeper than [`MAX_BENCODE_DEPTH`] is an error, never a stack overflow;
//! - a dictionary with a **duplicate key is rejected**: clients disagree on which value
//!   wins, so accepting it would let one file mean two torrents;
//! - a dictionary with **unsorted keys is accepted with a warning**: old tools wrote
//!   such files, and because info-hashes are taken over the raw bytes, the order changes
//!   nothing about what the file means.
//!
//! Every error names the byte offset where decoding stopped.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::config::MAX_BENCODE_DEPTH;

/// A decoded value together with the byte range it occupies in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'a> {
    /// The value itself.
    pub value: Value<'a>,
    /// Offset of the value's first byte.
    pub start: usize,
    /// Offset one past the value's last byte.
    pub end: usize,
}

/// A bencode value borrowing its strings from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i...e`
    Int(i64),
    /// `N:bytes`
    Bytes(&'a [u8]),
    /// `l...e`
    List(Vec<Node<'a>>),
    /// `d...e`, in the order the keys appear in the input.
    Dict(Vec<(&'a [u8], Node<'a>)>),
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte(u8),
    /// An integer with no digits, leading zeros or `-0`.
    NonCanonicalInteger,
    /// An integer or a string length that does not fit in 64 bits.
    IntegerOverflow,
    /// A string whose declared length runs past the end of the input.
    StringPastEnd {
        /// The declared length.
        declared: u64,
        /// Bytes left after the colon.
        available: usize,
    },
    /// Nesting deeper than the limit.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A dictionary key that is not a string.
    KeyNotString,
    /// The same key twice in one dictionary.
    DuplicateKey(Vec<u8>),
    /// Bytes after the top-level value.
    TrailingData {
        /// How many bytes follow.
        extra: usize,
    },
}

/// A decoding failure at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Offset of the offending byte (or the end of input).
    pub offset: usize,
    /// What was wrong there.
    pub kind: ErrorKind,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bencode at byte {}: ", self.offset)?;
        match &self.kind {
            ErrorKind::UnexpectedEnd => f.write_str("input ends inside a value"),
            ErrorKind::UnexpectedByte(b) => write!(f, "unexpected byte {}", show_byte(*b)),
            ErrorKind::NonCanonicalInteger => {
                f.write_str("integer is empty, has leading zeros or is -0")
            }
            ErrorKind::IntegerOverflow => f.write_str("integer does not fit in 64 bits"),
            ErrorKind::StringPastEnd {
                declared,
                available,
            } => write!(
                f,
                "string of {declared} bytes but only {available} bytes remain"
            ),
            ErrorKind::TooDeep { limit } => write!(f, "nesting deeper than {limit} levels"),
            ErrorKind::KeyNotString => f.write_str("dictionary key is not a string"),
            ErrorKind::DuplicateKey(k) => {
                write!(
                    f,
                    "duplicate dictionary key \"{}\"",
                    String::from_utf8_lossy(k)
                )
            }
            ErrorKind::TrailingData { extra } => {
                write!(f, "{extra} bytes of trailing data after the value")
            }
        }
    }
}

impl std::error::Error for Error {}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

/// Something odd but harmless seen while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A dictionary's keys are not in byte-wise sorted order; the key at `offset` sorts
    /// before the one ahead of it.
    UnsortedKeys {
        /// Offset of the out-of-order key.
        offset: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnsortedKeys { offset } => {
                write!(f, "dictionary keys are not sorted (key at byte {offset})")
            }
        }
    }
}

/// Decodes exactly one value that must fill the whole input.
pub fn decode(input: &[u8]) -> Result<(Node<'_>, Vec<Warning>), Error> {
    let (node, used, warnings) = decode_prefix(input)?;
    if used != input.len() {
        return Err(Error {
            offset: used,
            kind: ErrorKind::TrailingData {
                extra: input.len() - used,
            },
        });
    }
    Ok((node, warnings))
}

/// Decodes one value from the start of `input` and returns it with the number of bytes
/// it used; whatever follows is left to the caller (BEP 9 metadata messages carry raw
/// data after a dictionary).
pub fn decode_prefix(input: &[u8]) -> Result<(Node<'_>, usize, Vec<Warning>), Error> {
    let mut d = Decoder {
        input,
        pos: 0,
        warnings: Vec::new(),
    };
    let node = d.value(0)?;
    Ok((node, d.pos, d.warnings))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    warnings: Vec<Warning>,
}

impl<'a> Decoder<'a> {
    fn err<T>(&self, offset: usize, kind: ErrorKind) -> Result<T, Error> {
        Err(Error { offset, kind })
    }

    fn peek(&self) -> Result<u8, Error> {
        match self.input.get(self.pos) {
            Some(&b) => Ok(b),
            None => self.err(self.pos, ErrorKind::UnexpectedEnd),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, Error> {
        let start = self.pos;
        let value = match self.peek()? {
            b'i' => {
                self.pos += 1;
                Value::Int(self.integer(b'e')?)
            }
            b'0'..=b'9' => Value::Bytes(self.string()?),
            b'l' | b'd' if depth >= MAX_BENCODE_DEPTH => {
                return self.err(
                    start,
                    ErrorKind::TooDeep {
                        limit: MAX_BENCODE_DEPTH,
                    },
                );
            }
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Value::List(items)
            }
            b'd' => {
                self.pos += 1;
                self.dict(depth)?
            }
            b => return self.err(start, ErrorKind::UnexpectedByte(b)),
        };
        Ok(Node {
            value,
            start,
            end: self.pos,
        })
    }

    fn dict(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        let mut entries: Vec<(&'a [u8], Node<'a>)> = Vec::new();
        // While keys arrive sorted, a duplicate can only equal the previous key. Once
        // they are not, every key is checked against a set, so a hostile dictionary of
        // many unsorted keys costs O(n) rather than O(n^2).
        let mut seen: Option<HashSet<&'a [u8]>> = None;
        while self.peek()? != b'e' {
            let key_at = self.pos;
            if !self.peek()?.is_ascii_digit() {
                return self.err(key_at, ErrorKind::KeyNotString);
            }
            let key = self.string()?;
            let duplicate = match (&mut seen, entries.last()) {
                (Some(set), _) => !set.insert(key),
                (None, Some((last, _))) if key <= *last => {
                    let mut set: HashSet<&'a [u8]> = entries.iter().map(|(k, _)| *k).collect();
                    let fresh = set.insert(key);
                    seen = Some(set);
                    if fresh {
                        self.warnings.push(Warning::UnsortedKeys { offset: key_at });
                    }
                    !fresh
                }
                (None, _) => false,
            };
            if duplicate {
                return self.err(key_at, ErrorKind::DuplicateKey(key.to_vec()));
            }
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        self.pos += 1;
        Ok(Value::Dict(entries))
    }

    /// Reads a decimal integer terminated by `end`, checking canonical form.
    fn integer(&mut self, end: u8) -> Result<i64, Error> {
        let start = self.pos;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_at = self.pos;
        let mut value: i64 = 0;
        loop {
            let b = self.peek()?;
            if b == end {
                break;
            }
            if !b.is_ascii_digit() {
                return self.err(self.pos, ErrorKind::UnexpectedByte(b));
            }
            let digit = i64::from(b - b'0');
            value = value
                .checked_mul(10)
                .and_then(|v| {
                    if negative {
                        v.checked_sub(digit)
                    } else {
                        v.checked_add(digit)
                    }
                })
                .ok_or(Error {
                    offset: start,
                    kind: ErrorKind::IntegerOverflow,
                })?;
            self.pos += 1;
        }
        let digits = &self.input[digits_at..self.pos];
        let leading_zero = digits.len() > 1 && digits[0] == b'0';
        let negative_zero = negative && digits == b"0";
        let canonical = !(digits.is_empty() || leading_zero || negative_zero);
        if !canonical {
            return self.err(start, ErrorKind::NonCanonicalInteger);
        }
        self.pos += 1;
        Ok(value)
    }

    fn string(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let len = self.integer(b':')?;
        if len < 0 {
            return self.err(start, ErrorKind::UnexpectedByte(b'-'));
        }
        let available = self.input.len() - self.pos;
        let len = len as u64;
        if len > available as u64 {
            return self.err(
                start,
                ErrorKind::StringPastEnd {
                    declared: len,
                    available,
                },
            );
        }
        let s = &self.input[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(s)
    }
}

impl<'a> Node<'a> {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The list items, if this is a list.
    pub fn as_list(&self) -> Option<&[Node<'a>]> {
        match &self.value {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The dictionary entries, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Node<'a>)]> {
        match &self.value {
            Value::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key`, if this is a dictionary that has it.
    pub fn get(&self, key: &[u8]) -> Option<&Node<'a>> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The exact bytes this value occupies in `input`.
    pub fn raw<'i>(&self, input: &'i [u8]) -> &'i [u8] {
        &input[self.start..self.end]
    }

    /// "integer", "string", "list" or "dictionary": for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Int(_) => "integer",
            Value::Bytes(_) => "string",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }
}

/// Appends `i<n>e`.
pub fn put_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'e');
}

/// Appends `<len>:<bytes>`.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// A dictionary being built: values are stored already encoded and written out in
/// byte-wise key order, as BEP 3 requires.
#[derive(Debug, Default, Clone)]
pub struct DictBuilder {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl DictBuilder {
    /// An empty dictionary.
    pub fn new() -> DictBuilder {
        DictBuilder::default()
    }

    /// Sets `key` to an already-encoded value.
    pub fn raw(&mut self, key: &[u8], encoded: Vec<u8>) -> &mut Self {
        self.entries.insert(key.to_vec(), encoded);
        self
    }

    /// Sets `key` to an integer.
    pub fn int(&mut self, key: &[u8], n: i64) -> &mut Self {
        let mut v = Vec::new();
        put_int(&mut v, n);
        self.raw(key, v)
    }

    /// Sets `key` to a byte string.
    pub fn bytes(&mut self, key: &[u8], b: &[u8]) -> &mut Self {
        let mut v = Vec::new();
        put_bytes(&mut v, b);
        self.raw(key, v)
    }

    /// Whether `key` has been set.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.entries.contains_key(key)
    }

    /// The encoded dictionary.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = vec![b'd'];
        for (k, v) in &self.entries {
            put_bytes(&mut out, k);
            out.extend_from_slice(v);
        }
        out.push(b'e');
        out
    }
}

/// Encodes a list of byte strings (`announce-list` tiers, `url-list`, paths).
pub fn list_of_bytes<'s>(items: impl IntoIterator<Item = &'s [u8]>) -> Vec<u8> {
    let mut out = vec![b'l'];
    for item in items {
        put_bytes(&mut out, item);
    }
    out.push(b'e');
    out
}

/// Calls `f` with `base` changed at every position to each byte that matters to
/// bencode (digits, `e`, `i`, `l`, `d`, `:`, `-`, a non-ASCII byte): decoder tests use it
/// to check that no mutation of a valid message makes them panic.
#[cfg(test)]
pub(crate) fn for_each_mutation(base: &[u8], mut f: impl FnMut(&[u8])) {
    let mut buf = base.to_vec();
    for i in 0..base.len() {
        for b in [
            b'0', b'1', b'4', b'9', b'e', b'i', b'l', b'd', b':', b'-', 0xff,
        ] {
            buf[i] = b;
            f(&buf);
            buf[i] = base[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(input: &[u8]) -> Error {
        decode(input).expect_err("should fail")
    }

    #[test]
    fn decodes_bep3_examples() {
        let (n, w) = decode(b"4:spam").unwrap();
        assert_eq!(n.as_bytes(), Some(&b"spam"[..]));
        assert!(w.is_empty());
        assert_eq!(decode(b"i3e").unwrap().0.as_int(), Some(3));
        assert_eq!(decode(b"i-3e").unwrap().0.as_int(), Some(-3));
        assert_eq!(decode(b"i0e").unwrap().0.as_int(), Some(0));
        let (l, _) = decode(b"l4:spam4:eggse").unwrap();
        let items: Vec<_> = l.as_list().unwrap().iter().map(|n| n.as_bytes()).collect();
        assert_eq!(items, [Some(&b"spam"[..]), Some(&b"eggs"[..])]);
        let (d, _) = decode(b"d3:cow3:moo4:spam4:eggse").unwrap();
        assert_eq!(d.get(b"cow").unwrap().as_bytes(), Some(&b"moo"[..]));
        assert_eq!(d.get(b"spam").unwrap().as_bytes(), Some(&b"eggs"[..]));
        let (d, _) = decode(b"d4:spaml1:a1:bee").unwrap();
        assert_eq!(d.get(b"spam").unwrap().as_list().unwrap().len(), 2);
        assert_eq!(decode(b"0:").unwrap().0.as_bytes(), Some(&b""[..]));
    }

    #[test]
    fn spans_are_exact() {
        let input = b"d4:infod1:ai1ee1:zi2ee";
        let (d, _) = decode(input).unwrap();
        assert_eq!(d.get(b"info").unwrap().raw(input), b"d1:ai1ee");
        assert_eq!(d.get(b"z").unwrap().raw(input), b"i2e");
        assert_eq!((d.start, d.end), (0, input.len()));
    }

    #[test]
    fn integer_limits() {
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap().0.as_int(),
            Some(i64::MAX)
        );
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap().0.as_int(),
            Some(i64::MIN)
        );
        assert_eq!(
            err_of(b"i9223372036854775808e").kind,
            ErrorKind::IntegerOverflow
        );
        assert_eq!(
            err_of(b"99999999999999999999:x").kind,
            ErrorKind::IntegerOverflow
        );
    }

    #[test]
    fn rejects_non_canonical_integers() {
        for bad in [&b"i03e"[..], b"i-0e", b"ie", b"i-e", b"00:", b"01:a"] {
            assert_eq!(err_of(bad).kind, ErrorKind::NonCanonicalInteger, "{bad:?}");
        }
        assert_eq!(err_of(b"i1x2e").kind, ErrorKind::UnexpectedByte(b'x'));
        assert_eq!(err_of(b"i1x2e").offset, 2);
    }

    #[test]
    fn errors_name_offsets() {
        let e = err_of(b"d3:fooi1e3:bar");
        assert_eq!((e.offset, e.kind.clone()), (14, ErrorKind::UnexpectedEnd));
        assert_eq!(
            e.to_string(),
            "invalid bencode at byte 14: input ends inside a value"
        );
        let e = err_of(b"d3:foo5:abc");
        assert_eq!(e.offset, 6);
        assert_eq!(
            e.kind,
            ErrorKind::StringPastEnd {
                declared: 5,
                available: 3
            }
        );
        assert_eq!(err_of(b"x").kind, ErrorKind::UnexpectedByte(b'x'));
        assert_eq!(err_of(b"").kind, ErrorKind::UnexpectedEnd);
        assert_eq!(err_of(b"di1ei2ee").kind, ErrorKind::KeyNotString);
        assert_eq!(err_of(b"-1:a").kind, ErrorKind::UnexpectedByte(b'-'));
    }

    #[test]
    fn rejects_trailing_data() {
        let e = err_of(b"i1eXYZ");
        assert_eq!(
            (e.offset, e.kind),
            (3, ErrorKind::TrailingData { extra: 3 })
        );
        let (_, used, _) = decode_prefix(b"i1eXYZ").unwrap();
        assert_eq!(used, 3);
    }

    #[test]
    fn duplicate_keys_rejected_unsorted_warned() {
        let e = err_of(b"d1:ai1e1:ai2ee");
        assert_eq!(
            (e.offset, e.kind),
            (7, ErrorKind::DuplicateKey(b"a".to_vec()))
        );
        let e = err_of(b"d1:bi1e1:ai1e1:bi2ee");
        assert_eq!(e.kind, ErrorKind::DuplicateKey(b"b".to_vec()));
        let (d, w) = decode(b"d1:bi1e1:ai2ee").unwrap();
        assert_eq!(w, [Warning::UnsortedKeys { offset: 7 }]);
        assert_eq!(d.get(b"a").unwrap().as_int(), Some(2));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = vec![b'l'; 100_000];
        let e = err_of(&deep);
        assert_eq!(
            e.kind,
            ErrorKind::TooDeep {
                limit: MAX_BENCODE_DEPTH
            }
        );
        assert_eq!(e.offset, MAX_BENCODE_DEPTH);
        let mut ok = vec![b'l'; MAX_BENCODE_DEPTH];
        ok.extend(vec![b'e'; MAX_BENCODE_DEPTH]);
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn every_prefix_of_a_valid_value_is_incomplete() {
        let input = b"d8:announce3:url4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
        assert!(decode(input).is_ok());
        for cut in 0..input.len() {
            let e = err_of(&input[..cut]);
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::UnexpectedEnd | ErrorKind::StringPastEnd { .. }
                ),
                "cut {cut}: {e}"
            );
        }
    }

    #[test]
    fn encoder_matches_bendy() {
        use bendy::encoding::ToBencode;
        let mut d = DictBuilder::new();
        d.int(b"zeta", -42)
            .bytes(b"alpha", b"hello")
            .raw(b"list", list_of_bytes([&b"a"[..], b"bc"]));
        let ours = d.finish();

        struct Theirs;
        impl ToBencode for Theirs {
            const MAX_DEPTH: usize = 3;
            fn encode(
                &self,
                e: bendy::encoding::SingleItemEncoder,
            ) -> Result<(), bendy::encoding::Error> {
                e.emit_dict(|mut d| {
                    d.emit_pair(b"alpha", "hello")?;
                    d.emit_pair(b"list", vec!["a", "bc"])?;
                    d.emit_pair(b"zeta", -42i64)
                })
            }
        }
        assert_eq!(ours, Theirs.to_bencode().unwrap());
        let (back, w) = decode(&ours).unwrap();
        assert!(w.is_empty());
        assert_eq!(back.get(b"zeta").unwrap().as_int(), Some(-42));
    }

    /// Mutates a valid torrent-like value at every position with several bytes: the
    /// decoder must return (Ok or Err) without panicking on each.
    #[test]
    fn mutations_never_panic() {
        let base = b"d8:announce3:url4:infod5:filesld6:lengthi5e4:pathl1:aeee4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
        for_each_mutation(base, |buf| {
            let _ = decode(buf);
        });
    }
}
