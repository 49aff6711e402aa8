//! KRPC, the messages of the Mainline DHT (BEP 5): `ping`, `find_node`, `get_peers`
//! and `announce_peer` queries, their responses and errors, with BEP 32 (`nodes6`,
//! `want`), BEP 42 (`ip`, the address a response saw us at) and BEP 43 (`ro`,
//! read-only senders).
//!
//! Depends on `wire::bencode`, `wire::compact` and `types`. The decoder faces anyone
//! on the internet, so it is strict and bounded: a datagram over [`MAX_MESSAGE`]
//! bytes, a transaction id over [`MAX_TID`], a token over [`MAX_TOKEN`], more than
//! [`MAX_NODES`] nodes of a family or [`MAX_VALUES`] peers, a node list that is not a
//! whole number of entries, a port out of range or a missing key is refused with
//! [`Malformed`], which carries the transaction id when one was readable so that a
//! node can answer a bad query with error 203. An unknown query method decodes (to
//! [`Query::Unknown`]) for the 204 answer. Unknown keys are ignored, as BEP 5 asks.
//!
//! [`Message::encode`] writes what [`decode`] reads, keys in order (BEP 3).

use std::fmt;
use std::net::SocketAddr;

use super::bencode::{self, DictBuilder, Node, Value};
use super::compact;
use crate::types::InfoHash;

/// Largest datagram decoded; a KRPC message fits one unfragmented UDP packet.
pub const MAX_MESSAGE: usize = 2048;
/// Longest transaction id accepted (libtorrent sends 2 bytes, others up to 8).
pub const MAX_TID: usize = 16;
/// Longest `get_peers` token accepted.
pub const MAX_TOKEN: usize = 64;
/// Most nodes of one family in a response (K is 8; some send 16).
pub const MAX_NODES: usize = 32;
/// Most peers in a `values` list.
pub const MAX_VALUES: usize = 256;
/// Longest version string (`v`) and query method name kept.
const MAX_SHORT: usize = 32;

/// Bytes of one compact IPv4 node entry (BEP 5): id, address, port.
pub const NODE_V4_LEN: usize = 20 + compact::V4_LEN;
/// Bytes of one compact IPv6 node entry (BEP 32).
pub const NODE_V6_LEN: usize = 20 + compact::V6_LEN;

/// A node's 160-bit id.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 20]);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", crate::types::hex(&self.0))
    }
}

/// A node as the DHT passes it around: its id and where it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// Which families of nodes a query asks for (BEP 32 `want`). Neither: the family
/// the query came over, as before BEP 32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// `n4`: IPv4 nodes.
    pub v4: bool,
    /// `n6`: IPv6 nodes.
    pub v6: bool,
}

/// A query's method and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `ping`: are you there?
    Ping,
    /// `find_node`: the nodes closest to `target`.
    FindNode {
        /// The id looked for.
        target: NodeId,
        /// Families of nodes wanted.
        want: Want,
    },
    /// `get_peers`: peers of `info_hash`, else the closest nodes, and a token.
    GetPeers {
        /// The torrent.
        info_hash: InfoHash,
        /// Families of nodes wanted.
        want: Want,
    },
    /// `announce_peer`: the sender is a peer of `info_hash`.
    AnnouncePeer {
        /// The torrent.
        info_hash: InfoHash,
        /// The port to record; with `implied_port` the sender's source port is
        /// recorded instead.
        port: u16,
        /// Use the source port, not `port` (behind NAT).
        implied_port: bool,
        /// The token a `get_peers` answer gave.
        token: Vec<u8>,
    },
    /// A method this node does not know (answered with error 204); the name is
    /// truncated to 32 bytes.
    Unknown(Vec<u8>),
}

impl Query {
    /// The method name on the wire.
    pub fn method(&self) -> &[u8] {
        match self {
            Query::Ping => b"ping",
            Query::FindNode { .. } => b"find_node",
            Query::GetPeers { .. } => b"get_peers",
            Query::AnnouncePeer { .. } => b"announce_peer",
            Query::Unknown(m) => m,
        }
    }
}

