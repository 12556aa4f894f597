//! Plugin isolation: a plugin run in a child process of its own, so that a
//! crash, an abort, runaway memory or a hang ends that process and not the
//! run.
//!
//! The child is the `exhibit` binary in its plugin-host mode
//! ([`serve_child`]). It loads the one plugin library (refusing it if its
//! SHA-256 is not the one the parent recorded), and runs it against a
//! [`RemoteHost`]: every host service the plugin calls becomes a message to
//! the parent, which answers it from the real host, so the custody log,
//! hashing and case writing all stay in the parent. The two talk over a Unix
//! socket pair given to the child as its standard input, with the same data
//! the C ABI carries (handles, offsets, raw bytes, JSON metadata).
//!
//! Policy:
//! - Services that return only a status the plugin cannot act on
//!   (`write`, `emit_record`, `log`) are sent without waiting for an answer;
//!   a refused `write` is reported by that entry's `end_file`, so the
//!   plugin's data streams without a round trip per chunk.
//! - The parent enforces the time limit and the examiner's interruption
//!   (a plugin that ignores cancellation is stopped after a grace period);
//!   the child enforces its own memory limit (`RLIMIT_AS`) before it loads
//!   the plugin.
//! - Whatever the plugin delivered before it died is kept: the parent's host
//!   already wrote and hashed it; the entry left open is closed incomplete by
//!   the caller.
//! - Probing stays in process: it sees at most 64 KiB and returns a number.

use crate::plugin::{LoadedPlugin, PluginHost};
use exhibit_plugin_sdk::{EvidenceInfo, HostServices, Status};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The hidden subcommand that starts the plugin-host mode.
pub const CHILD_COMMAND: &str = "plugin-host";

/// How long a plugin may go on after the examiner interrupted the run
/// before its process is stopped.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// The largest message either side accepts; a plugin reads and writes in
/// chunks far below it, and a longer length is a broken stream.
const MAX_FRAME: usize = 256 << 20;

/// How much of the child's standard error is kept for the custody entry.
const STDERR_KEPT: usize = 4096;

/// Which plugins run in a child process, and its limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Isolation {
    /// The program to start as plugin host: the `exhibit` binary itself.
    pub program: PathBuf,
    /// Run the format plugin isolated.
    pub formats: bool,
    /// Run each artifact decoder isolated (one process per decoded file).
    pub decoders: bool,
    /// Address-space limit for the child, in bytes.
    pub memory: Option<u64>,
    /// Wall-time limit for one plugin run (a format plugin over the
    /// evidence, a decoder over one file).
    pub timeout: Option<Duration>,
}

/// How an isolated run ended.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    /// The plugin's status, or the host-side status of its failure
    /// ([`Status::CRASHED`], [`Status::TIMED_OUT`], [`Status::OUT_OF_MEMORY`],
    /// [`Status::CANCELLED`] when it ignored the interruption).
    pub status: Status,
    /// What happened to the process, for the custody log, when it did not
    /// end by returning a status.
    pub failure: Option<String>,
}

/// Runs `plugin` in a child process, serving its host calls from `host`.
pub(crate) fn run(
    iso: &Isolation,
    plugin: &LoadedPlugin,
    host: &dyn HostServices,
    cancel: &AtomicBool,
    input: &str,
) -> Ended {
    match Parent::start(iso, plugin, host.evidence()) {
        Ok(parent) => parent.serve(iso, plugin, host, cancel, input),
        Err(e) => Ended {
            status: Status::CRASHED,
            failure: Some(format!(
                "plugin `{}` could not be started in a process of its own ({}): {e}; {input} was not decoded",
                plugin.info().name,
                iso.program.display()
            )),
        },
    }
}

