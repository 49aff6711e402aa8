//! Hostile peers against a running hivebt: malformed handshakes and frames, requests
//! out of range or past the queue limit, bad bitfields, unknown messages, a peer that
//! sends corrupt data and one that never answers.
//!
//! The peers are scripted here with std sockets and hivebt's own codec. Each seeder test
//! checks how hivebt treats the one bad connection (closed, rejected or ignored, and
//! for what reason, from its debug log), then that a well-behaved client still gets
//! correct blocks, then that the seeder stops cleanly. Every socket read has a timeout
//! and every child process is killed when its guard drops.

mod common;
mod swarm;

use std::time::{Duration, Instant};

use hivebt::types::{BlockRef, PieceIndex};
use hivebt::wire::peer::{self, Message};

use swarm::{
    BLOCK, Download, End, FakeSeeder, Fixture, Got, Hivebt, READ_TIMEOUT, Script, WAIT, Wire,
    assert_no_panic, check_still_serving,
};

const KIB: u32 = 1024;

/// Waits for the seeder's debug log to name why it closed the connection from `w`.
fn expect_close_reason(seeder: &Hivebt, w: &Wire, reason: &str) {
    seeder.expect_stderr(
        &format!("closed {} ({reason})", w.local_addr()),
        READ_TIMEOUT,
    );
}

/// Fails if any message in `seen` carries the block `b` (as data or as a reject).
fn assert_not_answered(seen: &[Got], b: BlockRef, why: &str) {
    for m in seen {
        if matches!(m, Got::Piece(r, _) | Got::Reject(r) if *r == b) {
            panic!(
                "{why}: hivebt answered the bad request with {} before closing",
                swarm::brief(std::slice::from_ref(m))
            );
        }
    }
}