/// A response's values: the sender's id, and whatever the query asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The responding node's id.
    pub id: NodeId,
    /// IPv4 nodes (`nodes`).
    pub nodes: Vec<NodeInfo>,
    /// IPv6 nodes (`nodes6`, BEP 32).
    pub nodes6: Vec<NodeInfo>,
    /// Peers of the info-hash asked for (`values`), either family.
    pub values: Vec<SocketAddr>,
    /// The token to announce with (`get_peers`).
    pub token: Option<Vec<u8>>,
}

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `y` = `q`.
    Query {
        /// The querying node's id.
        id: NodeId,
        /// Method and arguments.
        query: Query,
        /// BEP 43: the sender answers no queries; keep it out of routing tables.
        read_only: bool,
    },
    /// `y` = `r`.
    Response(Response),
    /// `y` = `e`: a code (201 generic, 202 server, 203 protocol, 204 method unknown)
    /// and a message.
    Error {
        /// The code.
        code: i64,
        /// The text, at most 200 bytes kept.
        message: String,
    },
}

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Transaction id (`t`), echoed in the answer.
    pub tid: Vec<u8>,
    /// Query, response or error.
    pub body: Body,
    /// BEP 42: in a response, the address the sender saw the query come from.
    pub ip: Option<SocketAddr>,
    /// `v`: the sender's client and version, at most 32 bytes.
    pub version: Option<Vec<u8>>,
}

/// BEP 5 error 201: generic.
pub const GENERIC_ERROR: i64 = 201;
/// BEP 5 error 202: server.
pub const SERVER_ERROR: i64 = 202;
/// BEP 5 error 203: protocol (a malformed query).
pub const PROTOCOL_ERROR: i64 = 203;
/// BEP 5 error 204: method unknown.
pub const METHOD_UNKNOWN: i64 = 204;

/// Why a datagram is not a KRPC message we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The transaction id, when it could be read (to answer a bad query with 203).
    pub tid: Option<Vec<u8>>,
    /// What was wrong, for logs.
    pub why: String,
    /// The message was a query (`y` = `q`).
    pub query: bool,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad KRPC message: {}", self.why)
    }
}

impl std::error::Error for Malformed {}

/// Decodes one datagram.
pub fn decode(datagram: &[u8]) -> Result<Message, Malformed> {
    let fail = |tid: Option<Vec<u8>>, query: bool, why: String| Malformed { tid, why, query };
    if datagram.len() > MAX_MESSAGE {
        return Err(fail(None, false, format!("{} bytes", datagram.len())));
    }
    let (root, _) = bencode::decode(datagram).map_err(|e| fail(None, false, e.to_string()))?;
    let Value::Dict(_) = root.value else {
        return Err(fail(None, false, "not a dictionary".into()));
    };
    let tid = match root.get(b"t").and_then(Node::as_bytes) {
        Some(t) if t.len() <= MAX_TID => t.to_vec(),
        Some(t) => {
            return Err(fail(
                None,
                false,
                format!("transaction id of {} bytes", t.len()),
            ));
        }
        None => return Err(fail(None, false, "no transaction id".into())),
    };
    let kind = root.get(b"y").and_then(Node::as_bytes);
    let is_query = kind == Some(b"q");
    let bad = |why: &str| fail(Some(tid.clone()), is_query, why.to_string());
    let version = root
        .get(b"v")
        .and_then(Node::as_bytes)
        .map(|v| v[..v.len().min(MAX_SHORT)].to_vec());
    let ip = match root.get(b"ip") {
        None => None,
        Some(n) => {
            let b = n.as_bytes().ok_or_else(|| bad("ip is not a string"))?;
            Some(compact_addr(b).ok_or_else(|| bad("ip is not a compact address"))?)
        }
    };
    let body = match kind {
        Some(b"q") => decode_query(&root).map_err(|why| bad(&why))?,
        Some(b"r") => Body::Response(decode_response(&root).map_err(|why| bad(&why))?),
        Some(b"e") => decode_error(&root).map_err(|why| bad(&why))?,
        Some(_) => return Err(bad("unknown message kind y")),
        None => return Err(bad("no message kind y")),
    };
    Ok(Message {
        tid,
        body,
        ip,
        version,
    })
}

