//! The `file` column of `Manifest.db`: an `NSKeyedArchiver` binary plist of
//! an `MBFile` object, decoded into the fields exhibit keeps.
//!
//! An archive is a dictionary with `$archiver` = `NSKeyedArchiver`, `$top`
//! (`root` → a `plist::Uid`) and `$objects` (the flat object table; index 0
//! is `$null`). The root object is a dictionary whose values are either
//! inline scalars (`Size`, `Mode`, `InodeNumber`, `UserID`, `GroupID`,
//! `LastModified`, `LastStatusChange`, `Birth`, `ProtectionClass`, `Flags`)
//! or UIDs into `$objects` (`RelativePath`, `Target`, `EncryptionKey`, an
//! `NSMutableData` whose `NS.data` holds the 4-byte class + wrapped key,
//! `ExtendedAttributes`, `Digest`). Field names as in Apple's
//! `MobileBackup.framework` `MBFile`, seen in every tool that reads iOS 10+
//! backups (`iphone_backup_decrypt` `extract_file`, mvt-ios `backup.py`).
//!
//! Policy: every UID is bounds-checked against `$objects`, and references are
//! followed at most [`DEPTH`] times, so a cyclic archive cannot loop.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::Time;
use plist::{Dictionary, Value};

/// Most UID hops followed to resolve one value.
const DEPTH: usize = 8;

/// The `MBFile` fields exhibit keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MbFile {
    /// `Size`: the plaintext size in bytes.
    pub size: Option<u64>,
    /// `Mode`: permission and file type bits.
    pub mode: Option<u32>,
    /// `InodeNumber` on the device.
    pub inode: Option<u64>,
    /// `UserID`.
    pub uid: Option<u64>,
    /// `GroupID`.
    pub gid: Option<u64>,
    /// `LastModified`.
    pub mtime: Option<Time>,
    /// `LastStatusChange`.
    pub ctime: Option<Time>,
    /// `Birth`.
    pub btime: Option<Time>,
    /// `ProtectionClass` (Data Protection class, 1 to 11).
    pub protection_class: Option<u64>,
    /// `Flags`.
    pub flags: Option<u64>,
    /// `RelativePath`.
    pub relative_path: Option<String>,
    /// `Target` of a symbolic link.
    pub target: Option<String>,
    /// `EncryptionKey`'s `NS.data`: 4-byte class + wrapped key.
    pub encryption_key: Option<Vec<u8>>,
}

/// Why a blob is not a usable `MBFile` archive (lowercase message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMbFile(pub String);

fn bad(what: impl Into<String>) -> BadMbFile {
    BadMbFile(what.into())
}

/// Decodes one `file` blob.
pub fn decode(blob: &[u8]) -> Result<MbFile, BadMbFile> {
    let archive = Value::from_reader(std::io::Cursor::new(blob))
        .map_err(|e| bad(format!("not a property list: {e}")))?;
    let archive = archive
        .as_dictionary()
        .ok_or_else(|| bad("not a keyed archive (no top dictionary)"))?;
    let objects = archive
        .get("$objects")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("keyed archive without $objects"))?;
    let root = archive
        .get("$top")
        .and_then(Value::as_dictionary)
        .and_then(|top| top.get("root"))
        .ok_or_else(|| bad("keyed archive without $top.root"))?;
    let root = resolve(objects, root)?
        .as_dictionary()
        .ok_or_else(|| bad("the root object is not a dictionary"))?;
    let field = |key: &str| -> Result<Option<&Value>, BadMbFile> {
        match root.get(key) {
            None => Ok(None),
            Some(v) => {
                let v = resolve(objects, v)?;
                Ok((!is_null(v)).then_some(v))
            }
        }
    };
    let uint = |key: &str| -> Result<Option<u64>, BadMbFile> {
        match field(key)? {
            None => Ok(None),
            Some(v) => v
                .as_unsigned_integer()
                .map(Some)
                .ok_or_else(|| bad(format!("{key} is not an unsigned integer"))),
        }
    };
    let time = |key: &str| -> Result<Option<Time>, BadMbFile> {
        match field(key)? {
            None => Ok(None),
            Some(v) => time_of(v)
                .map(Some)
                .ok_or_else(|| bad(format!("{key} is not a time"))),
        }
    };
    let string = |key: &str| -> Result<Option<String>, BadMbFile> {
        match field(key)? {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| bad(format!("{key} is not a string"))),
        }
    };
    let encryption_key = match field("EncryptionKey")? {
        None => None,
        Some(v) => Some(ns_data(objects, v)?.to_vec()),
    };
    let mode = match uint("Mode")? {
        None => None,
        Some(m) => Some(u32::try_from(m).map_err(|_| bad(format!("Mode {m} out of range")))?),
    };
    Ok(MbFile {
        size: uint("Size")?,
        mode,
        inode: uint("InodeNumber")?,
        uid: uint("UserID")?,
        gid: uint("GroupID")?,
        mtime: time("LastModified")?,
        ctime: time("LastStatusChange")?,
        btime: time("Birth")?,
        protection_class: uint("ProtectionClass")?,
        flags: uint("Flags")?,
        relative_path: string("RelativePath")?,
        target: string("Target")?,
        encryption_key,
    })
}

