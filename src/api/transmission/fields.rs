//! `torrent-get`'s fields: the names Transmission clients ask for (current and
//! legacy), what each means here, and the serializer that writes the asked ones of
//! each torrent straight from the engine's views and the session records, in either
//! of the two formats (`objects`, `table`): a list of 10,000 torrents builds no JSON
//! tree. Names nobody here knows are ignored, as Transmission does.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::json;

use super::ids::RpcId;
use crate::api::service::{Entry, progress};
use crate::engine::PeerInfo;
use crate::engine::store;
use crate::engine::{Engine, TorrentView};
use crate::torrent::state::{Torrent, TorrentState};
use crate::tracker::client::TrackerState;

/// The fields `torrent-get` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    ActivityDate,
    AddedDate,
    BandwidthPriority,
    Comment,
    CorruptEver,
    Creator,
    DateCreated,
    DesiredAvailable,
    DoneDate,
    DownloadDir,
    DownloadedEver,
    DownloadLimit,
    DownloadLimited,
    EditDate,
    Error,
    ErrorString,
    Eta,
    EtaIdle,
    FileCount,
    Files,
    FileStats,
    Group,
    HashString,
    HaveUnchecked,
    HaveValid,
    HonorsSessionLimits,
    Id,
    IsFinished,
    IsPrivate,
    IsStalled,
    Labels,
    LeftUntilDone,
    MagnetLink,
    ManualAnnounceTime,
    MaxConnectedPeers,
    MetadataPercentComplete,
    Name,
    Peers,
    PeersConnected,
    PeersFrom,
    PeersGettingFromUs,
    PeersSendingToUs,
    PercentComplete,
    PercentDone,
    Pieces,
    PieceCount,
    PieceSize,
    Priorities,
    PrimaryMimeType,
    QueuePosition,
    RateDownload,
    RateUpload,
    RecheckProgress,
    SecondsDownloading,
    SecondsSeeding,
    SeedIdleLimit,
    SeedIdleMode,
    SeedRatioLimit,
    SeedRatioMode,
    SequentialDownload,
    SizeWhenDone,
    StartDate,
    Status,
    TorrentFile,
    TotalSize,
    TrackerList,
    Trackers,
    TrackerStats,
    UploadedEver,
    UploadLimit,
    UploadLimited,
    UploadRatio,
    Wanted,
    Webseeds,
    WebseedsSendingToUs,
}

