//! The call log: table `calls` of `calllog.db` (Android 7+) or of
//! `contacts2.db` (before), one [`Call`] per row, following
//! `android.provider.CallLog.Calls`.
//!
//! Policy: a type outside 1 to 7 is `unknown` with the raw code kept; a
//! `date` of 0 is an unknown time; feature bit 1 (`FEATURES_VIDEO`) makes
//! the service `video`, else `phone`. A withheld number (`presentation`
//! other than 1) and a row the provider marks `deleted` get a note.
#![forbid(unsafe_code)]

use exhibit_plugin_sdk::records::{Call, CallType, Provenance};
use exhibit_plugin_sdk::{PluginError, Session};

use crate::sqlite::{Cells, Db};
use crate::telephony::time_ms;

/// `Calls.FEATURES_VIDEO`.
const FEATURES_VIDEO: i64 = 0x1;

/// Decodes table `calls` of `db` (the caller has checked that it exists).
pub(crate) fn decode(session: &Session<'_>, db: &Db) -> Result<(), PluginError> {
    let Some(table) = db.table("calls")? else {
        return Ok(());
    };
    db.essential_columns(session, &table, &["number", "date", "type"]);
    const COLUMNS: &[&str] = &[
        "_id",
        "number",
        "name",
        "type",
        "date",
        "duration",
        "features",
        "presentation",
        "deleted",
    ];
    let sql = format!(
        "{} ORDER BY {}",
        table.select(COLUMNS),
        table.expr(None, "_id")
    );
    let result = db.prepare("calls", &sql).and_then(|mut stmt| {
        db.each_row(session, "calls", &mut stmt, |row, _| {
            let cells = Cells::new(row, "calls", COLUMNS);
            let mut notes = Vec::new();
            let type_raw = cells.int("type");
            let features = cells.int("features");
            match cells.int("presentation") {
                None | Some(1) => {}
                Some(2) => notes.push("number withheld by the caller (presentation 2)".to_owned()),
                Some(3) => notes.push("number unknown to the network (presentation 3)".to_owned()),
                Some(4) => notes.push("payphone (presentation 4)".to_owned()),
                Some(other) => notes.push(format!("presentation {other}")),
            }
            if cells.int("deleted").is_some_and(|d| d != 0) {
                notes.push("marked deleted by the call-log provider".to_owned());
            }
            let call = Call {
                number: cells.text("number", &mut notes).filter(|n| !n.is_empty()),
                name: cells.text("name", &mut notes).filter(|n| !n.is_empty()),
                call_type: call_type(type_raw),
                type_raw,
                time: time_ms(cells.int("date")),
                duration_s: cells.int("duration"),
                service: Some(
                    if features.is_some_and(|f| f & FEATURES_VIDEO != 0) {
                        "video"
                    } else {
                        "phone"
                    }
                    .to_owned(),
                ),
                notes,
                provenance: Provenance::row("calls", cells.int("_id").unwrap_or_default()),
            };
            session.emit(&call)
        })
    });
    db.guard(session, "calls", result.map(drop))
}

/// `Calls.*_TYPE`.
fn call_type(raw: Option<i64>) -> CallType {
    match raw {
        Some(1) => CallType::Incoming,
        Some(2) => CallType::Outgoing,
        Some(3) => CallType::Missed,
        Some(4) => CallType::Voicemail,
        Some(5) => CallType::Rejected,
        Some(6) => CallType::Blocked,
        Some(7) => CallType::AnsweredExternally,
        _ => CallType::Unknown,
    }
}
