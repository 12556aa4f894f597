//! The `tar` format plugin: [`Tar`] streams a tar archive from the evidence
//! and delivers every member to the exhibit host.
//!
//! Covered: the POSIX ustar format (POSIX.1-1988), its pax extension
//! (POSIX.1-2001: `x`/`X` per-entry and `g` global extended headers, see
//! <https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html>),
//! the GNU format (`L`/`K` long names and links, base-256 numbers, atime and
//! ctime fields, see
//! <https://www.gnu.org/software/tar/manual/html_node/Standard.html>) and
//! pre-POSIX v7 archives. GNU sparse (`S`) and multi-volume (`M`) members are
//! recorded and reported as unsupported; their data is skipped.
//!
//! The archive is read once, strictly sequentially, with bounded memory.
//! Damage is reported with its offset and decoding goes on: a bad header is
//! skipped by scanning for the next valid one, and a truncated archive
//! delivers what it holds. The decoding engine is
//! [`exhibit_tar_stream`], shared with the android-backup plugin; this crate
//! runs it over the evidence with evidence offsets.
//!
//! ```
//! use exhibit_format_tar::Tar;
//! use exhibit_plugin_sdk::Status;
//! use exhibit_plugin_sdk::testing::decode;
//!
//! // The smallest valid archive: just the end-of-archive marker.
//! let (status, transcript) = decode::<Tar>("empty.tar", vec![0; 1024]);
//! assert_eq!(status, Status::OK);
//! assert!(transcript.entries.is_empty());
//! assert!(transcript.problems().is_empty());
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod decode;

pub use decode::Tar;

exhibit_plugin_sdk::export!(decode::Tar);
