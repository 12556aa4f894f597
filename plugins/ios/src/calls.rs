//! The call history: table `ZCALLRECORD` of `CallHistory.storedata` (a
//! Core Data store, iOS 8+), one [`Call`] per row.
//!
//! Policy: `ZORIGINATED` 1 is outgoing; otherwise `ZANSWERED` 1 is
//! incoming and anything else missed. The service comes from `ZCALLTYPE`
//! (1 `phone`, 8 `facetime_video`, 16 `facetime_audio`), else from
//! `ZSERVICE_PROVIDER` as stored (`com.apple.Telephony` is `phone`), and
//! `type_raw` keeps `ZCALLTYPE`. `ZDATE` (seconds since 2001, `REAL`) goes
//! into a `cocoa_s` time of its whole seconds, with the fraction in a note;
//! `ZDURATION` (seconds, `REAL`) is rounded, with a note when it had a
//! fraction. A number stored as a BLOB (some releases) is read as UTF-8,
//! with a note.
#![forbid(unsafe_code)]

use exhibit_plugin_sdk::records::{Call, CallType, Provenance, Timestamp};
use exhibit_plugin_sdk::{PluginError, Session};

use crate::sqlite::{Cells, Db};

/// Decodes `ZCALLRECORD` of one `CallHistory.storedata`.
pub(crate) fn decode(session: &Session<'_>, db: &Db) -> Result<(), PluginError> {
    let Some(table) = db.required(session, "ZCALLRECORD", "no calls decoded")? else {
        return Ok(());
    };
    const COLUMNS: &[&str] = &[
        "Z_PK",
        "ZADDRESS",
        "ZNAME",
        "ZORIGINATED",
        "ZANSWERED",
        "ZDATE",
        "ZDURATION",
        "ZCALLTYPE",
        "ZSERVICE_PROVIDER",
    ];
    let sql = format!(
        "{} ORDER BY {}",
        table.select(COLUMNS),
        if table.has("Z_PK") { "Z_PK" } else { "rowid" }
    );
    let result = db.prepare("ZCALLRECORD", &sql).and_then(|mut stmt| {
        db.each_row(session, "ZCALLRECORD", &mut stmt, |row, _| {
            let cells = Cells::new(row, "ZCALLRECORD", COLUMNS);
            let mut notes = Vec::new();
            let call_type = if cells.int("ZORIGINATED") == Some(1) {
                CallType::Outgoing
            } else if cells.int("ZANSWERED") == Some(1) {
                CallType::Incoming
            } else {
                CallType::Missed
            };
            let kind = cells.int("ZCALLTYPE");
            let provider = cells
                .text("ZSERVICE_PROVIDER", &mut notes)
                .filter(|p| !p.is_empty());
            let call = Call {
                number: cells.text("ZADDRESS", &mut notes).filter(|n| !n.is_empty()),
                name: cells.text("ZNAME", &mut notes).filter(|n| !n.is_empty()),
                call_type,
                type_raw: kind,
                time: time(cells.real("ZDATE"), &mut notes),
                duration_s: duration(cells.real("ZDURATION"), &mut notes),
                service: service(kind, provider),
                notes,
                provenance: Provenance::row("ZCALLRECORD", cells.int("Z_PK").unwrap_or_default()),
            };
            session.emit(&call)
        })
    });
    db.guard(session, "ZCALLRECORD", result.map(drop))
}

/// `ZCALLTYPE`, else the provider's bundle id.
fn service(kind: Option<i64>, provider: Option<String>) -> Option<String> {
    let named = match kind {
        Some(1) => Some("phone"),
        Some(8) => Some("facetime_video"),
        Some(16) => Some("facetime_audio"),
        _ => None,
    };
    match (named, provider) {
        (Some(n), _) => Some(n.to_owned()),
        (None, Some(p)) if p == "com.apple.Telephony" => Some("phone".to_owned()),
        (None, p) => p,
    }
}

/// Whole seconds of a `REAL` and its fraction; `None` when it is not a
/// finite number of `i64` range.
fn split(value: f64) -> Option<(i64, f64)> {
    let whole = value.trunc();
    // `i64` bounds as floats: -2^63 is exact, 2^63 is the first value above.
    if !whole.is_finite() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&whole)
    {
        return None;
    }
    #[allow(clippy::as_conversions, clippy::cast_possible_truncation)]
    let secs = whole as i64;
    Some((secs, value - whole))
}

/// `ZDATE`: seconds since 2001; 0 is unknown.
fn time(raw: Option<f64>, notes: &mut Vec<String>) -> Option<Timestamp> {
    let raw = raw.filter(|&v| v != 0.0)?;
    let Some((secs, fraction)) = split(raw) else {
        notes.push(format!("`ZDATE` {raw} is not a time"));
        return None;
    };
    if fraction != 0.0 {
        notes.push(format!(
            "`ZDATE` is {raw} s since 2001; the time keeps its whole seconds"
        ));
    }
    Some(Timestamp::cocoa_s(secs))
}

/// `ZDURATION`, rounded to whole seconds.
fn duration(raw: Option<f64>, notes: &mut Vec<String>) -> Option<i64> {
    let raw = raw?;
    let Some((secs, fraction)) = split(raw.round()) else {
        notes.push(format!("`ZDURATION` {raw} is not a duration"));
        return None;
    };
    debug_assert_eq!(fraction, 0.0);
    if raw.fract() != 0.0 {
        notes.push(format!("`ZDURATION` is {raw} s, rounded to {secs} s"));
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_noted() {
        let mut notes = Vec::new();
        assert_eq!(duration(Some(12.4), &mut notes), Some(12));
        assert_eq!(duration(Some(12.5), &mut notes), Some(13));
        assert_eq!(duration(Some(60.0), &mut notes), Some(60));
        assert_eq!(notes.len(), 2);
        let t = time(Some(700_000_000.25), &mut notes).unwrap();
        assert_eq!(t.raw, 700_000_000);
        assert_eq!(notes.len(), 3);
        assert_eq!(time(Some(f64::NAN), &mut notes), None);
        assert_eq!(duration(Some(f64::INFINITY), &mut notes), None);
        assert_eq!(time(Some(1e300), &mut notes), None);
    }

    #[test]
    fn services() {
        assert_eq!(service(Some(1), None).as_deref(), Some("phone"));
        assert_eq!(service(Some(8), None).as_deref(), Some("facetime_video"));
        assert_eq!(service(Some(16), None).as_deref(), Some("facetime_audio"));
        assert_eq!(
            service(None, Some("com.apple.Telephony".into())).as_deref(),
            Some("phone")
        );
        assert_eq!(
            service(Some(0), Some("net.whatsapp.WhatsApp".into())).as_deref(),
            Some("net.whatsapp.WhatsApp")
        );
        assert_eq!(service(None, None), None);
    }
}
