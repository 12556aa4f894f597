//! The `raw-image` format plugin, [`RawImage`]: probing, the view of the
//! evidence (raw or Android sparse), the partition table, and one volume per
//! partition (or the whole image when there is no table) handed to the
//! file-system walkers ([`crate::ext4fs`], [`crate::fat`]).
//!
//! Policy: the evidence is read through the host's `read_at`, never loaded;
//! every partition and every span outside the partitions is handed to the
//! host as a region to hash (the core hashes evidence ranges itself; an
//! expanded sparse image's ranges are streamed to it), so the case records
//! the digest of each partition's raw bytes even when its file system is
//! not recognised (its files are then not extracted); damage in one volume
//! is an error entry naming the volume and the rest goes on.
#![forbid(unsafe_code)]

use crate::read_at::u16_le;
use crate::{
    Error, Partition, ReadAt, SparseImage, ext4fs, fat, is_sparse, read_exact_at,
    read_partition_table,
};
use exhibit_plugin_sdk::{
    Access, EntryKind, EntryMeta, FormatPlugin, PluginError, Probe, Session, Status,
};
use std::io;

/// Offset of the ext2/3/4 superblock magic (superblock at 1024, `s_magic` at 56).
const EXT_MAGIC_AT: usize = 1024 + 56;
/// `EXT2_SUPER_MAGIC`.
const EXT_MAGIC: u16 = 0xEF53;
/// Bytes read from the start of a volume to detect its file system.
const DETECT_LEN: usize = 4096;

/// The raw-image format plugin.
#[derive(Default)]
pub struct RawImage;

impl FormatPlugin for RawImage {
    const NAME: &'static str = "raw-image";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "raw and Android sparse disk images: MBR/GPT partitions, ext2/3/4 and FAT file systems";
    const EXTENSIONS: &'static [&'static str] = &["img", "raw", "bin", "dd", "000", "001"];
    const ACCESS: Access = Access::Random;

    /// 100 for a sparse image, 90 for a partition table or an ext2/3/4
    /// superblock, 80 for a FAT boot sector, else 0.
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        let head = probe.head;
        if probe.is_dir {
            0
        } else if is_sparse(head) {
            100
        } else if has_partition_table(head) || detect(head) == Some(FsKind::Ext) {
            90
        } else if detect(head) == Some(FsKind::Fat) {
            80
        } else {
            0
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let evidence = SessionImage {
            session,
            len: session.evidence().size,
        };
        let mut head = [0u8; 4];
        let got = evidence.read_at(0, &mut head).map_err(io_error)?;
        if is_sparse(head.get(..got).unwrap_or_default()) {
            let sparse = SparseImage::open(evidence).map_err(image_error)?;
            session.custody_note(
                "android sparse image",
                serde_json::json!({
                    "block_size": sparse.header().block_size,
                    "total_blocks": sparse.header().total_blocks,
                    "total_chunks": sparse.header().total_chunks,
                    "expanded_len": ReadAt::len(&sparse),
                }),
            );
            extract_image(session, &sparse, Regions::Stream)
        } else {
            extract_image(session, &evidence, Regions::Evidence)
        }
    }
}

/// The file systems this plugin walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsKind {
    Ext,
    Fat,
}

/// The file system whose signature starts `head` (the first bytes of a
/// volume), if any.
pub(crate) fn detect(head: &[u8]) -> Option<FsKind> {
    if fat::is_boot_sector(head) {
        Some(FsKind::Fat)
    } else if u16_le(head, EXT_MAGIC_AT) == Some(EXT_MAGIC) {
        Some(FsKind::Ext)
    } else {
        None
    }
}

fn has_partition_table(head: &[u8]) -> bool {
    // A FAT boot sector also ends in 0x55AA; it is a volume, not a table.
    head.get(510..512) == Some(&[0x55, 0xAA][..])
        && !fat::is_boot_sector(head)
        && (read_partition_table(head).is_ok_and(|t| !t.partitions.is_empty())
            // A damaged primary GPT still has its protective MBR; the
            // backup at the end of the disk, which the probe does not
            // see, may be whole.
            || has_protective_mbr(head))
}

/// An MBR slot of type `0xEE` (GPT protective).
fn has_protective_mbr(head: &[u8]) -> bool {
    // The type byte of each of the four slots (446 + 16 × slot + 4).
    [450, 466, 482, 498]
        .iter()
        .any(|&at| head.get(at) == Some(&0xEE))
}

/// The evidence as a [`ReadAt`], through the host's `read_at`.
struct SessionImage<'a, 's> {
    session: &'a Session<'s>,
    len: u64,
}

impl ReadAt for SessionImage<'_, '_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        self.session.read_at(offset, buf).map_err(io::Error::from)
    }
}

