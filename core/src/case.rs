//! The case folder: `custody.jsonl`, `files/` (extracted files under
//! sanitised paths) and `artifacts/` (decoded records).
//!
//! Policy: a case folder is created empty or not at all; every path written
//! is built from [`sanitize`](crate::sanitize::sanitize)d components joined
//! under `files/`, files are created with `create_new` (never overwriting),
//! and no symbolic link is ever created, so nothing can be written outside the
//! folder. When a name is taken (the same path twice in a dump, or a file
//! where a directory is needed), the newcomer gets ` (2)`, ` (3)`… before its
//! extension; both are kept and the log maps each original name to its place.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Folder of extracted files inside a case.
pub const FILES_DIR: &str = "files";
/// Folder of decoded record files inside a case.
pub const ARTIFACTS_DIR: &str = "artifacts";
/// The device facts a format plugin found (an iTunes backup's Info.plist).
pub const DEVICE_FILE: &str = "device.json";
/// Deleted entries a file system still shows, one JSON object a line (the
/// records a format plugin emits with kind [`DELETED_KIND`]).
pub const DELETED_FILE: &str = "deleted.jsonl";
/// The record kind a format plugin gives a deleted entry.
pub const DELETED_KIND: &str = "deleted";
/// The regions of a physical image (partitions, unallocated space, the
/// partition table), each with the digests the core computed.
pub const PARTITIONS_FILE: &str = "partitions.jsonl";
/// The `kind` of [`PARTITIONS_FILE`] in its `artifact_written` entry.
pub const PARTITIONS_KIND: &str = "partitions";

/// Most name variants tried for one entry before giving up.
const MAX_VARIANTS: u32 = 100_000;

/// Why a case folder could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// The folder exists and holds something.
    #[error(
        "case folder {0} is not empty; choose a new folder (exhibit never mixes two runs in one case)"
    )]
    NotEmpty(PathBuf),
    /// The folder could not be created or read.
    #[error("cannot create case folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// A case folder being written.
#[derive(Debug, Clone)]
pub struct CaseFolder {
    root: PathBuf,
}

impl CaseFolder {
    /// An existing case folder, to decode it again (nothing is created).
    pub fn existing(root: &Path) -> CaseFolder {
        CaseFolder {
            root: root.to_owned(),
        }
    }

    /// Creates the case folder (and its parents), or takes an existing empty
    /// one; refuses a non-empty one.
    pub fn create(root: &Path) -> Result<CaseFolder, CaseError> {
        let io_err = |source| CaseError::Io {
            path: root.to_owned(),
            source,
        };
        fs::create_dir_all(root).map_err(io_err)?;
        if fs::read_dir(root).map_err(io_err)?.next().is_some() {
            return Err(CaseError::NotEmpty(root.to_owned()));
        }
        let root = fs::canonicalize(root).map_err(io_err)?;
        fs::create_dir(root.join(FILES_DIR)).map_err(io_err)?;
        Ok(CaseFolder { root })
    }

