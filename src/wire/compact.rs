//! Compact peer addresses: 4 address bytes and a big-endian port for IPv4 (BEP 23),
//! 16 and a port for IPv6 (BEP 7). HTTP trackers (`peers`, `peers6`) and UDP trackers
//! (BEP 15 announce responses) share the layout.
//!
//! Depends on nothing. A list is a plain concatenation of entries of one family, so it
//! is valid exactly when its length is a multiple of the entry size.
//!
//! The family of an address is its `SocketAddr` variant: an IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`) is IPv6 here and goes in 18 bytes. Whoever collects addresses
//! from a dual-stack socket canonicalises them first; the codec does not guess.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Bytes of one IPv4 entry.
pub const V4_LEN: usize = 6;

/// Bytes of one IPv6 entry.
pub const V6_LEN: usize = 18;

/// The entry size of a family.
pub fn entry_len(ipv6: bool) -> usize {
    if ipv6 { V6_LEN } else { V4_LEN }
}

/// The addresses of a compact list of one family; `None` when the length is not a
/// whole number of entries.
pub fn decode(list: &[u8], ipv6: bool) -> Option<Vec<SocketAddr>> {
    if list.len() % entry_len(ipv6) != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(list.len() / entry_len(ipv6));
    let mut rest = list;
    if ipv6 {
        while let Some((ip, tail)) = rest.split_first_chunk::<16>() {
            let (port, tail) = tail.split_first_chunk::<2>()?;
            let ip = Ipv6Addr::from(*ip);
            out.push(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be_bytes(*port),
                0,
                0,
            )));
            rest = tail;
        }
    } else {
        while let Some((&[a, b, c, d, p0, p1], tail)) = rest.split_first_chunk::<6>() {
            let ip = Ipv4Addr::new(a, b, c, d);
            out.push(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be_bytes([p0, p1]),
            )));
            rest = tail;
        }
    }
    Some(out)
}

/// Appends the entry of `addr` in its own family's layout.
pub fn encode_one(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Appends the entries of the addresses of one family, in order, skipping the others.
pub fn encode<'a>(addrs: impl IntoIterator<Item = &'a SocketAddr>, ipv6: bool, out: &mut Vec<u8>) {
    for addr in addrs {
        if addr.is_ipv6() == ipv6 {
            encode_one(addr, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_entries() {
        // The example of BEP 23 style: 192.168.24.52:2001 is C0 A8 18 34 07 D1.
        let v4: SocketAddr = "192.168.24.52:2001".parse().unwrap();
        let mut out = Vec::new();
        encode_one(&v4, &mut out);
        assert_eq!(out, [0xc0, 0xa8, 0x18, 0x34, 0x07, 0xd1]);
        assert_eq!(decode(&out, false), Some(vec![v4]));

        let v6: SocketAddr = "[2001:db8::1]:6881".parse().unwrap();
        let mut out = Vec::new();
        encode_one(&v6, &mut out);
        let mut want = vec![0x20, 0x01, 0x0d, 0xb8];
        want.extend([0; 11]);
        want.extend([1, 0x1a, 0xe1]);
        assert_eq!(out, want);
        assert_eq!(decode(&out, true), Some(vec![v6]));
    }

    #[test]
    fn mixed_lists_split_by_family() {
        let addrs: Vec<SocketAddr> = ["1.2.3.4:1", "[::1]:2", "5.6.7.8:3", "[::ffff:1.2.3.4]:4"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut v4 = Vec::new();
        encode(&addrs, false, &mut v4);
        let mut v6 = Vec::new();
        encode(&addrs, true, &mut v6);
        assert_eq!(v4.len(), 2 * V4_LEN);
        assert_eq!(v6.len(), 2 * V6_LEN);
        assert_eq!(decode(&v4, false).unwrap(), [addrs[0], addrs[2]]);
        assert_eq!(decode(&v6, true).unwrap(), [addrs[1], addrs[3]]);
    }

    #[test]
    fn partial_entries_are_refused() {
        assert_eq!(decode(&[], false), Some(vec![]));
        assert_eq!(decode(&[], true), Some(vec![]));
        for len in 1..40 {
            let list = vec![7u8; len];
            assert_eq!(decode(&list, false).is_some(), len % 6 == 0, "v4 {len}");
            assert_eq!(decode(&list, true).is_some(), len % 18 == 0, "v6 {len}");
        }
    }
}
