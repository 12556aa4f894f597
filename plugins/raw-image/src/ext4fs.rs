//! ext2/3/4 volumes, read with the `ext4-view` crate (1.0): every
//! directory, file, symbolic link and special file is delivered with its
//! mode, owner, times (creation time when the inode is large enough to hold
//! it) and content, streamed in 1 MiB pieces.
//!
//! Policy: `ext4-view` loads the journal and replays its committed
//! transactions in memory (reads of journaled blocks see the journal's
//! copy); nothing is written to the evidence. Its reader must be `'static`,
//! so it asks this module's read server (the calling thread) for bytes over
//! a channel while the walk runs on a scoped thread. fscrypt-encrypted
//! directories are recorded and reported, not decrypted. The walk is
//! bounded in depth and entry count; a damaged directory or file is an
//! error naming the volume and the path, and the walk goes on. Inode
//! numbers and the change time (ctime) are not exposed by `ext4-view` 1.0
//! and are not recorded.
#![forbid(unsafe_code)]

use crate::plugin::{MAX_DEPTH, Volume, read_exact};
use exhibit_plugin_sdk::{EntryKind, EntryMeta, PluginError, RawBytes, Session, Status, Time};
use ext4_view::{Ext4, Ext4Error, Ext4Read, FileType, Metadata, PathBuf};
use std::io;
use std::sync::mpsc;

/// Bytes streamed per write to the host.
const CHUNK: usize = 1024 * 1024;
/// Largest single read `ext4-view` may ask for.
const MAX_READ: usize = 64 * 1024 * 1024;

/// A read request: offset in the volume and length.
type Request = (u64, usize);

