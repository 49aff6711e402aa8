//! The compact swarm on its own: the switch between a scanned and an indexed family and
//! back, the seeder/leecher partition under every move, expiry by tick, and the memory
//! a small swarm costs.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;

fn v4(n: u32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)), 6881)
}

fn v6(n: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n)),
        6881,
    )
}

fn id(n: u32) -> PeerId {
    let mut id = [0; 20];
    id[..4].copy_from_slice(&n.to_le_bytes());
    PeerId(id)
}

fn swarm() -> Swarm {
    Swarm::new(InfoHash([1; 20]))
}

#[test]
fn entries_are_packed() {
    assert_eq!(size_of::<Entry<[u8; 4]>>(), 30);
    assert_eq!(size_of::<Entry<[u8; 16]>>(), 42);
    assert!(size_of::<Swarm>() <= 72, "{}", size_of::<Swarm>());
}

#[test]
fn a_family_is_indexed_past_the_threshold_and_unindexed_below_the_lower_one() {
    let mut s = swarm();
    for n in 0..INDEX_ABOVE as u32 {
        s.insert(v4(n), id(n), Tick(0), n % 3 == 0);
        assert!(s.v4.index.is_none(), "indexed at {}", n + 1);
    }
    s.insert(v4(999), id(999), Tick(0), false);
    assert!(s.v4.index.is_some());
    s.check_invariants();
    // Grow well past it (the index grows too), then shrink back step by step.
    for n in 1000..1300 {
        s.insert(v4(n), id(n), Tick(0), n % 2 == 0);
    }
    s.check_invariants();
    let mut all: Vec<SocketAddr> = (0..INDEX_ABOVE as u32).map(v4).collect();
    all.push(v4(999));
    all.extend((1000..1300).map(v4));
    while let Some(a) = all.pop() {
        assert!(s.get(&a).is_some(), "{a} lost");
        s.remove(&a).expect("listed");
        assert!(s.get(&a).is_none());
        if all.len() % 7 == 0 {
            s.check_invariants();
        }
        let len = all.len();
        if len >= UNINDEX_BELOW {
            // Between the two thresholds it keeps what it had: the index.
            assert!(s.v4.index.is_some(), "unindexed at {len}");
        } else {
            assert!(s.v4.index.is_none(), "still indexed at {len}");
        }
        for b in all.iter().rev().take(5) {
            assert!(s.get(b).is_some(), "{b} lost at {len}");
        }
    }
    assert!(s.is_empty());
    assert_eq!(
        s.v4.entries.capacity(),
        0,
        "an empty family keeps no buffer"
    );
}

#[test]
fn random_moves_keep_the_partition_and_the_index() {
    let mut state = 3u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as u32
    };
    let mut s = swarm();
    let mut model: HashMap<SocketAddr, bool> = HashMap::new();
    for step in 0..20_000 {
        let r = next();
        // Up to 80 addresses, so the family crosses both thresholds again and again.
        let a = if r % 5 == 0 {
            v6((r >> 8) as u16 % 40)
        } else {
            v4((r >> 8) % 80)
        };
        let seeder = (r >> 16) % 2 == 0;
        match (r >> 20) % 3 {
            0 => {
                assert_eq!(s.remove(&a), model.remove(&a));
            }
            _ => match s.get(&a) {
                Some(slot) => {
                    assert_eq!(s.is_seeder(slot), model[&a]);
                    let moved = s.set_seeder(slot, seeder);
                    assert_eq!(s.is_seeder(moved), seeder);
                    model.insert(a, seeder);
                }
                None => {
                    let slot = s.insert(a, id(step), Tick(step), seeder);
                    assert_eq!(s.is_seeder(slot), seeder);
                    model.insert(a, seeder);
                }
            },
        }
        s.check_peer(&a);
        if step % 97 == 0 {
            s.check_invariants();
            let seeders = model.values().filter(|&&sd| sd).count();
            assert_eq!(s.counts(), (seeders, model.len() - seeders));
            for b in model.keys() {
                assert!(s.get(b).is_some());
            }
        }
    }
    s.check_invariants();
}

