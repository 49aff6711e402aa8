//! hivebt's tracker and tracker client in a swarm of the reference clients, over real
//! sockets on loopback: one `hivebt tracker` serves a hivebt seeder (rate-limited, so
//! the leechers trade), libtorrent (staying after it finishes), aria2c and a second
//! hivebt; `/stats` lists all four at once, all finish, and the second hivebt took
//! pieces from more than the seeder. No peer is given on a command line: every client
//! finds the others through the tracker.
//!
//! The transfers between two clients through a tracker (aria2c and Transmission from
//! `hivebt seed` through `hivebt tracker`, `hivebt download` from libtorrent or aria2c
//! through opentracker) are rows of the interop matrix in tests/peer_interop.rs.
//!
//! Readiness comes from the lines each program prints (`tracker http on`, `listening
//! on`) or, where nothing is printed, from the tracker itself: the test polls `/stats`
//! until the peer that must announce first is listed. Transfers end when the client
//! exits or prints `complete`, and the content is compared by the SHA-256 of every
//! file. The test is bounded by [`common::proc::TEST_TIMEOUT`].
//!
//! It prints SKIP and passes when a client is missing, unless
//! `HIVEBT_REQUIRE_INTEROP=1`. hivebt runs with `RUST_LOG=debug`; a failing test
//! prints the output of every child still alive.

mod common;
mod trackers;

use common::clients::{aria2_download, lt_staying_leecher};
use common::fixture::{Fixture, album_tree};
use common::proc::{Deadline, Proc, poll_until, reports};
use common::summary::Summary;
use common::{KIB, MIB, require_libtorrent, require_tool};
use trackers::http;
use trackers::{Proto, TrackerProc, answered, hivebt_download, hivebt_seed};

// ---------------------------------------------------------------------------------
// A mixed swarm on one hivebt tracker

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
    // it, sends the hivebt peers a late BITFIELD, they close it (see the aria2c rows
    // of the matrix in tests/peer_interop.rs), and libtorrent is then its only source.
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
