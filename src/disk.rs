//! File I/O for pieces, run on worker threads only: positional reads through a small
//! per-thread cache of open files, hashing as the bytes arrive.
//!
//! Depends on `torrent::storage`, `config` and `types`. Never called on the reactor
//! thread. A piece is read in chunks of [`READ_CHUNK`] bytes into one reused buffer, so
//! memory per worker is bounded by the chunk, not the piece length, and each chunk is
//! hashed while it is still in cache.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha1::{Digest, Sha1};

use crate::config::WORKER_FD_CACHE;
use crate::torrent::storage::Storage;
use crate::types::PieceIndex;

/// Bytes read per system call while hashing (fits a core's L2 cache).
pub const READ_CHUNK: usize = 256 * 1024;

/// Why a piece could not be read in full.
#[derive(Debug)]
pub enum ReadError {
    /// A file the piece needs does not exist.
    Missing {
        /// Index of the file in the torrent.
        file: usize,
    },
    /// A file the piece needs is shorter than the torrent says.
    Short {
        /// Index of the file in the torrent.
        file: usize,
    },
    /// Any other I/O error (permissions, media errors, a directory in the way...).
    Io {
        /// Index of the file in the torrent.
        file: usize,
        /// The operating system's error.
        error: io::Error,
    },
}

impl ReadError {
    /// The file the error concerns.
    pub fn file(&self) -> usize {
        match self {
            ReadError::Missing { file }
            | ReadError::Short { file }
            | ReadError::Io { file, .. } => *file,
        }
    }
}

/// Open files of one worker thread, least recently used closed first.
#[derive(Debug, Default)]
pub struct FdCache {
    entries: Vec<CachedFile>,
    clock: u64,
}

#[derive(Debug)]
struct CachedFile {
    storage: u64,
    file: usize,
    handle: File,
    writable: bool,
    used_at: u64,
}

impl FdCache {
    /// An empty cache.
    pub fn new() -> FdCache {
        FdCache::default()
    }

    /// The open file `file` of `storage`, opening it for reading if needed.
    pub fn get_for_read(&mut self, storage: &Storage, file: usize) -> io::Result<&File> {
        self.get(storage, file, false)
    }

    /// The open file `file` of `storage`, opened for writing: missing parent directories
    /// are created, and a new or short file is extended (sparsely) to its full length.
    pub fn get_for_write(&mut self, storage: &Storage, file: usize) -> io::Result<&File> {
        self.get(storage, file, true)
    }

    fn get(&mut self, storage: &Storage, file: usize, write: bool) -> io::Result<&File> {
        self.clock += 1;
        let now = self.clock;
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.storage == storage.id && e.file == file)
        {
            if self.entries[i].writable || !write {
                self.entries[i].used_at = now;
                return Ok(&self.entries[i].handle);
            }
            self.entries.swap_remove(i);
        }
        let path = storage.file_path(file);
        let handle = if write {
            open_for_write(&path, storage.layout.files[file].length)?
        } else {
            File::open(&path)?
        };
        if self.entries.len() >= WORKER_FD_CACHE {
            if let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used_at)
                .map(|(i, _)| i)
            {
                self.entries.swap_remove(oldest);
            }
        }
        self.entries.push(CachedFile {
            storage: storage.id,
            file,
            handle,
            writable: write,
            used_at: now,
        });
        Ok(&self.entries[self.entries.len() - 1].handle)
    }

    /// Closes every file of `storage` (it is being removed or its files replaced).
    pub fn forget(&mut self, storage: u64) {
        self.entries.retain(|e| e.storage != storage);
    }
}

fn open_for_write(path: &Path, length: u64) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    if file.metadata()?.len() < length {
        // Sparse: no blocks are allocated until pieces are written.
        file.set_len(length)?;
    }
    Ok(file)
}

/// Creates every directory and file of `storage` that does not exist yet, at full
/// length (sparse), so empty files exist and a finished download has every file.
pub fn create_files(storage: &Storage) -> io::Result<()> {
    for (i, slot) in storage.layout.files.iter().enumerate() {
        if !slot.padding {
            open_for_write(&storage.file_path(i), slot.length)?;
        }
    }
    Ok(())
}

/// Writes a whole verified piece to its files.
pub fn write_piece(
    storage: &Storage,
    piece: PieceIndex,
    data: &[u8],
    cache: &mut FdCache,
) -> io::Result<()> {
    for span in storage.layout.spans(piece) {
        if storage.layout.files[span.file].padding {
            continue;
        }
        let start = span.piece_offset as usize;
        let chunk = &data[start..start + span.len as usize];
        cache
            .get_for_write(storage, span.file)?
            .write_all_at(chunk, span.file_offset)?;
    }
    Ok(())
}

/// Reads a whole piece into `out` (resized to the piece length); padding reads as zeros.
pub fn read_piece(
    storage: &Storage,
    piece: PieceIndex,
    cache: &mut FdCache,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    out.clear();
    out.resize(storage.layout.piece_len(piece) as usize, 0);
    for span in storage.layout.spans(piece) {
        if storage.layout.files[span.file].padding {
            continue;
        }
        let file = cache
            .get_for_read(storage, span.file)
            .map_err(|error| open_error(span.file, error))?;
        let start = span.piece_offset as usize;
        let dest = &mut out[start..start + span.len as usize];
        let mut done = 0;
        while done < dest.len() {
            match file.read_at(&mut dest[done..], span.file_offset + done as u64) {
                Ok(0) => return Err(ReadError::Short { file: span.file }),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(ReadError::Io {
                        file: span.file,
                        error,
                    });
                }
            }
        }
    }
    Ok(())
}

fn open_error(file: usize, error: io::Error) -> ReadError {
    match error.kind() {
        io::ErrorKind::NotFound => ReadError::Missing { file },
        _ => ReadError::Io { file, error },
    }
}

/// Reads piece `piece` of `storage` and returns its SHA-1. Padding files hash as zeros
/// without touching the disk.
pub fn hash_piece(
    storage: &Storage,
    piece: PieceIndex,
    cache: &mut FdCache,
    buf: &mut Vec<u8>,
) -> Result<[u8; 20], ReadError> {
    buf.resize(READ_CHUNK, 0);
    let mut sha = Sha1::new();
    for span in storage.layout.spans(piece) {
        let slot = &storage.layout.files[span.file];
        if slot.padding {
            let zeros = [0u8; 4096];
            let mut left = span.len;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                sha.update(&zeros[..n]);
                left -= n as u64;
            }
            continue;
        }
        let file = cache
            .get_for_read(storage, span.file)
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => ReadError::Missing { file: span.file },
                _ => ReadError::Io {
                    file: span.file,
                    error,
                },
            })?;
        let mut done = 0u64;
        while done < span.len {
            let want = (span.len - done).min(READ_CHUNK as u64) as usize;
            let n = match file.read_at(&mut buf[..want], span.file_offset + done) {
                Ok(0) => return Err(ReadError::Short { file: span.file }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(ReadError::Io {
                        file: span.file,
                        error,
                    });
                }
            };
            sha.update(&buf[..n]);
            done += n as u64;
        }
    }
    Ok(sha.finalize().into())
}
