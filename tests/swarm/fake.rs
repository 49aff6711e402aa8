//! Scripted fake seeders: a listener in a test thread that runs a [`Script`] (corrupt
//! data, silence, a malformed bitfield) on every connection hivebt makes to it.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hivebt::types::InfoHash;
use hivebt::wire::peer::{self, Handshake, Message, ReservedBit};

use super::wire::{End, Got, Wire, test_peer_id};
use super::{BLOCK, WAIT};

/// What a fake seeder does once a peer connects.
#[derive(Debug, Clone)]
pub enum Script {
    /// Claims every piece, unchokes, and answers every request with wrong bytes.
    Corrupt,
    /// Claims every piece, unchokes, and answers every request with the right bytes of
    /// this content (pieces of `piece_len`) except the first block of each piece,
    /// which comes back wrong.
    CorruptFirstBlock {
        /// The torrent's content.
        content: Arc<Vec<u8>>,
        /// Its piece length.
        piece_len: u32,
    },
    /// Claims every piece, unchokes, accepts requests and never answers them.
    Stall,
    /// Handshakes, then sends this raw frame as its bitfield and waits.
    RawBitfield(Vec<u8>),
}

/// What happened on a fake seeder's connections.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Connections accepted.
    pub connections: u32,
    /// Requests received (all connections).
    pub requests: u32,
    /// Blocks answered.
    pub answered: u32,
    /// Cancels received.
    pub cancels: u32,
    /// Connections the peer closed (EOF or reset) after our opening messages.
    pub closed_by_peer: u32,
    /// Requests that arrived after `mark` was set.
    pub requests_after_mark: u32,
    /// Connections accepted after `mark` was set.
    pub connections_after_mark: u32,
    /// Set by the test (e.g. once hivebt banned us).
    pub mark: bool,
}

/// A fake seeder on a listener of its own, serving a [`Script`] to every connection,
/// each in its own thread. Stopped (listener closed, connections shut down) on drop.
pub struct FakeSeeder {
    /// Its listening address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    socks: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeSeeder {
    /// Listens on `ip:0` and runs `script` for the torrent `info_hash` of `pieces`
    /// pieces.
    pub fn start(ip: &str, info_hash: InfoHash, pieces: u32, script: Script) -> FakeSeeder {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("bind a fake seeder on {ip}: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let socks: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let acceptor = {
            let (stop, seen, socks) = (Arc::clone(&stop), Arc::clone(&seen), Arc::clone(&socks));
            std::thread::spawn(move || {
                for sock in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(sock) = sock else { continue };
                    if let Ok(c) = sock.try_clone() {
                        socks.lock().expect("socks").push(c);
                    }
                    {
                        let mut s = seen.lock().expect("seen");
                        s.connections += 1;
                        if s.mark {
                            s.connections_after_mark += 1;
                        }
                    }
                    let (seen, script) = (Arc::clone(&seen), script.clone());
                    std::thread::spawn(move || serve(sock, info_hash, pieces, &script, &seen));
                }
            })
        };
        FakeSeeder {
            addr,
            stop,
            seen,
            socks,
            acceptor: Some(acceptor),
        }
    }

    /// What happened so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("seen").clone()
    }

    /// Starts counting `*_after_mark`.
    pub fn mark(&self) {
        self.seen.lock().expect("seen").mark = true;
    }

    /// Waits until `cond` holds for what happened; false after `timeout`.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond(&self.seen()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        cond(&self.seen())
    }
}

impl Drop for FakeSeeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor, then cut every connection so their threads end.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for s in self.socks.lock().expect("socks").iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// One fake-seeder connection. Ends on EOF, a reset, or a minute of silence.
fn serve(sock: TcpStream, info_hash: InfoHash, pieces: u32, script: &Script, seen: &Mutex<Seen>) {
    if sock.peer_addr().is_err() {
        return; // already gone
    }
    let mut w = Wire::with_read_timeout(sock, WAIT);
    let Ok(hs) = w.read_handshake() else { return };
    if hs.info_hash != info_hash {
        return;
    }
    let fast = hs.has(ReservedBit::FAST_EXTENSION);
    let mut ours = Handshake::new(info_hash, test_peer_id());
    ours.set(ReservedBit::FAST_EXTENSION, true);
    let mut opening = ours.encode().to_vec();
    match script {
        Script::RawBitfield(frame) => opening.extend_from_slice(frame),
        Script::Corrupt | Script::CorruptFirstBlock { .. } | Script::Stall => {
            if fast {
                peer::encode(&Message::HaveAll, &mut opening);
            } else {
                let mut bits = vec![0xffu8; pieces.div_ceil(8) as usize];
                if pieces % 8 != 0 {
                    *bits.last_mut().expect("one byte") = 0xffu8 << (8 - pieces % 8);
                }
                peer::encode(&Message::Bitfield(&bits), &mut opening);
            }
            peer::encode(&Message::Unchoke, &mut opening);
        }
    }
    if !w.try_send_raw(&opening) {
        return;
    }
    loop {
        let m = match w.recv() {
            Ok(m) => m,
            Err(End::Closed) => {
                seen.lock().expect("seen").closed_by_peer += 1;
                return;
            }
            Err(End::TimedOut) => return,
        };
        if let Got::Cancel(_) = m {
            seen.lock().expect("seen").cancels += 1;
        }
        let Got::Request(b) = m else { continue };
        {
            let mut s = seen.lock().expect("seen");
            s.requests += 1;
            if s.mark {
                s.requests_after_mark += 1;
            }
        }
        // Wrong bytes of the right length: a constant never matches the pseudo-random
        // content.
        let junk = vec![0x5a; b.len.min(BLOCK) as usize];
        let data: &[u8] = match script {
            Script::Corrupt => &junk,
            Script::CorruptFirstBlock { content, piece_len } if b.offset > 0 => {
                let start = b.piece.0 as usize * *piece_len as usize + b.offset as usize;
                match content.get(start..start + junk.len()) {
                    Some(d) => d,
                    None => continue,
                }
            }
            Script::CorruptFirstBlock { .. } => &junk,
            Script::Stall | Script::RawBitfield(_) => continue,
        };
        let mut out = Vec::new();
        peer::encode(
            &Message::Piece {
                piece: b.piece,
                offset: b.offset,
                data,
            },
            &mut out,
        );
        if !w.try_send_raw(&out) {
            return;
        }
        seen.lock().expect("seen").answered += 1;
    }
}
