//! A BEP 15 client written out byte by byte (big-endian, fixed offsets), independent
//! of hivebt's codec, so the tests check the wire layout itself:
//!
//! ```text
//! connect   request  protocol_id=0x41727101980:8 action=0:4 transaction_id:4       16
//!           response action=0:4 transaction_id:4 connection_id:8                     16
//! announce  request  connection_id:8 action=1:4 transaction_id:4 info_hash:20
//!                    peer_id:20 downloaded:8 left:8 uploaded:8 event:4 ip:4 key:4
//!                    num_want:4 port:2                                              98
//!           response action=1:4 transaction_id:4 interval:4 leechers:4 seeders:4
//!                    (ip:4|16 port:2)*
//! scrape    request  connection_id:8 action=2:4 transaction_id:4 info_hash:20*
//!           response action=2:4 transaction_id:4 (seeders:4 completed:4 leechers:4)*
//! error     response action=3:4 transaction_id:4 message
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The magic constant of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// How long one request waits for its answer before it is sent again (loopback drops
/// nothing in practice; the retry keeps a lost datagram from failing a test).
const RETRY: Duration = Duration::from_secs(2);

/// BEP 15 event codes.
pub const EVENT_NONE: u32 = 0;
pub const EVENT_COMPLETED: u32 = 1;
pub const EVENT_STARTED: u32 = 2;
pub const EVENT_STOPPED: u32 = 3;

/// A decoded answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Connect {
        connection_id: u64,
    },
    Announce {
        interval: u32,
        leechers: u32,
        seeders: u32,
        peers: Vec<SocketAddr>,
    },
    /// (seeders, completed, leechers) per requested hash.
    Scrape(Vec<(u32, u32, u32)>),
    Error(String),
}

/// One client socket talking to one tracker address.
pub struct UdpClient {
    pub sock: UdpSocket,
    pub tracker: SocketAddr,
    next_tid: u32,
}

impl UdpClient {
    /// A socket on the loopback address of `tracker`'s family.
    pub fn new(tracker: SocketAddr) -> UdpClient {
        let local: SocketAddr = if tracker.is_ipv6() {
            "[::1]:0".parse().expect("addr")
        } else {
            "127.0.0.1:0".parse().expect("addr")
        };
        let sock = UdpSocket::bind(local).expect("bind UDP client");
        sock.set_read_timeout(Some(RETRY)).expect("read timeout");
        UdpClient {
            sock,
            tracker,
            next_tid: 0x7e57_0000 ^ (std::process::id() << 4),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local addr")
    }

    /// A fresh transaction id.
    pub fn tid(&mut self) -> u32 {
        self.next_tid = self.next_tid.wrapping_add(0x0101);
        self.next_tid
    }

    pub fn send(&self, datagram: &[u8]) {
        self.sock
            .send_to(datagram, self.tracker)
            .expect("send datagram");
    }

    /// Reads datagrams from the tracker until one carries `tid` (others are skipped)
    /// or `wait` passes.
    pub fn recv_tid(&self, tid: u32, wait: Duration) -> Option<Vec<u8>> {
        let until = Instant::now() + wait;
        let mut buf = [0u8; 8192];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock
                .set_read_timeout(Some(left))
                .expect("read timeout");
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) if from == self.tracker && n >= 8 && be32(&buf, 4) == tid => {
                    return Some(buf[..n].to_vec());
                }
                Ok(_) => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return None;
                }
                Err(e) => panic!("recv from UDP tracker: {e}"),
            }
        }
    }

    /// Sends `datagram` (whose transaction id is `tid`) and returns the answer,
    /// resending up to three times.
    pub fn exchange(&self, datagram: &[u8], tid: u32) -> Vec<u8> {
        for _ in 0..3 {
            self.send(datagram);
            if let Some(answer) = self.recv_tid(tid, RETRY) {
                return answer;
            }
        }
        panic!(
            "no answer from the UDP tracker at {} to a {}-byte request",
            self.tracker,
            datagram.len()
        );
    }

    /// `connect`; returns the connection id, checking the 16-byte layout.
    pub fn connect(&mut self) -> u64 {
        let tid = self.tid();
        let answer = self.exchange(&connect_request(tid), tid);
        match decode(&answer, self.tracker.is_ipv6()) {
            Ok(Reply::Connect { connection_id }) => {
                assert_eq!(answer.len(), 16, "connect response length");
                connection_id
            }
            other => panic!("connect answered with {other:?}"),
        }
    }

    /// An announce; returns the decoded answer.
    pub fn announce(&mut self, connection_id: u64, a: &UdpAnnounce) -> Reply {
        let tid = self.tid();
        let answer = self.exchange(&a.encode(connection_id, tid), tid);
        decode(&answer, self.tracker.is_ipv6())
            .unwrap_or_else(|e| panic!("announce answer: {e}: {answer:02x?}"))
    }

    /// A scrape of `hashes`.
    pub fn scrape(&mut self, connection_id: u64, hashes: &[[u8; 20]]) -> Reply {
        let tid = self.tid();
        let answer = self.exchange(&scrape_request(connection_id, tid, hashes), tid);
        decode(&answer, self.tracker.is_ipv6())
            .unwrap_or_else(|e| panic!("scrape answer: {e}: {answer:02x?}"))
    }
}

