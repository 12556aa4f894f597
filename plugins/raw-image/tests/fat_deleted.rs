//! Deleted FAT entries through the SDK's in-process host: the FAT16 and
//! FAT32 fixtures' deleted files are listed and recovered with the bytes
//! the fixture's truth says they had; the one whose first cluster was
//! reused is listed and not recovered; a deleted folder is listed and the
//! deleted file in its first cluster recovered; hostile volumes (a looping directory
//! chain, a wrong long-name checksum, a first cluster past the volume, a
//! cut image) give warnings and records, never a panic or a hang; the
//! corpus FAT images (whose README lists no deleted entry) give none.
//!
//! Offsets, clusters and names are checked against the image bytes read
//! here by hand (a few BPB fields and the 32-byte entries), never against
//! the plugin's own parser.
#![allow(clippy::unwrap_used, clippy::as_conversions)]

mod common;

use common::corpus;

use exhibit_fixtures::disk::{self, FatKind, Truth};
use exhibit_fixtures::sha256_hex;
use exhibit_format_raw_image::RawImage;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{Transcript, bound_test_binary, decode};
use serde_json::Value;

/// The `deleted` records of a run.
fn deleted(t: &Transcript) -> Vec<&Value> {
    t.records
        .iter()
        .filter(|(kind, _)| kind == "deleted")
        .map(|(_, v)| v)
        .collect()
}

fn record<'a>(t: &'a Transcript, path: &str) -> &'a Value {
    deleted(t)
        .into_iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| {
            panic!(
                "no deleted record for {path}: {:?}",
                deleted(t).iter().map(|r| &r["path"]).collect::<Vec<_>>()
            )
        })
}

/// BPB geometry read by hand: (bytes per cluster, data region offset,
/// first FAT offset, FAT32?).
fn geometry(image: &[u8]) -> (usize, usize, usize, bool) {
    let u16_at = |o: usize| usize::from(u16::from_le_bytes([image[o], image[o + 1]]));
    let u32_at = |o: usize| u32::from_le_bytes(image[o..o + 4].try_into().unwrap()) as usize;
    let bps = u16_at(11);
    let fat32 = u16_at(22) == 0;
    let fat_sectors = if fat32 { u32_at(36) } else { u16_at(22) };
    let root_sectors = (u16_at(17) * 32).div_ceil(bps);
    let data = (u16_at(14) + usize::from(image[16]) * fat_sectors + root_sectors) * bps;
    (bps * usize::from(image[13]), data, u16_at(14) * bps, fat32)
}

/// The first cluster stored in the 32-byte entry at `off` (high word on FAT32 only).
fn entry_cluster(image: &[u8], off: usize, fat32: bool) -> u64 {
    let lo = u64::from(u16::from_le_bytes([image[off + 26], image[off + 27]]));
    let hi = u64::from(u16::from_le_bytes([image[off + 20], image[off + 21]]));
    if fat32 { lo | (hi << 16) } else { lo }
}

/// Offsets of deleted short entries of `size` bytes (a raw scan of the image).
fn deleted_short_entries(image: &[u8], size: u64) -> Vec<usize> {
    (0..image.len() / 32)
        .map(|i| i * 32)
        .filter(|&o| {
            image[o] == 0xE5
                && image[o + 11] & 0x3F != 0x0F
                && u64::from(u32::from_le_bytes(
                    image[o + 28..o + 32].try_into().unwrap(),
                )) == size
        })
        .collect()
}

