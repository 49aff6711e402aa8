//! The torrent methods: `torrent-get`, `torrent-add`, `torrent-remove`, the actions
//! (`torrent-start`, `-start-now`, `-stop`, `-verify`, `-reannounce`), `torrent-set`
//! and `free-space`. Each goes through the session's calls, so a change is answered
//! once it is in the state directory, as in the native API.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Map, Value};

use super::fields::{self, Context, Field, Fields, Row};
use super::ids::{RECENT, RpcId, Selector, parse_selector};
use super::session::SPEED_K;
use super::{Answer, Call, Outcome, arg_bool, arg_ratio, arg_u64, rpc_answer, rpc_error};
use crate::api::service::{AddOptions, AddSource, ApiAnswer, Entry, unix_now};
use crate::api::v1::check_limits;
use crate::engine::TorrentView;
use crate::engine::store::TorrentLimits;
use crate::torrent::state::TorrentState;
use crate::types::{InfoHash, TorrentId};
use crate::wire::magnet::is_magnet_link;

/// The `torrents` of a `torrent-get` answer: objects, or a table whose first row
/// holds the field names.
struct TorrentList<'a> {
    names: Option<Vec<&'a str>>,
    rows: Vec<Fields<'a>>,
}

impl Serialize for TorrentList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let header = usize::from(self.names.is_some());
        let mut seq = s.serialize_seq(Some(self.rows.len() + header))?;
        if let Some(names) = &self.names {
            seq.serialize_element(names)?;
        }
        for row in &self.rows {
            seq.serialize_element(row)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct GetArguments<'a> {
    torrents: TorrentList<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<Vec<RpcId>>,
}

