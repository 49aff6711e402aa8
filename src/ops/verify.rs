//! `hivebt verify`: rechecks data on disk against a torrent's piece hashes on the worker
//! pool, and reports pieces verified / missing / bad and how complete each file is.
//!
//! A piece is *missing* when a file it needs is absent, shorter than the torrent says or
//! unreadable, and *bad* when all its bytes are there but the hash differs.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::ReadError;
use crate::error::Result;
use crate::json::Json;
use crate::ops::{hash_all_pieces, load_torrent};
use crate::torrent::paths::sanitize;
use crate::torrent::storage::{Layout, Storage};
use crate::types::InfoHash;

/// What `verify` found.
#[derive(Debug)]
pub struct VerifyReport {
    /// Torrent name (sanitised).
    pub name: String,
    /// The torrent's info-hash.
    pub info_hash: InfoHash,
    /// The directory the content was looked for in (`root/<name>`).
    pub root: PathBuf,
    /// Number of pieces.
    pub pieces: u32,
    /// Pieces whose hash matched.
    pub verified: u32,
    /// Pieces with data absent, short or unreadable.
    pub missing: u32,
    /// Pieces present whose hash did not match.
    pub bad: u32,
    /// Indices of the bad pieces, ascending.
    pub bad_pieces: Vec<u32>,
    /// Indices of the missing pieces, ascending.
    pub missing_pieces: Vec<u32>,
    /// One entry per file, in torrent order.
    pub files: Vec<FileReport>,
}

/// How complete one file is.
#[derive(Debug)]
pub struct FileReport {
    /// Path relative to the root, as hivebt stores it.
    pub path: String,
    /// Length the torrent gives.
    pub size: u64,
    /// Size on disk, `None` if it does not exist.
    pub on_disk: Option<u64>,
    /// Bytes of the file inside verified pieces.
    pub verified_bytes: u64,
    /// First read error, if reading failed for a reason other than absence.
    pub error: Option<String>,
}

impl FileReport {
    /// Every byte verified (an empty file: present).
    pub fn complete(&self) -> bool {
        if self.size == 0 {
            self.on_disk.is_some()
        } else {
            self.verified_bytes == self.size
        }
    }
}

impl VerifyReport {
    /// True when every piece verified and every file is complete.
    pub fn complete(&self) -> bool {
        self.verified == self.pieces && self.files.iter().all(FileReport::complete)
    }

