//! What the raw ext4 reader adds to the `ext4-view` walk, checked against
//! `debugfs` and the fixture's truth: inode numbers and ctime, hard links
//! delivered once, the deleted file's record and recovered bytes, the
//! orphan inode; and hostile directory blocks and orphan chains.
#![allow(clippy::unwrap_used)]

mod common;

use exhibit_fixtures::disk::{self, Truth};
use exhibit_fixtures::sha256_hex;
use exhibit_format_raw_image::RawImage;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{Transcript, decode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The userdata image, its truth and the plugin's transcript of it.
struct Userdata {
    _dir: tempfile::TempDir,
    image: PathBuf,
    truth: Truth,
    status: Status,
    t: Transcript,
}

fn userdata() -> Option<&'static Userdata> {
    static U: OnceLock<Option<Userdata>> = OnceLock::new();
    U.get_or_init(|| {
        if !common::e2fsprogs() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("userdata.ext4");
        let truth = disk::ext4_image(
            &disk::userdata_tree().unwrap(),
            &image,
            &disk::Ext4Options::default(),
        )
        .unwrap();
        let (status, t) = decode::<RawImage>("userdata.ext4", std::fs::read(&image).unwrap());
        Some(Userdata {
            _dir: dir,
            image,
            truth,
            status,
            t,
        })
    })
    .as_ref()
}

fn debugfs(image: &Path, request: &str) -> String {
    disk::debugfs_request(image, request).unwrap()
}

fn debugfs_w(image: &Path, script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, script).unwrap();
    let out = Command::new(disk::e2fsprogs_tool("debugfs").unwrap())
        .arg("-w")
        .arg("-f")
        .arg(&file)
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "debugfs -w {script}");
}

