//! `hivebt download`, and what it shares with `seed` (see `ops::seed`): the engine's
//! options, loading torrents, finding out what is already on disk (from a resume record
//! whose file stamps still match, else by rechecking on the worker pool), running the
//! reactor, and reporting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{EngineSnapshot, MagnetSpec};
use crate::error::{Error, Result};
use crate::ops::verify::resolve_root;
use crate::ops::{load_torrent, thread_count};
use crate::progress::human_bytes;
use crate::reactor::{DhtSetup, EngineConfig, Reactor, TorrentSpec, TorrentSummary, UploadMode};
use crate::resume;
use crate::torrent::paths::sanitize;
use crate::torrent::state::TorrentState;
use crate::torrent::storage::{Layout, Storage};
use crate::wire::magnet::Magnet;
use crate::wire::metainfo::Metainfo;

/// The engine's options shared by `seed` and `download`, from the command line.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Addresses to accept peers on; empty for the command's default.
    pub listen: Vec<SocketAddr>,
    /// Peers to connect to.
    pub peers: Vec<SocketAddr>,
    /// Most connected peers (at least 1).
    pub max_peers: usize,
    /// Peers unchoked at once per torrent (at least 1).
    pub upload_slots: usize,
    /// State directory for resume records; `None` for the default one.
    pub state: Option<PathBuf>,
    /// Total upload limit in bytes per second; 0 means none.
    pub max_upload_rate: Option<u64>,
    /// Total download limit in bytes per second; 0 means none.
    pub max_download_rate: Option<u64>,
    /// Worker threads; `None` for the default.
    pub threads: Option<usize>,
    /// How blocks are sent.
    pub upload_mode: UploadMode,
    /// Print latency histograms at exit.
    pub stats: bool,
    /// The DHT, unless it is off; its table is saved in the state directory.
    pub dht: Option<DhtSetup>,
    /// Local service discovery (BEP 14).
    pub lsd: bool,
    /// Peer exchange (BEP 11).
    pub pex: bool,
}

impl EngineOptions {
    /// Threads hashing a recheck before the run: those asked for, else every core.
    pub fn batch_threads(&self) -> Result<usize> {
        thread_count(self.threads, crate::config::batch_worker_threads())
    }

    /// The engine's configuration, listening on `default_listen` when no address was
    /// given, stopping once complete with `exit_when_complete`.
    pub fn config(
        self,
        default_listen: SocketAddr,
        exit_when_complete: bool,
    ) -> Result<EngineConfig> {
        if self.upload_slots == 0 {
            return Err(Error::BadInput("--upload-slots must be at least 1".into()));
        }
        if self.max_peers == 0 {
            return Err(Error::BadInput("--max-peers must be at least 1".into()));
        }
        let listen = if self.listen.is_empty() {
            vec![default_listen]
        } else {
            self.listen
        };
        let state_dir = state_dir(self.state);
        let dht = self.dht.map(|mut d| {
            if d.bootstrap.is_empty() {
                d.bootstrap = crate::config::DHT_ROUTERS
                    .iter()
                    .map(|r| r.to_string())
                    .collect();
            }
            if d.table_file.is_none() {
                d.table_file = state_dir
                    .as_ref()
                    .map(|dir| dir.join(crate::config::DHT_TABLE_FILE));
            }
            d
        });
        Ok(EngineConfig {
            listen,
            peers: self.peers,
            max_peers: self.max_peers,
            upload_slots: self.upload_slots,
            workers: thread_count(self.threads, crate::config::engine_worker_threads())?,
            state_dir,
            exit_when_complete,
            announce_listen: true,
            max_upload_rate: self.max_upload_rate.filter(|&r| r > 0),
            max_download_rate: self.max_download_rate.filter(|&r| r > 0),
            extra_trackers: Vec::new(),
            tracker_server: None,
            upload_mode: self.upload_mode,
            stats: self.stats,
            stall_timeout: None,
            limits: crate::config::Limits::default(),
            service: false,
            dht,
            lsd: self.lsd,
            pex: self.pex,
        })
    }
}

/// `hivebt download`'s options.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// The .torrent file, or a magnet link.
    pub torrent: PathBuf,
    /// For a magnet link: where to write the fetched .torrent besides the state
    /// directory.
    pub save_torrent: Option<PathBuf>,
    /// Directory to download into (the content goes to `out/<name>`).
    pub out: PathBuf,
    /// Keep seeding after the download completes.
    pub seed: bool,
    /// Give up when no payload arrives for this many seconds (at least 1).
    pub timeout_secs: Option<u64>,
    /// Trackers to announce to besides the torrent's.
    pub trackers: Vec<String>,
    /// The engine's options.
    pub engine: EngineOptions,
}

