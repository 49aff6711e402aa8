//! The metadata exchange (BEP 9 `ut_metadata`) on the engine side: every torrent whose
//! info dictionary we have serves it in 16 KiB pieces to peers that ask.
//!
//! Depends on `wire::metadata` and the engine's connections. Private torrents serve
//! their metadata too (BEP 9 allows it: a peer must already know the info-hash to ask);
//! it is DHT and PEX that BEP 27 keeps them off. Invariants: an answer goes only under
//! the id the peer gave `ut_metadata` in its extension handshake; a request past the
//! end, or for metadata over [`MAX_METADATA_SIZE`], is rejected; while more than
//! [`MAX_METADATA_QUEUED`] bytes wait to be written to the peer, requests are
//! rejected rather than queued, so a peer asking without reading cannot grow its
//! send queue without bound.

use std::time::Instant;

use crate::engine::Engine;
use crate::peer::close::CloseReason;
use crate::peer::conn::{ConnState, Connection};
use crate::peer::ext::Extension;
use crate::wire::metadata::{
    MAX_METADATA_SIZE, METADATA_PIECE_LEN, MetadataError, MetadataMsg, piece_range,
};
use crate::wire::peer::Message;

/// Bytes queued to one peer past which its metadata requests are rejected.
pub const MAX_METADATA_QUEUED: usize = 64 * METADATA_PIECE_LEN;

/// The `metadata_size` to announce for info dictionary `info`: its length, unless it is
/// too large to serve.
pub(crate) fn metadata_size(info: &[u8]) -> Option<u64> {
    Some(info.len() as u64).filter(|&n| n <= MAX_METADATA_SIZE)
}

impl Engine {
    /// A `ut_metadata` message arrived on connection `key` of torrent `tkey`.
    pub(crate) fn on_ut_metadata(&mut self, key: usize, tkey: usize, payload: &[u8], now: Instant) {
        let msg = match MetadataMsg::decode(payload) {
            Ok(msg) => msg,
            // BEP 9: an unknown msg_type is ignored.
            Err(MetadataError::UnknownType(_)) => return,
            Err(e) => {
                log::debug!("ut_metadata from connection {key}: {e}");
                return self.close(key, CloseReason::ProtocolViolation);
            }
        };
        match msg {
            MetadataMsg::Request { piece } => self.serve_metadata_piece(key, tkey, piece, now),
            // We have this torrent's metadata, so we asked for nothing.
            MetadataMsg::Data { .. } | MetadataMsg::Reject { .. } => {}
        }
    }

    /// Answers a request for metadata piece `piece` with its bytes or a reject.
    fn serve_metadata_piece(&mut self, key: usize, tkey: usize, piece: u32, now: Instant) {
        let (Some(t), Some(conn)) = (self.torrents.get(tkey), self.conns.get_mut(key)) else {
            return;
        };
        let Connection { state, send, .. } = conn;
        let ConnState::Active(s) = state else { return };
        // It asked without saying where answers go: there is no id to send them under.
        let Some(id) = s.extension_id(Extension::UtMetadata) else {
            return;
        };
        let info = &t.meta.info_raw;
        let range = piece_range(info.len(), piece)
            .filter(|_| metadata_size(info).is_some() && send.queued() <= MAX_METADATA_QUEUED);
        let reply = match range {
            Some(r) => MetadataMsg::Data {
                piece,
                total_size: info.len() as u32,
                data: &info[r],
            },
            None => MetadataMsg::Reject { piece },
        };
        send.queue_msg(&Message::Extended {
            id,
            payload: &reply.encode(),
        });
        self.want_write(key, now);
    }
}