/// Every name a client may ask for, with the field it means: the RPC 17 names, and
/// older or other spellings clients still send (`fileCount` for `file-count`,
/// `maxConnectedPeers` for `peer-limit`, `peersKnown`).
const NAMES: &[(&str, Field)] = {
    use Field::*;
    &[
        ("activityDate", ActivityDate),
        ("addedDate", AddedDate),
        ("bandwidthPriority", BandwidthPriority),
        ("comment", Comment),
        ("corruptEver", CorruptEver),
        ("creator", Creator),
        ("dateCreated", DateCreated),
        ("desiredAvailable", DesiredAvailable),
        ("doneDate", DoneDate),
        ("downloadDir", DownloadDir),
        ("downloadedEver", DownloadedEver),
        ("downloadLimit", DownloadLimit),
        ("downloadLimited", DownloadLimited),
        ("editDate", EditDate),
        ("error", Error),
        ("errorString", ErrorString),
        ("eta", Eta),
        ("etaIdle", EtaIdle),
        ("file-count", FileCount),
        ("fileCount", FileCount),
        ("files", Files),
        ("fileStats", FileStats),
        ("group", Group),
        ("hashString", HashString),
        ("haveUnchecked", HaveUnchecked),
        ("haveValid", HaveValid),
        ("honorsSessionLimits", HonorsSessionLimits),
        ("id", Id),
        ("isFinished", IsFinished),
        ("isPrivate", IsPrivate),
        ("isStalled", IsStalled),
        ("labels", Labels),
        ("leftUntilDone", LeftUntilDone),
        ("magnetLink", MagnetLink),
        ("manualAnnounceTime", ManualAnnounceTime),
        ("maxConnectedPeers", MaxConnectedPeers),
        ("peer-limit", MaxConnectedPeers),
        ("metadataPercentComplete", MetadataPercentComplete),
        ("name", Name),
        ("peers", Peers),
        ("peersConnected", PeersConnected),
        ("peersKnown", PeersConnected),
        ("peersFrom", PeersFrom),
        ("peersGettingFromUs", PeersGettingFromUs),
        ("peersSendingToUs", PeersSendingToUs),
        ("percentComplete", PercentComplete),
        ("percentDone", PercentDone),
        ("pieces", Pieces),
        ("pieceCount", PieceCount),
        ("pieceSize", PieceSize),
        ("priorities", Priorities),
        ("primary-mime-type", PrimaryMimeType),
        ("queuePosition", QueuePosition),
        ("rateDownload", RateDownload),
        ("rateUpload", RateUpload),
        ("recheckProgress", RecheckProgress),
        ("secondsDownloading", SecondsDownloading),
        ("secondsSeeding", SecondsSeeding),
        ("seedIdleLimit", SeedIdleLimit),
        ("seedIdleMode", SeedIdleMode),
        ("seedRatioLimit", SeedRatioLimit),
        ("seedRatioMode", SeedRatioMode),
        ("sequentialDownload", SequentialDownload),
        ("sizeWhenDone", SizeWhenDone),
        ("startDate", StartDate),
        ("status", Status),
        ("torrentFile", TorrentFile),
        ("totalSize", TotalSize),
        ("trackerList", TrackerList),
        ("trackers", Trackers),
        ("trackerStats", TrackerStats),
        ("uploadedEver", UploadedEver),
        ("uploadLimit", UploadLimit),
        ("uploadLimited", UploadLimited),
        ("uploadRatio", UploadRatio),
        ("wanted", Wanted),
        ("webseeds", Webseeds),
        ("webseedsSendingToUs", WebseedsSendingToUs),
    ]
};

/// The fields asked for, each under the name it was asked by, in the order asked;
/// unknown names and repeats left out.
pub(crate) fn select<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, Field)> {
    let mut out: Vec<(&'a str, Field)> = Vec::new();
    for name in names {
        let known = NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
        if let Some(f) = known {
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, f));
            }
        }
    }
    out
}

/// Transmission's `status`: 0 stopped, 1 queued to check, 2 checking, 3 queued to
/// download, 4 downloading, 5 queued to seed, 6 seeding. A torrent stopped by an
/// error is stopped (its `error` says why); one fetching metadata is downloading.
pub(crate) fn status(state: &TorrentState, complete: bool, queued: bool) -> u8 {
    match state {
        TorrentState::Paused if queued => {
            if complete {
                5
            } else {
                3
            }
        }
        TorrentState::Paused | TorrentState::Failed(_) => 0,
        TorrentState::Checking { .. } => 2,
        TorrentState::FetchingMetadata => 4,
        TorrentState::Active if complete => 6,
        TorrentState::Active => 4,
    }
}

/// Transmission's `eta` in seconds: while downloading, the bytes left over the rate,
/// or -2 (unknown) with no rate; otherwise -1 (not available).
pub(crate) fn eta(status: u8, left: u64, down_rate: u64) -> i64 {
    match (status, down_rate) {
        (4, 0) => -2,
        (4, rate) => i64::try_from(left / rate).unwrap_or(i64::MAX),
        _ => -1,
    }
}

/// What a row needs besides its torrent: the engine (for metainfo, files, peers and
/// trackers), the time, the session's defaults.
pub(crate) struct Context<'a> {
    pub engine: &'a Engine,
    pub now: Instant,
    pub unix_now: u64,
    pub ratio_limit: Option<f64>,
    pub seed_time_limit: Option<u64>,
    pub state_dir: &'a Path,
    /// Each torrent's place in the queue (add order), when `queuePosition` is asked.
    pub positions: HashMap<RpcId, usize>,
}

