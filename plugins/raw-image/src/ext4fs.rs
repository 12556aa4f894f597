//! ext2/3/4 volumes, read with the `ext4-view` crate (1.0): every
//! directory, file, symbolic link and special file is delivered with its
//! mode, owner, times (creation time when the inode is large enough to hold
//! it) and content, streamed in 1 MiB pieces. Beside it, [`crate::ext4raw`]
//! reads what `ext4-view` does not expose: each entry's inode number
//! (`extra.inode`, with `extra.links`) and change time (`ctime`), taken from
//! the raw listing of its parent directory (the root is inode 2); hard
//! links; deleted directory entries and the orphan list; the entries of
//! fscrypt-encrypted directories. The walk itself, shared with the raw
//! reader's fallback, is [`crate::ext4walk`]; this module is the
//! `ext4-view` side of it ([`ViewTree`]).
//!
//! Policy: `ext4-view` loads the journal and replays its committed
//! transactions in memory (reads of journaled blocks see the journal's
//! copy; it refuses a volume needing recovery whose journal lacks the
//! `64bit` and `csum_v3` features); nothing is written to the evidence. Its
//! reader must be `'static`, so it asks this module's read server (the
//! calling thread) for bytes over a channel while the walk runs on a scoped
//! thread. The raw reader replays the same committed transactions on its
//! own (see [`crate::ext4raw`]); an entry that the raw listing of its
//! directory still does not show (a journal it could not read) is delivered
//! without inode number and ctime, and counted in the `ext4 raw metadata`
//! custody note. When `ext4-view` refuses the volume as incompatible (its
//! features, its journal's), the raw reader walks it instead
//! ([`crate::ext4walk::fallback`]); any other load error stays an error.
#![forbid(unsafe_code)]

use crate::ext4raw::{Dirent, RawFs};
use crate::ext4walk::{self, Attrs, DirError, Entries, Item, Tree, Walk};
use crate::plugin::{Volume, read_exact};
use exhibit_plugin_sdk::{EntryKind, OutputFile, PluginError, Session, Time};
use ext4_view::{Ext4, Ext4Error, Ext4Read, FileType, PathBuf, ReadDir};
use std::io;
use std::sync::mpsc;

/// Largest single read `ext4-view` may ask for.
const MAX_READ: usize = 64 * 1024 * 1024;

/// Bytes read per round trip to the read server: `ext4-view` reads a
/// file in 4 KiB pieces, so each request brings the next ones too. Larger
/// windows cost more than they save, because metadata reads are scattered
/// (`bench/raw-image.sh`: 256 KiB took 9 % less CPU than none, 1 MiB more).
const READ_AHEAD: usize = 256 * 1024;

/// A read request: offset in the volume, the length needed, the length
/// wanted (with read-ahead), and a buffer to reuse.
type Request = (u64, usize, usize, Vec<u8>);

/// The `'static` reader `ext4-view` needs: each read is a request to the
/// read server, which fills one window of [`READ_AHEAD`] bytes; reads that
/// fall inside the last window are served from it.
struct ChannelRead {
    requests: mpsc::Sender<Request>,
    replies: mpsc::Receiver<io::Result<Vec<u8>>>,
    window: Vec<u8>,
    window_start: u64,
    volume_len: u64,
}

impl Ext4Read for ChannelRead {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let in_window = start_byte
            .checked_sub(self.window_start)
            .and_then(|at| usize::try_from(at).ok())
            .and_then(|at| self.window.get(at..at.checked_add(dst.len())?));
        if let Some(cached) = in_window {
            dst.copy_from_slice(cached);
            return Ok(());
        }
        let left =
            usize::try_from(self.volume_len.saturating_sub(start_byte)).unwrap_or(usize::MAX);
        let want = READ_AHEAD.min(left).max(dst.len());
        let spare = std::mem::take(&mut self.window);
        self.requests
            .send((start_byte, dst.len(), want, spare))
            .map_err(|_| io::Error::other("read server stopped"))?;
        let data = self
            .replies
            .recv()
            .map_err(|_| io::Error::other("read server stopped"))??;
        let Some(head) = data.get(..dst.len()) else {
            return Err(io::Error::other("short read").into());
        };
        dst.copy_from_slice(head);
        self.window = data;
        self.window_start = start_byte;
        Ok(())
    }
}

