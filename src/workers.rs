//! The worker pool: N named threads that hash and move piece data off the reactor
//! thread and write resume records, with a bounded job queue and a completion channel
//! that wakes the reactor.
//!
//! Depends on `disk`, `resume`, `bitfield`, `torrent::storage` and mio's `Waker`. The wake protocol: a worker
//! that pushes a completion wakes the reactor only when no wake is pending; the reactor
//! clears the pending flag *before* draining ([`WorkerPool::drain`]), so a completion
//! pushed during the drain either is drained now or triggers a new wake. None is lost.
//! Jobs carry the [`TorrentId`] they are for, so a completion for a torrent that is
//! gone since (its slot reused by another) is recognised and ignored.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::Waker;
use sha1::{Digest, Sha1};

use crate::bitfield::Bitfield;
use crate::disk::{self, FdCache, ReadError};
use crate::resume;
use crate::torrent::storage::Storage;
use crate::types::{BLOCK_SIZE, InfoHash, PieceIndex, TorrentId};

/// What a [`Task`] hands back: any value, which its submitter downcasts.
pub type TaskOutput = Box<dyn std::any::Any + Send>;

/// Work a front (the daemon) sends to the workers so the reactor never blocks on it:
/// reading a .torrent, checking files, writing session records, deleting data. Its
/// output comes back as [`Completion::TaskDone`] with the same `tag`.
pub struct Task {
    /// The submitter's tag, returned with the output.
    pub tag: u64,
    /// The work.
    pub run: Box<dyn FnOnce() -> TaskOutput + Send>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Task({})", self.tag)
    }
}

/// Work for a worker thread.
#[derive(Debug)]
pub enum Job {
    /// A front's task (see [`Task`]).
    Task(Task),
    /// Read a piece from disk and hash it (create, verify, recheck).
    HashPiece {
        /// The torrent, returned in the completion.
        torrent: TorrentId,
        /// Where the piece lives.
        storage: Arc<Storage>,
        /// Which piece.
        piece: PieceIndex,
    },
    /// Hash a downloaded piece and, if it matches, write it (the peer engine).
    VerifyAndWrite {
        /// Caller's id for the torrent, returned in the completion.
        torrent: TorrentId,
        /// Where the piece goes.
        storage: Arc<Storage>,
        /// Which piece.
        piece: PieceIndex,
        /// The piece's bytes as received.
        data: Vec<u8>,
        /// The hash the torrent gives for it.
        expected: [u8; 20],
        /// Return the SHA-1 of every 16 KiB block even when the piece verifies (the
        /// piece failed before, and the blocks will be compared to find who lied).
        block_hashes: bool,
    },
    /// Make sure a piece is in the page cache so its blocks can be sent with
    /// `sendfile` without the reactor waiting on the disk.
    PrefetchPiece {
        /// Caller's id for the torrent, returned in the completion.
        torrent: TorrentId,
        /// Where the piece lives.
        storage: Arc<Storage>,
        /// Which piece.
        piece: PieceIndex,
    },
    /// Read a whole piece to serve blocks of it to peers.
    ReadPiece {
        /// Caller's id for the torrent, returned in the completion.
        torrent: TorrentId,
        /// Where the piece lives.
        storage: Arc<Storage>,
        /// Which piece.
        piece: PieceIndex,
    },
    /// Write a torrent's resume record (a stat of every file, a write, a rename): see
    /// [`resume::save`].
    SaveResume {
        /// Caller's id for the torrent, returned in the completion.
        torrent: TorrentId,
        /// The state directory.
        dir: PathBuf,
        /// The torrent's info-hash, which names the record.
        info_hash: InfoHash,
        /// Where the torrent's files live (their sizes and mtimes go in the record).
        storage: Arc<Storage>,
        /// The pieces verified and written when the job was submitted.
        have: Bitfield,
    },
}

