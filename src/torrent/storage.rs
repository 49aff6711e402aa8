//! Where each piece lives on disk: the pure mapping between torrent byte ranges
//! (pieces) and spans of files.
//!
//! Depends on `wire::metainfo`, `torrent::paths` and `types`; does no I/O itself (the
//! workers do, see `disk`). Invariants of a [`Layout`]:
//! - files are in torrent order, `files[i].offset` is the sum of the lengths before it;
//! - `total_length` is the sum of all lengths and is > 0;
//! - every piece but the last is `piece_length` long; the last holds the remainder.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::torrent::paths::SafePaths;
use crate::types::PieceIndex;
use crate::wire::metainfo::Info;

/// One file of a torrent as it sits on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSlot {
    /// Sanitised path relative to the storage root.
    pub path: PathBuf,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the file's first byte within the torrent.
    pub offset: u64,
    /// BEP 47 padding file: its bytes are zeros and it is never read or written.
    pub padding: bool,
}

/// A contiguous run of one piece inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Index into [`Layout::files`].
    pub file: usize,
    /// Offset within that file.
    pub file_offset: u64,
    /// Offset within the piece.
    pub piece_offset: u64,
    /// Length in bytes (never 0).
    pub len: u64,
}

/// The piece-to-file mapping of one torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Files in torrent order.
    pub files: Vec<FileSlot>,
    /// Bytes per piece (the last may be shorter).
    pub piece_length: u64,
    /// Sum of the file lengths.
    pub total_length: u64,
}

impl Layout {
    /// The layout of `info`, with file paths from its sanitised `paths`.
    pub fn new(info: &Info, paths: &SafePaths) -> Layout {
        let mut offset = 0;
        let files = info
            .files
            .iter()
            .zip(&paths.files)
            .map(|(f, path)| {
                let slot = FileSlot {
                    path: path.clone(),
                    length: f.length,
                    offset,
                    padding: f.padding,
                };
                offset += f.length;
                slot
            })
            .collect();
        Layout {
            files,
            piece_length: info.piece_length,
            total_length: info.total_length,
        }
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.total_length.div_ceil(self.piece_length) as u32
    }

    /// Byte range of a piece within the torrent.
    pub fn piece_range(&self, piece: PieceIndex) -> Range<u64> {
        let start = u64::from(piece.0) * self.piece_length;
        start..(start + self.piece_length).min(self.total_length)
    }

    /// Length of a piece in bytes.
    pub fn piece_len(&self, piece: PieceIndex) -> u64 {
        let r = self.piece_range(piece);
        r.end - r.start
    }

    /// The file spans a piece covers, in order. Zero-length files never appear.
    pub fn spans(&self, piece: PieceIndex) -> Vec<Span> {
        let range = self.piece_range(piece);
        let mut spans = Vec::new();
        self.for_each_span(range.clone(), range.start, |span| spans.push(span));
        spans
    }

    /// Calls `f` with each file span of the torrent bytes `range`, in order, with
    /// `piece_offset` counted from `base` (the start of the piece `range` lies in).
    /// Allocates nothing: the upload path calls it for every block it sends.
    pub fn for_each_span(&self, range: Range<u64>, base: u64, mut f: impl FnMut(Span)) {
        let first = self
            .files
            .partition_point(|f| f.offset + f.length <= range.start);
        for (i, file) in self.files.iter().enumerate().skip(first) {
            if file.offset >= range.end {
                break;
            }
            let start = range.start.max(file.offset);
            let end = range.end.min(file.offset + file.length);
            if end > start {
                f(Span {
                    file: i,
                    file_offset: start - file.offset,
                    piece_offset: start - base,
                    len: end - start,
                });
            }
        }
    }

    /// The pieces that hold any byte of file `file` (empty for a zero-length file).
    pub fn pieces_of_file(&self, file: usize) -> Range<u32> {
        let f = &self.files[file];
        if f.length == 0 {
            return 0..0;
        }
        let first = f.offset / self.piece_length;
        let last = (f.offset + f.length - 1) / self.piece_length;
        first as u32..last as u32 + 1
    }
}

static NEXT_STORAGE_ID: AtomicU64 = AtomicU64::new(1);

