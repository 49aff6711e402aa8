//! The top-level error for command-line operations, and its exit code.
//!
//! One peer's misbehaviour is never an `Error`; this type is for setup and the
//! commands (`create`, `inspect`, `verify`). Bad input exits 2, anything else 1.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong in a command, with enough context to act on it.
#[derive(Debug)]
pub enum Error {
    /// The user gave us something unusable: a malformed torrent or magnet link, an
    /// option out of range, a path that cannot be a torrent. Exit code 2.
    BadInput(String),
    /// An I/O operation failed on a path we were told to use. Exit code 1.
    Io {
        /// What we were doing ("reading", "creating", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Anything else that stopped the command from completing. Exit code 1.
    Failed(String),
}

impl Error {
    /// Exit code for this error: 2 for bad input, 1 for operational failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput(_) => 2,
            Error::Io { .. } | Error::Failed(_) => 1,
        }
    }

    /// Wraps an I/O error with the action and path it happened on.
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadInput(msg) | Error::Failed(msg) => f.write_str(msg),
            Error::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// Result of a command.
pub type Result<T> = std::result::Result<T, Error>;
