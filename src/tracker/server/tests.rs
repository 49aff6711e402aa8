use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::tracker::{AnnounceRequest, AnnounceResponse, Event, PeerEntry};
use crate::types::{InfoHash, PeerId};

const PORT: u16 = 6881;

fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn req(info_hash: InfoHash, left: u64, event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash,
        peer_id: PeerId([b'p'; 20]),
        port: PORT,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: None,
        key: None,
        compact: true,
        no_peer_id: false,
        claimed_ip: None,
    }
}

/// The source address of peer `n`: an IPv4 address and an ephemeral port that the
/// tracker must ignore.
fn src(n: u16) -> SocketAddr {
    let [hi, lo] = n.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, hi, lo)), 40_000 + n)
}

/// Where peer `n` is listed: its source IP and the announced port.
fn listed(n: u16) -> SocketAddr {
    SocketAddr::new(src(n).ip(), PORT)
}

fn tracker(config: TrackerConfig) -> TrackerServer {
    TrackerServer::new(config, 42)
}

fn addrs(resp: &AnnounceResponse) -> Vec<SocketAddr> {
    resp.peers.iter().map(|p| p.addr).collect()
}

fn announce(t: &mut TrackerServer, n: u16, r: &AnnounceRequest, now: Instant) -> AnnounceResponse {
    t.announce(Protocol::Http, src(n), r, now)
        .expect("announce answered")
}

/// Peers `range` join swarm `h` as leechers (or seeders) at `now`.
fn join(
    t: &mut TrackerServer,
    h: InfoHash,
    range: std::ops::Range<u16>,
    seeder: bool,
    now: Instant,
) {
    let left = if seeder { 0 } else { 1000 };
    for n in range {
        announce(t, n, &req(h, left, Event::Started), now);
    }
}

#[test]
fn source_port_is_ignored_and_request_port_used() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 1..2, false, now);
    let resp = announce(&mut t, 2, &req(hash(1), 5, Event::Started), now);
    assert_eq!(addrs(&resp), [listed(1)]);
    assert_eq!(resp.peers[0].peer_id, Some(PeerId([b'p'; 20])));
    assert_eq!(resp.interval, 900);
    assert_eq!(resp.min_interval, Some(300));
    assert_eq!((resp.complete, resp.incomplete), (Some(0), Some(2)));
    t.check_invariants();
}

#[test]
fn sample_never_includes_the_requester() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 0..4, true, now);
    join(&mut t, hash(1), 4..10, false, now);
    for n in 4..10 {
        // Asking for everything: exactly the nine others.
        let all = announce(&mut t, n, &req(hash(1), 1000, Event::None), now);
        let got: HashSet<_> = addrs(&all).into_iter().collect();
        let want: HashSet<_> = (0..10).filter(|&m| m != n).map(listed).collect();
        assert_eq!(got, want);
        assert_eq!(all.peers.len(), 9);
        // Asking for a few: never itself, never twice the same.
        for _ in 0..100 {
            let mut r = req(hash(1), 1000, Event::None);
            r.numwant = Some(3);
            let some = addrs(&announce(&mut t, n, &r, now));
            assert_eq!(some.len(), 3);
            assert!(!some.contains(&listed(n)));
            assert_eq!(some.iter().collect::<HashSet<_>>().len(), 3);
        }
    }
    t.check_invariants();
}

