//! Read-only access to the evidence and the digests computed while it is
//! read.
//!
//! Policy: evidence is only ever opened for reading (with `O_NOATIME` where
//! the OS allows it, so not even its access time moves); its bytes are
//! hashed as they pass to the plugin ([`HashedSource`]), in offset order,
//! so a format read front to back is read exactly once; bytes the plugin
//! skips are read by the host to complete the digest. Its size,
//! modification time and inode change time (for a folder, a fingerprint of
//! every entry's path, size, mtime and ctime) are taken at open and compared
//! when the plugin finishes and at the end. The ctime is there because a
//! write followed by `touch -d` restores the mtime, but no user can set the
//! ctime back.

use crate::hash::{Digests, HashAlgorithm, HashThread, MultiHasher};
use serde_json::json;
use sha2::Digest;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Opens a file for reading only, without updating its access time when the
/// OS lets us (Linux allows `O_NOATIME` to the file's owner and to root).
pub fn open_read_only(path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let no_atime = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW)
            .open(path);
        match no_atime {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            other => return other,
        }
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        File::open(path)
    }
}

/// Reads at `offset` without moving a cursor.
pub fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// Whether the evidence is one file or a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A single dump file.
    File,
    /// An already-unpacked folder.
    Folder,
}

/// What is re-checked at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    size: u64,
    mtime: Option<SystemTime>,
    /// Inode change time (seconds, nanoseconds), where the OS has one.
    ctime: Option<(i64, i64)>,
    /// For a folder: SHA-256 over every entry's path, type, size and mtime.
    tree: Option<String>,
    files: u64,
}

/// The evidence of one run.
#[derive(Debug)]
pub struct Evidence {
    path: PathBuf,
    kind: EvidenceKind,
    opened: Fingerprint,
}

impl Evidence {
    /// Opens `path` (a file or a folder) for reading and takes its fingerprint.
    pub fn open(path: &Path) -> io::Result<Evidence> {
        let path = fs::canonicalize(path)?;
        let md = fs::metadata(&path)?;
        let kind = if md.is_dir() {
            EvidenceKind::Folder
        } else {
            // Fail now, not half way through a run, if it cannot be read.
            open_read_only(&path)?;
            EvidenceKind::File
        };
        let opened = fingerprint(&path, kind)?;
        Ok(Evidence { path, kind, opened })
    }

    /// Canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File or folder.
    pub fn kind(&self) -> EvidenceKind {
        self.kind
    }

    /// Size in bytes (a folder: the sum of its regular files).
    pub fn size(&self) -> u64 {
        self.opened.size
    }

