//! One extraction run: evidence in, case folder out, every step in the
//! custody log.
//!
//! [`extract`] opens the case and the log, records the plugins and the
//! evidence, picks a format plugin, runs it with an [`ExtractHost`] (the
//! core's implementation of the plugin ABI's host services), and closes the
//! run with the evidence's digests, its re-check and the totals. The host
//! writes every delivered file under its sanitised path while hashing it:
//! each byte is hashed as it is written, never by reading the file back.
//!
//! A stop request (the cancel flag) ends the run cleanly: the entry in
//! progress is kept as incomplete, `run_interrupted` says what was cut and
//! how far the evidence was read (the rest is not read just to hash it),
//! and `run_finished` says `interrupted`. A change of the evidence seen
//! when the plugin finishes or at the end fails the run.

use crate::case::{CaseError, CaseFolder};
use crate::custody::{CustodyLog, LOG_FILE, action};
use crate::decode::{DecodeOptions, DecodeTally};
use crate::evidence::{Evidence, EvidenceKind};
use crate::hash::{Digests, HashAlgorithm};
use crate::host::{ClosedHost, ExtractHost, HostSetup};
use crate::plugin::{LoadedPlugin, PluginHost, PluginKind};
use exhibit_plugin_sdk::{Probe, Status};
use serde_json::{Value, json};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Threads a plugin may deliver entries from (0: one per CPU).
    pub threads: u32,
    /// Bytes to leave free on the case disk; extraction stops rather than
    /// go below.
    pub min_free: u64,
    /// Where a password for encrypted evidence comes from; asked only when a
    /// plugin finds the evidence encrypted.
    pub password: Option<Arc<dyn PasswordSource>>,
    /// Run the artifact decoders over the extracted files afterwards.
    pub decode: bool,
    /// Which plugins run in a child process of their own, and its limits.
    pub isolation: Option<crate::isolate::Isolation>,
}

/// Where a password for encrypted evidence comes from. The core asks only
/// when a plugin needs one, logs where it came from, and never the password.
pub trait PasswordSource: Send + Sync + std::fmt::Debug {
    /// The password for `evidence` and where it came from (`"command line"`,
    /// `"environment"`, `"prompt"`), or `None` when there is none.
    fn password(&self, evidence: &Path) -> Option<(String, &'static str)>;
}

/// The default reserve on the case disk: 256 MiB.
pub const DEFAULT_MIN_FREE: u64 = 256 << 20;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything decoded, no warnings or errors.
    Clean,
    /// The run finished but recorded warnings or errors.
    CompletedWithErrors,
    /// Nothing or not everything could be extracted (no plugin, plugin
    /// failure…), or the evidence changed during the run.
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
    /// Regular files written (by this run, when it resumed a case).
    pub files: u64,
    /// On resume: files already extracted whole that were delivered again
    /// and found identical, so not rewritten.
    pub files_confirmed: u64,
    /// True when this run continued an earlier one (`--resume`).
    pub resumed: bool,
    /// Bytes written to them.
    pub bytes: u64,
    /// Directories, links and other entries recorded.
    pub entries_recorded: u64,
    /// Warning entries this run added to the log.
    pub warnings: u64,
    /// Error entries this run added to the log.
    pub errors: u64,
    /// SHA-256 of the evidence (for a folder, of its manifest); `None` when
    /// the run was interrupted before reading it all.
    pub evidence_sha256: Option<String>,
    /// How the evidence changed during the run (size, times, content);
    /// empty when it did not. Any change makes the outcome `Failed`.
    pub evidence_changes: Vec<String>,
    /// What the artifact decoders did, when they ran.
    pub decoded: Option<crate::decode::DecodeTally>,
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
    /// What a plugin is busy with (a slow key derivation), until the next
    /// progress.
    fn busy(&self, _what: &str) {}
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
    if let Some(format) = &opts.format
        && plugins
            .get(format)
            .is_none_or(|p| p.info().kind != PluginKind::Format)
    {
        return Err(ExtractError::UnknownFormat(format.clone()));
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
    let run = Run {
        log,
        counts: Counts::default(),
        since: Counts::default(),
    };
    run.run_to_end(plugins, opts, &evidence, &case, observer, started, None)
}

pub(crate) fn absolute(path: &Path) -> PathBuf {
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

/// Tallies of one run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub files: u64,
    pub bytes: u64,
    pub entries: u64,
    pub warnings: u64,
    pub errors: u64,
    /// On resume: files delivered again and found identical (`file_confirmed`).
    pub confirmed: u64,
}

/// How the body of a run ended, for its `run_finished` entry and summary.
struct Ended {
    plugin: Option<String>,
    outcome: Outcome,
    evidence_sha256: Option<String>,
    decoded: Option<DecodeTally>,
    evidence_changes: Vec<String>,
}

impl Ended {
    fn failed(plugin: Option<String>) -> Ended {
        Ended {
            plugin,
            outcome: Outcome::Failed,
            evidence_sha256: None,
            decoded: None,
            evidence_changes: Vec::new(),
        }
    }
}

/// The log and the tallies of one run.
pub(crate) struct Run {
    log: CustodyLog,
    pub counts: Counts,
    /// The counts when this run started: an earlier run's, when it
    /// continues a case (its `run_finished` counts the whole log, as
    /// `verify` expects, but its outcome only what it added).
    since: Counts,
}

/// What `exhibit decode` did to an existing case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeSummary {
    /// The case folder.
    pub case_dir: PathBuf,
    /// How it ended.
    pub outcome: Outcome,
    /// What the decoders did.
    pub decoded: DecodeTally,
    /// Warnings and errors this run added to the log.
    pub warnings: u64,
    /// Errors this run added.
    pub errors: u64,
    /// SHA-256 of the log's last line: the new anchor.
    pub chain_hash: String,
    /// Entries in the log.
    pub log_entries: u64,
    /// Wall time.
    pub duration: Duration,
}

