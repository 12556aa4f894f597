//! The telephony provider's own backup files, `NNNNNN_sms_backup` and
//! `NNNNNN_mms_backup` (an ADB backup's `apps/com.android.providers.telephony/d_f/`):
//! each is a zlib stream (`DeflaterOutputStream`) of one JSON array, one
//! object per message, as `TelephonyBackupAgent` writes it (Android 6+).
//!
//! Keys, from `TelephonyBackupAgent.writeSmsToWriter`/`writeMmsToWriter`:
//! SMS `address`, `body`, `subject`, `date` and `date_sent` (ms), `type`,
//! `read`, `status`, `recipients` (the conversation's addresses),
//! `archived`, `self_phone`; MMS `date`/`date_sent` (seconds), `msg_box`,
//! `m_type`, `v`, `ct_l`, `tr_id`, `read`, `sub`, `sub_cs`,
//! `mms_addresses` (`[{type, address, charset}]`), `mms_body`,
//! `mms_charset`, `recipients`, `archived`, `self_phone`, and on restore
//! `attachments` (`[{mime_type, filename}]`) and `smil`. Numbers are written
//! as strings (`cursor.getString`) except inside `mms_addresses`; both are
//! accepted.
//!
//! Policy: the array is read element by element through a serde `Visitor`,
//! so memory holds one message at a time whatever the file's size. Records
//! carry their position in the array (`provenance.index`). A damaged stream
//! (bad zlib data, broken JSON) ends the file `Corrupt`, saying after how many
//! messages and where; the messages before it are kept. An element that is
//! not an object is skipped with a warning. Backups hold no thread ids, so
//! `thread` is `null`; the conversation's recipients and the handset's own
//! number, when written, go to the notes.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use exhibit_plugin_sdk::records::{Message, Part, Provenance};
use exhibit_plugin_sdk::{PluginError, Session};
use flate2::read::ZlibDecoder;
use serde::Deserializer as _;
use serde::de::{self, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::sqlite::CANCEL_EVERY;
use crate::telephony::{MmsAddress, MmsHeader, Sms};

/// Which of the two backup files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupKind {
    /// `*_sms_backup`.
    Sms,
    /// `*_mms_backup`.
    Mms,
}

const SMS_KEYS: &[&str] = &[
    "address",
    "body",
    "subject",
    "date",
    "date_sent",
    "type",
    "read",
    "status",
    "recipients",
    "archived",
    "self_phone",
];

const MMS_KEYS: &[&str] = &[
    "date",
    "date_sent",
    "msg_box",
    "m_type",
    "v",
    "ct_l",
    "tr_id",
    "read",
    "sub",
    "sub_cs",
    "mms_addresses",
    "mms_body",
    "mms_charset",
    "recipients",
    "archived",
    "self_phone",
    "attachments",
    "smil",
];

/// Decodes one backup file of kind `kind`.
pub(crate) fn decode(session: &Session<'_>, kind: BackupKind) -> Result<(), PluginError> {
    let path = session.input_path();
    let consumed = Rc::new(Cell::new(0u64));
    let inflater = Inflater {
        inner: ZlibDecoder::new(BufReader::new(session.evidence_reader())),
        consumed: Rc::clone(&consumed),
    };
    let mut json = serde_json::Deserializer::from_reader(BufReader::new(inflater));
    let mut state = State {
        session,
        kind,
        done: 0,
        stopped: None,
    };
    let outcome = json.deserialize_seq(Elements { state: &mut state });
    let outcome = outcome.and_then(|()| json.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => {
            if let Some(stop) = state.stopped.take() {
                return Err(stop);
            }
            if e.is_io() {
                let io: io::Error = e.into();
                if io.get_ref().is_some_and(|inner| inner.is::<PluginError>()) {
                    // The host failed a read, refused a call or asked to stop.
                    return Err(PluginError::from(io));
                }
                // The inflater: bad zlib data or a stream cut short.
                return Err(corrupt(&path, state.done, consumed.get(), &io.to_string()));
            }
            // serde_json's message ends with the line and column in the inflated JSON.
            let what = format!("inflated JSON: {e}");
            Err(corrupt(&path, state.done, consumed.get(), &what))
        }
    }
}

fn corrupt(path: &str, done: u64, consumed: u64, what: &str) -> PluginError {
    PluginError::Corrupt {
        offset: Some(consumed),
        what: format!(
            "{path}: damaged backup stream after {done} messages, \
             {consumed} compressed bytes in: {what}"
        ),
    }
}

/// The zlib decoder, publishing how many compressed bytes it has consumed.
struct Inflater<R: Read> {
    inner: ZlibDecoder<R>,
    consumed: Rc<Cell<u64>>,
}

