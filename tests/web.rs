//! The daemon's web page: its files and headers over raw HTTP, and the page itself in
//! a real headless Chromium (Debian's `chromium`, driven by tests/py/web_page.py
//! through Playwright from the venv `tools/test` makes; Playwright never downloads a
//! browser here). Without the browser or the venv the browser test says SKIP, and
//! fails under `HIVEBT_REQUIRE_INTEROP=1`. Screenshots go to target/web-screenshots/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::daemon::Daemon;
use common::fixture::{Content, Fixture};
use common::proc::{Deadline, Proc, poll_until};
use common::{KIB, MIB, Scratch, clients, interop_required, require_libtorrent, s};

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The browser script.
const WEB_PAGE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/web_page.py");
/// Where the screenshots go, for a person to look at.
const SHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/web-screenshots");
/// The password of the daemon the login is tried on.
const PASSWORD: &str = "correct horse battery staple";

/// The venv's python with Playwright (`HIVEBT_WEB_PYTHON`, else the one `tools/test`
/// makes under target/), when it and Chromium are there: else SKIP, or a failure
/// under `HIVEBT_REQUIRE_INTEROP=1`.
fn require_browser() -> Option<PathBuf> {
    let python = std::env::var_os("HIVEBT_WEB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-venv/bin/python")
        });
    let playwright = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .output()
        .is_ok_and(|o| o.status.success());
    let chromium = Path::new(CHROMIUM).exists();
    if !(playwright && chromium) {
        let missing = if chromium {
            "Playwright (run tools/test to make target/web-venv)"
        } else {
            "chromium (apt-get install chromium)"
        };
        assert!(
            !interop_required(),
            "{missing} is required (HIVEBT_REQUIRE_INTEROP=1) but missing"
        );
        eprintln!("SKIP: {missing} missing");
        return None;
    }
    Some(python)
}

/// A daemon with a password, and the scratch directory it keeps its state in.
fn daemon_with_password(tag: &str, deadline: Deadline) -> (Scratch, Daemon) {
    let scratch = Scratch::new(tag);
    let state = scratch.path().join("state");
    Daemon::set_password(&state, scratch.path(), PASSWORD, deadline);
    let d = Daemon::start(&state, scratch.path(), &[], deadline);
    (scratch, d)
}