/// One torrent of a `torrent-get` answer.
pub(crate) struct Row<'a> {
    pub id: RpcId,
    pub view: &'a TorrentView,
    pub entry: &'a Entry,
}

/// The asked fields of one torrent, serialized as an object (`objects`) or an array
/// (a row of `table`).
pub(crate) struct Fields<'a> {
    pub fields: &'a [(&'a str, Field)],
    pub row: Row<'a>,
    pub ctx: &'a Context<'a>,
    pub table: bool,
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let facts = Facts::of(&self.row, self.ctx);
        if self.table {
            let mut seq = s.serialize_seq(Some(self.fields.len()))?;
            for (_, f) in self.fields {
                facts.emit(*f, &mut SeqOut(&mut seq))?;
            }
            seq.end()
        } else {
            let mut map = s.serialize_map(Some(self.fields.len()))?;
            for (name, f) in self.fields {
                facts.emit(*f, &mut MapOut(&mut map, name))?;
            }
            map.end()
        }
    }
}

/// Where [`Facts::emit`] writes one value: an object entry or a table cell.
trait Out {
    type Error;
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error>;
}

struct MapOut<'m, M>(&'m mut M, &'m str);

impl<M: SerializeMap> Out for MapOut<'_, M> {
    type Error = M::Error;
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
        self.0.serialize_entry(self.1, value)
    }
}

struct SeqOut<'m, Q>(&'m mut Q);

impl<Q: SerializeSeq> Out for SeqOut<'_, Q> {
    type Error = Q::Error;
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Q::Error> {
        self.0.serialize_element(value)
    }
}

/// A file of `files`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileObject<'a> {
    bytes_completed: u64,
    length: u64,
    name: &'a str,
}

/// A file of `fileStats`: every file is wanted, at normal priority.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileStat {
    bytes_completed: u64,
    wanted: bool,
    priority: i32,
}

/// A peer of `peers`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerObject<'a> {
    address: String,
    client_name: &'a str,
    client_is_choked: bool,
    client_is_interested: bool,
    flag_str: String,
    is_downloading_from: bool,
    is_encrypted: bool,
    is_incoming: bool,
    is_uploading_to: bool,
    #[serde(rename = "isUTP")]
    is_utp: bool,
    peer_is_choked: bool,
    peer_is_interested: bool,
    port: u16,
    progress: f64,
    rate_to_client: u64,
    rate_to_peer: u64,
}

impl<'a> PeerObject<'a> {
    /// From the engine's view, whose flags are `D`/`d` (we are interested, unchoked
    /// or choked by it), `U`/`u` (it is interested, unchoked or choked by us), `I`
    /// (it dialled us).
    fn of(p: &'a PeerInfo) -> PeerObject<'a> {
        let has = |c| p.flags.contains(c);
        PeerObject {
            address: p.addr.ip().to_string(),
            client_name: &p.client,
            client_is_choked: !has('D'),
            client_is_interested: has('D') || has('d'),
            flag_str: p.flags.chars().filter(|c| *c != 'O').collect(),
            is_downloading_from: has('D') && p.down_rate > 0,
            is_encrypted: false,
            is_incoming: has('I'),
            is_uploading_to: has('U') && p.up_rate > 0,
            is_utp: false,
            peer_is_choked: !has('U'),
            peer_is_interested: has('U') || has('u'),
            port: p.addr.port(),
            progress: p.progress,
            rate_to_client: p.down_rate,
            rate_to_peer: p.up_rate,
        }
    }
}

/// A tracker of `trackers`.
#[derive(Serialize)]
struct TrackerObject<'a> {
    announce: &'a str,
    id: usize,
    scrape: &'a str,
    sitename: &'a str,
    tier: usize,
}

