//! Headless Chromium for the report tests: run a page and read back the DOM
//! after its scripts ran (`--dump-dom`), what the page wrote to the console,
//! or a screenshot. Each run gets a fresh profile and home folder, no
//! network, and a deadline after which Chromium and its helper processes are
//! killed (it can hang, and a hang must fail the test, not stall it).
//!
//! Chromium 148 logs every console message of a page to stderr at INFO,
//! whatever its level, as
//! `[pid:tid:date/time:INFO:CONSOLE:7] "Uncaught ReferenceError: x is not defined", source: file:///…/page.html (7)`;
//! older versions wrote `CONSOLE(7)`. The level is not in the line, so
//! [`console_lines`] returns every console line of the page: a report has
//! nothing to say on the console, and an error, an uncaught exception or a
//! refused resource all arrive this way.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall-clock limit of one Chromium run. Pages get 10 s of virtual time; a
/// run normally takes 2 s.
const DEADLINE: Duration = Duration::from_secs(120);

/// How much virtual time a page gets to run its scripts and timers.
pub const TIME_BUDGET_MS: u32 = 10_000;

/// Flags that make Chromium run headless as root in a closed network: no
/// sandbox (root), no GPU, none of its own traffic (its connections are
/// refused, and it waits on them otherwise), and no shared memory in
/// `/dev/shm`, which containers keep small.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A Chromium found on `PATH`.
pub struct Chromium {
    bin: PathBuf,
}

/// What one run printed.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
}

impl Chromium {
    /// The first of `chromium`, `chromium-browser` on `PATH`; `None`
    /// (with the reason printed) when there is none, so a test can skip,
    /// unless `EXHIBIT_REQUIRE_CHROMIUM` is set (CI sets it, so a broken
    /// install fails rather than skips).
    pub fn find() -> Option<Chromium> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for name in ["chromium", "chromium-browser"] {
            for dir in std::env::split_paths(&path) {
                let bin = dir.join(name);
                if bin.is_file() {
                    return Some(Chromium { bin });
                }
            }
        }
        let why = "no `chromium` on PATH (Debian: apt-get install chromium; CI installs it)";
        assert!(
            std::env::var_os("EXHIBIT_REQUIRE_CHROMIUM").is_none(),
            "{why}, and EXHIBIT_REQUIRE_CHROMIUM is set"
        );
        eprintln!("skipped: {why}");
        None
    }

    /// The page's DOM, serialised after its scripts ran for
    /// [`TIME_BUDGET_MS`] of virtual time, with the console lines logged.
    pub fn dump_dom(&self, page: &Path) -> Run {
        self.run(&[
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            format!("--virtual-time-budget={TIME_BUDGET_MS}").into(),
            "--dump-dom".into(),
            file_url(page).into(),
        ])
    }

    /// Like [`Chromium::dump_dom`], for a probe page that reads another
    /// local page through an `<iframe>`: file pages may read each other
    /// only with `--allow-file-access-from-files`, so it is set here and
    /// never for the page under test itself.
    pub fn dump_probe(&self, probe: &Path) -> Run {
        self.run(&[
            "--allow-file-access-from-files".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            format!("--virtual-time-budget={TIME_BUDGET_MS}").into(),
            "--dump-dom".into(),
            file_url(probe).into(),
        ])
    }

    /// Saves a `width` x `height` PNG of the page's first screen.
    pub fn screenshot(&self, page: &Path, png: &Path, width: u32, height: u32) -> Run {
        let mut shot = OsString::from("--screenshot=");
        shot.push(png);
        self.run(&[
            shot,
            format!("--window-size={width},{height}").into(),
            "--hide-scrollbars".into(),
            format!("--virtual-time-budget={TIME_BUDGET_MS}").into(),
            file_url(page).into(),
        ])
    }

    fn run(&self, args: &[OsString]) -> Run {
        let home = tempfile::Builder::new()
            .prefix("exhibit-chromium-")
            .tempdir()
            .expect("temp dir");
        let mut profile = OsString::from("--user-data-dir=");
        profile.push(home.path().join("profile"));
        let mut cmd = Command::new(&self.bin);
        cmd.args(FLAGS)
            .arg(profile)
            .args(args)
            // Nothing of the user's: Chromium writes ~/.pki and caches under HOME.
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("XDG_CACHE_HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a hang can be ended with every helper
        // process Chromium started, and nothing else.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("start chromium");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf);
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let start = Instant::now();
        loop {
            if child.try_wait().expect("wait for chromium").is_some() {
                break;
            }
            if start.elapsed() > DEADLINE {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill")
                    .args([OsStr::new("-KILL"), OsStr::new("--"), OsStr::new(&group)])
                    .status();
                let _ = child.wait();
                panic!(
                    "chromium {args:?} still running after {DEADLINE:?}: killed\n--- stderr\n{}",
                    err.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Run {
            stdout: out.join().expect("chromium stdout"),
            stderr: err.join().expect("chromium stderr"),
        }
    }
}

/// The lines of Chromium's log that carry the page's console messages
/// (uncaught exceptions, `console.*` calls, refused resources), and none of
/// Chromium's own noise (D-Bus, GPU, sandbox).
pub fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            // The log prefix is the bracketed part before the message.
            let prefix = line.split_once("] ").map_or("", |(p, _)| p);
            prefix.starts_with('[')
                && (prefix.contains(":CONSOLE:")
                    || prefix.ends_with(":CONSOLE")
                    || prefix.contains(":CONSOLE("))
        })
        .collect()
}

/// A `file://` URL for a local path, each byte outside the unreserved set
/// percent-encoded.
pub fn file_url(path: &Path) -> String {
    let path = std::path::absolute(path).expect("absolute path");
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// The width and height of a PNG, from its signature and IHDR chunk;
/// `None` when `data` is not a PNG.
pub fn png_size(data: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !data.starts_with(SIGNATURE) || data.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |at: usize| Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?));
    Some((be(16)?, be(20)?))
}

/// The element with `id="<id>"` in serialised HTML: its start tag and
/// everything up to its matching end tag. Chromium's serialisation escapes
/// `<` in text and attribute values, so counting tags of the same name is
/// enough to find the end.
pub fn element<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    // ` id=`, so that `data-id="…"` or `aria-controls` never match.
    let attr = format!(" id=\"{id}\"");
    let at = html.find(&attr)?;
    let start = html[..at].rfind('<')?;
    let name: String = html[start + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let (open, close) = (format!("<{name}"), format!("</{name}>"));
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        let next_open = html[pos..].find(&open).map(|i| pos + i);
        let next_close = html[pos..].find(&close).map(|i| pos + i)?;
        match next_open {
            // `<div` but not `<divider`: the name must end there.
            Some(o)
                if o < next_close
                    && html[o + open.len()..]
                        .starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') =>
            {
                depth += 1;
                pos = o + open.len();
            }
            Some(o) if o < next_close => pos = o + open.len(),
            _ => {
                depth -= 1;
                pos = next_close + close.len();
                if depth == 0 {
                    return Some(&html[start..pos]);
                }
            }
        }
    }
}

/// The text of serialised HTML: tags removed, the entities Chromium
/// writes decoded, runs of whitespace made one space.
pub fn text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        rest = rest[lt..].find('>').map_or("", |gt| &rest[lt + gt + 1..]);
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value of attribute `name` on the `<html>` start tag.
pub fn html_attr<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find("<html")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}