#[test]
fn the_page_is_served_to_anyone_with_a_strict_policy_but_only_under_its_own_name() {
    let deadline = Deadline::start();
    let (_scratch, d) = daemon_with_password("web-http", deadline);

    let root = d.get("/");
    assert_eq!(root.status, 200, "no credentials needed: {}", root.text());
    assert_eq!(
        root.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = root.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing in {csp}");
    }
    assert_eq!(root.header("x-frame-options"), Some("DENY"));
    assert_eq!(root.header("referrer-policy"), Some("same-origin"));
    assert_eq!(root.header("x-content-type-options"), Some("nosniff"));
    assert!(root.text().contains(r#"src="app.js""#), "relative URLs");
    assert_eq!(d.get("/index.html").body, root.body);

    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/icon.svg", "image/svg+xml"),
    ] {
        let a = d.get(path);
        assert_eq!(a.status, 200, "{path}");
        assert!(a.header("content-type").unwrap_or("").starts_with(kind));
        assert!(a.header("content-security-policy").is_some(), "{path}");
        assert!(!a.body.is_empty());
    }
    assert_eq!(d.get("/nope.js").status, 404);
    assert_eq!(d.request("POST", "/", &[], b"").status, 405);

    // The data still needs credentials; the page is only the code that asks for it.
    assert_eq!(d.get("/api/v1/torrents").status, 401);
    assert_eq!(d.get("/api/v1/events").status, 401);

    // DNS rebinding: a foreign name gets nothing, not even the page.
    for path in ["/", "/app.js"] {
        let rebound = d.request("GET", path, &[("Host", "evil.example")], b"");
        assert_eq!(rebound.status, 403, "{path}: {}", rebound.text());
    }
}

/// A torrent for the page to show: uploaded to the daemon with its data in place,
/// waited for until `state`.
fn add(d: &Daemon, fx: &Fixture, labels: &str, state: &str, deadline: Deadline) {
    let query = format!("save_path={}&labels={labels}", s(fx.data_dir()));
    d.upload(&fx.torrent, &query);
    poll_until(
        &format!("{} to be {state}", fx.content.name()),
        deadline,
        || d.proc.report(),
        || (d.torrent(&fx.info_hash)["state"] == state).then_some(()),
    );
}

#[test]
fn the_page_in_chromium_lists_adds_controls_and_details_torrents() {
    let Some(python) = require_browser() else {
        return;
    };
    let deadline = Deadline::start();
    let tracker = ["http://127.0.0.1:9/announce"];
    let piece = 64 * KIB;

    // The largest, seeded to a libtorrent leecher when there is one.
    let seed = {
        let tree = [
            ("Big Buck Bunny.mkv", 6 * MIB + 4321),
            ("poster.jpg", 90 * KIB),
            ("subs/en.srt", 21 * KIB),
        ];
        let scratch = Scratch::new("web-seed");
        let content = Content::tree(&scratch, "Big Buck Bunny (2008)", &tree);
        Fixture::new(scratch, content, piece, &tracker, deadline)
    };
    let single =
        |tag, name, len, seed| Fixture::single(tag, name, len, seed, piece, &tracker, deadline);
    let partial = single(
        "web-partial",
        "debian-12.5.0-amd64-netinst.iso",
        3 * MIB + 999,
        2,
    );
    let others = [
        single(
            "web-arch",
            "archlinux-2024.05.01-x86_64.iso",
            2 * MIB + 5,
            3,
        ),
        single(
            "web-lo",
            "LibreOffice_24.2.3_Linux_x86-64_deb.tar.gz",
            MIB + 77,
            4,
        ),
    ];
    let upload = single(
        "web-upload",
        "ubuntu-24.04-live-server-amd64.iso",
        MIB + 7,
        5,
    );

    // Half of the partial torrent's data is gone: its check finds the first half.
    let file = &partial.content.path;
    let mut data = std::fs::read(file).expect("partial data");
    let half = data.len() / 2;
    data[half..].fill(0);
    std::fs::write(file, &data).expect("write partial data");

    let scratch = Scratch::new("web-page");
    let notes = scratch.write("release-notes.txt", &common::content(100 * KIB + 3, 6));
    let d = Daemon::start(&scratch.path().join("state"), scratch.path(), &[], deadline);
    add(&d, &seed, "video", "seeding", deadline);
    add(&d, &partial, "linux", "downloading", deadline);
    for fx in &others {
        add(&d, fx, "linux", "seeding", deadline);
    }

    // A libtorrent leecher, slowed by the session's upload limit so the transfer
    // lasts through the page test.
    let leecher: Option<Proc> = require_libtorrent().map(|py| {
        let limit = serde_json::json!({"limits": {"max_upload_rate": 256 * KIB}});
        assert_eq!(d.send_json("PATCH", "/api/v1/session", &limit).status, 200);
        clients::lt_download(&py, &seed.torrent, &scratch.path().join("lt"), Some(d.peer))
    });

    let plan = serde_json::json!({
        "url": format!("http://{}/", d.api),
        "login_url": null,
        "password": PASSWORD,
        "seed": {"hash": seed.info_hash, "name": seed.content.name(), "size": seed.total_size()},
        "partial": {"hash": partial.info_hash},
        "upload": {
            "path": upload.torrent,
            "hash": upload.info_hash,
            "name": upload.content.name(),
            "save_path": upload.data_dir(),
        },
        "create": {"path": notes, "name": "release-notes.txt"},
        "peer": leecher.is_some(),
        "shots": SHOTS,
    });
    let (_login_scratch, locked) = daemon_with_password("web-login", deadline);
    let mut plan = plan;
    plan["login_url"] = format!("http://{}/", locked.api).into();
    let plan_file = scratch.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).expect("write the plan");

    let mut browser = Proc::spawn(
        "web_page.py",
        Command::new(&python).arg(WEB_PAGE_PY).arg(&plan_file),
    );
    let done = browser.wait(deadline);
    assert!(
        done.status.success(),
        "the page test failed\n{}\n{}",
        browser.report(),
        d.proc.report()
    );
    for line in &done.stdout {
        eprintln!("{line}");
    }
    drop(leecher);
}
