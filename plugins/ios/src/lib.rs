//! The `ios` artifact decoder: [`Ios`] turns the databases of iOS's
//! Messages, Contacts and Phone apps, extracted from an iTunes/Finder backup
//! (`HomeDomain/Library/…`) or a full-file-system dump
//! (`private/var/mobile/Library/…`), into the shared records of
//! [`exhibit_plugin_sdk::records`]: messages, contacts and calls, built the
//! same way as the Android decoder's.
//!
//! Covered, by file:
//!
//! - `Library/SMS/sms.db` (iOS 6 to 18; macOS's `chat.db` shares the schema):
//!   tables `message`, `handle`, `chat`, `chat_message_join`,
//!   `chat_handle_join`, `attachment`, `message_attachment_join`. Text comes
//!   from `text`, else from the `attributedBody` typedstream that iOS 16+
//!   writes instead. Times count seconds since 2001 before iOS 11 and
//!   nanoseconds since. Schema as documented by the imessage-exporter
//!   project, <https://github.com/ReagentX/imessage-exporter/blob/develop/docs/>,
//!   and the typedstream format of NeXT's `NSArchiver`,
//!   <https://github.com/dgelessus/python-typedstream>.
//! - `Library/AddressBook/AddressBook.sqlitedb` (iOS 4 to 18): `ABPerson`,
//!   with phone numbers (property 3) and e-mail addresses (property 4) from
//!   `ABMultiValue` and their labels from `ABMultiValueLabel`.
//! - `Library/CallHistoryDB/CallHistory.storedata` (iOS 8+, Core Data):
//!   `ZCALLRECORD`, phone and FaceTime calls.
//!
//! Every database is opened read-only from the host's private working copy,
//! whose `-wal`/`-journal` companions lie beside it, so rows still in a
//! write-ahead log count. Tables and columns are checked first: a missing
//! optional column reads as `null`, a missing table is a warning and the
//! other tables are still decoded, a damaged table is reported and the
//! records read before the damage are kept.
//!
//! ```
//! use exhibit_artifacts_ios::Ios;
//! use exhibit_plugin_sdk::Status;
//! use exhibit_plugin_sdk::testing::decode_file;
//!
//! let path = "private/var/mobile/Library/SMS/sms.db";
//! let (status, transcript) = decode_file::<Ios>(path, b"not a database".to_vec());
//! assert_eq!(status, Status::CORRUPT);
//! assert!(transcript.records.is_empty());
//! ```
#![deny(unsafe_code)]
#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

mod calls;
mod contacts;
mod decode;
mod messages;
use exhibit_decoder_sqlite as sqlite;
mod typedstream;

pub use decode::Ios;
pub use typedstream::attributed_text;

exhibit_plugin_sdk::export_decoder!(decode::Ios);
