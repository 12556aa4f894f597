//! Contacts of `AddressBook.sqlitedb`: one [`Contact`] per row of
//! `ABPerson`, with its phone numbers (`ABMultiValue.property` 3) and
//! e-mail addresses (property 4), each labelled through
//! `ABMultiValueLabel` (whose `rowid` is `ABMultiValue.label`).
//!
//! Policy: the name is "First Last" trimmed, else the organisation, else
//! the nickname; a middle name and a nickname beside a name are kept as
//! notes. Apple's built-in labels (`_$!<Mobile>!$_`) become lowercase words
//! (`mobile`, `home`, `work`, `other`, `main`, `iphone`, and any other
//! `_$!<Name>!$_` as `name`); a label the user typed is kept as typed.
//! `ABMultiValue` rows of no person are counted in a warning. The address
//! book has no sync account per person in these tables, so `account` is
//! `null`.
#![forbid(unsafe_code)]

use exhibit_plugin_sdk::records::{Contact, Labelled, Provenance};
use exhibit_plugin_sdk::{PluginError, Session};
use rusqlite::Row;

use crate::sqlite::{Cells, Children, Db, Table};

/// `kABPersonPhoneProperty`.
const PROPERTY_PHONE: i64 = 3;
/// `kABPersonEmailProperty`.
const PROPERTY_EMAIL: i64 = 4;

/// Decodes the people of one `AddressBook.sqlitedb`.
pub(crate) fn decode(session: &Session<'_>, db: &Db) -> Result<(), PluginError> {
    let Some(person) = db.required(session, "ABPerson", "no contacts decoded")? else {
        return Ok(());
    };
    db.guard(session, "ABPerson", decode_people(session, db, &person))
}

/// One `ABMultiValue` row with its label.
struct Value {
    property: Option<i64>,
    value: Option<String>,
    label: Option<String>,
    notes: Vec<String>,
}

const VALUE_COLUMNS: &[&str] = &["record_id", "property", "value", "label"];

fn read_value(row: &Row<'_>) -> (Option<i64>, Value) {
    let cells = Cells::new(row, "ABMultiValue", VALUE_COLUMNS);
    let mut notes = Vec::new();
    let value = Value {
        property: cells.int("property"),
        value: cells.text("value", &mut notes).filter(|v| !v.is_empty()),
        label: cells.text("label", &mut notes).filter(|l| !l.is_empty()),
        notes,
    };
    (cells.int("record_id"), value)
}

/// `ABMultiValue` joined with `ABMultiValueLabel`, in person order.
fn value_query(session: &Session<'_>, db: &Db) -> Result<Option<String>, PluginError> {
    let Some(values) = db.required(
        session,
        "ABMultiValue",
        "contacts have no phone numbers or e-mail addresses",
    )?
    else {
        return Ok(None);
    };
    let labels = db.required(
        session,
        "ABMultiValueLabel",
        "phone and e-mail labels are not decoded",
    )?;
    let (label, join) = match labels {
        Some(l) if values.has("label") => (
            l.expr(Some("l"), "value"),
            " LEFT JOIN ABMultiValueLabel l ON l.rowid = v.\"label\"",
        ),
        _ => ("NULL".to_owned(), ""),
    };
    let columns = [
        values.expr(Some("v"), "record_id"),
        values.expr(Some("v"), "property"),
        values.expr(Some("v"), "value"),
        label,
    ];
    Ok(Some(format!(
        "SELECT {} FROM ABMultiValue v{join} WHERE {} IN ({PROPERTY_PHONE}, {PROPERTY_EMAIL}) \
         ORDER BY {}, {}",
        columns.join(", "),
        values.expr(Some("v"), "property"),
        values.expr(Some("v"), "record_id"),
        values.expr(Some("v"), "UID"),
    )))
}

