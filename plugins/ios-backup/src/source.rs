//! Where the backup folder's files come from: the evidence folder itself
//! (read through the host, which hashes each file it opens), or a zip or tar
//! file holding one backup folder (read over the evidence, whose own hash
//! then covers every blob).
//!
//! Policy for an archive: the backup root is the shortest folder prefix
//! holding `Manifest.db` or `Manifest.mbdb` (the archive's root included).
//! When it holds more than one backup, the first (shortest prefix, then first
//! in the archive) is decoded and the others are named in a warning; decode
//! them by extracting the archive with the `zip` or `tar` plugin. Entries
//! outside the chosen root are ignored. A zip is indexed from its central
//! directory; stored and deflated entries (and whatever else the `zip` crate
//! reads) are read, each entry's CRC-32 checked at its end. A tar (ustar,
//! GNU, pax) is indexed by one pass over its headers, seeking over the data,
//! and its regular files are read in place; at most [`TAR_ENTRIES_CAP`]
//! entries are indexed. Names are compared as raw bytes.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{EntryKind, PluginError, Session, SourceReader};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use zip::ZipArchive;
use zip::result::ZipError;

/// The files of one backup folder.
pub enum Source<'s, 'h> {
    /// The evidence is the backup folder.
    Folder(&'s Session<'h>),
    /// The evidence is a zip; the backup folder is at `prefix` in it.
    Zip(ZipSource<'s>),
    /// The evidence is a tar; the backup folder is at `prefix` in it.
    Tar(TarSource<'s>),
}

/// The most tar entries indexed (a large backup holds about a million).
pub const TAR_ENTRIES_CAP: usize = 20_000_000;

/// A backup folder inside a tar evidence: regular files by name, as (data
/// offset, size).
pub struct TarSource<'s> {
    reader: SourceReader<'s>,
    files: HashMap<Vec<u8>, (u64, u64)>,
    /// Every regular file's name, in archive order.
    names: Vec<Vec<u8>>,
    prefix: Vec<u8>,
}

/// A backup folder inside a zip evidence.
pub struct ZipSource<'s> {
    archive: ZipArchive<SourceReader<'s>>,
    /// `""` or `"Backup/<UDID>/"`: prepended to every backup path.
    prefix: Vec<u8>,
}

/// What the backup folder holds: its top-level files and the blobs in its
/// two-hex-digit subfolders (`xx/<name>`).
pub struct Listing {
    pub files: HashSet<Vec<u8>>,
    pub sub_blobs: HashSet<String>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_hex_dir(name: &[u8]) -> bool {
    name.len() == 2 && name.iter().all(u8::is_ascii_hexdigit)
}

/// A zip error: host errors (cancellation, I/O) as themselves, the rest as
/// corruption of `what`.
fn zip_error(e: ZipError, what: &str) -> PluginError {
    match e {
        ZipError::Io(e) => PluginError::from(e),
        other => PluginError::Corrupt {
            offset: None,
            what: format!("{what}: {other}"),
        },
    }
}

impl<'s, 'h> Source<'s, 'h> {
    /// The backup in the zip evidence of `session`.
    pub fn zip(session: &'s Session<'h>, what: &str) -> Result<Source<'s, 'h>, PluginError> {
        let archive = match ZipArchive::new(session.evidence_reader()) {
            Ok(archive) => archive,
            Err(ZipError::Io(e)) => return Err(PluginError::from(e)),
            Err(other) => {
                session.warn(
                    None,
                    &format!("{what} is not an ios backup: not a readable zip file ({other})"),
                );
                return Err(PluginError::NotMine);
            }
        };
        let prefix = backup_root(session, what, "zip", archive.file_names_raw())?;
        Ok(Source::Zip(ZipSource { archive, prefix }))
    }

