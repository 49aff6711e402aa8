//! The `hivebt` command line: parses arguments, calls the library, prints the result and
//! maps errors to exit codes (0 success, 1 operational failure, 2 bad input).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hivebt::config;
use hivebt::error::{Error, Result};
use hivebt::ops::{self, create, inspect, transfer, verify};
use hivebt::reactor::EngineConfig;

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
        #[command(flatten)]
        engine: EngineArgs,
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
            torrent,
        } => {
            let threads = ops::thread_count(engine.threads, config::batch_worker_threads())?;
            let config = engine.config("0.0.0.0:6881", false)?;
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
                let (out, meta) = torrent.create(path, threads)?;
                println!("torrent {}", out.display());
                println!("magnet {}", meta.magnet());
                let dir = data.unwrap_or(parent);
                specs.push(transfer::prepare_meta(
                    meta,
                    &dir,
                    transfer::DataMode::Existing,
                    config.state_dir.as_deref(),
                    threads,
                )?);
            } else {
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
            engine,
        } => {
            let threads = ops::thread_count(engine.threads, config::batch_worker_threads())?;
            let config = engine.config("0.0.0.0:0", !seed)?;
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
