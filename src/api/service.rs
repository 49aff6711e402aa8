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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::auth::Auth;
use super::tasks::{base64, delete_data, prepare, rename_with, scan_watch_dir};
use super::{ApiError, json_response, v1};
use crate::bitfield::Bitfield;
use crate::engine::store::{self, TorrentRecord};
use crate::engine::{AddError, Engine, EngineSnapshot, TorrentSpec, TorrentView};
use crate::torrent::state::TorrentState;
use crate::torrent::storage::Storage;
use crate::types::{InfoHash, TorrentId};
use crate::wire::http::Request;
use crate::wire::metainfo::Metainfo;
use crate::workers::{Task, TaskOutput};

/// How often the watch folder is looked at.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How often changed totals are saved.
const TOTALS_INTERVAL: Duration = Duration::from_secs(60);
/// Most event-stream subscribers at once; more are refused.
const MAX_STREAMS: usize = 32;

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
}

impl Entry {
    fn new(record: TorrentRecord) -> Entry {
        Entry {
            record,
            seen_up: 0,
            seen_down: 0,
            queued: false,
            last_state: "",
            dirty: false,
        }
    }
}

/// Options of an add request.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddOptions {
    pub save_path: Option<PathBuf>,
    pub paused: bool,
    pub labels: Vec<String>,
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

