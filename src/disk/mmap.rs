//! Hashing file data through read-only memory maps, with a SIGBUS handler so a file that
//! shrinks while it is mapped cannot kill the process. All of `disk`'s unsafe code lives
//! here.
//!
//! Depends on `libc` and `sha1` only; used by `disk::hash_piece` on worker threads.
//! Linux only (glibc or musl): it relies on `__errno_location`, on SIGBUS carrying the
//! faulting address, and on `thread_local!` being native TLS, which it is there.
//!
//! # Why maps, and why a cached window
//!
//! Hashing from a buffer filled by `pread` spends about a fifth of the CPU time in the
//! kernel copying page-cache pages into that buffer (see BENCHMARKS.md). A shared,
//! read-only map lets SHA-1 read the page-cache pages themselves; the kernel only fills
//! page-table entries, on first touch, 64 KiB at a time ("fault-around").
//!
//! Each map and unmap also has a fixed cost on top of the per-page work: `munmap` takes
//! the address-space lock for writing (stalling the other workers' page faults) and
//! interrupts every CPU running a worker to flush its TLB. So each worker keeps one
//! aligned window of [`MAP_WINDOW`] bytes mapped in its [`MapCache`] and moves it only
//! when a piece lies outside it; with pieces handed out in order, a window serves
//! several pieces. Measured on 2 GiB (BENCHMARKS.md), one map per piece cost about 10 %
//! more CPU than the cached window. No `madvise` hint is given: `MADV_POPULATE_READ`
//! (one call instead of the faults) was no faster on cached data and slower on cold
//! data, and `MADV_SEQUENTIAL` or `MADV_WILLNEED` made cold reads much slower.
//!
//! # The SIGBUS mechanism
//!
//! Touching a mapped page that lies wholly past the end of its file (someone truncated
//! it after we mapped it), or whose data the disk cannot deliver, raises SIGBUS in the
//! touching thread; by default that ends the process. So:
//!
//! 1. Once per process ([`handler_ready`], a `std::sync::Once`), a SIGBUS handler is
//!    installed with `sigaction(SA_SIGINFO | SA_ONSTACK)`. It replaces any earlier
//!    SIGBUS disposition (the Rust runtime's, which on Linux only reports stack
//!    overflows, and those arrive as SIGSEGV there).
//! 2. While it reads a window, the hashing thread records the window's page-aligned
//!    start and length in thread-local atomics ([`Watch`]); they have `const`
//!    initialisers and no destructor, so reading them is a plain TLS access, safe
//!    inside a signal handler.
//! 3. SIGBUS for a memory fault is delivered to the thread that faulted. The handler
//!    checks that the signal came from the kernel (`si_code > 0`) and that `si_addr`
//!    lies inside this thread's watched window. If so it maps anonymous zero pages
//!    (`mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)`, a plain system call) over the
//!    window from the faulting page to its end, sets a thread-local flag and returns:
//!    the faulting read retries and finds zeros. The hash is then worthless; the caller
//!    learns so from [`Hashed::Faulted`] (and reads the span again with `pread`, which
//!    reports the short file), and the patched window is unmapped.
//! 4. Any other SIGBUS (an address outside the window, a thread not hashing, a signal
//!    sent by a process) is not ours: the handler restores the default action and
//!    raises the signal again, so a real bug still ends the process with SIGBUS.
//!
//! Compiler fences on both sides of the read keep the compiler from moving the
//! watched-window stores, the reads of the map and the load of the fault flag across
//! one another: the handler is, to the compiler, invisible code on the same thread.
//!
//! # What this does not promise
//!
//! A map shows the file as it is at each instant. If another process rewrites the file
//! while it is hashed, the hash is of a mix of old and new bytes, exactly as with
//! `pread`. Bytes past the end of file inside the last, partly filled page read as zeros
//! rather than failing; the caller therefore checks the file's length again after a
//! clean read. The slice handed to SHA-1 is memory that another process may change, or
//! that the handler may replace with zeros, while it is read; SHA-1 only reads it, byte
//! values are all it depends on, and no Rust reference to it outlives the read. Another
//! library installing its own SIGBUS handler later would silently undo step 1; nothing
//! in hivebt does.

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, compiler_fence};

