//! `exhibit report`: the examiner's report, one self-contained HTML file
//! (styles and script inline, a Content-Security-Policy that forbids every
//! fetch, so it works offline and cannot call out). Sections: the case
//! summary, the device, conversations, contacts, calls, a timeline chart,
//! the extracted files, and the warnings and errors.
//!
//! Memory stays bounded whatever the size of the case: records and files
//! are streamed, never collected. Messages and calls, which must be
//! ordered, are staged in a scratch SQLite database in the system temp
//! folder ([`stage`]); files and contacts are written as they come into a
//! temporary spool; the timeline's per-day counts are a `GROUP BY` in the
//! same scratch database. The tables reach the page as chunks of JSON
//! ([`rows`]) that the page's script parses one page at a time.
//!
//! The bytes depend only on the case, the zone and the link base: no
//! clock, no host time zone, no hash-map order.

mod deleted;
mod rows;
mod stage;
mod summary;
#[cfg(test)]
mod tests;
mod timeline_svg;

use crate::RenderOptions;
use crate::case::{Case, FileItem};
use crate::markup::{self, escape};
use anyhow::{Context, Result, bail};
use exhibit_plugin_sdk::EntryKind;
use exhibit_plugin_sdk::records::{Call, Contact, Message};
use rows::{Chunks, Sources};
use serde::de::DeserializeOwned;
use serde_json::json;
use stage::Stage;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use timeline_svg::Timeline;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// Lines of a record file that may fail to parse before the report gives
/// up: past this the file is not a record file at all.
const UNREADABLE_LIMIT: u64 = 1_000;
/// Unreadable lines quoted in the report.
const UNREADABLE_QUOTED: usize = 20;

/// What the report read, as it read it.
#[derive(Debug, Default)]
pub struct Tally {
    pub messages: u64,
    pub threads: u64,
    pub contacts: u64,
    pub calls: u64,
    pub files: u64,
    /// Record lines that did not parse.
    pub unreadable: u64,
    /// The first [`UNREADABLE_QUOTED`] of them, as errors.
    pub unreadable_lines: Vec<String>,
}

impl Tally {
    /// Notes a record line that did not parse; a file of mostly such lines
    /// (or a read error that repeats) ends the report.
    fn unreadable(&mut self, err: anyhow::Error) -> Result<()> {
        self.unreadable += 1;
        if self.unreadable_lines.len() < UNREADABLE_QUOTED {
            self.unreadable_lines.push(format!("{err:#}"));
        }
        if self.unreadable > UNREADABLE_LIMIT {
            return Err(err.context(format!(
                "more than {UNREADABLE_LIMIT} record lines could not be read; run `exhibit verify` on the case"
            )));
        }
        Ok(())
    }
}

/// `1,234,567`.
pub(crate) fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes the report of `case` to `out`.
pub fn write(case: &Case, opts: &RenderOptions, out: &mut dyn Write) -> Result<()> {
    let stage = Stage::new()?;
    let mut sources = Sources::new(&opts.case_href);
    let mut tally = Tally::default();
    // Files and contacts need no ordering: their chunks are written as they
    // are read, to an unnamed temporary file copied into the page later.
    let spool_file = tempfile::tempfile().context("cannot make a scratch file for the report")?;
    let mut spool = BufWriter::with_capacity(1 << 16, spool_file);

    stage_records(case, opts, &stage, &mut sources, &mut tally)?;
    spool_files(case, opts, &stage, &mut spool, &mut tally)?;
    spool_contacts(case, &mut sources, &mut spool, &mut tally)?;
    stage.seal()?;
    tally.threads = stage.thread_count()?;
    let timeline = timeline(&stage)?;

    let mut out = BufWriter::with_capacity(1 << 16, out);
    page_start(&mut out, case, opts, &tally, timeline.as_ref())?;
    write_conversations(&mut out, opts, &stage)?;
    let mut calls = Chunks::new("calls");
    stage.calls(|row| Ok(calls.push_text(&mut out, row)?))?;
    calls.finish(&mut out)?;
    let mut spool = spool.into_inner().map_err(|e| e.into_error())?;
    spool.seek(SeekFrom::Start(0))?;
    std::io::copy(&mut spool, &mut out).context("cannot copy the report's scratch file")?;
    let meta = json!({
        "chunk": rows::CHUNK,
        "base": opts.case_href,
        "sets": {
            "threads": tally.threads,
            "msg": tally.messages,
            "contacts": tally.contacts,
            "calls": tally.calls,
            "files": tally.files,
        },
    });
    writeln!(
        out,
        r#"<script type="application/json" id="report-sources">{}</script>"#,
        markup::script_json(&sources.to_value())
    )?;
    writeln!(
        out,
        r#"<script type="application/json" id="report-meta">{}</script>"#,
        markup::script_json(&meta)
    )?;
    writeln!(out, "<script>\n{JS}</script>\n</body>\n</html>")?;
    out.flush()?;
    Ok(())
}