impl<R: Read> Read for Inflater<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.inner.read(buf);
        self.consumed.set(self.inner.total_in());
        result
    }
}

struct State<'a, 's> {
    session: &'a Session<'s>,
    kind: BackupKind,
    /// Elements read so far.
    done: u64,
    /// Why the visitor stopped early (host refusal, cancellation).
    stopped: Option<PluginError>,
}

struct Elements<'b, 'a, 's> {
    state: &'b mut State<'a, 's>,
}

impl<'de> Visitor<'de> for Elements<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        while let Some(value) = seq.next_element::<Value>()? {
            let index = state.done;
            let result = match value {
                Value::Object(map) => {
                    let message = match state.kind {
                        BackupKind::Sms => sms_message(map, index),
                        BackupKind::Mms => mms_message(map, index),
                    };
                    state.session.emit(&message)
                }
                other => {
                    state.session.warn(
                        None,
                        &format!(
                            "{}: element {index} is {}, not a message object: skipped",
                            state.session.input_path(),
                            kind_of(&other)
                        ),
                    );
                    Ok(())
                }
            };
            state.done = state.done.saturating_add(1);
            let result = result.and_then(|()| {
                if state.done.is_multiple_of(CANCEL_EVERY) {
                    state.session.check_cancelled()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = result {
                state.stopped = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A number written as a JSON number or as a decimal string.
fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A string (numbers and booleans spelled out).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `recipients`: the conversation's addresses.
fn recipients(map: &Map<String, Value>) -> Option<Vec<String>> {
    match map.get("recipients")? {
        Value::Array(list) => Some(list.iter().filter_map(|v| text(Some(v))).collect()),
        _ => None,
    }
}

/// Notes for the keys both kinds share and for keys this decoder does not know.
fn common_notes(map: &Map<String, Value>, known: &[&str], notes: &mut Vec<String>) {
    if let Some(phone) = text(map.get("self_phone")) {
        notes.push(format!("handset number (self_phone): {phone}"));
    }
    if map
        .get("archived")
        .is_some_and(|a| int(Some(a)).unwrap_or(0) != 0)
    {
        notes.push("conversation archived".to_owned());
    }
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if !unknown.is_empty() {
        notes.push(format!("unrecognised keys: {}", unknown.join(", ")));
    }
}

fn sms_message(map: Map<String, Value>, index: u64) -> Message {
    let mut notes = Vec::new();
    let address = text(map.get("address"));
    let recipients = recipients(&map);
    if let Some(list) = &recipients
        && !list.is_empty()
        && (list.len() != 1 || list.first() != address.as_ref())
    {
        notes.push(format!("conversation with: {}", list.join(", ")));
    }
    common_notes(&map, SMS_KEYS, &mut notes);
    let sms = Sms {
        thread: None,
        address,
        date: int(map.get("date")),
        date_sent: int(map.get("date_sent")),
        kind: int(map.get("type")),
        read: int(map.get("read")),
        status: int(map.get("status")),
        subject: text(map.get("subject")),
        body: text(map.get("body")),
    };
    sms.into_message(recipients.as_deref(), notes, Provenance::index(index))
}

fn mms_message(map: Map<String, Value>, index: u64) -> Message {
    let mut notes = Vec::new();
    common_notes(&map, MMS_KEYS, &mut notes);
    let addresses = match map.get("mms_addresses") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|a| match a {
                Value::Object(a) => Some(MmsAddress {
                    kind: int(a.get("type")),
                    address: text(a.get("address")),
                    charset: int(a.get("charset")),
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let body = text(map.get("mms_body"));
    let mut parts = Vec::new();
    if map.contains_key("smil") {
        parts.push(Part {
            content_type: Some("application/smil".to_owned()),
            name: None,
            text: None,
            attachment: None,
        });
    }
    if let Some(body) = &body {
        parts.push(Part {
            content_type: Some("text/plain".to_owned()),
            name: None,
            text: Some(body.clone()),
            attachment: None,
        });
    }
    if let Some(Value::Array(list)) = map.get("attachments") {
        for a in list {
            if let Value::Object(a) = a {
                parts.push(Part {
                    content_type: text(a.get("mime_type")),
                    name: text(a.get("filename")),
                    text: None,
                    attachment: None,
                });
            }
        }
    }
    let header = MmsHeader {
        thread: None,
        date: int(map.get("date")),
        date_sent: int(map.get("date_sent")),
        msg_box: int(map.get("msg_box")),
        read: int(map.get("read")),
        subject: text(map.get("sub")),
        subject_charset: int(map.get("sub_cs")),
        m_type: int(map.get("m_type")),
    };
    let recipients = recipients(&map);
    header.into_message(
        addresses,
        body,
        parts,
        recipients.as_deref(),
        notes,
        Provenance::index(index),
    )
}
