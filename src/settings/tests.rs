use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::keys::{Apply, KEYS, TABLES};
use super::*;

const ORIGIN: &str = "hivebt.toml";

fn parse(text: &str) -> Result<Settings, SettingsError> {
    Settings::from_toml(text, Path::new(ORIGIN))
}

fn parse_err(text: &str) -> SettingsError {
    match parse(text) {
        Ok(s) => panic!("expected an error for {text:?}, got {s:?}"),
        Err(e) => e,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Every dotted leaf key of the settings, `None` values included (JSON keeps nulls).
fn field_names() -> BTreeSet<String> {
    let value = serde_json::to_value(Settings::default()).unwrap();
    let mut names = BTreeSet::new();
    for (table, fields) in value.as_object().unwrap() {
        for field in fields.as_object().unwrap().keys() {
            names.insert(format!("{table}.{field}"));
        }
    }
    names
}

fn short(name: &str) -> &str {
    name.split_once('.').unwrap().1
}

fn table_of(name: &str) -> &str {
    name.split_once('.').unwrap().0
}

#[test]
fn defaults() {
    let s = Settings::default();
    assert_eq!(s.paths.state_dir, None);
    assert_eq!(s.paths.data_dir, None);
    assert_eq!(s.paths.watch_dir, None);
    assert!(s.paths.allowed_paths.is_empty());
    assert_eq!(s.peers.listen, [addr("0.0.0.0:6881"), addr("[::]:6881")]);
    assert!(s.peers.trackers.is_empty());
    assert_eq!(s.limits.max_upload_rate.get(), None);
    assert_eq!(s.limits.max_download_rate.get(), None);
    assert_eq!(s.limits.max_connections, 500);
    assert_eq!(s.limits.max_connections_per_torrent, 50);
    assert_eq!(s.limits.upload_slots, 4);
    assert_eq!(s.queue.max_active_downloads, ActiveLimit(Some(5)));
    assert_eq!(s.queue.max_active_seeds, ActiveLimit(None));
    assert_eq!(s.queue.ratio_limit, None);
    assert_eq!(s.queue.seed_time_limit, None);
    assert_eq!(s.queue.share_limit_action, ShareLimitAction::Pause);
    assert_eq!(s.api.listen, [addr("127.0.0.1:8080")]);
    assert!(s.api.allowed_hosts.is_empty());
    assert!(s.api.cors_origins.is_empty());
    assert_eq!(s.api.max_connections, 64);
    assert_eq!(s.api.login_max_failures, 5);
    assert_eq!(s.api.login_block.as_secs(), 3600);
    assert_eq!(s.api.session_ttl.as_secs(), 7 * 86_400);
    assert!(!s.api.metrics_per_torrent);
    assert_eq!(s.engine.workers, None);
    assert_eq!(s.engine.resume_interval.as_secs(), 60);
    assert!(s.validate().is_ok());
    assert!(s.workers() >= 1);
    assert_eq!(s.engine_limits().resume_interval.as_secs(), 60);
}

#[test]
fn empty_file_is_defaults() {
    assert_eq!(parse("").unwrap(), Settings::default());
    assert_eq!(parse("\n# nothing\n\n").unwrap(), Settings::default());
    assert_eq!(parse("[paths]\n[limits]\n").unwrap(), Settings::default());
}

#[test]
fn print_default_reads_back_as_default() {
    let text = Settings::print_default();
    assert_eq!(parse(&text).unwrap(), Settings::default(), "{text}");
}

#[test]
fn print_default_shows_every_field_with_a_doc_line() {
    let names: BTreeSet<String> = KEYS.iter().map(|k| k.name.to_owned()).collect();
    assert_eq!(names.len(), KEYS.len(), "a key is listed twice");
    assert_eq!(names, field_names(), "KEYS and the Settings fields differ");
    let tables: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
    let mut key_tables: Vec<&str> = KEYS.iter().map(|k| table_of(k.name)).collect();
    key_tables.dedup();
    assert_eq!(key_tables, tables, "KEYS must be grouped in TABLES order");

    let text = Settings::print_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut table = "";
    let mut seen = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_end_matches(']');
            continue;
        }
        let setting = line.strip_prefix("# ").unwrap_or(line);
        let Some((name, _)) = setting.split_once(" = ") else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let dotted = format!("{table}.{name}");
        let key = KEYS.iter().find(|k| k.name == dotted).unwrap();
        assert_eq!(
            lines[i - 1],
            format!("# {}", key.doc),
            "doc line above {dotted}"
        );
        seen.insert(dotted);
    }
    assert_eq!(seen, field_names());
}

