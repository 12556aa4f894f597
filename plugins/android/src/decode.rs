//! The decoder's identity (name, path patterns, record kinds) and the
//! dispatch of one matched file to the module that reads its format, chosen
//! by the file's name: the host only runs the decoder on paths that match
//! [`Android::PATHS`](exhibit_plugin_sdk::ArtifactDecoder::PATHS).
#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{ArtifactDecoder, PluginError, Session};

use crate::backup::{self, BackupKind};
use crate::sqlite::Db;
use crate::{calls, contacts, telephony};

/// Decodes SMS/MMS, contacts and call logs of Android's providers.
#[derive(Debug, Default)]
pub struct Android;

impl ArtifactDecoder for Android {
    const NAME: &'static str = "android";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Android SMS/MMS (mmssms.db, telephony backups), contacts (contacts2.db), call log";
    /// Full-file-system layouts put a package's databases in
    /// `data/data/<pkg>/databases/` or `data/user_de/<user>/<pkg>/databases/`
    /// (any prefix before them); ADB backups in `apps/<pkg>/db/` or, for
    /// device-protected storage, `apps/<pkg>/d_db/`, and the telephony
    /// provider's own backup files in `apps/<pkg>/d_f/` (`f/` before
    /// Android 7, `files/` when left on the handset).
    const PATHS: &'static [&'static str] = &[
        "**/com.android.providers.telephony/{databases,db,d_db}/mmssms.db",
        "**/com.android.providers.telephony/{d_f,f,files}/*_sms_backup",
        "**/com.android.providers.telephony/{d_f,f,files}/*_mms_backup",
        "**/com.android.providers.contacts/{databases,db,d_db}/contacts2.db",
        "**/com.android.providers.contacts/{databases,db,d_db}/calllog.db",
    ];
    const KINDS: &'static [&'static str] = &["messages", "contacts", "calls"];

    fn decode(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let path = session.input_path();
        let name = path.rsplit('/').next().unwrap_or_default();
        match name {
            "mmssms.db" => {
                let db = Db::open(session)?;
                telephony::decode(session, &db)?;
                db.finish()
            }
            "contacts2.db" => {
                let db = Db::open(session)?;
                contacts::decode(session, &db)?;
                // Before Android 7 the call log lived here; its absence is normal.
                if db.table("calls")?.is_some() {
                    calls::decode(session, &db)?;
                }
                db.finish()
            }
            "calllog.db" => {
                let db = Db::open(session)?;
                if db.table("calls")?.is_some() {
                    calls::decode(session, &db)?;
                } else {
                    db.missing_table(session, "calls", "no calls decoded");
                }
                db.finish()
            }
            _ if name.ends_with("_sms_backup") => backup::decode(session, BackupKind::Sms),
            _ if name.ends_with("_mms_backup") => backup::decode(session, BackupKind::Mms),
            _ => Err(PluginError::NotMine),
        }
    }
}
