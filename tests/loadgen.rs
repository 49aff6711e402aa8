//! `hivebt-loadgen` end to end on loopback: against `hivebt seed` with `--verify` and
//! with `--idle`, against a fake seeder that sends wrong bytes (so `--verify` must fail
//! and exit 1), against nothing at all, and with bad options.
//!
//! Every seeder listens on 127.0.0.1 on a port the kernel picks (learnt from its
//! `listening on ADDR` line), every child is killed when its guard drops, and every
//! load generator run is killed and fails the test if it outlives its own duration by
//! [`GRACE`].

mod common;
mod swarm;

use std::process::Command;
use std::time::Duration;

use common::clients::lt_download;
use common::proc::{Deadline, run};
use serde_json::Value;
use swarm::{Download, FakeSeeder, Fixture, Script, WAIT, assert_no_panic, s};

const KIB: u32 = 1024;

/// How long a load generator run may take beyond its `--duration`.
const GRACE: Duration = Duration::from_secs(30);

/// What a finished load generator run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout parsed as the `--json` report.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "loadgen printed no JSON ({e})\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `hivebt-loadgen ARGS`, killing it if it runs for `duration` + [`GRACE`].
fn loadgen(args: &[&str], duration: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hivebt-loadgen"));
    let done = run(
        "hivebt-loadgen",
        cmd.args(args),
        Deadline::after(duration + GRACE),
    );
    let out = done.into_output();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Checks that every connection error counter is zero.
fn no_errors(report: &Value, run: &Run) {
    let errors = report["errors"].as_object().expect("errors object");
    assert!(!errors.is_empty());
    for (kind, n) in errors {
        assert_eq!(n, 0, "{kind} errors\n{}", run.describe());
    }
}

/// 3 MiB and a bit, in 64 KiB pieces (four blocks each; the last piece is short).
fn fixture(tag: &str) -> Fixture {
    Fixture::new(tag, 3 * 1024 * 1024 + 5000, 64 * KIB, 11)
}

#[test]
fn verify_against_hivebt_seed() {
    let fx = fixture("lg-verify");
    let mut seeder = fx.seeder(&[]);
    let secs = Duration::from_secs(2);
    let run = loadgen(
        &[
            "--torrent",
            s(&fx.torrent),
            "--peer",
            &seeder.peer_arg(),
            "--connections",
            "4",
            "--depth",
            "16",
            "--verify",
            "--duration",
            "2",
            "--json",
        ],
        secs,
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let r = run.json();
    assert!(
        r["bytes"].as_u64().expect("bytes") > 0,
        "{}",
        run.describe()
    );
    assert!(r["mb_per_s"].as_f64().expect("mb_per_s") > 0.0);
    assert!(r["seconds"].as_f64().expect("seconds") >= 2.0);
    assert!(r["requests_completed"].as_u64().expect("requests") > 0);
    assert_eq!(r["pieces_failed"], 0, "{}", run.describe());
    assert!(r["pieces_verified"].as_u64().expect("pieces_verified") > 0);
    let latency = &r["latency_us"];
    let points: Vec<u64> = ["p50", "p90", "p99", "p99_9", "max"]
        .iter()
        .map(|k| {
            latency[k]
                .as_u64()
                .unwrap_or_else(|| panic!("latency_us.{k} missing: {latency}"))
        })
        .collect();
    assert!(points.windows(2).all(|w| w[0] <= w[1]), "{points:?}");
    assert!(points[0] > 0);
    assert_eq!(r["connections_handshaken"], 4, "{}", run.describe());
    assert_eq!(r["connections_open_at_end"], 4);
    no_errors(&r, &run);
    assert!(r["cpu"]["percent"].as_f64().is_some());
    seeder.stop();
}

/// The count column of the `--stats` row starting with `name`, from a seeder's stderr.
fn stats_count(stderr: &str, name: &str) -> u64 {
    let row = stderr
        .lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no '{name}' row in --stats output:\n{stderr}"));
    row[name.len()..]
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no count in '{row}'"))
}

#[test]
fn both_upload_modes_serve_verified_pieces_and_report_disk_reads() {
    for mode in ["sendfile", "buffered"] {
        let fx = fixture(&format!("lg-mode-{mode}"));
        let mut seeder = fx.seeder(&["--upload-mode", mode, "--stats"]);
        // Drop the content from the page cache (the seeder's check just read it), so
        // the sendfile path must prefetch on a worker instead of finding it cached.
        let content = fx.data.join(&fx.name);
        for (tool, args) in [
            ("sync", vec![s(&content).to_string()]),
            (
                "dd",
                vec![
                    format!("if={}", s(&content)),
                    "iflag=nocache".into(),
                    "count=0".into(),
                    "status=none".into(),
                ],
            ),
        ] {
            let st = Command::new(tool)
                .args(&args)
                .status()
                .expect("run sync/dd");
            assert!(st.success(), "{tool} {args:?}: {st}");
        }
        let run = loadgen(
            &[
                "--torrent",
                s(&fx.torrent),
                "--peer",
                &seeder.peer_arg(),
                "--connections",
                "3",
                "--depth",
                "32",
                "--verify",
                "--duration",
                "1",
                "--json",
            ],
            Duration::from_secs(1),
        );
        assert_eq!(run.code, Some(0), "{mode}: {}", run.describe());
        let r = run.json();
        no_errors(&r, &run);
        assert_eq!(r["pieces_failed"], 0, "{mode}: {}", run.describe());
        let pieces = r["pieces_verified"].as_u64().expect("pieces_verified");
        assert!(pieces > 0, "{mode}: {}", run.describe());
        // A download with --stats counts every block it requested and every piece it
        // hashed: 48 pieces of four blocks and a short last piece of one.
        let dl = swarm::Download::new(&fx, "stats-dl");
        let mut down = dl.start(&fx, &[seeder.peer_arg()], &["--stats"], &[]);
        let st = down.wait_exit(Duration::from_secs(60));
        let dl_err = down.stderr();
        assert_eq!(st.code(), Some(0), "{dl_err}");
        fx.assert_identical(&fx.downloaded(&dl.out));
        assert_eq!(
            stats_count(&dl_err, "request to block"),
            48 * 4 + 1,
            "{dl_err}"
        );
        assert_eq!(stats_count(&dl_err, "hash time"), 49, "{dl_err}");
        assert_eq!(stats_count(&dl_err, "hash queue wait"), 49, "{dl_err}");
        let stderr = seeder.stop();
        // Some pieces are read (buffered: all of them; sendfile: those not in the page
        // cache), each at most once while it stays cached or warm.
        let reads = stats_count(&stderr, "disk read");
        assert!(
            (1..=49).contains(&reads),
            "{mode}: {reads} disk reads\n{stderr}"
        );
        assert_eq!(stats_count(&stderr, "disk read queue wait"), reads);
        assert!(stats_count(&stderr, "reactor loop") > 0, "{stderr}");
        assert_eq!(
            stats_count(&stderr, "request to block"),
            0,
            "a seeder requests nothing"
        );
    }
}

#[test]
fn sequential_text_report_against_hivebt_seed() {
    let fx = fixture("lg-seq");
    let mut seeder = fx.seeder(&[]);
    let run = loadgen(
        &[
            "--torrent",
            s(&fx.torrent),
            "--peer",
            &seeder.peer_arg(),
            "--connections",
            "2",
            "--depth",
            "8",
            "--pattern",
            "sequential",
            "--duration",
            "1",
        ],
        Duration::from_secs(1),
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    for needle in [
        "throughput",
        " MB/s",
        "p99.9 ",
        "errors       none",
        "of one core",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle:?} missing\n{}",
            run.describe()
        );
    }
    assert!(
        !run.stdout.contains("bytes        0 "),
        "{}",
        run.describe()
    );
    seeder.stop();
}

#[test]
fn idle_connections_stay_open() {
    let fx = fixture("lg-idle");
    let mut seeder = fx.seeder(&[]);
    let run = loadgen(
        &[
            "--torrent",
            s(&fx.torrent),
            "--peer",
            &seeder.peer_arg(),
            "--connections",
            "50",
            "--idle",
            "--duration",
            "2",
            "--json",
        ],
        Duration::from_secs(2),
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let r = run.json();
    assert_eq!(r["idle"], true);
    assert_eq!(r["connections_handshaken"], 50, "{}", run.describe());
    assert_eq!(r["connections_open_at_end"], 50, "{}", run.describe());
    assert_eq!(r["requests_sent"], 0);
    assert_eq!(r["bytes"], 0);
    assert!(r["latency_us"].is_null());
    no_errors(&r, &run);
    seeder.stop();
}

#[test]
fn verify_fails_on_wrong_bytes() {
    let fx = fixture("lg-corrupt");
    let fake = FakeSeeder::start("127.0.0.1", fx.info_hash, fx.pieces, Script::Corrupt);
    let run = loadgen(
        &[
            "--torrent",
            s(&fx.torrent),
            "--peer",
            &fake.addr.to_string(),
            "--connections",
            "2",
            "--depth",
            "8",
            "--verify",
            "--duration",
            "1",
            "--json",
        ],
        Duration::from_secs(1),
    );
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let r = run.json();
    assert!(r["pieces_failed"].as_u64().expect("pieces_failed") > 0);
    assert_eq!(r["pieces_verified"], 0);
    assert!(
        run.stderr.contains("failed their SHA-1 check"),
        "{}",
        run.describe()
    );
}

#[test]
fn nothing_listening_is_counted_and_exits_1() {
    let fx = fixture("lg-refused");
    // A port that was just free: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port();
    let peer = format!("127.0.0.1:{port}");
    let run = loadgen(
        &[
            "--torrent",
            s(&fx.torrent),
            "--peer",
            &peer,
            "--connections",
            "3",
            "--duration",
            "5",
            "--json",
        ],
        Duration::from_secs(5),
    );
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let r = run.json();
    assert_eq!(r["errors"]["connect_refused"], 3, "{}", run.describe());
    assert!(
        r["seconds"].as_f64().expect("seconds") < 5.0,
        "the run ends once every connection has failed"
    );
}

#[test]
fn bad_options_exit_2() {
    let fx = fixture("lg-bad");
    let torrent = s(&fx.torrent);
    let cases: &[&[&str]] = &[
        &[
            "--torrent",
            torrent,
            "--peer",
            "no-port",
            "--connections",
            "1",
        ],
        &[
            "--torrent",
            torrent,
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "0",
        ],
        &[
            "--torrent",
            torrent,
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "1",
            "--depth",
            "0",
        ],
        &[
            "--torrent",
            torrent,
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "1",
            "--duration",
            "0",
        ],
        &[
            "--torrent",
            torrent,
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "1",
            "--verify",
            "--idle",
        ],
        &[
            "--torrent",
            torrent,
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "1",
            "--pattern",
            "zigzag",
        ],
    ];
    for args in cases {
        let run = loadgen(args, Duration::from_secs(1));
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.describe());
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.describe());
    }
    // A torrent that cannot be read is an operational failure, as for `hivebt`.
    let run = loadgen(
        &[
            "--torrent",
            "/nonexistent.torrent",
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "1",
        ],
        Duration::from_secs(1),
    );
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("cannot open"), "{}", run.describe());
    // A file that is not a torrent is bad input.
    let junk = fx.scratch.write("junk.torrent", b"not bencode");
    let run = loadgen(
        &[
            "--torrent",
            s(&junk),
            "--peer",
            "127.0.0.1:1",
            "--connections",
            "1",
        ],
        Duration::from_secs(1),
    );
    assert_eq!(run.code, Some(2), "{}", run.describe());
}

