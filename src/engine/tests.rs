//! The engine without sockets or threads: jobs are taken from its queue and their
//! completions fed back by hand, connections are fed bytes into their buffers.

use std::time::{Duration, Instant};

use super::*;
use crate::peer::conn::ReadPass;
use crate::torrent::paths::sanitize;
use crate::torrent::storage::Layout;
use crate::wire::peer::Handshake;
use crate::workers::{Completion, JobTiming};

const PIECE: u64 = 32 * 1024;

/// A socket that has `0` to read, then would block.
struct Arrived<'a>(&'a [u8]);

impl std::io::Read for Arrived<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// A torrent of `pieces` pieces whose hashes are `[p; 20]` for piece `p`.
fn spec(pieces: u8, require_data: bool) -> TorrentSpec {
    named_spec("x", pieces, require_data)
}

/// [`spec`] of a torrent called `name` (another name, another info-hash).
fn named_spec(name: &str, pieces: u8, require_data: bool) -> TorrentSpec {
    spec_of(&torrent_text(name, pieces, ""), require_data)
}

/// The .torrent of [`named_spec`], with `extra` (bencoded keys that sort after
/// `pieces`) at the end of its info dictionary.
fn torrent_text(name: &str, pieces: u8, extra: &str) -> Vec<u8> {
    let hashes: Vec<u8> = (0..pieces).flat_map(|p| [p; 20]).collect();
    let mut text = format!(
        "d4:infod6:lengthi{}e4:name{}:{name}12:piece lengthi{PIECE}e6:pieces{}:",
        u64::from(pieces) * PIECE,
        name.len(),
        hashes.len()
    )
    .into_bytes();
    text.extend_from_slice(&hashes);
    text.extend_from_slice(extra.as_bytes());
    text.extend_from_slice(b"ee");
    text
}

fn spec_of(text: &[u8], require_data: bool) -> TorrentSpec {
    let meta = Metainfo::from_bytes(text).unwrap();
    let layout = Layout::new(&meta.info, &sanitize(&meta.info));
    TorrentSpec {
        storage: Arc::new(Storage::new("/nonexistent".into(), layout)),
        meta: Arc::new(meta),
        have: None,
        require_data,
        paused: false,
        caps: TorrentCaps::default(),
    }
}

/// The configuration the tests start from: one worker, one configured peer.
pub(super) fn config() -> EngineConfig {
    EngineConfig {
        listen: Vec::new(),
        peers: vec!["127.0.0.1:7777".parse().unwrap()],
        max_peers: 10,
        upload_slots: 4,
        workers: 1,
        state_dir: None,
        max_upload_rate: None,
        max_download_rate: None,
        exit_when_complete: false,
        announce_listen: false,
        extra_trackers: Vec::new(),
        tracker_server: None,
        upload_mode: UploadMode::default(),
        stats: false,
        stall_timeout: None,
        limits: crate::config::Limits::default(),
        service: false,
        dht: None,
        lsd: false,
        pex: true,
    }
}

fn engine(specs: Vec<TorrentSpec>) -> Engine {
    engine_with(config(), specs)
}

/// An engine of `specs` under `config`, with a counter for its random numbers.
pub(super) fn engine_with(config: EngineConfig, specs: Vec<TorrentSpec>) -> Engine {
    let mut n = 0;
    let random = move || {
        n += 1;
        n
    };
    Engine::new(
        config,
        specs,
        PeerId([7; 20]),
        Some(6881),
        random,
        Instant::now(),
    )
    .unwrap()
}

/// A worker hashed piece `piece` of `torrent` (verified if `ok`) and wrote it.
pub(super) fn piece_written(
    e: &mut Engine,
    torrent: TorrentId,
    piece: PieceIndex,
    ok: bool,
    now: Instant,
) {
    let c = Completion::PieceWritten {
        torrent,
        piece,
        result: Ok(ok),
        hashed: Duration::ZERO,
        block_hashes: None,
    };
    let timing = JobTiming {
        waited: Duration::ZERO,
        ran: Duration::ZERO,
    };
    e.on_completion(c, timing, now);
}

/// Answers every hash job in the queue: piece `p` hashes to `[p; 20]` (verifies) if
/// `good(p)`, else to `[0xff; 20]`.
fn answer_checks(e: &mut Engine, good: impl Fn(u32) -> bool) -> u32 {
    let mut answered = 0;
    while let Some(job) = e.next_job() {
        let Job::HashPiece { torrent, piece, .. } = job else {
            panic!("unexpected job {job:?}");
        };
        let hash = if good(piece.0) {
            [piece.0 as u8; 20]
        } else {
            [0xff; 20]
        };
        let c = Completion::PieceHashed {
            torrent,
            piece,
            result: Ok(hash),
            len: PIECE,
        };
        let timing = JobTiming {
            waited: Duration::ZERO,
            ran: Duration::ZERO,
        };
        e.on_completion(c, timing, Instant::now());
        answered += 1;
    }
    answered
}

