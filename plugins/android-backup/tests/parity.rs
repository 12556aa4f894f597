//! The android-backup plugin over the fixture backups (every version and
//! mode the generator writes) and damaged copies of them. Every decode runs
//! twice, through the safe trait and through the C descriptor, and the
//! transcripts must be byte-identical (STYLE rule 11).
#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use exhibit_fixtures::adb::{AbEntry, AbFixture, SHARED_STORAGE_PACKAGE};
use exhibit_fixtures::{EntryKind, ab_entries, ab_tar_bytes};
use exhibit_format_android_backup::{AndroidBackup, exhibit_static_descriptor};
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, mutations, run_safe};
use exhibit_plugin_sdk::{FormatPlugin, Probe, Status};
use serde_json::{Value, json};

/// Decodes `data` both ways, requires identical transcripts, returns the
/// common status and transcript.
fn both_ways(name: &str, data: &[u8], password: Option<&str>) -> (Status, Transcript) {
    let host = |data: &[u8]| {
        let host = MemoryHost::file(name, data.to_vec());
        match password {
            Some(p) => host.with_password(p),
            None => host,
        }
    };
    let (direct, via_abi) = (host(data), host(data));
    let s1 = run_safe::<AndroidBackup>(&direct);
    let s2 = exhibit_static_descriptor().run(&via_abi);
    let (t1, t2) = (direct.take_transcript(), via_abi.take_transcript());
    assert_eq!(t1.to_jsonl(), t2.to_jsonl(), "{name}: transcripts differ");
    assert_eq!(s1, s2, "{name}: statuses differ");
    (s1, t1)
}

