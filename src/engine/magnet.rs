//! Torrents added by magnet link (BEP 9): the engine holds one in
//! `TorrentState::FetchingMetadata` with only its info-hash, finds peers for it like
//! any torrent (the link's `x.pe` and `tr=` trackers, the DHT, LSD), and asks those
//! that offer `ut_metadata` for the info dictionary in 16 KiB pieces. Once the whole
//! hashes to the info-hash it becomes a torrent like one added from a file: its files
//! are laid out under the save path, what is already there is checked, and the
//! download runs. The .torrent is written (on a worker) to the state directory and
//! to the path the caller asked for.
//!
//! Depends on `torrent::metadata_fetch` (which piece to ask whom, the bound, the
//! check), `peer::fetcher` (one connection's side of the exchange) and the engine's
//! connections. Invariants: while fetching, the torrent's metainfo is a placeholder
//! of one 1-byte piece that is never read, written, served or announced as complete
//! (its picker and storage are unused); a peer whose metadata did not verify is
//! closed and never dialled again for that torrent; at most
//! [`MAX_METADATA_SIZE`](crate::wire::metadata::MAX_METADATA_SIZE) bytes are
//! assembled per torrent.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{AddError, Engine, EngineEvent, TorrentCaps, new_picker};
use crate::bitfield::Bitfield;
use crate::peer::close::CloseReason;
use crate::peer::conn::{ConnState, Connection};
use crate::peer::ext::Extension;
use crate::peer::fetcher::{Fetched, MetadataPeer};
use crate::torrent::cache::UploadCache;
use crate::torrent::metadata_fetch::{DataOutcome, MetadataFetch};
use crate::torrent::state::{Torrent, TorrentState};
use crate::torrent::storage::Storage;
use crate::types::{PeerId, TorrentId};
use crate::wire::magnet::Magnet;
use crate::wire::metainfo::{FileEntry, Info, Metainfo};
use crate::workers::{Job, Task};

/// The tag of the engine's own worker tasks (preparing a fetched torrent): their
/// results go to the engine, never to a front.
pub(crate) const ENGINE_TASK: u64 = u64::MAX;

/// What preparing a fetched torrent did.
struct Prepared {
    torrent: TorrentId,
    /// Where its .torrent was written.
    saved: Vec<PathBuf>,
    /// What could not be done (a .torrent or its files could not be written).
    failed: Option<String>,
}

/// A torrent to add by magnet link.
#[derive(Debug, Clone)]
pub struct MagnetSpec {
    /// The link: info-hash, display name, trackers, peers.
    pub link: Magnet,
    /// Directory the content goes under (`save_path/<name>`), once its name is known.
    pub save_path: PathBuf,
    /// Added paused: nothing is fetched until it is resumed.
    pub paused: bool,
    /// Its own rate limits and connection cap.
    pub caps: TorrentCaps,
    /// Also write the fetched .torrent here (`download --save-torrent`).
    pub save_torrent: Option<PathBuf>,
}

/// What a torrent fetching its metadata keeps beside the placeholder.
#[derive(Debug)]
pub struct Fetching {
    /// Which piece to ask whom, and the bytes so far.
    pub core: MetadataFetch,
    /// The link it was added from (its trackers go into the .torrent).
    pub link: Magnet,
    /// Where the content goes.
    pub save_path: PathBuf,
    /// Where else the .torrent is written.
    pub save_torrent: Option<PathBuf>,
    /// The next id handed to a connection for the core.
    next_peer: usize,
    /// Addresses that sent metadata that did not verify.
    liars: HashSet<SocketAddr>,
}

/// The placeholder metainfo of a torrent known only by `link`: one piece of one byte
/// named after the link's `dn` (or the info-hash).
fn placeholder(link: &Magnet) -> Metainfo {
    let name = link
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| link.info_hash.to_hex());
    Metainfo {
        info_hash: link.info_hash,
        info: Info {
            name: name.into_bytes(),
            piece_length: crate::types::BLOCK_SIZE as u64,
            pieces: vec![[0; 20]],
            files: vec![FileEntry {
                path: Vec::new(),
                length: 1,
                padding: false,
            }],
            single_file: true,
            private: false,
            source: None,
            total_length: 1,
        },
        info_raw: Vec::new(),
        announce: link.trackers.first().cloned(),
        announce_list: link.trackers.iter().map(|t| vec![t.clone()]).collect(),
        url_list: link.web_seeds.clone(),
        comment: None,
        created_by: None,
        creation_date: None,
        encoding: None,
        extra: Default::default(),
        warnings: Vec::new(),
    }
}

