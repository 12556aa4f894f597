//! A plugin that panics half way, for the end-to-end tests: the host must
//! record an error entry, keep the file delivered before, and finish the run.
#![deny(unsafe_code)]

use exhibit_plugin_sdk::{EntryMeta, FormatPlugin, PluginError, Probe, Session};

/// Delivers `before.txt`, writes half of `during.txt`, then panics.
#[derive(Default)]
pub struct Panicker;

/// Content of the file delivered before the panic.
pub const BEFORE: &[u8] = b"delivered before the panic\n";

impl FormatPlugin for Panicker {
    const NAME: &'static str = "panicker";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "test plugin that panics during run";

    fn probe(&self, _: &Probe<'_>) -> u8 {
        0
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let mut out = session.begin(b"before.txt", &EntryMeta::file(BEFORE.len() as u64))?;
        out.write_bytes(BEFORE)?;
        out.finish()?;
        let mut during = session.begin(b"during.txt", &EntryMeta::file(100))?;
        during.write_bytes(b"half")?;
        let index: Vec<u8> = Vec::new();
        // An out-of-bounds index, the classic decoder bug.
        let _ = index[usize::from(during.written() > 0)];
        during.finish()
    }
}

exhibit_plugin_sdk::export!(Panicker);
