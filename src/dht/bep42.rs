//! BEP 42, the DHT security extension: a node id tied to its node's external IP
//! address, and the vote that tells us our own.
//!
//! An id is valid for an address when its first 21 bits are those of
//! `crc32c((ip & mask) | (r << 29))` (IPv4, mask `0x030f3fff`; for IPv6 the first 8
//! bytes, mask `0x0103070f1f3f7fff`, `r` in the top 3 bits alike), where `r` is the
//! low 3 bits of the id's last byte. Local and private addresses are exempt: any id
//! is valid for them. Pure: no clock, no I/O; depends on `wire::krpc` for [`NodeId`].
//!
//! [`ExternalIp`] counts the `ip` field of answers to our queries, one vote per
//! answering IP per round, over a bounded number of addresses; an address wins with
//! [`VOTES_NEEDED`] votes that are also a majority of the round.

use std::net::IpAddr;

use crate::wire::krpc::NodeId;

/// Votes (distinct answering IPs) an address needs to become our external address.
pub const VOTES_NEEDED: usize = 10;
/// Addresses voted for that are tracked at once.
pub const CANDIDATES: usize = 16;
/// Votes after which a round ends and counting starts over (so an address that
/// changed can win against the old one's votes).
pub const ROUND: usize = 100;

const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

/// CRC-32C (Castagnoli, reflected polynomial `0x82f63b78`), bit by bit: it runs on
/// 4 or 8 bytes at a time, seldom.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Whether BEP 42 leaves `ip` alone: loopback, private, link-local (IPv4), loopback
/// and unique-local (IPv6), and the unspecified address.
pub fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] == 10
                || (o[0] == 172 && o[1] & 0xf0 == 16)
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 169 && o[1] == 254)
                || o[0] == 127
                || a.is_unspecified()
        }
        IpAddr::V6(a) => a.is_loopback() || a.is_unspecified() || a.octets()[0] & 0xfe == 0xfc,
    }
}

/// The CRC an id for `ip` starts with, for the 3 bits `r`.
fn prefix(ip: IpAddr, r: u8) -> u32 {
    let mut bytes = [0u8; 8];
    let n = match ip {
        IpAddr::V4(a) => {
            for (b, (o, m)) in bytes.iter_mut().zip(a.octets().iter().zip(V4_MASK)) {
                *b = o & m;
            }
            4
        }
        IpAddr::V6(a) => {
            for (b, (o, m)) in bytes.iter_mut().zip(a.octets().iter().zip(V6_MASK)) {
                *b = o & m;
            }
            8
        }
    };
    bytes[0] |= (r & 0x7) << 5;
    crc32c(&bytes[..n])
}

/// A valid id for `ip`: 21 bits of its CRC, then the bytes of `random` (the first
/// two and the top 5 bits of the third overwritten), the last byte `r`.
pub fn node_id(ip: IpAddr, r: u8, random: [u8; 20]) -> NodeId {
    let crc = prefix(ip, r).to_be_bytes();
    let mut id = random;
    id[0] = crc[0];
    id[1] = crc[1];
    id[2] = (crc[2] & 0xf8) | (random[2] & 0x07);
    id[19] = r;
    NodeId(id)
}

/// Whether `id` is valid for `ip` by BEP 42 (the exemption aside).
pub fn is_valid(id: &NodeId, ip: IpAddr) -> bool {
    let crc = prefix(ip, id.0[19]).to_be_bytes();
    id.0[0] == crc[0] && id.0[1] == crc[1] && (id.0[2] ^ crc[2]) & 0xf8 == 0
}

/// Whether a node at `ip` may carry `id`: valid, or its address is exempt.
pub fn acceptable(id: &NodeId, ip: IpAddr) -> bool {
    is_exempt(ip) || is_valid(id, ip)
}

