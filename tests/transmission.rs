//! The daemon's Transmission RPC end to end: the real `transmission-remote` (Debian
//! transmission-cli) against it on loopback, the session-id handshake and Basic
//! authentication with its lockout, raw requests for the shapes and errors, and
//! libtorrent downloading a torrent added through the RPC.

#![recursion_limit = "256"]

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use common::daemon::{Answer, Daemon};
use common::fixture::Fixture;
use common::proc::{Deadline, poll_until};
use common::{KIB, Scratch, clients, require_libtorrent, require_transmission_remote, s};

/// `transmission-remote 127.0.0.1:PORT ARGS...`: exit code and stdout + stderr.
fn remote(tr: &Path, d: &Daemon, args: &[&str]) -> (i32, String) {
    let out = Command::new(tr)
        .arg(d.api.to_string())
        .args(args)
        .output()
        .expect("run transmission-remote");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// As [`remote`], expecting success.
fn remote_ok(tr: &Path, d: &Daemon, args: &[&str]) -> String {
    let (code, text) = remote(tr, d, args);
    assert_eq!(
        code,
        0,
        "transmission-remote {args:?}: {text}\n{}",
        d.proc.report()
    );
    text
}

/// The session id, from the 409 a request without one gets.
fn session_id(d: &Daemon, auth: &[(&str, &str)]) -> String {
    let a = d.request("POST", "/transmission/rpc", auth, b"{}");
    assert_eq!(a.status, 409, "{}", a.text());
    a.header("x-transmission-session-id")
        .expect("409 carries the session id")
        .to_string()
}

/// One RPC call with session id `sid`.
fn rpc(d: &Daemon, sid: &str, body: &Value) -> Answer {
    d.request(
        "POST",
        "/transmission/rpc",
        &[("X-Transmission-Session-Id", sid)],
        body.to_string().as_bytes(),
    )
}

/// One RPC call expected to succeed: its arguments.
fn call(d: &Daemon, sid: &str, method: &str, args: Value) -> Value {
    let a = rpc(d, sid, &json!({"method": method, "arguments": args}));
    assert_eq!(a.status, 200, "{}", a.text());
    let v = a.json();
    assert_eq!(v["result"], "success", "{method}: {v}");
    v["arguments"].clone()
}

/// The one torrent `torrent-get` lists with `fields`.
fn only_torrent(d: &Daemon, sid: &str, fields: &[&str]) -> Value {
    let got = call(d, sid, "torrent-get", json!({"fields": fields}));
    let list = got["torrents"].as_array().expect("torrents").clone();
    assert_eq!(list.len(), 1, "{got}");
    list[0].clone()
}

fn wait_status(d: &Daemon, sid: &str, want: u64, deadline: Deadline) -> Value {
    poll_until(
        &format!("status {want}"),
        deadline,
        || d.proc.report(),
        || {
            let t = only_torrent(d, sid, &["status", "percentDone"]);
            (t["status"] == want).then_some(t)
        },
    )
}

#[test]
fn transmission_remote_adds_lists_stops_verifies_and_removes() {
    let Some(tr) = require_transmission_remote() else {
        return;
    };
    let deadline = Deadline::start();
    let fx = Fixture::tree(
        "trpc-remote",
        "set",
        &[("a/1.bin", 40 * KIB), ("b.bin", 30 * KIB + 3)],
        16 * KIB,
        &[],
        deadline,
    );
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);

    let added = remote_ok(&tr, &d, &["-a", s(&fx.torrent)]);
    assert!(added.contains("success"), "{added}");
    let sid = session_id(&d, &[]);
    wait_status(&d, &sid, 6, deadline);
    let list = remote_ok(&tr, &d, &["-l"]);
    assert!(list.contains("100%") && list.contains("set"), "{list}");
    assert!(
        list.lines().any(|l| l.trim_start().starts_with("1 ")),
        "id 1: {list}"
    );

    let info = remote_ok(&tr, &d, &["-t", "1", "-i"]);
    for want in [
        &format!("Hash: {}", fx.info_hash),
        "Name: set",
        &format!("Location: {}", fx.data_dir().display()),
        "Percent Done: 100%",
        "Piece Size: 16.00 KiB",
        "Public torrent: Yes",
    ] {
        assert!(info.contains(want), "{want} in {info}");
    }
    let files = remote_ok(&tr, &d, &["-t", "1", "-f"]);
    assert!(
        files.contains("set/a/1.bin") && files.contains("set/b.bin"),
        "{files}"
    );

    // Stop and start, by id and by hash; both survive in the record.
    remote_ok(&tr, &d, &["-t", "1", "-S"]);
    assert!(remote_ok(&tr, &d, &["-l"]).contains("Stopped"));
    assert_eq!(only_torrent(&d, &sid, &["status"])["status"], 0);
    remote_ok(&tr, &d, &["-t", &fx.info_hash, "-s"]);
    wait_status(&d, &sid, 6, deadline);
    remote_ok(&tr, &d, &["-t", "1", "-v"]);
    wait_status(&d, &sid, 6, deadline);
    remote_ok(&tr, &d, &["-t", "1", "--reannounce"]);

    let si = remote_ok(&tr, &d, &["-si"]);
    assert!(
        si.contains("RPC version: 17") && si.contains("RPC minimum version: 14"),
        "{si}"
    );
    assert!(si.contains("Daemon version: 4.0.6 (hivebt "), "{si}");
    let st = remote_ok(&tr, &d, &["-st"]);
    assert!(
        st.contains("CURRENT SESSION") && st.contains("Started 1 times"),
        "{st}"
    );

    // Session limits, in kB/s of 1000 bytes; the turtle limits replace them while on.
    remote_ok(&tr, &d, &["-d", "100"]);
    remote_ok(&tr, &d, &["-u", "50"]);
    let limits = call(&d, &sid, "session-get", json!({}));
    assert_eq!(limits["speed-limit-down"], 100);
    assert_eq!(limits["speed-limit-down-enabled"], true);
    assert_eq!(limits["speed-limit-up"], 50);
    assert_eq!(limits["speed-limit-up-enabled"], true);
    let native = d.get("/api/v1/session").json();
    assert_eq!(native["limits"]["max_download_rate"], 100_000);
    assert_eq!(native["limits"]["max_upload_rate"], 50_000);
    remote_ok(&tr, &d, &["-as"]);
    let native = d.get("/api/v1/session").json();
    assert_eq!(native["limits"]["max_download_rate"], 50_000, "turtle mode");
    assert_eq!(
        call(&d, &sid, "session-get", json!({}))["alt-speed-enabled"],
        true
    );
    remote_ok(&tr, &d, &["-AS"]);
    remote_ok(&tr, &d, &["-D"]);
    remote_ok(&tr, &d, &["-U"]);
    let native = d.get("/api/v1/session").json();
    assert_eq!(native["limits"]["max_download_rate"], Value::Null);
    assert_eq!(native["limits"]["max_upload_rate"], Value::Null);
    let si = remote_ok(&tr, &d, &["-si"]);
    assert!(
        si.contains("Disabled limit: 100 kB/s"),
        "the number stays: {si}"
    );

    // Remove with its data: the torrent's files go, a file of someone else's stays.
    let mine = fx.data_dir().join("set/a/notes.txt");
    std::fs::write(&mine, b"mine").unwrap();
    remote_ok(&tr, &d, &["-t", "1", "--remove-and-delete"]);
    assert!(!fx.data_dir().join("set/b.bin").exists());
    assert!(!fx.data_dir().join("set/a/1.bin").exists());
    assert!(mine.exists());
    let list = remote_ok(&tr, &d, &["-l"]);
    assert!(!list.contains("set"), "{list}");
}

