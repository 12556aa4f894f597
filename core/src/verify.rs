//! `exhibit verify`: re-checks a case folder against its custody log.
//!
//! The chain is walked line by line: each line must parse, carry the next
//! sequence number and hold the SHA-256 of the line before it; the last
//! entry must be `run_finished` (otherwise the run is incomplete), and its
//! outcome must not be `interrupted`. Then every
//! file the log lists is hashed again (in parallel) and compared, and every
//! file in the folder that the log does not list is named. Nothing is
//! written.
//!
//! Limit: an edit of the last line leaves no later line to expose it; its
//! counts are cross-checked, and `--expect HASH` (the chain hash `extract`
//! printed) closes that gap.

use crate::custody::{GENESIS, LOG_FILE, action, read_log};
use crate::hash::{Digests, HashAlgorithm};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// There is no custody log.
    LogMissing {
        /// Where it should be.
        path: String,
    },
    /// A line is not a valid entry.
    LineUnreadable {
        /// 1-based line number.
        line: u64,
        /// The parse error.
        error: String,
    },
    /// A line's bytes are not what the next line's `prev` says: that line
    /// (or the next line's `prev`) was edited.
    LineEdited {
        /// 1-based line number of the edited line.
        line: u64,
        /// Its sequence number.
        seq: Option<u64>,
    },
    /// Sequence numbers jump: entries are missing here.
    EntriesMissing {
        /// 1-based line number where the gap shows.
        line: u64,
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// A line holds an entry that belongs earlier.
    OutOfOrder {
        /// 1-based line number.
        line: u64,
        /// The sequence number found.
        found: u64,
        /// The sequence number expected.
        expected: u64,
    },
    /// The log does not end with `run_finished`.
    Incomplete {
        /// Entries present.
        entries: u64,
        /// The last action present.
        last_action: Option<String>,
    },
    /// The last run ended with `run_interrupted` (Ctrl-C, SIGTERM): the log
    /// is whole but the extraction (or decoding) is not.
    Interrupted {
        /// What was running: `extraction` or `decoding`.
        during: String,
        /// Case paths of the files that were being written.
        in_progress: Vec<String>,
    },
    /// A file is in the folder but not in the log of a run that did not
    /// finish: most likely the entry it was writing when it stopped.
    FileUnlogged {
        /// Case-relative path.
        path: String,
    },
    /// The last line has no newline (a torn write).
    TornLine {
        /// 1-based line number.
        line: u64,
    },
    /// `run_finished` disagrees with the entries before it.
    CountMismatch {
        /// What it counts.
        what: String,
        /// What `run_finished` says.
        recorded: u64,
        /// What the log holds.
        found: u64,
    },
    /// The chain does not end in the expected hash.
    ChainMismatch {
        /// The hash given with `--expect`.
        expected: String,
        /// The log's actual final hash.
        actual: String,
    },
    /// A file's digest differs from the log's.
    FileChanged {
        /// Case-relative path.
        path: String,
        /// The algorithm.
        algorithm: String,
        /// Digest in the log.
        expected: String,
        /// Digest now.
        actual: String,
    },
    /// A logged file is gone.
    FileMissing {
        /// Case-relative path.
        path: String,
    },
    /// A file is in the folder but not in the log.
    FileExtra {
        /// Case-relative path.
        path: String,
    },
    /// A logged file cannot be read.
    FileUnreadable {
        /// Case-relative path.
        path: String,
        /// The OS error.
        error: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::LogMissing { path } => write!(f, "no custody log at {path}"),
            Problem::LineUnreadable { line, error } => {
                write!(f, "log line {line} is not a valid entry: {error}")
            }
            Problem::LineEdited { line, seq } => match seq {
                Some(seq) => write!(
                    f,
                    "log line {line} (entry {seq}) was edited: it no longer hashes to the value the next line records"
                ),
                None => write!(f, "log line {line} was edited"),
            },
            Problem::EntriesMissing { line, from, to } if from == to => write!(
                f,
                "log entry {from} is missing before line {line} (removed, or moved later)"
            ),
            Problem::EntriesMissing { line, from, to } => write!(
                f,
                "log entries {from}–{to} are missing before line {line} (removed, or moved later)"
            ),
            Problem::OutOfOrder {
                line,
                found,
                expected,
            } => write!(
                f,
                "log line {line} holds entry {found} where entry {expected} belongs (entries reordered or duplicated)"
            ),
            Problem::Incomplete {
                entries,
                last_action,
            } => write!(
                f,
                "the run is incomplete: the log has {entries} entries and ends with {} instead of run_finished (interrupted or truncated)",
                last_action.as_deref().unwrap_or("nothing")
            ),
            Problem::Interrupted {
                during,
                in_progress,
            } => {
                write!(f, "the run was interrupted during {during}")?;
                if !in_progress.is_empty() {
                    write!(f, " while writing {}", in_progress.join(", "))?;
                }
                write!(f, ": the case is incomplete")
            }
            Problem::FileUnlogged { path } => write!(
                f,
                "{path} is not in the custody log: the run stopped before recording it (most likely the entry it was writing)"
            ),
            Problem::TornLine { line } => {
                write!(f, "log line {line} has no newline: a write was cut short")
            }
            Problem::CountMismatch {
                what,
                recorded,
                found,
            } => write!(
                f,
                "run_finished records {recorded} {what} but the log holds {found}"
            ),
            Problem::ChainMismatch { expected, actual } => write!(
                f,
                "the chain ends in {actual}, not the expected {expected}: the log was rewritten or is not the one anchored"
            ),
            Problem::FileChanged {
                path,
                algorithm,
                expected,
                actual,
            } => write!(
                f,
                "{path} changed: {algorithm} is {actual}, the log records {expected}"
            ),
            Problem::FileMissing { path } => write!(f, "{path} is missing"),
            Problem::FileExtra { path } => {
                write!(f, "{path} is not in the custody log (added after the run)")
            }
            Problem::FileUnreadable { path, error } => write!(f, "{path} cannot be read: {error}"),
        }
    }
}

