//! Every record of the fixture databases, field by field against the
//! fixtures' truth constants; the real `chat.db` and `AddressBook.sqlitedb`
//! files of the corpus; and the damage cases: rows only in a `-wal`, a
//! corrupt page, a file that is not SQLite, a reduced schema, archives that
//! are not typedstreams.
#![allow(clippy::unwrap_used)]

use exhibit_fixtures::sqlite_tools as common;
use exhibit_fixtures::sqlite_tools::utc_ms;

use exhibit_artifacts_ios::{Ios, attributed_text};
use exhibit_fixtures::{
    AB_LABELS, APPLE_EPOCH_UNIX, IOS_ATTACHMENTS, IOS_ATTRIBUTED_ONLY_LONG,
    IOS_ATTRIBUTED_ONLY_SHORT, IOS_CALLS, IOS_CHATS, IOS_CONTACTS, IOS_HANDLES, IOS_MESSAGES,
    typedstream_attributed_body,
};
use exhibit_plugin_sdk::records::{Call, CallType, Contact, Direction, Message, Timestamp};
use exhibit_plugin_sdk::testing::{
    MemoryHost, Transcript, decode_file, mutations, run_decoder_safe,
};
use exhibit_plugin_sdk::{ArtifactDecoder, Status};

const SMS_PATH: &str = "HomeDomain/Library/SMS/sms.db";
const FFS_SMS_PATH: &str = "filesystem1/private/var/mobile/Library/SMS/sms.db";
const AB_PATH: &str = "HomeDomain/Library/AddressBook/AddressBook.sqlitedb";
const CALLS_PATH: &str = "HomeDomain/Library/CallHistoryDB/CallHistory.storedata";

/// Checks a timestamp: raw value, encoding and UTC string.
fn assert_time(t: &Option<Timestamp>, raw: Option<i64>, format: &str, what: &str) {
    match raw {
        None => assert_eq!(t, &None, "{what}"),
        Some(raw) => {
            let t = t.as_ref().unwrap_or_else(|| panic!("{what}: no time"));
            assert_eq!(t.raw, raw, "{what}");
            assert_eq!(t.format, format, "{what}");
            let ms = match format {
                "cocoa_ns" => raw.div_euclid(1_000_000) + APPLE_EPOCH_UNIX * 1000,
                "cocoa_s" => (raw + APPLE_EPOCH_UNIX) * 1000,
                _ => unreachable!(),
            };
            assert_eq!(t.utc.as_deref(), Some(utc_ms(ms).as_str()), "{what}");
        }
    }
}

fn records<T: serde::de::DeserializeOwned>(t: &Transcript, kind: &str) -> Vec<T> {
    t.records
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, v)| serde_json::from_value(v.clone()).unwrap())
        .collect()
}

fn problems(t: &Transcript) -> Vec<String> {
    t.problems().iter().map(|l| l.message.clone()).collect()
}

fn run(host: &MemoryHost) -> (Status, Transcript) {
    let status = run_decoder_safe::<Ios>(host);
    (status, host.take_transcript())
}

fn handle(rowid: i64) -> &'static str {
    IOS_HANDLES.iter().find(|h| h.rowid == rowid).unwrap().id
}

#[test]
fn utc_helper_agrees_with_known_instants() {
    assert_eq!(utc_ms(1_709_280_000_000), "2024-03-01T08:00:00.000Z");
    assert_eq!(utc_ms(0), "1970-01-01T00:00:00.000Z");
}

