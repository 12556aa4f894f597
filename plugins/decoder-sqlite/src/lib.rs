//! exhibit-decoder-sqlite: reading an app database safely, shared by the
//! artifact decoders (a decoder crate cannot link another: both would export
//! the plugin symbol). [`Db`] opens the host's private
//! working copy read-only (its `-wal`/`-journal` lie beside it, so rows still
//! in a write-ahead log count), checks tables and columns before any query,
//! reads every cell without failing, and keeps a damaged table from taking
//! the others down.
//!
//! Policy: a column a decoder asks for but the table lacks is selected as
//! `NULL`, so an older or vendor schema still gives records. Text is read as
//! bytes and converted lossily, with a note on the record, so invalid UTF-8
//! never loses a row. A table whose pages are corrupt is reported with the
//! file and table names, the records emitted before the damage stay, the
//! other tables are still read, and the run ends `Corrupt`. A hot
//! `-journal` (a transaction interrupted when the dump was taken) cannot be
//! rolled back read-only: the copy and its journal are copied once more into
//! a scratch folder of the decoder's own, rolled back there as SQLite would
//! on the handset, and read query-only, with a warning.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use exhibit_plugin_sdk::{PluginError, Session};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row, Rows};

/// The 16 bytes every SQLite 3 database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Rows between two checks of the host's cancel flag.
pub const CANCEL_EVERY: u64 = 256;

/// Children (parts, addresses, data rows) kept for one parent row; more are
/// counted, not listed, so one hostile row cannot exhaust memory.
pub const MAX_CHILDREN: usize = 10_000;

/// An open provider database.
pub struct Db {
    conn: Connection,
    /// The input's case path, named in every message.
    path: String,
    /// Lowercase names of the tables in `sqlite_master`.
    tables: HashSet<String>,
    /// Tables that could not be read to the end.
    damaged: RefCell<BTreeSet<String>>,
    /// The scratch copy `conn` reads when a hot journal had to be rolled
    /// back; declared after `conn`, so it is removed after `conn` closes.
    _scratch: Option<Scratch>,
}

/// A folder of this decoder's own, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when SQLite refused a read-only open because a hot `-journal` (an
/// interrupted transaction) must first be rolled back.
fn is_hot_journal(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(err, _)
        if err.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK)
}

/// Copies the working copy and its `-journal` into a scratch folder beside
/// it and opens that read-write, so SQLite rolls the interrupted
/// transaction back there; the host's working copy stays untouched. The
/// connection is then made query-only.
fn rolled_back(
    copy: &Path,
    path: &str,
) -> Result<(Connection, HashSet<String>, Scratch), PluginError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let io = |e: std::io::Error| PluginError::Io {
        offset: None,
        what: format!("{path}: cannot make a scratch copy to roll its -journal back: {e}"),
    };
    let sql = |e: rusqlite::Error| sql_error(path, "cannot roll back its -journal", &e);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Beside the working copy: the host's private folder inside the case,
    // removed with it, so no evidence byte lands outside the case folder.
    let dir = copy
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(format!("rollback-{n}"));
    std::fs::create_dir(&dir).map_err(io)?;
    let scratch = Scratch(dir);
    let target = scratch.0.join("db");
    std::fs::copy(copy, &target).map_err(io)?;
    let mut journal = copy.as_os_str().to_owned();
    journal.push("-journal");
    std::fs::copy(&journal, scratch.0.join("db-journal")).map_err(io)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&target, flags).map_err(sql)?;
    let tables = list_tables(&conn).map_err(sql)?;
    conn.execute_batch("PRAGMA query_only = ON;").map_err(sql)?;
    Ok((conn, tables, scratch))
}

/// A table's name and columns, as `PRAGMA table_info` gives them.
pub struct Table {
    name: &'static str,
    /// Lowercase column names.
    columns: HashSet<String>,
}

impl Db {
    /// Opens the session's input: checks the file header, then opens the
    /// working copy read-only and lists its tables.
    pub fn open(session: &Session<'_>) -> Result<Db, PluginError> {
        let path = session.input_path();
        check_header(session, &path)?;
        let copy = session.local_copy()?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened = Connection::open_with_flags(&copy, flags).and_then(|conn| {
            let tables = list_tables(&conn)?;
            Ok((conn, tables))
        });
        let (conn, tables, scratch) = match opened {
            Ok((conn, tables)) => (conn, tables, None),
            Err(e) if is_hot_journal(&e) => {
                session.warn(
                    None,
                    &format!(
                        "{path}: its -journal holds an interrupted transaction, rolled back in a \
                         scratch copy as SQLite would on the handset; the uncommitted changes \
                         are not decoded"
                    ),
                );
                let (conn, tables, scratch) = rolled_back(&copy, &path)?;
                (conn, tables, Some(scratch))
            }
            Err(e) => return Err(sql_error(&path, "cannot read the schema", &e)),
        };
        if tables.is_empty() {
            return Err(PluginError::Corrupt {
                offset: None,
                what: format!("{path}: the database holds no tables (empty or not a database)"),
            });
        }
        let user_version: Option<i64> = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .ok();
        session.custody_note(
            "sqlite database",
            serde_json::json!({ "file": path, "user_version": user_version }),
        );
        Ok(Db {
            conn,
            path,
            tables,
            damaged: RefCell::new(BTreeSet::new()),
            _scratch: scratch,
        })
    }

