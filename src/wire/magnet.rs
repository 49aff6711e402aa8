//! Magnet links (BEP 9): parsing `magnet:?xt=urn:btih:...` in hex or base32 form, and
//! writing them.
//!
//! Depends on `types`. Parsing is strict about the info-hash, which is the one thing a
//! magnet link must get right, and lenient about the rest: unknown parameters are
//! ignored, as every client does.

use std::fmt;

use crate::types::InfoHash;
use crate::wire::percent;

/// The most `x.pe` peers kept from one link; the rest are ignored.
pub const MAX_MAGNET_PEERS: usize = 50;

/// The parts of a magnet link hivebt uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// `xt=urn:btih:`.
    pub info_hash: InfoHash,
    /// `dn`: display name.
    pub name: Option<String>,
    /// `tr`: trackers, in order.
    pub trackers: Vec<String>,
    /// `ws`: web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// `x.pe`: peer addresses (`IP:PORT`, `[IPv6]:PORT`) to fetch from. A value that
    /// is not a literal socket address (a host name) is skipped: names are never
    /// looked up for it.
    pub peers: Vec<std::net::SocketAddr>,
}

/// Why a magnet link was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MagnetError {
    /// It does not start with `magnet:?`.
    NotMagnet,
    /// No `xt=urn:btih:` parameter.
    NoInfoHash,
    /// A `urn:btih:` value that is neither 40 hex nor 32 base32 characters.
    BadInfoHash(String),
    /// A `%` not followed by two hex digits, or a value that is not UTF-8 once decoded.
    BadEscape(String),
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetError::NotMagnet => f.write_str("magnet link must start with 'magnet:?'"),
            MagnetError::NoInfoHash => {
                f.write_str("magnet link has no 'xt=urn:btih:' info-hash (v1 info-hash required)")
            }
            MagnetError::BadInfoHash(v) => write!(
                f,
                "magnet link info-hash '{v}' is neither 40 hex nor 32 base32 characters"
            ),
            MagnetError::BadEscape(v) => {
                write!(f, "magnet link parameter '{v}' has a bad %-escape")
            }
        }
    }
}

impl std::error::Error for MagnetError {}

/// Whether `s` is meant as a magnet link (it starts `magnet:`, in any case) rather
/// than a path or another URL; [`Magnet::parse`] says whether it is a valid one.
pub fn is_magnet_link(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
}

impl Magnet {
    /// Parses a magnet URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query = uri
            .strip_prefix("magnet:?")
            .or_else(|| {
                uri.get(..8)
                    .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
                    .map(|_| &uri[8..])
            })
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut name = None;
        let mut trackers = Vec::new();
        let mut web_seeds = Vec::new();
        let mut peers = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode_text(raw).ok_or_else(|| MagnetError::BadEscape(pair.into()))?;
            if key == "x.pe" {
                if let Ok(addr) = value.parse() {
                    if !peers.contains(&addr) && peers.len() < MAX_MAGNET_PEERS {
                        peers.push(addr);
                    }
                }
                continue;
            }
            // `tr.1`, `tr.2`... are an old numbered form of `tr`.
            let key = key.split('.').next().unwrap_or(key);
            match key {
                "xt" if info_hash.is_none() => {
                    if let Some(h) = value
                        .get(..9)
                        .filter(|p| p.eq_ignore_ascii_case("urn:btih:"))
                        .map(|_| &value[9..])
                    {
                        let parsed = match h.len() {
                            40 => InfoHash::from_hex(h),
                            32 => InfoHash::from_base32(h),
                            _ => None,
                        };
                        info_hash = Some(parsed.ok_or_else(|| MagnetError::BadInfoHash(h.into()))?);
                    }
                }
                "dn" => name = Some(value),
                "tr" if !value.is_empty() && !trackers.contains(&value) => trackers.push(value),
                "ws" if !value.is_empty() => web_seeds.push(value),
                _ => {}
            }
        }
        Ok(Magnet {
            info_hash: info_hash.ok_or(MagnetError::NoInfoHash)?,
            name,
            trackers,
            web_seeds,
            peers,
        })
    }

    /// Writes the link: `xt` first, then `dn`, every `tr` and every `ws`.
    pub fn to_uri(&self) -> String {
        let mut s = format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex());
        if let Some(n) = &self.name {
            s.push_str("&dn=");
            s.push_str(&percent::encode(n.as_bytes()));
        }
        for t in &self.trackers {
            s.push_str("&tr=");
            s.push_str(&percent::encode(t.as_bytes()));
        }
        for w in &self.web_seeds {
            s.push_str("&ws=");
            s.push_str(&percent::encode(w.as_bytes()));
        }
        for p in &self.peers {
            s.push_str("&x.pe=");
            s.push_str(&percent::encode(p.to_string().as_bytes()));
        }
        s
    }
}

/// A parameter value percent-decoded; `None` on a broken escape or non-UTF-8.
fn decode_text(s: &str) -> Option<String> {
    String::from_utf8(percent::decode(s)?.into_owned()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn parses_hex_and_base32() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=Some+Name%21&tr=udp%3A%2F%2Ft%3A80&tr=http://b/a&ws=http%3A%2F%2Fw"
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.name.as_deref(), Some("Some Name!"));
        assert_eq!(m.trackers, ["udp://t:80", "http://b/a"]);
        assert_eq!(m.web_seeds, ["http://w"]);
        let b32 = Magnet::parse("magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK").unwrap();
        assert_eq!(b32.info_hash.to_hex(), HEX);
        assert_eq!(b32.name, None);
    }

    #[test]
    fn round_trips() {
        let m = Magnet {
            info_hash: InfoHash::from_hex(HEX).unwrap(),
            name: Some("a b&c/ü".into()),
            trackers: vec!["http://t:1/announce?x=1&y=2".into()],
            web_seeds: vec![],
            peers: vec![],
        };
        let uri = m.to_uri();
        assert_eq!(
            uri,
            format!(
                "magnet:?xt=urn:btih:{HEX}&dn=a%20b%26c%2F%C3%BC&tr=http%3A%2F%2Ft%3A1%2Fannounce%3Fx%3D1%26y%3D2"
            )
        );
        assert_eq!(Magnet::parse(&uri).unwrap(), m);
    }

    #[test]
    fn peers_in_x_pe() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&x.pe=127.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A7000\
             &x.pe=host.example:80&x.pe=127.0.0.1:6881&x.pe=1.2.3.4"
        ))
        .unwrap();
        let want: Vec<std::net::SocketAddr> = vec![
            "127.0.0.1:6881".parse().unwrap(),
            "[::1]:7000".parse().unwrap(),
        ];
        assert_eq!(m.peers, want, "names and port-less values are skipped");
        assert!(
            m.trackers.is_empty(),
            "x.pe is not the numbered form of a key"
        );
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        let many: String = (0..60)
            .map(|i| format!("&x.pe=10.0.0.1:{}", 1000 + i))
            .collect();
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}{many}")).unwrap();
        assert_eq!(m.peers.len(), MAX_MAGNET_PEERS);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotMagnet));
        assert_eq!(Magnet::parse("magnet:?dn=x"), Err(MagnetError::NoInfoHash));
        assert_eq!(
            Magnet::parse("magnet:?xt=urn:btih:abc"),
            Err(MagnetError::BadInfoHash("abc".into()))
        );
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "g".repeat(40))),
            Err(MagnetError::BadInfoHash("g".repeat(40)))
        );
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%zz")),
            Err(MagnetError::BadEscape(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%C3")),
            Err(MagnetError::BadEscape(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%é")),
            Err(MagnetError::BadEscape(_))
        ));
    }
}
