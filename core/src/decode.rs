//! Artifact decoding: runs every artifact decoder over the extracted files
//! its path patterns match, and writes the records they emit to
//! `case/artifacts/<kind>.jsonl`, hashed as they are written.
//!
//! Policy:
//! - The inputs are the `file_extracted` entries of the custody log, so a
//!   decoder sees exactly what the log vouches for, whether it runs right
//!   after an extraction or years later (`exhibit decode`).
//! - A decoder never touches the case: it reads its input through the host,
//!   and a decoder that needs a path (SQLite) gets a private copy, made in
//!   `case/.decode-tmp/` with the input's `-wal`/`-journal`/`-shm`
//!   companions beside it, checked against the logged SHA-256 while it is
//!   copied, and removed afterwards. `verify` therefore still passes. A
//!   decoder that reads its input through the host front to back has those
//!   reads hashed and checked the same way.
//! - The host, not the decoder, fills each record's provenance: the source
//!   file's case path, its SHA-256 from the log and the decoder's name and
//!   version; an attachment a decoder points to is kept only if that file was
//!   extracted, with its hash.
//! - Every decoding run rewrites the record files of the kinds the loaded
//!   decoders declare (never appends: decoding twice gives the same files),
//!   and logs each file's digests; `verify` checks the latest.
//! - One decoder's failure on one file is an error entry; the other files
//!   and decoders go on. Jobs run one after another, in decoder-name then
//!   path order, so the record files are the same on every run.

use crate::case::{ARTIFACTS_DIR, CaseFolder, FILES_DIR};
use crate::custody::{LOG_FILE, action, read_log};
use crate::extract::{Observer, PasswordSource, Run};
use crate::hash::{Digests, HashAlgorithm, MultiHasher};
use crate::plugin::{LoadedPlugin, PluginHost, PluginKind};
use exhibit_plugin_sdk::abi::{self, level};
use exhibit_plugin_sdk::{EvidenceInfo, HostServices, Status};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Scratch folder for decoders' working copies, inside the case.
pub const SCRATCH_DIR: &str = ".decode-tmp";

/// SQLite's companion files, copied beside a working copy.
const COMPANIONS: [&str; 3] = ["-wal", "-journal", "-shm"];

/// What a decoding run needs besides the case.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Digests for the record files (SHA-256 is always among them).
    pub hashes: Vec<HashAlgorithm>,
    /// Set to ask the run to stop.
    pub cancel: Arc<AtomicBool>,
    /// Passwords for encrypted inputs (an app's encrypted database).
    pub password: Option<Arc<dyn PasswordSource>>,
    /// Which plugins run in a child process of their own, and its limits.
    pub isolation: Option<crate::isolate::Isolation>,
}

/// What a decoding run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DecodeTally {
    /// Decoder runs (one per decoder and matched file).
    pub jobs: u64,
    /// Runs that ended with an error status.
    pub failed: u64,
    /// Records written, by kind.
    pub records: BTreeMap<String, u64>,
    /// Decoder runs not started because the run was interrupted.
    pub not_run: u64,
    /// The decoder run that was stopped by the interruption, if one was
    /// (`decoder` and `file`).
    pub interrupted: Option<Value>,
}

/// An extracted file as the custody log records it.
#[derive(Debug, Clone)]
pub(crate) struct Extracted {
    /// Path in the case (`files/…`).
    pub path: String,
    /// SHA-256 from the log.
    pub sha256: String,
    /// Size from the log.
    pub size: u64,
    /// Whether the log says it was delivered whole.
    pub complete: bool,
}

/// The extracted files the log lists, by path under `files/`.
pub(crate) fn extracted_files(case: &Path) -> io::Result<BTreeMap<String, Extracted>> {
    let prefix = format!("{FILES_DIR}/");
    let mut files = BTreeMap::new();
    for line in read_log(&case.join(LOG_FILE))? {
        let Ok(entry) = line?.entry else { continue };
        if entry.action != action::FILE_EXTRACTED {
            continue;
        }
        let d = &entry.details;
        let (Some(path), Some(sha256)) = (d["path"].as_str(), d["hashes"]["sha256"].as_str())
        else {
            continue;
        };
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        files.insert(
            rel.to_owned(),
            Extracted {
                path: path.to_owned(),
                sha256: sha256.to_owned(),
                size: d["size"].as_u64().unwrap_or(0),
                complete: d["complete"].as_bool().unwrap_or(false),
            },
        );
    }
    Ok(files)
}

