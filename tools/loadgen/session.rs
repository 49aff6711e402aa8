//! One simulated leecher's side of a connection to the seeder: handshake, interest,
//! what the seeder has, the requests in flight and where each arriving block goes.
//!
//! Depends on `hivebt::wire`, `framer` (it is the framer's [`Sink`]), `plan`, `verify`
//! and `report`. Pure: the I/O loop feeds it bytes with `now` and writes out what it
//! queues. Lifecycle: `start` queues our handshake; the seeder's handshake makes the
//! session `handshaken` and queues `have_none` (with the fast extension), a short
//! extension handshake (with BEP 10) and `interested` (not with `--idle`); from then on
//! `fill` keeps up to `depth` requests in flight while the seeder unchokes us.
//!
//! Invariants:
//! - `outstanding` holds each requested block once, in request order, and
//!   `outstanding.len() + kept blocks <= depth` whenever `fill` adds to it;
//! - a block leaves `outstanding` when its data starts arriving, when it is rejected,
//!   or (without the fast extension) when the seeder chokes us; rejected and dropped
//!   blocks wait in `retry` and are asked for again before any new block;
//! - with `--verify`, every block of `checks` is in `outstanding`, `retry`, being
//!   received, hashed or kept; a check leaves `checks` only when complete.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::Instant;

use hivebt::bitfield::Bitfield;
use hivebt::types::{BlockRef, InfoHash, PeerId, PieceIndex};
use hivebt::wire::ext::ExtHandshake;
use hivebt::wire::peer::{self, Handshake, Message, ReservedBit};

use crate::close::CloseKind;
use crate::framer::Sink;
use crate::plan::Planner;
use crate::report::Stats;
use crate::verify::PieceCheck;

/// How often a random pattern may draw a piece this connection is already verifying
/// before it gives up for this turn.
const PIECE_DRAWS: usize = 8;

/// How often the planner may hand out a block already in flight on this connection
/// before it gives up for this turn (a torrent with fewer blocks than the depth).
const BLOCK_DRAWS: usize = 8;

/// What every session of a run shares and never changes.
#[derive(Debug)]
pub struct Setup {
    /// The torrent asked for.
    pub info_hash: InfoHash,
    /// Its pieces' SHA-1 hashes (for `--verify`).
    pub hashes: Vec<[u8; 20]>,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Check every piece downloaded.
    pub verify: bool,
    /// Handshake only; never ask for anything.
    pub idle: bool,
}

/// What the sessions of a run share and change: the request planner and the counters,
/// with the time of the current read.
#[derive(Debug)]
pub struct Env<'a> {
    /// The run's setup.
    pub setup: &'a Setup,
    /// Where blocks come from.
    pub planner: &'a mut Planner,
    /// Where results go.
    pub stats: &'a mut Stats,
    /// When the bytes being fed were read.
    pub now: Instant,
}

/// A request in flight.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    block: BlockRef,
    sent_at: Instant,
}

/// Where the data of the block being received goes.
#[derive(Debug)]
enum Into {
    /// Counted only.
    Count,
    /// Straight into the SHA-1 of `checks[i]`.
    Hash(usize),
    /// Copied aside for `checks[i]` until the blocks before it arrive.
    Keep(usize, Vec<u8>),
    /// A block we did not ask for: dropped.
    Skip,
}

/// The block whose data is arriving.
#[derive(Debug)]
struct Receiving {
    block: BlockRef,
    sent_at: Instant,
    into: Into,
}

/// Bytes queued for the socket.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    written: usize,
}

