//! ext2/3/4 volumes, read with the `ext4-view` crate (1.0): every
//! directory, file, symbolic link and special file is delivered with its
//! mode, owner, times (creation time when the inode is large enough to hold
//! it) and content, streamed in 1 MiB pieces. Beside it, [`crate::ext4raw`]
//! reads what `ext4-view` does not expose: each entry's inode number
//! (`extra.inode`, with `extra.links`) and change time (`ctime`), taken from
//! the raw listing of its parent directory (the root is inode 2); hard
//! links; deleted directory entries and the orphan list.
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
//! custody note. fscrypt-encrypted directories are recorded and reported,
//! not decrypted. The second and later names of an inode with more than one
//! link are delivered as hard links to the first name extracted, not as
//! copies.
//!
//! Deleted entries: every directory walked is also scanned for entries left
//! in the slack of a live entry and for a block's first entry with its inode
//! cleared (copies of a live entry of the same directory, left by hash-tree
//! splits, are counted, not recorded; in an encrypted directory the names
//! are the stored ciphertext). Each becomes a `deleted` record with what its
//! inode still holds when that inode is free in the bitmap. Bytes are
//! recovered only when the free inode still maps blocks (extent tree or
//! block pointers) and every mapped block inside `i_size` is free in the
//! block bitmap; the content of those free blocks may still have been
//! overwritten since, which nothing on disk can tell. Orphan inodes (the
//! `s_last_orphan` chain) are recorded under `$orphan/<inode>` and their
//! bytes, still allocated, are delivered. The walk is bounded in depth and
//! entry count; a damaged directory or file is an error naming the volume
//! and the path, and the walk goes on.
#![forbid(unsafe_code)]

use crate::deleted::{Deleted, FoundIn, Recovered, recovered_name};
use crate::ext4raw::{self, Dirent, EXTENTS_FL, Inode, RawFs, Run};
use crate::plugin::{MAX_DEPTH, Volume, read_exact};
use exhibit_plugin_sdk::{
    EntryKind, EntryMeta, OutputFile, PluginError, RawBytes, Session, Status, Time,
};
use ext4_view::{Ext4, Ext4Error, Ext4Read, FileType, Metadata, PathBuf};
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::mpsc;

/// Bytes streamed per write to the host.
const CHUNK: usize = 1024 * 1024;
/// Largest single read `ext4-view` may ask for.
const MAX_READ: usize = 64 * 1024 * 1024;

/// Inode number of the root directory.
const ROOT_INODE: u32 = 2;

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

/// What the raw reader adds to the walk of one volume.
struct RawState<'a> {
    fs: Option<RawFs<'a>>,
    /// First entry name delivered for each inode with more than one link.
    first_names: HashMap<u32, Vec<u8>>,
    /// Inodes on the orphan list.
    orphans: HashSet<u32>,
    /// Names already used for recovered bytes.
    recovered_names: HashSet<Vec<u8>>,
    /// Entries the raw listing of their directory did not show.
    unmatched: u64,
    /// Deleted directory entries recorded.
    deleted: u64,
    /// Slack entries equal (name and inode) to a live entry of the same
    /// directory: copies left by a hash-tree leaf split or a compaction, not
    /// deletions; not recorded.
    stale_copies: u64,
}

