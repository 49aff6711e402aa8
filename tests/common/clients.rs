//! The reference clients, kept on loopback (see the project's INTEROP.md notes):
//!
//! - libtorrent through tests/py/lt_peer.py and lt_swarm_leecher.py (127.0.0.1, no
//!   DHT/LSD/UPnP/NAT-PMP/uTP), run by Debian's `/usr/bin/python3`
//!   ([`super::require_libtorrent`]).
//! - aria2c bound to 127.0.0.1 (`--interface`, IPv6 off) with LPD and PEX off. Its UDP
//!   tracker client rides on its DHT socket and is off whenever DHT is
//!   (`--enable-dht=false` makes it fail every `udp://` announce with "udp is not
//!   supported yet"), so for a UDP tracker DHT is on, bound to 127.0.0.1
//!   (`--dht-listen-addr`) with an empty routing table of its own (`--dht-file-path`)
//!   and no entry point: it has nobody to talk to.
//! - transmission-daemon with DHT, LPD, PEX, uTP and port forwarding off, peers and RPC
//!   on 127.0.0.1. Transmission drops every peer a tracker names on 127.0.0.0/8 (its
//!   `isMartianAddr`), so on loopback it never dials out: the hivebt peer must learn
//!   of it from the tracker and dial it, which means Transmission announces first.
//! - opentracker on 127.0.0.1 in whitelist mode. Its whitelist is given by absolute
//!   path (run as root it changes to `/` before reading it), and it loads the list on
//!   a thread of its own, so readiness is an announce it accepts, not a bound port.
//! - mktorrent, which makes torrents only.
//!
//! Every client runs as a [`Proc`], so it is killed when its guard drops.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixture::hex;
use super::proc::{
    Deadline, Finished, Proc, Stream, free_tcp_port, free_udp_port, poll_until, run_ok,
};
use super::s;

/// The libtorrent peer script (seed or download one torrent).
pub const LT_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lt_peer.py");

/// A libtorrent leecher that stays after finishing (built on lt_peer.py's session).
pub const LT_SWARM_LEECHER: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lt_swarm_leecher.py");

/// The libtorrent script that makes and describes torrents.
pub const LT_TORRENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lt_torrent.py");

// ---------------------------------------------------------------------------------
// libtorrent

/// lt_peer.py seeding `torrent` from `save_path`; returns once it checked the data
/// and printed the address it listens on (it also announces to the torrent's
/// trackers by itself). It stops, printing its result, when stdin is closed.
pub fn lt_seed(py: &Path, torrent: &Path, save_path: &Path, deadline: Deadline) -> Proc {
    let p = Proc::spawn(
        "libtorrent seed",
        Command::new(py)
            .arg(LT_PEER)
            .arg("seed")
            .arg(torrent)
            .arg(save_path),
    );
    p.listen_addr(deadline);
    p
}

/// lt_peer.py downloading `torrent` into `out` from `peer` if given (else from peers
/// that connect to the address it prints, or its trackers); it exits once complete.
pub fn lt_download(py: &Path, torrent: &Path, out: &Path, peer: Option<SocketAddr>) -> Proc {
    let mut cmd = Command::new(py);
    cmd.arg(LT_PEER).arg("download").arg(torrent).arg(out);
    if let Some(peer) = peer {
        cmd.arg(peer.to_string());
    }
    Proc::spawn("libtorrent download", &mut cmd)
}

/// The JSON object lt_peer.py prints last.
pub fn lt_result(done: &Finished) -> serde_json::Value {
    let last = done.stdout.last().expect("lt_peer.py printed nothing");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("lt_peer.py: not JSON ({e}): {last}"))
}

/// lt_swarm_leecher.py: downloads `torrent` into `out` from the peers its trackers
/// give, prints `complete` once the files are flushed, then stays in the swarm
/// (serving) until stdin is closed.
pub fn lt_staying_leecher(py: &Path, torrent: &Path, out: &Path) -> Proc {
    Proc::spawn(
        "libtorrent leecher",
        Command::new(py).arg(LT_SWARM_LEECHER).arg(torrent).arg(out),
    )
}

// ---------------------------------------------------------------------------------
// aria2

