//! Transmission's RPC (`POST /transmission/rpc`, protocol version 17, as
//! Transmission 4.0 speaks it), so that `transmission-remote` and the tools written
//! for Transmission (Sonarr, Radarr, autobrr, FlexGet) drive the daemon unchanged.
//! A sans-io translator like the native API: requests in, [`ApiAnswer`]s out, the
//! session's own calls ([`ApiService::start_add`], `persist`, `remove`, ...) for
//! every change.
//!
//! - `basic`: the `Authorization` header (HTTP Basic or the API token) and base64.
//! - `ids`: Transmission's small torrent ids and the `ids` argument.
//! - `fields`: `torrent-get`'s fields and their serializer.
//! - `session`: `session-get`, `session-set`, `session-stats`.
//! - `torrents`: the torrent methods.
//!
//! # Who may call
//!
//! In order, as Transmission checks them:
//!
//! 1. The `Host` check of the native API (against DNS rebinding), answered 403.
//! 2. With a password set, `Authorization: Basic` with any user name and the
//!    daemon's password, or `Authorization: Bearer` with the API token; else 401
//!    with `WWW-Authenticate: Basic realm="Transmission"`. The password hash is slow
//!    on purpose, so a credential not seen before is verified on a worker (counting
//!    toward the login lockout like a login) and answered 409 with the session id
//!    once right: every Transmission client resends on 409, and the resend finds the
//!    credential remembered ([`crate::api::auth::Credentials`]: its SHA-256, for the
//!    session lifetime). A wrong one is 401; a locked-out address 429.
//! 3. `X-Transmission-Session-Id` must be this run's id (64 random hex digits, new
//!    at every start); else 409 carrying the id, which clients repeat from then on.
//!
//! The session id is the defence against cross-site request forgery, as in
//! Transmission, and it replaces the native API's `Origin` check here: a page on
//! another site can send a simple POST but cannot read the 409's header to learn the
//! id (the same-origin policy; no CORS headers are sent), and cannot send the header
//! without a CORS preflight that is never granted. DNS rebinding, the way around
//! that, is what the `Host` check stops. The `Origin` check is left out because
//! Transmission has none and callers that send a foreign `Origin` are real users of
//! this API (browser extensions that add torrents send `chrome-extension://...`).
//!
//! # Answers
//!
//! `{"arguments": {...}, "result": "success", "tag": N}` with HTTP 200; an error is
//! the same with the message as `result` and empty arguments, also 200, as
//! Transmission does; a body that is not JSON or names no method is
//! `"no method name"`. An integer `tag` is echoed, answers that come later from the
//! workers included.

mod basic;
mod fields;
mod ids;
mod session;
mod torrents;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use self::basic::{Credential, parse_authorization};
use self::ids::TorrentIds;
use super::auth::{self, Credentials, Denied};
use super::service::{ApiAnswer, ApiService, Front, HttpConnId, Reply};
use super::{ApiError, response};
use crate::engine::Engine;
use crate::types::InfoHash;
use crate::wire::http::Request;

/// The RPC protocol version spoken (Transmission 4.0's).
pub(crate) const RPC_VERSION: u32 = 17;
/// The oldest version a client may code to: 14 (Transmission 2.80) is what the
/// answers keep to; clients refuse a server without this field.
pub(crate) const RPC_VERSION_MINIMUM: u32 = 14;
/// Tags of answers still to come, kept per connection; past this many (connections
/// that closed while waiting), they are dropped.
const MAX_TAGS: usize = 256;

/// The `version` of `session-get`: the Transmission release whose RPC this is (tools
/// parse its number), then ours.
pub(crate) fn version() -> String {
    format!("4.0.6 (hivebt {})", env!("CARGO_PKG_VERSION"))
}

/// What the front keeps between requests.
#[derive(Debug)]
pub(crate) struct State {
    /// This run's `X-Transmission-Session-Id`.
    session_id: String,
    /// Torrent ids. In a cell because the answers to adds, written through
    /// [`Front`] with a shared session, number the torrent they announce.
    ids: RefCell<TorrentIds>,
    /// The `tag` of each request answered later, by connection.
    tags: RefCell<HashMap<HttpConnId, i64>>,
    /// Speed settings the engine does not keep.
    speeds: session::Speeds,
}

