//! The layout of the tar inside a backup: which package and which tree
//! (domain) each entry belongs to, and the `_manifest` each package starts
//! with.
//!
//! Paths, as AOSP writes them (aosp-mirror/platform_frameworks_base,
//! `core/java/android/app/backup/FullBackup.java` tokens,
//! `libs/androidfw/BackupHelpers.cpp` `write_tarfile`): `apps/<package>/_manifest`,
//! `apps/<package>/<token>/<path>` with the tokens `a` (apk), `obb`, `k`
//! (key-value), `r` (root), `f` (files), `nb` (no-backup), `db`
//! (databases), `sp` (shared prefs), `c` (cache), `d_r`, `d_f`, `d_nb`,
//! `d_db`, `d_sp`, `d_c` (their device-protected twins), `ef` (external
//! files), `_meta` (widget metadata), and `shared/<volume>/<path>` for shared
//! storage. An unknown token is reported as it is.
//!
//! The manifest (`AppMetadataBackupWriter.getManifestBytes`) is text, one
//! field a line: manifest version, package, version code, platform SDK,
//! installer (may be empty), `1` when the apk is in the archive else `0`,
//! the number of signatures, then each signature (`Signature.toCharsString`,
//! hex). Its fields go to the custody log.
//!
//! Policy: names are matched as bytes; only the first [`MANIFEST_CAP`] bytes
//! of a manifest are kept for parsing (the file itself is delivered whole),
//! and at most [`SIGNATURE_CAP`] signatures are listed.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{EntryMeta, Session};
use exhibit_tar_stream::Observer;
use serde_json::{Map, Value, json};

/// Bytes of a `_manifest` kept for parsing.
pub const MANIFEST_CAP: usize = 64 * 1024;
/// Signatures of one manifest listed in the custody log.
pub const SIGNATURE_CAP: usize = 16;

/// The package and tree of an entry, from its tar name: `(package, tree)`.
pub fn classify(name: &[u8]) -> (Option<String>, Option<String>) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut parts = name.split(|&b| b == b'/').filter(|p| !p.is_empty());
    match parts.next() {
        Some(b"apps") => {
            let package = parts.next().map(text);
            let tree = parts.next().map(text);
            (package, tree)
        }
        Some(b"shared") => (None, Some("shared".to_owned())),
        _ => (None, None),
    }
}

/// Adds `"android_backup": {"package", "tree"}` to every entry and parses
/// every `_manifest` into a custody note.
pub struct Layout<'s, 'h> {
    session: &'s Session<'h>,
    /// The manifest being read: its name and its first bytes.
    manifest: Option<(Vec<u8>, Vec<u8>)>,
}

impl<'s, 'h> Layout<'s, 'h> {
    /// Notes go to `session`'s custody log.
    pub fn new(session: &'s Session<'h>) -> Layout<'s, 'h> {
        Layout {
            session,
            manifest: None,
        }
    }
}

impl Observer for Layout<'_, '_> {
    fn entry(&mut self, name: &[u8], meta: &mut EntryMeta) -> bool {
        let (package, tree) = classify(name);
        let is_manifest = package.is_some() && tree.as_deref() == Some("_manifest");
        meta.extra.insert(
            "android_backup".into(),
            json!({ "package": package, "tree": tree }),
        );
        self.manifest = is_manifest.then(|| (name.to_vec(), Vec::new()));
        is_manifest
    }

    fn data(&mut self, bytes: &[u8]) {
        if let Some((_, kept)) = &mut self.manifest {
            let room = MANIFEST_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn end(&mut self, complete: bool) {
        let Some((name, kept)) = self.manifest.take() else {
            return;
        };
        let mut details = parse_manifest(&kept);
        let path_package = classify(&name).0;
        if let Some(map) = details.as_object_mut() {
            map.insert("path".into(), String::from_utf8_lossy(&name).into());
            if !complete {
                map.insert("complete".into(), false.into());
            }
        }
        let named = details.get("package").and_then(Value::as_str);
        if let (Some(named), Some(path_package)) = (named, &path_package)
            && named != path_package
        {
            self.session.warn(
                None,
                &format!(
                    "the manifest {} names package {named:?}, not {path_package:?}",
                    String::from_utf8_lossy(&name)
                ),
            );
        }
        self.session.custody_note("android backup app", details);
    }
}

/// The manifest's fields: numbers where they parse, the text otherwise.
fn parse_manifest(data: &[u8]) -> Value {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut map = Map::new();
    let mut line = || lines.next().map(|l| l.trim_end_matches('\r').to_owned());
    let number = |l: Option<String>| match l {
        Some(l) => l
            .parse::<i64>()
            .map_or_else(|_| Value::String(l), Value::from),
        None => Value::Null,
    };
    map.insert("manifest_version".into(), number(line()));
    map.insert("package".into(), line().into());
    map.insert("version_code".into(), number(line()));
    map.insert("platform_sdk".into(), number(line()));
    map.insert("installer".into(), line().into());
    map.insert(
        "apk_included".into(),
        match line().as_deref() {
            Some("1") => true.into(),
            Some("0") => false.into(),
            other => other.into(),
        },
    );
    let count = number(line());
    let listed = count
        .as_u64()
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .min(SIGNATURE_CAP);
    let signatures: Vec<Value> = (0..listed)
        .map_while(|_| line())
        .filter(|s| !s.is_empty())
        .map(Value::from)
        .collect();
    map.insert("signature_count".into(), count);
    map.insert("signatures".into(), signatures.into());
    if data.len() >= MANIFEST_CAP {
        map.insert("parsed_bytes".into(), MANIFEST_CAP.into());
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_apps_and_shared() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            classify(b"apps/com.a/_manifest"),
            (s("com.a"), s("_manifest"))
        );
        assert_eq!(classify(b"apps/com.a/db/x.db"), (s("com.a"), s("db")));
        assert_eq!(classify(b"apps/com.a/d_f/x"), (s("com.a"), s("d_f")));
        assert_eq!(classify(b"apps/com.a"), (s("com.a"), None));
        assert_eq!(classify(b"shared/0/DCIM/a.jpg"), (None, s("shared")));
        assert_eq!(classify(b"other/x"), (None, None));
    }

    #[test]
    fn manifest_fields() {
        let m = parse_manifest(b"1\ncom.a\n7\n34\ncom.android.vending\n0\n1\n3082abcd\n");
        assert_eq!(
            m,
            json!({
                "manifest_version": 1, "package": "com.a", "version_code": 7,
                "platform_sdk": 34, "installer": "com.android.vending", "apk_included": false,
                "signature_count": 1, "signatures": ["3082abcd"],
            })
        );
        let m = parse_manifest(b"1\ncom.b\nx");
        assert_eq!(m["version_code"], "x");
        assert_eq!(m["platform_sdk"], Value::Null);
        assert_eq!(m["signatures"], json!([]));
    }
}
