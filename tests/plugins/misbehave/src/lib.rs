//! A format plugin for the end-to-end tests of isolation, interruption and
//! evidence integrity. The evidence's first line names what it does; every
//! mode first delivers `before.txt` complete and starts `during.txt`, so the
//! tests can check that what came before the failure is kept.
//!
//! Modes: `segfault`, `abort`, `oom` (allocates until it is stopped),
//! `hang` (ignores cancellation), `gate` (waits for the file named by
//! `EXHIBIT_TEST_GATE`, polling cancellation, then finishes), `slow`
//! (finishes `during.txt` one byte every 100 ms, polling cancellation),
//! `overwrite` (declares 10 bytes, writes 100), `ok`.
#![deny(unsafe_code)]

use exhibit_plugin_sdk::{EntryMeta, FormatPlugin, PluginError, Probe, Session};
use std::time::{Duration, Instant};

/// Content of the file delivered before the misbehaviour.
pub const BEFORE: &[u8] = b"delivered before the misbehaviour\n";

#[derive(Default)]
pub struct Misbehave;

impl FormatPlugin for Misbehave {
    const NAME: &'static str = "misbehave";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "test plugin that misbehaves as its evidence asks";

    fn probe(&self, _: &Probe<'_>) -> u8 {
        0
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let mut head = vec![0u8; 64];
        let n = session.read_at(0, &mut head)?;
        head.truncate(n);
        let mode = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if mode == "overwrite" {
            let mut out = session.begin(b"liar.bin", &EntryMeta::file(10))?;
            out.write_bytes(&[b'x'; 100])?;
            return out.finish();
        }
        let mut out = session.begin(b"before.txt", &EntryMeta::file(BEFORE.len() as u64))?;
        out.write_bytes(BEFORE)?;
        out.finish()?;
        let mut during = session.begin(b"during.txt", &EntryMeta::file(40))?;
        during.write_bytes(b"half")?;
        match mode.as_str() {
            "segfault" => segfault(),
            "abort" => std::process::abort(),
            "oom" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Touched, so the pages are really taken.
                    hog.push(vec![0x5a; 16 << 20]);
                }
            }
            "hang" => loop {
                std::thread::sleep(Duration::from_millis(200));
            },
            "gate" => {
                let gate = std::env::var_os("EXHIBIT_TEST_GATE").ok_or_else(|| {
                    PluginError::Unsupported {
                        feature: "gate mode without EXHIBIT_TEST_GATE".into(),
                    }
                })?;
                let deadline = Instant::now() + Duration::from_secs(60);
                while !std::path::Path::new(&gate).exists() {
                    session.check_cancelled()?;
                    if Instant::now() > deadline {
                        return Err(PluginError::Io {
                            offset: None,
                            what: "the gate never opened".into(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            "slow" => {
                for _ in 0..36 {
                    session.check_cancelled()?;
                    during.write_bytes(b".")?;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            _ => {}
        }
        during.write_bytes(&[b'-'; 36][..(40 - during.written()) as usize])?;
        during.finish()
    }
}

/// A real SIGSEGV without `unsafe`: the process signals itself.
fn segfault() -> ! {
    let pid = std::process::id().to_string();
    // Twice: the Rust runtime's own SIGSEGV handler (stack-overflow
    // detection) swallows the first one, which it finds is no fault, and
    // restores the default action for the second.
    for _ in 0..2 {
        let _ = std::process::Command::new("kill")
            .args(["-SEGV", &pid])
            .status();
    }
    std::thread::sleep(Duration::from_secs(10));
    std::process::abort()
}

exhibit_plugin_sdk::export!(Misbehave);
