//! Raw disk images end to end: an ext4 volume made by `mke2fs -d` from a
//! folder, behind a one-entry MBR, extracted by the real `raw-image` plugin
//! library; every file's SHA-256 in the custody log equals the source
//! file's, the partition table is a custody note, and the case verifies.

use crate::exhibit;
use crate::util::*;
use std::path::Path;
use std::process::Command;

/// Files of the source folder: (path inside the volume, bytes).
pub(crate) type SourceFiles = Vec<(&'static str, Vec<u8>)>;

/// The source folder: (path inside the volume, bytes) of its files.
fn write_source(dir: &Path) -> SourceFiles {
    let big: Vec<u8> = (0u32..1_500_000)
        .map(|i| u8::try_from((i.wrapping_mul(2_654_435_761) >> 13) & 0xff).unwrap())
        .collect();
    let files = vec![
        ("hello.txt", b"hello, world!\n".to_vec()),
        ("empty", Vec::new()),
        (
            "data/data/com.android.providers.telephony/databases/mmssms.db",
            big,
        ),
        ("media/0/DCIM/notes.txt", b"a note".to_vec()),
    ];
    for (path, data) in &files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, data).unwrap();
    }
    std::os::unix::fs::symlink("hello.txt", dir.join("link")).unwrap();
    files
}

/// A small ext4 volume made by `mke2fs -d` from [`write_source`]'s folder,
/// behind a one-entry MBR (LBA 2048): the image and the source files, or
/// `None` (with the reason printed) when mke2fs is not usable.
pub(crate) fn small_disk(w: &Work) -> Option<(std::path::PathBuf, SourceFiles)> {
    let src = w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let files = write_source(&src);
    let volume = w.path("ext4.img");
    let made = Command::new("mke2fs")
        .args(["-t", "ext4", "-d"])
        .arg(&src)
        .args(["-F", "-q"])
        .arg(&volume)
        .arg("8M")
        .status();
    if !matches!(made, Ok(s) if s.success()) {
        println!("skipped: mke2fs not usable ({made:?})");
        return None;
    }
    let ext4 = std::fs::read(&volume).unwrap();
    let mut disk = vec![0u8; 2048 * 512];
    disk[446 + 4] = 0x83;
    disk[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    let sectors = u32::try_from(ext4.len() / 512).unwrap();
    disk[446 + 12..446 + 16].copy_from_slice(&sectors.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk.extend_from_slice(&ext4);
    Some((w.write("phone.img", &disk), files))
}

#[test]
fn ext4_behind_mbr_every_file_hashed_and_case_verifies() {
    let w = Work::new();
    let Some((image, files)) = small_disk(&w) else {
        return;
    };
    let plugins = w.plugin_dir(&[("exhibit_format_raw_image", "exhibit_format_raw_image")]);
    let case = w.path("case");
    let out = exhibit!("extract", image, "--case", case, "--plugins", plugins);
    assert_code(&out, 0);
    let log = log(&case);
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        "raw-image"
    );
    let text: Vec<String> = log.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("partition table") && l.contains("1048576")),
        "the partition table is a custody note"
    );
    for (path, data) in &files {
        let name = format!("p1/{path}");
        let d = &extracted(&log, &name)["details"];
        use sha2::Digest;
        let truth = hex::encode(sha2::Sha256::digest(data));
        assert_eq!(d["hashes"]["sha256"], truth.as_str(), "{name}");
        assert_eq!(d["size"], data.len() as u64, "{name}");
        assert_eq!(d["complete"], true, "{name}");
        let on_disk = case.join(d["path"].as_str().unwrap());
        assert_eq!(sha256_file(&on_disk), truth, "{}", on_disk.display());
    }
    let link = actions(&log, "entry_recorded")
        .into_iter()
        .find(|e| e["details"]["name"] == "p1/link")
        .expect("link recorded");
    assert_eq!(link["details"]["meta"]["link_target"], "hello.txt");
    assert!(!case.join("files/p1/link").exists());

    assert_code(&exhibit!("verify", case), 0);
}
