//! The `folder` format plugin: [`Folder`] delivers an already-unpacked
//! logical extraction (a folder on the examiner's disk) as it is, file by file.
//!
//! There is no container format to follow: the host lists each folder
//! (entries sorted by name, links never followed) and opens its files; this
//! plugin walks the tree depth-first and streams every regular file to the
//! host, recording folders, symbolic links and special files. Its probe
//! answers low (10) for any folder, so that a plugin for a specific folder
//! layout (an iOS backup, say) wins when it recognises one.
//!
//! ```
//! use exhibit_format_folder::Folder;
//! use exhibit_plugin_sdk::testing::{MemoryHost, run_safe};
//! use exhibit_plugin_sdk::Status;
//!
//! let root = std::env::temp_dir().join(format!("exhibit-folder-doc-{}", std::process::id()));
//! std::fs::create_dir_all(root.join("sdcard"))?;
//! std::fs::write(root.join("sdcard/notes.txt"), b"hello")?;
//! let host = MemoryHost::folder(&root);
//! assert_eq!(run_safe::<Folder>(&host), Status::OK);
//! let transcript = host.take_transcript();
//! assert_eq!(transcript.entries.len(), 2);
//! assert_eq!(transcript.entry(b"sdcard/notes.txt").map(|e| e.data.clone()), Some(b"hello".to_vec()));
//! std::fs::remove_dir_all(&root)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod decode;

pub use decode::Folder;

exhibit_plugin_sdk::export!(decode::Folder);