/// aria2c on 127.0.0.1 with its state in `work`; `udp_trackers` turns on the DHT
/// socket its UDP tracker client needs.
pub fn aria2(work: &Path, udp_trackers: bool) -> Command {
    std::fs::create_dir_all(work).expect("mkdir aria2 work");
    let mut cmd = Command::new("aria2c");
    cmd.current_dir(work).args([
        "--no-conf=true",
        "--interface=127.0.0.1",
        "--disable-ipv6=true",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--summary-interval=0",
        "--show-console-readout=false",
        "--console-log-level=notice",
        "--bt-tracker-connect-timeout=10",
        "--bt-tracker-timeout=10",
    ]);
    cmd.arg(format!("--listen-port={}", free_tcp_port()));
    if udp_trackers {
        cmd.args(["--enable-dht=true", "--dht-listen-addr=127.0.0.1"])
            .arg(format!("--dht-listen-port={}", free_udp_port()))
            .arg(format!("--dht-file-path={}", s(&work.join("dht.dat"))));
    } else {
        cmd.arg("--enable-dht=false");
    }
    cmd
}

/// aria2c downloading `torrent` into `out`, exiting once it is complete.
pub fn aria2_download(label: &str, torrent: &Path, out: &Path, work: &Path, udp: bool) -> Proc {
    let mut cmd = aria2(work, udp);
    cmd.args(["--seed-time=0", "--file-allocation=falloc"])
        .arg(format!("--dir={}", s(out)))
        .arg(torrent);
    Proc::spawn(label, &mut cmd)
}

/// aria2c checking the content in `data` and then seeding it until killed.
pub fn aria2_seed(label: &str, torrent: &Path, data: &Path, work: &Path, udp: bool) -> Proc {
    let mut cmd = aria2(work, udp);
    cmd.args(["--check-integrity=true", "--seed-ratio=0.0"])
        .arg(format!("--dir={}", s(data)))
        .arg(torrent);
    Proc::spawn(label, &mut cmd)
}

// ---------------------------------------------------------------------------------
// Transmission

/// A transmission-daemon on loopback, killed when its guard drops.
pub struct Transmission {
    pub proc: Proc,
    pub rpc: SocketAddr,
    pub peer_port: u16,
}

impl Transmission {
    /// Writes `work/settings.json` and starts the daemon; returns once its RPC server
    /// is serving.
    pub fn start(label: &str, work: &Path, deadline: Deadline) -> Transmission {
        std::fs::create_dir_all(work).expect("mkdir transmission config");
        let rpc_port = free_tcp_port();
        let peer_port = free_tcp_port();
        let settings = serde_json::json!({
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "port-forwarding-enabled": false,
            "blocklist-enabled": false,
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "peer-port": peer_port,
            "peer-port-random-on-start": false,
            "rpc-enabled": true,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-authentication-required": false,
            "rpc-whitelist-enabled": true,
            "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": false,
            "download-dir": s(&work.join("downloads")),
            "incomplete-dir-enabled": false,
            "start-added-torrents": true,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "message-level": 2,
        });
        std::fs::write(
            work.join("settings.json"),
            serde_json::to_vec_pretty(&settings).expect("settings JSON"),
        )
        .expect("write settings.json");
        let proc = Proc::spawn(
            label,
            Command::new("transmission-daemon")
                .arg("-f")
                .arg("-g")
                .arg(work),
        );
        proc.wait_for(
            Stream::Stderr,
            "the RPC server's 'Serving RPC' log line",
            deadline,
            |l| l.contains("Serving RPC"),
        );
        Transmission {
            proc,
            rpc: SocketAddr::from(([127, 0, 0, 1], rpc_port)),
            peer_port,
        }
    }

    fn remote(&self, args: &[&str], deadline: Deadline) -> String {
        let done = run_ok(
            "transmission-remote",
            Command::new("transmission-remote")
                .arg(self.rpc.to_string())
                .args(args),
            deadline,
        );
        done.stdout.join("\n")
    }

    /// Adds `torrent`, saving into `dir`.
    pub fn add(&self, torrent: &Path, dir: &Path, deadline: Deadline) {
        let out = self.remote(&["-a", s(torrent), "-w", s(dir)], deadline);
        assert!(out.contains("success"), "transmission-remote -a: {out}");
    }

    /// `-t all -i`: the details of every torrent.
    pub fn info(&self, deadline: Deadline) -> String {
        self.remote(&["-t", "all", "-i"], deadline)
    }

