//! What `ctl` reads from its flags: rates (`10M`), durations (`7d`), the limits
//! `ctl set` sends (where `none` clears one) and labels.
//!
//! Rates and durations are read as everywhere else (`settings::parse_rate` and
//! `parse_duration`). Each parser returns `Result<_, String>` so clap can use it as a
//! value parser and print the message as a bad-flag error (exit 2).

use crate::settings::{parse_duration, parse_rate};

/// A limit to send: `Some` value, or `None` for "no limit" (JSON `null`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<T>(pub Option<T>);

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
    parse_rate(s).map(Limit)
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
    parse_duration(s).map(|d| Limit(Some(d.as_secs())))
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
    fn limits() {
        assert_eq!(parse_rate_limit("10M"), Ok(Limit(Some(10 << 20))));
        assert_eq!(parse_rate_limit("0"), Ok(Limit(None)));
        assert_eq!(parse_rate_limit("none"), Ok(Limit(None)));
        assert!(parse_rate_limit("fast").is_err());
        assert!(parse_rate_limit("10MB").unwrap_err().contains("ambiguous"));
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
