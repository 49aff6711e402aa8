//! `torrents/*`: the torrent objects of `torrents/info` and `sync/maindata`, their
//! qBittorrent states, the list's filters and sorting, one torrent's properties,
//! files, trackers and pieces, adds, and the actions on many torrents at once.
//!
//! Share limits as qBittorrent gives them: a ratio or minutes, `-2` for "the global
//! limit" (no limit in the record) and `-1` for "none" (a limit no torrent reaches:
//! `f64::MAX`, `u64::MAX` seconds, so the session's share-limit pass needs no special
//! case).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::{
    Call, Category, Handled, Params, QBT_ADD, conflict, done, json, not_found, one, pick,
    valid_name,
};
use crate::api::ApiError;
use crate::api::service::{
    AddOptions, AddSource, ApiAnswer, ApiService, Entry, Reply, progress, unix_now,
};
use crate::engine::store::TorrentLimits;
use crate::engine::{Engine, TorrentView};
use crate::torrent::state::TorrentState;
use crate::types::InfoHash;
use crate::wire::magnet::{Magnet, is_magnet_link};
use crate::wire::metainfo::Metainfo;

/// qBittorrent's "infinite" ETA: 100 days.
const ETA_INFINITE: u64 = 8_640_000;
/// A ratio limit that means "none" (qBittorrent's -1).
const NO_RATIO: f64 = f64::MAX;
/// A seeding-time limit that means "none" (qBittorrent's -1).
const NO_TIME: u64 = u64::MAX;

/// The changing endpoints (POST only).
pub(super) const ACTIONS: [&str; 18] = [
    "add",
    "delete",
    "pause",
    "resume",
    "stop",
    "start",
    "recheck",
    "reannounce",
    "setShareLimits",
    "setUploadLimit",
    "setDownloadLimit",
    "topPrio",
    "bottomPrio",
    "increasePrio",
    "decreasePrio",
    "setForceStart",
    "setLocation",
    "setAutoManagement",
];

/// qBittorrent 5's name for where a torrent is.
pub(crate) fn state_name(view: &TorrentView, entry: &Entry) -> &'static str {
    let complete = view.is_complete();
    let up = |yes: &'static str, no: &'static str| if complete { yes } else { no };
    match &view.state {
        TorrentState::FetchingMetadata => "metaDL",
        TorrentState::Checking { .. } if entry.record.completed_at.is_some() => "checkingUP",
        TorrentState::Checking { .. } => up("checkingUP", "checkingDL"),
        TorrentState::Paused if entry.queued => up("queuedUP", "queuedDL"),
        TorrentState::Paused => up("stoppedUP", "stoppedDL"),
        TorrentState::Failed(_) => "error",
        TorrentState::Active if complete => {
            if view.up_rate > 0 {
                "uploading"
            } else {
                "stalledUP"
            }
        }
        TorrentState::Active if view.down_rate > 0 => "downloading",
        TorrentState::Active => "stalledDL",
    }
}

/// Whether a torrent in `state` (see [`state_name`]) moving at the given rates passes
/// `filter`, as qBittorrent's list filters decide; an unknown filter passes all.
pub(crate) fn passes(filter: &str, state: &str, down_rate: u64, up_rate: u64) -> bool {
    let downloading = matches!(
        state,
        "downloading" | "metaDL" | "stalledDL" | "checkingDL" | "stoppedDL" | "queuedDL"
    );
    let seeding = matches!(state, "uploading" | "stalledUP" | "checkingUP" | "queuedUP");
    let stopped = state.starts_with("stopped");
    let checking = state.starts_with("checking");
    let active = down_rate > 0 || up_rate > 0 || checking || state == "metaDL";
    match filter {
        "downloading" => downloading,
        "seeding" => seeding,
        "completed" => seeding || state == "stoppedUP",
        "paused" | "stopped" => stopped,
        "resumed" | "running" => !stopped,
        "active" => active,
        "inactive" => !active,
        "stalled" => matches!(state, "stalledUP" | "stalledDL"),
        "stalled_uploading" => state == "stalledUP",
        "stalled_downloading" => state == "stalledDL",
        "checking" => checking,
        "moving" => false,
        "errored" => matches!(state, "error" | "missingFiles"),
        _ => true,
    }
}

/// A share ratio limit in qBittorrent's terms.
fn ratio_out(limit: Option<f64>) -> f64 {
    match limit {
        None => -2.0,
        Some(r) if r >= NO_RATIO => -1.0,
        Some(r) => r,
    }
}

