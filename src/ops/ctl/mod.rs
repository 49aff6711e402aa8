//! `hivebt ctl`: the remote command line for a running daemon, over the daemon's JSON
//! HTTP API (v1: `/api/v1/torrents`, `/api/v1/session`).
//!
//! - [`http`]: the strict `http://HOST:PORT` URL, request bytes, answer parsing, the
//!   status-to-error mapping and the blocking client.
//! - [`resolve`]: which torrent a `HASH_OR_NAME` argument means.
//! - [`render`]: the `list` table, the `stats` lines and their number formats.
//! - [`units`]: the flag parsers (rates, durations, limits, labels).
//!
//! Depends on `crate::error`, `crate::config`, `crate::progress` and serde; never on the
//! engine: all it knows about the daemon comes over HTTP. A command checks all of its
//! local input (files, paths, flags) before its first request and resolves every
//! `HASH_OR_NAME` before acting on any, so a typo in the third argument changes
//! nothing. Requests then go one at a time, one connection each; the first refusal
//! stops the command with the daemon's message (4xx: exit 2, 5xx: exit 1).

pub mod http;
pub mod render;
pub mod resolve;
pub mod units;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use http::{ApiRequest, Client, DaemonUrl, Method, percent_encode};
use units::Limit;

/// Where the daemon listens unless `--url` or `HIVEBT_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Seconds an exchange may take unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Seconds `add --create` waits by default: the daemon hashes the content first.
pub const CREATE_TIMEOUT_SECS: u64 = 3600;
/// Longest wait for the daemon to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A torrent's states, in the order `stats` lists them.
pub use crate::api::STATES;

/// Everything `hivebt ctl` was told.
#[derive(Debug, Clone)]
pub struct CtlOptions {
    /// `--url` [default: `HIVEBT_URL`, else [`DEFAULT_URL`]].
    pub url: Option<String>,
    /// `--token` [default: `HIVEBT_TOKEN`, else `STATE/api_token` when `state` is given].
    pub token: Option<String>,
    /// `--state DIR`: the daemon's state directory, for its `api_token`.
    pub state: Option<PathBuf>,
    /// Print the daemon's JSON answers instead of text.
    pub json: bool,
    /// Seconds each exchange may take [default: 30, or an hour for `add --create`].
    pub timeout_secs: Option<u64>,
    /// What to do.
    pub command: CtlCommand,
}

/// One `ctl` subcommand.
#[derive(Debug, Clone, PartialEq)]
pub enum CtlCommand {
    /// Add torrents from .torrent files, magnet links or (to create) local paths.
    Add(AddOptions),
    /// List torrents, optionally only those in one state or with one label.
    List {
        /// Only torrents in this state.
        state: Option<String>,
        /// Only torrents with this label.
        label: Option<String>,
    },
    /// Pause, resume, recheck or reannounce torrents.
    Act {
        /// Which.
        action: Action,
        /// `HASH_OR_NAME` arguments.
        targets: Vec<String>,
    },
    /// Remove torrents.
    Remove {
        /// `HASH_OR_NAME` arguments.
        targets: Vec<String>,
        /// Delete the downloaded data too.
        delete_data: bool,
    },
    /// Change one torrent's limits or labels.
    Set {
        /// The `HASH_OR_NAME` argument.
        target: String,
        /// What to change.
        change: Change,
    },
    /// Show the session's totals.
    Stats,
}

/// What `ctl add` sends along with each torrent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddOptions {
    /// .torrent files, magnet links, or paths to create torrents of.
    pub targets: Vec<String>,
    /// Where the daemon puts the content (made absolute here).
    pub save_path: Option<PathBuf>,
    /// Add without starting.
    pub paused: bool,
    /// Labels to give each torrent.
    pub labels: Vec<String>,
    /// `Some` for `--create`: make torrents of the targets, with these options.
    pub create: Option<CreateOptions>,
}

/// The options of a torrent the daemon creates (`add --create`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOptions {
    /// Piece length in bytes [default: the daemon's choice].
    pub piece_length: Option<u64>,
    /// Mark it private (BEP 27).
    pub private: bool,
    /// Tracker URLs.
    pub trackers: Vec<String>,
    /// A comment.
    pub comment: Option<String>,
}

/// The torrent actions that are one `POST` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop transferring.
    Pause,
    /// Start again.
    Resume,
    /// Hash the data on disk again.
    Recheck,
    /// Announce to the trackers now.
    Reannounce,
}

