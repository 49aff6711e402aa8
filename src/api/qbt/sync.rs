//! `sync/maindata`: the whole state at `rid=0` (`full_update: true`), then only what
//! changed since the `rid` a client last got: per torrent the fields whose values
//! changed, torrents, categories and tags added or removed, and the changed fields
//! of `server_state`.
//!
//! Each torrent object is serialized as `torrents/info` does, split into its
//! top-level fields, and each field's bytes hashed; a snapshot keeps only those
//! hashes (about 460 bytes a torrent). The last [`HISTORY`] snapshots are kept, for
//! clients polling side by side; an unknown or forgotten `rid` gets a full update.
//! A poll that finds nothing changed since the newest snapshot gets that snapshot's
//! `rid` again instead of a new one, so idle pollers do not push each other's
//! snapshots out.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use serde::Serialize;

use super::app::{TransferInfo, transfer_info};
use super::categories::{all_categories, all_tags};
use super::torrents::torrent_info;
use super::{Call, Handled};
use crate::api::ApiError;
use crate::api::service::{ApiAnswer, ApiService, unix_now};
use crate::engine::Engine;
use crate::types::InfoHash;

/// Snapshots kept.
const HISTORY: usize = 4;

/// What `sync/maindata` remembers between polls.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// The last rid handed out.
    last_rid: u64,
    /// The newest snapshots, oldest first.
    history: VecDeque<Snapshot>,
}

/// The state as of one rid, as hashes of each field's serialized value.
#[derive(Debug, Default, PartialEq)]
struct Snapshot {
    rid: u64,
    torrents: HashMap<InfoHash, Box<[u64]>>,
    categories: BTreeMap<String, String>,
    tags: BTreeSet<String>,
    server: Box<[u64]>,
}

impl Snapshot {
    /// The same state as `other`, whatever the rids.
    fn same(&self, other: &Snapshot) -> bool {
        self.torrents == other.torrents
            && self.categories == other.categories
            && self.tags == other.tags
            && self.server == other.server
    }
}

/// `server_state`.
#[derive(Serialize)]
struct ServerState {
    #[serde(flatten)]
    transfer: TransferInfo,
    alltime_dl: u64,
    alltime_ul: u64,
    total_peer_connections: usize,
    queueing: bool,
    use_alt_speed_limits: bool,
    refresh_interval: u32,
    free_space_on_disk: u64,
    global_ratio: String,
    queued_io_jobs: usize,
}

