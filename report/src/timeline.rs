//! The timeline export (`exhibit export CASE --format timeline`): a CSV that
//! Timesketch imports as it is. Timesketch needs three columns, `message`,
//! `datetime` (ISO 8601 with an offset) and `timestamp_desc`; it also reads
//! `timestamp` (microseconds since 1970) and keeps any other column as an
//! attribute of the event.
//!
//! Policy:
//! - **One row per timed event, in UTC.** A message gives a row for each
//!   time it carries: `Message Sent` (`sent`), `Message Received` (`received`
//!   of an incoming message) or `Message Stored` (`received` of any other:
//!   the record schema defines it as when the handset received *or stored*
//!   it), `Message Read` (`read_at`), `Message Delivered` (`delivered_at`),
//!   and `Message Time` (`time`) only when it has neither `sent` nor
//!   `received`. A call gives `Call Started`. Every file, directory and link
//!   gives a row for each of its modified, accessed, changed and created
//!   times (`File Modified`, `Directory Accessed`…). Contacts carry no time
//!   and give none.
//! - **Only valid times make rows.** A record time whose `utc` is `null` (its
//!   raw value is out of range) or does not parse, and an entry time outside
//!   what an ISO 8601 date can say, is left out; the record itself stays in
//!   `artifacts/` and the custody log.
//! - **Unsorted.** Rows stream in case order (messages, calls, then files in
//!   log order), so a case of millions of records is exported in bounded
//!   memory; Timesketch sorts on import.
//! - **`datetime` has microseconds** (`2024-03-01T08:00:00.000000+00:00`),
//!   like `timestamp`; a file time stored in nanoseconds is cut to
//!   microseconds here (the custody log keeps it whole).
//! - **CSV per RFC 4180**: UTF-8 without a byte order mark, CRLF line ends, a
//!   field quoted when it holds a comma, a quote, CR or LF, quotes doubled.
//! - **No cell starts with text from the evidence**, so a spreadsheet that
//!   opens the file cannot be made to run a formula (`=HYPERLINK(…)` in an
//!   SMS): evidence text (addresses, names, bodies, paths) appears only
//!   inside `message`, which always starts with words exhibit writes ("SMS
//!   from …", "File modified: …"). The other columns are exhibit's own (case
//!   paths start with `files/`, hashes are hex, `row` is a number) or the
//!   decoder's (`decoder`, `table`). Values are therefore never prefixed or
//!   altered. `message` is one line: control characters become spaces, a
//!   body is cut to 200 characters and a recipient list to 5 addresses,
//!   each cut marked with `…`.
//!
//! Columns: `message, datetime, timestamp_desc, timestamp, kind, source_file,
//! source_sha256, decoder, table, row, index`. `kind` is `message`, `call`,
//! or the entry's kind (`file`, `dir`, `symlink`…); `source_file` and
//! `source_sha256` are the case path and SHA-256 of the database a record
//! was read from (its provenance), or of the file itself; `table`, `row` and
//! `index` say where in that database.

use crate::Case;
use crate::case::FileItem;
use anyhow::Result;
use exhibit_plugin_sdk::records::{Call, CallType, Direction, Message, Provenance, Timestamp};
use exhibit_plugin_sdk::{EntryKind, Time};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};

/// The header row; Timesketch's three required columns come first.
pub const HEADER: [&str; 11] = [
    "message",
    "datetime",
    "timestamp_desc",
    "timestamp",
    "kind",
    "source_file",
    "source_sha256",
    "decoder",
    "table",
    "row",
    "index",
];

/// Characters of a body kept in `message`.
const BODY_CHARS: usize = 200;
/// Characters of one address or name kept in `message`.
const ADDRESS_CHARS: usize = 80;
/// Recipients named in `message`; the rest are counted.
const RECIPIENTS: usize = 5;

/// Writes the timeline of `case` as CSV.
pub fn write(case: &Case, out: &mut dyn Write) -> Result<()> {
    let mut out = BufWriter::new(out);
    let mut w = CsvWriter {
        out: &mut out,
        line: String::new(),
    };
    w.row(&HEADER)?;
    for message in case.records::<Message>("messages")? {
        message_rows(&mut w, &message?)?;
    }
    for call in case.records::<Call>("calls")? {
        call_row(&mut w, &call?)?;
    }
    for item in case.files()? {
        file_rows(&mut w, &item?)?;
    }
    out.flush()?;
    Ok(())
}

