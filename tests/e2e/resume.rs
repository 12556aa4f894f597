//! `exhibit extract --resume CASE` on real formats. A crash is simulated by
//! cutting a finished case back to what a `kill -9` or a power loss leaves:
//! a log prefix ending in a torn line, the file being written cut short on
//! disk, and no later files (the signal-driven runs are in `interrupt`).

use crate::exhibit;
use crate::interrupt::{before_logged, misbehave_work, spawn_misbehave};
use crate::util::*;
use exhibit_fixtures as fx;
use serde_json::Value;
use std::path::Path;

fn log_lines(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("custody.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Cuts the case back to the moment the `file_extracted` line `cut` was
/// being written: the log keeps the lines before it plus `torn` bytes of
/// it, no newline; that file keeps `keep` bytes; files logged after it are
/// gone. Returns the torn text.
pub(crate) fn crash_at(case: &Path, cut: usize, torn: usize, keep: u64) -> String {
    let lines = log_lines(case);
    let entry: Value = serde_json::from_str(&lines[cut]).unwrap();
    assert_eq!(entry["action"], "file_extracted");
    for later in &lines[cut + 1..] {
        let e: Value = serde_json::from_str(later).unwrap();
        if e["action"] == "file_extracted" {
            std::fs::remove_file(case.join(e["details"]["path"].as_str().unwrap())).unwrap();
        }
    }
    let path = case.join(entry["details"]["path"].as_str().unwrap());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(keep)
        .unwrap();
    let torn_text = lines[cut][..torn].to_owned();
    let mut text = lines[..cut].join("\n");
    text.push('\n');
    text.push_str(&torn_text);
    std::fs::write(case.join("custody.jsonl"), text).unwrap();
    torn_text
}

/// Indices of the `file_extracted` lines.
pub(crate) fn file_lines(case: &Path) -> Vec<usize> {
    log_lines(case)
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("\"action\":\"file_extracted\""))
        .map(|(i, _)| i)
        .collect()
}

/// Extracts `evidence` (the Android fixture as a tar, a zip or a folder)
/// cleanly, cuts the case back to a crash while the sixth file was being
/// written, damages one of the five before it on disk, resumes, and checks
/// every file against the generator's truth.
fn crash_and_resume(w: &Work, evidence: &Path, plugin: &str, extra: &[&str]) {
    let plugins = w.real_plugins();
    let case = w.path("case");
    let mut first = vec![
        "extract".into(),
        evidence.as_os_str().to_owned(),
        "--case".into(),
        case.as_os_str().to_owned(),
        "--plugins".into(),
        plugins.as_os_str().to_owned(),
    ];
    first.extend(extra.iter().map(|a| std::ffi::OsString::from(*a)));
    let first: Vec<&std::ffi::OsStr> = first.iter().map(|a| a.as_os_str()).collect();
    assert_code(&run(&first), 0);
    let files = file_lines(&case);
    assert_eq!(files.len(), fx::FILE_COUNT);
    // Five files logged whole; the sixth was being written.
    let lines = log_lines(&case);
    let kept: Vec<Value> = files[..5]
        .iter()
        .map(|&i| serde_json::from_str(&lines[i]).unwrap())
        .collect();
    let torn = crash_at(&case, files[5], 60, 3);
    // One of the five was damaged on disk since (a lost write-back).
    let damaged = kept[2]["details"]["path"].as_str().unwrap().to_owned();
    let mut data = std::fs::read(case.join(&damaged)).unwrap();
    data[0] ^= 0xff;
    std::fs::write(case.join(&damaged), data).unwrap();

    let out = exhibit!("verify", case);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("has no newline"), "{}", stdout(&out));

    let out = exhibit!("extract", "--resume", case, "--plugins", plugins);
    assert_code(&out, 2);
    assert!(
        stdout(&out).contains("extraction (resumed) complete, with warnings"),
        "{}",
        stdout(&out)
    );
    let log = log(&case);
    let resumed = &actions(&log, "run_resumed")[0]["details"];
    assert_eq!(resumed["torn_line"]["line"], files[5] + 1);
    assert_eq!(resumed["torn_line"]["text"], torn.as_str());
    assert_eq!(resumed["torn_line"]["bytes"], 60);
    assert_eq!(resumed["files_logged"], 5);
    assert_eq!(resumed["plugin"], plugin);
    let warnings = actions(&log, "warning");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0]["details"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("custody log line {} was cut short", files[5] + 1)),
        "{warnings:?}"
    );
    assert!(
        warnings[1]["details"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{damaged} no longer matched its custody entry")),
        "{warnings:?}"
    );
    let confirmed = actions(&log, "file_confirmed");
    assert_eq!(confirmed.len(), 4);
    assert!(
        confirmed
            .iter()
            .all(|c| c["details"]["path"] != damaged.as_str())
    );
    assert_eq!(
        actions(&log, "file_extracted").len(),
        fx::FILE_COUNT + 1,
        "5 from the first run, then the damaged one and the 11 never logged"
    );
    assert_eq!(
        actions(&log, "evidence_hashed").len(),
        1,
        "the first run's was cut"
    );
    // Every file is the generator's truth, at its own path (no ` (2)`).
    let mut want: Vec<String> = fx::expected_files()
        .unwrap()
        .into_iter()
        .map(|t| {
            let on_disk = case.join("files").join(&t.path);
            assert_eq!(sha256_file(&on_disk), t.sha256, "{}", t.path);
            t.path
        })
        .collect();
    want.sort();
    assert_eq!(files_below(&case.join("files")), want);
    let last = &log.last().unwrap()["details"];
    assert_eq!(last["run"], "resume");
    assert_eq!(last["outcome"], "completed_with_errors");
    assert_eq!(last["files"], fx::FILE_COUNT + 1);
    assert_eq!(last["files_confirmed"], 4);
    let out = exhibit!("verify", case);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains(&format!("{0} of {0} files intact", fx::FILE_COUNT)),
        "{}",
        stdout(&out)
    );
}