/// Where in the log the expected chain hash was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AnchorAt {
    /// Number (`seq`) of the entry whose line hashes to the expected hash.
    pub entry: u64,
    /// Entries after it.
    pub appended: u64,
}

/// The result of verifying a case.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The case folder.
    pub case_dir: PathBuf,
    /// Entries in the log.
    pub entries: u64,
    /// Files whose digests were recomputed.
    pub files_checked: u64,
    /// Of those, how many matched.
    pub files_intact: u64,
    /// True when the log ends with `run_finished`.
    pub complete: bool,
    /// True when that `run_finished` says the run was interrupted.
    pub interrupted: bool,
    /// Files the log records as delivered whole whose digests match, in
    /// path order.
    pub intact_files: Vec<String>,
    /// Files the log records as incomplete (cut short by damage or by the
    /// interruption) whose digests match what was written of them.
    pub partial_files: Vec<String>,
    /// SHA-256 of the log's last line.
    pub chain_hash: Option<String>,
    /// When `--expect` named the hash of an earlier entry, not the last:
    /// that entry's number and how many entries later runs (a decoding, a
    /// report) appended after it. The anchored prefix is unchanged, and
    /// what came after is in the log for anyone to read.
    pub anchored_at: Option<AnchorAt>,
    /// Everything that does not hold, in log order then path order.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when everything holds.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// True when the run did not finish and every problem is one that an
    /// interruption, a `kill -9` or a power loss leaves behind: the chain is
    /// whole up to where it stops and every logged file is intact, so
    /// `exhibit extract --resume` can continue it.
    pub fn only_incomplete(&self) -> bool {
        (!self.complete || self.interrupted)
            && self.problems.iter().all(|p| {
                matches!(
                    p,
                    Problem::Incomplete { .. }
                        | Problem::Interrupted { .. }
                        | Problem::TornLine { .. }
                        | Problem::FileUnlogged { .. }
                )
            })
    }
}

