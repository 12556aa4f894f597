//! The DFXML export (`exhibit export CASE --format dfxml`): Digital
//! Forensics XML 1.2.0 (<https://github.com/dfxml-working-group/dfxml_schema>),
//! the file-listing format of fiwalk and the DFXML tools, so an extraction
//! can be compared with (`idifference`) or loaded into them.
//!
//! What goes where:
//! - `metadata`: `dc:type` "File system extraction".
//! - `creator`: the program and version that extracted the case, its host,
//!   OS, architecture, command line and start time (from `case_opened`), and
//!   every plugin library loaded as a `library` (name, version). The
//!   exporter itself is `exhibit:exported_by` in the `exhibit:case` block.
//! - `source`: the evidence path (`image_filename`), its size
//!   (`image_size`) and its digests (`hashdigest`, from `evidence_hashed`).
//! - `exhibit:case`: the case (examiner, case number), the custody log the
//!   export was made from (entries, final chain hash, complete, outcome),
//!   how the evidence was hashed and checked, and each plugin's SHA-256.
//! - one `fileobject` per file, directory, link or other entry the custody
//!   log records (`file_extracted`, `entry_recorded`), in log order:
//!   `filename` (the name as the dump stored it), `id` (the entry's custody
//!   `seq`), `name_type` (`r`, `d`, `l`, `c`, `b`, `p`, `s`; `-` for
//!   anything else; a hard link is `r`, its content being its target's),
//!   `filesize` (bytes extracted), `alloc` 1, `meta_type` (The Sleuth Kit's
//!   numbers: 1 regular, 2 directory, 3 pipe, 4 character device, 5 block
//!   device, 6 symbolic link, 8 socket), `mode` (decimal, as the schema's
//!   `nonNegativeInteger` wants; permission and type bits as the dump stored
//!   them), `uid`, `gid`, `mtime`, `ctime`, `atime`, `crtime` (ISO 8601 UTC,
//!   with the source's sub-second digits), `link_target` (symbolic links),
//!   and a `hashdigest` per digest of the extracted bytes, then exhibit's
//!   own elements.
//!
//! exhibit's own elements live in the namespace [`EXHIBIT_NS`] (prefix
//! `exhibit`), after the DFXML ones, where DFXML 1.1.1 and later allow
//! other namespaces: `exhibit:case_path` (where the file is in the case),
//! `exhibit:kind` (exhibit's entry kind), `exhibit:entry_offset` (where the
//! entry starts in the evidence: its header, not its content, which may be
//! compressed or encrypted, so it is not given as a `byte_run`),
//! `exhibit:user`/`exhibit:group`, `exhibit:complete` and
//! `exhibit:declared_size` for a file cut short, `exhibit:hardlink_target`,
//! and `exhibit:time` for a time ISO 8601 cannot say (raw seconds and
//! nanoseconds).
//!
//! **Names that XML cannot carry.** A name that is not UTF-8 (the log holds
//! it as `{"hex": …}`) or that holds characters XML 1.0 forbids (controls
//! other than tab, LF, CR) is written in `filename` with each unreadable
//! byte or character as U+FFFD, followed by `exhibit:name_hex`, the exact
//! bytes in lowercase hex; link targets likewise (`exhibit:link_target_hex`).
//! A CR in a name is written `&#13;` so a parser keeps it. The document is
//! always well-formed UTF-8, whatever the evidence holds.
//!
//! The output streams one `fileobject` at a time, so memory does not grow
//! with the number of files, and is the same bytes for the same case.

use crate::Case;
use crate::case::{FileItem, Summary};
use crate::markup::escape;
use anyhow::Result;
use exhibit_plugin_sdk::{EntryKind, Time, to_hex};
use serde_json::Value;
use std::io::{BufWriter, Write};

/// The DFXML namespace.
pub const DFXML_NS: &str = "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML";
/// Dublin Core, for `metadata`.
pub const DC_NS: &str = "http://purl.org/dc/elements/1.1/";
/// exhibit's extension elements.
pub const EXHIBIT_NS: &str = "urn:exhibit:dfxml:1";
/// The DFXML schema version written.
pub const DFXML_VERSION: &str = "1.2.0";

/// Digests DFXML names in `hashdigest/@type`; others go in `exhibit:hashdigest`.
const DFXML_DIGESTS: [&str; 3] = ["md5", "sha1", "sha256"];

