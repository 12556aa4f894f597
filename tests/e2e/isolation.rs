//! Plugin isolation end to end: format plugins and artifact decoders that
//! crash, abort, exhaust their memory limit or hang, each in a child process
//! of its own; what they delivered before is kept and hashed, the failure is
//! a custody error naming the plugin and the input, and the run goes on. And
//! the same case, byte for byte, whether plugins run isolated or not.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// What the misbehave plugin delivers whole before it misbehaves.
const BEFORE: &[u8] = b"delivered before the misbehaviour\n";

/// Runs `exhibit` with `list` (paths and strings alike), killed and failed
/// after `secs` seconds.
fn run_for(list: &[&dyn AsRef<OsStr>], secs: u64) -> std::process::Output {
    let args: Vec<&OsStr> = list.iter().map(|a| (*a).as_ref()).collect();
    run_env(&args, &[], std::time::Duration::from_secs(secs))
}

#[test]
fn an_isolated_format_plugin_that_dies_keeps_what_it_delivered() {
    // (mode, status, words the error must contain)
    let cases = [
        ("segfault", "crashed", "signal 11 (SIGSEGV"),
        ("abort", "crashed", "signal 6 (SIGABRT"),
        (
            "oom",
            "out of memory",
            "exceeded its memory limit of 256 MiB",
        ),
        ("hang", "timed out", "ran past its time limit of 2 s"),
    ];
    let w = Work::new();
    let plugins = w.plugin_dir(&[("xt_misbehave", "exhibit_test_misbehave")]);
    for (mode, status, words) in cases {
        let evidence = w.write(
            &format!("evidence/{mode}.bin"),
            format!("{mode}\n").as_bytes(),
        );
        let case = w.path(&format!("case-{mode}"));
        let out = run_for(
            &[
                &"extract",
                &evidence,
                &"--case",
                &case,
                &"--plugins",
                &plugins,
                &"--format",
                &"misbehave",
                &"--isolate",
                &"--plugin-memory",
                &"256M",
                &"--plugin-timeout",
                &"2",
            ],
            60,
        );
        assert_code(&out, 1);
        let log = log(&case);
        let error = actions(&log, "error")
            .into_iter()
            .find(|e| e["details"]["status"] == status)
            .unwrap_or_else(|| panic!("{mode}: no `{status}` error in {log:#?}"));
        let message = error["details"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{mode}: {message}");
        assert!(message.contains("plugin `misbehave`"), "{mode}: {message}");
        if mode != "hang" {
            assert!(
                message.contains(&evidence.display().to_string()),
                "{mode}: the error names the input: {message}"
            );
        }
        assert_eq!(error["details"]["plugin"], "misbehave");
        let before = &extracted(&log, "before.txt")["details"];
        assert_eq!(before["complete"], true, "{mode}");
        assert_eq!(
            std::fs::read(case.join("files/before.txt")).unwrap(),
            BEFORE
        );
        assert_eq!(
            before["hashes"]["sha256"],
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(BEFORE)).as_str(),
            "{mode}"
        );
        // The four bytes written before the failure reached the case, and
        // the entry is said incomplete.
        let during = &extracted(&log, "during.txt")["details"];
        assert_eq!(during["complete"], false, "{mode}");
        assert_eq!(during["size"], 4, "{mode}");
        assert_eq!(
            std::fs::read(case.join("files/during.txt")).unwrap(),
            b"half"
        );
        let finished = &actions(&log, "plugin_finished")[0]["details"];
        assert_eq!(finished["status"], status, "{mode}");
        assert_eq!(finished["isolated"], true, "{mode}");
        let last = &log.last().unwrap()["details"];
        assert_eq!(last["outcome"], "failed", "{mode}");
        assert_code(&exhibit!("verify", case), 0);
    }
}

