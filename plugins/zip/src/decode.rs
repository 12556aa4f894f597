//! Decoding of zip archives: owns the entry plan (central directory records,
//! local header cross-checks, overlap detection), metadata mapping (names,
//! modes, timestamps, extra fields), parallel delivery and the local-header
//! scan used when the central directory is missing.
//!
//! Policy: the `zip` crate finds the end-of-central-directory record, parses
//! the central directory (zip64 included) and decompresses; everything else
//! reads raw bytes through `Session::read_at` with checked helpers. The
//! evidence is read at random offsets (`Access::Random`): the host hashes it
//! on a thread of its own. Every entry is streamed through one reused
//! 256 KiB buffer per worker and never expanded beyond its declared size, so
//! memory stays flat whatever the archive claims. Damage to one entry is
//! reported with the entry's name and local-header offset and the other
//! entries are still extracted; bytes already delivered are kept and the
//! entry is ended incomplete. Names are passed as stored (decoded to UTF-8
//! when they are CP437); the host sanitises them. The run returns `Err` only
//! when the host refuses a call, a read fails, the host cancels, or the
//! evidence holds neither a central directory nor a local header.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{
    Access, EntryKind, EntryMeta, FormatPlugin, PluginError, Probe, RawBytes, Session,
    SourceReader, Status, Time, to_hex,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use zip::ZipArchive;
use zip::read::ZipReadOptions;
use zip::result::ZipError;

// Record layouts, APPNOTE 4.3.7 (local file header) and 4.3.12 (central
// directory file header): https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT
const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const LOCAL_LEN: usize = 30;
const L_FLAGS: usize = 6;
const L_METHOD: usize = 8;
const L_TIME: usize = 10;
const L_DATE: usize = 12;
const L_CRC: usize = 14;
const L_CSIZE: usize = 18;
const L_USIZE: usize = 22;
const L_NAME_LEN: usize = 26;
const L_EXTRA_LEN: usize = 28;
const CENTRAL_LEN: usize = 46;
const C_MADE_BY: usize = 4;
const C_FLAGS: usize = 8;
const C_METHOD: usize = 10;
const C_TIME: usize = 12;
const C_DATE: usize = 14;
const C_CRC: usize = 16;
const C_CSIZE: usize = 20;
const C_USIZE: usize = 24;
const C_NAME_LEN: usize = 28;
const C_EXTRA_LEN: usize = 30;
const C_COMMENT_LEN: usize = 32;
const C_EXT_ATTR: usize = 38;
const C_OFFSET: usize = 42;

/// General purpose flag bits (APPNOTE 4.4.4).
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;

/// Extra field ids: zip64 (APPNOTE 4.5.3), NTFS (4.5.5), Info-ZIP extended
/// timestamp (extrafld.txt "UT").
const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_NTFS: u16 = 0x000a;
const EXTRA_TIMESTAMP: u16 = 0x5455;

/// "Version made by" host systems whose external attributes carry a Unix mode.
const SYSTEM_UNIX: u8 = 3;
const SYSTEM_OSX: u8 = 19;

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFSOCK: u32 = 0o140_000;

/// The reused buffer entry data streams through, one per worker.
const COPY_BUF: usize = 256 * 1024;
/// Longest symbolic link target read (Linux `PATH_MAX`).
const LINK_CAP: u64 = 4096;
/// 100 ns FILETIME ticks per second, and seconds from 1601 to 1970.
const FILETIME_TICKS: u64 = 10_000_000;
const FILETIME_EPOCH_SECS: i64 = 11_644_473_600;

/// The zip format plugin.
#[derive(Default)]
pub struct Zip;

impl FormatPlugin for Zip {
    const NAME: &'static str = "zip";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "zip archives: zip64, deflate, bzip2, lzma, zstd; parallel, bomb-safe";
    const EXTENSIONS: &'static [&'static str] = &["zip"];
    const ACCESS: Access = Access::Random;

    /// 90 for a local file header at offset 0, 80 for an empty archive (an
    /// end-of-central-directory record at 0), 10 for only a `.zip` name.
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.is_dir {
            0
        } else if probe.head.starts_with(LOCAL_SIG) {
            90
        } else if probe.head.starts_with(EOCD_SIG) {
            80
        } else if probe.has_extension("zip") {
            10
        } else {
            0
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        Decoder { session }.run()
    }
}

/// `Read + Seek + Clone` over the host's `read_at`: each worker clones the
/// archive, and with it a reader of its own.
type Evidence<'s> = SourceReader<'s>;

/// Where an entry's data is decompressed from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The `zip` crate's index entry.
    Index(usize),
    /// The local header at this offset, read as a stream (a central
    /// directory entry the crate's index lost to a duplicate name, or any
    /// entry recovered without a central directory).
    Local(u64),
}

/// One entry to deliver, fully described before delivery starts.
#[derive(Debug)]
struct Plan {
    source: Source,
    /// The name as delivered (UTF-8 when it was CP437).
    name: Vec<u8>,
    /// Local header offset: the entry's forensic offset.
    at: u64,
    meta: EntryMeta,
    method: u16,
    encrypted: bool,
    crc32: u32,
    size: u64,
    compressed_size: u64,
    /// Warnings to record when the entry is delivered.
    warnings: Vec<String>,
    /// Set when the entry must not be expanded (overlap, no local header).
    skip: Option<PluginError>,
}

impl Plan {
    /// `"name" at offset 0x…`, for messages.
    fn what(&self) -> String {
        format!(
            "entry {:?} at offset {:#x}",
            String::from_utf8_lossy(&self.name),
            self.at
        )
    }
}

