//! `mmssms.db` of `com.android.providers.telephony`: SMS from table `sms`,
//! MMS from `pdu` with their addresses (`addr`) and parts (`part`), and the
//! conversations of `threads`/`canonical_addresses`. Also the mapping rules
//! that the telephony backup files share with the database (message boxes,
//! delivery status, the MMS subject and address charsets).
//!
//! Policy: a message whose `thread_id` has no row in `threads` keeps its
//! thread id and gets a note (its conversation was deleted). The handset's
//! own address (`insert-address-token`) is never listed as a party. An MMS
//! part stored as a file is proposed as an attachment at the package's
//! `app_parts/` folder beside the input's databases folder; the host keeps
//! the proposal only if that file was extracted. Parts and addresses whose
//! message is gone are counted in a warning.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use exhibit_plugin_sdk::records::{Attachment, Direction, Message, Part, Provenance, Timestamp};
use exhibit_plugin_sdk::{PluginError, Session};
use rusqlite::Row;

use crate::sqlite::{Cells, Children, Db, Table};

/// `addr.type` of the sender (PduHeaders.FROM).
pub(crate) const ADDR_FROM: i64 = 137;
/// `addr.type` of a recipient (PduHeaders.TO).
pub(crate) const ADDR_TO: i64 = 151;
/// `addr.type` of a copy recipient (PduHeaders.CC).
pub(crate) const ADDR_CC: i64 = 130;
/// `addr.type` of a blind-copy recipient (PduHeaders.BCC).
pub(crate) const ADDR_BCC: i64 = 129;
/// The address the telephony provider stores for the handset itself.
pub(crate) const SELF_TOKEN: &str = "insert-address-token";
/// MIBenum of UTF-8 (`CharacterSets.UTF_8`).
const CHARSET_UTF8: i64 = 106;
/// `pdu.m_type` of an MMS notification whose content was never downloaded.
const M_TYPE_NOTIFICATION_IND: i64 = 130;

/// The package whose folder holds `app_parts/` beside `databases/`.
const TELEPHONY_PACKAGE: &str = "com.android.providers.telephony/";

/// Decodes the SMS and MMS of one `mmssms.db`.
pub(crate) fn decode(session: &Session<'_>, db: &Db) -> Result<(), PluginError> {
    let threads = match load_threads(session, db) {
        Ok(threads) => threads,
        Err(e) => {
            db.guard(session, "threads", Err(e))?;
            Threads::default()
        }
    };
    if let Some(sms) = db.required(session, "sms", "no SMS decoded")? {
        db.guard(session, "sms", decode_sms(session, db, &sms, &threads))?;
    }
    if let Some(pdu) = db.required(session, "pdu", "no MMS decoded")? {
        db.guard(session, "pdu", decode_mms(session, db, &pdu, &threads))?;
    }
    Ok(())
}

/// The conversations: thread id → the addresses of its recipients.
#[derive(Default)]
struct Threads {
    /// `None` when `threads` could not be read: no thread is then called deleted.
    known: Option<HashMap<i64, Vec<String>>>,
}

impl Threads {
    fn recipients(&self, thread: i64) -> Option<&[String]> {
        self.known.as_ref()?.get(&thread).map(Vec::as_slice)
    }

    /// The note for a message of thread `thread`, if that thread is gone.
    fn gone(&self, thread: Option<i64>) -> Option<String> {
        let thread = thread?;
        let known = self.known.as_ref()?;
        (!known.contains_key(&thread)).then(|| {
            format!("thread {thread} has no row in `threads`: the conversation was deleted")
        })
    }
}