/// A compact address of either family (6 or 18 bytes).
fn compact_addr(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        compact::V4_LEN => compact::decode(b, false)?.pop(),
        compact::V6_LEN => compact::decode(b, true)?.pop(),
        _ => None,
    }
}

fn id_of(dict: &Node<'_>, key: &'static str) -> Result<NodeId, String> {
    let b = dict
        .get(key.as_bytes())
        .ok_or_else(|| format!("no {key}"))?
        .as_bytes()
        .ok_or_else(|| format!("{key} is not a string"))?;
    let id: [u8; 20] = b
        .try_into()
        .map_err(|_| format!("{key} is {} bytes, not 20", b.len()))?;
    Ok(NodeId(id))
}

fn want_of(args: &Node<'_>) -> Result<Want, String> {
    let mut want = Want::default();
    let Some(list) = args.get(b"want") else {
        return Ok(want);
    };
    let list = list.as_list().ok_or("want is not a list")?;
    for item in list.iter().take(8) {
        match item.as_bytes() {
            Some(b"n4") => want.v4 = true,
            Some(b"n6") => want.v6 = true,
            _ => {}
        }
    }
    Ok(want)
}

fn decode_query(root: &Node<'_>) -> Result<Body, String> {
    let method = root
        .get(b"q")
        .and_then(Node::as_bytes)
        .ok_or("no query method q")?;
    let args = root.get(b"a").ok_or("no arguments a")?;
    if args.as_dict().is_none() {
        return Err("arguments a are not a dictionary".into());
    }
    let id = id_of(args, "id")?;
    let read_only = args.get(b"ro").and_then(Node::as_int) == Some(1);
    let query = match method {
        b"ping" => Query::Ping,
        b"find_node" => Query::FindNode {
            target: id_of(args, "target")?,
            want: want_of(args)?,
        },
        b"get_peers" => Query::GetPeers {
            info_hash: InfoHash(id_of(args, "info_hash")?.0),
            want: want_of(args)?,
        },
        b"announce_peer" => {
            let implied_port = args.get(b"implied_port").and_then(Node::as_int) == Some(1);
            let port = match args.get(b"port").map(|p| p.as_int()) {
                Some(Some(p)) if (1..=65535).contains(&p) => p as u16,
                Some(Some(_)) | None if implied_port => 0,
                Some(Some(p)) => return Err(format!("port {p} is out of range")),
                Some(None) => return Err("port is not an integer".into()),
                None => return Err("no port".into()),
            };
            let token = args
                .get(b"token")
                .ok_or("no token")?
                .as_bytes()
                .ok_or("token is not a string")?;
            if token.len() > MAX_TOKEN {
                return Err(format!("token of {} bytes", token.len()));
            }
            Query::AnnouncePeer {
                info_hash: InfoHash(id_of(args, "info_hash")?.0),
                port,
                implied_port,
                token: token.to_vec(),
            }
        }
        other => Query::Unknown(other[..other.len().min(MAX_SHORT)].to_vec()),
    };
    Ok(Body::Query {
        id,
        query,
        read_only,
    })
}

