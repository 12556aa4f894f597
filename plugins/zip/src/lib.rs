//! The `zip` format plugin: [`Zip`] reads a zip archive from the evidence and
//! delivers every entry to the exhibit host.
//!
//! File format described at the PKWARE APPNOTE (version 6.3.x),
//! <https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT>, with the
//! Info-ZIP extra fields of
//! <https://libzip.org/specifications/extrafld.txt>. Covered: stored,
//! deflate, deflate64, bzip2, lzma, zstd and xz entries (decompressed by the
//! `zip` crate), zip64, data descriptors, UTF-8 (flag bit 11) and CP437 names,
//! Unix modes and symbolic links, DOS, extended (`0x5455`) and NTFS
//! (`0x000a`) timestamps. Encrypted entries are recorded and reported
//! unsupported (no password support yet).
//!
//! The central directory is the index. Each entry's local header is read
//! and checked against it; overlapping entries (the "overlapping zip bomb")
//! are reported and skipped, output never exceeds an entry's declared size,
//! and a bad CRC or a broken stream marks that entry incomplete while the
//! others are still extracted. Entries are delivered from as many threads as
//! the host allows. Without a central directory (a truncated archive), the
//! entries are recovered from their local headers.
//!
//! ```
//! use exhibit_format_zip::Zip;
//! use exhibit_plugin_sdk::Status;
//! use exhibit_plugin_sdk::testing::decode;
//!
//! // The smallest valid archive: an end-of-central-directory record alone.
//! let mut empty = b"PK\x05\x06".to_vec();
//! empty.resize(22, 0);
//! let (status, transcript) = decode::<Zip>("empty.zip", empty);
//! assert_eq!(status, Status::OK);
//! assert!(transcript.entries.is_empty());
//! assert!(transcript.problems().is_empty());
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod decode;

pub use decode::Zip;

exhibit_plugin_sdk::export!(decode::Zip);