/// Checks every truth deleted entry and the reused one against a run.
fn check_fixture(kind: FatKind) {
    let (image, truth) = disk::fat_image_bytes(kind).unwrap();
    let (cluster, data, _, fat32) = geometry(&image);
    let (status, t) = decode::<RawImage>("sd.img", image.clone());
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    assert!(
        t.logs
            .iter()
            .any(|l| l.message.contains("as if UTC, for live and deleted"))
    );
    // The live tree is still all there, and nothing deleted is mixed into it.
    for e in &truth.entries {
        let got = t
            .entry(e.path.as_bytes())
            .unwrap_or_else(|| panic!("{} missing", e.path));
        if let Some(sha) = &e.sha256 {
            assert_eq!(&sha256_hex(&got.data), sha, "{}", e.path);
        }
    }
    // The recoverable deleted files of the truth, the reused one and the deleted folder.
    assert_eq!(deleted(&t).len(), truth.deleted.len() + 2, "{kind:?}");
    assert_eq!(truth.deleted.len(), 3);
    for d in &truth.deleted {
        let r = record(&t, &d.path);
        assert_eq!(r["file_system"], "fat");
        assert_eq!(r["found_in"], "directory_entry");
        assert_eq!(r["volume"], "whole image");
        assert_eq!(r["kind"], "file");
        assert_eq!(r["size"], d.size);
        // The offset is the short entry's, found independently by a raw scan.
        let hits = deleted_short_entries(&image, d.size);
        assert_eq!(hits.len(), 1, "{}", d.path);
        let off = hits[0];
        assert_eq!(r["offset"], off as u64, "{}", d.path);
        let first = entry_cluster(&image, off, fat32);
        assert_eq!(r["first_cluster"], first, "{}", d.path);
        // The truth's bytes are at that cluster.
        let at = data + (first as usize - 2) * cluster;
        assert_eq!(
            sha256_hex(&image[at..at + d.size as usize]),
            d.sha256,
            "{}",
            d.path
        );
        // Times: the fixture's fixed clock, 2024-03-01 10:00:00 read as UTC.
        assert_eq!(r["mtime"]["secs"], exhibit_fixtures::MTIME, "{}", d.path);
        assert_eq!(r["btime"]["secs"], exhibit_fixtures::MTIME);
        assert_eq!(r["atime"]["secs"], exhibit_fixtures::MTIME - 10 * 3600);
        // Recovered under $deleted/ with the truth's bytes.
        let name = format!("$deleted/{}", d.path);
        assert_eq!(r["recovered"]["entry"], name.as_str());
        assert_eq!(r["recovered"]["bytes"], d.size);
        assert!(
            r["recovered"]["method"]
                .as_str()
                .unwrap()
                .starts_with("contiguous free clusters from the entry's first cluster"),
            "{r}"
        );
        let e = t.entry(name.as_bytes()).unwrap();
        assert_eq!(e.status, "ok");
        assert_eq!(sha256_hex(&e.data), d.sha256, "{}", d.path);
        assert_eq!(e.meta["extra"]["deleted"], true);
        assert_eq!(e.meta["size"], d.size);
        assert_eq!(e.meta["mtime"]["secs"], exhibit_fixtures::MTIME);
        // The lost first byte is said, with the short name.
        let note = &notes_of(r);
        assert!(note.contains("first byte"), "{note}");
    }
    // The long, non-ASCII name in a subfolder came from its deleted LFN entries.
    assert!(
        truth
            .deleted
            .iter()
            .any(|d| d.path == disk::FAT_DELETED_LONG_PATH)
    );

    // The deleted folder: listed, its first cluster (free, still starting
    // with `.` and `..`) read for the deleted file inside it.
    let r = record(&t, disk::FAT_DELETED_DIR_PATH);
    assert_eq!(r["kind"], "dir");
    assert_eq!(r["size"], 0);
    let dirs: Vec<usize> = (0..image.len() / 32)
        .map(|i| i * 32)
        .filter(|&o| image[o] == 0xE5 && image[o + 11] == 0x10)
        .collect();
    assert_eq!(dirs.len(), 1);
    assert_eq!(r["offset"], dirs[0] as u64);
    let first = entry_cluster(&image, dirs[0], fat32);
    assert_eq!(r["first_cluster"], first);
    // `fatfs` writes a long-name entry before `.`: the first short entry is `.`.
    let at = data + (first as usize - 2) * cluster;
    let dot = image[at..at + cluster]
        .chunks_exact(32)
        .find(|e| e[11] != 0x0F)
        .unwrap();
    assert_eq!(&dot[..11], b".          ");
    assert!(r.get("recovered").is_none());
    let note = &notes_of(r);
    assert!(
        note.contains(&format!("listed from its first cluster {first} only")),
        "{note}"
    );
    let inside = record(&t, disk::FAT_DELETED_IN_DIR_PATH);
    let note = &notes_of(inside);
    assert!(
        note.contains(&format!(
            "found in the first cluster of the deleted directory /{}",
            disk::FAT_DELETED_DIR_PATH
        )),
        "{note}"
    );

    // The reused one: listed, not recovered, naming its first cluster, which
    // now holds README.TXT (its truth bytes are there).
    let size = disk::FAT_REUSED_LEN as u64;
    let r = record(&t, disk::FAT_REUSED_PATH);
    assert_eq!(r["size"], size);
    let hits = deleted_short_entries(&image, size);
    assert_eq!(hits.len(), 1);
    assert_eq!(r["offset"], hits[0] as u64);
    let first = entry_cluster(&image, hits[0], fat32);
    assert_eq!(r["first_cluster"], first);
    let readme = truth.get("README.TXT").unwrap();
    let at = data + (first as usize - 2) * cluster;
    assert_eq!(
        Some(sha256_hex(&image[at..at + readme.size as usize])),
        readme.sha256,
        "README.TXT is in cluster {first}"
    );
    assert!(r.get("recovered").is_none(), "{r}");
    let note = &notes_of(r);
    assert!(
        note.contains(&format!("cluster {first} (of the")) && note.contains("allocated again"),
        "{note}"
    );
    let name = format!("$deleted/{}", disk::FAT_REUSED_PATH);
    assert!(t.entry(name.as_bytes()).is_none());
}

