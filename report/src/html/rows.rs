//! The rows the report's script renders. Every thread, message, contact,
//! call and file becomes a compact JSON array (positions documented on each
//! builder and mirrored in `report.js`), and rows are written [`CHUNK`] at a
//! time, each chunk its own `<script type="application/json">` element, so
//! the browser parses only the chunks of the page being viewed and the
//! writer holds one chunk at a time.
//!
//! Times are formatted here, in Rust, with the zone rules bundled in the
//! binary: the page shows what the examiner's `--tz` says, not what the
//! viewing browser's time zone database thinks.

use super::timeline_svg;
use crate::case::FileItem;
use crate::markup;
use crate::tz::{Zone, utc_display};
use exhibit_plugin_sdk::records::{Call, Contact, Direction, Message, Provenance, Timestamp};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Rows per embedded JSON chunk.
pub const CHUNK: usize = 500;

/// One data set (`msg`, `files`, …) written as numbered chunks
/// `d-<set>-<k>`; the writer is passed to each call so that two sets can be
/// written interleaved into the same stream. Rows are kept as the text that
/// goes into the page (already made safe by [`markup::script_json`]), so a
/// row staged on disk is copied out without being parsed again.
pub struct Chunks {
    set: &'static str,
    text: String,
    rows: usize,
    chunks: u64,
    total: u64,
}

impl Chunks {
    pub fn new(set: &'static str) -> Chunks {
        Chunks {
            set,
            text: String::new(),
            rows: 0,
            chunks: 0,
            total: 0,
        }
    }

    pub fn push(&mut self, out: &mut dyn Write, row: &Value) -> io::Result<()> {
        self.push_text(out, &markup::script_json(row))
    }

    /// Adds a row given as the output of [`markup::script_json`].
    pub fn push_text(&mut self, out: &mut dyn Write, row: &str) -> io::Result<()> {
        if self.rows > 0 {
            self.text.push(',');
        }
        self.text.push_str(row);
        self.rows += 1;
        self.total += 1;
        if self.rows == CHUNK {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Writes the last, partial chunk; returns the number of rows.
    pub fn finish(mut self, out: &mut dyn Write) -> io::Result<u64> {
        if self.rows > 0 {
            self.flush(out)?;
        }
        Ok(self.total)
    }

    fn flush(&mut self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            r#"<script type="application/json" id="d-{}-{}">[{}]</script>"#,
            self.set, self.chunks, self.text
        )?;
        self.text.clear();
        self.rows = 0;
        self.chunks += 1;
        Ok(())
    }
}

/// The source files records were read from, each listed once
/// (`[case path, SHA-256, link, decoder]`) and referred to by position:
/// a million messages from one database repeat a small number, not its
/// path and hash. Positions follow first appearance, so they are the same
/// every time the case is read. Bounded by the number of decoded files.
pub struct Sources {
    base: String,
    index: BTreeMap<(String, String), usize>,
    list: Vec<Value>,
}

impl Sources {
    pub fn new(case_href: &str) -> Sources {
        Sources {
            base: case_href.to_owned(),
            index: BTreeMap::new(),
            list: Vec::new(),
        }
    }

    pub fn id(&mut self, p: &Provenance) -> usize {
        let key = (p.file.clone(), p.sha256.clone());
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.list.len();
        self.list.push(json!([
            p.file,
            p.sha256,
            markup::href(&self.base, &p.file),
            p.decoder
        ]));
        self.index.insert(key, id);
        id
    }

    pub fn to_value(&self) -> Value {
        Value::Array(self.list.clone())
    }
}

/// Where in its source a record was: `sms row 12`, `item 3`.
pub fn location(p: &Provenance) -> String {
    match (&p.table, p.row, p.index) {
        (Some(t), Some(r), _) => format!("{t} row {r}"),
        (Some(t), None, Some(i)) => format!("{t} item {i}"),
        (None, Some(r), _) => format!("row {r}"),
        (None, None, Some(i)) => format!("item {i}"),
        (Some(t), None, None) => t.clone(),
        (None, None, None) => String::new(),
    }
}

/// An instant as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct When {
    /// Milliseconds since 1970 (the sort key); `None` when the text is not
    /// an RFC 3339 time.
    pub ms: Option<i64>,
    /// `2024-03-01 08:00:00Z`, or the text as recorded.
    pub utc: String,
    /// `2024-03-01 09:00:00 +01:00` in the examiner's zone (not for UTC).
    pub local: Option<String>,
    /// Days since 1970-01-01 in the examiner's zone (the timeline's day).
    pub day: Option<i64>,
}

