//! `session-get`, `session-set` and `session-stats`: the daemon's settings and totals
//! in Transmission's names and units. Speeds are kB/s of 1000 bytes, as Transmission
//! has them (`units.speed-bytes` says so).
//!
//! Changes made here (speed limits, the alternative "turtle" limits, the default
//! ratio limit, the download directory) hold until the daemon stops; the
//! configuration file is what a restart reads.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{RPC_VERSION, RPC_VERSION_MINIMUM, arg_bool, arg_ratio, arg_u64};
use crate::api::service::ApiService;
use crate::engine::Engine;
use crate::torrent::state::TorrentState;

/// Bytes in a kB/s.
pub(crate) const SPEED_K: u64 = 1000;

/// The speed settings Transmission has and the engine does not: the number shown for
/// a disabled limit, the alternative limits, and whether those are on.
#[derive(Debug)]
pub(crate) struct Speeds {
    /// kB/s a disabled limit shows (Transmission keeps the number when it is off).
    up_kb: u64,
    down_kb: u64,
    /// The alternative ("turtle") limits, kB/s.
    alt_up_kb: u64,
    alt_down_kb: u64,
    /// With the alternative limits on, the engine runs them; these are the regular
    /// limits (bytes per second) to go back to.
    alt_saved: Option<(Option<u64>, Option<u64>)>,
    /// The session ratio limit a disabled one shows.
    ratio: f64,
}

impl Default for Speeds {
    /// Transmission's defaults.
    fn default() -> Speeds {
        Speeds {
            up_kb: 100,
            down_kb: 100,
            alt_up_kb: 50,
            alt_down_kb: 50,
            alt_saved: None,
            ratio: 2.0,
        }
    }
}

impl Speeds {
    /// The regular limits, bytes per second.
    fn regular(&self, engine: &Engine) -> (Option<u64>, Option<u64>) {
        self.alt_saved.unwrap_or((
            engine.config.max_upload_rate,
            engine.config.max_download_rate,
        ))
    }
}

/// kB/s shown for a limit of `rate` bytes per second, or `shown` when it is off.
fn kb(rate: Option<u64>, shown: u64) -> u64 {
    rate.map_or(shown, |r| r.div_ceil(SPEED_K))
}

