//! `hivebt create`: walks a file or directory, hashes its pieces on the worker pool and
//! writes a .torrent file.
//!
//! The walk is deterministic: paths are sorted byte-wise by their full relative path
//! (`a/b` with `/` as separator, the order mktorrent uses), hidden files are included,
//! empty files are kept. Symbolic links are followed, to files and to directories, the
//! way `cp -L` and mktorrent treat them; a link that points back into a directory being
//! walked is an error (it would loop), as is a broken link. Other special files
//! (sockets, FIFOs, devices) are errors: their "content" is not data.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{
    AUTO_PIECE_LENGTH_MAX, AUTO_PIECE_LENGTH_MIN, AUTO_TARGET_MAX_PIECES, CREATED_BY,
    MAX_PIECE_LENGTH,
};
use crate::disk::ReadError;
use crate::error::{Error, Result};
use crate::ops::hash_all_pieces;
use crate::torrent::paths::sanitize_component;
use crate::torrent::storage::{FileSlot, Layout, Storage};
use crate::wire::bencode::{self, DictBuilder};
use crate::wire::metainfo::{InfoSpec, Metainfo, SpecFiles};

/// What to put in a new torrent.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The file or directory to share.
    pub path: PathBuf,
    /// Tracker tiers; each entry is one `-t` value, whose comma-separated URLs form a
    /// tier (BEP 12).
    pub trackers: Vec<String>,
    /// Piece length in bytes, or `None` for the automatic choice.
    pub piece_length: Option<u64>,
    /// Sets the BEP 27 private flag.
    pub private: bool,
    /// `comment`.
    pub comment: Option<String>,
    /// `info.source`.
    pub source: Option<String>,
    /// BEP 19 web seeds.
    pub web_seeds: Vec<String>,
    /// Leaves out `creation date` (for reproducible files).
    pub no_date: bool,
    /// Worker threads for hashing.
    pub threads: usize,
}

/// One file found by the walk.
#[derive(Debug)]
struct Found {
    /// Path components below the top directory (empty for a single file).
    rel: Vec<String>,
    /// Where to read it.
    abs: PathBuf,
    length: u64,
}

/// The automatic piece length: the smallest power of two that gives at most
/// `AUTO_TARGET_MAX_PIECES` (2,000) pieces, kept between 16 KiB and 16 MiB. Above
/// 16 KiB × 2,000 bytes that lands between 1,000 and 2,000 pieces.
pub fn auto_piece_length(total: u64) -> u64 {
    let wanted = total.div_ceil(AUTO_TARGET_MAX_PIECES).max(1);
    wanted
        .checked_next_power_of_two()
        .unwrap_or(AUTO_PIECE_LENGTH_MAX)
        .clamp(AUTO_PIECE_LENGTH_MIN, AUTO_PIECE_LENGTH_MAX)
}

/// The `--piece-length` option: bytes, or `None` for the automatic choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceLength(pub Option<u64>);

/// Parses `--piece-length`: `auto`, or bytes with an optional K/M suffix (`262144`,
/// `256K`, `256KiB`, `4M`). It must be a power of two from 16 KiB up.
pub fn parse_piece_length(s: &str) -> std::result::Result<PieceLength, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(PieceLength(None));
    }
    let bytes = crate::settings::parse_size(s).map_err(|e| format!("{e} (or auto)"))?;
    if !bytes.is_power_of_two() || !(AUTO_PIECE_LENGTH_MIN..=MAX_PIECE_LENGTH).contains(&bytes) {
        return Err(format!(
            "piece length {bytes} must be a power of two from {AUTO_PIECE_LENGTH_MIN} to {MAX_PIECE_LENGTH}"
        ));
    }
    Ok(PieceLength(Some(bytes)))
}

fn check_url(url: &str, what: &str, schemes: &[&str]) -> Result<()> {
    let ok = schemes.iter().any(|s| {
        url.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
            && url.len() > s.len()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "{what} '{url}' must start with {}",
            schemes.join(", ")
        )))
    }
}

