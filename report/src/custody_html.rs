//! The custody report for court (`exhibit log CASE --format html`): every
//! custody entry, in order, as a person reads it, with the chain hash each
//! entry ends and the one before it, so a printed copy can be checked line
//! by line against `custody.jsonl`.
//!
//! One self-contained HTML file: inline CSS, no script, no network. A header
//! states the case, the evidence and its digests, the tool, the log's size
//! and final chain hash, and whether the run finished; a section says how
//! to re-check the record with `exhibit verify` (and by hand with
//! `sha256sum`); then each entry follows as a block: its number, time (UTC
//! as recorded, and in `--tz` beside it), the action in words, its details
//! as a key/value list (hashes in a monospace that wraps, warnings and
//! errors marked), and its `prev` and chain hash.
//!
//! Printing: A4, black on white, each entry kept on one page where it fits
//! (`break-inside: avoid`), and every page headed with the case number and
//! footed with the final chain hash and the page number (`@page` margin
//! boxes, where the browser supports them).
//!
//! The entries are streamed from the log and written one at a time, so a
//! log of millions of entries is rendered in bounded memory; while
//! streaming, each entry's link is checked again, and a log that changed
//! since the case was opened ends the report with an error rather than a
//! record that disagrees with its own header. One detail value longer than
//! [`VALUE_CHARS`] characters is cut, saying where the whole value is.

use crate::case::{LogEntry, Summary};
use crate::dfxml::shell_join;
use crate::markup::{escape, href};
use crate::{Case, RenderOptions};
use anyhow::{Result, bail};
use exhibit_core::custody::GENESIS;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};

/// Characters of one detail value shown; the custody log holds the rest.
pub const VALUE_CHARS: usize = 2000;

/// Writes the custody report of `case`.
pub fn write(case: &Case, opts: &RenderOptions, out: &mut dyn Write) -> Result<()> {
    let mut out = BufWriter::new(out);
    let s = case.summary();
    let mut buf = String::with_capacity(16 * 1024);
    head(&mut buf, s);
    summary(&mut buf, s, opts);
    recheck(&mut buf, s);
    buf.push_str("<section id=\"entries\">\n<h2>The custody log, entry by entry</h2>\n");
    out.write_all(buf.as_bytes())?;
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    for e in case.entries()? {
        let e = e?;
        if e.prev != prev || e.seq != count {
            bail!(
                "the custody log changed while the report was being made (entry {} no longer follows entry {}); run `exhibit verify`",
                e.seq,
                count.saturating_sub(1)
            );
        }
        buf.clear();
        entry(&mut buf, &e, opts);
        out.write_all(buf.as_bytes())?;
        prev = e.hash;
        count += 1;
    }
    if count != s.entries || prev != s.chain_sha256 {
        bail!(
            "the custody log changed while the report was being made ({count} entries ending in {prev}, not {} ending in {}); run `exhibit verify`",
            s.entries,
            s.chain_sha256
        );
    }
    buf.clear();
    let _ = write!(
        buf,
        "</section>\n<p class=\"end\">End of the record: {} entries, the last ending in chain hash <code class=\"x\">{}</code>.</p>\n</body>\n</html>\n",
        s.entries,
        escape(&s.chain_sha256)
    );
    out.write_all(buf.as_bytes())?;
    out.flush()?;
    Ok(())
}