impl State {
    /// A new run's state: a fresh random session id.
    pub(crate) fn new() -> State {
        State {
            session_id: auth::new_token(),
            ids: RefCell::new(TorrentIds::default()),
            tags: RefCell::new(HashMap::new()),
            speeds: session::Speeds::default(),
        }
    }

    /// Numbers new torrents and forgets removed ones.
    fn sync_ids(&self, api: &ApiService, now: Instant) {
        self.ids
            .borrow_mut()
            .sync(&api.entries, |e| e.record.added_at, now);
    }

    /// Keeps `tag` for the answer that comes later on `conn`.
    fn keep_tag(&self, conn: HttpConnId, tag: Option<i64>) {
        let mut tags = self.tags.borrow_mut();
        if tags.len() >= MAX_TAGS {
            tags.clear();
        }
        match tag {
            Some(t) => tags.insert(conn, t),
            None => tags.remove(&conn),
        };
    }

    fn take_tag(&self, conn: HttpConnId) -> Option<i64> {
        self.tags.borrow_mut().remove(&conn)
    }
}

/// Whether `path` is this front's.
pub(crate) fn owns(path: &str) -> bool {
    matches!(path, "/transmission/rpc" | "/transmission/rpc/")
}

/// The body of an RPC answer.
#[derive(Serialize)]
struct Answer<'a, A: ?Sized> {
    arguments: &'a A,
    result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<i64>,
}

