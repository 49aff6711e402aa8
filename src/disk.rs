//! File I/O for pieces, run on worker threads only: positional reads and writes through
//! a small per-thread cache of open files, and hashing straight from read-only maps.
//!
//! Depends on `torrent::storage`, `config`, `types` and (for maps) `libc`. Never called
//! on the reactor thread, but for [`is_cached`], which never waits for the disk.
//! [`hash_piece`] (create, verify, recheck) hashes each file span
//! straight from the page cache through a window of the file (8 MiB) that each worker
//! keeps mapped in its [`FdCache`] between pieces; the unsafe code and the SIGBUS
//! handling that keeps a file shrinking under a map from killing the process are in the
//! `mmap` submodule. [`read_piece`] and [`write_piece`] (the peer engine) use positional
//! reads and writes; a span that cannot be mapped is hashed from [`READ_CHUNK`]-byte
//! reads into one reused buffer; a piece lying wholly in holes of sparse files (a new
//! download) hashes as zeros without being read. [`prefetch_piece`] makes a piece
//! resident for the reactor's `sendfile`. The `pagecache` submodule holds the system
//! calls that ask where data is (`cachestat`, `readahead`, `SEEK_DATA`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use sha1::{Digest, Sha1};

use crate::config::WORKER_FD_CACHE;
use crate::torrent::storage::{Span, Storage};
use crate::types::PieceIndex;

mod mmap;
mod pagecache;

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

/// What went wrong, without the file (the caller names it from [`ReadError::file`]).
impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing { .. } => f.write_str("file missing"),
            ReadError::Short { .. } => f.write_str("file too short"),
            ReadError::Io { error, .. } => write!(f, "{error}"),
        }
    }
}

/// Open files of one worker thread, least recently used closed first, and the window
/// of file data it keeps mapped for hashing.
#[derive(Debug, Default)]
pub struct FdCache {
    entries: Vec<CachedFile>,
    clock: u64,
    maps: mmap::MapCache,
    /// SHA-1 of `len` zero bytes, for pieces that lie wholly in holes.
    zero_hash: Option<(u64, [u8; 20])>,
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
        let i = self.open(storage, file, write)?;
        Ok(&self.entries[i].handle)
    }

    /// The open file `file` of `storage` for reading, with the worker's map window.
    fn get_for_hash(
        &mut self,
        storage: &Storage,
        file: usize,
    ) -> io::Result<(&File, &mut mmap::MapCache)> {
        let i = self.open(storage, file, false)?;
        Ok((&self.entries[i].handle, &mut self.maps))
    }

    /// Index in `entries` of `file` of `storage`, opened (for writing if `write`).
    fn open(&mut self, storage: &Storage, file: usize, write: bool) -> io::Result<usize> {
        self.clock += 1;
        let now = self.clock;
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.storage == storage.id && e.file == file)
        {
            if self.entries[i].writable || !write {
                self.entries[i].used_at = now;
                return Ok(i);
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
        Ok(self.entries.len() - 1)
    }

    /// Unmaps the hashing window. A worker does it when it runs out of jobs: a mapping
    /// kept while idle pins its pages in the page cache (`POSIX_FADV_DONTNEED` and the
    /// kernel's reclaim both pass over mapped pages), so the data a recheck read would
    /// stay resident as long as the process lives.
    pub fn release_maps(&mut self) {
        self.maps.clear();
    }

    /// Closes every file of `storage` (it is being removed or its files replaced) and
    /// unmaps its window.
    pub fn forget(&mut self, storage: u64) {
        self.entries.retain(|e| e.storage != storage);
        self.maps.forget(storage);
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

/// Writes a whole verified piece to its files. An error keeps its kind and names the
/// file: `disk full writing <path>` when the file system is full.
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
            .get_for_write(storage, span.file)
            .and_then(|f| f.write_all_at(chunk, span.file_offset))
            .map_err(|e| write_error(e, &storage.file_path(span.file)))?;
    }
    Ok(())
}

/// `e` with the file it happened to in its message.
fn write_error(e: io::Error, path: &Path) -> io::Error {
    let message = if e.kind() == io::ErrorKind::StorageFull {
        format!("disk full writing {}", path.display())
    } else {
        format!("writing {}: {e}", path.display())
    };
    io::Error::new(e.kind(), message)
}

/// Reads a whole piece into `out` (replacing its contents); padding reads as zeros.
/// The bytes are read into `out`'s spare capacity, never zero-filled first.
pub fn read_piece(
    storage: &Storage,
    piece: PieceIndex,
    cache: &mut FdCache,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    use std::io::{Read, Seek, SeekFrom};
    out.clear();
    out.reserve_exact(storage.layout.piece_len(piece) as usize);
    for span in storage.layout.spans(piece) {
        if storage.layout.files[span.file].padding {
            out.resize(out.len() + span.len as usize, 0);
            continue;
        }
        let mut file: &File = cache
            .get_for_read(storage, span.file)
            .map_err(|error| open_error(span.file, error))?;
        let io_err = |error| ReadError::Io {
            file: span.file,
            error,
        };
        // This worker owns the descriptor, so moving its file position is safe.
        file.seek(SeekFrom::Start(span.file_offset))
            .map_err(io_err)?;
        let got = file.take(span.len).read_to_end(out).map_err(io_err)?;
        if (got as u64) < span.len {
            return Err(ReadError::Short { file: span.file });
        }
    }
    Ok(())
}

