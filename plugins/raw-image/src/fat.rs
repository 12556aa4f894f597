//! FAT12/16/32 volumes, read with the `fatfs` crate (0.3): every directory
//! and file with its long name, size, attributes and times, the content
//! streamed in 1 MiB pieces; then the deleted entries, which `fatfs` does
//! not show, read raw by [`crate::fatraw`]: one `deleted` record each, and
//! the content of a deleted file delivered under `$deleted/` when its
//! clusters are still free.
//!
//! Policy: the volume is opened through a read-only adapter (every write
//! fails), so `fatfs` cannot change the evidence. FAT stores local times
//! without a zone: they are recorded as if they were UTC, unchanged, and a
//! custody note says so. The walk is bounded in depth and entry count; a
//! damaged directory or file is an error naming the volume and the path.
//! The deleted-entry pass runs after the live walk and cannot stop it: its
//! problems are warnings naming the volume and the offset. Recovery is the
//! contiguous-free-clusters heuristic stated in [`crate::fatraw`]; a
//! deleted directory's entries are listed from its first cluster only.
//! Boot sector layout: Microsoft "FAT: General Overview of On-Disk Format"
//! 1.03, section 3.
#![forbid(unsafe_code)]

use crate::ReadAt;
use crate::deleted::{Deleted, FoundIn, Recovered, recovered_name};
use crate::fatraw::{DeletedFound, Event, LongName, RawFat, Recovery};
use crate::plugin::{MAX_DEPTH, Volume, Window, read_exact};
use crate::read_at::u16_le;
use exhibit_plugin_sdk::{EntryKind, EntryMeta, PluginError, RawBytes, Session, Status, Time};
use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

const CHUNK: usize = 1024 * 1024;
/// Most entries a FAT directory holds (spec section 6).
const MAX_DIR_ENTRIES: usize = 65_536;

/// BPB fields (offsets in the boot sector).
const BPB_BYTES_PER_SEC: usize = 11;
const BPB_SEC_PER_CLUS: usize = 13;
const BPB_RSVD_SEC_CNT: usize = 14;
const BPB_NUM_FATS: usize = 16;
/// `BS_FilSysType` for FAT12/16 and for FAT32.
const FS_TYPE_16: usize = 54;
const FS_TYPE_32: usize = 82;

/// Whether `head` starts with a FAT boot sector: 0x55AA, "FAT" in a
/// file-system-type field, and a plausible BPB.
pub(crate) fn is_boot_sector(head: &[u8]) -> bool {
    let signed = head.get(510..512) == Some(&[0x55, 0xAA][..]);
    let named = [FS_TYPE_16, FS_TYPE_32]
        .iter()
        .any(|&at| head.get(at..at.saturating_add(3)) == Some(&b"FAT"[..]));
    let bps = u16_le(head, BPB_BYTES_PER_SEC).unwrap_or(0);
    let spc = head.get(BPB_SEC_PER_CLUS).copied().unwrap_or(0);
    let reserved = u16_le(head, BPB_RSVD_SEC_CNT).unwrap_or(0);
    let fats = head.get(BPB_NUM_FATS).copied().unwrap_or(0);
    signed
        && named
        && (512..=4096).contains(&bps)
        && bps.is_power_of_two()
        && spc.is_power_of_two()
        && reserved > 0
        && (1..=2).contains(&fats)
}

/// `Read + Seek` over a volume; `Write` always fails (read-only evidence).
struct VolumeIo<'a> {
    window: Window<'a>,
    pos: u64,
}

impl Read for VolumeIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.window.read_at(self.pos, buf)?;
        self.pos = self
            .pos
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }
}

impl Seek for VolumeIo<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.window.len.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

impl Write for VolumeIo<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "evidence is read-only",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Dir<'a, 'b> = fatfs::Dir<'b, VolumeIo<'a>>;

