//! `exhibit.toml`: the defaults an examiner sets once (name, agency, hash
//! algorithms, plugin folders, …). Read from `--config FILE`, else from the
//! user's configuration folder (`~/.config/exhibit/exhibit.toml` on Linux);
//! flags override it, and the values in force go into the custody log.
//! Unknown keys are refused, so a typo is not silently ignored.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The settings file's contents; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Examiner's name.
    pub examiner: Option<String>,
    /// Examiner's organisation.
    pub agency: Option<String>,
    /// Digest algorithms, e.g. `["sha256", "md5"]`.
    pub hash: Option<Vec<String>>,
    /// Folders to load plugins from.
    pub plugins: Option<Vec<PathBuf>>,
    /// `true`: the format plugin runs in a child process too; `false`: every
    /// plugin runs in process. Unset: decoders isolated, the format plugin not.
    pub isolate: Option<bool>,
    /// Address-space limit of each plugin process, e.g. `"2G"`.
    pub plugin_memory: Option<String>,
    /// Seconds one plugin run may take.
    pub plugin_timeout: Option<u64>,
}

/// Why the settings file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// It cannot be read.
    #[error("cannot read settings file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// It is not valid.
    #[error("invalid settings file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// The default settings file: `<user config folder>/exhibit/exhibit.toml`.
pub fn default_path(config_dir: Option<PathBuf>) -> Option<PathBuf> {
    config_dir.map(|d| d.join("exhibit").join("exhibit.toml"))
}

impl Settings {
    /// Reads settings from `path`.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io {
            path: path.to_owned(),
            source,
        })?;
        Settings::parse(&text).map_err(|message| SettingsError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses settings text.
    pub fn parse(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_refuses_typos() {
        let s = Settings::parse("examiner = \"A. Smith\"\nhash = [\"md5\"]\n").unwrap();
        assert_eq!(s.examiner.as_deref(), Some("A. Smith"));
        assert_eq!(s.hash, Some(vec!["md5".to_owned()]));
        let err = Settings::parse("examinr = \"x\"").unwrap_err();
        assert!(err.contains("unknown field `examinr`"), "{err}");
    }
}
