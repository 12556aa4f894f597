//! The receipt: a small JSON file, kept outside the case folder, that
//! anchors a custody log by its final chain hash.
//!
//! Policy: the chain proves each line follows the one before, but someone
//! who rewrites the whole log can recompute every link; only a hash kept
//! elsewhere exposes that (`exhibit verify CASE --expect <chain hash>`). So
//! a receipt may never be written inside the case it anchors, it is written
//! atomically (a temporary file beside it, flushed, then renamed) so a crash
//! leaves either no receipt or a whole one, and an existing file is never
//! replaced.

use crate::extract::{ExtractSummary, absolute};
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why a receipt cannot be written where asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The receipt would be inside the case it anchors.
    #[error(
        "receipt {receipt} is inside the case folder {case}; keep it elsewhere (a receipt stored with the log proves nothing about it)"
    )]
    InsideCase {
        /// The receipt path.
        receipt: PathBuf,
        /// The case folder.
        case: PathBuf,
    },
    /// A file is already there.
    #[error("receipt {0} already exists; exhibit never replaces one")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write the receipt {path}: {source}")]
    Io {
        /// The receipt path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// What a receipt holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Receipt {
    /// Always `"exhibit-receipt"`.
    pub kind: String,
    /// Version of this layout.
    pub version: u32,
    /// SHA-256 of the last line of the custody log.
    pub chain_hash: String,
    /// Entries in the log.
    pub log_entries: u64,
    /// The case folder.
    pub case_dir: String,
    /// The evidence.
    pub evidence: String,
    /// Its SHA-256, when the run read it whole.
    pub evidence_sha256: Option<String>,
    /// How the run ended.
    pub outcome: String,
    /// When the receipt was written (UTC).
    pub time: String,
    /// The exhibit version.
    pub tool_version: String,
}

impl Receipt {
    /// The receipt of a finished run on `evidence`.
    pub fn of(summary: &ExtractSummary, evidence: &Path) -> Receipt {
        let outcome = serde_json::to_value(summary.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Receipt {
            kind: "exhibit-receipt".to_owned(),
            version: 1,
            chain_hash: summary.chain_hash.clone(),
            log_entries: summary.log_entries,
            case_dir: summary.case_dir.to_string_lossy().into_owned(),
            evidence: evidence.to_string_lossy().into_owned(),
            evidence_sha256: summary.evidence_sha256.clone(),
            outcome,
            time: crate::custody::now_utc(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Writes the receipt to `path`, atomically, refusing a path inside
    /// `case_dir` or an existing file.
    pub fn write(&self, path: &Path, case_dir: &Path) -> Result<(), ReceiptError> {
        check_location(path, case_dir)?;
        let io_err = |source| ReceiptError::Io {
            path: path.to_owned(),
            source,
        };
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| io_err(io::Error::other(e)))?;
        text.push(b'\n');
        let name = path
            .file_name()
            .ok_or_else(|| io_err(io::Error::other("the receipt path names no file")))?;
        let mut tmp_name = std::ffi::OsString::from(".exhibit-receipt-");
        tmp_name.push(std::process::id().to_string());
        tmp_name.push("-");
        tmp_name.push(name);
        let tmp = path.with_file_name(tmp_name);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&text)?;
                f.sync_all()
            })
            // A hard link puts the whole file in place at once and, unlike
            // a rename, fails rather than replace a receipt that appeared
            // since the check.
            .and_then(|()| match std::fs::hard_link(&tmp, path) {
                // No hard links there (a FAT memory stick): rename instead.
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    if std::fs::symlink_metadata(path).is_ok() {
                        Err(io::ErrorKind::AlreadyExists.into())
                    } else {
                        std::fs::rename(&tmp, path)
                    }
                }
                linked => linked,
            });
        let _ = std::fs::remove_file(&tmp);
        written.map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                ReceiptError::Exists(path.to_owned())
            } else {
                io_err(e)
            }
        })?;
        Ok(())
    }
}

/// Refuses a receipt path inside `case_dir` (which may not exist yet) or
/// one that exists; call it before a run, so a bad path costs nothing.
pub fn check_location(receipt: &Path, case_dir: &Path) -> Result<(), ReceiptError> {
    let (r, c) = (resolved(receipt), resolved(case_dir));
    if r.starts_with(&c) {
        return Err(ReceiptError::InsideCase {
            receipt: r,
            case: c,
        });
    }
    if std::fs::symlink_metadata(receipt).is_ok() {
        return Err(ReceiptError::Exists(receipt.to_owned()));
    }
    Ok(())
}

/// `path` made absolute, its existing part canonical (links resolved), and
/// any `..` left in the part that does not exist yet applied by hand.
fn resolved(path: &Path) -> PathBuf {
    let path = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_owned(),
    };
    let mut out = PathBuf::new();
    for part in absolute(&path).components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_inside_the_case_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let case = dir.path().join("case");
        let inside = case.join("sub/receipt.json");
        assert!(matches!(
            check_location(&inside, &case),
            Err(ReceiptError::InsideCase { .. })
        ));
        // Through a `..` that leads back in.
        let sneaky = dir.path().join("elsewhere/../case/r.json");
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        assert!(matches!(
            check_location(&sneaky, &case),
            Err(ReceiptError::InsideCase { .. })
        ));
        let gone = dir.path().join("never/made/../../case/r.json");
        assert!(matches!(
            check_location(&gone, &case),
            Err(ReceiptError::InsideCase { .. })
        ));
        let outside = dir.path().join("receipt.json");
        assert!(check_location(&outside, &case).is_ok());
        let receipt = Receipt {
            kind: "exhibit-receipt".into(),
            version: 1,
            chain_hash: "ab".repeat(32),
            log_entries: 3,
            case_dir: case.to_string_lossy().into_owned(),
            evidence: "e.tar".into(),
            evidence_sha256: None,
            outcome: "clean".into(),
            time: crate::custody::now_utc(),
            tool_version: "0".into(),
        };
        receipt.write(&outside, &case).unwrap();
        let back: Receipt = serde_json::from_slice(&std::fs::read(&outside).unwrap()).unwrap();
        assert_eq!(back, receipt);
        assert!(matches!(
            receipt.write(&outside, &case),
            Err(ReceiptError::Exists(_))
        ));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".exhibit-receipt-"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
