//! The report's scratch database: messages grouped into conversations and
//! ordered by time, calls ordered by time, and one row per timed event for
//! the timeline's per-day counts. A case may hold millions of records, so
//! they are staged on disk in SQLite (in the system temp folder, never in
//! the case) and read back in order, instead of being sorted in memory.
//! The database is a throwaway: no journal, no syncing, a 16 MB cache.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use tempfile::TempDir;

/// Sort key of a record without a usable time: after every timed one.
const UNTIMED: i64 = i64::MAX;

/// Participants a thread row lists; the rest are counted.
pub const PARTICIPANTS_SHOWN: i64 = 5;

pub struct Stage {
    db: Connection,
    // Declared last so the database is closed before its folder goes.
    _dir: TempDir,
}

/// A conversation, as the thread list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub source: i64,
    pub thread: String,
    pub messages: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// The first [`PARTICIPANTS_SHOWN`] addresses, sorted.
    pub participants: Vec<String>,
    pub participant_count: u64,
}

impl Stage {
    pub fn new() -> Result<Stage> {
        let dir = tempfile::Builder::new()
            .prefix("exhibit-report-")
            .tempdir()
            .context("cannot make a scratch folder for the report")?;
        let path = dir.path().join("stage.db");
        let db = Connection::open(&path)
            .with_context(|| format!("cannot open the scratch database {}", path.display()))?;
        db.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA temp_store = FILE;
             PRAGMA cache_size = -16000;
             CREATE TABLE msg (src INTEGER NOT NULL, thread TEXT NOT NULL, ms INTEGER,
                               k INTEGER NOT NULL, seq INTEGER NOT NULL, row TEXT NOT NULL);
             CREATE TABLE part (src INTEGER NOT NULL, thread TEXT NOT NULL, addr TEXT NOT NULL,
                                PRIMARY KEY (src, thread, addr)) WITHOUT ROWID;
             CREATE TABLE call (k INTEGER NOT NULL, seq INTEGER NOT NULL, row TEXT NOT NULL);
             CREATE TABLE ev (day INTEGER NOT NULL, kind INTEGER NOT NULL);
             BEGIN;",
        )
        .context("cannot set up the scratch database")?;
        Ok(Stage { db, _dir: dir })
    }

    /// Stages message `seq` (its position in `messages.jsonl`) of `thread`
    /// in source `src`, with the addresses it names.
    pub fn message<'a>(
        &self,
        src: usize,
        thread: &str,
        ms: Option<i64>,
        seq: u64,
        row: &str,
        addresses: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let src = i64::try_from(src)?;
        self.db
            .prepare_cached("INSERT INTO msg VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![
                src,
                thread,
                ms,
                ms.unwrap_or(UNTIMED),
                i64::try_from(seq)?,
                row
            ])?;
        let mut part = self
            .db
            .prepare_cached("INSERT OR IGNORE INTO part VALUES (?1, ?2, ?3)")?;
        for addr in addresses {
            part.execute(params![src, thread, addr])?;
        }
        Ok(())
    }

    pub fn call(&self, ms: Option<i64>, seq: u64, row: &str) -> Result<()> {
        self.db
            .prepare_cached("INSERT INTO call VALUES (?1, ?2, ?3)")?
            .execute(params![ms.unwrap_or(UNTIMED), i64::try_from(seq)?, row])?;
        Ok(())
    }

    /// One event of timeline kind `kind` on `day` (days since 1970-01-01).
    pub fn event(&self, day: i64, kind: usize) -> Result<()> {
        self.db
            .prepare_cached("INSERT INTO ev VALUES (?1, ?2)")?
            .execute(params![day, i64::try_from(kind)?])?;
        Ok(())
    }

    /// Ends staging: indexes the conversations and groups them.
    pub fn seal(&self) -> Result<()> {
        self.db
            .execute_batch(
                "COMMIT;
                 CREATE INDEX msg_order ON msg (src, thread, k, seq);
                 CREATE TABLE thr AS
                   SELECT src, thread, count(*) AS n, min(ms) AS first, max(ms) AS last,
                          min(k) AS k, min(seq) AS seq
                   FROM msg GROUP BY src, thread;",
            )
            .context("cannot group the messages into conversations")?;
        Ok(())
    }

    /// How many conversations there are (after [`Stage::seal`]).
    pub fn thread_count(&self) -> Result<u64> {
        let n: i64 = self
            .db
            .query_row("SELECT count(*) FROM thr", [], |r| r.get(0))?;
        Ok(u64::try_from(n)?)
    }

    /// The conversations, earliest first (by first message, then by the
    /// first message's place in `messages.jsonl`), one at a time.
    pub fn threads(&self, mut each: impl FnMut(Thread) -> Result<()>) -> Result<()> {
        let mut list = self
            .db
            .prepare("SELECT src, thread, n, first, last FROM thr ORDER BY k, seq, src, thread")?;
        let mut shown = self.db.prepare(
            "SELECT addr FROM part WHERE src = ?1 AND thread = ?2 ORDER BY addr LIMIT ?3",
        )?;
        let mut count = self
            .db
            .prepare("SELECT count(*) FROM part WHERE src = ?1 AND thread = ?2")?;
        let mut rows = list.query([])?;
        while let Some(r) = rows.next()? {
            let source: i64 = r.get(0)?;
            let thread: String = r.get(1)?;
            let participants = shown
                .query_map(params![source, thread, PARTICIPANTS_SHOWN], |p| p.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let participant_count: i64 = count.query_row(params![source, thread], |c| c.get(0))?;
            each(Thread {
                messages: u64::try_from(r.get::<_, i64>(2)?)?,
                first_ms: r.get(3)?,
                last_ms: r.get(4)?,
                participants,
                participant_count: u64::try_from(participant_count)?,
                source,
                thread,
            })?;
        }
        Ok(())
    }

    /// The rows of one conversation in time order (untimed last).
    pub fn messages_of(
        &self,
        source: i64,
        thread: &str,
        mut each: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT row FROM msg WHERE src = ?1 AND thread = ?2 ORDER BY k, seq")?;
        let mut rows = stmt.query(params![source, thread])?;
        while let Some(r) = rows.next()? {
            each(r.get_ref(0)?.as_str()?)?;
        }
        Ok(())
    }

    /// The call rows in time order (untimed last).
    pub fn calls(&self, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        let mut stmt = self.db.prepare("SELECT row FROM call ORDER BY k, seq")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            each(r.get_ref(0)?.as_str()?)?;
        }
        Ok(())
    }

    /// First and last event day, if any event was staged.
    pub fn day_span(&self) -> Result<Option<(i64, i64)>> {
        let span = self
            .db
            .query_row("SELECT min(day), max(day) FROM ev", [], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .optional()?;
        Ok(match span {
            Some((Some(a), Some(b))) => Some((a, b)),
            _ => None,
        })
    }

    /// Events per day and kind, by day.
    pub fn days(&self, mut each: impl FnMut(i64, usize, u64)) -> Result<()> {
        let mut stmt = self
            .db
            .prepare("SELECT day, kind, count(*) FROM ev GROUP BY day, kind ORDER BY day, kind")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            each(
                r.get(0)?,
                usize::try_from(r.get::<_, i64>(1)?)?,
                u64::try_from(r.get::<_, i64>(2)?)?,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_come_earliest_first_and_messages_in_time_order() {
        let s = Stage::new().expect("stage");
        // Thread "b" starts first; an untimed message of "a" goes last.
        s.message(0, "a", Some(300), 0, "a-300", ["x", "y"])
            .expect("m");
        s.message(0, "a", None, 1, "a-none", ["x"]).expect("m");
        s.message(0, "b", Some(100), 2, "b-100", ["z"]).expect("m");
        s.message(0, "a", Some(200), 3, "a-200", ["w"]).expect("m");
        s.message(1, "a", Some(50), 4, "a-other-source", [])
            .expect("m");
        s.seal().expect("seal");
        let mut order = Vec::new();
        s.threads(|t| {
            order.push((
                t.source,
                t.thread.clone(),
                t.messages,
                t.first_ms,
                t.last_ms,
            ));
            if t.thread == "a" && t.source == 0 {
                assert_eq!(t.participants, ["w", "x", "y"]);
                assert_eq!(t.participant_count, 3);
            }
            Ok(())
        })
        .expect("threads");
        assert_eq!(
            order,
            [
                (1, "a".to_owned(), 1, Some(50), Some(50)),
                (0, "b".to_owned(), 1, Some(100), Some(100)),
                (0, "a".to_owned(), 3, Some(200), Some(300)),
            ]
        );
        let mut rows = Vec::new();
        s.messages_of(0, "a", |r| {
            rows.push(r.to_owned());
            Ok(())
        })
        .expect("messages");
        assert_eq!(rows, ["a-200", "a-300", "a-none"]);
    }
}