const STYLE: &str = r#"
:root{--ink:#111;--mute:#555;--line:#ccd;--warn:#8a5a00;--warnbg:#fff6e0;--err:#a00;--errbg:#fde8e8;--run:#1a4d8f}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);max-width:64rem;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .2rem}
h2{font-size:1.2rem;margin:1.6rem 0 .6rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
.sub{color:var(--mute);margin:0 0 1rem}
code,.x,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.86em}
.x{overflow-wrap:anywhere;word-break:break-all}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f6;padding:.5rem .7rem;border:1px solid var(--line)}
dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.1rem .9rem;margin:.3rem 0}
dt{color:var(--mute)}
dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.2rem .5rem;border-bottom:1px solid var(--line)}
.e{border:1px solid var(--line);border-left:4px solid var(--line);padding:.4rem .7rem;margin:.5rem 0}
.e .h{margin:0;font-weight:600}
.e .h .n{display:inline-block;min-width:4.5rem}
.e .h .t{font-weight:400}
.e .h .l{font-weight:400;color:var(--mute)}
.e .h .k{font-weight:400;color:var(--mute)}
.e .c{margin:.3rem 0 0;color:var(--mute);font-size:.92em}
.e.run{border-left-color:var(--run)}
.e.warn{border-left-color:var(--warn);background:var(--warnbg)}
.e.err{border-left-color:var(--err);background:var(--errbg)}
.warn .msg,.bad{color:var(--warn);font-weight:600}
.err .msg{color:var(--err);font-weight:600}
.ok{color:#176b2c;font-weight:600}
.no{color:var(--err);font-weight:600}
.cut{color:var(--mute);font-style:italic}
.f{display:inline-block;margin-right:.9rem}
.f i{color:var(--mute);font-style:normal}
.end{margin-top:1.5rem;font-weight:600}
@media print{
 body{font-size:9pt;max-width:none;margin:0;padding:0;color:#000;background:#fff}
 a{color:inherit;text-decoration:none}
 .e,.e.warn,.e.err,.e.run{background:none;border-color:#999;border-left-color:#000;break-inside:avoid;page-break-inside:avoid}
 .e.warn,.e.err{border-left-width:4px;border-left-style:double}
 h2{break-after:avoid;page-break-after:avoid}
 pre{background:none}
 .ok,.no,.bad,.warn .msg,.err .msg{color:#000}
}
"#;

/// A CSS string literal holding `text`, for `@page` margin boxes: anything
/// but plain letters, digits and a few marks is a CSS escape, so evidence
/// text can neither end the string nor the style element.
fn css_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || " -_.:/,()#".contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "\\{:x} ", u32::from(c));
        }
    }
    out.push('"');
    out
}

fn head(buf: &mut String, s: &Summary) {
    let case_number = s.case.case_number.as_deref().unwrap_or("(no case number)");
    let short_chain: String = s.chain_sha256.chars().take(16).collect();
    let _ = write!(
        buf,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"exhibit {}\">\n\
         <title>Custody record, case {}</title>\n<style>{STYLE}\
         @page{{size:A4;margin:16mm 13mm 16mm 13mm;\
         @top-left{{content:{};font:8pt sans-serif}}\
         @bottom-left{{content:{};font:8pt monospace}}\
         @bottom-right{{content:\"page \" counter(page) \" of \" counter(pages);font:8pt sans-serif}}}}\n\
         </style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        escape(case_number),
        css_string(&format!("Chain of custody record, case {case_number}")),
        css_string(&format!("final chain hash {short_chain}...")),
    );
}

/// A `<dt>`/`<dd>` pair; `value` is HTML already.
fn row(buf: &mut String, label: &str, value: &str) {
    let _ = writeln!(buf, "<dt>{}</dt><dd>{value}</dd>", escape(label));
}

fn text_row(buf: &mut String, label: &str, value: Option<&str>) {
    match value {
        Some(v) if !v.is_empty() => row(buf, label, &escape(v)),
        _ => row(buf, label, "<span class=\"cut\">not recorded</span>"),
    }
}

fn hash_html(hex: &str) -> String {
    format!("<code class=\"x\">{}</code>", escape(hex))
}

/// `2026-03-01T08:00:00.000Z` as recorded, and in the chosen zone beside it.
fn time_html(utc: &str, opts: &RenderOptions) -> String {
    let mut out = format!("<span class=\"t\">{}</span>", escape(utc));
    if !opts.zone.is_utc()
        && let Some(local) = opts.zone.local(utc)
    {
        let _ = write!(out, " <span class=\"l\">({})</span>", escape(&local));
    }
    out
}

