//! Shared helpers: the real `exhibit` binary, the real plugin libraries
//! from the build folder, and a temporary workspace per test.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `exhibit` binary cargo built for these tests.
pub fn exhibit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_exhibit"))
}

/// The build folder holding the binary and the plugin libraries.
pub fn build_dir() -> PathBuf {
    exhibit_bin()
        .parent()
        .expect("binary has a folder")
        .to_owned()
}

/// The file name of a library called `stem` on this platform.
pub fn lib_name(stem: &str) -> String {
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// A built library of this workspace, e.g. `exhibit_format_tar`.
pub fn built_lib(stem: &str) -> PathBuf {
    let path = build_dir().join(lib_name(stem));
    assert!(
        path.is_file(),
        "{} is not built; build the plugins first: `cargo build --workspace && cargo test --workspace` (the README's test command)",
        path.display()
    );
    path
}

/// A temporary folder holding one test's evidence, plugins and cases.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        Work {
            dir: tempfile::Builder::new()
                .prefix("exhibit-e2e-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file and returns its path.
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, data).expect("write");
        path
    }

    /// A plugin folder holding copies of the given built libraries, each
    /// under the `libexhibit_*` name the host loads.
    pub fn plugin_dir(&self, libs: &[(&str, &str)]) -> PathBuf {
        let dir = self.path("plugins");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (stem, as_stem) in libs {
            std::fs::copy(built_lib(stem), dir.join(lib_name(as_stem))).expect("copy plugin");
        }
        dir
    }

    /// The real format plugins only.
    pub fn real_plugins(&self) -> PathBuf {
        self.plugin_dir(&[
            ("exhibit_format_tar", "exhibit_format_tar"),
            ("exhibit_format_folder", "exhibit_format_folder"),
            ("exhibit_format_zip", "exhibit_format_zip"),
        ])
    }
}

