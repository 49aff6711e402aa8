//! Local service discovery (BEP 14) end to end, only ever inside a private network
//! namespace the test makes itself (`unshare -n`: its own loopback, given a multicast
//! route), never on the host's interfaces. Needs root (CI runs as root); without it,
//! or where namespaces are not allowed, the tests print SKIP, and fail under
//! `HIVEBT_REQUIRE_INTEROP=1`.
//!
//! - a download with no tracker, no `--peer` and no DHT finds its seed on the LAN;
//! - with the seed's LSD off (`--no-lsd`), the same download finds nobody.

mod common;

use std::process::Command;
use std::time::Duration;

use common::fixture::Fixture;
use common::proc::{Deadline, Proc};
use common::{KIB, s};

/// Inside the namespace: bring loopback up with a route for multicast, start the
/// download (waiting for its `listening on`), then the seed, and wait for the
/// download. Arguments: hivebt, torrent, data dir, out dir, two state dirs, the
/// seed's extra flag (or empty), the download's `--timeout`.
const SCRIPT: &str = r#"
set -u
ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo || exit 90
bin=$1 torrent=$2 data=$3 out=$4 s1=$5 s2=$6 seed_flag=$7 timeout=$8
"$bin" download "$torrent" --out "$out" --listen 127.0.0.1:0 --state "$s2" --no-dht \
    --timeout "$timeout" > "$s2.out" 2> "$s2.err" &
dl=$!
for _ in $(seq 100); do grep -q '^listening on' "$s2.out" 2>/dev/null && break; sleep 0.1; done
"$bin" seed "$torrent" --data "$data" --listen 127.0.0.1:0 --state "$s1" --no-dht $seed_flag \
    > "$s1.out" 2> "$s1.err" &
seed=$!
wait $dl; rc=$?
kill -TERM $seed; wait $seed
echo "--- download stderr"; cat "$s2.err"
echo "--- seed stderr"; cat "$s1.err"
exit $rc
"#;

/// Whether this process may make a network namespace; SKIP (or fail when interop is
/// required) when it may not.
fn namespaces_allowed() -> bool {
    let ok = Command::new("unshare")
        .args(["-n", "--", "ip", "link", "set", "lo", "up"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !common::interop_required(),
            "LSD tests need root and `unshare -n` with iproute2 (HIVEBT_REQUIRE_INTEROP=1)"
        );
        eprintln!("SKIP: cannot make a network namespace (not root, or no unshare/ip)");
    }
    ok
}

/// Runs [`SCRIPT`] in a new network namespace; returns its exit code and output.
fn run_in_namespace(tag: &str, seed_flag: &str, timeout: &str) -> (Fixture, i32, String) {
    let deadline = Deadline::after(Duration::from_secs(120));
    // No tracker in the torrent, and the DHT off everywhere: only LSD can find the seed.
    let fx = Fixture::single(tag, "lsd.bin", 1024 * KIB + 77, 14, 32 * KIB, &[], deadline);
    let out = fx.dir("out");
    let (s1, s2) = (fx.dir("seed-state"), fx.dir("dl-state"));
    let mut p = Proc::spawn(
        tag,
        Command::new("unshare").args([
            "-n",
            "--",
            "bash",
            "-c",
            SCRIPT,
            "lsd",
            env!("CARGO_BIN_EXE_hivebt"),
            s(&fx.torrent),
            s(fx.data_dir()),
            s(&out),
            s(&s1),
            s(&s2),
            seed_flag,
            timeout,
        ]),
    );
    let done = p.wait(deadline);
    let code = done.status.code().unwrap_or(-1);
    assert_ne!(
        code,
        90,
        "could not set up the namespace's loopback:\n{}",
        p.report()
    );
    (fx, code, p.report())
}

#[test]
fn a_download_finds_its_seed_on_the_lan_with_no_tracker_and_no_dht() {
    if !namespaces_allowed() {
        return;
    }
    let (fx, code, report) = run_in_namespace("lsd-find", "", "60");
    assert_eq!(code, 0, "the download completes through LSD:\n{report}");
    fx.check_copy("hivebt through LSD", &fx.dir("out"));
    assert!(
        report.contains("1 peers used"),
        "the seed was the peer:\n{report}"
    );
}

#[test]
fn with_the_seeds_lsd_off_the_download_finds_nobody() {
    if !namespaces_allowed() {
        return;
    }
    let (_fx, code, report) = run_in_namespace("lsd-off", "--no-lsd", "5");
    assert_eq!(code, 1, "no peer, so --timeout gives up:\n{report}");
    assert!(
        report.contains("no progress for 5 s"),
        "the download says why:\n{report}"
    );
}
