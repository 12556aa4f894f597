//! Writes a synthetic, deterministic Android full-file-system dump as `ffs.tar` and `ffs.zip`
//! (the same tree in both), for `bench/run.sh`, and on request the same files as an adb backup,
//! `ffs.ab` (`--formats ab`, optionally `--ab-password`).
//!
//! The tree imitates a phone's `/data`: many small compressible files (SQLite-like databases,
//! shared-preference XML, JSON caches, logs), some medium files (photos, APKs, big databases)
//! and a few 50–200 MiB incompressible videos. Everything is derived from `--seed`, so two runs
//! with the same `--size` and `--seed` write byte-identical dumps. Contents are generated while
//! they are written: the dump is never held in memory.
//!
//! The adb backup lays the tree out as `adb backup -all -shared` would (see
//! `exhibit_fixtures::adb`): one `apps/<package>/` per app, its `_manifest` first, then `a`
//! (APK), `r`, `f`, `db`, `sp` and `ef`, each directory before its contents; `data/media/0`
//! becomes `shared/0`, last. `data/system` and `data/misc` are left out (adb backups do not
//! carry them); app caches are kept, in `r`, for volume. The stream is compressed like Android's
//! (zlib level 9, a sync flush after every package) and, with a password, AES-256 encrypted,
//! written as it is generated. `ab-manifest.tsv` lists its files (size, kind, tar path). At
//! `--size 512M` it is about 400 MiB with some 5000 files.
//!
//! `--formats ios` writes the same files as an iTunes/Finder backup folder, `ios/<UDID>/`, in
//! the iOS 10+ layout (see `exhibit_fixtures::ios` and [`write_ios`]): app data goes to
//! `AppDomain-<package>`, camera pictures and videos to `CameraRollDomain/Media/DCIM`, the rest
//! of shared storage to `MediaDomain/Media`, everything else to `HomeDomain/Library`; the
//! fixture's own entries (real `sms.db`, `AddressBook.sqlitedb`, `CallHistory.storedata`…) come
//! along. With `--ios-password` the backup is encrypted as iTunes does (keybag, per-file keys,
//! AES-256-CBC), but with the fixture's small PBKDF2 round counts (10 and 10 rather than
//! 10,000,000 and 10,000): the key derivation runs once per backup and is not what the
//! benchmark measures. Contents are encrypted as they are generated. `ios-manifest.tsv` lists
//! the backup's files (size, fileID, domain, relativePath).
//!
//! The hidden `--sha256 FILE` mode hashes one file on one thread with the `sha2` crate, the
//! implementation exhibit uses, so `run.sh` can compare it with `openssl dgst -sha256`.

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Share of the bytes in small files (0.5–64 KiB). With a mean of ~13 KiB this gives about
/// 20 000 small files in a 2 GiB dump.
const SMALL_SHARE: f64 = 0.125;
/// Share of the bytes in medium files (0.1–4 MiB); the rest is in 50–200 MiB media files.
const MEDIUM_SHARE: f64 = 0.25;

/// Modification times fall between 2023-01-01 and 2025-07-01 (UTC).
const MTIME_FROM: u64 = 1_672_531_200;
const MTIME_TO: u64 = 1_751_328_000;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Write a synthetic Android full-file-system dump as tar and zip"
)]
struct Args {
    /// Total size of the file contents: 2G, 512M, 256MiB, 1.5G... (binary units)
    #[arg(long, default_value = "2G", value_parser = parse_size)]
    size: u64,
    /// Folder to write ffs.tar, ffs.zip and manifest.tsv into (created if missing)
    #[arg(long, value_name = "DIR", required_unless_present = "sha256")]
    out: Option<PathBuf>,
    /// Seed of the pseudo-random tree and contents
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Which dumps to write: tar, zip, ab (adb backup), ios (iTunes backup folder)
    #[arg(long, value_delimiter = ',', default_value = "tar,zip")]
    formats: Vec<Format>,
    /// Encrypt ffs.ab (AES-256, as `adb backup` does with a password)
    #[arg(long, value_name = "PASSWORD")]
    ab_password: Option<String>,
    /// Encrypt the iTunes backup (`--formats ios`) with this password
    #[arg(long, value_name = "PASSWORD")]
    ios_password: Option<String>,
    /// Hash FILE with SHA-256 on one thread (sha2 crate) and print `<hex>  FILE`
    #[arg(long, hide = true, value_name = "FILE")]
    sha256: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Tar,
    Zip,
    Ab,
    Ios,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(file) = &args.sha256 {
        return sha256_file(file);
    }
    let out = args.out.context("--out is required")?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let started = Instant::now();
    let tree = plan(args.size, args.seed);
    write_manifest(&out.join("manifest.tsv"), &tree)?;
    let (files, bytes) = (
        tree.files.len(),
        tree.files.iter().map(|f| f.size).sum::<u64>(),
    );
    eprintln!(
        "dumpgen: {files} files ({} small, {} medium, {} media), {} directories, {:.1} MiB of contents, seed {}",
        tree.count(Class::Small),
        tree.count(Class::Medium),
        tree.count(Class::Media),
        tree.dirs.len(),
        bytes as f64 / MIB as f64,
        args.seed
    );

    let want_tar = args.formats.contains(&Format::Tar);
    let want_zip = args.formats.contains(&Format::Zip);
    let want_ab = args.formats.contains(&Format::Ab);
    let want_ios = args.formats.contains(&Format::Ios);
    // The dumps are written side by side: the zip's and the backup's deflate are the slow part.
    let summaries = std::thread::scope(|scope| -> Result<Vec<String>> {
        let tar_job = want_tar.then(|| scope.spawn(|| write_tar(&out.join("ffs.tar"), &tree)));
        let ab_job =
            want_ab.then(|| scope.spawn(|| write_ab(&out, &tree, args.ab_password.as_deref())));
        let ios_job =
            want_ios.then(|| scope.spawn(|| write_ios(&out, &tree, args.ios_password.as_deref())));
        if want_zip {
            write_zip(&out.join("ffs.zip"), &tree)?;
        }
        if let Some(job) = tar_job {
            match job.join() {
                Ok(result) => result?,
                Err(_) => bail!("the tar writer panicked"),
            }
        }
        let mut summaries = Vec::new();
        for (job, what) in [(ab_job, "adb backup"), (ios_job, "iTunes backup")] {
            match job.map(|job| job.join()) {
                None => {}
                Some(Ok(result)) => summaries.push(result?),
                Some(Err(_)) => bail!("the {what} writer panicked"),
            }
        }
        Ok(summaries)
    })?;

