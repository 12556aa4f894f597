//! Partition tables: [`read_partition_table`] finds an MBR (with its chain of
//! extended boot records and their logical partitions) or a GPT (primary
//! header checked against the backup) and returns a [`PartitionTable`];
//! [`unallocated`] lists the bytes no partition covers.
//!
//! Specifications: the GPT layout is UEFI Specification 2.10, chapter 5
//! "GUID Partition Table (GPT) Disk Layout"
//! (<https://uefi.org/specs/UEFI/2.10/05_GUID_Partition_Table_Format.html>):
//! §5.2.1 legacy MBR, §5.2.3 protective MBR, §5.3.2 GPT header and its
//! validation rules, §5.3.3 partition entry array; GUIDs are stored in the
//! mixed-endian form of Appendix A. The MBR extended-partition chain follows
//! the de facto IBM PC layout (no formal spec): each extended boot record
//! (EBR) holds one logical partition relative to itself and a link to the
//! next EBR relative to the start of the primary extended partition.
//!
//! Policy (STYLE rule 10): damage is reported, not repaired. A partition
//! running past the end of the image is kept and flagged; a broken GPT copy
//! falls back to the other copy with a [`Finding`] naming what failed and
//! where; chains and arrays read from the image are bounded (at most
//! [`MAX_LOGICAL`] logical partitions, loop detection, a capped entry array).
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::read_at::{ReadAt, read_exact_at, u32_le, u64_le};

/// An MBR sector, and the sector size MBR addresses are counted in.
const MBR_SECTOR: u64 = 512;
/// Offset of the four 16-byte partition entries in an MBR or EBR.
const MBR_TABLE: usize = 446;
const MBR_ENTRY_LEN: usize = 16;
/// Offset of the 0x55 0xAA boot signature.
const MBR_SIGNATURE: usize = 510;
const MBR_TYPE_PROTECTIVE: u8 = 0xEE;

/// The most logical partitions (EBRs) followed in an extended chain; a
/// hostile chain could otherwise walk every sector of the disk.
pub const MAX_LOGICAL: usize = 128;

// GPT header fields, UEFI 2.10 §5.3.2 table 5.5.
const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
const GPT_REVISION: usize = 8;
const GPT_HEADER_SIZE: usize = 12;
const GPT_HEADER_CRC: usize = 16;
const GPT_MY_LBA: usize = 24;
const GPT_ALTERNATE_LBA: usize = 32;
const GPT_FIRST_USABLE: usize = 40;
const GPT_LAST_USABLE: usize = 48;
const GPT_DISK_GUID: usize = 56;
const GPT_ENTRIES_LBA: usize = 72;
const GPT_ENTRY_COUNT: usize = 80;
const GPT_ENTRY_SIZE: usize = 84;
const GPT_ENTRIES_CRC: usize = 88;
const GPT_HEADER_MIN: u32 = 92;
// Partition entry fields, UEFI 2.10 §5.3.3 table 5.6.
const GPT_ENTRY_MIN: u32 = 128;
const ENTRY_UNIQUE_GUID: usize = 16;
const ENTRY_FIRST_LBA: usize = 32;
const ENTRY_LAST_LBA: usize = 40;
const ENTRY_ATTRIBUTES: usize = 48;
const ENTRY_NAME: usize = 56;
const ENTRY_NAME_UNITS: usize = 36;
/// Largest entry array read into memory (the usual one is 16 KiB).
const GPT_MAX_ARRAY: u64 = 16 << 20;

/// Which partitioning scheme a table or partition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Master boot record, with extended/logical partitions.
    Mbr,
    /// GUID partition table.
    Gpt,
}

/// Which GPT copy the partitions were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GptCopy {
    /// The primary header at LBA 1 and its entry array.
    Primary,
    /// The backup header (normally the last LBA) and its entry array.
    Backup,
}

/// A GUID as stored on disk (UEFI Appendix A: the first three fields are
/// little-endian, the last eight bytes are in order). Displays and
/// serializes in the usual lowercase `8-4-4-4-12` form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Parses the `8-4-4-4-12` text form into the on-disk byte order.
    pub fn parse(text: &str) -> Option<Guid> {
        let hex: Vec<u8> = text
            .split('-')
            .flat_map(|group| group.as_bytes().chunks(2))
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
            })
            .collect::<Option<_>>()?;
        let groups: Vec<usize> = text.split('-').map(str::len).collect();
        if groups != [8, 4, 4, 4, 12] {
            return None;
        }
        let text_order: [u8; 16] = hex.try_into().ok()?;
        let [a0, a1, a2, a3, b0, b1, c0, c1, rest @ ..] = text_order;
        let mut bytes = [a3, a2, a1, a0, b1, b0, c1, c0, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes[8..].copy_from_slice(&rest);
        Some(Guid(bytes))
    }

    /// Whether all bytes are zero (an unused GPT entry).
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-\
             {:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[3],
            b[2],
            b[1],
            b[0],
            b[5],
            b[4],
            b[7],
            b[6],
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Something wrong or noteworthy found while reading a table, at a byte
/// offset in the image. The table is still usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Byte offset of the structure concerned.
    pub offset: u64,
    /// What was found.
    pub what: String,
}

impl Finding {
    fn new(offset: u64, what: impl Into<String>) -> Finding {
        Finding {
            offset,
            what: what.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {:#x}: {}", self.offset, self.what)
    }
}

/// One partition of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// MBR: 1–4 for the primary slot, 5 and up for logical partitions in
    /// chain order (the Linux numbering). GPT: 1-based slot in the entry array.
    pub index: u32,
    /// The table it comes from.
    pub scheme: Scheme,
    /// Start in bytes from the start of the image.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// First sector, in the table's sector size.
    pub first_lba: u64,
    /// Number of sectors.
    pub sectors: u64,
    /// MBR partition type byte.
    pub type_code: Option<u8>,
    /// GPT partition type GUID.
    pub type_guid: Option<Guid>,
    /// A well-known name for the type, if this crate knows it.
    pub type_name: Option<&'static str>,
    /// GPT partition name (UTF-16LE on disk, up to 36 units); Android puts
    /// `userdata`, `system`, `boot`… here.
    pub name: Option<String>,
    /// GPT unique partition GUID.
    pub unique_guid: Option<Guid>,
    /// GPT attribute bits.
    pub attributes: Option<u64>,
    /// MBR status byte (0x80 = active/bootable).
    pub status: Option<u8>,
    /// An MBR logical partition (described by an EBR).
    pub logical: bool,
    /// An MBR extended partition: it holds the EBR chain, not data, and is
    /// ignored by [`unallocated`].
    pub container: bool,
    /// Byte offset of the table entry that describes this partition.
    pub entry_offset: u64,
    /// The partition runs past the end of the image (a [`Finding`] says by
    /// how much).
    pub past_end: bool,
}

/// A partition table read from an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    /// MBR or GPT.
    pub scheme: Scheme,
    /// Bytes per logical block (512 for MBR; 512 or 4096 for GPT).
    pub sector_size: u32,
    /// GPT disk GUID.
    pub disk_guid: Option<Guid>,
    /// GPT header revision (0x0001_0000 for 1.0).
    pub gpt_revision: Option<u32>,
    /// Which GPT copy the partitions were taken from.
    pub gpt_copy: Option<GptCopy>,
    /// Partitions in table order (GPT slot order; MBR primaries then
    /// logical partitions in chain order).
    pub partitions: Vec<Partition>,
    /// Damage and oddities found, with offsets.
    pub findings: Vec<Finding>,
}