/// 5,000 idle connections at once against `--max-peers 500`: the excess is refused, the
/// seeder's memory stays bounded, and two real downloads started meanwhile, hivebt's
/// and libtorrent's, each get a slot (an idle connection makes room) and complete.
#[test]
fn a_flood_past_max_peers_leaves_room_for_a_real_download() {
    let Some(py) = common::require_libtorrent() else {
        return;
    };
    let fx = fixture("lg-flood");
    let mut seeder = fx.seeder(&["--max-peers", "500"]);
    let before = swarm::rss_kib(seeder.pid());
    let args: Vec<String> = [
        "--torrent",
        s(&fx.torrent),
        "--peer",
        &seeder.peer_arg(),
        "--connections",
        "5000",
        "--idle",
        "--duration",
        "30",
        "--json",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let flood = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        loadgen(&args, Duration::from_secs(30))
    });
    std::thread::sleep(Duration::from_secs(3));
    let flooded = swarm::rss_kib(seeder.pid());
    let started = std::time::Instant::now();
    let lt_out = fx.dir("lt");
    let seeder_addr = seeder.addr.expect("the seeder's address");
    let mut lt = lt_download(&py, &fx.torrent, &lt_out, Some(seeder_addr));
    let dl = Download::new(&fx, "dl");
    let mut down = dl.start(&fx, &[seeder.peer_arg()], &[], &[]);
    let st = down.wait_exit(WAIT);
    let took = started.elapsed();
    let err = down.stderr();
    assert_no_panic("downloader", &err);
    assert_eq!(st.code(), Some(0), "{err}");
    fx.assert_identical(&fx.downloaded(&dl.out));
    lt.wait_ok(Deadline::start());
    let lt_took = started.elapsed();
    fx.assert_identical(&lt_out.join(&fx.name));
    let run = flood.join().expect("flood thread");
    let r = run.json();
    let held = r["connections_handshaken"].as_u64().unwrap_or(0);
    eprintln!(
        "flood: {held} of 5000 handshaken against --max-peers 500; seeder RSS {before} KiB \
         before, {flooded} KiB flooded; the hivebt download took {took:?}, libtorrent's was \
         done by {lt_took:?}"
    );
    assert!(
        held >= 500,
        "the seeder did not serve 500: {}",
        run.describe()
    );
    assert!(
        flooded < before + 64 * 1024,
        "the flood grew the seeder from {before} to {flooded} KiB"
    );
    seeder.stop();
}
