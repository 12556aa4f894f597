//! The `ios_backup` input: one byte choosing a [`Mode`], then the bytes that
//! mode uses. The plugin reads a backup folder, or a zip or tar holding one;
//! fuzzing a whole archive mostly exercises the archive index (and a zip's
//! CRC check throws away most mutated content), so most modes instead take a
//! fixed fixture backup (the skeleton), put the fuzz bytes in place of one of
//! the files the plugin parses, and hand it over as a tar, which checks no
//! content.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use exhibit_fixtures::{IOS_PASSWORD, IOS_UDID, IosBackupOptions, write_ios_backup};
use exhibit_plugin_sdk::testing::MemoryHost;

/// Which fixture backup a mode starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skeleton {
    /// iOS 10+ `Manifest.db`, not encrypted.
    Plain,
    /// iOS 10.2+ encrypted with [`IOS_PASSWORD`].
    Encrypted,
    /// iOS 5–9 `Manifest.mbdb`.
    Legacy,
}

/// What one fuzz input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The whole evidence (a zip or a tar); no password is offered.
    Archive,
    /// `skeleton` with `file` (relative to the backup root) replaced.
    Replace {
        /// The backup the file goes into.
        skeleton: Skeleton,
        /// The backup file the fuzz bytes become.
        file: &'static str,
    },
}

/// The modes the first byte picks from (modulo their count).
pub const MODES: [Mode; 7] = [
    Mode::Archive,
    Mode::Replace {
        skeleton: Skeleton::Plain,
        file: "Manifest.db",
    },
    Mode::Replace {
        skeleton: Skeleton::Plain,
        file: "Info.plist",
    },
    Mode::Replace {
        skeleton: Skeleton::Plain,
        file: "Manifest.plist",
    },
    Mode::Replace {
        skeleton: Skeleton::Plain,
        file: "Status.plist",
    },
    Mode::Replace {
        skeleton: Skeleton::Legacy,
        file: "Manifest.mbdb",
    },
    // The keybag and ManifestKey live in Manifest.plist.
    Mode::Replace {
        skeleton: Skeleton::Encrypted,
        file: "Manifest.plist",
    },
];

/// Rounds above which the password is withheld: the plugin accepts up to
/// 60 million PBKDF2 rounds, as real backups need, and deriving those takes
/// far longer than the fuzzer's timeout without being a bug.
const ROUNDS_WITH_PASSWORD: u32 = 1000;

/// A backup folder's files: (path relative to its root, bytes).
pub type Files = Vec<(String, Vec<u8>)>;

fn read_tree(root: &Path, dir: &Path, out: &mut Files) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            read_tree(root, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(&path)?));
        }
    }
    Ok(())
}

fn build(skeleton: Skeleton) -> Files {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("exhibit-fuzz-ios-{}-{n}", std::process::id()));
    let opts = match skeleton {
        Skeleton::Plain => IosBackupOptions::default(),
        Skeleton::Encrypted => IosBackupOptions {
            encrypted: Some(IOS_PASSWORD),
            legacy_mbdb: false,
        },
        Skeleton::Legacy => IosBackupOptions {
            encrypted: None,
            legacy_mbdb: true,
        },
    };
    write_ios_backup(&dir, opts).expect("the fixture backup is written");
    let root = dir.join(IOS_UDID);
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files).expect("the fixture backup is read back");
    let _ = std::fs::remove_dir_all(&dir);
    files
}

/// The files of `skeleton`, built once per process.
pub fn skeleton(skeleton: Skeleton) -> &'static Files {
    static PLAIN: OnceLock<Files> = OnceLock::new();
    static ENCRYPTED: OnceLock<Files> = OnceLock::new();
    static LEGACY: OnceLock<Files> = OnceLock::new();
    let cell = match skeleton {
        Skeleton::Plain => &PLAIN,
        Skeleton::Encrypted => &ENCRYPTED,
        Skeleton::Legacy => &LEGACY,
    };
    cell.get_or_init(|| build(skeleton))
}

/// `files` as a tar under `<UDID>/`, as a backup folder is usually archived.
pub fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(u64::try_from(bytes.len()).expect("a file fits in u64"));
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, format!("{IOS_UDID}/{name}"), bytes.as_slice())
            .expect("appending to a Vec cannot fail");
    }
    builder.into_inner().expect("finishing a Vec cannot fail")
}

/// Whether the keybag in the property list `manifest` asks for few enough
/// PBKDF2 rounds to offer the password (anything unreadable is fine: the
/// plugin rejects it before deriving).
fn cheap_keybag(manifest: &[u8]) -> bool {
    let Ok(plist::Value::Dictionary(dict)) =
        plist::Value::from_reader(std::io::Cursor::new(manifest))
    else {
        return true;
    };
    let Some(keybag) = dict.get("BackupKeyBag").and_then(plist::Value::as_data) else {
        return true;
    };
    let mut rest = keybag;
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        let (tag, len) = head.split_at(4);
        let len = len
            .try_into()
            .map(u32::from_be_bytes)
            .ok()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        let Some((value, after)) = tail.split_at_checked(len) else {
            return true;
        };
        if tag == b"ITER" || tag == b"DPIC" {
            let rounds = <[u8; 4]>::try_from(value).map(u32::from_be_bytes);
            if rounds.is_ok_and(|r| r > ROUNDS_WITH_PASSWORD) {
                return false;
            }
        }
        rest = after;
    }
    true
}

/// The host for one fuzz input, or `None` for the empty input.
pub fn host(data: &[u8]) -> Option<MemoryHost> {
    let (&pick, rest) = data.split_first()?;
    let mode = MODES.get(usize::from(pick) % MODES.len()).copied()?;
    let Mode::Replace {
        skeleton: which,
        file,
    } = mode
    else {
        return Some(MemoryHost::file("backup", rest.to_vec()));
    };
    let mut files = skeleton(which).clone();
    match files.iter_mut().find(|(name, _)| name == file) {
        Some((_, bytes)) => *bytes = rest.to_vec(),
        None => files.push((file.to_owned(), rest.to_vec())),
    }
    let host = MemoryHost::file("backup.tar", tar_of(&files));
    Some(if which == Skeleton::Encrypted && cheap_keybag(rest) {
        host.with_password(IOS_PASSWORD)
    } else {
        host
    })
}

/// The fuzz input of `mode` (one of [`MODES`]) carrying `bytes`.
pub fn seed(mode: Mode, bytes: &[u8]) -> Vec<u8> {
    let pick = MODES
        .iter()
        .position(|m| *m == mode)
        .and_then(|i| u8::try_from(i).ok())
        .expect("the mode is one of MODES");
    let mut seed = vec![pick];
    seed.extend_from_slice(bytes);
    seed
}
