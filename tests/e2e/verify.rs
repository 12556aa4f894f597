//! `exhibit verify` passes on a clean case and fails, naming what, after
//! each kind of tampering.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use std::path::{Path, PathBuf};

/// One clean case per test binary run is enough; each test tampers with a copy.
fn clean_case(w: &Work) -> PathBuf {
    let tar = w.path("ffs.tar");
    fx::write_tar(&tar).unwrap();
    let case = w.path("clean");
    let out = exhibit!(
        "extract",
        tar,
        "--case",
        case,
        "--plugins",
        w.real_plugins()
    );
    assert_code(&out, 0);
    case
}

fn copy_case(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let target = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn log_lines(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("custody.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_log(case: &Path, lines: &[String]) {
    std::fs::write(case.join("custody.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// Runs verify on a tampered copy and returns its stdout, asserting failure.
fn tampered(w: &Work, clean: &Path, name: &str, tamper: impl FnOnce(&Path)) -> String {
    let case = w.path(name);
    copy_case(clean, &case);
    tamper(&case);
    let out = exhibit!("verify", case);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("NOT VERIFIED"), "{text}");
    text
}

#[test]
fn clean_case_verifies_and_each_tampering_is_named() {
    let w = Work::new();
    let clean = clean_case(&w);
    let ok = exhibit!("verify", clean);
    assert_code(&ok, 0);
    let text = stdout(&ok);
    assert!(
        text.contains(&format!("{0} of {0} files intact", fx::FILE_COUNT)),
        "{text}"
    );

    let sms = format!("files/{}", fx::MMSSMS_PATH);
    let out = tampered(&w, &clean, "byte", |case| {
        let path = case.join(&sms);
        let mut data = std::fs::read(&path).unwrap();
        data[100] ^= 0x01;
        std::fs::write(&path, data).unwrap();
    });
    assert!(
        out.contains(&format!("FAIL  {sms} changed: sha256 is ")),
        "{out}"
    );
    assert_eq!(out.matches("FAIL").count(), 1, "{out}");

    let jpeg = format!("files/{}", fx::JPEG_PATH);
    let out = tampered(&w, &clean, "deleted", |case| {
        std::fs::remove_file(case.join(&jpeg)).unwrap()
    });
    assert!(out.contains(&format!("FAIL  {jpeg} is missing")), "{out}");

    let out = tampered(&w, &clean, "added", |case| {
        std::fs::write(case.join("files/data/planted.txt"), b"planted").unwrap();
    });
    assert!(
        out.contains("FAIL  files/data/planted.txt is not in the custody log"),
        "{out}"
    );

    // An edit that keeps the JSON valid: a recorded size changed.
    let out = tampered(&w, &clean, "edited", |case| {
        let mut lines = log_lines(case);
        let i = lines
            .iter()
            .position(|l| l.contains("\"file_extracted\""))
            .unwrap();
        lines[i] = lines[i].replacen("\"size\":", "\"size\":1", 1);
        write_log(case, &lines);
    });
    let edited_line = log_lines(&clean)
        .iter()
        .position(|l| l.contains("\"file_extracted\""))
        .unwrap()
        + 1;
    assert!(
        out.contains(&format!(
            "log line {edited_line} (entry {}) was edited",
            edited_line - 1
        )),
        "{out}"
    );

    let out = tampered(&w, &clean, "removed", |case| {
        let mut lines = log_lines(case);
        lines.remove(5);
        write_log(case, &lines);
    });
    assert!(
        out.contains("log entry 5 is missing before line 6"),
        "{out}"
    );

    let out = tampered(&w, &clean, "swapped", |case| {
        let mut lines = log_lines(case);
        lines.swap(5, 6);
        write_log(case, &lines);
    });
    assert!(
        out.contains("log line 7 holds entry 5 where entry 7 belongs (entries reordered"),
        "{out}"
    );

    // A cut tail looks like a killed run (exit 3, not 1): only a kept
    // chain hash (`--expect`) tells the two apart.
    let case = w.path("truncated");
    copy_case(&clean, &case);
    let mut lines = log_lines(&case);
    lines.truncate(lines.len() - 3);
    write_log(&case, &lines);
    let out = exhibit!("verify", case);
    assert_code(&out, 3);
    assert!(
        stdout(&out).contains("the run is incomplete"),
        "{}",
        stdout(&out)
    );
    let chain = fx::sha256_hex(log_lines(&clean).last().unwrap().as_bytes());
    assert_code(&exhibit!("verify", case, "--expect", chain), 1);
}

#[test]
fn expect_anchors_the_chain_and_json_names_problems() {
    let w = Work::new();
    let tar = w.path("ffs.tar");
    fx::write_tar(&tar).unwrap();
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        tar,
        "--case",
        case,
        "--plugins",
        w.real_plugins(),
        "--json"
    );
    assert_code(&out, 0);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(lines[0]["data"]["format_version"], 1);
    let chain = lines[1]["data"]["chain_hash"].as_str().unwrap().to_owned();
    let last_line = log_lines(&case).last().unwrap().clone();
    assert_eq!(chain, fx::sha256_hex(last_line.as_bytes()));

    assert_code(&exhibit!("verify", case, "--expect", chain), 0);
    let wrong = "f".repeat(64);
    let out = exhibit!("verify", case, "--expect", wrong, "--json");
    assert_code(&out, 1);
    let msgs: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let problems: Vec<_> = msgs.iter().filter(|m| m["type"] == "problem").collect();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["data"]["detail"]["problem"], "chain_mismatch");
    assert_eq!(problems[0]["data"]["detail"]["actual"], chain.as_str());
    assert_eq!(msgs.last().unwrap()["data"]["ok"], false);
}
