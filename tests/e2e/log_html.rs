//! `exhibit log CASE --format html`, the custody report for court: every
//! entry's chain hash (computed here from the log's own lines) appears, in
//! order; the entry count, the final chain hash and the `exhibit verify
//! --expect` command are stated; the page has a print stylesheet; names from
//! the evidence are escaped; and the report is the same bytes whatever the
//! host's time zone, with and without `--tz`.

use crate::exhibit;
use crate::util::*;
use std::ffi::OsStr;
use std::path::Path;

fn custody_html(case: &Path, out: &Path, host_tz: &str, tz: Option<&str>) -> String {
    let mut args = vec![
        OsStr::new("log"),
        case.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("html"),
        OsStr::new("--out"),
        out.as_os_str(),
    ];
    if let Some(tz) = tz {
        args.extend([OsStr::new("--tz"), OsStr::new(tz)]);
    }
    let o = run_env(&args, &[("TZ", host_tz)], deadline());
    assert_code(&o, 0);
    std::fs::read_to_string(out).unwrap()
}

/// The SHA-256 of each line of the custody log, without its newline: the
/// chain hash after each entry, computed independently of exhibit.
fn line_hashes(case: &Path) -> Vec<String> {
    use sha2::Digest;
    std::fs::read_to_string(case.join("custody.jsonl"))
        .unwrap()
        .lines()
        .map(|l| hex::encode(sha2::Sha256::digest(l.as_bytes())))
        .collect()
}

#[test]
fn custody_report_shows_every_chain_hash_in_order_and_how_to_verify() {
    let w = Work::new();
    let case = fixture_case(&w);
    let hashes = line_hashes(&case);
    let html = custody_html(&case, &w.path("utc.html"), "UTC", None);
    assert_eq!(
        html,
        custody_html(&case, &w.path("kolkata.html"), "Asia/Kolkata", None),
        "the report differs between host time zones"
    );
    assert_eq!(
        line_hashes(&case),
        hashes,
        "a report outside the case changed its log"
    );

    let mut at = 0;
    for (seq, hash) in hashes.iter().enumerate() {
        let needle = format!("chain hash <code class=\"x\">{hash}</code>");
        let found = html[at..]
            .find(&needle)
            .unwrap_or_else(|| panic!("entry {seq}'s chain hash is missing or out of order"));
        at += found + needle.len();
        assert!(html.contains(&format!("id=\"e{seq}\"")));
    }
    assert!(!html.contains(&format!("id=\"e{}\"", hashes.len())));
    let last = hashes.last().unwrap();
    assert!(html.contains(&format!(
        "of {} entries ending in chain hash <code class=\"x\">{last}</code>",
        hashes.len()
    )));
    let case_dir = log(&case)[0]["details"]["case_dir"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        html.contains(&format!(
            "<pre>exhibit verify {case_dir} --expect {last}</pre>"
        )),
        "no verify instruction for {case_dir}"
    );
    // The hand check the report gives names the last line.
    assert!(html.contains(&format!("sed -n '{}p' custody.jsonl", hashes.len())));
    assert!(html.contains("E. Xaminer") && html.contains("2026-0042"));
    assert!(html.contains("@media print") && html.contains("break-inside:avoid"));
    assert!(html.contains("size:A4"));
    // Self-contained: no script, nothing fetched.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("http"));

    // The instruction works: verify passes with the hash the report states.
    let o = exhibit!("verify", case, "--expect", last);
    assert_code(&o, 0);

    // Local times beside UTC, the same whatever the host's zone.
    let shifted = custody_html(&case, &w.path("a.html"), "UTC", Some("+05:30"));
    assert_eq!(
        shifted,
        custody_html(&case, &w.path("b.html"), "Asia/Kolkata", Some("+05:30"))
    );
    assert!(shifted.contains("+05:30)</span>"));
    assert_ne!(shifted, html);
}

#[test]
fn names_from_the_evidence_are_escaped() {
    let mut tar = exhibit_fixtures::hostile::file_entry(b"<script>alert(1)</script>", b"x\n");
    tar.extend(exhibit_fixtures::hostile::file_entry(b"a&b\"'.txt", b"y\n"));
    tar.extend([0u8; 1024]);
    let (w, o) = extract_hostile("script-names.tar", &tar, "tar");
    let html = custody_html(&o.case, &w.path("custody.html"), "UTC", None);
    assert!(
        !html.contains("<script"),
        "a raw script element from a file name"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a&amp;b&quot;&#39;.txt"));
    // Still every entry.
    for hash in line_hashes(&o.case) {
        assert!(html.contains(&hash));
    }
}
