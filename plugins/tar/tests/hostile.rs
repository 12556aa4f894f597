//! The hostile-input suite at plugin level (issue 6): the Android FFS tar
//! cut at hundreds of offsets and damaged by random bit flips (proptest,
//! fixed seed), and every hostile fixture cut every 32 bytes. What must hold
//! for each run: no panic, every entry that lies wholly before the damage is
//! delivered complete with the original bytes, the entry the cut falls in is
//! at most a marked-incomplete prefix, nothing is invented, and the loss is
//! reported with an offset.
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_format_tar::Tar;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{Transcript, decode};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Bounds this test binary: a hang is a failure, never a stuck CI run.
fn watchdog() {
    exhibit_plugin_sdk::testing::bound_test_binary(600);
}

/// One entry of the intact archive: its bytes in the evidence run from
/// `start` (its first header) to `end` (the next entry's first header).
#[derive(Debug)]
struct Region {
    name: Vec<u8>,
    start: u64,
    end: u64,
    data: Vec<u8>,
}

fn offset(e: &exhibit_plugin_sdk::testing::Delivered) -> u64 {
    e.meta["offset"]
        .as_u64()
        .expect("a tar entry has an evidence offset")
}

/// The regions of `data`, from a clean decode of it.
fn regions(data: &[u8]) -> (Vec<Region>, u64) {
    let (status, t) = decode::<Tar>("ffs.tar", data.to_vec());
    assert_eq!(status, Status::OK);
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    // The archive ends with two zero blocks after its last entry.
    let end = data.len() as u64 - 1024;
    assert!(data[end as usize..].iter().all(|&b| b == 0));
    let mut entries: Vec<_> = t.entries.iter().collect();
    entries.sort_by_key(|e| offset(e));
    let starts: Vec<u64> = entries.iter().map(|e| offset(e)).collect();
    let regions = entries
        .iter()
        .enumerate()
        .map(|(i, e)| Region {
            name: e.name.0.clone(),
            start: starts[i],
            end: starts.get(i + 1).copied().unwrap_or(end),
            data: e.data.clone(),
        })
        .collect();
    (regions, end)
}