impl Action {
    /// The last path segment of its endpoint.
    fn endpoint(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Recheck => "recheck",
            Action::Reannounce => "reannounce",
        }
    }

    /// What is printed before each torrent acted on.
    fn done(self) -> &'static str {
        match self {
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Recheck => "rechecking",
            Action::Reannounce => "reannounced",
        }
    }
}

/// What `ctl set` changes: only the fields given are sent. A `Limit(None)` clears
/// that limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// Bytes per second up.
    pub max_upload_rate: Option<Limit<u64>>,
    /// Bytes per second down.
    pub max_download_rate: Option<Limit<u64>>,
    /// Connected peers.
    pub max_connections: Option<Limit<u32>>,
    /// Stop seeding at this ratio.
    pub ratio_limit: Option<Limit<f64>>,
    /// Stop seeding after this many seconds.
    pub seed_time_limit: Option<Limit<u64>>,
    /// The torrent's new labels (all of them; empty clears them).
    pub labels: Option<Vec<String>>,
}

impl Change {
    /// The `PATCH` body: `{"limits": {..given..}, "labels": [..]}`.
    fn body(&self) -> Result<Value> {
        let mut limits = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                limits.insert(key.to_string(), v);
            }
        };
        put("max_upload_rate", self.max_upload_rate.map(|l| json!(l.0)));
        put(
            "max_download_rate",
            self.max_download_rate.map(|l| json!(l.0)),
        );
        put("max_connections", self.max_connections.map(|l| json!(l.0)));
        put("ratio_limit", self.ratio_limit.map(|l| json!(l.0)));
        put("seed_time_limit", self.seed_time_limit.map(|l| json!(l.0)));
        let mut body = Map::new();
        if !limits.is_empty() {
            body.insert("limits".into(), Value::Object(limits));
        }
        if let Some(labels) = &self.labels {
            body.insert("labels".into(), json!(labels));
        }
        if body.is_empty() {
            return Err(Error::BadInput(
                "nothing to set: give a limit (--max-upload-rate, --max-download-rate, \
                 --max-connections, --ratio-limit, --seed-time-limit) or labels"
                    .into(),
            ));
        }
        Ok(Value::Object(body))
    }
}

/// A torrent as `GET /api/v1/torrents` lists it: the fields `ctl` shows or matches on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TorrentInfo {
    /// 40 lowercase hex digits (checked before use in a path).
    pub info_hash: String,
    /// Its name.
    pub name: String,
    /// One of [`STATES`] (kept as text: a newer daemon may have more).
    pub state: String,
    /// 0.0 to 1.0.
    pub progress: f64,
    /// Bytes per second.
    pub download_rate: u64,
    /// Bytes per second.
    pub upload_rate: u64,
    /// Connected peers.
    pub peers: u32,
    /// Connected peers that have everything.
    pub seeds: u32,
    /// Uploaded over size.
    pub ratio: f64,
    /// Seconds to completion, when known.
    pub eta: Option<u64>,
}

/// The session totals of `GET /api/v1/session`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionInfo {
    /// The daemon's version.
    pub version: String,
    /// Bytes per second, all torrents.
    pub download_rate: u64,
    /// Bytes per second, all torrents.
    pub upload_rate: u64,
    /// Bytes, all torrents.
    pub downloaded: u64,
    /// Bytes, all torrents.
    pub uploaded: u64,
    /// Torrents in the session.
    pub torrents: u64,
    /// How many are in each state.
    pub by_state: BTreeMap<String, u64>,
    /// Connected peers.
    pub peers: u64,
    /// Disk jobs waiting.
    pub disk_queue: u64,
    /// The session-wide limits.
    #[serde(default)]
    pub limits: SessionLimits,
}

/// The session-wide limits (`None`: unlimited).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SessionLimits {
    /// Bytes per second up.
    pub max_upload_rate: Option<u64>,
    /// Bytes per second down.
    pub max_download_rate: Option<u64>,
    /// Connected peers.
    pub max_connections: Option<u32>,
}

/// A torrent object answered to an add: just what `added NAME HASH` needs.
#[derive(Deserialize)]
struct Named {
    info_hash: String,
    name: String,
}

