//! Resume records end to end: a download killed halfway (SIGKILL, no record written
//! since the last pieces) or stopped cleanly (SIGTERM, record flushed) and started again
//! must finish byte-identical without downloading the verified pieces again, and a
//! completed download must seed from its record without a recheck, until a file changes.
//!
//! The seeder is rate-limited so the downloader can be stopped halfway; progress is read
//! from `hivebt verify --json` on the partial output, never guessed from time.

mod common;
mod swarm;

use std::time::{Duration, Instant};

use swarm::{
    Download, Fixture, Hivebt, WAIT, Wire, assert_no_panic, check_still_serving, s, verified_pieces,
};

const KIB: u32 = 1024;

/// 30 pieces of 32 KiB (two blocks each). Under 1 MiB, so the summary shows bytes
/// downloaded in KiB to 0.1 KiB: precise enough to tell one piece.
fn fixture(tag: &str, seed: u64) -> Fixture {
    let fx = Fixture::new(tag, 960 * KIB as usize, 32 * KIB, seed);
    assert_eq!(fx.pieces, 30);
    fx
}

/// The seeder's limit for the first run: three pieces a second, so about five seconds
/// to half.
const SLOW: &str = "96K";

/// Half that: the first resume record (written after 10 s) comes before the end.
const SLOWER: &str = "48K";

