//! A scripted peer: one side of a peer-wire connection driven by a test through
//! hivebt's codec, with owned copies of what it receives.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hivebt::types::{BlockRef, InfoHash, PeerId};
use hivebt::wire::peer::{self, HANDSHAKE_LEN, Handshake, Message, ReservedBit};

use super::{Fixture, Hivebt, READ_TIMEOUT, WAIT, unique};

/// A message as the scripted peer saw it, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// Keep-alive.
    KeepAlive,
    /// Choke.
    Choke,
    /// Unchoke.
    Unchoke,
    /// Interested.
    Interested,
    /// Not interested.
    NotInterested,
    /// Have.
    Have(u32),
    /// Bitfield.
    Bitfield(Vec<u8>),
    /// Request.
    Request(BlockRef),
    /// A block.
    Piece(BlockRef, Vec<u8>),
    /// Cancel.
    Cancel(BlockRef),
    /// BEP 6 have_all.
    HaveAll,
    /// BEP 6 have_none.
    HaveNone,
    /// BEP 6 reject.
    Reject(BlockRef),
    /// BEP 10 extended message: its extended id and payload.
    Extended(u8, Vec<u8>),
    /// Anything else, by id.
    Other(u8),
}

impl Got {
    fn from(m: &Message<'_>) -> Got {
        match *m {
            Message::KeepAlive => Got::KeepAlive,
            Message::Choke => Got::Choke,
            Message::Unchoke => Got::Unchoke,
            Message::Interested => Got::Interested,
            Message::NotInterested => Got::NotInterested,
            Message::Have(p) => Got::Have(p.0),
            Message::Bitfield(b) => Got::Bitfield(b.to_vec()),
            Message::Request(b) => Got::Request(b),
            Message::Piece {
                piece,
                offset,
                data,
            } => Got::Piece(
                BlockRef {
                    piece,
                    offset,
                    len: data.len() as u32,
                },
                data.to_vec(),
            ),
            Message::Cancel(b) => Got::Cancel(b),
            Message::HaveAll => Got::HaveAll,
            Message::HaveNone => Got::HaveNone,
            Message::Reject(b) => Got::Reject(b),
            Message::Extended { id, payload } => Got::Extended(id, payload.to_vec()),
            ref other => Got::Other(other.id().unwrap_or(0)),
        }
    }
}

