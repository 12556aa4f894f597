//! Unit tests of the tar decoder: well-formed archives built with the `tar`
//! crate, hostile ones crafted byte by byte.
// Test fixtures compute sizes and offsets freely.
#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use super::*;
use exhibit_plugin_sdk::testing::{MemoryHost, Transcript, decode};
use exhibit_plugin_sdk::{EvidenceInfo, FormatPlugin, HostServices, Probe};
use serde_json::json;
use std::io::BufReader;

/// The tar plugin as the `tar` crate builds it: the engine over the evidence.
#[derive(Default)]
struct Tar;

impl FormatPlugin for Tar {
    const NAME: &'static str = "tar";
    const VERSION: &'static str = "test";
    const DESCRIPTION: &'static str = "the tar engine over the evidence";

    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.is_dir {
            return 0;
        }
        match header_confidence(probe.head) {
            0 if probe.has_extension("tar") => 10,
            score => score,
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let evidence = BufReader::with_capacity(READ_AHEAD, session.evidence_reader());
        TarStream::new()
            .total(session.evidence().size)
            .decode(session, evidence)
            .map(|_| ())
    }
}

const MTIME_1700000000: u64 = 1_700_000_000;

/// A ustar header with a correct checksum: mode 0644, uid 1000, gid 100,
/// mtime 1 700 000 000, owner alice:staff.
fn header(name: &[u8], typeflag: u8, size: u64) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[..name.len()].copy_from_slice(name);
    put(&mut b, MODE, b"0000644\0");
    put(&mut b, UID, b"0001750\0");
    put(&mut b, GID, b"0000144\0");
    put(&mut b, SIZE, format!("{size:011o}\0").as_bytes());
    put(
        &mut b,
        MTIME,
        format!("{MTIME_1700000000:011o}\0").as_bytes(),
    );
    b[TYPEFLAG] = typeflag;
    put(&mut b, MAGIC, b"ustar\x0000");
    put(&mut b, UNAME, b"alice");
    put(&mut b, GNAME, b"staff");
    seal(&mut b);
    b
}

fn put(b: &mut [u8; BLOCK], range: Range<usize>, value: &[u8]) {
    b[range.start..range.start + value.len()].copy_from_slice(value);
}

