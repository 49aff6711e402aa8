//! The native JSON API, `/api/v1/...`: routing, request bodies and the shapes of its
//! answers (documented in the README's API reference).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth;
use super::service::{
    AddOptions, AddSource, ApiAnswer, ApiService, Entry, Front, HttpConnId, Reply, progress,
    state_name,
};
use super::tasks::base64;
use super::{ApiError, auth_request, json_response, metrics, query_pairs, response};
use crate::engine::store::TorrentLimits;
use crate::engine::{Engine, TorrentView};
use crate::types::{InfoHash, TorrentId};
use crate::wire::http::Request;

/// The torrent object (see the README for every field), serialized straight from the
/// engine's view and the session entry: listing 10,000 torrents builds no JSON tree.
#[derive(Serialize)]
pub(crate) struct TorrentObject<'a> {
    info_hash: String,
    name: &'a str,
    state: &'static str,
    progress: f64,
    size: u64,
    downloaded: u64,
    uploaded: u64,
    download_rate: u64,
    upload_rate: u64,
    peers: usize,
    seeds: usize,
    ratio: f64,
    eta: Option<u64>,
    save_path: &'a Path,
    added_at: u64,
    completed_at: Option<u64>,
    seeding_time: u64,
    labels: &'a [String],
    limits: &'a TorrentLimits,
    error: Option<&'a str>,
}

/// See [`TorrentObject`].
pub(crate) fn torrent_object<'a>(view: &'a TorrentView, entry: &'a Entry) -> TorrentObject<'a> {
    let r = &entry.record;
    let size = view.total_bytes;
    let left = size - view.bytes_done.min(size);
    let uploaded = r.uploaded + view.uploaded.saturating_sub(entry.seen_up);
    let error = match &view.state {
        crate::torrent::state::TorrentState::Failed(why) => Some(why.as_str()),
        _ => r.error.as_deref(),
    };
    TorrentObject {
        info_hash: view.info_hash.to_hex(),
        name: &view.name,
        state: state_name(view, entry),
        progress: progress(view),
        size,
        downloaded: r.downloaded + view.downloaded.saturating_sub(entry.seen_down),
        uploaded,
        download_rate: view.down_rate,
        upload_rate: view.up_rate,
        peers: view.peers,
        seeds: view.seeds,
        ratio: uploaded as f64 / size.max(1) as f64,
        eta: (left > 0 && view.down_rate > 0).then(|| left / view.down_rate),
        save_path: &r.save_path,
        added_at: r.added_at,
        completed_at: r.completed_at,
        seeding_time: r.seeding_secs,
        labels: &r.labels,
        limits: &r.limits,
        error,
    }
}

/// Handles one request. See the module docs.
pub(crate) fn route(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    peer: SocketAddr,
    conn: HttpConnId,
    now: Instant,
) -> ApiAnswer {
    let keep_alive = req.head.keep_alive;
    let head = &req.head;
    if let Err(denied) = api.auth.check(&auth_request(head, peer), now) {
        return ApiAnswer::Now(ApiError::from(denied).to_response(keep_alive));
    }
    if api.shutting_down && head.method != "GET" {
        let e = ApiError::new(503, "shutting_down", "the daemon is stopping");
        return ApiAnswer::Now(e.to_response(false));
    }
    match handle(api, engine, req, peer, conn, now) {
        Ok(answer) => answer,
        Err(e) => ApiAnswer::Now(e.to_response(keep_alive)),
    }
}