fn walk(
    session: &Session<'_>,
    volume: &Volume<'_>,
    reader: ChannelRead,
) -> Result<(), PluginError> {
    let fs = Ext4::load(Box::new(reader)).map_err(|e| fs_error(volume, b"/", &e))?;
    let start = volume.window.start;
    let raw_fs = match RawFs::open(&volume.window) {
        Ok(raw) => Some(raw),
        Err(e) => {
            session.warn(
                Some(start),
                &format!(
                    "{} at offset {start:#x}: raw ext4 structures unreadable ({e}); inode numbers, ctime, hard links and deleted entries are not recorded",
                    volume.label
                ),
            );
            None
        }
    };
    let orphans = raw_fs.as_ref().map(RawFs::orphans).unwrap_or_default();
    for f in &orphans.findings {
        let at = start.saturating_add(f.offset);
        session.warn(
            Some(at),
            &format!("{} at offset {at:#x}: {}", volume.label, f.what),
        );
    }
    let mut raw = RawState {
        fs: raw_fs,
        first_names: HashMap::new(),
        orphans: orphans.inodes.iter().map(|i| i.number).collect(),
        recovered_names: HashSet::new(),
        unmatched: 0,
        deleted: 0,
        stale_copies: 0,
    };
    session.custody_note(
        "ext4 file system",
        serde_json::json!({
            "volume": volume.label,
            "offset": volume.window.start,
            "label": fs.label().display().to_string(),
            "uuid": fs.uuid().to_string(),
            "reader": "ext4-view 1.0 for the tree and content; raw inode, bitmap and directory-block reads for inode numbers, ctime, link counts, deleted entries and orphans",
            "journal": "committed journal transactions are replayed in memory by ext4-view and, independently, by the raw reader (reads see the journal's copy of a block); the evidence is never written",
            "journal_transactions": raw.fs.as_ref().map(|f| f.journal.transactions),
            "journal_blocks_replayed": raw.fs.as_ref().map(|f| f.journal.blocks),
            "journal_note": raw.fs.as_ref().and_then(|f| f.journal.note.clone()),
            "not_recorded": "extended attributes; entries kept in an inline-data directory's extended attribute; the orphan file of the orphan_file feature (only the s_last_orphan chain is read); deleted entries whose directory block was reused or compacted; the bytes of deleted files whose inode lost its block map (ext4 zeroes the extent tree at deletion): no carving is attempted",
        }),
    );
    let root = PathBuf::new("/");
    let mut stack: Vec<(PathBuf, usize, Option<u32>)> = vec![(root, 0, Some(ROOT_INODE))];
    let mut count: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    let mut exhausted = false;
    'walk: while let Some((dir, depth, dir_ino)) = stack.pop() {
        session.check_cancelled()?;
        let names = raw_listing(
            session, volume, &mut raw, &dir, dir_ino, &mut count, &mut buf,
        )?;
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
                exhausted = true;
                break 'walk;
            }
            let path = entry.path();
            let md = match entry.metadata() {
                Ok(md) => md,
                Err(e) => {
                    session.report(&fs_error(volume, path.as_ref(), &e));
                    continue;
                }
            };
            let ino = names.as_ref().and_then(|n| n.get(name.as_ref()).copied());
            let inode = match (ino, raw.fs.as_ref()) {
                (Some(ino), Some(rfs)) => match rfs.inode(ino) {
                    Ok(inode) => Some(inode),
                    Err(e) => {
                        session.warn(
                            Some(start),
                            &format!("{}: {}: inode {ino}: {e}", volume.label, path.display()),
                        );
                        None
                    }
                },
                _ => {
                    if names.is_some() {
                        raw.unmatched = raw.unmatched.saturating_add(1);
                    }
                    None
                }
            };
            let is_dir = md.is_dir();
            let entry_name = volume.entry_path(path.as_ref());
            let link_of = inode.as_ref().and_then(|i| {
                if i.links_count < 2 || is_dir {
                    return None;
                }
                match raw.first_names.get(&i.number) {
                    Some(first) => Some(first.clone()),
                    None => {
                        raw.first_names.insert(i.number, entry_name.clone());
                        None
                    }
                }
            });
            deliver(
                session,
                volume,
                &fs,
                &path,
                &md,
                inode.as_ref(),
                link_of,
                &mut buf,
            )?;
            if is_dir {
                if depth < MAX_DEPTH {
                    subdirs.push((path, depth.saturating_add(1), ino));
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
    let mut orphan_count = 0u64;
    if let Some(rfs) = raw.fs.as_ref().filter(|_| !exhausted) {
        for inode in &orphans.inodes {
            session.check_cancelled()?;
            if !volume.within_budget(&mut count, session) {
                break;
            }
            orphan(session, volume, rfs, inode, &mut buf)?;
            orphan_count = orphan_count.saturating_add(1);
        }
    }
    session.custody_note(
        "ext4 raw metadata",
        serde_json::json!({
            "volume": volume.label,
            "raw_reader": raw.fs.is_some(),
            "entries_without_inode": raw.unmatched,
            "deleted_entries": raw.deleted,
            "stale_copies_of_live_entries": raw.stale_copies,
            "orphan_inodes": orphan_count,
        }),
    );
    Ok(())
}

/// Lists directory `dir_ino` raw: emits its deleted entries and returns its
/// live names with their inode numbers (None when the raw reader or the
/// inode number is missing).
fn raw_listing(
    session: &Session<'_>,
    volume: &Volume<'_>,
    raw: &mut RawState<'_>,
    dir: &PathBuf,
    dir_ino: Option<u32>,
    count: &mut u64,
    buf: &mut [u8],
) -> Result<Option<HashMap<Vec<u8>, u32>>, PluginError> {
    let start = volume.window.start;
    let (Some(rfs), Some(ino)) = (raw.fs.as_ref(), dir_ino) else {
        return Ok(None);
    };
    let listing = match rfs.inode(ino).and_then(|inode| rfs.list_dir(&inode)) {
        Ok(listing) => listing,
        Err(e) => {
            session.warn(
                Some(start),
                &format!(
                    "{}: {}: raw listing of directory inode {ino}: {e}",
                    volume.label,
                    dir.display()
                ),
            );
            return Ok(None);
        }
    };
    for f in &listing.findings {
        let at = start.saturating_add(f.offset);
        session.warn(
            Some(at),
            &format!(
                "{} at offset {at:#x}: {}: {}",
                volume.label,
                dir.display(),
                f.what
            ),
        );
    }
    let names: HashMap<Vec<u8>, u32> = listing
        .live
        .iter()
        .map(|d| (d.name.clone(), d.inode))
        .collect();
    for d in &listing.deleted {
        session.check_cancelled()?;
        if d.inode != 0 && names.get(&d.name) == Some(&d.inode) {
            raw.stale_copies = raw.stale_copies.saturating_add(1);
            continue;
        }
        if !volume.within_budget(count, session) {
            break;
        }
        let mut inner = AsRef::<[u8]>::as_ref(dir).to_vec();
        if !inner.ends_with(b"/") {
            inner.push(b'/');
        }
        inner.extend_from_slice(&d.name);
        let rec = deleted_entry(session, volume, raw, d, &inner, buf)?;
        rec.emit(session)?;
        raw.deleted = raw.deleted.saturating_add(1);
    }
    Ok(Some(names))
}

fn kind_of_file_type(t: u8) -> Option<&'static str> {
    match t {
        1 => Some("file"),
        2 => Some("dir"),
        3 => Some("char_device"),
        4 => Some("block_device"),
        5 => Some("fifo"),
        6 => Some("socket"),
        7 => Some("symlink"),
        _ => None,
    }
}

