//! Contacts of `contacts2.db` (`com.android.providers.contacts`): one
//! [`Contact`] per row of `raw_contacts` (one contact as one account syncs
//! it), with its name, phone numbers, e-mail addresses and organisation from
//! the `data` rows of its mimetypes, and its account from `accounts` (or, on
//! old releases, from the row's own `account_name`/`account_type`).
//!
//! Policy: raw contacts are not merged into aggregate contacts, because an
//! examiner needs to see which account each came from; a raw contact marked
//! `deleted` (kept until the next sync) is emitted with `deleted: true`. Labels
//! follow `ContactsContract.CommonDataKinds` (type 0 is the user's own label
//! in `data3`). `data` rows of no raw contact are counted in a warning.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use exhibit_plugin_sdk::records::{Account, Contact, Labelled, Provenance};
use exhibit_plugin_sdk::{PluginError, Session};
use rusqlite::Row;

use crate::sqlite::{Cells, Children, Db, Table};

const MIME_NAME: &str = "vnd.android.cursor.item/name";
const MIME_PHONE: &str = "vnd.android.cursor.item/phone_v2";
const MIME_EMAIL: &str = "vnd.android.cursor.item/email_v2";
const MIME_ORGANIZATION: &str = "vnd.android.cursor.item/organization";

/// Decodes the raw contacts of one `contacts2.db`.
pub(crate) fn decode(session: &Session<'_>, db: &Db) -> Result<(), PluginError> {
    let Some(raw) = db.required(session, "raw_contacts", "no contacts decoded")? else {
        return Ok(());
    };
    let accounts = if raw.has("account_id") {
        match load_accounts(session, db) {
            Ok(accounts) => accounts,
            Err(e) => {
                db.guard(session, "accounts", Err(e))?;
                HashMap::new()
            }
        }
    } else {
        HashMap::new()
    };
    db.guard(
        session,
        "raw_contacts",
        decode_raw_contacts(session, db, &raw, &accounts),
    )
}

fn load_accounts(session: &Session<'_>, db: &Db) -> Result<HashMap<i64, Account>, PluginError> {
    let mut accounts = HashMap::new();
    let Some(table) = db.required(session, "accounts", "contacts' accounts are not decoded")?
    else {
        return Ok(accounts);
    };
    const COLUMNS: &[&str] = &["_id", "account_name", "account_type"];
    let mut stmt = db.prepare("accounts", &table.select(COLUMNS))?;
    db.each_row(session, "accounts", &mut stmt, |row, _| {
        let cells = Cells::new(row, "accounts", COLUMNS);
        if let Some(id) = cells.int("_id") {
            let mut notes = Vec::new();
            let account = Account {
                kind: cells.text("account_type", &mut notes),
                name: cells.text("account_name", &mut notes),
            };
            accounts.insert(id, account);
        }
        Ok(())
    })?;
    Ok(accounts)
}

/// One `data` row with its mimetype.
struct DataRow {
    mimetype: Option<String>,
    data1: Option<String>,
    data2: Option<String>,
    data3: Option<String>,
    notes: Vec<String>,
}

const DATA_COLUMNS: &[&str] = &["raw_contact_id", "mimetype", "data1", "data2", "data3"];

fn read_data(row: &Row<'_>) -> (Option<i64>, DataRow) {
    let cells = Cells::new(row, "data", DATA_COLUMNS);
    let mut notes = Vec::new();
    let data = DataRow {
        mimetype: cells.text("mimetype", &mut notes),
        data1: cells.text("data1", &mut notes),
        data2: cells.text("data2", &mut notes),
        data3: cells.text("data3", &mut notes),
        notes,
    };
    (cells.int("raw_contact_id"), data)
}

/// `data` joined with `mimetypes`, in raw-contact order.
fn data_query(session: &Session<'_>, db: &Db) -> Result<Option<String>, PluginError> {
    let Some(data) = db.required(session, "data", "contacts have only their display names")? else {
        return Ok(None);
    };
    let columns = [
        data.expr(Some("d"), "raw_contact_id"),
        mimetype_expr(session, db, &data)?,
        data.expr(Some("d"), "data1"),
        data.expr(Some("d"), "data2"),
        data.expr(Some("d"), "data3"),
    ];
    // A `mimetypes` without `_id` (found by fuzzing) joins on its rowid,
    // which `_id INTEGER PRIMARY KEY` aliases, rather than failing the query.
    let mimetypes = if data.has("mimetype_id") {
        db.table("mimetypes")?
    } else {
        None
    };
    let join = match mimetypes {
        Some(m) => format!(
            " LEFT JOIN mimetypes m ON {} = d.\"mimetype_id\"",
            m.expr(Some("m"), "_id")
        ),
        None => String::new(),
    };
    Ok(Some(format!(
        "SELECT {} FROM data d{join} ORDER BY {}, {}",
        columns.join(", "),
        data.expr(Some("d"), "raw_contact_id"),
        data.expr(Some("d"), "_id"),
    )))
}

/// The mimetype expression: from `mimetypes` through `mimetype_id`, or
/// the row's own `mimetype` column of the oldest schemas.
fn mimetype_expr(session: &Session<'_>, db: &Db, data: &Table) -> Result<String, PluginError> {
    if data.has("mimetype_id") {
        match db.required(
            session,
            "mimetypes",
            "contacts have only their display names",
        )? {
            Some(m) if m.has("mimetype") => return Ok("m.\"mimetype\"".to_owned()),
            _ => return Ok("NULL".to_owned()),
        }
    }
    Ok(data.expr(Some("d"), "mimetype"))
}

