//! The walk of an ext2/3/4 volume shared by its two tree readers: the
//! `ext4-view` crate ([`crate::ext4fs`]) and, when `ext4-view` 1.0 refuses
//! the volume's incompatible features (`casefold`, which every Android 11+
//! `userdata` has, `inline_data`, `large_dir`, `ea_inode`, `meta_bg`,
//! `mmp`), exhibit's own raw reader ([`crate::ext4raw`], [`fallback`]).
//! A reader only lists directories ([`Tree`]), streams file content and
//! reads link targets; everything else is done here once, whatever the
//! reader: the entry metadata (mode, owner, times, inode number, link count
//! and ctime from the raw inode), hard links (the second and later names of
//! an inode are delivered as links to the first), deleted directory entries
//! and their recovery, the orphan list, fscrypt-encrypted directories, and
//! the bounds (depth [`MAX_DEPTH`], [`Volume::within_budget`], the raw
//! reader's per-directory caps).
//!
//! Policy of the fallback: the same tree and the same metadata as the
//! `ext4-view` walk would deliver; content is mapped block by block through
//! the extent tree or the ext2/3 block map and streamed in 1 MiB pieces up
//! to `i_size`, holes and unwritten extents as zeros; inline data (in
//! `i_block` and the `system.data` attribute) is read from the inode.
//! Directories are read in full (linear, hash-tree leaves, inline), so the
//! hash and case-folding rules of lookups are never needed. The journal is
//! replayed in memory as for the `ext4-view` walk; the evidence is never
//! written. Which reader was used, and why, is in the `ext4 file system`
//! custody note.
//!
//! fscrypt-encrypted directories are listed, not decrypted: each entry of
//! such a tree is recorded, without content, as
//! `<dir>/$encrypted/<hex of the stored (ciphertext) name>` (its
//! descendants under that name, again in hex), with its inode number,
//! mode, owner, size and times and `extra.encrypted = true`; one warning
//! names each encrypted tree's root.
//!
//! Deleted entries: every directory walked is also scanned for entries left
//! in the slack of a live entry and for a block's first entry with its inode
//! cleared (copies of a live entry of the same directory, left by hash-tree
//! splits, are counted, not recorded; in an encrypted directory the name is
//! the hex of the stored ciphertext, as for live entries). Each becomes a
//! `deleted` record with what its inode still holds when that inode is free
//! in the bitmap. Bytes are recovered only when the free inode still maps
//! blocks (extent tree or block pointers) and every mapped block inside
//! `i_size` is free in the block bitmap; the content of those free blocks
//! may still have been overwritten since, which nothing on disk can tell.
//! Orphan inodes (the `s_last_orphan` chain) are recorded under
//! `$orphan/<inode>` and their bytes, still allocated, are delivered. A
//! damaged directory or file is an error naming the volume and the path,
//! and the walk goes on. A file whose `i_size` is more than
//! [`MAX_SIZE_FACTOR`] times the volume is not streamed (it would be
//! almost all holes: a corrupt size, whose zeros would never end).
#![forbid(unsafe_code)]

use crate::deleted::{Deleted, FoundIn, Recovered, recovered_name};
use crate::ext4raw::{self, Dirent, ENCRYPT_FL, EXTENTS_FL, INLINE_DATA_FL, Inode, RawFs, Run};
use crate::plugin::{MAX_DEPTH, Volume};
use exhibit_plugin_sdk::{
    EntryKind, EntryMeta, OutputFile, PluginError, RawBytes, Session, Status, Time,
};
use std::collections::{HashMap, HashSet};

/// Bytes streamed per write to the host.
pub(crate) const CHUNK: usize = 1024 * 1024;
/// Inode number of the root directory.
pub(crate) const ROOT_INODE: u32 = 2;
/// A file larger than this many times its volume is not streamed.
pub(crate) const MAX_SIZE_FACTOR: u64 = 16;

/// Incompatible features `ext4-view` 1.0 refuses (`check_incompat_features`):
/// compression, journal_dev, meta_bg, mmp, ea_inode, dirdata, large_dir,
/// inline_data, and every bit it does not know (casefold, 0x20000, among them).
const VIEW_REFUSED: u32 = 0x1 | 0x8 | 0x10 | 0x100 | 0x400 | 0x1000 | 0x4000 | 0x8000;
/// Incompatible bits `ext4-view` 1.0 knows.
const VIEW_KNOWN: u32 = 0x1_F7DF;
/// `filetype`, which `ext4-view` requires.
const INCOMPAT_FILETYPE: u32 = 0x2;

/// What an entry is, as either reader sees it.
#[derive(Debug, Clone)]
pub(crate) struct Attrs {
    pub(crate) kind: EntryKind,
    /// Type and permission bits.
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) mtime: Time,
    pub(crate) atime: Time,
    pub(crate) btime: Option<Time>,
}

impl Attrs {
    /// The attributes a raw inode holds; `None` for an unknown file type.
    pub(crate) fn of_inode(inode: &Inode) -> Option<Attrs> {
        Some(Attrs::of_inode_as(
            inode,
            kind_of_mode(u32::from(inode.mode))?,
        ))
    }

