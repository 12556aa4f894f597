//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`
//! (or the folder given as the only argument), from the fixture generators:
//! `cargo run --release --manifest-path fuzz/Cargo.toml --example write_seeds`.
//! Seeds are regenerated, never committed; the SQLite decoders get nowhere
//! without real databases to mutate.

use std::io::Write;
use std::path::{Path, PathBuf};

use exhibit_fixtures::{
    AbFixture, EntryKind, IOS_ATTRIBUTED_ONLY_LONG, IOS_ATTRIBUTED_ONLY_SHORT, address_book_db,
    android_tree, call_history_db, calllog_db, contacts2_db, hostile, hostile_zip, mms_backup,
    mmssms_db, sms_backup, sms_db, tar_bytes_of, typedstream_attributed_body, zip_bytes_of,
};
use exhibit_fuzz::ios_backup::{self, MODES, Mode, Skeleton};
use exhibit_fuzz::{android_backup, decoder};

type Seeds = Vec<(String, Vec<u8>)>;

/// Files above this size are left out of the tree-shaped seeds: big seeds
/// make every execution slow and teach the fuzzer nothing new.
const SMALL: usize = 8 * 1024;

fn small_tree() -> std::io::Result<Vec<exhibit_fixtures::TreeEntry>> {
    Ok(android_tree()?
        .into_iter()
        .filter(|e| !matches!(&e.kind, EntryKind::File(b) if b.len() > SMALL))
        .collect())
}

fn tar_seeds() -> std::io::Result<Seeds> {
    let mut seeds: Seeds = hostile::all()
        .into_iter()
        .map(|(name, bytes)| (format!("hostile-{name}"), bytes))
        .collect();
    seeds.push(("ffs-small.tar".into(), tar_bytes_of(&small_tree()?)?));
    Ok(seeds)
}

fn zip_seeds() -> std::io::Result<Seeds> {
    let mut seeds: Seeds = hostile_zip::all()?
        .into_iter()
        .map(|(name, bytes)| (format!("hostile-{name}"), bytes))
        .collect();
    seeds.push(("ffs-small.zip".into(), zip_bytes_of(&small_tree()?)?));
    Ok(seeds)
}

fn android_backup_seeds() -> std::io::Result<Seeds> {
    AbFixture::ALL
        .iter()
        .map(|f| {
            let bytes = android_backup::seed(f.password(), &f.bytes()?);
            Ok((f.file_name().to_owned(), bytes))
        })
        .collect()
}

fn zip_of(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        writer
            .start_file(format!("{}/{name}", exhibit_fixtures::IOS_UDID), options)
            .map_err(std::io::Error::other)?;
        writer.write_all(bytes)?;
    }
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

fn ios_backup_seeds() -> std::io::Result<Seeds> {
    let plain = ios_backup::skeleton(Skeleton::Plain);
    let legacy = ios_backup::skeleton(Skeleton::Legacy);
    let mut seeds = vec![
        (
            "archive-plain.tar".to_owned(),
            ios_backup::seed(Mode::Archive, &ios_backup::tar_of(plain)),
        ),
        (
            "archive-plain.zip".to_owned(),
            ios_backup::seed(Mode::Archive, &zip_of(plain)?),
        ),
        (
            "archive-legacy.zip".to_owned(),
            ios_backup::seed(Mode::Archive, &zip_of(legacy)?),
        ),
    ];
    for mode in MODES {
        let Mode::Replace { skeleton, file } = mode else {
            continue;
        };
        let original = ios_backup::skeleton(skeleton)
            .iter()
            .find(|(name, _)| name == file)
            .map(|(_, bytes)| bytes.as_slice())
            .ok_or_else(|| std::io::Error::other(format!("{skeleton:?} has no {file}")))?;
        seeds.push((
            format!("{skeleton:?}-{file}").to_lowercase(),
            ios_backup::seed(mode, original),
        ));
    }
    Ok(seeds)
}

fn android_decoder_seeds() -> std::io::Result<Seeds> {
    // The order of the target's PATHS.
    let files = [
        ("mmssms.db", mmssms_db()?),
        ("contacts2.db", contacts2_db()?),
        ("calllog.db", calllog_db()?),
        ("sms_backup", sms_backup()),
        ("mms_backup", mms_backup()),
    ];
    Ok(files
        .into_iter()
        .enumerate()
        .map(|(i, (name, bytes))| (name.to_owned(), decoder::seed(i, &bytes)))
        .collect())
}

fn ios_decoder_seeds() -> std::io::Result<Seeds> {
    // The order of the target's PATHS; index 3 is the typedstream reader.
    let files = [
        ("sms.db", 0, sms_db()?),
        ("AddressBook.sqlitedb", 1, address_book_db()?),
        ("CallHistory.storedata", 2, call_history_db()?),
        (
            "typedstream-short",
            3,
            typedstream_attributed_body(IOS_ATTRIBUTED_ONLY_SHORT),
        ),
        (
            "typedstream-long",
            3,
            typedstream_attributed_body(IOS_ATTRIBUTED_ONLY_LONG),
        ),
    ];
    Ok(files
        .into_iter()
        .map(|(name, i, bytes)| (name.to_owned(), decoder::seed(i, &bytes)))
        .collect())
}

fn write(root: &Path, target: &str, seeds: Seeds) -> std::io::Result<()> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in seeds {
        let name = format!("seed-{}", name.replace(['/', ' '], "_"));
        println!("{target}/{name}: {} bytes", bytes.len());
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    write(&root, "tar", tar_seeds()?)?;
    write(&root, "zip", zip_seeds()?)?;
    write(&root, "android_backup", android_backup_seeds()?)?;
    write(&root, "ios_backup", ios_backup_seeds()?)?;
    write(&root, "android_decoder", android_decoder_seeds()?)?;
    write(&root, "ios_decoder", ios_decoder_seeds()?)?;
    Ok(())
}
