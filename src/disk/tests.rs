//! Hashing through maps against hashing through `pread` and against the bytes.

use super::*;
use crate::torrent::storage::{FileSlot, Layout};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("hivebt-disk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes that differ at every offset a test cares about.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A layout of `(length, padding)` files named f0, f1, ...; non-padding files are
/// written under `dir` with distinct content, unless `on_disk` says otherwise. Returns
/// the storage and the torrent's bytes (padding as zeros).
fn storage(
    dir: &Path,
    files: &[(u64, bool)],
    piece_length: u64,
    on_disk: impl Fn(usize, Vec<u8>) -> Option<Vec<u8>>,
) -> (Storage, Vec<u8>) {
    let mut offset = 0;
    let mut slots = Vec::new();
    let mut torrent = Vec::new();
    for (i, &(length, padding)) in files.iter().enumerate() {
        let bytes = if padding {
            vec![0; length as usize]
        } else {
            content(length as usize, i as u64 + 1)
        };
        torrent.extend_from_slice(&bytes);
        if !padding {
            if let Some(written) = on_disk(i, bytes) {
                std::fs::write(dir.join(format!("f{i}")), written).unwrap();
            }
        }
        slots.push(FileSlot {
            path: format!("f{i}").into(),
            length,
            offset,
            padding,
        });
        offset += length;
    }
    let layout = Layout {
        files: slots,
        piece_length,
        total_length: offset,
    };
    (Storage::new(dir.to_path_buf(), layout), torrent)
}

fn hash_both(storage: &Storage, piece: u32) -> [Result<[u8; 20], ReadError>; 2] {
    let mut cache = FdCache::new();
    let mut buf = Vec::new();
    let piece = PieceIndex(piece);
    [
        hash_piece(storage, piece, &mut cache, &mut buf),
        hash_piece_via(storage, piece, &mut cache, &mut buf, ReadPath::Pread),
    ]
}

fn expected(storage: &Storage, torrent: &[u8], piece: u32) -> [u8; 20] {
    let r = storage.layout.piece_range(PieceIndex(piece));
    Sha1::digest(&torrent[r.start as usize..r.end as usize]).into()
}

#[test]
fn maps_hash_like_pread_across_files_empty_files_and_padding() {
    let dir = Scratch::new("spans");
    // Odd lengths put file boundaries at every alignment; a piece crosses up to five
    // files, two of them empty and one padding (which must never be opened).
    let files = [
        (5_000, false),
        (0, false),
        (3_000, true),
        (70_001, false),
        (1, false),
        (0, false),
        (300_000, false),
        (4_095, true),
        (9_999_999, false),
        (4_097, false),
    ];
    for piece_length in [16_384, 40_000, 1 << 20, 8 << 20] {
        let (storage, torrent) = storage(&dir.0, &files, piece_length, |_, b| Some(b));
        for piece in 0..storage.layout.piece_count() {
            let [mapped, pread] = hash_both(&storage, piece);
            let want = expected(&storage, &torrent, piece);
            assert_eq!(mapped.unwrap(), want, "piece {piece} of {piece_length}");
            assert_eq!(pread.unwrap(), want, "piece {piece} of {piece_length}");
        }
    }
}

#[test]
fn a_torrent_of_padding_only_reads_nothing() {
    let dir = Scratch::new("padding");
    let (storage, torrent) = storage(&dir.0, &[(100_000, true)], 32_768, |_, _| None);
    for piece in 0..storage.layout.piece_count() {
        let [mapped, _] = hash_both(&storage, piece);
        assert_eq!(mapped.unwrap(), expected(&storage, &torrent, piece));
    }
}

#[test]
fn a_short_file_is_short_and_the_pieces_before_its_end_still_hash() {
    let dir = Scratch::new("short");
    // File 1 should hold 100,000 bytes but holds 50,000.
    let files = [(10_000, false), (100_000, false), (20_000, false)];
    let (storage, torrent) = storage(&dir.0, &files, 16_384, |i, mut b| {
        if i == 1 {
            b.truncate(50_000);
        }
        Some(b)
    });
    let end_on_disk = 10_000 + 50_000;
    for piece in 0..storage.layout.piece_count() {
        let range = storage.layout.piece_range(PieceIndex(piece));
        let touches_file_1 = range.start < 110_000 && range.end > 10_000;
        for result in hash_both(&storage, piece) {
            if range.end <= end_on_disk || !touches_file_1 {
                assert_eq!(result.unwrap(), expected(&storage, &torrent, piece));
            } else {
                assert!(
                    matches!(result, Err(ReadError::Short { file: 1 })),
                    "piece {piece}: {result:?}"
                );
            }
        }
    }
}

#[test]
fn a_missing_file_is_missing() {
    let dir = Scratch::new("missing");
    let files = [(10_000, false), (10_000, false)];
    let (storage, torrent) = storage(&dir.0, &files, 4_096, |i, b| (i == 0).then_some(b));
    assert_eq!(
        hash_both(&storage, 0)[0].as_ref().unwrap(),
        &expected(&storage, &torrent, 0)
    );
    for piece in [2, 3, 4] {
        for result in hash_both(&storage, piece) {
            assert!(
                matches!(result, Err(ReadError::Missing { file: 1 })),
                "piece {piece}: {result:?}"
            );
        }
    }
}

/// Another thread keeps cutting the file at a page boundary and writing the cut part
/// back while this one hashes it through maps. Every result must be the right hash or
/// `Short`, and the process must survive the SIGBUS faults this provokes (the test
/// runs until the handler has absorbed a few hundred, so it cannot pass without
/// exercising it).
#[test]
fn truncating_a_file_while_it_is_hashed_gives_the_hash_or_short() {
    const LEN: usize = 8 << 20;
    const PIECE: u64 = 1 << 20;
    const WANT_FAULTS: u64 = 100;
    const MIN_ROUNDS: u64 = 200;
    let dir = Scratch::new("truncate");
    let (storage, torrent) = storage(&dir.0, &[(LEN as u64, false)], PIECE, |_, b| Some(b));
    let hashes: Vec<[u8; 20]> = (0..storage.layout.piece_count())
        .map(|p| expected(&storage, &torrent, p))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let cutter = {
        let stop = Arc::clone(&stop);
        let path = storage.file_path(0);
        let torrent = torrent.clone();
        std::thread::spawn(move || {
            let file = OpenOptions::new().write(true).open(path).unwrap();
            let mut cut = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // Page-aligned cuts: bytes past the end inside a partly filled page
                // would read as zeros through a map, which only the length checks
                // around the read can catch (see the mmap module doc).
                cut = ((cut + 37 * 4096 + 1_234_567) % LEN) & !4095;
                file.set_len(cut as u64).unwrap();
                file.write_all_at(&torrent[cut..], cut as u64).unwrap();
            }
        })
    };
    let faults_at_start = mmap::faults_handled();
    let started = Instant::now();
    let (mut rounds, mut clean, mut short) = (0u64, 0u64, 0u64);
    let mut cache = FdCache::new();
    let mut buf = Vec::new();
    while (mmap::faults_handled() - faults_at_start < WANT_FAULTS || rounds < MIN_ROUNDS)
        && started.elapsed() < Duration::from_secs(60)
    {
        for (piece, want) in hashes.iter().enumerate() {
            match hash_piece(&storage, PieceIndex(piece as u32), &mut cache, &mut buf) {
                Ok(h) => {
                    assert_eq!(&h, want, "round {rounds} piece {piece}: wrong hash");
                    clean += 1;
                }
                Err(ReadError::Short { file: 0 }) => short += 1,
                Err(e) => panic!("round {rounds} piece {piece}: {e:?}"),
            }
        }
        rounds += 1;
    }
    stop.store(true, Ordering::Relaxed);
    cutter.join().unwrap();
    let faults = mmap::faults_handled() - faults_at_start;
    eprintln!(
        "{rounds} rounds in {:?}: {clean} hashes right, {short} short, {faults} SIGBUS absorbed",
        started.elapsed()
    );
    assert!(faults >= WANT_FAULTS, "only {faults} SIGBUS faults in 60 s");
    assert!(clean > 0 && short > 0);
}

