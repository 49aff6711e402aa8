//! What an RPC request's `Authorization` header carries (HTTP Basic, RFC 7617, or the
//! daemon's bearer token) and the base64 (RFC 4648) that Basic credentials and
//! `torrent-add`'s `metainfo` come in. Pure: no I/O, no clock.

/// Decodes standard base64 (`+/`), padding optional, line breaks and spaces skipped
/// (some clients wrap `metainfo`); `None` for any other character, a lone trailing
/// sextet, or data after padding.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let (mut acc, mut bits, mut padded) = (0u32, 0u32, false);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padded = true;
                continue;
            }
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        if padded {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Six bits left over cannot end a byte: the input was cut.
    (bits < 6).then_some(out)
}

/// The credential in an `Authorization` header value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// `Basic base64(user:password)`: any user name; the password as sent.
    Basic { password: String },
    /// `Bearer TOKEN`: the daemon's API token.
    Bearer(&'a str),
}

/// Parses an `Authorization` value; `None` for another scheme, bad base64, a decoded
/// value that is not UTF-8 or has no `:`.
pub(crate) fn parse_authorization(value: &str) -> Option<Credential<'_>> {
    if let Some(token) = crate::api::auth::parse_bearer(value) {
        return Some(Credential::Bearer(token));
    }
    let (scheme, rest) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(rest.trim())?).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(Credential::Basic {
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tasks::base64;

    #[test]
    fn base64_round_trips_and_refuses_junk() {
        for input in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(
                base64_decode(&base64(input.as_bytes())).unwrap(),
                input.as_bytes()
            );
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64(&bytes)).unwrap(), bytes);
        assert_eq!(base64_decode("Zm9v\r\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm8").unwrap(), b"fo", "padding is optional");
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Zg==Zg"), None, "data after padding");
        assert_eq!(base64_decode("Z"), None, "a lone sextet");
    }

    #[test]
    fn authorization_values_parse_or_are_refused() {
        // "user:pa:ss" — the password is everything after the first colon.
        assert_eq!(
            parse_authorization("Basic dXNlcjpwYTpzcw=="),
            Some(Credential::Basic {
                password: "pa:ss".into()
            })
        );
        assert_eq!(
            parse_authorization("  basic   OnB3 "),
            Some(Credential::Basic {
                password: "pw".into()
            }),
            "an empty user name, any case, extra spaces"
        );
        assert_eq!(
            parse_authorization("Bearer abc"),
            Some(Credential::Bearer("abc"))
        );
        for bad in [
            "",
            "Basic",
            "Basic ",
            "Basic !!!!",
            "Basic dXNlcg==", // "user": no colon
            "Basic /w==",     // 0xff: not UTF-8
            "Digest abc",
            "BasicdXNlcjpw",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }
}
