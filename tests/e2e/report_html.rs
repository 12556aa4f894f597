//! The HTML report (`exhibit report`) opened in headless Chromium, as an
//! examiner opens it: its scripts run without an error or a console line,
//! it says it is ready, the counts, the chain hash and a known message are
//! on the page (the message visible without a click), the file filter
//! filters, times are shown in the zone asked for, and a screenshot is
//! kept as a test artifact (`target/test-artifacts/report.png`).
//!
//! The report's test hooks: `data-ready="1"` on `<html>` once its scripts
//! rendered, `data-errors` there when an error reached `window.onerror`;
//! `#count-files`, `#count-messages`, `#count-contacts`, `#count-calls`
//! whose text is the number; `#chain-hash`, `#conversations`, `#messages`,
//! `#files-table`, `#files-filter`.
//!
//! Every expected value is read from the case itself (the custody log and
//! `artifacts/*.jsonl`), never written here. Without `chromium` on `PATH`
//! the tests print why and pass, unless `EXHIBIT_REQUIRE_CHROMIUM` is set
//! (CI installs Chromium and sets it).

use crate::browser::{self, Chromium};
use crate::exhibit;
use crate::util::{Work, actions, assert_code, fixture_case, log, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What the report must show, read from the case before the report is made.
struct Expected {
    files: usize,
    messages: usize,
    contacts: usize,
    calls: usize,
    /// SHA-256 of the last line of the custody log.
    chain: String,
    /// A message shown when the report opens: its body and UTC time.
    body: String,
    utc: String,
}

fn records(case: &Path, kind: &str) -> Vec<Value> {
    let path = case.join(format!("artifacts/{kind}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the fixture case must be decoded: fixture_case loads the android decoder)",
                path.display()
            )
        })
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record is JSON"))
        .collect()
}

fn expected(case: &Path) -> Expected {
    use sha2::Digest;
    let text = std::fs::read_to_string(case.join("custody.jsonl")).expect("custody log");
    let last = text.lines().last().expect("a log entry");
    let messages = records(case, "messages");
    // The report opens on the earliest conversation (a thread of one source
    // file, by its first message): its earliest message with a body is on
    // the page without a click.
    let utc = |m: &Value| m["time"]["utc"].as_str().unwrap_or("~").to_owned();
    let conversation = |m: &Value| (m["thread"].clone(), m["provenance"]["file"].clone());
    let first = messages
        .iter()
        .min_by_key(|m| utc(m))
        .expect("the case has messages");
    let known = messages
        .iter()
        .filter(|m| conversation(m) == conversation(first))
        .filter(|m| m["body"].as_str().is_some_and(|b| !b.is_empty()))
        .min_by_key(|m| utc(m))
        .expect("a message with a body in the earliest conversation");
    Expected {
        files: actions(&log(case), "file_extracted").len(),
        messages: messages.len(),
        contacts: records(case, "contacts").len(),
        calls: records(case, "calls").len(),
        chain: hex::encode(sha2::Sha256::digest(last.as_bytes())),
        body: known["body"].as_str().expect("body").to_owned(),
        utc: known["time"]["utc"]
            .as_str()
            .expect("a UTC time")
            .to_owned(),
    }
}

/// Makes the report into the case (the default place) and returns its path.
fn report_into_case(case: &Path) -> PathBuf {
    let out = exhibit!("report", case);
    assert_code(&out, 0);
    let report = case.join("reports/report.html");
    assert!(
        report.is_file(),
        "no {}\n{}{}",
        report.display(),
        stdout(&out),
        stderr(&out)
    );
    report
}

/// Fails with the page's console lines, if it wrote any.
fn assert_quiet_console(run: &browser::Run) {
    let console = browser::console_lines(&run.stderr);
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );
}

/// The checks every rendered report must pass: ready, no script error,
/// nothing on the console.
fn assert_rendered_cleanly(run: &browser::Run) {
    assert!(
        run.stdout.contains("<html"),
        "chromium printed no DOM\n--- stderr\n{}",
        run.stderr
    );
    assert_eq!(
        browser::html_attr(&run.stdout, "data-errors"),
        None,
        "the report's scripts failed"
    );
    assert_eq!(
        browser::html_attr(&run.stdout, "data-ready"),
        Some("1"),
        "the report's scripts never finished rendering"
    );
    assert_quiet_console(run);
}