/// What a run over `data[..cut]` must give.
fn assert_cut(
    regions: &[Region],
    (end, len): (u64, u64),
    cut: u64,
    status: Status,
    t: &Transcript,
) {
    let label = format!("cut at {cut:#x}");
    assert_ne!(status, Status::PANICKED, "{label}");
    for r in regions.iter().filter(|r| r.end <= cut) {
        let got = t
            .entries
            .iter()
            .find(|e| offset(e) == r.start)
            .unwrap_or_else(|| panic!("{label}: {:?} lies before the cut but is missing", r.name));
        assert_eq!(got.name.0, r.name, "{label}");
        assert_eq!(got.status, "ok", "{label}: {:?}", r.name);
        assert_eq!(got.data, r.data, "{label}: {:?}", r.name);
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &t.entries {
        let at = offset(e);
        assert!(seen.insert(at), "{label}: two entries at {at:#x}");
        let r = regions
            .iter()
            .find(|r| r.start == at)
            .unwrap_or_else(|| panic!("{label}: invented entry {e:?}"));
        assert!(at < cut, "{label}: {:?} starts after the cut", r.name);
        assert_eq!(e.name.0, r.name, "{label}");
        if r.end > cut {
            // The entry the cut falls in: a prefix, complete only if whole.
            assert!(r.data.starts_with(&e.data), "{label}: {:?}", r.name);
            if e.status == "ok" {
                assert_eq!(e.data, r.data, "{label}: {:?}", r.name);
            } else {
                assert_eq!(e.status, "corrupt", "{label}: {:?}", r.name);
                assert!(e.note.starts_with("truncated"), "{label}: {}", e.note);
            }
        }
    }
    if cut <= end {
        // The loss (if only of the whole end-of-archive marker) is
        // reported, and the message names its offset. A cut inside the
        // marker loses nothing: one zero block ends an archive too.
        let named = t.problems().into_iter().any(|p| {
            p.offset
                .is_some_and(|o| o <= cut && p.message.contains(&format!("{o:#x}")))
        });
        assert!(named, "{label}: no offset named in {:?}", t.problems());
    } else if cut == len {
        assert!(t.problems().is_empty(), "{label}: {:?}", t.problems());
    }
}

#[test]
fn the_ffs_tar_cut_anywhere_keeps_every_entry_before_the_cut() {
    watchdog();
    let data = exhibit_fixtures::tar_bytes().unwrap();
    let (regions, end) = regions(&data);
    assert_eq!(
        regions.len(),
        exhibit_fixtures::FILE_COUNT
            + exhibit_fixtures::DIR_COUNT
            + exhibit_fixtures::SYMLINK_COUNT
    );
    let len = data.len() as u64;
    let mut cuts: Vec<u64> = (0..64).map(|i| len * i / 64).collect();
    for r in &regions {
        for c in [
            r.start.saturating_sub(1),
            r.start,
            r.start + 1,
            r.start + 100,
            r.start + 511,
            r.start + 512,
            r.start + 513,
            (r.start + r.end) / 2,
            r.end - 1,
        ] {
            cuts.push(c.min(len));
        }
    }
    cuts.extend([end, end + 1, end + 512, len - 1, len]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut complete_before = 0;
    for &cut in &cuts {
        let (status, t) = decode::<Tar>("ffs.tar", data[..cut as usize].to_vec());
        assert_cut(&regions, (end, len), cut, status, &t);
        // A later cut never delivers fewer whole entries.
        let complete = t.entries.iter().filter(|e| e.status == "ok").count();
        assert!(complete >= complete_before, "cut at {cut:#x}");
        complete_before = complete;
    }
    assert_eq!(complete_before, regions.len());
    assert!(cuts.len() > 300, "{}", cuts.len());
}

/// Every hostile fixture, cut every 32 bytes: no panic, and whatever a cut
/// copy delivers complete, the whole archive delivers identically (a cut
/// never invents an entry or changes one's bytes).
#[test]
fn hostile_tars_cut_every_32_bytes_invent_nothing() {
    watchdog();
    for (stem, data) in exhibit_fixtures::hostile::all() {
        let (_, full) = decode::<Tar>(stem, data.clone());
        for cut in (0..data.len()).step_by(32) {
            let (status, t) = decode::<Tar>(stem, data[..cut].to_vec());
            assert_ne!(status, Status::PANICKED, "{stem} cut at {cut}");
            for e in t.entries.iter().filter(|e| e.status == "ok") {
                assert!(
                    full.entries
                        .iter()
                        .any(|f| f.name == e.name && f.meta == e.meta && f.data == e.data),
                    "{stem} cut at {cut}: {e:?} is not in the whole archive"
                );
            }
        }
    }
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6578_6869_6269_7406),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Random bit flips: no panic, no hang, and an entry whose own bytes
    /// (headers and data) were not touched is, when delivered complete at
    /// its offset, byte for byte the original.
    #[test]
    fn bit_flips_never_change_an_untouched_entry(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..12)
    ) {
        watchdog();
        let data = exhibit_fixtures::tar_bytes().unwrap();
        let (regions, _) = regions(&data);
        let mut damaged = data.clone();
        let mut hit = Vec::new();
        for (at, bit) in &flips {
            let at = at.index(data.len());
            damaged[at] ^= 1 << bit;
            hit.push(at as u64);
        }
        let (status, t) = decode::<Tar>("ffs.tar", damaged);
        prop_assert_ne!(status, Status::PANICKED);
        for e in t.entries.iter().filter(|e| e.status == "ok") {
            let Some(at) = e.meta["offset"].as_u64() else { continue };
            let Some(r) = regions.iter().find(|r| r.start == at && r.name == e.name.0) else {
                continue;
            };
            if hit.iter().all(|h| !(r.start..r.end).contains(h)) {
                prop_assert_eq!(&e.data, &r.data, "{:?}", r.name);
            }
        }
    }
}
