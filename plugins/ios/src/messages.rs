//! Messages of `sms.db`: one [`Message`] per row of `message`, with its
//! conversation from `chat` (through `chat_message_join`), the other
//! parties from `handle` (through `handle_id` and `chat_handle_join`) and
//! its attachments from `attachment` (through `message_attachment_join`).
//!
//! Policy: `is_from_me` gives the direction; the other party of an incoming
//! message is its `handle`, the recipients of an outgoing one are its
//! chat's handles (or its own `handle` when it has no chat). The service is
//! `message.service` lowercased (`SMS` → `sms`, `iMessage` → `imessage`).
//! The text is `text`, else the string archived in `attributedBody`
//! (iOS 16+), with a note. Times above 10^11 count nanoseconds since 2001
//! (iOS 11+), smaller ones seconds; 0 is unknown. `read_at` and
//! `delivered_at` come from `date_read` and `date_delivered`.
//! An attachment stored under the user's home (`~/Library/SMS/Attachments/…`)
//! is proposed beside the input: under `MediaDomain/` for an iTunes backup
//! (the backup keeps attachments there), under the same home for a
//! full-file-system dump; the host keeps the proposal only if that file was
//! extracted.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use exhibit_plugin_sdk::records::{Attachment, Direction, Message, Part, Provenance, Timestamp};
use exhibit_plugin_sdk::{PluginError, Session};
use rusqlite::Row;

use crate::sqlite::{Cells, Children, Db, MAX_CHILDREN, Table};
use crate::typedstream::attributed_text;

/// Above this, a `message.date` counts nanoseconds (iOS 11+), else seconds:
/// 10^11 s is year 5170, 10^11 ns is 100 s after 2001.
const NANOS_ABOVE: i64 = 100_000_000_000;

/// The input's path from the user's home.
const SMS_DB: &str = "Library/SMS/sms.db";
/// An iTunes backup's domain of the user's home files …
const HOME_DOMAIN: &str = "HomeDomain/";
/// … and of their media, where `Library/SMS/Attachments/` is kept.
const MEDIA_DOMAIN: &str = "MediaDomain/";

/// Decodes the messages of one `sms.db`.
pub(crate) fn decode(session: &Session<'_>, db: &Db) -> Result<(), PluginError> {
    let handles = match load_handles(session, db) {
        Ok(handles) => handles,
        Err(e) => {
            db.guard(session, "handle", Err(e))?;
            HashMap::new()
        }
    };
    let chats = match load_chats(session, db, &handles) {
        Ok(chats) => chats,
        Err(e) => {
            db.guard(session, "chat", Err(e))?;
            HashMap::new()
        }
    };
    if let Some(message) = db.required(session, "message", "no messages decoded")? {
        db.guard(
            session,
            "message",
            decode_messages(session, db, &message, &handles, &chats),
        )?;
    }
    Ok(())
}

/// `handle.ROWID` → `handle.id` (a phone number or an e-mail address).
fn load_handles(session: &Session<'_>, db: &Db) -> Result<HashMap<i64, String>, PluginError> {
    let mut handles = HashMap::new();
    let Some(table) = db.required(session, "handle", "senders and recipients are not resolved")?
    else {
        return Ok(handles);
    };
    const COLUMNS: &[&str] = &["ROWID", "id"];
    let mut stmt = db.prepare("handle", &table.select(COLUMNS))?;
    db.each_row(session, "handle", &mut stmt, |row, _| {
        let cells = Cells::new(row, "handle", COLUMNS);
        if let (Some(id), Some(address)) = (cells.int("ROWID"), cells.text("id", &mut Vec::new()))
            && !address.is_empty()
        {
            handles.insert(id, address);
        }
        Ok(())
    })?;
    Ok(handles)
}

/// A conversation.
struct Chat {
    /// `chat.guid` (`iMessage;-;+15551234567`), else the row id.
    thread: String,
    /// Its other parties, in `handle_id` order.
    handles: Vec<String>,
}

