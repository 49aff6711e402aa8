//! Tests for the BEP 15 codec: packets written out byte by byte, round trips, every
//! truncation of every packet, malformed packets and how their errors split between
//! "answer" and "drop", both address families, and mutated input.

use std::net::SocketAddr;

use super::*;

const TID: u32 = 0xdead_beef;
const CID: u64 = 0x0102_0304_0506_0708;

fn hash(b: u8) -> InfoHash {
    InfoHash([b; 20])
}

fn peer(s: &str) -> PeerEntry {
    PeerEntry {
        addr: s.parse::<SocketAddr>().unwrap(),
        peer_id: None,
    }
}

fn announce_request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: hash(0xaa),
        peer_id: PeerId(*b"-TR3000-abcdefghijkl"),
        port: 51413,
        uploaded: 3,
        downloaded: 2,
        left: 0x0102_0304_0506,
        event: Event::Started,
        numwant: Some(50),
        key: Some(0x6f1e_3e28),
        compact: true,
        no_peer_id: false,
        claimed_ip: Some("10.0.0.7".parse().unwrap()),
    }
}

/// The announce request of [`announce_request`], written out field by field.
fn announce_request_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend([1, 2, 3, 4, 5, 6, 7, 8]); // connection_id
    b.extend([0, 0, 0, 1]); // action: announce
    b.extend([0xde, 0xad, 0xbe, 0xef]); // transaction_id
    b.extend([0xaa; 20]); // info_hash
    b.extend(b"-TR3000-abcdefghijkl"); // peer_id
    b.extend([0, 0, 0, 0, 0, 0, 0, 2]); // downloaded
    b.extend([0, 0, 1, 2, 3, 4, 5, 6]); // left
    b.extend([0, 0, 0, 0, 0, 0, 0, 3]); // uploaded
    b.extend([0, 0, 0, 2]); // event: started
    b.extend([10, 0, 0, 7]); // ip
    b.extend([0x6f, 0x1e, 0x3e, 0x28]); // key
    b.extend([0, 0, 0, 50]); // num_want
    b.extend([0xc8, 0xd5]); // port 51413
    assert_eq!(b.len(), ANNOUNCE_REQUEST_LEN);
    b
}

fn announce_response(peers: &[&str]) -> AnnounceResponse {
    AnnounceResponse {
        interval: 1800,
        min_interval: None,
        complete: Some(5),
        incomplete: Some(7),
        downloaded: None,
        peers: peers.iter().map(|s| peer(s)).collect(),
        warning: None,
        tracker_id: None,
        external_ip: None,
    }
}

/// Every request kind with its exact bytes.
fn request_vectors() -> Vec<(UdpRequest, Vec<u8>)> {
    let mut scrape = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef];
    scrape.extend([0x11; 20]);
    scrape.extend([0x22; 20]);
    vec![
        (
            UdpRequest::Connect {
                transaction_id: TID,
            },
            vec![
                0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef,
            ],
        ),
        (
            UdpRequest::Announce {
                connection_id: CID,
                transaction_id: TID,
                request: announce_request(),
            },
            announce_request_bytes(),
        ),
        (
            UdpRequest::Scrape {
                connection_id: CID,
                transaction_id: TID,
                info_hashes: vec![hash(0x11), hash(0x22)],
            },
            scrape,
        ),
    ]
}