/// A seeding-time limit (seconds) in qBittorrent's minutes.
fn minutes_out(limit: Option<u64>) -> i64 {
    match limit {
        None => -2,
        Some(NO_TIME) => -1,
        Some(s) => (s / 60) as i64,
    }
}

/// qBittorrent's ratio limit parameter: `-2` global, `-1` none, else the ratio.
fn ratio_in(v: f64) -> Result<Option<f64>, ApiError> {
    match v {
        -2.0 => Ok(None),
        -1.0 => Ok(Some(NO_RATIO)),
        v if v >= 0.0 && v.is_finite() => Ok(Some(v)),
        _ => Err(ApiError::bad("ratioLimit must be -2, -1 or 0 or more")),
    }
}

/// qBittorrent's seeding-time parameter (minutes): `-2` global, `-1` none.
fn minutes_in(v: i64) -> Result<Option<u64>, ApiError> {
    match v {
        -2 => Ok(None),
        -1 => Ok(Some(NO_TIME)),
        m if m >= 0 => Ok(Some((m as u64).saturating_mul(60))),
        _ => Err(ApiError::bad(
            "seedingTimeLimit must be -2, -1 or 0 or more",
        )),
    }
}

/// A torrent object of `torrents/info` and `sync/maindata`, serialized straight from
/// the view, the record and the engine's metainfo.
#[derive(Serialize)]
pub(crate) struct TorrentInfo<'a> {
    pub added_on: u64,
    pub amount_left: u64,
    pub auto_tmm: bool,
    pub availability: f64,
    pub category: &'a str,
    pub comment: &'a str,
    pub completed: u64,
    pub completion_on: i64,
    pub content_path: PathBuf,
    pub dl_limit: u64,
    pub dlspeed: u64,
    pub download_path: &'static str,
    pub downloaded: u64,
    pub downloaded_session: u64,
    pub eta: u64,
    pub f_l_piece_prio: bool,
    pub force_start: bool,
    pub has_metadata: bool,
    pub hash: String,
    pub inactive_seeding_time_limit: i64,
    pub infohash_v1: String,
    pub infohash_v2: &'static str,
    pub last_activity: u64,
    pub magnet_uri: String,
    pub max_inactive_seeding_time: i64,
    pub max_ratio: f64,
    pub max_seeding_time: i64,
    pub name: &'a str,
    pub num_complete: usize,
    pub num_incomplete: usize,
    pub num_leechs: usize,
    pub num_seeds: usize,
    pub popularity: f64,
    pub priority: i64,
    pub private: bool,
    pub progress: f64,
    pub ratio: f64,
    pub ratio_limit: f64,
    pub reannounce: u64,
    pub root_path: PathBuf,
    pub save_path: &'a Path,
    pub seeding_time: u64,
    pub seeding_time_limit: i64,
    pub seen_complete: i64,
    pub seq_dl: bool,
    pub size: u64,
    pub state: &'static str,
    pub super_seeding: bool,
    pub tags: String,
    pub time_active: u64,
    pub total_size: u64,
    pub tracker: &'a str,
    pub trackers_count: usize,
    pub up_limit: u64,
    pub uploaded: u64,
    pub uploaded_session: u64,
    pub upspeed: u64,
}

