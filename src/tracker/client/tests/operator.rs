//! What a daemon's operator does and sees: `reannounce` and `tracker_status`, on the
//! same simulated clock and hand-played reactor as the schedule tests.

use super::*;

fn status(c: &TrackerClient, now: Instant) -> Vec<TrackerStatus> {
    c.tracker_status(now)
}

/// The status of `url`; panics if it is not listed.
fn of(c: &TrackerClient, url: &str, now: Instant) -> TrackerStatus {
    status(c, now)
        .into_iter()
        .find(|s| s.url == url)
        .expect("the tracker is listed")
}

fn counts(complete: u32, incomplete: u32, ports: &[u16]) -> AnnounceResponse {
    let mut r = answer(1800);
    r.complete = Some(complete);
    r.incomplete = Some(incomplete);
    r.peers = ports
        .iter()
        .map(|&p| PeerEntry {
            addr: addr(p),
            peer_id: None,
        })
        .collect();
    r
}

#[test]
fn reannounce_starts_a_round_at_once_but_not_within_the_spacing() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"]], 0, t0);
    answer_http(&mut c, t0, 1800);
    // The round started at t0: too soon.
    assert!(!c.reannounce(t0 + secs(5)));
    assert!(c.poll_transmit(t0 + secs(5)).is_none());
    assert_eq!(c.poll_timeout(), Some(t0 + secs(1800)));

    let t1 = t0 + MANUAL_REANNOUNCE_SPACING;
    assert!(c.reannounce(t1));
    let o = send(&mut c, t1);
    assert_eq!((o.url.as_str(), http(&o).event), ("http://a", Event::None));
    assert_eq!(c.poll_timeout(), Some(t1 + HTTP_TIMEOUT));
    // A round under way is the announce asked for: nothing more is sent.
    assert!(c.reannounce(t1 + secs(1)));
    assert!(c.poll_transmit(t1 + secs(1)).is_none());
    c.on_http_response(o.request_id, Ok(answer(1800)), t1 + secs(2));
    // Answered, but the round started less than the spacing ago.
    assert!(!c.reannounce(t1 + secs(9)));
    assert!(c.poll_transmit(t1 + secs(9)).is_none());
    assert!(c.reannounce(t1 + secs(10)));
    assert!(c.poll_transmit(t1 + secs(10)).is_some());
}

#[test]
fn reannounce_cuts_a_backoff_short_and_is_refused_once_stopping() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"]], 0, t0);
    fail_http(&mut c, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + secs(15)));
    assert!(c.reannounce(t0 + secs(12)));
    assert_eq!(http(&send(&mut c, t0 + secs(12))).event, Event::Started);

    let mut c = client(&[&["http://a"]], 0, t0);
    answer_http(&mut c, t0, 1800);
    c.on_stop(t0 + secs(100));
    assert!(!c.reannounce(t0 + secs(100)));
    send(&mut c, t0 + secs(100));
    assert!(c.poll_transmit(t0 + secs(100)).is_none());
    c.handle_timeout(t0 + secs(100) + STOP_TIMEOUT);
    assert!(c.is_stopped());
    assert!(!c.reannounce(t0 + secs(200)));
    assert!(c.poll_transmit(t0 + secs(200)).is_none());

    let mut c = client(&[&["ws://x"]], 0, t0);
    assert!(!c.reannounce(t0 + secs(100)));
}

#[test]
fn status_lists_trackers_in_tier_order_with_their_tiers() {
    let t0 = Instant::now();
    let c = client(
        &[
            &["http://a", "http://b"],
            &["udp://c:1"],
            &["http://d", "http://e"],
        ],
        4,
        t0,
    );
    let s = status(&c, t0);
    let urls: Vec<&str> = s.iter().map(|s| s.url.as_str()).collect();
    let order: Vec<&str> = c.tiers().into_iter().flatten().collect();
    assert_eq!(urls, order);
    let tiers: Vec<usize> = s.iter().map(|s| s.tier).collect();
    assert_eq!(tiers, [0, 0, 1, 2, 2]);
    // The first request is queued for its tracker; nobody else was contacted.
    let states: Vec<TrackerState> = s.iter().map(|s| s.state).collect();
    assert_eq!(states[0], TrackerState::Updating);
    assert!(
        states[1..]
            .iter()
            .all(|&st| st == TrackerState::NotContacted)
    );
    assert!(
        s.iter()
            .all(|s| s.last_error.is_none() && s.peers_received == 0)
    );
    assert!(
        s.iter().all(|s| s.next_announce.is_none()),
        "a round is under way"
    );
}