/// Writes the correct (unsigned) checksum.
fn seal(b: &mut [u8; BLOCK]) {
    b[CHKSUM].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[CHKSUM].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A header followed by its data, padded to a block boundary.
fn member(header: [u8; BLOCK], data: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    out
}

fn file(name: &[u8], data: &[u8]) -> Vec<u8> {
    member(header(name, b'0', data.len() as u64), data)
}

/// A pax record with its length prefix.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body_len + 1;
    while format!("{len}").len() + body_len != len {
        len += 1;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn pax_header(typeflag: u8, records: &[(&str, &[u8])]) -> Vec<u8> {
    let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
    member(header(b"PaxHeaders/x", typeflag, data.len() as u64), &data)
}

fn end() -> Vec<u8> {
    vec![0; 2 * BLOCK]
}

fn run(parts: &[Vec<u8>]) -> (Status, Transcript) {
    decode::<Tar>("evidence.tar", parts.concat())
}

fn names(t: &Transcript) -> Vec<Vec<u8>> {
    t.entries.iter().map(|e| e.name.0.clone()).collect()
}

fn messages(t: &Transcript) -> Vec<(&'static str, Option<u64>, String)> {
    t.problems()
        .iter()
        .map(|l| (l.level, l.offset, l.message.clone()))
        .collect()
}

fn probe(head: &[u8], name: &[u8]) -> u8 {
    Tar.probe(&Probe {
        head,
        name,
        size: head.len() as u64,
        is_dir: false,
    })
}

#[test]
fn probe_scores() {
    let good = header(b"a.txt", b'0', 0);
    assert_eq!(probe(&good, b"x.bin"), 100);
    let mut bad = good;
    bad[0] = b'b';
    assert_eq!(probe(&bad, b"x.bin"), 40);
    let mut v7 = good;
    v7[MAGIC].fill(0);
    v7[UNAME].fill(0);
    v7[GNAME].fill(0);
    seal(&mut v7);
    assert_eq!(probe(&v7, b"x.bin"), 60);
    assert_eq!(probe(&[0; 1024], b"empty.TAR"), 10);
    assert_eq!(probe(b"short", b"x.tar"), 10);
    assert_eq!(probe(&[0x41; 1024], b"x.bin"), 0);
    let dir = Probe {
        head: b"",
        name: b"x.tar",
        size: 0,
        is_dir: true,
    };
    assert_eq!(Tar.probe(&dir), 0);
}

fn builder_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(100);
    h.set_mtime(MTIME_1700000000);
    h.set_size(size);
    h.set_username("alice").unwrap();
    h.set_groupname("staff").unwrap();
    h
}

#[test]
fn ustar_file_dir_symlink_hardlink() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = builder_header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, "sdcard", std::io::empty()).unwrap();
    let mut h = builder_header(tar::EntryType::Regular, 0o640, 5);
    b.append_data(&mut h, "sdcard/notes.txt", &b"hello"[..])
        .unwrap();
    let mut h = builder_header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, "sdcard/latest", "notes.txt").unwrap();
    let mut h = builder_header(tar::EntryType::Link, 0o640, 0);
    b.append_link(&mut h, "sdcard/copy", "sdcard/notes.txt")
        .unwrap();
    let (status, t) = decode::<Tar>("a.tar", b.into_inner().unwrap());

    assert_eq!(status, Status::OK);
    assert_eq!(
        names(&t),
        [
            &b"sdcard"[..],
            b"sdcard/notes.txt",
            b"sdcard/latest",
            b"sdcard/copy"
        ]
    );
    assert_eq!(t.problems().len(), 0);
    let notes = t.entry(b"sdcard/notes.txt").unwrap();
    assert_eq!(
        notes.meta,
        json!({
            "kind": "file",
            "size": 5,
            "mode": 0o640,
            "uid": 1000,
            "gid": 100,
            "user": "alice",
            "group": "staff",
            "mtime": {"secs": 1_700_000_000, "nanos": 0},
            "offset": 512,
            "extra": {"format": "ustar", "typeflag": "0"},
        })
    );
    assert_eq!(notes.data, b"hello");
    assert_eq!((notes.status.as_str(), notes.note.as_str()), ("ok", ""));
    assert_eq!(t.entries[0].meta["kind"], "dir");
    assert_eq!(t.entries[0].meta["mode"], 0o755);
    assert_eq!(t.entries[2].meta["kind"], "symlink");
    assert_eq!(t.entries[2].meta["link_target"], "notes.txt");
    assert_eq!(t.entries[2].meta["offset"], 1536);
    assert_eq!(t.entries[3].meta["kind"], "hardlink");
    assert_eq!(t.entries[3].meta["link_target"], "sdcard/notes.txt");
    assert!(t.entries.iter().all(|e| e.status == "ok"));
}

#[test]
fn gnu_long_name_and_long_link() {
    let long_dir = "data/data/com.example.with.a.very.long.package.name/".repeat(3);
    let long_name = format!("{long_dir}databases/messages.db");
    let long_target = format!("{long_dir}shared_prefs/settings.xml");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o600);
    h.set_size(3);
    b.append_data(&mut h, &long_name, &b"SQL"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    b.append_link(&mut h, "short-link", &long_target).unwrap();
    let archive = b.into_inner().unwrap();
    // Long name: 'L' header, its data (1 block), the file header, 1 data block.
    let link_at = 512 + 512 + 512 + 512;

    let (status, t) = decode::<Tar>("g.tar", archive);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 2);
    assert_eq!(t.problems().len(), 0);
    let db = &t.entries[0];
    assert_eq!(db.name.0, long_name.as_bytes());
    assert!((101..512).contains(&long_name.len()));
    assert_eq!(db.data, b"SQL");
    assert_eq!(db.meta["offset"], 0);
    assert_eq!(db.meta["extra"], json!({"format": "gnu", "typeflag": "0"}));
    let link = &t.entries[1];
    assert_eq!(link.name.0, b"short-link");
    assert_eq!(link.meta["link_target"], long_target.as_str());
    assert_eq!(link.meta["offset"], link_at);
}

