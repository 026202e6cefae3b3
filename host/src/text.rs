//! Small text helpers for untrusted strings: cutting them to a byte budget at a character
//! boundary, and making them safe to put in a log line.

use std::borrow::Cow;

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Cuts `text` to at most `max` bytes, at a character boundary. True when it was cut.
pub fn truncate_in_place(text: &mut String, max: usize) -> bool {
    let keep = truncate(text, max).len();
    let cut = keep < text.len();
    text.truncate(keep);
    cut
}

/// `text` with control characters escaped (`\n`, `\r` and the rest as `\u{..}`; tabs
/// kept), so that a string a plugin, client or upstream chose can never start a new log
/// line or hide one: one event is always one line.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !crate::content::chars::has_control_character(text) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push('\t'),
            c if c.is_control() => escaped.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// An untrusted string as it may appear in a log line: cut to `max` bytes (marked with
/// `…` when cut) and with control characters escaped.
pub fn for_log(text: &str, max: usize) -> Cow<'_, str> {
    let kept = truncate(text, max);
    match escape_control(kept) {
        Cow::Borrowed(kept) if kept.len() == text.len() => Cow::Borrowed(kept),
        escaped => Cow::Owned(if kept.len() < text.len() { format!("{escaped}…") } else { escaped.into_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
        let mut text = "ééé".to_owned();
        assert!(truncate_in_place(&mut text, 5));
        assert_eq!(text, "éé");
        assert!(!truncate_in_place(&mut text, 100));
    }

    #[test]
    fn only_text_with_a_control_character_is_copied() {
        for code in 0..0x400u32 {
            let Some(c) = char::from_u32(code) else { continue };
            let text = format!("a{c}b");
            let needs_escaping = c.is_control() && c != '\t';
            assert_eq!(matches!(escape_control(&text), Cow::Owned(_)), needs_escaping, "{code:#x}");
        }
    }

    #[test]
    fn control_characters_cannot_forge_log_lines() {
        assert_eq!(escape_control("plain\ttext"), "plain\ttext");
        assert_eq!(escape_control("a\nINFO forged line\rb\u{1b}[31m"), "a\\nINFO forged line\\rb\\u{1b}[31m");
        assert!(matches!(escape_control("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn log_text_is_cut_marked_and_escaped() {
        assert_eq!(for_log("short", 100), "short");
        assert_eq!(for_log("line\nbreak", 100), "line\\nbreak");
        assert_eq!(for_log("abcdef", 3), "abc…");
        assert_eq!(for_log("a\nbcdef", 3), "a\\nb…");
    }
}
