//! The safe traits a plugin author implements. The export macro turns an
//! implementation into the C descriptor; nothing here needs `unsafe`.

use crate::error::PluginError;
use crate::session::Session;

/// How a format plugin reads its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Front to back, once (tar, ADB backups, folder files).
    Sequential,
    /// At any offset, possibly from several threads (zip, disk images).
    Random,
}

impl Access {
    /// The name used in the descriptor's `handles_json`.
    pub fn name(self) -> &'static str {
        match self {
            Access::Sequential => "sequential",
            Access::Random => "random",
        }
    }
}

/// What a format plugin sees when asked whether the evidence is its format.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    /// The first bytes of the evidence; for a folder, the names of its
    /// top-level entries, each followed by `\n`, in byte order (see
    /// [`Probe::folder_has`]).
    pub head: &'a [u8],
    /// The evidence's file name (raw bytes; may be empty).
    pub name: &'a [u8],
    /// Size of the evidence in bytes (0 for a folder).
    pub size: u64,
    /// True when the evidence is a folder.
    pub is_dir: bool,
}

impl Probe<'_> {
    /// For a folder evidence: true when it holds a top-level entry named
    /// `name` (exactly, case-sensitive).
    pub fn folder_has(&self, name: &str) -> bool {
        self.is_dir
            && self
                .head
                .split(|&b| b == b'\n')
                .any(|n| n == name.as_bytes())
    }

    /// True when the evidence file name ends with `.ext` (ASCII case-insensitive).
    pub fn has_extension(&self, ext: &str) -> bool {
        let ext = ext.as_bytes();
        let name = self.name;
        name.len() > ext.len()
            && name[name.len() - ext.len() - 1] == b'.'
            && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext)
    }
}

/// A plugin that decodes a dump container into the files it holds.
///
/// The host constructs the plugin with [`Default`] for each run.
pub trait FormatPlugin: Default + 'static {
    /// Unique lowercase name, never reused (`"tar"`).
    const NAME: &'static str;
    /// Plugin version; usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line saying what the plugin reads.
    const DESCRIPTION: &'static str;
    /// File name extensions the format usually has, without the dot.
    const EXTENSIONS: &'static [&'static str] = &[];
    /// How the plugin reads the evidence. The host hashes a sequential
    /// reader's evidence from the very reads it makes (each byte read once);
    /// for a random-access reader it hashes the evidence on a thread of its
    /// own, concurrently with the run.
    const ACCESS: Access = Access::Sequential;

    /// How sure the plugin is that the evidence is its format: 0 (not mine)
    /// to 100 (certain). Must be cheap and must not fail.
    fn probe(&self, probe: &Probe<'_>) -> u8;

    /// Decodes the evidence, delivering every entry through `session`.
    ///
    /// Damage that can be worked around is reported with
    /// [`Session::warn`] or [`Session::report`] and decoding goes on;
    /// an `Err` ends the run and is recorded as its outcome.
    fn run(&self, session: &Session<'_>) -> Result<(), PluginError>;
}

/// A plugin that turns extracted files into records (messages, contacts,
/// calls…) of the shared schema in [`crate::records`].
///
/// The host runs it once per extracted file whose case path (relative to the
/// case's `files/` folder, `/`-separated) matches one of [`PATHS`](Self::PATHS),
/// after the extraction. [`Session::input_path`] names that file,
/// [`Session::evidence_reader`] reads it and [`Session::local_copy`] gives a
/// private copy on disk for SQLite. Records go out with [`Session::emit`].
/// A damaged input is reported and the decoder emits what it can; one
/// decoder's failure never stops the others.
pub trait ArtifactDecoder: Default + 'static {
    /// Unique lowercase name, never reused (`"android"`).
    const NAME: &'static str;
    /// Decoder version; usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line saying what the decoder reads.
    const DESCRIPTION: &'static str;
    /// Glob patterns over case paths: `*` within one path component, `**`
    /// across any number of them (`**/databases/mmssms.db`).
    const PATHS: &'static [&'static str];
    /// The record kinds it may emit (`"messages"`, `"contacts"`, `"calls"`).
    const KINDS: &'static [&'static str];

    /// Decodes one matched file, emitting its records through `session`.
    fn decode(&self, session: &Session<'_>) -> Result<(), PluginError>;
}
