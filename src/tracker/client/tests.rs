//! Tracker client tests on a simulated clock: every instant is `t0` plus seconds, and
//! the reactor's part (sending, answering, firing timers) is played by hand.

use std::net::{Ipv4Addr, SocketAddr};

use super::*;
use crate::tracker::PeerEntry;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn params() -> AnnounceParams {
    AnnounceParams {
        info_hash: InfoHash([7; 20]),
        peer_id: PeerId(*b"-HB0001-abcdefghijkl"),
        port: 6881,
        key: 0x1234_5678,
        numwant: Some(50),
        left: 1000,
    }
}

fn tiers(t: &[&[&str]]) -> Vec<Vec<String>> {
    t.iter()
        .map(|tier| tier.iter().map(|u| u.to_string()).collect())
        .collect()
}

fn client(t: &[&[&str]], seed: u64, now: Instant) -> TrackerClient {
    TrackerClient::new(params(), tiers(t), seed, now)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), port))
}

fn answer(interval: u32) -> AnnounceResponse {
    AnnounceResponse {
        interval,
        min_interval: None,
        complete: None,
        incomplete: None,
        downloaded: None,
        peers: vec![PeerEntry {
            addr: addr(1),
            peer_id: None,
        }],
        warning: None,
        tracker_id: None,
        external_ip: None,
    }
}

/// The next request; panics if there is none.
fn send(c: &mut TrackerClient, now: Instant) -> Outgoing {
    c.poll_transmit(now).expect("a request to send")
}

fn http(o: &Outgoing) -> &AnnounceRequest {
    match &o.kind {
        RequestKind::Http { announce, .. } => announce,
        other => panic!("not HTTP: {other:?}"),
    }
}

fn events(c: &mut TrackerClient) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn errors(c: &mut TrackerClient) -> Vec<String> {
    events(c)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Error { url, .. } => Some(url),
            _ => None,
        })
        .collect()
}

/// Sends the pending HTTP request and fails it.
fn fail_http(c: &mut TrackerClient, now: Instant) -> String {
    let o = send(c, now);
    c.on_http_response(o.request_id, Err("failure reason".into()), now);
    o.url
}

/// Sends the pending HTTP request and answers it with `interval`.
fn answer_http(c: &mut TrackerClient, now: Instant, interval: u32) -> Outgoing {
    let o = send(c, now);
    c.on_http_response(o.request_id, Ok(answer(interval)), now);
    o
}

/// The UDP step of `o`: (transaction id, connection id if an announce, announce).
fn udp(o: &Outgoing) -> (u32, Option<u64>, Option<&AnnounceRequest>) {
    match &o.kind {
        RequestKind::Udp(UdpStep::Connect { transaction_id }) => (*transaction_id, None, None),
        RequestKind::Udp(UdpStep::Announce {
            connection_id,
            transaction_id,
            announce,
        }) => (*transaction_id, Some(*connection_id), Some(announce)),
        other => panic!("not UDP: {other:?}"),
    }
}

#[test]
fn first_announce_is_started_at_once_with_our_parameters() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a/announce"]], 1, t0);
    let o = send(&mut c, t0);
    assert_eq!(o.url, "http://a/announce");
    let req = http(&o);
    assert_eq!(req.event, Event::Started);
    assert_eq!(req.info_hash, params().info_hash);
    assert_eq!(req.peer_id, params().peer_id);
    assert_eq!(
        (req.port, req.key, req.numwant),
        (6881, Some(0x1234_5678), Some(50))
    );
    assert_eq!((req.uploaded, req.downloaded, req.left), (0, 0, 1000));
    assert!(req.compact);
    assert!(c.poll_transmit(t0).is_none(), "one request in flight");
    assert_eq!(c.poll_timeout(), Some(t0 + HTTP_TIMEOUT));

    // Progress reaches the next request.
    c.on_http_response(o.request_id, Ok(answer(1800)), t0);
    c.set_progress(10, 20, 30);
    c.handle_timeout(t0 + secs(1800));
    let req = http(&send(&mut c, t0 + secs(1800))).clone();
    assert_eq!((req.uploaded, req.downloaded, req.left), (10, 20, 30));
    assert_eq!(req.event, Event::None);
}

