//! Android adb backups end to end: the real `android-backup` format plugin
//! and `android` decoder loaded from disk, over the fixture generator's
//! `.ab` files (plain, compressed, encrypted with ASCII, Latin-1 and
//! non-ASCII passwords): every file against the generator's truth, the
//! header in the custody log and the password nowhere, the records decoded,
//! and wrong, missing and truncated input.

use crate::decode::{assert_provenance, decoding_plugins, records};
use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use exhibit_fixtures::AbFixture;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `exhibit extract BACKUP --case CASE` with the decoding plugins,
/// extra arguments and environment.
fn extract_ab(
    w: &Work,
    name: &str,
    data: &[u8],
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Output, PathBuf) {
    let evidence = w.write(&format!("evidence/{name}"), data);
    let plugins = decoding_plugins(w);
    let case = w.path(&format!("cases/{name}"));
    let home = w.path("home");
    let mut cmd = Command::new(exhibit_bin());
    cmd.arg("extract")
        .arg(&evidence)
        .arg("--case")
        .arg(&case)
        .arg("--plugins")
        .arg(&plugins)
        .args(extra)
        .env_remove("EXHIBIT_PLUGIN_PATH")
        .env_remove("EXHIBIT_PASSWORD")
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.output().expect("run exhibit"), case)
}

fn password_args(f: AbFixture) -> Vec<&'static str> {
    f.password()
        .map_or_else(Vec::new, |p| vec!["--password", p])
}

/// Every file of the backup is extracted under its tar name with the
/// truth's SHA-256, and carries its package and tree in its metadata.
fn assert_entries_match_truth(log: &[Value], case: &Path) {
    let truth = fx::ab_entries().unwrap();
    let files: Vec<&fx::AbEntry> = truth.iter().filter(|e| e.sha256.is_some()).collect();
    assert_eq!(actions(log, "file_extracted").len(), files.len());
    for t in files {
        let d = &extracted(log, &t.path)["details"];
        assert_eq!(
            d["hashes"]["sha256"],
            t.sha256.as_deref().unwrap(),
            "{}",
            t.path
        );
        assert_eq!(d["complete"], true, "{}", t.path);
        let on_disk = case.join(d["path"].as_str().unwrap());
        assert_eq!(sha256_file(&on_disk), t.sha256.as_deref().unwrap());
        let meta = &d["meta"]["extra"]["android_backup"];
        let tree = if t.relpath == "_manifest" {
            "_manifest"
        } else {
            t.domain
        };
        assert_eq!(meta["tree"], tree, "{}: {meta}", t.path);
        if t.domain != "shared" {
            assert_eq!(meta["package"], t.package, "{}: {meta}", t.path);
        }
    }
}

#[test]
fn every_fixture_backup_extracts_every_file_and_decodes_its_records() {
    let w = Work::new();
    for f in AbFixture::ALL {
        let (out, case) = extract_ab(
            &w,
            f.file_name(),
            &f.bytes().unwrap(),
            &password_args(f),
            &[],
        );
        assert_code(&out, 0);
        let log = log(&case);
        assert_entries_match_truth(&log, &case);
        assert_eq!(
            actions(&log, "plugin_selected")[0]["details"]["plugin"],
            "android-backup"
        );

        // The header's fields are a custody entry; the password is nowhere.
        let header = actions(&log, "evidence_described")
            .into_iter()
            .find(|e| e["details"]["what"] == "android backup header")
            .unwrap_or_else(|| panic!("{}: no header entry", f.file_name()));
        let opts = f.options();
        assert_eq!(header["details"]["details"]["version"], opts.version);
        assert_eq!(header["details"]["details"]["compressed"], opts.compressed);
        let raw_log = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
        if let Some(password) = f.password() {
            assert!(
                !raw_log.contains(password),
                "{}: password logged",
                f.file_name()
            );
            let asked = actions(&log, "password_requested");
            assert_eq!(asked.len(), 1, "{}", f.file_name());
            assert_eq!(asked[0]["details"]["source"], "command line");
        } else {
            assert!(actions(&log, "password_requested").is_empty());
        }

        // Messages from both the telephony backup files and mmssms.db,
        // contacts and calls from the provider databases.
        assert_provenance(&case, &log);
        let messages = records(&case, "messages");
        for source in [
            fx::adb::AB_SMS_BACKUP_PATH,
            fx::adb::AB_MMS_BACKUP_PATH,
            fx::adb::AB_MMSSMS_PATH,
        ] {
            assert!(
                messages
                    .iter()
                    .any(|m| m["provenance"]["file"] == format!("files/{source}")),
                "{}: no message from {source}",
                f.file_name()
            );
        }
        let from_backup: Vec<&Value> = messages
            .iter()
            .filter(|m| m["provenance"]["file"] == format!("files/{}", fx::adb::AB_SMS_BACKUP_PATH))
            .collect();
        let sms_json: Vec<Value> =
            serde_json::from_str(&fx::telephony_backup::sms_backup_json()).unwrap();
        assert_eq!(from_backup.len(), sms_json.len());
        for (record, json) in from_backup.iter().zip(&sms_json) {
            assert_eq!(record["body"].as_str(), json["body"].as_str());
        }
        assert_eq!(records(&case, "contacts").len(), fx::CONTACTS.len());
        assert_eq!(
            records(&case, "calls").len(),
            fx::CALLS.len() + fx::LEGACY_CALLS.len()
        );
        assert_code(&exhibit!("verify", case), 0);
    }
}