/// The vote on our external address (see the module docs). Invariant: at most
/// [`CANDIDATES`] addresses and [`ROUND`] votes in a round, one per voter.
#[derive(Debug, Clone, Default)]
pub struct ExternalIp {
    /// The address decided on (by votes or told), if any.
    current: Option<IpAddr>,
    /// Whether `current` came from the votes (then only votes change it).
    voted: bool,
    /// This round: each address voted for and the IPs that voted for it.
    round: Vec<(IpAddr, Vec<IpAddr>)>,
}

impl ExternalIp {
    /// Our external address, once known.
    pub fn current(&self) -> Option<IpAddr> {
        self.current
    }

    /// `voter` (a node that answered one of our queries) saw us at `seen`. Returns
    /// the address when this vote makes it our new external address.
    pub fn on_vote(&mut self, voter: IpAddr, seen: IpAddr) -> Option<IpAddr> {
        if is_exempt(seen) || self.round.iter().any(|(_, v)| v.contains(&voter)) {
            return None;
        }
        let i = match self.round.iter().position(|(a, _)| *a == seen) {
            Some(i) => i,
            None => {
                if self.round.len() >= CANDIDATES {
                    // Room for the newcomer at the cost of the weakest.
                    let weakest = (0..self.round.len())
                        .min_by_key(|&i| self.round[i].1.len())
                        .expect("a full table");
                    self.round.swap_remove(weakest);
                }
                self.round.push((seen, Vec::new()));
                self.round.len() - 1
            }
        };
        self.round[i].1.push(voter);
        let votes = self.round[i].1.len();
        let total: usize = self.round.iter().map(|(_, v)| v.len()).sum();
        let won = votes >= VOTES_NEEDED && 2 * votes > total;
        if total >= ROUND {
            self.round.clear();
        }
        debug_assert!(self.round.len() <= CANDIDATES && total <= ROUND);
        if won && self.current != Some(seen) {
            self.current = Some(seen);
            self.voted = true;
            return Some(seen);
        }
        if won {
            self.voted = true;
        }
        None
    }