/// Splits `-t` values into BEP 12 tiers, checking every URL.
fn tracker_tiers(values: &[String]) -> Result<Vec<Vec<String>>> {
    let mut tiers = Vec::new();
    for value in values {
        let tier: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        for url in &tier {
            check_url(url, "tracker", &["http://", "https://", "udp://"])?;
        }
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    Ok(tiers)
}

/// The name of `path` as torrent text. Names the path sanitiser would change (a `\\`,
/// a control character) are refused: every client, hivebt included, would store them
/// under another name, so the torrent could not be seeded from these files.
fn utf8_name(path: &Path, name: &std::ffi::OsStr) -> Result<String> {
    let name = name.to_str().ok_or_else(|| {
        Error::BadInput(format!("{}: file name is not valid UTF-8", path.display()))
    })?;
    let (_, reasons) = sanitize_component(name.as_bytes());
    if !reasons.is_empty() {
        return Err(Error::BadInput(format!(
            "{}: file name cannot be shared as it is ({}); rename it",
            path.display(),
            reasons.join(", ")
        )));
    }
    Ok(name.to_string())
}

/// The torrent name for `path`: its last component, or the real name of `.`/`..`.
fn torrent_name(path: &Path) -> Result<String> {
    match path.file_name() {
        Some(n) => utf8_name(path, n),
        None => {
            let real = fs::canonicalize(path).map_err(|e| Error::io("cannot resolve", path, e))?;
            let name = real.file_name().ok_or_else(|| {
                Error::BadInput(format!(
                    "{}: cannot share the root directory",
                    path.display()
                ))
            })?;
            utf8_name(path, name)
        }
    }
}

/// Walks `dir` depth-first, following links, collecting regular files.
fn walk_dir(
    dir: &Path,
    rel: &mut Vec<String>,
    ancestors: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Found>,
) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot read directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read directory", dir, e))?;
        let path = entry.path();
        let name = utf8_name(&path, &entry.file_name())?;
        let meta = fs::metadata(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                Error::BadInput(format!("{}: broken symbolic link", path.display()))
            }
            _ => Error::io("cannot read", &path, e),
        })?;
        rel.push(name);
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if !ancestors.insert(id) {
                return Err(Error::BadInput(format!(
                    "{}: symbolic link loops back into a directory being shared",
                    path.display()
                )));
            }
            walk_dir(&path, rel, ancestors, out)?;
            ancestors.remove(&id);
        } else if meta.is_file() {
            // Fail now, not halfway through hashing, on a file we may not read.
            fs::File::open(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            out.push(Found {
                rel: rel.clone(),
                abs: path,
                length: meta.len(),
            });
        } else {
            return Err(Error::BadInput(format!(
                "{}: not a regular file or directory",
                path.display()
            )));
        }
        rel.pop();
    }
    Ok(())
}

/// Finds the files to share under `path`: `(true, [the file])` for a single file, else
/// `(false, files)` sorted byte-wise by relative path.
fn collect(path: &Path) -> Result<(bool, Vec<Found>)> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            Error::BadInput(format!("{}: no such file or directory", path.display()))
        }
        _ => Error::io("cannot read", path, e),
    })?;
    if meta.is_file() {
        fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
        let found = Found {
            rel: Vec::new(),
            abs: path.to_path_buf(),
            length: meta.len(),
        };
        return Ok((true, vec![found]));
    }
    if !meta.is_dir() {
        return Err(Error::BadInput(format!(
            "{}: not a regular file or directory",
            path.display()
        )));
    }
    let mut files = Vec::new();
    let mut ancestors = HashSet::from([(meta.dev(), meta.ino())]);
    walk_dir(path, &mut Vec::new(), &mut ancestors, &mut files)?;
    if files.is_empty() {
        return Err(Error::BadInput(format!(
            "{}: directory holds no files",
            path.display()
        )));
    }
    files.sort_by_cached_key(|f| f.rel.join("/"));
    Ok((false, files))
}