#[test]
fn the_address_a_tracker_saw_us_at_is_passed_on() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://t/announce"]], 9, t0);
    let o = send(&mut c, t0);
    let mut r = answer(1800);
    r.external_ip = Some("198.51.100.2".parse().unwrap());
    c.on_http_response(o.request_id, Ok(r), t0);
    let got = events(&mut c);
    assert!(
        got.contains(&ClientEvent::ExternalIp("198.51.100.2".parse().unwrap())),
        "{got:?}"
    );
}

#[test]
fn tiers_are_shuffled_by_the_seed_and_never_mixed() {
    let urls: Vec<String> = (0..8).map(|i| format!("http://t{i}/a")).collect();
    let make = |seed| {
        let tiers = vec![
            urls.clone(),
            vec!["udp://x:1".to_owned(), "udp://y:1".to_owned()],
        ];
        TrackerClient::new(params(), tiers, seed, Instant::now())
    };
    let order = |c: &TrackerClient| -> Vec<Vec<String>> {
        c.tiers()
            .into_iter()
            .map(|t| t.into_iter().map(str::to_owned).collect())
            .collect()
    };
    // Same seed, same order.
    assert_eq!(order(&make(42)), order(&make(42)));
    let mut distinct = HashSet::new();
    for seed in 0..20 {
        let o = order(&make(seed));
        assert_eq!(o.len(), 2);
        let mut first = o[0].clone();
        first.sort();
        assert_eq!(first, urls, "tier 0 is a permutation of itself");
        let mut second = o[1].clone();
        second.sort();
        assert_eq!(second, ["udp://x:1", "udp://y:1"]);
        distinct.insert(o[0].clone());
    }
    assert!(distinct.len() > 10, "the seed changes the order");

    // The first request goes to the first URL of the shuffled first tier.
    let t0 = Instant::now();
    let mut c = make(7);
    let first = c.tiers()[0][0].to_owned();
    assert_eq!(send(&mut c, t0).url, first);
}

#[test]
fn failover_walks_tiers_in_order_and_promotes_the_answering_tracker() {
    let t0 = Instant::now();
    let mut c = client(
        &[
            &["http://a", "http://b", "http://c"],
            &["http://d", "http://e"],
        ],
        3,
        t0,
    );
    let before: Vec<Vec<String>> = c
        .tiers()
        .iter()
        .map(|t| t.iter().map(|u| u.to_string()).collect())
        .collect();
    // Tier 0 fails entirely; tier 1's first fails; its second answers.
    for url in before[0].iter().chain(&before[1][..1]) {
        assert_eq!(&fail_http(&mut c, t0), url);
    }
    let o = answer_http(&mut c, t0, 1800);
    assert_eq!(o.url, before[1][1]);
    assert_eq!(errors(&mut c).len(), 4);

    // Promotion: the answering tracker leads its tier; tier 0 is unchanged.
    let after = c.tiers();
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1], [before[1][1].as_str(), before[1][0].as_str()]);

    // The next round starts again at the first tier.
    c.handle_timeout(t0 + secs(1800));
    assert_eq!(send(&mut c, t0 + secs(1800)).url, before[0][0]);

    // Within a tier, the tracker that answers moves to the front.
    let mut c = client(&[&["http://a", "http://b", "http://c"]], 5, t0);
    let before: Vec<String> = c.tiers()[0].iter().map(|u| u.to_string()).collect();
    fail_http(&mut c, t0);
    fail_http(&mut c, t0);
    assert_eq!(answer_http(&mut c, t0, 1800).url, before[2]);
    assert_eq!(c.tiers()[0], [&before[2], &before[0], &before[1]]);
    c.handle_timeout(t0 + secs(1800));
    assert_eq!(send(&mut c, t0 + secs(1800)).url, before[2]);
}