/// Runs the artifact decoders again over an existing case, appending to its
/// custody log (whose chain must be whole) and rewriting its record files.
/// The new `run_finished` entry counts the whole log, as `verify` expects.
pub fn decode_existing(
    plugins: &PluginHost,
    case_dir: &Path,
    opts: &DecodeOptions,
    command_line: &[String],
    examiner: Option<&str>,
    observer: &dyn Observer,
) -> Result<DecodeSummary, ExtractError> {
    let started = Instant::now();
    let log_path = case_dir.join(LOG_FILE);
    let custody_err = |source| ExtractError::Custody {
        path: log_path.clone(),
        source,
    };
    let (log, tally) = CustodyLog::open_append(&log_path).map_err(custody_err)?;
    let case = CaseFolder::existing(case_dir);
    let mut run = Run {
        log,
        counts: Counts {
            files: tally.files,
            warnings: tally.warnings,
            errors: tally.errors,
            ..Counts::default()
        },
        since: Counts::default(),
    };
    let before = run.counts;
    let result = (|| -> io::Result<DecodeTally> {
        run.note(
            action::CASE_REOPENED,
            reopened("decode", examiner, command_line, &tally),
        )?;
        for p in plugins.plugins() {
            run.note(
                action::PLUGIN_LOADED,
                serde_json::to_value(p.info()).map_err(io::Error::other)?,
            )?;
        }
        crate::decode::decode_case(&mut run, plugins, &case, opts, observer)
    })();
    let decoded = result.map_err(custody_err)?;
    if opts.cancel.load(Ordering::Relaxed) {
        run.note_interrupted("decoding", json!({}), Some(&decoded))
            .map_err(custody_err)?;
    }
    let c = run.counts;
    let outcome = if opts.cancel.load(Ordering::Relaxed) {
        Outcome::Interrupted
    } else if c.errors > before.errors || c.warnings > before.warnings {
        Outcome::CompletedWithErrors
    } else {
        Outcome::Clean
    };
    let chain_before = run.log.chain_hash().to_owned();
    run.log
        .append(
            action::RUN_FINISHED,
            json!({
                "run": "decode",
                "outcome": outcome,
                "files": c.files,
                "warnings": c.warnings,
                "errors": c.errors,
                "records": decoded.records,
                "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "chain_sha256": chain_before,
            }),
        )
        .map_err(custody_err)?;
    Ok(DecodeSummary {
        case_dir: case_dir.to_owned(),
        outcome,
        decoded,
        warnings: c.warnings - before.warnings,
        errors: c.errors - before.errors,
        chain_hash: run.log.chain_hash().to_owned(),
        log_entries: run.log.len(),
        duration: started.elapsed(),
    })
}

