//! Plugins that lie to the host: a descriptor whose `handles_json` is not
//! JSON, entry metadata that is not JSON (or not entry metadata), and a file
//! that gets more bytes than its metadata declared. Each is refused or
//! reported by name, and everything the plugin delivered correctly is
//! extracted and verifies.

use crate::exhibit;
use crate::util::*;
use std::ffi::OsStr;

/// Content of `good-before.txt` and `good-after.txt` (tests/plugins/badmeta).
const BADMETA_GOOD: &[u8] = b"delivered around the bad metadata\n";

#[test]
fn a_descriptor_with_invalid_handles_json_is_refused_with_the_reason() {
    let w = Work::new();
    let dir = w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("xt_badmeta", "exhibit_test_badmeta"),
    ]);
    let lib = dir.join(lib_name("exhibit_test_badmeta"));
    let reason = "invalid descriptor: handles_json is not valid JSON: EOF while parsing a string at line 1 column 29";
    let broken = [("XT_BADMETA_HANDLES", "broken")];
    let args = |a: &[&OsStr]| a.iter().map(|s| s.to_os_string()).collect::<Vec<_>>();

    let out = run_env(
        &[
            OsStr::new("plugins"),
            OsStr::new("--plugins"),
            dir.as_os_str(),
        ],
        &broken,
        deadline(),
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains(&format!("plugin {} refused: {reason}", lib.display())),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("badmeta"), "{}", stdout(&out));
    assert!(stdout(&out).contains("tar "), "{}", stdout(&out));

    // The refusal is in the custody log with the library's hash, and the
    // plugins that loaded do their work.
    let tar = w.path("ffs.tar");
    exhibit_fixtures::write_tar(&tar).unwrap();
    let case = w.path("case");
    let extract = args(&[
        OsStr::new("extract"),
        tar.as_os_str(),
        OsStr::new("--case"),
        case.as_os_str(),
        OsStr::new("--plugins"),
        dir.as_os_str(),
    ]);
    let extract: Vec<&OsStr> = extract.iter().map(|s| s.as_os_str()).collect();
    let out = run_env(&extract, &broken, deadline());
    assert_code(&out, 2);
    let log = log(&case);
    let refused = actions(&log, "plugin_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["details"]["path"], lib.to_str().unwrap());
    assert_eq!(refused[0]["details"]["reason"], reason);
    assert_eq!(refused[0]["details"]["sha256"], sha256_file(&lib));
    assert_eq!(
        actions(&log, "file_extracted").len(),
        exhibit_fixtures::FILE_COUNT
    );
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn invalid_entry_metadata_is_an_error_naming_the_plugin_and_entry() {
    let w = Work::new();
    let dir = w.plugin_dir(&[("xt_badmeta", "exhibit_test_badmeta")]);
    let evidence = w.write("evidence/any.bin", b"anything\n");
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        case,
        "--plugins",
        dir,
        "--format",
        "badmeta"
    );
    assert_code(&out, 2);
    let log = log(&case);
    assert_eq!(
        log.last().unwrap()["details"]["outcome"],
        "completed_with_errors"
    );
    // The plugin saw both bad begins refused (it returns CORRUPT otherwise).
    assert_eq!(
        actions(&log, "plugin_finished")[0]["details"]["status"],
        "ok"
    );
    let errors: Vec<(&serde_json::Value, &str)> = actions(&log, "error")
        .into_iter()
        .map(|e| (e, e["details"]["message"].as_str().unwrap()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[0].1,
        "plugin `badmeta` sent invalid metadata for \"not-json.bin\": EOF while parsing an object at line 1 column 23"
    );
    assert_eq!(
        errors[1].1,
        "plugin `badmeta` sent invalid metadata for \"wrong-schema.bin\": unknown variant `banana`, expected one of `file`, `dir`, `symlink`, `hardlink`, `char_device`, `block_device`, `fifo`, `socket`, `other`, `region` at line 1 column 16"
    );
    for (e, _) in &errors {
        assert_eq!(e["details"]["plugin"], "badmeta");
    }
    assert_eq!(errors[0].0["details"]["name"], "not-json.bin");
    // Nothing was created for the refused entries; the good ones are whole.
    let files = actions(&log, "file_extracted");
    assert_eq!(files.len(), 2);
    for name in ["good-before.txt", "good-after.txt"] {
        let d = &extracted(&log, name)["details"];
        assert_eq!(d["complete"], true);
        assert_eq!(
            std::fs::read(case.join(d["path"].as_str().unwrap())).unwrap(),
            BADMETA_GOOD
        );
    }
    assert_eq!(
        files_below(&case.join("files")),
        ["good-after.txt", "good-before.txt"]
    );
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn more_bytes_than_declared_are_kept_and_reported() {
    let w = Work::new();
    let dir = w.plugin_dir(&[("xt_misbehave", "exhibit_test_misbehave")]);
    let evidence = w.write("evidence/liar.bin", b"overwrite\n");
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        case,
        "--plugins",
        dir,
        "--format",
        "misbehave"
    );
    assert_code(&out, 2);
    let log = log(&case);
    let liar = &extracted(&log, "liar.bin")["details"];
    // Every byte delivered is kept and hashed (nothing silently dropped),
    // and the log says the declaration was a lie.
    assert_eq!(liar["size"], 100);
    assert_eq!(liar["meta"]["size"], 10);
    assert_eq!(
        std::fs::read(case.join(liar["path"].as_str().unwrap())).unwrap(),
        [b'x'; 100]
    );
    assert_eq!(
        liar["hashes"]["sha256"],
        exhibit_fixtures::sha256_hex(&[b'x'; 100])
    );
    let errors: Vec<&str> = actions(&log, "error")
        .iter()
        .map(|e| e["details"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        ["plugin declared 10 bytes for files/liar.bin but delivered 100"]
    );
    assert_code(&exhibit!("verify", case), 0);
}
