//! The qBittorrent Web API of `hivebt daemon`, driven by the PyPI `qbittorrent-api`
//! client (through tests/py/qbt_calls.py) as Sonarr, Radarr and scripts drive
//! qBittorrent, and by raw HTTP for what clients send that the library does not:
//! reads posted as forms, malformed parameters, the exact headers of answers.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::daemon::Daemon;
use common::fixture::Fixture;
use common::proc::{Deadline, poll_until, run_ok};
use common::{KIB, Scratch, clients, require_libtorrent, require_qbittorrent_api, s};

const QBT_CALLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/qbt_calls.py");

/// Runs `calls` (`[[method, kwargs], ...]`) through qbittorrent-api logged in with
/// `password`; one `{"ok": ...}` or `{"error": ...}` per call.
fn qbt(py: &Path, d: &Daemon, password: &str, calls: Value) -> Vec<Value> {
    let mut cmd = std::process::Command::new(py);
    cmd.arg(QBT_CALLS)
        .arg(d.api.ip().to_string())
        .arg(d.api.port().to_string())
        .arg("admin")
        .arg(password)
        .arg(calls.to_string());
    let done = run_ok("qbt_calls.py", &mut cmd, Deadline::start());
    let last = done.stdout.last().expect("qbt_calls.py printed nothing");
    let out: Value = serde_json::from_str(last).expect("qbt_calls.py prints JSON");
    out.as_array().expect("a list").clone()
}

/// The result of one call that must have succeeded.
fn ok(results: &[Value], i: usize) -> &Value {
    let r = &results[i];
    assert!(r.get("error").is_none(), "call {i} failed: {r}");
    &r["ok"]
}

