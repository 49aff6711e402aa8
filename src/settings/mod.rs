//! The daemon's configuration file (`hivebt.toml`): every setting of `hivebt daemon`,
//! its default, how it is read, checked, overridden by flags and reloaded on SIGHUP.
//!
//! The file has one table per thing an operator configures: `[paths]`, `[peers]`,
//! `[limits]`, `[queue]`, `[api]` and `[engine]`. Every key may be left out and has a
//! default; unknown keys are errors, so a typo is never silently ignored. Errors name
//! the file, the 1-based line and the dotted key (`hivebt.toml:7: unknown key
//! "limits.max_uplod_rate"; ...`).
//!
//! - [`value`]: byte rates, durations and "-1 is unlimited" counts, with their parsers
//!   ([`parse_rate`], [`parse_duration`]), reusable by `hivebt ctl` flags.
//! - [`keys`]: the list of every key with its doc line and whether a reload applies it,
//!   from which [`Settings::print_default`] and [`Settings::reload_diff`] are made.
//! - [`error`]: [`SettingsError`], and finding a key's line in the file.
//!
//! Paths whose default depends on the environment (`state_dir`, `data_dir`) are `None`
//! in [`Settings`] and resolved by [`Settings::state_dir`] and [`Settings::data_dir`]
//! when the daemon starts, not when the file is read, so `--print-config` shows the
//! rule rather than one machine's answer. Depends on [`crate::config`] only.
//!
//! Invariant: a [`Settings`] returned by [`Settings::from_toml`] has passed
//! [`Settings::validate`]; after [`Settings::apply`] the caller validates again.

pub mod error;
pub mod keys;
pub mod value;

use std::collections::HashSet;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

use crate::config;

pub use error::SettingsError;
pub use keys::Reload;
pub use value::{
    ActiveLimit, ByteRate, Secs, ShareLimitAction, format_duration, format_rate, parse_duration,
    parse_host_port, parse_rate, parse_rate_flag, parse_size,
};

/// Largest `engine.workers` accepted; more threads than this only contend.
pub const MAX_WORKERS: u32 = 1024;

/// Every setting of the daemon, as read from its configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where state and data live, and which paths the API may name.
    pub paths: PathSettings,
    /// The BitTorrent side: where peers connect, extra trackers.
    pub peers: PeerSettings,
    /// Global rate and connection limits, and per-torrent defaults.
    pub limits: LimitSettings,
    /// How many torrents run at once, and when seeding stops.
    pub queue: QueueSettings,
    /// The HTTP API: addresses, browser checks, login and sessions.
    pub api: ApiSettings,
    /// The engine's threads and housekeeping.
    pub engine: EngineSettings,
}

/// `[paths]`: where state and data live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathSettings {
    /// Resume records, the API token and sessions; unset: see [`Settings::state_dir`].
    pub state_dir: Option<PathBuf>,
    /// Where a torrent is saved when it is added without a save path; unset: see
    /// [`Settings::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// A directory watched for .torrent files to add; unset: none is watched.
    pub watch_dir: Option<PathBuf>,
    /// Roots that paths named through the API (save path, torrent path, create from)
    /// must lie under; empty: any absolute path.
    pub allowed_paths: Vec<PathBuf>,
}

/// `[peers]`: the BitTorrent side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerSettings {
    /// Addresses that accept peer connections; empty: none are accepted, only dialled.
    #[serde(deserialize_with = "socket_addrs")]
    pub listen: Vec<SocketAddr>,
    /// Tracker URLs announced to for every torrent that is not private (BEP 27).
    pub trackers: Vec<String>,
    /// Take part in the DHT (BEP 5); private torrents never use it.
    pub dht: bool,
    /// `HOST:PORT` of the nodes the DHT joins through (besides the saved table).
    pub dht_bootstrap: Vec<String>,
    /// UDP addresses of the DHT; empty: the `listen` addresses (the peer port).
    #[serde(deserialize_with = "socket_addrs")]
    pub dht_listen: Vec<SocketAddr>,
    /// Local service discovery (BEP 14) on the peer listeners' networks.
    pub lsd: bool,
    /// Peer exchange (BEP 11) with the peers of public torrents.
    pub pex: bool,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            // Both families on one port (the IPv6 listener is IPv6-only); a host
            // without IPv6 skips `[::]` with a warning.
            listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 6881),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 6881),
            ],
            trackers: Vec::new(),
            dht: true,
            dht_bootstrap: config::DHT_ROUTERS.iter().map(|r| r.to_string()).collect(),
            dht_listen: Vec::new(),
            lsd: true,
            pex: true,
        }
    }
}

