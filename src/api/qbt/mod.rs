//! The qBittorrent Web API v2 (`/api/v2/...`), so tools written for qBittorrent
//! (Sonarr, Radarr, autobrr, cross-seed, qbit_manage, the `qbittorrent-api` Python
//! client) drive the daemon unchanged. It reports itself as qBittorrent v5.1.2 (Web
//! API 2.11.4) and answers in its shapes: `Ok.`/`Fails.` as `text/plain`, JSON lists
//! and objects, 403 `Forbidden` without a login, 404 for unknown endpoints and
//! torrents, 400 for a missing or bad parameter, 409 where qBittorrent uses it.
//!
//! - `mod.rs`: routing, credentials (the `SID` cookie is a session of the daemon's
//!   own table, so either cookie name and the bearer token work), parameters (query
//!   string, urlencoded or multipart body: every call also works as a POST), the
//!   categories and tags kept beside the records, and the answers to work that ends
//!   on the workers ([`Qbt`]).
//! - `app`: `app/*`, `transfer/*`, `auth/*`.
//! - `torrents`: the torrent objects, states, filters and the `torrents/*` actions.
//! - `categories`: categories and tags.
//! - `sync`: `sync/maindata` with its per-rid diffs.
//!
//! Depends on the session (`service`), its records and the engine's views. Every
//! change goes through the session's shared methods (adds, pause, remove, writes), so
//! it is durable before it is answered, as through the native API.

mod app;
mod categories;
mod sync;
mod torrents;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::auth::{self, Denied};
use super::service::{ApiAnswer, ApiService, Front, HttpConnId, Reply};
use super::{ApiError, auth_request, json_response, query_pairs, response};
use crate::engine::Engine;
use crate::types::{InfoHash, TorrentId};
use crate::wire::form;
use crate::wire::http::Request;

pub(crate) use sync::SyncState;

/// The path space of this front.
pub(crate) const PREFIX: &str = "/api/v2/";
/// What `app/version` says.
const APP_VERSION: &str = "v5.1.2";
/// What `app/webapiVersion` says.
const WEBAPI_VERSION: &str = "2.11.4";
/// The file holding the categories and tags, in the state directory.
const STATE_FILE: &str = "qbittorrent.json";
/// Longest category or tag name accepted.
const MAX_NAME: usize = 256;
/// Most categories, and most tags, kept.
const MAX_NAMES: usize = 10_000;

/// qBittorrent's content type for text answers (autobrr refuses others for `Ok.`).
const TEXT: &str = "text/plain; charset=UTF-8";

/// Whether `path` only reads (a POST to it changes nothing), so the session's views
/// stay current for the next poll.
pub(crate) fn is_read(path: &str) -> bool {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    matches!(
        rest,
        "app/version"
            | "app/webapiVersion"
            | "app/buildInfo"
            | "app/preferences"
            | "app/defaultSavePath"
            | "transfer/info"
            | "transfer/speedLimitsMode"
            | "transfer/uploadLimit"
            | "transfer/downloadLimit"
            | "sync/maindata"
            | "torrents/info"
            | "torrents/properties"
            | "torrents/files"
            | "torrents/trackers"
            | "torrents/pieceStates"
            | "torrents/pieceHashes"
            | "torrents/categories"
            | "torrents/tags"
            | "torrents/uploadLimit"
            | "torrents/downloadLimit"
            | "torrents/count"
    )
}

/// One category: where its torrents are saved by default (empty: the daemon's data
/// directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Category {
    #[serde(rename = "savePath", default)]
    pub save_path: String,
}

/// What this front keeps beside the records: the categories with their save paths
/// and the tags created (a torrent's tags are its record's labels), written together
/// to [`STATE_FILE`], and the `sync/maindata` history.
#[derive(Debug, Default)]
pub(crate) struct QbtState {
    pub categories: BTreeMap<String, Category>,
    pub tags: BTreeSet<String>,
    pub sync: SyncState,
}

/// The stored form of [`QbtState`].
#[derive(Serialize, Deserialize, Default)]
struct StateFile {
    #[serde(default)]
    categories: BTreeMap<String, Category>,
    #[serde(default)]
    tags: BTreeSet<String>,
}

impl QbtState {
    /// The state kept in `state_dir` (none when the file is missing; a damaged one is
    /// reported and left for the operator, starting empty).
    pub(crate) fn load(state_dir: &Path) -> QbtState {
        let path = state_dir.join(STATE_FILE);
        let file: StateFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!("{}: {e}; starting without categories", path.display());
                StateFile::default()
            }),
            Err(_) => StateFile::default(),
        };
        QbtState {
            categories: file.categories,
            tags: file.tags,
            sync: SyncState::default(),
        }
    }

    /// The state file's path and bytes, to write.
    fn file(&self, state_dir: &Path) -> (PathBuf, Vec<u8>) {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            categories: &'a BTreeMap<String, Category>,
            tags: &'a BTreeSet<String>,
        }
        let bytes = serde_json::to_vec_pretty(&Borrowed {
            categories: &self.categories,
            tags: &self.tags,
        })
        .unwrap_or_default();
        (state_dir.join(STATE_FILE), bytes)
    }
}

