//! Walking a folder evidence: owns the depth-first traversal and the
//! delivery of each entry.
//!
//! Policy: the walk uses an explicit stack (no recursion), so any nesting
//! depth is safe; it holds one listing per level and a single path buffer,
//! and streams file content through one reused buffer. An entry that cannot
//! be listed, opened or read is reported and the walk goes on; the run ends
//! with `Err` only when the root cannot be listed, the host refuses a call
//! or the host cancels.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{
    DirEntry, EntryKind, EntryMeta, FormatPlugin, OutputFile, PluginError, Probe, Session, Status,
};
use std::io::{self, Read};

/// The reused buffer file content streams through.
const COPY_BUF: usize = 256 * 1024;

/// The folder format plugin.
#[derive(Default)]
pub struct Folder;

impl FormatPlugin for Folder {
    const NAME: &'static str = "folder";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "an already-unpacked logical extraction (a folder)";

    /// 10 for any folder (low on purpose: specific folder formats outrank it).
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.is_dir { 10 } else { 0 }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        Walk::new(session).run()
    }
}

/// One folder being walked: the rest of its listing, and the length of the
/// path buffer before its own name was appended.
struct Level {
    entries: std::vec::IntoIter<DirEntry>,
    parent_len: usize,
}

struct Walk<'s, 'h> {
    session: &'s Session<'h>,
    buf: Vec<u8>,
}

impl<'s, 'h> Walk<'s, 'h> {
    fn new(session: &'s Session<'h>) -> Walk<'s, 'h> {
        Walk {
            session,
            buf: vec![0; COPY_BUF],
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

    /// Streams one regular file to the host. A file that cannot be opened or
    /// read to its end is reported; only host refusals and cancellation end
    /// the run.
    fn file(&mut self, path: &[u8], meta: &EntryMeta) -> Result<(), PluginError> {
        let mut src = match self.session.open(path) {
            Ok(src) => src,
            Err(PluginError::Cancelled) => return Err(PluginError::Cancelled),
            Err(err) => {
                self.session.report(&err);
                return Ok(());
            }
        };
        let mut out = self.session.begin(path, meta)?;
        let mut copied = 0u64;
        loop {
            self.session.check_cancelled()?;
            let n = match src.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.read_failed(out, path, copied, e),
            };
            out.write_bytes(&self.buf[..n])?;
            copied = copied.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
        out.finish()?;
        if let Some(listed) = meta.size.filter(|&s| s != copied) {
            self.session.warn(
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
        &self,
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
        self.session.report(&PluginError::Io {
            offset: None,
            what: format!(
                "{} at offset {copied:#x} of the file: {cause}",
                String::from_utf8_lossy(path)
            ),
        });
        Ok(())
    }
}

/// A single path component: not empty, not `.` or `..`, no `/` or NUL.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

#[cfg(test)]
mod tests;
