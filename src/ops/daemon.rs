//! `hivebt daemon`: the engine as a long-running service. Loads the session from the
//! state directory (every torrent back in its state), binds the peer and API
//! listeners, and runs until SIGINT or SIGTERM, saving the session on the way out.
//!
//! Depends on `settings` (the configuration file, already merged with the flags),
//! `engine::store`, `api` and `reactor`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{ApiService, ApiSetup, ShareAction, auth};
use crate::engine::store::{self, TorrentRecord};
use crate::engine::{EngineConfig, EngineEvent, MagnetSpec, TorrentSpec};
use crate::error::{Error, Result};
use crate::reactor::{Reactor, UploadMode};
use crate::settings::{ActiveLimit, Overrides, Settings, SettingsError, ShareLimitAction};
use crate::torrent::paths::sanitize;
use crate::torrent::storage::{Layout, Storage};
use crate::types::InfoHash;
use crate::wire::magnet::Magnet;
use crate::wire::metainfo::Metainfo;

/// Everything the daemon runs with: the configuration file's settings with the
/// command line's flags applied.
#[derive(Clone)]
pub struct DaemonOptions {
    /// Reads the configuration file again (SIGHUP); `None` without one.
    pub reload: Option<crate::api::ReloadFn>,
    /// The state directory (session, resume records, password, token).
    pub state_dir: PathBuf,
    /// Save path of torrents added without one.
    pub data_dir: PathBuf,
    /// API listen addresses.
    pub api: Vec<SocketAddr>,
    /// Peer listen addresses.
    pub listen: Vec<SocketAddr>,
    /// The watch folder.
    pub watch_dir: Option<PathBuf>,
    /// Roots for save paths and `create_from` (empty: anywhere).
    pub allowed_paths: Vec<PathBuf>,
    /// Extra names the `Host` header may carry.
    pub allowed_hosts: Vec<String>,
    /// Origins allowed to make state-changing requests.
    pub cors_origins: Vec<String>,
    /// Global upload limit, bytes per second.
    pub max_upload_rate: Option<u64>,
    /// Global download limit.
    pub max_download_rate: Option<u64>,
    /// Most connected peers in all.
    pub max_connections: usize,
    /// Most peers per torrent.
    pub max_connections_per_torrent: usize,
    /// Upload slots per torrent.
    pub upload_slots: usize,
    /// Most torrents downloading at once.
    pub max_active_downloads: Option<usize>,
    /// Most torrents seeding at once.
    pub max_active_seeds: Option<usize>,
    /// Default ratio limit.
    pub ratio_limit: Option<f64>,
    /// Default seeding-time limit.
    pub seed_time_limit: Option<Duration>,
    /// What a share limit does.
    pub share_action: ShareAction,
    /// Failed logins that block an address.
    pub login_max_failures: u32,
    /// How long the block lasts.
    pub login_block: Duration,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Most API connections at once.
    pub api_max_connections: usize,
    /// Per-torrent series in `/metrics`.
    pub metrics_per_torrent: bool,
    /// Worker threads (`None`: the default).
    pub workers: Option<usize>,
    /// How often resume records are written.
    pub resume_interval: Duration,
    /// Trackers every torrent announces to besides its own.
    pub trackers: Vec<String>,
    /// Peers every torrent dials (tests and private swarms).
    pub peers: Vec<SocketAddr>,
    /// The DHT, unless it is off.
    pub dht: Option<crate::engine::DhtSetup>,
    /// Local service discovery (BEP 14).
    pub lsd: bool,
    /// Peer exchange (BEP 11).
    pub pex: bool,
}