fn summary(buf: &mut String, s: &Summary, opts: &RenderOptions) {
    let c = &s.case;
    let _ = write!(
        buf,
        "<header>\n<h1>Chain of custody record</h1>\n<p class=\"sub\">Case {} · made by exhibit {} from the custody log of the case folder, which it does not change</p>\n",
        escape(c.case_number.as_deref().unwrap_or("(no case number)")),
        env!("CARGO_PKG_VERSION")
    );
    buf.push_str("<h2>The case</h2>\n<dl>\n");
    text_row(buf, "Case number", c.case_number.as_deref());
    text_row(buf, "Examiner", c.examiner.as_deref());
    text_row(buf, "Agency", c.agency.as_deref());
    text_row(buf, "Case folder (at extraction)", Some(&c.case_dir));
    row(buf, "Case opened", &time_html(&c.opened, opts));
    text_row(buf, "Tool", Some(&format!("{} {}", c.tool, c.tool_version)));
    let machine: Vec<&str> = [c.host.as_deref(), c.os.as_deref(), c.arch.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    text_row(buf, "Host, OS, architecture", Some(&machine.join(", ")));
    row(
        buf,
        "Command line",
        &format!(
            "<code class=\"x\">{}</code>",
            escape(&shell_join(&c.command_line))
        ),
    );
    text_row(
        buf,
        "Digests of every file",
        Some(&c.hash_algorithms.join(", ")),
    );
    if opts.zone.is_utc() {
        row(buf, "Times", "UTC, as recorded");
    } else {
        row(
            buf,
            "Times",
            &format!("UTC as recorded; in brackets, {}", escape(opts.zone.name())),
        );
    }
    buf.push_str("</dl>\n<h2>The evidence</h2>\n<dl>\n");
    match &s.evidence {
        None => row(
            buf,
            "Evidence",
            "<span class=\"no\">the log records no evidence_opened entry</span>",
        ),
        Some(ev) => {
            text_row(buf, "Path", Some(&ev.path));
            text_row(buf, "Kind", Some(&ev.kind));
            text_row(
                buf,
                "Size in bytes",
                ev.size.map(|n| n.to_string()).as_deref(),
            );
            text_row(buf, "Modified (at opening)", ev.mtime.as_deref());
            if ev.hashes.is_empty() {
                row(
                    buf,
                    "Digests",
                    "<span class=\"no\">none recorded (the run did not read it to the end)</span>",
                );
            }
            for (alg, hex) in &ev.hashes {
                row(buf, &alg.to_uppercase(), &hash_html(hex));
            }
            text_row(buf, "How it was hashed", ev.hash_method.as_deref());
            if let Some(acq) = &ev.acquisition_sha256 {
                let matches = ev.hashes.get("sha256").map(|h| h.eq_ignore_ascii_case(acq));
                let verdict = match matches {
                    Some(true) => " <span class=\"ok\">matches</span>",
                    Some(false) => " <span class=\"no\">does not match</span>",
                    None => "",
                };
                row(
                    buf,
                    "Acquisition SHA-256 (given)",
                    &format!("{}{verdict}", hash_html(acq)),
                );
            }
            if ev.checks.is_empty() {
                row(
                    buf,
                    "Re-checked",
                    "<span class=\"cut\">no check recorded</span>",
                );
            }
            for (when, unchanged) in &ev.checks {
                let verdict = if *unchanged {
                    "<span class=\"ok\">unchanged</span>"
                } else {
                    "<span class=\"no\">changed</span>"
                };
                row(buf, &format!("Re-checked ({when})"), verdict);
            }
        }
    }
    buf.push_str("</dl>\n<h2>The custody log</h2>\n<dl>\n");
    row(buf, "Entries", &s.entries.to_string());
    row(buf, "Last entry", &time_html(&s.last_time, opts));
    row(buf, "Final chain hash", &hash_html(&s.chain_sha256));
    let outcome = s.outcome.as_deref().unwrap_or("none");
    if s.complete {
        row(
            buf,
            "Complete",
            &format!(
                "<span class=\"ok\">yes</span>: the log ends with run_finished (outcome {})",
                escape(outcome)
            ),
        );
    } else {
        row(
            buf,
            "Complete",
            "<span class=\"no\">no</span>: the log does not end with run_finished (the run was stopped, killed or is still running)",
        );
    }
    let n = &s.counts;
    row(
        buf,
        "Recorded",
        &format!(
            "{} files ({} cut short), {} bytes; {} directories, {} symbolic links, {} other entries",
            n.files, n.incomplete_files, n.bytes, n.dirs, n.symlinks, n.other_entries
        ),
    );
    let problems = format!("{} warnings, {} errors", n.warnings, n.errors);
    if n.warnings + n.errors > 0 {
        row(
            buf,
            "Problems",
            &format!("<span class=\"bad\">{problems}</span> (marked below)"),
        );
    } else {
        row(buf, "Problems", &problems);
    }
    buf.push_str("</dl>\n");
    if !s.plugins.is_empty() {
        buf.push_str(
            "<h2>Plugins loaded</h2>\n<table>\n<thead><tr><th>Name</th><th>Version</th><th>Kind</th><th>SHA-256 of the library (hashed before loading)</th></tr></thead>\n<tbody>\n",
        );
        for p in &s.plugins {
            let _ = writeln!(
                buf,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.name),
                escape(&p.version),
                escape(&p.kind),
                hash_html(&p.sha256)
            );
        }
        buf.push_str("</tbody>\n</table>\n");
    }
    buf.push_str("</header>\n");
}

