//! `hivebt tracker` end to end, driven with raw requests: HTTP written by hand over a
//! `TcpStream` and read back as bencode (BEP 3, 7, 23, 48), UDP written byte by byte
//! (BEP 15), and `/stats` and `/metrics`. Then its limits and robustness (allow list,
//! oversized and slow request heads, a connection cap under a flood, malformed
//! datagrams), and hivebt's own peers finding each other through trackers: the
//! embedded tracker of `seed PATH`, and `seed -t` / `download --tracker` with a torrent
//! that names none.
//!
//! Every tracker listens on 127.0.0.1 or ::1 on a port the kernel picks, learnt from its
//! `tracker http on ADDR` / `tracker udp on ADDR` lines. Every test is bounded by
//! [`common::proc::TEST_TIMEOUT`] and every socket read by a timeout; the one test that
//! must see time pass (the 10 s request-head timeout) measures it. Peers announced here
//! are fictitious (ports nobody listens on): the tracker never connects to peers.

mod common;
mod trackers;

#[path = "tracker_cases/http_robustness.rs"]
mod http_robustness;
#[path = "tracker_cases/udp.rs"]
mod udp_cases;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::fixture::{Fixture, hex, sha256_file};
use common::proc::{Deadline, Proc, poll_until, reports};
use common::summary::Summary;
use common::{KIB, MIB, hivebt, inspect_json, s};
use trackers::http::{self, Announce, Bval, HttpConn, scrape_query};
use trackers::udp::{Reply, UdpAnnounce, UdpClient};
use trackers::{TrackerProc, hivebt_download, hivebt_seed};

/// An info-hash made of one repeated byte.
fn hash(b: u8) -> [u8; 20] {
    [b; 20]
}

/// Announces `a` on `conn`, failing the test on anything but a 200 bencoded answer
/// without a `failure reason`.
fn announce(conn: &mut HttpConn, a: &Announce) -> Bval {
    let r = conn
        .get(&a.query())
        .unwrap_or_else(|e| panic!("announce {}: {e}", a.query()));
    assert_eq!(r.status, 200, "announce: {}", r.text());
    let b = r.bencode();
    assert!(
        b.get("failure reason").is_none(),
        "announce refused: {}",
        b.show()
    );
    b
}

/// The peers of a compact answer: `peers` (6-byte entries) then `peers6` (18-byte).
fn compact_peers(b: &Bval) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let v4 = b.at("peers").bytes();
    assert_eq!(v4.len() % 6, 0, "peers is not 6-byte entries: {}", b.show());
    for c in v4.chunks(6) {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        out.push(SocketAddr::new(ip.into(), u16::from_be_bytes([c[4], c[5]])));
    }
    if let Some(v6) = b.get("peers6") {
        let v6 = v6.bytes();
        assert_eq!(
            v6.len() % 18,
            0,
            "peers6 is not 18-byte entries: {}",
            b.show()
        );
        for c in v6.chunks(18) {
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&c[..16]).expect("16 bytes"));
            out.push(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([c[16], c[17]]),
            ));
        }
    }
    out
}

