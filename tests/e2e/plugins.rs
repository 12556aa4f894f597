//! Loading plugins from disk: refusals with clear messages while the
//! others still load, and a panicking plugin that cannot take the run down.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;

#[test]
fn other_abi_version_is_refused_and_the_others_still_load() {
    let w = Work::new();
    let dir = w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("xt_abi_mismatch", "exhibit_test_future"),
    ]);
    // A library that is not an exhibit plugin at all.
    std::fs::write(
        dir.join(lib_name("exhibit_not_a_library")),
        b"not an ELF file",
    )
    .unwrap();

    let out = exhibit!("plugins", "--plugins", dir);
    assert_code(&out, 2);
    let err = stderr(&out);
    let future = dir.join(lib_name("exhibit_test_future"));
    assert!(
        err.contains(&format!(
            "plugin {} refused: speaks ABI v2, this exhibit speaks v1",
            future.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("exhibit_not_a_library")
            && err.contains("the dynamic loader refused it: ")
            && err.contains("file too short"),
        "{err}"
    );
    assert!(stdout(&out).contains("tar "), "{}", stdout(&out));

    // Extraction goes on with the plugin that loaded; the refusals are logged.
    let tar = w.path("ffs.tar");
    fx::write_tar(&tar).unwrap();
    let case = w.path("case");
    let out = exhibit!("extract", tar, "--case", case, "--plugins", dir);
    assert_code(&out, 2);
    let log = log(&case);
    let refused = actions(&log, "plugin_refused");
    assert_eq!(refused.len(), 2);
    let future_entry = refused
        .iter()
        .find(|e| e["details"]["path"] == future.to_str().unwrap())
        .unwrap();
    assert_eq!(
        future_entry["details"]["reason"],
        "speaks ABI v2, this exhibit speaks v1"
    );
    assert_eq!(future_entry["details"]["sha256"], sha256_file(&future));
    assert_eq!(actions(&log, "file_extracted").len(), fx::FILE_COUNT);
}

#[test]
fn duplicate_plugin_names_are_refused() {
    let w = Work::new();
    let dir = w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("exhibit_format_tar", "exhibit_format_tar_copy"),
    ]);
    let out = exhibit!("plugins", "--plugins", dir, "--json");
    assert_code(&out, 2);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refused: Vec<_> = lines.iter().filter(|l| l["type"] == "refused").collect();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("another plugin named `tar` is already loaded from"),
        "{refused:?}"
    );
}

#[test]
fn a_panicking_plugin_becomes_an_error_entry_and_the_run_finishes() {
    let w = Work::new();
    let dir = w.plugin_dir(&[("xt_panicker", "exhibit_test_panicker")]);
    let evidence = w.write("any.bin", b"whatever");
    let case = w.path("case");
    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        case,
        "--plugins",
        dir,
        "--format",
        "panicker"
    );
    assert_code(&out, 1);
    let log = log(&case);
    assert_eq!(log.last().unwrap()["action"], "run_finished");
    assert_eq!(log.last().unwrap()["details"]["outcome"], "failed");
    let errors = actions(&log, "error");
    let panic = errors
        .iter()
        .find(|e| e["details"]["status"] == "panicked")
        .expect("a panicked error entry");
    assert!(
        panic["details"]["message"]
            .as_str()
            .unwrap()
            .starts_with("plugin `panicker` panicked: index out of bounds"),
        "{panic}"
    );
    let before = extracted(&log, "before.txt");
    assert_eq!(before["details"]["complete"], true);
    assert_eq!(
        std::fs::read(case.join("files/before.txt")).unwrap(),
        b"delivered before the panic\n"
    );
    let during = extracted(&log, "during.txt");
    assert_eq!(during["details"]["complete"], false);
    assert_eq!(during["details"]["size"], 4);
    assert_eq!(
        actions(&log, "plugin_finished")[0]["details"]["status"],
        "panicked"
    );
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn unknown_format_and_unrecognised_evidence_are_clear_failures() {
    let w = Work::new();
    let plugins = w.real_plugins();
    let evidence = w.write("random.bin", &fx::pseudo_random(4096, 7));
    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        w.path("c1"),
        "--plugins",
        plugins,
        "--format",
        "nope"
    );
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("no format plugin named `nope` is loaded"),
        "{}",
        stderr(&out)
    );
    assert!(
        !w.path("c1").exists(),
        "no case folder for a command that could not start"
    );

    let out = exhibit!(
        "extract",
        evidence,
        "--case",
        w.path("c2"),
        "--plugins",
        plugins
    );
    assert_code(&out, 1);
    let log = log(&w.path("c2"));
    let errors = actions(&log, "error");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]["details"]["message"]
            .as_str()
            .unwrap()
            .contains("no format plugin recognises")
    );
    assert_eq!(log.last().unwrap()["details"]["outcome"], "failed");

    let id = exhibit!("identify", evidence, "--plugins", plugins);
    assert_code(&id, 1);
    assert!(
        stdout(&id).contains("no format plugin recognises it"),
        "{}",
        stdout(&id)
    );
}
