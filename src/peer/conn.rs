//! Byte buffers of one peer connection: the receive buffer frames are decoded from, and
//! the send queue written with vectored writes and `sendfile(2)`. Generic over `Read`
//! and [`Sink`], so it is tested with in-memory streams and driven by the reactor over
//! mio sockets (the reactor implements `Sink` for them).
//!
//! Depends on `bytes` and `libc` (`sendfile`, `sendmsg` with `MSG_MORE`). Memory is
//! allocated on demand: an idle connection with nothing buffered holds no receive
//! buffer and, after the per-second sweep, no send queue, so a thousand idle peers cost
//! little more than their sockets. Invariants:
//! - `buf[start..end]` is the unconsumed input; the buffer is freed by the sweep when empty;
//! - `send_bytes` is the sum of the queued chunks' lengths minus `front_written`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::peer::close::CloseReason;
use crate::peer::session::PeerSession;
use crate::types::ConnKey;

/// Largest receive buffer grown for reading (a frame longer than this grows it to
/// twice the frame instead).
pub const RECV_CHUNK: usize = 64 * 1024;

/// First size of a receive buffer: enough for a handshake, small requests and HTTP
/// tracker requests without reaching for the large size.
pub const RECV_MIN: usize = 4 * 1024;

/// Most chunks handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// Where a peer connection is in its life.
#[derive(Debug)]
pub enum ConnState {
    /// Non-blocking connect in flight: only a writable event (then `take_error`) is
    /// legal; nothing is read or queued.
    Connecting,
    /// TCP is up; we wait for the peer's handshake. Outgoing connections have sent
    /// ours; incoming ones send theirs once the info-hash names a torrent of ours.
    Handshaking,
    /// Handshakes exchanged: messages flow in both directions.
    Active(Box<PeerSession>),
    /// Handshakes exchanged for a torrent that has only its info-hash: the metadata
    /// (BEP 9) is asked for and nothing else is exchanged.
    Fetching(Box<crate::peer::fetcher::MetadataPeer>),
    /// Closed for this reason and already detached from its torrent (its requests and
    /// pieces left the picker): nothing more is read or handled; what is queued may
    /// still be written until the slot is freed at the end of the reactor turn.
    Closing(CloseReason),
}

/// One peer connection without its socket: its state, its buffers and the largest
/// frame it accepts. The reactor pairs it with the socket.
#[derive(Debug)]
pub struct Connection {
    /// Its slot and generation: what lists that name it hold.
    pub id: ConnKey,
    /// The peer's address.
    pub addr: SocketAddr,
    /// We dialled it.
    pub outgoing: bool,
    /// Where it is in its life.
    pub state: ConnState,
    /// Bytes received and not yet decoded.
    pub recv: RecvBuf,
    /// Bytes to send.
    pub send: SendQueue,
    /// Slab key of its torrent, once known (at once for outgoing connections).
    pub torrent: Option<usize>,
    /// When the connect or the handshake wait started.
    pub started_at: Instant,
    /// The largest frame it may send: a handshake's length until the handshakes are
    /// exchanged, then what the torrent's messages need.
    pub max_frame: u32,
    /// Output was queued and the owner was asked to write it; cleared when it is
    /// written, so a connection written meanwhile is not written again for it.
    pub write_wanted: bool,
}

impl Connection {
    /// A new connection: connecting when outgoing, waiting for a handshake otherwise.
    pub fn new(
        id: ConnKey,
        addr: SocketAddr,
        outgoing: bool,
        torrent: Option<usize>,
        now: Instant,
    ) -> Self {
        Connection {
            id,
            addr,
            outgoing,
            state: if outgoing {
                ConnState::Connecting
            } else {
                ConnState::Handshaking
            },
            recv: RecvBuf::new(),
            send: SendQueue::new(),
            torrent,
            started_at: now,
            max_frame: crate::wire::peer::HANDSHAKE_LEN as u32,
            write_wanted: false,
        }
    }

    /// Its session, once active.
    pub fn session(&self) -> Option<&PeerSession> {
        match &self.state {
            ConnState::Active(s) => Some(s),
            _ => None,
        }
    }

    /// Its session, once active.
    pub fn session_mut(&mut self) -> Option<&mut PeerSession> {
        match &mut self.state {
            ConnState::Active(s) => Some(s),
            _ => None,
        }
    }

