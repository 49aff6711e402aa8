//! The tracker's front ends without sockets: datagrams built byte by byte and HTTP
//! requests as real clients write them, answers decoded with the client-side codecs.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::tracker::{AnnounceRequest, Event, test_announce};
use crate::types::{InfoHash, PeerId};
use crate::wire::http::{MAX_HEAD, Response, parse_request, parse_response};
use crate::wire::http_tracker::decode_announce_response;
use crate::wire::udp_tracker::UdpRequest;

fn service(now: Instant) -> TrackerService {
    TrackerService::new(TrackerConfig::default(), 7, [9; 16], now)
}

fn v4(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 0, 0, last), port))
}

fn announce_req(hash: u8, port: u16, left: u64) -> AnnounceRequest {
    let mut req = test_announce(hash, port, left, Event::Started);
    req.peer_id = PeerId([b'u'; 20]);
    req
}

/// Sends `req` from `from`; the decoded answer, or `None` when it was dropped.
fn exchange(
    t: &mut TrackerService,
    req: &UdpRequest,
    from: SocketAddr,
    now: Instant,
) -> Option<UdpResponse> {
    let mut packet = Vec::new();
    req.encode(&mut packet);
    raw(t, &packet, from, now)
}

fn raw(
    t: &mut TrackerService,
    packet: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<UdpResponse> {
    let mut out = vec![0xAA; 3];
    if !t.on_datagram(packet, from, now, &mut out) {
        return None;
    }
    Some(UdpResponse::decode(&out, from.is_ipv6()).expect("the answer decodes"))
}

/// A `connect` from `from`; the connection id it got.
fn connect(t: &mut TrackerService, from: SocketAddr, now: Instant) -> u64 {
    let req = UdpRequest::Connect { transaction_id: 5 };
    match exchange(t, &req, from, now) {
        Some(UdpResponse::Connect {
            transaction_id: 5,
            connection_id,
        }) => connection_id,
        other => panic!("connect answered with {other:?}"),
    }
}

#[test]
fn udp_connect_then_announce_is_answered_with_the_other_peers() {
    let t0 = Instant::now();
    let mut t = service(t0);
    for (n, left) in [(1u8, 0u64), (2, 100)] {
        let from = v4(n, 40_000);
        let id = connect(&mut t, from, t0);
        let req = UdpRequest::Announce {
            connection_id: id,
            transaction_id: 77,
            request: announce_req(1, 6000 + u16::from(n), left),
        };
        match exchange(&mut t, &req, from, t0) {
            Some(UdpResponse::Announce {
                transaction_id: 77,
                response,
            }) => {
                let peers: Vec<SocketAddr> = response.peers.iter().map(|p| p.addr).collect();
                let want = if n == 1 { vec![] } else { vec![v4(1, 6001)] };
                assert_eq!(peers, want, "peer {n}");
            }
            other => panic!("announce answered with {other:?}"),
        }
    }
    let c = t.server().counters();
    assert_eq!(c.udp_connects, 2);
    assert_eq!(c.announces(Protocol::Udp, None), 2);
}

#[test]
fn udp_connection_id_is_bound_to_the_address_and_expires() {
    let t0 = Instant::now();
    let mut t = service(t0);
    let id = connect(&mut t, v4(1, 40_000), t0);
    let announce = |id| UdpRequest::Announce {
        connection_id: id,
        transaction_id: 8,
        request: announce_req(2, 6000, 5),
    };
    let refused = |r: Option<UdpResponse>| {
        matches!(r, Some(UdpResponse::Error { transaction_id: 8, ref message })
            if message.contains("connection id"))
    };
    // Another port, another host, a made-up id: refused with an error answer.
    assert!(refused(exchange(&mut t, &announce(id), v4(1, 40_001), t0)));
    assert!(refused(exchange(&mut t, &announce(id), v4(2, 40_000), t0)));
    assert!(refused(exchange(
        &mut t,
        &announce(id ^ 1),
        v4(1, 40_000),
        t0
    )));
    // Long after its window, the id is no good either.
    let late = t0 + Duration::from_secs(3 * crate::config::TRACKER_CONNECTION_ID_WINDOW_SECS);
    assert!(refused(exchange(
        &mut t,
        &announce(id),
        v4(1, 40_000),
        late
    )));
    assert_eq!(t.server().counters().bad_connection_ids, 4);
    // A scrape with the right id from the right address is answered.
    let scrape = UdpRequest::Scrape {
        connection_id: id,
        transaction_id: 9,
        info_hashes: vec![InfoHash([2; 20])],
    };
    assert!(matches!(
        exchange(&mut t, &scrape, v4(1, 40_000), t0),
        Some(UdpResponse::Scrape { transaction_id: 9, ref stats }) if stats.len() == 1
    ));
}

#[test]
fn udp_junk_is_dropped_unless_a_known_client_could_have_sent_it() {
    let t0 = Instant::now();
    let mut t = service(t0);
    let from = v4(3, 40_000);
    // Too short for a header: dropped, counted.
    assert_eq!(raw(&mut t, b"\x00\x01\x02", from, t0), None);
    // A full header with an unknown connection id and a bad action: no answer (we must
    // not reflect traffic at forged sources).
    let mut junk = 0x1234_5678_9abc_def0u64.to_be_bytes().to_vec();
    junk.extend_from_slice(&9u32.to_be_bytes());
    junk.extend_from_slice(&44u32.to_be_bytes());
    assert_eq!(raw(&mut t, &junk, from, t0), None);
    // The same bad action with the id we issued to that address: an error answer.
    let id = connect(&mut t, from, t0);
    junk[..8].copy_from_slice(&id.to_be_bytes());
    assert!(matches!(
        raw(&mut t, &junk, from, t0),
        Some(UdpResponse::Error {
            transaction_id: 44,
            ..
        })
    ));
    // A connect with the protocol magic but a wrong length: answered too.
    let mut connect_long = PROTOCOL_ID.to_be_bytes().to_vec();
    connect_long.extend_from_slice(&0u32.to_be_bytes());
    connect_long.extend_from_slice(&45u32.to_be_bytes());
    connect_long.push(0);
    assert!(matches!(
        raw(&mut t, &connect_long, from, t0),
        Some(UdpResponse::Error {
            transaction_id: 45,
            ..
        })
    ));
    assert_eq!(t.server().counters().malformed(Protocol::Udp), 4);
}

#[test]
fn udp_answers_list_only_the_family_of_the_asker() {
    let t0 = Instant::now();
    let mut t = service(t0);
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 40_000));
    for from in [v4(1, 40_000), v6] {
        let id = connect(&mut t, from, t0);
        let req = UdpRequest::Announce {
            connection_id: id,
            transaction_id: 1,
            request: announce_req(4, 7000, 10),
        };
        exchange(&mut t, &req, from, t0).expect("answered");
    }
    // A third peer over IPv6 gets only the IPv6 one; over IPv4 only the IPv4 one.
    for (from, want) in [
        (SocketAddr::from((Ipv6Addr::LOCALHOST, 40_001)), true),
        (v4(9, 40_000), false),
    ] {
        let id = connect(&mut t, from, t0);
        let mut request = announce_req(4, 7001, 10);
        request.peer_id = PeerId([b'z'; 20]);
        let req = UdpRequest::Announce {
            connection_id: id,
            transaction_id: 2,
            request,
        };
        let Some(UdpResponse::Announce { response, .. }) = exchange(&mut t, &req, from, t0) else {
            panic!("not an announce answer");
        };
        assert!(!response.peers.is_empty());
        assert!(response.peers.iter().all(|p| p.addr.is_ipv6() == want));
    }
}