fn ports(peers: &[SocketAddr]) -> Vec<u16> {
    let mut p: Vec<u16> = peers.iter().map(SocketAddr::port).collect();
    p.sort_unstable();
    p
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn http_conn(addr: SocketAddr) -> HttpConn {
    HttpConn::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

// ---------------------------------------------------------------------------------
// HTTP announce

#[test]
fn http_announce_compact_and_non_compact() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&["--interval", "120"], deadline);
    let h = hash(0x11);
    let mut c = http_conn(tracker.http[0]);

    let first = announce(&mut c, &Announce::new(h, 6001));
    assert_eq!(first.at("interval").int(), 120, "{}", first.show());
    assert!(
        (1..=120).contains(&first.at("min interval").int()),
        "{}",
        first.show()
    );
    assert!(compact_peers(&first).is_empty(), "{}", first.show());

    // A second leecher gets the first as 127.0.0.1:6001 in 6 bytes (BEP 23).
    let second = announce(&mut c, &Announce::new(h, 6002));
    assert_eq!(
        second.at("peers").bytes(),
        &[127, 0, 0, 1, 0x17, 0x71],
        "{}",
        second.show()
    );
    assert_eq!(second.at("incomplete").int(), 2, "{}", second.show());
    assert_eq!(second.at("complete").int(), 0, "{}", second.show());

    // compact=0: a list of dictionaries with ip, port and peer id (BEP 3).
    let third = Announce::new(h, 6003).compact(Some(false));
    let b = announce(&mut c, &third);
    let list = b.at("peers").list();
    assert_eq!(list.len(), 2, "{}", b.show());
    let mut seen = Vec::new();
    for p in list {
        assert_eq!(p.at("ip").bytes(), b"127.0.0.1", "{}", b.show());
        let port = p.at("port").int() as u16;
        assert_eq!(
            p.at("peer id").bytes(),
            Announce::new(h, port).peer_id,
            "{}",
            b.show()
        );
        seen.push(port);
    }
    seen.sort_unstable();
    assert_eq!(seen, [6001, 6002]);

    // no_peer_id=1 leaves the ids out (BEP 23).
    let mut fourth = Announce::new(h, 6004).compact(Some(false));
    fourth.no_peer_id = true;
    let b = announce(&mut c, &fourth);
    for p in b.at("peers").list() {
        assert!(p.get("peer id").is_none(), "{}", b.show());
        assert!(
            p.get("ip").is_some() && p.get("port").is_some(),
            "{}",
            b.show()
        );
    }
    assert_eq!(b.at("peers").list().len(), 3, "{}", b.show());
}

/// README: "compact peers by default per BEP 23": an announce without `compact`
/// gets the 6-byte form.
#[test]
fn http_announce_without_compact_gets_compact_peers() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let h = hash(0x12);
    let mut c = http_conn(tracker.http[0]);
    announce(&mut c, &Announce::new(h, 6101));
    let b = announce(&mut c, &Announce::new(h, 6102).compact(None));
    assert_eq!(
        b.at("peers"),
        &Bval::Bytes(vec![127, 0, 0, 1, 0x17, 0xd5]),
        "{}",
        b.show()
    );
}

#[test]
fn http_peers6_for_a_peer_announced_over_ipv6() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::start(&["127.0.0.1:0", "[::1]:0"], &[], &[], deadline);
    let (at_v4, at_v6) = (tracker.http[0], tracker.http[1]);
    assert!(at_v6.is_ipv6(), "second listener: {at_v6}");
    let h = hash(0x13);

    let mut c6 = http_conn(at_v6);
    announce(&mut c6, &Announce::new(h, 6201));
    // Over IPv4, the IPv6 peer comes in peers6 as ::1 + port (BEP 7).
    let mut c4 = http_conn(at_v4);
    let b = announce(&mut c4, &Announce::new(h, 6202));
    assert_eq!(b.at("peers").bytes(), b"", "{}", b.show());
    let mut expected = Ipv6Addr::LOCALHOST.octets().to_vec();
    expected.extend_from_slice(&6201u16.to_be_bytes());
    assert_eq!(b.at("peers6").bytes(), expected, "{}", b.show());
    // Non-compact: its ip is "::1".
    let b = announce(&mut c4, &Announce::new(h, 6203).compact(Some(false)));
    let ips: HashSet<Vec<u8>> = b
        .at("peers")
        .list()
        .iter()
        .map(|p| p.at("ip").bytes().to_vec())
        .collect();
    assert_eq!(
        ips,
        HashSet::from([b"::1".to_vec(), b"127.0.0.1".to_vec()]),
        "{}",
        b.show()
    );
    // And the IPv6 peer, announcing again, gets the IPv4 ones in peers.
    let b = announce(&mut c6, &Announce::new(h, 6201).event("empty"));
    assert_eq!(
        ports(&compact_peers(&b)),
        [6202, 6203],
        "IPv6 peer's view: {}",
        b.show()
    );
    assert!(
        compact_peers(&b)
            .iter()
            .all(|p| p.ip() == Ipv4Addr::LOCALHOST),
        "{}",
        b.show()
    );
}

