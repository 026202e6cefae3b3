//! The one character class untrusted text is judged by in more than one place: control
//! characters, which may not reach a log line (the host's `text::escape_control`) nor a
//! header value a plugin sets ([`crate::check_header`]).

/// Whether `text` holds a control character other than a tab: C0, DEL or C1.
///
/// Printable ASCII is recognised sixteen bytes at a time first (without an early exit,
/// which the compiler vectorizes); decoding characters one by one cost about 16
/// instructions a byte, on every guest log line and every header a plugin sets.
pub fn has_control_character(text: &str) -> bool {
    !is_printable_ascii(text) && text.chars().any(|c| c.is_control() && c != '\t')
}

/// True when every byte of `text` is printable ASCII or a tab.
fn is_printable_ascii(text: &str) -> bool {
    text.as_bytes()
        .chunks(16)
        .all(|block| block.iter().fold(true, |ok, &b| ok & ((b' '..0x7f).contains(&b) | (b == b'\t'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_shortcut_agrees_with_the_character_check() {
        // Every character below U+3000 (C0, DEL, C1 and beyond), alone and inside
        // printable text at each position of a 16-byte block.
        for code in 0..0x3000u32 {
            let Some(c) = char::from_u32(code) else { continue };
            let control = c.is_control() && c != '\t';
            for at in 0..20 {
                let text = format!("{}{c}{}", "a".repeat(at), "b".repeat(20 - at));
                assert_eq!(has_control_character(&text), control, "{code:#x} at {at}");
                assert!(!is_printable_ascii(&text) || (c.is_ascii() && !control), "{code:#x} at {at}");
            }
            assert_eq!(has_control_character(&c.to_string()), control, "{code:#x} alone");
        }
        assert!(is_printable_ascii("") && is_printable_ascii("tab\tis fine ~"));
    }
}