#[test]
fn a_torrent_without_a_record_checks_then_runs() {
    let mut e = engine(vec![spec(5, false)]);
    assert!(!e.all_checked());
    assert!(matches!(
        e.torrents[0].state,
        TorrentState::Checking { next: 2, done: 0 }
    ));
    assert_eq!(e.jobs_waiting(), 2, "two hash jobs per worker at a time");
    assert_eq!(answer_checks(&mut e, |p| p != 3), 5);
    let t = &e.torrents[0];
    assert_eq!(t.state, TorrentState::Active);
    assert!(e.all_checked());
    assert_eq!(
        t.have().iter_ones().map(|p| p.0).collect::<Vec<_>>(),
        [0, 1, 2, 4]
    );
    assert_eq!(t.bytes_done(), 4 * PIECE);
    // The picker was rebuilt from what verified: only piece 3 is asked for.
    let mut blocks = Vec::new();
    e.torrents[0]
        .picker
        .on_have_all(crate::torrent::picker::PeerKey(1));
    e.torrents[0].picker.pick(
        crate::torrent::picker::PeerKey(1),
        |_| true,
        10,
        &mut blocks,
    );
    assert!(!blocks.is_empty() && blocks.iter().all(|b| b.piece.0 == 3));
    // Piece 3 is downloading now (blocks requested), the rest verified.
    assert_eq!(e.piece_states(e.torrents[0].id).unwrap(), b"22212");
    assert!(!e.take_shutdown_wanted());
    // The configured peer is dialled as soon as the check ends, not at the next tick.
    let dials = e.take_dials();
    assert_eq!(dials.len(), 1);
    assert_eq!(dials[0].addr, "127.0.0.1:7777".parse().unwrap());
}

#[test]
fn a_download_and_exit_run_of_files_already_complete_stops_after_the_check() {
    let mut cfg = config();
    cfg.exit_when_complete = true;
    let mut e = engine_with(cfg, vec![spec(2, false)]);
    answer_checks(&mut e, |_| true);
    assert!(e.torrents[0].complete());
    assert!(
        e.take_shutdown_wanted(),
        "no wait for the next per-second sweep"
    );
}

#[test]
fn seeding_data_of_which_nothing_verifies_fails_and_stops_the_run() {
    let mut e = engine(vec![spec(3, true)]);
    answer_checks(&mut e, |_| false);
    let TorrentState::Failed(why) = &e.torrents[0].state else {
        panic!("{:?}", e.torrents[0].state);
    };
    assert!(why.contains("nothing to seed"), "{why}");
    assert!(e.take_shutdown_wanted());
    let summary = e.finish();
    assert!(
        summary[0]
            .failed
            .as_deref()
            .is_some_and(|w| w.contains("nothing to seed"))
    );
}

#[test]
fn a_peer_of_a_checking_torrent_waits_in_its_handshake() {
    let spec = spec(2, false);
    let hash = spec.meta.info_hash;
    let mut e = engine(vec![spec]);
    let now = Instant::now();
    let key = e.add_conn("127.0.0.1:7000".parse().unwrap(), false, None, now);
    let hs = Handshake::new(hash, PeerId([1; 20])).encode();
    let pass: ReadPass = e.conns[key]
        .recv
        .read_from(&mut Arrived(&hs), 1 << 20, 1 << 20)
        .unwrap();
    e.on_input(key, pass, now);
    assert!(
        matches!(e.conns[key].state, ConnState::Handshaking),
        "it waits"
    );
    assert_eq!(e.conns[key].send.queued(), 0, "and is not answered yet");
    answer_checks(&mut e, |_| true);
    assert!(
        e.conns[key].session().is_some(),
        "taken in once the check ended"
    );
    assert!(
        e.conns[key].send.queued() > 0,
        "our handshake and have_all went out"
    );
    assert_eq!(e.torrents[0].peers.len(), 1);
    assert_eq!(e.take_dirty(), [key]);
}

#[test]
fn a_late_completion_for_a_gone_torrent_is_ignored() {
    let mut e = engine(vec![spec(2, false)]);
    let Some(Job::HashPiece { torrent, .. }) = e.next_job() else {
        panic!("no hash job");
    };
    let stale = TorrentId {
        generation: torrent.generation + 1,
        ..torrent
    };
    let c = Completion::PieceHashed {
        torrent: stale,
        piece: PieceIndex(0),
        result: Ok([0; 20]),
        len: PIECE,
    };
    let timing = JobTiming {
        waited: Duration::ZERO,
        ran: Duration::ZERO,
    };
    e.on_completion(c, timing, Instant::now());
    assert!(matches!(
        e.torrents[0].state,
        TorrentState::Checking { done: 0, .. }
    ));
}