    /// Someone outside the DHT (a tracker) saw us at `seen`. Taken unless exempt or
    /// the votes have decided already. Returns the address when it is new.
    pub fn on_told(&mut self, seen: IpAddr) -> Option<IpAddr> {
        if is_exempt(seen) || self.voted || self.current == Some(seen) {
            return None;
        }
        self.current = Some(seen);
        Some(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BEP 42's table: IP, `r`, the id's first 3 bytes (21 bits of which count).
    const EXAMPLES: [(&str, u8, [u8; 3]); 5] = [
        ("124.31.75.21", 1, [0x5f, 0xbf, 0xbf]),
        ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
        ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
        ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
        ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
    ];

    #[test]
    fn crc32c_known_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn ids_match_the_bep_42_examples() {
        for (ip, r, start) in EXAMPLES {
            let ip: IpAddr = ip.parse().unwrap();
            let id = node_id(ip, r, [0xff; 20]);
            assert_eq!(id.0[..2], start[..2], "{ip}");
            assert_eq!(id.0[2] & 0xf8, start[2] & 0xf8, "{ip}");
            assert_eq!(id.0[19], r);
            assert!(is_valid(&id, ip));
            // The example id itself (its other bytes are random) checks out.
            let mut example = [0x11u8; 20];
            example[..3].copy_from_slice(&start);
            example[19] = r;
            assert!(is_valid(&NodeId(example), ip), "{ip}");
            // Another address, another `r` or a flipped prefix bit does not.
            let IpAddr::V4(v4) = ip else { unreachable!() };
            let mut other = v4.octets();
            other[3] ^= 1;
            assert!(!is_valid(&id, IpAddr::from(other)), "{ip}");
            let mut wrong = example;
            wrong[19] ^= 0x01;
            assert!(!is_valid(&NodeId(wrong), ip), "{ip}");
            let mut wrong = example;
            wrong[2] ^= 0x08;
            assert!(!is_valid(&NodeId(wrong), ip), "{ip}");
            // The bits below the 21 are free.
            let mut free = example;
            free[2] ^= 0x07;
            assert!(is_valid(&NodeId(free), ip));
        }
    }

    #[test]
    fn ipv6_ids_round_trip_and_local_addresses_are_exempt() {
        let ip: IpAddr = "2001:db8:1234:5678::1".parse().unwrap();
        let id = node_id(ip, 0x2a, [7; 20]);
        assert!(is_valid(&id, ip));
        // Only the first 8 bytes, masked, count.
        assert!(is_valid(&id, "2001:db8:1234:5678:ffff::9".parse().unwrap()));
        assert!(!is_valid(&id, "2001:db8:1234:5679::1".parse().unwrap()));
        for local in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.3.4",
            "127.0.0.1",
            "::1",
            "fc00::1",
            "fd12::1",
        ] {
            let ip: IpAddr = local.parse().unwrap();
            assert!(is_exempt(ip), "{local}");
            assert!(acceptable(&NodeId([0; 20]), ip));
        }
        for public in ["172.32.0.1", "8.8.8.8", "2001:db8::1", "fe00::1"] {
            assert!(!is_exempt(public.parse().unwrap()), "{public}");
        }
    }

    fn v(i: u32) -> IpAddr {
        IpAddr::from((0xc633_6400u32 + i).to_be_bytes())
    }

    #[test]
    fn a_majority_of_distinct_voters_decides_our_address() {
        let ours: IpAddr = "203.0.113.5".parse().unwrap();
        let liar: IpAddr = "203.0.113.66".parse().unwrap();
        let mut e = ExternalIp::default();
        // Three liars; one voter saying it again and again counts once.
        for i in 0..3 {
            assert_eq!(e.on_vote(v(100 + i), liar), None);
        }
        for _ in 0..20 {
            assert_eq!(e.on_vote(v(0), ours), None);
        }
        for i in 1..VOTES_NEEDED as u32 - 1 {
            assert_eq!(e.on_vote(v(i), ours), None);
        }
        assert_eq!(e.current(), None);
        assert_eq!(e.on_vote(v(VOTES_NEEDED as u32), ours), Some(ours));
        assert_eq!(e.current(), Some(ours));
        assert_eq!(e.on_vote(v(50), ours), None, "already decided");
        // Local addresses never count; a tracker does not overrule the votes.
        assert_eq!(e.on_vote(v(51), "192.168.0.2".parse().unwrap()), None);
        assert_eq!(e.on_told(liar), None);
        assert_eq!(e.current(), Some(ours));
    }

    #[test]
    fn the_candidates_are_bounded_and_a_new_address_wins_in_a_later_round() {
        let mut e = ExternalIp::default();
        let old: IpAddr = "203.0.113.5".parse().unwrap();
        let new: IpAddr = "198.51.100.200".parse().unwrap();
        for i in 0..VOTES_NEEDED as u32 {
            e.on_vote(v(i), old);
        }
        assert_eq!(e.current(), Some(old));
        // A spray of one-vote addresses keeps at most CANDIDATES of them.
        for i in 0..100 {
            e.on_vote(
                v(1000 + i),
                IpAddr::from((0x0800_0000u32 + i).to_be_bytes()),
            );
            assert!(e.round.len() <= CANDIDATES);
        }
        // We moved: within a round or two every voter reports the new address.
        let mut changed = None;
        for i in 0..2 * ROUND as u32 {
            changed = changed.or(e.on_vote(v(5000 + i), new));
        }
        assert_eq!(changed, Some(new));
        assert_eq!(e.current(), Some(new));
    }

    #[test]
    fn a_tracker_tells_our_address_until_the_votes_decide() {
        let mut e = ExternalIp::default();
        let a: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(e.on_told("10.0.0.1".parse().unwrap()), None);
        assert_eq!(e.on_told(a), Some(a));
        assert_eq!(e.on_told(a), None);
        assert_eq!(e.current(), Some(a));
    }
}