fn decode_raw_contacts(
    session: &Session<'_>,
    db: &Db,
    raw: &Table,
    accounts: &HashMap<i64, Account>,
) -> Result<(), PluginError> {
    const COLUMNS: &[&str] = &[
        "_id",
        "display_name",
        "deleted",
        "account_id",
        "account_name",
        "account_type",
    ];
    let data_sql = data_query(session, db)?;
    let mut data_stmt = data_sql.map(|sql| db.prepare("data", &sql)).transpose()?;
    let mut data_rows = match data_stmt.as_mut() {
        Some(stmt) => Some(stmt.query([]).map_err(|e| db.row_error("data", 0, &e))?),
        None => None,
    };
    let mut data = data_rows
        .as_mut()
        .map(|rows| Children::new(rows, read_data));

    let sql = format!("{} ORDER BY {}", raw.select(COLUMNS), raw.expr(None, "_id"));
    let mut stmt = db.prepare("raw_contacts", &sql)?;
    db.each_row(session, "raw_contacts", &mut stmt, |row, done| {
        let cells = Cells::new(row, "raw_contacts", COLUMNS);
        let id = cells.int("_id").unwrap_or_default();
        let mut notes = Vec::new();
        let display_name = cells.text("display_name", &mut notes);
        let account = match cells.int("account_id") {
            Some(account_id) => accounts.get(&account_id).cloned(),
            None => Some(Account {
                kind: cells.text("account_type", &mut notes),
                name: cells.text("account_name", &mut notes),
            }),
        }
        .filter(|a| a.kind.is_some() || a.name.is_some());
        let (rows, more) = db.children_of(data.as_mut(), "data", id, done)?;
        if more > 0 {
            notes.push(format!("{more} more data rows not read"));
        }
        let mut contact = Contact {
            name: None,
            given_name: None,
            family_name: None,
            phones: Vec::new(),
            emails: Vec::new(),
            organization: None,
            account,
            deleted: cells.int("deleted").is_some_and(|d| d != 0),
            notes: Vec::new(),
            provenance: Provenance::row("raw_contacts", id),
        };
        for row in rows {
            notes.extend(row.notes);
            match row.mimetype.as_deref() {
                Some(MIME_NAME) if contact.name.is_none() && contact.given_name.is_none() => {
                    contact.name = row.data1;
                    contact.given_name = row.data2;
                    contact.family_name = row.data3;
                }
                Some(MIME_NAME) => {
                    if let Some(other) = row.data1 {
                        notes.push(format!("another name: {other}"));
                    }
                }
                Some(MIME_PHONE) => match row.data1 {
                    Some(value) => contact.phones.push(Labelled {
                        value,
                        label: phone_label(row.data2.as_deref(), row.data3),
                    }),
                    None => notes.push("a phone row without a number".to_owned()),
                },
                Some(MIME_EMAIL) => match row.data1 {
                    Some(value) => contact.emails.push(Labelled {
                        value,
                        label: email_label(row.data2.as_deref(), row.data3),
                    }),
                    None => notes.push("an e-mail row without an address".to_owned()),
                },
                Some(MIME_ORGANIZATION) => match (&contact.organization, row.data1) {
                    (None, company) => contact.organization = company,
                    (Some(_), Some(other)) => notes.push(format!("another organization: {other}")),
                    (Some(_), None) => {}
                },
                _ => {}
            }
        }
        if contact.name.is_none() {
            contact.name = display_name;
        }
        contact.notes = notes;
        session.emit(&contact)
    })?;
    if let Some(children) = data.as_mut() {
        let orphans = children.drain().map_err(|e| db.row_error("data", 0, &e))?;
        if orphans > 0 {
            session.warn(
                None,
                &format!(
                    "{}: {orphans} `data` rows belong to no row of `raw_contacts`",
                    db.path()
                ),
            );
        }
    }
    Ok(())
}

/// `Phone.TYPE_*`; 0 is the user's own label in `data3`.
fn phone_label(kind: Option<&str>, custom: Option<String>) -> Option<String> {
    let label = match kind?.trim().parse::<i64>().ok()? {
        0 => return custom.or_else(|| Some("custom".to_owned())),
        1 => "home",
        2 => "mobile",
        3 => "work",
        4 => "fax_work",
        5 => "fax_home",
        6 => "pager",
        7 => "other",
        8 => "callback",
        9 => "car",
        10 => "company_main",
        11 => "isdn",
        12 => "main",
        13 => "other_fax",
        14 => "radio",
        15 => "telex",
        16 => "tty_tdd",
        17 => "work_mobile",
        18 => "work_pager",
        19 => "assistant",
        20 => "mms",
        other => return Some(format!("type {other}")),
    };
    Some(label.to_owned())
}

/// `Email.TYPE_*`; 0 is the user's own label in `data3`.
fn email_label(kind: Option<&str>, custom: Option<String>) -> Option<String> {
    let label = match kind?.trim().parse::<i64>().ok()? {
        0 => return custom.or_else(|| Some("custom".to_owned())),
        1 => "home",
        2 => "work",
        3 => "other",
        4 => "mobile",
        other => return Some(format!("type {other}")),
    };
    Some(label.to_owned())
}
