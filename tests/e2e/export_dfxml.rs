//! `exhibit export CASE --format dfxml`: the document is parsed by an XML
//! parser exhibit does not contain (Python's `xml.etree`, on expat), and
//! every file's digests are compared with the custody log and with the
//! file on disk; the evidence's with `evidence_hashed`. Names XML cannot
//! carry keep their bytes in `exhibit:name_hex`. The same case exports to
//! the same bytes under any host time zone.

use crate::util::*;
use serde_json::Value;
use std::path::Path;

/// Every `fileobject` as a dict of its child elements (local names for
/// DFXML's, `exhibit:` for exhibit's), digests under `hashdigest`; the
/// source and the root's attributes.
const READ_DFXML: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
D = "{http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML}"
X = "{urn:exhibit:dfxml:1}"
root = ET.parse(sys.argv[1]).getroot()
def name(tag):
    return tag.replace(D, "").replace(X, "exhibit:")
def obj(el):
    out = {"hashdigest": {}}
    for c in el:
        if name(c.tag).endswith("hashdigest"):
            out["hashdigest"][c.get("type")] = c.text
        else:
            out[name(c.tag)] = c.text
    return out
source = root.find(D + "source")
case = root.find(X + "case")
print(json.dumps({
    "root": name(root.tag),
    "version": root.get("version"),
    "dc_type": root.find(D + "metadata/{http://purl.org/dc/elements/1.1/}type").text,
    "program": root.find(D + "creator/" + D + "program").text,
    "libraries": [l.get("name") for l in root.iter(D + "library")],
    "source": obj(source),
    "custody": case.find(X + "custody_log").attrib,
    "case_number": case.findtext(X + "case_number"),
    "files": [obj(f) for f in root.iter(D + "fileobject")],
}))
"#;

fn sha256_of_last_line(case: &Path) -> String {
    use sha2::Digest;
    let text = std::fs::read(case.join("custody.jsonl")).unwrap();
    let body = text.strip_suffix(b"\n").unwrap();
    let last = body.rsplit(|b| *b == b'\n').next().unwrap();
    hex::encode(sha2::Sha256::digest(last))
}

