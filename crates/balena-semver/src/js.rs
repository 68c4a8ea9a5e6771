//! Small pieces of JavaScript semantics that balena-semver relies on.

use std::cmp::Ordering;

/// `Number.MAX_SAFE_INTEGER` (2^53 − 1).
pub(crate) const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Is `c` in the ECMAScript `WhiteSpace`/`LineTerminator` set, i.e. what
/// `String.prototype.trim` strips and what regular-expression `\s` matches?
///
/// This differs from [`char::is_whitespace`]: U+FEFF is included, U+0085 and
/// U+180E are not.
pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `String.prototype.trim`.
pub(crate) fn trim(s: &str) -> &str {
    // Fast path: both ends are visible ASCII, nothing to strip.
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) => s,
        (Some(&first), Some(&last))
            if first > b' ' && first < 0x80 && last > b' ' && last < 0x80 =>
        {
            s
        }
        _ => s.trim_matches(is_js_whitespace),
    }
}

/// Length in UTF-16 code units (`String.prototype.length`).
pub(crate) fn utf16_len(s: &str) -> usize {
    // Fast path: every byte of an ASCII string is one code unit.
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// The JavaScript `<`/`>` order of two strings: lexicographic by UTF-16 code
/// unit (so U+FF21 sorts above U+1F600, whose high surrogate is 0xD83D).
pub(crate) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Is `b` matched by the non-Unicode regular-expression class `\w`?
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `+digits` for an ASCII digit string: the nearest IEEE double.
pub(crate) fn digits_to_f64(digits: &str) -> f64 {
    // Up to 15 digits the value is an exact integer below 2^53.
    if digits.len() <= 15 {
        let mut n: u64 = 0;
        for b in digits.bytes() {
            if !b.is_ascii_digit() {
                return f64::NAN;
            }
            n = n * 10 + u64::from(b - b'0');
        }
        if !digits.is_empty() {
            return n as f64;
        }
    }
    // Rust's float parser is correctly rounded, like V8's. An empty or
    // non-digit string cannot reach here; NaN mirrors JavaScript if it did.
    digits.parse::<f64>().unwrap_or(f64::NAN)
}

/// `String(n)` for a finite, non-negative, integral double, as JavaScript
/// prints it: plain digits below 1e21, exponent form (`1.5e+21`) above.
pub(crate) fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if n.abs() < 1e21 {
        // Rust's `Display` prints the shortest round-trip digits padded with
        // zeros, exactly like ECMAScript's Number::toString in this range.
        format!("{n}")
    } else {
        // Shortest round-trip digits in scientific form: "1.5e21" -> "1.5e+21".
        let s = format!("{n:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    }
}

/// JavaScript `split(/\s+/)` on a string whose only whitespace is ASCII space:
/// runs of spaces separate, and a leading or trailing run yields an empty
/// first or last element. An empty input yields one empty element.
pub(crate) fn split_space_runs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            out.push(&s[start..i]);
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_set_is_javascripts() {
        assert!(is_js_whitespace('\u{FEFF}'));
        assert!(is_js_whitespace('\u{3000}'));
        assert!(!is_js_whitespace('\u{85}'));
        assert!(!is_js_whitespace('\u{200B}'));
        assert!(!is_js_whitespace('\u{180E}'));
        assert_eq!(trim("\u{FEFF} 2.0.0\u{2029}"), "2.0.0");
        assert_eq!(trim("\u{85}2.0.0"), "\u{85}2.0.0");
    }

    #[test]
    fn utf16_order_is_by_code_unit() {
        assert_eq!(cmp_utf16("\u{FF21}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(cmp_utf16("Z", "_"), Ordering::Less);
        assert_eq!(cmp_utf16("_", "a"), Ordering::Less);
        assert_eq!(utf16_len("a\u{1F600}"), 3);
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(number_to_string(3.0), "3");
        assert_eq!(
            number_to_string(9_007_199_254_740_992.0),
            "9007199254740992"
        );
        assert_eq!(number_to_string(1e20), "100000000000000000000");
        assert_eq!(number_to_string(1e21), "1e+21");
        assert_eq!(
            number_to_string(digits_to_f64("1111111111111111111112")),
            "1.1111111111111111e+21"
        );
        assert_eq!(digits_to_f64("9007199254740993"), 9_007_199_254_740_992.0);
    }

    #[test]
    fn split_on_space_runs_like_javascript() {
        assert_eq!(split_space_runs(""), vec![""]);
        assert_eq!(split_space_runs("a  b"), vec!["a", "b"]);
        assert_eq!(split_space_runs(" a "), vec!["", "a", ""]);
    }
}
