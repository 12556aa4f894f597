//! Parity: every fixture decoded through the safe trait and through the C
//! descriptor gives byte-identical transcripts (STYLE rule 11), damaged and
//! mutated inputs included.
#![allow(clippy::unwrap_used)]

use exhibit_fixtures::sqlite_tools as common;

use exhibit_artifacts_ios::{Ios, exhibit_static_descriptor};
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{decode_both_ways, mutations};

const SMS_PATH: &str = "HomeDomain/Library/SMS/sms.db";
const AB_PATH: &str = "HomeDomain/Library/AddressBook/AddressBook.sqlitedb";
const CALLS_PATH: &str = "HomeDomain/Library/CallHistoryDB/CallHistory.storedata";

/// Decodes `data` at `path` (with optional companions) both ways and
/// requires identical transcripts; returns the status and record count.
fn both_ways(path: &str, data: &[u8], companions: &[(&str, &[u8])]) -> (Status, usize) {
    let (status, transcript) =
        decode_both_ways::<Ios>(exhibit_static_descriptor(), path, data, companions);
    (status, transcript.records.len())
}

#[test]
fn fixture_databases() {
    for (path, data, records) in [
        (
            SMS_PATH,
            exhibit_fixtures::sms_db().unwrap(),
            exhibit_fixtures::IOS_MESSAGES.len(),
        ),
        (
            AB_PATH,
            exhibit_fixtures::address_book_db().unwrap(),
            exhibit_fixtures::IOS_CONTACTS.len(),
        ),
        (
            CALLS_PATH,
            exhibit_fixtures::call_history_db().unwrap(),
            exhibit_fixtures::IOS_CALLS.len(),
        ),
    ] {
        assert_eq!(both_ways(path, &data, &[]), (Status::OK, records), "{path}");
    }
}

#[test]
fn wal_companion() {
    let (main, wal) = common::wal_only_db(
        "CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, ZADDRESS VARCHAR, ZORIGINATED INTEGER);
         INSERT INTO ZCALLRECORD VALUES (1, '+1', 1);",
    );
    assert_eq!(
        both_ways(CALLS_PATH, &main, &[("-wal", &wal)]),
        (Status::OK, 1)
    );
}

#[test]
fn damaged_inputs() {
    let db = common::corrupt_table(&exhibit_fixtures::sms_db().unwrap(), "message");
    assert_eq!(both_ways(SMS_PATH, &db, &[]), (Status::CORRUPT, 0));
    assert_eq!(both_ways(AB_PATH, b"not sqlite", &[]), (Status::CORRUPT, 0));
}

/// Deterministic byte mutations: whatever the damage, no panic, and both
/// paths agree.
#[test]
fn mutated_inputs() {
    for (path, base) in [
        (SMS_PATH, exhibit_fixtures::sms_db().unwrap()),
        (AB_PATH, exhibit_fixtures::address_book_db().unwrap()),
        (CALLS_PATH, exhibit_fixtures::call_history_db().unwrap()),
    ] {
        for data in mutations(&base, 20, 6) {
            let (status, _) = both_ways(path, &data, &[]);
            assert!(
                matches!(status, Status::OK | Status::CORRUPT),
                "{path}: {status:?}"
            );
        }
    }
}