#[test]
fn sample_is_uniform_over_the_others() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    // Five seeders then fifteen leechers; the requester is a leecher in the middle,
    // so the skipped position lies past the seeders.
    join(&mut t, hash(1), 0..5, true, now);
    join(&mut t, hash(1), 5..20, false, now);
    let me = 12;
    let mut r = req(hash(1), 1000, Event::None);
    r.numwant = Some(5);
    let rounds = 19_000;
    let mut seen: HashMap<SocketAddr, u32> = HashMap::new();
    let mut first: HashMap<SocketAddr, u32> = HashMap::new();
    for _ in 0..rounds {
        let got = addrs(&announce(&mut t, me, &r, now));
        for a in &got {
            *seen.entry(*a).or_default() += 1;
        }
        *first.entry(got[0]).or_default() += 1;
    }
    assert_eq!(seen.len(), 19);
    assert!(!seen.contains_key(&listed(me)));
    // Each other peer is in 5 of 19 samples: 5,000 expected, sd about 60.
    for (a, &n) in &seen {
        assert!((4_700..=5_300).contains(&n), "{a} seen {n} times");
    }
    // The order is random too: each peer comes first 1,000 times, sd about 31.
    for (a, &n) in &first {
        assert!((850..=1_150).contains(&n), "{a} first {n} times");
    }
}

#[test]
fn seeders_get_only_leechers() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 0..3, true, now);
    join(&mut t, hash(1), 3..7, false, now);
    let leechers: HashSet<_> = (3..7).map(listed).collect();
    for n in 0..3 {
        let got = addrs(&announce(&mut t, n, &req(hash(1), 0, Event::None), now));
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), leechers);
    }
    // A new seeder, too, whether listed or not.
    let got = addrs(&announce(&mut t, 99, &req(hash(1), 0, Event::Started), now));
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), leechers);
    // A leecher gets seeders and leechers.
    let got = addrs(&announce(&mut t, 3, &req(hash(1), 5, Event::None), now));
    assert_eq!(got.len(), 7);
    // A leecher that finishes turns into a seeder and stops getting seeders.
    let done = announce(&mut t, 3, &req(hash(1), 0, Event::Completed), now);
    assert_eq!(addrs(&done).len(), 3);
    assert_eq!((done.complete, done.incomplete), (Some(5), Some(3)));
    assert_eq!(t.seeder_count(), 5);
    t.check_invariants();
}

#[test]
fn numwant_is_defaulted_and_capped() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 0..300, false, now);
    let mut r = req(hash(1), 1, Event::None);
    assert_eq!(announce(&mut t, 0, &r, now).peers.len(), 50);
    r.numwant = Some(1000);
    let many = addrs(&announce(&mut t, 0, &r, now));
    assert_eq!(many.len(), 200);
    assert_eq!(many.iter().collect::<HashSet<_>>().len(), 200);
    r.numwant = Some(0);
    assert!(announce(&mut t, 0, &r, now).peers.is_empty());
    let small = TrackerConfig {
        max_numwant: 7,
        default_numwant: 10,
        ..TrackerConfig::default()
    };
    let mut t = tracker(small);
    join(&mut t, hash(1), 0..20, false, now);
    r.numwant = None;
    assert_eq!(announce(&mut t, 0, &r, now).peers.len(), 7);
}

#[test]
fn stopped_unlists_and_answers_no_peers() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 0..3, false, now);
    let bye = announce(&mut t, 1, &req(hash(1), 5, Event::Stopped), now);
    assert!(bye.peers.is_empty());
    assert_eq!(bye.incomplete, Some(2));
    assert_eq!(t.peer_count(), 2);
    let got = addrs(&announce(&mut t, 0, &req(hash(1), 5, Event::None), now));
    assert_eq!(got, [listed(2)]);
    // A stop for a peer or torrent never seen is answered and changes nothing.
    announce(&mut t, 9, &req(hash(1), 5, Event::Stopped), now);
    let unknown = announce(&mut t, 9, &req(hash(2), 5, Event::Stopped), now);
    assert_eq!(unknown.incomplete, Some(0));
    assert_eq!(t.torrent_count(), 1);
    t.check_invariants();
    // The emptied swarm is held until the next sweep removes it.
    announce(&mut t, 0, &req(hash(1), 5, Event::Stopped), now);
    announce(&mut t, 2, &req(hash(1), 5, Event::Stopped), now);
    assert_eq!((t.torrent_count(), t.peer_count()), (1, 0));
    let at = t.poll_timeout().expect("a sweep is scheduled");
    t.expire(at);
    assert_eq!(t.torrent_count(), 0);
    assert_eq!(t.poll_timeout(), None);
    t.check_invariants();
}