use sha1::{Digest, Sha1};

/// Bytes each worker keeps mapped: windows start at multiples of this in the file. A
/// power of two no smaller than any page size. A piece longer than this is hashed
/// through successive windows, so a worker's mapped memory is bounded whatever the
/// piece length. 8 MiB: with 2 workers and 1 MiB pieces, 2 MiB windows were much
/// slower and 4 MiB slightly; 16 MiB were no faster and doubled the resident set
/// (touched pages of a mapped file count as resident).
pub const MAP_WINDOW: u64 = 8 * 1024 * 1024;

/// How a range was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashed {
    /// Every byte came from the file.
    Clean,
    /// A SIGBUS hit the map (the file shrank, or its data could not be read): some
    /// bytes were hashed as zeros and the hash state must be thrown away.
    Faulted,
}

static INSTALL: Once = Once::new();
/// The handler is installed and [`PAGE_SIZE`] is set.
static READY: AtomicBool = AtomicBool::new(false);
/// The system page size, written before the handler is installed.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
/// SIGBUS faults inside a watched window, since the process started.
static FAULTS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Page-aligned start of the window this thread is reading, 0 when none.
    static WATCH_START: AtomicUsize = const { AtomicUsize::new(0) };
    /// Length of that window in bytes, a multiple of the page size; 0 when none.
    static WATCH_LEN: AtomicUsize = const { AtomicUsize::new(0) };
    /// The handler replaced part of the watched window with zeros.
    static FAULTED: AtomicBool = const { AtomicBool::new(false) };
}

/// Installs the SIGBUS handler on first use; false if that failed, in which case the
/// caller must not map files.
pub fn handler_ready() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return;
        };
        if !page.is_power_of_two() {
            return;
        }
        PAGE_SIZE.store(page, Ordering::Relaxed);
        // SAFETY: an all-zero `sigaction` is a valid value (no flags, empty mask); the
        // fields that matter are set below. `on_sigbus` has the three-argument signature
        // SA_SIGINFO requires and only does async-signal-safe work. `sigemptyset` and
        // `sigaction` get valid pointers to this local.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, ptr::null_mut()) == 0
        };
        if installed {
            READY.store(true, Ordering::Release);
        } else {
            log::warn!(
                "cannot install a SIGBUS handler ({}); hashing with pread",
                io::Error::last_os_error()
            );
        }
    });
    READY.load(Ordering::Acquire)
}

/// SIGBUS faults the handler has absorbed since the process started.
#[cfg(test)]
pub fn faults_handled() -> u64 {
    FAULTS.load(Ordering::Relaxed)
}

/// Which file a window maps: the storage and index it was asked for, and the inode the
/// descriptor had when it was mapped (a file replaced under the same name is another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    /// `Storage::id`.
    pub storage: u64,
    /// Index of the file in the torrent.
    pub file: usize,
    /// Device of the open file.
    pub dev: u64,
    /// Inode of the open file.
    pub ino: u64,
}

/// The window one worker keeps mapped between pieces (see the module doc).
#[derive(Debug, Default)]
pub struct MapCache {
    window: Option<Window>,
}

#[derive(Debug)]
struct Window {
    key: FileKey,
    /// File offset of the window's first byte (a multiple of [`MAP_WINDOW`]).
    start: u64,
    map: Map,
}