/// Walks the FAT file system of `volume`.
pub(crate) fn extract(session: &Session<'_>, volume: &Volume<'_>) -> Result<(), PluginError> {
    let start = volume.window.start;
    let io = VolumeIo {
        window: volume.window,
        pos: 0,
    };
    let fs = fatfs::FileSystem::new(io, fatfs::FsOptions::new()).map_err(|e| {
        PluginError::corrupt(
            start,
            format!(
                "{} at offset {start:#x}: FAT boot sector: {e}",
                volume.label
            ),
        )
    })?;
    session.custody_note(
        "fat file system",
        serde_json::json!({
            "volume": volume.label,
            "offset": start,
            "fat_type": format!("{:?}", fs.fat_type()),
            "volume_id": fs.volume_id(),
            "volume_label": fs.volume_label(),
            "reader": "fatfs 0.3, through a read-only adapter",
            "times": "FAT times are local times without a zone; they are recorded unchanged as if UTC, for live and deleted entries alike; the access time is a date only",
            "deleted_entries": "listed from the raw directory entries (first byte 0xE5) of every live directory; a deleted file's content is recovered only when the clusters from its first cluster on are all free; a deleted directory's entries are listed from its first cluster only, when that cluster is free and starts with . and ..",
        }),
    );
    let outcome = walk_live(session, volume, &fs);
    drop(fs);
    if let Err(e @ (PluginError::Cancelled | PluginError::Host { .. })) = outcome {
        return Err(e);
    }
    // The deleted-entry pass runs even when the live walk failed part-way.
    let deleted = extract_deleted(session, volume);
    outcome?;
    deleted
}

