//! Turns untrusted entry names from a dump into safe relative paths.
//!
//! Policy: names are split on `/`; empty and `.` components are dropped and a
//! leading `/` is ignored (so `/data/x` and `data/x` land at the same place;
//! the case writer then keeps both as separate files); `..` becomes `%2E%2E`
//! (visible, never a step up); control bytes, `\`, `%`-free but invalid UTF-8
//! bytes are written as `%XX`; a component over [`MAX_COMPONENT`] bytes is
//! shortened and tagged with a hash of the original; a path over
//! [`MAX_PATH`] bytes or [`MAX_DEPTH`] levels moves to `%overlong/`. The
//! result is always valid UTF-8 and never escapes the folder it is joined
//! to. The original bytes are kept in the custody log by the caller.

use crate::hash::sha256_hex;

/// Longest component written (Linux `NAME_MAX` is 255 bytes).
pub const MAX_COMPONENT: usize = 255;
/// Longest relative path written, leaving room for the case folder's own path
/// under Linux's 4096-byte `PATH_MAX`.
pub const MAX_PATH: usize = 3000;
/// Deepest nesting written.
pub const MAX_DEPTH: usize = 256;

/// Folder that takes entries whose path is too long or too deep.
pub const OVERLONG_DIR: &str = "%overlong";

/// Safe relative path components for the raw entry name `raw`. Empty when
/// the name has no component (`""`, `"/"`, `"."`).
pub fn sanitize(raw: &[u8]) -> Vec<String> {
    let components: Vec<String> = raw
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(component)
        .collect();
    let total: usize = components.iter().map(|c| c.len() + 1).sum();
    if components.len() > MAX_DEPTH || total > MAX_PATH {
        // Keep the leaf's name readable; the hash of the whole original name
        // keeps distinct deep paths apart.
        let leaf = components.last().cloned().unwrap_or_default();
        return vec![
            OVERLONG_DIR.to_owned(),
            sha256_hex(raw)[..16].to_owned(),
            leaf,
        ];
    }
    components
}

fn component(raw: &[u8]) -> String {
    let escaped = if raw == b".." {
        "%2E%2E".to_owned()
    } else {
        escape(raw)
    };
    if escaped.len() <= MAX_COMPONENT {
        return escaped;
    }
    shorten(&escaped, raw)
}

/// Escapes the bytes that must not reach a file name as `%XX`.
fn escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                // Every control char here is ASCII or C1; C1 needs two bytes.
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    push_escape(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_escape(&mut out, b);
        }
    }
    out
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Cuts an over-long component, keeping its extension and a hash tag.
fn shorten(escaped: &str, raw: &[u8]) -> String {
    let tag = &sha256_hex(raw)[..16];
    let ext = match escaped.rfind('.') {
        Some(i) if escaped.len() - i <= 16 && i > 0 => &escaped[i..],
        _ => "",
    };
    let budget = MAX_COMPONENT - ext.len() - tag.len() - 1;
    let mut cut = budget.min(escaped.len());
    while !escaped.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{tag}{ext}", &escaped[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(raw: &[u8]) -> String {
        sanitize(raw).join("/")
    }

    #[test]
    fn traversal_and_absolute_names_stay_inside() {
        assert_eq!(s(b"../../etc/passwd"), "%2E%2E/%2E%2E/etc/passwd");
        assert_eq!(s(b"/etc/passwd"), "etc/passwd");
        assert_eq!(s(b"a/./b//c/"), "a/b/c");
        assert_eq!(s(b"a/../b"), "a/%2E%2E/b");
        assert_eq!(s(b"/"), "");
        assert_eq!(s(b"..."), "...");
    }

    #[test]
    fn control_backslash_and_invalid_utf8_are_escaped() {
        assert_eq!(s(b"evil\x1b[31mred.txt"), "evil%1B[31mred.txt");
        assert_eq!(s(b"nul\x00byte"), "nul%00byte");
        assert_eq!(s(b"caf\xe9.txt"), "caf%E9.txt");
        assert_eq!(s(b"a\\b"), "a%5Cb");
        assert_eq!(s("résumé – 2024.txt".as_bytes()), "résumé – 2024.txt");
        assert_eq!(s("c1\u{85}.txt".as_bytes()), "c1%C2%85.txt");
    }

    #[test]
    fn long_components_are_shortened_with_tag_and_extension() {
        let raw = format!("{}.jpg", "x".repeat(300));
        let out = sanitize(raw.as_bytes());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), MAX_COMPONENT);
        assert!(out[0].ends_with(".jpg"));
        assert_eq!(
            &out[0][out[0].len() - 21..out[0].len() - 4],
            &format!("~{}", &sha256_hex(raw.as_bytes())[..16])
        );
        // Multi-byte characters are not split.
        let wide = "é".repeat(200);
        assert!(sanitize(wide.as_bytes())[0].len() <= MAX_COMPONENT);
    }

    #[test]
    fn deep_paths_move_to_overlong() {
        let raw = "d/".repeat(MAX_DEPTH + 1) + "leaf.txt";
        let out = sanitize(raw.as_bytes());
        assert_eq!(out[0], OVERLONG_DIR);
        assert_eq!(out[1].len(), 16);
        assert_eq!(out[2], "leaf.txt");
    }
}
