//! The record schema every artifact decoder shares: one struct per record
//! kind ([`Message`], [`Contact`], [`Call`]), written by the host one JSON
//! object a line to `case/artifacts/<kind>.jsonl`. Android and iOS decoders
//! build the same structs, so a record reads the same whatever phone it came
//! from, and a consumer can rely on every key being present (`null` when the
//! source does not say).
//!
//! Times are [`Timestamp`]s: UTC ISO 8601 with milliseconds, plus the raw
//! value and its encoding, so an examiner can re-check the conversion.
//! [`Provenance`] ties each record to the extracted file, its SHA-256 and the
//! table and row it was read from; the host fills in the file, hash and
//! decoder itself, so a decoder cannot misattribute a record.

use serde::{Deserialize, Serialize};

/// A record kind: the struct's `KIND` names its file under `case/artifacts/`.
pub trait Record: Serialize {
    /// `messages`, `contacts` or `calls`.
    const KIND: &'static str;
}

/// A point in time as the source stored it, and in UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (always milliseconds, so the strings sort
    /// as the times do); `null` when the raw value is out of range.
    pub utc: Option<String>,
    /// The value exactly as stored.
    pub raw: i64,
    /// How `raw` counts: `unix_ms`, `unix_s`, `cocoa_s` (seconds since
    /// 2001-01-01 UTC) or `cocoa_ns`.
    pub format: String,
}

/// Seconds from 1970-01-01 to 2001-01-01 (Apple's "Cocoa" epoch).
const COCOA_EPOCH_UNIX_S: i64 = 978_307_200;

impl Timestamp {
    /// Milliseconds since 1970-01-01 UTC (Android providers).
    pub fn unix_ms(raw: i64) -> Timestamp {
        Timestamp::new(raw, "unix_ms", i128::from(raw) * 1_000_000)
    }

    /// Seconds since 1970-01-01 UTC (MMS `pdu.date`).
    pub fn unix_s(raw: i64) -> Timestamp {
        Timestamp::new(raw, "unix_s", i128::from(raw) * 1_000_000_000)
    }

    /// Seconds since 2001-01-01 UTC (older iOS databases).
    pub fn cocoa_s(raw: i64) -> Timestamp {
        let unix = i128::from(raw) + i128::from(COCOA_EPOCH_UNIX_S);
        Timestamp::new(raw, "cocoa_s", unix * 1_000_000_000)
    }

    /// Nanoseconds since 2001-01-01 UTC (iOS 11+ `sms.db`).
    pub fn cocoa_ns(raw: i64) -> Timestamp {
        let unix_ns = i128::from(raw) + i128::from(COCOA_EPOCH_UNIX_S) * 1_000_000_000;
        Timestamp::new(raw, "cocoa_ns", unix_ns)
    }

    /// The UTC instant, as nanoseconds since 1970 (for sorting).
    pub fn unix_nanos(&self) -> Option<i128> {
        let utc = self.utc.as_deref()?;
        utc.parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_nanosecond())
    }

    fn new(raw: i64, format: &str, unix_ns: i128) -> Timestamp {
        let utc = jiff::Timestamp::from_nanosecond(unix_ns)
            .ok()
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        Timestamp {
            utc,
            raw,
            format: format.to_owned(),
        }
    }
}

/// Where a record came from. Decoders set `table` and `row` (or `index`);
/// the host sets the rest when it writes the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The source file's path in the case (`files/…`). Set by the host.
    pub file: String,
    /// The source file's SHA-256 as recorded in the custody log. Set by the host.
    pub sha256: String,
    /// The decoder's name and version (`android 0.1.0`). Set by the host.
    pub decoder: String,
    /// The database table the record was read from.
    pub table: Option<String>,
    /// The row's id in that table (`_id`, `ROWID`).
    pub row: Option<i64>,
    /// The record's position in a source that has no rows (a JSON array), from 0.
    pub index: Option<u64>,
}

impl Provenance {
    /// Row `row` of table `table`.
    pub fn row(table: &str, row: i64) -> Provenance {
        Provenance {
            table: Some(table.to_owned()),
            row: Some(row),
            ..Provenance::default()
        }
    }

    /// Element `index` of a list.
    pub fn index(index: u64) -> Provenance {
        Provenance {
            index: Some(index),
            ..Provenance::default()
        }
    }
}

/// Which way a message or call went, from the handset's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received by the handset.
    Incoming,
    /// Sent (or being sent) from the handset.
    Outgoing,
    /// Written on the handset, never sent.
    Draft,
    /// The source does not say.
    Unknown,
}

/// A message: SMS, MMS, iMessage, or an app's chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `sms`, `mms`, `imessage`, or the app (`whatsapp`).
    pub service: String,
    /// Incoming, outgoing, draft or unknown.
    pub direction: Direction,
    /// The source's own folder or state when it has one (`inbox`, `sent`,
    /// `outbox`, `failed`, `queued`, `draft`).
    pub folder: Option<String>,
    /// The conversation: thread or chat id in the source.
    pub thread: Option<String>,
    /// The sender's address; `null` when it is the handset itself.
    pub from: Option<String>,
    /// The recipients' addresses; empty when it is only the handset itself.
    pub to: Vec<String>,
    /// Subject line (MMS, e-mail-like messages).
    pub subject: Option<String>,
    /// The text. For an MMS: its text parts joined with a newline.
    pub body: Option<String>,
    /// The time to sort by: received for incoming messages, sent otherwise.
    pub time: Option<Timestamp>,
    /// When the sender sent it, if stored.
    pub sent: Option<Timestamp>,
    /// When the handset received or stored it, if stored.
    pub received: Option<Timestamp>,
    /// Whether it was read on the handset.
    pub read: Option<bool>,
    /// When it was read, if the source stores it (iOS `date_read`).
    pub read_at: Option<Timestamp>,
    /// When it was delivered to the other party, if the source stores it
    /// (iOS `date_delivered`).
    pub delivered_at: Option<Timestamp>,
    /// Delivery status as the source names it (`complete`, `pending`, `failed`).
    pub status: Option<String>,
    /// MMS and chat parts, in order; empty for plain text messages.
    pub parts: Vec<Part>,
    /// Things the examiner should know about this record (a deleted thread, a
    /// field that could not be decoded).
    pub notes: Vec<String>,
    /// Where it was read.
    pub provenance: Provenance,
}

