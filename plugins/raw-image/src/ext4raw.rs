//! Raw ext2/3/4 structures, read over the volume's [`ReadAt`]: beside
//! `ext4-view` 1.0 for what it does not expose, and alone for the volumes it
//! refuses (see [`crate::ext4walk`]): the superblock, group descriptors
//! (`meta_bg` layouts included), inodes by number (change time, link count,
//! deletion time, flags), the inode and block bitmaps, the block map of a
//! file (extent tree or ext2/3 direct/indirect blocks), inline data,
//! symbolic link targets, directory blocks (linear, hash-tree leaves,
//! inline) with the deleted entries left in their slack, and the orphan
//! list (the `s_last_orphan` chain; the orphan file of the newer
//! `orphan_file` feature is not read).
//!
//! Specification: the kernel's "ext4 Data Structures and Algorithms"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/index.html>):
//! superblock, group descriptors and meta block groups, inode table,
//! extent tree, inline data, extended attributes, directory entries and
//! hash-tree nodes, orphan list.
//!
//! Policy: read-only and bounded. Every count taken from the disk is capped
//! ([`MAX_RUNS`], [`MAX_EXTENT_DEPTH`], `MAX_INDIRECT_BLOCKS` map blocks
//! per file, [`MAX_DIR_BLOCKS`], [`MAX_DIR_ENTRIES`], [`MAX_ORPHANS`]),
//! every offset is checked against the volume or the inode, and damage
//! inside a directory block or the orphan chain is a [`Finding`] with its
//! byte offset while the rest is still read. The
//! committed transactions of an internal JBD2 journal (its specification:
//! the same kernel pages, "Journal (jbd2)") are replayed in memory, as
//! `ext4-view` does for the live tree, so both readers see the same blocks:
//! a read of a block with a committed, unrevoked copy in the log returns
//! that copy (escaped magic restored); nothing is written. Checksums
//! (`metadata_csum`, journal checksums) are not verified; an external
//! journal is not read. `meta_bg` descriptors are read from the primary
//! copy of each meta group's descriptor block. Inline data (files and
//! directories whose bytes live in the inode) is read from `i_block` and
//! the `system.data` extended attribute in the inode's extra space;
//! attributes kept in a separate block or inode are not read (ext4 keeps
//! `system.data` in the inode). Entries of an encrypted, case-folded
//! directory carry an 8-byte name hash after the name, skipped as such
//! (not scanned as slack). Compressed volumes, journal devices and
//! `dirdata` are not read ([`INCOMPAT_UNREADABLE`]).
#![forbid(unsafe_code)]

use crate::ReadAt;
use crate::read_at::{read_exact_at, u16_le, u32_le};
use exhibit_plugin_sdk::Time;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Byte offset of the superblock in the volume.
const SUPERBLOCK_AT: u64 = 1024;
/// Bytes of the superblock read.
const SUPERBLOCK_LEN: usize = 1024;
/// `EXT2_SUPER_MAGIC`.
const MAGIC: u16 = 0xEF53;

// Superblock field offsets.
const S_INODES_COUNT: usize = 0x00;
const S_BLOCKS_COUNT_LO: usize = 0x04;
const S_FIRST_DATA_BLOCK: usize = 0x14;
const S_LOG_BLOCK_SIZE: usize = 0x18;
const S_BLOCKS_PER_GROUP: usize = 0x20;
const S_INODES_PER_GROUP: usize = 0x28;
const S_MAGIC: usize = 0x38;
const S_REV_LEVEL: usize = 0x4C;
const S_INODE_SIZE: usize = 0x58;
const S_FEATURE_COMPAT: usize = 0x5C;
const S_FEATURE_INCOMPAT: usize = 0x60;
const S_FEATURE_RO_COMPAT: usize = 0x64;
const S_UUID: usize = 0x68;
const S_VOLUME_NAME: usize = 0x78;
const S_FIRST_META_BG: usize = 0x104;
const S_BACKUP_BGS: usize = 0x24C;
const S_JOURNAL_INUM: usize = 0xE0;
const S_LAST_ORPHAN: usize = 0xE8;
const S_DESC_SIZE: usize = 0xFE;
const S_BLOCKS_COUNT_HI: usize = 0x150;

/// `COMPAT_HAS_JOURNAL`.
const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// `COMPAT_SPARSE_SUPER2`: superblock backups only in `s_backup_bgs`.
const COMPAT_SPARSE_SUPER2: u32 = 0x200;
/// `RO_COMPAT_SPARSE_SUPER`: backups only in groups 0, 1 and powers of 3, 5, 7.
const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
/// Incompatible features by name (`lib/e2p/feature.c` spelling).
const INCOMPAT_NAMES: [(u32, &str); 16] = [
    (0x1, "compression"),
    (0x2, "filetype"),
    (0x4, "needs_recovery"),
    (0x8, "journal_dev"),
    (0x10, "meta_bg"),
    (0x40, "extent"),
    (0x80, "64bit"),
    (0x100, "mmp"),
    (0x200, "flex_bg"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x1_0000, "encrypt"),
    (0x2_0000, "casefold"),
];
/// Every incompatible bit named above.
pub(crate) const INCOMPAT_KNOWN: u32 = 0x3_F7DF;
/// Incompatible features this module cannot read: compressed files, an
/// external journal device (not a file system), data in directory entries.
pub(crate) const INCOMPAT_UNREADABLE: u32 = 0x1 | 0x8 | 0x1000;

/// The names of the incompatible feature bits in `bits` (unknown bits as hex).
pub(crate) fn incompat_names(bits: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut known = 0u32;
    for (bit, name) in INCOMPAT_NAMES {
        known |= bit;
        if bits & bit != 0 {
            out.push(name.to_string());
        }
    }
    if bits & !known != 0 {
        out.push(format!("{:#x}", bits & !known));
    }
    out
}
// Incompatible features that change what this module reads.
const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;

// Group descriptor fields.
const BG_BLOCK_BITMAP_LO: usize = 0x00;
const BG_INODE_BITMAP_LO: usize = 0x04;
const BG_INODE_TABLE_LO: usize = 0x08;
const BG_FLAGS: usize = 0x12;
const BG_BLOCK_BITMAP_HI: usize = 0x20;
const BG_INODE_BITMAP_HI: usize = 0x24;
const BG_INODE_TABLE_HI: usize = 0x28;
/// `EXT4_BG_INODE_UNINIT`: no inode of the group was ever used.
const BG_INODE_UNINIT: u16 = 0x1;
/// `EXT4_BG_BLOCK_UNINIT`: the block bitmap was never written.
const BG_BLOCK_UNINIT: u16 = 0x2;

// Inode fields.
const I_MODE: usize = 0x00;
const I_UID: usize = 0x02;
const I_SIZE_LO: usize = 0x04;
const I_ATIME: usize = 0x08;
const I_CTIME: usize = 0x0C;
const I_MTIME: usize = 0x10;
const I_DTIME: usize = 0x14;
const I_GID: usize = 0x18;
const I_LINKS_COUNT: usize = 0x1A;
const I_FLAGS: usize = 0x20;
const I_BLOCK: usize = 0x28;
const I_BLOCK_LEN: usize = 60;
const I_SIZE_HIGH: usize = 0x6C;
const I_UID_HIGH: usize = 0x78;
const I_GID_HIGH: usize = 0x7A;
const I_EXTRA_ISIZE: usize = 0x80;
const I_CTIME_EXTRA: usize = 0x84;
const I_MTIME_EXTRA: usize = 0x88;
const I_ATIME_EXTRA: usize = 0x8C;
const I_CRTIME: usize = 0x90;
const I_CRTIME_EXTRA: usize = 0x94;
/// Size of the original (ext2) inode; the extra fields start here.
const GOOD_OLD_INODE_SIZE: usize = 128;

/// `EXT4_INDEX_FL`: a hash-tree directory.
pub(crate) const INDEX_FL: u32 = 0x1000;
/// `EXT4_EXTENTS_FL`: `i_block` holds an extent tree.
pub(crate) const EXTENTS_FL: u32 = 0x8_0000;
/// `EXT4_ENCRYPT_FL`: fscrypt-encrypted content and names.
pub(crate) const ENCRYPT_FL: u32 = 0x800;
/// `EXT4_CASEFOLD_FL`: names are looked up case-insensitively.
const CASEFOLD_FL: u32 = 0x4000_0000;
/// `EXT4_INLINE_DATA_FL`: the content lives in the inode.
pub(crate) const INLINE_DATA_FL: u32 = 0x1000_0000;

/// Mode type bits.
pub(crate) const S_IFMT: u16 = 0o170_000;
/// A regular file.
pub(crate) const S_IFREG: u16 = 0o100_000;

// JBD2 (the journal): big-endian fields.
/// Journal block header magic.
const JBD2_MAGIC: u32 = 0xC03B_3998;
const JBD2_DESCRIPTOR: u32 = 1;
const JBD2_COMMIT: u32 = 2;
const JBD2_REVOKE: u32 = 5;
const JSB_BLOCKSIZE: usize = 0x0C;
const JSB_MAXLEN: usize = 0x10;
const JSB_FIRST: usize = 0x14;
const JSB_SEQUENCE: usize = 0x18;
const JSB_START: usize = 0x1C;
const JSB_INCOMPAT: usize = 0x28;
const JBD2_64BIT: u32 = 0x2;
const JBD2_CSUM_V2: u32 = 0x8;
const JBD2_CSUM_V3: u32 = 0x10;
const JBD2_FLAG_ESCAPE: u32 = 0x1;
const JBD2_FLAG_SAME_UUID: u32 = 0x2;
const JBD2_FLAG_LAST_TAG: u32 = 0x8;

