//! The ios-backup plugin over a zip or tar holding a backup folder (as
//! examiners receive them: `Backup/<UDID>/…`, or the folder's files at the
//! root): the same entries, metadata and bytes as the folder, `source` null
//! (the archive's own hash covers the blobs). Every decode runs through the safe
//! trait and the C descriptor with four threads, and once with one thread.
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_fixtures::ios::{
    IOS_PASSWORD, IOS_UDID, IosBackupOptions, ios_backup_dir, write_ios_backup,
};
use exhibit_format_ios_backup::{IosBackup, exhibit_static_descriptor};
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, run_safe};
use exhibit_plugin_sdk::{FormatPlugin, Probe, Status};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

fn options(kind: &str) -> IosBackupOptions<'static> {
    IosBackupOptions {
        encrypted: (kind == "encrypted").then_some(IOS_PASSWORD),
        legacy_mbdb: kind == "legacy",
    }
}

/// Every file under `dir`, as (`/`-separated relative path, bytes), sorted.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            walk(&e.path(), &format!("{name}/"), out);
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
}

/// Zips the backup folder `dir` under `prefix`, alternating stored and
/// deflated entries, folder entries first as Finder/Info-ZIP write them.
fn zip_folder(dir: &Path, prefix: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut files = Vec::new();
    walk(dir, "", &mut files);
    files.sort();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut folder = String::new();
    for part in prefix.split_terminator('/') {
        folder.push_str(part);
        folder.push('/');
        w.add_directory(folder.as_str(), SimpleFileOptions::default())
            .unwrap();
    }
    for (i, (name, data)) in files.iter().enumerate() {
        let method = if i % 2 == 0 {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let opts = SimpleFileOptions::default().compression_method(method);
        w.start_file(format!("{prefix}{name}"), opts).unwrap();
        w.write_all(data).unwrap();
    }
    for (name, data) in extra {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A transcript with entries sorted by name and logs by content.
fn sorted(t: &Transcript) -> Transcript {
    let mut t = t.clone();
    t.entries.sort_by(|a, b| a.name.0.cmp(&b.name.0));
    t.logs
        .sort_by(|a, b| (a.level, &a.message).cmp(&(b.level, &b.message)));
    t
}

/// Runs the plugin over `host()` both ways; the transcripts must agree.
fn both_ways(host: impl Fn() -> MemoryHost) -> (Status, Transcript) {
    let (direct, via_abi) = (host(), host());
    let s1 = run_safe::<IosBackup>(&direct);
    let s2 = exhibit_static_descriptor().run(&via_abi);
    let (t1, t2) = (
        sorted(&direct.take_transcript()),
        sorted(&via_abi.take_transcript()),
    );
    assert_eq!(t1.to_jsonl(), t2.to_jsonl(), "transcripts differ");
    assert_eq!(s1, s2, "statuses differ");
    (s1, t1)
}

fn zip_host(bytes: &[u8], password: Option<&str>, threads: u32) -> MemoryHost {
    let host = MemoryHost::file("phone-backup.zip", bytes.to_vec()).with_threads(threads);
    match password {
        Some(p) => host.with_password(p),
        None => host,
    }
}

fn folder_host(dir: &Path, password: Option<&str>) -> MemoryHost {
    let host = MemoryHost::folder(dir).with_threads(4);
    match password {
        Some(p) => host.with_password(p),
        None => host,
    }
}

/// The folder's transcript with every `source` made null, as in a zip.
fn without_sources(t: &Transcript) -> Transcript {
    let mut t = t.clone();
    for e in &mut t.entries {
        e.meta["extra"]["ios_backup"]["source"] = Value::Null;
    }
    t
}

/// The zip of each fixture backup, under `Backup/<UDID>/` and at the root,
/// delivers exactly what the folder does.
#[test]
fn a_zipped_backup_gives_the_folder_entries() {
    for kind in ["plain", "encrypted", "legacy"] {
        let tmp = tempfile::tempdir().unwrap();
        write_ios_backup(tmp.path(), options(kind)).unwrap();
        let dir = ios_backup_dir(tmp.path());
        let password = (kind == "encrypted").then_some(IOS_PASSWORD);
        let (status, folder) = both_ways(|| folder_host(&dir, password));
        assert_eq!(status, Status::OK, "{kind}");
        assert!(!folder.entries.is_empty());
        let want = without_sources(&folder);

        for prefix in [format!("Backup/{IOS_UDID}/"), String::new()] {
            let bytes = zip_folder(&dir, &prefix, &[]);
            let (status, zipped) = both_ways(|| zip_host(&bytes, password, 4));
            assert_eq!(status, Status::OK, "{kind} {prefix:?}");
            assert!(zipped.problems().is_empty(), "{:?}", zipped.problems());
            assert_eq!(zipped.entries.len(), folder.entries.len(), "{kind}");
            for (z, f) in zipped.entries.iter().zip(&want.entries) {
                assert_eq!(z.name, f.name);
                assert_eq!(z.data, f.data, "{kind}: {:?}", f.name);
                assert_eq!(z.status, "ok");
            }
            assert_eq!(zipped.to_jsonl(), want.to_jsonl(), "{kind} {prefix:?}");

            // One thread: the same.
            let one = zip_host(&bytes, password, 1);
            assert_eq!(run_safe::<IosBackup>(&one), Status::OK);
            assert_eq!(sorted(&one.take_transcript()).to_jsonl(), want.to_jsonl());
        }
    }
}

#[test]
fn a_wrong_password_for_a_zipped_backup_delivers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), options("encrypted")).unwrap();
    let bytes = zip_folder(&ios_backup_dir(tmp.path()), "Backup/x/", &[]);
    let (status, t) = both_ways(|| zip_host(&bytes, Some("not it"), 4));
    assert_eq!(status, Status::WRONG_PASSWORD);
    assert!(t.entries.is_empty());
    assert_eq!(
        t.problems()[0].message,
        "wrong password for phone-backup.zip"
    );
}

