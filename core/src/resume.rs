//! `exhibit extract --resume CASE`: continues, in the same case folder, an
//! extraction that was interrupted (Ctrl-C, SIGTERM), killed (`kill -9`) or
//! cut by a power loss.
//!
//! Policy:
//! - Everything the continuation needs comes from the case's custody log:
//!   the evidence, the format plugin, the digest algorithms and the settings
//!   of the first run. The log's chain must be whole. The one exception is a
//!   last line cut short by a crash: no later line vouches for it, so it is
//!   removed from the file, and its bytes are kept in the `run_resumed`
//!   entry, with a warning; it is never dropped silently.
//! - The plugin runs over the whole evidence again, so every evidence byte
//!   is read and hashed again; if the first run got as far as hashing the
//!   evidence, the two digests must agree.
//! - A file the log holds as complete and whose bytes on disk still hash to
//!   the log is not rewritten: the bytes delivered for it are hashed and
//!   compared instead (`file_confirmed`), and a difference is an error.
//!   Every other file is written again at the path it had, from the start.
//! - Paths are given out in the order the first run gave them (a duplicate
//!   name keeps its ` (2)`), which holds when the plugin delivers entries in
//!   the same order: sequential formats do. A path the log gives to another
//!   name is never taken over.

use crate::case::{CaseFolder, FILES_DIR};
use crate::custody::{GENESIS, LOG_FILE, action, read_log};
use crate::decode::SCRATCH_DIR;
use crate::evidence::{Evidence, open_read_only};
use crate::extract::{ExtractError, ExtractOptions, ExtractSummary, Observer, Run};
use crate::hash::{Digests, HashAlgorithm, hash_reader};
use crate::plugin::{PluginHost, PluginKind};
use exhibit_plugin_sdk::RawBytes;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why a case cannot be resumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The custody log cannot be read.
    #[error("cannot read the custody log of {case}: {source}")]
    Log {
        /// The case folder.
        case: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The chain is broken somewhere other than a torn last line.
    #[error(
        "the custody log of {case} is broken at line {line} ({why}); run `exhibit verify` on it: a broken log is never continued"
    )]
    Broken {
        /// The case folder.
        case: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong there.
        why: String,
    },
    /// The log does not say what to resume.
    #[error("the custody log of {case} does not record {what}: there is no extraction to resume")]
    Missing {
        /// The case folder.
        case: PathBuf,
        /// The entry that is missing.
        what: &'static str,
    },
    /// The extraction already finished.
    #[error(
        "the extraction in {case} already finished ({outcome}); there is nothing to resume (`exhibit decode` runs the decoders again)"
    )]
    Finished {
        /// The case folder.
        case: PathBuf,
        /// Its outcome.
        outcome: String,
    },
}

/// What the custody log of an unfinished case says about its extraction.
#[derive(Debug, Clone)]
pub struct ResumePlan {
    /// The case folder (canonical).
    pub case_dir: PathBuf,
    /// The evidence, as `evidence_opened` recorded it.
    pub evidence: PathBuf,
    /// The format plugin the first run chose.
    pub plugin: String,
    /// The SHA-256 of that plugin's library when the case was started.
    pub plugin_sha256: Option<String>,
    /// The digest algorithms of the first run.
    pub hashes: Vec<HashAlgorithm>,
    /// The acquisition hash the first run was given.
    pub acquisition_sha256: Option<String>,
    /// The evidence's SHA-256, if a run got as far as hashing it.
    pub evidence_sha256: Option<String>,
    /// The evidence's size and mtime at the first run's `evidence_opened`.
    pub evidence_size: Option<u64>,
    /// Its mtime then (RFC 3339).
    pub evidence_mtime: Option<String>,
    /// Examiner, agency and case number of the first run.
    pub examiner: Option<String>,
    /// The examiner's organisation.
    pub agency: Option<String>,
    /// The case or exhibit reference.
    pub case_number: Option<String>,
    /// The settings the first run recorded.
    pub settings: Value,
    /// `--rehash-evidence` of the first run.
    pub rehash_evidence: bool,
    /// `--threads` of the first run.
    pub threads: u32,
    /// `--min-free` of the first run.
    pub min_free: Option<u64>,
    /// Whether the first run decoded after extracting.
    pub decode: bool,
    /// How the last run ended, when it got to `run_finished` (`interrupted`,
    /// `failed`); `None` when it was killed before.
    pub previous_outcome: Option<String>,
    /// The action of the last complete entry.
    pub last_action: Option<String>,
    /// 1-based number of a torn last line, which resuming removes.
    pub torn_line: Option<u64>,
    /// The last `file_extracted` entry of each case path.
    files: BTreeMap<String, Logged>,
}

