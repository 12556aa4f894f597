//! Zip evidence end to end: the Android FFS tree as a zip (the same truth
//! as the tar), and the hostile zips: nothing written outside the case, a
//! clear error naming the entry and offset, everything intact still
//! extracted, and a case that verifies.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use exhibit_fixtures::hostile_zip as hz;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Extracts the generated FFS zip with MD5 and SHA-1 too, from four
/// threads; every file's digests equal the generator's truth, an
/// independent computation and (when installed) Info-ZIP `unzip`'s output.
#[test]
fn android_ffs_zip_every_file_hashed_and_logged() {
    let w = Work::new();
    let zip = w.path("android-ffs.zip");
    fx::write_zip(&zip).unwrap();
    let plugins = w.real_plugins();
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        zip,
        "--case",
        case,
        "--plugins",
        plugins,
        "--hash",
        "md5,sha1",
        "--threads",
        "4"
    );
    assert_code(&out, 0);
    let log = log(&case);
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        "zip"
    );

    assert_files_match_truth(&log, &case);
    let expected = fx::expected_files().unwrap();
    let tree = fx::android_tree().unwrap();
    let unzipped = unzip_reference(&w, &zip);
    for truth in &expected {
        if let Some(dir) = &unzipped {
            assert_eq!(
                sha256_file(&dir.join(&truth.path)),
                truth.sha256,
                "unzip disagrees on {}",
                truth.path
            );
        }
    }

    // One record spelled out: the SMS database, its mode, times and zip fields.
    let sms = &extracted(&log, fx::MMSSMS_PATH)["details"];
    assert_eq!(sms["path"], format!("files/{}", fx::MMSSMS_PATH));
    let truth = tree.iter().find(|e| e.path == fx::MMSSMS_PATH).unwrap();
    assert_eq!(sms["meta"]["kind"], "file");
    assert_eq!(
        sms["meta"]["mode"].as_u64().unwrap() & 0o7777,
        u64::from(truth.mode)
    );
    assert_eq!(sms["meta"]["mtime"]["secs"], truth.mtime);
    assert_eq!(sms["meta"]["extra"]["method"], "deflate");
    assert!(sms["meta"]["offset"].is_u64());
    // The NTFS extra field keeps the sub-second mtime (to 100 ns).
    let resume = &extracted(&log, fx::NON_ASCII_PATH)["details"];
    assert_eq!(resume["meta"]["mtime"]["nanos"], fx::NON_ASCII_NTFS_NANOS);

    // Directories and symlinks are recorded; no link exists on disk.
    assert_tree_entries_recorded(&log, &case);

    // The host hashed the whole zip itself (random access) and it is unchanged.
    let zip_bytes = std::fs::read(&zip).unwrap();
    let hashed = actions(&log, "evidence_hashed")[0];
    assert_eq!(
        hashed["details"]["hashes"]["sha256"],
        fx::sha256_hex(&zip_bytes)
    );
    assert_eq!(
        actions(&log, "evidence_checked")[0]["details"]["unchanged"],
        true
    );
    let fin = &log.last().unwrap()["details"];
    assert_eq!(fin["outcome"], "clean");
    assert_eq!(fin["files"], fx::FILE_COUNT);
    assert_eq!(fin["errors"], 0);
    assert_eq!(fin["warnings"], 0);
    assert_code(&exhibit!("verify", case), 0);

    // One thread gives the same files and hashes.
    let case1 = w.path("case-1");
    let out = exhibit!(
        "extract",
        zip,
        "--case",
        case1,
        "--plugins",
        plugins,
        "--threads",
        "1"
    );
    assert_code(&out, 0);
    let log1 = crate::util::log(&case1);
    for truth in &expected {
        assert_eq!(
            extracted(&log1, &truth.path)["details"]["hashes"]["sha256"],
            truth.sha256.as_str()
        );
    }
}

/// Info-ZIP `unzip`'s extraction of `zip`, as a reference; `None` (with
/// the reason printed) when `unzip` is not installed.
fn unzip_reference(w: &Work, zip: &Path) -> Option<PathBuf> {
    let dir = w.path("unzip-reference");
    match std::process::Command::new("unzip")
        .arg("-qq")
        .arg(zip)
        .arg("-d")
        .arg(&dir)
        .output()
    {
        Ok(out) if out.status.success() => Some(dir),
        Ok(out) => panic!(
            "unzip failed on the fixture: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("skipping the unzip comparison: cannot run unzip ({e})");
            None
        }
    }
}

fn extract_hostile(name: &str, data: &[u8]) -> (Work, Hostile) {
    crate::util::extract_hostile(&format!("{name}.zip"), data, "zip")
}

fn content(o: &Hostile, name: &str) -> Vec<u8> {
    o.content(name)
}

