//! hivebt's tracker and tracker client against the reference clients, over real
//! sockets on loopback. No peer is ever given on a command line: every client finds
//! the others through a tracker.
//!
//! 1. aria2c downloads from `hivebt seed` through `hivebt tracker`, over HTTP and UDP
//!    (the seeder paced, so aria2c never sends the late BITFIELD hivebt rejects; the
//!    full-speed case is an ignored test until hivebt accepts it).
//! 2. Transmission downloads from `hivebt seed` through `hivebt tracker`, over HTTP and
//!    UDP. Transmission ignores tracker peers on 127.0.0.0/8, so it announces first
//!    and the seeder, told of it as a leecher, dials it.
//! 3. `hivebt download` finds a libtorrent or aria2c seeder through opentracker, over
//!    HTTP and UDP.
//! 4. One `hivebt tracker` serves a swarm of a hivebt seeder (rate-limited, so the
//!    leechers trade), libtorrent (staying after it finishes), aria2c and a second
//!    hivebt; `/stats` lists all four at once, all finish, and the second hivebt took
//!    pieces from more than the seeder.
//!
//! Readiness comes from the lines each program prints (`tracker http on`, `listening
//! on`, Transmission's `Serving RPC`) or, where nothing is printed, from the tracker
//! itself: a test polls a scrape until the peer that must announce first is listed.
//! Transfers end when the client exits (aria2c, libtorrent, hivebt download) or when
//! Transmission's RPC says 100 %, and the content is compared by the SHA-256 of every
//! file. Each test is bounded by [`common::proc::TEST_TIMEOUT`].
//!
//! A test prints SKIP and passes when its client is missing, unless
//! `HIVEBT_REQUIRE_INTEROP=1`. hivebt runs with `RUST_LOG=debug`; a failing test
//! prints the output of every child still alive.

mod common;
mod trackers;

use std::time::Duration;

use common::clients::{
    Opentracker, Transmission, aria2_download, aria2_seed, lt_seed, lt_staying_leecher,
};
use common::fixture::{Fixture, album_tree};
use common::proc::{Deadline, Proc, free_port_both, poll_until, reports};
use common::summary::Summary;
use common::{KIB, MIB, require_libtorrent, require_tool};
use trackers::http;
use trackers::{
    Proto, TrackerProc, accepts_announce, answered, hivebt_download, hivebt_seed, wait_swarm,
};

/// The address of `tracker`'s first listener for `proto`.
fn tracker_addr(tracker: &TrackerProc, proto: Proto) -> std::net::SocketAddr {
    match proto {
        Proto::Http => tracker.http[0],
        Proto::Udp => tracker.udp[0],
    }
}

// ---------------------------------------------------------------------------------
// 1. aria2c from hivebt seed through hivebt tracker

/// How fast aria2c downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    /// A single file of 16 KiB pieces (256 of them), the seeder at 512 KiB/s.
    Paced,
    /// The awkward directory in 32 KiB pieces, at full speed.
    FullSpeed,
}

