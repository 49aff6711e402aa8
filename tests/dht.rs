//! The DHT end to end, on loopback only: every process here names its bootstrap nodes
//! (loopback addresses), so none resolves or contacts a public router.
//!
//! - a download with no tracker and no `--peer` finds its seed through the DHT;
//! - the DHT listens on the peer port over UDP, and `--no-dht` leaves it free;
//! - the daemon reports the DHT in its API and `/metrics`, saves its table in the
//!   state directory and rejoins through it after a restart;
//! - junk and floods sent to a node do not stop it serving the others;
//! - libtorrent, with its DHT on and joined only through hivebt's node, finds a hivebt
//!   seed and downloads from it; and hivebt finds a libtorrent seed that announced
//!   itself in the DHT (through a third, hivebt, node) and downloads from it;
//! - a bare magnet link (the info-hash alone) is fetched through the DHT: by hivebt
//!   from a hivebt seed and from a libtorrent seed, by libtorrent from a hivebt seed.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::daemon::Daemon;
use common::fixture::Fixture;
use common::proc::{Deadline, Proc, poll_until};
use common::{KIB, Scratch, hivebt, s};

/// A loopback UDP socket that never answers: a bootstrap node for a process that
/// must not wait on the public routers (the test keeps it open while it runs).
fn silent_node() -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr").to_string();
    (sock, addr)
}

/// `hivebt seed TORRENT` on a loopback peer port, with `dht` (DHT flags) after it.
fn seed(fx: &Fixture, tag: &str, dht: &[&str]) -> Proc {
    let state = fx.dir(&format!("{tag}-state"));
    let mut cmd = hivebt();
    cmd.args(["seed", s(&fx.torrent), "--data", s(fx.data_dir())])
        .args(["--listen", "127.0.0.1:0", "--state", s(&state), "--no-lsd"])
        .args(dht);
    Proc::spawn(tag, &mut cmd)
}

/// `hivebt seed TORRENT` with the DHT on, joining through `bootstrap`.
fn dht_seed(fx: &Fixture, bootstrap: &str, tag: &str, deadline: Deadline) -> (Proc, SocketAddr) {
    let p = seed(fx, tag, &["--dht-bootstrap", bootstrap]);
    let dht = p.wait_addr("dht on ", deadline);
    let listen = p.listen_addr(deadline);
    assert_eq!(dht, listen, "the DHT listens on the peer port over UDP");
    (p, dht)
}

/// `hivebt download TORRENT --out OUT` with no tracker and no `--peer`, joining the
/// DHT through `bootstrap`.
fn dht_download(fx: &Fixture, out: &std::path::Path, bootstrap: SocketAddr) -> Proc {
    dht_download_of(fx, s(&fx.torrent), out, bootstrap)
}

/// [`dht_download`] of `source`: `fx`'s .torrent, or a magnet link of it.
fn dht_download_of(
    fx: &Fixture,
    source: &str,
    out: &std::path::Path,
    bootstrap: SocketAddr,
) -> Proc {
    let state = fx.dir("dl-state");
    let mut cmd = hivebt();
    cmd.args(["download", source, "--out", s(out)])
        .args(["--listen", "127.0.0.1:0", "--state", s(&state), "--no-lsd"])
        .args(["--dht-bootstrap", &bootstrap.to_string()]);
    Proc::spawn("download", &mut cmd)
}

/// A magnet link of `fx` with its info-hash alone: no name, no tracker, no peer.
fn bare_magnet(fx: &Fixture) -> String {
    format!("magnet:?xt=urn:btih:{}", fx.info_hash)
}

fn fixture(tag: &str, deadline: Deadline) -> Fixture {
    // No tracker in the torrent: the DHT is the only way to find the seed.
    Fixture::single(
        tag,
        "dht-album.bin",
        1536 * KIB + 123,
        31,
        64 * KIB,
        &[],
        deadline,
    )
}