/// Writes the DFXML of `case`.
pub fn write(case: &Case, out: &mut dyn Write) -> Result<()> {
    let mut out = BufWriter::new(out);
    let s = case.summary();
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<dfxml xmlns=\"{DFXML_NS}\" xmlns:dc=\"{DC_NS}\" xmlns:exhibit=\"{EXHIBIT_NS}\" version=\"{DFXML_VERSION}\">"
    )?;
    writeln!(out, "  <metadata>")?;
    writeln!(out, "    <dc:type>File system extraction</dc:type>")?;
    writeln!(out, "  </metadata>")?;
    write_creator(&mut out, s)?;
    write_source(&mut out, s)?;
    write_case(&mut out, s)?;
    let mut buf = String::new();
    for item in case.files()? {
        buf.clear();
        fileobject(&mut buf, &item?);
        out.write_all(buf.as_bytes())?;
    }
    writeln!(out, "</dfxml>")?;
    out.flush()?;
    Ok(())
}

/// Element text: escaped, and a CR kept as a reference (a parser turns a
/// literal CR into LF).
fn text(s: &str) -> String {
    escape(s).replace('\r', "&#13;")
}

/// Attribute value: escaped, and tab, LF and CR kept as references (a
/// parser turns literal ones into spaces).
fn attr(s: &str) -> String {
    escape(s)
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
}

/// True when XML 1.0 cannot carry `s` exactly (escaping replaced a character).
fn lossy_in_xml(s: &str) -> bool {
    escape(s).matches('\u{FFFD}').count() != s.matches('\u{FFFD}').count()
}

fn leaf(buf: &mut String, indent: &str, tag: &str, value: &str) {
    buf.push_str(indent);
    buf.push('<');
    buf.push_str(tag);
    buf.push('>');
    buf.push_str(&text(value));
    buf.push_str("</");
    buf.push_str(tag);
    buf.push_str(">\n");
}

fn hashdigests(
    buf: &mut String,
    indent: &str,
    hashes: &std::collections::BTreeMap<String, String>,
) {
    for alg in DFXML_DIGESTS {
        if let Some(hex) = hashes.get(alg) {
            buf.push_str(&format!(
                "{indent}<hashdigest type=\"{alg}\">{}</hashdigest>\n",
                text(hex)
            ));
        }
    }
    for (alg, hex) in hashes {
        if !DFXML_DIGESTS.contains(&alg.as_str()) {
            buf.push_str(&format!(
                "{indent}<exhibit:hashdigest type=\"{}\">{}</exhibit:hashdigest>\n",
                attr(alg),
                text(hex)
            ));
        }
    }
}

/// A command line as one string a POSIX shell reads back into the same
/// words: each word that needs it in single quotes.
pub(crate) fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_creator(out: &mut impl Write, s: &Summary) -> Result<()> {
    let c = &s.case;
    let mut buf = String::from("  <creator>\n");
    leaf(&mut buf, "    ", "program", &c.tool);
    leaf(&mut buf, "    ", "version", &c.tool_version);
    buf.push_str("    <execution_environment>\n");
    if let Some(os) = &c.os {
        leaf(&mut buf, "      ", "os_sysname", os);
    }
    if let Some(host) = &c.host {
        leaf(&mut buf, "      ", "host", host);
    }
    if let Some(arch) = &c.arch {
        leaf(&mut buf, "      ", "arch", arch);
    }
    if !c.command_line.is_empty() {
        leaf(
            &mut buf,
            "      ",
            "command_line",
            &shell_join(&c.command_line),
        );
    }
    if !c.opened.is_empty() {
        leaf(&mut buf, "      ", "start_time", &c.opened);
    }
    buf.push_str("    </execution_environment>\n");
    for p in &s.plugins {
        buf.push_str(&format!(
            "    <library name=\"{}\" version=\"{}\"/>\n",
            attr(&p.name),
            attr(&p.version)
        ));
    }
    buf.push_str("  </creator>\n");
    out.write_all(buf.as_bytes())?;
    Ok(())
}

