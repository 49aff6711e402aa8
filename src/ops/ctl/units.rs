//! What `ctl` reads from its flags: rates (`10M`), durations (`7d`), the limits
//! `ctl set` sends (where `none` clears one) and labels.
//!
//! Depends on nothing. Each parser returns `Result<_, String>` so clap can use it as a
//! value parser and print the message as a bad-flag error (exit 2).

/// A limit to send: `Some` value, or `None` for "no limit" (JSON `null`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<T>(pub Option<T>);

/// Parses a rate in bytes per second: plain bytes (`1000`) or a number with a binary
/// suffix, `K`, `M`, `G` or `T` (`512K`, `10M` = 10 MiB/s, `1.5G`), optionally
/// followed by `iB`/`B` and `/s`; case-insensitive.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a rate (bytes per second, or a number with K, M, G or T)");
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix("/s").unwrap_or(&lower);
    let (number, unit) = match lower.strip_suffix("ib") {
        Some(rest) => rest.split_at(rest.len().saturating_sub(1)),
        None => {
            let rest = lower.strip_suffix('b').unwrap_or(lower);
            match rest.strip_suffix(['k', 'm', 'g', 't']) {
                Some(number) => (number, &rest[number.len()..]),
                None => (rest, ""),
            }
        }
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    let well_formed = number.bytes().any(|b| b.is_ascii_digit())
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|&b| b == b'.').count() <= 1;
    if !well_formed {
        return Err(bad());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(1 << shift)
            .ok_or_else(|| format!("'{s}' is too large"));
    }
    if shift == 0 {
        return Err(format!("'{s}': a rate in bytes is a whole number"));
    }
    let value = number.parse::<f64>().map_err(|_| bad())? * (1u64 << shift) as f64;
    if value >= u64::MAX as f64 {
        return Err(format!("'{s}' is too large"));
    }
    Ok(value as u64)
}

/// Parses a duration into seconds: plain seconds (`3600`) or a whole number with `s`,
/// `m`, `h`, `d` or `w` (`30s`, `90m`, `12h`, `7d`, `1w`); case-insensitive.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad =
        || format!("'{s}' is not a duration (seconds, or a whole number with s, m, h, d or w)");
    let lower = s.trim().to_ascii_lowercase();
    let (number, unit) = match lower.strip_suffix(['s', 'm', 'h', 'd', 'w']) {
        Some(number) => (number, &lower[number.len()..]),
        None => (lower.as_str(), "s"),
    };
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 7 * 86_400,
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds))
        .ok_or_else(|| format!("'{s}' is too long"))
}

/// `none` or `unlimited`, which clear a limit.
fn is_none(s: &str) -> bool {
    let s = s.trim();
    s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unlimited")
}

/// `--max-upload-rate`, `--max-download-rate`: a rate, where `0` or `none` is no limit.
pub fn parse_rate_limit(s: &str) -> Result<Limit<u64>, String> {
    if is_none(s) {
        return Ok(Limit(None));
    }
    parse_rate(s).map(|r| Limit(Some(r).filter(|&r| r > 0)))
}

/// `--max-connections`: a count, where `0` or `none` is no limit.
pub fn parse_connection_limit(s: &str) -> Result<Limit<u32>, String> {
    if is_none(s) {
        return Ok(Limit(None));
    }
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of connections"))?;
    Ok(Limit(Some(n).filter(|&n| n > 0)))
}

/// `--ratio-limit`: a ratio (`2.0`, `0` stops seeding at once), or `none`.
pub fn parse_ratio_limit(s: &str) -> Result<Limit<f64>, String> {
    if is_none(s) {
        return Ok(Limit(None));
    }
    let bad = || format!("'{s}' is not a ratio (a number like 2.0, or none)");
    let well_formed = s.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let ratio: f64 = s.trim().parse().map_err(|_| bad())?;
    if !well_formed || !ratio.is_finite() {
        return Err(bad());
    }
    Ok(Limit(Some(ratio)))
}

/// `--seed-time-limit`: a duration (`0` stops seeding at once), or `none`.
pub fn parse_seed_time_limit(s: &str) -> Result<Limit<u64>, String> {
    if is_none(s) {
        return Ok(Limit(None));
    }
    parse_duration(s).map(|d| Limit(Some(d)))
}

/// `--label`: not empty, no commas (the raw-upload query joins labels with them) and
/// no control characters.
pub fn parse_label(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("a label cannot be empty".into());
    }
    if s.contains(',') {
        return Err(format!("label '{s}': labels cannot contain commas"));
    }
    if s.chars().any(char::is_control) {
        return Err("a label cannot contain control characters".into());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        for (text, want) in [
            ("0", 0),
            ("1000", 1000),
            ("512K", 512 << 10),
            ("512k", 512 << 10),
            ("10M", 10 << 20),
            ("10MiB", 10 << 20),
            ("10MB/s", 10 << 20),
            ("10mib/s", 10 << 20),
            ("1.5G", 3 << 29),
            ("0.5k", 512),
            ("2T", 2 << 40),
            ("100B", 100),
            (" 64K ", 64 << 10),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_rate(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_rates() {
        for text in [
            "", "M", "-1", "+1", "1.5", "1..5M", "1.2.3K", "10X", "10 M", "1e3", "10Mi", "iB",
            "K10", "0x10", "nan", "inf",
        ] {
            assert!(parse_rate(text).is_err(), "{text}");
        }
        assert!(parse_rate("1.5").unwrap_err().contains("whole number"));
        assert!(parse_rate("16777216T").unwrap_err().contains("too large"));
        assert!(
            parse_rate("99999999999999999999.5T")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations() {
        for (text, want) in [
            ("0", 0),
            ("3600", 3600),
            ("30s", 30),
            ("90m", 5400),
            ("12h", 43_200),
            ("7d", 604_800),
            ("1w", 604_800),
            ("2W", 1_209_600),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for text in ["", "s", "1.5h", "-1s", "1y", "1h30m", "h1", "1 h"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
        assert!(
            parse_duration("99999999999999999w")
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn limits() {
        assert_eq!(parse_rate_limit("10M"), Ok(Limit(Some(10 << 20))));
        assert_eq!(parse_rate_limit("0"), Ok(Limit(None)));
        assert_eq!(parse_rate_limit("none"), Ok(Limit(None)));
        assert!(parse_rate_limit("fast").is_err());
        assert_eq!(parse_connection_limit("200"), Ok(Limit(Some(200))));
        assert_eq!(parse_connection_limit("0"), Ok(Limit(None)));
        assert!(parse_connection_limit("-1").is_err());
        assert!(parse_connection_limit("5000000000").is_err());
        assert_eq!(parse_ratio_limit("2.0"), Ok(Limit(Some(2.0))));
        assert_eq!(parse_ratio_limit("0"), Ok(Limit(Some(0.0))));
        assert_eq!(parse_ratio_limit("Unlimited"), Ok(Limit(None)));
        for bad in ["-1", "nan", "inf", "1e400", "two"] {
            assert!(parse_ratio_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_seed_time_limit("7d"), Ok(Limit(Some(604_800))));
        assert_eq!(parse_seed_time_limit("none"), Ok(Limit(None)));
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("linux isos"), Ok("linux isos".into()));
        assert!(parse_label("").is_err());
        assert!(parse_label("  ").is_err());
        assert!(parse_label("a,b").unwrap_err().contains("commas"));
        assert!(parse_label("a\nb").is_err());
    }
}