#[test]
fn print_default_uncommented_sets_every_unset_key() {
    // Uncommenting the commented-out keys must give valid settings: their examples
    // are real values.
    let text: String = Settings::print_default()
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| !k.contains(' ')) =>
            {
                rest
            }
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let s = parse(&text).unwrap();
    assert_eq!(s.paths.state_dir, Some(PathBuf::from("/var/lib/hivebt")));
    assert_eq!(s.queue.ratio_limit, Some(2.0));
    assert_eq!(s.queue.seed_time_limit, Some(Secs::from_secs(7 * 86_400)));
    assert_eq!(s.engine.workers, Some(4));
}

#[test]
fn every_key_can_be_set_and_is_reported_by_reload_diff() {
    let default = Settings::default();
    for key in KEYS {
        let text = format!(
            "[{}]\n{} = {}\n",
            table_of(key.name),
            short(key.name),
            key.example
        );
        let s = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", key.name));
        assert_ne!(s, default, "{} example is the default", key.name);
        let diff = default.reload_diff(&s);
        let (same, other) = match key.apply {
            Apply::Runtime => (&diff.runtime, &diff.restart),
            Apply::Restart => (&diff.restart, &diff.runtime),
        };
        assert_eq!(same, &[key.name], "{}", key.name);
        assert!(other.is_empty(), "{}", key.name);
    }
}

#[test]
fn a_file_setting_every_key() {
    let text = r#"
[paths]
state_dir = "/var/lib/hivebt"
data_dir = "/srv/t/data"
watch_dir = "/srv/t/watch"
allowed_paths = ["/srv/t", "/mnt/media"]

[peers]
listen = ["0.0.0.0:51413"]
trackers = ["udp://tracker.example.org:6969/announce", "https://t.example.org/announce"]
dht = false
dht_bootstrap = ["127.0.0.1:6881", "[::1]:6881", "dht.example.org:25401"]
dht_listen = ["0.0.0.0:6882"]
lsd = false
pex = false

[limits]
max_upload_rate = "1.5G"
max_download_rate = 1048576
max_connections = 2000
max_connections_per_torrent = 100
upload_slots = 10

[queue]
max_active_downloads = -1
max_active_seeds = 0
ratio_limit = 2
seed_time_limit = "12h"
share_limit_action = "remove"

[api]
listen = ["[::1]:9091", "127.0.0.1:9091"]
allowed_hosts = ["seedbox.example.org"]
cors_origins = ["https://ui.example.org:8443"]
max_connections = 8
login_max_failures = 10
login_block = 900
session_ttl = "1w"
metrics_per_torrent = true

[engine]
workers = 3
resume_interval = "90s"
"#;
    let expected = Settings {
        paths: PathSettings {
            state_dir: Some("/var/lib/hivebt".into()),
            data_dir: Some("/srv/t/data".into()),
            watch_dir: Some("/srv/t/watch".into()),
            allowed_paths: vec!["/srv/t".into(), "/mnt/media".into()],
        },
        peers: PeerSettings {
            listen: vec![addr("0.0.0.0:51413")],
            trackers: vec![
                "udp://tracker.example.org:6969/announce".into(),
                "https://t.example.org/announce".into(),
            ],
            dht: false,
            dht_bootstrap: vec![
                "127.0.0.1:6881".into(),
                "[::1]:6881".into(),
                "dht.example.org:25401".into(),
            ],
            dht_listen: vec![addr("0.0.0.0:6882")],
            lsd: false,
            pex: false,
        },
        limits: LimitSettings {
            max_upload_rate: ByteRate::new(Some(3 << 29)),
            max_download_rate: ByteRate::new(Some(1 << 20)),
            max_connections: 2000,
            max_connections_per_torrent: 100,
            upload_slots: 10,
        },
        queue: QueueSettings {
            max_active_downloads: ActiveLimit(None),
            max_active_seeds: ActiveLimit(Some(0)),
            ratio_limit: Some(2.0),
            seed_time_limit: Some(Secs::from_secs(43_200)),
            share_limit_action: ShareLimitAction::Remove,
        },
        api: ApiSettings {
            listen: vec![addr("[::1]:9091"), addr("127.0.0.1:9091")],
            allowed_hosts: vec!["seedbox.example.org".into()],
            cors_origins: vec!["https://ui.example.org:8443".into()],
            max_connections: 8,
            login_max_failures: 10,
            login_block: Secs::from_secs(900),
            session_ttl: Secs::from_secs(7 * 86_400),
            metrics_per_torrent: true,
        },
        engine: EngineSettings {
            workers: Some(3),
            resume_interval: Secs::from_secs(90),
        },
    };
    assert_eq!(parse(text).unwrap(), expected);
    // Dotted keys and inline tables are the same TOML.
    let dotted = "limits.upload_slots = 10\nqueue = { ratio_limit = 2.0 }\n";
    let s = parse(dotted).unwrap();
    assert_eq!(
        (s.limits.upload_slots, s.queue.ratio_limit),
        (10, Some(2.0))
    );
}

