//! Parity: every fixture zip decoded through the safe trait and through the
//! C descriptor gives byte-identical transcripts (STYLE rule 11), hostile
//! and mutated archives included; and four delivery threads give the same
//! entries as one.
#![allow(clippy::unwrap_used)]

use exhibit_fixtures::hostile_zip;
use exhibit_format_zip::{Zip, exhibit_static_descriptor};
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, mutations, run_safe};

/// Decodes `data` both ways on one thread, requires identical transcripts,
/// then on four threads, requires the same entries and logs once sorted.
/// Returns the common status and the number of entries.
fn both_ways(data: &[u8]) -> (Status, usize) {
    let direct = MemoryHost::file("evidence.zip", data.to_vec()).with_threads(1);
    let via_abi = MemoryHost::file("evidence.zip", data.to_vec()).with_threads(1);
    let s1 = run_safe::<Zip>(&direct);
    let s2 = exhibit_static_descriptor().run(&via_abi);
    assert_eq!(s1, s2);
    let (t1, t2) = (direct.take_transcript(), via_abi.take_transcript());
    assert_eq!(t1.to_jsonl(), t2.to_jsonl());

    let parallel = MemoryHost::file("evidence.zip", data.to_vec()).with_threads(4);
    let s4 = exhibit_static_descriptor().run(&parallel);
    assert_eq!(s1, s4);
    assert_eq!(sorted(&t1), sorted(&parallel.take_transcript()));
    (s1, t1.entries.len())
}

/// The transcript's lines, sorted: delivery order is free across threads.
fn sorted(t: &Transcript) -> Vec<String> {
    let mut lines: Vec<String> = t.to_jsonl().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn android_ffs_zip() {
    let zip = exhibit_fixtures::zip_bytes().unwrap();
    let tree = exhibit_fixtures::android_tree().unwrap();
    assert_eq!(both_ways(&zip), (Status::OK, tree.len()));
}

#[test]
fn hostile_zips() {
    let expected: [(&str, Status, usize); 9] = [
        ("traversal", Status::OK, 4),
        ("crc-mismatch", Status::OK, 3),
        ("truncated", Status::OK, 2),
        ("name-mismatch", Status::OK, 2),
        ("overlap-bomb", Status::OK, 1),
        ("expands", Status::OK, 2),
        ("cp437-name", Status::OK, 2),
        ("zip64", Status::OK, 2),
        ("data-descriptor", Status::OK, 2),
    ];
    let all = hostile_zip::all().unwrap();
    assert_eq!(all.len(), expected.len());
    for ((name, data), (want_name, status, entries)) in all.iter().zip(expected) {
        assert_eq!(*name, want_name);
        assert_eq!(both_ways(data), (status, entries), "{name}");
    }
}

#[test]
fn not_a_zip() {
    assert_eq!(both_ways(&[0x42; 4096]).0, Status::CORRUPT);
    assert_eq!(both_ways(&[]).0, Status::CORRUPT);
}

/// Deterministic byte mutations of a valid archive: whatever the damage,
/// no panic, and both paths (and both thread counts) agree.
#[test]
fn mutated_archives() {
    let base = hostile_zip::zip64().unwrap();
    for data in mutations(&base, 300, 6) {
        let (status, _) = both_ways(&data);
        assert!(
            matches!(status, Status::OK | Status::CORRUPT | Status::UNSUPPORTED),
            "{status:?}"
        );
    }
}