/// See [`TorrentInfo`]; `now` in Unix seconds.
pub(crate) fn torrent_info<'a>(
    api: &'a ApiService,
    engine: &'a Engine,
    view: &'a TorrentView,
    entry: &'a Entry,
    now: u64,
) -> TorrentInfo<'a> {
    let r = &entry.record;
    let t = engine.torrent_ref(view.id);
    let meta = t.map(|t| &*t.meta);
    let size = view.total_bytes;
    let left = size - view.bytes_done.min(size);
    let uploaded = r.uploaded + view.uploaded.saturating_sub(entry.seen_up);
    let downloaded = r.downloaded + view.downloaded.saturating_sub(entry.seen_down);
    let hash = view.info_hash.to_hex();
    let complete = view.is_complete();
    let first = t.and_then(|t| t.storage.layout.files.first());
    let top = first.and_then(|f| f.path.components().next());
    let content_path = top.map_or_else(|| r.save_path.join(&view.name), |c| r.save_path.join(c));
    let multi = meta.is_some_and(|m| !m.info.single_file);
    let tracker = meta
        .and_then(|m| {
            m.announce_list
                .iter()
                .flatten()
                .next()
                .or(m.announce.as_ref())
        })
        .map_or("", String::as_str);
    let effective_ratio = r.limits.ratio_limit.or(api.setup.ratio_limit);
    let effective_time = r.limits.seed_time_limit.or(api.setup.seed_time_limit);
    let completion_on = match r.completed_at {
        Some(at) => at as i64,
        None if complete => r.added_at as i64,
        None => -1,
    };
    let moving = view.up_rate > 0 || view.down_rate > 0;
    let leechers = view.peers.saturating_sub(view.seeds);
    TorrentInfo {
        added_on: r.added_at,
        amount_left: left,
        auto_tmm: false,
        availability: if complete { -1.0 } else { view.seeds as f64 },
        category: r.category.as_deref().unwrap_or(""),
        comment: meta.and_then(|m| m.comment.as_deref()).unwrap_or(""),
        completed: view.bytes_done,
        completion_on,
        root_path: if multi {
            content_path.clone()
        } else {
            PathBuf::new()
        },
        content_path,
        dl_limit: r.limits.max_download_rate.unwrap_or(0),
        dlspeed: view.down_rate,
        download_path: "",
        downloaded,
        downloaded_session: view.downloaded,
        eta: match (left, view.down_rate) {
            (0, _) | (_, 0) => ETA_INFINITE,
            (l, rate) => (l / rate).min(ETA_INFINITE),
        },
        f_l_piece_prio: false,
        force_start: false,
        has_metadata: true,
        infohash_v1: hash.clone(),
        hash,
        inactive_seeding_time_limit: -2,
        infohash_v2: "",
        last_activity: if moving {
            now
        } else {
            r.completed_at.unwrap_or(r.added_at)
        },
        magnet_uri: meta.map(Metainfo::magnet).unwrap_or_default(),
        max_inactive_seeding_time: -1,
        max_ratio: ratio_out(effective_ratio).max(-1.0),
        max_seeding_time: minutes_out(effective_time).max(-1),
        name: &view.name,
        num_complete: view.seeds,
        num_incomplete: leechers,
        num_leechs: leechers,
        num_seeds: view.seeds,
        popularity: 0.0,
        priority: 0,
        private: meta.is_some_and(|m| m.info.private),
        progress: progress(view),
        ratio: uploaded as f64 / size.max(1) as f64,
        ratio_limit: ratio_out(r.limits.ratio_limit),
        reannounce: 0,
        save_path: &r.save_path,
        seeding_time: r.seeding_secs,
        seeding_time_limit: minutes_out(r.limits.seed_time_limit),
        // Stable between polls, so `sync/maindata` does not resend it every time.
        seen_complete: completion_on,
        seq_dl: false,
        size,
        state: state_name(view, entry),
        super_seeding: false,
        tags: r.labels.join(", "),
        // Only seeding time is counted.
        time_active: r.seeding_secs,
        total_size: size,
        tracker,
        trackers_count: meta.map_or(0, |m| m.tracker_tiers().iter().map(Vec::len).sum()),
        up_limit: r.limits.max_upload_rate.unwrap_or(0),
        uploaded,
        uploaded_session: view.uploaded,
        upspeed: view.up_rate,
    }
}