#[test]
fn the_password_can_come_from_the_environment() {
    let w = Work::new();
    let f = AbFixture::V5CompressedEncrypted;
    let password = f.password().unwrap();
    let (out, case) = extract_ab(
        &w,
        f.file_name(),
        &f.bytes().unwrap(),
        &[],
        &[("EXHIBIT_PASSWORD", password)],
    );
    assert_code(&out, 0);
    let log = log(&case);
    assert_eq!(
        actions(&log, "password_requested")[0]["details"]["source"],
        "environment"
    );
    assert_entries_match_truth(&log, &case);
}

#[test]
fn a_wrong_password_is_its_own_error_and_nothing_is_extracted() {
    let w = Work::new();
    for f in [
        AbFixture::V5CompressedEncrypted,
        AbFixture::V1CompressedEncrypted,
    ] {
        let (out, case) = extract_ab(
            &w,
            f.file_name(),
            &f.bytes().unwrap(),
            &["--password", "not it"],
            &[],
        );
        assert_code(&out, 1);
        let expected = format!("wrong password for {}", f.file_name());
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        let log = log(&case);
        assert!(actions(&log, "file_extracted").is_empty());
        assert!(actions(&log, "error").iter().any(|e| {
            e["details"]["message"]
                .as_str()
                .unwrap()
                .contains(&expected)
        }));
        assert!(files_below(&case.join("files")).is_empty());
        assert!(!case.join("artifacts").exists(), "nothing decoded");
        assert_eq!(log.last().unwrap()["action"], "run_finished");
        assert_code(&exhibit!("verify", case), 0);
    }
}

#[test]
fn no_password_without_a_terminal_is_a_clear_error() {
    let w = Work::new();
    let f = AbFixture::V3UncompressedEncrypted;
    let (out, case) = extract_ab(&w, f.file_name(), &f.bytes().unwrap(), &[], &[]);
    assert_code(&out, 1);
    let expected = format!("{} is encrypted and no password was given", f.file_name());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    let log = log(&case);
    assert_eq!(
        actions(&log, "password_requested")[0]["details"]["source"],
        Value::Null
    );
    assert!(actions(&log, "file_extracted").is_empty());
}

