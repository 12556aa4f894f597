//! An artifact decoder for the end-to-end tests of decoder isolation. It
//! decodes files named `*.misbehave`; each input's first line names what it
//! does after emitting one record: `segfault`, `abort`, `oom`, `hang`, or
//! anything else to finish normally.
#![deny(unsafe_code)]

use exhibit_plugin_sdk::{ArtifactDecoder, PluginError, Session};
use std::io::Read;
use std::time::Duration;

#[derive(Default)]
pub struct Misdecoder;

impl ArtifactDecoder for Misdecoder {
    const NAME: &'static str = "misdecoder";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "test decoder that misbehaves as each input asks";
    const PATHS: &'static [&'static str] = &["**/*.misbehave"];
    const KINDS: &'static [&'static str] = &["notes"];

    fn decode(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let mut text = String::new();
        session
            .evidence_reader()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(PluginError::from)?;
        let mode = text.lines().next().unwrap_or_default().trim().to_owned();
        session.emit_record(
            "notes",
            &serde_json::json!({"input": session.input_path(), "mode": mode}),
        )?;
        match mode.as_str() {
            "segfault" => {
                let pid = std::process::id().to_string();
                // Twice: the Rust runtime's SIGSEGV handler swallows the first.
                for _ in 0..2 {
                    let _ = std::process::Command::new("kill")
                        .args(["-SEGV", &pid])
                        .status();
                }
                std::thread::sleep(Duration::from_secs(10));
                std::process::abort()
            }
            "abort" => std::process::abort(),
            "oom" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(vec![0x5a; 16 << 20]);
                }
            }
            "hang" => loop {
                std::thread::sleep(Duration::from_millis(200));
            },
            _ => Ok(()),
        }
    }
}

exhibit_plugin_sdk::export_decoder!(Misdecoder);