#[test]
fn http_numwant_is_honoured_and_capped() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let h = hash(0x14);
    let mut c = http_conn(tracker.http[0]);
    let swarm: Vec<u16> = (10_000..10_250).collect();
    for &p in &swarm {
        announce(&mut c, &Announce::new(h, p).numwant(0));
    }
    let asker = 20_000;
    let check = |b: &Bval, want: usize, label: &str| {
        let peers = compact_peers(b);
        assert_eq!(peers.len(), want, "{label}: {} peers", peers.len());
        let unique: HashSet<_> = peers.iter().collect();
        assert_eq!(unique.len(), peers.len(), "{label}: duplicates");
        assert!(
            peers
                .iter()
                .all(|p| swarm.contains(&p.port()) && p.ip() == Ipv4Addr::LOCALHOST),
            "{label}: a peer not in the swarm (or the asker itself)"
        );
        assert_eq!(b.at("incomplete").int(), 251, "{label}");
    };
    check(
        &announce(&mut c, &Announce::new(h, asker).numwant(1000)),
        200,
        "numwant=1000 (the cap is 200)",
    );
    check(
        &announce(&mut c, &Announce::new(h, asker).numwant(7)),
        7,
        "numwant=7",
    );
    check(
        &announce(&mut c, &Announce::new(h, asker).numwant(0)),
        0,
        "numwant=0",
    );
    check(
        &announce(&mut c, &Announce::new(h, asker)),
        50,
        "no numwant (default 50)",
    );
    check(
        &announce(&mut c, &Announce::new(h, asker).numwant(-1)),
        50,
        "numwant=-1 (default 50)",
    );
}

#[test]
fn http_seeders_are_not_sent_to_seeders_and_stopped_removes() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let h = hash(0x15);
    let mut c = http_conn(tracker.http[0]);
    announce(&mut c, &Announce::new(h, 6301).seeder());
    announce(&mut c, &Announce::new(h, 6302).seeder());
    let leecher = announce(&mut c, &Announce::new(h, 6303));
    assert_eq!(
        ports(&compact_peers(&leecher)),
        [6301, 6302],
        "{}",
        leecher.show()
    );
    assert_eq!(
        (leecher.at("complete").int(), leecher.at("incomplete").int()),
        (2, 1)
    );
    let seeder = announce(&mut c, &Announce::new(h, 6302).seeder().event("empty"));
    assert_eq!(
        ports(&compact_peers(&seeder)),
        [6303],
        "a seeder got other seeders: {}",
        seeder.show()
    );

    // The leecher completes: it becomes a seeder and counts one download.
    let done = announce(&mut c, &Announce::new(h, 6303).seeder().event("completed"));
    assert!(compact_peers(&done).is_empty(), "{}", done.show());
    let counts = http::scrape(tracker.http[0], h).expect("scrape lists the swarm");
    assert_eq!(
        (counts.complete, counts.incomplete, counts.downloaded),
        (3, 0, 1)
    );

    // stopped unlists: a newcomer no longer gets 6301.
    let stopped = announce(&mut c, &Announce::new(h, 6301).seeder().event("stopped"));
    assert!(compact_peers(&stopped).is_empty(), "{}", stopped.show());
    let newcomer = announce(&mut c, &Announce::new(h, 6304));
    assert_eq!(
        ports(&compact_peers(&newcomer)),
        [6302, 6303],
        "{}",
        newcomer.show()
    );
    let counts = http::scrape(tracker.http[0], h).expect("scrape");
    assert_eq!((counts.complete, counts.incomplete), (2, 1));
}