/// Reads an RFC 3339 UTC time for display in `zone`.
pub fn when(zone: &Zone, utc: &str) -> When {
    let Ok(ts) = utc.parse::<jiff::Timestamp>() else {
        return When {
            ms: None,
            utc: utc.to_owned(),
            local: None,
            day: None,
        };
    };
    let offset = i64::from(zone.offset_seconds(utc).unwrap_or(0));
    When {
        ms: Some(ts.as_millisecond()),
        utc: utc_display(utc),
        local: (!zone.is_utc()).then(|| zone.local(utc)).flatten(),
        day: Some((ts.as_second() + offset).div_euclid(86_400)),
    }
}

/// [`when`] of a time known only by its milliseconds (a thread's first and
/// last message, read back from the scratch database).
pub fn when_ms(zone: &Zone, ms: i64) -> Option<When> {
    let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
    Some(when(zone, &ts.to_string()))
}

/// `[utc, local, raw]` of a record's timestamp: what the page shows, and
/// the stored value with its encoding for the tooltip, so an examiner can
/// re-check the conversion.
fn time_cell(zone: &Zone, t: &Timestamp) -> (Value, Option<When>) {
    let raw = format!("stored {} ({})", t.raw, t.format);
    match &t.utc {
        Some(utc) => {
            let w = when(zone, utc);
            (json!([w.utc, w.local, raw]), Some(w))
        }
        None => (json!([Value::Null, Value::Null, raw]), None),
    }
}

/// `[utc, local]` of a [`When`].
pub fn when_cell(w: &When) -> Value {
    json!([w.utc, w.local])
}

/// The timeline kinds a message counts as: received, sent, or other.
pub fn direction_kind(d: Direction) -> usize {
    match d {
        Direction::Incoming => timeline_svg::RECEIVED,
        Direction::Outgoing => timeline_svg::SENT,
        Direction::Draft | Direction::Unknown => timeline_svg::OTHER,
    }
}

/// A message row:
/// `[0 direction, 1 from, 2 to[], 3 body, 4 service, 5 time [utc, local, raw] | null,
///   6 source, 7 location, 8 subject, 9 parts [[type, name, link, sha256, device path]],
///   10 notes[], 11 state]`.
/// Text parts already in the body are left out of `parts`.
pub fn message_row(m: &Message, zone: &Zone, src: usize, base: &str) -> (Value, Option<When>) {
    let dir = match m.direction {
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
        Direction::Draft => "draft",
        Direction::Unknown => "unknown",
    };
    let (time, w) = match &m.time {
        Some(t) => time_cell(zone, t),
        None => (Value::Null, None),
    };
    let parts: Vec<Value> = m
        .parts
        .iter()
        .filter(|p| p.text.is_none() || p.attachment.is_some())
        .map(|p| {
            let att = p.attachment.as_ref();
            json!([
                p.content_type,
                p.name,
                att.and_then(|a| a.case_path.as_deref())
                    .map(|c| markup::href(base, c)),
                att.and_then(|a| a.sha256.as_deref()),
                att.and_then(|a| a.device_path.as_deref()),
            ])
        })
        .collect();
    let mut state: Vec<String> = Vec::new();
    if let Some(f) = &m.folder {
        state.push(f.clone());
    }
    if let Some(s) = &m.status {
        state.push(s.clone());
    }
    match m.read {
        Some(true) => state.push("read".into()),
        Some(false) => state.push("unread".into()),
        None => {}
    }
    let row = json!([
        dir,
        m.from,
        m.to,
        m.body,
        m.service,
        time,
        src,
        location(&m.provenance),
        m.subject,
        parts,
        m.notes,
        state.join(" · "),
    ]);
    (row, w)
}

/// A call row: `[0 type, 1 number, 2 name, 3 time [utc, local, raw] | null,
/// 4 duration (s), 5 service, 6 source, 7 location, 8 notes[]]`.
pub fn call_row(c: &Call, zone: &Zone, src: usize) -> (Value, Option<When>) {
    let (time, w) = match &c.time {
        Some(t) => time_cell(zone, t),
        None => (Value::Null, None),
    };
    let kind = serde_json::to_value(c.call_type).unwrap_or(Value::Null);
    let row = json!([
        kind,
        c.number,
        c.name,
        time,
        c.duration_s,
        c.service,
        src,
        location(&c.provenance),
        c.notes,
    ]);
    (row, w)
}

