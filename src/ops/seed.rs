//! `hivebt seed`: seeds .torrent files, or creates a torrent of one plain file or
//! directory and seeds it where it is, with an embedded tracker when the new torrent
//! names none.
//!
//! Depends on `ops::create` (the new torrent), `ops::tracker` (the embedded tracker's
//! sockets) and `ops::transfer` (opening torrents, running the engine).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ops::create::{self, CreateOptions};
use crate::ops::{tracker, transfer};
use crate::tracker::server::TrackerConfig;

/// What goes into a torrent `seed PATH` creates, beside the path and threads.
#[derive(Debug, Clone, Default)]
pub struct NewTorrent {
    /// The torrent's contents; `path` and `threads` are set by the command.
    pub create: CreateOptions,
    /// Where to write the torrent (default: `./<name>.torrent`).
    pub output: Option<PathBuf>,
    /// Overwrite an existing output file.
    pub force: bool,
}

/// Where `seed PATH` runs its embedded tracker when the torrent names none.
#[derive(Debug, Clone)]
pub struct EmbeddedTracker {
    /// HTTP address.
    pub http: SocketAddr,
    /// UDP address.
    pub udp: SocketAddr,
    /// Host name other machines reach this one by [default: the kernel's host name].
    pub announce_host: Option<String>,
    /// Run no embedded tracker.
    pub disabled: bool,
}

/// `hivebt seed`'s options.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// .torrent files, or one plain file or directory to create a torrent of.
    pub targets: Vec<PathBuf>,
    /// Directory holding the content [default: the current directory, or for a plain
    /// path the directory holding it].
    pub data: Option<PathBuf>,
    /// The engine's options.
    pub engine: transfer::EngineOptions,
    /// For a plain path: its new torrent. With .torrent files, its trackers are
    /// announced to besides the torrents' own.
    pub torrent: NewTorrent,
    /// For a plain path given no tracker: the embedded tracker.
    pub embedded: EmbeddedTracker,
}

/// Seeds until a signal stops it.
pub fn seed(opts: SeedOptions) -> Result<()> {
    let SeedOptions {
        targets,
        data,
        engine,
        mut torrent,
        embedded,
    } = opts;
    let threads = engine.batch_threads()?;
    let mut config = engine.config(SocketAddr::from(([0, 0, 0, 0], 6881)), false)?;
    let mut specs = Vec::new();
    match targets.as_slice() {
        [path] if !is_torrent_file(path) => {
            // Share a plain file or directory: create its torrent first, then seed the
            // content where it is.
            let path = path.clone();
            let parent = content_parent(&path)?;
            if torrent.create.trackers.is_empty() && !embedded.disabled {
                // No tracker given: run one here and name it in the torrent.
                let setup = tracker::bind(
                    &[embedded.http],
                    &[embedded.udp],
                    TrackerConfig::default(),
                    10_000,
                )?;
                let host = embedded.announce_host.unwrap_or_else(host_name);
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                let port = |a: Option<std::io::Result<SocketAddr>>| {
                    a.and_then(|a| a.ok()).map_or(0, |a| a.port())
                };
                let udp_port = port(setup.udp.first().map(|u| u.local_addr()));
                let http_port = port(setup.http.first().map(|l| l.local_addr()));
                torrent.create.trackers = vec![format!(
                    "udp://{host}:{udp_port}/announce,http://{host}:{http_port}/announce"
                )];
                config.tracker_server = Some(setup);
            }
            let create = CreateOptions {
                path,
                threads,
                ..torrent.create
            };
            let (out, meta) = create::create_file(create, torrent.output, torrent.force)?;
            println!("torrent {}", out.display());
            println!("magnet {}", meta.magnet());
            if config.tracker_server.is_some() {
                println!(
                    "to download it elsewhere, copy {} there and run: hivebt download {} --out DIR",
                    out.display(),
                    out.file_name().map_or_else(
                        || out.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    )
                );
            }
            let dir = data.unwrap_or(parent);
            specs.push(transfer::prepare_meta(
                meta,
                &dir,
                transfer::DataMode::Existing,
                config.state_dir.as_deref(),
            )?);
        }
        _ => {
            config.extra_trackers = std::mem::take(&mut torrent.create.trackers);
            let dir = data.unwrap_or_else(|| PathBuf::from("."));
            for t in &targets {
                specs.push(transfer::prepare(
                    t,
                    &dir,
                    transfer::DataMode::Existing,
                    config.state_dir.as_deref(),
                )?);
            }
        }
    }
    transfer::run(config, specs)?;
    Ok(())
}

/// The directory holding the content at `path`: its parent, or for `.` and `..` the
/// parent of the real directory (links are not resolved otherwise, so the content keeps
/// the name the torrent gives it).
fn content_parent(path: &Path) -> Result<PathBuf> {
    Ok(match (path.file_name(), path.parent()) {
        (Some(_), Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
        (Some(_), _) => PathBuf::from("."),
        (None, _) => std::fs::canonicalize(path)
            .map_err(|e| Error::io("cannot resolve", path, e))?
            .parent()
            .map_or_else(|| PathBuf::from("/"), |p| p.to_path_buf()),
    })
}

/// This machine's host name, from the kernel.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether `path` looks like a .torrent file rather than content to share: it ends in
/// `.torrent` and starts like a bencoded dictionary.
fn is_torrent_file(path: &Path) -> bool {
    use std::io::Read;
    if path.extension().is_none_or(|e| e != "torrent") {
        return false;
    }
    let mut first = [0u8; 1];
    std::fs::File::open(path)
        .is_ok_and(|mut f| f.read_exact(&mut first).is_ok() && first[0] == b'd')
}
