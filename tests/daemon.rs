//! `hivebt daemon` end to end: its API on loopback, real files, libtorrent as the
//! peer, restarts (clean and `kill -9`), the watch folder, and the attacks the API
//! must turn away.

mod common;
mod swarm;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, send_raw};
use common::fixture::{Content, Fixture};
use common::proc::{Deadline, poll_until, run_ok};
use common::{KIB, Scratch, clients, hivebt, require_libtorrent, s};
use hivebt::types::{BlockRef, InfoHash, PieceIndex};
use hivebt::wire::peer::Message;
use swarm::{End, Got, Wire};

fn single(tag: &str, len: usize, deadline: Deadline) -> Fixture {
    Fixture::single(tag, "album.bin", len, 1, 16 * KIB, &[], deadline)
}

#[test]
fn a_torrent_added_by_upload_seeds_to_libtorrent_and_pauses_and_resumes() {
    let Some(py) = require_libtorrent() else {
        return;
    };
    let deadline = Deadline::start();
    let fx = single("daemon-upload", 300 * KIB + 7, deadline);
    let scratch = &fx.scratch;
    let state = scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let t = d.upload(&fx.torrent, "labels=music,flac");
    let hash = t["info_hash"].as_str().unwrap().to_string();
    assert_eq!(t["name"], "album.bin");
    assert_eq!(t["labels"], serde_json::json!(["music", "flac"]));
    assert_eq!(t["size"], (300 * KIB + 7) as u64);
    let t = d.wait_state(&hash, "seeding", deadline);
    assert_eq!(t["progress"], 1.0);

    // A second upload of the same torrent is a conflict.
    let bytes = std::fs::read(&fx.torrent).unwrap();
    let again = d.request(
        "POST",
        "/api/v1/torrents",
        &[("Content-Type", "application/x-bittorrent")],
        &bytes,
    );
    assert_eq!(
        (again.status, again.json()["code"].clone()),
        (409, "conflict".into())
    );

    // libtorrent downloads it from the daemon.
    let out = scratch.path().join("lt");
    let mut lt = clients::lt_download(&py, &fx.torrent, &out, Some(d.peer));
    lt.wait_ok(deadline);
    fx.check_copy("libtorrent", &out);
    let t = poll_until(
        "uploaded bytes counted",
        deadline,
        || d.proc.report(),
        || {
            let t = d.torrent(&hash);
            (t["uploaded"].as_u64() >= Some((300 * KIB) as u64)).then_some(t)
        },
    );
    assert!(t["ratio"].as_f64().unwrap() > 0.9, "{t}");

    // Pause closes it to peers; resume brings it back; both survive in the record.
    let a = d.request("POST", &format!("/api/v1/torrents/{hash}/pause"), &[], b"");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["state"], "paused");
    let listed = d.get("/api/v1/torrents?state=paused").json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let a = d.request("POST", &format!("/api/v1/torrents/{hash}/resume"), &[], b"");
    assert_eq!(a.json()["state"], "seeding");

    let files = d.get(&format!("/api/v1/torrents/{hash}/files")).json();
    assert_eq!(files[0]["path"], "album.bin");
    assert_eq!(files[0]["progress"], 1.0);
    // 300 KiB + 7 in 16 KiB pieces: 19, all verified.
    let pieces = d.get(&format!("/api/v1/torrents/{hash}/pieces")).json();
    assert_eq!(pieces["pieces"], 19);
    assert_eq!(pieces["states"], "2".repeat(19));
    let session = d.get("/api/v1/session").json();
    assert_eq!(session["torrents"], 1);
    assert_eq!(session["by_state"]["seeding"], 1);
    let metrics = d.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("hivebt_torrents{state=\"seeding\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE hivebt_uploaded_bytes_total counter"));
}