#[test]
fn completed_is_counted_once_per_peer() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 0..2, false, now);
    let r = announce(&mut t, 0, &req(hash(1), 0, Event::Completed), now);
    assert_eq!(r.downloaded, Some(1));
    let r = announce(&mut t, 0, &req(hash(1), 0, Event::Completed), now);
    assert_eq!(r.downloaded, Some(1));
    let r = announce(&mut t, 1, &req(hash(1), 0, Event::Completed), now);
    assert_eq!(r.downloaded, Some(2));
    // A peer whose first announce is `completed` counts as well.
    let r = announce(&mut t, 2, &req(hash(1), 0, Event::Completed), now);
    assert_eq!((r.downloaded, r.complete), (Some(3), Some(3)));
    assert_eq!(t.counters().downloads, 3);
    assert_eq!(t.scrape(Protocol::Udp, &[hash(1)])[0].1.downloaded, 3);
    t.check_invariants();
}

#[test]
fn silent_peers_expire_and_reannounces_refresh() {
    let t0 = Instant::now();
    let config = TrackerConfig::default();
    let timeout = config.peer_timeout;
    assert_eq!(timeout, TrackerConfig::peer_timeout_for(config.interval));
    assert_eq!(timeout, Duration::from_secs(1920));
    let sweep = config.sweep_interval;
    let mut t = tracker(config);
    assert_eq!(t.poll_timeout(), None);
    join(&mut t, hash(1), 0..2, false, t0);
    assert_eq!(t.poll_timeout(), Some(t0 + sweep));
    // Not due yet: nothing happens.
    t.expire(t0 + sweep - Duration::from_secs(1));
    assert_eq!(t.poll_timeout(), Some(t0 + sweep));
    // Peer 0 re-announces; peer 1 stays silent.
    let t1 = t0 + Duration::from_secs(1000);
    announce(&mut t, 0, &req(hash(1), 5, Event::None), t1);
    // Silent for exactly the timeout: kept.
    t.expire(t0 + timeout);
    assert_eq!(t.peer_count(), 2);
    assert_eq!(t.poll_timeout(), Some(t0 + timeout + sweep));
    // Past it: peer 1 goes, peer 0 stays.
    t.expire(t0 + timeout + sweep);
    assert_eq!(t.peer_count(), 1);
    assert_eq!(t.counters().expired, 1);
    let got = announce(&mut t, 5, &req(hash(1), 5, Event::None), t1 + timeout);
    assert_eq!(addrs(&got), [listed(0)]);
    announce(&mut t, 5, &req(hash(1), 5, Event::Stopped), t1 + timeout);
    // Then peer 0 too, and its swarm with it.
    let late = t1 + timeout + Duration::from_secs(1);
    while let Some(at) = t.poll_timeout() {
        t.expire(at.max(late));
    }
    assert_eq!((t.peer_count(), t.torrent_count()), (0, 0));
    assert_eq!(t.counters().expired, 2);
    t.check_invariants();
}

#[test]
fn expiry_runs_in_bounded_steps() {
    let t0 = Instant::now();
    let config = TrackerConfig {
        expire_batch: 10,
        ..TrackerConfig::default()
    };
    let timeout = config.peer_timeout;
    let mut t = tracker(config);
    for h in 0..5 {
        join(&mut t, hash(h), 0..8, h % 2 == 0, t0);
    }
    assert_eq!(t.peer_count(), 40);
    let mut now = t0 + timeout + Duration::from_secs(61);
    // A fresh peer joins before the sweep and another one during it: both survive.
    join(&mut t, hash(4), 100..101, false, now);
    let mut steps = 0;
    loop {
        let at = t.poll_timeout().expect("scheduled");
        if at > now {
            break;
        }
        t.expire(now);
        steps += 1;
        t.check_invariants();
        if steps == 2 {
            join(&mut t, hash(9), 200..201, false, now);
        }
        now += Duration::from_millis(1);
    }
    // 40 peers and 5 swarms examined ten at a time.
    assert!(steps >= 5, "{steps} steps");
    assert_eq!(t.peer_count(), 2);
    assert_eq!(t.torrent_count(), 2);
    assert_eq!(t.counters().expired, 40);
}