    /// The attributes of `inode`, taken as a `kind`.
    fn of_inode_as(inode: &Inode, kind: EntryKind) -> Attrs {
        Attrs {
            kind,
            mode: u32::from(inode.mode),
            uid: inode.uid,
            gid: inode.gid,
            size: inode.size,
            mtime: inode.mtime,
            atime: inode.atime,
            btime: inode.crtime,
        }
    }
}

/// The entry kind of a mode's type bits.
pub(crate) fn kind_of_mode(mode: u32) -> Option<EntryKind> {
    match mode & u32::from(ext4raw::S_IFMT) {
        0o100_000 => Some(EntryKind::File),
        0o040_000 => Some(EntryKind::Dir),
        0o120_000 => Some(EntryKind::Symlink),
        0o020_000 => Some(EntryKind::CharDevice),
        0o060_000 => Some(EntryKind::BlockDevice),
        0o010_000 => Some(EntryKind::Fifo),
        0o140_000 => Some(EntryKind::Socket),
        _ => None,
    }
}

/// One entry of a directory as a reader lists it.
pub(crate) struct Item<H> {
    /// Path inside the volume (`/a/b`).
    pub(crate) path: Vec<u8>,
    pub(crate) attrs: Attrs,
    /// The raw inode, when the reader already has it.
    pub(crate) inode: Option<Inode>,
    /// What the reader needs to open, follow or descend into the entry.
    pub(crate) handle: H,
}

/// The entries of one directory; an error item is reported and the walk
/// goes on with the next item (a reader stops its iterator itself when it
/// cannot trust it to advance).
pub(crate) type Entries<'t, H> = Box<dyn Iterator<Item = Result<Item<H>, PluginError>> + 't>;

/// Why a directory is not listed by a reader.
pub(crate) enum DirError {
    /// fscrypt: the reader cannot read the names.
    Encrypted,
    Failed(PluginError),
}

/// A reader of the live tree.
pub(crate) trait Tree {
    type Handle;
    /// Whether this is the raw reader (its directory listing is the raw one).
    const RAW: bool;
    fn root(&self) -> Self::Handle;
    /// The entries of `dir` (`.` and `..` left out); `live` is the raw
    /// listing of it, when there is one.
    fn read_dir<'t>(
        &'t self,
        path: &[u8],
        dir: &Self::Handle,
        live: Option<&'t [Dirent]>,
    ) -> Result<Entries<'t, Self::Handle>, DirError>;
    /// Streams `size` bytes of a regular file to `out`; `Ok(Err(_))` when
    /// its content could not be read in full.
    fn stream(
        &self,
        path: &[u8],
        file: &Self::Handle,
        size: u64,
        out: &mut OutputFile<'_>,
        buf: &mut [u8],
    ) -> Result<Result<(), PluginError>, PluginError>;
    fn read_link(&self, path: &[u8], link: &Self::Handle) -> Result<Vec<u8>, PluginError>;
}

/// The state of the walk of one volume.
pub(crate) struct Walk<'a, 's> {
    session: &'a Session<'s>,
    volume: &'a Volume<'a>,
    fs: Option<&'a RawFs<'a>>,
    orphans: Vec<Inode>,
    orphan_set: HashSet<u32>,
    /// First entry name delivered for each inode with more than one link.
    first_names: HashMap<u32, Vec<u8>>,
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
    /// Roots of encrypted trees, and entries recorded inside them.
    encrypted_roots: u64,
    encrypted_entries: u64,
    /// Directory inodes walked: ext4 has no hard-linked directories, so a
    /// second visit is a loop in a corrupt tree.
    walked_dirs: HashSet<u32>,
    count: u64,
    exhausted: bool,
    buf: Vec<u8>,
}

/// A directory waiting to be walked: path, reader handle, depth, inode.
type Pending<H> = (Vec<u8>, H, usize, Option<u32>);

impl<'a, 's> Walk<'a, 's> {
    /// Starts the walk of `volume`; `fs` is the raw reader, if it opened.
    pub(crate) fn new(
        session: &'a Session<'s>,
        volume: &'a Volume<'a>,
        fs: Option<&'a RawFs<'a>>,
    ) -> Walk<'a, 's> {
        let orphans = fs.map(RawFs::orphans).unwrap_or_default();
        for f in &orphans.findings {
            let at = volume.window.start.saturating_add(f.offset);
            session.warn(
                Some(at),
                &format!("{} at offset {at:#x}: {}", volume.label, f.what),
            );
        }
        Walk {
            session,
            volume,
            fs,
            orphan_set: orphans.inodes.iter().map(|i| i.number).collect(),
            orphans: orphans.inodes,
            first_names: HashMap::new(),
            recovered_names: HashSet::new(),
            unmatched: 0,
            deleted: 0,
            stale_copies: 0,
            encrypted_roots: 0,
            encrypted_entries: 0,
            walked_dirs: HashSet::new(),
            count: 0,
            exhausted: false,
            buf: vec![0u8; CHUNK],
        }
    }