#[test]
fn http_bad_requests_get_a_failure_reason_on_a_live_connection() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let h = hash(0x16);
    let good = Announce::new(h, 6401);
    let q = good.query();
    let short_hash = format!("/announce?info_hash={}", http::urlencode(&[1u8; 19]));
    let bad: Vec<(String, &str)> = vec![
        ("/announce".into(), "no parameters"),
        (q.replace("info_hash=", "x="), "no info_hash"),
        (
            format!("{short_hash}&peer_id=aaaaaaaaaaaaaaaaaaaa&port=1&left=0"),
            "19-byte info_hash",
        ),
        (q.replace("port=6401", "port=0"), "port 0"),
        (q.replace("port=6401", "port=70000"), "port out of range"),
        (q.replace("&left=1000", ""), "no left"),
        (q.replace("left=1000", "left=lots"), "left not a number"),
        (q.replace("event=started", "event=bogus"), "unknown event"),
        (
            q.replace("peer_id=", "peer_id=%2"),
            "broken percent-encoding",
        ),
    ];
    // All on one connection: each answer is HTTP 200 with a bencoded failure reason,
    // and the connection stays usable.
    let mut c = http_conn(tracker.http[0]);
    for (target, what) in &bad {
        let r = c
            .get(target)
            .unwrap_or_else(|e| panic!("{what}: connection dropped ({e}) for {target}"));
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        let b = r.bencode();
        let reason = b.at("failure reason").bytes();
        assert!(!reason.is_empty(), "{what}: empty failure reason");
        eprintln!("{what}: {}", String::from_utf8_lossy(reason));
    }
    let b = announce(&mut c, &good);
    assert!(b.get("interval").is_some(), "{}", b.show());

    // Unknown paths get a bencoded failure too.
    let r = c.get("/nothing-here").expect("unknown path");
    assert!(r.bencode().get("failure reason").is_some(), "{}", r.text());
    // Bytes that are not HTTP get a failure and a close, and the tracker goes on.
    let mut junk = http_conn(tracker.http[0]);
    junk.send_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
        .expect("send");
    let got = junk.read_to_close().expect("closed, not left hanging");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 4") && text.contains("failure reason"),
        "{text}"
    );
    // Port 0 is a refusal (`invalid_port`), the others are malformed requests.
    let stats = tracker.stats();
    assert_eq!(stats["announces"]["http"]["invalid_port"], 1, "{stats}");
    assert!(
        stats["malformed"]["http"].as_u64() >= Some(bad.len() as u64 - 1),
        "{stats}"
    );
}

#[test]
fn http_scrape_reports_each_swarm() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let (a, b, unknown) = (hash(0x21), hash(0x22), hash(0x23));
    let mut c = http_conn(tracker.http[0]);
    announce(&mut c, &Announce::new(a, 6501).seeder());
    announce(&mut c, &Announce::new(a, 6502));
    announce(&mut c, &Announce::new(a, 6503));
    announce(&mut c, &Announce::new(b, 6504));
    announce(&mut c, &Announce::new(b, 6504).seeder().event("completed"));

    let r = c.get(&scrape_query(&[a, b, unknown])).expect("scrape");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.bencode();
    let files = body.at("files").dict();
    let counts = |h: [u8; 20]| {
        files.get(h.as_slice()).map(|e| {
            (
                e.at("complete").int(),
                e.at("incomplete").int(),
                e.at("downloaded").int(),
            )
        })
    };
    assert_eq!(counts(a), Some((1, 2, 0)), "{}", body.show());
    assert_eq!(counts(b), Some((1, 0, 1)), "{}", body.show());
    assert!(
        matches!(counts(unknown), None | Some((0, 0, 0))),
        "an unknown torrent: {}",
        body.show()
    );
}

// ---------------------------------------------------------------------------------
// /stats, /metrics, SIGTERM