/// Reads the partition table of `disk`.
///
/// GPT is chosen when LBA 1 (512-byte sectors) or offset 4096 (4096-byte
/// sectors) holds the `EFI PART` signature, or when the MBR is protective
/// (type 0xEE) and only the backup GPT survives. Otherwise a valid MBR is
/// read. [`Error::NotMine`] means no table: no 0x55AA signature, an MBR with
/// no partition, or a boot sector that is really a FAT/NTFS/exFAT volume (the
/// caller then probes the whole image for a file system).
pub fn read_partition_table<R: ReadAt + ?Sized>(disk: &R) -> Result<PartitionTable, Error> {
    let disk_len = disk.len();
    if disk_len < MBR_SECTOR {
        return Err(Error::NotMine);
    }
    let mut mbr = [0u8; 512];
    read_exact_at(disk, 0, &mut mbr)?;
    let signed = mbr.get(MBR_SIGNATURE..) == Some(&[0x55, 0xAA][..]);
    let entries = mbr_entries(&mbr);
    let protective = signed && entries.iter().any(|e| e.kind == MBR_TYPE_PROTECTIVE);

    let gpt_sector = if gpt_signature_at(disk, 512)? {
        Some(512)
    } else if gpt_signature_at(disk, 4096)? {
        Some(4096)
    } else {
        None
    };
    match gpt_sector {
        Some(sector_size) => {
            let mut findings = Vec::new();
            if !protective {
                findings.push(Finding::new(
                    0,
                    "GPT without a protective MBR (no type 0xEE entry)",
                ));
            } else if entries
                .iter()
                .any(|e| e.kind != 0 && e.kind != MBR_TYPE_PROTECTIVE)
            {
                findings.push(Finding::new(
                    0,
                    "hybrid MBR: entries besides the 0xEE one are ignored in favour of the GPT",
                ));
            }
            read_gpt(disk, sector_size, findings)
        }
        None if protective => {
            // The primary header is gone, but the backup at the last LBA may
            // still describe the disk.
            let missing = |sector: u64| {
                vec![Finding::new(
                    sector,
                    "protective MBR but no GPT signature at LBA 1 (512- or 4096-byte sectors)",
                )]
            };
            read_gpt(disk, 512, missing(512))
                .or_else(|first| read_gpt(disk, 4096, missing(4096)).map_err(|_| first))
        }
        None if signed => read_mbr(disk, &mbr),
        None => Err(Error::NotMine),
    }
}

/// The byte ranges `(start, len)` of `[0, disk_len)` that no data partition
/// covers, in order. Extended (container) partitions are ignored, so EBRs
/// and free space inside them count as unallocated, as do the MBR and GPT
/// structures themselves; partitions running past `disk_len` are clipped.
pub fn unallocated(table: &PartitionTable, disk_len: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = table
        .partitions
        .iter()
        .filter(|p| !p.container && p.len > 0)
        .map(|p| (p.start, p.start.saturating_add(p.len)))
        .collect();
    spans.sort_unstable();
    let mut gaps = Vec::new();
    let mut cursor = 0u64;
    for (start, end) in spans {
        let start = start.min(disk_len);
        if start > cursor {
            gaps.push((cursor, start.saturating_sub(cursor)));
        }
        cursor = cursor.max(end.min(disk_len));
    }
    if disk_len > cursor {
        gaps.push((cursor, disk_len.saturating_sub(cursor)));
    }
    gaps
}

/// One 16-byte MBR/EBR partition entry.
#[derive(Debug, Clone, Copy, Default)]
struct MbrEntry {
    status: u8,
    kind: u8,
    lba: u32,
    sectors: u32,
}

fn mbr_entries(sector: &[u8]) -> [MbrEntry; 4] {
    let mut out = [MbrEntry::default(); 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let Some(e) = i
            .checked_mul(MBR_ENTRY_LEN)
            .and_then(|o| o.checked_add(MBR_TABLE))
            .and_then(|o| sector.get(o..o.checked_add(MBR_ENTRY_LEN)?))
        else {
            continue;
        };
        *slot = MbrEntry {
            status: e.first().copied().unwrap_or(0),
            kind: e.get(4).copied().unwrap_or(0),
            lba: u32_le(e, 8).unwrap_or(0),
            sectors: u32_le(e, 12).unwrap_or(0),
        };
    }
    out
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0F | 0x85)
}

/// Offset in the sector of MBR entry `slot` (0–3).
fn mbr_entry_offset(slot: usize) -> u64 {
    u64::try_from(slot)
        .ok()
        .and_then(|s| s.checked_mul(16))
        .and_then(|s| s.checked_add(446))
        .unwrap_or(0)
}

/// A volume boot record also ends in 0x55AA; its OEM or file-system label
/// tells it apart from an MBR.
fn looks_like_volume_boot_record(sector: &[u8]) -> bool {
    let at = |off: usize, text: &[u8]| {
        off.checked_add(text.len())
            .and_then(|end| sector.get(off..end))
            == Some(text)
    };
    at(3, b"NTFS    ") || at(3, b"EXFAT   ") || at(0x36, b"FAT") || at(0x52, b"FAT32")
}

fn read_mbr<R: ReadAt + ?Sized>(disk: &R, sector: &[u8]) -> Result<PartitionTable, Error> {
    let entries = mbr_entries(sector);
    let used: Vec<(usize, MbrEntry)> = entries
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, e)| e.kind != 0)
        .collect();
    if looks_like_volume_boot_record(sector)
        || used.is_empty()
        || used.iter().any(|(_, e)| e.status != 0 && e.status != 0x80)
    {
        return Err(Error::NotMine);
    }
    let mut table = PartitionTable {
        scheme: Scheme::Mbr,
        sector_size: 512,
        disk_guid: None,
        gpt_revision: None,
        gpt_copy: None,
        partitions: Vec::new(),
        findings: Vec::new(),
    };
    let mut extended = Vec::new();
    for (slot, e) in used {
        let entry_offset = mbr_entry_offset(slot);
        let index = u32::try_from(slot).unwrap_or(0).saturating_add(1);
        if e.sectors == 0 {
            table.findings.push(Finding::new(
                entry_offset,
                format!(
                    "primary entry {index} has type {:#04x} but 0 sectors; skipped",
                    e.kind
                ),
            ));
            continue;
        }
        let part = mbr_partition(index, e, u64::from(e.lba), entry_offset, false);
        if part.container {
            extended.push((entry_offset, u64::from(e.lba), u64::from(e.sectors)));
        }
        table.partitions.push(part);
    }
    if extended.len() > 1 {
        table.findings.push(Finding::new(
            extended.first().map_or(0, |e| e.0),
            format!(
                "{} extended partitions in the MBR (one is usual); each chain is followed",
                extended.len()
            ),
        ));
    }
    let mut next_index = 5u32;
    for (_, start, sectors) in extended {
        follow_ebr_chain(disk, start, sectors, &mut next_index, &mut table)?;
    }
    check_bounds(&mut table, disk.len());
    Ok(table)
}

