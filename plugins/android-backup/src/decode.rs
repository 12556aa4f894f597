//! One run over one backup: the header (its fields into the custody log),
//! the password and master key for an encrypted one, then the payload
//! pipeline feeding the shared tar engine, with the ADB layout added to
//! every entry.
//!
//! Policy: nothing is delivered before the password is known good (a wrong
//! one ends the run with `WrongPassword`, no entry delivered). The tar
//! stream's offsets are positions in the decoded stream (`tar offset 0x…`);
//! damage to the payload itself is reported at its evidence offset. A
//! broken payload ends the run with `Corrupt` after every file before the
//! damage was delivered; the member it cuts short is ended as incomplete
//! with the same message.

#![forbid(unsafe_code)]

use crate::header::{AesHeader, Header, HeaderReader, KeyError, MAGIC, MasterKey};
use crate::layout::Layout;
use crate::payload::{self, Chunks, DEPTH, Decrypt, Produced};
use exhibit_plugin_sdk::{FormatPlugin, PluginError, Probe, Session};
use exhibit_tar_stream::{Ended, Offsets, READ_AHEAD, TarStream};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;

/// The Android backup (`adb backup`) format plugin.
#[derive(Default)]
pub struct AndroidBackup;

impl FormatPlugin for AndroidBackup {
    const NAME: &'static str = "android-backup";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Android adb backups (.ab), versions 1 to 5: plain, zlib-compressed and AES-256 encrypted";
    const EXTENSIONS: &'static [&'static str] = &["ab"];

    /// 100 for the `ANDROID BACKUP` line, 10 for only a `.ab` name.
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.is_dir {
            0
        } else if probe.head.starts_with(MAGIC) {
            100
        } else if probe.has_extension("ab") {
            10
        } else {
            0
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let mut evidence = BufReader::with_capacity(READ_AHEAD, session.evidence_reader());
        let header = HeaderReader::new(&mut evidence).read()?;
        session.custody_note("android backup header", header.custody());
        let master = match &header.aes {
            Some(aes) => Some(open(session, &header, aes)?),
            None => None,
        };
        let mut layout = Layout::new(session);
        let tar = TarStream::new()
            .offsets(Offsets::Stream)
            .observe(&mut layout);
        if master.is_none() && !header.compressed {
            // The tar is the rest of the evidence: decoded right from the
            // evidence buffer, on this thread.
            let ended = tar.decode(session, &mut evidence)?;
            return after_tar(session, &mut evidence, ended);
        }
        let base = header.len;
        let compressed = header.compressed;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(DEPTH);
            let (recycle, recycled) = mpsc::channel();
            let producer = std::thread::Builder::new()
                .name("android-backup-payload".into())
                .spawn_scoped(scope, move || match master {
                    Some(key) => payload::produce(
                        Decrypt::new(evidence, &key.key, &key.iv, base),
                        compressed,
                        base,
                        &tx,
                        &recycled,
                    ),
                    None => payload::produce(evidence, compressed, base, &tx, &recycled),
                })
                .map_err(|e| PluginError::Io {
                    offset: None,
                    what: format!("cannot start the payload thread: {e}"),
                })?;
            let result = {
                let mut chunks = Chunks::new(rx, recycle);
                tar.decode(session, &mut chunks)
                    .and_then(|ended| after_tar(session, &mut chunks, ended))
                // `chunks` goes here: a producer still sending stops.
            };
            let produced = match producer.join() {
                Ok(produced) => produced,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            result?;
            after_zlib(session, produced);
            Ok(())
        })
    }
}

/// The master key, from the examiner's password.
fn open(session: &Session<'_>, header: &Header, aes: &AesHeader) -> Result<MasterKey, PluginError> {
    let what = evidence_name(session);
    let password = session
        .password()?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| PluginError::NoPassword { what: what.clone() })?;
    let master = aes
        .master_key(header.version, &password)
        .map_err(|e| match e {
            KeyError::WrongPassword => PluginError::WrongPassword { what },
            KeyError::Unsupported(feature) => PluginError::Unsupported { feature },
        })?;
    session.custody_note(
        "android backup decryption",
        json!({
            "master_key_checksum": "matches",
            "password_encoding": master.encoding.name(),
        }),
    );
    Ok(master)
}

/// The evidence's file name, as the examiner knows it.
fn evidence_name(session: &Session<'_>) -> String {
    let name = &session.evidence().name;
    let file = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    String::from_utf8_lossy(file).into_owned()
}

/// After the tar engine stopped: reads the rest of the tar stream (so the
/// whole payload is checked, to its padding and zlib end) and says how
/// much of it there was.
fn after_tar<R: BufRead>(
    session: &Session<'_>,
    rest: &mut R,
    ended: Ended,
) -> Result<(), PluginError> {
    let (mut count, mut zero) = (0u64, true);
    loop {
        session.check_cancelled()?;
        let bytes = rest.fill_buf().map_err(PluginError::from)?;
        if bytes.is_empty() {
            break;
        }
        zero &= bytes.iter().all(|&b| b == 0);
        let n = bytes.len();
        rest.consume(n);
        count = count.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    if count == 0 {
        return Ok(());
    }
    let what = if ended.end_marker {
        "after the end-of-archive marker"
    } else {
        "after the last member decoded"
    };
    let msg = format!(
        "{count} bytes of the tar stream {what} (tar offset {:#x}) not decoded{}",
        ended.position,
        if zero { "; all zero" } else { "" }
    );
    if zero {
        session.info(&msg);
    } else {
        session.warn(None, &msg);
    }
    Ok(())
}

/// Data after the end of the zlib stream is left undecoded, and said so.
fn after_zlib(session: &Session<'_>, produced: Produced) {
    if let Some((at, count)) = produced.after_zlib {
        session.warn(
            Some(at),
            &format!(
                "{count} bytes after the end of the compressed payload (offset {at:#x}) not decoded"
            ),
        );
    }
}