fn load_threads(session: &Session<'_>, db: &Db) -> Result<Threads, PluginError> {
    let Some(threads) = db.required(
        session,
        "threads",
        "recipients of drafts are not resolved and deleted conversations not noticed",
    )?
    else {
        return Ok(Threads::default());
    };
    let mut addresses = HashMap::new();
    if let Some(canonical) = db.required(
        session,
        "canonical_addresses",
        "conversations' recipients are not resolved",
    )? {
        const COLUMNS: &[&str] = &["_id", "address"];
        let mut stmt = db.prepare("canonical_addresses", &canonical.select(COLUMNS))?;
        db.each_row(session, "canonical_addresses", &mut stmt, |row, _| {
            let cells = Cells::new(row, "canonical_addresses", COLUMNS);
            if let (Some(id), Some(address)) =
                (cells.int("_id"), cells.text("address", &mut Vec::new()))
            {
                addresses.insert(id, address);
            }
            Ok(())
        })?;
    }
    const COLUMNS: &[&str] = &["_id", "recipient_ids"];
    let mut known = HashMap::new();
    let mut stmt = db.prepare("threads", &threads.select(COLUMNS))?;
    db.each_row(session, "threads", &mut stmt, |row, _| {
        let cells = Cells::new(row, "threads", COLUMNS);
        if let Some(id) = cells.int("_id") {
            let ids = cells
                .text("recipient_ids", &mut Vec::new())
                .unwrap_or_default();
            let recipients = ids
                .split_whitespace()
                .filter_map(|n| n.parse::<i64>().ok())
                .filter_map(|n| addresses.get(&n).cloned())
                .collect();
            known.insert(id, recipients);
        }
        Ok(())
    })?;
    Ok(Threads { known: Some(known) })
}

/// Direction and folder of `sms.type` (`Telephony.TextBasedSmsColumns`).
pub(crate) fn sms_box(kind: Option<i64>) -> (Direction, Option<&'static str>) {
    match kind {
        Some(1) => (Direction::Incoming, Some("inbox")),
        Some(2) => (Direction::Outgoing, Some("sent")),
        Some(3) => (Direction::Draft, Some("draft")),
        Some(4) => (Direction::Outgoing, Some("outbox")),
        Some(5) => (Direction::Outgoing, Some("failed")),
        Some(6) => (Direction::Outgoing, Some("queued")),
        _ => (Direction::Unknown, None),
    }
}

/// Direction and folder of `pdu.msg_box` (`Telephony.BaseMmsColumns`).
pub(crate) fn mms_box(msg_box: Option<i64>) -> (Direction, Option<&'static str>) {
    match msg_box {
        Some(1) => (Direction::Incoming, Some("inbox")),
        Some(2) => (Direction::Outgoing, Some("sent")),
        Some(3) => (Direction::Draft, Some("draft")),
        Some(4) => (Direction::Outgoing, Some("outbox")),
        Some(5) => (Direction::Outgoing, Some("failed")),
        _ => (Direction::Unknown, None),
    }
}

/// `sms.status`: -1 none (no report asked), 0 complete, 32 pending, 64
/// failed; other values are GSM TP-Status codes, named by their range and
/// kept in a note.
pub(crate) fn sms_status(status: Option<i64>, notes: &mut Vec<String>) -> Option<String> {
    let status = status?;
    let name = match status {
        -1 => return None,
        0..=31 => "complete",
        32..=63 => "pending",
        64.. => "failed",
        _ => {
            notes.push(format!("unknown delivery status {status}"));
            return None;
        }
    };
    if !matches!(status, 0 | 32 | 64) {
        notes.push(format!("delivery status code {status}"));
    }
    Some(name.to_owned())
}

/// Undoes how the MMS code stores header strings (subject, addresses): the
/// raw bytes, in charset `charset`, each kept as one ISO-8859-1 character
/// (`PduPersister.toIsoString`). For UTF-8 (106) the characters are turned
/// back into bytes and decoded; text that is not such a string is left as
/// it is. Other non-ASCII charsets are left as stored, with a note.
pub(crate) fn header_text(
    text: String,
    charset: Option<i64>,
    what: &str,
    notes: &mut Vec<String>,
) -> String {
    if text.is_ascii() {
        return text;
    }
    match charset {
        Some(CHARSET_UTF8) => {
            let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
            match bytes.and_then(|b| String::from_utf8(b).ok()) {
                Some(decoded) => decoded,
                None => text,
            }
        }
        // 0 (unset), 3 US-ASCII, 4 ISO-8859-1: the characters are the text.
        None | Some(0 | 3 | 4) => text,
        Some(other) => {
            notes.push(format!("{what} is in charset {other}, shown as stored"));
            text
        }
    }
}

