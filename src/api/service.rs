//! The daemon's session on top of the engine: a record per torrent (save path,
//! labels, limits, totals, times) kept in the state directory, the rules the engine
//! does not know (queueing, share limits, the watch folder), answers that wait for a
//! worker task, and the server-sent event streams.
//!
//! Owned by the reactor thread and driven through four calls: [`ApiService::on_request`]
//! for each HTTP request, [`ApiService::on_task_done`] for each finished worker task,
//! [`ApiService::on_second`] once a second and [`ApiService::on_shutdown`]. What it
//! has to write to connections comes out of [`ApiService::poll_output`].
//!
//! # Durability
//!
//! A change is answered only once it is in the state directory: the API request waits
//! (its connection in `Waiting`) for the worker task that writes the record, and the
//! answer is queued when the task is done. Totals (bytes up and down, seeding time)
//! are saved every minute and at shutdown.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::auth::{Auth, Denied};
use super::tasks::{delete_data, prepare, rename_with, scan_watch_dir};
use super::{ApiError, STATES, qbt, v1, web};
use crate::bitfield::Bitfield;
use crate::engine::store::{self, TorrentRecord};
use crate::engine::{AddError, Engine, EngineSnapshot, MagnetSpec, TorrentSpec, TorrentView};
use crate::torrent::state::TorrentState;
use crate::torrent::storage::Storage;
use crate::types::{InfoHash, TorrentId};
use crate::wire::http::Request;
use crate::wire::magnet::Magnet;
use crate::wire::metainfo::Metainfo;
use crate::workers::{Task, TaskOutput};

/// How often the watch folder is looked at.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How often changed totals are saved.
const TOTALS_INTERVAL: Duration = Duration::from_secs(60);
/// Most event-stream subscribers at once; more are refused.
const MAX_STREAMS: usize = 32;
/// Password verifications on the workers at once; more logins are answered 429.
const MAX_LOGINS_IN_FLIGHT: usize = 2;

/// One HTTP connection of the reactor: its slot and the serial it was accepted with,
/// so an answer for a connection that is gone never reaches the next one in the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpConnId {
    /// Slab slot.
    pub slot: usize,
    /// Accept serial.
    pub serial: u64,
}

/// The answer to a request.
#[derive(Debug)]
pub enum ApiAnswer {
    /// The whole response, now.
    Now(Vec<u8>),
    /// Later, through [`ApiOutput::Answer`].
    Later,
    /// The head of an event stream; events follow as [`ApiOutput::Push`].
    Stream(Vec<u8>),
}

/// Something to write to a connection.
#[derive(Debug)]
pub enum ApiOutput {
    /// The response to a request that waited.
    Answer(HttpConnId, Vec<u8>),
    /// More of an event stream.
    Push(HttpConnId, Bytes),
}

/// What happens to a torrent that reaches its share limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareAction {
    /// It is paused.
    Pause,
    /// It is removed (its data stays).
    Remove,
}

/// The settings a reload (SIGHUP) read, as far as they can change at runtime, and
/// which changed keys need a restart instead.
#[derive(Debug, Clone, Default)]
pub struct Reloaded {
    /// Save path of torrents added without one.
    pub data_dir: PathBuf,
    /// Roots for API paths.
    pub allowed_paths: Vec<PathBuf>,
    /// The watch folder.
    pub watch_dir: Option<PathBuf>,
    /// Global upload and download limits.
    pub rates: (Option<u64>, Option<u64>),
    /// Default ratio limit.
    pub ratio_limit: Option<f64>,
    /// Default seeding-time limit, seconds.
    pub seed_time_limit: Option<u64>,
    /// What a share limit does.
    pub share_action: Option<ShareAction>,
    /// Queue caps.
    pub max_active_downloads: Option<usize>,
    /// Queue caps.
    pub max_active_seeds: Option<usize>,
    /// Per-torrent metrics.
    pub metrics_per_torrent: bool,
    /// Changed keys now in effect.
    pub applied: Vec<&'static str>,
    /// Changed keys that take effect at the next start.
    pub restart: Vec<&'static str>,
}

/// Reads the configuration again (on a worker): what changed, or why it cannot be used.
pub type ReloadFn = Arc<dyn Fn() -> Result<Reloaded, String> + Send + Sync>;

/// How the service is set up.
pub struct ApiSetup {
    /// Reads the configuration file again on SIGHUP; `None` without a file.
    pub reload: Option<ReloadFn>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Save path of torrents added without one.
    pub data_dir: PathBuf,
    /// Roots that save paths and `create_from` must lie under (empty: anywhere).
    pub allowed_paths: Vec<PathBuf>,
    /// The folder watched for .torrent files.
    pub watch_dir: Option<PathBuf>,
    /// Default ratio limit.
    pub ratio_limit: Option<f64>,
    /// Default seeding-time limit, seconds.
    pub seed_time_limit: Option<u64>,
    /// What a share limit does.
    pub share_action: ShareAction,
    /// Most torrents downloading at once; the rest wait `queued`.
    pub max_active_downloads: Option<usize>,
    /// Most torrents seeding at once.
    pub max_active_seeds: Option<usize>,
    /// Per-torrent series in `/metrics`.
    pub metrics_per_torrent: bool,
    /// The addresses the API listens on (for the `Host` check).
    pub listen: Vec<SocketAddr>,
}

/// What the service keeps of one torrent beside the engine.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The stored record; its totals are those of the last save.
    pub record: TorrentRecord,
    /// The engine's session totals when the record's totals were last brought up to
    /// date (the engine counts from its start).
    pub seen_up: u64,
    pub seen_down: u64,
    /// Paused by the queue, not by the operator.
    pub queued: bool,
    /// The state last reported on the event stream.
    pub last_state: &'static str,
    /// Totals changed since the last save.
    pub dirty: bool,
    /// Download and upload rate, bytes verified and peers as last sent in a `rates`
    /// event.
    last_rates: (u64, u64, u64, usize),
}

impl Entry {
    pub(crate) fn new(record: TorrentRecord) -> Entry {
        Entry {
            record,
            seen_up: 0,
            seen_down: 0,
            queued: false,
            last_state: "",
            dirty: false,
            last_rates: (0, 0, u64::MAX, 0),
        }
    }
}