fn recheck(buf: &mut String, s: &Summary) {
    let case_dir = if s.case.case_dir.is_empty() {
        "CASE".to_owned()
    } else {
        shell_join(std::slice::from_ref(&s.case.case_dir))
    };
    let chain = escape(&s.chain_sha256);
    let n = s.entries;
    let _ = write!(
        buf,
        "<section id=\"recheck\">\n<h2>How to re-check this record</h2>\n\
         <p>This report was made from the custody log <code>custody.jsonl</code> of {n} entries ending in chain hash <code class=\"x\">{chain}</code>. To check that the case still holds exactly this record, run:</p>\n\
         <pre>exhibit verify {} --expect {chain}</pre>\n\
         <p>(with the case folder's current location, if it has moved). <code>exhibit verify</code> changes nothing. It checks every link of the chain: that each entry's <code>prev</code> is the SHA-256 of the line before it, that no entry is missing, reordered or cut short, and that the counts the run recorded agree with the entries. It hashes every file the log records again and compares each digest with the one its entry holds, and names any file that changed, is missing, or is in the case without an entry. With <code>--expect</code> it also checks that the chain ends in this hash or passes through it, which catches a log rewritten with every link recomputed. It exits 0 only when all of that holds.</p>\n\
         <p>Each entry below shows its chain hash: the SHA-256 of its line in <code>custody.jsonl</code> without the line end; <code>prev</code> is the chain hash of the entry before (64 zeros for the first). Entry <i>n</i> is line <i>n</i>+1, so any entry can be checked by hand, the last one with <code>sed -n '{n}p' custody.jsonl | head -c -1 | sha256sum</code>, which must print the hash above.</p>\n\
         <p>If entries were added to the log after this report was made (writing a report into the case records it there; <code>exhibit decode</code> adds a run), the chain no longer ends in this hash: <code>--expect</code> then finds it as the hash of line {n} and says how many entries were appended after it, which are chained to it and listed by <code>exhibit log</code>.</p>\n\
         </section>\n",
        escape(&case_dir),
    );
}

/// The action in words.
fn action_words(action: &str) -> String {
    let known = match action {
        "case_opened" => "Case opened",
        "case_reopened" => "Case reopened",
        "plugin_loaded" => "Plugin loaded",
        "plugin_refused" => "Plugin refused",
        "plugin_selected" => "Format plugin chosen",
        "plugin_finished" => "Plugin finished",
        "evidence_opened" => "Evidence opened (read-only)",
        "evidence_described" => "Fact read from the evidence",
        "evidence_hashed" => "Evidence hashed",
        "evidence_checked" => "Evidence re-checked",
        "password_requested" => "Password requested",
        "file_extracted" => "File extracted",
        "file_confirmed" => "File confirmed unchanged",
        "entry_recorded" => "Entry recorded (not a file)",
        "decoding_started" => "Decoding started",
        "file_decoded" => "File decoded",
        "artifact_written" => "Record file written",
        "report_written" => "Report written",
        "warning" => "Warning",
        "error" => "Error",
        "run_interrupted" => "Run interrupted",
        "run_resumed" => "Run resumed",
        "run_finished" => "Run finished",
        other => {
            let mut words = other.replace('_', " ");
            if let Some(first) = words.get(..1) {
                let upper = first.to_uppercase();
                words.replace_range(..1, &upper);
            }
            return words;
        }
    };
    known.to_owned()
}

