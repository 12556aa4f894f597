//! Physical images end to end, on the `fixtures::disk` phone set (a GPT
//! eMMC with `boot`, `misc` and an ext4 `userdata`; an MBR SD card with
//! FAT32, FAT16 in an extended partition and raw partitions; the Android
//! sparse form of `userdata`), extracted by the real binary with the real
//! `raw-image` plugin: every file's SHA-256 equals the generator's truth,
//! every partition and every span between them is hashed by the core at
//! the generator's offsets, a split copy is one evidence with a digest per
//! segment, a damaged primary GPT falls back to the backup and says so, and
//! a truncated image gives what it holds.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures::disk::{FsKind, Layout, PhoneDisks, Truth, phone_disks};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The phone set, built once per test run (it takes mke2fs, debugfs and
/// e2fsck), or `None` with the reason printed when e2fsprogs is missing.
fn phone() -> Option<&'static PhoneDisks> {
    static DISKS: OnceLock<Result<PhoneDisks, String>> = OnceLock::new();
    let built = DISKS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("phone-disks");
        let _ = std::fs::remove_dir_all(&dir);
        phone_disks(&dir).map_err(|e| e.to_string())
    });
    match built {
        Ok(disks) => Some(disks),
        Err(e) => {
            println!("skipped: the phone disk fixtures could not be built ({e})");
            None
        }
    }
}

fn extract(w: &Work, image: &Path) -> (PathBuf, std::process::Output) {
    extract_with(w, image, &[])
}

fn extract_with(w: &Work, image: &Path, flags: &[&str]) -> (PathBuf, std::process::Output) {
    let plugins = w.plugin_dir(&[("exhibit_format_raw_image", "exhibit_format_raw_image")]);
    let case = w.path("case");
    let mut args: Vec<std::ffi::OsString> = vec!["extract".into(), image.into()];
    args.extend([
        "--case".into(),
        case.clone().into(),
        "--plugins".into(),
        plugins.into(),
    ]);
    args.extend(flags.iter().map(Into::into));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    (case, run(&args))
}

fn sha256_range(image: &Path, offset: u64, len: u64) -> String {
    let data = std::fs::read(image).unwrap();
    let start = usize::try_from(offset).unwrap();
    let end = usize::try_from(offset + len).unwrap().min(data.len());
    hex::encode(Sha256::digest(&data[start..end]))
}

/// SHA-256 of `data` followed by zeros up to `len` bytes.
fn padded_sha256(data: &[u8], len: u64) -> String {
    let mut padded = data.to_vec();
    padded.resize(usize::try_from(len).unwrap(), 0);
    hex::encode(Sha256::digest(&padded))
}