#[test]
fn sms_db_every_message() {
    let (status, t) = decode_file::<Ios>(SMS_PATH, exhibit_fixtures::sms_db().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all: Vec<Message> = records(&t, "messages");
    assert_eq!(all.len(), IOS_MESSAGES.len());
    for (m, want) in all.iter().zip(IOS_MESSAGES.iter()) {
        let what = format!("message {}", want.rowid);
        let chat = IOS_CHATS.iter().find(|c| c.rowid == want.chat_id).unwrap();
        let service = match want.service {
            "SMS" => "sms",
            "iMessage" => "imessage",
            _ => unreachable!(),
        };
        assert_eq!(m.service, service, "{what}");
        assert_eq!(m.folder, None, "{what}");
        assert_eq!(m.thread.as_deref(), Some(chat.guid), "{what}");
        assert_eq!(m.subject, None, "{what}");
        assert_eq!(m.body.as_deref(), Some(want.text), "{what}");
        assert_time(&m.time, Some(want.date), "cocoa_ns", &what);
        if want.is_from_me {
            assert_eq!(m.direction, Direction::Outgoing, "{what}");
            assert_eq!(m.from, None, "{what}");
            let to: Vec<&str> = chat.handles.iter().map(|&h| handle(h)).collect();
            assert_eq!(m.to, to, "{what}");
            assert_time(&m.sent, Some(want.date), "cocoa_ns", &what);
            assert_time(&m.received, None, "cocoa_ns", &what);
            let status = if want.date_delivered != 0 {
                "complete"
            } else {
                "pending"
            };
            assert_eq!(m.status.as_deref(), Some(status), "{what}");
            assert_eq!(m.read, Some(false), "{what}");
        } else {
            assert_eq!(m.direction, Direction::Incoming, "{what}");
            assert_eq!(m.from.as_deref(), want.address, "{what}");
            assert!(m.to.is_empty(), "{what}");
            assert_time(&m.received, Some(want.date), "cocoa_ns", &what);
            assert_time(&m.sent, None, "cocoa_ns", &what);
            assert_eq!(m.status, None, "{what}");
            assert_eq!(m.read, Some(want.date_read != 0), "{what}");
        }
        let mut notes = Vec::new();
        if want.text_column.is_none() {
            notes.push("text decoded from `message.attributedBody`".to_owned());
        }
        assert_eq!(m.notes, notes, "{what}");
        for (raw, got) in [
            (want.date_read, &m.read_at),
            (want.date_delivered, &m.delivered_at),
        ] {
            match got {
                None => assert_eq!(raw, 0, "{what}"),
                Some(t) => {
                    let ms = raw / 1_000_000 + APPLE_EPOCH_UNIX * 1000;
                    assert_eq!(t.raw, raw, "{what}");
                    assert_eq!(t.format, "cocoa_ns", "{what}");
                    assert_eq!(t.utc.as_deref(), Some(utc_ms(ms).as_str()), "{what}");
                }
            }
        }
        assert_eq!(m.parts.len(), want.attachments.len(), "{what}");
        for (part, name) in m.parts.iter().zip(want.attachments) {
            let a = IOS_ATTACHMENTS
                .iter()
                .find(|a| a.transfer_name == *name)
                .unwrap();
            assert_eq!(part.content_type.as_deref(), Some(a.mime_type), "{what}");
            assert_eq!(part.name.as_deref(), Some(a.transfer_name), "{what}");
            assert_eq!(part.text, None, "{what}");
            let att = part.attachment.as_ref().unwrap();
            assert_eq!(att.device_path.as_deref(), Some(a.filename), "{what}");
            // An iTunes backup keeps SMS attachments in MediaDomain.
            assert_eq!(
                att.case_path,
                Some(format!("files/MediaDomain/{}", a.backup_relative_path)),
                "{what}"
            );
            assert_eq!(att.sha256, None, "{what}");
        }
        assert_eq!(m.provenance.table.as_deref(), Some("message"), "{what}");
        assert_eq!(m.provenance.row, Some(want.rowid), "{what}");
    }
    // The attributedBody-only texts, both length forms, came through.
    assert_eq!(all[3].body.as_deref(), Some(IOS_ATTRIBUTED_ONLY_SHORT));
    assert_eq!(all[6].body.as_deref(), Some(IOS_ATTRIBUTED_ONLY_LONG));
    assert!(IOS_ATTRIBUTED_ONLY_LONG.len() > 127);
    assert!(all.iter().any(|m| m.body.as_deref() == Some("🎉🎂🥳")));
}

/// One record spelled out as the JSON the host writes (STYLE rule 11): the
/// group-chat photo.
#[test]
fn attachment_message_spelled_out() {
    let (_, t) = decode_file::<Ios>(SMS_PATH, exhibit_fixtures::sms_db().unwrap());
    let (kind, record) = t
        .records
        .iter()
        .find(|(_, r)| r["provenance"]["row"] == 6)
        .unwrap();
    assert_eq!(kind, "messages");
    let base = exhibit_fixtures::IOS_BASE_SECONDS;
    let ns = |s: i64| (base + s) * 1_000_000_000;
    let want = serde_json::json!({
        "service": "imessage",
        "direction": "incoming",
        "folder": null,
        "thread": "iMessage;+;chat718293645546372819",
        "from": "+15551230002",
        "to": [],
        "subject": null,
        "body": "\u{fffc}",
        "time": {"utc": "2024-03-01T10:25:00.000Z", "raw": ns(1500), "format": "cocoa_ns"},
        "sent": null,
        "received": {"utc": "2024-03-01T10:25:00.000Z", "raw": ns(1500), "format": "cocoa_ns"},
        "read": true,
        "read_at": {"utc": "2024-03-01T10:26:00.000Z", "raw": ns(1560), "format": "cocoa_ns"},
        "delivered_at": {"utc": "2024-03-01T10:25:02.000Z", "raw": ns(1502), "format": "cocoa_ns"},
        "status": null,
        "parts": [{
            "content_type": "image/heic",
            "name": "IMG_0001.HEIC",
            "text": null,
            "attachment": {
                "device_path": "~/Library/SMS/Attachments/4f/15/4F15C0DE-6A1B-4E2F-8C3D-2B1A09F8E7D6/IMG_0001.HEIC",
                "case_path": "files/MediaDomain/Library/SMS/Attachments/4f/15/4F15C0DE-6A1B-4E2F-8C3D-2B1A09F8E7D6/IMG_0001.HEIC",
                "sha256": null,
            },
        }],
        "notes": [],
        "provenance": {
            "file": "", "sha256": "", "decoder": "",
            "table": "message", "row": 6, "index": null,
        },
    });
    assert_eq!(record, &want);
}

#[test]
fn ffs_layout_proposes_attachments_under_the_same_home() {
    let (status, t) = decode_file::<Ios>(FFS_SMS_PATH, exhibit_fixtures::sms_db().unwrap());
    assert_eq!(status, Status::OK);
    let all: Vec<Message> = records(&t, "messages");
    let part = &all[5].parts[0];
    let (device, _) = &exhibit_fixtures::sms_attachment_files()[0];
    assert_eq!(
        part.attachment.as_ref().unwrap().case_path,
        Some(format!(
            "files/filesystem1/private/var/mobile/{}",
            device.strip_prefix("~/").unwrap()
        ))
    );
}

/// The label an examiner reads for `ABMultiValueLabel.value`.
fn expected_label(raw: &str) -> &str {
    match raw {
        "_$!<Mobile>!$_" => "mobile",
        "_$!<Home>!$_" => "home",
        "_$!<Work>!$_" => "work",
        "iPhone" => "iphone",
        other => other,
    }
}

#[test]
fn address_book_every_contact() {
    let (status, t) = decode_file::<Ios>(AB_PATH, exhibit_fixtures::address_book_db().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all: Vec<Contact> = records(&t, "contacts");
    assert_eq!(all.len(), IOS_CONTACTS.len());
    for (c, want) in all.iter().zip(IOS_CONTACTS.iter()) {
        let what = format!("person {}", want.rowid);
        assert_eq!(
            c.name,
            Some(format!("{} {}", want.first, want.last)),
            "{what}"
        );
        assert_eq!(c.given_name.as_deref(), Some(want.first), "{what}");
        assert_eq!(c.family_name.as_deref(), Some(want.last), "{what}");
        assert_eq!(c.organization.as_deref(), want.organization, "{what}");
        assert_eq!(c.account, None, "{what}");
        assert!(!c.deleted, "{what}");
        assert!(c.notes.is_empty(), "{what}: {:?}", c.notes);
        let values = |property| -> Vec<(String, Option<String>)> {
            want.values
                .iter()
                .filter(|v| v.property == property)
                .map(|v| {
                    let raw = AB_LABELS[usize::try_from(v.label - 1).unwrap()];
                    (v.value.to_owned(), Some(expected_label(raw).to_owned()))
                })
                .collect()
        };
        let got =
            |list: &[exhibit_plugin_sdk::records::Labelled]| -> Vec<(String, Option<String>)> {
                list.iter()
                    .map(|l| (l.value.clone(), l.label.clone()))
                    .collect()
            };
        assert_eq!(
            got(&c.phones),
            values(exhibit_fixtures::AB_PROPERTY_PHONE),
            "{what}"
        );
        assert_eq!(
            got(&c.emails),
            values(exhibit_fixtures::AB_PROPERTY_EMAIL),
            "{what}"
        );
        assert_eq!(c.provenance.table.as_deref(), Some("ABPerson"), "{what}");
        assert_eq!(c.provenance.row, Some(want.rowid), "{what}");
    }
    // A user's own label is kept as typed.
    assert!(
        all.iter()
            .flat_map(|c| &c.phones)
            .any(|p| p.label.as_deref() == Some("Ferienhaus 🏖"))
    );
}

#[test]
fn call_history_every_call() {
    let (status, t) = decode_file::<Ios>(CALLS_PATH, exhibit_fixtures::call_history_db().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all: Vec<Call> = records(&t, "calls");
    assert_eq!(all.len(), IOS_CALLS.len());
    for (c, want) in all.iter().zip(IOS_CALLS.iter()) {
        let what = format!("call {}", want.pk);
        assert_eq!(c.number.as_deref(), Some(want.address), "{what}");
        assert_eq!(c.name.as_deref(), want.name, "{what}");
        let kind = if want.originated {
            CallType::Outgoing
        } else if want.answered {
            CallType::Incoming
        } else {
            CallType::Missed
        };
        assert_eq!(c.call_type, kind, "{what}");
        assert_eq!(c.type_raw, Some(want.call_type), "{what}");
        let service = match want.call_type {
            1 => "phone",
            8 => "facetime_video",
            16 => "facetime_audio",
            _ => unreachable!(),
        };
        assert_eq!(c.service.as_deref(), Some(service), "{what}");
        let whole = want.date.trunc();
        assert_time(&c.time, Some(whole as i64), "cocoa_s", &what);
        let rounded = want.duration.round() as i64;
        assert_eq!(c.duration_s, Some(rounded), "{what}");
        let mut notes = Vec::new();
        if want.date != whole {
            notes.push(format!(
                "`ZDATE` is {} s since 2001; the time keeps its whole seconds",
                want.date
            ));
        }
        if want.duration.fract() != 0.0 {
            notes.push(format!(
                "`ZDURATION` is {} s, rounded to {rounded} s",
                want.duration
            ));
        }
        assert_eq!(c.notes, notes, "{what}");
        assert_eq!(c.provenance.table.as_deref(), Some("ZCALLRECORD"), "{what}");
        assert_eq!(c.provenance.row, Some(want.pk), "{what}");
    }
    assert!(all.iter().any(|c| c.call_type == CallType::Missed));
}

#[test]
fn call_number_stored_as_blob_is_read_with_a_note() {
    let db = common::build_db(
        "CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, ZADDRESS VARCHAR, ZORIGINATED INTEGER,
             ZANSWERED INTEGER, ZDATE TIMESTAMP, ZDURATION FLOAT, ZCALLTYPE INTEGER);
         INSERT INTO ZCALLRECORD VALUES (1, CAST('+15551230001' AS BLOB), 0, 0, 0, 0, 16);",
    );
    let (status, t) = decode_file::<Ios>(CALLS_PATH, db);
    assert_eq!(status, Status::OK);
    let calls: Vec<Call> = records(&t, "calls");
    assert_eq!(calls[0].number.as_deref(), Some("+15551230001"));
    assert_eq!(calls[0].call_type, CallType::Missed);
    assert_eq!(calls[0].time, None);
    assert_eq!(calls[0].duration_s, Some(0));
    assert_eq!(calls[0].service.as_deref(), Some("facetime_audio"));
    assert_eq!(
        calls[0].notes,
        ["`ZCALLRECORD.ZADDRESS` holds a BLOB; read as UTF-8 text"]
    );
}

#[test]
fn corpus_imessage_chat_db() {
    let Some(path) = common::corpus("plaso/test_data/sqlite/imessage_chat.db") else {
        return;
    };
    let (status, t) = decode_file::<Ios>(SMS_PATH, std::fs::read(path).unwrap());
    assert_eq!(status, Status::OK);
    let mut all: Vec<Message> = records(&t, "messages");
    assert_eq!(all.len(), 10);
    // chat_message_join and message_attachment_join keep rows of deleted
    // messages (ids up to 235): reported, not decoded.
    let warnings = problems(&t);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("226 `chat_message_join` rows belong to no row of `message`"));
    assert!(warnings[1].contains("1 `message_attachment_join` rows"));
    all.sort_by_key(|m| m.time.as_ref().unwrap().raw);
    let m = &all[7];
    assert_eq!(m.service, "imessage");
    assert_eq!(m.direction, Direction::Incoming);
    assert_eq!(m.from.as_deref(), Some("xxxxxx2015@icloud.com"));
    assert_eq!(m.body.as_deref(), Some("Did you try to send me a message?"));
    assert_eq!(
        m.thread.as_deref(),
        Some("iMessage;-;jondoh2015@icloud.com")
    );
    assert_time(&m.time, Some(470_573_320), "cocoa_s", "message 8");
    assert_eq!(
        m.time.as_ref().unwrap().utc.as_deref(),
        Some("2015-11-30T10:48:40.000Z")
    );
    assert_eq!(m.read, Some(true));
    assert!(all.iter().all(|m| m.service == "imessage"));
    assert_eq!(
        all.iter()
            .filter(|m| m.direction == Direction::Outgoing)
            .count(),
        5
    );
    // Every text agrees with the string archived in its attributedBody,
    // but for rows 6 and 10, whose `text` was edited in the test file
    // ("Open Office") while their archives still say "Microsoft Office":
    // the decoder reports `text` when there is one.
    let db = rusqlite::Connection::open_with_flags(
        common::corpus("plaso/test_data/sqlite/imessage_chat.db").unwrap(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare("SELECT ROWID, text, attributedBody FROM message")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .unwrap();
    let mut edited = Vec::new();
    for row in rows {
        let (id, text, blob) = row.unwrap();
        let archived = attributed_text(&blob).unwrap().text;
        assert_eq!(
            archived,
            text.replace("Open Office", "Microsoft Office"),
            "row {id}"
        );
        if archived != text {
            edited.push(id);
        }
    }
    assert_eq!(edited, [6, 10]);
    assert!(
        all.iter()
            .any(|m| m.body.as_deref().is_some_and(|b| b.contains("Open Office")))
    );
}

#[test]
fn corpus_address_book_josh_ios15() {
    let Some(path) = common::corpus(
        "ileapp/admin/test/cases/data/addressBook/testdata.addressBook.addressBook.josh_ios15_ffs.zip",
    ) else {
        return;
    };
    let mut zip = common::zip_entries(&path);
    let base = "filesystem2/mobile/Library/AddressBook/AddressBook.sqlitedb";
    let main = zip.remove(base).unwrap();
    let wal = zip.remove(&format!("{base}-wal")).unwrap();
    let (status, t) = run(&MemoryHost::input(base, main).with_companion("-wal", wal));
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all: Vec<Contact> = records(&t, "contacts");
    // iLEAPP's addressBook.addressBook.josh_ios15_ffs result: 9 rows.
    assert_eq!(all.len(), 9);
    assert_eq!(all.iter().map(|c| c.phones.len()).sum::<usize>(), 7);
    assert_eq!(all.iter().map(|c| c.emails.len()).sum::<usize>(), 4);
    let josh = all
        .iter()
        .find(|c| c.name.as_deref() == Some("Josh Hickman"))
        .unwrap();
    assert_eq!(josh.given_name.as_deref(), Some("Josh"));
    assert_eq!(josh.family_name.as_deref(), Some("Hickman"));
    let phones: Vec<(&str, Option<&str>)> = josh
        .phones
        .iter()
        .map(|p| (p.value.as_str(), p.label.as_deref()))
        .collect();
    assert_eq!(
        phones,
        [
            ("(919) 579-0479", Some("mobile")),
            ("(919) 391-2507", Some("TextNow"))
        ]
    );
    assert_eq!(josh.emails.len(), 1);
    assert_eq!(josh.emails[0].value, "joshuahickman957@gmail.com");
    assert_eq!(josh.emails[0].label, None);
    let apple = all
        .iter()
        .find(|c| c.organization.as_deref() == Some("Apple Inc."))
        .unwrap();
    assert_eq!(apple.name.as_deref(), Some("Apple Inc."));
    assert_eq!(apple.given_name, None);
    assert_eq!(apple.phones[0].label.as_deref(), Some("main"));
}

#[test]
fn corpus_address_book_only_in_the_wal() {
    let Some(path) = common::corpus(
        "ileapp/admin/test/cases/data/addressBook/testdata.addressBook.addressBook.belkasoft_ctf6_ios_device1.zip",
    ) else {
        return;
    };
    let mut zip = common::zip_entries(&path);
    let base = "private/var/mobile/Library/AddressBook/AddressBook.sqlitedb";
    let main = zip.remove(base).unwrap();
    let wal = zip.remove(&format!("{base}-wal")).unwrap();
    let (status, t) = run(&MemoryHost::input(base, main).with_companion("-wal", wal));
    assert_eq!(status, Status::OK);
    let all: Vec<Contact> = records(&t, "contacts");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name.as_deref(), Some("William Phorger"));
    assert_eq!(all[0].emails.len(), 1);
    assert_eq!(all[0].emails[0].value, "billthemegakill@icloud.com");
    assert_eq!(all[0].emails[0].label.as_deref(), Some("home"));
}

#[test]
fn rows_only_in_the_wal_are_decoded() {
    let (main, wal) = common::wal_only_db(
        "CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, ZADDRESS VARCHAR, ZORIGINATED INTEGER,
             ZANSWERED INTEGER, ZDATE TIMESTAMP, ZDURATION FLOAT, ZCALLTYPE INTEGER);
         INSERT INTO ZCALLRECORD VALUES (1, '+15551230001', 1, 1, 700000000.0, 42.0, 1);",
    );
    let (status, t) = run(&MemoryHost::input(CALLS_PATH, main.clone()));
    assert_eq!((status, t.records.len()), (Status::CORRUPT, 0), "no -wal");
    let (status, t) = run(&MemoryHost::input(CALLS_PATH, main).with_companion("-wal", wal));
    assert_eq!(status, Status::OK);
    let calls: Vec<Call> = records(&t, "calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].call_type, CallType::Outgoing);
    assert_eq!(calls[0].duration_s, Some(42));
    assert_time(&calls[0].time, Some(700_000_000), "cocoa_s", "wal call");
}

#[test]
fn hot_journal_is_rolled_back_in_a_scratch_copy() {
    let (main, journal) = common::hot_journal_db("ZCALLRECORD", "Z_PK", "ZADDRESS");
    let (status, t) = run(&MemoryHost::input(CALLS_PATH, main).with_companion("-journal", journal));
    assert_eq!(status, Status::OK);
    let calls: Vec<Call> = records(&t, "calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].number.as_deref(), Some("committed"));
    let warnings = problems(&t);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("rolled back in a scratch copy"));
}

#[test]
fn corrupt_page_keeps_the_other_tables_and_names_the_file() {
    // `message` damaged: handles and chats are read, no message is.
    let db = common::corrupt_table(&exhibit_fixtures::sms_db().unwrap(), "message");
    let (status, t) = decode_file::<Ios>(SMS_PATH, db);
    assert_eq!(status, Status::CORRUPT);
    assert!(t.records.is_empty());
    let warnings = problems(&t);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(SMS_PATH) && w.contains("message")),
        "{warnings:?}"
    );
    // `ABMultiValue` damaged: people still decoded, the run ends corrupt.
    let db = common::corrupt_table(
        &exhibit_fixtures::address_book_db().unwrap(),
        "ABMultiValue",
    );
    let (status, _) = decode_file::<Ios>(AB_PATH, db);
    assert_eq!(status, Status::CORRUPT);
}

