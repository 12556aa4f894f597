//! The raw-image plugin through the SDK's in-process host: an ext4 made by
//! `mke2fs -d` from a folder (alone, behind an MBR, and as an Android sparse
//! image), a FAT16 volume made with `fatfs`, and the shared corpus images.
#![allow(clippy::unwrap_used)]

use exhibit_fixtures::disk::{Guid, Layout};
use exhibit_format_raw_image::RawImage;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{Transcript, decode};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// (path, bytes) of the regular files of a source folder.
type Files = Vec<(&'static str, Vec<u8>)>;

/// The source folder of the ext4 image: (path, bytes) of its regular files.
fn source_tree(dir: &Path) -> Files {
    let big: Vec<u8> = (0u32..700_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let files = vec![
        ("hello.txt", b"hello, world!\n".to_vec()),
        ("empty", Vec::new()),
        ("data/app/big.bin", big),
        (
            "data/app/db/notes.db",
            b"SQLite format 3\0 not really".to_vec(),
        ),
    ];
    for (path, data) in &files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, data).unwrap();
    }
    std::fs::set_permissions(
        dir.join("hello.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("../hello.txt", dir.join("data/link")).unwrap();
    files
}

/// An 8 MiB ext4 image of `source_tree`, or `None` (with the reason
/// printed) when `mke2fs` is missing.
fn mke2fs_image() -> Option<(Vec<u8>, Files)> {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let files = source_tree(&src);
    let img = tmp.path().join("ext4.img");
    let status = Command::new("mke2fs")
        .args(["-t", "ext4", "-d"])
        .arg(&src)
        .args(["-F", "-q"])
        .arg(&img)
        .arg("8M")
        .status();
    match status {
        Ok(s) if s.success() => Some((std::fs::read(&img).unwrap(), files)),
        other => {
            println!("skipped: mke2fs not usable ({other:?})");
            None
        }
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn assert_tree(t: &Transcript, prefix: &str, files: &[(&str, Vec<u8>)]) {
    for (path, data) in files {
        let name = format!("{prefix}{path}");
        let e = t
            .entry(name.as_bytes())
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(e.status, "ok", "{name}");
        assert_eq!(sha256(&e.data), sha256(data), "{name}");
        assert_eq!(e.meta["size"], data.len() as u64, "{name}");
    }
    let hello = t.entry(format!("{prefix}hello.txt").as_bytes()).unwrap();
    assert_eq!(hello.meta["mode"], 0o100_640);
    assert_eq!(hello.meta["uid"], u64::from(current_uid()));
    let link = t.entry(format!("{prefix}data/link").as_bytes()).unwrap();
    assert_eq!(link.meta["kind"], "symlink");
    assert_eq!(link.meta["link_target"], "../hello.txt");
    assert!(link.data.is_empty());
    let dir = t.entry(format!("{prefix}data/app").as_bytes()).unwrap();
    assert_eq!(dir.meta["kind"], "dir");
}

/// The current uid, read from a file this process creates.
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid()
}

#[test]
fn ext4_whole_image_files_equal_the_source_folder() {
    let Some((img, files)) = mke2fs_image() else {
        return;
    };
    let (status, t) = decode::<RawImage>("ext4.img", img);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    assert_tree(&t, "", &files);
    assert!(t.entry(b"lost+found").is_some());
    let journal = t
        .logs
        .iter()
        .find(|l| l.message.contains("ext4 file system"))
        .unwrap();
    assert!(journal.message.contains("replayed in memory"));
}

/// A one-entry MBR: the volume at LBA 2048.
fn behind_mbr(volume: &[u8], type_code: u8) -> Vec<u8> {
    let mut disk = vec![0u8; 2048 * 512];
    let sectors = u32::try_from(volume.len() / 512).unwrap();
    disk[446 + 4] = type_code;
    disk[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    disk[446 + 12..446 + 16].copy_from_slice(&sectors.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk.extend_from_slice(volume);
    disk
}

#[test]
fn ext4_behind_an_mbr_is_extracted_under_p1() {
    let Some((img, files)) = mke2fs_image() else {
        return;
    };
    let disk = behind_mbr(&img, 0x83);
    let (status, t) = decode::<RawImage>("disk.img", disk);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    assert_tree(&t, "p1/", &files);
    assert!(
        t.logs
            .iter()
            .any(|l| l.message.contains("partition table") && l.message.contains("1048576"))
    );
}

/// An Android sparse image of `raw`: RAW chunks, DONT_CARE for zero blocks.
fn sparse_of(raw: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 4096;
    assert_eq!(raw.len() % BLOCK, 0);
    let blocks: Vec<&[u8]> = raw.chunks(BLOCK).collect();
    let mut chunks: Vec<(bool, Vec<&[u8]>)> = Vec::new();
    for b in blocks {
        let zero = b.iter().all(|&x| x == 0);
        match chunks.last_mut() {
            Some((z, run)) if *z == zero => run.push(b),
            _ => chunks.push((zero, vec![b])),
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&0xED26_FF3Au32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&28u16.to_le_bytes());
    out.extend_from_slice(&12u16.to_le_bytes());
    out.extend_from_slice(&(BLOCK as u32).to_le_bytes());
    out.extend_from_slice(&((raw.len() / BLOCK) as u32).to_le_bytes());
    out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for (zero, run) in chunks {
        let kind: u16 = if zero { 0xCAC3 } else { 0xCAC1 };
        let data_len = if zero { 0 } else { run.len() * BLOCK };
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(run.len() as u32).to_le_bytes());
        out.extend_from_slice(&((12 + data_len) as u32).to_le_bytes());
        if !zero {
            for b in run {
                out.extend_from_slice(b);
            }
        }
    }
    out
}

#[test]
fn sparse_ext4_gives_the_same_entries_as_the_raw_image() {
    let Some((img, files)) = mke2fs_image() else {
        return;
    };
    let (_, raw) = decode::<RawImage>("ext4.img", img.clone());
    let sparse = sparse_of(&img);
    assert!(sparse.len() < img.len());
    let (status, t) = decode::<RawImage>("ext4.sparse.img", sparse);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert_tree(&t, "", &files);
    // The sparse image's expanded bytes go to the host as a region to hash;
    // they are the raw image, byte for byte.
    let (regions, entries): (Vec<_>, Vec<_>) =
        t.entries.iter().partition(|e| e.meta["kind"] == "region");
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0].name.0, b"expanded");
    assert_eq!(regions[0].meta["size"], img.len());
    assert!(
        regions[0].data == img,
        "the expanded region differs from the raw image"
    );
    assert_eq!(entries, raw.entries.iter().collect::<Vec<_>>());
}

/// A 16 MiB FAT16 volume with a long name, a folder and a 100 KB file.
fn fat16_image() -> (Vec<u8>, Vec<u8>) {
    let mut disk = Cursor::new(vec![0u8; 16 * 1024 * 1024]);
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new().fat_type(fatfs::FatType::Fat16),
    )
    .unwrap();
    let big: Vec<u8> = (0u32..100_000).map(|i| (i % 251) as u8).collect();
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).unwrap();
        let root = fs.root_dir();
        root.create_file("A rather long file name.txt")
            .unwrap()
            .write_all(b"long names survive")
            .unwrap();
        let dcim = root.create_dir("DCIM").unwrap();
        dcim.create_file("photo-0001.jpg")
            .unwrap()
            .write_all(&big)
            .unwrap();
    }
    (disk.into_inner(), big)
}

