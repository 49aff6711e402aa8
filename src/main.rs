//! The `hivebt` command line: parses arguments, calls the library, prints the result and
//! maps errors to exit codes (0 success, 1 operational failure, 2 bad input).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hivebt::config;
use hivebt::error::Result;
use hivebt::ops::ctl::{self, CtlCommand, CtlOptions, units};
use hivebt::ops::seed::{EmbeddedTracker, NewTorrent, SeedOptions};
use hivebt::ops::tracker::TrackerOptions;
use hivebt::ops::transfer::{DownloadOptions, EngineOptions};
use hivebt::ops::{self, create, daemon, inspect, seed, tracker, transfer, verify};
use hivebt::reactor::{DhtSetup, UploadMode};

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
        /// The .torrent file, or a magnet: link (its metadata is fetched from the
        /// link's x.pe peers, --peer, its tr= trackers and the DHT).
        #[arg(value_name = "FILE.torrent|MAGNET")]
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
        /// For a magnet link: also write the fetched .torrent here (it is saved in the
        /// state directory, under torrents/, too).
        #[arg(long, value_name = "PATH")]
        save_torrent: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Run an HTTP and UDP tracker.
    Tracker {
        #[command(flatten)]
        server: TrackerArgs,
    },
    /// Run the seed-box service: torrents added and controlled at runtime over the
    /// HTTP API, kept in a state directory across restarts.
    Daemon {
        #[command(flatten)]
        args: DaemonArgs,
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
    /// Control a running `hivebt daemon` over its HTTP API.
    Ctl {
        #[command(flatten)]
        conn: CtlArgs,
        #[command(subcommand)]
        command: CtlCommandArgs,
    },
}

/// How `ctl` reaches the daemon.
#[derive(clap::Args)]
struct CtlArgs {
    /// The daemon's API, exactly http://HOST:PORT (no https) [default: $HIVEBT_URL, else
    /// http://127.0.0.1:8080].
    #[arg(long, global = true, value_name = "URL", help_heading = "Daemon")]
    url: Option<String>,
    /// The API token [default: $HIVEBT_TOKEN, else DIR/api_token with --state DIR].
    #[arg(long, global = true, value_name = "TOKEN", help_heading = "Daemon")]
    token: Option<String>,
    /// The daemon's state directory, to read its api_token from (give it before the
    /// subcommand).
    #[arg(long, value_name = "DIR", help_heading = "Daemon")]
    state: Option<PathBuf>,
    /// Print the daemon's raw JSON answers instead of text.
    #[arg(long, global = true, help_heading = "Daemon")]
    json: bool,
    /// Seconds each request may take [default: 30; 3600 for add --create].
    #[arg(long, global = true, value_name = "SECS", help_heading = "Daemon")]
    timeout: Option<u64>,
}