#[test]
fn the_latest_peer_id_and_the_completed_mark_are_kept() {
    let mut s = swarm();
    let slot = s.insert(v4(1), id(1), Tick(5), false);
    assert!(!s.refresh(slot, Tick(6), id(2), false));
    assert!(
        s.refresh(slot, Tick(7), id(3), true),
        "first completed counts"
    );
    assert!(
        !s.refresh(slot, Tick(8), id(3), true),
        "the second does not"
    );
    let e = s.v4.entries[slot.pos as usize];
    assert!(e.completed());
    assert_eq!(e.seen(), Tick(8));
    assert_eq!(e.peer_id, id(3));
    // The mark survives moves between the seeders and the leechers.
    s.insert(v4(2), id(2), Tick(8), true);
    let moved = s.set_seeder(s.get(&v4(1)).unwrap(), true);
    assert!(s.v4.entries[moved.pos as usize].completed());
    s.downloaded = 1;
    s.check_invariants();
}

#[test]
fn expiry_drops_peers_silent_for_more_than_the_timeout() {
    let mut s = swarm();
    for n in 0..50 {
        s.insert(v4(n), id(n), Tick(n), n % 2 == 0);
    }
    s.insert(v6(1), id(1), Tick(0), false);
    s.insert(v6(2), id(2), Tick(40), true);
    let mut cursor = Cursor::default();
    let mut tally = Tally::default();
    let mut budget = usize::MAX;
    // At tick 110 with a timeout of 80: seen at 29 or earlier goes.
    assert!(s.expire_step(&mut cursor, Tick(110), 80, &mut budget, &mut tally));
    assert_eq!(tally.seeders + tally.leechers, 31);
    assert_eq!(tally.seeders, 15);
    assert_eq!(s.len(), 21);
    assert!(s.get(&v4(29)).is_none() && s.get(&v4(30)).is_some());
    assert!(s.get(&v6(1)).is_none() && s.get(&v6(2)).is_some());
    s.check_invariants();
    // In bounded steps, the rest at a later tick; the IPv6 family goes when empty.
    let mut cursor = Cursor::default();
    let mut steps = 0;
    loop {
        let mut budget = 4;
        steps += 1;
        if s.expire_step(&mut cursor, Tick(1000), 80, &mut budget, &mut tally) {
            break;
        }
    }
    assert!(steps >= 21 / 4, "{steps} steps");
    assert!(s.is_empty());
    assert!(s.v6.is_none());
    s.check_invariants();
}

#[test]
fn samples_cover_both_families_and_skip_the_requester() {
    let mut s = swarm();
    for n in 0..40 {
        s.insert(v4(n), id(n), Tick(0), n < 10);
    }
    for n in 0..5 {
        s.insert(v6(n), id(u32::from(n)), Tick(0), n < 2);
    }
    let mut rng = Rng::new(9);
    let mut picked = HashSet::new();
    for requester in [v4(3), v4(20), v6(1), v6(4)] {
        let slot = s.get(&requester);
        for leechers_only in [false, true] {
            let mut out = Vec::new();
            s.sample(slot, leechers_only, 1000, &mut rng, &mut picked, &mut out);
            let got: HashSet<SocketAddr> = out.iter().map(|p| p.addr).collect();
            assert_eq!(got.len(), out.len());
            assert!(!got.contains(&requester));
            let want = if leechers_only { 30 + 3 } else { 45 };
            let me = usize::from(!leechers_only || !s.is_seeder(slot.unwrap()));
            assert_eq!(out.len(), want - me, "{requester} {leechers_only}");
            let mut few = Vec::new();
            s.sample(slot, leechers_only, 7, &mut rng, &mut picked, &mut few);
            assert_eq!(few.len(), 7);
            assert!(few.iter().all(|p| got.contains(&p.addr)));
        }
    }
}

#[test]
fn a_ten_peer_swarm_costs_well_under_64_bytes_a_peer() {
    let mut s = swarm();
    for n in 0..10 {
        s.insert(v4(n), id(n), Tick(0), n % 4 == 0);
    }
    let bytes = size_of::<Swarm>() + s.heap_bytes();
    assert!(bytes <= 10 * 48, "{bytes} bytes");
}
