//! `exhibit export CASE --format timeline`: the CSV is read back by
//! Python's `csv` module (an RFC 4180 reader exhibit does not contain) and
//! its rows compared with the records and the custody log: a row for every
//! time a message carries, one per call, one per time of every file entry,
//! each naming the source file and the SHA-256 the log holds for it. The
//! same case exports to the same bytes under any host time zone.

use crate::util::*;
use serde_json::Value;
use std::path::Path;

const READ_CSV: &str = r#"
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f, strict=True))
header = rows[0]
print(json.dumps({
    "header": header,
    "widths": sorted({len(r) for r in rows}),
    "rows": [dict(zip(header, r)) for r in rows[1:]],
}))
"#;

fn records(case: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(case.join(format!("artifacts/{kind}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `2024-03-01T08:00:00.000Z` (a record's millisecond UTC) as the CSV's
/// microsecond ISO 8601 with an offset.
fn csv_datetime(utc: &str) -> String {
    format!("{}000+00:00", utc.strip_suffix('Z').unwrap())
}

/// The microseconds a record time stands for, from its raw value.
fn micros(t: &Value) -> i64 {
    let raw = t["raw"].as_i64().unwrap();
    match t["format"].as_str().unwrap() {
        "unix_ms" => raw * 1000,
        "unix_s" => raw * 1_000_000,
        other => panic!("the fixture has no {other} times"),
    }
}

#[test]
fn timeline_rows_equal_the_records_and_the_log() {
    let w = Work::new();
    let case = fixture_case(&w);
    let (a, b) = (w.path("a.csv"), w.path("b.csv"));
    export_to(&case, "timeline", &a, "UTC");
    export_to(&case, "timeline", &b, "Asia/Kolkata");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "the export differs between host time zones"
    );
    let csv = python_json(READ_CSV, &[&a]);
    let header: Vec<&str> = csv["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        header[..4],
        ["message", "datetime", "timestamp_desc", "timestamp"]
    );
    assert_eq!(csv["widths"], serde_json::json!([header.len()]));
    let rows = csv["rows"].as_array().unwrap();
    let log = log(&case);
    let logged_sha256 = |path: &str| -> String {
        actions(&log, "file_extracted")
            .iter()
            .find(|e| e["details"]["path"] == path)
            .unwrap_or_else(|| panic!("{path} is not in the log"))["details"]["hashes"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let of_kind =
        |kind: &str| -> Vec<&Value> { rows.iter().filter(|r| r["kind"] == kind).collect() };

    // Messages: a row for each time each one carries.
    let messages = records(&case, "messages");
    assert!(
        !messages.is_empty(),
        "the fixture case has no decoded messages: fixture_case must load the android decoder"
    );
    let mut expected = 0;
    for m in &messages {
        let received = if m["direction"] == "incoming" {
            "Message Received"
        } else {
            "Message Stored"
        };
        for (key, desc) in [
            ("sent", "Message Sent"),
            ("received", received),
            ("read_at", "Message Read"),
            ("delivered_at", "Message Delivered"),
        ] {
            let Some(utc) = m[key]["utc"].as_str() else {
                continue;
            };
            expected += 1;
            let p = &m["provenance"];
            let row = of_kind("message")
                .into_iter()
                .find(|r| {
                    r["datetime"] == csv_datetime(utc).as_str()
                        && r["timestamp_desc"] == desc
                        && r["table"] == p["table"]
                        && r["row"] == p["row"].to_string().as_str()
                })
                .unwrap_or_else(|| panic!("no {desc} row for {m}"));
            assert_eq!(row["timestamp"], micros(&m[key]).to_string().as_str());
            let body = m["body"].as_str().unwrap().replace('\n', " ");
            assert!(row["message"].as_str().unwrap().contains(&body), "{row}");
            assert_eq!(row["source_file"], p["file"]);
            assert_eq!(row["source_sha256"], p["sha256"]);
            assert_eq!(
                row["source_sha256"],
                logged_sha256(p["file"].as_str().unwrap()).as_str()
            );
            assert_eq!(row["decoder"], p["decoder"]);
            assert_eq!(row["table"], p["table"]);
        }
    }
    assert_eq!(of_kind("message").len(), expected);

    // Calls: one row each, at its start.
    let calls = records(&case, "calls");
    assert!(!calls.is_empty());
    assert_eq!(of_kind("call").len(), calls.len());
    for c in &calls {
        let utc = c["time"]["utc"].as_str().unwrap();
        let p = &c["provenance"];
        let row = of_kind("call")
            .into_iter()
            .find(|r| r["source_file"] == p["file"] && r["row"] == p["row"].to_string().as_str())
            .unwrap_or_else(|| panic!("no row for {c}"));
        assert_eq!(row["datetime"], csv_datetime(utc).as_str());
        assert_eq!(row["timestamp_desc"], "Call Started");
        assert_eq!(row["timestamp"], micros(&c["time"]).to_string().as_str());
        if let Some(number) = c["number"].as_str() {
            assert!(row["message"].as_str().unwrap().contains(number), "{row}");
        }
        assert_eq!(
            row["source_sha256"],
            logged_sha256(p["file"].as_str().unwrap()).as_str()
        );
    }

    // Files, directories and links: a row per time their metadata holds.
    let mut entry_rows = 0;
    for e in actions(&log, "file_extracted")
        .into_iter()
        .chain(actions(&log, "entry_recorded"))
    {
        let d = &e["details"];
        let name = d["name"].as_str().unwrap();
        for (key, what) in [
            ("mtime", "Modified"),
            ("atime", "Accessed"),
            ("ctime", "Changed"),
            ("btime", "Created"),
        ] {
            let t = &d["meta"][key];
            if t.is_null() {
                continue;
            }
            entry_rows += 1;
            let us = t["secs"].as_i64().unwrap() * 1_000_000 + t["nanos"].as_i64().unwrap() / 1000;
            let row = rows
                .iter()
                .find(|r| {
                    r["timestamp"] == us.to_string().as_str()
                        && r["timestamp_desc"].as_str().unwrap().ends_with(what)
                        && r["message"]
                            .as_str()
                            .unwrap()
                            .ends_with(&format!(": {name}"))
                })
                .unwrap_or_else(|| panic!("no {what} row for {name}"));
            if e["action"] == "file_extracted" {
                assert_eq!(row["kind"], "file");
                assert_eq!(row["timestamp_desc"], format!("File {what}").as_str());
                assert_eq!(row["source_file"], d["path"]);
                assert_eq!(row["source_sha256"], d["hashes"]["sha256"]);
            } else {
                assert_eq!(row["kind"], d["kind"]);
                assert_eq!(row["source_sha256"], "");
            }
        }
    }
    assert!(entry_rows > 0);
    let others = rows.len() - of_kind("message").len() - of_kind("call").len();
    assert_eq!(
        others, entry_rows,
        "rows that are neither records nor entry times"
    );

    // No cell but `message` holds evidence text, and `message` starts with
    // exhibit's own words: nothing a spreadsheet would run as a formula.
    for r in rows {
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .starts_with(|c: char| c.is_ascii_uppercase()),
            "{r}"
        );
        assert!(r["datetime"].as_str().unwrap().ends_with("+00:00"), "{r}");
        for col in ["kind", "source_file", "source_sha256", "decoder", "table"] {
            let v = r[col].as_str().unwrap();
            assert!(!v.starts_with(['=', '+', '-', '@']), "{col} of {r}");
        }
    }
}