fn fixture(f: AbFixture) -> (Status, Transcript) {
    both_ways(f.file_name(), &f.bytes().unwrap(), f.password())
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

/// The package and tree the plugin must give a truth entry.
fn expected_layout(e: &AbEntry) -> Value {
    if e.package == SHARED_STORAGE_PACKAGE {
        json!({"package": null, "tree": "shared"})
    } else if e.domain.is_empty() {
        json!({"package": e.package, "tree": "_manifest"})
    } else {
        json!({"package": e.package, "tree": e.domain})
    }
}

/// Every entry the fixture holds, bytes and metadata, in archive order.
fn assert_matches_truth(t: &Transcript, truth: &[AbEntry]) {
    assert_eq!(t.entries.len(), truth.len());
    for (got, want) in t.entries.iter().zip(truth) {
        assert_eq!(String::from_utf8_lossy(&got.name.0), want.path);
        assert_eq!(got.status, "ok", "{}", want.path);
        assert_eq!(got.meta["extra"]["android_backup"], expected_layout(want));
        assert!(got.meta["extra"]["tar_offset"].is_u64(), "{}", want.path);
        assert!(
            got.meta.get("offset").is_none(),
            "tar offsets are not evidence offsets"
        );
        assert_eq!(got.meta["mode"], want.mode);
        assert_eq!(got.meta["uid"], want.uid);
        match &want.kind {
            EntryKind::File(bytes) => {
                assert_eq!(got.meta["kind"], "file");
                assert_eq!(&got.data, bytes, "{}", want.path);
            }
            EntryKind::Dir => assert_eq!(got.meta["kind"], "dir"),
            EntryKind::Symlink(_) => unreachable!("adb backups hold no links"),
        }
    }
}

#[test]
fn every_fixture_decodes_to_the_truth() {
    let truth = ab_entries().unwrap();
    for f in AbFixture::ALL {
        let (status, t) = fixture(f);
        assert_eq!(status, Status::OK, "{f:?}");
        assert!(t.problems().is_empty(), "{f:?}: {:?}", t.problems());
        assert_matches_truth(&t, &truth);

        let opts = f.options();
        let header = facts(&t, "android backup header");
        assert_eq!(header.len(), 1);
        let h = &header[0];
        assert_eq!(h["version"], opts.version);
        assert_eq!(h["compressed"], opts.compressed);
        let data = f.bytes().unwrap();
        let header_len = h["header_bytes"].as_u64().unwrap() as usize;
        assert!(data[..header_len].ends_with(b"\n"));
        match opts.password {
            Some(password) => {
                assert_eq!(h["encryption"], "AES-256");
                assert_eq!(h["pbkdf2_rounds"], 10_000);
                assert_eq!(h["master_key_blob_bytes"], 96);
                assert_eq!(
                    h["user_password_salt"],
                    hex_lower(&exhibit_fixtures::adb::USER_SALT)
                );
                assert_eq!(h["user_key_iv"], hex_lower(&exhibit_fixtures::adb::USER_IV));
                let jsonl = t.to_jsonl();
                assert!(!jsonl.contains(password), "{f:?}: the password leaked");
                let decryption = facts(&t, "android backup decryption");
                let encoding = if opts.version == 1 { "8-bit" } else { "utf-8" };
                assert!(
                    decryption[0]["password_encoding"]
                        .as_str()
                        .unwrap()
                        .starts_with(encoding)
                );
            }
            None => {
                assert_eq!(h["encryption"], "none");
                assert!(h.get("pbkdf2_rounds").is_none());
            }
        }

        let apps = facts(&t, "android backup app");
        let packages: Vec<&str> = apps
            .iter()
            .map(|a| a["package"].as_str().unwrap())
            .collect();
        assert_eq!(
            packages,
            exhibit_fixtures::adb::AB_PACKAGES.map(|p| p.name),
            "{f:?}"
        );
        let notes = &apps[2];
        assert_eq!(notes["path"], "apps/com.example.notes/_manifest");
        assert_eq!(notes["version_code"], 7);
        assert_eq!(notes["platform_sdk"], exhibit_fixtures::adb::AB_SDK);
        assert_eq!(notes["installer"], "com.android.vending");
        assert_eq!(notes["apk_included"], false);
        assert_eq!(notes["signature_count"], 1);
        assert_eq!(notes["signatures"].as_array().unwrap().len(), 1);
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn wrong_password_delivers_nothing() {
    for f in [
        AbFixture::V5CompressedEncrypted,
        AbFixture::V1CompressedEncrypted,
        AbFixture::V3UncompressedEncrypted,
    ] {
        let data = f.bytes().unwrap();
        // Another fixture's password, and the right one in the other encoding.
        for wrong in ["not the password", "grüße-ab2", "pässwörd-ß✗"] {
            let (status, t) = both_ways(f.file_name(), &data, Some(wrong));
            assert_eq!(status, Status::WRONG_PASSWORD, "{f:?}");
            assert!(t.entries.is_empty());
            let problems = t.problems();
            assert_eq!(problems.len(), 1);
            assert_eq!(
                problems[0].message,
                format!("wrong password for {}", f.file_name())
            );
            assert!(!t.to_jsonl().contains(wrong));
            // The header was recorded before the password was asked for.
            assert_eq!(facts(&t, "android backup header").len(), 1);
        }
    }
}

#[test]
fn no_password_is_said_so() {
    let f = AbFixture::V5CompressedEncrypted;
    for password in [None, Some("")] {
        let (status, t) = both_ways("cases/backup.ab", &f.bytes().unwrap(), password);
        assert_eq!(status, Status::NO_PASSWORD);
        assert!(t.entries.is_empty());
        assert_eq!(
            t.problems()[0].message,
            "backup.ab is encrypted and no password was given"
        );
    }
}

/// A password given for an unencrypted backup is not needed and not used.
#[test]
fn password_for_a_plain_backup_is_ignored() {
    let f = AbFixture::V5Compressed;
    let (status, t) = both_ways(f.file_name(), &f.bytes().unwrap(), Some("whatever"));
    assert_eq!(status, Status::OK);
    assert_matches_truth(&t, &ab_entries().unwrap());
}

/// Where the header ends in `data`.
fn header_len(data: &[u8], lines: usize) -> usize {
    data.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(lines - 1)
        .unwrap()
        .0
        + 1
}

/// Cut anywhere: no panic, every delivered entry either complete and equal
/// to the truth or the one entry marked incomplete, and damage named with
/// an evidence offset.
#[test]
fn truncated_backups_keep_what_they_hold() {
    let truth = ab_entries().unwrap();
    for f in AbFixture::ALL {
        let data = f.bytes().unwrap();
        let encrypted = f.password().is_some();
        let head = header_len(&data, if encrypted { 9 } else { 4 });
        let mut cuts = vec![
            5,
            head - 1,
            head,
            head + 1,
            head + 100,
            head + (data.len() - head) / 3,
            data.len() / 2,
            data.len() - 17,
            data.len() - 16,
            data.len() - 3,
            data.len() - 1,
        ];
        if encrypted {
            // Inside the master key blob (the last header line).
            cuts.push(head - 40);
        }
        for cut in cuts {
            let (status, t) = both_ways(f.file_name(), &data[..cut], f.password());
            let label = format!("{f:?} cut at {cut} of {}", data.len());
            let incomplete: Vec<_> = t.entries.iter().filter(|e| e.status != "ok").collect();
            assert!(incomplete.len() <= 1, "{label}");
            for (got, want) in t.entries.iter().zip(&truth) {
                assert_eq!(String::from_utf8_lossy(&got.name.0), want.path, "{label}");
                if let (EntryKind::File(bytes), "ok") = (&want.kind, got.status.as_str()) {
                    assert_eq!(&got.data, bytes, "{label}");
                }
            }
            if cut <= head {
                assert!(t.entries.is_empty(), "{label}");
            }
            // Uncompressed unencrypted: the tar itself is cut, and the tar
            // engine reports it in tar offsets (the run ends OK). Every other
            // cut breaks the payload: corrupt, at an evidence offset.
            if !f.options().compressed && !encrypted && cut >= head {
                assert_eq!(status, Status::OK, "{label}");
                // A cut inside the end-of-archive marker loses nothing.
                let in_marker = cut >= data.len() - 1024;
                assert_eq!(t.problems().is_empty(), in_marker, "{label}");
                continue;
            }
            assert_eq!(status, Status::CORRUPT, "{label}");
            let last = t.problems().last().copied().unwrap().clone();
            assert!(last.offset.is_some(), "{label}: {last:?}");
            assert!(
                last.message.starts_with("corrupt at offset 0x"),
                "{label}: {last:?}"
            );
            if let Some(cut_entry) = incomplete.first() {
                assert_eq!(cut_entry.note, last.message, "{label}");
            }
        }
    }
}

#[test]
fn truncation_messages() {
    let f = AbFixture::V5CompressedEncrypted;
    let data = f.bytes().unwrap();
    let (_, t) = both_ways(f.file_name(), &data[..data.len() - 3], f.password());
    let last = t.problems().last().copied().unwrap().clone();
    let end = data.len() - 3;
    assert_eq!(last.offset, Some(end as u64));
    assert_eq!(
        last.message,
        format!(
            "corrupt at offset {end:#x}: encrypted payload cut short: it ends 13 bytes into an aes block"
        )
    );
    // Everything was delivered: the damage is in the last block.
    assert_matches_truth(&t, &ab_entries().unwrap());

    let f = AbFixture::V5Compressed;
    let data = f.bytes().unwrap();
    let cut = data.len() / 2;
    let (status, t) = both_ways(f.file_name(), &data[..cut], None);
    assert_eq!(status, Status::CORRUPT);
    let last = t.problems().last().copied().unwrap().clone();
    assert_eq!(last.offset, Some(cut as u64));
    assert_eq!(
        last.message,
        format!(
            "corrupt at offset {cut:#x}: compressed payload cut short: the zlib stream ends before its last block"
        )
    );
    let cut_entry = t.entries.iter().find(|e| e.status != "ok").unwrap();
    assert_eq!(cut_entry.status, "corrupt");
    assert_eq!(cut_entry.note, last.message);
}

/// Inside the payload, offsets are tar offsets and say so; they never pose
/// as evidence offsets.
#[test]
fn tar_damage_is_reported_in_tar_offsets() {
    let mut tar = ab_tar_bytes().unwrap();
    tar[0] ^= 0x01; // the first header's checksum no longer matches
    let mut ab = b"ANDROID BACKUP\n5\n0\nnone\n".to_vec();
    ab.extend_from_slice(&tar);
    let (status, t) = both_ways("damaged.ab", &ab, None);
    assert_eq!(status, Status::OK);
    let problems = t.problems();
    assert!(problems.len() >= 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.offset.is_none()));
    assert!(
        problems[0]
            .message
            .starts_with("corrupt: at tar offset 0x0: header checksum mismatch"),
        "{problems:?}"
    );
    assert!(
        problems[1].message.starts_with(
            "skipped 1536 bytes from tar offset 0x0 to the next valid header at tar offset 0x600"
        ),
        "{problems:?}"
    );
    assert_eq!(t.entries.len(), ab_entries().unwrap().len() - 1);
}

#[test]
fn trailing_bytes_are_reported() {
    use std::io::Write;
    let tar = ab_tar_bytes().unwrap();
    // After the zlib stream: evidence bytes left undecoded.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&tar).unwrap();
    let mut ab = b"ANDROID BACKUP\n5\n1\nnone\n".to_vec();
    ab.extend(z.finish().unwrap());
    let zlib_end = ab.len();
    ab.extend_from_slice(b"hidden");
    let (status, t) = both_ways("trailing.ab", &ab, None);
    assert_eq!(status, Status::OK);
    let problems = t.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].offset, Some(zlib_end as u64));
    assert_eq!(
        problems[0].message,
        format!(
            "6 bytes after the end of the compressed payload (offset {zlib_end:#x}) not decoded"
        )
    );

    // After the tar's end marker, inside the stream.
    let mut ab = b"ANDROID BACKUP\n5\n0\nnone\n".to_vec();
    ab.extend_from_slice(&tar);
    ab.extend_from_slice(b"more");
    let (status, t) = both_ways("trailing.ab", &ab, None);
    assert_eq!(status, Status::OK);
    assert_eq!(
        t.problems()[0].message,
        format!(
            "4 bytes of the tar stream after the end-of-archive marker (tar offset {:#x}) not decoded",
            tar.len()
        )
    );
}