#[test]
fn status_after_an_http_answer_and_the_next_announce_counting_down() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"], &["http://b"]], 0, t0);
    let o = send(&mut c, t0);
    assert_eq!(of(&c, "http://a", t0).state, TrackerState::Updating);
    c.on_http_response(o.request_id, Ok(counts(5, 7, &[1, 2, 1, 0])), t0);
    let a = of(&c, "http://a", t0);
    assert_eq!(a.state, TrackerState::Working);
    assert_eq!((a.seeders, a.leechers), (Some(5), Some(7)));
    assert_eq!(a.peers_received, 2, "distinct addresses with a port");
    assert_eq!(a.last_error, None);
    assert_eq!(a.next_announce, Some(secs(1800)));
    let b = of(&c, "http://b", t0);
    assert_eq!(
        (b.state, b.next_announce),
        (TrackerState::NotContacted, None)
    );

    assert_eq!(
        of(&c, "http://a", t0 + secs(800)).next_announce,
        Some(secs(1000))
    );
    assert_eq!(
        of(&c, "http://a", t0 + secs(2000)).next_announce,
        Some(Duration::ZERO),
        "overdue"
    );

    // An answer without swarm counts keeps the last ones; peers add up.
    let t1 = t0 + secs(1800);
    c.handle_timeout(t1);
    assert_eq!(of(&c, "http://a", t1).next_announce, None);
    answer_http(&mut c, t1, 1800);
    let a = of(&c, "http://a", t1);
    assert_eq!((a.seeders, a.leechers), (Some(5), Some(7)));
    assert_eq!(a.peers_received, 3);
}

#[test]
fn status_after_a_failure_reason_and_a_transport_failure() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a", "http://b"]], 0, t0);
    let order: Vec<String> = c.tiers()[0].iter().map(|u| u.to_string()).collect();
    let o = send(&mut c, t0);
    c.on_http_response(o.request_id, Err("torrent not registered".into()), t0);
    let first = of(&c, &order[0], t0);
    assert_eq!(first.state, TrackerState::Failed);
    assert_eq!(first.last_error.as_deref(), Some("torrent not registered"));
    assert_eq!(of(&c, &order[1], t0).state, TrackerState::Updating);

    let o = send(&mut c, t0);
    c.on_request_failed(o.request_id, "connection refused".into(), t0);
    let second = of(&c, &order[1], t0);
    assert_eq!(second.state, TrackerState::Failed);
    assert_eq!(second.last_error.as_deref(), Some("connection refused"));
    // The backoff's round starts with the first tracker.
    assert_eq!(of(&c, &order[0], t0).next_announce, Some(secs(15)));

    // A new attempt shows as updating with the old error; an answer clears it.
    c.handle_timeout(t0 + secs(15));
    let first = of(&c, &order[0], t0 + secs(15));
    assert_eq!(first.state, TrackerState::Updating);
    assert_eq!(first.last_error.as_deref(), Some("torrent not registered"));
    answer_http(&mut c, t0 + secs(15), 1800);
    let first = of(&c, &order[0], t0 + secs(15));
    assert_eq!(
        (first.state, first.last_error),
        (TrackerState::Working, None)
    );
}