impl ResumePlan {
    /// Files the log holds, and how many of them complete.
    pub fn logged_files(&self) -> (usize, usize) {
        let complete = self.files.values().filter(|f| f.complete).count();
        (self.files.len(), complete)
    }
}

/// A file as the log last recorded it.
#[derive(Debug, Clone)]
struct Logged {
    /// The original name, as the log spells it.
    name: Value,
    digests: Digests,
    complete: bool,
}

/// Reads the custody log of `case_dir` and works out what resuming it
/// means. Writes nothing.
pub fn plan(case_dir: &Path) -> Result<ResumePlan, ResumeError> {
    let case_dir = std::fs::canonicalize(case_dir).map_err(|source| ResumeError::Log {
        case: case_dir.to_owned(),
        source,
    })?;
    let log_err = |source| ResumeError::Log {
        case: case_dir.clone(),
        source,
    };
    let broken = |line, why: &str| ResumeError::Broken {
        case: case_dir.clone(),
        line,
        why: why.to_owned(),
    };
    let (mut opened, mut evidence, mut selected) = (None, None, None);
    let mut loaded: BTreeMap<String, String> = BTreeMap::new();
    let (mut evidence_sha256, mut finished): (Option<String>, Option<String>) = (None, None);
    let mut files = BTreeMap::new();
    let (mut next_seq, mut prev) = (0u64, GENESIS.to_owned());
    let (mut last_action, mut torn_line) = (None, None);
    for line in read_log(&case_dir.join(LOG_FILE)).map_err(log_err)? {
        let line = line.map_err(log_err)?;
        if !line.terminated {
            torn_line = Some(line.line_no);
            break;
        }
        let entry = line
            .entry
            .map_err(|e| broken(line.line_no, &format!("not a custody entry: {e}")))?;
        if entry.seq != next_seq || entry.prev != prev {
            return Err(broken(line.line_no, "it does not follow the line before"));
        }
        next_seq += 1;
        prev = line.hash;
        let d = entry.details;
        match entry.action.as_str() {
            action::CASE_OPENED => {
                opened = Some(d);
                finished = None;
            }
            action::EVIDENCE_OPENED => evidence = Some(d),
            action::PLUGIN_SELECTED => selected = Some(d),
            // The first library loaded under a name is the one the case was
            // started with.
            action::PLUGIN_LOADED => {
                if let (Some(name), Some(sha)) = (d["name"].as_str(), d["sha256"].as_str()) {
                    loaded
                        .entry(name.to_owned())
                        .or_insert_with(|| sha.to_owned());
                }
            }
            action::EVIDENCE_HASHED => {
                evidence_sha256 = d["hashes"]["sha256"].as_str().map(str::to_owned);
            }
            action::RUN_RESUMED => finished = None,
            action::RUN_FINISHED if d["run"] != "decode" && d["run"] != "report" => {
                finished = d["outcome"].as_str().map(str::to_owned);
            }
            action::FILE_EXTRACTED => {
                if let Some(path) = d["path"].as_str() {
                    files.insert(
                        path.to_owned(),
                        Logged {
                            name: d["name"].clone(),
                            digests: serde_json::from_value(d["hashes"].clone())
                                .unwrap_or_default(),
                            complete: d["complete"] == json!(true),
                        },
                    );
                }
            }
            _ => {}
        }
        last_action = Some(entry.action);
    }
    let missing = |what| ResumeError::Missing {
        case: case_dir.clone(),
        what,
    };
    let opened = opened.ok_or_else(|| missing("case_opened"))?;
    let evidence = evidence.ok_or_else(|| missing("evidence_opened"))?;
    let plugin = selected
        .as_ref()
        .and_then(|s| s["plugin"].as_str())
        .ok_or_else(|| missing("plugin_selected (which plugin to run)"))?
        .to_owned();
    // Only the extraction run that started last counts: `finished` is
    // reset by every case_opened and run_resumed.
    if let Some(outcome) = finished
        .as_ref()
        .filter(|o| *o == "clean" || *o == "completed_with_errors")
    {
        return Err(ResumeError::Finished {
            case: case_dir,
            outcome: outcome.clone(),
        });
    }
    let settings = opened["settings"].clone();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let hashes = opened["hash_algorithms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str()?.parse().ok())
                .collect::<Vec<HashAlgorithm>>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| vec![HashAlgorithm::Sha256]);
    Ok(ResumePlan {
        evidence: PathBuf::from(
            evidence["path"]
                .as_str()
                .ok_or_else(|| missing("the evidence's path"))?,
        ),
        plugin_sha256: loaded.get(&plugin).cloned(),
        plugin,
        hashes,
        acquisition_sha256: text(&evidence["acquisition_sha256"]),
        evidence_sha256,
        evidence_size: evidence["size"].as_u64(),
        evidence_mtime: text(&evidence["mtime"]),
        examiner: text(&opened["examiner"]),
        agency: text(&opened["agency"]),
        case_number: text(&opened["case_number"]),
        rehash_evidence: settings["rehash_evidence"] == json!(true),
        threads: settings["threads"]
            .as_u64()
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(0),
        min_free: settings["min_free"].as_u64(),
        decode: settings["decode"] != json!(false),
        settings,
        previous_outcome: finished,
        last_action,
        torn_line,
        files,
        case_dir,
    })
}

