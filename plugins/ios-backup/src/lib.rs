//! The `ios-backup` format plugin: [`IosBackup`] decodes iTunes/Finder
//! backups of iPhones and iPads (a backup folder, named after the device's
//! UDID, or a zip or tar file holding one) and delivers every file they hold
//! to the exhibit host.
//!
//! Covered: iOS 10 and later (`Manifest.db`), unencrypted or encrypted
//! (keybag with PBKDF2-HMAC-SHA256 + PBKDF2-HMAC-SHA1 passcode key, RFC 3394
//! class keys, AES-256-CBC files and manifest), and the legacy iOS 5–9
//! `Manifest.mbdb`, unencrypted only. Files are delivered under
//! `<domain>/<relativePath>` with the `MBFile` metadata (times, mode, owner,
//! inode, protection class) and `extra["ios_backup"] = {domain,
//! relative_path, file_id, flags, inode, protection_class, encrypted,
//! source}`, `source` naming the blob read (`xx/<fileID>`, or `<fileID>` for
//! mbdb backups). The device (`Info.plist`, `Manifest.plist`,
//! `Status.plist`) goes to the custody log as the `device` note, the
//! keybag's public parameters as `ios backup keybag`; the password and the
//! keys never do.
//!
//! A zip or tar evidence is searched for the shortest folder holding
//! `Manifest.db`/`Manifest.mbdb` (`Backup/<UDID>/`, or the archive's root);
//! more than one backup: the first is decoded and the others named in a
//! warning; none: `NotMine`, said in a warning. The files are read inside
//! the archive (zip entries stored or deflated, CRC-checked); `source` is
//! then null, since the host hashes the archive as a whole and that hash
//! covers every blob. The probe gives a file 95 only when the head's zip
//! local headers name a backup file, a `<UDID>/` folder or an `xx/<fileID>`
//! blob (above the zip plugin's 90); any other zip, and every tar (the tar
//! plugin is certain of its own), needs `--format ios-backup`.
//!
//! There is no official specification. The layout followed is Apple's iOS
//! Security Guide ("Keybags"), The iPhone Wiki "ITunes Backup"
//! (<https://www.theiphonewiki.com/wiki/ITunes_Backup>), and the readers of
//! `iphone_backup_decrypt` (KnugiHK fork / jsharkey13) and mvt-ios; each
//! module names what it follows.
//!
//! Memory: `Manifest.db` is held whole in memory (decrypted there and opened
//! by SQLite from memory); file contents are streamed through one buffer
//! per worker, whatever their size. A wrong password ends the run before any
//! entry is delivered.
//!
//! ```
//! use exhibit_format_ios_backup::IosBackup;
//! use exhibit_plugin_sdk::testing::{MemoryHost, run_safe};
//! use exhibit_plugin_sdk::Status;
//!
//! // A folder with no manifest is not a backup, and said so.
//! let root = std::env::temp_dir().join(format!("exhibit-ios-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&root)?;
//! let host = MemoryHost::folder(&root);
//! assert_eq!(run_safe::<IosBackup>(&host), Status::CORRUPT);
//! let transcript = host.take_transcript();
//! assert!(transcript.entries.is_empty());
//! assert!(transcript.problems()[0].message.ends_with("it holds no Manifest.db or Manifest.mbdb"));
//! std::fs::remove_dir_all(&root)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod decode;
mod info;
mod keybag;
mod manifest;
mod mbdb;
mod mbfile;
mod source;

pub use decode::{IosBackup, file_id};

exhibit_plugin_sdk::export!(decode::IosBackup);