impl OutBuf {
    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Writes until everything is out or `w` would block; returns the bytes written.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut total = 0;
        while self.written < self.buf.len() {
            match w.write(&self.buf[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.written = 0;
        Ok(total)
    }

    fn push(&mut self, msg: &Message<'_>) {
        peer::encode(msg, &mut self.buf);
    }
}

/// The state of one connection.
#[derive(Debug)]
pub struct Session {
    peer_id: PeerId,
    handshaken: bool,
    fast: bool,
    choked: bool,
    have: Bitfield,
    depth: usize,
    outstanding: VecDeque<Outstanding>,
    retry: VecDeque<BlockRef>,
    receiving: Option<Receiving>,
    checks: Vec<PieceCheck>,
    /// Output for the socket.
    pub out: OutBuf,
}

impl Session {
    /// A session for a torrent of `piece_count` pieces that will introduce itself as
    /// `peer_id`.
    pub fn new(setup: &Setup, piece_count: u32, peer_id: PeerId) -> Session {
        Session {
            peer_id,
            handshaken: false,
            fast: false,
            choked: true,
            have: Bitfield::new(piece_count),
            depth: setup.depth,
            outstanding: VecDeque::new(),
            retry: VecDeque::new(),
            receiving: None,
            checks: Vec::new(),
            out: OutBuf::default(),
        }
    }

    /// Queues our handshake: the connection is open.
    pub fn start(&mut self, setup: &Setup) {
        let mut hs = Handshake::new(setup.info_hash, self.peer_id);
        hs.set(ReservedBit::EXTENSION_PROTOCOL, true);
        hs.set(ReservedBit::FAST_EXTENSION, true);
        self.out.buf.extend_from_slice(&hs.encode());
    }

    /// Whether the seeder's handshake has arrived.
    pub fn handshaken(&self) -> bool {
        self.handshaken
    }

    /// Requests in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// Queues a keep-alive.
    pub fn keep_alive(&mut self) {
        self.out.push(&Message::KeepAlive);
    }

    /// The handle the framer reports to.
    pub fn sink<'s, 'e>(&'s mut self, env: &'s mut Env<'e>) -> Feed<'s, 'e> {
        Feed { s: self, env }
    }

    /// Sends requests until `depth` are in flight (counting blocks kept aside for
    /// `--verify`), if the seeder lets us.
    pub fn fill(&mut self, env: &mut Env<'_>) {
        if !self.handshaken || self.choked || env.setup.idle {
            return;
        }
        while self.outstanding.len() + self.kept() < self.depth {
            let Some(block) = self.retry.pop_front().or_else(|| self.next_new(env)) else {
                break;
            };
            self.out.push(&Message::Request(block));
            self.outstanding.push_back(Outstanding {
                block,
                sent_at: env.now,
            });
            env.stats.requests_sent += 1;
        }
    }

    /// Blocks held in memory for `--verify`: kept aside, or being copied aside now.
    fn kept(&self) -> usize {
        let copying = matches!(
            self.receiving,
            Some(Receiving {
                into: Into::Keep(..),
                ..
            })
        );
        self.checks.iter().map(PieceCheck::kept).sum::<usize>() + usize::from(copying)
    }

    /// A block not asked for before on this connection.
    fn next_new(&mut self, env: &mut Env<'_>) -> Option<BlockRef> {
        if !env.setup.verify {
            // Never the same block twice in flight on one connection: a seeder may
            // fold duplicates into one answer (hivebt does), leaving a request that
            // is never answered.
            return (0..BLOCK_DRAWS)
                .filter_map(|_| env.planner.next_block(&self.have))
                .find(|b| self.outstanding.iter().all(|o| o.block != *b));
        }
        let block = |c: &mut PieceCheck| {
            c.next_block().map(|(offset, len)| BlockRef {
                piece: c.piece(),
                offset,
                len,
            })
        };
        if let Some(b) = self.checks.iter_mut().find_map(block) {
            return Some(b);
        }
        // Every open piece is fully requested: open another. More open pieces than
        // requests in flight would only hold memory.
        if self.checks.len() >= self.depth {
            return None;
        }
        let piece = (0..PIECE_DRAWS)
            .filter_map(|_| env.planner.next_piece(&self.have))
            .find(|p| self.checks.iter().all(|c| c.piece() != *p))?;
        let len = env.planner.geometry().piece_len(piece);
        let expected = *env.setup.hashes.get(piece.0 as usize)?;
        let mut check = PieceCheck::new(piece, len, expected);
        let b = block(&mut check);
        self.checks.push(check);
        b
    }

    fn on_handshake(&mut self, env: &mut Env<'_>, hs: Handshake) -> Result<(), CloseKind> {
        if hs.info_hash != env.setup.info_hash {
            return Err(CloseKind::WrongTorrent);
        }
        self.handshaken = true;
        self.fast = hs.has(ReservedBit::FAST_EXTENSION);
        env.stats.connections_handshaken += 1;
        if hs.has(ReservedBit::EXTENSION_PROTOCOL) {
            let ext = ExtHandshake {
                v: Some(concat!("hivebt-loadgen ", env!("CARGO_PKG_VERSION")).to_string()),
                ..ExtHandshake::default()
            };
            self.out.push(&Message::Extended {
                id: 0,
                payload: &ext.encode(),
            });
        }
        if self.fast {
            self.out.push(&Message::HaveNone);
        }
        if !env.setup.idle {
            self.out.push(&Message::Interested);
        }
        Ok(())
    }

    fn on_message(&mut self, env: &mut Env<'_>, msg: Message<'_>) -> Result<(), CloseKind> {
        let pieces = self.have.len();
        match msg {
            Message::Choke => {
                self.choked = true;
                env.stats.chokes += 1;
                // Without the fast extension a choke drops our requests (BEP 3); with
                // it, each is answered or rejected (BEP 6).
                if !self.fast {
                    env.stats.requests_rejected += self.outstanding.len() as u64;
                    self.retry
                        .extend(self.outstanding.drain(..).map(|o| o.block));
                }
            }
            Message::Unchoke => self.choked = false,
            Message::Have(p) => {
                self.have.set(p, true).map_err(|_| CloseKind::Protocol)?;
            }
            Message::Bitfield(bits) => {
                self.have = Bitfield::from_wire(bits, pieces).map_err(|_| CloseKind::Protocol)?;
            }
            Message::HaveAll => self.have = Bitfield::full(pieces),
            Message::HaveNone => self.have = Bitfield::new(pieces),
            Message::Reject(block) => {
                if let Some(i) = self.outstanding.iter().position(|o| o.block == block) {
                    self.outstanding.remove(i);
                    self.retry.push_back(block);
                    env.stats.requests_rejected += 1;
                }
            }
            Message::Extended { id: 0, payload } => {
                // A seeder's `reqq` caps our depth; a handshake we cannot read is
                // ignored, as the extension protocol is optional.
                if let Some(reqq) = ExtHandshake::decode(payload).ok().and_then(|e| e.reqq) {
                    self.depth = env.setup.depth.min(reqq.max(1) as usize);
                }
            }
            // Nothing else changes what we ask for: keep-alives, interest, requests
            // (we have nothing to give), `port`, `suggest`, `allowed_fast`, other
            // extension messages and ids we do not know.
            _ => {}
        }
        Ok(())
    }

    fn on_block_start(
        &mut self,
        env: &mut Env<'_>,
        piece: PieceIndex,
        offset: u32,
        len: u32,
    ) -> Result<(), CloseKind> {
        let found = self
            .outstanding
            .iter()
            .position(|o| o.block.piece == piece && o.block.offset == offset);
        let Some(i) = found else {
            env.stats.blocks_unrequested += 1;
            self.receiving = Some(Receiving {
                block: BlockRef { piece, offset, len },
                sent_at: env.now,
                into: Into::Skip,
            });
            return Ok(());
        };
        let Some(o) = self.outstanding.remove(i) else {
            return Err(CloseKind::Protocol);
        };
        if o.block.len != len {
            return Err(CloseKind::Protocol);
        }
        let into = if env.setup.verify {
            let c = self
                .checks
                .iter()
                .position(|c| c.piece() == piece)
                .ok_or(CloseKind::Protocol)?;
            if self.checks[c].is_next(offset) {
                Into::Hash(c)
            } else {
                Into::Keep(c, Vec::with_capacity(len as usize))
            }
        } else {
            Into::Count
        };
        self.receiving = Some(Receiving {
            block: o.block,
            sent_at: o.sent_at,
            into,
        });
        Ok(())
    }

    fn on_block_data(&mut self, env: &mut Env<'_>, data: &[u8]) {
        let Some(r) = &mut self.receiving else {
            return;
        };
        match &mut r.into {
            Into::Skip => return,
            Into::Count => {}
            Into::Hash(c) => self.checks[*c].hash(data),
            Into::Keep(_, kept) => kept.extend_from_slice(data),
        }
        env.stats.bytes += data.len() as u64;
    }

    fn on_block_end(&mut self, env: &mut Env<'_>) -> Result<(), CloseKind> {
        let Some(r) = self.receiving.take() else {
            return Ok(());
        };
        let c = match r.into {
            Into::Skip => return Ok(()),
            Into::Count => None,
            Into::Hash(c) => self.checks[c].hashed_block(r.block.len).then_some(c),
            Into::Keep(c, data) => {
                self.checks[c].keep(r.block.offset, data);
                None
            }
        };
        env.stats.requests_completed += 1;
        env.stats
            .record_latency(env.now.saturating_duration_since(r.sent_at));
        if let Some(c) = c {
            if self.checks.swap_remove(c).verify() {
                env.stats.pieces_verified += 1;
            } else {
                env.stats.pieces_failed += 1;
            }
        }
        Ok(())
    }
}

/// A session and the run's shared state, as the framer's [`Sink`].
pub struct Feed<'s, 'e> {
    s: &'s mut Session,
    env: &'s mut Env<'e>,
}

impl Sink for Feed<'_, '_> {
    fn on_handshake(&mut self, hs: Handshake) -> Result<(), CloseKind> {
        self.s.on_handshake(self.env, hs)
    }

    fn on_message(&mut self, msg: Message<'_>) -> Result<(), CloseKind> {
        self.s.on_message(self.env, msg)
    }

    fn on_block_start(
        &mut self,
        piece: PieceIndex,
        offset: u32,
        len: u32,
    ) -> Result<(), CloseKind> {
        self.s.on_block_start(self.env, piece, offset, len)
    }

    fn on_block_data(&mut self, data: &[u8]) {
        self.s.on_block_data(self.env, data);
    }

    fn on_block_end(&mut self) -> Result<(), CloseKind> {
        self.s.on_block_end(self.env)
    }
}

#[cfg(test)]
mod tests;
