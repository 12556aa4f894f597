//! Names that look alike and names that attack the terminal. Names that
//! differ only by case or Unicode normalisation are each kept as their own
//! file with their own bytes; control characters and terminal escape
//! sequences from the evidence (and from the examiner's own paths) never
//! reach the terminal raw, whatever the command.

use crate::exhibit;
use crate::util::*;
use exhibit_fixtures as fx;
use exhibit_fixtures::hostile::{self, OK_CONTENT, file_entry};
use exhibit_fixtures::hostile_scale::{LOOKALIKES, lookalike_names};

/// True when the file system under `dir` tells `a` from `A` (the case
/// folder may sit on one that does not: macOS, Windows, a FAT stick).
fn case_sensitive(dir: &std::path::Path) -> bool {
    std::fs::write(dir.join("probe-case"), b"lower").unwrap();
    let sensitive = !dir.join("PROBE-CASE").exists();
    std::fs::remove_file(dir.join("probe-case")).unwrap();
    sensitive
}

fn assert_lookalikes_kept(o: &Hostile) {
    let mut paths = std::collections::BTreeSet::new();
    let sensitive = case_sensitive(&o.case);
    for (name, content) in LOOKALIKES {
        let d = &extracted(&o.log, name)["details"];
        let path = d["path"].as_str().unwrap().to_owned();
        assert_eq!(o.content(name), content, "{name}");
        assert_eq!(d["hashes"]["sha256"], fx::sha256_hex(content));
        if sensitive {
            assert_eq!(path, format!("files/{name}"));
        }
        assert!(paths.insert(path), "{name} shares a case path");
    }
    assert_eq!(o.content("ok.txt"), OK_CONTENT);
    assert_eq!(
        actions(&o.log, "file_extracted").len(),
        LOOKALIKES.len() + 1
    );
}

#[test]
fn names_differing_only_by_case_or_normalisation_are_all_kept() {
    let (_w, o) = extract_hostile("lookalikes.tar", &lookalike_names(), "tar");
    assert_lookalikes_kept(&o);

    let zip = exhibit_fixtures::hostile_scale::lookalike_names_zip().unwrap();
    let (_w, o) = extract_hostile("lookalikes.zip", &zip, "zip");
    assert_lookalikes_kept(&o);
}

/// Bytes a terminal acts on: ESC (colour, cursor, title, OSC 52 clipboard),
/// BEL, CR, and the 8-bit CSI.
fn assert_no_raw_control(what: &str, o: &std::process::Output) {
    for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        for bad in [0x1b_u8, 0x07, b'\r', 0x9b] {
            assert!(
                !bytes.contains(&bad),
                "{what}: raw {bad:#04x} on {stream}: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(
            !String::from_utf8_lossy(bytes).contains('\u{9b}'),
            "{what}: raw C1 CSI on {stream}"
        );
    }
}

#[test]
fn escape_sequences_never_reach_the_terminal() {
    let w = Work::new();
    // Hostile names, and an SMS whose address and body carry escapes.
    let db = fx::sqlite_tools::build_db(
        "CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, \
             date INTEGER, type INTEGER, body TEXT);
         INSERT INTO sms VALUES (1, 1, '+1555' || char(27) || ']0;owned' || char(7), \
             1709280000000, 1, 'hi' || char(27) || '[2J' || char(27) || ']52;c;cm0gLXJm' || char(7) || char(13) || 'gone');",
    );
    let mut tar = hostile::nul_and_control_names();
    tar.truncate(tar.len() - 1024);
    tar.extend(file_entry(fx::MMSSMS_PATH.as_bytes(), &db));
    tar.extend_from_slice(&[0; 1024]);
    // The examiner's own paths can hold escapes too.
    let evidence = w.write("evidence/dump\u{1b}[31m.tar", &tar);
    let built = crate::decode::decoding_plugins(&w);
    let plugins = w.path("plug\u{1b}]0;title\u{7}ins");
    std::fs::rename(&built, &plugins).unwrap();
    let case = w.path("case\u{1b}[5m");

    let out = exhibit!("extract", evidence, "--case", case, "--plugins", plugins);
    assert_code(&out, 2);
    assert_no_raw_control("extract", &out);
    let log = log(&case);
    assert_eq!(actions(&log, "file_extracted").len(), 7);
    let record = &crate::decode::records(&case, "messages")[0];
    assert_eq!(
        record["body"], "hi\u{1b}[2J\u{1b}]52;c;cm0gLXJm\u{7}\rgone",
        "the record keeps the evidence's bytes; only the display escapes them"
    );

    for (what, o) in [
        ("log", exhibit!("log", case)),
        ("verify", exhibit!("verify", case)),
        ("artifacts", exhibit!("artifacts", case)),
        ("artifacts --json", exhibit!("artifacts", case, "--json")),
        ("plugins", exhibit!("plugins", "--plugins", plugins)),
        (
            "identify",
            exhibit!("identify", evidence, "--plugins", plugins),
        ),
    ] {
        assert_no_raw_control(what, &o);
        assert!(
            o.status.code() == Some(0) || what == "plugins",
            "{what}: {}",
            stderr(&o)
        );
    }
    let shown = stdout(&exhibit!("artifacts", case));
    assert!(shown.contains("hi\\u{1b}[2J"), "{shown}");
    assert_code(&exhibit!("verify", case), 0);
}
