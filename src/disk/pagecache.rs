//! Where a file's data is, without reading it: `cachestat(2)` to ask whether a range is
//! in the page cache, `readahead(2)` to start reading what is not, and `lseek(2)` with
//! `SEEK_DATA` to find ranges that are holes of a sparse file. The unsafe system calls
//! of [`super::prefetch_piece`] and of hashing's hole check live here.
//!
//! Depends on `libc` only. `cachestat` is Linux 6.5 and later; on older kernels
//! [`cached_pages`] answers `None` and callers read the range to be sure.

use std::fs::File;
use std::os::fd::AsRawFd;

/// `cachestat`'s number in the unified syscall table (the same on every architecture
/// but alpha); the libc crate does not name it for glibc targets yet.
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Pages of `file[offset..offset + len]` in the page cache, or `None` when the kernel
/// cannot tell (no `cachestat`, or it failed).
pub fn cached_pages(file: &File, offset: u64, len: u64) -> Option<u64> {
    let range = CachestatRange { off: offset, len };
    let mut stat = Cachestat::default();
    // SAFETY: `range` and `stat` are live, correctly laid-out structs for the call; the
    // kernel reads one and writes the other; the descriptor is open (borrowed).
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    (rc == 0).then_some(stat.nr_cache)
}

/// Asks the kernel to start reading `file[offset..offset + len]` into the page cache;
/// returns at once. Failure is harmless (the later read fetches the data itself).
pub fn readahead(file: &File, offset: u64, len: u64) {
    let Ok(off) = libc::off64_t::try_from(offset) else {
        return;
    };
    // SAFETY: no memory is passed; the descriptor is open (borrowed).
    unsafe { libc::readahead(file.as_raw_fd(), off, len as usize) };
}

/// True when `file[offset..offset + len]` lies wholly in a hole of a sparse file (it
/// reads as zeros and no block is allocated for it), as a freshly created download file
/// is. False when unsure (a file system without `SEEK_DATA` reports data everywhere).
/// The caller makes sure the file is at least `offset + len` bytes long.
pub fn is_hole(file: &File, offset: u64, len: u64) -> bool {
    let Ok(off) = libc::off_t::try_from(offset) else {
        return false;
    };
    // SAFETY: no memory is passed; the descriptor is open (borrowed). SEEK_DATA moves
    // the file position, which no reader of ours relies on (all use positional I/O or
    // seek first).
    let data = unsafe { libc::lseek(file.as_raw_fd(), off, libc::SEEK_DATA) };
    if data < 0 {
        // ENXIO: no data at or after `offset`.
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
    }
    data as u64 >= offset + len
}

/// Drops `file[offset..offset + len]` from the page cache (clean pages only), so tests
/// can start cold.
#[cfg(test)]
pub fn evict(file: &File, offset: u64, len: u64) {
    // SAFETY: no memory is passed; the descriptor is open (borrowed).
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_DONTNEED,
        )
    };
}

/// Size of a page-cache page.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_just_written_is_cached() {
        let path = std::env::temp_dir().join(format!("hivebt-pagecache-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 64 * 1024]).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let Some(pages) = cached_pages(&file, 0, 64 * 1024) else {
            eprintln!("cachestat unavailable on this kernel; nothing to check");
            return;
        };
        assert_eq!(pages, 64 * 1024 / page_size());
        file.sync_all().unwrap();
        evict(&file, 0, 64 * 1024);
        assert!(
            cached_pages(&file, 0, 64 * 1024).unwrap() < pages,
            "evicted"
        );
    }

    #[test]
    fn holes_are_found_and_data_is_not_a_hole() {
        use std::os::unix::fs::FileExt;
        let path = std::env::temp_dir().join(format!("hivebt-holes-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.set_len(64 << 20).unwrap();
        file.write_all_at(&[1; 4096], 32 << 20).unwrap();
        assert!(
            !is_hole(&file, (32 << 20) - 100, 200),
            "data is never a hole"
        );
        assert!(!is_hole(&file, 32 << 20, 1));
        assert!(
            is_hole(&file, 0, 1 << 20),
            "the file systems tests run on report holes (ext4, xfs, btrfs, tmpfs)"
        );
        assert!(is_hole(&file, 0, 30 << 20));
        assert!(
            is_hole(&file, 40 << 20, 24 << 20),
            "a hole to the end of the file"
        );
    }
}