    /// The input's case path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Table `name` with its columns, or `None` when the database lacks it.
    pub fn table(&self, name: &'static str) -> Result<Option<Table>, PluginError> {
        if !self.tables.contains(&name.to_ascii_lowercase()) {
            return Ok(None);
        }
        let read = || -> rusqlite::Result<HashSet<String>> {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM pragma_table_info(?1)")?;
            let names = stmt.query_map([name], name_of)?;
            names.collect()
        };
        let columns = read().map_err(|e| sql_error(&self.path, &format!("table {name}"), &e))?;
        Ok(Some(Table { name, columns }))
    }

    /// Table `name`, warning when it is missing: `consequence` says what is
    /// therefore not decoded.
    pub fn required(
        &self,
        session: &Session<'_>,
        name: &'static str,
        consequence: &str,
    ) -> Result<Option<Table>, PluginError> {
        let table = self.table(name)?;
        if table.is_none() {
            self.missing_table(session, name, consequence);
        }
        Ok(table)
    }

    /// Warns when `table` lacks any of `columns`, the ones without which its
    /// records lose their substance (an SMS without `body`): the records are
    /// still decoded, with those fields empty, and the examiner is told why.
    /// Columns that come and go between app versions are not listed here;
    /// they are read as empty without a word.
    pub fn essential_columns(&self, session: &Session<'_>, table: &Table, columns: &[&str]) {
        let missing: Vec<String> = columns
            .iter()
            .filter(|c| !table.has(c))
            .map(|c| format!("`{c}`"))
            .collect();
        if !missing.is_empty() {
            session.warn(
                None,
                &format!(
                    "{}: table `{}` has no column {}: those fields of its records are empty",
                    self.path,
                    table.name,
                    missing.join(", ")
                ),
            );
        }
    }

    /// Warns that table `name` is missing from this file.
    pub fn missing_table(&self, session: &Session<'_>, name: &str, consequence: &str) {
        session.warn(
            None,
            &format!("{}: table `{name}` is missing: {consequence}", self.path),
        );
    }

    /// Prepares a query of this database.
    pub fn prepare(&self, table: &str, sql: &str) -> Result<rusqlite::Statement<'_>, PluginError> {
        self.conn
            .prepare(sql)
            .map_err(|e| sql_error(&self.path, &format!("table {table}"), &e))
    }

    /// Runs `stmt` and calls `each` on every row of table `table`,
    /// checking the host's cancel flag every [`CANCEL_EVERY`] rows.
    pub fn each_row(
        &self,
        session: &Session<'_>,
        table: &str,
        stmt: &mut rusqlite::Statement<'_>,
        mut each: impl FnMut(&Row<'_>, u64) -> Result<(), PluginError>,
    ) -> Result<u64, PluginError> {
        let mut rows = stmt.query([]).map_err(|e| self.row_error(table, 0, &e))?;
        let mut done = 0u64;
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(done),
                Err(e) => return Err(self.row_error(table, done, &e)),
            };
            each(row, done)?;
            done = done.saturating_add(1);
            if done.is_multiple_of(CANCEL_EVERY) {
                session.check_cancelled()?;
            }
        }
    }

    /// Runs one table's decoding: damage is reported with the table's name
    /// and remembered for [`Db::finish`], and decoding goes on with the next
    /// table; cancellation and host refusals end the run.
    pub fn guard(
        &self,
        session: &Session<'_>,
        table: &str,
        result: Result<(), PluginError>,
    ) -> Result<(), PluginError> {
        match result {
            Err(PluginError::Corrupt { offset, what }) => {
                session.warn(offset, &what);
                self.damaged.borrow_mut().insert(table.to_owned());
                Ok(())
            }
            other => other,
        }
    }

    /// Maps an SQLite error met while reading `table` after `rows` rows.
    pub fn row_error(&self, table: &str, rows: u64, e: &rusqlite::Error) -> PluginError {
        sql_error(&self.path, &format!("table {table}, after {rows} rows"), e)
    }

    /// The rows of child table `table` that belong to parent `key`, taken
    /// from `children` (`None` when the table is absent: no rows), with the
    /// count of those beyond the cap; a read failure names the table and
    /// how many parent rows were done.
    pub fn children_of<T>(
        &self,
        children: Option<&mut Children<'_, '_, T>>,
        table: &str,
        key: i64,
        done: u64,
    ) -> Result<(Vec<T>, u64), PluginError> {
        match children {
            Some(children) => children
                .take(key)
                .map_err(|e| self.row_error(table, done, &e)),
            None => Ok((Vec::new(), 0)),
        }
    }

    /// Ends the file: `Corrupt` naming the damaged tables, if any.
    pub fn finish(self) -> Result<(), PluginError> {
        let damaged = self.damaged.into_inner();
        if damaged.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = damaged.into_iter().collect();
        Err(PluginError::Corrupt {
            offset: None,
            what: format!(
                "{}: damaged database, records lost from table(s) {}",
                self.path,
                list.join(", ")
            ),
        })
    }
}

