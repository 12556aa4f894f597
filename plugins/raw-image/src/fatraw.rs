//! A raw, read-only FAT12/16/32 reader for what `fatfs` does not show:
//! directory entries marked deleted (`0xE5`). It parses the boot sector
//! (BPB), reads FAT entries (12, 16 or 28 bits) of the active FAT, follows
//! cluster chains, reads the fixed root directory (FAT12/16) or the root
//! cluster chain (FAT32), parses 32-byte directory entries with their
//! long-file-name (LFN) entries, and walks every live directory from the
//! root reporting each deleted entry ([`RawFat::walk_deleted`]) and whether
//! its content can be recovered ([`RawFat::plan_recovery`]).
//!
//! Specification: Microsoft "FAT: General Overview of On-Disk Format" 1.03
//! (BPB fields and FAT type by cluster count, section 3; FAT entries,
//! section 4; directory entries, section 6; long names and their checksum,
//! section 7).
//!
//! Policy: nothing is trusted. Every offset is checked against the volume,
//! every cluster number against the cluster count and the FAT's size, a
//! chain is followed with a visited set and at most the 2 MiB a directory
//! may hold (65 536 entries), the walk is bounded in depth ([`MAX_DEPTH`])
//! and visits each directory cluster chain once, and a damaged directory is
//! a [`Event::Problem`] naming its offset while the walk goes on. Reading
//! stops at a directory's end marker (first byte `0x00`), as the
//! specification says nothing follows it. A deleted directory is entered
//! only when its first cluster is free and still starts with `.` and `..`,
//! and only that cluster is read (its chain was cleared); entries that look
//! like filler (reserved attribute bits set, control characters in the
//! name) are skipped. Deletion overwrites the first byte of the short name
//! and of every LFN entry with `0xE5` (losing the LFN sequence numbers):
//! the long name is reassembled from the deleted LFN entries right before
//! the short entry when they share one checksum and that checksum is
//! consistent with the rest of the short name (see
//! [`deleted_long_name`]); otherwise the name is `_` followed by the rest
//! of the 8.3 name, as other tools write it, and the entry says why.
//! Recovery is the usual heuristic: deletion clears the FAT chain, so the
//! content is taken from the clusters that follow the first cluster,
//! contiguously, when all of them are still free; anything else is not
//! recovered and the reason names the cluster.
#![forbid(unsafe_code)]

use crate::ReadAt;
use crate::plugin::{MAX_DEPTH, read_exact};
use crate::read_at::{u16_le, u32_le};
use exhibit_plugin_sdk::{PluginError, Time};
use std::cell::RefCell;
use std::collections::HashSet;
use std::io;

/// Directory entry size.
const ENTRY: usize = 32;
/// Largest directory the specification allows: 65 536 entries of 32 bytes.
const MAX_DIR_BYTES: u64 = 65_536 * 32;
/// First byte of a deleted entry (short or long).
pub(crate) const DELETED: u8 = 0xE5;
/// Attribute bits.
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_LONG_NAME: u8 = 0x0F;
const ATTR_LONG_NAME_MASK: u8 = 0x3F;
/// `DIR_NTRes` bits some systems set for an all-lowercase base name or extension.
const NTRES_LOWER_BASE: u8 = 0x08;
const NTRES_LOWER_EXT: u8 = 0x10;
/// Most LFN entries one name can use (255 characters, 13 per entry).
const MAX_LFN_ENTRIES: usize = 20;
/// Size of the block of the FAT kept in memory.
const FAT_BLOCK: u64 = 4096;

/// FAT type, decided by the count of data clusters alone (spec section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

impl FatType {
    /// The smallest end-of-chain value and the bad-cluster value.
    fn markers(self) -> (u32, u32) {
        match self {
            FatType::Fat12 => (0xFF8, 0xFF7),
            FatType::Fat16 => (0xFFF8, 0xFFF7),
            FatType::Fat32 => (0x0FFF_FFF8, 0x0FFF_FFF7),
        }
    }
}

/// The geometry a BPB describes, in bytes from the start of the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bpb {
    pub(crate) fat_type: FatType,
    pub(crate) cluster_size: u64,
    /// Data clusters (numbered 2 ..= `cluster_count + 1`).
    pub(crate) cluster_count: u32,
    /// Where the FAT read here starts (the active one on FAT32 when
    /// mirroring is off, else the first).
    pub(crate) fat_offset: u64,
    pub(crate) fat_len: u64,
    /// Fixed root directory (FAT12/16); empty on FAT32.
    pub(crate) root_offset: u64,
    pub(crate) root_len: u64,
    /// First cluster of the root directory (FAT32).
    pub(crate) root_cluster: u32,
    pub(crate) data_offset: u64,
}