#[test]
fn http_failure_reason_is_reported_and_the_next_url_tried() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a", "http://b"]], 0, t0);
    let order = c.tiers()[0]
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>();
    let o = send(&mut c, t0);
    c.on_http_response(o.request_id, Err("torrent not registered".into()), t0);
    assert_eq!(
        events(&mut c),
        [ClientEvent::Error {
            url: order[0].clone(),
            message: "torrent not registered".into()
        }]
    );
    let next = send(&mut c, t0);
    assert_eq!(next.url, order[1]);
    assert_eq!(http(&next).event, Event::Started);
    // A late answer to the abandoned request changes nothing.
    c.on_http_response(o.request_id, Ok(answer(1800)), t0);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), Some(t0 + HTTP_TIMEOUT));

    // Transport failures and time-outs count the same.
    c.on_request_failed(next.request_id, "connection refused".into(), t0);
    assert_eq!(errors(&mut c), [order[1].clone()]);
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + secs(15)),
        "round failed: backoff"
    );
    c.handle_timeout(t0 + secs(15));
    let o = send(&mut c, t0 + secs(15));
    assert_eq!(o.url, order[0]);
    c.handle_timeout(t0 + secs(15) + HTTP_TIMEOUT - secs(1));
    assert!(
        c.poll_transmit(t0 + secs(44)).is_none(),
        "not timed out yet"
    );
    c.handle_timeout(t0 + secs(15) + HTTP_TIMEOUT);
    assert_eq!(errors(&mut c), [order[0].clone()]);
    assert_eq!(send(&mut c, t0 + secs(45)).url, order[1]);
}

#[test]
fn interval_and_min_interval_are_honoured_within_floor_and_cap() {
    let t0 = Instant::now();
    let cases: [(u32, Option<u32>, u64); 6] = [
        (1800, None, 1800),
        (10, None, 60),
        (0, None, 60),
        (100, Some(300), 300),
        (900, Some(120), 900),
        (1_000_000, Some(5_000_000), 3600),
    ];
    for (interval, min_interval, expected) in cases {
        let mut c = client(&[&["http://a"]], 0, t0);
        let o = send(&mut c, t0);
        let mut r = answer(interval);
        r.min_interval = min_interval;
        c.on_http_response(o.request_id, Ok(r), t0);
        let due = t0 + secs(expected);
        assert_eq!(c.poll_timeout(), Some(due), "{interval} {min_interval:?}");
        c.handle_timeout(due - secs(1));
        assert!(c.poll_transmit(due - secs(1)).is_none());
        c.handle_timeout(due);
        assert_eq!(http(&send(&mut c, due)).event, Event::None);
    }
}

#[test]
fn backoff_doubles_to_the_cap_and_resets_on_an_answer() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"], &["http://b"]], 0, t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..10 {
        fail_http(&mut c, now);
        fail_http(&mut c, now);
        let until = c.poll_timeout().expect("a backoff");
        assert!(c.poll_transmit(now).is_none());
        waits.push((until - now).as_secs());
        now = until;
        c.handle_timeout(now);
    }
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
    assert_eq!(errors(&mut c).len(), 20);

    // An answer resets the backoff: the next failed round waits 15 s again.
    fail_http(&mut c, now);
    answer_http(&mut c, now, 60);
    now += secs(60);
    c.handle_timeout(now);
    fail_http(&mut c, now);
    fail_http(&mut c, now);
    assert_eq!(c.poll_timeout(), Some(now + secs(15)));
}

#[test]
fn completed_is_sent_once_and_fails_over_like_any_announce() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a", "http://b"]], 0, t0);
    let order = c.tiers()[0]
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>();
    answer_http(&mut c, t0, 1800);
    // Waiting for a regular re-announce: completed goes at once.
    let t1 = t0 + secs(100);
    c.set_progress(0, 1000, 0);
    c.on_complete(t1);
    let o = send(&mut c, t1);
    assert_eq!(
        (o.url.as_str(), http(&o).event),
        (order[0].as_str(), Event::Completed)
    );
    assert_eq!(http(&o).left, 0);
    c.on_http_response(o.request_id, Err("busy".into()), t1);
    // The next tracker gets completed too (not started).
    let o = send(&mut c, t1);
    assert_eq!(
        (o.url.as_str(), http(&o).event),
        (order[1].as_str(), Event::Completed)
    );
    c.on_http_response(o.request_id, Ok(answer(1800)), t1);
    c.on_complete(t1 + secs(1));
    assert!(
        c.poll_transmit(t1 + secs(1)).is_none(),
        "completed only once"
    );
    let t2 = t1 + secs(1800);
    c.handle_timeout(t2);
    assert_eq!(http(&send(&mut c, t2)).event, Event::None);
}

