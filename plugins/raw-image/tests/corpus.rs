//! Third-party images from `../shared/corpus` (see its README for the
//! facts asserted here), read through the public API only. Each test skips,
//! saying why, when the corpus is absent.
#![allow(clippy::unwrap_used)]

mod common;

use common::{corpus, ext4_view_disk};

use std::fs::File;

use exhibit_format_raw_image::RawImage;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::decode;

use exhibit_format_raw_image::{
    Error, GptCopy, ReadAt, Scheme, SparseImage, read_partition_table, unallocated,
};

#[test]
fn gpt_rs_disk_has_two_linux_partitions() {
    let Some(path) = corpus("gpt-rs/tests/fixtures/gpt-disk.img") else {
        return;
    };
    let disk = File::open(path).unwrap();
    let table = read_partition_table(&disk).unwrap();
    assert_eq!(table.scheme, Scheme::Gpt);
    assert_eq!(table.sector_size, 512);
    assert_eq!(table.gpt_copy, Some(GptCopy::Primary));
    assert!(table.findings.is_empty(), "{:?}", table.findings);
    assert_eq!(
        table.disk_guid.unwrap().to_string(),
        "1b6a2bfa-e92b-184c-a8a7-ed0610d54821"
    );
    let got: Vec<_> = table
        .partitions
        .iter()
        .map(|p| (p.index, p.first_lba, p.sectors, p.start, p.len, p.type_name))
        .collect();
    assert_eq!(
        got,
        [
            (1, 34, 1, 34 * 512, 512, Some("Linux filesystem")),
            (2, 35, 4, 35 * 512, 4 * 512, Some("Linux filesystem")),
        ]
    );
    assert_eq!(
        table.partitions[0].type_guid.unwrap().to_string(),
        "0fc63daf-8483-4772-8e79-3d69d8477de4"
    );
    // Everything but LBA 34..=38 is table structures or free space.
    assert_eq!(
        unallocated(&table, disk.len()),
        [(0, 34 * 512), (39 * 512, 33 * 512)]
    );
}

#[test]
fn gpt_rs_disk_reads_the_same_through_a_sparse_image() {
    let Some(path) = corpus("gpt-rs/tests/fixtures/gpt-disk.img") else {
        return;
    };
    let raw = std::fs::read(path).unwrap();
    // One RAW chunk of 9 × 4096-byte blocks holding the whole disk.
    let mut sparse = Vec::new();
    for field in [
        0xED26_FF3Au32.to_le_bytes().as_slice(),
        &1u16.to_le_bytes(),
        &0u16.to_le_bytes(),
    ] {
        sparse.extend_from_slice(field);
    }
    sparse.extend_from_slice(&28u16.to_le_bytes());
    sparse.extend_from_slice(&12u16.to_le_bytes());
    for value in [4096u32, 9, 1, 0] {
        sparse.extend_from_slice(&value.to_le_bytes());
    }
    sparse.extend_from_slice(&0xCAC1u16.to_le_bytes());
    sparse.extend_from_slice(&0u16.to_le_bytes());
    sparse.extend_from_slice(&9u32.to_le_bytes());
    sparse.extend_from_slice(&(12u32 + 36864).to_le_bytes());
    sparse.extend_from_slice(&raw);
    let image = SparseImage::open(sparse).unwrap();
    assert_eq!(
        read_partition_table(&image).unwrap(),
        read_partition_table(&raw).unwrap()
    );
}

#[test]
fn fat_volumes_without_a_table_are_not_mine() {
    for rel in [
        "rust-fatfs/resources/fat12.img",
        "rust-fatfs/resources/fat16.img",
    ] {
        let Some(path) = corpus(rel) else {
            continue;
        };
        let volume = File::open(path).unwrap();
        assert!(
            matches!(read_partition_table(&volume), Err(Error::NotMine)),
            "{rel}"
        );
    }
}

#[test]
fn ext4_view_test_disk1_small_file_htree_and_encrypted_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(image) =
        ext4_view_disk("test_disk1.bin.zst", tmp.path()).map(|p| std::fs::read(p).unwrap())
    else {
        return;
    };
    let (status, t) = decode::<RawImage>("test_disk1.bin", image);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert_eq!(t.entry(b"small_file").unwrap().data, b"hello, world!");
    let in_dir = |dir: &[u8]| {
        t.entries
            .iter()
            .filter(|e| {
                e.name
                    .0
                    .strip_prefix(dir)
                    .is_some_and(|rest| !rest.contains(&b'/'))
            })
            .count()
    };
    assert_eq!(in_dir(b"medium_dir/"), 1000);
    assert_eq!(in_dir(b"big_dir/"), 10_000);
    assert_eq!(t.entry(b"big_dir/9999").unwrap().data, b"9999");
    // The fscrypt directory is reported as encrypted, never decrypted.
    assert!(
        t.problems()
            .iter()
            .any(|p| p.message.contains("encrypted_dir") && p.message.contains("fscrypt")),
        "{:?}",
        t.problems()
    );
}

#[test]
fn ext4_view_journal_is_replayed_before_the_walk() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(image) = ext4_view_disk("test_disk_4k_block_journal.bin.zst", tmp.path())
        .map(|p| std::fs::read(p).unwrap())
    else {
        return;
    };
    let (status, t) = decode::<RawImage>("journal.bin", image);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    // The corpus README: `/dir500` exists only once the journal is replayed.
    let dir500 = t.entry(b"dir500").expect("dir500, from the journal");
    assert_eq!(dir500.meta["kind"], "dir");
}

#[test]
fn rust_fatfs_fat16_long_file() {
    let Some(path) = corpus("rust-fatfs/resources/fat16.img") else {
        return;
    };
    let (status, t) = decode::<RawImage>("fat16.img", std::fs::read(path).unwrap());
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    let long = &t.entry(b"long.txt").unwrap().data;
    assert_eq!(long.len(), 14000);
    assert_eq!(long.as_slice(), b"Rust is cool!\n".repeat(1000).as_slice());
    assert_eq!(
        t.entry(b"very-long-dir-name/very-long-file-name.txt")
            .unwrap()
            .data,
        b"Rust is cool!\n"
    );
}