/// aria2c sends a BITFIELD in place of a batch of HAVEs whenever that is shorter
/// (aria2 1.36, `DefaultBtInteractive::checkHave`: once 9 bytes per new piece reach
/// 5 + the bitfield's length), even after HAVE NONE; hivebt closes the connection for
/// that (`protocol_violation`) and aria2c does not come back. Paced, the seeder hands
/// aria2c fewer pieces between two checks than that (5 with 256 pieces), so the
/// tracker path is tested every run; at full speed the test is ignored until hivebt
/// accepts a late bitfield.
fn aria2_downloads_from_hivebt(proto: Proto, pace: Pace) {
    if require_tool("aria2c").is_none() {
        return;
    }
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let url = proto.url(tracker_addr(&tracker, proto));
    let tag = format!("aria2-{}-{pace:?}", proto.label()).to_lowercase();
    let (fx, seed_extra): (Fixture, &[&str]) = match pace {
        Pace::Paced => (
            {
                let len = 4 * MIB - 5000;
                let seed = len as u64 ^ 0x5eed;
                Fixture::single(&tag, "track.flac", len, seed, 16 * KIB, &[&url], deadline)
            },
            &["--max-upload-rate", "512K"],
        ),
        Pace::FullSpeed => (
            Fixture::tree(
                &tag,
                "album",
                &album_tree(32 * KIB),
                32 * KIB,
                &[&url],
                deadline,
            ),
            &[],
        ),
    };
    let mut seeder = hivebt_seed(
        "hivebt seed",
        &fx.torrent,
        fx.data_dir(),
        &fx.dir("state-seed"),
        seed_extra,
    );
    seeder.listen_addr(deadline);
    // The seeder must be listed before aria2c asks: its first answer is its only one
    // within the test.
    wait_swarm(
        tracker.http[0],
        &fx,
        "the hivebt seeder to be listed",
        deadline,
        &[&tracker.proc, &seeder],
        |c| c.complete == 1,
    );
    let out = fx.dir("aria2-out");
    let mut leecher = aria2_download(
        "aria2c",
        &fx.torrent,
        &out,
        &fx.dir("aria2"),
        proto == Proto::Udp,
    );
    leecher.wait_ok(deadline);
    fx.check_copy("aria2c", &out);

    let stats = tracker.stats();
    assert!(
        answered(&stats, proto) >= 2 && answered(&stats, proto.other()) == 0,
        "the seeder and aria2c should have announced over {proto:?} only: {stats}"
    );
    let end = seeder.terminate(deadline);
    assert!(end.status.success(), "{}", seeder.report());
    eprintln!(
        "{}",
        Summary::find("seeder", &end.stderr, &fx.info_hash).line
    );
}

#[test]
fn aria2_downloads_from_hivebt_seed_through_http_tracker() {
    aria2_downloads_from_hivebt(Proto::Http, Pace::Paced);
}

#[test]
fn aria2_downloads_from_hivebt_seed_through_udp_tracker() {
    aria2_downloads_from_hivebt(Proto::Udp, Pace::Paced);
}

#[test]
fn aria2_downloads_a_directory_from_a_full_speed_hivebt_seed() {
    aria2_downloads_from_hivebt(Proto::Http, Pace::FullSpeed);
}

// ---------------------------------------------------------------------------------
// 2. Transmission from hivebt seed through hivebt tracker

fn transmission_downloads_from_hivebt(proto: Proto) {
    if require_tool("transmission-daemon").is_none()
        || require_tool("transmission-remote").is_none()
    {
        return;
    }
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let url = proto.url(tracker_addr(&tracker, proto));
    let fx = Fixture::single(
        &format!("transmission-{}", proto.label()),
        "disk.img",
        3 * MIB + 12_345,
        (3 * MIB + 12_345) as u64 ^ 0x5eed,
        64 * KIB,
        &[&url],
        deadline,
    );
    let out = fx.dir("transmission-out");
    let mut tr = Transmission::start("transmission-daemon", &fx.dir("transmission"), deadline);
    tr.add(&fx.torrent, &out, deadline);
    wait_swarm(
        tracker.http[0],
        &fx,
        "Transmission to announce as a leecher",
        deadline,
        &[&tracker.proc, &tr.proc],
        |c| c.incomplete == 1,
    );
    let mut seeder = hivebt_seed(
        "hivebt seed",
        &fx.torrent,
        fx.data_dir(),
        &fx.dir("state-seed"),
        &[],
    );
    seeder.listen_addr(deadline);
    poll_until(
        "Transmission to finish",
        deadline,
        || {
            format!(
                "{}\n{}",
                tr.info(Deadline::start().within(Duration::from_secs(5))),
                reports(&[&tracker.proc, &seeder, &tr.proc])
            )
        },
        || (tr.percent_done(deadline) == Some(100.0)).then_some(()),
    );
    // Stopping the daemon flushes what it still caches.
    let done = tr.proc.terminate(deadline);
    assert!(done.status.success(), "{}", tr.proc.report());
    fx.check_copy("Transmission", &out);

    let stats = tracker.stats();
    assert!(
        answered(&stats, proto) >= 2 && answered(&stats, proto.other()) == 0,
        "the seeder and Transmission should have announced over {proto:?} only: {stats}"
    );
    let end = seeder.terminate(deadline);
    assert!(end.status.success(), "{}", seeder.report());
    eprintln!(
        "{}",
        Summary::find("seeder", &end.stderr, &fx.info_hash).line
    );
}

