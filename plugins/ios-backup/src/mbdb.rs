//! The legacy manifest of iOS 5 to 9 backups, `Manifest.mbdb`: parsed record
//! by record.
//!
//! Layout (The iPhone Wiki, "ITunes Backup", section "Manifest.mbdb"; the
//! same in libimobiledevice's `mbdb` reader and `iphone-dataprotection`
//! `backups/backup4.py`), all integers big-endian:
//!
//! ```text
//! header: "mbdb" 05 00
//! record: string domain, string path, string link target, string data hash,
//!         string encryption key,
//!         u16 mode, u64 inode, u32 uid, u32 gid,
//!         u32 mtime, u32 atime, u32 ctime, u64 size,
//!         u8 protection class, u8 property count,
//!         property count × (string name, string value)
//! string: u16 length then that many bytes; length 0xFFFF = empty
//! ```
//!
//! Each file is stored flat in the backup folder as the lowercase hex SHA-1 of
//! `domain-path`. The type bits of `mode` (`0o170000`) say file (`0o100000`),
//! folder (`0o040000`) or symbolic link (`0o120000`).
//!
//! Policy: every string and field is checked against the end of the data;
//! a record that does not fit ends the parse with an error naming its offset
//! (the records before it are kept).

#![forbid(unsafe_code)]

/// The first six bytes.
pub const MAGIC: &[u8] = b"mbdb\x05\x00";
/// A string length meaning "empty".
const EMPTY: u16 = 0xFFFF;

/// One record of `Manifest.mbdb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbdbRecord {
    /// Offset of the record in `Manifest.mbdb`.
    pub offset: u64,
    /// Domain (`HomeDomain`, `AppDomain-com.example.app`…).
    pub domain: Vec<u8>,
    /// Path relative to the domain.
    pub path: Vec<u8>,
    /// Link target (symbolic links).
    pub link_target: Vec<u8>,
    /// SHA-1 of the content as stored (iOS ≤ 6; empty later).
    pub data_hash: Vec<u8>,
    /// Wrapped per-file key (encrypted backups only).
    pub encryption_key: Vec<u8>,
    /// Mode, type bits included.
    pub mode: u16,
    /// Inode number.
    pub inode: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last modification, Unix seconds.
    pub mtime: u32,
    /// Last access, Unix seconds.
    pub atime: u32,
    /// Last status change, Unix seconds.
    pub ctime: u32,
    /// Size in bytes.
    pub size: u64,
    /// Data Protection class.
    pub protection_class: u8,
    /// Extended properties, as stored.
    pub properties: Vec<(Vec<u8>, Vec<u8>)>,
}

/// File type of a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    /// `0o100000`.
    File,
    /// `0o040000`.
    Dir,
    /// `0o120000`.
    Symlink,
    /// Anything else (the raw type bits).
    Other(u16),
}

impl MbdbRecord {
    /// What the type bits of the mode say.
    pub fn kind(&self) -> ModeKind {
        match self.mode & 0o170000 {
            0o100000 => ModeKind::File,
            0o040000 => ModeKind::Dir,
            0o120000 => ModeKind::Symlink,
            other => ModeKind::Other(other),
        }
    }
}

/// The records of one `Manifest.mbdb`, read one at a time.
pub struct Mbdb<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A parse failure: offset in `Manifest.mbdb` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMbdb {
    /// Offset of the damage.
    pub offset: u64,
    /// What is wrong, lowercase.
    pub what: String,
}

