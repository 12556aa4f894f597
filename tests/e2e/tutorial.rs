//! Follows the README's "Write a plugin" section literally: runs its shell
//! blocks and writes its files in a folder outside the workspace, then
//! checks that exhibit loaded the new plugin and extracted with it.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The README's tutorial blocks: `(kind, name, body)` for each fenced block
/// preceded by `<!-- tutorial: KIND NAME -->`.
fn tutorial_blocks(readme: &str) -> Vec<(String, String, String)> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("<!-- tutorial: ") {
        rest = &rest[start + "<!-- tutorial: ".len()..];
        let end = rest.find(" -->").expect("marker closes");
        let (kind, name) = rest[..end].split_once(' ').expect("kind and name");
        let fence = rest.find("```").expect("a fenced block follows");
        let body_start = fence + rest[fence..].find('\n').expect("fence line") + 1;
        let body_len = rest[body_start..].find("```").expect("fence closes");
        blocks.push((
            kind.to_owned(),
            name.to_owned(),
            rest[body_start..body_start + body_len].to_owned(),
        ));
        rest = &rest[body_start + body_len..];
    }
    blocks
}

fn shell(script: &str, dir: &Path) -> std::process::Output {
    let path = format!(
        "{}:{}",
        build_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("EXHIBIT_PLUGIN_PATH")
        .output()
        .unwrap()
}

#[test]
fn readme_plugin_tutorial_builds_loads_and_extracts() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = tutorial_blocks(&readme);
    let kinds: Vec<(&str, &str)> = blocks
        .iter()
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("shell", "new"),
            ("file", "Cargo.toml"),
            ("file", "src/lib.rs"),
            ("shell", "run")
        ]
    );

    // "this repository is checked out as exhibit/ beside your new folder"
    let w = Work::new();
    std::os::unix::fs::symlink(std::fs::canonicalize(&repo).unwrap(), w.path("exhibit")).unwrap();
    let crate_dir = w.path("exhibit-format-listing");
    for (kind, name, body) in &blocks {
        match kind.as_str() {
            "shell" => {
                let dir = if name == "new" {
                    w.dir.path()
                } else {
                    crate_dir.as_path()
                };
                let out = shell(body, dir);
                assert!(
                    out.status.success(),
                    "tutorial step `{name}` failed\n--- stdout\n{}\n--- stderr\n{}",
                    stdout(&out),
                    stderr(&out)
                );
                if name == "run" {
                    let text = stdout(&out);
                    assert!(text.contains("listing"), "exhibit plugins lists it: {text}");
                    assert!(text.contains("extraction complete"), "{text}");
                    assert!(text.contains("verified: every file"), "{text}");
                }
            }
            "file" => std::fs::write(crate_dir.join(name), body).unwrap(),
            other => panic!("unknown tutorial block kind {other}"),
        }
    }

    let case = crate_dir.join("sample-case");
    let log = log(&case);
    let loaded = actions(&log, "plugin_loaded");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0]["details"]["name"], "listing");
    let lib = crate_dir
        .join("target/release")
        .join(lib_name("exhibit_format_listing"));
    assert_eq!(loaded[0]["details"]["sha256"], sha256_file(&lib));
    let hello = &extracted(&log, "hello.txt")["details"];
    assert_eq!(
        hello["hashes"]["sha256"],
        exhibit_fixtures::sha256_hex(b"Hello, world")
    );
    assert_eq!(hello["meta"]["offset"], 15);
    let todo = &extracted(&log, "notes/todo.txt")["details"];
    assert_eq!(
        std::fs::read(case.join(todo["path"].as_str().unwrap())).unwrap(),
        b"call Bob"
    );
}