#[test]
fn the_session_survives_a_restart_and_kill_9() {
    let deadline = Deadline::start();
    let a = single("daemon-restart", 100 * KIB, deadline);
    let b = Fixture::single(
        "daemon-restart-b",
        "second.bin",
        50 * KIB,
        2,
        16 * KIB,
        &[],
        deadline,
    );
    let state = a.scratch.path().join("state");
    let mut d = Daemon::start(&state, a.data_dir(), &[], deadline);
    let ha = d.upload(&a.torrent, "")["info_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let b_query = format!("paused=true&save_path={}", s(b.data_dir()));
    let hb = d.upload(&b.torrent, &b_query)["info_hash"]
        .as_str()
        .unwrap()
        .to_string();
    d.wait_state(&ha, "seeding", deadline);
    d.wait_state(&hb, "paused", deadline);
    let patch = serde_json::json!({"labels": ["keep"], "limits": {"ratio_limit": 5.0}});
    let p = d.send_json("PATCH", &format!("/api/v1/torrents/{ha}"), &patch);
    assert_eq!(p.status, 200, "{}", p.text());

    // SIGKILL: nothing answered may be lost.
    d.proc.signal(libc::SIGKILL);
    let _ = d.proc.wait(deadline);
    let mut d = Daemon::start(&state, a.data_dir(), &[], deadline);
    let t = d.wait_state(&ha, "seeding", deadline);
    assert_eq!(t["labels"], serde_json::json!(["keep"]));
    assert_eq!(t["limits"]["ratio_limit"], 5.0);
    d.wait_state(&hb, "paused", deadline);

    // A clean stop, and the same again.
    d.proc.terminate(deadline);
    let d = Daemon::start(&state, a.data_dir(), &[], deadline);
    d.wait_state(&ha, "seeding", deadline);
    d.wait_state(&hb, "paused", deadline);
    // The clean stop saved the resume records: nothing is hashed again.
    let t = d.torrent(&ha);
    assert_eq!(t["progress"], 1.0);
}

#[test]
fn an_add_racing_a_stop_is_kept_if_it_was_answered() {
    let deadline = Deadline::start();
    let fx = single("daemon-stop-race", 40 * KIB, deadline);
    let bytes = std::fs::read(&fx.torrent).unwrap();
    let mut answered = 0;
    // SIGTERM at several moments after the add is sent: before it is read, while its
    // files are checked, while its record is written, after it is answered.
    for (i, delay_ms) in [0u64, 1, 2, 4, 8, 30, 200].into_iter().enumerate() {
        let state = fx.scratch.path().join(format!("state-{i}"));
        let mut d = Daemon::start(&state, fx.data_dir(), &[], deadline);
        let mut raw = format!(
            "POST /api/v1/torrents HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-bittorrent\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            d.api,
            bytes.len()
        )
        .into_bytes();
        raw.extend_from_slice(&bytes);
        let mut conn = std::net::TcpStream::connect(d.api).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        std::io::Write::write_all(&mut conn, &raw).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        d.proc.terminate(deadline);
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut conn, &mut out);
        let status = (!out.is_empty()).then(|| common::daemon::parse_answer(&out).status);
        let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
        let list = d.get("/api/v1/torrents").json();
        let kept = list.as_array().unwrap().len();
        assert!(kept <= 1);
        if status == Some(201) {
            answered += 1;
            assert_eq!(kept, 1, "an add answered 201 before the stop was lost");
        } else {
            // Refused (503) or cut off: either outcome is whole, never half a torrent.
            assert!(matches!(status, None | Some(503)), "{status:?}");
        }
        if kept == 1 {
            d.wait_state(list[0]["info_hash"].as_str().unwrap(), "seeding", deadline);
        }
        assert!(
            !d.proc.report().contains("warning"),
            "the store was left inconsistent:\n{}",
            d.proc.report()
        );
    }
    // Not asserted (timing), but printed: how many attempts saw the add through.
    eprintln!("{answered} of 7 adds were answered before the stop");
}

