//! Walking a folder evidence: owns the depth-first traversal and the
//! delivery of each entry.
//!
//! Policy: the walk uses an explicit stack (no recursion), so any nesting
//! depth is safe; it holds one listing per level and a single path buffer.
//! Regular files are copied by as many worker threads as the host allows,
//! fed through a bounded queue, each streaming through one reused buffer;
//! with one thread they are copied in walk order. An entry that cannot
//! be listed, opened or read is reported and the walk goes on; the run ends
//! with `Err` only when the root cannot be listed, the host refuses a call
//! or the host cancels.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{
    Access, DirEntry, EntryKind, EntryMeta, FormatPlugin, OutputFile, PluginError, Probe, Session,
    Status,
};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

/// The reused buffer file content streams through.
const COPY_BUF: usize = 256 * 1024;

/// The folder format plugin.
#[derive(Default)]
pub struct Folder;

impl FormatPlugin for Folder {
    const NAME: &'static str = "folder";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "an already-unpacked logical extraction (a folder)";
    /// Files are read by several workers at once.
    const ACCESS: Access = Access::Random;

    /// 10 for any folder (low on purpose: specific folder formats outrank it).
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.is_dir { 10 } else { 0 }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let threads = usize::try_from(session.evidence().threads).unwrap_or(1);
        if threads <= 1 {
            return Walk::new(session, None).run();
        }
        let (jobs, inbox) = std::sync::mpsc::sync_channel(threads.saturating_mul(4));
        let inbox = Mutex::new(inbox);
        let failed = Failure::default();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| copy_files(session, &inbox, &failed));
            }
            let walked = Walk::new(session, Some((jobs, &failed))).run();
            // `jobs` was moved into the walk and is dropped with it: the
            // workers drain the queue and stop.
            failed.first(walked)
        })
    }
}

/// A file for a worker to copy: its relative path and listed metadata.
type Job = (Vec<u8>, EntryMeta);

/// The first error that must end the run (a host refusal, cancellation).
#[derive(Default)]
struct Failure {
    stop: AtomicBool,
    error: Mutex<Option<PluginError>>,
}