/// The whole answer to an RPC call.
pub(crate) fn rpc_answer<A: Serialize + ?Sized>(
    result: &str,
    arguments: &A,
    tag: Option<i64>,
    keep_alive: bool,
) -> Vec<u8> {
    let body = serde_json::to_vec(&Answer {
        arguments,
        result,
        tag,
    })
    .unwrap_or_else(|_| br#"{"arguments":{},"result":"internal error"}"#.to_vec());
    response(200, JSON, "", &body, keep_alive)
}

/// An error answer: the message as `result`, no arguments.
pub(crate) fn rpc_error(message: &str, tag: Option<i64>, keep_alive: bool) -> Vec<u8> {
    rpc_answer(message, &Map::new(), tag, keep_alive)
}

const JSON: &str = "application/json; charset=UTF-8";
const HTML: &str = "text/html; charset=ISO-8859-1";

/// 409: the client must send (again) with this session id.
fn session_conflict(session_id: &str, keep_alive: bool) -> Vec<u8> {
    let body = format!(
        "<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p>\
         <p>To fix this, follow these steps:<ol><li> When reading a response, get its \
         X-Transmission-Session-Id header and remember it<li> Add the updated header to \
         your outgoing requests<li> When you get this 409 error message, resend your \
         request with the updated header</ol></p><p>This requirement has been added to \
         help prevent <a href=\"https://en.wikipedia.org/wiki/Cross-site_request_forgery\">\
         CSRF</a> attacks.</p><p><code>X-Transmission-Session-Id: {session_id}</code></p>"
    );
    let header = format!("X-Transmission-Session-Id: {session_id}\r\n");
    response(409, HTML, &header, body.as_bytes(), keep_alive)
}

/// A refusal before any RPC is looked at.
fn denied(d: Denied, keep_alive: bool) -> Vec<u8> {
    let status = d.status();
    let (header, body) = match d {
        Denied::Unauthorized => (
            "WWW-Authenticate: Basic realm=\"Transmission\"\r\n",
            "<h1>401: Unauthorized</h1>Unauthorized User".to_string(),
        ),
        _ => ("", format!("<h1>{status}: {d}</h1>")),
    };
    response(status, HTML, header, body.as_bytes(), keep_alive)
}

/// Handles one request on `/transmission/rpc`. See the module docs.
pub(crate) fn route(
    api: &mut ApiService,
    engine: &mut Engine,
    req: &Request,
    peer: SocketAddr,
    conn: HttpConnId,
    now: Instant,
) -> ApiAnswer {
    let head = &req.head;
    let keep_alive = head.keep_alive;
    let reply = Reply {
        conn,
        keep_alive,
        front: &Rpc,
    };
    if !api.auth.host_ok(head.header("host")) {
        return ApiAnswer::Now(denied(Denied::BadHost, keep_alive));
    }
    if api.auth.password_required() {
        let value = head.header("authorization").unwrap_or("");
        match parse_authorization(value) {
            None => return ApiAnswer::Now(denied(Denied::Unauthorized, keep_alive)),
            Some(Credential::Bearer(token)) => {
                if let Err(d) = api.auth.check_token(peer.ip(), token, now) {
                    return ApiAnswer::Now(denied(d, keep_alive));
                }
            }
            Some(Credential::Basic { password }) => {
                let key = Credentials::key(value);
                if !api.auth.credential_known(&key, now) {
                    return match api.start_basic_login(engine, peer.ip(), password, key, reply, now)
                    {
                        Ok(answer) => answer,
                        Err(e) => ApiAnswer::Now(refused(&e, keep_alive)),
                    };
                }
            }
        }
    }
    let id = head.header("x-transmission-session-id").unwrap_or("");
    if !auth::constant_time_eq(id.as_bytes(), api.transmission.session_id.as_bytes()) {
        return ApiAnswer::Now(session_conflict(&api.transmission.session_id, keep_alive));
    }
    if head.method != "POST" {
        let body = b"<h1>405: Method Not Allowed</h1>";
        return ApiAnswer::Now(response(405, HTML, "", body, keep_alive));
    }
    let call: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let tag = call.get("tag").and_then(Value::as_i64);
    let Some(method) = call.get("method").and_then(Value::as_str) else {
        return ApiAnswer::Now(rpc_error("no method name", None, keep_alive));
    };
    let empty = Map::new();
    let args = match call.get("arguments") {
        Some(Value::Object(a)) => a,
        _ => &empty,
    };
    let read_only = matches!(
        method,
        "session-get" | "session-stats" | "torrent-get" | "free-space" | "port-test" | "group-get"
    );
    if api.shutting_down && !read_only {
        return ApiAnswer::Now(rpc_error("the daemon is stopping", tag, false));
    }
    api.transmission.sync_ids(api, now);
    let mut call = Call {
        api,
        engine,
        args,
        tag,
        reply,
        now,
    };
    let answer = match call.dispatch(method) {
        Ok(answer) => answer,
        Err(message) => ApiAnswer::Now(rpc_error(&message, tag, keep_alive)),
    };
    if !read_only {
        call.api.touch();
    }
    answer
}

/// An error from the session (a busy login queue, a lockout) before any RPC ran.
fn refused(e: &ApiError, keep_alive: bool) -> Vec<u8> {
    let d = match e.status {
        401 => Denied::Unauthorized,
        429 if e.code == "locked_out" => Denied::LockedOut,
        _ => {
            let body = format!("<h1>{}: {}</h1>", e.status, e.message);
            return response(e.status, HTML, "", body.as_bytes(), keep_alive);
        }
    };
    denied(d, keep_alive)
}

/// One RPC call being handled.
pub(crate) struct Call<'a> {
    pub api: &'a mut ApiService,
    pub engine: &'a mut Engine,
    pub args: &'a Map<String, Value>,
    pub tag: Option<i64>,
    pub reply: Reply,
    pub now: Instant,
}

/// A call's outcome: the answer, or the error message that becomes `result`.
pub(crate) type Outcome = Result<ApiAnswer, String>;

/// Argument `key` as a whole number, if given.
fn arg_u64(args: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    args.get(key)
        .map(|v| v.as_u64().ok_or(format!("{key} must be a whole number")))
        .transpose()
}

/// Argument `key` as a boolean, if given.
fn arg_bool(args: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    args.get(key)
        .map(|v| v.as_bool().ok_or(format!("{key} must be true or false")))
        .transpose()
}

