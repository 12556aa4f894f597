//! The four failure kinds every plugin reports in (STYLE rule 9), plus the
//! cases where the host itself refused a call or asked to stop.

use crate::abi::Status;
use std::fmt;

/// Why a plugin could not decode (all of) its input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginError {
    /// The input is not of this plugin's format.
    NotMine,
    /// The input is of this format but damaged at `offset`.
    Corrupt {
        /// Byte offset in the evidence where the damage was seen.
        offset: Option<u64>,
        /// What is wrong, lowercase, no trailing period.
        what: String,
    },
    /// Valid input that uses a feature the plugin cannot handle.
    Unsupported {
        /// The feature, lowercase.
        feature: String,
    },
    /// Reading the evidence failed.
    Io {
        /// Byte offset of the failed read, if known.
        offset: Option<u64>,
        /// What failed.
        what: String,
    },
    /// The host asked the plugin to stop.
    Cancelled,
    /// The input is encrypted and the host has no password for it.
    NoPassword {
        /// The encrypted input, as the examiner knows it (a file name).
        what: String,
    },
    /// The password does not open the input. Nothing was decoded.
    WrongPassword {
        /// The encrypted input, as the examiner knows it (a file name).
        what: String,
    },
    /// The host refused a call (disk full, invalid metadata…).
    Host {
        /// Which host call failed.
        call: &'static str,
        /// What the host answered.
        status: Status,
    },
}

impl PluginError {
    /// A [`PluginError::Corrupt`] at `offset`.
    pub fn corrupt(offset: u64, what: impl Into<String>) -> PluginError {
        PluginError::Corrupt {
            offset: Some(offset),
            what: what.into(),
        }
    }

    /// The status that carries this error across the boundary.
    pub fn status(&self) -> Status {
        match self {
            PluginError::NotMine => Status::NOT_MINE,
            PluginError::Corrupt { .. } => Status::CORRUPT,
            PluginError::Unsupported { .. } => Status::UNSUPPORTED,
            PluginError::Io { .. } => Status::IO,
            PluginError::Cancelled => Status::CANCELLED,
            PluginError::NoPassword { .. } => Status::NO_PASSWORD,
            PluginError::WrongPassword { .. } => Status::WRONG_PASSWORD,
            PluginError::Host { status, .. } => *status,
        }
    }

    /// The evidence offset the error concerns, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            PluginError::Corrupt { offset, .. } | PluginError::Io { offset, .. } => *offset,
            _ => None,
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::NotMine => f.write_str("not this plugin's format"),
            PluginError::Corrupt { offset, what } => match offset {
                Some(off) => write!(f, "corrupt at offset {off:#x}: {what}"),
                None => write!(f, "corrupt: {what}"),
            },
            PluginError::Unsupported { feature } => write!(f, "unsupported: {feature}"),
            PluginError::Io { offset, what } => match offset {
                Some(off) => write!(f, "read failed at offset {off:#x}: {what}"),
                None => write!(f, "read failed: {what}"),
            },
            PluginError::Cancelled => f.write_str("cancelled"),
            PluginError::NoPassword { what } => {
                write!(f, "{what} is encrypted and no password was given")
            }
            PluginError::WrongPassword { what } => write!(f, "wrong password for {what}"),
            PluginError::Host { call, status } => {
                write!(f, "host refused {call}: {}", status.name())
            }
        }
    }
}

impl std::error::Error for PluginError {}

impl From<PluginError> for std::io::Error {
    fn from(e: PluginError) -> Self {
        std::io::Error::other(e)
    }
}

impl From<std::io::Error> for PluginError {
    /// Recovers a `PluginError` carried through `std::io` (a host refusal
    /// inside `copy_from`, say); any other I/O failure becomes `Io`.
    fn from(e: std::io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<PluginError>()) {
            if let Some(inner) = e.into_inner()
                && let Ok(plugin) = inner.downcast::<PluginError>()
            {
                return *plugin;
            }
            return PluginError::Io {
                offset: None,
                what: "unreadable error".into(),
            };
        }
        let what = e.to_string();
        PluginError::Io { offset: None, what }
    }
}
