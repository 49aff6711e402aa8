//! Which torrent a `HASH_OR_NAME` argument means, among those the daemon lists.
//!
//! Depends on nothing but the decoded list. An argument names a torrent by its full
//! info-hash (40 hex digits, any case), by a hash prefix of at least
//! [`MIN_PREFIX`] hex digits, or by its exact name. A full hash is looked up alone;
//! otherwise prefix and name matches are pooled, so an argument that is both a prefix
//! of one torrent's hash and another's name is ambiguous rather than silently one of
//! them. Unknown and ambiguous arguments are bad input (exit 2) whose message lists at
//! most [`MAX_CANDIDATES`] torrents that were meant, perhaps.

use super::TorrentInfo;
use super::render::printable;
use crate::error::{Error, Result};

/// Fewest hex digits taken as a hash prefix.
pub const MIN_PREFIX: usize = 6;
/// Most torrents listed in an error message.
pub const MAX_CANDIDATES: usize = 5;

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The torrent `arg` names.
pub fn resolve<'a>(arg: &str, torrents: &'a [TorrentInfo]) -> Result<&'a TorrentInfo> {
    let lower = arg.to_ascii_lowercase();
    if arg.len() == 40 && is_hex(arg) {
        if let Some(t) = torrents.iter().find(|t| t.info_hash == lower) {
            return Ok(t);
        }
    }
    let by_prefix = arg.len() >= MIN_PREFIX && is_hex(arg);
    let matches: Vec<&TorrentInfo> = torrents
        .iter()
        .filter(|t| t.name == arg || (by_prefix && t.info_hash.starts_with(&lower)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::BadInput(unknown(arg, torrents))),
        many => Err(Error::BadInput(format!(
            "'{}' matches {} torrents; give more of the hash or the exact name:{}",
            printable(arg),
            many.len(),
            candidates(many)
        ))),
    }
}

/// Every argument's torrent, in order, each once (naming one twice acts on it once).
pub fn resolve_all<'a>(
    args: &[String],
    torrents: &'a [TorrentInfo],
) -> Result<Vec<&'a TorrentInfo>> {
    let mut picked: Vec<&TorrentInfo> = Vec::with_capacity(args.len());
    for arg in args {
        let t = resolve(arg, torrents)?;
        if !picked.iter().any(|p| p.info_hash == t.info_hash) {
            picked.push(t);
        }
    }
    Ok(picked)
}

/// The message for an argument nothing matches, with the torrents it may have meant:
/// names containing it (ignoring case) and hashes it starts (for a prefix too short).
fn unknown(arg: &str, torrents: &[TorrentInfo]) -> String {
    let lower = arg.to_lowercase();
    let near: Vec<&TorrentInfo> = torrents
        .iter()
        .filter(|t| {
            !arg.is_empty() && t.name.to_lowercase().contains(&lower)
                || (is_hex(arg) && t.info_hash.starts_with(&arg.to_ascii_lowercase()))
        })
        .collect();
    let short = if is_hex(arg) && arg.len() < MIN_PREFIX {
        format!(" (a hash prefix needs at least {MIN_PREFIX} hex digits)")
    } else {
        String::new()
    };
    match near.is_empty() {
        true => format!("no torrent matches '{}'{short}", printable(arg)),
        false => format!(
            "no torrent matches '{}'{short}; did you mean:{}",
            printable(arg),
            candidates(&near)
        ),
    }
}