#[test]
fn remove_keeps_or_deletes_only_the_torrents_own_data() {
    let deadline = Deadline::start();
    let fx = Fixture::tree(
        "daemon-remove",
        "set",
        &[("a/1.bin", 40 * KIB), ("b.bin", 30 * KIB)],
        16 * KIB,
        &[],
        deadline,
    );
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let h = d.upload(&fx.torrent, "")["info_hash"]
        .as_str()
        .unwrap()
        .to_string();
    d.wait_state(&h, "seeding", deadline);
    let mine = fx.data_dir().join("set/a/notes.txt");
    std::fs::write(&mine, b"mine").unwrap();

    let r = d.request("DELETE", &format!("/api/v1/torrents/{h}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.get(&format!("/api/v1/torrents/{h}")).status, 404);
    assert!(
        fx.data_dir().join("set/b.bin").exists(),
        "data kept without delete_data"
    );

    let h = d.upload(&fx.torrent, "")["info_hash"]
        .as_str()
        .unwrap()
        .to_string();
    d.wait_state(&h, "seeding", deadline);
    let r = d.request(
        "DELETE",
        &format!("/api/v1/torrents/{h}?delete_data=true"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!fx.data_dir().join("set/b.bin").exists());
    assert!(!fx.data_dir().join("set/a/1.bin").exists());
    assert!(mine.exists(), "a file that is not the torrent's stays");
    assert!(
        d.get("/api/v1/torrents")
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_watch_folder_adds_torrents_and_sets_bad_ones_aside() {
    let deadline = Deadline::start();
    let fx = single("daemon-watch", 20 * KIB, deadline);
    let scratch = &fx.scratch;
    let watch = scratch.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let state = scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &["--watch", s(&watch)], deadline);
    std::fs::copy(&fx.torrent, watch.join("good.torrent")).unwrap();
    std::fs::write(watch.join("bad.torrent"), b"d4:infoi3ee").unwrap();
    poll_until(
        "the watch folder to be handled",
        deadline,
        || d.proc.report(),
        || {
            (watch.join("good.torrent.added").exists()
                && watch.join("bad.torrent.invalid").exists())
            .then_some(())
        },
    );
    let list = d.get("/api/v1/torrents").json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "album.bin");
}

#[test]
fn an_add_by_path_and_by_create_are_answered_and_seeded() {
    let deadline = Deadline::start();
    let fx = single("daemon-create", 70 * KIB, deadline);
    let scratch = &fx.scratch;
    let content = Content::single(scratch, "made.bin", 90 * KIB, 7);
    let state = scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let by_path = d.send_json(
        "POST",
        "/api/v1/torrents",
        &serde_json::json!({"torrent_path": fx.torrent, "save_path": fx.data_dir()}),
    );
    assert_eq!(by_path.status, 201, "{}", by_path.text());
    let relative = d.send_json(
        "POST",
        "/api/v1/torrents",
        &serde_json::json!({"torrent_path": "x.torrent"}),
    );
    assert_eq!(relative.status, 400, "{}", relative.text());

    let made = d.send_json(
        "POST",
        "/api/v1/torrents",
        &serde_json::json!({"create_from": content.path, "piece_length": 16384}),
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let made = made.json();
    assert_eq!(made["name"], "made.bin");
    assert_eq!(made["state"], "seeding");
    assert!(made["torrent"].as_str().is_some_and(|b| b.len() > 100));
    // What it made verifies against the data with the CLI.
    let hash = made["info_hash"].as_str().unwrap();
    let kept = state.join(format!("torrents/{hash}.torrent"));
    run_ok(
        "hivebt verify",
        hivebt().arg("verify").arg(&kept).arg(content.data_dir()),
        deadline,
    );
}

#[test]
fn bad_requests_get_precise_errors() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("daemon-bad");
    let state = scratch.path().join("state");
    let d = Daemon::start(&state, scratch.path(), &[], deadline);
    let junk = d.request(
        "POST",
        "/api/v1/torrents",
        &[("Content-Type", "application/x-bittorrent")],
        b"d4:infoli1eee",
    );
    assert_eq!(junk.status, 400, "{}", junk.text());
    assert!(
        junk.json()["error"]
            .as_str()
            .unwrap()
            .contains("not a valid torrent")
    );
    assert_eq!(d.get("/api/v1/torrents/xyz").status, 400);
    assert_eq!(
        d.get(&format!("/api/v1/torrents/{}", "ab".repeat(20)))
            .status,
        404
    );
    assert_eq!(d.get("/api/v1/nothing").status, 404);
    assert_eq!(d.request("DELETE", "/api/v1/session", &[], b"").status, 405);
    let bad_json = d.request(
        "PATCH",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        b"{\"limits\":",
    );
    assert_eq!(bad_json.status, 400);
    let magnet = d.send_json(
        "POST",
        "/api/v1/torrents",
        &serde_json::json!({"magnet": "magnet:?xt=urn:btih:abc"}),
    );
    assert_eq!(magnet.status, 400);
    // Over 16 MiB announced: 413 before any of it is read.
    let big = send_raw(
        d.api,
        format!(
            "POST /api/v1/torrents HTTP/1.1\r\nHost: {}\r\nContent-Length: 20000000\r\n\r\n",
            d.api
        )
        .as_bytes(),
    );
    assert_eq!(big.status, 413);
    let chunked = send_raw(
        d.api,
        format!("POST /api/v1/torrents HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", d.api).as_bytes(),
    );
    assert_eq!(chunked.status, 400);
    let escapes = d.request(
        "POST",
        "/api/v1/torrents?save_path=relative/dir",
        &[("Content-Type", "application/x-bittorrent")],
        b"d4:infodee",
    );
    assert_eq!(escapes.status, 400, "{}", escapes.text());
    // Still healthy.
    assert_eq!(d.get("/api/v1/health").json()["status"], "ok");
}

#[test]
fn the_api_turns_away_foreign_hosts_origins_and_guessed_passwords() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("daemon-auth");
    let state = scratch.path().join("state");

    // Listening beyond loopback without a password is refused at start.
    let out = run_ok_or_code(&state, scratch.path(), &["--api", "0.0.0.0:0"], deadline);
    assert_eq!(out.0, 2, "{}", out.1);
    assert!(out.1.contains("without a password"), "{}", out.1);

    // DNS rebinding and CSRF, without a password.
    let d = Daemon::start(&state, scratch.path(), &[], deadline);
    let rebound = d.request(
        "GET",
        "/api/v1/torrents",
        &[("Host", "evil.example:8080")],
        b"",
    );
    assert_eq!(rebound.status, 403);
    let csrf = d.request(
        "POST",
        &format!("/api/v1/torrents/{}/pause", "ab".repeat(20)),
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert_eq!(csrf.status, 403);
    let same = d.request(
        "GET",
        "/api/v1/torrents",
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert_eq!(same.status, 200, "reads are not state changes");
    drop(d);

    // With a password: login, cookie, bearer token, lockout.
    let d = Daemon::start_with_password(&state, scratch.path(), "hunter2", 3, deadline);
    assert_eq!(d.get("/api/v1/torrents").status, 401);
    assert_eq!(d.get("/api/v1/health").status, 200);
    let token = std::fs::read_to_string(state.join("api_token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let ok = d.request(
        "GET",
        "/api/v1/torrents",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(ok.status, 200);
    let login = d.send_json(
        "POST",
        "/api/v1/login",
        &serde_json::json!({"password": "hunter2"}),
    );
    assert_eq!(login.status, 200, "{}", login.text());
    let cookie = login.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        d.request("GET", "/api/v1/session", &[("Cookie", pair)], b"")
            .status,
        200
    );
    for _ in 0..3 {
        let wrong = d.send_json(
            "POST",
            "/api/v1/login",
            &serde_json::json!({"password": "guess"}),
        );
        assert_eq!(wrong.status, 401);
    }
    let blocked = d.send_json(
        "POST",
        "/api/v1/login",
        &serde_json::json!({"password": "hunter2"}),
    );
    assert_eq!(
        (blocked.status, blocked.json()["code"].clone()),
        (429, "locked_out".into())
    );
}

/// Runs `hivebt daemon` expecting it to exit; its exit code and stderr.
fn run_ok_or_code(state: &Path, data: &Path, extra: &[&str], deadline: Deadline) -> (i32, String) {
    let mut cmd = Daemon::command(state, data, extra);
    let done = common::proc::run("hivebt daemon", &mut cmd, deadline);
    let out = done.into_output();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_errors_name_the_key_and_line() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("daemon-config");
    let file = scratch.path().join("hivebt.toml");
    std::fs::write(
        &file,
        "[limits]\nmax_upload_rate = \"10M\"\nmax_uplod_rate = 5\n",
    )
    .unwrap();
    let (code, err) = run_ok_or_code(
        &scratch.path().join("state"),
        scratch.path(),
        &["--config", s(&file)],
        deadline,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("max_uplod_rate") && err.contains(":3"),
        "{err}"
    );
    let printed = common::run(scratch.path(), &["daemon", "--print-config"]);
    assert!(printed.status.success());
    let text = String::from_utf8_lossy(&printed.stdout).into_owned();
    std::fs::write(&file, &text).unwrap();
    let (code, err) = run_ok_or_code(
        &scratch.path().join("state"),
        scratch.path(),
        &["--config", s(&file), "--print-config"],
        deadline,
    );
    assert_eq!(code, 0, "the printed config loads back: {err}");
}

#[test]
fn sighup_reloads_what_can_change_and_names_what_cannot() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("daemon-sighup");
    let file = scratch.path().join("hivebt.toml");
    std::fs::write(&file, "[limits]\nmax_upload_rate = \"1M\"\n").unwrap();
    let mut d = Daemon::start(
        &scratch.path().join("state"),
        scratch.path(),
        &["--config", s(&file)],
        deadline,
    );
    let limits = d.get("/api/v1/session").json()["limits"].clone();
    assert_eq!(limits["max_upload_rate"], 1 << 20);
    std::fs::write(
        &file,
        "[limits]\nmax_upload_rate = \"2M\"\nupload_slots = 7\n",
    )
    .unwrap();
    d.proc.signal(libc::SIGHUP);
    let line = d.proc.wait_for(
        common::proc::Stream::Stderr,
        "the reload line",
        deadline,
        |l| l.contains("SIGHUP"),
    );
    assert!(
        line.contains("in effect now: limits.max_upload_rate"),
        "{line}"
    );
    assert!(
        line.contains("needs a restart: limits.upload_slots"),
        "{line}"
    );
    let limits = d.get("/api/v1/session").json()["limits"].clone();
    assert_eq!(limits["max_upload_rate"], 2 << 20);
    // A broken file changes nothing and says why.
    std::fs::write(&file, "[limits]\nmax_upload_rate = \"fast\"\n").unwrap();
    d.proc.signal(libc::SIGHUP);
    let line = d.proc.wait_for(
        common::proc::Stream::Stderr,
        "the refused reload",
        deadline,
        |l| l.contains("not reloaded"),
    );
    assert!(line.contains("max_upload_rate"), "{line}");
    assert_eq!(
        d.get("/api/v1/session").json()["limits"]["max_upload_rate"],
        2 << 20
    );
}

#[test]
fn the_event_stream_tells_of_an_added_torrent() {
    use std::io::{BufRead, BufReader, Write};
    let deadline = Deadline::start();
    let fx = single("daemon-events", 30 * KIB, deadline);
    let d = Daemon::start(
        &fx.scratch.path().join("state"),
        fx.data_dir(),
        &[],
        deadline,
    );
    let mut stream = std::net::TcpStream::connect(d.api).unwrap();
    stream.set_read_timeout(Some(deadline.remaining())).unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: {}\r\n\r\n",
        d.api
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let t = d.upload(&fx.torrent, "");
    let hash = t["info_hash"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stream ended: {seen:?}"
        );
        if line.starts_with("event: added") {
            let mut data = String::new();
            reader.read_line(&mut data).unwrap();
            assert!(data.starts_with("data: ") && data.contains(&hash), "{data}");
            break;
        }
        seen.push(line);
    }
    // `rates` carries the torrent while its figures change (it is new, then checked),
    // then leaves it out while it sits idle.
    let mut carried = seen.iter().any(|l| l.contains(&hash));
    let mut rates = Vec::new();
    while rates.len() < 8 {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "stream ended");
        if line.starts_with("event: rates") {
            let mut data = String::new();
            reader.read_line(&mut data).unwrap();
            let v: serde_json::Value = serde_json::from_str(&data["data: ".len()..]).unwrap();
            assert!(
                v["upload_rate"].is_u64() && v["download_rate"].is_u64(),
                "{v}"
            );
            let has = v["torrents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["info_hash"] == hash.as_str());
            rates.push(has);
            if carried && !has {
                return;
            }
            carried |= has;
        }
    }
    panic!("rates events, whether each carried the torrent: {rates:?}");
}

/// A single-file torrent of `data` named `name`, in one piece (bencoded by hand).
fn tiny_torrent(name: &str, data: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let hash = Sha1::digest(data);
    let mut t = format!(
        "d4:infod6:lengthi{}e4:name{}:{name}12:piece lengthi16384e6:pieces20:",
        data.len(),
        name.len()
    )
    .into_bytes();
    t.extend_from_slice(&hash);
    t.extend_from_slice(b"ee");
    t
}

#[test]
fn a_thousand_torrents_are_added_and_listed() {
    let deadline = Deadline::start();
    let scratch = Scratch::new("daemon-thousand");
    let data = scratch.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = scratch.path().join("hivebt.toml");
    std::fs::write(&file, "[queue]\nmax_active_downloads = -1\n").unwrap();
    let d = Daemon::start(
        &scratch.path().join("state"),
        &data,
        &["--config", s(&file)],
        deadline,
    );
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let name = format!("t{i:04}.bin");
        let body = format!("content of torrent {i}").repeat(10);
        std::fs::write(data.join(&name), &body).unwrap();
        let a = d.request(
            "POST",
            "/api/v1/torrents",
            &[("Content-Type", "application/x-bittorrent")],
            &tiny_torrent(&name, body.as_bytes()),
        );
        assert_eq!(a.status, 201, "torrent {i}: {}", a.text());
    }
    eprintln!("1,000 adds took {:?}", started.elapsed());
    let list = poll_until(
        "every torrent seeding",
        deadline,
        || d.proc.report(),
        || {
            let list = d.get("/api/v1/torrents?state=seeding").json();
            (list.as_array().unwrap().len() == 1000).then_some(list)
        },
    );
    let names: std::collections::BTreeSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 1000);
    let page = d.get("/api/v1/torrents?limit=10&offset=995").json();
    assert_eq!(page.as_array().unwrap().len(), 5);
    assert_eq!(d.get("/api/v1/session").json()["by_state"]["seeding"], 1000);
}

#[test]
fn hivebt_ctl_drives_the_daemon() {
    let deadline = Deadline::start();
    let fx = single("daemon-ctl", 40 * KIB, deadline);
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let url = format!("http://{}", d.api);
    let ctl = |args: &[&str]| {
        let mut cmd = hivebt();
        cmd.args(["ctl", "--url", &url]).args(args);
        common::proc::run("hivebt ctl", &mut cmd, deadline).into_output()
    };
    let ctl_ok = |args: &[&str]| {
        let out = ctl(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ctl {args:?}: {err}");
    };
    let out = ctl(&["add", s(&fx.torrent), "--label", "music"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("added album.bin "), "{text}");
    let hash = text.split_whitespace().nth(2).unwrap().to_string();
    d.wait_state(&hash, "seeding", deadline);
    let list = String::from_utf8_lossy(&ctl(&["list"]).stdout).into_owned();
    assert!(
        list.lines().count() == 2 && list.contains("album.bin") && list.contains("seeding"),
        "{list}"
    );
    assert!(ctl(&["pause", "album.bin"]).status.success());
    assert_eq!(d.torrent(&hash)["state"], "paused");
    assert!(ctl(&["resume", &hash[..8]]).status.success());
    assert_eq!(d.torrent(&hash)["state"], "seeding");
    ctl_ok(&[
        "set",
        "album.bin",
        "--ratio-limit",
        "3",
        "--seed-time-limit",
        "7d",
    ]);
    assert_eq!(d.torrent(&hash)["limits"]["seed_time_limit"], 7 * 86400);
    // Only what is given changes: clearing one limit keeps the other.
    ctl_ok(&["set", "album.bin", "--seed-time-limit", "none"]);
    let limits = d.torrent(&hash)["limits"].clone();
    assert_eq!(
        (
            limits["seed_time_limit"].clone(),
            limits["ratio_limit"].clone()
        ),
        (serde_json::Value::Null, 3.0.into()),
        "{limits}"
    );
    let stats = String::from_utf8_lossy(&ctl(&["stats"]).stdout).into_owned();
    assert!(stats.contains("seeding"), "{stats}");
    let unknown = ctl(&["pause", "no-such-torrent"]);
    assert_eq!(unknown.status.code(), Some(2));
    ctl_ok(&[
        "set",
        "album.bin",
        "--max-upload-rate",
        "10M",
        "--max-download-rate",
        "5M",
        "--max-connections",
        "50",
    ]);
    let limits = d.torrent(&hash)["limits"].clone();
    assert_eq!(
        (
            limits["max_upload_rate"].as_u64(),
            limits["max_download_rate"].as_u64(),
            limits["max_connections"].as_u64(),
            limits["ratio_limit"].as_f64()
        ),
        (Some(10 << 20), Some(5 << 20), Some(50), Some(3.0)),
        "{limits}"
    );
    // A magnet link is added (no peer has it here: it stays fetching its metadata).
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let magnet = ctl(&["add", &format!("magnet:?xt=urn:btih:{hash}&dn=later")]);
    assert!(
        magnet.status.success(),
        "{}",
        String::from_utf8_lossy(&magnet.stderr)
    );
    d.assert_fetching(hash, "later");
    let bad = ctl(&["add", "magnet:?xt=urn:btih:0123"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the daemon says"));
    assert!(ctl(&["remove", "album.bin", hash]).status.success());
    assert!(
        d.get("/api/v1/torrents")
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(fx.data_dir().join("album.bin").exists());
}

/// Connects a peer to the daemon for torrent `info_hash`: `Ok` with the connection if
/// the daemon answers the handshake, `Err` if it closes it unanswered.
fn peer_for(d: &Daemon, info_hash: InfoHash) -> Result<Wire, End> {
    let mut w = Wire::connect(d.peer);
    w.send_handshake(info_hash, true);
    w.read_handshake().map(|_| w)
}

#[test]
fn per_torrent_limits_are_enforced_and_kept_over_a_restart() {
    let deadline = Deadline::start();
    // 16 whole blocks, and the short last piece the fixture wants.
    let fx = single("daemon-limits", 256 * KIB + 7, deadline);
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let add = |limits: serde_json::Value| {
        let body = serde_json::json!({"torrent_path": fx.torrent, "save_path": fx.data_dir(), "limits": limits});
        d.send_json("POST", "/api/v1/torrents", &body)
    };
    let zero = add(serde_json::json!({"max_connections": 0}));
    assert_eq!(zero.status, 400, "{}", zero.text());
    assert!(zero.text().contains("max_connections must be at least 1"));
    let added = add(serde_json::json!({"max_connections": 1, "max_upload_rate": 128 * KIB}));
    assert_eq!(added.status, 201, "{}", added.text());
    let hash = added.json()["info_hash"].as_str().unwrap().to_string();
    let info_hash = InfoHash::from_hex(&hash).unwrap();
    d.wait_state(&hash, "seeding", deadline);

    // One peer is taken; the next is refused at its handshake, unanswered.
    let mut first = peer_for(&d, info_hash).expect("the first peer is taken");
    assert_eq!(peer_for(&d, info_hash).err(), Some(End::Closed));
    let metrics = d.get("/metrics").text();
    assert!(
        metrics.contains("hivebt_peer_closes_total{reason=\"torrent_full\"} 1"),
        "{metrics}"
    );

    let path = format!("/api/v1/torrents/{hash}");
    let zero = d.send_json(
        "PATCH",
        &path,
        &serde_json::json!({"limits": {"max_upload_rate": 0}}),
    );
    assert_eq!(zero.status, 400, "{}", zero.text());
    let patch = serde_json::json!({"limits": {"max_download_rate": 5 << 20}});
    let p = d.send_json("PATCH", &path, &patch);
    assert_eq!(p.status, 200, "{}", p.text());
    let want = serde_json::json!({"max_upload_rate": 128 * KIB, "max_download_rate": 5 << 20,
        "max_connections": 1, "ratio_limit": null, "seed_time_limit": null});
    assert_eq!(
        p.json()["limits"],
        want,
        "the PATCH kept what it did not name"
    );

    // The first downloads everything at the torrent's rate: after the bucket's burst
    // (a quarter second's worth) 224 KiB at 128 KiB/s take 1.75 s, less one block of
    // debt. (A lower bound only: a slow machine makes it slower, never faster.)
    first.get_unchoked();
    let blocks: Vec<Message<'_>> = (0..16)
        .map(|p| {
            Message::Request(BlockRef {
                piece: PieceIndex(p),
                offset: 0,
                len: 16 * KIB as u32,
            })
        })
        .collect();
    let started = Instant::now();
    first.send_all(&blocks);
    let mut got = vec![0u8; 256 * KIB];
    for _ in 0..16 {
        let Got::Piece(b, data) = first.recv_until("a block", |m| matches!(m, Got::Piece(..)))
        else {
            unreachable!()
        };
        let at = b.piece.0 as usize * 16 * KIB;
        got[at..at + data.len()].copy_from_slice(&data);
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1200), "took {took:?}");
    let data = std::fs::read(fx.data_dir().join("album.bin")).unwrap();
    assert!(got == data[..256 * KIB], "the blocks are the file's");
    first.close();

    // A restart brings the limits back, and the engine enforces them again.
    let mut d = d;
    d.proc.terminate(deadline);
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let t = d.wait_state(&hash, "seeding", deadline);
    assert_eq!(t["limits"], want);
    let _first = peer_for(&d, info_hash).expect("the first peer is taken");
    assert_eq!(peer_for(&d, info_hash).err(), Some(End::Closed));
}
