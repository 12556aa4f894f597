//! Turns parsed arguments and the settings file into a validated
//! configuration: flags override settings, and the merged values are what
//! the custody log records.

use crate::args::{Args, ExtractArgs, IsolationArgs};
use anyhow::{Result, bail};
use exhibit_core::{HashAlgorithm, Settings, plugin_dirs, settings};
use std::path::PathBuf;

/// Settings in force for one command.
#[derive(Debug)]
pub struct Config {
    /// The settings file read, if any.
    pub settings_file: Option<PathBuf>,
    /// Its contents (empty when there is none).
    pub settings: Settings,
    /// Plugin folders to search.
    pub plugin_dirs: Vec<PathBuf>,
}

impl Config {
    /// Reads the settings file (`--config`, else the default one if it exists).
    pub fn new(args: &Args) -> Result<Config> {
        let (settings_file, settings) = match &args.config {
            Some(path) => (Some(path.clone()), Settings::load(path)?),
            None => match settings::default_path(dirs::config_dir()) {
                Some(path) if path.is_file() => (Some(path.clone()), Settings::load(&path)?),
                _ => (None, Settings::default()),
            },
        };
        let configured = settings.plugins.clone().unwrap_or_default();
        let env = std::env::var_os("EXHIBIT_PLUGIN_PATH");
        let plugin_dirs = plugin_dirs(&args.plugins, env.as_deref(), &configured);
        Ok(Config {
            settings_file,
            settings,
            plugin_dirs,
        })
    }

    /// The digest algorithms: `--hash`, else the settings, else SHA-256 only.
    pub fn hashes(&self, x: &ExtractArgs) -> Result<Vec<HashAlgorithm>> {
        let list = match (&x.hash, &self.settings.hash) {
            (Some(flag), _) => flag.clone(),
            (None, Some(configured)) => configured.join(","),
            (None, None) => String::new(),
        };
        Ok(HashAlgorithm::parse_list(&list)?)
    }

    /// Which plugins run in a child process, and its limits: flags, else the
    /// settings; by default every decoder is isolated and the format plugin
    /// is not.
    pub fn isolation(&self, a: &IsolationArgs) -> Result<Option<exhibit_core::Isolation>> {
        let s = &self.settings;
        let everything = match (a.isolate, a.no_isolate, s.isolate) {
            (true, _, _) => Some(true),
            (_, true, _) => Some(false),
            (false, false, configured) => configured,
        };
        if everything == Some(false) {
            return Ok(None);
        }
        let memory = match (a.plugin_memory, &s.plugin_memory) {
            (Some(m), _) => Some(m),
            (None, Some(text)) => Some(
                crate::args::parse_size(text)
                    .map_err(|e| anyhow::anyhow!("settings: plugin_memory: {e}"))?,
            ),
            (None, None) => None,
        };
        let timeout = a.plugin_timeout.or(s.plugin_timeout);
        if timeout == Some(0) {
            bail!("--plugin-timeout must be at least 1 second");
        }
        Ok(Some(exhibit_core::Isolation {
            program: std::env::current_exe()?,
            formats: everything == Some(true),
            decoders: true,
            memory,
            timeout: timeout.map(std::time::Duration::from_secs),
        }))
    }

    /// The values in force, for the custody log.
    pub fn in_force(&self, x: &ExtractArgs, hashes: &[HashAlgorithm]) -> serde_json::Value {
        serde_json::json!({
            "settings_file": self.settings_file.as_ref().map(|p| p.to_string_lossy()),
            "examiner": x.examiner.as_ref().or(self.settings.examiner.as_ref()),
            "agency": x.agency.as_ref().or(self.settings.agency.as_ref()),
            "hash": hashes.iter().map(|h| h.name()).collect::<Vec<_>>(),
            "plugin_dirs": self.plugin_dirs.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
            "format": x.format,
            "rehash_evidence": x.rehash_evidence,
            "threads": x.threads,
            "min_free": x.min_free.unwrap_or(exhibit_core::extract::DEFAULT_MIN_FREE),
            "decode": !x.no_decode,
            "isolation": self.isolation(&x.isolation).ok().flatten(),
        })
    }
}

/// Checks a `--evidence-sha256` value.
pub fn acquisition_hash(hex: Option<&str>) -> Result<Option<String>> {
    let Some(hex) = hex else { return Ok(None) };
    let hex = hex.trim().to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--evidence-sha256 needs 64 hex digits, got {hex:?}");
    }
    Ok(Some(hex))
}

/// The current command line, for the log.
pub fn command_line() -> Vec<String> {
    redact(
        std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    )
}

/// Replaces the value of `--password` so it never reaches the custody log.
fn redact(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            out.push("<redacted>".to_owned());
            hide_next = false;
        } else if arg == "--password" {
            out.push(arg);
            hide_next = true;
        } else if arg.starts_with("--password=") {
            out.push("--password=<redacted>".to_owned());
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_never_reach_the_log() {
        let args = [
            "exhibit",
            "extract",
            "b.ab",
            "--password",
            "s3cret",
            "--password=two",
        ];
        let got = super::redact(args.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(
            got,
            [
                "exhibit",
                "extract",
                "b.ab",
                "--password",
                "<redacted>",
                "--password=<redacted>"
            ]
        );
    }
}