impl Failure {
    fn set(&self, err: PluginError) {
        self.stop.store(true, Ordering::SeqCst);
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(err);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The walk's own result, unless a worker failed first.
    fn first(&self, walked: Result<(), PluginError>) -> Result<(), PluginError> {
        let worker = self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match worker {
            Some(err) => Err(err),
            None => walked,
        }
    }
}

/// A worker: copies queued files until the queue closes or the run fails.
fn copy_files(session: &Session<'_>, inbox: &Mutex<Receiver<Job>>, failed: &Failure) {
    let mut buf = vec![0; COPY_BUF];
    loop {
        let job = inbox.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((path, meta)) = job else { return };
        if failed.stopped() {
            continue;
        }
        if let Err(err) = copy_file(session, &mut buf, &path, &meta) {
            failed.set(err);
        }
    }
}

/// One folder being walked: the rest of its listing, and the length of the
/// path buffer before its own name was appended.
struct Level {
    entries: std::vec::IntoIter<DirEntry>,
    parent_len: usize,
}

struct Walk<'s, 'h, 'f> {
    session: &'s Session<'h>,
    /// Where files go when workers copy them; `None`: copy them in the walk.
    workers: Option<(SyncSender<Job>, &'f Failure)>,
    buf: Vec<u8>,
}

impl<'s, 'h, 'f> Walk<'s, 'h, 'f> {
    fn new(session: &'s Session<'h>, workers: Option<(SyncSender<Job>, &'f Failure)>) -> Self {
        let buf = if workers.is_some() {
            Vec::new()
        } else {
            vec![0; COPY_BUF]
        };
        Walk {
            session,
            workers,
            buf,
        }
    }

    /// Copies a file now, or queues it for a worker.
    fn file(&mut self, path: &[u8], meta: &EntryMeta) -> Result<(), PluginError> {
        match &self.workers {
            None => copy_file(self.session, &mut self.buf, path, meta),
            Some((jobs, failed)) => {
                if failed.stopped() || jobs.send((path.to_vec(), meta.clone())).is_err() {
                    // A worker failed: its error is the run's outcome.
                    return Err(PluginError::Cancelled);
                }
                Ok(())
            }
        }
    }

    fn run(mut self) -> Result<(), PluginError> {
        let root = self.session.list_dir(b"")?;
        // `dir` is the relative path of the folder on top of the stack.
        let mut dir: Vec<u8> = Vec::new();
        let mut stack = vec![Level {
            entries: root.into_iter(),
            parent_len: 0,
        }];
        let mut path = Vec::new();
        while let Some(level) = stack.last_mut() {
            let Some(entry) = level.entries.next() else {
                dir.truncate(level.parent_len);
                stack.pop();
                continue;
            };
            self.session.check_cancelled()?;
            if !valid_name(&entry.name) {
                self.session.report(&PluginError::Corrupt {
                    offset: None,
                    what: format!(
                        "the host listed an invalid name {:?} in folder {:?}; skipped",
                        String::from_utf8_lossy(&entry.name),
                        String::from_utf8_lossy(&dir)
                    ),
                });
                continue;
            }
            path.clear();
            path.extend_from_slice(&dir);
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&entry.name);
            match entry.meta.kind {
                EntryKind::Dir => {
                    self.session.record_entry(&path, &entry.meta)?;
                    match self.session.list_dir(&path) {
                        Ok(children) => {
                            let parent_len = dir.len();
                            std::mem::swap(&mut dir, &mut path);
                            stack.push(Level {
                                entries: children.into_iter(),
                                parent_len,
                            });
                        }
                        Err(PluginError::Cancelled) => return Err(PluginError::Cancelled),
                        Err(err) => self.session.report(&err),
                    }
                }
                EntryKind::File => self.file(&path, &entry.meta)?,
                _ => self.session.record_entry(&path, &entry.meta)?,
            }
        }
        Ok(())
    }
}

/// Streams one regular file to the host. A file that cannot be opened or
/// read to its end is reported; only host refusals and cancellation end
/// the run.
fn copy_file(
    session: &Session<'_>,
    buf: &mut [u8],
    path: &[u8],
    meta: &EntryMeta,
) -> Result<(), PluginError> {
    let mut src = match session.open(path) {
        Ok(src) => src,
        Err(PluginError::Cancelled) => return Err(PluginError::Cancelled),
        Err(err) => {
            session.report(&err);
            return Ok(());
        }
    };
    let mut out = session.begin(path, meta)?;
    let mut copied = 0u64;
    loop {
        session.check_cancelled()?;
        let n = match src.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return read_failed(session, out, path, copied, e),
        };
        out.write_bytes(&buf[..n])?;
        copied = copied.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    out.finish()?;
    if let Some(listed) = meta.size.filter(|&s| s != copied) {
        session.warn(
            None,
            &format!(
                "{}: listed as {listed} bytes, {copied} read (changed while reading?)",
                String::from_utf8_lossy(path)
            ),
        );
    }
    Ok(())
}

fn read_failed(
    session: &Session<'_>,
    out: OutputFile<'_>,
    path: &[u8],
    copied: u64,
    e: io::Error,
) -> Result<(), PluginError> {
    let err = PluginError::from(e);
    let cause = match &err {
        PluginError::Cancelled => {
            // Best effort: the run ends as cancelled whatever the host says.
            let _ = out.fail(Status::CANCELLED, "cancelled");
            return Err(err);
        }
        PluginError::Io { what, .. } => what.clone(),
        other => other.to_string(),
    };
    out.fail(
        Status::IO,
        &format!("read failed at offset {copied:#x}: {cause}"),
    )?;
    session.report(&PluginError::Io {
        offset: None,
        what: format!(
            "{} at offset {copied:#x} of the file: {cause}",
            String::from_utf8_lossy(path)
        ),
    });
    Ok(())
}

/// A single path component: not empty, not `.` or `..`, no `/` or NUL.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

#[cfg(test)]
mod tests;