#[test]
fn fat16_deleted_entries_match_the_truth() {
    check_fixture(FatKind::Fat16);
}

#[test]
fn fat32_deleted_entries_match_the_truth() {
    check_fixture(FatKind::Fat32);
}

#[test]
fn deleted_entries_of_a_partition_carry_its_prefix_and_image_offsets() {
    let (fat, truth) = disk::fat_image_bytes(FatKind::Fat16).unwrap();
    // One MBR entry: FAT16 (0x0E) at LBA 2048.
    let mut image = vec![0u8; 2048 * 512];
    image[446 + 4] = 0x0E;
    image[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    image[446 + 12..446 + 16]
        .copy_from_slice(&u32::try_from(fat.len() / 512).unwrap().to_le_bytes());
    image[510] = 0x55;
    image[511] = 0xAA;
    image.extend_from_slice(&fat);
    let (status, t) = decode::<RawImage>("card.img", image.clone());
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    let d = &truth.deleted[0];
    let r = record(&t, &format!("p1/{}", d.path));
    assert_eq!(r["volume"], "partition p1");
    let off = r["offset"].as_u64().unwrap() as usize;
    assert_eq!(
        off,
        2048 * 512 + deleted_short_entries(&fat, d.size)[0],
        "offset in the image"
    );
    assert_eq!(image[off], 0xE5);
    let name = format!("p1/$deleted/{}", d.path);
    assert_eq!(r["recovered"]["entry"], name.as_str());
    assert_eq!(
        sha256_hex(&t.entry(name.as_bytes()).unwrap().data),
        d.sha256
    );
}

/// The FAT16 fixture, its truth and the offset of `Truth.deleted[0]`'s short entry.
fn fat16() -> (Vec<u8>, Truth, usize) {
    let (image, truth) = disk::fat_image_bytes(FatKind::Fat16).unwrap();
    let off = deleted_short_entries(&image, truth.deleted[0].size)[0];
    (image, truth, off)
}

/// Makes the FAT16 entry (first FAT) of the live DCIM/Camera directory
/// (short name CAMERA, attribute 0x10) point back to itself; returns its
/// cluster.
fn loop_camera_dir(image: &mut [u8]) -> usize {
    let (_, _, fat, _) = geometry(image);
    let camera = (0..image.len() / 32)
        .map(|i| i * 32)
        .find(|&o| &image[o..o + 11] == b"CAMERA     " && image[o + 11] & 0x10 != 0)
        .unwrap();
    let c = entry_cluster(image, camera, false) as usize;
    image[fat + 2 * c..fat + 2 * c + 2].copy_from_slice(&(c as u16).to_le_bytes());
    c
}

#[test]
fn looping_directory_chain_is_read_once_and_reported() {
    bound_test_binary(300);
    let (mut image, truth, _) = fat16();
    let (cluster, data, _, _) = geometry(&image);
    let c = loop_camera_dir(&mut image);
    let (status, t) = decode::<RawImage>("loop.img", image);
    assert_ne!(status, Status::PANICKED);
    let warning = t
        .problems()
        .into_iter()
        .find(|l| l.message.contains("loops"))
        .unwrap_or_else(|| panic!("{:?}", t.problems()));
    assert!(
        warning
            .message
            .contains(&format!("cluster {c} leads back to cluster {c}")),
        "{}",
        warning.message
    );
    assert_eq!(warning.offset, Some((data + (c - 2) * cluster) as u64));
    // The directory was still read once: its deleted entries are listed.
    let d = &truth.deleted[0];
    assert_eq!(record(&t, &d.path)["size"], d.size);
    record(&t, disk::FAT_REUSED_PATH);
}

/// A looping directory chain without an end marker: `fatfs` alone would
/// go round it forever.
#[test]
fn looping_directory_without_an_end_marker_ends() {
    bound_test_binary(300);
    let (mut image, _, _) = fat16();
    let (cluster, data, _, _) = geometry(&image);
    let c = loop_camera_dir(&mut image);
    // The free slots after the last entry become deleted ones: no end marker.
    let start = data + (c - 2) * cluster;
    let mut filled = 0;
    for slot in image[start..start + cluster].chunks_exact_mut(32) {
        if slot[0] == 0 {
            slot[0] = 0xE5;
            filled += 1;
        }
    }
    assert!(filled > 0);
    let (status, t) = decode::<RawImage>("loop2.img", image);
    assert_eq!(status, Status::OK);
    let problems = t.problems();
    assert!(
        problems
            .iter()
            .any(|l| l.message.contains("/DCIM/Camera: short name") && l.message.contains("loops")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|l| l
            .message
            .contains(&format!("cluster {c} leads back to cluster {c}"))),
        "{problems:?}"
    );
    // Each live file of the directory delivered once.
    let live = t
        .entries
        .iter()
        .filter(|e| e.name.0.starts_with(b"DCIM/Camera/IMG_20240301_100000"))
        .count();
    assert_eq!(live, 1);
    // The filler slots (zero bytes after the 0xE5) are not entries: not listed.
    let camera_deleted = deleted(&t)
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("DCIM/Camera/"))
        .count();
    assert_eq!(camera_deleted, 2);
}