fn load_chats(
    session: &Session<'_>,
    db: &Db,
    handles: &HashMap<i64, String>,
) -> Result<HashMap<i64, Chat>, PluginError> {
    let mut chats = HashMap::new();
    let Some(table) = db.required(session, "chat", "messages have no conversation")? else {
        return Ok(chats);
    };
    const COLUMNS: &[&str] = &["ROWID", "guid"];
    let mut stmt = db.prepare("chat", &table.select(COLUMNS))?;
    db.each_row(session, "chat", &mut stmt, |row, _| {
        let cells = Cells::new(row, "chat", COLUMNS);
        if let Some(id) = cells.int("ROWID") {
            let thread = cells
                .text("guid", &mut Vec::new())
                .filter(|g| !g.is_empty())
                .unwrap_or_else(|| id.to_string());
            chats.insert(
                id,
                Chat {
                    thread,
                    handles: Vec::new(),
                },
            );
        }
        Ok(())
    })?;
    let Some(join) = db.required(
        session,
        "chat_handle_join",
        "recipients of outgoing messages come only from their own handle",
    )?
    else {
        return Ok(chats);
    };
    const JOIN: &[&str] = &["chat_id", "handle_id"];
    let sql = format!(
        "{} ORDER BY {}, {}",
        join.select(JOIN),
        join.expr(None, "chat_id"),
        join.expr(None, "handle_id")
    );
    let mut stmt = db.prepare("chat_handle_join", &sql)?;
    let mut orphans = 0u64;
    db.each_row(session, "chat_handle_join", &mut stmt, |row, _| {
        let cells = Cells::new(row, "chat_handle_join", JOIN);
        let chat = cells.int("chat_id").and_then(|c| chats.get_mut(&c));
        let handle = cells.int("handle_id").and_then(|h| handles.get(&h));
        match (chat, handle) {
            (Some(chat), Some(handle)) if chat.handles.len() < MAX_CHILDREN => {
                chat.handles.push(handle.clone());
            }
            (Some(_), Some(_)) => {}
            _ => orphans = orphans.saturating_add(1),
        }
        Ok(())
    })?;
    if orphans > 0 {
        session.warn(
            None,
            &format!(
                "{}: {orphans} `chat_handle_join` rows name a chat or handle that does not exist",
                db.path()
            ),
        );
    }
    Ok(chats)
}

/// One attachment of a message.
struct AttachmentRow {
    filename: Option<String>,
    mime_type: Option<String>,
    transfer_name: Option<String>,
    /// The joined `attachment` row is missing.
    missing: Option<i64>,
    notes: Vec<String>,
}

const ATTACHMENT_COLUMNS: &[&str] = &[
    "message_id",
    "attachment_id",
    "found",
    "filename",
    "mime_type",
    "transfer_name",
];

fn read_attachment(row: &Row<'_>) -> (Option<i64>, AttachmentRow) {
    let cells = Cells::new(row, "attachment", ATTACHMENT_COLUMNS);
    let mut notes = Vec::new();
    let found = cells.int("found").is_some();
    let attachment = AttachmentRow {
        filename: cells.text("filename", &mut notes).filter(|f| !f.is_empty()),
        mime_type: cells
            .text("mime_type", &mut notes)
            .filter(|m| !m.is_empty()),
        transfer_name: cells
            .text("transfer_name", &mut notes)
            .filter(|n| !n.is_empty()),
        missing: if found {
            None
        } else {
            Some(cells.int("attachment_id").unwrap_or_default())
        },
        notes,
    };
    (cells.int("message_id"), attachment)
}

/// `message_attachment_join` with its `attachment` rows, in message order.
fn attachment_query(session: &Session<'_>, db: &Db) -> Result<Option<String>, PluginError> {
    let Some(join) = db.required(
        session,
        "message_attachment_join",
        "attachments are not decoded",
    )?
    else {
        return Ok(None);
    };
    let Some(attachment) = db.required(session, "attachment", "attachments are not decoded")?
    else {
        return Ok(None);
    };
    let columns = [
        join.expr(Some("j"), "message_id"),
        join.expr(Some("j"), "attachment_id"),
        "a.rowid".to_owned(),
        attachment.expr(Some("a"), "filename"),
        attachment.expr(Some("a"), "mime_type"),
        attachment.expr(Some("a"), "transfer_name"),
    ];
    Ok(Some(format!(
        "SELECT {} FROM message_attachment_join j LEFT JOIN attachment a ON a.rowid = {} \
         ORDER BY {}, {}",
        columns.join(", "),
        join.expr(Some("j"), "attachment_id"),
        join.expr(Some("j"), "message_id"),
        join.expr(Some("j"), "attachment_id"),
    )))
}