    /// The first `n` bytes (fewer for a small file, none for a folder).
    /// For a folder: the names of its top-level entries, each followed by
    /// `\n`, in byte order, as many as fit in `n` bytes (so a plugin can
    /// recognise an iTunes backup by its `Manifest.db`).
    pub fn head(&self, n: usize) -> io::Result<Vec<u8>> {
        if self.kind == EvidenceKind::Folder {
            let mut names: Vec<Vec<u8>> = fs::read_dir(&self.path)?
                .filter_map(Result::ok)
                .map(|e| e.file_name().as_encoded_bytes().to_vec())
                .filter(|name| !name.contains(&b'\n'))
                .collect();
            names.sort();
            let mut head = Vec::new();
            for name in names {
                if head.len() + name.len() + 1 > n {
                    break;
                }
                head.extend_from_slice(&name);
                head.push(b'\n');
            }
            return Ok(head);
        }
        let file = open_read_only(&self.path)?;
        let mut buf = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match read_at(&file, filled as u64, &mut buf[filled..])? {
                0 => break,
                k => filled += k,
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    /// Details for the `evidence_opened` custody entry.
    pub fn describe(&self) -> serde_json::Value {
        let md = fs::metadata(&self.path).ok();
        let time = |t: Option<SystemTime>| t.map(crate::time::rfc3339);
        let mut details = json!({
            "path": self.path.to_string_lossy(),
            "kind": match self.kind { EvidenceKind::File => "file", EvidenceKind::Folder => "folder" },
            "size": self.opened.size,
            "mtime": time(self.opened.mtime),
            "atime": time(md.as_ref().and_then(|m| m.accessed().ok())),
            "btime": time(md.as_ref().and_then(|m| m.created().ok())),
            "ctime": self.opened.ctime.map(|c| show_ctime(Some(c))),
        });
        if let Some(tree) = &self.opened.tree {
            details["files"] = json!(self.opened.files);
            details["tree_fingerprint"] = json!(tree);
        }
        #[cfg(unix)]
        if let Some(md) = &md {
            use std::os::unix::fs::MetadataExt;
            details["mode"] = json!(format!("{:o}", md.mode()));
            details["uid"] = json!(md.uid());
            details["inode"] = json!(md.ino());
        }
        details
    }

    /// Compares the evidence now with how it was at open. Returns the
    /// differences, empty when unchanged.
    pub fn changes(&self) -> io::Result<Vec<String>> {
        let now = fingerprint(&self.path, self.kind)?;
        let mut changes = Vec::new();
        if now.size != self.opened.size {
            changes.push(format!(
                "size was {} bytes, now {}",
                self.opened.size, now.size
            ));
        }
        if now.mtime != self.opened.mtime {
            changes.push(format!(
                "modification time was {}, now {}",
                self.opened
                    .mtime
                    .map(crate::time::rfc3339)
                    .unwrap_or_default(),
                now.mtime.map(crate::time::rfc3339).unwrap_or_default()
            ));
        }
        if now.ctime != self.opened.ctime {
            changes.push(format!(
                "inode change time was {}, now {} (its content, times, permissions or links were changed)",
                show_ctime(self.opened.ctime),
                show_ctime(now.ctime)
            ));
        }
        if now.tree != self.opened.tree {
            changes.push(format!(
                "folder contents changed ({} files at open, {} now; an entry's size, time or name differs)",
                self.opened.files, now.files
            ));
        }
        Ok(changes)
    }

    /// Hashes the whole evidence file again (for `--rehash-evidence`).
    pub fn rehash(&self, algorithms: &[HashAlgorithm]) -> io::Result<(Digests, u64)> {
        let mut file = open_read_only(&self.path)?;
        crate::hash::hash_reader(&mut file, algorithms)
    }
}

/// The inode change time of `md`, where the OS keeps one.
fn ctime(md: &fs::Metadata) -> Option<(i64, i64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((md.ctime(), md.ctime_nsec()))
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        None
    }
}

fn show_ctime(c: Option<(i64, i64)>) -> String {
    let Some((secs, nanos)) = c else {
        return "unknown".to_owned();
    };
    let t = u32::try_from(nanos)
        .ok()
        .and_then(|n| jiff::Timestamp::new(secs, i32::try_from(n).ok()?).ok());
    match t {
        Some(t) => format!("{t:.9}"),
        None => format!("{secs}.{nanos:09}"),
    }
}

fn fingerprint(path: &Path, kind: EvidenceKind) -> io::Result<Fingerprint> {
    let md = fs::metadata(path)?;
    if kind == EvidenceKind::File {
        return Ok(Fingerprint {
            size: md.len(),
            mtime: md.modified().ok(),
            ctime: ctime(&md),
            tree: None,
            files: 1,
        });
    }
    let mut tree = sha2::Sha256::new();
    let (mut size, mut files) = (0u64, 0u64);
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        // A path this system cannot open (longer than PATH_MAX, no
        // permission) must not refuse the whole folder: it enters the
        // fingerprint as unreadable, and the plugin's walk reports it.
        let (entry, md) = match entry.and_then(|e| e.metadata().map(|md| (e, md))) {
            Ok(found) => found,
            Err(e) => {
                let at = e.path().map(|p| p.as_os_str().as_encoded_bytes());
                tree.update(at.unwrap_or_default());
                let kind = e.io_error().map(io::Error::kind);
                tree.update(format!("\0unreadable {kind:?}\n").as_bytes());
                continue;
            }
        };
        if md.is_file() {
            size = size.saturating_add(md.len());
            files += 1;
        }
        let mtime = md
            .modified()
            .ok()
            .and_then(exhibit_plugin_sdk::system_time)
            .map(|t| (t.secs, t.nanos));
        tree.update(entry.path().as_os_str().as_encoded_bytes());
        tree.update(
            format!(
                "\0{:?}\0{}\0{:?}\0{:?}\n",
                md.file_type(),
                md.len(),
                mtime,
                ctime(&md)
            )
            .as_bytes(),
        );
    }
    Ok(Fingerprint {
        size,
        mtime: md.modified().ok(),
        ctime: ctime(&md),
        tree: Some(hex::encode(tree.finalize())),
        files,
    })
}

/// Where a [`HashedSource`]'s bytes are hashed.
#[derive(Debug)]
enum Digester {
    /// On the reading thread (small files of a folder evidence).
    Inline(Box<MultiHasher>),
    /// On a thread of its own (the evidence file), overlapping the plugin's work.
    Thread(HashThread),
}