/// The `case_reopened` entry of a run that continues a case (`decode`,
/// `report`): who, with what, and how the log ended before.
fn reopened(
    purpose: &str,
    examiner: Option<&str>,
    command_line: &[String],
    tally: &crate::custody::LogTally,
) -> Value {
    json!({
        "purpose": purpose,
        "examiner": examiner,
        "tool": "exhibit",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "host": gethostname::gethostname().to_string_lossy(),
        "command_line": command_line,
        "previous_last_action": tally.last_action,
    })
}

/// A report or export written into `case/reports/`, for [`record_reports`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportWritten {
    /// `html`, `custody-html`, `case-uco`, `dfxml` or `timeline`.
    pub format: String,
    /// Case path (`reports/report.html`).
    pub path: String,
    /// Digests of the bytes written, computed as they were written.
    pub hashes: Digests,
    /// Bytes written.
    pub size: u64,
    /// Chain hash of the log the report was made from.
    pub made_from_chain_sha256: String,
    /// Entries of that log.
    pub made_from_entries: u64,
}

/// Records reports written into a case as a run of their own
/// (`case_reopened` with purpose `report`, a `report_written` per file,
/// `run_finished`), after checking the chain as `exhibit decode` does, so
/// that `verify` checks their hashes like any other file. Returns the new
/// chain hash.
pub fn record_reports(
    case_dir: &Path,
    command_line: &[String],
    examiner: Option<&str>,
    reports: &[ReportWritten],
) -> Result<String, ExtractError> {
    let started = Instant::now();
    let log_path = case_dir.join(LOG_FILE);
    let custody_err = |source| ExtractError::Custody {
        path: log_path.clone(),
        source,
    };
    let (mut log, tally) = CustodyLog::open_append(&log_path).map_err(custody_err)?;
    log.append(
        action::CASE_REOPENED,
        reopened("report", examiner, command_line, &tally),
    )
    .map_err(custody_err)?;
    for r in reports {
        let details = serde_json::to_value(r).map_err(|e| custody_err(io::Error::other(e)))?;
        log.append(action::REPORT_WRITTEN, details)
            .map_err(custody_err)?;
    }
    let chain_before = log.chain_hash().to_owned();
    log.append(
        action::RUN_FINISHED,
        json!({
            "run": "report",
            "outcome": Outcome::Clean,
            "files": tally.files,
            "warnings": tally.warnings,
            "errors": tally.errors,
            "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "chain_sha256": chain_before,
        }),
    )
    .map_err(custody_err)?;
    log.sync().map_err(custody_err)?;
    Ok(log.chain_hash().to_owned())
}

impl Run {
    /// Appends a custody entry, counting warnings and errors.
    pub(crate) fn note(&mut self, act: &str, details: Value) -> io::Result<()> {
        match act {
            action::WARNING => self.counts.warnings += 1,
            action::ERROR => self.counts.errors += 1,
            _ => {}
        }
        self.log.append(act, details).map(|_| ())
    }

    /// Appends an error entry with `message`.
    pub(crate) fn error(&mut self, message: String, mut details: Value) -> io::Result<()> {
        tracing::error!("{message}");
        details["message"] = json!(message);
        self.note(action::ERROR, details)
    }

    /// A run that continues the log of an earlier one.
    pub(crate) fn continuing(log: CustodyLog, tally: &crate::custody::LogTally) -> Run {
        let counts = Counts {
            files: tally.files,
            warnings: tally.warnings,
            errors: tally.errors,
            ..Counts::default()
        };
        Run {
            log,
            counts,
            since: counts,
        }
    }

    /// Records that the run was stopped before its end: when, what was in
    /// progress (`details`), and what decoding had done.
    pub(crate) fn note_interrupted(
        &mut self,
        during: &str,
        mut details: Value,
        decoded: Option<&DecodeTally>,
    ) -> io::Result<()> {
        details["during"] = json!(during);
        // The core only sees its cancel flag; exhibit's command line sets it
        // on SIGINT, SIGTERM and SIGHUP alike, without saying which.
        details["signal"] = Value::Null;
        details["cause"] = json!("a stop was requested (the cancel flag was set)");
        if let Some(d) = decoded {
            details["decoding"] = json!({
                "jobs_run": d.jobs,
                "jobs_not_run": d.not_run,
                "in_progress": d.interrupted,
            });
        }
        self.note(action::RUN_INTERRUPTED, details)
    }

