//! Tool names and bounded text.

use super::MAX_TOOL_NAME_CHARS;

/// A tool name matching `^[a-zA-Z0-9_-]{1,64}$`: other characters become `_`; a longer name
/// keeps its first 55 characters plus `_` and 8 hex digits of a hash of the whole, so long names
/// that share a prefix stay apart.
pub(super) fn sanitize_name(raw: &str) -> String {
    let s: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if s.is_empty() {
        return "tool".into();
    }
    if s.len() <= MAX_TOOL_NAME_CHARS {
        return s;
    }
    // `s` is ASCII, so byte 55 is a char boundary.
    format!("{}_{:08x}", &s[..MAX_TOOL_NAME_CHARS - 9], fnv1a(raw.as_bytes()) as u32)
}

/// FNV-1a: a hash that stays the same across builds and Rust versions (tool names must).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `s` cut to at most `max` characters, at a word boundary when one is near, ending in `…`.
pub(super) fn truncate_clean(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let cut: String = s.chars().take(max - 1).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i >= cut.len() * 3 / 4 => &cut[..i],
        _ => cut.as_str(),
    };
    let trimmed = at_word.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '(' | '-'));
    format!("{trimmed}…")
}
