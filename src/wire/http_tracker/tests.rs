//! Tests for the HTTP tracker codec: query strings as real clients send them,
//! percent-decoding edge cases, responses written out by hand and cross-checked with
//! bendy, round trips both ways, malformed bodies, and the scrape URL convention.

use super::*;

/// 12 34 56 78 9a bc de f1 23 45 67 89 ab cd ef 12 34 56 78 9a, escaped the way
/// clients do: unreserved characters literal, the rest as upper-case escapes.
const HASH_Q: &str = "%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A";

fn hash_q() -> InfoHash {
    InfoHash::from_hex("123456789abcdef123456789abcdef123456789a").unwrap()
}

fn peer(s: &str, id: Option<&[u8; 20]>) -> PeerEntry {
    PeerEntry {
        addr: s.parse().unwrap(),
        peer_id: id.map(|b| PeerId(*b)),
    }
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: hash_q(),
        peer_id: PeerId(*b"-TR3000-abcdefghijkl"),
        port: 51413,
        uploaded: 0,
        downloaded: 0,
        left: 1234,
        event: Event::Started,
        numwant: Some(80),
        key: Some(0x6f1e_3e28),
        compact: true,
        no_peer_id: false,
        claimed_ip: None,
    }
}

#[test]
fn transmission_announce() {
    let q = format!(
        "info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=51413&uploaded=0&downloaded=0\
         &left=1234&numwant=80&key=6f1e3e28&compact=1&supportcrypto=1&event=started"
    );
    assert_eq!(parse_announce_query(&q), Ok(request()));
}

#[test]
fn qbittorrent_announce() {
    // libtorrent writes lower-case escapes and an upper-case hex key.
    let q = "info_hash=%ac%c3%b2%e43%d7%c7GZ%bbYA%b5h%1c%b7%a1%ea%26%e2\
             &peer_id=-qB5020-r3FSX0qNU6Oo&port=4993&uploaded=0&downloaded=0&left=0\
             &corrupt=0&key=F7F879A3&event=started&numwant=200&compact=1&no_peer_id=1\
             &supportcrypto=1&redundant=0";
    let r = parse_announce_query(q).unwrap();
    assert_eq!(
        r.info_hash.to_hex(),
        "acc3b2e433d7c7475abb5941b5681cb7a1ea26e2"
    );
    assert_eq!(&r.peer_id.0, b"-qB5020-r3FSX0qNU6Oo");
    assert_eq!(r.port, 4993);
    assert_eq!(r.left, 0);
    assert_eq!(r.key, Some(0xf7f8_79a3));
    assert_eq!(r.numwant, Some(200));
    assert!(r.compact && r.no_peer_id);
    assert_eq!(r.event, Event::Started);
}

#[test]
fn aria2_style_announce() {
    // Binary peer id bytes escaped, a key that is no number, parameters in another
    // order, and a re-announce with no event.
    let q = format!(
        "info_hash={HASH_Q}&peer_id=A2-1-35-0-%00%01%02%03%04%05%06%07%FE%FF&uploaded=5\
         &downloaded=6&left=7&compact=1&key=Xk3pQ9zT&numwant=50&no_peer_id=1&port=6881\
         &supportcrypto=1"
    );
    let r = parse_announce_query(&q).unwrap();
    assert_eq!(&r.peer_id.0[..10], b"A2-1-35-0-");
    assert_eq!(r.peer_id.0[10..], [0, 1, 2, 3, 4, 5, 6, 7, 0xfe, 0xff]);
    assert_eq!((r.uploaded, r.downloaded, r.left), (5, 6, 7));
    assert_eq!(r.event, Event::None);
    assert_eq!(r.key, Some(fnv1a(b"Xk3pQ9zT")));
}

fn with(extra: &str) -> String {
    format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=1&left=0{extra}")
}