fn kind_of_mode(mode: u16) -> Option<&'static str> {
    match mode & ext4raw::S_IFMT {
        0o100_000 => Some("file"),
        0o040_000 => Some("dir"),
        0o120_000 => Some("symlink"),
        0o020_000 => Some("char_device"),
        0o060_000 => Some("block_device"),
        0o010_000 => Some("fifo"),
        0o140_000 => Some("socket"),
        _ => None,
    }
}

/// Copies what an inode still holds into `rec`.
fn fill_from_inode(rec: &mut Deleted, inode: &Inode, with_dtime: bool) {
    rec.kind = kind_of_mode(inode.mode).or(rec.kind);
    rec.mode = Some(u32::from(inode.mode));
    rec.uid = Some(inode.uid);
    rec.gid = Some(inode.gid);
    rec.size = Some(inode.size);
    rec.mtime = Some(inode.mtime);
    rec.atime = Some(inode.atime);
    rec.ctime = Some(inode.ctime);
    rec.btime = inode.crtime;
    if with_dtime && inode.dtime != 0 {
        rec.dtime = Some(Time {
            secs: i64::from(inode.dtime),
            nanos: 0,
        });
    }
}

/// The record of one deleted directory entry, with its bytes delivered
/// when they are recoverable (see the module policy).
fn deleted_entry(
    session: &Session<'_>,
    volume: &Volume<'_>,
    raw: &mut RawState<'_>,
    d: &Dirent,
    inner: &[u8],
    buf: &mut [u8],
) -> Result<Deleted, PluginError> {
    let start = volume.window.start;
    let mut rec = Deleted::new(
        volume,
        "ext4",
        FoundIn::DirectoryEntry,
        start.saturating_add(d.offset),
        volume.entry_path(inner),
    );
    rec.kind = d.file_type.and_then(kind_of_file_type);
    let Some(rfs) = raw.fs.as_ref() else {
        return Ok(rec);
    };
    if d.inode == 0 {
        rec.not_recovered =
            Some("the entry's inode number was cleared (first entry of its block)".into());
        return Ok(rec);
    }
    let ino = d.inode;
    rec.inode = Some(u64::from(ino));
    match rfs.inode_allocated(ino) {
        Err(e) => {
            rec.not_recovered = Some(format!("inode {ino}: {e}"));
            return Ok(rec);
        }
        Ok(true) => {
            rec.not_recovered = Some(if raw.orphans.contains(&ino) {
                format!(
                    "inode {ino} is still allocated: it is on the orphan list (recorded under $orphan/{ino})"
                )
            } else {
                format!(
                    "inode reused: inode {ino} is allocated again (to a live name or another file); its metadata is not this entry's"
                )
            });
            return Ok(rec);
        }
        Ok(false) => {}
    }
    let inode = match rfs.inode(ino) {
        Ok(inode) => inode,
        Err(e) => {
            rec.not_recovered = Some(format!("inode {ino}: {e}"));
            return Ok(rec);
        }
    };
    if inode.mode == 0 {
        rec.not_recovered = Some(format!("inode {ino} is free and was cleared"));
        return Ok(rec);
    }
    fill_from_inode(&mut rec, &inode, true);
    if !inode.is_regular() {
        rec.not_recovered = Some("not a regular file: nothing to recover".into());
        return Ok(rec);
    }
    let runs = match recoverable_runs(rfs, &inode, volume) {
        Ok(runs) => runs,
        Err(why) => {
            rec.not_recovered = Some(why);
            return Ok(rec);
        }
    };
    let mut name = recovered_name(volume, inner);
    if raw.recovered_names.contains(&name) {
        name.extend_from_slice(format!("~inode{ino}").as_bytes());
    }
    let blocks: u64 = runs.iter().map(|r| r.len).fold(0, u64::saturating_add);
    let method = format!(
        "inode {ino} is free in the inode bitmap and its {} still maps {} run(s) ({blocks} blocks) inside i_size, every block free in the block bitmap; bytes read from those blocks up to i_size {} (holes as zeros); free blocks may have been overwritten since, which the file system cannot show",
        map_kind(&inode),
        runs.len(),
        inode.size
    );
    let (written, failure) = deliver_runs(session, volume, rfs, &inode, &runs, &name, buf)?;
    raw.recovered_names.insert(name.clone());
    rec.recovered = Some(Recovered {
        entry: RawBytes(name),
        bytes: written,
        method,
    });
    rec.not_recovered = failure;
    Ok(rec)
}

