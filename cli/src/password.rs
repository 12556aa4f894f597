//! Where `extract` and `decode` get a password for encrypted evidence:
//! `--password`, else `EXHIBIT_PASSWORD`, else a prompt on the terminal
//! (never echoed), asked only when a plugin finds the evidence encrypted.
//! The password is never logged or printed; the custody log records only
//! where it came from.

use exhibit_core::PasswordSource;
use indicatif::ProgressBar;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

/// The environment variable read when `--password` is not given.
pub const PASSWORD_ENV: &str = "EXHIBIT_PASSWORD";

/// The examiner's password, from the first place that has one.
pub struct CliPassword {
    given: Option<String>,
    env: Option<String>,
    /// Hidden while the prompt is on screen.
    bar: ProgressBar,
    /// A prompted password, so the examiner is asked once per run.
    prompted: Mutex<Option<String>>,
}

impl std::fmt::Debug for CliPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliPassword")
            .field("given", &self.given.as_ref().map(|_| "<redacted>"))
            .field("env", &self.env.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl CliPassword {
    /// `given` is `--password`'s value.
    pub fn new(given: Option<String>, bar: ProgressBar) -> CliPassword {
        CliPassword {
            given,
            env: std::env::var(PASSWORD_ENV).ok(),
            bar,
            prompted: Mutex::new(None),
        }
    }
}

impl PasswordSource for CliPassword {
    fn password(&self, evidence: &Path) -> Option<(String, &'static str)> {
        if let Some(p) = &self.given {
            return Some((p.clone(), "command line"));
        }
        if let Some(p) = &self.env {
            return Some((p.clone(), "environment"));
        }
        let mut prompted = self.prompted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = &*prompted {
            return Some((p.clone(), "prompt"));
        }
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        let name = evidence.file_name().map_or_else(
            || evidence.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let prompt = format!("password for {}: ", crate::output::term(&name));
        let answer = self
            .bar
            .suspend(|| rpassword::prompt_password(prompt))
            .ok()?;
        *prompted = Some(answer.clone());
        Some((answer, "prompt"))
    }
}
