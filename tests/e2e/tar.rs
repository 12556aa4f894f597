//! A full-file-system tar from an Android-like phone, end to end.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;

/// Extracts the generated FFS tar with MD5 and SHA-1 too; every file's
/// digests equal an independent computation over the generator's truth and
/// over the file on disk.
#[test]
fn android_ffs_tar_every_file_hashed_and_logged() {
    let w = Work::new();
    let tar = w.path("android-ffs.tar");
    fx::write_tar(&tar).unwrap();
    let plugins = w.real_plugins();
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        tar,
        "--case",
        case,
        "--plugins",
        plugins,
        "--examiner",
        "E. Xaminer",
        "--case-number",
        "2026-0042",
        "--hash",
        "md5,sha1"
    );
    assert_code(&out, 0);
    let log = log(&case);

    let expected = fx::expected_files().unwrap();
    assert_eq!(expected.len(), fx::FILE_COUNT);
    assert_files_match_truth(&log, &case);
    let tree = fx::android_tree().unwrap();

    // One record spelled out: the SMS database, with its Android owner and mode.
    let sms = &extracted(&log, fx::MMSSMS_PATH)["details"];
    assert_eq!(sms["path"], format!("files/{}", fx::MMSSMS_PATH));
    let truth = tree.iter().find(|e| e.path == fx::MMSSMS_PATH).unwrap();
    assert_eq!(sms["meta"]["kind"], "file");
    assert_eq!(
        sms["meta"]["mode"].as_u64().unwrap() & 0o7777,
        u64::from(truth.mode)
    );
    assert_eq!(sms["meta"]["uid"], truth.uid);
    assert_eq!(sms["meta"]["gid"], truth.gid);
    assert_eq!(sms["meta"]["user"], truth.uname);
    assert_eq!(sms["meta"]["mtime"]["secs"], truth.mtime);

    // The pax mtime keeps its nanoseconds.
    let resume = &extracted(&log, fx::NON_ASCII_PATH)["details"];
    assert_eq!(resume["meta"]["mtime"]["nanos"], fx::NON_ASCII_MTIME_NANOS);

    // Directories and symlinks are recorded; no link exists on disk.
    assert_tree_entries_recorded(&log, &case);

    // The evidence was hashed in the same pass, as a whole, and is unchanged.
    let tar_bytes = std::fs::read(&tar).unwrap();
    let hashed = actions(&log, "evidence_hashed")[0];
    assert_eq!(
        hashed["details"]["hashes"]["sha256"],
        fx::sha256_hex(&tar_bytes)
    );
    assert_eq!(hashed["details"]["bytes"], tar_bytes.len());
    assert_eq!(
        actions(&log, "evidence_checked")[0]["details"]["unchanged"],
        true
    );

    // The log opens with the creator and closes with the totals.
    assert_eq!(log[0]["action"], "case_opened");
    assert_eq!(log[0]["details"]["examiner"], "E. Xaminer");
    assert_eq!(log[0]["details"]["case_number"], "2026-0042");
    assert_eq!(
        log[0]["details"]["hash_algorithms"],
        serde_json::json!(["md5", "sha1", "sha256"])
    );
    let fin = &log.last().unwrap()["details"];
    assert_eq!(log.last().unwrap()["action"], "run_finished");
    assert_eq!(fin["outcome"], "clean");
    assert_eq!(fin["files"], fx::FILE_COUNT);
    assert_eq!(fin["errors"], 0);
    assert_eq!(fin["warnings"], 0);
    let plugin = actions(&log, "plugin_loaded")
        .into_iter()
        .find(|e| e["details"]["name"] == "tar")
        .unwrap();
    assert_eq!(
        plugin["details"]["sha256"],
        sha256_file(&plugins.join(lib_name("exhibit_format_tar")))
    );
    assert!(stdout(&out).contains("chain hash"), "{}", stdout(&out));
}

/// The README's first command: the bundled fixture, found by probing with
/// the plugins beside the binary.
#[test]
fn bundled_fixture_extracts_with_plugins_beside_the_binary() {
    let w = Work::new();
    let case = w.path("case");
    let out = exhibit!("extract", fx::COMMITTED_TAR, "--case", case);
    assert_code(&out, 0);
    let log = log(&case);
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        "tar"
    );
    assert_eq!(actions(&log, "file_extracted").len(), fx::FILE_COUNT);
    let verify = exhibit!("verify", case);
    assert_code(&verify, 0);
}

/// A given acquisition hash that does not match is an error (exit 2), and a
/// matching one is recorded as matching.
#[test]
fn acquisition_hash_is_checked() {
    let w = Work::new();
    let tar = w.path("a.tar");
    fx::write_tar(&tar).unwrap();
    let plugins = w.real_plugins();
    let good = fx::sha256_hex(&std::fs::read(&tar).unwrap());
    let ok = exhibit!(
        "extract",
        tar,
        "--case",
        w.path("c1"),
        "--plugins",
        plugins,
        "--evidence-sha256",
        good
    );
    assert_code(&ok, 0);
    let log1 = log(&w.path("c1"));
    assert_eq!(
        actions(&log1, "evidence_hashed")[0]["details"]["acquisition_sha256_matches"],
        true
    );

    let bad = "0".repeat(64);
    let out = exhibit!(
        "extract",
        tar,
        "--case",
        w.path("c2"),
        "--plugins",
        plugins,
        "--evidence-sha256",
        bad,
        "--rehash-evidence"
    );
    assert_code(&out, 2);
    let log2 = log(&w.path("c2"));
    let errors = actions(&log2, "error");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]["details"]["message"]
            .as_str()
            .unwrap()
            .contains("does not match the acquisition hash"),
        "{}",
        errors[0]
    );
    assert_eq!(
        actions(&log2, "evidence_checked")[0]["details"]["rehash_matches"],
        true
    );
}