/// Downloads a torrent (and seeds it after, with `seed`); true when it completed.
pub fn download(opts: DownloadOptions) -> Result<bool> {
    let any_port = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut config = opts.engine.config(any_port, !opts.seed)?;
    config.extra_trackers = opts.trackers;
    if opts.timeout_secs == Some(0) {
        return Err(Error::BadInput(
            "--timeout must be at least 1 second".into(),
        ));
    }
    config.stall_timeout = opts.timeout_secs.map(Duration::from_secs);
    if let Some(uri) = magnet_link(&opts.torrent) {
        let link = Magnet::parse(uri).map_err(|e| Error::BadInput(format!("{uri}: {e}")))?;
        let magnet = MagnetSpec {
            link,
            save_path: opts.out,
            paused: false,
            caps: Default::default(),
            save_torrent: opts.save_torrent,
        };
        let summaries = run_with(config, Vec::new(), vec![magnet])?;
        return Ok(summaries.iter().all(|s| s.complete));
    }
    if opts.save_torrent.is_some() {
        return Err(Error::BadInput(
            "--save-torrent is for magnet links (a .torrent file is already saved)".into(),
        ));
    }
    let spec = prepare(
        &opts.torrent,
        &opts.out,
        DataMode::Download,
        config.state_dir.as_deref(),
    )?;
    let summaries = run(config, vec![spec])?;
    Ok(summaries.iter().all(|s| s.complete))
}

/// `arg` as a magnet link, if it is one (`magnet:`, any case) rather than a path.
pub fn magnet_link(arg: &Path) -> Option<&str> {
    arg.to_str()
        .filter(|s| crate::wire::magnet::is_magnet_link(s))
}

/// How a torrent's data is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Seeding: the content should be there (`DIR/<name>` or `DIR` itself).
    Existing,
    /// Downloading into `DIR/<name>`, creating it.
    Download,
}

/// Opens `torrent` for the engine: its storage under `data`, and the pieces verified
/// on disk when a resume record says so (else the engine rechecks the data on its
/// workers before the torrent starts).
pub fn prepare(
    torrent: &Path,
    data: &Path,
    mode: DataMode,
    state_dir: Option<&Path>,
) -> Result<TorrentSpec> {
    let meta = load_torrent(torrent)?;
    prepare_meta(meta, data, mode, state_dir)
}

/// As [`prepare`], for a metainfo already in memory.
pub fn prepare_meta(
    meta: Metainfo,
    data: &Path,
    mode: DataMode,
    state_dir: Option<&Path>,
) -> Result<TorrentSpec> {
    let paths = sanitize(&meta.info);
    for change in &paths.changes {
        eprintln!("hivebt: warning: {change}");
    }
    let root = match mode {
        DataMode::Existing => resolve_root(data, &paths.name, meta.info.single_file),
        DataMode::Download => data.to_path_buf(),
    };
    let storage = Arc::new(Storage::new(root, Layout::new(&meta.info, &paths)));
    let pieces = storage.layout.piece_count();
    if mode == DataMode::Download {
        crate::disk::create_files(&storage)
            .map_err(|e| Error::io("cannot create the download files under", &storage.root, e))?;
    }
    let record = state_dir.map_or(resume::Record::Absent, |dir| {
        resume::load(dir, &meta.info_hash, &storage)
    });
    if let (resume::Record::Corrupt(why), Some(dir)) = (&record, state_dir) {
        eprintln!(
            "hivebt: warning: {}: resume record {} is damaged ({why}); ignoring it and rechecking the data",
            paths.name,
            resume::record_path(dir, &meta.info_hash).display()
        );
    }
    let have = match record {
        resume::Record::Trusted(have) => {
            eprintln!(
                "hivebt: {}: resume record matches the files; {} of {} pieces verified without a recheck",
                paths.name,
                have.count_ones(),
                pieces
            );
            if mode == DataMode::Existing && have.count_ones() == 0 {
                return Err(Error::Failed(format!(
                    "{}: no piece of {} verifies under {}; nothing to seed",
                    meta.info_hash,
                    paths.name,
                    storage.root.display()
                )));
            }
            if mode == DataMode::Existing && !have.is_all_set() {
                eprintln!(
                    "hivebt: warning: {}: only {} of {} pieces verify; seeding those",
                    paths.name,
                    have.count_ones(),
                    pieces
                );
            }
            Some(have)
        }
        // The engine hashes the data on its workers before the torrent starts.
        resume::Record::Absent | resume::Record::Stale | resume::Record::Corrupt(_) => None,
    };
    Ok(TorrentSpec {
        meta: Arc::new(meta),
        storage,
        have,
        require_data: mode == DataMode::Existing,
        paused: false,
        caps: Default::default(),
    })
}

