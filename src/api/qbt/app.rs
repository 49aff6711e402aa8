//! `auth/*`, `app/*` and `transfer/*`: logins, versions, the preferences hivebt has,
//! and the session's totals and global rate limits.
//!
//! Preferences set here last until the next restart or reload (the configuration
//! file stays the daemon's source of settings); keys hivebt has no setting for are
//! ignored, as qBittorrent ignores unknown ones.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{APP_VERSION, Call, Handled, WEBAPI_VERSION, done, json, not_found, text};
use crate::api::ApiError;
use crate::api::service::{ApiAnswer, ApiService, ShareAction};
use crate::engine::Engine;

/// The changing endpoints (POST only).
pub(super) const ENDPOINTS: [&str; 5] = [
    "auth/login",
    "auth/logout",
    "app/setPreferences",
    "transfer/setUploadLimit",
    "transfer/setDownloadLimit",
];

/// `space/name` under `auth`, `app` or `transfer`.
pub(super) fn handle(
    api: &mut ApiService,
    engine: &mut Engine,
    call: &Call<'_>,
    space: &str,
    name: &str,
) -> Handled {
    let keep_alive = call.keep_alive();
    let now_text = |s: &str| Ok(ApiAnswer::Now(text(200, s, keep_alive)));
    match (space, name) {
        ("auth", "login") => {
            // hivebt has one password and no user names: any name is taken.
            let password = call.params.get("password").unwrap_or("").to_string();
            let reply = call.reply();
            api.start_login(engine, call.peer.ip(), password, reply, call.now)
        }
        ("auth", "logout") => {
            api.auth.logout(call.req.head.header("cookie"));
            done(keep_alive)
        }
        ("app", "version") => now_text(APP_VERSION),
        ("app", "webapiVersion") => now_text(WEBAPI_VERSION),
        ("app", "buildInfo") => json(
            &json!({
                "qt": "none",
                "libtorrent": concat!("hivebt ", env!("CARGO_PKG_VERSION")),
                "boost": "none",
                "openssl": "none",
                "zlib": "none",
                "bitness": usize::BITS,
                "platform": std::env::consts::OS,
            }),
            keep_alive,
        ),
        ("app", "defaultSavePath") => now_text(&api.setup.data_dir.to_string_lossy()),
        ("app", "preferences") => json(&preferences(api, engine), keep_alive),
        ("app", "setPreferences") => {
            set_preferences(api, engine, call)?;
            done(keep_alive)
        }
        ("transfer", "info") => json(&transfer_info(api, engine), keep_alive),
        ("transfer", "speedLimitsMode") => now_text("0"),
        ("transfer", "uploadLimit") => {
            now_text(&engine.config.max_upload_rate.unwrap_or(0).to_string())
        }
        ("transfer", "downloadLimit") => {
            now_text(&engine.config.max_download_rate.unwrap_or(0).to_string())
        }
        ("transfer", "setUploadLimit" | "setDownloadLimit") => {
            let limit: i64 = call
                .params
                .number("limit")?
                .ok_or_else(|| ApiError::bad("Missing required parameters: limit"))?;
            let limit = u64::try_from(limit).ok().filter(|&l| l > 0);
            let (mut up, mut down) = (
                engine.config.max_upload_rate,
                engine.config.max_download_rate,
            );
            if name == "setUploadLimit" {
                up = limit;
            } else {
                down = limit;
            }
            engine.set_rate_limits(up, down, call.now);
            done(keep_alive)
        }
        _ => Err(not_found()),
    }
}

/// A limit as qBittorrent's preferences give it: minutes or a ratio, -1 for none.
fn or_none<T: Into<f64>>(v: Option<T>) -> f64 {
    v.map_or(-1.0, Into::into)
}

fn preferences(api: &ApiService, engine: &Engine) -> Value {
    let s = &api.setup;
    let cfg = &engine.config;
    let queueing = s.max_active_downloads.is_some() || s.max_active_seeds.is_some();
    let cap = |c: Option<usize>| c.map_or(-1, |c| c as i64);
    json!({
        "save_path": s.data_dir.to_string_lossy(),
        "temp_path_enabled": false,
        "temp_path": "",
        "auto_tmm_enabled": false,
        "create_subfolder_enabled": true,
        "start_paused_enabled": false,
        "add_stopped_enabled": false,
        "max_ratio_enabled": s.ratio_limit.is_some(),
        "max_ratio": or_none(s.ratio_limit),
        "max_seeding_time_enabled": s.seed_time_limit.is_some(),
        "max_seeding_time": s.seed_time_limit.map_or(-1, |t| (t / 60) as i64),
        "max_inactive_seeding_time_enabled": false,
        "max_inactive_seeding_time": -1,
        "max_ratio_act": match s.share_action { ShareAction::Pause => 0, ShareAction::Remove => 1 },
        "queueing_enabled": queueing,
        "max_active_downloads": cap(s.max_active_downloads),
        "max_active_uploads": cap(s.max_active_seeds),
        "max_active_torrents": -1,
        "dht": cfg.dht.is_some(),
        "pex": cfg.pex,
        "lsd": cfg.lsd,
        "upnp": false,
        "encryption": 1,
        "anonymous_mode": false,
        "listen_port": engine.listen_port.unwrap_or(0),
        "random_port": false,
        "max_connec": cfg.max_peers,
        "max_connec_per_torrent": -1,
        "max_uploads": cfg.upload_slots,
        "max_uploads_per_torrent": -1,
        "up_limit": cfg.max_upload_rate.unwrap_or(0),
        "dl_limit": cfg.max_download_rate.unwrap_or(0),
        "alt_up_limit": 0,
        "alt_dl_limit": 0,
        "scheduler_enabled": false,
        "web_ui_address": "",
        "web_ui_port": api.setup.listen.first().map_or(0, |a| a.port()),
        "bypass_local_auth": !api.auth.password_required(),
        "locale": "en",
    })
}

