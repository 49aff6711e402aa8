//! BEP 15 against `hivebt tracker`, byte by byte: connect, announce and scrape with
//! their exact lengths, IPv6 transport, connection ids that are wrong or belong to
//! another address, and malformed datagrams.

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{hash, v4};
use crate::common::proc::Deadline;
use crate::trackers::TrackerProc;
use crate::trackers::udp::{self, EVENT_COMPLETED, EVENT_STOPPED, Reply, UdpAnnounce, UdpClient};

#[test]
fn udp_connect_announce_scrape() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&["--interval", "300"], deadline);
    let h = hash(0x41);
    let mut a = UdpClient::new(tracker.udp[0]);
    let mut b = UdpClient::new(tracker.udp[0]);
    let id_a = a.connect();
    let id_b = b.connect();

    let seeder = UdpAnnounce {
        left: 0,
        ..UdpAnnounce::new(h, 6701)
    };
    match a.announce(id_a, &seeder) {
        Reply::Announce {
            interval,
            leechers,
            seeders,
            peers,
        } => {
            assert_eq!(interval, 300);
            assert_eq!((seeders, leechers), (1, 0));
            assert!(peers.is_empty(), "{peers:?}");
        }
        other => panic!("announce: {other:?}"),
    }
    // The leecher, from another socket, gets the seeder at its source IP and
    // announced port.
    match b.announce(id_b, &UdpAnnounce::new(h, 6702)) {
        Reply::Announce {
            leechers,
            seeders,
            peers,
            ..
        } => {
            assert_eq!((seeders, leechers), (1, 1));
            assert_eq!(peers, [v4(6701)]);
        }
        other => panic!("announce: {other:?}"),
    }
    // Exact answer length: 20 + 6 per peer.
    let tid = b.tid();
    let raw = b.exchange(
        &UdpAnnounce {
            event: udp::EVENT_NONE,
            ..UdpAnnounce::new(h, 6702)
        }
        .encode(id_b, tid),
        tid,
    );
    assert_eq!(raw.len(), 26, "{raw:02x?}");
    assert_eq!(
        &raw[..8],
        &[
            0,
            0,
            0,
            1,
            (tid >> 24) as u8,
            (tid >> 16) as u8,
            (tid >> 8) as u8,
            tid as u8
        ]
    );

    // completed, then a scrape of two torrents (one unknown) in order.
    b.announce(
        id_b,
        &UdpAnnounce {
            left: 0,
            event: EVENT_COMPLETED,
            ..UdpAnnounce::new(h, 6702)
        },
    );
    match a.scrape(id_a, &[h, hash(0x42)]) {
        Reply::Scrape(rows) => assert_eq!(rows, [(2, 1, 0), (0, 0, 0)]),
        other => panic!("scrape: {other:?}"),
    }
    // stopped unlists.
    b.announce(
        id_b,
        &UdpAnnounce {
            event: EVENT_STOPPED,
            ..UdpAnnounce::new(h, 6702)
        },
    );
    match a.scrape(id_a, &[h]) {
        Reply::Scrape(rows) => assert_eq!(rows, [(1, 1, 0)]),
        other => panic!("scrape: {other:?}"),
    }
}

