//! FAT12/16/32 volumes, read with the `fatfs` crate (0.3): every directory
//! and file with its long name, size, attributes and times, the content
//! streamed in 1 MiB pieces.
//!
//! Policy: the volume is opened through a read-only adapter (every write
//! fails), so `fatfs` cannot change the evidence. FAT stores local times
//! without a zone: they are recorded as if they were UTC, unchanged, and a
//! custody note says so. The walk is bounded in depth and entry count; a
//! damaged directory or file is an error naming the volume and the path.
//! Boot sector layout: Microsoft "FAT: General Overview of On-Disk Format"
//! 1.03, section 3.
#![forbid(unsafe_code)]

use crate::ReadAt;
use crate::plugin::{MAX_DEPTH, Volume, Window, u16_le};
use exhibit_plugin_sdk::{EntryKind, EntryMeta, PluginError, Session, Status, Time};
use std::io::{self, Read, Seek, SeekFrom, Write};

const CHUNK: usize = 1024 * 1024;

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
            "times": "FAT times are local times without a zone; they are recorded unchanged as if UTC",
            "not_recorded": "deleted entries (not listed yet)",
        }),
    );
    let mut stack: Vec<(String, Dir<'_, '_>, usize)> = vec![(String::new(), fs.root_dir(), 0)];
    let mut count: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    while let Some((dir_path, dir, depth)) = stack.pop() {
        session.check_cancelled()?;
        let mut subdirs = Vec::new();
        for entry in dir.iter() {
            session.check_cancelled()?;
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    session.report(&fat_error(volume, &dir_path, &e));
                    break;
                }
            };
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
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
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
