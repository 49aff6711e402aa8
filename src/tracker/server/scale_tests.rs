//! The core at scale: memory per listed peer (the estimate and the process's resident
//! set) and announces per second on one thread, with 1,000,000 peers over 100,000
//! torrents. Ignored by default; run in release:
//!
//! ```sh
//! cargo test --release --lib tracker::server::scale_tests -- --ignored --nocapture --test-threads 1
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use super::*;
use crate::tracker::{AnnounceRequest, Event};
use crate::types::{InfoHash, PeerId};

/// splitmix64: info-hashes and the announce order.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn info_hash(t: u32) -> InfoHash {
    let mut h = [0; 20];
    for (i, chunk) in h.chunks_mut(8).enumerate() {
        let v = mix(u64::from(t) << 2 | i as u64).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    InfoHash(h)
}

/// The process's resident set in KiB, from `/proc/self/status`.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Peer `g` (numbered over all swarms): its own IPv4 address, one in four a seeder.
fn request(t: u32, g: u32, event: Event) -> (SocketAddr, AnnounceRequest) {
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + g)), 1);
    let mut id = [b'-'; 20];
    id[..4].copy_from_slice(&g.to_le_bytes());
    let req = AnnounceRequest {
        info_hash: info_hash(t),
        peer_id: PeerId(id),
        port: 6881 + (g % 1000) as u16,
        uploaded: 0,
        downloaded: 0,
        left: if g % 4 == 0 { 0 } else { 1000 },
        event,
        numwant: Some(30),
        key: None,
        compact: true,
        no_peer_id: false,
        claimed_ip: None,
    };
    (from, req)
}

/// Lists `sizes[t]` peers in torrent `t`, announcing in a shuffled order, then has
/// every peer re-announce once (again shuffled); prints the figures.
fn run(name: &str, sizes: &[u32]) {
    let mut order: Vec<(u32, u32)> = Vec::new();
    let mut g = 0;
    for (t, &n) in sizes.iter().enumerate() {
        for _ in 0..n {
            order.push((t as u32, g));
            g += 1;
        }
    }
    let mut state = 7;
    for i in (1..order.len()).rev() {
        state = mix(state);
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let config = TrackerConfig {
        max_torrents: sizes.len(),
        max_peers: order.len(),
        ..TrackerConfig::default()
    };
    let rss0 = vm_rss_kib();
    let mut t = TrackerServer::new(config, 1);
    let empty = t.memory_estimate();
    let now = Instant::now();
    let started = Instant::now();
    for &(tor, g) in &order {
        let (from, req) = request(tor, g, Event::Started);
        let _ = t.announce(Protocol::Udp, from, &req, now);
    }
    let load_secs = started.elapsed().as_secs_f64();
    let rss1 = vm_rss_kib();
    let peers = t.peer_count();
    assert_eq!(peers, order.len());
    let estimate = t.memory_estimate();
    let started = Instant::now();
    for &(tor, g) in order.iter().rev() {
        let (from, req) = request(tor, g, Event::None);
        let _ = t.announce(Protocol::Udp, from, &req, now);
    }
    let again_secs = started.elapsed().as_secs_f64();
    assert_eq!(t.peer_count(), peers);
    let n = peers as f64;
    println!(
        "{name}: {peers} peers in {} torrents; memory_estimate {} B = {:.1} B/peer \
         (empty {empty} B); RSS {rss0} -> {rss1} KiB = {:.1} B/peer; \
         new-peer announces {:.0}/s, re-announces {:.0}/s (numwant 30)",
        t.torrent_count(),
        estimate,
        estimate as f64 / n,
        (rss1.saturating_sub(rss0) * 1024) as f64 / n,
        n / load_secs,
        n / again_secs,
    );
}

#[test]
#[ignore = "1 M peers: run in release with --ignored --nocapture"]
fn scale_uniform_1m_peers_over_100k_torrents() {
    run("uniform", &vec![10; 100_000]);
}

#[test]
#[ignore = "1 M peers: run in release with --ignored --nocapture"]
fn scale_skewed_1m_peers_over_100k_torrents() {
    // Ten swarms of 50,000 and 99,990 of 5.
    let mut sizes = vec![50_000; 10];
    sizes.extend(std::iter::repeat_n(5, 99_990));
    run("skewed", &sizes);
}
