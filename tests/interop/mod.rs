//! The interop matrix: one transfer of one torrent from a seeding client to a
//! downloading client on loopback, described by a [`Case`] (a row of the table in
//! tests/peer_interop.rs) and run by [`run_case`].
//!
//! A row names who seeds, who downloads, the content, the piece size, how the
//! downloader finds the seeder ([`Via`]) and the hivebt seeder's upload limit. The
//! runner starts whatever tracker the row needs, makes the torrent (announcing to
//! that tracker), starts the peer that must be found first, then the other, waits for
//! the download to end, compares the copy by the SHA-256 of every file, and checks
//! what each side reports:
//!
//! - a hivebt downloader: its summary says complete; given the seeder's address it
//!   also used that one peer, had no hash failures and counted the whole torrent; via
//!   a tracker it logged the tracker's answer.
//! - a hivebt seeder: it exits 0 on SIGTERM; given to the downloader directly its
//!   summary says complete and counts the whole torrent uploaded.
//! - a libtorrent seeder reports uploading the whole torrent; a libtorrent downloader
//!   prints its result.
//! - through `hivebt tracker`, both peers announced over the row's protocol only.
//!
//! Transmission cannot dial a peer it learns of on loopback, so a Transmission
//! downloader starts first and the hivebt seeder, told of it by the tracker, dials it;
//! otherwise the seeder starts first and, through a tracker, is listed before the
//! downloader starts (its first answer is the only one the downloader gets within the
//! test). A row whose client is missing prints SKIP and passes, unless
//! `HIVEBT_REQUIRE_INTEROP=1`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::clients::{
    Opentracker, Transmission, aria2_download, aria2_seed, lt_download, lt_result, lt_seed,
};
use crate::common::fixture::{Fixture, album_tree, awkward_tree, single_file_len};
use crate::common::proc::{Deadline, Finished, Proc, free_port_both, poll_until, reports};
use crate::common::summary::{Summary, at_least};
use crate::common::{download_cmd, require_libtorrent, require_tool, seed_cmd};
use crate::trackers::{
    Proto, TrackerProc, accepts_announce, answered, hivebt_download, hivebt_seed, wait_swarm,
};

/// A BitTorrent client in the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// `hivebt seed` / `hivebt download`.
    Hivebt,
    /// tests/py/lt_peer.py.
    Libtorrent,
    /// aria2c; it takes no peer address, only trackers.
    Aria2,
    /// transmission-daemon; it takes no peer address and downloads only.
    Transmission,
}

/// How the downloader learns of the seeder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// It is given the seeder's address (`--peer`, lt_peer.py's PEER argument).
    Direct,
    /// Both announce to one `hivebt tracker` over this protocol.
    HivebtTracker(Proto),
    /// Both announce to opentracker over this protocol.
    Opentracker(Proto),
}

/// The content of a row's torrent.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// `disk.img` of [`single_file_len`] for the piece size.
    SingleFile,
    /// One file of this name and length.
    File(&'static str, usize),
    /// `awkward/`: [`awkward_tree`] for the piece size.
    AwkwardDir,
    /// `album/`: [`album_tree`] for the piece size.
    Album,
}

/// One row of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The test's name.
    pub name: &'static str,
    pub seeder: Client,
    pub leecher: Client,
    pub layout: Layout,
    /// Piece length in bytes.
    pub piece: usize,
    pub via: Via,
    /// `--max-upload-rate` of a hivebt seeder.
    pub seed_rate: Option<&'static str>,
}

/// Expands the table: a `const CASES` and one `#[test]` per row, named by the row.
/// A row: `name: SEEDER => LEECHER, LAYOUT, PIECE, VIA, SEED_RATE;`.
#[macro_export]
macro_rules! interop_matrix {
    ($($name:ident: $seeder:ident => $leecher:ident, $layout:expr, $piece:expr,
       $via:expr, $rate:expr;)*) => {
        /// Every row of the matrix.
        const CASES: &[interop::Case] = &[$(interop::Case {
            name: stringify!($name),
            seeder: interop::Client::$seeder,
            leecher: interop::Client::$leecher,
            layout: $layout,
            piece: $piece,
            via: $via,
            seed_rate: $rate,
        }),*];

        $(
            #[test]
            fn $name() {
                let case = CASES.iter().find(|c| c.name == stringify!($name));
                interop::run_case(case.expect("a row of CASES"));
            }
        )*
    };
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Hivebt => "hivebt",
            Client::Libtorrent => "libtorrent",
            Client::Aria2 => "aria2c",
            Client::Transmission => "Transmission",
        }
    }

    /// Whether it can run here: `Some(python)` for libtorrent, `Some(None)` for the
    /// others when installed, `None` (SKIP) when not.
    fn require(self) -> Option<Option<PathBuf>> {
        match self {
            Client::Hivebt => Some(None),
            Client::Libtorrent => require_libtorrent().map(Some),
            Client::Aria2 => require_tool("aria2c").map(|_| None),
            Client::Transmission => {
                require_tool("transmission-daemon")?;
                require_tool("transmission-remote").map(|_| None)
            }
        }
    }
}

