//! HTML form bodies as HTTP APIs receive them: `multipart/form-data` (RFC 7578), as
//! the qBittorrent Web API's clients post files and fields. (The urlencoded kind is
//! `api::query_pairs`.)
//!
//! Pure parsing of a complete body already bounded by the HTTP layer; parts borrow
//! from it. At most [`MAX_PARTS`] parts and [`MAX_PART_HEAD`] bytes of headers per
//! part: a body past either is an error, never a panic or a large allocation.

use std::fmt;

/// Most parts one body may have.
pub const MAX_PARTS: usize = 256;
/// Most bytes of one part's header block.
pub const MAX_PART_HEAD: usize = 8 * 1024;
/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The `name` of its `Content-Disposition`.
    pub name: String,
    /// Its `filename`, for a file.
    pub filename: Option<String>,
    /// Its bytes.
    pub data: &'a [u8],
}

/// Why a multipart body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// `Content-Type` has no usable `boundary` parameter.
    NoBoundary,
    /// The body does not start with the boundary, or a part is cut short.
    Truncated,
    /// A part's header block is over [`MAX_PART_HEAD`] bytes or not text.
    BadPartHead,
    /// A part has no `Content-Disposition: form-data; name=...`.
    NoName,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormError::NoBoundary => "multipart Content-Type without a boundary",
            FormError::Truncated => "multipart body cut short or without its boundary",
            FormError::BadPartHead => "a multipart part has a bad header block",
            FormError::NoName => "a multipart part has no form-data name",
            FormError::TooManyParts => "too many multipart parts",
        })
    }
}

impl std::error::Error for FormError {}

/// The boundary of a `multipart/form-data; boundary=...` content type (quoted or
/// not), or `None` for another type or a missing or over-long boundary.
pub fn boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty() && v.len() <= MAX_BOUNDARY).then_some(v)
    })
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while from + needle.len() <= hay.len() {
        let at = from + hay[from..].iter().position(|&b| b == first)?;
        if hay.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The parts of `body`, delimited by `boundary` (see [`boundary`]).
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, FormError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // A preamble before the first delimiter is allowed and ignored.
    let start = find(body, delimiter).ok_or(FormError::Truncated)?;
    if start != 0 && !body[..start].ends_with(b"\r\n") {
        return Err(FormError::Truncated);
    }
    let mut rest = &body[start + delimiter.len()..];
    let close = [b"\r\n".as_slice(), delimiter].concat();
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(FormError::Truncated)?;
        if parts.len() == MAX_PARTS {
            return Err(FormError::TooManyParts);
        }
        let end = find(rest, &close).ok_or(FormError::Truncated)?;
        parts.push(part(&rest[..end])?);
        rest = &rest[end + close.len()..];
    }
}

/// One part: its header block, a blank line, its bytes.
fn part(raw: &[u8]) -> Result<Part<'_>, FormError> {
    let (head, data) = if raw.starts_with(b"\r\n") {
        (&raw[..0], &raw[2..])
    } else {
        let split = find(raw, b"\r\n\r\n").ok_or(FormError::Truncated)?;
        (&raw[..split], &raw[split + 4..])
    };
    if head.len() > MAX_PART_HEAD {
        return Err(FormError::BadPartHead);
    }
    let head = std::str::from_utf8(head).map_err(|_| FormError::BadPartHead)?;
    let disposition = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-disposition"))
        .map(|(_, v)| v)
        .ok_or(FormError::NoName)?;
    let mut params = disposition.split(';');
    if !params
        .next()
        .is_some_and(|k| k.trim().eq_ignore_ascii_case("form-data"))
    {
        return Err(FormError::NoName);
    }
    let (mut name, mut filename) = (None, None);
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Ok(Part {
        name: name.ok_or(FormError::NoName)?,
        filename,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\ntv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"a.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\nd4:infod\r\n--ee\r\n--XyZ--\r\n";

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=XyZ"), Some("XyZ"));
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; boundary=\"a b\""),
            Some("a b")
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(boundary("text/plain; boundary=x"), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            None
        );
    }

    #[test]
    fn fields_and_files_are_read_with_their_bytes() {
        let parts = parse(BODY, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].filename.as_deref()),
            ("category", None)
        );
        assert_eq!(parts[0].data, b"tv");
        assert_eq!(parts[1].filename.as_deref(), Some("a.torrent"));
        // A CRLF followed by something other than the delimiter is data.
        assert_eq!(parts[1].data, b"d4:infod\r\n--ee");
        // A preamble is skipped; an empty body of parts is fine.
        let mut with_preamble = b"ignored\r\n".to_vec();
        with_preamble.extend_from_slice(BODY);
        assert_eq!(parse(&with_preamble, "XyZ").unwrap(), parts);
        assert_eq!(parse(b"--XyZ--\r\n", "XyZ").unwrap(), []);
        // A part without headers has no name.
        assert_eq!(
            parse(b"--XyZ\r\n\r\nv\r\n--XyZ--", "XyZ"),
            Err(FormError::NoName)
        );
    }

    #[test]
    fn every_cut_of_a_body_is_an_error_not_a_panic() {
        for cut in 0..BODY.len() {
            let got = parse(&BODY[..cut], "XyZ");
            // Cut after the final delimiter's "--": complete (the CRLF after is optional).
            if cut >= BODY.len() - 2 {
                assert!(got.is_ok(), "cut {cut}: {got:?}");
            } else {
                assert!(got.is_err(), "cut {cut}: {got:?}");
            }
        }
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(parse(b"", "XyZ"), Err(FormError::Truncated));
        assert_eq!(parse(b"junk--XyZ\r\n", "XyZ"), Err(FormError::Truncated));
        let no_name =
            b"--XyZ\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nv\r\n--XyZ--";
        assert_eq!(parse(no_name, "XyZ"), Err(FormError::NoName));
        let not_form = b"--XyZ\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nv\r\n--XyZ--";
        assert_eq!(parse(not_form, "XyZ"), Err(FormError::NoName));
        let bad_utf8 =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nv\r\n--XyZ--";
        assert_eq!(parse(bad_utf8, "XyZ"), Err(FormError::BadPartHead));
        let mut big = b"--XyZ\r\nX-Pad: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_PART_HEAD));
        big.extend_from_slice(b"\r\n\r\nv\r\n--XyZ--");
        assert_eq!(parse(&big, "XyZ"), Err(FormError::BadPartHead));
        let field = b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n";
        let many: Vec<u8> = field
            .iter()
            .copied()
            .cycle()
            .take(field.len() * (MAX_PARTS + 1))
            .chain(b"--XyZ--".iter().copied())
            .collect();
        assert_eq!(parse(&many, "XyZ"), Err(FormError::TooManyParts));
        let exactly: Vec<u8> = field
            .iter()
            .copied()
            .cycle()
            .take(field.len() * MAX_PARTS)
            .chain(b"--XyZ--".iter().copied())
            .collect();
        assert_eq!(parse(&exactly, "XyZ").unwrap().len(), MAX_PARTS);
    }
}