fn mbr_partition(
    index: u32,
    e: MbrEntry,
    first_lba: u64,
    entry_offset: u64,
    logical: bool,
) -> Partition {
    let sectors = u64::from(e.sectors);
    Partition {
        index,
        scheme: Scheme::Mbr,
        // u32 sector numbers times 512 never overflow u64.
        start: first_lba.saturating_mul(MBR_SECTOR),
        len: sectors.saturating_mul(MBR_SECTOR),
        first_lba,
        sectors,
        type_code: Some(e.kind),
        type_guid: None,
        type_name: mbr_type_name(e.kind),
        name: None,
        unique_guid: None,
        attributes: None,
        status: Some(e.status),
        logical,
        container: is_extended(e.kind),
        entry_offset,
        past_end: false,
    }
}

/// Walks the EBR chain of the extended partition at `ext_start` (sectors).
/// Problems end the chain with a finding; only read errors are returned.
fn follow_ebr_chain<R: ReadAt + ?Sized>(
    disk: &R,
    ext_start: u64,
    ext_sectors: u64,
    next_index: &mut u32,
    table: &mut PartitionTable,
) -> Result<(), Error> {
    let ext_end = ext_start.saturating_add(ext_sectors);
    let mut seen = BTreeSet::new();
    let mut ebr_lba = ext_start;
    loop {
        let offset = ebr_lba.saturating_mul(MBR_SECTOR);
        if !seen.insert(ebr_lba) {
            table.findings.push(Finding::new(
                offset,
                format!("EBR chain loops back to LBA {ebr_lba}; chain not followed further"),
            ));
            return Ok(());
        }
        let logical_so_far = table.partitions.iter().filter(|p| p.logical).count();
        if logical_so_far >= MAX_LOGICAL {
            table.findings.push(Finding::new(
                offset,
                format!(
                    "more than {MAX_LOGICAL} logical partitions; EBR at LBA {ebr_lba} not followed"
                ),
            ));
            return Ok(());
        }
        if offset.saturating_add(MBR_SECTOR) > disk.len() {
            table.findings.push(Finding::new(
                offset,
                format!(
                    "EBR at LBA {ebr_lba} lies outside the image ({} bytes); not followed",
                    disk.len()
                ),
            ));
            return Ok(());
        }
        let mut sector = [0u8; 512];
        read_exact_at(disk, offset, &mut sector)?;
        if sector.get(MBR_SIGNATURE..) != Some(&[0x55, 0xAA][..]) {
            table.findings.push(Finding::new(
                offset.saturating_add(510),
                format!("EBR at LBA {ebr_lba} has no 0x55AA signature; chain ends here"),
            ));
            return Ok(());
        }
        let [data, link, ..] = mbr_entries(&sector);
        let entry_offset = offset.saturating_add(mbr_entry_offset(0));
        if data.kind != 0 && data.sectors != 0 {
            let first = ebr_lba.saturating_add(u64::from(data.lba));
            let part = mbr_partition(*next_index, data, first, entry_offset, true);
            if first < ext_start || first.saturating_add(u64::from(data.sectors)) > ext_end {
                table.findings.push(Finding::new(
                    entry_offset,
                    format!(
                        "logical partition {} (LBA {first}, {} sectors) lies outside its extended partition (LBA {ext_start}..{ext_end})",
                        *next_index, data.sectors
                    ),
                ));
            }
            table.partitions.push(part);
            *next_index = next_index.saturating_add(1);
        } else if data.kind != 0 {
            table.findings.push(Finding::new(
                entry_offset,
                format!(
                    "logical entry with type {:#04x} but 0 sectors; skipped",
                    data.kind
                ),
            ));
        }
        let link_offset = offset.saturating_add(mbr_entry_offset(1));
        if link.kind == 0 {
            return Ok(());
        }
        if !is_extended(link.kind) {
            table.findings.push(Finding::new(
                link_offset,
                format!(
                    "EBR link has type {:#04x}, not an extended type; chain ends here",
                    link.kind
                ),
            ));
            return Ok(());
        }
        let next = ext_start.saturating_add(u64::from(link.lba));
        if next >= ext_end {
            table.findings.push(Finding::new(
                link_offset,
                format!("EBR link to LBA {next} lies outside the extended partition (LBA {ext_start}..{ext_end}); not followed"),
            ));
            return Ok(());
        }
        ebr_lba = next;
    }
}

