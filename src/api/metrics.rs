//! `/metrics`: the Prometheus text format (version 0.0.4), names `hivebt_*`, bytes
//! and seconds as base units, totals as `_total` counters. Per-torrent series only
//! with `metrics_per_torrent`: 10,000 torrents times a dozen series is a scrape
//! nobody wants by default.

use std::fmt::Write;
use std::time::Instant;

use super::service::ApiService;
use crate::engine::Engine;

/// The whole scrape.
pub(crate) fn render(api: &mut ApiService, engine: &Engine, now: Instant) -> String {
    let api = api.fresh(engine);
    let snapshot = api.snapshot();
    let mut out = String::with_capacity(4096);
    let t = api.totals();
    let (up, down, uploaded, downloaded) = (t.up_rate, t.down_rate, t.uploaded, t.downloaded);
    let (peers, failures, by_state) = (t.peers, t.hash_failures, t.by_state);
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    metric(
        "hivebt_uploaded_bytes_total",
        "counter",
        "Payload bytes uploaded by the torrents in the session, over their lives.",
        uploaded.to_string(),
    );
    metric(
        "hivebt_downloaded_bytes_total",
        "counter",
        "Payload bytes downloaded by the torrents in the session, over their lives.",
        downloaded.to_string(),
    );
    metric(
        "hivebt_upload_rate_bytes",
        "gauge",
        "Payload bytes uploaded per second, over the last seconds.",
        up.to_string(),
    );
    metric(
        "hivebt_download_rate_bytes",
        "gauge",
        "Payload bytes downloaded per second, over the last seconds.",
        down.to_string(),
    );
    metric(
        "hivebt_peers",
        "gauge",
        "Peers connected (handshakes done).",
        peers.to_string(),
    );
    metric(
        "hivebt_connections",
        "gauge",
        "Peer connections open, in any state.",
        snapshot.connections.to_string(),
    );
    metric(
        "hivebt_disk_queue_jobs",
        "gauge",
        "Jobs waiting for the worker pool.",
        snapshot.jobs_waiting.to_string(),
    );
    if let Some(d) = snapshot.dht {
        for (name, kind, help, value) in [
            (
                "hivebt_dht_nodes",
                "gauge",
                "Nodes in the DHT routing tables.",
                d.nodes as u64,
            ),
            (
                "hivebt_dht_good_nodes",
                "gauge",
                "DHT nodes heard from in the last 15 minutes.",
                d.good_nodes as u64,
            ),
            (
                "hivebt_dht_lookups",
                "gauge",
                "DHT lookups running.",
                d.lookups as u64,
            ),
            (
                "hivebt_dht_lookups_total",
                "counter",
                "Torrent lookups the DHT finished.",
                d.lookups_done,
            ),
            (
                "hivebt_dht_peers_found_total",
                "counter",
                "Peers the DHT gave torrents.",
                d.peers_found,
            ),
            (
                "hivebt_dht_queries_answered_total",
                "counter",
                "DHT queries from other nodes answered.",
                d.counters.queries_answered,
            ),
            (
                "hivebt_dht_rate_limited_total",
                "counter",
                "DHT datagrams dropped by the per-address rate limit or block list.",
                d.counters.rate_limited,
            ),
            (
                "hivebt_dht_malformed_total",
                "counter",
                "DHT datagrams that were not KRPC.",
                d.counters.malformed,
            ),
            (
                "hivebt_dht_timeouts_total",
                "counter",
                "DHT queries of ours that went unanswered.",
                d.counters.timeouts,
            ),
            (
                "hivebt_dht_announces_stored_total",
                "counter",
                "Peers stored from other nodes' announce_peer.",
                d.counters.announces_stored,
            ),
        ] {
            metric(name, kind, help, value.to_string());
        }
    }
    metric(
        "hivebt_hash_failures",
        "gauge",
        "Pieces that failed their hash check, over the torrents in the session since start.",
        failures.to_string(),
    );
    metric(
        "hivebt_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        now.saturating_duration_since(api.started_at)
            .as_secs()
            .to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP hivebt_torrents Torrents in the session, by state."
    );
    let _ = writeln!(out, "# TYPE hivebt_torrents gauge");
    for (state, n) in by_state {
        let _ = writeln!(out, "hivebt_torrents{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP hivebt_peer_closes_total Peer connections closed, by reason."
    );
    let _ = writeln!(out, "# TYPE hivebt_peer_closes_total counter");
    let mut closes: Vec<_> = engine.close_counts().iter().collect();
    closes.sort_by_key(|(r, _)| r.as_str());
    for (reason, n) in closes {
        let _ = writeln!(
            out,
            "hivebt_peer_closes_total{{reason=\"{}\"}} {n}",
            reason.as_str()
        );
    }
    let pex = engine.pex_counters();
    for (name, help, value) in [
        (
            "hivebt_pex_sent_total",
            "Peer exchange (ut_pex) messages sent.",
            pex.sent,
        ),
        (
            "hivebt_pex_received_total",
            "Peer exchange messages received and used.",
            pex.received,
        ),
        (
            "hivebt_pex_too_soon_total",
            "Peer exchange messages ignored for coming within 45 s of the sender's last.",
            pex.too_soon,
        ),
        (
            "hivebt_pex_malformed_total",
            "Peer exchange messages that did not decode (their senders were closed).",
            pex.malformed,
        ),
        (
            "hivebt_pex_entries_cut_total",
            "Peer exchange entries left out past 50 per list and address family.",
            pex.entries_cut,
        ),
        (
            "hivebt_pex_peers_learned_total",
            "Addresses peer exchange added to the torrents' peer lists.",
            pex.peers_learned,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {value}");
    }
    if let Some(stats) = engine.latency() {
        stats.write_prometheus(&mut out);
    }
    if api.setup.metrics_per_torrent {
        per_torrent(api, &mut out);
    }
    out
}

/// `hivebt_torrent_*{info_hash, name}` series.
fn per_torrent(api: &ApiService, out: &mut String) {
    let snapshot = api.snapshot();
    let series: [(&str, &str, &str); 5] = [
        (
            "hivebt_torrent_uploaded_bytes_total",
            "counter",
            "Payload bytes uploaded by the torrent over its life.",
        ),
        (
            "hivebt_torrent_downloaded_bytes_total",
            "counter",
            "Payload bytes downloaded by the torrent over its life.",
        ),
        (
            "hivebt_torrent_upload_rate_bytes",
            "gauge",
            "Payload bytes per second the torrent uploads.",
        ),
        (
            "hivebt_torrent_download_rate_bytes",
            "gauge",
            "Payload bytes per second the torrent downloads.",
        ),
        (
            "hivebt_torrent_peers",
            "gauge",
            "Peers connected to the torrent.",
        ),
    ];
    for (i, (name, kind, help)) in series.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for v in &snapshot.torrents {
            let Some(e) = api.entries.get(&v.info_hash) else {
                continue;
            };
            let value = match i {
                0 => e.record.uploaded + v.uploaded.saturating_sub(e.seen_up),
                1 => e.record.downloaded + v.downloaded.saturating_sub(e.seen_down),
                2 => v.up_rate,
                3 => v.down_rate,
                _ => v.peers as u64,
            };
            let _ = writeln!(
                out,
                "{name}{{info_hash=\"{}\",name=\"{}\"}} {value}",
                v.info_hash.to_hex(),
                escape_label(&v.name)
            );
        }
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