/// A running peer of either role.
enum Leecher {
    Proc(Proc),
    Transmission(Transmission),
}

/// A case being run: its torrent, its tracker and the python for libtorrent.
struct Run<'a> {
    case: &'a Case,
    deadline: Deadline,
    py: Option<PathBuf>,
    fx: Fixture,
    tracker: Option<TrackerProc>,
    opentracker: Option<Opentracker>,
    /// The announce URL in the torrent, if any.
    url: Option<String>,
}

/// Runs one row of the matrix.
pub fn run_case(case: &Case) {
    eprintln!("case {case:?}");
    let Some(seeder_py) = case.seeder.require() else {
        return;
    };
    let Some(leecher_py) = case.leecher.require() else {
        return;
    };
    if matches!(case.via, Via::Opentracker(_)) && require_tool("opentracker").is_none() {
        return;
    }
    let run = Run::start(case, seeder_py.or(leecher_py));
    let total = run.fx.total_size() as u64;
    let (mut seeder, mut leecher, started) = if case.leecher == Client::Transmission {
        let leecher = run.start_leecher(None);
        let started = Instant::now();
        let (seeder, _) = run.start_seeder(false);
        (seeder, leecher, started)
    } else {
        let (seeder, addr) = run.start_seeder(true);
        let started = Instant::now();
        (seeder, run.start_leecher(addr), started)
    };
    let done = run.finish_leecher(&mut leecher, &seeder);
    let elapsed = started.elapsed();
    let who = format!("{} from {}", case.leecher.label(), case.seeder.label());
    run.fx.check_copy(&who, &run.out_dir(case.leecher));
    let leecher_said = run.check_leecher(&done, total);
    if let (Some(tracker), Via::HivebtTracker(proto)) = (&run.tracker, case.via) {
        let stats = tracker.stats();
        assert!(
            answered(&stats, proto) >= 2 && answered(&stats, proto.other()) == 0,
            "the seeder and the downloader should have announced over {proto:?} only: {stats}"
        );
    }
    let seeder_said = run.finish_seeder(&mut seeder, total);
    eprintln!("{who}: {total} B in {elapsed:.2?}; {leecher_said}; seeder: {seeder_said}");
}