/// A parsed GPT header (UEFI 2.10 §5.3.2).
#[derive(Debug, Clone)]
struct GptHeader {
    offset: u64,
    revision: u32,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    disk_guid: Guid,
    entries_lba: u64,
    entry_count: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn gpt_signature_at<R: ReadAt + ?Sized>(disk: &R, offset: u64) -> Result<bool, Error> {
    if offset.saturating_add(8) > disk.len() {
        return Ok(false);
    }
    let mut sig = [0u8; 8];
    read_exact_at(disk, offset, &mut sig)?;
    Ok(&sig == GPT_SIGNATURE)
}

/// Reads and validates the header at `lba` as §5.3.2 asks: signature,
/// header size, header CRC, MyLBA, entry size. A problem is a [`Finding`]
/// saying where the check failed.
fn load_gpt_header<R: ReadAt + ?Sized>(
    disk: &R,
    lba: u64,
    sector: u32,
) -> Result<GptHeader, Finding> {
    let sector_len = u64::from(sector);
    let offset = lba
        .checked_mul(sector_len)
        .ok_or_else(|| Finding::new(u64::MAX, format!("header LBA {lba} overflows")))?;
    if offset.saturating_add(sector_len) > disk.len() {
        return Err(Finding::new(
            offset,
            format!(
                "header LBA {lba} is past the end of the image ({} bytes)",
                disk.len()
            ),
        ));
    }
    let mut buf = vec![0u8; usize::try_from(sector).unwrap_or(512)];
    read_exact_at(disk, offset, &mut buf)
        .map_err(|e| Finding::new(offset, format!("header unreadable: {e}")))?;
    let at = |field: usize| offset.saturating_add(u64::try_from(field).unwrap_or(0));
    if buf.get(..8) != Some(&GPT_SIGNATURE[..]) {
        return Err(Finding::new(offset, "no \"EFI PART\" signature"));
    }
    let header_size = u32_le(&buf, GPT_HEADER_SIZE).unwrap_or(0);
    if header_size < GPT_HEADER_MIN || header_size > sector {
        return Err(Finding::new(
            at(GPT_HEADER_SIZE),
            format!("header size {header_size} outside {GPT_HEADER_MIN}..={sector}"),
        ));
    }
    let stored_crc = u32_le(&buf, GPT_HEADER_CRC).unwrap_or(0);
    let mut covered = buf
        .get(..usize::try_from(header_size).unwrap_or(0))
        .unwrap_or_default()
        .to_vec();
    if let Some(field) = covered.get_mut(GPT_HEADER_CRC..GPT_HEADER_CRC.saturating_add(4)) {
        field.fill(0);
    }
    let computed = crc32fast::hash(&covered);
    if computed != stored_crc {
        return Err(Finding::new(
            at(GPT_HEADER_CRC),
            format!("header CRC32 mismatch: stored {stored_crc:#010x}, computed {computed:#010x}"),
        ));
    }
    let my_lba = u64_le(&buf, GPT_MY_LBA).unwrap_or(0);
    if my_lba != lba {
        return Err(Finding::new(
            at(GPT_MY_LBA),
            format!("header read at LBA {lba} says it is at LBA {my_lba}"),
        ));
    }
    let entry_size = u32_le(&buf, GPT_ENTRY_SIZE).unwrap_or(0);
    if entry_size < GPT_ENTRY_MIN || !entry_size.is_power_of_two() {
        return Err(Finding::new(
            at(GPT_ENTRY_SIZE),
            format!("partition entry size {entry_size} is not 128 × 2^n"),
        ));
    }
    let first_usable = u64_le(&buf, GPT_FIRST_USABLE).unwrap_or(0);
    let last_usable = u64_le(&buf, GPT_LAST_USABLE).unwrap_or(0);
    if first_usable > last_usable {
        return Err(Finding::new(
            at(GPT_FIRST_USABLE),
            format!("first usable LBA {first_usable} is after last usable LBA {last_usable}"),
        ));
    }
    Ok(GptHeader {
        offset,
        revision: u32_le(&buf, GPT_REVISION).unwrap_or(0),
        alternate_lba: u64_le(&buf, GPT_ALTERNATE_LBA).unwrap_or(0),
        first_usable,
        last_usable,
        disk_guid: guid_at(&buf, GPT_DISK_GUID).unwrap_or_default(),
        entries_lba: u64_le(&buf, GPT_ENTRIES_LBA).unwrap_or(0),
        entry_count: u32_le(&buf, GPT_ENTRY_COUNT).unwrap_or(0),
        entry_size,
        entries_crc: u32_le(&buf, GPT_ENTRIES_CRC).unwrap_or(0),
    })
}

/// Reads the entry array a header points to and checks its CRC.
fn load_gpt_entries<R: ReadAt + ?Sized>(
    disk: &R,
    h: &GptHeader,
    sector: u32,
) -> Result<Vec<u8>, Finding> {
    let offset = h.entries_lba.saturating_mul(u64::from(sector));
    let bytes = u64::from(h.entry_count).saturating_mul(u64::from(h.entry_size));
    if bytes > GPT_MAX_ARRAY {
        return Err(Finding::new(
            h.offset.saturating_add(80),
            format!(
                "entry array of {} × {} bytes exceeds the {GPT_MAX_ARRAY}-byte cap",
                h.entry_count, h.entry_size
            ),
        ));
    }
    if offset.saturating_add(bytes) > disk.len() {
        return Err(Finding::new(
            offset,
            format!(
                "entry array at LBA {} ({bytes} bytes) runs past the end of the image ({} bytes)",
                h.entries_lba,
                disk.len()
            ),
        ));
    }
    let mut array = vec![0u8; usize::try_from(bytes).unwrap_or(0)];
    read_exact_at(disk, offset, &mut array)
        .map_err(|e| Finding::new(offset, format!("entry array unreadable: {e}")))?;
    let computed = crc32fast::hash(&array);
    if computed != h.entries_crc {
        return Err(Finding::new(
            offset,
            format!(
                "entry array CRC32 mismatch: header says {:#010x}, computed {computed:#010x}",
                h.entries_crc
            ),
        ));
    }
    Ok(array)
}

fn load_gpt_copy<R: ReadAt + ?Sized>(
    disk: &R,
    header: Result<GptHeader, Finding>,
    sector: u32,
) -> Result<(GptHeader, Vec<u8>), Finding> {
    let h = header?;
    let entries = load_gpt_entries(disk, &h, sector)?;
    Ok((h, entries))
}

fn read_gpt<R: ReadAt + ?Sized>(
    disk: &R,
    sector: u32,
    mut findings: Vec<Finding>,
) -> Result<PartitionTable, Error> {
    let sector_len = u64::from(sector);
    let last_lba = disk
        .len()
        .checked_div(sector_len)
        .and_then(|sectors| sectors.checked_sub(1))
        .ok_or(Error::NotMine)?;
    let primary_header = load_gpt_header(disk, 1, sector);
    let backup_lba = match &primary_header {
        Ok(h) => {
            if h.alternate_lba != last_lba {
                findings.push(Finding::new(
                    h.offset.saturating_add(32),
                    format!(
                        "primary header puts the backup at LBA {} but the image's last LBA is {last_lba}",
                        h.alternate_lba
                    ),
                ));
            }
            h.alternate_lba
        }
        Err(_) => last_lba,
    };
    let primary = load_gpt_copy(disk, primary_header, sector);
    let backup = load_gpt_copy(disk, load_gpt_header(disk, backup_lba, sector), sector);
    let (used, copy, entries) = match (primary, backup) {
        (Ok((p, pe)), Ok((b, be))) => {
            let differences = gpt_differences(&p, &pe, &b, &be);
            if !differences.is_empty() {
                findings.push(Finding::new(
                    b.offset,
                    format!(
                        "primary and backup GPT differ ({}); the primary is used",
                        differences.join(", ")
                    ),
                ));
            }
            (p, GptCopy::Primary, pe)
        }
        (Ok((p, pe)), Err(b)) => {
            findings.push(Finding::new(
                b.offset,
                format!(
                    "backup GPT at LBA {backup_lba} unusable: {}; the primary is used",
                    b.what
                ),
            ));
            (p, GptCopy::Primary, pe)
        }
        (Err(p), Ok((b, be))) => {
            findings.push(Finding::new(
                p.offset,
                format!(
                    "primary GPT unusable: {}; the backup at LBA {backup_lba} (offset {:#x}) is used",
                    p.what, b.offset
                ),
            ));
            (b, GptCopy::Backup, be)
        }
        (Err(p), Err(b)) => {
            return Err(Error::corrupt(
                p.offset,
                format!(
                    "primary GPT unusable: {}; backup GPT at LBA {backup_lba} unusable ({b})",
                    p.what
                ),
            ));
        }
    };
    let mut table = PartitionTable {
        scheme: Scheme::Gpt,
        sector_size: sector,
        disk_guid: Some(used.disk_guid),
        gpt_revision: Some(used.revision),
        gpt_copy: Some(copy),
        partitions: Vec::new(),
        findings,
    };
    gpt_partitions(&used, &entries, sector, &mut table);
    check_bounds(&mut table, disk.len());
    Ok(table)
}

/// Fields on which a sound primary and backup must agree.
fn gpt_differences(p: &GptHeader, pe: &[u8], b: &GptHeader, be: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if p.disk_guid != b.disk_guid {
        out.push(format!("disk GUID {} vs {}", p.disk_guid, b.disk_guid));
    }
    if (p.first_usable, p.last_usable) != (b.first_usable, b.last_usable) {
        out.push(format!(
            "usable LBAs {}..={} vs {}..={}",
            p.first_usable, p.last_usable, b.first_usable, b.last_usable
        ));
    }
    if (p.entry_count, p.entry_size) != (b.entry_count, b.entry_size) {
        out.push(format!(
            "entry arrays {} × {} vs {} × {}",
            p.entry_count, p.entry_size, b.entry_count, b.entry_size
        ));
    } else if pe != be {
        out.push(format!(
            "entry arrays differ (CRC32 {:#010x} vs {:#010x})",
            p.entries_crc, b.entries_crc
        ));
    }
    if b.alternate_lba != 1 {
        out.push(format!(
            "backup's alternate LBA is {} instead of 1",
            b.alternate_lba
        ));
    }
    out
}

fn gpt_partitions(h: &GptHeader, array: &[u8], sector: u32, table: &mut PartitionTable) {
    let entry_size = usize::try_from(h.entry_size).unwrap_or(usize::MAX);
    let array_offset = h.entries_lba.saturating_mul(u64::from(sector));
    for (slot, entry) in array.chunks_exact(entry_size).enumerate() {
        let Some(type_guid) = guid_at(entry, 0).filter(|g| !g.is_nil()) else {
            continue;
        };
        let index = u32::try_from(slot).unwrap_or(u32::MAX).saturating_add(1);
        let entry_offset = u64::try_from(slot)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(h.entry_size))
            .saturating_add(array_offset);
        let first = u64_le(entry, ENTRY_FIRST_LBA).unwrap_or(0);
        let last = u64_le(entry, ENTRY_LAST_LBA).unwrap_or(0);
        let Some(sectors) = last.checked_sub(first).and_then(|d| d.checked_add(1)) else {
            table.findings.push(Finding::new(
                entry_offset,
                format!(
                    "entry {index} ends at LBA {last} before it starts at LBA {first}; skipped"
                ),
            ));
            continue;
        };
        let (Some(start), Some(len)) = (
            first.checked_mul(u64::from(sector)),
            sectors.checked_mul(u64::from(sector)),
        ) else {
            table.findings.push(Finding::new(
                entry_offset,
                format!(
                    "entry {index} (LBA {first}..={last}) overflows a 64-bit byte offset; skipped"
                ),
            ));
            continue;
        };
        if first < h.first_usable || last > h.last_usable {
            table.findings.push(Finding::new(
                entry_offset,
                format!(
                    "partition {index} (LBA {first}..={last}) lies outside the usable LBAs {}..={}",
                    h.first_usable, h.last_usable
                ),
            ));
        }
        let name_units: Vec<u16> = entry
            .get(ENTRY_NAME..ENTRY_NAME.saturating_add(ENTRY_NAME_UNITS.saturating_mul(2)))
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|pair| {
                u16::from_le_bytes([
                    pair.first().copied().unwrap_or(0),
                    pair.get(1).copied().unwrap_or(0),
                ])
            })
            .take_while(|&unit| unit != 0)
            .collect();
        table.partitions.push(Partition {
            index,
            scheme: Scheme::Gpt,
            start,
            len,
            first_lba: first,
            sectors,
            type_code: None,
            type_guid: Some(type_guid),
            type_name: gpt_type_name(&type_guid),
            name: Some(String::from_utf16_lossy(&name_units)),
            unique_guid: guid_at(entry, ENTRY_UNIQUE_GUID),
            attributes: u64_le(entry, ENTRY_ATTRIBUTES),
            status: None,
            logical: false,
            container: false,
            entry_offset,
            past_end: false,
        });
    }
}