/// Milliseconds since 1970, 0 meaning unknown.
pub(crate) fn time_ms(raw: Option<i64>) -> Option<Timestamp> {
    raw.filter(|&v| v != 0).map(Timestamp::unix_ms)
}

/// Seconds since 1970, 0 meaning unknown.
pub(crate) fn time_s(raw: Option<i64>) -> Option<Timestamp> {
    raw.filter(|&v| v != 0).map(Timestamp::unix_s)
}

/// The time to sort by: received for incoming messages, sent otherwise,
/// each falling back on the other.
pub(crate) fn sort_time(
    direction: Direction,
    sent: &Option<Timestamp>,
    received: &Option<Timestamp>,
) -> Option<Timestamp> {
    match direction {
        Direction::Incoming => received.clone().or_else(|| sent.clone()),
        _ => sent.clone().or_else(|| received.clone()),
    }
}

/// Sender and recipients of a one-party message (an SMS): the address is
/// the sender of an incoming message and the recipient of any other;
/// `recipients` (the conversation's) stand in for a missing address.
pub(crate) fn sms_parties(
    direction: Direction,
    address: Option<String>,
    recipients: Option<&[String]>,
) -> (Option<String>, Vec<String>) {
    let address = address.filter(|a| !a.is_empty());
    match direction {
        Direction::Incoming => (
            address.or_else(|| match recipients {
                Some([one]) => Some(one.clone()),
                _ => None,
            }),
            Vec::new(),
        ),
        _ => match address {
            Some(a) => (None, vec![a]),
            None => (None, recipients.map(<[String]>::to_vec).unwrap_or_default()),
        },
    }
}

/// An SMS's fields, from the database or a backup file.
pub(crate) struct Sms {
    pub(crate) thread: Option<i64>,
    pub(crate) address: Option<String>,
    pub(crate) date: Option<i64>,
    pub(crate) date_sent: Option<i64>,
    pub(crate) kind: Option<i64>,
    pub(crate) read: Option<i64>,
    pub(crate) status: Option<i64>,
    pub(crate) subject: Option<String>,
    pub(crate) body: Option<String>,
}

impl Sms {
    /// The record; `recipients` are the conversation's, for a message
    /// without an address.
    pub(crate) fn into_message(
        self,
        recipients: Option<&[String]>,
        mut notes: Vec<String>,
        provenance: Provenance,
    ) -> Message {
        let (direction, folder) = sms_box(self.kind);
        if folder.is_none() {
            match self.kind {
                Some(kind) => notes.push(format!("unknown message type {kind}")),
                None => notes.push("no message type stored".to_owned()),
            }
        }
        let (from, to) = sms_parties(direction, self.address, recipients);
        let status = sms_status(self.status, &mut notes);
        let received = time_ms(self.date);
        let sent = time_ms(self.date_sent);
        Message {
            service: "sms".to_owned(),
            direction,
            folder: folder.map(str::to_owned),
            thread: self.thread.map(|t| t.to_string()),
            from,
            to,
            subject: self.subject,
            body: self.body,
            time: sort_time(direction, &sent, &received),
            sent,
            received,
            read: self.read.map(|r| r != 0),
            read_at: None,
            delivered_at: None,
            status,
            parts: Vec::new(),
            notes,
            provenance,
        }
    }
}