#[test]
fn a_download_with_no_tracker_and_no_peer_finds_its_seed_through_the_dht() {
    let deadline = Deadline::after(Duration::from_secs(90));
    let fx = fixture("dht-find", deadline);
    let (_silent, silent) = silent_node();
    let (mut seed, seed_dht) = dht_seed(&fx, &silent, "seed", deadline);

    // Junk and a flood from other sockets first: the node must go on serving.
    let junk = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..2000u32 {
        let datagram: &[u8] = match i % 3 {
            0 => b"not bencode at all",
            1 => b"d1:t2:aa1:y1:q1:q4:pinge",
            _ => b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        };
        let _ = junk.send_to(datagram, seed_dht);
    }

    let out = fx.dir("out");
    let mut dl = dht_download(&fx, &out, seed_dht);
    let done = dl.wait_ok(deadline);
    fx.check_copy("hivebt through the DHT", &out);
    let summary = common::summary::Summary::find("download", &done.stderr, &fx.info_hash);
    assert!(
        summary.line.contains("1 peers used"),
        "the seed was the peer: {}",
        summary.line
    );
    seed.terminate(deadline);
}

#[test]
fn the_dht_takes_the_peer_port_over_udp_and_no_dht_leaves_it_free() {
    let deadline = Deadline::after(Duration::from_secs(60));
    let fx = fixture("dht-port", deadline);
    let (_silent, silent) = silent_node();
    let (mut on, dht) = dht_seed(&fx, &silent, "dht-on", deadline);
    assert!(
        UdpSocket::bind(dht).is_err(),
        "the DHT holds udp {dht} while it runs"
    );
    on.terminate(deadline);

    let mut off = seed(&fx, "dht-off", &["--no-dht"]);
    let listen = off.listen_addr(deadline);
    assert!(
        !off.output().contains("dht on"),
        "no DHT with --no-dht:\n{}",
        off.report()
    );
    UdpSocket::bind(listen).expect("--no-dht leaves the peer port's UDP side free");
    off.terminate(deadline);
}

#[test]
fn the_daemon_reports_the_dht_saves_its_table_and_rejoins_through_it() {
    let deadline = Deadline::after(Duration::from_secs(120));
    let fx = fixture("dht-daemon", deadline);
    let (_silent, silent) = silent_node();
    let (mut seed, seed_dht) = dht_seed(&fx, &silent, "seed", deadline);
    let scratch = Scratch::new("dht-daemon-state");
    let state = scratch.path().join("state");
    let data = scratch.path().join("data");
    let bootstrap = seed_dht.to_string();
    let args = ["--dht-bootstrap", bootstrap.as_str()];
    let mut d = Daemon::start(&state, &data, &args, deadline);
    let nodes = |d: &Daemon| d.get("/api/v1/session").json()["dht"]["nodes"].as_u64();
    poll_until(
        "the daemon's DHT knows the seed's node",
        deadline,
        || common::proc::reports(&[&d.proc, &seed]),
        || (nodes(&d) >= Some(1)).then_some(()),
    );
    let metrics = d.get("/metrics").text();
    for name in [
        "hivebt_dht_nodes ",
        "hivebt_dht_lookups ",
        "hivebt_dht_queries_answered_total ",
        "hivebt_dht_malformed_total ",
    ] {
        assert!(metrics.contains(name), "/metrics has {name}:\n{metrics}");
    }
    d.proc.terminate(deadline);
    let table = std::fs::read(state.join("dht.dat")).expect("the table is saved at exit");
    assert!(
        table.windows(5).any(|w| w == b"nodes"),
        "the saved table lists nodes: {table:?}"
    );

    // Restarted with a bootstrap node that never answers, it rejoins through the
    // saved table.
    let args = ["--dht-bootstrap", silent.as_str()];
    let mut d = Daemon::start(&state, &data, &args, deadline);
    poll_until(
        "the restarted daemon rejoins through its saved table",
        deadline,
        || common::proc::reports(&[&d.proc, &seed]),
        || (nodes(&d) >= Some(1)).then_some(()),
    );
    d.proc.terminate(deadline);
    seed.terminate(deadline);
}

#[test]
fn libtorrent_finds_a_hivebt_seed_through_hivebts_dht_node() {
    let Some(py) = common::require_libtorrent() else {
        return;
    };
    let deadline = Deadline::after(Duration::from_secs(120));
    let fx = fixture("dht-lt-leech", deadline);
    let (_silent, silent) = silent_node();
    let (mut seed, seed_dht) = dht_seed(&fx, &silent, "seed", deadline);
    let out = fx.dir("lt-out");
    let mut lt = common::clients::lt_dht_download(&py, s(&fx.torrent), &out, seed_dht);
    let done = lt.wait_ok(deadline);
    fx.check_copy("libtorrent through hivebt's DHT node", &out);
    // The hivebt seed is the only other peer there is: libtorrent found it by asking
    // its node (get_peers), or the seed dialled libtorrent after libtorrent announced
    // itself there; either way through the DHT alone.
    let result = common::clients::lt_result(&done);
    assert!(
        result["peers"].as_array().is_some_and(|p| !p.is_empty()),
        "libtorrent had a peer: {result}"
    );
    assert!(
        result["downloaded"].as_u64() >= Some(fx.total_size() as u64),
        "libtorrent downloaded the whole file: {result}"
    );
    seed.terminate(deadline);
}

