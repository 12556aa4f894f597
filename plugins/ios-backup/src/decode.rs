//! One run over one backup folder (the evidence, or inside a zip or tar
//! evidence: see `source`): the property lists and the `device`
//! custody note, the keybag and password of an encrypted backup, the
//! manifest (`Manifest.db`, or `Manifest.mbdb` for iOS ≤ 9) as the work list,
//! then every entry delivered by as many workers as the host allows.
//!
//! Policy: nothing is delivered before the password has opened the keybag
//! (a wrong one ends the run with `WrongPassword`). Each file is read from
//! its blob through one reader, which is dropped before the output is
//! finished, and its `extra.ios_backup.source` names the blob, so the host
//! can put the blob's own hash beside the hash of what was delivered (null
//! for an archive evidence, whose own hash covers the blobs). A
//! listed file whose blob is missing, an undecodable `MBFile` or a file that
//! does not decrypt is reported and the run goes on; a `fileID` that is not
//! the SHA-1 of `domain-relativePath` and a blob that no manifest row lists
//! are warnings. The run ends with `Err` only when the manifest itself cannot
//! be read, the host refuses a call or cancels.

#![forbid(unsafe_code)]

use crate::info::{self, BackupInfo};
use crate::keybag::{ClassKeys, Keybag, KeybagError};
use crate::manifest::{self, FileRow};
use crate::mbdb::{Mbdb, MbdbRecord, ModeKind};
use crate::mbfile::{self, MbFile};
use crate::source::Source;
use aes::Aes256;
use cbc::cipher::consts::U16;
use cbc::cipher::inout::InOutBuf;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use exhibit_plugin_sdk::{
    Access, EntryKind, EntryMeta, FormatPlugin, PluginError, Probe, RawBytes, Session, Status,
    Time, to_hex,
};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Mutex, PoisonError};

/// The reused buffer file content streams through (a multiple of 16).
const COPY_BUF: usize = 256 * 1024;
/// The largest `Manifest.mbdb` read into memory.
const MBDB_CAP: u64 = 512 * 1024 * 1024;
/// Unlisted blobs warned about one by one; the rest are counted.
const UNLISTED_CAP: usize = 100;

/// The iOS (iTunes/Finder) backup format plugin.
#[derive(Default)]
pub struct IosBackup;

impl FormatPlugin for IosBackup {
    const NAME: &'static str = "ios-backup";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "iOS iTunes/Finder backup folders, or a zip/tar holding one: Manifest.db (iOS 10+, plain or encrypted) and Manifest.mbdb (iOS 5-9, plain)";
    /// Files are read by several workers at once.
    const ACCESS: Access = Access::Random;

    /// 100 for a folder holding `Manifest.db` or `Manifest.mbdb` (the host
    /// lists a folder's top-level names in the probe's head); else 60 for a
    /// folder named like a device UDID or lying under `MobileSync/Backup/`
    /// (a backup missing its manifest, which the run then reports), 0
    /// otherwise. Both outrank the generic `folder` plugin (10).
    ///
    /// A file evidence: 95 when it starts with a zip local header and a
    /// local-header name visible in the head ends with `Manifest.db`,
    /// `Manifest.mbdb`, `Manifest.plist`, `Info.plist` or `Status.plist`,
    /// or has a folder named like a UDID (`Backup/<UDID>/…`), or is a blob
    /// (`…/xx/<fileID>`, `xx` the fileID's first two digits): that beats the
    /// generic `zip` plugin (90) when the backup comes first in the zip.
    /// Any other file is 0, since the head cannot tell a zip holding a
    /// backup further in from any zip: pass `--format ios-backup` then.
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if !probe.is_dir {
            return if zip_head_has_backup(probe.head) {
                95
            } else {
                0
            };
        }
        // The host lists the folder's top-level names in `head`.
        if probe.folder_has("Manifest.db") || probe.folder_has("Manifest.mbdb") {
            return 100;
        }
        let path = trim_slashes(probe.name);
        let last = last_component(path);
        let under_mobilesync = path
            .windows(b"MobileSync/Backup/".len())
            .any(|w| w.eq_ignore_ascii_case(b"MobileSync/Backup/"));
        if looks_like_udid(last) || under_mobilesync {
            60
        } else {
            0
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        Run::new(session)?.run()
    }
}