/// Runs one `ctl` command, printing to `out`.
pub fn run(opts: CtlOptions, out: &mut dyn Write) -> Result<()> {
    let client = client(
        opts.url,
        env_var("HIVEBT_URL"),
        opts.token,
        env_var("HIVEBT_TOKEN"),
        opts.state.as_deref(),
    )?;
    let width = match opts.command {
        CtlCommand::List { .. } => terminal_width(),
        _ => None,
    };
    let mut ctl = Ctl::new(client, opts.json, opts.timeout_secs, width, out);
    ctl.run(opts.command)
}

/// A set, non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The client for the daemon the options and environment name: the URL from `--url`,
/// else `HIVEBT_URL`, else [`DEFAULT_URL`]; the token from `--token`, else
/// `HIVEBT_TOKEN`, else `STATE/api_token` when `--state` is given.
fn client(
    url: Option<String>,
    url_env: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
    state: Option<&Path>,
) -> Result<Client> {
    let url = url.or(url_env).unwrap_or_else(|| DEFAULT_URL.to_string());
    let url = DaemonUrl::parse(url.trim()).map_err(Error::BadInput)?;
    let token = match (token.or(token_env), state) {
        (Some(token), _) => Some(token),
        (None, Some(dir)) => {
            let path = dir.join("api_token");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io("cannot read the API token from", &path, e))?;
            Some(text)
        }
        (None, None) => None,
    };
    let token = token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if token
        .as_deref()
        .is_some_and(|t| t.chars().any(|c| c.is_control() || c == ' '))
    {
        return Err(Error::BadInput(
            "the API token contains spaces or control characters".into(),
        ));
    }
    Ok(Client {
        url,
        token,
        connect_timeout: CONNECT_TIMEOUT,
    })
}