/// A torrent of `pieces` pieces, active at once with `have` verified.
pub(super) fn active_spec(pieces: u8, have: &[u32]) -> TorrentSpec {
    with_have(spec(pieces, false), have)
}

/// `s`, active at once with `have` verified.
fn with_have(mut s: TorrentSpec, have: &[u32]) -> TorrentSpec {
    let mut bits = Bitfield::new(s.storage.layout.piece_count());
    for &p in have {
        bits.set(PieceIndex(p), true).unwrap();
    }
    s.have = Some(bits);
    s
}

/// A spec of a different torrent (another name, so another info-hash).
fn other_spec() -> TorrentSpec {
    with_have(named_spec("y", 1, false), &[0])
}

#[test]
fn add_refuses_a_duplicate_and_remove_makes_every_old_id_stale() {
    let mut e = engine(Vec::new());
    let now = Instant::now();
    let a = e.add(active_spec(2, &[0, 1]), now).unwrap();
    assert_eq!(e.add(active_spec(2, &[]), now), Err(AddError::Duplicate(a)));
    assert_eq!(e.find(&e.torrents[0].meta.info_hash), Some(a));
    assert!(e.remove(a).is_some());
    assert!(e.remove(a).is_none(), "removed once");
    assert_eq!(e.take_removed(), [a]);
    // The next torrent reuses the slot under a new generation.
    let b = e.add(other_spec(), now).unwrap();
    assert_eq!(b.slot, a.slot);
    assert_ne!(b, a);
    assert!(e.torrent(a).is_none());
    assert!(!e.pause(a, now), "a stale id changes nothing");
    assert_eq!(e.torrent(b).map(|v| v.state), Some(TorrentState::Active));
    // A completion for the removed torrent does not reach its successor.
    piece_written(&mut e, a, PieceIndex(0), false, now);
    assert_eq!(e.torrent(b).map(|v| v.hash_failures), Some(0));
}

#[test]
fn pause_closes_its_peers_and_resume_takes_it_back() {
    let spec = active_spec(2, &[0, 1]);
    let hash = spec.meta.info_hash;
    let mut e = engine(vec![spec]);
    let id = e.find(&hash).unwrap();
    let now = Instant::now();
    let key = e.add_conn("127.0.0.1:7000".parse().unwrap(), false, None, now);
    let hs = Handshake::new(hash, PeerId([1; 20])).encode();
    let pass = e.conns[key]
        .recv
        .read_from(&mut Arrived(&hs), 1 << 20, 1 << 20)
        .unwrap();
    e.on_input(key, pass, now);
    assert_eq!(e.torrent(id).map(|v| v.peers), Some(1));
    assert!(e.pause(id, now));
    assert!(!e.pause(id, now), "already paused");
    assert!(e.conns[key].is_closing());
    let v = e.torrent(id).unwrap();
    assert_eq!((v.state, v.peers), (TorrentState::Paused, 0));
    // A peer for a paused torrent is refused at its handshake.
    let key = e.add_conn("127.0.0.1:7001".parse().unwrap(), false, None, now);
    let pass = e.conns[key]
        .recv
        .read_from(&mut Arrived(&hs), 1 << 20, 1 << 20)
        .unwrap();
    e.on_input(key, pass, now);
    assert!(e.conns[key].is_closing());
    assert!(e.resume(id, now));
    assert!(!e.resume(id, now), "already active");
    assert_eq!(e.torrent(id).map(|v| v.state), Some(TorrentState::Active));
    assert_eq!(e.torrent(id).map(|v| v.bytes_done), Some(2 * PIECE), "kept");
}

#[test]
fn recheck_forgets_and_hashes_again() {
    let spec = active_spec(3, &[0, 1, 2]);
    let hash = spec.meta.info_hash;
    let mut e = engine(vec![spec]);
    let id = e.find(&hash).unwrap();
    let now = Instant::now();
    assert!(e.recheck(id, now));
    assert!(!e.recheck(id, now), "already checking");
    assert_eq!(e.torrent(id).map(|v| v.bytes_done), Some(0));
    assert!(!e.all_checked());
    answer_checks(&mut e, |p| p != 1);
    let v = e.torrent(id).unwrap();
    assert_eq!(
        (v.state.clone(), v.bytes_done),
        (TorrentState::Active, 2 * PIECE)
    );
    let snap = e.snapshot();
    assert_eq!(snap.torrents.len(), 1);
    assert_eq!(snap.torrents[0], v);
    // The configured peer, dialled again once the check ended.
    assert_eq!((snap.connections, snap.jobs_waiting), (1, 0));
}

