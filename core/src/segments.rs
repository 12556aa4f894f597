//! Split images: [`segment_set`] finds the ordered sibling segments of a
//! first segment (`disk.000 .001 …`, `disk.001 .002 …`, `disk.aa .ab …` as
//! written by `split`, FTK Imager and dd-style tools), so the core can open
//! them as one evidence ([`crate::evidence::EvidenceReader`]) without
//! concatenating anything on disk, and hash each segment as well as the
//! whole.
//!
//! There is no formal specification of split raw images; the naming
//! follows GNU coreutils `split` (`-d` numeric and default alphabetic
//! suffixes) and the `.001` convention of FTK Imager. EWF (`.E01`) is a
//! different, compressed format: its segments are not a split set.
//!
//! Policy: the set ends at the first missing name, a name that is not the
//! first segment is not silently widened to its set, and a stem with
//! segments of two naming schemes is refused rather than guessed.
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Longest numeric suffix accepted (`.000000000`); keeps the counter in u32.
const MAX_DIGITS: usize = 9;

/// The ordered segments of the split image whose first segment is `first`.
///
/// `Ok(None)` when the name is not the first segment of a split image (no
/// `.000`/`.001`/`.aa` suffix, or a later segment such as `.005`; EWF
/// names such as `.E01` are not split sets).
/// `Ok(Some(v))` lists `first` and its successors up to the first gap; a
/// single segment is a set of one. Errors: `first` is missing, `.001` is
/// given while `.000` exists (it is not the first segment), both numeric and
/// alphabetic segments exist for the stem.
pub fn segment_set(first: &Path) -> io::Result<Option<Vec<PathBuf>>> {
    let Some((stem, ext)) = first
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('.'))
        .filter(|(stem, _)| !stem.is_empty())
    else {
        return Ok(None);
    };
    let sibling = |suffix: &str| first.with_file_name(format!("{stem}.{suffix}"));
    if !is_file(first)? {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no such file", first.display()),
        ));
    }
    let names: Vec<String> =
        if ext.len() >= 3 && ext.len() <= MAX_DIGITS && ext.bytes().all(|b| b.is_ascii_digit()) {
            let width = ext.len();
            let start: u32 = match ext.parse() {
                Ok(0) => 0,
                Ok(1) => {
                    let zero = format!("{:0width$}", 0);
                    if is_file(&sibling(&zero))? {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "{}: not the first segment, {stem}.{zero} exists",
                                first.display()
                            ),
                        ));
                    }
                    1
                }
                _ => return Ok(None),
            };
            refuse_mixed(first, &[sibling("aa"), sibling("AA")])?;
            let limit = 10u32
                .checked_pow(u32::try_from(width).unwrap_or(u32::MAX))
                .unwrap_or(u32::MAX);
            (start..limit).map(|n| format!("{n:0width$}")).collect()
        } else if ext == "aa" || ext == "AA" {
            refuse_mixed(first, &[sibling("000"), sibling("001")])?;
            let letters: Vec<char> = if ext == "aa" {
                ('a'..='z').collect()
            } else {
                ('A'..='Z').collect()
            };
            letters
                .iter()
                .flat_map(|&a| letters.iter().map(move |&b| format!("{a}{b}")))
                .collect()
        } else {
            return Ok(None);
        };
    let mut set = Vec::new();
    for suffix in names {
        let path = sibling(&suffix);
        if !is_file(&path)? {
            break;
        }
        set.push(path);
    }
    Ok(Some(set))
}

fn refuse_mixed(first: &Path, others: &[PathBuf]) -> io::Result<()> {
    for other in others {
        if is_file(other)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "mixed split schemes: both {} and {} exist",
                    first.display(),
                    other.display()
                ),
            ));
        }
    }
    Ok(())
}

fn is_file(path: &Path) -> io::Result<bool> {
    match fs::metadata(path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn touch(dir: &Path, names: &[&str]) {
        for name in names {
            fs::write(dir.join(name), name.as_bytes()).unwrap();
        }
    }

    fn names(set: Option<Vec<PathBuf>>) -> Vec<String> {
        set.unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn numeric_alphabetic_and_one_based_sets() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(
            d,
            &[
                "x.000", "x.001", "x.002", "x.003", "y.aa", "y.ab", "y.ac", "w.001", "w.002",
            ],
        );
        assert_eq!(
            names(segment_set(&d.join("x.000")).unwrap()),
            ["x.000", "x.001", "x.002", "x.003"]
        );
        assert_eq!(
            names(segment_set(&d.join("y.aa")).unwrap()),
            ["y.aa", "y.ab", "y.ac"]
        );
        assert_eq!(
            names(segment_set(&d.join("w.001")).unwrap()),
            ["w.001", "w.002"]
        );
    }

    #[test]
    fn set_stops_at_the_first_gap() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), &["g.000", "g.001", "g.003", "h.aa", "h.ac"]);
        assert_eq!(
            names(segment_set(&dir.path().join("g.000")).unwrap()),
            ["g.000", "g.001"]
        );
        assert_eq!(
            names(segment_set(&dir.path().join("h.aa")).unwrap()),
            ["h.aa"]
        );
    }

    #[test]
    fn mixed_schemes_later_segments_and_other_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(
            d,
            &[
                "m.000", "m.aa", "n.000", "n.001", "disk.img", "disk.005", "disk.ab", "e.E01",
            ],
        );
        let err = segment_set(&d.join("m.000")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("mixed split schemes"));
        assert_eq!(
            segment_set(&d.join("m.aa")).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            segment_set(&d.join("n.001")).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(segment_set(&d.join("disk.img")).unwrap(), None);
        assert_eq!(segment_set(&d.join("disk.005")).unwrap(), None);
        assert_eq!(segment_set(&d.join("disk.ab")).unwrap(), None);
        assert_eq!(segment_set(&d.join("e.E01")).unwrap(), None);
        assert_eq!(
            segment_set(&d.join("gone.000")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
