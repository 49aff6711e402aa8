//! The value types of the configuration file that TOML has no word for: byte rates,
//! durations and counts that may be unlimited, with their parsers and printers.
//!
//! Depends on nothing else in the crate. Every type here prints as text its own parser
//! reads back to the same value (`parse(format(x)) == x`), which is what lets
//! `--print-config` show defaults as an operator would write them.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The binary suffixes a byte rate may carry, lowercase, longest first per unit.
const RATE_SUFFIXES: &[(&str, u64)] = &[
    ("kib", 1 << 10),
    ("k", 1 << 10),
    ("mib", 1 << 20),
    ("m", 1 << 20),
    ("gib", 1 << 30),
    ("g", 1 << 30),
    ("tib", 1 << 40),
    ("t", 1 << 40),
    ("b", 1),
];

/// Most digits after the decimal point a rate may have; more is no real limit.
const MAX_RATE_DECIMALS: usize = 9;

/// The units a duration may carry, with their length in seconds.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("s", 1),
    ("m", 60),
    ("h", 3600),
    ("d", 86_400),
    ("w", 7 * 86_400),
];

fn rate_error(s: &str) -> String {
    format!("bad rate \"{s}\": expected bytes per second like 10M, 512K or 1.5G")
}

/// Parses a byte rate in bytes per second: `1048576`, `512K`, `10M`, `1.5G` (binary
/// units K, M, G, T, also written KiB, MiB, GiB, TiB, case-insensitive, with an
/// optional `/s`). `0` means unlimited and gives `None`. The config file, the daemon's
/// flags, `hivebt ctl` and `seed`/`download` all read rates with this.
///
/// A fraction needs a suffix (`1.5` bytes is an error), and a rate that is not zero
/// but rounds down to less than one byte per second is an error rather than a
/// silent "unlimited". `MB` is refused (decimal or binary? say `M` or `MiB`).
pub fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    let lower = s.trim().to_ascii_lowercase();
    let text = lower.strip_suffix("/s").unwrap_or(&lower);
    let bytes = parse_binary(s, text, &RATE)?;
    Ok((bytes != 0).then_some(bytes))
}

/// [`parse_rate`] for a flag that keeps "unlimited" as 0.
pub fn parse_rate_flag(s: &str) -> Result<u64, String> {
    Ok(parse_rate(s)?.unwrap_or(0))
}

/// Parses a size in bytes the way [`parse_rate`] reads a rate (without `/s`):
/// `262144`, `256K`, `4MiB`, `1.5G`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_binary(s, &s.trim().to_ascii_lowercase(), &SIZE)
}

/// What [`parse_binary`] reads, for its messages.
struct Unit {
    name: &'static str,
    expected: &'static str,
    /// Said after "less than one byte".
    zero: &'static str,
}

const RATE: Unit = Unit {
    name: "rate",
    expected: "bytes per second like 10M, 512K or 1.5G",
    zero: " per second (0 means unlimited)",
};

const SIZE: Unit = Unit {
    name: "size",
    expected: "bytes like 262144, 256K or 4M",
    zero: "",
};

