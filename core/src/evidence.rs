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
//!
//! A split image (`disk.000`, `disk.001`, … found by
//! [`crate::segments::segment_set`]) is one evidence: its segments are each
//! opened read-only and read as one byte sequence ([`EvidenceReader`]),
//! each is fingerprinted, and each gets digests of its own beside those of
//! the whole, as acquisition tools record them.

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

/// The evidence file, or the segments of a split image in order, opened
/// read-only and read as one byte sequence.
#[derive(Debug)]
pub struct EvidenceReader {
    files: Vec<File>,
    /// Cumulative end offset of each segment (sizes taken at open); empty
    /// for a single file, which is read to wherever it ends.
    ends: Vec<u64>,
}

impl EvidenceReader {
    /// One file read as it is.
    pub fn single(file: File) -> EvidenceReader {
        EvidenceReader {
            files: vec![file],
            ends: Vec::new(),
        }
    }

    /// Where each segment ends (empty for a single file).
    pub fn segment_ends(&self) -> &[u64] {
        &self.ends
    }

    /// Reads at `offset` without moving a cursor. A read never crosses a
    /// segment boundary: it returns fewer bytes there, and the next read
    /// continues in the next segment.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if self.ends.is_empty() {
            return match self.files.first() {
                Some(file) => read_at(file, offset, buf),
                None => Ok(0),
            };
        }
        let index = self.ends.partition_point(|&end| end <= offset);
        let (Some(file), Some(&end)) = (self.files.get(index), self.ends.get(index)) else {
            return Ok(0);
        };
        let start = index
            .checked_sub(1)
            .and_then(|prev| self.ends.get(prev))
            .copied()
            .unwrap_or(0);
        let left = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        let n = read_at(file, offset - start, &mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "segment {} ends before the {} bytes it had at open",
                    index + 1,
                    end - start
                ),
            ));
        }
        Ok(n)
    }

    /// Reads the whole evidence front to back, hashing it and (for a split
    /// image) each segment; `progress` counts the bytes read.
    pub fn hash_all(
        &self,
        algorithms: &[HashAlgorithm],
        progress: Option<&std::sync::atomic::AtomicU64>,
    ) -> io::Result<(Digests, u64, Vec<Digests>)> {
        let mut hasher = MultiHasher::new(algorithms);
        let mut segments = SegmentHashers::new(&self.ends, algorithms);
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = match self.read_at(total, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            segments.update(&buf[..n]);
            total += n as u64;
            if let Some(p) = progress {
                p.store(total, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Ok((hasher.finish(), total, segments.finish()))
    }

    /// Hashes `len` bytes from `offset` (a partition of a raw image); fewer
    /// when the evidence ends first, or when `stop` is set (checked every
    /// MiB). Returns the digests and the bytes hashed.
    pub fn hash_range(
        &self,
        offset: u64,
        len: u64,
        algorithms: &[HashAlgorithm],
        stop: &std::sync::atomic::AtomicBool,
    ) -> io::Result<(Digests, u64)> {
        let mut hasher = MultiHasher::new(algorithms);
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < len && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let want = usize::try_from((len - done).min(buf.len() as u64)).unwrap_or(buf.len());
            let n = match self.read_at(offset.saturating_add(done), &mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        Ok((hasher.finish(), done))
    }
}

/// Digests of each segment of a split image, fed the whole image in order.
#[derive(Debug)]
struct SegmentHashers {
    ends: Vec<u64>,
    algorithms: Vec<HashAlgorithm>,
    current: Option<MultiHasher>,
    pos: u64,
    done: Vec<Digests>,
}

impl SegmentHashers {
    fn new(ends: &[u64], algorithms: &[HashAlgorithm]) -> SegmentHashers {
        SegmentHashers {
            ends: ends.to_vec(),
            algorithms: algorithms.to_vec(),
            current: (!ends.is_empty()).then(|| MultiHasher::new(algorithms)),
            pos: 0,
            done: Vec::new(),
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(&end) = self.ends.get(self.done.len()) else {
                return;
            };
            let take = usize::try_from(end - self.pos)
                .unwrap_or(usize::MAX)
                .min(data.len());
            if let Some(h) = &mut self.current {
                h.update(&data[..take]);
            }
            self.pos += take as u64;
            data = &data[take..];
            if self.pos == end {
                self.close_segment();
            }
        }
    }

    fn close_segment(&mut self) {
        if let Some(h) = self.current.take() {
            self.done.push(h.finish());
        }
        if self.done.len() < self.ends.len() {
            self.current = Some(MultiHasher::new(&self.algorithms));
        }
    }

    /// The digests of every segment; an empty segment at the end is closed
    /// here, a segment not read to its end has none.
    fn finish(mut self) -> Vec<Digests> {
        while self.ends.get(self.done.len()) == Some(&self.pos) {
            self.close_segment();
        }
        self.done
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
    /// For a split image: every segment (the first is `path`) and its
    /// fingerprint at open; empty otherwise.
    segments: Vec<(PathBuf, Fingerprint)>,
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
        let mut opened = fingerprint(&path, kind)?;
        let mut segments = Vec::new();
        if kind == EvidenceKind::File
            && let Some(set) = crate::segments::segment_set(&path)?
            && set.len() > 1
        {
            let mut total = 0u64;
            for segment in set {
                open_read_only(&segment)?;
                let print = fingerprint(&segment, EvidenceKind::File)?;
                total = total.checked_add(print.size).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "segment sizes overflow u64")
                })?;
                segments.push((segment, print));
            }
            opened.size = total;
            opened.files = segments.len() as u64;
        }
        Ok(Evidence {
            path,
            kind,
            opened,
            segments,
        })
    }

    /// The segments of a split image, in order, with their sizes at open;
    /// empty for a single file or a folder.
    pub fn segments(&self) -> impl Iterator<Item = (&Path, u64)> {
        self.segments.iter().map(|(p, f)| (p.as_path(), f.size))
    }

    /// Opens the evidence file (every segment of a split image) for
    /// reading. Not for a folder.
    pub fn reader(&self) -> io::Result<EvidenceReader> {
        if self.segments.is_empty() {
            return Ok(EvidenceReader::single(open_read_only(&self.path)?));
        }
        let mut files = Vec::with_capacity(self.segments.len());
        let mut ends = Vec::with_capacity(self.segments.len());
        let mut end = 0u64;
        for (path, print) in &self.segments {
            files.push(open_read_only(path)?);
            end = end.saturating_add(print.size);
            ends.push(end);
        }
        Ok(EvidenceReader { files, ends })
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
        let file = self.reader()?;
        let mut buf = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match file.read_at(filled as u64, &mut buf[filled..])? {
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
        if !self.segments.is_empty() {
            details["kind"] = json!("split image");
            details["segments"] = self
                .segments
                .iter()
                .map(|(path, print)| {
                    json!({
                        "path": path.to_string_lossy(),
                        "size": print.size,
                        "mtime": time(print.mtime),
                        "ctime": print.ctime.map(|c| show_ctime(Some(c))),
                    })
                })
                .collect();
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
        if !self.segments.is_empty() {
            let mut changes = Vec::new();
            for (path, opened) in &self.segments {
                let now = fingerprint(path, EvidenceKind::File)?;
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                changes.extend(
                    differences(opened, &now)
                        .into_iter()
                        .map(|c| format!("segment {name}: {c}")),
                );
            }
            return Ok(changes);
        }
        let now = fingerprint(&self.path, self.kind)?;
        Ok(differences(&self.opened, &now))
    }

    /// Hashes the whole evidence file again (for `--rehash-evidence`).
    pub fn rehash(&self, algorithms: &[HashAlgorithm]) -> io::Result<(Digests, u64)> {
        let (digests, total, _) = self.reader()?.hash_all(algorithms, None)?;
        Ok((digests, total))
    }
}

/// What differs between two fingerprints of the same path, in words.
fn differences(opened: &Fingerprint, now: &Fingerprint) -> Vec<String> {
    let mut changes = Vec::new();
    if now.size != opened.size {
        changes.push(format!("size was {} bytes, now {}", opened.size, now.size));
    }
    if now.mtime != opened.mtime {
        changes.push(format!(
            "modification time was {}, now {}",
            opened.mtime.map(crate::time::rfc3339).unwrap_or_default(),
            now.mtime.map(crate::time::rfc3339).unwrap_or_default()
        ));
    }
    if now.ctime != opened.ctime {
        changes.push(format!(
                "inode change time was {}, now {} (its content, times, permissions or links were changed)",
                show_ctime(opened.ctime),
                show_ctime(now.ctime)
            ));
    }
    if now.tree != opened.tree {
        changes.push(format!(
                "folder contents changed ({} files at open, {} now; an entry's size, time or name differs)",
                opened.files, now.files
            ));
    }
    changes
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
    file: EvidenceReader,
    digester: Option<Digester>,
    hashed_upto: u64,
    /// A split image's per-segment digests, fed on the reading thread.
    segments: Option<SegmentHashers>,
    segment_digests: Vec<Digests>,
}

impl HashedSource {
    /// Wraps an open file; hashing starts at offset 0, on the reading thread.
    pub fn new(file: File, algorithms: &[HashAlgorithm]) -> HashedSource {
        HashedSource {
            file: EvidenceReader::single(file),
            digester: Some(Digester::Inline(Box::new(MultiHasher::new(algorithms)))),
            hashed_upto: 0,
            segments: None,
            segment_digests: Vec::new(),
        }
    }

    /// The evidence file (or split image), hashing on a thread of its own.
    pub fn threaded(
        file: EvidenceReader,
        algorithms: &[HashAlgorithm],
    ) -> io::Result<HashedSource> {
        let segments = (!file.segment_ends().is_empty())
            .then(|| SegmentHashers::new(file.segment_ends(), algorithms));
        Ok(HashedSource {
            file,
            digester: Some(Digester::Thread(HashThread::spawn(algorithms)?)),
            hashed_upto: 0,
            segments,
            segment_digests: Vec::new(),
        })
    }

    /// After [`HashedSource::finish`]: the digests of each segment of a
    /// split image (empty for one file).
    pub fn segment_digests(&self) -> &[Digests] {
        &self.segment_digests
    }

    fn digest(&mut self, data: &[u8]) {
        if let Some(d) = &mut self.digester {
            d.update(data);
        }
        if let Some(s) = &mut self.segments {
            s.update(data);
        }
    }

    /// Bytes hashed so far (from offset 0).
    pub fn hashed_upto(&self) -> u64 {
        self.hashed_upto
    }

    /// Reads at `offset` for the plugin and hashes what is new.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(offset, buf)?;
        if offset > self.hashed_upto {
            self.hash_gap(offset)?;
        }
        let end = offset.saturating_add(n as u64);
        if offset <= self.hashed_upto && end > self.hashed_upto {
            let new = usize::try_from(self.hashed_upto - offset).map_err(io::Error::other)?;
            self.digest(&buf[new..n]);
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
            let n = self.file.read_at(self.hashed_upto, &mut buf[..want])?;
            if n == 0 {
                break;
            }
            self.digest(&buf[..n]);
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
        if let Some(s) = self.segments.take() {
            self.segment_digests = s.finish();
        }
        Ok((digests, self.hashed_upto, self.hashed_upto - before))
    }
}

/// A background hashing of the whole evidence: its digests, its size and
/// (for a split image) each segment's digests.
pub type HashJob = std::thread::JoinHandle<io::Result<(Digests, u64, Vec<Digests>)>>;

/// Hashes a whole evidence file (every segment of a split image) on a
/// thread of its own, while a random-access plugin reads it; `progress`
/// counts the bytes hashed.
pub fn hash_in_background(
    evidence: &Evidence,
    algorithms: &[HashAlgorithm],
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> io::Result<HashJob> {
    let reader = evidence.reader()?;
    let algorithms = algorithms.to_vec();
    std::thread::Builder::new()
        .name("exhibit-evidence-hash".into())
        .spawn(move || reader.hash_all(&algorithms, Some(&progress)))
}