/// The entry's class: errors, warnings and run boundaries stand out.
fn entry_class(e: &LogEntry) -> &'static str {
    match e.action.as_str() {
        "error" | "run_interrupted" => " err",
        "warning" | "plugin_refused" => " warn",
        "file_extracted" if e.details["complete"] == Value::Bool(false) => " warn",
        "evidence_checked" if e.details["unchanged"] == Value::Bool(false) => " err",
        "case_opened" | "case_reopened" | "run_resumed" | "run_finished" => " run",
        _ => "",
    }
}

/// Detail keys shown first, in this order, for the entries about files.
const FILE_KEYS: [&str; 7] = [
    "name", "kind", "path", "size", "hashes", "complete", "message",
];

fn entry(buf: &mut String, e: &LogEntry, opts: &RenderOptions) {
    let _ = write!(
        buf,
        "<div class=\"e{}\" id=\"e{}\">\n<p class=\"h\"><span class=\"n\">#{}</span> {} <span class=\"a\">{}</span> <code class=\"k\">{}</code></p>\n<dl>\n",
        entry_class(e),
        e.seq,
        e.seq,
        time_html(&e.time, opts),
        escape(&action_words(&e.action)),
        escape(&e.action)
    );
    let line = e.seq.saturating_add(1);
    match &e.details {
        Value::Object(map) => {
            for key in FILE_KEYS {
                if let Some(v) = map.get(key) {
                    detail(buf, key, v, opts, line);
                }
            }
            for (key, v) in map {
                if !FILE_KEYS.contains(&key.as_str()) {
                    detail(buf, key, v, opts, line);
                }
            }
        }
        Value::Null => {}
        other => detail(buf, "details", other, opts, line),
    }
    let _ = write!(
        buf,
        "</dl>\n<p class=\"c\">line {line} · prev <code class=\"x\">{}</code><br>chain hash <code class=\"x\">{}</code></p>\n</div>\n",
        escape(&e.prev),
        escape(&e.hash)
    );
}

/// True for an object `{"secs": n, "nanos": n}` (an entry time).
fn as_time(v: &Value) -> Option<String> {
    let m = v.as_object()?;
    if !m.keys().all(|k| k == "secs" || k == "nanos") {
        return None;
    }
    let secs = m.get("secs")?.as_i64()?;
    let nanos = m.get("nanos").map_or(Some(0), Value::as_u64)?;
    let t = exhibit_plugin_sdk::Time {
        secs,
        nanos: u32::try_from(nanos).ok()?,
    };
    Some(exhibit_core::time::time(t))
}

fn looks_like_digest(key: &str, s: &str) -> bool {
    let hex = s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    hex && (key.contains("sha")
        || key.contains("md5")
        || key.contains("hash")
        || key.contains("prev"))
}

/// Renders one detail as a row. An object of digests (`hashes`) gets a row
/// per digest; any other object one row, its fields side by side
/// (`kind dir · mode 751 · …`), so an entry stays short enough to print
/// several to a page.
fn detail(buf: &mut String, key: &str, v: &Value, opts: &RenderOptions, line: u64) {
    match v {
        Value::Object(m) if as_time(v).is_none() && !is_hex_bytes(v) && !m.is_empty() => {
            if key.contains("hash") {
                for (k, sub) in m {
                    row(buf, &format!("{key}.{k}"), &value_html(k, sub, opts, line));
                }
            } else {
                let fields: Vec<String> = m
                    .iter()
                    .map(|(k, sub)| {
                        format!(
                            "<span class=\"f\"><i>{}</i> {}</span>",
                            escape(k),
                            value_html(k, sub, opts, line)
                        )
                    })
                    .collect();
                row(buf, key, &fields.join(" "));
            }
        }
        _ => row(buf, key, &value_html(key, v, opts, line)),
    }
}