#[test]
fn not_sqlite_is_corrupt_with_the_file_name() {
    for path in [SMS_PATH, AB_PATH, CALLS_PATH] {
        let (status, t) = decode_file::<Ios>(path, b"bplist00 not a database".to_vec());
        assert_eq!(status, Status::CORRUPT, "{path}");
        assert!(t.records.is_empty());
        let errors = problems(&t);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(&format!("{path}: not an SQLite database")),
            "{errors:?}"
        );
    }
}

#[test]
fn reduced_schema_still_gives_records() {
    // An old sms.db: no attributedBody, date_read, date_delivered, error,
    // item_type, no attachment tables, seconds since 2001.
    let db = common::build_db(
        "CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT);
         CREATE TABLE chat (ROWID INTEGER PRIMARY KEY, guid TEXT);
         CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER);
         CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER);
         CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT, handle_id INTEGER,
             service TEXT, is_from_me INTEGER, date INTEGER);
         INSERT INTO handle VALUES (1, '+15551230001');
         INSERT INTO chat VALUES (1, NULL);
         INSERT INTO chat_handle_join VALUES (1, 1);
         INSERT INTO chat_message_join VALUES (1, 1), (1, 2);
         INSERT INTO message VALUES (1, 'hi', 1, 'SMS', 0, 470573320);
         INSERT INTO message VALUES (2, 'ho', 0, 'RCS', 1, 0);",
    );
    let (status, t) = decode_file::<Ios>(SMS_PATH, db);
    assert_eq!(status, Status::OK);
    let warnings = problems(&t);
    assert_eq!(
        warnings,
        [format!(
            "{SMS_PATH}: table `message_attachment_join` is missing: attachments are not decoded"
        ),]
    );
    let all: Vec<Message> = records(&t, "messages");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].service, "sms");
    assert_eq!(all[0].from.as_deref(), Some("+15551230001"));
    assert_eq!(all[0].thread.as_deref(), Some("1"));
    assert_eq!(all[0].read, None);
    assert_time(&all[0].received, Some(470_573_320), "cocoa_s", "old sms");
    assert_eq!(all[1].service, "rcs");
    assert_eq!(all[1].direction, Direction::Outgoing);
    assert_eq!(all[1].to, ["+15551230001"]);
    assert_eq!(all[1].time, None);
    assert_eq!(all[1].status, None);

    // Contacts without ABMultiValueLabel and without Middle/Nickname.
    let db = common::build_db(
        "CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, First TEXT, Last TEXT, Organization TEXT);
         CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER,
             label INTEGER, value TEXT);
         INSERT INTO ABPerson VALUES (1, ' Ann ', NULL, NULL), (2, NULL, NULL, 'ACME');
         INSERT INTO ABMultiValue VALUES (1, 1, 3, 1, '+1'), (2, 2, 4, NULL, 'a@acme.test'),
             (3, 2, 22, NULL, 'ignored'), (4, 9, 3, NULL, '+9');",
    );
    let (status, t) = decode_file::<Ios>(AB_PATH, db);
    assert_eq!(status, Status::OK);
    assert_eq!(
        problems(&t),
        [
            format!(
                "{AB_PATH}: table `ABMultiValueLabel` is missing: phone and e-mail labels are not decoded"
            ),
            format!(
                "{AB_PATH}: 1 phone and e-mail rows of `ABMultiValue` belong to no row of `ABPerson`"
            ),
        ]
    );
    let all: Vec<Contact> = records(&t, "contacts");
    assert_eq!(all[0].name.as_deref(), Some("Ann"));
    assert_eq!(all[0].phones[0].label, None);
    assert_eq!(all[1].name.as_deref(), Some("ACME"));
    assert_eq!(all[1].emails[0].value, "a@acme.test");
    assert!(all[1].phones.is_empty());
}