const CHAT_JOIN_COLUMNS: &[&str] = &["message_id", "chat_id"];

fn read_chat_join(row: &Row<'_>) -> (Option<i64>, Option<i64>) {
    let cells = Cells::new(row, "chat_message_join", CHAT_JOIN_COLUMNS);
    (cells.int("message_id"), cells.int("chat_id"))
}

fn chat_join_query(session: &Session<'_>, db: &Db) -> Result<Option<String>, PluginError> {
    let Some(join) = db.required(
        session,
        "chat_message_join",
        "messages have no conversation",
    )?
    else {
        return Ok(None);
    };
    Ok(Some(format!(
        "{} ORDER BY {}, {}",
        join.select(CHAT_JOIN_COLUMNS),
        join.expr(None, "message_id"),
        join.expr(None, "chat_id"),
    )))
}

fn decode_messages(
    session: &Session<'_>,
    db: &Db,
    table: &Table,
    handles: &HashMap<i64, String>,
    chats: &HashMap<i64, Chat>,
) -> Result<(), PluginError> {
    db.essential_columns(session, table, &["date", "is_from_me"]);
    const COLUMNS: &[&str] = &[
        "ROWID",
        "text",
        "attributedBody",
        "handle_id",
        "service",
        "subject",
        "is_from_me",
        "date",
        "date_read",
        "date_delivered",
        "is_read",
        "is_delivered",
        "error",
        "item_type",
    ];
    let join_sql = chat_join_query(session, db)?;
    let attachment_sql = attachment_query(session, db)?;
    let mut join_stmt = join_sql
        .map(|sql| db.prepare("chat_message_join", &sql))
        .transpose()?;
    let mut attachment_stmt = attachment_sql
        .map(|sql| db.prepare("message_attachment_join", &sql))
        .transpose()?;
    let mut join_rows = match join_stmt.as_mut() {
        Some(stmt) => Some(
            stmt.query([])
                .map_err(|e| db.row_error("chat_message_join", 0, &e))?,
        ),
        None => None,
    };
    let mut attachment_rows = match attachment_stmt.as_mut() {
        Some(stmt) => Some(
            stmt.query([])
                .map_err(|e| db.row_error("message_attachment_join", 0, &e))?,
        ),
        None => None,
    };
    let mut joins = join_rows
        .as_mut()
        .map(|rows| Children::new(rows, read_chat_join));
    let mut attachments = attachment_rows
        .as_mut()
        .map(|rows| Children::new(rows, read_attachment));

    let sql = format!(
        "{} ORDER BY {}",
        table.select(COLUMNS),
        table.expr(None, "ROWID")
    );
    let mut stmt = db.prepare("message", &sql)?;
    let input = session.input_path();
    db.each_row(session, "message", &mut stmt, |row, done| {
        let cells = Cells::new(row, "message", COLUMNS);
        let id = cells.int("ROWID").unwrap_or_default();
        let mut notes = Vec::new();
        let (chat_ids, _) = db.children_of(joins.as_mut(), "chat_message_join", id, done)?;
        let (attachment_list, more) =
            db.children_of(attachments.as_mut(), "message_attachment_join", id, done)?;
        if more > 0 {
            notes.push(format!("{more} more attachments not listed"));
        }
        let mut chat_ids = chat_ids.into_iter().flatten();
        let chat_id = chat_ids.next();
        for other in chat_ids {
            notes.push(format!("also in chat {other}"));
        }
        let chat = chat_id.and_then(|c| chats.get(&c));
        if chat_id.is_some() && chat.is_none() && !chats.is_empty() {
            notes.push(format!(
                "chat {} has no row in `chat`: the conversation was deleted",
                chat_id.unwrap_or_default()
            ));
        }
        let thread = chat
            .map(|c| c.thread.clone())
            .or_else(|| chat_id.map(|c| c.to_string()));

        let direction = match cells.int("is_from_me") {
            Some(0) => Direction::Incoming,
            Some(_) => Direction::Outgoing,
            None => Direction::Unknown,
        };
        let handle = cells
            .int("handle_id")
            .filter(|&h| h != 0)
            .and_then(|h| handles.get(&h))
            .cloned();
        let chat_handles = chat.map(|c| c.handles.as_slice()).unwrap_or_default();
        let (from, to) = match direction {
            Direction::Incoming => (
                handle.or_else(|| match chat_handles {
                    [one] => Some(one.clone()),
                    _ => None,
                }),
                Vec::new(),
            ),
            _ if !chat_handles.is_empty() => (None, chat_handles.to_vec()),
            _ => (None, handle.into_iter().collect()),
        };

        let service = match cells.text("service", &mut notes).filter(|s| !s.is_empty()) {
            Some(s) => s.to_lowercase(),
            None => {
                notes.push("no service stored".to_owned());
                "unknown".to_owned()
            }
        };
        let body = body(&cells, &mut notes);
        let date = cocoa_time(cells.int("date"));
        let (sent, received) = match direction {
            Direction::Incoming => (None, date.clone()),
            _ => (date.clone(), None),
        };
        let read_at = cocoa_time(cells.int("date_read"));
        let delivered_at = cocoa_time(cells.int("date_delivered"));
        let status = status(
            direction,
            cells.int("is_delivered"),
            cells.int("error"),
            &mut notes,
        );
        if let Some(kind) = cells.int("item_type").filter(|&k| k != 0) {
            notes.push(format!(
                "item_type {kind}: a conversation event (member or name change), not a text"
            ));
        }
        let parts = attachment_list
            .into_iter()
            .map(|a| {
                notes.extend(a.notes);
                if let Some(missing) = a.missing {
                    notes.push(format!("attachment {missing} has no row in `attachment`"));
                }
                Part {
                    content_type: a.mime_type,
                    name: a.transfer_name,
                    text: None,
                    attachment: a.filename.map(|device_path| Attachment {
                        case_path: attachment_case_path(&input, &device_path),
                        device_path: Some(device_path),
                        sha256: None,
                    }),
                }
            })
            .collect();
        let message = Message {
            service,
            direction,
            folder: None,
            thread,
            from,
            to,
            subject: cells.text("subject", &mut notes).filter(|s| !s.is_empty()),
            body,
            time: date,
            sent,
            received,
            read: cells.int("is_read").map(|r| r != 0),
            read_at,
            delivered_at,
            status,
            parts,
            notes,
            provenance: Provenance::row("message", id),
        };
        session.emit(&message)
    })?;
    for (table, children) in [
        (
            "chat_message_join",
            joins.as_mut().map(|c| c.drain()).transpose(),
        ),
        (
            "message_attachment_join",
            attachments.as_mut().map(|c| c.drain()).transpose(),
        ),
    ] {
        let orphans = children
            .map_err(|e| db.row_error(table, 0, &e))?
            .unwrap_or_default();
        if orphans > 0 {
            session.warn(
                None,
                &format!(
                    "{}: {orphans} `{table}` rows belong to no row of `message` (left from deleted messages)",
                    db.path()
                ),
            );
        }
    }
    Ok(())
}