fn is_hex_bytes(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.get("hex").is_some_and(Value::is_string))
}

/// One value as HTML; `key` (its last part) says how to read it.
fn value_html(key: &str, v: &Value, opts: &RenderOptions, line: u64) -> String {
    if let Some(t) = as_time(v) {
        return time_html(&t, opts);
    }
    match v {
        Value::Object(m) if is_hex_bytes(v) => {
            let hex = m.get("hex").and_then(Value::as_str).unwrap_or("");
            format!(
                "<span class=\"bad\">not UTF-8</span>, bytes in hex: <code class=\"x\">{}</code>",
                escape(&cut(hex, line))
            )
        }
        Value::Object(_) => json_html(v, line),
        Value::Null => "<span class=\"cut\">none</span>".to_owned(),
        Value::Bool(b) => match (key, b) {
            ("complete" | "unchanged" | "matches" | "input_checked", false) => {
                "<span class=\"no\">no</span>".to_owned()
            }
            (_, true) => "yes".to_owned(),
            (_, false) => "no".to_owned(),
        },
        Value::Number(n) => match (key, n.as_u64()) {
            ("mode", Some(m)) => format!("{m:o} (octal; {m} decimal)"),
            ("offset", Some(o)) => format!("{o} (0x{o:x})"),
            ("size" | "bytes", Some(b)) => format!("{b} bytes"),
            _ => n.to_string(),
        },
        Value::String(s) => {
            let shown = cut(s, line);
            if key == "path" && links_into_case(s) {
                format!(
                    "<a href=\"{}\"><code class=\"x\">{}</code></a>",
                    escape(&href(&opts.case_href, s)),
                    escape(&shown)
                )
            } else if looks_like_digest(key, s) {
                hash_html(&shown)
            } else if key == "message" {
                format!("<span class=\"msg\">{}</span>", escape(&shown))
            } else {
                escape(&shown).into_owned()
            }
        }
        Value::Array(items) => {
            let scalars = items
                .iter()
                .all(|i| matches!(i, Value::String(_) | Value::Number(_) | Value::Bool(_)));
            if scalars {
                let joined: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let text = if key == "command_line" {
                    shell_join(&joined)
                } else {
                    joined.join(", ")
                };
                escape(&cut(&text, line)).into_owned()
            } else {
                json_html(v, line)
            }
        }
    }
}

/// Case paths that lead to a file of the case (the log's own paths do not
/// leave it: they were sanitised at extraction).
fn links_into_case(path: &str) -> bool {
    path.starts_with("files/") || path.starts_with("artifacts/") || path.starts_with("reports/")
}

fn json_html(v: &Value, line: u64) -> String {
    let text = v.to_string();
    format!("<code class=\"x\">{}</code>", escape(&cut(&text, line)))
}

