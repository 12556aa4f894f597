//! Unit tests of the folder walk, on real temporary folders served by the
//! SDK's in-process host.
// Test fixtures compute sizes and paths freely.
#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use super::*;
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, run_safe};
use exhibit_plugin_sdk::{EvidenceInfo, HostServices};
use std::fs;
use std::path::Path;

fn walk(root: &Path) -> (Status, Transcript) {
    let host = MemoryHost::folder(root);
    let status = run_safe::<Folder>(&host);
    (status, host.take_transcript())
}

fn names(t: &Transcript) -> Vec<String> {
    t.entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name.0).into_owned())
        .collect()
}

#[test]
fn probe_is_low_for_any_folder_and_zero_for_a_file() {
    let folder = Probe {
        head: b"",
        name: b"/evidence/phone",
        size: 0,
        is_dir: true,
    };
    let file = Probe {
        head: b"PK\x03\x04",
        name: b"dump.zip",
        size: 4,
        is_dir: false,
    };
    assert_eq!(Folder.probe(&folder), 10);
    assert_eq!(Folder.probe(&file), 0);
}

#[cfg(unix)]
#[test]
fn nested_tree_is_walked_depth_first_in_name_order() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/c.txt"), b"deep").unwrap();
    fs::set_permissions(root.join("a/b/c.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(root.join("empty.bin"), b"").unwrap();
    std::os::unix::fs::symlink("a/b/c.txt", root.join("link")).unwrap();
    fs::write(root.join("z.txt"), b"zed").unwrap();

    let (status, t) = walk(root);

    assert_eq!(status, Status::OK);
    assert_eq!(
        names(&t),
        ["a", "a/b", "a/b/c.txt", "empty.bin", "link", "z.txt"]
    );
    assert_eq!(t.problems().len(), 0);
    let c = t.entry(b"a/b/c.txt").unwrap();
    assert_eq!(c.meta["kind"], "file");
    assert_eq!(c.meta["size"], 4);
    assert_eq!(c.meta["mode"].as_u64().unwrap() & 0o7777, 0o640);
    assert!(c.meta["mtime"]["secs"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(c.meta.get("offset"), None);
    assert_eq!(c.data, b"deep");
    assert_eq!(c.status, "ok");
    assert_eq!(c.note, "");
    let empty = t.entry(b"empty.bin").unwrap();
    assert_eq!(
        (empty.meta["size"].as_u64(), empty.data.len()),
        (Some(0), 0)
    );
    assert_eq!(empty.status, "ok");
    let link = t.entry(b"link").unwrap();
    assert_eq!(link.meta["kind"], "symlink");
    assert_eq!(link.meta["link_target"], "a/b/c.txt");
    assert!(link.data.is_empty());
    assert_eq!(t.entry(b"a/b").unwrap().meta["kind"], "dir");
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_delivered_raw() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
    fs::create_dir(tmp.path().join(name)).unwrap();
    fs::write(tmp.path().join(name).join("menu.txt"), b"x").unwrap();
    fs::write(
        tmp.path()
            .join(name)
            .join(std::ffi::OsStr::from_bytes(b"\x01\xfe")),
        b"ctl",
    )
    .unwrap();

    let (status, t) = walk(tmp.path());

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.problems().len(), 0);
    assert_eq!(t.entries[0].name.0, b"caf\xe9");
    assert_eq!(t.entries[1].name.0, b"caf\xe9/\x01\xfe");
    assert_eq!(t.entries[1].data, b"ctl");
    assert_eq!(t.entries[2].name.0, b"caf\xe9/menu.txt");
}

#[test]
fn deep_nesting_is_walked_without_recursion() {
    const DEPTH: usize = 300;
    let tmp = tempfile::tempdir().unwrap();
    let mut deepest = tmp.path().to_path_buf();
    for _ in 0..DEPTH {
        deepest.push("d");
    }
    fs::create_dir_all(&deepest).unwrap();
    fs::write(deepest.join("leaf"), b"bottom").unwrap();

    let (status, t) = walk(tmp.path());

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), DEPTH + 1);
    assert_eq!(t.problems().len(), 0);
    let leaf_name = format!("{}leaf", "d/".repeat(DEPTH));
    let leaf = t.entries.last().unwrap();
    assert_eq!(leaf.name.0, leaf_name.as_bytes());
    assert_eq!(leaf.data, b"bottom");
    assert_eq!(leaf.status, "ok");
    assert_eq!(t.entries[DEPTH - 1].name.0.len(), 2 * DEPTH - 1);
}

