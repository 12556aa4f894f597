//! The custody log `case/custody.jsonl`: one JSON object per line, each
//! holding its sequence number, UTC time, action, details and the SHA-256 of
//! the line before it (64 zeros for the first). Any edit, removal, reordering
//! or truncation breaks the chain at a place `exhibit verify` can name.
//!
//! Policy: every entry is written with one `write` call as soon as it exists,
//! never buffered, so a killed run leaves a valid prefix. The log is not
//! fsynced: on ext4 that forces the writeback of every extracted byte and
//! doubled the time of an extraction to disk; like tar and unzip, exhibit
//! leaves writeback to the OS ([`CustodyLog::sync`] is there for callers
//! that want it). The hash of a line is the SHA-256 of its bytes
//! without the newline.

use crate::hash::sha256_hex;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// File name of the custody log inside a case folder.
pub const LOG_FILE: &str = "custody.jsonl";

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Action names, as they appear in the log.
pub mod action {
    /// The case folder was created; who, with what, where.
    pub const CASE_OPENED: &str = "case_opened";
    /// A plugin library was hashed and loaded.
    pub const PLUGIN_LOADED: &str = "plugin_loaded";
    /// A plugin library was refused; why.
    pub const PLUGIN_REFUSED: &str = "plugin_refused";
    /// The evidence was opened read-only; its size and times.
    pub const EVIDENCE_OPENED: &str = "evidence_opened";
    /// A format plugin was chosen, with every plugin's confidence.
    pub const PLUGIN_SELECTED: &str = "plugin_selected";
    /// A regular file was written to the case, with its hashes.
    pub const FILE_EXTRACTED: &str = "file_extracted";
    /// A directory, link, device or other entry without content was recorded.
    pub const ENTRY_RECORDED: &str = "entry_recorded";
    /// A record file (`artifacts/<kind>.jsonl`) was written, with its hashes.
    pub const ARTIFACT_WRITTEN: &str = "artifact_written";
    /// Damage that was worked around.
    pub const WARNING: &str = "warning";
    /// Something was lost, could not be read or did not match.
    pub const ERROR: &str = "error";
    /// A plugin's run ended; its status.
    pub const PLUGIN_FINISHED: &str = "plugin_finished";
    /// The evidence's own digests.
    pub const EVIDENCE_HASHED: &str = "evidence_hashed";
    /// The evidence was re-checked at the end of the run.
    pub const EVIDENCE_CHECKED: &str = "evidence_checked";
    /// The run ended; counts, duration and the chain hash before this entry.
    pub const RUN_FINISHED: &str = "run_finished";
    /// A format plugin recorded a fact about the evidence (a header's fields).
    pub const EVIDENCE_DESCRIBED: &str = "evidence_described";
    /// A plugin asked for the evidence's password; where it came from (never the password).
    pub const PASSWORD_REQUESTED: &str = "password_requested";
    /// `exhibit decode` reopened an existing case to decode it again.
    pub const CASE_REOPENED: &str = "case_reopened";
    /// Artifact decoding began: the decoders and the files they match.
    pub const DECODING_STARTED: &str = "decoding_started";
    /// An artifact decoder ran over one extracted file; its status and record counts.
    pub const FILE_DECODED: &str = "file_decoded";
    /// The run was stopped before its end (Ctrl-C, SIGTERM): what was in
    /// progress and how far the evidence had been read. `run_finished`
    /// (outcome `interrupted`) follows.
    pub const RUN_INTERRUPTED: &str = "run_interrupted";
    /// `exhibit extract --resume` continued an unfinished extraction of
    /// this case: who, with what, and what it found (a torn last line).
    pub const RUN_RESUMED: &str = "run_resumed";
    /// On resume, an entry an earlier run had extracted whole was delivered
    /// again and hashed to the logged digests; the file was not rewritten.
    pub const FILE_CONFIRMED: &str = "file_confirmed";
    /// A report or export made from the case and written into
    /// `case/reports/`: its format, digests, and the chain hash and entry
    /// count of the log it was made from.
    pub const REPORT_WRITTEN: &str = "report_written";
    /// A region of a physical image (a partition, the space between
    /// partitions) hashed by the core: its name, offset, size, digests and
    /// what the plugin says it is. Also a line of `partitions.jsonl`.
    pub const REGION_HASHED: &str = "region_hashed";
}