#[test]
fn completed_follows_an_answer_in_flight_and_waits_out_a_backoff() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"]], 0, t0);
    let o = send(&mut c, t0);
    c.on_complete(t0 + secs(1));
    assert!(c.poll_transmit(t0 + secs(1)).is_none());
    c.on_http_response(o.request_id, Ok(answer(1800)), t0 + secs(2));
    let o = send(&mut c, t0 + secs(2));
    assert_eq!(http(&o).event, Event::Completed);

    let mut c = client(&[&["http://a"]], 0, t0);
    fail_http(&mut c, t0);
    c.on_complete(t0 + secs(1));
    assert!(
        c.poll_transmit(t0 + secs(1)).is_none(),
        "backoff still runs"
    );
    c.handle_timeout(t0 + secs(15));
    assert_eq!(http(&send(&mut c, t0 + secs(15))).event, Event::Completed);
}

#[test]
fn started_goes_to_each_tracker_until_it_answers() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"], &["http://b"]], 0, t0);
    // a answers started; later a fails and b gets started, not none.
    answer_http(&mut c, t0, 60);
    c.handle_timeout(t0 + secs(60));
    let o = send(&mut c, t0 + secs(60));
    assert_eq!((o.url.as_str(), http(&o).event), ("http://a", Event::None));
    c.on_http_response(o.request_id, Err("down".into()), t0 + secs(60));
    let o = send(&mut c, t0 + secs(60));
    assert_eq!(
        (o.url.as_str(), http(&o).event),
        ("http://b", Event::Started)
    );
}

#[test]
fn stopped_goes_to_trackers_that_know_us_within_the_deadline() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"], &["http://b"], &["udp://c:1"]], 0, t0);
    // a answered started once; later a fails and b answers; c never heard of us.
    answer_http(&mut c, t0, 60);
    c.handle_timeout(t0 + secs(60));
    fail_http(&mut c, t0 + secs(60));
    answer_http(&mut c, t0 + secs(60), 1800);
    events(&mut c);
    let t1 = t0 + secs(100);
    let until = c.on_stop(t1);
    assert_eq!(until, t1 + STOP_TIMEOUT);
    assert_eq!(c.on_stop(t1 + secs(1)), until, "idempotent");
    let a = send(&mut c, t1);
    let b = send(&mut c, t1);
    assert!(c.poll_transmit(t1).is_none());
    assert_eq!((a.url.as_str(), b.url.as_str()), ("http://a", "http://b"));
    for o in [&a, &b] {
        assert_eq!(http(o).event, Event::Stopped);
        assert_eq!(http(o).numwant, Some(0));
    }
    assert_eq!(c.poll_timeout(), Some(until));
    c.on_http_response(a.request_id, Ok(answer(1800)), t1);
    assert!(!c.is_stopped());
    c.on_http_response(b.request_id, Err("gone".into()), t1);
    assert!(c.is_stopped());
    // No peers from a `stopped` answer; the failure is still logged.
    assert_eq!(errors(&mut c), ["http://b"]);
    assert_eq!(c.poll_timeout(), None);

    // Silent trackers: the deadline ends the stop phase.
    let mut c = client(&[&["http://a"]], 0, t0);
    answer_http(&mut c, t0, 1800);
    let until = c.on_stop(t1);
    send(&mut c, t1);
    c.handle_timeout(until - secs(1));
    assert!(!c.is_stopped());
    c.handle_timeout(until);
    assert!(c.is_stopped());

    // Nobody knows us: nothing to send, stopped at once, the announce in flight dropped.
    let mut c = client(&[&["http://a"]], 0, t0);
    let o = send(&mut c, t0);
    assert_eq!(c.on_stop(t1), t1);
    assert!(c.is_stopped());
    assert!(c.poll_transmit(t1).is_none());
    c.on_http_response(o.request_id, Ok(answer(1800)), t1);
    assert!(events(&mut c).is_empty());
}

