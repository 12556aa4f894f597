//! The tar plugin's side of decoding: probing, and running the shared tar
//! engine ([`exhibit_tar_stream`]) over the evidence itself.
//!
//! Policy: the evidence is read once, front to back, through one buffered
//! sequential reader of [`READ_AHEAD`] bytes (the host hashes it from those
//! reads); member data goes to the host straight from that buffer. Offsets
//! are evidence offsets. Everything else (damage, truncation, resynchronising)
//! is the engine's, documented there.

#![forbid(unsafe_code)]

use exhibit_plugin_sdk::{FormatPlugin, PluginError, Probe, Session};
use exhibit_tar_stream::{READ_AHEAD, TarStream, header_confidence};
use std::io::BufReader;

/// The tar format plugin.
#[derive(Default)]
pub struct Tar;

impl FormatPlugin for Tar {
    const NAME: &'static str = "tar";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "tar archives: ustar, GNU and pax, streamed";
    const EXTENSIONS: &'static [&'static str] = &["tar"];

    /// 100 for a ustar/GNU magic with a valid checksum, 40 for the magic with
    /// a bad one, 60 for a plausible v7 header, 10 for only a `.tar` name.
    fn probe(&self, probe: &Probe<'_>) -> u8 {
        if probe.is_dir {
            return 0;
        }
        match header_confidence(probe.head) {
            0 if probe.has_extension("tar") => 10,
            score => score,
        }
    }

    fn run(&self, session: &Session<'_>) -> Result<(), PluginError> {
        let evidence = BufReader::with_capacity(READ_AHEAD, session.evidence_reader());
        TarStream::new()
            .total(session.evidence().size)
            .decode(session, evidence)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;

    fn probe(head: &[u8], name: &[u8]) -> u8 {
        Tar.probe(&Probe {
            head,
            name,
            size: head.len() as u64,
            is_dir: false,
        })
    }

    /// A ustar header built by the `tar` crate, checksum set.
    fn header() -> [u8; 512] {
        let mut h = tar::Header::new_ustar();
        h.set_path("a.txt").unwrap();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        *h.as_bytes()
    }

    #[test]
    fn probe_scores() {
        let good = header();
        assert_eq!(probe(&good, b"x.bin"), 100);
        let mut bad = good;
        bad[0] = b'b';
        assert_eq!(probe(&bad, b"x.bin"), 40);
        assert_eq!(probe(&bad, b"x.tar"), 40);
        assert_eq!(probe(&[0; 1024], b"empty.TAR"), 10);
        assert_eq!(probe(b"short", b"x.tar"), 10);
        assert_eq!(probe(&[0x41; 1024], b"x.bin"), 0);
        let dir = Probe {
            head: b"",
            name: b"x.tar",
            size: 0,
            is_dir: true,
        };
        assert_eq!(Tar.probe(&dir), 0);
    }
}