fn map_kind(inode: &Inode) -> &'static str {
    if inode.flags & EXTENTS_FL != 0 {
        "extent tree"
    } else {
        "block map"
    }
}

/// Why the bytes of `inode` cannot be delivered at all, if so.
fn unrecoverable(inode: &Inode, volume: &Volume<'_>) -> Option<String> {
    if !inode.is_regular() {
        Some("not a regular file: nothing to recover".into())
    } else if inode.size == 0 {
        Some("empty file: nothing to recover".into())
    } else if inode.size > volume.window.len {
        Some(format!(
            "i_size {} is larger than the volume; not recovered",
            inode.size
        ))
    } else if inode.flags & ext4raw::INLINE_DATA_FL != 0 {
        Some("inline data: not recovered".into())
    } else {
        None
    }
}

/// The runs of a free inode's block map inside `i_size`, if every block of
/// them is free; otherwise why its bytes are not recovered.
fn recoverable_runs(
    rfs: &RawFs<'_>,
    inode: &Inode,
    volume: &Volume<'_>,
) -> Result<Vec<Run>, String> {
    if let Some(why) = unrecoverable(inode, volume) {
        return Err(why);
    }
    let runs = rfs
        .map(inode)
        .map_err(|e| format!("block map unreadable: {e}"))?;
    if runs.is_empty() {
        return Err(if inode.flags & EXTENTS_FL != 0 {
            "ext4 zeroed the inode's extent tree at deletion".into()
        } else {
            "the inode's block pointers were zeroed at deletion".into()
        });
    }
    let nblocks = inode.size.div_ceil(rfs.sb.block_size);
    let inside: Vec<Run> = runs
        .into_iter()
        .filter(|r| r.logical < nblocks)
        .map(|mut r| {
            r.len = r.len.min(nblocks.saturating_sub(r.logical));
            r
        })
        .collect();
    for r in inside.iter().filter(|r| !r.unwritten) {
        match rfs.first_allocated(r.physical, r.len) {
            Ok(None) => {}
            Ok(Some(b)) => return Err(format!("block {b} is allocated again")),
            Err(e) => return Err(format!("block bitmap: {e}")),
        }
    }
    Ok(inside)
}