#[test]
fn errors_name_the_parameter() {
    let cases = [
        (
            "peer_id=-TR3000-abcdefghijkl&port=1&left=0".to_string(),
            "missing info_hash",
        ),
        (
            format!("info_hash={HASH_Q}&port=1&left=0"),
            "missing peer_id",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&left=0"),
            "missing port",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=1"),
            "missing left",
        ),
        (
            "info_hash=%12%34&peer_id=-TR3000-abcdefghijkl&port=1&left=0".to_string(),
            "info_hash must be 20 bytes",
        ),
        (
            format!("info_hash={HASH_Q}%00&peer_id=-TR3000-abcdefghijkl&port=1&left=0"),
            "info_hash must be 20 bytes",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=short&port=1&left=0"),
            "peer_id must be 20 bytes",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=70000&left=0"),
            "invalid port",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=-1&left=0"),
            "invalid port",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=&left=0"),
            "invalid port",
        ),
        (with("&uploaded=x"), "invalid uploaded"),
        (with("&downloaded=1.5"), "invalid downloaded"),
        (with("&event=finished"), "invalid event"),
        (with("&numwant=many"), "invalid numwant"),
        (
            "info_hash=%zz%34&peer_id=-TR3000-abcdefghijkl&port=1&left=0".to_string(),
            "info_hash has a bad %-escape",
        ),
        (
            format!("info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijk%4&port=1&left=0"),
            "peer_id has a bad %-escape",
        ),
        (with("&key=%"), "key has a bad %-escape"),
    ];
    for (q, want) in cases {
        let e = parse_announce_query(&q).expect_err(&q);
        assert_eq!(e.to_string(), want, "{q}");
    }
    assert_eq!(
        parse_announce_query("info_hash=%12"),
        Err(HttpTrackerError::BadLength {
            param: "info_hash",
            expected: 20,
            got: 1
        })
    );
}

#[test]
fn percent_decoding_edge_cases() {
    assert_eq!(
        crate::wire::percent::decode("a%2Bb%2bc").unwrap().as_ref(),
        b"a+b+c"
    );
    assert_eq!(
        crate::wire::percent::decode("a+b").unwrap().as_ref(),
        b"a b"
    );
    assert_eq!(
        crate::wire::percent::decode("%e9%E9").unwrap().as_ref(),
        [0xe9, 0xe9]
    );
    assert_eq!(
        crate::wire::percent::decode("100%25").unwrap().as_ref(),
        b"100%"
    );
    assert_eq!(
        crate::wire::percent::decode("é").unwrap().as_ref(),
        "é".as_bytes()
    );
    for bad in ["%", "%4", "%zz", "%4g", "%g4", "a%", "%%41", "%é"] {
        assert_eq!(crate::wire::percent::decode(bad), None, "{bad}");
    }
    // A `+` in a binary value is a space (0x20), as a form-encoding client means it.
    let q = "info_hash=+++++%20%20%20%20%20aaaaaaaaaa&peer_id=-TR3000-abcdefghijkl&port=1&left=0";
    let r = parse_announce_query(q).unwrap();
    assert_eq!(&r.info_hash.0[..10], &[b' '; 10]);
    // Escaped parameter names are still recognised; broken ones are ignored.
    let q = with("&%6Eumwant=9&num%zzwant=3");
    assert_eq!(parse_announce_query(&q).unwrap().numwant, Some(9));
}