#[test]
fn resume_after_a_crash_checks_what_is_intact_and_rewrites_the_rest() {
    let w = Work::new();
    let tar = w.path("ffs.tar");
    fx::write_tar(&tar).unwrap();
    crash_and_resume(&w, &tar, "tar", &[]);
    let log = log(&w.path("case"));
    assert_eq!(
        actions(&log, "evidence_hashed")[0]["details"]["hashes"]["sha256"],
        sha256_file(&tar)
    );
}

#[test]
fn resume_of_a_zip_decoded_on_four_threads() {
    let w = Work::new();
    let zip = w.path("ffs.zip");
    fx::write_zip(&zip).unwrap();
    crash_and_resume(&w, &zip, "zip", &["--threads", "4"]);
}

#[test]
fn resume_of_a_folder_evidence() {
    let w = Work::new();
    let tree = w.path("evidence/android-ffs");
    fx::write_tree(&tree).unwrap();
    crash_and_resume(&w, &tree, "folder", &[]);
}

/// A minimal ustar archive of regular files.
pub fn ustar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"15000000000\0");
        h[148..156].copy_from_slice(b"        ");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[test]
fn resume_gives_a_duplicate_name_the_path_it_had() {
    let w = Work::new();
    let tar = w.write(
        "dups.tar",
        &ustar(&[
            ("d/dup.txt", b"first copy\n"),
            ("d/dup.txt", b"second copy, longer\n"),
            ("z.txt", b"last\n"),
        ]),
    );
    let plugins = w.real_plugins();
    let case = w.path("case");
    assert_code(
        &exhibit!("extract", tar, "--case", case, "--plugins", plugins),
        2,
    );
    assert_eq!(
        files_below(&case.join("files")),
        ["d/dup (2).txt", "d/dup.txt", "z.txt"]
    );
    // Killed while writing the second copy.
    crash_at(&case, file_lines(&case)[1], 10, 1);
    assert_eq!(
        files_below(&case.join("files")),
        ["d/dup (2).txt", "d/dup.txt"]
    );

    let out = exhibit!("extract", "--resume", case, "--plugins", plugins);
    assert_code(&out, 2);
    assert_eq!(
        files_below(&case.join("files")),
        ["d/dup (2).txt", "d/dup.txt", "z.txt"],
        "the second copy lands where it was, not on a ` (3)`"
    );
    assert_eq!(
        std::fs::read(case.join("files/d/dup (2).txt")).unwrap(),
        b"second copy, longer\n"
    );
    let log = log(&case);
    let confirmed = actions(&log, "file_confirmed");
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0]["details"]["path"], "files/d/dup.txt");
    let second = actions(&log, "file_extracted")
        .into_iter()
        .rfind(|e| e["details"]["path"] == "files/d/dup (2).txt")
        .unwrap();
    assert_eq!(second["details"]["replaces"]["unlogged"], true);
    assert_eq!(second["details"]["complete"], true);
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn resume_refuses_a_finished_case_a_broken_log_and_other_evidence() {
    let (w, plugins, evidence, mut data) = misbehave_work("ok");
    let case = w.path("case");
    let mut run = spawn_misbehave(&evidence, &case, &plugins, None);
    run.wait_for_log(&case, "before.txt was logged", before_logged);
    assert_code(&run.wait(), 0);

    let out = exhibit!("extract", "--resume", case, "--plugins", plugins);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("already finished (clean); there is nothing to resume"),
        "{}",
        stderr(&out)
    );

    // Killed just before run_finished, and the evidence is not the same
    // any more (same size, other bytes past what the plugin reads).
    let mut lines = log_lines(&case);
    lines.pop();
    std::fs::write(case.join("custody.jsonl"), lines.join("\n") + "\n").unwrap();
    let before_log = std::fs::read(case.join("custody.jsonl")).unwrap();
    let first_sha = fx::sha256_hex(&data);

    // A broken chain is never continued, and nothing is written to it.
    let mut broken = lines.clone();
    broken[3] = broken[3].replacen("\"seq\":3", "\"seq\":33", 1);
    std::fs::write(case.join("custody.jsonl"), broken.join("\n") + "\n").unwrap();
    let out = exhibit!("extract", "--resume", case, "--plugins", plugins);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("is broken at line 4"),
        "{}",
        stderr(&out)
    );
    assert_eq!(log_lines(&case), broken);
    std::fs::write(case.join("custody.jsonl"), &before_log).unwrap();

    data[500] = b'#';
    std::fs::write(&evidence, &data).unwrap();
    let out = exhibit!("extract", "--resume", case, "--plugins", plugins);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("CHANGED DURING THE RUN")
            && stderr(&out).contains(&format!("the run being resumed recorded {first_sha}")),
        "{}",
        stderr(&out)
    );
    let log = log(&case);
    let errors = actions(&log, "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["details"]["message"]
            .as_str()
            .unwrap()
            .contains("this is not the evidence the case was started from"),
        "{errors:?}"
    );
    assert_eq!(log.last().unwrap()["details"]["outcome"], "failed");
    // The plugin reads only the head, so both files match their first run.
    assert_eq!(actions(&log, "file_confirmed").len(), 2);
}

