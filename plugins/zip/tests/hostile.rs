//! The hostile-input suite at plugin level (issue 6): the Android FFS zip
//! cut at hundreds of offsets (so its central directory is always gone and
//! the entries are recovered from their local headers) and damaged by random
//! bit flips (proptest, fixed seed), and every hostile zip cut every 16
//! bytes. What must hold for each run: no panic, every entry that lies
//! wholly before the damage is delivered complete with the original bytes,
//! the entry the cut falls in is at most a marked-incomplete prefix,
//! nothing is invented, and the loss is reported with an offset.
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_format_zip::Zip;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{Delivered, Transcript, decode};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Bounds this test binary: a hang is a failure, never a stuck CI run.
fn watchdog() {
    exhibit_plugin_sdk::testing::bound_test_binary(600);
}

/// One entry of the intact archive: its local header and data run from
/// `start` to `end` (the next local header, or the central directory).
#[derive(Debug)]
struct Region {
    name: Vec<u8>,
    start: u64,
    end: u64,
    data: Vec<u8>,
    /// What a cut copy delivers: the data, or a link's target (without the
    /// central directory's Unix mode, a link is recovered as a file
    /// holding its target).
    recovered: Vec<u8>,
}

fn offset(e: &Delivered) -> u64 {
    e.meta["offset"]
        .as_u64()
        .expect("a zip entry has an evidence offset")
}

/// Where the central directory starts, as the end record says.
fn central_directory(data: &[u8]) -> u64 {
    let eocd = data.len() - 22;
    assert_eq!(&data[eocd..eocd + 4], b"PK\x05\x06");
    u64::from(u32::from_le_bytes(
        data[eocd + 16..eocd + 20].try_into().unwrap(),
    ))
}

fn regions(data: &[u8]) -> (Vec<Region>, u64) {
    let (status, t) = decode::<Zip>("ffs.zip", data.to_vec());
    assert_eq!(status, Status::OK);
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    let cd = central_directory(data);
    let mut entries: Vec<_> = t.entries.iter().collect();
    entries.sort_by_key(|e| offset(e));
    let starts: Vec<u64> = entries.iter().map(|e| offset(e)).collect();
    let regions = entries
        .iter()
        .enumerate()
        .map(|(i, e)| Region {
            name: e.name.0.clone(),
            start: starts[i],
            end: starts.get(i + 1).copied().unwrap_or(cd),
            data: e.data.clone(),
            recovered: match e.meta["link_target"].as_str() {
                Some(target) => target.as_bytes().to_vec(),
                None => e.data.clone(),
            },
        })
        .collect();
    (regions, cd)
}

fn assert_cut(regions: &[Region], cut: u64, status: Status, t: &Transcript) {
    let label = format!("cut at {cut:#x}");
    assert_ne!(status, Status::PANICKED, "{label}");
    for r in regions.iter().filter(|r| r.end <= cut) {
        let got = t
            .entries
            .iter()
            .find(|e| offset(e) == r.start)
            .unwrap_or_else(|| panic!("{label}: {:?} lies before the cut but is missing", r.name));
        assert_eq!(got.name.0, r.name, "{label}");
        assert_eq!(got.status, "ok", "{label}: {:?} {}", r.name, got.note);
        assert_eq!(got.data, r.recovered, "{label}: {:?}", r.name);
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
            // The entry the cut falls in: a prefix, complete only if whole
            // (a cut in a trailing data descriptor loses no data).
            assert!(r.recovered.starts_with(&e.data), "{label}: {:?}", r.name);
            if e.status == "ok" {
                assert_eq!(e.data, r.recovered, "{label}: {:?}", r.name);
            } else {
                assert!(!e.note.is_empty(), "{label}: {:?}", r.name);
            }
        }
    }
    // The missing central directory is reported at the end of the evidence.
    let named = t
        .problems()
        .into_iter()
        .any(|p| p.offset == Some(cut) && p.message.contains(&format!("{cut:#x}")));
    assert!(named, "{label}: {:?}", t.problems());
}

