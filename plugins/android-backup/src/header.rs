//! The backup header and its keys: reads the text lines that open an
//! `adb backup` file, and for an encrypted one derives the user key from the
//! examiner's password, opens the master key blob and checks its checksum.
//!
//! Format, as AOSP writes and reads it (aosp-mirror/platform_frameworks_base,
//! `services/backup/java/com/android/server/backup/fullbackup/PerformAdbBackupTask.java`
//! `run` and `emitAesBackupHeader`; read back by
//! `services/backup/java/com/android/server/backup/restore/PerformAdbRestoreTask.java`
//! `parseBackupFileHeaderAndReturnTarStream`, `decodeAesHeaderAndInitialize`
//! and `attemptMasterKeyDecryption`; key derivation in
//! `services/backup/java/com/android/server/backup/utils/PasswordUtils.java`
//! `buildPasswordKey` / `makeKeyChecksum`; algorithm names in
//! `services/backup/java/com/android/server/backup/BackupPasswordManager.java`):
//!
//! ```text
//! line 1: "ANDROID BACKUP"
//! line 2: format version, decimal ("5" today; the restore accepts <= 5)
//! line 3: "1" when the rest is zlib (Deflater), "0" when not (the restore: != 0)
//! line 4: "none" or "AES-256"; for "AES-256" five more lines:
//! line 5: user password salt [hex]
//! line 6: master key checksum salt [hex]
//! line 7: PBKDF2 rounds (the same for user key and checksum) [decimal]
//! line 8: IV of the user key [hex]
//! line 9: master key blob, AES-256-CBC/PKCS#5 under the user key [hex]:
//!         [1 byte n][n bytes master IV][1 byte n][n bytes master key][1 byte n][n bytes checksum]
//! ```
//!
//! The user key is PBKDF2-HMAC-SHA1(password, user salt, rounds, 256 bits);
//! the checksum PBKDF2-HMAC-SHA1 over the master key bytes turned into Java
//! chars by `(char) b` on the signed byte (so 0x80..0xFF become
//! U+FF80..U+FFFF), with the checksum salt. `PBKDF2WithHmacSHA1` feeds those
//! chars (and the password's) to HMAC as UTF-8; version 1 files come from
//! Android 4.0–4.3, whose provider used their low byte
//! (`PBKDF2WithHmacSHA1And8bit`). The restore tries UTF-8 first and, for
//! version 1 only, 8-bit after it; we try the same two, 8-bit first for
//! version 1 (what those devices wrote).
//!
//! Policy: every line is bounded ([`LINE_CAP`]) and read through the same
//! sequential evidence reader the payload is read from; every value is
//! checked before use. The password is never logged, and no message says
//! whether the blob failed to unpad or the checksum failed to match (AOSP
//! logs the same "Incorrect password" for both).

#![forbid(unsafe_code)]

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use exhibit_plugin_sdk::{PluginError, from_hex, to_hex};
use serde_json::{Value, json};
use sha1::Sha1;
use std::io::{self, BufRead};

/// The first line (AOSP `BACKUP_FILE_HEADER_MAGIC`, newline included).
pub const MAGIC: &[u8] = b"ANDROID BACKUP\n";
/// The newest format version this plugin reads (AOSP `BACKUP_FILE_VERSION`).
pub const NEWEST_VERSION: u32 = 5;
/// Longest header line accepted, newline excluded. Android's longest is the
/// master key blob: 96 bytes, 192 hex digits; a blob of three 255-byte
/// fields would be 1 568.
pub const LINE_CAP: usize = 4096;
/// Most PBKDF2 rounds accepted: Android uses 10 000; a hostile header must
/// not keep the run busy for minutes (each try costs two derivations).
pub const ROUNDS_CAP: u32 = 2_000_000;
/// AES block and IV size.
const BLOCK: usize = 16;
/// AES-256 key size.
const KEY: usize = 32;

/// The header fields, as read (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version, 1 to 5.
    pub version: u32,
    /// True when the payload is a zlib stream.
    pub compressed: bool,
    /// The AES-256 parameters, `None` for `none`.
    pub aes: Option<AesHeader>,
    /// Header size in bytes: the payload starts at this evidence offset.
    pub len: u64,
}

/// The lines of an `AES-256` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AesHeader {
    /// Salt of the user key.
    pub user_salt: Vec<u8>,
    /// Salt of the master key checksum.
    pub checksum_salt: Vec<u8>,
    /// PBKDF2 rounds, 1 to [`ROUNDS_CAP`].
    pub rounds: u32,
    /// IV of the master key blob.
    pub user_iv: [u8; BLOCK],
    /// The encrypted master key blob, a whole number of AES blocks.
    pub blob: Vec<u8>,
}

