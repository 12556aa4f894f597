//! The `android_backup` input: one byte choosing the password the host
//! offers, then the `.ab` evidence. Offering each fixture's password lets the
//! fuzzer get past the master-key checksum into the encrypted payload.

use exhibit_fixtures::{AB_PASSWORD_ASCII, AB_PASSWORD_LATIN1, AB_PASSWORD_UNICODE};
use exhibit_plugin_sdk::testing::MemoryHost;

/// The passwords the first byte picks from (modulo their count).
pub const PASSWORDS: [Option<&str>; 4] = [
    None,
    Some(AB_PASSWORD_ASCII),
    Some(AB_PASSWORD_UNICODE),
    Some(AB_PASSWORD_LATIN1),
];

/// The host for one fuzz input, or `None` for the empty input.
pub fn host(data: &[u8]) -> Option<MemoryHost> {
    let (&pick, evidence) = data.split_first()?;
    let host = MemoryHost::file("fuzz.ab", evidence.to_vec());
    Some(
        match PASSWORDS
            .get(usize::from(pick) % PASSWORDS.len())
            .copied()
            .flatten()
        {
            Some(password) => host.with_password(password),
            None => host,
        },
    )
}

/// The fuzz input offering `password` (one of [`PASSWORDS`]) for `evidence`.
pub fn seed(password: Option<&str>, evidence: &[u8]) -> Vec<u8> {
    let pick = PASSWORDS
        .iter()
        .position(|p| *p == password)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0);
    let mut seed = vec![pick];
    seed.extend_from_slice(evidence);
    seed
}
