//! Writes a large synthetic case folder straight away, without an extraction, so the reports
//! can be measured on a million records (`bench/report.sh`): `custody.jsonl` as an Android
//! extraction with decoding would leave it (case opened, plugins loaded, the evidence opened,
//! one `file_extracted` per file and an `entry_recorded` per folder, the evidence hashed, three
//! databases decoded, the three record files written, the run finished) and
//! `artifacts/{messages,contacts,calls}.jsonl` with records of the SDK's own types, serialised
//! as the host writes them (sorted keys).
//!
//! The extracted files themselves are not written: their entries carry plausible sizes, times
//! and digests, which is all a report reads. `exhibit verify` on such a case reports them
//! missing; that is expected. `case_opened` says `"generator": "exhibit-bench-bigcase"` so the
//! log never passes for a real extraction.
//!
//! Everything is derived from `--seed` (SplitMix64, no `rand`): two runs with the same
//! arguments write the same records and the same log entries, except for the entry times the
//! custody log stamps itself (and so the chain hashes). Records and entries are written as
//! they are made; memory does not grow with the counts.

use anyhow::{Context, Result, bail};
use clap::Parser;
use exhibit_core::custody::{CustodyLog, LOG_FILE, action};
use exhibit_core::hash::{Digests, HashAlgorithm};
use exhibit_plugin_sdk::records::{
    Account, Call, CallType, Contact, Direction, Labelled, Message, Provenance, Timestamp,
};
use exhibit_report::output::HashingWriter;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Records and files fall between 2022-01-01 and 2025-01-01 (UTC), three years.
const SPAN_FROM_S: i64 = 1_640_995_200;
const SPAN_S: i64 = 3 * 365 * 86_400;

const TELEPHONY_DB: &str = "data/data/com.android.providers.telephony/databases/mmssms.db";
const CONTACTS_DB: &str = "data/data/com.android.providers.contacts/databases/contacts2.db";
const CALLLOG_DB: &str = "data/data/com.android.providers.contacts/databases/calllog.db";