#[test]
fn rate_limits_change_at_runtime() {
    let mut e = engine(vec![active_spec(2, &[0, 1])]);
    let now = Instant::now();
    assert!(!e.has_limits());
    e.set_rate_limits(Some(1 << 20), None, now);
    assert!(e.has_limits());
    assert!(e.take_limits_changed());
    assert!(!e.take_limits_changed(), "reported once");
    e.set_rate_limits(Some(0), None, now);
    assert!(!e.has_limits(), "0 is unlimited");
}

#[test]
fn a_check_stops_handing_out_pieces_once_the_run_stops() {
    let mut e = engine(vec![spec(10, false)]);
    e.begin_shutdown(Instant::now());
    assert_eq!(
        answer_checks(&mut e, |_| true),
        2,
        "only the two already out"
    );
    assert!(matches!(
        e.torrents[0].state,
        TorrentState::Checking { next: 2, done: 2 }
    ));
    assert!(
        !e.torrents[0].has_record(),
        "a partial check is never recorded"
    );
}

/// Takes everything connection `key` queued as written (without telling the engine)
/// and decodes it: `None` for our handshake, then each message. Returns the bytes
/// taken.
fn take_sent(
    e: &mut Engine,
    key: usize,
    mut each: impl FnMut(Option<crate::wire::peer::Message<'_>>),
) -> usize {
    let mut bytes = Vec::new();
    let written = e.conns[key].send.write_to(&mut bytes).unwrap();
    let mut rest = &bytes[..];
    // Our handshake comes first when the peer's arrived (no frame starts with 19: its
    // length would be past any cap).
    if rest.len() >= crate::wire::peer::HANDSHAKE_LEN && rest[0] == 19 {
        rest = &rest[crate::wire::peer::HANDSHAKE_LEN..];
        each(None);
    }
    while let Some((m, used)) = crate::wire::peer::decode(rest, 1 << 20).unwrap() {
        each(Some(m));
        rest = &rest[used..];
    }
    written
}

/// Every message `conn` queued since the last call, decoded.
fn sent(e: &mut Engine, key: usize) -> Vec<String> {
    let mut out = Vec::new();
    take_sent(e, key, |m| {
        out.push(match m {
            None => "handshake".to_string(),
            Some(crate::wire::peer::Message::Request(b)) => {
                format!("request {}+{}", b.piece.0, b.offset)
            }
            Some(other) => format!("{other:?}").chars().take(12).collect(),
        })
    });
    out
}

/// Feeds `msgs` (encoded) to connection `key` as if they had just been read.
fn feed(e: &mut Engine, key: usize, bytes: &[u8]) {
    feed_at(e, key, bytes, Instant::now());
}

/// [`feed`] at `now`.
fn feed_at(e: &mut Engine, key: usize, bytes: &[u8], now: Instant) {
    let pass = e.conns[key]
        .recv
        .read_from(&mut Arrived(bytes), 1 << 20, 1 << 21)
        .unwrap();
    e.on_input(key, pass, now);
}

fn encode(msgs: &[crate::wire::peer::Message<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        crate::wire::peer::encode(m, &mut out);
    }
    out
}

#[test]
fn requests_stop_while_unhashed_bytes_pass_the_cap_and_resume_after() {
    use crate::wire::peer::{Message, ReservedBit};
    let mut cfg = config();
    cfg.peers.clear();
    cfg.limits.max_unhashed_bytes = 0;
    let spec = active_spec(4, &[]);
    let hash = spec.meta.info_hash;
    let now = Instant::now();
    let mut e = engine_with(cfg, vec![spec]);
    let key = e.add_conn("127.0.0.1:7000".parse().unwrap(), false, None, now);
    let mut hs = Handshake::new(hash, PeerId([1; 20]));
    hs.set(ReservedBit::FAST_EXTENSION, true);
    feed(&mut e, key, &hs.encode());
    feed(&mut e, key, &encode(&[Message::HaveAll, Message::Unchoke]));
    let first: Vec<String> = sent(&mut e, key)
        .into_iter()
        .filter(|m| m.starts_with("request"))
        .collect();
    assert_eq!(first.len(), 4, "the first pipeline: {first:?}");
    // Both blocks of the first piece asked for arrive: it goes to be verified.
    let piece: u32 = first[0]["request ".len()..]
        .split('+')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a piece number");
    let piece = PieceIndex(piece);
    let block = vec![0u8; crate::types::BLOCK_SIZE as usize];
    let requests = |e: &mut Engine| -> Vec<String> {
        sent(e, key)
            .into_iter()
            .filter(|m| m.starts_with("request"))
            .collect()
    };
    let block_msg = |i: u32| {
        encode(&[Message::Piece {
            piece,
            offset: i * crate::types::BLOCK_SIZE,
            data: &block,
        }])
    };
    // Its first block: the piece is not complete, nothing waits to be hashed, so the
    // freed slot is asked again.
    feed(&mut e, key, &block_msg(0));
    assert_eq!(requests(&mut e).len(), 1);
    // Its second: the piece goes to be verified, and that is over the cap (0 bytes).
    feed(&mut e, key, &block_msg(1));
    let job = std::iter::from_fn(|| e.next_job())
        .find(|j| matches!(j, Job::VerifyAndWrite { .. }))
        .expect("the piece went to be verified");
    let Job::VerifyAndWrite { torrent, .. } = job else {
        unreachable!()
    };
    let more = requests(&mut e);
    assert!(
        more.is_empty(),
        "over the cap, nothing more is asked: {more:?}"
    );
    // The piece is written: under the cap again, the pipeline fills.
    piece_written(&mut e, torrent, piece, true, Instant::now());
    let again = requests(&mut e);
    assert_eq!(
        again.len(),
        1,
        "the slot freed meanwhile is asked: {again:?}"
    );
}

#[test]
fn the_run_ends_once_stopping_and_nothing_is_left_to_write() {
    let mut e = engine(vec![active_spec(2, &[0, 1])]);
    let now = Instant::now();
    assert!(!e.finished(now), "a run that is not stopping goes on");
    assert!(e.begin_shutdown(now).is_empty(), "no tracker to tell");
    assert!(e.begin_shutdown(now).is_empty(), "once");
    assert!(e.finished(now));
    // A job still waiting for the pool holds the end back.
    let mut e = engine(vec![spec(2, false)]);
    e.begin_shutdown(now);
    assert!(e.jobs_waiting() > 0);
    assert!(!e.finished(now));
    answer_checks(&mut e, |_| true);
    assert!(e.finished(now));
}

// Rate limits and connection caps, simulated: leechers that keep requests out and read
// everything the engine queues for them, a refill interval per turn.

/// Requests a simulated leecher keeps out: more blocks than the engine's high-water
/// mark, so a leecher never waits on itself.
const WINDOW: u32 = 32;
const BLOCK: u64 = crate::types::BLOCK_SIZE as u64;
/// Pieces of each simulated torrent (1 MiB).
const SIM_PIECES: u8 = 32;

/// Connects a peer of torrent `hash` from `port` at `now` (the fast extension, a peer
/// id of its own) and feeds it `msgs` after the handshake.
fn connect(
    e: &mut Engine,
    hash: InfoHash,
    port: u16,
    now: Instant,
    msgs: &[crate::wire::peer::Message<'_>],
) -> usize {
    let key = e.add_conn(SocketAddr::from(([127, 0, 0, 1], port)), false, None, now);
    let mut hs = Handshake::new(hash, PeerId([port as u8; 20]));
    hs.set(crate::wire::peer::ReservedBit::FAST_EXTENSION, true);
    feed_at(e, key, &hs.encode(), now);
    if !msgs.is_empty() && !e.conns[key].is_closing() {
        feed_at(e, key, &encode(msgs), now);
    }
    key
}

/// A leecher the simulation drives.
struct Leecher {
    key: usize,
    /// Blocks in its torrent.
    blocks: u32,
    /// Blocks it asked for.
    asked: u32,
    /// Payload bytes it received.
    got: u64,
}

impl Leecher {
    /// A peer that has nothing and is interested, so the seeding engine unchokes it.
    fn join(e: &mut Engine, hash: InfoHash, port: u16, now: Instant) -> Leecher {
        use crate::wire::peer::Message;
        let key = connect(
            e,
            hash,
            port,
            now,
            &[Message::HaveNone, Message::Interested],
        );
        let blocks = u32::from(SIM_PIECES) * (PIECE / BLOCK) as u32;
        Leecher {
            key,
            blocks,
            asked: 0,
            got: 0,
        }
    }

    /// One turn: asks for more blocks, up to `WINDOW` out, then reads everything
    /// queued for it.
    fn turn(&mut self, e: &mut Engine, now: Instant) {
        use crate::wire::peer::Message;
        let received = (self.got / BLOCK) as u32;
        let mut asks = Vec::new();
        while self.asked - received < WINDOW {
            let n = self.asked % self.blocks;
            asks.push(Message::Request(crate::types::BlockRef {
                piece: PieceIndex(n / 2),
                offset: (n % 2) * crate::types::BLOCK_SIZE,
                len: crate::types::BLOCK_SIZE,
            }));
            self.asked += 1;
        }
        feed_at(e, self.key, &encode(&asks), now);
        let mut got = 0;
        let written = take_sent(e, self.key, |m| {
            if let Some(Message::Piece { data, .. }) = m {
                got += data.len() as u64;
            }
        });
        self.got += got;
        e.on_written(self.key, written, now);
    }
}

/// Seeding torrents, each with one leecher, on a simulated clock.
struct Sim {
    e: Engine,
    ids: Vec<TorrentId>,
    leechers: Vec<Leecher>,
    clock: Instant,
    /// What each torrent had sent at the end of the last [`Sim::play`].
    seen: Vec<u64>,
}

impl Sim {
    /// `torrents` complete torrents of [`SIM_PIECES`] pieces, every piece in the upload
    /// cache, a leecher each, and the session's upload limit `session_up`.
    fn seeding(torrents: usize, session_up: Option<u64>) -> Sim {
        let mut cfg = config();
        cfg.peers.clear();
        cfg.upload_mode = UploadMode::Buffered;
        let all: Vec<u32> = (0..u32::from(SIM_PIECES)).collect();
        let specs = (0..torrents)
            .map(|i| with_have(named_spec(&format!("t{i}"), SIM_PIECES, false), &all))
            .collect();
        let mut e = engine_with(cfg, specs);
        let clock = Instant::now();
        e.set_rate_limits(session_up, None, clock);
        let mut ids = Vec::new();
        for (_, t) in e.torrents.iter_mut() {
            for &p in &all {
                let data = bytes::Bytes::from(vec![0u8; PIECE as usize]);
                t.cache.insert(PieceIndex(p), data);
            }
            ids.push(t.id);
        }
        let hashes: Vec<InfoHash> = e.torrents.iter().map(|(_, t)| t.meta.info_hash).collect();
        let leechers = (0..)
            .zip(hashes)
            .map(|(i, h)| Leecher::join(&mut e, h, 7000 + i, clock))
            .collect();
        Sim {
            seen: vec![0; ids.len()],
            e,
            ids,
            leechers,
            clock,
        }
    }

    /// Sets torrent `i`'s caps at the current time.
    fn cap(&mut self, i: usize, caps: TorrentCaps) -> bool {
        self.e.set_torrent_caps(self.ids[i], caps, self.clock)
    }

    /// Plays `steps` refill intervals: the limits are topped up, then every leecher
    /// takes its turn. Returns the payload each torrent queued since the last call
    /// (what the limits govern: a leecher has read all of it but the last turn's).
    fn play(&mut self, steps: u32) -> Vec<u64> {
        for _ in 0..steps {
            self.clock += crate::limit::REFILL_INTERVAL;
            self.e.refill_limits(self.clock);
            for l in &mut self.leechers {
                l.turn(&mut self.e, self.clock);
            }
        }
        let now: Vec<u64> = (self.ids.iter())
            .map(|&id| self.e.torrent(id).map_or(0, |v| v.uploaded))
            .collect();
        let sent = now.iter().zip(&self.seen).map(|(n, s)| n - s).collect();
        self.seen = now;
        sent
    }
}

fn up(rate: u64) -> TorrentCaps {
    TorrentCaps {
        up: Some(rate),
        ..Default::default()
    }
}

/// What a throttle of `rate` lets through over `intervals` refills after it was last
/// full: its burst (a quarter second, at least a block) and what it earns. (A
/// [`Sim::play`] from a fresh throttle earns nothing in its first interval: the bucket
/// is full until the leechers' first requests.)
fn allowance(rate: u64, intervals: u64) -> u64 {
    (rate / 4).max(BLOCK) + rate * intervals / 10
}

/// Fails unless `sent` is what a throttle of `rate` allows over `intervals` (see
/// [`allowance`]): each block is spent before it goes, so at most one block of debt.
fn assert_allowed(sent: u64, rate: u64, intervals: u64, what: &str) {
    let allowed = allowance(rate, intervals);
    assert!(
        (allowed..allowed + BLOCK).contains(&sent),
        "{what}: sent {sent}, allowed {allowed}"
    );
}

#[test]
fn a_torrent_upload_limit_holds_it_to_its_rate_and_slows_no_other() {
    const RATE: u64 = 256 * 1024;
    let free = Sim::seeding(2, None).play(20);
    let mut sim = Sim::seeding(2, None);
    assert!(sim.cap(0, up(RATE)));
    assert!(sim.e.has_limits() && sim.e.take_limits_changed());
    let got = sim.play(20);
    assert_allowed(got[0], RATE, 19, "the capped torrent");
    assert!(
        free[0] > 4 * got[0],
        "without its limit it sends more: {free:?}"
    );
    assert!(
        got[1] >= free[1],
        "the other torrent is not slowed: {got:?} {free:?}"
    );
}

#[test]
fn the_session_limit_is_shared_by_turns() {
    // Every refill the first connection served spends everything: without turns, the
    // same one would be first every time and the other would get nothing.
    const SESSION: u64 = 1 << 20;
    let got = Sim::seeding(2, Some(SESSION)).play(20);
    assert_allowed(got.iter().sum(), SESSION, 19, "the session");
    let total: u64 = got.iter().sum();
    assert!(
        got.iter().all(|&g| g > total * 2 / 5),
        "fair shares: {got:?}"
    );
}

#[test]
fn under_the_session_limit_a_capped_torrent_gets_its_rate_and_the_other_the_rest() {
    const SESSION: u64 = 1 << 20;
    const RATE: u64 = 128 * 1024;
    let mut sim = Sim::seeding(2, Some(SESSION));
    sim.cap(0, up(RATE));
    let got = sim.play(20);
    assert_allowed(got.iter().sum(), SESSION, 19, "both spend the session's");
    let own = allowance(RATE, 19);
    // It waits in its own bucket or in the session's, taking turns there.
    assert!(
        got[0] < own + BLOCK && got[0] > own * 4 / 5,
        "{got:?}, own {own}"
    );
}

#[test]
fn torrent_limits_change_at_runtime() {
    let mut sim = Sim::seeding(1, None);
    sim.cap(0, up(512 * 1024));
    let fast = sim.play(10)[0];
    assert_allowed(fast, 512 * 1024, 9, "first");
    // Lowered: a new, full bucket of the new rate, spent at once by the leecher that
    // waited for the old one.
    sim.cap(0, up(128 * 1024));
    let slow = sim.play(10)[0];
    assert_allowed(slow, 128 * 1024, 10, "lowered");
    // Cleared: nothing is left of the caps, and the torrent runs free.
    assert!(sim.cap(0, TorrentCaps::default()));
    assert!(sim.e.torrents[0].caps.is_none() && !sim.e.has_limits());
    let free = sim.play(10)[0];
    assert!(free > 4 * fast, "{free}");
    // A stale id changes nothing.
    let id = sim.ids[0];
    sim.e.remove(id);
    assert!(!sim.e.set_torrent_caps(id, up(1), sim.clock));
    assert!(!sim.e.has_limits());
}

#[test]
fn a_torrent_connection_cap_refuses_the_next_peer_and_stops_dialling() {
    let mut sim = Sim::seeding(2, None);
    let now = sim.clock;
    let hashes: Vec<InfoHash> = sim
        .e
        .torrents
        .iter()
        .map(|(_, t)| t.meta.info_hash)
        .collect();
    let caps = TorrentCaps {
        max_connections: Some(2),
        ..Default::default()
    };
    assert!(sim.cap(0, caps));
    assert!(!sim.e.has_limits(), "no rate to refill");
    // Its leecher and a dial in flight make two: nothing more is dialled...
    assert!(sim.e.dial("127.0.0.1:8001".parse().unwrap(), 0, now));
    assert!(!sim.e.dial("127.0.0.1:8002".parse().unwrap(), 0, now));
    sim.e.take_dials();
    // ...and the next incoming peer is refused at its handshake, unanswered.
    let refused = connect(&mut sim.e, hashes[0], 7100, now, &[]);
    assert!(sim.e.conns[refused].is_closing());
    assert_eq!(sim.e.conns[refused].send.queued(), 0);
    // The other torrent takes peers as before.
    let other = connect(&mut sim.e, hashes[1], 7101, now, &[]);
    assert!(sim.e.conns[other].session().is_some());
    sim.e.reap_closed();
    assert_eq!(
        sim.e.close_counts().get(&CloseReason::TorrentFull),
        Some(&1)
    );
    assert_eq!(sim.e.torrent(sim.ids[0]).map(|v| v.peers), Some(1));
}

#[test]
fn a_lowered_connection_cap_closes_the_least_useful_first() {
    use crate::wire::peer::Message;
    let mut sim = Sim::seeding(1, None);
    let t0 = sim.clock;
    let hash = sim.e.torrents[0].meta.info_hash;
    let second = Duration::from_secs(1);
    // The sim's leecher (unchoked, the oldest), an idle peer, a newer leecher, a dial.
    let idle = connect(&mut sim.e, hash, 7200, t0 + second, &[Message::HaveNone]);
    let newer = Leecher::join(&mut sim.e, hash, 7201, t0 + 2 * second).key;
    assert!(
        sim.e
            .dial("127.0.0.1:8001".parse().unwrap(), 0, t0 + 3 * second)
    );
    let dial = sim.e.take_dials()[0].key;
    let oldest = sim.leechers[0].key;
    let cap = |n| TorrentCaps {
        max_connections: Some(n),
        ..Default::default()
    };
    sim.cap(0, cap(2));
    let closing = |e: &Engine| {
        [oldest, idle, newer, dial].map(|k| e.conns.get(k).is_none_or(|c| c.is_closing()))
    };
    assert_eq!(
        closing(&sim.e),
        [false, true, false, true],
        "the dial, then the idle one"
    );
    sim.cap(0, cap(1));
    assert_eq!(
        closing(&sim.e),
        [false, true, true, true],
        "then the newest"
    );
    sim.e.reap_closed();
    assert_eq!(
        sim.e.close_counts().get(&CloseReason::TorrentFull),
        Some(&3)
    );
    // Raised again: nothing reopens by itself; the per-second sweep dials for it.
    sim.cap(0, cap(10));
    assert_eq!(sim.e.torrent(sim.ids[0]).map(|v| v.peers), Some(1));
}

#[test]
fn a_torrent_download_limit_holds_back_its_own_requests_only() {
    use crate::wire::peer::Message;
    let mut cfg = config();
    cfg.peers.clear();
    let specs = ["a", "b"].map(|n| with_have(named_spec(n, 4, false), &[]));
    let mut e = engine_with(cfg, specs.into());
    let now = Instant::now();
    let (a, b) = (&e.torrents[0], &e.torrents[1]);
    let (id, hashes) = (a.id, [a.meta.info_hash, b.meta.info_hash]);
    let caps = TorrentCaps {
        down: Some(32 * 1024),
        ..Default::default()
    };
    assert!(e.set_torrent_caps(id, caps, now));
    let requests = |e: &mut Engine, key| {
        let all = sent(e, key);
        all.iter().filter(|m| m.starts_with("request")).count()
    };
    let seeds = [Message::HaveAll, Message::Unchoke];
    let from_a = connect(&mut e, hashes[0], 7300, now, &seeds);
    let from_b = connect(&mut e, hashes[1], 7301, now, &seeds);
    assert_eq!(requests(&mut e, from_a), 1, "its burst buys one block");
    assert_eq!(requests(&mut e, from_b), 4, "the other's first pipeline");
    // A part block's worth of tokens buys the next block; then the debt is paid first.
    e.refill_limits(now + Duration::from_millis(100));
    assert_eq!(requests(&mut e, from_a), 1);
    e.refill_limits(now + Duration::from_millis(200));
    assert_eq!(requests(&mut e, from_a), 0);
}

#[test]
fn only_running_public_torrents_are_offered_to_the_dht_and_lsd() {
    let public = spec(2, false);
    let private = spec_of(&torrent_text("p", 2, "7:privatei1e"), false);
    assert!(private.meta.info.private);
    let public_hash = public.meta.info_hash;
    let mut e = engine(vec![public, private]);
    assert!(e.dht_torrents().is_empty(), "nothing while checking");
    answer_checks(&mut e, |_| true);
    let offered: Vec<_> = e.dht_torrents().iter().map(|t| t.info_hash).collect();
    assert_eq!(
        offered,
        [public_hash],
        "the private torrent (BEP 27) is never offered"
    );
    let id = e.torrents[0].id;
    assert!(e.pause(id, Instant::now()));
    assert!(
        e.dht_torrents().is_empty(),
        "a paused torrent is not offered"
    );
}

/// A magnet link of info-hash `[n; 20]` named `dn`, with no peers.
fn magnet_spec(n: u8, dn: &str, paused: bool) -> MagnetSpec {
    let uri = format!("magnet:?xt=urn:btih:{}&dn={dn}", InfoHash([n; 20]).to_hex());
    MagnetSpec {
        link: crate::wire::magnet::Magnet::parse(&uri).unwrap(),
        save_path: std::path::PathBuf::from("/nonexistent/hivebt-magnet-test"),
        paused,
        caps: TorrentCaps::default(),
        save_torrent: None,
    }
}

#[test]
fn a_magnet_fetches_until_paused_and_is_never_complete_rechecked_or_deleted() {
    let mut e = engine(Vec::new());
    let now = Instant::now();
    let id = e.add_magnet(magnet_spec(1, "later", false), now).unwrap();
    let v = e.torrent(id).unwrap();
    assert_eq!(v.state, TorrentState::FetchingMetadata);
    assert_eq!((v.name.as_str(), v.total_bytes, v.pieces), ("later", 0, 0));
    assert!(!v.is_complete(), "no size yet is not complete");
    assert!(matches!(
        e.add_magnet(magnet_spec(1, "again", false), now),
        Err(AddError::Duplicate(d)) if d == id
    ));
    assert!(!e.recheck(id, now), "nothing to check before the metadata");
    assert!(e.pause(id, now));
    assert_eq!(e.torrent(id).unwrap().state, TorrentState::Paused);
    assert!(e.resume(id, now));
    assert_eq!(
        e.torrent(id).unwrap().state,
        TorrentState::FetchingMetadata,
        "a resumed magnet goes back to fetching"
    );
    // Its placeholder's file is not its own: nothing to delete.
    assert!(e.remove(id).is_none());
    assert!(e.find(&InfoHash([1; 20])).is_none());

    // Added paused, it waits for a resume.
    let id = e.add_magnet(magnet_spec(2, "waits", true), now).unwrap();
    assert_eq!(e.torrent(id).unwrap().state, TorrentState::Paused);
    assert!(e.resume(id, now));
    assert_eq!(e.torrent(id).unwrap().state, TorrentState::FetchingMetadata);
}
