//! Transmission's torrent ids: small positive integers, and the `ids` argument that
//! names torrents by them, by info-hash, or as "recently active".
//!
//! Invariants: an id, once given to a torrent, stays its id for the whole run and is
//! never given to another torrent in the run (a torrent removed and added again gets
//! a new one). Ids are handed out in add order: torrents loaded at start by their
//! `added_at` (then info-hash), later ones as they appear. Nothing is stored: a
//! restart numbers afresh, as Transmission does (its spec tells clients to use hashes
//! for stable names).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::types::InfoHash;

/// How long a removed torrent's id is reported in `removed` of a
/// `recently-active` `torrent-get`, and how recent "recently active" is.
pub(crate) const RECENT: Duration = Duration::from_secs(60);
/// The most removed ids remembered for `recently-active`.
const MAX_REMOVED: usize = 1024;

/// A torrent's Transmission id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub(crate) struct RpcId(pub u32);

/// The ids of the torrents in the session.
#[derive(Debug)]
pub(crate) struct TorrentIds {
    by_hash: HashMap<InfoHash, RpcId>,
    by_id: BTreeMap<RpcId, InfoHash>,
    next: u32,
    removed: VecDeque<(RpcId, Instant)>,
}

impl Default for TorrentIds {
    fn default() -> TorrentIds {
        TorrentIds {
            by_hash: HashMap::new(),
            by_id: BTreeMap::new(),
            next: 1,
            removed: VecDeque::new(),
        }
    }
}

impl TorrentIds {
    /// Brings the ids up to date with the session's torrents (`added_at` gives each
    /// one's add time): torrents gone lose theirs (remembered as removed), new ones
    /// are numbered in add order. One hash look-up per torrent when nothing changed.
    pub(crate) fn sync<V>(
        &mut self,
        torrents: &HashMap<InfoHash, V>,
        added_at: impl Fn(&V) -> u64,
        now: Instant,
    ) {
        if self.by_hash.len() != torrents.len()
            || self.by_hash.keys().any(|h| !torrents.contains_key(h))
        {
            let gone: Vec<InfoHash> = self
                .by_hash
                .keys()
                .filter(|h| !torrents.contains_key(*h))
                .copied()
                .collect();
            for hash in gone {
                if let Some(id) = self.by_hash.remove(&hash) {
                    self.by_id.remove(&id);
                    if self.removed.len() >= MAX_REMOVED {
                        self.removed.pop_front();
                    }
                    self.removed.push_back((id, now));
                }
            }
        }
        if self.by_hash.len() < torrents.len() {
            let mut new: Vec<(u64, InfoHash)> = torrents
                .iter()
                .filter(|(h, _)| !self.by_hash.contains_key(*h))
                .map(|(h, v)| (added_at(v), *h))
                .collect();
            new.sort_unstable();
            for (_, hash) in new {
                let id = RpcId(self.next);
                self.next += 1;
                self.by_hash.insert(hash, id);
                self.by_id.insert(id, hash);
            }
        }
        while self
            .removed
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > RECENT)
        {
            self.removed.pop_front();
        }
    }

    /// The id of torrent `hash`.
    pub(crate) fn id_of(&self, hash: &InfoHash) -> Option<RpcId> {
        self.by_hash.get(hash).copied()
    }

    /// Every torrent, by id.
    pub(crate) fn all(&self) -> impl Iterator<Item = (RpcId, InfoHash)> + '_ {
        self.by_id.iter().map(|(id, h)| (*id, *h))
    }

    /// Ids removed within [`RECENT`].
    pub(crate) fn removed(&self) -> Vec<RpcId> {
        self.removed.iter().map(|(id, _)| *id).collect()
    }

    /// The torrents `keys` name, by id, each once; names of no torrent are skipped.
    pub(crate) fn resolve(&self, keys: &[Key]) -> Vec<(RpcId, InfoHash)> {
        let mut out: Vec<(RpcId, InfoHash)> = keys
            .iter()
            .filter_map(|k| match k {
                Key::Id(id) => self.by_id.get(id).map(|h| (*id, *h)),
                Key::Hash(h) => self.by_hash.get(h).map(|id| (*id, *h)),
            })
            .collect();
        out.sort_unstable_by_key(|(id, _)| *id);
        out.dedup_by_key(|(id, _)| *id);
        out
    }
}

/// One name in an `ids` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// A torrent id.
    Id(RpcId),
    /// An info-hash (40 hex digits, either case).
    Hash(InfoHash),
}

