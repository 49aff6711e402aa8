//! Every command as a library call: the one-shot ones that work on .torrent files
//! (`create`, `inspect`, `verify`), the ones that run the engine (`seed`,
//! `download`, `tracker`), and `ctl`, the HTTP client of a running daemon.
//!
//! Depends on `wire`, `torrent`, `workers`, `progress` and, for the running commands,
//! `reactor`. Each command is a library function taking plain options and returning a
//! report or an outcome; `main.rs` only parses arguments into those options, prints
//! reports and picks the exit code. The
//! hashing loop here is a small reactor of its own: it owns the worker pool's waker,
//! keeps the bounded job queue full, and redraws progress between completions.

pub mod create;
pub mod ctl;
pub mod daemon;
pub mod inspect;
pub mod seed;
pub mod tracker;
pub mod transfer;
pub mod verify;

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mio::{Events, Poll, Token, Waker};

use crate::config::{MAX_TORRENT_FILE_BYTES, WORKER_QUEUE_PER_THREAD};
use crate::disk::ReadError;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::torrent::storage::Storage;
use crate::types::{PieceIndex, TorrentId};
use crate::wire::metainfo::Metainfo;
use crate::workers::{Completion, Job, WorkerPool};

/// Reads a .torrent file's bytes, never more than a torrent may hold: a larger file
/// is bad input naming it.
pub fn read_torrent_bytes(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_TORRENT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", path, e))?;
    if bytes.len() as u64 > MAX_TORRENT_FILE_BYTES {
        return Err(Error::BadInput(format!(
            "{}: larger than {MAX_TORRENT_FILE_BYTES} bytes, not a torrent file",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Reads and parses a .torrent file; a malformed one is bad input naming the file.
pub fn load_torrent(path: &Path) -> Result<Metainfo> {
    let bytes = read_torrent_bytes(path)?;
    Metainfo::from_bytes(&bytes).map_err(|e| Error::BadInput(format!("{}: {e}", path.display())))
}

const WAKE: Token = Token(0);

/// Hashes every piece of `storage` on `threads` workers, calling `on_piece` with each
/// result as it arrives (in completion order). Shows progress under `label`.
pub fn hash_all_pieces(
    storage: Arc<Storage>,
    threads: usize,
    label: &'static str,
    mut on_piece: impl FnMut(PieceIndex, std::result::Result<[u8; 20], ReadError>),
) -> Result<()> {
    let setup = |e: io::Error| Error::Failed(format!("cannot start the worker pool: {e}"));
    let mut poll = Poll::new().map_err(setup)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(setup)?);
    let pool = WorkerPool::new(threads, threads * WORKER_QUEUE_PER_THREAD, waker).map_err(setup)?;
    let count = storage.layout.piece_count();
    let mut progress = Progress::new(label, storage.layout.total_length, Instant::now());
    let mut events = Events::with_capacity(4);
    let (mut submitted, mut finished) = (0u32, 0u32);
    while finished < count {
        while submitted < count {
            let job = Job::HashPiece {
                // One storage per call: any id does.
                torrent: TorrentId {
                    slot: 0,
                    generation: 0,
                },
                storage: Arc::clone(&storage),
                piece: PieceIndex(submitted),
            };
            if pool.try_submit(job).is_err() {
                break;
            }
            submitted += 1;
        }
        let timeout = progress
            .next_draw_at()
            .saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Failed(format!("waiting for workers: {e}"))),
        }
        let completions = pool
            .drain()
            .map_err(|_| Error::Failed("the hashing threads stopped unexpectedly".into()))?;
        for (completion, _) in completions {
            let Completion::PieceHashed {
                piece, result, len, ..
            } = completion
            else {
                continue;
            };
            finished += 1;
            progress.advance(len);
            on_piece(piece, result);
        }
        progress.tick(Instant::now());
    }
    progress.finish();
    Ok(())
}

/// Parses a thread count option: `None` means `default`.
pub fn thread_count(requested: Option<usize>, default: usize) -> Result<usize> {
    match requested {
        None => Ok(default),
        Some(0) => Err(Error::BadInput("--threads must be at least 1".into())),
        Some(n) if n > 256 => Err(Error::BadInput(format!("--threads {n} is more than 256"))),
        Some(n) => Ok(n),
    }
}
