//! The ios-backup plugin over the fixture backups (plain, encrypted, legacy
//! mbdb) and damaged copies of them. Every decode runs twice, through the
//! safe trait and through the C descriptor, with four delivery threads; the
//! transcripts, entries and log lines sorted (parallel delivery order
//! differs from run to run), must be byte-identical (STYLE rule 11).
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_fixtures::ios::{
    IOS_DEVICE_NAME, IOS_DPIC, IOS_IMEI, IOS_ITER, IOS_PASSWORD, IOS_PHONE_NUMBER,
    IOS_PRODUCT_TYPE, IOS_PRODUCT_VERSION, IOS_SERIAL, IOS_SMS_PATH, IOS_UDID, IosBackupOptions,
    IosEntry, IosEntryKind, ios_backup_dir, ios_entries, write_ios_backup,
};
use exhibit_format_ios_backup::{IosBackup, exhibit_static_descriptor, file_id};
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, run_safe};
use exhibit_plugin_sdk::{HostServices, Session, Status};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The three fixture backups.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Encrypted,
    Legacy,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Plain, Kind::Encrypted, Kind::Legacy];

    fn options(self) -> IosBackupOptions<'static> {
        IosBackupOptions {
            encrypted: (self == Kind::Encrypted).then_some(IOS_PASSWORD),
            legacy_mbdb: self == Kind::Legacy,
        }
    }
}

/// A fixture backup in a fresh temporary folder.
fn backup(kind: Kind) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    write_ios_backup(tmp.path(), kind.options()).unwrap();
    let dir = ios_backup_dir(tmp.path());
    (tmp, dir)
}

/// A transcript with entries sorted by name and logs by content.
fn sorted(t: &Transcript) -> Transcript {
    let mut t = t.clone();
    t.entries.sort_by(|a, b| a.name.0.cmp(&b.name.0));
    t.logs
        .sort_by(|a, b| (a.level, &a.message).cmp(&(b.level, &b.message)));
    t
}

/// Decodes `dir` both ways, requires identical (sorted) transcripts,
/// returns the common status and the sorted transcript.
fn both_ways(dir: &Path, password: Option<&str>) -> (Status, Transcript) {
    let host = || {
        let host = MemoryHost::folder(dir).with_threads(4);
        match password {
            Some(p) => host.with_password(p),
            None => host,
        }
    };
    let (direct, via_abi) = (host(), host());
    let s1 = run_safe::<IosBackup>(&direct);
    let s2 = exhibit_static_descriptor().run(&via_abi);
    let (t1, t2) = (
        sorted(&direct.take_transcript()),
        sorted(&via_abi.take_transcript()),
    );
    assert_eq!(t1.to_jsonl(), t2.to_jsonl(), "{dir:?}: transcripts differ");
    assert_eq!(s1, s2, "{dir:?}: statuses differ");
    (s1, t1)
}

fn fixture(kind: Kind) -> (Status, Transcript) {
    let (_tmp, dir) = backup(kind);
    let password = (kind == Kind::Encrypted).then_some(IOS_PASSWORD);
    both_ways(&dir, password)
}

/// Custody facts logged under `what`, as their details.
fn facts(t: &Transcript, what: &str) -> Vec<Value> {
    t.logs
        .iter()
        .filter(|l| l.level == "fact")
        .map(|l| serde_json::from_str::<Value>(&l.message).unwrap())
        .filter(|m| m["what"] == what)
        .map(|m| m["details"].clone())
        .collect()
}