/// The outcome of a job, returned to the reactor.
#[derive(Debug)]
pub enum Completion {
    /// A [`Job::HashPiece`] finished.
    PieceHashed {
        /// The job's torrent.
        torrent: TorrentId,
        /// The piece.
        piece: PieceIndex,
        /// Its SHA-1, or why it could not be read.
        result: Result<[u8; 20], ReadError>,
        /// Bytes the piece holds (for progress).
        len: u64,
    },
    /// A [`Job::VerifyAndWrite`] finished.
    PieceWritten {
        /// The job's torrent.
        torrent: TorrentId,
        /// The piece.
        piece: PieceIndex,
        /// `Ok(true)`: verified and written; `Ok(false)`: hash mismatch, nothing written;
        /// `Err`: verified but the write failed.
        result: Result<bool, io::Error>,
        /// SHA-1 of each 16 KiB block: always for a piece that failed, and on request
        /// for one that verified.
        block_hashes: Option<Vec<[u8; 20]>>,
        /// Time spent hashing the piece (the rest of the job's run time is the write).
        hashed: Duration,
    },
    /// A [`Job::PrefetchPiece`] finished.
    PiecePrefetched {
        /// The job's torrent.
        torrent: TorrentId,
        /// The piece.
        piece: PieceIndex,
        /// Bytes that had to be read from disk (0 when all was cached), or why the
        /// piece cannot be read.
        result: Result<u64, ReadError>,
    },
    /// A [`Job::ReadPiece`] finished.
    PieceRead {
        /// The job's torrent.
        torrent: TorrentId,
        /// The piece.
        piece: PieceIndex,
        /// The piece's bytes.
        result: Result<Bytes, ReadError>,
    },
    /// A [`Job::Task`] finished.
    TaskDone {
        /// The task's tag.
        tag: u64,
        /// What it returned.
        output: TaskOutput,
    },
    /// A [`Job::SaveResume`] finished.
    ResumeSaved {
        /// The job's torrent.
        torrent: TorrentId,
        /// The pieces the record written holds (those of the job).
        have: Bitfield,
        /// Whether the record was written, or why not.
        result: io::Result<()>,
    },
}

/// How long a job waited in the queue and how long a worker spent on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobTiming {
    /// From submission to a worker taking it.
    pub waited: Duration,
    /// From a worker taking it to its completion.
    pub ran: Duration,
}

struct Shared {
    wake_pending: AtomicBool,
    waker: Arc<Waker>,
}

/// Every worker thread has stopped (one panicked, or the pool is shutting down): no
/// submitted job will complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGone;

