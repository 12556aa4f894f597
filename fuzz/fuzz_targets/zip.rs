//! The zip plugin on arbitrary bytes. `run_safe` calls the safe trait with
//! no `catch_unwind`, so a plugin panic is a crash.
#![no_main]

use exhibit_format_zip::Zip;
use exhibit_plugin_sdk::testing::{MemoryHost, run_safe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let host = MemoryHost::file("fuzz.zip", data.to_vec());
    let _ = run_safe::<Zip>(&host);
});
