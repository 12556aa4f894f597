//! The android-backup plugin on arbitrary bytes, the first byte choosing the
//! password offered (see `exhibit_fuzz::android_backup`). `run_safe` calls
//! the safe trait with no `catch_unwind`, so a plugin panic is a crash.
#![no_main]

use exhibit_format_android_backup::AndroidBackup;
use exhibit_plugin_sdk::testing::run_safe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(host) = exhibit_fuzz::android_backup::host(data) {
        let _ = run_safe::<AndroidBackup>(&host);
    }
});