/// The parent's end: the child process, the socket and the collected stderr.
struct Parent {
    child: Arc<Mutex<Child>>,
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Parent {
    fn start(iso: &Isolation, plugin: &LoadedPlugin, ev: &EvidenceInfo) -> io::Result<Parent> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut cmd = Command::new(&iso.program);
        cmd.arg(CHILD_COMMAND)
            .arg("--library")
            .arg(&plugin.info().path)
            .arg("--sha256")
            .arg(&plugin.info().sha256);
        if let Some(m) = iso.memory {
            cmd.arg("--memory").arg(m.to_string());
        }
        cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: the terminal's Ctrl-C reaches only the
            // parent, which then asks the plugin to stop through the host.
            .process_group(0);
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * STDERR_KEPT {
                        kept.drain(..kept.len() - STDERR_KEPT);
                    }
                }
                kept
            })
        });
        let mut writer = BufWriter::new(ours.try_clone()?);
        let mut hello = Frame::new(msg::HELLO);
        hello.bytes(&ev.name).u64(ev.size).u8(u8::from(ev.is_dir));
        hello.u32(ev.threads);
        hello.send(&mut writer)?;
        writer.flush()?;
        Ok(Parent {
            child: Arc::new(Mutex::new(child)),
            reader: BufReader::with_capacity(1 << 20, ours),
            writer,
            stderr,
        })
    }

    fn serve(
        mut self,
        iso: &Isolation,
        plugin: &LoadedPlugin,
        host: &dyn HostServices,
        cancel: &AtomicBool,
        input: &str,
    ) -> Ended {
        let name = &plugin.info().name;
        let (stop, stopped) = mpsc::channel::<()>();
        let why_killed: Arc<Mutex<Option<Status>>> = Arc::default();
        let watchdog = {
            let child = self.child.clone();
            let why = why_killed.clone();
            let timeout = iso.timeout;
            // The flag outlives this call only through the scope below.
            std::thread::scope(|scope| {
                let handle = scope.spawn(move || watch(&child, &stopped, timeout, cancel, &why));
                let served = serve_calls(&mut self.reader, &mut self.writer, host);
                let _ = stop.send(());
                let _ = handle.join();
                served
            })
        };
        // The plugin is done or dead: make sure the process is gone before
        // reading its exit status.
        let exit = {
            let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
            if watchdog.is_err() || matches!(watchdog, Ok(None)) {
                let _ = child.kill();
            }
            child.wait()
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let killed = *why_killed.lock().unwrap_or_else(|p| p.into_inner());
        let said = tail(&stderr);
        let said_suffix = if said.is_empty() {
            String::new()
        } else {
            format!("; it said: {said}")
        };
        match (watchdog, killed) {
            (Ok(Some(status)), None) => Ended {
                status,
                failure: None,
            },
            (_, Some(Status::TIMED_OUT)) => Ended {
                status: Status::TIMED_OUT,
                failure: Some(format!(
                    "plugin `{name}` ran past its time limit of {} s on {input} and was stopped; what it delivered before is kept",
                    iso.timeout.map_or(0, |t| t.as_secs())
                )),
            },
            (_, Some(_)) => Ended {
                status: Status::CANCELLED,
                failure: Some(format!(
                    "plugin `{name}` did not stop within {} s of the interruption and was stopped; what it delivered before is kept",
                    CANCEL_GRACE.as_secs()
                )),
            },
            (served, None) => {
                let how = describe_exit(exit.ok(), &stderr, iso.memory);
                let status = if how.0 {
                    Status::OUT_OF_MEMORY
                } else {
                    Status::CRASHED
                };
                let protocol = match served {
                    Err(e) => format!(" (its connection broke: {e})"),
                    Ok(_) => String::new(),
                };
                Ended {
                    status,
                    failure: Some(format!(
                        "plugin `{name}` {}{protocol} while decoding {input}; what it delivered before is kept{said_suffix}",
                        how.1
                    )),
                }
            }
        }
    }
}

/// Kills the child when the time limit passes or when it ignores an
/// interruption; returns when the parent says the plugin is done.
fn watch(
    child: &Mutex<Child>,
    stopped: &mpsc::Receiver<()>,
    timeout: Option<Duration>,
    cancel: &AtomicBool,
    why: &Mutex<Option<Status>>,
) {
    let started = Instant::now();
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match stopped.recv_timeout(Duration::from_millis(50)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if cancel.load(Ordering::Relaxed) && cancelled_at.is_none() {
            cancelled_at = Some(Instant::now());
        }
        let reason = if timeout.is_some_and(|t| started.elapsed() > t) {
            Some(Status::TIMED_OUT)
        } else if cancelled_at.is_some_and(|at| at.elapsed() > CANCEL_GRACE) {
            Some(Status::CANCELLED)
        } else {
            None
        };
        if let Some(reason) = reason {
            *why.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
            let _ = child.lock().unwrap_or_else(|p| p.into_inner()).kill();
            return;
        }
    }
}

