//! The plugin host: finds plugin libraries, hashes and loads them, refuses
//! the ones that do not speak this ABI (and says why), and asks format
//! plugins whether the evidence is theirs.
//!
//! Policy: only files named `libexhibit_*` / `exhibit_*` with the platform's
//! library suffix are loaded, from the folders given (`--plugins`, else
//! `EXHIBIT_PLUGIN_PATH`, else the configuration, else the folder of the
//! running executable), in name order; each file's SHA-256 is computed
//! before it is opened; a refused library never stops the others loading.

mod loader;

use crate::hash::HashAlgorithm;
use exhibit_plugin_sdk::abi::{self, Kind};
use exhibit_plugin_sdk::{HostServices, Probe, Status};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// Decodes a dump container into files.
    Format,
    /// Decodes extracted files into records.
    Artifact,
}

/// Identity of a loaded plugin, as recorded in the custody log.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// Unique lowercase name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// Format or artifact.
    pub kind: PluginKind,
    /// One line saying what it reads.
    pub description: String,
    /// File extensions it usually handles.
    pub extensions: Vec<String>,
    /// True when the plugin reads the evidence at random offsets (zip):
    /// the host then hashes the evidence on a thread of its own.
    pub random_access: bool,
    /// Artifact decoders: glob patterns over case paths (under `files/`) of
    /// the files they decode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Artifact decoders: the record kinds they emit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// The library file.
    pub path: PathBuf,
    /// SHA-256 of the library file, taken before it was loaded.
    pub sha256: String,
}

/// A plugin library loaded and checked.
pub struct LoadedPlugin {
    info: PluginInfo,
    /// Last field: dropped after everything that might point into it.
    library: loader::Library,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .finish()
    }
}

impl LoadedPlugin {
    /// Name, version, file and hash.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// How sure the plugin is that the evidence is its format (0–100).
    pub fn probe(&self, probe: &Probe<'_>) -> u32 {
        self.library.probe(probe)
    }

    /// Runs the plugin over the evidence the services give access to.
    pub fn run(&self, services: &dyn HostServices) -> Status {
        self.library.run(services)
    }
}

/// Why a library was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The file could not be read to hash it.
    Unreadable(String),
    /// The dynamic loader refused it.
    Load(String),
    /// It does not export `exhibit_plugin_v1`.
    MissingSymbol {
        /// Another generation's symbol it does export.
        other_version: Option<u32>,
    },
    /// Its entry symbol returned null.
    NullDescriptor,
    /// Its descriptor speaks another ABI version.
    AbiMismatch {
        /// The version it speaks.
        found: u32,
    },
    /// A descriptor field is missing or malformed.
    BadDescriptor(String),
    /// Another plugin already has this name.
    Duplicate {
        /// The name.
        name: String,
        /// The library loaded first under that name.
        first: PathBuf,
    },
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ours = abi::ABI_VERSION;
        match self {
            RefusalReason::Unreadable(e) => write!(f, "cannot read the library: {e}"),
            RefusalReason::Load(e) => write!(f, "the dynamic loader refused it: {e}"),
            RefusalReason::MissingSymbol {
                other_version: Some(v),
            } => write!(
                f,
                "speaks ABI v{v} (exports exhibit_plugin_v{v}), this exhibit speaks v{ours}"
            ),
            RefusalReason::MissingSymbol {
                other_version: None,
            } => write!(f, "not an exhibit plugin: no exhibit_plugin_v{ours} symbol"),
            RefusalReason::NullDescriptor => f.write_str("its entry symbol returned no descriptor"),
            RefusalReason::AbiMismatch { found } => {
                write!(f, "speaks ABI v{found}, this exhibit speaks v{ours}")
            }
            RefusalReason::BadDescriptor(what) => write!(f, "invalid descriptor: {what}"),
            RefusalReason::Duplicate { name, first } => write!(
                f,
                "another plugin named `{name}` is already loaded from {}",
                first.display()
            ),
        }
    }
}

/// A library that was not loaded.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The library file.
    pub path: PathBuf,
    /// Its SHA-256, when it could be read.
    pub sha256: Option<String>,
    /// Why.
    pub reason: RefusalReason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {} refused: {}", self.path.display(), self.reason)
    }
}

/// The set of plugins available to a run.
#[derive(Debug, Default)]
pub struct PluginHost {
    plugins: Vec<LoadedPlugin>,
    refused: Vec<Refusal>,
    searched: Vec<PathBuf>,
}

/// Where plugins are looked for, in precedence order: the `--plugins`
/// folders, else `EXHIBIT_PLUGIN_PATH` (a `PATH`-style list), else the
/// configured folders, else the folder of the running executable.
pub fn plugin_dirs(
    flags: &[PathBuf],
    env: Option<&std::ffi::OsStr>,
    configured: &[PathBuf],
) -> Vec<PathBuf> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        return std::env::split_paths(env).collect();
    }
    if !configured.is_empty() {
        return configured.to_vec();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
        .into_iter()
        .collect()
}

/// True for file names the host will load.
pub fn is_plugin_file_name(name: &str) -> bool {
    let suffix = std::env::consts::DLL_SUFFIX;
    let prefix = std::env::consts::DLL_PREFIX;
    name.ends_with(suffix) && name.starts_with(&format!("{prefix}exhibit_"))
}