impl<'a> Mbdb<'a> {
    /// Checks the header.
    pub fn new(data: &'a [u8]) -> Result<Mbdb<'a>, BadMbdb> {
        if !data.starts_with(MAGIC) {
            return Err(BadMbdb {
                offset: 0,
                what: "Manifest.mbdb does not start with \"mbdb\\x05\\x00\"".into(),
            });
        }
        Ok(Mbdb {
            data,
            pos: MAGIC.len(),
        })
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BadMbdb> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end.and_then(|e| self.data.get(self.pos..e)) {
            Some(bytes) => {
                self.pos = self.pos.saturating_add(n);
                Ok(bytes)
            }
            None => Err(BadMbdb {
                offset: u64::try_from(self.pos).unwrap_or(u64::MAX),
                what: format!(
                    "{what} needs {n} bytes, {} are left",
                    self.data.len().saturating_sub(self.pos)
                ),
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], BadMbdb> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, BadMbdb> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, BadMbdb> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, BadMbdb> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>, BadMbdb> {
        match self.u16(what)? {
            EMPTY => Ok(Vec::new()),
            len => Ok(self.take(usize::from(len), what)?.to_vec()),
        }
    }

    fn record(&mut self) -> Result<MbdbRecord, BadMbdb> {
        let offset = u64::try_from(self.pos).unwrap_or(u64::MAX);
        let domain = self.string("domain")?;
        let path = self.string("path")?;
        let link_target = self.string("link target")?;
        let data_hash = self.string("data hash")?;
        let encryption_key = self.string("encryption key")?;
        let mode = self.u16("mode")?;
        let inode = self.u64("inode")?;
        let uid = self.u32("user id")?;
        let gid = self.u32("group id")?;
        let mtime = self.u32("mtime")?;
        let atime = self.u32("atime")?;
        let ctime = self.u32("ctime")?;
        let size = self.u64("size")?;
        let [protection_class] = self.array::<1>("protection class")?;
        let [count] = self.array::<1>("property count")?;
        let mut properties = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let name = self.string("property name")?;
            let value = self.string("property value")?;
            properties.push((name, value));
        }
        Ok(MbdbRecord {
            offset,
            domain,
            path,
            link_target,
            data_hash,
            encryption_key,
            mode,
            inode,
            uid,
            gid,
            mtime,
            atime,
            ctime,
            size,
            protection_class,
            properties,
        })
    }
}

impl Iterator for Mbdb<'_> {
    type Item = Result<MbdbRecord, BadMbdb>;

    /// The next record; after an error, `None`.
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let record = self.record();
        if record.is_err() {
            self.pos = self.data.len();
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        if s.is_empty() {
            out.extend_from_slice(&EMPTY.to_be_bytes());
        } else {
            out.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
            out.extend_from_slice(s);
        }
    }

    fn record(domain: &[u8], path: &[u8], mode: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for s in [domain, path, b"", b"", b""] {
            string(&mut out, s);
        }
        out.extend_from_slice(&mode.to_be_bytes());
        out.extend_from_slice(&77u64.to_be_bytes());
        out.extend_from_slice(&501u32.to_be_bytes());
        out.extend_from_slice(&20u32.to_be_bytes());
        for t in [1u32, 2, 3] {
            out.extend_from_slice(&t.to_be_bytes());
        }
        out.extend_from_slice(&5u64.to_be_bytes());
        out.push(4);
        out.push(1);
        string(&mut out, b"com.apple.x");
        string(&mut out, b"v");
        out
    }

    #[test]
    fn parses_records() {
        let mut data = MAGIC.to_vec();
        data.extend(record(b"HomeDomain", b"Library/a.db", 0o100644));
        data.extend(record(b"HomeDomain", b"Library", 0o040755));
        let records: Vec<_> = Mbdb::new(&data).unwrap().collect();
        assert_eq!(records.len(), 2);
        let a = records[0].as_ref().unwrap();
        assert_eq!(a.offset, 6);
        assert_eq!(a.path, b"Library/a.db");
        assert_eq!(a.kind(), ModeKind::File);
        assert_eq!((a.inode, a.uid, a.gid, a.size), (77, 501, 20, 5));
        assert_eq!((a.mtime, a.atime, a.ctime), (1, 2, 3));
        assert_eq!(a.protection_class, 4);
        assert_eq!(a.properties, vec![(b"com.apple.x".to_vec(), b"v".to_vec())]);
        assert_eq!(records[1].as_ref().unwrap().kind(), ModeKind::Dir);
    }

    #[test]
    fn truncation_is_an_error_at_the_record() {
        let mut data = MAGIC.to_vec();
        data.extend(record(b"HomeDomain", b"Library/a.db", 0o100644));
        let whole = data.len();
        data.extend(record(b"HomeDomain", b"b", 0o100644));
        for cut in whole + 1..data.len() {
            let records: Vec<_> = Mbdb::new(&data[..cut]).unwrap().collect();
            assert_eq!(records.len(), 2);
            assert!(records[0].is_ok());
            assert!(records[1].is_err(), "cut {cut}");
        }
        assert!(Mbdb::new(b"mbdb\x04\x00").is_err());
    }
}