#[test]
fn a_password_is_asked_for_and_guessers_are_locked_out() {
    let Some(tr) = require_transmission_remote() else {
        return;
    };
    let deadline = Deadline::start();
    let scratch = Scratch::new("trpc-auth");
    let state = scratch.path().join("state");
    let d = Daemon::start_with_password(&state, scratch.path(), "hunter2", 3, deadline);

    // No credentials: 401 with the Basic challenge, before the session id.
    let a = d.request("POST", "/transmission/rpc", &[], b"{}");
    assert_eq!(a.status, 401, "{}", a.text());
    assert_eq!(
        a.header("www-authenticate"),
        Some("Basic realm=\"Transmission\"")
    );
    let (code, text) = remote(&tr, &d, &["-l"]);
    assert_ne!(code, 0, "{text}");

    // Any user name with the password; the verified credential is remembered.
    let list = remote_ok(&tr, &d, &["-n", "anyone:hunter2", "-l"]);
    assert!(list.contains("Sum:"), "{list}");
    remote_ok(&tr, &d, &["-n", "anyone:hunter2", "-si"]);
    // The API token works as a bearer token.
    let token = std::fs::read_to_string(state.join("api_token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let sid = session_id(&d, &[("Authorization", &bearer)]);
    let a = d.request(
        "POST",
        "/transmission/rpc",
        &[
            ("Authorization", &bearer),
            ("X-Transmission-Session-Id", &sid),
        ],
        br#"{"method":"session-get","arguments":{"fields":["version"]}}"#,
    );
    assert_eq!(a.json()["result"], "success", "{}", a.text());
    let a = d.request(
        "POST",
        "/transmission/rpc",
        &[("Authorization", "Basic !!")],
        b"{}",
    );
    assert_eq!(a.status, 401, "a malformed header is no credential");

    for _ in 0..3 {
        let (code, text) = remote(&tr, &d, &["-n", "anyone:guess", "-l"]);
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("401"), "{text}");
    }
    // Locked out now, the right password included, until the block ends.
    let (code, text) = remote(&tr, &d, &["-n", "other:hunter2", "-st"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("429"), "{text}");
}

#[test]
fn raw_calls_get_transmissions_shapes_and_errors() {
    let deadline = Deadline::start();
    let fx = Fixture::single(
        "trpc-raw",
        "album.bin",
        100 * KIB + 5,
        4,
        16 * KIB,
        &["http://127.0.0.1:1/announce"],
        deadline,
    );
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.data_dir(), &[], deadline);

    // The handshake: 409 and the id; a wrong id is 409 too.
    let sid = session_id(&d, &[]);
    assert_eq!(sid.len(), 64);
    let wrong = rpc(&d, "nope", &json!({"method": "session-get"}));
    assert_eq!(wrong.status, 409);
    assert!(wrong.text().contains(&sid));
    let get = d.request(
        "GET",
        "/transmission/rpc",
        &[("X-Transmission-Session-Id", &sid)],
        b"",
    );
    assert_eq!(get.status, 405);
    let foreign = d.request(
        "POST",
        "/transmission/rpc",
        &[
            ("Host", "evil.example"),
            ("X-Transmission-Session-Id", &sid),
        ],
        b"{}",
    );
    assert_eq!(foreign.status, 403, "DNS rebinding");
    // A foreign Origin with the session id passes, as in Transmission.
    let ext = d.request(
        "POST",
        "/transmission/rpc/",
        &[
            ("Origin", "chrome-extension://abc"),
            ("X-Transmission-Session-Id", &sid),
        ],
        br#"{"method":"port-test","tag":1}"#,
    );
    assert_eq!(
        ext.json(),
        json!({"arguments": {"port-is-open": false}, "result": "success", "tag": 1})
    );

    // Malformed bodies and unknown methods: 200 with the error as result.
    for body in [&b"garbage"[..], b"{\"method\":", b"{\"arguments\":{}}", b""] {
        let a = d.request(
            "POST",
            "/transmission/rpc",
            &[("X-Transmission-Session-Id", &sid)],
            body,
        );
        assert_eq!(a.status, 200);
        assert_eq!(
            a.json(),
            json!({"arguments": {}, "result": "no method name"})
        );
    }
    let a = rpc(&d, &sid, &json!({"method": "nope", "tag": 3}));
    assert_eq!(
        a.json(),
        json!({"arguments": {}, "result": "method name not recognized", "tag": 3})
    );
    let a = rpc(&d, &sid, &json!({"method": "blocklist-update"}));
    assert_ne!(a.json()["result"], "success");

    let session = call(&d, &sid, "session-get", json!({}));
    assert_eq!(session["rpc-version"], 17);
    assert_eq!(session["rpc-version-minimum"], 14);
    assert_eq!(session["download-dir"], s(fx.data_dir()));
    assert_eq!(session["config-dir"], s(&state));
    assert_eq!(session["peer-port"], d.peer.port());
    assert_eq!(session["dht-enabled"], false);
    assert_eq!(session["units"]["speed-bytes"], 1000);
    assert_eq!(session["seedRatioLimited"], false);
    assert_eq!(session["session-id"], sid);
    assert!(
        session["version"]
            .as_str()
            .unwrap()
            .starts_with("4.0.6 (hivebt ")
    );
    let some = call(
        &d,
        &sid,
        "session-get",
        json!({"fields": ["version", "rpc-version"]}),
    );
    assert_eq!(some.as_object().unwrap().len(), 2, "{some}");
    call(
        &d,
        &sid,
        "session-set",
        json!({"seedRatioLimit": 3.5, "seedRatioLimited": true}),
    );
    let session = call(
        &d,
        &sid,
        "session-get",
        json!({"fields": ["seedRatioLimit", "seedRatioLimited"]}),
    );
    assert_eq!(
        session,
        json!({"seedRatioLimit": 3.5, "seedRatioLimited": true})
    );

    // Add by path; again (by metainfo or magnet link) is a duplicate with the same id.
    let add = json!({"method": "torrent-add", "tag": 8, "arguments": {
        "filename": s(&fx.torrent), "labels": ["tv"], "paused": true}});
    let a = rpc(&d, &sid, &add).json();
    assert_eq!(a["result"], "success", "{a}");
    assert_eq!(a["tag"], 8, "a later answer keeps its tag");
    let added = &a["arguments"]["torrent-added"];
    assert_eq!(added["hashString"], fx.info_hash.as_str());
    assert_eq!(added["name"], "album.bin");
    let id = added["id"].as_u64().unwrap();
    assert_eq!(id, 1);
    let bytes = std::fs::read(&fx.torrent).unwrap();
    let b64 = base64(&bytes);
    let dup = call(&d, &sid, "torrent-add", json!({"metainfo": b64}));
    assert_eq!(dup["torrent-duplicate"]["id"], id, "{dup}");
    let magnet = format!("magnet:?xt=urn:btih:{}", fx.info_hash);
    let dup = call(&d, &sid, "torrent-add", json!({"filename": magnet}));
    assert_eq!(
        dup["torrent-duplicate"]["id"], id,
        "a magnet of a torrent already there: {dup}"
    );
    let a = rpc(
        &d,
        &sid,
        &json!({"method": "torrent-add", "arguments": {"metainfo": "%%%"}}),
    );
    assert!(
        a.json()["result"].as_str().unwrap().contains("invalid"),
        "{}",
        a.text()
    );

    wait_status(&d, &sid, 0, deadline);
    let all = [
        "id",
        "hashString",
        "name",
        "status",
        "percentDone",
        "totalSize",
        "sizeWhenDone",
        "leftUntilDone",
        "rateDownload",
        "rateUpload",
        "uploadedEver",
        "downloadedEver",
        "uploadRatio",
        "eta",
        "downloadDir",
        "error",
        "errorString",
        "isFinished",
        "labels",
        "addedDate",
        "doneDate",
        "peersConnected",
        "trackerStats",
        "files",
        "fileStats",
        "seedRatioLimit",
        "seedRatioMode",
        "isStalled",
        "peersGettingFromUs",
        "peersSendingToUs",
        "recheckProgress",
        "haveValid",
        "haveUnchecked",
        "pieceCount",
        "pieceSize",
        "comment",
        "creator",
        "dateCreated",
        "isPrivate",
        "trackers",
        "peers",
        "webseedsSendingToUs",
        "queuePosition",
        "metadataPercentComplete",
        "file-count",
        "fileCount",
        "peer-limit",
        "magnetLink",
        "torrentFile",
        "noSuchField",
    ];
    let t = only_torrent(&d, &sid, &all);
    let size = (100 * KIB + 5) as u64;
    let want = json!({
        "id": 1, "hashString": fx.info_hash, "name": "album.bin", "status": 0,
        "percentDone": 1.0, "totalSize": size, "sizeWhenDone": size, "leftUntilDone": 0,
        "rateDownload": 0, "rateUpload": 0, "uploadedEver": 0, "downloadedEver": 0,
        "uploadRatio": 0.0, "eta": -1, "downloadDir": s(fx.data_dir()), "error": 0,
        "errorString": "", "isFinished": false, "labels": ["tv"], "doneDate": 0,
        "peersConnected": 0, "seedRatioLimit": 3.5, "seedRatioMode": 0, "isStalled": false,
        "peersGettingFromUs": 0, "peersSendingToUs": 0, "recheckProgress": 0.0,
        "haveValid": size, "haveUnchecked": 0, "pieceCount": 7, "pieceSize": 16 * KIB,
        "comment": "", "creator": format!("hivebt/{}", env!("CARGO_PKG_VERSION")),
        "dateCreated": 0, "isPrivate": false, "peers": [], "webseedsSendingToUs": 0,
        "queuePosition": 0, "metadataPercentComplete": 1, "file-count": 1, "fileCount": 1,
        "files": [{"bytesCompleted": size, "length": size, "name": "album.bin"}],
        "fileStats": [{"bytesCompleted": size, "wanted": true, "priority": 0}],
        "trackers": [{"announce": "http://127.0.0.1:1/announce", "id": 0, "scrape": "",
                      "sitename": "127.0.0.1", "tier": 0}],
    });
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&t[k], v, "{k} in {t}");
    }
    assert!(t.get("noSuchField").is_none(), "unknown fields are ignored");
    assert!(t["addedDate"].as_u64().unwrap() > 1_600_000_000);
    assert!(t["peer-limit"].as_u64().unwrap() > 0);
    assert!(t["magnetLink"].as_str().unwrap().starts_with(&format!(
        "magnet:?xt=urn:btih:{}&dn=album.bin&tr=http%3A%2F%2F",
        fx.info_hash
    )));
    assert!(
        t["torrentFile"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{}.torrent", fx.info_hash))
    );
    assert_eq!(
        t["trackerStats"],
        json!([]),
        "no tracker client while stopped"
    );

    // The table format, and ids by hash and by number.
    let table = call(
        &d,
        &sid,
        "torrent-get",
        json!({"fields": ["id", "name"], "format": "table", "ids": [fx.info_hash]}),
    );
    assert_eq!(table["torrents"], json!([["id", "name"], [1, "album.bin"]]));
    let none = call(
        &d,
        &sid,
        "torrent-get",
        json!({"fields": ["id"], "ids": [99]}),
    );
    assert_eq!(none["torrents"], json!([]));
    let a = rpc(&d, &sid, &json!({"method": "torrent-get", "arguments": {}}));
    assert_eq!(a.json()["result"], "no fields specified");

    // torrent-set: labels and ratio; per-torrent rates are refused in the RPC's form.
    call(
        &d,
        &sid,
        "torrent-set",
        json!({"ids": [1], "labels": ["tv", "hd"], "seedRatioLimit": 1.5, "seedRatioMode": 1}),
    );
    let t = only_torrent(&d, &sid, &["labels", "seedRatioLimit", "seedRatioMode"]);
    assert_eq!(
        t,
        json!({"labels": ["tv", "hd"], "seedRatioLimit": 1.5, "seedRatioMode": 1})
    );
    let native = d.torrent(&fx.info_hash);
    assert_eq!(native["limits"]["ratio_limit"], 1.5);
    let a = rpc(
        &d,
        &sid,
        &json!({"method": "torrent-set", "arguments": {"ids": 1, "uploadLimit": 10, "uploadLimited": true}}),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["result"], "success", "{}", a.text());
    // Transmission's kB/s are 1000 bytes; the engine enforces the limit now.
    let t = only_torrent(&d, &sid, &["uploadLimit", "uploadLimited"]);
    assert_eq!(t, json!({"uploadLimit": 10, "uploadLimited": true}));
    assert_eq!(
        d.torrent(&fx.info_hash)["limits"]["max_upload_rate"],
        10_000
    );

    // Start it; recently active lists it and, after a removal, the removed id.
    call(&d, &sid, "torrent-start-now", json!({"ids": [1]}));
    wait_status(&d, &sid, 6, deadline);
    let t = only_torrent(&d, &sid, &["trackerStats"]);
    let stats = t["trackerStats"].as_array().unwrap();
    assert_eq!(stats.len(), 1, "{t}");
    assert_eq!(stats[0]["announce"], "http://127.0.0.1:1/announce");
    assert_eq!(stats[0]["host"], "127.0.0.1");
    assert!(
        [1, 3].contains(&stats[0]["announceState"].as_u64().unwrap()),
        "{t}"
    );
    call(&d, &sid, "queue-move-top", json!({"ids": [1]}));
    let free = call(&d, &sid, "free-space", json!({"path": s(fx.data_dir())}));
    assert!(free["size-bytes"].as_u64().unwrap() > 0, "{free}");
    assert!(free["total_size"].as_u64().unwrap() >= free["size-bytes"].as_u64().unwrap());
    let a = rpc(
        &d,
        &sid,
        &json!({"method": "free-space", "arguments": {"path": "relative"}}),
    );
    assert_ne!(a.json()["result"], "success");
    let stats = call(&d, &sid, "session-stats", json!({}));
    assert_eq!(stats["torrentCount"], 1);
    assert_eq!(stats["activeTorrentCount"], 1);
    assert_eq!(stats["current-stats"]["sessionCount"], 1);
    call(&d, &sid, "torrent-remove", json!({"ids": [fx.info_hash]}));
    assert!(
        fx.data_dir().join("album.bin").exists(),
        "kept without delete-local-data"
    );
    let recent = call(
        &d,
        &sid,
        "torrent-get",
        json!({"fields": ["id"], "ids": "recently-active"}),
    );
    assert_eq!(recent["removed"], json!([1]), "{recent}");
    // Added again, it gets a new id: ids are never reused in a run.
    let again = call(&d, &sid, "torrent-add", json!({"metainfo": b64}));
    assert_eq!(again["torrent-added"]["id"], 2, "{again}");
}