fn be32(b: &[u8], off: usize) -> u32 {
    off.checked_add(4)
        .and_then(|end| b.get(off..end))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn be16(b: &[u8], off: usize) -> u16 {
    off.checked_add(2)
        .and_then(|end| b.get(off..end))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_be_bytes)
}

/// `EXT4_XATTR_MAGIC`: the header of the extended attributes kept in an
/// inode's extra space.
const XATTR_MAGIC: u32 = 0xEA02_0000;
/// `EXT4_XATTR_INDEX_SYSTEM`: the `system.` name prefix.
const XATTR_INDEX_SYSTEM: u8 = 7;
/// Bytes of an extended attribute entry before its name.
const XATTR_ENTRY_HEADER: usize = 16;
/// Longest symbolic link target read (the kernel's `PATH_MAX`).
const MAX_LINK_TARGET: u64 = 4096;

/// Extent header magic.
const EXTENT_MAGIC: u16 = 0xF30A;
/// Deepest extent tree followed (the kernel allows 5).
pub(crate) const MAX_EXTENT_DEPTH: u16 = 5;
/// Most runs one file's block map may have.
pub(crate) const MAX_RUNS: usize = 1 << 16;
/// Most indirect-map (or extent-tree) blocks read for one file.
const MAX_INDIRECT_BLOCKS: usize = 1 << 16;
/// Longest directory read, in blocks.
pub(crate) const MAX_DIR_BLOCKS: u64 = 1 << 16;
/// Most entries (live and deleted) kept from one directory.
pub(crate) const MAX_DIR_ENTRIES: usize = 1 << 19;
/// Longest orphan chain followed.
pub(crate) const MAX_ORPHANS: usize = 1 << 16;
/// Bytes of a directory entry before its name.
const DIRENT_HEADER: usize = 8;
/// Ext4 stores at most 32-bit logical block numbers.
const MAX_LOGICAL: u64 = 1 << 32;

/// Why a raw structure could not be read.
#[derive(Debug)]
pub(crate) enum RawError {
    /// Broken at `offset` (bytes from the start of the volume).
    Corrupt { offset: u64, what: String },
    /// Valid but not handled here.
    Unsupported(String),
    /// The volume could not be read.
    Io(std::io::Error),
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawError::Corrupt { offset, what } => write!(f, "corrupt at {offset:#x}: {what}"),
            RawError::Unsupported(what) => write!(f, "unsupported: {what}"),
            RawError::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

impl From<std::io::Error> for RawError {
    fn from(e: std::io::Error) -> RawError {
        RawError::Io(e)
    }
}

fn corrupt(offset: u64, what: impl Into<String>) -> RawError {
    RawError::Corrupt {
        offset,
        what: what.into(),
    }
}

/// Damage found while reading on, with its byte offset in the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) offset: u64,
    pub(crate) what: String,
}

fn u16_or0(b: &[u8], off: usize) -> u16 {
    u16_le(b, off).unwrap_or(0)
}

fn u32_or0(b: &[u8], off: usize) -> u32 {
    u32_le(b, off).unwrap_or(0)
}

fn join(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

/// The superblock fields this module uses.
#[derive(Debug, Clone)]
pub(crate) struct Superblock {
    pub(crate) block_size: u64,
    pub(crate) inodes_count: u32,
    pub(crate) blocks_count: u64,
    pub(crate) first_data_block: u32,
    pub(crate) blocks_per_group: u32,
    pub(crate) inodes_per_group: u32,
    pub(crate) inode_size: u16,
    pub(crate) desc_size: u16,
    pub(crate) incompat: u32,
    pub(crate) last_orphan: u32,
    compat: u32,
    ro_compat: u32,
    journal_inum: u32,
    first_meta_bg: u32,
    backup_bgs: [u32; 2],
    /// `s_uuid`.
    pub(crate) uuid: [u8; 16],
    /// `s_volume_name` up to its first NUL.
    pub(crate) volume_name: Vec<u8>,
}

impl Superblock {
    fn parse(b: &[u8]) -> Result<Superblock, RawError> {
        let bad = |what: &str| corrupt(SUPERBLOCK_AT, format!("superblock: {what}"));
        if u16_le(b, S_MAGIC) != Some(MAGIC) {
            return Err(bad("no ext2/3/4 magic"));
        }
        let log = u32_or0(b, S_LOG_BLOCK_SIZE);
        if log > 6 {
            return Err(bad(&format!("block size 2^(10+{log}) out of range")));
        }
        let block_size = 1024u64 << log;
        let incompat = u32_or0(b, S_FEATURE_INCOMPAT);
        let rev = u32_or0(b, S_REV_LEVEL);
        let inode_size = if rev == 0 {
            128
        } else {
            u16_or0(b, S_INODE_SIZE)
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || u64::from(inode_size) > block_size {
            return Err(bad(&format!("inode size {inode_size}")));
        }
        let desc_size = if incompat & INCOMPAT_64BIT != 0 {
            u16_or0(b, S_DESC_SIZE)
        } else {
            32
        };
        if desc_size < 32 || !desc_size.is_power_of_two() || u64::from(desc_size) > block_size {
            return Err(bad(&format!("group descriptor size {desc_size}")));
        }
        let blocks_count = if incompat & INCOMPAT_64BIT != 0 {
            join(u32_or0(b, S_BLOCKS_COUNT_LO), u32_or0(b, S_BLOCKS_COUNT_HI))
        } else {
            u64::from(u32_or0(b, S_BLOCKS_COUNT_LO))
        };
        let sb = Superblock {
            block_size,
            inodes_count: u32_or0(b, S_INODES_COUNT),
            blocks_count,
            first_data_block: u32_or0(b, S_FIRST_DATA_BLOCK),
            blocks_per_group: u32_or0(b, S_BLOCKS_PER_GROUP),
            inodes_per_group: u32_or0(b, S_INODES_PER_GROUP),
            inode_size,
            desc_size,
            incompat,
            last_orphan: u32_or0(b, S_LAST_ORPHAN),
            compat: u32_or0(b, S_FEATURE_COMPAT),
            ro_compat: u32_or0(b, S_FEATURE_RO_COMPAT),
            journal_inum: u32_or0(b, S_JOURNAL_INUM),
            first_meta_bg: u32_or0(b, S_FIRST_META_BG),
            backup_bgs: [
                u32_or0(b, S_BACKUP_BGS),
                u32_or0(b, S_BACKUP_BGS.saturating_add(4)),
            ],
            uuid: b
                .get(S_UUID..S_UUID.saturating_add(16))
                .and_then(|u| u.try_into().ok())
                .unwrap_or([0; 16]),
            volume_name: b
                .get(S_VOLUME_NAME..S_VOLUME_NAME.saturating_add(16))
                .map(|n| n.split(|&c| c == 0).next().unwrap_or_default().to_vec())
                .unwrap_or_default(),
        };
        if sb.blocks_per_group == 0 || sb.inodes_per_group == 0 {
            return Err(bad("zero blocks or inodes per group"));
        }
        if u64::from(sb.blocks_per_group) > block_size.saturating_mul(8)
            || u64::from(sb.inodes_per_group) > block_size.saturating_mul(8)
        {
            return Err(bad(
                "more blocks or inodes per group than a bitmap block holds",
            ));
        }
        Ok(sb)
    }

    fn has_filetype(&self) -> bool {
        self.incompat & INCOMPAT_FILETYPE != 0
    }

    /// The UUID in its usual hyphenated form.
    pub(crate) fn uuid_string(&self) -> String {
        let mut out = String::with_capacity(36);
        for (i, b) in self.uuid.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Whether `group` holds a superblock backup (and so, under
    /// `meta_bg`, its descriptor block follows one block later).
    fn has_super(&self, group: u64) -> bool {
        if group == 0 {
            return true;
        }
        if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            return self.backup_bgs.iter().any(|&b| u64::from(b) == group);
        }
        if group == 1 || self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        [3u64, 5, 7].iter().any(|&base| {
            let mut p = base;
            // Powers of 3 stay below 2^64 for at most 41 steps.
            for _ in 0..64 {
                if p == group {
                    return true;
                }
                match p.checked_mul(base) {
                    Some(n) if n <= group => p = n,
                    _ => return false,
                }
            }
            false
        })
    }

    fn group_count(&self) -> u64 {
        let data = self
            .blocks_count
            .saturating_sub(u64::from(self.first_data_block));
        data.div_ceil(u64::from(self.blocks_per_group))
    }
}

/// The parts of a group descriptor this module uses.
#[derive(Debug, Clone, Copy)]
struct GroupDesc {
    block_bitmap: u64,
    inode_bitmap: u64,
    inode_table: u64,
    flags: u16,
}

/// One inode as stored.
#[derive(Debug, Clone)]
pub(crate) struct Inode {
    pub(crate) number: u32,
    /// Byte offset of the inode in the volume.
    pub(crate) offset: u64,
    pub(crate) mode: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) links_count: u16,
    pub(crate) flags: u32,
    pub(crate) atime: Time,
    pub(crate) ctime: Time,
    pub(crate) mtime: Time,
    pub(crate) crtime: Option<Time>,
    /// Deletion time, or (on the orphan list) the next orphan's number.
    pub(crate) dtime: u32,
    pub(crate) block: [u8; I_BLOCK_LEN],
}

impl Inode {
    pub(crate) fn is_regular(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// A run of a file's logical blocks stored at consecutive physical blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) len: u64,
    /// An unwritten (preallocated) extent: reads as zeros.
    pub(crate) unwritten: bool,
}

/// One directory entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dirent {
    pub(crate) inode: u32,
    pub(crate) name: Vec<u8>,
    /// `EXT4_FT_*`, when the file system stores it.
    pub(crate) file_type: Option<u8>,
    /// Byte offset of the entry in the volume.
    pub(crate) offset: u64,
}

/// The entries of one directory.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Live entries (`.` and `..` included), in block order.
    pub(crate) live: Vec<Dirent>,
    /// Entries left in the slack of a live entry, or a block's first entry
    /// with its inode cleared.
    pub(crate) deleted: Vec<Dirent>,
    pub(crate) findings: Vec<Finding>,
}

/// The orphan list.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    pub(crate) inodes: Vec<Inode>,
    pub(crate) findings: Vec<Finding>,
}