/// `(out of memory, what happened)` for a child that did not report a status.
fn describe_exit(
    exit: Option<std::process::ExitStatus>,
    stderr: &[u8],
    memory: Option<u64>,
) -> (bool, String) {
    use std::os::unix::process::ExitStatusExt;
    let text = String::from_utf8_lossy(stderr);
    if text.contains("memory allocation of") || text.contains("out of memory") {
        let limit = memory.map_or(String::new(), |m| format!(" of {} MiB", m >> 20));
        return (true, format!("exceeded its memory limit{limit}"));
    }
    let Some(exit) = exit else {
        return (
            false,
            "ended, and its exit status could not be read".to_owned(),
        );
    };
    let how = match (exit.signal(), exit.code()) {
        (Some(sig), _) => format!("crashed with signal {sig} ({})", signal_name(sig)),
        (None, Some(code)) => format!("exited with code {code} before finishing"),
        (None, None) => "ended without a status".to_owned(),
    };
    (false, how)
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL, illegal instruction",
        6 => "SIGABRT, aborted",
        7 => "SIGBUS, bus error",
        8 => "SIGFPE, arithmetic error",
        9 => "SIGKILL, killed",
        11 => "SIGSEGV, segmentation fault",
        15 => "SIGTERM, terminated",
        _ => "signal",
    }
}

/// The end of the child's stderr, one line, without control characters.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let chars: Vec<char> = text.chars().collect();
    let start = chars.len().saturating_sub(400);
    chars[start..].iter().collect()
}

/// Message tags. Requests go child to parent; each synchronous request gets
/// exactly one answer, in order.
mod msg {
    pub const HELLO: u8 = 1;
    pub const READ_AT: u8 = 2;
    pub const LIST_DIR: u8 = 3;
    pub const OPEN: u8 = 4;
    pub const CLOSE: u8 = 5;
    pub const BEGIN_FILE: u8 = 6;
    pub const WRITE: u8 = 7;
    pub const END_FILE: u8 = 8;
    pub const EMIT_RECORD: u8 = 9;
    pub const LOG: u8 = 10;
    pub const IS_CANCELLED: u8 = 11;
    pub const PASSWORD: u8 = 12;
    pub const LOCAL_COPY: u8 = 13;
    pub const DONE: u8 = 14;
    pub const ANSWER: u8 = 15;
}