/// The metainfo of verified info dictionary `info` with `placeholder`'s trackers.
fn fetched_metainfo(placeholder: &Metainfo, info: Vec<u8>) -> Result<Metainfo, String> {
    let mut m = placeholder.clone();
    m.info_raw = info;
    Metainfo::from_bytes(&m.to_bytes())
        .map_err(|e| format!("the metadata verifies but is not a usable torrent: {e}"))
}

impl Engine {
    /// Adds a torrent known only by its magnet link: it starts fetching its metadata
    /// from the link's peers, trackers and the DHT.
    pub fn add_magnet(&mut self, spec: MagnetSpec, now: Instant) -> Result<TorrentId, AddError> {
        if let Some(&slot) = self.by_hash.get(&spec.link.info_hash) {
            return Err(AddError::Duplicate(self.torrents[slot].id));
        }
        let meta = Arc::new(placeholder(&spec.link));
        let storage = Arc::new(Storage::sanitized(spec.save_path.clone(), &meta.info));
        let have = Bitfield::new(1);
        let seed = self.random();
        let picker =
            new_picker(&storage, &have, seed).map_err(|e| AddError::Invalid(e.to_string()))?;
        let id = self.next_torrent_id();
        let slot = id.slot as usize;
        // Paused, it waits for a resume before it asks anyone.
        let state = if spec.paused {
            TorrentState::Paused
        } else {
            TorrentState::FetchingMetadata
        };
        let mut t = Torrent::new(
            id,
            state,
            meta,
            storage,
            have,
            picker,
            UploadCache::new(0),
            now,
        );
        t.fetch = Some(Box::new(Fetching {
            core: MetadataFetch::new(spec.link.info_hash),
            save_path: spec.save_path,
            save_torrent: spec.save_torrent,
            next_peer: 0,
            liars: HashSet::new(),
            link: spec.link.clone(),
        }));
        let inserted = self.torrents.insert(t);
        debug_assert_eq!(inserted, slot);
        self.by_hash.insert(spec.link.info_hash, slot);
        if spec.caps != TorrentCaps::default() {
            self.set_torrent_caps(id, spec.caps, now);
        }
        for &addr in self.config.peers.iter().chain(&spec.link.peers) {
            self.torrents[slot].peer_list.keep(addr, now);
        }
        if !spec.paused {
            self.start_tracker(slot, now);
            self.dial_candidates(now);
        }
        Ok(id)
    }

    /// The handshakes are done on connection `key` of torrent `tkey`, which is
    /// fetching its metadata: the connection asks for it and nothing else.
    pub(crate) fn start_fetching_peer(
        &mut self,
        key: usize,
        tkey: usize,
        peer_id: PeerId,
        now: Instant,
    ) {
        let our_id = self
            .extensions
            .handshake_m()
            .get(Extension::UtMetadata.name())
            .copied()
            .unwrap_or(1);
        let listen_port = self.listen_port;
        let (Some(t), Some(conn)) = (self.torrents.get_mut(tkey), self.conns.get_mut(key)) else {
            return;
        };
        let Some(fetch) = t.fetch.as_deref_mut() else {
            return;
        };
        if fetch.liars.contains(&conn.addr) {
            return self.close(key, CloseReason::NoMetadata);
        }
        let p = MetadataPeer::new(conn.addr, peer_id, our_id, fetch.next_peer, now);
        fetch.next_peer += 1;
        p.greet(listen_port, &mut conn.send);
        // The piece count, and so the bitfield's size, is not known yet.
        conn.max_frame = crate::config::MAX_PEER_FRAME;
        conn.state = ConnState::Fetching(Box::new(p));
        t.peers.push(conn.id);
        self.want_write(key, now);
    }