impl Table {
    /// True when the table has column `column`.
    pub fn has(&self, column: &str) -> bool {
        self.columns.contains(&column.to_ascii_lowercase())
    }

    /// A select-list expression for `column` of this table (qualified with
    /// `alias` when given): the column itself, `rowid` for a missing `_id` or `ROWID`,
    /// else `NULL`.
    pub fn expr(&self, alias: Option<&str>, column: &str) -> String {
        let prefix = alias.map(|a| format!("{a}.")).unwrap_or_default();
        if self.has(column) {
            format!("{prefix}\"{column}\"")
        } else if column == "_id" || column.eq_ignore_ascii_case("rowid") {
            format!("{prefix}rowid")
        } else {
            "NULL".to_owned()
        }
    }

    /// `SELECT <columns> FROM <table>` with [`Table::expr`] for each column.
    pub fn select(&self, columns: &[&str]) -> String {
        let list: Vec<String> = columns.iter().map(|c| self.expr(None, c)).collect();
        format!("SELECT {} FROM \"{}\"", list.join(", "), self.name)
    }
}

/// One row's cells, looked up by the column names of the query.
pub struct Cells<'r, 'a> {
    row: &'r Row<'a>,
    table: &'static str,
    columns: &'r [&'static str],
}

impl<'r, 'a> Cells<'r, 'a> {
    /// Wraps `row` of a query selecting `columns` of `table`.
    pub fn new(row: &'r Row<'a>, table: &'static str, columns: &'r [&'static str]) -> Self {
        Cells {
            row,
            table,
            columns,
        }
    }

    fn get(&self, column: &str) -> ValueRef<'_> {
        self.columns
            .iter()
            .position(|c| *c == column)
            .and_then(|i| self.row.get_ref(i).ok())
            .unwrap_or(ValueRef::Null)
    }

