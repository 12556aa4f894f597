//! Tests of the whole report, rendered from small cases made here: a custody
//! log written with the real [`CustodyLog`] and record files written from
//! the SDK's record types. Expected values are worked out from the records
//! put in, never copied from a report.

use super::*;
use crate::Zone;
use exhibit_core::custody::{CustodyLog, LOG_FILE, action};
use exhibit_plugin_sdk::records::{Direction, Provenance, Timestamp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const HOSTILE: &str = "</script><script>alert(1)</script>";
const DB: &str = "files/data/mmssms.db";
const DB_SHA: &str = "f2ba9a9a851bd7fbe582bf651312e1169b9b5b443ad5cda1949c601fc4079c67";

fn message(thread: &str, dir: Direction, peer: &str, body: &str, ms: i64, row: i64) -> Message {
    let outgoing = dir == Direction::Outgoing;
    Message {
        service: "sms".into(),
        direction: dir,
        folder: None,
        thread: Some(thread.into()),
        from: (!outgoing).then(|| peer.to_owned()),
        to: if outgoing {
            vec![peer.to_owned()]
        } else {
            vec![]
        },
        subject: None,
        body: Some(body.into()),
        time: Some(Timestamp::unix_ms(ms)),
        sent: None,
        received: None,
        read: None,
        read_at: None,
        delivered_at: None,
        status: None,
        parts: vec![],
        notes: vec![],
        provenance: Provenance {
            file: DB.into(),
            sha256: DB_SHA.into(),
            decoder: "android 0.1.0".into(),
            ..Provenance::row("sms", row)
        },
    }
}

fn call(number: &str, ms: i64, row: i64) -> Call {
    Call {
        number: Some(number.into()),
        name: None,
        call_type: exhibit_plugin_sdk::records::CallType::Missed,
        type_raw: Some(3),
        time: Some(Timestamp::unix_ms(ms)),
        duration_s: Some(0),
        service: Some("phone".into()),
        notes: vec![],
        provenance: Provenance {
            file: "files/data/calllog.db".into(),
            sha256: "cc".into(),
            decoder: "android 0.1.0".into(),
            ..Provenance::row("calls", row)
        },
    }
}

/// A file entry of the log, modified at `mtime` (seconds).
fn file(path: &str, sha: &str, mtime: i64) -> Value {
    json!({"path": path, "name": path.trim_start_matches("files/"), "size": 3, "complete": true,
           "hashes": {"sha256": sha}, "meta": {"kind": "file", "mtime": {"secs": mtime, "nanos": 0}}})
}

/// A case folder: the log, then one record file per kind given.
struct Made {
    dir: tempfile::TempDir,
}

fn make_case(
    messages: &[Message],
    calls: &[Call],
    files: &[Value],
    extra: &[(&str, Value)],
) -> Made {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("artifacts")).expect("artifacts dir");
    let mut log = CustodyLog::create(&root.join(LOG_FILE)).expect("log");
    log.append(
        action::CASE_OPENED,
        json!({"examiner": "Ann <Example>", "case_number": "X-1", "tool": "exhibit",
               "tool_version": "0.1.0", "hash_algorithms": ["sha256"], "case_dir": "/cases/x 1"}),
    )
    .expect("append");
    for f in files {
        log.append(action::FILE_EXTRACTED, f.clone())
            .expect("append");
    }
    for (act, details) in extra {
        log.append(act, details.clone()).expect("append");
    }
    let mut write = |kind: &str, lines: Vec<String>| {
        let path = format!("artifacts/{kind}.jsonl");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(root.join(&path), &text).expect("records");
        log.append(
            action::ARTIFACT_WRITTEN,
            json!({"kind": kind, "path": path, "records": lines.len(), "size": text.len(),
                   "hashes": {"sha256": "00"}}),
        )
        .expect("append");
    };
    let lines = |v: Vec<String>| v;
    write(
        "messages",
        lines(
            messages
                .iter()
                .map(|m| serde_json::to_string(m).expect("json"))
                .collect(),
        ),
    );
    write(
        "calls",
        lines(
            calls
                .iter()
                .map(|c| serde_json::to_string(c).expect("json"))
                .collect(),
        ),
    );
    log.append(action::RUN_FINISHED, json!({"outcome": "clean"}))
        .expect("append");
    Made { dir }
}