/// A central directory file header, raw fields decoded.
#[derive(Debug)]
struct Central {
    made_by: u16,
    flags: u16,
    method: u16,
    dos: (u16, u16),
    crc32: u32,
    compressed_size: u64,
    size: u64,
    external: u32,
    local_offset: u64,
    name: Vec<u8>,
    extra: Vec<u8>,
    comment: Vec<u8>,
    /// Length of the whole record.
    len: u64,
}

/// A local file header, raw fields decoded.
#[derive(Debug)]
struct Local {
    flags: u16,
    method: u16,
    dos: (u16, u16),
    crc32: u32,
    compressed_size: u64,
    size: u64,
    name: Vec<u8>,
    extra: Vec<u8>,
    /// Offset of the entry's data.
    data_at: u64,
}

struct Decoder<'s, 'h> {
    session: &'s Session<'h>,
}

impl<'s, 'h> Decoder<'s, 'h> {
    fn evidence(&self) -> Evidence<'s> {
        self.session.evidence_reader()
    }

    fn run(&self) -> Result<(), PluginError> {
        let archive = match ZipArchive::new(self.evidence()) {
            Ok(archive) => archive,
            Err(err) => {
                let err = host_error(err)?;
                return self.scan(&err);
            }
        };
        self.check_eocd()?;
        let plans = self.plan(&archive)?;
        self.deliver_all(&archive, &plans)
    }

    /// Warns when the end of central directory record (APPNOTE 4.3.16) says
    /// the central directory runs past the end of the evidence: the `zip`
    /// crate reads the entries it finds and says nothing of it.
    fn check_eocd(&self) -> Result<(), PluginError> {
        let size = self.session.evidence().size;
        // The record is 22 bytes plus a comment of at most 65 535.
        let from = size.saturating_sub(22 + 0xffff);
        let tail = self.read_bytes(
            from,
            usize::try_from(size.saturating_sub(from)).unwrap_or(0),
        )?;
        let Some(at) = tail.windows(4).rposition(|w| w == EOCD_SIG) else {
            return Ok(());
        };
        let field = |n: usize| at.checked_add(n).and_then(|i| u32_at(&tail, i));
        let (Some(cd_size), Some(cd_offset)) = (field(12), field(16)) else {
            return Ok(());
        };
        if cd_size == u32::MAX || cd_offset == u32::MAX {
            return Ok(()); // zip64: the real values are in the zip64 record
        }
        let eocd = from.saturating_add(u64::try_from(at).unwrap_or(u64::MAX));
        let cd_end = u64::from(cd_offset).saturating_add(u64::from(cd_size));
        if cd_end > eocd {
            self.session.warn(
                Some(eocd),
                &format!(
                    "the end of central directory record at offset {eocd:#x} gives a central directory of {cd_size} bytes at offset {cd_offset:#x}, which runs past the record (the evidence is {size} bytes); entries read from what the file holds"
                ),
            );
        }
        Ok(())
    }

    /// Reads up to `len` bytes at `offset`; fewer at the end of the evidence.
    fn read_bytes(&self, offset: u64, len: usize) -> Result<Vec<u8>, PluginError> {
        let mut buf = vec![0u8; len];
        let mut filled = 0usize;
        while filled < len {
            let at = offset.saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
            let n = self.session.read_at(at, &mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled = filled.saturating_add(n);
        }
        buf.truncate(filled);
        Ok(buf)
    }

    /// The central directory record at `offset`, or why it cannot be read.
    fn central(&self, offset: u64) -> Result<Result<Central, String>, PluginError> {
        let fixed = self.read_bytes(offset, CENTRAL_LEN)?;
        if fixed.len() < CENTRAL_LEN || !fixed.starts_with(CENTRAL_SIG) {
            return Ok(Err(format!(
                "no central directory header at offset {offset:#x}"
            )));
        }
        let (Some(nlen), Some(xlen), Some(clen)) = (
            u16_at(&fixed, C_NAME_LEN),
            u16_at(&fixed, C_EXTRA_LEN),
            u16_at(&fixed, C_COMMENT_LEN),
        ) else {
            return Ok(Err(format!("short central header at offset {offset:#x}")));
        };
        let var_len = usize::from(nlen)
            .saturating_add(usize::from(xlen))
            .saturating_add(usize::from(clen));
        let var = self.read_bytes(offset.saturating_add(46), var_len)?;
        if var.len() < var_len {
            return Ok(Err(format!(
                "central header at offset {offset:#x} runs past the end of the evidence"
            )));
        }
        let (name, rest) = var.split_at(usize::from(nlen));
        let (extra, comment) = rest.split_at(usize::from(xlen));
        let field = |at| u32_at(&fixed, at).unwrap_or(0);
        let half = |at| u16_at(&fixed, at).unwrap_or(0);
        let mut c = Central {
            made_by: half(C_MADE_BY),
            flags: half(C_FLAGS),
            method: half(C_METHOD),
            dos: (half(C_DATE), half(C_TIME)),
            crc32: field(C_CRC),
            compressed_size: u64::from(field(C_CSIZE)),
            size: u64::from(field(C_USIZE)),
            external: field(C_EXT_ATTR),
            local_offset: u64::from(field(C_OFFSET)),
            name: name.to_vec(),
            extra: extra.to_vec(),
            comment: comment.to_vec(),
            len: u64::try_from(CENTRAL_LEN.saturating_add(var_len)).unwrap_or(u64::MAX),
        };
        // Zip64 (APPNOTE 4.5.3): only the fields saturated in the header follow, in order.
        if let Some(z) = extra_field(&c.extra, EXTRA_ZIP64) {
            let mut values = z.chunks_exact(8).filter_map(|v| u64_at(v, 0));
            if c.size == 0xffff_ffff {
                c.size = values.next().unwrap_or(c.size);
            }
            if c.compressed_size == 0xffff_ffff {
                c.compressed_size = values.next().unwrap_or(c.compressed_size);
            }
            if c.local_offset == 0xffff_ffff {
                c.local_offset = values.next().unwrap_or(c.local_offset);
            }
        }
        Ok(Ok(c))
    }

    /// The local file header at `offset`, or why it cannot be read.
    fn local(&self, offset: u64) -> Result<Result<Local, String>, PluginError> {
        let fixed = self.read_bytes(offset, LOCAL_LEN)?;
        if fixed.len() < LOCAL_LEN {
            return Ok(Err(format!(
                "the evidence ends inside the local header at offset {offset:#x}"
            )));
        }
        if !fixed.starts_with(LOCAL_SIG) {
            return Ok(Err(format!(
                "no local header signature at offset {offset:#x} (found {})",
                to_hex(&fixed[..4])
            )));
        }
        let half = |at| u16_at(&fixed, at).unwrap_or(0);
        let field = |at| u32_at(&fixed, at).unwrap_or(0);
        let (nlen, xlen) = (
            usize::from(half(L_NAME_LEN)),
            usize::from(half(L_EXTRA_LEN)),
        );
        let var_len = nlen.saturating_add(xlen);
        let var_at = offset.saturating_add(30);
        let var = self.read_bytes(var_at, var_len)?;
        if var.len() < var_len {
            return Ok(Err(format!(
                "local header at offset {offset:#x} runs past the end of the evidence"
            )));
        }
        let (name, extra) = var.split_at(nlen);
        let data_at = var_at.saturating_add(u64::try_from(var_len).unwrap_or(u64::MAX));
        let mut l = Local {
            flags: half(L_FLAGS),
            method: half(L_METHOD),
            dos: (half(L_DATE), half(L_TIME)),
            crc32: field(L_CRC),
            compressed_size: u64::from(field(L_CSIZE)),
            size: u64::from(field(L_USIZE)),
            name: name.to_vec(),
            extra: extra.to_vec(),
            data_at,
        };
        // A local zip64 field holds both sizes (APPNOTE 4.5.3), else the saturated ones.
        if let Some(z) = extra_field(&l.extra, EXTRA_ZIP64) {
            if z.len() >= 16 {
                l.size = u64_at(z, 0).unwrap_or(l.size);
                l.compressed_size = u64_at(z, 8).unwrap_or(l.compressed_size);
            } else {
                let mut values = z.chunks_exact(8).filter_map(|v| u64_at(v, 0));
                if l.size == 0xffff_ffff {
                    l.size = values.next().unwrap_or(l.size);
                }
                if l.compressed_size == 0xffff_ffff {
                    l.compressed_size = values.next().unwrap_or(l.compressed_size);
                }
            }
        }
        Ok(Ok(l))
    }

    /// Builds the plan of every central directory entry, in directory order:
    /// metadata, local header checks, overlaps.
    fn plan(&self, archive: &ZipArchive<Evidence<'s>>) -> Result<Vec<Plan>, PluginError> {
        let meta = archive.metadata();
        let mut plans = Vec::with_capacity(archive.len().min(1 << 16));
        let mut indexed = HashMap::with_capacity(archive.len().min(1 << 16));
        for i in 0..archive.len() {
            self.session.check_cancelled()?;
            let entry = meta.entry(i).map_err(|e| zip_error(e, None))?;
            let at = entry.central_header_start();
            indexed.insert(at, i);
            let central = match self.central(at)? {
                Ok(c) => c,
                Err(why) => return Err(PluginError::corrupt(at, why)),
            };
            let decoded = match entry.name() {
                Ok(name) => name.into_owned().into_bytes(),
                Err(_) => central.name.clone(),
            };
            let mut plan = self.plan_entry(
                Source::Index(i),
                &central,
                decoded,
                entry.header_start(),
                entry.size(),
                entry.compressed_size(),
                entry.crc32(),
            );
            if !entry.comment().is_empty() {
                plan.meta
                    .extra
                    .insert("comment".into(), entry.comment().into());
            }
            plans.push(plan);
        }
        if archive.has_duplicate_names() {
            self.lost_duplicates(archive, &indexed, &mut plans)?;
        }
        self.check_locals(&mut plans)?;
        mark_overlaps(&mut plans);
        Ok(plans)
    }

    /// The `zip` crate's index keeps one entry per name; walk the central
    /// directory for the others, so no entry is lost.
    fn lost_duplicates(
        &self,
        archive: &ZipArchive<Evidence<'s>>,
        indexed: &HashMap<u64, usize>,
        plans: &mut Vec<Plan>,
    ) -> Result<(), PluginError> {
        let mut at = archive.central_directory_start();
        let cap = self.session.evidence().size / 46;
        let mut seen = 0u64;
        while seen < cap {
            self.session.check_cancelled()?;
            let Ok(central) = self.central(at)? else {
                break;
            };
            if !indexed.contains_key(&at) {
                let local_at = central.local_offset.saturating_add(archive.offset());
                let name = decode_name(&central.name);
                let mut plan = self.plan_entry(
                    Source::Local(local_at),
                    &central,
                    name,
                    local_at,
                    central.size,
                    central.compressed_size,
                    central.crc32,
                );
                plan.warnings.push(format!(
                    "{}: its name is listed more than once in the central directory",
                    plan.what()
                ));
                plans.push(plan);
            }
            at = at.saturating_add(central.len.max(1));
            seen = seen.saturating_add(1);
        }
        Ok(())
    }

    /// Reads each entry's local header, compares it with the central
    /// directory and records where the entry's data starts.
    fn check_locals(&self, plans: &mut [Plan]) -> Result<(), PluginError> {
        for plan in plans.iter_mut() {
            self.session.check_cancelled()?;
            let local = match self.local(plan.at)? {
                Ok(local) => local,
                Err(why) => {
                    plan.skip = Some(PluginError::corrupt(
                        plan.at,
                        format!("{}: {why}; not extracted", plan.what()),
                    ));
                    continue;
                }
            };
            let central_name = raw_name(plan);
            let mut diffs = Vec::new();
            if local.name != central_name {
                diffs.push(format!(
                    "name {:?} (central directory {:?})",
                    String::from_utf8_lossy(&local.name),
                    String::from_utf8_lossy(&central_name)
                ));
            }
            if local.method != plan.method {
                diffs.push(format!(
                    "method {} (central directory {})",
                    local.method, plan.method
                ));
            }
            if local.flags & FLAG_DATA_DESCRIPTOR == 0 {
                if local.crc32 != plan.crc32 {
                    diffs.push(format!(
                        "crc32 {:08x} (central directory {:08x})",
                        local.crc32, plan.crc32
                    ));
                }
                if local.compressed_size != plan.compressed_size {
                    diffs.push(format!(
                        "compressed size {} (central directory {})",
                        local.compressed_size, plan.compressed_size
                    ));
                }
                if local.size != plan.size {
                    diffs.push(format!(
                        "size {} (central directory {})",
                        local.size, plan.size
                    ));
                }
            }
            if !diffs.is_empty() {
                let what = plan.what();
                plan.warnings.push(format!(
                    "{what}: local header disagrees with the central directory: {}; the central directory is used",
                    diffs.join(", ")
                ));
            }
            let data_end = local.data_at.saturating_add(plan.compressed_size);
            plan.meta
                .extra
                .insert("data_offset".into(), local.data_at.into());
            plan.meta.extra.insert("data_end".into(), data_end.into());
            // The local copy of the extended timestamp also carries atime and btime.
            apply_times(&mut plan.meta, &local.extra);
        }
        Ok(())
    }

    /// An entry's plan from its central (or, when scanning, local) fields.
    #[allow(clippy::too_many_arguments)]
    fn plan_entry(
        &self,
        source: Source,
        central: &Central,
        name: Vec<u8>,
        at: u64,
        size: u64,
        compressed_size: u64,
        crc32: u32,
    ) -> Plan {
        let system = central.made_by.to_be_bytes()[0];
        let unix = matches!(system, SYSTEM_UNIX | SYSTEM_OSX);
        let mode = (unix && central.external >> 16 != 0).then_some(central.external >> 16);
        let kind = if name.ends_with(b"/") {
            EntryKind::Dir
        } else {
            match mode.map(|m| m & S_IFMT) {
                Some(S_IFLNK) => EntryKind::Symlink,
                Some(S_IFDIR) => EntryKind::Dir,
                Some(S_IFIFO) => EntryKind::Fifo,
                Some(S_IFCHR) => EntryKind::CharDevice,
                Some(S_IFBLK) => EntryKind::BlockDevice,
                Some(S_IFSOCK) => EntryKind::Socket,
                _ => EntryKind::File,
            }
        };
        let encrypted = central.flags & FLAG_ENCRYPTED != 0;
        let mut meta = EntryMeta::new(kind);
        meta.offset = Some(at);
        meta.mode = mode;
        if kind == EntryKind::File {
            meta.size = Some(size);
        }
        let extra = &mut meta.extra;
        extra.insert("method".into(), method_name(central.method).into());
        extra.insert("compressed_size".into(), compressed_size.into());
        extra.insert("crc32".into(), format!("{crc32:08x}").into());
        extra.insert("encrypted".into(), encrypted.into());
        extra.insert("made_by".into(), system_name(system).into());
        if central.flags & FLAG_UTF8 != 0 {
            extra.insert("utf8".into(), true.into());
        }
        if central.flags & FLAG_DATA_DESCRIPTOR != 0 {
            extra.insert("data_descriptor".into(), true.into());
        }
        if extra_field(&central.extra, EXTRA_ZIP64).is_some() {
            extra.insert("zip64".into(), true.into());
        }
        if name != central.name {
            extra.insert("raw_name_hex".into(), to_hex(&central.name).into());
        }
        if !central.comment.is_empty() {
            extra.insert(
                "comment".into(),
                String::from_utf8(decode_name(&central.comment))
                    .unwrap_or_default()
                    .into(),
            );
        }
        if let Some(t) = dos_time(central.dos.0, central.dos.1) {
            meta.mtime = Some(t);
            // DOS times carry no zone: read as UTC, and said so.
            meta.extra.insert("dos_time".into(), true.into());
        }
        apply_times(&mut meta, &central.extra);
        Plan {
            source,
            name,
            at,
            meta,
            method: central.method,
            encrypted,
            crc32,
            size,
            compressed_size,
            warnings: Vec::new(),
            skip: None,
        }
    }

    /// Delivers every plan, from `threads` workers taking entries in turn.
    fn deliver_all(
        &self,
        archive: &ZipArchive<Evidence<'s>>,
        plans: &[Plan],
    ) -> Result<(), PluginError> {
        let threads = usize::try_from(self.session.evidence().threads)
            .unwrap_or(1)
            .clamp(1, plans.len().max(1));
        if threads == 1 {
            let mut worker = Worker::new(self.session, archive.clone());
            for plan in plans {
                self.session.check_cancelled()?;
                worker.deliver(plan)?;
            }
            return Ok(());
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let first_error: Mutex<Option<PluginError>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut worker = Worker::new(self.session, archive.clone());
                    while !stop.load(Ordering::Relaxed) {
                        let Some(plan) = plans.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let done = self
                            .session
                            .check_cancelled()
                            .and_then(|()| worker.deliver(plan));
                        if let Err(err) = done {
                            stop.store(true, Ordering::Relaxed);
                            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            slot.get_or_insert(err);
                            break;
                        }
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// No usable central directory: report it, then recover the entries
    /// from their local headers, front to back.
    fn scan(&self, why: &str) -> Result<(), PluginError> {
        let size = self.session.evidence().size;
        let head = self.read_bytes(0, 4)?;
        if !head.starts_with(LOCAL_SIG) {
            return Err(PluginError::corrupt(
                size,
                format!(
                    "no end of central directory record found before offset {size:#x} ({why}), and no local header at offset 0"
                ),
            ));
        }
        self.session.report(&PluginError::corrupt(
            size,
            format!(
                "no end of central directory record found before offset {size:#x} ({why}): the archive is truncated or damaged; recovering entries from their local headers"
            ),
        ));
        let mut worker = Worker::new_scan(self.session);
        let mut at = 0u64;
        // Every step advances by at least one byte.
        while at < size {
            self.session.check_cancelled()?;
            let local = match self.local(at)? {
                Ok(local) => local,
                Err(_) => {
                    let sig = self.read_bytes(at, 4)?;
                    if sig.starts_with(CENTRAL_SIG) || sig.starts_with(EOCD_SIG) {
                        break;
                    }
                    match self.find_local(at.saturating_add(1))? {
                        Some(next) => {
                            self.session.warn(
                                Some(at),
                                &format!(
                                    "{} bytes at offset {at:#x} are not a zip entry; skipped to the local header at offset {next:#x}",
                                    next.saturating_sub(at)
                                ),
                            );
                            at = next;
                            continue;
                        }
                        None => {
                            self.session.warn(
                                Some(at),
                                &format!(
                                    "no further local header after offset {at:#x}; {} bytes not decoded",
                                    size.saturating_sub(at)
                                ),
                            );
                            break;
                        }
                    }
                }
            };
            let central = Central {
                made_by: 0,
                flags: local.flags,
                method: local.method,
                dos: local.dos,
                crc32: local.crc32,
                compressed_size: local.compressed_size,
                size: local.size,
                external: 0,
                local_offset: at,
                name: local.name.clone(),
                extra: local.extra.clone(),
                comment: Vec::new(),
                len: 0,
            };
            let name = decode_name(&local.name);
            let mut plan = self.plan_entry(
                Source::Local(at),
                &central,
                name,
                at,
                local.size,
                local.compressed_size,
                local.crc32,
            );
            plan.meta.extra.insert("recovered".into(), true.into());
            if local.flags & FLAG_DATA_DESCRIPTOR != 0 {
                // Without the central directory its sizes are unknown.
                let feature = format!(
                    "{}: sizes are in a data descriptor and the central directory is missing; entry recorded, data not recovered",
                    plan.what()
                );
                if plan.meta.kind == EntryKind::File {
                    // Its local sizes are placeholder zeros: a file delivered
                    // as is would pass for a complete empty one.
                    let mut meta = plan.meta.clone();
                    meta.size = None;
                    self.session
                        .begin(&plan.name, &meta)?
                        .fail(Status::UNSUPPORTED, &feature)?;
                } else {
                    self.session.record_entry(&plan.name, &plan.meta)?;
                }
                self.session.report(&PluginError::Unsupported { feature });
                match self.find_local(local.data_at)? {
                    Some(next) => at = next,
                    None => break,
                }
                continue;
            }
            worker.deliver(&plan)?;
            at = local
                .data_at
                .saturating_add(local.compressed_size)
                .max(at.saturating_add(1));
        }
        Ok(())
    }

    /// Offset of the next local header signature at or after `from`.
    fn find_local(&self, from: u64) -> Result<Option<u64>, PluginError> {
        const CHUNK: usize = 64 * 1024;
        let mut at = from;
        loop {
            self.session.check_cancelled()?;
            let chunk = self.read_bytes(at, CHUNK)?;
            if chunk.len() < 4 {
                return Ok(None);
            }
            if let Some(i) = chunk.windows(4).position(|w| w == LOCAL_SIG) {
                return Ok(Some(
                    at.saturating_add(u64::try_from(i).unwrap_or(u64::MAX)),
                ));
            }
            // Keep the last three bytes: a signature may straddle chunks.
            let step = chunk.len().saturating_sub(3).max(1);
            at = at.saturating_add(u64::try_from(step).unwrap_or(u64::MAX));
        }
    }
}

/// The raw central name of a plan (the delivered name unless it was decoded).
fn raw_name(plan: &Plan) -> Vec<u8> {
    plan.meta
        .extra
        .get("raw_name_hex")
        .and_then(Value::as_str)
        .and_then(exhibit_plugin_sdk::from_hex)
        .unwrap_or_else(|| plan.name.clone())
}

/// Marks every entry whose bytes (local header to end of data) overlap an
/// earlier entry's, in central directory order: the first is extracted, the
/// others are reported and skipped, so an overlapping zip bomb never expands.
fn mark_overlaps(plans: &mut [Plan]) {
    // Accepted ranges by start: start -> (end, index in plans).
    let mut taken: BTreeMap<u64, (u64, usize)> = BTreeMap::new();
    for i in 0..plans.len() {
        let plan = &plans[i];
        if plan.skip.is_some() {
            continue;
        }
        let Some(end) = plan.meta.extra.get("data_end").and_then(Value::as_u64) else {
            continue;
        };
        let start = plan.at;
        let end = end.max(start.saturating_add(1));
        let before = taken
            .range(..=start)
            .next_back()
            .filter(|(_, (e, _))| *e > start);
        let after = taken.range(start..end).next();
        match before.or(after).map(|(_, (_, j))| *j) {
            Some(j) => {
                let other = plans[j].what();
                let plan = &mut plans[i];
                // The overlap says it all; its header mismatches follow from it.
                plan.warnings.clear();
                plan.skip = Some(PluginError::corrupt(
                    plan.at,
                    format!(
                        "{} overlaps {other}: an overlapping zip bomb or a damaged directory; not extracted",
                        plan.what()
                    ),
                ));
            }
            None => {
                taken.insert(start, (end, i));
            }
        }
    }
}

/// One delivery thread: its own archive clone (own reader, shared index)
/// and its own buffer.
struct Worker<'s, 'h> {
    session: &'s Session<'h>,
    archive: Option<ZipArchive<Evidence<'s>>>,
    buf: Vec<u8>,
}

impl<'s, 'h> Worker<'s, 'h> {
    fn new(session: &'s Session<'h>, archive: ZipArchive<Evidence<'s>>) -> Self {
        Worker {
            session,
            archive: Some(archive),
            buf: vec![0u8; COPY_BUF],
        }
    }

    fn new_scan(session: &'s Session<'h>) -> Self {
        Worker {
            session,
            archive: None,
            buf: vec![0u8; COPY_BUF],
        }
    }

    fn deliver(&mut self, plan: &Plan) -> Result<(), PluginError> {
        for warning in &plan.warnings {
            self.session.warn(Some(plan.at), warning);
        }
        if let Some(err) = &plan.skip {
            self.session.report(err);
            return Ok(());
        }
        match plan.meta.kind {
            EntryKind::File => self.file(plan),
            EntryKind::Symlink => self.symlink(plan),
            _ => {
                self.session.record_entry(&plan.name, &plan.meta)?;
                if plan.size > 0 {
                    self.session.warn(
                        Some(plan.at),
                        &format!(
                            "{}: a {} entry with {} bytes of data; data not extracted",
                            plan.what(),
                            kind_name(plan.meta.kind),
                            plan.size
                        ),
                    );
                }
                Ok(())
            }
        }
    }

    /// Why the entry cannot be decoded at all, if so.
    fn unsupported(plan: &Plan) -> Option<String> {
        if plan.encrypted {
            Some("encrypted entry (no password support)".into())
        } else if !matches!(plan.method, 0 | 8 | 9 | 12 | 14 | 93 | 95) {
            Some(format!(
                "compression method {} ({})",
                plan.method,
                method_name(plan.method)
            ))
        } else {
            None
        }
    }

    /// Opens the entry's decompressed stream and runs `f` over it.
    fn with_reader<T>(
        &mut self,
        plan: &Plan,
        f: impl FnOnce(&mut dyn Read, &mut [u8]) -> Result<T, PluginError>,
    ) -> Result<Result<T, String>, PluginError> {
        // The CRC is checked here, so a mismatch can name both values.
        let options = ZipReadOptions::new().ignore_crc32(true);
        match (plan.source, self.archive.as_mut()) {
            (Source::Index(i), Some(archive)) => match archive.by_index_with_options(i, options) {
                Ok(mut file) => f(&mut file, &mut self.buf).map(Ok),
                Err(err) => Ok(Err(host_error(err)?)),
            },
            (Source::Local(at), _) => {
                let mut reader = self.session.evidence_reader();
                reader
                    .seek(SeekFrom::Start(at))
                    .map_err(PluginError::from)?;
                let options = options
                    .override_compressed_size(plan.compressed_size)
                    .override_uncompressed_size(plan.size)
                    .override_crc(plan.crc32);
                match zip::read::read_zipfile_from_stream_with_options(&mut reader, options) {
                    Ok(Some(mut file)) => f(&mut file, &mut self.buf).map(Ok),
                    Ok(None) => Ok(Err("no local header".into())),
                    Err(err) => Ok(Err(host_error(err)?)),
                }
            }
            (Source::Index(_), None) => Ok(Err("no central directory index".into())),
        }
    }

    fn file(&mut self, plan: &Plan) -> Result<(), PluginError> {
        let mut out = self.session.begin(&plan.name, &plan.meta)?;
        if let Some(why) = Self::unsupported(plan) {
            out.fail(Status::UNSUPPORTED, &why)?;
            self.session.report(&PluginError::Unsupported {
                feature: format!("{}: {why}; recorded, not extracted", plan.what()),
            });
            return Ok(());
        }
        let session = self.session;
        let streamed = self.with_reader(plan, |reader, buf| {
            Ok(stream(reader, buf, plan.size, |chunk| {
                out.write_bytes(chunk)
            }))
        })?;
        let result = match streamed {
            Ok(result) => result,
            Err(why) => Err(Stop::Decode {
                written: 0,
                error: format!("cannot open its data: {why}"),
            }),
        };
        let problem = match result {
            Err(Stop::Host(err)) => {
                let _ = out.fail(err.status(), &err.to_string());
                return Err(err);
            }
            Err(Stop::Decode { written, error }) => Some(format!(
                "decode error after {written} of {} bytes: {error}",
                plan.size
            )),
            Ok(Streamed {
                written,
                crc32,
                overflow,
                trailing,
            }) => {
                if overflow {
                    Some(format!(
                        "decompresses to more than its declared {} bytes: stopped there",
                        plan.size
                    ))
                } else if written < plan.size {
                    Some(format!(
                        "data ends after {written} of {} declared bytes",
                        plan.size
                    ))
                } else if crc32 != plan.crc32 {
                    Some(format!(
                        "crc mismatch: stored {:08x}, computed {crc32:08x}",
                        plan.crc32
                    ))
                } else {
                    if let Some(error) = trailing {
                        session.warn(
                            Some(plan.at),
                            &format!(
                                "{}: all {written} bytes decoded and the crc matches, but the stream ends badly: {error}",
                                plan.what()
                            ),
                        );
                    }
                    None
                }
            }
        };
        match problem {
            None => out.finish(),
            Some(why) => {
                out.fail(Status::CORRUPT, &why)?;
                session.report(&PluginError::corrupt(
                    plan.at,
                    format!("{}: {why}", plan.what()),
                ));
                Ok(())
            }
        }
    }

    fn symlink(&mut self, plan: &Plan) -> Result<(), PluginError> {
        let mut meta = plan.meta.clone();
        let problem = match Self::unsupported(plan) {
            Some(why) => Some(why),
            None => {
                let read = self.with_reader(plan, |reader, _| {
                    let mut target = Vec::new();
                    match reader.take(LINK_CAP).read_to_end(&mut target) {
                        Ok(_) => Ok(Ok(target)),
                        Err(e) => match host_io(e) {
                            Ok(e) => Ok(Err(e)),
                            Err(err) => Err(err),
                        },
                    }
                })?;
                match read {
                    Ok(Ok(target)) => {
                        let short = u64::try_from(target.len()).unwrap_or(u64::MAX) < plan.size;
                        let crc_ok = crc32fast::hash(&target) == plan.crc32;
                        meta.link_target = Some(RawBytes(target));
                        if short {
                            Some(format!(
                                "link target cut at {LINK_CAP} of {} bytes",
                                plan.size
                            ))
                        } else if !crc_ok {
                            Some("link target crc mismatch".into())
                        } else {
                            None
                        }
                    }
                    Ok(Err(e)) | Err(e) => Some(format!("link target unreadable: {e}")),
                }
            }
        };
        self.session.record_entry(&plan.name, &meta)?;
        if let Some(why) = problem {
            self.session.report(&PluginError::corrupt(
                plan.at,
                format!("{}: {why}", plan.what()),
            ));
        }
        Ok(())
    }
}

/// Why streaming stopped early.
enum Stop {
    /// The host refused a write or a read failed: the run ends.
    Host(PluginError),
    /// The compressed data is damaged: this entry ends incomplete.
    Decode { written: u64, error: String },
}

/// What streaming an entry delivered.
struct Streamed {
    written: u64,
    crc32: u32,
    /// More data than declared was produced (and dropped).
    overflow: bool,
    /// A decode error after all declared bytes.
    trailing: Option<String>,
}

/// Streams at most `declared` bytes of `reader` to `write` through `buf`,
/// computing their CRC-32, then checks that nothing follows.
fn stream(
    reader: &mut dyn Read,
    buf: &mut [u8],
    declared: u64,
    mut write: impl FnMut(&[u8]) -> Result<(), PluginError>,
) -> Result<Streamed, Stop> {
    let mut hasher = crc32fast::Hasher::new();
    let mut written = 0u64;
    loop {
        let left = declared.saturating_sub(written);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            break;
        }
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match host_io(e) {
                    Ok(error) => Stop::Decode { written, error },
                    Err(err) => Stop::Host(err),
                });
            }
        };
        let chunk = &buf[..n];
        write(chunk).map_err(Stop::Host)?;
        hasher.update(chunk);
        written = written.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    let (mut overflow, mut trailing) = (false, None);
    if written == declared {
        // One byte more must be the end: the decoder finishes its stream, and
        // anything beyond the declared size is an expansion to refuse.
        let mut one = [0u8; 1];
        match reader.read(&mut one) {
            Ok(0) => {}
            Ok(_) => overflow = true,
            Err(e) => match host_io(e) {
                Ok(error) if error.contains("larger than its declared") => overflow = true,
                Ok(error) => trailing = Some(error),
                Err(err) => return Err(Stop::Host(err)),
            },
        }
    }
    Ok(Streamed {
        written,
        crc32: hasher.finalize(),
        overflow,
        trailing,
    })
}