/// The number with an optional binary suffix in `text` (`s` lowercased and trimmed),
/// in bytes, computed exactly (no floating point).
fn parse_binary(s: &str, text: &str, what: &Unit) -> Result<u64, String> {
    let name = what.name;
    let bad = || format!("bad {name} \"{s}\": expected {}", what.expected);
    let number_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let suffix = suffix.trim();
    if let Some(unit) = ["k", "m", "g", "t"]
        .into_iter()
        .find(|u| suffix == format!("{u}b"))
    {
        let unit = unit.to_ascii_uppercase();
        return Err(format!(
            "bad {name} \"{s}\": {unit}B is ambiguous; write {unit} or {unit}iB (binary units)"
        ));
    }
    let multiplier = if suffix.is_empty() {
        1
    } else {
        RATE_SUFFIXES
            .iter()
            .find(|(n, _)| *n == suffix)
            .map(|(_, m)| *m)
            .ok_or_else(bad)?
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let well_formed = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !number.ends_with('.');
    if !well_formed || (multiplier == 1 && !fraction.is_empty()) {
        return Err(bad());
    }
    if fraction.len() > MAX_RATE_DECIMALS {
        return Err(format!(
            "bad {name} \"{s}\": at most {MAX_RATE_DECIMALS} digits after the point"
        ));
    }
    let too_large = || format!("bad {name} \"{s}\": too large");
    // u128 holds any u64 scaled by 10^9; more digits than that is too large anyway.
    if whole.trim_start_matches('0').len() > 20 {
        return Err(too_large());
    }
    let scale = 10u128.pow(fraction.len() as u32);
    let digits: u128 = format!("{whole}{fraction}").parse().map_err(|_| bad())?;
    let bytes = digits
        .checked_mul(u128::from(multiplier))
        .map(|b| b / scale)
        .ok_or_else(too_large)?;
    let bytes = u64::try_from(bytes).map_err(|_| too_large())?;
    if bytes == 0 && digits != 0 {
        return Err(format!(
            "bad {name} \"{s}\": less than one byte{}",
            what.zero
        ));
    }
    Ok(bytes)
}

/// Writes a byte rate the way [`parse_rate`] reads it: `0` for unlimited, the largest
/// binary suffix that divides it exactly (`10M`), else plain bytes.
pub fn format_rate(rate: Option<u64>) -> String {
    let Some(bytes) = rate else {
        return "0".to_owned();
    };
    for (suffix, multiplier) in [
        ("T", 1u64 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ] {
        if bytes % multiplier == 0 {
            return format!("{}{suffix}", bytes / multiplier);
        }
    }
    bytes.to_string()
}

fn duration_error(s: &str) -> String {
    format!(
        "bad duration \"{s}\": expected whole seconds or a number with s, m, h, d or w, like 90m"
    )
}

/// Parses a duration of whole seconds: `30` or `30s`, `90m`, `12h`, `7d`, `1w`
/// (lowercase units; `m` is minutes). `0` gives a zero duration; whether zero is
/// allowed is the caller's decision.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let trimmed = s.trim();
    let number_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(duration_error(s));
    }
    let unit_secs = if unit.is_empty() {
        1
    } else {
        DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, secs)| *secs)
            .ok_or_else(|| duration_error(s))?
    };
    let too_long = || format!("bad duration \"{s}\": too long");
    let count: u64 = number.parse().map_err(|_| too_long())?;
    count
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(too_long)
}

/// Writes whole seconds the way [`parse_duration`] reads them, in the largest of
/// d, h, m and s that divides them exactly (`7d`, `90m`, `45s`). Weeks are read but
/// not written: `14d` says more than `2w`.
pub fn format_duration(secs: u64) -> String {
    for (unit, unit_secs) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % unit_secs == 0 {
            return format!("{}{unit}", secs / unit_secs);
        }
    }
    format!("{secs}s")
}

/// A byte rate limit in bytes per second; unlimited when `None`.
///
/// Read from a whole number (`1048576`) or a string with a binary suffix (`"10M"`);
/// `0` is unlimited. A limited rate is never zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteRate(Option<u64>);

impl ByteRate {
    /// No limit.
    pub const UNLIMITED: ByteRate = ByteRate(None);

    /// A rate of `bytes` per second; `Some(0)` is taken as unlimited, as in the file.
    pub fn new(bytes: Option<u64>) -> ByteRate {
        ByteRate(bytes.filter(|b| *b != 0))
    }

    /// Bytes per second, or `None` for unlimited.
    pub fn get(self) -> Option<u64> {
        self.0
    }
}

impl fmt::Display for ByteRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rate(self.0))
    }
}