    /// The case folder (canonical path).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a new file for the sanitised `components`, taking a variant
    /// name where the path is taken. Returns its path relative to the case
    /// root (`files/…`, `/`-separated) and the open file.
    pub fn create_file(&self, components: &[String]) -> io::Result<(String, File)> {
        let (leaf, parents) = match components.split_last() {
            Some((leaf, parents)) => (leaf.as_str(), parents),
            None => ("%unnamed", &[][..]),
        };
        let (mut rel, dir) = self.make_dirs(parents)?;
        for n in 1..=MAX_VARIANTS {
            let name = variant(leaf, n);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(&name))
            {
                Ok(file) => {
                    rel.push('/');
                    rel.push_str(&name);
                    return Ok((rel, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(too_many(leaf))
    }

    /// For a resumed run: the path of the first variant for `components`
    /// that holds nothing or a regular file and that `usable` accepts (it
    /// sees the case-relative path). The parent folders are created as
    /// [`CaseFolder::create_file`] would; the file itself is not opened.
    /// Variants are offered in the order `create_file` tries them, so an
    /// entry delivered in the same order as before lands on the same path.
    pub fn place_file(
        &self,
        components: &[String],
        mut usable: impl FnMut(&str) -> bool,
    ) -> io::Result<String> {
        let (leaf, parents) = match components.split_last() {
            Some((leaf, parents)) => (leaf.as_str(), parents),
            None => ("%unnamed", &[][..]),
        };
        let (rel, dir) = self.make_dirs(parents)?;
        for n in 1..=MAX_VARIANTS {
            let name = variant(leaf, n);
            match fs::symlink_metadata(dir.join(&name)) {
                Ok(md) if !md.is_file() => continue,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let candidate = format!("{rel}/{name}");
            if usable(&candidate) {
                return Ok(candidate);
            }
        }
        Err(too_many(leaf))
    }

    /// Opens the case file `rel` (from [`CaseFolder::place_file`]) to write
    /// it from the start, creating it if absent and never following a link.
    pub fn rewrite_file(&self, rel: &str) -> io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_NOFOLLOW);
        }
        opts.open(self.root.join(rel))
    }

    /// Creates the directory for the sanitised `components` (variants as for
    /// files) and returns its path relative to the case root.
    pub fn create_dir(&self, components: &[String]) -> io::Result<String> {
        self.make_dirs(components).map(|(rel, _)| rel)
    }

    /// Walks down from `files/`, creating each directory or taking the first
    /// variant that is (or can become) a real directory.
    fn make_dirs(&self, components: &[String]) -> io::Result<(String, PathBuf)> {
        let mut dir = self.root.join(FILES_DIR);
        let mut rel = FILES_DIR.to_owned();
        for comp in components {
            let name = (1..=MAX_VARIANTS)
                .map(|n| variant(comp, n))
                .find_map(|name| match usable_dir(&dir.join(&name)) {
                    Ok(true) => Some(Ok(name)),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                })
                .unwrap_or_else(|| Err(too_many(comp)))?;
            dir.push(&name);
            rel.push('/');
            rel.push_str(&name);
        }
        Ok((rel, dir))
    }
}

/// True when `path` is a directory we may descend into, creating it if absent.
fn usable_dir(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(md) => Ok(md.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Ok(fs::symlink_metadata(path)?.is_dir())
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

fn too_many(name: &str) -> io::Error {
    io::Error::other(format!("more than {MAX_VARIANTS} entries named {name:?}"))
}

/// The `n`th name for `name`: itself, then `stem (n).ext`.
fn variant(name: &str, n: u32) -> String {
    if n == 1 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        p.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn refuses_a_non_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), b"").unwrap();
        let err = CaseFolder::create(dir.path()).unwrap_err();
        assert!(matches!(err, CaseError::NotEmpty(_)), "{err}");
    }

    #[test]
    fn duplicates_and_file_dir_clashes_are_both_kept() {
        let dir = tempfile::tempdir().unwrap();
        let case = CaseFolder::create(&dir.path().join("case")).unwrap();
        let (a, _) = case.create_file(&parts("d/dup.txt")).unwrap();
        let (b, _) = case.create_file(&parts("d/dup.txt")).unwrap();
        let (c, _) = case.create_file(&parts("d/noext")).unwrap();
        let (d, _) = case.create_file(&parts("d/noext")).unwrap();
        assert_eq!(a, "files/d/dup.txt");
        assert_eq!(b, "files/d/dup (2).txt");
        assert_eq!(
            (c.as_str(), d.as_str()),
            ("files/d/noext", "files/d/noext (2)")
        );
        // A file `x` then `x/y.txt`: the file stays, the directory takes a variant.
        let (x, _) = case.create_file(&parts("x")).unwrap();
        let (y, _) = case.create_file(&parts("x/y.txt")).unwrap();
        assert_eq!((x.as_str(), y.as_str()), ("files/x", "files/x (2)/y.txt"));
        assert_eq!(case.create_dir(&parts("x")).unwrap(), "files/x (2)");
        assert_eq!(case.create_file(&[]).unwrap().0, "files/%unnamed");
    }
}
