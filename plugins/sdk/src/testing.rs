//! An in-process host for plugin tests: it serves evidence from memory or
//! from a local folder and records everything a plugin delivers, so a test
//! can run a plugin through the safe trait ([`run_safe`]) and through the C
//! descriptor ([`StaticDescriptor::run`](crate::export::StaticDescriptor::run))
//! and require identical transcripts. It does no hashing and writes nothing.

use crate::abi::{self, Status};
use crate::error::PluginError;
use crate::meta::{EntryMeta, RawBytes};
use crate::plugin::{ArtifactDecoder, FormatPlugin};
use crate::session::{EvidenceInfo, HostServices, Session};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// One entry a plugin delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivered {
    /// Raw name as given by the plugin.
    pub name: RawBytes,
    /// Metadata as the plugin sent it.
    pub meta: serde_json::Value,
    /// Content bytes (hex in the JSON transcript).
    #[serde(serialize_with = "as_hex")]
    pub data: Vec<u8>,
    /// `ok`, or why the entry is incomplete.
    pub status: String,
    /// The plugin's note for an incomplete entry.
    pub note: String,
}

fn as_hex<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::meta::to_hex(data))
}

/// One message a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logged {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The classification the plugin gave.
    pub status: String,
    /// Evidence offset, if any.
    pub offset: Option<u64>,
    /// The text.
    pub message: String,
}

/// Everything one run delivered, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Transcript {
    /// Entries, in the order they were ended.
    pub entries: Vec<Delivered>,
    /// Records as `(kind, record)`.
    pub records: Vec<(String, serde_json::Value)>,
    /// Log messages.
    pub logs: Vec<Logged>,
}

impl Transcript {
    /// The transcript as JSON Lines, for byte-for-byte comparison.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&serde_json::json!({"entry": e}).to_string());
            out.push('\n');
        }
        for r in &self.records {
            out.push_str(&serde_json::json!({"record": r}).to_string());
            out.push('\n');
        }
        for l in &self.logs {
            out.push_str(&serde_json::json!({"log": l}).to_string());
            out.push('\n');
        }
        out
    }

    /// The entry named `name`, if delivered.
    pub fn entry(&self, name: &[u8]) -> Option<&Delivered> {
        self.entries.iter().find(|e| e.name.0 == name)
    }

    /// Log messages at `warn` or `error` level.
    pub fn problems(&self) -> Vec<&Logged> {
        self.logs
            .iter()
            .filter(|l| l.level == "warn" || l.level == "error")
            .collect()
    }
}

enum Source {
    Memory(Vec<u8>),
    Folder(PathBuf),
}

#[derive(Default)]
struct State {
    next_handle: u64,
    open_outputs: HashMap<u64, Delivered>,
    open_sources: HashMap<u64, std::fs::File>,
    transcript: Transcript,
}

/// An in-process host serving one evidence.
pub struct MemoryHost {
    evidence: EvidenceInfo,
    source: Source,
    state: Mutex<State>,
    password: Option<String>,
    /// SQLite companions (`-wal`, `-journal`) of an artifact decoder's input.
    companions: Vec<(String, Vec<u8>)>,
    /// The folder of the working copy made by `local_copy`, removed on drop.
    scratch: Mutex<Option<PathBuf>>,
}

