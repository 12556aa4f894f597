//! A case folder read back for reporting. [`Case::open`] reads the custody
//! log once, checking its chain as it goes, and keeps a [`Summary`] whose
//! size depends on the number of plugins, decodings and problems, never on
//! the number of files or records. Files, log entries and records are then
//! streamed again by whichever output needs them ([`Case::files`],
//! [`Case::entries`], [`Case::records`]), one at a time.

use anyhow::{Context, Result, bail};
use exhibit_core::custody::{GENESIS, LOG_FILE, action, read_log};
use exhibit_core::hash::Digests;
use exhibit_plugin_sdk::{EntryKind, EntryMeta};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Problems kept for the summary; past this only the count grows (a hostile
/// dump can make millions, and the custody report lists them all anyway).
pub const PROBLEMS_KEPT: usize = 10_000;
/// Regions kept in a [`Summary`] (a disk has a few dozen partitions; a
/// hostile table is bounded by the plugin, and again here).
pub const REGIONS_KEPT: usize = 10_000;

/// The record kinds the decoders write, in the order reports show them.
pub const RECORD_KINDS: [&str; 3] = ["messages", "contacts", "calls"];

/// A case folder opened for reading.
#[derive(Debug)]
pub struct Case {
    root: PathBuf,
    summary: Summary,
}

/// Who opened the case and with what.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseInfo {
    pub examiner: Option<String>,
    pub agency: Option<String>,
    pub case_number: Option<String>,
    /// The case folder as the extraction named it.
    pub case_dir: String,
    pub tool: String,
    pub tool_version: String,
    pub host: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub command_line: Vec<String>,
    /// Digests computed for every file (`sha256`, and `md5`/`sha1` if asked).
    pub hash_algorithms: Vec<String>,
    /// Time of the first entry.
    pub opened: String,
}

/// The evidence and what the custody log says about its integrity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvidenceInfo {
    pub path: String,
    /// `file` or `folder`.
    pub kind: String,
    pub size: Option<u64>,
    pub mtime: Option<String>,
    /// The acquisition hash the examiner gave, if any.
    pub acquisition_sha256: Option<String>,
    /// Digests computed while the evidence was read.
    pub hashes: Digests,
    /// How those digests were computed (`evidence_hashed.method`).
    pub hash_method: Option<String>,
    /// Every `evidence_checked` result: (when, unchanged).
    pub checks: Vec<(String, bool)>,
    /// A split image's segments: path, size and digests (empty otherwise).
    pub segments: Vec<SegmentInfo>,
}

/// One segment of a split image, from `evidence_hashed.segments`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SegmentInfo {
    pub path: String,
    pub size: u64,
    #[serde(default)]
    pub hashes: Digests,
}

/// One region of a physical image (a partition, the space between them),
/// hashed by the core (`region_hashed`).
#[derive(Debug, Clone, Serialize)]
pub struct RegionInfo {
    pub seq: u64,
    /// `p3-userdata`, `unallocated@0x0`, `expanded`.
    pub name: String,
    pub offset: Option<u64>,
    pub size: u64,
    pub sha256: Option<String>,
    /// What the plugin says it is (`details`: region, scheme, type…).
    pub details: Value,
    /// False when fewer bytes than declared could be hashed.
    pub complete: bool,
}

impl EvidenceInfo {
    /// File name of the evidence, for titles.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// True when every check found the evidence unchanged (and there was one).
    pub fn unchanged(&self) -> Option<bool> {
        (!self.checks.is_empty()).then(|| self.checks.iter().all(|(_, ok)| *ok))
    }
}

/// A plugin library as the log recorded it when loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// `format` or `artifact`.
    pub kind: String,
    /// SHA-256 of the library file.
    pub sha256: String,
    pub path: String,
    pub description: String,
}

/// The format plugin chosen for the evidence.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Selected {
    pub plugin: String,
    pub version: String,
    pub confidence: Option<u64>,
    pub forced: bool,
}

/// One run recorded in the log: an extraction, a resumption, a decoding or
/// a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInfo {
    /// `extract`, `resume`, `decode` or `report`.
    pub kind: String,
    pub seq: u64,
    pub started: String,
    pub examiner: Option<String>,
    pub command_line: Vec<String>,
    pub finished: Option<String>,
    pub outcome: Option<String>,
    pub duration_ms: Option<u64>,
}