#[test]
fn hivebt_finds_a_libtorrent_seed_announced_in_the_dht() {
    from_a_libtorrent_seed_in_the_dht("dht-lt-seed", false);
}

#[test]
fn hivebt_fetches_a_bare_magnet_from_a_libtorrent_seed_announced_in_the_dht() {
    from_a_libtorrent_seed_in_the_dht("dht-lt-magnet-seed", true);
}

/// `hivebt download` with no tracker and no `--peer` of a torrent only libtorrent
/// seeds, announced in the DHT through a third (hivebt) node; from the .torrent, or
/// from a magnet link with the info-hash alone (`magnet`).
fn from_a_libtorrent_seed_in_the_dht(tag: &str, magnet: bool) {
    let Some(py) = common::require_libtorrent() else {
        return;
    };
    let deadline = Deadline::after(Duration::from_secs(120));
    // A hivebt node both join through: it seeds another torrent, so the only seed of
    // this one is libtorrent.
    let router_fx = fixture(&format!("{tag}-router"), deadline);
    let (_silent, silent) = silent_node();
    let (mut router, router_dht) = dht_seed(&router_fx, &silent, "router", deadline);
    let fx = Fixture::single(
        tag,
        "dht-lt.bin",
        1024 * KIB + 5,
        77,
        32 * KIB,
        &[],
        deadline,
    );
    let (mut lt, lt_addr) =
        common::clients::lt_dht_seed(&py, &fx.torrent, fx.data_dir(), router_dht, deadline);
    let out = fx.dir("out");
    let mut dl = if magnet {
        dht_download_of(&fx, &bare_magnet(&fx), &out, router_dht)
    } else {
        dht_download(&fx, &out, router_dht)
    };
    let done = dl.wait_ok(deadline);
    fx.check_copy("hivebt from libtorrent, found in the DHT", &out);
    let summary = common::summary::Summary::find("download", &done.stderr, &fx.info_hash);
    assert!(
        summary.line.contains("1 peers used"),
        "libtorrent at {lt_addr} was the peer: {}",
        summary.line
    );
    if magnet {
        assert!(
            done.stderr.contains("metadata verified; saved"),
            "{}",
            done.stderr
        );
    }
    lt.close_stdin();
    lt.wait(deadline);
    router.terminate(deadline);
}

#[test]
fn a_bare_magnet_link_is_fetched_and_downloaded_through_the_dht() {
    let deadline = Deadline::after(Duration::from_secs(90));
    let fx = fixture("dht-magnet", deadline);
    let (_silent, silent) = silent_node();
    let (mut seed, seed_dht) = dht_seed(&fx, &silent, "seed", deadline);
    let out = fx.dir("out");
    let done = dht_download_of(&fx, &bare_magnet(&fx), &out, seed_dht).wait_ok(deadline);
    fx.check_copy("hivebt from a bare magnet link, through the DHT", &out);
    assert!(
        done.stderr.contains("metadata verified; saved"),
        "{}",
        done.stderr
    );
    let state = fx.dir("dl-state");
    assert!(
        state
            .join(format!("torrents/{}.torrent", fx.info_hash))
            .is_file()
    );
    seed.terminate(deadline);
}

#[test]
fn libtorrent_fetches_a_bare_magnet_from_a_hivebt_seed_found_through_the_dht() {
    let Some(py) = common::require_libtorrent() else {
        return;
    };
    let deadline = Deadline::after(Duration::from_secs(120));
    let fx = fixture("dht-lt-magnet", deadline);
    let (_silent, silent) = silent_node();
    let (mut seed, seed_dht) = dht_seed(&fx, &silent, "seed", deadline);
    let out = fx.dir("lt-out");
    let mut lt = common::clients::lt_dht_download(&py, &bare_magnet(&fx), &out, seed_dht);
    lt.wait_ok(deadline);
    fx.check_copy("libtorrent from a bare magnet link, through the DHT", &out);
    seed.terminate(deadline);
}
