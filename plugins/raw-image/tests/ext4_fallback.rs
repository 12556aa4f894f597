//! The raw reader's walk of volumes `ext4-view` 1.0 refuses (Android 11+
//! `userdata` has `casefold`; `inline_data`, `meta_bg`), checked against the
//! source folder the image was made from (`mke2fs -d`), against `debugfs
//! stat`, and against the `ext4-view` walk of the same folder in an image
//! without those features; the fscrypt directory of the `ext4-view`
//! project's test disk; and hostile (truncated, flipped) images.
#![allow(clippy::unwrap_used)]

mod common;

use exhibit_fixtures::disk;
use exhibit_fixtures::sha256_hex;
use exhibit_format_raw_image::RawImage;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{Delivered, Transcript, decode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn tool(name: &str) -> PathBuf {
    disk::e2fsprogs_tool(name).unwrap()
}

/// A deterministic byte stream.
fn pseudo(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

const LONG_TARGET: &str =
    "../nested/level-one/level-two/level-three/a-target-name-long-enough-to-need-a-block.txt";
/// A file deleted with `debugfs rm` after the build: in the hash-tree
/// directory, whose (fixed) hash seed keeps it off the start of a block,
/// where its inode number would be cleared.
const GONE: &str = "many/gone.bin";

/// The source folder: small (inline) files, large and sparse files, short
/// and long symbolic links, a hard link, nested directories and one of
/// more than 500 entries.
fn source(root: &Path) {
    let mk = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    mk("small/a.txt", b"alpha\n");
    mk("small/fifty-nine.txt", &pseudo(59, 1));
    mk("small/hundred.bin", &pseudo(100, 2));
    mk("small/empty", b"");
    mk(
        "small/n\u{e4}me \u{fc}n\u{ef}code.txt",
        "grüße\n".as_bytes(),
    );
    mk("big/large.bin", &pseudo(3 * 1024 * 1024 + 123, 3));
    mk(GONE, &pseudo(20_000, 4));
    // Sparse: data, a 5 MiB hole, data.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(root.join("big/sparse.bin")).unwrap();
        f.write_all(&pseudo(5000, 5)).unwrap();
        f.seek(SeekFrom::Start(5 * 1024 * 1024 + 17)).unwrap();
        f.write_all(&pseudo(3000, 6)).unwrap();
    }
    mk(
        "nested/level-one/level-two/level-three/a-target-name-long-enough-to-need-a-block.txt",
        b"deep\n",
    );
    mk("nested/level-one/sibling.txt", &pseudo(4096, 7));
    std::fs::create_dir_all(root.join("links")).unwrap();
    symlink("../small/a.txt", root.join("links/short")).unwrap();
    symlink(LONG_TARGET, root.join("links/long")).unwrap();
    std::fs::hard_link(root.join("small/a.txt"), root.join("links/hard")).unwrap();
    for i in 0..600 {
        mk(
            &format!("many/entry-{i:04}"),
            format!("entry {i}\n").as_bytes(),
        );
    }
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
}

/// `mke2fs -t ext4 [-O features] -d src`, then `e2fsck -fyD` (hash-tree
/// directories), then `debugfs rm` of [`GONE`]. `None` when mke2fs lacks
/// the features.
fn image(src: &Path, img: &Path, features: Option<&str>, geometry: &[&str]) -> Option<()> {
    let mut cmd = Command::new(tool("mke2fs"));
    cmd.args(["-q", "-F", "-t", "ext4", "-I", "256"]);
    cmd.args(if geometry.is_empty() {
        &["-b", "4096"][..]
    } else {
        geometry
    });
    cmd.args(["-U", "6f1c3b52-9d0e-4a7b-8c21-5e4f3a2b1c0d"]);
    cmd.args(["-E", "hash_seed=2b7e1516-28ae-42d2-a6ab-f7158809cf4f"]);
    if let Some(f) = features {
        cmd.args(["-O", f]);
    }
    let out = cmd.arg("-d").arg(src).arg(img).arg("48M").output().unwrap();
    if !out.status.success() {
        println!(
            "skipped: mke2fs -O {features:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    if features.is_some_and(|f| f.contains("casefold")) {
        // many/ case-folded (as Android's media folders are), extents,
        // hash tree: e2fsck -D rebuilds it with the case-folded hash.
        let out = Command::new(tool("debugfs"))
            .arg("-w")
            .arg("-R")
            .arg("sif /many flags 0x40081000")
            .arg(img)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let code = Command::new(tool("e2fsck"))
        .args(["-f", "-y", "-D"])
        .arg(img)
        .output()
        .unwrap()
        .status
        .code();
    assert!(matches!(code, Some(0..=1)), "e2fsck -fyD: {code:?}");
    let out = Command::new(tool("debugfs"))
        .arg("-w")
        .arg("-R")
        .arg(format!("rm /{GONE}"))
        .arg(img)
        .output()
        .unwrap();
    assert!(out.status.success());
    Some(())
}

struct Images {
    _dir: tempfile::TempDir,
    src: PathBuf,
    casefold: PathBuf,
    plain: PathBuf,
    cf: (Status, Transcript),
    pl: (Status, Transcript),
}

fn images() -> Option<&'static Images> {
    static I: OnceLock<Option<Images>> = OnceLock::new();
    I.get_or_init(|| {
        if !common::e2fsprogs() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        source(&src);
        let casefold = dir.path().join("casefold.img");
        let plain = dir.path().join("plain.img");
        image(&src, &casefold, Some("casefold,inline_data"), &[])?;
        image(&src, &plain, None, &[])?;
        let timed = |name: &str, path: &Path| {
            let began = Instant::now();
            let out = decode::<RawImage>(name, std::fs::read(path).unwrap());
            println!(
                "{name}: {} entries in {:?}",
                out.1.entries.len(),
                began.elapsed()
            );
            out
        };
        let cf = timed("casefold.img (raw reader)", &casefold);
        let pl = timed("plain.img (ext4-view)", &plain);
        Some(Images {
            _dir: dir,
            src,
            casefold,
            plain,
            cf,
            pl,
        })
    })
    .as_ref()
}

fn debugfs(image: &Path, request: &str) -> String {
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(request)
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "debugfs -R {request}");
    String::from_utf8(out.stdout).unwrap()
}

/// The whitespace-separated token after `key` in `debugfs stat` output.
fn field<'a>(stat: &'a str, key: &str) -> &'a str {
    stat.split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("{key} in {stat}"))
        .split_whitespace()
        .next()
        .unwrap()
}