#[test]
fn a_zip_without_a_backup_is_not_mine() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("DCIM/IMG_0001.JPG", SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"\xff\xd8\xff").unwrap();
    w.start_file("notes/Manifest.dbx", SimpleFileOptions::default())
        .unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let (status, t) = both_ways(|| zip_host(&bytes, None, 4));
    assert_eq!(status, Status::NOT_MINE);
    assert!(t.entries.is_empty());
    let problems: Vec<&str> = t.problems().iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        problems,
        [
            "not this plugin's format",
            "phone-backup.zip is not an ios backup: the zip holds no Manifest.db or Manifest.mbdb"
        ]
    );

    let (status, t) = both_ways(|| zip_host(b"not a zip at all", None, 1));
    assert_eq!(status, Status::NOT_MINE);
    assert!(
        t.problems()[1]
            .message
            .starts_with("phone-backup.zip is not an ios backup: not a readable zip file ("),
        "{:?}",
        t.problems()
    );
}

/// Two backups in one zip: the first is decoded, the other named.
#[test]
fn a_zip_with_two_backups_decodes_the_first_and_names_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), options("plain")).unwrap();
    let bytes = zip_folder(
        &ios_backup_dir(tmp.path()),
        "Backup/A/",
        &[("Backup/Older/B/Manifest.db", b"SQLite format 3\0")],
    );
    let (status, t) = both_ways(|| zip_host(&bytes, None, 4));
    assert_eq!(status, Status::OK);
    assert!(!t.entries.is_empty());
    let problems = t.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].message,
        "phone-backup.zip holds more than one ios backup: decoding the one at \"Backup/A/\"; not decoded: \"Backup/Older/B/\""
    );
}

/// A damaged blob in the zip is reported and the rest delivered.
#[test]
fn a_damaged_blob_in_the_zip_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), options("plain")).unwrap();
    let dir = ios_backup_dir(tmp.path());
    let mut bytes = zip_folder(&dir, "", &[]);
    // Flip a byte of the first stored blob's data (its CRC no longer holds).
    let mut files = Vec::new();
    walk(&dir, "", &mut files);
    files.sort();
    let (name, data) = files
        .iter()
        .step_by(2)
        .find(|(n, d)| n.len() == 43 && d.len() > 4)
        .unwrap();
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap()
        + name.len();
    assert_eq!(&bytes[at..at + 4], &data[..4]);
    bytes[at] ^= 0xff;
    let (status, t) = both_ways(|| zip_host(&bytes, None, 4));
    assert_eq!(status, Status::OK);
    let problems = t.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains(name.as_str()), "{problems:?}");
    let failed: Vec<_> = t.entries.iter().filter(|e| e.status != "ok").collect();
    assert_eq!(failed.len(), 1);
}