#[test]
fn lenient_values() {
    let parse = |extra: &str| parse_announce_query(&with(extra)).unwrap();
    // Absent optional parameters.
    let r = parse("");
    assert_eq!((r.uploaded, r.downloaded), (0, 0));
    assert_eq!(
        (r.event, r.numwant, r.key, r.claimed_ip),
        (Event::None, None, None, None)
    );
    // BEP 23: compact unless the client says compact=0.
    assert!(r.compact && !r.no_peer_id);
    assert!(!parse("&compact=0").compact);
    assert!(parse("&compact=1").compact);
    // Events.
    for (v, e) in [
        ("started", Event::Started),
        ("completed", Event::Completed),
        ("stopped", Event::Stopped),
        ("empty", Event::None),
        ("paused", Event::None),
        ("", Event::None),
    ] {
        assert_eq!(parse(&format!("&event={v}")).event, e, "{v}");
    }
    // numwant: negative is the default, huge is capped.
    assert_eq!(parse("&numwant=-1").numwant, None);
    assert_eq!(parse("&numwant=0").numwant, Some(0));
    assert_eq!(parse("&numwant=99999999999").numwant, Some(u32::MAX));
    // Flags.
    assert!(parse("&compact=1").compact);
    assert!(!parse("&compact=0").compact);
    assert!(parse("&compact").compact);
    assert!(parse("&no_peer_id=1").no_peer_id);
    // Keys: hex of any case, decimal past 8 digits, anything else hashed.
    assert_eq!(parse("&key=6f1e3e28").key, Some(0x6f1e_3e28));
    assert_eq!(parse("&key=ABC").key, Some(0xabc));
    assert_eq!(parse("&key=4294967295").key, Some(u32::MAX));
    assert_eq!(parse("&key=99999999999").key, Some(fnv1a(b"99999999999")));
    assert_eq!(parse("&key=").key, None);
    // Claimed addresses; a host name is ignored.
    let ip = |v: &str| parse(&format!("&ip={v}")).claimed_ip;
    assert_eq!(ip("10.1.2.3"), Some("10.1.2.3".parse().unwrap()));
    assert_eq!(ip("2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(
        ip("%5B2001%3Adb8%3A%3A1%5D"),
        Some("2001:db8::1".parse().unwrap())
    );
    assert_eq!(ip("tracker.example"), None);
    // The first of a repeated parameter wins; stray separators are skipped.
    let r = parse("&port=2&&event=stopped&event=started&");
    assert_eq!((r.port, r.event), (1, Event::Stopped));
}

#[test]
fn fnv1a_known_vectors() {
    // From the FNV reference test suite.
    assert_eq!(fnv1a(b""), 0x811c_9dc5);
    assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
}

#[test]
fn scrape_queries() {
    let a = "%00".repeat(20);
    let b = "b".repeat(20);
    assert_eq!(parse_scrape_query(""), Ok(vec![]));
    assert_eq!(parse_scrape_query("foo=bar"), Ok(vec![]));
    assert_eq!(
        parse_scrape_query(&format!("info_hash={a}&info_hash={b}&info_hash={a}")),
        Ok(vec![InfoHash([0; 20]), InfoHash([b'b'; 20])])
    );
    assert_eq!(
        parse_scrape_query(&format!("info_hash={HASH_Q}")),
        Ok(vec![hash_q()])
    );
    assert_eq!(
        parse_scrape_query("info_hash=abc").unwrap_err().to_string(),
        "info_hash must be 20 bytes"
    );
    assert_eq!(
        parse_scrape_query("info_hash=%zz").unwrap_err().to_string(),
        "info_hash has a bad %-escape"
    );

    let many = |n: usize| {
        (0..n)
            .map(|i| format!("info_hash={}%{:02X}", "x".repeat(19), i % 256))
            .collect::<Vec<_>>()
            .join("&")
    };
    let max = MAX_HTTP_SCRAPE_HASHES;
    assert_eq!(parse_scrape_query(&many(max)).unwrap().len(), max);
    assert_eq!(
        parse_scrape_query(&many(max + 1)),
        Err(HttpTrackerError::TooManyInfoHashes { max })
    );
}

/// A decoded bencode value, built by bendy, to check our bytes against an
/// independent decoder (which also insists on sorted keys).
#[derive(Debug, PartialEq)]
enum B {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<B>),
    Dict(Vec<(Vec<u8>, B)>),
}

fn bendy_tree(bytes: &[u8]) -> B {
    use bendy::decoding::{Decoder, Object};
    fn conv(o: Object<'_, '_>) -> B {
        match o {
            Object::Integer(s) => B::Int(s.parse().unwrap()),
            Object::Bytes(b) => B::Bytes(b.to_vec()),
            Object::List(mut l) => {
                let mut v = Vec::new();
                while let Some(x) = l.next_object().unwrap() {
                    v.push(conv(x));
                }
                B::List(v)
            }
            Object::Dict(mut d) => {
                let mut v = Vec::new();
                while let Some((k, x)) = d.next_pair().unwrap() {
                    v.push((k.to_vec(), conv(x)));
                }
                B::Dict(v)
            }
        }
    }
    let mut d = Decoder::new(bytes);
    let tree = conv(d.next_object().unwrap().unwrap());
    assert!(d.next_object().unwrap().is_none(), "trailing data");
    tree
}

