//! One connection of a torrent that has only its info-hash (a magnet link), sans-io:
//! it speaks just enough of the wire for the metadata exchange (BEP 9). It sends our
//! extension handshake offering `ut_metadata`, learns the peer's id for it and its
//! `metadata_size`, sends the requests the fetch core chooses, and hands back data
//! and rejects. Everything else a peer may send before we have the metadata
//! (a bitfield of a size we cannot check yet, `have`, `have_all`, interest) is read
//! and ignored; a request for metadata is rejected, since we have none to give.
//!
//! Depends on `wire` and `peer::conn`. Input is a decoded message and `now`; output
//! goes to the connection's `SendQueue` and comes back as a [`Fetched`].
//!
//! Bounds: at most [`PIPELINE`] requests are outstanding per peer; a peer that sends
//! no extension handshake offering `ut_metadata` within [`READY_TIMEOUT`], or
//! nothing at all for [`QUIET_TIMEOUT`], or leaves a request unanswered for
//! [`REQUEST_TIMEOUT`], is closed by the engine's second tick.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::peer::close::CloseReason;
use crate::peer::conn::SendQueue;
use crate::types::PeerId;
use crate::wire::ext::ExtHandshake;
use crate::wire::metadata::{MetadataError, MetadataMsg};
use crate::wire::peer::Message;

/// Requests out to one peer at a time.
pub const PIPELINE: usize = 4;

/// How long a peer may take to offer `ut_metadata` after the handshakes.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a peer may stay silent.
pub const QUIET_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a request may go unanswered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a message from the peer gave the fetch.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// Its extension handshake: it offers `ut_metadata`, with this `metadata_size`.
    Ready(Option<u64>),
    /// A piece of the metadata.
    Data {
        /// Which piece.
        piece: u32,
        /// The size it says the whole has.
        total_size: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// It will not send this piece.
    Reject(u32),
}

/// A connection fetching metadata.
#[derive(Debug)]
pub struct MetadataPeer {
    /// Who it is to the fetch core (ids are not reused, unlike connection slots).
    tag: usize,
    addr: SocketAddr,
    peer_id: PeerId,
    /// The id we receive `ut_metadata` under.
    our_id: u8,
    /// The id it wants `ut_metadata` sent under, once its extension handshake came.
    their_id: Option<u8>,
    /// Its listen port (`p`), for an incoming peer.
    listen_port: Option<u16>,
    /// Its client (`v`).
    client: Option<String>,
    /// When the handshakes completed.
    since: Instant,
    /// When it last sent anything.
    heard_at: Instant,
    /// Requests sent and not answered, with when.
    out: Vec<(u32, Instant)>,
}

impl MetadataPeer {
    /// A peer at `addr` that sent handshake `peer_id` at `now`; `our_id` is the id
    /// we offer `ut_metadata` under, `tag` who it is to the fetch core.
    pub fn new(
        addr: SocketAddr,
        peer_id: PeerId,
        our_id: u8,
        tag: usize,
        now: Instant,
    ) -> MetadataPeer {
        MetadataPeer {
            tag,
            addr,
            peer_id,
            our_id,
            their_id: None,
            listen_port: None,
            client: None,
            since: now,
            heard_at: now,
            out: Vec::new(),
        }
    }