fn decode_sms(
    session: &Session<'_>,
    db: &Db,
    table: &Table,
    threads: &Threads,
) -> Result<(), PluginError> {
    db.essential_columns(session, table, &["address", "date", "type", "body"]);
    const COLUMNS: &[&str] = &[
        "_id",
        "thread_id",
        "address",
        "date",
        "date_sent",
        "type",
        "read",
        "status",
        "subject",
        "body",
    ];
    let sql = format!(
        "{} ORDER BY {}",
        table.select(COLUMNS),
        table.expr(None, "_id")
    );
    let mut stmt = db.prepare("sms", &sql)?;
    db.each_row(session, "sms", &mut stmt, |row, _| {
        let cells = Cells::new(row, "sms", COLUMNS);
        let mut notes = Vec::new();
        let thread = cells.int("thread_id");
        let sms = Sms {
            thread,
            address: cells.text("address", &mut notes),
            date: cells.int("date"),
            date_sent: cells.int("date_sent"),
            kind: cells.int("type"),
            read: cells.int("read"),
            status: cells.int("status"),
            subject: cells.text("subject", &mut notes),
            body: cells.text("body", &mut notes),
        };
        notes.extend(threads.gone(thread));
        let recipients = thread.and_then(|t| threads.recipients(t));
        let id = cells.int("_id").unwrap_or_default();
        let message = sms.into_message(recipients, notes, Provenance::row("sms", id));
        session.emit(&message)
    })?;
    Ok(())
}

/// One `addr` row.
struct Addr {
    kind: Option<i64>,
    address: Option<String>,
    charset: Option<i64>,
    notes: Vec<String>,
}

const ADDR_COLUMNS: &[&str] = &["msg_id", "type", "address", "charset"];

fn read_addr(row: &Row<'_>) -> (Option<i64>, Addr) {
    let cells = Cells::new(row, "addr", ADDR_COLUMNS);
    let mut notes = Vec::new();
    let addr = Addr {
        kind: cells.int("type"),
        address: cells.text("address", &mut notes),
        charset: cells.int("charset"),
        notes,
    };
    (cells.int("msg_id"), addr)
}

/// One `part` row.
struct PartRow {
    content_type: Option<String>,
    name: Option<String>,
    text: Option<String>,
    data: Option<String>,
    notes: Vec<String>,
}

const PART_COLUMNS: &[&str] = &["mid", "seq", "ct", "name", "fn", "cl", "_data", "text"];

fn read_part(row: &Row<'_>) -> (Option<i64>, PartRow) {
    let cells = Cells::new(row, "part", PART_COLUMNS);
    let mut notes = Vec::new();
    let name = cells.text("name", &mut notes);
    let file_name = cells.text("fn", &mut notes);
    let location = cells.text("cl", &mut notes);
    let part = PartRow {
        content_type: cells.text("ct", &mut notes),
        name: [name, file_name, location]
            .into_iter()
            .flatten()
            .find(|n| !n.is_empty()),
        text: cells.text("text", &mut notes),
        data: cells.text("_data", &mut notes).filter(|d| !d.is_empty()),
        notes,
    };
    (cells.int("mid"), part)
}

/// Opens `child` ordered by its parent key, or `None` (with a warning) when
/// the database lacks it.
fn child_query(
    session: &Session<'_>,
    db: &Db,
    child: &'static str,
    columns: &[&str],
    order: &[&str],
    consequence: &str,
) -> Result<Option<String>, PluginError> {
    let Some(table) = db.required(session, child, consequence)? else {
        return Ok(None);
    };
    let order: Vec<String> = order.iter().map(|c| table.expr(None, c)).collect();
    Ok(Some(format!(
        "{} ORDER BY {}",
        table.select(columns),
        order.join(", ")
    )))
}

