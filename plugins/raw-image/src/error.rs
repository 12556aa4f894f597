//! The crate's one error type, [`Error`], with the four failure kinds every
//! exhibit parser uses (STYLE rule 9): not mine, corrupt (with the byte
//! offset in the image), unsupported, and I/O.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// Why a partition table, sparse image or segment set could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not this format (no signature); the caller tries
    /// something else, such as a file system on the whole image.
    NotMine,
    /// The bytes are this format but broken at `offset` (bytes from the
    /// start of the image or sparse file being parsed).
    Corrupt {
        /// Byte offset of the offending structure.
        offset: u64,
        /// What is wrong there.
        what: String,
    },
    /// Valid input that this crate cannot handle yet.
    Unsupported {
        /// The feature that is missing.
        feature: String,
    },
    /// Reading the evidence failed.
    Io(io::Error),
}

impl Error {
    /// A [`Error::Corrupt`] at `offset`.
    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt {
            offset,
            what: what.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotMine => write!(f, "raw-image: not a recognised image structure"),
            Error::Corrupt { offset, what } => {
                write!(f, "raw-image: corrupt at offset {offset:#x}: {what}")
            }
            Error::Unsupported { feature } => write!(f, "raw-image: unsupported: {feature}"),
            Error::Io(e) => write!(f, "raw-image: read failed: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}