/// How long one `exhibit` command of a test may take before it counts as a
/// hang: generous for an unoptimised build on a loaded machine, and
/// overridable with `EXHIBIT_TEST_DEADLINE_SECS`.
pub fn deadline() -> std::time::Duration {
    let secs = std::env::var("EXHIBIT_TEST_DEADLINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    std::time::Duration::from_secs(secs)
}

/// Runs `exhibit` with `args`, no terminal, no user settings, bounded by
/// [`deadline`].
pub fn run(args: &[&std::ffi::OsStr]) -> Output {
    run_env(args, &[], deadline())
}

/// Runs `exhibit` with `args` and the extra environment `env`; a command
/// still running after `limit` is killed and the test fails, naming it (a
/// hang is a bug, never a slow pass).
pub fn run_env(
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> Output {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(exhibit_bin());
    cmd.args(args)
        .env_remove("EXHIBIT_PLUGIN_PATH")
        .env_remove("EXHIBIT_PASSWORD")
        .env("XDG_CONFIG_HOME", home.path())
        .env("HOME", home.path())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run exhibit");
    // Drained on their own threads, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for exhibit") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "exhibit {args:?} still running after {limit:?}: killed (a hang)\n--- stderr\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Convenience: `run` with `&str`/`Path` arguments.
#[macro_export]
macro_rules! exhibit {
    ($($arg:expr),* $(,)?) => {
        $crate::util::run(&[$(::std::ffi::OsStr::new(&$arg)),*])
    };
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, printing both streams when it differs.
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Every entry of a case's custody log.
pub fn log(case: &Path) -> Vec<Value> {
    std::fs::read_to_string(case.join("custody.jsonl"))
        .expect("custody log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("log line is JSON"))
        .collect()
}

/// The entries with `action`.
pub fn actions<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["action"] == action).collect()
}

/// The `file_extracted` entry whose original name is `name`.
pub fn extracted<'a>(log: &'a [Value], name: &str) -> &'a Value {
    log.iter()
        .find(|e| e["action"] == "file_extracted" && e["details"]["name"] == name)
        .unwrap_or_else(|| panic!("no file_extracted entry for {name:?}"))
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

/// Every file below `root`, relative, sorted.
pub fn files_below(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

/// A digest from coreutils (`md5sum`, `sha1sum`): an implementation
/// independent of exhibit's.
pub fn coreutils_digest(tool: &str, data: &[u8]) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("coreutils digest");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("feed digest");
    let out = child.wait_with_output().expect("digest output");
    let text = String::from_utf8(out.stdout).expect("hex digest");
    text.split_whitespace().next().expect("a digest").to_owned()
}

/// What extracting one hostile dump gave.
pub struct Hostile {
    pub code: Option<i32>,
    pub stderr: String,
    pub log: Vec<Value>,
    pub case: PathBuf,
}

impl Hostile {
    /// The bytes extracted for the entry originally named `name`.
    pub fn content(&self, name: &str) -> Vec<u8> {
        let path = extracted(&self.log, name)["details"]["path"]
            .as_str()
            .expect("a case path")
            .to_owned();
        std::fs::read(self.case.join(path)).expect("extracted file")
    }
}

/// Extracts the hostile dump `file` (content `data`) inside a fresh folder
/// and checks the universal promises: the expected plugin decoded it,
/// nothing was written outside the case, no link was created, the log is
/// closed and the case verifies.
pub fn extract_hostile(file: &str, data: &[u8], plugin: &str) -> (Work, Hostile) {
    let w = Work::new();
    let evidence = w.write(&format!("evidence/{file}"), data);
    let plugins = w.real_plugins();
    let before = files_below(w.dir.path());
    let case = w.path("cases/deep/case");
    let out = run(&[
        std::ffi::OsStr::new("extract"),
        evidence.as_os_str(),
        std::ffi::OsStr::new("--case"),
        case.as_os_str(),
        std::ffi::OsStr::new("--plugins"),
        plugins.as_os_str(),
    ]);
    let after: Vec<String> = files_below(w.dir.path())
        .into_iter()
        .filter(|p| !p.starts_with("cases/deep/case/"))
        .collect();
    assert_eq!(
        before, after,
        "{file}: something was written outside the case folder"
    );
    for e in walkdir::WalkDir::new(&case) {
        assert!(
            !e.expect("walk").path_is_symlink(),
            "{file}: a link was created in the case"
        );
    }
    let log = log(&case);
    assert_eq!(
        log.last().expect("entries")["action"],
        "run_finished",
        "{file}: log not closed"
    );
    assert_eq!(
        actions(&log, "plugin_selected")[0]["details"]["plugin"],
        plugin,
        "{file}"
    );
    assert_code(&run(&[std::ffi::OsStr::new("verify"), case.as_os_str()]), 0);
    let hostile = Hostile {
        code: out.status.code(),
        stderr: stderr(&out),
        log,
        case,
    };
    (w, hostile)
}

/// The Android fixture's directories and symlinks are recorded in the log,
/// with `sdcard`'s target, and no link exists anywhere in the case.
pub fn assert_tree_entries_recorded(log: &[Value], case: &Path) {
    use exhibit_fixtures as fx;
    let recorded = actions(log, "entry_recorded");
    let count = |kind: &str| {
        recorded
            .iter()
            .filter(|e| e["details"]["kind"] == kind)
            .count()
    };
    assert_eq!(count("dir"), fx::DIR_COUNT);
    assert_eq!(count("symlink"), fx::SYMLINK_COUNT);
    let sdcard = recorded
        .iter()
        .find(|e| e["details"]["name"] == fx::SDCARD_LINK.0)
        .expect("sdcard recorded");
    assert_eq!(sdcard["details"]["meta"]["link_target"], fx::SDCARD_LINK.1);
    assert!(!case.join("files/sdcard").exists());
    for e in walkdir::WalkDir::new(case) {
        assert!(
            !e.expect("walk").path_is_symlink(),
            "no symlink may be created in a case"
        );
    }
}

/// Every file of the Android fixture is logged complete, with the size and
/// SHA-256 of the generator's truth, the file on disk hashes the same, and
/// its MD5 and SHA-1 (the runs ask for them) equal coreutils' digests.
pub fn assert_files_match_truth(log: &[Value], case: &Path) {
    use exhibit_fixtures as fx;
    assert_eq!(actions(log, "file_extracted").len(), fx::FILE_COUNT);
    let tree = fx::android_tree().expect("tree");
    for truth in fx::expected_files().expect("truth") {
        let d = &extracted(log, &truth.path)["details"];
        assert_eq!(
            d["hashes"]["sha256"],
            truth.sha256.as_str(),
            "{}",
            truth.path
        );
        assert_eq!(d["size"], truth.size, "{}", truth.path);
        assert_eq!(d["complete"], true);
        let on_disk = case.join(d["path"].as_str().expect("a case path"));
        assert_eq!(sha256_file(&on_disk), truth.sha256, "{}", on_disk.display());
        let content = tree
            .iter()
            .find(|e| e.path == truth.path)
            .and_then(|e| e.content())
            .expect("a file of the tree");
        assert_eq!(d["hashes"]["md5"], coreutils_digest("md5sum", content));
        assert_eq!(d["hashes"]["sha1"], coreutils_digest("sha1sum", content));
    }
}

/// The generated Android FFS tar (the bundled fixture's twin) extracted with
/// the real tar plugin and android decoder into `w/case`, MD5 and SHA-256 on, with an examiner and
/// a case number: the case the report and export tests read.
pub fn fixture_case(w: &Work) -> PathBuf {
    let tar = w.path("android-ffs.tar");
    exhibit_fixtures::write_tar(&tar).expect("fixture tar");
    let plugins = w.plugin_dir(&[
        ("exhibit_format_tar", "exhibit_format_tar"),
        ("exhibit_artifacts_android", "exhibit_artifacts_android"),
    ]);
    let case = w.path("case");
    let out = crate::exhibit!(
        "extract",
        tar,
        "--case",
        case,
        "--plugins",
        plugins,
        "--examiner",
        "E. Xaminer",
        "--case-number",
        "2026-0042",
        "--hash",
        "md5"
    );
    assert_code(&out, 0);
    case
}

/// `exhibit export CASE --format FORMAT --out OUT` under the host time zone
/// `tz`: the export tests make each output twice, under two zones, outside
/// the case (so its log is not appended between the two).
pub fn export_to(case: &Path, format: &str, out: &Path, tz: &str) {
    let o = run_env(
        &[
            std::ffi::OsStr::new("export"),
            case.as_os_str(),
            std::ffi::OsStr::new("--format"),
            std::ffi::OsStr::new(format),
            std::ffi::OsStr::new("--out"),
            out.as_os_str(),
        ],
        &[("TZ", tz)],
        deadline(),
    );
    assert_code(&o, 0);
}

/// Runs the Python `script` with `args` and reads the JSON it prints:
/// python3 is on every machine CI runs on, and its parsers (expat, csv)
/// are independent of exhibit's writers.
pub fn python_json(script: &str, args: &[&Path]) -> Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed by this test (it parses the export independently of exhibit)");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}
