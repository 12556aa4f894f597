//! Hostile and damaged tars: nothing written outside the case, a clear
//! error naming the entry and offset, everything intact still extracted,
//! and a case that verifies.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures::hostile;
use serde_json::Value;
use std::path::Path;

fn extract_hostile(name: &str, data: &[u8]) -> (Work, Hostile) {
    crate::util::extract_hostile(&format!("{name}.tar"), data, "tar")
}

fn content(o: &Hostile, name: &str) -> Vec<u8> {
    o.content(name)
}

fn messages<'a>(log: &'a [Value], action: &str) -> Vec<&'a str> {
    actions(log, action)
        .iter()
        .map(|e| e["details"]["message"].as_str().unwrap_or(""))
        .collect()
}

#[test]
fn traversal_names_stay_inside_the_case() {
    let (_w, o) = extract_hostile("traversal", &hostile::traversal());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(!Path::new("/tmp/exhibit-escape.txt").exists());
    assert!(!Path::new("/etc/exhibit-absolute.txt").exists());
    assert_eq!(actions(&o.log, "file_extracted").len(), 4);
    for name in hostile::TRAVERSAL_NAMES {
        let d = &extracted(&o.log, name)["details"];
        let path = d["path"].as_str().unwrap();
        assert!(
            path.starts_with("files/") && !path.split('/').any(|c| c == ".."),
            "{path}"
        );
        assert_eq!(content(&o, name), hostile::ESCAPE_CONTENT);
    }
    assert_eq!(
        extracted(&o.log, "../../../../tmp/exhibit-escape.txt")["details"]["path"],
        "files/%2E%2E/%2E%2E/%2E%2E/%2E%2E/tmp/exhibit-escape.txt"
    );
    assert_eq!(
        extracted(&o.log, "/etc/exhibit-absolute.txt")["details"]["path"],
        "files/etc/exhibit-absolute.txt"
    );
    let warnings = messages(&o.log, "warning");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("climbs out of the dump's root"),
        "{warnings:?}"
    );
    assert_eq!(content(&o, "ok.txt"), hostile::OK_CONTENT);
}

#[test]
fn links_are_recorded_never_created_or_followed() {
    let (_w, o) = extract_hostile("symlink-escape", &hostile::symlink_escape());
    let recorded = actions(&o.log, "entry_recorded");
    let link = |name: &str| {
        recorded
            .iter()
            .find(|e| e["details"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} not recorded"))["details"]
            .clone()
    };
    assert_eq!(link("evil")["kind"], "symlink");
    assert_eq!(link("evil")["meta"]["link_target"], "/tmp");
    assert_eq!(link("evil2")["meta"]["link_target"], "../../..");
    assert_eq!(link("hardlink-passwd")["kind"], "hardlink");
    assert_eq!(
        link("hardlink-passwd")["meta"]["link_target"],
        "/etc/passwd"
    );
    assert_eq!(
        extracted(&o.log, "evil/pwned.txt")["details"]["path"],
        "files/evil/pwned.txt"
    );
    assert!(o.case.join("files/evil").is_dir());
    assert_eq!(content(&o, "evil2/pwned2.txt"), hostile::PWNED_CONTENT);
    assert!(!Path::new("/tmp/pwned.txt").exists());
    // Nothing of the examiner's own /etc/passwd was copied.
    assert_eq!(actions(&o.log, "file_extracted").len(), 3);
    assert_eq!(content(&o, "ok.txt"), hostile::OK_CONTENT);
}

#[test]
fn duplicates_and_clashes_keep_every_version() {
    let (_w, o) = extract_hostile("duplicates", &hostile::duplicates());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    let dups: Vec<&Value> = actions(&o.log, "file_extracted")
        .into_iter()
        .filter(|e| e["details"]["name"] == "dup.txt")
        .collect();
    assert_eq!(dups.len(), 2);
    assert_eq!(dups[0]["details"]["path"], "files/dup.txt");
    assert_eq!(dups[1]["details"]["path"], "files/dup (2).txt");
    assert_eq!(
        std::fs::read(o.case.join("files/dup.txt")).unwrap(),
        hostile::DUP_FIRST
    );
    assert_eq!(
        std::fs::read(o.case.join("files/dup (2).txt")).unwrap(),
        hostile::DUP_SECOND
    );
    assert_eq!(
        extracted(&o.log, "x/y.txt")["details"]["path"],
        "files/x (2)/y.txt"
    );
    assert_eq!(extracted(&o.log, "d")["details"]["path"], "files/d (2)");
    assert_eq!(
        std::fs::read(o.case.join("files/x")).unwrap(),
        b"x is a file\n"
    );
    let warnings = messages(&o.log, "warning");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("files/dup.txt is already taken"),
        "{warnings:?}"
    );
}