#[test]
fn read_piece_gives_the_bytes_across_files_and_padding() {
    let dir = Scratch::new("read");
    let files = [
        (5_000, false),
        (0, false),
        (3_000, true),
        (70_001, false),
        (1, false),
    ];
    let (storage, torrent) = storage(&dir.0, &files, 16_384, |_, b| Some(b));
    let mut cache = FdCache::new();
    let mut out = vec![9; 3];
    for piece in 0..storage.layout.piece_count() {
        read_piece(&storage, PieceIndex(piece), &mut cache, &mut out).unwrap();
        let r = storage.layout.piece_range(PieceIndex(piece));
        assert_eq!(
            out,
            &torrent[r.start as usize..r.end as usize],
            "piece {piece}"
        );
    }
}

#[test]
fn prefetch_reads_what_is_not_cached_and_reports_short_and_missing_files() {
    let dir = Scratch::new("prefetch");
    let files = [(200_000, false), (4_096, true), (300_000, false)];
    let (storage, _) = storage(&dir.0, &files, 65_536, |_, b| Some(b));
    let mut cache = FdCache::new();
    let mut scratch = Vec::new();
    for i in [0, 2] {
        let f = File::open(dir.0.join(format!("f{i}"))).unwrap();
        f.sync_all().unwrap();
        pagecache::evict(&f, 0, 1 << 20);
    }
    let mut read = 0;
    for piece in 0..storage.layout.piece_count() {
        read += prefetch_piece(&storage, PieceIndex(piece), &mut cache, &mut scratch).unwrap();
    }
    if pagecache::cached_pages(&File::open(dir.0.join("f0")).unwrap(), 0, 1).is_some() {
        assert_eq!(read, 500_000, "every evicted byte read once");
        let again: u64 = (0..storage.layout.piece_count())
            .map(|p| prefetch_piece(&storage, PieceIndex(p), &mut cache, &mut scratch).unwrap())
            .sum();
        assert_eq!(again, 0, "everything is cached now");
    }
    // A file cut short: pieces past its end are Short; one that is gone is Missing.
    let f2 = dir.0.join("f2");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f2)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let last = PieceIndex(storage.layout.piece_count() - 1);
    let mut cache = FdCache::new();
    assert!(matches!(
        prefetch_piece(&storage, last, &mut cache, &mut scratch),
        Err(ReadError::Short { file: 2 })
    ));
    std::fs::remove_file(dir.0.join("f0")).unwrap();
    assert!(matches!(
        prefetch_piece(&storage, PieceIndex(0), &mut cache, &mut scratch),
        Err(ReadError::Missing { file: 0 })
    ));
}

