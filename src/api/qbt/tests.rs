//! Unit tests of the qBittorrent front's pure parts: parameters, names, states and
//! filters.

use super::torrents::{passes, split_tags, state_name};
use super::*;
use crate::api::service::Entry;
use crate::engine::TorrentView;
use crate::engine::store::TorrentRecord;
use crate::torrent::state::TorrentState;
use crate::wire::http::RequestHead;

fn request(method: &str, query: &str, ctype: Option<&str>, body: &[u8]) -> Request {
    let mut headers = vec![("host".to_string(), "127.0.0.1".to_string())];
    if let Some(c) = ctype {
        headers.push(("content-type".into(), c.into()));
    }
    Request {
        head: RequestHead {
            method: method.into(),
            path: "/api/v2/torrents/info".into(),
            query: query.into(),
            keep_alive: true,
            content_length: body.len(),
            len: 0,
            headers,
        },
        body: body.to_vec(),
    }
}

#[test]
fn parameters_come_from_the_query_and_either_kind_of_form_body() {
    let r = request("GET", "filter=seeding&limit=5", None, b"");
    let p = Params::of(&r).unwrap();
    assert_eq!(p.get("filter"), Some("seeding"));
    assert_eq!(p.number::<i64>("limit").unwrap(), Some(5));
    assert_eq!(p.get("nothing"), None);

    let r = request(
        "POST",
        "",
        Some("application/x-www-form-urlencoded"),
        b"hashes=a%7Cb&deleteFiles=TRUE\r\n",
    );
    let p = Params::of(&r).unwrap();
    assert_eq!(p.get("hashes"), Some("a|b"));
    assert_eq!(p.flag("deleteFiles"), Some(true));
    assert!(p.require("category").is_err());

    let body = b"--b1\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\ntv\r\n--b1\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"x.torrent\"\r\n\r\nd1:ae\r\n--b1--\r\n";
    let r = request("POST", "", Some("multipart/form-data; boundary=b1"), body);
    let p = Params::of(&r).unwrap();
    assert_eq!(p.get("category"), Some("tv"));
    assert_eq!(p.files, [("x.torrent".to_string(), &b"d1:ae"[..])]);
}