fn nodes_of(r: &Node<'_>, key: &'static str, ipv6: bool) -> Result<Vec<NodeInfo>, String> {
    let Some(n) = r.get(key.as_bytes()) else {
        return Ok(Vec::new());
    };
    let b = n
        .as_bytes()
        .ok_or_else(|| format!("{key} is not a string"))?;
    let entry = if ipv6 { NODE_V6_LEN } else { NODE_V4_LEN };
    if b.len() % entry != 0 {
        return Err(format!(
            "{key} is {} bytes, not a whole number of nodes",
            b.len()
        ));
    }
    if b.len() / entry > MAX_NODES {
        return Err(format!("{} {key}", b.len() / entry));
    }
    let mut out = Vec::with_capacity(b.len() / entry);
    for chunk in b.chunks_exact(entry) {
        let (id, addr) = chunk.split_at(20);
        let addr = compact::decode(addr, ipv6)
            .and_then(|mut a| a.pop())
            .ok_or_else(|| format!("bad address in {key}"))?;
        let id: [u8; 20] = id.try_into().map_err(|_| "node id")?;
        out.push(NodeInfo {
            id: NodeId(id),
            addr,
        });
    }
    Ok(out)
}

fn decode_response(root: &Node<'_>) -> Result<Response, String> {
    let r = root.get(b"r").ok_or("no response values r")?;
    if r.as_dict().is_none() {
        return Err("response values r are not a dictionary".into());
    }
    let mut values = Vec::new();
    if let Some(list) = r.get(b"values") {
        let list = list.as_list().ok_or("values is not a list")?;
        if list.len() > MAX_VALUES {
            return Err(format!("{} values", list.len()));
        }
        for v in list {
            let b = v.as_bytes().ok_or("a value is not a string")?;
            values.push(compact_addr(b).ok_or("a value is not a compact address")?);
        }
    }
    let token = match r.get(b"token") {
        None => None,
        Some(t) => {
            let t = t.as_bytes().ok_or("token is not a string")?;
            if t.len() > MAX_TOKEN {
                return Err(format!("token of {} bytes", t.len()));
            }
            Some(t.to_vec())
        }
    };
    Ok(Response {
        id: id_of(r, "id")?,
        nodes: nodes_of(r, "nodes", false)?,
        nodes6: nodes_of(r, "nodes6", true)?,
        values,
        token,
    })
}

fn decode_error(root: &Node<'_>) -> Result<Body, String> {
    let e = root
        .get(b"e")
        .and_then(Node::as_list)
        .ok_or("error e is not a list")?;
    let code = e
        .first()
        .and_then(Node::as_int)
        .ok_or("error without a code")?;
    let message = e
        .get(1)
        .and_then(Node::as_bytes)
        .map(|m| {
            let mut text = String::from_utf8_lossy(m).into_owned();
            let mut end = text.len().min(200);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text
        })
        .unwrap_or_default();
    Ok(Body::Error { code, message })
}

fn encode_nodes(nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * NODE_V6_LEN);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        compact::encode_one(&n.addr, &mut out);
    }
    out
}

fn encode_want(want: Want, args: &mut DictBuilder) {
    if !want.v4 && !want.v6 {
        return;
    }
    let mut list = vec![b'l'];
    if want.v4 {
        bencode::put_bytes(&mut list, b"n4");
    }
    if want.v6 {
        bencode::put_bytes(&mut list, b"n6");
    }
    list.push(b'e');
    args.raw(b"want", list);
}