impl Header {
    /// The header's fields for the custody log.
    pub fn custody(&self) -> Value {
        let mut details = json!({
            "version": self.version,
            "compressed": self.compressed,
            "encryption": if self.aes.is_some() { "AES-256" } else { "none" },
            "header_bytes": self.len,
        });
        if let (Some(aes), Some(map)) = (&self.aes, details.as_object_mut()) {
            map.insert("user_password_salt".into(), to_hex(&aes.user_salt).into());
            map.insert(
                "master_key_checksum_salt".into(),
                to_hex(&aes.checksum_salt).into(),
            );
            map.insert("pbkdf2_rounds".into(), aes.rounds.into());
            map.insert("user_key_iv".into(), to_hex(&aes.user_iv).into());
            map.insert("master_key_blob_bytes".into(), aes.blob.len().into());
        }
        details
    }
}

/// How password and key chars become PBKDF2 input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharEncoding {
    /// `PBKDF2WithHmacSHA1`: UTF-8 (Android 4.4 and later, versions 2+).
    Utf8,
    /// `PBKDF2WithHmacSHA1And8bit`: each UTF-16 unit's low byte (version 1).
    EightBit,
}

impl CharEncoding {
    /// The name in the custody log.
    pub fn name(self) -> &'static str {
        match self {
            CharEncoding::Utf8 => "utf-8 (PBKDF2WithHmacSHA1)",
            CharEncoding::EightBit => "8-bit (PBKDF2WithHmacSHA1And8bit)",
        }
    }

    /// The encodings to try for a file of `version`, in order.
    pub fn tries(version: u32) -> &'static [CharEncoding] {
        if version == 1 {
            &[CharEncoding::EightBit, CharEncoding::Utf8]
        } else {
            &[CharEncoding::Utf8]
        }
    }

    /// Java chars (UTF-16 units) as bytes.
    fn encode(self, units: impl Iterator<Item = u16>) -> Vec<u8> {
        match self {
            CharEncoding::EightBit => units.map(|u| u.to_le_bytes()[0]).collect(),
            CharEncoding::Utf8 => char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect::<String>()
                .into_bytes(),
        }
    }
}

/// The payload key, once the password has opened the blob.
pub struct MasterKey {
    /// AES-256 key of the payload.
    pub key: [u8; KEY],
    /// CBC IV of the payload.
    pub iv: [u8; BLOCK],
    /// The encoding that matched the checksum.
    pub encoding: CharEncoding,
}

/// Why the blob did not give a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Bad padding, a malformed blob or a checksum mismatch under every
    /// encoding tried: the password is wrong (or the blob damaged, which
    /// cannot be told apart).
    WrongPassword,
    /// The checksum matched but the key is not an AES-256 key.
    Unsupported(String),
}

impl AesHeader {
    /// Opens the master key blob with `password`.
    pub fn master_key(&self, version: u32, password: &str) -> Result<MasterKey, KeyError> {
        for &encoding in CharEncoding::tries(version) {
            let user_key = pbkdf2(
                &encoding.encode(password.encode_utf16()),
                &self.user_salt,
                self.rounds,
            );
            let Some(plain) = decrypt_blob(&user_key, &self.user_iv, &self.blob) else {
                continue;
            };
            let Some((iv, key, checksum)) = split_blob(&plain) else {
                continue;
            };
            let java_chars = key.iter().map(|&b| {
                // `(char) b` sign-extends the byte.
                u16::from_le_bytes([b, if b >= 0x80 { 0xff } else { 0 }])
            });
            let computed = pbkdf2(
                &encoding.encode(java_chars),
                &self.checksum_salt,
                self.rounds,
            );
            if computed.as_slice() != checksum {
                continue;
            }
            let key: [u8; KEY] = key.try_into().map_err(|_| {
                KeyError::Unsupported(format!(
                    "master key of {} bytes (only AES-256, 32 bytes)",
                    key.len()
                ))
            })?;
            let iv: [u8; BLOCK] = iv.try_into().map_err(|_| {
                KeyError::Unsupported(format!("master IV of {} bytes (AES needs 16)", iv.len()))
            })?;
            return Ok(MasterKey { key, iv, encoding });
        }
        Err(KeyError::WrongPassword)
    }
}