#[test]
fn unknown_key_names_the_key_and_its_line() {
    let text = "# hivebt\n\n[paths]\ndata_dir = \"/srv\"\n\n[limits]\nmax_uplod_rate = \"10M\"\n";
    let err = parse_err(text);
    assert!(matches!(err, SettingsError::UnknownKey { .. }), "{err:?}");
    assert_eq!(err.key(), Some("limits.max_uplod_rate"));
    assert_eq!(err.line(), Some(7));
    let shown = err.to_string();
    assert!(
        shown.starts_with("hivebt.toml:7: unknown key \"limits.max_uplod_rate\"; expected one of `max_upload_rate`"),
        "{shown}"
    );
}

#[test]
fn unknown_keys_in_every_shape() {
    // A key of one table written at the top level says where it belongs.
    let err = parse_err("\nmax_upload_rate = \"10M\"\n");
    assert_eq!((err.key(), err.line()), (Some("max_upload_rate"), Some(2)));
    assert!(
        err.to_string()
            .contains("\"max_upload_rate\" belongs in the [limits] table"),
        "{err}"
    );
    // An unknown table.
    let err = parse_err("[paths]\n\n[limitz]\nupload_slots = 3\n");
    assert_eq!((err.key(), err.line()), (Some("limitz"), Some(3)));
    assert!(err.to_string().contains("expected one of `paths`"), "{err}");
    // Dotted and inline forms.
    let err = parse_err("[api]\nlisten = [\"127.0.0.1:1\"]\n\nlimits.foo = 1\n");
    assert_eq!((err.key(), err.line()), (Some("api.limits"), Some(4)));
    let err = parse_err("queue = { ratio_limit = 1.0, ratio = 2 }\n");
    assert_eq!((err.key(), err.line()), (Some("queue.ratio"), Some(1)));
    // A table where a value belongs.
    let err = parse_err("[limits.upload_slots]\nn = 1\n");
    assert_eq!(
        (err.key(), err.line()),
        (Some("limits.upload_slots"), Some(1))
    );
}