/// One event before it becomes a row.
struct Event<'a> {
    message: &'a str,
    instant: jiff::Timestamp,
    desc: &'a str,
    kind: &'a str,
    source_file: &'a str,
    source_sha256: &'a str,
    provenance: Option<&'a Provenance>,
}

struct CsvWriter<'a, W: Write> {
    out: &'a mut W,
    line: String,
}

impl<W: Write> CsvWriter<'_, W> {
    fn row(&mut self, fields: &[&str]) -> Result<()> {
        self.line.clear();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            push_field(&mut self.line, field);
        }
        self.line.push_str("\r\n");
        self.out.write_all(self.line.as_bytes())?;
        Ok(())
    }

    fn event(&mut self, e: &Event<'_>) -> Result<()> {
        let (datetime, micros) = iso_and_micros(e.instant);
        let micros = micros.to_string();
        let p = e.provenance;
        let decoder = p.map_or("", |p| p.decoder.as_str());
        let table = p.and_then(|p| p.table.as_deref()).unwrap_or("");
        let row = p
            .and_then(|p| p.row)
            .map(|r| r.to_string())
            .unwrap_or_default();
        let index = p
            .and_then(|p| p.index)
            .map(|i| i.to_string())
            .unwrap_or_default();
        self.row(&[
            e.message,
            &datetime,
            e.desc,
            &micros,
            e.kind,
            e.source_file,
            e.source_sha256,
            decoder,
            table,
            &row,
            &index,
        ])
    }
}

/// RFC 4180: quote when the field holds a separator, a quote or a line end.
fn push_field(line: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        line.push('"');
        for c in field.chars() {
            if c == '"' {
                line.push('"');
            }
            line.push(c);
        }
        line.push('"');
    } else {
        line.push_str(field);
    }
}

/// `2024-03-01T08:00:00.000000+00:00` and microseconds since 1970.
/// Sub-microsecond digits are dropped toward the past, so the calendar
/// fields and `timestamp` always name the same microsecond.
fn iso_and_micros(t: jiff::Timestamp) -> (String, i64) {
    let floor = t.as_nanosecond().div_euclid(1000);
    // Every valid jiff timestamp fits in i64 microseconds.
    let micros = i64::try_from(floor).unwrap_or(i64::MIN);
    let whole = jiff::Timestamp::from_microsecond(micros)
        .unwrap_or(t)
        .strftime("%Y-%m-%dT%H:%M:%S");
    let frac = micros.rem_euclid(1_000_000);
    (format!("{whole}.{frac:06}+00:00"), micros)
}

fn record_instant(t: Option<&Timestamp>) -> Option<jiff::Timestamp> {
    t?.utc.as_deref()?.parse().ok()
}

fn entry_instant(t: Option<Time>) -> Option<jiff::Timestamp> {
    let t = t?;
    jiff::Timestamp::new(t.secs, i32::try_from(t.nanos).ok()?).ok()
}

/// `text` on one line, cut to `max` characters (marked with `…`).
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)));
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            ' '
        } else {
            c
        });
    }
    out
}

fn service_name(service: &str) -> String {
    match service {
        "sms" => "SMS".into(),
        "mms" => "MMS".into(),
        "imessage" => "iMessage".into(),
        other => one_line(other, ADDRESS_CHARS),
    }
}

/// "SMS from +1555… to this device: body…"
fn message_text(m: &Message) -> String {
    let mut text = service_name(&m.service);
    let from = m
        .from
        .as_deref()
        .map_or_else(|| "this device".to_owned(), |f| one_line(f, ADDRESS_CHARS));
    let to = if m.to.is_empty() {
        "this device".to_owned()
    } else {
        let mut list: Vec<String> =
            m.to.iter()
                .take(RECIPIENTS)
                .map(|t| one_line(t, ADDRESS_CHARS))
                .collect();
        if m.to.len() > RECIPIENTS {
            list.push(format!("{} more", m.to.len() - RECIPIENTS));
        }
        list.join(", ")
    };
    let _ = write!(text, " from {from} to {to}: ");
    if let Some(subject) = m.subject.as_deref().filter(|s| !s.is_empty()) {
        let _ = write!(text, "[{}] ", one_line(subject, BODY_CHARS));
    }
    match m.body.as_deref().filter(|b| !b.is_empty()) {
        Some(body) => text.push_str(&one_line(body, BODY_CHARS)),
        None => {
            let attachments = m.parts.iter().filter(|p| p.attachment.is_some()).count();
            match attachments {
                0 => text.push_str("(no text)"),
                1 => text.push_str("(1 attachment)"),
                n => {
                    let _ = write!(text, "({n} attachments)");
                }
            }
        }
    }
    text
}

