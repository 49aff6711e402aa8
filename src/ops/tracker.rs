//! `hivebt tracker`, and the tracker `seed PATH` embeds: binds the HTTP and UDP
//! sockets, reads the allow list and runs the reactor with the tracker server only.
//!
//! Depends on `reactor` (to run), `tracker::server` (its configuration), `config` and
//! `types`. A bad option or allow list is bad input; a socket that cannot be bound is
//! an operational failure naming the address.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ops::transfer;
use crate::reactor::{EngineConfig, TrackerServerSetup, UploadMode};
use crate::tracker::server::TrackerConfig;
use crate::types::InfoHash;

/// The tracker server's options, from the command line.
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// Addresses for HTTP announces; with `udp` also empty, `0.0.0.0:6969` for both.
    pub http: Vec<SocketAddr>,
    /// Addresses for UDP announces (BEP 15).
    pub udp: Vec<SocketAddr>,
    /// Seconds between a client's announces (at least 1).
    pub interval_secs: u64,
    /// Most torrents tracked.
    pub max_torrents: usize,
    /// Most peers listed per torrent.
    pub max_peers_per_torrent: usize,
    /// A file of the only info-hashes to track.
    pub allow: Option<PathBuf>,
    /// Trust the `ip` a client claims.
    pub trust_ip: bool,
    /// Most HTTP connections open at once.
    pub max_http_connections: usize,
}

/// Runs a tracker with `opts` until a signal stops it.
pub fn run(opts: TrackerOptions) -> Result<()> {
    let setup = setup(opts)?;
    let config = EngineConfig {
        listen: Vec::new(),
        peers: Vec::new(),
        max_peers: 1,
        upload_slots: 1,
        workers: 1,
        state_dir: None,
        max_upload_rate: None,
        max_download_rate: None,
        exit_when_complete: false,
        announce_listen: true,
        extra_trackers: Vec::new(),
        tracker_server: Some(setup),
        upload_mode: UploadMode::default(),
        stats: false,
        stall_timeout: None,
        limits: crate::config::Limits::default(),
        service: false,
        dht: None,
        lsd: false,
        pex: false,
    };
    transfer::run(config, Vec::new())?;
    Ok(())
}

/// Binds the sockets and builds the server's configuration.
pub fn setup(opts: TrackerOptions) -> Result<TrackerServerSetup> {
    if opts.interval_secs == 0 {
        return Err(Error::BadInput(
            "--interval must be at least 1 second".into(),
        ));
    }
    let (http, udp) = if opts.http.is_empty() && opts.udp.is_empty() {
        let any: SocketAddr = ([0, 0, 0, 0], 6969).into();
        (vec![any], vec![any])
    } else {
        (opts.http, opts.udp)
    };
    let allow = opts.allow.as_deref().map(read_allow_list).transpose()?;
    let interval = Duration::from_secs(opts.interval_secs);
    let defaults = TrackerConfig::default();
    let tracker = TrackerConfig {
        interval,
        min_interval: defaults.min_interval.min(interval),
        peer_timeout: TrackerConfig::peer_timeout_for(interval),
        max_torrents: opts.max_torrents,
        max_peers_per_torrent: opts.max_peers_per_torrent,
        allow,
        trust_claimed_ip: opts.trust_ip,
        ..defaults
    };
    bind(&http, &udp, tracker, opts.max_http_connections)
}

/// Binds tracker sockets: a clear error names the address that failed.
pub fn bind(
    http: &[SocketAddr],
    udp: &[SocketAddr],
    config: TrackerConfig,
    max_http_connections: usize,
) -> Result<TrackerServerSetup> {
    let mut setup = TrackerServerSetup {
        http: Vec::new(),
        udp: Vec::new(),
        config,
        max_http_connections,
    };
    for a in http {
        let l = crate::reactor::tcp_listener(*a)
            .map_err(|e| Error::Failed(format!("cannot listen on {a} for HTTP announces: {e}")))?;
        setup.http.push(l);
    }
    for a in udp {
        let u = std::net::UdpSocket::bind(a)
            .map_err(|e| Error::Failed(format!("cannot bind {a} for UDP announces: {e}")))?;
        setup.udp.push(u);
    }
    Ok(setup)
}

/// Reads an allow list: one 40-hex info-hash per line, blank lines and `#` comments
/// ignored.
fn read_allow_list(path: &Path) -> Result<HashSet<InfoHash>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut set = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let hash = InfoHash::from_hex(line).ok_or_else(|| {
            Error::BadInput(format!(
                "{}:{}: '{line}' is not a 40-digit hex info-hash",
                path.display(),
                n + 1
            ))
        })?;
        set.insert(hash);
    }
    Ok(set)
}