    /// Runs the body of an extraction (a new one, or `resume`'s
    /// continuation) and closes it with `run_finished`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_to_end(
        mut self,
        plugins: &PluginHost,
        opts: &ExtractOptions,
        evidence: &Evidence,
        case: &CaseFolder,
        observer: &dyn Observer,
        started: Instant,
        resume: Option<&crate::resume::Resume>,
    ) -> Result<ExtractSummary, ExtractError> {
        let log_path = self.log.path().to_owned();
        let custody_err = |source| ExtractError::Custody {
            path: log_path.clone(),
            source,
        };
        let result = self.extract(plugins, opts, evidence, case, observer, started, resume);
        let Ended {
            plugin,
            outcome,
            evidence_sha256,
            decoded,
            evidence_changes,
        } = result.map_err(custody_err)?;
        let (c, since) = (self.counts, self.since);
        let chain_before = self.log.chain_hash().to_owned();
        let mut details = json!({
            "outcome": outcome,
            "files": c.files,
            "bytes": c.bytes,
            "entries_recorded": c.entries,
            "warnings": c.warnings,
            "errors": c.errors,
            "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "chain_sha256": chain_before,
        });
        if resume.is_some() {
            details["run"] = json!("resume");
            details["files_confirmed"] = json!(c.confirmed);
        }
        if !evidence_changes.is_empty() {
            details["evidence_changed"] = json!(evidence_changes);
        }
        self.log
            .append(action::RUN_FINISHED, details)
            .map_err(custody_err)?;
        Ok(ExtractSummary {
            case_dir: case.root().to_owned(),
            plugin,
            outcome,
            files: c.files - since.files,
            files_confirmed: c.confirmed,
            bytes: c.bytes,
            entries_recorded: c.entries,
            warnings: c.warnings - since.warnings,
            errors: c.errors - since.errors,
            evidence_sha256,
            evidence_changes,
            decoded,
            resumed: resume.is_some(),
            chain_hash: self.log.chain_hash().to_owned(),
            log_entries: self.log.len(),
            duration: started.elapsed(),
        })
    }

    #[allow(clippy::too_many_lines, clippy::too_many_arguments)]
    fn extract(
        &mut self,
        plugins: &PluginHost,
        opts: &ExtractOptions,
        evidence: &Evidence,
        case: &CaseFolder,
        observer: &dyn Observer,
        started: Instant,
        resume: Option<&crate::resume::Resume>,
    ) -> io::Result<Ended> {
        match resume {
            None => self.note(action::CASE_OPENED, case_opened(opts, case))?,
            Some(r) => {
                self.note(action::RUN_RESUMED, r.details.clone())?;
                if let Some(torn) = &r.torn {
                    let message = format!(
                        "custody log line {} was cut short when the earlier run stopped ({} bytes, sha256 {}); it was removed from the log and its bytes are kept in the run_resumed entry",
                        torn.line, torn.bytes, torn.sha256
                    );
                    observer.problem(false, &message);
                    self.note(
                        action::WARNING,
                        json!({"message": message, "torn_line": torn.line}),
                    )?;
                }
                if let Some(message) = &r.plugin_changed {
                    observer.problem(false, message);
                    self.note(action::WARNING, json!({"message": message}))?;
                }
            }
        }
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
        if let Some(r) = resume {
            let now = evidence.describe();
            let size_differs = r.evidence_size.is_some_and(|s| now["size"] != json!(s));
            let mtime_differs = r
                .evidence_mtime
                .as_ref()
                .is_some_and(|m| now["mtime"] != json!(m));
            if size_differs || mtime_differs {
                let message = format!(
                    "the evidence's size or modification time differs from when the case was started (then {} bytes, modified {}; now {} bytes, modified {})",
                    r.evidence_size.map_or("?".to_owned(), |s| s.to_string()),
                    r.evidence_mtime.as_deref().unwrap_or("?"),
                    now["size"],
                    now["mtime"].as_str().unwrap_or("?")
                );
                observer.problem(false, &message);
                self.note(action::WARNING, json!({"message": message}))?;
            }
        }
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
            return Ok(Ended::failed(None));
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

        if let Ok(free) = fs4::available_space(case.root()) {
            let needed = evidence.size().saturating_add(opts.min_free);
            if needed > free {
                let message = format!(
                    "the case disk has {free} bytes free; this dump needs at least {} bytes plus the reserve of {} bytes: nothing was extracted",
                    evidence.size(),
                    opts.min_free
                );
                self.error(
                    message,
                    json!({"needed": evidence.size(), "free": free, "reserve": opts.min_free}),
                )?;
                return Ok(Ended::failed(Some(plugin.info().name.clone())));
            }
        }
        let threads = match opts.threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1)),
            n => n,
        };
        let setup = HostSetup {
            evidence,
            case,
            hashes: &opts.hashes,
            plugin: &plugin.info().name,
            random_access: plugin.info().random_access,
            threads,
            min_free: opts.min_free,
            cancel: opts.cancel.clone(),
            password: opts.password.clone(),
            isolation: opts.isolation.as_ref(),
            resume: resume.map(|r| r.files.clone()),
        };
        let host = ExtractHost::new(self, &setup, observer)?;
        let plugin_started = Instant::now();
        let status = host.run(plugin);
        // Cheap (metadata only for a file): a change while the plugin read
        // the evidence is reported before the rest of the run builds on it.
        let early_changes = evidence.changes()?;
        let ClosedHost {
            evidence_digests,
            evidence_bytes,
            host_read,
            manifest_files,
            concurrent,
            out_of_space,
            evidence_complete,
            interrupted_entries,
            segment_digests,
        } = host.close()?;
        // The host stops a plugin that would overfill the disk through the
        // cancel flag; that is a failure, not the examiner's interruption.
        let cancelled =
            !out_of_space && (opts.cancel.load(Ordering::Relaxed) || status == Status::CANCELLED);
        self.note(
            action::PLUGIN_FINISHED,
            json!({
                "plugin": plugin.info().name,
                "status": status.name(),
                "isolated": opts.isolation.as_ref().is_some_and(|i| i.formats),
                "duration_ms": u64::try_from(plugin_started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        )?;
        let failed =
            out_of_space || !matches!(status, Status::OK | Status::CORRUPT | Status::CANCELLED);
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
        if !early_changes.is_empty() {
            self.note(
                action::EVIDENCE_CHECKED,
                json!({"when": "plugin_finished", "unchanged": false, "changes": early_changes}),
            )?;
            let message = format!(
                "the evidence {} CHANGED while the plugin was reading it: {}; the extraction cannot be relied on",
                evidence.path().display(),
                early_changes.join("; ")
            );
            observer.problem(true, &message);
            self.error(message, json!({"changes": early_changes}))?;
        }
        if cancelled {
            let mut read = json!({"bytes": evidence_bytes, "size": evidence.size()});
            match evidence.kind() {
                EvidenceKind::File if !concurrent && !evidence_complete => {
                    read["hashes_of_bytes_read"] = json!(evidence_digests);
                }
                EvidenceKind::Folder => read["files"] = json!(manifest_files),
                EvidenceKind::File => {}
            }
            self.note_interrupted(
                "extraction",
                json!({
                    "plugin": plugin.info().name,
                    "in_progress": interrupted_entries,
                    "evidence_read": read,
                }),
                None,
            )?;
        }
        if let Some(r) = resume {
            for path in r.files.unclaimed() {
                let message = format!(
                    "{path} was left by the earlier run without a custody entry and was not delivered again; it is not part of the case"
                );
                observer.problem(false, &message);
                self.note(action::WARNING, json!({"path": path, "message": message}))?;
            }
        }

        let evidence_sha256 = evidence_digests
            .get("sha256")
            .cloned()
            .filter(|_| evidence_complete);
        let mut hashed = json!({
            "hashes": evidence_digests,
            "bytes": evidence_bytes,
        });
        match evidence.kind() {
            EvidenceKind::File if concurrent => {
                hashed["method"] = json!(
                    "read front to back and hashed by the host on a thread of its own, concurrently with the plugin's random-access reads"
                );
            }
            EvidenceKind::File => {
                hashed["method"] = json!("hashed from the plugin's own reads, in offset order");
                hashed["read_by_plugin"] = json!(evidence_bytes - host_read);
                hashed["read_by_host"] = json!(host_read);
            }
            EvidenceKind::Folder => {
                hashed["files"] = json!(manifest_files);
                hashed["method"] = json!(
                    "sha256 of the manifest: one line '<sha256>  <relative path>\\n' per file read, sorted by path"
                );
            }
        }
        if !segment_digests.is_empty() {
            hashed["segments"] = evidence
                .segments()
                .zip(&segment_digests)
                .map(|((path, size), hashes)| {
                    json!({"path": path.to_string_lossy(), "size": size, "hashes": hashes})
                })
                .collect();
        }
        if !evidence_complete {
            // Interrupted: the evidence was not read to its end, so it has no
            // digest; run_interrupted says how far it was read.
        } else if let (Some(expected), Some(actual)) = (&opts.evidence_sha256, &evidence_sha256) {
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
        let mut not_the_same = None;
        if let (Some(r), Some(now)) = (resume, &evidence_sha256)
            && let Some(before) = r
                .evidence_sha256
                .as_ref()
                .filter(|b| !b.eq_ignore_ascii_case(now))
        {
            not_the_same = Some(format!(
                "its SHA-256 is {now}, the run being resumed recorded {before}"
            ));
            self.error(
                format!(
                    "the evidence's SHA-256 is now {now} but the run being resumed recorded {before}: this is not the evidence the case was started from"
                ),
                json!({"expected": before, "actual": now}),
            )?;
        }

        // Decoding reads only the case; the evidence is re-checked after it,
        // so the check covers the whole run.
        let decoded = if opts.decode && !cancelled && !out_of_space && self.counts.files > 0 {
            let decode_opts = DecodeOptions {
                hashes: opts.hashes.clone(),
                cancel: opts.cancel.clone(),
                password: opts.password.clone(),
                isolation: opts.isolation.clone(),
            };
            Some(crate::decode::decode_case(
                self,
                plugins,
                case,
                &decode_opts,
                observer,
            )?)
        } else {
            None
        };
        let cancelled_in_decoding =
            !cancelled && !out_of_space && opts.cancel.load(Ordering::Relaxed);
        if cancelled_in_decoding {
            self.note_interrupted("decoding", json!({}), decoded.as_ref())?;
        }
        let cancelled = cancelled || cancelled_in_decoding;

        let changes = evidence.changes()?;
        let mut checked =
            json!({"when": "end", "unchanged": changes.is_empty(), "changes": changes});
        if opts.rehash_evidence && evidence.kind() == EvidenceKind::File && evidence_complete {
            let (digests, _) = evidence.rehash(&[HashAlgorithm::Sha256])?;
            let same = digests.get("sha256") == evidence_sha256.as_ref();
            checked["rehash_sha256"] = json!(digests.get("sha256"));
            checked["rehash_matches"] = json!(same);
            if !same {
                checked["unchanged"] = json!(false);
            }
        }
        let unchanged = checked["unchanged"] == json!(true);
        let rehash_differs = checked["rehash_matches"] == json!(false);
        self.note(action::EVIDENCE_CHECKED, checked)?;
        // One error per change seen: the plugin-finished check may already
        // have reported this one.
        if (!unchanged && changes != early_changes) || rehash_differs {
            let mut what = changes.clone();
            if rehash_differs {
                what.push("its SHA-256 read again at the end differs".to_owned());
            }
            let message = format!(
                "the evidence {} CHANGED during the run: {}; the extraction cannot be relied on",
                evidence.path().display(),
                what.join("; ")
            );
            observer.problem(true, &message);
            self.error(message, json!({"changes": what}))?;
        }
        let mut evidence_changes = early_changes;
        for change in changes {
            if !evidence_changes.contains(&change) {
                evidence_changes.push(change);
            }
        }
        if rehash_differs {
            evidence_changes.push("its SHA-256 read again at the end differs".to_owned());
        }
        evidence_changes.extend(not_the_same);
        tracing::debug!(elapsed = ?started.elapsed(), "extraction finished");
        let (errors, warnings) = (
            self.counts.errors - self.since.errors,
            self.counts.warnings - self.since.warnings,
        );
        let outcome = if cancelled {
            Outcome::Interrupted
        } else if failed || !evidence_changes.is_empty() {
            // Files read from evidence that changed under the plugin are not
            // a record of any one state of it.
            Outcome::Failed
        } else if errors > 0 || warnings > 0 {
            Outcome::CompletedWithErrors
        } else {
            Outcome::Clean
        };
        Ok(Ended {
            plugin: Some(plugin.info().name.clone()),
            outcome,
            evidence_sha256,
            decoded,
            evidence_changes,
        })
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