fn message_rows<W: Write>(w: &mut CsvWriter<'_, W>, m: &Message) -> Result<()> {
    let text = message_text(m);
    let received = if m.direction == Direction::Incoming {
        "Message Received"
    } else {
        "Message Stored"
    };
    let mut times: Vec<(&Option<Timestamp>, &str)> = vec![
        (&m.sent, "Message Sent"),
        (&m.received, received),
        (&m.read_at, "Message Read"),
        (&m.delivered_at, "Message Delivered"),
    ];
    if m.sent.is_none() && m.received.is_none() {
        times.push((&m.time, "Message Time"));
    }
    for (t, desc) in times {
        if let Some(instant) = record_instant(t.as_ref()) {
            w.event(&Event {
                message: &text,
                instant,
                desc,
                kind: "message",
                source_file: &m.provenance.file,
                source_sha256: &m.provenance.sha256,
                provenance: Some(&m.provenance),
            })?;
        }
    }
    Ok(())
}

/// "Incoming call from +1555… (Alice Example), 125 s"
fn call_text(c: &Call) -> String {
    let number = c.number.as_deref().filter(|n| !n.is_empty()).map_or_else(
        || "an unknown number".to_owned(),
        |n| one_line(n, ADDRESS_CHARS),
    );
    let mut text = match c.call_type {
        CallType::Incoming => format!("Incoming call from {number}"),
        CallType::Outgoing => format!("Outgoing call to {number}"),
        CallType::Missed => format!("Missed call from {number}"),
        CallType::Voicemail => format!("Voicemail from {number}"),
        CallType::Rejected => format!("Rejected call from {number}"),
        CallType::Blocked => format!("Blocked call from {number}"),
        CallType::AnsweredExternally => {
            format!("Call from {number} answered on another device")
        }
        CallType::Unknown => format!("Call with {number}"),
    };
    if let Some(name) = c.name.as_deref().filter(|n| !n.is_empty()) {
        let _ = write!(text, " ({})", one_line(name, ADDRESS_CHARS));
    }
    if let Some(service) = c
        .service
        .as_deref()
        .filter(|s| *s != "phone" && !s.is_empty())
    {
        let _ = write!(text, " [{}]", one_line(service, ADDRESS_CHARS));
    }
    if let Some(d) = c.duration_s {
        let _ = write!(text, ", {d} s");
    }
    text
}

fn call_row<W: Write>(w: &mut CsvWriter<'_, W>, c: &Call) -> Result<()> {
    let Some(instant) = record_instant(c.time.as_ref()) else {
        return Ok(());
    };
    w.event(&Event {
        message: &call_text(c),
        instant,
        desc: "Call Started",
        kind: "call",
        source_file: &c.provenance.file,
        source_sha256: &c.provenance.sha256,
        provenance: Some(&c.provenance),
    })
}

/// The word for an entry kind in `timestamp_desc` and `message`, and its
/// name in the `kind` column.
fn kind_words(kind: EntryKind) -> (&'static str, &'static str) {
    match kind {
        EntryKind::File => ("File", "file"),
        EntryKind::Dir => ("Directory", "dir"),
        EntryKind::Symlink => ("Symlink", "symlink"),
        EntryKind::Hardlink => ("Hard link", "hardlink"),
        EntryKind::CharDevice => ("Device", "char_device"),
        EntryKind::BlockDevice => ("Device", "block_device"),
        EntryKind::Fifo => ("Pipe", "fifo"),
        EntryKind::Socket => ("Socket", "socket"),
        _ => ("Entry", "other"),
    }
}

