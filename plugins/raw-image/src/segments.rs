//! Split raw images: [`segment_set`] finds the ordered sibling segments of
//! a first segment (`disk.000 .001 …`, `disk.001 .002 …`, `disk.aa .ab …`
//! as written by `split`, FTK Imager and dd-style tools), and [`Concat`]
//! reads ordered segments as one image through [`ReadAt`], without
//! concatenating anything on disk.
//!
//! There is no formal specification of split raw images; the naming
//! follows GNU coreutils `split` (`-d` numeric and default alphabetic
//! suffixes) and the `.001` convention of FTK Imager. EWF (`.E01`) is a
//! different, compressed format and is refused as unsupported.
//!
//! Policy: the set ends at the first missing name, a name that is not the
//! first segment is not silently widened to its set, and a stem with
//! segments of two naming schemes is refused rather than guessed.
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::read_at::{ReadAt, read_exact_at};

/// Longest numeric suffix accepted (`.000000000`); keeps the counter in u32.
const MAX_DIGITS: usize = 9;

/// The ordered segments of the split image whose first segment is `first`.
///
/// `Ok(None)` when the name is not the first segment of a split image (no
/// `.000`/`.001`/`.aa` suffix, or a later segment such as `.005`).
/// `Ok(Some(v))` lists `first` and its successors up to the first gap; a
/// single segment is a set of one. Errors: `first` is missing, `.001` is
/// given while `.000` exists (it is not the first segment), both numeric and
/// alphabetic segments exist for the stem, or the name is an EWF segment
/// (`.E01`), which is [`io::ErrorKind::Unsupported`].
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
    if is_ewf(ext) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: EWF (Expert Witness) images are not supported",
                first.display()
            ),
        ));
    }
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

/// `.E01`, `.e01`, `.Ex01` and their later segments.
fn is_ewf(ext: &str) -> bool {
    let lower = ext.to_ascii_lowercase();
    let digits = lower
        .strip_prefix("ex")
        .or_else(|| lower.strip_prefix('e'))
        .unwrap_or("");
    digits.len() == 2 && digits.bytes().all(|b| b.is_ascii_digit())
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

/// Ordered segments read as one image. Segment lengths are taken once, at
/// construction; a segment that later reads short makes the read fail.
#[derive(Debug)]
pub struct Concat<R> {
    segments: Vec<R>,
    /// Cumulative end offset of each segment.
    ends: Vec<u64>,
}

impl<R: ReadAt> Concat<R> {
    /// Joins `segments` in order. Fails only if the total length overflows
    /// u64.
    pub fn new(segments: Vec<R>) -> io::Result<Concat<R>> {
        let mut ends = Vec::with_capacity(segments.len());
        let mut total = 0u64;
        for segment in &segments {
            total = total.checked_add(segment.len()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "segment lengths overflow u64")
            })?;
            ends.push(total);
        }
        Ok(Concat { segments, ends })
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[R] {
        &self.segments
    }

    /// Which segment holds image byte `offset`, and the offset inside it
    /// (for forensic paths such as `disk.001@0x200`).
    pub fn locate(&self, offset: u64) -> Option<(usize, u64)> {
        let index = self.ends.partition_point(|&end| end <= offset);
        self.ends.get(index)?;
        let start = index
            .checked_sub(1)
            .and_then(|prev| self.ends.get(prev))
            .copied()
            .unwrap_or(0);
        Some((index, offset.saturating_sub(start)))
    }

    /// The segments back.
    pub fn into_inner(self) -> Vec<R> {
        self.segments
    }
}

impl<R: ReadAt> ReadAt for Concat<R> {
    fn len(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset.saturating_add(u64::try_from(done).unwrap_or(u64::MAX));
            let Some((index, within)) = self.locate(pos) else {
                break;
            };
            let (Some(segment), Some(&end)) = (self.segments.get(index), self.ends.get(index))
            else {
                break;
            };
            let rest = buf.len().saturating_sub(done);
            let n = usize::try_from(end.saturating_sub(pos)).map_or(rest, |left| left.min(rest));
            let Some(dst) = buf.get_mut(done..done.saturating_add(n)) else {
                break;
            };
            read_exact_at(segment, within, dst)?;
            done = done.saturating_add(n);
        }
        Ok(done)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs::File;

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

        let files: Vec<File> = segment_set(&d.join("x.000"))
            .unwrap()
            .unwrap()
            .iter()
            .map(|p| File::open(p).unwrap())
            .collect();
        let view = Concat::new(files).unwrap();
        assert_eq!(view.len(), 20);
        let mut all = vec![0u8; 20];
        read_exact_at(&view, 0, &mut all).unwrap();
        assert_eq!(&all, b"x.000x.001x.002x.003");
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
        assert_eq!(
            segment_set(&d.join("e.E01")).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        assert_eq!(
            segment_set(&d.join("gone.000")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn concat_reads_across_boundaries_and_skips_empty_segments() {
        let view = Concat::new(vec![
            b"abc".to_vec(),
            Vec::new(),
            b"defg".to_vec(),
            b"h".to_vec(),
        ])
        .unwrap();
        assert_eq!(view.len(), 8);
        assert_eq!(view.locate(0), Some((0, 0)));
        assert_eq!(view.locate(3), Some((2, 0)));
        assert_eq!(view.locate(7), Some((3, 0)));
        assert_eq!(view.locate(8), None);
        let mut buf = [0u8; 6];
        assert_eq!(view.read_at(1, &mut buf).unwrap(), 6);
        assert_eq!(&buf, b"bcdefg");
        assert_eq!(view.read_at(6, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"gh");
        assert_eq!(view.read_at(8, &mut buf).unwrap(), 0);
        assert_eq!(Concat::<Vec<u8>>::new(Vec::new()).unwrap().len(), 0);
    }
}
