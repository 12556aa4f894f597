//! Parity: every test folder decoded through the safe trait and through the
//! C descriptor gives byte-identical transcripts (STYLE rule 11).
#![allow(clippy::unwrap_used)]

use exhibit_format_folder::{Folder, exhibit_static_descriptor};
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{MemoryHost, run_safe};
use std::fs;
use std::path::Path;

/// Runs the plugin both ways over `root` and returns the common transcript.
fn both_ways(root: &Path) -> String {
    // A first pass lets relatime settle the access times the walk itself
    // updates, so that both compared runs see the same metadata.
    run_safe::<Folder>(&MemoryHost::folder(root));
    let direct = MemoryHost::folder(root);
    let via_abi = MemoryHost::folder(root);
    let s1 = run_safe::<Folder>(&direct);
    let s2 = exhibit_static_descriptor().run(&via_abi);
    assert_eq!(s1, s2);
    assert_eq!(s1, Status::OK);
    let (t1, t2) = (direct.take_transcript(), via_abi.take_transcript());
    assert_eq!(t1.to_jsonl(), t2.to_jsonl());
    t1.to_jsonl()
}

#[test]
fn nested_tree_with_links_and_empty_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("data/data/com.android.providers.telephony/databases")).unwrap();
    fs::write(
        root.join("data/data/com.android.providers.telephony/databases/mmssms.db"),
        b"SQLite format 3\0",
    )
    .unwrap();
    fs::create_dir(root.join("sdcard")).unwrap();
    fs::write(root.join("sdcard/empty"), b"").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::os::unix::fs::symlink("/data/data", root.join("sdcard/escape")).unwrap();
        fs::write(root.join(std::ffi::OsStr::from_bytes(b"n\xe4me")), b"raw").unwrap();
    }
    let jsonl = both_ways(root);
    assert!(jsonl.contains("mmssms.db"));
}

#[test]
fn deep_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    let deepest = (0..200).fold(tmp.path().to_path_buf(), |p, _| p.join("n"));
    fs::create_dir_all(&deepest).unwrap();
    fs::write(deepest.join("leaf"), b"x").unwrap();
    let jsonl = both_ways(tmp.path());
    assert_eq!(jsonl.lines().count(), 201);
}

/// With several workers the same entries arrive, in another order.
#[test]
fn parallel_workers_deliver_the_same_entries() {
    let tmp = tempfile::tempdir().unwrap();
    for d in 0..5 {
        let dir = tmp.path().join(format!("d{d}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..40 {
            let content = format!("{d}/{f}").repeat(f * 50 + 1);
            fs::write(dir.join(format!("f{f}")), content).unwrap();
        }
    }
    run_safe::<Folder>(&MemoryHost::folder(tmp.path()));
    let sorted = |threads: u32| {
        let host = MemoryHost::folder(tmp.path()).with_threads(threads);
        assert_eq!(exhibit_static_descriptor().run(&host), Status::OK);
        let mut lines: Vec<String> = host
            .take_transcript()
            .to_jsonl()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let one = sorted(1);
    assert_eq!(one.len(), 5 + 5 * 40);
    assert_eq!(sorted(4), one);
}
