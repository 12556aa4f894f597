//! The command-line contract: exit codes, refusals, settings and output.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;

#[test]
fn non_empty_case_folder_is_refused_and_left_alone() {
    let w = Work::new();
    let case = w.path("case");
    let keep = w.write("case/notes.txt", b"examiner's notes");
    let out = exhibit!("extract", fx::COMMITTED_TAR, "--case", case);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("is not empty; choose a new folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files_below(&case), vec!["notes.txt".to_owned()]);
    assert_eq!(std::fs::read(keep).unwrap(), b"examiner's notes");
}

#[test]
fn usage_errors_exit_64_and_help_lists_exit_codes() {
    let out = exhibit!("extract");
    assert_code(&out, 64);
    let help = exhibit!("--help");
    assert_code(&help, 0);
    let text = stdout(&help);
    for line in [
        "0    success",
        "2    completed with errors",
        "130  interrupted",
    ] {
        assert!(text.contains(line), "{text}");
    }
}

#[test]
fn settings_file_supplies_defaults_and_flags_override_it() {
    let w = Work::new();
    let settings = w.write(
        "exhibit.toml",
        b"examiner = \"Settings Examiner\"\nagency = \"Lab 7\"\nhash = [\"md5\"]\n",
    );
    let case = w.path("c1");
    let out = exhibit!(
        "extract",
        fx::COMMITTED_TAR,
        "--case",
        case,
        "--config",
        settings
    );
    assert_code(&out, 0);
    let log = log(&case);
    let opened = &log[0]["details"];
    assert_eq!(opened["examiner"], "Settings Examiner");
    assert_eq!(opened["agency"], "Lab 7");
    assert_eq!(
        opened["hash_algorithms"],
        serde_json::json!(["md5", "sha256"])
    );
    assert_eq!(
        opened["settings"]["settings_file"],
        settings.to_str().unwrap()
    );
    assert!(actions(&log, "file_extracted")[0]["details"]["hashes"]["md5"].is_string());

    let case = w.path("c2");
    let out = exhibit!(
        "extract",
        fx::COMMITTED_TAR,
        "--case",
        case,
        "--config",
        settings,
        "--examiner",
        "Flag Examiner",
        "--hash",
        "sha1"
    );
    assert_code(&out, 0);
    let opened = &crate::util::log(&case)[0]["details"];
    assert_eq!(opened["examiner"], "Flag Examiner");
    assert_eq!(
        opened["hash_algorithms"],
        serde_json::json!(["sha1", "sha256"])
    );

    let bad = w.write("bad.toml", b"examinr = \"typo\"\n");
    let out = exhibit!("plugins", "--config", bad);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("unknown field `examinr`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn identify_and_plugins_report_in_json() {
    let out = exhibit!("identify", fx::COMMITTED_TAR, "--json");
    assert_code(&out, 0);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(
        lines[1]["data"],
        serde_json::json!({"plugin": "tar", "confidence": 100})
    );
    assert_eq!(lines.last().unwrap()["data"]["format"], "tar");

    let out = exhibit!("plugins", "--json");
    assert_code(&out, 0);
    let plugins: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["type"] == "plugin")
        .map(|m| m["data"].clone())
        .collect();
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // Loaded in library-file order: decoders (libexhibit_artifacts_*) first.
    assert_eq!(
        names,
        vec![
            "android",
            "ios",
            "android-backup",
            "folder",
            "ios-backup",
            "raw-image",
            "tar",
            "zip"
        ]
    );
    for decoder in &plugins[..2] {
        assert_eq!(decoder["kind"], "artifact");
        assert_eq!(
            decoder["kinds"],
            serde_json::json!(["messages", "contacts", "calls"])
        );
        assert!(decoder["paths"].as_array().is_some_and(|p| !p.is_empty()));
    }
    assert!(plugins[2..].iter().all(|p| p["kind"] == "format"));
    assert_eq!(plugins[2]["extensions"], serde_json::json!(["ab"]));
}

#[test]
fn log_shows_every_entry_and_how_to_recheck() {
    let w = Work::new();
    let case = w.path("case");
    assert_code(
        &exhibit!(
            "extract",
            fx::COMMITTED_TAR,
            "--case",
            case,
            "--examiner",
            "E"
        ),
        0,
    );
    let out = exhibit!("log", case);
    assert_code(&out, 0);
    let text = stdout(&out);
    let entries = log(&case).len();
    assert_eq!(text.lines().count(), entries + 2, "{text}");
    assert!(text.contains("case opened by E"), "{text}");
    assert!(
        text.contains(&format!("file files/{} (", fx::MMSSMS_PATH)),
        "{text}"
    );
    assert!(text.contains("evidence re-checked: unchanged"), "{text}");
    assert!(text.contains("re-check with: exhibit verify"), "{text}");
}
