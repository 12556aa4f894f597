//! Evidence integrity and custody-log anchoring: evidence changed while the
//! run reads it is a loud failure (even when its mtime is put back), and a
//! receipt kept outside the case catches a log rewritten with every link
//! recomputed, which plain `verify` cannot.

use crate::exhibit;
use crate::interrupt::{before_logged, misbehave_work, spawn_misbehave};
use crate::util::*;
use exhibit_fixtures as fx;
use serde_json::Value;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Runs `misbehave` in `slow` mode (it trickles `during.txt` for 3.6 s),
/// lets `tamper` change the evidence once `before.txt` is logged, and
/// checks the loud failure every change must give. Returns the changes
/// the log lists and the run's stderr.
fn changed_mid_run(tamper: impl FnOnce(&Path)) -> (Vec<String>, String) {
    let (w, plugins, evidence, _) = misbehave_work("slow");
    let case = w.path("case");
    let mut run = spawn_misbehave(&evidence, &case, &plugins, None);
    run.wait_for_log(&case, "before.txt was logged", before_logged);
    tamper(&evidence);
    let out = run.wait();
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "exhibit: THE EVIDENCE {} CHANGED DURING THE RUN: ",
            std::fs::canonicalize(&evidence).unwrap().display()
        )),
        "{err}"
    );
    assert!(
        stdout(&out).contains("extraction FAILED")
            && stdout(&out).contains("  evidence    CHANGED during the run: "),
        "{}",
        stdout(&out)
    );
    let log = log(&case);
    // The slow plugin finished during.txt: the files are all there, but
    // nothing read from evidence that changed under it can be relied on.
    assert_eq!(extracted(&log, "during.txt")["details"]["complete"], true);
    let checked = actions(&log, "evidence_checked");
    assert_eq!(checked.len(), 2, "{checked:?}");
    assert_eq!(checked[0]["details"]["when"], "plugin_finished");
    assert_eq!(checked[0]["details"]["unchanged"], false);
    assert_eq!(checked[1]["details"]["when"], "end");
    assert_eq!(checked[1]["details"]["unchanged"], false);
    let errors = actions(&log, "error");
    assert_eq!(errors.len(), 1, "one change, one error: {errors:?}");
    assert!(
        errors[0]["details"]["message"]
            .as_str()
            .unwrap()
            .contains("CHANGED while the plugin was reading it"),
        "{errors:?}"
    );
    let finished = &log.last().unwrap()["details"];
    assert_eq!(finished["outcome"], "failed");
    let changes: Vec<String> = checked[0]["details"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(finished["evidence_changed"], serde_json::json!(changes));
    // verify checks the case against its log, which is whole.
    assert_code(&exhibit!("verify", case), 0);
    (changes, err)
}

#[test]
fn evidence_growing_during_the_run_is_a_loud_failure() {
    let (changes, _) = changed_mid_run(|evidence| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(evidence)
            .unwrap();
        f.write_all(b"appended while exhibit was reading").unwrap();
    });
    assert_eq!(changes[0], "size was 1000 bytes, now 1034");
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("modification time was ")),
        "{changes:?}"
    );
}

#[test]
fn evidence_rewritten_with_its_mtime_put_back_is_caught_by_its_ctime() {
    let (changes, _) = changed_mid_run(|evidence| {
        let mtime = std::fs::metadata(evidence).unwrap().modified().unwrap();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(evidence)
            .unwrap();
        f.seek(SeekFrom::Start(500)).unwrap();
        f.write_all(b"X").unwrap();
        // What `touch -d` does: the mtime is back, the ctime moves on.
        f.set_modified(mtime).unwrap();
        drop(f);
        assert_eq!(
            std::fs::metadata(evidence).unwrap().modified().unwrap(),
            mtime
        );
    });
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].starts_with("inode change time was "),
        "{changes:?}"
    );
}

fn log_lines(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("custody.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn receipt_catches_a_log_rewritten_with_every_link_recomputed() {
    let w = Work::new();
    let tar = w.path("ffs.tar");
    fx::write_tar(&tar).unwrap();
    let case = w.path("case");
    let receipt = w.path("receipts/case.receipt.json");
    std::fs::create_dir_all(receipt.parent().unwrap()).unwrap();

    // Inside the case is refused before anything is created.
    let out = exhibit!(
        "extract",
        tar,
        "--case",
        case,
        "--plugins",
        w.real_plugins(),
        "--receipt",
        case.join("receipt.json")
    );
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("is inside the case folder"),
        "{}",
        stderr(&out)
    );
    assert!(!case.exists());

    let out = exhibit!(
        "extract",
        tar,
        "--case",
        case,
        "--plugins",
        w.real_plugins(),
        "--examiner",
        "A. Examiner",
        "--receipt",
        receipt
    );
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains(&format!("  receipt     {} (written)", receipt.display())),
        "{}",
        stdout(&out)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    let lines = log_lines(&case);
    let chain = fx::sha256_hex(lines.last().unwrap().as_bytes());
    assert_eq!(r["kind"], "exhibit-receipt");
    assert_eq!(r["chain_hash"], chain.as_str());
    assert_eq!(r["log_entries"], lines.len());
    assert_eq!(r["evidence_sha256"], sha256_file(&tar));
    assert_eq!(
        r["case_dir"],
        std::fs::canonicalize(&case).unwrap().to_str().unwrap()
    );
    assert_eq!(r["outcome"], "clean");
    assert!(stdout(&out).contains(&format!("  chain hash  {chain}")));
    // An existing receipt is never replaced.
    let again = exhibit!(
        "extract",
        tar,
        "--case",
        w.path("case2"),
        "--plugins",
        w.real_plugins(),
        "--receipt",
        receipt
    );
    assert_code(&again, 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // Rewrite history: another examiner, every prev and the final
    // chain_sha256 recomputed so the chain is whole again.
    let mut prev = "0".repeat(64);
    let mut rewritten = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut e: Value = serde_json::from_str(line).unwrap();
        if e["action"] == "case_opened" {
            e["details"]["examiner"] = "Someone Else".into();
        }
        if i == lines.len() - 1 {
            e["details"]["chain_sha256"] = prev.clone().into();
        }
        e["prev"] = prev.clone().into();
        let text = serde_json::to_string(&e).unwrap();
        prev = fx::sha256_hex(text.as_bytes());
        rewritten.push(text);
    }
    std::fs::write(case.join("custody.jsonl"), rewritten.join("\n") + "\n").unwrap();
    assert_ne!(prev, chain);

    let plain = exhibit!("verify", case);
    assert_code(&plain, 0);
    let anchored = exhibit!("verify", case, "--expect", chain);
    assert_code(&anchored, 1);
    let text = stdout(&anchored);
    assert!(
        text.contains(&format!(
            "FAIL  the chain ends in {prev}, not the expected {chain}: the log was rewritten"
        )),
        "{text}"
    );
    assert_eq!(text.matches("FAIL").count(), 1, "{text}");
}
