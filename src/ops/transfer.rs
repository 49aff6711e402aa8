//! `hivebt seed` and `hivebt download`: load torrents, find out what is already on disk
//! (from a resume record whose file stamps still match, else by rechecking on the worker
//! pool), run the reactor, and report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ops::load_torrent;
use crate::ops::verify::resolve_root;
use crate::progress::human_bytes;
use crate::reactor::{EngineConfig, Reactor, TorrentSpec, TorrentSummary};
use crate::resume;
use crate::torrent::paths::sanitize;
use crate::torrent::storage::{Layout, Storage};
use crate::wire::metainfo::Metainfo;

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
    })
}

/// Runs the engine and prints the summary lines.
pub fn run(config: EngineConfig, specs: Vec<TorrentSpec>) -> Result<Vec<TorrentSummary>> {
    let reactor = Reactor::new(config, specs)?;
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

/// The state directory from the option, or the default one.
pub fn state_dir(option: Option<PathBuf>) -> Option<PathBuf> {
    option.or_else(resume::default_state_dir)
}

/// Parses `HOST:PORT` for IPv4 (`127.0.0.1:6881`) and IPv6 (`[::1]:6881`) alike.
pub fn parse_addr(s: &str) -> std::result::Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not an address (use 127.0.0.1:6881 or [::1]:6881)"))
}