#[test]
fn resume_with_another_build_of_the_plugin_warns_and_compares() {
    let (w, plugins, evidence, _) = misbehave_work("ok");
    let case = w.path("case");
    let mut run = spawn_misbehave(&evidence, &case, &plugins, None);
    run.wait_for_log(&case, "before.txt was logged", before_logged);
    assert_code(&run.wait(), 0);
    // Killed just before run_finished.
    let mut lines = log_lines(&case);
    lines.pop();
    std::fs::write(case.join("custody.jsonl"), lines.join("\n") + "\n").unwrap();
    // Another build: same code, other bytes (trailing bytes load fine).
    let lib = plugins.join(lib_name("exhibit_test_misbehave"));
    let then = sha256_file(&lib);
    let mut f = std::fs::OpenOptions::new().append(true).open(&lib).unwrap();
    std::io::Write::write_all(&mut f, b"rebuilt").unwrap();
    drop(f);
    let now = sha256_file(&lib);

    let out = exhibit!("extract", "--resume", case, "--plugins", plugins);
    assert_code(&out, 2);
    let log = log(&case);
    let warnings = actions(&log, "warning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0]["details"]["message"],
        format!(
            "format plugin `misbehave` is not the library the case was started with (sha256 {then} then, {now} now): what it delivers again is compared with the log"
        )
    );
    assert_eq!(actions(&log, "file_confirmed").len(), 2);
    assert!(actions(&log, "error").is_empty());
    assert_code(&exhibit!("verify", case), 0);
}