#[test]
fn stats_and_metrics_count_what_happened() {
    let deadline = Deadline::start();
    let mut tracker = TrackerProc::loopback(&[], deadline);
    let h = hash(0x31);
    let mut c = http_conn(tracker.http[0]);
    announce(&mut c, &Announce::new(h, 6601).seeder());
    announce(&mut c, &Announce::new(h, 6602));
    c.get(&scrape_query(&[h])).expect("scrape");
    let mut u = UdpClient::new(tracker.udp[0]);
    let id = u.connect();
    u.announce(id, &UdpAnnounce::new(hash(0x32), 6603));

    let stats = tracker.stats();
    let want = serde_json::json!({
        "torrents": 2, "peers": 3, "seeders": 1, "leechers": 2,
    });
    for (k, v) in want.as_object().expect("object") {
        assert_eq!(&stats[k], v, "/stats {k}: {stats}");
    }
    assert_eq!(stats["announces"]["http"]["ok"], 2, "{stats}");
    assert_eq!(stats["announces"]["udp"]["ok"], 1, "{stats}");
    assert_eq!(stats["scrapes"]["http"], 1, "{stats}");
    assert_eq!(stats["udp_connects"], 1, "{stats}");
    assert!(stats["memory_bytes"].as_u64() > Some(0), "{stats}");

    let r = c.get("/metrics").expect("metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    let text = r.text();
    let mut samples = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        assert!(name.starts_with("hivebt_tracker_"), "{line:?}");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(name.to_string(), value);
    }
    for (name, value) in [
        ("hivebt_tracker_torrents", 2.0),
        ("hivebt_tracker_peers{kind=\"seeder\"}", 1.0),
        ("hivebt_tracker_peers{kind=\"leecher\"}", 2.0),
        (
            "hivebt_tracker_announces_total{protocol=\"udp\",outcome=\"ok\"}",
            1.0,
        ),
        ("hivebt_tracker_udp_connects_total", 1.0),
    ] {
        assert_eq!(samples.get(name), Some(&value), "{name} in:\n{text}");
    }

    let end = tracker.proc.terminate(deadline);
    assert!(
        end.status.success(),
        "tracker exited {} on SIGTERM\n{}",
        end.status,
        tracker.proc.report()
    );
}

// ---------------------------------------------------------------------------------
// Limits

#[test]
fn allow_list_refuses_other_hashes() {
    let deadline = Deadline::start();
    let scratch = common::Scratch::new("allow");
    let (allowed, other) = (hash(0x51), hash(0x52));
    let list = format!("# torrents we track\n\n{}\n", hex(&allowed).to_uppercase());
    let file = scratch.write("allow.txt", list.as_bytes());
    let tracker = TrackerProc::loopback(&["--allow", s(&file)], deadline);

    let mut c = http_conn(tracker.http[0]);
    announce(&mut c, &Announce::new(allowed, 7101));
    let r = c
        .get(&Announce::new(other, 7102).query())
        .expect("announce");
    assert_eq!(r.status, 200);
    let b = r.bencode();
    assert!(
        b.get("failure reason").is_some() && b.get("peers").is_none(),
        "{}",
        b.show()
    );
    let mut u = UdpClient::new(tracker.udp[0]);
    let id = u.connect();
    assert!(
        matches!(
            u.announce(id, &UdpAnnounce::new(other, 7103)),
            Reply::Error(_)
        ),
        "UDP announce for a hash outside the list"
    );
    match u.announce(id, &UdpAnnounce::new(allowed, 7104)) {
        Reply::Announce { leechers, .. } => assert_eq!(leechers, 2),
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        http::scrape(tracker.http[0], other),
        None | Some(http::Counts {
            complete: 0,
            incomplete: 0,
            downloaded: 0
        })
    ));
    let stats = tracker.stats();
    assert_eq!(stats["torrents"], 1, "{stats}");
    assert_eq!(stats["announces"]["http"]["not_allowed"], 1, "{stats}");
    assert_eq!(stats["announces"]["udp"]["not_allowed"], 1, "{stats}");
}