#[test]
fn status_after_timeouts_over_http_and_udp() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"], &["udp://u:1"]], 0, t0);
    send(&mut c, t0);
    c.handle_timeout(t0 + HTTP_TIMEOUT);
    let a = of(&c, "http://a", t0 + HTTP_TIMEOUT);
    assert_eq!(a.state, TrackerState::Failed);
    assert!(
        a.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer")),
        "{a:?}"
    );

    // A silent UDP tracker stays updating through its retransmissions, then fails.
    let mut now = t0 + HTTP_TIMEOUT;
    send(&mut c, now);
    for _ in 0..UDP_MAX_RETRANSMIT_EXPONENT {
        now = c.poll_timeout().expect("a retransmission");
        c.handle_timeout(now);
        assert_eq!(of(&c, "udp://u:1", now).state, TrackerState::Updating);
        send(&mut c, now);
    }
    now = c.poll_timeout().expect("the last deadline");
    c.handle_timeout(now);
    let u = of(&c, "udp://u:1", now);
    assert_eq!(u.state, TrackerState::Failed);
    assert!(
        u.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer")),
        "{u:?}"
    );
}

#[test]
fn status_after_udp_answers_and_errors() {
    let t0 = Instant::now();
    let mut c = client(&[&["udp://u:1"], &["udp://v:1"]], 9, t0);
    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 3, t0);
    assert_eq!(
        of(&c, "udp://u:1", t0).state,
        TrackerState::Updating,
        "a connect answer is half an announce"
    );
    let a = send(&mut c, t0);
    c.on_udp_error(a.request_id, udp(&a).0, "unknown torrent".into(), t0);
    let u = of(&c, "udp://u:1", t0);
    assert_eq!(u.state, TrackerState::Failed);
    assert_eq!(u.last_error.as_deref(), Some("unknown torrent"));

    let o = send(&mut c, t0);
    c.on_udp_connect_response(o.request_id, udp(&o).0, 4, t0);
    let a = send(&mut c, t0);
    c.on_udp_announce_response(a.request_id, udp(&a).0, counts(1, 2, &[9]), t0);
    let v = of(&c, "udp://v:1", t0);
    assert_eq!(v.state, TrackerState::Working);
    assert_eq!(
        (v.seeders, v.leechers, v.peers_received),
        (Some(1), Some(2), 1)
    );
}

#[test]
fn status_through_the_stop_phase() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"], &["http://b"]], 0, t0);
    answer_http(&mut c, t0, 60);
    c.handle_timeout(t0 + secs(60));
    fail_http(&mut c, t0 + secs(60));
    answer_http(&mut c, t0 + secs(60), 1800);
    let t1 = t0 + secs(100);
    c.on_stop(t1);
    let s = status(&c, t1);
    assert!(s.iter().all(|s| s.state == TrackerState::Updating));
    assert!(s.iter().all(|s| s.next_announce.is_none()));
    let first = send(&mut c, t1);
    send(&mut c, t1);
    c.on_http_response(first.request_id, Ok(answer(1800)), t1);
    assert_eq!(of(&c, &first.url, t1).state, TrackerState::Working);
    // The other never answers `stopped`: the deadline fails it.
    c.handle_timeout(t1 + STOP_TIMEOUT);
    assert!(c.is_stopped());
    let other = if first.url == "http://a" {
        "http://b"
    } else {
        "http://a"
    };
    let o = of(&c, other, t1 + STOP_TIMEOUT);
    assert_eq!(o.state, TrackerState::Failed);
    assert!(o.last_error.is_some_and(|e| e.contains("stopped")));
}

#[test]
fn long_errors_are_cut_on_a_character_boundary() {
    let t0 = Instant::now();
    let mut c = client(&[&["http://a"]], 0, t0);
    let o = send(&mut c, t0);
    let long = "é".repeat(STATUS_ERROR_MAX_CHARS + 50);
    c.on_http_response(o.request_id, Err(long.clone()), t0);
    let e = of(&c, "http://a", t0).last_error.expect("an error");
    assert_eq!(e.chars().count(), STATUS_ERROR_MAX_CHARS);
    assert!(long.starts_with(&e));
    // The event still carries the whole text.
    assert!(events(&mut c).contains(&ClientEvent::Error {
        url: "http://a".into(),
        message: long
    }));
}

#[test]
fn state_names_are_stable() {
    let names = [
        TrackerState::NotContacted,
        TrackerState::Updating,
        TrackerState::Working,
        TrackerState::Failed,
    ]
    .map(|s| s.as_str());
    assert_eq!(names, ["not_contacted", "updating", "working", "failed"]);
}