fn pbkdf2(input: &[u8], salt: &[u8], rounds: u32) -> [u8; KEY] {
    let mut out = [0u8; KEY];
    pbkdf2::pbkdf2_hmac::<Sha1>(input, salt, rounds, &mut out);
    out
}

/// AES-256-CBC/PKCS#7; `None` when the padding is invalid.
fn decrypt_blob(key: &[u8; KEY], iv: &[u8; BLOCK], blob: &[u8]) -> Option<Vec<u8>> {
    cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(blob)
        .ok()
}

/// `[n][IV][n][key][n][checksum]`, every length checked against what
/// remains. `None` when malformed.
fn split_blob(plain: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut rest = plain;
    let mut field = || {
        let (&len, tail) = rest.split_first()?;
        let len = usize::from(len);
        let value = tail.get(..len)?;
        rest = tail.get(len..)?;
        Some(value)
    };
    let iv = field()?;
    let key = field()?;
    let checksum = field()?;
    Some((iv, key, checksum))
}

/// Reads header lines from the evidence, counting the bytes.
pub struct HeaderReader<'r, R> {
    src: &'r mut R,
    pos: u64,
}

impl<'r, R: BufRead> HeaderReader<'r, R> {
    /// Reads from `src`, positioned at evidence offset 0.
    pub fn new(src: &'r mut R) -> HeaderReader<'r, R> {
        HeaderReader { src, pos: 0 }
    }

    /// Reads and checks the whole header.
    pub fn read(mut self) -> Result<Header, PluginError> {
        let magic = &MAGIC[..MAGIC.len().saturating_sub(1)];
        match self.line("magic", magic.len()) {
            Ok(line) if line == magic => {}
            Err(e) if !matches!(e, PluginError::Corrupt { .. }) => return Err(e),
            _ => {
                return Err(PluginError::corrupt(
                    0,
                    "not an android backup: the file does not start with \"ANDROID BACKUP\\n\"",
                ));
            }
        }
        let at = self.pos;
        let text = self.text("version")?;
        let version = decimal(&text).ok_or_else(|| {
            PluginError::corrupt(at, format!("header version {text:?} is not a number"))
        })?;
        if !(1..=NEWEST_VERSION).contains(&version) {
            return Err(PluginError::Unsupported {
                feature: format!(
                    "android backup version {version} (this plugin reads 1 to {NEWEST_VERSION})"
                ),
            });
        }
        let at = self.pos;
        let text = self.text("compression flag")?;
        let compressed = decimal(&text).ok_or_else(|| {
            PluginError::corrupt(at, format!("compression flag {text:?} is not a number"))
        })? != 0;
        let encryption = self.text("encryption")?;
        let aes = match encryption.as_str() {
            "none" => None,
            "AES-256" => Some(self.aes()?),
            other => {
                return Err(PluginError::Unsupported {
                    feature: format!("android backup encryption {other:?}"),
                });
            }
        };
        Ok(Header {
            version,
            compressed,
            aes,
            len: self.pos,
        })
    }

    fn aes(&mut self) -> Result<AesHeader, PluginError> {
        let user_salt = self.hex("user password salt")?.1;
        let checksum_salt = self.hex("master key checksum salt")?.1;
        let at = self.pos;
        let text = self.text("pbkdf2 rounds")?;
        let rounds = decimal(&text)
            .filter(|&r| r >= 1)
            .ok_or_else(|| PluginError::corrupt(at, format!("pbkdf2 rounds {text:?} invalid")))?;
        if rounds > ROUNDS_CAP {
            return Err(PluginError::Unsupported {
                feature: format!("{rounds} pbkdf2 rounds (more than the cap of {ROUNDS_CAP})"),
            });
        }
        let (at, iv) = self.hex("user key iv")?;
        let user_iv: [u8; BLOCK] = iv.as_slice().try_into().map_err(|_| {
            PluginError::corrupt(
                at,
                format!("user key iv is {} bytes, not {BLOCK}", iv.len()),
            )
        })?;
        let (at, blob) = self.hex("master key blob")?;
        if blob.is_empty() || !blob.len().is_multiple_of(BLOCK) {
            return Err(PluginError::corrupt(
                at,
                format!(
                    "master key blob is {} bytes, not a whole number of aes blocks",
                    blob.len()
                ),
            ));
        }
        Ok(AesHeader {
            user_salt,
            checksum_salt,
            rounds,
            user_iv,
            blob,
        })
    }

    /// A line of hex; returns where it starts and its bytes.
    fn hex(&mut self, what: &str) -> Result<(u64, Vec<u8>), PluginError> {
        let at = self.pos;
        let text = self.text(what)?;
        let bytes = from_hex(&text)
            .ok_or_else(|| PluginError::corrupt(at, format!("{what} is not hex")))?;
        Ok((at, bytes))
    }

    /// A line that must be text.
    fn text(&mut self, what: &str) -> Result<String, PluginError> {
        let at = self.pos;
        let line = self.line(what, LINE_CAP)?;
        String::from_utf8(line)
            .map_err(|_| PluginError::corrupt(at, format!("{what} line is not text")))
    }

    /// One line of at most `cap` bytes, without its newline.
    fn line(&mut self, what: &str, cap: usize) -> Result<Vec<u8>, PluginError> {
        let start = self.pos;
        let mut line = Vec::new();
        loop {
            let available = loop {
                match self.src.fill_buf() {
                    Ok(bytes) => break bytes,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(read_failure(e, self.pos)),
                }
            };
            if available.is_empty() {
                return Err(PluginError::corrupt(
                    self.pos,
                    format!(
                        "header cut short: the evidence ends inside the {what} line (offset {start:#x})"
                    ),
                ));
            }
            let room = cap.saturating_sub(line.len());
            let window = &available[..available.len().min(room.saturating_add(1))];
            let (take, done) = match window.iter().position(|&b| b == b'\n') {
                Some(newline) => (newline, true),
                None if window.len() > room => {
                    return Err(PluginError::corrupt(
                        start,
                        format!("{what} line longer than {cap} bytes"),
                    ));
                }
                None => (window.len(), false),
            };
            line.extend_from_slice(&window[..take]);
            let used = if done { take.saturating_add(1) } else { take };
            self.src.consume(used);
            self.pos = self
                .pos
                .saturating_add(u64::try_from(used).unwrap_or(u64::MAX));
            if done {
                return Ok(line);
            }
        }
    }
}

/// A read error naming its evidence offset.
pub fn read_failure(e: io::Error, at: u64) -> PluginError {
    match PluginError::from(e) {
        PluginError::Io { offset: None, what } => PluginError::Io {
            offset: Some(at),
            what,
        },
        other => other,
    }
}

/// A decimal number as Java's `Integer.parseInt` reads a header line (an
/// optional `+`; negative values are refused here).
fn decimal(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_blob_checks_every_length() {
        assert_eq!(
            split_blob(&[1, 9, 2, 7, 7, 0]),
            Some((&[9][..], &[7, 7][..], &[][..]))
        );
        assert_eq!(split_blob(&[1, 9, 3, 7, 7]), None);
        assert_eq!(split_blob(&[]), None);
        assert_eq!(split_blob(&[0, 0]), None);
    }

    #[test]
    fn eight_bit_and_utf8_encodings() {
        let units = "grüße".encode_utf16();
        assert_eq!(CharEncoding::EightBit.encode(units), b"gr\xfc\xdfe");
        let units = "grüße".encode_utf16();
        assert_eq!(CharEncoding::Utf8.encode(units), "grüße".as_bytes());
        // A key byte 0x80 as `(char) b` is U+FF80: three UTF-8 bytes.
        assert_eq!(
            CharEncoding::Utf8.encode([0xff80u16].into_iter()),
            b"\xef\xbe\x80"
        );
        assert_eq!(
            CharEncoding::EightBit.encode([0xff80u16].into_iter()),
            b"\x80"
        );
    }

    #[test]
    fn header_lines_are_bounded() {
        let mut long = b"ANDROID BACKUP\n5\n1\n".to_vec();
        long.extend(std::iter::repeat_n(b'A', LINE_CAP + 10));
        let mut src = &long[..];
        let err = HeaderReader::new(&mut src).read().unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt at offset 0x13: encryption line longer than 4096 bytes"
        );

        let mut src = &b"ANDROID BACKUP\n5\n"[..];
        let err = HeaderReader::new(&mut src).read().unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt at offset 0x11: header cut short: the evidence ends inside the compression flag line (offset 0x11)"
        );

        let mut src = &b"ANDROID BACKUP\n6\n1\nnone\n"[..];
        let err = HeaderReader::new(&mut src).read().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported: android backup version 6 (this plugin reads 1 to 5)"
        );

        let mut src = &b"ANDROID BACKUP\n5\n1\nnone\nrest"[..];
        let header = HeaderReader::new(&mut src).read().unwrap();
        assert_eq!(
            (header.version, header.compressed, header.len),
            (5, true, 24)
        );
        assert_eq!(src, b"rest");
    }
}
