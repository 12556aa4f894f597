//! The plugin's safe view of the host: [`HostServices`] is the host's side of
//! the ABI as a Rust trait, and [`Session`] is what a plugin's `run` gets to
//! read evidence and deliver entries through it.
//!
//! A `Session` works the same over the real C boundary (the export adapters
//! implement `HostServices` on top of the raw `Host` table) and over an
//! in-process host (parity tests), which is what lets a plugin's tests check
//! both paths give identical output.

use crate::abi::{self, Status};
use crate::error::PluginError;
use crate::meta::EntryMeta;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Facts about the evidence that the host gives every plugin.
#[derive(Debug, Clone, Default)]
pub struct EvidenceInfo {
    /// The evidence path as given (raw OS bytes).
    pub name: Vec<u8>,
    /// Size in bytes (0 for a folder).
    pub size: u64,
    /// True when the evidence is a folder.
    pub is_dir: bool,
    /// Threads the plugin may use to deliver entries in parallel (≥ 1).
    pub threads: u32,
}

/// The host's services, one method per callback of [`abi::Host`].
///
/// Methods take `&self` and the trait requires `Sync` because a plugin may
/// call from several threads at once (a random-access container decoded in
/// parallel); calls on one output file handle are always sequential.
pub trait HostServices: Sync {
    /// The evidence this run decodes.
    fn evidence(&self) -> &EvidenceInfo;
    /// Reads at `offset` of `handle` into `buf`; `Ok(0)` at end of data.
    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status>;
    /// Lists one folder of a folder evidence, calling `visit(name, meta_json)`
    /// per entry in name order until it returns false.
    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status;
    /// Opens a regular file of a folder evidence.
    fn open(&self, path: &[u8]) -> Result<u64, Status>;
    /// Releases a handle from [`HostServices::open`].
    fn close(&self, handle: u64) -> Status;
    /// Starts an output entry; returns its handle.
    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status>;
    /// Appends to an output entry.
    fn write(&self, file: u64, data: &[u8]) -> Status;
    /// Ends an output entry, complete (`Status::OK`) or not.
    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status;
    /// Emits one decoded record.
    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status;
    /// Logs; warnings and errors become custody entries.
    fn log(&self, level: u32, status: Status, offset: u64, msg: &[u8]);
    /// True once the host wants the plugin to stop.
    fn is_cancelled(&self) -> bool;
    /// The examiner's password for the evidence; `Ok(None)` when there is none.
    fn password(&self) -> Result<Option<String>, Status> {
        Ok(None)
    }
    /// Artifact decoders: a private working copy of the input on disk.
    fn local_copy(&self) -> Result<std::path::PathBuf, Status> {
        Err(Status::UNSUPPORTED)
    }
}

/// One entry of a folder listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The entry's name within its folder (raw bytes).
    pub name: Vec<u8>,
    /// Its metadata as the host read it.
    pub meta: EntryMeta,
}

/// A plugin's handle on the host for one run.
pub struct Session<'h> {
    host: &'h dyn HostServices,
}

impl<'h> Session<'h> {
    /// Wraps a host. Plugins receive a ready `Session`; this is for the
    /// export adapters and for tests.
    pub fn new(host: &'h dyn HostServices) -> Session<'h> {
        Session { host }
    }

    /// The evidence being decoded.
    pub fn evidence(&self) -> &EvidenceInfo {
        self.host.evidence()
    }

    /// Reads evidence bytes at `offset`; returns how many were read (0 at the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, PluginError> {
        self.host
            .read_at(abi::EVIDENCE_HANDLE, offset, buf)
            .map_err(|status| read_error(offset, status))
    }