/// `Inode: N` of `debugfs stat`.
fn stat_inode(stat: &str) -> u64 {
    stat.strip_prefix("Inode: ")
        .and_then(|t| t.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

/// `ctime: 0xSSSSSSSS:XXXXXXXX` (`:XXXXXXXX` only with large inodes) of
/// `debugfs stat` as (seconds, nanoseconds).
fn stat_ctime(stat: &str) -> (i64, u64) {
    let field = stat
        .split("ctime: 0x")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (secs, extra) = field.split_once(':').unwrap_or((field, "0"));
    let secs = i64::from(u32::from_str_radix(secs, 16).unwrap() as i32);
    let extra = u32::from_str_radix(extra, 16).unwrap();
    (secs + (i64::from(extra & 3) << 32), u64::from(extra >> 2))
}

fn deleted_records(t: &Transcript) -> Vec<&Value> {
    t.records
        .iter()
        .filter(|(kind, _)| kind == "deleted")
        .map(|(_, r)| r)
        .collect()
}

fn first_orphan(image: &Path) -> u64 {
    debugfs(image, "stats")
        .split("First orphan inode:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn inode_numbers_and_ctime_equal_debugfs() {
    let Some(u) = userdata() else { return };
    assert_eq!(u.status, Status::OK, "{:?}", u.t.problems());
    assert!(u.t.problems().is_empty(), "{:?}", u.t.problems());
    let htree_entry = format!("{}/entry-1234", disk::HTREE_DIR);
    for path in [
        exhibit_fixtures::NON_ASCII_PATH,
        exhibit_fixtures::MMSSMS_PATH,
        "data/misc",
        disk::RELATIVE_LINK.0,
        disk::SPARSE_PATH,
        htree_entry.as_str(),
    ] {
        let stat = debugfs(&u.image, &format!("stat \"/{path}\""));
        let e = u.t.entry(path.as_bytes()).unwrap();
        assert_eq!(e.meta["extra"]["inode"], stat_inode(&stat), "{path}");
        let (secs, nanos) = stat_ctime(&stat);
        assert_eq!(e.meta["ctime"]["secs"], secs, "{path}");
        assert_eq!(e.meta["ctime"]["nanos"], nanos, "{path}");
    }
    // ctime carries the nanoseconds the fixture set (123456789 on this file).
    let e =
        u.t.entry(exhibit_fixtures::NON_ASCII_PATH.as_bytes())
            .unwrap();
    assert_eq!(e.meta["ctime"]["nanos"], 123_456_789);
}

#[test]
fn hard_link_is_delivered_once_and_linked() {
    let Some(u) = userdata() else { return };
    let (a, b) = disk::HARD_LINK;
    let ea = u.t.entry(a.as_bytes()).unwrap();
    let eb = u.t.entry(b.as_bytes()).unwrap();
    assert_eq!(ea.meta["extra"]["inode"], eb.meta["extra"]["inode"]);
    assert_eq!(ea.meta["extra"]["links"], 2);
    let (file, link) = if ea.meta["kind"] == "file" {
        (ea, eb)
    } else {
        (eb, ea)
    };
    assert_eq!(file.meta["kind"], "file");
    assert_eq!(link.meta["kind"], "hardlink");
    assert_eq!(
        link.meta["link_target"],
        String::from_utf8(file.name.0.clone()).unwrap()
    );
    assert!(link.data.is_empty());
    let truth = u.truth.get(disk::HARD_LINK.1).unwrap();
    assert_eq!(Some(sha256_hex(&file.data)), truth.sha256);
    let ino = &ea.meta["extra"]["inode"];
    let copies =
        u.t.entries
            .iter()
            .filter(|e| &e.meta["extra"]["inode"] == ino && e.meta["kind"] == "file")
            .count();
    assert_eq!(copies, 1);
}

#[test]
fn deleted_file_is_listed_and_recovered() {
    let Some(u) = userdata() else { return };
    let want = &u.truth.deleted[0];
    assert_eq!(want.path, disk::DELETED_PATH);
    // `debugfs lsdel`: ` Inode  Owner  Mode    Size      Blocks   Time deleted`.
    let lsdel = debugfs(&u.image, "lsdel");
    let row: Vec<&str> = lsdel
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[0].parse::<u64>().is_ok())
        .unwrap();
    let ino: u64 = row[0].parse().unwrap();
    let records = deleted_records(&u.t);
    let rec = records
        .iter()
        .find(|r| r["path"] == want.path)
        .unwrap_or_else(|| panic!("no record for {}: {records:?}", want.path));
    assert_eq!(rec["found_in"], "directory_entry");
    assert_eq!(rec["file_system"], "ext4");
    assert_eq!(rec["inode"], ino);
    assert_eq!(rec["size"], want.size);
    assert_eq!(rec["kind"], "file");
    assert_eq!(rec["mode"], 0o100_600);
    assert_eq!(rec["uid"], 1023);
    assert_eq!(rec["dtime"]["secs"], disk::FAKE_TIME);
    assert!(rec.get("not_recovered").is_none(), "{rec}");
    let rec_name = rec["recovered"]["entry"].as_str().unwrap();
    assert_eq!(rec_name, format!("$deleted/{}", want.path));
    assert_eq!(rec["recovered"]["bytes"], want.size);
    assert!(
        rec["recovered"]["method"]
            .as_str()
            .unwrap()
            .contains("free in the block bitmap")
    );
    let e = u.t.entry(rec_name.as_bytes()).unwrap();
    assert_eq!(e.status, "ok");
    assert_eq!(sha256_hex(&e.data), want.sha256);
    assert_eq!(e.meta["extra"]["deleted"], true);
    assert_eq!(e.meta["extra"]["inode"], ino);
    // The dirent's byte offset points at its name in the image.
    let image = std::fs::read(&u.image).unwrap();
    let at = rec["offset"].as_u64().unwrap() as usize;
    let name = want.path.rsplit('/').next().unwrap();
    assert_eq!(&image[at + 8..at + 8 + name.len()], name.as_bytes());
    // The live tree does not show it.
    assert!(u.t.entry(want.path.as_bytes()).is_none());
}

#[test]
fn orphan_inode_is_recorded_and_its_bytes_delivered() {
    let Some(u) = userdata() else { return };
    let want = &u.truth.deleted[1];
    let ino = first_orphan(&u.image);
    let records = deleted_records(&u.t);
    let path = format!("$orphan/{ino}");
    let rec = records.iter().find(|r| r["path"] == path).unwrap();
    assert_eq!(rec["found_in"], "orphan_inode");
    assert_eq!(rec["inode"], ino);
    assert_eq!(rec["size"], want.size);
    assert!(rec.get("dtime").is_none());
    let name = rec["recovered"]["entry"].as_str().unwrap();
    assert_eq!(name, format!("$deleted/$orphan/{ino}"));
    let e = u.t.entry(name.as_bytes()).unwrap();
    assert_eq!(sha256_hex(&e.data), want.sha256);
    // Its old name is in the slack of Download, pointing at the same, still allocated, inode.
    let by_name = records.iter().find(|r| r["path"] == want.path).unwrap();
    assert_eq!(by_name["inode"], ino);
    assert!(by_name.get("recovered").is_none());
    assert!(
        by_name["not_recovered"]
            .as_str()
            .unwrap()
            .contains("orphan list")
    );
    assert_eq!(deleted_records(&u.t).len(), 3, "{records:?}");
}

/// A small ext4 image with `/dir/a.txt`, or `None` without e2fsprogs.
fn small_image(dir: &Path) -> Option<PathBuf> {
    if !common::e2fsprogs() {
        return None;
    }
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("dir/a.txt"), b"alpha").unwrap();
    std::fs::write(dir.join("o1"), vec![1u8; 3000]).unwrap();
    let img = dir.join("small.img");
    let ok = Command::new(disk::e2fsprogs_tool("mke2fs").unwrap())
        .args(["-t", "ext4", "-b", "4096", "-q", "-F", "-d"])
        .arg(&src)
        .arg(&img)
        .arg("8M")
        .status()
        .unwrap()
        .success();
    assert!(ok);
    Some(img)
}

#[test]
fn rec_len_past_the_block_is_a_warning_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(img) = small_image(tmp.path()) else {
        return;
    };
    let stat = debugfs(&img, "stat /dir");
    let block: usize = stat
        .split("EXTENTS:\n(0):")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    // `..` (the second entry, after `.`'s 12 bytes) claims 0x2000 bytes of a 4 KiB block.
    let at = block * 4096 + 12 + 4;
    assert_eq!(u16::from_le_bytes([bytes[at], bytes[at + 1]]), 12);
    bytes[at..at + 2].copy_from_slice(&0x2000u16.to_le_bytes());
    let (status, t) = decode::<RawImage>("small.img", bytes);
    assert_ne!(status, Status::PANICKED);
    let warn = t
        .problems()
        .into_iter()
        .find(|l| l.message.contains("rec_len 8192"))
        .unwrap_or_else(|| panic!("{:?}", t.problems()));
    assert_eq!(warn.offset, Some((block * 4096 + 12) as u64));
}