impl MapCache {
    /// Feeds `len` bytes of `file` from `offset` to `sha`, through the cached window or
    /// new ones. `file_len` is the file's length as just read; the caller has checked
    /// that it holds the range. Errors are from `mmap` (the file system cannot map,
    /// address space is short); the caller then reads the range with `pread` instead,
    /// from a copy of `sha` taken before the call, as it must after [`Hashed::Faulted`].
    pub fn hash_range(
        &mut self,
        file: &File,
        key: FileKey,
        file_len: u64,
        offset: u64,
        len: u64,
        sha: &mut Sha1,
    ) -> io::Result<Hashed> {
        if !handler_ready() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no SIGBUS handler installed",
            ));
        }
        if offset.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "range past the end of the file",
            ));
        }
        let mut done = 0;
        while done < len {
            let at = offset + done;
            let start = at & !(MAP_WINDOW - 1);
            let end = (start + MAP_WINDOW).min(file_len);
            let want = (len - done).min(end - at);
            let window = self.window_for(file, key, start, end)?;
            let hashed = window
                .map
                .hash_into(sha, (at - start) as usize, want as usize);
            if !matches!(hashed, Ok(Hashed::Clean)) {
                // Zero pages may now sit in the window: never reuse it.
                self.window = None;
                return hashed;
            }
            done += want;
        }
        Ok(Hashed::Clean)
    }

    /// The cached window if it maps `start..end` of this file, else a new one.
    fn window_for(
        &mut self,
        file: &File,
        key: FileKey,
        start: u64,
        end: u64,
    ) -> io::Result<&Window> {
        let reuse = self
            .window
            .as_ref()
            .is_some_and(|w| w.key == key && w.start == start && w.map.len as u64 >= end - start);
        if !reuse {
            // Unmap the old window before mapping the next.
            self.window = None;
            let map = Map::new(file, start, end - start)?;
            self.window = Some(Window { key, start, map });
        }
        self.window
            .as_ref()
            .ok_or_else(|| io::Error::other("no window"))
    }

    /// Unmaps the window, whatever it maps.
    pub fn clear(&mut self) {
        self.window = None;
    }

    /// Unmaps the window if it belongs to `storage`.
    pub fn forget(&mut self, storage: u64) {
        if self
            .window
            .as_ref()
            .is_some_and(|w| w.key.storage == storage)
        {
            self.window = None;
        }
    }
}

/// One read-only shared map of part of a file, unmapped on drop.
#[derive(Debug)]
struct Map {
    /// Page-aligned start of the mapping.
    base: *mut libc::c_void,
    /// Bytes mapped from `base`, rounded up to whole pages.
    mapped: usize,
    /// Bytes of the file the map shows (`mapped` minus the rounding).
    len: usize,
}

impl Map {
    /// Maps `len` (> 0) bytes of `file` from `offset`, a multiple of the page size.
    fn new(file: &File, offset: u64, len: u64) -> io::Result<Map> {
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let invalid = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
        if page == 0 || offset % page as u64 != 0 {
            return Err(invalid("unaligned map offset"));
        }
        if len == 0 {
            return Err(invalid("empty map"));
        }
        let len = usize::try_from(len).map_err(|_| invalid("map too large"))?;
        let mapped = len.div_ceil(page) * page;
        let file_offset =
            libc::off_t::try_from(offset).map_err(|_| invalid("map offset too large"))?;
        // SAFETY: a fresh mapping at an address the kernel chooses (no MAP_FIXED), so no
        // existing memory is affected; the fd is open for the duration of the call; the
        // offset is page-aligned. The result is checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                mapped,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                file_offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Map { base, mapped, len })
    }

    /// Feeds bytes `from..from + len` of the map to `sha` with the SIGBUS handler
    /// watching the whole map.
    fn hash_into(&self, sha: &mut Sha1, from: usize, len: usize) -> io::Result<Hashed> {
        if from.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "range outside the map",
            ));
        }
        let watch = Watch::new(self.base as usize, self.mapped);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: `from + len <= self.len <= self.mapped` (checked above), so the slice
        // lies inside our live mapping, which is readable (PROT_READ) and stays mapped
        // until `self` drops, after this slice is gone. A page the file no longer backs
        // raises SIGBUS, which the handler turns into zero pages for this watched map;
        // see the module doc for why bytes changing underneath are acceptable.
        let bytes = unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(from), len) };
        sha.update(bytes);
        compiler_fence(Ordering::SeqCst);
        let faulted = watch.faulted();
        drop(watch);
        Ok(if faulted {
            Hashed::Faulted
        } else {
            Hashed::Clean
        })
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: exactly the range our `mmap` returned (the handler may have replaced
        // part of it with anonymous pages; munmap removes those too). No slice into it
        // outlives `hash_into`.
        unsafe { libc::munmap(self.base, self.mapped) };
    }
}

