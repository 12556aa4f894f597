//! The `android` artifact decoder: [`Android`] turns the databases of
//! Android's telephony and contacts providers, extracted from a
//! full-file-system dump or an ADB backup, into the shared records of
//! [`exhibit_plugin_sdk::records`]: messages, contacts and calls.
//!
//! Covered, by file:
//!
//! - `mmssms.db` of `com.android.providers.telephony` (Android 2.x to 15):
//!   tables `sms`, `pdu`, `addr`, `part`, with `threads` and
//!   `canonical_addresses` to resolve a conversation's recipients and to
//!   notice a conversation that no longer exists. Schema:
//!   `MmsSmsDatabaseHelper` and `android.provider.Telephony`,
//!   <https://android.googlesource.com/platform/packages/providers/TelephonyProvider/+/refs/heads/main/src/com/android/providers/telephony/MmsSmsDatabaseHelper.java>.
//!   MMS parts stored as files are proposed as attachments under the
//!   package's `app_parts/` folder.
//! - `contacts2.db` of `com.android.providers.contacts`: `raw_contacts`,
//!   `data`, `mimetypes`, `accounts` (or the older per-row account columns),
//!   and the `calls` table that held the call log before Android 7.
//!   Schema: `ContactsDatabaseHelper` and `ContactsContract`,
//!   <https://developer.android.com/reference/android/provider/ContactsContract.CommonDataKinds>.
//! - `calllog.db` of the same package (Android 7+): table `calls`, types 1 to 7
//!   of `CallLog.Calls`,
//!   <https://developer.android.com/reference/android/provider/CallLog.Calls>.
//! - `*_sms_backup` and `*_mms_backup` of an ADB backup's `d_f/` folder: the
//!   zlib-compressed JSON arrays that `TelephonyBackupAgent` writes (Android 6+),
//!   <https://android.googlesource.com/platform/packages/providers/TelephonyProvider/+/refs/heads/main/src/com/android/providers/telephony/TelephonyBackupAgent.java>,
//!   read one element at a time.
//!
//! Every database is opened read-only from the host's private working copy,
//! whose `-wal`/`-journal` companions lie beside it, so rows still in a
//! write-ahead log count. Tables and columns are checked first: a missing
//! optional column reads as `null`, a missing table is a warning and the
//! other tables are still decoded, a damaged table is reported and the
//! records read before the damage are kept.
//!
//! ```
//! use exhibit_artifacts_android::Android;
//! use exhibit_plugin_sdk::Status;
//! use exhibit_plugin_sdk::testing::decode_file;
//!
//! let path = "data/data/com.android.providers.telephony/databases/mmssms.db";
//! let (status, transcript) = decode_file::<Android>(path, b"not a database".to_vec());
//! assert_eq!(status, Status::CORRUPT);
//! assert!(transcript.records.is_empty());
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod backup;
mod calls;
mod contacts;
mod decode;
use exhibit_decoder_sqlite as sqlite;
mod telephony;

pub use decode::Android;

exhibit_plugin_sdk::export_decoder!(decode::Android);