/// An artifact decoder with its compiled patterns.
struct Decoder<'p> {
    plugin: &'p LoadedPlugin,
    patterns: Vec<String>,
    matcher: GlobSet,
    kinds: Vec<String>,
}

fn decoders(plugins: &PluginHost) -> (Vec<Decoder<'_>>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for plugin in plugins.plugins() {
        let info = plugin.info();
        if info.kind != PluginKind::Artifact {
            continue;
        }
        let mut builder = GlobSetBuilder::new();
        let mut bad = None;
        for pattern in &info.paths {
            match Glob::new(pattern) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(e) => bad = Some(format!("pattern {pattern:?}: {e}")),
            }
        }
        match (bad, builder.build()) {
            (None, Ok(matcher)) => found.push(Decoder {
                plugin,
                patterns: info.paths.clone(),
                matcher,
                kinds: info.kinds.clone(),
            }),
            (Some(why), _) => problems.push(format!(
                "decoder `{}` is not used: invalid {why}",
                info.name
            )),
            (None, Err(e)) => problems.push(format!(
                "decoder `{}` is not used: its patterns do not compile: {e}",
                info.name
            )),
        }
    }
    (found, problems)
}

/// Runs every artifact decoder over the case's extracted files, writing its
/// custody entries through `run`.
pub(crate) fn decode_case(
    run: &mut Run,
    plugins: &PluginHost,
    case: &CaseFolder,
    opts: &DecodeOptions,
    observer: &dyn Observer,
) -> io::Result<DecodeTally> {
    let mut tally = DecodeTally::default();
    let (decoders, problems) = decoders(plugins);
    for message in problems {
        run.error(message, json!({}))?;
    }
    let files = extracted_files(case.root())?;
    let mut jobs: Vec<(&Decoder<'_>, &str, &Extracted)> = Vec::new();
    for decoder in &decoders {
        for (rel, file) in &files {
            if decoder.matcher.is_match(rel) {
                jobs.push((decoder, rel, file));
            }
        }
    }
    run.note(
        action::DECODING_STARTED,
        json!({
            "decoders": decoders.iter().map(|d| json!({
                "name": d.plugin.info().name,
                "version": d.plugin.info().version,
                "sha256": d.plugin.info().sha256,
                "paths": d.patterns,
                "kinds": d.kinds,
            })).collect::<Vec<_>>(),
            "files_in_case": files.len(),
            "matches": jobs.iter().map(|(d, _, f)| json!({
                "decoder": d.plugin.info().name,
                "file": f.path,
            })).collect::<Vec<_>>(),
        }),
    )?;
    let kinds: Vec<String> = {
        let mut k: Vec<String> = decoders.iter().flat_map(|d| d.kinds.clone()).collect();
        k.sort();
        k.dedup();
        k
    };
    let sink = Mutex::new(ArtifactSink::open(case.root(), &opts.hashes, &kinds)?);
    let run = Mutex::new(run);
    let total_jobs = jobs.len() as u64;
    for (decoder, rel, input) in jobs {
        if opts.cancel.load(Ordering::Relaxed) {
            tally.not_run = total_jobs - tally.jobs;
            break;
        }
        tally.jobs += 1;
        let started = Instant::now();
        let host = DecodeHost {
            info: EvidenceInfo {
                name: rel.as_bytes().to_vec(),
                size: input.size,
                is_dir: false,
                threads: 1,
            },
            decoder,
            rel,
            input,
            files: &files,
            case: case.root(),
            file: crate::evidence::open_read_only(&case.root().join(&input.path)).ok(),
            sink: &sink,
            run: &run,
            observer,
            emitted: Mutex::new(BTreeMap::new()),
            scratch: Mutex::new(None),
            checked: Mutex::new(None),
            reads: Mutex::new(Some(SequentialHash {
                next: 0,
                hasher: MultiHasher::new(&[HashAlgorithm::Sha256]),
            })),
            password: opts.password.clone(),
            cancel: opts.cancel.clone(),
        };
        let status = if host.file.is_none() {
            host.problem(
                level::ERROR,
                format!("cannot open {} to decode it", input.path),
                None,
            );
            Status::IO
        } else {
            match opts.isolation.as_ref().filter(|i| i.decoders) {
                Some(iso) => {
                    let ended =
                        crate::isolate::run(iso, decoder.plugin, &host, &opts.cancel, &input.path);
                    if let Some(failure) = ended.failure {
                        host.problem(level::ERROR, failure, None);
                    }
                    ended.status
                }
                None => decoder.plugin.run(&host),
            }
        };
        let emitted = host.finish();
        for (kind, n) in &emitted.records {
            *tally.records.entry(kind.clone()).or_default() += n;
        }
        let mut run = lock(&run);
        let info = decoder.plugin.info();
        run.note(
            action::FILE_DECODED,
            json!({
                "decoder": info.name,
                "version": info.version,
                "file": input.path,
                "sha256": input.sha256,
                "file_complete": input.complete,
                "input_checked": emitted.checked,
                "status": status.name(),
                "isolated": opts.isolation.as_ref().is_some_and(|i| i.decoders),
                "records": emitted.records,
                "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        )?;
        if status != Status::OK {
            tally.failed += 1;
            if status == Status::CANCELLED || opts.cancel.load(Ordering::Relaxed) {
                tally.interrupted = Some(json!({"decoder": info.name, "file": input.path}));
            }
            if status != Status::CANCELLED {
                run.error(
                    format!(
                        "decoder `{}` ended with status {} on {}; the other files are decoded",
                        info.name,
                        status.name(),
                        input.path
                    ),
                    json!({"decoder": info.name, "file": input.path, "status": status.name()}),
                )?;
            }
        }
    }
    let sink = sink.into_inner().unwrap_or_else(|p| p.into_inner());
    let run = run.into_inner().unwrap_or_else(|p| p.into_inner());
    sink.close(run)?;
    let _ = std::fs::remove_dir(case.root().join(SCRATCH_DIR));
    Ok(tally)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The record files of one decoding run. Each kind is written to a hidden
/// `.partial` file and renamed over the old one only when the run closes.
struct ArtifactSink {
    dir: PathBuf,
    files: BTreeMap<String, KindFile>,
}

struct KindFile {
    partial: PathBuf,
    writer: BufWriter<File>,
    hasher: MultiHasher,
    records: u64,
    bytes: u64,
}

impl ArtifactSink {
    fn open(case: &Path, hashes: &[HashAlgorithm], kinds: &[String]) -> io::Result<ArtifactSink> {
        let dir = case.join(ARTIFACTS_DIR);
        std::fs::create_dir_all(&dir)?;
        let mut files = BTreeMap::new();
        for kind in kinds {
            let partial = dir.join(format!(".{kind}.jsonl.partial"));
            let file = File::create(&partial)?;
            files.insert(
                kind.clone(),
                KindFile {
                    partial,
                    writer: BufWriter::new(file),
                    hasher: MultiHasher::new(hashes),
                    records: 0,
                    bytes: 0,
                },
            );
        }
        Ok(ArtifactSink { dir, files })
    }

    fn write(&mut self, kind: &str, line: &[u8]) -> io::Result<()> {
        let file = self
            .files
            .get_mut(kind)
            .ok_or_else(|| io::Error::other(format!("no record file for kind {kind}")))?;
        file.writer.write_all(line)?;
        file.hasher.update(line);
        file.records += 1;
        file.bytes += line.len() as u64;
        Ok(())
    }

    /// Flushes every file, moves it into place and logs its digests.
    fn close(self, run: &mut Run) -> io::Result<()> {
        for (kind, file) in self.files {
            let KindFile {
                partial,
                writer,
                hasher,
                records,
                bytes,
            } = file;
            writer.into_inner().map_err(|e| e.into_error())?;
            let name = format!("{kind}.jsonl");
            let target = self.dir.join(&name);
            let replaces = if target.exists() {
                let mut f = File::open(&target)?;
                crate::hash::hash_reader(&mut f, &[HashAlgorithm::Sha256])
                    .ok()
                    .and_then(|(d, _)| d.get("sha256").cloned())
            } else {
                None
            };
            std::fs::rename(&partial, &target)?;
            let digests: Digests = hasher.finish();
            run.note(
                action::ARTIFACT_WRITTEN,
                json!({
                    "path": format!("{ARTIFACTS_DIR}/{name}"),
                    "kind": kind,
                    "records": records,
                    "size": bytes,
                    "hashes": digests,
                    "replaces_sha256": replaces,
                }),
            )?;
        }
        Ok(())
    }
}

/// What one decoder run left.
struct Emitted {
    records: BTreeMap<String, u64>,
    /// Whether the bytes decoded (the working copy, or the host reads when
    /// they covered the file front to back) matched the logged hash; `None`
    /// when neither happened.
    checked: Option<bool>,
}

/// Reads of a decoder's input, hashed while each starts where the last ended.
struct SequentialHash {
    next: u64,
    hasher: MultiHasher,
}

/// The host services for one decoder over one input file.
struct DecodeHost<'a, 'r> {
    info: EvidenceInfo,
    decoder: &'a Decoder<'a>,
    rel: &'a str,
    input: &'a Extracted,
    files: &'a BTreeMap<String, Extracted>,
    case: &'a Path,
    file: Option<File>,
    sink: &'a Mutex<ArtifactSink>,
    run: &'a Mutex<&'r mut Run>,
    observer: &'a dyn Observer,
    emitted: Mutex<BTreeMap<String, u64>>,
    scratch: Mutex<Option<PathBuf>>,
    checked: Mutex<Option<bool>>,
    /// The decoder's reads of its input, hashed while they are sequential.
    reads: Mutex<Option<SequentialHash>>,
    password: Option<Arc<dyn PasswordSource>>,
    cancel: Arc<AtomicBool>,
}

impl DecodeHost<'_, '_> {
    fn name(&self) -> &str {
        &self.decoder.plugin.info().name
    }

    /// Logs a decoder's (or the host's) warning or error as a custody entry.
    fn problem(&self, lvl: u32, message: String, offset: Option<u64>) {
        let error = lvl != level::WARN;
        self.observer.problem(error, &message);
        let details = json!({
            "decoder": self.name(),
            "file": self.input.path,
            "offset": offset,
            "message": message,
        });
        let act = if error {
            action::ERROR
        } else {
            action::WARNING
        };
        if let Err(e) = lock(self.run).note(act, details) {
            tracing::error!("cannot write the custody log: {e}");
        }
    }

    /// Removes the working copy, checks the hash of what was read, and
    /// returns what the run emitted.
    fn finish(self) -> Emitted {
        if let Some(dir) = lock(&self.scratch).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let reads = lock(&self.reads).take();
        if let Some(reads) = reads.filter(|r| r.next == self.input.size && r.next > 0) {
            let sha = reads.hasher.finish().remove("sha256").unwrap_or_default();
            let matches = sha.eq_ignore_ascii_case(&self.input.sha256);
            if !matches {
                self.problem(
                    level::ERROR,
                    format!(
                        "{} changed since it was extracted (SHA-256 of the bytes decoded {sha}, the custody log says {}): its records are not trustworthy",
                        self.input.path, self.input.sha256
                    ),
                    None,
                );
            }
            let mut checked = lock(&self.checked);
            *checked = Some(checked.unwrap_or(true) && matches);
        }
        Emitted {
            records: self.emitted.into_inner().unwrap_or_else(|p| p.into_inner()),
            checked: self.checked.into_inner().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Copies `from` (a case file) to `to` while hashing the copy; returns its SHA-256.
    fn copy_hashed(&self, from: &Path, to: &Path) -> io::Result<String> {
        let mut src = crate::evidence::open_read_only(from)?;
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)?;
        let mut hasher = MultiHasher::new(&[HashAlgorithm::Sha256]);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n])?;
        }
        Ok(hasher.finish().remove("sha256").unwrap_or_default())
    }

    fn make_copy(&self) -> Result<PathBuf, Status> {
        let mut scratch = lock(&self.scratch);
        let base = self.rel.rsplit('/').next().unwrap_or("input");
        if let Some(dir) = &*scratch {
            return Ok(dir.join(base));
        }
        let root = self.case.join(SCRATCH_DIR);
        std::fs::create_dir_all(&root).map_err(|_| Status::IO)?;
        let dir = (0u32..)
            .map(|n| root.join(format!("{}-{n}", self.name())))
            .find(|d| std::fs::create_dir(d).is_ok())
            .ok_or(Status::IO)?;
        *scratch = Some(dir.clone());
        drop(scratch);
        let mut all_match = true;
        let companions = COMPANIONS.iter().filter_map(|suffix| {
            let rel = format!("{}{suffix}", self.rel);
            self.files.get(&rel).map(|f| (f, format!("{base}{suffix}")))
        });
        for (file, name) in std::iter::once((self.input, base.to_owned())).chain(companions) {
            let copied = self.copy_hashed(&self.case.join(&file.path), &dir.join(&name));
            match copied {
                Ok(sha) if sha.eq_ignore_ascii_case(&file.sha256) => {}
                Ok(sha) => {
                    all_match = false;
                    self.problem(
                        level::ERROR,
                        format!(
                            "{} changed since it was extracted (SHA-256 now {sha}, the custody log says {}): not decoded",
                            file.path, file.sha256
                        ),
                        None,
                    );
                }
                Err(e) => {
                    all_match = false;
                    self.problem(
                        level::ERROR,
                        format!("cannot copy {} to decode it: {e}", file.path),
                        None,
                    );
                }
            }
        }
        *lock(&self.checked) = Some(all_match);
        if all_match {
            Ok(dir.join(base))
        } else {
            Err(Status::IO)
        }
    }

    /// Where an attachment may be in the case (paths under `files/`): the
    /// decoder's proposal, then the handset path it stored, placed under the
    /// same prefix as the input (a dump rooted at `filesystem1/` keeps its
    /// `/data/…` there), with `/data/user/0/` also tried as `/data/data/`
    /// (the same folder on a handset).
    fn attachment_candidates(&self, proposed: Option<&str>, device: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(rel) = proposed.and_then(|p| p.strip_prefix(&format!("{FILES_DIR}/"))) {
            out.push(rel.to_owned());
        }
        let Some(device) = device.map(|d| d.trim_start_matches('/')) else {
            return out;
        };
        let prefix = if self.rel.starts_with("data/") {
            ""
        } else {
            self.rel.find("/data/").map_or("", |i| &self.rel[..=i])
        };
        out.push(format!("{prefix}{device}"));
        if let Some(rest) = device.strip_prefix("data/user/0/") {
            out.push(format!("{prefix}data/data/{rest}"));
        }
        out
    }

    /// Fills in what only the host may say about a record: its source file,
    /// that file's hash, the decoder, and the attachments' hashes.
    fn complete_record(&self, record: &mut serde_json::Map<String, Value>) {
        let info = self.decoder.plugin.info();
        let provenance = record.entry("provenance").or_insert_with(|| json!({}));
        if !provenance.is_object() {
            *provenance = json!({});
        }
        provenance["file"] = json!(self.input.path);
        provenance["sha256"] = json!(self.input.sha256);
        provenance["decoder"] = json!(format!("{} {}", info.name, info.version));
        let mut notes = Vec::new();
        if let Some(Value::Array(parts)) = record.get_mut("parts") {
            for part in parts.iter_mut() {
                let Some(att) = part.get_mut("attachment").filter(|a| a.is_object()) else {
                    continue;
                };
                let proposed = att["case_path"].as_str().map(str::to_owned);
                let device = att["device_path"].as_str().map(str::to_owned);
                let found = self
                    .attachment_candidates(proposed.as_deref(), device.as_deref())
                    .into_iter()
                    .find_map(|rel| self.files.get(&rel));
                match found {
                    Some(file) => {
                        att["case_path"] = json!(file.path);
                        att["sha256"] = json!(file.sha256);
                    }
                    None => {
                        let what = att["device_path"]
                            .as_str()
                            .or(proposed.as_deref())
                            .unwrap_or("an attachment")
                            .to_owned();
                        notes.push(format!("attachment {what} is not in the extraction"));
                        att["case_path"] = Value::Null;
                        att["sha256"] = Value::Null;
                    }
                }
            }
        }
        if !notes.is_empty() {
            let list = record.entry("notes").or_insert_with(|| json!([]));
            if let Value::Array(list) = list {
                list.extend(notes.into_iter().map(Value::String));
            }
        }
    }
}

impl HostServices for DecodeHost<'_, '_> {
    fn evidence(&self) -> &EvidenceInfo {
        &self.info
    }

    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        if handle != abi::EVIDENCE_HANDLE {
            return Err(Status::INVALID);
        }
        let file = self.file.as_ref().ok_or(Status::IO)?;
        loop {
            match std::os::unix::fs::FileExt::read_at(file, buf, offset) {
                Ok(n) => {
                    let mut reads = lock(&self.reads);
                    match reads.as_mut() {
                        Some(r) if r.next == offset => {
                            r.hasher.update(&buf[..n]);
                            r.next += n as u64;
                        }
                        // A re-read or a seek: the reads no longer cover the
                        // file once each, so they prove nothing.
                        Some(_) => *reads = None,
                        None => {}
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Status::IO),
            }
        }
    }

    fn list_dir(&self, _path: &[u8], _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        Status::UNSUPPORTED
    }

    fn open(&self, _path: &[u8]) -> Result<u64, Status> {
        Err(Status::UNSUPPORTED)
    }

    fn close(&self, _handle: u64) -> Status {
        Status::INVALID
    }

    fn begin_file(&self, _name: &[u8], _meta_json: &[u8]) -> Result<u64, Status> {
        self.problem(
            level::ERROR,
            format!(
                "decoder `{}` tried to write a file; decoders emit records only",
                self.name()
            ),
            None,
        );
        Err(Status::UNSUPPORTED)
    }

    fn write(&self, _file: u64, _data: &[u8]) -> Status {
        Status::INVALID
    }

    fn end_file(&self, _file: u64, _status: Status, _note: &[u8]) -> Status {
        Status::INVALID
    }

    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        let kind = String::from_utf8_lossy(kind).into_owned();
        if !self.decoder.kinds.contains(&kind) {
            self.problem(
                level::ERROR,
                format!(
                    "decoder `{}` emitted a record of kind {kind:?}, which it does not declare",
                    self.name()
                ),
                None,
            );
            return Status::INVALID;
        }
        let mut record = match serde_json::from_slice::<Value>(record_json) {
            Ok(Value::Object(map)) => map,
            _ => {
                self.problem(
                    level::ERROR,
                    format!(
                        "decoder `{}` emitted a record that is not a JSON object",
                        self.name()
                    ),
                    None,
                );
                return Status::INVALID;
            }
        };
        self.complete_record(&mut record);
        let mut line = match serde_json::to_vec(&record) {
            Ok(line) => line,
            Err(_) => return Status::INVALID,
        };
        line.push(b'\n');
        if let Err(e) = lock(self.sink).write(&kind, &line) {
            self.problem(
                level::ERROR,
                format!("cannot write {ARTIFACTS_DIR}/{kind}.jsonl: {e}"),
                None,
            );
            return Status::IO;
        }
        *lock(&self.emitted).entry(kind).or_default() += 1;
        Status::OK
    }

    fn log(&self, lvl: u32, status: Status, offset: u64, msg: &[u8]) {
        let message = String::from_utf8_lossy(msg).into_owned();
        match lvl {
            // Stopped as asked: run_interrupted records it.
            _ if status == Status::CANCELLED && self.cancel.load(Ordering::Relaxed) => {
                tracing::info!(decoder = %self.name(), "{message}");
            }
            level::DEBUG => tracing::debug!(decoder = %self.name(), "{message}"),
            level::INFO => tracing::info!(decoder = %self.name(), "{message}"),
            level::FACT => {
                let fact: Value =
                    serde_json::from_str(&message).unwrap_or_else(|_| json!({"text": message}));
                let details = json!({
                    "plugin": self.name(),
                    "file": self.input.path,
                    "what": fact.get("what").cloned().unwrap_or(Value::Null),
                    "details": fact.get("details").cloned().unwrap_or(fact.clone()),
                });
                if let Err(e) = lock(self.run).note(action::EVIDENCE_DESCRIBED, details) {
                    tracing::error!("cannot write the custody log: {e}");
                }
            }
            _ => {
                let message = format!("{}: {message}", self.input.path);
                let offset = (offset != abi::NO_OFFSET).then_some(offset);
                self.problem(lvl, message, offset);
            }
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn password(&self) -> Result<Option<String>, Status> {
        let Some(source) = &self.password else {
            return Ok(None);
        };
        let asked = source.password(&self.case.join(&self.input.path));
        let details = json!({
            "plugin": self.name(),
            "for": self.input.path,
            "source": asked.as_ref().map(|(_, from)| *from),
        });
        if let Err(e) = lock(self.run).note(action::PASSWORD_REQUESTED, details) {
            tracing::error!("cannot write the custody log: {e}");
            return Err(Status::IO);
        }
        Ok(asked.map(|(p, _)| p))
    }

    fn local_copy(&self) -> Result<PathBuf, Status> {
        self.make_copy()
    }
}
