//! Errors of the io layer: each names the file and, for format errors, the field.

use std::path::PathBuf;

/// What can go wrong reading or writing a recording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A header field or data value is malformed.
    #[error("{}: {field}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `signal 3 (EEG Fpz) samples per record`.
        field: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Neither magic bytes nor extension tell the format.
    #[error("{}: unknown file format (expected .edf, .bdf, .h5 or .csv)", .0.display())]
    UnknownFormat(PathBuf),
    /// The format is known but this operation on it is not supported.
    #[error("{}: {what} is not supported", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The operation.
        what: String,
    },
    /// The request does not fit the file (unknown channel, time range outside the record).
    #[error("{}: {msg}", path.display())]
    Selection {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        msg: String,
    },
}

impl Error {
    /// An OS error while opening or reading `path`.
    pub fn open(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::File {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A malformed field of `path`.
    pub fn format(
        path: &std::path::Path,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// True when the user's input is at fault (exit code 2), false for environment failures.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::File { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::IsADirectory
            ),
            _ => true,
        }
    }
}
