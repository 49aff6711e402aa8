//! `ctl` end to end against a fake daemon: a `TcpListener` on loopback in a thread
//! answers each connection with the next canned answer and reports the request it read,
//! so each test checks both what the client sent and what it printed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::wire::http::{RequestHead, parse_request, response};

/// A request as the fake daemon read it.
struct Seen {
    head: RequestHead,
    /// The head's text, for header checks.
    text: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.text.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one request: the head, then `Content-Length` bytes of body.
fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head) = parse_request(&buf, 1 << 20).ok()? {
            if buf.len() >= head.len + head.content_length {
                let text = String::from_utf8_lossy(&buf[..head.len]).into_owned();
                let body = buf[head.len..head.len + head.content_length].to_vec();
                return Some(Seen { head, text, body });
            }
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A fake daemon giving `answers` in order, one per connection; returns its URL and
/// where the requests it read arrive. Each request is reported before its answer is
/// written, so once the client has its last answer every request is in the channel.
fn fake_daemon(answers: Vec<Vec<u8>>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for answer in answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let Some(seen) = read_request(&mut stream) else {
                return;
            };
            if tx.send(seen).is_err() {
                return;
            }
            let _ = stream.write_all(&answer);
        }
    });
    (url, rx)
}

fn ok(body: &Value) -> Vec<u8> {
    response(
        "200 OK",
        "application/json",
        body.to_string().as_bytes(),
        false,
    )
}

fn refused(status: &str, error: &str, code: &str) -> Vec<u8> {
    let body = json!({"error": error, "code": code}).to_string();
    response(status, "application/json", body.as_bytes(), false)
}

const DEBIAN: &str = "0123456789abcdef0123456789abcdef01234567";
const ARCH: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn torrent(hash: &str, name: &str) -> Value {
    json!({
        "info_hash": hash, "name": name, "state": "seeding", "progress": 1.0,
        "size": 1000, "downloaded": 0, "uploaded": 2500, "download_rate": 0,
        "upload_rate": 2048, "peers": 4, "seeds": 1, "ratio": 2.5, "eta": null,
        "save_path": "/srv", "added_at": 1, "completed_at": 2, "labels": [],
        "limits": {"max_upload_rate": null, "max_download_rate": null,
                   "max_connections": null, "ratio_limit": null, "seed_time_limit": null},
        "error": null
    })
}

fn two_torrents() -> Value {
    json!([torrent(DEBIAN, "debian.iso"), torrent(ARCH, "arch.iso")])
}

/// What one run did: its result, its output and the requests the daemon saw.
struct Outcome {
    result: Result<()>,
    out: String,
    seen: Vec<Seen>,
    url: String,
}

fn run_against(
    answers: Vec<Vec<u8>>,
    token: Option<&str>,
    json: bool,
    command: CtlCommand,
) -> Outcome {
    let (url, rx) = fake_daemon(answers);
    let client = client(Some(url.clone()), None, token.map(String::from), None, None).unwrap();
    let mut out = Vec::new();
    let result = Ctl::new(client, json, Some(5), None, &mut out).run(command);
    Outcome {
        result,
        out: String::from_utf8(out).unwrap(),
        seen: rx.try_iter().collect(),
        url,
    }
}

#[test]
fn pause_by_name_resolves_then_posts() {
    let o = run_against(
        vec![ok(&two_torrents()), ok(&torrent(ARCH, "arch.iso"))],
        Some("sekrit"),
        false,
        CtlCommand::Act {
            action: Action::Pause,
            targets: vec!["arch.iso".into()],
        },
    );
    o.result.unwrap();
    assert_eq!(o.out, format!("paused arch.iso {ARCH}\n"));
    assert_eq!(o.seen.len(), 2);
    let (list, pause) = (&o.seen[0], &o.seen[1]);
    assert_eq!(
        (list.head.method.as_str(), list.head.path.as_str()),
        ("GET", "/api/v1/torrents")
    );
    let authority = o.url.trim_start_matches("http://");
    for seen in &o.seen {
        assert_eq!(seen.header("host"), Some(authority));
        assert_eq!(seen.header("authorization"), Some("Bearer sekrit"));
        assert_eq!(seen.header("connection"), Some("close"));
    }
    assert_eq!(pause.head.method, "POST");
    assert_eq!(pause.head.path, format!("/api/v1/torrents/{ARCH}/pause"));
    assert_eq!(pause.header("content-length"), Some("0"));
}