fn file_rows<W: Write>(w: &mut CsvWriter<'_, W>, item: &FileItem) -> Result<()> {
    let Some(meta) = &item.meta else {
        return Ok(());
    };
    let (word, kind) = kind_words(item.kind);
    // A name that is not UTF-8 is shown with U+FFFD for its bad bytes.
    let name = match crate::dfxml::raw_bytes(&item.name) {
        Some(bytes) => one_line(&String::from_utf8_lossy(&bytes), usize::MAX),
        None => one_line(&item.path, usize::MAX),
    };
    let sha256 = item.sha256().unwrap_or("");
    for (t, what) in [
        (meta.mtime, "Modified"),
        (meta.atime, "Accessed"),
        (meta.ctime, "Changed"),
        (meta.btime, "Created"),
    ] {
        if let Some(instant) = entry_instant(t) {
            let desc = format!("{word} {what}");
            let message = format!("{word} {}: {name}", what.to_lowercase());
            w.event(&Event {
                message: &message,
                instant,
                desc: &desc,
                kind,
                source_file: &item.path,
                source_sha256: sha256,
                provenance: None,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use exhibit_plugin_sdk::records::Part;

    fn message() -> Message {
        Message {
            service: "sms".into(),
            direction: Direction::Incoming,
            folder: None,
            thread: None,
            from: Some("+15551230001".into()),
            to: vec![],
            subject: None,
            body: Some("line one\nline \"two\", =1+1".into()),
            time: Some(Timestamp::unix_ms(1_709_280_000_000)),
            sent: Some(Timestamp::unix_ms(1_709_279_998_000)),
            received: Some(Timestamp::unix_ms(1_709_280_000_000)),
            read: None,
            read_at: None,
            delivered_at: Some(Timestamp::unix_ms(i64::MAX)),
            status: None,
            parts: vec![],
            notes: vec![],
            provenance: Provenance {
                file: "files/mmssms.db".into(),
                sha256: "ab".repeat(32),
                decoder: "android 0.1.0".into(),
                ..Provenance::row("sms", 7)
            },
        }
    }

    fn rows(f: impl FnOnce(&mut CsvWriter<'_, Vec<u8>>) -> Result<()>) -> String {
        let mut buf = Vec::new();
        let mut w = CsvWriter {
            out: &mut buf,
            line: String::new(),
        };
        f(&mut w).expect("rows");
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn a_message_gives_a_row_per_valid_time_quoted_and_on_one_line() {
        let csv = rows(|w| message_rows(w, &message()));
        let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
        // sent and received; the out-of-range delivered_at gives no row.
        assert_eq!(lines.len(), 2, "{csv}");
        let sha = "ab".repeat(32);
        assert_eq!(
            lines[0],
            format!(
                "\"SMS from +15551230001 to this device: line one line \"\"two\"\", =1+1\",\
                 2024-03-01T07:59:58.000000+00:00,Message Sent,1709279998000000,message,\
                 files/mmssms.db,{sha},android 0.1.0,sms,7,"
            )
        );
        assert!(
            lines[1]
                .contains(",2024-03-01T08:00:00.000000+00:00,Message Received,1709280000000000,")
        );
    }

    #[test]
    fn an_outgoing_message_is_stored_and_long_bodies_are_cut() {
        let mut m = message();
        m.direction = Direction::Outgoing;
        m.sent = None;
        m.from = None;
        m.to = (0..7).map(|i| format!("+1{i}")).collect();
        m.body = Some("x".repeat(250));
        let text = message_text(&m);
        assert_eq!(
            text,
            format!(
                "SMS from this device to +10, +11, +12, +13, +14, 2 more: {}…",
                "x".repeat(200)
            )
        );
        let csv = rows(|w| message_rows(w, &m));
        assert_eq!(csv.matches("Message Stored").count(), 1, "{csv}");
        assert_eq!(csv.matches("\r\n").count(), 1);
    }

    #[test]
    fn a_message_without_text_counts_its_attachments() {
        let mut m = message();
        m.body = None;
        m.parts = vec![Part {
            content_type: Some("image/jpeg".into()),
            name: None,
            text: None,
            attachment: Some(Default::default()),
        }];
        assert!(message_text(&m).ends_with(": (1 attachment)"));
    }

    #[test]
    fn calls_read_as_sentences() {
        let call = Call {
            number: Some("+15551230001".into()),
            name: Some("Alice Example".into()),
            call_type: CallType::Incoming,
            type_raw: Some(1),
            time: Some(Timestamp::unix_ms(1_709_276_400_000)),
            duration_s: Some(125),
            service: Some("phone".into()),
            notes: vec![],
            provenance: Provenance::row("calls", 1),
        };
        assert_eq!(
            call_text(&call),
            "Incoming call from +15551230001 (Alice Example), 125 s"
        );
        let csv = rows(|w| call_row(w, &call));
        assert!(
            csv.contains(",2024-03-01T07:00:00.000000+00:00,Call Started,1709276400000000,call,"),
            "{csv}"
        );
    }

    #[test]
    fn times_before_1970_and_with_nanoseconds() {
        let t = entry_instant(Some(Time {
            secs: -1,
            nanos: 999_999_999,
        }))
        .expect("valid");
        assert_eq!(
            iso_and_micros(t),
            ("1969-12-31T23:59:59.999999+00:00".to_owned(), -1)
        );
        assert!(entry_instant(Some(Time::from_secs(i64::MAX))).is_none());
    }
}
