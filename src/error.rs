//! The crate-level error: module errors wrapped, with an exit-code policy for the CLI.

use std::path::PathBuf;

/// Anything that can go wrong in biowave, by module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a recording failed (names the file and the field).
    #[error(transparent)]
    Io(#[from] crate::io::Error),
    /// A value given by the user (flag, parameter, scenario entry) is unusable.
    #[error("{0}")]
    BadInput(String),
    /// An operating-system error outside the format layer (sockets, threads, paths).
    #[error("{context}: {source}")]
    Os {
        /// What was being done, naming the file or address.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A sink failed while streaming (disk full, socket error): a runtime failure, exit 1.
    #[error("sink {sink}: {source}")]
    Sink {
        /// The sink as the user named it, e.g. `file:out.edf`.
        sink: String,
        /// What went wrong.
        source: Box<Error>,
    },
    /// A signal stopped the work before it was done; what it wrote is valid (exit 1).
    #[error("{0}")]
    Interrupted(String),
    /// A subcommand or option that is part of the contract but not built yet.
    #[error("`{0}` is not built yet in this version of biowave")]
    NotBuilt(&'static str),
}

impl Error {
    /// Exit code for the CLI: 2 for bad input (files, flags, parameters), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io(e) if e.is_bad_input() => 2,
            Error::BadInput(_) => 2,
            _ => 1,
        }
    }

    /// Wraps an OS error with what was being done to which path.
    pub fn os(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Os {
            context: context.into(),
            source,
        }
    }

    /// A bad-input error about a path.
    pub fn bad_path(path: &std::path::Path, what: impl std::fmt::Display) -> Self {
        Error::BadInput(format!("{}: {what}", PathBuf::from(path).display()))
    }
}

/// Result with the crate error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
