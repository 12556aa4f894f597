//! Interrupted runs, with real signals sent to the real binary: SIGINT and
//! SIGTERM stop the run cleanly (the entry in progress marked incomplete, a
//! `run_interrupted` entry, exit 130); SIGKILL leaves a valid prefix that
//! `verify` calls incomplete, and `extract --resume` finishes it.
//!
//! The `misbehave` test plugin in `gate` mode delivers `before.txt`, starts
//! `during.txt` with 4 bytes, then waits for a gate file, so every signal
//! lands at the same point of the run.

use crate::exhibit;
use crate::util::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What `misbehave` delivers before it misbehaves.
pub const BEFORE: &[u8] = b"delivered before the misbehaviour\n";
/// `during.txt` once the gate opens: 4 bytes before it, dashes to 40.
pub const DURING_DONE: &[u8] = b"half------------------------------------";

/// How long any one child may run before the test kills it and fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// An `exhibit` child process, killed if the test ends first.
pub struct Running {
    pub child: Option<Child>,
    _home: tempfile::TempDir,
}

impl Running {
    pub fn pid(&self) -> String {
        self.child.as_ref().expect("running").id().to_string()
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the exit, killing the child and failing at the deadline.
    pub fn wait(mut self) -> Output {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        loop {
            if child.try_wait().expect("try_wait").is_some() {
                return child.wait_with_output().expect("output");
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "exhibit did not exit within {DEADLINE:?}\n--- stdout\n{}\n--- stderr\n{}",
                    stdout(&out),
                    stderr(&out)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the case's log satisfies `ready` (complete lines only),
    /// failing if the child exits or the deadline passes first.
    pub fn wait_for_log(&mut self, case: &Path, what: &str, ready: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        loop {
            if ready(&log_so_far(case)) {
                return;
            }
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                let out = self
                    .child
                    .take()
                    .expect("running")
                    .wait_with_output()
                    .unwrap();
                panic!(
                    "exhibit exited ({status}) before {what}\n--- stdout\n{}\n--- stderr\n{}",
                    stdout(&out),
                    stderr(&out)
                );
            }
            assert!(start.elapsed() < DEADLINE, "{what} never happened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `exhibit` like `util::run` does, without waiting; `gate` is the
/// file the `misbehave` plugin waits for.
pub fn spawn(args: &[&OsStr], gate: Option<&Path>) -> Running {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(exhibit_bin());
    cmd.args(args)
        .env_remove("EXHIBIT_PLUGIN_PATH")
        .env_remove("EXHIBIT_PASSWORD")
        .env("XDG_CONFIG_HOME", home.path())
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match gate {
        Some(gate) => cmd.env("EXHIBIT_TEST_GATE", gate),
        None => cmd.env_remove("EXHIBIT_TEST_GATE"),
    };
    Running {
        child: Some(cmd.spawn().expect("spawn exhibit")),
        _home: home,
    }
}

/// The complete, parseable lines of a log being written.
pub fn log_so_far(case: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read(case.join("custody.jsonl")) else {
        return Vec::new();
    };
    text.split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// True once `before.txt` is logged.
pub fn before_logged(log: &[Value]) -> bool {
    log.iter()
        .any(|e| e["action"] == "file_extracted" && e["details"]["name"] == "before.txt")
}

/// A work folder with the `misbehave` plugin and an evidence file whose
/// first line is `mode`, padded to 1000 bytes.
pub fn misbehave_work(mode: &str) -> (Work, PathBuf, PathBuf, Vec<u8>) {
    let w = Work::new();
    let plugins = w.plugin_dir(&[("xt_misbehave", "exhibit_test_misbehave")]);
    let mut data = format!("{mode}\n").into_bytes();
    data.resize(1000, b'.');
    let evidence = w.write("evidence.bin", &data);
    (w, plugins, evidence, data)
}

/// Starts an extraction of `evidence` with the `misbehave` plugin.
pub fn spawn_misbehave(
    evidence: &Path,
    case: &Path,
    plugins: &Path,
    gate: Option<&Path>,
) -> Running {
    spawn(
        &[
            OsStr::new("extract"),
            evidence.as_os_str(),
            OsStr::new("--case"),
            case.as_os_str(),
            OsStr::new("--plugins"),
            plugins.as_os_str(),
            OsStr::new("--format"),
            OsStr::new("misbehave"),
        ],
        gate,
    )
}

/// Sends `signal` while `misbehave` waits at its gate and checks the clean
/// stop every catchable signal must give.
fn interrupted_by(signal: &str) -> (Work, PathBuf, Vec<u8>) {
    let (w, plugins, evidence, data) = misbehave_work("gate");
    let case = w.path("case");
    let gate = w.path("gate");
    let mut run = spawn_misbehave(&evidence, &case, &plugins, Some(&gate));
    run.wait_for_log(&case, "before.txt was logged", before_logged);
    run.signal(signal);
    let out = run.wait();
    assert_code(&out, 130);
    assert!(
        stdout(&out).contains("extraction INTERRUPTED"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!(
            "continue it with: exhibit extract --resume {}",
            std::fs::canonicalize(&case).unwrap().display()
        )),
        "{}",
        stdout(&out)
    );
    let log = log(&case);
    let during = extracted(&log, "during.txt");
    assert_eq!(during["details"]["complete"], false);
    assert_eq!(during["details"]["interrupted"], true);
    assert_eq!(during["details"]["size"], 4);
    assert_eq!(
        std::fs::read(case.join("files/during.txt")).unwrap(),
        b"half"
    );
    let errors = actions(&log, "error");
    assert_eq!(errors.len(), 1, "only the cut file is an error: {errors:?}");
    assert_eq!(
        errors[0]["details"]["message"],
        "files/during.txt is incomplete: the run was interrupted after 4 bytes of it"
    );
    let n = log.len();
    assert_eq!(log[n - 1]["action"], "run_finished");
    assert_eq!(log[n - 1]["details"]["outcome"], "interrupted");
    let stop = actions(&log, "run_interrupted");
    assert_eq!(stop.len(), 1);
    let d = &stop[0]["details"];
    assert_eq!(d["during"], "extraction");
    assert_eq!(d["plugin"], "misbehave");
    assert_eq!(d["in_progress"].as_array().unwrap().len(), 1);
    assert_eq!(d["in_progress"][0]["path"], "files/during.txt");
    assert_eq!(d["in_progress"][0]["written"], 4);
    // The plugin read its 64-byte head; the rest was not read just to hash it.
    assert_eq!(d["evidence_read"]["bytes"], 64);
    assert_eq!(d["evidence_read"]["size"], 1000);
    assert_eq!(
        d["evidence_read"]["hashes_of_bytes_read"]["sha256"],
        exhibit_fixtures::sha256_hex(&data[..64])
    );
    let seq = |action: &str| {
        log.iter()
            .position(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action}"))
    };
    assert!(seq("plugin_finished") < seq("run_interrupted"));
    assert!(seq("run_interrupted") < seq("run_finished"));
    assert!(
        actions(&log, "evidence_hashed").is_empty(),
        "an interrupted run has no evidence digest"
    );
    (w, case, data)
}

#[test]
fn sigint_marks_the_entry_in_progress_and_verify_lists_what_is_intact() {
    let (_w, case, _) = interrupted_by("INT");
    let out = exhibit!("verify", case);
    assert_code(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains(
            "FAIL  the run was interrupted during extraction while writing files/during.txt: the case is incomplete"
        ),
        "{text}"
    );
    assert!(
        text.contains("INCOMPLETE RUN: 1 files extracted whole and intact, 1 partial"),
        "{text}"
    );
    assert!(text.contains("\n  intact   files/before.txt\n"), "{text}");
    assert!(text.contains("\n  partial  files/during.txt\n"), "{text}");
    assert_eq!(text.matches("FAIL").count(), 1, "{text}");

    let out = exhibit!("verify", case, "--json");
    assert_code(&out, 3);
    let summary: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(summary["data"]["interrupted"], true);
    assert_eq!(summary["data"]["only_incomplete"], true);
    assert_eq!(
        summary["data"]["intact_files"],
        serde_json::json!(["files/before.txt"])
    );
}

#[test]
fn sigterm_stops_the_run_like_ctrl_c() {
    let (w, case, _) = interrupted_by("TERM");
    let out = exhibit!("log", case);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains(
            "run INTERRUPTED during extraction: 1 entries in progress, evidence read to byte 64 of 1000"
        ),
        "{}",
        stdout(&out)
    );
    // Decoding the case again does not make the extraction whole.
    assert_code(&exhibit!("decode", case, "--plugins", w.path("plugins")), 0);
    let out = exhibit!("verify", case);
    assert_code(&out, 3);
    assert!(
        stdout(&out).contains(
            "FAIL  the run was interrupted during extraction while writing files/during.txt"
        ) && stdout(&out).contains("continue it with `exhibit extract --resume "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sigkill_leaves_a_valid_prefix_and_resume_finishes_it() {
    use std::os::unix::fs::MetadataExt;
    let (w, plugins, evidence, _) = misbehave_work("gate");
    let case = w.path("case");
    let gate = w.path("gate");
    let mut run = spawn_misbehave(&evidence, &case, &plugins, Some(&gate));
    // The kill must find during.txt begun: created on disk, not yet logged.
    let during_file = case.join("files/during.txt");
    run.wait_for_log(&case, "during.txt was begun", |log| {
        before_logged(log) && during_file.exists()
    });
    run.signal("KILL");
    let out = run.wait();
    assert_eq!(out.status.code(), None, "killed by a signal");
    let killed = log(&case);
    assert_eq!(killed.last().unwrap()["details"]["name"], "before.txt");

    let out = exhibit!("verify", case);
    assert_code(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAIL  the run is incomplete: the log has {} entries and ends with file_extracted instead of run_finished",
            killed.len()
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL  files/during.txt is not in the custody log: the run stopped before recording it"
        ),
        "{text}"
    );
    assert!(
        text.contains("INCOMPLETE RUN: 1 files extracted whole and intact, 0 partial\n  intact   files/before.txt\n"),
        "{text}"
    );

    let before = std::fs::metadata(case.join("files/before.txt")).unwrap();
    std::fs::write(&gate, b"").unwrap();
    let out = spawn(
        &[
            OsStr::new("extract"),
            OsStr::new("--resume"),
            case.as_os_str(),
            OsStr::new("--plugins"),
            plugins.as_os_str(),
            OsStr::new("--examiner"),
            OsStr::new("B. Resumer"),
        ],
        Some(&gate),
    )
    .wait();
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("extraction (resumed) complete"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("  confirmed   1 files of the earlier run"),
        "{}",
        stdout(&out)
    );
    let log = log(&case);
    let resumed = actions(&log, "run_resumed");
    assert_eq!(resumed.len(), 1);
    let d = &resumed[0]["details"];
    assert_eq!(d["examiner"], "B. Resumer");
    assert_eq!(d["previous_outcome"], Value::Null);
    assert_eq!(d["unlogged_files"], serde_json::json!(["files/during.txt"]));
    assert_eq!(d["torn_line"], Value::Null);
    let confirmed = actions(&log, "file_confirmed");
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0]["details"]["path"], "files/before.txt");
    assert_eq!(
        confirmed[0]["details"]["hashes"]["sha256"],
        exhibit_fixtures::sha256_hex(BEFORE)
    );
    // Not rewritten: the same inode, never truncated, the same time.
    let after = std::fs::metadata(case.join("files/before.txt")).unwrap();
    assert_eq!(after.ino(), before.ino());
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
    assert_eq!(after.ctime_nsec(), before.ctime_nsec());
    let during: Vec<_> = actions(&log, "file_extracted")
        .into_iter()
        .filter(|e| e["details"]["name"] == "during.txt")
        .collect();
    assert_eq!(during.len(), 1);
    assert_eq!(during[0]["details"]["path"], "files/during.txt");
    assert_eq!(during[0]["details"]["complete"], true);
    assert_eq!(during[0]["details"]["replaces"]["unlogged"], true);
    assert_eq!(
        during[0]["details"]["hashes"]["sha256"],
        exhibit_fixtures::sha256_hex(DURING_DONE)
    );
    assert_eq!(
        std::fs::read(case.join("files/during.txt")).unwrap(),
        DURING_DONE
    );
    assert_eq!(
        files_below(&case.join("files")),
        ["before.txt", "during.txt"]
    );
    let last = &log.last().unwrap()["details"];
    assert_eq!(last["outcome"], "clean");
    assert_eq!(last["run"], "resume");
    assert_eq!(last["files"], 2);
    assert_eq!(last["files_confirmed"], 1);
    let out = exhibit!("verify", case);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("2 of 2 files intact"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sigint_while_decoding_records_the_decoder_run_it_stopped() {
    let w = Work::new();
    let tar = w.write(
        "notes.tar",
        &crate::resume::ustar(&[("a.misbehave", b"hang\n"), ("b.misbehave", b"fine\n")]),
    );
    let plugins = w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("xt_misdecoder", "exhibit_test_misdecoder"),
    ]);
    let case = w.path("case");
    let mut run = spawn(
        &[
            OsStr::new("extract"),
            tar.as_os_str(),
            OsStr::new("--case"),
            case.as_os_str(),
            OsStr::new("--plugins"),
            plugins.as_os_str(),
        ],
        None,
    );
    run.wait_for_log(&case, "decoding started", |log| {
        log.iter().any(|e| e["action"] == "decoding_started")
    });
    run.signal("INT");
    // The hanging decoder ignores the stop; its process is ended after a
    // grace period.
    let out = run.wait();
    assert_code(&out, 130);
    let log = log(&case);
    assert_eq!(actions(&log, "file_extracted").len(), 2);
    assert!(
        actions(&log, "evidence_hashed").len() == 1,
        "extraction was whole"
    );
    let stop = actions(&log, "run_interrupted");
    assert_eq!(stop.len(), 1);
    let d = &stop[0]["details"];
    assert_eq!(d["during"], "decoding");
    assert_eq!(d["decoding"]["jobs_run"], 1);
    assert_eq!(d["decoding"]["jobs_not_run"], 1);
    assert_eq!(d["decoding"]["in_progress"]["decoder"], "misdecoder");
    assert_eq!(d["decoding"]["in_progress"]["file"], "files/a.misbehave");
    assert_eq!(log.last().unwrap()["details"]["outcome"], "interrupted");
    let out = exhibit!("verify", case);
    assert_code(&out, 3);
    assert!(
        stdout(&out)
            .contains("FAIL  the run was interrupted during decoding: the case is incomplete"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_second_sigint_ends_a_plugin_that_ignores_the_first() {
    let (w, plugins, evidence, _) = misbehave_work("hang");
    let case = w.path("case");
    let mut run = spawn_misbehave(&evidence, &case, &plugins, None);
    run.wait_for_log(&case, "before.txt was logged", before_logged);
    run.signal("INT");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let child = run.child.as_mut().unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the hanging plugin ignores the first stop"
    );
    run.signal("INT");
    let out = run.wait();
    assert_code(&out, 130);
    assert!(
        stderr(&out).contains("stopped at once by a second interrupt"),
        "{}",
        stderr(&out)
    );
    let log = log(&case);
    assert_ne!(log.last().unwrap()["action"], "run_finished");
    let out = exhibit!("verify", case);
    assert_code(&out, 3);
    assert!(
        stdout(&out).contains("  intact   files/before.txt"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sigint_stops_an_isolated_plugin_the_same_way() {
    // The plugin runs in a child process of its own process group: the
    // signal reaches only the parent, which tells the plugin through the
    // host to stop, and the entry in progress is kept as far as it got.
    let (w, plugins, evidence, _) = misbehave_work("gate");
    let case = w.path("case");
    let gate = w.path("gate");
    let mut run = spawn(
        &[
            OsStr::new("extract"),
            evidence.as_os_str(),
            OsStr::new("--case"),
            case.as_os_str(),
            OsStr::new("--plugins"),
            plugins.as_os_str(),
            OsStr::new("--format"),
            OsStr::new("misbehave"),
            OsStr::new("--isolate"),
        ],
        Some(&gate),
    );
    run.wait_for_log(&case, "before.txt was logged", before_logged);
    run.signal("INT");
    let out = run.wait();
    assert_code(&out, 130);
    let log = log(&case);
    let during = extracted(&log, "during.txt");
    assert_eq!(during["details"]["complete"], false);
    assert_eq!(during["details"]["interrupted"], true);
    assert_eq!(during["details"]["size"], 4);
    let errors = actions(&log, "error");
    assert_eq!(errors.len(), 1, "only the cut file is an error: {errors:?}");
    assert_eq!(actions(&log, "run_interrupted").len(), 1);
    assert_eq!(
        actions(&log, "plugin_finished")[0]["details"]["status"],
        "cancelled"
    );
    assert_eq!(log.last().unwrap()["details"]["outcome"], "interrupted");
    assert_code(&exhibit!("verify", case), 3);
}