/// Columns of the terminal on standard output: `COLUMNS`, else the terminal's own
/// size; `None` when it is not a terminal (a pipe gets whole names).
fn terminal_width() -> Option<usize> {
    if let Some(cols) = env_var("COLUMNS").and_then(|c| c.trim().parse().ok()) {
        return Some(cols).filter(|&c| c > 0);
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at a
    // live, properly aligned `winsize` for the whole call; it fails on a non-terminal.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// One command's run: the client, how to print, and where.
struct Ctl<'a> {
    client: Client,
    json: bool,
    /// Each exchange's deadline.
    timeout: Duration,
    /// The deadline of an `add --create` exchange.
    create_timeout: Duration,
    /// The terminal's width, for `list`.
    width: Option<usize>,
    out: &'a mut dyn Write,
}

impl<'a> Ctl<'a> {
    fn new(
        client: Client,
        json: bool,
        timeout_secs: Option<u64>,
        width: Option<usize>,
        out: &'a mut dyn Write,
    ) -> Ctl<'a> {
        Ctl {
            client,
            json,
            timeout: Duration::from_secs(timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
            create_timeout: Duration::from_secs(timeout_secs.unwrap_or(CREATE_TIMEOUT_SECS)),
            width,
            out,
        }
    }

    fn run(&mut self, command: CtlCommand) -> Result<()> {
        match command {
            CtlCommand::Add(opts) => self.add(&opts),
            CtlCommand::List { state, label } => self.list(state.as_deref(), label.as_deref()),
            CtlCommand::Act { action, targets } => self.act(action, &targets),
            CtlCommand::Remove {
                targets,
                delete_data,
            } => self.remove(&targets, delete_data),
            CtlCommand::Set { target, change } => self.set(&target, &change),
            CtlCommand::Stats => self.stats(),
        }
    }

    /// `POST /api/v1/torrents` once per target; prints `added NAME HASH` for each.
    fn add(&mut self, opts: &AddOptions) -> Result<()> {
        let requests = add_requests(opts)?;
        let timeout = match opts.create {
            Some(_) => self.create_timeout,
            None => self.timeout,
        };
        for request in &requests {
            let body = self.client.call(request, timeout)?;
            if self.json {
                self.print_raw(&body)?;
            } else {
                let added: Named = decode(&body, "an add")?;
                self.print(&format!(
                    "added {} {}",
                    render::printable(&added.name),
                    render::printable(&added.info_hash)
                ))?;
            }
        }
        Ok(())
    }

    /// `GET /api/v1/torrents[?state=S&label=L]`, as a table.
    fn list(&mut self, state: Option<&str>, label: Option<&str>) -> Result<()> {
        let body = self
            .client
            .call(&ApiRequest::get(list_target(state, label)), self.timeout)?;
        if self.json {
            return self.print_raw(&body);
        }
        let torrents: Vec<TorrentInfo> = decode(&body, "the torrent list")?;
        let table = render::list_table(&torrents, self.width);
        self.write(table.as_bytes())
    }

    /// Every torrent, with each hash checked fit for a path.
    fn torrents(&mut self) -> Result<Vec<TorrentInfo>> {
        let body = self
            .client
            .call(&ApiRequest::get("/api/v1/torrents"), self.timeout)?;
        let torrents: Vec<TorrentInfo> = decode(&body, "the torrent list")?;
        if let Some(bad) = torrents.iter().find(|t| !is_info_hash(&t.info_hash)) {
            return Err(Error::Failed(format!(
                "the daemon listed a torrent with a malformed info-hash '{}'",
                render::printable(&bad.info_hash)
            )));
        }
        Ok(torrents)
    }

    /// Resolves every target, then `POST /api/v1/torrents/{hash}/{action}` for each.
    fn act(&mut self, action: Action, targets: &[String]) -> Result<()> {
        let torrents = self.torrents()?;
        for t in resolve::resolve_all(targets, &torrents)? {
            let target = format!("/api/v1/torrents/{}/{}", t.info_hash, action.endpoint());
            let body = self
                .client
                .call(&ApiRequest::post_empty(target), self.timeout)?;
            self.report(&body, action.done(), t)?;
        }
        Ok(())
    }

    /// Resolves every target, then `DELETE /api/v1/torrents/{hash}[?delete_data=true]`.
    fn remove(&mut self, targets: &[String], delete_data: bool) -> Result<()> {
        let torrents = self.torrents()?;
        for t in resolve::resolve_all(targets, &torrents)? {
            let query = if delete_data { "?delete_data=true" } else { "" };
            let target = format!("/api/v1/torrents/{}{query}", t.info_hash);
            let body = self
                .client
                .call(&ApiRequest::delete(target), self.timeout)?;
            self.report(&body, "removed", t)?;
        }
        Ok(())
    }

    /// `PATCH /api/v1/torrents/{hash}` with the given limits and labels.
    fn set(&mut self, target: &str, change: &Change) -> Result<()> {
        let patch = change.body()?;
        let torrents = self.torrents()?;
        let t = resolve::resolve(target, &torrents)?;
        let path = format!("/api/v1/torrents/{}", t.info_hash);
        let request = ApiRequest::json(Method::Patch, path, &patch);
        let body = self.client.call(&request, self.timeout)?;
        self.report(&body, "updated", t)
    }

    /// `GET /api/v1/session`, as `key: value` lines.
    fn stats(&mut self) -> Result<()> {
        let body = self
            .client
            .call(&ApiRequest::get("/api/v1/session"), self.timeout)?;
        if self.json {
            return self.print_raw(&body);
        }
        let session: SessionInfo = decode(&body, "the session")?;
        self.write(render::stats_text(&session).as_bytes())
    }

    /// After an action on `t`: the answer (`--json`) or `DONE NAME HASH`.
    fn report(&mut self, body: &[u8], done: &str, t: &TorrentInfo) -> Result<()> {
        if self.json {
            return self.print_raw(body);
        }
        let line = format!("{done} {} {}", render::printable(&t.name), t.info_hash);
        self.print(&line)
    }

    /// An answer as it came, on a line of its own.
    fn print_raw(&mut self, body: &[u8]) -> Result<()> {
        self.write(body)?;
        if !body.ends_with(b"\n") {
            self.write(b"\n")?;
        }
        Ok(())
    }

    fn print(&mut self, line: &str) -> Result<()> {
        self.write(format!("{line}\n").as_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::Failed(format!("cannot write the output: {e}")))
    }
}

/// A successful answer's body as `T`; one that is not is the daemon's failure.
fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        Error::Failed(format!(
            "the daemon's answer for {what} is not what hivebt expects: {e}"
        ))
    })
}

fn is_info_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `/api/v1/torrents` with the list filters given.
fn list_target(state: Option<&str>, label: Option<&str>) -> String {
    let query: Vec<String> = [("state", state), ("label", label)]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("{key}={}", percent_encode(v))))
        .collect();
    match query.is_empty() {
        true => "/api/v1/torrents".to_string(),
        false => format!("/api/v1/torrents?{}", query.join("&")),
    }
}