impl Bpb {
    /// Parses the BPB of `boot` (the first sector, at least 90 bytes).
    pub(crate) fn parse(boot: &[u8]) -> Result<Bpb, String> {
        let field = |what: &str| format!("boot sector too short for {what}");
        let bps = u64::from(u16_le(boot, 11).ok_or_else(|| field("BPB_BytsPerSec"))?);
        let spc = u64::from(*boot.get(13).ok_or_else(|| field("BPB_SecPerClus"))?);
        let reserved = u64::from(u16_le(boot, 14).ok_or_else(|| field("BPB_RsvdSecCnt"))?);
        let num_fats = u64::from(*boot.get(16).ok_or_else(|| field("BPB_NumFATs"))?);
        let root_entries = u64::from(u16_le(boot, 17).ok_or_else(|| field("BPB_RootEntCnt"))?);
        let tot16 = u64::from(u16_le(boot, 19).ok_or_else(|| field("BPB_TotSec16"))?);
        let fat16 = u64::from(u16_le(boot, 22).ok_or_else(|| field("BPB_FATSz16"))?);
        let tot32 = u64::from(u32_le(boot, 32).ok_or_else(|| field("BPB_TotSec32"))?);
        if !(512..=4096).contains(&bps) || !bps.is_power_of_two() {
            return Err(format!(
                "BPB_BytsPerSec {bps} is not 512, 1024, 2048 or 4096"
            ));
        }
        if spc == 0 || !spc.is_power_of_two() {
            return Err(format!("BPB_SecPerClus {spc} is not a power of two"));
        }
        if reserved == 0 || num_fats == 0 {
            return Err(format!(
                "BPB_RsvdSecCnt {reserved} or BPB_NumFATs {num_fats} is zero"
            ));
        }
        let fat_sectors = if fat16 != 0 {
            fat16
        } else {
            u64::from(u32_le(boot, 36).ok_or_else(|| field("BPB_FATSz32"))?)
        };
        if fat_sectors == 0 {
            return Err("the FAT size (BPB_FATSz16 and BPB_FATSz32) is zero".into());
        }
        let total = if tot16 != 0 { tot16 } else { tot32 };
        // All products below are of a u16/u32 field and a value ≤ 4096·255:
        // no overflow in u64, but checked anyway to keep the lint quiet.
        let overflow = || "BPB fields overflow".to_string();
        let root_sectors = root_entries
            .checked_mul(32)
            .and_then(|b| b.checked_add(bps.checked_sub(1)?))
            .and_then(|b| b.checked_div(bps))
            .ok_or_else(overflow)?;
        let meta_sectors = num_fats
            .checked_mul(fat_sectors)
            .and_then(|f| f.checked_add(reserved))
            .and_then(|f| f.checked_add(root_sectors))
            .ok_or_else(overflow)?;
        let data_sectors = total.checked_sub(meta_sectors).ok_or_else(|| {
            format!("{total} sectors in all, fewer than the {meta_sectors} before the data region")
        })?;
        let clusters = data_sectors.checked_div(spc).ok_or_else(overflow)?;
        let fat_type = if clusters < 4085 {
            FatType::Fat12
        } else if clusters < 65_525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        let (fat_index, root_cluster) = if fat_type == FatType::Fat32 {
            let ext_flags = u16_le(boot, 40).ok_or_else(|| field("BPB_ExtFlags"))?;
            let root = u32_le(boot, 44).ok_or_else(|| field("BPB_RootClus"))?;
            // Bit 7: mirroring off, bits 0-3 name the one active FAT.
            let active = if ext_flags & 0x80 != 0 {
                u64::from(ext_flags & 0x0F)
            } else {
                0
            };
            (if active < num_fats { active } else { 0 }, root)
        } else {
            (0, 0)
        };
        let fat_len = fat_sectors.checked_mul(bps).ok_or_else(overflow)?;
        let fat_offset = fat_index
            .checked_mul(fat_len)
            .and_then(|o| o.checked_add(reserved.checked_mul(bps)?))
            .ok_or_else(overflow)?;
        let root_offset = num_fats
            .checked_mul(fat_len)
            .and_then(|o| o.checked_add(reserved.checked_mul(bps)?))
            .ok_or_else(overflow)?;
        let root_len = if fat_type == FatType::Fat32 {
            0
        } else {
            root_entries.checked_mul(32).ok_or_else(overflow)?
        };
        let data_offset = meta_sectors.checked_mul(bps).ok_or_else(overflow)?;
        // Entries the FAT can hold: a cluster past them has no FAT entry.
        let fat_bits: u64 = match fat_type {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        };
        let fat_entries = fat_len.saturating_mul(8).checked_div(fat_bits).unwrap_or(0);
        let cluster_count = clusters.min(fat_entries.saturating_sub(2));
        Ok(Bpb {
            fat_type,
            cluster_size: spc.checked_mul(bps).ok_or_else(overflow)?,
            cluster_count: u32::try_from(cluster_count).unwrap_or(u32::MAX),
            fat_offset,
            fat_len,
            root_offset,
            root_len,
            root_cluster,
            data_offset,
        })
    }

    /// Highest valid cluster number.
    pub(crate) fn last_cluster(&self) -> u32 {
        self.cluster_count.saturating_add(1)
    }

    /// Whether `c` names a data cluster.
    pub(crate) fn is_data_cluster(&self, c: u32) -> bool {
        (2..=self.last_cluster()).contains(&c)
    }

    /// Byte offset in the volume of data cluster `c`.
    pub(crate) fn cluster_offset(&self, c: u32) -> Option<u64> {
        if !self.is_data_cluster(c) {
            return None;
        }
        u64::from(c)
            .checked_sub(2)?
            .checked_mul(self.cluster_size)?
            .checked_add(self.data_offset)
    }
}

/// What a FAT entry says about a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FatValue {
    Free,
    Next(u32),
    EndOfChain,
    Bad,
    /// 1, or a cluster number past the volume.
    Invalid(u32),
}

/// How a followed chain ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChainEnd {
    EndOfChain,
    /// The FAT points back to a cluster already in the chain.
    Loop {
        at: u32,
        back_to: u32,
    },
    /// The chain names a cluster that is free, bad or no data cluster.
    Broken {
        at: u32,
        what: String,
    },
    /// More clusters than the caller's cap.
    TooLong {
        cap: usize,
    },
}

/// A followed cluster chain.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) clusters: Vec<u32>,
    pub(crate) end: ChainEnd,
}

/// A directory to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirLoc {
    /// The fixed root directory region of FAT12/16.
    FixedRoot,
    /// A cluster chain from this first cluster.
    Clusters(u32),
    /// This one cluster, whatever the FAT says (a deleted directory's first).
    OneCluster(u32),
}

/// A directory waiting to be read by [`RawFat::walk_deleted`].
struct Pending {
    dir: String,
    loc: DirLoc,
    depth: usize,
    /// The directory is itself deleted: all its entries are.
    deleted: bool,
}

/// One 32-byte slot of a directory, with its offset in the volume.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) offset: u64,
    pub(crate) raw: [u8; ENTRY],
}

impl Slot {
    fn attr(&self) -> u8 {
        self.raw[11]
    }

    fn is_long_name(&self) -> bool {
        self.attr() & ATTR_LONG_NAME_MASK == ATTR_LONG_NAME
    }

    fn short_name(&self) -> [u8; 11] {
        let mut name = [0u8; 11];
        name.copy_from_slice(&self.raw[..11]);
        name
    }

    fn first_cluster(&self, fat_type: FatType) -> u32 {
        let lo = u32::from(u16::from_le_bytes([self.raw[26], self.raw[27]]));
        // DIR_FstClusHI is only meaningful on FAT32 (FAT12/16 keep it 0,
        // OS/2 put an extended-attribute handle there).
        let hi = if fat_type == FatType::Fat32 {
            u32::from(u16::from_le_bytes([self.raw[20], self.raw[21]]))
        } else {
            0
        };
        (hi << 16) | lo
    }