    /// A sequential reader over the evidence file, starting at offset 0.
    /// Unbuffered: wrap it in a `BufReader` for small reads.
    pub fn evidence_reader(&self) -> SourceReader<'_> {
        SourceReader {
            host: self.host,
            handle: abi::EVIDENCE_HANDLE,
            pos: 0,
            _open: None,
        }
    }

    /// Lists one folder of a folder evidence (`b""` for its root).
    pub fn list_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, PluginError> {
        let mut entries = Vec::new();
        let mut bad_meta = None;
        let status = self.host.list_dir(path, &mut |name, meta_json| {
            match serde_json::from_slice::<EntryMeta>(meta_json) {
                Ok(meta) => entries.push(DirEntry {
                    name: name.to_vec(),
                    meta,
                }),
                Err(e) => bad_meta = Some(e.to_string()),
            }
            bad_meta.is_none()
        });
        if let Some(what) = bad_meta {
            return Err(PluginError::Io {
                offset: None,
                what: format!("host listed invalid metadata: {what}"),
            });
        }
        match status {
            Status::OK => Ok(entries),
            status => Err(PluginError::Io {
                offset: None,
                what: format!(
                    "cannot list {}: {}",
                    String::from_utf8_lossy(path),
                    status.name()
                ),
            }),
        }
    }

    /// Opens a regular file of a folder evidence for reading.
    pub fn open(&self, path: &[u8]) -> Result<SourceReader<'_>, PluginError> {
        let handle = self.host.open(path).map_err(|status| PluginError::Io {
            offset: None,
            what: format!(
                "cannot open {}: {}",
                String::from_utf8_lossy(path),
                status.name()
            ),
        })?;
        Ok(SourceReader {
            host: self.host,
            handle,
            pos: 0,
            _open: Some(std::sync::Arc::new(OpenHandle {
                host: self.host,
                handle,
            })),
        })
    }

    /// Starts delivering an entry. For a regular file, write its bytes to the
    /// returned [`OutputFile`] and call [`OutputFile::finish`]; other kinds
    /// are better delivered with [`Session::record_entry`].
    pub fn begin(&self, name: &[u8], meta: &EntryMeta) -> Result<OutputFile<'_>, PluginError> {
        let json = serde_json::to_vec(meta).map_err(|e| PluginError::Io {
            offset: None,
            what: format!("cannot encode metadata: {e}"),
        })?;
        let handle = self
            .host
            .begin_file(name, &json)
            .map_err(|status| PluginError::Host {
                call: "begin_file",
                status,
            })?;
        Ok(OutputFile {
            host: self.host,
            handle,
            written: 0,
            ended: false,
        })
    }

    /// Has the host hash `meta.size` bytes of the evidence from
    /// `meta.offset` and record them as a region ([`EntryKind::Region`]):
    /// a partition or the space between partitions, hashed by the core
    /// without the bytes passing through the plugin.
    pub fn hash_region(&self, name: &[u8], meta: &EntryMeta) -> Result<(), PluginError> {
        if meta.kind != crate::EntryKind::Region || meta.offset.is_none() || meta.size.is_none() {
            // A plugin bug, answered as the host would answer it.
            return Err(PluginError::Host {
                call: "begin_file",
                status: Status::INVALID,
            });
        }
        self.begin(name, meta)?.finish()
    }

    /// Delivers an entry without content (directory, link, device…).
    pub fn record_entry(&self, name: &[u8], meta: &EntryMeta) -> Result<(), PluginError> {
        self.begin(name, meta)?.finish()
    }

    /// Emits one record of the shared schema ([`crate::records`]) under its
    /// kind. The host completes its provenance with the decoder, the input's
    /// case path and SHA-256, so the plugin only says which table and row.
    pub fn emit<R: crate::records::Record>(&self, record: &R) -> Result<(), PluginError> {
        let value = serde_json::to_value(record).map_err(|e| PluginError::Io {
            offset: None,
            what: format!("cannot encode record: {e}"),
        })?;
        self.emit_record(R::KIND, &value)
    }

    /// The password the examiner gave for this evidence, asked of the host
    /// (which may prompt for it) only now. `Ok(None)` when there is none.
    /// Never log it.
    pub fn password(&self) -> Result<Option<String>, PluginError> {
        self.host.password().map_err(|status| PluginError::Host {
            call: "password",
            status,
        })
    }

    /// Artifact decoders: the path of a private working copy of the input,
    /// with its SQLite `-wal`/`-journal` companions beside it, for libraries
    /// that need a file (open it read-only; the case itself is untouched).
    pub fn local_copy(&self) -> Result<std::path::PathBuf, PluginError> {
        self.host.local_copy().map_err(|status| PluginError::Host {
            call: "local_copy",
            status,
        })
    }

    /// Artifact decoders: the input's path in the case, relative to its
    /// `files/` folder and `/`-separated (the host gives it as the evidence
    /// name).
    pub fn input_path(&self) -> String {
        String::from_utf8_lossy(&self.host.evidence().name).into_owned()
    }

    /// Emits one decoded record of `kind` (`"messages"`, `"contacts"` …).
    pub fn emit_record(&self, kind: &str, record: &serde_json::Value) -> Result<(), PluginError> {
        let json = serde_json::to_vec(record).map_err(|e| PluginError::Io {
            offset: None,
            what: format!("cannot encode record: {e}"),
        })?;
        match self.host.emit_record(kind.as_bytes(), &json) {
            Status::OK => Ok(()),
            status => Err(PluginError::Host {
                call: "emit_record",
                status,
            }),
        }
    }

    /// Records a warning (a custody entry): damage worked around at `offset`.
    pub fn warn(&self, offset: Option<u64>, msg: &str) {
        self.host.log(
            abi::level::WARN,
            Status::CORRUPT,
            offset.unwrap_or(abi::NO_OFFSET),
            msg.as_bytes(),
        );
    }

    /// Records an error (a custody entry) without ending the run: something
    /// was lost, the rest goes on.
    pub fn report(&self, err: &PluginError) {
        self.host.log(
            abi::level::ERROR,
            err.status(),
            err.offset().unwrap_or(abi::NO_OFFSET),
            err.to_string().as_bytes(),
        );
    }

    /// Records a fact about the evidence in the custody log: `what` names it
    /// (`"android backup header"`), `details` holds its fields. Never put a
    /// secret here.
    pub fn custody_note(&self, what: &str, details: serde_json::Value) {
        let json = serde_json::json!({ "what": what, "details": details });
        self.host.log(
            abi::level::FACT,
            Status::OK,
            abi::NO_OFFSET,
            json.to_string().as_bytes(),
        );
    }

    /// What the plugin is busy with, shown on the examiner's progress line
    /// while it lasts (not in the custody log): "deriving the backup key…".
    pub fn progress(&self, msg: &str) {
        self.host.log(
            abi::level::PROGRESS,
            Status::OK,
            abi::NO_OFFSET,
            msg.as_bytes(),
        );
    }

    /// Informational message for the examiner's console (not in the custody log).
    pub fn info(&self, msg: &str) {
        self.host
            .log(abi::level::INFO, Status::OK, abi::NO_OFFSET, msg.as_bytes());
    }

    /// True once the host wants the plugin to stop; check it between entries.
    pub fn is_cancelled(&self) -> bool {
        self.host.is_cancelled()
    }

    /// `Err(Cancelled)` once the host wants the plugin to stop.
    pub fn check_cancelled(&self) -> Result<(), PluginError> {
        if self.is_cancelled() {
            Err(PluginError::Cancelled)
        } else {
            Ok(())
        }
    }
}