#[test]
fn max_torrents_refuses_new_info_hashes() {
    let now = Instant::now();
    let config = TrackerConfig {
        max_torrents: 2,
        ..TrackerConfig::default()
    };
    let mut t = tracker(config);
    join(&mut t, hash(1), 0..1, false, now);
    join(&mut t, hash(2), 0..1, false, now);
    let r = req(hash(3), 5, Event::Started);
    assert_eq!(
        t.announce(Protocol::Udp, src(1), &r, now),
        Err(Refusal::TooManyTorrents)
    );
    assert_eq!(
        t.counters()
            .announces(Protocol::Udp, Some(Refusal::TooManyTorrents)),
        1
    );
    // Known swarms keep working, and stopping in an unknown one is answered.
    announce(&mut t, 1, &req(hash(1), 5, Event::Started), now);
    announce(&mut t, 1, &req(hash(3), 5, Event::Stopped), now);
    assert_eq!(t.torrent_count(), 2);
    // Once a swarm empties and is swept away, there is room again.
    announce(&mut t, 0, &req(hash(1), 5, Event::Stopped), now);
    announce(&mut t, 1, &req(hash(1), 5, Event::Stopped), now);
    t.expire(t.poll_timeout().expect("scheduled"));
    assert!(t.announce(Protocol::Udp, src(1), &r, now).is_ok());
    t.check_invariants();
}

#[test]
fn a_full_swarm_answers_new_peers_without_listing_them() {
    let now = Instant::now();
    let config = TrackerConfig {
        max_peers_per_torrent: 3,
        ..TrackerConfig::default()
    };
    let mut t = tracker(config);
    join(&mut t, hash(1), 0..3, false, now);
    let extra = announce(&mut t, 3, &req(hash(1), 5, Event::Started), now);
    assert_eq!(addrs(&extra).len(), 3);
    assert_eq!(extra.incomplete, Some(3));
    assert!(extra.warning.as_deref().unwrap().contains("not listed"));
    assert_eq!(t.counters().not_stored_swarm_full, 1);
    // Not listed: nobody gets it, its `completed` is not counted.
    let other = announce(&mut t, 0, &req(hash(1), 5, Event::None), now);
    assert!(!addrs(&other).contains(&listed(3)));
    assert_eq!(other.warning, None);
    let done = announce(&mut t, 3, &req(hash(1), 0, Event::Completed), now);
    assert_eq!(done.downloaded, Some(0));
    // Listed peers re-announce as usual; a leaving one makes room.
    announce(&mut t, 1, &req(hash(1), 5, Event::Stopped), now);
    let now_listed = announce(&mut t, 3, &req(hash(1), 5, Event::None), now);
    assert_eq!(now_listed.warning, None);
    assert_eq!(now_listed.incomplete, Some(3));
    t.check_invariants();
}

#[test]
fn a_full_tracker_answers_new_peers_without_listing_them() {
    let now = Instant::now();
    let config = TrackerConfig {
        max_peers: 2,
        ..TrackerConfig::default()
    };
    let mut t = tracker(config);
    join(&mut t, hash(1), 0..1, false, now);
    join(&mut t, hash(2), 1..2, false, now);
    let extra = announce(&mut t, 2, &req(hash(2), 5, Event::Started), now);
    assert_eq!(addrs(&extra), [listed(1)]);
    assert!(
        extra
            .warning
            .as_deref()
            .unwrap()
            .starts_with("tracker full")
    );
    // A new torrent is answered, but no swarm is made for a peer that is not listed.
    let lonely = announce(&mut t, 2, &req(hash(3), 5, Event::Started), now);
    assert!(lonely.peers.is_empty() && lonely.warning.is_some());
    assert_eq!((t.torrent_count(), t.peer_count()), (2, 2));
    assert_eq!(t.counters().not_stored_tracker_full, 2);
    t.check_invariants();
}