#[test]
fn bad_values_name_the_key_and_its_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "[limits]\n\nmax_upload_rate = \"10Q\"\n",
            "limits.max_upload_rate",
            3,
            "bad rate \"10Q\": expected bytes per second like 10M, 512K or 1.5G",
        ),
        (
            "[limits]\nmax_download_rate = -5\n",
            "limits.max_download_rate",
            2,
            "bad rate \"-5\"",
        ),
        (
            "[limits]\nmax_download_rate = 1.5\n",
            "limits.max_download_rate",
            2,
            "bytes per second",
        ),
        (
            "[peers]\ndht_bootstrap = [\"router.example.org\"]\n",
            "peers.dht_bootstrap",
            2,
            "\"router.example.org\" is not HOST:PORT (no port)",
        ),
        (
            "[peers]\n\ndht_listen = [\"0.0.0.0\"]\n",
            "peers.dht_listen",
            3,
            "0.0.0.0",
        ),
        (
            "[limits]\nupload_slots = \"4\"\n",
            "limits.upload_slots",
            2,
            "invalid type: string",
        ),
        (
            "[queue]\nseed_time_limit = \"7 days\"\n",
            "queue.seed_time_limit",
            2,
            "bad duration \"7 days\"",
        ),
        (
            "[queue]\nmax_active_seeds = -2\n",
            "queue.max_active_seeds",
            2,
            "or -1 for no limit",
        ),
        (
            "[queue]\nshare_limit_action = \"stop\"\n",
            "queue.share_limit_action",
            2,
            "expected `pause` or `remove`",
        ),
        (
            "[api]\nmetrics_per_torrent = \"yes\"\n",
            "api.metrics_per_torrent",
            2,
            "expected a boolean",
        ),
        (
            "[peers]\nlisten = [\n  \"0.0.0.0:1\",\n  \"localhost:6881\",\n]\n",
            "peers.listen",
            4,
            "bad address \"localhost:6881\": expected IP:port",
        ),
        ("limits = 5\n", "limits", 1, "expected a table"),
    ];
    for (text, key, line, message) in cases {
        let err = parse_err(text);
        assert!(
            matches!(err, SettingsError::BadValue { .. }),
            "{text}: {err:?}"
        );
        assert_eq!(
            (err.key(), err.line()),
            (Some(*key), Some(*line)),
            "{text}: {err}"
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("hivebt.toml:{line}: {key}: ")),
            "{shown}"
        );
        assert!(shown.contains(message), "{text}: {shown}");
    }
}

#[test]
fn huge_numbers() {
    let s = parse("[limits]\nmax_upload_rate = 9223372036854775807\n").unwrap();
    assert_eq!(s.limits.max_upload_rate.get(), Some(i64::MAX as u64));
    let s = parse("[limits]\nmax_upload_rate = \"16777215T\"\n").unwrap();
    assert_eq!(s.limits.max_upload_rate.get(), Some(16_777_215 << 40));
    let err = parse_err("[limits]\nmax_upload_rate = \"16777216T\"\n");
    assert!(err.to_string().ends_with("too large"), "{err}");
    let err = parse_err("[limits]\nmax_connections = 4294967296\n");
    assert_eq!(err.key(), Some("limits.max_connections"));
    assert!(
        err.to_string()
            .ends_with("expected a whole number from 0 to 4294967295"),
        "{err}"
    );
    // toml reads integers past i64 too.
    let s = parse("[limits]\nmax_upload_rate = 18446744073709551615\n").unwrap();
    assert_eq!(s.limits.max_upload_rate.get(), Some(u64::MAX));
    let err = parse_err("[limits]\nmax_upload_rate = 99999999999999999999\n");
    assert_eq!(
        (err.key(), err.line()),
        (Some("limits.max_upload_rate"), Some(2))
    );
    assert!(
        err.to_string()
            .ends_with("bad rate \"99999999999999999999\": too large"),
        "{err}"
    );
    let err = parse_err("[limits]\nmax_upload_rate = -99999999999999999999\n");
    assert!(
        err.to_string().contains("expected bytes per second"),
        "{err}"
    );
    let err = parse_err("[api]\nlogin_block = 99999999999999999999\n");
    assert!(err.to_string().ends_with("too long"), "{err}");
    let err = parse_err("[api]\nsession_ttl = \"99999999999999999999w\"\n");
    assert_eq!(err.key(), Some("api.session_ttl"));
    assert!(err.to_string().ends_with("too long"), "{err}");
    let s = parse("[api]\nsession_ttl = 9223372036854775807\n").unwrap();
    assert_eq!(s.api.session_ttl.as_secs(), i64::MAX as u64);
    let err = parse_err("[engine]\nworkers = 100000\n");
    assert!(err.to_string().contains("expected 1 to 1024"), "{err}");
}