#[test]
fn list_sends_filters_and_prints_the_table() {
    let o = run_against(
        vec![ok(&json!([torrent(DEBIAN, "debian.iso")]))],
        None,
        false,
        CtlCommand::List {
            state: Some("seeding".into()),
            label: Some("linux isos".into()),
        },
    );
    o.result.unwrap();
    assert_eq!(o.seen[0].head.query, "state=seeding&label=linux%20isos");
    assert_eq!(o.seen[0].header("authorization"), None);
    assert_eq!(
        o.out,
        "\
NAME        STATE    PROGRESS   DOWN         UP  PEERS  RATIO  ETA
debian.iso  seeding    100.0%  0 B/s  2.0 KiB/s    4/1   2.50    -
"
    );
    let o = run_against(
        vec![ok(&json!([]))],
        None,
        true,
        CtlCommand::List {
            state: None,
            label: None,
        },
    );
    o.result.unwrap();
    assert_eq!(o.out, "[]\n");
    assert_eq!(o.seen[0].head.query, "");
}

/// A scratch directory of this test process.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hivebt-ctl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn add_uploads_torrent_bytes_with_options_in_the_query() {
    let dir = scratch("upload");
    let file = dir.join("debian.torrent");
    std::fs::write(&file, b"d4:infod4:name6:debianee").unwrap();
    let o = run_against(
        vec![response(
            "201 Created",
            "application/json",
            torrent(DEBIAN, "debian.iso").to_string().as_bytes(),
            false,
        )],
        None,
        false,
        CtlCommand::Add(AddOptions {
            targets: vec![file.to_string_lossy().into_owned()],
            save_path: Some("/srv/my data".into()),
            paused: true,
            labels: vec!["linux".into(), "a&b".into()],
            create: None,
        }),
    );
    o.result.unwrap();
    assert_eq!(o.out, format!("added debian.iso {DEBIAN}\n"));
    let seen = &o.seen[0];
    assert_eq!(
        (seen.head.method.as_str(), seen.head.path.as_str()),
        ("POST", "/api/v1/torrents")
    );
    assert_eq!(
        seen.head.query,
        "save_path=%2Fsrv%2Fmy%20data&paused=true&labels=linux,a%26b"
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-bittorrent")
    );
    assert_eq!(seen.header("content-length"), Some("24"));
    assert_eq!(seen.body, b"d4:infod4:name6:debianee");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn add_magnet_and_create_post_json() {
    let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    let answer = json!({"info_hash": DEBIAN, "name": "debian.iso", "state": "queued"});
    let o = run_against(
        vec![ok(&answer)],
        None,
        true,
        CtlCommand::Add(AddOptions {
            targets: vec![magnet.into()],
            labels: vec!["x".into()],
            ..Default::default()
        }),
    );
    o.result.unwrap();
    assert_eq!(o.out, format!("{answer}\n"));
    assert_eq!(o.seen[0].header("content-type"), Some("application/json"));
    assert_eq!(o.seen[0].json(), json!({"magnet": magnet, "labels": ["x"]}));

    let dir = scratch("create");
    std::fs::create_dir_all(dir.join("content")).unwrap();
    let canonical = std::fs::canonicalize(dir.join("content")).unwrap();
    let o = run_against(
        vec![ok(
            &json!({"info_hash": ARCH, "name": "content", "torrent": "ZGU="}),
        )],
        None,
        false,
        CtlCommand::Add(AddOptions {
            // Not canonical: the daemon gets the canonical path.
            targets: vec![format!("{}/content/../content", dir.display())],
            save_path: Some("/srv".into()),
            paused: false,
            labels: vec![],
            create: Some(CreateOptions {
                piece_length: Some(1 << 18),
                private: true,
                trackers: vec!["http://t.example/announce".into()],
                comment: None,
            }),
        }),
    );
    o.result.unwrap();
    assert_eq!(o.out, format!("added content {ARCH}\n"));
    assert_eq!(
        o.seen[0].json(),
        json!({
            "create_from": canonical.to_str().unwrap(), "save_path": "/srv",
            "piece_length": 262144, "private": true,
            "trackers": ["http://t.example/announce"]
        })
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn add_refuses_bad_local_input_before_any_request() {
    let dir = scratch("badadd");
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    let cases = [
        (
            format!("{}/missing.torrent", dir.display()),
            None,
            "no such file",
        ),
        (
            format!("{}/missing", dir.display()),
            None,
            "not a magnet link",
        ),
        (
            dir.display().to_string(),
            None,
            "is a directory; add --create",
        ),
        (
            format!("{}/notes.txt", dir.display()),
            None,
            "not a .torrent file",
        ),
        (
            format!("{}/gone", dir.display()),
            Some(CreateOptions::default()),
            "no such file or directory",
        ),
        (
            "magnet:?xt=x".to_string(),
            Some(CreateOptions::default()),
            "not of a magnet link",
        ),
    ];
    for (target, create, want) in cases {
        // No answers: any request would fail with "cannot reach", not bad input.
        let o = run_against(
            vec![],
            None,
            false,
            CtlCommand::Add(AddOptions {
                targets: vec![target.clone()],
                create,
                ..Default::default()
            }),
        );
        let e = o.result.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{target}: {e}");
        assert!(e.to_string().contains(want), "{target}: {e}");
        assert!(o.seen.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn remove_and_set() {
    let o = run_against(
        vec![ok(&two_torrents()), ok(&json!({"removed": DEBIAN}))],
        None,
        false,
        CtlCommand::Remove {
            targets: vec!["012345".into()],
            delete_data: true,
        },
    );
    o.result.unwrap();
    assert_eq!(o.out, format!("removed debian.iso {DEBIAN}\n"));
    assert_eq!(o.seen[1].head.method, "DELETE");
    assert_eq!(o.seen[1].head.path, format!("/api/v1/torrents/{DEBIAN}"));
    assert_eq!(o.seen[1].head.query, "delete_data=true");

    let change = Change {
        max_upload_rate: Some(Limit(None)),
        max_download_rate: Some(Limit(Some(10 << 20))),
        ratio_limit: Some(Limit(Some(2.0))),
        labels: Some(vec!["a".into()]),
        ..Default::default()
    };
    let o = run_against(
        vec![ok(&two_torrents()), ok(&torrent(ARCH, "arch.iso"))],
        None,
        false,
        CtlCommand::Set {
            target: ARCH.to_uppercase(),
            change,
        },
    );
    o.result.unwrap();
    assert_eq!(o.out, format!("updated arch.iso {ARCH}\n"));
    assert_eq!(o.seen[1].head.method, "PATCH");
    assert_eq!(o.seen[1].head.path, format!("/api/v1/torrents/{ARCH}"));
    assert_eq!(
        o.seen[1].json(),
        json!({"limits": {"max_upload_rate": null, "max_download_rate": 10485760,
                          "ratio_limit": 2.0}, "labels": ["a"]})
    );
    let nothing = Change::default().body().unwrap_err();
    assert_eq!(nothing.exit_code(), 2);
    let clear = Change {
        labels: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(clear.body().unwrap(), json!({"labels": []}));
}

#[test]
fn stats_prints_key_value_lines() {
    let session = json!({
        "version": "0.1.0", "download_rate": 0, "upload_rate": 1024, "downloaded": 0,
        "uploaded": 1024, "torrents": 0,
        "by_state": {"checking": 0, "queued": 0, "downloading": 0, "seeding": 0,
                     "paused": 0, "error": 0},
        "peers": 0, "disk_queue": 0,
        "limits": {"max_upload_rate": null, "max_download_rate": null, "max_connections": null}
    });
    let o = run_against(vec![ok(&session)], None, false, CtlCommand::Stats);
    o.result.unwrap();
    assert_eq!(o.seen[0].head.path, "/api/v1/session");
    assert!(o.out.starts_with("version:         0.1.0\n"), "{}", o.out);
    assert!(
        o.out.contains("\nupload rate:     1.0 KiB/s\n"),
        "{}",
        o.out
    );
    assert!(o.out.contains("\ntorrents:        0\n"), "{}", o.out);
}

#[test]
fn daemon_refusals_and_failures() {
    let pause = |targets: &[&str]| CtlCommand::Act {
        action: Action::Resume,
        targets: targets.iter().map(|t| t.to_string()).collect(),
    };
    let o = run_against(
        vec![
            ok(&two_torrents()),
            refused("404 Not Found", "no such torrent", "not_found"),
        ],
        Some("t"),
        false,
        pause(&["debian.iso"]),
    );
    let e = o.result.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the daemon says: no such torrent (not_found)"
    );
    assert_eq!(e.exit_code(), 2);

    let o = run_against(
        vec![refused(
            "503 Service Unavailable",
            "shutting down",
            "shutting_down",
        )],
        None,
        false,
        pause(&["debian.iso"]),
    );
    let e = o.result.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the daemon says: shutting down (shutting_down)"
    );
    assert_eq!(e.exit_code(), 1);

    let o = run_against(
        vec![refused("401 Unauthorized", "log in first", "unauthorized")],
        None,
        false,
        CtlCommand::Stats,
    );
    let e = o.result.unwrap_err().to_string();
    assert!(
        e.starts_with("the daemon says: log in first (unauthorized); give --token"),
        "{e}"
    );

    // Unknown and ambiguous names: the list is read, nothing is acted on.
    let o = run_against(
        vec![ok(&two_torrents())],
        None,
        false,
        pause(&["arch.iso", "ubuntu"]),
    );
    let e = o.result.unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string()),
        (2, "no torrent matches 'ubuntu'".into())
    );
    assert_eq!(o.seen.len(), 1);
    assert_eq!(o.out, "");

    // An answer that is not the contract's is the daemon's failure.
    let o = run_against(vec![ok(&json!({"oops": 1}))], None, false, pause(&["x"]));
    let e = o.result.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("not what hivebt expects"), "{e}");
    let bad_hash = json!([torrent("../../etc", "evil")]);
    let e = run_against(vec![ok(&bad_hash)], None, false, pause(&["evil"]))
        .result
        .unwrap_err();
    assert!(e.to_string().contains("malformed info-hash"), "{e}");
}

#[test]
fn unreachable_daemon_is_exit_1() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = client(Some(url.clone()), None, None, None, None).unwrap();
    let mut out = Vec::new();
    let e = Ctl::new(client, false, Some(5), None, &mut out)
        .run(CtlCommand::Stats)
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .starts_with(&format!("cannot reach the daemon at {url}: ")),
        "{e}"
    );
}

