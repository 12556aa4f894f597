//! Parity: every test archive decoded through the safe trait and through the
//! C descriptor gives byte-identical transcripts (STYLE rule 11), hostile and
//! mutated archives included.
#![allow(clippy::unwrap_used)]

use exhibit_format_tar::{Tar, exhibit_static_descriptor};
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::{MemoryHost, mutations, run_safe};

/// Decodes `data` both ways, requires identical transcripts, returns the
/// common status and the number of entries.
fn both_ways(data: &[u8]) -> (Status, usize) {
    let direct = MemoryHost::file("evidence.tar", data.to_vec());
    let via_abi = MemoryHost::file("evidence.tar", data.to_vec());
    let s1 = run_safe::<Tar>(&direct);
    let s2 = exhibit_static_descriptor().run(&via_abi);
    assert_eq!(s1, s2);
    let (t1, t2) = (direct.take_transcript(), via_abi.take_transcript());
    assert_eq!(t1.to_jsonl(), t2.to_jsonl());
    (s1, t1.entries.len())
}

/// A ustar header with a correct checksum.
fn header(name: &[u8], typeflag: u8, size: u64) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(b"0000644\0");
    b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    b[136..148].copy_from_slice(b"14524770400\0");
    b[156] = typeflag;
    b[257..265].copy_from_slice(b"ustar\x0000");
    seal(&mut b);
    b
}

fn seal(b: &mut [u8]) {
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn file(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = header(name, b'0', data.len() as u64);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn end() -> Vec<u8> {
    vec![0; 1024]
}

fn built_archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "data", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_size(600);
    h.set_mtime(1_700_000_001);
    let long = format!("data/{}/mmssms.db", "x".repeat(150));
    b.append_data(&mut h, &long, &[b'S'; 600][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    b.append_link(&mut h, "data/link", "../../../etc/shadow")
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Link);
    b.append_link(&mut h, "data/hard", &long).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    b.append_data(&mut h, "data/empty", std::io::empty())
        .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn well_formed_archive() {
    assert_eq!(both_ways(&built_archive()), (Status::OK, 5));
}

#[test]
fn pax_archive() {
    let records = b"30 mtime=1700000000.123456789\n18 path=pax/n\xc3\xa4me\n";
    let mut pax = header(b"PaxHeaders/1", b'x', records.len() as u64);
    pax.extend_from_slice(records);
    pax.resize(1024, 0);
    let archive = [pax, file(b"short", b"data"), end()].concat();
    assert_eq!(both_ways(&archive), (Status::OK, 1));
}

#[test]
fn hostile_archives() {
    let mut bad = file(b"bad", b"zzz");
    bad[0] ^= 1;
    let mut negative = header(b"neg", b'0', 0);
    negative[124..136].fill(0xff);
    seal(&mut negative);
    let mut truncated = file(b"cut", &[1; 2000]);
    truncated.truncate(1000);
    let cases: Vec<(Vec<u8>, usize)> = vec![
        ([file(b"a", b"1"), bad, file(b"b", b"2"), end()].concat(), 2),
        ([file(b"a", b"1"), truncated].concat(), 2),
        ([negative, file(b"ok", b"k"), end()].concat(), 1),
        (header(b"huge", b'0', 0o77_777_777_777), 1),
        (file(b"no-end", b"x"), 1),
        (Vec::new(), 0),
        (vec![0x42; 4096], 0),
    ];
    for (archive, entries) in cases {
        assert_eq!(both_ways(&archive), (Status::OK, entries));
    }
}

/// Deterministic byte mutations of a valid archive: whatever the damage,
/// no panic, a normal end, and both paths agree.
#[test]
fn mutated_archives() {
    let base = built_archive();
    for data in mutations(&base, 300, 8) {
        let (status, _) = both_ways(&data);
        assert_eq!(status, Status::OK);
    }
}