/// While alive, tells the SIGBUS handler which window this thread is reading.
struct Watch {
    /// `!Send`: the watch is thread-local state and must end on the thread that began it.
    _not_send: PhantomData<*const ()>,
}

impl Watch {
    fn new(start: usize, len: usize) -> Watch {
        FAULTED.with(|f| f.store(false, Ordering::Relaxed));
        WATCH_START.with(|s| s.store(start, Ordering::Relaxed));
        WATCH_LEN.with(|l| l.store(len, Ordering::Relaxed));
        compiler_fence(Ordering::SeqCst);
        Watch {
            _not_send: PhantomData,
        }
    }

    fn faulted(&self) -> bool {
        compiler_fence(Ordering::SeqCst);
        FAULTED.with(|f| f.load(Ordering::Relaxed))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        WATCH_LEN.with(|l| l.store(0, Ordering::Relaxed));
        WATCH_START.with(|s| s.store(0, Ordering::Relaxed));
    }
}

/// The SIGBUS handler; see the module doc. Only async-signal-safe calls: TLS atomics,
/// `mmap`, `sigaction`, `raise`. It saves and restores `errno`, which `mmap` may set.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
    let errno = unsafe { *libc::__errno_location() };
    if absorb(info) {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
        return;
    }
    // SAFETY: an all-zero `sigaction` with SIG_DFL (0) is the default disposition;
    // `sigaction` and `raise` are async-signal-safe. SIGBUS is blocked while this handler
    // runs, so the raised signal is delivered, with the default action, when it returns.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &default, ptr::null_mut());
        libc::raise(sig);
        *libc::__errno_location() = errno;
    }
}