/// Answers the child's calls until it reports its status. `Ok(None)`: the
/// connection ended without one (the child died).
fn serve_calls(
    reader: &mut BufReader<UnixStream>,
    writer: &mut BufWriter<UnixStream>,
    host: &dyn HostServices,
) -> io::Result<Option<Status>> {
    let mut refused_writes: std::collections::HashMap<u64, Status> = Default::default();
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    loop {
        if !read_frame(reader, &mut buf)? {
            return Ok(None);
        }
        let mut m = Fields::new(&buf);
        let tag = m.u8()?;
        let mut answer = Frame::new(msg::ANSWER);
        match tag {
            msg::DONE => return Ok(Some(Status(m.u32()?))),
            msg::WRITE => {
                let (file, data) = (m.u64()?, m.rest());
                let status = host.write(file, data);
                if status != Status::OK {
                    refused_writes.entry(file).or_insert(status);
                }
                continue;
            }
            msg::EMIT_RECORD => {
                let kind = m.bytes()?;
                let _ = host.emit_record(kind, m.rest());
                continue;
            }
            msg::LOG => {
                let (lvl, status, offset) = (m.u32()?, Status(m.u32()?), m.u64()?);
                host.log(lvl, status, offset, m.rest());
                continue;
            }
            msg::READ_AT => {
                let (handle, offset) = (m.u64()?, m.u64()?);
                let len = usize::try_from(m.u64()?)
                    .unwrap_or(MAX_FRAME)
                    .min(MAX_FRAME - 64);
                scratch.resize(len, 0);
                match host.read_at(handle, offset, &mut scratch[..len]) {
                    Ok(n) => answer.u32(Status::OK.0).bytes(&scratch[..n.min(len)]),
                    Err(s) => answer.u32(s.0).bytes(&[]),
                };
            }
            msg::LIST_DIR => {
                let path = m.rest();
                let mut entries = Frame::new(0);
                let mut count = 0u64;
                let status = host.list_dir(path, &mut |name, meta| {
                    entries.bytes(name).bytes(meta);
                    count += 1;
                    true
                });
                answer.u32(status.0).u64(count).raw(&entries.body[5..]);
            }
            msg::OPEN => {
                match host.open(m.rest()) {
                    Ok(h) => answer.u32(Status::OK.0).u64(h),
                    Err(s) => answer.u32(s.0).u64(0),
                };
            }
            msg::CLOSE => {
                answer.u32(host.close(m.u64()?).0);
            }
            msg::BEGIN_FILE => {
                let name = m.bytes()?;
                match host.begin_file(name, m.rest()) {
                    Ok(h) => answer.u32(Status::OK.0).u64(h),
                    Err(s) => answer.u32(s.0).u64(0),
                };
            }
            msg::END_FILE => {
                let (file, status) = (m.u64()?, Status(m.u32()?));
                let ended = host.end_file(file, status, m.rest());
                let refused = refused_writes.remove(&file).unwrap_or(Status::OK);
                let answer_status = if ended == Status::OK { refused } else { ended };
                answer.u32(answer_status.0);
            }
            msg::IS_CANCELLED => {
                answer.u8(u8::from(host.is_cancelled()));
            }
            msg::PASSWORD => {
                match host.password() {
                    Ok(Some(p)) => answer.u32(Status::OK.0).bytes(p.as_bytes()),
                    Ok(None) => answer.u32(Status::NO_PASSWORD.0).bytes(&[]),
                    Err(s) => answer.u32(s.0).bytes(&[]),
                };
            }
            msg::LOCAL_COPY => {
                match host.local_copy() {
                    Ok(p) => answer
                        .u32(Status::OK.0)
                        .bytes(p.as_os_str().as_encoded_bytes()),
                    Err(s) => answer.u32(s.0).bytes(&[]),
                };
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown message {other} from the plugin process"),
                ));
            }
        }
        answer.send(writer)?;
        writer.flush()?;
    }
}

/// Reads one length-prefixed frame into `buf`; false at a clean end of stream.
fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message of {len} bytes"),
        ));
    }
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf)?;
    Ok(true)
}

/// A message being built: its length, a tag, then fixed-width little-endian
/// integers and length-prefixed byte strings. Kept whole in one buffer so it
/// goes out in one write: a message is never half-sent when the plugin dies.
struct Frame {
    body: Vec<u8>,
}

impl Frame {
    fn new(tag: u8) -> Frame {
        Frame {
            body: vec![0, 0, 0, 0, tag],
        }
    }
    fn u8(&mut self, v: u8) -> &mut Frame {
        self.body.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Frame {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Frame {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Frame {
        self.u64(b.len() as u64);
        self.body.extend_from_slice(b);
        self
    }
    /// Unprefixed bytes: the last field of a message.
    fn raw(&mut self, b: &[u8]) -> &mut Frame {
        self.body.extend_from_slice(b);
        self
    }
    fn send(&mut self, w: &mut impl Write) -> io::Result<()> {
        let len = u32::try_from(self.body.len() - 4)
            .ok()
            .filter(|l| (*l as usize) <= MAX_FRAME)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too long"))?;
        self.body[..4].copy_from_slice(&len.to_le_bytes());
        w.write_all(&self.body)
    }
}

/// Reads the fields of a received message.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(body: &'a [u8]) -> Fields<'a> {
        Fields { rest: body }
    }
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a message ends before its fields",
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
        self.take(n)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
}

/// The child's end: the plugin's host services, each a message to the parent.
struct RemoteHost {
    info: EvidenceInfo,
    conn: Mutex<Conn>,
    /// The last answer to `is_cancelled`, and when it was asked: plugins ask
    /// per chunk, and a round trip each time would cost more than the chunk.
    cancelled: AtomicBool,
    asked: Mutex<Instant>,
}

struct Conn {
    reader: BufReader<UnixStream>,
    /// Unbuffered: what the plugin delivered must reach the parent even if
    /// the next instruction crashes it.
    writer: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Sends a request and returns its answer's fields (after the tag).
    fn call(&mut self, frame: &mut Frame) -> io::Result<&[u8]> {
        frame.send(&mut self.writer)?;
        if !read_frame(&mut self.reader, &mut self.buf)? {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the parent closed the connection",
            ));
        }
        if self.buf.first() != Some(&msg::ANSWER) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not an answer"));
        }
        Ok(&self.buf[1..])
    }

    fn tell(&mut self, frame: &mut Frame) -> io::Result<()> {
        frame.send(&mut self.writer)
    }
}