/// Where a resumed run puts the file an entry delivers.
pub(crate) enum Placed {
    /// Write it, from the start, to this open file.
    Write {
        /// Case-relative path.
        path: String,
        /// Open for writing, empty.
        file: File,
        /// What the path held before, for the log.
        replaces: Option<Value>,
    },
    /// The file is already there, whole and intact: hash the delivered
    /// bytes and compare them with these digests.
    Recheck {
        /// Case-relative path.
        path: String,
        /// The logged digests.
        digests: Digests,
    },
}

/// The files of the case being resumed, and the paths this run took.
pub(crate) struct ResumeFiles {
    files: BTreeMap<String, Logged>,
    claimed: Mutex<HashSet<String>>,
    /// Regular files under `files/` that no entry names: what was being
    /// written when the earlier run was killed.
    pub unlogged: BTreeSet<String>,
}

impl ResumeFiles {
    /// Places the entry `name` (sanitised into `components`).
    pub(crate) fn place(
        &self,
        case: &CaseFolder,
        components: &[String],
        name: &[u8],
    ) -> io::Result<Placed> {
        let name = serde_json::to_value(RawBytes(name.to_vec())).map_err(io::Error::other)?;
        let path = {
            let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
            let path = case.place_file(components, |rel| {
                !claimed.contains(rel) && self.files.get(rel).is_none_or(|l| l.name == name)
            })?;
            claimed.insert(path.clone());
            path
        };
        let full = case.root().join(&path);
        let replaces = match self.files.get(&path) {
            Some(logged) if logged.complete => {
                let algorithms: Vec<HashAlgorithm> = logged
                    .digests
                    .keys()
                    .filter_map(|a| a.parse().ok())
                    .collect();
                let now = open_read_only(&full)
                    .and_then(|mut f| hash_reader(&mut f, &algorithms))
                    .map(|(d, _)| d);
                match now {
                    Ok(d) if same_digests(&d, &logged.digests) => {
                        return Ok(Placed::Recheck {
                            path,
                            digests: logged.digests.clone(),
                        });
                    }
                    Ok(d) => json!({
                        "complete": true,
                        "changed": true,
                        "sha256": logged.digests.get("sha256"),
                        "sha256_on_disk": d.get("sha256"),
                    }),
                    Err(e) => json!({
                        "complete": true,
                        "changed": true,
                        "sha256": logged.digests.get("sha256"),
                        "sha256_on_disk": Value::Null,
                        "unreadable": e.to_string(),
                    }),
                }
            }
            Some(logged) => json!({"complete": false, "sha256": logged.digests.get("sha256")}),
            None if self.unlogged.contains(&path) => json!({"unlogged": true}),
            None => Value::Null,
        };
        let file = case.rewrite_file(&path)?;
        Ok(Placed::Write {
            path,
            file,
            replaces: (!replaces.is_null()).then_some(replaces),
        })
    }

    /// The unlogged files this run did not write again.
    pub(crate) fn unclaimed(&self) -> Vec<String> {
        let claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        self.unlogged
            .iter()
            .filter(|p| !claimed.contains(*p))
            .cloned()
            .collect()
    }
}

