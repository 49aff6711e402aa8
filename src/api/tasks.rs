//! The work the daemon's service sends to the worker pool: reading and setting up a
//! torrent to add, deleting a torrent's data, reading the watch folder. Plain file I/O,
//! never on the reactor thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ApiError;
use super::service::{AddSource, Prepared};
use crate::bitfield::Bitfield;
use crate::torrent::storage::Storage;
use crate::wire::metainfo::Metainfo;

/// Reads the source of an add and sets its files up under `save_path` (on a worker).
pub(crate) fn prepare(
    source: AddSource,
    save_path: &Path,
    state: &Path,
) -> Result<Prepared, ApiError> {
    let (bytes, created) = match source {
        AddSource::Bytes(b) => (b, false),
        AddSource::Path(p) => (read_torrent_file(&p).map_err(ApiError::bad)?, false),
        AddSource::Create(opts) => {
            let (bytes, _) =
                crate::ops::create::build(&opts).map_err(|e| ApiError::bad(e.to_string()))?;
            (bytes, true)
        }
        // Added by the engine, never read on a worker.
        AddSource::Magnet(_) => {
            return Err(ApiError::new(500, "internal", "a magnet is not read"));
        }
    };
    if bytes.len() as u64 > crate::config::MAX_TORRENT_FILE_BYTES {
        return Err(ApiError::new(413, "too_large", "the torrent is too large"));
    }
    let meta = Metainfo::from_bytes(&bytes)
        .map_err(|e| ApiError::bad(format!("not a valid torrent: {e}")))?;
    let storage = Arc::new(Storage::sanitized(save_path.to_path_buf(), &meta.info));
    std::fs::create_dir_all(save_path)
        .map_err(|e| ApiError::bad(format!("cannot create {}: {e}", save_path.display())))?;
    crate::disk::create_files(&storage).map_err(|e| {
        ApiError::bad(format!(
            "cannot create the files under {}: {e}",
            save_path.display()
        ))
    })?;
    let have = match crate::resume::load(state, &meta.info_hash, &storage) {
        crate::resume::Record::Trusted(have) => Some(have),
        // Just hashed to make the torrent: every piece is there.
        _ if created => Some(Bitfield::full(storage.layout.piece_count())),
        _ => None,
    };
    Ok(Prepared {
        bytes,
        meta,
        storage,
        have,
        created,
    })
}

/// Deletes a torrent's own files, then the directories under its save path that
/// are left empty; nothing else (on a worker).
pub(crate) fn delete_data(storage: &Storage) -> Result<(), String> {
    let mut dirs = Vec::new();
    for (i, f) in storage.layout.files.iter().enumerate() {
        if f.padding {
            continue;
        }
        let path = storage.file_path(i);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot delete {}: {e}", path.display())),
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == storage.root() || !d.starts_with(storage.root()) {
                break;
            }
            dirs.push(d.to_path_buf());
            dir = d.parent();
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        // Only empty ones go; a directory with the operator's own files stays.
        let _ = std::fs::remove_dir(&d);
    }
    Ok(())
}

/// A .torrent file's bytes, refusing one larger than a torrent can be.
fn read_torrent_file(path: &Path) -> Result<Vec<u8>, String> {
    crate::ops::read_torrent_bytes(path).map_err(|e| e.to_string())
}

/// How long a file in the watch folder must be left unchanged before it is read.
const WATCH_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// The .torrent files in the watch folder, each read (on a worker).
pub(crate) fn scan_watch_dir(dir: &Path) -> Vec<(PathBuf, Result<Vec<u8>, String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "torrent") && p.is_file())
        // A file changed in the last seconds may still be being copied in: it is
        // picked up once it has been left alone that long.
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= WATCH_SETTLE)
        })
        .collect();
    found.sort();
    found.truncate(256);
    found
        .into_iter()
        .map(|p| {
            let bytes = read_torrent_file(&p);
            (p, bytes)
        })
        .collect()
}

/// Renames a watched file to `NAME.torrent.<suffix>`.
pub(crate) fn rename_with(path: &Path, suffix: &str) {
    let mut to = path.as_os_str().to_owned();
    to.push(".");
    to.push(suffix);
    if let Err(e) = std::fs::rename(path, &to) {
        log::warn!("cannot rename {}: {e}", path.display());
    }
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn data_deletion_takes_only_the_torrents_files() {
        let root = std::env::temp_dir().join(format!("hivebt-delete-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let text = b"d4:infod5:filesld6:lengthi3e4:pathl3:sub1:aeed6:lengthi3e4:pathl1:beee4:name3:dir12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
        let meta = Metainfo::from_bytes(text).unwrap();
        let storage = Storage::sanitized(root.clone(), &meta.info);
        crate::disk::create_files(&storage).unwrap();
        let mine = root.join("dir/sub/notes.txt");
        std::fs::write(&mine, b"keep").unwrap();
        std::fs::write(root.join("other"), b"keep").unwrap();
        delete_data(&storage).unwrap();
        assert!(!root.join("dir/b").exists() && !root.join("dir/sub/a").exists());
        assert!(
            mine.exists(),
            "a file not of the torrent stays, and its directory"
        );
        assert!(root.join("other").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
