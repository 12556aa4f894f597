//! Deleted entries that a file system still shows: the record the ext and
//! FAT walkers emit for each (kind `deleted`, which the host writes to the
//! case's `deleted.jsonl`), and the entry name under which bytes recovered
//! from one are delivered.
//!
//! Policy: a record says what survives and nothing more (every field but
//! the volume, where it was found and its offset is optional); recovered
//! bytes are delivered as files of their own under `$deleted/` in the
//! volume's folder, never mixed with the live tree, and the record says
//! how they were recovered or why they were not.

use crate::plugin::Volume;
use exhibit_plugin_sdk::{PluginError, RawBytes, Session, Time};
use serde::Serialize;

/// The record kind the host routes to `deleted.jsonl`.
pub(crate) const RECORD_KIND: &str = "deleted";

/// Folder (inside a volume's folder) of the files recovered from deleted entries.
pub(crate) const RECOVERED_DIR: &str = "$deleted";

/// Where a deleted entry was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FoundIn {
    /// A directory entry marked deleted (FAT `0xE5`) or left in the slack
    /// of a live ext directory entry.
    DirectoryEntry,
    /// An inode on the ext orphan list (unlinked while still open).
    OrphanInode,
}

/// Bytes recovered from a deleted entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Recovered {
    /// The entry name the bytes were delivered under (see [`recovered_name`]).
    pub(crate) entry: RawBytes,
    /// How many bytes were delivered.
    pub(crate) bytes: u64,
    /// How the bytes were found (`"contiguous free clusters from the entry's first cluster"`).
    pub(crate) method: String,
}

/// One deleted entry, as written to `deleted.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Deleted {
    /// The volume (`partition p2 ("sdcard")`, `whole image`).
    pub(crate) volume: String,
    /// `"ext4"` (for ext2/3/4) or `"fat"`.
    pub(crate) file_system: &'static str,
    pub(crate) found_in: FoundIn,
    /// Byte offset in the image of the directory entry or inode.
    pub(crate) offset: u64,
    /// The path it had, as far as it survives (the entry name a live file
    /// there would have had: volume folder + path inside the volume). An
    /// orphan inode has no name: `<volume folder>$orphan/<inode>`.
    pub(crate) path: RawBytes,
    /// `"file"`, `"dir"`, `"symlink"`…, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_cluster: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mtime: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) atime: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ctime: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) btime: Option<Time>,
    /// ext: the inode's deletion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dtime: Option<Time>,
    /// The bytes recovered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recovered: Option<Recovered>,
    /// Why nothing (or not everything) was recovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) not_recovered: Option<String>,
    /// What else the examiner should know about the entry (a name rebuilt
    /// from a damaged one, where it was found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) notes: Option<String>,
}

impl Deleted {
    /// A record with only the fields every deleted entry has.
    pub(crate) fn new(
        volume: &Volume<'_>,
        file_system: &'static str,
        found_in: FoundIn,
        offset: u64,
        path: Vec<u8>,
    ) -> Deleted {
        Deleted {
            volume: volume.label.clone(),
            file_system,
            found_in,
            offset,
            path: RawBytes(path),
            kind: None,
            inode: None,
            first_cluster: None,
            size: None,
            mode: None,
            uid: None,
            gid: None,
            mtime: None,
            atime: None,
            ctime: None,
            btime: None,
            dtime: None,
            recovered: None,
            not_recovered: None,
            notes: None,
        }
    }

    /// Sends the record to the host.
    pub(crate) fn emit(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let value = serde_json::to_value(self).map_err(|e| PluginError::Corrupt {
            offset: Some(self.offset),
            what: format!("deleted entry record: {e}"),
        })?;
        session.emit_record(RECORD_KIND, &value)
    }
}

/// The entry name recovered bytes of `inner` (a `/`-separated path inside
/// the volume) are delivered under: `<volume folder>$deleted/<inner>`.
pub(crate) fn recovered_name(volume: &Volume<'_>, inner: &[u8]) -> Vec<u8> {
    let mut name = volume.prefix.as_bytes().to_vec();
    name.extend_from_slice(RECOVERED_DIR.as_bytes());
    name.push(b'/');
    name.extend_from_slice(inner.strip_prefix(b"/").unwrap_or(inner));
    name
}
