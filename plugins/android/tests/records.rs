//! Every record of the fixture databases and backup files, field by field
//! against the fixtures' truth constants; the real `contacts2.db` of the
//! corpus; and the damage cases: rows only in a `-wal`, a corrupt table, a
//! file that is not SQLite, reduced schemas, invalid UTF-8, broken backup
//! streams.
#![allow(clippy::unwrap_used)]

use exhibit_fixtures::sqlite_tools as common;
use exhibit_fixtures::sqlite_tools::utc_ms;

use exhibit_artifacts_android::Android;
use exhibit_fixtures::telephony_backup::{MMS_BACKUP_NAME, SMS_BACKUP_NAME};
use exhibit_fixtures::{
    ACCOUNTS, CALLLOG_PATH, CALLS, CONTACTS, CONTACTS2_PATH, DELETED_THREAD_ID, LEGACY_CALLS, MMS,
    MMS_PART_PATH, MMSSMS_PATH, SELF_PHONE, SMS, THREADS,
};
use exhibit_plugin_sdk::records::{
    Account, Call, CallType, Contact, Direction, Labelled, Message, Timestamp,
};
use exhibit_plugin_sdk::testing::{
    MemoryHost, Transcript, decode_file, mutations, run_decoder_safe,
};
use exhibit_plugin_sdk::{ArtifactDecoder, Status};

const ADB_SMS_BACKUP: &str = "apps/com.android.providers.telephony/d_f/000000_sms_backup";
const ADB_MMS_BACKUP: &str = "apps/com.android.providers.telephony/d_f/000001_mms_backup";

