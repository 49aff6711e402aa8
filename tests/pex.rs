//! Peer exchange (BEP 11) against a running hivebt seed: two libtorrent peers that
//! only know the seed meet through its `ut_pex` messages; scripted peers that send
//! messages too often, too long, with too many peers or undecodable cost only
//! themselves; and a private torrent (BEP 27), or any torrent under `--no-pex`, offers
//! no `ut_pex` and ignores one.
//!
//! Whether hivebt dialled a peer it was told of is seen by a listener of the test at
//! that address ([`Bait`]); everything is on loopback, no tracker, no DHT.

mod common;
mod swarm;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use hivebt::types::InfoHash;
use hivebt::wire::ext::ExtHandshake;
use hivebt::wire::metainfo::Metainfo;
use hivebt::wire::peer::Message;
use hivebt::wire::pex::{MAX_PAYLOAD, MAX_PEERS, PexFlags, PexMessage};

use common::daemon::Daemon;
use common::proc::{Deadline, Proc, Stream};
use common::{MIB, require_libtorrent};
use swarm::{BLOCK, Fixture, Hivebt, READ_TIMEOUT, WAIT, Wire, check_still_serving, s};

const KIB: usize = 1024;

/// The libtorrent script of the interop test.
const LT_PEX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lt_pex.py");

/// How long a peer hivebt should not dial is watched (it dials learned peers within
/// a second: up to `dials_per_second` on each tick).
const QUIET: Duration = Duration::from_secs(3);

/// A listener standing for a peer hivebt may be told of.
struct Bait(TcpListener);

impl Bait {
    fn new() -> Bait {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
        l.set_nonblocking(true).expect("non-blocking listener");
        Bait(l)
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().expect("listener address")
    }

    /// Whether hivebt connects to it within `limit`.
    fn dialled_within(&self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            match self.0.accept() {
                Ok(_) => return true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("accept on {}: {e}", self.addr()),
            }
        }
        false
    }
}

/// Connects to `seeder` for `info_hash` with the extension protocol, reads its
/// extension handshake and answers with ours (offering `ut_pex` under id 1).
fn open_pex(seeder: &Hivebt, info_hash: InfoHash) -> (Wire, ExtHandshake) {
    exchange_ext_handshakes(Wire::open_extended(seeder, info_hash))
}

/// Reads hivebt's extension handshake on `w` and answers with ours.
fn exchange_ext_handshakes(mut w: Wire) -> (Wire, ExtHandshake) {
    let (id, payload) = w.recv_extended("hivebt's extension handshake");
    assert_eq!(id, 0, "hivebt's first extended message is its handshake");
    let theirs = ExtHandshake::decode(&payload)
        .unwrap_or_else(|e| panic!("hivebt's extension handshake: {e}"));
    let ours = ExtHandshake {
        m: [("ut_pex".to_string(), 1)].into(),
        ..ExtHandshake::default()
    };
    w.send(&Message::Extended {
        id: 0,
        payload: &ours.encode(),
    });
    (w, theirs)
}

/// A `ut_pex` message adding `addrs` (no flags), encoded.
fn adding(addrs: &[SocketAddr]) -> Vec<u8> {
    PexMessage {
        added: addrs.iter().map(|&a| (a, PexFlags::default())).collect(),
        dropped: Vec::new(),
    }
    .encode()
}

/// A `ut_pex` message adding every IPv4 address of `addrs` under `added` (no flags),
/// however many: built by hand, since the encoder keeps to [`MAX_PEERS`].
fn adding_past_bounds(addrs: &[SocketAddr]) -> Vec<u8> {
    let mut added = Vec::new();
    hivebt::wire::compact::encode(addrs, false, &mut added);
    let mut dict = hivebt::wire::bencode::DictBuilder::new();
    dict.bytes(b"added", &added);
    dict.finish()
}

/// Fails unless `w` (unchoked) gets the first block right.
fn still_served(w: &mut Wire, fx: &Fixture, who: &str) {
    let b = fx.block(0, 0, BLOCK);
    assert!(w.fetch(b) == fx.data_of(b), "{who}: wrong bytes");
}