impl Serialize for ByteRate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => serializer.serialize_u64(0),
            Some(bytes) => {
                let text = format_rate(Some(bytes));
                if text == bytes.to_string() {
                    serializer.serialize_u64(bytes)
                } else {
                    serializer.serialize_str(&text)
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for ByteRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;
        impl Visitor<'_> for RateVisitor {
            type Value = ByteRate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes per second like 10M (a whole number or a string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteRate, E> {
                Ok(ByteRate::new(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteRate, E> {
                u64::try_from(v)
                    .map(|v| ByteRate::new(Some(v)))
                    .map_err(|_| E::custom(rate_error(&v.to_string())))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<ByteRate, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) if v < 0 => Err(E::custom(rate_error(&v.to_string()))),
                    Err(_) => Err(E::custom(format!("bad rate \"{v}\": too large"))),
                }
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<ByteRate, E> {
                self.visit_i128(i128::try_from(v).unwrap_or(i128::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteRate, E> {
                parse_rate(v).map(ByteRate).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(RateVisitor)
    }
}

/// A span of whole seconds.
///
/// Read from a whole number of seconds or a string with a unit (`"90m"`, `"7d"`);
/// written with the largest unit that fits exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secs(u64);

impl Secs {
    /// `secs` seconds.
    pub const fn from_secs(secs: u64) -> Secs {
        Secs(secs)
    }

    /// Whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// As a [`Duration`].
    pub const fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl From<Secs> for Duration {
    fn from(secs: Secs) -> Duration {
        secs.duration()
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecsVisitor;
        impl Visitor<'_> for SecsVisitor {
            type Value = Secs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like 90m, 12h or 7d, or whole seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secs, E> {
                Ok(Secs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secs, E> {
                u64::try_from(v)
                    .map(Secs)
                    .map_err(|_| E::custom(duration_error(&v.to_string())))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Secs, E> {
                match u64::try_from(v) {
                    Ok(v) => Ok(Secs(v)),
                    Err(_) if v < 0 => Err(E::custom(duration_error(&v.to_string()))),
                    Err(_) => Err(E::custom(format!("bad duration \"{v}\": too long"))),
                }
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Secs, E> {
                self.visit_i128(i128::try_from(v).unwrap_or(i128::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secs, E> {
                parse_duration(v)
                    .map(|d| Secs(d.as_secs()))
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SecsVisitor)
    }
}

/// How many torrents may be active at once; no limit when `None`.
///
/// Read from a whole number, or `-1` for no limit (TOML has no null).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveLimit(pub Option<u32>);

impl Serialize for ActiveLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => serializer.serialize_i64(-1),
            Some(n) => serializer.serialize_u32(n),
        }
    }
}

impl<'de> Deserialize<'de> for ActiveLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LimitVisitor;
        impl Visitor<'_> for LimitVisitor {
            type Value = ActiveLimit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count of torrents, or -1 for no limit")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ActiveLimit, E> {
                u32::try_from(v)
                    .map(|n| ActiveLimit(Some(n)))
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ActiveLimit, E> {
                match v {
                    -1 => Ok(ActiveLimit(None)),
                    0.. => self.visit_u64(v.unsigned_abs()),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(LimitVisitor)
    }
}

/// What happens to a torrent that has reached its ratio or seed-time limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareLimitAction {
    /// It is paused and stays in the list.
    #[default]
    Pause,
    /// It is removed from the list; its data stays on disk.
    Remove,
}

/// Checks a `HOST:PORT` (a host name, an IPv4 address, or an IPv6 address in
/// brackets, then a port 1..=65535) and returns it as given: DHT bootstrap nodes are
/// named this way and resolved later, off the reactor thread.
pub fn parse_host_port(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("\"{s}\" is not HOST:PORT ({why}), like router.example.org:6881");
    let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(bad("the port must be 1 to 65535")),
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ok = inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        return if ok {
            Ok(s.to_string())
        } else {
            Err(bad("an IPv6 address goes in brackets, like [::1]:6881"))
        };
    }
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if name_ok {
        Ok(s.to_string())
    } else {
        Err(bad("not a host name or address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_that_parse_and_that_do_not() {
        for ok in [
            "router.bittorrent.com:6881",
            "127.0.0.1:1",
            "[::1]:65535",
            "localhost:6881",
        ] {
            assert_eq!(parse_host_port(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "",
            "host",
            ":6881",
            "host:",
            "host:0",
            "host:65536",
            "host:x",
            "::1:6881",
            "[::1:6881",
            "[nothost]:6881",
            "a b:1",
            "host:-1",
        ] {
            let e = parse_host_port(bad).unwrap_err();
            assert!(e.contains("HOST:PORT"), "{bad}: {e}");
        }
    }

    const K: u64 = 1 << 10;
    const M: u64 = 1 << 20;
    const G: u64 = 1 << 30;

    #[test]
    fn rates_that_parse() {
        assert_eq!(parse_rate("0"), Ok(None));
        assert_eq!(parse_rate("0K"), Ok(None));
        assert_eq!(parse_rate("0.0M"), Ok(None));
        assert_eq!(parse_rate("1"), Ok(Some(1)));
        assert_eq!(parse_rate("1048576"), Ok(Some(M)));
        assert_eq!(parse_rate("512K"), Ok(Some(512 * K)));
        assert_eq!(parse_rate("512k"), Ok(Some(512 * K)));
        assert_eq!(parse_rate("10M"), Ok(Some(10 * M)));
        assert_eq!(parse_rate("10MiB"), Ok(Some(10 * M)));
        assert_eq!(parse_rate("10 MiB/s"), Ok(Some(10 * M)));
        assert_eq!(parse_rate(" 2g "), Ok(Some(2 * G)));
        assert_eq!(parse_rate("1.5G"), Ok(Some(3 * G / 2)));
        assert_eq!(parse_rate("0.5K"), Ok(Some(512)));
        assert_eq!(parse_rate("1T"), Ok(Some(1 << 40)));
        // Fractions round down to whole bytes.
        assert_eq!(parse_rate("0.001K"), Ok(Some(1)));
        assert_eq!(parse_rate("18446744073709551615"), Ok(Some(u64::MAX)));
    }

    #[test]
    fn rates_that_do_not_parse() {
        for bad in [
            "", " ", "K", "10Q", "-5", "-5K", "1.5", "1.", ".5M", "1..5M", "1.2.3M", "ten",
            "10 M M", "1e6",
        ] {
            let err = parse_rate(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("bad rate \"{bad}\": expected bytes per second")),
                "{bad:?}: {err}"
            );
        }
        assert_eq!(
            parse_rate("10Q").unwrap_err(),
            "bad rate \"10Q\": expected bytes per second like 10M, 512K or 1.5G"
        );
        for huge in [
            "18446744073709551616",
            "99999999999999999999999999999999",
            "16777216T",
            "20000000000G",
        ] {
            assert!(
                parse_rate(huge).unwrap_err().ends_with("too large"),
                "{huge}"
            );
        }
        assert!(
            parse_rate("0.0001K")
                .unwrap_err()
                .contains("0 means unlimited")
        );
        assert!(
            parse_rate("1.0000000001G")
                .unwrap_err()
                .contains("digits after")
        );
    }

    #[test]
    fn decimal_looking_units_are_refused_by_name() {
        assert_eq!(
            parse_rate("10MB").unwrap_err(),
            "bad rate \"10MB\": MB is ambiguous; write M or MiB (binary units)"
        );
        assert!(parse_size("4kb").unwrap_err().contains("KB is ambiguous"));
        assert_eq!(parse_rate("100B"), Ok(Some(100)));
    }

    #[test]
    fn sizes_and_flag_rates() {
        assert_eq!(parse_size("262144"), Ok(262_144));
        assert_eq!(parse_size("256K"), Ok(256 * K));
        assert_eq!(parse_size("4MiB"), Ok(4 * M));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "x", "-1", "1.5", "4M/s"] {
            let err = parse_size(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("bad size \"{bad}\"")),
                "{bad:?}: {err}"
            );
        }
        assert!(
            parse_size("99999999999999999G")
                .unwrap_err()
                .ends_with("too large")
        );
        assert_eq!(
            parse_size("0.0001K").unwrap_err(),
            "bad size \"0.0001K\": less than one byte"
        );
        assert_eq!(parse_rate_flag("0"), Ok(0));
        assert_eq!(parse_rate_flag("5M"), Ok(5 * M));
    }

    #[test]
    fn rates_print_back() {
        for rate in [
            None,
            Some(1),
            Some(1000),
            Some(K),
            Some(3 * G / 2),
            Some(10 * M),
            Some(u64::MAX),
        ] {
            assert_eq!(parse_rate(&format_rate(rate)), Ok(rate), "{rate:?}");
        }
        assert_eq!(format_rate(Some(10 * M)), "10M");
        assert_eq!(format_rate(Some(3 * G / 2)), "1536M");
        assert_eq!(format_rate(Some(1000)), "1000");
        assert_eq!(format_rate(None), "0");
        assert_eq!(ByteRate::new(Some(0)), ByteRate::UNLIMITED);
    }

    #[test]
    fn durations_that_parse() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration(" 5 m "), Ok(Duration::from_secs(300)));
        assert_eq!(
            parse_duration("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn durations_that_do_not_parse() {
        for bad in [
            "", "s", "-5", "-5s", "1.5h", "7D", "10y", "5ms", "1h30m", "h1", "soon",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("bad duration \"{bad}\": expected whole seconds")),
                "{bad:?}: {err}"
            );
        }
        for huge in [
            "18446744073709551616",
            "99999999999999999999w",
            "30600000000000w",
        ] {
            assert!(
                parse_duration(huge).unwrap_err().ends_with("too long"),
                "{huge}"
            );
        }
    }

    #[test]
    fn durations_print_back() {
        for secs in [
            0,
            1,
            59,
            60,
            90,
            3600,
            5400,
            86_400,
            604_800,
            90_061,
            u64::MAX,
        ] {
            assert_eq!(
                parse_duration(&format_duration(secs)),
                Ok(Duration::from_secs(secs))
            );
        }
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5400), "90m");
        assert_eq!(format_duration(604_800), "7d");
        assert_eq!(format_duration(90_061), "90061s");
    }
}
