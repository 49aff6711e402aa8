//! Peers found outside the peer protocol (trackers, the DHT, later peer exchange and
//! local discovery) entering a torrent's peer list, and which torrents the DHT looks
//! up.
//!
//! Depends on `torrent::peer_list` and `dht::node` (its counters). The DHT node itself
//! is driven by the reactor; the engine only says which torrents may use it and keeps
//! the figures the reactor last reported, for the progress line, the API and
//! `/metrics`.

use std::net::SocketAddr;
use std::time::Instant;

use super::Engine;
use crate::dht::node::DhtCounters;
use crate::torrent::peer_list::PeerSource;
use crate::torrent::state::TorrentState;
use crate::types::{InfoHash, TorrentId};

/// What the DHT node(s) looked like at the reactor's last DHT tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhtStatus {
    /// Nodes in the routing tables.
    pub nodes: usize,
    /// Of them, nodes heard from in the last 15 minutes.
    pub good_nodes: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Lookups done since the start.
    pub lookups_done: u64,
    /// Peers the DHT gave torrents.
    pub peers_found: u64,
    /// The node's counters, summed over its sockets.
    pub counters: DhtCounters,
}

/// A torrent the DHT may look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhtTorrent {
    /// The torrent.
    pub id: TorrentId,
    /// Its info-hash.
    pub info_hash: InfoHash,
    /// It has every piece (it is looked up less often).
    pub complete: bool,
    /// Peers connected to it now.
    pub peers: usize,
}

impl Engine {
    /// Peers of torrent `id` heard of from `source`: they join its peer list (banned
    /// endpoints excepted) and are dialled a few a second.
    pub fn learn_peers(
        &mut self,
        id: TorrentId,
        addrs: Vec<SocketAddr>,
        source: PeerSource,
        now: Instant,
    ) {
        let Some(t) = self.torrent_mut(id) else {
            return;
        };
        let bans = &t.bans;
        t.peer_list
            .learn(addrs, source, |a| bans.endpoint_banned(a));
        if !self.shutting_down {
            self.dial_candidates(now);
        }
    }

    /// The torrents the DHT may look up and announce: running ones (fetching their
    /// metadata or active) that are not private (BEP 27 keeps them off the DHT).
    pub fn dht_torrents(&self) -> Vec<DhtTorrent> {
        if self.shutting_down {
            return Vec::new();
        }
        self.torrents
            .iter()
            .filter(|(_, t)| !t.meta.info.private)
            .filter(|(_, t)| {
                matches!(
                    t.state,
                    TorrentState::Active | TorrentState::FetchingMetadata
                )
            })
            .map(|(_, t)| DhtTorrent {
                id: t.id,
                info_hash: t.meta.info_hash,
                complete: t.complete(),
                peers: t.peers.len(),
            })
            .collect()
    }

    /// Records what the DHT looks like now (the reactor calls it at its DHT tick).
    pub fn set_dht_status(&mut self, status: DhtStatus) {
        self.dht = Some(status);
    }

    /// What the DHT looked like at its last tick; `None` when it is off.
    pub fn dht_status(&self) -> Option<DhtStatus> {
        self.dht
    }
}
