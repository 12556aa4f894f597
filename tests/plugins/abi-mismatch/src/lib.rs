//! A deliberately wrong plugin for the end-to-end tests: it exports the v1
//! entry symbol, but its descriptor claims ABI version 2. It is written by
//! hand, without the SDK's export macro, because no correct plugin can be.
#![allow(unsafe_code)]

use exhibit_plugin_sdk::abi::{Bytes, Descriptor, Kind};

struct Static(Descriptor);
// SAFETY: the descriptor points only to 'static string constants.
unsafe impl Sync for Static {}

static DESCRIPTOR: Static = Static(Descriptor {
    abi_version: 2,
    kind: Kind::FORMAT,
    name: Bytes::from_slice(b"future"),
    version: Bytes::from_slice(b"2.0.0"),
    handles_json: Bytes::from_slice(b"{}"),
    probe: None,
    run: None,
});

/// The entry symbol, returning a descriptor of the wrong generation.
#[unsafe(no_mangle)]
pub extern "C" fn exhibit_plugin_v1() -> *const Descriptor {
    &DESCRIPTOR.0
}
