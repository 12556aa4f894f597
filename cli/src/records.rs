//! `exhibit artifacts CASE`: the decoded records of a case as a table for a
//! person (or JSON Lines), newest first.
//!
//! Memory stays small whatever the case size: one pass keeps only each
//! record's time and byte offset, the offsets are sorted, and each line is
//! read again from the file when it is printed.

use crate::args::{Args, RecordKind};
use crate::outln;
use crate::output::{Exit, emit, emit_begin, term};
use anyhow::{Context, Result};
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// Widest text cell, in characters.
const CELL: usize = 48;

/// `exhibit artifacts CASE [--kind K]`
pub fn artifacts_cmd(args: &Args, case: &Path, kind: Option<RecordKind>) -> Result<Exit> {
    if args.json {
        emit_begin("artifacts")?;
    }
    let kinds: Vec<RecordKind> = kind.map_or_else(|| RecordKind::ALL.to_vec(), |k| vec![k]);
    let mut found_any = false;
    for kind in kinds {
        let path = case
            .join(exhibit_core::case::ARTIFACTS_DIR)
            .join(format!("{}.jsonl", kind.name()));
        if !path.exists() {
            if !args.json {
                outln!(
                    "{}: none decoded ({} is absent)\n",
                    kind.name(),
                    path.display()
                )?;
            }
            continue;
        }
        found_any = true;
        let order = newest_first(&path)?;
        let mut reader = BufReader::new(File::open(&path)?);
        if !args.json {
            outln!("{} ({})", kind.name(), order.len())?;
            outln!("{}", header(kind))?;
        }
        let mut line = String::new();
        for (_, offset) in &order {
            reader.seek(SeekFrom::Start(*offset))?;
            line.clear();
            reader.read_line(&mut line)?;
            let record: Value = serde_json::from_str(&line)
                .with_context(|| format!("{} holds an unreadable record", path.display()))?;
            if args.json {
                emit(
                    "record",
                    &serde_json::json!({"kind": kind.name(), "record": record}),
                )?;
            } else {
                outln!("{}", row(kind, &record))?;
            }
        }
        if !args.json {
            outln!()?;
        }
    }
    Ok(if found_any {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// `(time, offset)` of every line, newest first; records without a time
/// keep their file order after the timed ones.
fn newest_first(path: &Path) -> Result<Vec<(Option<String>, u64)>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut order = Vec::new();
    let mut offset = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        let time = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["time"]["utc"].as_str().map(str::to_owned));
        order.push((time, offset));
        offset += n as u64;
    }
    // Stable: equal times keep file order. `None` sorts last.
    order.sort_by(|a, b| match (&a.0, &b.0) {
        (Some(x), Some(y)) => y.cmp(x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(order)
}

fn header(kind: RecordKind) -> String {
    match kind {
        RecordKind::Messages => format!(
            "{:<24} {:<8} {:<8} {:<18} {:<18} {:<CELL$} source",
            "time (UTC)", "service", "dir", "from", "to", "text"
        ),
        RecordKind::Contacts => format!(
            "{:<28} {:<34} {:<30} {:<24} source",
            "name", "phones", "e-mail", "account"
        ),
        RecordKind::Calls => format!(
            "{:<24} {:<10} {:<18} {:<24} {:>8} source",
            "time (UTC)", "type", "number", "name", "seconds"
        ),
    }
}

/// A cell: terminal-safe, one line, at most `width` characters.
fn cell(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let safe = term(&flat).into_owned();
    if safe.chars().count() <= width {
        return safe;
    }
    let mut cut: String = safe.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn source(v: &Value) -> String {
    let p = &v["provenance"];
    let at = match (p["table"].as_str(), p["row"].as_i64(), p["index"].as_u64()) {
        (Some(t), Some(r), _) => format!(" {t}#{r}"),
        (_, _, Some(i)) => format!(" [{i}]"),
        _ => String::new(),
    };
    term(&format!("{}{at}", text(p, "file"))).into_owned()
}

fn joined(v: &Value, key: &str) -> String {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    Value::Object(_) => {
                        let label = e["label"]
                            .as_str()
                            .map(|l| format!(" ({l})"))
                            .unwrap_or_default();
                        format!("{}{label}", text(e, "value"))
                    }
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn row(kind: RecordKind, v: &Value) -> String {
    let time = text(&v["time"], "utc");
    match kind {
        RecordKind::Messages => {
            let from = v["from"].as_str().unwrap_or("(this phone)");
            let to = match joined(v, "to") {
                t if t.is_empty() => "(this phone)".to_owned(),
                t => t,
            };
            let body = v["body"].as_str().unwrap_or("");
            format!(
                "{:<24} {:<8} {:<8} {:<18} {:<18} {:<CELL$} {}",
                time,
                cell(text(v, "service"), 8),
                cell(text(v, "direction"), 8),
                cell(from, 18),
                cell(&to, 18),
                cell(body, CELL),
                source(v)
            )
        }
        RecordKind::Contacts => {
            let account = [text(&v["account"], "name"), text(&v["account"], "kind")]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" / ");
            let name = match (text(v, "name"), v["deleted"] == Value::Bool(true)) {
                (n, true) => format!("{n} (deleted)"),
                (n, false) => n.to_owned(),
            };
            format!(
                "{:<28} {:<34} {:<30} {:<24} {}",
                cell(&name, 28),
                cell(&joined(v, "phones"), 34),
                cell(&joined(v, "emails"), 30),
                cell(&account, 24),
                source(v)
            )
        }
        RecordKind::Calls => format!(
            "{:<24} {:<10} {:<18} {:<24} {:>8} {}",
            time,
            cell(text(v, "type"), 10),
            cell(text(v, "number"), 18),
            cell(text(v, "name"), 24),
            v["duration_s"]
                .as_i64()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            source(v)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_and_escaped() {
        assert_eq!(cell("short", 10), "short");
        assert_eq!(cell("abcdefghijkl", 5), "abcd…");
        assert_eq!(cell("two\nlines", 20), "two lines");
        assert_eq!(cell("esc\u{1b}[31m", 30), "esc\\u{1b}[31m");
    }

    #[test]
    fn newest_first_keeps_untimed_records_last_in_file_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.jsonl");
        let lines = [
            r#"{"time":{"utc":"2024-01-01T00:00:00.000Z"}}"#,
            r#"{"time":null}"#,
            r#"{"time":{"utc":"2024-03-01T00:00:00.000Z"}}"#,
            r#"{"x":1}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        let order = newest_first(&path).expect("reads");
        let offsets: Vec<u64> = order.iter().map(|(_, o)| *o).collect();
        let start = |i: usize| lines[..i].iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        assert_eq!(offsets, vec![start(2), start(0), start(1), start(3)]);
    }
}