/// A torrent's layout placed under a root directory: what a worker needs to read and
/// write its pieces.
#[derive(Debug)]
pub struct Storage {
    /// Unique per instance, so worker fd caches never confuse two storages.
    pub id: u64,
    /// The directory that holds the content (`root/<name>`).
    pub root: PathBuf,
    /// The piece-to-file mapping.
    pub layout: Layout,
}

impl Storage {
    /// The storage of `info` under `root`, its paths sanitised (see
    /// [`crate::torrent::paths::sanitize`]); each path it had to change is logged as a
    /// warning naming the torrent.
    pub fn sanitized(root: PathBuf, info: &Info) -> Storage {
        let paths = crate::torrent::paths::sanitize(info);
        for change in &paths.changes {
            log::warn!("{}: {change}", paths.name);
        }
        Storage::new(root, Layout::new(info, &paths))
    }

    /// Places `layout` under `root`.
    pub fn new(root: PathBuf, layout: Layout) -> Storage {
        Storage {
            id: NEXT_STORAGE_ID.fetch_add(1, Ordering::Relaxed),
            root,
            layout,
        }
    }

    /// Absolute path of file `file`.
    pub fn file_path(&self, file: usize) -> PathBuf {
        self.root.join(&self.layout.files[file].path)
    }

    /// The root as a path.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(lengths: &[u64], piece_length: u64) -> Layout {
        let mut offset = 0;
        let files = lengths
            .iter()
            .enumerate()
            .map(|(i, &length)| {
                let f = FileSlot {
                    path: PathBuf::from(format!("f{i}")),
                    length,
                    offset,
                    padding: false,
                };
                offset += length;
                f
            })
            .collect();
        Layout {
            files,
            piece_length,
            total_length: offset,
        }
    }

    #[test]
    fn spans_cross_files_and_skip_empty_ones() {
        // Files: 0 bytes, 1 byte, 10 bytes, 0 bytes, 5 bytes; pieces of 4 bytes.
        let l = layout(&[0, 1, 10, 0, 5], 4);
        assert_eq!(l.total_length, 16);
        assert_eq!(l.piece_count(), 4);
        let s = l.spans(PieceIndex(0));
        assert_eq!(
            s,
            [
                Span {
                    file: 1,
                    file_offset: 0,
                    piece_offset: 0,
                    len: 1
                },
                Span {
                    file: 2,
                    file_offset: 0,
                    piece_offset: 1,
                    len: 3
                },
            ]
        );
        let s = l.spans(PieceIndex(2));
        assert_eq!(
            s,
            [
                Span {
                    file: 2,
                    file_offset: 7,
                    piece_offset: 0,
                    len: 3
                },
                Span {
                    file: 4,
                    file_offset: 0,
                    piece_offset: 3,
                    len: 1
                },
            ]
        );
        assert_eq!(
            l.spans(PieceIndex(3)),
            [Span {
                file: 4,
                file_offset: 1,
                piece_offset: 0,
                len: 4
            }]
        );
        assert_eq!(l.pieces_of_file(0), 0..0);
        assert_eq!(l.pieces_of_file(2), 0..3);
        assert_eq!(l.pieces_of_file(4), 2..4);
    }

    #[test]
    fn short_last_piece() {
        let l = layout(&[10], 4);
        assert_eq!(l.piece_count(), 3);
        assert_eq!(l.piece_len(PieceIndex(2)), 2);
        assert_eq!(l.piece_range(PieceIndex(2)), 8..10);
    }

    #[test]
    fn spans_cover_every_byte_once() {
        let l = layout(&[3, 0, 7, 1, 0, 16, 2], 5);
        let mut covered = vec![0u8; l.total_length as usize];
        for p in 0..l.piece_count() {
            let mut expect_offset = 0;
            for s in l.spans(PieceIndex(p)) {
                assert_eq!(s.piece_offset, expect_offset);
                expect_offset += s.len;
                let f = &l.files[s.file];
                assert!(s.file_offset + s.len <= f.length);
                for b in 0..s.len {
                    covered[(f.offset + s.file_offset + b) as usize] += 1;
                }
            }
            assert_eq!(expect_offset, l.piece_len(PieceIndex(p)));
        }
        assert!(covered.iter().all(|&c| c == 1));
    }
}
