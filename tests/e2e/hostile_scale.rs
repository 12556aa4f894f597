//! Dumps of extreme shape: 10 000 nested folders (as a tar, and as a
//! folder evidence), 100 000 empty files, names of 10 000 bytes. Each runs
//! to the end within the deadline, puts every file in the case with its
//! bytes, keeps each full original name in the log, and verifies.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures::hostile::OK_CONTENT;
use exhibit_fixtures::hostile_scale as hs;
use exhibit_fixtures::sha256_hex;
use std::time::Instant;

fn tag(name: &[u8]) -> String {
    sha256_hex(name)[..16].to_owned()
}

#[test]
fn ten_thousand_nested_folders_in_a_tar() {
    let start = Instant::now();
    let (_w, o) = extract_hostile("deep.tar", &hs::deep_nesting(), "tar");
    eprintln!("10 000 levels (tar): {:?}", start.elapsed());
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let deep = hs::deep_name();
    let d = &extracted(&o.log, std::str::from_utf8(&deep).unwrap())["details"];
    // The file keeps its readable leaf under a folder named by the hash of
    // its whole original name, which the log keeps.
    assert_eq!(
        d["path"],
        format!("files/%overlong/{}/deep.txt", tag(&deep))
    );
    assert_eq!(d["complete"], true);
    assert_eq!(
        o.content(std::str::from_utf8(&deep).unwrap()),
        hs::DEEP_CONTENT
    );
    assert_eq!(o.content("ok.txt"), OK_CONTENT);
    assert_eq!(actions(&o.log, "file_extracted").len(), 2);
    let dirs = actions(&o.log, "entry_recorded");
    assert_eq!(dirs.len(), hs::DEEP_DIR_ENTRIES);
    // Down to the host's 256-level limit the folders are real and nested;
    // below it each lands in the overflow folder.
    let level = |n: usize| {
        let name = "d/".repeat(n);
        dirs.iter()
            .find(|e| e["details"]["name"] == name.as_str())
            .unwrap_or_else(|| panic!("level {n} not recorded"))["details"]["path"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(level(256), format!("files/{}", ["d"; 256].join("/")));
    assert!(o.case.join(level(256)).is_dir());
    let l257 = "d/".repeat(257);
    assert_eq!(
        level(257),
        format!("files/%overlong/{}/d", tag(l257.as_bytes()))
    );
    assert!(o.case.join(level(300)).is_dir());
}

/// `levels` nested folders `d` below `root`, with `leaf.txt` at the bottom,
/// built without ever naming a path longer than about 2 000 bytes: chains
/// of 1 000 levels are made near the top and moved into one another.
fn deep_folder(root: &std::path::Path, levels: usize, leaf: &[u8]) {
    const CHAIN: usize = 1000;
    assert_eq!(levels % CHAIN, 0);
    let chain = |at: &std::path::Path| {
        let bottom = (0..CHAIN - 1).fold(at.to_owned(), |p, _| p.join("d"));
        std::fs::create_dir_all(&bottom).unwrap();
        bottom
    };
    let built = root.join("built");
    let bottom = chain(&built);
    std::fs::write(bottom.join("leaf.txt"), leaf).unwrap();
    for _ in 1..levels / CHAIN {
        let next = root.join("next");
        let bottom = chain(&next);
        std::fs::rename(&built, bottom.join("d")).unwrap();
        std::fs::rename(&next, &built).unwrap();
    }
    std::fs::create_dir_all(root.join("dump")).unwrap();
    std::fs::rename(&built, root.join("dump/d")).unwrap();
}

#[test]
fn ten_thousand_nested_folders_as_a_folder_evidence() {
    let w = Work::new();
    deep_folder(w.dir.path(), hs::DEEP_LEVELS, hs::DEEP_CONTENT);
    w.write("dump/ok.txt", OK_CONTENT);
    let plugins = w.real_plugins();
    let case = w.path("case");
    let start = Instant::now();
    let out = exhibit!(
        "extract",
        w.path("dump"),
        "--case",
        case,
        "--plugins",
        plugins
    );
    eprintln!("10 000 levels (folder): {:?}", start.elapsed());
    let log = log(&case);
    assert_eq!(log.last().unwrap()["action"], "run_finished");
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        "folder"
    );
    assert_eq!(
        std::fs::read(
            case.join(
                extracted(&log, "ok.txt")["details"]["path"]
                    .as_str()
                    .unwrap()
            )
        )
        .unwrap(),
        OK_CONTENT
    );
    let leaf = format!("{}leaf.txt", "d/".repeat(hs::DEEP_LEVELS));
    match actions(&log, "file_extracted")
        .iter()
        .find(|e| e["details"]["name"] == leaf.as_str())
    {
        Some(e) => {
            assert_code(&out, 0);
            assert_eq!(
                e["details"]["path"],
                format!("files/%overlong/{}/leaf.txt", tag(leaf.as_bytes()))
            );
            assert_eq!(
                e["details"]["hashes"]["sha256"],
                sha256_hex(hs::DEEP_CONTENT)
            );
        }
        None => {
            // Linux cannot name a path past PATH_MAX (4 096 bytes): one
            // error names the folder where the walk had to stop, and every
            // level above it is recorded.
            assert_code(&out, 2);
            let errors: Vec<&str> = actions(&log, "error")
                .iter()
                .map(|e| e["details"]["message"].as_str().unwrap())
                .collect();
            assert_eq!(errors.len(), 1, "{errors:?}");
            let dump = w.path("dump").canonicalize().unwrap();
            let stopped = errors[0]
                .strip_prefix(&format!("cannot read the metadata of {}/", dump.display()))
                .and_then(|m| m.strip_suffix(": File name too long (os error 36)"))
                .unwrap_or_else(|| panic!("{}", &errors[0][..200]));
            assert!(stopped.split('/').all(|c| c == "d"), "{stopped}");
            let depth = stopped.split('/').count();
            assert!(
                dump.as_os_str().len() + 1 + stopped.len() >= 4096,
                "{depth}"
            );
            let dirs = actions(&log, "entry_recorded")
                .iter()
                .filter(|e| e["details"]["kind"] == "dir")
                .count();
            assert_eq!(dirs, depth - 1);
        }
    }
    assert_code(&exhibit!("verify", case), 0);
}

#[test]
fn a_hundred_thousand_empty_files() {
    let w = Work::new();
    let tar = w.write("evidence/many.tar", &hs::many_empty_files());
    let plugins = w.real_plugins();
    let case = w.path("case");
    let start = Instant::now();
    let out = exhibit!("extract", tar, "--case", case, "--plugins", plugins);
    let extract_time = start.elapsed();
    assert_code(&out, 0);
    let log = log(&case);
    let files = actions(&log, "file_extracted");
    assert_eq!(files.len(), hs::MANY_FILES + 1);
    let empty = sha256_hex(b"");
    for (i, e) in files.iter().take(hs::MANY_FILES).enumerate() {
        assert_eq!(e["details"]["name"], hs::many_name(i).as_str());
        assert_eq!(e["details"]["path"], format!("files/{}", hs::many_name(i)));
        assert_eq!(e["details"]["size"], 0);
        assert_eq!(e["details"]["hashes"]["sha256"], empty.as_str());
    }
    assert_eq!(actions(&log, "entry_recorded").len(), hs::MANY_DIRS + 1);
    let fin = &log.last().unwrap()["details"];
    assert_eq!(fin["files"], hs::MANY_FILES + 1);
    assert_eq!(fin["errors"], 0);
    assert_eq!(fin["warnings"], 0);
    let on_disk = walkdir::WalkDir::new(case.join("files/many"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    assert_eq!(on_disk, hs::MANY_FILES);
    let start = Instant::now();
    assert_code(&exhibit!("verify", case), 0);
    eprintln!(
        "100 000 empty files: extract {extract_time:?}, verify {:?}",
        start.elapsed()
    );
}

#[test]
fn names_of_ten_thousand_bytes() {
    let (_w, o) = extract_hostile("long-names.tar", &hs::long_names(), "tar");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let component = hs::long_component_name();
    let name = std::str::from_utf8(&component).unwrap();
    let path = extracted(&o.log, name)["details"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let leaf = path.strip_prefix("files/").unwrap();
    assert_eq!(leaf.len(), 255);
    assert_eq!(
        leaf,
        format!("{}~{}.txt", "n".repeat(255 - 21), tag(&component))
    );
    assert_eq!(o.content(name), hs::LONG_COMPONENT_CONTENT);

    let long_path = hs::long_path_name();
    let name = std::str::from_utf8(&long_path).unwrap();
    let leaf = name.rsplit('/').next().unwrap();
    assert_eq!(
        extracted(&o.log, name)["details"]["path"],
        format!("files/%overlong/{}/{leaf}", tag(&long_path))
    );
    assert_eq!(o.content(name), hs::LONG_PATH_CONTENT);
    assert_eq!(o.content("ok.txt"), OK_CONTENT);
}