#[test]
fn the_allow_list_refuses_other_torrents() {
    let now = Instant::now();
    let config = TrackerConfig {
        allow: Some([hash(1)].into_iter().collect()),
        ..TrackerConfig::default()
    };
    let mut t = tracker(config);
    join(&mut t, hash(1), 0..2, false, now);
    let r = req(hash(2), 5, Event::Started);
    let refused = t.announce(Protocol::Http, src(0), &r, now);
    assert_eq!(refused, Err(Refusal::NotAllowed));
    assert_eq!(refused.unwrap_err().to_string(), "torrent not tracked here");
    assert_eq!(t.torrent_count(), 1);
    let counts = t.scrape(Protocol::Http, &[hash(2), hash(1)]);
    assert_eq!(counts[0], (hash(2), ScrapeStats::default()));
    assert_eq!(counts[1].1.incomplete, 2);
    assert_eq!(t.counters().refused(), 1);
}

#[test]
fn port_zero_is_refused() {
    let mut t = tracker(TrackerConfig::default());
    let mut r = req(hash(1), 5, Event::Started);
    r.port = 0;
    let got = t.announce(Protocol::Udp, src(1), &r, Instant::now());
    assert_eq!(got, Err(Refusal::InvalidPort));
    assert_eq!(t.torrent_count(), 0);
}

#[test]
fn ipv4_and_ipv6_peers_share_a_swarm() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let mapped: IpAddr = "::ffff:192.0.2.4".parse().unwrap();
    let r = req(hash(1), 5, Event::Started);
    t.announce(Protocol::Udp, SocketAddr::new(v6, 1), &r, now)
        .unwrap();
    // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6: listed as IPv4.
    t.announce(Protocol::Http, SocketAddr::new(mapped, 1), &r, now)
        .unwrap();
    let got = addrs(&announce(&mut t, 1, &r, now));
    let want: HashSet<SocketAddr> = [
        SocketAddr::new(v6, PORT),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 4)), PORT),
    ]
    .into_iter()
    .collect();
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);
    // The IPv6 peer never gets itself back.
    let back = t
        .announce(Protocol::Udp, SocketAddr::new(v6, 2), &r, now)
        .unwrap();
    assert!(!addrs(&back).contains(&SocketAddr::new(v6, PORT)));
    assert_eq!(back.peers.len(), 2);
    t.check_invariants();
}

#[test]
fn claimed_ip_is_ignored_unless_trusted() {
    let now = Instant::now();
    let claimed = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
    let mut r = req(hash(1), 5, Event::Started);
    r.claimed_ip = Some(claimed);
    let probe = req(hash(1), 5, Event::Started);

    let mut t = tracker(TrackerConfig::default());
    announce(&mut t, 1, &r, now);
    assert_eq!(addrs(&announce(&mut t, 2, &probe, now)), [listed(1)]);

    let trusting = TrackerConfig {
        trust_claimed_ip: true,
        ..TrackerConfig::default()
    };
    let mut t = tracker(trusting);
    announce(&mut t, 1, &r, now);
    let got = addrs(&announce(&mut t, 2, &probe, now));
    assert_eq!(got, [SocketAddr::new(claimed, PORT)]);
    // An unspecified claim means nothing.
    r.claimed_ip = Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    announce(&mut t, 3, &r, now);
    assert_eq!(t.peer_count(), 3);
    let got: HashSet<_> = addrs(&announce(&mut t, 2, &probe, now))
        .into_iter()
        .collect();
    assert!(got.contains(&listed(3)));
}