fn int(k: &str, v: i64) -> (Vec<u8>, B) {
    (k.as_bytes().to_vec(), B::Int(v))
}

fn bytes(k: &str, v: &[u8]) -> (Vec<u8>, B) {
    (k.as_bytes().to_vec(), B::Bytes(v.to_vec()))
}

fn response() -> AnnounceResponse {
    AnnounceResponse {
        interval: 1800,
        min_interval: Some(900),
        complete: Some(3),
        incomplete: Some(4),
        downloaded: Some(17),
        peers: vec![
            peer("192.168.24.52:2001", Some(b"-TR3000-abcdefghijkl")),
            peer("[2001:db8::1]:6881", None),
            peer("10.0.0.1:65535", Some(b"-qB5020-r3FSX0qNU6Oo")),
        ],
        warning: None,
        tracker_id: None,
        external_ip: None,
    }
}

#[test]
fn compact_response_bytes() {
    let body = encode_announce_response(&response(), true, false);
    let mut want = b"d8:completei3e10:downloadedi17e10:incompletei4e8:intervali1800e\
                     12:min intervali900e5:peers12:"
        .to_vec();
    want.extend([192, 168, 24, 52, 0x07, 0xd1, 10, 0, 0, 1, 0xff, 0xff]);
    want.extend(b"6:peers618:");
    want.extend([
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1,
    ]);
    want.push(b'e');
    assert_eq!(body, want);

    let v4 = vec![192, 168, 24, 52, 0x07, 0xd1, 10, 0, 0, 1, 0xff, 0xff];
    let v6 = want[want.len() - 19..want.len() - 1].to_vec();
    assert_eq!(
        bendy_tree(&body),
        B::Dict(vec![
            int("complete", 3),
            int("downloaded", 17),
            int("incomplete", 4),
            int("interval", 1800),
            int("min interval", 900),
            bytes("peers", &v4),
            bytes("peers6", &v6),
        ])
    );

    // Decoded, the ids are gone and IPv4 comes first.
    let back = decode_announce_response(&body).unwrap();
    let mut expected = response();
    expected.peers = vec![
        peer("192.168.24.52:2001", None),
        peer("10.0.0.1:65535", None),
        peer("[2001:db8::1]:6881", None),
    ];
    assert_eq!(back, expected);

    // No IPv6 peers: no `peers6`, but `peers` is always there.
    let mut r = response();
    r.peers.clear();
    let body = encode_announce_response(&r, true, false);
    assert!(body.ends_with(b"5:peers0:e"));
    assert_eq!(decode_announce_response(&body).unwrap().peers, []);
}

#[test]
fn dictionary_response_bytes() {
    let mut r = response();
    r.min_interval = None;
    r.downloaded = None;
    r.warning = Some("slow down".into());
    r.tracker_id = Some(b"t\x00id".to_vec());
    let body = encode_announce_response(&r, false, false);
    let peer_dict = |ip: &str, port: i64, id: Option<&[u8]>| {
        let mut d = vec![bytes("ip", ip.as_bytes())];
        if let Some(id) = id {
            d.push(bytes("peer id", id));
        }
        d.push(int("port", port));
        B::Dict(d)
    };
    assert_eq!(
        bendy_tree(&body),
        B::Dict(vec![
            int("complete", 3),
            int("incomplete", 4),
            int("interval", 1800),
            (
                b"peers".to_vec(),
                B::List(vec![
                    peer_dict("192.168.24.52", 2001, Some(b"-TR3000-abcdefghijkl")),
                    peer_dict("2001:db8::1", 6881, None),
                    peer_dict("10.0.0.1", 65535, Some(b"-qB5020-r3FSX0qNU6Oo")),
                ])
            ),
            bytes("tracker id", b"t\x00id"),
            bytes("warning message", b"slow down"),
        ])
    );
    assert!(body.starts_with(b"d8:completei3e10:incompletei4e8:intervali1800e5:peersld2:ip13:192.168.24.527:peer id20:-TR3000-abcdefghijkl4:porti2001eed2:ip11:2001:db8::14:porti6881ee"));
    // Mixed families, ids and order survive a round trip.
    assert_eq!(decode_announce_response(&body), Ok(r.clone()));

    // no_peer_id leaves every id out.
    let body = encode_announce_response(&r, false, true);
    assert!(!body.windows(7).any(|w| w == b"peer id"));
    let back = decode_announce_response(&body).unwrap();
    assert!(back.peers.iter().all(|p| p.peer_id.is_none()));
    assert_eq!(back.peers.len(), 3);
}

