//! The routing table saved between runs: our node id and the nodes we knew, so a
//! restart rejoins through them instead of the routers alone.
//!
//! Depends on `wire::{bencode, compact}`. The file is one bencoded dictionary: `id`
//! (20 bytes), `nodes` (compact IPv4 node entries, BEP 5) and `nodes6` (compact IPv6
//! entries, BEP 32). Decoding is strict and bounded: at most [`MAX_SAVED`] nodes.

use crate::wire::bencode::{self, DictBuilder};
use crate::wire::compact;
use crate::wire::krpc::{NodeId, NodeInfo};

/// Most nodes kept in the file.
pub const MAX_SAVED: usize = 1000;

/// The file's bytes for our id and `nodes` (the first [`MAX_SAVED`]).
pub fn encode(own: NodeId, nodes: &[NodeInfo]) -> Vec<u8> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for n in nodes.iter().take(MAX_SAVED) {
        let out = if n.addr.is_ipv6() { &mut v6 } else { &mut v4 };
        out.extend_from_slice(&n.id.0);
        compact::encode_one(&n.addr, out);
    }
    let mut d = DictBuilder::new();
    d.bytes(b"id", &own.0)
        .bytes(b"nodes", &v4)
        .bytes(b"nodes6", &v6);
    d.finish()
}

/// Our id and the nodes of a saved table, or why the file is not one.
pub fn decode(bytes: &[u8]) -> Result<(NodeId, Vec<NodeInfo>), String> {
    let (root, _) = bencode::decode(bytes).map_err(|e| format!("not bencode: {e}"))?;
    if root.as_dict().is_none() {
        return Err("not a dictionary".into());
    }
    let id = root
        .get(b"id")
        .and_then(|n| n.as_bytes())
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
        .ok_or("no 20-byte id")?;
    let mut nodes = Vec::new();
    for (key, ipv6) in [(&b"nodes"[..], false), (&b"nodes6"[..], true)] {
        let Some(list) = root.get(key) else { continue };
        let list = list.as_bytes().ok_or("a node list is not a string")?;
        let entry = 20 + compact::entry_len(ipv6);
        if list.len() % entry != 0 {
            return Err("a node list is cut short".into());
        }
        if nodes.len() + list.len() / entry > MAX_SAVED {
            return Err(format!("more than {MAX_SAVED} nodes"));
        }
        for chunk in list.chunks(entry) {
            let addr = compact::decode(&chunk[20..], ipv6)
                .and_then(|a| a.first().copied())
                .ok_or("a node address is malformed")?;
            let id = NodeId(chunk[..20].try_into().expect("20 bytes"));
            nodes.push(NodeInfo { id, addr });
        }
    }
    Ok((NodeId(id), nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8, addr: &str) -> NodeInfo {
        NodeInfo {
            id: NodeId([i; 20]),
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn a_table_round_trips_with_both_families() {
        let nodes = vec![
            node(1, "10.0.0.1:6881"),
            node(2, "[2001:db8::1]:6881"),
            node(3, "127.0.0.1:1"),
        ];
        let bytes = encode(NodeId([9; 20]), &nodes);
        let (own, back) = decode(&bytes).unwrap();
        assert_eq!(own, NodeId([9; 20]));
        // IPv4 first, then IPv6, each in the order given.
        assert_eq!(back, vec![nodes[0], nodes[2], nodes[1]]);
    }

    #[test]
    fn more_than_the_bound_is_cut_when_writing_and_refused_when_reading() {
        let many: Vec<NodeInfo> = (0..MAX_SAVED + 5)
            .map(|i| node(i as u8, &format!("10.0.{}.{}:1", i / 256, i % 256)))
            .collect();
        let (_, back) = decode(&encode(NodeId::default(), &many)).unwrap();
        assert_eq!(back.len(), MAX_SAVED);
        let mut d = DictBuilder::new();
        d.bytes(b"id", &[0; 20])
            .bytes(b"nodes", &vec![1u8; 26 * (MAX_SAVED + 1)]);
        assert!(decode(&d.finish()).unwrap_err().contains("more than"));
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not bencode"),
            (b"i1e", "not a dictionary"),
            (b"de", "id"),
            (b"d2:id3:abce", "id"),
            (b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodesi1ee", "not a string"),
            (b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodes5:abcdee", "cut short"),
            (b"d2:id20:aaaaaaaaaaaaaaaaaaaa6:nodes65:abcdee", "cut short"),
        ];
        for (bytes, want) in cases {
            let e = decode(bytes).unwrap_err();
            assert!(e.contains(want), "{bytes:?}: {e}");
        }
    }
}
