//! The .torrent file (BEP 3 v1 metainfo) with BEP 12 tiers, BEP 19 web seeds and the
//! BEP 27 private flag: parsing with precise errors, and encoding new files.
//!
//! Depends on `wire::bencode`, `types` and `config`. Invariants of a parsed
//! [`Metainfo`]:
//! - `info_hash` is the SHA-1 of `info_raw`, the exact bytes of the `info` value as they
//!   stand in the file, never of a re-encoding; so unknown keys inside `info` are kept.
//! - Unknown top-level keys are kept verbatim in `extra` and written back by
//!   [`Metainfo::to_bytes`].
//! - `total_length > 0`, `0 < piece_length <= MAX_PIECE_LENGTH`, and `pieces.len()` is
//!   exactly `ceil(total_length / piece_length)`.
//! - Paths are kept as the raw bytes the torrent holds; turning them into safe file names
//!   is `torrent::paths`' job, the one place that decides what touches the disk.

use std::collections::BTreeMap;
use std::fmt;

use sha1::{Digest, Sha1};

use crate::config::MAX_PIECE_LENGTH;
use crate::types::InfoHash;
use crate::wire::bencode::{self, DictBuilder, Node};

/// A parsed .torrent file.
#[derive(Debug, Clone)]
pub struct Metainfo {
    /// SHA-1 of `info_raw`.
    pub info_hash: InfoHash,
    /// The decoded `info` dictionary.
    pub info: Info,
    /// The exact bytes of the `info` value.
    pub info_raw: Vec<u8>,
    /// `announce`: the single tracker of BEP 3.
    pub announce: Option<String>,
    /// `announce-list` (BEP 12): tiers of trackers, empty tiers dropped.
    pub announce_list: Vec<Vec<String>>,
    /// `url-list` (BEP 19): web seeds.
    pub url_list: Vec<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date`, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    /// `encoding`: the character set the strings claim to be in.
    pub encoding: Option<String>,
    /// Top-level keys we do not interpret, raw encoded values by key.
    pub extra: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Harmless oddities found while parsing, worth showing to the user.
    pub warnings: Vec<String>,
}

/// The `info` dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// `name` (or `name.utf-8` when present): the file name of a single-file torrent,
    /// the top directory of a multi-file one. Raw bytes, not yet sanitised.
    pub name: Vec<u8>,
    /// `piece length` in bytes.
    pub piece_length: u64,
    /// `pieces`: one SHA-1 per piece.
    pub pieces: Vec<[u8; 20]>,
    /// The files in torrent order. A single-file torrent has one entry with an empty
    /// `path` (the file is `name` itself).
    pub files: Vec<FileEntry>,
    /// True when the torrent has `length` rather than `files`.
    pub single_file: bool,
    /// `private` (BEP 27): peers only from the torrent's trackers.
    pub private: bool,
    /// `source`: a tag some private trackers use to make their info-hashes unique.
    pub source: Option<String>,
    /// Sum of the file lengths.
    pub total_length: u64,
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components below the torrent's top directory, raw bytes (`path.utf-8` when
    /// present). Empty for a single-file torrent.
    pub path: Vec<Vec<u8>>,
    /// Length in bytes.
    pub length: u64,
    /// BEP 47 padding file (`attr` contains `p`).
    pub padding: bool,
}

/// Why a .torrent file was rejected: where in the file, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetainfoError {
    /// The bytes are not bencode.
    Bencode(bencode::Error),
    /// A field is missing, has the wrong type or an impossible value.
    Field {
        /// Dotted path of the field, e.g. `info.files[2].length`.
        field: String,
        /// What was wrong.
        problem: String,
    },
}

impl fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetainfoError::Bencode(e) => e.fmt(f),
            MetainfoError::Field { field, problem } => write!(f, "{field}: {problem}"),
        }
    }
}

impl std::error::Error for MetainfoError {}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> MetainfoError {
    MetainfoError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

fn wrong_type(field: &str, expected: &str, got: &Node<'_>) -> MetainfoError {
    bad(
        field,
        format!(
            "expected {expected}, got {} at byte {}",
            got.type_name(),
            got.start
        ),
    )
}

fn req<'n, 'a>(dict: &'n Node<'a>, key: &str, field: &str) -> Result<&'n Node<'a>, MetainfoError> {
    dict.get(key.as_bytes())
        .ok_or_else(|| bad(field, "missing"))
}

fn bytes_of<'a>(node: &Node<'a>, field: &str) -> Result<&'a [u8], MetainfoError> {
    node.as_bytes()
        .ok_or_else(|| wrong_type(field, "a string", node))
}

fn int_of(node: &Node<'_>, field: &str) -> Result<i64, MetainfoError> {
    node.as_int()
        .ok_or_else(|| wrong_type(field, "an integer", node))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An optional text field: absent is `None`, present must be a string.
fn opt_text(dict: &Node<'_>, key: &str, field: &str) -> Result<Option<String>, MetainfoError> {
    dict.get(key.as_bytes())
        .map(|n| bytes_of(n, field).map(text))
        .transpose()
}

/// Prefers the `.utf-8` variant of a string key when it is present and a string (old
/// tools wrote the local code page under the plain key).
fn utf8_variant<'a>(dict: &Node<'a>, key: &str) -> Option<&'a [u8]> {
    dict.get(format!("{key}.utf-8").as_bytes())
        .and_then(|n| n.as_bytes())
}

impl Metainfo {
    /// Parses a .torrent file.
    pub fn from_bytes(input: &[u8]) -> Result<Metainfo, MetainfoError> {
        let (root, bencode_warnings) = bencode::decode(input).map_err(MetainfoError::Bencode)?;
        if root.as_dict().is_none() {
            return Err(wrong_type("torrent", "a dictionary", &root));
        }
        let info_node = req(&root, "info", "info")?;
        let info = parse_info(info_node)?;
        let info_raw = info_node.raw(input).to_vec();
        let info_hash = InfoHash(Sha1::digest(&info_raw).into());

        let announce = opt_text(&root, "announce", "announce")?.filter(|s| !s.is_empty());
        let announce_list = match root.get(b"announce-list") {
            None => Vec::new(),
            Some(n) => parse_tiers(n)?,
        };
        let url_list = match root.get(b"url-list") {
            None => Vec::new(),
            Some(n) => match (n.as_bytes(), n.as_list()) {
                (Some(b), _) => vec![text(b)],
                (_, Some(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, u)| bytes_of(u, &format!("url-list[{i}]")).map(text))
                    .collect::<Result<_, _>>()?,
                _ => return Err(wrong_type("url-list", "a string or a list", n)),
            }
            .into_iter()
            .filter(|s: &String| !s.is_empty())
            .collect(),
        };
        let creation_date = root
            .get(b"creation date")
            .map(|n| int_of(n, "creation date"))
            .transpose()?;
        let comment = match utf8_variant(&root, "comment") {
            Some(b) => Some(text(b)),
            None => opt_text(&root, "comment", "comment")?,
        };
        let created_by = opt_text(&root, "created by", "created by")?;
        let encoding = opt_text(&root, "encoding", "encoding")?;

        const KNOWN: [&[u8]; 9] = [
            b"info",
            b"announce",
            b"announce-list",
            b"url-list",
            b"creation date",
            b"comment",
            b"comment.utf-8",
            b"created by",
            b"encoding",
        ];
        let extra = root
            .as_dict()
            .unwrap_or_default()
            .iter()
            .filter(|(k, _)| !KNOWN.contains(k))
            .map(|(k, v)| (k.to_vec(), v.raw(input).to_vec()))
            .collect();

        Ok(Metainfo {
            info_hash,
            info,
            info_raw,
            announce,
            announce_list,
            url_list,
            comment,
            created_by,
            creation_date,
            encoding,
            extra,
            warnings: bencode_warnings.iter().map(|w| w.to_string()).collect(),
        })
    }

    /// Trackers by tier as a client uses them (BEP 12): `announce-list` when it has
    /// any tracker, otherwise `announce` alone.
    pub fn tracker_tiers(&self) -> Vec<Vec<String>> {
        if !self.announce_list.is_empty() {
            self.announce_list.clone()
        } else {
            self.announce.iter().map(|a| vec![a.clone()]).collect()
        }
    }

    /// Encodes the metainfo: known fields, the unknown ones kept verbatim, and the
    /// `info` bytes exactly as they were (so the info-hash cannot change).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut d = DictBuilder::new();
        for (k, v) in &self.extra {
            d.raw(k, v.clone());
        }
        if let Some(a) = &self.announce {
            d.bytes(b"announce", a.as_bytes());
        }
        if !self.announce_list.is_empty() {
            let mut tiers = vec![b'l'];
            for tier in &self.announce_list {
                tiers.extend(bencode::list_of_bytes(tier.iter().map(|t| t.as_bytes())));
            }
            tiers.push(b'e');
            d.raw(b"announce-list", tiers);
        }
        if !self.url_list.is_empty() {
            d.raw(
                b"url-list",
                bencode::list_of_bytes(self.url_list.iter().map(|u| u.as_bytes())),
            );
        }
        if let Some(c) = &self.comment {
            d.bytes(b"comment", c.as_bytes());
        }
        if let Some(c) = &self.created_by {
            d.bytes(b"created by", c.as_bytes());
        }
        if let Some(t) = self.creation_date {
            d.int(b"creation date", t);
        }
        if let Some(e) = &self.encoding {
            d.bytes(b"encoding", e.as_bytes());
        }
        d.raw(b"info", self.info_raw.clone());
        d.finish()
    }

    /// The BEP 9 magnet link: info-hash, display name and every tracker.
    pub fn magnet(&self) -> String {
        crate::wire::magnet::Magnet {
            info_hash: self.info_hash,
            name: Some(text(&self.info.name)),
            trackers: self.tracker_tiers().into_iter().flatten().collect(),
            web_seeds: self.url_list.clone(),
            peers: Vec::new(),
        }
        .to_uri()
    }
}

fn parse_tiers(n: &Node<'_>) -> Result<Vec<Vec<String>>, MetainfoError> {
    let tiers = n
        .as_list()
        .ok_or_else(|| wrong_type("announce-list", "a list of lists", n))?;
    let mut out = Vec::new();
    for (t, tier) in tiers.iter().enumerate() {
        let field = format!("announce-list[{t}]");
        let urls = tier
            .as_list()
            .ok_or_else(|| wrong_type(&field, "a list", tier))?;
        let mut urls_out = Vec::new();
        for (u, url) in urls.iter().enumerate() {
            let url = text(bytes_of(url, &format!("{field}[{u}]"))?);
            if !url.is_empty() && !urls_out.contains(&url) {
                urls_out.push(url);
            }
        }
        if !urls_out.is_empty() {
            out.push(urls_out);
        }
    }
    Ok(out)
}

fn parse_info(info: &Node<'_>) -> Result<Info, MetainfoError> {
    if info.as_dict().is_none() {
        return Err(wrong_type("info", "a dictionary", info));
    }
    let name = match utf8_variant(info, "name") {
        Some(b) => b.to_vec(),
        None => bytes_of(req(info, "name", "info.name")?, "info.name")?.to_vec(),
    };

    let pl_node = req(info, "piece length", "info.piece length")?;
    let piece_length = int_of(pl_node, "info.piece length")?;
    if piece_length <= 0 {
        return Err(bad(
            "info.piece length",
            format!("must be positive, got {piece_length}"),
        ));
    }
    let piece_length = piece_length as u64;
    if piece_length > MAX_PIECE_LENGTH {
        return Err(bad(
            "info.piece length",
            format!("{piece_length} is larger than the {MAX_PIECE_LENGTH} bytes supported"),
        ));
    }

    let pieces_raw = bytes_of(req(info, "pieces", "info.pieces")?, "info.pieces")?;
    if pieces_raw.len() % 20 != 0 {
        return Err(bad(
            "info.pieces",
            format!("length {} is not a multiple of 20", pieces_raw.len()),
        ));
    }

    let (files, single_file) = match (info.get(b"length"), info.get(b"files")) {
        (Some(_), Some(_)) => {
            return Err(bad("info", "has both 'length' and 'files'"));
        }
        (None, None) => {
            return Err(bad("info", "has neither 'length' nor 'files'"));
        }
        (Some(len), None) => {
            let length = non_negative(int_of(len, "info.length")?, "info.length")?;
            let file = FileEntry {
                path: Vec::new(),
                length,
                padding: false,
            };
            (vec![file], true)
        }
        (None, Some(list)) => (parse_files(list)?, false),
    };

    let total_length = files
        .iter()
        .try_fold(0u64, |acc, f| acc.checked_add(f.length))
        .ok_or_else(|| bad("info.files", "total length overflows 64 bits"))?;
    if total_length == 0 {
        return Err(bad("info", "total length is 0: a torrent must hold data"));
    }
    let expected_pieces = total_length.div_ceil(piece_length);
    let got_pieces = (pieces_raw.len() / 20) as u64;
    if got_pieces != expected_pieces {
        return Err(bad(
            "info.pieces",
            format!(
                "has {got_pieces} hashes but {total_length} bytes in pieces of \
                 {piece_length} need {expected_pieces}"
            ),
        ));
    }
    let pieces = pieces_raw
        .chunks_exact(20)
        .map(|c| {
            let mut h = [0u8; 20];
            h.copy_from_slice(c);
            h
        })
        .collect();

    let private = match info.get(b"private") {
        None => false,
        Some(n) => int_of(n, "info.private")? != 0,
    };
    let source = opt_text(info, "source", "info.source")?;

    Ok(Info {
        name,
        piece_length,
        pieces,
        files,
        single_file,
        private,
        source,
        total_length,
    })
}

fn non_negative(n: i64, field: &str) -> Result<u64, MetainfoError> {
    u64::try_from(n).map_err(|_| bad(field, format!("must not be negative, got {n}")))
}

fn parse_files(list: &Node<'_>) -> Result<Vec<FileEntry>, MetainfoError> {
    let items = list
        .as_list()
        .ok_or_else(|| wrong_type("info.files", "a list", list))?;
    if items.is_empty() {
        return Err(bad("info.files", "is empty"));
    }
    let mut files = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        // Field names for messages are built only when something is wrong: formatting
        // them for every file was most of the time spent on a 10,000-file torrent.
        let field = || format!("info.files[{i}]");
        if item.as_dict().is_none() {
            return Err(wrong_type(&field(), "a dictionary", item));
        }
        let length = match item
            .get(b"length")
            .and_then(Node::as_int)
            .and_then(|n| u64::try_from(n).ok())
        {
            Some(length) => length,
            None => {
                let len_field = format!("{}.length", field());
                non_negative(
                    int_of(req(item, "length", &len_field)?, &len_field)?,
                    &len_field,
                )?
            }
        };
        let path_field = || format!("{}.path", field());
        let path_node = match item.get(b"path.utf-8") {
            Some(n) if n.as_list().is_some() => n,
            _ => match item.get(b"path") {
                Some(n) => n,
                None => req(item, "path", &path_field())?,
            },
        };
        let components = path_node
            .as_list()
            .ok_or_else(|| wrong_type(&path_field(), "a list of strings", path_node))?;
        let path = components
            .iter()
            .enumerate()
            .map(|(c, n)| match n.as_bytes() {
                Some(b) => Ok(b.to_vec()),
                None => Err(wrong_type(&format!("{}[{c}]", path_field()), "a string", n)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let padding = item
            .get(b"attr")
            .and_then(|a| a.as_bytes())
            .is_some_and(|a| a.contains(&b'p'));
        files.push(FileEntry {
            path,
            length,
            padding,
        });
    }
    Ok(files)
}

/// The content of a new torrent.
#[derive(Debug, Clone)]
pub enum SpecFiles {
    /// One file of this length, named by `name`.
    Single(u64),
    /// Files under the `name` directory in torrent order: (path components, length).
    Multi(Vec<(Vec<String>, u64)>),
}

/// The parts of a new torrent's `info` dictionary; [`InfoSpec::encode`] writes it in
/// canonical form, the same bytes mktorrent writes for the same content.
#[derive(Debug, Clone)]
pub struct InfoSpec {
    /// Top-level name.
    pub name: String,
    /// Piece length in bytes.
    pub piece_length: u64,
    /// Concatenated piece hashes.
    pub pieces: Vec<u8>,
    /// What the torrent holds.
    pub files: SpecFiles,
    /// Sets `private = 1`.
    pub private: bool,
    /// Sets `source`.
    pub source: Option<String>,
}

impl InfoSpec {
    /// The bencoded `info` dictionary.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = DictBuilder::new();
        d.bytes(b"name", self.name.as_bytes())
            .int(b"piece length", self.piece_length as i64)
            .bytes(b"pieces", &self.pieces);
        match &self.files {
            SpecFiles::Single(length) => {
                d.int(b"length", *length as i64);
            }
            SpecFiles::Multi(files) => {
                let mut list = vec![b'l'];
                for (path, length) in files {
                    let mut f = DictBuilder::new();
                    f.int(b"length", *length as i64).raw(
                        b"path",
                        bencode::list_of_bytes(path.iter().map(|c| c.as_bytes())),
                    );
                    list.extend(f.finish());
                }
                list.push(b'e');
                d.raw(b"files", list);
            }
        }
        if self.private {
            d.int(b"private", 1);
        }
        if let Some(s) = &self.source {
            d.bytes(b"source", s.as_bytes());
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(extra_info: &str, extra_top: &str) -> Vec<u8> {
        format!(
            "d8:announce17:http://t/announce{extra_top}4:infod6:lengthi40000e4:name5:hello\
             12:piece lengthi32768e6:pieces40:{}{extra_info}ee",
            "a".repeat(40)
        )
        .into_bytes()
    }

    fn err(input: &[u8]) -> String {
        Metainfo::from_bytes(input).unwrap_err().to_string()
    }

    #[test]
    fn parses_single_file() {
        let input = single("", "");
        let m = Metainfo::from_bytes(&input).unwrap();
        assert_eq!(m.info.name, b"hello");
        assert_eq!(m.info.total_length, 40000);
        assert_eq!(m.info.pieces.len(), 2);
        assert!(m.info.single_file);
        assert_eq!(m.announce.as_deref(), Some("http://t/announce"));
        assert_eq!(
            m.tracker_tiers(),
            vec![vec!["http://t/announce".to_string()]]
        );
        let start = input.windows(5).position(|w| w == b"4:inf").unwrap() + 6;
        let raw = &input[start..input.len() - 1];
        assert_eq!(m.info_raw, raw);
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(raw)));
    }

    #[test]
    fn info_hash_is_over_raw_bytes_and_unknown_keys_survive() {
        // Unsorted keys inside info, and unknown keys at both levels.
        let input = format!(
            "d3:zzzi7e4:infod4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces20:{}5:otheri1eee",
            "b".repeat(20)
        )
        .into_bytes();
        let m = Metainfo::from_bytes(&input).unwrap();
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        let again = Metainfo::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(again.info_hash, m.info_hash);
        assert_eq!(again.extra.get(&b"zzz"[..]), Some(&b"i7e".to_vec()));
        assert_eq!(again.info_raw, m.info_raw);
    }

    #[test]
    fn known_info_hash_vector() {
        // Info-hash computed independently: python3 -c "import hashlib;
        // print(hashlib.sha1(b'd6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:'
        // + b'b'*20 + b'e').hexdigest())"
        let input = format!(
            "d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:{}ee",
            "b".repeat(20)
        );
        let m = Metainfo::from_bytes(input.as_bytes()).unwrap();
        assert_eq!(
            m.info_hash.to_hex(),
            "97f1c7971592d1689abf6fb2ba4579a02a29e70c"
        );
    }

    #[test]
    fn parses_multi_file_with_tiers_and_web_seeds() {
        let input = format!(
            "d13:announce-listll3:t1a3:t1bel0:el3:t2aee7:comment2:hi10:created by2:me\
             13:creation datei1700000000e4:infod5:filesld6:lengthi5e4:pathl1:a1:beed4:attr\
             1:p6:lengthi3e4:pathl4:_padeed6:lengthi0e4:pathl1:ceee4:name3:top\
             12:piece lengthi16384e6:pieces20:{}7:privatei1e6:source3:srce8:url-list3:ws1e",
            "c".repeat(20)
        );
        let m = Metainfo::from_bytes(input.as_bytes()).unwrap();
        assert_eq!(m.announce_list, vec![vec!["t1a", "t1b"], vec!["t2a"]]);
        assert_eq!(m.url_list, vec!["ws1"]);
        assert_eq!(m.comment.as_deref(), Some("hi"));
        assert_eq!(m.created_by.as_deref(), Some("me"));
        assert_eq!(m.creation_date, Some(1_700_000_000));
        assert!(m.info.private);
        assert_eq!(m.info.source.as_deref(), Some("src"));
        assert!(!m.info.single_file);
        assert_eq!(m.info.files.len(), 3);
        assert_eq!(m.info.files[0].path, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(m.info.files[1].padding);
        assert_eq!(m.info.files[2].length, 0);
        assert_eq!(m.info.total_length, 8);
        let again = Metainfo::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(again.announce_list, m.announce_list);
        assert_eq!(again.url_list, m.url_list);
        assert_eq!(again.info, m.info);
    }

    #[test]
    fn precise_errors() {
        assert_eq!(
            err(b"le"),
            "torrent: expected a dictionary, got list at byte 0"
        );
        assert_eq!(err(b"de"), "info: missing");
        assert_eq!(
            err(b"d4:infoi1ee"),
            "info: expected a dictionary, got integer at byte 7"
        );
        let no_pieces = b"d4:infod6:lengthi1e4:name1:x12:piece lengthi16384eee";
        assert_eq!(err(no_pieces), "info.pieces: missing");
        let bad_pl = format!(
            "d4:infod6:lengthi1e4:name1:x12:piece lengthi-5e6:pieces20:{}ee",
            "a".repeat(20)
        );
        assert_eq!(
            err(bad_pl.as_bytes()),
            "info.piece length: must be positive, got -5"
        );
        let odd = format!(
            "d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces19:{}ee",
            "a".repeat(19)
        );
        assert_eq!(
            err(odd.as_bytes()),
            "info.pieces: length 19 is not a multiple of 20"
        );
        let count = format!(
            "d4:infod6:lengthi16385e4:name1:x12:piece lengthi16384e6:pieces20:{}ee",
            "a".repeat(20)
        );
        assert_eq!(
            err(count.as_bytes()),
            "info.pieces: has 1 hashes but 16385 bytes in pieces of 16384 need 2"
        );
        let both = format!(
            "d4:infod5:filesle6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:{}ee",
            "a".repeat(20)
        );
        assert_eq!(err(both.as_bytes()), "info: has both 'length' and 'files'");
        let neg = format!(
            "d4:infod5:filesld6:lengthi-1e4:pathl1:aeee4:name1:x12:piece lengthi16384e6:pieces20:{}ee",
            "a".repeat(20)
        );
        assert_eq!(
            err(neg.as_bytes()),
            "info.files[0].length: must not be negative, got -1"
        );
        let overflow = format!(
            "d4:infod5:filesld6:lengthi9223372036854775807e4:pathl1:aeed6:lengthi9223372036854775807e4:pathl1:beed6:lengthi9223372036854775807e4:pathl1:ceee4:name1:x12:piece lengthi16384e6:pieces20:{}ee",
            "a".repeat(20)
        );
        assert_eq!(
            err(overflow.as_bytes()),
            "info.files: total length overflows 64 bits"
        );
        let badpath = format!(
            "d4:infod5:filesld6:lengthi1e4:pathli5eeee4:name1:x12:piece lengthi16384e6:pieces20:{}ee",
            "a".repeat(20)
        );
        assert!(
            err(badpath.as_bytes())
                .starts_with("info.files[0].path[0]: expected a string, got integer")
        );
        let zero = "d4:infod6:lengthi0e4:name1:x12:piece lengthi16384e6:pieces0:ee";
        assert_eq!(
            err(zero.as_bytes()),
            "info: total length is 0: a torrent must hold data"
        );
        assert_eq!(
            err(&single("", "8:url-listi3e")),
            "url-list: expected a string or a list, got integer at byte 41"
        );
    }

    #[test]
    fn encodes_info_canonically() {
        let spec = InfoSpec {
            name: "x".into(),
            piece_length: 16384,
            pieces: vec![b'b'; 20],
            files: SpecFiles::Single(1),
            private: false,
            source: None,
        };
        let expected = format!(
            "d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:{}e",
            "b".repeat(20)
        );
        assert_eq!(spec.encode(), expected.as_bytes());
        let multi = InfoSpec {
            files: SpecFiles::Multi(vec![(vec!["a".into(), "b".into()], 1)]),
            private: true,
            source: Some("s".into()),
            ..spec
        };
        let expected = format!(
            "d5:filesld6:lengthi1e4:pathl1:a1:beee4:name1:x12:piece lengthi16384e\
             6:pieces20:{}7:privatei1e6:source1:se",
            "b".repeat(20)
        );
        assert_eq!(String::from_utf8(multi.encode()).unwrap(), expected);
    }
}