fn trim_slashes(mut name: &[u8]) -> &[u8] {
    while let [rest @ .., b'/'] = name {
        name = rest;
    }
    name
}

fn last_component(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Whether the evidence starts with a ustar/GNU tar header (`ustar` at 257).
fn is_tar(session: &Session<'_>) -> Result<bool, PluginError> {
    let mut head = [0u8; 512];
    let mut filled = 0usize;
    while let Some(rest) = head.get_mut(filled..).filter(|r| !r.is_empty()) {
        let at = u64::try_from(filled).unwrap_or(u64::MAX);
        match session.read_at(at, rest)? {
            0 => break,
            n => filled = filled.saturating_add(n),
        }
    }
    Ok(filled == head.len() && head.get(257..262) == Some(&b"ustar"[..]))
}

/// Whether `head` starts with a zip local header and some local header in
/// it names a backup file or a UDID folder.
fn zip_head_has_backup(head: &[u8]) -> bool {
    const LOCAL: &[u8] = b"PK\x03\x04";
    if !head.starts_with(LOCAL) {
        return false;
    }
    let names = (0..head.len())
        .filter(|&at| head.get(at..).is_some_and(|h| h.starts_with(LOCAL)))
        .filter_map(|at| {
            let len = head.get(at.checked_add(26)?..at.checked_add(28)?)?;
            let len = usize::from(u16::from_le_bytes(<[u8; 2]>::try_from(len).ok()?));
            let start = at.checked_add(30)?;
            head.get(start..start.checked_add(len)?)
        });
    for name in names {
        let file = last_component(name);
        if [
            &b"Manifest.db"[..],
            b"Manifest.mbdb",
            b"Manifest.plist",
            b"Info.plist",
            b"Status.plist",
        ]
        .contains(&file)
        {
            return true;
        }
        let mut dirs = name.split(|&b| b == b'/');
        // Every component but the last (a file, or "" after a folder's `/`).
        dirs.next_back();
        if dirs.any(looks_like_udid) {
            return true;
        }
        let mut parts = name.rsplit(|&b| b == b'/');
        if let (Some(id), Some(dir)) = (parts.next(), parts.next())
            && id.len() == 40
            && id.iter().all(u8::is_ascii_hexdigit)
            && id.get(..2) == Some(dir)
        {
            return true;
        }
    }
    false
}

/// A UDID: 40 hex digits (until the iPhone XS) or 8 hex, `-`, 16 hex.
fn looks_like_udid(name: &[u8]) -> bool {
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    match name.len() {
        40 => hex(name),
        25 => name.get(8) == Some(&b'-') && hex(&name[..8]) && hex(&name[9..]),
        _ => false,
    }
}

/// Lowercase hex SHA-1 of `domain-relativePath`: the blob name.
pub fn file_id(domain: &[u8], path: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(domain);
    h.update(b"-");
    h.update(path);
    to_hex(&h.finalize())
}

/// 40 hex digits: safe to use as a blob name.
fn valid_file_id(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `domain/relativePath`, or the domain alone for its root.
fn entry_name(domain: &[u8], path: &[u8]) -> Vec<u8> {
    let mut name = domain.to_vec();
    if !path.is_empty() {
        name.push(b'/');
        name.extend_from_slice(path);
    }
    name
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Which manifest the backup has.
enum ManifestKind {
    Db,
    Mbdb,
}

/// What the workers share.
struct Run<'s, 'h> {
    session: &'s Session<'h>,
    /// The evidence folder's (or zip's) own name, as the examiner knows it.
    what: String,
    /// The backup folder's files: the evidence folder, or inside a zip.
    source: Source<'s, 'h>,
    info: BackupInfo,
    manifest: ManifestKind,
    /// Blob paths present in the backup folder (`xx/<id>` or `<id>`).
    blobs: HashSet<String>,
    /// Files with a name like `Manifest.db-wal` beside the manifest.
    root_files: HashSet<Vec<u8>>,
}

/// One entry of the work list, as the manifest gives it.
enum Job {
    Db(FileRow, bool),
    Mbdb(MbdbRecord, bool),
}

/// The first error that must end the run (a host refusal, cancellation).
#[derive(Default)]
struct Failure {
    stop: AtomicBool,
    error: Mutex<Option<PluginError>>,
}

impl Failure {
    fn set(&self, err: PluginError) {
        self.stop.store(true, Ordering::SeqCst);
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(err);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn take(&self) -> Option<PluginError> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<'s, 'h> Run<'s, 'h> {
    /// Lists the folder, reads the property lists, records the device.
    fn new(session: &'s Session<'h>) -> Result<Run<'s, 'h>, PluginError> {
        let name = trim_slashes(&session.evidence().name);
        let what = lossy(last_component(name));
        let source = if session.evidence().is_dir {
            Source::Folder(session)
        } else if is_tar(session)? {
            Source::tar(session, &what)?
        } else {
            Source::zip(session, &what)?
        };
        let listing = source.listing(session)?;
        let files = listing.files;
        let manifest = if files.contains(&b"Manifest.db"[..]) {
            ManifestKind::Db
        } else if files.contains(&b"Manifest.mbdb"[..]) {
            ManifestKind::Mbdb
        } else {
            return Err(PluginError::Corrupt {
                offset: None,
                what: format!(
                    "{what} is not an ios backup folder: it holds no Manifest.db or Manifest.mbdb"
                ),
            });
        };
        let has = |n: &str| files.contains(n.as_bytes());
        let info = BackupInfo {
            info: info::read_plist(session, &source, "Info.plist", has("Info.plist"))?,
            manifest: info::read_plist(session, &source, "Manifest.plist", has("Manifest.plist"))?,
            status: info::read_plist(session, &source, "Status.plist", has("Status.plist"))?,
        };
        match info.snapshot_state() {
            Some("finished") => {}
            Some(state) => session.warn(
                None,
                &format!(
                    "Status.plist says the backup is incomplete: SnapshotState is {state:?}, not \"finished\""
                ),
            ),
            None if info.status.is_some() => {
                session.warn(None, "Status.plist has no SnapshotState")
            }
            None => {}
        }
        session.custody_note("device", info.device());

        // The blob inventory: `xx/<id>` (Manifest.db) or `<id>` (mbdb).
        let blobs = match manifest {
            ManifestKind::Db => listing.sub_blobs,
            ManifestKind::Mbdb => files
                .iter()
                .map(|n| lossy(n))
                .filter(|n| valid_file_id(n))
                .collect(),
        };
        Ok(Run {
            session,
            what,
            source,
            info,
            manifest,
            blobs,
            root_files: files,
        })
    }

    fn run(mut self) -> Result<(), PluginError> {
        match self.manifest {
            ManifestKind::Db => {
                let keys = if self.info.encrypted() {
                    Some(self.unlock()?)
                } else {
                    None
                };
                let conn = self.open_db(keys.as_ref())?;
                let mut blobs = std::mem::take(&mut self.blobs);
                let result = self.dispatch(keys.as_ref(), |send| {
                    manifest::for_each_file(&conn, |row| {
                        let present = blobs.remove(&blob_path(&row.file_id));
                        send(Job::Db(row, present))
                    })
                    .map(|_| ())
                });
                self.unlisted(blobs);
                result
            }
            ManifestKind::Mbdb => {
                if self.info.encrypted() {
                    return Err(PluginError::Unsupported {
                        feature: "encrypted legacy (Manifest.mbdb, ios 9 and older) backups".into(),
                    });
                }
                let data = self.source.read_file("Manifest.mbdb", MBDB_CAP)?;
                let records = Mbdb::new(&data).map_err(|e| PluginError::Corrupt {
                    offset: None,
                    what: format!("Manifest.mbdb at byte {}: {}", e.offset, e.what),
                })?;
                let mut blobs = std::mem::take(&mut self.blobs);
                let result = self.dispatch(None, |send| {
                    for record in records {
                        let record = record.map_err(|e| PluginError::Corrupt {
                            offset: None,
                            what: format!("Manifest.mbdb at byte {}: {}", e.offset, e.what),
                        })?;
                        let id = file_id(&record.domain, &record.path);
                        let present = blobs.remove(&id);
                        send(Job::Mbdb(record, present))?;
                    }
                    Ok(())
                });
                self.unlisted(blobs);
                result
            }
        }
    }

    /// Parses the keybag, asks for the password and opens the class keys.
    fn unlock(&self) -> Result<ClassKeys, PluginError> {
        let session = self.session;
        let data = self
            .info
            .manifest_data("BackupKeyBag")
            .ok_or_else(|| PluginError::Corrupt {
                offset: None,
                what: "Manifest.plist says the backup is encrypted but holds no BackupKeyBag"
                    .into(),
            })?;
        let keybag = Keybag::parse(data).map_err(|e| self.keybag_error(e, "BackupKeyBag"))?;
        session.custody_note("ios backup keybag", keybag.custody());
        let password = session
            .password()?
            .filter(|p| !p.is_empty())
            .ok_or_else(|| PluginError::NoPassword {
                what: self.what.clone(),
            })?;
        session.progress(&format!(
            "deriving the backup key ({} rounds)…",
            keybag.rounds()
        ));
        let keys = keybag
            .unlock(&password)
            .map_err(|e| self.keybag_error(e, "BackupKeyBag"))?;
        session.custody_note(
            "ios backup decryption",
            json!({ "keybag": "opened", "class_keys": keys.classes() }),
        );
        Ok(keys)
    }

    fn keybag_error(&self, e: KeybagError, field: &str) -> PluginError {
        match e {
            KeybagError::WrongPassword => PluginError::WrongPassword {
                what: self.what.clone(),
            },
            KeybagError::Unsupported(feature) => PluginError::Unsupported { feature },
            KeybagError::Corrupt(what) => PluginError::Corrupt {
                offset: None,
                what: format!("Manifest.plist {field}: {what}"),
            },
        }
    }

    /// Reads (and decrypts) `Manifest.db` and opens it from memory.
    fn open_db(&self, keys: Option<&ClassKeys>) -> Result<rusqlite::Connection, PluginError> {
        if self.root_files.contains(&b"Manifest.db-wal"[..]) {
            self.session.warn(
                None,
                "Manifest.db-wal is present and not applied: the manifest is read as Manifest.db alone",
            );
        }
        let mut data = self.source.read_file("Manifest.db", manifest::DB_CAP)?;
        if let Some(keys) = keys {
            let wrapped =
                self.info
                    .manifest_data("ManifestKey")
                    .ok_or_else(|| PluginError::Corrupt {
                        offset: None,
                        what:
                            "Manifest.plist says the backup is encrypted but holds no ManifestKey"
                                .into(),
                    })?;
            let key = keys
                .unwrap_key(wrapped)
                .map_err(|e| self.keybag_error(e, "ManifestKey"))?;
            manifest::decrypt(&mut data, &key)?;
        }
        manifest::open(data, keys.is_some())
    }

    /// Runs `produce`, which hands jobs to `send`, over the host's threads.
    fn dispatch(
        &self,
        keys: Option<&ClassKeys>,
        produce: impl FnOnce(&mut dyn FnMut(Job) -> Result<(), PluginError>) -> Result<(), PluginError>,
    ) -> Result<(), PluginError> {
        let threads = usize::try_from(self.session.evidence().threads).unwrap_or(1);
        let worker = Worker { run: self, keys };
        if threads <= 1 {
            let mut buf = vec![0u8; COPY_BUF];
            return produce(&mut |job| worker.deliver(job, &mut buf));
        }
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<Job>(threads.saturating_mul(4));
        let inbox = Mutex::new(inbox);
        let failed = Failure::default();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| work(&worker, &inbox, &failed));
            }
            let produced = produce(&mut |job| {
                if failed.stopped() || jobs.send(job).is_err() {
                    // A worker failed: its error is the run's outcome.
                    return Err(PluginError::Cancelled);
                }
                Ok(())
            });
            drop(jobs);
            produced
        })
        .map_err(|e| failed.take().unwrap_or(e))
        .and_then(|()| failed.take().map_or(Ok(()), Err))
    }

    /// Blobs that no manifest row lists.
    fn unlisted(&self, blobs: HashSet<String>) {
        let mut blobs: Vec<String> = blobs.into_iter().collect();
        blobs.sort();
        for blob in blobs.iter().take(UNLISTED_CAP) {
            self.session.warn(
                None,
                &format!(
                    "{blob} is in the backup folder but not listed in the manifest; not extracted"
                ),
            );
        }
        if blobs.len() > UNLISTED_CAP {
            self.session.warn(
                None,
                &format!(
                    "{} more blobs are in the backup folder but not listed in the manifest; not extracted",
                    blobs.len().saturating_sub(UNLISTED_CAP)
                ),
            );
        }
    }
}

/// `xx/<fileID>`: where a Manifest.db backup keeps a file's blob.
fn blob_path(id: &str) -> String {
    let prefix = id.get(..2).unwrap_or(id);
    format!("{prefix}/{id}")
}

/// A worker thread: delivers queued jobs until the queue closes.
fn work(worker: &Worker<'_, '_, '_>, inbox: &Mutex<Receiver<Job>>, failed: &Failure) {
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let job = inbox.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        if failed.stopped() {
            continue;
        }
        if let Err(err) = worker.deliver(job, &mut buf) {
            failed.set(err);
        }
    }
}