#[test]
fn udp_connects_then_announces() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://tracker:6969/announce"]], 9, t0);
    let o = send(&mut c, t0);
    let (tid, cid, _) = udp(&o);
    assert_eq!(cid, None, "connect first");
    assert_eq!(c.poll_timeout(), Some(t0 + secs(15)));
    c.on_udp_connect_response(o.request_id, tid, 0xabcd, t0 + secs(1));
    let a = send(&mut c, t0 + secs(1));
    let (tid2, cid, announce) = udp(&a);
    assert_eq!(cid, Some(0xabcd));
    assert_ne!(a.request_id, o.request_id);
    assert_ne!(tid2, tid);
    assert_eq!(announce.map(|r| r.event), Some(Event::Started));
    // A connect answer for the old step is now ignored.
    c.on_udp_connect_response(o.request_id, tid, 0xeeee, t0 + secs(1));
    assert!(c.poll_transmit(t0 + secs(1)).is_none());

    let mut r = answer(1800);
    r.complete = Some(5);
    r.incomplete = Some(7);
    c.on_udp_announce_response(a.request_id, tid2, r, t0 + secs(2));
    assert_eq!(
        events(&mut c),
        [
            ClientEvent::Swarm {
                url: "udp://tracker:6969/announce".into(),
                complete: Some(5),
                incomplete: Some(7)
            },
            ClientEvent::Peers(vec![addr(1)])
        ]
    );
    assert_eq!(c.poll_timeout(), Some(t0 + secs(1802)));
}

#[test]
fn udp_connection_id_is_reused_within_60_s_and_renewed_after() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://t:1"]], 9, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 77, t0);
    let a = send(&mut c, t0);
    c.on_udp_announce_response(a.request_id, udp(&a).0, answer(60), t0);

    // Completed 59 s after the connection id arrived: straight to announce.
    c.on_complete(t0 + secs(59));
    let a = send(&mut c, t0 + secs(59));
    let (tid, cid, req) = udp(&a);
    assert_eq!(cid, Some(77));
    assert_eq!(req.map(|r| r.event), Some(Event::Completed));
    c.on_udp_announce_response(a.request_id, tid, answer(60), t0 + secs(59));

    // The regular re-announce comes at 119 s: the id is too old, connect again.
    c.handle_timeout(t0 + secs(119));
    let o = send(&mut c, t0 + secs(119));
    assert_eq!(udp(&o).1, None);

    // At exactly 60 s the id is already expired.
    let mut c = client(&[&["udp://t:1"]], 9, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 77, t0);
    let a = send(&mut c, t0);
    c.on_udp_announce_response(a.request_id, udp(&a).0, answer(60), t0);
    c.handle_timeout(t0 + secs(60));
    assert_eq!(udp(&send(&mut c, t0 + secs(60))).1, None);
}

#[test]
fn udp_retransmits_after_15_times_2_to_the_n_then_fails_over() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://silent:1"], &["http://b"]], 9, t0);
    let first = send(&mut c, t0);
    let mut now = t0;
    let mut gaps = Vec::new();
    loop {
        let due = c.poll_timeout().expect("a deadline");
        c.handle_timeout(due - Duration::from_millis(1));
        assert!(
            c.poll_transmit(due).is_none(),
            "nothing before the deadline"
        );
        gaps.push((due - now).as_secs());
        now = due;
        c.handle_timeout(now);
        let o = send(&mut c, now);
        if o.url != first.url {
            assert_eq!(o.url, "http://b");
            break;
        }
        // A retransmission repeats the step exactly.
        assert_eq!(o, first);
    }
    assert_eq!(gaps, [15, 30, 60, 120]);
    assert_eq!(errors(&mut c), ["udp://silent:1"]);
}

#[test]
fn udp_announce_retransmitted_after_the_id_expired_reconnects() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://t:1"]], 9, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 5, t0);
    let a = send(&mut c, t0);
    assert_eq!(udp(&a).1, Some(5));
    // n = 0: 15 s, retransmitted as is.
    c.handle_timeout(t0 + secs(15));
    assert_eq!(send(&mut c, t0 + secs(15)), a);
    // n = 1: 45 s, still within the minute.
    c.handle_timeout(t0 + secs(45));
    assert_eq!(send(&mut c, t0 + secs(45)), a);
    // n = 2: 105 s, past the minute: a fresh connect, and the count goes on (n = 3).
    c.handle_timeout(t0 + secs(105));
    let o = send(&mut c, t0 + secs(105));
    assert_eq!(udp(&o).1, None);
    assert_ne!(o.request_id, a.request_id);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(105 + 120)));
    // A late answer to the old announce is ignored.
    c.on_udp_announce_response(a.request_id, udp(&a).0, answer(60), t0 + secs(106));
    assert!(events(&mut c).is_empty());
}

