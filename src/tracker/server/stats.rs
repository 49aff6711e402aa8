//! The tracker's counters and their two renderings: a JSON object for `/stats` and
//! Prometheus text exposition for `/metrics` (metric names prefixed `hivebt_tracker_`,
//! counters suffixed `_total`).

use std::fmt::Write;

use super::{Protocol, Refusal};
use crate::json::Json;

/// How an announce ended: answered (`None`) or refused.
const OUTCOMES: [Option<Refusal>; 1 + Refusal::ALL.len()] = [
    None,
    Some(Refusal::ALL[0]),
    Some(Refusal::ALL[1]),
    Some(Refusal::ALL[2]),
];

fn outcome_index(outcome: Option<Refusal>) -> usize {
    outcome.map_or(0, |r| 1 + r as usize)
}

fn outcome_label(outcome: Option<Refusal>) -> &'static str {
    outcome.map_or("ok", Refusal::label)
}

/// Events counted since the tracker started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    announces: [[u64; OUTCOMES.len()]; Protocol::ALL.len()],
    scrapes: [u64; Protocol::ALL.len()],
    malformed: [u64; Protocol::ALL.len()],
    /// `completed` events counted (once per listed peer).
    pub downloads: u64,
    /// New peers answered but not listed because their swarm was full.
    pub not_stored_swarm_full: u64,
    /// New peers answered but not listed because the tracker held its most peers.
    pub not_stored_tracker_full: u64,
    /// Peers dropped for not re-announcing in time.
    pub expired: u64,
    /// UDP `connect` requests answered (BEP 15).
    pub udp_connects: u64,
    /// UDP requests dropped for a connection id that was wrong or too old.
    pub bad_connection_ids: u64,
}

impl Counters {
    /// Announces over `protocol` that ended in `outcome` (`None`: answered).
    pub fn announces(&self, protocol: Protocol, outcome: Option<Refusal>) -> u64 {
        self.announces[protocol as usize][outcome_index(outcome)]
    }

    /// Announces refused, over both protocols and for every reason.
    pub fn refused(&self) -> u64 {
        self.announces.iter().flat_map(|per| &per[1..]).sum()
    }

    /// Scrapes answered over `protocol`.
    pub fn scrapes(&self, protocol: Protocol) -> u64 {
        self.scrapes[protocol as usize]
    }

    /// Requests over `protocol` the front end could not parse.
    pub fn malformed(&self, protocol: Protocol) -> u64 {
        self.malformed[protocol as usize]
    }

    pub(super) fn count_announce(&mut self, protocol: Protocol, outcome: Option<Refusal>) {
        self.announces[protocol as usize][outcome_index(outcome)] += 1;
    }

    pub(super) fn count_scrape(&mut self, protocol: Protocol) {
        self.scrapes[protocol as usize] += 1;
    }

    pub(super) fn count_malformed(&mut self, protocol: Protocol) {
        self.malformed[protocol as usize] += 1;
    }
}

/// The tracker's state now, next to its [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gauges {
    /// Swarms held (including ones emptied since the last expiry sweep).
    pub torrents: usize,
    /// Seeders listed.
    pub seeders: usize,
    /// Leechers listed.
    pub leechers: usize,
    /// Estimated heap and struct bytes of all swarms.
    pub memory_bytes: usize,
}