#[test]
fn failure_bodies() {
    let body = encode_failure("unregistered torrent");
    assert_eq!(body, b"d14:failure reason20:unregistered torrente");
    assert_eq!(
        bendy_tree(&body),
        B::Dict(vec![bytes("failure reason", b"unregistered torrent")])
    );
    assert_eq!(
        decode_announce_response(&body),
        Err(HttpTrackerError::Failure("unregistered torrent".into()))
    );
    assert_eq!(
        decode_scrape_response(&body),
        Err(HttpTrackerError::Failure("unregistered torrent".into()))
    );
    // A failure wins over whatever else is there.
    let body = b"d14:failure reason3:bad8:intervali60e5:peers0:e";
    assert_eq!(
        decode_announce_response(body).unwrap_err().to_string(),
        "tracker failure: bad"
    );
    // A query error's text is what a server sends back.
    let e = parse_announce_query("port=1").unwrap_err();
    assert_eq!(
        encode_failure(&e.to_string()),
        b"d14:failure reason17:missing info_hashe"
    );
}

#[test]
fn scrape_bodies() {
    let files = [
        (
            InfoHash([b'b'; 20]),
            ScrapeStats {
                complete: 5,
                downloaded: 50,
                incomplete: 10,
            },
        ),
        (InfoHash([b'a'; 20]), ScrapeStats::default()),
    ];
    let body = encode_scrape_response(&files);
    let mut want = b"d5:filesd20:".to_vec();
    want.extend([b'a'; 20]);
    want.extend(b"d8:completei0e10:downloadedi0e10:incompletei0ee20:");
    want.extend([b'b'; 20]);
    want.extend(b"d8:completei5e10:downloadedi50e10:incompletei10eeee");
    assert_eq!(body, want);
    let stats = |c, d, i| {
        B::Dict(vec![
            int("complete", c),
            int("downloaded", d),
            int("incomplete", i),
        ])
    };
    assert_eq!(
        bendy_tree(&body),
        B::Dict(vec![(
            b"files".to_vec(),
            B::Dict(vec![
                (vec![b'a'; 20], stats(0, 0, 0)),
                (vec![b'b'; 20], stats(5, 50, 10)),
            ])
        )])
    );
    // Decoded in the body's (sorted) order.
    assert_eq!(decode_scrape_response(&body), Ok(vec![files[1], files[0]]));
    assert_eq!(decode_scrape_response(b"d5:filesdee"), Ok(vec![]));
    assert_eq!(encode_scrape_response(&[]), b"d5:filesdee");

    // BEP 48's example, with a name and missing counts.
    let mut body = b"d5:filesd20:".to_vec();
    body.extend([b'x'; 20]);
    body.extend(b"d8:completei5e10:incompletei10e4:name3:fooeee");
    assert_eq!(
        decode_scrape_response(&body),
        Ok(vec![(
            InfoHash([b'x'; 20]),
            ScrapeStats {
                complete: 5,
                downloaded: 0,
                incomplete: 10
            }
        )])
    );
}