/// Builds the torrent for `opts` (hashing every piece) and returns its bytes, parsed.
pub fn build(opts: &CreateOptions) -> Result<(Vec<u8>, Metainfo)> {
    let tiers = tracker_tiers(&opts.trackers)?;
    for ws in &opts.web_seeds {
        check_url(ws, "web seed", &["http://", "https://"])?;
    }
    let name = torrent_name(&opts.path)?;
    let (single, files) = collect(&opts.path)?;
    let total: u64 = files.iter().map(|f| f.length).sum();
    if total == 0 {
        return Err(Error::BadInput(format!(
            "{}: holds 0 bytes of data; a torrent must hold data",
            opts.path.display()
        )));
    }
    let piece_length = opts
        .piece_length
        .unwrap_or_else(|| auto_piece_length(total));

    let mut offset = 0;
    let slots = files
        .iter()
        .map(|f| {
            let slot = FileSlot {
                path: f.abs.clone(),
                length: f.length,
                offset,
                padding: false,
            };
            offset += f.length;
            slot
        })
        .collect();
    // The slots hold absolute paths, so the storage root is empty.
    let storage = Arc::new(Storage::new(
        PathBuf::new(),
        Layout {
            files: slots,
            piece_length,
            total_length: total,
        },
    ));
    let count = storage.layout.piece_count() as usize;
    let mut pieces = vec![0u8; count * 20];
    let mut failure: Option<ReadError> = None;
    hash_all_pieces(
        Arc::clone(&storage),
        opts.threads,
        "hashing",
        |piece, result| match result {
            Ok(h) => pieces[piece.0 as usize * 20..][..20].copy_from_slice(&h),
            Err(e) => {
                failure.get_or_insert(e);
            }
        },
    )?;
    if let Some(e) = failure {
        let path = storage.file_path(e.file());
        return Err(match e {
            ReadError::Io { error, .. } => Error::io("cannot read", &path, error),
            ReadError::Missing { .. } | ReadError::Short { .. } => Error::Failed(format!(
                "{}: changed while it was being hashed (shorter or gone)",
                path.display()
            )),
        });
    }

    let info = InfoSpec {
        name,
        piece_length,
        pieces,
        files: if single {
            SpecFiles::Single(total)
        } else {
            SpecFiles::Multi(files.into_iter().map(|f| (f.rel, f.length)).collect())
        },
        private: opts.private,
        source: opts.source.clone(),
    }
    .encode();

    let mut top = DictBuilder::new();
    top.raw(b"info", info)
        .bytes(b"created by", CREATED_BY.as_bytes());
    if let Some(first) = tiers.first().and_then(|t| t.first()) {
        top.bytes(b"announce", first.as_bytes());
    }
    if tiers.iter().map(Vec::len).sum::<usize>() > 1 {
        let mut list = vec![b'l'];
        for tier in &tiers {
            list.extend(bencode::list_of_bytes(tier.iter().map(|u| u.as_bytes())));
        }
        list.push(b'e');
        top.raw(b"announce-list", list);
    }
    if let Some(c) = &opts.comment {
        top.bytes(b"comment", c.as_bytes());
    }
    if !opts.no_date {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        top.int(b"creation date", now);
    }
    if !opts.web_seeds.is_empty() {
        top.raw(
            b"url-list",
            bencode::list_of_bytes(opts.web_seeds.iter().map(|u| u.as_bytes())),
        );
    }
    let bytes = top.finish();
    let metainfo = Metainfo::from_bytes(&bytes)
        .map_err(|e| Error::Failed(format!("internal error: created an invalid torrent: {e}")))?;
    Ok((bytes, metainfo))
}