/// Up to [`MAX_CANDIDATES`] lines `  HASH  NAME`, and how many more there are.
fn candidates(torrents: &[&TorrentInfo]) -> String {
    let mut out = String::new();
    for t in torrents.iter().take(MAX_CANDIDATES) {
        out.push_str(&format!("\n  {}  {}", t.info_hash, printable(&t.name)));
    }
    if torrents.len() > MAX_CANDIDATES {
        out.push_str(&format!("\n  and {} more", torrents.len() - MAX_CANDIDATES));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torrent(hash: &str, name: &str) -> TorrentInfo {
        TorrentInfo {
            info_hash: hash.to_string(),
            name: name.to_string(),
            state: "seeding".into(),
            progress: 1.0,
            download_rate: 0,
            upload_rate: 0,
            peers: 0,
            seeds: 0,
            ratio: 0.0,
            eta: None,
        }
    }

    const A: &str = "aaaaaa1111111111111111111111111111111111";
    const B: &str = "aaaaaa2222222222222222222222222222222222";
    const C: &str = "cccccc3333333333333333333333333333333333";

    fn list() -> Vec<TorrentInfo> {
        vec![
            torrent(A, "ubuntu-24.04.iso"),
            torrent(B, "ubuntu-22.04.iso"),
            torrent(C, "aaaaaa2"),
        ]
    }

    fn name(arg: &str, list: &[TorrentInfo]) -> Result<String> {
        resolve(arg, list).map(|t| t.name.clone())
    }

    #[test]
    fn by_hash_prefix_or_name() {
        let list = list();
        assert_eq!(name(A, &list).unwrap(), "ubuntu-24.04.iso");
        assert_eq!(
            name(&B.to_ascii_uppercase(), &list).unwrap(),
            "ubuntu-22.04.iso"
        );
        assert_eq!(name("aaaaaa1", &list).unwrap(), "ubuntu-24.04.iso");
        assert_eq!(name("CCCCCC", &list).unwrap(), "aaaaaa2");
        assert_eq!(name("ubuntu-22.04.iso", &list).unwrap(), "ubuntu-22.04.iso");
    }

    #[test]
    fn ambiguous_lists_candidates() {
        let list = list();
        let e = name("aaaaaa", &list).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            format!(
                "'aaaaaa' matches 2 torrents; give more of the hash or the exact name:\n  \
                 {A}  ubuntu-24.04.iso\n  {B}  ubuntu-22.04.iso"
            )
        );
        // A prefix of one hash and the name of another torrent.
        let e = name("aaaaaa2", &list).unwrap_err().to_string();
        assert!(e.contains("matches 2 torrents"), "{e}");
        assert!(e.contains(B) && e.contains(C), "{e}");
    }

    #[test]
    fn at_most_five_candidates() {
        let many: Vec<TorrentInfo> = (0..8)
            .map(|i| torrent(&format!("abcdef{i:034}"), "same"))
            .collect();
        let e = name("same", &many).unwrap_err().to_string();
        assert!(e.starts_with("'same' matches 8 torrents"), "{e}");
        assert_eq!(e.lines().count(), 1 + 5 + 1, "{e}");
        assert!(e.ends_with("\n  and 3 more"), "{e}");
    }

    #[test]
    fn unknown_arguments() {
        let list = list();
        for (arg, want) in [
            ("debian", "no torrent matches 'debian'".to_string()),
            (
                "dddddd4444444444444444444444444444444444",
                "no torrent matches 'dddddd4444444444444444444444444444444444'".into(),
            ),
            (
                "cccc",
                format!(
                    "no torrent matches 'cccc' (a hash prefix needs at least 6 hex digits); \
                     did you mean:\n  {C}  aaaaaa2"
                ),
            ),
            (
                "UBUNTU-24",
                format!("no torrent matches 'UBUNTU-24'; did you mean:\n  {A}  ubuntu-24.04.iso"),
            ),
            ("", "no torrent matches ''".into()),
        ] {
            let e = name(arg, &list).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert_eq!(e.to_string(), want, "{arg}");
        }
        // Names match exactly: a case-different name is only a suggestion.
        assert!(name("Ubuntu-24.04.iso", &list).is_err());
        assert!(name("ubuntu", &[]).is_err());
    }

    #[test]
    fn all_arguments_each_torrent_once() {
        let list = list();
        let args: Vec<String> = ["aaaaaa1", "ubuntu-24.04.iso", "cccccc"]
            .map(String::from)
            .to_vec();
        let picked = resolve_all(&args, &list).unwrap();
        let hashes: Vec<&str> = picked.iter().map(|t| t.info_hash.as_str()).collect();
        assert_eq!(hashes, [A, C]);
        let args = ["cccccc".to_string(), "nope".to_string()];
        assert!(resolve_all(&args, &list).is_err());
    }
}