/// One request per `add` target, every local file read and path resolved first.
fn add_requests(opts: &AddOptions) -> Result<Vec<ApiRequest>> {
    let save_path = match &opts.save_path {
        Some(p) => {
            let abs = std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?;
            Some(utf8(&abs)?)
        }
        None => None,
    };
    let json_body = |key: &str, value: String| {
        let mut body = Map::new();
        body.insert(key.to_string(), Value::String(value));
        add_fields(&mut body, opts, save_path.as_deref());
        ApiRequest::json(Method::Post, "/api/v1/torrents", &Value::Object(body))
    };
    let mut requests = Vec::with_capacity(opts.targets.len());
    for target in &opts.targets {
        let request = if crate::wire::magnet::is_magnet_link(target) {
            if opts.create.is_some() {
                return Err(Error::BadInput(format!(
                    "{target}: --create makes a torrent of a local path, not of a magnet link"
                )));
            }
            json_body("magnet", target.clone())
        } else if opts.create.is_some() {
            let path = Path::new(target);
            let canonical = std::fs::canonicalize(path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    Error::BadInput(format!("{target}: no such file or directory"))
                }
                _ => Error::io("cannot resolve", path, e),
            })?;
            json_body("create_from", utf8(&canonical)?)
        } else {
            let bytes = read_torrent_file(target)?;
            let query = upload_target(save_path.as_deref(), opts.paused, &opts.labels);
            ApiRequest::new(Method::Post, query, Some("application/x-bittorrent"), bytes)
        };
        requests.push(request);
    }
    Ok(requests)
}

/// The JSON add body's options, each only when given.
fn add_fields(body: &mut Map<String, Value>, opts: &AddOptions, save_path: Option<&str>) {
    if let Some(p) = save_path {
        body.insert("save_path".into(), json!(p));
    }
    if opts.paused {
        body.insert("paused".into(), json!(true));
    }
    if !opts.labels.is_empty() {
        body.insert("labels".into(), json!(opts.labels));
    }
    let Some(create) = &opts.create else {
        return;
    };
    if let Some(n) = create.piece_length {
        body.insert("piece_length".into(), json!(n));
    }
    if create.private {
        body.insert("private".into(), json!(true));
    }
    if !create.trackers.is_empty() {
        body.insert("trackers".into(), json!(create.trackers));
    }
    if let Some(c) = &create.comment {
        body.insert("comment".into(), json!(c));
    }
}

/// The raw upload's target: the options in the query, labels joined by commas.
fn upload_target(save_path: Option<&str>, paused: bool, labels: &[String]) -> String {
    let mut query = Vec::new();
    if let Some(p) = save_path {
        query.push(format!("save_path={}", percent_encode(p)));
    }
    if paused {
        query.push("paused=true".to_string());
    }
    if !labels.is_empty() {
        let labels: Vec<String> = labels.iter().map(|l| percent_encode(l)).collect();
        query.push(format!("labels={}", labels.join(",")));
    }
    match query.is_empty() {
        true => "/api/v1/torrents".to_string(),
        false => format!("/api/v1/torrents?{}", query.join("&")),
    }
}

/// A path as JSON can carry it.
fn utf8(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        Error::BadInput(format!(
            "{}: the path is not UTF-8, which the API cannot carry",
            path.display()
        ))
    })
}

/// A local .torrent file's bytes: it must exist, be a file, fit the size limit and
/// start like a bencoded dictionary.
fn read_torrent_file(target: &str) -> Result<Vec<u8>> {
    let path = Path::new(target);
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let lower = target.to_ascii_lowercase();
            return Err(Error::BadInput(match lower.ends_with(".torrent") {
                true => format!("{target}: no such file"),
                false => format!(
                    "{target}: no such file, and not a magnet link (add --create to make a \
                     torrent of a path)"
                ),
            }));
        }
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    if meta.is_dir() {
        return Err(Error::BadInput(format!(
            "{target} is a directory; add --create to make a torrent of it"
        )));
    }
    let bytes = super::read_torrent_bytes(path)?;
    if !bytes.starts_with(b"d") {
        return Err(Error::BadInput(format!(
            "{target}: not a .torrent file (add --create to make a torrent of it)"
        )));
    }
    Ok(bytes)
}
