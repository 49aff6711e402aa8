//! How `ctl` shows the daemon's answers to people: the `list` table, the `stats`
//! lines, and the rate, progress, ratio and ETA formats they use.
//!
//! Depends on `crate::progress` (byte sizes). Pure: every function takes the decoded
//! answer (and the terminal width) and returns text. Text that came from the daemon
//! (names, states, messages) goes through [`printable`] so a torrent name cannot carry
//! terminal escapes to the user's screen.

use std::fmt::Write;

use super::{STATES, SessionInfo, TorrentInfo};
use crate::progress::human_bytes;

/// The narrowest the NAME column is truncated to, however narrow the terminal.
const MIN_NAME_WIDTH: usize = 12;
/// Between two columns.
const GAP: &str = "  ";

/// `s` with every control character replaced by `?`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A rate: `0 B/s`, `1.2 MiB/s`.
pub fn rate(bytes_per_sec: u64) -> String {
    format!("{}/s", human_bytes(bytes_per_sec))
}

/// A rate limit: the rate, or `unlimited`.
fn rate_limit(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_string(), rate)
}

/// Progress as a percentage with one decimal, rounded down so that only a complete
/// torrent shows `100.0%`.
pub fn progress(fraction: f64) -> String {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let tenths = (fraction * 1000.0).floor();
    format!("{:.1}%", tenths / 10.0)
}

/// A share ratio with two decimals.
pub fn ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}")
    } else {
        "-".to_string()
    }
}

