//! Zip format plugin: lands with issue 3's decoder; empty until then.
#![deny(unsafe_code)]