#[test]
fn libtorrent_downloads_a_torrent_added_through_the_rpc() {
    let (Some(tr), Some(py)) = (require_transmission_remote(), require_libtorrent()) else {
        return;
    };
    let deadline = Deadline::start();
    let fx = Fixture::single(
        "trpc-lt",
        "album.bin",
        300 * KIB + 7,
        9,
        16 * KIB,
        &[],
        deadline,
    );
    let state = fx.scratch.path().join("state");
    let d = Daemon::start(&state, fx.scratch.path(), &[], deadline);
    remote_ok(&tr, &d, &["-a", s(&fx.torrent), "-w", s(fx.data_dir())]);
    let sid = session_id(&d, &[]);
    wait_status(&d, &sid, 6, deadline);
    let out = fx.scratch.path().join("lt");
    let mut lt = clients::lt_download(&py, &fx.torrent, &out, Some(d.peer));
    lt.wait_ok(deadline);
    fx.check_copy("libtorrent", &out);
    let t = poll_until(
        "uploaded bytes counted",
        deadline,
        || d.proc.report(),
        || {
            let t = only_torrent(&d, &sid, &["uploadedEver", "uploadRatio"]);
            (t["uploadedEver"].as_u64() >= Some((300 * KIB) as u64)).then_some(t)
        },
    );
    assert!(t["uploadRatio"].as_f64().unwrap() > 0.9, "{t}");
}

/// Standard base64, for `metainfo`.
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