/// The live tree, through `fatfs`.
fn walk_live(
    session: &Session<'_>,
    volume: &Volume<'_>,
    fs: &fatfs::FileSystem<VolumeIo<'_>>,
) -> Result<(), PluginError> {
    let start = volume.window.start;
    let mut stack: Vec<(String, Dir<'_, '_>, usize)> = vec![(String::new(), fs.root_dir(), 0)];
    let mut count: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    while let Some((dir_path, dir, depth)) = stack.pop() {
        session.check_cancelled()?;
        let mut subdirs = Vec::new();
        // Short names are unique in a directory: one seen twice means its
        // cluster chain loops back, and `fatfs` would go round forever.
        let mut short_names: HashSet<Vec<u8>> = HashSet::new();
        for entry in dir.iter() {
            session.check_cancelled()?;
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    session.report(&fat_error(volume, &dir_path, &e));
                    break;
                }
            };
            let shown = if dir_path.is_empty() { "/" } else { &dir_path };
            if short_names.len() >= MAX_DIR_ENTRIES {
                session.warn(
                    Some(start),
                    &format!(
                        "{}: {shown}: more than {MAX_DIR_ENTRIES} entries, the most a FAT directory holds; the rest is not read",
                        volume.label
                    ),
                );
                break;
            }
            if !short_names.insert(entry.short_file_name_as_bytes().to_vec()) {
                session.warn(
                    Some(start),
                    &format!(
                        "{}: {shown}: short name {:?} comes round again: the directory's cluster chain loops; the rest is not read",
                        volume.label,
                        entry.short_file_name()
                    ),
                );
                break;
            }
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            if !volume.within_budget(&mut count, session) {
                return Ok(());
            }
            let path = format!("{dir_path}/{name}");
            let mut meta = EntryMeta::new(if entry.is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::File
            });
            meta.mtime = datetime(entry.modified());
            meta.btime = datetime(entry.created());
            meta.atime = date(entry.accessed());
            meta.extra.insert("file_system".into(), "fat".into());
            meta.extra
                .insert("short_name".into(), entry.short_file_name().into());
            meta.extra
                .insert("attributes".into(), entry.attributes().bits().into());
            meta.extra.insert("volume_offset".into(), start.into());
            let case_name = volume.entry_path(path.as_bytes());
            if entry.is_dir() {
                session.record_entry(&case_name, &meta)?;
                if depth < MAX_DEPTH {
                    subdirs.push((path, entry.to_dir(), depth.saturating_add(1)));
                } else {
                    session.warn(
                        Some(start),
                        &format!(
                            "{}: {path}: nested deeper than {MAX_DEPTH} directories; not walked",
                            volume.label
                        ),
                    );
                }
                continue;
            }
            let size = entry.len();
            meta.size = Some(size);
            let mut out = session.begin(&case_name, &meta)?;
            let mut file = entry.to_file().take(size);
            let mut failed = None;
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out.write_bytes(buf.get(..n).unwrap_or_default())?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(fat_error(volume, &path, &e));
                        break;
                    }
                }
            }
            if let Some(err) = failed {
                session.report(&err);
                out.fail(err.status(), &err.to_string())?;
            } else if out.written() < size {
                let what = format!(
                    "{}: {path}: cluster chain ends after {} of {size} bytes",
                    volume.label,
                    out.written()
                );
                session.warn(Some(start), &what);
                out.fail(Status::CORRUPT, &what)?;
            } else {
                out.finish()?;
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// How recovered bytes were found, as the record says it.
const RECOVERY_METHOD: &str =
    "contiguous free clusters from the entry's first cluster (FAT chain is cleared at deletion)";

/// Lists the deleted entries of `volume` (one `deleted` record each) and
/// delivers the content of those whose clusters are still free. Problems
/// are warnings; only cancellation and host refusals end it with an error.
fn extract_deleted(session: &Session<'_>, volume: &Volume<'_>) -> Result<(), PluginError> {
    let start = volume.window.start;
    let raw = match RawFat::open(&volume.window) {
        Ok(raw) => raw,
        Err(what) => {
            session.warn(
                Some(start),
                &format!(
                    "{} at offset {start:#x}: deleted entries not listed: {what}",
                    volume.label
                ),
            );
            return Ok(());
        }
    };
    let mut count: u64 = 0;
    let mut delivered: HashSet<Vec<u8>> = HashSet::new();
    let mut within = true;
    let mut buf = Vec::new();
    raw.walk_deleted(&mut |event| {
        match event {
            Event::Directory => session.check_cancelled()?,
            Event::Problem { offset, what } => {
                let at = start.saturating_add(offset);
                session.warn(
                    Some(at),
                    &format!(
                        "{} at offset {at:#x}: deleted-entry pass: {what}",
                        volume.label
                    ),
                );
            }
            Event::Deleted(found) => {
                if within && !volume.within_budget(&mut count, session) {
                    within = false;
                }
                if within {
                    deleted_record(session, volume, &raw, found, &mut delivered, &mut buf)?;
                }
            }
        }
        Ok(())
    })
}

/// Emits the record of one deleted entry, delivering its content first
/// when it can be recovered.
fn deleted_record(
    session: &Session<'_>,
    volume: &Volume<'_>,
    raw: &RawFat<'_>,
    found: &DeletedFound,
    delivered: &mut HashSet<Vec<u8>>,
    buf: &mut Vec<u8>,
) -> Result<(), PluginError> {
    let start = volume.window.start;
    let offset = start.saturating_add(found.offset);
    let path = found.path();
    let mut record = Deleted::new(
        volume,
        "fat",
        FoundIn::DirectoryEntry,
        offset,
        volume.entry_path(path.as_bytes()),
    );
    record.kind = Some(if found.is_dir { "dir" } else { "file" });
    record.size = Some(u64::from(found.size));
    record.first_cluster = Some(u64::from(found.first_cluster));
    record.mtime = found.mtime;
    record.atime = found.atime;
    record.btime = found.btime;
    let mut notes: Vec<String> = Vec::new();
    let mut unrecovered: Vec<String> = Vec::new();
    match &found.long_name {
        LongName::Valid(_) => notes.push(format!(
            "the first byte of the short name is lost (0xE5 marks deletion): short name {}, the long name is from deleted long-name entries whose checksum fits it",
            found.short_name
        )),
        LongName::Absent => notes.push(format!(
            "the first byte of the name is lost (0xE5 marks deletion) and no long name survives: `_` stands for it in {}",
            found.short_name
        )),
        LongName::Rejected(why) => notes.push(format!(
            "the first byte of the name is lost (0xE5 marks deletion): `_` stands for it in {}; {why}",
            found.short_name
        )),
        LongName::Intact(_) => {}
    }
    if found.in_deleted_dir {
        notes.push(format!(
            "found in the first cluster of the deleted directory {}",
            if found.dir.is_empty() {
                "/"
            } else {
                &found.dir
            }
        ));
    }
    if found.is_dir {
        notes.push(format!(
            "contents of this deleted directory: {}",
            found.dir_contents.as_deref().unwrap_or("not listed")
        ));
    } else {
        match raw.plan_recovery(found.first_cluster, found.size) {
            Ok(Recovery::NotRecoverable(why)) => unrecovered.push(why.to_string()),
            Ok(Recovery::Contiguous {
                offset: from,
                len,
                clusters,
            }) => {
                let mut inner = path.clone().into_bytes();
                if delivered.contains(&inner) {
                    inner.extend_from_slice(format!(" (entry at {offset:#x})").as_bytes());
                }
                let name = recovered_name(volume, &inner);
                match deliver(session, volume, found, &name, from, len, buf)? {
                    Ok(()) => {
                        delivered.insert(inner);
                        record.recovered = Some(Recovered {
                            entry: RawBytes(name),
                            bytes: len,
                            method: format!(
                                "{RECOVERY_METHOD}: {clusters} clusters from cluster {}",
                                found.first_cluster
                            ),
                        });
                    }
                    Err(why) => unrecovered.push(why.to_string()),
                }
            }
            Err(e) => {
                let what = format!(
                    "{} at offset {offset:#x}: deleted entry {path}: reading the FAT: {e}",
                    volume.label
                );
                session.warn(Some(offset), &what);
                unrecovered.push(format!("reading the FAT failed: {e}"));
            }
        }
    }
    record.notes = (!notes.is_empty()).then(|| notes.join("; "));
    record.not_recovered = (!unrecovered.is_empty()).then(|| unrecovered.join("; "));
    record.emit(session)
}

/// Streams `len` bytes from volume offset `from` as the entry `name`. The
/// outer error is the host's; the inner one says why the bytes could not
/// be read (the entry is then ended as failed).
fn deliver(
    session: &Session<'_>,
    volume: &Volume<'_>,
    found: &DeletedFound,
    name: &[u8],
    from: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<Result<(), String>, PluginError> {
    let mut meta = EntryMeta::new(EntryKind::File);
    meta.size = Some(len);
    meta.mtime = found.mtime;
    meta.atime = found.atime;
    meta.btime = found.btime;
    meta.offset = Some(volume.window.start.saturating_add(from));
    meta.extra.insert("deleted".into(), true.into());
    meta.extra.insert("file_system".into(), "fat".into());
    meta.extra
        .insert("short_name".into(), found.short_name.clone().into());
    meta.extra
        .insert("attributes".into(), found.attributes.into());
    meta.extra
        .insert("first_cluster".into(), found.first_cluster.into());
    meta.extra.insert(
        "entry_offset".into(),
        volume.window.start.saturating_add(found.offset).into(),
    );
    meta.extra
        .insert("volume_offset".into(), volume.window.start.into());
    meta.extra.insert("recovery".into(), RECOVERY_METHOD.into());
    let mut out = session.begin(name, &meta)?;
    buf.resize(CHUNK, 0);
    let mut done: u64 = 0;
    while done < len {
        session.check_cancelled()?;
        let n = usize::try_from(len.saturating_sub(done))
            .unwrap_or(CHUNK)
            .min(CHUNK);
        let piece = buf.get_mut(..n).unwrap_or_default();
        if let Err(e) = read_exact(&volume.window, from.saturating_add(done), piece) {
            let why = format!(
                "reading volume offset {:#x}: {e}",
                from.saturating_add(done)
            );
            out.fail(Status::IO, &why)?;
            return Ok(Err(why));
        }
        out.write_bytes(piece)?;
        done = done.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    out.finish()?;
    Ok(Ok(()))
}

fn fat_error(volume: &Volume<'_>, path: &str, e: &io::Error) -> PluginError {
    let start = volume.window.start;
    let path = if path.is_empty() { "/" } else { path };
    PluginError::Corrupt {
        offset: Some(start),
        what: format!("{} at offset {start:#x}: {path}: {e}", volume.label),
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
#[allow(clippy::arithmetic_side_effects)] // called with FAT's u16 fields: no overflow in i64
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[allow(clippy::arithmetic_side_effects)] // FAT fields are u16: no overflow in i64
fn date(d: fatfs::Date) -> Option<Time> {
    if !(1..=12).contains(&d.month) || !(1..=31).contains(&d.day) {
        return None;
    }
    let days = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day));
    Some(Time::from_secs(days * 86_400))
}

#[allow(clippy::arithmetic_side_effects)] // FAT fields are u16: no overflow in i64
fn datetime(dt: fatfs::DateTime) -> Option<Time> {
    let day = date(dt.date)?;
    let t = dt.time;
    let secs = day.secs + i64::from(t.hour) * 3600 + i64::from(t.min) * 60 + i64::from(t.sec);
    Some(Time {
        secs,
        nanos: u32::from(t.millis.min(999)) * 1_000_000,
    })
}