    /// `Percent Done` of the (only) torrent.
    pub fn percent_done(&self, deadline: Deadline) -> Option<f64> {
        let info = self.info(deadline);
        info.lines()
            .find_map(|l| l.trim().strip_prefix("Percent Done: "))
            .and_then(|p| p.trim_end_matches('%').parse().ok())
    }
}

// ---------------------------------------------------------------------------------
// opentracker

/// opentracker on 127.0.0.1, one port for HTTP and UDP, tracking only `info_hashes`.
pub struct Opentracker {
    pub proc: Proc,
    pub port: u16,
    whitelist: PathBuf,
}

impl Opentracker {
    /// Starts it and returns once `accepts(addr)` says it answered an announce (made
    /// by the caller, who speaks the tracker protocol) without a failure.
    pub fn start(
        work: &Path,
        port: u16,
        info_hashes: &[[u8; 20]],
        deadline: Deadline,
        accepts: impl Fn(SocketAddr) -> bool,
    ) -> Opentracker {
        std::fs::create_dir_all(work).expect("mkdir opentracker");
        let whitelist = work.join("whitelist");
        let list: String = info_hashes
            .iter()
            .map(|h| format!("{}\n", hex(h)))
            .collect();
        std::fs::write(&whitelist, list).expect("write whitelist");
        let proc = Proc::spawn(
            "opentracker",
            Command::new("opentracker")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-P", &port.to_string(), "-w"])
                .arg(&whitelist),
        );
        let ot = Opentracker {
            proc,
            port,
            whitelist,
        };
        poll_until(
            "opentracker to accept an announce",
            deadline,
            || ot.proc.report(),
            || accepts(ot.addr()).then_some(()),
        );
        ot
    }

    /// Its HTTP and UDP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://ADDR/announce`.
    pub fn http_url(&self) -> String {
        format!("http://{}/announce", self.addr())
    }

    /// `udp://ADDR/announce`.
    pub fn udp_url(&self) -> String {
        format!("udp://{}/announce", self.addr())
    }
}

// ---------------------------------------------------------------------------------
// mktorrent

/// `mktorrent -l LOG2 -o OUT EXTRA... TARGET` (the piece length is 2^LOG2).
pub fn mktorrent(
    mk: &Path,
    target: &Path,
    log2_piece: u32,
    out: &Path,
    extra: &[&str],
    deadline: Deadline,
) {
    run_ok(
        "mktorrent",
        Command::new(mk)
            .arg("-l")
            .arg(log2_piece.to_string())
            .arg("-o")
            .arg(out)
            .args(extra)
            .arg(target),
        deadline,
    );
}

// ---------------------------------------------------------------------------------
// libtorrent with its DHT on (tests/py/lt_dht.py)

/// The libtorrent script with the DHT on, bootstrapping from one loopback node.
pub const LT_DHT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/lt_dht.py");

/// lt_dht.py seeding `torrent` from `save_path`, joining the DHT through `bootstrap`
/// (a loopback node) and announcing there every 2 s; returns once it seeds, with the
/// address it listens on (its DHT node is the same port over UDP). It stops when
/// stdin is closed.
pub fn lt_dht_seed(
    py: &Path,
    torrent: &Path,
    save_path: &Path,
    bootstrap: SocketAddr,
    deadline: Deadline,
) -> (Proc, SocketAddr) {
    assert!(
        bootstrap.ip().is_loopback(),
        "tests bootstrap on loopback only"
    );
    let p = Proc::spawn(
        "libtorrent dht seed",
        Command::new(py)
            .arg(LT_DHT)
            .arg("seed")
            .arg(torrent)
            .arg(save_path)
            .arg(bootstrap.to_string()),
    );
    let addr = p.listen_addr(deadline);
    (p, addr)
}

/// lt_dht.py downloading `source` (a .torrent path or a magnet link) into `out`,
/// finding peers only through the DHT, joined through `bootstrap`; it exits once
/// complete, printing `{"downloaded", "peers"}`.
pub fn lt_dht_download(py: &Path, source: &str, out: &Path, bootstrap: SocketAddr) -> Proc {
    assert!(
        bootstrap.ip().is_loopback(),
        "tests bootstrap on loopback only"
    );
    Proc::spawn(
        "libtorrent dht download",
        Command::new(py)
            .arg(LT_DHT)
            .arg("download")
            .arg(source)
            .arg(out)
            .arg(bootstrap.to_string()),
    )
}