fn same_digests(now: &Digests, logged: &Digests) -> bool {
    !logged.is_empty()
        && logged.iter().all(|(alg, want)| {
            now.get(alg)
                .is_some_and(|got| got.eq_ignore_ascii_case(want))
        })
}

/// What [`crate::extract`]'s run needs to know when it continues a case.
pub(crate) struct Resume {
    /// Details of the `run_resumed` entry.
    pub details: Value,
    /// A torn last line that was removed.
    pub torn: Option<crate::custody::TornLine>,
    pub files: Arc<ResumeFiles>,
    /// The evidence's SHA-256 as an earlier run recorded it.
    pub evidence_sha256: Option<String>,
    /// Set when the format plugin's library is not the one the case was
    /// started with: what to warn.
    pub plugin_changed: Option<String>,
    /// The evidence's size and mtime at the first run.
    pub evidence_size: Option<u64>,
    pub evidence_mtime: Option<String>,
}

/// Continues the extraction `plan` describes; `opts` are the options of
/// the first run (as the caller rebuilt them from `plan`), with this run's
/// command line, examiner, password and cancel flag.
pub fn resume(
    plugins: &PluginHost,
    opts: &ExtractOptions,
    plan: &ResumePlan,
    observer: &dyn Observer,
) -> Result<ExtractSummary, ExtractError> {
    let started = Instant::now();
    let evidence = Evidence::open(&opts.evidence).map_err(|source| ExtractError::Evidence {
        path: opts.evidence.clone(),
        source,
    })?;
    let Some(plugin) = plugins
        .get(&plan.plugin)
        .filter(|p| p.info().kind == PluginKind::Format)
    else {
        return Err(ExtractError::UnknownFormat(plan.plugin.clone()));
    };
    let plugin_changed = plan
        .plugin_sha256
        .as_ref()
        .filter(|then| !then.eq_ignore_ascii_case(&plugin.info().sha256))
        .map(|then| {
            format!(
                "format plugin `{}` is not the library the case was started with (sha256 {} then, {} now): what it delivers again is compared with the log",
                plan.plugin,
                then,
                plugin.info().sha256
            )
        });
    let case = CaseFolder::existing(&plan.case_dir);
    let log_path = case.root().join(LOG_FILE);
    let custody_err = |source| ExtractError::Custody {
        path: log_path.clone(),
        source,
    };
    let unlogged = unlogged_files(case.root(), &plan.files).map_err(custody_err)?;
    // Decoders' working copies of a killed run: the host's own scratch.
    let scratch = case.root().join(SCRATCH_DIR);
    let removed_scratch = scratch.exists();
    if removed_scratch {
        std::fs::remove_dir_all(&scratch).map_err(custody_err)?;
    }
    let (log, tally, torn) =
        crate::custody::CustodyLog::open_to_resume(&log_path).map_err(custody_err)?;
    let (logged, complete) = plan.logged_files();
    let details = json!({
        "examiner": opts.examiner,
        "tool": "exhibit",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "git_commit": option_env!("EXHIBIT_GIT_COMMIT"),
        "host": gethostname::gethostname().to_string_lossy(),
        "command_line": opts.command_line,
        "plugin": plan.plugin,
        "evidence": plan.evidence.to_string_lossy(),
        "previous_outcome": plan.previous_outcome,
        "previous_last_action": tally.last_action,
        "files_logged": logged,
        "files_logged_complete": complete,
        "unlogged_files": unlogged,
        "removed_scratch": removed_scratch.then_some(SCRATCH_DIR),
        "torn_line": torn,
    });
    let resume = Resume {
        details,
        torn,
        files: Arc::new(ResumeFiles {
            files: plan.files.clone(),
            claimed: Mutex::new(HashSet::new()),
            unlogged,
        }),
        evidence_sha256: plan.evidence_sha256.clone(),
        plugin_changed,
        evidence_size: plan.evidence_size,
        evidence_mtime: plan.evidence_mtime.clone(),
    };
    let run = Run::continuing(log, &tally);
    run.run_to_end(
        plugins,
        opts,
        &evidence,
        &case,
        observer,
        started,
        Some(&resume),
    )
}

/// Regular files under `files/` that the log does not name.
fn unlogged_files(case: &Path, files: &BTreeMap<String, Logged>) -> io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let root = case.join(FILES_DIR);
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.map_err(io::Error::other)?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(case)
            .map_err(io::Error::other)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if !files.contains_key(&rel) {
            out.insert(rel);
        }
    }
    Ok(out)
}
