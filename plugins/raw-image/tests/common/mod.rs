//! What the raw-image integration tests share: where the corpus of real
//! images is (`../shared/corpus`, beside the workspace), and its
//! zstd-compressed ext4 images unpacked. Each test binary uses some of it.
#![allow(dead_code, clippy::unwrap_used)]

use exhibit_fixtures::disk;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether mke2fs, debugfs and e2fsck are installed (the reason is printed
/// when they are not).
pub fn e2fsprogs() -> bool {
    let ok = ["mke2fs", "debugfs", "e2fsck"]
        .iter()
        .all(|t| disk::e2fsprogs_tool(t).is_some());
    if !ok {
        println!("skipped: e2fsprogs (mke2fs, debugfs, e2fsck) not installed");
    }
    ok
}

/// `../shared/corpus/<rel>` from the workspace root, or `None` (with the
/// reason printed) when it is missing.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: corpus file {} is absent", path.display());
        None
    }
}

/// `zst` decompressed into `dir` (as `disk.bin`), or `None` (with the
/// reason printed) when zstd is not installed.
pub fn unzstd(zst: &Path, dir: &Path) -> Option<PathBuf> {
    if Command::new("zstd").arg("--version").output().is_err() {
        println!("skipped: zstd is not installed");
        return None;
    }
    let out = dir.join("disk.bin");
    let ok = Command::new("zstd")
        .arg("-dqf")
        .arg(zst)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap()
        .success();
    assert!(ok, "zstd -d {}", zst.display());
    Some(out)
}

/// The ext4-view project's test disk `name` (`test_disk1.bin.zst`…) from
/// the corpus, unpacked into `dir`.
pub fn ext4_view_disk(name: &str, dir: &Path) -> Option<PathBuf> {
    unzstd(&corpus(&format!("ext4-view-rs/test_data/{name}"))?, dir)
}