/// True when the kernel reports every page of `file[offset..offset + len]` in the page
/// cache (`cachestat`); false when some are not or it cannot tell. It never waits for
/// the disk, so unlike the rest of this module the reactor may call it.
pub fn is_cached(file: &File, offset: u64, len: u64) -> bool {
    // cachestat counts pages past the end of a file cut short as cached (seen on
    // Linux 6.18), and sendfile would then find nothing to send: check the size too.
    if file.metadata().map_or(true, |m| m.len() < offset + len) {
        return false;
    }
    let page = pagecache::page_size();
    let pages = (offset + len).div_ceil(page) - offset / page;
    pagecache::cached_pages(file, offset, len).is_some_and(|n| n >= pages)
}

/// Makes sure a piece's data is in the page cache, so the reactor can `sendfile` it
/// without waiting for the disk: spans the kernel reports fully cached (`cachestat`)
/// cost one system call; the rest are read ahead and then read through into `scratch`,
/// which returns once the data is there. Returns the bytes that had to be read.
pub fn prefetch_piece(
    storage: &Storage,
    piece: PieceIndex,
    cache: &mut FdCache,
    scratch: &mut Vec<u8>,
) -> Result<u64, ReadError> {
    let mut read = 0;
    for span in storage.layout.spans(piece) {
        if storage.layout.files[span.file].padding {
            continue;
        }
        let file = cache
            .get_for_read(storage, span.file)
            .map_err(|error| open_error(span.file, error))?;
        let end = span.file_offset + span.len;
        let size = file
            .metadata()
            .map_err(|error| ReadError::Io {
                file: span.file,
                error,
            })?
            .len();
        if size < end {
            return Err(ReadError::Short { file: span.file });
        }
        if is_cached(file, span.file_offset, span.len) {
            continue;
        }
        pagecache::readahead(file, span.file_offset, span.len);
        read_span(file, &span, scratch, |_| {})?;
        read += span.len;
    }
    Ok(read)
}

fn open_error(file: usize, error: io::Error) -> ReadError {
    match error.kind() {
        io::ErrorKind::NotFound => ReadError::Missing { file },
        _ => ReadError::Io { file, error },
    }
}

/// How [`hash_piece_via`] reads file data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadPath {
    /// Read-only memory maps (the `mmap` submodule), falling back to `pread` for a span that
    /// cannot be mapped or whose map faulted.
    Map,
    /// `pread` of [`READ_CHUNK`] bytes into the worker's buffer (what the tests compare
    /// maps against; spans fall back to it one by one).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the tests choose it whole")
    )]
    Pread,
}

/// Reads piece `piece` of `storage` and returns its SHA-1. Padding files hash as zeros
/// without touching the disk.
///
/// File data is hashed straight from read-only maps of the page cache, which saves the
/// kernel's copy into a buffer (about a fifth of the CPU time with `pread`; see
/// BENCHMARKS.md). A file that shrinks while it is mapped gives [`ReadError::Short`],
/// never a crash (the `mmap` submodule handles SIGBUS). `buf` is only used when a
/// span has to be read with `pread` instead.
pub fn hash_piece(
    storage: &Storage,
    piece: PieceIndex,
    cache: &mut FdCache,
    buf: &mut Vec<u8>,
) -> Result<[u8; 20], ReadError> {
    hash_piece_via(storage, piece, cache, buf, ReadPath::Map)
}

fn hash_piece_via(
    storage: &Storage,
    piece: PieceIndex,
    cache: &mut FdCache,
    buf: &mut Vec<u8>,
    path: ReadPath,
) -> Result<[u8; 20], ReadError> {
    let spans = storage.layout.spans(piece);
    if path == ReadPath::Map && all_holes(storage, &spans, cache) {
        // A new download's sparse files: the piece reads as zeros, so hash zeros without
        // faulting in (and zero-filling) every page.
        let len = storage.layout.piece_len(piece);
        return Ok(match cache.zero_hash {
            Some((l, h)) if l == len => h,
            _ => {
                let mut sha = Sha1::new();
                hash_zeros(&mut sha, len);
                let h: [u8; 20] = sha.finalize().into();
                cache.zero_hash = Some((len, h));
                h
            }
        });
    }
    let mut sha = Sha1::new();
    for span in spans {
        let slot = &storage.layout.files[span.file];
        if slot.padding {
            hash_zeros(&mut sha, span.len);
            continue;
        }
        let (file, maps) = cache
            .get_for_hash(storage, span.file)
            .map_err(|error| open_error(span.file, error))?;
        match path {
            ReadPath::Map => hash_span_mapped(file, storage.id, &span, maps, &mut sha, buf)?,
            ReadPath::Pread => hash_span_pread(file, &span, &mut sha, buf)?,
        }
    }
    Ok(sha.finalize().into())
}