/// `[limits]`: global rate and connection limits, and per-torrent defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Upload rate of all torrents together.
    pub max_upload_rate: ByteRate,
    /// Download rate of all torrents together.
    pub max_download_rate: ByteRate,
    /// Peer connections of all torrents together.
    pub max_connections: u32,
    /// Peer connections of one torrent, unless the torrent sets its own.
    pub max_connections_per_torrent: u32,
    /// Peers one torrent uploads to at once (unchoked, BEP 3), optimistic slot included.
    pub upload_slots: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_upload_rate: ByteRate::UNLIMITED,
            max_download_rate: ByteRate::UNLIMITED,
            max_connections: 500,
            max_connections_per_torrent: 50,
            upload_slots: 4,
        }
    }
}

/// `[queue]`: how many torrents run at once, and when seeding stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// Torrents downloading at once; the rest wait queued.
    pub max_active_downloads: ActiveLimit,
    /// Torrents seeding at once; the rest wait queued.
    pub max_active_seeds: ActiveLimit,
    /// Upload/size ratio at which a torrent stops seeding; unset: no limit.
    pub ratio_limit: Option<f64>,
    /// Seeding time after which a torrent stops seeding; unset: no limit.
    pub seed_time_limit: Option<Secs>,
    /// What stopping means, when a torrent reaches a share limit.
    pub share_limit_action: ShareLimitAction,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            max_active_downloads: ActiveLimit(Some(5)),
            max_active_seeds: ActiveLimit(None),
            ratio_limit: None,
            seed_time_limit: None,
            share_limit_action: ShareLimitAction::Pause,
        }
    }
}

/// `[api]`: the HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Addresses the API listens on; at least one.
    #[serde(deserialize_with = "socket_addrs")]
    pub listen: Vec<SocketAddr>,
    /// `Host` names accepted besides the listen addresses and `localhost` (DNS
    /// rebinding defence).
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://host:port`) allowed to call the API cross-origin.
    pub cors_origins: Vec<String>,
    /// API connections open at once; more wait in the kernel's backlog.
    pub max_connections: u32,
    /// Failed logins from one address before it is locked out.
    pub login_max_failures: u32,
    /// How long a locked-out address stays locked out.
    pub login_block: Secs,
    /// How long a login session lasts.
    pub session_ttl: Secs,
    /// Whether `/metrics` has series per torrent (one per torrent and metric).
    pub metrics_per_torrent: bool,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)],
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            max_connections: 64,
            login_max_failures: 5,
            login_block: Secs::from_secs(3600),
            session_ttl: Secs::from_secs(7 * 86_400),
            metrics_per_torrent: false,
        }
    }
}

/// `[engine]`: threads and housekeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Hashing and disk threads; unset: the cores minus one, at least one.
    pub workers: Option<u32>,
    /// How often a changed resume record is written.
    pub resume_interval: Secs,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            workers: None,
            resume_interval: Secs::from_secs(60),
        }
    }
}