impl RemoteHost {
    fn call<T>(
        &self,
        mut frame: Frame,
        parse: impl FnOnce(&mut Fields<'_>) -> io::Result<T>,
    ) -> Result<T, Status> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let answer = conn.call(&mut frame).map_err(|_| lost())?;
        parse(&mut Fields::new(answer)).map_err(|_| Status::IO)
    }

    fn tell(&self, mut frame: Frame) -> Status {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        match conn.tell(&mut frame) {
            Ok(()) => Status::OK,
            Err(_) => lost(),
        }
    }
}

/// The parent is gone: nothing the plugin does can be recorded any more.
fn lost() -> Status {
    std::process::exit(3)
}

fn status_of(f: &mut Fields<'_>) -> io::Result<Status> {
    f.u32().map(Status)
}

impl HostServices for RemoteHost {
    fn evidence(&self) -> &EvidenceInfo {
        &self.info
    }

    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        let mut f = Frame::new(msg::READ_AT);
        f.u64(handle).u64(offset).u64(buf.len() as u64);
        self.call(f, |a| {
            let status = status_of(a)?;
            let data = a.bytes()?;
            Ok((status, {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                n
            }))
        })
        .and_then(|(s, n)| if s == Status::OK { Ok(n) } else { Err(s) })
    }

    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        let mut f = Frame::new(msg::LIST_DIR);
        f.raw(path);
        let listed = self.call(f, |a| {
            let status = status_of(a)?;
            let count = a.u64()?;
            let mut entries = Vec::new();
            for _ in 0..count {
                entries.push((a.bytes()?.to_vec(), a.bytes()?.to_vec()));
            }
            Ok((status, entries))
        });
        match listed {
            Ok((status, entries)) => {
                for (name, meta) in entries {
                    if !visit(&name, &meta) {
                        break;
                    }
                }
                status
            }
            Err(s) => s,
        }
    }

    fn open(&self, path: &[u8]) -> Result<u64, Status> {
        let mut f = Frame::new(msg::OPEN);
        f.raw(path);
        self.call(f, |a| Ok((status_of(a)?, a.u64()?)))
            .and_then(|(s, h)| if s == Status::OK { Ok(h) } else { Err(s) })
    }

    fn close(&self, handle: u64) -> Status {
        let mut f = Frame::new(msg::CLOSE);
        f.u64(handle);
        self.call(f, status_of).unwrap_or_else(|s| s)
    }

    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status> {
        let mut f = Frame::new(msg::BEGIN_FILE);
        f.bytes(name).raw(meta_json);
        self.call(f, |a| Ok((status_of(a)?, a.u64()?)))
            .and_then(|(s, h)| if s == Status::OK { Ok(h) } else { Err(s) })
    }

    fn write(&self, file: u64, data: &[u8]) -> Status {
        // Split so one message stays well below the frame limit.
        for chunk in data.chunks(MAX_FRAME / 4) {
            let mut f = Frame::new(msg::WRITE);
            f.u64(file).raw(chunk);
            let s = self.tell(f);
            if s != Status::OK {
                return s;
            }
        }
        Status::OK
    }

    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status {
        let mut f = Frame::new(msg::END_FILE);
        f.u64(file).u32(status.0).raw(note);
        self.call(f, status_of).unwrap_or_else(|s| s)
    }

    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        let mut f = Frame::new(msg::EMIT_RECORD);
        f.bytes(kind).raw(record_json);
        self.tell(f)
    }

    fn log(&self, level: u32, status: Status, offset: u64, msg_bytes: &[u8]) {
        let mut f = Frame::new(msg::LOG);
        f.u32(level).u32(status.0).u64(offset).raw(msg_bytes);
        let _ = self.tell(f);
    }

    fn is_cancelled(&self) -> bool {
        if self.cancelled.load(Ordering::Relaxed) {
            return true;
        }
        {
            let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
            if asked.elapsed() < Duration::from_millis(20) {
                return false;
            }
            *asked = Instant::now();
        }
        let yes = self
            .call(Frame::new(msg::IS_CANCELLED), |a| Ok(a.u8()? != 0))
            .unwrap_or(true);
        self.cancelled.store(yes, Ordering::Relaxed);
        yes
    }

    fn password(&self) -> Result<Option<String>, Status> {
        let answer = self.call(Frame::new(msg::PASSWORD), |a| {
            Ok((status_of(a)?, a.bytes()?.to_vec()))
        })?;
        match answer {
            (Status::OK, p) => String::from_utf8(p).map(Some).map_err(|_| Status::INVALID),
            (Status::NO_PASSWORD, _) => Ok(None),
            (s, _) => Err(s),
        }
    }

    fn local_copy(&self) -> Result<PathBuf, Status> {
        let (status, path) = self.call(Frame::new(msg::LOCAL_COPY), |a| {
            Ok((status_of(a)?, a.bytes()?.to_vec()))
        })?;
        if status != Status::OK {
            return Err(status);
        }
        use std::os::unix::ffi::OsStringExt;
        Ok(PathBuf::from(std::ffi::OsString::from_vec(path)))
    }
}