/// A `debugfs stat` time (`0xSSSSSSSS:XXXXXXXX`) as (seconds, nanoseconds).
fn stat_time(stat: &str, key: &str) -> (i64, u64) {
    let f = field(stat, key).trim_start_matches("0x");
    let (secs, extra) = f.split_once(':').unwrap_or((f, "0"));
    let secs = i64::from(u32::from_str_radix(secs, 16).unwrap() as i32);
    let extra = u32::from_str_radix(extra, 16).unwrap();
    (secs + (i64::from(extra & 3) << 32), u64::from(extra >> 2))
}

fn note(t: &Transcript, what: &str) -> Value {
    let l = t
        .logs
        .iter()
        .find(|l| l.message.contains(&format!("\"what\":\"{what}\"")))
        .unwrap_or_else(|| panic!("no {what} note"));
    serde_json::from_str::<Value>(&l.message).unwrap()["details"].clone()
}

/// Every file, link and directory of the source: relative path, full path.
fn walk_source(root: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
    for e in std::fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().unwrap();
        out.push((rel.clone(), e.path()));
        if ft.is_dir() {
            walk_source(root, &rel, out);
        }
    }
}

/// The data delivered for `e`, through its hard-link target.
fn data_of<'a>(t: &'a Transcript, e: &'a Delivered) -> &'a [u8] {
    if e.meta["kind"] == "hardlink" {
        let target = e.meta["link_target"].as_str().unwrap();
        &t.entry(target.as_bytes()).unwrap().data
    } else {
        &e.data
    }
}