/// Verifies the case folder `case_dir`; `expect` is the chain hash recorded
/// at extraction, when the examiner kept it.
pub fn verify(case_dir: &Path, expect: Option<&str>) -> std::io::Result<VerifyReport> {
    let log_path = case_dir.join(LOG_FILE);
    let mut report = VerifyReport {
        case_dir: case_dir.to_owned(),
        entries: 0,
        files_checked: 0,
        files_intact: 0,
        complete: false,
        interrupted: false,
        intact_files: Vec::new(),
        partial_files: Vec::new(),
        chain_hash: None,
        anchored_at: None,
        problems: Vec::new(),
    };
    if !log_path.is_file() {
        report.problems.push(Problem::LogMissing {
            path: log_path.to_string_lossy().into_owned(),
        });
        return Ok(report);
    }
    let mut expected_files: BTreeMap<String, Digests> = BTreeMap::new();
    let mut partial: BTreeSet<String> = BTreeSet::new();
    // The last run's interruption, and the last extraction's: an extraction
    // stopped by Ctrl-C stays unfinished after an `exhibit decode`, until
    // `extract --resume` finishes it.
    let mut interruption: Option<serde_json::Value> = None;
    let mut extraction_interrupted: Option<serde_json::Value> = None;
    let mut decode_run = false;
    let (mut prev_hash, mut expected_seq) = (GENESIS.to_owned(), 0u64);
    let mut prev_line: Option<(u64, Option<u64>)> = None;
    let mut last_action = None;
    let mut finished: Option<serde_json::Value> = None;
    let (mut file_entries, mut warnings, mut errors) = (0u64, 0u64, 0u64);
    // The entry whose line is the expected hash, while the chain up to it
    // is whole: an anchor taken at extraction still holds after a later
    // decoding or report appended to the log.
    let mut anchor: Option<u64> = None;
    for line in read_log(&log_path)? {
        let line = line?;
        report.entries += 1;
        if let Some(expected) = expect
            && anchor.is_none()
            && report.problems.is_empty()
            && expected.eq_ignore_ascii_case(&line.hash)
            && line.terminated
        {
            anchor = Some(report.entries - 1);
        }
        if !line.terminated {
            report
                .problems
                .push(Problem::TornLine { line: line.line_no });
        }
        let entry = match line.entry {
            Ok(entry) => entry,
            Err(error) => {
                // A torn last line does not parse either; TornLine says it.
                if line.terminated {
                    report.problems.push(Problem::LineUnreadable {
                        line: line.line_no,
                        error,
                    });
                }
                prev_hash = line.hash;
                prev_line = Some((line.line_no, None));
                expected_seq += 1;
                last_action = None;
                continue;
            }
        };
        if entry.seq > expected_seq {
            report.problems.push(Problem::EntriesMissing {
                line: line.line_no,
                from: expected_seq,
                to: entry.seq - 1,
            });
        } else if entry.seq < expected_seq {
            report.problems.push(Problem::OutOfOrder {
                line: line.line_no,
                found: entry.seq,
                expected: expected_seq,
            });
        } else if entry.prev != prev_hash {
            let (edited, seq) = prev_line.unwrap_or((line.line_no, Some(entry.seq)));
            report
                .problems
                .push(Problem::LineEdited { line: edited, seq });
        }
        match entry.action.as_str() {
            action::FILE_EXTRACTED | action::ARTIFACT_WRITTEN | action::REPORT_WRITTEN => {
                if entry.action == action::FILE_EXTRACTED {
                    file_entries += 1;
                }
                let path = entry.details["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let digests: Digests =
                    serde_json::from_value(entry.details["hashes"].clone()).unwrap_or_default();
                if entry.action == action::FILE_EXTRACTED && entry.details["complete"] == false {
                    partial.insert(path.clone());
                } else {
                    partial.remove(&path);
                }
                expected_files.insert(path, digests);
            }
            action::WARNING | action::PLUGIN_REFUSED => warnings += 1,
            action::ERROR => errors += 1,
            action::RUN_INTERRUPTED => {
                interruption = Some(entry.details.clone());
                if !decode_run {
                    extraction_interrupted = interruption.clone();
                }
            }
            action::CASE_OPENED | action::RUN_RESUMED => {
                (interruption, extraction_interrupted, decode_run) = (None, None, false);
            }
            action::CASE_REOPENED => (interruption, decode_run) = (None, true),
            action::RUN_FINISHED => finished = Some(entry.details.clone()),
            _ => {}
        }
        expected_seq = entry.seq.max(expected_seq) + 1;
        prev_hash = line.hash;
        prev_line = Some((line.line_no, Some(entry.seq)));
        last_action = Some(entry.action);
    }
    report.chain_hash = (report.entries > 0).then(|| prev_hash.clone());
    report.complete = last_action.as_deref() == Some(action::RUN_FINISHED);
    if !report.complete {
        report.problems.push(Problem::Incomplete {
            entries: report.entries,
            last_action: last_action.clone(),
        });
    }
    let last_run_interrupted = finished
        .as_ref()
        .is_some_and(|f| f["outcome"] == "interrupted");
    let stopped = match (last_run_interrupted, extraction_interrupted) {
        (true, _) => Some(interruption.unwrap_or_default()),
        (false, earlier) => earlier,
    };
    if let Some(details) = stopped.filter(|_| report.complete) {
        report.interrupted = true;
        let in_progress = details["in_progress"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["path"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        report.problems.push(Problem::Interrupted {
            during: details["during"]
                .as_str()
                .unwrap_or(if finished.as_ref().is_some_and(|f| f["run"] == "decode") {
                    "decoding"
                } else {
                    "extraction"
                })
                .to_owned(),
            in_progress,
        });
    }
    if let Some(done) = &finished {
        for (what, found) in [
            ("files", file_entries),
            ("warnings", warnings),
            ("errors", errors),
        ] {
            let recorded = done[what].as_u64().unwrap_or(u64::MAX);
            if recorded != found {
                report.problems.push(Problem::CountMismatch {
                    what: what.to_owned(),
                    recorded,
                    found,
                });
            }
        }
    }
    if let (Some(expected), Some(actual)) = (expect, &report.chain_hash)
        && !expected.eq_ignore_ascii_case(actual)
    {
        match anchor {
            Some(line_index) => {
                report.anchored_at = Some(AnchorAt {
                    entry: line_index,
                    appended: report.entries - 1 - line_index,
                })
            }
            None => report.problems.push(Problem::ChainMismatch {
                expected: expected.to_owned(),
                actual: actual.clone(),
            }),
        }
    }
    check_files(case_dir, &expected_files, &partial, &mut report)?;
    Ok(report)
}

fn check_files(
    case_dir: &Path,
    expected: &BTreeMap<String, Digests>,
    partial: &BTreeSet<String>,
    report: &mut VerifyReport,
) -> std::io::Result<()> {
    let results: Vec<(String, Result<Digests, String>)> = expected
        .par_iter()
        .map(|(path, digests)| {
            let algorithms: Vec<HashAlgorithm> =
                digests.keys().filter_map(|a| a.parse().ok()).collect();
            let full = case_dir.join(path);
            let result = match std::fs::symlink_metadata(&full) {
                Ok(md) if md.is_file() => std::fs::File::open(&full)
                    .and_then(|mut f| crate::hash::hash_reader(&mut f, &algorithms))
                    .map(|(d, _)| d)
                    .map_err(|e| e.to_string()),
                Ok(_) => Err("not a regular file".to_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(String::new()),
                Err(e) => Err(e.to_string()),
            };
            (path.clone(), result)
        })
        .collect();
    for (path, result) in results {
        match result {
            Ok(actual) => {
                report.files_checked += 1;
                let mut intact = true;
                for (algorithm, want) in &expected[&path] {
                    let got = actual.get(algorithm).cloned().unwrap_or_default();
                    if !got.eq_ignore_ascii_case(want) {
                        intact = false;
                        report.problems.push(Problem::FileChanged {
                            path: path.clone(),
                            algorithm: algorithm.clone(),
                            expected: want.clone(),
                            actual: got,
                        });
                    }
                }
                report.files_intact += u64::from(intact);
                if intact && path.starts_with("files/") {
                    if partial.contains(&path) {
                        report.partial_files.push(path);
                    } else {
                        report.intact_files.push(path);
                    }
                }
            }
            Err(error) if error.is_empty() => report.problems.push(Problem::FileMissing { path }),
            Err(error) => report
                .problems
                .push(Problem::FileUnreadable { path, error }),
        }
    }
    for entry in walkdir::WalkDir::new(case_dir).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(case_dir)
            .map_err(std::io::Error::other)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if rel != LOG_FILE && !expected.contains_key(&rel) {
            if report.complete && !report.interrupted {
                report.problems.push(Problem::FileExtra { path: rel });
            } else {
                report.problems.push(Problem::FileUnlogged { path: rel });
            }
        }
    }
    Ok(())
}