fn name_of(e: &IosEntry) -> String {
    if e.relative_path.is_empty() {
        e.domain.clone()
    } else {
        format!("{}/{}", e.domain, e.relative_path)
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every truth entry delivered once, complete, with its bytes and metadata.
fn assert_matches_truth(t: &Transcript, kind: Kind) {
    let truth = ios_entries().unwrap();
    assert_eq!(t.entries.len(), truth.len(), "{kind:?}");
    for want in &truth {
        let name = name_of(want);
        let got = t.entry(name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
        let m = &got.meta;
        let x = &m["extra"]["ios_backup"];
        assert_eq!(got.status, "ok", "{name}");
        assert_eq!(m["mode"], want.mode, "{name}");
        assert_eq!(m["uid"], want.uid, "{name}");
        assert_eq!(m["gid"], want.gid, "{name}");
        assert_eq!(m["mtime"]["secs"], want.mtime, "{name}");
        assert_eq!(x["domain"], want.domain, "{name}");
        assert_eq!(x["relative_path"], want.relative_path, "{name}");
        assert_eq!(x["file_id"], want.file_id, "{name}");
        assert_eq!(x["inode"], want.inode, "{name}");
        assert_eq!(x["protection_class"], want.protection_class, "{name}");
        if kind == Kind::Legacy {
            // mbdb keeps mtime, atime and ctime; the fixture writes atime = mtime.
            assert_eq!(m["atime"]["secs"], want.mtime, "{name}");
            assert_eq!(m["ctime"]["secs"], want.ctime, "{name}");
            assert!(m.get("btime").is_none());
        } else {
            assert_eq!(m["ctime"]["secs"], want.ctime, "{name}");
            assert_eq!(m["btime"]["secs"], want.birth, "{name}");
            assert_eq!(x["flags"], want.flags(), "{name}");
        }
        match &want.kind {
            IosEntryKind::File(bytes) => {
                assert_eq!(m["kind"], "file", "{name}");
                assert_eq!(m["size"], want.size, "{name}");
                assert_eq!(&sha256_hex(&got.data), want.sha256.as_ref().unwrap());
                assert_eq!(&got.data, bytes, "{name}");
                let source = match kind {
                    Kind::Legacy => want.file_id.clone(),
                    _ => format!("{}/{}", &want.file_id[..2], want.file_id),
                };
                assert_eq!(x["source"], source, "{name}");
                assert_eq!(x["encrypted"], kind == Kind::Encrypted, "{name}");
            }
            IosEntryKind::Dir => {
                assert_eq!(m["kind"], "dir", "{name}");
                assert!(got.data.is_empty());
                assert_eq!(x["source"], Value::Null);
            }
            IosEntryKind::Symlink(target) => {
                assert_eq!(m["kind"], "symlink", "{name}");
                assert_eq!(m["link_target"], target.as_str(), "{name}");
                assert!(got.data.is_empty());
            }
        }
    }
}

#[test]
fn every_fixture_decodes_to_the_truth() {
    for kind in Kind::ALL {
        let (status, t) = fixture(kind);
        assert_eq!(status, Status::OK, "{kind:?}");
        assert!(t.problems().is_empty(), "{kind:?}: {:?}", t.problems());
        assert_matches_truth(&t, kind);

        let device = facts(&t, "device");
        assert_eq!(device.len(), 1, "{kind:?}");
        let d = &device[0];
        assert_eq!(d["device_name"], IOS_DEVICE_NAME);
        assert_eq!(d["product_type"], IOS_PRODUCT_TYPE);
        assert_eq!(d["serial_number"], IOS_SERIAL);
        assert_eq!(d["udid"], IOS_UDID);
        assert_eq!(d["imei"], IOS_IMEI);
        assert_eq!(d["phone_number"], IOS_PHONE_NUMBER);
        assert_eq!(d["encrypted"], kind == Kind::Encrypted);
        assert_eq!(d["snapshot_state"], "finished");
        assert_eq!(d["last_backup_date"], "2024-03-01T12:00:00Z");
        assert!(
            d["installed_applications"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "com.example.notes"),
            "{d}"
        );
        if kind != Kind::Legacy {
            assert_eq!(d["ios_version"], IOS_PRODUCT_VERSION);
        }

        let keybag = facts(&t, "ios backup keybag");
        if kind == Kind::Encrypted {
            assert_eq!(keybag.len(), 1);
            let k = &keybag[0];
            assert_eq!(k["iterations"], IOS_ITER);
            assert_eq!(k["dp_iterations"], IOS_DPIC);
            assert_eq!(k["classes"].as_array().unwrap().len(), 11);
            let jsonl = t.to_jsonl();
            assert!(!jsonl.contains(IOS_PASSWORD), "the password leaked");
            let progress: Vec<_> = t.logs.iter().filter(|l| l.level == "progress").collect();
            assert_eq!(
                progress[0].message,
                format!("deriving the backup key ({} rounds)…", IOS_DPIC + IOS_ITER)
            );
        } else {
            assert!(keybag.is_empty());
        }
    }
}

/// One thread: the same entries, delivered in manifest order.
#[test]
fn one_thread_gives_the_same_entries() {
    let (_tmp, dir) = backup(Kind::Plain);
    let host = MemoryHost::folder(&dir);
    assert_eq!(run_safe::<IosBackup>(&host), Status::OK);
    let one = sorted(&host.take_transcript());
    let (_, four) = both_ways(&dir, None);
    assert_eq!(one.to_jsonl(), four.to_jsonl());
}

#[test]
fn wrong_password_delivers_nothing() {
    let (_tmp, dir) = backup(Kind::Encrypted);
    for wrong in ["not the password", "itünes-backup-✓"] {
        let (status, t) = both_ways(&dir, Some(wrong));
        assert_eq!(status, Status::WRONG_PASSWORD);
        assert!(t.entries.is_empty());
        let problems = t.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].message,
            format!("wrong password for {IOS_UDID}")
        );
        assert!(!t.to_jsonl().contains(wrong));
        // The device and keybag were recorded before the password was asked for.
        assert_eq!(facts(&t, "device").len(), 1);
        assert_eq!(facts(&t, "ios backup keybag").len(), 1);
    }
}

#[test]
fn no_password_is_said_so() {
    let (_tmp, dir) = backup(Kind::Encrypted);
    for password in [None, Some("")] {
        let (status, t) = both_ways(&dir, password);
        assert_eq!(status, Status::NO_PASSWORD);
        assert!(t.entries.is_empty());
        assert_eq!(
            t.problems()[0].message,
            format!("{IOS_UDID} is encrypted and no password was given")
        );
    }
}

/// A password given for a plain backup is not needed and not used.
#[test]
fn password_for_a_plain_backup_is_ignored() {
    let (_tmp, dir) = backup(Kind::Plain);
    let (status, t) = both_ways(&dir, Some("whatever"));
    assert_eq!(status, Status::OK);
    assert_matches_truth(&t, Kind::Plain);
}

fn sms_id() -> String {
    file_id(b"HomeDomain", IOS_SMS_PATH.as_bytes())
}

#[test]
fn a_missing_blob_is_an_error_and_the_rest_is_delivered() {
    for kind in Kind::ALL {
        let (_tmp, dir) = backup(kind);
        let id = sms_id();
        let blob = match kind {
            Kind::Legacy => id.clone(),
            _ => format!("{}/{id}", &id[..2]),
        };
        std::fs::remove_file(dir.join(&blob)).unwrap();
        let (status, t) = both_ways(&dir, (kind == Kind::Encrypted).then_some(IOS_PASSWORD));
        assert_eq!(status, Status::OK, "{kind:?}");
        let problems = t.problems();
        assert_eq!(problems.len(), 1, "{kind:?}: {problems:?}");
        assert_eq!(problems[0].level, "error");
        assert_eq!(
            problems[0].message,
            format!(
                "corrupt: HomeDomain/{IOS_SMS_PATH} (fileID {id}): its content {blob} is missing from the backup folder; not extracted"
            )
        );
        assert_eq!(t.entries.len(), ios_entries().unwrap().len() - 1);
        assert!(
            t.entry(format!("HomeDomain/{IOS_SMS_PATH}").as_bytes())
                .is_none()
        );
    }
}

#[test]
fn an_unlisted_blob_is_a_warning() {
    let (_tmp, dir) = backup(Kind::Plain);
    let stray = "ab".to_owned() + &"0".repeat(38);
    std::fs::create_dir_all(dir.join("ab")).unwrap();
    std::fs::write(dir.join("ab").join(&stray), b"hidden").unwrap();
    let (status, t) = both_ways(&dir, None);
    assert_eq!(status, Status::OK);
    let problems = t.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].level, "warn");
    assert_eq!(
        problems[0].message,
        format!("ab/{stray} is in the backup folder but not listed in the manifest; not extracted")
    );
    assert_matches_truth(&t, Kind::Plain);
}