/// Flags partitions past the end of the image and overlapping data
/// partitions, with findings.
fn check_bounds(table: &mut PartitionTable, disk_len: u64) {
    for p in &mut table.partitions {
        let end = p.start.saturating_add(p.len);
        if end > disk_len {
            p.past_end = true;
            let what = if p.start >= disk_len {
                format!(
                    "partition {} starts at byte {:#x}, past the end of the image ({disk_len:#x} bytes)",
                    p.index, p.start
                )
            } else {
                format!(
                    "partition {} ({:#x}..{end:#x}) runs {} bytes past the end of the image ({disk_len:#x} bytes)",
                    p.index,
                    p.start,
                    end.saturating_sub(disk_len)
                )
            };
            table.findings.push(Finding::new(p.entry_offset, what));
        }
    }
    let mut data: Vec<&Partition> = table.partitions.iter().filter(|p| !p.container).collect();
    data.sort_by_key(|p| p.start);
    let mut overlaps = Vec::new();
    for pair in data.windows(2) {
        if let [a, b] = pair
            && a.start.saturating_add(a.len) > b.start
        {
            overlaps.push(Finding::new(
                b.entry_offset,
                format!("partition {} overlaps partition {}", b.index, a.index),
            ));
        }
    }
    table.findings.extend(overlaps);
}

fn mbr_type_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0E => "FAT16",
        0x05 | 0x0F => "Extended",
        0x07 => "NTFS/exFAT",
        0x0B | 0x0C => "FAT32",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8E => "Linux LVM",
        0xEE => "GPT protective",
        0xEF => "EFI System",
        0xFD => "Linux RAID",
        _ => return None,
    })
}