fn write_source(out: &mut impl Write, s: &Summary) -> Result<()> {
    let mut buf = String::from("  <source>\n");
    if let Some(ev) = &s.evidence {
        leaf(&mut buf, "    ", "image_filename", &ev.path);
        if let Some(size) = ev.size {
            leaf(&mut buf, "    ", "image_size", &size.to_string());
        }
        hashdigests(&mut buf, "    ", &ev.hashes);
    }
    buf.push_str("  </source>\n");
    out.write_all(buf.as_bytes())?;
    Ok(())
}

fn write_case(out: &mut impl Write, s: &Summary) -> Result<()> {
    let c = &s.case;
    let mut buf = String::from("  <exhibit:case>\n");
    for (tag, value) in [
        ("exhibit:examiner", &c.examiner),
        ("exhibit:agency", &c.agency),
        ("exhibit:case_number", &c.case_number),
    ] {
        if let Some(v) = value {
            leaf(&mut buf, "    ", tag, v);
        }
    }
    leaf(&mut buf, "    ", "exhibit:case_dir", &c.case_dir);
    buf.push_str(&format!(
        "    <exhibit:custody_log entries=\"{}\" chain_sha256=\"{}\" complete=\"{}\" outcome=\"{}\" last_time=\"{}\"/>\n",
        s.entries,
        attr(&s.chain_sha256),
        s.complete,
        attr(s.outcome.as_deref().unwrap_or("")),
        attr(&s.last_time)
    ));
    if let Some(ev) = &s.evidence {
        buf.push_str(&format!(
            "    <exhibit:evidence kind=\"{}\"",
            attr(&ev.kind)
        ));
        if let Some(acq) = &ev.acquisition_sha256 {
            buf.push_str(&format!(" acquisition_sha256=\"{}\"", attr(acq)));
        }
        if let Some(method) = &ev.hash_method {
            buf.push_str(&format!(" hash_method=\"{}\"", attr(method)));
        }
        if let Some(unchanged) = ev.unchanged() {
            buf.push_str(&format!(" unchanged=\"{unchanged}\""));
        }
        buf.push_str("/>\n");
    }
    let n = &s.counts;
    buf.push_str(&format!(
        "    <exhibit:counts files=\"{}\" incomplete_files=\"{}\" bytes=\"{}\" dirs=\"{}\" symlinks=\"{}\" other_entries=\"{}\" warnings=\"{}\" errors=\"{}\"/>\n",
        n.files, n.incomplete_files, n.bytes, n.dirs, n.symlinks, n.other_entries, n.warnings, n.errors
    ));
    for p in &s.plugins {
        buf.push_str(&format!(
            "    <exhibit:plugin name=\"{}\" version=\"{}\" kind=\"{}\" sha256=\"{}\"/>\n",
            attr(&p.name),
            attr(&p.version),
            attr(&p.kind),
            attr(&p.sha256)
        ));
    }
    buf.push_str(&format!(
        "    <exhibit:exported_by program=\"exhibit\" version=\"{}\"/>\n",
        env!("CARGO_PKG_VERSION")
    ));
    buf.push_str("  </exhibit:case>\n");
    out.write_all(buf.as_bytes())?;
    Ok(())
}

/// (`name_type`, `meta_type`, exhibit's name) for an entry kind.
fn types(kind: EntryKind) -> (&'static str, Option<u8>, &'static str) {
    match kind {
        EntryKind::File => ("r", Some(1), "file"),
        EntryKind::Dir => ("d", Some(2), "dir"),
        EntryKind::Symlink => ("l", Some(6), "symlink"),
        EntryKind::Hardlink => ("r", Some(1), "hardlink"),
        EntryKind::CharDevice => ("c", Some(4), "char_device"),
        EntryKind::BlockDevice => ("b", Some(5), "block_device"),
        EntryKind::Fifo => ("p", Some(3), "fifo"),
        EntryKind::Socket => ("s", Some(8), "socket"),
        _ => ("-", None, "other"),
    }
}

/// `xs:dateTime` for `t`, or `None` when it falls outside years 1–9999.
fn xs_datetime(t: Time) -> Option<String> {
    let s = exhibit_core::time::time(t);
    let b = s.as_bytes();
    let four_digit_year = b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    (four_digit_year && !s.starts_with("0000")).then_some(s)
}

/// The bytes of a name or target as the log holds it: a string, or `{"hex": …}`.
pub(crate) fn raw_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(m) => m
            .get("hex")
            .and_then(Value::as_str)
            .and_then(exhibit_plugin_sdk::from_hex),
        _ => None,
    }
}