/// A request waiting for a worker task.
enum Pending {
    /// An add, whose .torrent is being read and files set up.
    Prepare {
        conn: Option<HttpConnId>,
        keep_alive: bool,
        options: AddOptions,
        /// It came from the watch folder: rename it when done.
        watched: Option<PathBuf>,
    },
    /// An add written to the store: answer with the torrent (and the .torrent).
    Added {
        conn: Option<HttpConnId>,
        keep_alive: bool,
        hash: InfoHash,
        torrent: Option<Vec<u8>>,
        watched: Option<PathBuf>,
    },
    /// A change written: send `answer` (or the error) when done.
    Written {
        conn: Option<HttpConnId>,
        keep_alive: bool,
        answer: Vec<u8>,
    },
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
    totals_at: Option<Instant>,
    pub(crate) started_at: Instant,
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
            totals_at: None,
            started_at: now,
        }
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
        v1::route(self, engine, request, peer, conn, now)
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

    fn answer(&mut self, conn: Option<HttpConnId>, bytes: Vec<u8>) {
        if let Some(c) = conn {
            self.outputs.push_back(ApiOutput::Answer(c, bytes));
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

    /// Starts an add: the source is read and the files set up on a worker.
    pub(crate) fn start_add(
        &mut self,
        engine: &mut Engine,
        source: AddSource,
        options: AddOptions,
        conn: Option<HttpConnId>,
        keep_alive: bool,
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
        self.spawn(
            engine,
            Pending::Prepare {
                conn,
                keep_alive,
                options,
                watched,
            },
            move || Box::new(prepare(source, &save_path, &state)),
        );
        Ok(())
    }

    /// A path given to the API must be absolute, free of `..`, and under an allowed
    /// root when roots are configured.
    fn check_path(&self, what: &str, path: &Path) -> Result<(), ApiError> {
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
        conn: Option<HttpConnId>,
        keep_alive: bool,
        answer: Vec<u8>,
    ) {
        let Some(entry) = self.entries.get_mut(&hash) else {
            return self.answer(conn, answer);
        };
        entry.dirty = false;
        let record = entry.record.clone();
        let state = self.setup.state_dir.clone();
        self.spawn(
            engine,
            Pending::Written {
                conn,
                keep_alive,
                answer,
            },
            move || Box::new(store::save_record(&state, &hash, &record).map_err(|e| e.to_string())),
        );
    }

    /// Removes `hash`'s files from the store (and its data when asked) on a worker,
    /// then answers.
    pub(crate) fn forget(
        &mut self,
        engine: &mut Engine,
        hash: InfoHash,
        storage: Option<Arc<Storage>>,
        conn: Option<HttpConnId>,
        keep_alive: bool,
        answer: Vec<u8>,
    ) {
        self.entries.remove(&hash);
        let state = self.setup.state_dir.clone();
        self.broadcast(
            "removed",
            &serde_json::json!({ "info_hash": hash.to_hex() }),
        );
        self.spawn(
            engine,
            Pending::Written {
                conn,
                keep_alive,
                answer,
            },
            move || {
                let mut result = store::remove(&state, &hash).map_err(|e| e.to_string());
                if let (Ok(()), Some(storage)) = (&result, storage) {
                    result = delete_data(&storage);
                }
                Box::new(result)
            },
        );
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
        match pending {
            Pending::Prepare {
                conn,
                keep_alive,
                options,
                watched,
            } => {
                let prepared =
                    task_output(output, || Err(ApiError::new(500, "internal", "lost task")));
                self.on_prepared(engine, prepared, options, conn, keep_alive, watched, now);
            }
            Pending::Added {
                conn,
                keep_alive,
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
                    return self.answer(conn, write_failed(&why).to_response(keep_alive));
                }
                if let Some(path) = watched {
                    rename_with(&path, "added");
                }
                let Some(object) = self.torrent_json(engine, &hash) else {
                    return;
                };
                self.broadcast("added", &object);
                let mut object = object;
                if let (Some(bytes), serde_json::Value::Object(map)) = (torrent, &mut object) {
                    map.insert("torrent".into(), base64(&bytes).into());
                }
                self.answer(conn, json_response(201, &object, "", keep_alive));
            }
            Pending::Written {
                conn,
                keep_alive,
                answer,
            } => {
                let result: Result<(), String> = task_output(output, || Err("lost task".into()));
                match result {
                    Ok(()) => self.answer(conn, answer),
                    Err(why) => self.answer(conn, write_failed(&why).to_response(keep_alive)),
                }
            }
            Pending::Reload => {
                let result: Result<Reloaded, String> =
                    task_output(output, || Err("lost task".into()));
                self.on_reloaded(engine, result, now);
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
                                false,
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
        conn: Option<HttpConnId>,
        keep_alive: bool,
        watched: Option<PathBuf>,
        now: Instant,
    ) {
        let fail = |this: &mut ApiService, e: ApiError| {
            if let Some(path) = &watched {
                if e.status == 409 {
                    log::info!("{}: {}", path.display(), e.message);
                    rename_with(path, "added");
                } else {
                    log::warn!("{}: {}", path.display(), e.message);
                    rename_with(path, "invalid");
                }
            }
            this.answer(conn, e.to_response(keep_alive));
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
        let record = TorrentRecord {
            save_path: options.save_path.clone().unwrap_or_default(),
            paused: options.paused,
            labels: options.labels,
            limits: options.limits,
            uploaded: 0,
            downloaded: 0,
            seeding_secs: 0,
            added_at: unix_now(),
            completed_at: None,
            error: None,
        };
        self.entries.insert(hash, Entry::new(record.clone()));
        let state = self.setup.state_dir.clone();
        let bytes = p.bytes;
        let returned = p.created.then(|| bytes.clone());
        self.spawn(
            engine,
            Pending::Added {
                conn,
                keep_alive,
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
            let complete = view.bytes_done == view.total_bytes;
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
        if !self.streams.is_empty() {
            let up: u64 = snapshot.torrents.iter().map(|t| t.up_rate).sum();
            let down: u64 = snapshot.torrents.iter().map(|t| t.down_rate).sum();
            let torrents: Vec<serde_json::Value> = snapshot
                .torrents
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "info_hash": t.info_hash.to_hex(),
                        "download_rate": t.down_rate,
                        "upload_rate": t.up_rate,
                        "progress": progress(t),
                        "peers": t.peers,
                    })
                })
                .collect();
            self.broadcast(
                "rates",
                &serde_json::json!({"download_rate": down, "upload_rate": up, "torrents": torrents}),
            );
        }
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
                self.persist(engine, hash, None, false, Vec::new());
            }
            ShareAction::Remove => {
                log::info!("{name}: share limit reached; removing it (its data stays)");
                engine.remove(id);
                self.forget(engine, hash, None, None, false, Vec::new());
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
            let complete = v.bytes_done == v.total_bytes;
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

    /// Saves the records whose totals changed, on the workers.
    fn save_dirty(&mut self, engine: &mut Engine) {
        let dirty: Vec<InfoHash> = self
            .entries
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(h, _)| *h)
            .collect();
        for hash in dirty {
            self.persist(engine, hash, None, false, Vec::new());
        }
    }

    /// The run ends: every record is brought up to date and written now (the reactor
    /// is stopping; blocking here is what is wanted).
    pub fn on_shutdown(&mut self, engine: &Engine) {
        self.shutting_down = true;
        for view in engine.snapshot().torrents {
            let Some(entry) = self.entries.get_mut(&view.info_hash) else {
                continue;
            };
            bring_totals(entry, &view);
            // Every record, not only the changed ones: a save still queued for the
            // workers may never run now.
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
        Some(v1::torrent_object(&view, entry))
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

/// The API's name for where a torrent is.
pub(crate) fn state_name(view: &TorrentView, entry: &Entry) -> &'static str {
    match &view.state {
        TorrentState::FetchingMetadata | TorrentState::Checking { .. } => "checking",
        TorrentState::Paused if entry.queued => "queued",
        TorrentState::Paused => "paused",
        TorrentState::Failed(_) => "error",
        TorrentState::Active if view.bytes_done == view.total_bytes => "seeding",
        TorrentState::Active => "downloading",
    }
}

/// Share of the torrent verified, 0 to 1.
pub(crate) fn progress(view: &TorrentView) -> f64 {
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