/// The lines of a case's JSONL file (none when it does not exist).
fn jsonl(case: &Path, rel: &str) -> Vec<Value> {
    match std::fs::read_to_string(case.join(rel)) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every regular file of `truth` is logged under `prefix` with the truth's
/// size and SHA-256, and the case file hashes the same; every directory and
/// symlink is recorded, symlinks with their target.
fn assert_volume_matches_truth(log: &[Value], case: &Path, prefix: &str, truth: &Truth) {
    let mut files = 0;
    for entry in &truth.entries {
        let name = format!("{prefix}{}", entry.path);
        match entry.kind {
            FsKind::File if entry.hard_link_of.is_some() => {
                // Recorded as a link to the one extracted copy.
                let link = actions(log, "entry_recorded")
                    .into_iter()
                    .find(|e| e["details"]["name"] == name.as_str())
                    .unwrap_or_else(|| panic!("{name} is not recorded"));
                assert_eq!(link["details"]["kind"], "hardlink");
                let first = format!("{prefix}{}", entry.hard_link_of.as_deref().unwrap());
                assert_eq!(link["details"]["meta"]["link_target"], first.as_str());
                assert!(matches!(
                    extracted(log, &first)["details"]["complete"],
                    Value::Bool(true)
                ));
            }
            FsKind::File => {
                let d = &extracted(log, &name)["details"];
                assert_eq!(
                    d["hashes"]["sha256"],
                    entry.sha256.as_deref().unwrap(),
                    "{name}"
                );
                assert_eq!(d["size"], entry.size, "{name}");
                assert_eq!(d["complete"], true, "{name}");
                let on_disk = case.join(d["path"].as_str().unwrap());
                assert_eq!(&sha256_file(&on_disk), entry.sha256.as_ref().unwrap());
                files += 1;
            }
            FsKind::Dir | FsKind::Symlink => {
                let recorded = actions(log, "entry_recorded")
                    .into_iter()
                    .find(|e| e["details"]["name"] == name.as_str())
                    .unwrap_or_else(|| panic!("{name} is not recorded"));
                if let Some(target) = &entry.target {
                    assert_eq!(recorded["details"]["meta"]["link_target"], target.as_str());
                }
            }
        }
    }
    assert!(files > 0, "{prefix}: no file checked");
}

/// Every deleted file of `truth` is a line of `deleted.jsonl` at its path
/// under `prefix`, with its size, and its recovered bytes are a file of the
/// case (logged, under `$deleted/`) with the truth's SHA-256.
fn assert_deleted_match_truth(log: &[Value], case: &Path, prefix: &str, truth: &Truth) {
    let lines = jsonl(case, "deleted.jsonl");
    let written = actions(log, "artifact_written")
        .into_iter()
        .find(|e| e["details"]["path"] == "deleted.jsonl")
        .expect("deleted.jsonl is logged");
    assert_eq!(written["details"]["records"], lines.len());
    assert!(!truth.deleted.is_empty());
    for gone in &truth.deleted {
        let path = format!("{prefix}{}", gone.path);
        let line = lines
            .iter()
            .find(|l| l["path"] == path.as_str())
            .unwrap_or_else(|| panic!("{path} is not in deleted.jsonl"));
        // An orphan inode's bytes are recovered once, under its inode:
        // the name's record points there.
        let recovered = if line["recovered"].is_object() {
            line
        } else {
            lines
                .iter()
                .find(|l| l["found_in"] == "orphan_inode" && l["inode"] == line["inode"])
                .unwrap_or_else(|| panic!("{path}: not recovered: {line}"))
        };
        assert_eq!(recovered["size"], gone.size, "{path}");
        let entry = recovered["recovered"]["entry"].as_str().unwrap();
        assert!(entry.starts_with(&format!("{prefix}$deleted/")), "{entry}");
        let d = &extracted(log, entry)["details"];
        assert_eq!(d["hashes"]["sha256"], gone.sha256.as_str(), "{path}");
        assert_eq!(d["meta"]["extra"]["deleted"], true);
        let on_disk = case.join(d["path"].as_str().unwrap());
        assert_eq!(sha256_file(&on_disk), gone.sha256);
    }
}

/// The partition of the GPT phone disk named `name`.
fn gpt_part<'a>(disks: &'a PhoneDisks, name: &str) -> &'a exhibit_fixtures::disk::PartitionExtent {
    disks
        .gpt
        .partitions
        .iter()
        .find(|p| p.name == name)
        .unwrap()
}

/// The `userdata` partition of the GPT phone disk equals its truth.
fn assert_userdata_matches_truth(log: &[Value], case: &Path, disks: &PhoneDisks) {
    let prefix = format!("p{}-userdata/", gpt_part(disks, "userdata").number);
    assert_volume_matches_truth(log, case, &prefix, &disks.userdata);
    assert_deleted_match_truth(log, case, &prefix, &disks.userdata);
}