/// Argument `seedRatioLimit`, if given: a ratio of 0 or more.
fn arg_ratio(args: &Map<String, Value>) -> Result<Option<f64>, String> {
    match args.get("seedRatioLimit").map(Value::as_f64) {
        None => Ok(None),
        Some(Some(r)) if r >= 0.0 && r.is_finite() => Ok(Some(r)),
        Some(_) => Err("seedRatioLimit must be a number of 0 or more".into()),
    }
}

impl Call<'_> {
    fn dispatch(&mut self, method: &str) -> Outcome {
        match method {
            "session-get" => {
                let args = session::get(self.api, self.engine, self.args.get("fields"));
                self.success(&args)
            }
            "session-set" => {
                session::set(self.api, self.engine, self.args, self.now)?;
                self.success(&Map::new())
            }
            "session-stats" => {
                let stats = session::stats(self.api, self.engine, self.now);
                self.success(&stats)
            }
            "torrent-get" => self.torrent_get(),
            "torrent-add" => self.torrent_add(),
            "torrent-remove" => self.torrent_remove(),
            "torrent-start" | "torrent-start-now" => self.set_paused(false),
            "torrent-stop" => self.set_paused(true),
            "torrent-verify" => self.verify(),
            "torrent-reannounce" => self.reannounce(),
            "torrent-set" => self.torrent_set(),
            "queue-move-top" | "queue-move-up" | "queue-move-down" | "queue-move-bottom" => {
                // Queue order is add order; moving is accepted and changes nothing.
                self.success(&Map::new())
            }
            "free-space" => self.free_space(),
            "port-test" => self.success(&serde_json::json!({"port-is-open": false})),
            "group-get" => self.success(&serde_json::json!({"group": []})),
            "torrent-set-location" => Err("moving a torrent's data is not supported yet".into()),
            "torrent-rename-path" => Err("renaming a torrent's files is not supported".into()),
            "blocklist-update" => Err("blocklists are not supported".into()),
            "session-close" => {
                Err("session-close is not supported: stop the daemon with a signal".into())
            }
            "group-set" => Err("bandwidth groups are not supported".into()),
            _ => Err("method name not recognized".into()),
        }
    }

    /// A success answer now.
    fn success<A: Serialize + ?Sized>(&self, arguments: &A) -> Outcome {
        Ok(ApiAnswer::Now(rpc_answer(
            "success",
            arguments,
            self.tag,
            self.reply.keep_alive,
        )))
    }
}

/// The `torrent-added` / `torrent-duplicate` argument.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddedTorrent<'a> {
    hash_string: String,
    id: ids::RpcId,
    name: &'a str,
}

/// The answer to an add: `key` (`torrent-added` or `torrent-duplicate`) naming it.
fn added_answer(
    api: &ApiService,
    engine: &Engine,
    hash: &InfoHash,
    key: &str,
    tag: Option<i64>,
    keep_alive: bool,
) -> Vec<u8> {
    api.transmission.sync_ids(api, Instant::now());
    let id = api.transmission.ids.borrow().id_of(hash);
    let view = engine.find(hash).and_then(|id| engine.torrent(id));
    let (Some(id), Some(view)) = (id, view) else {
        return rpc_error("the torrent is gone", tag, keep_alive);
    };
    let mut args = Map::new();
    let torrent = AddedTorrent {
        hash_string: hash.to_hex(),
        id,
        name: &view.name,
    };
    args.insert(
        key.to_owned(),
        serde_json::to_value(torrent).unwrap_or(Value::Null),
    );
    rpc_answer("success", &args, tag, keep_alive)
}

/// This front's answers to work finished on the workers.
pub(crate) struct Rpc;

impl Front for Rpc {
    fn added(
        &self,
        api: &ApiService,
        engine: &Engine,
        hash: &InfoHash,
        _torrent: Option<&[u8]>,
        keep_alive: bool,
    ) -> Vec<u8> {
        added_answer(api, engine, hash, "torrent-added", None, keep_alive)
    }