/// Settings given as command-line flags; each one given wins over the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `paths.state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `paths.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// `paths.watch_dir`.
    pub watch_dir: Option<PathBuf>,
    /// `peers.listen`; empty: not given.
    pub listen: Vec<SocketAddr>,
    /// `api.listen`; empty: not given.
    pub api: Vec<SocketAddr>,
    /// `limits.max_upload_rate`.
    pub max_upload_rate: Option<ByteRate>,
    /// `limits.max_download_rate`.
    pub max_download_rate: Option<ByteRate>,
    /// `limits.max_connections`.
    pub max_connections: Option<u32>,
    /// `engine.workers`.
    pub workers: Option<u32>,
    /// `--no-dht`: `peers.dht = false`.
    pub no_dht: bool,
    /// `peers.dht_bootstrap`; empty: not given.
    pub dht_bootstrap: Vec<String>,
    /// `peers.dht_listen`; empty: not given.
    pub dht_listen: Vec<SocketAddr>,
    /// `--no-lsd`: `peers.lsd = false`.
    pub no_lsd: bool,
    /// `--no-pex`: `peers.pex = false`.
    pub no_pex: bool,
}

/// One address of a listen list. serde's own `SocketAddr` error ("invalid socket
/// address syntax") shows neither the value nor the form wanted; parsing each element
/// here also lets the error point at the element's line.
struct ListenAddr(SocketAddr);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed in the visitor, not after: toml gives an error its element's span only
        // when it is raised inside the element's deserializer.
        struct AddrVisitor;
        impl serde::de::Visitor<'_> for AddrVisitor {
            type Value = ListenAddr;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an address like 0.0.0.0:6881 or [::]:6881")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ListenAddr, E> {
                text.parse().map(ListenAddr).map_err(|_| {
                    E::custom(format!(
                        "bad address \"{text}\": expected IP:port like 0.0.0.0:6881 or [::]:6881"
                    ))
                })
            }
        }
        d.deserialize_str(AddrVisitor)
    }
}

fn socket_addrs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    let addrs = Vec::<ListenAddr>::deserialize(d)?;
    Ok(addrs.into_iter().map(|a| a.0).collect())
}