/// A tracker of `trackerStats` (scrapes are not made: their fields are zero).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrackerStat<'a> {
    announce: &'a str,
    announce_state: u8,
    download_count: i64,
    has_announced: bool,
    has_scraped: bool,
    host: &'a str,
    id: usize,
    is_backup: bool,
    last_announce_peer_count: u64,
    last_announce_result: &'a str,
    last_announce_start_time: u64,
    last_announce_succeeded: bool,
    last_announce_time: u64,
    last_announce_timed_out: bool,
    last_scrape_result: &'a str,
    last_scrape_start_time: u64,
    last_scrape_succeeded: bool,
    last_scrape_time: u64,
    last_scrape_timed_out: bool,
    leecher_count: i64,
    next_announce_time: u64,
    next_scrape_time: u64,
    scrape: &'a str,
    scrape_state: u8,
    seeder_count: i64,
    sitename: &'a str,
    tier: usize,
}

/// The host of a tracker URL (`udp://tracker.example:6969/announce` gives
/// `tracker.example`).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    }
}

/// The figures of one row, worked out once, and the per-torrent lists some fields
/// share, built when the first of them is asked.
struct Facts<'a> {
    row: &'a Row<'a>,
    ctx: &'a Context<'a>,
    torrent: Option<&'a Torrent>,
    size: u64,
    left: u64,
    uploaded: u64,
    downloaded: u64,
    status: u8,
    error: Option<&'a str>,
    peers: OnceCell<Vec<PeerInfo>>,
    files: OnceCell<Vec<crate::engine::FileView>>,
}