/// Follows UIDs through `$objects` to a non-UID value.
fn resolve<'a>(objects: &'a [Value], mut value: &'a Value) -> Result<&'a Value, BadMbFile> {
    for _ in 0..DEPTH {
        let Some(uid) = value.as_uid() else {
            return Ok(value);
        };
        let index = usize::try_from(uid.get()).unwrap_or(usize::MAX);
        value = objects.get(index).ok_or_else(|| {
            bad(format!(
                "reference {} past the {} archived objects",
                uid.get(),
                objects.len()
            ))
        })?;
    }
    Err(bad("references nested too deep (a cycle?)"))
}

/// `$null`, the archive's nil.
fn is_null(value: &Value) -> bool {
    value.as_string() == Some("$null")
}

/// The bytes of an `NSData`/`NSMutableData` object (or plain data).
fn ns_data<'a>(objects: &'a [Value], value: &'a Value) -> Result<&'a [u8], BadMbFile> {
    if let Some(data) = value.as_data() {
        return Ok(data);
    }
    let dict: &Dictionary = value
        .as_dictionary()
        .ok_or_else(|| bad("EncryptionKey is not an NSData object"))?;
    let inner = dict
        .get("NS.data")
        .ok_or_else(|| bad("EncryptionKey has no NS.data"))?;
    resolve(objects, inner)?
        .as_data()
        .ok_or_else(|| bad("EncryptionKey NS.data is not data"))
}

/// A time as the archive stores it: integer seconds since the Unix epoch
/// (what `MBFile` writes), a real, or a plist date.
fn time_of(value: &Value) -> Option<Time> {
    if let Some(secs) = value.as_signed_integer() {
        return Some(Time::from_secs(secs));
    }
    if let Some(real) = value.as_real() {
        if !real.is_finite() || real.abs() > 1e15 {
            return None;
        }
        let secs = real.floor();
        // Bounded above: the conversions cannot saturate.
        #[allow(clippy::as_conversions)]
        let (whole, nanos) = (secs as i64, ((real - secs) * 1e9) as u32);
        return Some(Time {
            secs: whole,
            nanos: nanos.min(999_999_999),
        });
    }
    let date = value.as_date()?;
    exhibit_plugin_sdk::system_time(date.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::Uid;

    /// An MBFile archive as the backup agent writes it.
    pub(crate) fn archive(root: Dictionary, extra: Vec<Value>) -> Vec<u8> {
        let mut objects = vec![Value::String("$null".into()), Value::Dictionary(root)];
        objects.extend(extra);
        let mut top = Dictionary::new();
        top.insert("root".into(), Value::Uid(Uid::new(1)));
        let mut archive = Dictionary::new();
        archive.insert("$version".into(), Value::Integer(100_000.into()));
        archive.insert("$archiver".into(), Value::String("NSKeyedArchiver".into()));
        archive.insert("$top".into(), Value::Dictionary(top));
        archive.insert("$objects".into(), Value::Array(objects));
        let mut out = Vec::new();
        Value::Dictionary(archive)
            .to_writer_binary(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn decodes_an_mbfile() {
        let mut root = Dictionary::new();
        let int = |n: i64| Value::Integer(n.into());
        root.insert("Size".into(), int(42));
        root.insert("Mode".into(), int(0o100644));
        root.insert("InodeNumber".into(), int(123456));
        root.insert("UserID".into(), int(501));
        root.insert("GroupID".into(), int(501));
        root.insert("LastModified".into(), int(1_700_000_000));
        root.insert("LastStatusChange".into(), int(1_700_000_001));
        root.insert("Birth".into(), int(1_600_000_000));
        root.insert("ProtectionClass".into(), int(3));
        root.insert("Flags".into(), int(0));
        root.insert("RelativePath".into(), Value::Uid(Uid::new(2)));
        root.insert("EncryptionKey".into(), Value::Uid(Uid::new(3)));
        root.insert("$class".into(), Value::Uid(Uid::new(5)));
        let mut key = Dictionary::new();
        key.insert("NS.data".into(), Value::Data(vec![3, 0, 0, 0, 1, 2]));
        key.insert("$class".into(), Value::Uid(Uid::new(4)));
        let blob = archive(
            root,
            vec![
                Value::String("Library/SMS/sms.db".into()),
                Value::Dictionary(key),
                Value::String("NSMutableData".into()),
                Value::String("MBFile".into()),
            ],
        );
        let f = decode(&blob).unwrap();
        assert_eq!(f.size, Some(42));
        assert_eq!(f.mode, Some(0o100644));
        assert_eq!(f.inode, Some(123456));
        assert_eq!(f.mtime, Some(Time::from_secs(1_700_000_000)));
        assert_eq!(f.ctime, Some(Time::from_secs(1_700_000_001)));
        assert_eq!(f.btime, Some(Time::from_secs(1_600_000_000)));
        assert_eq!(f.protection_class, Some(3));
        assert_eq!(f.relative_path.as_deref(), Some("Library/SMS/sms.db"));
        assert_eq!(f.encryption_key, Some(vec![3, 0, 0, 0, 1, 2]));
        assert_eq!(f.target, None);
    }

    #[test]
    fn hostile_archives() {
        let mut root = Dictionary::new();
        root.insert("RelativePath".into(), Value::Uid(Uid::new(99)));
        assert!(decode(&archive(root, vec![])).is_err());
        let mut root = Dictionary::new();
        root.insert("Target".into(), Value::Uid(Uid::new(2)));
        // Object 2 refers to itself.
        let blob = archive(root, vec![Value::Uid(Uid::new(2))]);
        assert_eq!(
            decode(&blob).unwrap_err().0,
            "references nested too deep (a cycle?)"
        );
        assert!(decode(b"bplist00garbage").is_err());
        assert!(decode(b"").is_err());
    }
}