#[test]
fn transmission_downloads_from_hivebt_seed_through_http_tracker() {
    transmission_downloads_from_hivebt(Proto::Http);
}

#[test]
fn transmission_downloads_from_hivebt_seed_through_udp_tracker() {
    transmission_downloads_from_hivebt(Proto::Udp);
}

// ---------------------------------------------------------------------------------
// 3. hivebt download from libtorrent or aria2c through opentracker

#[derive(Clone, Copy, Debug)]
enum Seeder {
    Libtorrent,
    Aria2,
}

fn hivebt_downloads_through_opentracker(seeder_kind: Seeder, proto: Proto) {
    if require_tool("opentracker").is_none() {
        return;
    }
    let py = match seeder_kind {
        Seeder::Libtorrent => match require_libtorrent() {
            Some(py) => Some(py),
            None => return,
        },
        Seeder::Aria2 => {
            if require_tool("aria2c").is_none() {
                return;
            }
            None
        }
    };
    let deadline = Deadline::start();
    let tag = format!("ot-{seeder_kind:?}-{}", proto.label()).to_lowercase();
    // The tracker's URL goes into the torrent and the torrent's info-hash into the
    // tracker's whitelist: pick the port, make the torrent, then start opentracker.
    let port = free_port_both();
    let url = proto.url(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let (len, piece) = (5 * MIB + 3, 256 * KIB);
    let fx = Fixture::single(
        &tag,
        "movie.mkv",
        len,
        len as u64 ^ 0x5eed,
        piece,
        &[&url],
        deadline,
    );
    let hash = fx.info_hash_bytes();
    let ot = Opentracker::start(&fx.dir("opentracker"), port, &[hash], deadline, |addr| {
        accepts_announce(addr, hash)
    });

    let mut seeder = match py {
        Some(py) => lt_seed(&py, &fx.torrent, fx.data_dir(), deadline),
        None => aria2_seed(
            "aria2c seed",
            &fx.torrent,
            fx.data_dir(),
            &fx.dir("aria2"),
            proto == Proto::Udp,
        ),
    };
    wait_swarm(
        ot.addr(),
        &fx,
        "the seeder to be listed by opentracker",
        deadline,
        &[&ot.proc, &seeder],
        |c| c.complete >= 1,
    );
    let out = fx.dir("hivebt-out");
    let mut leecher = hivebt_download(
        "hivebt download",
        &fx.torrent,
        &out,
        &fx.dir("state-dl"),
        &[],
    );
    let done = leecher.wait_ok(deadline);
    fx.check_copy("hivebt download", &out);
    let line = Summary::find("hivebt download", &done.stderr, &fx.info_hash).line;
    assert!(line.contains(": complete,"), "{line}");
    assert!(
        done.stderr.contains(&format!("tracker {url}")),
        "hivebt did not log an answer from {url}:\n{}",
        done.stderr
    );
    eprintln!("{line}");
    seeder.close_stdin();
}

#[test]
fn hivebt_downloads_from_libtorrent_through_opentracker_http() {
    hivebt_downloads_through_opentracker(Seeder::Libtorrent, Proto::Http);
}

#[test]
fn hivebt_downloads_from_libtorrent_through_opentracker_udp() {
    hivebt_downloads_through_opentracker(Seeder::Libtorrent, Proto::Udp);
}

#[test]
fn hivebt_downloads_from_aria2_through_opentracker_http() {
    hivebt_downloads_through_opentracker(Seeder::Aria2, Proto::Http);
}

#[test]
fn hivebt_downloads_from_aria2_through_opentracker_udp() {
    hivebt_downloads_through_opentracker(Seeder::Aria2, Proto::Udp);
}

// ---------------------------------------------------------------------------------
// 4. A mixed swarm on one hivebt tracker

#[test]
fn mixed_swarm_finds_each_other_through_hivebt_tracker() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    if require_tool("aria2c").is_none() {
        return;
    }
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    // One tier of both: each client picks (BEP 12 shuffles a tier).
    let tier = format!("{},{}", tracker.http_url(), tracker.udp_url());
    let mut tree = album_tree(16 * KIB);
    tree.push(("zz-bulk.bin", 4 * MIB + 17));
    let fx = Fixture::tree("mixed", "set", &tree, 16 * KIB, &[&tier], deadline);
    let total = fx.total_size() as u64;

    // The seeder at 1 MiB/s needs 6 s to hand out one copy, so the leechers overlap,
    // are all listed at once, and must trade to finish.
    let mut seeder = hivebt_seed(
        "hivebt seed",
        &fx.torrent,
        fx.data_dir(),
        &fx.dir("state-seed"),
        &["--max-upload-rate", "1M"],
    );
    seeder.listen_addr(deadline);
    let listed = |n: u64, what: &str, procs: &[&Proc]| {
        poll_until(
            what,
            deadline,
            || reports(procs),
            || {
                let stats = tracker.stats();
                (stats["peers"].as_u64() >= Some(n)).then_some(stats)
            },
        )
    };
    listed(
        1,
        "the hivebt seeder to be listed",
        &[&tracker.proc, &seeder],
    );
    // libtorrent stays in the swarm after it finishes: aria2c, fed pieces quickly by
    // it, sends the hivebt peers a late BITFIELD, they close it (see
    // `aria2_downloads_from_hivebt`), and libtorrent is then its only source.
    let lt_out = fx.dir("lt-out");
    let mut lt = lt_staying_leecher(&py, &fx.torrent, &lt_out);
    listed(2, "libtorrent to be listed", &[&tracker.proc, &seeder, &lt]);
    let aria_out = fx.dir("aria2-out");
    let mut aria = aria2_download("aria2c", &fx.torrent, &aria_out, &fx.dir("aria2"), true);
    listed(
        3,
        "aria2c to be listed",
        &[&tracker.proc, &seeder, &lt, &aria],
    );
    let hb_out = fx.dir("hivebt-out");
    let mut hb = hivebt_download(
        "hivebt download",
        &fx.torrent,
        &hb_out,
        &fx.dir("state-dl"),
        &[],
    );
    let all_in = listed(
        4,
        "the second hivebt to be listed",
        &[&tracker.proc, &seeder, &lt, &aria, &hb],
    );
    for (key, want) in [
        ("torrents", 1),
        ("peers", 4),
        ("seeders", 1),
        ("leechers", 3),
    ] {
        assert_eq!(all_in[key], want, "/stats {key} with all four in: {all_in}");
    }
    assert!(
        answered(&all_in, Proto::Http) + answered(&all_in, Proto::Udp) >= 4,
        "{all_in}"
    );

    let hb_done = hb.wait_ok(deadline);
    fx.check_copy("hivebt download", &hb_out);
    lt.wait_line("complete", deadline);
    fx.check_copy("libtorrent", &lt_out);
    aria.wait_ok(deadline);
    fx.check_copy("aria2c", &aria_out);
    lt.close_stdin();
    lt.wait_ok(deadline);

    // The last to join found the others through the tracker and took pieces from them
    // as well as from the seeder.
    let hb_summary = Summary::find("hivebt download", &hb_done.stderr, &fx.info_hash);
    let hb_line = &hb_summary.line;
    assert!(hb_summary.peers_used >= 2, "{hb_line}");
    let end = seeder.terminate(deadline);
    assert!(end.status.success(), "{}", seeder.report());
    let seed_line = Summary::find("hivebt seed", &end.stderr, &fx.info_hash).line;
    let stats = tracker.stats();
    eprintln!(
        "swarm of {total} B\n  seeder: {seed_line}\n  hivebt leecher: {hb_line}\n  \
         announces: http {} udp {}; at the end {:?}",
        answered(&stats, Proto::Http),
        answered(&stats, Proto::Udp),
        http::scrape(tracker.http[0], fx.info_hash_bytes()),
    );
}