/// Options of an add request.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddOptions {
    pub save_path: Option<PathBuf>,
    pub paused: bool,
    pub labels: Vec<String>,
    /// The qBittorrent API's category.
    pub category: Option<String>,
    pub limits: store::TorrentLimits,
}

/// Where the .torrent of an add comes from.
#[derive(Debug)]
pub(crate) enum AddSource {
    /// Its bytes, uploaded.
    Bytes(Vec<u8>),
    /// A file on the daemon's machine.
    Path(PathBuf),
    /// Data on the daemon's machine to make a torrent of.
    Create(crate::ops::create::CreateOptions),
    /// A magnet link: the metadata is fetched from peers.
    Magnet(String),
}

/// A torrent read and set up on a worker, ready for the engine.
pub(crate) struct Prepared {
    /// The .torrent as given (or made).
    pub bytes: Vec<u8>,
    /// Its metainfo.
    pub meta: Metainfo,
    /// Its files under the save path.
    pub storage: Arc<Storage>,
    /// Pieces a resume record (or the creation) says are there.
    pub have: Option<Bitfield>,
    /// It was just created from the data: return the .torrent in the answer.
    pub created: bool,
}

/// How a front (the native API; the qBittorrent and Transmission ones) writes the
/// answers that come after work on the workers, each in its own shapes.
pub(crate) trait Front: Sync {
    /// The answer to an add now in the session; `torrent` is the .torrent made, for
    /// an add that created one.
    fn added(
        &self,
        api: &ApiService,
        engine: &Engine,
        hash: &InfoHash,
        torrent: Option<&[u8]>,
        keep_alive: bool,
    ) -> Vec<u8>;
    /// The answer to a login: the new session's cookie value, or why not.
    fn logged_in(
        &self,
        api: &ApiService,
        result: Result<String, Denied>,
        keep_alive: bool,
    ) -> Vec<u8>;
    /// An error answer.
    fn error(&self, e: &ApiError, keep_alive: bool) -> Vec<u8>;
    /// As [`Front::added`], for a front that needs to know which request it answers
    /// (the default calls `added`).
    fn added_to(
        &self,
        api: &ApiService,
        engine: &Engine,
        hash: &InfoHash,
        torrent: Option<&[u8]>,
        reply: &Reply,
    ) -> Vec<u8> {
        self.added(api, engine, hash, torrent, reply.keep_alive)
    }
    /// As [`Front::error`], for a front that needs to know which request it answers
    /// (the default calls `error`).
    fn error_to(&self, _api: &ApiService, e: &ApiError, reply: &Reply) -> Vec<u8> {
        self.error(e, reply.keep_alive)
    }
    /// The answer to an add of torrent `hash`, already in the session; `None` (the
    /// default) answers with [`Front::error`] (409).
    fn duplicate(
        &self,
        _api: &ApiService,
        _engine: &Engine,
        _hash: &InfoHash,
        _reply: &Reply,
    ) -> Option<Vec<u8>> {
        None
    }
}

/// Where and how to answer a request whose work finishes later.
#[derive(Clone, Copy)]
pub(crate) struct Reply {
    pub conn: HttpConnId,
    pub keep_alive: bool,
    pub front: &'static dyn Front,
}

/// A request waiting for a worker task.
enum Pending {
    /// An add, whose .torrent is being read and files set up.
    Prepare {
        reply: Option<Reply>,
        options: AddOptions,
        /// It came from the watch folder: rename it when done.
        watched: Option<PathBuf>,
    },
    /// An add written to the store: answer with the torrent (and the .torrent).
    Added {
        reply: Option<Reply>,
        hash: InfoHash,
        torrent: Option<Vec<u8>>,
        watched: Option<PathBuf>,
    },
    /// A change written: send `answer` (or the error) when done.
    Written {
        reply: Option<Reply>,
        answer: Vec<u8>,
    },
    /// A password is being verified: answer with a session cookie or 401. With
    /// `remember`, a right password makes that credential (a hash of it) known to
    /// [`Auth`] for the session lifetime.
    Login {
        reply: Reply,
        ip: IpAddr,
        remember: Option<[u8; 32]>,
    },
    /// Work whose output is the whole answer.
    Reply { reply: Reply },
    /// The watch folder was read.
    Watch,
    /// The configuration file was read again.
    Reload,
}

/// The daemon's session. See the module docs.
pub struct ApiService {
    pub(crate) setup: ApiSetup,
    pub(crate) auth: Auth,
    pub(crate) entries: HashMap<InfoHash, Entry>,
    pending: HashMap<u64, Pending>,
    next_tag: u64,
    outputs: VecDeque<ApiOutput>,
    streams: Vec<HttpConnId>,
    pub(crate) shutting_down: bool,
    watch_at: Option<Instant>,
    watching: bool,
    /// Logins being verified on the workers.
    logins: usize,
    totals_at: Option<Instant>,
    pub(crate) started_at: Instant,
    /// The engine's views as of the last per-second pass, or of the first read after
    /// a change made through the API. Reads of many torrents (the list, the session,
    /// `/metrics`) use them instead of a snapshot each: with 10,000 torrents a
    /// snapshot is milliseconds of the reactor's time, and pollers ask many times a
    /// second.
    views: EngineSnapshot,
    /// Whether `views` are current (no change through the API since they were taken).
    views_fresh: bool,
    /// The body of the last `GET /api/v1/torrents`, by query string, while the views
    /// it was made from are current.
    list_body: Option<(String, Vec<u8>)>,
    /// The Transmission RPC front's own state (its session id, torrent numbers).
    pub(crate) transmission: super::transmission::State,
    /// The qBittorrent API's categories, tags and sync history.
    pub(crate) qbt: qbt::QbtState,
}

impl ApiService {
    /// A service for `setup`, with the records of the torrents the engine was started
    /// with (by info-hash).
    pub fn new(
        setup: ApiSetup,
        auth: Auth,
        records: Vec<(InfoHash, TorrentRecord)>,
        now: Instant,
    ) -> ApiService {
        let qbt = qbt::QbtState::load(&setup.state_dir);
        ApiService {
            setup,
            auth,
            entries: records
                .into_iter()
                .map(|(h, r)| (h, Entry::new(r)))
                .collect(),
            pending: HashMap::new(),
            next_tag: 1,
            outputs: VecDeque::new(),
            streams: Vec::new(),
            shutting_down: false,
            watch_at: None,
            watching: false,
            logins: 0,
            totals_at: None,
            started_at: now,
            views: EngineSnapshot::default(),
            views_fresh: false,
            list_body: None,
            transmission: super::transmission::State::new(),
            qbt,
        }
    }