/// The `'static` reader `ext4-view` needs: each read is a request to the
/// read server.
struct ChannelRead {
    requests: mpsc::Sender<Request>,
    replies: mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl Ext4Read for ChannelRead {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.requests
            .send((start_byte, dst.len()))
            .map_err(|_| io::Error::other("read server stopped"))?;
        let data = self
            .replies
            .recv()
            .map_err(|_| io::Error::other("read server stopped"))??;
        if data.len() != dst.len() {
            return Err(io::Error::other("short read").into());
        }
        dst.copy_from_slice(&data);
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
            };
            walk(session, volume, reader)
        });
        // Serve reads until the walker drops its file system (and sender).
        for (offset, len) in req_rx.iter() {
            let reply = if len > MAX_READ {
                Err(io::Error::other(format!("read of {len} bytes refused")))
            } else {
                let mut buf = vec![0u8; len];
                read_exact(&volume.window, offset, &mut buf).map(|()| buf)
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
    let fs = Ext4::load(Box::new(reader)).map_err(|e| fs_error(volume, b"/", &e))?;
    session.custody_note(
        "ext4 file system",
        serde_json::json!({
            "volume": volume.label,
            "offset": volume.window.start,
            "label": fs.label().display().to_string(),
            "uuid": fs.uuid().to_string(),
            "reader": "ext4-view 1.0",
            "journal": "committed journal transactions are replayed in memory by ext4-view (reads see the journal's copy of a block); the evidence is never written",
            "not_recorded": "inode numbers and ctime (not exposed by ext4-view 1.0); deleted entries (not listed yet)",
        }),
    );
    let root = PathBuf::new("/");
    let mut stack: Vec<(PathBuf, usize)> = vec![(root, 0)];
    let mut count: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    while let Some((dir, depth)) = stack.pop() {
        session.check_cancelled()?;
        let entries = match fs.read_dir(&dir) {
            Ok(entries) => entries,
            Err(Ext4Error::Encrypted) => {
                session.warn(
                    Some(volume.window.start),
                    &format!(
                        "{}: {}: encrypted (fscrypt), not decrypted",
                        volume.label,
                        dir.display()
                    ),
                );
                continue;
            }
            Err(e) => {
                session.report(&fs_error(volume, dir.as_ref(), &e));
                continue;
            }
        };
        let mut subdirs = Vec::new();
        for entry in entries {
            session.check_cancelled()?;
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    // An iterator that failed once is not trusted to advance.
                    session.report(&fs_error(volume, dir.as_ref(), &e));
                    break;
                }
            };
            let name = entry.file_name();
            if name.as_ref() == b"." || name.as_ref() == b".." {
                continue;
            }
            if !volume.within_budget(&mut count, session) {
                return Ok(());
            }
            let path = entry.path();
            let md = match entry.metadata() {
                Ok(md) => md,
                Err(e) => {
                    session.report(&fs_error(volume, path.as_ref(), &e));
                    continue;
                }
            };
            let is_dir = md.is_dir();
            deliver(session, volume, &fs, &path, &md, &mut buf)?;
            if is_dir {
                if depth < MAX_DEPTH {
                    subdirs.push((path, depth.saturating_add(1)));
                } else {
                    session.warn(
                        Some(volume.window.start),
                        &format!(
                            "{}: {}: nested deeper than {MAX_DEPTH} directories; not walked",
                            volume.label,
                            path.display()
                        ),
                    );
                }
            }
        }
        // Walk subdirectories in the order they were listed.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// Delivers one entry: metadata, and the content of a regular file.
fn deliver(
    session: &Session<'_>,
    volume: &Volume<'_>,
    fs: &Ext4,
    path: &PathBuf,
    md: &Metadata,
    buf: &mut [u8],
) -> Result<(), PluginError> {
    let name = volume.entry_path(path.as_ref());
    let (kind, type_bits) = match md.file_type() {
        FileType::Regular => (EntryKind::File, 0o100_000),
        FileType::Directory => (EntryKind::Dir, 0o040_000),
        FileType::Symlink => (EntryKind::Symlink, 0o120_000),
        FileType::CharacterDevice => (EntryKind::CharDevice, 0o020_000),
        FileType::BlockDevice => (EntryKind::BlockDevice, 0o060_000),
        FileType::Fifo => (EntryKind::Fifo, 0o010_000),
        FileType::Socket => (EntryKind::Socket, 0o140_000),
    };
    let mut meta = EntryMeta::new(kind);
    meta.mode = Some(type_bits | u32::from(md.mode()));
    meta.uid = Some(u64::from(md.uid()));
    meta.gid = Some(u64::from(md.gid()));
    meta.mtime = Some(time(md.modified()));
    meta.atime = Some(time(md.accessed()));
    meta.btime = md.created().map(time);
    meta.extra.insert("file_system".into(), "ext4".into());
    meta.extra
        .insert("volume_offset".into(), volume.window.start.into());
    match kind {
        EntryKind::File => {
            let size = md.len();
            meta.size = Some(size);
            let mut file = match fs.open(path) {
                Ok(file) => Some(file),
                Err(e) => {
                    session.report(&fs_error(volume, path.as_ref(), &e));
                    None
                }
            };
            let mut out = session.begin(&name, &meta)?;
            let Some(file) = file.as_mut() else {
                return out.fail(Status::CORRUPT, "the file could not be opened");
            };
            loop {
                match file.read_bytes(buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let left = size.saturating_sub(out.written());
                        let n = usize::try_from(left).unwrap_or(usize::MAX).min(n);
                        out.write_bytes(buf.get(..n).unwrap_or_default())?;
                        if n == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        let err = fs_error(volume, path.as_ref(), &e);
                        session.report(&err);
                        return out.fail(err.status(), &err.to_string());
                    }
                }
            }
            out.finish()
        }
        EntryKind::Symlink => {
            match fs.read_link(path) {
                Ok(target) => meta.link_target = Some(RawBytes(target.as_ref().to_vec())),
                Err(e) => session.report(&fs_error(volume, path.as_ref(), &e)),
            }
            session.record_entry(&name, &meta)
        }
        _ => session.record_entry(&name, &meta),
    }
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
