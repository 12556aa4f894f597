//! exhibit-fuzz: how one fuzz input becomes the evidence or the input file a
//! plugin sees. The targets in `fuzz_targets/` and the `write_seeds` example
//! both go through these layouts, so a seed written by `write_seeds` is read
//! back exactly as the target expects.
#![deny(unsafe_code)]

pub mod android_backup;
pub mod decoder;
pub mod ios_backup;