#[test]
fn torrent_and_peer_limits() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(
        &["--max-torrents", "1", "--max-peers-per-torrent", "2"],
        deadline,
    );
    let (a, b) = (hash(0x53), hash(0x54));
    let mut c = http_conn(tracker.http[0]);
    announce(&mut c, &Announce::new(a, 7201));
    announce(&mut c, &Announce::new(a, 7202));
    // A third peer still gets peers, but is not listed.
    let third = announce(&mut c, &Announce::new(a, 7203));
    assert_eq!(
        ports(&compact_peers(&third)),
        [7201, 7202],
        "{}",
        third.show()
    );
    let counts = http::scrape(tracker.http[0], a).expect("scrape");
    assert_eq!(counts.incomplete, 2, "{counts:?}");
    // A second torrent is refused.
    let r = c.get(&Announce::new(b, 7204).query()).expect("announce");
    assert!(r.bencode().get("failure reason").is_some(), "{}", r.text());
    let stats = tracker.stats();
    assert_eq!(stats["peers_not_stored"]["swarm_full"], 1, "{stats}");
    assert_eq!(
        stats["announces"]["http"]["too_many_torrents"], 1,
        "{stats}"
    );
}

// ---------------------------------------------------------------------------------
// hivebt peers through trackers

/// The walk-through the README gives: `seed PATH` with its embedded tracker, then
/// `download FILE.torrent --out DIR` (no `--peer`) from a copy of the torrent elsewhere.
#[test]
fn seed_path_with_embedded_tracker_then_download_elsewhere() {
    let deadline = Deadline::start();
    let scratch = common::Scratch::new("embedded");
    let data = common::content(3 * MIB + 4321, 77);
    let file = scratch.write("share/holiday.mov", &data);
    let want = sha256_file(&file);
    let share = scratch.path().join("share");
    let mut seeder = Proc::spawn(
        "hivebt seed PATH",
        hivebt()
            .current_dir(&share)
            .env("RUST_LOG", "debug")
            .args(["seed", "holiday.mov", "--no-date", "--no-dht", "--no-lsd"])
            .args([
                "--tracker-http",
                "127.0.0.1:0",
                "--tracker-udp",
                "127.0.0.1:0",
            ])
            .args(["--announce-host", "127.0.0.1", "--listen", "127.0.0.1:0"])
            .arg("--state")
            .arg(scratch.path().join("state-seed")),
    );
    let torrent_name = seeder.wait_line("torrent ", deadline);
    let magnet = seeder.wait_line("magnet ", deadline);
    let hint = seeder.wait_line("to download it elsewhere, copy ", deadline);
    let http_at = seeder.wait_addr("tracker http on ", deadline);
    let udp_at = seeder.wait_addr("tracker udp on ", deadline);
    seeder.listen_addr(deadline);
    assert_eq!(torrent_name, "holiday.mov.torrent");
    assert!(http_at.ip().is_loopback() && udp_at.ip().is_loopback());
    let udp_url = format!("udp://127.0.0.1:{}/announce", udp_at.port());
    let http_url = format!("http://127.0.0.1:{}/announce", http_at.port());
    let info = inspect_json(&share, &torrent_name);
    assert_eq!(
        info["trackers"],
        serde_json::json!([[udp_url, http_url]]),
        "one tier, UDP first"
    );
    for url in [&udp_url, &http_url] {
        let enc = url.replace(':', "%3A").replace('/', "%2F");
        assert!(
            magnet.contains(&format!("tr={enc}")),
            "{magnet} lacks {url}"
        );
    }
    let (copy_what, command) = hint
        .split_once(" there and run: ")
        .unwrap_or_else(|| panic!("hint line: {hint}"));
    assert_eq!(copy_what, torrent_name);
    assert_eq!(command, "hivebt download holiday.mov.torrent --out DIR");

    // Elsewhere: the torrent copied into an empty directory, the printed command run
    // there (plus loopback and state options).
    let elsewhere = scratch.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::copy(share.join(&torrent_name), elsewhere.join(&torrent_name)).expect("copy");
    let args: Vec<&str> = command
        .strip_prefix("hivebt ")
        .expect("hivebt command")
        .split(' ')
        .map(|w| if w == "DIR" { "downloads" } else { w })
        .collect();
    let mut leecher = Proc::spawn(
        "hivebt download (printed command)",
        hivebt()
            .current_dir(&elsewhere)
            .env("RUST_LOG", "debug")
            .args(&args)
            .args(["--listen", "127.0.0.1:0", "--state", "state"]),
    );
    let done = leecher.wait_ok(deadline);
    let got = elsewhere.join("downloads/holiday.mov");
    assert_eq!(sha256_file(&got), want, "SHA-256 of {}", got.display());
    let hash = info["info_hash"].as_str().expect("info_hash");
    eprintln!("{}", Summary::find("download", &done.stderr, hash).line);

    // The embedded tracker lists the seeder; the leecher said `stopped` as it left.
    let mut hash_bytes = [0u8; 20];
    for (i, b) in hash_bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).expect("hex");
    }
    let counts = http::scrape(http_at, hash_bytes).expect("the swarm is listed");
    assert_eq!((counts.complete, counts.incomplete), (1, 0), "{counts:?}");
    let end = seeder.terminate(deadline);
    assert!(end.status.success(), "{}", seeder.report());
}