#[test]
fn connection_ids_last_two_windows_and_are_bound_to_the_address() {
    let t0 = Instant::now();
    let window = Duration::from_secs(crate::config::TRACKER_CONNECTION_ID_WINDOW_SECS);
    let ids = ConnectionIds::new([7; 16], t0);
    let a = src(1);
    let issued_at = t0 + window * 3 + Duration::from_secs(100);
    let id = ids.issue(a, issued_at);
    assert!(ids.valid(id, a, issued_at));
    assert!(ids.valid(id, a, t0 + window * 4 - Duration::from_millis(1)));
    assert!(ids.valid(id, a, t0 + window * 5 - Duration::from_millis(1)));
    assert!(!ids.valid(id, a, t0 + window * 5));
    // A later id is not valid earlier, nor an id from before the epoch's first window.
    assert!(!ids.valid(ids.issue(a, t0 + window * 5), a, issued_at));
    // Bound to the IP and the port.
    assert!(!ids.valid(id, src(2), issued_at));
    assert!(!ids.valid(id, SocketAddr::new(a.ip(), a.port() + 1), issued_at));
    // The two spellings of an IPv4 address agree.
    let IpAddr::V4(v4) = a.ip() else { panic!() };
    let mapped = SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port());
    assert!(ids.valid(id, mapped, issued_at));
    // Keyed: another secret gives another id.
    let other = ConnectionIds::new([8; 16], t0);
    assert!(!other.valid(id, a, issued_at));
    assert_ne!(ids.issue(a, t0), ids.issue(a, t0 + window));
    // The secret is never printed.
    assert!(!format!("{ids:?}").contains("secret"));
}

#[test]
fn scrape_reports_counts() {
    let now = Instant::now();
    let config = TrackerConfig {
        max_scrape: 2,
        ..TrackerConfig::default()
    };
    let mut t = tracker(config);
    join(&mut t, hash(1), 0..2, true, now);
    join(&mut t, hash(1), 2..5, false, now);
    announce(&mut t, 2, &req(hash(1), 0, Event::Completed), now);
    join(&mut t, hash(2), 0..1, false, now);
    join(&mut t, hash(3), 0..1, false, now);
    let got = t.scrape(Protocol::Http, &[hash(1), hash(9)]);
    let one = ScrapeStats {
        complete: 3,
        downloaded: 1,
        incomplete: 2,
    };
    assert_eq!(got, [(hash(1), one), (hash(9), ScrapeStats::default())]);
    // At most `max_scrape` entries, asked for or all.
    assert_eq!(
        t.scrape(Protocol::Http, &[hash(3), hash(2), hash(1)]).len(),
        2
    );
    let all = t.scrape(Protocol::Udp, &[]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], (hash(1), one));
    assert_eq!(t.counters().scrapes(Protocol::Http), 2);
    assert_eq!(t.counters().scrapes(Protocol::Udp), 1);
}