fn decode_people(session: &Session<'_>, db: &Db, person: &Table) -> Result<(), PluginError> {
    const COLUMNS: &[&str] = &[
        "ROWID",
        "First",
        "Middle",
        "Last",
        "Organization",
        "Nickname",
    ];
    let value_sql = value_query(session, db)?;
    let mut value_stmt = value_sql
        .map(|sql| db.prepare("ABMultiValue", &sql))
        .transpose()?;
    let mut value_rows = match value_stmt.as_mut() {
        Some(stmt) => Some(
            stmt.query([])
                .map_err(|e| db.row_error("ABMultiValue", 0, &e))?,
        ),
        None => None,
    };
    let mut values = value_rows
        .as_mut()
        .map(|rows| Children::new(rows, read_value));

    let sql = format!(
        "{} ORDER BY {}",
        person.select(COLUMNS),
        person.expr(None, "ROWID")
    );
    let mut stmt = db.prepare("ABPerson", &sql)?;
    db.each_row(session, "ABPerson", &mut stmt, |row, done| {
        let cells = Cells::new(row, "ABPerson", COLUMNS);
        let id = cells.int("ROWID").unwrap_or_default();
        let mut notes = Vec::new();
        let mut field = |column| {
            cells
                .text(column, &mut notes)
                .filter(|t| !t.trim().is_empty())
        };
        let first = field("First");
        let middle = field("Middle");
        let last = field("Last");
        let organization = field("Organization");
        let nickname = field("Nickname");
        let full = [first.as_deref(), last.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .to_owned();
        let has_name = !full.is_empty();
        let name = if has_name {
            Some(full)
        } else {
            organization.clone().or_else(|| nickname.clone())
        };
        if let Some(m) = middle {
            notes.push(format!("middle name: {m}"));
        }
        if let Some(n) = nickname.filter(|_| has_name || organization.is_some()) {
            notes.push(format!("nickname: {n}"));
        }
        let (rows, more) = db.children_of(values.as_mut(), "ABMultiValue", id, done)?;
        if more > 0 {
            notes.push(format!(
                "{more} more phone numbers and e-mail addresses not read"
            ));
        }
        let mut phones = Vec::new();
        let mut emails = Vec::new();
        for v in rows {
            notes.extend(v.notes);
            let Some(value) = v.value else {
                notes.push("a phone or e-mail row without a value".to_owned());
                continue;
            };
            let labelled = Labelled {
                value,
                label: v.label.map(label),
            };
            match v.property {
                Some(PROPERTY_PHONE) => phones.push(labelled),
                _ => emails.push(labelled),
            }
        }
        let contact = Contact {
            name,
            given_name: first,
            family_name: last,
            phones,
            emails,
            organization,
            account: None,
            deleted: false,
            notes,
            provenance: Provenance::row("ABPerson", id),
        };
        session.emit(&contact)
    })?;
    if let Some(children) = values.as_mut() {
        let orphans = children
            .drain()
            .map_err(|e| db.row_error("ABMultiValue", 0, &e))?;
        if orphans > 0 {
            session.warn(
                None,
                &format!(
                    "{}: {orphans} phone and e-mail rows of `ABMultiValue` belong to no row of `ABPerson`",
                    db.path()
                ),
            );
        }
    }
    Ok(())
}

/// Apple's built-in labels (`_$!<Mobile>!$_`) as lowercase words; the
/// user's own labels as typed.
pub(crate) fn label(raw: String) -> String {
    match raw
        .strip_prefix("_$!<")
        .and_then(|r| r.strip_suffix(">!$_"))
    {
        Some(builtin) => builtin.to_lowercase(),
        None if raw == "iPhone" => "iphone".to_owned(),
        None => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn builtin_labels_become_words() {
        for (raw, want) in [
            ("_$!<Mobile>!$_", "mobile"),
            ("_$!<Home>!$_", "home"),
            ("_$!<Work>!$_", "work"),
            ("_$!<Other>!$_", "other"),
            ("_$!<Main>!$_", "main"),
            ("_$!<HomeFAX>!$_", "homefax"),
            ("iPhone", "iphone"),
            ("TextNow", "TextNow"),
            ("Bureau Genève", "Bureau Genève"),
        ] {
            assert_eq!(label(raw.to_owned()), want);
        }
    }
}
