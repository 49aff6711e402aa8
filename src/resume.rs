//! Resume records: which pieces of a torrent are verified on disk, tied to the size and
//! modification time of every file, so a restart can skip the recheck when nothing
//! changed. Stored in the state directory, never beside the user's data.
//!
//! Depends on `wire::bencode`, `bitfield`, `torrent::storage` and `types`. A record is
//! trusted only when every file's size and mtime (to the nanosecond) match what was
//! recorded after the last write; anything else means "recheck". Records are written
//! atomically (temporary file, then rename).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::bitfield::Bitfield;
use crate::torrent::storage::Storage;
use crate::types::InfoHash;
use crate::wire::bencode::{self, DictBuilder};

/// The default state directory: `$XDG_STATE_HOME/hivebt`, else `~/.local/state/hivebt`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("hivebt"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local/state/hivebt"))
}

/// Where the record of `info_hash` lives under `state_dir`.
pub fn record_path(state_dir: &Path, info_hash: &InfoHash) -> PathBuf {
    state_dir
        .join("resume")
        .join(format!("{}.resume", info_hash.to_hex()))
}

/// (size, mtime seconds, mtime nanoseconds) of each file; `None` for a missing one.
fn file_stamps(storage: &Storage) -> Vec<Option<(u64, i64, i64)>> {
    (0..storage.layout.files.len())
        .map(|i| {
            if storage.layout.files[i].padding {
                return Some((storage.layout.files[i].length, 0, 0));
            }
            fs::metadata(storage.file_path(i))
                .ok()
                .map(|m| (m.len(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

/// Writes the record for `have` after the data it describes is on disk.
pub fn save(
    state_dir: &Path,
    info_hash: &InfoHash,
    storage: &Storage,
    have: &Bitfield,
) -> io::Result<()> {
    let mut files = vec![b'l'];
    for stamp in file_stamps(storage) {
        let mut d = DictBuilder::new();
        match stamp {
            Some((size, secs, nanos)) => {
                d.int(b"size", size as i64)
                    .int(b"mtime", secs)
                    .int(b"mtime_ns", nanos);
            }
            None => {
                d.int(b"missing", 1);
            }
        }
        files.extend(d.finish());
    }
    files.push(b'e');
    let mut d = DictBuilder::new();
    d.bytes(b"info-hash", &info_hash.0)
        .int(b"pieces", i64::from(have.len()))
        .bytes(b"have", have.as_wire())
        .raw(b"files", files);
    let path = record_path(state_dir, info_hash);
    let dir = path.parent().unwrap_or(state_dir);
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        info_hash.to_hex(),
        std::process::id()
    ));
    fs::write(&tmp, d.finish())?;
    fs::rename(&tmp, &path)
}

/// The verified pieces from the record, if there is one and every file still has the
/// size and mtime it had when the record was written.
pub fn load(state_dir: &Path, info_hash: &InfoHash, storage: &Storage) -> Option<Bitfield> {
    let bytes = fs::read(record_path(state_dir, info_hash)).ok()?;
    let (root, _) = bencode::decode(&bytes).ok()?;
    if root.get(b"info-hash")?.as_bytes()? != info_hash.0 {
        return None;
    }
    let pieces = u32::try_from(root.get(b"pieces")?.as_int()?).ok()?;
    if pieces != storage.layout.piece_count() {
        return None;
    }
    let have = Bitfield::from_wire(root.get(b"have")?.as_bytes()?, pieces).ok()?;
    let recorded = root.get(b"files")?.as_list()?;
    let now = file_stamps(storage);
    if recorded.len() != now.len() {
        return None;
    }
    for (r, stamp) in recorded.iter().zip(now) {
        let (size, secs, nanos) = stamp?;
        let same = r.get(b"size")?.as_int()? == size as i64
            && r.get(b"mtime")?.as_int()? == secs
            && r.get(b"mtime_ns")?.as_int()? == nanos;
        if !same {
            return None;
        }
    }
    Some(have)
}

/// Removes a record (the torrent's files are gone or it must be rechecked).
pub fn remove(state_dir: &Path, info_hash: &InfoHash) {
    let _ = fs::remove_file(record_path(state_dir, info_hash));
}
