//! Damaged databases inside a full-file-system tar, decoded end to end:
//! `mmssms.db` with a corrupt page, a PNG named `mmssms.db`, and an
//! `mmssms.db` whose `sms` table lacks the `body` column. Each time the file
//! is still extracted byte for byte, a warning or error names it, the other
//! databases still give their records, the run completes and verifies.

use crate::decode::{decoding_plugins, records};
use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use serde_json::Value;

/// Extracts the Android FFS tar whose `mmssms.db` holds `db`.
fn extract_with_mmssms(db: Vec<u8>) -> (Work, std::path::PathBuf, Vec<Value>, Option<i32>) {
    let w = Work::new();
    let mut tree = fx::android_tree().unwrap();
    let entry = tree.iter_mut().find(|e| e.path == fx::MMSSMS_PATH).unwrap();
    entry.kind = fx::EntryKind::File(db.clone());
    let tar = w.write("evidence/ffs.tar", &fx::tar_bytes_of(&tree).unwrap());
    let plugins = decoding_plugins(&w);
    let case = w.path("case");
    let out = exhibit!("extract", tar, "--case", case, "--plugins", plugins);
    let log = log(&case);
    assert_eq!(log.last().unwrap()["action"], "run_finished");
    let d = &extracted(&log, fx::MMSSMS_PATH)["details"];
    assert_eq!(d["complete"], true);
    assert_eq!(d["hashes"]["sha256"], fx::sha256_hex(&db));
    // The other databases still decoded.
    let calls = records(&case, "calls");
    assert!(
        calls
            .iter()
            .any(|c| c["provenance"]["file"] == format!("files/{}", fx::CALLLOG_PATH)),
        "{calls:?}"
    );
    assert_eq!(
        records(&case, "contacts").len(),
        fx::CONTACTS.len(),
        "contacts2.db still decoded"
    );
    assert_code(&exhibit!("verify", case), 0);
    (w, case, log, out.status.code())
}

/// The warnings and errors that name `mmssms.db`.
fn about_mmssms(log: &[Value]) -> Vec<(String, String)> {
    log.iter()
        .filter(|e| e["action"] == "warning" || e["action"] == "error")
        .filter_map(|e| {
            let m = e["details"]["message"].as_str()?;
            m.contains(fx::MMSSMS_PATH)
                .then(|| (e["action"].as_str().unwrap().to_owned(), m.to_owned()))
        })
        .collect()
}

fn decoded_status(log: &[Value]) -> Value {
    let file = format!("files/{}", fx::MMSSMS_PATH);
    actions(log, "file_decoded")
        .into_iter()
        .find(|e| e["details"]["file"] == file.as_str())
        .expect("mmssms.db decoded")["details"]["status"]
        .clone()
}

#[test]
fn a_corrupt_page_in_mmssms_is_an_error_naming_it() {
    let db = fx::sqlite_tools::corrupt_table(&fx::mmssms_db().unwrap(), "sms");
    let (_w, case, log, code) = extract_with_mmssms(db);
    assert_eq!(code, Some(2));
    let named = about_mmssms(&log);
    let file = format!("files/{}", fx::MMSSMS_PATH);
    let path = fx::MMSSMS_PATH;
    assert_eq!(
        named,
        [
            (
                "warning".to_owned(),
                format!(
                    "{file}: {path}: table sms, after 0 rows: database disk image is malformed"
                )
            ),
            (
                "error".to_owned(),
                format!(
                    "{file}: corrupt: {path}: damaged database, records lost from table(s) sms"
                )
            ),
            (
                "error".to_owned(),
                format!(
                    "decoder `android` ended with status corrupt on {file}; the other files are decoded"
                )
            ),
        ]
    );
    assert_eq!(decoded_status(&log), "corrupt");
    // The MMS in the undamaged tables are still read.
    let mms = records(&case, "messages")
        .into_iter()
        .filter(|m| m["service"] == "mms")
        .count();
    assert_eq!(mms, fx::MMS.len());
}

#[test]
fn a_png_named_mmssms_db_is_an_error_naming_it() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(fx::pseudo_random(4096, 0x504e47));
    let (_w, case, log, code) = extract_with_mmssms(png);
    assert_eq!(code, Some(2));
    let named = about_mmssms(&log);
    let file = format!("files/{}", fx::MMSSMS_PATH);
    assert_eq!(
        named,
        [
            (
                "error".to_owned(),
                format!(
                    "{file}: corrupt at offset 0x0: {}: not an SQLite database (starts with \".PNG........IHDR\")",
                    fx::MMSSMS_PATH
                )
            ),
            (
                "error".to_owned(),
                format!(
                    "decoder `android` ended with status corrupt on {file}; the other files are decoded"
                )
            ),
        ]
    );
    assert_eq!(decoded_status(&log), "corrupt");
    assert!(
        records(&case, "messages").is_empty(),
        "no message invented from a picture"
    );
}

#[test]
fn an_sms_table_without_its_body_column_still_gives_the_messages() {
    let db = fx::sqlite_tools::build_db(
        "CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, \
             date INTEGER, type INTEGER);
         INSERT INTO sms VALUES (1, 1, '+15550001111', 1709280000000, 1);
         INSERT INTO sms VALUES (2, 1, '+15550001111', 1709280060000, 2);",
    );
    let (_w, case, log, code) = extract_with_mmssms(db);
    assert_eq!(code, Some(2));
    let sms: Vec<Value> = records(&case, "messages")
        .into_iter()
        .filter(|m| m["service"] == "sms")
        .collect();
    assert_eq!(sms.len(), 2);
    assert_eq!(sms.iter().filter(|m| m["body"].is_null()).count(), 2);
    // The missing tables are named, and so is the missing column: the
    // messages are still given, with their bodies empty.
    let file = format!("files/{}", fx::MMSSMS_PATH);
    let path = fx::MMSSMS_PATH;
    assert_eq!(
        about_mmssms(&log),
        [
            (
                "warning".to_owned(),
                format!(
                    "{file}: {path}: table `threads` is missing: recipients of drafts are not resolved and deleted conversations not noticed"
                )
            ),
            (
                "warning".to_owned(),
                format!(
                    "{file}: {path}: table `sms` has no column `body`: those fields of its records are empty"
                )
            ),
            (
                "warning".to_owned(),
                format!("{file}: {path}: table `pdu` is missing: no MMS decoded")
            ),
        ]
    );
    assert_eq!(decoded_status(&log), "ok");
}