#[test]
fn udp_answers_with_the_wrong_transaction_id_are_ignored() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://t:1"]], 9, t0);
    let o = send(&mut c, t0);
    let tid = udp(&o).0;
    c.on_udp_connect_response(o.request_id, tid.wrapping_add(1), 1, t0);
    c.on_udp_error(o.request_id, tid.wrapping_add(1), "nope".into(), t0);
    c.on_udp_connect_response(RequestId(999), tid, 1, t0);
    assert!(c.poll_transmit(t0).is_none());
    assert!(events(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), Some(t0 + secs(15)));
    c.on_udp_connect_response(o.request_id, tid, 1, t0);
    let a = send(&mut c, t0);
    let tid = udp(&a).0;
    // An announce answer with a stale id, or to the connect step's id, is ignored.
    c.on_udp_announce_response(a.request_id, tid ^ 1, answer(60), t0);
    c.on_udp_announce_response(o.request_id, tid, answer(60), t0);
    assert!(events(&mut c).is_empty());
    c.on_udp_announce_response(a.request_id, tid, answer(60), t0);
    assert_eq!(events(&mut c), [ClientEvent::Peers(vec![addr(1)])]);
}

#[test]
fn udp_error_fails_over_and_forgets_the_connection_id() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://t:1"], &["http://b"]], 0, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 3, t0);
    let a = send(&mut c, t0);
    c.on_udp_error(a.request_id, udp(&a).0, "connection id expired".into(), t0);
    assert_eq!(
        events(&mut c),
        [ClientEvent::Error {
            url: "udp://t:1".into(),
            message: "connection id expired".into()
        }]
    );
    let b = send(&mut c, t0);
    assert_eq!(b.url, "http://b");
    c.on_http_response(b.request_id, Ok(answer(60)), t0);
    // Within the minute, but the error dropped the id: connect again.
    c.handle_timeout(t0 + secs(60));
    assert_eq!(udp(&send(&mut c, t0 + secs(60))).1, None);
}

#[test]
fn stopped_over_udp_uses_a_fresh_connection_id_or_connects() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://t:1"]], 9, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 8, t0);
    let a = send(&mut c, t0);
    c.on_udp_announce_response(a.request_id, udp(&a).0, answer(1800), t0);
    c.on_stop(t0 + secs(30));
    let s = send(&mut c, t0 + secs(30));
    let (tid, cid, req) = udp(&s);
    assert_eq!(cid, Some(8));
    assert_eq!(
        req.map(|r| (r.event, r.numwant)),
        Some((Event::Stopped, Some(0)))
    );
    c.on_udp_announce_response(s.request_id, tid, answer(1800), t0 + secs(30));
    assert!(c.is_stopped());

    let mut c = client(&[&["udp://t:1"]], 9, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 8, t0);
    let a = send(&mut c, t0);
    c.on_udp_announce_response(a.request_id, udp(&a).0, answer(1800), t0);
    let t1 = t0 + secs(300);
    c.on_stop(t1);
    let s = send(&mut c, t1);
    assert_eq!(udp(&s).1, None, "id expired: connect first");
    c.on_udp_connect_response(s.request_id, udp(&s).0, 9, t1);
    let s = send(&mut c, t1);
    assert_eq!(udp(&s).1, Some(9));
    c.on_udp_announce_response(s.request_id, udp(&s).0, answer(1800), t1);
    assert!(c.is_stopped());
}