/// `text`, else the string of `attributedBody`.
fn body(cells: &Cells<'_, '_>, notes: &mut Vec<String>) -> Option<String> {
    if let Some(text) = cells.text("text", notes) {
        return Some(text);
    }
    let blob = cells.bytes("attributedBody")?;
    match attributed_text(&blob) {
        Ok(decoded) => {
            notes.push("text decoded from `message.attributedBody`".to_owned());
            if decoded.lossy {
                notes.push(
                    "the text of `message.attributedBody` is not valid UTF-8; invalid bytes \
                     replaced with U+FFFD"
                        .to_owned(),
                );
            }
            Some(decoded.text)
        }
        Err(why) => {
            notes.push(format!(
                "`message.attributedBody` ({} bytes) could not be decoded: {why}",
                blob.len()
            ));
            None
        }
    }
}

/// A `message` time: nanoseconds since 2001 when large, else seconds; 0
/// is unknown.
pub(crate) fn cocoa_time(raw: Option<i64>) -> Option<Timestamp> {
    let raw = raw.filter(|&v| v != 0)?;
    Some(if raw.checked_abs().is_none_or(|a| a > NANOS_ABOVE) {
        Timestamp::cocoa_ns(raw)
    } else {
        Timestamp::cocoa_s(raw)
    })
}