impl Call<'_> {
    /// The torrents the `ids` argument names (every one without it), by id, with
    /// their engine ids.
    fn targets(&self) -> Vec<(RpcId, InfoHash, TorrentId)> {
        let ids = self.api.transmission.ids.borrow();
        let chosen: Vec<(RpcId, InfoHash)> = match parse_selector(self.args.get("ids")) {
            Selector::All | Selector::Recent => ids.all().collect(),
            Selector::Some(keys) => ids.resolve(&keys),
        };
        chosen
            .into_iter()
            .filter_map(|(id, h)| Some((id, h, self.engine.find(&h)?)))
            .collect()
    }

    pub(super) fn torrent_get(&mut self) -> Outcome {
        let Some(Value::Array(asked)) = self.args.get("fields") else {
            let empty = serde_json::json!({"torrents": []});
            let answer = rpc_answer(
                "no fields specified",
                &empty,
                self.tag,
                self.reply.keep_alive,
            );
            return Ok(ApiAnswer::Now(answer));
        };
        let selected = fields::select(asked.iter().filter_map(Value::as_str));
        let table = self.args.get("format").and_then(Value::as_str) == Some("table");
        let selector = parse_selector(self.args.get("ids"));
        let (engine, now) = (&*self.engine, self.now);
        let api = self.api.fresh(engine);
        let ids = api.transmission.ids.borrow();
        let views: HashMap<InfoHash, &TorrentView> = api
            .snapshot()
            .torrents
            .iter()
            .map(|v| (v.info_hash, v))
            .collect();
        let chosen: Vec<(RpcId, InfoHash)> = match &selector {
            Selector::Some(keys) => ids.resolve(keys),
            Selector::All | Selector::Recent => ids.all().collect(),
        };
        let unix = unix_now();
        let recent = |v: &TorrentView, e: &Entry| {
            v.down_rate > 0
                || v.up_rate > 0
                || matches!(v.state, TorrentState::Checking { .. })
                || unix.saturating_sub(e.record.added_at) < RECENT.as_secs()
        };
        let positions = if selected.iter().any(|(_, f)| *f == Field::QueuePosition) {
            ids.all()
                .enumerate()
                .map(|(pos, (id, _))| (id, pos))
                .collect()
        } else {
            HashMap::new()
        };
        let ctx = Context {
            engine,
            now,
            unix_now: unix,
            ratio_limit: api.setup.ratio_limit,
            seed_time_limit: api.setup.seed_time_limit,
            state_dir: &api.setup.state_dir,
            positions,
        };
        let rows: Vec<Fields> = chosen
            .iter()
            .filter_map(|(id, hash)| {
                let (view, entry) = (*views.get(hash)?, api.entries.get(hash)?);
                if selector == Selector::Recent && !recent(view, entry) {
                    return None;
                }
                Some(Fields {
                    fields: &selected,
                    row: Row {
                        id: *id,
                        view,
                        entry,
                    },
                    ctx: &ctx,
                    table,
                })
            })
            .collect();
        let arguments = GetArguments {
            torrents: TorrentList {
                names: table.then(|| selected.iter().map(|(n, _)| *n).collect()),
                rows,
            },
            removed: (selector == Selector::Recent).then(|| ids.removed()),
        };
        // Most asks are a few hundred bytes a torrent: one allocation for most lists.
        let mut body = Vec::with_capacity(64 + arguments.torrents.rows.len() * 256);
        let result = serde_json::to_writer(
            &mut body,
            &Answer {
                arguments: &arguments,
                result: "success",
                tag: self.tag,
            },
        );
        if let Err(e) = result {
            return Err(format!("cannot write the list: {e}"));
        }
        let keep_alive = self.reply.keep_alive;
        Ok(ApiAnswer::Now(crate::api::response(
            200,
            super::JSON,
            "",
            &body,
            keep_alive,
        )))
    }

    pub(super) fn torrent_add(&mut self) -> Outcome {
        let args = self.args;
        let source = match (
            args.get("filename").and_then(Value::as_str),
            args.get("metainfo").and_then(Value::as_str),
        ) {
            (_, Some(b64)) => AddSource::Bytes(
                super::basic::base64_decode(b64)
                    .ok_or("invalid or corrupt torrent file: metainfo is not base64")?,
            ),
            (Some(f), None) if is_magnet_link(f) => AddSource::Magnet(f.to_string()),
            (Some(f), None) if f.contains("://") => {
                return Err(
                    "fetching a .torrent from a URL is not supported: send its contents as metainfo"
                        .into(),
                );
            }
            (Some(f), None) => {
                let path = PathBuf::from(f);
                if !path.is_absolute() {
                    return Err("filename must be an absolute path".into());
                }
                AddSource::Path(path)
            }
            (None, None) => return Err("no filename or metainfo specified".into()),
        };
        let labels = match args.get("labels") {
            None => Vec::new(),
            Some(v) => string_list(v).ok_or("labels must be a list of strings")?,
        };
        let mut limits = TorrentLimits::default();
        if let Some(v) = args.get("peer-limit") {
            let n = v.as_u64().and_then(|n| u32::try_from(n).ok());
            limits.max_connections = Some(n.ok_or("peer-limit must be a whole number")?);
        }
        check_limits(&limits).map_err(|e| e.message)?;
        let options = AddOptions {
            save_path: args
                .get("download-dir")
                .and_then(Value::as_str)
                .map(PathBuf::from),
            paused: args.get("paused").and_then(Value::as_bool).unwrap_or(false),
            labels,
            limits,
            ..AddOptions::default()
        };
        self.api
            .start_add(self.engine, source, options, Some(self.reply), None)
            .map_err(|e| e.message)?;
        self.api.transmission.keep_tag(self.reply.conn, self.tag);
        Ok(ApiAnswer::Later)
    }

    pub(super) fn torrent_remove(&mut self) -> Outcome {
        let delete = self
            .args
            .get("delete-local-data")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let targets = self.targets();
        let answer = self.success_bytes();
        let last = targets.len().saturating_sub(1);
        for (i, (_, hash, id)) in targets.into_iter().enumerate() {
            // The answer goes with the last removal, once the store has it.
            let (reply, answer) = if i == last {
                (Some(self.reply), answer.clone())
            } else {
                (None, Vec::new())
            };
            self.api
                .remove(self.engine, hash, id, delete, reply, answer);
            if i == last {
                return Ok(ApiAnswer::Later);
            }
        }
        Ok(ApiAnswer::Now(answer))
    }

    pub(super) fn set_paused(&mut self, paused: bool) -> Outcome {
        let targets = self.targets();
        for (_, hash, id) in &targets {
            self.api
                .set_paused(self.engine, hash, *id, paused, self.now);
        }
        self.persist_all(targets.into_iter().map(|(_, h, _)| h).collect())
    }

    pub(super) fn verify(&mut self) -> Outcome {
        for (_, _, id) in self.targets() {
            // One checking already, or writing pieces: Transmission answers success
            // for those too.
            let _ = crate::api::service::ApiService::recheck(self.engine, id, self.now);
        }
        Ok(ApiAnswer::Now(self.success_bytes()))
    }

    pub(super) fn reannounce(&mut self) -> Outcome {
        for (_, _, id) in self.targets() {
            // Paused, without trackers or announced moments ago: nothing to do.
            let _ = crate::api::service::ApiService::reannounce(self.engine, id, self.now);
        }
        Ok(ApiAnswer::Now(self.success_bytes()))
    }

    /// `torrent-set`: rate, connection and ratio limits, and labels. Every torrent's
    /// new limits are checked before any is changed.
    pub(super) fn torrent_set(&mut self) -> Outcome {
        let args = self.args;
        if args.contains_key("location") {
            return Err("moving a torrent's data is not supported yet".into());
        }
        let labels = match args.get("labels") {
            None => None,
            Some(v) => Some(string_list(v).ok_or("labels must be a list of strings")?),
        };
        let change = LimitChange::parse(args)?;
        let global_ratio = self.api.setup.ratio_limit;
        let targets = self.targets();
        let mut changed = Vec::with_capacity(targets.len());
        for (_, hash, _) in &targets {
            let Some(entry) = self.api.entries.get(hash) else {
                continue;
            };
            let limits = change.apply(&entry.record.limits, global_ratio)?;
            check_limits(&limits).map_err(|e| e.message)?;
            changed.push((*hash, limits));
        }
        for (hash, limits) in &changed {
            self.api
                .set_limits(self.engine, hash, limits.clone(), self.now)
                .map_err(|e| e.message)?;
            if let (Some(labels), Some(entry)) = (&labels, self.api.entries.get_mut(hash)) {
                entry.record.labels = labels.clone();
            }
        }
        self.persist_all(changed.into_iter().map(|(h, _)| h).collect())
    }

    pub(super) fn free_space(&mut self) -> Outcome {
        let path = match self.args.get("path") {
            Some(Value::String(p)) => PathBuf::from(p),
            _ => return Err("free-space needs a path".into()),
        };
        self.api.check_path("path", &path).map_err(|e| e.message)?;
        let (tag, keep_alive) = (self.tag, self.reply.keep_alive);
        // statvfs(2) of a network mount can take its time: on a worker.
        self.api
            .answer_later(self.engine, self.reply, move || match free_space(&path) {
                Ok((free, total)) => {
                    let args = serde_json::json!({
                        "path": path, "size-bytes": free, "total_size": total,
                    });
                    rpc_answer("success", &args, tag, keep_alive)
                }
                Err(e) => rpc_error(&format!("{}: {e}", path.display()), tag, keep_alive),
            });
        Ok(ApiAnswer::Later)
    }

    /// An empty success answer.
    fn success_bytes(&self) -> Vec<u8> {
        rpc_answer("success", &Map::new(), self.tag, self.reply.keep_alive)
    }

    /// Writes the records of `hashes`, answering success with the last write (now,
    /// when there is none).
    fn persist_all(&mut self, hashes: Vec<InfoHash>) -> Outcome {
        let answer = self.success_bytes();
        let Some((&last, rest)) = hashes.split_last() else {
            return Ok(ApiAnswer::Now(answer));
        };
        for &hash in rest {
            self.api.persist(self.engine, hash, None, Vec::new());
        }
        self.api
            .persist(self.engine, last, Some(self.reply), answer);
        Ok(ApiAnswer::Later)
    }
}