/// The raw view of one ext2/3/4 volume.
pub(crate) struct RawFs<'a> {
    src: &'a (dyn ReadAt + Sync),
    pub(crate) sb: Superblock,
    /// File-system block → (volume offset of its newest committed copy in
    /// the journal, whether that copy was escaped).
    overlay: Overlay,
    /// What the journal replay found, for the custody log.
    pub(crate) journal: JournalReplay,
}

/// File-system block → (volume offset of its journal copy, escaped).
type Overlay = BTreeMap<u64, (u64, bool)>;
/// A journal tag: file-system block, volume offset of its copy, escaped.
type Tag = (u64, u64, bool);

/// The outcome of reading the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JournalReplay {
    /// Committed transactions found in the log.
    pub(crate) transactions: u64,
    /// File-system blocks whose journal copy reads replace the disk's.
    pub(crate) blocks: u64,
    /// Why the journal was not (or not wholly) read, if so.
    pub(crate) note: Option<String>,
}

impl<'a> RawFs<'a> {
    /// Reads and checks the superblock, then replays the committed
    /// transactions of an internal journal in memory (as `ext4-view`
    /// does), so raw reads see what the live tree sees. A journal that
    /// cannot be read is noted in [`RawFs::journal`] and reads see the disk.
    pub(crate) fn open(src: &'a (dyn ReadAt + Sync)) -> Result<RawFs<'a>, RawError> {
        let mut b = vec![0u8; SUPERBLOCK_LEN];
        read_exact_at(src, SUPERBLOCK_AT, &mut b)?;
        let sb = Superblock::parse(&b)?;
        let mut fs = RawFs {
            src,
            sb,
            overlay: BTreeMap::new(),
            journal: JournalReplay::default(),
        };
        match fs.replay() {
            Ok((overlay, transactions)) => {
                fs.journal.transactions = transactions;
                fs.journal.blocks = u64::try_from(overlay.len()).unwrap_or(u64::MAX);
                fs.overlay = overlay;
            }
            Err(e) => fs.journal.note = Some(format!("journal not replayed: {e}")),
        }
        if !fs.overlay.is_empty() {
            // The superblock itself may have a newer copy in the journal.
            fs.read_at(SUPERBLOCK_AT, &mut b)?;
            match Superblock::parse(&b) {
                Ok(sb) => fs.sb = sb,
                Err(e) => {
                    fs.journal.note = Some(format!(
                        "the journal's copy of the superblock is unusable ({e}); journal not replayed"
                    ));
                    fs.overlay.clear();
                    fs.journal.blocks = 0;
                }
            }
        }
        Ok(fs)
    }

    /// Reads `buf.len()` bytes at volume offset `offset`, each block from
    /// its newest committed journal copy when there is one.
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), RawError> {
        if self.overlay.is_empty() {
            return read_exact_at(self.src, offset, buf).map_err(RawError::Io);
        }
        let bs = self.sb.block_size;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset
                .checked_add(u64::try_from(done).unwrap_or(u64::MAX))
                .ok_or_else(|| corrupt(offset, "read offset overflows"))?;
            let block = at.checked_div(bs).unwrap_or(0);
            let within = at.checked_rem(bs).unwrap_or(0);
            let left = buf.len().saturating_sub(done);
            let (from, n, escaped) = match self.overlay.get(&block) {
                Some(&(jat, escaped)) => {
                    let n = usize::try_from(bs.saturating_sub(within))
                        .unwrap_or(usize::MAX)
                        .min(left);
                    (jat.saturating_add(within), n, escaped)
                }
                None => {
                    // Read straight through to the next replaced block.
                    let until = self
                        .overlay
                        .range(block.saturating_add(1)..)
                        .next()
                        .map_or(u64::MAX, |(&b, _)| b.saturating_mul(bs));
                    let n = usize::try_from(until.saturating_sub(at))
                        .unwrap_or(usize::MAX)
                        .min(left);
                    (at, n, false)
                }
            };
            let end = done.saturating_add(n);
            let piece = buf
                .get_mut(done..end)
                .ok_or_else(|| corrupt(at, "read past the buffer"))?;
            read_exact_at(self.src, from, piece)?;
            if escaped && within < 4 {
                // An escaped block had the journal magic in its first four bytes.
                let magic = JBD2_MAGIC.to_be_bytes();
                for (i, byte) in piece.iter_mut().enumerate() {
                    let pos = usize::try_from(within).unwrap_or(4).saturating_add(i);
                    match magic.get(pos) {
                        Some(&m) => *byte = m,
                        None => break,
                    }
                }
            }
            done = end;
        }
        Ok(())
    }

    /// Scans an internal journal from `s_start` and returns the block
    /// overlay of its committed transactions (revoked blocks left out) and
    /// how many transactions committed.
    fn replay(&self) -> Result<(Overlay, u64), RawError> {
        let mut overlay = BTreeMap::new();
        if self.sb.compat & COMPAT_HAS_JOURNAL == 0 || self.sb.journal_inum == 0 {
            return Ok((overlay, 0));
        }
        let jinode = self.inode(self.sb.journal_inum)?;
        let runs = self.map(&jinode)?;
        let bs = self.sb.block_size;
        let jblock = |logical: u64| -> Result<u64, RawError> {
            let run = runs
                .iter()
                .find(|r| logical >= r.logical && logical < r.logical.saturating_add(r.len))
                .ok_or_else(|| {
                    corrupt(
                        jinode.offset,
                        format!("journal block {logical} is not mapped"),
                    )
                })?;
            let physical = run
                .physical
                .saturating_add(logical.saturating_sub(run.logical));
            self.block_offset(physical)
        };
        let read_j = |logical: u64| -> Result<Vec<u8>, RawError> {
            let mut b = vec![0u8; self.block_len()];
            read_exact_at(self.src, jblock(logical)?, &mut b)?;
            Ok(b)
        };
        let jsb = read_j(0)?;
        if be32(&jsb, 0) != JBD2_MAGIC || !matches!(be32(&jsb, 4), 3 | 4) {
            return Err(corrupt(jblock(0)?, "journal superblock magic missing"));
        }
        if u64::from(be32(&jsb, JSB_BLOCKSIZE)) != bs {
            return Err(RawError::Unsupported(
                "journal block size differs from the file system's".into(),
            ));
        }
        let maxlen = u64::from(be32(&jsb, JSB_MAXLEN));
        let first = u64::from(be32(&jsb, JSB_FIRST));
        let start = u64::from(be32(&jsb, JSB_START));
        if start == 0 {
            return Ok((overlay, 0));
        }
        if first == 0 || first >= maxlen || start < first || start >= maxlen {
            return Err(corrupt(
                jblock(0)?,
                "journal superblock geometry is inconsistent",
            ));
        }
        let incompat = if be32(&jsb, 4) == 4 {
            be32(&jsb, JSB_INCOMPAT)
        } else {
            0
        };
        let csum3 = incompat & JBD2_CSUM_V3 != 0;
        let csum2 = incompat & JBD2_CSUM_V2 != 0;
        let wide = incompat & JBD2_64BIT != 0;
        let tag_bytes: usize = if csum3 {
            16
        } else {
            let base: usize = if csum2 { 14 } else { 12 };
            if wide { base } else { base.saturating_sub(4) }
        };
        let tail: usize = if csum2 || csum3 { 4 } else { 0 };
        let next = |b: u64| -> u64 {
            let n = b.saturating_add(1);
            if n >= maxlen { first } else { n }
        };
        let mut seq = be32(&jsb, JSB_SEQUENCE);
        let mut at = start;
        let mut pending: Vec<Tag> = Vec::new();
        let mut pending_revokes: Vec<u64> = Vec::new();
        let mut committed: Vec<(u32, Vec<Tag>)> = Vec::new();
        let mut revoked: HashMap<u64, u32> = HashMap::new();
        let mut steps = 0u64;
        // Each step consumes at least one log block; the log has maxlen.
        while steps < maxlen {
            steps = steps.saturating_add(1);
            let b = read_j(at)?;
            if be32(&b, 0) != JBD2_MAGIC || be32(&b, 8) != seq {
                break;
            }
            match be32(&b, 4) {
                JBD2_DESCRIPTOR => {
                    let mut pos = 12usize;
                    let limit = b.len().saturating_sub(tail);
                    loop {
                        if pos.saturating_add(tag_bytes) > limit {
                            break;
                        }
                        let lo = u64::from(be32(&b, pos));
                        let (flags, hi) = if csum3 {
                            (
                                be32(&b, pos.saturating_add(4)),
                                be32(&b, pos.saturating_add(8)),
                            )
                        } else {
                            (
                                u32::from(be16(&b, pos.saturating_add(6))),
                                if wide {
                                    be32(&b, pos.saturating_add(8))
                                } else {
                                    0
                                },
                            )
                        };
                        let target = lo | (u64::from(hi) << 32);
                        at = next(at);
                        steps = steps.saturating_add(1);
                        pending.push((target, jblock(at)?, flags & JBD2_FLAG_ESCAPE != 0));
                        pos = pos.saturating_add(tag_bytes);
                        if flags & JBD2_FLAG_SAME_UUID == 0 {
                            pos = pos.saturating_add(16);
                        }
                        if flags & JBD2_FLAG_LAST_TAG != 0 {
                            break;
                        }
                    }
                }
                JBD2_COMMIT => {
                    committed.push((seq, std::mem::take(&mut pending)));
                    for r in pending_revokes.drain(..) {
                        let e = revoked.entry(r).or_insert(seq);
                        *e = (*e).max(seq);
                    }
                    seq = seq.wrapping_add(1);
                }
                JBD2_REVOKE => {
                    let count = usize::try_from(be32(&b, 12)).unwrap_or(0).min(b.len());
                    let width = if wide { 8 } else { 4 };
                    let mut pos = 16usize;
                    while pos.saturating_add(width) <= count {
                        let r = if wide {
                            (u64::from(be32(&b, pos)) << 32)
                                | u64::from(be32(&b, pos.saturating_add(4)))
                        } else {
                            u64::from(be32(&b, pos))
                        };
                        pending_revokes.push(r);
                        pos = pos.saturating_add(width);
                    }
                }
                _ => break,
            }
            at = next(at);
        }
        let transactions = u64::try_from(committed.len()).unwrap_or(u64::MAX);
        for (tseq, tags) in committed {
            for (target, from, escaped) in tags {
                if revoked.get(&target).is_some_and(|&r| r >= tseq) {
                    continue;
                }
                if target < self.sb.blocks_count {
                    overlay.insert(target, (from, escaped));
                }
            }
        }
        Ok((overlay, transactions))
    }

    /// Byte offset of block `block`, if it is inside the file system.
    pub(crate) fn block_offset(&self, block: u64) -> Result<u64, RawError> {
        if block >= self.sb.blocks_count {
            return Err(corrupt(
                0,
                format!(
                    "block {block} is past the file system's {} blocks",
                    self.sb.blocks_count
                ),
            ));
        }
        block
            .checked_mul(self.sb.block_size)
            .ok_or_else(|| corrupt(0, format!("block {block} overflows")))
    }

    fn block_len(&self) -> usize {
        // At most 64 KiB (checked in Superblock::parse).
        usize::try_from(self.sb.block_size).unwrap_or(4096)
    }

    fn read_block(&self, block: u64) -> Result<(u64, Vec<u8>), RawError> {
        let at = self.block_offset(block)?;
        let mut buf = vec![0u8; self.block_len()];
        self.read_at(at, &mut buf)?;
        Ok((at, buf))
    }

    fn group_desc(&self, group: u64) -> Result<GroupDesc, RawError> {
        if group >= self.sb.group_count() {
            return Err(corrupt(0, format!("group {group} does not exist")));
        }
        let at = self.group_desc_offset(group)?;
        let mut d = vec![0u8; usize::from(self.sb.desc_size)];
        self.read_at(at, &mut d)?;
        let wide = self.sb.desc_size >= 64;
        let pick = |lo: usize, hi: usize| {
            let hi = if wide { u32_or0(&d, hi) } else { 0 };
            join(u32_or0(&d, lo), hi)
        };
        Ok(GroupDesc {
            block_bitmap: pick(BG_BLOCK_BITMAP_LO, BG_BLOCK_BITMAP_HI),
            inode_bitmap: pick(BG_INODE_BITMAP_LO, BG_INODE_BITMAP_HI),
            inode_table: pick(BG_INODE_TABLE_LO, BG_INODE_TABLE_HI),
            flags: u16_or0(&d, BG_FLAGS),
        })
    }

    /// Volume offset of group `group`'s descriptor: in the table after the
    /// superblock, or (`meta_bg`, from `s_first_meta_bg` on) in the first
    /// block group of its meta group, after that group's superblock backup.
    fn group_desc_offset(&self, group: u64) -> Result<u64, RawError> {
        let size = u64::from(self.sb.desc_size);
        let per_block = self.sb.block_size.checked_div(size).unwrap_or(1).max(1);
        let meta_group = group.checked_div(per_block).unwrap_or(0);
        let overflow = || corrupt(SUPERBLOCK_AT, "group descriptor offset overflows");
        if self.sb.incompat & INCOMPAT_META_BG != 0
            && meta_group >= u64::from(self.sb.first_meta_bg)
        {
            let first = meta_group.checked_mul(per_block).ok_or_else(overflow)?;
            let block = first
                .checked_mul(u64::from(self.sb.blocks_per_group))
                .and_then(|b| b.checked_add(u64::from(self.sb.first_data_block)))
                .and_then(|b| b.checked_add(u64::from(self.sb.has_super(first))))
                .ok_or_else(overflow)?;
            let within = group.checked_rem(per_block).unwrap_or(0);
            return self
                .block_offset(block)?
                .checked_add(within.saturating_mul(size))
                .ok_or_else(overflow);
        }
        let table = u64::from(self.sb.first_data_block)
            .checked_add(1)
            .and_then(|b| b.checked_mul(self.sb.block_size))
            .ok_or_else(overflow)?;
        group
            .checked_mul(size)
            .and_then(|o| table.checked_add(o))
            .ok_or_else(overflow)
    }

    /// Group and index within it of inode `number` (1-based).
    fn inode_place(&self, number: u32) -> Result<(u64, u64), RawError> {
        if number == 0 || number > self.sb.inodes_count {
            return Err(corrupt(
                SUPERBLOCK_AT,
                format!("inode {number} is outside 1..={}", self.sb.inodes_count),
            ));
        }
        let index = u64::from(number.saturating_sub(1));
        let per = u64::from(self.sb.inodes_per_group);
        // `per` is non-zero (checked in Superblock::parse).
        match (index.checked_div(per), index.checked_rem(per)) {
            (Some(group), Some(within)) => Ok((group, within)),
            _ => Err(corrupt(SUPERBLOCK_AT, "zero inodes per group")),
        }
    }

    /// Reads inode `number`.
    pub(crate) fn inode(&self, number: u32) -> Result<Inode, RawError> {
        let (group, index) = self.inode_place(number)?;
        let gd = self.group_desc(group)?;
        let table = self.block_offset(gd.inode_table)?;
        let offset = index
            .checked_mul(u64::from(self.sb.inode_size))
            .and_then(|o| table.checked_add(o))
            .ok_or_else(|| corrupt(table, "inode offset overflows"))?;
        let mut b = vec![0u8; usize::from(self.sb.inode_size)];
        self.read_at(offset, &mut b)?;
        Ok(parse_inode(number, offset, &b))
    }

    /// Whether inode `number` is marked in use in its group's bitmap.
    pub(crate) fn inode_allocated(&self, number: u32) -> Result<bool, RawError> {
        let (group, index) = self.inode_place(number)?;
        let gd = self.group_desc(group)?;
        if gd.flags & BG_INODE_UNINIT != 0 {
            return Ok(false);
        }
        self.bit(gd.inode_bitmap, index)
    }

    fn bit(&self, bitmap_block: u64, index: u64) -> Result<bool, RawError> {
        let at = self
            .block_offset(bitmap_block)?
            .checked_add(index / 8)
            .ok_or_else(|| corrupt(0, "bitmap offset overflows"))?;
        let mut byte = [0u8; 1];
        self.read_at(at, &mut byte)?;
        let shift = u32::try_from(index % 8).unwrap_or(0);
        Ok(byte[0] >> shift & 1 == 1)
    }

    /// The first block of `start .. start + len` marked in use in the block
    /// bitmap, if any. A group whose block bitmap was never initialised is
    /// an error: nothing there is known to be free data.
    pub(crate) fn first_allocated(&self, start: u64, len: u64) -> Result<Option<u64>, RawError> {
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.sb.blocks_count)
            .ok_or_else(|| {
                corrupt(
                    0,
                    format!("blocks {start}+{len} are past the end of the file system"),
                )
            })?;
        let per = u64::from(self.sb.blocks_per_group);
        let first = u64::from(self.sb.first_data_block);
        let mut block = start;
        let mut bitmap = Vec::new();
        let mut loaded: Option<u64> = None;
        while block < end {
            let rel = block.checked_sub(first).ok_or_else(|| {
                corrupt(0, format!("block {block} is before the first data block"))
            })?;
            let (Some(group), Some(within)) = (rel.checked_div(per), rel.checked_rem(per)) else {
                return Err(corrupt(SUPERBLOCK_AT, "zero blocks per group"));
            };
            if loaded != Some(group) {
                let gd = self.group_desc(group)?;
                if gd.flags & BG_BLOCK_UNINIT != 0 {
                    return Err(corrupt(
                        0,
                        format!(
                            "block {block}: the block bitmap of group {group} is uninitialised"
                        ),
                    ));
                }
                bitmap = self.read_block(gd.block_bitmap)?.1;
                loaded = Some(group);
            }
            let index = usize::try_from(within).unwrap_or(usize::MAX);
            let byte = bitmap.get(index / 8).copied().unwrap_or(0);
            if byte >> (index % 8) & 1 == 1 {
                return Ok(Some(block));
            }
            block = block.saturating_add(1);
        }
        Ok(None)
    }

    /// The block map of `inode`: runs in logical order, holes omitted.
    /// Inline-data inodes have no blocks (an empty map).
    pub(crate) fn map(&self, inode: &Inode) -> Result<Vec<Run>, RawError> {
        let mut runs = Vec::new();
        if inode.flags & INLINE_DATA_FL != 0 {
            return Ok(runs);
        }
        if inode.flags & EXTENTS_FL != 0 {
            let mut budget = MAX_INDIRECT_BLOCKS;
            self.extent_node(&inode.block, inode.offset, None, &mut runs, 0, &mut budget)?;
        } else {
            self.indirect_map(inode, &mut runs)?;
        }
        Ok(runs)
    }

    fn extent_node(
        &self,
        node: &[u8],
        at: u64,
        want_depth: Option<u16>,
        runs: &mut Vec<Run>,
        level: u16,
        budget: &mut usize,
    ) -> Result<(), RawError> {
        if u16_le(node, 0) != Some(EXTENT_MAGIC) {
            return Err(corrupt(at, "extent header magic missing"));
        }
        let entries = u16_or0(node, 2);
        let depth = u16_or0(node, 6);
        if depth > MAX_EXTENT_DEPTH
            || want_depth.is_some_and(|w| w != depth)
            || level > MAX_EXTENT_DEPTH
        {
            return Err(corrupt(
                at,
                format!("extent tree depth {depth} is inconsistent"),
            ));
        }
        let fits = node.len().saturating_sub(12) / 12;
        if usize::from(entries) > fits {
            return Err(corrupt(
                at,
                format!(
                    "{entries} extent entries do not fit in a {}-byte node",
                    node.len()
                ),
            ));
        }
        for i in 0..usize::from(entries) {
            let e = i.saturating_add(1).saturating_mul(12);
            if depth == 0 {
                let logical = u64::from(u32_or0(node, e));
                let raw_len = u16_or0(node, e.saturating_add(4));
                let (len, unwritten) = if raw_len > 32768 {
                    (raw_len.saturating_sub(32768), true)
                } else {
                    (raw_len, false)
                };
                let physical = join(
                    u32_or0(node, e.saturating_add(8)),
                    u32::from(u16_or0(node, e.saturating_add(6))),
                );
                push_run(
                    runs,
                    Run {
                        logical,
                        physical,
                        len: u64::from(len),
                        unwritten,
                    },
                    at,
                )?;
            } else {
                let child = join(
                    u32_or0(node, e.saturating_add(4)),
                    u32::from(u16_or0(node, e.saturating_add(8))),
                );
                // Index entries may all point at one empty leaf: count the
                // blocks read, not only the runs found.
                if *budget == 0 {
                    return Err(RawError::Unsupported(format!(
                        "extent tree of more than {MAX_INDIRECT_BLOCKS} blocks"
                    )));
                }
                *budget = budget.saturating_sub(1);
                let (child_at, block) = self.read_block(child)?;
                self.extent_node(
                    &block,
                    child_at,
                    Some(depth.saturating_sub(1)),
                    runs,
                    level.saturating_add(1),
                    budget,
                )?;
            }
        }
        Ok(())
    }

    fn indirect_map(&self, inode: &Inode, runs: &mut Vec<Run>) -> Result<(), RawError> {
        let nblocks = inode.size.div_ceil(self.sb.block_size).min(MAX_LOGICAL);
        let mut budget = MAX_INDIRECT_BLOCKS;
        for i in 0..12u64 {
            if i >= nblocks {
                return Ok(());
            }
            let off = usize::try_from(i).unwrap_or(0).saturating_mul(4);
            let ptr = u32_or0(&inode.block, off);
            if ptr != 0 {
                push_run(runs, single(i, ptr), inode.offset)?;
            }
        }
        let per = self.sb.block_size / 4;
        let mut logical = 12u64;
        for (level, slot) in [(1u32, 12usize), (2, 13), (3, 14)] {
            if logical >= nblocks {
                break;
            }
            let span = per.saturating_pow(level);
            let ptr = u32_or0(&inode.block, slot.saturating_mul(4));
            if ptr != 0 {
                self.indirect(u64::from(ptr), level, logical, nblocks, runs, &mut budget)?;
            }
            logical = logical.saturating_add(span);
        }
        Ok(())
    }

    fn indirect(
        &self,
        block: u64,
        level: u32,
        first_logical: u64,
        nblocks: u64,
        runs: &mut Vec<Run>,
        budget: &mut usize,
    ) -> Result<(), RawError> {
        if *budget == 0 {
            return Err(RawError::Unsupported(format!(
                "more than {MAX_INDIRECT_BLOCKS} indirect blocks"
            )));
        }
        *budget = budget.saturating_sub(1);
        let (at, b) = self.read_block(block)?;
        let per = self.sb.block_size / 4;
        let span = per.saturating_pow(level.saturating_sub(1));
        for i in 0..per {
            let logical = first_logical.saturating_add(i.saturating_mul(span));
            if logical >= nblocks {
                break;
            }
            let ptr = u32_or0(&b, usize::try_from(i).unwrap_or(0).saturating_mul(4));
            if ptr == 0 {
                continue;
            }
            if level == 1 {
                push_run(runs, single(logical, ptr), at)?;
            } else {
                self.indirect(
                    u64::from(ptr),
                    level.saturating_sub(1),
                    logical,
                    nblocks,
                    runs,
                    budget,
                )?;
            }
        }
        Ok(())
    }

    /// The bytes an inline-data inode holds: the 60 bytes of `i_block`, then
    /// the value of its `system.data` extended attribute (in the inode's
    /// extra space, after `i_extra_isize`), with the volume offset of that
    /// value. Not cut to `i_size`.
    pub(crate) fn inline_data(&self, inode: &Inode) -> Result<(Vec<u8>, u64), RawError> {
        let mut b = vec![0u8; usize::from(self.sb.inode_size)];
        self.read_at(inode.offset, &mut b)?;
        let mut out = inode.block.to_vec();
        let (value_at, value) = system_data(&b, inode.offset)?;
        out.extend_from_slice(value);
        Ok((
            out,
            inode
                .offset
                .saturating_add(u64::try_from(value_at).unwrap_or(0)),
        ))
    }

    /// The first `min(i_size, limit)` bytes of `inode` (inline data, or
    /// blocks through its map, holes as zeros).
    pub(crate) fn read_head(&self, inode: &Inode, limit: u64) -> Result<Vec<u8>, RawError> {
        let want = usize::try_from(inode.size.min(limit))
            .map_err(|_| corrupt(inode.offset, "size does not fit in memory"))?;
        if inode.flags & INLINE_DATA_FL != 0 {
            let (mut data, _) = self.inline_data(inode)?;
            if data.len() < want {
                return Err(corrupt(
                    inode.offset,
                    format!(
                        "inline data holds {} bytes, i_size says {}",
                        data.len(),
                        inode.size
                    ),
                ));
            }
            data.truncate(want);
            return Ok(data);
        }
        let mut out = vec![0u8; want];
        let bs = self.sb.block_size;
        for run in self.map(inode)?.iter().filter(|r| !r.unwritten) {
            let Some(from) = run.logical.checked_mul(bs) else {
                break;
            };
            let Ok(from_us) = usize::try_from(from) else {
                break;
            };
            if from_us >= want {
                break;
            }
            let len = run.len.saturating_mul(bs);
            let to = from_us
                .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
                .min(want);
            let base = self.block_offset(run.physical)?;
            if let Some(piece) = out.get_mut(from_us..to) {
                self.read_at(base, piece)?;
            }
        }
        Ok(out)
    }

    /// The target of symbolic link `inode`: up to 59 bytes in `i_block`
    /// (a fast link, the rule `ext4-view` follows), inline data, or the
    /// first block of its content.
    pub(crate) fn symlink_target(&self, inode: &Inode) -> Result<Vec<u8>, RawError> {
        if inode.size == 0 {
            return Err(corrupt(inode.offset, "empty symbolic link target"));
        }
        if inode.size > MAX_LINK_TARGET {
            return Err(corrupt(
                inode.offset,
                format!("symbolic link target of {} bytes", inode.size),
            ));
        }
        if inode.flags & INLINE_DATA_FL == 0 && inode.size < 60 {
            let n = usize::try_from(inode.size).unwrap_or(0);
            return Ok(inode.block.get(..n).unwrap_or_default().to_vec());
        }
        self.read_head(inode, MAX_LINK_TARGET)
    }

    /// Every entry of directory `inode`: its blocks in logical order, the
    /// first block of a hash-tree directory and its index nodes skipped
    /// (their slack holds the index, not old entries).
    pub(crate) fn list_dir(&self, inode: &Inode) -> Result<Listing, RawError> {
        let mut out = Listing::default();
        let both = ENCRYPT_FL | CASEFOLD_FL;
        let tail = if inode.flags & both == both { 8 } else { 0 };
        if inode.flags & INLINE_DATA_FL != 0 {
            // i_block: the parent's inode number, then entries.
            let parent = u32_or0(&inode.block, 0);
            out.live.push(Dirent {
                inode: parent,
                name: b"..".to_vec(),
                file_type: None,
                offset: inode.offset,
            });
            let at = inode
                .offset
                .saturating_add(u64::try_from(I_BLOCK.saturating_add(4)).unwrap_or(0));
            self.parse_dir_block_tail(inode.block.get(4..).unwrap_or_default(), at, tail, &mut out);
            // The rest of the entries: the `system.data` value, laid out
            // like one more directory block.
            let (data, value_at) = self.inline_data(inode)?;
            let extra = data.get(I_BLOCK_LEN..).unwrap_or_default();
            if !extra.is_empty() {
                self.parse_dir_block_tail(extra, value_at, tail, &mut out);
            }
            return Ok(out);
        }
        let runs = self.map(inode)?;
        let nblocks = inode.size.div_ceil(self.sb.block_size);
        if nblocks > MAX_DIR_BLOCKS {
            out.findings.push(Finding {
                offset: inode.offset,
                what: format!(
                    "directory inode {} has {nblocks} blocks; only the first {MAX_DIR_BLOCKS} are read",
                    inode.number
                ),
            });
        }
        let nblocks = nblocks.min(MAX_DIR_BLOCKS);
        let indexed = inode.flags & INDEX_FL != 0;
        for run in runs.iter().filter(|r| !r.unwritten) {
            for k in 0..run.len {
                let logical = run.logical.saturating_add(k);
                if logical >= nblocks {
                    break;
                }
                let physical = run.physical.saturating_add(k);
                let (at, block) = match self.read_block(physical) {
                    Ok(b) => b,
                    Err(e) => {
                        out.findings.push(Finding {
                            offset: inode.offset,
                            what: format!("directory inode {} block {logical}: {e}", inode.number),
                        });
                        continue;
                    }
                };
                if indexed && logical == 0 {
                    self.parse_dx_root(&block, at, &mut out);
                    continue;
                }
                if indexed && is_dx_node(&block, self.sb.block_size) {
                    continue;
                }
                self.parse_dir_block_tail(&block, at, tail, &mut out);
                if out.live.len().saturating_add(out.deleted.len()) >= MAX_DIR_ENTRIES {
                    out.findings.push(Finding {
                        offset: at,
                        what: format!(
                            "directory inode {} has more than {MAX_DIR_ENTRIES} entries; the rest are not listed",
                            inode.number
                        ),
                    });
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// `.` and `..` of a hash-tree root; the rest of the block is the index.
    fn parse_dx_root(&self, block: &[u8], at: u64, out: &mut Listing) {
        let mut pos = 0usize;
        for _ in 0..2 {
            let Some(d) = self.dirent_at(block, pos, at) else {
                out.findings.push(Finding {
                    offset: at,
                    what: "hash-tree root: `.`/`..` entries unreadable".into(),
                });
                return;
            };
            let rec_len = usize::from(u16_or0(block, pos.saturating_add(4)));
            out.live.push(d);
            pos = pos.saturating_add(rec_len);
        }
    }

    fn dirent_at(&self, block: &[u8], pos: usize, at: u64) -> Option<Dirent> {
        let inode = u32_le(block, pos)?;
        let (name_len, file_type) = if self.sb.has_filetype() {
            (
                usize::from(*block.get(pos.checked_add(6)?)?),
                Some(*block.get(pos.checked_add(7)?)?),
            )
        } else {
            (usize::from(u16_le(block, pos.checked_add(6)?)?), None)
        };
        let start = pos.checked_add(DIRENT_HEADER)?;
        let name = block.get(start..start.checked_add(name_len)?)?.to_vec();
        Some(Dirent {
            inode,
            name,
            file_type,
            offset: at.saturating_add(u64::try_from(pos).ok()?),
        })
    }

    /// Parses one linear, hash-tree leaf or inline directory block at volume
    /// offset `at`: live entries, then any plausible entry in each live
    /// entry's slack. A `rec_len` that is too small, unaligned or runs
    /// past the block ends the block with a finding.
    /// Entries that store `tail` bytes after their name (the 8-byte name
    /// hash of an encrypted, case-folded directory) have no slack there.
    fn parse_dir_block_tail(&self, block: &[u8], at: u64, tail: usize, out: &mut Listing) {
        let len = block.len();
        let mut pos = 0usize;
        // Each step advances by at least 12 bytes, so this ends.
        while pos < len {
            let here = at.saturating_add(u64::try_from(pos).unwrap_or(0));
            let raw = u16_le(block, pos.saturating_add(4));
            let rec_len = raw.map(|r| rec_len_from_disk(r, self.sb.block_size));
            let Some(rec_len) = rec_len.filter(|&r| {
                r >= 12 && r % 4 == 0 && pos.checked_add(r).is_some_and(|end| end <= len)
            }) else {
                out.findings.push(Finding {
                    offset: here,
                    what: format!(
                        "directory entry rec_len {} at block offset {pos} is invalid (block of {len} bytes); rest of block skipped",
                        raw.map_or_else(|| "missing".to_string(), |r| r.to_string())
                    ),
                });
                return;
            };
            let Some(d) = self.dirent_at(block, pos, at) else {
                out.findings.push(Finding {
                    offset: here,
                    what: "directory entry name runs past the block".into(),
                });
                return;
            };
            // `.` and `..` never carry the hash.
            let tail = if d.inode != 0 && d.name != b"." && d.name != b".." {
                tail
            } else {
                0
            };
            let used = DIRENT_HEADER
                .saturating_add(d.name.len())
                .saturating_add(tail);
            if used > rec_len {
                out.findings.push(Finding {
                    offset: here,
                    what: format!(
                        "directory entry name of {} bytes does not fit its rec_len {rec_len}",
                        d.name.len()
                    ),
                });
                return;
            }
            if d.inode != 0 {
                out.live.push(d);
            } else if pos == 0 && self.plausible(&d) {
                // The first entry of a block is deleted by clearing its inode.
                out.deleted.push(d);
            }
            let slack_from = pos.saturating_add(round4(used));
            let slack_to = pos.saturating_add(rec_len);
            self.scan_slack(block, slack_from, slack_to, at, out);
            pos = slack_to;
        }
    }

    fn scan_slack(&self, block: &[u8], from: usize, to: usize, at: u64, out: &mut Listing) {
        let mut pos = from;
        while pos.saturating_add(12) <= to {
            match self.dirent_at(block, pos, at) {
                Some(d)
                    if d.inode != 0
                        && d.inode <= self.sb.inodes_count
                        && self.plausible(&d)
                        && pos
                            .saturating_add(round4(DIRENT_HEADER.saturating_add(d.name.len())))
                            <= to
                        && u16_le(block, pos.saturating_add(4)).is_some_and(|r| {
                            usize::from(r) >= DIRENT_HEADER.saturating_add(d.name.len())
                                && r % 4 == 0
                        }) =>
                {
                    let used = round4(DIRENT_HEADER.saturating_add(d.name.len()));
                    out.deleted.push(d);
                    pos = pos.saturating_add(used);
                }
                _ => pos = pos.saturating_add(4),
            }
        }
    }

    /// A name and file type a real entry could have.
    fn plausible(&self, d: &Dirent) -> bool {
        !d.name.is_empty()
            && d.name != b"."
            && d.name != b".."
            && !d.name.iter().any(|&c| c == 0 || c == b'/')
            && d.file_type.is_none_or(|t| (1..=7).contains(&t))
    }

    /// Follows `s_last_orphan` through each inode's `i_dtime`, stopping at
    /// 0, a repeated inode (a loop), an invalid number or [`MAX_ORPHANS`].
    pub(crate) fn orphans(&self) -> Orphans {
        let mut out = Orphans::default();
        let mut seen = HashSet::new();
        let mut next = self.sb.last_orphan;
        let mut from = SUPERBLOCK_AT.saturating_add(u64::try_from(S_LAST_ORPHAN).unwrap_or(0));
        while next != 0 {
            if out.inodes.len() >= MAX_ORPHANS {
                out.findings.push(Finding {
                    offset: from,
                    what: format!(
                        "orphan list longer than {MAX_ORPHANS} inodes; rest not followed"
                    ),
                });
                break;
            }
            if !seen.insert(next) {
                out.findings.push(Finding {
                    offset: from,
                    what: format!("orphan list loops back to inode {next}; stopped"),
                });
                break;
            }
            match self.inode(next) {
                Ok(inode) => {
                    from = inode
                        .offset
                        .saturating_add(u64::try_from(I_DTIME).unwrap_or(0));
                    next = inode.dtime;
                    out.inodes.push(inode);
                }
                Err(e) => {
                    out.findings.push(Finding {
                        offset: from,
                        what: format!("orphan list: inode {next}: {e}"),
                    });
                    break;
                }
            }
        }
        out
    }
}

/// The value of the `system.data` extended attribute among the in-inode
/// attributes of inode bytes `b` (at volume offset `at`), with its offset
/// in `b`; empty when there is none. Each entry takes at least 16 bytes
/// inside `b`, so the scan ends.
fn system_data(b: &[u8], at: u64) -> Result<(usize, &[u8]), RawError> {
    let none = (b.len(), &b[..0]);
    if b.len() <= GOOD_OLD_INODE_SIZE {
        return Ok(none);
    }
    let start = GOOD_OLD_INODE_SIZE.saturating_add(usize::from(u16_or0(b, I_EXTRA_ISIZE)));
    if u32_le(b, start) != Some(XATTR_MAGIC) {
        return Ok(none);
    }
    let first = start.saturating_add(4);
    let mut pos = first;
    let bad = |what: String| corrupt(at.saturating_add(u64::try_from(start).unwrap_or(0)), what);
    while pos.saturating_add(XATTR_ENTRY_HEADER) <= b.len() {
        if u32_le(b, pos) == Some(0) {
            break;
        }
        let name_len = usize::from(b.get(pos).copied().unwrap_or(0));
        let index = b.get(pos.saturating_add(1)).copied().unwrap_or(0);
        let value_offs = usize::from(u16_or0(b, pos.saturating_add(2)));
        let value_inum = u32_or0(b, pos.saturating_add(4));
        let value_size = usize::try_from(u32_or0(b, pos.saturating_add(8))).unwrap_or(usize::MAX);
        let name_at = pos.saturating_add(XATTR_ENTRY_HEADER);
        let name = b
            .get(name_at..name_at.saturating_add(name_len))
            .ok_or_else(|| bad("extended attribute name runs past the inode".into()))?;
        if index == XATTR_INDEX_SYSTEM && name == b"data" {
            if value_inum != 0 {
                return Err(RawError::Unsupported(
                    "system.data kept in an extended-attribute inode".into(),
                ));
            }
            let from = first.saturating_add(value_offs);
            let value = from
                .checked_add(value_size)
                .and_then(|to| b.get(from..to))
                .ok_or_else(|| {
                    bad(format!(
                        "system.data value of {value_size} bytes at {value_offs} runs past the inode"
                    ))
                })?;
            return Ok((from, value));
        }
        pos = round4(name_at.saturating_add(name_len));
    }
    Ok(none)
}

/// A hash-tree interior node: a fake entry with no inode and no name
/// spanning the whole block.
fn is_dx_node(block: &[u8], block_size: u64) -> bool {
    u32_le(block, 0) == Some(0)
        && u16_le(block, 4).map(|r| rec_len_from_disk(r, block_size))
            == usize::try_from(block_size).ok()
        && block.get(6) == Some(&0)
}

/// `ext4_rec_len_from_disk`: 64 KiB blocks store their full length as 0 or 65535.
fn rec_len_from_disk(raw: u16, block_size: u64) -> usize {
    if block_size < 65536 {
        return usize::from(raw);
    }
    if raw == 0 || raw == u16::MAX {
        return 65536;
    }
    let low = usize::from(raw & 0xFFFC);
    let high = usize::from(raw & 3) << 16;
    low | high
}

fn round4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn single(logical: u64, ptr: u32) -> Run {
    Run {
        logical,
        physical: u64::from(ptr),
        len: 1,
        unwritten: false,
    }
}

/// Appends `run`, merging it with the previous run when contiguous.
fn push_run(runs: &mut Vec<Run>, run: Run, at: u64) -> Result<(), RawError> {
    if run.len == 0 {
        return Ok(());
    }
    if let Some(last) = runs.last_mut() {
        let next_logical = last.logical.saturating_add(last.len);
        if run.logical < next_logical {
            return Err(corrupt(
                at,
                format!(
                    "block map goes backwards or overlaps at logical block {}",
                    run.logical
                ),
            ));
        }
        if run.logical == next_logical
            && run.physical == last.physical.saturating_add(last.len)
            && run.unwritten == last.unwritten
        {
            last.len = last.len.saturating_add(run.len);
            return Ok(());
        }
    }
    if runs.len() >= MAX_RUNS {
        return Err(RawError::Unsupported(format!(
            "block map of more than {MAX_RUNS} runs"
        )));
    }
    runs.push(run);
    Ok(())
}

/// An inode timestamp: signed 32-bit seconds, extended by the extra
/// field's two epoch bits, plus its nanoseconds.
fn timestamp(secs: u32, extra: Option<u32>) -> Time {
    let base = i64::from(i32::from_le_bytes(secs.to_le_bytes()));
    match extra {
        Some(x) => Time {
            secs: base.saturating_add(i64::from(x & 3) << 32),
            nanos: (x >> 2).min(999_999_999),
        },
        None => Time {
            secs: base,
            nanos: 0,
        },
    }
}

fn parse_inode(number: u32, offset: u64, b: &[u8]) -> Inode {
    let extra_isize = if b.len() > GOOD_OLD_INODE_SIZE {
        usize::from(u16_or0(b, I_EXTRA_ISIZE))
    } else {
        0
    };
    let extra_end = GOOD_OLD_INODE_SIZE.saturating_add(extra_isize).min(b.len());
    // An extra field exists only if the inode's extra space covers it.
    let extra = |off: usize| -> Option<u32> {
        if off.saturating_add(4) <= extra_end {
            u32_le(b, off)
        } else {
            None
        }
    };
    let mut block = [0u8; I_BLOCK_LEN];
    if let Some(src) = b.get(I_BLOCK..I_BLOCK.saturating_add(I_BLOCK_LEN)) {
        block.copy_from_slice(src);
    }
    Inode {
        number,
        offset,
        mode: u16_or0(b, I_MODE),
        uid: u32::from(u16_or0(b, I_UID)) | (u32::from(u16_or0(b, I_UID_HIGH)) << 16),
        gid: u32::from(u16_or0(b, I_GID)) | (u32::from(u16_or0(b, I_GID_HIGH)) << 16),
        size: join(u32_or0(b, I_SIZE_LO), u32_or0(b, I_SIZE_HIGH)),
        links_count: u16_or0(b, I_LINKS_COUNT),
        flags: u32_or0(b, I_FLAGS),
        atime: timestamp(u32_or0(b, I_ATIME), extra(I_ATIME_EXTRA)),
        ctime: timestamp(u32_or0(b, I_CTIME), extra(I_CTIME_EXTRA)),
        mtime: timestamp(u32_or0(b, I_MTIME), extra(I_MTIME_EXTRA)),
        crtime: extra(I_CRTIME).map(|s| timestamp(s, extra(I_CRTIME_EXTRA))),
        dtime: u32_or0(b, I_DTIME),
        block,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]
mod tests {
    use super::*;

    /// A minimal superblock: 1 KiB blocks, 64 blocks, 16 inodes, filetype.
    fn tiny() -> Vec<u8> {
        let mut img = vec![0u8; 64 * 1024];
        let sb = 1024;
        img[sb + S_INODES_COUNT..][..4].copy_from_slice(&16u32.to_le_bytes());
        img[sb + S_BLOCKS_COUNT_LO..][..4].copy_from_slice(&64u32.to_le_bytes());
        img[sb + S_FIRST_DATA_BLOCK..][..4].copy_from_slice(&1u32.to_le_bytes());
        img[sb + S_BLOCKS_PER_GROUP..][..4].copy_from_slice(&8192u32.to_le_bytes());
        img[sb + S_INODES_PER_GROUP..][..4].copy_from_slice(&16u32.to_le_bytes());
        img[sb + S_MAGIC..][..2].copy_from_slice(&MAGIC.to_le_bytes());
        img[sb + S_REV_LEVEL..][..4].copy_from_slice(&1u32.to_le_bytes());
        img[sb + S_INODE_SIZE..][..2].copy_from_slice(&128u16.to_le_bytes());
        img[sb + S_FEATURE_INCOMPAT..][..4].copy_from_slice(&INCOMPAT_FILETYPE.to_le_bytes());
        img
    }

    fn dirent(buf: &mut [u8], pos: usize, inode: u32, rec_len: u16, name: &[u8], ft: u8) {
        buf[pos..pos + 4].copy_from_slice(&inode.to_le_bytes());
        buf[pos + 4..pos + 6].copy_from_slice(&rec_len.to_le_bytes());
        buf[pos + 6] = name.len() as u8;
        buf[pos + 7] = ft;
        buf[pos + 8..pos + 8 + name.len()].copy_from_slice(name);
    }

    #[test]
    fn slack_and_cleared_first_entries_are_deleted_ones() {
        let img = tiny();
        let fs = RawFs::open(&img).unwrap();
        let mut block = vec![0u8; 1024];
        // First entry cleared (inode 0) but its name kept.
        dirent(&mut block, 0, 0, 24, b"gone.txt", 1);
        // A live entry whose rec_len swallowed the deleted one after it.
        dirent(&mut block, 24, 12, 1000, b"kept", 1);
        dirent(&mut block, 36, 13, 988, b"deleted.jpg", 1);
        let mut out = Listing::default();
        fs.parse_dir_block_tail(&block, 0x4000, 0, &mut out);
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        assert_eq!(out.live.len(), 1);
        assert_eq!(
            (out.live[0].inode, &out.live[0].name[..]),
            (12, &b"kept"[..])
        );
        let names: Vec<(&[u8], u32, u64)> = out
            .deleted
            .iter()
            .map(|d| (&d.name[..], d.inode, d.offset))
            .collect();
        assert_eq!(
            names,
            vec![
                (&b"gone.txt"[..], 0, 0x4000),
                (&b"deleted.jpg"[..], 13, 0x4000 + 36)
            ]
        );
    }

    #[test]
    fn rec_len_past_the_block_is_a_finding() {
        let img = tiny();
        let fs = RawFs::open(&img).unwrap();
        let mut block = vec![0u8; 1024];
        dirent(&mut block, 0, 11, 12, b"a", 2);
        dirent(&mut block, 12, 12, 4000, b"b", 1);
        let mut out = Listing::default();
        fs.parse_dir_block_tail(&block, 0, 0, &mut out);
        assert_eq!(out.live.len(), 1);
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].offset, 12);
        assert!(
            out.findings[0].what.contains("rec_len 4000"),
            "{:?}",
            out.findings
        );
    }

    fn be(img: &mut [u8], at: usize, v: u32) {
        img[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// A journal header at journal block `j` (physical block 20 + j).
    fn header(img: &mut [u8], j: usize, kind: u32, seq: u32) {
        let at = (20 + j) * 1024;
        be(img, at, JBD2_MAGIC);
        be(img, at + 4, kind);
        be(img, at + 8, seq);
    }

    #[test]
    fn journal_replay_honours_revokes_and_escapes() {
        let mut img = tiny();
        let sb = 1024;
        img[sb + S_FEATURE_COMPAT..][..4].copy_from_slice(&COMPAT_HAS_JOURNAL.to_le_bytes());
        img[sb + S_JOURNAL_INUM..][..4].copy_from_slice(&8u32.to_le_bytes());
        // Group descriptor (block 2): inode table at block 5.
        img[2048 + BG_INODE_TABLE_LO..][..4].copy_from_slice(&5u32.to_le_bytes());
        // Inode 8: one extent, journal blocks 0..8 at physical 20..28.
        let ino = 5 * 1024 + 7 * 128;
        img[ino + I_FLAGS..][..4].copy_from_slice(&EXTENTS_FL.to_le_bytes());
        let eh = ino + I_BLOCK;
        img[eh..eh + 2].copy_from_slice(&EXTENT_MAGIC.to_le_bytes());
        img[eh + 2..eh + 4].copy_from_slice(&1u16.to_le_bytes());
        img[eh + 4..eh + 6].copy_from_slice(&4u16.to_le_bytes());
        img[eh + 16..eh + 18].copy_from_slice(&8u16.to_le_bytes());
        img[eh + 20..eh + 24].copy_from_slice(&20u32.to_le_bytes());
        // Journal superblock v2: 1 KiB blocks, 8 long, log from 1, sequence 5.
        header(&mut img, 0, 4, 0);
        for (off, v) in [
            (JSB_BLOCKSIZE, 1024),
            (JSB_MAXLEN, 8),
            (JSB_FIRST, 1),
            (JSB_SEQUENCE, 5),
            (JSB_START, 1),
        ] {
            be(&mut img, 20 * 1024 + off, v);
        }
        // Transaction 5 writes blocks 40 and 41 (41 escaped).
        header(&mut img, 1, JBD2_DESCRIPTOR, 5);
        let d = 21 * 1024 + 12;
        be(&mut img, d, 40);
        img[d + 6..d + 8].copy_from_slice(&(JBD2_FLAG_SAME_UUID as u16).to_be_bytes());
        be(&mut img, d + 8, 41);
        let flags = JBD2_FLAG_SAME_UUID | JBD2_FLAG_LAST_TAG | JBD2_FLAG_ESCAPE;
        img[d + 14..d + 16].copy_from_slice(&(flags as u16).to_be_bytes());
        img[22 * 1024..22 * 1024 + 4].copy_from_slice(b"new!");
        img[23 * 1024 + 4..23 * 1024 + 8].copy_from_slice(b"rest");
        header(&mut img, 4, JBD2_COMMIT, 5);
        // Transaction 6 revokes block 40.
        header(&mut img, 5, JBD2_REVOKE, 6);
        be(&mut img, 25 * 1024 + 12, 20);
        be(&mut img, 25 * 1024 + 16, 40);
        header(&mut img, 6, JBD2_COMMIT, 6);
        // Transaction 7 never commits: its block is not replayed.
        header(&mut img, 7, JBD2_DESCRIPTOR, 7);
        img[40 * 1024..40 * 1024 + 4].copy_from_slice(b"old.");
        let fs = RawFs::open(&img).unwrap();
        assert_eq!(
            fs.journal,
            JournalReplay {
                transactions: 2,
                blocks: 1,
                note: None
            }
        );
        let mut buf = [0u8; 8];
        fs.read_at(40 * 1024, &mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"old.");
        fs.read_at(41 * 1024, &mut buf).unwrap();
        assert_eq!(buf[..4], JBD2_MAGIC.to_be_bytes());
        assert_eq!(&buf[4..], b"rest");
        // A read across the replaced block takes each block from its own source.
        let mut across = vec![0u8; 2048];
        fs.read_at(40 * 1024, &mut across).unwrap();
        assert_eq!(&across[..4], b"old.");
        assert_eq!(&across[1028..1032], b"rest");
    }

    #[test]
    fn extra_epoch_bits_extend_the_seconds() {
        let t = timestamp(0x8000_0000, Some(1 | (5 << 2)));
        assert_eq!((t.secs, t.nanos), (-(1i64 << 31) + (1i64 << 32), 5));
        assert_eq!(timestamp(10, None), Time { secs: 10, nanos: 0 });
    }

    /// 256-byte inode bytes with `i_extra_isize` 32 and, after it, the
    /// in-inode attribute header and one `system.data` entry.
    fn inode_with_data(value: &[u8], value_offs: u16) -> Vec<u8> {
        let mut b = vec![0u8; 256];
        b[I_EXTRA_ISIZE..][..2].copy_from_slice(&32u16.to_le_bytes());
        let start = 160;
        b[start..start + 4].copy_from_slice(&XATTR_MAGIC.to_le_bytes());
        let e = start + 4;
        b[e] = 4;
        b[e + 1] = XATTR_INDEX_SYSTEM;
        b[e + 2..e + 4].copy_from_slice(&value_offs.to_le_bytes());
        b[e + 8..e + 12].copy_from_slice(&(value.len() as u32).to_le_bytes());
        b[e + 16..e + 20].copy_from_slice(b"data");
        let v = e + usize::from(value_offs);
        if let Some(dst) = b.get_mut(v..v + value.len()) {
            dst.copy_from_slice(value);
        }
        b
    }

    #[test]
    fn system_data_is_found_after_the_extra_fields() {
        let b = inode_with_data(b"tail bytes", 40);
        let (at, value) = system_data(&b, 0x1000).unwrap();
        assert_eq!((at, value), (164 + 40, &b"tail bytes"[..]));
        // No magic: no attributes.
        let mut none = b.clone();
        none[163] = 0;
        assert!(system_data(&none, 0).unwrap().1.is_empty());
        // A 128-byte inode has no extra space at all.
        assert!(system_data(&b[..128], 0).unwrap().1.is_empty());
    }

    #[test]
    fn system_data_past_the_inode_is_corrupt_not_a_panic() {
        let mut b = inode_with_data(b"x", 40);
        // The value claims 4000 bytes.
        b[164 + 8..164 + 12].copy_from_slice(&4000u32.to_le_bytes());
        let e = system_data(&b, 0x1000).unwrap_err();
        assert!(matches!(e, RawError::Corrupt { offset: 0x10A0, .. }), "{e}");
        // The offset runs past the inode.
        let b = inode_with_data(b"x", 0xFFF0);
        assert!(system_data(&b, 0).is_err());
        // i_extra_isize past the inode.
        let mut b = inode_with_data(b"x", 40);
        b[I_EXTRA_ISIZE..][..2].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(system_data(&b, 0).unwrap().1.is_empty());
        // A name length running past the inode.
        let mut b = inode_with_data(b"x", 40);
        b[164] = 200;
        assert!(system_data(&b, 0).is_err());
    }

    #[test]
    fn superblock_backups_follow_sparse_super() {
        let mut img = tiny();
        img[1024 + S_FEATURE_RO_COMPAT..][..4]
            .copy_from_slice(&RO_COMPAT_SPARSE_SUPER.to_le_bytes());
        let fs = RawFs::open(&img).unwrap();
        let with: Vec<u64> = (0..130).filter(|&g| fs.sb.has_super(g)).collect();
        assert_eq!(with, [0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125]);
    }

    #[test]
    fn feature_names_spell_unknown_bits_in_hex() {
        assert_eq!(
            incompat_names(0x2_8002 | 0x40_0000),
            ["filetype", "inline_data", "casefold", "0x400000"]
        );
    }

    #[test]
    fn rec_len_of_64k_blocks() {
        assert_eq!(rec_len_from_disk(0, 65536), 65536);
        assert_eq!(rec_len_from_disk(0xFFFF, 65536), 65536);
        assert_eq!(rec_len_from_disk(12, 4096), 12);
    }
}
