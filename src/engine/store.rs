//! The daemon's session store: per torrent, its .torrent and one small record (save
//! path, paused, labels, limits, totals, times) in the state directory, beside the
//! resume record of its verified pieces (`resume.rs`).
//!
//! ```text
//! STATE/torrents/<info-hash>.torrent   the metainfo as it was added
//! STATE/torrents/<info-hash>.json      its TorrentRecord
//! STATE/resume/<info-hash>.resume      its verified pieces (resume.rs)
//! ```
//!
//! Plain file I/O, run on the workers (or at start-up, before the reactor runs). Every
//! file is written atomically: a temporary file in the same directory, then a rename,
//! so a process killed at any moment leaves the old file or the new one, never half
//! of one. A torrent exists in the store once its record exists: the .torrent is
//! written first, the record last, and a .torrent without a record is ignored at load.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TorrentCaps;
use crate::config::MAX_TORRENT_FILE_BYTES;
use crate::types::InfoHash;

/// Per-torrent limits an operator set. `None`: the global setting applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorrentLimits {
    /// Upload bytes per second.
    #[serde(default)]
    pub max_upload_rate: Option<u64>,
    /// Download bytes per second.
    #[serde(default)]
    pub max_download_rate: Option<u64>,
    /// Connected peers.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Stop seeding at this ratio of uploaded to size.
    #[serde(default)]
    pub ratio_limit: Option<f64>,
    /// Stop seeding after this many seconds of seeding.
    #[serde(default)]
    pub seed_time_limit: Option<u64>,
}

impl TorrentLimits {
    /// The limits the engine enforces (the share limits are the daemon's own).
    pub fn caps(&self) -> TorrentCaps {
        TorrentCaps {
            up: self.max_upload_rate,
            down: self.max_download_rate,
            max_connections: self.max_connections.map(|n| n as usize),
        }
    }
}

/// What the daemon keeps of one torrent besides its metainfo and verified pieces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentRecord {
    /// Directory its content lives under (the content is `save_path/<name>`).
    pub save_path: PathBuf,
    /// Paused by the operator (or a share limit): stays paused over restarts.
    #[serde(default)]
    pub paused: bool,
    /// The operator's labels (the qBittorrent API's tags).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Its category (the qBittorrent API's; one at most). Records written before
    /// categories existed load without one.
    #[serde(default)]
    pub category: Option<String>,
    /// Its own limits.
    #[serde(default)]
    pub limits: TorrentLimits,
    /// Payload bytes uploaded over its whole life in the session, up to the last save.
    #[serde(default)]
    pub uploaded: u64,
    /// Payload bytes downloaded, likewise.
    #[serde(default)]
    pub downloaded: u64,
    /// Seconds spent seeding (active and complete), likewise.
    #[serde(default)]
    pub seeding_secs: u64,
    /// When it was added, in Unix seconds.
    pub added_at: u64,
    /// When it completed, in Unix seconds.
    #[serde(default)]
    pub completed_at: Option<u64>,
    /// The last error that stopped it, if any.
    #[serde(default)]
    pub error: Option<String>,
    /// The magnet link it was added from: until its metadata arrives (and its .torrent
    /// is written beside the record) a restart adds it from the link again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magnet: Option<String>,
}

/// A torrent found in the store at start-up.
#[derive(Debug)]
pub struct Stored {
    /// Its info-hash, from the file names.
    pub info_hash: InfoHash,
    /// The .torrent as added; empty for a magnet whose metadata never arrived (its
    /// record has the link).
    pub torrent: Vec<u8>,
    /// Its record.
    pub record: TorrentRecord,
}

/// The directory holding the .torrent files and records.
fn torrents_dir(state: &Path) -> PathBuf {
    state.join("torrents")
}

/// Where the .torrent of `hash` is kept.
pub fn torrent_path(state: &Path, hash: &InfoHash) -> PathBuf {
    torrents_dir(state).join(format!("{}.torrent", hash.to_hex()))
}

/// Where the record of `hash` is kept.
pub fn record_path(state: &Path, hash: &InfoHash) -> PathBuf {
    torrents_dir(state).join(format!("{}.json", hash.to_hex()))
}

/// Writes `bytes` to `path` atomically (temporary file beside it, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Writes a new torrent: its .torrent, then its record (which makes it exist).
pub fn add(
    state: &Path,
    hash: &InfoHash,
    torrent: &[u8],
    record: &TorrentRecord,
) -> io::Result<()> {
    write_atomic(&torrent_path(state, hash), torrent)?;
    save_record(state, hash, record)
}

/// Replaces the record of `hash`.
pub fn save_record(state: &Path, hash: &InfoHash, record: &TorrentRecord) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    write_atomic(&record_path(state, hash), &json)
}