/// `app/setPreferences`: form field `json` holding the keys to change.
fn set_preferences(
    api: &mut ApiService,
    engine: &mut Engine,
    call: &Call<'_>,
) -> Result<(), ApiError> {
    let raw = call.params.require("json")?;
    let prefs: Map<String, Value> =
        serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("json: {e}")))?;
    let number = |key: &str| -> Result<Option<f64>, ApiError> {
        match prefs.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| ApiError::bad(format!("{key} must be a number"))),
        }
    };
    let flag = |key: &str| prefs.get(key).and_then(Value::as_bool);
    // Everything is checked before anything changes.
    let save_path = match prefs.get("save_path") {
        Some(Value::String(p)) => {
            let p = std::path::PathBuf::from(p);
            api.check_path("save_path", &p)?;
            Some(p)
        }
        Some(_) => return Err(ApiError::bad("save_path must be a string")),
        None => None,
    };
    let rate = |v: Option<f64>| v.map(|r| (r >= 1.0).then_some(r as u64));
    let up = rate(number("up_limit")?);
    let down = rate(number("dl_limit")?);
    let (ratio, ratio_on) = (number("max_ratio")?, flag("max_ratio_enabled"));
    let (time, time_on) = (
        number("max_seeding_time")?,
        flag("max_seeding_time_enabled"),
    );
    let action = match number("max_ratio_act")? {
        None => None,
        Some(0.0) => Some(ShareAction::Pause),
        Some(1.0) => Some(ShareAction::Remove),
        Some(_) => {
            return Err(ApiError::bad(
                "max_ratio_act: hivebt can stop (0) or remove (1) a torrent at its share limit",
            ));
        }
    };
    let queueing = flag("queueing_enabled");
    let cap = |key: &str| -> Result<Option<Option<usize>>, ApiError> {
        Ok(number(key)?.map(|n| (n >= 0.0).then_some(n as usize)))
    };
    let (max_down, max_up) = (cap("max_active_downloads")?, cap("max_active_uploads")?);

    let s = &mut api.setup;
    if let Some(p) = save_path {
        s.data_dir = p;
    }
    if up.is_some() || down.is_some() {
        let cfg = &engine.config;
        let up = up.unwrap_or(cfg.max_upload_rate);
        let down = down.unwrap_or(cfg.max_download_rate);
        engine.set_rate_limits(up, down, call.now);
    }
    if let Some(r) = share_limit(s.ratio_limit.is_some(), ratio_on, ratio) {
        s.ratio_limit = r;
    }
    if let Some(t) = share_limit(s.seed_time_limit.is_some(), time_on, time) {
        s.seed_time_limit = t.map(|minutes| (minutes as u64).saturating_mul(60));
    }
    if let Some(a) = action {
        s.share_action = a;
    }
    if queueing == Some(false) {
        s.max_active_downloads = None;
        s.max_active_seeds = None;
    } else if queueing == Some(true)
        || s.max_active_downloads.is_some()
        || s.max_active_seeds.is_some()
    {
        if let Some(c) = max_down {
            s.max_active_downloads = c;
        }
        if let Some(c) = max_up {
            s.max_active_seeds = c;
        }
    }
    Ok(())
}

/// The change a `*_enabled` flag and its value make to a share limit that is set
/// (`enabled_now`) or not: `None` leaves it, `Some(None)` clears it. A negative value
/// is "no limit"; a value alone changes a limit only while one is set.
fn share_limit(enabled_now: bool, on: Option<bool>, value: Option<f64>) -> Option<Option<f64>> {
    match (on, value) {
        (Some(false), _) => Some(None),
        (_, Some(v)) if v < 0.0 => Some(None),
        (Some(true), Some(v)) => Some(Some(v)),
        (None, Some(v)) if enabled_now => Some(Some(v)),
        _ => None,
    }
}

/// `transfer/info` (and the core of `sync/maindata`'s `server_state`).
#[derive(Serialize, Clone, PartialEq)]
pub(super) struct TransferInfo {
    pub dl_info_speed: u64,
    pub dl_info_data: u64,
    pub up_info_speed: u64,
    pub up_info_data: u64,
    pub dl_rate_limit: u64,
    pub up_rate_limit: u64,
    pub dht_nodes: u32,
    pub connection_status: &'static str,
}

pub(super) fn transfer_info(api: &mut ApiService, engine: &Engine) -> TransferInfo {
    let api = api.fresh(engine);
    let (mut up, mut down, mut sent, mut got) = (0, 0, 0, 0);
    for v in &api.snapshot().torrents {
        up += v.up_rate;
        down += v.down_rate;
        sent += v.uploaded;
        got += v.downloaded;
    }
    TransferInfo {
        dl_info_speed: down,
        dl_info_data: got,
        up_info_speed: up,
        up_info_data: sent,
        dl_rate_limit: engine.config.max_download_rate.unwrap_or(0),
        up_rate_limit: engine.config.max_upload_rate.unwrap_or(0),
        dht_nodes: engine.dht_status().map_or(0, |d| d.nodes as u32),
        connection_status: if engine.listen_port.is_some() {
            "connected"
        } else {
            "firewalled"
        },
    }
}