#[test]
fn udp_over_ipv6_answers_18_byte_peers() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::start(&[], &["[::1]:0"], &[], deadline);
    let h = hash(0x43);
    let mut a = UdpClient::new(tracker.udp[0]);
    let mut b = UdpClient::new(tracker.udp[0]);
    let id_a = a.connect();
    a.announce(id_a, &UdpAnnounce::new(h, 6801));
    let id_b = b.connect();
    let tid = b.tid();
    let raw = b.exchange(&UdpAnnounce::new(h, 6802).encode(id_b, tid), tid);
    assert_eq!(raw.len(), 20 + 18, "{raw:02x?}");
    match udp::decode(&raw, true) {
        Ok(Reply::Announce { peers, .. }) => {
            assert_eq!(peers, [SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 6801)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn udp_wrong_connection_id_gets_an_error() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let h = hash(0x44);
    let mut a = UdpClient::new(tracker.udp[0]);
    let mut b = UdpClient::new(tracker.udp[0]);
    let id_a = a.connect();
    let tid = a.tid();
    let raw = a.exchange(
        &UdpAnnounce::new(h, 6901).encode(id_a ^ 0xdead_beef, tid),
        tid,
    );
    assert_eq!(
        udp::be32(&raw, 0),
        3,
        "a made-up connection id was not refused: {raw:02x?}"
    );
    // A connection id is bound to the address it was given to.
    let tid = b.tid();
    let raw = b.exchange(&UdpAnnounce::new(h, 6902).encode(id_a, tid), tid);
    assert!(
        matches!(udp::decode(&raw, false), Ok(Reply::Error(ref m)) if !m.is_empty()),
        "another client's connection id was accepted: {raw:02x?}"
    );
    let tid = b.tid();
    let raw = b.exchange(&udp::scrape_request(0, tid, &[h]), tid);
    assert!(
        matches!(udp::decode(&raw, false), Ok(Reply::Error(_))),
        "{raw:02x?}"
    );
    // Nothing was listed.
    let id_b = b.connect();
    match b.scrape(id_b, &[h]) {
        Reply::Scrape(rows) => assert_eq!(rows, [(0, 0, 0)]),
        other => panic!("{other:?}"),
    }
    assert!(tracker.stats()["udp_bad_connection_ids"].as_u64() >= Some(3));
}

#[test]
fn malformed_udp_datagrams_are_ignored() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let mut c = UdpClient::new(tracker.udp[0]);
    // Unreadable (shorter than a header, or a connect without the protocol id): no
    // answer at all. The connect that follows must be the first thing that comes back.
    let mut wrong_protocol = udp::connect_request(0x0bad_0001);
    wrong_protocol[0] ^= 0xff;
    let unreadable: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff; 15], wrong_protocol];
    for d in &unreadable {
        c.send(d);
    }
    let tid = c.tid();
    c.send(&udp::connect_request(tid));
    let mut buf = [0u8; 2048];
    c.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (n, _) = c
        .sock
        .recv_from(&mut buf)
        .expect("an answer to the connect");
    let first = &buf[..n];
    assert!(
        n == 16 && udp::be32(first, 0) == 0 && udp::be32(first, 4) == tid,
        "the first answer is not the connect response (a malformed datagram was answered?): {first:02x?}"
    );
    let id = c.connect();

    // Readable headers with bad bodies: an error packet each, carrying their tid.
    let h = hash(0x45);
    let mut truncated = UdpAnnounce::new(h, 7001).encode(id, 0);
    truncated.truncate(60);
    let mut unknown_action = udp::scrape_request(id, 0, &[h]);
    unknown_action[11] = 9;
    let too_many = udp::scrape_request(id, 0, &vec![h; 80]);
    for (what, mut d) in [
        ("truncated announce", truncated),
        ("unknown action", unknown_action),
        ("scrape of 80 hashes", too_many),
    ] {
        let tid = c.tid();
        d[12..16].copy_from_slice(&tid.to_be_bytes());
        let raw = c.exchange(&d, tid);
        assert!(
            matches!(udp::decode(&raw, false), Ok(Reply::Error(_))),
            "{what}: {raw:02x?}"
        );
    }

    // A burst of random datagrams, then the tracker still answers.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2000 {
        let len = (i * 37) % 300;
        let d: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        c.send(&d);
    }
    let id = c.connect();
    match c.announce(id, &UdpAnnounce::new(h, 7002)) {
        Reply::Announce { leechers, .. } => assert_eq!(leechers, 1),
        other => panic!("{other:?}"),
    }
    let stats = tracker.stats();
    assert!(stats["malformed"]["udp"].as_u64() >= Some(3), "{stats}");
}

/// A datagram whose header parses but whose connection id was never issued (here an
/// HTTP request sent to the UDP port) must not be answered: answering unauthenticated
/// datagrams lets a spoofed source be flooded with error packets, which BEP 15's
/// connection ids exist to prevent. The codec hands the server the connection id of
/// such requests for exactly this check.
#[test]
fn udp_garbage_with_an_unissued_connection_id_gets_no_answer() {
    let deadline = Deadline::start();
    let tracker = TrackerProc::loopback(&[], deadline);
    let mut c = UdpClient::new(tracker.udp[0]);
    c.send(b"GET /announce HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut unknown_action = udp::scrape_request(0x1122_3344_5566_7788, 0x0bad_0002, &[hash(9)]);
    unknown_action[11] = 9;
    c.send(&unknown_action);
    let tid = c.tid();
    c.send(&udp::connect_request(tid));
    let mut buf = [0u8; 2048];
    c.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (n, _) = c
        .sock
        .recv_from(&mut buf)
        .expect("an answer to the connect");
    assert_eq!(
        udp::be32(&buf[..n], 4),
        tid,
        "answered a datagram with no valid connection id: {:?}",
        udp::decode(&buf[..n], false)
    );
}