/// One decoder run over one case file (`file_decoded`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Decoding {
    pub seq: u64,
    pub time: String,
    pub decoder: String,
    pub version: String,
    /// SHA-256 of the decoder library (from its `plugin_loaded`).
    pub decoder_sha256: Option<String>,
    /// Case path of the decoded file.
    pub file: String,
    /// SHA-256 of the decoded file.
    pub file_sha256: Option<String>,
    /// Records by kind.
    pub records: BTreeMap<String, u64>,
    pub status: String,
    pub isolated: bool,
    pub duration_ms: Option<u64>,
}

/// A record file (`artifact_written`), the last one per path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArtifactInfo {
    pub kind: String,
    /// Case path (`artifacts/messages.jsonl`).
    pub path: String,
    pub records: u64,
    pub size: u64,
    pub hashes: Digests,
    pub seq: u64,
}

/// A warning or error entry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProblemEntry {
    pub seq: u64,
    pub time: String,
    /// `error` or `warning`.
    pub level: String,
    pub message: String,
    pub details: Value,
}

/// What a case holds, by count.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// `file_extracted` entries.
    pub files: u64,
    /// Of them, cut short (`complete: false`).
    pub incomplete_files: u64,
    /// Bytes of the extracted files.
    pub bytes: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Hard links, devices, pipes and anything else recorded but not a file.
    pub other_entries: u64,
    pub errors: u64,
    pub warnings: u64,
    /// Records per kind, from the last `artifact_written` of each kind.
    pub records: BTreeMap<String, u64>,
}

/// Everything a report shows about a case that is not per file or record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub case: CaseInfo,
    pub evidence: Option<EvidenceInfo>,
    pub selected: Option<Selected>,
    /// Every distinct library loaded (by name and SHA-256), in log order.
    pub plugins: Vec<PluginInfo>,
    /// The device facts a plugin noted (`evidence_described` "device"), if any.
    pub device: Option<Value>,
    /// Other facts plugins noted about the evidence (`what`, `details`).
    pub facts: Vec<(String, Value)>,
    pub runs: Vec<RunInfo>,
    pub decodings: Vec<Decoding>,
    pub artifacts: Vec<ArtifactInfo>,
    /// The first [`PROBLEMS_KEPT`] warnings and errors.
    pub problems: Vec<ProblemEntry>,
    /// The first [`REGIONS_KEPT`] regions hashed (partitions and the space
    /// between them).
    pub regions: Vec<RegionInfo>,
    pub counts: Counts,
    /// Entries in the log.
    pub entries: u64,
    /// Time of the last entry.
    pub last_time: String,
    /// SHA-256 of the last line: the chain hash `verify --expect` takes.
    pub chain_sha256: String,
    /// The log ends with `run_finished`.
    pub complete: bool,
    /// Outcome of the last run (`clean`, `completed_with_errors`, …).
    pub outcome: Option<String>,
    /// True when a file path was written more than once (a resumed run):
    /// [`Case::files`] then keeps only the last entry per path.
    pub rewritten_paths: bool,
}

impl Summary {
    /// Library SHA-256 of the plugin `name` (the first loaded under it).
    pub fn plugin(&self, name: &str) -> Option<&PluginInfo> {
        self.plugins.iter().find(|p| p.name == name)
    }
}

/// One custody entry, with the chain hash it ends (the SHA-256 of its line).
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: u64,
    pub time: String,
    pub prev: String,
    pub action: String,
    pub details: Value,
    /// SHA-256 of this entry's line: the chain hash after it.
    pub hash: String,
}

/// One extracted file, directory or link, from `file_extracted` or
/// `entry_recorded`.
#[derive(Debug, Clone)]
pub struct FileItem {
    pub seq: u64,
    /// Case path (`files/data/…`); for entries recorded but not written, the
    /// path they would have had.
    pub path: String,
    /// The name as the dump stored it (a string, or `{"hex": …}`).
    pub name: Value,
    pub kind: EntryKind,
    /// Bytes written (files only).
    pub size: Option<u64>,
    /// Digests of the written bytes (files only).
    pub hashes: Digests,
    /// False when the file was cut short.
    pub complete: bool,
    /// Metadata as the plugin reported it, when it parses.
    pub meta: Option<EntryMeta>,
}