impl Settings {
    /// Reads and checks the configuration file at `path`. A missing file is an error
    /// naming it: the daemon is started without `--config` to run on defaults.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|error| SettingsError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Settings::from_toml(&text, path)
    }

    /// Parses and checks a configuration file's text; `origin` names it in errors.
    /// Keys left out take their defaults, so empty text gives [`Settings::default`].
    pub fn from_toml(text: &str, origin: &Path) -> Result<Settings, SettingsError> {
        let doc = DeTable::parse(text)
            .map_err(|e| error::syntax_error(text, origin.to_path_buf(), &e))?;
        let settings: Settings = toml::from_str(text)
            .map_err(|e| error::value_error(text, doc.get_ref(), origin.to_path_buf(), &e))?;
        settings
            .check()
            .map_err(|(key, message)| SettingsError::BadValue {
                origin: Some(origin.to_path_buf()),
                line: error::line_of_key(text, doc.get_ref(), key),
                key: key.to_owned(),
                message,
            })?;
        Ok(settings)
    }

    /// Checks what the types alone do not: non-empty lists, non-zero counts, absolute
    /// paths, URL forms. [`Settings::from_toml`] runs it; run it again after
    /// [`Settings::apply`]. The error has no file or line.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.check()
            .map_err(|(key, message)| SettingsError::BadValue {
                origin: None,
                line: None,
                key: key.to_owned(),
                message,
            })
    }

    /// The first problem found, as (dotted key, what is wrong).
    fn check(&self) -> Result<(), (&'static str, String)> {
        let p = &self.paths;
        check_dir("paths.state_dir", p.state_dir.as_deref())?;
        check_dir("paths.data_dir", p.data_dir.as_deref())?;
        check_dir("paths.watch_dir", p.watch_dir.as_deref())?;
        for root in &p.allowed_paths {
            check_dir("paths.allowed_paths", Some(root))?;
        }
        if let Some(dir) = &p.data_dir
            && !p.allowed_paths.is_empty()
            && !p.allowed_paths.iter().any(|root| dir.starts_with(root))
        {
            return Err((
                "paths.data_dir",
                format!(
                    "\"{}\" is outside every paths.allowed_paths root",
                    dir.display()
                ),
            ));
        }
        check_unique_addrs("peers.listen", &self.peers.listen)?;
        for url in &self.peers.trackers {
            check_tracker_url(url)?;
        }
        for node in &self.peers.dht_bootstrap {
            parse_host_port(node).map_err(|e| ("peers.dht_bootstrap", e))?;
        }
        check_unique_addrs("peers.dht_listen", &self.peers.dht_listen)?;

        let l = &self.limits;
        at_least_one("limits.max_connections", l.max_connections)?;
        at_least_one(
            "limits.max_connections_per_torrent",
            l.max_connections_per_torrent,
        )?;
        at_least_one("limits.upload_slots", l.upload_slots)?;

        if let Some(ratio) = self.queue.ratio_limit
            && !(ratio.is_finite() && ratio >= 0.0)
        {
            return Err((
                "queue.ratio_limit",
                format!("{ratio} is not a ratio: expected 0 or more, like 2.0"),
            ));
        }

        let a = &self.api;
        if a.listen.is_empty() {
            return Err(("api.listen", "must list at least one address".to_owned()));
        }
        check_unique_addrs("api.listen", &a.listen)?;
        for host in &a.allowed_hosts {
            check_host(host)?;
        }
        for origin in &a.cors_origins {
            check_origin(origin)?;
        }
        at_least_one("api.max_connections", a.max_connections)?;
        at_least_one("api.login_max_failures", a.login_max_failures)?;
        non_zero_secs("api.login_block", a.login_block)?;
        non_zero_secs("api.session_ttl", a.session_ttl)?;

        let e = &self.engine;
        if let Some(workers) = e.workers
            && !(1..=MAX_WORKERS).contains(&workers)
        {
            return Err((
                "engine.workers",
                format!("{workers} workers: expected 1 to {MAX_WORKERS}"),
            ));
        }
        non_zero_secs("engine.resume_interval", e.resume_interval)?;
        Ok(())
    }

    /// Puts every flag that was given in place of the file's value.
    pub fn apply(&mut self, o: &Overrides) {
        let paths = &mut self.paths;
        for (flag, setting) in [
            (&o.state_dir, &mut paths.state_dir),
            (&o.data_dir, &mut paths.data_dir),
            (&o.watch_dir, &mut paths.watch_dir),
        ] {
            if flag.is_some() {
                setting.clone_from(flag);
            }
        }
        if !o.listen.is_empty() {
            self.peers.listen.clone_from(&o.listen);
        }
        if !o.api.is_empty() {
            self.api.listen.clone_from(&o.api);
        }
        if o.no_dht {
            self.peers.dht = false;
        }
        if !o.dht_bootstrap.is_empty() {
            self.peers.dht_bootstrap.clone_from(&o.dht_bootstrap);
        }
        if o.no_lsd {
            self.peers.lsd = false;
        }
        if o.no_pex {
            self.peers.pex = false;
        }
        if !o.dht_listen.is_empty() {
            self.peers.dht_listen.clone_from(&o.dht_listen);
        }
        if let Some(rate) = o.max_upload_rate {
            self.limits.max_upload_rate = rate;
        }
        if let Some(rate) = o.max_download_rate {
            self.limits.max_download_rate = rate;
        }
        if let Some(n) = o.max_connections {
            self.limits.max_connections = n;
        }
        if o.workers.is_some() {
            self.engine.workers = o.workers;
        }
    }

    /// The state directory: `paths.state_dir` if set, else `$XDG_STATE_HOME/hivebt`,
    /// else `$HOME/.local/state/hivebt` (the XDG base directory rule; a relative
    /// `$XDG_STATE_HOME` is ignored, as the rule says).
    pub fn state_dir(&self) -> Result<PathBuf, SettingsError> {
        match &self.paths.state_dir {
            Some(dir) => Ok(dir.clone()),
            None => default_state_dir(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
                .ok_or(SettingsError::NoDefault {
                    key: "paths.state_dir",
                    message: "not set, and neither $XDG_STATE_HOME nor $HOME is an absolute path",
                }),
        }
    }

    /// The default save path: `paths.data_dir` if set, else `$HOME/Downloads`.
    pub fn data_dir(&self) -> Result<PathBuf, SettingsError> {
        match &self.paths.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => default_data_dir(std::env::var_os("HOME")).ok_or(SettingsError::NoDefault {
                key: "paths.data_dir",
                message: "not set, and $HOME is not an absolute path",
            }),
        }
    }

    /// Worker threads: `engine.workers` if set, else the cores minus one.
    pub fn workers(&self) -> usize {
        match self.engine.workers {
            Some(n) => n as usize,
            None => config::engine_worker_threads(),
        }
    }

    /// The engine's runtime limits with the ones this file sets in place.
    pub fn engine_limits(&self) -> config::Limits {
        config::Limits {
            resume_interval: self.engine.resume_interval.duration(),
            ..config::Limits::default()
        }
    }

    /// Whether the API may use `path` (as a save path, a .torrent to read, a directory
    /// to create from): it must be absolute, have no `..`, and lie under a
    /// `paths.allowed_paths` root when there are any. The check is on the text of the
    /// path; a symbolic link under a root is trusted wherever it points.
    pub fn path_allowed(&self, path: &Path) -> bool {
        let roots = &self.paths.allowed_paths;
        path.is_absolute()
            && !path.components().any(|c| c == Component::ParentDir)
            && (roots.is_empty() || roots.iter().any(|root| path.starts_with(root)))
    }
}