#[test]
fn orphan_chain_loop_is_a_warning_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(img) = small_image(tmp.path()) else {
        return;
    };
    let o1 = tmp.path().join("o1");
    debugfs_w(
        &img,
        &format!("write {} x1\nwrite {} x2\n", o1.display(), o1.display()),
    );
    let (i1, i2) = (
        stat_inode(&debugfs(&img, "stat /x1")),
        stat_inode(&debugfs(&img, "stat /x2")),
    );
    debugfs_w(
        &img,
        &format!(
            "sif /x1 links_count 0\nsif /x2 links_count 0\nunlink /x1\nunlink /x2\n\
             sif <{i1}> dtime {i2}\nsif <{i2}> dtime {i1}\nssv last_orphan {i1}\n"
        ),
    );
    let (status, t) = decode::<RawImage>("small.img", std::fs::read(&img).unwrap());
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(
        t.problems()
            .iter()
            .any(|l| l.message.contains(&format!("loops back to inode {i1}"))),
        "{:?}",
        t.problems()
    );
    let orphans: Vec<&Value> = deleted_records(&t)
        .into_iter()
        .filter(|r| r["found_in"] == "orphan_inode")
        .collect();
    assert_eq!(orphans.len(), 2);
    for (rec, ino) in orphans.iter().zip([i1, i2]) {
        assert_eq!(rec["inode"], ino);
        let e = t
            .entry(rec["recovered"]["entry"].as_str().unwrap().as_bytes())
            .unwrap();
        assert_eq!(e.data, vec![1u8; 3000]);
    }
}