#[test]
fn bad_handshakes_are_closed_without_a_reply() {
    let fx = Fixture::new("hs", 300 * KIB as usize, 64 * KIB, 1);
    let mut seeder = fx.logging_seeder(&[]);
    let addr = seeder.addr.expect("address");

    // Another torrent's info-hash: no handshake back, just a close.
    let mut other = fx.info_hash;
    other.0[0] ^= 0xff;
    let mut w = Wire::connect(addr);
    w.send_handshake(other, true);
    match w.read_handshake() {
        Err(End::Closed) => {}
        Ok(hs) => panic!("hivebt answered a handshake for an unknown torrent: {hs:?}"),
        Err(End::TimedOut) => panic!("hivebt kept a connection for an unknown torrent open"),
    }
    expect_close_reason(&seeder, &w, "unknown_info_hash");

    // A protocol string that is not BitTorrent's: refused at the first wrong byte.
    let mut w = Wire::connect(addr);
    let mut hs = peer::Handshake::new(fx.info_hash, swarm::test_peer_id()).encode();
    hs[5] ^= 0x20;
    w.send_raw(&hs);
    assert_eq!(w.read_handshake().err(), Some(End::Closed));
    expect_close_reason(&seeder, &w, "bad_handshake");

    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn oversized_length_prefix_is_closed() {
    let fx = Fixture::new("frame", 300 * KIB as usize, 64 * KIB, 2);
    let mut seeder = fx.logging_seeder(&[]);

    for (fast, prefix) in [(true, 0x7fff_ffffu32), (false, u32::MAX), (true, 1 << 20)] {
        let mut w = Wire::open(&seeder, fx.info_hash, fast);
        let mut frame = prefix.to_be_bytes().to_vec();
        frame.extend_from_slice(&[peer::id::PIECE, 0, 0, 0, 0]);
        w.send_raw(&frame);
        w.expect_closed(&format!("length prefix {prefix:#x}"));
        expect_close_reason(&seeder, &w, "protocol_violation");
    }
    // A known id with the wrong fixed length (a 14-byte request) is refused too.
    let mut w = Wire::open(&seeder, fx.info_hash, true);
    let mut long_request = vec![0, 0, 0, 14, peer::id::REQUEST];
    long_request.extend_from_slice(&[0; 13]);
    w.send_raw(&long_request);
    w.expect_closed("a request frame one byte too long");
    expect_close_reason(&seeder, &w, "protocol_violation");

    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn out_of_range_requests_are_closed() {
    // 4 pieces of 64 KiB and a short fifth one of 10,000 bytes.
    let fx = Fixture::new("req", 4 * 64 * KIB as usize + 10_000, 64 * KIB, 3);
    assert_eq!(fx.pieces, 5);
    let mut seeder = fx.logging_seeder(&[]);
    let bad = [
        (
            "past the end of a piece",
            fx.block(1, 64 * KIB - BLOCK + 1, BLOCK),
        ),
        ("offset past the piece", fx.block(1, 64 * KIB, 1)),
        (
            "past the end of the short last piece",
            fx.block(4, 0, BLOCK),
        ),
        ("a piece index past the end", fx.block(5, 0, BLOCK)),
        ("piece index u32::MAX", fx.block(u32::MAX, 0, BLOCK)),
        ("a 32 KiB block", fx.block(0, 0, 2 * BLOCK)),
        ("a zero-length block", fx.block(0, 0, 0)),
        ("offset + len overflowing u32", fx.block(0, u32::MAX, BLOCK)),
    ];
    for fast in [true, false] {
        for (why, b) in bad {
            let why = format!("{why} (fast extension {fast})");
            let mut w = Wire::open(&seeder, fx.info_hash, fast);
            w.get_unchoked();
            // A good block first, so the bad one is the only thing wrong.
            let good = fx.block(0, BLOCK, BLOCK);
            assert!(w.fetch(good) == fx.data_of(good), "{why}: wrong data");
            w.send(&Message::Request(b));
            let seen = w.expect_closed(&why);
            assert_not_answered(&seen, b, &why);
            expect_close_reason(&seeder, &w, "bad_request");
        }
    }
    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn requests_while_choked_are_rejected_or_dropped() {
    let fx = Fixture::new("choked", 300 * KIB as usize, 64 * KIB, 4);
    let mut seeder = fx.logging_seeder(&[]);
    let b = fx.block(0, 0, BLOCK);

    // BEP 6: a request we will not serve is answered with a reject.
    let mut w = Wire::open(&seeder, fx.info_hash, true);
    w.send(&Message::Request(b));
    let got = w.recv_until("a reject", |m| {
        matches!(m, Got::Reject(_) | Got::Piece(..) | Got::Unchoke)
    });
    assert_eq!(
        got,
        Got::Reject(b),
        "a request while choked, with the fast bit"
    );
    // The connection is still usable.
    w.get_unchoked();
    assert!(w.fetch(b) == fx.data_of(b));

    // BEP 3: without the fast extension it is dropped silently, nothing more.
    let mut w = Wire::open(&seeder, fx.info_hash, false);
    w.send(&Message::Request(b));
    w.get_unchoked();
    let b2 = fx.block(1, 0, BLOCK);
    w.send(&Message::Request(b2));
    let got = w.recv_until("a block", |m| matches!(m, Got::Piece(..)));
    assert!(
        matches!(&got, Got::Piece(r, d) if *r == b2 && d.as_slice() == fx.data_of(b2)),
        "the request sent while choked must have been dropped, got {}",
        swarm::brief(std::slice::from_ref(&got))
    );

    check_still_serving(&seeder, &fx);
    seeder.stop();
}

/// Answers seen by a flooding client.
#[derive(Debug, Default)]
struct Answers {
    answered: std::collections::HashSet<BlockRef>,
    served: usize,
    rejected: usize,
}

impl Answers {
    /// Reads one message and counts it; `Err` when the connection ends or goes quiet.
    fn read_one(&mut self, w: &mut Wire, fx: &Fixture) -> Result<(), End> {
        match w.recv()? {
            Got::Piece(b, data) => {
                assert!(data == fx.data_of(b), "wrong bytes for {b:?}");
                assert!(self.answered.insert(b), "{b:?} answered twice");
                self.served += 1;
            }
            Got::Reject(b) => {
                assert!(self.answered.insert(b), "{b:?} answered twice");
                self.rejected += 1;
            }
            _ => {}
        }
        Ok(())
    }
}

#[test]
fn more_than_500_queued_requests_are_rejected_or_closed() {
    // 1,024 blocks: 16 MiB in pieces of 256 KiB. The seeder uploads 4 blocks a second,
    // so requests stay queued and the 500 limit is reached whatever the timing.
    let fx = Fixture::new("flood", 16 << 20, 256 * KIB, 5);
    let mut seeder = fx.logging_seeder(&["--max-upload-rate", "64K"]);
    let blocks = fx.all_blocks();
    let flood: Vec<Message<'_>> = blocks[..1000]
        .iter()
        .map(|&b| Message::Request(b))
        .collect();

    // With the fast extension, requests past the 500 queued are rejected at once
    // (BEP 6) and the connection stays.
    let mut w = Wire::open(&seeder, fx.info_hash, true);
    w.get_unchoked();
    w.send_all(&flood);
    let mut got = Answers::default();
    while got.answered.len() < 500 {
        if let Err(e) = got.read_one(&mut w, &fx) {
            panic!(
                "1000 requests at once with the fast extension: {e:?} after {} served and {} \
                 rejected; want everything past 500 queued rejected",
                got.served, got.rejected
            );
        }
    }
    let (served_first, rejected_first) = (got.served, got.rejected);
    // Cancel everything: each request still queued comes back as a reject (BEP 6).
    let cancels: Vec<Message<'_>> = blocks[..1000].iter().map(|&b| Message::Cancel(b)).collect();
    w.send_all(&cancels);
    while got.answered.len() < 1000 {
        if let Err(e) = got.read_one(&mut w, &fx) {
            panic!(
                "after cancelling all 1000 requests: {e:?} with {} still unanswered \
                 ({} served, {} rejected)",
                1000 - got.answered.len(),
                got.served,
                got.rejected
            );
        }
    }
    let queued = got.rejected - rejected_first + (got.served - served_first);
    eprintln!(
        "flood with the fast extension: {rejected_first} rejected on arrival, \
         {served_first} served before the cancels, {queued} still queued then"
    );
    assert!(rejected_first > 0, "no request over the limit was rejected");
    assert!(
        queued <= 500,
        "{queued} requests were queued at once, over the limit of 500"
    );
    let b = fx.block(63, 0, BLOCK);
    assert!(w.fetch(b) == fx.data_of(b), "usable after the flood");
    w.close();

    // Without it there is no way to refuse one request: the connection is closed.
    let mut w = Wire::open(&seeder, fx.info_hash, false);
    w.get_unchoked();
    w.send_all(&flood);
    let mut got = Answers::default();
    let end = loop {
        if let Err(e) = got.read_one(&mut w, &fx) {
            break e;
        }
    };
    eprintln!("flood without it: {} served, then {end:?}", got.served);
    assert_eq!(
        got.rejected, 0,
        "rejects sent to a peer without the fast extension"
    );
    assert_eq!(
        end,
        End::Closed,
        "1000 requests without the fast extension: {} served and the connection kept",
        got.served
    );
    expect_close_reason(&seeder, &w, "bad_request");

    check_still_serving(&seeder, &fx);
    seeder.stop();
}

/// A request storm: 200 rounds of 500 requests and their 500 cancels (200,000
/// messages) at a seeder that uploads slowly, so the queue stays full. Every request
/// gets exactly one answer (the block, or a reject for the cancelled or the refused),
/// the connection stays, and the seeder's CPU time per message is printed.
#[test]
fn a_request_storm_is_answered_once_per_request_and_stays_cheap() {
    const ROUNDS: usize = 200;
    let fx = Fixture::new("storm", 16 << 20, 256 * KIB, 9);
    let mut seeder = fx.seeder(&["--max-upload-rate", "64K"]);
    let blocks = fx.all_blocks();
    let mut storm: Vec<Message<'_>> = blocks[..500].iter().map(|&b| Message::Request(b)).collect();
    storm.extend(blocks[..500].iter().map(|&b| Message::Cancel(b)));
    let mut w = Wire::open(&seeder, fx.info_hash, true);
    w.get_unchoked();
    let cpu_before = swarm::cpu_ms(seeder.pid());
    let rss_before = swarm::rss_kib(seeder.pid());
    let started = Instant::now();
    let (mut served, mut rejected) = (0, 0);
    for round in 0..ROUNDS {
        w.send_all(&storm);
        let mut got = Answers::default();
        while got.answered.len() < 500 {
            if let Err(e) = got.read_one(&mut w, &fx) {
                panic!(
                    "round {round}: {e:?} after {} of 500 requests answered",
                    got.answered.len()
                );
            }
        }
        served += got.served;
        rejected += got.rejected;
    }
    let took = started.elapsed();
    let cpu = swarm::cpu_ms(seeder.pid()) - cpu_before;
    let rss = swarm::rss_kib(seeder.pid());
    let messages = ROUNDS * 1000;
    eprintln!(
        "storm: {messages} messages in {took:?} ({served} served, {rejected} rejected); \
         seeder CPU {cpu} ms ({:.2} us per message), RSS {rss_before} -> {rss} KiB",
        cpu as f64 * 1000.0 / messages as f64
    );
    assert!(
        rss < rss_before + 16 * 1024,
        "the storm grew the seeder from {rss_before} to {rss} KiB"
    );
    let b = fx.block(63, 0, BLOCK);
    assert!(w.fetch(b) == fx.data_of(b), "usable after the storm");
    w.close();
    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn bad_bitfields_and_haves_to_a_seeder_are_closed() {
    // 21 pieces: a 3-byte bitfield whose last byte has 3 spare bits.
    let fx = Fixture::new("bits", 20 * 16 * KIB as usize + 100, 16 * KIB, 6);
    assert_eq!(fx.pieces, 21);
    let mut seeder = fx.logging_seeder(&[]);

    let cases: [(&str, Vec<Message<'static>>); 6] = [
        (
            "a bitfield one byte short",
            vec![Message::Bitfield(&[0, 0])],
        ),
        (
            "a bitfield one byte long",
            vec![Message::Bitfield(&[0, 0, 0, 0])],
        ),
        (
            "a bitfield with a spare bit set",
            vec![Message::Bitfield(&[0, 0, 0x01])],
        ),
        (
            "a second bitfield that takes a piece away",
            vec![
                Message::Bitfield(&[0x80, 0, 0]),
                Message::Bitfield(&[0, 0, 0]),
            ],
        ),
        (
            "a have past the last piece",
            vec![Message::Have(PieceIndex(21))],
        ),
        (
            "have_all without the fast extension",
            vec![Message::HaveAll],
        ),
    ];
    for (why, msgs) in cases {
        let fast = !matches!(msgs[0], Message::HaveAll);
        let mut w = Wire::open(&seeder, fx.info_hash, fast);
        w.send_all(&msgs);
        w.expect_closed(why);
        expect_close_reason(&seeder, &w, "protocol_violation");
    }

    // The control: a right-sized bitfield is accepted and the peer is served.
    let mut w = Wire::open(&seeder, fx.info_hash, true);
    w.send(&Message::Bitfield(&[0x80, 0, 0x08]));
    w.get_unchoked();
    let b = fx.block(20, 0, 100);
    assert!(w.fetch(b) == fx.data_of(b));

    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn unknown_message_ids_are_skipped() {
    let fx = Fixture::new("unknown", 300 * KIB as usize, 64 * KIB, 7);
    let mut seeder = fx.logging_seeder(&[]);

    let mut w = Wire::open(&seeder, fx.info_hash, true);
    w.get_unchoked();
    // Unknown ids with no payload, a short one and a block-sized one, then keep-alive,
    // port, suggest and allowed-fast, which a seeder has no use for.
    w.send_all(&[
        Message::Unknown { id: 99, len: 1 },
        Message::Unknown { id: 21, len: 11 },
        Message::Unknown {
            id: 255,
            len: 1 + BLOCK,
        },
        Message::KeepAlive,
        Message::Port(6881),
        Message::Suggest(PieceIndex(1)),
        Message::AllowedFast(PieceIndex(2)),
    ]);
    for b in [
        fx.block(2, 3 * 1000, 1000),
        fx.block(4, 2 * BLOCK, 300 * KIB - 4 * 64 * KIB - 2 * BLOCK),
    ] {
        assert!(
            w.fetch(b) == fx.data_of(b),
            "wrong bytes for {b:?} after unknown messages"
        );
    }
    // It was still open when we closed it.
    let local = w.local_addr();
    w.close();
    seeder.expect_stderr(&format!("closed {local} (peer_closed)"), READ_TIMEOUT);
    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn bad_bitfields_to_a_downloader_are_closed() {
    // 21 pieces, as above.
    let fx = Fixture::new("dlbits", 20 * 16 * KIB as usize + 100, 16 * KIB, 8);
    // Slow enough that the download is still running when the fakes are judged.
    let mut good = fx.seeder(&["--max-upload-rate", "128K"]);
    let spare = FakeSeeder::start(
        "127.0.0.1",
        fx.info_hash,
        fx.pieces,
        Script::RawBitfield(frame(&Message::Bitfield(&[0xff, 0xff, 0xff]))),
    );
    let short = FakeSeeder::start(
        "127.0.0.1",
        fx.info_hash,
        fx.pieces,
        Script::RawBitfield(frame(&Message::Bitfield(&[0xff, 0xff]))),
    );
    let dl = Download::new(&fx, "dl");
    let peers = [
        good.peer_arg(),
        spare.addr.to_string(),
        short.addr.to_string(),
    ];
    let mut down = dl.start(
        &fx,
        &peers,
        &[],
        &[("RUST_LOG", "hivebt::engine=debug,hivebt::reactor=debug")],
    );
    for (why, fake) in [("spare bits set", &spare), ("one byte short", &short)] {
        // Its debug log names the fake by the address it connected to.
        down.expect_stderr(&format!("closed {} (protocol_violation)", fake.addr), WAIT);
        assert!(
            fake.wait_for(READ_TIMEOUT, |s| s.closed_by_peer >= 1),
            "the fake seeder whose bitfield has {why} never saw the close: {:?}",
            fake.seen()
        );
        assert_eq!(
            fake.seen().requests,
            0,
            "requests sent to a peer with {why}"
        );
    }
    assert!(
        down.running(),
        "the download ended before the bad bitfields were judged"
    );
    let st = down.wait_exit(WAIT);
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(0), "download failed: {err}");
    fx.assert_identical(&fx.downloaded(&dl.out));
    good.stop();
}

fn frame(m: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    peer::encode(m, &mut out);
    out
}

#[test]
fn corrupt_peer_is_banned_and_the_download_completes() {
    corrupt_seeder_case("corrupt", 9, "127.0.0.2", |_| Script::Corrupt);
}

/// Seen before endpoint bans: the corrupt seeder's strikes banned its address, which
/// closed the honest seeder beside it, and the download sat at 81 % with no peers.
#[test]
fn a_ban_spares_an_honest_seeder_on_the_same_address() {
    corrupt_seeder_case("corrupt-same-ip", 11, "127.0.0.1", |_| Script::Corrupt);
}

/// Pieces mixing the two seeders' blocks fail with two sources: smart ban must find
/// the endpoint whose blocks differ from the good copy.
#[test]
fn smart_ban_picks_the_endpoint_that_sent_the_bad_block() {
    corrupt_seeder_case("corrupt-some", 12, "127.0.0.1", |fx| {
        Script::CorruptFirstBlock {
            content: std::sync::Arc::new(fx.bytes.clone()),
            piece_len: fx.piece_len,
        }
    });
}

/// A download from an honest hivebt seeder and a scripted corrupt one on `corrupt_ip`:
/// the corrupt endpoint (and only it) is banned and never dialled again, and the
/// download completes with identical content.
fn corrupt_seeder_case(tag: &str, seed: u64, corrupt_ip: &str, script: fn(&Fixture) -> Script) {
    // 64 pieces of 64 KiB (4 blocks each).
    let fx = Fixture::new(tag, 4 << 20, 64 * KIB, seed);
    // About a second at full speed, so the corrupt peer surely gets its share.
    let mut good = fx.seeder(&["--max-upload-rate", "4M"]);
    let corrupt = FakeSeeder::start(corrupt_ip, fx.info_hash, fx.pieces, script(&fx));
    let dl = Download::new(&fx, "dl");
    let started = Instant::now();
    let mut down = dl.start(&fx, &[good.peer_arg(), corrupt.addr.to_string()], &[], &[]);
    down.expect_stderr(
        &format!(
            "banning {}: sent data that failed hash checks",
            corrupt.addr
        ),
        WAIT,
    );
    let banned_after = started.elapsed();
    // From now on the corrupt peer's endpoint must not be connected to again.
    corrupt.mark();
    // Waited for by hand: a download that never ends is one more finding to report.
    let deadline = Instant::now() + WAIT;
    while down.running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = !down.running();
    let took = started.elapsed();
    let seen = corrupt.seen();
    // Collected, so one run reports every way the ban went wrong.
    let mut wrong = Vec::new();
    if finished {
        let st = down.wait_exit(WAIT);
        let err = down.stderr();
        assert_no_panic("downloader", &err);
        assert_eq!(st.code(), Some(0), "download failed:\n{err}");
        fx.assert_identical(&fx.downloaded(&dl.out));
        let summary = down.summary(&fx.info_hash);
        assert!(summary.complete, "{}", summary.line);
        assert!(summary.hash_failures > 0, "{}", summary.line);
        eprintln!(
            "corrupt peer: banned after {banned_after:?}, done in {took:?}; {}; corrupt \
             peer saw {seen:?}",
            summary.line
        );
    } else {
        wrong.push(format!("the download did not complete within {WAIT:?}"));
    }
    let err = down.stderr();
    let good_addr = good.peer_arg();
    if err.contains(&format!("banning {good_addr}")) {
        wrong.push(format!(
            "the good seeder ({good_addr}), which sent only correct data, was banned"
        ));
    }
    if err.contains("banning address") {
        wrong.push("a whole address was banned for one corrupt endpoint".into());
    }
    if seen.connections_after_mark > 0 {
        wrong.push(format!(
            "the downloader connected {} more times to the banned corrupt peer",
            seen.connections_after_mark
        ));
    }
    assert!(
        wrong.is_empty(),
        "{}\ncorrupt peer saw {seen:?}\ndownloader stderr:\n{err}",
        wrong.join("\n")
    );
    good.stop();
}

#[test]
fn stalling_peer_does_not_hold_the_download() {
    let fx = Fixture::new("stall", 4 << 20, 64 * KIB, 10);
    // Two seconds, so the staller is surely asked for blocks before the end.
    let mut good = fx.seeder(&["--max-upload-rate", "2M"]);
    let staller = FakeSeeder::start("127.0.0.2", fx.info_hash, fx.pieces, Script::Stall);
    let dl = Download::new(&fx, "dl");
    let started = Instant::now();
    let mut down = dl.start(&fx, &[good.peer_arg(), staller.addr.to_string()], &[], &[]);
    // The request timeout is 30 s; allow for it twice over.
    let st = down.wait_exit(Duration::from_secs(90));
    let took = started.elapsed();
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(0), "download failed:\n{err}");
    fx.assert_identical(&fx.downloaded(&dl.out));
    let seen = staller.seen();
    assert!(
        seen.requests > 0,
        "the staller was never asked for anything, so this test proved nothing: {seen:?}"
    );
    eprintln!("stalling peer: done in {took:?}; the staller saw {seen:?}");
    // Endgame asks a good peer for the stalled blocks as soon as nothing else is left,
    // so the stall must not cost the 30 s request timeout; and the staller is told.
    assert!(
        took < Duration::from_secs(25),
        "a stalling peer held the download for {took:?}"
    );
    assert!(
        seen.cancels > 0,
        "no cancel sent to the staller for the blocks that came from elsewhere: {seen:?}"
    );
    good.stop();
}

/// With every peer gone, the progress line and the summary say why, and `--timeout`
/// ends the download with exit 1 instead of waiting for ever.
#[test]
fn a_stalled_download_says_why_and_gives_up_after_its_timeout() {
    let fx = Fixture::new("stalled", 1 << 20, 64 * KIB, 13);
    // A port nobody listens on: connecting is refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    // The only other peer corrupts everything, so it is banned.
    let corrupt = FakeSeeder::start("127.0.0.1", fx.info_hash, fx.pieces, Script::Corrupt);
    let dl = Download::new(&fx, "dl");
    let started = Instant::now();
    let mut down = dl.start(
        &fx,
        &[dead.to_string(), corrupt.addr.to_string()],
        &["--timeout", "4"],
        &[],
    );
    let st = down.wait_exit(WAIT);
    let took = started.elapsed();
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(1), "{err}");
    let why = "no peers (2 known: 1 banned, 1 refused; no trackers)";
    assert!(
        err.contains(&format!(
            "no progress for 4 s: {why}; giving up (--timeout)"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("stalled: {why}")), "summary: {err}");
    assert!(err.contains("incomplete"), "{err}");
    assert!(took >= Duration::from_secs(4), "gave up after {took:?}");
}

#[test]
fn download_rejects_a_zero_timeout() {
    let fx = Fixture::new("timeout0", 64 * 1024, 16 * KIB, 14);
    let dl = Download::new(&fx, "dl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hivebt"))
        .args([
            "download",
            "--no-dht",
            "--no-lsd",
            swarm::s(&fx.torrent),
            "--out",
            swarm::s(&dl.out),
        ])
        .args(["--timeout", "0", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn hivebt");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--timeout must be at least 1 second"), "{err}");
}

/// A data file cut short under a running seeder: the pieces it lost are no longer
/// offered (requests for them rejected), each is reported once, and the rest is still
/// served to the same connection.
#[test]
fn a_seeder_whose_file_is_truncated_serves_what_is_left() {
    // 32 pieces of 64 KiB; the second half is cut off once the seeder runs.
    let fx = Fixture::new("truncated-seed", 2 << 20, 64 * KIB, 15);
    let mut seeder = fx.logging_seeder(&[]);
    let file = fx.data.join(&fx.name);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(1 << 20))
        .expect("truncate the seeded file");
    let dl = Download::new(&fx, "dl");
    let mut down = dl.start(&fx, &[seeder.peer_arg()], &["--timeout", "4"], &[]);
    let st = down.wait_exit(WAIT);
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(1), "the download cannot complete: {err}");
    assert_eq!(
        swarm::verified_pieces(&fx, &dl.out),
        16,
        "the first half is still served: {err}\nseeder:\n{}",
        seeder.stderr()
    );
    assert!(err.contains("giving up (--timeout)"), "{err}");
    let seeder_err = seeder.stderr();
    for piece in 16..32 {
        let warning = format!("cannot read piece {piece} for upload");
        assert!(
            seeder_err.matches(&warning).count() <= 1,
            "piece {piece} reported more than once:\n{seeder_err}"
        );
    }
    assert!(
        seeder_err.contains("no longer offering it"),
        "no warning for the lost pieces:\n{seeder_err}"
    );
    assert!(seeder.running(), "the seeder stopped:\n{seeder_err}");
    seeder.stop();
}

/// A peer that asks for 500 blocks and never reads its socket: the seeder's queue for
/// it stops at the per-connection high-water mark (memory stays flat), and an honest
/// download beside it completes, in both upload modes.
#[test]
fn a_peer_that_never_reads_costs_only_itself() {
    let fx = Fixture::new("nonreader", 16 << 20, 256 * KIB, 16);
    for mode in ["sendfile", "buffered"] {
        let mut seeder = fx.seeder(&["--upload-mode", mode]);
        let before = swarm::rss_kib(seeder.pid());
        let mut w = Wire::open(&seeder, fx.info_hash, true);
        w.get_unchoked();
        let requests: Vec<Message<'_>> = fx.all_blocks()[..500]
            .iter()
            .map(|&b| Message::Request(b))
            .collect();
        w.send_all(&requests);
        std::thread::sleep(Duration::from_secs(1));
        let stuck = swarm::rss_kib(seeder.pid());
        let dl = Download::new(&fx, &format!("dl-{mode}"));
        let started = Instant::now();
        let mut down = dl.start(&fx, &[seeder.peer_arg()], &[], &[]);
        let st = down.wait_exit(WAIT);
        let err = down.stderr();
        assert_no_panic("downloader", &err);
        assert_eq!(st.code(), Some(0), "{mode}: {err}");
        fx.assert_identical(&fx.downloaded(&dl.out));
        let after = swarm::rss_kib(seeder.pid());
        eprintln!(
            "{mode}: seeder RSS {before} KiB, {stuck} KiB with the non-reader's 500 \
             requests, {after} KiB after a 16 MiB download beside it in {:?}",
            started.elapsed()
        );
        // 500 blocks are 8 MiB: less than that may be held for the stuck peer. Its
        // send queue stops at the 256 KiB high-water mark; buffered mode also holds
        // the pieces read for it in the piece cache, about 6 MiB measured.
        assert!(
            stuck < before + 7 * 1024,
            "{mode}: the non-reader grew the seeder from {before} to {stuck} KiB"
        );
        drop(w);
        seeder.stop();
    }
}