#[test]
fn missing_table_warns() {
    let db = common::build_db("CREATE TABLE other (x INTEGER);");
    for (path, table) in [
        (SMS_PATH, "message"),
        (AB_PATH, "ABPerson"),
        (CALLS_PATH, "ZCALLRECORD"),
    ] {
        let (status, t) = decode_file::<Ios>(path, db.clone());
        assert_eq!(status, Status::OK, "{path}");
        assert!(t.records.is_empty());
        assert!(
            problems(&t)
                .iter()
                .any(|w| w.contains(&format!("table `{table}` is missing"))),
            "{path}"
        );
    }
}

#[test]
fn undecodable_attributed_body_is_a_note() {
    let db = common::build_db(
        "CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT, attributedBody BLOB,
             is_from_me INTEGER, service TEXT);
         INSERT INTO message VALUES (1, NULL, X'040B73747265616D7479706564', 0, 'iMessage');
         INSERT INTO message VALUES (2, NULL, NULL, 0, NULL);",
    );
    let (status, t) = decode_file::<Ios>(SMS_PATH, db);
    assert_eq!(status, Status::OK);
    let all: Vec<Message> = records(&t, "messages");
    assert_eq!(all[0].body, None);
    assert_eq!(
        all[0].notes,
        ["`message.attributedBody` (13 bytes) could not be decoded: no NSString in the archive"]
    );
    assert_eq!(all[1].service, "unknown");
    assert_eq!(all[1].notes, ["no service stored"]);
}

