//! The `android-backup` format plugin: [`AndroidBackup`] decodes Android
//! `adb backup` files (`.ab`) and delivers every file they hold to the
//! exhibit host.
//!
//! Covered: format versions 1 to 5 (Android 4.0 onwards), uncompressed or
//! zlib-compressed, unencrypted or encrypted with `AES-256` (PBKDF2-HMAC-SHA1
//! keys, the version 1 "8-bit" password encoding included). The format is
//! AOSP's: `PerformAdbBackupTask.java` writes it and `PerformAdbRestoreTask.java`
//! reads it (aosp-mirror/platform_frameworks_base,
//! `services/backup/java/com/android/server/backup/`); see the header module
//! for the line-by-line layout. The payload is a tar stream, decoded by the
//! shared engine [`exhibit_tar_stream`]; entries keep their tar names
//! (`apps/<package>/<tree>/…`, `shared/<volume>/…`) and carry
//! `extra["android_backup"] = {"package", "tree"}`. Header fields and each
//! app's `_manifest` go to the custody log; the password never does.
//!
//! The evidence is read once, front to back, with bounded memory; decryption
//! and inflation run on a thread of the plugin beside the tar decoding. A
//! wrong password ends the run before any entry is delivered.
//!
//! ```
//! use exhibit_format_android_backup::AndroidBackup;
//! use exhibit_plugin_sdk::Status;
//! use exhibit_plugin_sdk::testing::decode;
//!
//! // The smallest backup: version 5, uncompressed, unencrypted, an empty tar.
//! let mut ab = b"ANDROID BACKUP\n5\n0\nnone\n".to_vec();
//! ab.extend([0u8; 1024]);
//! let (status, transcript) = decode::<AndroidBackup>("empty.ab", ab);
//! assert_eq!(status, Status::OK);
//! assert!(transcript.entries.is_empty());
//! assert!(transcript.problems().is_empty());
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod decode;
mod header;
mod layout;
mod payload;

pub use decode::AndroidBackup;

exhibit_plugin_sdk::export!(decode::AndroidBackup);
