//! Helpers shared by the test binaries: small databases built on the spot
//! (WAL-only, damaged, reduced schemas) and the corpus location.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;

use rusqlite::Connection;

/// The bytes of a fresh rollback-journal database made by `sql`.
pub fn build_db(sql: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE;").unwrap();
    conn.execute_batch(sql).unwrap();
    conn.close().unwrap();
    std::fs::read(&path).unwrap()
}

/// A WAL-mode database whose schema and rows made by `sql` are only in its
/// write-ahead log: `(main file, -wal file)`, copied while the writer is
/// still open, before any checkpoint.
pub fn wal_only_db(sql: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
    let main = std::fs::read(&path).unwrap();
    let wal = std::fs::read(dir.path().join("t.db-wal")).unwrap();
    drop(conn);
    (main, wal)
}

/// A WAL-mode database checkpointed into its main file and given without a
/// `-wal` (what many dumps hold).
pub fn wal_mode_db(sql: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(sql).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let main = std::fs::read(&path).unwrap();
    drop(conn);
    main
}

/// Page size and root page of `table` in database `db`.
fn root_page(db: &[u8], table: &str) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    std::fs::write(&path, db).unwrap();
    let conn = Connection::open(&path).unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    (
        usize::try_from(page_size).unwrap(),
        usize::try_from(root).unwrap(),
    )
}

/// `db` with the b-tree page header of `table`'s root page overwritten.
pub fn corrupt_table(db: &[u8], table: &str) -> Vec<u8> {
    let (page_size, root) = root_page(db, table);
    let start = (root - 1) * page_size;
    let mut out = db.to_vec();
    // Page type 0xFF is no b-tree page type; the cell count and pointers
    // become garbage too.
    for b in &mut out[start..start + 12] {
        *b = 0xFF;
    }
    out
}

/// The shared corpus folder, if this checkout has it.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: corpus file {} is absent (the corpus lives outside the repository)",
            path.display()
        );
        None
    }
}

/// The entries of a zip file of the corpus, by name, read into memory.
pub fn zip_entries(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let name = entry.name().unwrap().into_owned();
        out.insert(name, data);
    }
    out
}

/// A rollback-journal database caught mid-transaction: `(main file,
/// hot -journal)`. Row 1 (`committed`) is committed; rows 2.. are not, and
/// enough of them to spill pages into the main file.
pub fn hot_journal_db() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, ZADDRESS VARCHAR);
         INSERT INTO ZCALLRECORD VALUES (1, 'committed');
         PRAGMA cache_size = 1;
         BEGIN;",
    )
    .unwrap();
    for i in 2..400 {
        conn.execute(
            "INSERT INTO ZCALLRECORD VALUES (?1, 'uncommitted uncommitted uncommitted uncommitted')",
            [i],
        )
        .unwrap();
    }
    let main = std::fs::read(&path).unwrap();
    let journal = std::fs::read(dir.path().join("t.db-journal")).unwrap();
    drop(conn);
    (main, journal)
}