fn handle(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    peer: SocketAddr,
    conn: HttpConnId,
    now: Instant,
) -> Result<ApiAnswer, ApiError> {
    let keep_alive = req.head.keep_alive;
    let method = req.head.method.as_str();
    let path = req.head.path.as_str();
    let ok = |v: &Value| Ok(ApiAnswer::Now(json_response(200, v, "", keep_alive)));
    let segments: Vec<&str> = path
        .strip_prefix("/api/v1/")
        .map(|p| p.trim_end_matches('/').split('/').collect())
        .unwrap_or_default();
    match (method, path, segments.as_slice()) {
        ("GET", "/metrics", _) => Ok(ApiAnswer::Now(response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            "",
            metrics::render(api, engine, now).as_bytes(),
            keep_alive,
        ))),
        ("GET", _, ["health"]) => {
            ok(&json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
        }
        ("POST", _, ["login"]) => login(api, engine, req, peer, conn, now),
        ("POST", _, ["logout"]) => {
            api.auth.logout(req.head.header("cookie"));
            Ok(ApiAnswer::Now(json_response(
                200,
                &json!({"ok": true}),
                &format!("Set-Cookie: {}\r\n", auth::clear_cookie_header()),
                keep_alive,
            )))
        }
        ("GET", _, ["torrents"]) => Ok(ApiAnswer::Now(response(
            200,
            "application/json",
            "",
            &list(api, engine, &req.head.query)?,
            keep_alive,
        ))),
        ("POST", _, ["torrents"]) => add(api, engine, req, conn),
        ("GET", _, ["session"]) => ok(&session(api, engine)),
        ("PATCH", _, ["session"]) => {
            let patch: SessionPatch = body_json(req)?;
            if let Some(l) = patch.limits {
                let cfg = &engine.config;
                let up = l.max_upload_rate.unwrap_or(cfg.max_upload_rate);
                let down = l.max_download_rate.unwrap_or(cfg.max_download_rate);
                engine.set_rate_limits(up, down, now);
            }
            ok(&session(api, engine))
        }
        ("GET", _, ["events"]) => {
            if !api.subscribe(conn) {
                return Err(ApiError::new(503, "busy", "too many event streams"));
            }
            Ok(ApiAnswer::Stream(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n\r\n: hivebt events\n\n".to_vec(),
            ))
        }
        (_, _, ["torrents", hash, rest @ ..]) => {
            let hash = InfoHash::from_hex(hash).ok_or_else(|| {
                ApiError::bad(format!("{hash} is not a 40-character hex info-hash"))
            })?;
            let id = engine
                .find(&hash)
                .filter(|_| api.entries.contains_key(&hash))
                .ok_or_else(|| ApiError::not_found(format!("no torrent {}", hash.to_hex())))?;
            one_torrent(api, engine, req, hash, id, rest, conn, now)
        }
        (_, _, ["health" | "login" | "logout" | "torrents" | "session" | "events"]) => {
            Err(ApiError::new(
                405,
                "method_not_allowed",
                format!("{method} is not allowed on {path}"),
            ))
        }
        _ => Err(ApiError::not_found(format!("no such path: {path}"))),
    }
}

fn login(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    peer: SocketAddr,
    conn: HttpConnId,
    now: Instant,
) -> Result<ApiAnswer, ApiError> {
    #[derive(Deserialize)]
    struct Login {
        password: String,
    }
    let body: Login = body_json(req)?;
    let reply = Native::reply(conn, req.head.keep_alive);
    api.start_login(engine, peer.ip(), body.password, reply, now)
}

/// The native API's answers to work finished on the workers.
pub(crate) struct Native;

impl Native {
    fn reply(conn: HttpConnId, keep_alive: bool) -> Reply {
        Reply {
            conn,
            keep_alive,
            front: &Native,
        }
    }
}

impl Front for Native {
    fn added(
        &self,
        api: &ApiService,
        engine: &Engine,
        hash: &InfoHash,
        torrent: Option<&[u8]>,
        keep_alive: bool,
    ) -> Vec<u8> {
        let mut object = api.torrent_json(engine, hash).unwrap_or(Value::Null);
        if let (Some(bytes), Value::Object(map)) = (torrent, &mut object) {
            map.insert("torrent".into(), base64(bytes).into());
        }
        json_response(201, &object, "", keep_alive)
    }

    fn logged_in(
        &self,
        api: &ApiService,
        result: Result<String, auth::Denied>,
        keep_alive: bool,
    ) -> Vec<u8> {
        match result {
            Ok(token) => json_response(
                200,
                &json!({"ok": true}),
                &format!(
                    "Set-Cookie: {}\r\n",
                    auth::set_cookie_header(&token, api.auth.session_ttl().as_secs())
                ),
                keep_alive,
            ),
            Err(denied) => ApiError::from(denied).to_response(keep_alive),
        }
    }