/// Hashes `opts.path` into a torrent and writes it to `output` (default
/// `./<name>.torrent`, named after the content, the real name for `.`); returns where,
/// with the metainfo. Fails before hashing when the output exists and `force` is not
/// set.
pub fn create_file(
    opts: CreateOptions,
    output: Option<PathBuf>,
    force: bool,
) -> Result<(PathBuf, Metainfo)> {
    let out = match output {
        Some(o) => o,
        None => {
            // Named after the content (the real name of `.`); `build` checks it.
            let path = &opts.path;
            let name = path.file_name().map(|n| n.to_owned()).or_else(|| {
                fs::canonicalize(path)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_owned()))
            });
            let name = name.ok_or_else(|| {
                Error::BadInput(format!(
                    "{}: cannot name the torrent; use -o",
                    path.display()
                ))
            })?;
            PathBuf::from(format!("{}.torrent", name.to_string_lossy()))
        }
    };
    check_output(&out, force)?;
    let (bytes, meta) = build(&opts)?;
    write_torrent_file(&out, &bytes, force)?;
    Ok((out, meta))
}

/// What `hivebt create` prints about the torrent it wrote to `out`.
pub fn created_text(out: &Path, meta: &Metainfo) -> String {
    format!(
        "created {}\n  name       {}\n  info-hash  {}\n  pieces     {} x {}\n  magnet     {}\n",
        out.display(),
        String::from_utf8_lossy(&meta.info.name),
        meta.info_hash,
        meta.info.pieces.len(),
        crate::progress::human_bytes(meta.info.piece_length),
        meta.magnet()
    )
}

/// Fails early when `out` exists and may not be replaced.
pub fn check_output(out: &Path, force: bool) -> Result<()> {
    if !force && fs::symlink_metadata(out).is_ok() {
        return Err(Error::BadInput(format!(
            "{} already exists (use --force to overwrite)",
            out.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `out` atomically: a temporary file beside it, then a rename (with
/// `force`) or a hard link that fails if `out` appeared meanwhile (without).
pub fn write_torrent_file(out: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = out
        .file_name()
        .ok_or_else(|| Error::BadInput(format!("{}: not a file name", out.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    fs::write(&tmp, bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
    let placed = if force {
        fs::rename(&tmp, out)
    } else {
        fs::hard_link(&tmp, out).and_then(|()| fs::remove_file(&tmp))
    };
    placed.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        match e.kind() {
            io::ErrorKind::AlreadyExists => Error::BadInput(format!(
                "{} already exists (use --force to overwrite)",
                out.display()
            )),
            _ => Error::io("cannot write", out, e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_piece_length_rule() {
        assert_eq!(auto_piece_length(1), 16 << 10);
        assert_eq!(auto_piece_length(32_768_000), 16 << 10);
        assert_eq!(auto_piece_length(32_768_001), 32 << 10);
        assert_eq!(auto_piece_length(2 << 30), 2 << 20);
        assert_eq!(auto_piece_length(4000 << 20), 2 << 20);
        assert_eq!(auto_piece_length(1 << 50), 16 << 20);
        for total in [100u64 << 20, 700 << 20, 3 << 30, 10 << 30] {
            let n = total.div_ceil(auto_piece_length(total));
            assert!((1000..=2000).contains(&n), "{total}: {n} pieces");
        }
    }

    #[test]
    fn piece_length_option() {
        assert_eq!(parse_piece_length("auto"), Ok(PieceLength(None)));
        assert_eq!(parse_piece_length("262144"), Ok(PieceLength(Some(262144))));
        assert_eq!(parse_piece_length("256K"), Ok(PieceLength(Some(262144))));
        assert_eq!(parse_piece_length("4MiB"), Ok(PieceLength(Some(4 << 20))));
        assert!(
            parse_piece_length("1000")
                .unwrap_err()
                .contains("power of two")
        );
        assert!(
            parse_piece_length("8K")
                .unwrap_err()
                .contains("power of two from 16384")
        );
        assert!(
            parse_piece_length("big")
                .unwrap_err()
                .contains("bad size \"big\"")
        );
        assert!(
            parse_piece_length("99999999999999M")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn tiers_from_values() {
        let t = tracker_tiers(&["http://a/x,udp://b:1".into(), "https://c/".into()]).unwrap();
        assert_eq!(t, vec![vec!["http://a/x", "udp://b:1"], vec!["https://c/"]]);
        assert!(tracker_tiers(&["ftp://x".into()]).is_err());
        assert!(tracker_tiers(&["http://".into()]).is_err());
    }
}