#[test]
fn casefold_inline_volume_is_read_by_the_fallback_with_source_digests() {
    let Some(i) = images() else { return };
    let (status, t) = &i.cf;
    assert_eq!(*status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    let fs = note(t, "ext4 file system");
    assert_eq!(fs["fallback"], true);
    let reader = fs["reader"].as_str().unwrap();
    assert!(reader.contains("raw reader"), "{reader}");
    assert!(reader.contains("casefold"), "{reader}");
    assert!(reader.contains("inline_data"), "{reader}");
    let refused: Vec<&str> = fs["refused_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(refused, ["inline_data", "casefold"]);
    // The label and UUID equal dumpe2fs's.
    let stats = debugfs(&i.casefold, "stats");
    assert_eq!(fs["uuid"], field(&stats, "Filesystem UUID:"));
    let mut files = Vec::new();
    walk_source(&i.src, "", &mut files);
    let mut checked = 0;
    for (rel, path) in &files {
        if rel == GONE {
            assert!(t.entry(rel.as_bytes()).is_none());
            continue;
        }
        let e = t
            .entry(rel.as_bytes())
            .unwrap_or_else(|| panic!("{rel} missing"));
        let md = std::fs::symlink_metadata(path).unwrap();
        if md.file_type().is_symlink() {
            assert_eq!(e.meta["kind"], "symlink", "{rel}");
            let target = std::fs::read_link(path).unwrap();
            assert_eq!(e.meta["link_target"], target.to_str().unwrap(), "{rel}");
        } else if md.is_dir() {
            assert_eq!(e.meta["kind"], "dir", "{rel}");
        } else {
            let data = data_of(t, e);
            assert_eq!(
                sha256_hex(data),
                sha256_hex(&std::fs::read(path).unwrap()),
                "{rel}"
            );
            assert_eq!(e.meta["size"], md.len(), "{rel}");
        }
        checked += 1;
    }
    assert_eq!(checked, files.len() - 1);
    // Nothing else but lost+found and the recovered deleted file.
    assert_eq!(
        t.entries.len(),
        files.len() - 1 + 1 + 1,
        "+ lost+found + recovered"
    );
    // The small files really are inline and the big directory a hash tree.
    let stat = debugfs(&i.casefold, "stat /small/hundred.bin");
    assert!(stat.contains("Size of inline data: 100"), "{stat}");
    let flags = u32::from_str_radix(
        field(&debugfs(&i.casefold, "stat /many"), "Flags:").trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert_eq!(
        flags & 0x4000_1000,
        0x4000_1000,
        "many/ is a case-folded hash tree"
    );
}

#[test]
fn fallback_metadata_equals_debugfs_stat() {
    let Some(i) = images() else { return };
    let t = &i.cf.1;
    for path in [
        "small/a.txt",
        "small/hundred.bin",
        "big/large.bin",
        "big/sparse.bin",
        "links/long",
        "links/short",
        "many",
        "many/entry-0577",
        "nested/level-one",
    ] {
        let stat = debugfs(&i.casefold, &format!("stat \"/{path}\""));
        let e = t.entry(path.as_bytes()).unwrap();
        let m = &e.meta;
        assert_eq!(
            m["extra"]["inode"],
            field(&stat, "Inode:").parse::<u64>().unwrap(),
            "{path}"
        );
        assert_eq!(
            m["extra"]["links"],
            field(&stat, "Links:").parse::<u64>().unwrap(),
            "{path}"
        );
        assert_eq!(
            m["uid"],
            field(&stat, "User:").parse::<u64>().unwrap(),
            "{path}"
        );
        assert_eq!(
            m["gid"],
            field(&stat, "Group:").parse::<u64>().unwrap(),
            "{path}"
        );
        let perm = u32::from_str_radix(field(&stat, "Mode:"), 8).unwrap();
        assert_eq!(
            m["mode"].as_u64().unwrap() & 0o7777,
            u64::from(perm),
            "{path}"
        );
        if m["kind"] == "file" {
            assert_eq!(
                m["size"],
                field(&stat, "Size:").parse::<u64>().unwrap(),
                "{path}"
            );
        }
        for (key, name) in [
            ("ctime:", "ctime"),
            ("atime:", "atime"),
            ("mtime:", "mtime"),
            ("crtime:", "btime"),
        ] {
            // ` ctime:` is also the tail of `crtime:`: take the line-initial one.
            let line_key = format!(
                "\n{}",
                if key == "crtime:" {
                    key.to_string()
                } else {
                    format!(" {key}")
                }
            );
            let (secs, nanos) = stat_time(&stat, &line_key);
            assert_eq!(m[name]["secs"], secs, "{path} {name}");
            assert_eq!(m[name]["nanos"], nanos, "{path} {name}");
        }
    }
}

/// Kind, digest of the data, link target, mode, uid, gid, mtime.
type Summary = (String, String, Value, Value, Value, Value, Value);

/// Name → (kind, digest of the data, link target, mode, uid, gid, mtime),
/// hard links resolved to their target's data and kind `file` (which name
/// of a linked inode comes first depends on directory order).
fn summary(t: &Transcript) -> BTreeMap<String, Summary> {
    t.entries
        .iter()
        .map(|e| {
            let name = String::from_utf8(e.name.0.clone()).unwrap();
            let kind = match e.meta["kind"].as_str().unwrap() {
                "hardlink" => "file".to_string(),
                k => k.to_string(),
            };
            let link = if kind == "symlink" {
                e.meta["link_target"].clone()
            } else {
                Value::Null
            };
            (
                name,
                (
                    kind,
                    sha256_hex(data_of(t, e)),
                    link,
                    e.meta["mode"].clone(),
                    e.meta["uid"].clone(),
                    e.meta["gid"].clone(),
                    e.meta["mtime"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn fallback_and_ext4_view_deliver_the_same_tree() {
    let Some(i) = images() else { return };
    let (status, pl) = &i.pl;
    assert_eq!(*status, Status::OK, "{:?}", pl.problems());
    assert_eq!(note(pl, "ext4 file system")["fallback"], false);
    let (a, b) = (summary(&i.cf.1), summary(pl));
    let names = |m: &BTreeMap<String, _>| m.keys().cloned().collect::<BTreeSet<String>>();
    assert_eq!(names(&a), names(&b));
    for (name, va) in &a {
        // lost+found is made by mke2fs, not copied from the source.
        if name == "lost+found" {
            continue;
        }
        assert_eq!(Some(va), b.get(name), "{name}");
    }
    // Both deliver one file and one hard link for the linked pair.
    for t in [&i.cf.1, pl] {
        let kinds: BTreeSet<&str> = ["small/a.txt", "links/hard"]
            .iter()
            .map(|n| {
                t.entry(n.as_bytes()).unwrap().meta["kind"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(kinds, BTreeSet::from(["file", "hardlink"]));
    }
    // The same deleted records, inode numbers aside.
    let deleted = |t: &Transcript| -> BTreeSet<(String, String, String)> {
        t.records
            .iter()
            .filter(|(k, _)| k == "deleted")
            .map(|(_, r)| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["size"].to_string(),
                    r["recovered"]["bytes"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(deleted(&i.cf.1), deleted(pl));
}

#[test]
fn deleted_file_on_the_casefold_volume_is_recorded_and_recovered() {
    let Some(i) = images() else { return };
    let t = &i.cf.1;
    let rec = t
        .records
        .iter()
        .filter(|(k, _)| k == "deleted")
        .map(|(_, r)| r)
        .find(|r| r["path"] == GONE)
        .unwrap_or_else(|| panic!("{:?}", t.records));
    let want = std::fs::read(i.src.join(GONE)).unwrap();
    assert_eq!(rec["found_in"], "directory_entry", "{rec}");
    assert_eq!(rec["size"], want.len() as u64, "{rec}");
    assert_eq!(rec["kind"], "file");
    // `debugfs lsdel` lists the freed inode.
    let lsdel = debugfs(&i.casefold, "lsdel");
    let ino: u64 = lsdel
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .next()
        .unwrap();
    assert_eq!(rec["inode"], ino);
    let name = rec["recovered"]["entry"].as_str().unwrap();
    assert_eq!(name, format!("$deleted/{GONE}"));
    let e = t.entry(name.as_bytes()).unwrap();
    assert_eq!(sha256_hex(&e.data), sha256_hex(&want));
    assert_eq!(e.meta["extra"]["deleted"], true);
}

#[test]
fn meta_bg_volume_is_read_by_the_fallback() {
    if !common::e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source(&src);
    let img = tmp.path().join("metabg.img");
    // 1 KiB blocks, 1024 per group, 16 inodes per group: 48 groups, 16
    // descriptors per block, so three meta groups, and inodes spread over them.
    let geometry = ["-b", "1024", "-g", "1024", "-i", "65536"];
    if image(&src, &img, Some("meta_bg,^resize_inode"), &geometry).is_none() {
        return;
    }
    let stats = debugfs(&img, "stats");
    assert_eq!(field(&stats, "Inodes per group:"), "16");
    assert!(stats.contains("meta_bg"), "{stats}");
    let (status, t) = decode::<RawImage>("metabg.img", std::fs::read(&img).unwrap());
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    assert!(t.problems().is_empty(), "{:?}", t.problems());
    assert_eq!(
        note(&t, "ext4 file system")["refused_features"][0],
        "meta_bg"
    );
    let large = t.entry(b"big/large.bin").unwrap();
    assert_eq!(
        sha256_hex(&large.data),
        sha256_hex(&std::fs::read(src.join("big/large.bin")).unwrap())
    );
    assert_eq!(t.entry(b"many/entry-0599").unwrap().data, b"entry 599\n");
    // A slow symbolic link (its target in a block).
    assert_eq!(
        t.entry(b"links/long").unwrap().meta["link_target"],
        LONG_TARGET
    );
    // Entries whose inodes sit in the second and third meta groups (groups
    // 16 and up, inodes past 256), each equal to debugfs.
    let far: Vec<&Delivered> = t
        .entries
        .iter()
        .filter(|e| !e.name.0.starts_with(b"$"))
        .filter(|e| {
            e.meta["extra"]["inode"]
                .as_u64()
                .is_some_and(|i| i > 16 * 32)
        })
        .collect();
    assert!(far.len() > 50, "{}", far.len());
    for e in far.iter().take(20) {
        let name = String::from_utf8(e.name.0.clone()).unwrap();
        let stat = debugfs(&img, &format!("stat \"/{name}\""));
        assert_eq!(
            e.meta["extra"]["inode"],
            field(&stat, "Inode:").parse::<u64>().unwrap(),
            "{name}"
        );
        if e.meta["kind"] == "file" {
            let src_data = std::fs::read(src.join(&name)).unwrap();
            assert_eq!(sha256_hex(&e.data), sha256_hex(&src_data), "{name}");
        }
    }
    // ext4-view still refuses it: the note names the reason.
    assert!(
        note(&t, "ext4 file system")["ext4_view_error"]
            .as_str()
            .unwrap()
            .contains("incompatible")
    );
}

/// `encrypted_dir` of test_disk1: its entries are recorded under
/// `$encrypted/` by the hex of their stored names, with the inode numbers
/// `debugfs ls` gives, flagged encrypted and without content.
#[test]
fn encrypted_directory_entries_are_listed_not_decrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(img) = common::ext4_view_disk("test_disk1.bin.zst", tmp.path()) else {
        return;
    };
    if !common::e2fsprogs() {
        return;
    }
    let (status, t) = decode::<RawImage>("disk.bin", std::fs::read(&img).unwrap());
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    let warnings: Vec<_> = t
        .problems()
        .into_iter()
        .filter(|p| p.message.contains("encrypted_dir") && p.message.contains("fscrypt"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", t.problems());
    assert!(warnings[0].message.contains("encrypted_dir/$encrypted"));
    let dir = t.entry(b"encrypted_dir").unwrap();
    assert_eq!(dir.meta["extra"]["encrypted"], true);
    // debugfs does not replay the journal: read a recovered copy.
    let copy = tmp.path().join("recovered.bin");
    std::fs::copy(&img, &copy).unwrap();
    let mut perm = std::fs::metadata(&copy).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&copy, perm).unwrap();
    let _ = Command::new(tool("e2fsck"))
        .args(["-f", "-y"])
        .arg(&copy)
        .output();
    let want: BTreeSet<u64> = debugfs(&copy, "ls -l /encrypted_dir")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && f.last() != Some(&".") && f.last() != Some(&".."))
                .then(|| f[0].parse().ok())
                .flatten()
        })
        .collect();
    assert!(!want.is_empty());
    let children: Vec<&Delivered> = t
        .entries
        .iter()
        .filter(|e| {
            e.name
                .0
                .strip_prefix(b"encrypted_dir/$encrypted/")
                .is_some_and(|rest| !rest.contains(&b'/'))
        })
        .collect();
    let got: BTreeSet<u64> = children
        .iter()
        .map(|e| e.meta["extra"]["inode"].as_u64().unwrap())
        .collect();
    assert_eq!(got, want);
    let all = t
        .entries
        .iter()
        .filter(|e| e.name.0.starts_with(b"encrypted_dir/$"))
        .count();
    println!(
        "encrypted_dir: {} entries listed, {all} in its tree",
        got.len()
    );
    for e in t
        .entries
        .iter()
        .filter(|e| e.name.0.starts_with(b"encrypted_dir/$"))
    {
        let name = String::from_utf8(e.name.0.clone()).unwrap();
        let leaf = name.rsplit('/').next().unwrap();
        // fscrypt names are padded to at least 16 bytes of ciphertext.
        assert!(
            leaf.len() >= 32 && leaf.bytes().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(e.meta["extra"]["encrypted"], true, "{name}");
        assert!(e.data.is_empty(), "{name}");
        let stat = debugfs(&copy, &format!("stat <{}>", e.meta["extra"]["inode"]));
        assert_eq!(
            e.meta["mode"].as_u64().unwrap() & 0o7777,
            u64::from(u32::from_str_radix(field(&stat, "Mode:"), 8).unwrap()),
            "{name}"
        );
        if e.meta["kind"] == "file" {
            assert_eq!(
                e.meta["size"],
                field(&stat, "Size:").parse::<u64>().unwrap(),
                "{name}"
            );
        }
    }
}

/// Truncated copies and flipped metadata bytes of the casefold image: the
/// fallback never panics and every run ends quickly.
#[test]
fn hostile_casefold_images_never_panic_or_hang() {
    let Some(i) = images() else { return };
    let base = std::fs::read(&i.casefold).unwrap();
    let check = |what: String, bytes: Vec<u8>| -> bool {
        let began = Instant::now();
        let (status, t) = decode::<RawImage>("casefold.img", bytes);
        assert_ne!(status, Status::PANICKED, "{what}");
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "{what}: {:?}",
            began.elapsed()
        );
        t.entries.len() > 100
    };
    let mut walked = 0;
    for len in [2048, 64 * 1024, 1 << 20, base.len() / 2, base.len() - 4096] {
        check(format!("truncated to {len}"), base[..len].to_vec());
    }
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rand = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    for round in 0..40 {
        let mut bytes = base.clone();
        for _ in 0..(1 + rand() % 32) {
            // Superblock, descriptors, bitmaps, inode tables, directories.
            let at = 1024 + (rand() % (2 * 1024 * 1024)) as usize;
            bytes[at] ^= 1 << (rand() % 8);
        }
        walked += usize::from(check(format!("round {round}"), bytes));
    }
    // Most rounds still reach the raw walk.
    assert!(walked > 20, "{walked}");
}

/// A directory entry pointing back at an ancestor (`debugfs link`): both
/// readers report the second visit and do not walk it again.
#[test]
fn directory_loop_is_reported_and_not_walked_twice() {
    let Some(i) = images() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (name, src) in [("casefold.img", &i.casefold), ("plain.img", &i.plain)] {
        let img = tmp.path().join(name);
        std::fs::copy(src, &img).unwrap();
        let out = Command::new(tool("debugfs"))
            .arg("-w")
            .arg("-R")
            .arg("link /nested /nested/level-one/loop")
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success());
        let began = Instant::now();
        let (status, t) = decode::<RawImage>(name, std::fs::read(&img).unwrap());
        assert!(began.elapsed() < Duration::from_secs(60));
        assert_ne!(status, Status::PANICKED);
        let loop_dir = t.entry(b"nested/level-one/loop").unwrap();
        assert_eq!(loop_dir.meta["kind"], "dir");
        assert!(
            t.problems().iter().any(|p| p
                .message
                .contains("nested/level-one/loop: directory inode")
                && p.message.contains("second time")),
            "{name}: {:?}",
            t.problems()
        );
        assert!(
            !t.entries
                .iter()
                .any(|e| e.name.0.starts_with(b"nested/level-one/loop/")),
            "{name}"
        );
        // The rest of the tree is all there.
        assert_eq!(t.entry(b"many/entry-0599").unwrap().data, b"entry 599\n");
    }
}

fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

/// `nested/` marked encrypted (`EXT4_ENCRYPT_FL` set with debugfs; its
/// names stay plain, so their hex is known): its whole tree is recorded
/// under `nested/$encrypted/` by hex names, without content, by both readers.
#[test]
fn encrypted_tree_is_listed_recursively_by_hex_names() {
    let Some(i) = images() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (name, src) in [("casefold.img", &i.casefold), ("plain.img", &i.plain)] {
        let img = tmp.path().join(name);
        std::fs::copy(src, &img).unwrap();
        let flags = u32::from_str_radix(
            field(&debugfs(&img, "stat /nested"), "Flags:").trim_start_matches("0x"),
            16,
        )
        .unwrap();
        let out = Command::new(tool("debugfs"))
            .arg("-w")
            .arg("-R")
            .arg(format!("sif /nested flags {:#x}", flags | 0x800))
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success());
        let (status, t) = decode::<RawImage>(name, std::fs::read(&img).unwrap());
        assert_eq!(status, Status::OK, "{name}: {:?}", t.problems());
        let problems = t.problems();
        assert_eq!(problems.len(), 1, "{name}: {problems:?}");
        assert!(problems[0].message.contains("/nested: encrypted (fscrypt)"));
        assert!(problems[0].message.contains("nested/$encrypted"));
        assert_eq!(t.entry(b"nested").unwrap().meta["extra"]["encrypted"], true);
        let under: BTreeSet<String> = t
            .entries
            .iter()
            .map(|e| String::from_utf8(e.name.0.clone()).unwrap())
            .filter(|n| n.starts_with("nested/"))
            .collect();
        let (one, two, three) = (hex("level-one"), hex("level-two"), hex("level-three"));
        let deep = hex("a-target-name-long-enough-to-need-a-block.txt");
        let want: BTreeSet<String> = [
            format!("nested/$encrypted/{one}"),
            format!("nested/$encrypted/{one}/{}", hex("sibling.txt")),
            format!("nested/$encrypted/{one}/{two}"),
            format!("nested/$encrypted/{one}/{two}/{three}"),
            format!("nested/$encrypted/{one}/{two}/{three}/{deep}"),
        ]
        .into();
        assert_eq!(under, want, "{name}");
        let sibling = t
            .entry(format!("nested/$encrypted/{one}/{}", hex("sibling.txt")).as_bytes())
            .unwrap();
        assert_eq!(sibling.meta["kind"], "file");
        assert_eq!(sibling.meta["size"], 4096);
        assert_eq!(sibling.meta["extra"]["encrypted"], true);
        assert!(sibling.data.is_empty());
        let stat = debugfs(&img, "stat /nested/level-one/sibling.txt");
        assert_eq!(
            sibling.meta["extra"]["inode"],
            field(&stat, "Inode:").parse::<u64>().unwrap()
        );
        let fs = note(&t, "ext4 raw metadata");
        assert_eq!(fs["encrypted_directories"], 1);
        assert_eq!(fs["encrypted_entries"], 5);
    }
}

/// Only an incompatibility makes the raw reader take over, and only for
/// features it reads: the plain image with the `casefold` bit set is read
/// by the fallback; with `compression` set, both readers refuse it, named;
/// with a bad superblock checksum (`ext4-view`'s other load error) it
/// stays an error, with no fallback.
#[test]
fn fallback_only_for_incompatible_features_it_reads() {
    let Some(i) = images() else { return };
    let base = std::fs::read(&i.plain).unwrap();
    let incompat = 1024 + 0x60;
    let with = |bit: u32| {
        let mut b = base.clone();
        let v = u32::from_le_bytes(b[incompat..incompat + 4].try_into().unwrap()) | bit;
        b[incompat..incompat + 4].copy_from_slice(&v.to_le_bytes());
        b
    };
    let (status, t) = decode::<RawImage>("plain.img", with(0x2_0000));
    assert_eq!(status, Status::OK, "{:?}", t.problems());
    let fs = note(&t, "ext4 file system");
    assert_eq!(fs["fallback"], true);
    assert_eq!(fs["refused_features"][0], "casefold");
    assert_eq!(summary(&t), summary(&i.pl.1));
    // Same image, both readers: every entry's metadata (times, inode,
    // links, ctime, mode, owner, size, link target) and bytes are equal.
    assert_eq!(t.entries.len(), i.pl.1.entries.len());
    for e in &t.entries {
        let v = i.pl.1.entry(&e.name.0).unwrap();
        assert_eq!(e.meta, v.meta, "{}", String::from_utf8_lossy(&e.name.0));
        assert_eq!(e.data, v.data, "{}", String::from_utf8_lossy(&e.name.0));
        assert_eq!(e.status, v.status);
    }
    assert_eq!(t.records, i.pl.1.records);

    // A volume that cannot be read is reported; the image run goes on.
    let (status, t) = decode::<RawImage>("plain.img", with(0x1));
    assert_eq!(status, Status::OK);
    assert!(t.entries.is_empty());
    assert!(
        t.problems()
            .iter()
            .any(|p| p.message.contains("COMPRESSION")
                && p.message
                    .contains("raw reader does not read the feature(s) compression")),
        "{:?}",
        t.problems()
    );

    // s_checksum (metadata_csum) no longer matches.
    let mut bad = base.clone();
    bad[1024 + 0x3FC] ^= 0xFF;
    let (status, t) = decode::<RawImage>("plain.img", bad);
    assert_eq!(status, Status::OK);
    assert!(t.entries.is_empty());
    assert!(
        t.problems().iter().any(|p| p.message.contains("checksum")),
        "{:?}",
        t.problems()
    );
    assert!(
        !t.logs
            .iter()
            .any(|l| l.message.contains("\"fallback\":true"))
    );
}

/// Sets `bit` in `s_feature_incompat` of an ext4 image.
fn with_incompat(mut b: Vec<u8>, bit: u32) -> Vec<u8> {
    let at = 1024 + 0x60;
    let v = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) | bit;
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b
}

/// The same image read by `ext4-view` and, with the `casefold` bit set, by
/// the raw reader alone: entries (metadata and bytes) and deleted records
/// are equal. On the userdata fixture (non-ASCII names, nanosecond times,
/// hard link, sparse file, deleted file, orphan inode) and on the
/// `ext4-view` project's disks (1 KiB blocks and hash trees; a journal
/// holding the whole tree, replayed in memory by each reader) and dfVFS's
/// ext2 volume (block maps).
#[test]
fn raw_reader_equals_ext4_view_on_the_same_images() {
    if !common::e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    let userdata = tmp.path().join("userdata.ext4");
    disk::ext4_image(
        &disk::userdata_tree().unwrap(),
        &userdata,
        &disk::Ext4Options::default(),
    )
    .unwrap();
    images.push(("userdata", std::fs::read(&userdata).unwrap()));
    for name in ["test_disk1.bin.zst", "test_disk_4k_block_journal.bin.zst"] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(img) = common::ext4_view_disk(name, &dir) {
            images.push((name, std::fs::read(img).unwrap()));
        }
    }
    // ext2 (block maps, no extents), in two segments.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dfvfs/test_data");
    let segments = [
        root.join("ext2.splitraw.000"),
        root.join("ext2.splitraw.001"),
    ];
    if segments.iter().all(|p| p.is_file()) {
        let bytes = segments
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        images.push(("ext2.splitraw", bytes));
    } else {
        println!("skipped: corpus ext2.splitraw.* absent");
    }
    for (name, bytes) in images {
        let (s1, view) = decode::<RawImage>(name, bytes.clone());
        let (s2, raw) = decode::<RawImage>(name, with_incompat(bytes, 0x2_0000));
        assert_eq!((s1, s2), (Status::OK, Status::OK), "{name}");
        assert_eq!(note(&raw, "ext4 file system")["fallback"], true, "{name}");
        assert_eq!(note(&view, "ext4 file system")["fallback"], false, "{name}");
        assert_eq!(view.entries.len(), raw.entries.len(), "{name}");
        for e in &view.entries {
            let path = String::from_utf8_lossy(&e.name.0);
            let r = raw
                .entry(&e.name.0)
                .unwrap_or_else(|| panic!("{name}: {path} missing"));
            assert_eq!(e.meta, r.meta, "{name}: {path}");
            assert_eq!(e.status, r.status, "{name}: {path}");
            assert!(e.data == r.data, "{name}: {path}: bytes differ");
        }
        assert_eq!(view.records, raw.records, "{name}");
        // The same problems (the encrypted directory's warning), nothing more.
        let msgs = |t: &Transcript| -> Vec<String> {
            t.problems().iter().map(|p| p.message.clone()).collect()
        };
        assert_eq!(msgs(&view), msgs(&raw), "{name}");
        let journal = |t: &Transcript| note(t, "ext4 file system")["journal_transactions"].clone();
        assert_eq!(journal(&view), journal(&raw), "{name}");
        println!(
            "{name}: {} entries, {} records equal; journal transactions {}",
            view.entries.len(),
            view.records.len(),
            journal(&raw)
        );
    }
}