/// The metadata of bytes delivered from a deleted or orphan inode.
fn recovered_meta(volume: &Volume<'_>, inode: &Inode) -> EntryMeta {
    let mut meta = EntryMeta::new(EntryKind::File);
    meta.size = Some(inode.size);
    meta.mode = Some(u32::from(inode.mode));
    meta.uid = Some(u64::from(inode.uid));
    meta.gid = Some(u64::from(inode.gid));
    meta.mtime = Some(inode.mtime);
    meta.atime = Some(inode.atime);
    meta.ctime = Some(inode.ctime);
    meta.btime = inode.crtime;
    meta.extra.insert("file_system".into(), "ext4".into());
    meta.extra
        .insert("volume_offset".into(), volume.window.start.into());
    meta.extra.insert("inode".into(), inode.number.into());
    meta.extra.insert("deleted".into(), true.into());
    meta
}

/// Delivers `inode`'s bytes through `runs` up to `i_size` under `name`;
/// returns the bytes written and, if reading stopped early, why.
fn deliver_runs(
    session: &Session<'_>,
    volume: &Volume<'_>,
    rfs: &RawFs<'_>,
    inode: &Inode,
    runs: &[Run],
    name: &[u8],
    buf: &mut [u8],
) -> Result<(u64, Option<String>), PluginError> {
    let meta = recovered_meta(volume, inode);
    let mut out = session.begin(name, &meta)?;
    match stream_runs(rfs, runs, inode.size, &mut out, buf)? {
        None => {
            let written = out.written();
            out.finish()?;
            Ok((written, None))
        }
        Some(why) => {
            let written = out.written();
            out.fail(Status::CORRUPT, &why)?;
            Ok((
                written,
                Some(format!("reading stopped after {written} bytes: {why}")),
            ))
        }
    }
}

/// Writes zeros to `out` until it holds `to` bytes.
fn zeros_to(out: &mut OutputFile<'_>, to: u64, buf: &mut [u8]) -> Result<(), PluginError> {
    buf.fill(0);
    while out.written() < to {
        let n = usize::try_from(to.saturating_sub(out.written()))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        out.write_bytes(buf.get(..n).unwrap_or_default())?;
    }
    Ok(())
}

