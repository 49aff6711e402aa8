//! The list of every key of the configuration file: its doc line, an example value and
//! whether a SIGHUP reload applies it. `--print-config` and the reload diff are made
//! from it; tests check it names exactly the fields of [`Settings`], so a new field
//! cannot be left out of either.

use super::Settings;

/// Whether a changed key takes effect on reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// The running daemon takes the new value on SIGHUP.
    Runtime,
    /// The daemon must be restarted for the new value to take effect (it is bound into
    /// a socket, a thread count or the engine's configuration at start).
    Restart,
}

/// One key of the file.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Dotted path, `table.key`.
    pub name: &'static str,
    /// One line for `--print-config`.
    pub doc: &'static str,
    /// A valid value other than the default, as TOML: shown commented out for keys
    /// unset by default, and used by tests.
    pub example: &'static str,
    /// Whether a reload applies it.
    pub apply: Apply,
}

/// The tables of the file in print order, each with one line saying what it holds.
pub const TABLES: &[(&str, &str)] = &[
    ("paths", "Where hivebt keeps its state and puts downloads."),
    (
        "peers",
        "The BitTorrent side: where peers connect, extra trackers.",
    ),
    (
        "limits",
        "Global rate and connection limits, and per-torrent defaults.",
    ),
    (
        "queue",
        "How many torrents run at once, and when seeding stops.",
    ),
    (
        "api",
        "The HTTP API that hivebt ctl and web interfaces use.",
    ),
    ("engine", "Threads and housekeeping."),
];

const fn key(name: &'static str, doc: &'static str, example: &'static str, apply: Apply) -> Key {
    Key {
        name,
        doc,
        example,
        apply,
    }
}

use Apply::{Restart, Runtime};

/// Every key, in print order (grouped by table, in [`TABLES`] order).
pub const KEYS: &[Key] = &[
    key(
        "paths.state_dir",
        "Resume records, the API token and sessions. Unset: $XDG_STATE_HOME/hivebt, else $HOME/.local/state/hivebt.",
        "\"/var/lib/hivebt\"",
        Restart,
    ),
    key(
        "paths.data_dir",
        "Where a torrent added without a save path is saved. Unset: $HOME/Downloads.",
        "\"/srv/torrents\"",
        Runtime,
    ),
    key(
        "paths.watch_dir",
        "A directory watched for .torrent files to add. Unset: none is watched.",
        "\"/srv/torrents/watch\"",
        Runtime,
    ),
    key(
        "paths.allowed_paths",
        "Roots that paths named through the API must lie under (data_dir too). Empty: any absolute path.",
        "[\"/srv/torrents\"]",
        Runtime,
    ),
    key(
        "peers.listen",
        "Addresses that accept peer connections. Empty: peers are only dialled.",
        "[\"0.0.0.0:51413\"]",
        Restart,
    ),
    key(
        "peers.trackers",
        "Tracker URLs announced to for every torrent that is not private (BEP 27).",
        "[\"udp://tracker.example.org:6969/announce\"]",
        Restart,
    ),
    key(
        "peers.dht",
        "Take part in the Mainline DHT (BEP 5) to find peers without a tracker; private torrents never use it.",
        "false",
        Restart,
    ),
    key(
        "peers.dht_bootstrap",
        "HOST:PORT of nodes the DHT joins through, besides the table saved in the state directory.",
        "[\"dht.example.org:6881\"]",
        Restart,
    ),
    key(
        "peers.dht_listen",
        "UDP addresses of the DHT. Empty: the peers.listen addresses (the peer port over UDP).",
        "[\"0.0.0.0:6882\"]",
        Restart,
    ),
    key(
        "peers.lsd",
        "Local service discovery (BEP 14): announce torrents on the peer listeners' networks by multicast and hear others; private torrents never use it.",
        "false",
        Restart,
    ),
    key(
        "peers.pex",
        "Peer exchange (BEP 11): connected peers tell each other about the swarm; private torrents never use it.",
        "false",
        Restart,
    ),
    key(
        "limits.max_upload_rate",
        "Upload rate of all torrents together.",
        "\"10M\"",
        Runtime,
    ),
    key(
        "limits.max_download_rate",
        "Download rate of all torrents together.",
        "\"1.5G\"",
        Runtime,
    ),
    key(
        "limits.max_connections",
        "Peer connections of all torrents together.",
        "1000",
        Runtime,
    ),
    key(
        "limits.max_connections_per_torrent",
        "Peers one torrent dials until it holds this many, unless it sets its own max_connections (which is a hard cap); incoming peers are bounded by max_connections.",
        "80",
        Runtime,
    ),
    key(
        "limits.upload_slots",
        "Peers one torrent uploads to at once (unchoked), the optimistic slot included.",
        "8",
        Runtime,
    ),
    key(
        "queue.max_active_downloads",
        "Torrents downloading at once; the rest wait queued. -1: no limit.",
        "-1",
        Runtime,
    ),
    key(
        "queue.max_active_seeds",
        "Torrents seeding at once; the rest wait queued. -1: no limit.",
        "20",
        Runtime,
    ),
    key(
        "queue.ratio_limit",
        "Upload/size ratio at which a torrent stops seeding. Unset: no limit.",
        "2.0",
        Runtime,
    ),
    key(
        "queue.seed_time_limit",
        "Seeding time after which a torrent stops seeding. Unset: no limit.",
        "\"7d\"",
        Runtime,
    ),
    key(
        "queue.share_limit_action",
        "What a torrent that reaches a limit does: \"pause\", or \"remove\" (its data stays on disk).",
        "\"remove\"",
        Runtime,
    ),
    key(
        "api.listen",
        "Addresses the API listens on; at least one. Off loopback, every request needs a login or the token.",
        "[\"127.0.0.1:9090\", \"[::1]:9090\"]",
        Restart,
    ),
    key(
        "api.allowed_hosts",
        "Host header names accepted besides the listen addresses and localhost.",
        "[\"seedbox.example.org\"]",
        Runtime,
    ),
    key(
        "api.cors_origins",
        "Browser origins (scheme://host[:port]) allowed to call the API from another site.",
        "[\"https://ui.example.org\"]",
        Runtime,
    ),
    key(
        "api.max_connections",
        "API connections open at once.",
        "16",
        Restart,
    ),
    key(
        "api.login_max_failures",
        "Failed logins from one address before it is locked out.",
        "3",
        Runtime,
    ),
    key(
        "api.login_block",
        "How long a locked-out address stays locked out.",
        "\"15m\"",
        Runtime,
    ),
    key(
        "api.session_ttl",
        "How long a login session lasts.",
        "\"12h\"",
        Runtime,
    ),
    key(
        "api.metrics_per_torrent",
        "Whether /metrics has series per torrent (many torrents make many series).",
        "true",
        Runtime,
    ),
    key(
        "engine.workers",
        "Hashing and disk threads. Unset: the cores minus one, at least one.",
        "4",
        Restart,
    ),
    key(
        "engine.resume_interval",
        "How often a changed resume record is written.",
        "\"5m\"",
        Restart,
    ),
];

