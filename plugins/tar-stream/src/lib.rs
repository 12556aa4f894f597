//! exhibit's tar decoding engine: [`TarStream`] decodes a tar stream read
//! from any buffered reader and delivers every member through a plugin
//! [`Session`](exhibit_plugin_sdk::Session). The `tar` format plugin runs it
//! over the evidence itself; the `android-backup` plugin over the tar it
//! decrypts and inflates out of an `adb backup` file.
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
//! The stream is read once, strictly sequentially, with bounded memory.
//! Damage is reported with its offset and decoding goes on: a bad header is
//! skipped by scanning for the next valid one, and a truncated archive
//! delivers what it holds. [`Offsets`] says whether offsets are evidence
//! offsets (a plain tar) or positions in a decoded stream, and every message
//! says which.
//!
//! ```
//! use exhibit_plugin_sdk::testing::MemoryHost;
//! use exhibit_plugin_sdk::{EntryMeta, Session};
//! use exhibit_tar_stream::{Offsets, TarStream};
//!
//! // The smallest valid archive: just the end-of-archive marker, decoded as
//! // a stream found inside some container.
//! let host = MemoryHost::file("container.bin", Vec::new());
//! let session = Session::new(&host);
//! let mut mark = |_: &[u8], meta: &mut EntryMeta| {
//!     meta.extra.insert("container".into(), "demo".into());
//! };
//! let ended = TarStream::new()
//!     .offsets(Offsets::Stream)
//!     .observe(&mut mark)
//!     .decode(&session, &[0u8; 1024][..])
//!     .unwrap();
//! assert!(ended.end_marker);
//! assert_eq!(ended.position, 1024);
//! assert!(host.take_transcript().entries.is_empty());
//! ```
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]
#![forbid(unsafe_code)]

mod decode;

pub use decode::{CHUNK, Ended, Observer, Offsets, READ_AHEAD, TarStream, header_confidence};