    /// The `ext4 file system` custody note: who read the tree and how the
    /// journal was replayed; `fields` adds the reader's own.
    pub(crate) fn fs_note(&self, label: &str, uuid: &str, reader: &str, fields: serde_json::Value) {
        let mut note = serde_json::json!({
            "volume": self.volume.label,
            "offset": self.volume.window.start,
            "label": label,
            "uuid": uuid,
            "reader": reader,
            "journal_transactions": self.fs.map(|f| f.journal.transactions),
            "journal_blocks_replayed": self.fs.map(|f| f.journal.blocks),
            "journal_note": self.fs.and_then(|f| f.journal.note.clone()),
            "encrypted": "fscrypt-encrypted directories are listed under <dir>/$encrypted/ by the hex of their stored (ciphertext) names, with inode metadata; their names and content are not decrypted and no content is delivered",
            "not_recorded": "extended attributes; the orphan file of the orphan_file feature (only the s_last_orphan chain is read); deleted entries whose directory block was reused or compacted; the bytes of deleted files whose inode lost its block map (ext4 zeroes the extent tree at deletion), and of deleted inline-data files: no carving is attempted",
        });
        if let (Some(map), serde_json::Value::Object(more)) = (note.as_object_mut(), fields) {
            map.extend(more);
        }
        self.session.custody_note("ext4 file system", note);
    }

    fn start(&self) -> u64 {
        self.volume.window.start
    }

