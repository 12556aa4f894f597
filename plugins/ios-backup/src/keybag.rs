//! The backup keybag of an encrypted backup: parses the `BackupKeyBag` TLV
//! from `Manifest.plist`, derives the passcode key from the examiner's
//! password and unwraps the class keys, the `ManifestKey` and each file's
//! `EncryptionKey` with them.
//!
//! Layout (Apple's iOS Security Guide, "Keybags"; the fields as
//! `iphone-dataprotection` `keystore/keybag.py` and `iphone_backup_decrypt`
//! read them): a sequence of TLV blocks, each a 4-byte ASCII tag, a 4-byte
//! big-endian length and that many bytes. Values of 4 bytes are big-endian
//! integers. The header holds `VERS`, `TYPE`, `UUID`, `HMCK`, `WRAP`,
//! `SALT`, `ITER` and, since iOS 10.2, `DPWT`, `DPIC`, `DPSL`; each later
//! `UUID` opens a class entry holding `CLAS`, `WRAP`, `KTYP` and `WPKY`.
//!
//! The passcode key is PBKDF2-HMAC-SHA1(PBKDF2-HMAC-SHA256(password, DPSL,
//! DPIC, 32), SALT, ITER, 32), the first step only when `DPSL`/`DPIC` are
//! present. A class key whose `WRAP` has bit 2 (passcode) set is the RFC 3394
//! unwrap of its `WPKY` under the passcode key; the unwrap's integrity check
//! failing means the password is wrong. `ManifestKey` and `EncryptionKey` are
//! a 4-byte little-endian protection class followed by a 40-byte wrapped key.
//!
//! Policy: every block length is checked against the keybag, the number of
//! blocks and classes is capped, and the iteration counts are capped so a
//! hostile keybag cannot keep the run busy for hours. Nothing secret (the
//! password, the passcode key, class keys, HMCK) leaves this module except
//! as the keys themselves; [`Keybag::custody`] lists only public parameters.

#![forbid(unsafe_code)]

use aes::Aes256;
use aes_kw::Kek;
use exhibit_plugin_sdk::to_hex;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Most TLV blocks accepted: a real keybag has about 60.
const BLOCK_CAP: usize = 4096;
/// Most `ITER` rounds accepted (PBKDF2-HMAC-SHA1; real backups: 10 000).
pub const ITER_CAP: u32 = 10_000_000;
/// Most `DPIC` rounds accepted (PBKDF2-HMAC-SHA256; real backups: 10 000 000).
pub const DPIC_CAP: u32 = 50_000_000;
/// `WRAP` bit: the class key is wrapped with the passcode key.
const WRAP_PASSCODE: u32 = 2;
/// A wrapped AES-256 key: 32 bytes plus the 8-byte integrity block.
pub const WRAPPED_KEY: usize = 40;

/// Why the keybag could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeybagError {
    /// The keybag or a wrapped key is malformed (lowercase message).
    Corrupt(String),
    /// A parameter exhibit does not handle (too many rounds, say).
    Unsupported(String),
    /// An unwrap integrity check failed: the password is wrong.
    WrongPassword,
}

/// One protection class entry.
#[derive(Debug, Clone, Default)]
struct ClassEntry {
    uuid: Vec<u8>,
    class: Option<u32>,
    wrap: Option<u32>,
    key_type: Option<u32>,
    wrapped: Option<Vec<u8>>,
}

/// The parsed keybag (public parameters and wrapped class keys).
#[derive(Debug, Clone)]
pub struct Keybag {
    version: Option<u32>,
    kind: Option<u32>,
    uuid: Vec<u8>,
    wrap: Option<u32>,
    salt: Vec<u8>,
    iter: u32,
    dp_salt: Option<Vec<u8>>,
    dp_iter: Option<u32>,
    dp_wrap: Option<u32>,
    classes: Vec<ClassEntry>,
}

/// The unwrapped class keys, by protection class.
pub struct ClassKeys {
    keys: BTreeMap<u32, [u8; 32]>,
}

impl std::fmt::Debug for ClassKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a key.
        f.debug_struct("ClassKeys")
            .field("classes", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn be_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(value.try_into().ok()?))
}