/// The one torrent `hash` of `torrents_info`.
fn info(py: &Path, d: &Daemon, hash: &str) -> Value {
    let r = qbt(
        py,
        d,
        "",
        json!([["torrents_info", {"torrent_hashes": hash}]]),
    );
    let list = ok(&r, 0).as_array().expect("a list").clone();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

/// Polls torrent `hash` until its qBittorrent state is `want`.
fn wait_state(py: &Path, d: &Daemon, hash: &str, want: &str, deadline: Deadline) -> Value {
    poll_until(
        &format!("torrent {hash} to be {want}"),
        deadline,
        || d.proc.report(),
        || {
            let t = info(py, d, hash);
            (t["state"] == want).then_some(t)
        },
    )
}

#[test]
fn the_qbittorrent_api_client_adds_lists_stops_limits_syncs_and_deletes() {
    let Some(py) = require_qbittorrent_api() else {
        return;
    };
    let deadline = Deadline::start();
    let tracker = "http://127.0.0.1:1/announce";
    let album = Fixture::single(
        "qbt-album",
        "album.bin",
        300 * KIB + 7,
        1,
        16 * KIB,
        &[tracker],
        deadline,
    );
    let show = Fixture::tree(
        "qbt-show",
        "show",
        &[("e1.mkv", 40 * KIB), ("sub/e2.mkv", 30 * KIB + 3)],
        16 * KIB,
        &[],
        deadline,
    );
    let keep = show.scratch.write("src/keep.txt", b"not the torrent's");
    let scratch = Scratch::new("qbt-state");
    let d = Daemon::start(&scratch.path().join("state"), scratch.path(), &[], deadline);
    let show_dir = s(show.data_dir()).to_string();

    let r = qbt(
        &py,
        &d,
        "",
        json!([
            ["auth_log_in", {}],
            ["app_version", {}],
            ["app_web_api_version", {}],
            ["app_preferences", {}],
            ["app_default_save_path", {}],
            ["torrents_create_category", {"name": "tv", "save_path": show_dir}],
            ["torrents_add", {"torrent_files": album.torrent, "save_path": album.data_dir(),
                              "category": "music", "tags": "flac, lossless",
                              "upload_limit": 50000}],
            ["torrents_add", {"torrent_files": show.torrent, "category": "tv", "tags": "hd",
                              "is_stopped": true, "ratio_limit": 1.5, "seeding_time_limit": 90}],
            ["torrents_add", {"urls": format!("magnet:?xt=urn:btih:{}", "ab".repeat(19))}],
            ["torrents_add", {"torrent_files": album.torrent}],
            ["torrents_categories", {}],
            ["torrents_tags", {}],
            ["torrents_properties", {"torrent_hash": "cd".repeat(20)}],
            ["transfer_info", {}],
        ]),
    );
    assert_eq!(ok(&r, 1), "v5.1.2");
    assert_eq!(ok(&r, 2), "2.11.4");
    let prefs = ok(&r, 3);
    for key in [
        "save_path",
        "max_ratio_enabled",
        "max_ratio",
        "max_seeding_time_enabled",
        "max_seeding_time",
        "max_ratio_act",
        "queueing_enabled",
        "dht",
        "listen_port",
        "up_limit",
        "dl_limit",
    ] {
        assert!(prefs.get(key).is_some(), "preferences lack {key}: {prefs}");
    }
    assert_eq!(prefs["save_path"], s(scratch.path()));
    assert_eq!(prefs["listen_port"], d.peer.port());
    assert_eq!(prefs["dht"], false, "the test daemon runs with --no-dht");
    assert_eq!(prefs["lsd"], false, "the test daemon runs with --no-lsd");
    assert_eq!(prefs["pex"], true, "peer exchange is always on");
    assert_eq!(prefs["max_ratio_act"], 0, "a share limit stops");
    assert_eq!(ok(&r, 4), s(scratch.path()));
    assert_eq!(ok(&r, 6), "Ok.");
    assert_eq!(ok(&r, 7), "Ok.");
    assert_eq!(ok(&r, 8), "Fails.", "a magnet link with a short info-hash");
    assert_eq!(ok(&r, 9), "Fails.", "a duplicate adds nothing");
    assert_eq!(
        ok(&r, 10)["tv"],
        json!({"name": "tv", "savePath": show_dir})
    );
    assert_eq!(ok(&r, 10)["music"]["savePath"], "", "made by the add");
    assert_eq!(ok(&r, 11), &json!(["flac", "hd", "lossless"]));
    assert_eq!(r[12]["error"], "NotFound404Error", "{}", r[12]);
    for key in [
        "dl_info_speed",
        "dl_info_data",
        "up_info_speed",
        "up_info_data",
        "connection_status",
    ] {
        assert!(ok(&r, 13).get(key).is_some(), "transfer_info lacks {key}");
    }

    // The album seeds (stalledUP: nobody to upload to), with every field as asked.
    let a = wait_state(&py, &d, &album.info_hash, "stalledUP", deadline);
    let size = (300 * KIB + 7) as u64;
    assert_eq!(a["hash"], album.info_hash.as_str());
    assert_eq!(a["infohash_v1"], album.info_hash.as_str());
    assert_eq!(a["name"], "album.bin");
    assert_eq!(
        (a["size"].as_u64(), a["total_size"].as_u64()),
        (Some(size), Some(size))
    );
    assert_eq!(
        (a["progress"].as_f64(), a["amount_left"].as_u64()),
        (Some(1.0), Some(0))
    );
    assert_eq!(
        (a["dlspeed"].as_u64(), a["upspeed"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (a["downloaded"].as_u64(), a["uploaded"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(a["ratio"].as_f64(), Some(0.0));
    assert_eq!(a["eta"], 8_640_000);
    assert_eq!(
        (a["category"].as_str(), a["tags"].as_str()),
        (Some("music"), Some("flac, lossless"))
    );
    let album_dir = s(album.data_dir());
    assert_eq!(a["save_path"], album_dir);
    assert_eq!(a["content_path"], format!("{album_dir}/album.bin"));
    assert_ne!(a["content_path"], a["save_path"]);
    assert!(a["added_on"].as_u64().unwrap() > 1_600_000_000);
    assert!(a["completion_on"].as_i64().unwrap() >= a["added_on"].as_i64().unwrap());
    assert!(a["seeding_time"].as_u64().is_some() && a["time_active"].as_u64().is_some());
    assert_eq!(
        (a["ratio_limit"].as_f64(), a["seeding_time_limit"].as_i64()),
        (Some(-2.0), Some(-2))
    );
    assert_eq!(
        (a["num_seeds"].as_u64(), a["num_leechs"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (a["num_complete"].as_u64(), a["num_incomplete"].as_u64()),
        (Some(0), Some(0))
    );
    let magnet = a["magnet_uri"].as_str().unwrap();
    assert!(
        magnet.starts_with(&format!("magnet:?xt=urn:btih:{}", album.info_hash)),
        "{magnet}"
    );
    assert_eq!(a["tracker"], tracker);
    assert_eq!(
        (a["up_limit"].as_u64(), a["dl_limit"].as_u64()),
        (Some(50_000), Some(0))
    );
    assert_eq!(
        (a["auto_tmm"].as_bool(), a["force_start"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(
        (a["super_seeding"].as_bool(), a["priority"].as_i64()),
        (Some(false), Some(0))
    );
    assert!(a["last_activity"].as_i64().is_some() && a["availability"].as_f64().is_some());

    // The show went to its category's path, stopped, with its share limits.
    let t = wait_state(&py, &d, &show.info_hash, "stoppedUP", deadline);
    assert_eq!(t["save_path"], show_dir.as_str());
    assert_eq!(
        t["content_path"],
        format!("{show_dir}/show"),
        "a multi-file torrent's folder"
    );
    assert_eq!(
        (t["ratio_limit"].as_f64(), t["seeding_time_limit"].as_i64()),
        (Some(1.5), Some(90))
    );

    // Filters, sorting, paging; stop/start; share limits; sync.
    let r = qbt(
        &py,
        &d,
        "",
        json!([
            ["torrents_info", {"status_filter": "stopped"}],
            ["torrents_info", {"status_filter": "seeding"}],
            ["torrents_info", {"category": "tv"}],
            ["torrents_info", {"tag": "flac"}],
            ["torrents_info", {"sort": "size", "reverse": true, "limit": 1}],
            ["torrents_info", {"sort": "size", "offset": 1}],
            ["sync_maindata", {"rid": 0}],
            ["torrents_start", {"torrent_hashes": show.info_hash}],
            ["torrents_stop", {"torrent_hashes": album.info_hash}],
            ["torrents_set_share_limits", {"torrent_hashes": album.info_hash,
                "ratio_limit": 2, "seeding_time_limit": 60, "inactive_seeding_time_limit": -2}],
            ["torrents_add_tags", {"torrent_hashes": album.info_hash, "tags": "new"}],
            ["torrents_files", {"torrent_hash": show.info_hash}],
            ["torrents_trackers", {"torrent_hash": album.info_hash}],
            ["torrents_piece_states", {"torrent_hash": album.info_hash}],
        ]),
    );
    let hashes = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["hash"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(hashes(ok(&r, 0)), [show.info_hash.as_str()]);
    assert_eq!(hashes(ok(&r, 1)), [album.info_hash.as_str()]);
    assert_eq!(hashes(ok(&r, 2)), [show.info_hash.as_str()]);
    assert_eq!(hashes(ok(&r, 3)), [album.info_hash.as_str()]);
    assert_eq!(
        hashes(ok(&r, 4)),
        [album.info_hash.as_str()],
        "the bigger first"
    );
    assert_eq!(
        hashes(ok(&r, 5)),
        [album.info_hash.as_str()],
        "after the smaller"
    );
    let full = ok(&r, 6);
    assert_eq!(full["full_update"], true);
    let rid = full["rid"].as_u64().unwrap();
    assert!(full["torrents"][album.info_hash.as_str()]["name"] == "album.bin");
    assert_eq!(full["categories"]["tv"]["savePath"], show_dir.as_str());
    assert!(full["server_state"]["dl_info_speed"].is_u64());
    let files = ok(&r, 11).as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(
        (files[0]["name"].as_str(), files[0]["size"].as_u64()),
        (Some("show/e1.mkv"), Some(40 * KIB as u64))
    );
    assert_eq!(files[1]["piece_range"], json!([2, 4]));
    let trackers = ok(&r, 12).as_array().unwrap();
    assert!(trackers.iter().any(|t| t["url"] == tracker), "{trackers:?}");
    let pieces = ok(&r, 13).as_array().unwrap();
    assert_eq!(pieces.len(), 19);
    assert!(pieces.iter().all(|p| p == 2));

    let t = wait_state(&py, &d, &album.info_hash, "stoppedUP", deadline);
    assert_eq!(
        (t["ratio_limit"].as_f64(), t["seeding_time_limit"].as_i64()),
        (Some(2.0), Some(60))
    );
    assert_eq!(t["tags"], "flac, lossless, new");
    wait_state(&py, &d, &show.info_hash, "stalledUP", deadline);
    let r = qbt(&py, &d, "", json!([["sync_maindata", {"rid": rid}]]));
    let delta = ok(&r, 0);
    assert!(delta.get("full_update").is_none(), "{delta}");
    assert_ne!(delta["rid"].as_u64(), Some(rid));
    let changed = &delta["torrents"][album.info_hash.as_str()];
    assert_eq!(changed["state"], "stoppedUP", "{delta}");
    assert_eq!(changed["tags"], "flac, lossless, new");
    assert!(
        changed.get("name").is_none() && changed.get("size").is_none(),
        "only changes: {changed}"
    );
    assert_eq!(delta["tags"], json!(["new"]));
    assert!(delta.get("categories").is_none(), "{delta}");

    // Removing: the category goes from its torrent; the show goes with its files.
    let r = qbt(
        &py,
        &d,
        "",
        json!([
            ["sync_maindata", {"rid": delta["rid"]}],
            ["torrents_remove_categories", {"categories": "tv"}],
            ["torrents_delete", {"delete_files": true, "torrent_hashes": show.info_hash}],
            ["torrents_info", {}],
        ]),
    );
    let rid = ok(&r, 0)["rid"].clone();
    assert_eq!(hashes(ok(&r, 3)), [album.info_hash.as_str()]);
    assert!(
        !show.data_dir().join("show").exists(),
        "its files are deleted"
    );
    assert!(keep.exists(), "other data stays");
    assert!(album.data_dir().join("album.bin").exists());
    let r = qbt(&py, &d, "", json!([["sync_maindata", {"rid": rid}]]));
    let delta = ok(&r, 0);
    assert_eq!(
        delta["torrents_removed"],
        json!([show.info_hash]),
        "{delta}"
    );
    assert_eq!(delta["categories_removed"], json!(["tv"]), "{delta}");
}

#[test]
fn a_torrent_added_through_the_qbittorrent_api_seeds_to_libtorrent_and_stops_at_its_share_limit() {
    let (Some(py), Some(lt)) = (require_qbittorrent_api(), require_libtorrent()) else {
        return;
    };
    let deadline = Deadline::start();
    let fx = Fixture::single(
        "qbt-lt",
        "movie.bin",
        200 * KIB + 3,
        4,
        16 * KIB,
        &[],
        deadline,
    );
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let r = qbt(
        &py,
        &d,
        "",
        json!([["torrents_add", {"torrent_files": fx.torrent, "save_path": fx.data_dir(),
                                  "ratio_limit": 1.0}]]),
    );
    assert_eq!(ok(&r, 0), "Ok.");
    wait_state(&py, &d, &fx.info_hash, "stalledUP", deadline);
    let out = fx.scratch.path().join("lt");
    let mut leecher = clients::lt_download(&lt, &fx.torrent, &out, Some(d.peer));
    leecher.wait_ok(deadline);
    fx.check_copy("libtorrent", &out);
    // Uploading it all reaches ratio 1: the torrent is stopped and stays listed.
    let t = wait_state(&py, &d, &fx.info_hash, "stoppedUP", deadline);
    assert!(t["uploaded"].as_u64().unwrap() >= (200 * KIB) as u64, "{t}");
    assert!(t["ratio"].as_f64().unwrap() >= 1.0, "{t}");
    assert_eq!(t["ratio_limit"].as_f64(), Some(1.0));
}

#[test]
fn logins_hand_out_a_sid_and_wrong_passwords_are_locked_out() {
    let Some(py) = require_qbittorrent_api() else {
        return;
    };
    let deadline = Deadline::start();
    let scratch = Scratch::new("qbt-auth");
    let state = scratch.path().join("state");

    // Without a password a login still sets SID (cross-seed needs one).
    let d = Daemon::start(&state, scratch.path(), &[], deadline);
    let a = d.request(
        "POST",
        "/api/v2/auth/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=x",
    );
    assert_eq!((a.status, a.text().as_str()), (200, "Ok."));
    let cookie = a.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("SID=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(a.header("content-type").unwrap().starts_with("text/plain"));
    drop(d);

    let d = Daemon::start_with_password(&state, scratch.path(), "hunter2", 3, deadline);
    let anon = d.get("/api/v2/torrents/info");
    assert_eq!((anon.status, anon.text().as_str()), (403, "Forbidden"));

    let r = qbt(
        &py,
        &d,
        "hunter2",
        json!([
            ["auth_log_in", {}],
            ["torrents_info", {}],
            ["app_version", {}]
        ]),
    );
    assert!(ok(&r, 1).as_array().unwrap().is_empty());
    assert_eq!(ok(&r, 2), "v5.1.2");

    // The SID works on the native API too; the bearer token on this one.
    let login = d.request(
        "POST",
        "/api/v2/auth/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=hunter2",
    );
    let pair = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        d.request("GET", "/api/v1/session", &[("Cookie", &pair)], b"")
            .status,
        200
    );
    let token = std::fs::read_to_string(state.join("api_token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let a = d.request(
        "GET",
        "/api/v2/app/version",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!((a.status, a.text().as_str()), (200, "v5.1.2"));
    let a = d.request("POST", "/api/v2/auth/logout", &[("Cookie", &pair)], b"");
    assert_eq!(a.status, 200);
    assert_eq!(
        d.request("GET", "/api/v2/app/version", &[("Cookie", &pair)], b"")
            .status,
        403
    );

    let r = qbt(
        &py,
        &d,
        "guess",
        json!([["auth_log_in", {}], ["auth_log_in", {}]]),
    );
    assert_eq!(r[0]["error"], "LoginFailed", "{r:?}");
    let wrong = d.request(
        "POST",
        "/api/v2/auth/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=guess",
    );
    assert_eq!((wrong.status, wrong.text().as_str()), (200, "Fails."));
    let banned = d.request(
        "POST",
        "/api/v2/auth/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=hunter2",
    );
    assert_eq!(banned.status, 403, "{}", banned.text());
    assert!(banned.text().contains("banned"), "{}", banned.text());
}

#[test]
fn raw_requests_get_qbittorrent_answers_and_never_a_500() {
    let deadline = Deadline::start();
    let fx = Fixture::single(
        "qbt-raw",
        "raw.bin",
        40 * KIB + 1,
        9,
        16 * KIB,
        &[],
        deadline,
    );
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];

    // An add as multipart: Ok. as text/plain, answered once it is in the session.
    let torrent = std::fs::read(&fx.torrent).unwrap();
    let mut body = b"--XX\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"raw.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n".to_vec();
    body.extend_from_slice(&torrent);
    body.extend_from_slice(
        b"\r\n--XX\r\nContent-Disposition: form-data; name=\"savepath\"\r\n\r\n",
    );
    body.extend_from_slice(s(fx.data_dir()).as_bytes());
    body.extend_from_slice(b"\r\n--XX--\r\n");
    let multipart = [("Content-Type", "multipart/form-data; boundary=XX")];
    let a = d.request("POST", "/api/v2/torrents/add", &multipart, &body);
    assert_eq!((a.status, a.text().as_str()), (200, "Ok."));
    assert_eq!(a.header("content-type"), Some("text/plain; charset=UTF-8"));

    // Reads posted as forms (cross-seed posts everything).
    let hash = &fx.info_hash;
    let a = d.request(
        "POST",
        "/api/v2/torrents/info",
        &form,
        format!("hashes={hash}").as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()[0]["hash"], hash.as_str());
    let a = d.request(
        "POST",
        "/api/v2/torrents/properties",
        &form,
        format!("hash={hash}").as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let p = a.json();
    assert_eq!(
        (p["save_path"].as_str(), p["total_size"].as_u64()),
        (Some(s(fx.data_dir())), Some((40 * KIB + 1) as u64))
    );
    assert_eq!(p["piece_size"], 16 * KIB);
    let a = d.request("POST", "/api/v2/app/version", &form, b"");
    assert_eq!(a.text(), "v5.1.2");

    // qBittorrent's errors.
    let cases: Vec<(&str, String, String, u16)> = vec![
        (
            "GET",
            format!("/api/v2/torrents/properties?hash={}", "ef".repeat(20)),
            "".to_string(),
            404,
        ),
        (
            "GET",
            "/api/v2/torrents/properties?hash=nothex".to_string(),
            "".to_string(),
            404,
        ),
        (
            "GET",
            "/api/v2/torrents/properties".to_string(),
            "".to_string(),
            400,
        ),
        (
            "GET",
            "/api/v2/torrents/nosuch".to_string(),
            "".to_string(),
            404,
        ),
        (
            "GET",
            "/api/v2/nosuch/thing".to_string(),
            "".to_string(),
            404,
        ),
        (
            "GET",
            "/api/v2/torrents/delete?hashes=all&deleteFiles=false".to_string(),
            "".to_string(),
            405,
        ),
        (
            "POST",
            "/api/v2/torrents/delete".to_string(),
            "hashes=all".to_string(),
            400,
        ),
        (
            "POST",
            "/api/v2/torrents/setShareLimits".to_string(),
            format!("hashes={hash}&ratioLimit=x&seedingTimeLimit=1"),
            400,
        ),
        (
            "POST",
            "/api/v2/torrents/setShareLimits".to_string(),
            format!("hashes={hash}&ratioLimit=-7&seedingTimeLimit=1"),
            400,
        ),
        (
            "POST",
            "/api/v2/torrents/setShareLimits".to_string(),
            format!("hashes={hash}"),
            400,
        ),
        (
            "POST",
            "/api/v2/torrents/info".to_string(),
            "filter=%zz".to_string(),
            400,
        ),
        (
            "POST",
            "/api/v2/torrents/createCategory".to_string(),
            "category=".to_string(),
            400,
        ),
        (
            "POST",
            "/api/v2/torrents/createCategory".to_string(),
            "category=a//b".to_string(),
            409,
        ),
        (
            "POST",
            "/api/v2/torrents/setCategory".to_string(),
            format!("hashes={hash}&category=none"),
            409,
        ),
        (
            "POST",
            "/api/v2/torrents/topPrio".to_string(),
            format!("hashes={hash}"),
            409,
        ),
        (
            "POST",
            "/api/v2/torrents/setLocation".to_string(),
            format!("hashes={hash}&location=/elsewhere"),
            409,
        ),
        (
            "POST",
            "/api/v2/app/setPreferences".to_string(),
            "json={bad".to_string(),
            400,
        ),
        (
            "POST",
            "/api/v2/transfer/setUploadLimit".to_string(),
            "limit=fast".to_string(),
            400,
        ),
        // Unknown hashes in a batch are ignored, as qBittorrent does.
        (
            "POST",
            "/api/v2/torrents/stop".to_string(),
            "hashes=zz|0123".to_string(),
            200,
        ),
        (
            "POST",
            "/api/v2/torrents/recheck".to_string(),
            format!("hashes={}", "ab".repeat(20)),
            200,
        ),
    ];
    for (method, path, body, want) in cases {
        let a = d.request(method, &path, &form, body.as_bytes());
        assert_eq!(a.status, want, "{method} {path} {body}: {}", a.text());
        assert!(
            a.header("content-type").unwrap().starts_with("text/plain"),
            "{path}"
        );
    }
    let bad = d.request(
        "POST",
        "/api/v2/torrents/add",
        &multipart,
        b"--XX\r\ncut short",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let not_torrent = b"--XX\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"a.torrent\"\r\n\r\nnot bencode\r\n--XX--\r\n";
    let a = d.request("POST", "/api/v2/torrents/add", &multipart, not_torrent);
    assert_eq!(a.status, 415, "{}", a.text());
    let a = d.request("POST", "/api/v2/torrents/add", &form, b"category=tv");
    assert_eq!(a.status, 400, "{}", a.text());

    // Preferences that hivebt has change; a bad rid is a full update.
    let a = d.request(
        "POST",
        "/api/v2/app/setPreferences",
        &form,
        b"json=%7B%22max_ratio_enabled%22%3Atrue%2C%22max_ratio%22%3A3%2C%22up_limit%22%3A100000%7D",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let prefs = d.get("/api/v2/app/preferences").json();
    assert_eq!(
        (
            prefs["max_ratio_enabled"].as_bool(),
            prefs["max_ratio"].as_f64()
        ),
        (Some(true), Some(3.0))
    );
    assert_eq!(prefs["up_limit"], 100_000);
    let a = d.get("/api/v2/transfer/info").json();
    assert_eq!(a["up_rate_limit"], 100_000);
    let a = d.get("/api/v2/sync/maindata?rid=banana").json();
    assert_eq!(a["full_update"], true);
    // HEAD has no body (a reused connection would read it as the next answer).
    let a = d.request("HEAD", "/api/v2/app/version", &[], b"");
    assert_eq!((a.status, a.body.len()), (200, 0));
    let a = d.request("DELETE", "/api/v2/torrents/info", &[], b"");
    assert_eq!(a.status, 405);
    // Still alive and answering.
    assert_eq!(d.get("/api/v2/app/webapiVersion").text(), "2.11.4");
}
