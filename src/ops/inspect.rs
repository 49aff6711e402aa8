//! `hivebt inspect`: shows what a .torrent file or a magnet link holds, for people or,
//! with `--json`, for programs.

use std::path::Path;

use crate::error::{Error, Result};
use crate::json::Json;
use crate::ops::load_torrent;
use crate::progress::human_bytes;
use crate::torrent::paths::{SafePaths, sanitize};
use crate::wire::magnet::{Magnet, is_magnet_link};
use crate::wire::metainfo::Metainfo;

/// A parsed torrent file or magnet link.
#[derive(Debug)]
pub enum Inspected {
    /// A .torrent file, with the paths hivebt would write its files to.
    Torrent {
        /// The parsed file.
        meta: Box<Metainfo>,
        /// Its sanitised paths.
        paths: SafePaths,
    },
    /// A magnet link: only what the link itself carries.
    Magnet(Magnet),
}

/// Reads `arg`: a magnet link when it starts with `magnet:`, else a .torrent path.
pub fn inspect(arg: &str) -> Result<Inspected> {
    if is_magnet_link(arg) {
        return Magnet::parse(arg)
            .map(Inspected::Magnet)
            .map_err(|e| Error::BadInput(e.to_string()));
    }
    let meta = load_torrent(Path::new(arg))?;
    let paths = sanitize(&meta.info);
    Ok(Inspected::Torrent {
        meta: Box::new(meta),
        paths,
    })
}

/// `2023-11-14 22:13:20 UTC` for a Unix time.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `s` with control characters (newlines, escapes, carriage returns...) written as
/// `\u{..}` escapes, so text from a torrent cannot forge lines or drive the terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn warnings_of(meta: &Metainfo, paths: &SafePaths) -> Vec<String> {
    meta.warnings
        .iter()
        .cloned()
        .chain(paths.changes.iter().map(|c| c.to_string()))
        .collect()
}

impl Inspected {
    /// Human-readable listing.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<14}{}\n", printable(v)));
        match self {
            Inspected::Magnet(m) => {
                line("name:", m.name.as_deref().unwrap_or("(not given)"));
                line("info-hash:", &m.info_hash.to_hex());
                for (i, t) in m.trackers.iter().enumerate() {
                    line(if i == 0 { "trackers:" } else { "" }, t);
                }
                for (i, w) in m.web_seeds.iter().enumerate() {
                    line(if i == 0 { "web seeds:" } else { "" }, w);
                }
                line("magnet:", &m.to_uri());
                line("", "(a magnet link carries no file list or piece hashes)");
            }
            Inspected::Torrent { meta, paths } => {
                let info = &meta.info;
                line("name:", &paths.name);
                line("info-hash:", &meta.info_hash.to_hex());
                line(
                    "total size:",
                    &format!(
                        "{} ({} bytes)",
                        human_bytes(info.total_length),
                        info.total_length
                    ),
                );
                line(
                    "pieces:",
                    &format!("{} x {}", info.pieces.len(), human_bytes(info.piece_length)),
                );
                line("private:", if info.private { "yes" } else { "no" });
                if let Some(src) = &info.source {
                    line("source:", src);
                }
                if let Some(t) = meta.creation_date {
                    line("created:", &format_utc(t));
                }
                if let Some(c) = &meta.created_by {
                    line("created by:", c);
                }
                if let Some(c) = &meta.comment {
                    line("comment:", c);
                }
                let tiers = meta.tracker_tiers();
                if tiers.is_empty() {
                    line("trackers:", "(none)");
                }
                for (i, tier) in tiers.iter().enumerate() {
                    line(
                        if i == 0 { "trackers:" } else { "" },
                        &format!("tier {}: {}", i + 1, tier.join(", ")),
                    );
                }
                for (i, w) in meta.url_list.iter().enumerate() {
                    line(if i == 0 { "web seeds:" } else { "" }, w);
                }
                line("magnet:", &meta.magnet());
                s.push_str(&format!("files ({}):\n", paths.files.len()));
                for (f, p) in info.files.iter().zip(&paths.files) {
                    let pad = if f.padding { "  (padding)" } else { "" };
                    s.push_str(&format!(
                        "  {:>14}  {}{pad}\n",
                        f.length,
                        printable(&p.to_string_lossy())
                    ));
                }
                let warnings = warnings_of(meta, paths);
                for w in &warnings {
                    s.push_str(&format!("warning: {}\n", printable(w)));
                }
            }
        }
        s
    }

    /// JSON with the stable keys documented in the README.
    pub fn to_json(&self) -> Json {
        match self {
            Inspected::Magnet(m) => Json::Obj(vec![
                ("kind", Json::str("magnet")),
                ("name", Json::opt_str(m.name.clone())),
                ("info_hash", Json::str(m.info_hash.to_hex())),
                ("total_size", Json::Null),
                ("piece_length", Json::Null),
                ("piece_count", Json::Null),
                ("private", Json::Null),
                ("files", Json::Null),
                (
                    "trackers",
                    Json::Arr(
                        m.trackers
                            .iter()
                            .map(|t| Json::Arr(vec![Json::str(t)]))
                            .collect(),
                    ),
                ),
                (
                    "web_seeds",
                    Json::Arr(m.web_seeds.iter().map(Json::str).collect()),
                ),
                ("creation_date", Json::Null),
                ("created_by", Json::Null),
                ("comment", Json::Null),
                ("source", Json::Null),
                ("magnet", Json::str(m.to_uri())),
                ("warnings", Json::Arr(vec![])),
            ]),
            Inspected::Torrent { meta, paths } => {
                let info = &meta.info;
                let files = info
                    .files
                    .iter()
                    .zip(&paths.files)
                    .map(|(f, p)| {
                        Json::Obj(vec![
                            ("path", Json::str(p.to_string_lossy())),
                            ("size", Json::int(f.length)),
                            ("padding", Json::Bool(f.padding)),
                        ])
                    })
                    .collect();
                let tiers = meta
                    .tracker_tiers()
                    .iter()
                    .map(|t| Json::Arr(t.iter().map(Json::str).collect()))
                    .collect();
                Json::Obj(vec![
                    ("kind", Json::str("torrent")),
                    ("name", Json::str(&paths.name)),
                    ("info_hash", Json::str(meta.info_hash.to_hex())),
                    ("total_size", Json::int(info.total_length)),
                    ("piece_length", Json::int(info.piece_length)),
                    ("piece_count", Json::int(info.pieces.len() as u64)),
                    ("private", Json::Bool(info.private)),
                    ("files", Json::Arr(files)),
                    ("trackers", Json::Arr(tiers)),
                    (
                        "web_seeds",
                        Json::Arr(meta.url_list.iter().map(Json::str).collect()),
                    ),
                    (
                        "creation_date",
                        meta.creation_date.map_or(Json::Null, Json::int),
                    ),
                    ("created_by", Json::opt_str(meta.created_by.clone())),
                    ("comment", Json::opt_str(meta.comment.clone())),
                    ("source", Json::opt_str(info.source.clone())),
                    ("magnet", Json::str(meta.magnet())),
                    (
                        "warnings",
                        Json::Arr(
                            warnings_of(meta, paths)
                                .into_iter()
                                .map(Json::Str)
                                .collect(),
                        ),
                    ),
                ])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            super::printable("a\nb\x1b[2K\r"),
            "a\\u{a}b\\u{1b}[2K\\u{d}"
        );
        assert_eq!(super::printable("plain é"), "plain é");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
