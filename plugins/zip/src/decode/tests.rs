//! Unit tests of the zip decoder: the fixtures crate's zips, each checked
//! for entry count, problem count and one entry spelled out (plaso style),
//! plus the helpers on hand-made bytes.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::as_conversions,
    clippy::unwrap_used
)]

use super::*;
use exhibit_fixtures::hostile_zip as hz;
use exhibit_plugin_sdk::testing::{Delivered, MemoryHost, Transcript, decode, run_safe};
use serde_json::json;

fn run(data: Vec<u8>) -> (Status, Transcript) {
    decode::<Zip>("evidence.zip", data)
}

fn entry<'t>(t: &'t Transcript, name: &str) -> &'t Delivered {
    t.entry(name.as_bytes())
        .unwrap_or_else(|| panic!("{name} not delivered:\n{}", t.to_jsonl()))
}

fn messages(t: &Transcript) -> Vec<String> {
    t.problems().iter().map(|l| l.message.clone()).collect()
}

#[test]
fn probe_scores() {
    let probe = |head: &[u8], name: &str| {
        Zip.probe(&Probe {
            head,
            name: name.as_bytes(),
            size: 100,
            is_dir: false,
        })
    };
    assert_eq!(probe(b"PK\x03\x04rest", "x.bin"), 90);
    assert_eq!(probe(b"PK\x05\x06", "x.bin"), 80);
    assert_eq!(probe(b"garbage", "dump.ZIP"), 10);
    assert_eq!(probe(b"garbage", "dump.tar"), 0);
}

#[test]
fn android_ffs_zip_delivers_the_tree() {
    let tree = exhibit_fixtures::android_tree().unwrap();
    let (status, t) = run(exhibit_fixtures::zip_bytes().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), tree.len());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    for e in &tree {
        let kind = t
            .entries
            .iter()
            .find(|d| {
                d.name.0 == e.path.as_bytes() || d.name.0 == format!("{}/", e.path).as_bytes()
            })
            .unwrap_or_else(|| panic!("{} missing", e.path));
        match &e.kind {
            exhibit_fixtures::EntryKind::File(data) => {
                assert_eq!(&kind.data, data, "{}", e.path);
                assert_eq!(kind.status, "ok");
            }
            exhibit_fixtures::EntryKind::Dir => assert_eq!(kind.meta["kind"], "dir"),
            exhibit_fixtures::EntryKind::Symlink(target) => {
                assert_eq!(kind.meta["kind"], "symlink");
                assert_eq!(kind.meta["link_target"], target.as_str());
                assert!(kind.data.is_empty());
            }
        }
    }
    // One record spelled out.
    let sms = entry(&t, exhibit_fixtures::MMSSMS_PATH);
    assert_eq!(sms.meta["kind"], "file");
    assert_eq!(sms.meta["mode"], 0o100_660);
    assert_eq!(
        sms.meta["mtime"],
        json!({"secs": 1_709_287_200, "nanos": 0})
    );
    assert_eq!(
        sms.meta["atime"],
        json!({"secs": 1_709_287_200, "nanos": 0})
    );
    assert_eq!(sms.meta["extra"]["method"], "deflate");
    assert_eq!(sms.meta["extra"]["made_by"], "unix");
    assert_eq!(sms.meta["extra"]["encrypted"], false);
    assert!(sms.meta["extra"].get("dos_time").is_none(), "UT wins");
    let jpeg = entry(&t, exhibit_fixtures::JPEG_PATH);
    assert_eq!(jpeg.meta["extra"]["method"], "stored");
    let resume = entry(&t, exhibit_fixtures::NON_ASCII_PATH);
    assert_eq!(
        resume.meta["mtime"]["nanos"],
        exhibit_fixtures::NON_ASCII_NTFS_NANOS
    );
    assert_eq!(resume.meta["extra"]["utf8"], true);
}

#[test]
fn parallel_delivery_gives_the_same_entries() {
    let zip = exhibit_fixtures::zip_bytes().unwrap();
    let host = MemoryHost::file("evidence.zip", zip.clone()).with_threads(3);
    assert_eq!(run_safe::<Zip>(&host), Status::OK);
    let mut parallel = host.take_transcript().entries;
    let (_, serial) = run(zip);
    let mut serial = serial.entries;
    let key = |d: &Delivered| d.name.0.clone();
    parallel.sort_by_key(key);
    serial.sort_by_key(key);
    assert_eq!(parallel, serial);
}