#[test]
fn the_ffs_zip_cut_anywhere_keeps_every_entry_before_the_cut() {
    watchdog();
    let data = exhibit_fixtures::zip_bytes().unwrap();
    let (regions, cd) = regions(&data);
    assert_eq!(
        regions.len(),
        exhibit_fixtures::FILE_COUNT
            + exhibit_fixtures::DIR_COUNT
            + exhibit_fixtures::SYMLINK_COUNT
    );
    let mut cuts: Vec<u64> = (1..64).map(|i| cd * i / 64).collect();
    for r in &regions {
        for c in [
            r.start + 1,
            r.start + 4,
            r.start + 29,
            r.start + 30,
            r.start + 31,
            (r.start + r.end) / 2,
            r.end - 1,
            r.end,
        ] {
            cuts.push(c.min(cd));
        }
    }
    cuts.extend([cd + 1, data.len() as u64 - 22, data.len() as u64 - 1]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut complete_before = 0;
    for &cut in &cuts {
        let (status, t) = decode::<Zip>("ffs.zip", data[..cut as usize].to_vec());
        assert_cut(&regions, cut, status, &t);
        let complete = t.entries.iter().filter(|e| e.status == "ok").count();
        assert!(complete >= complete_before, "cut at {cut:#x}");
        complete_before = complete;
    }
    assert_eq!(complete_before, regions.len());
    assert!(cuts.len() > 250, "{}", cuts.len());
}

/// Every hostile zip, cut every 16 bytes: no panic, and whatever a cut copy
/// delivers complete, the whole archive delivers at the same offset with the
/// same bytes (its name may be the local header's: a cut loses the central
/// directory, and name-mismatch's two names differ).
#[test]
fn hostile_zips_cut_every_16_bytes_invent_nothing() {
    watchdog();
    let mut all = exhibit_fixtures::hostile_zip::all().unwrap();
    all.push((
        "lookalikes",
        exhibit_fixtures::hostile_scale::lookalike_names_zip().unwrap(),
    ));
    for (stem, data) in all {
        let (_, full) = decode::<Zip>(stem, data.clone());
        for cut in (0..data.len()).step_by(16) {
            let (status, t) = decode::<Zip>(stem, data[..cut].to_vec());
            assert_ne!(status, Status::PANICKED, "{stem} cut at {cut}");
            for e in t.entries.iter().filter(|e| e.status == "ok") {
                assert!(
                    full.entries
                        .iter()
                        .any(|f| f.meta["offset"] == e.meta["offset"] && f.data == e.data),
                    "{stem} cut at {cut}: {:?} is not in the whole archive",
                    e.name
                );
            }
        }
    }
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6578_6869_6269_7407),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Random bit flips: no panic, no hang, and an entry delivered complete
    /// at an offset whose local header and data were not touched is byte
    /// for byte the original (the plugin checks every CRC itself).
    #[test]
    fn bit_flips_never_change_an_untouched_entry(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..12)
    ) {
        watchdog();
        let data = exhibit_fixtures::zip_bytes().unwrap();
        let (regions, _) = regions(&data);
        let mut damaged = data.clone();
        let mut hit = Vec::new();
        for (at, bit) in &flips {
            let at = at.index(data.len());
            damaged[at] ^= 1 << bit;
            hit.push(at as u64);
        }
        let (status, t) = decode::<Zip>("ffs.zip", damaged);
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

/// Regression: a streamed entry (sizes in a data descriptor) recovered
/// without a central directory was delivered complete and empty, its local
/// header's placeholder zeros taken for its size.
#[test]
fn a_streamed_entry_recovered_without_its_central_directory_is_never_complete() {
    watchdog();
    let data = exhibit_fixtures::hostile_zip::data_descriptor().unwrap();
    let cd = central_directory(&data) as usize;
    for cut in [48, cd] {
        let (status, t) = decode::<Zip>("streamed.zip", data[..cut].to_vec());
        assert_eq!(status, Status::OK, "cut at {cut}");
        let e = t.entry(b"streamed.txt").unwrap();
        assert_eq!(e.status, "unsupported", "cut at {cut}");
        assert!(e.meta.get("size").is_none(), "{:?}", e.meta);
        assert!(e.data.is_empty());
        assert_eq!(
            e.note,
            "entry \"streamed.txt\" at offset 0x0: sizes are in a data descriptor and the central directory is missing; entry recorded, data not recovered"
        );
    }
}