#[test]
fn malformed_scrape_bodies() {
    let err = |b: &[u8]| decode_scrape_response(b).unwrap_err().to_string();
    assert_eq!(err(b"de"), "tracker response has no 'files'");
    assert_eq!(
        err(b"d5:filesi1ee"),
        "tracker response 'files' is a integer, expected a dictionary"
    );
    assert_eq!(
        err(b"d5:filesd3:abcdeee"),
        "scrape response 'files' key of 3 bytes is not a 20-byte info-hash"
    );
    let mut b = b"d5:filesd20:".to_vec();
    b.extend([b'x'; 20]);
    b.extend(b"d8:complete1:5eee");
    assert_eq!(
        err(&b),
        "tracker response 'complete' is a string, expected an integer"
    );
    let mut b = b"d5:filesd20:".to_vec();
    b.extend([b'x'; 20]);
    b.extend(b"i5eee");
    assert!(err(&b).contains("expected a dictionary of dictionaries"));
}

#[test]
fn malformed_announce_bodies() {
    let err = |b: &[u8]| decode_announce_response(b).unwrap_err();
    // Not bencode: the offset is named.
    let e = err(b"<html>");
    assert_eq!(
        e.to_string(),
        "tracker response: invalid bencode at byte 0: unexpected byte '<'"
    );
    assert!(matches!(
        err(b"d8:intervali60e"),
        HttpTrackerError::Bencode(bencode::Error { offset: 15, .. })
    ));
    assert!(matches!(
        err(b"d8:intervali60eeXX"),
        HttpTrackerError::Bencode(_)
    ));
    assert_eq!(err(b"le"), HttpTrackerError::NotADict { found: "list" });
    assert_eq!(
        err(b"d5:peers0:e"),
        HttpTrackerError::MissingKey("interval")
    );
    assert_eq!(
        err(b"d8:interval2:60e"),
        HttpTrackerError::WrongType {
            key: "interval",
            expected: "an integer",
            found: "string"
        }
    );
    assert_eq!(
        err(b"d8:intervali-1ee"),
        HttpTrackerError::OutOfRange {
            key: "interval",
            value: -1
        }
    );
    assert_eq!(
        err(b"d8:completei4294967296e8:intervali1ee"),
        HttpTrackerError::OutOfRange {
            key: "complete",
            value: 1 << 32
        }
    );
    assert_eq!(
        err(b"d8:intervali1e5:peers13:0123456789abce"),
        HttpTrackerError::PartialPeerEntry {
            key: "peers",
            len: 13,
            entry: 6
        }
    );
    assert_eq!(
        err(b"d8:intervali1e6:peers66:012345e"),
        HttpTrackerError::PartialPeerEntry {
            key: "peers6",
            len: 6,
            entry: 18
        }
    );
    assert!(matches!(
        err(b"d8:intervali1e5:peersi1ee"),
        HttpTrackerError::WrongType { key: "peers", .. }
    ));
    assert!(matches!(
        err(b"d8:intervali1e6:peers6lee"),
        HttpTrackerError::WrongType { key: "peers6", .. }
    ));
    assert!(matches!(
        err(b"d8:intervali1e5:peersli1eee"),
        HttpTrackerError::WrongType { key: "peers", .. }
    ));
    assert_eq!(
        err(b"d8:intervali1e5:peersld4:porti1eeee"),
        HttpTrackerError::MissingKey("ip")
    );
    assert_eq!(
        err(b"d8:intervali1e5:peersld2:ip7:1.2.3.4eee"),
        HttpTrackerError::MissingKey("port")
    );
    assert_eq!(
        err(b"d8:intervali1e5:peersld2:ip7:1.2.3.44:porti65536eeee"),
        HttpTrackerError::OutOfRange {
            key: "port",
            value: 65536
        }
    );
    assert!(matches!(
        err(b"d8:intervali1e15:warning messagei1ee"),
        HttpTrackerError::WrongType {
            key: "warning message",
            ..
        }
    ));
    assert!(matches!(
        err(b"d14:failure reasoni1ee"),
        HttpTrackerError::WrongType {
            key: "failure reason",
            ..
        }
    ));
}

