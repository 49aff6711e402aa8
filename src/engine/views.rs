//! Read-only views of one torrent's files and peers, for the daemon's API: plain data
//! built on demand, never kept.

use std::net::SocketAddr;
use std::time::Instant;

use super::Engine;
use crate::peer::conn::ConnState;
use crate::tracker::client::TrackerStatus;
use crate::types::TorrentId;

/// One file of a torrent and how much of it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    /// Its path inside the torrent, `/`-separated.
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// Bytes of it inside verified pieces.
    pub done: u64,
}

/// One connected peer of a torrent.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// Its address.
    pub addr: SocketAddr,
    /// Its client, from the peer id (Azureus style `-qB4650-` gives `qB 4650`), or
    /// empty when the id says nothing readable.
    pub client: String,
    /// qBittorrent-style flags: `D` downloading from it, `d` interested but choked by
    /// it, `U` uploading to it, `u` it is interested but choked by us, `O` we dialled
    /// it (outgoing), `I` it dialled us, `S` snubbed.
    pub flags: String,
    /// Payload bytes per second from it.
    pub down_rate: u64,
    /// Payload bytes per second to it.
    pub up_rate: u64,
    /// Share of the torrent's pieces it has, 0 to 1.
    pub progress: f64,
}

/// The client name an Azureus-style peer id (`-XXnnnn-`) carries, or its printable
/// prefix; empty when there is none.
pub fn client_name(peer_id: &[u8; 20]) -> String {
    if peer_id[0] == b'-'
        && peer_id[7] == b'-'
        && peer_id[1..7].iter().all(u8::is_ascii_alphanumeric)
    {
        let code = String::from_utf8_lossy(&peer_id[1..3]);
        let version = String::from_utf8_lossy(&peer_id[3..7]);
        return format!("{code} {version}");
    }
    let printable: String = peer_id
        .iter()
        .take_while(|b| b.is_ascii_graphic())
        .map(|&b| b as char)
        .take(8)
        .collect();
    printable
}

impl Engine {
    /// The files of torrent `id` with the bytes of each inside verified pieces.
    pub fn files(&self, id: TorrentId) -> Option<Vec<FileView>> {
        let t = self.torrent_ref(id)?;
        let layout = &t.storage.layout;
        let mut out: Vec<FileView> = layout
            .files
            .iter()
            .filter(|f| !f.padding)
            .map(|f| FileView {
                path: f.path.to_string_lossy().into_owned(),
                size: f.length,
                done: 0,
            })
            .collect();
        let real: Vec<usize> = (0..layout.files.len())
            .filter(|&i| !layout.files[i].padding)
            .collect();
        for piece in t.have().iter_ones() {
            for span in layout.spans(piece) {
                if let Some(slot) = real.iter().position(|&i| i == span.file) {
                    out[slot].done += span.len;
                }
            }
        }
        Some(out)
    }

    /// Every piece of torrent `id` as a digit: `0` missing, `1` downloading (some of
    /// it requested or received, or waiting for its hash), `2` verified. qBittorrent's
    /// `pieceStates` numbering; the web page draws its piece map from it.
    pub fn piece_states(&self, id: TorrentId) -> Option<Vec<u8>> {
        let t = self.torrent_ref(id)?;
        let mut out = vec![b'0'; t.storage.layout.piece_count() as usize];
        for p in t.picker.downloading_pieces() {
            if let Some(s) = out.get_mut(p.0 as usize) {
                *s = b'1';
            }
        }
        for p in t.have().iter_ones() {
            if let Some(s) = out.get_mut(p.0 as usize) {
                *s = b'2';
            }
        }
        Some(out)
    }

    /// The peers of torrent `id` that finished their handshakes.
    pub fn peers_of(&self, id: TorrentId) -> Option<Vec<PeerInfo>> {
        let t = self.torrent_ref(id)?;
        let pieces = t.storage.layout.piece_count().max(1);
        let mut out = Vec::new();
        for &ck in &t.peers {
            let Some(key) = self.live(ck) else { continue };
            let conn = &self.conns[key];
            let ConnState::Active(s) = &conn.state else {
                continue;
            };
            let mut flags = String::new();
            if s.am_interested() {
                flags.push(if s.peer_choking() { 'd' } else { 'D' });
            }
            if s.peer_interested() {
                flags.push(if s.am_choking() { 'u' } else { 'U' });
            }
            flags.push(if conn.outgoing { 'O' } else { 'I' });
            if s.snubbed() {
                flags.push('S');
            }
            out.push(PeerInfo {
                addr: conn.addr,
                client: client_name(&s.peer_id().0),
                flags,
                down_rate: s.down_rate(),
                up_rate: s.up_rate(),
                progress: f64::from(s.have().count_ones()) / f64::from(pieces),
            });
        }
        Some(out)
    }

    /// The trackers of torrent `id` and how each is doing (empty without trackers).
    pub fn trackers_of(&self, id: TorrentId, now: Instant) -> Option<Vec<TrackerStatus>> {
        let t = self.torrent_ref(id)?;
        Some(
            t.tracker
                .as_ref()
                .map(|c| c.tracker_status(now))
                .unwrap_or_default(),
        )
    }

    /// Announces torrent `id` now (an operator asked). False when it is not active,
    /// has no trackers, or announced moments ago.
    pub fn reannounce(&mut self, id: TorrentId, now: Instant) -> bool {
        let Some(slot) = self.torrent_slot(id) else {
            return false;
        };
        if !self.torrents[slot].is_active() {
            return false;
        }
        let Some(client) = self.torrents[slot].tracker.as_mut() else {
            return false;
        };
        let started = client.reannounce(now);
        if started {
            self.tracker_changed.push(slot);
        }
        started
    }

    /// Connected peers of torrent `slot` that have every piece.
    pub(super) fn seeds_of(&self, slot: usize) -> usize {
        let t = &self.torrents[slot];
        t.peers
            .iter()
            .filter_map(|&ck| self.live(ck))
            .filter(|&key| match &self.conns[key].state {
                ConnState::Active(s) => s.have().is_all_set(),
                _ => false,
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_come_from_azureus_ids() {
        let mut id = [b'x'; 20];
        id[..8].copy_from_slice(b"-qB4650-");
        assert_eq!(client_name(&id), "qB 4650");
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(b"M7-2");
        assert_eq!(client_name(&id), "M7-2");
        assert_eq!(client_name(&[0; 20]), "");
    }
}
