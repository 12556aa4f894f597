//! How results reach the user: exit codes, the JSON Lines envelope on
//! stdout, and terminal-safe text. stdout is data, stderr is people.

use serde::Serialize;
use std::borrow::Cow;
use std::io::{self, Write};

/// exhibit's exit codes (also in `--help` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything extracted or verified; no warnings or errors.
    Success = 0,
    /// The command could not do its job, or verify found a problem.
    Failure = 1,
    /// Extraction finished but recorded warnings or errors.
    CompletedWithErrors = 2,
    /// `verify`: the run is incomplete (interrupted or killed) and all it
    /// recorded is intact, so it can be resumed.
    Incomplete = 3,
    /// The command line was wrong.
    Usage = 64,
    /// Stopped by Ctrl-C / SIGTERM.
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// Version of the `--json` output format.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Writes `{"type": kind, "data": data}` as one line on stdout.
pub fn emit<T: Serialize>(kind: &str, data: &T) -> io::Result<()> {
    let line = serde_json::to_string(&serde_json::json!({"type": kind, "data": data}))
        .map_err(io::Error::other)?;
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
}

/// The first `--json` message of every command.
pub fn emit_begin(command: &str) -> io::Result<()> {
    emit(
        "begin",
        &serde_json::json!({
            "format_version": JSON_FORMAT_VERSION,
            "command": command,
            "exhibit_version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

/// Makes text from the evidence safe for a terminal: control characters
/// (escape sequences included) are shown as `\u{..}`, never interpreted.
pub fn term(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A path for a terminal: the examiner's own paths can hold control
/// characters too (a case folder named with an escape sequence).
pub fn term_path(path: &std::path::Path) -> String {
    term(&path.display().to_string()).into_owned()
}

/// Prints a line on stdout for a person.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, $($arg)*)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_never_reach_the_terminal() {
        assert_eq!(term("evil\u{1b}[31mred.txt"), "evil\\u{1b}[31mred.txt");
        assert_eq!(term("plain/path.txt"), "plain/path.txt");
        assert_eq!(term("bell\u{7}"), "bell\\u{7}");
    }
}