/// Gives `each` every record of `kind` that parses, with its line's place in
/// the file (so equal times keep the file's order); a line that does not
/// parse is noted in `tally` and skipped. Returns how many records `each`
/// took.
fn each_record<T: DeserializeOwned + 'static>(
    case: &Case,
    kind: &str,
    tally: &mut Tally,
    mut each: impl FnMut(u64, T) -> Result<()>,
) -> Result<u64> {
    let mut taken = 0;
    for (seq, record) in case.records::<T>(kind)?.enumerate() {
        match record {
            Ok(record) => {
                each(seq as u64, record)?;
                taken += 1;
            }
            Err(e) => tally.unreadable(e)?,
        }
    }
    Ok(taken)
}

/// Stages the two kinds of records the page shows in order: messages (by
/// conversation, then time) and calls (by time).
fn stage_records(
    case: &Case,
    opts: &RenderOptions,
    stage: &Stage,
    sources: &mut Sources,
    tally: &mut Tally,
) -> Result<()> {
    let messages = each_record(case, "messages", tally, |seq, m: Message| {
        let src = sources.id(&m.provenance);
        let (row, when) = rows::message_row(&m, &opts.zone, src, &opts.case_href);
        let addresses = m.from.iter().chain(&m.to).map(String::as_str);
        let ms = when.as_ref().and_then(|w| w.ms);
        stage.message(
            src,
            m.thread.as_deref().unwrap_or(""),
            ms,
            seq,
            &markup::script_json(&row),
            addresses,
        )?;
        if let Some(day) = when.and_then(|w| w.day) {
            stage.event(day, rows::direction_kind(m.direction))?;
        }
        Ok(())
    })?;
    tally.messages += messages;
    let calls = each_record(case, "calls", tally, |seq, c: Call| {
        let (row, when) = rows::call_row(&c, &opts.zone, sources.id(&c.provenance));
        stage.call(
            when.as_ref().and_then(|w| w.ms),
            seq,
            &markup::script_json(&row),
        )?;
        if let Some(day) = when.and_then(|w| w.day) {
            stage.event(day, timeline_svg::CALLS)?;
        }
        Ok(())
    })?;
    tally.calls += calls;
    Ok(())
}

fn spool_files(
    case: &Case,
    opts: &RenderOptions,
    stage: &Stage,
    spool: &mut dyn Write,
    tally: &mut Tally,
) -> Result<()> {
    let mut files = Chunks::new("files");
    for f in case.files()? {
        let f: FileItem = f?;
        let (row, modified) = rows::file_row(&f, &opts.zone);
        if f.kind == EntryKind::File
            && let Some(day) = modified.and_then(|w| w.day)
        {
            stage.event(day, timeline_svg::FILES)?;
        }
        files.push(spool, &row)?;
    }
    tally.files = files.finish(spool)?;
    Ok(())
}