#[test]
fn long_name_with_a_wrong_checksum_is_not_used() {
    bound_test_binary(300);
    let (mut image, truth, off) = fat16();
    // Every deleted LFN entry right before the short entry gets another checksum.
    let mut lfn = off - 32;
    while image[lfn] == 0xE5 && image[lfn + 11] == 0x0F {
        image[lfn + 13] = image[lfn + 13].wrapping_add(1);
        lfn -= 32;
    }
    let (status, t) = decode::<RawImage>("lfn.img", image.clone());
    assert_eq!(status, Status::OK);
    // The name is `_` + the rest of the 8.3 name (no lowercase flags here).
    let base = String::from_utf8(image[off + 1..off + 8].to_vec()).unwrap();
    let ext = String::from_utf8(image[off + 8..off + 11].to_vec()).unwrap();
    let short = format!("_{}.{}", base.trim_end(), ext.trim_end());
    let path = format!("DCIM/Camera/{short}");
    let r = record(&t, &path);
    let note = &notes_of(r);
    assert!(note.contains("checksum") && note.contains(&short), "{note}");
    // The content does not depend on the name: still recovered.
    let d = &truth.deleted[0];
    let e = t.entry(format!("$deleted/{path}").as_bytes()).unwrap();
    assert_eq!(sha256_hex(&e.data), d.sha256);
    assert!(deleted(&t).iter().all(|r| r["path"] != d.path.as_str()));
}