const DECODER: &str = "android";
const FORMAT: &str = "tar";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Write a large synthetic case folder (custody log and record files) for bench/report.sh"
)]
struct Args {
    /// Case folder to create (must not exist, or be empty)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Messages in artifacts/messages.jsonl
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Conversations the messages are spread over
    #[arg(long, default_value_t = 2_000)]
    threads: u64,
    /// Contacts in artifacts/contacts.jsonl
    #[arg(long, default_value_t = 50_000)]
    contacts: u64,
    /// Calls in artifacts/calls.jsonl
    #[arg(long, default_value_t = 200_000)]
    calls: u64,
    /// Extracted files recorded in the custody log, the three decoded databases among them
    #[arg(long, default_value_t = 200_000)]
    files: u64,
    /// Seed of everything generated
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.threads == 0 && args.messages > 0 {
        bail!("--threads must be at least 1 when there are messages");
    }
    let started = std::time::Instant::now();
    write_case(&args)?;
    eprintln!(
        "bigcase: {} messages in {} threads, {} contacts, {} calls, {} files in {} ({:.1}s)",
        args.messages,
        args.threads,
        args.contacts,
        args.calls,
        args.files,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to make filler look varied.
struct Rng(u64);

impl Rng {
    /// An independent stream for one part of the case, so changing one count does not change
    /// what the other parts look like.
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, list: &[T]) -> T {
        let len = u64::try_from(list.len()).expect("a short list");
        list[usize::try_from(self.below(len)).expect("an index of a short list")]
    }
}

/// Hex digest of `parts`: stands in for the digest of a file that is not written.
fn fake_digest(parts: &[&str], hex_len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let mut hex = hex::encode(h.finalize());
    hex.truncate(hex_len);
    hex
}

fn fake_digests(seed: u64, path: &str) -> Value {
    let seed = seed.to_string();
    json!({
        "md5": fake_digest(&["md5", &seed, path], 32),
        "sha256": fake_digest(&["sha256", &seed, path], 64),
    })
}

fn sha256_of(seed: u64, path: &str) -> String {
    fake_digest(&["sha256", &seed.to_string(), path], 64)
}

/// The phone number of conversation or contact `n`: the same `n` is the same person, so most
/// conversations and calls match a contact.
fn phone(n: u64) -> String {
    format!("+1555{:07}", n % 10_000_000)
}

/// The `index`-th of `count` instants spread evenly over the span, in milliseconds, with up to
/// one step of jitter: increasing, as rows of a provider database are.
fn spread_ms(rng: &mut Rng, index: u64, count: u64) -> i64 {
    let span_ms = u64::try_from(SPAN_S).expect("positive") * 1000;
    let step = (span_ms / count.max(1)).max(1);
    let at = index * step + rng.below(step);
    SPAN_FROM_S * 1000 + i64::try_from(at).expect("within three years")
}

fn write_case(args: &Args) -> Result<()> {
    let out = &args.out;
    if out.exists() && fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty: remove it first", out.display());
    }
    fs::create_dir_all(out.join("artifacts"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let mut log = CustodyLog::create(&out.join(LOG_FILE))
        .with_context(|| format!("cannot create the custody log in {}", out.display()))?;
    let version = env!("CARGO_PKG_VERSION");
    let seed = args.seed;
    let command_line: Vec<String> = std::env::args().collect();
    let plugin = |name: &str| format!("/opt/exhibit/lib/libexhibit_{name}.so");
    let android_paths = json!([
        "**/com.android.providers.telephony/{databases,db,d_db}/mmssms.db",
        "**/com.android.providers.contacts/{databases,db,d_db}/contacts2.db",
        "**/com.android.providers.contacts/{databases,db,d_db}/calllog.db",
    ]);

    log.append(
        action::CASE_OPENED,
        json!({
            "agency": "Synthetic Benchmark Unit",
            "arch": std::env::consts::ARCH,
            "case_dir": out.display().to_string(),
            "case_number": format!("BENCH-{seed}"),
            "command_line": command_line,
            "examiner": "B. Enchmark",
            "generator": "exhibit-bench-bigcase",
            "git_commit": null,
            "hash_algorithms": ["md5", "sha256"],
            "host": "bigcase",
            "os": std::env::consts::OS,
            "tool": "exhibit",
            "tool_version": version,
        }),
    )?;
    log.append(
        action::PLUGIN_LOADED,
        json!({
            "description": "Android SMS/MMS, contacts, call log",
            "kind": "artifact",
            "kinds": ["messages", "contacts", "calls"],
            "name": DECODER,
            "path": plugin("artifacts_android"),
            "paths": android_paths,
            "sha256": sha256_of(seed, "plugin android"),
            "version": version,
        }),
    )?;
    log.append(
        action::PLUGIN_LOADED,
        json!({
            "description": "POSIX tar (ustar, GNU, PAX)",
            "extensions": ["tar"],
            "kind": "format",
            "name": FORMAT,
            "path": plugin("format_tar"),
            "sha256": sha256_of(seed, "plugin tar"),
            "version": version,
        }),
    )?;

    let mut files = FileList::new(args.files.saturating_sub(3));
    let evidence_path = "/evidence/bigcase-ffs.tar";
    let evidence_size = files.tar_size(seed);
    log.append(
        action::EVIDENCE_OPENED,
        json!({
            "kind": "file",
            "mode": "100644",
            "mtime": "2025-01-02T09:30:00Z",
            "path": evidence_path,
            "size": evidence_size,
            "uid": 0,
        }),
    )?;
    log.append(
        action::PLUGIN_SELECTED,
        json!({
            "candidates": [{"confidence": 100, "plugin": FORMAT}],
            "confidence": 100,
            "forced": false,
            "plugin": FORMAT,
            "version": version,
        }),
    )?;
    let written = files.log(&mut log, seed)?;
    log.append(
        action::EVIDENCE_DESCRIBED,
        json!({
            "details": {
                "android_version": "14",
                "manufacturer": "Example",
                "model": "Synthetic Phone",
                "serial": format!("BENCH{seed:08}"),
            },
            "plugin": FORMAT,
            "what": "device",
        }),
    )?;
    log.append(
        action::PLUGIN_FINISHED,
        json!({"duration_ms": 0, "isolated": false, "plugin": FORMAT, "status": "ok"}),
    )?;
    log.append(
        action::EVIDENCE_HASHED,
        json!({
            "bytes": evidence_size,
            "hashes": fake_digests(seed, evidence_path),
            "method": "hashed from the plugin's own reads, in offset order",
        }),
    )?;
    let decoded = [CALLLOG_DB, CONTACTS_DB, TELEPHONY_DB];
    log.append(
        action::DECODING_STARTED,
        json!({
            "decoders": [{
                "kinds": ["messages", "contacts", "calls"],
                "name": DECODER,
                "paths": android_paths,
                "sha256": sha256_of(seed, "plugin android"),
                "version": version,
            }],
            "files_in_case": written,
            "matches": decoded.iter().map(|f| json!({"decoder": DECODER, "file": format!("files/{f}")})).collect::<Vec<_>>(),
        }),
    )?;

    let calls = write_records(out, seed, "calls", args.calls, |i, rng| {
        call(args, seed, i, rng)
    })?;
    log_decoded(&mut log, seed, CALLLOG_DB, "calls", args.calls)?;
    let contacts = write_records(out, seed, "contacts", args.contacts, |i, rng| {
        contact(seed, i, rng)
    })?;
    log_decoded(&mut log, seed, CONTACTS_DB, "contacts", args.contacts)?;
    let messages = write_records(out, seed, "messages", args.messages, |i, rng| {
        message(args, seed, i, rng)
    })?;
    log_decoded(&mut log, seed, TELEPHONY_DB, "messages", args.messages)?;
    for artifact in [calls, contacts, messages] {
        log.append(
            action::ARTIFACT_WRITTEN,
            json!({
                "hashes": artifact.hashes,
                "kind": artifact.kind,
                "path": format!("artifacts/{}.jsonl", artifact.kind),
                "records": artifact.records,
                "replaces_sha256": null,
                "size": artifact.size,
            }),
        )?;
    }
    log.append(
        action::EVIDENCE_CHECKED,
        json!({"changes": [], "unchanged": true, "when": "end"}),
    )?;
    let chain = log.chain_hash().to_owned();
    log.append(
        action::RUN_FINISHED,
        json!({
            "bytes": files.total_bytes,
            "chain_sha256": chain,
            "duration_ms": 0,
            "entries_recorded": files.dirs_logged,
            "errors": 0,
            "files": written,
            "outcome": "clean",
            "warnings": 0,
        }),
    )?;
    Ok(())
}

fn log_decoded(
    log: &mut CustodyLog,
    seed: u64,
    file: &str,
    kind: &str,
    records: u64,
) -> Result<()> {
    log.append(
        action::FILE_DECODED,
        json!({
            "decoder": DECODER,
            "duration_ms": 0,
            "file": format!("files/{file}"),
            "file_complete": true,
            "input_checked": true,
            "isolated": true,
            "records": {kind: records},
            "sha256": sha256_of(seed, file),
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    )?;
    Ok(())
}

/// The extracted files: a phone's `/data` in miniature. Each folder gets a share of the files
/// by weight, and is recorded before them, as a tar lists it.
struct FileList {
    dirs: Vec<(String, DirKind, u64)>,
    total_bytes: u64,
    dirs_logged: u64,
    /// Where the next entry's header would be in the tar.
    offset: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DirKind {
    Camera,
    Media,
    Databases,
    Files,
    Cache,
    Prefs,
}

const APPS: [&str; 12] = [
    "com.whatsapp",
    "org.telegram.messenger",
    "com.google.android.gm",
    "com.android.chrome",
    "com.instagram.android",
    "com.facebook.orca",
    "org.thoughtcrime.securesms",
    "com.spotify.music",
    "com.google.android.apps.maps",
    "com.ubercab",
    "de.db.navigator",
    "com.example.notes",
];

impl FileList {
    fn new(count: u64) -> FileList {
        let mut weighted: Vec<(String, DirKind, u64)> = vec![
            ("data/media/0/DCIM/Camera".into(), DirKind::Camera, 300),
            (
                "data/media/0/WhatsApp/Media/WhatsApp Images".into(),
                DirKind::Media,
                100,
            ),
        ];
        // Many small apps besides the well-known ones, as on a real handset.
        let apps = APPS
            .iter()
            .map(|a| (*a).to_owned())
            .chain((1..=150).map(|n| format!("com.example.app{n:03}")));
        for app in apps {
            for (sub, kind, weight) in [
                ("databases", DirKind::Databases, 1),
                ("files", DirKind::Files, 1),
                ("cache", DirKind::Cache, 2),
                ("shared_prefs", DirKind::Prefs, 1),
            ] {
                weighted.push((format!("data/data/{app}/{sub}"), kind, weight));
            }
        }
        let total_weight: u64 = weighted.iter().map(|d| d.2).sum();
        let mut dirs = Vec::with_capacity(weighted.len());
        let mut before = 0u64;
        let mut cumulative = 0u64;
        for (path, kind, weight) in weighted {
            cumulative += weight;
            let upto = u64::try_from(
                u128::from(count) * u128::from(cumulative) / u128::from(total_weight),
            )
            .expect("at most count");
            dirs.push((path, kind, upto - before));
            before = upto;
        }
        FileList {
            dirs,
            total_bytes: 0,
            dirs_logged: 0,
            offset: 0,
        }
    }

    /// A size for the tar holding the files (headers and padding included), near enough.
    fn tar_size(&self, seed: u64) -> u64 {
        let mut rng = Rng::new(seed, 1);
        let mut total = 0u64;
        for (_, kind, n) in &self.dirs {
            for _ in 0..*n {
                total += 512 + file_size(*kind, &mut rng).div_ceil(512) * 512;
            }
        }
        total + 3 * 20_480 + 1024
    }

    /// Logs every folder and file; returns the number of files.
    fn log(&mut self, log: &mut CustodyLog, seed: u64) -> Result<u64> {
        let mut rng = Rng::new(seed, 1);
        let mut names = Rng::new(seed, 2);
        let mut recorded: BTreeSet<String> = BTreeSet::new();
        let mut files = 0u64;
        let special = [
            (
                "data/data/com.android.providers.telephony/databases",
                TELEPHONY_DB,
            ),
            (
                "data/data/com.android.providers.contacts/databases",
                CONTACTS_DB,
            ),
            (
                "data/data/com.android.providers.contacts/databases",
                CALLLOG_DB,
            ),
        ];
        for (dir, db) in special {
            self.record_dirs(log, &mut recorded, dir)?;
            let size = 4096 * names.between(16, 4096);
            let secs = mtime(&mut rng);
            self.log_file(log, seed, db, size, secs, &mut rng)?;
            files += 1;
        }
        for d in 0..self.dirs.len() {
            let (dir, kind, count) = self.dirs[d].clone();
            if count == 0 {
                continue;
            }
            self.record_dirs(log, &mut recorded, &dir)?;
            for i in 0..count {
                let size = file_size(kind, &mut rng);
                let secs = mtime(&mut rng);
                let name = file_name(kind, i, secs, &mut names);
                let path = format!("{dir}/{name}");
                self.log_file(log, seed, &path, size, secs, &mut rng)?;
                files += 1;
            }
        }
        Ok(files)
    }

    /// Records `dir` and each of its parents not recorded yet.
    fn record_dirs(
        &mut self,
        log: &mut CustodyLog,
        recorded: &mut BTreeSet<String>,
        dir: &str,
    ) -> Result<()> {
        let mut prefix = String::new();
        for part in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if recorded.insert(prefix.clone()) {
                log.append(
                    action::ENTRY_RECORDED,
                    json!({
                        "kind": "dir",
                        "meta": {"gid": 1000, "group": "system", "kind": "dir", "mode": 0o771,
                                 "mtime": {"nanos": 0, "secs": SPAN_FROM_S + SPAN_S}, "offset": self.offset,
                                 "uid": 1000, "user": "system"},
                        "name": format!("{prefix}/"),
                        "path": format!("files/{prefix}"),
                    }),
                )?;
                self.offset += 512;
                self.dirs_logged += 1;
            }
        }
        Ok(())
    }

    fn log_file(
        &mut self,
        log: &mut CustodyLog,
        seed: u64,
        name: &str,
        size: u64,
        secs: i64,
        rng: &mut Rng,
    ) -> Result<()> {
        let app_uid = 10_000 + rng.below(300);
        log.append(
            action::FILE_EXTRACTED,
            json!({
                "complete": true,
                "hashes": fake_digests(seed, name),
                "meta": {"gid": app_uid, "group": format!("u0_a{}", app_uid - 10_000), "kind": "file",
                         "mode": 0o660, "mtime": {"nanos": 0, "secs": secs}, "offset": self.offset,
                         "size": size, "uid": app_uid, "user": format!("u0_a{}", app_uid - 10_000)},
                "name": name,
                "path": format!("files/{name}"),
                "size": size,
            }),
        )?;
        self.offset += 512 + size.div_ceil(512) * 512;
        self.total_bytes += size;
        Ok(())
    }
}

fn file_size(kind: DirKind, rng: &mut Rng) -> u64 {
    match kind {
        DirKind::Camera => rng.between(1_500_000, 6_000_000),
        DirKind::Media => rng.between(40_000, 2_000_000),
        DirKind::Databases => 4096 * rng.between(2, 256),
        DirKind::Files => rng.between(200, 200_000),
        DirKind::Cache => rng.between(500, 64_000),
        DirKind::Prefs => rng.between(100, 8_000),
    }
}

/// A modification time within the span, in seconds.
fn mtime(rng: &mut Rng) -> i64 {
    SPAN_FROM_S + i64::try_from(rng.below(u64::try_from(SPAN_S).expect("positive"))).expect("small")
}

/// `YYYYMMDD` of a Unix time (H. Hinnant's `civil_from_days`), as cameras name their pictures.
fn yyyymmdd(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

fn file_name(kind: DirKind, i: u64, secs: i64, rng: &mut Rng) -> String {
    match kind {
        DirKind::Camera => format!("IMG_{}_{i:06}.jpg", yyyymmdd(secs)),
        DirKind::Media => format!("IMG-{}-WA{i:04}.jpg", yyyymmdd(secs)),
        DirKind::Databases => format!("{}_{i}.db", rng.pick(&WORDS)),
        DirKind::Files => format!("{}-{i}.json", rng.pick(&WORDS)),
        DirKind::Cache => format!("{:016x}.{}", rng.next(), i % 4),
        DirKind::Prefs => format!("{}_preferences_{i}.xml", rng.pick(&WORDS)),
    }
}

/// One record file written and hashed.
struct Artifact {
    kind: &'static str,
    records: u64,
    size: u64,
    hashes: Digests,
}

/// Writes `count` records made by `make` to `artifacts/<kind>.jsonl`, one JSON object a line,
/// through a `serde_json::Value` so the keys come sorted as the host writes them.
fn write_records<T: Serialize>(
    out: &Path,
    seed: u64,
    kind: &'static str,
    count: u64,
    mut make: impl FnMut(u64, &mut Rng) -> T,
) -> Result<Artifact> {
    let path = out.join(format!("artifacts/{kind}.jsonl"));
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = HashingWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        &[HashAlgorithm::Md5, HashAlgorithm::Sha256],
    );
    let stream = match kind {
        "calls" => 10,
        "contacts" => 11,
        _ => 12,
    };
    let mut rng = Rng::new(seed, stream);
    for i in 0..count {
        let value = serde_json::to_value(make(i, &mut rng))?;
        serde_json::to_writer(&mut w, &value)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    let (_, hashes, size) = w.finish();
    Ok(Artifact {
        kind,
        records: count,
        size,
        hashes,
    })
}

fn provenance(seed: u64, file: &str, table: &str, row: u64) -> Provenance {
    Provenance {
        file: format!("files/{file}"),
        sha256: sha256_of(seed, file),
        decoder: format!("{DECODER} {}", env!("CARGO_PKG_VERSION")),
        table: Some(table.to_owned()),
        row: Some(i64::try_from(row + 1).expect("a row id")),
        index: None,
    }
}

const WORDS: [&str; 48] = [
    "ok",
    "see",
    "you",
    "later",
    "tomorrow",
    "meeting",
    "lunch",
    "call",
    "me",
    "when",
    "the",
    "train",
    "is",
    "late",
    "again",
    "can",
    "we",
    "move",
    "it",
    "to",
    "friday",
    "thanks",
    "for",
    "yesterday",
    "where",
    "are",
    "parcel",
    "arrived",
    "send",
    "address",
    "please",
    "running",
    "ten",
    "minutes",
    "behind",
    "dinner",
    "tonight",
    "sounds",
    "good",
    "photos",
    "from",
    "trip",
    "weather",
    "great",
    "office",
    "closed",
    "invoice",
    "attached",
];

/// Text that must survive escaping and every script: accents, Cyrillic, CJK, emoji, markup.
const SPICE: [&str; 10] = [
    "Grüße aus München",
    "Привет, как дела?",
    "明天见",
    "Ça va? 😊",
    "✈️ landing soon",
    "naïve café",
    "<b>not bold</b> & \"quoted\"",
    "</script><script>alert(1)</script>",
    "مرحبا",
    "👍🏽",
];

fn body(rng: &mut Rng) -> String {
    let words = if rng.chance(4) {
        rng.between(80, 300)
    } else {
        rng.between(1, 25)
    };
    let mut text = String::new();
    for w in 0..words {
        if w > 0 {
            text.push(' ');
        }
        if rng.chance(3) {
            text.push_str(rng.pick(&SPICE));
        } else {
            text.push_str(rng.pick(&WORDS));
        }
    }
    if rng.chance(30) {
        text.push(rng.pick(&['.', '?', '!']));
    }
    text
}

fn message(args: &Args, seed: u64, i: u64, rng: &mut Rng) -> Message {
    let ms = spread_ms(rng, i, args.messages);
    let thread = rng.below(args.threads.max(1)) + 1;
    let address = phone(thread);
    let incoming = rng.chance(55);
    let (direction, folder, from, to) = if incoming {
        (Direction::Incoming, "inbox", Some(address), vec![])
    } else {
        (Direction::Outgoing, "sent", None, vec![address])
    };
    let mms = rng.chance(3);
    let time = Timestamp::unix_ms(ms);
    Message {
        service: if mms { "mms" } else { "sms" }.to_owned(),
        direction,
        folder: Some(folder.to_owned()),
        thread: Some(thread.to_string()),
        from,
        to,
        subject: mms.then(|| "Photos".to_owned()),
        body: (!mms || rng.chance(50)).then(|| body(rng)),
        sent: incoming.then(|| Timestamp::unix_ms(ms - 2000)),
        received: Some(time.clone()),
        time: Some(time),
        read: Some(!incoming || rng.chance(95)),
        read_at: None,
        delivered_at: None,
        status: (!incoming).then(|| "complete".to_owned()),
        parts: vec![],
        notes: vec![],
        provenance: provenance(seed, TELEPHONY_DB, if mms { "pdu" } else { "sms" }, i),
    }
}

const GIVEN: [&str; 12] = [
    "Alice", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Günter", "Hiroshi", "Ines", "Jonas",
    "Ksenia", "Lars",
];
const FAMILY: [&str; 10] = [
    "Example", "Müller", "Novák", "O'Brien", "Petrova", "Quinn", "Rossi", "Sato", "Tanaka", "Weiß",
];

/// The name of contact `i` (whose mobile number is `phone(i + 1)`), the same wherever it is
/// shown.
fn contact_name(i: u64) -> (&'static str, &'static str) {
    let g = GIVEN.len() as u64;
    let f = FAMILY.len() as u64;
    (
        GIVEN[usize::try_from(i % g).expect("small")],
        FAMILY[usize::try_from((i / g) % f).expect("small")],
    )
}

fn contact(seed: u64, i: u64, rng: &mut Rng) -> Contact {
    let (given, family) = contact_name(i);
    let mut phones = vec![Labelled {
        value: phone(i + 1),
        label: Some("mobile".to_owned()),
    }];
    if rng.chance(20) {
        phones.push(Labelled {
            value: phone(rng.below(10_000_000)),
            label: Some(rng.pick(&["home", "work", "other"]).to_string()),
        });
    }
    let emails = if rng.chance(40) {
        vec![Labelled {
            value: format!(
                "{}.{}{i}@example.com",
                given.to_lowercase(),
                family.to_lowercase()
            ),
            label: Some("home".to_owned()),
        }]
    } else {
        vec![]
    };
    Contact {
        name: Some(format!("{given} {family}")),
        given_name: Some(given.to_owned()),
        family_name: Some(family.to_owned()),
        phones,
        emails,
        organization: rng.chance(15).then(|| "Example Logistics GmbH".to_owned()),
        account: Some(Account {
            kind: Some("com.google".to_owned()),
            name: Some("owner@example.com".to_owned()),
        }),
        deleted: rng.chance(1),
        notes: vec![],
        provenance: provenance(seed, CONTACTS_DB, "raw_contacts", i),
    }
}

fn call(args: &Args, seed: u64, i: u64, rng: &mut Rng) -> Call {
    let ms = spread_ms(rng, i, args.calls);
    let known = rng.chance(70) && args.threads > 0;
    let n = if known {
        rng.below(args.threads) + 1
    } else {
        rng.below(10_000_000)
    };
    let (call_type, type_raw) = rng.pick(&[
        (CallType::Incoming, 1),
        (CallType::Outgoing, 2),
        (CallType::Outgoing, 2),
        (CallType::Missed, 3),
        (CallType::Voicemail, 4),
        (CallType::Rejected, 5),
        (CallType::Blocked, 6),
    ]);
    let answered = matches!(call_type, CallType::Incoming | CallType::Outgoing);
    Call {
        number: Some(phone(n)),
        // The handset caches the name of a number in the address book.
        name: (known && n <= args.contacts).then(|| {
            let (given, family) = contact_name(n - 1);
            format!("{given} {family}")
        }),
        call_type,
        type_raw: Some(type_raw),
        time: Some(Timestamp::unix_ms(ms)),
        duration_s: Some(if answered {
            i64::try_from(rng.between(1, 3600)).expect("small")
        } else {
            0
        }),
        service: Some(if rng.chance(10) { "video" } else { "phone" }.to_owned()),
        notes: vec![],
        provenance: provenance(seed, CALLLOG_DB, "calls", i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exhibit_report::Case;
    use std::collections::HashMap;

    fn args(out: &Path, seed: u64) -> Args {
        Args {
            out: out.to_owned(),
            messages: 500,
            threads: 7,
            contacts: 40,
            calls: 60,
            files: 120,
            seed,
        }
    }

    #[test]
    fn the_case_reads_back_with_the_counts_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("case");
        write_case(&args(&out, 9)).unwrap();
        let case = Case::open(&out).unwrap();
        let s = case.summary();
        assert!(s.complete);
        assert_eq!(s.counts.files, 120);
        let records = |k: &str| s.counts.records.get(k).copied();
        assert_eq!(
            (records("messages"), records("contacts"), records("calls")),
            (Some(500), Some(40), Some(60))
        );
        assert_eq!(s.case.hash_algorithms, ["md5", "sha256"]);
        assert_eq!(s.decodings.len(), 3);
        for a in &s.artifacts {
            let data = fs::read(out.join(&a.path)).unwrap();
            assert_eq!(a.size, u64::try_from(data.len()).unwrap(), "{}", a.path);
            assert_eq!(
                a.hashes["sha256"],
                hex::encode(Sha256::digest(&data)),
                "{}",
                a.path
            );
            let lines = data.iter().filter(|b| **b == b'\n').count();
            assert_eq!(a.records, u64::try_from(lines).unwrap(), "{}", a.path);
        }
        let logged: HashMap<String, String> = case
            .files()
            .unwrap()
            .map(Result::unwrap)
            .filter_map(|f| Some((f.path.clone(), f.sha256()?.to_owned())))
            .collect();
        let messages: Vec<Message> = case
            .records("messages")
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(messages.len(), 500);
        let mut last = String::new();
        for m in &messages {
            // Each record names a logged file, with that file's digest.
            assert_eq!(logged.get(&m.provenance.file), Some(&m.provenance.sha256));
            let thread: u64 = m.thread.as_deref().unwrap().parse().unwrap();
            assert!((1..=7).contains(&thread));
            let utc = m.time.as_ref().and_then(|t| t.utc.clone()).unwrap();
            assert!(utc >= last, "times go forward: {utc} after {last}");
            assert!(
                ("2022-01-01".."2025-01-01").contains(&utc.as_str()),
                "{utc}"
            );
            last = utc;
        }
        assert!(
            messages
                .iter()
                .any(|m| m.body.as_deref().is_some_and(|b| !b.is_ascii()))
        );
        let contacts: Vec<Contact> = case
            .records("contacts")
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let calls: Vec<Call> = case.records("calls").unwrap().map(Result::unwrap).collect();
        assert_eq!((contacts.len(), calls.len()), (40, 60));
        // A call from a known number shows that contact's name.
        let named = calls.iter().find(|c| c.name.is_some()).unwrap();
        let contact = contacts
            .iter()
            .find(|c| c.phones[0].value == named.number.clone().unwrap())
            .unwrap();
        assert_eq!(named.name, contact.name);
    }

    #[test]
    fn records_are_shaped_as_the_host_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("case");
        write_case(&args(&out, 3)).unwrap();
        let text = fs::read_to_string(out.join("artifacts/calls.jsonl")).unwrap();
        let first = text.lines().next().unwrap();
        let value: Value = serde_json::from_str(first).unwrap();
        // Sorted keys, compact: re-serialising the parsed value gives the same line.
        assert_eq!(serde_json::to_string(&value).unwrap(), first);
        assert!(first.starts_with("{\"duration_s\":"), "{first}");
    }

    #[test]
    fn the_same_seed_writes_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let read = |name: &str, seed: u64| {
            let out = dir.path().join(name);
            write_case(&args(&out, seed)).unwrap();
            ["messages", "contacts", "calls"]
                .map(|k| fs::read(out.join(format!("artifacts/{k}.jsonl"))).unwrap())
        };
        let (a, b, c) = (read("a", 5), read("b", 5), read("c", 6));
        assert_eq!(a, b);
        assert_ne!(a[0], c[0]);
    }
}
