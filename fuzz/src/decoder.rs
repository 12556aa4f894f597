//! The artifact-decoder input: one byte choosing the case path (modulo the
//! number of paths) and the SQLite companion (`/ paths % 3`: none, `-wal`,
//! `-journal`). Without a companion the rest is the file; with one, a
//! 4-byte little-endian length splits the rest into the file and the
//! companion, so write-ahead logs and hot journals are fuzzed too.

use exhibit_plugin_sdk::testing::MemoryHost;

/// The companions the selector byte picks from.
const COMPANIONS: [Option<&str>; 3] = [None, Some("-wal"), Some("-journal")];

/// One decoded input: which path, the file, and its companion if any.
pub struct Input<'a> {
    /// Index into the target's path list.
    pub index: usize,
    /// The input file's bytes.
    pub file: &'a [u8],
    /// `(suffix, bytes)` of the companion file.
    pub companion: Option<(&'static str, &'a [u8])>,
}

/// Splits one fuzz input for a target with `paths` case paths; `None` for
/// the empty input.
pub fn split(data: &[u8], paths: usize) -> Option<Input<'_>> {
    let (&pick, rest) = data.split_first()?;
    let paths = paths.max(1);
    let index = usize::from(pick) % paths;
    let companion = COMPANIONS
        .get(usize::from(pick) / paths % COMPANIONS.len())
        .copied()
        .flatten();
    let Some(suffix) = companion else {
        return Some(Input {
            index,
            file: rest,
            companion: None,
        });
    };
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len))
        .unwrap_or(usize::MAX)
        .min(rest.len());
    let (file, companion) = rest.split_at(len);
    Some(Input {
        index,
        file,
        companion: Some((suffix, companion)),
    })
}

/// The host giving a decoder `input` at case path `path`.
pub fn host(path: &str, input: &Input<'_>) -> MemoryHost {
    let host = MemoryHost::input(path, input.file.to_vec());
    match input.companion {
        Some((suffix, bytes)) => host.with_companion(suffix, bytes.to_vec()),
        None => host,
    }
}

/// The fuzz input putting `file` (no companion) at path number `index`.
pub fn seed(index: usize, file: &[u8]) -> Vec<u8> {
    let mut seed = vec![u8::try_from(index).expect("a decoder has fewer than 256 paths")];
    seed.extend_from_slice(file);
    seed
}