/// A byte range of an image (one partition), read at offsets relative to
/// its start and clipped at its end and at the image's end.
#[derive(Clone, Copy)]
pub(crate) struct Window<'a> {
    pub(crate) image: &'a (dyn ReadAt + Sync),
    pub(crate) start: u64,
    pub(crate) len: u64,
}

impl ReadAt for Window<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.len.checked_sub(offset).filter(|&l| l > 0) else {
            return Ok(0);
        };
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let at = self
            .start
            .checked_add(offset)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows u64"))?;
        match buf.get_mut(..n) {
            Some(dst) => self.image.read_at(at, dst),
            None => Ok(0),
        }
    }
}

/// One volume to walk: where it is and what to call it.
pub(crate) struct Volume<'a> {
    pub(crate) window: Window<'a>,
    /// Path prefix of its entries (`p3-userdata/`), empty for a whole image.
    pub(crate) prefix: String,
    /// How messages name it (`partition p3 (userdata)` or `whole image`).
    pub(crate) label: String,
}

/// Deepest directory nesting walked (a loop in a corrupt tree stops here).
pub(crate) const MAX_DEPTH: usize = 256;
/// Most entries delivered from one volume.
pub(crate) const MAX_ENTRIES: u64 = 50_000_000;

impl Volume<'_> {
    /// Counts one more entry of the walk; past [`MAX_ENTRIES`] it reports
    /// that the rest is not extracted and returns false, ending the walk.
    pub(crate) fn within_budget(&self, count: &mut u64, session: &Session<'_>) -> bool {
        *count = count.saturating_add(1);
        if *count <= MAX_ENTRIES {
            return true;
        }
        session.report(&PluginError::Unsupported {
            feature: format!(
                "{}: more than {MAX_ENTRIES} entries; the rest is not extracted",
                self.label
            ),
        });
        false
    }

    /// The case path of `inner` (a `/`-separated path inside the volume).
    pub(crate) fn entry_path(&self, inner: &[u8]) -> Vec<u8> {
        let mut out = self.prefix.as_bytes().to_vec();
        out.extend_from_slice(inner.strip_prefix(b"/").unwrap_or(inner));
        out
    }
}

/// How the regions of an image reach the host's hashing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Regions {
    /// The image is the evidence: the host hashes the ranges itself.
    Evidence,
    /// The image is expanded by the plugin (sparse): its bytes are streamed.
    Stream,
}

/// Has the host hash `len` bytes of `image` from `start` as the region
/// `name`, described by `details`.
fn hash_region(
    session: &Session<'_>,
    image: &(dyn ReadAt + Sync),
    how: Regions,
    name: &str,
    (start, len): (u64, u64),
    details: serde_json::Value,
) -> Result<(), PluginError> {
    let mut meta = EntryMeta::new(EntryKind::Region);
    meta.offset = Some(start);
    meta.size = Some(len);
    if let serde_json::Value::Object(map) = details {
        meta.extra = map;
    }
    if how == Regions::Evidence {
        return session.hash_region(name.as_bytes(), &meta);
    }
    let mut out = session.begin(name.as_bytes(), &meta)?;
    let mut buf = vec![0u8; STREAM_CHUNK];
    let mut done = 0u64;
    while done < len {
        session.check_cancelled()?;
        let want = usize::try_from(len.saturating_sub(done))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let at = start.saturating_add(done);
        let Some(dst) = buf.get_mut(..want) else {
            break;
        };
        let n = match image.read_at(at, dst) {
            Ok(0) => {
                return out.fail(
                    Status::CORRUPT,
                    &format!("the image ends at offset {at:#x}, inside region {name}"),
                );
            }
            Ok(n) => n,
            Err(e) => {
                return out.fail(Status::IO, &format!("reading offset {at:#x}: {e}"));
            }
        };
        out.write_bytes(buf.get(..n).unwrap_or_default())?;
        done = done.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    out.finish()
}

/// Bytes per write when a region is streamed to the host.
const STREAM_CHUNK: usize = 1024 * 1024;

/// Hands every partition and every span outside them to the host to hash.
fn hash_regions(
    session: &Session<'_>,
    image: &(dyn ReadAt + Sync),
    how: Regions,
    table: &crate::PartitionTable,
) -> Result<(), PluginError> {
    for part in table.partitions.iter().filter(|p| !p.container) {
        let mut details = serde_json::to_value(part).unwrap_or_default();
        details["region"] = serde_json::json!("partition");
        hash_region(
            session,
            image,
            how,
            &partition_dir(part),
            (part.start, part.len),
            details,
        )?;
    }
    for (start, len) in crate::unallocated(table, image.len()) {
        let details = serde_json::json!({
            "region": "outside partitions",
            "note": "bytes no data partition covers: the partition tables themselves, gaps, and space after the last partition",
        });
        hash_region(
            session,
            image,
            how,
            &format!("unallocated@{start:#x}"),
            (start, len),
            details,
        )?;
    }
    Ok(())
}

fn extract_image(
    session: &Session<'_>,
    image: &(dyn ReadAt + Sync),
    how: Regions,
) -> Result<(), PluginError> {
    let whole = Window {
        image,
        start: 0,
        len: image.len(),
    };
    let mut head = vec![0u8; DETECT_LEN];
    let got = image.read_at(0, &mut head).map_err(io_error)?;
    head.truncate(got);
    let table = if fat::is_boot_sector(&head) {
        None
    } else {
        match read_partition_table(image) {
            Ok(table) => Some(table),
            Err(Error::NotMine) => None,
            Err(Error::Io(e)) => return Err(io_error(e)),
            Err(e) => {
                session.report(&image_error(e));
                None
            }
        }
    };
    let Some(table) = table else {
        session.custody_note(
            "partition table",
            serde_json::json!({"scheme": null, "note": "no partition table: the whole image is read as one volume"}),
        );
        if how == Regions::Stream {
            let details = serde_json::json!({
                "region": "expanded image",
                "note": "the Android sparse image as its expanded bytes (what simg2img writes)",
            });
            hash_region(session, image, how, "expanded", (0, image.len()), details)?;
        }
        let volume = Volume {
            window: whole,
            prefix: String::new(),
            label: "whole image".into(),
        };
        return extract_volume(session, &volume, true);
    };
    session.custody_note(
        "partition table",
        serde_json::to_value(&table).unwrap_or_default(),
    );
    hash_regions(session, image, how, &table)?;
    for finding in &table.findings {
        session.warn(
            Some(finding.offset),
            &format!(
                "partition table at offset {:#x}: {}",
                finding.offset, finding.what
            ),
        );
    }
    for part in table.partitions.iter().filter(|p| !p.container) {
        session.check_cancelled()?;
        let volume = Volume {
            window: Window {
                image,
                start: part.start,
                len: part.len,
            },
            prefix: format!("{}/", partition_dir(part)),
            label: partition_label(part),
        };
        extract_volume(session, &volume, false)?;
    }
    Ok(())
}

/// `p3-userdata` for a named GPT partition, `p1` otherwise.
fn partition_dir(part: &Partition) -> String {
    let name: String = part
        .name
        .as_deref()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.' || c == '_') {
        format!("p{}", part.index)
    } else {
        format!("p{}-{name}", part.index)
    }
}