/// Checks a timestamp: raw value, encoding and UTC string.
fn assert_time(t: &Option<Timestamp>, raw: Option<i64>, format: &str, what: &str) {
    match raw {
        None => assert_eq!(t, &None, "{what}"),
        Some(raw) => {
            let t = t.as_ref().unwrap_or_else(|| panic!("{what}: no time"));
            assert_eq!(t.raw, raw, "{what}");
            assert_eq!(t.format, format, "{what}");
            let ms = if format == "unix_s" { raw * 1000 } else { raw };
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

fn messages(t: &Transcript) -> Vec<Message> {
    records(t, "messages")
}

fn problems(t: &Transcript) -> Vec<String> {
    t.problems().iter().map(|l| l.message.clone()).collect()
}

fn run(host: &MemoryHost) -> (Status, Transcript) {
    let status = run_decoder_safe::<Android>(host);
    (status, host.take_transcript())
}

fn sms_folder(kind: i64) -> (Direction, &'static str) {
    match kind {
        1 => (Direction::Incoming, "inbox"),
        2 => (Direction::Outgoing, "sent"),
        3 => (Direction::Draft, "draft"),
        4 => (Direction::Outgoing, "outbox"),
        5 => (Direction::Outgoing, "failed"),
        6 => (Direction::Outgoing, "queued"),
        _ => unreachable!(),
    }
}

fn sms_status(status: i64) -> Option<&'static str> {
    match status {
        -1 => None,
        0 => Some("complete"),
        32 => Some("pending"),
        64 => Some("failed"),
        _ => unreachable!(),
    }
}

#[test]
fn utc_helper_agrees_with_known_instants() {
    assert_eq!(utc_ms(1_383_772_636_690), "2013-11-06T21:17:16.690Z");
    assert_eq!(utc_ms(1_709_280_000_000), "2024-03-01T08:00:00.000Z");
    assert_eq!(utc_ms(0), "1970-01-01T00:00:00.000Z");
}

#[test]
fn mmssms_db_every_sms() {
    let (status, t) = decode_file::<Android>(MMSSMS_PATH, exhibit_fixtures::mmssms_db().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all = messages(&t);
    assert_eq!(all.len(), SMS.len() + MMS.len());
    let sms: Vec<&Message> = all.iter().filter(|m| m.service == "sms").collect();
    assert_eq!(sms.len(), SMS.len());
    for (m, s) in sms.iter().zip(SMS.iter()) {
        let what = format!("sms {}", s.id);
        let (direction, folder) = sms_folder(s.kind);
        assert_eq!(m.direction, direction, "{what}");
        assert_eq!(m.folder.as_deref(), Some(folder), "{what}");
        assert_eq!(m.thread, Some(s.thread_id.to_string()), "{what}");
        if direction == Direction::Incoming {
            assert_eq!(m.from.as_deref(), Some(s.address), "{what}");
            assert!(m.to.is_empty(), "{what}");
        } else {
            assert_eq!(m.from, None, "{what}");
            assert_eq!(m.to, [s.address], "{what}");
        }
        assert_eq!(m.subject, None, "{what}");
        assert_eq!(m.body.as_deref(), Some(s.body), "{what}");
        assert_time(&m.received, Some(s.date), "unix_ms", &what);
        assert_time(
            &m.sent,
            (s.date_sent != 0).then_some(s.date_sent),
            "unix_ms",
            &what,
        );
        let sort = if direction == Direction::Incoming || s.date_sent == 0 {
            s.date
        } else {
            s.date_sent
        };
        assert_time(&m.time, Some(sort), "unix_ms", &what);
        assert_eq!(m.read, Some(s.read != 0), "{what}");
        assert_eq!(m.status.as_deref(), sms_status(s.status), "{what}");
        assert!(m.parts.is_empty(), "{what}");
        assert_eq!(m.provenance.table.as_deref(), Some("sms"), "{what}");
        assert_eq!(m.provenance.row, Some(s.id), "{what}");
        assert_eq!(m.provenance.index, None, "{what}");
        if s.thread_id == DELETED_THREAD_ID {
            assert_eq!(
                m.notes,
                [format!(
                    "thread {DELETED_THREAD_ID} has no row in `threads`: the conversation was deleted"
                )],
                "{what}"
            );
        } else {
            assert!(m.notes.is_empty(), "{what}: {:?}", m.notes);
        }
    }
    // The non-ASCII and emoji bodies came through byte for byte.
    assert!(sms.iter().any(|m| m.body.as_deref() == Some("🎉🎂🥳")));
    assert!(
        sms.iter()
            .any(|m| m.body.as_deref() == Some("Καλημέρα! Τα λέμε αύριο στις 10;"))
    );
}

/// One record spelled out as the JSON the host writes (STYLE rule 11): the
/// SMS whose conversation was deleted.
#[test]
fn deleted_thread_sms_spelled_out() {
    let (_, t) = decode_file::<Android>(MMSSMS_PATH, exhibit_fixtures::mmssms_db().unwrap());
    let (kind, record) = t
        .records
        .iter()
        .find(|(_, r)| r["provenance"]["row"] == 11 && r["service"] == "sms")
        .unwrap();
    assert_eq!(kind, "messages");
    let want = serde_json::json!({
        "service": "sms",
        "direction": "incoming",
        "folder": "inbox",
        "thread": "5",
        "from": "+15557770000",
        "to": [],
        "subject": null,
        "body": "Your verification code is 482913. Do not share it.",
        "time": {"utc": "2024-03-01T09:59:00.000Z", "raw": 1_709_287_140_000_i64, "format": "unix_ms"},
        "sent": {"utc": "2024-03-01T09:58:58.000Z", "raw": 1_709_287_138_000_i64, "format": "unix_ms"},
        "received": {"utc": "2024-03-01T09:59:00.000Z", "raw": 1_709_287_140_000_i64, "format": "unix_ms"},
        "read": true,
        "read_at": null,
        "delivered_at": null,
        "status": null,
        "parts": [],
        "notes": ["thread 5 has no row in `threads`: the conversation was deleted"],
        "provenance": {"file": "", "sha256": "", "decoder": "", "table": "sms", "row": 11, "index": null},
    });
    assert_eq!(record, &want);
}

#[test]
fn mmssms_db_every_mms() {
    let (status, t) = decode_file::<Android>(MMSSMS_PATH, exhibit_fixtures::mmssms_db().unwrap());
    assert_eq!(status, Status::OK);
    let mms: Vec<Message> = messages(&t)
        .into_iter()
        .filter(|m| m.service == "mms")
        .collect();
    assert_eq!(mms.len(), MMS.len());
    for (m, p) in mms.iter().zip(MMS.iter()) {
        let what = format!("pdu {}", p.id);
        let (direction, folder) = match p.msg_box {
            1 => (Direction::Incoming, "inbox"),
            2 => (Direction::Outgoing, "sent"),
            _ => unreachable!(),
        };
        assert_eq!(m.direction, direction, "{what}");
        assert_eq!(m.folder.as_deref(), Some(folder), "{what}");
        assert_eq!(m.thread, Some(p.thread_id.to_string()), "{what}");
        let from = p
            .addresses
            .iter()
            .find(|a| a.kind == 137 && a.address != "insert-address-token")
            .map(|a| a.address);
        assert_eq!(m.from.as_deref(), from, "{what}");
        let to: Vec<&str> = p
            .addresses
            .iter()
            .filter(|a| a.kind == 151)
            .map(|a| a.address)
            .collect();
        assert_eq!(m.to, to, "{what}");
        assert_eq!(m.subject.as_deref(), p.subject, "{what}");
        let texts: Vec<&str> = p
            .parts
            .iter()
            .filter(|x| x.content_type == "text/plain")
            .filter_map(|x| x.text)
            .collect();
        assert_eq!(m.body, Some(texts.join("\n")), "{what}");
        assert_time(&m.received, Some(p.date), "unix_s", &what);
        assert_time(
            &m.sent,
            (p.date_sent != 0).then_some(p.date_sent),
            "unix_s",
            &what,
        );
        let sort = if direction == Direction::Incoming || p.date_sent == 0 {
            p.date
        } else {
            p.date_sent
        };
        assert_time(&m.time, Some(sort), "unix_s", &what);
        assert_eq!(m.read, Some(p.read != 0), "{what}");
        assert_eq!(m.status, None, "{what}");
        assert!(m.notes.is_empty(), "{what}: {:?}", m.notes);
        assert_eq!(m.provenance.table.as_deref(), Some("pdu"), "{what}");
        assert_eq!(m.provenance.row, Some(p.id), "{what}");
        // Parts in `seq` then `_id` order: SMIL (-1) first, then the rest as stored.
        let mut want = p.parts.to_vec();
        want.sort_by_key(|x| (x.seq, x.id));
        assert_eq!(m.parts.len(), want.len(), "{what}");
        for (part, w) in m.parts.iter().zip(&want) {
            assert_eq!(part.content_type.as_deref(), Some(w.content_type), "{what}");
            assert_eq!(part.name.as_deref(), w.name, "{what}");
            if w.content_type == "application/smil" {
                assert_eq!(part.text, None, "{what}");
            } else {
                assert_eq!(part.text.as_deref(), w.text, "{what}");
            }
            match w.data {
                Some(data) => {
                    let a = part.attachment.as_ref().unwrap();
                    assert_eq!(a.device_path.as_deref(), Some(data), "{what}");
                    let file = data.rsplit('/').next().unwrap();
                    assert_eq!(
                        a.case_path,
                        Some(format!(
                            "files/data/data/com.android.providers.telephony/app_parts/{file}"
                        )),
                        "{what}"
                    );
                    assert_eq!(a.sha256, None, "{what}");
                }
                None => assert_eq!(part.attachment, None, "{what}"),
            }
        }
    }
    // The received MMS, spelled out.
    let first = &mms[0];
    assert_eq!(
        first.body.as_deref(),
        Some("Here is the photo from the trip\nSunset at Ærøskøbing harbour 🌅")
    );
    assert_eq!(first.to, [SELF_PHONE]);
    assert_eq!(
        first.parts[2]
            .attachment
            .as_ref()
            .unwrap()
            .case_path
            .as_deref(),
        Some("files/data/data/com.android.providers.telephony/app_parts/PART_1709284200000")
    );
    assert_eq!(
        first.parts[2]
            .attachment
            .as_ref()
            .unwrap()
            .device_path
            .as_deref(),
        Some(MMS_PART_PATH)
    );
}

#[test]
fn mms_part_proposal_follows_the_input_layout() {
    let db = exhibit_fixtures::mmssms_db().unwrap();
    for (input, want) in [
        (
            "filesystem1/data/user_de/0/com.android.providers.telephony/databases/mmssms.db",
            "files/filesystem1/data/user_de/0/com.android.providers.telephony/app_parts/PART_1709284200000",
        ),
        (
            "apps/com.android.providers.telephony/d_db/mmssms.db",
            "files/apps/com.android.providers.telephony/d_r/app_parts/PART_1709284200000",
        ),
    ] {
        let (status, t) = decode_file::<Android>(input, db.clone());
        assert_eq!(status, Status::OK);
        let image = messages(&t)
            .into_iter()
            .flat_map(|m| m.parts)
            .find_map(|p| p.attachment)
            .unwrap();
        assert_eq!(image.case_path.as_deref(), Some(want));
    }
}

fn expected_account(a: &exhibit_fixtures::Account) -> Option<Account> {
    (a.name.is_some() || a.kind.is_some()).then(|| Account {
        kind: a.kind.map(str::to_owned),
        name: a.name.map(str::to_owned),
    })
}

#[test]
fn contacts2_db_every_contact_and_legacy_call() {
    let (status, t) =
        decode_file::<Android>(CONTACTS2_PATH, exhibit_fixtures::contacts2_db().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let contacts: Vec<Contact> = records(&t, "contacts");
    assert_eq!(contacts.len(), CONTACTS.len());
    for (c, want) in contacts.iter().zip(CONTACTS.iter()) {
        let what = format!("raw contact {}", want.raw_contact_id);
        assert_eq!(c.name.as_deref(), Some(want.display_name), "{what}");
        assert_eq!(c.given_name.as_deref(), Some(want.given_name), "{what}");
        assert_eq!(c.family_name.as_deref(), Some(want.family_name), "{what}");
        let phones: Vec<Labelled> = want
            .phones
            .iter()
            .map(|p| Labelled {
                value: p.number.to_owned(),
                label: Some(
                    match p.kind {
                        1 => "home",
                        2 => "mobile",
                        3 => "work",
                        7 => "other",
                        _ => unreachable!(),
                    }
                    .to_owned(),
                ),
            })
            .collect();
        assert_eq!(c.phones, phones, "{what}");
        let emails: Vec<Labelled> = want
            .emails
            .iter()
            .map(|e| Labelled {
                value: e.address.to_owned(),
                label: Some(
                    match e.kind {
                        1 => "home",
                        2 => "work",
                        3 => "other",
                        4 => "mobile",
                        _ => unreachable!(),
                    }
                    .to_owned(),
                ),
            })
            .collect();
        assert_eq!(c.emails, emails, "{what}");
        assert_eq!(c.organization.as_deref(), want.organization, "{what}");
        assert_eq!(c.account, expected_account(&want.account), "{what}");
        assert_eq!(c.deleted, want.deleted, "{what}");
        assert!(c.notes.is_empty(), "{what}: {:?}", c.notes);
        assert_eq!(
            c.provenance.table.as_deref(),
            Some("raw_contacts"),
            "{what}"
        );
        assert_eq!(c.provenance.row, Some(want.raw_contact_id), "{what}");
    }
    // Spelled out: Bob's two numbers and company, Zoë's local account, the deleted one.
    assert_eq!(
        contacts[1].phones,
        [
            Labelled {
                value: "+15551230002".into(),
                label: Some("mobile".into())
            },
            Labelled {
                value: "+15551239876".into(),
                label: Some("work".into())
            }
        ]
    );
    assert_eq!(contacts[2].name.as_deref(), Some("Zoë Ångström"));
    assert_eq!(contacts[2].account, None);
    assert_eq!(
        contacts[0].account,
        Some(Account {
            kind: Some("com.google".into()),
            name: Some(ACCOUNTS[0].name.unwrap().into())
        })
    );
    assert!(contacts[4].deleted);

    let calls: Vec<Call> = records(&t, "calls");
    assert_calls(&calls, &LEGACY_CALLS);
}

fn assert_calls(calls: &[Call], want: &[exhibit_fixtures::Call]) {
    assert_eq!(calls.len(), want.len());
    for (c, w) in calls.iter().zip(want) {
        let what = format!("call {}", w.id);
        let number = (!w.number.is_empty()).then_some(w.number);
        assert_eq!(c.number.as_deref(), number, "{what}");
        assert_eq!(c.name.as_deref(), w.name, "{what}");
        let kind = match w.kind {
            1 => CallType::Incoming,
            2 => CallType::Outgoing,
            3 => CallType::Missed,
            4 => CallType::Voicemail,
            5 => CallType::Rejected,
            6 => CallType::Blocked,
            7 => CallType::AnsweredExternally,
            _ => CallType::Unknown,
        };
        assert_eq!(c.call_type, kind, "{what}");
        assert_eq!(c.type_raw, Some(w.kind), "{what}");
        assert_time(&c.time, Some(w.date), "unix_ms", &what);
        assert_eq!(c.duration_s, Some(w.duration), "{what}");
        assert_eq!(c.service.as_deref(), Some("phone"), "{what}");
        if w.presentation == 2 {
            assert_eq!(
                c.notes,
                ["number withheld by the caller (presentation 2)"],
                "{what}"
            );
        } else {
            assert!(c.notes.is_empty(), "{what}: {:?}", c.notes);
        }
        assert_eq!(c.provenance.table.as_deref(), Some("calls"), "{what}");
        assert_eq!(c.provenance.row, Some(w.id), "{what}");
    }
}

#[test]
fn calllog_db_every_call() {
    let (status, t) = decode_file::<Android>(CALLLOG_PATH, exhibit_fixtures::calllog_db().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let calls: Vec<Call> = records(&t, "calls");
    assert_calls(&calls, &CALLS);
    let kinds: Vec<CallType> = calls.iter().map(|c| c.call_type).collect();
    assert!(kinds.contains(&CallType::Rejected) && kinds.contains(&CallType::Blocked));
    assert_eq!(calls[3].name.as_deref(), Some("Zoë Ångström"));
    assert_eq!(calls[3].duration_s, Some(312));
}

#[test]
fn sms_backup_every_message() {
    let (status, t) = decode_file::<Android>(ADB_SMS_BACKUP, exhibit_fixtures::sms_backup());
    assert!(ADB_SMS_BACKUP.ends_with(SMS_BACKUP_NAME));
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all = messages(&t);
    let mut want: Vec<&exhibit_fixtures::Sms> = SMS.iter().collect();
    want.sort_by_key(|s| s.date);
    assert_eq!(all.len(), want.len());
    let mut archived_seen = false;
    for (i, (m, s)) in all.iter().zip(want).enumerate() {
        let what = format!("element {i} (sms {})", s.id);
        let (direction, folder) = sms_folder(s.kind);
        assert_eq!(m.service, "sms", "{what}");
        assert_eq!(m.direction, direction, "{what}");
        assert_eq!(m.folder.as_deref(), Some(folder), "{what}");
        assert_eq!(m.thread, None, "{what}");
        if direction == Direction::Incoming {
            assert_eq!(m.from.as_deref(), Some(s.address), "{what}");
            assert!(m.to.is_empty(), "{what}");
        } else {
            assert_eq!(m.from, None, "{what}");
            assert_eq!(m.to, [s.address], "{what}");
        }
        assert_eq!(m.body.as_deref(), Some(s.body), "{what}");
        assert_time(&m.received, Some(s.date), "unix_ms", &what);
        assert_time(
            &m.sent,
            (s.date_sent != 0).then_some(s.date_sent),
            "unix_ms",
            &what,
        );
        assert_eq!(m.read, Some(s.read != 0), "{what}");
        assert_eq!(m.status.as_deref(), sms_status(s.status), "{what}");
        assert_eq!(
            m.provenance.index,
            Some(u64::try_from(i).unwrap()),
            "{what}"
        );
        assert_eq!(m.provenance.table, None, "{what}");
        assert_eq!(m.provenance.row, None, "{what}");
        let mut notes = vec![format!("handset number (self_phone): {SELF_PHONE}")];
        let archived = THREADS.iter().any(|th| th.id == s.thread_id && th.archived);
        if archived && !archived_seen {
            archived_seen = true;
            notes.push("conversation archived".to_owned());
        }
        assert_eq!(m.notes, notes, "{what}");
    }
    assert!(archived_seen);
}

#[test]
fn mms_backup_every_message() {
    let (status, t) = decode_file::<Android>(ADB_MMS_BACKUP, exhibit_fixtures::mms_backup());
    assert!(ADB_MMS_BACKUP.ends_with(MMS_BACKUP_NAME));
    assert_eq!(status, Status::OK);
    assert_eq!(problems(&t), Vec::<String>::new());
    let all = messages(&t);
    let mut want: Vec<&exhibit_fixtures::Mms> = MMS.iter().collect();
    want.sort_by_key(|m| m.date);
    assert_eq!(all.len(), want.len());
    for (i, (m, p)) in all.iter().zip(want).enumerate() {
        let what = format!("element {i} (pdu {})", p.id);
        assert_eq!(m.service, "mms", "{what}");
        let direction = if p.msg_box == 1 {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        assert_eq!(m.direction, direction, "{what}");
        let from = p
            .addresses
            .iter()
            .find(|a| a.kind == 137 && a.address != "insert-address-token")
            .map(|a| a.address);
        assert_eq!(m.from.as_deref(), from, "{what}");
        let to: Vec<&str> = p
            .addresses
            .iter()
            .filter(|a| a.kind == 151)
            .map(|a| a.address)
            .collect();
        assert_eq!(m.to, to, "{what}");
        assert_eq!(m.subject.as_deref(), p.subject, "{what}");
        // The agent concatenates the text parts without a separator.
        let body: String = p
            .parts
            .iter()
            .filter(|x| x.content_type == "text/plain")
            .filter_map(|x| x.text)
            .collect();
        assert_eq!(m.body.as_deref(), Some(body.as_str()), "{what}");
        assert_eq!(m.parts.len(), 1, "{what}");
        assert_eq!(m.parts[0].content_type.as_deref(), Some("text/plain"));
        assert_eq!(m.parts[0].text.as_deref(), Some(body.as_str()));
        assert_time(&m.received, Some(p.date), "unix_s", &what);
        assert_time(
            &m.sent,
            (p.date_sent != 0).then_some(p.date_sent),
            "unix_s",
            &what,
        );
        assert_eq!(m.read, Some(p.read != 0), "{what}");
        assert_eq!(
            m.provenance.index,
            Some(u64::try_from(i).unwrap()),
            "{what}"
        );
        assert_eq!(
            m.notes,
            [format!("handset number (self_phone): {SELF_PHONE}")],
            "{what}"
        );
    }
}

#[test]
fn corpus_contacts2_db_calls() {
    let Some(path) = common::corpus("plaso/test_data/android/contacts2.db") else {
        return;
    };
    let (status, t) = decode_file::<Android>(
        "data/data/com.android.providers.contacts/databases/contacts2.db",
        std::fs::read(path).unwrap(),
    );
    assert_eq!(status, Status::OK);
    // The sample's contact tables were trimmed away: one warning, the calls still decoded.
    assert_eq!(
        problems(&t),
        [
            "data/data/com.android.providers.contacts/databases/contacts2.db: table `raw_contacts` \
          is missing: no contacts decoded"
        ]
    );
    let calls: Vec<Call> = records(&t, "calls");
    assert_eq!(calls.len(), 3);
    let want = [
        (714, CallType::Missed, 3, 1_383_772_636_690, 0),
        (715, CallType::Outgoing, 2, 1_383_772_733_283, 126),
        (717, CallType::Incoming, 1, 1_383_782_616_690, 639),
    ];
    for (c, (id, kind, raw, date, duration)) in calls.iter().zip(want) {
        assert_eq!(c.number.as_deref(), Some("5404561685"));
        assert_eq!(c.name.as_deref(), Some("Barney"));
        assert_eq!(c.call_type, kind);
        assert_eq!(c.type_raw, Some(raw));
        assert_time(&c.time, Some(date), "unix_ms", "corpus call");
        assert_eq!(c.duration_s, Some(duration));
        assert_eq!(c.service.as_deref(), Some("phone"));
        assert_eq!(c.provenance.row, Some(id));
    }
    assert_eq!(
        calls[0].time.as_ref().unwrap().utc.as_deref(),
        Some("2013-11-06T21:17:16.690Z")
    );
}

const CALLS_SQL: &str = "CREATE TABLE calls (_id INTEGER PRIMARY KEY, number TEXT, date INTEGER, \
    duration INTEGER, type INTEGER, name TEXT, features INTEGER);
    INSERT INTO calls VALUES (1, '+15550001111', 1709280000000, 61, 1, 'Wal Only', 0);
    INSERT INTO calls VALUES (2, '+15550002222', 1709280100000, 0, 7, NULL, 1);";

#[test]
fn rows_only_in_the_wal_are_decoded() {
    let (main, wal) = common::wal_only_db(CALLS_SQL);
    let host = MemoryHost::input(CALLLOG_PATH, main.clone()).with_companion("-wal", wal);
    let (status, t) = run(&host);
    assert_eq!(status, Status::OK, "{:?}", t.logs);
    let calls: Vec<Call> = records(&t, "calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].name.as_deref(), Some("Wal Only"));
    assert_eq!(calls[1].call_type, CallType::AnsweredExternally);
    assert_eq!(calls[1].service.as_deref(), Some("video"));
    assert_eq!(calls[1].name, None);

    // Without its -wal the same main file holds none of them.
    let (_, t) = decode_file::<Android>(CALLLOG_PATH, main);
    assert!(records::<Call>(&t, "calls").is_empty());
}

#[test]
fn wal_mode_database_without_its_wal_is_read() {
    let main = common::wal_mode_db(CALLS_SQL);
    assert_eq!(main[18..20], [2, 2], "the header says WAL");
    let (status, t) = decode_file::<Android>(CALLLOG_PATH, main);
    assert_eq!(status, Status::OK, "{:?}", t.logs);
    assert_eq!(records::<Call>(&t, "calls").len(), 2);
}

#[test]
fn hot_journal_is_rolled_back_in_a_scratch_copy() {
    let (main, journal) = common::hot_journal_db("calls", "_id", "number");
    let host = MemoryHost::input(CALLLOG_PATH, main).with_companion("-journal", journal);
    let (status, t) = run(&host);
    assert_eq!(status, Status::OK);
    let calls: Vec<Call> = records(&t, "calls");
    assert_eq!(calls.len(), 1, "only the committed row");
    assert_eq!(calls[0].number.as_deref(), Some("committed"));
    // The test table is only (_id, number): that is said too.
    assert_eq!(
        problems(&t),
        [
            format!(
                "{CALLLOG_PATH}: its -journal holds an interrupted transaction, rolled back in a \
                 scratch copy as SQLite would on the handset; the uncommitted changes are not decoded"
            ),
            format!(
                "{CALLLOG_PATH}: table `calls` has no column `date`, `type`: those fields of its \
                 records are empty"
            )
        ]
    );
    // The scratch folder is gone once the decoder is done.
    let prefix = format!("exhibit-android-rollback-{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn corrupt_table_is_reported_and_the_others_kept() {
    let db = common::corrupt_table(&exhibit_fixtures::mmssms_db().unwrap(), "pdu");
    let (status, t) = decode_file::<Android>(MMSSMS_PATH, db);
    assert_eq!(status, Status::CORRUPT);
    let all = messages(&t);
    assert_eq!(
        all.len(),
        SMS.len(),
        "every SMS survives the damaged pdu table"
    );
    assert!(all.iter().all(|m| m.service == "sms"));
    let problems = problems(&t);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!("{MMSSMS_PATH}: table pdu")),
        "{problems:?}"
    );
    assert!(problems[0].contains("malformed"), "{problems:?}");
    assert_eq!(
        problems[1],
        format!("corrupt: {MMSSMS_PATH}: damaged database, records lost from table(s) pdu")
    );
}

#[test]
fn corrupt_page_in_the_only_table() {
    let db = common::corrupt_table(&exhibit_fixtures::calllog_db().unwrap(), "calls");
    let (status, t) = decode_file::<Android>(CALLLOG_PATH, db);
    assert_eq!(status, Status::CORRUPT);
    assert!(t.records.is_empty());
    assert!(problems(&t).iter().all(|p| p.contains(CALLLOG_PATH)));
}

#[test]
fn not_sqlite_is_corrupt_with_the_file_name() {
    let (status, t) = decode_file::<Android>(
        MMSSMS_PATH,
        b"<html>definitely not a database</html>".to_vec(),
    );
    assert_eq!(status, Status::CORRUPT);
    assert!(t.records.is_empty());
    assert_eq!(
        problems(&t),
        [format!(
            "corrupt at offset 0x0: {MMSSMS_PATH}: not an SQLite database (starts with \"<html>definitely\")"
        )]
    );
    for data in [Vec::new(), b"SQLite".to_vec(), vec![0; 4096]] {
        let (status, t) = decode_file::<Android>(MMSSMS_PATH, data);
        assert_eq!(status, Status::CORRUPT);
        assert!(t.records.is_empty());
        assert!(problems(&t)[0].contains(MMSSMS_PATH));
    }
}

#[test]
fn reduced_schema_still_gives_records() {
    // An old sms table (no date_sent, status, read), a pdu without sub_cs and
    // date_sent, no part/addr/threads tables at all.
    let db = common::build_db(
        "CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, \
             date INTEGER, type INTEGER, body TEXT);
         INSERT INTO sms VALUES (7, 3, '+15550007777', 1709280000000, 1, 'old schema');
         INSERT INTO sms VALUES (8, 3, NULL, 0, 9, NULL);
         CREATE TABLE pdu (_id INTEGER PRIMARY KEY, thread_id INTEGER, date INTEGER, \
             msg_box INTEGER, sub TEXT);
         INSERT INTO pdu VALUES (1, 3, 1709284200, 2, 'no parts');",
    );
    let (status, t) = decode_file::<Android>(MMSSMS_PATH, db);
    assert_eq!(status, Status::OK);
    let all = messages(&t);
    assert_eq!(all.len(), 3);
    let m = &all[0];
    assert_eq!(m.from.as_deref(), Some("+15550007777"));
    assert_eq!(m.body.as_deref(), Some("old schema"));
    assert_eq!(m.sent, None);
    assert_eq!(m.read, None);
    assert_eq!(m.status, None);
    assert_time(&m.time, Some(1_709_280_000_000), "unix_ms", "old sms");
    assert!(m.notes.is_empty());
    let odd = &all[1];
    assert_eq!(odd.direction, Direction::Unknown);
    assert_eq!(odd.folder, None);
    assert_eq!(odd.time, None, "date 0 is unknown");
    assert_eq!(odd.notes, ["unknown message type 9"]);
    let mms = &all[2];
    assert_eq!(mms.service, "mms");
    assert_eq!(mms.direction, Direction::Outgoing);
    assert_eq!(mms.subject.as_deref(), Some("no parts"));
    assert!(mms.parts.is_empty() && mms.to.is_empty() && mms.body.is_none());
    let warned = problems(&t);
    for table in ["threads", "addr", "part"] {
        assert!(
            warned
                .iter()
                .any(|p| p.starts_with(&format!("{MMSSMS_PATH}: table `{table}` is missing"))),
            "{table}: {warned:?}"
        );
    }
    assert_eq!(warned.len(), 3, "{warned:?}");

    // Contacts of an old release: account columns on the raw contact, no
    // accounts table, no mimetypes (so only display names).
    let db = common::build_db(
        "CREATE TABLE raw_contacts (_id INTEGER PRIMARY KEY, account_name TEXT, \
             account_type TEXT, deleted INTEGER, display_name TEXT);
         INSERT INTO raw_contacts VALUES (1, 'old@example.com', 'com.google', 0, 'Old Timer');",
    );
    let (status, t) = decode_file::<Android>(CONTACTS2_PATH, db);
    assert_eq!(status, Status::OK);
    let contacts: Vec<Contact> = records(&t, "contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].name.as_deref(), Some("Old Timer"));
    assert_eq!(
        contacts[0].account,
        Some(Account {
            kind: Some("com.google".into()),
            name: Some("old@example.com".into())
        })
    );
    assert_eq!(
        problems(&t),
        [format!(
            "{CONTACTS2_PATH}: table `data` is missing: contacts have only their display names"
        )]
    );
}

#[test]
fn missing_sms_table_warns_and_mms_still_decoded() {
    let db = common::build_db(
        "CREATE TABLE pdu (_id INTEGER PRIMARY KEY, date INTEGER, msg_box INTEGER);
         INSERT INTO pdu VALUES (4, 1709284200, 1);
         CREATE TABLE threads (_id INTEGER PRIMARY KEY, recipient_ids TEXT);
         CREATE TABLE canonical_addresses (_id INTEGER PRIMARY KEY, address TEXT);
         CREATE TABLE addr (_id INTEGER PRIMARY KEY, msg_id INTEGER, address TEXT, type INTEGER);
         CREATE TABLE part (_id INTEGER PRIMARY KEY, mid INTEGER, seq INTEGER, ct TEXT, text TEXT);
         INSERT INTO part VALUES (9, 99, 0, 'text/plain', 'part of a deleted MMS');",
    );
    let (status, t) = decode_file::<Android>(MMSSMS_PATH, db);
    assert_eq!(status, Status::OK);
    let all = messages(&t);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].notes, ["the sender is not stored"]);
    assert_eq!(
        problems(&t),
        [
            format!("{MMSSMS_PATH}: table `sms` is missing: no SMS decoded"),
            format!(
                "{MMSSMS_PATH}: 1 `part` rows belong to no message in `pdu` (left from deleted MMS)"
            ),
        ]
    );
}

#[test]
fn invalid_utf8_text_is_kept_lossily_with_a_note() {
    let db = common::build_db(
        "CREATE TABLE sms (_id INTEGER PRIMARY KEY, address TEXT, date INTEGER, type INTEGER, \
             body TEXT);
         INSERT INTO sms VALUES (1, '+1555', 1709280000000, 1, CAST(x'48C3A96C6CFF6F' AS TEXT));
         INSERT INTO sms VALUES (2, x'2B31353535', 1709280000000, 1, 'ok');",
    );
    let (status, t) = decode_file::<Android>(MMSSMS_PATH, db);
    assert_eq!(status, Status::OK);
    let all = messages(&t);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].body.as_deref(), Some("Héll\u{fffd}o"));
    assert_eq!(
        all[0].notes,
        ["`sms.body` is not valid UTF-8; invalid bytes replaced with U+FFFD"]
    );
    assert_eq!(all[1].from.as_deref(), Some("+1555"));
    assert_eq!(
        all[1].notes,
        ["`sms.address` holds a BLOB; read as UTF-8 text"]
    );
}

#[test]
fn mojibake_subject_and_addresses_are_decoded() {
    // PduPersister keeps header strings as ISO-8859-1 characters of their bytes.
    let latin1 = |s: &str| -> String { s.bytes().map(char::from).collect() };
    let db = common::build_db(&format!(
        "CREATE TABLE pdu (_id INTEGER PRIMARY KEY, date INTEGER, msg_box INTEGER, sub TEXT, \
             sub_cs INTEGER);
         INSERT INTO pdu VALUES (1, 1709284200, 1, '{}', 106);
         CREATE TABLE addr (_id INTEGER PRIMARY KEY, msg_id INTEGER, address TEXT, type INTEGER, \
             charset INTEGER);
         INSERT INTO addr VALUES (1, 1, '{}', 137, 106);
         INSERT INTO addr VALUES (2, 1, 'insert-address-token', 151, 106);
         INSERT INTO addr VALUES (3, 1, 'cc@example.com', 130, 106);",
        latin1("Grüße 🌅"),
        latin1("zoë@example.se"),
    ));
    let (_, t) = decode_file::<Android>(MMSSMS_PATH, db);
    let m = &messages(&t)[0];
    assert_eq!(m.subject.as_deref(), Some("Grüße 🌅"));
    assert_eq!(m.from.as_deref(), Some("zoë@example.se"));
    assert_eq!(m.to, ["cc@example.com"]);
    assert_eq!(m.notes, ["cc: cc@example.com"]);
}

#[test]
fn truncated_backup_keeps_the_messages_before_the_break() {
    let full = exhibit_fixtures::sms_backup();
    let cut = full[..full.len() / 2].to_vec();
    let (status, t) = decode_file::<Android>(ADB_SMS_BACKUP, cut);
    assert_eq!(status, Status::CORRUPT);
    let kept = messages(&t);
    assert!(!kept.is_empty() && kept.len() < SMS.len(), "{}", kept.len());
    let problems = problems(&t);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&format!(
            "{ADB_SMS_BACKUP}: damaged backup stream after {} messages",
            kept.len()
        )),
        "{problems:?}"
    );
    // What was kept is exactly the start of the full decode.
    let (_, whole) = decode_file::<Android>(ADB_SMS_BACKUP, full);
    assert_eq!(kept[..], messages(&whole)[..kept.len()]);
}

#[test]
fn backup_stream_oddities() {
    let deflate = |s: &str| {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(s.as_bytes()).unwrap();
        z.finish().unwrap()
    };
    // Numbers as JSON numbers, a non-object element, an unknown key, and recipients
    // that differ from the address.
    let json = r#"[{"address":"+1","body":"a","date":1709280000000,"type":2,"read":1,
        "recipients":["+1","+2"],"x_vendor":"?"}, 42, {"type":"1","body":"b","date":"0"}]"#;
    let (status, t) = decode_file::<Android>(ADB_SMS_BACKUP, deflate(json));
    assert_eq!(status, Status::OK);
    let all = messages(&t);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].to, ["+1"]);
    assert_eq!(all[0].direction, Direction::Outgoing);
    assert_eq!(
        all[0].notes,
        ["conversation with: +1, +2", "unrecognised keys: x_vendor"]
    );
    assert_eq!(all[1].provenance.index, Some(2));
    assert_eq!(all[1].time, None);
    assert_eq!(
        problems(&t),
        [format!(
            "{ADB_SMS_BACKUP}: element 1 is a number, not a message object: skipped"
        )]
    );

    // Not an array, not zlib, trailing garbage.
    for (data, want) in [
        (deflate(r#"{"a":1}"#), "expected a JSON array of messages"),
        (b"plain text".to_vec(), "after 0 messages"),
        (deflate("[] []"), "trailing characters"),
    ] {
        let (status, t) = decode_file::<Android>(ADB_SMS_BACKUP, data);
        assert_eq!(status, Status::CORRUPT);
        assert!(problems(&t)[0].contains(want), "{:?}", problems(&t));
    }
}

#[test]
fn mutated_backups_never_panic() {
    for (path, base) in [
        (ADB_SMS_BACKUP, exhibit_fixtures::sms_backup()),
        (ADB_MMS_BACKUP, exhibit_fixtures::mms_backup()),
    ] {
        for data in mutations(&base, 300, 6) {
            let (status, _) = decode_file::<Android>(path, data);
            assert!(matches!(status, Status::OK | Status::CORRUPT), "{status:?}");
        }
    }
}

#[test]
fn mutated_databases_never_panic() {
    for (path, base) in [
        (CALLLOG_PATH, exhibit_fixtures::calllog_db().unwrap()),
        (CONTACTS2_PATH, exhibit_fixtures::contacts2_db().unwrap()),
        (MMSSMS_PATH, exhibit_fixtures::mmssms_db().unwrap()),
    ] {
        for data in mutations(&base, 40, 8) {
            let (status, _) = decode_file::<Android>(path, data);
            assert!(matches!(status, Status::OK | Status::CORRUPT), "{status:?}");
        }
    }
}

#[test]
fn paths_match_the_dump_layouts() {
    let matcher = |literal: bool| {
        let mut b = globset::GlobSetBuilder::new();
        for p in Android::PATHS {
            b.add(
                globset::GlobBuilder::new(p)
                    .literal_separator(literal)
                    .build()
                    .unwrap(),
            );
        }
        b.build().unwrap()
    };
    for set in [matcher(true), matcher(false)] {
        for yes in [
            MMSSMS_PATH,
            CONTACTS2_PATH,
            CALLLOG_PATH,
            "data/user_de/0/com.android.providers.telephony/databases/mmssms.db",
            "filesystem1/data/user_de/0/com.android.providers.contacts/databases/calllog.db",
            "dump/data/data/com.android.providers.contacts/databases/contacts2.db",
            "apps/com.android.providers.telephony/db/mmssms.db",
            "apps/com.android.providers.telephony/d_db/mmssms.db",
            "apps/com.android.providers.contacts/db/contacts2.db",
            "apps/com.android.providers.contacts/d_db/calllog.db",
            ADB_SMS_BACKUP,
            ADB_MMS_BACKUP,
        ] {
            assert!(set.is_match(yes), "{yes}");
        }
        for no in [
            "data/data/com.example/databases/mmssms.db",
            "data/data/com.android.providers.telephony/databases/mmssms.db-wal",
            "data/data/com.android.providers.telephony/databases/telephony.db",
            "apps/com.android.providers.telephony/d_f/000000_sms_backup.txt",
            "data/data/com.android.providers.contacts/databases/profile.db",
        ] {
            assert!(!set.is_match(no), "{no}");
        }
    }
}

#[test]
fn other_file_names_are_not_mine() {
    let (status, _) = decode_file::<Android>("apps/x/db/other.db", Vec::new());
    assert_eq!(status, Status::NOT_MINE);
}