/// Every `session-get` argument, or those `fields` names.
pub(crate) fn get(api: &ApiService, engine: &Engine, fields: Option<&Value>) -> Map<String, Value> {
    let s = &api.setup;
    let speeds = &api.transmission.speeds;
    let (up, down) = speeds.regular(engine);
    let units = json!({
        "speed-units": ["kB/s", "MB/s", "GB/s", "TB/s"], "speed-bytes": SPEED_K,
        "size-units": ["kB", "MB", "GB", "TB"], "size-bytes": 1000,
        "memory-units": ["KiB", "MiB", "GiB", "TiB"], "memory-bytes": 1024,
    });
    let all: [(&str, Value); 55] = [
        ("alt-speed-down", json!(speeds.alt_down_kb)),
        ("alt-speed-enabled", json!(speeds.alt_saved.is_some())),
        ("alt-speed-time-begin", json!(540)),
        ("alt-speed-time-day", json!(127)),
        ("alt-speed-time-enabled", json!(false)),
        ("alt-speed-time-end", json!(1020)),
        ("alt-speed-up", json!(speeds.alt_up_kb)),
        ("blocklist-enabled", json!(false)),
        ("blocklist-size", json!(0)),
        ("blocklist-url", json!("")),
        (
            "cache-size-mb",
            json!(engine.config.limits.piece_cache_bytes / 1_000_000),
        ),
        ("config-dir", json!(s.state_dir)),
        ("default-trackers", json!("")),
        ("dht-enabled", json!(engine.config.dht.is_some())),
        ("download-dir", json!(s.data_dir)),
        (
            "download-queue-enabled",
            json!(s.max_active_downloads.is_some()),
        ),
        (
            "download-queue-size",
            json!(s.max_active_downloads.unwrap_or(5)),
        ),
        ("encryption", json!("tolerated")),
        ("idle-seeding-limit", json!(30)),
        ("idle-seeding-limit-enabled", json!(false)),
        ("incomplete-dir", json!(s.data_dir)),
        ("incomplete-dir-enabled", json!(false)),
        ("lpd-enabled", json!(engine.config.lsd)),
        ("peer-limit-global", json!(engine.config.max_peers)),
        (
            "peer-limit-per-torrent",
            json!(engine.config.limits.peers_per_torrent),
        ),
        ("peer-port", json!(engine.listen_port.unwrap_or(0))),
        ("peer-port-random-on-start", json!(false)),
        ("pex-enabled", json!(engine.config.pex)),
        ("port-forwarding-enabled", json!(false)),
        ("queue-stalled-enabled", json!(false)),
        ("queue-stalled-minutes", json!(30)),
        ("rename-partial-files", json!(false)),
        ("rpc-version", json!(RPC_VERSION)),
        ("rpc-version-minimum", json!(RPC_VERSION_MINIMUM)),
        ("rpc-version-semver", json!("5.3.0")),
        ("script-torrent-added-enabled", json!(false)),
        ("script-torrent-added-filename", json!("")),
        ("script-torrent-done-enabled", json!(false)),
        ("script-torrent-done-filename", json!("")),
        ("script-torrent-done-seeding-enabled", json!(false)),
        ("script-torrent-done-seeding-filename", json!("")),
        ("seed-queue-enabled", json!(s.max_active_seeds.is_some())),
        ("seed-queue-size", json!(s.max_active_seeds.unwrap_or(10))),
        (
            "seedRatioLimit",
            json!(s.ratio_limit.unwrap_or(speeds.ratio)),
        ),
        ("seedRatioLimited", json!(s.ratio_limit.is_some())),
        ("session-id", json!(api.transmission.session_id)),
        ("speed-limit-down", json!(kb(down, speeds.down_kb))),
        ("speed-limit-down-enabled", json!(down.is_some())),
        ("speed-limit-up", json!(kb(up, speeds.up_kb))),
        ("speed-limit-up-enabled", json!(up.is_some())),
        ("start-added-torrents", json!(true)),
        ("trash-original-torrent-files", json!(false)),
        ("units", json!(units)),
        ("utp-enabled", json!(false)),
        ("version", json!(super::version())),
    ];
    let mut all: Map<String, Value> = all.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    if let Some(Value::Array(names)) = fields {
        let wanted: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        all.retain(|k, _| wanted.contains(&k.as_str()));
    }
    all
}

