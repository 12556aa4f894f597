//! The exhibit plugin SDK: the stable C ABI between the exhibit host and its
//! plugin libraries ([`abi`]), and the safe Rust side a plugin author uses
//! ([`FormatPlugin`], [`Session`], [`export!`]). A plugin crate written with it
//! contains no `unsafe`.
//!
//! A format plugin decodes a dump container into entries. It reads the
//! evidence through the host and delivers each entry's metadata and bytes
//! back to the host, which sanitises names, writes the case folder and hashes
//! every byte: a plugin never hashes, so it cannot forge a custody hash.
//!
//! ```
//! use exhibit_plugin_sdk::{EntryMeta, FormatPlugin, PluginError, Probe, Session};
//!
//! /// Treats the whole evidence as one file called `blob`.
//! #[derive(Default)]
//! struct Blob;
//!
//! impl FormatPlugin for Blob {
//!     const NAME: &'static str = "blob";
//!     const VERSION: &'static str = "0.1.0";
//!     const DESCRIPTION: &'static str = "any file, delivered as it is";
//!
//!     fn probe(&self, probe: &Probe<'_>) -> u8 {
//!         if probe.is_dir { 0 } else { 1 }
//!     }
//!
//!     fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
//!         let size = session.evidence().size;
//!         let mut out = session.begin(b"blob", &EntryMeta::file(size))?;
//!         out.copy_from(&mut session.evidence_reader())?;
//!         out.finish()
//!     }
//! }
//!
//! // In a plugin crate's lib.rs: exhibit_plugin_sdk::export!(Blob);
//! # fn main() {}
//! ```
#![deny(missing_docs)]

pub mod abi;
mod error;
pub mod export;
mod meta;
mod plugin;
pub mod records;
mod session;
pub mod testing;

pub use abi::Status;
pub use error::PluginError;
pub use meta::{EntryKind, EntryMeta, RawBytes, Time, from_hex, system_time, to_hex};
pub use plugin::{Access, ArtifactDecoder, FormatPlugin, Probe};
pub use session::{DirEntry, EvidenceInfo, HostServices, OutputFile, Session, SourceReader};