#[test]
fn dfxml_hashes_equal_the_log_and_the_files_on_disk() {
    let w = Work::new();
    let case = fixture_case(&w);
    let log_before = std::fs::read(case.join("custody.jsonl")).unwrap();
    let (a, b) = (w.path("a.xml"), w.path("b.xml"));
    export_to(&case, "dfxml", &a, "UTC");
    export_to(&case, "dfxml", &b, "Asia/Kolkata");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "the export differs between host time zones"
    );
    assert_eq!(
        std::fs::read(case.join("custody.jsonl")).unwrap(),
        log_before,
        "an export outside the case must leave the case alone"
    );

    let doc = python_json(READ_DFXML, &[&a]);
    let log = log(&case);
    assert_eq!(doc["root"], "dfxml");
    assert_eq!(doc["version"], "1.2.0");
    assert_eq!(doc["dc_type"], "File system extraction");
    assert_eq!(doc["program"], "exhibit");
    assert_eq!(doc["case_number"], "2026-0042");
    for p in actions(&log, "plugin_loaded") {
        let name = p["details"]["name"].as_str().unwrap();
        assert!(
            doc["libraries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l == name),
            "plugin {name} is not a creator library"
        );
    }

    // The source is the evidence, with the digests the log recorded.
    let opened = &actions(&log, "evidence_opened")[0]["details"];
    let hashed = &actions(&log, "evidence_hashed")[0]["details"]["hashes"];
    let source = &doc["source"];
    assert_eq!(source["image_filename"], opened["path"]);
    assert_eq!(source["image_size"], opened["size"].to_string().as_str());
    assert_eq!(source["hashdigest"]["sha256"], hashed["sha256"]);
    assert_eq!(source["hashdigest"]["md5"], hashed["md5"]);
    assert_eq!(
        source["hashdigest"]["sha256"],
        sha256_file(&w.path("android-ffs.tar")).as_str()
    );

    // The custody log it was made from.
    assert_eq!(doc["custody"]["entries"], log.len().to_string().as_str());
    assert_eq!(
        doc["custody"]["chain_sha256"],
        sha256_of_last_line(&case).as_str()
    );
    assert_eq!(doc["custody"]["complete"], "true");

    // One fileobject per file, directory and link the log records.
    let extracted = actions(&log, "file_extracted");
    let recorded = actions(&log, "entry_recorded");
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), extracted.len() + recorded.len());
    assert_eq!(extracted.len(), exhibit_fixtures::FILE_COUNT);
    let by_id = |seq: &Value| {
        files
            .iter()
            .find(|f| f["id"] == seq.to_string().as_str())
            .unwrap_or_else(|| panic!("no fileobject with id {seq}"))
    };
    for e in &extracted {
        let d = &e["details"];
        let f = by_id(&e["seq"]);
        assert_eq!(f["filename"], d["name"]);
        assert_eq!(f["name_type"], "r");
        assert_eq!(f["filesize"], d["size"].to_string().as_str());
        assert_eq!(f["hashdigest"]["sha256"], d["hashes"]["sha256"]);
        assert_eq!(f["hashdigest"]["md5"], d["hashes"]["md5"]);
        assert_eq!(f["exhibit:case_path"], d["path"]);
        let on_disk = sha256_file(&case.join(d["path"].as_str().unwrap()));
        assert_eq!(f["hashdigest"]["sha256"], on_disk.as_str(), "{}", d["path"]);
        assert_eq!(f["mode"], d["meta"]["mode"].to_string().as_str());
        assert!(f["mtime"].as_str().unwrap().ends_with('Z'), "{f}");
    }
    for e in &recorded {
        let d = &e["details"];
        let f = by_id(&e["seq"]);
        assert_eq!(f["filename"], d["name"]);
        match d["kind"].as_str().unwrap() {
            "dir" => assert_eq!(f["name_type"], "d"),
            "symlink" => {
                assert_eq!(f["name_type"], "l");
                assert_eq!(f["link_target"], d["meta"]["link_target"]);
            }
            other => panic!("the fixture has no {other} entries"),
        }
        assert!(f["hashdigest"].as_object().unwrap().is_empty());
    }
}

#[test]
fn names_xml_cannot_carry_keep_their_bytes() {
    let (_w, o) = extract_hostile(
        "nul-and-control-names.tar",
        &exhibit_fixtures::hostile::nul_and_control_names(),
        "tar",
    );
    let w = Work::new();
    let out = w.path("hostile.xml");
    export_to(&o.case, "dfxml", &out, "UTC");
    let doc = python_json(READ_DFXML, &[&out]);
    let files = doc["files"].as_array().unwrap();
    // The names as the dump stored them: ESC, BEL and a Latin-1 byte cannot
    // be XML text; CR and LF can.
    for (raw, shown) in [
        (&b"evil\x1b[31mred.txt"[..], "evil\u{FFFD}[31mred.txt"),
        (b"bell\x07cr\rlf\nname.txt", "bell\u{FFFD}cr\rlf\nname.txt"),
        (b"caf\xe9.txt", "caf\u{FFFD}.txt"),
    ] {
        let f = files
            .iter()
            .find(|f| f["exhibit:name_hex"] == hex::encode(raw).as_str())
            .unwrap_or_else(|| panic!("no fileobject keeps the bytes of {raw:?}"));
        assert_eq!(f["filename"], shown);
    }
    let ok = files.iter().find(|f| f["filename"] == "ok.txt").unwrap();
    assert!(ok.get("exhibit:name_hex").is_none());
    assert_eq!(
        ok["hashdigest"]["sha256"],
        exhibit_fixtures::sha256_hex(exhibit_fixtures::hostile::OK_CONTENT).as_str()
    );
}