#[test]
fn a_file_id_that_does_not_match_its_path_is_a_warning() {
    let (_tmp, dir) = backup(Kind::Plain);
    let id = sms_id();
    let other = "5e".to_owned() + &"1".repeat(38);
    let conn = rusqlite::Connection::open(dir.join("Manifest.db")).unwrap();
    conn.execute(
        "UPDATE Files SET fileID = ?1 WHERE fileID = ?2",
        [&other, &id],
    )
    .unwrap();
    drop(conn);
    std::fs::create_dir_all(dir.join("5e")).unwrap();
    std::fs::rename(dir.join(&id[..2]).join(&id), dir.join("5e").join(&other)).unwrap();
    let (status, t) = both_ways(&dir, None);
    assert_eq!(status, Status::OK);
    let problems = t.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].message,
        format!(
            "HomeDomain/{IOS_SMS_PATH} (fileID {other}): the fileID is not the sha-1 of \"domain-relativePath\" ({id}); extracted under its stored name"
        )
    );
    let sms = t
        .entry(format!("HomeDomain/{IOS_SMS_PATH}").as_bytes())
        .unwrap();
    assert_eq!(sms.status, "ok");
    assert_eq!(
        sms.meta["extra"]["ios_backup"]["source"],
        format!("5e/{other}")
    );
    assert_eq!(t.entries.len(), ios_entries().unwrap().len());
}