impl Drop for MemoryHost {
    fn drop(&mut self) {
        let scratch = self.scratch.get_mut().ok().and_then(Option::take);
        if let Some(dir) = scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl MemoryHost {
    /// A host whose evidence is the file `name` with content `data`.
    pub fn file(name: &str, data: Vec<u8>) -> MemoryHost {
        MemoryHost {
            evidence: EvidenceInfo {
                name: name.as_bytes().to_vec(),
                size: data.len() as u64,
                is_dir: false,
                threads: 1,
            },
            source: Source::Memory(data),
            state: Mutex::new(State::default()),
            password: None,
            companions: Vec::new(),
            scratch: Mutex::new(None),
        }
    }

    /// A host giving an artifact decoder the extracted file at case path
    /// `path` (relative to `files/`) with content `data`.
    pub fn input(path: &str, data: Vec<u8>) -> MemoryHost {
        MemoryHost::file(path, data)
    }

    /// Puts a companion file beside the input's working copy: `suffix` is
    /// `-wal`, `-journal` or `-shm`.
    pub fn with_companion(mut self, suffix: &str, data: Vec<u8>) -> MemoryHost {
        self.companions.push((suffix.to_owned(), data));
        self
    }

    /// Answers the plugin's password requests with `password`.
    pub fn with_password(mut self, password: &str) -> MemoryHost {
        self.password = Some(password.to_owned());
        self
    }

    /// A host whose evidence is the local folder `root`.
    pub fn folder(root: impl Into<PathBuf>) -> MemoryHost {
        let root = root.into();
        MemoryHost {
            evidence: EvidenceInfo {
                name: root.to_string_lossy().into_owned().into_bytes(),
                size: 0,
                is_dir: true,
                threads: 1,
            },
            source: Source::Folder(root),
            state: Mutex::new(State::default()),
            password: None,
            companions: Vec::new(),
            scratch: Mutex::new(None),
        }
    }

    /// Lets plugins deliver from `threads` threads (the default is 1).
    pub fn with_threads(mut self, threads: u32) -> MemoryHost {
        self.evidence.threads = threads.max(1);
        self
    }

    /// Takes what was delivered so far, leaving the host empty.
    pub fn take_transcript(&self) -> Transcript {
        let mut state = self.lock();
        std::mem::take(&mut state.transcript)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn folder_path(&self, rel: &[u8]) -> Option<PathBuf> {
        let Source::Folder(root) = &self.source else {
            return None;
        };
        let mut path = root.clone();
        for part in rel.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            if part == b".." || part == b"." {
                return None;
            }
            path.push(os_name(part)?);
        }
        Some(path)
    }
}

/// Runs plugin `P` through its safe trait, as the export trampoline does but
/// without crossing the C boundary.
pub fn run_safe<P: FormatPlugin>(host: &MemoryHost) -> Status {
    let session = Session::new(host);
    match P::default().run(&session) {
        Ok(()) => Status::OK,
        Err(err) => {
            session.report(&err);
            err.status()
        }
    }
}

/// Runs decoder `D` through its safe trait over the host's input.
pub fn run_decoder_safe<D: ArtifactDecoder>(host: &MemoryHost) -> Status {
    let session = Session::new(host);
    match D::default().decode(&session) {
        Ok(()) => Status::OK,
        Err(err) => {
            session.report(&err);
            err.status()
        }
    }
}

/// Convenience for decoder unit tests: runs `D` over the file `data` at case
/// path `path` and returns the status and transcript.
pub fn decode_file<D: ArtifactDecoder>(path: &str, data: Vec<u8>) -> (Status, Transcript) {
    let host = MemoryHost::input(path, data);
    let status = run_decoder_safe::<D>(&host);
    (status, host.take_transcript())
}

/// Parity check for decoder `D`: decodes the file `data` at case path `path`
/// (with `(suffix, bytes)` companions such as `-wal`) through the safe trait
/// and through `descriptor` (the C boundary), panics unless both give the
/// same status and the same transcript, and returns them.
pub fn decode_both_ways<D: ArtifactDecoder>(
    descriptor: &crate::export::StaticDescriptor,
    path: &str,
    data: &[u8],
    companions: &[(&str, &[u8])],
) -> (Status, Transcript) {
    let host = || {
        companions.iter().fold(
            MemoryHost::input(path, data.to_vec()),
            |host, (suffix, bytes)| host.with_companion(suffix, bytes.to_vec()),
        )
    };
    let (direct, via_abi) = (host(), host());
    let s1 = run_decoder_safe::<D>(&direct);
    let s2 = descriptor.run(&via_abi);
    assert_eq!(s1, s2, "{path}: status differs across the C boundary");
    let (t1, t2) = (direct.take_transcript(), via_abi.take_transcript());
    assert_eq!(
        t1.to_jsonl(),
        t2.to_jsonl(),
        "{path}: transcript differs across the C boundary"
    );
    (s1, t1)
}

/// Ends the test binary with a failure if it still runs `secs` seconds
/// after the first call: a hang in a hostile-input or fuzz-regression test
/// must fail, never stall CI. Later calls do nothing.
pub fn bound_test_binary(secs: u64) {
    static START: std::sync::Once = std::sync::Once::new();
    START.call_once(|| {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            eprintln!("the tests of this binary still run after {secs} s: a hang");
            std::process::exit(101);
        });
    });
}

/// `count` deterministic damaged copies of `base`, for robustness tests: each
/// has 1 to `max_flips` bytes overwritten and, one time in four, is also cut
/// short. The same arguments always give the same copies (xorshift64 with a
/// fixed seed).
pub fn mutations(base: &[u8], count: usize, max_flips: u64) -> Vec<Vec<u8>> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let len = base.len().max(1) as u64;
    let index = |n: u64| usize::try_from(n % len).unwrap_or(0);
    (0..count)
        .map(|_| {
            let mut data = base.to_vec();
            for _ in 0..(1 + next() % max_flips.max(1)) {
                let at = index(next());
                if let Some(byte) = data.get_mut(at) {
                    *byte = next().to_le_bytes()[0];
                }
            }
            if next() % 4 == 0 {
                data.truncate(index(next()));
            }
            data
        })
        .collect()
}

/// Convenience for unit tests: runs `P` over `data` and returns the status and transcript.
pub fn decode<P: FormatPlugin>(name: &str, data: Vec<u8>) -> (Status, Transcript) {
    let host = MemoryHost::file(name, data);
    let status = run_safe::<P>(&host);
    (status, host.take_transcript())
}

fn level_name(level: u32) -> &'static str {
    match level {
        abi::level::DEBUG => "debug",
        abi::level::INFO => "info",
        abi::level::WARN => "warn",
        abi::level::FACT => "fact",
        abi::level::PROGRESS => "progress",
        _ => "error",
    }
}