/// What an `ids` argument selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    /// No `ids`: every torrent.
    All,
    /// `"recently-active"`: torrents active in the last minute, and the ids removed.
    Recent,
    /// These (names that match no torrent select nothing, as in Transmission).
    Some(Vec<Key>),
}

/// Parses an `ids` argument: absent (all), an id, a hash, `"recently-active"`, or a
/// list of ids and hashes. Anything else names no torrent, as Transmission has it.
pub(crate) fn parse_selector(ids: Option<&Value>) -> Selector {
    fn key(v: &Value) -> Option<Key> {
        match v {
            Value::Number(n) => {
                let id = u32::try_from(n.as_u64()?).ok().filter(|&i| i > 0)?;
                Some(Key::Id(RpcId(id)))
            }
            Value::String(s) => InfoHash::from_hex(s).map(Key::Hash),
            _ => None,
        }
    }
    match ids {
        None | Some(Value::Null) => Selector::All,
        Some(Value::String(s)) if s == "recently-active" || s == "recently_active" => {
            Selector::Recent
        }
        Some(Value::Array(list)) => Selector::Some(list.iter().filter_map(key).collect()),
        Some(one) => Selector::Some(key(one).into_iter().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(b: u8) -> InfoHash {
        InfoHash([b; 20])
    }

    #[test]
    fn ids_follow_add_order_and_are_never_reused() {
        let t0 = Instant::now();
        let mut ids = TorrentIds::default();
        let mut torrents: HashMap<InfoHash, u64> =
            [(hash(3), 30), (hash(1), 10), (hash(2), 20)].into();
        ids.sync(&torrents, |a| *a, t0);
        assert_eq!(ids.id_of(&hash(1)), Some(RpcId(1)));
        assert_eq!(ids.id_of(&hash(2)), Some(RpcId(2)));
        assert_eq!(ids.id_of(&hash(3)), Some(RpcId(3)));
        // One removed and one added between two looks: the count is unchanged.
        torrents.remove(&hash(2));
        torrents.insert(hash(9), 5);
        ids.sync(&torrents, |a| *a, t0);
        assert_eq!(ids.id_of(&hash(2)), None);
        assert_eq!(ids.id_of(&hash(9)), Some(RpcId(4)), "new ids only go up");
        assert_eq!(ids.removed(), [RpcId(2)]);
        // The same torrent back again gets a new id.
        torrents.insert(hash(2), 20);
        ids.sync(&torrents, |a| *a, t0);
        assert_eq!(ids.id_of(&hash(2)), Some(RpcId(5)));
        let all: Vec<u32> = ids.all().map(|(id, _)| id.0).collect();
        assert_eq!(all, [1, 3, 4, 5]);
        ids.sync(&torrents, |a| *a, t0 + RECENT + Duration::from_secs(1));
        assert!(
            ids.removed().is_empty(),
            "removed ids are reported a minute"
        );
    }

    #[test]
    fn ids_arguments_name_torrents_every_way() {
        let h = hash(0xab);
        let hex = h.to_hex();
        assert_eq!(parse_selector(None), Selector::All);
        assert_eq!(parse_selector(Some(&json!(null))), Selector::All);
        assert_eq!(
            parse_selector(Some(&json!("recently-active"))),
            Selector::Recent
        );
        assert_eq!(
            parse_selector(Some(&json!(7))),
            Selector::Some(vec![Key::Id(RpcId(7))])
        );
        assert_eq!(
            parse_selector(Some(&json!(hex.to_uppercase()))),
            Selector::Some(vec![Key::Hash(h)])
        );
        assert_eq!(
            parse_selector(Some(&json!([1, hex, "zz", -1, 0, 1.5, 4294967296u64, [2]]))),
            Selector::Some(vec![Key::Id(RpcId(1)), Key::Hash(h)]),
            "names of no torrent are dropped"
        );
        assert_eq!(parse_selector(Some(&json!("abc"))), Selector::Some(vec![]));
        assert_eq!(parse_selector(Some(&json!({}))), Selector::Some(vec![]));

        let mut ids = TorrentIds::default();
        ids.sync(&[(h, 1u64), (hash(1), 2)].into(), |a| *a, Instant::now());
        let got = ids.resolve(&[
            Key::Id(RpcId(2)),
            Key::Hash(h),
            Key::Id(RpcId(1)),
            Key::Id(RpcId(9)),
        ]);
        assert_eq!(
            got,
            [(RpcId(1), h), (RpcId(2), hash(1))],
            "by id, once each"
        );
    }
}