impl FileItem {
    /// The name for people: UTF-8 as is, else the path.
    pub fn display_name(&self) -> String {
        match &self.name {
            Value::String(s) => s.clone(),
            _ => self.path.clone(),
        }
    }

    /// SHA-256 of the written bytes.
    pub fn sha256(&self) -> Option<&str> {
        self.hashes.get("sha256").map(String::as_str)
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn entry_kind(details: &Value) -> EntryKind {
    serde_json::from_value(details["meta"]["kind"].clone()).unwrap_or(EntryKind::Other)
}

impl Case {
    /// Reads `root/custody.jsonl` once into a [`Summary`]. A log whose chain
    /// is broken (an edited, removed or reordered line) is refused: a report
    /// must not present a tampered record as the case; `exhibit verify` says
    /// where it breaks.
    pub fn open(root: &Path) -> Result<Case> {
        let log_path = root.join(LOG_FILE);
        let lines = read_log(&log_path)
            .with_context(|| format!("cannot read the custody log {}", log_path.display()))?;
        let mut s = Summary::default();
        let mut prev = GENESIS.to_owned();
        let mut seen_plugins: BTreeMap<(String, String), ()> = BTreeMap::new();
        let mut artifacts: BTreeMap<String, ArtifactInfo> = BTreeMap::new();
        // Paths written more than once are rare (a resumed run rewrites the
        // files it cannot confirm); counting them needs a set of every path,
        // so it is only kept while the log shows a resumption.
        let mut resumed = false;
        for line in lines {
            let line = line.with_context(|| format!("cannot read {}", log_path.display()))?;
            let entry = line.entry.map_err(|e| {
                anyhow::anyhow!(
                    "{} line {} is not a custody entry ({e}); run `exhibit verify`",
                    log_path.display(),
                    line.line_no
                )
            })?;
            if entry.prev != prev || entry.seq != s.entries {
                bail!(
                    "{} line {}: the custody chain is broken (entry {} does not follow the line before); run `exhibit verify` on the case",
                    log_path.display(),
                    line.line_no,
                    entry.seq
                );
            }
            if !line.terminated {
                bail!(
                    "{} line {} is cut short (an interrupted write); run `exhibit verify` or `exhibit extract --resume`",
                    log_path.display(),
                    line.line_no
                );
            }
            prev = line.hash;
            s.entries += 1;
            s.last_time = entry.time.clone();
            let d = &entry.details;
            match entry.action.as_str() {
                action::CASE_OPENED => {
                    s.case = CaseInfo {
                        examiner: text(d, "examiner"),
                        agency: text(d, "agency"),
                        case_number: text(d, "case_number"),
                        case_dir: text(d, "case_dir").unwrap_or_default(),
                        tool: text(d, "tool").unwrap_or_else(|| "exhibit".into()),
                        tool_version: text(d, "tool_version").unwrap_or_default(),
                        host: text(d, "host"),
                        os: text(d, "os"),
                        arch: text(d, "arch"),
                        command_line: strings(&d["command_line"]),
                        hash_algorithms: strings(&d["hash_algorithms"]),
                        opened: entry.time.clone(),
                    };
                    s.runs.push(RunInfo {
                        kind: "extract".into(),
                        seq: entry.seq,
                        started: entry.time.clone(),
                        examiner: text(d, "examiner"),
                        command_line: strings(&d["command_line"]),
                        ..RunInfo::default()
                    });
                }
                action::CASE_REOPENED | action::RUN_RESUMED => {
                    let kind = if entry.action == action::RUN_RESUMED {
                        resumed = true;
                        "resume".to_owned()
                    } else {
                        text(d, "purpose").unwrap_or_else(|| "decode".into())
                    };
                    s.runs.push(RunInfo {
                        kind,
                        seq: entry.seq,
                        started: entry.time.clone(),
                        examiner: text(d, "examiner"),
                        command_line: strings(&d["command_line"]),
                        ..RunInfo::default()
                    });
                }
                action::RUN_FINISHED => {
                    s.outcome = text(d, "outcome");
                    if let Some(run) = s.runs.last_mut() {
                        run.finished = Some(entry.time.clone());
                        run.outcome = text(d, "outcome");
                        run.duration_ms = d["duration_ms"].as_u64();
                    }
                }
                action::PLUGIN_LOADED => {
                    let info = PluginInfo {
                        name: text(d, "name").unwrap_or_default(),
                        version: text(d, "version").unwrap_or_default(),
                        kind: text(d, "kind").unwrap_or_default(),
                        sha256: text(d, "sha256").unwrap_or_default(),
                        path: text(d, "path").unwrap_or_default(),
                        description: text(d, "description").unwrap_or_default(),
                    };
                    if seen_plugins
                        .insert((info.name.clone(), info.sha256.clone()), ())
                        .is_none()
                    {
                        s.plugins.push(info);
                    }
                }
                action::EVIDENCE_OPENED => {
                    s.evidence = Some(EvidenceInfo {
                        path: text(d, "path").unwrap_or_default(),
                        kind: text(d, "kind").unwrap_or_default(),
                        size: d["size"].as_u64(),
                        mtime: text(d, "mtime"),
                        acquisition_sha256: text(d, "acquisition_sha256"),
                        ..EvidenceInfo::default()
                    });
                }
                action::EVIDENCE_HASHED => {
                    if let Some(ev) = &mut s.evidence {
                        ev.hashes = serde_json::from_value(d["hashes"].clone()).unwrap_or_default();
                        ev.hash_method = text(d, "method");
                        ev.segments =
                            serde_json::from_value(d["segments"].clone()).unwrap_or_default();
                    }
                }
                action::EVIDENCE_CHECKED => {
                    if let Some(ev) = &mut s.evidence {
                        ev.checks.push((
                            text(d, "when").unwrap_or_default(),
                            d["unchanged"].as_bool().unwrap_or(false),
                        ));
                    }
                }
                action::PLUGIN_SELECTED => {
                    s.selected = Some(Selected {
                        plugin: text(d, "plugin").unwrap_or_default(),
                        version: text(d, "version").unwrap_or_default(),
                        confidence: d["confidence"].as_u64(),
                        forced: d["forced"].as_bool().unwrap_or(false),
                    });
                }
                action::EVIDENCE_DESCRIBED => {
                    let what = text(d, "what").unwrap_or_default();
                    if what == "device" {
                        s.device = Some(d["details"].clone());
                    } else {
                        s.facts.push((what, d["details"].clone()));
                    }
                }
                action::REGION_HASHED if s.regions.len() < REGIONS_KEPT => {
                    s.regions.push(RegionInfo {
                        seq: entry.seq,
                        name: text(d, "name").unwrap_or_default(),
                        offset: d["offset"].as_u64(),
                        size: d["size"].as_u64().unwrap_or(0),
                        sha256: d["hashes"]["sha256"].as_str().map(str::to_owned),
                        details: d["details"].clone(),
                        complete: d["complete"].as_bool().unwrap_or(false),
                    });
                }
                action::FILE_EXTRACTED => {
                    s.counts.files += 1;
                    s.counts.bytes += d["size"].as_u64().unwrap_or(0);
                    if d["complete"] == Value::Bool(false) {
                        s.counts.incomplete_files += 1;
                    }
                }
                action::ENTRY_RECORDED => match entry_kind(d) {
                    EntryKind::Dir => s.counts.dirs += 1,
                    EntryKind::Symlink => s.counts.symlinks += 1,
                    _ => s.counts.other_entries += 1,
                },
                action::FILE_DECODED => {
                    let decoder = text(d, "decoder").unwrap_or_default();
                    s.decodings.push(Decoding {
                        seq: entry.seq,
                        time: entry.time.clone(),
                        decoder_sha256: None,
                        version: text(d, "version").unwrap_or_default(),
                        file: text(d, "file").unwrap_or_default(),
                        file_sha256: text(d, "sha256"),
                        records: serde_json::from_value(d["records"].clone()).unwrap_or_default(),
                        status: text(d, "status").unwrap_or_default(),
                        isolated: d["isolated"].as_bool().unwrap_or(false),
                        duration_ms: d["duration_ms"].as_u64(),
                        decoder,
                    });
                }
                action::ARTIFACT_WRITTEN => {
                    let info = ArtifactInfo {
                        kind: text(d, "kind").unwrap_or_default(),
                        path: text(d, "path").unwrap_or_default(),
                        records: d["records"].as_u64().unwrap_or(0),
                        size: d["size"].as_u64().unwrap_or(0),
                        hashes: serde_json::from_value(d["hashes"].clone()).unwrap_or_default(),
                        seq: entry.seq,
                    };
                    artifacts.insert(info.path.clone(), info);
                }
                action::WARNING | action::PLUGIN_REFUSED | action::ERROR => {
                    let level = if entry.action == action::ERROR {
                        s.counts.errors += 1;
                        "error"
                    } else {
                        s.counts.warnings += 1;
                        "warning"
                    };
                    if s.problems.len() < PROBLEMS_KEPT {
                        let message = text(d, "message")
                            .or_else(|| text(d, "reason"))
                            .unwrap_or_else(|| entry.action.clone());
                        s.problems.push(ProblemEntry {
                            seq: entry.seq,
                            time: entry.time.clone(),
                            level: level.into(),
                            message,
                            details: d.clone(),
                        });
                    }
                }
                _ => {}
            }
            s.complete = entry.action == action::RUN_FINISHED;
        }
        if s.entries == 0 {
            bail!("{} is empty: not a case", log_path.display());
        }
        s.chain_sha256 = prev;
        for dec in &mut s.decodings {
            dec.decoder_sha256 = s
                .plugins
                .iter()
                .find(|p| p.name == dec.decoder && p.version == dec.version)
                .map(|p| p.sha256.clone());
        }
        s.artifacts = artifacts.into_values().collect();
        s.artifacts.sort_by_key(|a| a.seq);
        for a in &s.artifacts {
            *s.counts.records.entry(a.kind.clone()).or_default() += a.records;
        }
        s.rewritten_paths = resumed;
        Ok(Case {
            root: root.to_owned(),
            summary: s,
        })
    }

    /// The case folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What [`Case::open`] gathered.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Every custody entry in order, streamed (the chain was checked by
    /// [`Case::open`]; a line that no longer parses is an error).
    pub fn entries(&self) -> Result<impl Iterator<Item = Result<LogEntry>> + use<>> {
        let path = self.root.join(LOG_FILE);
        let lines = read_log(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let limit = self.summary.entries;
        Ok(lines
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(move |line| {
                let line = line.with_context(|| format!("cannot read {}", path.display()))?;
                let entry = line.entry.map_err(|e| {
                    anyhow::anyhow!("{} line {}: {e}", path.display(), line.line_no)
                })?;
                Ok(LogEntry {
                    seq: entry.seq,
                    time: entry.time,
                    prev: entry.prev,
                    action: entry.action,
                    details: entry.details,
                    hash: line.hash,
                })
            }))
    }

    /// Every file, directory and link the extraction recorded, in log order,
    /// streamed; when a path was written twice (a resumed run) only its last
    /// entry is given.
    pub fn files(&self) -> Result<impl Iterator<Item = Result<FileItem>> + use<>> {
        let last_seq: Option<HashMap<String, u64>> = if self.summary.rewritten_paths {
            let mut map = HashMap::new();
            for e in self.entries()? {
                let e = e?;
                if (e.action == action::FILE_EXTRACTED || e.action == action::ENTRY_RECORDED)
                    && let Some(p) = e.details["path"].as_str()
                {
                    map.insert(p.to_owned(), e.seq);
                }
            }
            Some(map)
        } else {
            None
        };
        Ok(self.entries()?.filter_map(move |e| {
            let e = match e {
                Ok(e) => e,
                Err(err) => return Some(Err(err)),
            };
            let is_file = e.action == action::FILE_EXTRACTED;
            if !is_file && e.action != action::ENTRY_RECORDED {
                return None;
            }
            let d = &e.details;
            let path = d["path"].as_str().unwrap_or_default().to_owned();
            if let Some(map) = &last_seq
                && map.get(&path).is_some_and(|&seq| seq != e.seq)
            {
                return None;
            }
            Some(Ok(FileItem {
                seq: e.seq,
                name: d["name"].clone(),
                kind: if is_file {
                    EntryKind::File
                } else {
                    entry_kind(d)
                },
                size: if is_file { d["size"].as_u64() } else { None },
                hashes: serde_json::from_value(d["hashes"].clone()).unwrap_or_default(),
                complete: d["complete"] != Value::Bool(false),
                meta: serde_json::from_value(d["meta"].clone()).ok(),
                path,
            }))
        }))
    }

    /// The records of `kind` (`messages`, `contacts`, `calls`) from
    /// `artifacts/<kind>.jsonl`, streamed and typed (`exhibit_plugin_sdk::records`).
    /// A case without that file has none. A line that does not parse is an
    /// error naming the file and line.
    pub fn records<T: DeserializeOwned + 'static>(
        &self,
        kind: &str,
    ) -> Result<Box<dyn Iterator<Item = Result<T>>>> {
        let Some(artifact) = self.summary.artifacts.iter().find(|a| a.kind == kind) else {
            return Ok(Box::new(std::iter::empty()));
        };
        let path = self.root.join(&artifact.path);
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = BufReader::new(file);
        let kind = kind.to_owned();
        let mut line_no = 0u64;
        let mut buf = String::new();
        Ok(Box::new(std::iter::from_fn(move || {
            buf.clear();
            match reader.read_line(&mut buf) {
                Ok(0) => None,
                Ok(_) => {
                    line_no += 1;
                    Some(serde_json::from_str(buf.trim_end()).with_context(|| {
                        format!("{} line {line_no} is not a {kind} record", path.display())
                    }))
                }
                Err(e) => Some(Err(e).with_context(|| format!("cannot read {}", path.display()))),
            }
        })))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use exhibit_core::custody::CustodyLog;
    use serde_json::json;

    /// A case folder whose custody log holds `entries`, for the outputs' tests.
    pub(crate) fn case_with(entries: &[(&str, Value)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = CustodyLog::create(&dir.path().join(LOG_FILE)).expect("log");
        for (act, details) in entries {
            log.append(act, details.clone()).expect("append");
        }
        dir
    }

    #[test]
    fn summary_counts_files_problems_and_records() {
        let dir = case_with(&[
            (
                action::CASE_OPENED,
                json!({"examiner": "Ann", "case_number": "X-1", "tool": "exhibit", "tool_version": "0.1.0", "hash_algorithms": ["sha256"]}),
            ),
            (
                action::FILE_EXTRACTED,
                json!({"path": "files/a", "name": "a", "size": 3, "complete": true, "hashes": {"sha256": "aa"}, "meta": {"kind": "file"}}),
            ),
            (
                action::FILE_EXTRACTED,
                json!({"path": "files/b", "name": "b", "size": 4, "complete": false, "hashes": {"sha256": "bb"}, "meta": {"kind": "file"}}),
            ),
            (
                action::ENTRY_RECORDED,
                json!({"path": "files/d", "name": "d/", "meta": {"kind": "dir"}}),
            ),
            (action::ERROR, json!({"message": "entry 3 is cut short"})),
            (
                action::ARTIFACT_WRITTEN,
                json!({"kind": "calls", "path": "artifacts/calls.jsonl", "records": 7, "size": 10, "hashes": {"sha256": "cc"}}),
            ),
            (
                action::RUN_FINISHED,
                json!({"outcome": "completed_with_errors"}),
            ),
        ]);
        let case = Case::open(dir.path()).expect("open");
        let s = case.summary();
        assert_eq!(s.case.examiner.as_deref(), Some("Ann"));
        assert_eq!(
            (s.counts.files, s.counts.incomplete_files, s.counts.bytes),
            (2, 1, 7)
        );
        assert_eq!((s.counts.dirs, s.counts.errors), (1, 1));
        assert_eq!(s.counts.records.get("calls"), Some(&7));
        assert_eq!(s.problems[0].message, "entry 3 is cut short");
        assert!(s.complete);
        assert_eq!(s.entries, 7);
        let files: Vec<FileItem> = case
            .files()
            .expect("files")
            .map(|f| f.expect("file"))
            .collect();
        assert_eq!(files.len(), 3);
        assert_eq!(files[1].sha256(), Some("bb"));
        assert!(!files[1].complete);
        assert_eq!(files[2].kind, EntryKind::Dir);
    }

    #[test]
    fn a_broken_chain_is_refused() {
        let dir = case_with(&[
            (action::CASE_OPENED, json!({"examiner": "Ann"})),
            (action::RUN_FINISHED, json!({"outcome": "clean"})),
        ]);
        let log = dir.path().join(LOG_FILE);
        let text = std::fs::read_to_string(&log).expect("read");
        std::fs::write(&log, text.replacen("Ann", "Bob", 1)).expect("write");
        let err = Case::open(dir.path()).expect_err("tampered");
        assert!(err.to_string().contains("chain is broken"), "{err}");
    }
}