#[test]
fn pieces_in_holes_hash_as_zeros_like_a_read() {
    use std::os::unix::fs::FileExt;
    let dir = Scratch::new("holes");
    let (storage, _) = storage(
        &dir.0,
        &[(5 << 20, false), (3_000, true), (2 << 20, false)],
        1 << 20,
        |_, _| None,
    );
    let mut torrent = vec![0u8; (7 << 20) + 3_000];
    for (i, len) in [(0, 5u64 << 20), (2, 2 << 20)] {
        let f = std::fs::File::create(dir.0.join(format!("f{i}"))).unwrap();
        f.set_len(len).unwrap();
        if i == 0 {
            // Data in the middle of piece 2 and at the very end of the file.
            f.write_all_at(&[7; 100], (2 << 20) + 500).unwrap();
            f.write_all_at(&[9; 10], len - 10).unwrap();
            torrent[(2 << 20) + 500..(2 << 20) + 600].fill(7);
            torrent[(len - 10) as usize..len as usize].fill(9);
        }
    }
    for piece in 0..storage.layout.piece_count() {
        let [mapped, pread] = hash_both(&storage, piece);
        let want = expected(&storage, &torrent, piece);
        assert_eq!(mapped.unwrap(), want, "piece {piece}");
        assert_eq!(pread.unwrap(), want, "piece {piece}");
    }
}