/// Messages for a failure report, with block data shown by its length only.
pub fn brief(ms: &[Got]) -> String {
    let items: Vec<String> = ms
        .iter()
        .map(|m| match m {
            Got::Piece(b, data) => format!("Piece({b:?}, {} bytes)", data.len()),
            Got::Bitfield(bits) => format!("Bitfield({} bytes)", bits.len()),
            Got::Extended(id, payload) => format!("Extended({id}, {} bytes)", payload.len()),
            other => format!("{other:?}"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// How a read from the scripted peer's socket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// EOF or a reset: the other side closed the connection.
    Closed,
    /// Nothing arrived within the read timeout.
    TimedOut,
}

/// One side of a peer-wire connection driven by the test.
pub struct Wire {
    sock: TcpStream,
    buf: Vec<u8>,
    /// Where we are connected to, for messages.
    pub peer: SocketAddr,
}

/// The largest frame the scripted peer accepts from hivebt.
const TEST_MAX_FRAME: u32 = 2 << 20;

/// A test peer id.
/// A peer id of our own, different for every call: hivebt closes a second connection
/// from a peer id it already talks to.
pub fn test_peer_id() -> PeerId {
    let mut id = *b"-TT0001-000000000000";
    let n = format!("{:012}", unique());
    id[8..].copy_from_slice(n.as_bytes());
    PeerId(id)
}

impl Wire {
    /// Wraps a connected socket, with read and write timeouts set.
    pub fn new(sock: TcpStream) -> Wire {
        Wire::with_read_timeout(sock, READ_TIMEOUT)
    }

    /// As [`Wire::new`], with another read timeout.
    pub fn with_read_timeout(sock: TcpStream, read_timeout: Duration) -> Wire {
        sock.set_read_timeout(Some(read_timeout))
            .expect("read timeout");
        sock.set_write_timeout(Some(READ_TIMEOUT))
            .expect("write timeout");
        let _ = sock.set_nodelay(true);
        let peer = sock.peer_addr().expect("peer addr");
        Wire {
            sock,
            buf: Vec::new(),
            peer,
        }
    }

    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Wire {
        let sock = TcpStream::connect_timeout(&addr, READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Wire::new(sock)
    }

    /// Connects to `hivebt` and exchanges handshakes for `info_hash`, announcing the
    /// fast extension when `fast`. Fails (with hivebt's stderr) unless hivebt answers
    /// with the same info-hash.
    pub fn open(hivebt: &Hivebt, info_hash: InfoHash, fast: bool) -> Wire {
        Wire::open_with(hivebt, info_hash, fast, false)
    }

    /// As [`Wire::open`] with the fast extension, announcing the extension protocol
    /// (BEP 10) too.
    pub fn open_extended(hivebt: &Hivebt, info_hash: InfoHash) -> Wire {
        Wire::open_with(hivebt, info_hash, true, true)
    }

    /// As [`Wire::open_extended`], to any hivebt listening at `addr` (a daemon, say).
    pub fn open_extended_at(addr: SocketAddr, info_hash: InfoHash) -> Wire {
        Wire::handshake_at(addr, info_hash, true, true, &|| String::new())
    }

    pub fn open_with(hivebt: &Hivebt, info_hash: InfoHash, fast: bool, extended: bool) -> Wire {
        let addr = hivebt.addr.expect("wait_listening first");
        Wire::handshake_at(addr, info_hash, fast, extended, &|| hivebt.stderr())
    }

    /// Connects to `addr` and exchanges handshakes; a failure shows `stderr()`.
    fn handshake_at(
        addr: SocketAddr,
        info_hash: InfoHash,
        fast: bool,
        extended: bool,
        stderr: &dyn Fn() -> String,
    ) -> Wire {
        let mut w = Wire::connect(addr);
        let mut hs = Handshake::new(info_hash, test_peer_id());
        hs.set(ReservedBit::FAST_EXTENSION, fast);
        hs.set(ReservedBit::EXTENSION_PROTOCOL, extended);
        w.send_raw(&hs.encode());
        let hs = w.read_handshake().unwrap_or_else(|e| {
            panic!(
                "no handshake from hivebt at {addr} to {}: {e:?}; its stderr:\n{}",
                w.local_addr(),
                stderr()
            )
        });
        assert_eq!(hs.info_hash, info_hash, "handshake for another torrent");
        assert!(
            hs.has(ReservedBit::FAST_EXTENSION),
            "hivebt always announces the fast extension"
        );
        w
    }

    /// Our local address (how hivebt's logs name this connection).
    pub fn local_addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local addr")
    }

    /// Sends a handshake.
    pub fn send_handshake(&mut self, info_hash: InfoHash, fast: bool) {
        let mut hs = Handshake::new(info_hash, test_peer_id());
        hs.set(ReservedBit::FAST_EXTENSION, fast);
        self.send_raw(&hs.encode());
    }

    /// Reads the 68-byte handshake.
    pub fn read_handshake(&mut self) -> Result<Handshake, End> {
        while self.buf.len() < HANDSHAKE_LEN {
            self.fill()?;
        }
        let (hs, used) = Handshake::decode(&self.buf)
            .expect("hivebt sent a valid handshake")
            .expect("68 bytes are a whole handshake");
        self.buf.drain(..used);
        Ok(hs)
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sock
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.peer));
    }

    /// Writes raw bytes; false when the connection is already gone.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        self.sock.write_all(bytes).is_ok()
    }

    /// Sends one message.
    pub fn send(&mut self, m: &Message<'_>) {
        let mut buf = Vec::new();
        peer::encode(m, &mut buf);
        self.send_raw(&buf);
    }

    /// Sends several messages in one write.
    pub fn send_all(&mut self, ms: &[Message<'_>]) {
        let mut buf = Vec::new();
        for m in ms {
            peer::encode(m, &mut buf);
        }
        self.send_raw(&buf);
    }

    /// Reads more bytes into the buffer.
    fn fill(&mut self) -> Result<(), End> {
        let mut chunk = [0u8; 64 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => Err(End::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(End::TimedOut)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(_) => Err(End::Closed),
        }
    }

    /// The next message.
    pub fn recv(&mut self) -> Result<Got, End> {
        loop {
            match peer::decode(&self.buf, TEST_MAX_FRAME) {
                Ok(Some((m, used))) => {
                    let got = Got::from(&m);
                    self.buf.drain(..used);
                    return Ok(got);
                }
                Ok(None) => self.fill()?,
                Err(e) => panic!("hivebt at {} sent a malformed frame: {e}", self.peer),
            }
        }
    }

    /// Skips messages until an extended one (BEP 10) and returns its id and payload;
    /// fails on a close or a quiet read timeout.
    pub fn recv_extended(&mut self, what: &str) -> (u8, Vec<u8>) {
        loop {
            match peer::decode(&self.buf, TEST_MAX_FRAME) {
                Ok(Some((m, used))) => {
                    let ext = match m {
                        Message::Extended { id, payload } => Some((id, payload.to_vec())),
                        _ => None,
                    };
                    self.buf.drain(..used);
                    if let Some(ext) = ext {
                        return ext;
                    }
                }
                Ok(None) => {
                    if let Err(e) = self.fill() {
                        panic!("waiting for {what} from {}: {e:?}", self.peer);
                    }
                }
                Err(e) => panic!("hivebt at {} sent a malformed frame: {e}", self.peer),
            }
        }
    }

    /// Reads until the other side closes; fails if it keeps the connection open past
    /// the read timeout. Returns what arrived before the close.
    pub fn expect_closed(&mut self, why: &str) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            match self.recv() {
                Ok(m) if Instant::now() < deadline => seen.push(m),
                Ok(_) => panic!(
                    "{why}: hivebt at {} kept the connection open for {WAIT:?}, sending {}",
                    self.peer,
                    brief(&seen)
                ),
                Err(End::Closed) => return seen,
                Err(End::TimedOut) => panic!(
                    "{why}: hivebt at {} kept the connection open and quiet for \
                     {READ_TIMEOUT:?}; it sent {}",
                    self.peer,
                    brief(&seen)
                ),
            }
        }
    }

    /// Skips messages until one matches `want`; fails on a close, a quiet read timeout
    /// or after [`WAIT`].
    pub fn recv_until(&mut self, what: &str, mut want: impl FnMut(&Got) -> bool) -> Got {
        let deadline = Instant::now() + WAIT;
        let mut skipped = Vec::new();
        loop {
            match self.recv() {
                Ok(m) if want(&m) => return m,
                Ok(m) if Instant::now() < deadline => skipped.push(m),
                Ok(_) => panic!(
                    "waiting for {what} from {}: not there after {WAIT:?}; got {}",
                    self.peer,
                    brief(&skipped)
                ),
                Err(e) => panic!(
                    "waiting for {what} from {}: {e:?}; got before: {}",
                    self.peer,
                    brief(&skipped)
                ),
            }
        }
    }

    /// Says interested and waits to be unchoked.
    pub fn get_unchoked(&mut self) {
        self.send(&Message::Interested);
        self.recv_until("unchoke", |m| *m == Got::Unchoke);
    }

    /// Requests `b` and waits for exactly that block; fails on a reject or a close.
    pub fn fetch(&mut self, b: BlockRef) -> Vec<u8> {
        self.send(&Message::Request(b));
        let got = self.recv_until("the requested block", |m| {
            matches!(m, Got::Piece(r, _) if *r == b) || matches!(m, Got::Reject(r) if *r == b)
        });
        match got {
            Got::Piece(_, data) => data,
            other => panic!("hivebt answered {other:?} to a valid request for {b:?}"),
        }
    }

    /// Closes the socket.
    pub fn close(self) {
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

/// A well-behaved client: handshakes, gets unchoked and fetches a first, a middle
/// and the very last block, checking each against the content.
pub fn check_still_serving(seeder: &Hivebt, fx: &Fixture) {
    let mut w = Wire::open(seeder, fx.info_hash, true);
    w.get_unchoked();
    let blocks = fx.all_blocks();
    for b in [
        blocks[0],
        blocks[blocks.len() / 2],
        blocks[blocks.len() - 1],
    ] {
        let data = w.fetch(b);
        assert!(
            data == fx.data_of(b),
            "seeder sent wrong bytes for {b:?} to a good client"
        );
    }
    w.close();
}