/// A request's parameters: query string, then the form body (urlencoded or
/// multipart), and the files of a multipart body.
pub(crate) struct Params<'a> {
    fields: Vec<(String, String)>,
    files: Vec<(String, &'a [u8])>,
}

impl<'a> Params<'a> {
    fn of(req: &'a Request) -> Result<Params<'a>, ApiError> {
        let mut fields = query_pairs(&req.head.query)?;
        let mut files = Vec::new();
        let ctype = req.head.header("content-type").unwrap_or("");
        if let Some(b) = form::boundary(ctype) {
            let parts = form::parse(&req.body, b).map_err(|e| ApiError::bad(e.to_string()))?;
            for p in parts {
                match p.filename {
                    Some(name) => files.push((name, p.data)),
                    None => {
                        let v = String::from_utf8(p.data.to_vec()).map_err(|_| {
                            ApiError::bad(format!("parameter {} is not UTF-8", p.name))
                        })?;
                        fields.push((p.name, v));
                    }
                }
            }
        } else if !req.body.is_empty() {
            let body = std::str::from_utf8(&req.body)
                .map_err(|_| ApiError::bad("the form body is not UTF-8"))?;
            fields.extend(query_pairs(body.trim())?);
        }
        Ok(Params { fields, files })
    }

    /// The last value of `key`, as qBittorrent takes it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key`, or 400 naming it.
    pub(crate) fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::bad(format!("Missing required parameters: {key}")))
    }

    /// `key` as qBittorrent reads a boolean (`true`, else false).
    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `key` as a number; a value that is not one is 400.
    pub(crate) fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::bad(format!("{key} must be a number")))
            })
            .transpose()
    }
}

/// What a handler answers: a response now, or later from the workers.
pub(crate) type Handled = Result<ApiAnswer, ApiError>;

/// A text answer.
pub(crate) fn text(status: u16, body: &str, keep_alive: bool) -> Vec<u8> {
    response(status, TEXT, "", body.as_bytes(), keep_alive)
}

/// A JSON answer, 200.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T, keep_alive: bool) -> Handled {
    Ok(ApiAnswer::Now(json_response(200, value, "", keep_alive)))
}

/// The empty 200 qBittorrent answers an action with.
pub(crate) fn done(keep_alive: bool) -> Handled {
    Ok(ApiAnswer::Now(text(200, "", keep_alive)))
}

/// 404 `Not Found`, for an unknown endpoint or torrent.
pub(crate) fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

/// 409 with qBittorrent's message.
pub(crate) fn conflict(message: &str) -> ApiError {
    ApiError::new(409, "conflict", message)
}

/// The torrents `hashes` names (`|`-separated hex, or `all`) that are in the
/// session; unknown and malformed ones are left out, as qBittorrent does.
pub(crate) fn pick(api: &ApiService, engine: &Engine, hashes: &str) -> Vec<(InfoHash, TorrentId)> {
    if hashes.trim() == "all" {
        let mut all: Vec<_> = api
            .entries
            .keys()
            .filter_map(|h| engine.find(h).map(|id| (*h, id)))
            .collect();
        all.sort_by_key(|(h, _)| h.0);
        return all;
    }
    let mut out = Vec::new();
    for h in hashes.split('|') {
        if let Some(hash) = InfoHash::from_hex(h.trim()) {
            if let Some(id) = engine
                .find(&hash)
                .filter(|_| api.entries.contains_key(&hash))
            {
                if !out.iter().any(|(x, _)| *x == hash) {
                    out.push((hash, id));
                }
            }
        }
    }
    out
}

/// The one torrent of the `hash` parameter; 404 when it is not in the session.
pub(crate) fn one(
    api: &ApiService,
    engine: &Engine,
    params: &Params<'_>,
) -> Result<(InfoHash, TorrentId), ApiError> {
    let h = params.require("hash")?;
    let hash = InfoHash::from_hex(h.trim()).ok_or_else(not_found)?;
    let id = engine
        .find(&hash)
        .filter(|_| api.entries.contains_key(&hash))
        .ok_or_else(not_found)?;
    Ok((hash, id))
}

/// Handles one request under [`PREFIX`].
pub(crate) fn route(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    peer: SocketAddr,
    conn: HttpConnId,
    now: Instant,
) -> ApiAnswer {
    let keep_alive = req.head.keep_alive;
    if let Err(d) = api.auth.check(&auth_request(&req.head, peer), now) {
        let (status, body) = denied(d);
        return ApiAnswer::Now(text(status, body, keep_alive));
    }
    let answer = Params::of(req).and_then(|params| {
        let call = Call {
            req,
            params,
            conn,
            peer,
            now,
        };
        dispatch(api, engine, &call)
    });
    answer.unwrap_or_else(|e| ApiAnswer::Now(QBT.error(&e, keep_alive)))
}

/// One request, its parameters and where to answer.
pub(crate) struct Call<'a> {
    pub req: &'a Request,
    pub params: Params<'a>,
    pub conn: HttpConnId,
    pub peer: SocketAddr,
    pub now: Instant,
}