impl Message {
    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut root = DictBuilder::new();
        root.bytes(b"t", &self.tid);
        if let Some(v) = &self.version {
            root.bytes(b"v", v);
        }
        if let Some(ip) = &self.ip {
            let mut b = Vec::new();
            compact::encode_one(ip, &mut b);
            root.bytes(b"ip", &b);
        }
        match &self.body {
            Body::Query {
                id,
                query,
                read_only,
            } => {
                root.bytes(b"y", b"q").bytes(b"q", query.method());
                let mut args = DictBuilder::new();
                args.bytes(b"id", &id.0);
                if *read_only {
                    args.int(b"ro", 1);
                }
                match query {
                    Query::Ping | Query::Unknown(_) => {}
                    Query::FindNode { target, want } => {
                        args.bytes(b"target", &target.0);
                        encode_want(*want, &mut args);
                    }
                    Query::GetPeers { info_hash, want } => {
                        args.bytes(b"info_hash", &info_hash.0);
                        encode_want(*want, &mut args);
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        args.bytes(b"info_hash", &info_hash.0)
                            .int(b"port", i64::from(*port))
                            .bytes(b"token", token);
                        if *implied_port {
                            args.int(b"implied_port", 1);
                        }
                    }
                }
                root.raw(b"a", args.finish());
            }
            Body::Response(r) => {
                root.bytes(b"y", b"r");
                let mut values = DictBuilder::new();
                values.bytes(b"id", &r.id.0);
                if !r.nodes.is_empty() {
                    values.bytes(b"nodes", &encode_nodes(&r.nodes));
                }
                if !r.nodes6.is_empty() {
                    values.bytes(b"nodes6", &encode_nodes(&r.nodes6));
                }
                if let Some(t) = &r.token {
                    values.bytes(b"token", t);
                }
                if !r.values.is_empty() {
                    let mut list = vec![b'l'];
                    for v in &r.values {
                        let mut b = Vec::new();
                        compact::encode_one(v, &mut b);
                        bencode::put_bytes(&mut list, &b);
                    }
                    list.push(b'e');
                    values.raw(b"values", list);
                }
                root.raw(b"r", values.finish());
            }
            Body::Error { code, message } => {
                root.bytes(b"y", b"e");
                let mut list = vec![b'l'];
                bencode::put_int(&mut list, *code);
                bencode::put_bytes(&mut list, message.as_bytes());
                list.push(b'e');
                root.raw(b"e", list);
            }
        }
        root.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &[u8; 20]) -> NodeId {
        NodeId(*s)
    }

    fn round_trip(wire: &[u8]) -> Message {
        let m = decode(wire).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(wire)));
        assert_eq!(
            String::from_utf8_lossy(&m.encode()),
            String::from_utf8_lossy(wire)
        );
        m
    }

    // The examples of BEP 5, byte for byte.
    #[test]
    fn bep5_examples() {
        let ping = round_trip(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
        assert_eq!(ping.tid, b"aa");
        assert_eq!(
            ping.body,
            Body::Query {
                id: id(b"abcdefghij0123456789"),
                query: Query::Ping,
                read_only: false
            }
        );
        let pong = round_trip(b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re");
        assert_eq!(
            pong.body,
            Body::Response(Response {
                id: id(b"mnopqrstuvwxyz123456"),
                ..Response::default()
            })
        );
        let find = round_trip(
            b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
        );
        assert!(matches!(
            find.body,
            Body::Query { query: Query::FindNode { target, want }, .. }
                if target == id(b"mnopqrstuvwxyz123456") && want == Want::default()
        ));
        let get = round_trip(
            b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
        );
        assert!(matches!(
            get.body,
            Body::Query { query: Query::GetPeers { info_hash, .. }, .. }
                if info_hash.0 == *b"mnopqrstuvwxyz123456"
        ));
        let announce = round_trip(
            b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        );
        assert_eq!(
            announce.body,
            Body::Query {
                id: id(b"abcdefghij0123456789"),
                query: Query::AnnouncePeer {
                    info_hash: InfoHash(*b"mnopqrstuvwxyz123456"),
                    port: 6881,
                    implied_port: true,
                    token: b"aoeusnth".to_vec(),
                },
                read_only: false,
            }
        );
        let error = round_trip(b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee");
        assert_eq!(
            error.body,
            Body::Error {
                code: GENERIC_ERROR,
                message: "A Generic Error Ocurred".into()
            }
        );
    }

    #[test]
    fn responses_with_nodes_values_and_bep42_ip_round_trip() {
        let v4: SocketAddr = "192.0.2.7:6881".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:51413".parse().unwrap();
        let m = Message {
            tid: vec![0, 1],
            body: Body::Response(Response {
                id: NodeId([3; 20]),
                nodes: vec![NodeInfo {
                    id: NodeId([4; 20]),
                    addr: v4,
                }],
                nodes6: vec![NodeInfo {
                    id: NodeId([5; 20]),
                    addr: v6,
                }],
                values: vec![v4, v6],
                token: Some(b"tok".to_vec()),
            }),
            ip: Some("198.51.100.2:4000".parse().unwrap()),
            version: Some(b"HB01".to_vec()),
        };
        let wire = m.encode();
        assert_eq!(decode(&wire), Ok(m));
        let q = Message {
            tid: b"xy".to_vec(),
            body: Body::Query {
                id: NodeId([1; 20]),
                query: Query::FindNode {
                    target: NodeId([2; 20]),
                    want: Want { v4: true, v6: true },
                },
                read_only: true,
            },
            ip: None,
            version: None,
        };
        let wire = q.encode();
        assert!(wire.windows(12).any(|w| w == b"4:wantl2:n42"), "{wire:?}");
        assert_eq!(decode(&wire), Ok(q));
    }

    #[test]
    fn unknown_methods_and_keys() {
        let m = decode(
            b"d1:ad2:id20:abcdefghij01234567895:extra3:abce1:q6:vote!!1:t1:z1:y1:q3:zzzi5ee",
        )
        .unwrap();
        assert!(matches!(
            m.body,
            Body::Query { query: Query::Unknown(ref name), .. } if name == b"vote!!"
        ));
    }

    #[test]
    fn malformed_messages_say_why_and_keep_the_tid() {
        let cases: [(&[u8], &str, bool); 14] = [
            (b"", "bencode", false),
            (b"l1:ae", "not a dictionary", false),
            (b"d1:y1:qe", "no transaction id", false),
            (b"d1:t17:aaaaaaaaaaaaaaaaa1:y1:qe", "transaction id of 17", false),
            (b"d1:t2:aa1:y1:xe", "unknown message kind", true),
            (b"d1:t2:aa1:y1:qe", "no query method", true),
            (b"d1:q4:ping1:t2:aa1:y1:qe", "no arguments", true),
            (b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", "id is 3 bytes", true),
            (
                b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe",
                "port 0 is out of range",
                true,
            ),
            (
                b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1ee1:q13:announce_peer1:t2:aa1:y1:qe",
                "no token",
                true,
            ),
            (
                b"d1:rd2:id20:mnopqrstuvwxyz1234565:nodes5:abcdee1:t2:aa1:y1:re",
                "not a whole number of nodes",
                true,
            ),
            (
                b"d1:rd2:id20:mnopqrstuvwxyz1234566:valuesl3:abcee1:t2:aa1:y1:re",
                "not a compact address",
                true,
            ),
            (b"d1:e3:abc1:t2:aa1:y1:ee", "not a list", true),
            (b"d2:ip3:abc1:t2:aa1:y1:re", "ip is not a compact", true),
        ];
        for (wire, why, has_tid) in cases {
            let e = decode(wire).unwrap_err();
            assert!(
                e.why.contains(why),
                "{}: {}",
                String::from_utf8_lossy(wire),
                e.why
            );
            assert_eq!(
                e.tid.is_some(),
                has_tid,
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        assert!(decode(b"d1:q4:ping1:t2:aa1:y1:qe").unwrap_err().query);
        assert!(
            decode(&vec![b'x'; MAX_MESSAGE + 1])
                .unwrap_err()
                .why
                .contains("bytes")
        );
    }

    #[test]
    fn bounds_on_lists_and_tokens() {
        let mut r = Response {
            id: NodeId([1; 20]),
            values: vec!["192.0.2.1:1".parse().unwrap(); MAX_VALUES + 1],
            ..Response::default()
        };
        let too_many = Message {
            tid: b"a".to_vec(),
            body: Body::Response(r.clone()),
            ip: None,
            version: None,
        };
        // Over the message size, or over the value count: refused either way.
        assert!(decode(&too_many.encode()).is_err());
        r.values.truncate(100);
        r.token = Some(vec![b'k'; MAX_TOKEN + 1]);
        let long_token = Message {
            body: Body::Response(r),
            ..too_many
        };
        assert!(
            decode(&long_token.encode())
                .unwrap_err()
                .why
                .contains("token of 65")
        );
    }
}
