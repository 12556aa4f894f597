//! The hostile-input suite at plugin level (issue 6) for iTunes backups: the
//! plain fixture zipped and cut at a hundred offsets, its folder form with a
//! cut `Manifest.db` or a cut blob, and random bit flips in the zipped form
//! (proptest, fixed seed). What must hold: no panic; whatever is delivered
//! complete is the truth's bytes under the truth's name; and a loss is
//! reported naming the evidence or the file that is damaged.
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_fixtures::ios::{
    IosBackupOptions, IosEntry, IosEntryKind, ios_backup_dir, ios_entries, write_ios_backup,
};
use exhibit_format_ios_backup::IosBackup;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, run_safe};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Bounds this test binary: a hang is a failure, never a stuck CI run.
fn watchdog() {
    exhibit_plugin_sdk::testing::bound_test_binary(600);
}

const PLAIN: IosBackupOptions<'static> = IosBackupOptions {
    encrypted: None,
    legacy_mbdb: false,
};

fn name_of(e: &IosEntry) -> String {
    if e.relative_path.is_empty() {
        e.domain.clone()
    } else {
        format!("{}/{}", e.domain, e.relative_path)
    }
}

/// The truth: each file's bytes by delivered name.
fn truth() -> BTreeMap<String, Vec<u8>> {
    ios_entries()
        .unwrap()
        .into_iter()
        .filter_map(|e| match &e.kind {
            IosEntryKind::File(data) => Some((name_of(&e), data.clone())),
            _ => None,
        })
        .collect()
}

fn files(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            files(&e.path(), &format!("{name}/"), out);
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
}

/// The plain fixture backup folder, and the same zipped (stored entries,
/// manifest and plists first, as a cut loses the blobs before the index).
fn plain_backup() -> (tempfile::TempDir, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), PLAIN).unwrap();
    let mut all = Vec::new();
    files(&ios_backup_dir(tmp.path()), "", &mut all);
    all.sort_by_key(|(n, _)| (n.contains('/'), n.clone()));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in &all {
        w.start_file(name.as_str(), stored).unwrap();
        w.write_all(data).unwrap();
    }
    (tmp, w.finish().unwrap().into_inner())
}

fn run(host: MemoryHost) -> (Status, Transcript) {
    let status = run_safe::<IosBackup>(&host);
    (status, host.take_transcript())
}

/// Whatever was delivered complete is the truth's; returns how many.
fn assert_complete_are_true(
    label: &str,
    truth: &BTreeMap<String, Vec<u8>>,
    t: &Transcript,
) -> usize {
    let mut complete = 0;
    for e in t.entries.iter().filter(|e| e.status == "ok") {
        let name = String::from_utf8_lossy(&e.name.0).into_owned();
        if let Some(want) = truth.get(&name) {
            assert_eq!(&e.data, want, "{label}: {name}");
            complete += 1;
        }
    }
    complete
}

#[test]
fn a_zipped_backup_cut_anywhere_delivers_only_true_files() {
    watchdog();
    let truth = truth();
    let (_tmp, zip) = plain_backup();
    let len = zip.len();
    let (status, t) = run(MemoryHost::file("phone-backup.zip", zip.clone()));
    assert_eq!(status, Status::OK);
    assert_eq!(assert_complete_are_true("whole", &truth, &t), truth.len());
    for i in 0..100 {
        let cut = len * i / 100;
        let label = format!("cut at {cut} of {len}");
        let (status, t) = run(MemoryHost::file("phone-backup.zip", zip[..cut].to_vec()));
        assert_ne!(status, Status::PANICKED, "{label}");
        let complete = assert_complete_are_true(&label, &truth, &t);
        assert!(complete < truth.len() || status != Status::OK, "{label}");
        assert!(
            status == Status::NOT_MINE
                || t.problems()
                    .iter()
                    .any(|p| p.message.contains("phone-backup.zip")
                        || p.message.contains("offset 0x")),
            "{label}: {status:?} {:?}",
            t.problems()
        );
    }
}

#[test]
fn a_cut_manifest_or_blob_in_a_folder_is_named() {
    watchdog();
    let truth = truth();
    for target in ["Manifest.db", "blob"] {
        for fraction in [0, 1, 10, 50, 90, 99] {
            let tmp = tempfile::tempdir().unwrap();
            write_ios_backup(tmp.path(), PLAIN).unwrap();
            let dir = ios_backup_dir(tmp.path());
            let mut all = Vec::new();
            files(&dir, "", &mut all);
            let (name, data) = if target == "blob" {
                all.iter()
                    .filter(|(n, _)| n.contains('/'))
                    .max_by_key(|(_, d)| d.len())
                    .unwrap()
            } else {
                all.iter().find(|(n, _)| n == "Manifest.db").unwrap()
            };
            let cut = data.len() * fraction / 100;
            std::fs::write(dir.join(name), &data[..cut]).unwrap();
            let label = format!("{name} cut at {cut} of {}", data.len());
            let (status, t) = run(MemoryHost::folder(&dir));
            assert_ne!(status, Status::PANICKED, "{label}");
            let complete = assert_complete_are_true(&label, &truth, &t);
            assert!(complete < truth.len(), "{label}: the damage went unnoticed");
            let file_id = name.rsplit('/').next().unwrap();
            if target == "blob" {
                // Regression: a cut blob was delivered complete, its shortfall
                // only a warning.
                let cut_entry = t
                    .entries
                    .iter()
                    .find(|e| e.note.contains(file_id))
                    .unwrap_or_else(|| panic!("{label}: not delivered"));
                assert_eq!(cut_entry.status, "corrupt", "{label}");
                assert_eq!(cut_entry.data, data[..cut], "{label}");
                assert!(
                    cut_entry.note.ends_with(&format!(
                        ": the manifest says {} bytes, its content {name} holds {cut}",
                        data.len()
                    )),
                    "{label}: {}",
                    cut_entry.note
                );
            }
            assert!(
                t.problems().iter().any(|p| p.message.contains(file_id)),
                "{label}: {status:?} {:?}",
                t.problems()
            );
        }
    }
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6578_6869_6269_740b),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Random bit flips in the zipped backup: no panic, and every file
    /// delivered complete is the truth's (each blob is checked against the
    /// manifest's digest, each zip entry against its CRC).
    #[test]
    fn bit_flips_in_a_zipped_backup_never_pass_a_false_file(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8)
    ) {
        watchdog();
        let truth = truth();
        let (_tmp, zip) = plain_backup();
        let mut damaged = zip.clone();
        for (at, bit) in &flips {
            let at = at.index(zip.len());
            damaged[at] ^= 1 << bit;
        }
        let (status, t) = run(MemoryHost::file("phone-backup.zip", damaged));
        prop_assert_ne!(status, Status::PANICKED);
        assert_complete_are_true("flipped", &truth, &t);
    }
}