/// Well-known GPT type GUIDs (UEFI 2.10 table 5.7, and the Linux
/// Discoverable Partitions Specification for the Linux ones).
const GPT_TYPES: &[(&str, &str)] = &[
    ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System"),
    (
        "024dee41-33e7-11d3-9d69-0008c781f39f",
        "MBR partition scheme",
    ),
    ("21686148-6449-6e6f-744e-656564454649", "BIOS boot"),
    ("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem"),
    ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap"),
    ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM"),
    ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID"),
    (
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        "Linux root (x86-64)",
    ),
    ("933ac7e1-2eb4-4f13-b844-0e14e2aef915", "Linux home"),
    (
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
        "Microsoft basic data",
    ),
    ("e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved"),
    ("48465300-0000-11aa-aa11-00306543ecac", "Apple HFS+"),
    ("7c3457ef-0000-11aa-aa11-00306543ecac", "Apple APFS"),
    // Android-IA types (Intel's Android GPT layout, used by AOSP x86 and
    // some ARM boards; most ARM phones use vendor GUIDs and rely on names).
    ("2568845d-2332-4675-bc39-8fa5a4748d15", "Android bootloader"),
    (
        "114eaffe-1552-4022-b26e-9b053604cf84",
        "Android bootloader 2",
    ),
    ("49a4d17f-93a3-45c1-a0de-f50b2ebe2599", "Android boot"),
    ("4177c722-9e92-4aab-8644-43502bfd5506", "Android recovery"),
    ("ef32a33b-a409-486c-9141-9ffb711f6266", "Android misc"),
    ("20ac26be-20b7-11e3-84c5-6cfdb94711e9", "Android metadata"),
    ("38f428e6-d326-425d-9140-6e0ea133647c", "Android system"),
    ("a893ef21-e428-470a-9e55-0668fd91a2d9", "Android cache"),
    ("dc76dda9-5ac1-491c-af42-a82591580c0d", "Android data"),
    ("ebc597d0-2053-4b15-8b64-e0aac75f4db1", "Android persistent"),
    ("c5a0aeec-13ea-11e5-a1b1-001e67ca0c3c", "Android vendor"),
    ("bd59408b-4514-490d-bf12-9878d963f378", "Android config"),
    ("8f68cc74-c5e5-48da-be91-a0c8c15e9c80", "Android factory"),
    (
        "767941d0-2085-11e3-ad3b-6cfdb94711e9",
        "Android fastboot/tertiary",
    ),
    ("ac6d7924-eb71-4df8-b48d-e267b27148ff", "Android OEM"),
];

fn gpt_type_name(guid: &Guid) -> Option<&'static str> {
    let text = guid.to_string();
    GPT_TYPES
        .iter()
        .find(|(g, _)| *g == text)
        .map(|(_, name)| *name)
}

fn guid_at(b: &[u8], off: usize) -> Option<Guid> {
    Some(Guid(b.get(off..off.checked_add(16)?)?.try_into().ok()?))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]
mod tests {
    use super::*;

    const S: usize = 512;

    fn put_mbr_entry(sector: &mut [u8], slot: usize, kind: u8, lba: u32, sectors: u32) {
        let o = 446 + slot * 16;
        sector[o + 4] = kind;
        sector[o + 8..o + 12].copy_from_slice(&lba.to_le_bytes());
        sector[o + 12..o + 16].copy_from_slice(&sectors.to_le_bytes());
    }

    fn sign(sector: &mut [u8]) {
        sector[510] = 0x55;
        sector[511] = 0xAA;
    }

    fn sector_mut(disk: &mut [u8], lba: usize) -> &mut [u8] {
        &mut disk[lba * S..(lba + 1) * S]
    }

    /// 2048 sectors: primary 1 Linux at LBA 63 (137 sectors), primary 2
    /// extended at LBA 200 (1000 sectors) holding EBRs at 200, 300 and 500
    /// with logical partitions at 210 (90), 305 (50, FAT32) and 501 (200, swap).
    fn mbr_disk() -> Vec<u8> {
        let mut disk = vec![0u8; 2048 * S];
        let mbr = sector_mut(&mut disk, 0);
        put_mbr_entry(mbr, 0, 0x83, 63, 137);
        put_mbr_entry(mbr, 1, 0x0F, 200, 1000);
        sign(mbr);
        let ebr = sector_mut(&mut disk, 200);
        put_mbr_entry(ebr, 0, 0x83, 10, 90);
        put_mbr_entry(ebr, 1, 0x05, 100, 200);
        sign(ebr);
        let ebr = sector_mut(&mut disk, 300);
        put_mbr_entry(ebr, 0, 0x0C, 5, 50);
        put_mbr_entry(ebr, 1, 0x05, 300, 201);
        sign(ebr);
        let ebr = sector_mut(&mut disk, 500);
        put_mbr_entry(ebr, 0, 0x82, 1, 200);
        sign(ebr);
        disk
    }

    fn spans(table: &PartitionTable) -> Vec<(u32, u64, u64, bool)> {
        table
            .partitions
            .iter()
            .map(|p| (p.index, p.start, p.len, p.logical))
            .collect()
    }

    #[test]
    fn mbr_extended_chain_gives_three_logical_partitions() {
        let table = read_partition_table(&mbr_disk()).unwrap();
        assert_eq!(table.scheme, Scheme::Mbr);
        assert_eq!(table.sector_size, 512);
        assert!(table.findings.is_empty(), "{:?}", table.findings);
        assert_eq!(
            spans(&table),
            [
                (1, 63 * 512, 137 * 512, false),
                (2, 200 * 512, 1000 * 512, false),
                (5, 210 * 512, 90 * 512, true),
                (6, 305 * 512, 50 * 512, true),
                (7, 501 * 512, 200 * 512, true),
            ]
        );
        let ext = &table.partitions[1];
        assert!(ext.container);
        assert_eq!(ext.type_name, Some("Extended"));
        let fat = &table.partitions[3];
        assert_eq!(fat.type_code, Some(0x0C));
        assert_eq!(fat.type_name, Some("FAT32"));
        assert_eq!(fat.entry_offset, 300 * 512 + 446);
        assert_eq!(table.partitions[4].type_name, Some("Linux swap"));
    }

    #[test]
    fn unallocated_lists_the_gaps_between_data_partitions() {
        let disk = mbr_disk();
        let table = read_partition_table(&disk).unwrap();
        let k = 512u64;
        assert_eq!(
            unallocated(&table, disk.len() as u64),
            [
                (0, 63 * k),
                (200 * k, 10 * k),
                (300 * k, 5 * k),
                (355 * k, 146 * k),
                (701 * k, 1347 * k),
            ]
        );
    }

    #[test]
    fn ebr_loop_is_stopped_with_a_finding() {
        let mut disk = mbr_disk();
        // The last EBR links back to the first.
        put_mbr_entry(sector_mut(&mut disk, 500), 1, 0x05, 0, 1000);
        let table = read_partition_table(&disk).unwrap();
        assert_eq!(table.partitions.iter().filter(|p| p.logical).count(), 3);
        assert_eq!(table.findings.len(), 1, "{:?}", table.findings);
        assert_eq!(table.findings[0].offset, 200 * 512);
        assert!(table.findings[0].what.contains("loops back to LBA 200"));
    }

    #[test]
    fn ebr_outside_the_image_is_reported_not_followed() {
        let mut disk = mbr_disk();
        put_mbr_entry(sector_mut(&mut disk, 0), 1, 0x0F, 200, 100_000);
        put_mbr_entry(sector_mut(&mut disk, 500), 1, 0x05, 50_000, 10);
        let table = read_partition_table(&disk).unwrap();
        assert_eq!(table.partitions.iter().filter(|p| p.logical).count(), 3);
        let outside: Vec<_> = table
            .findings
            .iter()
            .filter(|f| f.what.contains("EBR at LBA 50200 lies outside the image"))
            .collect();
        assert_eq!(outside.len(), 1, "{:?}", table.findings);
        assert_eq!(outside[0].offset, 50_200 * 512);
        // The container itself now runs past the end, and says so.
        assert!(table.partitions[1].past_end);
    }