fn default_state_dir(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg_state_home)
        .map(|base| base.join("hivebt"))
        .or_else(|| absolute(home).map(|home| home.join(".local/state/hivebt")))
}

fn default_data_dir(home: Option<OsString>) -> Option<PathBuf> {
    home.map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|home| home.join("Downloads"))
}

fn check_dir(key: &'static str, dir: Option<&Path>) -> Result<(), (&'static str, String)> {
    match dir {
        Some(dir) if !dir.is_absolute() => Err((
            key,
            format!(
                "\"{}\" must be an absolute path (~ and $VARIABLES are not expanded)",
                dir.display()
            ),
        )),
        Some(dir) if dir.to_str().is_none() => {
            Err((key, format!("\"{}\" is not valid UTF-8", dir.display())))
        }
        Some(dir) if dir.components().any(|c| c == Component::ParentDir) => {
            Err((key, format!("\"{}\" must not contain ..", dir.display())))
        }
        _ => Ok(()),
    }
}

fn check_unique_addrs(
    key: &'static str,
    addrs: &[SocketAddr],
) -> Result<(), (&'static str, String)> {
    let mut seen = HashSet::new();
    match addrs.iter().find(|a| !seen.insert(**a)) {
        Some(addr) => Err((key, format!("{addr} is listed twice"))),
        None => Ok(()),
    }
}

fn check_tracker_url(url: &str) -> Result<(), (&'static str, String)> {
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://", "udp://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme));
    match rest {
        Some(rest) if !rest.is_empty() && !url.contains(char::is_whitespace) => Ok(()),
        _ => Err((
            "peers.trackers",
            format!("bad tracker URL \"{url}\": expected http://, https:// or udp:// and a host"),
        )),
    }
}

fn check_host(host: &str) -> Result<(), (&'static str, String)> {
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
    if ok {
        Ok(())
    } else {
        Err((
            "api.allowed_hosts",
            format!("bad host \"{host}\": expected a name like seedbox.example.org"),
        ))
    }
}

fn check_origin(origin: &str) -> Result<(), (&'static str, String)> {
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains('/') && check_host(host).is_ok() => Ok(()),
        _ => Err((
            "api.cors_origins",
            format!(
                "bad origin \"{origin}\": expected scheme://host[:port] with no path, like https://ui.example.org"
            ),
        )),
    }
}

fn at_least_one(key: &'static str, n: u32) -> Result<(), (&'static str, String)> {
    if n == 0 {
        Err((key, "must be at least 1".to_owned()))
    } else {
        Ok(())
    }
}

fn non_zero_secs(key: &'static str, secs: Secs) -> Result<(), (&'static str, String)> {
    if secs.as_secs() == 0 {
        Err((key, "must be longer than 0s".to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