    /// What a message on fetching connection `key` of torrent `tkey` (the core's
    /// `peer`, at `addr`) gave.
    pub(crate) fn on_fetched(
        &mut self,
        key: usize,
        tkey: usize,
        (peer, addr): (usize, SocketAddr),
        result: Result<Option<Fetched>, CloseReason>,
        now: Instant,
    ) {
        let fetched = match result {
            Ok(Some(f)) => f,
            Ok(None) => return self.want_write(key, now),
            Err(reason) => return self.close(key, reason),
        };
        let Some(fetch) = self
            .torrents
            .get_mut(tkey)
            .and_then(|t| t.fetch.as_deref_mut())
        else {
            return;
        };
        match fetched {
            Fetched::Ready(size) => {
                if !fetch.core.on_peer_size(peer, size) {
                    log::debug!("{addr}: metadata_size {size:?} is not usable");
                    return self.close(key, CloseReason::NoMetadata);
                }
            }
            Fetched::Reject(piece) => fetch.core.on_reject(peer, piece),
            Fetched::Data {
                piece,
                total_size,
                data,
            } => match fetch.core.on_data(peer, piece, total_size, &data) {
                DataOutcome::Stored | DataOutcome::Ignored => {}
                DataOutcome::Refused => return self.close(key, CloseReason::NoMetadata),
                DataOutcome::Complete(info) => return self.on_metadata(tkey, info, now),
                DataOutcome::HashFailed(bad) => {
                    let hash = fetch.link.info_hash;
                    let liars = self.fetching_conns(tkey, &bad);
                    for (k, a) in liars {
                        self.events.push_back(EngineEvent::Warning {
                            torrent: Some(self.torrents[tkey].id),
                            message: format!(
                                "{hash}: {a} sent metadata that does not match the info-hash; dropped"
                            ),
                        });
                        if let Some(f) = self.torrents[tkey].fetch.as_deref_mut() {
                            f.liars.insert(a);
                        }
                        self.close(k, CloseReason::NoMetadata);
                    }
                }
            },
        }
        self.ask_for_metadata(tkey, now);
    }

    /// The connections of torrent `tkey` fetching under the core's ids `tags`.
    fn fetching_conns(&self, tkey: usize, tags: &[usize]) -> Vec<(usize, SocketAddr)> {
        self.conns
            .iter()
            .filter(|(_, c)| c.torrent == Some(tkey))
            .filter_map(|(k, c)| match &c.state {
                ConnState::Fetching(p) if tags.contains(&p.tag()) => Some((k, c.addr)),
                _ => None,
            })
            .collect()
    }