/// Delivery status, as Android's decoder gives it for sent messages only:
/// `failed` with the error code when `error` is set, else for an outgoing
/// message `complete` once delivered and `pending` before.
fn status(
    direction: Direction,
    delivered: Option<i64>,
    error: Option<i64>,
    notes: &mut Vec<String>,
) -> Option<String> {
    if let Some(code) = error.filter(|&e| e != 0) {
        notes.push(format!("error code {code}"));
        return Some("failed".to_owned());
    }
    match (direction, delivered) {
        (Direction::Outgoing, Some(0)) => Some("pending".to_owned()),
        (Direction::Outgoing, Some(_)) => Some("complete".to_owned()),
        _ => None,
    }
}

/// Where an attachment stored at `device_path` would be in the case. The
/// handset names it from the user's home (`~/Library/SMS/Attachments/…`,
/// or `/var/mobile/…`); the input's own path, minus `Library/SMS/sms.db`,
/// is that home in the dump. An iTunes backup keeps `Library/SMS/` files
/// of the home under `MediaDomain/` rather than `HomeDomain/`.
pub(crate) fn attachment_case_path(input: &str, device_path: &str) -> Option<String> {
    let rel = ["~/", "/private/var/mobile/", "/var/mobile/"]
        .iter()
        .find_map(|p| device_path.strip_prefix(p))?;
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    let home = input.strip_suffix(SMS_DB)?;
    if !(home.is_empty() || home.ends_with('/')) {
        return None;
    }
    let domain_root = home
        .strip_suffix(HOME_DOMAIN)
        .filter(|r| r.is_empty() || r.ends_with('/'));
    match domain_root {
        Some(root) if rel.starts_with("Library/SMS/") => {
            Some(format!("files/{root}{MEDIA_DOMAIN}{rel}"))
        }
        _ => Some(format!("files/{home}{rel}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_paths_follow_the_layout() {
        let att = "~/Library/SMS/Attachments/ab/11/X/IMG_0001.HEIC";
        assert_eq!(
            attachment_case_path("backup/HomeDomain/Library/SMS/sms.db", att).as_deref(),
            Some("files/backup/MediaDomain/Library/SMS/Attachments/ab/11/X/IMG_0001.HEIC")
        );
        assert_eq!(
            attachment_case_path("HomeDomain/Library/SMS/sms.db", att).as_deref(),
            Some("files/MediaDomain/Library/SMS/Attachments/ab/11/X/IMG_0001.HEIC")
        );
        assert_eq!(
            attachment_case_path("filesystem1/private/var/mobile/Library/SMS/sms.db", att)
                .as_deref(),
            Some(
                "files/filesystem1/private/var/mobile/Library/SMS/Attachments/ab/11/X/IMG_0001.HEIC"
            )
        );
        assert_eq!(
            attachment_case_path(
                "private/var/mobile/Library/SMS/sms.db",
                "/var/mobile/Library/SMS/Attachments/a.jpg"
            )
            .as_deref(),
            Some("files/private/var/mobile/Library/SMS/Attachments/a.jpg")
        );
        assert_eq!(
            attachment_case_path("x/Library/SMS/sms.db", "~/Library/../../etc/passwd"),
            None
        );
        assert_eq!(
            attachment_case_path("x/Library/SMS/sms.db", "/etc/passwd"),
            None
        );
        assert_eq!(attachment_case_path("xLibrary/SMS/sms.db", att), None);
    }

    #[test]
    fn times_pick_their_unit_by_size() {
        assert_eq!(cocoa_time(Some(0)), None);
        assert_eq!(cocoa_time(Some(470_573_320)).unwrap().format, "cocoa_s");
        assert_eq!(
            cocoa_time(Some(470_573_320)).unwrap().utc.as_deref(),
            Some("2015-11-30T10:48:40.000Z")
        );
        let ns = cocoa_time(Some(730_000_000_123_456_789)).unwrap();
        assert_eq!(ns.format, "cocoa_ns");
        assert_eq!(ns.raw, 730_000_000_123_456_789);
    }
}