    fn error(&self, e: &ApiError, keep_alive: bool) -> Vec<u8> {
        e.to_response(keep_alive)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatePatch {
    #[serde(default, with = "double_option")]
    max_upload_rate: Option<Option<u64>>,
    #[serde(default, with = "double_option")]
    max_download_rate: Option<Option<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionPatch {
    limits: Option<RatePatch>,
}

/// `null` is "unset", absence is "unchanged".
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

fn body_json<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, ApiError> {
    serde_json::from_slice(&req.body).map_err(|e| ApiError::bad(format!("bad JSON body: {e}")))
}

fn list(api: &mut ApiService, engine: &Engine, query: &str) -> Result<Vec<u8>, ApiError> {
    if let Some(body) = api.cached_list(query) {
        return Ok(body.to_vec());
    }
    let (mut state, mut label, mut limit, mut offset) = (None, None, usize::MAX, 0usize);
    for (k, v) in query_pairs(query)? {
        match k.as_str() {
            "state" => state = Some(v),
            "label" => label = Some(v),
            "limit" => {
                limit = v
                    .parse()
                    .map_err(|_| ApiError::bad("limit must be a number"))?
            }
            "offset" => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError::bad("offset must be a number"))?
            }
            _ => return Err(ApiError::bad(format!("unknown query parameter {k}"))),
        }
    }
    let fresh = api.fresh(engine);
    let (snapshot, entries) = (fresh.snapshot(), &fresh.entries);
    let mut rows: Vec<(&TorrentView, &Entry)> = snapshot
        .torrents
        .iter()
        .filter_map(|v| entries.get(&v.info_hash).map(|e| (v, e)))
        .filter(|(v, e)| state.as_deref().is_none_or(|s| state_name(v, e) == s))
        .filter(|(_, e)| {
            label
                .as_deref()
                .is_none_or(|l| e.record.labels.iter().any(|x| x == l))
        })
        .collect();
    rows.sort_by(|a, b| (a.1.record.added_at, &a.0.name).cmp(&(b.1.record.added_at, &b.0.name)));
    let objects: Vec<TorrentObject> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(v, e)| torrent_object(v, e))
        .collect();
    // About 470 bytes an object: one allocation, no regrowth for 10,000 of them.
    let mut body = Vec::with_capacity(objects.len() * 512 + 2);
    serde_json::to_writer(&mut body, &objects)
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    api.keep_list(query, body.clone());
    Ok(body)
}

fn session(api: &mut ApiService, engine: &Engine) -> Value {
    let api = api.fresh(engine);
    let (snapshot, t) = (api.snapshot(), api.totals());
    let by_state: serde_json::Map<String, Value> = t
        .by_state
        .iter()
        .map(|&(s, n)| (s.to_owned(), n.into()))
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "download_rate": t.down_rate,
        "upload_rate": t.up_rate,
        "downloaded": t.downloaded,
        "uploaded": t.uploaded,
        "torrents": api.entries.len(),
        "by_state": by_state,
        "peers": t.peers,
        "connections": snapshot.connections,
        "disk_queue": snapshot.jobs_waiting,
        "dht": snapshot.dht.map(|d| json!({
            "nodes": d.nodes,
            "good_nodes": d.good_nodes,
            "lookups": d.lookups,
            "lookups_done": d.lookups_done,
            "peers_found": d.peers_found,
            "queries_answered": d.counters.queries_answered,
            "rate_limited": d.counters.rate_limited,
            "malformed": d.counters.malformed,
            "timeouts": d.counters.timeouts,
            "announces_stored": d.counters.announces_stored,
        })),
        "limits": {
            "max_upload_rate": engine.config.max_upload_rate,
            "max_download_rate": engine.config.max_download_rate,
            "max_connections": engine.config.max_peers,
        },
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AddBody {
    torrent_path: Option<PathBuf>,
    magnet: Option<String>,
    create_from: Option<PathBuf>,
    save_path: Option<PathBuf>,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    limits: TorrentLimits,
    piece_length: Option<u64>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    trackers: Vec<String>,
    comment: Option<String>,
}

fn add(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    conn: HttpConnId,
) -> Result<ApiAnswer, ApiError> {
    let keep_alive = req.head.keep_alive;
    let ctype = req
        .head
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let (source, options) = if ctype.starts_with("application/x-bittorrent") {
        let mut options = AddOptions::default();
        for (k, v) in query_pairs(&req.head.query)? {
            match k.as_str() {
                "save_path" => options.save_path = Some(PathBuf::from(v)),
                "paused" => options.paused = parse_bool("paused", &v)?,
                "labels" => options.labels = split_labels(&v),
                _ => return Err(ApiError::bad(format!("unknown query parameter {k}"))),
            }
        }
        if req.body.is_empty() {
            return Err(ApiError::bad("the body is empty: send the .torrent file"));
        }
        (AddSource::Bytes(req.body.clone()), options)
    } else if ctype.starts_with("application/json") || ctype.is_empty() {
        let body: AddBody = body_json(req)?;
        check_limits(&body.limits)?;
        let options = AddOptions {
            save_path: body.save_path,
            paused: body.paused,
            labels: body.labels,
            limits: body.limits,
            ..AddOptions::default()
        };
        let source = match (body.torrent_path, body.magnet, body.create_from) {
            (Some(p), None, None) => {
                if !p.is_absolute() {
                    return Err(ApiError::bad("torrent_path must be an absolute path"));
                }
                AddSource::Path(p)
            }
            (None, Some(m), None) => AddSource::Magnet(m),
            (None, None, Some(path)) => AddSource::Create(crate::ops::create::CreateOptions {
                path,
                trackers: body.trackers,
                piece_length: body.piece_length,
                private: body.private,
                comment: body.comment,
                source: None,
                web_seeds: Vec::new(),
                no_date: false,
                threads: 1,
            }),
            _ => {
                return Err(ApiError::bad(
                    "give exactly one of torrent_path, magnet and create_from",
                ));
            }
        };
        (source, options)
    } else {
        return Err(ApiError::new(
            400,
            "bad_request",
            format!(
                "unsupported Content-Type {ctype}: send application/x-bittorrent or application/json"
            ),
        ));
    };
    api.start_add(
        engine,
        source,
        options,
        Some(Native::reply(conn, keep_alive)),
        None,
    )?;
    Ok(ApiAnswer::Later)
}

fn parse_bool(what: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(ApiError::bad(format!("{what} must be true or false"))),
    }
}