/// What a reload changed, split by whether it takes effect now; dotted key names in
/// [`KEYS`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reload {
    /// Changed keys the running daemon applies.
    pub runtime: Vec<&'static str>,
    /// Changed keys that wait for a restart (the daemon keeps the old value).
    pub restart: Vec<&'static str>,
}

impl Reload {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.runtime.is_empty() && self.restart.is_empty()
    }
}

/// `settings` as a TOML table. Every field serializes once validated (paths are
/// UTF-8, which [`Settings::validate`] checks), so the empty fallback is not taken
/// for checked settings; the round-trip tests hold it to that.
fn to_table(settings: &Settings) -> toml::Table {
    toml::Table::try_from(settings).unwrap_or_default()
}

/// The value at dotted `name`, `None` when unset.
fn lookup<'t>(table: &'t toml::Table, name: &str) -> Option<&'t toml::Value> {
    let (section, key) = name.split_once('.')?;
    table.get(section)?.as_table()?.get(key)
}

impl Settings {
    /// A complete configuration file with every key at its default, each under a
    /// comment saying what it is; keys unset by default are shown commented out with
    /// an example. It reads back as [`Settings::default`]. This is
    /// `hivebt daemon --print-config`.
    pub fn print_default() -> String {
        let defaults = to_table(&Settings::default());
        let mut out = String::from(
            "# hivebt daemon configuration. Every key is shown with its default;\n\
             # a commented-out key is unset by default. Unknown keys are errors.\n\
             # Rates are bytes per second: 1048576, \"512K\", \"10M\", \"1.5G\" (binary units); 0 is unlimited.\n\
             # Durations are whole seconds or \"30s\", \"90m\", \"12h\", \"7d\", \"1w\".\n\
             # Paths are absolute; ~ and $VARIABLES are not expanded.\n",
        );
        for (table, doc) in TABLES {
            out.push_str(&format!("\n# {doc}\n[{table}]\n"));
            for key in KEYS
                .iter()
                .filter(|k| k.name.split('.').next() == Some(table))
            {
                let short = key.name.rsplit('.').next().unwrap_or(key.name);
                out.push_str(&format!("# {}\n", key.doc));
                match lookup(&defaults, key.name) {
                    Some(value) => out.push_str(&format!("{short} = {value}\n")),
                    None => out.push_str(&format!("# {short} = {}\n", key.example)),
                }
            }
        }
        out
    }

    /// The keys whose values differ between `self` (running) and `new` (just read on
    /// SIGHUP), split by whether they can take effect without a restart.
    pub fn reload_diff(&self, new: &Settings) -> Reload {
        let (old, new) = (to_table(self), to_table(new));
        let mut reload = Reload::default();
        for key in KEYS {
            if lookup(&old, key.name) != lookup(&new, key.name) {
                match key.apply {
                    Apply::Runtime => reload.runtime.push(key.name),
                    Apply::Restart => reload.restart.push(key.name),
                }
            }
        }
        reload
    }
}
