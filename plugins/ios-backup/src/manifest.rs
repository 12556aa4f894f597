//! `Manifest.db`, the file list of iOS 10+ backups: read whole through the
//! host (which hashes it as it goes), decrypted in memory for an encrypted
//! backup, checked against its own SQLite header, and opened by SQLite from
//! memory (`sqlite3_deserialize`) read-only; its `Files` table is then read
//! row by row.
//!
//! Schema (written by the device's backup agent; the same in every tool that
//! reads iOS 10+ backups): `Files(fileID TEXT PRIMARY KEY, domain TEXT,
//! relativePath TEXT, flags INTEGER, file BLOB)`. The database header fields
//! used here are from <https://www.sqlite.org/fileformat2.html#the_database_header>.
//!
//! Policy: the whole database is held in memory (real ones are tens of MiB;
//! capped at [`DB_CAP`]); file contents never are. A database in WAL mode is
//! switched to rollback mode in the in-memory copy only (the bytes the host
//! hashed are untouched), because SQLite cannot open a deserialised WAL
//! database.

#![forbid(unsafe_code)]

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use exhibit_plugin_sdk::PluginError;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

/// The largest `Manifest.db` read into memory.
pub const DB_CAP: u64 = 2 * 1024 * 1024 * 1024;
/// The SQLite header magic.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// SQLite header fields (big-endian): page size (u16), write and read
/// versions (u8 each), file change counter, database size in pages,
/// version-valid-for.
const PAGE_SIZE_AT: usize = 16;
const WRITE_VERSION_AT: usize = 18;
const READ_VERSION_AT: usize = 19;
const CHANGE_COUNTER_AT: usize = 24;
const PAGE_COUNT_AT: usize = 28;
const VALID_FOR_AT: usize = 92;
const HEADER_LEN: usize = 100;

fn corrupt(what: impl Into<String>) -> PluginError {
    PluginError::Corrupt {
        offset: None,
        what: what.into(),
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Decrypts an encrypted `Manifest.db` in place: AES-256-CBC, zero IV,
/// PKCS#7 padding.
pub fn decrypt(data: &mut Vec<u8>, key: &[u8; 32]) -> Result<(), PluginError> {
    if !data.len().is_multiple_of(16) {
        return Err(corrupt(format!(
            "encrypted Manifest.db is {} bytes, not a whole number of aes blocks (cut short?)",
            data.len()
        )));
    }
    let len = cbc::Decryptor::<Aes256>::new(key.into(), &[0u8; 16].into())
        .decrypt_padded_mut::<Pkcs7>(data)
        .map_err(|_| corrupt("encrypted Manifest.db does not end with valid padding (cut short?)"))?
        .len();
    data.truncate(len);
    Ok(())
}

/// Checks the SQLite header of `data` (a whole `Manifest.db`) and opens it.
pub fn open(mut data: Vec<u8>, encrypted: bool) -> Result<Connection, PluginError> {
    if !data.starts_with(SQLITE_MAGIC) {
        return Err(corrupt(if encrypted {
            "Manifest.db does not decrypt to a sqlite database".to_owned()
        } else if data.is_empty() {
            "Manifest.db is empty".to_owned()
        } else {
            "Manifest.db is not a sqlite database (an encrypted backup whose Manifest.plist is missing?)"
                .to_owned()
        }));
    }
    if data.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "Manifest.db is cut short: {} bytes, less than the 100-byte sqlite header",
            data.len()
        )));
    }
    let page_size = match data
        .get(PAGE_SIZE_AT..PAGE_SIZE_AT.saturating_add(2))
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes)
    {
        Some(1) => 65_536u64,
        Some(n) => u64::from(n),
        None => 0,
    };
    let counter = be_u32(&data, CHANGE_COUNTER_AT);
    let pages = be_u32(&data, PAGE_COUNT_AT).unwrap_or(0);
    if counter.is_some() && counter == be_u32(&data, VALID_FOR_AT) && pages > 0 {
        let want = page_size.saturating_mul(u64::from(pages));
        let have = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if want > have {
            return Err(corrupt(format!(
                "Manifest.db is cut short: its header says {pages} pages of {page_size} bytes ({want} bytes), the file has {have}"
            )));
        }
    }
    for at in [WRITE_VERSION_AT, READ_VERSION_AT] {
        if let Some(v) = data.get_mut(at).filter(|v| **v == 2) {
            *v = 1;
        }
    }
    let db_err = |e: rusqlite::Error| corrupt(format!("Manifest.db cannot be opened: {e}"));
    let mut conn = Connection::open_in_memory().map_err(db_err)?;
    let len = data.len();
    conn.deserialize_read_exact("main", data.as_slice(), len, true)
        .map_err(db_err)?;
    Ok(conn)
}

/// One row of `Files`.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// `fileID` as stored.
    pub file_id: String,
    /// `domain`.
    pub domain: Vec<u8>,
    /// `relativePath`.
    pub relative_path: Vec<u8>,
    /// `flags`: 1 file, 2 folder, 4 symbolic link.
    pub flags: Option<i64>,
    /// `file`: the MBFile archive.
    pub blob: Vec<u8>,
}

fn bytes(v: ValueRef<'_>) -> Vec<u8> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        ValueRef::Integer(i) => i.to_string().into_bytes(),
        ValueRef::Real(r) => r.to_string().into_bytes(),
        ValueRef::Null => Vec::new(),
    }
}

/// Calls `each` for every row of `Files`, in table order, until it returns
/// `Err`. Returns how many rows were read.
pub fn for_each_file(
    conn: &Connection,
    mut each: impl FnMut(FileRow) -> Result<(), PluginError>,
) -> Result<u64, PluginError> {
    let db_err = |e: rusqlite::Error| corrupt(format!("Manifest.db Files table: {e}"));
    let mut stmt = conn
        .prepare("SELECT fileID, domain, relativePath, flags, file FROM Files")
        .map_err(db_err)?;
    let mut rows = stmt.query([]).map_err(db_err)?;
    let mut count = 0u64;
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(count),
            Err(e) => {
                return Err(corrupt(format!(
                    "Manifest.db Files table unreadable after {count} rows: {e}"
                )));
            }
        };
        let get = |i: usize| row.get_ref(i).map(bytes).map_err(db_err);
        let flags = match row.get_ref(3).map_err(db_err)? {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        };
        let file_row = FileRow {
            file_id: String::from_utf8_lossy(&get(0)?).into_owned(),
            domain: get(1)?,
            relative_path: get(2)?,
            flags,
            blob: get(4)?,
        };
        count = count.saturating_add(1);
        each(file_row)?;
    }
}