/// `ctl` subcommands.
#[derive(Subcommand)]
enum CtlCommandArgs {
    /// Add torrents: .torrent files (uploaded), magnet links, or with --create paths
    /// on the daemon's machine to make torrents of.
    Add {
        /// .torrent files, magnet: links, or (with --create) files or directories.
        #[arg(required = true, value_name = "FILE.torrent|MAGNET|PATH")]
        targets: Vec<String>,
        /// Where the daemon puts the content (made absolute here) [default: the
        /// daemon's].
        #[arg(long, value_name = "DIR")]
        save_path: Option<PathBuf>,
        /// Add without starting.
        #[arg(long)]
        paused: bool,
        /// A label for each torrent (repeatable; no commas).
        #[arg(long = "label", value_name = "L", value_parser = units::parse_label)]
        labels: Vec<String>,
        /// Make a torrent of each PATH (the daemon hashes it), then add it.
        #[arg(long)]
        create: bool,
        /// With --create: piece length in bytes (256K, 4M) [default: the daemon's].
        #[arg(long, requires = "create", value_name = "N", value_parser = hivebt::settings::parse_size)]
        piece_length: Option<u64>,
        /// With --create: mark the torrent private (BEP 27).
        #[arg(long, requires = "create")]
        private: bool,
        /// With --create: a tracker URL (repeatable).
        #[arg(long = "tracker", requires = "create", value_name = "URL")]
        trackers: Vec<String>,
        /// With --create: a comment to store in the torrent.
        #[arg(long, requires = "create", value_name = "TEXT")]
        comment: Option<String>,
    },
    /// List torrents as a table.
    List {
        /// Only torrents in this state.
        #[arg(long, value_name = "S", value_parser = clap::builder::PossibleValuesParser::new(ctl::STATES))]
        state: Option<String>,
        /// Only torrents with this label.
        #[arg(long, value_name = "L")]
        label: Option<String>,
    },
    /// Pause torrents.
    Pause(CtlTargets),
    /// Resume paused torrents.
    Resume(CtlTargets),
    /// Check torrents' data on disk again.
    Recheck(CtlTargets),
    /// Announce torrents to their trackers now.
    Reannounce(CtlTargets),
    /// Remove torrents (their data stays unless --delete-data).
    Remove {
        /// Delete the downloaded data too.
        #[arg(long)]
        delete_data: bool,
        #[command(flatten)]
        targets: CtlTargets,
    },
    /// Change a torrent's limits or labels (only those given).
    Set {
        /// A full info-hash, a unique prefix of 6+ hex digits, or an exact name.
        #[arg(value_name = "HASH_OR_NAME")]
        target: String,
        /// Upload limit in bytes per second (512K, 10M, 1.5G); 0 or none: unlimited.
        #[arg(long, value_name = "RATE", value_parser = units::parse_rate_limit)]
        max_upload_rate: Option<units::Limit<u64>>,
        /// Download limit in bytes per second; 0 or none: unlimited.
        #[arg(long, value_name = "RATE", value_parser = units::parse_rate_limit)]
        max_download_rate: Option<units::Limit<u64>>,
        /// Most connected peers; 0 or none: unlimited.
        #[arg(long, value_name = "N", value_parser = units::parse_connection_limit)]
        max_connections: Option<units::Limit<u32>>,
        /// Stop seeding at this share ratio (2.0); none: never.
        #[arg(long, value_name = "RATIO", value_parser = units::parse_ratio_limit)]
        ratio_limit: Option<units::Limit<f64>>,
        /// Stop seeding after this long (30m, 12h, 7d, 1w, or seconds); none: never.
        #[arg(long, value_name = "DURATION", value_parser = units::parse_seed_time_limit)]
        seed_time_limit: Option<units::Limit<u64>>,
        /// The torrent's labels, replacing its current ones (repeatable).
        #[arg(long = "label", value_name = "L", value_parser = units::parse_label)]
        labels: Vec<String>,
        /// Remove all of the torrent's labels.
        #[arg(long, conflicts_with = "labels")]
        clear_labels: bool,
    },
    /// Show the session's rates, totals and limits.
    Stats,
}

/// The torrents a `ctl` action applies to.
#[derive(clap::Args)]
struct CtlTargets {
    /// Full info-hashes, unique prefixes of 6+ hex digits, or exact names.
    #[arg(required = true, value_name = "HASH_OR_NAME")]
    targets: Vec<String>,
}

impl CtlCommandArgs {
    fn into_command(self) -> CtlCommand {
        let act = |action, t: CtlTargets| CtlCommand::Act {
            action,
            targets: t.targets,
        };
        match self {
            CtlCommandArgs::Add {
                targets,
                save_path,
                paused,
                labels,
                create,
                piece_length,
                private,
                trackers,
                comment,
            } => CtlCommand::Add(ctl::AddOptions {
                targets,
                save_path,
                paused,
                labels,
                create: create.then_some(ctl::CreateOptions {
                    piece_length,
                    private,
                    trackers,
                    comment,
                }),
            }),
            CtlCommandArgs::List { state, label } => CtlCommand::List { state, label },
            CtlCommandArgs::Pause(t) => act(ctl::Action::Pause, t),
            CtlCommandArgs::Resume(t) => act(ctl::Action::Resume, t),
            CtlCommandArgs::Recheck(t) => act(ctl::Action::Recheck, t),
            CtlCommandArgs::Reannounce(t) => act(ctl::Action::Reannounce, t),
            CtlCommandArgs::Remove {
                delete_data,
                targets,
            } => CtlCommand::Remove {
                targets: targets.targets,
                delete_data,
            },
            CtlCommandArgs::Set {
                target,
                max_upload_rate,
                max_download_rate,
                max_connections,
                ratio_limit,
                seed_time_limit,
                labels,
                clear_labels,
            } => CtlCommand::Set {
                target,
                change: ctl::Change {
                    max_upload_rate,
                    max_download_rate,
                    max_connections,
                    ratio_limit,
                    seed_time_limit,
                    labels: (clear_labels || !labels.is_empty()).then_some(labels),
                },
            },
            CtlCommandArgs::Stats => CtlCommand::Stats,
        }
    }
}