/// Delivers entries; shared by every worker.
struct Worker<'r, 's, 'h> {
    run: &'r Run<'s, 'h>,
    keys: Option<&'r ClassKeys>,
}

/// What one manifest entry resolves to.
struct Item {
    name: Vec<u8>,
    meta: EntryMeta,
    /// For a regular file: its blob path and whether it is present.
    blob: Option<(String, bool)>,
    /// The wrapped per-file key of an encrypted file.
    wrapped_key: Option<Vec<u8>>,
    /// The plaintext size the manifest declares.
    size: Option<u64>,
    label: String,
}

impl Worker<'_, '_, '_> {
    fn session(&self) -> &Session<'_> {
        self.run.session
    }

    /// Delivers one entry; `Err` only for host refusals and cancellation.
    fn deliver(&self, job: Job, buf: &mut [u8]) -> Result<(), PluginError> {
        self.session().check_cancelled()?;
        let item = match job {
            Job::Db(row, present) => self.db_item(row, present),
            Job::Mbdb(record, present) => {
                mbdb_item(record, present, self.run.source.hashes_blobs())
            }
        };
        let Some(item) = item else { return Ok(()) };
        match item.blob.clone() {
            None => self.session().record_entry(&item.name, &item.meta),
            Some((source, true)) => self.copy(&item, &source, buf),
            Some((source, false)) => {
                self.session().report(&PluginError::Corrupt {
                    offset: None,
                    what: format!(
                        "{}: its content {source} is missing from the backup folder; not extracted",
                        item.label
                    ),
                });
                Ok(())
            }
        }
    }

    /// A `Manifest.db` row as an item (`None`: reported, nothing to deliver).
    fn db_item(&self, row: FileRow, present: bool) -> Option<Item> {
        let session = self.session();
        let name = entry_name(&row.domain, &row.relative_path);
        let label = format!("{} (fileID {})", lossy(&name), row.file_id);
        let expected = file_id(&row.domain, &row.relative_path);
        if !row.file_id.eq_ignore_ascii_case(&expected) {
            session.warn(
                None,
                &format!(
                    "{label}: the fileID is not the sha-1 of \"domain-relativePath\" ({expected}); extracted under its stored name"
                ),
            );
        }
        let mb = match mbfile::decode(&row.blob) {
            Ok(mb) => mb,
            Err(e) => {
                session.report(&PluginError::Corrupt {
                    offset: None,
                    what: format!("{label}: unreadable MBFile metadata: {}", e.0),
                });
                MbFile::default()
            }
        };
        let kind = match row.flags {
            Some(1) => EntryKind::File,
            Some(2) => EntryKind::Dir,
            Some(4) => EntryKind::Symlink,
            flags => {
                let by_mode = mb.mode.map(|m| m & 0o170000);
                let kind = match by_mode {
                    Some(0o040000) => EntryKind::Dir,
                    Some(0o120000) => EntryKind::Symlink,
                    _ => EntryKind::File,
                };
                session.warn(
                    None,
                    &format!(
                        "{label}: unknown flags {}; taken as a {} from its mode",
                        flags.map_or("null".to_owned(), |f| f.to_string()),
                        if kind == EntryKind::File {
                            "file"
                        } else if kind == EntryKind::Dir {
                            "folder"
                        } else {
                            "symbolic link"
                        }
                    ),
                );
                kind
            }
        };
        let mut meta = EntryMeta::new(kind);
        meta.mode = mb.mode;
        meta.uid = mb.uid;
        meta.gid = mb.gid;
        meta.mtime = mb.mtime;
        meta.ctime = mb.ctime;
        meta.btime = mb.btime;
        if kind == EntryKind::File {
            meta.size = mb.size;
        }
        if kind == EntryKind::Symlink {
            meta.link_target = mb.target.as_ref().map(|t| RawBytes(t.clone().into_bytes()));
        }
        let encrypted =
            kind == EntryKind::File && self.keys.is_some() && mb.encryption_key.is_some();
        let source = (kind == EntryKind::File && valid_file_id(&row.file_id))
            .then(|| blob_path(&row.file_id));
        meta.extra.insert(
            "ios_backup".into(),
            json!({
                "domain": lossy(&row.domain),
                "relative_path": lossy(&row.relative_path),
                "file_id": row.file_id,
                "flags": row.flags,
                "inode": mb.inode,
                "protection_class": mb.protection_class,
                "encrypted": encrypted,
                // Null in a zip: the host hashes the zip, not each blob.
                "source": source.as_ref().filter(|_| self.run.source.hashes_blobs()),
            }),
        );
        if kind == EntryKind::File && source.is_none() {
            session.report(&PluginError::Corrupt {
                offset: None,
                what: format!("{label}: the fileID is not 40 hex digits, so its content cannot be located; not extracted"),
            });
            return None;
        }
        let blob = source.map(|s| (s, present));
        Some(Item {
            name,
            meta,
            blob,
            wrapped_key: if encrypted { mb.encryption_key } else { None },
            size: mb.size,
            label,
        })
    }

    /// Streams a file from its blob (decrypting it when it has a key).
    fn copy(&self, item: &Item, source: &str, buf: &mut [u8]) -> Result<(), PluginError> {
        let session = self.session();
        let key = match (&item.wrapped_key, self.keys) {
            (Some(wrapped), Some(keys)) => match keys.unwrap_key(wrapped) {
                Ok(key) => Some(key),
                Err(e) => {
                    let what = match e {
                        KeybagError::Corrupt(w) | KeybagError::Unsupported(w) => w,
                        KeybagError::WrongPassword => "wrong key".into(),
                    };
                    session.report(&PluginError::Corrupt {
                        offset: None,
                        what: format!(
                            "{}: its EncryptionKey cannot be unwrapped: {what}; not extracted",
                            item.label
                        ),
                    });
                    return Ok(());
                }
            },
            _ => None,
        };
        // The blob's reader ends (with `with_file`) before the output does:
        // the host then knows the blob was read whole, and can record its
        // hash with it.
        let opened = self.run.source.with_file(source, |mut src| {
            let mut out = session.begin(&item.name, &item.meta)?;
            let copied = match key {
                None => stream_plain(session, &mut src, &mut out, buf),
                Some(key) => stream_decrypted(session, &mut src, &mut out, buf, &key, item.size),
            };
            Ok::<_, PluginError>((out, copied))
        });
        let (out, copied) = match opened {
            Ok(done) => done?,
            Err(PluginError::Cancelled) => return Err(PluginError::Cancelled),
            Err(err) => {
                session.report(&PluginError::Io {
                    offset: None,
                    what: format!("{}: cannot open its content {source}: {err}", item.label),
                });
                return Ok(());
            }
        };
        let (copied, problem) = match copied {
            Ok(copied) => (copied, None),
            Err(Stream::Host(err)) => return Err(err),
            Err(Stream::Read(copied, e)) => {
                let err = PluginError::from(e);
                if err == PluginError::Cancelled {
                    let _ = out.fail(Status::CANCELLED, "cancelled");
                    return Err(err);
                }
                (
                    copied,
                    Some((
                        Status::IO,
                        format!("read failed at offset {copied:#x} of {source}: {err}"),
                    )),
                )
            }
            Err(Stream::Short(copied, what)) => (copied, Some((Status::CORRUPT, what))),
        };
        if let Some((status, note)) = problem {
            let note = format!("{}: {note}", item.label);
            out.fail(status, &note)?;
            session.report(&PluginError::Corrupt {
                offset: None,
                what: note,
            });
            return Ok(());
        }
        if let Some(size) = item.size.filter(|&s| s != copied) {
            let note = format!(
                "{}: the manifest says {size} bytes, its content {source} holds {copied}",
                item.label
            );
            if copied < size {
                // A blob shorter than its manifest entry was cut: what it
                // holds is kept, never passed off as the whole file.
                out.fail(Status::CORRUPT, &note)?;
                session.report(&PluginError::Corrupt {
                    offset: None,
                    what: note,
                });
                return Ok(());
            }
            out.finish()?;
            session.warn(None, &note);
            return Ok(());
        }
        out.finish()
    }
}