    /// Who it is to the fetch core.
    pub fn tag(&self) -> usize {
        self.tag
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer's id from its handshake.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Its listen port from its extension handshake, if it said.
    pub fn listen_port(&self) -> Option<u16> {
        self.listen_port
    }

    /// Its client name from its extension handshake, if it said.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// Queues our extension handshake: `ut_metadata` only, and our listen port.
    pub fn greet(&self, listen_port: Option<u16>, send: &mut SendQueue) {
        let ours = ExtHandshake {
            m: BTreeMap::from([("ut_metadata".to_string(), self.our_id)]),
            v: Some(concat!("hivebt ", env!("CARGO_PKG_VERSION")).to_string()),
            p: listen_port,
            ..ExtHandshake::default()
        };
        send.queue_msg(&Message::Extended {
            id: 0,
            payload: &ours.encode(),
        });
    }

    /// Whether another request may go out now.
    pub fn wants_request(&self) -> bool {
        self.their_id.is_some() && self.out.len() < PIPELINE
    }

    /// Queues a request for metadata piece `piece`.
    pub fn request(&mut self, piece: u32, send: &mut SendQueue, now: Instant) {
        let Some(id) = self.their_id else { return };
        send.queue_msg(&Message::Extended {
            id,
            payload: &MetadataMsg::Request { piece }.encode(),
        });
        self.out.push((piece, now));
    }

    /// Handles one message from the peer.
    pub fn on_message(
        &mut self,
        msg: Message<'_>,
        send: &mut SendQueue,
        now: Instant,
    ) -> Result<Option<Fetched>, CloseReason> {
        self.heard_at = now;
        let Message::Extended { id, payload } = msg else {
            // Bitfield, have, interest, choking: nothing to do until the metadata is in.
            return Ok(None);
        };
        if id == 0 {
            let hs = ExtHandshake::decode(payload).map_err(|_| CloseReason::ProtocolViolation)?;
            self.listen_port = hs.p.or(self.listen_port);
            if hs.v.is_some() {
                self.client = hs.v.clone();
            }
            return match hs.extension_id("ut_metadata") {
                Some(theirs) => {
                    self.their_id = Some(theirs);
                    Ok(Some(Fetched::Ready(hs.metadata_size)))
                }
                None => {
                    self.their_id = None;
                    Ok(None)
                }
            };
        }
        if id != self.our_id {
            return Ok(None);
        }
        match MetadataMsg::decode(payload) {
            Ok(MetadataMsg::Data {
                piece,
                total_size,
                data,
            }) => {
                self.answered(piece);
                Ok(Some(Fetched::Data {
                    piece,
                    total_size,
                    data: data.to_vec(),
                }))
            }
            Ok(MetadataMsg::Reject { piece }) => {
                self.answered(piece);
                Ok(Some(Fetched::Reject(piece)))
            }
            Ok(MetadataMsg::Request { piece }) => {
                if let Some(theirs) = self.their_id {
                    send.queue_msg(&Message::Extended {
                        id: theirs,
                        payload: &MetadataMsg::Reject { piece }.encode(),
                    });
                }
                Ok(None)
            }
            // BEP 9: an unknown msg_type is ignored.
            Err(MetadataError::UnknownType(_)) => Ok(None),
            Err(_) => Err(CloseReason::ProtocolViolation),
        }
    }

    fn answered(&mut self, piece: u32) {
        if let Some(i) = self.out.iter().position(|&(p, _)| p == piece) {
            self.out.remove(i);
        }
    }

    /// Why the engine should close it now, if it should.
    pub fn on_second(&self, now: Instant) -> Option<CloseReason> {
        let waited = |since: Instant| now.saturating_duration_since(since);
        if waited(self.heard_at) >= QUIET_TIMEOUT {
            return Some(CloseReason::Inactive);
        }
        if self.their_id.is_none() && waited(self.since) >= READY_TIMEOUT {
            return Some(CloseReason::NoMetadata);
        }
        if self
            .out
            .iter()
            .any(|&(_, at)| waited(at) >= REQUEST_TIMEOUT)
        {
            return Some(CloseReason::Inactive);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(now: Instant) -> MetadataPeer {
        MetadataPeer::new(
            "127.0.0.1:6881".parse().unwrap(),
            PeerId([7; 20]),
            3,
            0,
            now,
        )
    }

    fn ext(m: &[(&str, u8)], size: Option<u64>) -> Vec<u8> {
        ExtHandshake {
            m: m.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
            metadata_size: size,
            ..ExtHandshake::default()
        }
        .encode()
    }

    /// Hands `p` the extension handshake `hs` at `now`.
    fn greeted(
        p: &mut MetadataPeer,
        hs: &[u8],
        send: &mut SendQueue,
        now: Instant,
    ) -> Result<Option<Fetched>, CloseReason> {
        p.on_message(Message::Extended { id: 0, payload: hs }, send, now)
    }

    fn sent(send: &mut SendQueue) -> Vec<u8> {
        let mut out = Vec::new();
        send.write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn asks_only_once_the_peer_offers_ut_metadata_and_keeps_the_pipeline_bounded() {
        let now = Instant::now();
        let mut p = peer(now);
        let mut send = SendQueue::default();
        assert!(!p.wants_request());
        let none = ext(&[("ut_pex", 1)], None);
        let got = p.on_message(
            Message::Extended {
                id: 0,
                payload: &none,
            },
            &mut send,
            now,
        );
        assert_eq!(got, Ok(None));
        assert!(!p.wants_request());
        let hs = ext(&[("ut_metadata", 9)], Some(40_000));
        let got = greeted(&mut p, &hs, &mut send, now);
        assert_eq!(got, Ok(Some(Fetched::Ready(Some(40_000)))));
        for piece in 0..PIPELINE as u32 {
            assert!(p.wants_request());
            p.request(piece, &mut send, now);
        }
        assert!(!p.wants_request(), "at most {PIPELINE} out");
        let bytes = sent(&mut send);
        let (msg, _) = crate::wire::peer::decode(&bytes, 1 << 20).unwrap().unwrap();
        let Message::Extended { id, payload } = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(id, 9, "sent under the peer's id");
        assert_eq!(
            MetadataMsg::decode(payload).unwrap(),
            MetadataMsg::Request { piece: 0 }
        );
        let reject = MetadataMsg::Reject { piece: 1 }.encode();
        let got = p.on_message(
            Message::Extended {
                id: 3,
                payload: &reject,
            },
            &mut send,
            now,
        );
        assert_eq!(got, Ok(Some(Fetched::Reject(1))));
        assert!(p.wants_request(), "an answer frees a slot");
    }

    #[test]
    fn other_messages_are_ignored_requests_rejected_and_garbage_closes() {
        let now = Instant::now();
        let mut p = peer(now);
        let mut send = SendQueue::default();
        let bitfield = [0xffu8; 300];
        assert_eq!(
            p.on_message(Message::Bitfield(&bitfield), &mut send, now),
            Ok(None),
            "a bitfield of a size we cannot check yet is not an error"
        );
        assert_eq!(
            p.on_message(
                Message::Have(crate::types::PieceIndex(u32::MAX)),
                &mut send,
                now
            ),
            Ok(None)
        );
        let hs = ext(&[("ut_metadata", 5)], Some(100));
        greeted(&mut p, &hs, &mut send, now).unwrap();
        sent(&mut send);
        let ask = MetadataMsg::Request { piece: 0 }.encode();
        assert_eq!(
            p.on_message(
                Message::Extended {
                    id: 3,
                    payload: &ask,
                },
                &mut send,
                now,
            ),
            Ok(None)
        );
        let bytes = sent(&mut send);
        let (msg, _) = crate::wire::peer::decode(&bytes, 1 << 20).unwrap().unwrap();
        let Message::Extended { id: 5, payload } = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(
            MetadataMsg::decode(payload).unwrap(),
            MetadataMsg::Reject { piece: 0 }
        );
        assert_eq!(
            p.on_message(
                Message::Extended {
                    id: 3,
                    payload: b"not bencode",
                },
                &mut send,
                now,
            ),
            Err(CloseReason::ProtocolViolation)
        );
    }

    #[test]
    fn slow_or_silent_peers_are_given_up() {
        let t0 = Instant::now();
        let mut p = peer(t0);
        let mut send = SendQueue::default();
        assert_eq!(p.on_second(t0 + READY_TIMEOUT / 2), None);
        assert_eq!(
            p.on_second(t0 + READY_TIMEOUT),
            Some(CloseReason::NoMetadata),
            "no ut_metadata offered in time"
        );
        let hs = ext(&[("ut_metadata", 5)], Some(100));
        greeted(&mut p, &hs, &mut send, t0).unwrap();
        p.request(0, &mut send, t0);
        assert_eq!(p.on_second(t0 + READY_TIMEOUT), None);
        assert_eq!(
            p.on_second(t0 + REQUEST_TIMEOUT),
            Some(CloseReason::Inactive),
            "a request left unanswered"
        );
    }
}
