//! Content on disk for the transfer tests, and torrents of it: deterministic files
//! under `scratch/src/`, the size and SHA-256 of each, made into a torrent with
//! `hivebt create`, and the check that a client's copy is the same.
//!
//! Invariants: a [`Fixture`]'s torrent has the piece length and trackers it was asked
//! for and ends in a short piece (checked when it is made), so every transfer crosses
//! a piece boundary mid-file and fetches a short last piece.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::proc::Deadline;
use super::{KIB, MIB, Scratch, content, create_torrent, inspect_json};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> String {
    let data =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    hex(&Sha256::digest(&data))
}

/// `piece` as `hivebt create --piece-length` takes it: `16K`, `4M`.
pub fn piece_arg(piece: usize) -> String {
    if piece >= MIB && piece % MIB == 0 {
        format!("{}M", piece / MIB)
    } else {
        format!("{}K", piece / KIB)
    }
}

/// A file or directory `src/<name>` of deterministic content, with the SHA-256 of
/// every file.
pub struct Content {
    /// `src/<name>`: the file or directory a torrent is made of.
    pub path: PathBuf,
    /// Relative path under `path` (empty for a single file) -> (size, SHA-256).
    pub files: BTreeMap<String, (usize, String)>,
}

impl Content {
    /// One file `src/<name>` of `len` bytes made from `seed`.
    pub fn single(scratch: &Scratch, name: &str, len: usize, seed: u64) -> Content {
        let path = scratch.write(&format!("src/{name}"), &content(len, seed));
        let files = BTreeMap::from([(String::new(), (len, sha256_file(&path)))]);
        Content { path, files }
    }

    /// A directory `src/<name>/` holding `tree`'s `(relative path, size)` files.
    pub fn tree(scratch: &Scratch, name: &str, tree: &[(&str, usize)]) -> Content {
        let mut files = BTreeMap::new();
        for (i, (rel, len)) in tree.iter().enumerate() {
            let p = scratch.write(
                &format!("src/{name}/{rel}"),
                &content(*len, 1000 + i as u64),
            );
            files.insert(rel.to_string(), (*len, sha256_file(&p)));
        }
        Content {
            path: scratch.path().join("src").join(name),
            files,
        }
    }

    /// The directory holding the content (`--data`, a seeder's save path).
    pub fn data_dir(&self) -> &Path {
        self.path.parent().expect("content has a parent")
    }

    /// The file or directory name, which is also the torrent's name.
    pub fn name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 name")
    }

    /// Bytes in all files.
    pub fn total_size(&self) -> usize {
        self.files.values().map(|(len, _)| len).sum()
    }

    /// Fails unless `out_dir/<name>` holds every file with the same size and SHA-256
    /// (empty files included).
    pub fn check_copy(&self, who: &str, out_dir: &Path) {
        let root = out_dir.join(self.name());
        for (rel, (len, hash)) in &self.files {
            let file = if rel.is_empty() {
                root.clone()
            } else {
                root.join(rel)
            };
            let meta = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{who}: {} is missing: {e}", file.display()));
            assert!(meta.is_file(), "{who}: {} is not a file", file.display());
            assert_eq!(meta.len(), *len as u64, "{who}: size of {}", file.display());
            assert_eq!(
                &sha256_file(&file),
                hash,
                "{who}: SHA-256 of {} differs from the original",
                file.display()
            );
        }
    }
}

/// A scratch directory with [`Content`] and a torrent of it at
/// `torrents/<name>.torrent`.
pub struct Fixture {
    pub scratch: Scratch,
    pub content: Content,
    pub torrent: PathBuf,
    /// 40 lower-case hex digits.
    pub info_hash: String,
}

impl Fixture {
    /// One file `src/<name>` of `len` bytes made from `seed`, in pieces of `piece`,
    /// announcing to `trackers` (one tier per entry; commas make a tier of several).
    pub fn single(
        tag: &str,
        name: &str,
        len: usize,
        seed: u64,
        piece: usize,
        trackers: &[&str],
        deadline: Deadline,
    ) -> Fixture {
        let scratch = Scratch::new(tag);
        let content = Content::single(&scratch, name, len, seed);
        Fixture::new(scratch, content, piece, trackers, deadline)
    }