#[test]
fn truncated_archive_keeps_what_precedes_and_marks_the_cut_file() {
    let (_w, o) = extract_hostile("truncated", &hostile::truncated());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    let files = actions(&o.log, "file_extracted");
    assert_eq!(files.len(), 2, "c.txt must not be invented");
    assert_eq!(extracted(&o.log, "a.txt")["details"]["complete"], true);
    assert_eq!(
        extracted(&o.log, "a.txt")["details"]["size"],
        hostile::TRUNCATED_SIZES[0]
    );
    let b = &extracted(&o.log, "b.txt")["details"];
    assert_eq!(b["complete"], false);
    assert_eq!(b["size"], 1000);
    assert_eq!(b["meta"]["offset"], hostile::TRUNCATED_B_HEADER);
    let errors = messages(&o.log, "error");
    assert!(
        errors
            .iter()
            .any(|m| m.contains("b.txt") && m.contains("incomplete")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|m| m.contains("0xbe8")),
        "the cut offset 3048 is named: {errors:?}"
    );
}

#[test]
fn garbage_header_is_reported_and_skipped() {
    let (_w, o) = extract_hostile("garbage-header", &hostile::garbage_header());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    for (i, want) in hostile::GARBAGE_FILE_CONTENTS.iter().enumerate() {
        let name = format!("file{}.txt", i + 1);
        assert_eq!(content(&o, &name), *want, "{name}");
        assert_eq!(
            extracted(&o.log, &name)["details"]["meta"]["offset"],
            hostile::GARBAGE_FILE_HEADERS[i]
        );
    }
    let problems: Vec<&Value> = o
        .log
        .iter()
        .filter(|e| e["action"] == "error" || e["action"] == "warning")
        .collect();
    assert!(
        problems
            .iter()
            .any(|e| e["details"]["offset"] == hostile::GARBAGE_OFFSET
                && e["details"]["message"].as_str().unwrap().contains("0x400")),
        "{problems:?}"
    );
}

#[test]
fn huge_and_negative_sizes_do_not_allocate_or_spin() {
    let (_w, o) = extract_hostile("huge-size", &hostile::huge_size());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(content(&o, "ok.txt"), hostile::OK_CONTENT);
    let huge = &extracted(&o.log, "huge.bin")["details"];
    assert_eq!(huge["complete"], false);
    assert_eq!(huge["size"], 1024);

    let (_w, o) = extract_hostile("negative-size", &hostile::negative_size());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(content(&o, "ok.txt"), hostile::OK_CONTENT);
    assert_eq!(content(&o, "after.txt"), hostile::AFTER_CONTENT);
    let errors = messages(&o.log, "error");
    assert!(errors.iter().any(|m| m.contains("0x400")), "{errors:?}");
}

#[test]
fn control_characters_and_long_names_are_escaped_and_never_printed_raw() {
    let (_w, o) = extract_hostile("nul-and-control-names", &hostile::nul_and_control_names());
    let files = actions(&o.log, "file_extracted");
    assert_eq!(files.len(), 6);
    let esc = files
        .iter()
        .find(|e| e["details"]["name"] == "evil\u{1b}[31mred.txt")
        .unwrap();
    assert_eq!(esc["details"]["path"], "files/evil%1B[31mred.txt");
    let latin1 = files
        .iter()
        .find(|e| e["details"]["name"]["hex"] == "636166e92e747874")
        .unwrap();
    assert_eq!(latin1["details"]["path"], "files/caf%E9.txt");
    let long = String::from_utf8(hostile::long_component()).unwrap();
    let long_path = extracted(&o.log, &long)["details"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let leaf = long_path.rsplit('/').next().unwrap();
    assert!(leaf.len() <= 255 && leaf.ends_with(".txt"), "{leaf}");
    assert_eq!(std::fs::read(o.case.join(&long_path)).unwrap(), b"5\n");
    for file in files_below(&o.case) {
        assert!(
            !file.chars().any(char::is_control),
            "control char in {file:?}"
        );
    }
    assert!(
        !o.stderr.contains('\u{1b}'),
        "raw escape reached the terminal: {:?}",
        o.stderr
    );
    let shown = exhibit!("log", o.case);
    assert!(!stdout(&shown).contains('\u{1b}'));
    assert!(
        stdout(&shown).contains("evil\\u{1b}[31mred.txt"),
        "{}",
        stdout(&shown)
    );
}