    fn size(&self) -> u32 {
        u32::from_le_bytes([self.raw[28], self.raw[29], self.raw[30], self.raw[31]])
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.raw[at], self.raw[at.saturating_add(1)]])
    }

    /// The 13 UTF-16 units of an LFN entry.
    fn lfn_units(&self) -> [u16; 13] {
        let mut units = [0u16; 13];
        let offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (unit, at) in units.iter_mut().zip(offsets) {
            *unit = self.u16_at(at);
        }
        units
    }

    fn lfn_checksum(&self) -> u8 {
        self.raw[13]
    }
}

/// The LFN checksum of an 11-byte short name (spec section 7.2): rotate
/// right by one bit, add the next byte.
pub(crate) fn lfn_checksum(name: &[u8; 11]) -> u8 {
    name.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// The one first byte that gives `name[1..]` the checksum `sum`. Each step
/// of the checksum (rotate, add) is a bijection of the running byte, so
/// exactly one first byte fits; a deleted short entry lost its first byte
/// to `0xE5`, and this is the byte its LFN entries were made for.
fn first_byte_for(name: &[u8; 11], sum: u8) -> u8 {
    let mut trial = *name;
    (0..=u8::MAX)
        .find(|&b| {
            trial[0] = b;
            lfn_checksum(&trial) == sum
        })
        .unwrap_or(0)
}

/// Whether `b` may start a short name (spec section 6.1: not a space, no
/// control character, none of `"*+,./:;<=>?[\]|`, no lowercase letter).
fn legal_short_first(b: u8) -> bool {
    b > 0x20 && b != DELETED && !b.is_ascii_lowercase() && !b"\"*+,./:;<=>?[\\]|\x7f".contains(&b)
}

/// Whether a short entry in a deleted region looks like one: the
/// reserved attribute bits (0x40, 0x80) clear and no control character in
/// the name after the first byte. Filler (a region of `0xE5` or zero
/// bytes) fails this and is not reported.
fn plausible_short_entry(slot: &Slot) -> bool {
    slot.attr() & 0xC0 == 0
        && slot
            .raw
            .get(1..11)
            .is_some_and(|n| n.iter().all(|&b| b >= 0x20))
}

/// The long name in `units` (LFN parts in order), cut at the terminator.
fn decode_units(units: &[u16]) -> String {
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    let units = units.get(..end).unwrap_or_default();
    // Padding after the terminator is 0xFFFF; a name without a terminator
    // that fills its last entry exactly has none.
    char::decode_utf16(units.iter().copied().filter(|&u| u != 0xFFFF))
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// The 8.3 name as `fatfs` shows it: base and extension trimmed, the NT
/// lowercase flags applied, bytes past ASCII (OEM code page) shown as
/// U+FFFD; `first` replaces the first byte (`_` for a deleted entry).
fn short_display(slot: &Slot, first: Option<char>) -> String {
    let name = slot.short_name();
    let ntres = slot.raw[12];
    let piece = |bytes: &[u8], lower: bool, skip_first: bool| -> String {
        let text: String = bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let b = if i == 0 && b == 0x05 { DELETED } else { b };
                if i == 0 && skip_first {
                    first.unwrap_or('_')
                } else if b.is_ascii() {
                    let c = char::from(b);
                    if lower { c.to_ascii_lowercase() } else { c }
                } else {
                    char::REPLACEMENT_CHARACTER
                }
            })
            .collect();
        text.trim_end_matches(' ').to_string()
    };
    let base = piece(
        name.get(..8).unwrap_or_default(),
        ntres & NTRES_LOWER_BASE != 0,
        first.is_some(),
    );
    let ext = piece(
        name.get(8..).unwrap_or_default(),
        ntres & NTRES_LOWER_EXT != 0,
        false,
    );
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// The long name of the live short entry at `slots[at]`: its LFN entries
/// must precede it with sequence numbers 1, 2, … up to one flagged last
/// (`0x40`), all with the short name's checksum. `None` when there is no
/// valid one (then the short name is the name, as `fatfs` does).
fn live_long_name(slots: &[Slot], at: usize) -> Option<String> {
    let sum = lfn_checksum(&slots.get(at)?.short_name());
    let mut units = Vec::new();
    for k in 1..=MAX_LFN_ENTRIES {
        let slot = slots.get(at.checked_sub(k)?)?;
        let order = slot.raw[0];
        if !slot.is_long_name()
            || order == DELETED
            || usize::from(order & 0x1F) != k
            || slot.lfn_checksum() != sum
        {
            return None;
        }
        units.extend_from_slice(&slot.lfn_units());
        if order & 0x40 != 0 {
            let name = decode_units(&units);
            return (!name.is_empty()).then_some(name);
        }
    }
    None
}

/// What became of the long name of a deleted short entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LongName {
    /// Reassembled, its checksum consistent with the short name.
    Valid(String),
    /// No deleted LFN entry right before the short entry.
    Absent,
    /// LFN entries were there but are not this entry's (why).
    Rejected(String),
    /// The entry is not marked deleted (it is in a deleted directory): its
    /// name, long or short, is whole.
    Intact(String),
}

/// The long name of the deleted short entry at `slots[at]`, from the
/// deleted LFN entries right before it. Their sequence numbers were
/// overwritten by `0xE5`, so the run is the adjacent deleted LFN entries
/// sharing the nearest one's checksum. It is accepted when the run is
/// whole (its farthest part holds the terminator or padding, or nothing
/// LFN-like precedes it), and the first short-name byte the checksum
/// implies ([`first_byte_for`]) is a legal one and, when the long name
/// starts with an ASCII letter or digit, is that character in upper case
/// (short names are made from the long name that way). A wrong checksum
/// fails the last test for any name starting with a letter or digit.
pub(crate) fn deleted_long_name(slots: &[Slot], at: usize) -> LongName {
    let Some(short) = slots.get(at) else {
        return LongName::Absent;
    };
    let is_deleted_lfn = |s: &Slot| s.is_long_name() && s.raw[0] == DELETED;
    let Some(nearest) = at
        .checked_sub(1)
        .and_then(|i| slots.get(i))
        .filter(|s| is_deleted_lfn(s))
    else {
        return LongName::Absent;
    };
    let sum = nearest.lfn_checksum();
    let mut units = Vec::new();
    let mut taken = 0usize;
    let mut whole = false;
    for k in 1..=MAX_LFN_ENTRIES {
        let Some(slot) = at.checked_sub(k).and_then(|i| slots.get(i)) else {
            whole = true;
            break;
        };
        if !is_deleted_lfn(slot) {
            whole = true;
            break;
        }
        if slot.lfn_checksum() != sum {
            break;
        }
        let part = slot.lfn_units();
        units.extend_from_slice(&part);
        taken = k;
        if part.iter().any(|&u| u == 0 || u == 0xFFFF) {
            whole = true;
            break;
        }
    }
    let name = decode_units(&units);
    let first = first_byte_for(&short.short_name(), sum);
    if !whole {
        return LongName::Rejected(format!(
            "the {taken} deleted long-name entries before it do not end the name and the one before them has another checksum"
        ));
    }
    if name.is_empty() {
        return LongName::Rejected("its deleted long-name entries hold an empty name".into());
    }
    let lead = name
        .trim_start_matches(['.', ' '])
        .chars()
        .next()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase());
    let fits = legal_short_first(first) && lead.is_none_or(|c| u32::from(c) == u32::from(first));
    if fits {
        LongName::Valid(name)
    } else {
        LongName::Rejected(format!(
            "the checksum {sum:#04x} of the deleted long-name entries before it (\"{name}\") does not fit the short name"
        ))
    }
}