#[test]
fn a_truncated_manifest_db_is_a_clear_error() {
    let (_tmp, dir) = backup(Kind::Plain);
    let db = dir.join("Manifest.db");
    let data = std::fs::read(&db).unwrap();
    let cut = data.len() / 2;
    std::fs::write(&db, &data[..cut]).unwrap();
    let (status, t) = both_ways(&dir, None);
    assert_eq!(status, Status::CORRUPT);
    assert!(t.entries.is_empty());
    let last = t.problems().last().copied().unwrap().clone();
    assert!(
        last.message
            .starts_with("corrupt: Manifest.db is cut short: its header says "),
        "{last:?}"
    );
    assert!(
        last.message.ends_with(&format!("the file has {cut}")),
        "{last:?}"
    );

    let (_tmp, dir) = backup(Kind::Encrypted);
    let db = dir.join("Manifest.db");
    let data = std::fs::read(&db).unwrap();
    std::fs::write(&db, &data[..data.len() - 5]).unwrap();
    let (status, t) = both_ways(&dir, Some(IOS_PASSWORD));
    assert_eq!(status, Status::CORRUPT);
    assert!(t.entries.is_empty());
    assert_eq!(
        t.problems().last().unwrap().message,
        format!(
            "corrupt: encrypted Manifest.db is {} bytes, not a whole number of aes blocks (cut short?)",
            data.len() - 5
        )
    );
}

#[test]
fn a_cut_encrypted_file_is_delivered_incomplete() {
    let (_tmp, dir) = backup(Kind::Encrypted);
    let id = sms_id();
    let blob = dir.join(&id[..2]).join(&id);
    let data = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, &data[..data.len() - 32]).unwrap();
    let (status, t) = both_ways(&dir, Some(IOS_PASSWORD));
    assert_eq!(status, Status::OK);
    let sms = t
        .entry(format!("HomeDomain/{IOS_SMS_PATH}").as_bytes())
        .unwrap();
    assert_eq!(sms.status, "corrupt");
    let truth = ios_entries().unwrap();
    let want = truth.iter().find(|e| e.file_id == id).unwrap();
    assert_eq!(sms.data, want.bytes().unwrap()[..data.len() - 32]);
    let problems = t.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(
        sms.note,
        format!(
            "HomeDomain/{IOS_SMS_PATH} (fileID {id}): encrypted content of {} bytes is shorter than the {} bytes the manifest declares",
            data.len() - 32,
            want.size
        )
    );
    assert_eq!(problems[0].message, format!("corrupt: {}", sms.note));
}

#[test]
fn an_unfinished_snapshot_and_a_missing_plist_are_warnings() {
    let (_tmp, dir) = backup(Kind::Plain);
    let status_path = dir.join("Status.plist");
    let mut status = plist::Value::from_file(&status_path).unwrap();
    status.as_dictionary_mut().unwrap().insert(
        "SnapshotState".into(),
        plist::Value::String("uploading".into()),
    );
    status.to_file_binary(&status_path).unwrap();
    std::fs::remove_file(dir.join("Info.plist")).unwrap();
    let (status, t) = both_ways(&dir, None);
    assert_eq!(status, Status::OK);
    let messages: Vec<&str> = t.problems().iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Info.plist is missing from the backup folder",
            "Status.plist says the backup is incomplete: SnapshotState is \"uploading\", not \"finished\"",
        ]
    );
    assert_matches_truth(&t, Kind::Plain);
    // Without Info.plist, the device comes from Manifest.plist's Lockdown.
    let d = &facts(&t, "device")[0];
    assert_eq!(d["device_name"], IOS_DEVICE_NAME);
    assert_eq!(d["imei"], Value::Null);
}

#[test]
fn a_folder_without_a_manifest_is_not_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let (status, t) = both_ways(tmp.path(), None);
    assert_eq!(status, Status::CORRUPT);
    let name = tmp
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        t.problems()[0].message,
        format!(
            "corrupt: {name} is not an ios backup folder: it holds no Manifest.db or Manifest.mbdb"
        )
    );
}

