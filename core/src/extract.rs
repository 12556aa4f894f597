//! One extraction run: evidence in, case folder out, every step in the
//! custody log.
//!
//! [`extract`] opens the case and the log, records the plugins and the
//! evidence, picks a format plugin, runs it with an [`ExtractHost`] (the
//! core's implementation of the plugin ABI's host services), and closes the
//! run with the evidence's digests, its re-check and the totals. The host
//! writes every delivered file under its sanitised path while hashing it:
//! each byte is hashed as it is written, never by reading the file back.

use crate::case::{ARTIFACTS_DIR, CaseError, CaseFolder};
use crate::custody::{CustodyLog, LOG_FILE, action};
use crate::evidence::{Evidence, EvidenceKind, HashedSource, open_read_only};
use crate::hash::{Digests, HashAlgorithm, MultiHasher};
use crate::plugin::{LoadedPlugin, PluginHost, PluginKind};
use crate::sanitize::sanitize;
use exhibit_plugin_sdk::abi::{self, level};
use exhibit_plugin_sdk::{
    EntryKind, EntryMeta, EvidenceInfo, HostServices, Probe, RawBytes, Status,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many leading bytes of the evidence format plugins see when probing.
pub const PROBE_BYTES: usize = 64 * 1024;

/// Everything an extraction needs to know, resolved by the caller.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// The dump: a file or a folder.
    pub evidence: PathBuf,
    /// The case folder to create (must be absent or empty).
    pub case_dir: PathBuf,
    /// Who runs the extraction.
    pub examiner: Option<String>,
    /// The examiner's organisation.
    pub agency: Option<String>,
    /// The case or exhibit reference.
    pub case_number: Option<String>,
    /// Use this format plugin instead of the best probe.
    pub format: Option<String>,
    /// Digests for every file (SHA-256 is always among them).
    pub hashes: Vec<HashAlgorithm>,
    /// The acquisition hash of the evidence, to check it against.
    pub evidence_sha256: Option<String>,
    /// Hash the evidence again at the end.
    pub rehash_evidence: bool,
    /// The command line, for the log.
    pub command_line: Vec<String>,
    /// The settings in force (configuration file merged with flags), for the log.
    pub settings: Value,
    /// Set to ask the run to stop.
    pub cancel: Arc<AtomicBool>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything decoded, no warnings or errors.
    Clean,
    /// The run finished but recorded warnings or errors.
    CompletedWithErrors,
    /// Nothing or not everything could be extracted (no plugin, plugin failure…).
    Failed,
    /// The examiner stopped it.
    Interrupted,
}

/// What an extraction did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExtractSummary {
    /// The case folder.
    pub case_dir: PathBuf,
    /// The format plugin used.
    pub plugin: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Regular files written.
    pub files: u64,
    /// Bytes written to them.
    pub bytes: u64,
    /// Directories, links and other entries recorded.
    pub entries_recorded: u64,
    /// Warning entries in the log.
    pub warnings: u64,
    /// Error entries in the log.
    pub errors: u64,
    /// SHA-256 of the evidence (for a folder, of its manifest).
    pub evidence_sha256: Option<String>,
    /// SHA-256 of the log's last line: the anchor to write down.
    pub chain_hash: String,
    /// Entries in the log.
    pub log_entries: u64,
    /// Wall time.
    pub duration: Duration,
}