    let secs = started.elapsed().as_secs_f64();
    for summary in summaries {
        eprintln!("dumpgen: {summary}");
    }
    for (want, name) in [
        (want_tar, "ffs.tar"),
        (want_zip, "ffs.zip"),
        (want_ab, "ffs.ab"),
    ] {
        if want {
            let len = std::fs::metadata(out.join(name))?.len();
            eprintln!("dumpgen: {name} {:.1} MiB", len as f64 / MIB as f64);
        }
    }
    eprintln!(
        "dumpgen: done in {secs:.1} s ({:.0} MB/s of contents)",
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

/// Parses `2G`, `512M`, `256MiB`, `1.5G`, `1048576` into bytes (binary units).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a size such as 2G or 512M"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        "t" | "tb" | "tib" => GIB << 10,
        other => return Err(format!("`{text}`: unknown unit `{other}`")),
    };
    let bytes = (number * scale as f64).round();
    if bytes.is_nan() || bytes < MIB as f64 {
        return Err(format!("`{text}`: the size must be at least 1M"));
    }
    Ok(bytes as u64)
}

/// Single-threaded SHA-256 of one file, as exhibit computes it (sha2 0.10, which picks the
/// SHA-NI code path at run time when the CPU has it).
fn sha256_file(path: &Path) -> Result<()> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    println!("{}  {}", hex::encode(hasher.finalize()), path.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pseudo-random numbers

/// wyrand: one multiply per 64 bits, several GB/s, good enough for benchmark data.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // One splitmix64 round so that nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng(z ^ (z >> 31))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0).wrapping_mul(u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db));
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `lo..hi` (hi exclusive, hi > lo).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform in `lo..hi`: many small values, a long tail of large ones.
    fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
        ((a + self.unit() * (b - a)).exp() as u64).clamp(lo, hi)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

// ---------------------------------------------------------------------------------------------
// The tree

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Small,
    Medium,
    Media,
}

/// What a file's bytes look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Xml,
    Json,
    Log,
    Jpeg,
    Mp4,
    Apk,
    Pdf,
}

impl Kind {
    /// Text-like contents, deflated in the zip; the others are stored, as phone dumps do.
    fn compressible(self) -> bool {
        matches!(self, Kind::Sqlite | Kind::Xml | Kind::Json | Kind::Log)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Xml => "xml",
            Kind::Json => "json",
            Kind::Log => "log",
            Kind::Jpeg => "jpeg",
            Kind::Mp4 => "mp4",
            Kind::Apk => "apk",
            Kind::Pdf => "pdf",
        }
    }
}

struct FileEntry {
    path: String,
    size: u64,
    kind: Kind,
    class: Class,
    seed: u64,
    mtime: u64,
    uid: u64,
}

struct DirEntry {
    path: String,
    mtime: u64,
    uid: u64,
}

/// One member of the dump, in writing order.
enum Item {
    Dir(usize),
    File(usize),
}

struct Tree {
    files: Vec<FileEntry>,
    dirs: Vec<DirEntry>,
    order: Vec<Item>,
}

impl Tree {
    fn count(&self, class: Class) -> usize {
        self.files.iter().filter(|f| f.class == class).count()
    }
}

const KNOWN_APPS: &[&str] = &[
    "com.whatsapp",
    "com.android.providers.telephony",
    "com.android.providers.contacts",
    "com.android.providers.media.module",
    "com.google.android.gms",
    "com.google.android.gm",
    "com.google.android.apps.maps",
    "com.google.android.apps.photos",
    "com.google.android.youtube",
    "com.android.chrome",
    "org.telegram.messenger",
    "org.thoughtcrime.securesms",
    "com.facebook.katana",
    "com.facebook.orca",
    "com.instagram.android",
    "com.snapchat.android",
    "com.zhiliaoapp.musically",
    "com.twitter.android",
    "com.spotify.music",
    "com.ubercab",
    "com.skype.raider",
    "com.viber.voip",
    "com.discord",
    "com.samsung.android.messaging",
];

const VENDORS: &[&str] = &[
    "acme", "bluebird", "cobalt", "delta", "ember", "falcon", "granite", "harbor", "indigo",
    "juniper", "kestrel", "lumen", "meridian", "nimbus", "orbit", "pioneer",
];

const WORDS: &[&str] = &[
    "ok",
    "see",
    "you",
    "tomorrow",
    "at",
    "the",
    "station",
    "call",
    "me",
    "when",
    "home",
    "send",
    "photo",
    "meeting",
    "lunch",
    "thanks",
    "yes",
    "no",
    "maybe",
    "later",
    "where",
    "are",
    "running",
    "late",
    "love",
    "good",
    "night",
    "morning",
    "address",
    "money",
    "transfer",
    "bank",
    "account",
    "password",
    "code",
    "verify",
    "delivery",
    "parcel",
    "today",
    "friday",
    "weekend",
    "car",
    "airport",
    "flight",
    "hotel",
    "booking",
    "ticket",
    "price",
    "deal",
    "cash",
    "phone",
    "number",
    "message",
    "group",
    "video",
    "link",
    "https://example.com/p/",
    "@gmail.com",
    "lol",
    "haha",
    "sorry",
    "please",
    "urgent",
    "done",
];

const DB_NAMES: &[&str] = &[
    "msgstore",
    "wa",
    "mmssms",
    "contacts2",
    "calllog",
    "history",
    "cache",
    "app_data",
    "main",
    "events",
    "accounts",
    "settings",
    "downloads",
    "media",
    "offline",
    "sync",
    "analytics",
    "notifications",
    "threads",
    "users",
];

const PREF_NAMES: &[&str] = &[
    "settings",
    "prefs",
    "account",
    "device",
    "session",
    "config",
    "flags",
    "notifications",
    "backup",
    "login",
    "experiments",
    "ads",
];

const WEBVIEW_FILES: &[&str] = &["Cookies", "History", "Web Data", "Login Data", "Top Sites"];

const SYSTEM_FILES: &[(&str, Kind)] = &[
    ("data/system/users/0/settings_secure.xml", Kind::Xml),
    ("data/system/users/0/settings_system.xml", Kind::Xml),
    ("data/system/packages.xml", Kind::Xml),
    ("data/system/usagestats/0/daily/", Kind::Xml),
    ("data/system/dropbox/", Kind::Log),
    ("data/misc/wifi/WifiConfigStore.xml", Kind::Xml),
    ("data/misc/bluetooth/logs/", Kind::Log),
    ("data/system_ce/0/", Kind::Sqlite),
];