    /// Walks the live tree of `tree`, depth first, directories in the order
    /// they are listed.
    pub(crate) fn tree<T: Tree>(&mut self, tree: &T) -> Result<(), PluginError> {
        let mut stack: Vec<Pending<T::Handle>> =
            vec![(b"/".to_vec(), tree.root(), 0, Some(ROOT_INODE))];
        while let Some((dir, handle, depth, dir_ino)) = stack.pop() {
            self.session.check_cancelled()?;
            if dir_ino.is_some_and(|ino| !self.first_visit(&dir, ino)) {
                continue;
            }
            let dir_inode = match (self.fs, dir_ino) {
                (Some(fs), Some(ino)) => match fs.inode(ino) {
                    Ok(inode) => Some(inode),
                    Err(e) => {
                        self.unlisted::<T>(&dir, ino, &e.to_string());
                        None
                    }
                },
                _ => None,
            };
            if let Some(d) = dir_inode.as_ref().filter(|d| d.flags & ENCRYPT_FL != 0) {
                self.encrypted(&dir, d, depth)?;
                continue;
            }
            let live = match &dir_inode {
                Some(d) => self.raw_listing::<T>(&dir, d, false)?,
                None => None,
            };
            if self.exhausted {
                break;
            }
            let names: HashMap<&[u8], u32> = live
                .iter()
                .flatten()
                .map(|d| (d.name.as_slice(), d.inode))
                .collect();
            let entries = match tree.read_dir(&dir, &handle, live.as_deref()) {
                Ok(entries) => entries,
                Err(DirError::Encrypted) => {
                    self.session.warn(
                        Some(self.start()),
                        &format!(
                            "{}: {}: encrypted (fscrypt), not decrypted; its raw listing was unreadable, so its entries are not listed",
                            self.volume.label,
                            String::from_utf8_lossy(&dir)
                        ),
                    );
                    continue;
                }
                Err(DirError::Failed(e)) => {
                    self.session.report(&e);
                    continue;
                }
            };
            let mut subdirs = Vec::new();
            for item in entries {
                self.session.check_cancelled()?;
                let item = match item {
                    Ok(item) => item,
                    Err(e) => {
                        self.session.report(&e);
                        continue;
                    }
                };
                if !self.volume.within_budget(&mut self.count, self.session) {
                    self.exhausted = true;
                    return Ok(());
                }
                let ino = item.inode.as_ref().map(|i| i.number).or_else(|| {
                    let name = item.path.rsplit(|&c| c == b'/').next().unwrap_or_default();
                    names.get(name).copied()
                });
                let inode = match (item.inode.clone(), ino, self.fs) {
                    (Some(inode), _, _) => Some(inode),
                    (None, Some(ino), Some(fs)) => match fs.inode(ino) {
                        Ok(inode) => Some(inode),
                        Err(e) => {
                            self.session.warn(
                                Some(self.start()),
                                &format!(
                                    "{}: {}: inode {ino}: {e}",
                                    self.volume.label,
                                    String::from_utf8_lossy(&item.path)
                                ),
                            );
                            None
                        }
                    },
                    _ => {
                        if live.is_some() {
                            self.unmatched = self.unmatched.saturating_add(1);
                        }
                        None
                    }
                };
                self.deliver(tree, &item, inode.as_ref())?;
                if item.attrs.kind == EntryKind::Dir {
                    if depth < MAX_DEPTH {
                        subdirs.push((item.path, item.handle, depth.saturating_add(1), ino));
                    } else {
                        self.too_deep(&item.path);
                    }
                }
            }
            // Walk subdirectories in the order they were listed.
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }

    /// Whether directory inode `ino` (at `path`) is walked for the first
    /// time; a second visit is reported.
    fn first_visit(&mut self, path: &[u8], ino: u32) -> bool {
        if self.walked_dirs.insert(ino) {
            return true;
        }
        self.session.report(&self.error(
            path,
            format!("directory inode {ino} is reached a second time (a loop in a corrupt tree); not walked again"),
        ));
        false
    }

    fn too_deep(&self, path: &[u8]) {
        self.session.warn(
            Some(self.start()),
            &format!(
                "{}: {}: nested deeper than {MAX_DEPTH} directories; not walked",
                self.volume.label,
                String::from_utf8_lossy(path)
            ),
        );
    }

    /// A directory whose raw listing failed: a warning beside `ext4-view`
    /// (which still lists it), an error naming it for the raw reader.
    fn unlisted<T: Tree>(&self, dir: &[u8], ino: u32, why: &str) {
        let what = format!(
            "{} at offset {:#x}: {}: raw listing of directory inode {ino}: {why}",
            self.volume.label,
            self.start(),
            String::from_utf8_lossy(dir)
        );
        if T::RAW {
            self.session.report(&PluginError::Corrupt {
                offset: Some(self.start()),
                what,
            });
        } else {
            self.session.warn(Some(self.start()), &what);
        }
    }

    /// Lists directory `inode` raw: emits its deleted entries and returns
    /// its live entries (`None` when it could not be read). In an
    /// encrypted directory (`hex`) deleted names are the hex of the
    /// ciphertext.
    fn raw_listing<T: Tree>(
        &mut self,
        dir: &[u8],
        inode: &Inode,
        hex: bool,
    ) -> Result<Option<Vec<Dirent>>, PluginError> {
        let Some(fs) = self.fs else {
            return Ok(None);
        };
        let listing = match fs.list_dir(inode) {
            Ok(listing) => listing,
            Err(e) => {
                self.unlisted::<T>(dir, inode.number, &e.to_string());
                return Ok(None);
            }
        };
        for f in &listing.findings {
            let at = self.start().saturating_add(f.offset);
            self.session.warn(
                Some(at),
                &format!(
                    "{} at offset {at:#x}: {}: {}",
                    self.volume.label,
                    String::from_utf8_lossy(dir),
                    f.what
                ),
            );
        }
        let names: HashMap<&[u8], u32> = listing
            .live
            .iter()
            .map(|d| (d.name.as_slice(), d.inode))
            .collect();
        for d in &listing.deleted {
            self.session.check_cancelled()?;
            if d.inode != 0 && names.get(d.name.as_slice()) == Some(&d.inode) {
                self.stale_copies = self.stale_copies.saturating_add(1);
                continue;
            }
            if !self.volume.within_budget(&mut self.count, self.session) {
                self.exhausted = true;
                break;
            }
            let inner = child_path(dir, &d.name, hex);
            let rec = self.deleted_entry(fs, d, &inner)?;
            rec.emit(self.session)?;
            self.deleted = self.deleted.saturating_add(1);
        }
        Ok(Some(listing.live))
    }

    /// The metadata of a live entry: its attributes, and from the raw
    /// inode its ctime, number, link count and encryption.
    fn meta(&self, attrs: &Attrs, inode: Option<&Inode>) -> EntryMeta {
        let mut meta = EntryMeta::new(attrs.kind);
        meta.mode = Some(attrs.mode);
        meta.uid = Some(u64::from(attrs.uid));
        meta.gid = Some(u64::from(attrs.gid));
        meta.mtime = Some(attrs.mtime);
        meta.atime = Some(attrs.atime);
        meta.btime = attrs.btime;
        meta.extra.insert("file_system".into(), "ext4".into());
        meta.extra
            .insert("volume_offset".into(), self.volume.window.start.into());
        if let Some(inode) = inode {
            meta.ctime = Some(inode.ctime);
            meta.extra.insert("inode".into(), inode.number.into());
            meta.extra.insert("links".into(), inode.links_count.into());
            if inode.flags & ENCRYPT_FL != 0 {
                meta.extra.insert("encrypted".into(), true.into());
            }
        }
        meta
    }

    /// The first name delivered for a multiply-linked inode, when `name` is
    /// a later one (then delivered as a hard link to it).
    fn link_of(&mut self, inode: Option<&Inode>, kind: EntryKind, name: &[u8]) -> Option<Vec<u8>> {
        let inode = inode.filter(|i| i.links_count >= 2 && kind != EntryKind::Dir)?;
        match self.first_names.get(&inode.number) {
            Some(first) => Some(first.clone()),
            None => {
                self.first_names.insert(inode.number, name.to_vec());
                None
            }
        }
    }

    /// Delivers one live entry: metadata, and the content of a regular
    /// file or the target of a link.
    fn deliver<T: Tree>(
        &mut self,
        tree: &T,
        item: &Item<T::Handle>,
        inode: Option<&Inode>,
    ) -> Result<(), PluginError> {
        let name = self.volume.entry_path(&item.path);
        let mut meta = self.meta(&item.attrs, inode);
        if let Some(first) = self.link_of(inode, item.attrs.kind, &name) {
            meta.kind = EntryKind::Hardlink;
            meta.size = Some(item.attrs.size);
            meta.link_target = Some(RawBytes(first));
            return self.session.record_entry(&name, &meta);
        }
        match item.attrs.kind {
            EntryKind::File => {
                let size = item.attrs.size;
                meta.size = Some(size);
                let mut out = self.session.begin(&name, &meta)?;
                let failure = if size > self.volume.window.len.saturating_mul(MAX_SIZE_FACTOR) {
                    Err(self.error(
                        &item.path,
                        format!(
                            "i_size {size} is more than {MAX_SIZE_FACTOR} times the volume; content not delivered"
                        ),
                    ))
                } else {
                    tree.stream(&item.path, &item.handle, size, &mut out, &mut self.buf)?
                };
                match failure {
                    Ok(()) => out.finish(),
                    Err(err) => {
                        self.session.report(&err);
                        out.fail(err.status(), &err.to_string())
                    }
                }
            }
            EntryKind::Symlink => {
                match tree.read_link(&item.path, &item.handle) {
                    Ok(target) => meta.link_target = Some(RawBytes(target)),
                    Err(e) => self.session.report(&e),
                }
                self.session.record_entry(&name, &meta)
            }
            _ => self.session.record_entry(&name, &meta),
        }
    }

    /// A damaged entry: an error naming the volume and the path.
    fn error(&self, path: &[u8], what: impl std::fmt::Display) -> PluginError {
        corrupt_at(self.volume, path, what)
    }

    /// Records the tree under encrypted directory `root` (see the module
    /// policy), bounded in depth and entry count.
    fn encrypted(&mut self, root: &[u8], dir: &Inode, depth: usize) -> Result<(), PluginError> {
        let Some(fs) = self.fs else {
            return Ok(());
        };
        let mut base = root.to_vec();
        if !base.ends_with(b"/") {
            base.push(b'/');
        }
        base.extend_from_slice(b"$encrypted");
        self.session.warn(
            Some(self.start()),
            &format!(
                "{}: {}: encrypted (fscrypt), not decrypted; its entries are listed under {} by their stored names in hex, without content",
                self.volume.label,
                String::from_utf8_lossy(root),
                String::from_utf8_lossy(&self.volume.entry_path(&base))
            ),
        );
        self.encrypted_roots = self.encrypted_roots.saturating_add(1);
        let mut stack = vec![(base.clone(), dir.clone(), depth)];
        while let Some((path, inode, depth)) = stack.pop() {
            self.session.check_cancelled()?;
            if path != base && !self.first_visit(&path, inode.number) {
                continue;
            }
            let Some(live) = self.raw_listing::<RawTree<'_>>(&path, &inode, true)? else {
                continue;
            };
            if self.exhausted {
                return Ok(());
            }
            for d in live.iter().filter(|d| d.name != b"." && d.name != b"..") {
                self.session.check_cancelled()?;
                if !self.volume.within_budget(&mut self.count, self.session) {
                    self.exhausted = true;
                    return Ok(());
                }
                let child = child_path(&path, &d.name, true);
                let inode = match fs.inode(d.inode) {
                    Ok(inode) => inode,
                    Err(e) => {
                        self.session
                            .report(&self.error(&child, format!("inode {}: {e}", d.inode)));
                        continue;
                    }
                };
                let Some(attrs) = Attrs::of_inode(&inode) else {
                    self.session.report(&self.error(
                        &child,
                        format!(
                            "inode {}: unknown file type in mode {:#o}",
                            inode.number, inode.mode
                        ),
                    ));
                    continue;
                };
                let mut meta = self.meta(&attrs, Some(&inode));
                meta.size = Some(inode.size);
                meta.extra.insert("encrypted".into(), true.into());
                self.session
                    .record_entry(&self.volume.entry_path(&child), &meta)?;
                self.encrypted_entries = self.encrypted_entries.saturating_add(1);
                if attrs.kind == EntryKind::Dir {
                    if depth < MAX_DEPTH {
                        stack.push((child, inode, depth.saturating_add(1)));
                    } else {
                        self.too_deep(&child);
                    }
                }
            }
        }
        Ok(())
    }