/// `hivebt daemon`'s flags; each overrides the configuration file.
#[derive(clap::Args)]
struct DaemonArgs {
    /// The configuration file (TOML) [default: none; every setting at its default].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// State directory: the session, resume records, password and API token
    /// [default: $XDG_STATE_HOME/hivebt or ~/.local/state/hivebt].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Save path of torrents added without one.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// API address; repeatable [default: 127.0.0.1:8080]. Any address but loopback
    /// needs a password (`--set-password`).
    #[arg(long, value_name = "ADDR", value_parser = transfer::parse_addr)]
    api: Vec<SocketAddr>,
    /// Address to accept peers on; repeatable [default: 0.0.0.0:6881 and [::]:6881].
    #[arg(long, value_name = "ADDR", value_parser = transfer::parse_addr)]
    listen: Vec<SocketAddr>,
    /// Folder watched for .torrent files to add.
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// Peer every torrent connects to; repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT", value_parser = transfer::parse_addr)]
    peers: Vec<SocketAddr>,
    #[command(flatten)]
    dht: DhtArgs,
    /// Print every setting with its default and a line of documentation, and exit.
    #[arg(long)]
    print_config: bool,
    /// Read a password from standard input, store its hash in the state directory,
    /// and exit.
    #[arg(long)]
    set_password: bool,
}