impl PluginHost {
    /// Loads every plugin library found in `dirs`.
    pub fn discover(dirs: &[PathBuf]) -> PluginHost {
        let mut host = PluginHost {
            searched: dirs.to_vec(),
            ..PluginHost::default()
        };
        for dir in dirs {
            let Ok(read) = std::fs::read_dir(dir) else {
                tracing::warn!(dir = %dir.display(), "plugin folder cannot be read");
                continue;
            };
            let mut files: Vec<PathBuf> = read
                .filter_map(Result::ok)
                .filter(|e| is_plugin_file_name(&e.file_name().to_string_lossy()))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
                .map(|e| e.path())
                .collect();
            files.sort();
            for path in files {
                host.load(&path);
            }
        }
        host
    }

    /// Hashes, loads and checks one library, adding it or a refusal.
    pub fn load(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        // Streamed: a plugin library can be tens of MB, and reading it whole
        // would set the run's peak memory.
        let hashed = std::fs::File::open(&path)
            .and_then(|mut f| crate::hash::hash_reader(&mut f, &[HashAlgorithm::Sha256]));
        let sha256 = match hashed {
            Ok((mut digests, _)) => digests.remove("sha256").unwrap_or_default(),
            Err(e) => {
                return self.refuse(path, None, RefusalReason::Unreadable(e.to_string()));
            }
        };
        if self.plugins.iter().any(|p| p.info.path == path) {
            return;
        }
        let (library, identity) = match loader::Library::open(&path) {
            Ok(loaded) => loaded,
            Err(reason) => return self.refuse(path, Some(sha256), reason),
        };
        match validate(identity, &path, &sha256) {
            Ok(info) => {
                if let Some(first) = self.plugins.iter().find(|p| p.info.name == info.name) {
                    let reason = RefusalReason::Duplicate {
                        name: info.name.clone(),
                        first: first.info.path.clone(),
                    };
                    return self.refuse(path, Some(sha256), reason);
                }
                tracing::debug!(plugin = %info.name, path = %path.display(), "plugin loaded");
                self.plugins.push(LoadedPlugin { info, library });
            }
            Err(reason) => self.refuse(path, Some(sha256), reason),
        }
    }

    fn refuse(&mut self, path: PathBuf, sha256: Option<String>, reason: RefusalReason) {
        let refusal = Refusal {
            path,
            sha256,
            reason,
        };
        tracing::warn!("{refusal}");
        self.refused.push(refusal);
    }

    /// The loaded plugins, in load order.
    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// The refused libraries.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// The folders searched.
    pub fn searched(&self) -> &[PathBuf] {
        &self.searched
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins.iter().find(|p| p.info.name == name)
    }

    /// Every format plugin's confidence for `probe`, highest first (ties in
    /// name order).
    pub fn probe(&self, probe: &Probe<'_>) -> Vec<(&LoadedPlugin, u32)> {
        let mut scores: Vec<(&LoadedPlugin, u32)> = self
            .plugins
            .iter()
            .filter(|p| p.info.kind == PluginKind::Format)
            .map(|p| (p, p.probe(probe)))
            .collect();
        scores.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| a.0.info.name.cmp(&b.0.info.name))
        });
        scores
    }
}

fn validate(id: loader::Identity, path: &Path, sha256: &str) -> Result<PluginInfo, RefusalReason> {
    let bad = |what: &str| RefusalReason::BadDescriptor(what.to_owned());
    debug_assert_eq!(id.abi_version, abi::ABI_VERSION);
    let kind = match id.kind {
        Kind::FORMAT => PluginKind::Format,
        Kind::ARTIFACT => PluginKind::Artifact,
        Kind(other) => return Err(bad(&format!("unknown plugin kind {other}"))),
    };
    let name = id.name.ok_or_else(|| bad("name is not UTF-8"))?;
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid_name {
        return Err(bad(&format!(
            "name {name:?} must be 1–64 lowercase letters, digits, `-` or `_`"
        )));
    }
    let version = id.version.ok_or_else(|| bad("version is not UTF-8"))?;
    let handles: serde_json::Value = match id.handles_json.as_deref() {
        None => return Err(bad("handles_json is not UTF-8")),
        // serde's message names the line and column where the JSON breaks.
        Some(j) => serde_json::from_str(j)
            .map_err(|e| bad(&format!("handles_json is not valid JSON: {e}")))?,
    };
    if !id.has_probe && kind == PluginKind::Format {
        return Err(bad("a format plugin must have a probe function"));
    }
    if !id.has_run {
        return Err(bad("no run function"));
    }
    let strings = |key: &str| -> Vec<String> {
        handles[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (paths, kinds) = (strings("paths"), strings("kinds"));
    if kind == PluginKind::Artifact {
        if paths.is_empty() {
            return Err(bad("an artifact decoder must list the paths it decodes"));
        }
        if let Some(k) = kinds.iter().find(|k| !valid_record_kind(k.as_bytes())) {
            return Err(bad(&format!(
                "record kind {k:?} must be a lowercase letter then up to 63 lowercase letters, digits, `_` or `-`"
            )));
        }
    }
    Ok(PluginInfo {
        name,
        version,
        kind,
        description: handles["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        extensions: strings("extensions"),
        random_access: handles["access"] == "random",
        paths,
        kinds,
        path: path.to_owned(),
        sha256: sha256.to_owned(),
    })
}

/// A record kind names a file (`artifacts/<kind>.jsonl`): keep it plain.
pub(crate) fn valid_record_kind(kind: &[u8]) -> bool {
    kind.len() <= 64
        && kind.first().is_some_and(u8::is_ascii_lowercase)
        && kind
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}