#[test]
fn a_decoder_that_dies_loses_only_its_own_file() {
    let w = Work::new();
    let modes = ["segfault", "ok", "hang", "oom", "abort"];
    let mut tar = Vec::new();
    for mode in modes {
        tar.extend(fx::hostile::file_entry(
            format!("notes/{mode}.misbehave").as_bytes(),
            format!("{mode}\n").as_bytes(),
        ));
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let evidence = w.write("evidence/notes.tar", &tar);
    let plugins = w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("xt_misdecoder", "exhibit_test_misdecoder"),
    ]);
    let case = w.path("case");
    // Decoders are isolated by default: no --isolate.
    let out = run_for(
        &[
            &"extract",
            &evidence,
            &"--case",
            &case,
            &"--plugins",
            &plugins,
            &"--plugin-memory",
            &"256M",
            &"--plugin-timeout",
            &"2",
        ],
        90,
    );
    assert_code(&out, 2);
    let log = log(&case);
    let decoded: BTreeMap<String, String> = actions(&log, "file_decoded")
        .iter()
        .map(|e| {
            (
                e["details"]["file"].as_str().unwrap().to_owned(),
                e["details"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        ("abort", "crashed"),
        ("hang", "timed out"),
        ("ok", "ok"),
        ("oom", "out of memory"),
        ("segfault", "crashed"),
    ]
    .iter()
    .map(|(m, s)| (format!("files/notes/{m}.misbehave"), (*s).to_owned()))
    .collect();
    assert_eq!(decoded, expected);
    assert!(
        actions(&log, "file_decoded")
            .iter()
            .all(|e| e["details"]["isolated"] == true)
    );
    assert_eq!(
        actions(&log, "plugin_finished")[0]["details"]["isolated"],
        false,
        "the format plugin runs in process by default"
    );
    for (file, status) in &expected {
        if status == "ok" {
            continue;
        }
        let named = actions(&log, "error").into_iter().any(|e| {
            let m = e["details"]["message"].as_str().unwrap_or_default();
            e["details"]["file"] == file.as_str() && m.contains("plugin `misdecoder`")
        });
        assert!(named, "no error names misdecoder and {file}");
    }
    // Each decoder emitted its record before it misbehaved: all are kept,
    // with provenance back to their file.
    let notes = crate::decode::records(&case, "notes");
    let mut modes_seen: Vec<&str> = notes.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    modes_seen.sort_unstable();
    assert_eq!(modes_seen, ["abort", "hang", "ok", "oom", "segfault"]);
    assert_code(&exhibit!("verify", case), 0);
}

/// The files (case path → SHA-256), the evidence's digests and the record
/// files of a case.
fn case_outcome(case: &Path) -> (BTreeMap<String, String>, Value, BTreeMap<String, Vec<u8>>) {
    let log = log(case);
    let files = actions(&log, "file_extracted")
        .iter()
        .map(|e| {
            (
                e["details"]["path"].as_str().unwrap().to_owned(),
                e["details"]["hashes"]["sha256"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let evidence = actions(&log, "evidence_hashed")[0]["details"]["hashes"].clone();
    let mut records = BTreeMap::new();
    for e in std::fs::read_dir(case.join("artifacts")).unwrap() {
        let path = e.unwrap().path();
        records.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(&path).unwrap(),
        );
    }
    (files, evidence, records)
}

fn extract_twice(w: &Work, evidence: &Path, plugins: &Path, password: &str) -> [PathBuf; 2] {
    let mut cases = Vec::new();
    for mode in ["--isolate", "--no-isolate"] {
        let case = w.path(&format!("case{mode}"));
        let out = run_for(
            &[
                &"extract",
                &evidence,
                &"--case",
                &case,
                &"--plugins",
                &plugins,
                &mode,
                &"--password",
                &password,
            ],
            120,
        );
        assert_code(&out, 0);
        assert_code(&exhibit!("verify", case), 0);
        cases.push(case);
    }
    [cases[0].clone(), cases[1].clone()]
}

#[test]
fn isolated_and_in_process_runs_make_the_same_case() {
    // An encrypted adb backup: a sequential reader, the password asked
    // through the host, custody facts, and the android decoder.
    let w = Work::new();
    let fixture = fx::AbFixture::ALL
        .into_iter()
        .find(|f| f.password().is_some())
        .expect("an encrypted fixture");
    let evidence = w.write("evidence/backup.ab", &fixture.bytes().unwrap());
    let plugins = crate::decode::decoding_plugins(&w);
    let [isolated, in_process] =
        extract_twice(&w, &evidence, &plugins, fixture.password().unwrap());
    let (a, b) = (case_outcome(&isolated), case_outcome(&in_process));
    assert!(!a.0.is_empty() && !a.2.is_empty(), "files and records");
    assert_eq!(a, b);
    let described = |case: &Path| -> Vec<Value> {
        actions(&log(case), "evidence_described")
            .iter()
            .map(|e| e["details"].clone())
            .collect()
    };
    assert_eq!(described(&isolated), described(&in_process));
    assert!(!described(&isolated).is_empty());
}

#[test]
fn an_isolated_folder_plugin_reads_the_evidence_through_the_parent() {
    // An encrypted iTunes backup folder: list_dir, open and read per file,
    // the blobs' own hashes as received.
    let w = Work::new();
    let root = w.path("evidence");
    let opts = fx::ios::IosBackupOptions {
        encrypted: Some(fx::IOS_PASSWORD),
        legacy_mbdb: false,
    };
    fx::write_ios_backup(&root, opts).unwrap();
    let evidence = fx::ios_backup_dir(&root);
    let plugins = w.plugin_dir(&[
        ("exhibit_format_folder", "exhibit_format_folder"),
        ("exhibit_format_ios_backup", "exhibit_format_ios_backup"),
        ("exhibit_artifacts_ios", "exhibit_artifacts_ios"),
    ]);
    let [isolated, in_process] = extract_twice(&w, &evidence, &plugins, fx::IOS_PASSWORD);
    assert_eq!(case_outcome(&isolated), case_outcome(&in_process));
    // Keyed by case path: the plugin delivers from several threads, so the
    // log's order differs between runs.
    let sources = |case: &Path| -> BTreeMap<String, Value> {
        actions(&log(case), "file_extracted")
            .iter()
            .map(|e| {
                let d = &e["details"];
                (d["path"].as_str().unwrap().to_owned(), d["source"].clone())
            })
            .collect()
    };
    let isolated_sources = sources(&isolated);
    assert!(
        isolated_sources
            .values()
            .all(|s| s["hashes"]["sha256"].is_string())
    );
    assert_eq!(isolated_sources, sources(&in_process));
}