/// The DHT's flags: shared by `seed`, `download` and `daemon`.
#[derive(clap::Args)]
struct DhtArgs {
    /// Keep out of the DHT (BEP 5; on by default, never for private torrents).
    #[arg(long, help_heading = "DHT")]
    no_dht: bool,
    /// A node to join the DHT through; repeatable [default: the public routers
    /// router.bittorrent.com:6881, dht.transmissionbt.com:6881, router.utorrent.com:6881,
    /// dht.libtorrent.org:25401].
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT", value_parser = hivebt::settings::parse_host_port, help_heading = "DHT")]
    dht_bootstrap: Vec<String>,
    /// UDP address of the DHT; repeatable [default: the --listen addresses, the peer
    /// port over UDP].
    #[arg(long = "dht-listen", value_name = "ADDR", value_parser = transfer::parse_addr, help_heading = "DHT")]
    dht_listen: Vec<SocketAddr>,
    /// No local service discovery (BEP 14: multicast announces on the peer
    /// listeners' networks; on by default, never for private torrents).
    #[arg(long = "no-lsd", help_heading = "DHT")]
    no_lsd: bool,
    /// No peer exchange (BEP 11 ut_pex: connected peers tell each other about the
    /// swarm; on by default, never for private torrents).
    #[arg(long = "no-pex", help_heading = "DHT")]
    no_pex: bool,
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
    /// The new torrent's options (its path and threads are the command's).
    fn into_new(self) -> NewTorrent {
        NewTorrent {
            create: create::CreateOptions {
                trackers: self.trackers,
                piece_length: self.piece_length.0,
                private: self.private,
                comment: self.comment,
                source: self.source,
                web_seeds: self.web_seeds,
                no_date: self.no_date,
                ..Default::default()
            },
            output: self.output,
            force: self.force,
        }
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
    fn into_options(self) -> TrackerOptions {
        TrackerOptions {
            http: self.http,
            udp: self.udp,
            interval_secs: self.interval,
            max_torrents: self.max_torrents,
            max_peers_per_torrent: self.max_peers_per_torrent,
            allow: self.allow,
            trust_ip: self.trust_ip,
            max_http_connections: self.max_http_connections,
        }
    }
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

impl EmbeddedTrackerArgs {
    fn into_options(self) -> EmbeddedTracker {
        EmbeddedTracker {
            http: self.tracker_http,
            udp: self.tracker_udp,
            announce_host: self.announce_host,
            disabled: self.no_tracker,
        }
    }
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
    #[arg(long, value_name = "RATE", value_parser = hivebt::settings::parse_rate_flag)]
    max_upload_rate: Option<u64>,
    /// Total download limit in bytes per second (K/M/G suffixes) [default: none].
    #[arg(long, value_name = "RATE", value_parser = hivebt::settings::parse_rate_flag)]
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
    #[command(flatten)]
    dht: DhtArgs,
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
    fn into_options(self) -> EngineOptions {
        EngineOptions {
            listen: self.listen,
            peers: self.peers,
            max_peers: self.max_peers,
            upload_slots: self.upload_slots,
            state: self.state,
            max_upload_rate: self.max_upload_rate,
            max_download_rate: self.max_download_rate,
            threads: self.threads,
            upload_mode: match self.upload_mode {
                UploadModeArg::Sendfile => UploadMode::Sendfile,
                UploadModeArg::Buffered => UploadMode::Buffered,
            },
            stats: self.stats,
            dht: (!self.dht.no_dht).then_some(DhtSetup {
                listen: self.dht.dht_listen,
                bootstrap: self.dht.dht_bootstrap,
                table_file: None,
            }),
            lsd: !self.dht.no_lsd,
            pex: !self.dht.no_pex,
        }
    }
}

/// Exit code 0 when `ok`, else 1 (an operational failure: incomplete data).
fn success_if(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Create {
            path,
            torrent,
            threads,
        } => {
            let threads = ops::thread_count(threads, config::batch_worker_threads())?;
            let new = torrent.into_new();
            let opts = create::CreateOptions {
                path,
                threads,
                ..new.create
            };
            let (out, meta) = create::create_file(opts, new.output, new.force)?;
            print!("{}", create::created_text(&out, &meta));
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
            torrent,
            embedded,
        } => {
            seed::seed(SeedOptions {
                targets,
                data,
                engine: engine.into_options(),
                torrent: torrent.into_new(),
                embedded: embedded.into_options(),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Download {
            torrent,
            out,
            seed,
            timeout,
            trackers,
            save_torrent,
            engine,
        } => {
            let complete = transfer::download(DownloadOptions {
                torrent,
                out,
                seed,
                timeout_secs: timeout,
                trackers,
                save_torrent,
                engine: engine.into_options(),
            })?;
            Ok(success_if(complete))
        }
        Command::Daemon { args } => {
            let flags = daemon::Flags {
                config: args.config,
                state: args.state,
                data: args.data,
                api: args.api,
                listen: args.listen,
                watch: args.watch,
                peers: args.peers,
                no_dht: args.dht.no_dht,
                dht_bootstrap: args.dht.dht_bootstrap,
                dht_listen: args.dht.dht_listen,
                no_lsd: args.dht.no_lsd,
                no_pex: args.dht.no_pex,
            };
            if args.print_config {
                print!("{}", daemon::print_config());
                return Ok(ExitCode::SUCCESS);
            }
            let opts = daemon::options(flags)?;
            if args.set_password {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map_err(|e| {
                    hivebt::error::Error::Failed(format!("cannot read the password: {e}"))
                })?;
                daemon::set_password(&opts.state_dir, line.trim_end_matches(['\r', '\n']))?;
                eprintln!("hivebt: password set in {}", opts.state_dir.display());
                return Ok(ExitCode::SUCCESS);
            }
            daemon::run(opts)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tracker { server } => {
            tracker::run(server.into_options())?;
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
            Ok(success_if(report.complete()))
        }
        Command::Ctl { conn, command } => {
            let opts = CtlOptions {
                url: conn.url,
                token: conn.token,
                state: conn.state,
                json: conn.json,
                timeout_secs: conn.timeout,
                command: command.into_command(),
            };
            // ctl's messages name their source ("the daemon says: ...", "cannot reach
            // the daemon at ..."), so they go out without the "error:" prefix.
            Ok(match ctl::run(opts, &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hivebt: {e}");
                    ExitCode::from(e.exit_code() as u8)
                }
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
