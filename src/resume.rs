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

/// What a stored record says.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// No record (or no state directory to read it from).
    Absent,
    /// Well formed, and every file has the size and mtime recorded: these pieces are
    /// verified.
    Trusted(Bitfield),
    /// Well formed, but a file changed since: recheck.
    Stale,
    /// Unreadable, truncated or inconsistent (a hand edit, a crash mid-write on a file
    /// system that reorders writes): never trusted; the reason, for a warning.
    Corrupt(String),
}

/// Reads the record of `info_hash` and checks it against the files of `storage`.
pub fn load(state_dir: &Path, info_hash: &InfoHash, storage: &Storage) -> Record {
    let bytes = match fs::read(record_path(state_dir, info_hash)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Record::Absent,
        Err(e) => return Record::Corrupt(format!("cannot read it: {e}")),
    };
    match check(&bytes, info_hash, storage) {
        Ok(Some(have)) => Record::Trusted(have),
        Ok(None) => Record::Stale,
        Err(why) => Record::Corrupt(why),
    }
}

/// `Ok(Some)` for a record that matches the files, `Ok(None)` for one whose files
/// changed, `Err` for one that is not a record of this torrent.
fn check(
    bytes: &[u8],
    info_hash: &InfoHash,
    storage: &Storage,
) -> std::result::Result<Option<Bitfield>, String> {
    let now = file_stamps(storage);
    let (have, recorded) = decode(bytes, info_hash, storage.layout.piece_count(), now.len())?;
    let same = recorded.iter().zip(now).all(|(was, is)| {
        let is = is.map(|(size, secs, nanos)| (size as i64, secs, nanos));
        was.is_some() && *was == is
    });
    Ok(same.then_some(have))
}

/// Size and mtime (seconds, nanoseconds) a record gives for a file; `None` when the
/// file was missing.
pub type Stamp = Option<(i64, i64, i64)>;

/// Decodes a record that must be of `info_hash` with `pieces` pieces and `files` files:
/// its verified pieces and its file stamps, or why it is not such a record. Pure; the
/// fuzz target `resume` drives it.
pub fn decode(
    bytes: &[u8],
    info_hash: &InfoHash,
    pieces: u32,
    files: usize,
) -> std::result::Result<(Bitfield, Vec<Stamp>), String> {
    let (root, _) = bencode::decode(bytes).map_err(|e| format!("not bencode: {e}"))?;
    let field = |key: &str| {
        root.get(key.as_bytes())
            .ok_or_else(|| format!("no '{key}'"))
    };
    if field("info-hash")?.as_bytes() != Some(&info_hash.0[..]) {
        return Err("it names another info-hash".into());
    }
    let count = field("pieces")?
        .as_int()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("'pieces' is not a count")?;
    if count != pieces {
        return Err(format!("it has {count} pieces, the torrent {pieces}"));
    }
    let have = field("have")?
        .as_bytes()
        .and_then(|b| Bitfield::from_wire(b, pieces).ok())
        .ok_or("'have' is not a bitfield of that many pieces")?;
    let recorded = field("files")?.as_list().ok_or("'files' is not a list")?;
    if recorded.len() != files {
        return Err(format!(
            "it has {} files, the torrent {files}",
            recorded.len()
        ));
    }
    let mut stamps = Vec::with_capacity(files);
    for (i, r) in recorded.iter().enumerate() {
        let int = |key: &str| r.get(key.as_bytes()).and_then(|v| v.as_int());
        stamps.push(
            match (int("size"), int("mtime"), int("mtime_ns"), int("missing")) {
                (Some(size), Some(secs), Some(nanos), None) => Some((size, secs, nanos)),
                (None, None, None, Some(1)) => None,
                _ => return Err(format!("files[{i}] is malformed")),
            },
        );
    }
    Ok((have, stamps))
}

/// Removes a record (the torrent's files are gone or it must be rechecked).
pub fn remove(state_dir: &Path, info_hash: &InfoHash) {
    let _ = fs::remove_file(record_path(state_dir, info_hash));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::paths::sanitize;
    use crate::torrent::storage::Layout;
    use crate::types::PieceIndex;
    use crate::wire::metainfo::Metainfo;

    /// A two-piece torrent whose one file exists under a fresh directory.
    fn setup(tag: &str) -> (PathBuf, InfoHash, Storage) {
        let dir = std::env::temp_dir().join(format!("hivebt-resume-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("data")).unwrap();
        fs::write(dir.join("data/x"), vec![7u8; 65536]).unwrap();
        let bytes = format!(
            "d4:infod6:lengthi65536e4:name1:x12:piece lengthi32768e6:pieces40:{}ee",
            "a".repeat(40)
        );
        let meta = Metainfo::from_bytes(bytes.as_bytes()).unwrap();
        let layout = Layout::new(&meta.info, &sanitize(&meta.info));
        (
            dir.clone(),
            meta.info_hash,
            Storage::new(dir.join("data"), layout),
        )
    }

    fn saved(tag: &str) -> (PathBuf, InfoHash, Storage, Vec<u8>) {
        let (dir, ih, storage) = setup(tag);
        let mut have = Bitfield::new(2);
        have.set(PieceIndex(1), true).unwrap();
        save(&dir, &ih, &storage, &have).unwrap();
        let bytes = fs::read(record_path(&dir, &ih)).unwrap();
        assert_eq!(load(&dir, &ih, &storage), Record::Trusted(have));
        (dir, ih, storage, bytes)
    }

    #[test]
    fn absent_and_stale_records() {
        let (dir, ih, storage) = setup("absent");
        assert_eq!(load(&dir, &ih, &storage), Record::Absent);
        let (dir, ih, storage, _) = saved("stale");
        fs::write(dir.join("data/x"), vec![8u8; 100]).unwrap();
        assert_eq!(load(&dir, &ih, &storage), Record::Stale);
        fs::remove_file(dir.join("data/x")).unwrap();
        assert_eq!(load(&dir, &ih, &storage), Record::Stale);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn damaged_records_are_never_trusted() {
        let (dir, ih, storage, good) = saved("corrupt");
        let path = record_path(&dir, &ih);
        let swap = |from: &[u8], to: &[u8]| -> Vec<u8> {
            let at = good.windows(from.len()).position(|w| w == from).unwrap();
            [&good[..at], to, &good[at + from.len()..]].concat()
        };
        let mut cases: Vec<(String, Vec<u8>)> = (0..good.len())
            .step_by(7)
            .map(|n| (format!("truncated to {n} bytes"), good[..n].to_vec()))
            .collect();
        cases.push(("garbage".into(), b"\x00\xffnot a record".to_vec()));
        cases.push(("piece count".into(), swap(b"6:piecesi2e", b"6:piecesi3e")));
        cases.push(("have too long".into(), swap(b"4:have1:", b"4:have2:\x40")));
        cases.push((
            "info-hash".into(),
            swap(b"9:info-hash20:", b"9:info-hash20:\x00")
                .into_iter()
                .take(good.len())
                .collect(),
        ));
        cases.push(("file entry".into(), swap(b"4:size", b"4:sizf")));
        for (what, bytes) in cases {
            fs::write(&path, &bytes).unwrap();
            let got = load(&dir, &ih, &storage);
            assert!(
                matches!(got, Record::Corrupt(_)),
                "{what}: {got:?} for {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let _ = fs::remove_dir_all(dir);
    }
}
