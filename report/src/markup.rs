//! Escaping for the markup outputs (HTML, XML) and links from a report to
//! the case's files. Everything from a case is untrusted text from the
//! evidence: it is escaped on the way out, always.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML or XML text and attribute
/// values; control characters XML 1.0 cannot carry (all below 0x20 but tab,
/// newline, carriage return) become U+FFFD, so a hostile name cannot make a
/// document that does not parse.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || is_forbidden(c);
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_forbidden(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// Serialises `value` as JSON safe to embed in an HTML `<script>` element:
/// `<`, `>` and `&` become `\u003c`…, so no string in the data can close the
/// element or open a comment, and U+2028/U+2029 are escaped for old parsers.
pub fn script_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A link to the case path `rel` (`files/data/…`) from a report whose links
/// start with `base` (`../` from `case/reports/`, or `file:///…/case/` from
/// outside the case): every byte outside the unreserved set and `/` is
/// percent-encoded, so a name with `#`, `?` or spaces still links.
pub fn href(base: &str, rel: &str) -> String {
    let mut out = String::with_capacity(base.len() + rel.len() + 8);
    out.push_str(base);
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("bell\u{7}\ttab"), "bell\u{FFFD}\ttab");
    }

    #[test]
    fn script_json_cannot_close_the_element() {
        let v = serde_json::json!({"body": "</script><!-- & \u{2028}"});
        let s = script_json(&v);
        assert!(!s.contains("</script"), "{s}");
        assert!(!s.contains("<!--"), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn links_percent_encode() {
        assert_eq!(href("../", "files/a b/#1?.db"), "../files/a%20b/%231%3F.db");
        assert_eq!(href("../", "files/é"), "../files/%C3%A9");
    }
}