/// Splits an I/O error into a host failure (`Err`, ends the run) or a
/// decoding problem (`Ok(text)`).
fn host_io(e: io::Error) -> Result<String, PluginError> {
    if e.get_ref().is_some_and(|inner| inner.is::<PluginError>()) {
        return Err(PluginError::from(e));
    }
    Ok(e.to_string())
}

/// Same for a `zip` crate error.
fn host_error(e: ZipError) -> Result<String, PluginError> {
    match e {
        ZipError::Io(e) => host_io(e),
        other => Ok(other.to_string()),
    }
}

fn zip_error(e: ZipError, offset: Option<u64>) -> PluginError {
    match host_error(e) {
        Err(err) => err,
        Ok(what) => PluginError::Corrupt { offset, what },
    }
}

/// The name as UTF-8: kept when it is valid UTF-8 (flag bit 11 or an
/// unflagged UTF-8 name, as Info-ZIP writes on Unix), else read as CP437.
fn decode_name(raw: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(raw) {
        Ok(_) => raw.to_vec(),
        Err(_) => raw
            .iter()
            .map(|&b| cp437(b))
            .collect::<String>()
            .into_bytes(),
    }
}

/// CP437 (IBM PC) to Unicode; the low half is ASCII.
fn cp437(b: u8) -> char {
    const HIGH: [char; 128] = [
        'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ',
        'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú',
        'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡',
        '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', '└', '┴', '┬', '├', '─', '┼', '╞', '╟',
        '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘',
        '┌', '█', '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ',
        '∞', 'φ', 'ε', '∩', '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²',
        '■', '\u{a0}',
    ];
    match b.checked_sub(0x80) {
        Some(i) => HIGH[usize::from(i)],
        None => char::from(b),
    }
}

