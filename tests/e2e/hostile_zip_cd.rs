//! Zips whose central directory points outside the file: the bad pointer is
//! reported with an offset, nothing is read from beyond the end, and every
//! entry whose bytes are in the file is extracted intact.

use crate::util::*;
use exhibit_fixtures::hostile_zip_cd as cd;
use serde_json::Value;

fn extract_hostile(name: &str, data: &[u8]) -> (Work, Hostile) {
    crate::util::extract_hostile(&format!("{name}.zip"), data, "zip")
}

/// `(offset, message)` of every warning and error.
fn problems(log: &[Value]) -> Vec<(Option<u64>, String)> {
    log.iter()
        .filter(|e| e["action"] == "warning" || e["action"] == "error")
        .map(|e| {
            (
                e["details"]["offset"].as_u64(),
                e["details"]["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn assert_all_entries_intact(o: &Hostile) {
    assert_eq!(
        actions(&o.log, "file_extracted").len(),
        cd::CD_ENTRIES.len()
    );
    for (name, content) in cd::CD_ENTRIES {
        assert_eq!(
            extracted(&o.log, name)["details"]["complete"],
            true,
            "{name}"
        );
        assert_eq!(o.content(name), content, "{name}");
    }
}

#[test]
fn central_directory_offset_beyond_the_end_is_reported_and_entries_recovered() {
    let data = cd::cd_offset_beyond_eof().unwrap();
    let len = data.len() as u64;
    let (_w, o) = extract_hostile("cd-offset-beyond-eof", &data);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_all_entries_intact(&o);
    let problems = problems(&o.log);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, Some(len));
    assert!(
        problems[0].1.starts_with(&format!(
            "corrupt at offset {len:#x}: no end of central directory record found before offset {len:#x} ("
        )) && problems[0].1.ends_with("recovering entries from their local headers"),
        "{problems:?}"
    );
}

#[test]
fn central_directory_size_beyond_the_end_is_reported_and_entries_read() {
    let data = cd::cd_size_beyond_eof().unwrap();
    let len = data.len() as u64;
    let eocd = len - 22;
    let (_w, o) = extract_hostile("cd-size-beyond-eof", &data);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_all_entries_intact(&o);
    let problems = problems(&o.log);
    assert_eq!(
        problems,
        [(
            Some(eocd),
            format!(
                "the end of central directory record at offset {eocd:#x} gives a central directory of 4294967040 bytes at offset {:#x}, which runs past the record (the evidence is {len} bytes); entries read from what the file holds",
                cd::cd_offset().unwrap()
            )
        )]
    );
}

#[test]
fn a_local_header_offset_beyond_the_end_loses_that_entry_only() {
    let data = cd::local_offset_beyond_eof().unwrap();
    let (_w, o) = extract_hostile("local-offset-beyond-eof", &data);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    for (name, content) in [cd::CD_ENTRIES[0], cd::CD_ENTRIES[2]] {
        assert_eq!(extracted(&o.log, name)["details"]["complete"], true);
        assert_eq!(o.content(name), content, "{name}");
    }
    assert_eq!(
        actions(&o.log, "file_extracted").len(),
        2,
        "nothing for second.txt"
    );
    let bad = u64::from(cd::LOCAL_BEYOND_EOF);
    assert_eq!(
        problems(&o.log),
        [(
            Some(bad),
            format!(
                "corrupt at offset {bad:#x}: entry \"second.txt\" at offset {bad:#x}: the evidence ends inside the local header at offset {bad:#x}; not extracted"
            )
        )]
    );
}