    /// Whether it was closed this turn.
    pub fn is_closing(&self) -> bool {
        matches!(self.state, ConnState::Closing(_))
    }
}

/// An in-memory sink (tests, simulations): file ranges are read and appended.
impl Sink for Vec<u8> {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; len];
        let n = file.read_at(&mut buf, offset)?;
        self.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// What a read pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadPass {
    /// Bytes read.
    pub bytes: usize,
    /// The peer closed its side.
    pub eof: bool,
    /// The socket has no more data now (so no readable edge is owed).
    pub drained: bool,
}

/// Input read from the socket and not yet decoded: `buf[start..end]`. Until input
/// reaches `RECV_MIN` bytes it is read through a stack buffer and `buf` holds just
/// what arrived; past that the whole of `buf` is initialised once when it grows, so
/// reads never zero memory again. It grows by doubling from `RECV_MIN` and is handed
/// back by [`RecvBuf::release_if_empty`] (the reactor's per-second sweep), not after
/// every read.
#[derive(Debug, Default)]
pub struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Output waiting for the socket to accept it: a queue of chunks written with vectored
/// writes, where a chunk is shared bytes, a few bytes held inline (small messages are
/// appended to the last inline chunk, so a run of them costs no allocation and goes out
/// in one iovec), or a range of a file sent with `sendfile(2)` (block payloads served
/// straight from the page cache).
#[derive(Debug, Default)]
pub struct SendQueue {
    send: VecDeque<Chunk>,
    front_written: usize,
    send_bytes: usize,
}

/// Bytes an inline chunk holds: a piece header (13) plus a few `have`s (9 each).
const INLINE: usize = 40;

#[derive(Debug)]
enum Chunk {
    Shared(Bytes),
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    File {
        file: Arc<File>,
        offset: u64,
        len: u32,
    },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Shared(b) => b.len(),
            Chunk::Inline { len, .. } => usize::from(*len),
            Chunk::File { len, .. } => *len as usize,
        }
    }

    /// The chunk's bytes in memory (`None` for a file range).
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Chunk::Shared(b) => Some(b),
            Chunk::Inline { len, buf } => Some(&buf[..usize::from(*len)]),
            Chunk::File { .. } => None,
        }
    }
}

/// Where a [`SendQueue`] writes: a byte stream that can also send a range of a file
/// (a socket, through `sendfile(2)`; tests, through a read and a write).
pub trait Sink: Write {
    /// Sends up to `len` bytes of `file` from `offset`; returns how many were sent
    /// (0 means the file ended early).
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize>;

    /// Writes `bufs`; `more` says a file range follows at once, so the stack may hold
    /// these bytes back to share a segment with it (`MSG_MORE`).
    fn write_vectored_more(&mut self, bufs: &[IoSlice<'_>], more: bool) -> io::Result<usize> {
        let _ = more;
        self.write_vectored(bufs)
    }
}

impl RecvBuf {
    /// An empty buffer (nothing allocated).
    pub fn new() -> RecvBuf {
        RecvBuf::default()
    }