/// A request as a client wrote it, parsed as the reactor parses it.
fn request(bytes: &[u8]) -> Request {
    let head = parse_request(bytes, 0)
        .expect("a valid request")
        .expect("a complete request");
    assert_eq!(head.len, bytes.len());
    Request {
        head,
        body: Vec::new(),
    }
}

fn answer(
    t: &mut TrackerService,
    bytes: &[u8],
    from: SocketAddr,
    now: Instant,
) -> (Response, String) {
    let out = t.on_http(&request(bytes), from, now);
    let text = String::from_utf8_lossy(&out).into_owned();
    let r = parse_response(&out, false)
        .expect("a valid response")
        .expect("a complete response");
    (r, text)
}

/// Transmission 3.00's first announce (parameters in its order, its headers).
const TRANSMISSION_ANNOUNCE: &[u8] = b"GET /announce?info_hash=%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01&peer_id=-TR3000-abcdefghijkl&port=51413&uploaded=0&downloaded=0&left=0&numwant=80&key=5a3f0e12&compact=1&supportcrypto=1&event=started HTTP/1.1\r\nHost: 127.0.0.1:6969\r\nUser-Agent: Transmission/3.00\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip\r\n\r\n";

/// libtorrent 2.0's announce for another peer of the same torrent.
const LIBTORRENT_ANNOUNCE: &[u8] = b"GET /announce?info_hash=%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01&peer_id=-LT2000-mnopqrstuvwx&port=6881&uploaded=0&downloaded=0&left=1048576&corrupt=0&key=1A2B3C4D&event=started&numwant=200&compact=1&no_peer_id=1 HTTP/1.1\r\nHost: 127.0.0.1:6969\r\nUser-Agent: libtorrent/2.0.8.0\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n";