    #[test]
    fn logical_partitions_are_capped() {
        // 200 EBRs, one per 2 sectors, each with a 1-sector logical partition.
        let mut disk = vec![0u8; 1000 * S];
        let mbr = sector_mut(&mut disk, 0);
        put_mbr_entry(mbr, 0, 0x05, 100, 800);
        sign(mbr);
        for i in 0..200u32 {
            let ebr = sector_mut(&mut disk, 100 + 2 * i as usize);
            put_mbr_entry(ebr, 0, 0x83, 1, 1);
            put_mbr_entry(ebr, 1, 0x05, 2 * (i + 1), 2);
            sign(ebr);
        }
        let table = read_partition_table(&disk).unwrap();
        assert_eq!(
            table.partitions.iter().filter(|p| p.logical).count(),
            MAX_LOGICAL
        );
        assert!(
            table
                .findings
                .iter()
                .any(|f| f.what.contains("more than 128 logical partitions"))
        );
    }

    #[test]
    fn partition_past_the_end_is_kept_and_flagged() {
        let mut disk = vec![0u8; 2048 * S];
        let mbr = sector_mut(&mut disk, 0);
        put_mbr_entry(mbr, 0, 0x07, 2048, 4096);
        put_mbr_entry(mbr, 1, 0x83, 1000, 2048);
        sign(mbr);
        let table = read_partition_table(&disk).unwrap();
        assert_eq!(table.partitions.len(), 2);
        assert!(table.partitions.iter().all(|p| p.past_end));
        assert_eq!(table.findings.len(), 3, "{:?}", table.findings);
        assert!(
            table.findings[0]
                .what
                .contains("starts at byte 0x100000, past the end")
        );
        assert!(
            table.findings[1]
                .what
                .contains("runs 512000 bytes past the end")
        );
        assert_eq!(table.findings[2].what, "partition 1 overlaps partition 2");
        assert_eq!(unallocated(&table, disk.len() as u64), [(0, 1000 * 512)]);
    }

    #[test]
    fn volume_boot_records_and_empty_mbrs_are_not_mine() {
        let mut fat = vec![0u8; 4096];
        fat[0x52..0x57].copy_from_slice(b"FAT32");
        put_mbr_entry(&mut fat, 0, 0x83, 1, 1);
        sign(&mut fat);
        assert!(matches!(read_partition_table(&fat), Err(Error::NotMine)));
        let mut empty = vec![0u8; 4096];
        sign(&mut empty);
        assert!(matches!(read_partition_table(&empty), Err(Error::NotMine)));
        assert!(matches!(
            read_partition_table(&vec![0u8; 100]),
            Err(Error::NotMine)
        ));
    }

    struct TestPart {
        type_guid: &'static str,
        unique: &'static str,
        first: u64,
        last: u64,
        name: &'static str,
    }

    const LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
    const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
    const DISK_GUID: &str = "1b6a2bfa-e92b-184c-a8a7-ed0610d54821";

    fn parts() -> Vec<TestPart> {
        vec![
            TestPart {
                type_guid: ESP,
                unique: "11111111-2222-3333-4444-555555555555",
                first: 34,
                last: 59,
                name: "boot",
            },
            TestPart {
                type_guid: LINUX,
                unique: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                first: 60,
                last: 99,
                name: "system",
            },
            TestPart {
                type_guid: LINUX,
                unique: "01234567-89ab-cdef-0123-456789abcdef",
                first: 100,
                last: 166,
                name: "userdata",
            },
        ]
    }