#[test]
fn silent_daemon_times_out() {
    // Accepts, reads, never answers: the deadline ends the wait.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = read_request(&mut stream);
            // Hold the connection open until the test is done with it.
            let _ = rx.recv();
        }
    });
    let client = client(Some(url), None, None, None, None).unwrap();
    let e = client
        .exchange(
            &ApiRequest::get("/api/v1/health"),
            Duration::from_millis(200),
        )
        .unwrap_err();
    drop(tx);
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().ends_with("no answer within 200ms"), "{e}");
}

#[test]
fn url_and_token_sources() {
    let c = client(None, None, None, None, None).unwrap();
    assert_eq!(
        (c.url.to_string(), c.token),
        (DEFAULT_URL.to_string(), None)
    );
    let c = client(
        Some("http://10.0.0.2:9000".into()),
        Some("http://10.0.0.1:1".into()),
        Some("flag".into()),
        Some("env".into()),
        None,
    )
    .unwrap();
    assert_eq!((c.url.port, c.token.as_deref()), (9000, Some("flag")));
    let c = client(
        None,
        Some("http://10.0.0.1:1".into()),
        None,
        Some("env".into()),
        None,
    )
    .unwrap();
    assert_eq!((c.url.port, c.token.as_deref()), (1, Some("env")));

    let dir = scratch("token");
    std::fs::write(dir.join("api_token"), "from-file\n").unwrap();
    let c = client(None, None, None, None, Some(&dir)).unwrap();
    assert_eq!(c.token.as_deref(), Some("from-file"));
    let c = client(None, None, None, Some("env".into()), Some(&dir)).unwrap();
    assert_eq!(c.token.as_deref(), Some("env"));
    let e = client(None, None, None, None, Some(&dir.join("nope"))).unwrap_err();
    assert!(e.to_string().contains("api_token"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    let e = client(Some("https://x:1".into()), None, None, None, None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("https is not supported"), "{e}");
    let e = client(None, None, Some("a\r\nX-Evil: 1".into()), None, None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
}