    /// A directory `src/<name>/` of `tree`'s files, as [`Fixture::single`].
    pub fn tree(
        tag: &str,
        name: &str,
        tree: &[(&str, usize)],
        piece: usize,
        trackers: &[&str],
        deadline: Deadline,
    ) -> Fixture {
        let scratch = Scratch::new(tag);
        let content = Content::tree(&scratch, name, tree);
        Fixture::new(scratch, content, piece, trackers, deadline)
    }

    /// Makes the torrent of `content` and checks what `hivebt inspect` reads in it.
    pub fn new(
        scratch: Scratch,
        content: Content,
        piece: usize,
        trackers: &[&str],
        deadline: Deadline,
    ) -> Fixture {
        let torrent = scratch
            .path()
            .join("torrents")
            .join(format!("{}.torrent", content.name()));
        std::fs::create_dir_all(torrent.parent().expect("parent")).expect("mkdir torrents");
        create_torrent(
            &content.path,
            &torrent,
            &piece_arg(piece),
            trackers,
            deadline,
        );
        let inspected = inspect_json(scratch.path(), torrent.to_str().expect("UTF-8 path"));
        assert_eq!(inspected["piece_length"], piece as u64, "piece length");
        let tiers: Vec<Vec<String>> = trackers
            .iter()
            .map(|t| t.split(',').map(str::to_string).collect())
            .collect();
        assert_eq!(
            inspected["trackers"],
            serde_json::json!(tiers),
            "trackers written into {}",
            torrent.display()
        );
        assert_ne!(
            content.total_size() % piece,
            0,
            "the fixture must end in a short piece"
        );
        let info_hash = inspected["info_hash"]
            .as_str()
            .expect("info_hash")
            .to_string();
        Fixture {
            scratch,
            content,
            torrent,
            info_hash,
        }
    }

    /// The info-hash as 20 bytes.
    pub fn info_hash_bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.info_hash[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }

    /// The directory holding the content (`--data`, a seeder's save path).
    pub fn data_dir(&self) -> &Path {
        self.content.data_dir()
    }

    /// Bytes in all files.
    pub fn total_size(&self) -> usize {
        self.content.total_size()
    }

    /// See [`Content::check_copy`].
    pub fn check_copy(&self, who: &str, out_dir: &Path) {
        self.content.check_copy(who, out_dir)
    }

    /// A fresh directory `scratch/<rel>`.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let d = self.scratch.path().join(rel);
        std::fs::create_dir_all(&d).expect("create dir");
        d
    }
}

/// A single file with a short last piece: at least 2 full pieces and at least 1 MiB,
/// plus a tail shorter than a piece.
pub fn single_file_len(piece: usize) -> usize {
    (2 * piece).max(MIB) + 12_345
}

/// A directory meant to catch boundary mistakes for pieces of `piece` bytes: a 0-byte
/// file first and another in a nested directory, a 1-byte file, a file that spans a
/// piece boundary and ends mid-piece, a file of several pieces, nested directories and
/// a short last piece. Listed here in byte-wise path order (the torrent's order).
pub fn awkward_tree(piece: usize) -> Vec<(&'static str, usize)> {
    vec![
        ("0-empty-first", 0),
        ("a/b/c/mid.bin", piece + piece / 2 + 3),
        ("a/b/empty", 0),
        ("a/c.txt", 100),
        ("a/one", 1),
        ("big.bin", piece.max(MIB) + 7),
        ("deep/er/est/leaf", piece / 3),
        ("z-last", piece / 4 + 1),
    ]
}

/// A shorter directory with the boundary cases of [`awkward_tree`] that matter to a
/// tracker test (empty files, a 1-byte file, a file spanning a piece boundary, nested
/// directories, a short last piece) and 2 MiB of bulk. Listed in byte-wise path order.
pub fn album_tree(piece: usize) -> Vec<(&'static str, usize)> {
    vec![
        ("0-empty", 0),
        ("a/b/mid.bin", piece + piece / 2 + 3),
        ("a/one", 1),
        ("big.bin", 2 * MIB + 7),
        ("z/last", piece / 3 + 1),
    ]
}
