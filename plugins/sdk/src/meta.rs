//! Entry metadata as it crosses the boundary: a plugin describes each entry it
//! delivers with an [`EntryMeta`], serialised as JSON; the host parses the same
//! type. Everything is optional except the kind, because dump formats differ in
//! what they keep.

use serde::{Deserialize, Serialize};

/// What sort of entry a dump holds. Only [`EntryKind::File`] carries bytes;
/// the host records the others and never creates them on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (target in [`EntryMeta::link_target`]).
    Symlink,
    /// A hard link to an earlier entry (target in [`EntryMeta::link_target`]).
    Hardlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// Anything else the format knows; details in [`EntryMeta::extra`].
    Other,
    /// A byte range of the image (a partition, unallocated space, a
    /// partition table) that the host hashes and records in the case's
    /// `partitions.jsonl`, never stores. When the plugin writes no bytes,
    /// the host hashes [`EntryMeta::size`] bytes of the evidence from
    /// [`EntryMeta::offset`] itself, so they never cross the boundary;
    /// otherwise it hashes the bytes written (a range of an image the
    /// plugin expands, such as an Android sparse image). What the range is
    /// goes in [`EntryMeta::extra`].
    Region,
}

/// A point in time as seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    /// Whole seconds since 1970-01-01T00:00:00Z; negative before.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    #[serde(default)]
    pub nanos: u32,
}

impl Time {
    /// Whole seconds.
    pub const fn from_secs(secs: i64) -> Time {
        Time { secs, nanos: 0 }
    }
}

/// Untrusted bytes from the evidence (a link target, say) that are usually
/// text. Serialised as a JSON string when they are UTF-8, otherwise as
/// `{"hex": "…"}`, so no byte is lost.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RawBytes(pub Vec<u8>);

impl Serialize for RawBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("hex", &to_hex(&self.0))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for RawBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Hex { hex: String },
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(RawBytes(t.into_bytes())),
            Repr::Hex { hex } => from_hex(&hex)
                .map(RawBytes)
                .ok_or_else(|| serde::de::Error::custom("invalid hex in raw bytes")),
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses lowercase or uppercase hex; `None` on odd length or a non-hex digit.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Metadata of one entry of a dump, as a plugin reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// What the entry is.
    pub kind: EntryKind,
    /// Size of the content the dump declares, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Unix permission bits and file type bits as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Owner user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u64>,
    /// Owner group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u64>,
    /// Owner user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Owner group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Last modification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<Time>,
    /// Last access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atime: Option<Time>,
    /// Last status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime: Option<Time>,
    /// Creation (birth) time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btime: Option<Time>,
    /// Target of a symbolic or hard link, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<RawBytes>,
    /// Major and minor number of a device node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<(u32, u32)>,
    /// Where the entry starts in the evidence, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Format-specific attributes (pax records, backup domain, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl EntryMeta {
    /// Metadata with only the kind set.
    pub fn new(kind: EntryKind) -> EntryMeta {
        EntryMeta {
            kind,
            size: None,
            mode: None,
            uid: None,
            gid: None,
            user: None,
            group: None,
            mtime: None,
            atime: None,
            ctime: None,
            btime: None,
            link_target: None,
            device: None,
            offset: None,
            extra: serde_json::Map::new(),
        }
    }

    /// A regular file of `size` bytes.
    pub fn file(size: u64) -> EntryMeta {
        EntryMeta {
            size: Some(size),
            ..EntryMeta::new(EntryKind::File)
        }
    }
}

impl EntryMeta {
    /// Metadata of a file on the local file system, as `symlink_metadata`
    /// gives it (a link is described, never followed). `link_target` is
    /// left for the caller, which knows the path.
    pub fn from_fs(md: &std::fs::Metadata) -> EntryMeta {
        let ft = md.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            special_kind(&ft)
        };
        let mut meta = EntryMeta::new(kind);
        if kind == EntryKind::File {
            meta.size = Some(md.len());
        }
        meta.mtime = md.modified().ok().and_then(system_time);
        meta.atime = md.accessed().ok().and_then(system_time);
        meta.btime = md.created().ok().and_then(system_time);
        unix_fields(md, &mut meta);
        meta
    }
}

impl EntryMeta {
    /// Metadata of the local file at `path`, never following a link; a
    /// link's target is read into [`EntryMeta::link_target`].
    pub fn from_path(path: &std::path::Path) -> std::io::Result<EntryMeta> {
        let md = std::fs::symlink_metadata(path)?;
        let mut meta = EntryMeta::from_fs(&md);
        if md.file_type().is_symlink() {
            meta.link_target = std::fs::read_link(path)
                .ok()
                .map(|t| RawBytes(t.into_os_string().into_encoded_bytes()));
        }
        Ok(meta)
    }
}

/// Converts a `SystemTime` to a [`Time`]; `None` outside the `i64` range.
pub fn system_time(t: std::time::SystemTime) -> Option<Time> {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Some(Time {
            secs: i64::try_from(d.as_secs()).ok()?,
            nanos: d.subsec_nanos(),
        }),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).ok()?;
            if d.subsec_nanos() == 0 {
                Some(Time {
                    secs: -secs,
                    nanos: 0,
                })
            } else {
                Some(Time {
                    secs: (-secs).checked_sub(1)?,
                    nanos: 1_000_000_000 - d.subsec_nanos(),
                })
            }
        }
    }
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> EntryKind {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_char_device() {
        EntryKind::CharDevice
    } else if ft.is_block_device() {
        EntryKind::BlockDevice
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else if ft.is_socket() {
        EntryKind::Socket
    } else {
        EntryKind::Other
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> EntryKind {
    EntryKind::Other
}

#[cfg(unix)]
fn unix_fields(md: &std::fs::Metadata, meta: &mut EntryMeta) {
    use std::os::unix::fs::MetadataExt;
    meta.mode = Some(md.mode());
    meta.uid = Some(u64::from(md.uid()));
    meta.gid = Some(u64::from(md.gid()));
    meta.ctime = Some(Time {
        secs: md.ctime(),
        nanos: u32::try_from(md.ctime_nsec()).unwrap_or(0),
    });
    if matches!(meta.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
        let rdev = md.rdev();
        // glibc's gnu_dev_major / gnu_dev_minor split of dev_t.
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
        let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
        meta.device = Some((
            u32::try_from(major).unwrap_or(u32::MAX),
            u32::try_from(minor).unwrap_or(u32::MAX),
        ));
    }
}

#[cfg(not(unix))]
fn unix_fields(_: &std::fs::Metadata, _: &mut EntryMeta) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_round_trip_text_and_binary() {
        for raw in [b"target/file".to_vec(), vec![0x66, 0xff, 0x00, 0x80]] {
            let json = serde_json::to_string(&RawBytes(raw.clone())).unwrap();
            let back: RawBytes = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0, raw, "via {json}");
        }
        assert_eq!(
            serde_json::to_string(&RawBytes(vec![0xff, 0x41])).unwrap(),
            r#"{"hex":"ff41"}"#
        );
    }

    #[test]
    fn meta_omits_what_is_unknown() {
        let json = serde_json::to_string(&EntryMeta::file(5)).unwrap();
        assert_eq!(json, r#"{"kind":"file","size":5}"#);
    }
}
