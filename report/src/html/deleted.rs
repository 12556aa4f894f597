//! `#deleted`: the deleted entries that a physical image's file systems
//! still show (`deleted.jsonl`), each with where it was found and what was
//! recovered of it, or why nothing was.
//!
//! Policy: the rows are written into the page as they are read, so the
//! report's memory does not grow with the list; past [`DELETED_SHOWN`] rows
//! the page says how many more `deleted.jsonl` holds. Every value comes from
//! the evidence and is escaped.

use super::summary::time;
use crate::RenderOptions;
use crate::case::Case;
use crate::markup::escape;
use anyhow::Result;
use serde_json::Value;
use std::io::Write;

/// Rows written into the page; `deleted.jsonl` keeps them all.
pub(super) const DELETED_SHOWN: usize = 1000;

/// The record kind (and `artifact_written` kind) of `deleted.jsonl`.
const KIND: &str = "deleted";

/// Whether the case has deleted entries to show (for the navigation).
pub(super) fn present(case: &Case) -> bool {
    case.summary().artifacts.iter().any(|a| a.kind == KIND)
}

/// Writes the section, or nothing when the case has no `deleted.jsonl`.
pub(super) fn section(out: &mut dyn Write, case: &Case, opts: &RenderOptions) -> Result<()> {
    let Some(file) = case.summary().artifacts.iter().find(|a| a.kind == KIND) else {
        return Ok(());
    };
    writeln!(
        out,
        r#"<section id="deleted"><h2>Deleted entries</h2><p>{} deleted entries that the file systems still show, from <code>{}</code>. Recovered bytes are files of the case under <code>$deleted/</code>, hashed like any other; a recovered file holds what the free space holds now, which may have been overwritten since the deletion.</p>"#,
        super::num(file.records),
        escape(&file.path),
    )?;
    writeln!(
        out,
        r#"<table id="deleted-table"><thead><tr><th scope="col">Path it had</th><th scope="col">Kind</th><th scope="col" class="n">Size (bytes)</th><th scope="col">Found in</th><th scope="col" class="n">Image offset</th><th scope="col">Modified</th><th scope="col">Deleted</th><th scope="col">Recovered</th></tr></thead><tbody>"#
    )?;
    let mut shown = 0usize;
    for record in case.records::<Value>(KIND)?.take(DELETED_SHOWN) {
        let row = match record {
            Ok(r) => row(&r, opts),
            Err(e) => format!(
                r#"<tr><td colspan="8" class="bad">{}</td></tr>"#,
                escape(&format!("{e:#}"))
            ),
        };
        writeln!(out, "{row}")?;
        shown += 1;
    }
    writeln!(out, "</tbody></table>")?;
    if (shown as u64) < file.records {
        writeln!(
            out,
            r#"<p class="note">The first {} of {}; <code>{}</code> lists them all.</p>"#,
            super::num(shown as u64),
            super::num(file.records),
            escape(&file.path)
        )?;
    }
    writeln!(out, "</section>")?;
    Ok(())
}

fn row(r: &Value, opts: &RenderOptions) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let when = |v: &Value| {
        v["secs"]
            .as_i64()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| time(opts, &t.to_string()))
            .unwrap_or_default()
    };
    let recovered = match (&r["recovered"], r["not_recovered"].as_str()) {
        (Value::Object(rec), _) => format!(
            r#"<span class="ok">{} bytes</span> as <code>{}</code><br><span class="note">{}</span>"#,
            escape(&text(&rec["bytes"])),
            escape(&text(&rec["entry"])),
            escape(&text(&rec["method"]))
        ),
        (_, Some(why)) => format!(r#"<span class="warning">no</span>: {}"#, escape(why)),
        _ => "no".to_owned(),
    };
    let notes = r["notes"]
        .as_str()
        .map(|n| format!(r#"<br><span class="note">{}</span>"#, escape(n)))
        .unwrap_or_default();
    format!(
        r#"<tr><td><code>{}</code>{notes}</td><td>{}</td><td class="n">{}</td><td>{} ({})</td><td class="n">{}</td><td>{}</td><td>{}</td><td>{recovered}</td></tr>"#,
        escape(&text(&r["path"])),
        escape(&text(&r["kind"])),
        escape(&text(&r["size"])),
        escape(&text(&r["found_in"]).replace('_', " ")),
        escape(&text(&r["file_system"])),
        escape(&text(&r["offset"])),
        when(&r["mtime"]),
        when(&r["dtime"]),
    )
}
