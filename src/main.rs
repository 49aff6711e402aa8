//! The `hivebt` command line: parses arguments, calls the library, prints the result and
//! maps errors to exit codes (0 success, 1 operational failure, 2 bad input).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use hivebt::config;
use hivebt::error::{Error, Result};
use hivebt::ops::{self, create, inspect, transfer, verify};
use std::collections::HashSet;

use hivebt::reactor::{EngineConfig, TrackerServerSetup, UploadMode};
use hivebt::tracker::server::TrackerConfig;
use hivebt::types::InfoHash;

#[derive(Parser)]
#[command(
    name = "hivebt",
    version,
    about = "BitTorrent for seed boxes and benchmarking runs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run, so the size difference between commands costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Create a .torrent file from a file or directory.
    Create {
        /// The file or directory to share.
        path: PathBuf,
        #[command(flatten)]
        torrent: TorrentArgs,
        /// Hashing threads [default: all cores].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
    },
    /// Show what a .torrent file or magnet link holds.
    Inspect {
        /// A .torrent file or a magnet: link.
        #[arg(value_name = "FILE.torrent|MAGNET")]
        target: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Seed torrents (or create one from a file or directory and seed it).
    Seed {
        /// .torrent files to seed, or one plain file or directory to create a torrent of.
        #[arg(required = true, value_name = "TORRENT|PATH")]
        targets: Vec<PathBuf>,
        /// Directory holding the content (DIR/<name>) [default: the current directory].
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
        /// For a plain PATH: what goes into its new torrent.
        #[command(flatten)]
        torrent: TorrentArgs,
        /// For a plain PATH given no tracker: where the embedded tracker listens.
        #[command(flatten)]
        embedded: EmbeddedTrackerArgs,
    },
    /// Download a torrent from peers.
    Download {
        /// The .torrent file.
        torrent: PathBuf,
        /// Directory to download into (the content goes to DIR/<name>).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Keep seeding after the download completes.
        #[arg(long)]
        seed: bool,
        /// Give up, exiting 1 with the reason, when no payload arrives for SECS seconds
        /// [default: wait for peers as long as it takes].
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Another tracker to announce to (repeatable), besides the torrent's.
        #[arg(long = "tracker", value_name = "URL")]
        trackers: Vec<String>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Run an HTTP and UDP tracker.
    Tracker {
        #[command(flatten)]
        server: TrackerArgs,
    },
    /// Recheck data on disk against a torrent.
    Verify {
        /// The .torrent file.
        torrent: PathBuf,
        /// Directory holding the content (DATA_PATH/<name>), or the content itself.
        data_path: PathBuf,
        /// Hashing threads [default: all cores].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What goes into a new torrent: shared by `create` and `seed PATH`.
#[derive(clap::Args)]
struct TorrentArgs {
    /// Where to write the torrent [default: ./<name>.torrent].
    #[arg(short, long, value_name = "OUT.torrent")]
    output: Option<PathBuf>,
    /// Tracker URL; repeat for more tiers, separate URLs with commas for one tier.
    #[arg(short = 't', long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Piece length: bytes (262144, 256K, 4M) or auto.
    #[arg(long, default_value = "auto", value_name = "BYTES|auto", value_parser = create::parse_piece_length)]
    piece_length: create::PieceLength,
    /// Mark the torrent private (BEP 27).
    #[arg(long)]
    private: bool,
    /// Comment to store in the torrent.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// Source tag (info.source), as some private trackers require.
    #[arg(long, value_name = "TEXT")]
    source: Option<String>,
    /// Web seed URL (BEP 19); repeatable.
    #[arg(long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,
    /// Leave out the creation date (reproducible output).
    #[arg(long)]
    no_date: bool,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

impl TorrentArgs {
    /// Hashes `path` into a torrent, writes it and returns where, with the metainfo.
    /// Fails before hashing when the output exists and `--force` was not given.
    fn create(
        self,
        path: PathBuf,
        threads: usize,
    ) -> Result<(PathBuf, hivebt::wire::metainfo::Metainfo)> {
        let out = match self.output {
            Some(o) => o,
            None => {
                // Named after the content (the real name of `.`); `build` checks it.
                let name = path.file_name().map(|n| n.to_owned()).or_else(|| {
                    std::fs::canonicalize(&path)
                        .ok()
                        .and_then(|p| p.file_name().map(|n| n.to_owned()))
                });
                let name = name.ok_or_else(|| {
                    Error::BadInput(format!(
                        "{}: cannot name the torrent; use -o",
                        path.display()
                    ))
                })?;
                PathBuf::from(format!("{}.torrent", name.to_string_lossy()))
            }
        };
        create::check_output(&out, self.force)?;
        let opts = create::CreateOptions {
            path,
            trackers: self.trackers,
            piece_length: self.piece_length.0,
            private: self.private,
            comment: self.comment,
            source: self.source,
            web_seeds: self.web_seeds,
            no_date: self.no_date,
            threads,
        };
        let (bytes, meta) = create::build(&opts)?;
        create::write_torrent_file(&out, &bytes, self.force)?;
        Ok((out, meta))
    }
}

/// The tracker server's options.
#[derive(clap::Args)]
struct TrackerArgs {
    /// Address for HTTP announces (repeatable) [default: 0.0.0.0:6969 when neither
    /// --http nor --udp is given].
    #[arg(long, value_name = "ADDR", value_parser = transfer::parse_addr)]
    http: Vec<SocketAddr>,
    /// Address for UDP announces, BEP 15 (repeatable) [default: 0.0.0.0:6969 when
    /// neither --http nor --udp is given].
    #[arg(long, value_name = "ADDR", value_parser = transfer::parse_addr)]
    udp: Vec<SocketAddr>,
    /// Seconds between a client's announces.
    #[arg(long, default_value_t = config::TRACKER_INTERVAL_SECS, value_name = "SECS")]
    interval: u64,
    /// Most torrents tracked; announces for new ones beyond it are refused.
    #[arg(long, default_value_t = config::TRACKER_MAX_TORRENTS, value_name = "N")]
    max_torrents: usize,
    /// Most peers listed per torrent; newcomers beyond it get peers but are not listed.
    #[arg(long, default_value_t = config::TRACKER_MAX_PEERS_PER_TORRENT, value_name = "N")]
    max_peers_per_torrent: usize,
    /// Only track the info-hashes in FILE (40 hex digits per line; # comments).
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Trust the `ip` a client claims (only behind a proxy you control).
    #[arg(long)]
    trust_ip: bool,
    /// Most HTTP connections open at once.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_http_connections: usize,
}

impl TrackerArgs {
    /// Binds the sockets and builds the server's configuration.
    fn setup(self) -> Result<TrackerServerSetup> {
        if self.interval == 0 {
            return Err(Error::BadInput(
                "--interval must be at least 1 second".into(),
            ));
        }
        let (http, udp) = if self.http.is_empty() && self.udp.is_empty() {
            let any: SocketAddr = ([0, 0, 0, 0], 6969).into();
            (vec![any], vec![any])
        } else {
            (self.http, self.udp)
        };
        let allow = self.allow.as_deref().map(read_allow_list).transpose()?;
        let interval = std::time::Duration::from_secs(self.interval);
        let defaults = TrackerConfig::default();
        let tracker = TrackerConfig {
            interval,
            min_interval: defaults.min_interval.min(interval),
            peer_timeout: TrackerConfig::peer_timeout_for(interval),
            max_torrents: self.max_torrents,
            max_peers_per_torrent: self.max_peers_per_torrent,
            allow,
            trust_claimed_ip: self.trust_ip,
            ..defaults
        };
        bind_tracker(&http, &udp, tracker, self.max_http_connections)
    }
}

/// Binds tracker sockets: a clear error names the address that failed.
fn bind_tracker(
    http: &[SocketAddr],
    udp: &[SocketAddr],
    config: TrackerConfig,
    max_http_connections: usize,
) -> Result<TrackerServerSetup> {
    let mut setup = TrackerServerSetup {
        http: Vec::new(),
        udp: Vec::new(),
        config,
        max_http_connections,
    };
    for a in http {
        let l = std::net::TcpListener::bind(a)
            .map_err(|e| Error::Failed(format!("cannot listen on {a} for HTTP announces: {e}")))?;
        setup.http.push(l);
    }
    for a in udp {
        let u = std::net::UdpSocket::bind(a)
            .map_err(|e| Error::Failed(format!("cannot bind {a} for UDP announces: {e}")))?;
        setup.udp.push(u);
    }
    Ok(setup)
}

/// Reads an allow list: one 40-hex info-hash per line, blank lines and `#` comments
/// ignored.
fn read_allow_list(path: &std::path::Path) -> Result<HashSet<InfoHash>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut set = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let hash = InfoHash::from_hex(line).ok_or_else(|| {
            Error::BadInput(format!(
                "{}:{}: '{line}' is not a 40-digit hex info-hash",
                path.display(),
                n + 1
            ))
        })?;
        set.insert(hash);
    }
    Ok(set)
}

/// Where `seed PATH` runs its embedded tracker when the torrent names none.
#[derive(clap::Args)]
struct EmbeddedTrackerArgs {
    /// HTTP address of the embedded tracker.
    #[arg(long, default_value = "0.0.0.0:6969", value_name = "ADDR", value_parser = transfer::parse_addr)]
    tracker_http: SocketAddr,
    /// UDP address of the embedded tracker.
    #[arg(long, default_value = "0.0.0.0:6969", value_name = "ADDR", value_parser = transfer::parse_addr)]
    tracker_udp: SocketAddr,
    /// Host name or address other machines reach this one by, for the tracker URLs put
    /// in the torrent [default: this machine's host name].
    #[arg(long, value_name = "HOST")]
    announce_host: Option<String>,
    /// Do not start an embedded tracker.
    #[arg(long)]
    no_tracker: bool,
}

/// This machine's host name, from the kernel.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Options shared by `seed` and `download`.
#[derive(clap::Args)]
struct EngineArgs {
    /// Address to accept peers on; repeatable (IPv4 `0.0.0.0:6881`, IPv6 `[::]:6881`)
    /// [default: 0.0.0.0:6881 for seed, 0.0.0.0:0 (any free port) for download].
    #[arg(long, value_name = "ADDR", value_parser = transfer::parse_addr)]
    listen: Vec<SocketAddr>,
    /// Peer to connect to; repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT", value_parser = transfer::parse_addr)]
    peers: Vec<SocketAddr>,
    /// Most connected peers.
    #[arg(long, default_value_t = 500, value_name = "N")]
    max_peers: usize,
    /// Peers unchoked at once per torrent.
    #[arg(long, default_value_t = 16, value_name = "N")]
    upload_slots: usize,
    /// State directory for resume records [default: $XDG_STATE_HOME/hivebt or
    /// ~/.local/state/hivebt].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Total upload limit in bytes per second (K/M/G suffixes) [default: none].
    #[arg(long, value_name = "RATE", value_parser = ops::parse_bytes)]
    max_upload_rate: Option<u64>,
    /// Total download limit in bytes per second (K/M/G suffixes) [default: none].
    #[arg(long, value_name = "RATE", value_parser = ops::parse_bytes)]
    max_download_rate: Option<u64>,
    /// Worker threads for hashing and disk I/O [default: cores - 1, at least 1].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How blocks are sent: `sendfile` straight from the page cache after a prefetch on
    /// a worker, or `buffered` (whole pieces read into a 32 MiB cache per torrent).
    #[arg(long, value_enum, default_value_t = UploadModeArg::Sendfile, value_name = "MODE")]
    upload_mode: UploadModeArg,
    /// Print latency histograms (request to block, hash queue wait, hash time, disk
    /// read, reactor loop) at exit.
    #[arg(long)]
    stats: bool,
}

/// `--upload-mode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum UploadModeArg {
    /// sendfile(2) from the page cache.
    Sendfile,
    /// Pieces read into memory, sent with vectored writes.
    Buffered,
}

impl EngineArgs {
    fn config(self, default_listen: &str, exit_when_complete: bool) -> Result<EngineConfig> {
        if self.upload_slots == 0 {
            return Err(Error::BadInput("--upload-slots must be at least 1".into()));
        }
        if self.max_peers == 0 {
            return Err(Error::BadInput("--max-peers must be at least 1".into()));
        }
        let listen = if self.listen.is_empty() {
            vec![
                default_listen
                    .parse()
                    .map_err(|_| Error::Failed("bad default address".into()))?,
            ]
        } else {
            self.listen
        };
        Ok(EngineConfig {
            listen,
            peers: self.peers,
            max_peers: self.max_peers,
            upload_slots: self.upload_slots,
            workers: ops::thread_count(self.threads, config::engine_worker_threads())?,
            state_dir: transfer::state_dir(self.state),
            exit_when_complete,
            announce_listen: true,
            max_upload_rate: self.max_upload_rate.filter(|&r| r > 0),
            max_download_rate: self.max_download_rate.filter(|&r| r > 0),
            extra_trackers: Vec::new(),
            tracker_server: None,
            upload_mode: match self.upload_mode {
                UploadModeArg::Sendfile => UploadMode::Sendfile,
                UploadModeArg::Buffered => UploadMode::Buffered,
            },
            stats: self.stats,
            stall_timeout: None,
        })
    }
}

/// Whether `path` looks like a .torrent file rather than content to share: it ends in
/// `.torrent` and starts like a bencoded dictionary.
fn is_torrent_file(path: &std::path::Path) -> bool {
    use std::io::Read;
    if path.extension().is_none_or(|e| e != "torrent") {
        return false;
    }
    let mut first = [0u8; 1];
    std::fs::File::open(path)
        .is_ok_and(|mut f| f.read_exact(&mut first).is_ok() && first[0] == b'd')
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Create {
            path,
            torrent,
            threads,
        } => {
            let threads = ops::thread_count(threads, config::batch_worker_threads())?;
            let (out, meta) = torrent.create(path, threads)?;
            println!("created {}", out.display());
            println!("  name       {}", String::from_utf8_lossy(&meta.info.name));
            println!("  info-hash  {}", meta.info_hash);
            println!(
                "  pieces     {} x {}",
                meta.info.pieces.len(),
                hivebt::progress::human_bytes(meta.info.piece_length)
            );
            println!("  magnet     {}", meta.magnet());
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { target, json } => {
            let inspected = inspect::inspect(&target)?;
            if json {
                println!("{}", inspected.to_json());
            } else {
                print!("{}", inspected.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed {
            targets,
            data,
            engine,
            mut torrent,
            embedded,
        } => {
            let threads = ops::thread_count(engine.threads, config::batch_worker_threads())?;
            let mut config = engine.config("0.0.0.0:6881", false)?;
            let mut specs = Vec::new();
            if targets.len() == 1 && !is_torrent_file(&targets[0]) {
                // Share a plain file or directory: create its torrent first, then seed
                // the content where it is.
                let path = targets[0].clone();
                // The directory holding the content: the path's parent, or for `.` and
                // `..` the parent of the real directory (links are not resolved otherwise,
                // so the content keeps the name the torrent gives it).
                let parent = match (path.file_name(), path.parent()) {
                    (Some(_), Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    (Some(_), _) => PathBuf::from("."),
                    (None, _) => std::fs::canonicalize(&path)
                        .map_err(|e| Error::io("cannot resolve", &path, e))?
                        .parent()
                        .map_or_else(|| PathBuf::from("/"), |p| p.to_path_buf()),
                };
                if torrent.trackers.is_empty() && !embedded.no_tracker {
                    // No tracker given: run one here and name it in the torrent.
                    let setup = bind_tracker(
                        &[embedded.tracker_http],
                        &[embedded.tracker_udp],
                        TrackerConfig::default(),
                        10_000,
                    )?;
                    let host = embedded.announce_host.unwrap_or_else(host_name);
                    let host = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host
                    };
                    let port = |a: std::io::Result<SocketAddr>| a.map(|a| a.port()).unwrap_or(0);
                    let udp_port = port(setup.udp[0].local_addr());
                    let http_port = port(setup.http[0].local_addr());
                    torrent.trackers = vec![format!(
                        "udp://{host}:{udp_port}/announce,http://{host}:{http_port}/announce"
                    )];
                    config.tracker_server = Some(setup);
                }
                let (out, meta) = torrent.create(path, threads)?;
                println!("torrent {}", out.display());
                println!("magnet {}", meta.magnet());
                if config.tracker_server.is_some() {
                    println!(
                        "to download it elsewhere, copy {} there and run: hivebt download {} --out DIR",
                        out.display(),
                        out.file_name().map_or_else(
                            || out.display().to_string(),
                            |n| n.to_string_lossy().into_owned()
                        )
                    );
                }
                let dir = data.unwrap_or(parent);
                specs.push(transfer::prepare_meta(
                    meta,
                    &dir,
                    transfer::DataMode::Existing,
                    config.state_dir.as_deref(),
                    threads,
                )?);
            } else {
                config.extra_trackers = std::mem::take(&mut torrent.trackers);
                let dir = data.unwrap_or_else(|| PathBuf::from("."));
                for t in &targets {
                    specs.push(transfer::prepare(
                        t,
                        &dir,
                        transfer::DataMode::Existing,
                        config.state_dir.as_deref(),
                        threads,
                    )?);
                }
            }
            transfer::run(config, specs)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Download {
            torrent,
            out,
            seed,
            timeout,
            trackers,
            engine,
        } => {
            let threads = ops::thread_count(engine.threads, config::batch_worker_threads())?;
            let mut config = engine.config("0.0.0.0:0", !seed)?;
            config.extra_trackers = trackers;
            if timeout == Some(0) {
                return Err(Error::BadInput(
                    "--timeout must be at least 1 second".into(),
                ));
            }
            config.stall_timeout = timeout.map(Duration::from_secs);
            let spec = transfer::prepare(
                &torrent,
                &out,
                transfer::DataMode::Download,
                config.state_dir.as_deref(),
                threads,
            )?;
            let summaries = transfer::run(config, vec![spec])?;
            Ok(if summaries.iter().all(|s| s.complete) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Tracker { server } => {
            let setup = server.setup()?;
            let config = EngineConfig {
                listen: Vec::new(),
                peers: Vec::new(),
                max_peers: 1,
                upload_slots: 1,
                workers: 1,
                state_dir: None,
                max_upload_rate: None,
                max_download_rate: None,
                exit_when_complete: false,
                announce_listen: true,
                extra_trackers: Vec::new(),
                tracker_server: Some(setup),
                upload_mode: UploadMode::default(),
                stats: false,
                stall_timeout: None,
            };
            transfer::run(config, Vec::new())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            torrent,
            data_path,
            threads,
            json,
        } => {
            let threads = ops::thread_count(threads, config::batch_worker_threads())?;
            let report = verify::verify(&torrent, &data_path, threads)?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            Ok(if report.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: not errors.
            print!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap renders "error: ..." plus a usage hint; keep the documented prefix.
            eprint!("hivebt: {}", e.render());
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hivebt: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