/// The fields of an announce request.
#[derive(Clone, Debug)]
pub struct UdpAnnounce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub left: u64,
    pub event: u32,
    pub num_want: i32,
    pub port: u16,
}

impl UdpAnnounce {
    /// A leecher (`left` 1000) announcing `started` on `port`.
    pub fn new(info_hash: [u8; 20], port: u16) -> UdpAnnounce {
        let mut peer_id = *b"-TU0001-000000000000";
        peer_id[14..20].copy_from_slice(format!("{port:06}").as_bytes());
        UdpAnnounce {
            info_hash,
            peer_id,
            left: 1000,
            event: EVENT_STARTED,
            num_want: -1,
            port,
        }
    }

    pub fn encode(&self, connection_id: u64, tid: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(98);
        b.extend_from_slice(&connection_id.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&tid.to_be_bytes());
        b.extend_from_slice(&self.info_hash);
        b.extend_from_slice(&self.peer_id);
        b.extend_from_slice(&0u64.to_be_bytes()); // downloaded
        b.extend_from_slice(&self.left.to_be_bytes());
        b.extend_from_slice(&0u64.to_be_bytes()); // uploaded
        b.extend_from_slice(&self.event.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes()); // ip: the sender's
        b.extend_from_slice(&0x1234_5678u32.to_be_bytes()); // key
        b.extend_from_slice(&self.num_want.to_be_bytes());
        b.extend_from_slice(&self.port.to_be_bytes());
        assert_eq!(b.len(), 98);
        b
    }
}

pub fn connect_request(tid: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&tid.to_be_bytes());
    b
}

pub fn scrape_request(connection_id: u64, tid: u32, hashes: &[[u8; 20]]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + 20 * hashes.len());
    b.extend_from_slice(&connection_id.to_be_bytes());
    b.extend_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&tid.to_be_bytes());
    for h in hashes {
        b.extend_from_slice(h);
    }
    b
}

pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes an answer by its action, checking its exact length. `ipv6` says which
/// peer entry size to expect (BEP 15: that of the transport).
pub fn decode(b: &[u8], ipv6: bool) -> Result<Reply, String> {
    if b.len() < 8 {
        return Err(format!("{} bytes: shorter than a header", b.len()));
    }
    match be32(b, 0) {
        0 if b.len() == 16 => Ok(Reply::Connect {
            connection_id: be64(b, 8),
        }),
        1 if b.len() >= 20 => {
            let entry = if ipv6 { 18 } else { 6 };
            let list = &b[20..];
            if list.len() % entry != 0 {
                return Err(format!("peer list of {} bytes", list.len()));
            }
            let peers = list
                .chunks(entry)
                .map(|c| {
                    let ip = if ipv6 {
                        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&c[..16]).expect("16")))
                    } else {
                        IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    };
                    SocketAddr::new(ip, u16::from_be_bytes([c[entry - 2], c[entry - 1]]))
                })
                .collect();
            Ok(Reply::Announce {
                interval: be32(b, 8),
                leechers: be32(b, 12),
                seeders: be32(b, 16),
                peers,
            })
        }
        2 if (b.len() - 8) % 12 == 0 => Ok(Reply::Scrape(
            b[8..]
                .chunks(12)
                .map(|c| (be32(c, 0), be32(c, 4), be32(c, 8)))
                .collect(),
        )),
        3 => Ok(Reply::Error(String::from_utf8_lossy(&b[8..]).into_owned())),
        action => Err(format!("action {action} in {} bytes", b.len())),
    }
}
