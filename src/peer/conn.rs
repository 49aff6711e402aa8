//! Byte buffers of one peer connection: the receive buffer frames are decoded from, and
//! the send queue written with vectored writes. Generic over `Read`/`Write`, so it is
//! tested with in-memory streams and driven by the reactor over mio sockets.
//!
//! Depends on `bytes` and `config`. Memory is allocated on demand: an idle connection
//! with nothing buffered holds no receive buffer and an empty send queue, so a
//! thousand idle peers cost little more than their sockets. Invariants:
//! - `buf[start..end]` is the unconsumed input; the buffer is freed by the sweep when empty;
//! - `send_bytes` is the sum of the queued chunks' lengths minus `front_written`.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use bytes::Bytes;

/// Largest receive buffer grown for reading (a frame longer than this grows it to
/// twice the frame instead).
pub const RECV_CHUNK: usize = 64 * 1024;

/// First size of a receive buffer: enough for a handshake, small requests and HTTP
/// tracker requests without reaching for the large size.
pub const RECV_MIN: usize = 4 * 1024;

/// Most chunks handed to one vectored write.
const MAX_IOVECS: usize = 64;

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

/// Input read from the socket and not yet decoded: `buf[start..end]`. The whole of
/// `buf` is initialised once when it grows, so reads never zero memory again; it grows
/// by doubling from `RECV_MIN` and is handed back by [`RecvBuf::release_if_empty`]
/// (the reactor's per-second sweep), not after every read.
#[derive(Debug, Default)]
pub struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Output waiting for the socket to accept it.
#[derive(Debug, Default)]
pub struct SendQueue {
    send: VecDeque<Bytes>,
    front_written: usize,
    send_bytes: usize,
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
            self.send.push_back(chunk);
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.send_bytes
    }

    /// Writes queued bytes to `w` until it would block or the queue is empty; returns
    /// the bytes written.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut written = 0;
        while !self.send.is_empty() {
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (i, chunk) in self.send.iter().take(MAX_IOVECS).enumerate() {
                    let part = if i == 0 {
                        &chunk[self.front_written..]
                    } else {
                        &chunk[..]
                    };
                    slices[count] = IoSlice::new(part);
                    count += 1;
                }
                match w.write_vectored(&slices[..count]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(written),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            written += n;
            self.advance(n);
        }
        if self.send.capacity() > 64 {
            self.send = VecDeque::new();
        }
        Ok(written)
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
}
