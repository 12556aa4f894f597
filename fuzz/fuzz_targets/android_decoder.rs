//! The android artifact decoder on each kind of file it handles, the first
//! byte choosing the case path and a SQLite companion (see
//! `exhibit_fuzz::decoder`). `run_decoder_safe` calls the safe trait with no
//! `catch_unwind`, so a decoder panic is a crash.
#![no_main]

use exhibit_artifacts_android::Android;
use exhibit_plugin_sdk::testing::run_decoder_safe;
use libfuzzer_sys::fuzz_target;

/// One case path per file kind the decoder reads; `write_seeds` uses the
/// same order.
const PATHS: [&str; 5] = [
    "data/data/com.android.providers.telephony/databases/mmssms.db",
    "data/data/com.android.providers.contacts/databases/contacts2.db",
    "data/data/com.android.providers.contacts/databases/calllog.db",
    "apps/com.android.providers.telephony/d_f/000000_sms_backup",
    "apps/com.android.providers.telephony/d_f/000001_mms_backup",
];

fuzz_target!(|data: &[u8]| {
    let Some(input) = exhibit_fuzz::decoder::split(data, PATHS.len()) else {
        return;
    };
    let Some(path) = PATHS.get(input.index) else {
        return;
    };
    let host = exhibit_fuzz::decoder::host(path, &input);
    let _ = run_decoder_safe::<Android>(&host);
});