/// The text of the element `id` of a rendered DOM.
fn text_of(dom: &str, id: &str) -> String {
    let element =
        browser::element(dom, id).unwrap_or_else(|| panic!("no element #{id} in the report"));
    browser::text(element)
}

/// The number an element shows, thousands separators allowed.
fn count_of(dom: &str, id: &str) -> usize {
    let text = text_of(dom, id);
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '\u{202f}' | '\u{a0}'))
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("#{id} shows {text:?}, not a number"))
}

#[test]
fn the_report_renders_in_chromium_with_the_case_counts_chain_hash_and_a_message() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let w = Work::new();
    let case = fixture_case(&w);
    let want = expected(&case);
    let report = report_into_case(&case);

    let run = chromium.dump_dom(&report);
    assert_rendered_cleanly(&run);
    let dom = &run.stdout;
    for (id, n) in [
        ("count-files", want.files),
        ("count-messages", want.messages),
        ("count-contacts", want.contacts),
        ("count-calls", want.calls),
    ] {
        assert_eq!(count_of(dom, id), n, "#{id}");
    }
    assert!(
        text_of(dom, "chain-hash").contains(&want.chain),
        "#chain-hash does not show the log's last line hash {}",
        want.chain
    );
    let messages = text_of(dom, "messages");
    assert!(
        messages.contains(&want.body),
        "#messages does not show {:?}",
        want.body
    );
    assert!(
        !text_of(dom, "conversations").is_empty(),
        "#conversations is empty"
    );
    assert!(
        browser::element(dom, "files-table").is_some(),
        "no #files-table"
    );
    assert!(dom.contains(" id=\"files-filter\""), "no #files-filter");
}

/// A page of our own that loads the report in a frame, waits for it to be
/// ready, and reports what a person would see: the message region's
/// rendered text (`innerText` leaves out what is hidden) and the file table
/// before and after typing into the filter.
fn probe_page(report: &Path, body: &str, file: &str, other: &str) -> String {
    let wanted = serde_json::json!({"body": body, "file": file, "other": other});
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>probe</title>
<iframe id="report" src="{src}" style="width:1280px;height:1800px;border:0"></iframe>
<pre id="probe"></pre>
<script>
const wanted = {wanted};
const frame = document.getElementById("report");
const out = document.getElementById("probe");
const sleep = ms => new Promise(done => setTimeout(done, ms));
async function probe() {{
  const doc = frame.contentDocument;
  for (let i = 0; i < 50 && doc.documentElement.dataset.ready !== "1"; i++) await sleep(100);
  const seen = () => {{
    const table = doc.getElementById("files-table");
    return table ? table.innerText : "";
  }};
  const messages = doc.getElementById("messages");
  const result = {{
    ready: doc.documentElement.dataset.ready || null,
    messagesVisible: !!messages && messages.checkVisibility(),
    bodyShown: !!messages && messages.innerText.includes(wanted.body),
  }};
  result.beforeFile = seen().includes(wanted.file);
  result.beforeOther = seen().includes(wanted.other);
  const filter = doc.getElementById("files-filter");
  filter.focus();
  filter.value = wanted.file;
  for (const type of ["input", "keyup", "change"]) filter.dispatchEvent(new Event(type, {{bubbles: true}}));
  await sleep(1500);
  result.afterFile = seen().includes(wanted.file);
  result.afterOther = seen().includes(wanted.other);
  out.textContent = JSON.stringify(result);
}}
frame.addEventListener("load", () => probe().catch(e => {{ out.textContent = JSON.stringify({{failed: String(e)}}); }}));
</script>
"#,
        src = browser::file_url(report),
    )
}

