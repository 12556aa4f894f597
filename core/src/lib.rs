//! exhibit-core: everything exhibit does except talk to a terminal. It hosts
//! format plugins ([`PluginHost`]), reads the evidence read-only while
//! hashing it ([`Evidence`]), writes extracted files into a [`CaseFolder`]
//! under sanitised names while hashing them, keeps the hash-chained
//! [`CustodyLog`], and [`verify`]s a case later.
//!
//! ```no_run
//! use exhibit_core::{ExtractOptions, PluginHost, Silent, extract, plugin_dirs, verify};
//! use std::path::PathBuf;
//!
//! let plugins = PluginHost::discover(&plugin_dirs(&[], None, &[]));
//! let opts = ExtractOptions {
//!     evidence: PathBuf::from("phone.tar"),
//!     case_dir: PathBuf::from("case-001"),
//!     examiner: Some("A. Examiner".into()),
//!     agency: None,
//!     case_number: Some("2026-0042".into()),
//!     format: None,
//!     hashes: vec![exhibit_core::HashAlgorithm::Sha256],
//!     evidence_sha256: None,
//!     rehash_evidence: false,
//!     command_line: std::env::args().collect(),
//!     settings: serde_json::Value::Null,
//!     cancel: Default::default(),
//!     threads: 0,
//!     min_free: exhibit_core::extract::DEFAULT_MIN_FREE,
//!     password: None,
//!     decode: true,
//!     isolation: None,
//! };
//! let summary = extract(&plugins, &opts, &Silent)?;
//! println!("{} files, chain {}", summary.files, summary.chain_hash);
//! assert!(verify(&summary.case_dir, Some(&summary.chain_hash))?.ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod case;
pub mod custody;
pub mod decode;
pub mod evidence;
pub mod extract;
pub mod hash;
mod host;
pub mod isolate;
pub mod plugin;
pub mod receipt;
pub mod resume;
pub mod sanitize;
pub mod segments;
pub mod settings;
pub mod time;
pub mod verify;

pub use case::CaseFolder;
pub use custody::CustodyLog;
pub use decode::{DecodeOptions, DecodeTally};
pub use evidence::Evidence;
pub use extract::{
    DecodeSummary, ExtractOptions, ExtractSummary, Observer, Outcome, PasswordSource,
    ReportWritten, Silent, decode_existing, extract, record_reports,
};
pub use hash::HashAlgorithm;
pub use isolate::Isolation;
pub use plugin::{LoadedPlugin, PluginHost, plugin_dirs};
pub use settings::Settings;
pub use verify::{Problem, VerifyReport, verify};
