//! The text of an `attributedBody`: the `NSAttributedString` that iOS 16+
//! (and macOS Ventura+) stores in `message.attributedBody`, often with
//! `message.text` left `NULL`, archived in NeXT's typedstream format
//! (`NSArchiver`), <https://github.com/dgelessus/python-typedstream>.
//!
//! Policy: only the string is needed, so the archive is not parsed as a
//! whole. The first `NSString` (or `NSMutableString`) class name is found,
//! then the `+` (0x2B, a C string of bytes) that starts its value within a
//! few bytes, then the typedstream integer giving its length (one signed
//! byte, or 0x81 and an `i16`, or 0x82 and an `i32`, little-endian) and that
//! many bytes of UTF-8. Every read is bounds-checked; invalid UTF-8 is
//! replaced and said.
#![forbid(unsafe_code)]

/// The class names whose value is the message's text, most common first.
const MARKERS: &[&[u8]] = &[b"NSString", b"NSMutableString"];
/// The type tag of a byte string in a typedstream.
const STRING_TAG: u8 = b'+';
/// How far after the class name the `+` may be: the class's version and
/// the object and type tags (`01 94 84 01` in practice).
const TAG_WINDOW: usize = 16;
/// Integer tags: the value follows as an `i16` or an `i32`.
const INT16_TAG: u8 = 0x81;
const INT32_TAG: u8 = 0x82;

/// Text decoded from an `attributedBody`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributedText {
    /// The string.
    pub text: String,
    /// True when its bytes were not valid UTF-8 and were replaced.
    pub lossy: bool,
}

/// The text of an archived `NSAttributedString`, or why it could not be
/// found (lowercase, for a note).
pub fn attributed_text(blob: &[u8]) -> Result<AttributedText, &'static str> {
    let after = MARKERS
        .iter()
        .find_map(|m| find(blob, m).and_then(|at| at.checked_add(m.len())))
        .ok_or("no NSString in the archive")?;
    let window = blob
        .get(after..)
        .ok_or("archive ends after its NSString class name")?;
    let window = window.get(..TAG_WINDOW).unwrap_or(window);
    let tag = window
        .iter()
        .position(|&b| b == STRING_TAG)
        .ok_or("no string value after the NSString class name")?;
    let start = after
        .checked_add(tag)
        .and_then(|t| t.checked_add(1))
        .ok_or("archive offset overflow")?;
    let (len, body) = length(blob, start)?;
    let end = body.checked_add(len).ok_or("string length overflow")?;
    let bytes = blob
        .get(body..end)
        .ok_or("string runs past the end of the archive")?;
    Ok(match std::str::from_utf8(bytes) {
        Ok(text) => AttributedText {
            text: text.to_owned(),
            lossy: false,
        },
        Err(_) => AttributedText {
            text: String::from_utf8_lossy(bytes).into_owned(),
            lossy: true,
        },
    })
}

/// The typedstream integer at `at`: its value as a length, and where the
/// bytes after it start.
fn length(blob: &[u8], at: usize) -> Result<(usize, usize), &'static str> {
    let tag = *blob
        .get(at)
        .ok_or("archive ends before the string length")?;
    let next = at.checked_add(1).ok_or("archive offset overflow")?;
    let (value, after): (i64, usize) = match tag {
        INT16_TAG => {
            let end = next.checked_add(2).ok_or("archive offset overflow")?;
            let raw: [u8; 2] = blob
                .get(next..end)
                .and_then(|b| b.try_into().ok())
                .ok_or("archive ends inside the string length")?;
            (i64::from(i16::from_le_bytes(raw)), end)
        }
        INT32_TAG => {
            let end = next.checked_add(4).ok_or("archive offset overflow")?;
            let raw: [u8; 4] = blob
                .get(next..end)
                .and_then(|b| b.try_into().ok())
                .ok_or("archive ends inside the string length")?;
            (i64::from(i32::from_le_bytes(raw)), end)
        }
        0x80..=0x84 => return Err("unexpected integer tag for the string length"),
        small => (i64::from(i8::from_le_bytes([small])), next),
    };
    let len = usize::try_from(value).map_err(|_| "negative string length")?;
    Ok((len, after))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(text: &[u8], len: &[u8]) -> Vec<u8> {
        let mut b = b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12NSAttributedString\x00\x84\x84\x08NSObject\x00\x85\x92\x84\x84\x84\x08NSString\x01\x94\x84\x01+".to_vec();
        b.extend_from_slice(len);
        b.extend_from_slice(text);
        b.extend_from_slice(b"\x86\x84\x02iI\x01\x05\x92");
        b
    }

    #[test]
    fn each_length_form() {
        let short = archive(b"hello", &[5]);
        assert_eq!(attributed_text(&short).unwrap().text, "hello");
        let long = "é".repeat(100);
        let mut len = vec![INT16_TAG];
        len.extend_from_slice(&200u16.to_le_bytes());
        assert_eq!(
            attributed_text(&archive(long.as_bytes(), &len))
                .unwrap()
                .text,
            long
        );
        let mut len = vec![INT32_TAG];
        len.extend_from_slice(&5u32.to_le_bytes());
        assert_eq!(
            attributed_text(&archive(b"12345", &len)).unwrap().text,
            "12345"
        );
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        assert!(attributed_text(b"").is_err());
        assert!(attributed_text(b"NSString").is_err());
        assert!(attributed_text(b"NSString\x01\x94\x84\x01+").is_err());
        assert!(attributed_text(b"NSString\x01\x94\x84\x01+\x81\x01").is_err());
        assert!(attributed_text(b"NSString\x01\x94\x84\x01+\x05abc").is_err());
        assert!(attributed_text(b"NSString\x01\x94\x84\x01+\xff").is_err());
        assert!(attributed_text(b"NSString\x01\x94\x84\x01+\x82\xff\xff\xff\x7f").is_err());
        let bad = attributed_text(&archive(b"a\xffb", &[3])).unwrap();
        assert!(bad.lossy);
        assert_eq!(bad.text, "a\u{fffd}b");
    }
}