fn decode_mms(
    session: &Session<'_>,
    db: &Db,
    pdu: &Table,
    threads: &Threads,
) -> Result<(), PluginError> {
    db.essential_columns(session, pdu, &["date", "msg_box"]);
    const COLUMNS: &[&str] = &[
        "_id",
        "thread_id",
        "date",
        "date_sent",
        "msg_box",
        "read",
        "sub",
        "sub_cs",
        "m_type",
    ];
    let addr_sql = child_query(
        session,
        db,
        "addr",
        ADDR_COLUMNS,
        &["msg_id", "_id"],
        "MMS senders and recipients are not decoded",
    )?;
    let part_sql = child_query(
        session,
        db,
        "part",
        PART_COLUMNS,
        &["mid", "seq", "_id"],
        "MMS bodies and parts are not decoded",
    )?;
    let mut addr_stmt = addr_sql.map(|sql| db.prepare("addr", &sql)).transpose()?;
    let mut part_stmt = part_sql.map(|sql| db.prepare("part", &sql)).transpose()?;
    let mut addr_rows = match addr_stmt.as_mut() {
        Some(stmt) => Some(stmt.query([]).map_err(|e| db.row_error("addr", 0, &e))?),
        None => None,
    };
    let mut part_rows = match part_stmt.as_mut() {
        Some(stmt) => Some(stmt.query([]).map_err(|e| db.row_error("part", 0, &e))?),
        None => None,
    };
    let mut addrs = addr_rows
        .as_mut()
        .map(|rows| Children::new(rows, read_addr));
    let mut parts = part_rows
        .as_mut()
        .map(|rows| Children::new(rows, read_part));

    let sql = format!("{} ORDER BY {}", pdu.select(COLUMNS), pdu.expr(None, "_id"));
    let mut stmt = db.prepare("pdu", &sql)?;
    let input = session.input_path();
    db.each_row(session, "pdu", &mut stmt, |row, done| {
        let cells = Cells::new(row, "pdu", COLUMNS);
        let id = cells.int("_id").unwrap_or_default();
        let (addr_list, more_addrs) = db.children_of(addrs.as_mut(), "addr", id, done)?;
        let (part_list, more_parts) = db.children_of(parts.as_mut(), "part", id, done)?;
        let mut notes = Vec::new();
        if more_addrs > 0 {
            notes.push(format!("{more_addrs} more addresses not listed"));
        }
        if more_parts > 0 {
            notes.push(format!("{more_parts} more parts not listed"));
        }
        let thread = cells.int("thread_id");
        let header = MmsHeader {
            thread,
            date: cells.int("date"),
            date_sent: cells.int("date_sent"),
            msg_box: cells.int("msg_box"),
            read: cells.int("read"),
            subject: cells.text("sub", &mut notes),
            subject_charset: cells.int("sub_cs"),
            m_type: cells.int("m_type"),
        };
        notes.extend(threads.gone(thread));
        let addresses = addr_list
            .into_iter()
            .map(|a| {
                notes.extend(a.notes);
                MmsAddress {
                    kind: a.kind,
                    address: a.address,
                    charset: a.charset,
                }
            })
            .collect();
        let mut body = Vec::new();
        let parts: Vec<Part> = part_list
            .into_iter()
            .map(|p| {
                notes.extend(p.notes);
                let smil = p
                    .content_type
                    .as_deref()
                    .is_some_and(|ct| ct.eq_ignore_ascii_case("application/smil"));
                let plain = p
                    .content_type
                    .as_deref()
                    .is_some_and(|ct| ct.eq_ignore_ascii_case("text/plain"));
                let text = if smil { None } else { p.text };
                if plain && let Some(text) = &text {
                    body.push(text.clone());
                }
                let attachment = p.data.map(|device_path| Attachment {
                    case_path: part_case_path(&input, &device_path),
                    device_path: Some(device_path),
                    sha256: None,
                });
                Part {
                    content_type: p.content_type,
                    name: p.name,
                    text,
                    attachment,
                }
            })
            .collect();
        let body = (!body.is_empty()).then(|| body.join("\n"));
        let recipients = thread.and_then(|t| threads.recipients(t));
        let message = header.into_message(
            addresses,
            body,
            parts,
            recipients,
            notes,
            Provenance::row("pdu", id),
        );
        session.emit(&message)
    })?;
    for (table, children) in [
        ("addr", addrs.as_mut().map(|c| c.drain())),
        ("part", parts.as_mut().map(|c| c.drain())),
    ] {
        let orphans = children
            .transpose()
            .map_err(|e| db.row_error(table, 0, &e))?
            .unwrap_or_default();
        if orphans > 0 {
            session.warn(
                None,
                &format!(
                    "{}: {orphans} `{table}` rows belong to no message in `pdu` (left from deleted MMS)",
                    db.path()
                ),
            );
        }
    }
    Ok(())
}