/// Draws the whole tree from `seed`: sizes add up to `total` (give or take the last file).
fn plan(total: u64, seed: u64) -> Tree {
    let mut rng = Rng::new(seed);
    let small_budget = (total as f64 * SMALL_SHARE) as u64;
    let medium_budget = (total as f64 * MEDIUM_SHARE) as u64;
    let media_budget = total - small_budget - medium_budget;

    // About 40 apps plus one per 100 small files, like a phone with a few hundred packages.
    let expected_small = (small_budget / (13 * KIB)).max(1);
    let app_count = (40 + expected_small / 100) as usize;
    let mut apps: Vec<(String, u64)> = KNOWN_APPS
        .iter()
        .map(|a| a.to_string())
        .zip(10_000..)
        .collect();
    let mut n = 0u64;
    while apps.len() < app_count {
        let name = format!(
            "com.{}.{}{n}",
            rng.pick(VENDORS),
            rng.pick(WORDS)
                .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        );
        apps.push((name, 10_000 + apps.len() as u64));
        n += 1;
    }

    let mut files = Vec::new();
    let mut taken = HashSet::new();
    let mut add = |rng: &mut Rng, path: String, size: u64, kind: Kind, class: Class, uid: u64| {
        let path = unique(&mut taken, path);
        files.push(FileEntry {
            path,
            size,
            kind,
            class,
            seed: rng.next(),
            mtime: rng.range(MTIME_FROM, MTIME_TO),
            uid,
        });
    };

    // Media: 50–200 MiB incompressible videos; the last one takes what is left of the budget.
    let mut used = 0;
    while media_budget - used >= MIB {
        let size = rng.range(50 * MIB, 200 * MIB).min(media_budget - used);
        used += size;
        let when = stamp(rng.range(MTIME_FROM, MTIME_TO));
        let path = match rng.next() % 10 {
            0..7 => format!("data/media/0/DCIM/Camera/VID_{}_{}.mp4", when.0, when.1),
            7..9 => format!(
                "data/media/0/Android/media/com.whatsapp/WhatsApp/Media/WhatsApp Video/VID-{}-WA{:04}.mp4",
                when.0,
                rng.range(0, 10_000)
            ),
            _ => format!(
                "data/media/0/Movies/{}_{}.mp4",
                rng.pick(WORDS).trim_matches('@'),
                when.0
            ),
        };
        add(&mut rng, path, size, Kind::Mp4, Class::Media, 1023);
    }

    // Medium: 0.1–4 MiB photos, APKs, PDFs and big app databases.
    let mut used = 0;
    while used < medium_budget {
        let size = rng
            .log_range(100 * KIB, 4 * MIB)
            .min(medium_budget - used)
            .max(1);
        used += size;
        let when = stamp(rng.range(MTIME_FROM, MTIME_TO));
        let (app, uid) = rng.pick(&apps).clone();
        let (path, kind) = match rng.next() % 20 {
            0..7 => (
                format!("data/media/0/DCIM/Camera/IMG_{}_{}.jpg", when.0, when.1),
                Kind::Jpeg,
            ),
            7..11 => (
                format!(
                    "data/media/0/Android/media/com.whatsapp/WhatsApp/Media/WhatsApp Images/IMG-{}-WA{:04}.jpg",
                    when.0,
                    rng.range(0, 10_000)
                ),
                Kind::Jpeg,
            ),
            11..14 => (
                format!(
                    "data/app/~~{}==/{app}-{}==/base.apk",
                    token(&mut rng, 22),
                    token(&mut rng, 22)
                ),
                Kind::Apk,
            ),
            14..18 => (
                format!("data/data/{app}/databases/{}.db", rng.pick(DB_NAMES)),
                Kind::Sqlite,
            ),
            _ => (
                format!(
                    "data/media/0/Download/{}_{}.pdf",
                    rng.pick(WORDS).trim_matches('@'),
                    when.0
                ),
                Kind::Pdf,
            ),
        };
        add(&mut rng, path, size, kind, Class::Medium, uid);
    }

    // Small: 0.5–64 KiB, mostly app data.
    let mut used = 0;
    while used < small_budget {
        let size = rng.log_range(512, 64 * KIB).min(small_budget - used).max(1);
        used += size;
        let (app, uid) = rng.pick(&apps).clone();
        let (path, kind) = match rng.next() % 100 {
            0..28 => (
                format!("data/data/{app}/databases/{}.db", rng.pick(DB_NAMES)),
                Kind::Sqlite,
            ),
            28..33 => (
                format!("data/data/{app}/databases/{}.db-wal", rng.pick(DB_NAMES)),
                Kind::Sqlite,
            ),
            33..48 => (
                format!(
                    "data/data/{app}/shared_prefs/{app}_{}.xml",
                    rng.pick(PREF_NAMES)
                ),
                Kind::Xml,
            ),
            48..58 => (
                format!("data/data/{app}/files/{}.json", rng.pick(PREF_NAMES)),
                Kind::Json,
            ),
            58..76 => (
                format!(
                    "data/data/{app}/cache/http/{}.0",
                    token(&mut rng, 16).to_ascii_lowercase()
                ),
                Kind::Json,
            ),
            76..80 => (
                format!(
                    "data/data/{app}/app_webview/Default/{}",
                    rng.pick(WEBVIEW_FILES)
                ),
                Kind::Sqlite,
            ),
            80..88 => (
                format!(
                    "data/media/0/Android/data/{app}/files/{}.log",
                    rng.pick(PREF_NAMES)
                ),
                Kind::Log,
            ),
            88..94 => {
                let (base, kind) = *rng.pick(SYSTEM_FILES);
                let path = if base.ends_with('/') {
                    format!(
                        "{base}{}@{}.txt",
                        rng.pick(PREF_NAMES),
                        rng.range(MTIME_FROM, MTIME_TO) * 1000
                    )
                } else {
                    base.to_string()
                };
                (path, kind)
            }
            _ => (
                format!(
                    "data/media/0/DCIM/.thumbnails/{}.jpg",
                    rng.range(1_000_000, 9_999_999)
                ),
                Kind::Jpeg,
            ),
        };
        let uid = if path.starts_with("data/data/") {
            uid
        } else {
            1000
        };
        add(&mut rng, path, size, kind, Class::Small, uid);
    }

    files.sort_by(|a, b| a.path.cmp(&b.path));

    // Writing order: each directory right before the first member beneath it.
    let mut dirs = Vec::new();
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for (index, file) in files.iter().enumerate() {
        for (cut, _) in file.path.match_indices('/') {
            let dir = &file.path[..cut];
            if seen.insert(dir.to_string()) {
                order.push(Item::Dir(dirs.len()));
                dirs.push(DirEntry {
                    path: dir.to_string(),
                    mtime: rng.range(MTIME_FROM, MTIME_TO),
                    // An app's own folders belong to the app, the rest to `system`.
                    uid: if dir.starts_with("data/data/") && dir.matches('/').count() >= 2 {
                        file.uid
                    } else {
                        1000
                    },
                });
            }
        }
        order.push(Item::File(index));
    }
    Tree { files, dirs, order }
}

