//! [`Sink`] for mio's TCP stream: `sendfile(2)` for file ranges and `sendmsg(2)` with
//! `MSG_MORE` for the header in front of one, so the peer buffers stay socket-free; and
//! [`tcp_listener`], the one way every listener (peers, API, tracker) is bound.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

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

/// A listening TCP socket on `addr`. An IPv6 address listens for IPv6 only
/// (`IPV6_V6ONLY`), so `0.0.0.0:P` and `[::]:P` can be bound side by side whatever the
/// host's `bindv6only` default; `SO_REUSEADDR` lets a restarted daemon take its port
/// back while old connections sit in TIME_WAIT.
pub fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Whether binding failed because the host has no IPv6 at all (the address family is
/// not supported or `::` is not available), as opposed to the port being taken.
pub fn no_ipv6(addr: SocketAddr, e: &io::Error) -> bool {
    addr.is_ipv6()
        && addr.ip().is_unspecified()
        && matches!(
            e.raw_os_error(),
            Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_listeners_share_a_port() {
        let v4 = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        match tcp_listener(SocketAddr::new("::1".parse().unwrap(), port)) {
            Ok(v6) => assert_eq!(v6.local_addr().unwrap().port(), port),
            // A host without IPv6 cannot show it; the error must say so.
            Err(e) => assert!(
                no_ipv6("[::]:1".parse().unwrap(), &e)
                    || e.raw_os_error() == Some(libc::EADDRNOTAVAIL),
                "{e}"
            ),
        }
        // The same family and port twice is still refused.
        assert!(tcp_listener(SocketAddr::new("127.0.0.1".parse().unwrap(), port)).is_err());
    }
}
