//! The decoder's identity (name, path patterns, record kinds) and the
//! dispatch of one matched file to the module that reads it, chosen by the
//! file's name: the host only runs the decoder on paths that match
//! [`Ios::PATHS`](exhibit_plugin_sdk::ArtifactDecoder::PATHS).
#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{ArtifactDecoder, PluginError, Session};

use crate::sqlite::Db;
use crate::{calls, contacts, messages};

/// Decodes Messages, Contacts and the call history of iOS.
#[derive(Debug, Default)]
pub struct Ios;

impl ArtifactDecoder for Ios {
    const NAME: &'static str = "ios";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "iOS Messages (sms.db), contacts (AddressBook.sqlitedb), \
         call history (CallHistory.storedata)";
    /// An iTunes/Finder backup restores a file under its domain
    /// (`HomeDomain/Library/SMS/sms.db`); a full-file-system dump keeps the
    /// handset's path (`private/var/mobile/Library/…`), often under a folder
    /// of the acquisition tool (`filesystem1/`, `filesystem2/mobile/…`).
    /// The user's home is what comes before `Library/`, whatever it is.
    const PATHS: &'static [&'static str] = &[
        "**/Library/SMS/sms.db",
        "**/Library/AddressBook/AddressBook.sqlitedb",
        "**/Library/CallHistoryDB/CallHistory.storedata",
    ];
    const KINDS: &'static [&'static str] = &["messages", "contacts", "calls"];

    fn decode(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let path = session.input_path();
        let name = path.rsplit('/').next().unwrap_or_default();
        match name {
            "sms.db" => {
                let db = Db::open(session)?;
                messages::decode(session, &db)?;
                db.finish()
            }
            "AddressBook.sqlitedb" => {
                let db = Db::open(session)?;
                contacts::decode(session, &db)?;
                db.finish()
            }
            "CallHistory.storedata" => {
                let db = Db::open(session)?;
                calls::decode(session, &db)?;
                db.finish()
            }
            _ => Err(PluginError::NotMine),
        }
    }
}
