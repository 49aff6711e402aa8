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
    let hashes: Vec<u8> = (0..pieces).flat_map(|p| [p; 20]).collect();
    let mut text = format!(
        "d4:infod6:lengthi{}e4:name1:x12:piece lengthi{PIECE}e6:pieces{}:",
        u64::from(pieces) * PIECE,
        hashes.len()
    )
    .into_bytes();
    text.extend_from_slice(&hashes);
    text.extend_from_slice(b"ee");
    let meta = Metainfo::from_bytes(&text).unwrap();
    let layout = Layout::new(&meta.info, &sanitize(&meta.info));
    TorrentSpec {
        storage: Arc::new(Storage::new("/nonexistent".into(), layout)),
        meta: Arc::new(meta),
        have: None,
        require_data,
        paused: false,
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
    let mut s = spec(pieces, false);
    let mut bits = Bitfield::new(u32::from(pieces));
    for &p in have {
        bits.set(PieceIndex(p), true).unwrap();
    }
    s.have = Some(bits);
    s
}

/// A spec of a different torrent (another name, so another info-hash).
fn other_spec() -> TorrentSpec {
    let mut s = active_spec(1, &[0]);
    let text = format!(
        "d4:infod6:lengthi{PIECE}e4:name1:y12:piece lengthi{PIECE}e6:pieces20:{}ee",
        "\u{1}".repeat(20)
    );
    let meta = Metainfo::from_bytes(text.as_bytes()).unwrap();
    s.storage = Arc::new(Storage::new(
        "/nonexistent".into(),
        Layout::new(&meta.info, &sanitize(&meta.info)),
    ));
    s.meta = Arc::new(meta);
    s
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
    let c = Completion::PieceWritten {
        torrent: a,
        piece: PieceIndex(0),
        result: Ok(false),
        hashed: Duration::ZERO,
        block_hashes: None,
    };
    let timing = JobTiming {
        waited: Duration::ZERO,
        ran: Duration::ZERO,
    };
    e.on_completion(c, timing, now);
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

/// Every message `conn` queued since the last call, decoded.
fn sent(e: &mut Engine, key: usize) -> Vec<String> {
    let mut bytes = Vec::new();
    e.conns[key].send.write_to(&mut bytes).unwrap();
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    // Our handshake comes first when the peer's arrived.
    if rest.len() >= crate::wire::peer::HANDSHAKE_LEN && rest[0] == 19 {
        rest = &rest[crate::wire::peer::HANDSHAKE_LEN..];
        out.push("handshake".to_string());
    }
    while let Some((m, used)) = crate::wire::peer::decode(rest, 1 << 20).unwrap() {
        out.push(match m {
            crate::wire::peer::Message::Request(b) => format!("request {}+{}", b.piece.0, b.offset),
            other => format!("{other:?}").chars().take(12).collect(),
        });
        rest = &rest[used..];
    }
    out
}

/// Feeds `msgs` (encoded) to connection `key` as if they had just been read.
fn feed(e: &mut Engine, key: usize, bytes: &[u8]) {
    let pass = e.conns[key]
        .recv
        .read_from(&mut Arrived(bytes), 1 << 20, 1 << 21)
        .unwrap();
    e.on_input(key, pass, Instant::now());
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
    let c = Completion::PieceWritten {
        torrent,
        piece,
        result: Ok(true),
        hashed: Duration::ZERO,
        block_hashes: None,
    };
    let timing = JobTiming {
        waited: Duration::ZERO,
        ran: Duration::ZERO,
    };
    e.on_completion(c, timing, Instant::now());
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