/// Time left, in its two largest units: `45s`, `3m12s`, `2h05m`, `3d04h`; `-` when the
/// daemon does not know.
pub fn eta(seconds: Option<u64>) -> String {
    let Some(s) = seconds else {
        return "-".to_string();
    };
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `s` cut to `max` characters, the last one an ellipsis when anything was cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The `list` table: one line per torrent under a header, columns aligned (names and
/// states to the left, numbers to the right), names truncated so that a line fits in
/// `width` characters when a width is known (never below 12 characters of name).
pub fn list_table(torrents: &[TorrentInfo], width: Option<usize>) -> String {
    const HEADER: [&str; 8] = [
        "NAME", "STATE", "PROGRESS", "DOWN", "UP", "PEERS", "RATIO", "ETA",
    ];
    let rows: Vec<[String; 8]> = torrents
        .iter()
        .map(|t| {
            [
                printable(&t.name),
                printable(&t.state),
                progress(t.progress),
                rate(t.download_rate),
                rate(t.upload_rate),
                format!("{}/{}", t.peers, t.seeds),
                ratio(t.ratio),
                eta(t.eta),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    if let Some(width) = width {
        let others: usize = widths[1..].iter().sum::<usize>() + GAP.len() * (HEADER.len() - 1);
        widths[0] = widths[0].min(width.saturating_sub(others).max(MIN_NAME_WIDTH));
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 8]| {
        let name = truncate(cells[0], widths[0]);
        let _ = write!(
            out,
            "{name:<w0$}{GAP}{:<w1$}",
            cells[1],
            w0 = widths[0],
            w1 = widths[1]
        );
        for (cell, w) in cells[2..].iter().zip(&widths[2..]) {
            let _ = write!(out, "{GAP}{cell:>w$}");
        }
        out.push('\n');
    };
    line(HEADER);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

/// The `stats` lines: `key: value`, values aligned.
pub fn stats_text(s: &SessionInfo) -> String {
    let mut by_state: Vec<String> = STATES
        .iter()
        .filter_map(|&state| {
            let n = s.by_state.get(state).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {state}"))
        })
        .collect();
    // States this version does not know yet, after the known ones.
    by_state.extend(
        s.by_state
            .iter()
            .filter(|(state, n)| **n > 0 && !STATES.contains(&state.as_str()))
            .map(|(state, n)| format!("{n} {}", printable(state))),
    );
    let torrents = match by_state.is_empty() {
        true => s.torrents.to_string(),
        false => format!("{} ({})", s.torrents, by_state.join(", ")),
    };
    let lines = [
        ("version", printable(&s.version)),
        ("download rate", rate(s.download_rate)),
        ("upload rate", rate(s.upload_rate)),
        ("downloaded", human_bytes(s.downloaded)),
        ("uploaded", human_bytes(s.uploaded)),
        ("torrents", torrents),
        ("peers", s.peers.to_string()),
        ("disk queue", s.disk_queue.to_string()),
        ("download limit", rate_limit(s.limits.max_download_rate)),
        ("upload limit", rate_limit(s.limits.max_upload_rate)),
        (
            "max connections",
            s.limits
                .max_connections
                .map_or_else(|| "unlimited".to_string(), |n| n.to_string()),
        ),
    ];
    let key_width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "{:<key_width$} {value}", format!("{key}:"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torrents(json: &str) -> Vec<TorrentInfo> {
        serde_json::from_str(json).unwrap()
    }

    const TWO: &str = r#"[
      {"info_hash": "0123456789abcdef0123456789abcdef01234567", "name": "debian-12.5.0-amd64-netinst.iso",
       "state": "downloading", "progress": 0.42, "size": 658505728, "downloaded": 276572405,
       "uploaded": 1024, "download_rate": 1258291, "upload_rate": 0, "peers": 12, "seeds": 3,
       "ratio": 0.0000015, "eta": 192, "save_path": "/srv/dl", "added_at": 1700000000,
       "completed_at": null, "labels": ["linux"], "error": null,
       "limits": {"max_upload_rate": null, "max_download_rate": null, "max_connections": null,
                  "ratio_limit": null, "seed_time_limit": null}},
      {"info_hash": "fedcba9876543210fedcba9876543210fedcba98", "name": "big\u001b[2Jset",
       "state": "seeding", "progress": 1.0, "download_rate": 0, "upload_rate": 524288000,
       "peers": 140, "seeds": 0, "ratio": 12.3456, "eta": null}
    ]"#;

    #[test]
    fn table_snapshot() {
        let table = list_table(&torrents(TWO), None);
        assert_eq!(
            table,
            "\
NAME                             STATE        PROGRESS       DOWN           UP  PEERS  RATIO    ETA
debian-12.5.0-amd64-netinst.iso  downloading     42.0%  1.2 MiB/s        0 B/s   12/3   0.00  3m12s
big?[2Jset                       seeding        100.0%      0 B/s  500.0 MiB/s  140/0  12.35      -
"
        );
    }

    #[test]
    fn table_names_truncated_to_the_width() {
        let table = list_table(&torrents(TWO), Some(82));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "NAME            STATE        PROGRESS       DOWN           UP  PEERS  RATIO    ETA"
        );
        assert_eq!(
            lines[1],
            "debian-12.5.0…  downloading     42.0%  1.2 MiB/s        0 B/s   12/3   0.00  3m12s"
        );
        assert_eq!(lines[2].chars().count(), 82, "{table}");
        // A terminal too narrow for the rest still shows 12 characters of name.
        let narrow = list_table(&torrents(TWO), Some(20));
        assert!(
            narrow.lines().nth(1).unwrap().starts_with("debian-12.5… "),
            "{narrow}"
        );
        // A wide one cuts nothing.
        assert_eq!(
            list_table(&torrents(TWO), Some(500)),
            list_table(&torrents(TWO), None)
        );
    }

    #[test]
    fn empty_table_is_the_header() {
        assert_eq!(
            list_table(&[], Some(80)),
            "NAME  STATE  PROGRESS  DOWN  UP  PEERS  RATIO  ETA\n"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(rate(0), "0 B/s");
        assert_eq!(rate(1023), "1023 B/s");
        assert_eq!(rate(1_258_291), "1.2 MiB/s");
        assert_eq!(progress(0.42), "42.0%");
        assert_eq!(progress(0.9999), "99.9%");
        assert_eq!(progress(1.0), "100.0%");
        assert_eq!(progress(-0.5), "0.0%");
        assert_eq!(progress(f64::NAN), "0.0%");
        assert_eq!(ratio(1.005), "1.00");
        assert_eq!(ratio(2.0), "2.00");
        assert_eq!(eta(None), "-");
        assert_eq!(eta(Some(0)), "0s");
        assert_eq!(eta(Some(59)), "59s");
        assert_eq!(eta(Some(192)), "3m12s");
        assert_eq!(eta(Some(3600 * 2 + 300)), "2h05m");
        assert_eq!(eta(Some(86_400 * 3 + 3600 * 4 + 5)), "3d04h");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("ééééééé", 3), "éé…");
        assert_eq!(printable("a\tb\u{7f}c"), "a?b?c");
    }

    #[test]
    fn stats_snapshot() {
        let s: SessionInfo = serde_json::from_str(
            r#"{"version": "0.1.0", "download_rate": 1258291, "upload_rate": 10485760,
                "downloaded": 1610612736, "uploaded": 512, "torrents": 12,
                "by_state": {"checking": 0, "queued": 1, "downloading": 3, "seeding": 8,
                             "paused": 0, "error": 0, "moving": 2},
                "peers": 40, "disk_queue": 2,
                "limits": {"max_upload_rate": 10485760, "max_download_rate": null,
                           "max_connections": 500}}"#,
        )
        .unwrap();
        assert_eq!(
            stats_text(&s),
            "\
version:         0.1.0
download rate:   1.2 MiB/s
upload rate:     10.0 MiB/s
downloaded:      1.5 GiB
uploaded:        512 B
torrents:        12 (1 queued, 3 downloading, 8 seeding, 2 moving)
peers:           40
disk queue:      2
download limit:  unlimited
upload limit:    10.0 MiB/s
max connections: 500
"
        );
    }
}