/// An MMS's header fields, from the database or a backup file.
pub(crate) struct MmsHeader {
    pub(crate) thread: Option<i64>,
    /// Seconds since 1970.
    pub(crate) date: Option<i64>,
    /// Seconds since 1970.
    pub(crate) date_sent: Option<i64>,
    pub(crate) msg_box: Option<i64>,
    pub(crate) read: Option<i64>,
    pub(crate) subject: Option<String>,
    pub(crate) subject_charset: Option<i64>,
    pub(crate) m_type: Option<i64>,
}

/// One address of an MMS.
pub(crate) struct MmsAddress {
    pub(crate) kind: Option<i64>,
    pub(crate) address: Option<String>,
    pub(crate) charset: Option<i64>,
}

impl MmsHeader {
    /// The record, from the header, the addresses, the parts and their text.
    pub(crate) fn into_message(
        self,
        addresses: Vec<MmsAddress>,
        body: Option<String>,
        parts: Vec<Part>,
        recipients: Option<&[String]>,
        mut notes: Vec<String>,
        provenance: Provenance,
    ) -> Message {
        let (direction, folder) = mms_box(self.msg_box);
        if folder.is_none() {
            match self.msg_box {
                Some(b) => notes.push(format!("unknown message box {b}")),
                None => notes.push("no message box stored".to_owned()),
            }
        }
        let mut from = None;
        let mut to = Vec::new();
        for a in addresses {
            let Some(address) = a.address else { continue };
            let address = header_text(address, a.charset, "an address", &mut notes);
            if address == SELF_TOKEN || address.is_empty() {
                continue;
            }
            match a.kind {
                Some(ADDR_FROM) if from.is_none() => from = Some(address),
                Some(ADDR_FROM) => notes.push(format!("another sender: {address}")),
                Some(ADDR_TO) => to.push(address),
                Some(ADDR_CC) => {
                    notes.push(format!("cc: {address}"));
                    to.push(address);
                }
                Some(ADDR_BCC) => {
                    notes.push(format!("bcc: {address}"));
                    to.push(address);
                }
                Some(kind) => notes.push(format!("address of type {kind}: {address}")),
                None => notes.push(format!("address of no type: {address}")),
            }
        }
        match direction {
            Direction::Incoming if from.is_none() => {
                notes.push("the sender is not stored".to_owned());
            }
            Direction::Outgoing | Direction::Draft if to.is_empty() => {
                to = recipients.map(<[String]>::to_vec).unwrap_or_default();
            }
            _ => {}
        }
        let subject = self
            .subject
            .map(|s| header_text(s, self.subject_charset, "the subject", &mut notes));
        if self.m_type == Some(M_TYPE_NOTIFICATION_IND) {
            notes.push(
                "MMS notification only (m_type 130): the content was never downloaded".to_owned(),
            );
        }
        let received = time_s(self.date);
        let sent = time_s(self.date_sent);
        Message {
            service: "mms".to_owned(),
            direction,
            folder: folder.map(str::to_owned),
            thread: self.thread.map(|t| t.to_string()),
            from,
            to,
            subject,
            body,
            time: sort_time(direction, &sent, &received),
            sent,
            received,
            read: self.read.map(|r| r != 0),
            read_at: None,
            delivered_at: None,
            status: None,
            parts,
            notes,
            provenance,
        }
    }
}

