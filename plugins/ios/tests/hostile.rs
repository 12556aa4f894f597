//! The hostile-input suite for the ios decoder (issue 6): random bit
//! flips (proptest, fixed seed) in every fixture input. What must hold: no
//! panic and no status but ok or corrupt, records only of the decoder's
//! kinds, and every warning or error names the input file.
#![allow(clippy::unwrap_used)]

use exhibit_artifacts_ios::Ios;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::decode_file;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Bounds this test binary: a hang is a failure, never a stuck CI run.
fn watchdog() {
    exhibit_plugin_sdk::testing::bound_test_binary(600);
}

/// Every fixture input with the case path the decoder sees it at.
fn inputs() -> Vec<(String, Vec<u8>)> {
    use exhibit_fixtures as fx;
    vec![
        (
            "HomeDomain/Library/SMS/sms.db".into(),
            fx::sms_db().unwrap(),
        ),
        (
            "HomeDomain/Library/AddressBook/AddressBook.sqlitedb".into(),
            fx::address_book_db().unwrap(),
        ),
        (
            "HomeDomain/Library/CallHistoryDB/CallHistory.storedata".into(),
            fx::call_history_db().unwrap(),
        ),
    ]
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6578_6869_6269_740a),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn bit_flips_are_reported_by_file_name(
        which in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8)
    ) {
        watchdog();
        let inputs = inputs();
        let (path, base) = &inputs[which.index(inputs.len())];
        let mut data = base.clone();
        for (at, bit) in &flips {
            let at = at.index(data.len());
            data[at] ^= 1 << bit;
        }
        let (status, t) = decode_file::<Ios>(path, data);
        prop_assert!(matches!(status, Status::OK | Status::CORRUPT), "{path}: {status:?}");
        for (kind, _) in &t.records {
            prop_assert!(["messages", "contacts", "calls"].contains(&kind.as_str()), "{kind}");
        }
        for p in t.problems() {
            prop_assert!(p.message.contains(path.as_str()), "{path}: {p:?}");
        }
    }
}