#[test]
fn http_announces_from_real_clients_find_each_other() {
    let t0 = Instant::now();
    let mut t = service(t0);
    let (r, text) = answer(&mut t, TRANSMISSION_ANNOUNCE, v4(1, 50_000), t0);
    assert_eq!(r.status, 200, "{text}");
    assert!(text.contains("Connection: keep-alive"), "{text}");
    let first = decode_announce_response(&r.body).expect("bencoded answer");
    assert!(first.peers.is_empty());
    assert_eq!(first.interval, 900);

    let (r, text) = answer(&mut t, LIBTORRENT_ANNOUNCE, v4(2, 50_001), t0);
    assert!(text.contains("Connection: close"), "{text}");
    let second = decode_announce_response(&r.body).expect("bencoded answer");
    let peers: Vec<SocketAddr> = second.peers.iter().map(|p| p.addr).collect();
    assert_eq!(peers, [v4(1, 51413)]);
    assert_eq!((second.complete, second.incomplete), (Some(1), Some(1)));
    assert_eq!(t.server().counters().announces(Protocol::Http, None), 2);
}

#[test]
fn http_routes_scrape_stats_and_metrics() {
    let t0 = Instant::now();
    let mut t = service(t0);
    answer(&mut t, TRANSMISSION_ANNOUNCE, v4(1, 50_000), t0);
    let scrape = b"GET /scrape?info_hash=%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01 HTTP/1.1\r\nHost: t\r\n\r\n";
    let (r, text) = answer(&mut t, scrape, v4(1, 50_000), t0);
    assert_eq!(r.status, 200, "{text}");
    assert!(r.body.starts_with(b"d5:filesd20:"), "{text}");
    assert!(r.body.windows(11).any(|w| w == b"8:completei"), "{text}");

    let (r, text) = answer(&mut t, b"GET /stats HTTP/1.0\r\n\r\n", v4(1, 1), t0);
    assert!(text.contains("application/json") && text.contains("Connection: close"));
    let body = String::from_utf8(r.body).expect("utf-8");
    assert!(body.contains("\"udp_connects\""), "{body}");
    assert!(body.ends_with("}\n"), "{body}");

    let (r, text) = answer(&mut t, b"GET /metrics HTTP/1.1\r\n\r\n", v4(1, 1), t0);
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    let body = String::from_utf8(r.body).expect("utf-8");
    assert!(body.contains("hivebt_tracker_"), "{body}");
}

#[test]
fn http_refuses_other_paths_methods_and_junk_with_a_failure_reason() {
    let t0 = Instant::now();
    let mut t = service(t0);
    let (r, text) = answer(&mut t, b"GET /nothing HTTP/1.1\r\n\r\n", v4(1, 1), t0);
    assert_eq!(r.status, 404, "{text}");
    assert!(r.body.starts_with(b"d14:failure reason"), "{text}");
    assert!(text.contains("keep-alive"), "{text}");

    let (r, text) = answer(&mut t, b"POST /announce HTTP/1.1\r\n\r\n", v4(1, 1), t0);
    assert_eq!(r.status, 405, "{text}");
    assert!(r.body.starts_with(b"d14:failure reason"), "{text}");

    let (r, _) = answer(
        &mut t,
        b"GET /announce?port=1 HTTP/1.1\r\n\r\n",
        v4(1, 1),
        t0,
    );
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"d14:failure reason"));
    assert_eq!(t.server().counters().malformed(Protocol::Http), 1);

    let out = t.on_bad_request(&HttpError::TooLarge);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Connection: close") && text.contains("failure reason"));
    let r = parse_response(&out, false).unwrap().unwrap();
    assert!(r.body.len() < MAX_HEAD);
}