impl HostServices for MemoryHost {
    fn evidence(&self) -> &EvidenceInfo {
        &self.evidence
    }

    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        if handle == abi::EVIDENCE_HANDLE {
            let Source::Memory(data) = &self.source else {
                return Err(Status::INVALID);
            };
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            return Ok(n);
        }
        let mut state = self.lock();
        let file = state.open_sources.get_mut(&handle).ok_or(Status::INVALID)?;
        read_file_at(file, offset, buf).map_err(|_| Status::IO)
    }

    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        let Some(dir) = self.folder_path(path) else {
            return Status::INVALID;
        };
        let Ok(read) = std::fs::read_dir(&dir) else {
            return Status::IO;
        };
        let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Ok(meta) = EntryMeta::from_path(&entry.path()) else {
                return Status::IO;
            };
            let Ok(json) = serde_json::to_vec(&meta) else {
                return Status::INVALID;
            };
            let name = entry.file_name();
            if !visit(name.as_encoded_bytes(), &json) {
                break;
            }
        }
        Status::OK
    }

    fn open(&self, path: &[u8]) -> Result<u64, Status> {
        let path = self.folder_path(path).ok_or(Status::INVALID)?;
        let file = std::fs::File::open(path).map_err(|_| Status::IO)?;
        let mut state = self.lock();
        state.next_handle += 1;
        let handle = state.next_handle + 1_000_000;
        state.open_sources.insert(handle, file);
        Ok(handle)
    }

    fn close(&self, handle: u64) -> Status {
        match self.lock().open_sources.remove(&handle) {
            Some(_) => Status::OK,
            None => Status::INVALID,
        }
    }

    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status> {
        let meta: serde_json::Value =
            serde_json::from_slice(meta_json).map_err(|_| Status::INVALID)?;
        serde_json::from_value::<EntryMeta>(meta.clone()).map_err(|_| Status::INVALID)?;
        let mut state = self.lock();
        state.next_handle += 1;
        let handle = state.next_handle;
        state.open_outputs.insert(
            handle,
            Delivered {
                name: RawBytes(name.to_vec()),
                meta,
                data: Vec::new(),
                status: String::new(),
                note: String::new(),
            },
        );
        Ok(handle)
    }

    fn write(&self, file: u64, data: &[u8]) -> Status {
        match self.lock().open_outputs.get_mut(&file) {
            Some(out) => {
                out.data.extend_from_slice(data);
                Status::OK
            }
            None => Status::INVALID,
        }
    }

    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status {
        let mut state = self.lock();
        let Some(mut out) = state.open_outputs.remove(&file) else {
            return Status::INVALID;
        };
        out.status = status.name().into_owned();
        out.note = String::from_utf8_lossy(note).into_owned();
        state.transcript.entries.push(out);
        Status::OK
    }

    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        let Ok(record) = serde_json::from_slice(record_json) else {
            return Status::INVALID;
        };
        let kind = String::from_utf8_lossy(kind).into_owned();
        self.lock().transcript.records.push((kind, record));
        Status::OK
    }

    fn log(&self, level: u32, status: Status, offset: u64, msg: &[u8]) {
        let entry = Logged {
            level: level_name(level),
            status: status.name().into_owned(),
            offset: (offset != abi::NO_OFFSET).then_some(offset),
            message: String::from_utf8_lossy(msg).into_owned(),
        };
        self.lock().transcript.logs.push(entry);
    }

    fn is_cancelled(&self) -> bool {
        false
    }

    fn password(&self) -> Result<Option<String>, Status> {
        Ok(self.password.clone())
    }

    fn local_copy(&self) -> Result<PathBuf, Status> {
        let Source::Memory(data) = &self.source else {
            return Err(Status::UNSUPPORTED);
        };
        let mut scratch = self
            .scratch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let name = String::from_utf8_lossy(&self.evidence.name)
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != ".." && *n != ".")
            .unwrap_or("input")
            .to_owned();
        let dir = match &*scratch {
            Some(dir) => dir.clone(),
            None => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let dir = std::env::temp_dir()
                    .join(format!("exhibit-sdk-test-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(|_| Status::IO)?;
                std::fs::write(dir.join(&name), data).map_err(|_| Status::IO)?;
                for (suffix, bytes) in &self.companions {
                    std::fs::write(dir.join(format!("{name}{suffix}")), bytes)
                        .map_err(|_| Status::IO)?;
                }
                *scratch = Some(dir.clone());
                dir
            }
        };
        Ok(dir.join(name))
    }
}

#[cfg(unix)]
fn os_name(bytes: &[u8]) -> Option<&std::ffi::OsStr> {
    Some(std::os::unix::ffi::OsStrExt::from_bytes(bytes))
}

#[cfg(not(unix))]
fn os_name(bytes: &[u8]) -> Option<&std::ffi::OsStr> {
    std::str::from_utf8(bytes).ok().map(std::ffi::OsStr::new)
}

#[cfg(unix)]
fn read_file_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_file_at(file: &mut std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}

impl From<Status> for PluginError {
    fn from(status: Status) -> PluginError {
        PluginError::Host {
            call: "host",
            status,
        }
    }
}