/// A fatal problem before the case folder exists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The evidence cannot be opened.
    #[error("cannot open evidence {path}: {source}")]
    Evidence {
        /// As given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The case folder cannot be used.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The case folder lies inside the evidence folder (or is it).
    #[error(
        "case folder {case} is inside the evidence folder {evidence}; choose a case folder elsewhere"
    )]
    CaseInsideEvidence {
        /// The case folder.
        case: PathBuf,
        /// The evidence folder.
        evidence: PathBuf,
    },
    /// `--format` names no loaded format plugin.
    #[error("no format plugin named `{0}` is loaded (see `exhibit plugins`)")]
    UnknownFormat(String),
    /// Writing the custody log failed; the run cannot be documented.
    #[error("cannot write the custody log {path}: {source}")]
    Custody {
        /// The log.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Progress callbacks for a user interface. All methods have empty defaults.
pub trait Observer: Sync {
    /// The run starts on evidence of `size` bytes.
    fn started(&self, _size: u64, _kind: EvidenceKind) {}
    /// The evidence has been read (and hashed) up to this offset; for a
    /// folder, this many bytes of its files.
    fn evidence_progress(&self, _bytes: u64) {}
    /// A file was written.
    fn file_written(&self, _case_path: &str, _size: u64) {}
    /// A warning or error was recorded.
    fn problem(&self, _error: bool, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Runs one extraction. Returns `Err` only when no case could be started;
/// once the case exists, every failure is recorded in its log and reported
/// through the summary's outcome.
pub fn extract(
    plugins: &PluginHost,
    opts: &ExtractOptions,
    observer: &dyn Observer,
) -> Result<ExtractSummary, ExtractError> {
    let started = Instant::now();
    let evidence = Evidence::open(&opts.evidence).map_err(|source| ExtractError::Evidence {
        path: opts.evidence.clone(),
        source,
    })?;
    if let Some(format) = &opts.format {
        if plugins
            .get(format)
            .is_none_or(|p| p.info().kind != PluginKind::Format)
        {
            return Err(ExtractError::UnknownFormat(format.clone()));
        }
    }
    if evidence.kind() == EvidenceKind::Folder {
        let case = absolute(&opts.case_dir);
        if case.starts_with(evidence.path()) {
            return Err(ExtractError::CaseInsideEvidence {
                case,
                evidence: evidence.path().to_owned(),
            });
        }
    }
    let case = CaseFolder::create(&opts.case_dir)?;
    let log_path = case.root().join(LOG_FILE);
    let log = CustodyLog::create(&log_path).map_err(|source| ExtractError::Custody {
        path: log_path.clone(),
        source,
    })?;
    let mut run = Run {
        log,
        counts: Counts::default(),
    };
    let result = run.extract(plugins, opts, &evidence, &case, observer, started);
    let custody_err = |source| ExtractError::Custody {
        path: log_path.clone(),
        source,
    };
    let (plugin, outcome, evidence_sha256) = result.map_err(custody_err)?;
    let c = run.counts;
    let chain_before = run.log.chain_hash().to_owned();
    run.log.sync().map_err(custody_err)?;
    run.log
        .append(
            action::RUN_FINISHED,
            json!({
                "outcome": outcome,
                "files": c.files,
                "bytes": c.bytes,
                "entries_recorded": c.entries,
                "warnings": c.warnings,
                "errors": c.errors,
                "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "chain_sha256": chain_before,
            }),
        )
        .map_err(custody_err)?;
    run.log.sync().map_err(custody_err)?;
    Ok(ExtractSummary {
        case_dir: case.root().to_owned(),
        plugin,
        outcome,
        files: c.files,
        bytes: c.bytes,
        entries_recorded: c.entries,
        warnings: c.warnings,
        errors: c.errors,
        evidence_sha256,
        chain_hash: run.log.chain_hash().to_owned(),
        log_entries: run.log.len(),
        duration: started.elapsed(),
    })
}

fn absolute(path: &Path) -> PathBuf {
    // The case folder may not exist yet: canonicalise its deepest existing ancestor.
    let mut existing = path.to_owned();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_owned();
            }
            _ => break,
        }
    }
    let mut out = std::fs::canonicalize(&existing).unwrap_or(existing);
    out.extend(rest.into_iter().rev());
    out
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    files: u64,
    bytes: u64,
    entries: u64,
    warnings: u64,
    errors: u64,
}

/// The log and the tallies of one run.
struct Run {
    log: CustodyLog,
    counts: Counts,
}

impl Run {
    fn note(&mut self, act: &str, details: Value) -> io::Result<()> {
        match act {
            action::WARNING => self.counts.warnings += 1,
            action::ERROR => self.counts.errors += 1,
            _ => {}
        }
        self.log.append(act, details).map(|_| ())
    }

    fn error(&mut self, message: String, mut details: Value) -> io::Result<()> {
        tracing::error!("{message}");
        details["message"] = json!(message);
        self.note(action::ERROR, details)
    }