/// `s` cut to [`VALUE_CHARS`], saying where the rest is.
fn cut(s: &str, line: u64) -> String {
    match s.char_indices().nth(VALUE_CHARS) {
        None => s.to_owned(),
        Some((at, _)) => {
            let rest = s[at..].chars().count();
            format!(
                "{}… [{rest} more characters: see line {line} of custody.jsonl]",
                &s[..at]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Zone;
    use crate::case::tests::case_with;
    use exhibit_core::custody::{CustodyLog, LOG_FILE, action};
    use serde_json::json;

    fn render(dir: &std::path::Path, zone: &str) -> String {
        let case = Case::open(dir).expect("open");
        let opts = RenderOptions {
            zone: Zone::parse(zone).expect("zone"),
            case_href: "../".into(),
        };
        let mut out = Vec::new();
        write(&case, &opts, &mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    fn hostile_case() -> tempfile::TempDir {
        case_with(&[
            (
                action::CASE_OPENED,
                json!({"examiner": "Ann </style><script>x()</script>", "case_number": "X-1\"}", "case_dir": "/c/it's", "tool": "exhibit", "tool_version": "0.1.0", "command_line": ["exhibit", "extract", "a b.tar"]}),
            ),
            (
                action::FILE_EXTRACTED,
                json!({"name": "<script>alert(1)</script>", "path": "files/%3Cscript%3E", "size": 3, "complete": false,
                       "hashes": {"sha256": "ab".repeat(32)}, "meta": {"kind": "file", "mode": 432, "offset": 2048, "mtime": {"secs": 1709287200, "nanos": 0}}}),
            ),
            (
                action::ENTRY_RECORDED,
                json!({"name": {"hex": "ff00"}, "kind": "symlink", "path": null, "meta": {"kind": "symlink", "link_target": "x".repeat(VALUE_CHARS + 5)}}),
            ),
            (
                action::ERROR,
                json!({"message": "entry <b> is cut short", "offset": 4096}),
            ),
            (
                action::RUN_FINISHED,
                json!({"outcome": "completed_with_errors"}),
            ),
        ])
    }

    #[test]
    fn every_entry_with_its_chain_hash_in_order() {
        let dir = hostile_case();
        let html = render(dir.path(), "UTC");
        let case = Case::open(dir.path()).expect("open");
        let mut at = 0;
        for e in case.entries().expect("entries") {
            let e = e.expect("entry");
            let needle = format!("chain hash <code class=\"x\">{}</code>", e.hash);
            at += html[at..]
                .find(&needle)
                .unwrap_or_else(|| panic!("entry {} after {at}", e.seq));
        }
        let chain = &case.summary().chain_sha256;
        assert!(
            html.contains(&format!(
                "<pre>exhibit verify &#39;/c/it&#39;\\&#39;&#39;s&#39; --expect {chain}</pre>"
            )),
            "{html}"
        );
        assert!(html.contains("of 5 entries ending in chain hash"));
        assert!(html.contains("@media print") && html.contains("break-inside:avoid"));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn evidence_text_is_escaped_everywhere() {
        let html = render(hostile_case().path(), "+05:30");
        assert!(!html.contains("<script>"), "raw script element");
        assert!(!html.contains("</style><script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<span class=\"msg\">entry &lt;b&gt; is cut short</span>"));
        // The case number reaches the print header only as CSS escapes.
        assert!(html.contains("case X-1\\22 \\7d \""), "{html}");
        assert!(html.contains("bytes in hex: <code class=\"x\">ff00</code>"));
        assert!(html.contains("[5 more characters: see line 3 of custody.jsonl]"));
        assert!(html.contains("<a href=\"../files/%253Cscript%253E\">"));
        assert!(html.contains(
            "2024-03-01T10:00:00Z</span> <span class=\"l\">(2024-03-01 15:30:00 +05:30)</span>"
        ));
        assert!(html.contains("<div class=\"e warn\" id=\"e1\">"));
        assert!(html.contains("<div class=\"e err\" id=\"e3\">"));
        assert!(html.contains("660 (octal; 432 decimal)"));
    }

    #[test]
    fn a_log_that_changes_under_the_report_is_refused() {
        let dir = hostile_case();
        let case = Case::open(dir.path()).expect("open");
        let mut log = CustodyLog::open_append(&dir.path().join(LOG_FILE))
            .expect("append")
            .0;
        log.append(
            action::WARNING,
            json!({"message": "appended after opening"}),
        )
        .expect("append");
        let mut out = Vec::new();
        // Entries beyond those Case::open counted are not streamed, so the
        // report is still the record it describes.
        write(&case, &RenderOptions::default(), &mut out).expect("write");
        assert!(!String::from_utf8_lossy(&out).contains("appended after opening"));
        let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).expect("read");
        std::fs::write(dir.path().join(LOG_FILE), text.replacen("Ann", "Bob", 1)).expect("write");
        let err = write(&case, &RenderOptions::default(), &mut Vec::new()).expect_err("tampered");
        assert!(
            err.to_string().contains("changed while the report"),
            "{err}"
        );
    }
}