    /// Sends each fetching connection of torrent `tkey` what the core wants asked.
    pub(crate) fn ask_for_metadata(&mut self, tkey: usize, now: Instant) {
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let Some(fetch) = t.fetch.as_deref_mut() else {
            return;
        };
        let mut written = Vec::new();
        for &ck in &t.peers {
            let key = ck.slot as usize;
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == ck) else {
                continue;
            };
            let Connection { state, send, .. } = conn;
            let ConnState::Fetching(p) = state else {
                continue;
            };
            let mut asked = false;
            while p.wants_request() {
                let Some(piece) = fetch.core.next_request(p.tag()) else {
                    break;
                };
                p.request(piece, send, now);
                asked = true;
            }
            if asked {
                written.push(key);
            }
        }
        for key in written {
            self.want_write(key, now);
        }
    }

    /// A fetching connection closed: what it was asked goes to others.
    pub(crate) fn on_fetching_closed(&mut self, tkey: usize, tag: usize, now: Instant) {
        if let Some(fetch) = self
            .torrents
            .get_mut(tkey)
            .and_then(|t| t.fetch.as_deref_mut())
        {
            fetch.core.on_peer_gone(tag);
            self.ask_for_metadata(tkey, now);
        }
    }

    /// The metadata of torrent `tkey` verified: it becomes a torrent like one added
    /// from a file, checks what is on disk, and its .torrent is written.
    fn on_metadata(&mut self, tkey: usize, info: Vec<u8>, now: Instant) {
        let t = &self.torrents[tkey];
        let id = t.id;
        let meta = match fetched_metainfo(&t.meta, info) {
            Ok(m) => m,
            Err(why) => {
                let message = format!("{}: {why}", t.meta.info_hash);
                self.torrents[tkey].fetch = None;
                self.close_peers_of(tkey, CloseReason::MetadataDone);
                let t = &mut self.torrents[tkey];
                t.state = TorrentState::Failed(message.clone());
                self.events.push_back(EngineEvent::Error {
                    torrent: Some(id),
                    message,
                });
                if !self.config.service {
                    self.shutdown_wanted = true;
                }
                return;
            }
        };
        let Some(fetch) = self.torrents[tkey].fetch.take() else {
            return;
        };
        // Those connected now have the torrent: dialled again for the data (an incoming
        // one at the port it listens on).
        let again: Vec<SocketAddr> = self
            .conns
            .iter()
            .filter(|(_, c)| c.torrent == Some(tkey))
            .filter_map(|(_, c)| match &c.state {
                ConnState::Fetching(_) if c.outgoing => Some(c.addr),
                ConnState::Fetching(p) => p
                    .listen_port()
                    .map(|port| SocketAddr::new(c.addr.ip(), port)),
                _ => None,
            })
            .collect();
        self.close_peers_of(tkey, CloseReason::MetadataDone);
        self.torrents[tkey].peer_list.redial_first(&again);
        let storage = Arc::new(Storage::sanitized(fetch.save_path.clone(), &meta.info));
        let have = Bitfield::new(storage.layout.piece_count());
        let seed = self.random();
        let picker = match new_picker(&storage, &have, seed) {
            Ok(p) => p,
            Err(e) => {
                let t = &mut self.torrents[tkey];
                t.state = TorrentState::Failed(e.to_string());
                return;
            }
        };
        let meta = Arc::new(meta);
        log::info!(
            "{}: metadata verified ({} bytes): {}",
            meta.info_hash,
            meta.info_raw.len(),
            String::from_utf8_lossy(&meta.info.name)
        );
        let t = &mut self.torrents[tkey];
        t.reset_for(meta.clone(), storage.clone(), have, picker);
        // Checked once its files exist (the task below creates them).
        t.state = TorrentState::Checking { next: 0, done: 0 };
        t.cache = UploadCache::new(self.config.limits.piece_cache_bytes);
        t.stats.progress_at = now;
        self.prepare_fetched(id, &meta, storage, fetch.save_torrent.as_deref());
    }

    /// On a worker: writes `meta` as a .torrent to the state directory and to
    /// `extra`, and creates torrent `id`'s files under its save path; then the torrent
    /// is checked ([`Engine::on_fetched_prepared`]).
    fn prepare_fetched(
        &mut self,
        id: TorrentId,
        meta: &Metainfo,
        storage: Arc<Storage>,
        extra: Option<&std::path::Path>,
    ) {
        let bytes = meta.to_bytes();
        let mut paths: Vec<PathBuf> = self
            .config
            .state_dir
            .iter()
            .map(|s| super::store::torrent_path(s, &meta.info_hash))
            .collect();
        paths.extend(extra.map(std::path::Path::to_path_buf));
        self.submit(Job::Task(Task {
            tag: ENGINE_TASK,
            run: Box::new(move || {
                let mut done = Prepared {
                    torrent: id,
                    saved: Vec::new(),
                    failed: None,
                };
                for path in paths {
                    let result = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| super::store::write_atomic(&path, &bytes));
                    match result {
                        Ok(()) => done.saved.push(path),
                        Err(e) => {
                            done.failed = Some(format!("cannot write {}: {e}", path.display()));
                        }
                    }
                }
                if let Err(e) = std::fs::create_dir_all(&storage.root)
                    .and_then(|()| crate::disk::create_files(&storage))
                {
                    done.failed = Some(format!(
                        "cannot create the files under {}: {e}",
                        storage.root.display()
                    ));
                }
                Box::new(done)
            }),
        }));
    }

    /// A fetched torrent's .torrent is written and its files exist: it is checked.
    pub(crate) fn on_fetched_prepared(&mut self, output: crate::workers::TaskOutput) {
        let Ok(done) = output.downcast::<Prepared>() else {
            return;
        };
        let Some(slot) = self.torrent_slot(done.torrent) else {
            return;
        };
        let hash = self.torrents[slot].meta.info_hash;
        for path in &done.saved {
            self.events.push_back(EngineEvent::Info {
                torrent: Some(done.torrent),
                message: format!("{hash}: metadata verified; saved {}", path.display()),
            });
        }
        if let Some(why) = done.failed {
            let message = format!("{hash}: {why}");
            self.torrents[slot].state = TorrentState::Failed(message.clone());
            self.events.push_back(EngineEvent::Error {
                torrent: Some(done.torrent),
                message,
            });
            if !self.config.service {
                self.shutdown_wanted = true;
            }
            return;
        }
        self.pump_check(slot);
    }
}