/// A list of strings, or `None` when it is something else.
fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(String::from))
        .collect()
}

/// The limit keys of a `torrent-set`, read once and applied to each torrent.
#[derive(Debug, Default, PartialEq)]
struct LimitChange {
    upload_kb: Option<u64>,
    upload_limited: Option<bool>,
    download_kb: Option<u64>,
    download_limited: Option<bool>,
    peer_limit: Option<u32>,
    ratio: Option<f64>,
    ratio_mode: Option<u64>,
}

impl LimitChange {
    fn parse(args: &Map<String, Value>) -> Result<LimitChange, String> {
        let number = |key: &str| arg_u64(args, key);
        let flag = |key: &str| arg_bool(args, key);
        let ratio = arg_ratio(args)?;
        let peer_limit = number("peer-limit")?
            .map(|n| u32::try_from(n).map_err(|_| "peer-limit is too large".to_string()))
            .transpose()?;
        Ok(LimitChange {
            upload_kb: number("uploadLimit")?,
            upload_limited: flag("uploadLimited")?,
            download_kb: number("downloadLimit")?,
            download_limited: flag("downloadLimited")?,
            peer_limit,
            ratio,
            ratio_mode: number("seedRatioMode")?,
        })
    }

    /// The limits `old` become. A rate limit is on once `*Limited` is true (at its
    /// `*Limit`, or 100 kB/s, Transmission's default), off once false; a `*Limit`
    /// alone changes one that is on. `seedRatioMode` 0 follows the session, 1 this
    /// torrent's `seedRatioLimit`, 2 (never stop) only when the session has no limit
    /// to override.
    fn apply(
        &self,
        old: &TorrentLimits,
        global_ratio: Option<f64>,
    ) -> Result<TorrentLimits, String> {
        let mut l = old.clone();
        let rate = |rate: &mut Option<u64>, kb: Option<u64>, limited: Option<bool>| {
            let current = rate.map(|r| r.div_ceil(SPEED_K));
            let kb = kb.or(current).unwrap_or(100);
            match limited {
                Some(true) => *rate = Some(kb * SPEED_K),
                Some(false) => *rate = None,
                None if rate.is_some() => *rate = Some(kb * SPEED_K),
                None => {}
            }
        };
        rate(&mut l.max_upload_rate, self.upload_kb, self.upload_limited);
        rate(
            &mut l.max_download_rate,
            self.download_kb,
            self.download_limited,
        );
        if let Some(n) = self.peer_limit {
            l.max_connections = Some(n);
        }
        match self.ratio_mode {
            None if l.ratio_limit.is_some() => l.ratio_limit = self.ratio.or(l.ratio_limit),
            None | Some(0) => {}
            Some(1) => {
                l.ratio_limit = Some(self.ratio.or(l.ratio_limit).or(global_ratio).unwrap_or(2.0))
            }
            Some(2) if global_ratio.is_none() => l.ratio_limit = None,
            Some(2) => {
                return Err(
                    "seedRatioMode 2 (seed regardless of ratio) cannot override the session's ratio limit here"
                        .into(),
                );
            }
            Some(m) => return Err(format!("seedRatioMode {m} is not 0, 1 or 2")),
        }
        if self.ratio_mode == Some(0) {
            l.ratio_limit = None;
        }
        Ok(l)
    }
}