    /// Writes the header at `lba` with CRCs over the array at `entries_lba`.
    #[allow(clippy::too_many_arguments)]
    fn write_header(
        disk: &mut [u8],
        ss: usize,
        lba: u64,
        alt: u64,
        entries_lba: u64,
        usable: (u64, u64),
    ) {
        let array = disk[entries_lba as usize * ss..][..128 * 128].to_vec();
        let h = &mut disk[lba as usize * ss..][..92];
        h.fill(0);
        h[..8].copy_from_slice(GPT_SIGNATURE);
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&lba.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&usable.0.to_le_bytes());
        h[48..56].copy_from_slice(&usable.1.to_le_bytes());
        h[56..72].copy_from_slice(&Guid::parse(DISK_GUID).unwrap().0);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32fast::hash(&array).to_le_bytes());
        let crc = crc32fast::hash(h);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    }

    /// A GPT disk of `sectors` sectors of `ss` bytes: protective MBR, primary
    /// header at LBA 1 with 128 entries at LBA 2, backup array and header at
    /// the end.
    fn gpt_disk(ss: usize, sectors: u64, parts: &[TestPart]) -> Vec<u8> {
        let mut disk = vec![0u8; ss * sectors as usize];
        put_mbr_entry(&mut disk[..512], 0, 0xEE, 1, (sectors - 1) as u32);
        sign(&mut disk[..512]);
        let array_sectors = (128 * 128 / ss) as u64;
        let last = sectors - 1;
        let usable = (2 + array_sectors, last - 1 - array_sectors);
        let backup_array = last - array_sectors;
        for entries_lba in [2, backup_array] {
            for (i, p) in parts.iter().enumerate() {
                let e = &mut disk[entries_lba as usize * ss + i * 128..][..128];
                e[..16].copy_from_slice(&Guid::parse(p.type_guid).unwrap().0);
                e[16..32].copy_from_slice(&Guid::parse(p.unique).unwrap().0);
                e[32..40].copy_from_slice(&p.first.to_le_bytes());
                e[40..48].copy_from_slice(&p.last.to_le_bytes());
                e[48..56].copy_from_slice(&(1u64 << 60).to_le_bytes());
                for (k, unit) in p.name.encode_utf16().enumerate() {
                    e[56 + 2 * k..58 + 2 * k].copy_from_slice(&unit.to_le_bytes());
                }
            }
        }
        write_header(&mut disk, ss, 1, last, 2, usable);
        write_header(&mut disk, ss, last, 1, backup_array, usable);
        disk
    }

    fn check_three(table: &PartitionTable, ss: u64) {
        assert_eq!(table.scheme, Scheme::Gpt);
        assert_eq!(table.sector_size as u64, ss);
        assert_eq!(table.disk_guid.unwrap().to_string(), DISK_GUID);
        assert_eq!(table.gpt_revision, Some(0x0001_0000));
        let got: Vec<_> = table
            .partitions
            .iter()
            .map(|p| {
                (
                    p.index,
                    p.name.as_deref().unwrap(),
                    p.type_name.unwrap(),
                    p.unique_guid.unwrap().to_string(),
                    p.start,
                    p.len,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    1,
                    "boot",
                    "EFI System",
                    "11111111-2222-3333-4444-555555555555".into(),
                    34 * ss,
                    26 * ss
                ),
                (
                    2,
                    "system",
                    "Linux filesystem",
                    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
                    60 * ss,
                    40 * ss
                ),
                (
                    3,
                    "userdata",
                    "Linux filesystem",
                    "01234567-89ab-cdef-0123-456789abcdef".into(),
                    100 * ss,
                    67 * ss
                ),
            ]
        );
        assert_eq!(table.partitions[2].attributes, Some(1 << 60));
        assert_eq!(table.partitions[2].type_guid.unwrap().to_string(), LINUX);
    }

    #[test]
    fn gpt_with_three_named_partitions() {
        let disk = gpt_disk(S, 200, &parts());
        let table = read_partition_table(&disk).unwrap();
        check_three(&table, 512);
        assert_eq!(table.gpt_copy, Some(GptCopy::Primary));
        assert!(table.findings.is_empty(), "{:?}", table.findings);
        assert_eq!(table.partitions[1].entry_offset, 1024 + 128);
    }

    #[test]
    fn gpt_primary_header_crc_failure_falls_back_to_the_backup() {
        let mut disk = gpt_disk(S, 200, &parts());
        disk[512 + 40] ^= 1; // first usable LBA, under the header CRC
        let table = read_partition_table(&disk).unwrap();
        check_three(&table, 512);
        assert_eq!(table.gpt_copy, Some(GptCopy::Backup));
        assert_eq!(table.findings.len(), 1, "{:?}", table.findings);
        let f = &table.findings[0];
        assert_eq!(f.offset, 512 + 16);
        assert!(f.what.contains("header CRC32 mismatch"), "{f}");
        assert!(
            f.what
                .contains("backup at LBA 199 (offset 0x18e00) is used"),
            "{f}"
        );
    }

    #[test]
    fn gpt_primary_entries_crc_failure_falls_back_to_the_backup() {
        let mut disk = gpt_disk(S, 200, &parts());
        disk[1024 + 56] = b'X'; // first letter of "boot" in the primary array
        let table = read_partition_table(&disk).unwrap();
        check_three(&table, 512);
        assert_eq!(table.gpt_copy, Some(GptCopy::Backup));
        assert_eq!(table.findings.len(), 1, "{:?}", table.findings);
        assert_eq!(table.findings[0].offset, 1024);
        assert!(
            table.findings[0]
                .what
                .contains("entry array CRC32 mismatch")
        );
    }

    #[test]
    fn gpt_primary_signature_wiped_uses_the_backup() {
        let mut disk = gpt_disk(S, 200, &parts());
        disk[512..520].fill(0);
        let table = read_partition_table(&disk).unwrap();
        check_three(&table, 512);
        assert_eq!(table.gpt_copy, Some(GptCopy::Backup));
        assert_eq!(table.findings.len(), 2, "{:?}", table.findings);
        assert!(table.findings[1].what.contains("no \"EFI PART\" signature"));
    }

    #[test]
    fn gpt_both_copies_bad_is_an_error_naming_both() {
        let mut disk = gpt_disk(S, 200, &parts());
        disk[512 + 40] ^= 1;
        disk[199 * 512 + 40] ^= 1;
        let Err(Error::Corrupt { offset, what }) = read_partition_table(&disk) else {
            panic!("expected corrupt");
        };
        assert_eq!(offset, 512 + 16);
        assert!(
            what.contains("primary GPT unusable: header CRC32 mismatch"),
            "{what}"
        );
        assert!(
            what.contains(
                "backup GPT at LBA 199 unusable (at offset 0x18e10: header CRC32 mismatch"
            ),
            "{what}"
        );
    }

    #[test]
    fn gpt_copies_that_differ_are_reported() {
        let mut disk = gpt_disk(S, 200, &parts());
        // Rename "boot" in the backup array and make its CRCs right again.
        disk[(199 - 32) * 512 + 56] = b'B';
        write_header(&mut disk, S, 199, 1, 199 - 32, (34, 166));
        let table = read_partition_table(&disk).unwrap();
        check_three(&table, 512);
        assert_eq!(table.gpt_copy, Some(GptCopy::Primary));
        assert_eq!(table.findings.len(), 1, "{:?}", table.findings);
        assert!(
            table.findings[0]
                .what
                .contains("primary and backup GPT differ (entry arrays differ")
        );
    }

    #[test]
    fn gpt_with_4096_byte_sectors() {
        let mut four_k = parts();
        four_k[0].first = 6;
        let disk = gpt_disk(4096, 200, &four_k);
        let table = read_partition_table(&disk).unwrap();
        assert!(table.findings.is_empty(), "{:?}", table.findings);
        assert_eq!(table.sector_size, 4096);
        assert_eq!(table.partitions[0].start, 6 * 4096);
        assert_eq!(table.partitions[0].len, 54 * 4096);
        assert_eq!(table.partitions[2].start, 100 * 4096);
        assert_eq!(table.partitions[2].name.as_deref(), Some("userdata"));
    }

    #[test]
    fn truncated_gpt_image_keeps_what_it_can() {
        let mut disk = gpt_disk(S, 200, &parts());
        disk.truncate(120 * S);
        let table = read_partition_table(&disk).unwrap();
        assert_eq!(table.gpt_copy, Some(GptCopy::Primary));
        assert_eq!(table.partitions.len(), 3);
        assert!(table.partitions[2].past_end);
        let whats: Vec<&str> = table.findings.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(whats.len(), 3, "{whats:?}");
        assert!(whats[0].contains("backup at LBA 199 but the image's last LBA is 119"));
        assert!(
            whats[1].contains("backup GPT at LBA 199 unusable: header LBA 199 is past the end")
        );
        assert!(whats[2].contains("partition 3 (0xc800..0x14e00) runs 24064 bytes past the end"));
    }

    #[test]
    fn guid_uses_the_mixed_endian_text_form() {
        let bytes = [
            0xfa, 0x2b, 0x6a, 0x1b, 0x2b, 0xe9, 0x4c, 0x18, 0xa8, 0xa7, 0xed, 0x06, 0x10, 0xd5,
            0x48, 0x21,
        ];
        assert_eq!(Guid(bytes).to_string(), DISK_GUID);
        assert_eq!(Guid::parse(DISK_GUID), Some(Guid(bytes)));
        assert_eq!(Guid::parse("1b6a2bfa-e92b-184c-a8a7"), None);
        assert_eq!(Guid::parse("1b6a2bfa-e92b-184c-a8a7-ed0610d5482x"), None);
    }

    #[test]
    fn table_serializes_for_custody_notes() {
        let table = read_partition_table(&gpt_disk(S, 200, &parts())).unwrap();
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["scheme"], "gpt");
        assert_eq!(json["disk_guid"], DISK_GUID);
        assert_eq!(json["gpt_copy"], "primary");
        assert_eq!(json["partitions"][2]["name"], "userdata");
        assert_eq!(json["partitions"][2]["type_guid"], LINUX);
        assert_eq!(json["partitions"][2]["start"], 51200);
    }
}