    #[allow(clippy::too_many_lines)]
    fn extract(
        &mut self,
        plugins: &PluginHost,
        opts: &ExtractOptions,
        evidence: &Evidence,
        case: &CaseFolder,
        observer: &dyn Observer,
        started: Instant,
    ) -> io::Result<(Option<String>, Outcome, Option<String>)> {
        self.note(action::CASE_OPENED, case_opened(opts, case))?;
        for p in plugins.plugins() {
            self.note(
                action::PLUGIN_LOADED,
                serde_json::to_value(p.info()).map_err(io::Error::other)?,
            )?;
        }
        for r in plugins.refused() {
            let details = json!({
                "path": r.path.to_string_lossy(),
                "sha256": r.sha256,
                "reason": r.reason.to_string(),
            });
            self.note(action::PLUGIN_REFUSED, details)?;
            self.counts.warnings += 1;
        }
        let mut opened = evidence.describe();
        if let Some(expected) = &opts.evidence_sha256 {
            opened["acquisition_sha256"] = json!(expected.to_ascii_lowercase());
        }
        self.note(action::EVIDENCE_OPENED, opened)?;
        observer.started(evidence.size(), evidence.kind());

        let head = evidence.head(PROBE_BYTES)?;
        let name = evidence.path().as_os_str().as_encoded_bytes();
        let probe = Probe {
            head: &head,
            name,
            size: evidence.size(),
            is_dir: evidence.kind() == EvidenceKind::Folder,
        };
        let scores = plugins.probe(&probe);
        let candidates: Vec<Value> = scores
            .iter()
            .map(|(p, c)| json!({"plugin": p.info().name, "confidence": c}))
            .collect();
        let chosen: Option<(&LoadedPlugin, u32)> = match &opts.format {
            Some(name) => scores.iter().find(|(p, _)| &p.info().name == name).copied(),
            None => scores.first().copied().filter(|(_, c)| *c > 0),
        };
        let Some((plugin, confidence)) = chosen else {
            let message = format!(
                "no format plugin recognises {} ({} format plugins asked); name one with --format",
                evidence.path().display(),
                scores.len()
            );
            self.error(message, json!({"candidates": candidates}))?;
            return Ok((None, Outcome::Failed, None));
        };
        self.note(
            action::PLUGIN_SELECTED,
            json!({
                "plugin": plugin.info().name,
                "version": plugin.info().version,
                "confidence": confidence,
                "forced": opts.format.is_some(),
                "candidates": candidates,
            }),
        )?;

        let host = ExtractHost::new(self, evidence, case, opts, plugin, observer)?;
        let plugin_started = Instant::now();
        let status = plugin.run(&host);
        let closing = host.close()?;
        let ClosedHost {
            evidence_digests,
            evidence_bytes,
            host_read,
            manifest,
        } = closing;
        let cancelled = opts.cancel.load(Ordering::Relaxed) || status == Status::CANCELLED;
        self.note(
            action::PLUGIN_FINISHED,
            json!({
                "plugin": plugin.info().name,
                "status": status.name(),
                "duration_ms": u64::try_from(plugin_started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        )?;
        let failed = !matches!(status, Status::OK | Status::CORRUPT | Status::CANCELLED);
        if status != Status::OK && !cancelled {
            // The plugin's own message is already in the log; this entry
            // records that the run as a whole did not end cleanly.
            self.error(
                format!(
                    "format plugin `{}` ended with status {}",
                    plugin.info().name,
                    status.name()
                ),
                json!({"plugin": plugin.info().name, "status": status.name()}),
            )?;
        }

        let evidence_sha256 = evidence_digests.get("sha256").cloned();
        let mut hashed = json!({
            "hashes": evidence_digests,
            "bytes": evidence_bytes,
        });
        match evidence.kind() {
            EvidenceKind::File => {
                hashed["read_by_plugin"] = json!(evidence_bytes - host_read);
                hashed["read_by_host"] = json!(host_read);
            }
            EvidenceKind::Folder => {
                hashed["files"] = json!(manifest);
                hashed["method"] = json!(
                    "sha256 of the manifest: one line '<sha256>  <relative path>\\n' per file, in the order the plugin read them"
                );
            }
        }
        if let (Some(expected), Some(actual)) = (&opts.evidence_sha256, &evidence_sha256) {
            let matches = expected.eq_ignore_ascii_case(actual);
            hashed["acquisition_sha256_matches"] = json!(matches);
            self.note(action::EVIDENCE_HASHED, hashed)?;
            if !matches {
                self.error(
                    format!(
                        "evidence SHA-256 {actual} does not match the acquisition hash {expected}"
                    ),
                    json!({"expected": expected, "actual": actual}),
                )?;
            }
        } else {
            self.note(action::EVIDENCE_HASHED, hashed)?;
        }

        let changes = evidence.changes()?;
        let mut checked = json!({"unchanged": changes.is_empty(), "changes": changes});
        if opts.rehash_evidence && evidence.kind() == EvidenceKind::File {
            let (digests, _) = evidence.rehash(&[HashAlgorithm::Sha256])?;
            let same = digests.get("sha256") == evidence_sha256.as_ref();
            checked["rehash_sha256"] = json!(digests.get("sha256"));
            checked["rehash_matches"] = json!(same);
            if !same {
                checked["unchanged"] = json!(false);
            }
        }
        let unchanged = checked["unchanged"] == json!(true);
        self.note(action::EVIDENCE_CHECKED, checked)?;
        if !unchanged {
            self.error(
                format!(
                    "the evidence {} changed during the run",
                    evidence.path().display()
                ),
                json!({}),
            )?;
        }
        tracing::debug!(elapsed = ?started.elapsed(), "extraction finished");
        let outcome = if cancelled {
            Outcome::Interrupted
        } else if failed {
            Outcome::Failed
        } else if self.counts.errors > 0 || self.counts.warnings > 0 {
            Outcome::CompletedWithErrors
        } else {
            Outcome::Clean
        };
        Ok((Some(plugin.info().name.clone()), outcome, evidence_sha256))
    }
}

fn case_opened(opts: &ExtractOptions, case: &CaseFolder) -> Value {
    json!({
        "case_dir": case.root().to_string_lossy(),
        "examiner": opts.examiner,
        "agency": opts.agency,
        "case_number": opts.case_number,
        "tool": "exhibit",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "git_commit": option_env!("EXHIBIT_GIT_COMMIT"),
        "host": gethostname::gethostname().to_string_lossy(),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "command_line": opts.command_line,
        "hash_algorithms": opts.hashes.iter().map(|h| h.name()).collect::<Vec<_>>(),
        "settings": opts.settings,
    })
}

/// An entry being delivered.
struct Output {
    name: Vec<u8>,
    meta: EntryMeta,
    path: Option<String>,
    writer: Option<BufWriter<File>>,
    hasher: MultiHasher,
    written: u64,
    write_error: Option<String>,
}

/// A record file being written.
struct ArtifactFile {
    path: String,
    writer: BufWriter<File>,
    hasher: MultiHasher,
    records: u64,
    bytes: u64,
}

/// A file of a folder evidence opened by the plugin.
struct OpenSource {
    path: String,
    source: HashedSource,
}

struct HostState<'r> {
    run: &'r mut Run,
    evidence: Option<HashedSource>,
    sources: HashMap<u64, OpenSource>,
    outputs: HashMap<u64, Output>,
    artifacts: BTreeMap<String, ArtifactFile>,
    next_handle: u64,
    manifest: MultiHasher,
    manifest_files: u64,
    folder_bytes: u64,
}

/// What closing the host leaves for the end of the run.
struct ClosedHost {
    evidence_digests: Digests,
    evidence_bytes: u64,
    host_read: u64,
    manifest: u64,
}

/// The core's side of the plugin ABI for one extraction.
pub struct ExtractHost<'r> {
    info: EvidenceInfo,
    root: PathBuf,
    case: CaseFolder,
    hashes: Vec<HashAlgorithm>,
    plugin: String,
    cancel: Arc<AtomicBool>,
    observer: &'r dyn Observer,
    state: Mutex<HostState<'r>>,
}

impl<'r> ExtractHost<'r> {
    fn new(
        run: &'r mut Run,
        evidence: &Evidence,
        case: &CaseFolder,
        opts: &ExtractOptions,
        plugin: &LoadedPlugin,
        observer: &'r dyn Observer,
    ) -> io::Result<ExtractHost<'r>> {
        let is_dir = evidence.kind() == EvidenceKind::Folder;
        let source = if is_dir {
            None
        } else {
            Some(HashedSource::new(
                open_read_only(evidence.path())?,
                &opts.hashes,
            ))
        };
        Ok(ExtractHost {
            info: EvidenceInfo {
                name: evidence.path().as_os_str().as_encoded_bytes().to_vec(),
                size: if is_dir { 0 } else { evidence.size() },
                is_dir,
            },
            root: evidence.path().to_owned(),
            case: case.clone(),
            hashes: opts.hashes.clone(),
            plugin: plugin.info().name.clone(),
            cancel: opts.cancel.clone(),
            observer,
            state: Mutex::new(HostState {
                run,
                evidence: source,
                sources: HashMap::new(),
                outputs: HashMap::new(),
                artifacts: BTreeMap::new(),
                next_handle: 0,
                manifest: MultiHasher::new(&[HashAlgorithm::Sha256]),
                manifest_files: 0,
                folder_bytes: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HostState<'r>> {
        // A panic while the lock was held was caught at the ABI boundary; the
        // state is still consistent enough to record what happened.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure of the host's own (write error, bad call) and
    /// returns `status` for the plugin.
    fn fail(
        &self,
        state: &mut HostState<'_>,
        status: Status,
        message: String,
        details: Value,
    ) -> Status {
        self.observer.problem(true, &message);
        let mut details = details;
        details["plugin"] = json!(self.plugin);
        if state.run.error(message, details).is_err() {
            return Status::IO;
        }
        status
    }

    /// Resolves a `/`-separated path of the evidence folder, refusing `..`
    /// and any symbolic link on the way, so a plugin cannot read outside it.
    fn folder_path(&self, rel: &[u8]) -> Result<PathBuf, Status> {
        if !self.info.is_dir {
            return Err(Status::UNSUPPORTED);
        }
        let mut path = self.root.clone();
        for part in rel.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            if part == b".." || part == b"." {
                return Err(Status::INVALID);
            }
            path.push(os_str(part));
            if path != self.root
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(Status::INVALID);
            }
        }
        Ok(path)
    }

    fn close_source(&self, state: &mut HostState<'_>, handle: u64) -> Status {
        let Some(mut open) = state.sources.remove(&handle) else {
            return Status::INVALID;
        };
        match open.source.finish() {
            Ok((digests, _, host_read)) => {
                state.folder_bytes += host_read;
                let sha = digests.get("sha256").cloned().unwrap_or_default();
                state
                    .manifest
                    .update(format!("{sha}  {}\n", open.path).as_bytes());
                state.manifest_files += 1;
                Status::OK
            }
            Err(e) => {
                let message = format!("cannot finish reading evidence file {}: {e}", open.path);
                self.fail(state, Status::IO, message, json!({"source": open.path}))
            }
        }
    }

    fn finish_output(
        &self,
        state: &mut HostState<'_>,
        mut out: Output,
        status: Status,
        note: &[u8],
    ) -> Status {
        let note = String::from_utf8_lossy(note).into_owned();
        let name = RawBytes(std::mem::take(&mut out.name));
        if out.meta.kind != EntryKind::File {
            state.run.counts.entries += 1;
            let details = json!({
                "name": name,
                "kind": out.meta.kind,
                "path": out.path,
                "meta": out.meta,
            });
            return match state.run.note(action::ENTRY_RECORDED, details) {
                Ok(()) => Status::OK,
                Err(_) => Status::IO,
            };
        }
        if let Some(writer) = out.writer.take() {
            match writer.into_inner() {
                Ok(file) => {
                    if let Some(mtime) = out.meta.mtime.and_then(to_system_time) {
                        // Best effort: the examiner's file browser shows the
                        // dump's time; the log keeps it regardless.
                        let _ = file.set_modified(mtime);
                    }
                }
                Err(e) => {
                    out.write_error.get_or_insert_with(|| e.error().to_string());
                }
            }
        }
        let digests = out.hasher.finish();
        let complete = status == Status::OK && out.write_error.is_none();
        state.run.counts.files += 1;
        state.run.counts.bytes += out.written;
        let path = out.path.clone().unwrap_or_default();
        let details = json!({
            "name": name,
            "path": path,
            "size": out.written,
            "hashes": digests,
            "complete": complete,
            "meta": out.meta,
        });
        if state.run.note(action::FILE_EXTRACTED, details).is_err() {
            return Status::IO;
        }
        self.observer.file_written(&path, out.written);
        let mut problems = Vec::new();
        if status != Status::OK {
            let why = if note.is_empty() {
                status.name().into_owned()
            } else {
                note
            };
            problems.push(format!("{path} is incomplete ({}): {why}", status.name()));
        }
        if let Some(e) = &out.write_error {
            problems.push(format!("writing {path} failed: {e}"));
        }
        if let Some(declared) = out
            .meta
            .size
            .filter(|&d| d != out.written && status == Status::OK)
        {
            problems.push(format!(
                "plugin declared {declared} bytes for {path} but delivered {}",
                out.written
            ));
        }
        for message in problems {
            let details = json!({"path": path, "name": name, "offset": out.meta.offset});
            if self.fail(state, Status::OK, message, details) != Status::OK {
                return Status::IO;
            }
        }
        Status::OK
    }

    /// Ends whatever the plugin left open and completes the evidence digests.
    fn close(self) -> io::Result<ClosedHost> {
        let mut state = self.lock();
        let open: Vec<u64> = state.outputs.keys().copied().collect();
        for handle in open {
            if let Some(out) = state.outputs.remove(&handle) {
                self.finish_output(
                    &mut state,
                    out,
                    Status::CORRUPT,
                    b"the plugin returned without ending this entry",
                );
            }
        }
        let sources: Vec<u64> = state.sources.keys().copied().collect();
        for handle in sources {
            self.close_source(&mut state, handle);
        }
        let artifacts = std::mem::take(&mut state.artifacts);
        for (kind, mut art) in artifacts {
            let flushed = art.writer.flush();
            let details = json!({
                "kind": kind,
                "path": art.path,
                "records": art.records,
                "size": art.bytes,
                "hashes": art.hasher.finish(),
            });
            state.run.note(action::ARTIFACT_WRITTEN, details)?;
            if let Err(e) = flushed {
                self.fail(
                    &mut state,
                    Status::IO,
                    format!("writing {} failed: {e}", art.path),
                    json!({}),
                );
            }
        }
        let (evidence_digests, evidence_bytes, host_read, manifest) = match state.evidence.as_mut()
        {
            Some(source) => {
                let (d, total, host_read) = source.finish()?;
                self.observer.evidence_progress(total);
                (d, total, host_read, 0)
            }
            None => {
                let manifest = std::mem::replace(&mut state.manifest, MultiHasher::new(&[]));
                (
                    manifest.finish(),
                    state.folder_bytes,
                    0,
                    state.manifest_files,
                )
            }
        };
        Ok(ClosedHost {
            evidence_digests,
            evidence_bytes,
            host_read,
            manifest,
        })
    }
}

fn to_system_time(t: exhibit_plugin_sdk::Time) -> Option<std::time::SystemTime> {
    let base = std::time::UNIX_EPOCH;
    let nanos = Duration::from_nanos(u64::from(t.nanos));
    if t.secs >= 0 {
        base.checked_add(Duration::from_secs(t.secs.unsigned_abs()))?
            .checked_add(nanos)
    } else {
        base.checked_sub(Duration::from_secs(t.secs.unsigned_abs()))?
            .checked_add(nanos)
    }
}

#[cfg(unix)]
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(bytes)
}

#[cfg(not(unix))]
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(std::str::from_utf8(bytes).unwrap_or("\u{fffd}"))
}

/// Why an entry did not land at the path its name suggests, if it did not:
/// a `..` step (neutralised), or a name already taken (a duplicate or a
/// file/directory clash). Plain absolute names are normal in dumps and
/// are not worth a warning.
fn placement_note(name: &[u8], components: &[String], path: &str) -> Option<String> {
    let shown = String::from_utf8_lossy(name);
    if name.split(|&b| b == b'/').any(|c| c == b"..") {
        return Some(format!(
            "entry name {shown:?} climbs out of the dump's root with `..`; written inside the case as {path}"
        ));
    }
    let natural = std::iter::once(crate::case::FILES_DIR)
        .chain(components.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("/");
    (natural != path && !components.is_empty()).then(|| {
        format!("{natural} is already taken (a duplicate or a file/folder clash); {shown:?} written as {path}")
    })
}

fn valid_record_kind(kind: &[u8]) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind[0].is_ascii_lowercase()
        && kind
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

impl HostServices for ExtractHost<'_> {
    fn evidence(&self) -> &EvidenceInfo {
        &self.info
    }

    fn read_at(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Status> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Status::CANCELLED);
        }
        let mut state = self.lock();
        let state = &mut *state;
        let (result, progress, label) = if handle == abi::EVIDENCE_HANDLE {
            let Some(source) = state.evidence.as_mut() else {
                return Err(Status::UNSUPPORTED);
            };
            let r = source.read_at(offset, buf);
            (r, source.hashed_upto(), String::new())
        } else {
            let Some(open) = state.sources.get_mut(&handle) else {
                return Err(Status::INVALID);
            };
            let before = open.source.hashed_upto();
            let r = open.source.read_at(offset, buf);
            state.folder_bytes += open.source.hashed_upto() - before;
            (r, state.folder_bytes, open.path.clone())
        };
        match result {
            Ok(n) => {
                self.observer.evidence_progress(progress);
                Ok(n)
            }
            Err(e) => {
                let what = if label.is_empty() {
                    "the evidence".to_owned()
                } else {
                    label
                };
                let message = format!("reading {what} at offset {offset:#x} failed: {e}");
                Err(self.fail(state, Status::IO, message, json!({"offset": offset})))
            }
        }
    }

    fn list_dir(&self, path: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Status {
        let dir = match self.folder_path(path) {
            Ok(dir) => dir,
            Err(status) => return status,
        };
        let read = match std::fs::read_dir(&dir) {
            Ok(read) => read,
            Err(_) => return Status::IO,
        };
        let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
        entries.sort_by(|a, b| {
            a.file_name()
                .as_encoded_bytes()
                .cmp(b.file_name().as_encoded_bytes())
        });
        for entry in entries {
            let md = match std::fs::symlink_metadata(entry.path()) {
                Ok(md) => md,
                Err(e) => {
                    // One unreadable entry must not hide its siblings.
                    let message = format!(
                        "cannot read the metadata of {}: {e}",
                        entry.path().display()
                    );
                    let mut state = self.lock();
                    self.fail(&mut state, Status::OK, message, json!({}));
                    continue;
                }
            };
            let mut meta = EntryMeta::from_fs(&md);
            if md.file_type().is_symlink() {
                meta.link_target = std::fs::read_link(entry.path())
                    .ok()
                    .map(|t| RawBytes(t.into_os_string().into_encoded_bytes()));
            }
            let Ok(json) = serde_json::to_vec(&meta) else {
                return Status::INVALID;
            };
            if !visit(entry.file_name().as_encoded_bytes(), &json) {
                break;
            }
        }
        Status::OK
    }

    fn open(&self, path: &[u8]) -> Result<u64, Status> {
        let full = self.folder_path(path)?;
        let file = open_read_only(&full).map_err(|_| Status::IO)?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(Status::INVALID);
        }
        let mut state = self.lock();
        state.next_handle += 1;
        let handle = state.next_handle;
        state.sources.insert(
            handle,
            OpenSource {
                path: String::from_utf8_lossy(path).into_owned(),
                source: HashedSource::new(file, &self.hashes),
            },
        );
        Ok(handle)
    }

    fn close(&self, handle: u64) -> Status {
        let mut state = self.lock();
        self.close_source(&mut state, handle)
    }

    fn begin_file(&self, name: &[u8], meta_json: &[u8]) -> Result<u64, Status> {
        let mut state = self.lock();
        let meta: EntryMeta = match serde_json::from_slice(meta_json) {
            Ok(meta) => meta,
            Err(e) => {
                let message = format!(
                    "plugin `{}` sent invalid metadata for {:?}: {e}",
                    self.plugin,
                    String::from_utf8_lossy(name)
                );
                return Err(self.fail(
                    &mut state,
                    Status::INVALID,
                    message,
                    json!({"name": RawBytes(name.to_vec())}),
                ));
            }
        };
        let components = sanitize(name);
        let (path, writer) = match meta.kind {
            EntryKind::File => match self.case.create_file(&components) {
                Ok((path, file)) => (Some(path), Some(BufWriter::with_capacity(256 * 1024, file))),
                Err(e) => {
                    let message = format!(
                        "cannot create the case file for {:?}: {e}",
                        String::from_utf8_lossy(name)
                    );
                    return Err(self.fail(
                        &mut state,
                        Status::IO,
                        message,
                        json!({"name": RawBytes(name.to_vec())}),
                    ));
                }
            },
            EntryKind::Dir if !components.is_empty() => match self.case.create_dir(&components) {
                Ok(path) => (Some(path), None),
                Err(e) => {
                    let message = format!(
                        "cannot create the case folder for {:?}: {e}",
                        String::from_utf8_lossy(name)
                    );
                    return Err(self.fail(
                        &mut state,
                        Status::IO,
                        message,
                        json!({"name": RawBytes(name.to_vec())}),
                    ));
                }
            },
            _ => (None, None),
        };
        if let Some(path) = &path {
            if let Some(message) = placement_note(name, &components, path) {
                let details = json!({
                    "plugin": self.plugin,
                    "name": RawBytes(name.to_vec()),
                    "path": path,
                    "offset": meta.offset,
                    "message": message,
                });
                self.observer.problem(false, &message);
                if state.run.note(action::WARNING, details).is_err() {
                    return Err(Status::IO);
                }
            }
        }
        state.next_handle += 1;
        let handle = state.next_handle;
        state.outputs.insert(
            handle,
            Output {
                name: name.to_vec(),
                meta,
                path,
                writer,
                hasher: MultiHasher::new(&self.hashes),
                written: 0,
                write_error: None,
            },
        );
        Ok(handle)
    }

    fn write(&self, file: u64, data: &[u8]) -> Status {
        let mut state = self.lock();
        let Some(out) = state.outputs.get_mut(&file) else {
            return Status::INVALID;
        };
        let Some(writer) = out.writer.as_mut() else {
            let message = format!(
                "plugin `{}` wrote bytes to {:?}, which is not a regular file",
                self.plugin,
                String::from_utf8_lossy(&out.name)
            );
            return self.fail(&mut state, Status::INVALID, message, json!({}));
        };
        if out.write_error.is_some() {
            return Status::IO;
        }
        match writer.write_all(data) {
            Ok(()) => {
                out.hasher.update(data);
                out.written += data.len() as u64;
                Status::OK
            }
            Err(e) => {
                out.write_error = Some(e.to_string());
                Status::IO
            }
        }
    }

    fn end_file(&self, file: u64, status: Status, note: &[u8]) -> Status {
        let mut state = self.lock();
        let Some(out) = state.outputs.remove(&file) else {
            return Status::INVALID;
        };
        self.finish_output(&mut state, out, status, note)
    }

    fn emit_record(&self, kind: &[u8], record_json: &[u8]) -> Status {
        let mut state = self.lock();
        if !valid_record_kind(kind) {
            let message = format!(
                "plugin `{}` emitted a record of invalid kind {:?}",
                self.plugin,
                String::from_utf8_lossy(kind)
            );
            return self.fail(&mut state, Status::INVALID, message, json!({}));
        }
        let record: Value = match serde_json::from_slice(record_json) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let message = format!(
                    "plugin `{}` emitted a record that is not a JSON object",
                    self.plugin
                );
                return self.fail(&mut state, Status::INVALID, message, json!({}));
            }
        };
        let kind = String::from_utf8_lossy(kind).into_owned();
        if !state.artifacts.contains_key(&kind) {
            let dir = self.case.root().join(ARTIFACTS_DIR);
            let path = format!("{ARTIFACTS_DIR}/{kind}.jsonl");
            let created = std::fs::create_dir_all(&dir).and_then(|()| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(self.case.root().join(&path))
            });
            match created {
                Ok(file) => {
                    state.artifacts.insert(
                        kind.clone(),
                        ArtifactFile {
                            path,
                            writer: BufWriter::new(file),
                            hasher: MultiHasher::new(&self.hashes),
                            records: 0,
                            bytes: 0,
                        },
                    );
                }
                Err(e) => {
                    let message = format!("cannot create {path}: {e}");
                    return self.fail(&mut state, Status::IO, message, json!({}));
                }
            }
        }
        let Some(art) = state.artifacts.get_mut(&kind) else {
            return Status::IO;
        };
        let mut line = record.to_string().into_bytes();
        line.push(b'\n');
        match art.writer.write_all(&line) {
            Ok(()) => {
                art.hasher.update(&line);
                art.records += 1;
                art.bytes += line.len() as u64;
                Status::OK
            }
            Err(_) => Status::IO,
        }
    }

    fn log(&self, lvl: u32, status: Status, offset: u64, msg: &[u8]) {
        let message = String::from_utf8_lossy(msg).into_owned();
        let act = match lvl {
            level::DEBUG => return tracing::debug!(plugin = %self.plugin, "{message}"),
            level::INFO => return tracing::info!(plugin = %self.plugin, "{message}"),
            level::WARN => action::WARNING,
            _ => action::ERROR,
        };
        self.observer.problem(act == action::ERROR, &message);
        let details = json!({
            "plugin": self.plugin,
            "status": status.name(),
            "offset": (offset != abi::NO_OFFSET).then_some(offset),
            "message": message,
        });
        let mut state = self.lock();
        if let Err(e) = state.run.note(act, details) {
            tracing::error!("cannot write the custody log: {e}");
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}