/// Two file names of the case, neither inside the other: filtering by the
/// first must hide the second.
fn two_file_names(case: &Path) -> (String, String) {
    let log = log(case);
    let names: Vec<String> = actions(&log, "file_extracted")
        .iter()
        .filter_map(|e| e["details"]["name"].as_str())
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        .collect();
    for a in &names {
        for b in &names {
            if !a.contains(b.as_str()) && !b.contains(a.as_str()) {
                return (a.clone(), b.clone());
            }
        }
    }
    panic!("the fixture has no two distinct file names: {names:?}");
}

#[test]
fn a_message_is_visible_without_a_click_and_the_file_filter_filters() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let w = Work::new();
    let case = fixture_case(&w);
    let want = expected(&case);
    let (file, other) = two_file_names(&case);
    let report = report_into_case(&case);
    let probe = w.write(
        "probe/probe.html",
        probe_page(&report, &want.body, &file, &other).as_bytes(),
    );

    let run = chromium.dump_probe(&probe);
    assert_quiet_console(&run);
    let text = browser::text(browser::element(&run.stdout, "probe").expect("the probe's output"));
    let result: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the probe did not finish ({e}): {text:?}"));
    assert_eq!(result["failed"], Value::Null, "the probe failed: {result}");
    assert_eq!(result["ready"], "1", "{result}");
    assert_eq!(
        result["messagesVisible"], true,
        "#messages is hidden: {result}"
    );
    assert_eq!(
        result["bodyShown"], true,
        "{:?} is not visible in #messages without a click: {result}",
        want.body
    );
    assert_eq!(
        (&result["beforeFile"], &result["beforeOther"]),
        (&Value::Bool(true), &Value::Bool(true)),
        "before filtering, #files-table should list {file} and {other}: {result}"
    );
    assert_eq!(
        (&result["afterFile"], &result["afterOther"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "filtering by {file:?} should keep it and hide {other}: {result}"
    );
}

/// The workspace folder (the `exhibit` package is its `cli/`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds cli/")
        .to_owned()
}

/// Where test artifacts go: `test-artifacts/` in the build folder
/// (`CARGO_TARGET_DIR`, a relative one taken from the workspace, else the
/// workspace's `target/`).
fn artifact_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| workspace().join(t))
        .unwrap_or_else(|| workspace().join("target"));
    target.join("test-artifacts")
}