impl Record for Message {
    const KIND: &'static str = "messages";
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// MIME type (`text/plain`, `image/jpeg`, `application/smil`).
    pub content_type: Option<String>,
    /// The part's name or file name.
    pub name: Option<String>,
    /// The text of a text part, inline.
    pub text: Option<String>,
    /// The file holding a non-text part.
    pub attachment: Option<Attachment>,
}

/// A reference from a record to a file of the dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The path the handset stored (`/data/user_de/0/…/app_parts/PART_…`).
    pub device_path: Option<String>,
    /// Where that file is in the case (`files/…`), when it was extracted.
    /// The decoder proposes it; the host keeps it only if the file exists.
    pub case_path: Option<String>,
    /// That file's SHA-256 from the custody log. Set by the host.
    pub sha256: Option<String>,
}

/// A contact of an address book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The name as the address book displays it.
    pub name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Phone numbers, in source order.
    pub phones: Vec<Labelled>,
    /// E-mail addresses, in source order.
    pub emails: Vec<Labelled>,
    /// Company or organisation.
    pub organization: Option<String>,
    /// The account the contact is synced with (`com.google`, `you@gmail.com`).
    pub account: Option<Account>,
    /// Whether the source marks it deleted (kept until the next sync).
    pub deleted: bool,
    /// Things the examiner should know about this record.
    pub notes: Vec<String>,
    /// Where it was read.
    pub provenance: Provenance,
}

impl Record for Contact {
    const KIND: &'static str = "contacts";
}

/// A phone number or address with its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labelled {
    /// The number or address as stored.
    pub value: String,
    /// `mobile`, `home`, `work`, `other`, or the user's own label.
    pub label: Option<String>,
}

/// A sync account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Account type (`com.google`).
    pub kind: Option<String>,
    /// Account name (`you@gmail.com`).
    pub name: Option<String>,
}

/// What happened to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    /// Answered incoming call.
    Incoming,
    /// Placed by the handset.
    Outgoing,
    /// Incoming, not answered.
    Missed,
    /// Went to voicemail.
    Voicemail,
    /// Incoming, declined by the user.
    Rejected,
    /// Incoming, blocked by the handset.
    Blocked,
    /// Answered on another device of the same account.
    AnsweredExternally,
    /// The source's type is not one of these.
    Unknown,
}

/// A call-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The other party's number as stored.
    pub number: Option<String>,
    /// The name the handset showed (cached from the contacts).
    pub name: Option<String>,
    /// Incoming, outgoing, missed…
    #[serde(rename = "type")]
    pub call_type: CallType,
    /// The source's own type code, kept for re-checking.
    pub type_raw: Option<i64>,
    /// When the call started.
    pub time: Option<Timestamp>,
    /// Duration in seconds.
    pub duration_s: Option<i64>,
    /// `phone`, `video`, `facetime_audio`, or the app.
    pub service: Option<String>,
    /// Things the examiner should know about this record.
    pub notes: Vec<String>,
    /// Where it was read.
    pub provenance: Provenance,
}

impl Record for Call {
    const KIND: &'static str = "calls";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_each_epoch_to_the_same_instant() {
        let want = Some("2024-03-01T08:00:00.000Z".to_owned());
        assert_eq!(Timestamp::unix_ms(1_709_280_000_000).utc, want);
        assert_eq!(Timestamp::unix_s(1_709_280_000).utc, want);
        let cocoa = 1_709_280_000 - COCOA_EPOCH_UNIX_S;
        assert_eq!(Timestamp::cocoa_s(cocoa).utc, want);
        assert_eq!(Timestamp::cocoa_ns(cocoa * 1_000_000_000).utc, want);
        assert_eq!(
            Timestamp::unix_ms(1_709_280_000_123).utc.as_deref(),
            Some("2024-03-01T08:00:00.123Z")
        );
    }

    #[test]
    fn out_of_range_times_keep_the_raw_value() {
        let t = Timestamp::unix_ms(i64::MAX);
        assert_eq!(t.utc, None);
        assert_eq!(t.raw, i64::MAX);
        assert_eq!(t.format, "unix_ms");
    }

    #[test]
    fn record_keys_are_always_present() {
        let call = Call {
            number: None,
            name: None,
            call_type: CallType::AnsweredExternally,
            type_raw: Some(7),
            time: None,
            duration_s: None,
            service: None,
            notes: vec![],
            provenance: Provenance::row("calls", 3),
        };
        let json = serde_json::to_value(&call).expect("encodes");
        assert_eq!(json["type"], "answered_externally");
        assert!(json.get("number").is_some_and(|v| v.is_null()));
        assert_eq!(json["provenance"]["table"], "calls");
        assert_eq!(json["provenance"]["row"], 3);
    }
}