fn split_labels(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Rates are more than 0 bytes per second and a connection cap at least 1 (`null`
/// is no limit of the torrent's own).
pub(crate) fn check_limits(l: &TorrentLimits) -> Result<(), ApiError> {
    for (key, rate) in [
        ("max_upload_rate", l.max_upload_rate),
        ("max_download_rate", l.max_download_rate),
    ] {
        if rate == Some(0) {
            return Err(ApiError::bad(format!(
                "{key} must be more than 0 bytes per second, or null for no limit"
            )));
        }
    }
    if l.max_connections == Some(0) {
        return Err(ApiError::bad(
            "max_connections must be at least 1, or null for no limit",
        ));
    }
    if l.ratio_limit.is_some_and(|r| !(r >= 0.0 && r.is_finite())) {
        return Err(ApiError::bad("ratio_limit must be a number of 0 or more"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TorrentPatch {
    limits: Option<LimitsPatch>,
    labels: Option<Vec<String>>,
    save_path: Option<PathBuf>,
}

/// A torrent's limits in a PATCH: an absent key is unchanged, `null` clears it (as
/// `hivebt ctl set` sends them: only the flags given).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsPatch {
    #[serde(default, with = "double_option")]
    max_upload_rate: Option<Option<u64>>,
    #[serde(default, with = "double_option")]
    max_download_rate: Option<Option<u64>>,
    #[serde(default, with = "double_option")]
    max_connections: Option<Option<u32>>,
    #[serde(default, with = "double_option")]
    ratio_limit: Option<Option<f64>>,
    #[serde(default, with = "double_option")]
    seed_time_limit: Option<Option<u64>>,
}

impl LimitsPatch {
    /// `limits` with the keys given changed.
    fn applied_to(self, limits: &TorrentLimits) -> TorrentLimits {
        fn or<T>(patch: Option<Option<T>>, old: Option<T>) -> Option<T> {
            patch.unwrap_or(old)
        }
        TorrentLimits {
            max_upload_rate: or(self.max_upload_rate, limits.max_upload_rate),
            max_download_rate: or(self.max_download_rate, limits.max_download_rate),
            max_connections: or(self.max_connections, limits.max_connections),
            ratio_limit: or(self.ratio_limit, limits.ratio_limit),
            seed_time_limit: or(self.seed_time_limit, limits.seed_time_limit),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn one_torrent(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    hash: InfoHash,
    id: TorrentId,
    rest: &[&str],
    conn: HttpConnId,
    now: Instant,
) -> Result<ApiAnswer, ApiError> {
    let keep_alive = req.head.keep_alive;
    let reply = Native::reply(conn, keep_alive);
    let method = req.head.method.as_str();
    let object =
        |api: &ApiService, engine: &Engine| api.torrent_json(engine, &hash).unwrap_or(Value::Null);
    let ok = |v: &Value| Ok(ApiAnswer::Now(json_response(200, v, "", keep_alive)));
    match (method, rest) {
        ("GET", []) => ok(&object(api, engine)),
        ("GET", ["files"]) => {
            let files = engine.files(id).unwrap_or_default();
            ok(&Value::Array(
                files
                    .iter()
                    .map(|f| json!({"path": f.path, "size": f.size, "progress": if f.size == 0 { 1.0 } else { f.done as f64 / f.size as f64 }}))
                    .collect(),
            ))
        }
        ("GET", ["pieces"]) => {
            let states = engine.piece_states(id).unwrap_or_default();
            ok(&json!({"pieces": states.len(), "states": String::from_utf8_lossy(&states)}))
        }
        ("GET", ["peers"]) => {
            let peers = engine.peers_of(id).unwrap_or_default();
            ok(&Value::Array(
                peers
                    .iter()
                    .map(|p| json!({"address": p.addr.to_string(), "client": p.client, "flags": p.flags, "download_rate": p.down_rate, "upload_rate": p.up_rate, "progress": p.progress}))
                    .collect(),
            ))
        }
        ("GET", ["trackers"]) => {
            let trackers = engine.trackers_of(id, now).unwrap_or_default();
            ok(&Value::Array(
                trackers
                    .iter()
                    .map(|t| json!({"url": t.url, "tier": t.tier, "status": t.state.as_str(), "last_error": t.last_error, "next_announce": t.next_announce.map(|d| d.as_secs()), "seeders": t.seeders, "leechers": t.leechers, "peers_received": t.peers_received}))
                    .collect(),
            ))
        }
        ("PATCH", []) => {
            let patch: TorrentPatch = body_json(req)?;
            if patch.save_path.is_some() {
                return Err(ApiError::bad(
                    "moving a torrent's data is not supported yet",
                ));
            }
            if let (Some(l), Some(entry)) = (patch.limits, api.entries.get(&hash)) {
                let limits = l.applied_to(&entry.record.limits);
                api.set_limits(engine, &hash, limits, now)?;
            }
            if let (Some(labels), Some(entry)) = (patch.labels, api.entries.get_mut(&hash)) {
                entry.record.labels = labels;
            }
            let answer = json_response(200, &object(api, engine), "", keep_alive);
            api.persist(engine, hash, Some(reply), answer);
            Ok(ApiAnswer::Later)
        }
        ("POST", ["pause" | "resume" | "recheck" | "reannounce"]) => {
            let action = rest[0];
            match action {
                "pause" | "resume" => api.set_paused(engine, &hash, id, action == "pause", now),
                "recheck" => ApiService::recheck(engine, id, now)?,
                _ => ApiService::reannounce(engine, id, now)?,
            }
            let answer = json_response(200, &object(api, engine), "", keep_alive);
            if matches!(action, "pause" | "resume") {
                api.persist(engine, hash, Some(reply), answer);
                return Ok(ApiAnswer::Later);
            }
            Ok(ApiAnswer::Now(answer))
        }
        ("DELETE", []) => {
            let mut delete_data = false;
            for (k, v) in query_pairs(&req.head.query)? {
                match k.as_str() {
                    "delete_data" => delete_data = parse_bool("delete_data", &v)?,
                    _ => return Err(ApiError::bad(format!("unknown query parameter {k}"))),
                }
            }
            let answer = json_response(200, &json!({"removed": hash.to_hex()}), "", keep_alive);
            api.remove(engine, hash, id, delete_data, Some(reply), answer);
            Ok(ApiAnswer::Later)
        }
        (
            _,
            []
            | [
                "pause" | "resume" | "recheck" | "reannounce" | "files" | "pieces" | "peers"
                | "trackers",
            ],
        ) => Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed here"),
        )),
        _ => Err(ApiError::not_found("no such path")),
    }
}