/// A torrent that names no tracker: `seed -t URL` and `download --tracker URL` add
/// them (HTTP for one, UDP for the other, on one tracker).
#[test]
fn seed_and_download_with_trackers_given_on_the_command_line() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let fx = Fixture::single(
        "extra-trackers",
        "data.bin",
        2 * MIB + 999,
        5,
        32 * KIB,
        &[],
        deadline,
    );
    let mut seeder = hivebt_seed(
        "hivebt seed -t",
        &fx.torrent,
        fx.data_dir(),
        &fx.dir("state-seed"),
        &["-t", &tracker.http_url()],
    );
    seeder.listen_addr(deadline);
    poll_until(
        "the seeder to be listed",
        deadline,
        || reports(&[&tracker.proc, &seeder]),
        || http::scrape(tracker.http[0], fx.info_hash_bytes()).filter(|c| c.complete == 1),
    );
    let out = fx.dir("out");
    let mut leecher = hivebt_download(
        "hivebt download --tracker",
        &fx.torrent,
        &out,
        &fx.dir("state-dl"),
        &["--tracker", &tracker.udp_url()],
    );
    leecher.wait_ok(deadline);
    fx.check_copy("hivebt download --tracker", &out);
    let stats = tracker.stats();
    assert!(
        stats["announces"]["http"]["ok"].as_u64() >= Some(1),
        "{stats}"
    );
    assert!(
        stats["announces"]["udp"]["ok"].as_u64() >= Some(1),
        "{stats}"
    );
    seeder.terminate(deadline);
}

/// README: "`started`, `completed` and `stopped` are sent". A `download --seed` that
/// finished must tell the tracker, which then lists it as a seeder and counts one
/// download.
#[test]
fn hivebt_download_announces_completed() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let fx = Fixture::single(
        "completed",
        "c.bin",
        MIB + 1,
        6,
        32 * KIB,
        &[&tracker.http_url()],
        deadline,
    );
    let seeder = hivebt_seed(
        "seeder",
        &fx.torrent,
        fx.data_dir(),
        &fx.dir("state-seed"),
        &[],
    );
    seeder.listen_addr(deadline);
    poll_until(
        "the seeder to be listed",
        deadline,
        || reports(&[&tracker.proc, &seeder]),
        || http::scrape(tracker.http[0], fx.info_hash_bytes()).filter(|c| c.complete == 1),
    );
    let out = fx.dir("out");
    let leecher = hivebt_download(
        "download --seed",
        &fx.torrent,
        &out,
        &fx.dir("state-dl"),
        &["--seed"],
    );
    leecher.listen_addr(deadline);
    poll_until(
        "the finished leecher to be counted",
        deadline.within(Duration::from_secs(30)),
        || {
            format!(
                "{}\n{}",
                tracker.stats(),
                reports(&[&tracker.proc, &seeder, &leecher])
            )
        },
        || {
            http::scrape(tracker.http[0], fx.info_hash_bytes())
                .filter(|c| c.downloaded == 1 && c.complete == 2 && c.incomplete == 0)
        },
    );
    fx.check_copy("download --seed", &out);
}