    /// An integer cell; text holding a decimal integer counts too (columns
    /// declared `TEXT` store numbers as text). Anything else is `None`.
    pub fn int(&self, column: &str) -> Option<i64> {
        match self.get(column) {
            ValueRef::Integer(n) => Some(n),
            ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// A number cell as a float (Core Data stores times and durations as
    /// `REAL`); integers and decimal text count too.
    pub fn real(&self, column: &str) -> Option<f64> {
        match self.get(column) {
            ValueRef::Real(r) => Some(r),
            // Exact below 2^53, far beyond any stored time or duration.
            #[allow(clippy::as_conversions, clippy::cast_precision_loss)]
            ValueRef::Integer(n) => Some(n as f64),
            ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// A cell's bytes, whatever its type (text or BLOB); `None` for `NULL`
    /// and numbers.
    pub fn bytes(&self, column: &str) -> Option<Vec<u8>> {
        match self.get(column) {
            ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
            _ => None,
        }
    }

    /// A text cell; invalid UTF-8 is replaced, and said in `notes`.
    pub fn text(&self, column: &str, notes: &mut Vec<String>) -> Option<String> {
        match self.get(column) {
            ValueRef::Null => None,
            ValueRef::Integer(n) => Some(n.to_string()),
            ValueRef::Real(r) => Some(r.to_string()),
            ValueRef::Text(bytes) => Some(lossy(bytes, self.table, column, notes)),
            ValueRef::Blob(bytes) => {
                notes.push(format!(
                    "`{}.{column}` holds a BLOB; read as UTF-8 text",
                    self.table
                ));
                Some(lossy(bytes, self.table, column, notes))
            }
        }
    }
}

fn lossy(bytes: &[u8], table: &str, column: &str, notes: &mut Vec<String>) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            notes.push(format!(
                "`{table}.{column}` is not valid UTF-8; invalid bytes replaced with U+FFFD"
            ));
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// A child table read in parent order (`ORDER BY parent key`) beside the
/// parent table, so each parent's children come without a query per parent
/// and with bounded memory (a merge join).
pub struct Children<'r, 's, T> {
    rows: &'r mut Rows<'s>,
    read: fn(&Row<'_>) -> (Option<i64>, T),
    pending: Option<(Option<i64>, T)>,
    done: bool,
    /// Child rows whose parent key matched no parent row.
    pub orphans: u64,
}

impl<'r, 's, T> Children<'r, 's, T> {
    /// Reads `rows` (ordered by the parent key) with `read`, which returns
    /// a row's parent key and its value.
    pub fn new(rows: &'r mut Rows<'s>, read: fn(&Row<'_>) -> (Option<i64>, T)) -> Self {
        Children {
            rows,
            read,
            pending: None,
            done: false,
            orphans: 0,
        }
    }

    fn fill(&mut self) -> rusqlite::Result<()> {
        if self.pending.is_none() && !self.done {
            match self.rows.next()? {
                Some(row) => self.pending = Some((self.read)(row)),
                None => self.done = true,
            }
        }
        Ok(())
    }

    /// The children of parent `key` (at most [`MAX_CHILDREN`]) and how many
    /// more there were. Parents must be asked for in increasing key order;
    /// children of keys skipped over count as orphans.
    pub fn take(&mut self, key: i64) -> rusqlite::Result<(Vec<T>, u64)> {
        let mut out = Vec::new();
        let mut more = 0u64;
        loop {
            self.fill()?;
            let Some((child_key, _)) = &self.pending else {
                return Ok((out, more));
            };
            match child_key {
                Some(k) if *k > key => return Ok((out, more)),
                Some(k) if *k == key => {
                    if let Some((_, value)) = self.pending.take() {
                        if out.len() < MAX_CHILDREN {
                            out.push(value);
                        } else {
                            more = more.saturating_add(1);
                        }
                    }
                }
                _ => {
                    self.pending = None;
                    self.orphans = self.orphans.saturating_add(1);
                }
            }
        }
    }

    /// Counts the rows left after the last parent as orphans.
    pub fn drain(&mut self) -> rusqlite::Result<u64> {
        loop {
            self.fill()?;
            if self.pending.take().is_none() {
                return Ok(self.orphans);
            }
            self.orphans = self.orphans.saturating_add(1);
        }
    }
}

fn check_header(session: &Session<'_>, path: &str) -> Result<(), PluginError> {
    let mut head = [0u8; 16];
    let mut filled = 0usize;
    let mut reader = session.evidence_reader();
    while let Some(rest) = head.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest)? {
            0 => break,
            n => filled = filled.saturating_add(n),
        }
    }
    // An empty main file can still be a database whose pages are all in its
    // `-wal`; SQLite decides.
    if filled == 0 {
        return Ok(());
    }
    let got = head.get(..filled).unwrap_or_default();
    if got != SQLITE_MAGIC {
        let shown: String = got
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() || *b == b' ' {
                    char::from(*b)
                } else {
                    '.'
                }
            })
            .collect();
        return Err(PluginError::corrupt(
            0,
            format!("{path}: not an SQLite database (starts with \"{shown}\")"),
        ));
    }
    Ok(())
}

fn list_tables(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let names = stmt.query_map([], name_of)?;
    names.collect()
}

/// A schema name in lowercase; a damaged schema may hold any bytes.
fn name_of(row: &Row<'_>) -> rusqlite::Result<String> {
    let name = match row.get_ref(0)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        _ => String::new(),
    };
    Ok(name.to_ascii_lowercase())
}

/// An SQLite error as a plugin error naming the file: damage is `Corrupt`,
/// anything else `Io`.
fn sql_error(path: &str, context: &str, e: &rusqlite::Error) -> PluginError {
    let what = format!("{path}: {context}: {e}");
    // The input is a private working copy the host has just checked against
    // its hash, so only a failure of the disk or the OS is an I/O error.
    // Anything else SQLite refuses (a schema it cannot parse, "unsupported
    // file format", a record too big or claiming more memory than exists,
    // found by fuzzing) is a damaged database.
    match e.sqlite_error_code() {
        Some(
            ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::FileLockingProtocolFailed,
        ) => PluginError::Io { offset: None, what },
        _ => PluginError::Corrupt { offset: None, what },
    }
}