/// A contact row: `[0 name, 1 phones[], 2 e-mails[], 3 organisation,
/// 4 account, 5 deleted, 6 source, 7 location, 8 notes[]]`; phones and
/// addresses as `value (label)`.
pub fn contact_row(c: &Contact, src: usize) -> Value {
    let labelled = |l: &exhibit_plugin_sdk::records::Labelled| match &l.label {
        Some(label) => format!("{} ({label})", l.value),
        None => l.value.clone(),
    };
    let name = c.name.clone().or_else(|| {
        let parts: Vec<&str> = [c.given_name.as_deref(), c.family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let account = c.account.as_ref().map(|a| {
        [a.name.as_deref(), a.kind.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
    });
    json!([
        name,
        c.phones.iter().map(labelled).collect::<Vec<_>>(),
        c.emails.iter().map(labelled).collect::<Vec<_>>(),
        c.organization,
        account,
        c.deleted,
        src,
        location(&c.provenance),
        c.notes,
    ])
}

/// A file row: `[0 link path (percent-encoded case path), 1 kind, 2 size,
/// 3 SHA-256, 4 complete, 5 modified [utc, local] | null, 6 link target,
/// 7 other digests]`. The path is sent once, encoded by [`markup::href`]
/// with an empty base; the page prefixes the case link base and decodes it
/// for display, so the link and the text cannot disagree.
pub fn file_row(f: &FileItem, zone: &Zone) -> (Value, Option<When>) {
    let meta = f.meta.as_ref();
    let modified = meta
        .and_then(|m| m.mtime)
        .map(|t| when(zone, &exhibit_core::time::time(t)));
    let kind = serde_json::to_value(f.kind).unwrap_or(Value::Null);
    let target = meta
        .and_then(|m| m.link_target.as_ref())
        .map(|t| String::from_utf8_lossy(&t.0).into_owned());
    let others: Vec<String> = f
        .hashes
        .iter()
        .filter(|(alg, _)| alg.as_str() != "sha256")
        .map(|(alg, hex)| format!("{alg} {hex}"))
        .collect();
    let row = json!([
        markup::href("", &f.path),
        kind,
        f.size,
        f.sha256(),
        f.complete,
        modified.as_ref().map(when_cell),
        target,
        (!others.is_empty()).then(|| others.join(" · ")),
    ]);
    (row, modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_utc_and_the_zone() {
        let berlin = Zone::parse("Europe/Berlin").expect("zone");
        let w = when(&berlin, "2024-03-01T23:30:00.000Z");
        assert_eq!(w.utc, "2024-03-01 23:30:00Z");
        assert_eq!(w.local.as_deref(), Some("2024-03-02 00:30:00 +01:00"));
        // The timeline day is Berlin's: 2 March (19 784 days after 1970-01-01).
        assert_eq!(w.day, Some(19_784));
        assert_eq!(
            when(&Zone::default(), "2024-03-01T23:30:00Z").day,
            Some(19_783)
        );
        assert_eq!(when(&Zone::default(), "2024-03-01T23:30:00Z").local, None);
        let bad = when(&berlin, "yesterday");
        assert_eq!(
            (bad.ms, bad.utc.as_str(), bad.day),
            (None, "yesterday", None)
        );
        assert_eq!(
            when_ms(&berlin, 1_709_280_000_000).map(|w| w.local),
            Some(Some("2024-03-01 09:00:00 +01:00".to_owned()))
        );
    }

    #[test]
    fn sources_are_listed_once_in_first_seen_order() {
        let mut s = Sources::new("../");
        let p = |f: &str| Provenance {
            file: f.into(),
            sha256: "ab".into(),
            ..Provenance::default()
        };
        assert_eq!(s.id(&p("files/b b.db")), 0);
        assert_eq!(s.id(&p("files/a.db")), 1);
        assert_eq!(s.id(&p("files/b b.db")), 0);
        assert_eq!(s.to_value()[0][2], "../files/b%20b.db");
        assert_eq!(s.to_value().as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn chunks_split_at_the_chunk_size() {
        let mut out = Vec::new();
        let mut c = Chunks::new("x");
        for i in 0..(CHUNK * 2 + 1) {
            c.push(&mut out, &json!([i])).expect("push");
        }
        assert_eq!(c.finish(&mut out).expect("finish"), 2 * CHUNK as u64 + 1);
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.matches("<script").count(), 3);
        assert!(
            text.contains(r#"id="d-x-2">[[1000]]</script>"#),
            "{}",
            &text[text.len() - 80..]
        );
    }
}