/// Sets mtime/atime/btime from an extended timestamp or NTFS extra field;
/// NTFS (100 ns) wins over the extended timestamp (seconds), which wins
/// over the DOS time (2 s, no zone).
fn apply_times(meta: &mut EntryMeta, extra: &[u8]) {
    if let Some(ut) = extra_field(extra, EXTRA_TIMESTAMP)
        && let Some((&flags, rest)) = ut.split_first()
    {
        // Info-ZIP "UT": flag bits 0..2 say which of mtime, atime, creation
        // time follow (the central copy holds mtime only); signed seconds.
        let mut times = rest
            .chunks_exact(4)
            .filter_map(|c| c.try_into().ok().map(i32::from_le_bytes))
            .map(|s| Time::from_secs(i64::from(s)));
        if flags & 1 != 0
            && let Some(t) = times.next()
            && meta.extra.get("ntfs_time").is_none()
        {
            meta.mtime = Some(t);
            meta.extra.remove("dos_time");
        }
        if flags & 2 != 0
            && let Some(t) = times.next()
            && meta.extra.get("ntfs_time").is_none()
        {
            meta.atime = Some(t);
        }
        if flags & 4 != 0
            && let Some(t) = times.next()
            && meta.extra.get("ntfs_time").is_none()
        {
            meta.btime = Some(t);
        }
    }
    if let Some(ntfs) = extra_field(extra, EXTRA_NTFS) {
        // 4 reserved bytes, then tag/size/value attributes; tag 1 holds
        // mtime, atime and creation time as FILETIMEs.
        let mut at = 4usize;
        while let (Some(tag), Some(len)) = (u16_at(ntfs, at), u16_at(ntfs, at.saturating_add(2))) {
            let body_at = at.saturating_add(4);
            let Some(body) = ntfs.get(body_at..body_at.saturating_add(usize::from(len))) else {
                break;
            };
            if tag == 1 && body.len() >= 24 {
                let get = |i| u64_at(body, i).and_then(filetime);
                meta.mtime = get(0).or(meta.mtime);
                meta.atime = get(8).or(meta.atime);
                meta.btime = get(16).or(meta.btime);
                meta.extra.remove("dos_time");
                meta.extra.insert("ntfs_time".into(), true.into());
            }
            at = body_at.saturating_add(usize::from(len));
        }
    }
}