/// Runs the engine and prints the summary lines.
pub fn run(config: EngineConfig, specs: Vec<TorrentSpec>) -> Result<Vec<TorrentSummary>> {
    run_with(config, specs, Vec::new())
}

/// As [`run`], with torrents known only by magnet link besides.
pub fn run_with(
    config: EngineConfig,
    specs: Vec<TorrentSpec>,
    magnets: Vec<MagnetSpec>,
) -> Result<Vec<TorrentSummary>> {
    let mut reactor = Reactor::with_magnets(config, specs, magnets)?;
    reactor.on_progress(Box::new(show_progress));
    let summaries = reactor.run()?;
    crate::progress::end_transfer_lines();
    if let Some(why) = summaries.iter().find_map(|s| s.failed.clone()) {
        return Err(Error::Failed(why));
    }
    for s in &summaries {
        let rate = if s.seconds > 0.0 {
            s.downloaded as f64 / s.seconds
        } else {
            0.0
        };
        eprintln!(
            "{} {}: {}, downloaded {} in {:.1} s ({}/s), uploaded {}, {} peers used, {} hash failures",
            s.info_hash,
            s.name,
            if s.complete { "complete" } else { "incomplete" },
            human_bytes(s.downloaded),
            s.seconds,
            human_bytes(rate as u64),
            human_bytes(s.uploaded),
            s.peers_used,
            s.hash_failures
        );
        if let Some(why) = &s.stalled {
            eprintln!("{} {}: stalled: {why}", s.info_hash, s.name);
        }
    }
    Ok(summaries)
}

/// A progress line per torrent that is still moving (or checking its data).
fn show_progress(snapshot: &EngineSnapshot, now: Instant) {
    for t in &snapshot.torrents {
        if let TorrentState::Checking { done, .. } = t.state {
            let pct = f64::from(done) * 100.0 / f64::from(t.pieces.max(1));
            let line = format!("{}: checking {pct:.1}%", t.name);
            crate::progress::transfer_line(pct, &line, now);
            continue;
        }
        if t.state == TorrentState::FetchingMetadata {
            let mut line = format!("{}: fetching metadata from {} peers", t.name, t.peers);
            if let Some(dht) = &snapshot.dht {
                line.push_str(&format!(" dht {} nodes {} lookups", dht.nodes, dht.lookups));
            }
            crate::progress::transfer_line(0.0, &line, now);
            continue;
        }
        if t.state != TorrentState::Active
            || (t.bytes_done == t.total_bytes && t.up_rate == 0 && t.completed_in_run)
        {
            continue;
        }
        let eta = if t.down_rate > 0 && t.bytes_done < t.total_bytes {
            format!("{}s", (t.total_bytes - t.bytes_done) / t.down_rate)
        } else {
            "-".into()
        };
        let pct = t.bytes_done as f64 * 100.0 / t.total_bytes as f64;
        let mut peers = t
            .stalled
            .clone()
            .unwrap_or_else(|| format!("peers {}", t.peers));
        if let (Some(dht), None) = (&snapshot.dht, &t.stalled) {
            peers.push_str(&format!(" dht {} nodes {} lookups", dht.nodes, dht.lookups));
        }
        let line = format!(
            "{}: {pct:.1}% down {}/s up {}/s eta {eta} {peers}",
            t.name,
            human_bytes(t.down_rate),
            human_bytes(t.up_rate),
        );
        crate::progress::transfer_line(pct, &line, now);
    }
}

/// The state directory from the option, or the default one.
pub fn state_dir(option: Option<PathBuf>) -> Option<PathBuf> {
    option.or_else(resume::default_state_dir)
}

/// Parses `HOST:PORT` for IPv4 (`127.0.0.1:6881`) and IPv6 (`[::1]:6881`) alike.
pub fn parse_addr(s: &str) -> std::result::Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not an address (use 127.0.0.1:6881 or [::1]:6881)"))
}