fn read_error(offset: u64, status: Status) -> PluginError {
    match status {
        Status::CANCELLED => PluginError::Cancelled,
        status => PluginError::Io {
            offset: Some(offset),
            what: status.name().into_owned(),
        },
    }
}

/// Sequential, seekable reading of the evidence file or of one file of a
/// folder evidence. Clones read independently (each has its own position,
/// so each worker thread of a random-access plugin can have one) and share
/// the handle, which is closed when the last of them is dropped.
#[derive(Clone)]
pub struct SourceReader<'s> {
    host: &'s dyn HostServices,
    handle: u64,
    pos: u64,
    /// Keeps an opened handle alive (closing it when the last clone goes);
    /// `None` for the evidence itself, which is never closed.
    _open: Option<std::sync::Arc<OpenHandle<'s>>>,
}

/// A handle from [`Session::open`], closed when dropped.
struct OpenHandle<'s> {
    host: &'s dyn HostServices,
    handle: u64,
}

impl Drop for OpenHandle<'_> {
    fn drop(&mut self) {
        self.host.close(self.handle);
    }
}

impl SourceReader<'_> {
    /// Current offset.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .host
            .read_at(self.handle, self.pos, buf)
            .map_err(|status| io::Error::from(read_error(self.pos, status)))?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for SourceReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.host.evidence().size.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start or past 2^64",
            )
        })?;
        Ok(self.pos)
    }
}

/// An entry being delivered. Write its bytes, then call [`OutputFile::finish`]
/// or [`OutputFile::fail`]. Dropped unfinished, it is ended as incomplete.
pub struct OutputFile<'s> {
    host: &'s dyn HostServices,
    handle: u64,
    written: u64,
    ended: bool,
}

impl OutputFile<'_> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends bytes.
    pub fn write_bytes(&mut self, data: &[u8]) -> Result<(), PluginError> {
        match self.host.write(self.handle, data) {
            Status::OK => {
                self.written = self.written.saturating_add(data.len() as u64);
                Ok(())
            }
            status => Err(PluginError::Host {
                call: "write",
                status,
            }),
        }
    }

    /// Copies `src` to the end into this file; returns the bytes copied.
    /// A read error is returned as it is and the file stays open, so the
    /// caller can [`OutputFile::fail`] it with the right reason.
    pub fn copy_from(&mut self, src: &mut dyn Read) -> io::Result<u64> {
        thread_local! {
            // One buffer per thread, reused for every file: a fresh 256 KiB
            // allocation per file would be an mmap/munmap pair each time.
            static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 * 1024]);
        }
        BUF.with(|buf| {
            let mut guard = buf.try_borrow_mut();
            let mut fallback = Vec::new();
            let buf: &mut [u8] = match guard.as_deref_mut() {
                Ok(buf) => buf,
                // Re-entered from inside a copy on this thread: use a private buffer.
                Err(_) => {
                    fallback.resize(256 * 1024, 0);
                    &mut fallback
                }
            };
            let mut total = 0u64;
            loop {
                let n = match src.read(buf) {
                    Ok(0) => return Ok(total),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.write_bytes(&buf[..n])?;
                total = total.saturating_add(n as u64);
            }
        })
    }

    /// Ends the entry as complete.
    pub fn finish(mut self) -> Result<(), PluginError> {
        self.end(Status::OK, "")
    }

    /// Ends the entry as incomplete, saying why (`status` is usually
    /// `Status::CORRUPT` or `Status::IO`).
    pub fn fail(mut self, status: Status, note: &str) -> Result<(), PluginError> {
        self.end(status, note)
    }

    fn end(&mut self, status: Status, note: &str) -> Result<(), PluginError> {
        self.ended = true;
        match self.host.end_file(self.handle, status, note.as_bytes()) {
            Status::OK => Ok(()),
            status => Err(PluginError::Host {
                call: "end_file",
                status,
            }),
        }
    }
}

impl Write for OutputFile<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for OutputFile<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // The plugin returned early (an error or a panic unwinding): the
            // host must not treat this file as complete.
            let _ = self.end(
                Status::CORRUPT,
                "the plugin stopped before the end of this file",
            );
        }
    }
}