/// `hivebt daemon`'s flags, which override the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// The configuration file.
    pub config: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--api` (repeatable).
    pub api: Vec<SocketAddr>,
    /// `--listen` (repeatable).
    pub listen: Vec<SocketAddr>,
    /// `--watch`.
    pub watch: Option<PathBuf>,
    /// `--peer` (repeatable).
    pub peers: Vec<SocketAddr>,
    /// `--no-dht`.
    pub no_dht: bool,
    /// `--dht-bootstrap` (repeatable).
    pub dht_bootstrap: Vec<String>,
    /// `--dht-listen` (repeatable).
    pub dht_listen: Vec<SocketAddr>,
    /// `--no-lsd`.
    pub no_lsd: bool,
    /// `--no-pex`.
    pub no_pex: bool,
}

/// Every setting with its default and a line of documentation (`--print-config`).
pub fn print_config() -> String {
    Settings::print_default()
}

/// The configuration file (if any) with the flags applied.
pub fn options(flags: Flags) -> Result<DaemonOptions> {
    let config = flags.config.clone();
    let (opts, settings, overrides) = read_options(flags)?;
    let mut opts = opts;
    if let Some(path) = config {
        let running = std::sync::Mutex::new(settings);
        opts.reload = Some(Arc::new(move || {
            let mut new = Settings::load(&path).map_err(|e| e.to_string())?;
            new.apply(&overrides);
            new.validate().map_err(|e| e.to_string())?;
            let mut running = running.lock().map_err(|_| "poisoned".to_string())?;
            let diff = running.reload_diff(&new);
            let (applied, mut restart): (Vec<&'static str>, Vec<&'static str>) =
                diff.runtime.iter().partition(|k| RELOADABLE.contains(k));
            restart.extend(diff.restart);
            let data_dir = new.data_dir().map_err(|e| e.to_string())?;
            let active = |a: ActiveLimit| a.0.map(|n| n as usize);
            let reloaded = crate::api::Reloaded {
                data_dir,
                allowed_paths: new.paths.allowed_paths.clone(),
                watch_dir: new.paths.watch_dir.clone(),
                rates: (
                    new.limits.max_upload_rate.get(),
                    new.limits.max_download_rate.get(),
                ),
                ratio_limit: new.queue.ratio_limit,
                seed_time_limit: new.queue.seed_time_limit.map(|s| s.as_secs()),
                share_action: Some(share_action(new.queue.share_limit_action)),
                max_active_downloads: active(new.queue.max_active_downloads),
                max_active_seeds: active(new.queue.max_active_seeds),
                metrics_per_torrent: new.api.metrics_per_torrent,
                applied,
                restart,
            };
            // What needs a restart stays as it runs, so it is reported again until then.
            let mut kept = new;
            kept.peers = running.peers.clone();
            kept.api = crate::settings::ApiSettings {
                metrics_per_torrent: kept.api.metrics_per_torrent,
                ..running.api.clone()
            };
            kept.engine = running.engine.clone();
            kept.paths.state_dir = running.paths.state_dir.clone();
            kept.limits.max_connections = running.limits.max_connections;
            kept.limits.max_connections_per_torrent = running.limits.max_connections_per_torrent;
            kept.limits.upload_slots = running.limits.upload_slots;
            *running = kept;
            Ok(reloaded)
        }));
    }
    Ok(opts)
}

/// The keys a SIGHUP puts in effect at once; every other changed key waits for a
/// restart (and is said to).
const RELOADABLE: &[&str] = &[
    "paths.data_dir",
    "paths.watch_dir",
    "paths.allowed_paths",
    "limits.max_upload_rate",
    "limits.max_download_rate",
    "queue.max_active_downloads",
    "queue.max_active_seeds",
    "queue.ratio_limit",
    "queue.seed_time_limit",
    "queue.share_limit_action",
    "api.metrics_per_torrent",
];

fn share_action(a: ShareLimitAction) -> ShareAction {
    match a {
        ShareLimitAction::Pause => ShareAction::Pause,
        ShareLimitAction::Remove => ShareAction::Remove,
    }
}

fn read_options(flags: Flags) -> Result<(DaemonOptions, Settings, Overrides)> {
    let bad = |e: SettingsError| Error::BadInput(e.to_string());
    let mut settings = match &flags.config {
        Some(path) => Settings::load(path).map_err(bad)?,
        None => Settings::default(),
    };
    let absolute = |p: Option<PathBuf>| -> Result<Option<PathBuf>> {
        p.map(|p| std::path::absolute(&p).map_err(|e| Error::io("cannot resolve", &p, e)))
            .transpose()
    };
    let overrides = Overrides {
        state_dir: absolute(flags.state)?,
        data_dir: absolute(flags.data)?,
        watch_dir: absolute(flags.watch)?,
        listen: flags.listen,
        api: flags.api,
        no_dht: flags.no_dht,
        dht_bootstrap: flags.dht_bootstrap,
        dht_listen: flags.dht_listen,
        no_lsd: flags.no_lsd,
        no_pex: flags.no_pex,
        ..Default::default()
    };
    settings.apply(&overrides);
    settings.validate().map_err(bad)?;
    let state_dir = settings.state_dir().map_err(bad)?;
    let state_dir_for_dht = state_dir.clone();
    let data_dir = settings.data_dir().map_err(bad)?;
    let limits = &settings.limits;
    let queue = &settings.queue;
    let api = &settings.api;
    let active = |a: ActiveLimit| a.0.map(|n| n as usize);
    let opts = DaemonOptions {
        state_dir,
        data_dir,
        api: api.listen.clone(),
        listen: settings.peers.listen.clone(),
        watch_dir: settings.paths.watch_dir.clone(),
        allowed_paths: settings.paths.allowed_paths.clone(),
        allowed_hosts: api.allowed_hosts.clone(),
        cors_origins: api.cors_origins.clone(),
        max_upload_rate: limits.max_upload_rate.get(),
        max_download_rate: limits.max_download_rate.get(),
        max_connections: limits.max_connections as usize,
        max_connections_per_torrent: limits.max_connections_per_torrent as usize,
        upload_slots: limits.upload_slots as usize,
        max_active_downloads: active(queue.max_active_downloads),
        max_active_seeds: active(queue.max_active_seeds),
        ratio_limit: queue.ratio_limit,
        seed_time_limit: queue.seed_time_limit.map(|s| s.duration()),
        share_action: share_action(queue.share_limit_action),
        login_max_failures: api.login_max_failures,
        login_block: api.login_block.duration(),
        session_ttl: api.session_ttl.duration(),
        api_max_connections: api.max_connections as usize,
        metrics_per_torrent: api.metrics_per_torrent,
        workers: settings.engine.workers.map(|n| n as usize),
        resume_interval: settings.engine.resume_interval.duration(),
        trackers: settings.peers.trackers.clone(),
        peers: flags.peers,
        dht: settings.peers.dht.then(|| crate::engine::DhtSetup {
            listen: settings.peers.dht_listen.clone(),
            bootstrap: settings.peers.dht_bootstrap.clone(),
            table_file: Some(state_dir_for_dht.join(crate::config::DHT_TABLE_FILE)),
        }),
        lsd: settings.peers.lsd,
        pex: settings.peers.pex,
        reload: None,
    };
    Ok((opts, settings, overrides))
}

/// The file under the state directory holding the password hash.
pub const PASSWORD_FILE: &str = "password";

/// Stores the hash of `password` in the state directory (`--set-password`).
pub fn set_password(state_dir: &Path, password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::BadInput("the password is empty".into()));
    }
    let path = state_dir.join(PASSWORD_FILE);
    auth::write_secret(&path, auth::hash_password(password).as_bytes())
        .map_err(|e| Error::io("cannot write", &path, e))
}

/// Runs the daemon until a signal.
pub fn run(opts: DaemonOptions) -> Result<()> {
    let password_path = opts.state_dir.join(PASSWORD_FILE);
    let password_hash = match std::fs::read_to_string(&password_path) {
        Ok(s) => Some(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot read", &password_path, e)),
    };
    if password_hash.is_none() && auth::needs_password(&opts.api) {
        return Err(Error::BadInput(format!(
            "the API would listen on {} without a password: set one with `hivebt daemon --set-password` (state directory {}), or listen on loopback only",
            opts.api
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            opts.state_dir.display()
        )));
    }
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(|e| Error::io("cannot create", &opts.state_dir, e))?;
    let token = auth::load_or_create_token(&opts.state_dir)
        .map_err(|e| Error::io("cannot write the API token in", &opts.state_dir, e))?;

    let Session {
        specs,
        magnets,
        records,
    } = load_session(&opts.state_dir);
    let api_listeners = bind_all(&opts.api, "the API")?;
    let api_addrs: Vec<SocketAddr> = api_listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let limits = crate::config::Limits {
        peers_per_torrent: opts.max_connections_per_torrent.max(1),
        resume_interval: opts.resume_interval.max(Duration::from_secs(1)),
        ..Default::default()
    };
    let workers = match opts.workers {
        Some(0) => return Err(Error::BadInput("workers must be at least 1".into())),
        Some(n) => n,
        None => crate::config::engine_worker_threads(),
    };
    let config = EngineConfig {
        listen: opts.listen.clone(),
        peers: opts.peers.clone(),
        max_peers: opts.max_connections.max(1),
        upload_slots: opts.upload_slots.max(1),
        workers,
        state_dir: Some(opts.state_dir.clone()),
        exit_when_complete: false,
        announce_listen: true,
        max_upload_rate: opts.max_upload_rate.filter(|&r| r > 0),
        max_download_rate: opts.max_download_rate.filter(|&r| r > 0),
        extra_trackers: opts.trackers.clone(),
        tracker_server: None,
        upload_mode: UploadMode::default(),
        stats: true,
        stall_timeout: None,
        limits,
        service: true,
        dht: opts.dht.clone(),
        lsd: opts.lsd,
        pex: opts.pex,
    };
    let now = Instant::now();
    let auth = auth::Auth::new(
        auth::AuthConfig {
            password_hash,
            token: Some(token),
            allowed_hosts: opts.allowed_hosts.clone(),
            cors_origins: opts.cors_origins.clone(),
            max_failures: opts.login_max_failures,
            block_for: opts.login_block,
            session_ttl: opts.session_ttl,
        },
        api_addrs.clone(),
    )
    .map_err(|e| Error::BadInput(format!("{}: {e}", password_path.display())))?;
    let setup = ApiSetup {
        reload: opts.reload.clone(),
        state_dir: opts.state_dir.clone(),
        data_dir: opts.data_dir.clone(),
        allowed_paths: opts.allowed_paths.clone(),
        watch_dir: opts.watch_dir.clone(),
        ratio_limit: opts.ratio_limit,
        seed_time_limit: opts.seed_time_limit.map(|d| d.as_secs()),
        share_action: opts.share_action,
        max_active_downloads: opts.max_active_downloads,
        max_active_seeds: opts.max_active_seeds,
        metrics_per_torrent: opts.metrics_per_torrent,
        listen: api_addrs,
    };
    let count = specs.len() + magnets.len();
    let service = ApiService::new(setup, auth, records, now);
    let mut reactor = Reactor::with_magnets(config, specs, magnets)?;
    reactor.serve_api(api_listeners, service, opts.api_max_connections.max(1))?;
    for a in reactor.api_addrs() {
        println!("api on http://{a}");
    }
    eprintln!(
        "hivebt: daemon running with {count} torrents (state {})",
        opts.state_dir.display()
    );
    reactor.on_progress(Box::new(|_, _| {}));
    reactor.on_event(Box::new(|event| match event {
        EngineEvent::Info { .. } => log::info!("{event}"),
        _ => log::warn!("{event}"),
    }));
    reactor.run()?;
    eprintln!("hivebt: daemon stopped; session saved");
    Ok(())
}

fn bind_all(addrs: &[SocketAddr], what: &str) -> Result<Vec<TcpListener>> {
    addrs
        .iter()
        .map(|a| {
            crate::reactor::tcp_listener(*a)
                .map_err(|e| Error::Failed(format!("cannot listen for {what} on {a}: {e}")))
        })
        .collect()
}

/// Every stored torrent as a spec for the engine, with its record. A torrent that
/// cannot be brought back is logged and left in the store.
fn load_session(state: &Path) -> Session {
    let (stored, warnings) = store::load_all(state);
    for w in warnings {
        eprintln!("hivebt: warning: {w}");
    }
    let mut specs = Vec::new();
    let mut magnets = Vec::new();
    let mut records = Vec::new();
    for s in stored {
        if s.torrent.is_empty() {
            // A magnet whose metadata has not arrived: fetched again.
            let link = s.record.magnet.as_deref().map(Magnet::parse);
            match link {
                Some(Ok(link)) if link.info_hash == s.info_hash => {
                    magnets.push(MagnetSpec {
                        link,
                        save_path: s.record.save_path.clone(),
                        paused: s.record.paused,
                        caps: s.record.limits.caps(),
                        save_torrent: None,
                    });
                    records.push((s.info_hash, s.record));
                }
                _ => eprintln!(
                    "hivebt: warning: {}: its record's magnet link is not usable; skipping it",
                    s.info_hash.to_hex()
                ),
            }
            continue;
        }
        let meta = match Metainfo::from_bytes(&s.torrent) {
            Ok(m) if m.info_hash == s.info_hash => m,
            Ok(_) => {
                eprintln!(
                    "hivebt: warning: {}: its .torrent has another info-hash; skipping it",
                    s.info_hash.to_hex()
                );
                continue;
            }
            Err(e) => {
                eprintln!(
                    "hivebt: warning: {}: its .torrent is damaged ({e}); skipping it",
                    s.info_hash.to_hex()
                );
                continue;
            }
        };
        let paths = sanitize(&meta.info);
        let storage = Arc::new(Storage::new(
            s.record.save_path.clone(),
            Layout::new(&meta.info, &paths),
        ));
        if let Err(e) = crate::disk::create_files(&storage) {
            eprintln!(
                "hivebt: warning: {}: cannot set up its files under {}: {e}",
                paths.name,
                s.record.save_path.display()
            );
        }
        let have = match crate::resume::load(state, &meta.info_hash, &storage) {
            crate::resume::Record::Trusted(have) => Some(have),
            _ => None,
        };
        specs.push(TorrentSpec {
            meta: Arc::new(meta),
            storage,
            have,
            require_data: false,
            paused: s.record.paused,
            caps: s.record.limits.caps(),
        });
        records.push((s.info_hash, s.record));
    }
    Session {
        specs,
        magnets,
        records,
    }
}

/// The torrents of a state directory, as the engine and the API take them.
struct Session {
    specs: Vec<TorrentSpec>,
    magnets: Vec<MagnetSpec>,
    records: Vec<(InfoHash, TorrentRecord)>,
}