/// What an existing log holds, as counted by [`CustodyLog::open_append`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogTally {
    /// `file_extracted` entries.
    pub files: u64,
    /// `warning` and `plugin_refused` entries (as `verify` counts them).
    pub warnings: u64,
    /// `error` entries.
    pub errors: u64,
    /// The action of the last entry.
    pub last_action: Option<String>,
}

/// One custody entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 0 for the first entry, then one more per line.
    pub seq: u64,
    /// UTC time the entry was written, RFC 3339 with milliseconds.
    pub time: String,
    /// SHA-256 of the previous line ([`GENESIS`] for the first).
    pub prev: String,
    /// What happened (see [`action`]).
    pub action: String,
    /// Action-specific facts.
    pub details: serde_json::Value,
}

/// Appends entries to a custody log.
#[derive(Debug)]
pub struct CustodyLog {
    file: File,
    path: PathBuf,
    next_seq: u64,
    last_hash: String,
}

/// The current UTC time as the log writes it.
pub fn now_utc() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

impl CustodyLog {
    /// Creates a new, empty log; fails if the file exists.
    pub fn create(path: &Path) -> io::Result<CustodyLog> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(CustodyLog {
            file,
            path: path.to_owned(),
            next_seq: 0,
            last_hash: GENESIS.to_owned(),
        })
    }

    /// Opens an existing log to append to it, after checking that its chain
    /// is whole: every line parses, ends with a newline, carries the next
    /// sequence number and the hash of the line before. Appending to a
    /// broken chain would hide the break, so that is refused.
    pub fn open_append(path: &Path) -> io::Result<(CustodyLog, LogTally)> {
        let (log, tally, _) = Self::open_checked(path, false)?;
        Ok((log, tally))
    }

    /// Like [`CustodyLog::open_append`], for resuming a run that a crash or
    /// power loss stopped: a last line cut short (no newline) is not part
    /// of the chain, since no later line vouches for it, so it is removed
    /// from the file and returned, to be recorded in the next entry.
    /// Anything else that breaks the chain is still refused.
    pub fn open_to_resume(path: &Path) -> io::Result<(CustodyLog, LogTally, Option<TornLine>)> {
        Self::open_checked(path, true)
    }

    fn open_checked(
        path: &Path,
        cut_torn: bool,
    ) -> io::Result<(CustodyLog, LogTally, Option<TornLine>)> {
        let mut tally = LogTally::default();
        let mut torn = None;
        let (mut next_seq, mut last_hash) = (0u64, GENESIS.to_owned());
        for line in read_log(path)? {
            let line = line?;
            let broken = |why: String| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: line {} {why}; run `exhibit verify` on the case",
                        path.display(),
                        line.line_no
                    ),
                )
            };
            if !line.terminated && cut_torn {
                torn = Some(line.line_no);
                break;
            }
            let entry = line
                .entry
                .map_err(|e| broken(format!("is not a custody entry ({e})")))?;
            if !line.terminated {
                return Err(broken("is cut short (no newline)".into()));
            }
            if entry.seq != next_seq || entry.prev != last_hash {
                return Err(broken("does not follow the line before".into()));
            }
            match entry.action.as_str() {
                action::FILE_EXTRACTED => tally.files += 1,
                action::WARNING | action::PLUGIN_REFUSED => tally.warnings += 1,
                action::ERROR => tally.errors += 1,
                _ => {}
            }
            tally.last_action = Some(entry.action);
            next_seq += 1;
            last_hash = line.hash;
        }
        let torn = match torn {
            Some(line) => Some(cut_torn_line(path, line)?),
            None => None,
        };
        let file = OpenOptions::new().append(true).open(path)?;
        let log = CustodyLog {
            file,
            path: path.to_owned(),
            next_seq,
            last_hash,
        };
        Ok((log, tally, torn))
    }

    /// Appends one entry and returns its hash.
    pub fn append(&mut self, action: &str, details: serde_json::Value) -> io::Result<&str> {
        let entry = Entry {
            seq: self.next_seq,
            time: now_utc(),
            prev: self.last_hash.clone(),
            action: action.to_owned(),
            details,
        };
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        let hash = sha256_hex(&line);
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.next_seq += 1;
        self.last_hash = hash;
        Ok(&self.last_hash)
    }

    /// SHA-256 of the last line written (the chain head).
    pub fn chain_hash(&self) -> &str {
        &self.last_hash
    }

    /// Number of entries written.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// True before the first entry.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forces the log to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// The bytes of a last line that a crash cut short, as removed from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TornLine {
    /// 1-based line number.
    pub line: u64,
    /// Its length in bytes.
    pub bytes: u64,
    /// SHA-256 of those bytes.
    pub sha256: String,
    /// The bytes as text (invalid UTF-8 replaced), so nothing is lost.
    pub text: String,
}