/// True when every span of a piece is padding or a hole of a file long enough to hold
/// it. Any doubt (a file that cannot be opened or is short) answers false, and the
/// normal path reports it.
fn all_holes(storage: &Storage, spans: &[Span], cache: &mut FdCache) -> bool {
    spans.iter().all(|span| {
        if storage.layout.files[span.file].padding {
            return true;
        }
        let Ok(file) = cache.get_for_read(storage, span.file) else {
            return false;
        };
        // Length and change time before and after the hole check: a file cut short and
        // written back meanwhile would otherwise pass for a hole (`SEEK_DATA` answers
        // ENXIO past the end too), and the piece would hash as zeros that were never
        // there. Any change in between sends the piece down the normal path.
        let stamp = |f: &File| {
            f.metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (m.len(), m.ctime(), m.ctime_nsec()))
        };
        let Some(before) = stamp(file) else {
            return false;
        };
        before.0 >= span.file_offset + span.len
            && pagecache::is_hole(file, span.file_offset, span.len)
            && stamp(file) == Some(before)
    })
}

/// What `fstat` says of a span's open file now.
struct Stat {
    /// Length in bytes (meaningful for regular files only).
    len: u64,
    /// A regular file: one that can be mapped and whose length is its size.
    regular: bool,
    /// The identity its map window is cached under.
    key: mmap::FileKey,
}

fn stat(file: &File, storage: u64, span: &Span) -> Result<Stat, ReadError> {
    let meta = file.metadata().map_err(|error| ReadError::Io {
        file: span.file,
        error,
    })?;
    Ok(Stat {
        len: meta.len(),
        regular: meta.is_file(),
        key: mmap::FileKey {
            storage,
            file: span.file,
            dev: meta.dev(),
            ino: meta.ino(),
        },
    })
}

/// Hashes one span through the worker's map window. The file's length is checked first
/// (a span past the end is `Short` without mapping anything) and again after a clean
/// read, because bytes past the end inside the last page of a map read as zeros instead
/// of failing. A span that cannot be mapped, or whose map faulted, is hashed again with
/// `pread` from the state before it, which then tells a shrunk file (`Short`) from a
/// read error (`Io`) or, if the file is whole again, gives its bytes. Anything but a
/// regular file (a block device a user linked in, say) is read with `pread` as before.
fn hash_span_mapped(
    file: &File,
    storage: u64,
    span: &Span,
    maps: &mut mmap::MapCache,
    sha: &mut Sha1,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let end = span.file_offset + span.len;
    let now = stat(file, storage, span)?;
    if !now.regular {
        return hash_span_pread(file, span, sha, buf);
    }
    if now.len < end {
        return Err(ReadError::Short { file: span.file });
    }
    let before = sha.clone();
    match maps.hash_range(file, now.key, now.len, span.file_offset, span.len, sha) {
        Ok(mmap::Hashed::Clean) => {
            if stat(file, storage, span)?.len < end {
                return Err(ReadError::Short { file: span.file });
            }
            Ok(())
        }
        Ok(mmap::Hashed::Faulted) => {
            log::debug!(
                "file {}: SIGBUS while hashing a map; reading it again",
                span.file
            );
            *sha = before;
            hash_span_pread(file, span, sha, buf)
        }
        Err(e) => {
            log::debug!("file {}: cannot map ({e}); reading it instead", span.file);
            *sha = before;
            hash_span_pread(file, span, sha, buf)
        }
    }
}

/// Hashes one span by `pread`ing it in [`READ_CHUNK`]s into `buf`.
fn hash_span_pread(
    file: &File,
    span: &Span,
    sha: &mut Sha1,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    read_span(file, span, buf, |chunk| sha.update(chunk))
}

/// Reads one span with `pread` in [`READ_CHUNK`]s into `buf`, handing each chunk read
/// to `each`; a file that ends early is `Short`.
fn read_span(
    file: &File,
    span: &Span,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]),
) -> Result<(), ReadError> {
    buf.resize(READ_CHUNK, 0);
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
        each(&buf[..n]);
        done += n as u64;
    }
    Ok(())
}

/// Feeds `len` zero bytes to `sha` (padding files, pieces wholly in holes).
fn hash_zeros(sha: &mut Sha1, len: u64) {
    let zeros = [0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        sha.update(&zeros[..n]);
        left -= n as u64;
    }
}

#[cfg(test)]
mod tests;