impl<'a> Facts<'a> {
    fn of(row: &'a Row<'a>, ctx: &'a Context<'a>) -> Facts<'a> {
        let (v, e) = (row.view, row.entry);
        let size = v.total_bytes;
        let left = size - v.bytes_done.min(size);
        Facts {
            row,
            ctx,
            torrent: ctx.engine.torrent_ref(v.id),
            size,
            left,
            uploaded: e.record.uploaded + v.uploaded.saturating_sub(e.seen_up),
            downloaded: e.record.downloaded + v.downloaded.saturating_sub(e.seen_down),
            status: status(&v.state, v.is_complete(), e.queued),
            error: match &v.state {
                TorrentState::Failed(why) => Some(why),
                _ => None,
            },
            peers: OnceCell::new(),
            files: OnceCell::new(),
        }
    }

    fn peers(&self) -> &[PeerInfo] {
        self.peers.get_or_init(|| {
            let v = self.row.view;
            if v.peers == 0 {
                return Vec::new();
            }
            self.ctx.engine.peers_of(v.id).unwrap_or_default()
        })
    }

    fn files(&self) -> &[crate::engine::FileView] {
        self.files
            .get_or_init(|| self.ctx.engine.files(self.row.view.id).unwrap_or_default())
    }

    /// The torrent's own ratio limit, or the session's.
    fn ratio_limit(&self) -> Option<f64> {
        self.row
            .entry
            .record
            .limits
            .ratio_limit
            .or(self.ctx.ratio_limit)
    }

    /// Done seeding: complete, stopped, and a share limit reached.
    fn is_finished(&self) -> bool {
        let r = &self.row.entry.record;
        let ratio_hit = self
            .ratio_limit()
            .is_some_and(|l| self.uploaded as f64 / self.size.max(1) as f64 >= l);
        let time = r.limits.seed_time_limit.or(self.ctx.seed_time_limit);
        let time_hit = time.is_some_and(|t| r.seeding_secs >= t);
        self.row.view.is_complete() && self.status == 0 && (ratio_hit || time_hit)
    }

    /// Tiers of announce URLs: `announce-list`, else `announce`.
    fn tiers(&self) -> Vec<Vec<&'a str>> {
        let Some(t) = self.torrent else {
            return Vec::new();
        };
        let meta = &*t.meta;
        if meta.announce_list.is_empty() {
            return meta.announce.iter().map(|a| vec![a.as_str()]).collect();
        }
        meta.announce_list
            .iter()
            .map(|tier| tier.iter().map(String::as_str).collect())
            .collect()
    }

    fn magnet(&self) -> String {
        let v = self.row.view;
        let mut m = format!("magnet:?xt=urn:btih:{}&dn=", v.info_hash.to_hex());
        crate::wire::percent::encode_into(v.name.as_bytes(), &mut m);
        for url in self.tiers().into_iter().flatten() {
            m.push_str("&tr=");
            crate::wire::percent::encode_into(url.as_bytes(), &mut m);
        }
        m
    }

    fn emit<O: Out>(&self, f: Field, out: &mut O) -> Result<(), O::Error> {
        use Field::*;
        let (v, r) = (self.row.view, &self.row.entry.record);
        let meta = self.torrent.map(|t| &*t.meta);
        let kb = |rate: Option<u64>| rate.map_or(0, |b| b.div_ceil(1000));
        match f {
            ActivityDate => {
                let busy = v.down_rate > 0 || v.up_rate > 0;
                out.put(&if busy {
                    self.ctx.unix_now
                } else {
                    r.completed_at.unwrap_or(r.added_at)
                })
            }
            AddedDate | StartDate => out.put(&r.added_at),
            BandwidthPriority | EditDate | ManualAnnounceTime | HaveUnchecked
            | SecondsDownloading | SeedIdleLimit | SeedIdleMode | WebseedsSendingToUs => {
                out.put(&0)
            }
            Comment => out.put(meta.and_then(|m| m.comment.as_deref()).unwrap_or("")),
            CorruptEver => {
                let piece = meta.map_or(0, |m| m.info.piece_length);
                out.put(&(u64::from(v.hash_failures) * piece))
            }
            Creator => out.put(meta.and_then(|m| m.created_by.as_deref()).unwrap_or("")),
            DateCreated => out.put(&meta.and_then(|m| m.creation_date).unwrap_or(0)),
            DesiredAvailable => out.put(&if v.seeds > 0 { self.left } else { 0 }),
            DoneDate => out.put(&r.completed_at.unwrap_or(0)),
            DownloadDir => out.put(&r.save_path),
            DownloadedEver => out.put(&self.downloaded),
            DownloadLimit => out.put(&kb(r.limits.max_download_rate)),
            DownloadLimited => out.put(&r.limits.max_download_rate.is_some()),
            Error => out.put(&if self.error.is_some() { 3 } else { 0 }),
            ErrorString => out.put(self.error.unwrap_or("")),
            Eta => out.put(&eta(self.status, self.left, v.down_rate)),
            EtaIdle => out.put(&-1),
            FileCount => {
                let files = self.torrent.map_or(0, |t| {
                    t.storage.layout.files.iter().filter(|f| !f.padding).count()
                });
                out.put(&files)
            }
            Files => {
                let files: Vec<FileObject> = self
                    .files()
                    .iter()
                    .map(|f| FileObject {
                        bytes_completed: f.done,
                        length: f.size,
                        name: &f.path,
                    })
                    .collect();
                out.put(&files)
            }
            FileStats => {
                let stats: Vec<FileStat> = self
                    .files()
                    .iter()
                    .map(|f| FileStat {
                        bytes_completed: f.done,
                        wanted: true,
                        priority: 0,
                    })
                    .collect();
                out.put(&stats)
            }
            Group => out.put(""),
            HashString => out.put(&v.info_hash.to_hex()),
            HaveValid => out.put(&v.bytes_done),
            HonorsSessionLimits => out.put(&true),
            Id => out.put(&self.row.id),
            IsFinished => out.put(&self.is_finished()),
            IsPrivate => out.put(&meta.is_some_and(|m| m.info.private)),
            IsStalled => out.put(&v.stalled.is_some()),
            Labels => out.put(&r.labels),
            LeftUntilDone => out.put(&self.left),
            MagnetLink => out.put(&self.magnet()),
            MaxConnectedPeers => {
                let cap = self.ctx.engine.config.limits.peers_per_torrent as u64;
                out.put(&r.limits.max_connections.map_or(cap, u64::from))
            }
            MetadataPercentComplete => {
                let fetching = v.state == TorrentState::FetchingMetadata;
                out.put(&if fetching { 0 } else { 1 })
            }
            Name => out.put(&v.name),
            Peers => {
                let peers: Vec<PeerObject> = self.peers().iter().map(PeerObject::of).collect();
                out.put(&peers)
            }
            PeersConnected => out.put(&v.peers),
            PeersFrom => out.put(&json!({
                "fromCache": 0, "fromDht": 0, "fromIncoming": 0, "fromLpd": 0,
                "fromLtep": 0, "fromPex": 0, "fromTracker": 0,
            })),
            PeersGettingFromUs => {
                let n = self.peers().iter().filter(|p| p.up_rate > 0).count();
                out.put(&n)
            }
            PeersSendingToUs => {
                let n = self.peers().iter().filter(|p| p.down_rate > 0).count();
                out.put(&n)
            }
            PercentComplete | PercentDone => out.put(&progress(v)),
            Pieces => {
                let bits = self.torrent.map(|t| t.have().as_wire()).unwrap_or(&[]);
                out.put(&crate::api::tasks::base64(bits))
            }
            PieceCount => out.put(&v.pieces),
            PieceSize => out.put(&meta.map_or(0, |m| m.info.piece_length)),
            Priorities => out.put(&vec![0; self.files().len()]),
            PrimaryMimeType => out.put("application/octet-stream"),
            QueuePosition => out.put(&self.ctx.positions.get(&self.row.id).copied().unwrap_or(0)),
            RateDownload => out.put(&v.down_rate),
            RateUpload => out.put(&v.up_rate),
            RecheckProgress => out.put(&match v.state {
                TorrentState::Checking { done, .. } => f64::from(done) / f64::from(v.pieces.max(1)),
                _ => 0.0,
            }),
            SecondsSeeding => out.put(&r.seeding_secs),
            SeedRatioLimit => out.put(&self.ratio_limit().unwrap_or(0.0)),
            SeedRatioMode => out.put(&if r.limits.ratio_limit.is_some() { 1 } else { 0 }),
            SequentialDownload => out.put(&false),
            SizeWhenDone | TotalSize => out.put(&self.size),
            Status => out.put(&self.status),
            TorrentFile => out.put(&store::torrent_path(self.ctx.state_dir, &v.info_hash)),
            TrackerList => {
                let tiers: Vec<String> = self.tiers().iter().map(|t| t.join("\n")).collect();
                out.put(&tiers.join("\n\n"))
            }
            Trackers => {
                let mut list = Vec::new();
                for (tier, urls) in self.tiers().into_iter().enumerate() {
                    for url in urls {
                        let id = list.len();
                        list.push(TrackerObject {
                            announce: url,
                            id,
                            scrape: "",
                            sitename: url_host(url),
                            tier,
                        });
                    }
                }
                out.put(&list)
            }
            TrackerStats => self.tracker_stats(out),
            UploadedEver => out.put(&self.uploaded),
            UploadLimit => out.put(&kb(r.limits.max_upload_rate)),
            UploadLimited => out.put(&r.limits.max_upload_rate.is_some()),
            UploadRatio => out.put(&(self.uploaded as f64 / self.size.max(1) as f64)),
            Wanted => out.put(&vec![1; self.files().len()]),
            Webseeds => out.put(meta.map_or(&[][..], |m| &m.url_list)),
        }
    }

    fn tracker_stats<O: Out>(&self, out: &mut O) -> Result<(), O::Error> {
        let v = self.row.view;
        let stats = self
            .ctx
            .engine
            .trackers_of(v.id, self.ctx.now)
            .unwrap_or_default();
        let active = v.state == TorrentState::Active;
        let list: Vec<TrackerStat> = stats
            .iter()
            .enumerate()
            .map(|(id, t)| {
                let answered = t.state == TrackerState::Working;
                let result = match (&t.last_error, t.state) {
                    (Some(e), _) => e.as_str(),
                    (None, TrackerState::Working) => "Success",
                    _ => "",
                };
                TrackerStat {
                    announce: &t.url,
                    announce_state: match (active, t.state) {
                        (false, _) => 0,
                        (true, TrackerState::Updating) => 3,
                        (true, _) => 1,
                    },
                    download_count: -1,
                    has_announced: answered || t.last_error.is_some(),
                    has_scraped: false,
                    host: url_host(&t.url),
                    id,
                    is_backup: false,
                    last_announce_peer_count: t.peers_received,
                    last_announce_result: result,
                    last_announce_start_time: 0,
                    last_announce_succeeded: answered,
                    last_announce_time: 0,
                    last_announce_timed_out: false,
                    last_scrape_result: "",
                    last_scrape_start_time: 0,
                    last_scrape_succeeded: false,
                    last_scrape_time: 0,
                    last_scrape_timed_out: false,
                    leecher_count: t.leechers.map_or(-1, i64::from),
                    next_announce_time: t
                        .next_announce
                        .map_or(0, |d| self.ctx.unix_now + d.as_secs()),
                    next_scrape_time: 0,
                    scrape: "",
                    scrape_state: 0,
                    seeder_count: t.seeders.map_or(-1, i64::from),
                    sitename: url_host(&t.url),
                    tier: t.tier,
                }
            })
            .collect();
        out.put(&list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_transmission_statuses() {
        let checking = TorrentState::Checking { next: 3, done: 1 };
        let failed = TorrentState::Failed("disk gone".into());
        let cases = [
            (TorrentState::Paused, false, false, 0),
            (TorrentState::Paused, true, false, 0),
            (TorrentState::Paused, false, true, 3),
            (TorrentState::Paused, true, true, 5),
            (failed, false, false, 0),
            (checking, false, false, 2),
            (TorrentState::FetchingMetadata, false, false, 4),
            (TorrentState::Active, false, false, 4),
            (TorrentState::Active, true, false, 6),
        ];
        for (state, complete, queued, want) in cases {
            assert_eq!(
                status(&state, complete, queued),
                want,
                "{state:?} {complete} {queued}"
            );
        }
    }

    #[test]
    fn eta_is_seconds_or_transmissions_unknowns() {
        assert_eq!(eta(4, 1000, 100), 10);
        assert_eq!(eta(4, 1000, 0), -2, "downloading without a rate: unknown");
        assert_eq!(eta(6, 0, 0), -1, "seeding: not available");
        assert_eq!(eta(0, 1000, 100), -1, "stopped");
    }

    #[test]
    fn fields_keep_the_asked_names_and_drop_unknown_ones() {
        let got = select(["id", "bogus", "file-count", "fileCount", "id", "peer-limit"]);
        assert_eq!(
            got,
            [
                ("id", Field::Id),
                ("file-count", Field::FileCount),
                ("fileCount", Field::FileCount),
                ("peer-limit", Field::MaxConnectedPeers),
            ]
        );
        assert!(
            select(["", "ID", "Name"]).is_empty(),
            "names are case-sensitive"
        );
        for (name, _) in NAMES {
            assert_eq!(select([*name]).len(), 1, "{name}");
        }
    }

    #[test]
    fn tracker_hosts_come_out_of_urls() {
        assert_eq!(
            url_host("udp://tracker.example:6969/announce"),
            "tracker.example"
        );
        assert_eq!(url_host("http://u:p@t.example/a?x=1"), "t.example");
        assert_eq!(url_host("http://[2001:db8::1]:80/a"), "2001:db8::1");
        assert_eq!(url_host("nonsense"), "nonsense");
    }
}