#[test]
fn lenient_announce_bodies() {
    // Unknown keys, unsorted keys, host names, short peer ids and bracketed IPv6
    // addresses in a dictionary list.
    let body = b"d8:intervali60e5:peersld2:ip16:peer.example.org4:porti1eed2:ip7:1.2.3.47:peer id3:abc4:porti2eed2:ip5:[::1]4:porti3eee3:zzzi1e1:ai1ee";
    let r = decode_announce_response(body).unwrap();
    assert_eq!(r.interval, 60);
    assert_eq!(r.peers, [peer("1.2.3.4:2", None), peer("[::1]:3", None)]);
    assert_eq!(
        (r.complete, r.incomplete, r.min_interval),
        (None, None, None)
    );
    // No peers at all is an answer too.
    assert_eq!(
        decode_announce_response(b"d8:intervali60ee").unwrap().peers,
        []
    );
}

#[test]
fn external_ip_is_read_in_either_family_and_a_bad_length_ignored() {
    // BEP 24: 4 or 16 bytes.
    let v4 = decode_announce_response(b"d11:external ip4:\xc6\x33\x64\x028:intervali60ee").unwrap();
    assert_eq!(v4.external_ip, Some("198.51.100.2".parse().unwrap()));
    let mut body = b"d11:external ip16:".to_vec();
    body.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    body.extend_from_slice(b"8:intervali60ee");
    let v6 = decode_announce_response(&body).unwrap();
    assert_eq!(v6.external_ip, Some("2001:db8::7".parse().unwrap()));
    let odd = decode_announce_response(b"d11:external ip3:abc8:intervali60ee").unwrap();
    assert_eq!((odd.external_ip, odd.interval), (None, 60));
    assert!(decode_announce_response(b"d11:external ipi5e8:intervali60ee").is_err());
    // And it round-trips through our encoder.
    let mut r = response();
    r.external_ip = Some("198.51.100.2".parse().unwrap());
    let back = decode_announce_response(&encode_announce_response(&r, true, false)).unwrap();
    assert_eq!(back.external_ip, r.external_ip);
}

#[test]
fn every_truncated_body_is_refused() {
    for body in [
        encode_announce_response(&response(), true, false),
        encode_announce_response(&response(), false, false),
        encode_scrape_response(&[(InfoHash([1; 20]), ScrapeStats::default())]),
        encode_failure("x"),
    ] {
        for cut in 0..body.len() {
            assert!(matches!(
                decode_announce_response(&body[..cut]),
                Err(HttpTrackerError::Bencode(_))
            ));
            assert!(matches!(
                decode_scrape_response(&body[..cut]),
                Err(HttpTrackerError::Bencode(_))
            ));
        }
    }
}

#[test]
fn announce_urls() {
    let mut req = request();
    let q = "info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&peer_id=-TR3000-abcdefghijkl\
             &port=51413&uploaded=0&downloaded=0&left=1234&compact=1&event=started&numwant=80\
             &key=6f1e3e28";
    assert_eq!(
        announce_url("http://t.example:6969/announce", &req, None),
        format!("http://t.example:6969/announce?{q}")
    );
    assert_eq!(
        announce_url("https://t.example/announce.php?passkey=abc", &req, None),
        format!("https://t.example/announce.php?passkey=abc&{q}")
    );
    assert_eq!(
        announce_url("http://t/a?", &req, None),
        format!("http://t/a?{q}")
    );
    assert_eq!(
        announce_url("http://t/a?x=1&", &req, None),
        format!("http://t/a?x=1&{q}")
    );
    assert_eq!(
        announce_url("http://t/announce#frag", &req, None),
        format!("http://t/announce?{q}")
    );

    req.event = Event::None;
    req.numwant = None;
    req.key = Some(0xab);
    req.no_peer_id = true;
    req.claimed_ip = Some("2001:db8::1".parse().unwrap());
    let url = announce_url("http://t/announce", &req, Some(b"id 1/\xff"));
    assert!(url.ends_with(
        "&left=1234&compact=1&no_peer_id=1&key=000000ab&trackerid=id%201%2F%FF&ip=2001%3Adb8%3A%3A1"
    ));
}