impl Call<'_> {
    pub(crate) fn keep_alive(&self) -> bool {
        self.req.head.keep_alive
    }

    /// Where a worker's answer goes, in plain qBittorrent shapes.
    pub(crate) fn reply(&self) -> Reply {
        Reply {
            conn: self.conn,
            keep_alive: self.keep_alive(),
            front: &QBT,
        }
    }
}

fn dispatch(api: &mut ApiService, engine: &mut Engine, call: &Call<'_>) -> Handled {
    let path = call.req.head.path.as_str();
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let method = call.req.head.method.as_str();
    let read = is_read(path);
    if !matches!(method, "GET" | "HEAD" | "POST") || (!read && method != "POST") {
        // qBittorrent 5 takes changes as POST only; reads either way.
        if known(rest) || read {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                "Method Not Allowed",
            ));
        }
        return Err(not_found());
    }
    if !read && api.shutting_down && !rest.starts_with("auth/") {
        return Err(ApiError::new(
            503,
            "shutting_down",
            "the daemon is stopping",
        ));
    }
    let (space, name) = rest.split_once('/').unwrap_or((rest, ""));
    match space {
        "auth" | "app" | "transfer" => app::handle(api, engine, call, space, name),
        "torrents" => match name {
            "categories" | "createCategory" | "editCategory" | "removeCategories"
            | "setCategory" | "tags" | "createTags" | "deleteTags" | "addTags" | "removeTags" => {
                categories::handle(api, engine, call, name)
            }
            _ => torrents::handle(api, engine, call, name),
        },
        "sync" if name == "maindata" => sync::maindata(api, engine, call),
        _ => Err(not_found()),
    }
}

/// Whether `rest` (the path after [`PREFIX`]) is a changing endpoint this front has.
fn known(rest: &str) -> bool {
    app::ENDPOINTS.contains(&rest)
        || rest
            .strip_prefix("torrents/")
            .is_some_and(|n| torrents::ACTIONS.contains(&n) || categories::ENDPOINTS.contains(&n))
}

/// The answers of this front to work that ends on the workers, and its errors: the
/// text of the error, with its status (a refused login or credentials as
/// qBittorrent: `Fails.`, 403 `Forbidden`). For an add ([`QBT_ADD`]) whatever stops
/// it after it was accepted is `Fails.`, as qBittorrent answers an add that added
/// nothing.
pub(crate) struct Qbt {
    add: bool,
}

/// The front for everything but adds.
pub(crate) static QBT: Qbt = Qbt { add: false };
/// The front for adds.
pub(crate) static QBT_ADD: Qbt = Qbt { add: true };

impl Front for Qbt {
    fn added(
        &self,
        _api: &ApiService,
        _engine: &Engine,
        _hash: &InfoHash,
        _torrent: Option<&[u8]>,
        keep_alive: bool,
    ) -> Vec<u8> {
        text(200, "Ok.", keep_alive)
    }

    fn logged_in(
        &self,
        api: &ApiService,
        result: Result<String, Denied>,
        keep_alive: bool,
    ) -> Vec<u8> {
        match result {
            Ok(sid) => {
                let cookie = format!(
                    "Set-Cookie: {}={sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}\r\n",
                    auth::QBT_COOKIE,
                    api.auth.session_ttl().as_secs()
                );
                response(200, TEXT, &cookie, b"Ok.", keep_alive)
            }
            Err(Denied::Unauthorized) => text(200, "Fails.", keep_alive),
            Err(d) => {
                let (status, body) = denied(d);
                text(status, body, keep_alive)
            }
        }
    }

    fn error(&self, e: &ApiError, keep_alive: bool) -> Vec<u8> {
        if self.add && e.status < 500 {
            log::info!("qBittorrent API add: {}", e.message);
            return text(200, "Fails.", keep_alive);
        }
        if e.code == "locked_out" {
            let (status, body) = denied(Denied::LockedOut);
            return text(status, body, keep_alive);
        }
        text(e.status, &e.message, keep_alive)
    }
}

/// qBittorrent's status and text for a refusal: 401 for a foreign `Host` or a
/// cross-site request, 403 without credentials or from a banned address.
fn denied(d: Denied) -> (u16, &'static str) {
    match d {
        Denied::BadHost | Denied::CrossOrigin => (401, "Unauthorized"),
        Denied::Unauthorized => (403, "Forbidden"),
        Denied::LockedOut => (
            403,
            "Your IP address has been banned after too many failed authentication attempts.",
        ),
    }
}

/// Checks a category or tag name as qBittorrent does (no empty one, no control
/// characters, bounded); tags may not hold a comma, categories may hold `/` between
/// non-empty parts (subcategories).
pub(crate) fn valid_name(name: &str, tag: bool) -> bool {
    !name.trim().is_empty()
        && name.len() <= MAX_NAME
        && !name.chars().any(char::is_control)
        && if tag {
            !name.contains(',')
        } else {
            !name.starts_with('/')
                && !name.ends_with('/')
                && !name.contains("//")
                && !name.contains('\\')
        }
}

#[cfg(test)]
mod tests;
