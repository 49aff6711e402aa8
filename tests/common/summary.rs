//! The summary line `hivebt seed` and `hivebt download` print on stderr for each
//! torrent at exit, parsed strictly: a line that does not have the documented shape
//! fails the test.
//!
//! `<infohash> <name>: complete|incomplete, downloaded X in S s (R/s), uploaded Y,
//! N peers used, F hash failures`.

/// One torrent's summary line.
#[derive(Debug)]
pub struct Summary {
    pub line: String,
    pub complete: bool,
    pub downloaded: u64,
    /// From the start of the run to completion (or to its end, if never complete).
    pub seconds: f64,
    pub uploaded: u64,
    pub peers_used: u64,
    pub hash_failures: u64,
}

/// Parses `12 B`, `1.5 KiB`, `7.0 MiB`. The summary prints one decimal, so a value
/// of a unit or more is off by up to 5%: see [`at_least`].
fn parse_human_bytes(s: &str) -> u64 {
    let (num, unit) = s
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a byte count: {s:?}"));
    let scale: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => panic!("unknown unit in byte count {s:?}"),
    };
    let num: f64 = num
        .parse()
        .unwrap_or_else(|_| panic!("not a byte count: {s:?}"));
    (num * scale as f64).round() as u64
}

/// Whether a byte count parsed from a summary line is `expected` bytes or more, allowing
/// for its rounding to one decimal of KiB, MiB or GiB (at most 5% of the value).
pub fn at_least(printed: u64, expected: u64) -> bool {
    printed >= expected - expected / 20
}

/// Fails the test: `line` is not a summary line.
fn unparsable<T>(label: &str, line: &str) -> T {
    panic!("{label}: cannot parse summary line {line:?}")
}

impl Summary {
    /// Finds and parses the summary line for `info_hash` (hex) in `stderr`; `label`
    /// names the process in failure messages.
    pub fn find(label: &str, stderr: &str, info_hash: &str) -> Summary {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(info_hash) && l.contains(" peers used"))
            .unwrap_or_else(|| {
                panic!("{label}: no summary line for {info_hash} in stderr:\n{stderr}")
            });
        Summary::parse(label, line)
    }

    fn parse(label: &str, line: &str) -> Summary {
        let bad = || unparsable(label, line);
        let (_, rest) = line.split_once(": ").unwrap_or_else(bad);
        let fields: Vec<&str> = rest.split(", ").collect();
        if fields.len() != 5 {
            return unparsable(label, line);
        }
        let complete = match fields[0] {
            "complete" => true,
            "incomplete" => false,
            _ => unparsable(label, line),
        };
        let (downloaded, seconds) = fields[1]
            .strip_prefix("downloaded ")
            .and_then(|d| d.split_once(" in "))
            .and_then(|(bytes, time)| {
                let seconds = time.split_once(" s ")?.0.parse().ok()?;
                Some((parse_human_bytes(bytes), seconds))
            })
            .unwrap_or_else(|| unparsable(label, line));
        let uploaded = fields[2]
            .strip_prefix("uploaded ")
            .map(parse_human_bytes)
            .unwrap_or_else(|| unparsable(label, line));
        let count = |field: &str, suffix: &str| -> u64 {
            field
                .strip_suffix(suffix)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| unparsable(label, line))
        };
        Summary {
            line: line.to_string(),
            complete,
            downloaded,
            seconds,
            uploaded,
            peers_used: count(fields[3], " peers used"),
            hash_failures: count(fields[4], " hash failures"),
        }
    }
}