/// Why streaming a file stopped early.
enum Stream {
    /// The host refused a write (or cancelled): ends the run.
    Host(PluginError),
    /// Reading the blob failed after this many bytes were delivered.
    Read(u64, io::Error),
    /// The blob is damaged (not whole blocks, shorter than declared).
    Short(u64, String),
}

fn read_some(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn stream_plain(
    session: &Session<'_>,
    src: &mut impl Read,
    out: &mut exhibit_plugin_sdk::OutputFile<'_>,
    buf: &mut [u8],
) -> Result<u64, Stream> {
    let mut copied = 0u64;
    loop {
        session.check_cancelled().map_err(Stream::Host)?;
        let n = match read_some(src, buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) => return Err(Stream::Read(copied, e)),
        };
        out.write_bytes(buf.get(..n).unwrap_or_default())
            .map_err(Stream::Host)?;
        copied = copied.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

/// Fills `buf` as far as the source allows; returns how much was read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0usize;
    while filled < buf.len() {
        match read_some(src, buf.get_mut(filled..).unwrap_or_default())? {
            0 => break,
            n => filled = filled.saturating_add(n),
        }
    }
    Ok(filled)
}

/// Decrypts AES-256-CBC (zero IV) as it streams, delivering the first
/// `size` plaintext bytes (the rest is padding).
fn stream_decrypted(
    session: &Session<'_>,
    src: &mut impl Read,
    out: &mut exhibit_plugin_sdk::OutputFile<'_>,
    buf: &mut [u8],
    key: &[u8; 32],
    size: Option<u64>,
) -> Result<u64, Stream> {
    let mut cipher = cbc::Decryptor::<Aes256>::new(key.into(), &[0u8; 16].into());
    let mut delivered = 0u64;
    let mut read_total = 0u64;
    let limit = size.unwrap_or(u64::MAX);
    loop {
        session.check_cancelled().map_err(Stream::Host)?;
        let n = read_full(src, buf).map_err(|e| Stream::Read(delivered, e))?;
        read_total = read_total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if n == 0 {
            break;
        }
        let whole = n.saturating_sub(n % 16);
        let Some(chunk) = buf.get_mut(..whole) else {
            break;
        };
        cipher.decrypt_blocks_inout_mut(InOutBuf::from(&mut *chunk).into_chunks::<U16>().0);
        let left = limit.saturating_sub(delivered);
        let take = usize::try_from(left).map_or(whole, |l| l.min(whole));
        out.write_bytes(chunk.get(..take).unwrap_or_default())
            .map_err(Stream::Host)?;
        delivered = delivered.saturating_add(u64::try_from(take).unwrap_or(u64::MAX));
        if n % 16 != 0 {
            return Err(Stream::Short(
                delivered,
                format!(
                    "encrypted content of {read_total} bytes is not a whole number of aes blocks (cut short?)"
                ),
            ));
        }
        if n < buf.len() {
            break;
        }
    }
    if let Some(size) = size
        && delivered < size
    {
        return Err(Stream::Short(
            delivered,
            format!(
                "encrypted content of {read_total} bytes is shorter than the {size} bytes the manifest declares"
            ),
        ));
    }
    Ok(delivered)
}

/// A `Manifest.mbdb` record as an item.
fn mbdb_item(r: MbdbRecord, present: bool, hashed: bool) -> Option<Item> {
    let name = entry_name(&r.domain, &r.path);
    let id = file_id(&r.domain, &r.path);
    let label = format!("{} (fileID {id})", lossy(&name));
    let kind = match r.kind() {
        ModeKind::File => EntryKind::File,
        ModeKind::Dir => EntryKind::Dir,
        ModeKind::Symlink => EntryKind::Symlink,
        ModeKind::Other(_) => EntryKind::Other,
    };
    let mut meta = EntryMeta::new(kind);
    meta.mode = Some(u32::from(r.mode));
    meta.uid = Some(u64::from(r.uid));
    meta.gid = Some(u64::from(r.gid));
    meta.mtime = Some(Time::from_secs(i64::from(r.mtime)));
    meta.atime = Some(Time::from_secs(i64::from(r.atime)));
    meta.ctime = Some(Time::from_secs(i64::from(r.ctime)));
    if kind == EntryKind::File {
        meta.size = Some(r.size);
    }
    if kind == EntryKind::Symlink {
        meta.link_target = Some(RawBytes(r.link_target.clone()));
    }
    let properties: serde_json::Map<String, Value> = r
        .properties
        .iter()
        .map(|(k, v)| {
            let value = match std::str::from_utf8(v) {
                Ok(text) => json!(text),
                Err(_) => json!({ "hex": to_hex(v) }),
            };
            (lossy(k), value)
        })
        .collect();
    let source = (kind == EntryKind::File).then(|| id.clone());
    let mut extra = json!({
        "domain": lossy(&r.domain),
        "relative_path": lossy(&r.path),
        "file_id": id,
        "inode": r.inode,
        "protection_class": r.protection_class,
        "encrypted": false,
        "source": source.as_ref().filter(|_| hashed),
        "manifest_offset": r.offset,
    });
    if !r.data_hash.is_empty() {
        extra["data_sha1"] = json!(to_hex(&r.data_hash));
    }
    if !properties.is_empty() {
        extra["properties"] = Value::Object(properties);
    }
    meta.extra.insert("ios_backup".into(), extra);
    Some(Item {
        name,
        meta,
        blob: source.map(|s| (s, present)),
        wrapped_key: None,
        size: (kind == EntryKind::File).then_some(r.size),
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(name: &[u8]) -> u8 {
        IosBackup.probe(&Probe {
            head: b"",
            name,
            size: 0,
            is_dir: true,
        })
    }

    #[test]
    fn a_folder_holding_a_manifest_is_certain() {
        for head in [
            &b"00/\nInfo.plist\nManifest.db\n"[..],
            b"Manifest.mbdb\nab\n",
        ] {
            let p = Probe {
                head,
                name: b"/cases/renamed",
                size: 0,
                is_dir: true,
            };
            assert_eq!(IosBackup.probe(&p), 100);
        }
        let p = Probe {
            head: b"Manifest.dbx\nnotes.txt\n",
            name: b"/cases/renamed",
            size: 0,
            is_dir: true,
        };
        assert_eq!(IosBackup.probe(&p), 0);
    }

    #[test]
    fn probe_scores() {
        assert_eq!(probe(b"/cases/00008030-001A2B3C4D5E6F70"), 60);
        assert_eq!(
            probe(b"/cases/0123456789abcdef0123456789abcdef01234567/"),
            60
        );
        assert_eq!(
            probe(b"/Users/x/Library/Application Support/MobileSync/Backup/phone"),
            60
        );
        assert_eq!(probe(b"/cases/sdcard"), 0);
        assert_eq!(
            IosBackup.probe(&Probe {
                head: b"",
                name: b"00008030-001A2B3C4D5E6F70",
                size: 3,
                is_dir: false,
            }),
            0
        );
    }

    #[test]
    fn file_ids() {
        // sha1("HomeDomain-Library/SMS/sms.db"), the well-known SMS database.
        assert_eq!(
            file_id(b"HomeDomain", b"Library/SMS/sms.db"),
            "3d0d7e5fb2ce288813306e4d4636395e047a3d28"
        );
        assert_eq!(
            blob_path("3d0d7e5fb2ce288813306e4d4636395e047a3d28"),
            "3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28"
        );
        assert!(!valid_file_id("../../etc/passwd"));
    }
}