impl Run<'_> {
    /// Starts the row's tracker and makes its torrent.
    fn start(case: &Case, py: Option<PathBuf>) -> Run<'_> {
        let deadline = Deadline::start();
        // The tracker's URL goes into the torrent and the torrent's info-hash into
        // opentracker's whitelist: pick its port now, start it once the torrent exists.
        let opentracker_at = match case.via {
            Via::Opentracker(_) => SocketAddr::from(([127, 0, 0, 1], free_port_both())),
            _ => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let (tracker, url) = match case.via {
            Via::Direct => (None, None),
            Via::HivebtTracker(proto) => {
                let tracker = TrackerProc::loopback(&[], deadline);
                let url = match proto {
                    Proto::Http => tracker.http_url(),
                    Proto::Udp => tracker.udp_url(),
                };
                (Some(tracker), Some(url))
            }
            Via::Opentracker(proto) => (None, Some(proto.url(opentracker_at))),
        };
        let trackers: Vec<&str> = url.iter().map(String::as_str).collect();
        let (tag, piece) = (case.name, case.piece);
        let fx = match case.layout {
            Layout::SingleFile => {
                let len = single_file_len(piece);
                Fixture::single(tag, "disk.img", len, 7, piece, &trackers, deadline)
            }
            Layout::File(name, len) => Fixture::single(
                tag,
                name,
                len,
                len as u64 ^ 0x5eed,
                piece,
                &trackers,
                deadline,
            ),
            Layout::AwkwardDir => {
                let tree = awkward_tree(piece);
                Fixture::tree(tag, "awkward", &tree, piece, &trackers, deadline)
            }
            Layout::Album => {
                Fixture::tree(tag, "album", &album_tree(piece), piece, &trackers, deadline)
            }
        };
        let hash = fx.info_hash_bytes();
        let opentracker = matches!(case.via, Via::Opentracker(_)).then(|| {
            let work = fx.dir("opentracker");
            Opentracker::start(&work, opentracker_at.port(), &[hash], deadline, |addr| {
                accepts_announce(addr, hash)
            })
        });
        Run {
            case,
            deadline,
            py,
            fx,
            tracker,
            opentracker,
            url,
        }
    }

    fn py(&self) -> &std::path::Path {
        self.py.as_deref().expect("python3 with libtorrent")
    }

    fn udp(&self) -> bool {
        matches!(
            self.case.via,
            Via::HivebtTracker(Proto::Udp) | Via::Opentracker(Proto::Udp)
        )
    }

    /// Where `client` downloads to.
    fn out_dir(&self, client: Client) -> PathBuf {
        let name = match client {
            Client::Hivebt => "hivebt-out",
            Client::Libtorrent => "lt-out",
            Client::Aria2 => "aria2-out",
            Client::Transmission => "transmission-out",
        };
        self.fx.dir(name)
    }

    /// The children whose output explains a failure.
    fn procs<'p>(&'p self, peers: &[&'p Proc]) -> Vec<&'p Proc> {
        let trackers = [
            self.tracker.as_ref().map(|t| &t.proc),
            self.opentracker.as_ref().map(|t| &t.proc),
        ];
        trackers
            .into_iter()
            .flatten()
            .chain(peers.iter().copied())
            .collect()
    }

    /// Polls the tracker until `fx`'s swarm is as `ready` wants.
    fn wait_listed(
        &self,
        what: &str,
        peer: &Proc,
        ready: impl Fn(crate::trackers::http::Counts) -> bool,
    ) {
        let addr = match (&self.tracker, &self.opentracker) {
            (Some(t), _) => t.http[0],
            (_, Some(ot)) => ot.addr(),
            _ => return,
        };
        wait_swarm(
            addr,
            &self.fx,
            what,
            self.deadline,
            &self.procs(&[peer]),
            ready,
        );
    }

    /// Starts the seeder; returns it and its address if it prints one. With `listed`,
    /// returns once a tracker lists it.
    fn start_seeder(&self, listed: bool) -> (Proc, Option<SocketAddr>) {
        let (fx, deadline) = (&self.fx, self.deadline);
        let rate: Vec<&str> = match self.case.seed_rate {
            Some(rate) => vec!["--max-upload-rate", rate],
            None => Vec::new(),
        };
        let (proc, addr) = match self.case.seeder {
            Client::Hivebt => {
                let state = fx.dir("state-seed");
                let p = if self.case.via == Via::Direct {
                    let mut cmd = seed_cmd(&[&fx.torrent], fx.data_dir(), "127.0.0.1:0", &state);
                    Proc::spawn("hivebt seed", cmd.args(&rate))
                } else {
                    hivebt_seed("hivebt seed", &fx.torrent, fx.data_dir(), &state, &rate)
                };
                let addr = p.listen_addr(deadline);
                (p, Some(addr))
            }
            Client::Libtorrent => {
                let p = lt_seed(self.py(), &fx.torrent, fx.data_dir(), deadline);
                let addr = p.listen_addr(deadline);
                (p, Some(addr))
            }
            Client::Aria2 => {
                let work = fx.dir("aria2");
                let p = aria2_seed("aria2c seed", &fx.torrent, fx.data_dir(), &work, self.udp());
                (p, None)
            }
            Client::Transmission => panic!("{}: Transmission does not seed here", self.case.name),
        };
        if listed {
            // hivebt's tracker lists exactly this seeder; opentracker at least it.
            let exact = matches!(self.case.via, Via::HivebtTracker(_));
            self.wait_listed("the seeder to be listed", &proc, |c| {
                if exact {
                    c.complete == 1
                } else {
                    c.complete >= 1
                }
            });
        }
        (proc, addr)
    }

    /// Starts the downloader, given the seeder's address when the row is direct.
    fn start_leecher(&self, seeder: Option<SocketAddr>) -> Leecher {
        let (fx, case) = (&self.fx, self.case);
        let out = self.out_dir(case.leecher);
        let takes_addr = matches!(case.leecher, Client::Hivebt | Client::Libtorrent);
        assert!(
            takes_addr || case.via != Via::Direct,
            "{}: {} takes no peer address",
            case.name,
            case.leecher.label()
        );
        let direct = (case.via == Via::Direct).then(|| {
            seeder.unwrap_or_else(|| panic!("{}: the seeder printed no address", case.name))
        });
        match case.leecher {
            Client::Hivebt => Leecher::Proc(match direct {
                Some(addr) => {
                    let state = fx.dir("state-download");
                    let mut cmd = download_cmd(&fx.torrent, &out, "127.0.0.1:0", &state, &[addr]);
                    Proc::spawn("hivebt download", &mut cmd)
                }
                None => {
                    let state = fx.dir("state-dl");
                    hivebt_download("hivebt download", &fx.torrent, &out, &state, &[])
                }
            }),
            Client::Libtorrent => Leecher::Proc(lt_download(self.py(), &fx.torrent, &out, direct)),
            Client::Aria2 => {
                let work = fx.dir("aria2");
                Leecher::Proc(aria2_download(
                    "aria2c",
                    &fx.torrent,
                    &out,
                    &work,
                    self.udp(),
                ))
            }
            Client::Transmission => {
                let work = fx.dir("transmission");
                let tr = Transmission::start("transmission-daemon", &work, self.deadline);
                tr.add(&fx.torrent, &out, self.deadline);
                self.wait_listed("Transmission to announce as a leecher", &tr.proc, |c| {
                    c.incomplete == 1
                });
                Leecher::Transmission(tr)
            }
        }
    }

    /// Waits for the download to end: the downloader exits 0, or Transmission says
    /// 100 % and then exits 0 on SIGTERM (which flushes what it still caches).
    fn finish_leecher(&self, leecher: &mut Leecher, seeder: &Proc) -> Finished {
        let deadline = self.deadline;
        match leecher {
            Leecher::Proc(p) => p.wait_ok(deadline),
            Leecher::Transmission(tr) => {
                poll_until(
                    "Transmission to finish",
                    deadline,
                    || {
                        format!(
                            "{}\n{}",
                            tr.info(Deadline::after(Duration::from_secs(5))),
                            reports(&self.procs(&[seeder, &tr.proc]))
                        )
                    },
                    || (tr.percent_done(deadline) == Some(100.0)).then_some(()),
                );
                let done = tr.proc.terminate(deadline);
                assert!(done.status.success(), "{}", tr.proc.report());
                done
            }
        }
    }

    /// The downloader's own account of the transfer, checked; returns it for the log.
    fn check_leecher(&self, done: &Finished, total: u64) -> String {
        let case = self.case;
        match case.leecher {
            Client::Hivebt => {
                let s = Summary::find("hivebt download", &done.stderr, &self.fx.info_hash);
                assert!(s.complete, "downloader summary: {}", s.line);
                if case.via == Via::Direct {
                    assert_eq!(s.hash_failures, 0, "downloader summary: {}", s.line);
                    assert_eq!(s.peers_used, 1, "downloader summary: {}", s.line);
                    assert!(
                        at_least(s.downloaded, total),
                        "the downloader says it downloaded less than the torrent ({total} B): {}",
                        s.line
                    );
                }
                if let Some(url) = &self.url {
                    assert!(
                        done.stderr.contains(&format!("tracker {url}")),
                        "hivebt did not log an answer from {url}:\n{}",
                        done.stderr
                    );
                }
                s.line
            }
            Client::Libtorrent => format!("libtorrent: {}", lt_result(done)),
            Client::Aria2 | Client::Transmission => String::new(),
        }
    }

    /// Stops the seeder and checks its account of the transfer; returns it for the log.
    fn finish_seeder(&self, p: &mut Proc, total: u64) -> String {
        let deadline = self.deadline;
        match self.case.seeder {
            Client::Hivebt => {
                let end = p.terminate(deadline);
                assert!(
                    end.status.success(),
                    "hivebt seed exited {} on SIGTERM\n{}",
                    end.status,
                    p.report()
                );
                let s = Summary::find("hivebt seed", &end.stderr, &self.fx.info_hash);
                if self.case.via == Via::Direct {
                    assert!(s.complete, "seeder summary: {}", s.line);
                    assert!(
                        at_least(s.uploaded, total),
                        "the seeder says it uploaded less than the torrent ({total} B): {}",
                        s.line
                    );
                }
                s.line
            }
            Client::Libtorrent => {
                p.close_stdin();
                let done = p.wait_ok(deadline);
                let uploaded = lt_result(&done)["uploaded"].as_u64().expect("uploaded");
                assert!(
                    uploaded >= total,
                    "libtorrent says it uploaded {uploaded} B of a {total} B torrent"
                );
                format!("libtorrent uploaded {uploaded} B")
            }
            Client::Aria2 | Client::Transmission => {
                p.close_stdin();
                String::new()
            }
        }
    }
}
