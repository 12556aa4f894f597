//! Where reports and exports go and what they do to the case: written into
//! `case/reports/` they are recorded in the custody log and checked by
//! `verify` like any other file; written elsewhere they leave the case
//! untouched; a tampered log is never reported on.

use crate::exhibit;
use crate::util::*;

/// The default report lands in case/reports/, is logged as its own run
/// with the digest of its bytes and the chain it was made from, and
/// `verify` then checks it: an edit to the report is caught.
#[test]
fn a_report_in_the_case_is_logged_and_verified() {
    let w = Work::new();
    let case = fixture_case(&w);
    let before = log(&case);
    let chain_before = sha256_line(&case, before.len() - 1);

    let out = exhibit!("report", case, "--examiner", "R. Eporter");
    assert_code(&out, 0);
    let report = case.join("reports/report.html");
    assert!(report.is_file(), "{}", stdout(&out));
    assert!(!case.join("reports/report.html.partial").exists());

    let after = log(&case);
    let added: Vec<&str> = after[before.len()..]
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["case_reopened", "report_written", "run_finished"]);
    let reopened = &after[before.len()]["details"];
    assert_eq!(reopened["purpose"], "report");
    assert_eq!(reopened["examiner"], "R. Eporter");
    let written = &after[before.len() + 1]["details"];
    assert_eq!(written["path"], "reports/report.html");
    assert_eq!(written["format"], "html");
    assert_eq!(written["hashes"]["sha256"], sha256_file(&report));
    assert_eq!(
        written["hashes"]["md5"].as_str().map(str::len),
        Some(32),
        "the case's extra digests apply to reports too"
    );
    assert_eq!(written["size"], std::fs::metadata(&report).unwrap().len());
    assert_eq!(written["made_from_chain_sha256"], chain_before);
    assert_eq!(written["made_from_entries"], before.len());
    assert!(
        stdout(&out).contains(&sha256_file(&report)),
        "{}",
        stdout(&out)
    );

    let verified = exhibit!("verify", case);
    assert_code(&verified, 0);
    // The hash kept at extraction still anchors the log it began.
    let anchored = exhibit!("verify", case, "--expect", chain_before);
    assert_code(&anchored, 0);
    assert!(
        stdout(&anchored).contains(&format!(
            "the expected hash is that of entry {}; 3 entries were appended",
            before.len() - 1
        )),
        "{}",
        stdout(&anchored)
    );
    let wrong = exhibit!("verify", case, "--expect", "00".repeat(32));
    assert_code(&wrong, 1);

    let mut bytes = std::fs::read(&report).unwrap();
    bytes.extend_from_slice(b"<!-- edited -->");
    std::fs::write(&report, bytes).unwrap();
    let verified = exhibit!("verify", case);
    assert_code(&verified, 1);
    assert!(
        stdout(&verified).contains("reports/report.html"),
        "{}",
        stdout(&verified)
    );
}

/// Every export has its default name under case/reports/ and is logged
/// under its format's name.
#[test]
fn exports_have_default_names_and_formats() {
    let w = Work::new();
    let case = fixture_case(&w);
    for (format, file) in [
        ("timeline", "timeline.csv"),
        ("dfxml", "dfxml.xml"),
        ("case-uco", "case-uco.jsonld"),
    ] {
        let out = exhibit!("export", case, "--format", format);
        assert_code(&out, 0);
        let path = case.join("reports").join(file);
        assert!(path.is_file(), "{format}: {}", stderr(&out));
        let log = log(&case);
        let written = actions(&log, "report_written");
        let last = &written.last().unwrap()["details"];
        assert_eq!(last["format"], format);
        assert_eq!(last["path"], format!("reports/{file}"));
        assert_eq!(last["hashes"]["sha256"], sha256_file(&path));
    }
    let out = exhibit!("log", case, "--format", "html");
    assert_code(&out, 0);
    assert!(case.join("reports/custody.html").is_file());
    assert_code(&exhibit!("verify", case), 0);
}

/// Outside the case, or on standard output, the case is not touched: its
/// log is the same bytes before and after.
#[test]
fn an_output_outside_the_case_leaves_it_untouched() {
    let w = Work::new();
    let case = fixture_case(&w);
    let log_before = std::fs::read(case.join("custody.jsonl")).unwrap();

    let file = w.path("elsewhere/timeline.csv");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = exhibit!("export", case, "--format", "timeline", "--out", file);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("unchanged"), "{}", stdout(&out));
    let on_disk = std::fs::read(&file).unwrap();

    let piped = exhibit!("export", case, "--format", "timeline", "--out", "-");
    assert_code(&piped, 0);
    assert_eq!(piped.stdout, on_disk, "stdout and file are the same export");
    assert!(
        stderr(&piped).contains(&sha256_file(&file)),
        "the digest goes to stderr: {}",
        stderr(&piped)
    );

    let folder = w.path("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let into_folder = exhibit!("export", case, "--format", "timeline", "--out", folder);
    assert_code(&into_folder, 0);
    assert_eq!(std::fs::read(folder.join("timeline.csv")).unwrap(), on_disk);

    assert_eq!(
        std::fs::read(case.join("custody.jsonl")).unwrap(),
        log_before
    );
    assert!(!case.join("reports").exists());
    assert_code(&exhibit!("verify", case), 0);
}

/// Inside the case only reports/ takes outputs; the extraction's own
/// folders are refused, and nothing is written or logged.
#[test]
fn an_output_among_the_extracted_files_is_refused() {
    let w = Work::new();
    let case = fixture_case(&w);
    let log_before = std::fs::read(case.join("custody.jsonl")).unwrap();
    for target in ["files/report.html", "report.html", "artifacts/x.csv"] {
        let out = exhibit!("report", case, "--out", case.join(target));
        assert_code(&out, 1);
        assert!(
            stderr(&out).contains("reports go under"),
            "{}",
            stderr(&out)
        );
        assert!(!case.join(target).exists(), "{target} was written");
    }
    assert_eq!(
        std::fs::read(case.join("custody.jsonl")).unwrap(),
        log_before
    );
}

/// A log whose chain is broken is not reported on: the report would
/// present an edited record as the case.
#[test]
fn a_tampered_log_is_not_reported_on() {
    let w = Work::new();
    let case = fixture_case(&w);
    let path = case.join("custody.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("E. Xaminer", "Someone Else", 1)).unwrap();
    let out = exhibit!("report", case, "--out", w.path("r.html"));
    assert_code(&out, 1);
    assert!(stderr(&out).contains("chain is broken"), "{}", stderr(&out));
    assert!(!w.path("r.html").exists());
    assert!(!w.path("r.html.partial").exists());
}

/// A bad `--tz` is refused before anything is written.
#[test]
fn an_unknown_zone_is_refused() {
    let w = Work::new();
    let case = fixture_case(&w);
    let out = exhibit!("report", case, "--tz", "Mars/Olympus_Mons");
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("Mars/Olympus_Mons"),
        "{}",
        stderr(&out)
    );
    assert!(!case.join("reports").exists());
}

/// SHA-256 of line `index` of the case's custody log: the chain hash after it.
fn sha256_line(case: &std::path::Path, index: usize) -> String {
    let text = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    let line = text.lines().nth(index).unwrap();
    let w = Work::new();
    sha256_file(&w.write("line", line.as_bytes()))
}