#[test]
fn libtorrent_peers_meet_through_hivebt_pex() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    // Slow enough that neither leecher finishes (and stops caring) before they meet.
    let fx = Fixture::new("pex-lt", 4 * MIB, 64 * KIB as u32, 11);
    let mut seeder = fx.seeder(&["--max-upload-rate", "64K"]);
    let (dir_a, dir_b) = (fx.dir("lt-a"), fx.dir("lt-b"));
    let mut lt = Proc::spawn(
        "libtorrent A and B",
        Command::new(&py)
            .arg(LT_PEX)
            .arg(&fx.torrent)
            .arg(&dir_a)
            .arg(&dir_b)
            .arg(seeder.peer_arg()),
    );
    let a = lt.wait_addr("A listening on ", Deadline::after(WAIT));
    let b = lt.wait_addr("B listening on ", Deadline::after(WAIT));
    let met = lt.wait_for(
        Stream::Stdout,
        "a 'dialled' line",
        Deadline::after(WAIT),
        |l| l.contains(" dialled "),
    );
    // One dialled the other at its listen port (hivebt advertised that, not the port
    // its connection to hivebt came from), having heard of it by peer exchange.
    assert!(
        met == format!("A dialled B at {b} source pex")
            || met == format!("B dialled A at {a} source pex"),
        "how A ({a}) and B ({b}) met: {met}; libtorrent's log:\n{}",
        lt.report()
    );
    let done = lt.wait(Deadline::after(WAIT));
    assert!(done.status.success(), "lt_pex.py: {}", done.status);
    seeder.stop();
}

#[test]
fn hostile_pex_costs_only_its_sender() {
    let fx = Fixture::new("pex-hostile", 300 * KIB, 64 * KIB as u32, 12);
    let mut seeder = fx.logging_seeder(&[]);

    // A message is used; a second one within the minute is ignored whole, and its
    // sender stays connected and served.
    let (first, second) = (Bait::new(), Bait::new());
    let (mut w, hs) = open_pex(&seeder, fx.info_hash);
    let id = hs
        .extension_id("ut_pex")
        .expect("a public torrent offers ut_pex");
    w.send(&Message::Extended {
        id,
        payload: &adding(&[first.addr()]),
    });
    w.send(&Message::Extended {
        id,
        payload: &adding(&[second.addr()]),
    });
    assert!(
        first.dialled_within(WAIT),
        "hivebt never dialled the peer a ut_pex message named; stderr:\n{}",
        seeder.stderr()
    );
    assert!(
        !second.dialled_within(QUIET),
        "hivebt used a ut_pex message that came too soon after the last"
    );
    seeder.expect_stderr("ut_pex message too soon after its last", READ_TIMEOUT);
    w.get_unchoked();
    still_served(&mut w, &fx, "a peer whose second message was ignored");

    // Past MAX_PEERS added, the rest is left out (and the cut is said).
    let (mut w2, _) = open_pex(&seeder, fx.info_hash);
    let mut many: Vec<SocketAddr> = (0..MAX_PEERS as u8)
        .map(|i| SocketAddr::from(([127, 77, 0, i + 1], 9)))
        .collect();
    many.extend((0..5u16).map(|i| SocketAddr::from(([127, 78, 0, 1], 9 + i))));
    w2.send(&Message::Extended {
        id,
        payload: &adding_past_bounds(&many),
    });
    seeder.expect_stderr(
        &format!("past {MAX_PEERS} peers per list: 5 ignored"),
        READ_TIMEOUT,
    );
    seeder.expect_stderr(&format!("ut_pex gave {MAX_PEERS} peers"), READ_TIMEOUT);

    // Undecodable and oversized messages close their sender.
    for (what, payload) in [
        ("a partial entry", b"d5:added5:abcdee".to_vec()),
        ("not bencode", b"hello".to_vec()),
        ("an oversized message", vec![b'x'; MAX_PAYLOAD + 1]),
    ] {
        let (mut bad, _) = open_pex(&seeder, fx.info_hash);
        bad.send(&Message::Extended {
            id,
            payload: &payload,
        });
        bad.expect_closed(what);
    }
    still_served(&mut w, &fx, "the first peer, after the others misbehaved");
    check_still_serving(&seeder, &fx);
    seeder.stop();
}