/// Truncations and byte flips of real-shaped archives, and random bytes:
/// never a panic, and a decoded text is always within the blob.
#[test]
fn typedstream_garbage_never_panics() {
    for text in [
        "",
        "hi",
        IOS_ATTRIBUTED_ONLY_SHORT,
        IOS_ATTRIBUTED_ONLY_LONG,
    ] {
        let blob = typedstream_attributed_body(text);
        assert_eq!(attributed_text(&blob).unwrap().text, text);
        for cut in 0..blob.len() {
            let _ = attributed_text(&blob[..cut]);
        }
        for data in mutations(&blob, 500, 4) {
            if let Ok(decoded) = attributed_text(&data) {
                assert!(decoded.text.len() <= data.len() * 3);
            }
        }
    }
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for len in 0..400usize {
        let mut data = b"NSString".to_vec();
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.push(state.to_le_bytes()[0]);
        }
        let _ = attributed_text(&data);
    }
}

#[test]
fn mutated_databases_never_panic() {
    for (path, base) in [
        (SMS_PATH, exhibit_fixtures::sms_db().unwrap()),
        (AB_PATH, exhibit_fixtures::address_book_db().unwrap()),
        (CALLS_PATH, exhibit_fixtures::call_history_db().unwrap()),
    ] {
        for data in mutations(&base, 25, 6) {
            let (status, _) = decode_file::<Ios>(path, data);
            assert!(
                matches!(status, Status::OK | Status::CORRUPT),
                "{path}: {status:?}"
            );
        }
    }
}