fn render_with(root: &Path, zone: Zone) -> String {
    let case = Case::open(root).expect("open case");
    let opts = RenderOptions {
        zone,
        case_href: "../".into(),
    };
    let mut out = Vec::new();
    write(&case, &opts, &mut out).expect("render");
    String::from_utf8(out).expect("utf-8")
}

fn render(root: &Path) -> String {
    render_with(root, Zone::default())
}

/// Every row of data set `set`, chunk after chunk.
fn rows_of(html: &str, set: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    for k in 0.. {
        let open = format!(r#"<script type="application/json" id="d-{set}-{k}">"#);
        let Some(start) = html.find(&open) else {
            break;
        };
        let body = &html[start + open.len()..];
        let end = body.find("</script>").expect("chunk closed");
        let chunk: Vec<Value> = serde_json::from_str(&body[..end]).expect("chunk is JSON");
        rows.extend(chunk);
    }
    rows
}

fn count_shown(html: &str, id: &str) -> u64 {
    let open = format!(r#"id="{id}">"#);
    let start = html.find(&open).unwrap_or_else(|| panic!("no #{id}")) + open.len();
    let text = &html[start..start + html[start..].find('<').expect("closed")];
    text.replace(',', "").parse().expect("a number")
}

/// 2024-03-01T08:00:00Z plus `minutes`, in milliseconds.
fn at(minutes: i64) -> i64 {
    1_709_280_000_000 + minutes * 60_000
}

fn sample() -> (Vec<Message>, Vec<Call>, Vec<Value>) {
    let messages = vec![
        // Thread "2" starts later than thread "1", but is listed first in
        // the file; thread "1"'s messages are out of order.
        message(
            "2",
            Direction::Incoming,
            "+4400",
            "second thread",
            at(60),
            1,
        ),
        message("1", Direction::Outgoing, "+1555", "reply", at(5), 2),
        message(
            "1",
            Direction::Incoming,
            "+1555",
            "Hi, are we still on for lunch?",
            at(0),
            3,
        ),
        message("1", Direction::Incoming, "+1555", HOSTILE, at(24 * 60), 4),
        message(
            "3",
            Direction::Draft,
            "+3069",
            "Καλημέρα & <b>",
            at(2 * 24 * 60),
            5,
        ),
    ];
    let calls = vec![call("+1555", at(12 * 60), 1), call("+4400", at(-9 * 60), 2)];
    let files = vec![
        file("files/a b/#1?.db", "aa", 1_709_280_000),
        file("files/data/mmssms.db", DB_SHA, 1_709_280_000 + 86_400),
    ];
    (messages, calls, files)
}

#[test]
fn counts_threads_and_time_order_follow_the_records() {
    let (messages, calls, files) = sample();
    let case = make_case(&messages, &calls, &files, &[]);
    let html = render(case.dir.path());
    assert_eq!(count_shown(&html, "count-messages"), messages.len() as u64);
    assert_eq!(count_shown(&html, "count-calls"), calls.len() as u64);
    assert_eq!(count_shown(&html, "count-contacts"), 0);
    assert_eq!(count_shown(&html, "count-files"), files.len() as u64);
    assert_eq!(count_shown(&html, "count-threads"), 3);

    // Threads earliest first; each says where its messages start.
    let threads = rows_of(&html, "threads");
    let ids: Vec<&str> = threads.iter().filter_map(|t| t[0].as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(threads[0][4], 3);
    assert_eq!(threads[0][2], json!(["+1555"]));
    assert_eq!(threads[1][7], 3);
    assert_eq!(threads[2][7], 4);
    // Within thread "1": by time, whatever the file order.
    let msgs = rows_of(&html, "msg");
    let bodies: Vec<&str> = msgs.iter().filter_map(|m| m[3].as_str()).collect();
    assert_eq!(
        bodies,
        [
            "Hi, are we still on for lunch?",
            "reply",
            HOSTILE,
            "second thread",
            "Καλημέρα & <b>"
        ]
    );
    assert_eq!(msgs[0][5][0], "2024-03-01 08:00:00Z");
    assert_eq!(msgs[0][5][2], "stored 1709280000000 (unix_ms)");
    assert_eq!(msgs[0][7], "sms row 3");
    // Calls by time: the call nine hours before 08:00 comes first.
    let call_rows = rows_of(&html, "calls");
    assert_eq!(call_rows[0][1], "+4400");
    assert_eq!(call_rows[0][3][0], "2024-02-29 23:00:00Z");
}

#[test]
fn evidence_text_cannot_break_out_and_links_are_encoded() {
    let (messages, calls, files) = sample();
    let case = make_case(&messages, &calls, &files, &[]);
    let html = render(case.dir.path());
    assert!(!html.contains(HOSTILE), "the hostile body appears raw");
    assert!(!html.contains("alert(1)</script>"));
    assert!(html.contains(r"\u003c/script\u003e\u003cscript\u003ealert(1)"));
    // Exactly the page's own script elements are closed: one per chunk,
    // the sources, the meta and the code.
    let opened = html.matches("<script").count();
    assert_eq!(opened, html.matches("</script>").count());
    assert!(html.contains("Ann &lt;Example&gt;"));
    // The hostile body still reads back exactly from its chunk.
    assert!(rows_of(&html, "msg").iter().any(|m| m[3] == HOSTILE));
    // Files: the path sent percent-encoded, the same as `markup::href`.
    let file_rows = rows_of(&html, "files");
    assert_eq!(file_rows[0][0], "files/a%20b/%231%3F.db");
    assert_eq!(
        format!("../{}", file_rows[0][0].as_str().expect("path")),
        markup::href("../", "files/a b/#1?.db")
    );
    assert!(html.contains(r#""../files/data/mmssms.db""#), "source link");
    assert!(html.contains(r#""base":"../""#));
}

#[test]
fn the_timeline_has_one_bar_per_day_and_kind_with_events() {
    let (messages, calls, files) = sample();
    let case = make_case(&messages, &calls, &files, &[]);
    // Independently: UTC days of each event, by kind.
    let day = |ms: i64| ms.div_euclid(86_400_000);
    let mut want: BTreeMap<(i64, &str), u64> = BTreeMap::new();
    for m in &messages {
        let kind = match m.direction {
            Direction::Incoming => "received",
            Direction::Outgoing => "sent",
            _ => "other",
        };
        let ms = m.time.as_ref().and_then(|t| t.unix_nanos()).expect("time") / 1_000_000;
        *want.entry((day(ms as i64), kind)).or_default() += 1;
    }
    for c in &calls {
        let ms = c.time.as_ref().and_then(|t| t.unix_nanos()).expect("time") / 1_000_000;
        *want.entry((day(ms as i64), "calls")).or_default() += 1;
    }
    for f in &files {
        let secs = f["meta"]["mtime"]["secs"].as_i64().expect("mtime");
        *want.entry((day(secs * 1000), "files")).or_default() += 1;
    }
    let html = render(case.dir.path());
    assert_eq!(html.matches(r#"<rect class="bar""#).count(), want.len());
    let total: u64 = html
        .split(r#"data-n=""#)
        .skip(1)
        .map(|s| s[..s.find('"').expect("end")].parse::<u64>().expect("n"))
        .sum();
    assert_eq!(total, want.values().sum::<u64>());
    for ((d, kind), n) in &want {
        let date = jiff::civil::Date::constant(1970, 1, 1)
            .checked_add(jiff::Span::new().days(*d))
            .expect("date");
        let bar = format!(r#"data-bucket="{date}" data-kind="{kind}" data-n="{n}""#);
        assert!(html.contains(&bar), "no bar {bar}");
    }
    assert!(html.contains(r#"data-bucket="2024-02-29" data-kind="calls" data-n="1""#));
    assert!(
        html.contains("one bar per day from 2024-02-29 to 2024-03-03; days are counted in UTC")
    );

    // 5:30 ahead of UTC, each call moves a day: the one at 23:00 UTC on
    // 29 February is at 04:30 on 1 March, the one at 20:00 UTC on 1 March
    // at 01:30 on 2 March.
    assert!(html.contains(r#"data-bucket="2024-03-01" data-kind="calls" data-n="1""#));
    let kolkata = render_with(case.dir.path(), Zone::parse("+05:30").expect("zone"));
    assert!(!kolkata.contains(r#"data-bucket="2024-02-29""#));
    assert!(kolkata.contains(r#"data-bucket="2024-03-01" data-kind="calls" data-n="1""#));
    assert!(kolkata.contains(r#"data-bucket="2024-03-02" data-kind="calls" data-n="1""#));
    assert!(kolkata.contains("days are counted in UTC+05:30"));
    let calls_local = rows_of(&kolkata, "calls");
    assert_eq!(calls_local[0][3][1], "2024-03-01 04:30:00 +05:30");
}

#[test]
fn the_same_case_gives_the_same_bytes() {
    let (messages, calls, files) = sample();
    let case = make_case(&messages, &calls, &files, &[]);
    let berlin = || Zone::parse("Europe/Berlin").expect("zone");
    let a = render_with(case.dir.path(), berlin());
    let b = render_with(case.dir.path(), berlin());
    assert!(a == b, "two renderings differ");
    // The scratch database lives outside the case: nothing was added.
    let entries: BTreeSet<String> = std::fs::read_dir(case.dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        BTreeSet::from(["artifacts".into(), LOG_FILE.into()])
    );
}

/// Renders the case named by `EXHIBIT_HTML_TEST_CASE` into
/// `EXHIBIT_HTML_TEST_OUT`: the child half of the host-time-zone test,
/// which runs this test binary again under another `TZ`. Without the
/// variables (a normal test run) there is nothing to do.
#[test]
fn render_for_a_child_process() {
    let (Some(case), Some(out)) = (
        std::env::var_os("EXHIBIT_HTML_TEST_CASE"),
        std::env::var_os("EXHIBIT_HTML_TEST_OUT"),
    ) else {
        return;
    };
    let html = render_with(
        Path::new(&case),
        Zone::parse("Europe/Berlin").expect("zone"),
    );
    std::fs::write(out, html).expect("write");
}

#[test]
fn the_host_time_zone_changes_nothing() {
    let (messages, calls, files) = sample();
    let case = make_case(&messages, &calls, &files, &[]);
    let here = render_with(case.dir.path(), Zone::parse("Europe/Berlin").expect("zone"));
    let exe = std::env::current_exe().expect("test binary");
    for tz in ["Asia/Kolkata", "UTC", "America/St_Johns"] {
        let out = case
            .dir
            .path()
            .with_extension(format!("{}.html", tz.replace('/', "-")));
        let status = std::process::Command::new(&exe)
            .args([
                "html::tests::render_for_a_child_process",
                "--exact",
                "--quiet",
            ])
            .env("TZ", tz)
            .env("EXHIBIT_HTML_TEST_CASE", case.dir.path())
            .env("EXHIBIT_HTML_TEST_OUT", &out)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run the test binary");
        assert!(status.success(), "the child under TZ={tz} failed");
        let there = std::fs::read_to_string(&out).expect("the child's report");
        std::fs::remove_file(&out).expect("remove");
        assert!(there == here, "the report differs under TZ={tz}");
    }
}

#[test]
fn twenty_thousand_messages_in_three_hundred_threads() {
    const N: i64 = 20_000;
    const THREADS: i64 = 300;
    let messages: Vec<Message> = (0..N)
        .map(|i| {
            let dir = if i % 3 == 0 {
                Direction::Outgoing
            } else {
                Direction::Incoming
            };
            // Times run backwards through the file, so every thread must be
            // reordered.
            let t = at(N - i);
            message(
                &(i % THREADS).to_string(),
                dir,
                &format!("+{}", i % THREADS),
                "x",
                t,
                i,
            )
        })
        .collect();
    let case = make_case(&messages, &[], &[], &[]);
    let html = render(case.dir.path());
    let chunks = usize::try_from(N).expect("n").div_ceil(rows::CHUNK);
    assert_eq!(html.matches(r#"id="d-msg-"#).count(), chunks);
    assert_eq!(html.matches(r#"id="d-threads-"#).count(), 1);
    let threads = rows_of(&html, "threads");
    assert_eq!(threads.len(), THREADS as usize);
    let msgs = rows_of(&html, "msg");
    assert_eq!(msgs.len(), N as usize);
    let mut start = 0;
    for t in &threads {
        let n = t[4].as_u64().expect("count");
        assert_eq!(t[7].as_u64(), Some(start));
        let slice = &msgs[start as usize..(start + n) as usize];
        // Every message of the slice is of this thread's peer, in time order.
        let peer = format!("+{}", t[0].as_str().expect("id"));
        assert!(
            slice
                .iter()
                .all(|m| m[1] == peer.as_str() || m[2][0] == peer.as_str())
        );
        let times: Vec<&str> = slice.iter().filter_map(|m| m[5][0].as_str()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "thread {peer} out of order"
        );
        start += n;
    }
    assert_eq!(start, N as u64);
    // The thread whose first message is earliest is listed first: the
    // last line of the file is the earliest, and it is of thread 19 999 % 300.
    assert_eq!(threads[0][0], ((N - 1) % THREADS).to_string());
    assert_eq!(count_shown(&html, "count-messages"), N as u64);
}

#[test]
fn device_facts_are_shown_or_said_to_be_missing() {
    let (messages, calls, files) = sample();
    let without = make_case(&messages, &calls, &files, &[]);
    let html = render(without.dir.path());
    assert!(html.contains("Device information: not recorded by the format plugin"));
    let with = make_case(
        &messages,
        &calls,
        &files,
        &[(
            action::EVIDENCE_DESCRIBED,
            json!({"what": "device", "details": {"device_name": "Ann's <iPhone>", "ios_version": "17.4",
                   "imei": null, "installed_applications": ["com.a", "com.b"]}}),
        )],
    );
    let html = render(with.dir.path());
    assert!(!html.contains("not recorded by the format plugin"));
    assert!(html.contains(r#"<th scope="row">Device name</th><td>Ann&#39;s &lt;iPhone&gt;</td>"#));
    assert!(html.contains(r#"<th scope="row">iOS version</th><td>17.4</td>"#));
    assert!(html.contains("<summary>2 items</summary>com.a, com.b"));
    assert!(!html.contains(">IMEI<"), "a null fact is left out");
}

#[test]
fn an_unreadable_record_line_is_reported_not_fatal() {
    let (messages, calls, files) = sample();
    let case = make_case(&messages, &calls, &files, &[]);
    let path = case.dir.path().join("artifacts/messages.jsonl");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("{\"not\": \"a message\"}\n");
    std::fs::write(&path, text).expect("write");
    let html = render(case.dir.path());
    assert_eq!(count_shown(&html, "count-messages"), messages.len() as u64);
    assert!(html.contains("messages.jsonl line 6 is not a messages record"));
    assert!(html.contains("1 lines of the record files could not be read"));
}