#[test]
fn malformed_parameters_are_400_never_a_panic() {
    for (ctype, body) in [
        (Some("application/x-www-form-urlencoded"), &b"a=%zz"[..]),
        (None, b"a=\xff\xfe"),
        (Some("multipart/form-data; boundary=b1"), b"--b1\r\nno end"),
        (Some("multipart/form-data; boundary=b1"), b""),
    ] {
        let r = request("POST", "", ctype, body);
        let e = Params::of(&r).err().expect("refused");
        assert_eq!(e.status, 400, "{ctype:?} {body:?}");
    }
    let r = request("GET", "limit=many", None, b"");
    assert_eq!(
        Params::of(&r)
            .unwrap()
            .number::<i64>("limit")
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn names_are_checked_as_qbittorrent_does() {
    assert!(valid_name("tv", false) && valid_name("tv/hd", false));
    for bad in ["", " ", "/tv", "tv/", "a//b", "a\\b", "a\nb"] {
        assert!(!valid_name(bad, false), "{bad:?}");
    }
    assert!(valid_name("a b", true));
    assert!(!valid_name("a,b", true));
    assert!(!valid_name(&"x".repeat(MAX_NAME + 1), true));
    assert_eq!(split_tags(" a, b ,,a,c "), ["a", "b", "c"]);
}

fn view(state: TorrentState, done: u64, down: u64, up: u64) -> TorrentView {
    TorrentView {
        id: TorrentId {
            slot: 0,
            generation: 0,
        },
        info_hash: InfoHash([1; 20]),
        name: "x".into(),
        state,
        bytes_done: done,
        total_bytes: 100,
        down_rate: down,
        up_rate: up,
        downloaded: 0,
        uploaded: 0,
        peers: 0,
        seeds: 0,
        hash_failures: 0,
        pieces: 1,
        completed_in_run: false,
        stalled: None,
    }
}

fn entry(queued: bool) -> Entry {
    let mut e = Entry::new(TorrentRecord {
        save_path: "/srv".into(),
        paused: false,
        labels: Vec::new(),
        category: None,
        limits: Default::default(),
        uploaded: 0,
        downloaded: 0,
        seeding_secs: 0,
        added_at: 0,
        completed_at: None,
        error: None,
        magnet: None,
    });
    e.queued = queued;
    e
}

#[test]
fn states_take_qbittorrent_5_names() {
    let e = entry(false);
    let cases = [
        (view(TorrentState::Active, 100, 0, 5), "uploading"),
        (view(TorrentState::Active, 100, 0, 0), "stalledUP"),
        (view(TorrentState::Active, 10, 7, 0), "downloading"),
        (view(TorrentState::Active, 10, 0, 0), "stalledDL"),
        (view(TorrentState::Paused, 100, 0, 0), "stoppedUP"),
        (view(TorrentState::Paused, 10, 0, 0), "stoppedDL"),
        (
            view(TorrentState::Checking { next: 1, done: 0 }, 0, 0, 0),
            "checkingDL",
        ),
        (view(TorrentState::Failed("gone".into()), 0, 0, 0), "error"),
        (view(TorrentState::FetchingMetadata, 0, 0, 0), "metaDL"),
    ];
    for (v, want) in &cases {
        assert_eq!(state_name(v, &e), *want, "{:?}", v.state);
    }
    let q = entry(true);
    assert_eq!(
        state_name(&view(TorrentState::Paused, 100, 0, 0), &q),
        "queuedUP"
    );
    assert_eq!(
        state_name(&view(TorrentState::Paused, 1, 0, 0), &q),
        "queuedDL"
    );
    let mut seeded = entry(false);
    seeded.record.completed_at = Some(5);
    let checking = view(TorrentState::Checking { next: 1, done: 0 }, 0, 0, 0);
    assert_eq!(state_name(&checking, &seeded), "checkingUP");
}

#[test]
fn filters_pick_states_as_qbittorrent_does() {
    let table = [
        // (state, down, up, filters it passes)
        (
            "uploading",
            0,
            5,
            &["seeding", "completed", "running", "active"][..],
        ),
        (
            "stalledUP",
            0,
            0,
            &[
                "seeding",
                "completed",
                "running",
                "inactive",
                "stalled",
                "stalled_uploading",
            ],
        ),
        ("downloading", 3, 0, &["downloading", "running", "active"]),
        (
            "stalledDL",
            0,
            0,
            &[
                "downloading",
                "running",
                "inactive",
                "stalled",
                "stalled_downloading",
            ],
        ),
        (
            "stoppedUP",
            0,
            0,
            &["completed", "paused", "stopped", "inactive"],
        ),
        (
            "stoppedDL",
            0,
            0,
            &["downloading", "paused", "stopped", "inactive"],
        ),
        (
            "checkingUP",
            0,
            0,
            &["seeding", "completed", "running", "active", "checking"],
        ),
        ("error", 0, 0, &["running", "inactive", "errored"]),
    ];
    let all = [
        "downloading",
        "seeding",
        "completed",
        "paused",
        "stopped",
        "resumed",
        "running",
        "active",
        "inactive",
        "stalled",
        "stalled_uploading",
        "stalled_downloading",
        "checking",
        "moving",
        "errored",
    ];
    for (state, down, up, passing) in table {
        for f in all {
            let want = passing.contains(&f) || (f == "resumed" && passing.contains(&"running"));
            assert_eq!(passes(f, state, down, up), want, "{state} through {f}");
        }
        assert!(passes("all", state, down, up) && passes("no-such-filter", state, down, up));
    }
}