/// The top-level `"key":value` pairs of a compact JSON object as serde_json writes
/// it (each key with its quotes), or `None` if `obj` is not one.
fn fields(obj: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let inner = obj.strip_prefix(b"{")?.strip_suffix(b"}")?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        let key_start = i;
        i = string_end(inner, i)?;
        let key = &inner[key_start..i];
        if inner.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        let value_start = i;
        let mut depth = 0usize;
        while i < inner.len() {
            match inner[i] {
                b'"' => {
                    i = string_end(inner, i)?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.checked_sub(1)?,
                b',' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        out.push((key, &inner[value_start..i]));
        i += 1;
    }
    Some(out)
}

/// The index after the JSON string starting at `at` (a `"`).
fn string_end(s: &[u8], at: usize) -> Option<usize> {
    if s.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Writes `obj`'s fields that differ from `old` (all when `old` is `None`) as a JSON
/// object into `out`; returns the hashes of all its fields and whether it wrote any.
fn write_changed(obj: &[u8], old: Option<&[u64]>, out: &mut Vec<u8>) -> Option<(Box<[u64]>, bool)> {
    let pairs = fields(obj)?;
    let hashes: Box<[u64]> = pairs.iter().map(|(_, v)| hash_of(v)).collect();
    let mut wrote = false;
    out.push(b'{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if old.is_some_and(|o| o.get(i) == Some(&hashes[i]) && o.len() == hashes.len()) {
            continue;
        }
        if wrote {
            out.push(b',');
        }
        out.extend_from_slice(k);
        out.push(b':');
        out.extend_from_slice(v);
        wrote = true;
    }
    out.push(b'}');
    Some((hashes, wrote))
}

fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing plain structs and strings to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `sync/maindata?rid=N`.
pub(super) fn maindata(api: &mut ApiService, engine: &mut Engine, call: &Call<'_>) -> Handled {
    // qBittorrent reads a bad rid as 0: a full update.
    let rid: u64 = call
        .params
        .get("rid")
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(0);
    let transfer = transfer_info(api, engine);
    let now = unix_now();
    let view: &ApiService = api.fresh(engine);
    let base = view
        .qbt
        .sync
        .history
        .iter()
        .find(|s| rid != 0 && s.rid == rid);
    let full = base.is_none();
    let mut next = Snapshot::default();
    let mut out = Vec::with_capacity(
        if full {
            view.entries.len() * 1400
        } else {
            4096
        } + 256,
    );

    // Torrents.
    let mut torrents = Vec::with_capacity(4096);
    let mut first = true;
    let mut obj = Vec::with_capacity(2048);
    let (mut alltime_dl, mut alltime_ul) = (0u64, 0u64);
    for v in &view.snapshot().torrents {
        let Some(entry) = view.entries.get(&v.info_hash) else {
            continue;
        };
        let t = torrent_info(view, engine, v, entry, now);
        alltime_dl += t.downloaded;
        alltime_ul += t.uploaded;
        obj.clear();
        push_json(&mut obj, &t);
        let old = base
            .and_then(|b| b.torrents.get(&v.info_hash))
            .map(|h| &h[..]);
        let mark = torrents.len();
        if !first {
            torrents.push(b',');
        }
        push_json(&mut torrents, &t.hash);
        torrents.push(b':');
        let (hashes, wrote) = write_changed(&obj, old, &mut torrents)
            .ok_or_else(|| ApiError::new(500, "internal", "torrent object is not an object"))?;
        if wrote {
            first = false;
        } else {
            torrents.truncate(mark);
        }
        next.torrents.insert(v.info_hash, hashes);
    }
    let removed: Vec<String> = base
        .map(|b| {
            b.torrents
                .keys()
                .filter(|h| !next.torrents.contains_key(h))
                .map(InfoHash::to_hex)
                .collect()
        })
        .unwrap_or_default();

    // Categories and tags.
    let categories = all_categories(view);
    next.categories = categories
        .values()
        .map(|c| (c.name.to_string(), c.save_path.to_string()))
        .collect();
    let changed_categories: BTreeMap<&str, _> = categories
        .iter()
        .filter(|(n, c)| {
            base.is_none_or(|b| b.categories.get(**n).map(String::as_str) != Some(c.save_path))
        })
        .map(|(n, c)| (*n, c))
        .collect();
    let categories_removed: Vec<&String> = base
        .map(|b| {
            b.categories
                .keys()
                .filter(|n| !next.categories.contains_key(*n))
                .collect()
        })
        .unwrap_or_default();
    let tags = all_tags(view);
    next.tags = tags.iter().map(|t| t.to_string()).collect();
    let new_tags: Vec<&str> = tags
        .iter()
        .copied()
        .filter(|t| base.is_none_or(|b| !b.tags.contains(*t)))
        .collect();
    let tags_removed: Vec<&String> = base
        .map(|b| b.tags.iter().filter(|t| !next.tags.contains(*t)).collect())
        .unwrap_or_default();

    // Server state.
    let s = &view.setup;
    let free = free_space(&s.data_dir);
    let server = ServerState {
        transfer,
        alltime_dl,
        alltime_ul,
        total_peer_connections: view.snapshot().connections,
        queueing: s.max_active_downloads.is_some() || s.max_active_seeds.is_some(),
        use_alt_speed_limits: false,
        refresh_interval: 1500,
        free_space_on_disk: free,
        global_ratio: format!("{:.2}", alltime_ul as f64 / alltime_dl.max(1) as f64),
        queued_io_jobs: view.snapshot().jobs_waiting,
    };
    obj.clear();
    push_json(&mut obj, &server);
    let mut server_out = Vec::new();
    let (server_hashes, server_wrote) =
        write_changed(&obj, base.map(|b| &b.server[..]), &mut server_out)
            .ok_or_else(|| ApiError::new(500, "internal", "server state is not an object"))?;
    next.server = server_hashes;

    // The rid of this answer.
    let newest = view.qbt.sync.history.back();
    let reuse = newest.filter(|n| n.same(&next)).map(|n| n.rid);

    out.extend_from_slice(b"{\"rid\":");
    let answer_rid = reuse.unwrap_or(view.qbt.sync.last_rid + 1);
    out.extend_from_slice(answer_rid.to_string().as_bytes());
    if full {
        out.extend_from_slice(b",\"full_update\":true");
    }
    if full || !first {
        out.extend_from_slice(b",\"torrents\":{");
        out.extend_from_slice(&torrents);
        out.push(b'}');
    }
    if !removed.is_empty() {
        out.extend_from_slice(b",\"torrents_removed\":");
        push_json(&mut out, &removed);
    }
    if full || !changed_categories.is_empty() {
        out.extend_from_slice(b",\"categories\":");
        push_json(&mut out, &changed_categories);
    }
    if !categories_removed.is_empty() {
        out.extend_from_slice(b",\"categories_removed\":");
        push_json(&mut out, &categories_removed);
    }
    if full || !new_tags.is_empty() {
        out.extend_from_slice(b",\"tags\":");
        push_json(&mut out, &new_tags);
    }
    if !tags_removed.is_empty() {
        out.extend_from_slice(b",\"tags_removed\":");
        push_json(&mut out, &tags_removed);
    }
    if full || server_wrote {
        out.extend_from_slice(b",\"server_state\":");
        out.extend_from_slice(&server_out);
    }
    if full {
        out.extend_from_slice(b",\"trackers\":{}");
    }
    out.push(b'}');

    let sync = &mut api.qbt.sync;
    if reuse.is_none() {
        sync.last_rid = answer_rid;
        next.rid = answer_rid;
        sync.history.push_back(next);
        while sync.history.len() > HISTORY {
            sync.history.pop_front();
        }
    }
    Ok(ApiAnswer::Now(crate::api::response(
        200,
        "application/json",
        "",
        &out,
        call.keep_alive(),
    )))
}

/// Bytes free for unprivileged users on the file system of `dir` (0 if unknown).
fn free_space(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a plain struct that
    // statvfs fills in.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        (st.f_bavail as u64).saturating_mul(st.f_frsize as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_a_compact_object_at_its_top_level() {
        let obj = br#"{"a":1,"b":"x,\"}y","c":[1,{"d":[2]}],"e":{"f":","},"g":null}"#;
        let got = fields(obj).unwrap();
        let keys: Vec<&[u8]> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [&b"\"a\""[..], b"\"b\"", b"\"c\"", b"\"e\"", b"\"g\""]
        );
        assert_eq!(got[1].1, br#""x,\"}y""#);
        assert_eq!(got[2].1, br#"[1,{"d":[2]}]"#);
        assert_eq!(got[3].1, br#"{"f":","}"#);
        assert_eq!(fields(b"{}").unwrap(), []);
        for bad in [
            &b""[..],
            b"[1]",
            b"{\"a\"}",
            b"{\"a:1}",
            b"{a:1}",
            b"{\"a\":]}",
        ] {
            assert_eq!(fields(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn only_changed_fields_are_written() {
        let mut out = Vec::new();
        let (old, wrote) = write_changed(br#"{"a":1,"b":2,"c":"x"}"#, None, &mut out).unwrap();
        assert!(wrote);
        assert_eq!(out, br#"{"a":1,"b":2,"c":"x"}"#);
        out.clear();
        let (_, wrote) = write_changed(br#"{"a":1,"b":3,"c":"x"}"#, Some(&old), &mut out).unwrap();
        assert!(wrote);
        assert_eq!(out, br#"{"b":3}"#);
        out.clear();
        let (_, wrote) = write_changed(br#"{"a":1,"b":2,"c":"x"}"#, Some(&old), &mut out).unwrap();
        assert!(!wrote);
        assert_eq!(out, b"{}");
        // A different shape (another field count) is written whole.
        out.clear();
        write_changed(br#"{"a":1,"b":2}"#, Some(&old), &mut out).unwrap();
        assert_eq!(out, br#"{"a":1,"b":2}"#);
    }
}