/// The regions of `partitions.jsonl` by name: (offset, size, sha256).
fn regions(case: &Path) -> BTreeMap<String, (u64, u64, String)> {
    jsonl(case, "partitions.jsonl")
        .iter()
        .map(|r| {
            assert_eq!(r["complete"], true, "{r}");
            (
                r["name"].as_str().unwrap().to_owned(),
                (
                    r["offset"].as_u64().unwrap(),
                    r["size"].as_u64().unwrap(),
                    r["hashes"]["sha256"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

/// Each partition of `layout` is a region at its offset and length whose
/// SHA-256 is that of the image's bytes there, and so is each gap.
fn assert_regions_match_layout(case: &Path, image: &Path, layout: &Layout) {
    let found = regions(case);
    // The last run's region_hashed entries (a resumed run hashes the regions
    // again; the log keeps both) are the lines of partitions.jsonl.
    let log = log(case);
    let last_run = log
        .iter()
        .rposition(|e| e["action"] == "run_resumed")
        .unwrap_or(0);
    let logged: BTreeMap<String, (u64, u64, String)> = log[last_run..]
        .iter()
        .filter(|e| e["action"] == "region_hashed")
        .map(|e| {
            let d = &e["details"];
            (
                d["name"].as_str().unwrap().to_owned(),
                (
                    d["offset"].as_u64().unwrap(),
                    d["size"].as_u64().unwrap(),
                    d["hashes"]["sha256"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(logged, found);
    let hashed = log[last_run..]
        .iter()
        .filter(|e| e["action"] == "region_hashed")
        .count();
    assert_eq!(hashed, found.len(), "each region hashed once a run");
    for p in &layout.partitions {
        let (name, region) = found
            .iter()
            .find(|(name, _)| {
                name.strip_prefix('p')
                    .and_then(|n| n.split('-').next())
                    .is_some_and(|n| n == p.number.to_string())
            })
            .unwrap_or_else(|| panic!("partition {} has no region: {found:?}", p.number));
        if !p.name.is_empty() {
            assert_eq!(name, &format!("p{}-{}", p.number, p.name));
        }
        assert_eq!((region.0, region.1), (p.offset, p.len), "{name}");
        assert_eq!(region.2, sha256_range(image, p.offset, p.len), "{name}");
    }
    let mut gaps: Vec<(u64, u64)> = found
        .iter()
        .filter(|(name, _)| name.starts_with("unallocated@"))
        .map(|(_, r)| {
            assert_eq!(r.2, sha256_range(image, r.0, r.1));
            (r.0, r.1)
        })
        .collect();
    gaps.sort_unstable();
    assert_eq!(gaps, layout.gaps);
}

#[test]
fn gpt_phone_disk_partitions_hashed_and_userdata_equals_truth() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    let (case, out) = extract(&w, &disks.gpt_image);
    assert_code(&out, 0);
    let log = log(&case);
    assert_regions_match_layout(&case, &disks.gpt_image, &disks.gpt);
    assert_userdata_matches_truth(&log, &case, disks);
    // boot and misc hold no file system: hashed as regions, not extracted.
    let boot = gpt_part(disks, "boot");
    assert_eq!(
        regions(&case)[&format!("p{}-boot", boot.number)].2,
        padded_sha256(&disks.boot, boot.len),
        "boot's region is its bytes, then the zeros up to the partition's end"
    );
    // The partition table names the Android types of boot and misc.
    let table = actions(&log, "evidence_described")
        .into_iter()
        .find(|e| e["details"]["what"] == "partition table")
        .unwrap();
    let type_of = |name: &str| {
        table["details"]["details"]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["type_name"].clone())
            .unwrap()
    };
    assert_eq!(type_of("boot"), "Android boot");
    assert_eq!(type_of("misc"), "Android misc");
    // The HTML report lists every region with its digest.
    assert_code(&exhibit!("report", &case), 0);
    let html = std::fs::read_to_string(case.join("reports/report.html")).unwrap();
    assert!(html.contains(r#"id="regions-table""#));
    for (name, (_, _, sha256)) in regions(&case) {
        assert!(html.contains(&format!("<code>{name}</code>")), "{name}");
        assert!(html.contains(&sha256), "{name}");
    }
    // ... and every deleted entry, with what was recovered of it.
    assert!(html.contains(r#"id="deleted-table""#));
    for line in jsonl(&case, "deleted.jsonl") {
        let path = line["path"].as_str().unwrap();
        assert!(html.contains(&format!("<code>{path}</code>")), "{path}");
        if let Some(entry) = line["recovered"]["entry"].as_str() {
            assert!(
                html.contains(&format!("as <code>{entry}</code>")),
                "{entry}"
            );
        }
    }
    let verify = exhibit!("verify", &case);
    assert_code(&verify, 0);
}

#[test]
fn mbr_sdcard_logical_partitions_found_and_fat_volumes_equal_truth() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    // In a plugin process of its own: regions and records cross the
    // isolation channel like files do.
    let (case, out) = extract_with(&w, &disks.mbr_image, &["--isolate"]);
    assert_code(&out, 0);
    let log = log(&case);
    assert_regions_match_layout(&case, &disks.mbr_image, &disks.mbr);
    assert_volume_matches_truth(&log, &case, "p1/", &disks.sdcard_fat32);
    assert_volume_matches_truth(&log, &case, "p5/", &disks.sdcard_fat16);
    assert_deleted_match_truth(&log, &case, "p1/", &disks.sdcard_fat32);
    assert_deleted_match_truth(&log, &case, "p5/", &disks.sdcard_fat16);
    assert_code(&exhibit!("verify", &case), 0);
}

#[test]
fn sparse_userdata_expands_to_the_raw_image_and_equals_truth() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    let (case, out) = extract(&w, &disks.userdata_sparse);
    assert_code(&out, 0);
    let log = log(&case);
    assert_volume_matches_truth(&log, &case, "", &disks.userdata);
    assert_deleted_match_truth(&log, &case, "", &disks.userdata);
    // The evidence is the sparse file; its expansion is hashed as a region
    // and equals the raw image it was made from.
    let hashed = &actions(&log, "evidence_hashed")[0]["details"];
    assert_eq!(
        hashed["hashes"]["sha256"],
        sha256_file(&disks.userdata_sparse)
    );
    let expanded = &regions(&case)["expanded"];
    assert_eq!(expanded.2, disks.userdata.image_sha256);
    assert_eq!(expanded.1, disks.userdata.image_len);
}

#[test]
fn split_image_is_one_evidence_with_a_digest_per_segment() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    let stem = w.path("phone.img");
    // Three segments whose boundaries fall inside partitions.
    let len = std::fs::metadata(&disks.gpt_image).unwrap().len();
    let segments = exhibit_fixtures::disk::split(
        &disks.gpt_image,
        &stem,
        len.div_ceil(3),
        exhibit_fixtures::disk::SplitScheme::FromZero,
    )
    .unwrap();
    assert_eq!(segments.len(), 3);
    let (case, out) = extract(&w, &segments[0]);
    assert_code(&out, 0);
    let log = log(&case);
    let opened = &actions(&log, "evidence_opened")[0]["details"];
    assert_eq!(opened["kind"], "split image");
    assert_eq!(opened["segments"].as_array().unwrap().len(), 3);
    let hashed = &actions(&log, "evidence_hashed")[0]["details"];
    assert_eq!(hashed["hashes"]["sha256"], sha256_file(&disks.gpt_image));
    for (logged, path) in hashed["segments"].as_array().unwrap().iter().zip(&segments) {
        assert_eq!(logged["hashes"]["sha256"], sha256_file(path));
        assert_eq!(logged["size"], std::fs::metadata(path).unwrap().len());
    }
    // The report shows each segment's digest.
    assert_code(&exhibit!("report", &case), 0);
    let html = std::fs::read_to_string(case.join("reports/report.html")).unwrap();
    for path in &segments {
        assert!(html.contains(&sha256_file(path)));
    }
    // Partitions cross segment boundaries; their digests do not notice.
    assert_regions_match_layout(&case, &disks.gpt_image, &disks.gpt);
    assert_userdata_matches_truth(&log, &case, disks);
    assert_code(&exhibit!("verify", &case), 0);
}

#[test]
fn corrupt_primary_gpt_header_falls_back_to_the_backup_and_says_so() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    let mut image = std::fs::read(&disks.gpt_image).unwrap();
    // LBA 1 is the primary header; byte 0x18 of it (MyLBA) is covered by
    // the header CRC.
    image[512 + 0x18] ^= 0xFF;
    let damaged = w.write("damaged.img", &image);
    let (case, out) = extract(&w, &damaged);
    let log = log(&case);
    let warnings: Vec<String> = actions(&log, "warning")
        .iter()
        .map(|e| {
            e["details"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        warnings.iter().any(|m| m.contains("primary GPT unusable")
            && m.contains("CRC32 mismatch")
            && m.contains("the backup at LBA")
            && m.contains("offset 0x210")),
        "{warnings:?}"
    );
    // The damage is a warning: the run completes with problems.
    assert_code(&out, 2);
    assert_regions_match_layout(&case, &damaged, &disks.gpt);
    assert_userdata_matches_truth(&log, &case, disks);
}

#[test]
fn truncated_disk_extracts_what_it_holds_and_names_the_cut() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    let image = std::fs::read(&disks.gpt_image).unwrap();
    let userdata = gpt_part(disks, "userdata");
    // Cut inside userdata, after its superblock and first groups.
    let cut = usize::try_from(userdata.offset + userdata.len / 2).unwrap();
    let truncated = w.write("truncated.img", &image[..cut]);
    let (case, out) = extract(&w, &truncated);
    assert_code(&out, 2);
    let log = log(&case);
    // The partitions before the cut are hashed whole; userdata only as far
    // as the image goes, marked incomplete and reported.
    let lines = jsonl(&case, "partitions.jsonl");
    let name = format!("p{}-userdata", userdata.number);
    let cut_region = lines.iter().find(|r| r["name"] == name.as_str()).unwrap();
    assert_eq!(cut_region["complete"], false);
    assert_eq!(cut_region["size"], userdata.len / 2);
    let boot = gpt_part(disks, "boot");
    let boot_line = lines
        .iter()
        .find(|r| r["name"] == format!("p{}-boot", boot.number).as_str())
        .unwrap();
    assert_eq!(
        boot_line["hashes"]["sha256"],
        padded_sha256(&disks.boot, boot.len)
    );
    let errors: Vec<&Value> = actions(&log, "error");
    assert!(!errors.is_empty());
    // Files delivered complete have the truth's digest; at least one is.
    let prefix = format!("{name}/");
    let mut complete = 0;
    for e in actions(&log, "file_extracted") {
        let d = &e["details"];
        let inner = d["name"].as_str().unwrap().strip_prefix(&prefix).unwrap();
        if d["complete"] == true && !inner.starts_with("$deleted/") {
            let truth = disks
                .userdata
                .entries
                .iter()
                .find(|t| t.path == inner)
                .unwrap();
            assert_eq!(
                d["hashes"]["sha256"],
                truth.sha256.as_deref().unwrap(),
                "{inner}"
            );
            complete += 1;
        }
    }
    assert!(complete > 0, "nothing before the cut was extracted");
    assert_code(&exhibit!("verify", &case), 0);
}

/// dfvfs's 4 MiB ext2 volume split into two 2 MiB segments: read as one
/// volume, across the boundary, with the files the corpus README lists.
#[test]
fn corpus_dfvfs_ext2_split_raw() {
    let first = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/dfvfs/test_data/ext2.splitraw.000");
    if !first.exists() {
        println!("skipped: corpus file {} is absent", first.display());
        return;
    }
    let w = Work::new();
    let (case, out) = extract(&w, &first);
    assert_code(&out, 0);
    let log = log(&case);
    let opened = &actions(&log, "evidence_opened")[0]["details"];
    assert_eq!(opened["size"], 4 << 20);
    assert_eq!(opened["segments"].as_array().unwrap().len(), 2);
    let a_file = extracted(&log, "a_directory/a_file");
    assert_eq!(
        a_file["details"]["hashes"]["sha256"],
        hex::encode(Sha256::digest(
            b"This is a text file.\n\nWe should be able to parse it.\n"
        ))
    );
    let passwords = case.join(
        extracted(&log, "passwords.txt")["details"]["path"]
            .as_str()
            .unwrap(),
    );
    let text = std::fs::read(passwords).unwrap();
    assert_eq!(text.len(), 116);
    assert!(text.starts_with(b"place,user,password\nbank,joesmith,superrich"));
    let link = actions(&log, "entry_recorded")
        .into_iter()
        .find(|e| e["details"]["name"] == "a_link")
        .expect("a_link recorded");
    assert_eq!(link["details"]["kind"], "symlink");
    assert_code(&exhibit!("verify", &case), 0);
}

/// A crash while the 101st file was being written, then `extract --resume`:
/// the files, the regions and the deleted entries end as a clean run's, each
/// once, and the case verifies.
#[test]
fn resumed_after_a_crash_the_disk_is_whole_once() {
    let Some(disks) = phone() else { return };
    let w = Work::new();
    let (case, out) = extract(&w, &disks.gpt_image);
    assert_code(&out, 0);
    let files = crate::resume::file_lines(&case);
    crate::resume::crash_at(&case, files[100], 40, 7);
    let plugins = w.plugin_dir(&[("exhibit_format_raw_image", "exhibit_format_raw_image")]);
    let out = exhibit!("extract", "--resume", &case, "--plugins", plugins);
    // The torn custody line is a warning of the resumed run.
    assert_code(&out, 2);
    let log = log(&case);
    assert_eq!(actions(&log, "run_resumed").len(), 1);
    assert_userdata_matches_truth(&log, &case, disks);
    assert_regions_match_layout(&case, &disks.gpt_image, &disks.gpt);
    let regions = jsonl(&case, "partitions.jsonl");
    assert_eq!(
        regions.len(),
        disks.gpt.partitions.len() + disks.gpt.gaps.len(),
        "each region once"
    );
    assert_code(&exhibit!("verify", &case), 0);
}
