//! The hostile-input suite at plugin level (issue 6): every fixture backup
//! (compressed or not, encrypted or not) cut at a hundred offsets and more,
//! and random bit flips (proptest, fixed seed). What must hold: no panic;
//! the entries delivered are the truth's first ones, in order, every one
//! but the last complete with the truth's bytes and the last at most a
//! marked-incomplete prefix; a later cut never delivers fewer; and a loss is
//! reported with an offset.
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_fixtures::adb::{AbEntry, AbFixture};
use exhibit_fixtures::{EntryKind, ab_entries};
use exhibit_format_android_backup::AndroidBackup;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, run_safe};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Bounds this test binary: a hang is a failure, never a stuck CI run.
fn watchdog() {
    exhibit_plugin_sdk::testing::bound_test_binary(600);
}

fn run(f: AbFixture, data: &[u8]) -> (Status, Transcript) {
    let host = MemoryHost::file(f.file_name(), data.to_vec());
    let host = match f.password() {
        Some(p) => host.with_password(p),
        None => host,
    };
    let status = run_safe::<AndroidBackup>(&host);
    (status, host.take_transcript())
}

fn bytes(e: &AbEntry) -> &[u8] {
    match &e.kind {
        EntryKind::File(b) => b,
        _ => &[],
    }
}

/// Checks one cut run; returns how many entries it delivered complete.
fn assert_prefix_of_truth(label: &str, truth: &[AbEntry], status: Status, t: &Transcript) -> usize {
    assert_ne!(status, Status::PANICKED, "{label}");
    assert!(t.entries.len() <= truth.len(), "{label}");
    let last = t.entries.len().saturating_sub(1);
    for (i, (got, want)) in t.entries.iter().zip(truth).enumerate() {
        assert_eq!(String::from_utf8_lossy(&got.name.0), want.path, "{label}");
        if got.status == "ok" {
            assert_eq!(got.data, bytes(want), "{label}: {}", want.path);
        } else {
            assert_eq!(i, last, "{label}: {} incomplete before the end", want.path);
            assert!(bytes(want).starts_with(&got.data), "{label}: {}", want.path);
            assert!(!got.note.is_empty(), "{label}: {}", want.path);
        }
    }
    t.entries.iter().filter(|e| e.status == "ok").count()
}

#[test]
fn every_backup_cut_anywhere_keeps_what_precedes_the_cut() {
    watchdog();
    let truth = ab_entries().unwrap();
    for f in AbFixture::ALL {
        let data = f.bytes().unwrap();
        let len = data.len();
        // Encrypted copies cost a key derivation each: fewer cuts.
        let steps = if f.password().is_some() { 24 } else { 128 };
        let mut cuts: Vec<usize> = (0..steps).map(|i| len * i / steps).collect();
        cuts.extend([len - 1024, len - 513, len - 512, len - 17, len - 1, len]);
        cuts.sort_unstable();
        cuts.dedup();
        let mut complete_before = 0;
        for cut in cuts {
            let label = format!("{f:?} cut at {cut} of {len}");
            let (status, t) = run(f, &data[..cut]);
            let complete = assert_prefix_of_truth(&label, &truth, status, &t);
            assert!(
                complete >= complete_before,
                "{label}: {complete} < {complete_before}"
            );
            complete_before = complete;
            if cut == len {
                assert_eq!(status, Status::OK, "{label}");
                assert_eq!(complete, truth.len(), "{label}");
                assert!(t.problems().is_empty(), "{label}: {:?}", t.problems());
            } else if complete < truth.len() {
                // Something was lost: said, with where.
                assert!(
                    t.problems().iter().any(|p| p.message.contains("offset 0x")),
                    "{label}: {:?}",
                    t.problems()
                );
            }
        }
    }
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6578_6869_6269_7408),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Random bit flips in a plain backup (header and bare tar): no panic,
    /// and an entry delivered complete whose own tar bytes were not
    /// touched is byte for byte the truth's.
    #[test]
    fn bit_flips_in_a_plain_backup_never_change_an_untouched_entry(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..10)
    ) {
        watchdog();
        let f = AbFixture::V5Uncompressed;
        let data = f.bytes().unwrap();
        let (_, clean) = run(f, &data);
        // The header is four lines; tar offsets count from its end.
        let head = data.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(3).unwrap().0 as u64 + 1;
        let starts: Vec<u64> = clean
            .entries
            .iter()
            .map(|e| head + e.meta["extra"]["tar_offset"].as_u64().unwrap())
            .collect();
        let mut damaged = data.clone();
        let mut hit = Vec::new();
        for (at, bit) in &flips {
            let at = at.index(data.len());
            damaged[at] ^= 1 << bit;
            hit.push(at as u64);
        }
        let (status, t) = run(f, &damaged);
        prop_assert_ne!(status, Status::PANICKED);
        for e in t.entries.iter().filter(|e| e.status == "ok") {
            let Some(at) = e.meta["extra"]["tar_offset"].as_u64() else { continue };
            let Some(i) = starts.iter().position(|&s| s == head + at) else { continue };
            let end = starts.get(i + 1).copied().unwrap_or(data.len() as u64 - 1024);
            if clean.entries[i].name == e.name && hit.iter().all(|h| !(starts[i]..end).contains(h)) {
                prop_assert_eq!(&e.data, &clean.entries[i].data);
            }
        }
    }

    /// Random bit flips in a compressed backup: no panic, and a damaged
    /// stream never passes for a clean one: either the run reports damage
    /// or every delivered entry is the truth's.
    #[test]
    fn bit_flips_in_a_compressed_backup_are_caught(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..6)
    ) {
        watchdog();
        let f = AbFixture::V5Compressed;
        let data = f.bytes().unwrap();
        let truth = ab_entries().unwrap();
        let mut damaged = data.clone();
        for (at, bit) in &flips {
            let at = at.index(data.len());
            damaged[at] ^= 1 << bit;
        }
        let (status, t) = run(f, &damaged);
        prop_assert_ne!(status, Status::PANICKED);
        if status == Status::OK && t.problems().is_empty() {
            prop_assert_eq!(t.entries.len(), truth.len());
            for (got, want) in t.entries.iter().zip(&truth) {
                prop_assert_eq!(&got.data[..], bytes(want), "{}", want.path);
            }
        }
    }
}