/// Polls every 100 ms until `done` says the partial download is far enough; fails if
/// the downloader exits first or it takes longer than [`WAIT`]. `done` gets the number
/// of verified pieces on disk.
fn wait_until(
    fx: &Fixture,
    dl: &Download,
    down: &mut Hivebt,
    what: &str,
    mut done: impl FnMut(u64) -> bool,
) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = verified_pieces(fx, &dl.out);
        if done(v) {
            return v;
        }
        assert!(
            down.running(),
            "waiting for {what}: the downloader exited with {v} of {} pieces verified; \
             stderr:\n{}",
            fx.pieces,
            down.stderr()
        );
        assert!(
            Instant::now() < deadline,
            "waiting for {what}: {v} of {} pieces verified after {WAIT:?}; stderr:\n{}",
            fx.pieces,
            down.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until at least half the pieces verify on disk.
fn wait_half(fx: &Fixture, dl: &Download, down: &mut Hivebt) -> u64 {
    let half = u64::from(fx.pieces / 2);
    wait_until(fx, dl, down, "half the pieces", |v| v >= half)
}

/// The `N of M pieces verified without a recheck` count, if the run trusted its record.
fn trusted_pieces(stderr: &str, fx: &Fixture) -> Option<u64> {
    let needle = format!("hivebt: {}: resume record matches the files; ", fx.name);
    let line = stderr.lines().find(|l| l.starts_with(&needle))?;
    let rest = &line[needle.len()..];
    let (n, tail) = rest.split_once(" of ")?;
    assert!(
        tail.starts_with(&format!("{} pieces verified without a recheck", fx.pieces)),
        "odd resume line: {line}"
    );
    Some(n.parse().expect("a piece count"))
}

/// Runs the second download to completion against an unlimited seeder and checks the
/// result: exit 0, identical content, and no more downloaded than the pieces that were
/// missing (the figure is rounded to 0.1 of its unit, hence the tolerance).
fn finish(fx: &Fixture, dl: &Download, verified_before: u64) -> (Hivebt, swarm::Summary) {
    let mut seeder = fx.seeder(&[]);
    let mut down = dl.start(fx, &[seeder.peer_arg()], &[], &[]);
    let st = down.wait_exit(WAIT);
    let err = down.stderr();
    assert_no_panic("restarted downloader", &err);
    assert_eq!(st.code(), Some(0), "the restarted download failed:\n{err}");
    fx.assert_identical(&fx.downloaded(&dl.out));
    let summary = down.summary(&fx.info_hash);
    assert!(summary.complete, "{}", summary.line);
    let missing = fx.len() - verified_before * u64::from(fx.piece_len);
    assert!(
        summary.downloaded <= missing as f64 + summary.downloaded_precision,
        "{verified_before} of {} pieces were verified before the restart, so at most \
         {missing} bytes were missing, but the restarted run downloaded more: {}",
        fx.pieces,
        summary.line
    );
    seeder.stop();
    (down, summary)
}

#[test]
fn sigkill_halfway_then_restart_downloads_only_the_rest() {
    let fx = fixture("kill", 11);
    let slow = fx.seeder(&["--max-upload-rate", SLOWER]);
    let dl = Download::new(&fx, "dl");
    let mut down = dl.start(&fx, &[slow.peer_arg()], &[], &[]);
    wait_half(&fx, &dl, &mut down);
    // Kill after a resume record was written and pieces were written after it, so
    // the record on disk is stale: the files' mtimes no longer match it.
    let record = hivebt::resume::record_path(&dl.state, &fx.info_hash);
    let at_record = wait_until(&fx, &dl, &mut down, "a resume record", |_| record.exists());
    wait_until(&fx, &dl, &mut down, "pieces after the record", |v| {
        v >= at_record + 2
    });
    down.signal(libc::SIGKILL);
    let st = down.wait_exit(WAIT);
    assert_eq!(
        st.code(),
        None,
        "the downloader was not killed by the signal: {st}"
    );
    drop(slow);

    let verified = verified_pieces(&fx, &dl.out);
    assert!(
        verified >= u64::from(fx.pieces / 2) && verified < u64::from(fx.pieces),
        "killed with {verified} of {} pieces on disk: not a partial download",
        fx.pieces
    );
    let (down, summary) = finish(&fx, &dl, verified);
    // The record the killed run left predates its last writes: the restart must not
    // trust it, and finds the pieces by rechecking.
    let err = down.stderr();
    assert_eq!(
        trusted_pieces(&err, &fx),
        None,
        "the restart trusted a record older than the files:\n{err}"
    );
    eprintln!(
        "SIGKILL at {verified}/{} pieces; restart: {}",
        fx.pieces, summary.line
    );
}

#[test]
fn sigterm_halfway_then_restart_trusts_the_record() {
    let fx = fixture("term", 12);
    let slow = fx.seeder(&["--max-upload-rate", SLOW]);
    let dl = Download::new(&fx, "dl");
    let mut down = dl.start(&fx, &[slow.peer_arg()], &[], &[]);
    wait_half(&fx, &dl, &mut down);
    down.signal(libc::SIGTERM);
    let st = down.wait_exit(WAIT);
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(
        st.code(),
        Some(1),
        "a download stopped before completion exits 1 (incomplete); stderr:\n{err}"
    );
    let summary = down.summary(&fx.info_hash);
    assert!(!summary.complete, "{}", summary.line);
    drop(slow);

    let verified = verified_pieces(&fx, &dl.out);
    assert!(
        verified >= u64::from(fx.pieces / 2) && verified < u64::from(fx.pieces),
        "stopped with {verified} of {} pieces on disk: not a partial download",
        fx.pieces
    );
    let (down, summary) = finish(&fx, &dl, verified);
    let err = down.stderr();
    let trusted = trusted_pieces(&err, &fx).unwrap_or_else(|| {
        panic!("the restart after a clean stop did not trust its resume record:\n{err}")
    });
    assert_eq!(
        trusted, verified,
        "the record flushed at the clean stop should hold exactly the pieces on disk"
    );
    eprintln!(
        "SIGTERM at {verified}/{} pieces; restart: {}",
        fx.pieces, summary.line
    );
}

#[test]
fn completed_download_seeds_from_its_record_until_a_file_changes() {
    let fx = fixture("reseed", 13);
    let dl = Download::new(&fx, "dl");
    finish(&fx, &dl, 0);
    let file = fx.downloaded(&dl.out);

    // `--data` as the download directory and as the content file itself.
    for data in [dl.out.clone(), file.clone()] {
        let mut seeder = Hivebt::spawn(
            "reseeder",
            &[
                "seed",
                "--no-dht",
                "--no-lsd",
                s(&fx.torrent),
                "--data",
                s(&data),
                "--listen",
                "127.0.0.1:0",
                "--state",
                s(&dl.state),
            ],
            &[],
        );
        seeder.wait_listening();
        // Printed before `listening on`, but read from another pipe: wait for it.
        seeder.wait_stderr("pieces verified without a recheck", Duration::from_secs(5));
        let err = seeder.stderr();
        assert_eq!(
            trusted_pieces(&err, &fx),
            Some(u64::from(fx.pieces)),
            "seeding a completed download (--data {}) with its state directory rechecked:\n{err}",
            data.display()
        );
        check_still_serving(&seeder, &fx);
        seeder.stop();
    }

    // Damage one byte of piece 3: the file's mtime changes, so the record is no longer
    // trusted and the recheck finds the damage.
    let mut bytes = std::fs::read(&file).expect("read download");
    let at = 3 * fx.piece_len as usize + 100;
    bytes[at] ^= 0xff;
    std::fs::write(&file, &bytes).expect("damage download");
    let mut seeder = Hivebt::spawn(
        "reseeder",
        &[
            "seed",
            "--no-dht",
            "--no-lsd",
            s(&fx.torrent),
            "--data",
            s(&dl.out),
            "--listen",
            "127.0.0.1:0",
            "--state",
            s(&dl.state),
        ],
        &[],
    );
    seeder.wait_listening();
    // The warning comes after the decision to recheck, so once it is read, a trusted
    // record would have been reported already.
    seeder.expect_stderr(
        &format!("only {} of {} pieces verify", fx.pieces - 1, fx.pieces),
        Duration::from_secs(5),
    );
    let err = seeder.stderr();
    assert_eq!(
        trusted_pieces(&err, &fx),
        None,
        "a record was trusted after the file changed:\n{err}"
    );
    // The damaged piece is not offered.
    let mut w = Wire::open(&seeder, fx.info_hash, true);
    let first = w.recv_until("a bitfield", |m| {
        matches!(m, swarm::Got::Bitfield(_) | swarm::Got::HaveAll)
    });
    let swarm::Got::Bitfield(bits) = first else {
        panic!("a seeder missing piece 3 sent have_all");
    };
    let want: Vec<u8> = (0..fx.pieces.div_ceil(8))
        .map(|byte| {
            (0..8)
                .map(|bit| byte * 8 + bit)
                .filter(|&p| p < fx.pieces && p != 3)
                .fold(0u8, |acc, p| acc | (0x80 >> (p % 8)))
        })
        .collect();
    assert_eq!(bits, want, "the bitfield should lack piece 3 and only it");
    w.close();
    seeder.stop();
}

/// A record cut short (as by a crash mid-write on a file system that reorders writes,
/// or a hand edit) is named in a warning, never trusted, and the data is rechecked.
#[test]
fn a_damaged_record_is_ignored_with_a_warning_and_the_data_rechecked() {
    let fx = fixture("damaged", 31);
    let mut seeder = fx.seeder(&[]);
    let dl = Download::new(&fx, "dl");
    let mut down = dl.start(&fx, &[seeder.peer_arg()], &[], &[]);
    let st = down.wait_exit(WAIT);
    assert_eq!(st.code(), Some(0), "{}", down.stderr());
    seeder.stop();
    let record = dl
        .state
        .join("resume")
        .join(format!("{}.resume", fx.info_hash.to_hex()));
    let bytes = std::fs::read(&record).expect("a record after a completed download");
    std::fs::write(&record, &bytes[..bytes.len() / 2]).expect("cut the record");
    // Again with no peer: the recheck alone must find every piece.
    let mut again = dl.start(&fx, &[], &[], &[]);
    let st = again.wait_exit(WAIT);
    let err = again.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(0), "{err}");
    let warning = format!(
        "hivebt: warning: {}: resume record {}",
        fx.name,
        record.display()
    );
    assert!(
        err.contains(&warning) && err.contains("is damaged"),
        "{err}"
    );
    assert_eq!(
        trusted_pieces(&err, &fx),
        None,
        "a damaged record was trusted: {err}"
    );
    fx.assert_identical(&fx.downloaded(&dl.out));
}