    /// Records (and delivers the bytes of) the orphan inodes, then writes
    /// the `ext4 raw metadata` custody note.
    pub(crate) fn finish(mut self) -> Result<(), PluginError> {
        let mut orphan_count = 0u64;
        if let Some(fs) = self.fs.filter(|_| !self.exhausted) {
            let orphans = std::mem::take(&mut self.orphans);
            for inode in &orphans {
                self.session.check_cancelled()?;
                if !self.volume.within_budget(&mut self.count, self.session) {
                    break;
                }
                self.orphan(fs, inode)?;
                orphan_count = orphan_count.saturating_add(1);
            }
        }
        self.session.custody_note(
            "ext4 raw metadata",
            serde_json::json!({
                "volume": self.volume.label,
                "raw_reader": self.fs.is_some(),
                "entries_without_inode": self.unmatched,
                "deleted_entries": self.deleted,
                "stale_copies_of_live_entries": self.stale_copies,
                "orphan_inodes": orphan_count,
                "encrypted_directories": self.encrypted_roots,
                "encrypted_entries": self.encrypted_entries,
            }),
        );
        Ok(())
    }

    /// The record of one deleted directory entry, with its bytes delivered
    /// when they are recoverable (see the module policy).
    fn deleted_entry(
        &mut self,
        fs: &RawFs<'_>,
        d: &Dirent,
        inner: &[u8],
    ) -> Result<Deleted, PluginError> {
        let volume = self.volume;
        let mut rec = Deleted::new(
            volume,
            "ext4",
            FoundIn::DirectoryEntry,
            self.start().saturating_add(d.offset),
            volume.entry_path(inner),
        );
        rec.kind = d.file_type.and_then(kind_of_file_type);
        if d.inode == 0 {
            rec.not_recovered =
                Some("the entry's inode number was cleared (first entry of its block)".into());
            return Ok(rec);
        }
        let ino = d.inode;
        rec.inode = Some(u64::from(ino));
        match fs.inode_allocated(ino) {
            Err(e) => {
                rec.not_recovered = Some(format!("inode {ino}: {e}"));
                return Ok(rec);
            }
            Ok(true) => {
                rec.not_recovered = Some(if self.orphan_set.contains(&ino) {
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
        let inode = match fs.inode(ino) {
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
        let runs = match recoverable_runs(fs, &inode, volume) {
            Ok(runs) => runs,
            Err(why) => {
                rec.not_recovered = Some(why);
                return Ok(rec);
            }
        };
        let mut name = recovered_name(volume, inner);
        if self.recovered_names.contains(&name) {
            name.extend_from_slice(format!("~inode{ino}").as_bytes());
        }
        let blocks: u64 = runs.iter().map(|r| r.len).fold(0, u64::saturating_add);
        let method = format!(
            "inode {ino} is free in the inode bitmap and its {} still maps {} run(s) ({blocks} blocks) inside i_size, every block free in the block bitmap; bytes read from those blocks up to i_size {} (holes as zeros); free blocks may have been overwritten since, which the file system cannot show",
            map_kind(&inode),
            runs.len(),
            inode.size
        );
        let (written, failure) = self.deliver_runs(fs, &inode, &runs, &name)?;
        self.recovered_names.insert(name.clone());
        rec.recovered = Some(Recovered {
            entry: RawBytes(name),
            bytes: written,
            method,
        });
        rec.not_recovered = failure;
        Ok(rec)
    }

    /// Delivers `inode`'s bytes through `runs` up to `i_size` under `name`;
    /// returns the bytes written and, if reading stopped early, why.
    fn deliver_runs(
        &mut self,
        fs: &RawFs<'_>,
        inode: &Inode,
        runs: &[Run],
        name: &[u8],
    ) -> Result<(u64, Option<String>), PluginError> {
        let mut meta = self.meta(&Attrs::of_inode_as(inode, EntryKind::File), Some(inode));
        meta.size = Some(inode.size);
        meta.extra.remove("links");
        meta.extra.insert("deleted".into(), true.into());
        let mut out = self.session.begin(name, &meta)?;
        match stream_runs(fs, runs, inode.size, &mut out, &mut self.buf)? {
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

    /// Records one orphan inode and delivers its bytes.
    fn orphan(&mut self, fs: &RawFs<'_>, inode: &Inode) -> Result<(), PluginError> {
        let volume = self.volume;
        let ino = inode.number;
        let inner = format!("$orphan/{ino}");
        let mut rec = Deleted::new(
            volume,
            "ext4",
            FoundIn::OrphanInode,
            self.start().saturating_add(inode.offset),
            volume.entry_path(inner.as_bytes()),
        );
        rec.inode = Some(u64::from(ino));
        // i_dtime of an orphan links to the next orphan; it is no deletion time.
        fill_from_inode(&mut rec, inode, false);
        if let Some(why) = unrecoverable(inode, volume) {
            rec.not_recovered = Some(why);
            return rec.emit(self.session);
        }
        match fs.map(inode) {
            Err(e) => rec.not_recovered = Some(format!("block map unreadable: {e}")),
            Ok(runs) => {
                let name = recovered_name(volume, inner.as_bytes());
                let (written, failure) = self.deliver_runs(fs, inode, &runs, &name)?;
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
        rec.emit(self.session)
    }
}

/// `dir/name`, the name in hex inside an encrypted tree.
fn child_path(dir: &[u8], name: &[u8], hex: bool) -> Vec<u8> {
    let mut out = dir.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    if hex {
        for b in name {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
    } else {
        out.extend_from_slice(name);
    }
    out
}

/// An error naming the volume and a path inside it.
pub(crate) fn corrupt_at(
    volume: &Volume<'_>,
    path: &[u8],
    what: impl std::fmt::Display,
) -> PluginError {
    let start = volume.window.start;
    PluginError::Corrupt {
        offset: Some(start),
        what: format!(
            "{} at offset {start:#x}: {}: {what}",
            volume.label,
            String::from_utf8_lossy(path)
        ),
    }
}

/// Walks `volume` with the raw reader after `ext4-view` refused it with
/// `refusal` (an incompatible feature). Fails, naming both reasons, when
/// the raw reader cannot read it either.
pub(crate) fn fallback(
    session: &Session<'_>,
    volume: &Volume<'_>,
    refusal: &str,
) -> Result<(), PluginError> {
    let start = volume.window.start;
    let unsupported = |why: String| PluginError::Unsupported {
        feature: format!("{} at offset {start:#x}: /: {refusal}; {why}", volume.label),
    };
    let fs = RawFs::open(&volume.window)
        .map_err(|e| unsupported(format!("the raw reader cannot read it either: {e}")))?;
    let incompat = fs.sb.incompat;
    let unreadable = incompat & (ext4raw::INCOMPAT_UNREADABLE | !ext4raw::INCOMPAT_KNOWN);
    if unreadable != 0 {
        return Err(unsupported(format!(
            "the raw reader does not read the feature(s) {} either",
            ext4raw::incompat_names(unreadable).join(", ")
        )));
    }
    let refused = incompat & (VIEW_REFUSED | !VIEW_KNOWN);
    let mut names = ext4raw::incompat_names(refused);
    if incompat & INCOMPAT_FILETYPE == 0 {
        names.push("no filetype".into());
    }
    let why = if names.is_empty() {
        format!("ext4-view 1.0 refuses this volume ({refusal})")
    } else {
        format!(
            "ext4-view 1.0 refuses the incompatible feature(s) {}",
            names.join(", ")
        )
    };
    let mut walk = Walk::new(session, volume, Some(&fs));
    walk.fs_note(
        &String::from_utf8_lossy(&fs.sb.volume_name),
        &fs.sb.uuid_string(),
        &format!(
            "{why}; read by exhibit's own raw reader (tree, metadata and content), which replays the journal the same way; casefold name lookups are not needed because the walk lists directories in full"
        ),
        serde_json::json!({
            "fallback": true,
            "ext4_view_error": refusal,
            "refused_features": names,
            "features": ext4raw::incompat_names(incompat),
            "journal": "committed journal transactions are replayed in memory by the raw reader (reads see the journal's copy of a block); the evidence is never written",
        }),
    );
    walk.tree(&RawTree { fs: &fs, volume })?;
    walk.finish()
}

/// The raw reader as a [`Tree`]: directories from their raw listing,
/// entries from their inodes.
pub(crate) struct RawTree<'a> {
    fs: &'a RawFs<'a>,
    volume: &'a Volume<'a>,
}

impl Tree for RawTree<'_> {
    type Handle = Option<Inode>;
    const RAW: bool = true;

    fn root(&self) -> Option<Inode> {
        None
    }

    fn read_dir<'t>(
        &'t self,
        path: &[u8],
        _dir: &Option<Inode>,
        live: Option<&'t [Dirent]>,
    ) -> Result<Entries<'t, Option<Inode>>, DirError> {
        // The walk has reported why the listing is missing.
        let Some(live) = live else {
            return Ok(Box::new(std::iter::empty()));
        };
        let dir = path.to_vec();
        Ok(Box::new(
            live.iter()
                .filter(|d| d.name != b"." && d.name != b"..")
                .map(move |d| {
                    let path = child_path(&dir, &d.name, false);
                    let inode = match self.fs.inode(d.inode) {
                        Ok(inode) => inode,
                        Err(e) => {
                            return Err(corrupt_at(
                                self.volume,
                                &path,
                                format!("inode {}: {e}", d.inode),
                            ));
                        }
                    };
                    let Some(attrs) = Attrs::of_inode(&inode) else {
                        return Err(corrupt_at(
                            self.volume,
                            &path,
                            format!(
                                "inode {}: unknown file type in mode {:#o}",
                                inode.number, inode.mode
                            ),
                        ));
                    };
                    Ok(Item {
                        path,
                        attrs,
                        handle: Some(inode.clone()),
                        inode: Some(inode),
                    })
                }),
        ))
    }

    fn stream(
        &self,
        path: &[u8],
        file: &Option<Inode>,
        size: u64,
        out: &mut OutputFile<'_>,
        buf: &mut [u8],
    ) -> Result<Result<(), PluginError>, PluginError> {
        let Some(inode) = file else {
            return Ok(Err(corrupt_at(self.volume, path, "no inode")));
        };
        let bad = |what: String| Ok(Err(corrupt_at(self.volume, path, what)));
        if inode.flags & INLINE_DATA_FL != 0 {
            let data = match self.fs.inline_data(inode) {
                Ok((data, _)) => data,
                Err(e) => return bad(format!("inline data: {e}")),
            };
            let n = usize::try_from(size).unwrap_or(usize::MAX).min(data.len());
            out.write_bytes(data.get(..n).unwrap_or_default())?;
            if out.written() < size {
                return bad(format!(
                    "inline data holds {} bytes, i_size says {size}",
                    data.len()
                ));
            }
            return Ok(Ok(()));
        }
        let runs = match self.fs.map(inode) {
            Ok(runs) => runs,
            Err(e) => return bad(format!("block map: {e}")),
        };
        match stream_runs(self.fs, &runs, size, out, buf)? {
            None => Ok(Ok(())),
            Some(why) => bad(format!(
                "reading stopped after {} bytes: {why}",
                out.written()
            )),
        }
    }

    fn read_link(&self, path: &[u8], link: &Option<Inode>) -> Result<Vec<u8>, PluginError> {
        let inode = link
            .as_ref()
            .ok_or_else(|| corrupt_at(self.volume, path, "no inode"))?;
        self.fs
            .symlink_target(inode)
            .map_err(|e| corrupt_at(self.volume, path, format!("symbolic link target: {e}")))
    }
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

fn kind_name(kind: EntryKind) -> Option<&'static str> {
    match kind {
        EntryKind::File => Some("file"),
        EntryKind::Dir => Some("dir"),
        EntryKind::Symlink => Some("symlink"),
        EntryKind::CharDevice => Some("char_device"),
        EntryKind::BlockDevice => Some("block_device"),
        EntryKind::Fifo => Some("fifo"),
        EntryKind::Socket => Some("socket"),
        _ => None,
    }
}

/// Copies what an inode still holds into `rec`.
fn fill_from_inode(rec: &mut Deleted, inode: &Inode, with_dtime: bool) {
    rec.kind = kind_of_mode(u32::from(inode.mode))
        .and_then(kind_name)
        .or(rec.kind);
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
    } else if inode.flags & INLINE_DATA_FL != 0 {
        Some("inline data: not recovered".into())
    } else {
        None
    }
}

/// The runs of a free inode's block map inside `i_size`, if every block of
/// them is free; otherwise why its bytes are not recovered.
fn recoverable_runs(
    fs: &RawFs<'_>,
    inode: &Inode,
    volume: &Volume<'_>,
) -> Result<Vec<Run>, String> {
    if let Some(why) = unrecoverable(inode, volume) {
        return Err(why);
    }
    let runs = fs
        .map(inode)
        .map_err(|e| format!("block map unreadable: {e}"))?;
    if runs.is_empty() {
        return Err(if inode.flags & EXTENTS_FL != 0 {
            "ext4 zeroed the inode's extent tree at deletion".into()
        } else {
            "the inode's block pointers were zeroed at deletion".into()
        });
    }
    let nblocks = inode.size.div_ceil(fs.sb.block_size);
    let inside: Vec<Run> = runs
        .into_iter()
        .filter(|r| r.logical < nblocks)
        .map(|mut r| {
            r.len = r.len.min(nblocks.saturating_sub(r.logical));
            r
        })
        .collect();
    for r in inside.iter().filter(|r| !r.unwritten) {
        match fs.first_allocated(r.physical, r.len) {
            Ok(None) => {}
            Ok(Some(b)) => return Err(format!("block {b} is allocated again")),
            Err(e) => return Err(format!("block bitmap: {e}")),
        }
    }
    Ok(inside)
}

/// Writes zeros to `out` until it holds `to` bytes.
fn zeros_to(out: &mut OutputFile<'_>, to: u64, buf: &mut [u8]) -> Result<(), PluginError> {
    buf.fill(0);
    while out.written() < to {
        let n = usize::try_from(to.saturating_sub(out.written()))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if n == 0 {
            break;
        }
        out.write_bytes(buf.get(..n).unwrap_or_default())?;
    }
    Ok(())
}

/// Streams the bytes of `runs` (holes and unwritten extents as zeros) up to
/// `size`, in pieces of `buf`'s length; `Ok(Some(why))` when a read failed.
fn stream_runs(
    fs: &RawFs<'_>,
    runs: &[Run],
    size: u64,
    out: &mut OutputFile<'_>,
    buf: &mut [u8],
) -> Result<Option<String>, PluginError> {
    let bs = fs.sb.block_size;
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
        let base = match fs.block_offset(r.physical) {
            Ok(b) => b,
            Err(e) => return Ok(Some(e.to_string())),
        };
        while out.written() < end {
            let done = out.written().saturating_sub(from);
            let n = usize::try_from(end.saturating_sub(out.written()))
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Some(piece) = buf.get_mut(..n).filter(|p| !p.is_empty()) else {
                break;
            };
            if let Err(e) = fs.read_at(base.saturating_add(done), piece) {
                return Ok(Some(e.to_string()));
            }
            out.write_bytes(piece)?;
        }
    }
    zeros_to(out, size, buf)?;
    Ok(None)
}