fn spool_contacts(
    case: &Case,
    sources: &mut Sources,
    spool: &mut dyn Write,
    tally: &mut Tally,
) -> Result<()> {
    let mut contacts = Chunks::new("contacts");
    each_record(case, "contacts", tally, |_, c: Contact| {
        let row = rows::contact_row(&c, sources.id(&c.provenance));
        contacts.push(spool, &row)?;
        Ok(())
    })?;
    tally.contacts = contacts.finish(spool)?;
    Ok(())
}

fn timeline(stage: &Stage) -> Result<Option<Timeline>> {
    let Some((first, last)) = stage.day_span()? else {
        return Ok(None);
    };
    let mut t = Timeline::new(first, last);
    stage.days(|day, kind, n| t.add(day, kind, n))?;
    Ok(Some(t))
}

/// Every conversation's row, then its messages, in the order the page
/// lists them; each thread row says where its messages start.
fn write_conversations(out: &mut dyn Write, opts: &RenderOptions, stage: &Stage) -> Result<()> {
    let mut threads = Chunks::new("threads");
    let mut messages = Chunks::new("msg");
    let mut start = 0u64;
    stage.threads(|t| {
        let time = |ms: Option<i64>| {
            ms.and_then(|ms| rows::when_ms(&opts.zone, ms))
                .map(|w| rows::when_cell(&w))
        };
        threads.push(
            out,
            &json!([
                t.thread,
                t.source,
                t.participants,
                t.participant_count,
                t.messages,
                time(t.first_ms),
                time(t.last_ms),
                start,
            ]),
        )?;
        let mut n = 0u64;
        stage.messages_of(t.source, &t.thread, |row| {
            messages.push_text(out, row)?;
            n += 1;
            Ok(())
        })?;
        if n != t.messages {
            bail!(
                "conversation {:?}: {n} messages staged, {} counted",
                t.thread,
                t.messages
            );
        }
        start += n;
        Ok(())
    })?;
    threads.finish(out)?;
    messages.finish(out)?;
    Ok(())
}