/// A Windows FILETIME (100 ns ticks since 1601-01-01 UTC); `None` for 0.
fn filetime(ticks: u64) -> Option<Time> {
    if ticks == 0 {
        return None;
    }
    let secs = i64::try_from(ticks / FILETIME_TICKS).ok()?;
    let nanos = u32::try_from((ticks % FILETIME_TICKS).checked_mul(100)?).ok()?;
    Some(Time {
        secs: secs.checked_sub(FILETIME_EPOCH_SECS)?,
        nanos,
    })
}

/// An MS-DOS date and time (APPNOTE 4.4.6), read as UTC; `None` when the
/// fields are not a valid date.
fn dos_time(date: u16, time: u16) -> Option<Time> {
    let year = i64::from(date >> 9).checked_add(1980)?;
    let month = i64::from((date >> 5) & 0x0f);
    let day = i64::from(date & 0x1f);
    let hour = i64::from(time >> 11);
    let minute = i64::from((time >> 5) & 0x3f);
    let second = i64::from(time & 0x1f).checked_mul(2)?;
    if !(1..=12).contains(&month) || day < 1 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days
        .checked_mul(86_400)?
        .checked_add(hour.checked_mul(3600)?)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)?;
    Some(Time::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`), for years 1980..=2107 as DOS dates hold.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.div_euclid(400);
    let yoe = y.checked_sub(era.checked_mul(400)?)?;
    let mp = if month > 2 {
        month.checked_sub(3)?
    } else {
        month.checked_add(9)?
    };
    let doy = mp
        .checked_mul(153)?
        .checked_add(2)?
        .checked_div(5)?
        .checked_add(day)?
        .checked_sub(1)?;
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe.checked_div(4)?)?
        .checked_sub(yoe.checked_div(100)?)?
        .checked_add(doy)?;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// The body of the first extra field `id` in `extra` (APPNOTE 4.5.1).
fn extra_field(extra: &[u8], id: u16) -> Option<&[u8]> {
    let mut at = 0usize;
    // Every step advances by at least the 4-byte field header.
    while let (Some(tag), Some(len)) = (u16_at(extra, at), u16_at(extra, at.saturating_add(2))) {
        let body_at = at.saturating_add(4);
        let body = extra.get(body_at..body_at.saturating_add(usize::from(len)))?;
        if tag == id {
            return Some(body);
        }
        at = body_at.saturating_add(usize::from(len));
    }
    None
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Lowercase name of a compression method (APPNOTE 4.4.5).
fn method_name(method: u16) -> String {
    match method {
        0 => "stored".into(),
        1 => "shrunk".into(),
        6 => "imploded".into(),
        8 => "deflate".into(),
        9 => "deflate64".into(),
        12 => "bzip2".into(),
        14 => "lzma".into(),
        93 => "zstd".into(),
        95 => "xz".into(),
        98 => "ppmd".into(),
        99 => "aes".into(),
        other => format!("method {other}"),
    }
}

/// Lowercase name of a "version made by" host system (APPNOTE 4.4.2.2).
fn system_name(system: u8) -> String {
    match system {
        0 => "ms-dos".into(),
        3 => "unix".into(),
        7 => "macintosh".into(),
        10 => "windows ntfs".into(),
        11 => "mvs".into(),
        14 => "vfat".into(),
        19 => "os x".into(),
        other => format!("system {other}"),
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Fifo => "fifo",
        EntryKind::CharDevice => "character device",
        EntryKind::BlockDevice => "block device",
        EntryKind::Socket => "socket",
        _ => "file",
    }
}

#[cfg(test)]
mod tests;
