//! The daemon's HTTP API, sans-io: the reactor's HTTP server machine hands each
//! complete request to [`ApiService::on_request`] with the engine, and writes what it
//! answers (at once, later when a worker task is done, or as a server-sent event
//! stream).
//!
//! - [`auth`]: passwords, sessions, tokens, lockout, `Host` and `Origin` checks.
//! - [`service`]: the session (records of every torrent beside the engine's state),
//!   queueing and share limits, the watch folder, pending answers and event streams.
//! - `tasks`: the file work it sends to the workers (adds, data deletion, the
//!   watch folder).
//! - `v1`: the native JSON API, `/api/v1/...` (paths and shapes in the README).
//! - `transmission`: Transmission's RPC, `/transmission/rpc`, for the tools written
//!   for Transmission.
//! - `qbt`: the qBittorrent Web API v2, `/api/v2/...`, for tools made for qBittorrent.
//! - `metrics`: `/metrics` in the Prometheus text format.
//! - `web`: the web page at `/`, its files compiled in.
//!
//! Depends on `engine` (its control seam and views), `wire::http` (the request type)
//! and `workers` (tasks); never on sockets or the reactor.

pub mod auth;
mod metrics;
mod qbt;
pub mod service;
mod tasks;
mod transmission;
mod v1;
mod web;

pub use service::{
    ApiAnswer, ApiOutput, ApiService, ApiSetup, HttpConnId, ReloadFn, Reloaded, ShareAction,
};

use std::borrow::Cow;

/// The states a torrent is reported in, in the order lists of them are shown (see
/// `service::state_name`).
pub const STATES: [&str; 6] = [
    "checking",
    "queued",
    "downloading",
    "seeding",
    "paused",
    "error",
];

use serde::Serialize;

/// The reason phrase of the statuses the API answers with.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A complete response: status, content type, extra header lines (each ending in
/// CRLF) and body. `Cache-Control: no-store` always: nothing here may be cached.
pub(crate) fn response(
    status: u16,
    content_type: &str,
    extra_headers: &str,
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{extra_headers}Connection: {}\r\n\r\n",
        reason(status),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON response.
pub(crate) fn json_response<T: Serialize + ?Sized>(
    status: u16,
    value: &T,
    extra_headers: &str,
    keep_alive: bool,
) -> Vec<u8> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    response(status, "application/json", extra_headers, &body, keep_alive)
}

/// What went wrong with a request, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    /// `{"error": ..., "code": ...}` with its status.
    pub(crate) fn to_response(&self, keep_alive: bool) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            code: &'a str,
        }
        json_response(
            self.status,
            &Body {
                error: &self.message,
                code: self.code,
            },
            "",
            keep_alive,
        )
    }
}

impl From<auth::Denied> for ApiError {
    fn from(denied: auth::Denied) -> ApiError {
        ApiError::new(denied.status(), denied.code(), denied.to_string())
    }
}

/// What the access policy looks at in a request from `peer` with `head`.
pub(crate) fn auth_request(
    head: &crate::wire::http::RequestHead,
    peer: std::net::SocketAddr,
) -> auth::AuthRequest<'_> {
    auth::AuthRequest {
        method: &head.method,
        path: &head.path,
        peer: peer.ip(),
        host: head.header("host"),
        origin: head.header("origin"),
        referer: head.header("referer"),
        cookie: head.header("cookie"),
        authorization: head.header("authorization"),
    }
}

/// The decoded `key=value` pairs of a query string or form body (`+` is a space);
/// a pair with a bad escape is an error naming the key.
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| -> Option<String> {
            let spaced: Cow<'_, str> = if s.contains('+') {
                Cow::Owned(s.replace('+', " "))
            } else {
                Cow::Borrowed(s)
            };
            let bytes = crate::wire::percent::decode(&spaced)?;
            String::from_utf8(bytes.into_owned()).ok()
        };
        let key = decode(k).ok_or_else(|| ApiError::bad("a query key has a bad escape"))?;
        let value =
            decode(v).ok_or_else(|| ApiError::bad(format!("query parameter {key}: bad escape")))?;
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_escapes_and_plus() {
        let q = query_pairs("save_path=%2Fsrv%2Fa+b&paused=true&&labels=tv,hd").unwrap();
        assert_eq!(
            q,
            [
                ("save_path".to_string(), "/srv/a b".to_string()),
                ("paused".into(), "true".into()),
                ("labels".into(), "tv,hd".into())
            ]
        );
        assert!(query_pairs("a=%zz").is_err());
        assert!(query_pairs("a=%ff").is_err(), "not UTF-8");
    }

    #[test]
    fn responses_carry_length_and_connection() {
        let r = String::from_utf8(response(404, "text/plain", "", b"no", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(r.contains("Content-Length: 2\r\n") && r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nno"));
        let e = ApiError::new(409, "conflict", "already \"there\"").to_response(true);
        let body = String::from_utf8(e).unwrap();
        assert!(body.ends_with(r#"{"error":"already \"there\"","code":"conflict"}"#));
    }
}