/// chmod 000 stops an unprivileged reader only: root (or a process with
/// CAP_DAC_OVERRIDE, as in many CI containers) reads the file anyway, so
/// the assertions on the failures are skipped when the file stays readable.
#[cfg(unix)]
#[test]
fn unreadable_file_and_folder_are_reported_and_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("a.txt"), b"a").unwrap();
    fs::write(root.join("secret.bin"), b"s").unwrap();
    fs::create_dir(root.join("locked")).unwrap();
    fs::write(root.join("locked/inner.txt"), b"i").unwrap();
    fs::write(root.join("z.txt"), b"z").unwrap();
    fs::set_permissions(root.join("secret.bin"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let privileged = fs::read(root.join("secret.bin")).is_ok();

    let (status, t) = walk(root);

    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(status, Status::OK);
    if privileged {
        eprintln!("running privileged: chmod 000 does not block reads, failure checks skipped");
        assert_eq!(t.entries.len(), 5);
        return;
    }
    assert_eq!(names(&t), ["a.txt", "locked", "z.txt"]);
    let problems = t.problems();
    assert_eq!(problems.len(), 2);
    assert_eq!(
        problems[0].message,
        "read failed: cannot list locked: i/o error"
    );
    assert_eq!(
        problems[1].message,
        "read failed: cannot open secret.bin: i/o error"
    );
    assert_eq!(problems[1].level, "error");
}

/// A host that fails on purpose, whatever the privileges of the test: file
/// reads fail after the first 4 bytes when `short_reads` is set, and the
/// paths in `refuse` cannot be opened or listed.
struct FlakyHost {
    inner: MemoryHost,
    short_reads: bool,
    refuse: &'static [&'static [u8]],
}

impl HostServices for FlakyHost {
    fn evidence(&self) -> &EvidenceInfo {
        self.inner.evidence()
    }
    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        if !self.short_reads {
            return self.inner.read_at(handle, offset, buf);
        }
        if offset >= 4 {
            return Err(Status::IO);
        }
        let n = buf.len().min(4 - offset as usize);
        self.inner.read_at(handle, offset, &mut buf[..n])
    }
    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        if self.refuse.contains(&path) {
            return Status::IO;
        }
        self.inner.list_dir(path, visit)
    }
    fn open(&self, path: &[u8]) -> Result<u64, Status> {
        if self.refuse.contains(&path) {
            return Err(Status::IO);
        }
        self.inner.open(path)
    }
    fn close(&self, handle: u64) -> Status {
        self.inner.close(handle)
    }
    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status> {
        self.inner.begin_file(name, meta_json)
    }
    fn write(&self, file: u64, data: &[u8]) -> Status {
        self.inner.write(file, data)
    }
    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status {
        self.inner.end_file(file, status, note)
    }
    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        self.inner.emit_record(kind, record_json)
    }
    fn log(&self, level: u32, status: Status, offset: u64, msg: &[u8]) {
        self.inner.log(level, status, offset, msg)
    }
    fn is_cancelled(&self) -> bool {
        false
    }
}

#[test]
fn read_error_mid_file_fails_that_file_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("big.bin"), b"0123456789").unwrap();
    fs::write(tmp.path().join("small.txt"), b"ok").unwrap();
    let host = FlakyHost {
        inner: MemoryHost::folder(tmp.path()),
        short_reads: true,
        refuse: &[],
    };

    let result = Folder.run(&Session::new(&host));

    assert_eq!(result, Ok(()));
    let t = host.inner.take_transcript();
    assert_eq!(t.entries.len(), 2);
    assert_eq!(t.problems().len(), 1);
    let big = t.entry(b"big.bin").unwrap();
    assert_eq!(big.data, b"0123");
    assert_eq!(big.status, "i/o error");
    assert_eq!(big.note, "read failed at offset 0x4: i/o error");
    assert_eq!(big.meta["size"], 10);
    assert_eq!(
        t.problems()[0].message,
        "read failed: big.bin at offset 0x4 of the file: i/o error"
    );
    assert_eq!(t.entry(b"small.txt").unwrap().data, b"ok");
    assert_eq!(t.entry(b"small.txt").unwrap().status, "ok");
}