/// Forgets `hash`: its record first (so a crash half-way leaves no torrent), then its
/// .torrent and resume record. Files already gone are fine.
pub fn remove(state: &Path, hash: &InfoHash) -> io::Result<()> {
    for path in [
        record_path(state, hash),
        torrent_path(state, hash),
        crate::resume::record_path(state, hash),
    ] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Every torrent in the store, and a warning for each entry that cannot be read (it
/// is left where it is for the operator to look at).
pub fn load_all(state: &Path) -> (Vec<Stored>, Vec<String>) {
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    let entries = match fs::read_dir(torrents_dir(state)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (found, warnings),
        Err(e) => {
            warnings.push(format!(
                "cannot read {}: {e}",
                torrents_dir(state).display()
            ));
            return (found, warnings);
        }
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for record_file in names {
        let Some(hash) = record_file
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(InfoHash::from_hex)
        else {
            continue;
        };
        match load_one(state, &hash, &record_file) {
            Ok(stored) => found.push(stored),
            Err(why) => warnings.push(format!("{}: {why}; skipping it", record_file.display())),
        }
    }
    (found, warnings)
}

fn load_one(state: &Path, hash: &InfoHash, record_file: &Path) -> Result<Stored, String> {
    let json = fs::read(record_file).map_err(|e| format!("cannot read it: {e}"))?;
    let record: TorrentRecord =
        serde_json::from_slice(&json).map_err(|e| format!("not a torrent record: {e}"))?;
    let path = torrent_path(state, hash);
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound && record.magnet.is_some() => {
            return Ok(Stored {
                info_hash: *hash,
                torrent: Vec::new(),
                record,
            });
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if len > MAX_TORRENT_FILE_BYTES {
        return Err(format!("{} is too large", path.display()));
    }
    let torrent = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Stored {
        info_hash: *hash,
        torrent,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TorrentRecord {
        TorrentRecord {
            save_path: "/srv/seed".into(),
            paused: true,
            labels: vec!["tv".into()],
            category: Some("shows".into()),
            limits: TorrentLimits {
                ratio_limit: Some(2.0),
                ..Default::default()
            },
            uploaded: 5,
            downloaded: 7,
            seeding_secs: 9,
            added_at: 1_700_000_000,
            completed_at: None,
            error: None,
            magnet: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hivebt-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn torrents_round_trip_and_go_away() {
        let dir = temp_dir("round");
        let a = InfoHash([1; 20]);
        let b = InfoHash([2; 20]);
        add(&dir, &a, b"d4:infodee", &record()).unwrap();
        add(&dir, &b, b"d4:infod1:xi1eee", &record()).unwrap();
        let mut r = record();
        r.paused = false;
        save_record(&dir, &b, &r).unwrap();
        let (found, warnings) = load_all(&dir);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].info_hash, found[0].record.paused), (a, true));
        assert_eq!((found[1].info_hash, found[1].record.paused), (b, false));
        assert_eq!(found[1].torrent, b"d4:infod1:xi1eee");
        remove(&dir, &a).unwrap();
        remove(&dir, &a).unwrap();
        assert_eq!(load_all(&dir).0.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_from_before_categories_loads_without_one() {
        let old = r#"{"save_path": "/srv", "labels": ["a"], "added_at": 5}"#;
        let r: TorrentRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.category, r.labels), (None, vec!["a".to_string()]));
    }

    #[test]
    fn damaged_entries_are_skipped_with_a_warning() {
        let dir = temp_dir("damaged");
        let a = InfoHash([3; 20]);
        add(&dir, &a, b"d4:infodee", &record()).unwrap();
        // A record cut short, and a record without its .torrent.
        let b = InfoHash([4; 20]);
        fs::write(record_path(&dir, &b), b"{\"save_path\": \"/x\", ").unwrap();
        let c = InfoHash([5; 20]);
        save_record(&dir, &c, &record()).unwrap();
        // A .torrent without a record does not exist yet (a crash between the two).
        let d = InfoHash([6; 20]);
        write_atomic(&torrent_path(&dir, &d), b"d4:infodee").unwrap();
        let (found, warnings) = load_all(&dir);
        assert_eq!(found.iter().map(|s| s.info_hash).collect::<Vec<_>>(), [a]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("not a torrent record")));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_magnet_record_loads_from_its_link_until_its_torrent_is_written() {
        let dir = temp_dir("magnet");
        let a = InfoHash([7; 20]);
        let mut r = record();
        r.magnet = Some("magnet:?xt=urn:btih:0707070707070707070707070707070707070707".into());
        save_record(&dir, &a, &r).unwrap();
        let (found, warnings) = load_all(&dir);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(found.len(), 1);
        assert!(found[0].torrent.is_empty());
        assert_eq!(found[0].record.magnet, r.magnet);
        // The metadata arrived: the .torrent beside the record is what loads.
        write_atomic(&torrent_path(&dir, &a), b"d4:infodee").unwrap();
        let (found, _) = load_all(&dir);
        assert_eq!(found[0].torrent, b"d4:infodee");
        // Records without a link do not grow the key.
        let json = serde_json::to_string(&record()).unwrap();
        assert!(!json.contains("magnet"), "{json}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