/// Where a part file stored at `device_path` would be in the case: the
/// input's path up to the telephony package's folder, then `app_parts/`
/// and the file's name. In an ADB backup the package's other files are in
/// `r/` (`d_r/` for device-protected storage).
pub(crate) fn part_case_path(input: &str, device_path: &str) -> Option<String> {
    let file = device_path
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty() && *f != "." && *f != "..")?;
    let at = input
        .match_indices(TELEPHONY_PACKAGE)
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || input.get(..i).is_some_and(|p| p.ends_with('/')))
        .last()?;
    let end = at.checked_add(TELEPHONY_PACKAGE.len())?;
    let (package, rest) = (input.get(..end)?, input.get(end..)?);
    let folder = match rest.split('/').next() {
        Some("d_db") => "d_r/app_parts/",
        Some("db") => "r/app_parts/",
        _ => "app_parts/",
    };
    Some(format!("files/{package}{folder}{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_paths_sit_beside_the_databases_folder() {
        let data = "/data/user_de/0/com.android.providers.telephony/app_parts/PART_1_image.jpg";
        assert_eq!(
            part_case_path(
                "data/user_de/0/com.android.providers.telephony/databases/mmssms.db",
                data
            )
            .as_deref(),
            Some("files/data/user_de/0/com.android.providers.telephony/app_parts/PART_1_image.jpg")
        );
        assert_eq!(
            part_case_path(
                "fs1/data/data/com.android.providers.telephony/databases/mmssms.db",
                data
            )
            .as_deref(),
            Some("files/fs1/data/data/com.android.providers.telephony/app_parts/PART_1_image.jpg")
        );
        assert_eq!(
            part_case_path("apps/com.android.providers.telephony/d_db/mmssms.db", data).as_deref(),
            Some("files/apps/com.android.providers.telephony/d_r/app_parts/PART_1_image.jpg")
        );
        assert_eq!(
            part_case_path("apps/com.android.providers.telephony/db/mmssms.db", data).as_deref(),
            Some("files/apps/com.android.providers.telephony/r/app_parts/PART_1_image.jpg")
        );
        assert_eq!(
            part_case_path(
                "x/com.android.providers.telephony/databases/mmssms.db",
                "/a/"
            ),
            None
        );
        assert_eq!(
            part_case_path(
                "x/com.android.providers.telephony/databases/mmssms.db",
                ".."
            ),
            None
        );
        assert_eq!(
            part_case_path("x/not.com.android.providers.telephony/db/mmssms.db", "a"),
            None
        );
    }

    #[test]
    fn utf8_header_strings_stored_as_latin1_are_decoded() {
        let mut notes = Vec::new();
        let stored: String = "Caf\u{e9} \u{1f600}".bytes().map(char::from).collect();
        assert_eq!(
            header_text(stored, Some(106), "s", &mut notes),
            "Caf\u{e9} \u{1f600}"
        );
        // Already proper text stays as it is.
        assert_eq!(
            header_text("Caf\u{e9} \u{1f600}".to_owned(), Some(106), "s", &mut notes),
            "Caf\u{e9} \u{1f600}"
        );
        assert_eq!(
            header_text("caf\u{e9}".to_owned(), Some(106), "s", &mut notes),
            "caf\u{e9}"
        );
        assert!(notes.is_empty());
        assert_eq!(
            header_text("\u{e9}".to_owned(), Some(17), "s", &mut notes),
            "\u{e9}"
        );
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn statuses_are_named_by_range() {
        let mut notes = Vec::new();
        assert_eq!(sms_status(Some(-1), &mut notes), None);
        assert_eq!(sms_status(Some(0), &mut notes).as_deref(), Some("complete"));
        assert_eq!(sms_status(Some(32), &mut notes).as_deref(), Some("pending"));
        assert_eq!(sms_status(Some(64), &mut notes).as_deref(), Some("failed"));
        assert!(notes.is_empty());
        assert_eq!(sms_status(Some(70), &mut notes).as_deref(), Some("failed"));
        assert_eq!(notes, ["delivery status code 70"]);
    }
}