#[test]
fn unknown_schemes_empty_urls_and_repeats_are_dropped() {
    let t0 = Instant::now();
    let mut c = client(
        &[
            &["wss://tracker.example/announce", "HTTP://A/announce", ""],
            &["magnet:?xt=urn:btih:00", " "],
            &["udp://b:1", "http://A/announce", "HTTP://A/announce"],
        ],
        0,
        t0,
    );
    let mut got: Vec<Vec<&str>> = c.tiers();
    for t in &mut got {
        t.sort();
    }
    assert_eq!(
        got,
        [
            vec!["HTTP://A/announce"],
            vec!["http://A/announce", "udp://b:1"]
        ]
    );
    assert_eq!(
        c.dropped_urls(),
        ["wss://tracker.example/announce", "magnet:?xt=urn:btih:00"]
    );
    let warnings: Vec<String> = events(&mut c)
        .into_iter()
        .map(|e| match e {
            ClientEvent::Warning { url, .. } => url,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(warnings, c.dropped_urls());
    assert_eq!(send(&mut c, t0).url, "HTTP://A/announce");

    // Nothing usable: the client stays idle and stops at once.
    let mut c = client(&[&["ws://x"], &[]], 0, t0);
    assert!(c.tiers().is_empty());
    assert!(c.poll_transmit(t0).is_none());
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + secs(1_000_000));
    assert!(c.poll_transmit(t0).is_none());
    assert_eq!(c.on_stop(t0), t0);
    assert!(c.is_stopped());
}

#[test]
fn at_most_max_urls_are_used() {
    let t0 = Instant::now();
    let urls: Vec<String> = (0..TRACKER_MAX_URLS + 5)
        .map(|i| format!("http://t{i}/"))
        .collect();
    let mut c = TrackerClient::new(params(), vec![urls], 0, t0);
    assert_eq!(c.tiers()[0].len(), TRACKER_MAX_URLS);
    let e = events(&mut c);
    assert_eq!(e.len(), 1);
    assert!(
        matches!(&e[0], ClientEvent::Warning { url, message } if url == &format!("http://t{TRACKER_MAX_URLS}/") && message.contains("4 more")),
        "{e:?}"
    );
}

#[test]
fn peers_are_deduplicated_within_a_response() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"]], 0, t0);
    let o = send(&mut c, t0);
    let v6: SocketAddr = "[2001:db8::1]:6881".parse().unwrap();
    let entry = |addr| PeerEntry {
        addr,
        peer_id: None,
    };
    let mut r = answer(1800);
    r.peers = vec![
        entry(addr(2)),
        entry(addr(1)),
        entry(addr(2)),
        entry(v6),
        PeerEntry {
            addr: addr(1),
            peer_id: Some(PeerId([1; 20])),
        },
        entry(addr(0)),
        entry(v6),
    ];
    r.warning = Some("slow down".into());
    r.tracker_id = Some(b"xyz".to_vec());
    c.on_http_response(o.request_id, Ok(r), t0);
    assert_eq!(
        events(&mut c),
        [
            ClientEvent::Warning {
                url: "http://a".into(),
                message: "slow down".into()
            },
            ClientEvent::Peers(vec![addr(2), addr(1), v6])
        ]
    );
    // The tracker id is sent back in later announces.
    c.handle_timeout(t0 + secs(1800));
    let o = send(&mut c, t0 + secs(1800));
    assert!(matches!(o.kind, RequestKind::Http { tracker_id: Some(ref id), .. } if id == b"xyz"));
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let t0 = Instant::now();
        let mut c = client(&[&["udp://a:1", "udp://b:1", "http://c"]], seed, t0);
        let mut out = Vec::new();
        let mut now = t0;
        for _ in 0..30 {
            while let Some(o) = c.poll_transmit(now) {
                out.push((o.url.clone(), format!("{:?}", o.kind)));
            }
            now = c.poll_timeout().unwrap();
            c.handle_timeout(now);
        }
        out
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn wants_transmit_says_when_a_request_has_no_deadline_yet() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a", "http://b"]], 0, t0);
    // The first round is ready at construction, with no deadline to arm.
    assert!(c.wants_transmit());
    assert_eq!(c.poll_timeout(), None);
    let o = send(&mut c, t0);
    assert!(!c.wants_transmit());
    assert_eq!(c.poll_timeout(), Some(t0 + HTTP_TIMEOUT));
    // A failure the reactor reports hands over to the next tracker at once.
    c.on_request_failed(o.request_id, "refused".into(), t0);
    assert!(c.wants_transmit());
    answer_http(&mut c, t0, 1800);
    assert!(!c.wants_transmit());
    assert_eq!(c.poll_timeout(), Some(t0 + secs(1800)));
    // Stopping: every tracker that knows us gets `stopped` at once.
    c.on_stop(t0 + secs(5));
    assert!(c.wants_transmit());
    send(&mut c, t0 + secs(5));
    assert!(!c.wants_transmit());
}

mod operator;