impl Keybag {
    /// Parses the TLV blocks of a `BackupKeyBag`.
    pub fn parse(data: &[u8]) -> Result<Keybag, KeybagError> {
        let corrupt = |what: String| KeybagError::Corrupt(what);
        let int = |tag: &[u8], value: &[u8]| {
            be_u32(value).ok_or_else(|| {
                corrupt(format!(
                    "keybag field {} is {} bytes, not 4",
                    String::from_utf8_lossy(tag),
                    value.len()
                ))
            })
        };
        let mut bag = Keybag {
            version: None,
            kind: None,
            uuid: Vec::new(),
            wrap: None,
            salt: Vec::new(),
            iter: 0,
            dp_salt: None,
            dp_iter: None,
            dp_wrap: None,
            classes: Vec::new(),
        };
        let mut iter = None;
        let mut current: Option<ClassEntry> = None;
        let mut pos = 0usize;
        let mut blocks = 0usize;
        while pos < data.len() {
            blocks = blocks.saturating_add(1);
            if blocks > BLOCK_CAP {
                return Err(corrupt(format!("keybag has more than {BLOCK_CAP} blocks")));
            }
            let head = pos
                .checked_add(8)
                .and_then(|end| data.get(pos..end))
                .ok_or_else(|| corrupt(format!("keybag block at byte {pos} is cut short")))?;
            let (tag, len) = head.split_at(4);
            let len = be_u32(len)
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| corrupt("keybag block length".into()))?;
            let start = pos.saturating_add(8);
            let end = start.checked_add(len).filter(|&e| e <= data.len());
            let Some(end) = end else {
                return Err(corrupt(format!(
                    "keybag block {} at byte {pos} claims {len} bytes, {} are left",
                    String::from_utf8_lossy(tag),
                    data.len().saturating_sub(start)
                )));
            };
            let value = data.get(start..end).unwrap_or_default();
            pos = end;
            match tag {
                b"UUID" if bag.uuid.is_empty() => bag.uuid = value.to_vec(),
                b"UUID" => {
                    if let Some(done) = current.take() {
                        bag.classes.push(done);
                    }
                    current = Some(ClassEntry {
                        uuid: value.to_vec(),
                        ..ClassEntry::default()
                    });
                }
                b"CLAS" | b"WRAP" | b"KTYP" | b"WPKY" if current.is_some() => {
                    let Some(entry) = current.as_mut() else {
                        continue;
                    };
                    match tag {
                        b"CLAS" => entry.class = Some(int(tag, value)?),
                        b"WRAP" => entry.wrap = Some(int(tag, value)?),
                        b"KTYP" => entry.key_type = Some(int(tag, value)?),
                        _ => entry.wrapped = Some(value.to_vec()),
                    }
                }
                b"VERS" => bag.version = Some(int(tag, value)?),
                b"TYPE" => bag.kind = Some(int(tag, value)?),
                b"WRAP" => bag.wrap = Some(int(tag, value)?),
                b"SALT" => bag.salt = value.to_vec(),
                b"ITER" => iter = Some(int(tag, value)?),
                b"DPSL" => bag.dp_salt = Some(value.to_vec()),
                b"DPIC" => bag.dp_iter = Some(int(tag, value)?),
                b"DPWT" => bag.dp_wrap = Some(int(tag, value)?),
                // HMCK (the keybag's HMAC key, wrapped) and unknown tags
                // are not needed to decrypt.
                _ => {}
            }
        }
        if let Some(done) = current.take() {
            bag.classes.push(done);
        }
        bag.iter = iter.ok_or_else(|| corrupt("keybag has no ITER".into()))?;
        if bag.salt.is_empty() {
            return Err(corrupt("keybag has no SALT".into()));
        }
        if bag.classes.is_empty() {
            return Err(corrupt("keybag holds no class keys".into()));
        }
        if bag.iter > ITER_CAP {
            return Err(KeybagError::Unsupported(format!(
                "keybag ITER of {} rounds (more than the cap of {ITER_CAP})",
                bag.iter
            )));
        }
        if let Some(dpic) = bag.dp_iter.filter(|&d| d > DPIC_CAP) {
            return Err(KeybagError::Unsupported(format!(
                "keybag DPIC of {dpic} rounds (more than the cap of {DPIC_CAP})"
            )));
        }
        Ok(bag)
    }

    /// The PBKDF2 rounds the derivation will run (DPIC + ITER).
    pub fn rounds(&self) -> u64 {
        let first = match (&self.dp_salt, self.dp_iter) {
            (Some(_), Some(dpic)) => u64::from(dpic),
            _ => 0,
        };
        first.saturating_add(u64::from(self.iter))
    }

    /// The keybag's public parameters, for the custody log.
    pub fn custody(&self) -> Value {
        let classes: Vec<Value> = self
            .classes
            .iter()
            .map(|c| {
                json!({
                    "class": c.class,
                    "uuid": to_hex(&c.uuid),
                    "wrap": c.wrap,
                    "key_type": c.key_type,
                })
            })
            .collect();
        json!({
            "version": self.version,
            "type": self.kind,
            "uuid": to_hex(&self.uuid),
            "wrap": self.wrap,
            "salt": to_hex(&self.salt),
            "iterations": self.iter,
            "dp_salt": self.dp_salt.as_deref().map(to_hex),
            "dp_iterations": self.dp_iter,
            "dp_wrap": self.dp_wrap,
            "classes": classes,
        })
    }

    /// Derives the passcode key from `password` and unwraps every
    /// passcode-wrapped class key; `WrongPassword` when an unwrap fails.
    pub fn unlock(&self, password: &str) -> Result<ClassKeys, KeybagError> {
        let mut passcode_key = [0u8; 32];
        match (&self.dp_salt, self.dp_iter) {
            (Some(dpsl), Some(dpic)) => {
                let mut round1 = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), dpsl, dpic, &mut round1);
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                    &round1,
                    &self.salt,
                    self.iter,
                    &mut passcode_key,
                );
            }
            _ => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                password.as_bytes(),
                &self.salt,
                self.iter,
                &mut passcode_key,
            ),
        }
        let kek = Kek::<Aes256>::from(passcode_key);
        let mut keys = BTreeMap::new();
        for entry in &self.classes {
            let (Some(class), Some(wrap), Some(wrapped)) =
                (entry.class, entry.wrap, entry.wrapped.as_deref())
            else {
                continue;
            };
            if wrap & WRAP_PASSCODE == 0 {
                // Wrapped with the device's UID key only: not openable
                // from a backup (no file of a backup uses such a class).
                continue;
            }
            if wrapped.len() != WRAPPED_KEY {
                return Err(KeybagError::Corrupt(format!(
                    "wrapped key of protection class {class} is {} bytes, not {WRAPPED_KEY}",
                    wrapped.len()
                )));
            }
            let mut key = [0u8; 32];
            kek.unwrap(wrapped, &mut key)
                .map_err(|_| KeybagError::WrongPassword)?;
            keys.insert(class, key);
        }
        if keys.is_empty() {
            return Err(KeybagError::Unsupported(
                "a keybag without passcode-wrapped class keys".into(),
            ));
        }
        Ok(ClassKeys { keys })
    }
}