/// `(offset, message)` of every warning and error.
fn problems(log: &[Value]) -> Vec<(Option<u64>, String)> {
    log.iter()
        .filter(|e| e["action"] == "warning" || e["action"] == "error")
        .map(|e| {
            (
                e["details"]["offset"].as_u64(),
                e["details"]["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn zip_traversal_names_stay_inside_the_case() {
    let (_w, o) = extract_hostile("traversal", &hz::traversal().unwrap());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(!Path::new("/tmp/exhibit-escape.txt").exists());
    assert!(!Path::new("/etc/exhibit-absolute.txt").exists());
    assert_eq!(actions(&o.log, "file_extracted").len(), 4);
    for name in fx::hostile::TRAVERSAL_NAMES {
        let path = extracted(&o.log, name)["details"]["path"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            path.starts_with("files/") && !path.split('/').any(|c| c == ".."),
            "{path}"
        );
        assert_eq!(content(&o, name), fx::hostile::ESCAPE_CONTENT);
    }
    assert_eq!(content(&o, "ok.txt"), fx::hostile::OK_CONTENT);
}

#[test]
fn zip_crc_mismatch_marks_the_entry_and_keeps_the_others() {
    let (_w, o) = extract_hostile("crc-mismatch", &hz::crc_mismatch().unwrap());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(content(&o, "good-1.txt"), hz::CRC_GOOD_CONTENT);
    assert_eq!(content(&o, "good-2.txt"), hz::CRC_GOOD_CONTENT);
    let bad = &extracted(&o.log, hz::CRC_BAD_NAME)["details"];
    assert_eq!(bad["complete"], false);
    assert_eq!(bad["meta"]["offset"], hz::CRC_BAD_HEADER);
    let problems = problems(&o.log);
    assert!(
        problems
            .iter()
            .any(|(at, m)| *at == Some(hz::CRC_BAD_HEADER)
                && m.contains("bad-crc.txt")
                && m.contains("0x42")
                && m.contains("crc mismatch: stored")),
        "{problems:?}"
    );
}

#[test]
fn zip_truncated_says_so_and_recovers_what_precedes() {
    let (_w, o) = extract_hostile("truncated", &hz::truncated().unwrap());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(actions(&o.log, "file_extracted").len(), 2, "no c.txt");
    assert_eq!(extracted(&o.log, "a.txt")["details"]["complete"], true);
    let b = &extracted(&o.log, "b.txt")["details"];
    assert_eq!(b["complete"], false);
    assert_eq!(b["size"], 1000);
    assert_eq!(b["meta"]["offset"], hz::TRUNCATED_B_HEADER);
    let problems = problems(&o.log);
    assert!(
        problems.iter().any(|(at, m)| *at == Some(hz::TRUNCATED_LEN)
            && m.contains("no end of central directory record")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|(at, m)| *at == Some(hz::TRUNCATED_B_HEADER) && m.contains("b.txt")),
        "{problems:?}"
    );
}

#[test]
fn zip_name_mismatch_is_warned_and_extracted() {
    let (_w, o) = extract_hostile("name-mismatch", &hz::name_mismatch().unwrap());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(content(&o, "report.txt"), hz::MISMATCH_CONTENT);
    assert_eq!(content(&o, "ok.txt"), fx::hostile::OK_CONTENT);
    let problems = problems(&o.log);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, Some(0));
    assert!(
        problems[0].1.contains(hz::MISMATCH_LOCAL_NAME),
        "{problems:?}"
    );
}

#[test]
fn zip_overlap_bomb_is_not_expanded() {
    let (_w, o) = extract_hostile("overlap-bomb", &hz::overlap_bomb().unwrap());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    let files = actions(&o.log, "file_extracted");
    assert_eq!(files.len(), 1);
    assert_eq!(
        extracted(&o.log, hz::BOMB_NAMES[0])["details"]["size"],
        hz::BOMB_KERNEL_LEN
    );
    let errors: Vec<String> = actions(&o.log, "error")
        .iter()
        .map(|e| e["details"]["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    for copy in &hz::BOMB_NAMES[1..] {
        assert!(
            errors
                .iter()
                .any(|m| m.contains(copy) && m.contains("overlaps entry \"kernel.bin\"")),
            "{errors:?}"
        );
    }
}

#[test]
fn zip_expansion_beyond_the_declared_size_is_cut() {
    let (_w, o) = extract_hostile("expands", &hz::expands().unwrap());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    let grow = &extracted(&o.log, "grow.bin")["details"];
    assert_eq!(grow["complete"], false);
    assert_eq!(grow["size"], hz::EXPANDS_DECLARED);
    assert_eq!(content(&o, "ok.txt"), fx::hostile::OK_CONTENT);
}

#[test]
fn zip_cp437_zip64_and_data_descriptors_extract_cleanly() {
    let (_w, o) = extract_hostile("cp437-name", &hz::cp437_name().unwrap());
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(content(&o, hz::CP437_NAME), hz::CP437_CONTENT);
    assert_eq!(
        extracted(&o.log, hz::CP437_NAME)["details"]["meta"]["extra"]["raw_name_hex"],
        "6d816e6368656e2e747874"
    );
    let (_w, o) = extract_hostile("zip64", &hz::zip64().unwrap());
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(content(&o, "small-zip64.txt"), hz::ZIP64_CONTENT);
    let (_w, o) = extract_hostile("data-descriptor", &hz::data_descriptor().unwrap());
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(content(&o, "streamed.txt"), hz::STREAMED_CONTENT);
    assert_eq!(content(&o, "ok.txt"), fx::hostile::OK_CONTENT);
}
