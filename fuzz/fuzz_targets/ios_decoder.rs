//! The ios artifact decoder on each database it handles, the first byte
//! choosing the case path and a SQLite companion (see
//! `exhibit_fuzz::decoder`); the fourth choice feeds the bytes straight to
//! the typedstream reader of `attributedBody` blobs, which a mutated sms.db
//! rarely reaches. `run_decoder_safe` calls the safe trait with no
//! `catch_unwind`, so a decoder panic is a crash.
#![no_main]

use exhibit_artifacts_ios::{Ios, attributed_text};
use exhibit_plugin_sdk::testing::run_decoder_safe;
use libfuzzer_sys::fuzz_target;

/// One case path per database; index 3 is the typedstream reader.
/// `write_seeds` uses the same order.
const PATHS: [&str; 3] = [
    "HomeDomain/Library/SMS/sms.db",
    "HomeDomain/Library/AddressBook/AddressBook.sqlitedb",
    "WirelessDomain/Library/CallHistoryDB/CallHistory.storedata",
];

fuzz_target!(|data: &[u8]| {
    let Some(input) = exhibit_fuzz::decoder::split(data, PATHS.len() + 1) else {
        return;
    };
    match PATHS.get(input.index) {
        Some(path) => {
            let host = exhibit_fuzz::decoder::host(path, &input);
            let _ = run_decoder_safe::<Ios>(&host);
        }
        None => {
            let _ = attributed_text(input.file);
        }
    }
});