#[test]
fn first_cluster_past_the_volume_is_listed_not_recovered() {
    bound_test_binary(300);
    let (mut image, truth, off) = fat16();
    image[off + 26..off + 28].copy_from_slice(&0xFFF0u16.to_le_bytes());
    let (status, t) = decode::<RawImage>("far.img", image);
    assert_eq!(status, Status::OK);
    let d = &truth.deleted[0];
    let r = record(&t, &d.path);
    assert_eq!(r["first_cluster"], 0xFFF0);
    assert!(r.get("recovered").is_none());
    let note = &notes_of(r);
    assert!(
        note.contains("first cluster 65520 is beyond the volume's last cluster"),
        "{note}"
    );
    assert!(t.entry(format!("$deleted/{}", d.path).as_bytes()).is_none());
}

#[test]
fn cut_and_damaged_images_do_not_panic() {
    bound_test_binary(300);
    let (image, truth, off) = fat16();
    let (_, data, fat, _) = geometry(&image);
    let mut cases = Vec::new();
    for keep in [512, fat + 512, data, data + 64 * 1024, image.len() / 2] {
        cases.push(image[..keep].to_vec());
    }
    // Every FAT16 entry says "next is cluster 2": every chain loops.
    let mut looped = image.clone();
    for e in looped[fat + 4..data.min(fat + 65536)].chunks_exact_mut(2) {
        e.copy_from_slice(&2u16.to_le_bytes());
    }
    cases.push(looped);
    // A deleted file's entry turned into a deleted directory's: its first
    // cluster holds file bytes, not `.` and `..`.
    let mut dir = image.clone();
    dir[off + 11] = 0x10;
    let (status, t) = decode::<RawImage>("dir.img", dir.clone());
    assert_eq!(status, Status::OK);
    let r = record(&t, &truth.deleted[0].path);
    assert_eq!(r["kind"], "dir");
    let note = &notes_of(r);
    assert!(note.contains("does not start with `.` and `..`"), "{note}");
    cases.push(dir);
    for (i, case) in cases.into_iter().enumerate() {
        let (status, t) = decode::<RawImage>("bad.img", case);
        assert_ne!(status, Status::PANICKED, "case {i}");
        for r in deleted(&t) {
            if r["kind"] == "dir" {
                let note = &notes_of(r);
                assert!(
                    note.contains("contents of this deleted directory: "),
                    "{note}"
                );
            }
        }
    }
}

/// The corpus README lists no deleted entry for its FAT images, and a raw
/// scan of them finds no `0xE5` short entry: the pass lists none and
/// complains of nothing.
#[test]
fn corpus_fat_images_have_no_deleted_entries() {
    bound_test_binary(300);
    for rel in [
        "rust-fatfs/resources/fat12.img",
        "rust-fatfs/resources/fat16.img",
        "lde-testdata/test.vfat",
    ] {
        let Some(path) = corpus(rel) else { continue };
        let image = std::fs::read(path).unwrap();
        let scan = (0..image.len() / 32)
            .filter(|i| image[i * 32] == 0xE5 && image[i * 32 + 11] & 0x3F != 0x0F)
            .count();
        let (status, t) = decode::<RawImage>("corpus.img", image);
        assert_eq!(status, Status::OK, "{rel}: {:?}", t.problems());
        assert!(t.problems().is_empty(), "{rel}: {:?}", t.problems());
        assert_eq!(deleted(&t).len(), scan, "{rel}");
        assert!(
            t.entries
                .iter()
                .all(|e| e.meta["extra"]["deleted"].is_null())
        );
    }
}

/// A deleted record's notes and its reason for not being recovered, as one
/// text.
fn notes_of(record: &serde_json::Value) -> String {
    [&record["notes"], &record["not_recovered"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
