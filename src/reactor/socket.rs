//! [`Sink`] for mio's TCP stream: `sendfile(2)` for file ranges and `sendmsg(2)` with
//! `MSG_MORE` for the header in front of one, so the peer buffers stay socket-free.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;

use crate::peer::conn::Sink;

impl Sink for mio::net::TcpStream {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        let mut off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: both descriptors are open for the call (borrowed from live owners);
        // `off` is a valid off_t the kernel updates; no memory of ours is read or written.
        let n = unsafe { libc::sendfile(self.as_raw_fd(), file.as_raw_fd(), &mut off, len) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn write_vectored_more(&mut self, bufs: &[IoSlice<'_>], more: bool) -> io::Result<usize> {
        if !more {
            return self.write_vectored(bufs);
        }
        // SAFETY: an all-zero msghdr is valid (no name, no control data); the iovec
        // array is `bufs` (IoSlice is ABI-compatible with iovec), alive for the call.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = bufs.len() as _;
            libc::sendmsg(self.as_raw_fd(), &msg, libc::MSG_MORE | libc::MSG_NOSIGNAL)
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
