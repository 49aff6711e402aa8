//! The `hivebt` command line: parses arguments, calls the library, prints the result and
//! maps errors to exit codes (0 success, 1 operational failure, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hivebt::config;
use hivebt::error::{Error, Result};
use hivebt::ops::{self, create, inspect, verify};

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
        /// Hashing threads [default: all cores].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
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

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Create {
            path,
            output,
            trackers,
            piece_length,
            private,
            comment,
            source,
            web_seeds,
            no_date,
            threads,
            force,
        } => {
            let opts = create::CreateOptions {
                path,
                trackers,
                piece_length: piece_length.0,
                private,
                comment,
                source,
                web_seeds,
                no_date,
                threads: ops::thread_count(threads, config::batch_worker_threads())?,
            };
            let out = match output {
                Some(o) => o,
                None => {
                    // Named after the content; the name check happens in `build`.
                    let name = opts.path.file_name().map_or_else(
                        || {
                            std::fs::canonicalize(&opts.path)
                                .ok()
                                .and_then(|p| p.file_name().map(|n| n.to_owned()))
                        },
                        |n| Some(n.to_owned()),
                    );
                    let name = name.ok_or_else(|| {
                        Error::BadInput(format!(
                            "{}: cannot name the torrent; use -o",
                            opts.path.display()
                        ))
                    })?;
                    PathBuf::from(format!("{}.torrent", name.to_string_lossy()))
                }
            };
            create::check_output(&out, force)?;
            let (bytes, meta) = create::build(&opts)?;
            create::write_torrent_file(&out, &bytes, force)?;
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
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hivebt: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
