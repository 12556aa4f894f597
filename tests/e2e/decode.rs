//! Artifact decoding end to end: the real `android` decoder library run by
//! `exhibit extract` and `exhibit decode` over the Android full-file-system
//! fixture; provenance, custody entries, idempotence, time zones, and a
//! corrupt database that must not stop the other decoders.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Format plugins plus the Android decoder.
pub fn decoding_plugins(w: &Work) -> PathBuf {
    w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("exhibit_format_folder", "exhibit_format_folder"),
        ("exhibit_format_zip", "exhibit_format_zip"),
        (
            "exhibit_format_android_backup",
            "exhibit_format_android_backup",
        ),
        ("exhibit_artifacts_android", "exhibit_artifacts_android"),
    ])
}

/// The records of one kind in a case.
pub fn records(case: &Path, kind: &str) -> Vec<Value> {
    let path = case.join(format!("artifacts/{kind}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record is JSON"))
        .collect()
}

/// Every record's provenance names an extracted file with the SHA-256 the
/// log gives it, and every record file is logged with its own SHA-256.
pub fn assert_provenance(case: &Path, log: &[Value]) {
    assert_provenance_of(case, log, "android ");
}

/// [`assert_provenance`] for the decoder whose `name version` starts with `decoder`.
pub fn assert_provenance_of(case: &Path, log: &[Value], decoder: &str) {
    let mut extracted = std::collections::BTreeMap::new();
    for e in actions(log, "file_extracted") {
        extracted.insert(
            e["details"]["path"].as_str().unwrap().to_owned(),
            e["details"]["hashes"]["sha256"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for kind in ["messages", "contacts", "calls"] {
        for r in records(case, kind) {
            let p = &r["provenance"];
            let file = p["file"].as_str().expect("provenance.file");
            assert_eq!(
                extracted.get(file).map(String::as_str),
                p["sha256"].as_str(),
                "{kind} record names {file} with the wrong hash"
            );
            assert!(p["decoder"].as_str().unwrap().starts_with(decoder), "{p}");
            assert!(
                p["row"].is_i64() || p["index"].is_u64(),
                "no row or index: {p}"
            );
        }
        let written: Vec<&Value> = actions(log, "artifact_written")
            .into_iter()
            .filter(|e| e["details"]["kind"] == kind)
            .collect();
        let last = written.last().expect("record file logged");
        assert_eq!(
            last["details"]["hashes"]["sha256"],
            sha256_file(&case.join(format!("artifacts/{kind}.jsonl"))).as_str()
        );
        assert_eq!(last["details"]["records"], records(case, kind).len());
    }
}

fn extract_ffs(w: &Work, name: &str, extra: &[&str]) -> PathBuf {
    let plugins = decoding_plugins(w);
    let case = w.path(name);
    let mut args: Vec<std::ffi::OsString> = vec![
        "extract".into(),
        fx::COMMITTED_TAR.into(),
        "--case".into(),
        case.clone().into(),
        "--plugins".into(),
        plugins.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = run(&refs);
    assert_code(&out, 0);
    case
}

#[test]
fn extraction_decodes_messages_contacts_and_calls_with_provenance() {
    let w = Work::new();
    let case = extract_ffs(&w, "case", &[]);
    let log = log(&case);
    assert_provenance(&case, &log);
    let decoded = actions(&log, "file_decoded");
    assert!(
        decoded.iter().all(|e| e["details"]["status"] == "ok"),
        "{decoded:?}"
    );
    for db in [fx::MMSSMS_PATH, fx::CONTACTS2_PATH, fx::CALLLOG_PATH] {
        let e = decoded
            .iter()
            .find(|e| e["details"]["file"] == format!("files/{db}"))
            .unwrap_or_else(|| panic!("{db} was not decoded"));
        assert_eq!(e["details"]["input_checked"], true, "{db}");
    }
    // Every SMS row of the database is a record, with its text intact.
    let messages = records(&case, "messages");
    for sms in fx::SMS.iter() {
        let found = messages.iter().find(|m| {
            m["provenance"]["table"] == "sms"
                && m["provenance"]["row"] == sms.id
                && m["provenance"]["file"] == format!("files/{}", fx::MMSSMS_PATH)
        });
        let m = found.unwrap_or_else(|| panic!("sms {} missing", sms.id));
        assert_eq!(m["body"], sms.body, "sms {}", sms.id);
        assert_eq!(m["received"]["raw"], sms.date, "sms {}", sms.id);
    }
    // The working copies are gone and verify still passes.
    assert!(!case.join(".decode-tmp").exists());
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn no_decode_skips_the_decoders_and_decode_adds_them_later() {
    let w = Work::new();
    let case = extract_ffs(&w, "case", &["--no-decode"]);
    assert!(!case.join("artifacts").exists());
    assert!(actions(&log(&case), "file_decoded").is_empty());
    let plugins = decoding_plugins(&w);
    let out = exhibit!(
        "decode",
        case,
        "--plugins",
        plugins,
        "--examiner",
        "B. Second"
    );
    assert_code(&out, 0);
    let log = log(&case);
    let reopened = actions(&log, "case_reopened");
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0]["details"]["examiner"], "B. Second");
    assert_eq!(log.last().unwrap()["action"], "run_finished");
    assert_provenance(&case, &log);
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn decoding_again_gives_the_same_record_files() {
    let w = Work::new();
    let case = extract_ffs(&w, "case", &[]);
    let first: Vec<String> = ["messages", "contacts", "calls"]
        .iter()
        .map(|k| sha256_file(&case.join(format!("artifacts/{k}.jsonl"))))
        .collect();
    let plugins = decoding_plugins(&w);
    assert_code(&exhibit!("decode", case, "--plugins", plugins), 0);
    let log = log(&case);
    for (kind, sha) in ["messages", "contacts", "calls"].iter().zip(&first) {
        let written: Vec<&Value> = actions(&log, "artifact_written")
            .into_iter()
            .filter(|e| e["details"]["kind"] == *kind)
            .collect();
        assert_eq!(written.len(), 2, "{kind}: one per decoding run");
        assert_eq!(written[1]["details"]["hashes"]["sha256"], sha.as_str());
        assert_eq!(written[1]["details"]["replaces_sha256"], sha.as_str());
    }
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn records_are_identical_under_two_time_zones() {
    let w = Work::new();
    let plugins = decoding_plugins(&w);
    let mut digests = Vec::new();
    for tz in ["UTC", "America/New_York"] {
        let case = w.path(&format!("case-{}", tz.replace('/', "-")));
        let out = std::process::Command::new(exhibit_bin())
            .args(["extract", fx::COMMITTED_TAR, "--case"])
            .arg(&case)
            .arg("--plugins")
            .arg(&plugins)
            .env("TZ", tz)
            .env_remove("EXHIBIT_PLUGIN_PATH")
            .output()
            .expect("run exhibit");
        assert_code(&out, 0);
        digests.push(
            ["messages", "contacts", "calls"]
                .map(|k| sha256_file(&case.join(format!("artifacts/{k}.jsonl")))),
        );
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn artifacts_command_lists_records_newest_first() {
    let w = Work::new();
    let case = extract_ffs(&w, "case", &[]);
    let out = exhibit!("artifacts", case, "--kind", "messages");
    assert_code(&out, 0);
    let text = stdout(&out);
    let newest = fx::SMS.iter().max_by_key(|s| s.date).unwrap();
    let oldest = fx::SMS.iter().min_by_key(|s| s.date).unwrap();
    let pos = |body: &str| {
        let cut: String = body.chars().take(20).collect();
        text.find(&cut)
            .unwrap_or_else(|| panic!("{cut:?} not in\n{text}"))
    };
    assert!(pos(newest.body) < pos(oldest.body), "{text}");

    let json = exhibit!("artifacts", case, "--kind", "calls", "--json");
    assert_code(&json, 0);
    let lines: Vec<Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&Value> = lines.iter().filter(|l| l["type"] == "record").collect();
    assert_eq!(calls.len(), records(&case, "calls").len());
    let times: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["data"]["record"]["time"]["utc"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
}

/// A database whose pages are damaged is an error naming the file; the
/// other databases are still decoded and the run completes with errors.
#[test]
fn a_corrupt_database_does_not_stop_the_other_decoders() {
    let w = Work::new();
    let mut tree = fx::android_tree().unwrap();
    let entry = tree
        .iter_mut()
        .find(|e| e.path == fx::CONTACTS2_PATH)
        .expect("contacts2.db in the tree");
    let fx::EntryKind::File(data) = &mut entry.kind else {
        panic!("contacts2.db is a file")
    };
    // Keep the header, wreck every page after the first.
    for b in data.iter_mut().skip(4096) {
        *b = 0xA5;
    }
    let tar = w.path("damaged.tar");
    std::fs::write(&tar, fx::tar_bytes_of(&tree).unwrap()).unwrap();
    let plugins = decoding_plugins(&w);
    let case = w.path("case");
    let out = exhibit!("extract", tar, "--case", case, "--plugins", plugins);
    assert_code(&out, 2);
    let log = log(&case);
    let errors = actions(&log, "error");
    assert!(
        errors.iter().any(
            |e| e["details"]["file"] == format!("files/{}", fx::CONTACTS2_PATH)
                && e["details"]["decoder"] == "android"
        ),
        "{errors:?}"
    );
    // The SMS database and the call log still gave their records.
    assert!(
        records(&case, "messages")
            .iter()
            .any(|m| m["provenance"]["file"] == format!("files/{}", fx::MMSSMS_PATH))
    );
    assert!(
        records(&case, "calls")
            .iter()
            .any(|m| m["provenance"]["file"] == format!("files/{}", fx::CALLLOG_PATH))
    );
    assert_code(&exhibit!("verify", case), 0);
}

/// A real pre-Android-7 `contacts2.db` (plaso's test data in the corpus),
/// placed where a full-file-system dump has it: its three calls decoded
/// with the values plaso's own tests assert; its missing contact tables are
/// a warning, not a failure.
#[test]
fn corpus_contacts2_calls_decode_from_a_folder_dump() {
    let Some(corpus) = crate::corpus::corpus() else {
        return;
    };
    let w = Work::new();
    // A temporary copy in a dump layout, made for this run only.
    let db = std::fs::read(corpus.join("plaso/test_data/android/contacts2.db")).unwrap();
    w.write(&format!("dump/{}", fx::CONTACTS2_PATH), &db);
    let plugins = decoding_plugins(&w);
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        w.path("dump"),
        "--case",
        case,
        "--plugins",
        plugins
    );
    assert_code(&out, 2);
    let calls = records(&case, "calls");
    let by_row = |row: i64| {
        calls
            .iter()
            .find(|c| c["provenance"]["row"] == row)
            .unwrap_or_else(|| panic!("call {row} missing: {calls:?}"))
    };
    assert_eq!(calls.len(), 3);
    let missed = by_row(714);
    assert_eq!(missed["type"], "missed");
    assert_eq!(missed["number"], "5404561685");
    assert_eq!(missed["name"], "Barney");
    assert_eq!(missed["time"]["utc"], "2013-11-06T21:17:16.690Z");
    assert_eq!(missed["duration_s"], 0);
    assert_eq!(by_row(715)["type"], "outgoing");
    assert_eq!(by_row(715)["duration_s"], 126);
    assert_eq!(by_row(717)["type"], "incoming");
    assert_eq!(by_row(717)["duration_s"], 639);
    let log = log(&case);
    assert!(
        actions(&log, "error").is_empty(),
        "{:?}",
        actions(&log, "error")
    );
    assert_eq!(actions(&log, "warning").len(), 1);
    assert_code(&exhibit!("verify", case), 0);
}

/// `exhibit decode` on a case whose extracted files were altered afterwards
/// refuses to vouch for them: each altered input is an error naming both
/// hashes, whether the decoder reads a working copy (SQLite) or reads the
/// file through the host (the telephony backup stream).
#[test]
fn decode_notices_an_input_changed_since_extraction() {
    let w = Work::new();
    let f = fx::AbFixture::V5Compressed;
    let evidence = w.write(&format!("evidence/{}", f.file_name()), &f.bytes().unwrap());
    let plugins = decoding_plugins(&w);
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        case,
        "--plugins",
        plugins,
        "--no-decode"
    );
    assert_code(&out, 0);
    for rel in [fx::adb::AB_MMSSMS_PATH, fx::adb::AB_SMS_BACKUP_PATH] {
        let path = case.join("files").join(rel);
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x01;
        std::fs::write(&path, data).unwrap();
    }
    let out = exhibit!("decode", case, "--plugins", plugins);
    assert_code(&out, 2);
    let log = log(&case);
    for rel in [fx::adb::AB_MMSSMS_PATH, fx::adb::AB_SMS_BACKUP_PATH] {
        let file = format!("files/{rel}");
        let decoded = actions(&log, "file_decoded")
            .into_iter()
            .find(|e| e["details"]["file"] == file.as_str())
            .unwrap_or_else(|| panic!("{file} not decoded"));
        assert_eq!(decoded["details"]["input_checked"], false, "{file}");
        assert!(
            actions(&log, "error").iter().any(|e| {
                let m = e["details"]["message"].as_str().unwrap_or("");
                m.contains(&file) && m.contains("changed since it was extracted")
            }),
            "{file}: no error"
        );
    }
    // The untouched backup file still checks out.
    let mms = format!("files/{}", fx::adb::AB_MMS_BACKUP_PATH);
    let decoded = actions(&log, "file_decoded")
        .into_iter()
        .find(|e| e["details"]["file"] == mms.as_str())
        .unwrap();
    assert_eq!(decoded["details"]["input_checked"], true);
    assert_code(&exhibit!("verify", case), 1);
}
