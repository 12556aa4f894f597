//! Where a report or export goes and how it is written. Into the case (the
//! default, under `case/reports/`) it is written beside its final name,
//! hashed as it is written, renamed into place, then recorded in the custody
//! log (`report_written`) so `exhibit verify` checks it like any other file.
//! Outside the case, or to standard output (`--out -`), it is hashed the
//! same way and the case is not touched.

use crate::case::Case;
use anyhow::{Context, Result, bail};
use exhibit_core::hash::{Digests, HashAlgorithm, MultiHasher};
use exhibit_core::{ReportWritten, record_reports};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

/// The folder of a case that reports and exports go in.
pub const REPORTS_DIR: &str = "reports";

/// Where one output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A case path under `reports/` (`reports/report.html`).
    Case(String),
    /// A file outside the case.
    File(PathBuf),
    /// Standard output.
    Stdout,
}

/// An output written, with its digests.
#[derive(Debug, Clone)]
pub struct Written {
    pub target: Target,
    /// Where it is on disk (none for standard output).
    pub path: Option<PathBuf>,
    pub hashes: Digests,
    pub size: u64,
}

impl Written {
    /// SHA-256 of the bytes written.
    pub fn sha256(&self) -> &str {
        self.hashes.get("sha256").map_or("", String::as_str)
    }
}

/// Resolves `--out`: none means `case/reports/<default_name>`, `-` means
/// standard output, a folder means `<folder>/<default_name>`. A path inside the case must lie under `reports/`: the
/// rest of a case is the extraction's, and `verify` would call anything
/// else there unexplained.
pub fn resolve(case: &Case, out: Option<&Path>, default_name: &str) -> Result<Target> {
    let Some(out) = out else {
        return Ok(Target::Case(format!("{REPORTS_DIR}/{default_name}")));
    };
    if out == Path::new("-") {
        return Ok(Target::Stdout);
    }
    let mut absolute = if out.is_absolute() {
        out.to_owned()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(out)
    };
    // `--out somewhere/` names a folder: the output keeps its usual name there.
    if absolute.is_dir() {
        absolute.push(default_name);
    }
    let Some(name) = absolute.file_name() else {
        bail!("--out {}: not a file name", out.display());
    };
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let parent = fs::canonicalize(parent)
        .with_context(|| format!("--out {}: its folder does not exist", out.display()))?;
    let root = fs::canonicalize(case.root())
        .with_context(|| format!("cannot resolve {}", case.root().display()))?;
    let full = parent.join(name);
    match full.strip_prefix(&root) {
        Ok(rel) => {
            let parts: Vec<String> = rel
                .components()
                .map(|c| match c {
                    Component::Normal(p) => Ok(p.to_string_lossy().into_owned()),
                    _ => bail!("--out {}: not a plain path in the case", out.display()),
                })
                .collect::<Result<_>>()?;
            if parts.len() < 2 || parts[0] != REPORTS_DIR {
                bail!(
                    "--out {}: inside the case, reports go under {}/{REPORTS_DIR}/; the rest of the case is the extraction's",
                    out.display(),
                    case.root().display()
                );
            }
            Ok(Target::Case(parts.join("/")))
        }
        Err(_) => Ok(Target::File(full)),
    }
}

/// A writer that hashes and counts every byte on its way to `inner`: how
/// an output gets the digests its custody entry records without being read
/// back.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: MultiHasher,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Hashes with `algorithms` what is written to `inner`.
    pub fn new(inner: W, algorithms: &[HashAlgorithm]) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: MultiHasher::new(algorithms),
            size: 0,
        }
    }

    /// The inner writer, not flushed, with the digests and the byte count of
    /// everything it accepted.
    pub fn finish(self) -> (W, Digests, u64) {
        (self.inner, self.hasher.finish(), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The digests the case computes for every file.
fn algorithms(case: &Case) -> Vec<HashAlgorithm> {
    case.summary()
        .case
        .hash_algorithms
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Writes one output through `produce`, hashing it as it is written. A file
/// is written as `<name>.partial` and renamed when whole, so a failed or
/// interrupted report never leaves a half file under the final name.
pub fn write(
    case: &Case,
    target: &Target,
    produce: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<Written> {
    let algorithms = algorithms(case);
    let path = match target {
        Target::Stdout => {
            let mut w = HashingWriter::new(BufWriter::new(io::stdout().lock()), &algorithms);
            produce(&mut w)?;
            w.flush().context("cannot write to standard output")?;
            let (_, hashes, size) = w.finish();
            return Ok(Written {
                target: target.clone(),
                path: None,
                hashes,
                size,
            });
        }
        Target::Case(rel) => case.root().join(rel),
        Target::File(path) => path.clone(),
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = (|| -> Result<(Digests, u64)> {
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 16, file), &algorithms);
        produce(&mut w)?;
        let (inner, hashes, size) = w.finish();
        let file = inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        fs::rename(&partial, &path)
            .with_context(|| format!("cannot rename {} into place", partial.display()))?;
        Ok((hashes, size))
    })();
    match result {
        Ok((hashes, size)) => Ok(Written {
            target: target.clone(),
            path: Some(path),
            hashes,
            size,
        }),
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Records the outputs written into the case (`Target::Case`) in its
/// custody log, as a `report` run; returns the new chain hash, or `None`
/// when nothing went into the case.
pub fn record(
    case: &Case,
    format: &str,
    written: &[Written],
    command_line: &[String],
    examiner: Option<&str>,
) -> Result<Option<String>> {
    let reports: Vec<ReportWritten> = written
        .iter()
        .filter_map(|w| match &w.target {
            Target::Case(rel) => Some(ReportWritten {
                format: format.to_owned(),
                path: rel.clone(),
                hashes: w.hashes.clone(),
                size: w.size,
                made_from_chain_sha256: case.summary().chain_sha256.clone(),
                made_from_entries: case.summary().entries,
            }),
            _ => None,
        })
        .collect();
    if reports.is_empty() {
        return Ok(None);
    }
    let chain = record_reports(case.root(), command_line, examiner, &reports)
        .map_err(anyhow::Error::new)?;
    Ok(Some(chain))
}