/// Flushes the buffered fire-and-forget messages before the final status.
fn done(host: &RemoteHost, status: Status) -> io::Result<()> {
    let mut conn = host.conn.lock().unwrap_or_else(|p| p.into_inner());
    let mut f = Frame::new(msg::DONE);
    f.u32(status.0);
    f.send(&mut conn.writer)
}

/// The plugin-host mode: runs in the child process. Loads `library`
/// (refusing it unless its SHA-256 is `sha256`), limits the process's
/// address space to `memory` bytes, runs the plugin against the parent's
/// services and returns the process exit code.
pub fn serve_child(library: &Path, sha256: &str, memory: Option<u64>) -> i32 {
    // The parent, not the terminal, decides when to stop: Ctrl-C reaches the
    // parent's process group only, and it asks the plugin through the host.
    let fd = match std::os::fd::AsFd::as_fd(&io::stdin()).try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("exhibit plugin-host: no connection to the parent on standard input: {e}");
            return 2;
        }
    };
    let sock = UnixStream::from(fd);
    if let Some(limit) = memory
        && let Err(e) = rlimit::setrlimit(rlimit::Resource::AS, limit, limit)
    {
        eprintln!("exhibit plugin-host: cannot set the memory limit: {e}");
        return 2;
    }
    let mut plugins = PluginHost::default();
    plugins.load(library);
    let Some(plugin) = plugins.plugins().first() else {
        let why = plugins
            .refused()
            .first()
            .map_or_else(|| "not loaded".to_owned(), ToString::to_string);
        eprintln!("exhibit plugin-host: {why}");
        return 2;
    };
    if plugin.info().sha256 != sha256 {
        eprintln!(
            "exhibit plugin-host: {} changed since the run started (SHA-256 {}, expected {sha256})",
            library.display(),
            plugin.info().sha256
        );
        return 2;
    }
    let Ok(reader) = sock.try_clone() else {
        return 2;
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut buf = Vec::new();
    let info = match read_frame(&mut reader, &mut buf).and_then(|got| {
        let mut m = Fields::new(&buf);
        if !got || m.u8()? != msg::HELLO {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no hello"));
        }
        Ok(EvidenceInfo {
            name: m.bytes()?.to_vec(),
            size: m.u64()?,
            is_dir: m.u8()? != 0,
            threads: m.u32()?.max(1),
        })
    }) {
        Ok(info) => info,
        Err(e) => {
            eprintln!("exhibit plugin-host: {e}");
            return 2;
        }
    };
    let host = RemoteHost {
        info,
        conn: Mutex::new(Conn {
            reader,
            writer: sock,
            buf: Vec::new(),
        }),
        cancelled: AtomicBool::new(false),
        asked: Mutex::new(Instant::now()),
    };
    let status = plugin.run(&host);
    match done(&host, status) {
        Ok(()) => 0,
        Err(_) => 3,
    }
}