/// A tmpfs mounted for one test and unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `dir`; `None` when
    /// this process may not mount (not root).
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                s(dir),
            ])
            .status()
            .is_ok_and(|st| st.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}"), s(&self.0)])
            .status()
            .expect("spawn mount");
        assert!(st.success(), "remount {} to {size}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", s(&self.0)])
            .status();
    }
}

/// A download into a file system too small for it stops with `disk full writing
/// <file>` and exit 1, keeping the verified pieces; run again once there is room, it
/// downloads only the rest.
#[test]
fn a_full_disk_stops_the_download_and_loses_no_verified_piece() {
    let fx = fixture("diskfull", 32);
    let dl = Download {
        out: fx.dir("small"),
        state: fx.dir("dl-state"),
    };
    let Some(fs) = Tmpfs::mount(&dl.out, "400k") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let mut seeder = fx.seeder(&[]);
    let mut down = dl.start(&fx, &[seeder.peer_arg()], &[], &[]);
    let st = down.wait_exit(WAIT);
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(1), "{err}");
    let file = dl.out.join(&fx.name);
    assert!(
        err.contains(&format!("disk full writing {}", file.display())),
        "{err}"
    );
    seeder.stop();
    let verified = verified_pieces(&fx, &dl.out);
    assert!(
        verified > 0 && verified < u64::from(fx.pieces),
        "{verified} pieces verified in 400 KiB: {err}"
    );
    fs.resize("4m");
    let (again, _) = finish(&fx, &dl, verified);
    assert!(
        trusted_pieces(&again.stderr(), &fx) == Some(verified),
        "the verified pieces were not kept in the resume record: {}",
        again.stderr()
    );
}