#[test]
fn stats_json_and_metrics_text() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    join(&mut t, hash(1), 0..2, true, now);
    join(&mut t, hash(1), 2..5, false, now);
    let udp = req(hash(1), 5, Event::None);
    t.announce(Protocol::Udp, src(2), &udp, now).unwrap();
    let mut bad = udp.clone();
    bad.port = 0;
    let _ = t.announce(Protocol::Udp, src(2), &bad, now);
    t.scrape(Protocol::Udp, &[]);
    t.count_udp_connect();
    t.count_bad_connection_id();
    t.count_malformed(Protocol::Http);

    let json: serde_json::Value = serde_json::from_str(&t.stats_json().to_string()).unwrap();
    assert_eq!(json["torrents"], 1);
    assert_eq!(json["peers"], 5);
    assert_eq!(json["seeders"], 2);
    assert_eq!(json["leechers"], 3);
    assert_eq!(json["announces"]["http"]["ok"], 5);
    assert_eq!(json["announces"]["udp"]["ok"], 1);
    assert_eq!(json["announces"]["udp"]["invalid_port"], 1);
    assert_eq!(json["refused"], 1);
    assert_eq!(json["scrapes"]["udp"], 1);
    assert_eq!(json["malformed"]["http"], 1);
    assert_eq!(json["udp_connects"], 1);
    assert_eq!(json["udp_bad_connection_ids"], 1);
    assert!(json["memory_bytes"].as_u64().unwrap() > 0);
    assert!(json["memory_per_peer_bytes"].as_u64().unwrap() > 0);

    let text = t.metrics_text();
    let mut helped = HashSet::new();
    let mut typed = HashMap::new();
    let mut samples = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(!help.is_empty());
            assert!(helped.insert(name.to_owned()), "{name} described twice");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(kind == "counter" || kind == "gauge");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
            typed.insert(name.to_owned(), kind.to_owned());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            value.parse::<u64>().unwrap();
            let name = series.split('{').next().unwrap();
            assert!(name.starts_with("hivebt_tracker_"), "{name}");
            assert!(typed.contains_key(name), "{name} has no TYPE line");
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    assert!(labels.starts_with('{') && labels.ends_with('}'));
                }
            }
            samples += 1;
        }
    }
    assert!(samples > 10);
    for line in [
        "hivebt_tracker_torrents 1",
        "hivebt_tracker_peers{kind=\"seeder\"} 2",
        "hivebt_tracker_announces_total{protocol=\"udp\",outcome=\"ok\"} 1",
        "hivebt_tracker_announces_total{protocol=\"udp\",outcome=\"invalid_port\"} 1",
        "hivebt_tracker_announces_total{protocol=\"http\",outcome=\"not_allowed\"} 0",
        "hivebt_tracker_scrapes_total{protocol=\"udp\"} 1",
        "hivebt_tracker_udp_bad_connection_ids_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
}

#[test]
fn memory_estimate_grows_with_peers() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    let empty = t.memory_estimate();
    for h in 0..10 {
        join(&mut t, hash(h), 0..1000, h % 3 == 0, now);
    }
    let full = t.memory_estimate();
    let per_peer = (full - empty) / t.peer_count();
    // A peer's packed entry (30 bytes), its index slot (4 bytes, 1/4 to 3/4 full) and
    // the vectors' slack (a quarter at most).
    assert!((34..=64).contains(&per_peer), "{per_peer} bytes per peer");
}

/// splitmix64, for the random walk below.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the walk expects of one listed peer.
#[derive(Clone, Copy)]
struct ModelPeer {
    seeder: bool,
    last_seen: Instant,
}

