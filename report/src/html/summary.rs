//! The parts of the report written as plain HTML in Rust: the case summary
//! (who, what evidence, which plugins, the runs, the counts, the chain
//! hash and how to re-check it), the device facts, and the warnings and
//! errors. Everything here comes from the [`Summary`] read from the custody
//! log, whose size does not grow with the number of files or records, and
//! reads without the page's script (and on paper).

use super::{Tally, num};
use crate::RenderOptions;
use crate::case::{Case, Summary};
use crate::markup::{escape, href};
use crate::tz::utc_display;
use serde_json::Value;
use std::io::{self, Write};

/// Decodings, facts and problems listed in full up to these; past them the
/// report says how many more there are and where they are.
const DECODINGS_SHOWN: usize = 500;
const FACTS_SHOWN: usize = 200;
pub const PROBLEMS_SHOWN: usize = 1_000;
const PROBLEMS_IN_SUMMARY: usize = 10;

fn opt(v: &Option<String>) -> String {
    match v {
        Some(s) if !s.is_empty() => escape(s).into_owned(),
        _ => r#"<span class="note">not recorded</span>"#.to_owned(),
    }
}

fn hash(h: &str) -> String {
    format!(r#"<code class="hash full">{}</code>"#, escape(h))
}

fn short_hash(h: &str) -> String {
    let h = escape(h);
    format!(r#"<code class="hash" title="{h}">{h}</code>"#)
}

/// `2024-03-01 08:00:00Z`, and the examiner's zone beside it.
pub(super) fn time(opts: &RenderOptions, utc: &str) -> String {
    let local = if opts.zone.is_utc() {
        None
    } else {
        opts.zone.local(utc)
    };
    match local {
        Some(l) => format!(
            r#"{} <span class="note">· {}</span>"#,
            escape(&utc_display(utc)),
            escape(&l)
        ),
        None => escape(&utc_display(utc)).into_owned(),
    }
}

/// `SHA-256`, `SHA-1`, `MD5` for the names the log uses.
fn algorithm(name: &str) -> String {
    match name {
        "sha256" => "SHA-256".into(),
        "sha1" => "SHA-1".into(),
        "md5" => "MD5".into(),
        other => escape(other).into_owned(),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{} bytes", num(n));
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} bytes ({v:.1} {})", num(n), UNITS[unit])
}

fn count(out: &mut dyn Write, id: Option<&str>, n: u64, what: &str) -> io::Result<()> {
    let id = id.map(|i| format!(r#" id="{i}""#)).unwrap_or_default();
    write!(
        out,
        r#"<div class="count"><b{id}>{}</b><span>{}</span></div>"#,
        num(n),
        escape(what)
    )
}

fn command_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The page's header: what case this is, and what the times mean.
pub fn header(out: &mut dyn Write, case: &Case, opts: &RenderOptions) -> io::Result<()> {
    let s = case.summary();
    let number = s.case.case_number.as_deref().unwrap_or("(no case number)");
    write!(
        out,
        "<header><h1>Case {}: examiner&#39;s report</h1><p class=\"sub\">",
        escape(number)
    )?;
    if let Some(ev) = &s.evidence {
        write!(out, "Evidence <code>{}</code> · ", escape(ev.name()))?;
    }
    if let Some(ex) = &s.case.examiner {
        write!(out, "examiner {} · ", escape(ex))?;
    }
    write!(
        out,
        "made by exhibit-report {} from the custody log as it stood at entry {} ({}). ",
        env!("CARGO_PKG_VERSION"),
        s.entries.saturating_sub(1),
        escape(&utc_display(&s.last_time)),
    )?;
    if opts.zone.is_utc() {
        write!(out, "Times are in UTC.")?;
    } else {
        write!(
            out,
            "Times are in UTC, and in {} beside them.",
            escape(opts.zone.name())
        )?;
    }
    writeln!(out, "</p></header>")
}

/// `#summary`.
pub fn summary(
    out: &mut dyn Write,
    case: &Case,
    opts: &RenderOptions,
    tally: &Tally,
) -> io::Result<()> {
    let s = case.summary();
    writeln!(out, r#"<section id="summary"><h2>Case summary</h2>"#)?;
    counts(out, s, tally)?;
    writeln!(out, r#"<div class="cards">"#)?;
    case_card(out, s, opts)?;
    evidence_card(out, s, opts)?;
    writeln!(out, "</div>")?;
    custody(out, s, opts)?;
    plugins(out, s)?;
    runs(out, s, opts)?;
    decodings(out, s, opts)?;
    record_files(out, s, opts, tally)?;
    problems_brief(out, s, tally)?;
    writeln!(out, "</section>")
}

fn counts(out: &mut dyn Write, s: &Summary, tally: &Tally) -> io::Result<()> {
    let c = &s.counts;
    write!(out, r#"<div class="counts-grid">"#)?;
    count(out, Some("count-files"), c.files, "files extracted")?;
    count(out, Some("count-messages"), tally.messages, "messages")?;
    count(out, Some("count-threads"), tally.threads, "conversations")?;
    count(out, Some("count-contacts"), tally.contacts, "contacts")?;
    count(out, Some("count-calls"), tally.calls, "calls")?;
    count(out, Some("count-errors"), c.errors, "errors")?;
    count(out, Some("count-warnings"), c.warnings, "warnings")?;
    writeln!(out, "</div>")?;
    write!(
        out,
        r#"<p>{} of the files were cut short. {} in the files. The extraction also recorded {} directories, {} symbolic links and {} other entries (hard links, devices, pipes), listed with the files.</p>"#,
        num(c.incomplete_files),
        bytes(c.bytes),
        num(c.dirs),
        num(c.symlinks),
        num(c.other_entries)
    )?;
    for (kind, read) in [
        ("messages", tally.messages),
        ("contacts", tally.contacts),
        ("calls", tally.calls),
    ] {
        let logged = c.records.get(kind).copied().unwrap_or(0);
        if logged != read {
            writeln!(
                out,
                r#"<p class="bad">The custody log records {} {kind}, but {} were read from the case's record file: run <code>exhibit verify</code>.</p>"#,
                num(logged),
                num(read)
            )?;
        }
    }
    Ok(())
}

fn case_card(out: &mut dyn Write, s: &Summary, opts: &RenderOptions) -> io::Result<()> {
    let c = &s.case;
    writeln!(out, r#"<div><h3>Case</h3><table class="kv"><tbody>"#)?;
    let row = |out: &mut dyn Write, k: &str, v: String| -> io::Result<()> {
        writeln!(out, r#"<tr><th scope="row">{k}</th><td>{v}</td></tr>"#)
    };
    row(out, "Case number", opt(&c.case_number))?;
    row(out, "Examiner", opt(&c.examiner))?;
    row(out, "Agency", opt(&c.agency))?;
    row(
        out,
        "Case folder",
        format!("<code>{}</code>", escape(&c.case_dir)),
    )?;
    row(out, "Opened", time(opts, &c.opened))?;
    row(out, "Last entry", time(opts, &s.last_time))?;
    let on: Vec<&str> = [c.host.as_deref(), c.os.as_deref(), c.arch.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    row(
        out,
        "Tool",
        format!(
            "{} {}{}",
            escape(&c.tool),
            escape(&c.tool_version),
            if on.is_empty() {
                String::new()
            } else {
                format!(" on {}", escape(&on.join(" / ")))
            }
        ),
    )?;
    row(
        out,
        "Command",
        format!("<code>{}</code>", escape(&command_line(&c.command_line))),
    )?;
    let algorithms: Vec<String> = c.hash_algorithms.iter().map(|a| algorithm(a)).collect();
    row(out, "Digests of every file", algorithms.join(", "))?;
    writeln!(out, "</tbody></table></div>")
}

fn evidence_card(out: &mut dyn Write, s: &Summary, opts: &RenderOptions) -> io::Result<()> {
    writeln!(out, r#"<div><h3>Evidence</h3>"#)?;
    let Some(ev) = &s.evidence else {
        return writeln!(
            out,
            r#"<p class="bad">The custody log records no evidence.</p></div>"#
        );
    };
    writeln!(out, r#"<table class="kv"><tbody>"#)?;
    let row = |out: &mut dyn Write, k: &str, v: String| -> io::Result<()> {
        writeln!(out, r#"<tr><th scope="row">{k}</th><td>{v}</td></tr>"#)
    };
    row(out, "Path", format!("<code>{}</code>", escape(&ev.path)))?;
    row(out, "Kind", escape(&ev.kind).into_owned())?;
    row(
        out,
        "Size",
        ev.size.map(bytes).unwrap_or_else(|| "not recorded".into()),
    )?;
    row(
        out,
        "Modified",
        ev.mtime
            .as_deref()
            .map(|m| time(opts, m))
            .unwrap_or_else(|| "not recorded".into()),
    )?;
    for (alg, hex) in &ev.hashes {
        row(
            out,
            &format!("{} (computed while read)", algorithm(alg)),
            hash(hex),
        )?;
    }
    if ev.hashes.is_empty() {
        row(out, "Digests", "none recorded".into())?;
    }
    if let Some(method) = &ev.hash_method {
        row(out, "How", escape(method).into_owned())?;
    }
    for (i, seg) in ev.segments.iter().enumerate() {
        let digest = seg
            .hashes
            .get("sha256")
            .map(|h| hash(h))
            .unwrap_or_else(|| "not recorded".into());
        row(
            out,
            &format!("Segment {}", i + 1),
            format!(
                "<code>{}</code>, {}, SHA-256 {digest}",
                escape(&seg.path),
                bytes(seg.size)
            ),
        )?;
    }
    let acquisition = match (&ev.acquisition_sha256, ev.hashes.get("sha256")) {
        (None, _) => "none given".to_owned(),
        (Some(given), Some(computed)) if given.eq_ignore_ascii_case(computed) => {
            format!(r#"{} <span class="ok">matches</span>"#, hash(given))
        }
        (Some(given), Some(_)) => format!(
            r#"{} <span class="bad">does not match the SHA-256 computed</span>"#,
            hash(given)
        ),
        (Some(given), None) => format!("{} (nothing computed to compare)", hash(given)),
    };
    row(out, "Acquisition SHA-256", acquisition)?;
    let checks = if ev.checks.is_empty() {
        r#"<span class="warning">none recorded</span>"#.to_owned()
    } else {
        ev.checks
            .iter()
            .map(|(when, unchanged)| {
                let verdict = if *unchanged {
                    r#"<span class="ok">unchanged</span>"#
                } else {
                    r#"<span class="bad">CHANGED</span>"#
                };
                format!("{}: {verdict}", escape(when))
            })
            .collect::<Vec<_>>()
            .join("<br>")
    };
    row(out, "Integrity checks", checks)?;
    writeln!(out, "</tbody></table></div>")
}

fn custody(out: &mut dyn Write, s: &Summary, opts: &RenderOptions) -> io::Result<()> {
    let state = if s.complete {
        format!(
            "complete (the last run ended: {})",
            escape(s.outcome.as_deref().unwrap_or("no outcome recorded"))
        )
    } else {
        r#"<span class="bad">incomplete: the last run did not finish</span>"#.to_owned()
    };
    let case_arg = if s.case.case_dir.is_empty() {
        "CASE".to_owned()
    } else {
        command_line(std::slice::from_ref(&s.case.case_dir))
    };
    writeln!(
        out,
        r#"<h3>Custody log</h3><table class="kv"><tbody><tr><th scope="row">Entries</th><td>{}, the last at {}</td></tr><tr><th scope="row">State</th><td>{state}</td></tr><tr><th scope="row">Chain hash</th><td><code class="hash full" id="chain-hash">{}</code></td></tr></tbody></table><p>The chain hash is the SHA-256 of the log's last line, which holds the hash of the line before it, and so on to the first: it stands for every entry. Anyone holding it can re-check the case, its files and its records with</p><pre class="recheck"><code>exhibit verify {} --expect {}</code></pre><p class="note">A report written into the case appends its own entries after this one (<code>report_written</code> names this hash and the report&#39;s SHA-256). The command still passes then: it finds this hash at entry {} and says how many entries were appended after it.</p>"#,
        num(s.entries),
        time(opts, &s.last_time),
        escape(&s.chain_sha256),
        escape(&case_arg),
        escape(&s.chain_sha256),
        s.entries.saturating_sub(1),
    )
}

fn plugins(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    writeln!(
        out,
        r#"<h3>Plugins</h3><table><thead><tr><th scope="col">Plugin</th><th scope="col">Kind</th><th scope="col">Version</th><th scope="col">Library SHA-256</th><th scope="col">Role</th></tr></thead><tbody>"#
    )?;
    for p in &s.plugins {
        let role = match &s.selected {
            Some(sel) if sel.plugin == p.name && p.kind == "format" => format!(
                "<b>selected for the evidence</b>{}{}",
                sel.confidence
                    .map(|c| format!(" (confidence {c})"))
                    .unwrap_or_default(),
                if sel.forced {
                    ", forced by --format"
                } else {
                    ""
                }
            ),
            _ if s.decodings.iter().any(|d| d.decoder == p.name) => "decoded files".into(),
            _ => "loaded".into(),
        };
        writeln!(
            out,
            r#"<tr><td><b>{}</b><div class="src">{}</div></td><td>{}</td><td>{}</td><td>{}<div class="src">{}</div></td><td>{role}</td></tr>"#,
            escape(&p.name),
            escape(&p.description),
            escape(&p.kind),
            escape(&p.version),
            hash(&p.sha256),
            escape(&p.path),
        )?;
    }
    if s.plugins.is_empty() {
        writeln!(
            out,
            r#"<tr><td colspan="5">No plugin load was recorded.</td></tr>"#
        )?;
    }
    writeln!(out, "</tbody></table>")
}

fn runs(out: &mut dyn Write, s: &Summary, opts: &RenderOptions) -> io::Result<()> {
    writeln!(
        out,
        r#"<h3>Runs</h3><table><thead><tr><th scope="col">Run</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col" class="n">Took</th><th scope="col">Outcome</th><th scope="col">Examiner</th></tr></thead><tbody>"#
    )?;
    for r in &s.runs {
        writeln!(
            out,
            r#"<tr><td>{} <span class="note">(entry {})</span></td><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&r.kind),
            r.seq,
            time(opts, &r.started),
            r.finished
                .as_deref()
                .map(|f| time(opts, f))
                .unwrap_or_else(|| r#"<span class="bad">did not finish</span>"#.into()),
            r.duration_ms
                .map(|ms| format!("{}.{:03} s", num(ms / 1000), ms % 1000))
                .unwrap_or_default(),
            opt(&r.outcome),
            opt(&r.examiner),
        )?;
    }
    writeln!(out, "</tbody></table>")
}

fn decodings(out: &mut dyn Write, s: &Summary, opts: &RenderOptions) -> io::Result<()> {
    writeln!(
        out,
        r#"<h3>Decoded files</h3><table><thead><tr><th scope="col">File</th><th scope="col">Decoder</th><th scope="col">Records</th><th scope="col">Status</th><th scope="col">When</th></tr></thead><tbody>"#
    )?;
    for d in s.decodings.iter().take(DECODINGS_SHOWN) {
        let records = d
            .records
            .iter()
            .map(|(k, n)| format!("{} {}", num(*n), escape(k)))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            r#"<tr><td><a class="path" href="{}">{}</a><div class="src">SHA-256 {}</div></td><td>{} {}<div class="src">{}</div></td><td>{}</td><td>{}{}</td><td>{}</td></tr>"#,
            escape(&href(&opts.case_href, &d.file)),
            escape(&d.file),
            d.file_sha256
                .as_deref()
                .map(short_hash)
                .unwrap_or_else(|| "—".into()),
            escape(&d.decoder),
            escape(&d.version),
            d.decoder_sha256
                .as_deref()
                .map(|h| format!("library {}", short_hash(h)))
                .unwrap_or_default(),
            if records.is_empty() {
                "none".into()
            } else {
                records
            },
            escape(&d.status),
            if d.isolated { " (isolated)" } else { "" },
            time(opts, &d.time),
        )?;
    }
    if s.decodings.is_empty() {
        writeln!(out, r#"<tr><td colspan="5">No file was decoded.</td></tr>"#)?;
    }
    writeln!(out, "</tbody></table>")?;
    if s.decodings.len() > DECODINGS_SHOWN {
        writeln!(
            out,
            r#"<p class="note">The first {} of {} decodings; <code>exhibit log</code> lists them all.</p>"#,
            num(DECODINGS_SHOWN as u64),
            num(s.decodings.len() as u64)
        )?;
    }
    Ok(())
}

fn record_files(
    out: &mut dyn Write,
    s: &Summary,
    opts: &RenderOptions,
    tally: &Tally,
) -> io::Result<()> {
    writeln!(
        out,
        r#"<h3>Record files</h3><table><thead><tr><th scope="col">Kind</th><th scope="col">File</th><th scope="col" class="n">Records</th><th scope="col" class="n">Size</th><th scope="col">SHA-256</th></tr></thead><tbody>"#
    )?;
    for a in &s.artifacts {
        writeln!(
            out,
            r#"<tr><td>{}</td><td><a href="{}">{}</a></td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            escape(&a.kind),
            escape(&href(&opts.case_href, &a.path)),
            escape(&a.path),
            num(a.records),
            num(a.size),
            a.hashes
                .get("sha256")
                .map(|h| hash(h))
                .unwrap_or_else(|| "—".into()),
        )?;
    }
    if s.artifacts.is_empty() {
        writeln!(
            out,
            r#"<tr><td colspan="5">No records were written.</td></tr>"#
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    if tally.unreadable > 0 {
        writeln!(
            out,
            r##"<p class="bad">{} lines of the record files could not be read as records and are not in this report (see <a href="#problems">Warnings and errors</a>).</p>"##,
            num(tally.unreadable)
        )?;
    }
    Ok(())
}

fn problems_brief(out: &mut dyn Write, s: &Summary, tally: &Tally) -> io::Result<()> {
    writeln!(
        out,
        r##"<h3>Warnings and errors</h3><p>{} errors and {} warnings were recorded{}.{}</p>"##,
        num(s.counts.errors),
        num(s.counts.warnings),
        if tally.unreadable > 0 {
            format!(
                ", and this report could not read {} record lines",
                num(tally.unreadable)
            )
        } else {
            String::new()
        },
        if s.problems.is_empty() && tally.unreadable == 0 {
            String::new()
        } else {
            r##" The first are below; <a href="#problems">all of them</a> are listed at the end."##
                .to_owned()
        }
    )?;
    if !s.problems.is_empty() {
        writeln!(out, "<ul>")?;
        for p in s.problems.iter().take(PROBLEMS_IN_SUMMARY) {
            writeln!(
                out,
                r#"<li><span class="{0}">{0}</span> {1}</li>"#,
                escape(&p.level),
                escape(&p.message)
            )?;
        }
        writeln!(out, "</ul>")?;
    }
    Ok(())
}

/// A device fact's name for people: `ios_version` → `iOS version`.
fn label(key: &str) -> String {
    let words: Vec<String> = key
        .split('_')
        .enumerate()
        .map(|(i, w)| match w.to_ascii_lowercase().as_str() {
            "ios" => "iOS".to_owned(),
            "itunes" => "iTunes".to_owned(),
            "imei" | "udid" | "iccid" | "meid" | "guid" | "uuid" | "id" => w.to_ascii_uppercase(),
            _ if i == 0 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_owned(),
        })
        .collect();
    words.join(" ")
}

/// A fact's value as text: strings as they are, lists counted and joined,
/// anything else as compact JSON.
fn value_html(v: &Value) -> String {
    match v {
        Value::String(s) => escape(s).into_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            format!(
                "<details><summary>{} items</summary>{}</details>",
                num(items.len() as u64),
                escape(&names.join(", "))
            )
        }
        other => format!("<code>{}</code>", escape(&other.to_string())),
    }
}

fn kv_table(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    writeln!(out, r#"<table class="kv"><tbody>"#)?;
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if v.is_null() {
                    continue;
                }
                writeln!(
                    out,
                    r#"<tr><th scope="row">{}</th><td>{}</td></tr>"#,
                    escape(&label(k)),
                    value_html(v)
                )?;
            }
        }
        other => writeln!(out, "<tr><td>{}</td></tr>", value_html(other))?,
    }
    writeln!(out, "</tbody></table>")
}

/// `#device`.
pub fn device(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    writeln!(out, r#"<section id="device"><h2>Device</h2>"#)?;
    match &s.device {
        Some(d) => {
            writeln!(
                out,
                r#"<p class="note">As the format plugin read it from the evidence; fields it did not find are left out.</p>"#
            )?;
            kv_table(out, d)?;
        }
        None => writeln!(
            out,
            r#"<p id="device-none">Device information: not recorded by the format plugin{}.</p>"#,
            s.selected
                .as_ref()
                .map(|p| format!(" ({})", escape(&p.plugin)))
                .unwrap_or_default()
        )?,
    }
    regions(out, s)?;
    if !s.facts.is_empty() {
        writeln!(out, "<h3>Other facts the plugins noted</h3>")?;
        for (what, details) in s.facts.iter().take(FACTS_SHOWN) {
            writeln!(out, "<h4>{}</h4>", escape(what))?;
            kv_table(out, details)?;
        }
        if s.facts.len() > FACTS_SHOWN {
            writeln!(
                out,
                r#"<p class="note">The first {} of {} facts; <code>exhibit log</code> lists them all.</p>"#,
                num(FACTS_SHOWN as u64),
                num(s.facts.len() as u64)
            )?;
        }
    }
    writeln!(out, "</section>")
}

/// The partitions of a physical image and the spans between them, each
/// with the SHA-256 the core computed over its raw bytes.
fn regions(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    if s.regions.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        r#"<h3>Partitions and regions</h3><p class="note">Each partition, and each span no partition covers, hashed by exhibit over its raw bytes in the image (for a sparse image, its expanded bytes). Offsets and sizes are in bytes.</p><table id="regions-table"><thead><tr><th scope="col">Region</th><th scope="col">What</th><th scope="col" class="n">Offset</th><th scope="col" class="n">Size</th><th scope="col">SHA-256</th></tr></thead><tbody>"#
    )?;
    for r in &s.regions {
        let d = &r.details;
        let what = [
            d["region"].as_str(),
            d["scheme"].as_str(),
            d["type_name"].as_str(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let digest = match (&r.sha256, r.complete) {
            (Some(h), true) => hash(h),
            (Some(h), false) => format!(
                r#"{} <span class="bad">incomplete: the image ends inside it</span>"#,
                hash(h)
            ),
            (None, _) => r#"<span class="bad">not hashed</span>"#.into(),
        };
        writeln!(
            out,
            r#"<tr><td><code>{}</code></td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{digest}</td></tr>"#,
            escape(&r.name),
            escape(&what),
            r.offset.map(num).unwrap_or_default(),
            num(r.size),
        )?;
    }
    writeln!(out, "</tbody></table>")
}

/// `#problems`: the warnings and errors of the custody log, then what this
/// report itself could not read.
pub fn problems(out: &mut dyn Write, s: &Summary, tally: &Tally) -> io::Result<()> {
    writeln!(
        out,
        r#"<section id="problems"><h2>Warnings and errors</h2><p>{} errors and {} warnings in the custody log.</p>"#,
        num(s.counts.errors),
        num(s.counts.warnings)
    )?;
    if !s.problems.is_empty() {
        writeln!(
            out,
            r#"<table id="problems-table"><thead><tr><th scope="col" class="n">Entry</th><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Message</th><th scope="col">Details</th></tr></thead><tbody>"#
        )?;
        for p in s.problems.iter().take(PROBLEMS_SHOWN) {
            let mut details = p.details.clone();
            if let Value::Object(map) = &mut details {
                map.remove("message");
            }
            let mut text = details.to_string();
            if text.len() > 400 {
                let mut cut = 400;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            writeln!(
                out,
                r#"<tr><td class="n">{}</td><td>{}</td><td><span class="{2}">{2}</span></td><td>{3}</td><td><code>{4}</code></td></tr>"#,
                p.seq,
                escape(&utc_display(&p.time)),
                escape(&p.level),
                escape(&p.message),
                escape(&text)
            )?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    let listed = s.problems.len().min(PROBLEMS_SHOWN) as u64;
    let total = s.counts.errors + s.counts.warnings;
    if total > listed {
        writeln!(
            out,
            r#"<p class="note">{} are listed here; <code>exhibit log</code> shows all {}.</p>"#,
            num(listed),
            num(total)
        )?;
    }
    if !tally.unreadable_lines.is_empty() {
        writeln!(
            out,
            r#"<h3>Record lines this report could not read</h3><p>{} in all; the first:</p><ul>"#,
            num(tally.unreadable)
        )?;
        for line in &tally.unreadable_lines {
            writeln!(out, "<li>{}</li>", escape(line))?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "</section>")
}