#[test]
fn checks_after_parsing_name_the_key_and_its_line() {
    let cases: &[(&str, &str, Option<usize>, &str)] = &[
        (
            "[api]\nlisten = []\n",
            "api.listen",
            Some(2),
            "at least one address",
        ),
        (
            "[limits]\n\nupload_slots = 0\n",
            "limits.upload_slots",
            Some(3),
            "at least 1",
        ),
        (
            "[limits]\nmax_connections = 0\n",
            "limits.max_connections",
            Some(2),
            "at least 1",
        ),
        (
            "[queue]\nratio_limit = -1.0\n",
            "queue.ratio_limit",
            Some(2),
            "expected 0 or more",
        ),
        (
            "[queue]\nratio_limit = nan\n",
            "queue.ratio_limit",
            Some(2),
            "not a ratio",
        ),
        (
            "[queue]\nratio_limit = inf\n",
            "queue.ratio_limit",
            Some(2),
            "not a ratio",
        ),
        (
            "[paths]\nstate_dir = \"state\"\n",
            "paths.state_dir",
            Some(2),
            "must be an absolute path",
        ),
        (
            "[paths]\ndata_dir = \"~/Downloads\"\n",
            "paths.data_dir",
            Some(2),
            "~ and $VARIABLES",
        ),
        (
            "[paths]\nwatch_dir = \"/srv/../etc\"\n",
            "paths.watch_dir",
            Some(2),
            "must not contain ..",
        ),
        (
            "[paths]\nallowed_paths = [\"/srv\", \"tmp\"]\n",
            "paths.allowed_paths",
            Some(2),
            "\"tmp\"",
        ),
        (
            "[paths]\ndata_dir = \"/home/x\"\nallowed_paths = [\"/srv\"]\n",
            "paths.data_dir",
            Some(2),
            "outside every paths.allowed_paths root",
        ),
        (
            "[peers]\nlisten = [\"0.0.0.0:1\", \"0.0.0.0:1\"]\n",
            "peers.listen",
            Some(2),
            "listed twice",
        ),
        (
            "[peers]\ntrackers = [\"tracker.example.org\"]\n",
            "peers.trackers",
            Some(2),
            "bad tracker URL",
        ),
        (
            "[peers]\ntrackers = [\"udp://\"]\n",
            "peers.trackers",
            Some(2),
            "bad tracker URL",
        ),
        (
            "[api]\nallowed_hosts = [\"\"]\n",
            "api.allowed_hosts",
            Some(2),
            "bad host",
        ),
        (
            "[api]\ncors_origins = [\"*\"]\n",
            "api.cors_origins",
            Some(2),
            "bad origin \"*\"",
        ),
        (
            "[api]\ncors_origins = [\"https://ui.example.org/\"]\n",
            "api.cors_origins",
            Some(2),
            "no path",
        ),
        (
            "[api]\nlogin_max_failures = 0\n",
            "api.login_max_failures",
            Some(2),
            "at least 1",
        ),
        (
            "[api]\nlogin_block = \"0s\"\n",
            "api.login_block",
            Some(2),
            "longer than 0s",
        ),
        (
            "[api]\nsession_ttl = 0\n",
            "api.session_ttl",
            Some(2),
            "longer than 0s",
        ),
        (
            "[engine]\nworkers = 0\n",
            "engine.workers",
            Some(2),
            "expected 1 to",
        ),
        (
            "[engine]\nresume_interval = \"0m\"\n",
            "engine.resume_interval",
            Some(2),
            "longer than 0s",
        ),
        (
            "engine.resume_interval = 0\n",
            "engine.resume_interval",
            Some(1),
            "longer than 0s",
        ),
    ];
    for (text, key, line, message) in cases {
        let err = parse_err(text);
        assert_eq!(
            (err.key(), err.line()),
            (Some(*key), *line),
            "{text}: {err}"
        );
        assert!(err.to_string().contains(message), "{text}: {err}");
        assert!(KEYS.iter().any(|k| k.name == *key), "{key} is not in KEYS");
    }
}