/// Streams the bytes of `runs` (holes and unwritten extents as zeros) up to
/// `size`; `Ok(Some(why))` when a read failed.
fn stream_runs(
    rfs: &RawFs<'_>,
    runs: &[Run],
    size: u64,
    out: &mut OutputFile<'_>,
    buf: &mut [u8],
) -> Result<Option<String>, PluginError> {
    let bs = rfs.sb.block_size;
    for r in runs {
        let Some(from) = r.logical.checked_mul(bs).filter(|&f| f < size) else {
            break;
        };
        zeros_to(out, from, buf)?;
        let end = r
            .len
            .checked_mul(bs)
            .and_then(|l| from.checked_add(l))
            .unwrap_or(u64::MAX)
            .min(size);
        if r.unwritten {
            zeros_to(out, end, buf)?;
            continue;
        }
        let base = match rfs.block_offset(r.physical) {
            Ok(b) => b,
            Err(e) => return Ok(Some(e.to_string())),
        };
        while out.written() < end {
            let done = out.written().saturating_sub(from);
            let n = usize::try_from(end.saturating_sub(out.written()))
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Some(piece) = buf.get_mut(..n) else {
                break;
            };
            if let Err(e) = rfs.read_at(base.saturating_add(done), piece) {
                return Ok(Some(e.to_string()));
            }
            out.write_bytes(piece)?;
        }
    }
    zeros_to(out, size, buf)?;
    Ok(None)
}

/// Records one orphan inode and delivers its bytes.
fn orphan(
    session: &Session<'_>,
    volume: &Volume<'_>,
    rfs: &RawFs<'_>,
    inode: &Inode,
    buf: &mut [u8],
) -> Result<(), PluginError> {
    let ino = inode.number;
    let inner = format!("$orphan/{ino}");
    let mut rec = Deleted::new(
        volume,
        "ext4",
        FoundIn::OrphanInode,
        volume.window.start.saturating_add(inode.offset),
        volume.entry_path(inner.as_bytes()),
    );
    rec.inode = Some(u64::from(ino));
    // i_dtime of an orphan links to the next orphan; it is no deletion time.
    fill_from_inode(&mut rec, inode, false);
    if let Some(why) = unrecoverable(inode, volume) {
        rec.not_recovered = Some(why);
        return rec.emit(session);
    }
    match rfs.map(inode) {
        Err(e) => rec.not_recovered = Some(format!("block map unreadable: {e}")),
        Ok(runs) => {
            let name = recovered_name(volume, inner.as_bytes());
            let (written, failure) = deliver_runs(session, volume, rfs, inode, &runs, &name, buf)?;
            rec.recovered = Some(Recovered {
                entry: RawBytes(name),
                bytes: written,
                method: format!(
                    "orphan inode {ino} (on the s_last_orphan list: unlinked while open, still allocated): bytes read through its {} up to i_size {} (holes as zeros)",
                    map_kind(inode),
                    inode.size
                ),
            });
            rec.not_recovered = failure;
        }
    }
    rec.emit(session)
}

/// Delivers one entry: metadata, and the content of a regular file; the
/// second and later names of a multiply-linked inode as hard links to the
/// first (`link_of`).
#[allow(clippy::too_many_arguments)]
fn deliver(
    session: &Session<'_>,
    volume: &Volume<'_>,
    fs: &Ext4,
    path: &PathBuf,
    md: &Metadata,
    inode: Option<&Inode>,
    link_of: Option<Vec<u8>>,
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
    if let Some(inode) = inode {
        meta.ctime = Some(inode.ctime);
        meta.extra.insert("inode".into(), inode.number.into());
        meta.extra.insert("links".into(), inode.links_count.into());
        if inode.flags & ext4raw::ENCRYPT_FL != 0 {
            meta.extra.insert("encrypted".into(), true.into());
        }
    }
    if let Some(first) = link_of {
        meta.kind = EntryKind::Hardlink;
        meta.size = Some(md.len());
        meta.link_target = Some(RawBytes(first));
        return session.record_entry(&name, &meta);
    }
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