#[test]
fn a_file_as_evidence_is_refused() {
    let (status, t) = exhibit_plugin_sdk::testing::decode::<Folder>("x.bin", b"data".to_vec());
    assert_eq!(status, Status::IO);
    assert_eq!(t.entries.len(), 0);
    assert_eq!(t.problems().len(), 1);
    assert_eq!(
        t.problems()[0].message,
        "read failed: cannot list : invalid call"
    );
}

#[test]
fn open_and_list_failures_are_reported_and_the_walk_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("a.txt"), b"a").unwrap();
    fs::write(root.join("secret.bin"), b"s").unwrap();
    fs::create_dir(root.join("locked")).unwrap();
    fs::write(root.join("locked/inner.txt"), b"i").unwrap();
    fs::write(root.join("z.txt"), b"z").unwrap();
    let host = FlakyHost {
        inner: MemoryHost::folder(root),
        short_reads: false,
        refuse: &[b"secret.bin", b"locked"],
    };

    let result = Folder.run(&Session::new(&host));

    assert_eq!(result, Ok(()));
    let t = host.inner.take_transcript();
    assert_eq!(names(&t), ["a.txt", "locked", "z.txt"]);
    let problems = t.problems();
    assert_eq!(problems.len(), 2);
    assert_eq!(
        problems[0].message,
        "read failed: cannot list locked: i/o error"
    );
    assert_eq!(problems[0].level, "error");
    assert_eq!(problems[0].status, "i/o error");
    assert_eq!(problems[0].offset, None);
    assert_eq!(
        problems[1].message,
        "read failed: cannot open secret.bin: i/o error"
    );
}

/// A host serving a synthetic chain of `depth` nested folders named `d`
/// with a file `f` at the bottom, counting what is delivered without
/// keeping it (the names alone would take O(depth²) bytes).
struct ChainHost {
    evidence: EvidenceInfo,
    depth: usize,
    ended: std::sync::Mutex<(usize, usize)>,
}

impl HostServices for ChainHost {
    fn evidence(&self) -> &EvidenceInfo {
        &self.evidence
    }
    fn read_at(&self, _: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        let data = b"bottom";
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        let level = if path.is_empty() {
            0
        } else {
            path.split(|&b| b == b'/').count()
        };
        if level < self.depth {
            visit(b"d", br#"{"kind":"dir"}"#);
        } else {
            visit(b"f", br#"{"kind":"file","size":6}"#);
        }
        Status::OK
    }
    fn open(&self, _: &[u8]) -> Result<u64, Status> {
        Ok(1)
    }
    fn close(&self, _: u64) -> Status {
        Status::OK
    }
    fn begin_file(&self, name: &[u8], _: &[u8]) -> Result<u64, Status> {
        let mut ended = self.ended.lock().unwrap();
        ended.1 = ended.1.max(name.len());
        Ok(2)
    }
    fn write(&self, _: u64, _: &[u8]) -> Status {
        Status::OK
    }
    fn end_file(&self, _: u64, _: Status, _: &[u8]) -> Status {
        self.ended.lock().unwrap().0 += 1;
        Status::OK
    }
    fn emit_record(&self, _: &[u8], _: &[u8]) -> Status {
        Status::OK
    }
    fn log(&self, _: u32, _: Status, _: u64, msg: &[u8]) {
        panic!("unexpected log: {}", String::from_utf8_lossy(msg));
    }
    fn is_cancelled(&self) -> bool {
        false
    }
}

#[test]
fn ten_thousand_levels_through_a_synthetic_host() {
    const DEPTH: usize = 10_000;
    let host = ChainHost {
        evidence: EvidenceInfo {
            name: b"chain".to_vec(),
            size: 0,
            is_dir: true,
            threads: 1,
        },
        depth: DEPTH,
        ended: std::sync::Mutex::new((0, 0)),
    };

    let result = Folder.run(&Session::new(&host));

    assert_eq!(result, Ok(()));
    let (entries, longest) = *host.ended.lock().unwrap();
    assert_eq!(entries, DEPTH + 1);
    // "d/" * DEPTH + "f"
    assert_eq!(longest, 2 * DEPTH + 1);
}