impl Digester {
    fn update(&mut self, data: &[u8]) {
        match self {
            Digester::Inline(h) => h.update(data),
            Digester::Thread(h) => h.update(data),
        }
    }

    fn finish(self) -> io::Result<Digests> {
        match self {
            Digester::Inline(h) => Ok((*h).finish()),
            Digester::Thread(h) => h
                .finish()
                .ok_or_else(|| io::Error::other("the evidence hashing thread failed")),
        }
    }
}

/// A file of the evidence being read by a plugin, hashed in offset order as
/// the reads pass. Reads may come in any order; bytes are hashed once, when
/// the contiguous prefix reaches them, and a gap the plugin skipped is read
/// by the host itself.
#[derive(Debug)]
pub struct HashedSource {
    file: File,
    digester: Option<Digester>,
    hashed_upto: u64,
}

impl HashedSource {
    /// Wraps an open file; hashing starts at offset 0, on the reading thread.
    pub fn new(file: File, algorithms: &[HashAlgorithm]) -> HashedSource {
        HashedSource {
            file,
            digester: Some(Digester::Inline(Box::new(MultiHasher::new(algorithms)))),
            hashed_upto: 0,
        }
    }

    /// Like [`HashedSource::new`], hashing on a thread of its own.
    pub fn threaded(file: File, algorithms: &[HashAlgorithm]) -> io::Result<HashedSource> {
        Ok(HashedSource {
            file,
            digester: Some(Digester::Thread(HashThread::spawn(algorithms)?)),
            hashed_upto: 0,
        })
    }

    /// Bytes hashed so far (from offset 0).
    pub fn hashed_upto(&self) -> u64 {
        self.hashed_upto
    }

    /// Reads at `offset` for the plugin and hashes what is new.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, offset, buf)?;
        if offset > self.hashed_upto {
            self.hash_gap(offset)?;
        }
        let end = offset.saturating_add(n as u64);
        if offset <= self.hashed_upto && end > self.hashed_upto {
            let new = usize::try_from(self.hashed_upto - offset).map_err(io::Error::other)?;
            if let Some(d) = &mut self.digester {
                d.update(&buf[new..n]);
            }
            self.hashed_upto = end;
        }
        Ok(n)
    }

    /// Hashes from the current prefix end up to `until` by reading it.
    fn hash_gap(&mut self, until: u64) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        while self.hashed_upto < until {
            let want = usize::try_from((until - self.hashed_upto).min(buf.len() as u64))
                .map_err(io::Error::other)?;
            let n = read_at(&self.file, self.hashed_upto, &mut buf[..want])?;
            if n == 0 {
                break;
            }
            if let Some(d) = &mut self.digester {
                d.update(&buf[..n]);
            }
            self.hashed_upto += n as u64;
        }
        Ok(())
    }

    /// The digests of the bytes hashed so far (the prefix the plugin read),
    /// without reading the rest: for a run that was interrupted.
    pub fn finish_prefix(&mut self) -> io::Result<(Digests, u64)> {
        let digests = match self.digester.take() {
            Some(d) => d.finish()?,
            None => Digests::new(),
        };
        Ok((digests, self.hashed_upto))
    }

    /// Hashes whatever the plugin did not read, to the end of the file, and
    /// returns the digests, the total size and how many bytes the host had to
    /// read itself for that.
    pub fn finish(&mut self) -> io::Result<(Digests, u64, u64)> {
        let before = self.hashed_upto;
        self.hash_gap(u64::MAX)?;
        let digests = match self.digester.take() {
            Some(d) => d.finish()?,
            None => Digests::new(),
        };
        Ok((digests, self.hashed_upto, self.hashed_upto - before))
    }
}

/// A background hashing of the whole evidence: its digests and size.
pub type HashJob = std::thread::JoinHandle<io::Result<(Digests, u64)>>;

/// Hashes a whole evidence file on a thread of its own, while a
/// random-access plugin reads it; `progress` counts the bytes hashed.
pub fn hash_in_background(
    path: &Path,
    algorithms: &[HashAlgorithm],
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> io::Result<HashJob> {
    let mut file = open_read_only(path)?;
    let algorithms = algorithms.to_vec();
    std::thread::Builder::new()
        .name("exhibit-evidence-hash".into())
        .spawn(move || {
            let mut hasher = MultiHasher::new(&algorithms);
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                let n = match io::Read::read(&mut file, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                hasher.update(&buf[..n]);
                total += n as u64;
                progress.store(total, std::sync::atomic::Ordering::Relaxed);
            }
            Ok((hasher.finish(), total))
        })
}