/// Walks the ext2/3/4 file system of `volume`.
pub(crate) fn extract(session: &Session<'_>, volume: &Volume<'_>) -> Result<(), PluginError> {
    let start = volume.window.start;
    std::thread::scope(|scope| {
        let (req_tx, req_rx) = mpsc::channel::<Request>();
        let (rep_tx, rep_rx) = mpsc::channel::<io::Result<Vec<u8>>>();
        let walker = scope.spawn(move || {
            let reader = ChannelRead {
                requests: req_tx,
                replies: rep_rx,
                window: Vec::new(),
                window_start: 0,
                volume_len: volume.window.len,
            };
            walk(session, volume, reader)
        });
        // Serve reads until the walker drops its file system (and sender).
        for (offset, need, want, mut buf) in req_rx.iter() {
            let reply = if need > MAX_READ {
                Err(io::Error::other(format!("read of {need} bytes refused")))
            } else {
                buf.resize(want, 0);
                // The read-ahead may run past a truncated image where the
                // bytes asked for do not: then only those are read.
                match read_exact(&volume.window, offset, &mut buf) {
                    Err(_) if want > need => {
                        buf.truncate(need);
                        read_exact(&volume.window, offset, &mut buf).map(|()| buf)
                    }
                    done => done.map(|()| buf),
                }
            };
            if rep_tx.send(reply).is_err() {
                break;
            }
        }
        walker.join().unwrap_or_else(|_| {
            Err(PluginError::Corrupt {
                offset: Some(start),
                what: format!(
                    "{} at offset {start:#x}: the ext4 reader stopped unexpectedly",
                    volume.label
                ),
            })
        })
    })
}

fn walk(
    session: &Session<'_>,
    volume: &Volume<'_>,
    reader: ChannelRead,
) -> Result<(), PluginError> {
    let fs = match Ext4::load(Box::new(reader)) {
        Ok(fs) => fs,
        // The reader (and so the read server) is gone; the raw reader
        // reads the volume directly.
        Err(e @ Ext4Error::Incompatible(_)) => {
            return ext4walk::fallback(session, volume, &e.to_string());
        }
        Err(e) => return Err(fs_error(volume, b"/", &e)),
    };
    let start = volume.window.start;
    let raw_fs = match RawFs::open(&volume.window) {
        Ok(raw) => Some(raw),
        Err(e) => {
            session.warn(
                Some(start),
                &format!(
                    "{} at offset {start:#x}: raw ext4 structures unreadable ({e}); inode numbers, ctime, hard links, deleted entries and encrypted directories are not recorded",
                    volume.label
                ),
            );
            None
        }
    };
    let mut walk = Walk::new(session, volume, raw_fs.as_ref());
    walk.fs_note(
        &fs.label().display().to_string(),
        &fs.uuid().to_string(),
        "ext4-view 1.0 for the tree and content; raw inode, bitmap and directory-block reads for inode numbers, ctime, link counts, deleted entries, orphans and encrypted directories",
        serde_json::json!({
            "fallback": false,
            "journal": "committed journal transactions are replayed in memory by ext4-view and, independently, by the raw reader (reads see the journal's copy of a block); the evidence is never written",
        }),
    );
    walk.tree(&ViewTree { fs, volume })?;
    walk.finish()
}

/// `ext4-view` as a [`Tree`]: entries are reached by path.
struct ViewTree<'a> {
    fs: Ext4,
    volume: &'a Volume<'a>,
}

/// The entries of one `ext4-view` directory listing, ending after the first
/// error (an iterator that failed once is not trusted to advance).
struct ViewEntries<'a> {
    dir: Vec<u8>,
    entries: ReadDir,
    volume: &'a Volume<'a>,
    failed: bool,
}