#[test]
fn pax_path_mtime_nanos_ids_and_leftovers() {
    let pax = pax_header(
        b'x',
        &[
            ("path", b"sdcard/DCIM/\xe2\x98\x83/IMG_0001.jpg".as_slice()),
            ("mtime", b"1700000000.123456789"),
            ("atime", b"-1.25"),
            ("uid", b"4242"),
            ("uname", b"bob"),
            ("SCHILY.xattr.user.origin", b"camera"),
            ("SCHILY.xattr.security.capability", b"\x01\x00\xff"),
        ],
    );
    let (status, t) = run(&[pax, file(b"IMG_0001.jpg", b"\xff\xd8"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.problems().len(), 0);
    let img = &t.entries[0];
    assert_eq!(img.name.0, "sdcard/DCIM/☃/IMG_0001.jpg".as_bytes());
    assert_eq!(
        img.meta,
        json!({
            "kind": "file",
            "size": 2,
            "mode": 0o644,
            "uid": 4242,
            "gid": 100,
            "user": "bob",
            "group": "staff",
            "mtime": {"secs": 1_700_000_000, "nanos": 123_456_789},
            "atime": {"secs": -2, "nanos": 750_000_000},
            "offset": 0,
            "extra": {
                "format": "pax",
                "typeflag": "0",
                "pax": {
                    "SCHILY.xattr.security.capability": {"hex": "0100ff"},
                    "SCHILY.xattr.user.origin": "camera",
                },
            },
        })
    );
    assert_eq!(img.data, b"\xff\xd8");
}

#[test]
fn pax_global_applies_to_later_members_and_is_recorded_once() {
    let global = pax_header(
        b'g',
        &[("mtime", b"1600000000.5"), ("comment", b"commit 1234abcd")],
    );
    let local = pax_header(b'x', &[("mtime", b"")]);
    let (status, t) = run(&[global, file(b"a", b"1"), local, file(b"b", b"2"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.problems().len(), 0);
    assert_eq!(t.entries[0].name.0, b"PaxHeaders/x");
    assert_eq!(
        t.entries[0].meta,
        json!({
            "kind": "other",
            "offset": 0,
            "extra": {
                "format": "pax",
                "typeflag": "g",
                "pax": {"mtime": "1600000000.5", "comment": "commit 1234abcd"},
            },
        })
    );
    let a = &t.entries[1];
    assert_eq!(
        a.meta["mtime"],
        json!({"secs": 1_600_000_000, "nanos": 500_000_000})
    );
    assert_eq!(a.meta["extra"]["format"], "pax");
    assert_eq!(a.meta["extra"].get("pax"), None);
    // An empty local value deletes the global one: the header's mtime applies.
    let b = &t.entries[2];
    assert_eq!(b.meta["mtime"], json!({"secs": 1_700_000_000, "nanos": 0}));
}

#[test]
fn ustar_prefix_is_joined_to_the_name() {
    let mut h = header(b"contacts2.db", b'0', 4);
    put(
        &mut h,
        PREFIX,
        b"data/data/com.android.providers.contacts/databases",
    );
    seal(&mut h);
    let (status, t) = run(&[member(h, b"db!!"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.problems().len(), 0);
    assert_eq!(
        t.entries[0].name.0,
        b"data/data/com.android.providers.contacts/databases/contacts2.db"
    );
    assert_eq!(t.entries[0].data, b"db!!");
}

#[test]
fn base256_size_and_negative_mtime() {
    let mut h = header(b"big-endian", b'0', 0);
    h[SIZE].fill(0);
    h[SIZE.start] = 0x80;
    h[SIZE.end - 1] = 3;
    // -1 as base-256: all 0xff.
    h[MTIME].fill(0xff);
    put(&mut h, MAGIC, b"ustar  \0");
    seal(&mut h);
    let (status, t) = run(&[member(h, b"abc"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.problems().len(), 0);
    let e = &t.entries[0];
    assert_eq!(e.data, b"abc");
    assert_eq!(e.meta["size"], 3);
    assert_eq!(e.meta["mtime"], json!({"secs": -1, "nanos": 0}));
    assert_eq!(e.meta["extra"]["format"], "gnu");
}

#[test]
fn bad_checksum_header_is_skipped_by_resynchronising() {
    let first = file(b"first.txt", b"one");
    // A member whose header is damaged: its 2 data blocks are skipped with it.
    let mut damaged = file(b"damaged.txt", &[b'd'; 600]);
    damaged[10] ^= 0x20;
    let damaged_at = first.len() as u64;
    let next_at = damaged_at + damaged.len() as u64;
    let (status, t) = run(&[first, damaged, file(b"last.txt", b"three"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(names(&t), [&b"first.txt"[..], b"last.txt"]);
    assert_eq!(
        messages(&t),
        [
            (
                "error",
                Some(damaged_at),
                "corrupt at offset 0x400: header checksum mismatch (stored 0o12175, computed 0o12135)"
                    .to_owned()
            ),
            (
                "warn",
                Some(damaged_at),
                "skipped 1536 bytes from offset 0x400 to the next valid header at offset 0xa00"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(next_at, 0xa00);
    assert_eq!(t.entry(b"last.txt").unwrap().data, b"three");
    assert_eq!(t.entry(b"last.txt").unwrap().meta["offset"], next_at);
}

#[test]
fn garbage_then_lone_zero_block_then_header_resyncs() {
    let garbage = vec![0x5a; BLOCK];
    let zero = vec![0; BLOCK];
    let (status, t) = run(&[file(b"a", b"1"), garbage, zero, file(b"b", b"2"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(names(&t), [&b"a"[..], b"b"]);
    let problems = messages(&t);
    assert_eq!(problems.len(), 2);
    assert_eq!(
        problems[1].2,
        "skipped 1024 bytes from offset 0x400 to the next valid header at offset 0x800"
    );
}

#[test]
fn truncated_inside_file_data_delivers_what_exists() {
    let mut archive = file(b"whole.txt", b"complete");
    archive.extend_from_slice(&header(b"cut.bin", b'0', 1000));
    archive.extend_from_slice(&[7u8; 300]);
    let (status, t) = decode::<Tar>("t.tar", archive);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 2);
    assert_eq!(
        messages(&t),
        [(
            "error",
            Some(0x400),
            "corrupt at offset 0x400: truncated: data ends at offset 0x72c after 300 of 1000 bytes"
                .to_owned()
        )]
    );
    let cut = &t.entries[1];
    assert_eq!(cut.name.0, b"cut.bin");
    assert_eq!(cut.data, vec![7u8; 300]);
    assert_eq!(cut.status, "corrupt");
    assert_eq!(cut.note, "truncated: 300 of 1000 bytes");
    assert_eq!(cut.meta["size"], 1000);
    assert_eq!(t.entries[0].status, "ok");
}

#[test]
fn size_larger_than_the_evidence_is_a_truncation() {
    let mut archive = header(b"huge.img", b'0', 0o77_777_777_777).to_vec();
    archive.extend_from_slice(b"only this");
    let (status, t) = decode::<Tar>("h.tar", archive);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.problems().len(), 1);
    assert_eq!(t.entries[0].data, b"only this");
    assert_eq!(t.entries[0].note, "truncated: 9 of 8589934591 bytes");
}

#[test]
fn negative_and_non_octal_sizes_are_corrupt_headers() {
    let mut negative = header(b"neg", b'0', 0);
    negative[SIZE].fill(0xff);
    seal(&mut negative);
    let mut text = header(b"text", b'0', 0);
    put(&mut text, SIZE, b"12x45\0");
    seal(&mut text);
    let (status, t) = run(&[
        negative.to_vec(),
        text.to_vec(),
        file(b"ok", b"fine"),
        end(),
    ]);

    assert_eq!(status, Status::OK);
    assert_eq!(names(&t), [b"ok"]);
    assert_eq!(
        messages(&t),
        [
            (
                "error",
                Some(0),
                "corrupt at offset 0x0: negative size (-1)".to_owned()
            ),
            (
                "warn",
                Some(0),
                "skipped 1024 bytes from offset 0x0 to the next valid header at offset 0x400"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn hostile_names_are_delivered_raw_and_duplicates_twice() {
    let (status, t) = run(&[
        file(b"../../etc/passwd", b"root:x:0:0"),
        file(b"/abs/path", b"abs"),
        file(b"dup", b"first"),
        file(b"dup", b"second"),
        file(b"\x1b[31mred\x7f", b"ctl"),
        member(
            {
                let mut h = header(b"evil", b'2', 0);
                put(&mut h, LINKNAME, b"/tmp");
                seal(&mut h);
                h
            },
            b"",
        ),
        file(b"evil/pwned", b"gotcha"),
        end(),
    ]);

    assert_eq!(status, Status::OK);
    assert_eq!(
        names(&t),
        [
            &b"../../etc/passwd"[..],
            b"/abs/path",
            b"dup",
            b"dup",
            b"\x1b[31mred\x7f",
            b"evil",
            b"evil/pwned"
        ]
    );
    assert_eq!(t.problems().len(), 0);
    assert_eq!(t.entries[2].data, b"first");
    assert_eq!(t.entries[3].data, b"second");
    assert_eq!(t.entries[5].meta["kind"], "symlink");
    assert_eq!(t.entries[5].meta["link_target"], "/tmp");
    assert_eq!(t.entries[6].data, b"gotcha");
}

#[test]
fn zero_length_file() {
    let (status, t) = run(&[file(b"empty", b""), file(b"next", b"n"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 2);
    assert_eq!(t.problems().len(), 0);
    let empty = &t.entries[0];
    assert_eq!(empty.meta["size"], 0);
    assert!(empty.data.is_empty());
    assert_eq!(empty.status, "ok");
    assert_eq!(t.entries[1].meta["offset"], 512);
}

#[test]
fn end_of_archive_variants() {
    // No marker at all.
    let (status, t) = run(&[file(b"a", b"1")]);
    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(
        messages(&t),
        [(
            "warn",
            Some(1024),
            "no end-of-archive marker: the evidence ends at offset 0x400".to_owned()
        )]
    );
    // One zero block, then the end: fine.
    let (_, t) = run(&[file(b"a", b"1"), vec![0; BLOCK]]);
    assert_eq!((t.entries.len(), t.problems().len()), (1, 0));
    // Data after the marker is left to the host.
    let (status, t) = run(&[file(b"a", b"1"), end(), file(b"hidden", b"h")]);
    assert_eq!(status, Status::OK);
    assert_eq!((t.entries.len(), t.problems().len()), (1, 0));
    assert_eq!(
        t.logs[0].message,
        "1024 bytes after the end-of-archive marker (offset 0x800) not decoded"
    );
    // A lone zero block between members is stepped over, loudly.
    let (_, t) = run(&[file(b"a", b"1"), vec![0; BLOCK], file(b"b", b"2"), end()]);
    assert_eq!(t.entries.len(), 2);
    assert_eq!(
        messages(&t),
        [(
            "warn",
            Some(1024),
            "lone zero block at offset 0x400, reading on".to_owned()
        )]
    );
    // A header cut short.
    let (_, t) = run(&[file(b"a", b"1"), header(b"b", b'0', 1)[..100].to_vec()]);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(
        messages(&t),
        [(
            "error",
            Some(1024),
            "corrupt at offset 0x400: truncated header: 100 of 512 bytes".to_owned()
        )]
    );
}

#[test]
fn devices_fifo_and_v7_entries() {
    let mut chr = header(b"dev/null", b'3', 0);
    put(&mut chr, DEVMAJOR, b"0000001\0");
    put(&mut chr, DEVMINOR, b"0000003\0");
    seal(&mut chr);
    let mut v7 = header(b"old/", 0, 0);
    v7[MAGIC].fill(0);
    v7[UNAME].fill(0);
    v7[GNAME].fill(0);
    seal(&mut v7);
    let (status, t) = run(&[
        chr.to_vec(),
        header(b"pipe", b'6', 0).to_vec(),
        v7.to_vec(),
        end(),
    ]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.problems().len(), 0);
    assert_eq!(
        t.entries[0].meta,
        json!({
            "kind": "char_device",
            "mode": 0o644,
            "uid": 1000,
            "gid": 100,
            "user": "alice",
            "group": "staff",
            "mtime": {"secs": 1_700_000_000, "nanos": 0},
            "device": [1, 3],
            "offset": 0,
            "extra": {"format": "ustar", "typeflag": "3"},
        })
    );
    assert_eq!(t.entries[1].meta["kind"], "fifo");
    assert_eq!(t.entries[2].meta["kind"], "dir");
    assert_eq!(t.entries[2].meta["extra"]["format"], "v7");
    assert_eq!(t.entries[2].meta.get("user"), None);
}

#[test]
fn gnu_sparse_is_recorded_unsupported_and_skipped() {
    let mut sparse = header(b"sparse.img", b'S', 1024);
    put(&mut sparse, MAGIC, b"ustar  \0");
    put(&mut sparse, GNU_REALSIZE, b"00000100000\0");
    sparse[GNU_ISEXTENDED] = 1;
    seal(&mut sparse);
    // One sparse-map extension block (last: isextended 0), then 2 data blocks.
    let mut archive = sparse.to_vec();
    archive.extend_from_slice(&[0; BLOCK]);
    archive.extend_from_slice(&[0xee; 1024]);
    let (status, t) = run(&[archive, file(b"after", b"ok"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(names(&t), [&b"sparse.img"[..], b"after"]);
    assert_eq!(
        messages(&t),
        [(
            "error",
            None,
            "unsupported: gnu sparse file at offset 0x0 (32768 bytes, 1024 stored): data skipped"
                .to_owned()
        )]
    );
    assert_eq!(t.entries[0].meta["kind"], "other");
    assert_eq!(t.entries[0].meta["extra"]["sparse_real_size"], 32768);
    assert_eq!(t.entries[1].data, b"ok");
    assert_eq!(t.entries[1].meta["offset"], 2048);
}

#[test]
fn multivolume_and_volume_label() {
    let mut label = header(b"backup 2024-01-01", b'V', 0);
    put(&mut label, MAGIC, b"ustar  \0");
    seal(&mut label);
    let mut part = header(b"split.bin", b'M', 3);
    put(&mut part, MAGIC, b"ustar  \0");
    put(&mut part, GNU_OFFSET, b"00000001000\0");
    seal(&mut part);
    let (status, t) = run(&[
        label.to_vec(),
        member(part, b"xyz"),
        file(b"c", b"c"),
        end(),
    ]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.entries[0].meta["extra"]["typeflag"], "V");
    assert_eq!(t.entries[1].meta["extra"]["volume_offset"], 512);
    assert_eq!(
        messages(&t),
        [(
            "error",
            None,
            "unsupported: gnu multi-volume continuation at offset 0x200 (3 bytes from file offset 512): data skipped"
                .to_owned()
        )]
    );
    assert_eq!(t.entries[2].data, b"c");
}

#[test]
fn oversized_long_name_is_corrupt_and_skipped() {
    // Declares 2 MiB, more than the evidence holds: resynchronise.
    let long = header(b"././@LongLink", b'L', 2 << 20);
    let (status, t) = run(&[long.to_vec(), file(b"real", b"r"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(names(&t), [b"real"]);
    assert_eq!(
        messages(&t),
        [
            (
                "error",
                Some(0),
                "corrupt at offset 0x0: gnu long name declares 2097152 bytes, more than the 1048576-byte cap and the 2048 bytes left"
                    .to_owned()
            ),
            (
                "warn",
                Some(0),
                "skipped 512 bytes from offset 0x0 to the next valid header at offset 0x200"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn malformed_pax_record_keeps_the_ones_before_it() {
    let mut data = pax_record("uid", b"7");
    data.extend_from_slice(b"99 path=nope\n");
    let pax = member(header(b"PaxHeaders/p", b'x', data.len() as u64), &data);
    let (status, t) = run(&[pax, file(b"p", b"p"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].name.0, b"p");
    assert_eq!(t.entries[0].meta["uid"], 7);
    assert_eq!(
        messages(&t),
        [(
            "error",
            Some(0),
            "corrupt at offset 0x0: malformed pax record at byte 8 of the extended header: length out of range"
                .to_owned()
        )]
    );
}

#[test]
fn extension_header_without_a_member() {
    let (status, t) = run(&[pax_header(b'x', &[("path", b"lost")]), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!(t.entries.len(), 0);
    assert_eq!(
        messages(&t),
        [(
            "error",
            Some(0),
            "corrupt at offset 0x0: extension header not followed by a member".to_owned()
        )]
    );
}

#[test]
fn signed_checksum_is_accepted() {
    let mut h = header(b"caf\xe9", b'0', 1);
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if CHKSUM.contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    h[CHKSUM].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
    let (status, t) = run(&[member(h, b"!"), end()]);

    assert_eq!(status, Status::OK);
    assert_eq!((t.entries.len(), t.problems().len()), (1, 0));
    assert_eq!(t.entries[0].name.0, b"caf\xe9");
}

#[test]
fn numeric_helpers() {
    assert_eq!(octal(b"0000644\0"), Some(0o644));
    assert_eq!(octal(b"  644 \0"), Some(0o644));
    assert_eq!(octal(b"\0\0\0"), None);
    assert_eq!(octal(b"128"), None);
    assert_eq!(octal(b"7777777777777777777777777"), None);
    assert_eq!(numeric(b"\0\0\0\0"), Ok(None));
    assert_eq!(numeric(b"\x80\0\0\0\0\0\0\x01\0\0\0\0"), Ok(Some(1 << 32)));
    assert_eq!(numeric(b"\xff\xff\xff\xfe"), Ok(Some(-2)));
    assert_eq!(pax_time(b"12"), Some(Time::from_secs(12)));
    assert_eq!(pax_time(b"1.0000000019"), Some(Time { secs: 1, nanos: 1 }));
    assert_eq!(pax_time(b"1.x"), None);
    assert_eq!(pax_time(b"-"), None);
    assert_eq!(padding(0), 0);
    assert_eq!(padding(1), 511);
    assert_eq!(padding(512), 0);
}

/// Cancels once the first entry has been delivered.
struct CancelAfterFirst {
    inner: MemoryHost,
    ended: std::sync::atomic::AtomicUsize,
}

impl HostServices for CancelAfterFirst {
    fn evidence(&self) -> &EvidenceInfo {
        self.inner.evidence()
    }
    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        self.inner.read_at(handle, offset, buf)
    }
    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        self.inner.list_dir(path, visit)
    }
    fn open(&self, path: &[u8]) -> Result<u64, Status> {
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
        self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.end_file(file, status, note)
    }
    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        self.inner.emit_record(kind, record_json)
    }
    fn log(&self, level: u32, status: Status, offset: u64, msg: &[u8]) {
        self.inner.log(level, status, offset, msg)
    }
    fn is_cancelled(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::SeqCst) > 0
    }
}

#[test]
fn cancellation_stops_between_members() {
    let archive = [file(b"a", b"1"), file(b"b", b"2"), end()].concat();
    let host = CancelAfterFirst {
        inner: MemoryHost::file("c.tar", archive),
        ended: std::sync::atomic::AtomicUsize::new(0),
    };

    let result = Tar.run(&Session::new(&host));

    assert_eq!(result, Err(PluginError::Cancelled));
    let t = host.inner.take_transcript();
    assert_eq!(names(&t), [b"a"]);
    assert_eq!(t.problems().len(), 0);
}

/// Decodes `archive` as a stream found inside a container, with `observer`.
fn run_stream(
    archive: &[u8],
    observer: &mut dyn Observer,
) -> (Result<Ended, PluginError>, Transcript) {
    let host = MemoryHost::file("container.ab", Vec::new());
    let result = TarStream::new()
        .offsets(Offsets::Stream)
        .observe(observer)
        .decode(&Session::new(&host), archive);
    (result, host.take_transcript())
}

#[test]
fn stream_offsets_are_tar_offsets_and_never_evidence_offsets() {
    let first = file(b"first.txt", b"one");
    let mut damaged = file(b"damaged.txt", &[b'd'; 600]);
    damaged[10] ^= 0x20;
    let mut cut = header(b"cut.bin", b'0', 1000).to_vec();
    cut.extend_from_slice(&[7; 300]);
    let archive = [first, damaged, file(b"last.txt", b"three"), cut].concat();
    let mut seen = Vec::new();
    let mut mark = |name: &[u8], meta: &mut EntryMeta| {
        seen.push(name.to_vec());
        meta.extra.insert("container".into(), "test".into());
    };
    let (result, t) = run_stream(&archive, &mut mark);

    assert_eq!(
        result,
        Ok(Ended {
            position: archive.len() as u64,
            end_marker: false
        })
    );
    assert_eq!(seen, [&b"first.txt"[..], b"last.txt", b"cut.bin"]);
    assert_eq!(
        messages(&t),
        [
            (
                "error",
                None,
                "corrupt: at tar offset 0x400: header checksum mismatch (stored 0o12175, computed 0o12135)"
                    .to_owned()
            ),
            (
                "warn",
                None,
                "skipped 1536 bytes from tar offset 0x400 to the next valid header at tar offset 0xa00"
                    .to_owned()
            ),
            (
                "error",
                None,
                "corrupt: at tar offset 0xe00: truncated: data ends at tar offset 0x112c after 300 of 1000 bytes"
                    .to_owned()
            ),
        ]
    );
    let last = t.entry(b"last.txt").unwrap();
    assert_eq!(last.meta.get("offset"), None);
    assert_eq!(last.meta["extra"]["tar_offset"], 0xa00);
    assert_eq!(last.meta["extra"]["container"], "test");
    assert_eq!(
        t.entry(b"cut.bin").unwrap().note,
        "truncated: 300 of 1000 bytes"
    );
}

/// Watches `want`'s bytes.
#[derive(Default)]
struct Watch {
    bytes: Vec<u8>,
    ends: Vec<bool>,
}

impl Observer for Watch {
    fn entry(&mut self, name: &[u8], _meta: &mut EntryMeta) -> bool {
        name.starts_with(b"watch")
    }
    fn data(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }
    fn end(&mut self, complete: bool) {
        self.ends.push(complete);
    }
}

#[test]
fn observer_sees_the_bytes_of_the_files_it_asks_for() {
    let big = vec![0x42u8; 3 * CHUNK + 5];
    let mut dir = header(b"watch-dir/", b'5', 0).to_vec();
    dir.extend(file(b"watch-1", &big));
    dir.extend(file(b"other", b"not watched"));
    let mut cut = header(b"watch-2", b'0', 10).to_vec();
    cut.extend_from_slice(b"half");
    let archive = [dir, cut].concat();
    let mut watch = Watch::default();
    let (result, t) = run_stream(&archive, &mut watch);

    assert!(result.is_ok());
    assert_eq!(t.entries.len(), 4);
    assert_eq!(watch.bytes, [&big[..], b"half"].concat());
    assert_eq!(watch.ends, [true, false]);
}

#[test]
fn a_failing_reader_fails_the_member_with_its_error() {
    /// Gives `data`, then fails with a decoding error naming an evidence offset.
    struct Failing<'a>(&'a [u8]);
    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other(PluginError::corrupt(
                    0x1234,
                    "compressed payload: zlib data error",
                )));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let archive = [
        file(b"whole", b"1"),
        header(b"cut", b'0', 5000).to_vec(),
        vec![9; 700],
    ]
    .concat();
    let host = MemoryHost::file("container.ab", Vec::new());
    let result = TarStream::new()
        .offsets(Offsets::Stream)
        .decode(&Session::new(&host), BufReader::new(Failing(&archive)));

    let err = PluginError::corrupt(0x1234, "compressed payload: zlib data error");
    assert_eq!(result, Err(err.clone()));
    let t = host.take_transcript();
    assert_eq!(t.entries.len(), 2);
    assert_eq!(t.entries[0].status, "ok");
    assert_eq!(t.entries[1].status, "corrupt");
    assert_eq!(t.entries[1].data, vec![9; 700]);
    assert_eq!(t.entries[1].note, err.to_string());
}