#[test]
fn fat16_long_names_and_content() {
    let (img, big) = fat16_image();
    let (status, t) = decode::<RawImage>("sd.img", img);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    assert_eq!(
        t.entries.len(),
        3,
        "{:?}",
        t.entries.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    let long = t.entry(b"A rather long file name.txt").unwrap();
    assert_eq!(long.data, b"long names survive");
    assert_eq!(long.meta["kind"], "file");
    assert_eq!(long.meta["extra"]["file_system"], "fat");
    assert_eq!(t.entry(b"DCIM").unwrap().meta["kind"], "dir");
    assert_eq!(t.entry(b"DCIM/photo-0001.jpg").unwrap().data, big);
    assert!(t.logs.iter().any(|l| l.message.contains("as if UTC")));
}

#[test]
fn corrupt_ext4_partition_is_reported_and_fat_partition_still_extracted() {
    let Some((mut img, _)) = mke2fs_image() else {
        return;
    };
    // s_log_block_size (superblock + 24) absurd: the ext4 volume is unreadable.
    img[1024 + 24] = 40;
    let (fat, big) = fat16_image();
    let mut disk = vec![0u8; 2048 * 512];
    let ext_sectors = u32::try_from(img.len() / 512).unwrap();
    let fat_start = 2048 + ext_sectors;
    let fat_sectors = u32::try_from(fat.len() / 512).unwrap();
    for (slot, (ty, start, len)) in [
        (0x83u8, 2048u32, ext_sectors),
        (0x06, fat_start, fat_sectors),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 446 + slot * 16;
        disk[at + 4] = ty;
        disk[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        disk[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
    }
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk.extend_from_slice(&img);
    disk.extend_from_slice(&fat);
    let (status, t) = decode::<RawImage>("disk.img", disk);
    assert_eq!(status, Status::OK);
    assert_eq!(t.entry(b"p2/DCIM/photo-0001.jpg").unwrap().data, big);
    let problems = t.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].level, "error");
    assert!(
        problems[0]
            .message
            .contains("partition p1 at offset 0x100000"),
        "{problems:?}"
    );
}

#[test]
fn unknown_partition_is_named_with_its_offset_and_not_extracted() {
    let disk = behind_mbr(&vec![0x5Au8; 64 * 1024], 0x83);
    let (status, t) = decode::<RawImage>("disk.img", disk);
    assert_eq!(status, Status::OK);
    // Nothing is extracted, but the partition and the span before it are
    // handed to the host to hash, by offset and size (no bytes cross).
    let regions: Vec<(String, u64, u64, usize)> = t
        .entries
        .iter()
        .map(|e| {
            assert_eq!(e.meta["kind"], "region", "{:?}", e.name);
            (
                String::from_utf8_lossy(&e.name.0).into_owned(),
                e.meta["offset"].as_u64().unwrap(),
                e.meta["size"].as_u64().unwrap(),
                e.data.len(),
            )
        })
        .collect();
    assert_eq!(
        regions,
        [
            ("p1".to_owned(), 0x10_0000, 64 * 1024, 0),
            ("unallocated@0x0".to_owned(), 0, 0x10_0000, 0),
        ]
    );
    // A partition without a file system is not a problem (boot, misc…):
    // the volume note names it with its offset.
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    let note = t
        .logs
        .iter()
        .find(|l| l.message.contains("\"volume\"") && l.message.contains("none recognised"))
        .expect("a volume note");
    assert!(note.message.contains("1048576"), "{}", note.message);
}

#[test]
fn probe_scores() {
    use exhibit_plugin_sdk::{FormatPlugin, Probe};
    let score = |head: &[u8]| {
        RawImage.probe(&Probe {
            head,
            name: b"x.img",
            size: head.len() as u64,
            is_dir: false,
        })
    };
    assert_eq!(score(&0xED26_FF3Au32.to_le_bytes()), 100);
    let (fat, _) = fat16_image();
    assert_eq!(score(&fat[..65536]), 80);
    assert_eq!(score(&behind_mbr(&[0u8; 512], 0x83)[..512]), 90);
    assert_eq!(score(&[0u8; 4096]), 0);
    if let Some((img, _)) = mke2fs_image() {
        assert_eq!(score(&img[..65536]), 90);
    }
}

/// A GPT disk written by the fixtures crate holding `volumes` as named
/// Linux-data partitions, with the layout it computed while writing.
fn gpt_disk(volumes: &[(&str, &[u8])]) -> (Vec<u8>, Layout) {
    let parts: Vec<(&str, Guid, &[u8])> = volumes
        .iter()
        .map(|&(name, data)| (name, Guid::LINUX_DATA, data))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("gpt.img");
    let layout = exhibit_fixtures::disk::gpt_disk(&parts, &path).unwrap();
    (std::fs::read(&path).unwrap(), layout)
}

#[test]
fn gpt_disk_with_named_ext4_and_fat_partitions() {
    let Some((img, files)) = mke2fs_image() else {
        return;
    };
    let (fat, big) = fat16_image();
    let (disk, layout) = gpt_disk(&[("userdata", &img), ("sdcard fat", &fat)]);
    let (status, t) = decode::<RawImage>("ufs.img", disk);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    assert_tree(&t, "p1-userdata/", &files);
    assert_eq!(
        t.entry(b"p2-sdcard_fat/DCIM/photo-0001.jpg").unwrap().data,
        big
    );
    let note = t
        .logs
        .iter()
        .find(|l| l.message.contains("\"partition table\""))
        .unwrap();
    assert!(note.message.contains("\"userdata\""), "{}", note.message);
    // Both partitions are found where the writer put them.
    assert_eq!(layout.partitions.len(), 2);
    for p in &layout.partitions {
        let start = format!("\"start\":{}", p.offset);
        assert!(note.message.contains(&start), "{start} in {}", note.message);
    }
}

#[test]
fn truncated_ext4_image_extracts_what_it_can_without_panicking() {
    let Some((img, _)) = mke2fs_image() else {
        return;
    };
    for keep in [2048, 64 * 1024, img.len() / 2, img.len() - 4096] {
        let (status, t) = decode::<RawImage>("cut.img", img[..keep].to_vec());
        assert_ne!(status, Status::PANICKED, "cut at {keep}");
        // Whatever was delivered complete is never longer than declared.
        for e in t.entries.iter().filter(|e| e.status == "ok") {
            if let Some(size) = e.meta["size"].as_u64() {
                assert_eq!(e.data.len() as u64, size);
            }
        }
    }
}
