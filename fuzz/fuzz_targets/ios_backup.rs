//! The ios-backup plugin on a zip or tar evidence, or on a fixture backup
//! with one parsed file replaced by the fuzz bytes (see
//! `exhibit_fuzz::ios_backup`). `run_safe` calls the safe trait with no
//! `catch_unwind`, so a plugin panic is a crash.
#![no_main]

use exhibit_format_ios_backup::IosBackup;
use exhibit_plugin_sdk::testing::run_safe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(host) = exhibit_fuzz::ios_backup::host(data) {
        let _ = run_safe::<IosBackup>(&host);
    }
});