#[test]
fn a_screenshot_of_the_report_is_kept_as_a_test_artifact() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let w = Work::new();
    let case = fixture_case(&w);
    let report = report_into_case(&case);
    let png = w.path("report.png");
    let (width, height) = (1280, 1800);

    chromium.screenshot(&report, &png, width, height);
    let data = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert_eq!(
        browser::png_size(&data),
        Some((width, height)),
        "not a {width}x{height} PNG"
    );
    // A blank page compresses to a few kilobytes; a rendered report does not.
    assert!(
        data.len() > 20_000,
        "the screenshot is {} bytes: an empty page?",
        data.len()
    );
    let dir = artifact_dir();
    std::fs::create_dir_all(&dir).expect("test artifact folder");
    let kept = dir.join("report.png");
    std::fs::copy(&png, &kept).expect("keep the screenshot");
    println!("screenshot of the report: {}", kept.display());
    // `EXHIBIT_UPDATE_SCREENSHOT=1` refreshes the README's picture.
    if std::env::var_os("EXHIBIT_UPDATE_SCREENSHOT").is_some() {
        let docs = workspace().join("docs/report-screenshot.png");
        std::fs::copy(&png, &docs).expect("update docs/report-screenshot.png");
        println!("updated {}", docs.display());
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2024-03-01 09:00:00 +01:00` for `2024-03-01T08:00:00.000Z`: Berlin
/// time by the EU rule (summer time from 01:00 UTC on the last Sunday of
/// March to 01:00 UTC on the last Sunday of October), worked out here
/// rather than by the tz library the report uses.
fn berlin_local(utc: &str) -> String {
    let num = |r: std::ops::Range<usize>| -> i64 { utc[r].parse().expect("an RFC 3339 time") };
    let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
    let secs =
        days_from_civil(y, mo, d) * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    let last_sunday = |month: i64| {
        let day31 = days_from_civil(y, month, 31);
        // 1970-01-01 was a Thursday: weekday 0 is Sunday.
        day31 - (day31 + 4).rem_euclid(7)
    };
    let summer = (last_sunday(3) * 86_400 + 3600..last_sunday(10) * 86_400 + 3600).contains(&secs);
    let offset = if summer { 2 } else { 1 };
    let local = secs + offset * 3600;
    let (ly, lm, ld) = civil_from_days(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    format!(
        "{ly:04}-{lm:02}-{ld:02} {:02}:{:02}:{:02} +{offset:02}:00",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[test]
fn berlin_local_time_follows_the_eu_rule() {
    assert_eq!(
        berlin_local("2024-03-01T08:00:00.000Z"),
        "2024-03-01 09:00:00 +01:00"
    );
    assert_eq!(
        berlin_local("2024-03-31T00:59:59Z"),
        "2024-03-31 01:59:59 +01:00"
    );
    assert_eq!(
        berlin_local("2024-03-31T01:00:00Z"),
        "2024-03-31 03:00:00 +02:00"
    );
    assert_eq!(
        berlin_local("2024-10-27T00:59:59Z"),
        "2024-10-27 02:59:59 +02:00"
    );
    assert_eq!(
        berlin_local("2024-10-27T01:00:00Z"),
        "2024-10-27 02:00:00 +01:00"
    );
    assert_eq!(
        berlin_local("2023-12-31T23:30:00Z"),
        "2024-01-01 00:30:00 +01:00"
    );
}

#[test]
fn with_tz_the_report_shows_each_time_in_utc_and_in_that_zone() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let w = Work::new();
    let case = fixture_case(&w);
    let want = expected(&case);
    let report = w.path("berlin.html");
    let out = exhibit!("report", case, "--out", report, "--tz", "Europe/Berlin");
    assert_code(&out, 0);

    let run = chromium.dump_dom(&report);
    assert_rendered_cleanly(&run);
    let messages = text_of(&run.stdout, "messages");
    let local = berlin_local(&want.utc);
    // `2024-03-01T08:00:00.000Z` is shown as `2024-03-01 08:00:00Z`.
    let utc_shown = format!("{} {}Z", &want.utc[..10], &want.utc[11..19]);
    for shown in [&local, &utc_shown] {
        assert!(
            messages.contains(shown.as_str()),
            "#messages does not show {shown} (the time of {:?})",
            want.body
        );
    }
}

#[test]
fn the_harness_catches_a_script_error_and_a_console_line() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let w = Work::new();
    // The report's own error hook, then a console line and an uncaught
    // exception before the page could say it is ready.
    let page = w.write(
        "broken.html",
        br#"<!doctype html><html><head><meta charset="utf-8"><title>broken</title>
<script>
window.onerror = (message) => { document.documentElement.dataset.errors = String(message); };
</script></head><body><div id="messages">nothing</div>
<script>console.error("deliberate console error");</script>
<script>noSuchFunction(); document.documentElement.dataset.ready = "1";</script>
</body></html>"#,
    );

    let run = chromium.dump_dom(&page);
    let console = browser::console_lines(&run.stderr);
    assert!(
        console
            .iter()
            .any(|l| l.contains("deliberate console error")),
        "console.error was not seen: {console:?}\n{}",
        run.stderr
    );
    assert!(
        console
            .iter()
            .any(|l| l.contains("Uncaught ReferenceError: noSuchFunction is not defined")),
        "the uncaught exception was not seen: {console:?}"
    );
    assert!(
        browser::html_attr(&run.stdout, "data-errors")
            .is_some_and(|e| e.contains("noSuchFunction")),
        "the page's error hook did not record the exception"
    );
    assert_eq!(browser::html_attr(&run.stdout, "data-ready"), None);
    let result = std::panic::catch_unwind(|| assert_rendered_cleanly(&run));
    assert!(
        result.is_err(),
        "assert_rendered_cleanly passed a broken page"
    );
    // Chromium's own noise (D-Bus, GPU) is not taken for the page's.
    assert!(
        console.iter().all(|l| l.contains("source: file://")),
        "{console:?}"
    );
}