/// Free and total bytes of the file system holding `path`.
fn free_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated path and `st` a plain struct statvfs fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unit = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * unit, st.f_blocks as u64 * unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(v: Value) -> LimitChange {
        LimitChange::parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn rate_limits_turn_on_and_off_in_kilobytes() {
        let none = TorrentLimits::default();
        let on = change(json!({"downloadLimit": 10, "downloadLimited": true}))
            .apply(&none, None)
            .unwrap();
        assert_eq!(on.max_download_rate, Some(10_000));
        let off = change(json!({"downloadLimited": false}))
            .apply(&on, None)
            .unwrap();
        assert_eq!(off.max_download_rate, None);
        let alone = change(json!({"uploadLimit": 5}))
            .apply(&none, None)
            .unwrap();
        assert_eq!(
            alone.max_upload_rate, None,
            "a number alone does not switch it on"
        );
        let default = change(json!({"uploadLimited": true}))
            .apply(&none, None)
            .unwrap();
        assert_eq!(default.max_upload_rate, Some(100_000));
        assert!(LimitChange::parse(json!({"uploadLimit": "x"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn ratio_modes_follow_transmission() {
        let none = TorrentLimits::default();
        let own = change(json!({"seedRatioLimit": 1.5, "seedRatioMode": 1}))
            .apply(&none, Some(3.0))
            .unwrap();
        assert_eq!(own.ratio_limit, Some(1.5));
        let global = change(json!({"seedRatioMode": 0}))
            .apply(&own, Some(3.0))
            .unwrap();
        assert_eq!(global.ratio_limit, None);
        let changed = change(json!({"seedRatioLimit": 4.0}))
            .apply(&own, None)
            .unwrap();
        assert_eq!(changed.ratio_limit, Some(4.0));
        let ignored = change(json!({"seedRatioLimit": 4.0}))
            .apply(&none, None)
            .unwrap();
        assert_eq!(
            ignored.ratio_limit, None,
            "mode 0 keeps following the session"
        );
        assert!(
            change(json!({"seedRatioMode": 2}))
                .apply(&own, Some(3.0))
                .is_err()
        );
        assert_eq!(
            change(json!({"seedRatioMode": 2}))
                .apply(&own, None)
                .unwrap()
                .ratio_limit,
            None
        );
        assert!(
            change(json!({"seedRatioMode": 7}))
                .apply(&none, None)
                .is_err()
        );
        assert!(LimitChange::parse(json!({"seedRatioLimit": -1}).as_object().unwrap()).is_err());
    }

    #[test]
    fn free_space_reads_the_file_system() {
        let (free, total) = free_space(std::path::Path::new("/")).unwrap();
        assert!(total > 0 && free <= total);
        assert!(free_space(std::path::Path::new("/no/such/dir")).is_err());
    }
}