/// FAT date (bits 15-9 year since 1980, 8-5 month, 4-0 day) as days since 1970.
fn fat_days(date: u16) -> Option<i64> {
    let year = i64::from(date >> 9).checked_add(1980)?;
    let month = i64::from((date >> 5) & 0x0F);
    let day = i64::from(date & 0x1F);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(crate::fat::days_from_civil(year, month, day))
}

/// FAT date and time (bits 15-11 hour, 10-5 minute, 4-0 two-second count)
/// plus hundredths (0-199), read as UTC.
fn fat_time(date: u16, time: u16, hundredths: u8) -> Option<Time> {
    let days = fat_days(date)?;
    let hour = i64::from(time >> 11);
    let min = i64::from((time >> 5) & 0x3F);
    let sec = i64::from(time & 0x1F).checked_mul(2)?;
    if hour > 23 || min > 59 || sec > 59 || hundredths > 199 {
        return None;
    }
    let secs = days
        .checked_mul(86_400)?
        .checked_add(hour.checked_mul(3600)?)?
        .checked_add(min.checked_mul(60)?)?
        .checked_add(sec)?
        .checked_add(i64::from(hundredths / 100))?;
    Some(Time {
        secs,
        nanos: u32::from(hundredths % 100).checked_mul(10_000_000)?,
    })
}

/// A deleted directory entry found by [`RawFat::walk_deleted`].
#[derive(Debug, Clone)]
pub(crate) struct DeletedFound {
    /// Offset in the volume of its short entry.
    pub(crate) offset: u64,
    /// `/`-separated path of the live directory holding it (`""` for the root).
    pub(crate) dir: String,
    /// The name given to it: the long name when valid, else `_` + the rest
    /// of the 8.3 name.
    pub(crate) name: String,
    /// The 8.3 name with `_` for its lost first byte (`_MG_20~1.JPG`).
    pub(crate) short_name: String,
    /// What became of its long name.
    pub(crate) long_name: LongName,
    /// Found in a deleted directory's first cluster.
    pub(crate) in_deleted_dir: bool,
    pub(crate) is_dir: bool,
    /// For a directory: whether and how its entries were listed.
    pub(crate) dir_contents: Option<String>,
    pub(crate) attributes: u8,
    pub(crate) size: u32,
    pub(crate) first_cluster: u32,
    pub(crate) mtime: Option<Time>,
    /// Date only (FAT keeps no access time of day).
    pub(crate) atime: Option<Time>,
    pub(crate) btime: Option<Time>,
}

impl DeletedFound {
    /// Its path inside the volume, `/`-separated, from the root.
    pub(crate) fn path(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }
}

/// What [`RawFat::walk_deleted`] reports.
#[derive(Debug)]
pub(crate) enum Event<'e> {
    /// About to read a directory (a point to check for cancellation).
    Directory,
    Deleted(&'e DeletedFound),
    /// Damage at this offset in the volume; the walk goes on.
    Problem {
        offset: u64,
        what: String,
    },
}

/// Where recovered bytes are, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// `len` bytes from `offset` in the volume.
    Contiguous {
        offset: u64,
        len: u64,
        clusters: u64,
    },
    NotRecoverable(String),
}

/// A FAT volume read raw through a [`ReadAt`] (offsets relative to the volume).
pub(crate) struct RawFat<'a> {
    src: &'a dyn ReadAt,
    pub(crate) bpb: Bpb,
    /// The last block of the FAT read: (offset in the FAT, bytes).
    cache: RefCell<Option<(u64, Vec<u8>)>>,
}