    fn added_to(
        &self,
        api: &ApiService,
        engine: &Engine,
        hash: &InfoHash,
        _torrent: Option<&[u8]>,
        reply: &Reply,
    ) -> Vec<u8> {
        let tag = api.transmission.take_tag(reply.conn);
        added_answer(api, engine, hash, "torrent-added", tag, reply.keep_alive)
    }

    fn duplicate(
        &self,
        api: &ApiService,
        engine: &Engine,
        hash: &InfoHash,
        reply: &Reply,
    ) -> Option<Vec<u8>> {
        let tag = api.transmission.take_tag(reply.conn);
        Some(added_answer(
            api,
            engine,
            hash,
            "torrent-duplicate",
            tag,
            reply.keep_alive,
        ))
    }

    /// A verified credential: 409, so the client sends again, now known. (A login
    /// proper has no place in this protocol.)
    fn logged_in(
        &self,
        api: &ApiService,
        result: Result<String, Denied>,
        keep_alive: bool,
    ) -> Vec<u8> {
        match result {
            Ok(_) => session_conflict(&api.transmission.session_id, keep_alive),
            Err(d) => denied(d, keep_alive),
        }
    }

    fn error(&self, e: &ApiError, keep_alive: bool) -> Vec<u8> {
        rpc_error(&e.message, None, keep_alive)
    }

    fn error_to(&self, api: &ApiService, e: &ApiError, reply: &Reply) -> Vec<u8> {
        let tag = api.transmission.take_tag(reply.conn);
        rpc_error(&e.message, tag, reply.keep_alive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn the_path_is_owned_with_or_without_a_slash() {
        assert!(owns("/transmission/rpc"));
        assert!(owns("/transmission/rpc/"));
        assert!(!owns("/transmission/web/"));
        assert!(!owns("/transmission/rpcx"));
    }

    #[test]
    fn the_409_carries_the_session_id_in_header_and_body() {
        let r = text(&session_conflict("abc123", true));
        assert!(r.starts_with("HTTP/1.1 409 Conflict\r\n"), "{r}");
        assert!(
            r.contains("\r\nX-Transmission-Session-Id: abc123\r\n"),
            "{r}"
        );
        assert!(r.ends_with("<code>X-Transmission-Session-Id: abc123</code></p>"));
        let (a, b) = (State::new(), State::new());
        assert_eq!(a.session_id.len(), 64);
        assert_ne!(a.session_id, b.session_id, "random per run");
    }

    #[test]
    fn refusals_take_transmissions_shapes() {
        let r = text(&denied(Denied::Unauthorized, true));
        assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
        assert!(r.contains("\r\nWWW-Authenticate: Basic realm=\"Transmission\"\r\n"));
        assert!(text(&denied(Denied::LockedOut, true)).starts_with("HTTP/1.1 429 "));
        assert!(text(&denied(Denied::BadHost, true)).starts_with("HTTP/1.1 403 "));
        let busy = ApiError::new(429, "busy", "too many logins at once; try again");
        assert!(text(&refused(&busy, true)).contains("too many logins"));
    }

    #[test]
    fn answers_echo_integer_tags_and_carry_errors_as_results() {
        let r = text(&rpc_error("method name not recognized", Some(3), true));
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.ends_with(r#"{"arguments":{},"result":"method name not recognized","tag":3}"#));
        let r = text(&rpc_answer(
            "success",
            &serde_json::json!({"a": 1}),
            None,
            true,
        ));
        assert!(
            r.ends_with(r#"{"arguments":{"a":1},"result":"success"}"#),
            "{r}"
        );
    }

    #[test]
    fn tags_wait_per_connection_and_stay_bounded() {
        let s = State::new();
        let conn = |slot| HttpConnId { slot, serial: 1 };
        s.keep_tag(conn(1), Some(8));
        s.keep_tag(conn(2), None);
        assert_eq!(s.take_tag(conn(1)), Some(8));
        assert_eq!(s.take_tag(conn(1)), None, "taken once");
        for i in 0..(MAX_TAGS + 5) {
            s.keep_tag(conn(i), Some(i as i64));
        }
        assert!(s.tags.borrow().len() <= MAX_TAGS);
    }
}