/// Makes `path` unique among the files (and never a prefix folder of one) by adding ` (n)`
/// before the extension: a duplicate would make exhibit warn and exit 2.
fn unique(taken: &mut HashSet<String>, path: String) -> String {
    if taken.insert(path.clone()) {
        return path;
    }
    let slash = path.rfind('/').map_or(0, |i| i + 1);
    let dot = path[slash..]
        .rfind('.')
        .filter(|&i| i > 0)
        .map_or(path.len(), |i| slash + i);
    let mut n = 2;
    loop {
        let candidate = format!("{}-{n}{}", &path[..dot], &path[dot..]);
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// `YYYYMMDD` and `HHMMSS` of a Unix time (UTC), as camera file names spell them.
fn stamp(secs: u64) -> (String, String) {
    let (y, m, d, hh, mm, ss) = civil(secs);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{hh:02}{mm:02}{ss:02}"),
    )
}

/// Calendar date and time of a Unix time (UTC), after Howard Hinnant's `civil_from_days`.
fn civil(secs: u64) -> (u16, u8, u8, u8, u8, u8) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y as u16,
        m as u8,
        d as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
}

/// `len` characters of base64url-like text, as in APK install folders.
fn token(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| ALPHABET[(rng.next() % 64) as usize] as char)
        .collect()
}