/// Everything before the data: head, header, navigation and the sections,
/// the tables as empty shells the script fills.
fn page_start(
    out: &mut dyn Write,
    case: &Case,
    opts: &RenderOptions,
    tally: &Tally,
    timeline: Option<&Timeline>,
) -> Result<()> {
    let s = case.summary();
    let title = format!(
        "exhibit report: case {}",
        s.case.case_number.as_deref().unwrap_or("(no case number)")
    );
    write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="exhibit-report {version}">
<meta name="exhibit-chain-sha256" content="{chain}">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
{CSS}</style>
</head>
<body>
"#,
        version = env!("CARGO_PKG_VERSION"),
        chain = escape(&s.chain_sha256),
        title = escape(&title),
    )?;
    writeln!(
        out,
        r##"<nav aria-label="Sections"><ul><li><a href="#summary">Summary</a></li><li><a href="#device">Device</a></li><li><a href="#conversations">Conversations</a></li><li><a href="#contacts">Contacts</a></li><li><a href="#calls">Calls</a></li><li><a href="#timeline">Timeline</a></li><li><a href="#files">Files</a></li>{deleted}<li><a href="#problems">Warnings and errors</a></li></ul></nav>"##,
        deleted = if deleted::present(case) {
            r##"<li><a href="#deleted">Deleted</a></li>"##
        } else {
            ""
        },
    )?;
    summary::header(out, case, opts)?;
    writeln!(out, "<main>")?;
    writeln!(
        out,
        r#"<noscript><p class="bad">This page lists its tables with a script, which is off: the summary, device and timeline below are complete, and every row is embedded in the file as JSON.</p></noscript>"#
    )?;
    summary::summary(out, case, opts, tally)?;
    summary::device(out, s)?;

    let zone = if opts.zone.is_utc() {
        "UTC".to_owned()
    } else {
        format!("UTC and {}", escape(opts.zone.name()))
    };
    writeln!(
        out,
        r#"<section id="conversations"><h2>Conversations</h2><p>{} messages in {} conversations, earliest conversation first; messages in time order, times in {zone}. A conversation is a thread of one source file. Choose one to read it.</p>"#,
        num(tally.messages),
        num(tally.threads),
    )?;
    table(
        out,
        "threads",
        "a thread id, address or file",
        &[
            ("Conversation", ""),
            ("Participants", ""),
            ("Messages", "n"),
            ("First", ""),
            ("Last", ""),
        ],
        tally.threads,
    )?;
    writeln!(
        out,
        r#"<div id="messages" aria-live="polite"><h3 id="thread-title">Messages</h3>"#
    )?;
    table(
        out,
        "messages",
        "words, addresses",
        &[
            ("Time", ""),
            ("Direction", ""),
            ("Message", ""),
            ("Service", ""),
            ("Source", ""),
        ],
        tally.messages,
    )?;
    writeln!(out, "</div></section>")?;

    writeln!(
        out,
        r#"<section id="contacts"><h2>Contacts</h2><p>{} contacts, in the order of their source.</p>"#,
        num(tally.contacts)
    )?;
    table(
        out,
        "contacts",
        "a name, number or address",
        &[
            ("Name", ""),
            ("Phones", ""),
            ("E-mail", ""),
            ("Organisation", ""),
            ("Account", ""),
            ("Source", ""),
        ],
        tally.contacts,
    )?;
    writeln!(out, "</section>")?;

    writeln!(
        out,
        r#"<section id="calls"><h2>Calls</h2><p>{} calls in time order, times in {zone}.</p>"#,
        num(tally.calls)
    )?;
    table(
        out,
        "calls",
        "a number, name or type",
        &[
            ("Time", ""),
            ("Type", ""),
            ("Number", ""),
            ("Duration", "n"),
            ("Service", ""),
            ("Source", ""),
        ],
        tally.calls,
    )?;
    writeln!(out, "</section>")?;

    writeln!(out, r#"<section id="timeline"><h2>Timeline</h2>"#)?;
    match timeline {
        Some(t) => writeln!(out, "{}", t.figure(&opts.zone))?,
        None => writeln!(out, "<p>No message, call or file has a time to chart.</p>")?,
    }
    writeln!(out, "</section>")?;

    writeln!(
        out,
        r#"<section id="files"><h2>Extracted files</h2><p>{} entries in the order they were extracted: {} files, and the directories, links and other entries recorded with them. Each path links to the file in the case; sizes and SHA-256 are the core&#39;s, computed as the file was written; times in {zone}.</p>"#,
        num(tally.files),
        num(case.summary().counts.files),
    )?;
    table(
        out,
        "files",
        "part of a path or hash",
        &[
            ("Path", ""),
            ("Kind", ""),
            ("Size (bytes)", "n"),
            ("SHA-256", ""),
            ("State", ""),
            ("Modified", ""),
        ],
        tally.files,
    )?;
    writeln!(out, "</section>")?;
    deleted::section(out, case, opts)?;
    summary::problems(out, s, tally)?;
    writeln!(out, "</main>")?;
    Ok(())
}

/// A table the script fills: filter box, pager, headings, and a body that
/// says what is missing until the script runs.
fn table(
    out: &mut dyn Write,
    name: &str,
    hint: &str,
    columns: &[(&str, &str)],
    rows: u64,
) -> Result<()> {
    write!(
        out,
        r#"<div class="tools"><label>Filter <input type="search" id="{name}-filter" placeholder="{hint}" aria-controls="{name}-table"></label><div class="pager" id="{name}-table-pager"></div></div><table id="{name}-table"><thead><tr>"#
    )?;
    for (heading, class) in columns {
        if class.is_empty() {
            write!(out, r#"<th scope="col">{heading}</th>"#)?;
        } else {
            write!(out, r#"<th scope="col" class="{class}">{heading}</th>"#)?;
        }
    }
    writeln!(
        out,
        r#"</tr></thead><tbody><tr><td colspan="{}">{} rows, listed by the page&#39;s script.</td></tr></tbody></table>"#,
        columns.len(),
        num(rows)
    )?;
    Ok(())
}