    /// The backup in the tar evidence of `session`.
    pub fn tar(session: &'s Session<'h>, what: &str) -> Result<Source<'s, 'h>, PluginError> {
        let evidence_size = session.evidence().size;
        let mut archive = tar::Archive::new(session.evidence_reader());
        let mut files = HashMap::new();
        let mut names = Vec::new();
        let not_tar = |e: std::io::Error| -> PluginError {
            // A host refusal travels inside the io::Error; the rest is the tar's.
            if e.get_ref().is_some_and(|inner| inner.is::<PluginError>()) {
                return PluginError::from(e);
            }
            PluginError::Corrupt {
                offset: None,
                what: format!("{what}: the tar cannot be indexed: {e}"),
            }
        };
        for (count, entry) in archive.entries_with_seek().map_err(not_tar)?.enumerate() {
            if count % 4096 == 0 {
                session.check_cancelled()?;
            }
            if count >= TAR_ENTRIES_CAP {
                return Err(PluginError::Unsupported {
                    feature: format!("tar files of more than {TAR_ENTRIES_CAP} entries"),
                });
            }
            let entry = entry.map_err(not_tar)?;
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous()) {
                continue;
            }
            let name = entry.path_bytes().into_owned();
            let (at, size) = (entry.raw_file_position(), entry.size());
            if at.checked_add(size).is_none_or(|end| end > evidence_size) {
                // The tar ends inside this file: it is left out (its blob is
                // then reported missing), and nothing follows it.
                session.warn(
                    None,
                    &format!(
                        "{what} is cut short: {} ({size} bytes at offset {at:#x}) ends past the end of the file ({evidence_size} bytes); it and anything after it are not in the tar",
                        lossy(&name)
                    ),
                );
                break;
            }
            files.insert(name.clone(), (at, size));
            names.push(name);
        }
        let prefix = backup_root(session, what, "tar", names.iter().map(Vec::as_slice))?;
        Ok(Source::Tar(TarSource {
            reader: session.evidence_reader(),
            files,
            names,
            prefix,
        }))
    }

    /// Whether the host hashes each opened file (a folder evidence): then
    /// `source` names a blob whose own hash the custody log holds.
    pub fn hashes_blobs(&self) -> bool {
        matches!(self, Source::Folder(_))
    }

    /// The backup folder's top-level files and its `xx/` blobs.
    pub fn listing(&self, session: &Session<'_>) -> Result<Listing, PluginError> {
        match self {
            Source::Folder(_) => {
                let root = session.list_dir(b"")?;
                let files = root
                    .iter()
                    .filter(|e| e.meta.kind == EntryKind::File)
                    .map(|e| e.name.clone())
                    .collect();
                let mut sub_blobs = HashSet::new();
                for dir in root
                    .iter()
                    .filter(|e| e.meta.kind == EntryKind::Dir && is_hex_dir(&e.name))
                {
                    session.check_cancelled()?;
                    let dir_name = lossy(&dir.name);
                    match session.list_dir(&dir.name) {
                        Ok(list) => sub_blobs.extend(
                            list.into_iter()
                                .filter(|e| e.meta.kind == EntryKind::File)
                                .map(|e| format!("{dir_name}/{}", lossy(&e.name))),
                        ),
                        Err(PluginError::Cancelled) => return Err(PluginError::Cancelled),
                        Err(err) => session.report(&err),
                    }
                }
                Ok(Listing { files, sub_blobs })
            }
            Source::Zip(z) => Ok(archive_listing(z.archive.file_names_raw(), &z.prefix)),
            Source::Tar(t) => Ok(archive_listing(
                t.names.iter().map(Vec::as_slice),
                &t.prefix,
            )),
        }
    }