fn write_manifest(path: &Path, tree: &Tree) -> Result<()> {
    let mut out =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(out, "size\tkind\tpath")?;
    for file in &tree.files {
        writeln!(out, "{}\t{}\t{}", file.size, file.kind.name(), file.path)?;
    }
    out.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Contents

/// Streams one file's bytes, generated on the fly from its seed.
struct Content {
    kind: Kind,
    rng: Rng,
    remaining: u64,
    /// Generated but not yet handed out (headers, text lines, SQLite pages).
    pending: Vec<u8>,
    pos: usize,
    counter: u64,
}

impl Content {
    fn new(file: &FileEntry) -> Self {
        let mut content = Content {
            kind: file.kind,
            rng: Rng::new(file.seed),
            remaining: file.size,
            pending: Vec::with_capacity(8 * KIB as usize),
            pos: 0,
            counter: 0,
        };
        content.header();
        content
    }

    /// The first bytes a real file of this kind starts with.
    fn header(&mut self) {
        let p = &mut self.pending;
        match self.kind {
            Kind::Mp4 => p.extend_from_slice(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41"),
            Kind::Jpeg => p.extend_from_slice(b"\xff\xd8\xff\xe1\x10\x00Exif\0\0MM\0\x2a"),
            Kind::Apk => p.extend_from_slice(b"PK\x03\x04\x14\0\0\0\x08\0"),
            Kind::Pdf => p.extend_from_slice(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
            Kind::Xml => p.extend_from_slice(
                b"<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n",
            ),
            Kind::Sqlite | Kind::Json | Kind::Log => {}
        }
    }

    /// Fills `buf` (up to the bytes left) and returns how many bytes it wrote.
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < want {
            if self.pos == self.pending.len() {
                self.pending.clear();
                self.pos = 0;
                if !self.kind.compressible() {
                    // Incompressible: straight from the generator, no copy.
                    self.rng.fill(&mut buf[done..want]);
                    done = want;
                    break;
                }
                self.unit();
            }
            let n = (self.pending.len() - self.pos).min(want - done);
            buf[done..done + n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
        self.remaining -= done as u64;
        done
    }

    /// Appends the next unit of text-like contents to `pending`.
    fn unit(&mut self) {
        self.counter += 1;
        let n = self.counter;
        let ts = MTIME_FROM * 1000 + self.rng.next() % ((MTIME_TO - MTIME_FROM) * 1000);
        match self.kind {
            Kind::Sqlite => self.sqlite_page(),
            Kind::Xml => {
                let key = *self.rng.pick(PREF_NAMES);
                self.pending
                    .extend_from_slice(format!("    <string name=\"{key}_{n}\">").as_bytes());
                self.words(3 + (n % 9) as usize);
                self.pending.extend_from_slice(b"</string>\n");
                if n.is_multiple_of(4) {
                    self.pending.extend_from_slice(
                        format!("    <long name=\"last_{key}\" value=\"{ts}\" />\n").as_bytes(),
                    );
                }
            }
            Kind::Json => {
                let phone = 447_700_000_000 + self.rng.next() % 99_999_999;
                self.pending.extend_from_slice(
                    format!("{{\"id\":{n},\"ts\":{ts},\"from\":\"+{phone}\",\"body\":\"")
                        .as_bytes(),
                );
                self.words(4 + (n % 13) as usize);
                self.pending.extend_from_slice(
                    format!("\",\"read\":{}}}\n", !n.is_multiple_of(3)).as_bytes(),
                );
            }
            Kind::Log => {
                let (y, mo, d, h, mi, s) = civil(ts / 1000);
                let pid = 1000 + self.rng.next() % 30_000;
                self.pending.extend_from_slice(
                    format!(
                        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:03} {pid:5} {:5} I {}: ",
                        ts % 1000,
                        pid + n % 7,
                        self.rng.pick(DB_NAMES)
                    )
                    .as_bytes(),
                );
                self.words(5 + (n % 11) as usize);
                self.pending.push(b'\n');
            }
            Kind::Jpeg | Kind::Mp4 | Kind::Apk | Kind::Pdf => {}
        }
    }

    /// `count` words separated by spaces.
    fn words(&mut self, count: usize) {
        let mut bits = 0u64;
        for i in 0..count {
            if i % 10 == 0 {
                bits = self.rng.next();
            }
            if i > 0 {
                self.pending.push(b' ');
            }
            self.pending
                .extend_from_slice(WORDS[(bits & 63) as usize % WORDS.len()].as_bytes());
            bits >>= 6;
        }
    }

    /// A 4 KiB SQLite-like page: a binary page header, text rows and free space (zeros).
    fn sqlite_page(&mut self) {
        const PAGE: usize = 4096;
        let start = self.pending.len();
        if self.counter == 1 {
            self.pending
                .extend_from_slice(b"SQLite format 3\0\x10\0\x01\x01\0@  ");
            self.pending.resize(start + 100, 0);
        }
        self.pending.push(0x0d);
        let head = self.rng.next().to_le_bytes();
        self.pending.extend_from_slice(&head[..7]);
        // Fill 40–90 % of the page with rows.
        let fill = PAGE * (40 + (self.rng.next() % 51) as usize) / 100;
        while self.pending.len() - start < fill {
            let row = self.rng.next();
            self.pending.extend_from_slice(&row.to_le_bytes()[..3]);
            let phone = 447_700_000_000 + row % 99_999_999;
            self.pending
                .extend_from_slice(format!("+{phone}\x01{}", row >> 20).as_bytes());
            self.words(2 + (row % 12) as usize);
        }
        self.pending.truncate(start + PAGE);
        self.pending.resize(start + PAGE, 0);
    }
}

impl Read for Content {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

// ---------------------------------------------------------------------------------------------
// Writers

fn write_tar(path: &Path, tree: &Tree) -> Result<()> {
    let tmp = path.with_extension("tar.part");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(MIB as usize, file));
    for item in &tree.order {
        let mut header = tar::Header::new_gnu();
        match *item {
            Item::Dir(i) => {
                let dir = &tree.dirs[i];
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o771);
                set_owner(&mut header, dir.uid, dir.mtime)?;
                builder.append_data(&mut header, format!("{}/", dir.path), io::empty())?;
            }
            Item::File(i) => {
                let file = &tree.files[i];
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(file.size);
                header.set_mode(0o660);
                set_owner(&mut header, file.uid, file.mtime)?;
                builder
                    .append_data(&mut header, &file.path, Content::new(file))
                    .with_context(|| format!("tar: writing {}", file.path))?;
            }
        }
    }
    let writer = builder.into_inner()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn set_owner(header: &mut tar::Header, uid: u64, mtime: u64) -> Result<()> {
    header.set_uid(uid);
    header.set_gid(uid);
    header.set_mtime(mtime);
    let user = if uid >= 10_000 {
        format!("u0_a{}", uid - 10_000)
    } else {
        "system".to_string()
    };
    header.set_username(&user)?;
    header.set_groupname(&user)?;
    Ok(())
}

fn write_zip(path: &Path, tree: &Tree) -> Result<()> {
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, DateTime};

    let tmp = path.with_extension("zip.part");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut zip =
        zip::ZipWriter::new(BufWriter::with_capacity(MIB as usize, file)).set_auto_large_file();
    let time = |secs: u64| -> Result<DateTime> {
        let (y, m, d, hh, mm, ss) = civil(secs);
        Ok(DateTime::from_date_and_time(y, m, d, hh, mm, ss)?)
    };
    let mut buf = vec![0u8; 256 * KIB as usize];
    for item in &tree.order {
        match *item {
            Item::Dir(i) => {
                let dir = &tree.dirs[i];
                let options = SimpleFileOptions::default()
                    .last_modified_time(time(dir.mtime)?)
                    .unix_permissions(0o771);
                zip.add_directory(format!("{}/", dir.path), options)?;
            }
            Item::File(i) => {
                let file = &tree.files[i];
                let method = if file.kind.compressible() {
                    CompressionMethod::Deflated
                } else {
                    CompressionMethod::Stored
                };
                let options = SimpleFileOptions::default()
                    .compression_method(method)
                    .last_modified_time(time(file.mtime)?)
                    .unix_permissions(0o660)
                    .large_file(file.size >= 0xffff_ffff);
                zip.start_file(file.path.as_str(), options)
                    .with_context(|| format!("zip: starting {}", file.path))?;
                let mut content = Content::new(file);
                loop {
                    let n = content.fill(&mut buf);
                    if n == 0 {
                        break;
                    }
                    zip.write_all(&buf[..n])?;
                }
            }
        }
    }
    let writer = zip.finish()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// adb backup

/// Where a file of the tree goes in an adb backup: (package, or `None` for shared storage;
/// domain token; path below the domain). `None` for what adb backups do not carry.
fn ab_place(path: &str) -> Option<(Option<&str>, &'static str, &str)> {
    if let Some(rest) = path.strip_prefix("data/data/") {
        let (app, rest) = rest.split_once('/')?;
        let (domain, rel) = match rest.split_once('/') {
            Some(("databases", rel)) => ("db", rel),
            Some(("shared_prefs", rel)) => ("sp", rel),
            Some(("files", rel)) => ("f", rel),
            _ => ("r", rest),
        };
        return Some((Some(app), domain, rel));
    }
    if let Some(rest) = path.strip_prefix("data/media/0/") {
        if let Some(app_rest) = rest.strip_prefix("Android/data/") {
            let (app, rel) = app_rest.split_once('/')?;
            if let Some(rel) = rel.strip_prefix("files/") {
                return Some((Some(app), "ef", rel));
            }
        }
        return Some((None, "shared/0", rest));
    }
    if let Some(rest) = path.strip_prefix("data/app/") {
        // data/app/~~<token>==/<package>-<token>==/base.apk
        let mut parts = rest.split('/');
        let (_, dir, file) = (parts.next()?, parts.next()?, parts.next()?);
        let app = &dir[..dir.rfind('-')?];
        return Some((Some(app), "a", file));
    }
    None
}

/// Android's domain order: the APK first (before the agent runs), then
/// `BackupAgent.onFullBackup`'s order.
fn domain_rank(domain: &str) -> usize {
    [
        "a", "r", "d_r", "f", "d_f", "db", "d_db", "sp", "d_sp", "ef",
    ]
    .iter()
    .position(|d| *d == domain)
    .unwrap_or(usize::MAX)
}

struct AbItem {
    package: Option<String>,
    domain: &'static str,
    relpath: String,
    /// `None` for a directory.
    file: Option<usize>,
    mtime: u64,
    uid: u64,
}

/// Every entry of the backup in writing order, directories included.
fn ab_plan(tree: &Tree) -> Vec<AbItem> {
    let mut placed: Vec<(Option<String>, &'static str, String, usize)> = Vec::new();
    let mut taken = HashSet::new();
    for (i, f) in tree.files.iter().enumerate() {
        if let Some((package, domain, rel)) = ab_place(&f.path) {
            let package = package.map(str::to_string);
            // Two APK folders of one app both give `a/base.apk`: keep the paths unique.
            let prefix = format!("{}/{domain}/", package.as_deref().unwrap_or(""));
            let rel = unique(&mut taken, format!("{prefix}{rel}"))[prefix.len()..].to_string();
            placed.push((package, domain, rel, i));
        }
    }
    // Packages by name, shared storage last; domains in Android's order; paths depth-first.
    placed.sort_by(|a, b| {
        (a.0.is_none(), &a.0, domain_rank(a.1))
            .cmp(&(b.0.is_none(), &b.0, domain_rank(b.1)))
            .then_with(|| a.2.split('/').cmp(b.2.split('/')))
    });
    let mut items = Vec::with_capacity(placed.len() * 2);
    let mut dirs_seen = HashSet::new();
    for (package, domain, rel, i) in placed {
        let file = &tree.files[i];
        for (cut, _) in rel.match_indices('/') {
            let key = (package.clone(), domain, rel[..cut].to_string());
            if dirs_seen.insert(key) {
                items.push(AbItem {
                    package: package.clone(),
                    domain,
                    relpath: rel[..cut].to_string(),
                    file: None,
                    mtime: file.mtime,
                    uid: file.uid,
                });
            }
        }
        items.push(AbItem {
            package,
            domain,
            relpath: rel,
            file: Some(i),
            mtime: file.mtime,
            uid: file.uid,
        });
    }
    items
}

/// Writes `out/ffs.ab` and `out/ab-manifest.tsv`; returns a one-line summary.
fn write_ab(out: &Path, tree: &Tree, password: Option<&str>) -> Result<String> {
    use exhibit_fixtures::adb::{AbHeader, manifest_bytes};
    use exhibit_fixtures::{AbOptions, AbWriter, AdbTar};

    let path = out.join("ffs.ab");
    let tmp = path.with_extension("ab.part");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let opts = AbOptions {
        version: 5,
        compressed: true,
        password,
    };
    let writer = AbWriter::new(BufWriter::with_capacity(MIB as usize, file), &opts)?;
    let mut tar = AdbTar::new(writer);
    let mut listing = BufWriter::new(File::create(out.join("ab-manifest.tsv"))?);
    writeln!(listing, "size\tkind\tpath")?;

    let items = ab_plan(tree);
    let (mut files, mut dirs, mut packages, mut bytes) = (0usize, 0usize, 0usize, 0u64);
    let mut current: Option<&str> = None;
    for (n, item) in items.iter().enumerate() {
        if let Some(pkg) = item.package.as_deref()
            && current != Some(pkg)
        {
            // A new package: its manifest first, as FullBackupEngine writes it.
            current = Some(pkg);
            packages += 1;
            let with_apk = items[n..]
                .iter()
                .take_while(|i| i.package.as_deref() == Some(pkg))
                .any(|i| i.domain == "a");
            let mut sig = vec![0x30, 0x82, 0x01, 0x2c];
            sig.resize(304, 0);
            Rng::new(pkg.len() as u64 ^ 0x5167).fill(&mut sig[4..]);
            let manifest = manifest_bytes(
                pkg,
                1 + (n as i64 % 500),
                34,
                "com.android.vending",
                with_apk,
                &[&sig],
            );
            let header = AbHeader {
                package: Some(pkg),
                domain: "",
                relpath: "_manifest",
                is_dir: false,
                size: manifest.len() as u64,
                mode: 0o600,
                uid: 1000,
                gid: 1000,
                mtime: 0,
            };
            tar.append(&header, manifest.as_slice())?;
        }
        let (is_dir, size, kind) = match item.file {
            Some(i) => (false, tree.files[i].size, tree.files[i].kind.name()),
            None => (true, 0, "dir"),
        };
        let shared = item.package.is_none();
        let mode = match (is_dir, item.domain) {
            (true, "f") => 0o700,
            (true, _) if shared => 0o770,
            (true, _) => 0o771,
            (false, "f") => 0o600,
            (false, "a") => 0o644,
            (false, _) => 0o660,
        };
        let uid = if shared { 1023 } else { item.uid as u32 };
        let header = AbHeader {
            package: item.package.as_deref(),
            domain: item.domain,
            relpath: &item.relpath,
            is_dir,
            size,
            mode,
            uid,
            gid: uid,
            mtime: item.mtime,
        };
        match item.file {
            Some(i) => {
                tar.append(&header, Content::new(&tree.files[i]))
                    .with_context(|| format!("ab: writing {}", header.path()))?;
                writeln!(listing, "{size}\t{kind}\t{}", header.path())?;
                files += 1;
                bytes += size;
            }
            None => {
                tar.append(&header, io::empty())?;
                dirs += 1;
            }
        }
        let next = items.get(n + 1).map(|i| i.package.as_deref());
        if next != Some(item.package.as_deref()) {
            tar.end_package()?;
        }
    }
    let file = tar.finish()?.finish()?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    listing.flush()?;
    std::fs::rename(&tmp, &path)?;
    Ok(format!(
        "ffs.ab: {files} files and {dirs} directories of {packages} packages plus shared storage, \
         {:.1} MiB of contents, version 5, compressed, {}",
        bytes as f64 / MIB as f64,
        if password.is_some() {
            "encrypted (AES-256)"
        } else {
            "not encrypted"
        }
    ))
}

// ---------------------------------------------------------------------------------------------
// iTunes backup

/// The `AppDomain-…` folder a path below an Android app's data folder goes to.
fn ios_app_path(rest: &str) -> String {
    match rest.split_once('/') {
        Some(("databases", rel)) => format!("Documents/{rel}"),
        Some(("shared_prefs", rel)) => format!("Library/Preferences/{rel}"),
        Some(("files", rel)) => format!("Library/Application Support/{rel}"),
        Some(("cache", rel)) => format!("Library/Caches/{rel}"),
        _ => format!("Library/{rest}"),
    }
}

/// Where a file of the tree goes in an iTunes backup: (domain, relativePath, protection class).
fn ios_place(path: &str) -> (String, String, u32) {
    if let Some(rest) = path.strip_prefix("data/data/")
        && let Some((app, rest)) = rest.split_once('/')
    {
        return (format!("AppDomain-{app}"), ios_app_path(rest), 3);
    }
    if let Some(rest) = path.strip_prefix("data/media/0/") {
        if let Some(rel) = rest.strip_prefix("DCIM/") {
            return ("CameraRollDomain".into(), format!("Media/DCIM/{rel}"), 4);
        }
        if let Some(app_rest) = rest.strip_prefix("Android/data/")
            && let Some((app, rel)) = app_rest.split_once('/')
        {
            return (format!("AppDomain-{app}"), ios_app_path(rel), 3);
        }
        return ("MediaDomain".into(), format!("Media/{rest}"), 4);
    }
    let rest = path.strip_prefix("data/").unwrap_or(path);
    ("HomeDomain".into(), format!("Library/{rest}"), 3)
}

/// Every `Files` row of the backup, sorted by (domain, relativePath): the fixture's entries
/// (with their bytes) and the tree's files (with their sizes only: `IosEntryKind::File` holds
/// no bytes, the contents are streamed) plus every domain root and ancestor directory. The
/// second value maps a row to its tree file, `None` for the fixture's rows and directories.
fn ios_plan(tree: &Tree) -> Result<Vec<(exhibit_fixtures::IosEntry, Option<usize>)>> {
    use exhibit_fixtures::{IosEntry, IosEntryKind, ios_entries, ios_file_id};
    use std::collections::BTreeMap;

    let mut rows: BTreeMap<(String, String), (IosEntry, Option<usize>)> = BTreeMap::new();
    for e in ios_entries()? {
        rows.insert((e.domain.clone(), e.relative_path.clone()), (e, None));
    }
    let entry = |domain: &str, rel: &str, kind, size, mtime: u64, inode: u64, class| {
        let mtime = i64::try_from(mtime).unwrap_or(0);
        let mode = match kind {
            IosEntryKind::File(_) => 0o100_644,
            _ => 0o40_755,
        };
        IosEntry {
            domain: domain.to_string(),
            relative_path: rel.to_string(),
            file_id: ios_file_id(domain, rel),
            kind,
            sha256: None,
            size,
            mode,
            uid: 501,
            gid: 501,
            mtime,
            ctime: mtime + 1,
            birth: mtime - 86_400,
            inode: 2_000_000 + inode,
            protection_class: class,
        }
    };
    for (i, f) in tree.files.iter().enumerate() {
        let (domain, rel, class) = ios_place(&f.path);
        let mut dirs = vec![""];
        dirs.extend(rel.match_indices('/').map(|(cut, _)| &rel[..cut]));
        for dir in dirs {
            let key = (domain.clone(), dir.to_string());
            if !rows.contains_key(&key) {
                let n = rows.len() as u64;
                let dir_entry = entry(&domain, dir, IosEntryKind::Dir, 0, f.mtime, n, 0);
                rows.insert(key, (dir_entry, None));
            }
        }
        // A duplicate (domain, relativePath) keeps the first file: the fileID must be unique.
        let key = (domain.clone(), rel.clone());
        if !rows.contains_key(&key) {
            let n = rows.len() as u64;
            let file = entry(
                &domain,
                &rel,
                IosEntryKind::File(Vec::new()),
                f.size,
                f.mtime,
                n,
                class,
            );
            rows.insert(key, (file, Some(i)));
        }
    }
    Ok(rows.into_values().collect())
}

/// Copies everything `src` yields to `out` a buffer at a time (`buf` is scratch space of at
/// least 16 bytes), with a `key` AES-256-CBC encrypted (zero IV, PKCS#7 padding). The reads
/// are the same with and without a key: `Content`'s bytes depend on how it is read, and the
/// plain and the encrypted backup must hold the same plaintext.
fn copy_blob(
    mut src: impl Read,
    key: Option<&[u8; 32]>,
    out: &mut impl Write,
    buf: &mut [u8],
) -> Result<()> {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, generic_array::GenericArray};

    let mut enc = key.map(|key| cbc::Encryptor::<aes::Aes256>::new(key.into(), &[0u8; 16].into()));
    let mut encrypt = |blocks: &mut [u8]| {
        if let Some(enc) = enc.as_mut() {
            for block in blocks.chunks_exact_mut(16) {
                enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
            }
        }
    };
    let mut filled = 0;
    loop {
        let n = src.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
        let whole = if key.is_some() {
            filled / 16 * 16
        } else {
            filled
        };
        encrypt(&mut buf[..whole]);
        out.write_all(&buf[..whole])?;
        buf.copy_within(whole..filled, 0);
        filled -= whole;
    }
    if key.is_some() {
        let pad = 16 - filled;
        buf[filled..16].fill(pad as u8);
        encrypt(&mut buf[..16]);
        out.write_all(&buf[..16])?;
    }
    Ok(())
}

/// Writes the iTunes backup folder `out/ios/<UDID>/` and `out/ios-manifest.tsv`; returns a
/// one-line summary. The plists (and, encrypted, the keybag and `ManifestKey`) and the
/// fixture's own files come from `exhibit_fixtures::write_ios_backup`; `Manifest.db` is then
/// rewritten with every row, and the tree's files are streamed to their blobs.
fn write_ios(out: &Path, tree: &Tree, password: Option<&str>) -> Result<String> {
    use exhibit_fixtures::ios::{ios_file_key, ios_manifest_db, ios_manifest_db_key};
    use exhibit_fixtures::{IosBackupOptions, ios_backup_dir, write_ios_backup};

    let parent = out.join("ios");
    let root = ios_backup_dir(&parent);
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    let opts = IosBackupOptions {
        encrypted: password,
        legacy_mbdb: false,
    };
    write_ios_backup(&parent, opts).context("writing the fixture backup")?;

    let rows = ios_plan(tree)?;
    let entries: Vec<_> = rows.iter().map(|(e, _)| e.clone()).collect();
    let manifest = ios_manifest_db(&entries, password.is_some())?;
    drop(entries);
    let mut db = BufWriter::new(File::create(root.join("Manifest.db"))?);
    let db_key = password.map(|_| ios_manifest_db_key());
    copy_blob(
        manifest.as_slice(),
        db_key.as_ref(),
        &mut db,
        &mut [0u8; 4096],
    )?;
    db.into_inner().map_err(|e| e.into_error())?.sync_all()?;

    let mut listing = BufWriter::new(File::create(out.join("ios-manifest.tsv"))?);
    writeln!(listing, "size\tfileID\tdomain\trelativePath")?;
    let mut buf = vec![0u8; 256 * KIB as usize];
    let (mut files, mut dirs, mut bytes) = (0usize, 0usize, 0u64);
    for (e, file) in &rows {
        match e.flags() {
            exhibit_fixtures::ios::FLAG_FILE => {}
            exhibit_fixtures::ios::FLAG_DIR => {
                dirs += 1;
                continue;
            }
            _ => continue,
        }
        files += 1;
        bytes += e.size;
        writeln!(
            listing,
            "{}\t{}\t{}\t{}",
            e.size, e.file_id, e.domain, e.relative_path
        )?;
        let Some(i) = *file else { continue };
        let sub = root.join(e.file_id.get(..2).unwrap_or("00"));
        std::fs::create_dir_all(&sub)?;
        let path = sub.join(&e.file_id);
        let mut blob = BufWriter::with_capacity(
            256 * KIB as usize,
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        let key = password.map(|_| ios_file_key(&e.file_id));
        copy_blob(
            Content::new(&tree.files[i]),
            key.as_ref(),
            &mut blob,
            &mut buf,
        )?;
        blob.flush()?;
    }
    listing.flush()?;
    Ok(format!(
        "ios/{}: {files} files and {dirs} directories, {:.1} MiB of contents, Manifest.db {:.1} \
         MiB, {}",
        exhibit_fixtures::IOS_UDID,
        bytes as f64 / MIB as f64,
        manifest.len() as f64 / MIB as f64,
        if password.is_some() {
            "encrypted (AES-256-CBC, keybag with 10 + 10 PBKDF2 rounds)"
        } else {
            "not encrypted"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("2G"), Ok(2 * GIB));
        assert_eq!(parse_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_size("256MiB"), Ok(256 * MIB));
        assert_eq!(parse_size("1.5g"), Ok(3 * GIB / 2));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_709_210_096), (2024, 2, 29, 12, 34, 56));
    }

    #[test]
    fn plan_is_deterministic_and_adds_up() {
        let a = plan(64 * MIB, 7);
        let b = plan(64 * MIB, 7);
        let total: u64 = a.files.iter().map(|f| f.size).sum();
        assert_eq!(total, 64 * MIB);
        assert_eq!(a.files.len(), b.files.len());
        assert!(
            a.files
                .iter()
                .zip(&b.files)
                .all(|(x, y)| x.path == y.path && x.seed == y.seed)
        );
        let unique: HashSet<_> = a.files.iter().map(|f| &f.path).collect();
        assert_eq!(unique.len(), a.files.len());
        assert_eq!(WORDS.len(), 64);
    }

    #[test]
    fn ab_places_follow_the_adb_layout() {
        assert_eq!(
            ab_place("data/data/com.whatsapp/databases/msgstore.db"),
            Some((Some("com.whatsapp"), "db", "msgstore.db"))
        );
        assert_eq!(
            ab_place("data/data/com.whatsapp/cache/http/ab.0"),
            Some((Some("com.whatsapp"), "r", "cache/http/ab.0"))
        );
        assert_eq!(
            ab_place("data/media/0/Android/data/com.discord/files/x.log"),
            Some((Some("com.discord"), "ef", "x.log"))
        );
        assert_eq!(
            ab_place("data/media/0/DCIM/Camera/IMG_1.jpg"),
            Some((None, "shared/0", "DCIM/Camera/IMG_1.jpg"))
        );
        assert_eq!(
            ab_place("data/app/~~abc==/com.spotify.music-xyz==/base.apk"),
            Some((Some("com.spotify.music"), "a", "base.apk"))
        );
        assert_eq!(ab_place("data/system/packages.xml"), None);
    }

    #[test]
    fn ab_dump_lists_what_the_manifest_says() {
        let tree = plan(8 * MIB, 5);
        let dir = tempfile::tempdir().unwrap();
        let summary = write_ab(dir.path(), &tree, None).unwrap();
        assert!(summary.contains("not encrypted"), "{summary}");
        let ab = std::fs::read(dir.path().join("ffs.ab")).unwrap();
        assert!(ab.starts_with(b"ANDROID BACKUP\n5\n1\nnone\n"));
        let mut tar = Vec::new();
        flate2::read::ZlibDecoder::new(&ab[24..])
            .read_to_end(&mut tar)
            .unwrap();
        let listing = std::fs::read_to_string(dir.path().join("ab-manifest.tsv")).unwrap();
        let want: Vec<(String, u64)> = listing
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.splitn(3, '\t');
                let size = f.next().unwrap().parse().unwrap();
                (f.nth(1).unwrap().to_string(), size)
            })
            .collect();
        let mut got = Vec::new();
        let mut seen_dirs = HashSet::new();
        let mut archive = tar::Archive::new(tar.as_slice());
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let parent = path.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap();
            if entry.header().entry_type().is_dir() {
                seen_dirs.insert(path);
            } else if !path.ends_with("/_manifest") {
                // Every directory below the domain comes before its contents.
                let depth = if path.starts_with("shared/") { 3 } else { 4 };
                if parent.matches('/').count() >= depth - 1 {
                    assert!(seen_dirs.contains(&parent), "{path}");
                }
                got.push((path, entry.size()));
            }
        }
        assert_eq!(got, want);
        assert!(!want.is_empty());
        assert!(want.iter().any(|(p, _)| p.starts_with("shared/0/")));
    }

    #[test]
    fn ios_places_follow_the_backup_domains() {
        let place = |p: &str| {
            let (d, r, _) = ios_place(p);
            format!("{d}/{r}")
        };
        assert_eq!(
            place("data/data/com.whatsapp/databases/msgstore.db"),
            "AppDomain-com.whatsapp/Documents/msgstore.db"
        );
        assert_eq!(
            place("data/media/0/DCIM/Camera/IMG_1.jpg"),
            "CameraRollDomain/Media/DCIM/Camera/IMG_1.jpg"
        );
        assert_eq!(
            place("data/system/packages.xml"),
            "HomeDomain/Library/system/packages.xml"
        );
    }

    #[test]
    fn streamed_encryption_matches_one_shot_cbc() {
        use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
        let key = [7u8; 32];
        for len in [0usize, 15, 16, 17, 4095, 70_001] {
            let mut data = vec![0u8; len];
            Rng::new(len as u64).fill(&mut data);
            let want = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &[0u8; 16].into())
                .encrypt_padded_vec_mut::<Pkcs7>(&data);
            let mut got = Vec::new();
            copy_blob(data.as_slice(), Some(&key), &mut got, &mut [0u8; 1000]).unwrap();
            assert_eq!(got, want, "{len}");
        }
    }

    #[test]
    fn ios_backup_has_a_blob_per_listed_file() {
        let tree = plan(4 * MIB, 9);
        for password in [None, Some("pw")] {
            let dir = tempfile::tempdir().unwrap();
            let summary = write_ios(dir.path(), &tree, password).unwrap();
            let root = dir.path().join("ios").join(exhibit_fixtures::IOS_UDID);
            for name in [
                "Manifest.db",
                "Manifest.plist",
                "Info.plist",
                "Status.plist",
            ] {
                assert!(root.join(name).is_file(), "{name}: {summary}");
            }
            let listing = std::fs::read_to_string(dir.path().join("ios-manifest.tsv")).unwrap();
            let mut count = 0;
            for line in listing.lines().skip(1) {
                let f: Vec<&str> = line.split('\t').collect();
                let size: u64 = f[0].parse().unwrap();
                assert_eq!(f[1], exhibit_fixtures::ios_file_id(f[2], f[3]));
                let len = std::fs::metadata(root.join(&f[1][..2]).join(f[1]))
                    .unwrap()
                    .len();
                let want = if password.is_some() {
                    size / 16 * 16 + 16
                } else {
                    size
                };
                assert_eq!(len, want, "{line}");
                count += 1;
            }
            assert!(count > tree.files.len() / 2, "{count}");
        }
    }

    #[test]
    fn contents_have_the_declared_size() {
        let tree = plan(16 * MIB, 3);
        for file in tree.files.iter().take(200) {
            let mut bytes = Vec::new();
            Content::new(file).read_to_end(&mut bytes).ok();
            assert_eq!(bytes.len() as u64, file.size, "{}", file.path);
        }
    }
}