/// Writes `tag` with the bytes as text, then `hex_tag` with their hex when
/// the text is not them exactly.
fn exact_or_hex(buf: &mut String, tag: &str, hex_tag: &str, bytes: &[u8], extras: &mut String) {
    let shown = String::from_utf8_lossy(bytes);
    let exact = std::str::from_utf8(bytes).is_ok_and(|s| !lossy_in_xml(s));
    leaf(buf, "    ", tag, &shown);
    if !exact {
        leaf(extras, "    ", hex_tag, &to_hex(bytes));
    }
}

fn fileobject(buf: &mut String, item: &FileItem) {
    let (name_type, meta_type, kind) = types(item.kind);
    let meta = item.meta.as_ref();
    // exhibit's elements come after DFXML's; gathered on the way.
    let mut extras = String::new();
    buf.push_str("  <fileobject>\n");
    match raw_bytes(&item.name) {
        Some(bytes) => exact_or_hex(buf, "filename", "exhibit:name_hex", &bytes, &mut extras),
        None => leaf(buf, "    ", "filename", &item.path),
    }
    leaf(buf, "    ", "id", &item.seq.to_string());
    leaf(buf, "    ", "name_type", name_type);
    if let Some(size) = item.size {
        leaf(buf, "    ", "filesize", &size.to_string());
    }
    leaf(buf, "    ", "alloc", "1");
    if let Some(t) = meta_type {
        leaf(buf, "    ", "meta_type", &t.to_string());
    }
    if let Some(m) = meta {
        for (tag, v) in [
            ("mode", m.mode.map(u64::from)),
            ("uid", m.uid),
            ("gid", m.gid),
        ] {
            if let Some(v) = v {
                leaf(buf, "    ", tag, &v.to_string());
            }
        }
        // DFXML's order: mtime, ctime, atime, crtime.
        for (tag, t) in [
            ("mtime", m.mtime),
            ("ctime", m.ctime),
            ("atime", m.atime),
            ("crtime", m.btime),
        ] {
            let Some(t) = t else { continue };
            match xs_datetime(t) {
                Some(s) => leaf(buf, "    ", tag, &s),
                None => extras.push_str(&format!(
                    "    <exhibit:time name=\"{tag}\" secs=\"{}\" nanos=\"{}\"/>\n",
                    t.secs, t.nanos
                )),
            }
        }
        if let Some(target) = &m.link_target {
            match item.kind {
                EntryKind::Symlink => exact_or_hex(
                    buf,
                    "link_target",
                    "exhibit:link_target_hex",
                    &target.0,
                    &mut extras,
                ),
                _ => {
                    let mut hex = String::new();
                    exact_or_hex(
                        &mut extras,
                        "exhibit:hardlink_target",
                        "exhibit:link_target_hex",
                        &target.0,
                        &mut hex,
                    );
                    extras.push_str(&hex);
                }
            }
        }
    }
    hashdigests(buf, "    ", &item.hashes);
    if !item.path.is_empty() {
        leaf(buf, "    ", "exhibit:case_path", &item.path);
    }
    leaf(buf, "    ", "exhibit:kind", kind);
    if let Some(m) = meta {
        if let Some(offset) = m.offset {
            leaf(buf, "    ", "exhibit:entry_offset", &offset.to_string());
        }
        if let Some(user) = &m.user {
            leaf(buf, "    ", "exhibit:user", user);
        }
        if let Some(group) = &m.group {
            leaf(buf, "    ", "exhibit:group", group);
        }
    }
    if !item.complete {
        leaf(buf, "    ", "exhibit:complete", "false");
        if let Some(declared) = meta.and_then(|m| m.size) {
            leaf(buf, "    ", "exhibit:declared_size", &declared.to_string());
        }
    }
    buf.push_str(&extras);
    buf.push_str("  </fileobject>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use exhibit_plugin_sdk::{EntryMeta, RawBytes};
    use serde_json::json;

    fn item(name: Value, kind: EntryKind) -> FileItem {
        let mut meta = EntryMeta::new(kind);
        meta.mode = Some(0o640);
        meta.uid = Some(1000);
        meta.mtime = Some(Time {
            secs: 1_709_287_200,
            nanos: 123_456_789,
        });
        meta.atime = Some(Time::from_secs(i64::MAX));
        meta.offset = Some(2048);
        FileItem {
            seq: 32,
            path: "files/a".into(),
            name,
            kind,
            size: (kind == EntryKind::File).then_some(3),
            hashes: [
                ("sha256".to_owned(), "aa".repeat(32)),
                ("md5".to_owned(), "bb".repeat(16)),
            ]
            .into_iter()
            .collect(),
            complete: true,
            meta: Some(meta),
        }
    }

    fn render(item: &FileItem) -> String {
        let mut buf = String::new();
        fileobject(&mut buf, item);
        buf
    }

    #[test]
    fn a_file_in_schema_order() {
        let xml = render(&item(json!("data/a&b"), EntryKind::File));
        let order = [
            "<filename>data/a&amp;b</filename>",
            "<id>32</id>",
            "<name_type>r</name_type>",
            "<filesize>3</filesize>",
            "<alloc>1</alloc>",
            "<meta_type>1</meta_type>",
            "<mode>416</mode>",
            "<uid>1000</uid>",
            "<mtime>2024-03-01T10:00:00.123456789Z</mtime>",
            "<hashdigest type=\"md5\">",
            "<hashdigest type=\"sha256\">",
            "<exhibit:case_path>files/a</exhibit:case_path>",
            "<exhibit:entry_offset>2048</exhibit:entry_offset>",
            &format!(
                "<exhibit:time name=\"atime\" secs=\"{}\" nanos=\"0\"/>",
                i64::MAX
            ),
        ];
        let mut at = 0;
        for part in order {
            let found = xml[at..]
                .find(part)
                .unwrap_or_else(|| panic!("{part} after {at} in {xml}"));
            at += found + part.len();
        }
        assert!(!xml.contains("<atime>"));
    }

    #[test]
    fn names_xml_cannot_carry_keep_their_bytes_in_hex() {
        let xml = render(&item(json!({"hex": "ff41"}), EntryKind::File));
        assert!(xml.contains("<filename>\u{FFFD}A</filename>"), "{xml}");
        assert!(
            xml.contains("<exhibit:name_hex>ff41</exhibit:name_hex>"),
            "{xml}"
        );
        let xml = render(&item(json!("bell\u{7}\r"), EntryKind::File));
        assert!(
            xml.contains("<filename>bell\u{FFFD}&#13;</filename>"),
            "{xml}"
        );
        assert!(
            xml.contains("<exhibit:name_hex>62656c6c070d</exhibit:name_hex>"),
            "{xml}"
        );
        let xml = render(&item(json!("plain"), EntryKind::File));
        assert!(!xml.contains("name_hex"));
    }

    #[test]
    fn symlinks_have_a_target_and_no_size() {
        let mut link = item(json!("sdcard"), EntryKind::Symlink);
        link.hashes.clear();
        if let Some(m) = link.meta.as_mut() {
            m.link_target = Some(RawBytes(b"/data/<0>".to_vec()));
        }
        let xml = render(&link);
        assert!(xml.contains("<name_type>l</name_type>"));
        assert!(xml.contains("<meta_type>6</meta_type>"));
        assert!(
            xml.contains("<link_target>/data/&lt;0&gt;</link_target>"),
            "{xml}"
        );
        assert!(!xml.contains("<filesize>") && !xml.contains("<hashdigest"));
    }

    #[test]
    fn hard_links_name_their_target_in_exhibits_namespace() {
        let mut link = item(json!("b"), EntryKind::Hardlink);
        link.hashes.clear();
        if let Some(m) = link.meta.as_mut() {
            m.link_target = Some(RawBytes(b"a\xff".to_vec()));
        }
        let xml = render(&link);
        assert!(xml.contains("<name_type>r</name_type>"));
        assert!(!xml.contains("<link_target>"));
        assert!(xml.contains("<exhibit:hardlink_target>a\u{FFFD}</exhibit:hardlink_target>\n    <exhibit:link_target_hex>61ff</exhibit:link_target_hex>"), "{xml}");
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let words: Vec<String> = ["exhibit", "extract", "my dump.tar", "--examiner", "O'Neil"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            shell_join(&words),
            "exhibit extract 'my dump.tar' --examiner 'O'\\''Neil'"
        );
    }
}