    /// The report as a human reads it.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}  {}\n  data:     {}\n  pieces:   {} verified, {} missing, {} bad, of {}\n",
            self.info_hash,
            self.name,
            self.root.join(&self.name).display(),
            self.verified,
            self.missing,
            self.bad,
            self.pieces
        );
        if !self.bad_pieces.is_empty() {
            s.push_str(&format!("  bad pieces:     {}\n", ranges(&self.bad_pieces)));
        }
        if !self.missing_pieces.is_empty() {
            s.push_str(&format!(
                "  missing pieces: {}\n",
                ranges(&self.missing_pieces)
            ));
        }
        for f in &self.files {
            let pct = if f.size == 0 {
                if f.complete() { 100.0 } else { 0.0 }
            } else {
                f.verified_bytes as f64 * 100.0 / f.size as f64
            };
            let note = match (&f.error, f.on_disk) {
                (Some(e), _) => format!("  ({e})"),
                (None, None) => "  (missing)".to_string(),
                (None, Some(n)) if n < f.size => format!("  (only {n} of {} bytes)", f.size),
                (None, Some(n)) if n > f.size => format!("  ({n} bytes, longer than {})", f.size),
                _ => String::new(),
            };
            s.push_str(&format!("  {pct:5.1}%  {}{note}\n", f.path));
        }
        s.push_str(if self.complete() {
            "complete: every piece verified\n"
        } else {
            "incomplete\n"
        });
        s
    }

    /// The report as JSON (keys documented in the README).
    pub fn to_json(&self) -> Json {
        Json::Obj(vec![
            ("name", Json::str(&self.name)),
            ("info_hash", Json::str(self.info_hash.to_hex())),
            (
                "data_path",
                Json::str(self.root.join(&self.name).to_string_lossy()),
            ),
            ("complete", Json::Bool(self.complete())),
            (
                "pieces",
                Json::Obj(vec![
                    ("total", Json::int(self.pieces)),
                    ("verified", Json::int(self.verified)),
                    ("missing", Json::int(self.missing)),
                    ("bad", Json::int(self.bad)),
                ]),
            ),
            ("bad_pieces", indices(&self.bad_pieces)),
            ("missing_pieces", indices(&self.missing_pieces)),
            (
                "files",
                Json::Arr(
                    self.files
                        .iter()
                        .map(|f| {
                            Json::Obj(vec![
                                ("path", Json::str(&f.path)),
                                ("size", Json::int(f.size)),
                                ("on_disk", f.on_disk.map_or(Json::Null, Json::int)),
                                ("verified_bytes", Json::int(f.verified_bytes)),
                                ("complete", Json::Bool(f.complete())),
                                ("error", Json::opt_str(f.error.clone())),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }
}

/// Piece indices as a JSON array.
fn indices(pieces: &[u32]) -> Json {
    Json::Arr(pieces.iter().map(|&p| Json::int(p)).collect())
}

/// Ascending piece indices as ranges: `3, 7-9, 12`.
pub fn ranges(pieces: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < pieces.len() {
        let first = pieces[i];
        let mut last = first;
        while i + 1 < pieces.len() && pieces[i + 1] == last + 1 {
            i += 1;
            last = pieces[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if first == last {
            out.push_str(&first.to_string());
        } else {
            out.push_str(&format!("{first}-{last}"));
        }
        i += 1;
    }
    out
}

/// Finds the directory that holds the content: `data` itself when `data/<name>` exists,
/// else the parent of `data` when `data` is the content (named `name`, a file for a
/// single-file torrent, a directory otherwise), else `data` (where nothing will be found).
pub fn resolve_root(data: &Path, name: &str, single_file: bool) -> PathBuf {
    if fs::symlink_metadata(data.join(name)).is_ok() {
        return data.to_path_buf();
    }
    let named_so = data.file_name().is_some_and(|n| n == name);
    let right_kind =
        fs::metadata(data).is_ok_and(|m| if single_file { m.is_file() } else { m.is_dir() });
    if named_so && right_kind {
        return match data.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
    data.to_path_buf()
}

/// Verifies the data under `data` against the torrent at `torrent`.
pub fn verify(torrent: &Path, data: &Path, threads: usize) -> Result<VerifyReport> {
    let meta = load_torrent(torrent)?;
    let paths = sanitize(&meta.info);
    let root = resolve_root(data, &paths.name, meta.info.single_file);
    let layout = Layout::new(&meta.info, &paths);
    let storage = Arc::new(Storage::new(root.clone(), layout));

    let mut files: Vec<FileReport> = storage
        .layout
        .files
        .iter()
        .enumerate()
        .map(|(i, slot)| FileReport {
            path: slot.path.to_string_lossy().into_owned(),
            size: slot.length,
            on_disk: if slot.padding {
                Some(slot.length)
            } else {
                fs::metadata(storage.file_path(i))
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
            },
            verified_bytes: 0,
            error: None,
        })
        .collect();

    let (mut bad_pieces, mut missing_pieces) = (Vec::new(), Vec::new());
    let mut verified = 0;
    hash_all_pieces(
        Arc::clone(&storage),
        threads,
        "verifying",
        |piece, result| match result {
            Ok(hash) if hash == meta.info.pieces[piece.0 as usize] => {
                verified += 1;
                for span in storage.layout.spans(piece) {
                    files[span.file].verified_bytes += span.len;
                }
            }
            Ok(_) => bad_pieces.push(piece.0),
            Err(e) => {
                missing_pieces.push(piece.0);
                if let ReadError::Io { file, error } = e {
                    files[file].error.get_or_insert_with(|| error.to_string());
                }
            }
        },
    )?;

    // Workers finish in any order.
    bad_pieces.sort_unstable();
    missing_pieces.sort_unstable();
    Ok(VerifyReport {
        name: paths.name,
        info_hash: meta.info_hash,
        root,
        pieces: storage.layout.piece_count(),
        verified,
        missing: missing_pieces.len() as u32,
        bad: bad_pieces.len() as u32,
        bad_pieces,
        missing_pieces,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_join_runs() {
        assert_eq!(ranges(&[]), "");
        assert_eq!(ranges(&[134]), "134");
        assert_eq!(ranges(&[134, 200, 201, 202, 210]), "134, 200-202, 210");
        assert_eq!(ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(ranges(&[5, 6, 9, 10]), "5-6, 9-10");
        assert_eq!(
            ranges(&[u32::MAX - 1, u32::MAX]),
            format!("{}-{}", u32::MAX - 1, u32::MAX)
        );
    }
}