/// A wrapped key as stored: 4-byte little-endian class, then the wrapped key.
pub fn split_wrapped(blob: &[u8]) -> Result<(u32, &[u8]), KeybagError> {
    let (class, wrapped) = blob
        .split_at_checked(4)
        .ok_or_else(|| KeybagError::Corrupt(format!("wrapped key of {} bytes", blob.len())))?;
    let class = u32::from_le_bytes(
        class
            .try_into()
            .map_err(|_| KeybagError::Corrupt("wrapped key class".into()))?,
    );
    if wrapped.len() != WRAPPED_KEY {
        return Err(KeybagError::Corrupt(format!(
            "wrapped key of {} bytes after its class, not {WRAPPED_KEY}",
            wrapped.len()
        )));
    }
    Ok((class, wrapped))
}

impl ClassKeys {
    /// The protection classes whose keys were unwrapped.
    pub fn classes(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Unwraps a `ManifestKey` or `EncryptionKey` blob (class + wrapped key).
    pub fn unwrap_key(&self, blob: &[u8]) -> Result<[u8; 32], KeybagError> {
        let (class, wrapped) = split_wrapped(blob)?;
        let class_key = self.keys.get(&class).ok_or_else(|| {
            KeybagError::Corrupt(format!(
                "key of protection class {class}, which the keybag does not open"
            ))
        })?;
        let mut key = [0u8; 32];
        Kek::<Aes256>::from(*class_key)
            .unwrap(wrapped, &mut key)
            .map_err(|_| {
                KeybagError::Corrupt(format!(
                    "wrapped key of protection class {class} fails its integrity check"
                ))
            })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(out: &mut Vec<u8>, tag: &[u8; 4], value: &[u8]) {
        out.extend_from_slice(tag);
        out.extend_from_slice(&u32::try_from(value.len()).unwrap().to_be_bytes());
        out.extend_from_slice(value);
    }

    /// A keybag with one class (3) wrapped under `password` (ITER 10, no DPSL).
    fn keybag(password: &str, class_key: [u8; 32]) -> Vec<u8> {
        let salt = [7u8; 20];
        let mut passcode = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), &salt, 10, &mut passcode);
        let mut wrapped = [0u8; 40];
        Kek::<Aes256>::from(passcode)
            .wrap(&class_key, &mut wrapped)
            .unwrap();
        let mut out = Vec::new();
        tlv(&mut out, b"VERS", &3u32.to_be_bytes());
        tlv(&mut out, b"TYPE", &1u32.to_be_bytes());
        tlv(&mut out, b"UUID", &[1; 16]);
        tlv(&mut out, b"HMCK", &[2; 40]);
        tlv(&mut out, b"WRAP", &0u32.to_be_bytes());
        tlv(&mut out, b"SALT", &salt);
        tlv(&mut out, b"ITER", &10u32.to_be_bytes());
        tlv(&mut out, b"UUID", &[3; 16]);
        tlv(&mut out, b"CLAS", &3u32.to_be_bytes());
        tlv(&mut out, b"WRAP", &2u32.to_be_bytes());
        tlv(&mut out, b"KTYP", &0u32.to_be_bytes());
        tlv(&mut out, b"WPKY", &wrapped);
        out
    }

