//! DNS look-ups for tracker host names, on a thread of their own so the reactor never
//! blocks in `getaddrinfo`.
//!
//! Depends on mio's `Waker`. Requests go through a bounded queue (a full queue fails the
//! look-up at once rather than blocking the reactor); each answer is posted back on a
//! channel and wakes the reactor. Address literals never reach this thread: the caller
//! parses them first.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use mio::Waker;

/// Look-ups waiting for the resolver thread before new ones fail at once.
const QUEUE: usize = 64;

/// The answer to one look-up: the addresses, or why there are none.
pub type Answer = (u64, Result<Vec<SocketAddr>, String>);

/// The resolver thread and its queues.
pub struct Resolver {
    requests: Option<SyncSender<(u64, String, u16)>>,
    answers: Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
}

impl Resolver {
    /// Starts the thread; answers wake `waker`.
    pub fn new(waker: Arc<Waker>) -> io::Result<Resolver> {
        let (req_tx, req_rx) = mpsc::sync_channel::<(u64, String, u16)>(QUEUE);
        let (ans_tx, ans_rx) = mpsc::channel::<Answer>();
        let thread = std::thread::Builder::new()
            .name("hivebt-resolver".into())
            .spawn(move || {
                for (id, host, port) in req_rx {
                    let result = (host.as_str(), port)
                        .to_socket_addrs()
                        .map(|addrs| addrs.collect::<Vec<_>>())
                        .map_err(|e| format!("cannot resolve {host}: {e}"));
                    if ans_tx.send((id, result)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(Resolver {
            requests: Some(req_tx),
            answers: ans_rx,
            thread: Some(thread),
        })
    }

    /// Asks for the addresses of `host`; the answer comes back tagged with `id`. Fails
    /// at once when the queue is full.
    pub fn resolve(&self, id: u64, host: &str, port: u16) -> Result<(), String> {
        let Some(tx) = &self.requests else {
            return Err("resolver stopped".into());
        };
        tx.try_send((id, host.to_string(), port))
            .map_err(|_| format!("too many look-ups pending to resolve {host}"))
    }

    /// Answers that are ready.
    pub fn drain(&self) -> Vec<Answer> {
        let mut out = Vec::new();
        loop {
            match self.answers.try_recv() {
                Ok(a) => out.push(a),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its current look-up; a look-up that
        // hangs in the system resolver is not waited for.
        self.requests = None;
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    #[test]
    fn resolves_localhost_and_wakes() {
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let r = Resolver::new(waker).unwrap();
        r.resolve(7, "localhost", 80).unwrap();
        let mut events = Events::with_capacity(4);
        let mut answers = Vec::new();
        for _ in 0..50 {
            poll.poll(&mut events, Some(Duration::from_millis(200)))
                .unwrap();
            answers.extend(r.drain());
            if !answers.is_empty() {
                break;
            }
        }
        let (id, result) = answers.pop().expect("an answer within 10 s");
        assert_eq!(id, 7);
        let addrs = result.expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
    }
}