/// Zero-fills the rest of the watched window if the fault at `info` lies inside it.
fn absorb(info: *mut libc::siginfo_t) -> bool {
    if info.is_null() {
        return false;
    }
    // SAFETY: the kernel passes a valid, fully written siginfo to SA_SIGINFO handlers;
    // `si_addr` reads plain bytes of it, and is only used when `si_code > 0` (sent by the
    // kernel for a fault), when it holds the faulting address.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code <= 0 {
        return false;
    }
    let start = WATCH_START.with(|s| s.load(Ordering::Relaxed));
    let len = WATCH_LEN.with(|l| l.load(Ordering::Relaxed));
    let page = PAGE_SIZE.load(Ordering::Relaxed);
    if len == 0 || page == 0 || addr < start || addr - start >= len {
        return false;
    }
    let from = addr & !(page - 1);
    let end = start + len;
    // SAFETY: `from..end` lies inside the mapping this thread created and is reading
    // (the watched window: `start` and `len` are page multiples and `from >= start`), so
    // MAP_FIXED replaces only our own file pages with private zero pages; nothing else
    // in the process refers to them.
    let zeros = unsafe {
        libc::mmap(
            from as *mut libc::c_void,
            end - from,
            libc::PROT_READ,
            libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if zeros == libc::MAP_FAILED {
        return false;
    }
    FAULTED.with(|f| f.store(true, Ordering::Relaxed));
    FAULTS.fetch_add(1, Ordering::Relaxed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileExt, MetadataExt};
    use std::os::unix::process::ExitStatusExt;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hivebt-mmap-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn key(file: &File) -> FileKey {
        let m = file.metadata().unwrap();
        FileKey {
            storage: 1,
            file: 0,
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    #[test]
    fn hashes_ranges_across_windows_like_a_plain_read() {
        let dir = scratch("ranges");
        let path = dir.join("f");
        let w = MAP_WINDOW as usize;
        let data: Vec<u8> = (0..(2 * w + 12_345))
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let mut cache = MapCache::default();
        let cases = [
            (0, 1),
            (1, 4095),
            (4095, 2),
            (4096, 4096),
            (7, w),
            (w - 3, 6),
            (w, w),
            (100, data.len() - 100),
            (0, data.len()),
            (data.len() - 1, 1),
        ];
        for (offset, len) in cases {
            let mut sha = Sha1::new();
            let r = cache.hash_range(
                &file,
                key(&file),
                data.len() as u64,
                offset as u64,
                len as u64,
                &mut sha,
            );
            assert_eq!(r.unwrap(), Hashed::Clean);
            assert_eq!(
                sha.finalize(),
                Sha1::digest(&data[offset..offset + len]),
                "offset {offset} len {len}"
            );
        }
        let past = cache.hash_range(
            &file,
            key(&file),
            data.len() as u64,
            1,
            data.len() as u64,
            &mut Sha1::new(),
        );
        assert!(past.is_err(), "a range past the end must not be mapped");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_page_past_the_end_faults_and_is_absorbed() {
        let dir = scratch("absorb");
        let path = dir.join("f");
        std::fs::write(&path, vec![7u8; 64 * 1024]).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut cache = MapCache::default();
        let mut sha = Sha1::new();
        let r = cache.hash_range(&file, key(&file), 64 * 1024, 0, 64 * 1024, &mut sha);
        assert_eq!(r.unwrap(), Hashed::Clean);
        assert!(cache.window.is_some());
        // Cut the file to one page under the cached window: the other pages now SIGBUS.
        file.set_len(4096).unwrap();
        let before = faults_handled();
        let mut sha = Sha1::new();
        let r = cache.hash_range(&file, key(&file), 64 * 1024, 0, 64 * 1024, &mut sha);
        assert_eq!(r.unwrap(), Hashed::Faulted);
        assert!(faults_handled() > before);
        assert!(cache.window.is_none(), "a patched window must not be kept");
        // Whole again: a new window reads the new bytes.
        file.write_all_at(&vec![9u8; 60 * 1024], 4096).unwrap();
        let mut sha = Sha1::new();
        let r = cache.hash_range(&file, key(&file), 64 * 1024, 0, 64 * 1024, &mut sha);
        assert_eq!(r.unwrap(), Hashed::Clean);
        let mut want = vec![7u8; 4096];
        want.extend(vec![9u8; 60 * 1024]);
        assert_eq!(sha.finalize(), Sha1::digest(&want));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Set in the child process of [`a_sigbus_outside_the_window_still_kills`].
    const CHILD: &str = "HIVEBT_MMAP_FOREIGN_SIGBUS_CHILD";

    /// In the child: touches a truncated map with no window watched; must die.
    #[test]
    fn foreign_sigbus_child() {
        let Some(dir) = std::env::var_os(CHILD) else {
            return;
        };
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid pointer to a local; no core file for the expected crash.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) };
        assert!(handler_ready());
        let path = std::path::Path::new(&dir).join("f");
        std::fs::write(&path, vec![1u8; 8192]).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let map = Map::new(&file, 0, 8192).unwrap();
        file.set_len(0).unwrap();
        // SAFETY: deliberately reads a mapped page past the end of file, unwatched,
        // to check that the handler does not swallow a fault that is not ours.
        let byte = unsafe { std::ptr::read_volatile(map.base.cast::<u8>().add(4096)) };
        file.write_all_at(&[byte], 0).unwrap();
        eprintln!("survived a foreign SIGBUS");
        std::process::exit(0);
    }

    #[test]
    fn a_sigbus_outside_the_window_still_kills() {
        let dir = scratch("foreign");
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "disk::mmap::tests::foreign_sigbus_child",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD, &dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGBUS),
            "child status {:?}, stderr: {stderr}",
            out.status
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
