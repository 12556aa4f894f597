//! An already-unpacked logical extraction (a folder) as evidence.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;

#[test]
fn android_folder_every_file_hashed_links_recorded_not_followed() {
    let w = Work::new();
    let tree = w.path("evidence/android-ffs");
    fx::write_tree(&tree).unwrap();
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        tree,
        "--case",
        case,
        "--plugins",
        w.real_plugins()
    );
    assert_code(&out, 0);
    let log = log(&case);
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        "folder"
    );
    let files = actions(&log, "file_extracted");
    assert_eq!(files.len(), fx::FILE_COUNT);
    for truth in fx::expected_files().unwrap() {
        let d = &extracted(&log, &truth.path)["details"];
        assert_eq!(
            d["hashes"]["sha256"],
            truth.sha256.as_str(),
            "{}",
            truth.path
        );
        assert_eq!(
            sha256_file(&case.join(d["path"].as_str().unwrap())),
            truth.sha256
        );
    }
    // The folder's `sdcard -> /data/media/0` points outside the evidence:
    // recorded with its target, never followed, never created.
    let sdcard = actions(&log, "entry_recorded")
        .into_iter()
        .find(|e| e["details"]["name"] == "sdcard")
        .unwrap();
    assert_eq!(sdcard["details"]["kind"], "symlink");
    assert_eq!(sdcard["details"]["meta"]["link_target"], fx::SDCARD_LINK.1);
    assert!(!case.join("files/sdcard").exists());

    // Evidence digest of a folder: the manifest of every file read.
    let hashed = &actions(&log, "evidence_hashed")[0]["details"];
    assert_eq!(hashed["files"], fx::FILE_COUNT);
    let total: u64 = fx::expected_files().unwrap().iter().map(|f| f.size).sum();
    assert_eq!(hashed["bytes"], total);
    assert_eq!(
        actions(&log, "evidence_checked")[0]["details"]["unchanged"],
        true
    );
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn case_inside_the_evidence_folder_is_refused() {
    let w = Work::new();
    let tree = w.path("evidence");
    fx::write_tree(&tree).unwrap();
    let out = exhibit!(
        "extract",
        tree,
        "--case",
        tree.join("case"),
        "--plugins",
        w.real_plugins()
    );
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("is inside the evidence folder"),
        "{}",
        stderr(&out)
    );
    assert!(!tree.join("case").exists());
}

/// The folder's evidence digest is the SHA-256 of its sorted manifest,
/// computed here independently, and the same however many workers read it.
#[test]
fn folder_digest_is_the_sorted_manifest_whatever_the_threads() {
    let w = Work::new();
    let tree = w.path("evidence/android-ffs");
    fx::write_tree(&tree).unwrap();
    let mut truth = fx::expected_files().unwrap();
    truth.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest: String = truth
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.path))
        .collect();
    let expected = fx::sha256_hex(manifest.as_bytes());
    let plugins = w.real_plugins();
    for threads in ["1", "4"] {
        let case = w.path(&format!("case-{threads}"));
        let out = exhibit!(
            "extract",
            tree,
            "--case",
            case,
            "--plugins",
            plugins,
            "--threads",
            threads
        );
        assert_code(&out, 0);
        let log = log(&case);
        let hashed = &actions(&log, "evidence_hashed")[0]["details"];
        assert_eq!(
            hashed["hashes"]["sha256"],
            expected.as_str(),
            "--threads {threads}"
        );
        assert_eq!(actions(&log, "file_extracted").len(), fx::FILE_COUNT);
    }
}