#[test]
fn crc_mismatch_keeps_bytes_and_names_both_crcs() {
    let (status, t) = run(hz::crc_mismatch().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 3);
    assert_eq!(entry(&t, "good-1.txt").data, hz::CRC_GOOD_CONTENT);
    assert_eq!(entry(&t, "good-2.txt").status, "ok");
    let bad = entry(&t, hz::CRC_BAD_NAME);
    assert_eq!(bad.status, "corrupt");
    assert_eq!(bad.data.len(), hz::CRC_BAD_ORIGINAL.len());
    assert_eq!(bad.meta["offset"], hz::CRC_BAD_HEADER);
    let stored = crc32fast::hash(hz::CRC_BAD_ORIGINAL);
    let computed = crc32fast::hash(&bad.data);
    assert_eq!(
        bad.note,
        format!("crc mismatch: stored {stored:08x}, computed {computed:08x}")
    );
    let problems = t.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].offset, Some(hz::CRC_BAD_HEADER));
    assert!(
        problems[0]
            .message
            .contains("\"bad-crc.txt\" at offset 0x42")
    );
}

#[test]
fn truncated_zip_is_recovered_from_local_headers() {
    let (status, t) = run(hz::truncated().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 2, "c.txt must not be invented");
    assert_eq!(entry(&t, "a.txt").status, "ok");
    assert_eq!(entry(&t, "a.txt").data.len(), hz::TRUNCATED_SIZES[0]);
    let b = entry(&t, "b.txt");
    assert_eq!(b.status, "corrupt");
    assert_eq!(b.data.len(), 1000);
    assert_eq!(b.meta["offset"], hz::TRUNCATED_B_HEADER);
    assert_eq!(b.meta["extra"]["recovered"], true);
    let problems = t.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].offset, Some(hz::TRUNCATED_LEN));
    assert!(
        problems[0]
            .message
            .contains("no end of central directory record found before offset 0x816")
    );
    assert_eq!(problems[1].offset, Some(hz::TRUNCATED_B_HEADER));
    assert!(problems[1].message.contains("1000 of 2000"));
}

#[test]
fn name_mismatch_is_a_warning_and_the_central_name_wins() {
    let (status, t) = run(hz::name_mismatch().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 2);
    let report = entry(&t, "report.txt");
    assert_eq!(report.data, hz::MISMATCH_CONTENT);
    assert_eq!(report.status, "ok");
    let problems = t.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].level, "warn");
    assert_eq!(problems[0].offset, Some(0));
    assert!(
        problems[0].message.contains("\"rep0rt.txt\""),
        "{problems:?}"
    );
}

#[test]
fn overlap_bomb_extracts_the_first_and_reports_the_others() {
    let (status, t) = run(hz::overlap_bomb().unwrap());
    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    let kernel = entry(&t, hz::BOMB_NAMES[0]);
    assert_eq!(kernel.data.len(), hz::BOMB_KERNEL_LEN);
    let problems = messages(&t);
    assert_eq!(problems.len(), 3, "{problems:?}");
    for (copy, message) in hz::BOMB_NAMES[1..].iter().zip(&problems) {
        assert!(message.contains(copy), "{message}");
        assert!(
            message.contains("overlaps entry \"kernel.bin\""),
            "{message}"
        );
    }
}

#[test]
fn expansion_stops_at_the_declared_size() {
    let (status, t) = run(hz::expands().unwrap());
    assert_eq!(status, Status::OK);
    let grow = entry(&t, "grow.bin");
    assert_eq!(grow.data.len(), hz::EXPANDS_DECLARED as usize);
    assert_eq!(grow.status, "corrupt");
    assert_eq!(entry(&t, "ok.txt").status, "ok");
    let problems = messages(&t);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("more than its declared 1000 bytes"));
}

#[test]
fn cp437_name_is_decoded_and_raw_bytes_kept() {
    let (status, t) = run(hz::cp437_name().unwrap());
    assert_eq!(status, Status::OK);
    let e = entry(&t, hz::CP437_NAME);
    assert_eq!(e.data, hz::CP437_CONTENT);
    assert_eq!(e.meta["extra"]["raw_name_hex"], to_hex(hz::CP437_RAW_NAME));
    assert!(t.problems().is_empty());
    assert_eq!(decode_name(hz::CP437_RAW_NAME), hz::CP437_NAME.as_bytes());
}