#[test]
fn zip_probe_scores() {
    let probe = |head: &[u8], name: &[u8]| {
        IosBackup.probe(&Probe {
            head,
            name,
            size: head.len() as u64,
            is_dir: false,
        })
    };
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), options("plain")).unwrap();
    let dir = ios_backup_dir(tmp.path());
    // The UDID folder comes first: 95, above the zip plugin's 90.
    let zipped = zip_folder(&dir, &format!("Backup/{IOS_UDID}/"), &[]);
    let head = &zipped[..zipped.len().min(64 * 1024)];
    assert_eq!(probe(head, b"/cases/phone.zip"), 95);
    // At the root: the blob folders come first, named `xx/<fileID>`.
    let zipped = zip_folder(&dir, "", &[]);
    let head = &zipped[..zipped.len().min(64 * 1024)];
    assert_eq!(probe(head, b"/cases/renamed.bin"), 95);

    // Any other zip is left to the zip plugin.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("DCIM/IMG_0001.JPG", SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"\xff\xd8\xff").unwrap();
    let other = w.finish().unwrap().into_inner();
    assert_eq!(probe(&other, b"/cases/photos.zip"), 0);
    assert_eq!(probe(b"Manifest.db", b"/cases/Manifest.db"), 0);
    // A local header cut in the head is no match, not a panic.
    assert_eq!(probe(&zipped[..40], b"/cases/x.zip"), 0);
}

/// Tars the backup folder `dir` under `prefix` (ustar, GNU long names for
/// paths over 100 bytes), with `extra` files after it.
fn tar_folder(dir: &Path, prefix: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut files = Vec::new();
    walk(dir, "", &mut files);
    files.sort();
    let mut b = tar::Builder::new(Vec::new());
    let mut put = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    for (name, data) in &files {
        put(&format!("{prefix}{name}"), data);
    }
    for (name, data) in extra {
        put(name, data);
    }
    b.into_inner().unwrap()
}

fn tar_host(bytes: &[u8], password: Option<&str>, threads: u32) -> MemoryHost {
    let host = MemoryHost::file("phone-backup.tar", bytes.to_vec()).with_threads(threads);
    match password {
        Some(p) => host.with_password(p),
        None => host,
    }
}

/// The tar of each fixture backup delivers exactly what the folder does.
#[test]
fn a_tarred_backup_gives_the_folder_entries() {
    for kind in ["plain", "encrypted", "legacy"] {
        let tmp = tempfile::tempdir().unwrap();
        write_ios_backup(tmp.path(), options(kind)).unwrap();
        let dir = ios_backup_dir(tmp.path());
        let password = (kind == "encrypted").then_some(IOS_PASSWORD);
        let (status, folder) = both_ways(|| folder_host(&dir, password));
        assert_eq!(status, Status::OK, "{kind}");
        let want = without_sources(&folder);
        // A prefix long enough to need GNU long names for every blob.
        let deep = format!("{}/Backup/{IOS_UDID}/", "case-0042".repeat(8));
        for prefix in [format!("Backup/{IOS_UDID}/"), deep, String::new()] {
            let bytes = tar_folder(&dir, &prefix, &[]);
            let (status, tarred) = both_ways(|| tar_host(&bytes, password, 4));
            assert_eq!(status, Status::OK, "{kind} {prefix:?}");
            assert!(tarred.problems().is_empty(), "{:?}", tarred.problems());
            assert_eq!(tarred.to_jsonl(), want.to_jsonl(), "{kind} {prefix:?}");
            let one = tar_host(&bytes, password, 1);
            assert_eq!(run_safe::<IosBackup>(&one), Status::OK);
            assert_eq!(sorted(&one.take_transcript()).to_jsonl(), want.to_jsonl());
        }
    }
}

#[test]
fn a_tar_without_a_backup_is_not_mine() {
    let bytes = tar_folder(
        tempfile::tempdir().unwrap().path(),
        "",
        &[("DCIM/IMG_0001.JPG", b"\xff\xd8\xff")],
    );
    let (status, t) = both_ways(|| tar_host(&bytes, None, 4));
    assert_eq!(status, Status::NOT_MINE);
    assert!(t.entries.is_empty());
    assert_eq!(
        t.problems()[1].message,
        "phone-backup.tar is not an ios backup: the tar holds no Manifest.db or Manifest.mbdb"
    );
}

/// A tar cut inside a blob: the files before the cut are delivered, the
/// cut one is named, the blobs after it are missing.
#[test]
fn a_cut_tar_delivers_what_it_holds() {
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), options("plain")).unwrap();
    let dir = ios_backup_dir(tmp.path());
    let mut files = Vec::new();
    walk(&dir, "", &mut files);
    // The manifest and plists first, then the blobs.
    files.sort_by_key(|(n, _)| (n.contains('/'), n.clone()));
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let bytes = b.into_inner().unwrap();
    let (last, data) = files.last().unwrap();
    let cut = &bytes[..bytes.len() - 1024 - 512 * (data.len().div_ceil(512)) + 1];
    let (status, t) = both_ways(|| tar_host(cut, None, 4));
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    let problems = t.problems();
    assert!(
        problems.iter().any(|p| p
            .message
            .starts_with(&format!("phone-backup.tar is cut short: {last} ("))),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p
            .message
            .contains("is missing from the backup folder; not extracted")),
        "{problems:?}"
    );
    assert!(!t.entries.is_empty());
}
