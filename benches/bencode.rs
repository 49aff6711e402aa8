//! Decoding a large .torrent file: the raw bencode decoder (`wire::bencode::decode`)
//! and the full metainfo parse (`wire::metainfo::Metainfo::from_bytes`).
//!
//! The file is built here, from a fixed seed: a multi-file torrent of 10,000 files
//! under nested directories (one to four components, such as
//! `set 07/season 03/disc 2/track 0042 - part 3.flac`), lengths from 1 KiB to 16 MiB,
//! 4 MiB pieces with random hashes, two announce tiers, a web seed, a comment, a
//! creator and a creation date: about 0.7 MB, most of it the file list (about 10 GB
//! of content, 2,600 piece hashes). The `info` dictionary is written by `InfoSpec::encode`, as `hivebt create`
//! writes it.
//!
//! Each sample includes dropping what was decoded, as every caller does. The full parse
//! hashes the `info` bytes for the info-hash; the third line measures that SHA-1 alone,
//! to show its share.
//!
//! Output, one line per measurement (percentiles are of single decodes; MB = 10^6
//! bytes of the input):
//!
//! ```text
//! bencode decode                  unit=us/decode  p50=..  p90=..  p99=..  p99.9=..  max=..  MB/s=..  samples=..
//! ```
//!
//! Run with `cargo bench --bench bencode`; about 1.2 s per measurement.

mod common;

use std::hint::black_box;

use hivebt::wire::bencode::{self, DictBuilder};
use hivebt::wire::metainfo::{InfoSpec, Metainfo, SpecFiles};
use sha1::{Digest, Sha1};

use common::Rng;

const FILES: usize = 10_000;
const PIECE_LENGTH: u64 = 4 * 1024 * 1024;

/// The files: nested path components and lengths.
fn random_files(rng: &mut Rng) -> Vec<(Vec<String>, u64)> {
    (0..FILES)
        .map(|i| {
            let mut path = Vec::new();
            let depth = 1 + rng.below(4);
            if depth > 3 {
                path.push(format!("set {:02}", rng.below(12)));
            }
            if depth > 2 {
                path.push(format!("season {:02}", rng.below(8)));
            }
            if depth > 1 {
                path.push(format!("disc {}", 1 + rng.below(3)));
            }
            path.push(format!(
                "track {i:04} - part {}.{}",
                rng.below(10),
                ["flac", "mkv", "jpg", "nfo", "cue"][rng.below(5) as usize]
            ));
            // 2^10 to 2^24 bytes, spread evenly over the exponents.
            let exponent = 10 + rng.below(15);
            let length = 1024 + rng.below(1 << exponent);
            (path, length)
        })
        .collect()
}

/// The .torrent file's bytes, with the files it lists.
fn build_torrent(rng: &mut Rng) -> (Vec<u8>, Vec<(Vec<String>, u64)>) {
    let files = random_files(rng);
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    let pieces = (0..total.div_ceil(PIECE_LENGTH) * 20)
        .map(|_| rng.next_u64() as u8)
        .collect();
    let info = InfoSpec {
        name: "Archive of 10000 files".to_string(),
        piece_length: PIECE_LENGTH,
        pieces,
        files: SpecFiles::Multi(files.clone()),
        private: false,
        source: None,
    }
    .encode();
    let tier = |urls: &[&str]| bencode::list_of_bytes(urls.iter().map(|u| u.as_bytes()));
    let mut tiers = vec![b'l'];
    tiers.extend(tier(&[
        "udp://tracker.example.org:6969/announce",
        "http://tracker.example.org/announce",
    ]));
    tiers.extend(tier(&["udp://backup.example.net:1337/announce"]));
    tiers.push(b'e');
    let mut top = DictBuilder::new();
    top.bytes(b"announce", b"udp://tracker.example.org:6969/announce")
        .raw(b"announce-list", tiers)
        .bytes(
            b"comment",
            b"A large multi-file torrent for the decoder bench",
        )
        .bytes(b"created by", b"hivebt 0.1.0")
        .int(b"creation date", 1_700_000_000)
        .raw(b"info", info)
        .raw(
            b"url-list",
            bencode::list_of_bytes([b"https://mirror.example.com/archive/".as_slice()]),
        );
    (top.finish(), files)
}

/// Panics unless `m` is the torrent `files` describes.
fn check_metainfo(m: &Metainfo, files: &[(Vec<String>, u64)]) {
    assert_eq!(m.info.files.len(), files.len(), "bencode: file count");
    for (got, (path, length)) in m.info.files.iter().zip(files) {
        let want: Vec<&[u8]> = path.iter().map(|c| c.as_bytes()).collect();
        assert!(
            got.length == *length && got.path == want,
            "bencode: file {path:?} parsed as {got:?}"
        );
    }
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    assert_eq!(m.info.total_length, total, "bencode: total length");
    assert_eq!(m.announce_list.len(), 2, "bencode: announce tiers");
    let hash: [u8; 20] = Sha1::digest(&m.info_raw).into();
    assert_eq!(m.info_hash.0, hash, "bencode: info-hash");
    assert!(m.warnings.is_empty(), "bencode: warnings {:?}", m.warnings);
}

/// The number of files the raw decoder found in `info.files`.
fn decoded_file_count(input: &[u8]) -> usize {
    let (root, warnings) = bencode::decode(input).unwrap_or_else(|e| panic!("bencode: {e}"));
    assert!(warnings.is_empty(), "bencode: warnings {warnings:?}");
    root.get(b"info")
        .and_then(|info| info.get(b"files"))
        .and_then(|files| files.as_list())
        .map_or(0, <[_]>::len)
}

fn main() {
    let mut rng = Rng::new(0x00be_c0de);
    let (input, files) = build_torrent(&mut rng);
    let m = Metainfo::from_bytes(&input).unwrap_or_else(|e| panic!("bencode: {e}"));
    check_metainfo(&m, &files);
    let info_raw = m.info_raw.clone();
    println!(
        "# wire::bencode and wire::metainfo, one thread; torrent of {} bytes: {FILES} files, \
         {} pieces, info {} bytes",
        input.len(),
        m.info.pieces.len(),
        info_raw.len()
    );
    let mb = input.len() as f64;

    let m = common::measure(1, || {
        let decoded = bencode::decode(black_box(&input));
        black_box(&decoded);
    });
    assert_eq!(decoded_file_count(&input), FILES, "bencode: files lost");
    m.print(
        "bencode",
        "decode",
        "us/decode",
        &[("MB/s", m.mb_per_sec(mb))],
    );

    let m = common::measure(1, || {
        let parsed = Metainfo::from_bytes(black_box(&input));
        assert!(parsed.is_ok(), "bencode: metainfo parse failed");
        black_box(&parsed);
    });
    m.print(
        "bencode",
        "Metainfo::from_bytes",
        "us/parse",
        &[("MB/s", m.mb_per_sec(mb))],
    );

    let m = common::measure(1, || {
        black_box(Sha1::digest(black_box(&info_raw)));
    });
    m.print(
        "bencode",
        "sha1 of info (in parse)",
        "us/hash",
        &[("MB/s", m.mb_per_sec(info_raw.len() as f64))],
    );
}