#[test]
fn a_private_torrent_offers_no_ut_pex_and_ignores_one() {
    let fx = Fixture::new("pex-private", 300 * KIB, 64 * KIB as u32, 13);
    let private = fx.scratch.path().join("private.torrent");
    let mut create = common::hivebt();
    create
        .arg("create")
        .arg(fx.data.join(&fx.name))
        .args(["-o", s(&private), "--no-date", "--private"])
        .args(["--piece-length", &fx.piece_len.to_string()]);
    common::proc::run_ok(
        "hivebt create --private",
        &mut create,
        Deadline::after(WAIT),
    );
    let meta = Metainfo::from_bytes(&std::fs::read(&private).expect("read torrent"))
        .expect("a torrent hivebt made");
    assert!(meta.info.private);
    let mut seeder = fx.seeder_of(&[&private, &fx.torrent]);

    let (_public, hs) = open_pex(&seeder, fx.info_hash);
    let public_id = hs
        .extension_id("ut_pex")
        .unwrap_or_else(|| panic!("the public torrent beside it offers ut_pex: {hs:?}"));
    let (mut w, hs) = open_pex(&seeder, meta.info_hash);
    assert!(
        !hs.m.contains_key("ut_pex"),
        "a private torrent's extension handshake offers ut_pex: {hs:?}"
    );
    // A ut_pex message under the id the public torrent uses goes nowhere.
    let bait = Bait::new();
    w.send(&Message::Extended {
        id: public_id,
        payload: &adding(&[bait.addr()]),
    });
    assert!(
        !bait.dialled_within(QUIET),
        "a private torrent dialled a peer named by peer exchange"
    );
    w.get_unchoked();
    still_served(&mut w, &fx, "the private torrent's peer");
    seeder.stop();
}

/// `--no-pex` offers `ut_pex` for no torrent and acts on none sent anyway.
#[test]
fn no_pex_offers_no_ut_pex_and_ignores_one() {
    let fx = Fixture::new("pex-off", 300 * KIB, 64 * KIB as u32, 14);
    let mut seeder = fx.seeder(&["--no-pex"]);
    let (mut w, hs) = open_pex(&seeder, fx.info_hash);
    assert!(
        !hs.m.contains_key("ut_pex"),
        "--no-pex still offers ut_pex: {hs:?}"
    );
    assert!(
        hs.m.contains_key("ut_metadata"),
        "metadata is still served: {hs:?}"
    );
    // A ut_pex message under an id hivebt gave no extension goes nowhere.
    let unused = (1..=u8::MAX)
        .find(|i| !hs.m.values().any(|v| v == i))
        .expect("a free id");
    let bait = Bait::new();
    w.send(&Message::Extended {
        id: unused,
        payload: &adding(&[bait.addr()]),
    });
    assert!(
        !bait.dialled_within(QUIET),
        "--no-pex dialled a peer named by peer exchange"
    );
    w.get_unchoked();
    still_served(&mut w, &fx, "the peer of a --no-pex seeder");
    seeder.stop();
}

#[test]
fn the_daemon_counts_peer_exchange_in_its_metrics() {
    let deadline = Deadline::after(WAIT);
    let fx = Fixture::new("pex-metrics", 300 * KIB, 64 * KIB as u32, 14);
    let state = fx.dir("daemon-state");
    let d = Daemon::start(&state, &fx.data, &[], deadline);
    let body = serde_json::json!({"torrent_path": fx.torrent, "save_path": fx.data});
    let added = d.send_json("POST", "/api/v1/torrents", &body);
    assert_eq!(added.status, 201, "{}", added.text());
    d.wait_state(&fx.info_hash.to_hex(), "seeding", deadline);

    let bait = Bait::new();
    let (mut w, hs) = exchange_ext_handshakes(Wire::open_extended_at(d.peer, fx.info_hash));
    let id = hs.extension_id("ut_pex").expect("the daemon offers ut_pex");
    let mut cut = vec![bait.addr()];
    cut.extend((0..MAX_PEERS as u16 + 2).map(|p| SocketAddr::from(([127, 79, 0, 1], 9 + p))));
    w.send(&Message::Extended {
        id,
        payload: &adding_past_bounds(&cut),
    });
    w.send(&Message::Extended {
        id,
        payload: &adding(&[]),
    });
    assert!(
        bait.dialled_within(WAIT),
        "the daemon never used the message"
    );
    let (mut bad, _) = exchange_ext_handshakes(Wire::open_extended_at(d.peer, fx.info_hash));
    bad.send(&Message::Extended { id, payload: b"x" });
    bad.expect_closed("an undecodable ut_pex message");
    let want = [
        "hivebt_pex_received_total 1",
        "hivebt_pex_too_soon_total 1",
        "hivebt_pex_malformed_total 1",
        "hivebt_pex_entries_cut_total 3",
        &format!("hivebt_pex_peers_learned_total {MAX_PEERS}"),
    ];
    let metrics = d.get("/metrics").text();
    for line in want {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in /metrics:\n{metrics}"
        );
    }
}