/// Every response kind with its exact bytes, and the family it is sent over.
fn response_vectors() -> Vec<(UdpResponse, Vec<u8>, bool)> {
    let mut v4 = vec![0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    v4.extend([0, 0, 0x07, 0x08]); // interval 1800
    v4.extend([0, 0, 0, 7]); // leechers
    v4.extend([0, 0, 0, 5]); // seeders
    v4.extend([192, 168, 1, 2, 0x1a, 0xe1]); // 192.168.1.2:6881
    v4.extend([10, 0, 0, 1, 0xff, 0xff]); // 10.0.0.1:65535

    let mut v6 = vec![0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    v6.extend([0, 0, 0x07, 0x08, 0, 0, 0, 7, 0, 0, 0, 5]);
    v6.extend([
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1,
    ]);

    let mut scrape = vec![0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef];
    scrape.extend([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
    scrape.extend([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 0]);

    let mut error = vec![0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef];
    error.extend(b"unknown torrent");

    vec![
        (
            UdpResponse::Connect {
                transaction_id: TID,
                connection_id: CID,
            },
            vec![0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8],
            false,
        ),
        (
            UdpResponse::Announce {
                transaction_id: TID,
                response: announce_response(&["192.168.1.2:6881", "10.0.0.1:65535"]),
            },
            v4,
            false,
        ),
        (
            UdpResponse::Announce {
                transaction_id: TID,
                response: announce_response(&["[2001:db8::1]:6881"]),
            },
            v6,
            true,
        ),
        (
            UdpResponse::Scrape {
                transaction_id: TID,
                stats: vec![
                    ScrapeStats {
                        complete: 1,
                        downloaded: 2,
                        incomplete: 3,
                    },
                    ScrapeStats {
                        complete: u32::MAX,
                        downloaded: 0,
                        incomplete: 256,
                    },
                ],
            },
            scrape,
            false,
        ),
        (
            UdpResponse::Error {
                transaction_id: TID,
                message: "unknown torrent".into(),
            },
            error,
            false,
        ),
    ]
}

#[test]
fn requests_match_hand_written_bytes() {
    for (req, bytes) in request_vectors() {
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, bytes, "{req:?}");
        assert_eq!(UdpRequest::decode(&bytes), Ok(req.clone()));
        assert_eq!(req.transaction_id(), TID);
    }
}

#[test]
fn responses_match_hand_written_bytes() {
    for (resp, bytes, ipv6) in response_vectors() {
        let mut out = Vec::new();
        resp.encode(&mut out, ipv6);
        assert_eq!(out, bytes, "{resp:?}");
        assert_eq!(UdpResponse::decode(&bytes, ipv6), Ok(resp.clone()));
        assert_eq!(resp.transaction_id(), TID);
    }
}

#[test]
fn connection_ids() {
    let ids: Vec<_> = request_vectors()
        .iter()
        .map(|(r, _)| r.connection_id())
        .collect();
    assert_eq!(ids, [None, Some(CID), Some(CID)]);
}

/// Whether a request prefix of `len` bytes is itself a valid packet: only scrapes
/// with a whole, non-zero number of hashes are.
fn request_prefix_valid(bytes: &[u8], len: usize) -> bool {
    bytes[8..12] == [0, 0, 0, 2] && len > 16 && (len - 16) % 20 == 0
}

#[test]
fn every_truncated_request_is_refused_or_a_shorter_scrape() {
    for (req, bytes) in request_vectors() {
        for cut in 0..bytes.len() {
            let got = UdpRequest::decode(&bytes[..cut]);
            if request_prefix_valid(&bytes, cut) {
                let Ok(UdpRequest::Scrape { info_hashes, .. }) = got else {
                    panic!("{req:?} cut {cut}: {got:?}");
                };
                assert_eq!(info_hashes.len(), (cut - 16) / 20);
                continue;
            }
            let e = got.expect_err("truncated request decoded");
            // The header decides: before 16 bytes nothing is known.
            assert_eq!(e.is_answerable(), cut >= 16, "{req:?} cut {cut}: {e}");
            if cut >= 16 {
                assert_eq!(e.transaction_id, Some(TID));
                assert_eq!(e.connection_id, req.connection_id());
            } else {
                assert_eq!(e.kind, UdpErrorKind::Truncated { got: cut, min: 16 });
            }
        }
    }
}

/// Whether a response prefix of `len` bytes is itself a valid packet for its action.
fn response_prefix_valid(bytes: &[u8], len: usize, ipv6: bool) -> bool {
    match bytes[3] {
        1 => len >= 20 && (len - 20) % compact::entry_len(ipv6) == 0,
        2 => len >= 8 && (len - 8) % 12 == 0,
        3 => len >= 8,
        _ => false,
    }
}

#[test]
fn every_truncated_response_is_refused_or_valid() {
    for (resp, bytes, ipv6) in response_vectors() {
        for cut in 0..bytes.len() {
            let got = UdpResponse::decode(&bytes[..cut], ipv6);
            if response_prefix_valid(&bytes, cut, ipv6) {
                let again = got.expect("valid prefix");
                let mut out = Vec::new();
                again.encode(&mut out, ipv6);
                assert_eq!(out, &bytes[..cut]);
                continue;
            }
            let e = got.expect_err("truncated response decoded");
            let want_tid = (cut >= 8).then_some(TID);
            assert_eq!(e.transaction_id, want_tid, "{resp:?} cut {cut}: {e}");
            assert_eq!(e.connection_id, None);
        }
    }
}

#[test]
fn bad_protocol_id_is_dropped() {
    let mut b = request_vectors()[0].1.clone();
    b[7] = 0x81;
    let e = UdpRequest::decode(&b).unwrap_err();
    assert!(!e.is_answerable());
    assert_eq!(e.kind, UdpErrorKind::BadProtocolId(0x0417_2710_1981));
    // An all-zero packet is no BitTorrent connect either.
    assert!(!UdpRequest::decode(&[0; 16]).unwrap_err().is_answerable());
}

#[test]
fn connect_with_trailing_bytes_is_answered() {
    let mut b = request_vectors()[0].1.clone();
    b.push(0);
    let e = UdpRequest::decode(&b).unwrap_err();
    assert_eq!(e.transaction_id, Some(TID));
    assert_eq!(e.connection_id, None);
    assert_eq!(
        e.kind,
        UdpErrorKind::BadLength {
            action: action::CONNECT,
            expected: 16,
            got: 17
        }
    );
    assert_eq!(
        e.to_string(),
        "connect packet of 17 bytes, expected exactly 16"
    );

    let mut r = response_vectors()[0].1.clone();
    r.push(0);
    assert!(matches!(
        UdpResponse::decode(&r, false).unwrap_err().kind,
        UdpErrorKind::BadLength { got: 17, .. }
    ));
}

#[test]
fn unknown_actions_are_answered_with_their_connection_id() {
    for act in [3u32, 4, 0xffff_ffff] {
        let mut b = request_vectors()[1].1.clone();
        b[8..12].copy_from_slice(&act.to_be_bytes());
        let e = UdpRequest::decode(&b).unwrap_err();
        assert_eq!(e.kind, UdpErrorKind::UnknownAction(act));
        assert_eq!((e.transaction_id, e.connection_id), (Some(TID), Some(CID)));
        assert_eq!(e.to_string(), format!("unknown action {act}"));
    }
    let mut b = response_vectors()[0].1.clone();
    b[3] = 4;
    let e = UdpResponse::decode(&b, false).unwrap_err();
    assert_eq!(e.kind, UdpErrorKind::UnknownAction(4));
    assert_eq!(e.transaction_id, Some(TID));
}

#[test]
fn short_announce_is_answered() {
    let b = announce_request_bytes();
    let e = UdpRequest::decode(&b[..97]).unwrap_err();
    assert_eq!(
        e.kind,
        UdpErrorKind::TooShort {
            action: action::ANNOUNCE,
            min: 98,
            got: 97
        }
    );
    assert_eq!((e.transaction_id, e.connection_id), (Some(TID), Some(CID)));
    assert_eq!(
        e.to_string(),
        "announce packet of 97 bytes, expected at least 98"
    );
}

#[test]
fn announce_options_are_ignored() {
    // BEP 41: a URL-data option (type 2, length 9, "/announce") and end-of-options.
    let mut b = announce_request_bytes();
    b.extend([2, 9]);
    b.extend(b"/announce");
    b.push(0);
    let req = UdpRequest::decode(&b).unwrap();
    assert_eq!(req, request_vectors()[1].0);
    let mut out = Vec::new();
    req.encode(&mut out);
    assert_eq!(out, announce_request_bytes());
}

#[test]
fn announce_fields_edge_values() {
    let mut b = announce_request_bytes();
    b[84..88].fill(0); // ip 0: none claimed
    b[92..96].copy_from_slice(&(-1i32).to_be_bytes()); // num_want: default
    let Ok(UdpRequest::Announce { request, .. }) = UdpRequest::decode(&b) else {
        panic!()
    };
    assert_eq!(request.claimed_ip, None);
    assert_eq!(request.numwant, None);

    // Any negative num_want means "default", written back as -1.
    b[92..96].copy_from_slice(&(-7i32).to_be_bytes());
    let req = UdpRequest::decode(&b).unwrap();
    let mut out = Vec::new();
    req.encode(&mut out);
    assert_eq!(out[92..96], (-1i32).to_be_bytes());

    // Every event code, and one past them.
    for (code, event) in [
        (0, Event::None),
        (1, Event::Completed),
        (2, Event::Started),
        (3, Event::Stopped),
    ] {
        b[80..84].copy_from_slice(&u32::to_be_bytes(code));
        let Ok(UdpRequest::Announce { request, .. }) = UdpRequest::decode(&b) else {
            panic!()
        };
        assert_eq!(request.event, event);
    }
    b[80..84].copy_from_slice(&4u32.to_be_bytes());
    let e = UdpRequest::decode(&b).unwrap_err();
    assert_eq!(e.kind, UdpErrorKind::BadEvent(4));
    assert!(e.is_answerable());
}

#[test]
fn announce_encode_clamps_what_the_wire_cannot_hold() {
    let mut request = announce_request();
    request.numwant = Some(u32::MAX);
    request.key = None;
    request.claimed_ip = Some("2001:db8::1".parse().unwrap());
    let mut out = Vec::new();
    UdpRequest::Announce {
        connection_id: CID,
        transaction_id: TID,
        request,
    }
    .encode(&mut out);
    assert_eq!(out.len(), 98);
    assert_eq!(out[84..88], [0; 4]); // IPv6 does not fit the ip field
    assert_eq!(out[88..92], [0; 4]); // no key
    assert_eq!(out[92..96], i32::MAX.to_be_bytes());
}

fn scrape_request(n: usize) -> Vec<u8> {
    let mut b = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef];
    for i in 0..n {
        b.extend([i as u8; 20]);
    }
    b
}

#[test]
fn scrape_hash_count_is_bounded() {
    let e = UdpRequest::decode(&scrape_request(0)).unwrap_err();
    assert_eq!(e.kind, UdpErrorKind::NoInfoHashes);
    assert!(e.is_answerable());

    let Ok(UdpRequest::Scrape { info_hashes, .. }) = UdpRequest::decode(&scrape_request(74)) else {
        panic!()
    };
    assert_eq!(info_hashes.len(), 74);
    assert_eq!(info_hashes[73], hash(73));

    let e = UdpRequest::decode(&scrape_request(75)).unwrap_err();
    assert_eq!(e.kind, UdpErrorKind::TooManyInfoHashes { count: 75 });
    assert_eq!((e.transaction_id, e.connection_id), (Some(TID), Some(CID)));

    let mut partial = scrape_request(1);
    partial.pop();
    assert_eq!(
        UdpRequest::decode(&partial).unwrap_err().kind,
        UdpErrorKind::PartialEntry {
            action: action::SCRAPE,
            entry: 20,
            got: 19
        }
    );
}

#[test]
fn scrape_encoders_write_at_most_the_limit() {
    let req = UdpRequest::Scrape {
        connection_id: CID,
        transaction_id: TID,
        info_hashes: (0..80).map(hash).collect(),
    };
    let mut out = Vec::new();
    req.encode(&mut out);
    assert_eq!(out, scrape_request(74));

    let resp = UdpResponse::Scrape {
        transaction_id: TID,
        stats: vec![ScrapeStats::default(); 80],
    };
    let mut out = Vec::new();
    resp.encode(&mut out, false);
    assert_eq!(out.len(), 8 + 74 * 12);

    let mut long = out.clone();
    long.extend([0; 12]);
    assert_eq!(
        UdpResponse::decode(&long, false).unwrap_err().kind,
        UdpErrorKind::TooManyInfoHashes { count: 75 }
    );
}

#[test]
fn partial_peer_entries_are_refused() {
    let base = &response_vectors()[1].1[..20];
    for (extra, ipv6) in [(5, false), (7, false), (6, true), (17, true), (19, true)] {
        let mut b = base.to_vec();
        b.extend(vec![1; extra]);
        let e = UdpResponse::decode(&b, ipv6).unwrap_err();
        assert_eq!(
            e.kind,
            UdpErrorKind::PartialEntry {
                action: action::ANNOUNCE,
                entry: if ipv6 { 18 } else { 6 },
                got: extra
            },
            "{extra} {ipv6}"
        );
        assert_eq!(e.transaction_id, Some(TID));
    }
    let mut b = response_vectors()[3].1.clone();
    b.pop();
    assert!(matches!(
        UdpResponse::decode(&b, false).unwrap_err().kind,
        UdpErrorKind::PartialEntry { entry: 12, .. }
    ));
}

#[test]
fn the_transport_family_decides_the_peer_layout() {
    let mixed = announce_response(&[
        "1.2.3.4:1000",
        "[2001:db8::2]:2000",
        "5.6.7.8:3000",
        "[::ffff:9.9.9.9]:4000",
    ]);
    let resp = UdpResponse::Announce {
        transaction_id: TID,
        response: mixed,
    };
    let mut v4 = Vec::new();
    resp.encode(&mut v4, false);
    assert_eq!(v4.len(), 20 + 2 * 6);
    let Ok(UdpResponse::Announce { response, .. }) = UdpResponse::decode(&v4, false) else {
        panic!()
    };
    assert_eq!(response.peers, [peer("1.2.3.4:1000"), peer("5.6.7.8:3000")]);

    let mut v6 = Vec::new();
    resp.encode(&mut v6, true);
    assert_eq!(v6.len(), 20 + 2 * 18);
    let Ok(UdpResponse::Announce { response, .. }) = UdpResponse::decode(&v6, true) else {
        panic!()
    };
    // An IPv4-mapped address is IPv6 as far as the codec is concerned.
    assert_eq!(
        response.peers,
        [peer("[2001:db8::2]:2000"), peer("[::ffff:9.9.9.9]:4000")]
    );

    // 36 bytes of peers are two IPv6 entries or six IPv4 ones: only the caller knows.
    let Ok(UdpResponse::Announce { response, .. }) = UdpResponse::decode(&v6, false) else {
        panic!()
    };
    assert_eq!(response.peers.len(), 6);
}

#[test]
fn announce_response_without_counts_writes_zero() {
    let mut response = announce_response(&[]);
    response.complete = None;
    response.incomplete = None;
    response.min_interval = Some(60);
    response.warning = Some("not sent over UDP".into());
    let mut out = Vec::new();
    UdpResponse::Announce {
        transaction_id: TID,
        response,
    }
    .encode(&mut out, false);
    assert_eq!(out[8..], [0, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn error_messages() {
    let mut b = vec![0, 0, 0, 3, 0, 0, 0, 9];
    assert_eq!(
        UdpResponse::decode(&b, false),
        Ok(UdpResponse::Error {
            transaction_id: 9,
            message: String::new()
        })
    );
    b.extend(b"bad\xffkey\0\0");
    assert_eq!(
        UdpResponse::decode(&b, true),
        Ok(UdpResponse::Error {
            transaction_id: 9,
            message: "bad\u{fffd}key".into()
        })
    );
}

#[test]
fn answering_an_error_round_trips() {
    // What a server does with an answerable error: send its text back.
    let e = UdpRequest::decode(&scrape_request(75)).unwrap_err();
    let answer = UdpResponse::Error {
        transaction_id: e.transaction_id.unwrap(),
        message: e.to_string(),
    };
    let mut out = Vec::new();
    answer.encode(&mut out, false);
    assert_eq!(UdpResponse::decode(&out, false), Ok(answer));
    assert!(out.ends_with(b"scrape names 75 info-hashes, at most 74 are allowed"));
}

/// Whatever decodes re-encodes to something that decodes to the same value.
fn check_round_trip(bytes: &[u8]) -> (bool, bool) {
    let req_ok = match UdpRequest::decode(bytes) {
        Ok(req) => {
            let mut out = Vec::new();
            req.encode(&mut out);
            assert_eq!(UdpRequest::decode(&out), Ok(req));
            true
        }
        Err(e) => {
            assert_eq!(e.is_answerable(), e.transaction_id.is_some());
            if e.transaction_id.is_none() {
                assert!(bytes.len() < 16 || bytes[8..12] == [0, 0, 0, 0]);
            }
            false
        }
    };
    let mut resp_ok = false;
    for ipv6 in [false, true] {
        if let Ok(resp) = UdpResponse::decode(bytes, ipv6) {
            let mut out = Vec::new();
            resp.encode(&mut out, ipv6);
            assert_eq!(UdpResponse::decode(&out, ipv6), Ok(resp));
            resp_ok = true;
        }
    }
    (req_ok, resp_ok)
}

#[test]
fn mutated_and_random_packets_never_panic() {
    let mut bases: Vec<Vec<u8>> = request_vectors().into_iter().map(|(_, b)| b).collect();
    bases.extend(response_vectors().into_iter().map(|(_, b, _)| b));
    for base in &bases {
        let mut buf = base.clone();
        for i in 0..base.len() {
            for b in [0, 1, 2, 3, 4, 0x80, 0xff] {
                buf[i] = b;
                check_round_trip(&buf);
                buf[i] = base[i];
            }
        }
    }

    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut requests, mut responses) = (0, 0);
    for _ in 0..20_000 {
        let len = (next() % 130) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias towards real actions so the parsers behind the headers are reached.
        if buf.len() >= 16 && next() % 2 == 0 {
            buf[8..11].fill(0);
            buf[11] %= 4;
            buf[..3].fill(0);
            buf[3] %= 4;
            if buf.len() >= 98 {
                buf[80..83].fill(0);
                buf[83] %= 4;
            }
        }
        let (req, resp) = check_round_trip(&buf);
        requests += usize::from(req);
        responses += usize::from(resp);
    }
    assert!(requests > 100, "only {requests} requests decoded");
    assert!(responses > 1000, "only {responses} responses decoded");
}