/// The `/stats` object. Keys: `torrents`, `peers`, `seeders`, `leechers`,
/// `memory_bytes`, `memory_per_peer_bytes` (null with no peers), `announces` (per
/// protocol, per outcome), `refused`, `scrapes` and `malformed` (per protocol),
/// `downloads`, `peers_not_stored` (per reason), `peers_expired`, `udp_connects`,
/// `udp_bad_connection_ids`.
pub(super) fn json(g: &Gauges, c: &Counters) -> Json {
    let peers = g.seeders + g.leechers;
    let per_protocol = |f: &dyn Fn(Protocol) -> Json| {
        Json::Obj(Protocol::ALL.iter().map(|&p| (p.label(), f(p))).collect())
    };
    let announces = per_protocol(&|p| {
        Json::Obj(
            OUTCOMES
                .iter()
                .map(|&o| (outcome_label(o), count(c.announces(p, o))))
                .collect(),
        )
    });
    Json::Obj(vec![
        ("torrents", count(g.torrents)),
        ("peers", count(peers)),
        ("seeders", count(g.seeders)),
        ("leechers", count(g.leechers)),
        ("memory_bytes", count(g.memory_bytes)),
        (
            "memory_per_peer_bytes",
            match peers {
                0 => Json::Null,
                n => count(g.memory_bytes / n),
            },
        ),
        ("announces", announces),
        ("refused", count(c.refused())),
        ("scrapes", per_protocol(&|p| count(c.scrapes(p)))),
        ("malformed", per_protocol(&|p| count(c.malformed(p)))),
        ("downloads", count(c.downloads)),
        (
            "peers_not_stored",
            Json::Obj(vec![
                ("swarm_full", count(c.not_stored_swarm_full)),
                ("tracker_full", count(c.not_stored_tracker_full)),
            ]),
        ),
        ("peers_expired", count(c.expired)),
        ("udp_connects", count(c.udp_connects)),
        ("udp_bad_connection_ids", count(c.bad_connection_ids)),
    ])
}

fn count(n: impl TryInto<i128>) -> Json {
    Json::Int(n.try_into().unwrap_or(i128::MAX))
}

/// The `/metrics` text (Prometheus exposition format 0.0.4).
pub(super) fn metrics_text(g: &Gauges, c: &Counters) -> String {
    let mut m = Metrics(String::new());
    m.family(
        "torrents",
        "gauge",
        "Swarms held.",
        &[("", g.torrents as u64)],
    );
    m.family(
        "peers",
        "gauge",
        "Peers listed, by kind.",
        &[
            ("kind=\"seeder\"", g.seeders as u64),
            ("kind=\"leecher\"", g.leechers as u64),
        ],
    );
    m.family(
        "memory_bytes",
        "gauge",
        "Estimated memory held by the swarms.",
        &[("", g.memory_bytes as u64)],
    );
    let mut announces = Vec::new();
    for p in Protocol::ALL {
        for o in OUTCOMES {
            let labels = format!(
                "protocol=\"{}\",outcome=\"{}\"",
                p.label(),
                outcome_label(o)
            );
            announces.push((labels, c.announces(p, o)));
        }
    }
    let announces: Vec<(&str, u64)> = announces.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    m.family(
        "announces_total",
        "counter",
        "Announces, by protocol and outcome.",
        &announces,
    );
    let per_protocol = |f: fn(&Counters, Protocol) -> u64| {
        [
            ("protocol=\"http\"", f(c, Protocol::Http)),
            ("protocol=\"udp\"", f(c, Protocol::Udp)),
        ]
    };
    m.family(
        "scrapes_total",
        "counter",
        "Scrapes answered, by protocol.",
        &per_protocol(Counters::scrapes),
    );
    m.family(
        "malformed_requests_total",
        "counter",
        "Requests that could not be parsed, by protocol.",
        &per_protocol(Counters::malformed),
    );
    m.family(
        "downloads_total",
        "counter",
        "Completed downloads reported, once per peer.",
        &[("", c.downloads)],
    );
    m.family(
        "peers_not_stored_total",
        "counter",
        "New peers answered but not listed, by the limit hit.",
        &[
            ("reason=\"swarm_full\"", c.not_stored_swarm_full),
            ("reason=\"tracker_full\"", c.not_stored_tracker_full),
        ],
    );
    m.family(
        "peers_expired_total",
        "counter",
        "Peers dropped for not re-announcing in time.",
        &[("", c.expired)],
    );
    m.family(
        "udp_connects_total",
        "counter",
        "UDP connect requests answered.",
        &[("", c.udp_connects)],
    );
    m.family(
        "udp_bad_connection_ids_total",
        "counter",
        "UDP requests dropped for a wrong or expired connection id.",
        &[("", c.bad_connection_ids)],
    );
    m.0
}

struct Metrics(String);

impl Metrics {
    /// One metric family: its HELP and TYPE lines, then one sample per label set.
    fn family(&mut self, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP hivebt_tracker_{name} {help}");
        let _ = writeln!(out, "# TYPE hivebt_tracker_{name} {kind}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "hivebt_tracker_{name} {value}");
            } else {
                let _ = writeln!(out, "hivebt_tracker_{name}{{{labels}}} {value}");
            }
        }
    }
}
