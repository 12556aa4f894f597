//! iTunes/Finder backups end to end: the real `ios-backup` format plugin and
//! `ios` decoder loaded from disk, over the fixture generator's backups
//! (plain, encrypted, legacy `Manifest.mbdb`): every file restored under
//! `<domain>/<relativePath>` with the truth's hash, the encrypted blobs'
//! own hashes kept beside, `device.json`, the decoded records, and a wrong
//! password.

use crate::decode::{assert_provenance_of, records};
use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use exhibit_fixtures::ios::{IosBackupOptions, IosEntryKind};
use serde_json::Value;
use std::path::PathBuf;

fn ios_plugins(w: &Work) -> PathBuf {
    w.plugin_dir(&[
        ("exhibit_format_folder", "exhibit_format_folder"),
        ("exhibit_format_ios_backup", "exhibit_format_ios_backup"),
        ("exhibit_artifacts_ios", "exhibit_artifacts_ios"),
    ])
}

fn extract_ios(
    w: &Work,
    opts: IosBackupOptions<'_>,
    extra: &[&str],
) -> (std::process::Output, PathBuf) {
    let root = w.path("evidence");
    fx::write_ios_backup(&root, opts).unwrap();
    let evidence = fx::ios_backup_dir(&root);
    let plugins = ios_plugins(w);
    let case = w.path("case");
    let mut args: Vec<std::ffi::OsString> = vec![
        "extract".into(),
        evidence.into(),
        "--case".into(),
        case.clone().into(),
        "--plugins".into(),
        plugins.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    (run(&refs), case)
}

/// Every entry of the truth is restored (files with their hash) or
/// recorded (directories, the symlink), under `<domain>/<relativePath>`.
fn assert_restored(log: &[Value], case: &std::path::Path) {
    let truth = fx::ios_entries().unwrap();
    let files: Vec<_> = truth
        .iter()
        .filter(|e| matches!(e.kind, IosEntryKind::File(_)))
        .collect();
    assert_eq!(actions(log, "file_extracted").len(), files.len());
    for t in files {
        let name = format!("{}/{}", t.domain, t.relative_path);
        let d = &extracted(log, &name)["details"];
        assert_eq!(
            d["hashes"]["sha256"],
            t.sha256.as_deref().unwrap(),
            "{name}"
        );
        assert_eq!(d["complete"], true, "{name}");
        assert_eq!(d["size"], t.size, "{name}");
        assert_eq!(
            sha256_file(&case.join(d["path"].as_str().unwrap())),
            t.sha256.as_deref().unwrap()
        );
        assert_eq!(
            d["meta"]["extra"]["ios_backup"]["domain"],
            t.domain.as_str()
        );
    }
    let symlink = truth
        .iter()
        .find(|e| matches!(e.kind, IosEntryKind::Symlink(_)))
        .expect("a symlink in the truth");
    let name = format!("{}/{}", symlink.domain, symlink.relative_path);
    assert!(
        actions(log, "entry_recorded")
            .iter()
            .any(|e| e["details"]["name"] == name.as_str() && e["details"]["kind"] == "symlink"),
        "{name} not recorded as a symlink"
    );
}

fn assert_records(case: &std::path::Path) {
    let messages = records(case, "messages");
    assert_eq!(messages.len(), fx::ios_sqlite::IOS_MESSAGES.len());
    for m in fx::ios_sqlite::IOS_MESSAGES.iter() {
        let r = messages
            .iter()
            .find(|r| r["provenance"]["row"] == m.rowid)
            .unwrap_or_else(|| panic!("message {} missing", m.rowid));
        assert_eq!(r["body"].as_str(), Some(m.text), "message {}", m.rowid);
        assert_eq!(r["time"]["raw"], m.date, "message {}", m.rowid);
    }
    // The attachment resolved to the restored MediaDomain file, with its hash.
    let attached: Vec<&Value> = messages
        .iter()
        .flat_map(|m| m["parts"].as_array().into_iter().flatten())
        .filter_map(|p| p.get("attachment").filter(|a| a.is_object()))
        .collect();
    assert!(!attached.is_empty());
    for a in attached {
        let path = a["case_path"]
            .as_str()
            .unwrap_or_else(|| panic!("unresolved: {a}"));
        assert_eq!(a["sha256"].as_str().unwrap(), sha256_file(&case.join(path)));
    }
    assert_eq!(
        records(case, "contacts").len(),
        fx::ios_sqlite::IOS_CONTACTS.len()
    );
    assert_eq!(
        records(case, "calls").len(),
        fx::ios_sqlite::IOS_CALLS.len()
    );
}

#[test]
fn a_plain_backup_is_restored_with_device_facts_and_records() {
    let w = Work::new();
    let (out, case) = extract_ios(&w, IosBackupOptions::default(), &[]);
    assert_code(&out, 0);
    let log = log(&case);
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        "ios-backup"
    );
    assert_restored(&log, &case);
    let device: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("device.json")).unwrap()).unwrap();
    let text = device.to_string();
    for fact in [
        fx::IOS_UDID,
        fx::IOS_DEVICE_NAME,
        fx::IOS_PRODUCT_VERSION,
        fx::IOS_SERIAL,
    ] {
        assert!(text.contains(fact), "{fact} not in device.json: {text}");
    }
    let written = actions(&log, "artifact_written");
    let device_entry = written
        .iter()
        .find(|e| e["details"]["path"] == "device.json")
        .expect("device.json logged");
    assert_eq!(
        device_entry["details"]["hashes"]["sha256"],
        sha256_file(&case.join("device.json")).as_str()
    );
    assert_provenance_of(&case, &log, "ios ");
    assert_records(&case);
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn an_encrypted_backup_keeps_the_hash_of_each_blob_as_received() {
    let w = Work::new();
    let opts = IosBackupOptions {
        encrypted: Some(fx::IOS_PASSWORD),
        legacy_mbdb: false,
    };
    let (out, case) = extract_ios(&w, opts, &["--password", fx::IOS_PASSWORD]);
    assert_code(&out, 0);
    let log = log(&case);
    assert_restored(&log, &case);
    let backup = fx::ios_backup_dir(&w.path("evidence"));
    for e in actions(&log, "file_extracted") {
        let d = &e["details"];
        let source = d["source"]["path"].as_str().expect("the blob's path");
        let blob_sha = sha256_file(&backup.join(source));
        assert_eq!(
            d["source"]["hashes"]["sha256"],
            blob_sha.as_str(),
            "{source}"
        );
        assert_ne!(
            d["source"]["hashes"]["sha256"], d["hashes"]["sha256"],
            "{source}"
        );
    }
    let raw = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    assert!(!raw.contains(fx::IOS_PASSWORD));
    assert_records(&case);
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn a_wrong_password_is_said_before_anything_is_written() {
    let w = Work::new();
    let opts = IosBackupOptions {
        encrypted: Some(fx::IOS_PASSWORD),
        legacy_mbdb: false,
    };
    let (out, case) = extract_ios(&w, opts, &["--password", "not it"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("wrong password for"),
        "{}",
        stderr(&out)
    );
    let log = log(&case);
    assert!(actions(&log, "file_extracted").is_empty());
    assert!(actions(&log, "entry_recorded").is_empty());
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn a_legacy_mbdb_backup_is_restored() {
    let w = Work::new();
    let opts = IosBackupOptions {
        encrypted: None,
        legacy_mbdb: true,
    };
    let (out, case) = extract_ios(&w, opts, &[]);
    assert!(matches!(out.status.code(), Some(0 | 2)), "{}", stderr(&out));
    let log = log(&case);
    assert_restored(&log, &case);
    assert_code(&exhibit!("verify", case), 0);
}

/// Writes the plain fixture backup and returns its folder.
fn plain_backup(w: &Work) -> PathBuf {
    let root = w.path("evidence");
    fx::write_ios_backup(&root, IosBackupOptions::default()).unwrap();
    fx::ios_backup_dir(&root)
}

fn extract_dir(w: &Work, evidence: &std::path::Path) -> (std::process::Output, PathBuf) {
    let plugins = ios_plugins(w);
    let case = w.path("case");
    let out = exhibit!("extract", evidence, "--case", case, "--plugins", plugins);
    (out, case)
}

fn blob_of(backup: &std::path::Path, domain: &str, path: &str) -> PathBuf {
    let id = fx::ios_file_id(domain, path);
    backup.join(&id[..2]).join(&id)
}

/// A file the manifest lists but whose blob is gone is an error naming it;
/// every other file is restored and the case verifies.
#[test]
fn a_missing_blob_is_an_error_and_the_rest_is_restored() {
    let w = Work::new();
    let backup = plain_backup(&w);
    std::fs::remove_file(blob_of(
        &backup,
        "CameraRollDomain",
        fx::ios::IOS_PHOTO_PATH,
    ))
    .unwrap();
    let (out, case) = extract_dir(&w, &backup);
    assert_code(&out, 2);
    let log = log(&case);
    let errors = actions(&log, "error");
    assert!(
        errors.iter().any(|e| e["details"]["message"]
            .as_str()
            .unwrap()
            .contains(fx::ios::IOS_PHOTO_PATH)),
        "{errors:?}"
    );
    let files = fx::ios_entries()
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.kind, IosEntryKind::File(_)))
        .count();
    assert_eq!(actions(&log, "file_extracted").len(), files - 1);
    assert_code(&exhibit!("verify", case), 0);
}

/// A row whose fileID is not the SHA-1 of its domain and path is a warning;
/// the file is still restored under its stored name, intact.
#[test]
fn a_file_id_that_does_not_match_its_path_is_a_warning() {
    let w = Work::new();
    let backup = plain_backup(&w);
    let domain = "AppDomain-com.example.notes";
    let old = fx::ios_file_id(domain, fx::ios::IOS_NOTE_PATH);
    let new = "ffffffffffffffffffffffffffffffffffffffff";
    let db = rusqlite::Connection::open(backup.join("Manifest.db")).unwrap();
    db.execute(
        "UPDATE Files SET fileID = ?1 WHERE fileID = ?2",
        [new, old.as_str()],
    )
    .unwrap();
    drop(db);
    std::fs::create_dir_all(backup.join("ff")).unwrap();
    std::fs::rename(
        backup.join(&old[..2]).join(&old),
        backup.join("ff").join(new),
    )
    .unwrap();
    let (out, case) = extract_dir(&w, &backup);
    assert_code(&out, 2);
    let log = log(&case);
    assert!(
        actions(&log, "warning").iter().any(|e| {
            let m = e["details"]["message"].as_str().unwrap();
            m.contains(new) && m.contains("sha-1")
        }),
        "{:?}",
        actions(&log, "warning")
    );
    let truth = fx::ios_entries().unwrap();
    let note = truth
        .iter()
        .find(|e| e.relative_path == fx::ios::IOS_NOTE_PATH)
        .unwrap();
    let d = &extracted(&log, &format!("{domain}/{}", fx::ios::IOS_NOTE_PATH))["details"];
    assert_eq!(d["hashes"]["sha256"], note.sha256.as_deref().unwrap());
    assert_code(&exhibit!("verify", case), 0);
}

/// A cut Manifest.db is a clear error naming it and what is missing;
/// nothing is made up. Like any corrupt input, the run completes with
/// errors (exit 2).
#[test]
fn a_truncated_manifest_is_a_clear_error() {
    let w = Work::new();
    let backup = plain_backup(&w);
    let manifest = backup.join("Manifest.db");
    let data = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, &data[..data.len() / 2]).unwrap();
    let (out, case) = extract_dir(&w, &backup);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("Manifest.db is cut short"),
        "{}",
        stderr(&out)
    );
    let log = log(&case);
    assert!(actions(&log, "file_extracted").is_empty());
    assert_eq!(log.last().unwrap()["action"], "run_finished");
    assert_code(&exhibit!("verify", case), 0);
}