/// Removes the unterminated tail of the log (everything after its last
/// newline) and returns what it held.
fn cut_torn_line(path: &Path, line: u64) -> io::Result<TornLine> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    // Scan back from the end for the last newline, a chunk at a time.
    let mut start = len;
    let mut chunk = vec![0u8; 64 * 1024];
    'scan: while start > 0 {
        let from = start.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(start - from).map_err(io::Error::other)?;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            break 'scan;
        }
        start = from;
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))?;
    file.read_to_end(&mut tail)?;
    file.set_len(start)?;
    file.sync_all()?;
    Ok(TornLine {
        line,
        bytes: tail.len() as u64,
        sha256: sha256_hex(&tail),
        text: String::from_utf8_lossy(&tail).into_owned(),
    })
}

/// One line of a log as read back.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// 1-based line number in the file.
    pub line_no: u64,
    /// SHA-256 of the line's bytes (without the newline).
    pub hash: String,
    /// The parsed entry, or why it does not parse.
    pub entry: Result<Entry, String>,
    /// False when the file ended without a newline after this line (a torn write).
    pub terminated: bool,
}

/// Reads a custody log line by line, streaming.
pub fn read_log(path: &Path) -> io::Result<impl Iterator<Item = io::Result<LogLine>> + use<>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut line_no = 0u64;
    Ok(std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                line_no += 1;
                let terminated = buf.last() == Some(&b'\n');
                if terminated {
                    buf.pop();
                }
                let entry = serde_json::from_slice::<Entry>(&buf).map_err(|e| e.to_string());
                Some(Ok(LogLine {
                    line_no,
                    hash: sha256_hex(&buf),
                    entry,
                    terminated,
                }))
            }
            Err(e) => Some(Err(e)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_links_each_line_to_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut log = CustodyLog::create(&path).unwrap();
        let h0 = log
            .append("a", serde_json::json!({"n": 1}))
            .unwrap()
            .to_owned();
        let h1 = log.append("b", serde_json::json!({})).unwrap().to_owned();
        assert!(CustodyLog::create(&path).is_err(), "never overwrites a log");
        let lines: Vec<LogLine> = read_log(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(lines.len(), 2);
        let e0 = lines[0].entry.as_ref().unwrap();
        let e1 = lines[1].entry.as_ref().unwrap();
        assert_eq!((e0.seq, e0.prev.as_str()), (0, GENESIS));
        assert_eq!((e1.seq, e1.prev.as_str()), (1, h0.as_str()));
        assert_eq!(lines[0].hash, h0);
        assert_eq!(lines[1].hash, h1);
        assert_eq!(log.chain_hash(), h1);
        assert_eq!(
            e0.time.len(),
            "2026-01-01T00:00:00.000Z".len(),
            "{}",
            e0.time
        );
        assert!(e0.time.ends_with('Z'));
    }

    #[test]
    fn a_torn_last_line_is_cut_only_when_resuming_and_returned_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut log = CustodyLog::create(&path).unwrap();
        log.append("a", serde_json::json!({})).unwrap();
        let head = log.append("b", serde_json::json!({})).unwrap().to_owned();
        drop(log);
        let torn = b"{\"seq\":2,\"time\":\"2026-";
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(torn).unwrap();
        drop(f);
        let err = CustodyLog::open_append(&path).unwrap_err();
        assert!(err.to_string().contains("line 3 is"), "{err}");
        let (mut log, tally, cut) = CustodyLog::open_to_resume(&path).unwrap();
        let cut = cut.unwrap();
        assert_eq!((cut.line, cut.bytes), (3, torn.len() as u64));
        assert_eq!(cut.text.as_bytes(), torn);
        assert_eq!(cut.sha256, sha256_hex(torn));
        assert_eq!((log.len(), log.chain_hash()), (2, head.as_str()));
        assert_eq!(tally.last_action.as_deref(), Some("b"));
        log.append("c", serde_json::json!({})).unwrap();
        let lines: Vec<LogLine> = read_log(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.terminated));
        assert_eq!(lines[2].entry.as_ref().unwrap().prev, head);
        // A whole log has nothing to cut.
        assert!(CustodyLog::open_to_resume(&path).unwrap().2.is_none());
    }
}