/// The custody contract: each file's blob is read through one reader that
/// is closed before the output is ended, so the host can hash the blob.
#[test]
fn each_blob_is_closed_before_its_file_ends() {
    use std::sync::Mutex;

    struct Recording<'a> {
        inner: &'a MemoryHost,
        events: Mutex<Vec<String>>,
        open: Mutex<std::collections::HashMap<u64, String>>,
        names: Mutex<std::collections::HashMap<u64, String>>,
    }
    impl HostServices for Recording<'_> {
        fn evidence(&self) -> &exhibit_plugin_sdk::EvidenceInfo {
            self.inner.evidence()
        }
        fn read_at(&self, h: u64, o: u64, b: &mut [u8]) -> Result<usize, Status> {
            self.inner.read_at(h, o, b)
        }
        fn list_dir(&self, p: &[u8], v: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
            self.inner.list_dir(p, v)
        }
        fn open(&self, path: &[u8]) -> Result<u64, Status> {
            let h = self.inner.open(path)?;
            let path = String::from_utf8_lossy(path).into_owned();
            self.open.lock().unwrap().insert(h, path);
            Ok(h)
        }
        fn close(&self, h: u64) -> Status {
            let path = self.open.lock().unwrap().remove(&h).unwrap();
            self.events.lock().unwrap().push(format!("close {path}"));
            self.inner.close(h)
        }
        fn begin_file(&self, name: &[u8], meta: &[u8]) -> Result<u64, Status> {
            let h = self.inner.begin_file(name, meta)?;
            let meta: Value = serde_json::from_slice(meta).unwrap();
            let source = meta["extra"]["ios_backup"]["source"]
                .as_str()
                .unwrap_or("-");
            self.names.lock().unwrap().insert(h, source.to_owned());
            Ok(h)
        }
        fn write(&self, f: u64, d: &[u8]) -> Status {
            self.inner.write(f, d)
        }
        fn end_file(&self, f: u64, s: Status, n: &[u8]) -> Status {
            let source = self.names.lock().unwrap().remove(&f).unwrap();
            self.events.lock().unwrap().push(format!("end {source}"));
            self.inner.end_file(f, s, n)
        }
        fn emit_record(&self, k: &[u8], r: &[u8]) -> Status {
            self.inner.emit_record(k, r)
        }
        fn log(&self, l: u32, s: Status, o: u64, m: &[u8]) {
            self.inner.log(l, s, o, m)
        }
        fn is_cancelled(&self) -> bool {
            false
        }
    }

    let (_tmp, dir) = backup(Kind::Plain);
    let inner = MemoryHost::folder(&dir);
    let host = Recording {
        inner: &inner,
        events: Mutex::new(Vec::new()),
        open: Mutex::new(Default::default()),
        names: Mutex::new(Default::default()),
    };
    use exhibit_plugin_sdk::FormatPlugin;
    IosBackup.run(&Session::new(&host)).unwrap();
    let events = host.events.into_inner().unwrap();
    let files: Vec<_> = ios_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.bytes().is_some())
        .collect();
    for e in &files {
        let source = format!("{}/{}", &e.file_id[..2], e.file_id);
        let close = events.iter().position(|x| *x == format!("close {source}"));
        let end = events.iter().position(|x| *x == format!("end {source}"));
        assert!(close.unwrap() < end.unwrap(), "{source}: {events:?}");
    }
    // The manifest and plists were read and closed too.
    assert!(events.contains(&"close Manifest.db".to_owned()));
    assert!(events.contains(&"close Info.plist".to_owned()));
}

/// Whatever the damage to a manifest or an MBFile: no panic, a bounded run,
/// and both paths agree.
#[test]
fn mutated_manifests() {
    use exhibit_plugin_sdk::testing::mutations;
    for (kind, file, count) in [
        (Kind::Legacy, "Manifest.mbdb", 120),
        (Kind::Plain, "Manifest.db", 60),
        (Kind::Plain, "Manifest.plist", 30),
        (Kind::Encrypted, "Manifest.plist", 30),
    ] {
        let (_tmp, dir) = backup(kind);
        let path = dir.join(file);
        let base = std::fs::read(&path).unwrap();
        for data in mutations(&base, count, 8) {
            std::fs::write(&path, &data).unwrap();
            let (status, _) = both_ways(&dir, (kind == Kind::Encrypted).then_some(IOS_PASSWORD));
            assert_ne!(status, Status::PANICKED, "{kind:?} {file}");
        }
    }
}