#[test]
fn zip64_and_data_descriptors_are_clean() {
    for (data, name, content) in [
        (hz::zip64().unwrap(), "small-zip64.txt", hz::ZIP64_CONTENT),
        (
            hz::data_descriptor().unwrap(),
            "streamed.txt",
            hz::STREAMED_CONTENT,
        ),
    ] {
        let (status, t) = run(data);
        assert_eq!(status, Status::OK);
        assert_eq!(t.entries.len(), 2);
        assert!(t.problems().is_empty(), "{name}: {:?}", t.problems());
        assert_eq!(entry(&t, name).data, content);
    }
}

#[test]
fn traversal_names_pass_unchanged() {
    let (status, t) = run(hz::traversal().unwrap());
    assert_eq!(status, Status::OK);
    for name in exhibit_fixtures::hostile::TRAVERSAL_NAMES {
        assert_eq!(entry(&t, name).status, "ok");
    }
    assert!(t.problems().is_empty());
}

#[test]
fn not_a_zip_is_an_error_with_an_offset() {
    let (status, t) = run(vec![0x42; 100]);
    assert_eq!(status, Status::CORRUPT);
    assert_eq!(t.logs.len(), 1);
    assert_eq!(t.logs[0].offset, Some(100));
    assert!(t.logs[0].message.contains("no local header at offset 0"));
}

/// A zip whose first entry is encrypted (flag bit 0) is recorded and
/// reported unsupported; the next entry is still extracted.
#[test]
fn encrypted_entry_is_recorded_unsupported() {
    let mut zip = hz::name_mismatch().unwrap();
    // Set the encryption flag in the first local and central headers.
    zip[6] |= 1;
    let central = zip.windows(4).position(|w| w == CENTRAL_SIG).unwrap();
    zip[central + C_FLAGS] |= 1;
    let (status, t) = run(zip);
    assert_eq!(status, Status::OK);
    let e = entry(&t, "report.txt");
    assert_eq!(e.status, "unsupported");
    assert!(e.data.is_empty());
    assert_eq!(e.meta["extra"]["encrypted"], true);
    assert_eq!(entry(&t, "ok.txt").status, "ok");
    assert!(
        messages(&t)
            .iter()
            .any(|m| m.contains("encrypted entry (no password support)"))
    );
}

#[test]
fn times_and_fields() {
    assert_eq!(
        dos_time(0x5861, 0x5000),
        Some(Time::from_secs(1_709_287_200))
    );
    assert_eq!(dos_time(0, 0), None, "month 0");
    assert_eq!(
        filetime((1_709_287_200 + 11_644_473_600) * 10_000_000 + 1_234_567),
        Some(Time {
            secs: 1_709_287_200,
            nanos: 123_456_700
        })
    );
    let mut extra = vec![0x55, 0x54, 9, 0, 3];
    extra.extend_from_slice(&100i32.to_le_bytes());
    extra.extend_from_slice(&200i32.to_le_bytes());
    let mut meta = EntryMeta::file(0);
    apply_times(&mut meta, &extra);
    assert_eq!(meta.mtime, Some(Time::from_secs(100)));
    assert_eq!(meta.atime, Some(Time::from_secs(200)));
    assert_eq!(extra_field(&extra, EXTRA_NTFS), None);
    assert_eq!(
        extra_field(&[0x55, 0x54, 0xff, 0xff], EXTRA_TIMESTAMP),
        None
    );
}

/// Two central entries with one name: the `zip` crate's index keeps only
/// the last, so the first is found by walking the directory and delivered
/// from its local header; both contents survive, with a warning.
#[test]
fn duplicate_names_are_both_delivered() {
    let mut zip = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("dup-a.txt", o).unwrap();
        std::io::Write::write_all(&mut w, b"first\n").unwrap();
        w.start_file("dup-b.txt", o).unwrap();
        std::io::Write::write_all(&mut w, b"second\n").unwrap();
        w.finish().unwrap().into_inner()
    };
    let spots: Vec<usize> = zip
        .windows(9)
        .enumerate()
        .filter(|(_, w)| *w == b"dup-b.txt")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(spots.len(), 2);
    for p in spots {
        zip[p + 4] = b'a';
    }
    let (status, t) = run(zip);
    assert_eq!(status, Status::OK);
    let mut got: Vec<&[u8]> = t
        .entries
        .iter()
        .filter(|e| e.name.0 == b"dup-a.txt")
        .map(|e| e.data.as_slice())
        .collect();
    got.sort();
    assert_eq!(got, vec![&b"first\n"[..], &b"second\n"[..]]);
    assert!(t.entries.iter().all(|e| e.status == "ok"));
    let problems = messages(&t);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("more than once"));
}
