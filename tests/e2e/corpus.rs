//! Real tar files made by another project (dfvfs test data in
//! ../shared/corpus): every member's digest equals GNU tar's extraction of
//! it, and the metadata matches the corpus README. Skipped, saying why,
//! when the corpus is absent.

use crate::exhibit;
use crate::util::*;
use std::path::PathBuf;

/// `../shared/corpus` beside the repository, or `$EXHIBIT_CORPUS`.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("EXHIBIT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus folder {} is absent", dir.display());
        None
    }
}

#[test]
fn dfvfs_tars_match_gnu_tar_member_for_member() {
    let Some(corpus) = corpus() else { return };
    let tars = corpus.join("dfvfs/test_data/tar");
    let expected_members: [(&str, &[&str]); 5] = [
        ("syslog.tar", &["syslog"]),
        ("with_directory.tar", &["folder/syslog", "folder/wtmp.1"]),
        ("without_directory.tar", &["folder/syslog", "folder/wtmp.1"]),
        ("absolute_paths.tar", &["/folder/syslog", "/folder/wtmp.1"]),
        ("mixed_paths.tar", &["/folder/syslog", "folder/wtmp.1"]),
    ];
    for (file, members) in expected_members {
        let w = Work::new();
        let evidence = tars.join(file);
        let case = w.path("case");
        let out = exhibit!(
            "extract",
            evidence,
            "--case",
            case,
            "--plugins",
            w.real_plugins()
        );
        assert_code(&out, 0);
        let log = log(&case);
        let names: Vec<&str> = actions(&log, "file_extracted")
            .iter()
            .map(|e| e["details"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, members, "{file}");

        // GNU tar, an independent implementation, unpacks the same bytes.
        let gnu = w.path("gnu");
        std::fs::create_dir_all(&gnu).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&evidence)
            .arg("-C")
            .arg(&gnu)
            .status()
            .unwrap();
        assert!(status.success());
        for member in members {
            let d = &extracted(&log, member)["details"];
            let theirs = sha256_file(&gnu.join(member.trim_start_matches('/')));
            assert_eq!(d["hashes"]["sha256"], theirs.as_str(), "{file}: {member}");
            assert_eq!(sha256_file(&case.join(d["path"].as_str().unwrap())), theirs);
        }
        let evidence_sha = sha256_file(&evidence);
        assert_eq!(
            actions(&log, "evidence_hashed")[0]["details"]["hashes"]["sha256"],
            evidence_sha.as_str()
        );
        assert_code(&exhibit!("verify", case), 0);

        if file == "syslog.tar" {
            // The README's facts: 1247 B, mode 0400, owner kiddi/eng, 2012-07-24.
            let d = &extracted(&log, "syslog")["details"];
            assert_eq!(d["size"], 1247);
            assert_eq!(d["meta"]["mode"].as_u64().unwrap() & 0o7777, 0o400);
            assert_eq!(d["meta"]["user"], "kiddi");
            assert_eq!(d["meta"]["group"], "eng");
            let shown = stdout(&exhibit!("log", case));
            assert!(shown.contains("file files/syslog (1247 bytes)"), "{shown}");
            let mtime = d["meta"]["mtime"]["secs"].as_i64().unwrap();
            assert_eq!(
                mtime / 86_400,
                15_545,
                "2012-07-24 is day 15545 of the epoch"
            );
        }
    }
}