/// `torrents/NAME`.
pub(super) fn handle(
    api: &mut ApiService,
    engine: &mut Engine,
    call: &Call<'_>,
    name: &str,
) -> Handled {
    let keep_alive = call.keep_alive();
    let p = &call.params;
    match name {
        "info" => {
            let body = info(api, engine, p)?;
            Ok(ApiAnswer::Now(crate::api::response(
                200,
                "application/json",
                "",
                &body,
                keep_alive,
            )))
        }
        "count" => Ok(ApiAnswer::Now(super::text(
            200,
            &api.entries.len().to_string(),
            keep_alive,
        ))),
        "properties" => properties(api, engine, call),
        "files" => files(api, engine, call),
        "trackers" => trackers(api, engine, call),
        "pieceStates" => {
            let (_, id) = one(api, engine, p)?;
            let states: Vec<u8> = engine
                .torrent_ref(id)
                .map(|t| {
                    let have = t.have();
                    (0..have.len())
                        .map(|i| {
                            if have.get(crate::types::PieceIndex(i)) {
                                2
                            } else {
                                0
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            json(&states, keep_alive)
        }
        "pieceHashes" => {
            let (_, id) = one(api, engine, p)?;
            let hashes: Vec<String> = engine
                .torrent_ref(id)
                .map(|t| {
                    t.meta
                        .info
                        .pieces
                        .iter()
                        .map(|h| crate::types::hex(h))
                        .collect()
                })
                .unwrap_or_default();
            json(&hashes, keep_alive)
        }
        "uploadLimit" | "downloadLimit" => {
            let picked = pick(api, engine, p.require("hashes")?);
            let limits: serde_json::Map<String, serde_json::Value> = picked
                .iter()
                .filter_map(|(h, _)| api.entries.get(h).map(|e| (h, &e.record.limits)))
                .map(|(h, l)| {
                    let limit = if name == "uploadLimit" {
                        l.max_upload_rate
                    } else {
                        l.max_download_rate
                    };
                    (h.to_hex(), limit.unwrap_or(0).into())
                })
                .collect();
            json(&limits, keep_alive)
        }
        "add" => add(api, engine, call),
        _ => action(api, engine, call, name),
    }
}

/// The body of `torrents/info`.
fn info(api: &mut ApiService, engine: &Engine, p: &Params<'_>) -> Result<Vec<u8>, ApiError> {
    let filter = p.get("filter").unwrap_or("all");
    let category = p.get("category");
    let tag = p.get("tag");
    let hashes: Option<Vec<InfoHash>> = p.get("hashes").map(|h| {
        h.split('|')
            .filter_map(|h| InfoHash::from_hex(h.trim()))
            .collect()
    });
    let sort = p.get("sort");
    let reverse = p.flag("reverse").unwrap_or(false);
    // qBittorrent reads a bad number as 0 (no limit, no offset).
    let limit: i64 = p.get("limit").and_then(|v| v.parse().ok()).unwrap_or(0);
    let offset: i64 = p.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let now = unix_now();
    let api: &ApiService = api.fresh(engine);
    let mut rows: Vec<(&TorrentView, &Entry)> = api
        .snapshot()
        .torrents
        .iter()
        .filter_map(|v| api.entries.get(&v.info_hash).map(|e| (v, e)))
        .filter(|(v, e)| passes(filter, state_name(v, e), v.down_rate, v.up_rate))
        .filter(|(_, e)| category.is_none_or(|c| e.record.category.as_deref().unwrap_or("") == c))
        .filter(|(_, e)| {
            tag.is_none_or(|t| match t {
                "" => e.record.labels.is_empty(),
                t => e.record.labels.iter().any(|l| l == t),
            })
        })
        .filter(|(v, _)| hashes.as_ref().is_none_or(|hs| hs.contains(&v.info_hash)))
        .collect();
    rows.sort_by(|a, b| (a.1.record.added_at, &a.0.name).cmp(&(b.1.record.added_at, &b.0.name)));
    let mut objects: Vec<TorrentInfo> = rows
        .into_iter()
        .map(|(v, e)| torrent_info(api, engine, v, e, now))
        .collect();
    if let Some(field) = sort {
        let mut keyed: Vec<(SortKey, TorrentInfo)> = objects
            .into_iter()
            .map(|t| (sort_key(&t, field), t))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        objects = keyed.into_iter().map(|(_, t)| t).collect();
    }
    if reverse {
        objects.reverse();
    }
    let len = objects.len() as i64;
    let start = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset.min(len)
    } as usize;
    let take = if limit > 0 {
        limit as usize
    } else {
        usize::MAX
    };
    let page: Vec<&TorrentInfo> = objects.iter().skip(start).take(take).collect();
    let mut body = Vec::with_capacity(page.len() * 1400 + 2);
    serde_json::to_writer(&mut body, &page)
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    Ok(body)
}

/// A value to sort the list by.
#[derive(PartialEq)]
enum SortKey {
    Number(f64),
    Text(String),
    None,
}

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &SortKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    /// Numbers by value (NaN equal to all), text by bytes; keys of one field are
    /// all of one kind.
    fn cmp(&self, other: &SortKey) -> Ordering {
        match (self, other) {
            (SortKey::Number(a), SortKey::Number(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

/// The value of field `field` of `t`; an unknown field sorts nothing.
fn sort_key(t: &TorrentInfo, field: &str) -> SortKey {
    let n = |v: f64| SortKey::Number(v);
    match field {
        "added_on" => n(t.added_on as f64),
        "amount_left" => n(t.amount_left as f64),
        "availability" => n(t.availability),
        "category" => SortKey::Text(t.category.to_string()),
        "completed" => n(t.completed as f64),
        "completion_on" => n(t.completion_on as f64),
        "dlspeed" => n(t.dlspeed as f64),
        "downloaded" => n(t.downloaded as f64),
        "eta" => n(t.eta as f64),
        "hash" => SortKey::Text(t.hash.clone()),
        "last_activity" => n(t.last_activity as f64),
        "name" => SortKey::Text(t.name.to_lowercase()),
        "num_leechs" => n(t.num_leechs as f64),
        "num_seeds" => n(t.num_seeds as f64),
        "priority" => n(t.priority as f64),
        "progress" => n(t.progress),
        "ratio" => n(t.ratio),
        "save_path" => SortKey::Text(t.save_path.to_string_lossy().into_owned()),
        "seeding_time" => n(t.seeding_time as f64),
        "size" | "total_size" => n(t.size as f64),
        "state" => SortKey::Text(t.state.to_string()),
        "tags" => SortKey::Text(t.tags.clone()),
        "time_active" => n(t.time_active as f64),
        "tracker" => SortKey::Text(t.tracker.to_string()),
        "upspeed" => n(t.upspeed as f64),
        "uploaded" => n(t.uploaded as f64),
        _ => SortKey::None,
    }
}

fn properties(api: &mut ApiService, engine: &Engine, call: &Call<'_>) -> Handled {
    let (hash, id) = one(api, engine, &call.params)?;
    let now = unix_now();
    let api: &ApiService = api.fresh(engine);
    let (Some(view), Some(entry)) = (engine.torrent(id), api.entries.get(&hash)) else {
        return Err(not_found());
    };
    let t = torrent_info(api, engine, &view, entry, now);
    let meta = engine.torrent_ref(id).map(|t| t.meta.clone());
    let limit = |l: u64| if l == 0 { -1 } else { l as i64 };
    let alive = now.saturating_sub(entry.record.added_at).max(1);
    let meta = meta.as_deref();
    let props = Properties {
        infohash_v2: "",
        download_path: "",
        creation_date: meta.and_then(|m| m.creation_date).unwrap_or(-1),
        created_by: meta.and_then(|m| m.created_by.as_deref()).unwrap_or(""),
        piece_size: meta.map_or(0, |m| m.info.piece_length),
        pieces_num: view.pieces,
        pieces_have: engine.torrent_ref(id).map_or(0, |t| t.have().count_ones()),
        total_wasted: 0,
        total_uploaded: t.uploaded,
        total_uploaded_session: t.uploaded_session,
        total_downloaded: t.downloaded,
        total_downloaded_session: t.downloaded_session,
        up_limit: limit(t.up_limit),
        dl_limit: limit(t.dl_limit),
        time_elapsed: t.time_active,
        nb_connections: view.peers,
        nb_connections_limit: engine.config.max_peers,
        share_ratio: t.ratio,
        addition_date: t.added_on,
        completion_date: t.completion_on,
        last_seen: t.seen_complete,
        dl_speed: t.dlspeed,
        dl_speed_avg: t.downloaded / alive,
        up_speed: t.upspeed,
        up_speed_avg: t.uploaded / alive,
        peers: t.num_leechs,
        peers_total: t.num_incomplete,
        seeds: t.num_seeds,
        seeds_total: t.num_complete,
        is_private: t.private,
        is_seed: t.amount_left == 0,
        t: &t,
    };
    json(&props, call.keep_alive())
}

/// `torrents/properties`: one torrent's details, beside the fields of its
/// [`TorrentInfo`] that have the same name in both.
#[derive(Serialize)]
struct Properties<'a> {
    infohash_v2: &'static str,
    download_path: &'static str,
    creation_date: i64,
    created_by: &'a str,
    piece_size: u64,
    pieces_num: u32,
    pieces_have: u32,
    total_wasted: u64,
    total_uploaded: u64,
    total_uploaded_session: u64,
    total_downloaded: u64,
    total_downloaded_session: u64,
    up_limit: i64,
    dl_limit: i64,
    time_elapsed: u64,
    nb_connections: usize,
    nb_connections_limit: usize,
    share_ratio: f64,
    addition_date: u64,
    completion_date: i64,
    last_seen: i64,
    dl_speed: u64,
    dl_speed_avg: u64,
    up_speed: u64,
    up_speed_avg: u64,
    peers: usize,
    peers_total: usize,
    seeds: usize,
    seeds_total: usize,
    #[serde(rename = "isPrivate")]
    is_private: bool,
    is_seed: bool,
    #[serde(flatten, serialize_with = "properties_of")]
    t: &'a TorrentInfo<'a>,
}

/// The [`TorrentInfo`] fields `torrents/properties` shares.
fn properties_of<S: serde::Serializer>(t: &&TorrentInfo<'_>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("hash", &t.hash)?;
    m.serialize_entry("infohash_v1", &t.infohash_v1)?;
    m.serialize_entry("name", t.name)?;
    m.serialize_entry("save_path", t.save_path)?;
    m.serialize_entry("comment", t.comment)?;
    m.serialize_entry("total_size", &t.size)?;
    m.serialize_entry("seeding_time", &t.seeding_time)?;
    m.serialize_entry("eta", &t.eta)?;
    m.serialize_entry("reannounce", &0)?;
    m.serialize_entry("private", &t.private)?;
    m.serialize_entry("has_metadata", &true)?;
    m.serialize_entry("progress", &t.progress)?;
    m.end()
}

fn files(api: &ApiService, engine: &Engine, call: &Call<'_>) -> Handled {
    let (_, id) = one(api, engine, &call.params)?;
    let (Some(t), Some(views)) = (engine.torrent_ref(id), engine.files(id)) else {
        return Err(not_found());
    };
    let layout = &t.storage.layout;
    let piece = layout.piece_length.max(1);
    let wanted: Option<Vec<usize>> = call
        .params
        .get("indexes")
        .map(|s| s.split('|').filter_map(|i| i.trim().parse().ok()).collect());
    let files: Vec<serde_json::Value> = layout
        .files
        .iter()
        .filter(|f| !f.padding)
        .zip(&views)
        .enumerate()
        .filter(|(i, _)| wanted.as_ref().is_none_or(|w| w.contains(i)))
        .map(|(i, (slot, view))| {
            let first = slot.offset / piece;
            let last = (slot.offset + slot.length.max(1) - 1) / piece;
            let done = if view.size == 0 {
                1.0
            } else {
                view.done as f64 / view.size as f64
            };
            json!({
                "index": i,
                "name": view.path,
                "size": view.size,
                "progress": done,
                "priority": 1,
                "is_seed": view.done == view.size,
                "piece_range": [first, last],
                "availability": if done >= 1.0 { 1.0 } else { 0.0 },
            })
        })
        .collect();
    json(&files, call.keep_alive())
}

fn trackers(api: &ApiService, engine: &Engine, call: &Call<'_>) -> Handled {
    let (_, id) = one(api, engine, &call.params)?;
    let list = engine.trackers_of(id, call.now).unwrap_or_default();
    let peers = engine.torrent(id).map_or(0, |v| v.peers);
    let mut out: Vec<serde_json::Value> = ["** [DHT] **", "** [PeX] **", "** [LSD] **"]
        .iter()
        .map(|url| {
            json!({"url": url, "status": 0, "tier": -1, "num_peers": 0, "num_seeds": 0,
                   "num_leeches": 0, "num_downloaded": 0, "msg": "hivebt does not use it"})
        })
        .collect();
    use crate::tracker::client::TrackerState;
    for t in list {
        let status = match t.state {
            TrackerState::NotContacted => 1,
            TrackerState::Working => 2,
            TrackerState::Updating => 3,
            TrackerState::Failed => 4,
        };
        let count = |c: Option<u32>| c.map_or(-1, i64::from);
        out.push(json!({
            "url": t.url,
            "status": status,
            "tier": t.tier,
            "num_peers": if status == 2 { peers as i64 } else { -1 },
            "num_seeds": count(t.seeders),
            "num_leeches": count(t.leechers),
            "num_downloaded": -1,
            "msg": t.last_error.unwrap_or_default(),
        }));
    }
    json(&out, call.keep_alive())
}

/// The share and rate limits of an add's parameters.
fn add_limits(p: &Params<'_>) -> Result<TorrentLimits, ApiError> {
    let rate = |key: &str| -> Result<Option<u64>, ApiError> {
        Ok(p.number::<i64>(key)?
            .and_then(|l| u64::try_from(l).ok())
            .filter(|&l| l > 0))
    };
    Ok(TorrentLimits {
        max_upload_rate: rate("upLimit")?,
        max_download_rate: rate("dlLimit")?,
        max_connections: None,
        ratio_limit: p
            .number::<f64>("ratioLimit")?
            .map(ratio_in)
            .transpose()?
            .flatten(),
        seed_time_limit: p
            .number::<i64>("seedingTimeLimit")?
            .map(minutes_in)
            .transpose()?
            .flatten(),
    })
}

/// `torrents/add`: .torrent files (`torrents`, several) and magnet links (`urls`, one
/// per line) with options; other URLs are not fetched (logged and skipped). `Ok.`
/// once at least one torrent is in the session, `Fails.` when none could be added,
/// 415 for a file that is not a torrent (nothing is added then).
fn add(api: &mut ApiService, engine: &mut Engine, call: &Call<'_>) -> Handled {
    let keep_alive = call.keep_alive();
    let p = &call.params;
    let fails = || Ok(ApiAnswer::Now(super::text(200, "Fails.", keep_alive)));
    let urls: Vec<&str> = p
        .get("urls")
        .unwrap_or("")
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() && p.files.is_empty() {
        return Err(ApiError::bad(
            "Missing required parameters: urls or torrents",
        ));
    }
    let mut fresh: Vec<(InfoHash, AddSource)> = Vec::new();
    for u in &urls {
        if !is_magnet_link(u) {
            log::info!("qBittorrent API add: {u}: hivebt does not fetch .torrent URLs");
            continue;
        }
        match Magnet::parse(u) {
            Ok(m)
                if engine.find(&m.info_hash).is_some()
                    || fresh.iter().any(|(h, _)| *h == m.info_hash) =>
            {
                log::info!("qBittorrent API add: {u}: already added");
            }
            Ok(m) => fresh.push((m.info_hash, AddSource::Magnet(u.to_string()))),
            Err(e) => log::info!("qBittorrent API add: {u}: {e}"),
        }
    }
    for (name, bytes) in &p.files {
        let Ok(meta) = Metainfo::from_bytes(bytes) else {
            return Err(ApiError::new(
                415,
                "bad_torrent",
                format!("Error: '{name}' is not a valid torrent file."),
            ));
        };
        let dup = engine.find(&meta.info_hash).is_some()
            || fresh.iter().any(|(h, _)| *h == meta.info_hash);
        if dup {
            log::info!("qBittorrent API add: {name}: already added");
        } else {
            fresh.push((meta.info_hash, AddSource::Bytes(bytes.to_vec())));
        }
    }
    if fresh.is_empty() {
        return fails();
    }
    let category = p.get("category").map(str::trim).filter(|c| !c.is_empty());
    if category.is_some_and(|c| !valid_name(c, false)) {
        return fails();
    }
    let tags = split_tags(p.get("tags").unwrap_or(""));
    if tags.iter().any(|t| !valid_name(t, true)) {
        return fails();
    }
    let limits = add_limits(p)?;
    let save_path = match p.get("savepath").map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(PathBuf::from(s)),
        None => category
            .and_then(|c| api.qbt.categories.get(c))
            .map(|c| c.save_path.trim())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
    };
    if let Some(path) = &save_path {
        if api.check_path("savepath", path).is_err() {
            return fails();
        }
    }
    // A new category or tag joins the lists, as in qBittorrent.
    let mut changed = false;
    if let Some(c) = category {
        if !api.qbt.categories.contains_key(c) {
            api.qbt
                .categories
                .insert(c.to_string(), Category::default());
            changed = true;
        }
    }
    for t in &tags {
        changed |= api.qbt.tags.insert(t.clone());
    }
    if changed {
        let file = api.qbt.file(&api.setup.state_dir);
        api.persist_many(engine, &[], Some(file), None, Vec::new());
    }
    let options = AddOptions {
        save_path,
        paused: p.flag("stopped").or(p.flag("paused")).unwrap_or(false),
        labels: tags,
        category: category.map(String::from),
        limits,
    };
    // The answer waits for the last; the others are added alongside.
    let last = fresh.len() - 1;
    for (i, (_, source)) in fresh.into_iter().enumerate() {
        let reply = (i == last).then(|| Reply {
            front: &QBT_ADD,
            ..call.reply()
        });
        if let Err(e) = api.start_add(engine, source, options.clone(), reply, None) {
            log::info!("qBittorrent API add: {}", e.message);
            if i == last {
                return fails();
            }
        }
    }
    Ok(ApiAnswer::Later)
}

/// A `tags` parameter: comma-separated, trimmed, no empty ones, no repeats.
pub(crate) fn split_tags(v: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    }
    out
}

/// The actions on the torrents of `hashes`.
fn action(api: &mut ApiService, engine: &mut Engine, call: &Call<'_>, name: &str) -> Handled {
    if !ACTIONS.contains(&name) {
        return Err(not_found());
    }
    let keep_alive = call.keep_alive();
    let p = &call.params;
    let now = call.now;
    let picked = pick(api, engine, p.require("hashes")?);
    let hashes: Vec<InfoHash> = picked.iter().map(|(h, _)| *h).collect();
    let empty = super::text(200, "", keep_alive);
    let reply = Some(call.reply());
    match name {
        "delete" => {
            let delete_files = p
                .get("deleteFiles")
                .ok_or_else(|| ApiError::bad("Missing required parameters: deleteFiles"))?
                .eq_ignore_ascii_case("true");
            api.remove_many(engine, &picked, delete_files, reply, empty);
            Ok(ApiAnswer::Later)
        }
        "pause" | "stop" | "resume" | "start" => {
            let paused = matches!(name, "pause" | "stop");
            for &(hash, id) in &picked {
                api.set_paused(engine, &hash, id, paused, now);
            }
            api.persist_many(engine, &hashes, None, reply, empty);
            Ok(ApiAnswer::Later)
        }
        "setForceStart" => {
            // hivebt has no forced state: forcing starts a stopped torrent.
            if p.flag("value").unwrap_or(false) {
                for &(hash, id) in &picked {
                    api.set_paused(engine, &hash, id, false, now);
                }
            }
            api.persist_many(engine, &hashes, None, reply, empty);
            Ok(ApiAnswer::Later)
        }
        "recheck" | "reannounce" => {
            for &(_, id) in &picked {
                // qBittorrent answers a batch 200 whatever each one did.
                let _ = if name == "recheck" {
                    ApiService::recheck(engine, id, now)
                } else {
                    ApiService::reannounce(engine, id, now)
                };
            }
            done(keep_alive)
        }
        "setShareLimits" => {
            let ratio = ratio_in(
                p.number::<f64>("ratioLimit")?
                    .ok_or_else(|| ApiError::bad("Missing required parameters: ratioLimit"))?,
            )?;
            let time =
                minutes_in(p.number::<i64>("seedingTimeLimit")?.ok_or_else(|| {
                    ApiError::bad("Missing required parameters: seedingTimeLimit")
                })?)?;
            for h in &hashes {
                if let Some(e) = api.entries.get_mut(h) {
                    e.record.limits.ratio_limit = ratio;
                    e.record.limits.seed_time_limit = time;
                }
            }
            api.persist_many(engine, &hashes, None, reply, empty);
            Ok(ApiAnswer::Later)
        }
        "setUploadLimit" | "setDownloadLimit" => {
            let limit: i64 = p
                .number("limit")?
                .ok_or_else(|| ApiError::bad("Missing required parameters: limit"))?;
            let limit = u64::try_from(limit).ok().filter(|&l| l > 0);
            for &(hash, _) in &picked {
                let up = name == "setUploadLimit";
                set_rate_limit(api, engine, &hash, up, limit, now)?;
            }
            api.persist_many(engine, &hashes, None, reply, empty);
            Ok(ApiAnswer::Later)
        }
        "topPrio" | "bottomPrio" | "increasePrio" | "decreasePrio" => {
            let queueing =
                api.setup.max_active_downloads.is_some() || api.setup.max_active_seeds.is_some();
            Err(conflict(if queueing {
                "hivebt queues torrents in the order they were added"
            } else {
                "Torrent queueing must be enabled"
            }))
        }
        "setLocation" => {
            let location = PathBuf::from(p.require("location")?.trim());
            if location.as_os_str().is_empty() {
                return Err(ApiError::bad("Save path cannot be empty"));
            }
            let moved = hashes.iter().any(|h| {
                api.entries
                    .get(h)
                    .is_some_and(|e| e.record.save_path != location)
            });
            if moved {
                return Err(conflict("hivebt cannot move a torrent's data yet"));
            }
            done(keep_alive)
        }
        "setAutoManagement" => {
            if p.flag("enable").unwrap_or(false) {
                return Err(conflict("hivebt has no automatic torrent management"));
            }
            done(keep_alive)
        }
        _ => Err(not_found()),
    }
}

/// Sets torrent `hash`'s upload (or download) rate limit through the session (the
/// engine enforces it at once; the record keeps it).
fn set_rate_limit(
    api: &mut ApiService,
    engine: &mut Engine,
    hash: &InfoHash,
    upload: bool,
    limit: Option<u64>,
    now: std::time::Instant,
) -> Result<(), ApiError> {
    let Some(e) = api.entries.get(hash) else {
        return Ok(());
    };
    let mut l = e.record.limits.clone();
    if upload {
        l.max_upload_rate = limit;
    } else {
        l.max_download_rate = limit;
    }
    api.set_limits(engine, hash, l, now)
}
