//! One extraction run: evidence in, case folder out, every step in the
//! custody log.
//!
//! [`extract`] opens the case and the log, records the plugins and the
//! evidence, picks a format plugin, runs it with an [`ExtractHost`] (the
//! core's implementation of the plugin ABI's host services), and closes the
//! run with the evidence's digests, its re-check and the totals. The host
//! writes every delivered file under its sanitised path while hashing it:
//! each byte is hashed as it is written, never by reading the file back.

use crate::case::{CaseError, CaseFolder};
use crate::custody::{CustodyLog, LOG_FILE, action};
use crate::decode::{DecodeOptions, DecodeTally};
use crate::evidence::{Evidence, EvidenceKind};
use crate::hash::HashAlgorithm;
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
    let mut run = Run {
        log,
        counts: Counts::default(),
    };
    let result = run.extract(plugins, opts, &evidence, &case, observer, started);
    let custody_err = |source| ExtractError::Custody {
        path: log_path.clone(),
        source,
    };
    let Ended {
        plugin,
        outcome,
        evidence_sha256,
        decoded,
    } = result.map_err(custody_err)?;
    let c = run.counts;
    let chain_before = run.log.chain_hash().to_owned();
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
        decoded,
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

/// Tallies of one run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub files: u64,
    pub bytes: u64,
    pub entries: u64,
    pub warnings: u64,
    pub errors: u64,
}

/// How the body of a run ended, for its `run_finished` entry and summary.
struct Ended {
    plugin: Option<String>,
    outcome: Outcome,
    evidence_sha256: Option<String>,
    decoded: Option<DecodeTally>,
}

impl Ended {
    fn failed(plugin: Option<String>) -> Ended {
        Ended {
            plugin,
            outcome: Outcome::Failed,
            evidence_sha256: None,
            decoded: None,
        }
    }
}

/// The log and the tallies of one run.
pub(crate) struct Run {
    log: CustodyLog,
    pub counts: Counts,
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
    };
    let before = run.counts;
    let result = (|| -> io::Result<DecodeTally> {
        run.note(
            action::CASE_REOPENED,
            json!({
                "purpose": "decode",
                "examiner": examiner,
                "tool": "exhibit",
                "tool_version": env!("CARGO_PKG_VERSION"),
                "host": gethostname::gethostname().to_string_lossy(),
                "command_line": command_line,
                "previous_last_action": tally.last_action,
            }),
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

    #[allow(clippy::too_many_lines)]
    fn extract(
        &mut self,
        plugins: &PluginHost,
        opts: &ExtractOptions,
        evidence: &Evidence,
        case: &CaseFolder,
        observer: &dyn Observer,
        started: Instant,
    ) -> io::Result<Ended> {
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
        };
        let host = ExtractHost::new(self, &setup, observer)?;
        let plugin_started = Instant::now();
        let status = host.run(plugin);
        let ClosedHost {
            evidence_digests,
            evidence_bytes,
            host_read,
            manifest_files,
            concurrent,
            out_of_space,
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

        let evidence_sha256 = evidence_digests.get("sha256").cloned();
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
        let cancelled = cancelled || (!out_of_space && opts.cancel.load(Ordering::Relaxed));

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
        Ok(Ended {
            plugin: Some(plugin.info().name.clone()),
            outcome,
            evidence_sha256,
            decoded,
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