#[test]
fn hostile_headers() {
    let cases: [(&[u8], Status, &str); 6] = [
        (
            b"ANDROID BACKUP\n9\n1\nnone\n",
            Status::UNSUPPORTED,
            "unsupported: android backup version 9 (this plugin reads 1 to 5)",
        ),
        (
            b"ANDROID BACKUP\n5\n1\nAES-128\n",
            Status::UNSUPPORTED,
            "unsupported: android backup encryption \"AES-128\"",
        ),
        (
            b"ANDROID BACKUP\nfive\n1\nnone\n",
            Status::CORRUPT,
            "corrupt at offset 0xf: header version \"five\" is not a number",
        ),
        (
            b"ANDROID BACKUP\n5\n1\nAES-256\nzz\n",
            Status::CORRUPT,
            "corrupt at offset 0x1b: user password salt is not hex",
        ),
        (
            b"ANDROID BACKUP\n5\n1\nAES-256\n00\n00\n99999999\n00\n00\n",
            Status::UNSUPPORTED,
            "unsupported: 99999999 pbkdf2 rounds (more than the cap of 2000000)",
        ),
        (
            b"PK\x03\x04 not a backup at all",
            Status::CORRUPT,
            "corrupt at offset 0x0: not an android backup: the file does not start with \"ANDROID BACKUP\\n\"",
        ),
    ];
    for (data, want_status, want_message) in cases {
        let (status, t) = both_ways("hostile.ab", data, Some("pw"));
        assert_eq!(status, want_status, "{want_message}");
        assert!(t.entries.is_empty());
        assert_eq!(t.problems().last().unwrap().message, want_message);
    }
    // A blob that is not whole blocks, and one with a bad IV length.
    let enc =
        b"ANDROID BACKUP\n5\n1\nAES-256\n00\n00\n10\n000102030405060708090a0b0c0d0e0f\n0011\n";
    let (status, t) = both_ways("hostile.ab", enc, Some("pw"));
    assert_eq!(status, Status::CORRUPT);
    assert_eq!(
        t.problems()[0].message,
        "corrupt at offset 0x45: master key blob is 2 bytes, not a whole number of aes blocks"
    );
    let enc = b"ANDROID BACKUP\n5\n1\nAES-256\n00\n00\n10\n0001\n00\n";
    let (status, _) = both_ways("hostile.ab", enc, Some("pw"));
    assert_eq!(status, Status::CORRUPT);
}