impl Iterator for ViewEntries<'_> {
    type Item = Result<Item<PathBuf>, PluginError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(fs_error(self.volume, &self.dir, &e)));
                }
            };
            let name = entry.file_name();
            if name.as_ref() == b"." || name.as_ref() == b".." {
                continue;
            }
            let path = entry.path();
            let md = match entry.metadata() {
                Ok(md) => md,
                Err(e) => return Some(Err(fs_error(self.volume, path.as_ref(), &e))),
            };
            let (kind, type_bits) = match md.file_type() {
                FileType::Regular => (EntryKind::File, 0o100_000),
                FileType::Directory => (EntryKind::Dir, 0o040_000),
                FileType::Symlink => (EntryKind::Symlink, 0o120_000),
                FileType::CharacterDevice => (EntryKind::CharDevice, 0o020_000),
                FileType::BlockDevice => (EntryKind::BlockDevice, 0o060_000),
                FileType::Fifo => (EntryKind::Fifo, 0o010_000),
                FileType::Socket => (EntryKind::Socket, 0o140_000),
            };
            return Some(Ok(Item {
                path: path.as_ref().to_vec(),
                attrs: Attrs {
                    kind,
                    mode: type_bits | u32::from(md.mode()),
                    uid: md.uid(),
                    gid: md.gid(),
                    size: md.len(),
                    mtime: time(md.modified()),
                    atime: time(md.accessed()),
                    btime: md.created().map(time),
                },
                inode: None,
                handle: path,
            }));
        }
    }
}

impl Tree for ViewTree<'_> {
    type Handle = PathBuf;
    const RAW: bool = false;

    fn root(&self) -> PathBuf {
        PathBuf::new("/")
    }

    fn read_dir<'t>(
        &'t self,
        path: &[u8],
        dir: &PathBuf,
        _live: Option<&'t [Dirent]>,
    ) -> Result<Entries<'t, PathBuf>, DirError> {
        match self.fs.read_dir(dir) {
            Ok(entries) => Ok(Box::new(ViewEntries {
                dir: path.to_vec(),
                entries,
                volume: self.volume,
                failed: false,
            })),
            Err(Ext4Error::Encrypted) => Err(DirError::Encrypted),
            Err(e) => Err(DirError::Failed(fs_error(self.volume, path, &e))),
        }
    }

    fn stream(
        &self,
        path: &[u8],
        file: &PathBuf,
        size: u64,
        out: &mut OutputFile<'_>,
        buf: &mut [u8],
    ) -> Result<Result<(), PluginError>, PluginError> {
        let mut file = match self.fs.open(file) {
            Ok(file) => file,
            Err(e) => return Ok(Err(fs_error(self.volume, path, &e))),
        };
        loop {
            match fill(&mut file, buf) {
                Ok(0) => return Ok(Ok(())),
                Ok(n) => {
                    let left = size.saturating_sub(out.written());
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(n);
                    if n == 0 {
                        return Ok(Ok(()));
                    }
                    out.write_bytes(buf.get(..n).unwrap_or_default())?;
                }
                Err(e) => return Ok(Err(fs_error(self.volume, path, &e))),
            }
        }
    }

    fn read_link(&self, path: &[u8], link: &PathBuf) -> Result<Vec<u8>, PluginError> {
        self.fs
            .read_link(link)
            .map(|target| target.as_ref().to_vec())
            .map_err(|e| fs_error(self.volume, path, &e))
    }
}

/// Reads from `file` until `buf` is full or the file ends: `ext4-view`
/// returns at most a block per call, and the host is better fed 1 MiB at a
/// time.
fn fill(file: &mut ext4_view::File, buf: &mut [u8]) -> Result<usize, Ext4Error> {
    let mut filled = 0usize;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match file.read_bytes(rest)? {
            0 => break,
            n => filled = filled.saturating_add(n),
        }
    }
    Ok(filled)
}

fn time(t: ext4_view::Timestamp) -> Time {
    Time {
        secs: t.seconds(),
        nanos: t.nanoseconds(),
    }
}

/// An `ext4-view` error as a plugin error naming the volume and the path.
fn fs_error(volume: &Volume<'_>, path: &[u8], e: &Ext4Error) -> PluginError {
    let start = volume.window.start;
    let what = format!(
        "{} at offset {start:#x}: {}: {e}",
        volume.label,
        String::from_utf8_lossy(path)
    );
    match e {
        Ext4Error::Io(_) => PluginError::Io {
            offset: Some(start),
            what,
        },
        Ext4Error::Incompatible(_) | Ext4Error::Encrypted => {
            PluginError::Unsupported { feature: what }
        }
        _ => PluginError::Corrupt {
            offset: Some(start),
            what,
        },
    }
}