/// The corpus ext2 volume (block maps, not extents): every entry's inode
/// number equals what `debugfs ls -l` prints for it.
#[test]
fn ext2_corpus_inode_numbers_equal_debugfs() {
    let (Some(first), Some(second)) = (
        common::corpus("dfvfs/test_data/ext2.splitraw.000"),
        common::corpus("dfvfs/test_data/ext2.splitraw.001"),
    ) else {
        return;
    };
    let segments = [first, second];
    if !common::e2fsprogs() {
        println!("skipped: e2fsprogs absent");
        return;
    }
    let mut bytes = Vec::new();
    for s in &segments {
        bytes.extend(std::fs::read(s).unwrap());
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("ext2.img");
    std::fs::write(&img, &bytes).unwrap();
    let (status, t) = decode::<RawImage>("ext2.img", bytes);
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    let mut checked = 0;
    for dir in ["", "a_directory"] {
        let ls = debugfs(&img, &format!("ls -l \"/{dir}\""));
        for line in ls.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some(name) = f.last().filter(|n| !n.starts_with('.') && f.len() >= 8) else {
                continue;
            };
            let path = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            let e = t
                .entry(path.as_bytes())
                .unwrap_or_else(|| panic!("{path} missing"));
            assert_eq!(
                e.meta["extra"]["inode"],
                f[0].parse::<u64>().unwrap(),
                "{path}"
            );
            let stat = debugfs(&img, &format!("stat \"/{path}\""));
            let (secs, _) = stat_ctime(&stat);
            assert_eq!(e.meta["ctime"]["secs"], secs, "{path}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 6,
        "lost+found, a_directory, passwords.txt, a_link and 2 files"
    );
}

/// `debugfs ls -l` of `dir` as (name, inode), `.` and `..` left out.
fn ls_inodes(img: &Path, dir: &str) -> Vec<(String, u64)> {
    debugfs(img, &format!("ls -l \"/{dir}\""))
        .lines()
        .filter_map(|line| {
            // `ino mode (ft) uid gid size date time name`; the name may hold spaces.
            let mut rest = line.trim_start();
            let mut fields = Vec::new();
            for _ in 0..8 {
                let (f, r) = rest.split_once(char::is_whitespace)?;
                fields.push(f);
                rest = r.trim_start();
            }
            let ino = fields[0].parse().ok()?;
            (rest != "." && rest != "..").then(|| (rest.to_owned(), ino))
        })
        .collect()
}

/// The `ext4-view` project's own test disks (htree directories with 1 KiB
/// blocks, holes, an fscrypt directory; a journal holding the whole tree,
/// not yet written to its home blocks): the inode number of every entry
/// equals `debugfs ls -l` (on a copy that `e2fsck` has recovered, as
/// `debugfs` does not replay a journal), and nothing but the encrypted
/// directory is reported.
#[test]
fn ext4_view_corpus_inode_numbers_equal_debugfs() {
    if !common::e2fsprogs() {
        println!("skipped: e2fsprogs absent");
        return;
    }
    for name in ["test_disk1.bin.zst", "test_disk_4k_block_journal.bin.zst"] {
        let tmp = tempfile::tempdir().unwrap();
        let Some(img) = common::ext4_view_disk(name, tmp.path()) else {
            continue;
        };
        let (status, t) = decode::<RawImage>("disk.bin", std::fs::read(&img).unwrap());
        // The reference: a copy with its journal replayed by e2fsck.
        let recovered = tmp.path().join("recovered.bin");
        std::fs::copy(&img, &recovered).unwrap();
        let mut perm = std::fs::metadata(&recovered).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&recovered, perm).unwrap();
        let code = Command::new(disk::e2fsprogs_tool("e2fsck").unwrap())
            .args(["-f", "-y"])
            .arg(&recovered)
            .output()
            .unwrap()
            .status
            .code();
        assert!(matches!(code, Some(0..=2)), "e2fsck {name}: {code:?}");
        let img = recovered;
        assert_eq!(status, Status::OK, "{name}: {:?}", t.problems());
        for p in t.problems() {
            assert!(p.message.contains("encrypted (fscrypt)"), "{name}: {p:?}");
        }
        let mut dirs = vec![String::new()];
        dirs.extend(
            t.entries
                .iter()
                .filter(|e| e.meta["kind"] == "dir")
                .map(|e| String::from_utf8(e.name.0.clone()).unwrap()),
        );
        let mut checked = 0;
        for dir in &dirs {
            let walked = t.entries.iter().any(|e| {
                let n = String::from_utf8_lossy(&e.name.0).into_owned();
                n.rsplit_once('/').map_or(dir.is_empty(), |(d, _)| d == dir)
            });
            if !walked {
                continue; // empty, or encrypted and not walked
            }
            for (entry, ino) in ls_inodes(&img, dir) {
                let path = if dir.is_empty() {
                    entry
                } else {
                    format!("{dir}/{entry}")
                };
                let e = t
                    .entry(path.as_bytes())
                    .unwrap_or_else(|| panic!("{name}: {path} missing"));
                assert_eq!(e.meta["extra"]["inode"], ino, "{name}: {path}");
                checked += 1;
            }
        }
        let note = |what: &str| -> Value {
            let l = t
                .logs
                .iter()
                .find(|l| l.message.contains(&format!("\"what\":\"{what}\"")))
                .unwrap();
            serde_json::from_str(&l.message).unwrap()
        };
        let (fs_note, note) = (note("ext4 file system"), note("ext4 raw metadata"));
        let without = note["details"]["entries_without_inode"].as_u64().unwrap();
        // Entries of an encrypted directory, named by their ciphertext,
        // which `debugfs ls` of the recovered copy does not list.
        let is_encrypted = |e: &&exhibit_plugin_sdk::testing::Delivered| {
            e.name.0.windows(11).any(|w| w == b"/$encrypted")
        };
        let encrypted = t.entries.iter().filter(is_encrypted).count();
        let with = t
            .entries
            .iter()
            .filter(|e| e.meta["extra"]["inode"].is_u64() && !is_encrypted(e))
            .count();
        assert_eq!(with, checked, "{name}");
        assert_eq!(
            (with + encrypted) as u64 + without,
            t.entries.len() as u64,
            "{name}"
        );
        assert_eq!(without, 0, "{name}");
        if name == "test_disk1.bin.zst" {
            assert!(checked > 10_000, "{name}: only {checked} entries checked");
            // Its hash-tree splits left copies of live entries in slack, not deletions.
            assert!(
                note["details"]["stale_copies_of_live_entries"]
                    .as_u64()
                    .unwrap()
                    > 0
            );
        } else {
            // Without the journal only lost+found would be there.
            assert!(checked > 700, "{name}: only {checked} entries checked");
            assert!(fs_note["details"]["journal_transactions"].as_u64().unwrap() > 0);
        }
        println!(
            "{name}: {checked} inode numbers checked, {without} without, {} deleted records",
            deleted_records(&t).len()
        );
    }
}

/// Bytes flipped in the metadata at the start of a small image (superblock,
/// descriptors, bitmaps, inode table, directories, journal): the raw
/// reader and the walk never panic and always end.
#[test]
fn flipped_metadata_bytes_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(img) = small_image(tmp.path()) else {
        return;
    };
    let base = std::fs::read(&img).unwrap();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut walked = 0;
    for round in 0..48 {
        let mut bytes = base.clone();
        for _ in 0..(1 + rand() % 24) {
            // Past the superblock and descriptors, whose checksums would stop the walk.
            let at = 8192 + (rand() % (504 * 1024)) as usize;
            bytes[at] ^= 1 << (rand() % 8);
        }
        let (status, t) = decode::<RawImage>("small.img", bytes);
        assert_ne!(status, Status::PANICKED, "round {round}");
        walked += usize::from(!t.entries.is_empty());
    }
    // Most rounds still reach the walk (and so the raw reader).
    assert!(walked > 24, "{walked}");
}