/// Whatever the damage: no panic, a bounded run, and both paths agree.
/// (Fewer encrypted copies: each costs two PBKDF2 derivations, slow in an
/// unoptimised test build.)
#[test]
fn mutated_backups() {
    for (f, count) in [
        (AbFixture::V5Compressed, 150),
        (AbFixture::V5Uncompressed, 150),
        (AbFixture::V5CompressedEncrypted, 30),
    ] {
        let base = f.bytes().unwrap();
        for data in mutations(&base, count, 8) {
            let (status, _) = both_ways(f.file_name(), &data, f.password());
            assert_ne!(status, Status::PANICKED);
        }
    }
}

#[test]
fn probe_scores() {
    let probe = |head: &[u8], name: &[u8]| {
        AndroidBackup.probe(&Probe {
            head,
            name,
            size: head.len() as u64,
            is_dir: false,
        })
    };
    assert_eq!(probe(b"ANDROID BACKUP\n5\n1\nnone\n", b"x.bin"), 100);
    assert_eq!(probe(b"ANDROID BACKUP", b"x.bin"), 0);
    assert_eq!(probe(b"whatever", b"phone.AB"), 10);
    assert_eq!(probe(b"whatever", b"phone.tar"), 0);
}

/// Throughput of the plugin alone over a large backup, with a host that
/// reads the evidence from disk and discards what is delivered:
/// `AB_BENCH=/path/ffs.ab [AB_PASSWORD=…] cargo test --release -p
/// exhibit-format-android-backup --test parity -- --ignored throughput --nocapture`.
#[test]
#[ignore]
fn throughput() {
    use exhibit_plugin_sdk::{EvidenceInfo, HostServices, Session};
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct DiskHost {
        file: std::fs::File,
        info: EvidenceInfo,
        password: Option<String>,
        written: AtomicU64,
        entries: AtomicU64,
    }
    impl HostServices for DiskHost {
        fn evidence(&self) -> &EvidenceInfo {
            &self.info
        }
        fn read_at(&self, _: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
            self.file.read_at(buf, offset).map_err(|_| Status::IO)
        }
        fn list_dir(&self, _: &[u8], _: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
            Status::UNSUPPORTED
        }
        fn open(&self, _: &[u8]) -> Result<u64, Status> {
            Err(Status::UNSUPPORTED)
        }
        fn close(&self, _: u64) -> Status {
            Status::OK
        }
        fn begin_file(&self, _: &[u8], _: &[u8]) -> Result<u64, Status> {
            Ok(self.entries.fetch_add(1, Ordering::Relaxed))
        }
        fn write(&self, _: u64, data: &[u8]) -> Status {
            self.written.fetch_add(data.len() as u64, Ordering::Relaxed);
            Status::OK
        }
        fn end_file(&self, _: u64, _: Status, _: &[u8]) -> Status {
            Status::OK
        }
        fn emit_record(&self, _: &[u8], _: &[u8]) -> Status {
            Status::OK
        }
        fn log(&self, level: u32, _: Status, _: u64, msg: &[u8]) {
            if level != exhibit_plugin_sdk::abi::level::FACT {
                eprintln!("{}", String::from_utf8_lossy(msg));
            }
        }
        fn is_cancelled(&self) -> bool {
            false
        }
        fn password(&self) -> Result<Option<String>, Status> {
            Ok(self.password.clone())
        }
    }

    let Ok(path) = std::env::var("AB_BENCH") else {
        eprintln!("set AB_BENCH to a .ab file");
        return;
    };
    let file = std::fs::File::open(&path).unwrap();
    let size = file.metadata().unwrap().len();
    let host = DiskHost {
        file,
        info: EvidenceInfo {
            name: path.clone().into_bytes(),
            size,
            is_dir: false,
            threads: 1,
        },
        password: std::env::var("AB_PASSWORD").ok(),
        written: AtomicU64::new(0),
        entries: AtomicU64::new(0),
    };
    let started = std::time::Instant::now();
    AndroidBackup.run(&Session::new(&host)).unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{path}: {} MiB in, {} entries, {} MiB out in {secs:.2} s: {:.0} MiB/s of evidence",
        size >> 20,
        host.entries.load(Ordering::Relaxed),
        host.written.load(Ordering::Relaxed) >> 20,
        size as f64 / secs / 1048576.0
    );
}