    /// Reads from `r` until it would block, it reports end of stream, `budget` bytes
    /// were read, or the unconsumed input reaches `max_buffered` bytes (a frame cannot
    /// be longer than that, so the decoder will make progress or fail).
    pub fn read_from<R: Read>(
        &mut self,
        r: &mut R,
        budget: usize,
        max_buffered: usize,
    ) -> io::Result<ReadPass> {
        let mut pass = ReadPass::default();
        while pass.bytes < budget && self.end - self.start < max_buffered {
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            if self.buf.len() < RECV_MIN {
                // A small or no buffer (an idle peer's handshake, a keep-alive): read
                // into the stack and keep only what arrived, so a thousand idle peers
                // never hold (or fragment the heap with) a 4 KiB buffer each.
                let mut stack = [0u8; RECV_MIN];
                let n = match r.read(&mut stack) {
                    Ok(0) => {
                        pass.eof = true;
                        return Ok(pass);
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        pass.drained = true;
                        return Ok(pass);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                self.buf.truncate(self.end);
                self.buf.extend_from_slice(&stack[..n]);
                self.end += n;
                pass.bytes += n;
                continue;
            }
            if self.buf.len() - self.end < RECV_MIN / 2 {
                // Make room: move what is left to the front, and grow if still short.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() - self.end < RECV_MIN / 2 {
                    let grown = (self.buf.len() * 2).clamp(RECV_MIN, RECV_CHUNK.max(self.end * 2));
                    self.buf.resize(grown, 0);
                }
            }
            match r.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    pass.eof = true;
                    return Ok(pass);
                }
                Ok(n) => {
                    self.end += n;
                    pass.bytes += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pass.drained = true;
                    return Ok(pass);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(pass)
    }

    /// The input not yet consumed.
    pub fn unconsumed(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` bytes of input consumed.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the buffer when nothing is waiting in it, so an idle connection holds no
    /// receive memory.
    pub fn release_if_empty(&mut self) {
        if self.start == self.end && !self.buf.is_empty() {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Bytes of memory the buffer holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

impl SendQueue {
    /// An empty queue.
    pub fn new() -> SendQueue {
        SendQueue::default()
    }

    /// Queues bytes to send.
    pub fn queue(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.send_bytes += chunk.len();
            self.send.push_back(Chunk::Shared(chunk));
        }
    }

    /// Queues a copy of a few bytes (a message header, a small message), appended to
    /// the last chunk when that is an inline chunk with room: no allocation.
    pub fn queue_small(&mut self, bytes: &[u8]) {
        if bytes.len() > INLINE {
            return self.queue(Bytes::copy_from_slice(bytes));
        }
        self.send_bytes += bytes.len();
        // Appending to a partly written front chunk is fine: only its end moves.
        if let Some(Chunk::Inline { len, buf }) = self.send.back_mut() {
            let at = usize::from(*len);
            if at + bytes.len() <= INLINE {
                buf[at..at + bytes.len()].copy_from_slice(bytes);
                *len += bytes.len() as u8;
                return;
            }
        }
        let mut buf = [0u8; INLINE];
        buf[..bytes.len()].copy_from_slice(bytes);
        self.send.push_back(Chunk::Inline {
            len: bytes.len() as u8,
            buf,
        });
    }

    /// Encodes a peer wire message onto the queue; small ones are batched into the
    /// inline chunks.
    pub fn queue_msg(&mut self, msg: &crate::wire::peer::Message<'_>) {
        let mut buf = Vec::with_capacity(msg.frame_len() as usize + 4);
        crate::wire::peer::encode(msg, &mut buf);
        if buf.len() <= 32 {
            self.queue_small(&buf);
        } else {
            self.queue(Bytes::from(buf));
        }
    }

    /// Queues `len` bytes of `file` from `offset`, sent with [`Sink::send_file`].
    pub fn queue_file(&mut self, file: Arc<File>, offset: u64, len: u32) {
        if len > 0 {
            self.send_bytes += len as usize;
            self.send.push_back(Chunk::File { file, offset, len });
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.send_bytes
    }

    /// Writes queued bytes to `w` until it would block or the queue is empty; returns
    /// the bytes written. In-memory chunks go out in vectored writes; a file range
    /// through `send_file`, the in-memory bytes before it flagged `more`.
    pub fn write_to<W: Sink>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut written = 0;
        while let Some(front) = self.send.front() {
            let result = if let Chunk::File { file, offset, len } = front {
                let done = self.front_written;
                match w.send_file(file, offset + done as u64, *len as usize - done) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    other => other,
                }
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                let mut file_next = false;
                for chunk in self.send.iter().take(MAX_IOVECS) {
                    let Some(bytes) = chunk.bytes() else {
                        file_next = true;
                        break;
                    };
                    let part = if count == 0 {
                        &bytes[self.front_written..]
                    } else {
                        bytes
                    };
                    slices[count] = IoSlice::new(part);
                    count += 1;
                }
                match w.write_vectored_more(&slices[..count], file_next) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    other => other,
                }
            };
            match result {
                Ok(n) => {
                    written += n;
                    self.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Frees the queue's memory when nothing is waiting in it (the per-second sweep),
    /// so an idle connection holds none.
    pub fn release_if_empty(&mut self) {
        if self.send.is_empty() && self.send.capacity() > 0 {
            self.send = VecDeque::new();
        }
    }

    /// Bytes of memory the queue's chunk list holds (not counting shared bytes).
    pub fn capacity(&self) -> usize {
        self.send.capacity() * std::mem::size_of::<Chunk>()
    }

    fn advance(&mut self, mut n: usize) {
        self.send_bytes -= n;
        while n > 0 {
            let front_left = self.send[0].len() - self.front_written;
            if n >= front_left {
                n -= front_left;
                self.send.pop_front();
                self.front_written = 0;
            } else {
                self.front_written += n;
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that yields its input in fixed-size pieces, then WouldBlock, and accepts
    /// at most `write_limit` bytes per call and `total_limit` in all.
    struct Trickle {
        input: Vec<u8>,
        pos: usize,
        step: usize,
        out: Vec<u8>,
        write_limit: usize,
        total_limit: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.input.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.step).min(self.input.len() - self.pos);
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let room = self.total_limit - self.out.len();
            if room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.write_limit).min(room);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Trickle {
        fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0; len.min(self.write_limit)];
            let n = file.read_at(&mut buf, offset)?;
            self.write(&buf[..n])
        }
    }

    fn trickle(input: Vec<u8>, step: usize) -> Trickle {
        Trickle {
            input,
            pos: 0,
            step,
            out: Vec::new(),
            write_limit: 7,
            total_limit: usize::MAX,
        }
    }

    #[test]
    fn reads_until_would_block_and_frees_when_consumed() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut t = trickle(data.clone(), 10_000);
        let mut io = RecvBuf::new();
        let pass = io.read_from(&mut t, usize::MAX, usize::MAX).unwrap();
        assert_eq!(
            pass,
            ReadPass {
                bytes: 100_000,
                eof: false,
                drained: true
            }
        );
        assert_eq!(io.unconsumed(), &data[..]);
        io.consume(60_000);
        assert_eq!(io.unconsumed(), &data[60_000..]);
        io.consume(40_000);
        assert!(io.unconsumed().is_empty());
        assert!(io.capacity() > 0, "kept between reads");
        io.release_if_empty();
        assert_eq!(io.capacity(), 0, "freed by the sweep when empty");
    }

    #[test]
    fn a_handshake_sized_read_holds_only_what_arrived() {
        let mut t = trickle((0..68u8).collect(), 40);
        let mut io = RecvBuf::new();
        let pass = io.read_from(&mut t, usize::MAX, usize::MAX).unwrap();
        assert_eq!((pass.bytes, pass.drained), (68, true));
        assert_eq!(io.unconsumed(), &(0..68u8).collect::<Vec<_>>()[..]);
        assert!(io.capacity() < 256, "{} bytes held for 68", io.capacity());
        io.consume(50);
        t.input.extend(100..110u8);
        io.read_from(&mut t, usize::MAX, usize::MAX).unwrap();
        let want: Vec<u8> = (50..68u8).chain(100..110).collect();
        assert_eq!(io.unconsumed(), &want[..]);
    }

    #[test]
    fn budget_and_buffer_cap_stop_reading() {
        let mut t = trickle(vec![1; 100_000], 1000);
        let mut io = RecvBuf::new();
        let pass = io.read_from(&mut t, 5000, usize::MAX).unwrap();
        assert_eq!((pass.bytes, pass.drained), (5000, false));
        let pass = io.read_from(&mut t, usize::MAX, 8000).unwrap();
        assert_eq!(io.unconsumed().len(), 8000);
        assert!(!pass.drained);
    }

    #[test]
    fn eof_is_reported() {
        let mut io = RecvBuf::new();
        let pass = io
            .read_from(&mut &b"abc"[..], usize::MAX, usize::MAX)
            .unwrap();
        assert_eq!(
            pass,
            ReadPass {
                bytes: 3,
                eof: true,
                drained: false
            }
        );
    }

    #[test]
    fn vectored_writes_resume_after_partial_writes() {
        let mut io = SendQueue::new();
        let mut expected = Vec::new();
        for i in 0..200u8 {
            let chunk = vec![i; usize::from(i % 13) + 1];
            expected.extend_from_slice(&chunk);
            io.queue(Bytes::from(chunk));
        }
        let total = expected.len();
        assert_eq!(io.queued(), total);
        let mut t = trickle(Vec::new(), 1);
        t.total_limit = 500;
        assert_eq!(io.write_to(&mut t).unwrap(), 500);
        assert_eq!(io.queued(), total - 500);
        t.total_limit = usize::MAX;
        assert_eq!(io.write_to(&mut t).unwrap(), total - 500);
        assert_eq!(io.queued(), 0);
        assert_eq!(t.out, expected);
    }

    fn scratch_file(tag: &str, data: &[u8]) -> Arc<File> {
        let path = std::env::temp_dir().join(format!("hivebt-conn-{tag}-{}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Arc::new(file)
    }

    #[test]
    fn file_ranges_and_inline_headers_interleave_in_order() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let file = scratch_file("interleave", &data);
        let mut io = SendQueue::new();
        let mut expected = Vec::new();
        for (i, (offset, len)) in [(0u64, 16384u32), (40_000, 10_000), (7, 1)]
            .into_iter()
            .enumerate()
        {
            let header = [i as u8; 13];
            io.queue_small(&header);
            io.queue_file(Arc::clone(&file), offset, len);
            expected.extend_from_slice(&header);
            expected.extend_from_slice(&data[offset as usize..(offset + u64::from(len)) as usize]);
        }
        io.queue(Bytes::from_static(b"tail"));
        expected.extend_from_slice(b"tail");
        assert_eq!(io.queued(), expected.len());
        let mut t = trickle(Vec::new(), 1);
        t.write_limit = 1000;
        t.total_limit = 3333;
        assert_eq!(
            io.write_to(&mut t).unwrap(),
            3333,
            "stops at WouldBlock mid-file"
        );
        t.total_limit = usize::MAX;
        assert_eq!(io.write_to(&mut t).unwrap(), expected.len() - 3333);
        assert_eq!(t.out, expected);
        assert_eq!(io.queued(), 0);
    }

    #[test]
    fn small_messages_share_one_inline_chunk() {
        let mut io = SendQueue::new();
        for i in 0..4u8 {
            io.queue_small(&[i; 9]);
        }
        assert_eq!(io.send.len(), 1, "36 bytes fit one chunk");
        io.queue_small(&[9; 9]);
        assert_eq!(io.send.len(), 2);
        io.queue_small(&[7; 100]);
        assert_eq!(io.send.len(), 3, "too long to inline: shared bytes");
        let mut t = trickle(Vec::new(), 1);
        t.write_limit = 5;
        t.total_limit = 5;
        io.write_to(&mut t).unwrap();
        io.queue_small(&[1; 3]);
        t.total_limit = usize::MAX;
        io.write_to(&mut t).unwrap();
        let mut expected = Vec::new();
        for i in 0..4u8 {
            expected.extend_from_slice(&[i; 9]);
        }
        expected.extend_from_slice(&[9; 9]);
        expected.extend_from_slice(&[7; 100]);
        expected.extend_from_slice(&[1; 3]);
        assert_eq!(t.out, expected);
        assert!(io.capacity() > 0);
        io.release_if_empty();
        assert_eq!(io.capacity(), 0, "the sweep frees an empty queue");
    }

    #[test]
    fn a_file_that_ends_early_is_an_error() {
        let file = scratch_file("short", &[1; 100]);
        let mut io = SendQueue::new();
        io.queue_file(file, 50, 100);
        let mut t = trickle(Vec::new(), 1);
        t.write_limit = 1 << 20;
        let err = io.write_to(&mut t).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn sendfile_and_msg_more_work_on_a_real_socket() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 256) as u8).collect();
        let file = scratch_file("socket", &data);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let std_sock = std::net::TcpStream::connect(addr).unwrap();
        std_sock.set_nonblocking(true).unwrap();
        let mut sock = mio::net::TcpStream::from_std(std_sock);
        let mut io = SendQueue::new();
        let mut expected = Vec::new();
        for (i, offset) in (0..data.len()).step_by(16384).enumerate() {
            let len = 16384.min(data.len() - offset);
            let header = [i as u8; 13];
            io.queue_small(&header);
            io.queue_file(Arc::clone(&file), offset as u64, len as u32);
            expected.extend_from_slice(&header);
            expected.extend_from_slice(&data[offset..offset + len]);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while io.queued() > 0 {
            io.write_to(&mut sock).unwrap();
            assert!(std::time::Instant::now() < deadline, "socket never drained");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(sock);
        assert_eq!(reader.join().unwrap(), expected);
    }
}
