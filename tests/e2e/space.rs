//! The case disk is never filled: a dump that cannot fit is refused before
//! anything is written, and an entry that claims more than the disk can
//! hold stops the run with an error naming it, the space needed and free.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use std::path::Path;

/// Free bytes on the file system holding `dir`, as `df` reports them.
fn free_bytes(dir: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_dump_that_cannot_fit_is_refused_before_writing() {
    let w = Work::new();
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        fx::COMMITTED_TAR,
        "--case",
        case,
        "--min-free",
        "1000000T"
    );
    assert_code(&out, 1);
    let log = log(&case);
    let errors = actions(&log, "error");
    assert_eq!(errors.len(), 1);
    let message = errors[0]["details"]["message"].as_str().unwrap();
    assert!(message.starts_with("the case disk has "), "{message}");
    assert!(
        message.contains(&format!(
            "this dump needs at least {} bytes plus the reserve of {} bytes",
            std::fs::metadata(fx::COMMITTED_TAR).unwrap().len(),
            1_000_000u64 << 40
        )),
        "{message}"
    );
    assert!(actions(&log, "file_extracted").is_empty());
    assert_eq!(log.last().unwrap()["details"]["outcome"], "failed");
    assert_eq!(files_below(&case.join("files")), Vec::<String>::new());
}

#[test]
fn an_entry_claiming_more_than_the_disk_holds_stops_the_run() {
    let w = Work::new();
    let evidence = w.write("huge.tar", &exhibit_fixtures::hostile::huge_size());
    let case = w.path("case");
    // Leave 1 GiB usable: the archive itself fits, its 8 GiB member does not.
    let reserve = free_bytes(w.dir.path()) - (1 << 30);
    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        case,
        "--plugins",
        w.real_plugins(),
        "--min-free",
        reserve.to_string()
    );
    assert_code(&out, 1);
    let log = log(&case);
    // ok.txt, before the claim, is kept; huge.bin is never created.
    assert_eq!(
        std::fs::read(case.join("files/ok.txt")).unwrap(),
        exhibit_fixtures::hostile::OK_CONTENT
    );
    assert!(!case.join("files/huge.bin").exists());
    let errors = actions(&log, "error");
    let stop = errors
        .iter()
        .find(|e| e["details"]["needed"] == exhibit_fixtures::hostile::HUGE_DECLARED_SIZE)
        .expect("an error naming the space needed");
    let message = stop["details"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "\"huge.bin\" declares {} bytes but the case disk has only ",
            exhibit_fixtures::hostile::HUGE_DECLARED_SIZE
        )),
        "{message}"
    );
    assert_eq!(
        stop["details"]["offset"],
        exhibit_fixtures::hostile::HUGE_HEADER
    );
    assert_eq!(log.last().unwrap()["details"]["outcome"], "failed");
    assert_code(&exhibit!("verify", case), 0);
}