#[test]
fn syntax_errors() {
    let err = parse_err("[limits]\nupload_slots = 4\n[limits\n");
    assert!(
        matches!(err, SettingsError::Syntax { line: Some(3), .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("hivebt.toml:3: "), "{err}");
    let err = parse_err("[limits]\nupload_slots = 4\nupload_slots = 5\n");
    assert_eq!(err.line(), Some(3));
    assert!(
        err.to_string().contains("duplicate key \"upload_slots\""),
        "{err}"
    );
    let err = parse_err("[api]\nlisten = [\"127.0.0.1:1\"\n");
    assert!(matches!(err, SettingsError::Syntax { .. }), "{err:?}");
}

#[test]
fn load_reads_the_file_and_names_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("hivebt-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hivebt.toml");
    std::fs::write(&path, "[limits]\nupload_slots = 7\nbogus = 1\n").unwrap();
    let err = Settings::load(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3: ", path.display())),
        "{err}"
    );
    std::fs::write(&path, "[limits]\nupload_slots = 7\n").unwrap();
    assert_eq!(Settings::load(&path).unwrap().limits.upload_slots, 7);
    std::fs::remove_dir_all(&dir).unwrap();

    let err = Settings::load(&path).unwrap_err();
    assert!(matches!(err, SettingsError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn flags_win_over_the_file() {
    let mut s = parse(
        "[paths]\nstate_dir = \"/file/state\"\ndata_dir = \"/file/data\"\n\
         [peers]\nlisten = [\"0.0.0.0:1\"]\n[limits]\nmax_upload_rate = \"1M\"\nmax_connections = 7\n\
         [engine]\nworkers = 2\n",
    )
    .unwrap();
    let before = s.clone();
    s.apply(&Overrides::default());
    assert_eq!(s, before, "no flags change nothing");

    s.apply(&Overrides {
        state_dir: Some("/flag/state".into()),
        data_dir: None,
        watch_dir: Some("/flag/watch".into()),
        listen: vec![addr("[::]:2")],
        api: vec![addr("127.0.0.1:3")],
        max_upload_rate: Some(ByteRate::UNLIMITED),
        max_download_rate: Some(ByteRate::new(Some(5))),
        max_connections: Some(9),
        workers: Some(1),
        no_dht: true,
        dht_bootstrap: vec!["127.0.0.1:9".into()],
        dht_listen: vec![addr("127.0.0.1:4")],
        no_lsd: true,
        no_pex: true,
    });
    assert!(!s.peers.dht, "--no-dht");
    assert!(!s.peers.lsd, "--no-lsd");
    assert!(!s.peers.pex, "--no-pex");
    assert_eq!(s.peers.dht_bootstrap, ["127.0.0.1:9"]);
    assert_eq!(s.peers.dht_listen, [addr("127.0.0.1:4")]);
    assert_eq!(s.paths.state_dir, Some("/flag/state".into()));
    assert_eq!(
        s.paths.data_dir,
        Some("/file/data".into()),
        "not given: kept"
    );
    assert_eq!(s.paths.watch_dir, Some("/flag/watch".into()));
    assert_eq!(s.peers.listen, [addr("[::]:2")]);
    assert_eq!(s.api.listen, [addr("127.0.0.1:3")]);
    assert_eq!(s.limits.max_upload_rate, ByteRate::UNLIMITED);
    assert_eq!(s.limits.max_download_rate.get(), Some(5));
    assert_eq!(s.limits.max_connections, 9);
    assert_eq!(s.engine.workers, Some(1));
    assert_eq!(s.workers(), 1);
    assert!(s.validate().is_ok());

    s.apply(&Overrides {
        data_dir: Some("relative".into()),
        ..Overrides::default()
    });
    let err = s.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "paths.data_dir: \"relative\" must be an absolute path (~ and $VARIABLES are not expanded)"
    );
}

#[test]
fn reload_diff_splits_runtime_from_restart() {
    let old = Settings::default();
    assert!(old.reload_diff(&old.clone()).is_empty());
    let new = parse(
        "[paths]\nstate_dir = \"/elsewhere\"\nwatch_dir = \"/w\"\n\
         [limits]\nmax_upload_rate = \"2M\"\nupload_slots = 4\n\
         [queue]\nratio_limit = 1.5\n\
         [api]\nlisten = [\"127.0.0.1:9\"]\ncors_origins = [\"http://a.example\"]\n\
         [engine]\nworkers = 2\n",
    )
    .unwrap();
    let diff = old.reload_diff(&new);
    assert_eq!(
        diff.runtime,
        [
            "paths.watch_dir",
            "limits.max_upload_rate",
            "queue.ratio_limit",
            "api.cors_origins"
        ]
    );
    assert_eq!(
        diff.restart,
        ["paths.state_dir", "api.listen", "engine.workers"]
    );
    // Back again is the same keys; a key removed from the file returns to its default.
    assert_eq!(new.reload_diff(&old), diff);
}

#[test]
fn unset_paths_follow_the_xdg_rule() {
    let os = |s: &str| Some(std::ffi::OsString::from(s));
    assert_eq!(
        default_state_dir(os("/x/state"), os("/home/u")),
        Some(PathBuf::from("/x/state/hivebt"))
    );
    assert_eq!(
        default_state_dir(None, os("/home/u")),
        Some(PathBuf::from("/home/u/.local/state/hivebt"))
    );
    assert_eq!(
        default_state_dir(os("relative"), os("/home/u")),
        Some(PathBuf::from("/home/u/.local/state/hivebt")),
        "a relative XDG_STATE_HOME is ignored"
    );
    assert_eq!(default_state_dir(None, None), None);
    assert_eq!(default_state_dir(os(""), os("")), None);
    assert_eq!(
        default_data_dir(os("/home/u")),
        Some(PathBuf::from("/home/u/Downloads"))
    );
    assert_eq!(default_data_dir(None), None);

    let mut s = Settings::default();
    s.paths.state_dir = Some("/set/state".into());
    s.paths.data_dir = Some("/set/data".into());
    assert_eq!(s.state_dir().unwrap(), PathBuf::from("/set/state"));
    assert_eq!(s.data_dir().unwrap(), PathBuf::from("/set/data"));
}

#[test]
fn allowed_paths() {
    let mut s = Settings::default();
    assert!(s.path_allowed(Path::new("/anywhere/at/all")));
    assert!(!s.path_allowed(Path::new("relative")));
    assert!(!s.path_allowed(Path::new("/srv/../etc")));
    s.paths.allowed_paths = vec!["/srv/t".into(), "/mnt".into()];
    assert!(s.path_allowed(Path::new("/srv/t")));
    assert!(s.path_allowed(Path::new("/srv/t/a/b")));
    assert!(s.path_allowed(Path::new("/mnt/x")));
    assert!(
        !s.path_allowed(Path::new("/srv/tt")),
        "components, not prefixes"
    );
    assert!(!s.path_allowed(Path::new("/srv/t/../../etc")));
    assert!(!s.path_allowed(Path::new("/etc")));
}