/// Random announces (every event, both families, seeders and leechers, all limits hit),
/// expiry steps and scrapes against a model of who is listed. The invariants are checked
/// after every step and every answer against the model.
#[test]
fn random_walk_keeps_books() {
    for run in 0..4u64 {
        let mut rng = run;
        let config = TrackerConfig {
            max_torrents: 3,
            max_peers_per_torrent: 12,
            max_peers: 30,
            expire_batch: 7,
            peer_timeout: Duration::from_secs(300),
            sweep_interval: Duration::from_secs(20),
            ..TrackerConfig::default()
        };
        let timeout = config.peer_timeout;
        let mut t = TrackerServer::new(config, run);
        let mut model: HashMap<(InfoHash, SocketAddr), ModelPeer> = HashMap::new();
        let mut now = Instant::now();
        for _ in 0..20_000 {
            let r = next(&mut rng);
            now += Duration::from_millis(r % 4000);
            if r % 11 == 0 {
                t.expire(now);
                // Whoever the tracker dropped had been silent for too long.
                model.retain(|(h, a), p| {
                    let held = t
                        .index
                        .get(h)
                        .is_some_and(|&i| t.swarms[i as usize].get(a).is_some());
                    assert!(held || now.saturating_duration_since(p.last_seen) > timeout);
                    held
                });
                t.check_invariants();
                continue;
            }
            let h = hash((r >> 8) as u8 % 4);
            let n = (r >> 16) as u16 % 40;
            let ip = if n % 3 == 0 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))
            } else {
                src(n).ip()
            };
            let from = SocketAddr::new(ip, 1);
            let addr = SocketAddr::new(ip, PORT);
            let event = [
                Event::Started,
                Event::None,
                Event::Completed,
                Event::Stopped,
            ][(r >> 24) as usize % 4];
            let seeder = (r >> 32) % 3 == 0;
            let mut q = req(hash(0), 0, event);
            q.info_hash = h;
            q.left = if seeder { 0 } else { 100 };
            q.numwant = Some((r >> 40) as u32 % 16);
            let held = t.index.contains_key(&h);
            let full = t.swarms.len() >= 3;
            let got = t.announce(Protocol::Udp, from, &q, now);
            if !held && event != Event::Stopped && full {
                assert_eq!(got, Err(Refusal::TooManyTorrents));
                continue;
            }
            let resp = got.expect("answered");
            let swarm_len = model.keys().filter(|(mh, _)| *mh == h).count();
            let was_listed = model.contains_key(&(h, addr));
            if event == Event::Stopped {
                model.remove(&(h, addr));
                assert!(resp.peers.is_empty());
            } else if was_listed || (swarm_len < 12 && model.len() < 30) {
                model.insert(
                    (h, addr),
                    ModelPeer {
                        seeder,
                        last_seen: now,
                    },
                );
                assert_eq!(resp.warning, None);
            } else {
                assert!(resp.warning.is_some());
            }
            let in_swarm: Vec<_> = model.iter().filter(|((mh, _), _)| *mh == h).collect();
            let seeders = in_swarm.iter().filter(|(_, p)| p.seeder).count();
            assert_eq!(resp.complete, Some(seeders as u32));
            assert_eq!(resp.incomplete, Some((in_swarm.len() - seeders) as u32));
            let eligible: HashSet<SocketAddr> = in_swarm
                .iter()
                .filter(|((_, a), p)| *a != addr && !(seeder && p.seeder))
                .map(|((_, a), _)| *a)
                .collect();
            if event != Event::Stopped {
                let got: HashSet<_> = addrs(&resp).into_iter().collect();
                assert_eq!(got.len(), resp.peers.len(), "duplicates");
                assert!(got.is_subset(&eligible));
                let want = q.numwant.unwrap_or(0) as usize;
                assert_eq!(got.len(), want.min(eligible.len()));
            }
            assert_eq!(t.peer_count(), model.len());
            if r % 7 == 0 {
                t.check_invariants();
                let counts = t.scrape(Protocol::Udp, &[h]);
                assert_eq!(counts[0].1.complete, seeders as u32);
            }
        }
        t.check_invariants();
        assert!(t.counters().expired > 0, "run {run} never expired a peer");
        assert!(t.counters().not_stored_swarm_full > 0);
        assert!(t.counters().not_stored_tracker_full > 0);
    }
}

#[test]
fn peer_entries_carry_the_latest_peer_id() {
    let now = Instant::now();
    let mut t = tracker(TrackerConfig::default());
    let mut r = req(hash(1), 5, Event::Started);
    announce(&mut t, 1, &r, now);
    r.peer_id = PeerId([b'q'; 20]);
    announce(&mut t, 1, &r, now);
    assert_eq!(t.peer_count(), 1);
    let got = announce(&mut t, 2, &req(hash(1), 5, Event::Started), now);
    assert_eq!(
        got.peers,
        [PeerEntry {
            addr: listed(1),
            peer_id: Some(PeerId([b'q'; 20])),
        }]
    );
}