/// Applies a `session-set`: the speed limits (regular and alternative), the default
/// ratio limit and the download directory. Other keys are ignored, as Transmission
/// ignores keys it does not know; a value of the wrong type is an error.
pub(crate) fn set(
    api: &mut ApiService,
    engine: &mut Engine,
    args: &Map<String, Value>,
    now: Instant,
) -> Result<(), String> {
    let kb_arg = |key: &str| arg_u64(args, key);
    let bool_arg = |key: &str| arg_bool(args, key);
    let (up_kb, down_kb) = (kb_arg("speed-limit-up")?, kb_arg("speed-limit-down")?);
    let (alt_up, alt_down) = (kb_arg("alt-speed-up")?, kb_arg("alt-speed-down")?);
    let (up_on, down_on) = (
        bool_arg("speed-limit-up-enabled")?,
        bool_arg("speed-limit-down-enabled")?,
    );
    let alt_on = bool_arg("alt-speed-enabled")?;
    let ratio_on = bool_arg("seedRatioLimited")?;
    let ratio = arg_ratio(args)?;
    let dir = match args.get("download-dir") {
        None => None,
        Some(Value::String(d)) => {
            let d = std::path::PathBuf::from(d);
            api.check_path("download-dir", &d).map_err(|e| e.message)?;
            Some(d)
        }
        Some(_) => return Err("download-dir must be a path".into()),
    };

    let speeds = &mut api.transmission.speeds;
    let (mut up, mut down) = speeds.regular(engine);
    let limit = |rate: &mut Option<u64>, shown: &mut u64, kb: Option<u64>, on: Option<bool>| {
        if let Some(kb) = kb {
            *shown = kb;
            if rate.is_some() {
                *rate = Some(kb * SPEED_K);
            }
        }
        if let Some(on) = on {
            *rate = on.then_some(*shown * SPEED_K);
        }
    };
    limit(&mut up, &mut speeds.up_kb, up_kb, up_on);
    limit(&mut down, &mut speeds.down_kb, down_kb, down_on);
    speeds.alt_up_kb = alt_up.unwrap_or(speeds.alt_up_kb);
    speeds.alt_down_kb = alt_down.unwrap_or(speeds.alt_down_kb);
    let alt = alt_on.unwrap_or(speeds.alt_saved.is_some());
    if alt {
        speeds.alt_saved = Some((up, down));
        let (u, d) = (speeds.alt_up_kb * SPEED_K, speeds.alt_down_kb * SPEED_K);
        engine.set_rate_limits(Some(u), Some(d), now);
    } else {
        speeds.alt_saved = None;
        engine.set_rate_limits(up, down, now);
    }
    if let Some(r) = ratio {
        speeds.ratio = r;
        if api.setup.ratio_limit.is_some() {
            api.setup.ratio_limit = Some(r);
        }
    }
    if let Some(on) = ratio_on {
        api.setup.ratio_limit = on.then_some(api.transmission.speeds.ratio);
    }
    if let Some(d) = dir {
        api.setup.data_dir = d;
    }
    Ok(())
}

/// `session-stats`: torrent counts, rates, and the totals of this run
/// (`current-stats`) and of every torrent's life in the session
/// (`cumulative-stats`; the daemon does not count its runs, so `sessionCount` is 1).
pub(crate) fn stats(api: &mut ApiService, engine: &Engine, now: Instant) -> Value {
    let api = api.fresh(engine);
    let (snapshot, entries) = (api.snapshot(), &api.entries);
    let (mut active, mut paused, mut up, mut down) = (0usize, 0usize, 0u64, 0u64);
    let (mut run_up, mut run_down, mut life_up, mut life_down) = (0u64, 0u64, 0u64, 0u64);
    for v in &snapshot.torrents {
        let Some(e) = entries.get(&v.info_hash) else {
            continue;
        };
        match v.state {
            TorrentState::Paused | TorrentState::Failed(_) => paused += 1,
            _ => active += 1,
        }
        up += v.up_rate;
        down += v.down_rate;
        run_up += v.uploaded;
        run_down += v.downloaded;
        life_up += e.record.uploaded + v.uploaded.saturating_sub(e.seen_up);
        life_down += e.record.downloaded + v.downloaded.saturating_sub(e.seen_down);
    }
    let secs = now.duration_since(api.started_at).as_secs();
    let totals = |up: u64, down: u64, files: usize| {
        json!({"uploadedBytes": up, "downloadedBytes": down, "filesAdded": files,
               "sessionCount": 1, "secondsActive": secs})
    };
    json!({
        "activeTorrentCount": active,
        "pausedTorrentCount": paused,
        "torrentCount": entries.len(),
        "downloadSpeed": down,
        "uploadSpeed": up,
        "current-stats": totals(run_up, run_down, 0),
        "cumulative-stats": totals(life_up, life_down, entries.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_show_in_kilobytes_of_1000() {
        assert_eq!(kb(Some(100_000), 7), 100);
        assert_eq!(
            kb(Some(1_500), 7),
            2,
            "rounded up: never shows a limit as 0"
        );
        assert_eq!(kb(None, 7), 7, "a disabled limit shows its number");
    }
}