impl<'a> RawFat<'a> {
    /// Reads the boot sector of `src` and checks that the FAT and the data
    /// region start inside it.
    pub(crate) fn open(src: &'a dyn ReadAt) -> Result<RawFat<'a>, String> {
        let mut boot = [0u8; 512];
        read_exact(src, 0, &mut boot).map_err(|e| format!("boot sector: {e}"))?;
        let bpb = Bpb::parse(&boot)?;
        if bpb.data_offset > src.len() {
            return Err(format!(
                "the data region would start at {:#x}, past the volume's end ({:#x})",
                bpb.data_offset,
                src.len()
            ));
        }
        Ok(RawFat {
            src,
            bpb,
            cache: RefCell::new(None),
        })
    }

    /// Fills `buf` from offset `at` of the FAT, through the block cache.
    fn fat_bytes(&self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut cache = self.cache.borrow_mut();
        for (i, out) in buf.iter_mut().enumerate() {
            let pos = u64::try_from(i)
                .ok()
                .and_then(|i| at.checked_add(i))
                .filter(|&p| p < self.bpb.fat_len)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "past the FAT"))?;
            let block = pos.saturating_sub(pos % FAT_BLOCK);
            let hit = matches!(&*cache, Some((start, _)) if *start == block);
            if !hit {
                let len = FAT_BLOCK.min(self.bpb.fat_len.saturating_sub(block));
                let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
                let from = self
                    .bpb
                    .fat_offset
                    .checked_add(block)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "FAT offset"))?;
                read_exact(self.src, from, &mut bytes)?;
                *cache = Some((block, bytes));
            }
            let idx = usize::try_from(pos.saturating_sub(block)).unwrap_or(usize::MAX);
            *out = cache
                .as_ref()
                .and_then(|(_, bytes)| bytes.get(idx).copied())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "past the FAT"))?;
        }
        Ok(())
    }

    /// The raw FAT entry of cluster `c` (12, 16 or the low 28 bits).
    pub(crate) fn raw_entry(&self, c: u32) -> io::Result<u32> {
        let c64 = u64::from(c);
        match self.bpb.fat_type {
            FatType::Fat12 => {
                let mut b = [0u8; 2];
                self.fat_bytes(c64.saturating_add(c64 / 2), &mut b)?;
                let v = u32::from(u16::from_le_bytes(b));
                Ok(if c % 2 == 1 { v >> 4 } else { v & 0x0FFF })
            }
            FatType::Fat16 => {
                let mut b = [0u8; 2];
                self.fat_bytes(c64.saturating_mul(2), &mut b)?;
                Ok(u32::from(u16::from_le_bytes(b)))
            }
            FatType::Fat32 => {
                let mut b = [0u8; 4];
                self.fat_bytes(c64.saturating_mul(4), &mut b)?;
                Ok(u32::from_le_bytes(b) & 0x0FFF_FFFF)
            }
        }
    }

    /// What the FAT says about cluster `c`.
    pub(crate) fn entry(&self, c: u32) -> io::Result<FatValue> {
        let v = self.raw_entry(c)?;
        let (eoc, bad) = self.bpb.fat_type.markers();
        Ok(if v == 0 {
            FatValue::Free
        } else if v >= eoc {
            FatValue::EndOfChain
        } else if v == bad {
            FatValue::Bad
        } else if self.bpb.is_data_cluster(v) {
            FatValue::Next(v)
        } else {
            FatValue::Invalid(v)
        })
    }

    /// Follows the allocated chain from `first`, at most `cap` clusters,
    /// stopping at the first repeated cluster.
    pub(crate) fn chain(&self, first: u32, cap: usize) -> io::Result<Chain> {
        let mut clusters = Vec::new();
        let mut seen = HashSet::new();
        let mut c = first;
        let end = loop {
            if !self.bpb.is_data_cluster(c) {
                break ChainEnd::Broken {
                    at: c,
                    what: format!(
                        "cluster {c} is not a data cluster (2..={})",
                        self.bpb.last_cluster()
                    ),
                };
            }
            if !seen.insert(c) {
                let at = clusters.last().copied().unwrap_or(c);
                break ChainEnd::Loop { at, back_to: c };
            }
            if clusters.len() >= cap {
                break ChainEnd::TooLong { cap };
            }
            clusters.push(c);
            match self.entry(c)? {
                FatValue::EndOfChain => break ChainEnd::EndOfChain,
                FatValue::Next(n) => c = n,
                FatValue::Free => {
                    break ChainEnd::Broken {
                        at: c,
                        what: format!("the FAT marks cluster {c} of the chain free"),
                    };
                }
                FatValue::Bad => {
                    break ChainEnd::Broken {
                        at: c,
                        what: format!("the FAT marks cluster {c} of the chain bad"),
                    };
                }
                FatValue::Invalid(v) => {
                    break ChainEnd::Broken {
                        at: c,
                        what: format!("the FAT entry of cluster {c} holds {v:#x}, no cluster"),
                    };
                }
            }
        };
        Ok(Chain { clusters, end })
    }

    /// Most clusters a directory may span.
    fn dir_cluster_cap(&self) -> usize {
        usize::try_from(MAX_DIR_BYTES.div_ceil(self.bpb.cluster_size).max(1)).unwrap_or(1)
    }

    /// The slots of a directory up to its end marker, and the problems met
    /// reading it (offset in the volume, what).
    pub(crate) fn read_dir(&self, loc: DirLoc) -> (Vec<Slot>, Vec<(u64, String)>) {
        let mut problems = Vec::new();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        match loc {
            DirLoc::FixedRoot => runs.push((self.bpb.root_offset, self.bpb.root_len)),
            DirLoc::OneCluster(c) => match self.bpb.cluster_offset(c) {
                Some(off) => runs.push((off, self.bpb.cluster_size)),
                None => problems.push((0, format!("cluster {c} is not a data cluster"))),
            },
            DirLoc::Clusters(first) => match self.chain(first, self.dir_cluster_cap()) {
                Ok(chain) => {
                    let at = |c: u32| self.bpb.cluster_offset(c).unwrap_or(0);
                    match &chain.end {
                        ChainEnd::EndOfChain => {}
                        ChainEnd::Loop { at: from, back_to } => problems.push((
                            at(*from),
                            format!(
                                "directory cluster chain from cluster {first} loops: cluster {from} leads back to cluster {back_to}; read once"
                            ),
                        )),
                        ChainEnd::Broken { at: c, what } => {
                            problems.push((at(*c), format!("directory from cluster {first}: {what}")))
                        }
                        ChainEnd::TooLong { cap } => problems.push((
                            at(first),
                            format!(
                                "directory from cluster {first} spans more than {cap} clusters (2 MiB); the rest is not read"
                            ),
                        )),
                    }
                    for c in chain.clusters {
                        if let Some(off) = self.bpb.cluster_offset(c) {
                            runs.push((off, self.bpb.cluster_size));
                        }
                    }
                }
                Err(e) => problems.push((
                    self.bpb.fat_offset,
                    format!("reading the FAT for the directory from cluster {first}: {e}"),
                )),
            },
        }
        let mut slots = Vec::new();
        let mut buf = Vec::new();
        'runs: for (offset, len) in runs {
            buf.resize(usize::try_from(len).unwrap_or(0), 0);
            if let Err(e) = read_exact(self.src, offset, &mut buf) {
                problems.push((offset, format!("directory bytes at {offset:#x}: {e}")));
                break;
            }
            for (i, chunk) in buf.chunks_exact(ENTRY).enumerate() {
                if chunk.first() == Some(&0) {
                    break 'runs;
                }
                let mut raw = [0u8; ENTRY];
                raw.copy_from_slice(chunk);
                let at = u64::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_mul(32))
                    .and_then(|d| offset.checked_add(d))
                    .unwrap_or(offset);
                slots.push(Slot { offset: at, raw });
            }
        }
        (slots, problems)
    }

    /// Walks every live directory from the root (each chain once, at most
    /// [`MAX_DEPTH`] deep) and reports each deleted short entry and each
    /// problem to `visit`; an error from `visit` ends the walk. A deleted
    /// directory whose first cluster is free and still starts with its `.`
    /// and `..` entries is read too, that cluster only (the FAT no longer
    /// says where the rest was): every entry in it is reported as deleted.
    pub(crate) fn walk_deleted(
        &self,
        visit: &mut dyn FnMut(Event<'_>) -> Result<(), PluginError>,
    ) -> Result<(), PluginError> {
        let root = if self.bpb.fat_type == FatType::Fat32 {
            DirLoc::Clusters(self.bpb.root_cluster)
        } else {
            DirLoc::FixedRoot
        };
        let mut seen: HashSet<u32> = HashSet::new();
        if let DirLoc::Clusters(c) = root {
            seen.insert(c);
        }
        let mut stack: Vec<Pending> = vec![Pending {
            dir: String::new(),
            loc: root,
            depth: 0,
            deleted: false,
        }];
        while let Some(Pending {
            dir,
            loc,
            depth,
            deleted,
        }) = stack.pop()
        {
            visit(Event::Directory)?;
            let (slots, problems) = self.read_dir(loc);
            for (offset, what) in problems {
                let shown = if dir.is_empty() { "/" } else { dir.as_str() };
                visit(Event::Problem {
                    offset,
                    what: format!("{shown}: {what}"),
                })?;
            }
            let mut subdirs = Vec::new();
            for (i, slot) in slots.iter().enumerate() {
                let first = slot.raw[0];
                let attr = slot.attr();
                if slot.is_long_name() || attr & ATTR_VOLUME_ID != 0 || first == b'.' {
                    continue;
                }
                if first == DELETED || deleted {
                    if !plausible_short_entry(slot) {
                        continue;
                    }
                    let mut found = self.deleted_at(&slots, i, &dir, deleted);
                    if found.is_dir {
                        let c = found.first_cluster;
                        let path = found.path();
                        match self.deleted_dir_cluster(c) {
                            Err(why) => found.dir_contents = Some(why),
                            Ok(()) if depth >= MAX_DEPTH => {
                                found.dir_contents = Some(format!(
                                    "not listed: nested deeper than {MAX_DEPTH} directories"
                                ));
                            }
                            Ok(()) if !seen.insert(c) => {
                                found.dir_contents = Some(format!(
                                    "not listed: its first cluster {c} is also another directory's, read once"
                                ));
                            }
                            Ok(()) => {
                                found.dir_contents = Some(format!(
                                    "its entries are listed from its first cluster {c} only: the FAT no longer says where the rest of it was"
                                ));
                                subdirs.push(Pending {
                                    dir: path,
                                    loc: DirLoc::OneCluster(c),
                                    depth: depth.saturating_add(1),
                                    deleted: true,
                                });
                            }
                        }
                    }
                    visit(Event::Deleted(&found))?;
                    continue;
                }
                if attr & ATTR_DIRECTORY == 0 {
                    continue;
                }
                let name = live_long_name(&slots, i).unwrap_or_else(|| short_display(slot, None));
                let path = format!("{dir}/{}", safe_component(&name));
                let c = slot.first_cluster(self.bpb.fat_type);
                if !self.bpb.is_data_cluster(c) {
                    visit(Event::Problem {
                        offset: slot.offset,
                        what: format!(
                            "{path}: directory's first cluster {c} is not a data cluster (2..={}); not walked",
                            self.bpb.last_cluster()
                        ),
                    })?;
                } else if depth >= MAX_DEPTH {
                    visit(Event::Problem {
                        offset: slot.offset,
                        what: format!(
                            "{path}: nested deeper than {MAX_DEPTH} directories; not walked"
                        ),
                    })?;
                } else if !seen.insert(c) {
                    visit(Event::Problem {
                        offset: slot.offset,
                        what: format!(
                            "{path}: its first cluster {c} is also another directory's; walked once"
                        ),
                    })?;
                } else {
                    subdirs.push(Pending {
                        dir: path,
                        loc: DirLoc::Clusters(c),
                        depth: depth.saturating_add(1),
                        deleted: false,
                    });
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }

    /// `Ok` when the first cluster `c` of a deleted directory is free and
    /// starts with `.` and `..` directory entries, else why it is not read.
    fn deleted_dir_cluster(&self, c: u32) -> Result<(), String> {
        let offset = self.bpb.cluster_offset(c).ok_or_else(|| {
            format!(
                "not listed: its first cluster {c} is no data cluster (2..={})",
                self.bpb.last_cluster()
            )
        })?;
        match self.raw_entry(c) {
            Ok(0) => {}
            Ok(v) => {
                return Err(format!(
                    "not listed: its first cluster {c} is allocated again (FAT entry {v:#x})"
                ));
            }
            Err(e) => return Err(format!("not listed: reading the FAT: {e}")),
        }
        // Some writers (`fatfs` among them) put long-name entries before
        // `.` and `..`: the first two short entries are the ones to check.
        let mut head = [0u8; 8 * ENTRY];
        let len = usize::try_from(self.bpb.cluster_size)
            .unwrap_or(usize::MAX)
            .min(head.len());
        let head = head.get_mut(..len).unwrap_or_default();
        read_exact(self.src, offset, head)
            .map_err(|e| format!("not listed: reading its first cluster {c}: {e}"))?;
        let mut shorts = head.chunks_exact(ENTRY).filter(|e| {
            e.get(11)
                .is_some_and(|a| a & ATTR_LONG_NAME_MASK != ATTR_LONG_NAME)
        });
        let is = |e: Option<&[u8]>, name: &[u8; 11]| {
            e.is_some_and(|e| {
                e.get(..11) == Some(&name[..]) && e.get(11).is_some_and(|a| a & ATTR_DIRECTORY != 0)
            })
        };
        let dot = is(shorts.next(), b".          ");
        let dotdot = is(shorts.next(), b"..         ");
        if dot && dotdot {
            Ok(())
        } else {
            Err(format!(
                "not listed: its first cluster {c} does not start with `.` and `..` entries (reused or never written)"
            ))
        }
    }

    /// The deleted entry at `slots[i]` of the directory `dir`; `in_deleted`
    /// when that directory is itself deleted (the entry may not be marked).
    fn deleted_at(&self, slots: &[Slot], i: usize, dir: &str, in_deleted: bool) -> DeletedFound {
        let slot = slots.get(i).copied().unwrap_or(Slot {
            offset: 0,
            raw: [0; ENTRY],
        });
        let marked = slot.raw[0] == DELETED;
        let (short_name, long_name) = if marked {
            (short_display(&slot, Some('_')), deleted_long_name(slots, i))
        } else {
            let short = short_display(&slot, None);
            let long = live_long_name(slots, i).unwrap_or_else(|| short.clone());
            (short, LongName::Intact(long))
        };
        let name = match &long_name {
            LongName::Valid(name) | LongName::Intact(name) => safe_component(name),
            LongName::Absent | LongName::Rejected(_) => safe_component(&short_name),
        };
        let r = &slot.raw;
        DeletedFound {
            offset: slot.offset,
            dir: dir.to_string(),
            name,
            short_name,
            long_name,
            in_deleted_dir: in_deleted,
            is_dir: slot.attr() & ATTR_DIRECTORY != 0,
            dir_contents: None,
            attributes: slot.attr(),
            size: slot.size(),
            first_cluster: slot.first_cluster(self.bpb.fat_type),
            mtime: fat_time(slot.u16_at(24), slot.u16_at(22), 0),
            atime: fat_days(slot.u16_at(18))
                .and_then(|d| d.checked_mul(86_400))
                .map(Time::from_secs),
            btime: fat_time(slot.u16_at(16), slot.u16_at(14), r[13]),
        }
    }

    /// Where the content of a deleted file of `size` bytes from cluster
    /// `first` is, if the clusters from `first` on are all still free.
    pub(crate) fn plan_recovery(&self, first: u32, size: u32) -> io::Result<Recovery> {
        let last = self.bpb.last_cluster();
        let not = |why: String| Ok(Recovery::NotRecoverable(why));
        if size == 0 {
            return not("the entry records 0 bytes: there is no content to recover".into());
        }
        if first < 2 {
            return not(format!(
                "the entry records first cluster {first}, no data cluster: its content cannot be located"
            ));
        }
        if first > last {
            return not(format!(
                "first cluster {first} is beyond the volume's last cluster {last}"
            ));
        }
        let len = u64::from(size);
        let clusters = len.div_ceil(self.bpb.cluster_size);
        let end = u64::from(first).saturating_add(clusters).saturating_sub(1);
        if end > u64::from(last) {
            return not(format!(
                "its {clusters} clusters from first cluster {first} would run past the volume's last cluster {last}"
            ));
        }
        let offset = self
            .bpb
            .cluster_offset(first)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "cluster offset"))?;
        if offset.saturating_add(len) > self.src.len() {
            return not(format!(
                "its {len} bytes from first cluster {first} (volume offset {offset:#x}) run past the end of the volume ({:#x})",
                self.src.len()
            ));
        }
        for c in first..=u32::try_from(end).unwrap_or(last) {
            let value = self.raw_entry(c)?;
            if value != 0 {
                return not(format!(
                    "cluster {c} (of the {clusters} clusters from first cluster {first}) is allocated again (FAT entry {value:#x}): the content was overwritten or is in use"
                ));
            }
        }
        Ok(Recovery::Contiguous {
            offset,
            len,
            clusters,
        })
    }
}

/// A name safe as one path component: `/`, `\` and NUL become `_`, and an
/// empty, `.` or `..` name is prefixed with `_`.
fn safe_component(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        format!("_{clean}")
    } else {
        clean
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

    fn slot(raw: [u8; 32]) -> Slot {
        Slot { offset: 0, raw }
    }

    #[test]
    fn checksum_matches_the_spec_example() {
        // Computed by hand from the spec's algorithm for "FOO     BAR".
        let name = *b"FOO     BAR";
        let mut sum: u8 = 0;
        for b in name {
            sum = (if sum & 1 != 0 { 0x80u8 } else { 0 })
                .wrapping_add(sum >> 1)
                .wrapping_add(b);
        }
        assert_eq!(lfn_checksum(&name), sum);
        // The first byte is recovered from the checksum and the other ten.
        let mut lost = name;
        lost[0] = DELETED;
        assert_eq!(first_byte_for(&lost, sum), b'F');
    }

    #[test]
    fn fat_time_reads_fields_as_utc() {
        // 2024-03-01 10:00:02 + 1.5 s of hundredths.
        let date = ((2024 - 1980) << 9) | (3 << 5) | 1;
        let time = (10 << 11) | 1;
        let t = fat_time(date, time, 150).unwrap();
        assert_eq!(t.secs, 1_709_287_200 + 2 + 1);
        assert_eq!(t.nanos, 500_000_000);
        assert_eq!(fat_time(0, 0, 0), None);
        assert_eq!(fat_time(date, 24 << 11, 0), None);
    }

    #[test]
    fn short_names_show_as_fatfs_shows_them() {
        let mut raw = [0u8; 32];
        raw[..11].copy_from_slice(b"FOO     RS ");
        raw[12] = NTRES_LOWER_BASE;
        assert_eq!(short_display(&slot(raw), None), "foo.RS");
        raw[0] = DELETED;
        raw[12] = 0;
        assert_eq!(short_display(&slot(raw), Some('_')), "_OO.RS");
        raw[..11].copy_from_slice(b"NOEXT      ");
        assert_eq!(short_display(&slot(raw), None), "NOEXT");
    }

    /// A boot sector: 512-byte sectors, 1 per cluster, 1 reserved, 1 FAT
    /// of `fat_sectors`, `root_entries`, `total` sectors.
    fn boot(fat_sectors: u16, root_entries: u16, total: u32) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14..16].copy_from_slice(&1u16.to_le_bytes());
        b[16] = 1;
        b[17..19].copy_from_slice(&root_entries.to_le_bytes());
        if let Ok(t) = u16::try_from(total) {
            b[19..21].copy_from_slice(&t.to_le_bytes());
        } else {
            b[32..36].copy_from_slice(&total.to_le_bytes());
        }
        b[22..24].copy_from_slice(&fat_sectors.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    #[test]
    fn fat_type_follows_the_cluster_count_thresholds() {
        // 2 sectors before the data (reserved + FAT), no root entries.
        for (clusters, want) in [
            (4084u32, FatType::Fat12),
            (4085, FatType::Fat16),
            (65_524, FatType::Fat16),
            (65_525, FatType::Fat32),
        ] {
            let bpb = Bpb::parse(&boot(1, 0, clusters + 2)).unwrap();
            assert_eq!(bpb.fat_type, want, "{clusters}");
        }
        assert!(Bpb::parse(&boot(0, 16, 64)).is_err());
        assert!(Bpb::parse(&boot(1, 16, 2)).is_err());
    }

    /// Sets FAT12 entry `n` of `fat` to `v` (12 bits, two per 3 bytes).
    fn set12(fat: &mut [u8], n: usize, v: u16) {
        let at = n + n / 2;
        let old = u16::from_le_bytes([fat[at], fat[at + 1]]);
        let new = if n % 2 == 1 {
            (old & 0x000F) | (v << 4)
        } else {
            (old & 0xF000) | (v & 0x0FFF)
        };
        fat[at..at + 2].copy_from_slice(&new.to_le_bytes());
    }

    /// A 64-sector FAT12 volume: FAT at 512, root at 1024, data from 1536,
    /// 61 clusters (2..=62). Chains: 2 → 3 → 2 (a loop), 4 alone, 7 bad.
    fn fat12() -> Vec<u8> {
        let mut v = boot(1, 16, 64);
        v.resize(64 * 512, 0);
        let fat = &mut v[512..1024];
        set12(fat, 2, 3);
        set12(fat, 3, 2);
        set12(fat, 4, 0xFFF);
        set12(fat, 7, 0xFF7);
        set12(fat, 62, 0xABC);
        v
    }

    #[test]
    fn fat12_entries_chains_and_recovery_plans() {
        let vol = fat12();
        let raw = RawFat::open(&vol).unwrap();
        let bpb = &raw.bpb;
        assert_eq!(bpb.fat_type, FatType::Fat12);
        assert_eq!(
            (
                bpb.cluster_count,
                bpb.fat_offset,
                bpb.root_offset,
                bpb.root_len,
                bpb.data_offset
            ),
            (61, 512, 1024, 512, 1536)
        );
        assert_eq!(raw.raw_entry(3).unwrap(), 2);
        assert_eq!(raw.raw_entry(62).unwrap(), 0xABC);
        assert_eq!(raw.entry(7).unwrap(), FatValue::Bad);
        assert_eq!(raw.entry(62).unwrap(), FatValue::Invalid(0xABC));
        let chain = raw.chain(2, 100).unwrap();
        assert_eq!(chain.clusters, [2, 3]);
        assert_eq!(chain.end, ChainEnd::Loop { at: 3, back_to: 2 });
        assert_eq!(raw.chain(4, 100).unwrap().end, ChainEnd::EndOfChain);
        assert_eq!(raw.chain(2, 1).unwrap().end, ChainEnd::TooLong { cap: 1 });
        assert!(matches!(
            raw.chain(63, 9).unwrap().end,
            ChainEnd::Broken { at: 63, .. }
        ));
        // Clusters 5 and 6 free: 1000 bytes fit; 1500 need cluster 7 (bad).
        assert_eq!(
            raw.plan_recovery(5, 1000).unwrap(),
            Recovery::Contiguous {
                offset: 1536 + 3 * 512,
                len: 1000,
                clusters: 2
            }
        );
        let Recovery::NotRecoverable(why) = raw.plan_recovery(5, 1500).unwrap() else {
            panic!("recoverable")
        };
        assert!(why.starts_with("cluster 7 (of the 3 clusters"), "{why}");
        let Recovery::NotRecoverable(why) = raw.plan_recovery(61, 1500).unwrap() else {
            panic!("recoverable")
        };
        assert!(
            why.contains("run past the volume's last cluster 62"),
            "{why}"
        );
        let Recovery::NotRecoverable(why) = raw.plan_recovery(0, 10).unwrap() else {
            panic!("recoverable")
        };
        assert!(why.contains("first cluster 0"), "{why}");
        // The looping chain as a directory: read once, reported.
        let (slots, problems) = raw.read_dir(DirLoc::Clusters(2));
        assert!(slots.is_empty());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("cluster 3 leads back to cluster 2"));
    }

    #[test]
    fn deleted_long_name_needs_a_fitting_checksum() {
        // "hello world.txt" → short "HELLOW~1TXT", one LFN entry before it.
        let short = *b"HELLOW~1TXT";
        let sum = lfn_checksum(&short);
        let units: Vec<u16> = "hello world.txt".encode_utf16().collect();
        let lfn = |part: &[u16], order: u8, sum: u8| {
            let mut raw = [0xFFu8; 32];
            raw[0] = order;
            raw[11] = ATTR_LONG_NAME;
            raw[12] = 0;
            raw[13] = sum;
            raw[26] = 0;
            raw[27] = 0;
            let offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
            for (i, at) in offsets.into_iter().enumerate() {
                let u = match part.get(i) {
                    Some(&u) => u,
                    None if i == part.len() => 0,
                    None => 0xFFFF,
                };
                raw[at..at + 2].copy_from_slice(&u.to_le_bytes());
            }
            slot(raw)
        };
        let mut entry = [0u8; 32];
        entry[..11].copy_from_slice(&short);
        entry[0] = DELETED;
        let deleted = |s1: u8, s2: u8| {
            vec![
                lfn(&units[13..], DELETED, s2),
                lfn(&units[..13], DELETED, s1),
                slot(entry),
            ]
        };
        assert_eq!(
            deleted_long_name(&deleted(sum, sum), 2),
            LongName::Valid("hello world.txt".into())
        );
        assert!(matches!(
            deleted_long_name(&deleted(sum ^ 1, sum ^ 1), 2),
            LongName::Rejected(_)
        ));
        // The farther part has another checksum: the name is not whole.
        assert!(matches!(
            deleted_long_name(&deleted(sum, sum ^ 1), 2),
            LongName::Rejected(_)
        ));
        assert_eq!(deleted_long_name(&[slot(entry)], 0), LongName::Absent);
        // Live: sequence numbers 1 and 0x42.
        entry[0] = b'H';
        let live = vec![
            lfn(&units[13..], 0x42, sum),
            lfn(&units[..13], 1, sum),
            slot(entry),
        ];
        assert_eq!(live_long_name(&live, 2).as_deref(), Some("hello world.txt"));
    }

    #[test]
    fn safe_components() {
        assert_eq!(safe_component("a/b\\c"), "a_b_c");
        assert_eq!(safe_component(".."), "_..");
        assert_eq!(safe_component(""), "_");
    }
}
