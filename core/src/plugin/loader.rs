//! Host-side dynamic loading: `dlopen` of a plugin library, lookup of its
//! entry symbol, validation of the descriptor it returns, and calls through
//! that descriptor. The only module of the core allowed `unsafe`.
//!
//! Policy (STYLE rule 7): the library is opened with `RTLD_NOW | RTLD_LOCAL`
//! so unresolved symbols fail here and plugins cannot see each other's
//! symbols; checks go in stages (symbol, non-null, ABI version, fields) with
//! a runtime check, never an assertion; a loaded library is never unloaded.
#![allow(unsafe_code)]

use super::RefusalReason;
use exhibit_plugin_sdk::abi::{self, Bytes, Descriptor, EntryFn};
use exhibit_plugin_sdk::export::{call_probe, call_run, slice};
use exhibit_plugin_sdk::{HostServices, Probe, Status};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

/// A library that passed the ABI checks, with its descriptor.
pub(super) struct Library {
    descriptor: NonNull<Descriptor>,
    /// Declared last so it drops last; never unloaded while a descriptor
    /// pointer exists.
    _library: Arc<libloading::Library>,
}

// SAFETY: the descriptor is immutable `'static` data of a library that stays
// loaded as long as this value; the ABI requires probe and run to be callable
// from any thread.
unsafe impl Send for Library {}
// SAFETY: as for Send: shared access only reads the descriptor.
unsafe impl Sync for Library {}

/// Identity fields copied out of a descriptor.
pub(super) struct Identity {
    pub abi_version: u32,
    pub kind: abi::Kind,
    pub name: Option<String>,
    pub version: Option<String>,
    pub handles_json: Option<String>,
    pub has_probe: bool,
    pub has_run: bool,
}

fn text(b: Bytes) -> Option<String> {
    // SAFETY: called only on descriptor fields while the library is loaded;
    // the ABI requires descriptor Bytes to point to 'static data.
    let bytes = unsafe { slice(b) }?;
    String::from_utf8(bytes.to_vec()).ok()
}

impl Library {
    /// Opens `path` and checks its symbol and ABI version.
    pub(super) fn open(path: &Path) -> Result<(Library, Identity), RefusalReason> {
        // SAFETY: loading runs the library's initialisers. We only load files
        // from the folders the examiner named, whose SHA-256 the caller has
        // already computed for the custody log; this is the trust decision
        // DESIGN describes, and there is no way to make it safer here.
        let library = unsafe { open_now_local(path) }.map_err(|e| {
            // libloading's Display says only "dlopen failed"; the
            // loader's own text (missing file, wrong ELF class…) is its source.
            let detail = std::error::Error::source(&e).map(ToString::to_string);
            RefusalReason::Load(detail.unwrap_or_else(|| e.to_string()))
        })?;
        // SAFETY: the symbol's type is the ABI's EntryFn; a library exporting
        // this name promises that signature (it is how the ABI is defined).
        let entry = match unsafe { library.get::<EntryFn>(abi::ENTRY_SYMBOL) } {
            Ok(entry) => *entry,
            Err(_) => {
                return Err(RefusalReason::MissingSymbol {
                    other_version: other_generation(&library),
                });
            }
        };
        // SAFETY: calling the entry function of a plugin is the contract.
        let raw = unsafe { entry() };
        let descriptor = NonNull::new(raw.cast_mut()).ok_or(RefusalReason::NullDescriptor)?;
        // SAFETY: non-null, and the ABI says it points to a 'static
        // Descriptor. Only `abi_version` (the first field, stable across all
        // generations) is read before the version check.
        let abi_version = unsafe { descriptor.as_ref().abi_version };
        if abi_version != abi::ABI_VERSION {
            return Err(RefusalReason::AbiMismatch { found: abi_version });
        }
        // SAFETY: same version, so the whole struct has this layout.
        let d = unsafe { descriptor.as_ref() };
        let identity = Identity {
            abi_version,
            kind: d.kind,
            name: text(d.name),
            version: text(d.version),
            handles_json: text(d.handles_json),
            has_probe: d.probe.is_some(),
            has_run: d.run.is_some(),
        };
        Ok((
            Library {
                descriptor,
                _library: Arc::new(library),
            },
            identity,
        ))
    }

    fn descriptor(&self) -> &Descriptor {
        // SAFETY: checked non-null and version-matched at open; the library
        // is kept loaded by `_library`.
        unsafe { self.descriptor.as_ref() }
    }

    /// Calls the plugin's probe.
    pub(super) fn probe(&self, probe: &Probe<'_>) -> u32 {
        // SAFETY: the descriptor's pointers were validated at open and the
        // library stays loaded.
        unsafe { call_probe(self.descriptor(), probe) }
    }

    /// Calls the plugin's run.
    pub(super) fn run(&self, services: &dyn HostServices) -> Status {
        // SAFETY: as for probe.
        unsafe { call_run(self.descriptor(), services) }
    }
}

/// # Safety
/// Loading a library runs its initialisers.
unsafe fn open_now_local(path: &Path) -> Result<libloading::Library, libloading::Error> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: forwarded to the caller.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
    }
    #[cfg(not(unix))]
    {
        // SAFETY: forwarded to the caller.
        unsafe { libloading::Library::new(path) }
    }
}

/// The ABI generation a library speaks when it lacks ours, if any.
fn other_generation(library: &libloading::Library) -> Option<u32> {
    (0..=9u32).filter(|&v| v != abi::ABI_VERSION).find(|v| {
        let symbol = format!("exhibit_plugin_v{v}\0");
        // SAFETY: only the symbol's presence is checked; it is never called.
        unsafe { library.get::<*const ()>(symbol.as_bytes()) }.is_ok()
    })
}
