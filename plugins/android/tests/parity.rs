//! Parity: every fixture decoded through the safe trait and through the C
//! descriptor gives byte-identical transcripts (STYLE rule 11), damaged and
//! mutated inputs included.
#![allow(clippy::unwrap_used)]

use exhibit_fixtures::sqlite_tools as common;

use exhibit_artifacts_android::{Android, exhibit_static_descriptor};
use exhibit_fixtures::{CALLLOG_PATH, CONTACTS2_PATH, MMSSMS_PATH};
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{decode_both_ways, mutations};

const ADB_SMS_BACKUP: &str = "apps/com.android.providers.telephony/d_f/000000_sms_backup";
const ADB_MMS_BACKUP: &str = "apps/com.android.providers.telephony/d_f/000001_mms_backup";

/// Decodes `data` at `path` (with optional companions) both ways and
/// requires identical transcripts; returns the status and record count.
fn both_ways(path: &str, data: &[u8], companions: &[(&str, &[u8])]) -> (Status, usize) {
    let (status, transcript) =
        decode_both_ways::<Android>(exhibit_static_descriptor(), path, data, companions);
    (status, transcript.records.len())
}

#[test]
fn fixture_databases_and_backups() {
    let sms = exhibit_fixtures::SMS.len() + exhibit_fixtures::MMS.len();
    let contacts = exhibit_fixtures::CONTACTS.len() + exhibit_fixtures::LEGACY_CALLS.len();
    for (path, data, records) in [
        (MMSSMS_PATH, exhibit_fixtures::mmssms_db().unwrap(), sms),
        (
            CONTACTS2_PATH,
            exhibit_fixtures::contacts2_db().unwrap(),
            contacts,
        ),
        (
            CALLLOG_PATH,
            exhibit_fixtures::calllog_db().unwrap(),
            exhibit_fixtures::CALLS.len(),
        ),
        (
            ADB_SMS_BACKUP,
            exhibit_fixtures::sms_backup(),
            exhibit_fixtures::SMS.len(),
        ),
        (
            ADB_MMS_BACKUP,
            exhibit_fixtures::mms_backup(),
            exhibit_fixtures::MMS.len(),
        ),
    ] {
        assert_eq!(both_ways(path, &data, &[]), (Status::OK, records), "{path}");
    }
}

#[test]
fn wal_companion() {
    let (main, wal) = common::wal_only_db(
        "CREATE TABLE calls (_id INTEGER PRIMARY KEY, number TEXT, type INTEGER);
         INSERT INTO calls VALUES (1, '+1', 1);",
    );
    assert_eq!(
        both_ways(CALLLOG_PATH, &main, &[("-wal", &wal)]),
        (Status::OK, 1)
    );
}

#[test]
fn damaged_inputs() {
    let db = common::corrupt_table(&exhibit_fixtures::mmssms_db().unwrap(), "pdu");
    assert_eq!(
        both_ways(MMSSMS_PATH, &db, &[]),
        (Status::CORRUPT, exhibit_fixtures::SMS.len())
    );
    assert_eq!(
        both_ways(MMSSMS_PATH, b"not sqlite", &[]),
        (Status::CORRUPT, 0)
    );
    let backup = exhibit_fixtures::sms_backup();
    assert_eq!(
        both_ways(ADB_SMS_BACKUP, &backup[..backup.len() / 2], &[]).0,
        Status::CORRUPT
    );
}

/// Deterministic byte mutations: whatever the damage, no panic, and both
/// paths agree.
#[test]
fn mutated_inputs() {
    for (path, base, count) in [
        (ADB_SMS_BACKUP, exhibit_fixtures::sms_backup(), 200),
        (ADB_MMS_BACKUP, exhibit_fixtures::mms_backup(), 200),
        (CALLLOG_PATH, exhibit_fixtures::calllog_db().unwrap(), 30),
        (MMSSMS_PATH, exhibit_fixtures::mmssms_db().unwrap(), 30),
    ] {
        for data in mutations(&base, count, 6) {
            let (status, _) = both_ways(path, &data, &[]);
            assert!(
                matches!(status, Status::OK | Status::CORRUPT),
                "{path}: {status:?}"
            );
        }
    }
}