/// A fixed pool of worker threads.
pub struct WorkerPool {
    jobs: Option<SyncSender<(Job, Instant)>>,
    completions: Receiver<(Completion, JobTiming)>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `threads` workers (at least one) sharing a queue of `queue` jobs; each
    /// completion wakes `waker`.
    pub fn new(threads: usize, queue: usize, waker: Arc<Waker>) -> io::Result<WorkerPool> {
        let (job_tx, job_rx) = mpsc::sync_channel::<(Job, Instant)>(queue.max(1));
        let (done_tx, done_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let shared = Arc::new(Shared {
            wake_pending: AtomicBool::new(false),
            waker,
        });
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("hivebt-worker-{n}"))
                .spawn(move || worker_main(&job_rx, &done_tx, &shared))?;
            handles.push(handle);
        }
        Ok(WorkerPool {
            jobs: Some(job_tx),
            completions: done_rx,
            shared,
            threads: handles,
        })
    }

    /// Queues a job without blocking; gives it back when the queue is full.
    pub fn try_submit(&self, job: Job) -> Result<(), Job> {
        let Some(tx) = &self.jobs else {
            return Err(job);
        };
        tx.try_send((job, Instant::now())).map_err(|e| match e {
            TrySendError::Full((j, _)) | TrySendError::Disconnected((j, _)) => j,
        })
    }

    /// Takes every completion that is ready, with its job's timing. Call it when the
    /// waker fires. Fails once every worker is gone and nothing is left to drain.
    pub fn drain(&self) -> Result<Vec<(Completion, JobTiming)>, PoolGone> {
        // Clear first: a completion pushed from now on wakes us again.
        self.shared.wake_pending.store(false, Ordering::SeqCst);
        let mut out = Vec::new();
        loop {
            match self.completions.try_recv() {
                Ok(c) => out.push(c),
                Err(TryRecvError::Empty) => return Ok(out),
                Err(TryRecvError::Disconnected) if out.is_empty() => return Err(PoolGone),
                Err(TryRecvError::Disconnected) => return Ok(out),
            }
        }
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        // Closing the queue makes every worker's `recv` fail once the queue is empty.
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker_main(
    jobs: &Mutex<Receiver<(Job, Instant)>>,
    done: &mpsc::Sender<(Completion, JobTiming)>,
    shared: &Shared,
) {
    let mut cache = FdCache::new();
    let mut buf = Vec::new();
    loop {
        // A poisoned lock means another worker panicked; stop quietly like a closed queue.
        let job = match jobs.lock() {
            Ok(rx) => match rx.try_recv() {
                Ok(job) => Ok(job),
                Err(TryRecvError::Empty) => {
                    // Idle: give the hashing window back before waiting (see
                    // `FdCache::release_maps`).
                    cache.release_maps();
                    rx.recv()
                }
                Err(TryRecvError::Disconnected) => return,
            },
            Err(_) => return,
        };
        let Ok((job, queued_at)) = job else { return };
        let started = Instant::now();
        let completion = match job {
            Job::Task(task) => Completion::TaskDone {
                tag: task.tag,
                output: (task.run)(),
            },
            Job::HashPiece {
                torrent,
                storage,
                piece,
            } => Completion::PieceHashed {
                torrent,
                piece,
                result: disk::hash_piece(&storage, piece, &mut cache, &mut buf),
                len: storage.layout.piece_len(piece),
            },
            Job::VerifyAndWrite {
                torrent,
                storage,
                piece,
                data,
                expected,
                block_hashes,
            } => {
                let ok = <[u8; 20]>::from(Sha1::digest(&data)) == expected;
                let hashed = started.elapsed();
                let result = if ok {
                    disk::write_piece(&storage, piece, &data, &mut cache).map(|()| true)
                } else {
                    Ok(false)
                };
                let block_hashes = (block_hashes || !ok).then(|| {
                    data.chunks(BLOCK_SIZE as usize)
                        .map(|b| <[u8; 20]>::from(Sha1::digest(b)))
                        .collect()
                });
                Completion::PieceWritten {
                    torrent,
                    piece,
                    result,
                    block_hashes,
                    hashed,
                }
            }
            Job::PrefetchPiece {
                torrent,
                storage,
                piece,
            } => Completion::PiecePrefetched {
                torrent,
                piece,
                result: disk::prefetch_piece(&storage, piece, &mut cache, &mut buf),
            },
            Job::ReadPiece {
                torrent,
                storage,
                piece,
            } => {
                let mut data = Vec::new();
                let result = disk::read_piece(&storage, piece, &mut cache, &mut data)
                    .map(|()| Bytes::from(data));
                Completion::PieceRead {
                    torrent,
                    piece,
                    result,
                }
            }
            Job::SaveResume {
                torrent,
                dir,
                info_hash,
                storage,
                have,
            } => {
                let result = resume::save(&dir, &info_hash, &storage, &have);
                Completion::ResumeSaved {
                    torrent,
                    have,
                    result,
                }
            }
        };
        let timing = JobTiming {
            waited: started.saturating_duration_since(queued_at),
            ran: started.elapsed(),
        };
        if done.send((completion, timing)).is_err() {
            return;
        }
        if !shared.wake_pending.swap(true, Ordering::SeqCst) {
            // A failed wake leaves the flag set; the reactor's next drain clears it.
            let _ = shared.waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::storage::{FileSlot, Layout};
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    #[test]
    fn hashes_pieces_and_wakes() {
        let dir = std::env::temp_dir().join(format!("hivebt-workers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.join("f"), &data).unwrap();
        let layout = Layout {
            files: vec![FileSlot {
                path: "f".into(),
                length: data.len() as u64,
                offset: 0,
                padding: false,
            }],
            piece_length: 32768,
            total_length: data.len() as u64,
        };
        let storage = Arc::new(Storage::new(dir.clone(), layout));
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let pool = WorkerPool::new(2, 2, waker).unwrap();
        let mut pending: Vec<u32> = (0..4).collect();
        let mut got = [None; 4];
        let mut events = Events::with_capacity(8);
        while got.iter().any(Option::is_none) {
            while let Some(&p) = pending.last() {
                let job = Job::HashPiece {
                    torrent: TorrentId {
                        slot: 9,
                        generation: 1,
                    },
                    storage: Arc::clone(&storage),
                    piece: PieceIndex(p),
                };
                if pool.try_submit(job).is_err() {
                    break;
                }
                pending.pop();
            }
            poll.poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(!events.is_empty(), "no wake within 10 s");
            for (c, _) in pool.drain().unwrap() {
                let Completion::PieceHashed {
                    torrent,
                    piece,
                    result,
                    ..
                } = c
                else {
                    panic!("unexpected completion {c:?}");
                };
                assert_eq!(
                    torrent,
                    TorrentId {
                        slot: 9,
                        generation: 1
                    }
                );
                got[piece.0 as usize] = Some(result.unwrap());
            }
        }
        for (i, h) in got.iter().enumerate() {
            let chunk = &data[i * 32768..((i + 1) * 32768).min(data.len())];
            assert_eq!(h.unwrap(), <[u8; 20]>::from(sha1::Sha1::digest(chunk)));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