#[test]
fn announce_url_round_trips_through_the_parser() {
    let mut req = request();
    req.peer_id = PeerId(std::array::from_fn(|i| (i * 13) as u8 ^ 0xa5));
    req.info_hash = InfoHash(std::array::from_fn(|i| (i * 31) as u8));
    req.claimed_ip = Some("10.9.8.7".parse().unwrap());
    req.no_peer_id = true;
    req.uploaded = u64::MAX;
    for event in [
        Event::None,
        Event::Started,
        Event::Completed,
        Event::Stopped,
    ] {
        req.event = event;
        let url = announce_url("http://t/announce?passkey=p", &req, Some(b"tid"));
        let (_, query) = url.split_once('?').unwrap();
        assert_eq!(parse_announce_query(query), Ok(req.clone()));
    }
    // Always compact, whatever the request says.
    req.compact = false;
    let url = announce_url("http://t/announce", &req, None);
    assert!(url.contains("&compact=1"));
}

#[test]
fn scrape_url_convention() {
    // The examples that go with the convention BEP 48 builds on.
    let cases = [
        (
            "http://example.com/announce",
            Some("http://example.com/scrape"),
        ),
        (
            "http://example.com/x/announce",
            Some("http://example.com/x/scrape"),
        ),
        (
            "http://example.com/announce.php",
            Some("http://example.com/scrape.php"),
        ),
        ("http://example.com/a", None),
        (
            "http://example.com/announce?x=2%0644",
            Some("http://example.com/scrape?x=2%0644"),
        ),
        ("http://example.com/announce?x=2/4", None),
        ("http://example.com/x%064announce", None),
        // And some more.
        (
            "http://t.example:6969/announce",
            Some("http://t.example:6969/scrape"),
        ),
        ("https://t.example/tr/announce/?x", None),
        (
            "https://t.example/announce/announce.php",
            Some("https://t.example/announce/scrape.php"),
        ),
        ("http://announce.example.com", None),
        ("http://announce.example.com/", None),
        ("http://example.com/Announce", None),
        ("http://example.com/announce#a/b", None),
        (
            "http://example.com/announce#x",
            Some("http://example.com/scrape#x"),
        ),
        ("http://example.com?x=/announce", None),
        ("", None),
        ("announce", None),
    ];
    for (announce, scrape) in cases {
        assert_eq!(scrape_url(announce).as_deref(), scrape, "{announce}");
    }
}

/// Mutates real bodies and queries at every position: nothing panics, and whatever
/// decodes survives an encode/decode round trip.
#[test]
fn mutations_never_panic() {
    let bodies = [
        encode_announce_response(&response(), true, false),
        encode_announce_response(&response(), false, false),
        encode_scrape_response(&[(InfoHash([1; 20]), ScrapeStats::default())]),
    ];
    for base in &bodies {
        let mut buf = base.clone();
        for i in 0..base.len() {
            for b in [b'0', b'1', b'6', b'e', b'i', b'l', b'd', b':', b'-', 0xff] {
                buf[i] = b;
                if let Ok(r) = decode_announce_response(&buf) {
                    let again = encode_announce_response(&r, false, false);
                    assert_eq!(decode_announce_response(&again), Ok(r));
                }
                if let Ok(files) = decode_scrape_response(&buf) {
                    assert!(files.len() <= 1);
                }
                buf[i] = base[i];
            }
        }
    }
    let query = format!(
        "info_hash={HASH_Q}&peer_id=-TR3000-abcdefghijkl&port=51413&left=1&key=6f1e3e28&event=started&numwant=3&ip=1.2.3.4"
    );
    let mut buf = query.clone().into_bytes();
    for i in 0..buf.len() {
        for b in [b'%', b'&', b'=', b'+', b'0', b'x', b'-'] {
            let old = buf[i];
            buf[i] = b;
            let q = std::str::from_utf8(&buf).unwrap();
            if let Ok(r) = parse_announce_query(q) {
                let url = announce_url("http://t/", &r, None);
                let again = parse_announce_query(url.split_once('?').unwrap().1).unwrap();
                assert_eq!(again, AnnounceRequest { compact: true, ..r });
            }
            let _ = parse_scrape_query(q);
            buf[i] = old;
        }
    }
}