#[test]
fn paths_match_the_dump_layouts() {
    let mut builder = globset::GlobSetBuilder::new();
    for p in Ios::PATHS {
        builder.add(
            globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .unwrap(),
        );
    }
    let set = builder.build().unwrap();
    for yes in [
        "HomeDomain/Library/SMS/sms.db",
        "backup/HomeDomain/Library/SMS/sms.db",
        "private/var/mobile/Library/SMS/sms.db",
        "filesystem1/private/var/mobile/Library/SMS/sms.db",
        "filesystem2/mobile/Library/SMS/sms.db",
        "HomeDomain/Library/AddressBook/AddressBook.sqlitedb",
        "private/var/mobile/Library/AddressBook/AddressBook.sqlitedb",
        "HomeDomain/Library/CallHistoryDB/CallHistory.storedata",
        "filesystem1/private/var/mobile/Library/CallHistoryDB/CallHistory.storedata",
    ] {
        assert!(set.is_match(yes), "{yes}");
    }
    for no in [
        "HomeDomain/Library/SMS/sms.db-wal",
        "HomeDomain/Library/SMS/Attachments/sms.db.jpg",
        "HomeDomain/Library/AddressBook/AddressBookImages.sqlitedb",
        "Library/Messages/chat.db",
    ] {
        assert!(!set.is_match(no), "{no}");
    }
    let (status, _) = decode_file::<Ios>("Library/SMS/other.db", Vec::new());
    assert_eq!(status, Status::NOT_MINE);
}