fn partition_label(part: &Partition) -> String {
    match part.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("partition p{} ({name:?})", part.index),
        None => format!("partition p{}", part.index),
    }
}

/// Detects the file system of `volume` and walks it. Errors inside a volume
/// are reported and the run goes on; only host refusals and cancellation
/// end it.
fn extract_volume(
    session: &Session<'_>,
    volume: &Volume<'_>,
    whole_image: bool,
) -> Result<(), PluginError> {
    let start = volume.window.start;
    let mut head = vec![0u8; DETECT_LEN];
    let got = match volume.window.read_at(0, &mut head) {
        Ok(n) => n,
        Err(e) => {
            session.report(&PluginError::Io {
                offset: Some(start),
                what: format!("{} at offset {start:#x}: {e}", volume.label),
            });
            return Ok(());
        }
    };
    head.truncate(got);
    let kind = detect(&head);
    session.custody_note(
        "volume",
        serde_json::json!({
            "volume": volume.label,
            "offset": start,
            "len": volume.window.len,
            "file_system": match kind {
                Some(FsKind::Ext) => "ext2/3/4",
                Some(FsKind::Fat) => "fat",
                None => "none recognised: its files are not extracted; its raw bytes are hashed as a region",
            },
        }),
    );
    let outcome = match kind {
        Some(FsKind::Ext) => ext4fs::extract(session, volume),
        Some(FsKind::Fat) => fat::extract(session, volume),
        None => {
            if whole_image {
                return Err(PluginError::Unsupported {
                    feature: "no partition table and no ext2/3/4 or FAT file system recognised"
                        .into(),
                });
            }
            // Not a problem: boot, misc, modem and vendor partitions hold
            // no file system. The volume note says so and the region's
            // digest covers its bytes.
            Ok(())
        }
    };
    match outcome {
        Err(e @ (PluginError::Cancelled | PluginError::Host { .. })) => Err(e),
        Err(e) => {
            session.report(&e);
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

fn io_error(e: io::Error) -> PluginError {
    PluginError::Io {
        offset: None,
        what: e.to_string(),
    }
}

fn image_error(e: Error) -> PluginError {
    match e {
        Error::NotMine => PluginError::NotMine,
        Error::Corrupt { offset, what } => PluginError::corrupt(offset, what),
        Error::Unsupported { feature } => PluginError::Unsupported { feature },
        Error::Io(e) => io_error(e),
    }
}

/// Reads exactly `buf.len()` bytes of `src` at `offset`.
pub(crate) fn read_exact(src: &dyn ReadAt, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    read_exact_at(src, offset, buf)
}