    /// Opens `path` (relative to the backup folder) and runs `f` over its
    /// content; `Err` when it cannot be opened.
    pub fn with_file<T>(
        &self,
        path: &str,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, PluginError> {
        match self {
            Source::Folder(session) => {
                let mut src = session.open(path.as_bytes())?;
                Ok(f(&mut src))
            }
            Source::Zip(z) => {
                // A clone per file: its own reader, the shared index.
                let mut archive = z.archive.clone();
                let mut full = z.prefix.clone();
                full.extend_from_slice(path.as_bytes());
                let index =
                    archive
                        .index_for_name_raw(&full)
                        .ok_or_else(|| PluginError::Corrupt {
                            offset: None,
                            what: format!("{} is not in the zip", lossy(&full)),
                        })?;
                let mut file = archive
                    .by_index(index)
                    .map_err(|e| zip_error(e, &lossy(&full)))?;
                Ok(f(&mut file))
            }
            Source::Tar(t) => {
                let mut full = t.prefix.clone();
                full.extend_from_slice(path.as_bytes());
                let &(at, size) = t.files.get(&full).ok_or_else(|| PluginError::Corrupt {
                    offset: None,
                    what: format!("{} is not in the tar", lossy(&full)),
                })?;
                let mut reader = t.reader.clone();
                reader
                    .seek(SeekFrom::Start(at))
                    .map_err(PluginError::from)?;
                Ok(f(&mut reader.take(size)))
            }
        }
    }

    /// Reads the whole file `name` of the backup folder (capped).
    pub fn read_file(&self, name: &str, cap: u64) -> Result<Vec<u8>, PluginError> {
        let mut data = Vec::new();
        let read = self.with_file(name, |src| {
            src.take(cap.saturating_add(1)).read_to_end(&mut data)
        })?;
        let read = read.map_err(PluginError::from)?;
        if u64::try_from(read).unwrap_or(u64::MAX) > cap {
            return Err(PluginError::Unsupported {
                feature: format!("{name} larger than {cap} bytes"),
            });
        }
        Ok(data)
    }
}

/// The top-level files and `xx/` blobs of the backup at `prefix` among an
/// archive's entry names.
fn archive_listing<'a>(names: impl Iterator<Item = &'a [u8]>, prefix: &[u8]) -> Listing {
    let mut files = HashSet::new();
    let mut sub_blobs = HashSet::new();
    for name in names {
        let Some(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        if rel.is_empty() || rel.ends_with(b"/") {
            continue;
        }
        match rel.iter().position(|&b| b == b'/') {
            None => {
                files.insert(rel.to_vec());
            }
            Some(2) if rel.get(..2).is_some_and(is_hex_dir) => {
                let leaf = rel.get(3..).unwrap_or_default();
                if !leaf.is_empty() && !leaf.contains(&b'/') {
                    sub_blobs.insert(lossy(rel));
                }
            }
            Some(_) => {}
        }
    }
    Listing { files, sub_blobs }
}

/// The shortest folder prefix holding `Manifest.db` or `Manifest.mbdb`;
/// the others are named in a warning. None: not an ios backup (`NotMine`,
/// said in a warning).
fn backup_root<'a>(
    session: &Session<'_>,
    what: &str,
    format: &str,
    names: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, PluginError> {
    let mut roots: Vec<&[u8]> = names
        .filter_map(|name| {
            ["Manifest.db", "Manifest.mbdb"]
                .iter()
                .find_map(|m| name.strip_suffix(m.as_bytes()))
        })
        .filter(|prefix| prefix.is_empty() || prefix.ends_with(b"/"))
        .collect();
    // Stable: among equal lengths, archive order.
    roots.sort_by_key(|p| p.len());
    let mut seen = HashSet::new();
    roots.retain(|p| seen.insert(*p));
    let Some(first) = roots.first() else {
        session.warn(
            None,
            &format!(
                "{what} is not an ios backup: the {format} holds no Manifest.db or Manifest.mbdb"
            ),
        );
        return Err(PluginError::NotMine);
    };
    let others: Vec<String> = roots
        .iter()
        .skip(1)
        .map(|p| format!("{:?}", lossy(p)))
        .collect();
    if !others.is_empty() {
        session.warn(
            None,
            &format!(
                "{what} holds more than one ios backup: decoding the one at {:?}; not decoded: {}",
                lossy(first),
                others.join(", ")
            ),
        );
    }
    Ok(first.to_vec())
}