    #[test]
    fn unlocks_with_the_right_password_only() {
        let data = keybag("secret", [9; 32]);
        let bag = Keybag::parse(&data).unwrap();
        assert_eq!(bag.rounds(), 10);
        let keys = bag.unlock("secret").unwrap();
        assert_eq!(keys.classes(), vec![3]);
        assert_eq!(bag.unlock("wrong").unwrap_err(), KeybagError::WrongPassword);
        let custody = bag.custody().to_string();
        assert!(custody.contains("\"iterations\":10"));
        assert!(!custody.contains(&to_hex(&[9; 32])));
    }

    #[test]
    fn unwraps_file_keys() {
        let data = keybag("pw", [9; 32]);
        let keys = Keybag::parse(&data).unwrap().unlock("pw").unwrap();
        let mut wrapped = vec![3, 0, 0, 0];
        let mut w = [0u8; 40];
        Kek::<Aes256>::from([9u8; 32])
            .wrap(&[5; 32], &mut w)
            .unwrap();
        wrapped.extend_from_slice(&w);
        assert_eq!(keys.unwrap_key(&wrapped).unwrap(), [5; 32]);
        wrapped[0] = 4;
        assert!(matches!(
            keys.unwrap_key(&wrapped),
            Err(KeybagError::Corrupt(_))
        ));
        assert!(matches!(
            keys.unwrap_key(&wrapped[..10]),
            Err(KeybagError::Corrupt(_))
        ));
    }

    #[test]
    fn hostile_keybags() {
        let data = keybag("pw", [9; 32]);
        for cut in 0..data.len() {
            // Never a panic; a cut keybag is an error or a smaller bag.
            let _ = Keybag::parse(&data[..cut]);
        }
        let mut long = data.clone();
        long[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Keybag::parse(&long), Err(KeybagError::Corrupt(_))));
    }
}
