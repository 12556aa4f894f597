//! Inputs the `android_decoder` fuzz target (`fuzz/`) found mishandled,
//! each replayed at the case path it was fuzzed at, with its exact outcome.
//! Every file in `tests/fuzz-regressions/` must have a case here.

use exhibit_artifacts_android::Android;
use exhibit_plugin_sdk::Status;
use exhibit_plugin_sdk::testing::decode_file;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz-regressions");

const CONTACTS2: &str = "data/data/com.android.providers.contacts/databases/contacts2.db";

/// One committed input and what decoding it must give.
struct Case {
    /// File name in [`DIR`].
    file: &'static str,
    /// The case path the decoder sees.
    path: &'static str,
    status: Status,
    /// Records emitted, by kind.
    records: &'static [(&'static str, usize)],
    /// Each must appear in some warning or error.
    logged: &'static [&'static str],
    /// None may appear in any warning or error.
    not_logged: &'static [&'static str],
}

const CASES: &[Case] = &[
    // contacts2.db whose `mimetypes` names its key `_i$`, not `_id`, and
    // whose `accounts` pages are damaged: the join on `m._id` failed the
    // whole contacts query, reported as an I/O error.
    Case {
        file: "android_decoder-mimetypes-without-id",
        path: CONTACTS2,
        status: Status::CORRUPT,
        records: &[("contacts", 0)],
        logged: &[
            "data/data/com.android.providers.contacts/databases/contacts2.db: table accounts, after 0 rows: database disk image is malformed",
        ],
        not_logged: &["no such column", "read failed"],
    },
];

#[test]
fn every_fuzz_regression_decodes_as_recorded() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .expect("the regression folder is listed")
        .map(|e| {
            e.expect("a regression entry is read")
                .file_name()
                .into_string()
                .expect("regression names are UTF-8")
        })
        .collect();
    files.sort();
    let mut known: Vec<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    known.sort();
    assert_eq!(files, known, "every input in {DIR} needs a case");

    for case in CASES {
        let data = std::fs::read(format!("{DIR}/{}", case.file)).expect("the input is read");
        let (status, transcript) = decode_file::<Android>(case.path, data);
        let problems: Vec<&str> = transcript
            .problems()
            .iter()
            .map(|l| l.message.as_str())
            .collect();
        assert_ne!(status, Status::PANICKED, "{}", case.file);
        assert_eq!(status, case.status, "{}: {problems:#?}", case.file);
        for (kind, count) in case.records {
            let got = transcript.records.iter().filter(|(k, _)| k == kind).count();
            assert_eq!(got, *count, "{}: {kind} records", case.file);
        }
        for want in case.logged {
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{}: no problem mentions {want:?}: {problems:#?}",
                case.file
            );
        }
        for unwanted in case.not_logged {
            assert!(
                problems.iter().all(|p| !p.contains(unwanted)),
                "{}: a problem mentions {unwanted:?}: {problems:#?}",
                case.file
            );
        }
    }
}

/// The kind of damage the fuzzers' corpora kept ending as `IO`: a header
/// whose schema format number (offset 44) SQLite does not support. It is a
/// damaged database, never an I/O failure of the working copy.
#[test]
fn a_schema_sqlite_refuses_is_corruption_not_an_io_error() {
    let mut db = exhibit_fixtures::sqlite_tools::build_db(
        "CREATE TABLE calls (_id INTEGER PRIMARY KEY, number TEXT, date INTEGER, type INTEGER);
         INSERT INTO calls VALUES (1, '+15550001111', 1709280000000, 1);",
    );
    db[44..48].copy_from_slice(&9u32.to_be_bytes());
    let path = "data/data/com.android.providers.contacts/databases/calllog.db";
    let (status, t) = decode_file::<Android>(path, db);
    assert_eq!(status, Status::CORRUPT, "{:?}", t.logs);
    let messages: Vec<&str> = t.problems().iter().map(|l| l.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains(path) && m.contains("unsupported file format")),
        "{messages:?}"
    );
    assert!(
        messages.iter().all(|m| !m.contains("read failed")),
        "{messages:?}"
    );
}