    /// The service with current views (see the `views` field): taken again now if a
    /// change made through the API left them stale.
    pub(crate) fn fresh(&mut self, engine: &Engine) -> &ApiService {
        if !self.views_fresh {
            self.views = engine.snapshot();
            self.views_fresh = true;
        }
        self
    }

    /// The views as last taken; [`ApiService::fresh`] first.
    pub(crate) fn snapshot(&self) -> &EngineSnapshot {
        &self.views
    }

    /// Something changed through the API: the next read takes fresh views.
    pub(crate) fn touch(&mut self) {
        self.views_fresh = false;
        self.list_body = None;
    }

    /// The cached list body for `query`, if the views have not changed since.
    pub(crate) fn cached_list(&self, query: &str) -> Option<&[u8]> {
        match &self.list_body {
            Some((q, body)) if q == query && self.views_fresh => Some(body),
            _ => None,
        }
    }

    /// Keeps `body` as the list for `query` until the views change.
    pub(crate) fn keep_list(&mut self, query: &str, body: Vec<u8>) {
        self.list_body = Some((query.to_owned(), body));
    }

    /// A complete request from `peer` on connection `conn`.
    pub fn on_request(
        &mut self,
        engine: &mut Engine,
        request: &Request,
        peer: SocketAddr,
        conn: HttpConnId,
        now: Instant,
    ) -> ApiAnswer {
        let (method, path) = (request.head.method.as_str(), request.head.path.as_str());
        // One front per path space; each checks its own credentials.
        if super::transmission::owns(path) {
            return super::transmission::route(self, engine, request, peer, conn, now);
        }
        let read_only = matches!(method, "GET" | "HEAD")
            || (path.starts_with(qbt::PREFIX) && qbt::is_read(path));
        let answer = if web::owns(path) {
            web::route(&self.auth, request)
        } else if path.starts_with(qbt::PREFIX) {
            qbt::route(self, engine, request, peer, conn, now)
        } else {
            v1::route(self, engine, request, peer, conn, now)
        };
        if !read_only {
            self.touch();
        }
        match answer {
            // A HEAD answer has the head a GET would, and no body (a client reusing
            // the connection would read the body as the next answer).
            ApiAnswer::Now(mut bytes) if method == "HEAD" => {
                if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                    bytes.truncate(end + 4);
                }
                ApiAnswer::Now(bytes)
            }
            other => other,
        }
    }

    /// The next thing to write to a connection.
    pub fn poll_output(&mut self) -> Option<ApiOutput> {
        self.outputs.pop_front()
    }

    /// Connection `conn` closed: it gets no more events.
    pub fn on_closed(&mut self, conn: HttpConnId) {
        self.streams.retain(|&c| c != conn);
    }

    /// Adds an event-stream subscriber; false when there are too many.
    pub(crate) fn subscribe(&mut self, conn: HttpConnId) -> bool {
        if self.streams.len() >= MAX_STREAMS {
            return false;
        }
        self.streams.push(conn);
        true
    }

    /// Sends one server-sent event to every subscriber.
    fn broadcast(&mut self, event: &str, data: &serde_json::Value) {
        if self.streams.is_empty() {
            return;
        }
        let text = format!("event: {event}\ndata: {data}\n\n");
        let bytes = Bytes::from(text.into_bytes());
        for &c in &self.streams {
            self.outputs.push_back(ApiOutput::Push(c, bytes.clone()));
        }
    }

    fn answer(&mut self, reply: Option<Reply>, bytes: Vec<u8>) {
        if let Some(r) = reply {
            self.outputs.push_back(ApiOutput::Answer(r.conn, bytes));
        }
    }

    /// Answers `reply` (if any) with error `e` in its front's shape.
    fn fail(&mut self, reply: Option<Reply>, e: &ApiError) {
        if let Some(r) = reply {
            let answer = r.front.error_to(self, e, &r);
            self.outputs.push_back(ApiOutput::Answer(r.conn, answer));
        }
    }

    /// Sends `run` to the workers; its output comes back to `on_task_done` as `pending`.
    fn spawn(
        &mut self,
        engine: &mut Engine,
        pending: Pending,
        run: impl FnOnce() -> TaskOutput + Send + 'static,
    ) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.pending.insert(tag, pending);
        engine.submit_task(Task {
            tag,
            run: Box::new(run),
        });
    }

    /// Pauses (or resumes) torrent `hash` (`id` in the engine) for the operator: it
    /// stays so across restarts and the queue leaves it alone. Every front does it
    /// this way.
    pub(crate) fn set_paused(
        &mut self,
        engine: &mut Engine,
        hash: &InfoHash,
        id: TorrentId,
        paused: bool,
        now: Instant,
    ) {
        if paused {
            engine.pause(id, now);
        } else {
            engine.resume(id, now);
        }
        if let Some(e) = self.entries.get_mut(hash) {
            e.record.paused = paused;
            e.queued = false;
        }
    }

    /// Sets torrent `hash`'s own limits (checked first): the engine enforces the rates
    /// and connection cap at once, the record keeps them. Every front sets them so.
    pub(crate) fn set_limits(
        &mut self,
        engine: &mut Engine,
        hash: &InfoHash,
        limits: store::TorrentLimits,
        now: Instant,
    ) -> Result<(), ApiError> {
        v1::check_limits(&limits)?;
        if let Some(id) = engine.find(hash) {
            engine.set_torrent_caps(id, limits.caps(), now);
        }
        if let Some(entry) = self.entries.get_mut(hash) {
            entry.record.limits = limits;
        }
        Ok(())
    }

    /// Checks torrent `id`'s data again; 409 while it checks or writes pieces.
    pub(crate) fn recheck(
        engine: &mut Engine,
        id: TorrentId,
        now: Instant,
    ) -> Result<(), ApiError> {
        conflict_unless(
            engine.recheck(id, now),
            "it is checking or writing pieces now; try again",
        )
    }

    /// Announces torrent `id` now; 409 when it cannot.
    pub(crate) fn reannounce(
        engine: &mut Engine,
        id: TorrentId,
        now: Instant,
    ) -> Result<(), ApiError> {
        conflict_unless(
            engine.reannounce(id, now),
            "it cannot announce now (paused, no trackers, or announced moments ago)",
        )
    }

    /// Removes torrent `hash` from the engine and the session, deleting its data when
    /// asked; `answer` goes to `reply` once the store agrees.
    pub(crate) fn remove(
        &mut self,
        engine: &mut Engine,
        hash: InfoHash,
        id: TorrentId,
        delete_data: bool,
        reply: Option<Reply>,
        answer: Vec<u8>,
    ) {
        self.remove_many(engine, &[(hash, id)], delete_data, reply, answer);
    }

    /// [`ApiService::remove`] for many torrents, answered once all are gone.
    pub(crate) fn remove_many(
        &mut self,
        engine: &mut Engine,
        torrents: &[(InfoHash, TorrentId)],
        delete_data: bool,
        reply: Option<Reply>,
        answer: Vec<u8>,
    ) {
        let gone = torrents
            .iter()
            .map(|&(hash, id)| (hash, engine.remove(id).filter(|_| delete_data)))
            .collect();
        self.forget_many(engine, gone, reply, answer);
    }

    /// Starts a login. The password is hashed on a worker (PBKDF2 takes tens of
    /// milliseconds: a stream of logins must not stall the reactor), at most
    /// [`MAX_LOGINS_IN_FLIGHT`] at a time so they cannot crowd out disk work either.
    pub(crate) fn start_login(
        &mut self,
        engine: &mut Engine,
        ip: IpAddr,
        password: String,
        reply: Reply,
        now: Instant,
    ) -> Result<ApiAnswer, ApiError> {
        self.start_verify(engine, ip, password, reply, None, now)
    }

    /// As [`ApiService::start_login`] for a credential sent with every request (HTTP
    /// Basic): a right password makes `key` (a hash of the credential) known to
    /// [`Auth::credential_known`] instead of opening a session.
    pub(crate) fn start_basic_login(
        &mut self,
        engine: &mut Engine,
        ip: IpAddr,
        password: String,
        key: [u8; 32],
        reply: Reply,
        now: Instant,
    ) -> Result<ApiAnswer, ApiError> {
        self.start_verify(engine, ip, password, reply, Some(key), now)
    }

    fn start_verify(
        &mut self,
        engine: &mut Engine,
        ip: IpAddr,
        password: String,
        reply: Reply,
        remember: Option<[u8; 32]>,
        now: Instant,
    ) -> Result<ApiAnswer, ApiError> {
        if self.logins >= MAX_LOGINS_IN_FLIGHT {
            return Err(ApiError::new(
                429,
                "busy",
                "too many logins at once; try again",
            ));
        }
        let Some(hash) = self.auth.begin_login(ip, now)? else {
            let result = self.finish_verify(ip, true, remember, now);
            let answer = reply.front.logged_in(self, result, reply.keep_alive);
            return Ok(ApiAnswer::Now(answer));
        };
        self.logins += 1;
        let pending = Pending::Login {
            reply,
            ip,
            remember,
        };
        self.spawn(engine, pending, move || Box::new(hash.verify(&password)));
        Ok(ApiAnswer::Later)
    }

    /// A login's password was verified (or needed none): a session's cookie, or for
    /// a credential to `remember`, the credential known (and an empty string).
    fn finish_verify(
        &mut self,
        ip: IpAddr,
        verified: bool,
        remember: Option<[u8; 32]>,
        now: Instant,
    ) -> Result<String, Denied> {
        match remember {
            Some(key) => self.auth.finish_credential(ip, key, verified, now),
            None => self.auth.finish_login(ip, verified, now),
        }
    }

    /// Runs `run` on a worker and answers `reply` with what it returns: work a front
    /// answers from the file system (which may be slow), never on the reactor.
    pub(crate) fn answer_later(
        &mut self,
        engine: &mut Engine,
        reply: Reply,
        run: impl FnOnce() -> Vec<u8> + Send + 'static,
    ) {
        self.spawn(engine, Pending::Reply { reply }, move || Box::new(run()));
    }

    /// Starts an add: the source is read and the files set up on a worker.
    pub(crate) fn start_add(
        &mut self,
        engine: &mut Engine,
        source: AddSource,
        options: AddOptions,
        reply: Option<Reply>,
        watched: Option<PathBuf>,
    ) -> Result<(), ApiError> {
        let save_path = match &options.save_path {
            Some(p) => p.clone(),
            None => match &source {
                AddSource::Create(c) => c
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| self.setup.data_dir.clone()),
                _ => self.setup.data_dir.clone(),
            },
        };
        self.check_path("save_path", &save_path)?;
        if let AddSource::Create(c) = &source {
            self.check_path("create_from", &c.path)?;
        }
        let state = self.setup.state_dir.clone();
        let mut options = options;
        options.save_path = Some(save_path.clone());
        if let AddSource::Magnet(uri) = source {
            return self.add_magnet(engine, uri, options, reply, Instant::now());
        }
        self.spawn(
            engine,
            Pending::Prepare {
                reply,
                options,
                watched,
            },
            move || Box::new(prepare(source, &save_path, &state)),
        );
        Ok(())
    }

    /// Adds magnet link `uri`: the engine fetches its metadata; its record (with the
    /// link) is written before the answer, so a restart fetches it again.
    fn add_magnet(
        &mut self,
        engine: &mut Engine,
        uri: String,
        options: AddOptions,
        reply: Option<Reply>,
        now: Instant,
    ) -> Result<(), ApiError> {
        if self.shutting_down {
            return Err(ApiError::new(
                503,
                "shutting_down",
                "the daemon is stopping",
            ));
        }
        let link = Magnet::parse(&uri)
            .map_err(|e| ApiError::bad(format!("not a usable magnet link: {e}")))?;
        let hash = link.info_hash;
        let spec = MagnetSpec {
            link,
            save_path: options.save_path.clone().unwrap_or_default(),
            paused: options.paused,
            caps: options.limits.caps(),
            save_torrent: None,
        };
        match engine.add_magnet(spec, now) {
            Ok(_) => {}
            Err(AddError::Duplicate(_)) => {
                if let Some(r) = reply {
                    if let Some(answer) = r.front.duplicate(self, engine, &hash, &r) {
                        self.answer(Some(r), answer);
                        return Ok(());
                    }
                }
                return Err(ApiError::new(
                    409,
                    "conflict",
                    format!("torrent {} is already added", hash.to_hex()),
                ));
            }
            Err(e) => return Err(ApiError::bad(e.to_string())),
        }
        let record = TorrentRecord {
            magnet: Some(uri),
            ..new_record(&options)
        };
        self.entries.insert(hash, Entry::new(record.clone()));
        let state = self.setup.state_dir.clone();
        self.spawn(
            engine,
            Pending::Added {
                reply,
                hash,
                torrent: None,
                watched: None,
            },
            move || Box::new(store::save_record(&state, &hash, &record).map_err(|e| e.to_string())),
        );
        Ok(())
    }

    /// A path given to the API must be absolute, free of `..`, and under an allowed
    /// root when roots are configured.
    pub(crate) fn check_path(&self, what: &str, path: &Path) -> Result<(), ApiError> {
        if !path.is_absolute() {
            return Err(ApiError::bad(format!("{what} must be an absolute path")));
        }
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(ApiError::bad(format!("{what} must not contain ..")));
        }
        let roots = &self.setup.allowed_paths;
        if !roots.is_empty() && !roots.iter().any(|r| path.starts_with(r)) {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!("{what} {} is outside the allowed paths", path.display()),
            ));
        }
        Ok(())
    }

    /// Writes `hash`'s record on a worker, then answers `answer` on `conn`.
    pub(crate) fn persist(
        &mut self,
        engine: &mut Engine,
        hash: InfoHash,
        reply: Option<Reply>,
        answer: Vec<u8>,
    ) {
        let Some(entry) = self.entries.get_mut(&hash) else {
            return self.answer(reply, answer);
        };
        entry.dirty = false;
        let record = entry.record.clone();
        let state = self.setup.state_dir.clone();
        self.spawn(engine, Pending::Written { reply, answer }, move || {
            Box::new(store::save_record(&state, &hash, &record).map_err(|e| e.to_string()))
        });
    }

    /// Writes the records of `hashes`, and `file` (a path and its bytes, written
    /// atomically) if given, in one worker task, then answers `answer`: a change to
    /// many torrents is answered once all of it is durable.
    pub(crate) fn persist_many(
        &mut self,
        engine: &mut Engine,
        hashes: &[InfoHash],
        file: Option<(PathBuf, Vec<u8>)>,
        reply: Option<Reply>,
        answer: Vec<u8>,
    ) {
        let mut records = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(entry) = self.entries.get_mut(hash) {
                entry.dirty = false;
                records.push((*hash, entry.record.clone()));
            }
        }
        if records.is_empty() && file.is_none() {
            return self.answer(reply, answer);
        }
        let state = self.setup.state_dir.clone();
        self.spawn(engine, Pending::Written { reply, answer }, move || {
            let mut result = Ok(());
            if let Some((path, bytes)) = file {
                result = store::write_atomic(&path, &bytes);
            }
            for (hash, record) in &records {
                result = result.and_then(|()| store::save_record(&state, hash, record));
            }
            Box::new(result.map_err(|e| e.to_string()))
        });
    }

    /// Removes `hash`'s files from the store (and its data when asked) on a worker,
    /// then answers.
    pub(crate) fn forget(
        &mut self,
        engine: &mut Engine,
        hash: InfoHash,
        storage: Option<Arc<Storage>>,
        reply: Option<Reply>,
        answer: Vec<u8>,
    ) {
        self.forget_many(engine, vec![(hash, storage)], reply, answer);
    }

    /// [`ApiService::forget`] for many torrents in one worker task, answered once.
    fn forget_many(
        &mut self,
        engine: &mut Engine,
        torrents: Vec<(InfoHash, Option<Arc<Storage>>)>,
        reply: Option<Reply>,
        answer: Vec<u8>,
    ) {
        for (hash, _) in &torrents {
            self.entries.remove(hash);
            self.broadcast(
                "removed",
                &serde_json::json!({ "info_hash": hash.to_hex() }),
            );
        }
        let state = self.setup.state_dir.clone();
        self.spawn(engine, Pending::Written { reply, answer }, move || {
            let mut result = Ok(());
            for (hash, storage) in torrents {
                result = result.and_then(|()| {
                    store::remove(&state, &hash).map_err(|e| e.to_string())?;
                    storage.map_or(Ok(()), |s| delete_data(&s))
                });
            }
            Box::new(result)
        });
    }

    /// A worker task finished.
    pub fn on_task_done(
        &mut self,
        engine: &mut Engine,
        tag: u64,
        output: TaskOutput,
        now: Instant,
    ) {
        let Some(pending) = self.pending.remove(&tag) else {
            return;
        };
        self.touch();
        match pending {
            Pending::Prepare {
                reply,
                options,
                watched,
            } => {
                let prepared =
                    task_output(output, || Err(ApiError::new(500, "internal", "lost task")));
                self.on_prepared(engine, prepared, options, reply, watched, now);
            }
            Pending::Added {
                reply,
                hash,
                torrent,
                watched,
            } => {
                let result: Result<(), String> = task_output(output, || Err("lost task".into()));
                if let Err(why) = result {
                    // Not durable: take it back out so a restart agrees with the answer.
                    if let Some(id) = engine.find(&hash) {
                        engine.remove(id);
                    }
                    self.entries.remove(&hash);
                    return self.fail(reply, &write_failed(&why));
                }
                if let Some(path) = watched {
                    rename_with(&path, "added");
                }
                if let Some(object) = self.torrent_json(engine, &hash) {
                    self.broadcast("added", &object);
                }
                if let Some(r) = reply {
                    let answer = r
                        .front
                        .added_to(self, engine, &hash, torrent.as_deref(), &r);
                    self.answer(reply, answer);
                }
            }
            Pending::Written { reply, answer } => {
                let result: Result<(), String> = task_output(output, || Err("lost task".into()));
                match result {
                    Ok(()) => self.answer(reply, answer),
                    Err(why) => self.fail(reply, &write_failed(&why)),
                }
            }
            Pending::Reload => {
                let result: Result<Reloaded, String> =
                    task_output(output, || Err("lost task".into()));
                self.on_reloaded(engine, result, now);
            }
            Pending::Login {
                reply,
                ip,
                remember,
            } => {
                self.logins -= 1;
                let verified = task_output(output, || false);
                let result = self.finish_verify(ip, verified, remember, now);
                let answer = reply.front.logged_in(self, result, reply.keep_alive);
                self.answer(Some(reply), answer);
            }
            Pending::Reply { reply } => {
                let answer = task_output(output, || reply.front.error_to(self, &lost(), &reply));
                self.answer(Some(reply), answer);
            }
            Pending::Watch => {
                self.watching = false;
                let found: Vec<(PathBuf, Result<Vec<u8>, String>)> = task_output(output, Vec::new);
                for (path, bytes) in found {
                    match bytes {
                        Ok(bytes) => {
                            let options = AddOptions::default();
                            if let Err(e) = self.start_add(
                                engine,
                                AddSource::Bytes(bytes),
                                options,
                                None,
                                Some(path.clone()),
                            ) {
                                log::warn!("{}: {}", path.display(), e.message);
                                rename_with(&path, "invalid");
                            }
                        }
                        Err(why) => {
                            log::warn!("{}: {why}", path.display());
                            rename_with(&path, "invalid");
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_prepared(
        &mut self,
        engine: &mut Engine,
        prepared: Result<Prepared, ApiError>,
        options: AddOptions,
        reply: Option<Reply>,
        watched: Option<PathBuf>,
        now: Instant,
    ) {
        let fail = |this: &mut ApiService, e: ApiError| {
            if let Some(path) = &watched {
                if e.status == 503 {
                    // Stopping: the file stays to be added at the next start.
                } else if e.status == 409 {
                    log::info!("{}: {}", path.display(), e.message);
                    rename_with(path, "added");
                } else {
                    log::warn!("{}: {}", path.display(), e.message);
                    rename_with(path, "invalid");
                }
            }
            this.fail(reply, &e);
        };
        if self.shutting_down {
            return fail(
                self,
                ApiError::new(503, "shutting_down", "the daemon is stopping"),
            );
        }
        let p = match prepared {
            Ok(p) => p,
            Err(e) => return fail(self, e),
        };
        let hash = p.meta.info_hash;
        if engine.find(&hash).is_some() {
            let dup = reply.and_then(|r| Some((r, r.front.duplicate(self, engine, &hash, &r)?)));
            if let Some((r, answer)) = dup {
                return self.answer(Some(r), answer);
            }
            return fail(
                self,
                ApiError::new(
                    409,
                    "conflict",
                    format!("torrent {} is already added", hash.to_hex()),
                ),
            );
        }
        let spec = TorrentSpec {
            meta: Arc::new(p.meta),
            storage: p.storage,
            have: p.have,
            require_data: false,
            paused: options.paused,
            caps: options.limits.caps(),
        };
        match engine.add(spec, now) {
            Ok(_) => {}
            Err(AddError::Duplicate(_)) => {
                return fail(
                    self,
                    ApiError::new(409, "conflict", "the torrent is already added"),
                );
            }
            Err(e) => return fail(self, ApiError::bad(e.to_string())),
        }
        let record = new_record(&options);
        self.entries.insert(hash, Entry::new(record.clone()));
        let state = self.setup.state_dir.clone();
        let bytes = p.bytes;
        let returned = p.created.then(|| bytes.clone());
        self.spawn(
            engine,
            Pending::Added {
                reply,
                hash,
                torrent: returned,
                watched,
            },
            move || Box::new(store::add(&state, &hash, &bytes, &record).map_err(|e| e.to_string())),
        );
    }

    /// Once a second: totals, completion, share limits, the queue, the watch folder,
    /// and the rates event.
    pub fn on_second(&mut self, engine: &mut Engine, now: Instant) {
        if self.shutting_down {
            return;
        }
        let snapshot = engine.snapshot();
        let mut share_hits = Vec::new();
        for view in &snapshot.torrents {
            let Some(entry) = self.entries.get_mut(&view.info_hash) else {
                continue;
            };
            bring_totals(entry, view);
            let complete = view.is_complete();
            if complete && view.state == TorrentState::Active {
                entry.record.seeding_secs += 1;
                entry.dirty = true;
            }
            if complete && entry.record.completed_at.is_none() && view.completed_in_run {
                entry.record.completed_at = Some(unix_now());
                entry.dirty = true;
            }
            if let TorrentState::Failed(why) = &view.state {
                if entry.record.error.as_deref() != Some(why) {
                    entry.record.error = Some(why.clone());
                    entry.dirty = true;
                }
            }
            if complete && view.state == TorrentState::Active {
                let ratio = entry.record.limits.ratio_limit.or(self.setup.ratio_limit);
                let time = entry
                    .record
                    .limits
                    .seed_time_limit
                    .or(self.setup.seed_time_limit);
                let size = view.total_bytes.max(1) as f64;
                let ratio_hit = ratio.is_some_and(|r| entry.record.uploaded as f64 / size >= r);
                let time_hit = time.is_some_and(|t| entry.record.seeding_secs >= t);
                if ratio_hit || time_hit {
                    share_hits.push((view.id, view.info_hash));
                }
            }
        }
        // One snapshot serves the queue, the state events and the rates, taken again
        // only after something here changed a torrent.
        let mut snapshot = snapshot;
        if !share_hits.is_empty() {
            for (id, hash) in share_hits {
                self.on_share_limit(engine, id, hash, now);
            }
            snapshot = engine.snapshot();
        }
        if self.run_queue(engine, &snapshot, now) {
            snapshot = engine.snapshot();
        }
        self.report_states(&snapshot);
        self.list_body = None;
        self.report_rates(&snapshot);
        self.views = snapshot;
        self.views_fresh = true;
        if self.totals_at.is_none_or(|at| now >= at) {
            self.totals_at = Some(now + TOTALS_INTERVAL);
            self.save_dirty(engine);
        }
        if let Some(dir) = self.setup.watch_dir.clone() {
            if !self.watching && self.watch_at.is_none_or(|at| now >= at) {
                self.watch_at = Some(now + WATCH_INTERVAL);
                self.watching = true;
                self.spawn(engine, Pending::Watch, move || {
                    Box::new(scan_watch_dir(&dir))
                });
            }
        }
    }

    /// SIGHUP: the configuration file is read again on a worker.
    pub fn on_reload(&mut self, engine: &mut Engine) {
        let Some(reload) = self.setup.reload.clone() else {
            eprintln!("hivebt: SIGHUP: no configuration file to reload");
            return;
        };
        self.spawn(engine, Pending::Reload, move || Box::new(reload()));
    }

    fn on_reloaded(&mut self, engine: &mut Engine, result: Result<Reloaded, String>, now: Instant) {
        let r = match result {
            Ok(r) => r,
            Err(why) => {
                eprintln!("hivebt: SIGHUP: the configuration is not reloaded: {why}");
                return;
            }
        };
        let s = &mut self.setup;
        s.data_dir = r.data_dir;
        s.allowed_paths = r.allowed_paths;
        s.watch_dir = r.watch_dir;
        s.ratio_limit = r.ratio_limit;
        s.seed_time_limit = r.seed_time_limit;
        if let Some(a) = r.share_action {
            s.share_action = a;
        }
        s.max_active_downloads = r.max_active_downloads;
        s.max_active_seeds = r.max_active_seeds;
        s.metrics_per_torrent = r.metrics_per_torrent;
        engine.set_rate_limits(r.rates.0, r.rates.1, now);
        let list = |keys: &[&str]| {
            if keys.is_empty() {
                "nothing".to_string()
            } else {
                keys.join(", ")
            }
        };
        eprintln!(
            "hivebt: SIGHUP: configuration reloaded; in effect now: {}; needs a restart: {}",
            list(&r.applied),
            list(&r.restart)
        );
    }

    fn on_share_limit(&mut self, engine: &mut Engine, id: TorrentId, hash: InfoHash, now: Instant) {
        let name = engine.torrent(id).map(|v| v.name).unwrap_or_default();
        match self.setup.share_action {
            ShareAction::Pause => {
                log::info!("{name}: share limit reached; pausing it");
                engine.pause(id, now);
                if let Some(e) = self.entries.get_mut(&hash) {
                    e.record.paused = true;
                }
                self.persist(engine, hash, None, Vec::new());
            }
            ShareAction::Remove => {
                log::info!("{name}: share limit reached; removing it (its data stays)");
                engine.remove(id);
                self.forget(engine, hash, None, None, Vec::new());
            }
        }
    }

    /// Keeps at most `max_active_downloads` torrents downloading and `max_active_seeds`
    /// seeding: the newest ones over the cap wait `queued` (paused in the engine), and
    /// the oldest queued ones start when there is room.
    /// True when it paused or resumed a torrent.
    fn run_queue(&mut self, engine: &mut Engine, snapshot: &EngineSnapshot, now: Instant) -> bool {
        let (max_down, max_seed) = (self.setup.max_active_downloads, self.setup.max_active_seeds);
        if max_down.is_none() && max_seed.is_none() {
            return false;
        }
        let mut changed = false;
        let mut order: Vec<&TorrentView> = snapshot
            .torrents
            .iter()
            .filter(|v| {
                self.entries
                    .get(&v.info_hash)
                    .is_some_and(|e| !e.record.paused)
            })
            .filter(|v| matches!(v.state, TorrentState::Active | TorrentState::Paused))
            .collect();
        order.sort_by_key(|v| self.entries.get(&v.info_hash).map(|e| e.record.added_at));
        let (mut downs, mut seeds) = (0usize, 0usize);
        for v in order {
            let complete = v.is_complete();
            let (count, max) = if complete {
                (&mut seeds, max_seed)
            } else {
                (&mut downs, max_down)
            };
            let room = max.is_none_or(|m| *count < m);
            let Some(entry) = self.entries.get_mut(&v.info_hash) else {
                continue;
            };
            match (v.state == TorrentState::Active, room) {
                (true, true) => *count += 1,
                (true, false) => {
                    engine.pause(v.id, now);
                    entry.queued = true;
                    changed = true;
                }
                (false, true) if entry.queued => {
                    engine.resume(v.id, now);
                    entry.queued = false;
                    *count += 1;
                    changed = true;
                }
                _ => {}
            }
        }
        changed
    }

    /// Sends a `state` event for every torrent whose state changed, and `completed`
    /// for one that finished.
    fn report_states(&mut self, snapshot: &EngineSnapshot) {
        let mut changed = Vec::new();
        for view in &snapshot.torrents {
            let hash = &view.info_hash;
            let Some(entry) = self.entries.get_mut(hash) else {
                continue;
            };
            let state = state_name(view, entry);
            if state != entry.last_state {
                let was = std::mem::replace(&mut entry.last_state, state);
                changed.push((*hash, was, state));
            }
        }
        for (hash, was, state) in changed {
            let data = serde_json::json!({"info_hash": hash.to_hex(), "state": state, "was": was});
            if was == "downloading" && state == "seeding" {
                self.broadcast("completed", &data);
            }
            self.broadcast("state", &data);
        }
    }

    /// The `rates` event: the totals, and the torrents whose rates, progress or peer
    /// count changed since the last one (10,000 idle torrents are not sent every
    /// second; a new subscriber reads the list first).
    fn report_rates(&mut self, snapshot: &EngineSnapshot) {
        #[derive(serde::Serialize)]
        struct Rates {
            info_hash: String,
            download_rate: u64,
            upload_rate: u64,
            progress: f64,
            peers: usize,
        }
        let mut torrents = Vec::new();
        let (mut up, mut down) = (0, 0);
        for t in &snapshot.torrents {
            up += t.up_rate;
            down += t.down_rate;
            let Some(entry) = self.entries.get_mut(&t.info_hash) else {
                continue;
            };
            let now = (t.down_rate, t.up_rate, t.bytes_done, t.peers);
            if std::mem::replace(&mut entry.last_rates, now) != now {
                torrents.push(Rates {
                    info_hash: t.info_hash.to_hex(),
                    download_rate: t.down_rate,
                    upload_rate: t.up_rate,
                    progress: progress(t),
                    peers: t.peers,
                });
            }
        }
        if !self.streams.is_empty() {
            let data =
                serde_json::json!({"download_rate": down, "upload_rate": up, "torrents": torrents});
            self.broadcast("rates", &data);
        }
    }

    /// Saves the records whose totals changed, on the workers.
    fn save_dirty(&mut self, engine: &mut Engine) {
        let dirty: Vec<InfoHash> = self
            .entries
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(h, _)| *h)
            .collect();
        for hash in dirty {
            self.persist(engine, hash, None, Vec::new());
        }
    }

    /// The stop begins: changes are refused from now on (503), and the run waits for
    /// the session writes under way (see [`ApiService::writing`]).
    pub fn on_shutdown(&mut self) {
        self.shutting_down = true;
    }

    /// Whether a session write is still on the workers: the run must not end before
    /// it does (an add is answered only once its files are in the store, and a write
    /// cut short would lose it).
    pub fn writing(&self) -> bool {
        self.pending
            .values()
            .any(|p| matches!(p, Pending::Added { .. } | Pending::Written { .. }))
    }

    /// The last thing the daemon does: writes every record with its totals, after
    /// every other session write has finished (so none overwrites it with older
    /// figures).
    pub fn save_all(&mut self, engine: &Engine) {
        for view in engine.snapshot().torrents {
            let Some(entry) = self.entries.get_mut(&view.info_hash) else {
                continue;
            };
            bring_totals(entry, &view);
            if let Err(e) =
                store::save_record(&self.setup.state_dir, &view.info_hash, &entry.record)
            {
                log::error!("{}: cannot save its record: {e}", view.name);
            }
        }
    }

    /// The JSON object of torrent `hash`.
    pub(crate) fn torrent_json(
        &self,
        engine: &Engine,
        hash: &InfoHash,
    ) -> Option<serde_json::Value> {
        let view = engine.torrent(engine.find(hash)?)?;
        let entry = self.entries.get(hash)?;
        serde_json::to_value(v1::torrent_object(&view, entry)).ok()
    }
}

/// What a task of the pending kind returned; `lost` if it returned something else
/// (a task and its pending entry are made together, so that would be a bug).
fn task_output<T: 'static>(output: TaskOutput, lost: impl FnOnce() -> T) -> T {
    output
        .downcast::<T>()
        .map(|b| *b)
        .unwrap_or_else(|_| lost())
}

/// The error of a task whose output went missing (a task and its pending entry are
/// made together, so that would be a bug).
fn lost() -> ApiError {
    ApiError::new(500, "internal", "lost task")
}

/// `Ok` when the engine did it, else 409 saying `why`.
fn conflict_unless(done: bool, why: &str) -> Result<(), ApiError> {
    if done {
        Ok(())
    } else {
        Err(ApiError::new(409, "conflict", why))
    }
}

/// A session write that failed: logged, and answered 500.
fn write_failed(why: &str) -> ApiError {
    let e = ApiError::new(500, "internal", format!("cannot write the session: {why}"));
    log::error!("{}", e.message);
    e
}

/// Adds what the engine counted since the last look to the record's totals.
fn bring_totals(entry: &mut Entry, view: &TorrentView) {
    let (up, down) = (view.uploaded, view.downloaded);
    if up > entry.seen_up || down > entry.seen_down {
        entry.record.uploaded += up.saturating_sub(entry.seen_up);
        entry.record.downloaded += down.saturating_sub(entry.seen_down);
        entry.dirty = true;
    }
    entry.seen_up = up;
    entry.seen_down = down;
}

/// The session's figures summed over every torrent, from the views as last taken.
pub(crate) struct Totals {
    pub up_rate: u64,
    pub down_rate: u64,
    /// Over the torrents' lives in the session.
    pub uploaded: u64,
    pub downloaded: u64,
    pub peers: usize,
    pub hash_failures: u64,
    /// Torrents in each of [`STATES`], in its order.
    pub by_state: [(&'static str, u64); 6],
}

impl ApiService {
    /// See [`Totals`]; [`ApiService::fresh`] first.
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals {
            up_rate: 0,
            down_rate: 0,
            uploaded: 0,
            downloaded: 0,
            peers: 0,
            hash_failures: 0,
            by_state: STATES.map(|s| (s, 0)),
        };
        for v in &self.views.torrents {
            t.up_rate += v.up_rate;
            t.down_rate += v.down_rate;
            t.peers += v.peers;
            t.hash_failures += u64::from(v.hash_failures);
            if let Some(e) = self.entries.get(&v.info_hash) {
                t.uploaded += e.record.uploaded + v.uploaded.saturating_sub(e.seen_up);
                t.downloaded += e.record.downloaded + v.downloaded.saturating_sub(e.seen_down);
                let name = state_name(v, e);
                if let Some(slot) = t.by_state.iter_mut().find(|(s, _)| *s == name) {
                    slot.1 += 1;
                }
            }
        }
        t
    }
}

/// The API's name for where a torrent is (one of [`STATES`]).
pub(crate) fn state_name(view: &TorrentView, entry: &Entry) -> &'static str {
    match &view.state {
        TorrentState::Checking { .. } => "checking",
        TorrentState::FetchingMetadata => "downloading",
        TorrentState::Paused if entry.queued => "queued",
        TorrentState::Paused => "paused",
        TorrentState::Failed(_) => "error",
        TorrentState::Active if view.is_complete() => "seeding",
        TorrentState::Active => "downloading",
    }
}

/// The record of a torrent added now with `options`.
fn new_record(options: &AddOptions) -> TorrentRecord {
    TorrentRecord {
        save_path: options.save_path.clone().unwrap_or_default(),
        paused: options.paused,
        labels: options.labels.clone(),
        category: options.category.clone(),
        limits: options.limits.clone(),
        uploaded: 0,
        downloaded: 0,
        seeding_secs: 0,
        added_at: unix_now(),
        completed_at: None,
        error: None,
        magnet: None,
    }
}

/// Share of the torrent verified, 0 to 1.
pub(crate) fn progress(view: &TorrentView) -> f64 {
    // A magnet still fetching has no size yet: nothing of it is there.
    if view.pieces == 0 {
        return 0.0;
    }
    if view.total_bytes == 0 {
        return 1.0;
    }
    view.bytes_done as f64 / view.total_bytes as f64
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