/// Cut anywhere, a backup still extracts every file that was complete
/// before the cut (byte for byte), marks the one cut short, says where, and
/// the case verifies; nothing lands outside the case.
#[test]
fn a_truncated_backup_keeps_every_file_before_the_cut() {
    let truth = fx::ab_entries().unwrap();
    for f in [
        AbFixture::V5Compressed,
        AbFixture::V5CompressedEncrypted,
        AbFixture::V5Uncompressed,
    ] {
        let full = f.bytes().unwrap();
        for fraction in [0.02, 0.3, 0.55, 0.8, 0.999] {
            let cut = (full.len() as f64 * fraction) as usize;
            let w = Work::new();
            let name = format!("cut-{cut}-{}", f.file_name());
            let before = files_below(w.dir.path());
            let (out, case) = extract_ab(&w, &name, &full[..cut], &password_args(f), &[]);
            let code = out.status.code();
            assert!(
                matches!(code, Some(0..=2)),
                "{name}: exit {code:?}\n{}",
                stderr(&out)
            );
            let outside: Vec<String> = files_below(w.dir.path())
                .into_iter()
                .filter(|p| {
                    !p.starts_with("cases/")
                        && !p.starts_with("plugins/")
                        && !p.starts_with("evidence/")
                })
                .collect();
            assert_eq!(
                outside,
                before
                    .into_iter()
                    .filter(|p| !p.starts_with("evidence/"))
                    .collect::<Vec<_>>()
            );
            let log = log(&case);
            assert_eq!(log.last().unwrap()["action"], "run_finished", "{name}");
            let errors = actions(&log, "error");
            if code == Some(0) {
                // Only the end-of-archive padding was cut: nothing is lost.
                let complete = actions(&log, "file_extracted")
                    .iter()
                    .filter(|e| e["details"]["complete"] == true)
                    .count();
                let files = truth.iter().filter(|t| t.sha256.is_some()).count();
                assert_eq!(complete, files, "{name}: exit 0 but files are missing");
            } else {
                assert!(!errors.is_empty(), "{name}: the cut is not reported");
            }
            for e in actions(&log, "file_extracted") {
                let d = &e["details"];
                let t = truth
                    .iter()
                    .find(|t| d["name"] == t.path.as_str())
                    .unwrap_or_else(|| panic!("{name}: unknown file {}", d["name"]));
                if d["complete"] == true {
                    assert_eq!(
                        d["hashes"]["sha256"],
                        t.sha256.as_deref().unwrap(),
                        "{name}: {}",
                        t.path
                    );
                } else {
                    let content = t.content().unwrap();
                    let got = std::fs::read(case.join(d["path"].as_str().unwrap())).unwrap();
                    assert!(
                        content.starts_with(&got),
                        "{name}: {} is not a prefix",
                        t.path
                    );
                }
            }
            assert_code(&exhibit!("verify", case), 0);
        }
    }
}

#[test]
fn artifacts_of_a_backup_show_the_backup_messages() {
    let w = Work::new();
    let f = AbFixture::V5Compressed;
    let (out, case) = extract_ab(&w, f.file_name(), &f.bytes().unwrap(), &[], &[]);
    assert_code(&out, 0);
    let listing = Command::new(exhibit_bin())
        .args([
            OsStr::new("artifacts"),
            case.as_os_str(),
            OsStr::new("--kind"),
            OsStr::new("messages"),
        ])
        .output()
        .unwrap();
    assert_code(&listing, 0);
    let text = stdout(&listing);
    assert!(
        text.contains(fx::adb::AB_SMS_BACKUP_PATH.rsplit('/').next().unwrap()),
        "{text}"
    );
}

/// On a terminal, exhibit asks for the password (only because the backup is
/// encrypted), does not echo it, and logs that it came from the prompt.
/// The terminal is a pseudo-terminal driven by Python's `pty` module.
#[test]
fn the_password_prompt_does_not_echo() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed (it drives the pseudo-terminal)");
        return;
    }
    let w = Work::new();
    let f = AbFixture::V5CompressedEncrypted;
    let evidence = w.write(&format!("evidence/{}", f.file_name()), &f.bytes().unwrap());
    let plugins = decoding_plugins(&w);
    let case = w.path("case");
    let driver = r#"
import os, pty, sys
exe, evidence, case, plugins, password = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "extract", evidence, "--case", case, "--plugins", plugins])
seen = b""
def read():
    global seen
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    seen += chunk
    return bool(chunk)
while b"password for" not in seen and read():
    pass
# Type only once echo is off, as a person would after reading the prompt:
# the prompt is printed a moment before the terminal stops echoing.
import termios, time
for _ in range(500):
    if not termios.tcgetattr(fd)[3] & termios.ECHO:
        break
    time.sleep(0.01)
os.write(fd, password.encode() + b"\n")
while read():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(driver)
        .arg(exhibit_bin())
        .arg(&evidence)
        .arg(&case)
        .arg(&plugins)
        .arg(f.password().unwrap())
        .env_remove("EXHIBIT_PASSWORD")
        .env_remove("EXHIBIT_PLUGIN_PATH")
        .env("HOME", w.path("home"))
        .env("XDG_CONFIG_HOME", w.path("home"))
        .output()
        .unwrap();
    let screen = stdout(&out);
    assert_code(&out, 0);
    assert!(
        screen.contains(&format!("password for {}", f.file_name())),
        "{screen}"
    );
    assert!(
        !screen.contains(f.password().unwrap()),
        "the password was echoed: {screen}"
    );
    let log = log(&case);
    assert_eq!(
        actions(&log, "password_requested")[0]["details"]["source"],
        "prompt"
    );
    assert_entries_match_truth(&log, &case);
}
