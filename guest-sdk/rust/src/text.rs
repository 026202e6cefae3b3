//! Matching text the way guardrails should, and catching what a stream splits.
//!
//! [`normalize`] is the form to compare texts and keywords in, the same in the Rust,
//! Python and JavaScript SDKs (all three are tested against
//! `guest-sdk/conformance/text.json`). [`HoldBack`] keeps the end of a stream's text back
//! so that a word split across chunks is still caught before the client sees it. Where
//! the texts of a request or response are is the host's business now (contract 0.2's
//! `content` resources; [`Request::texts`](crate::Request::texts)).

use unicode_normalization::UnicodeNormalization;

use crate::Chunk;

/// The form guardrails match text in, the same in every hookgate SDK:
///
/// 1. Unicode NFKC (fullwidth `ｓｅｃｒｅｔ` → `secret`, `ﬁ` → `fi`, `²` → `2`);
/// 2. every Default_Ignorable_Code_Point removed (soft hyphen, zero-width space and
///    joiners, bidi controls, variation selectors, tag characters, ...), then NFKC again
///    if any was: an ignorable between a letter and its combining mark would otherwise
///    keep them apart (`cafe<ZWSP><U+0301>` → `café`);
/// 3. every run of White_Space (tabs, newlines, no-break and ideographic spaces, ...)
///    replaced by one space, and the ends trimmed;
/// 4. lower-cased with the full Unicode mapping ([`str::to_lowercase`]: `ẞ` → `ß`, `İ` →
///    `i̇`), then Greek final sigma `ς` folded to `σ`: engines disagree on when `Σ`
///    lower-cases to `ς`, and a word should match wherever it ends.
///
/// Look-alikes from other scripts are not folded: Cyrillic `е` stays distinct from Latin
/// `e`. NFKC follows the `unicode-normalization` crate's Unicode version (18.0), lower-casing
/// the standard library's.
///
/// ```
/// assert_eq!(hookgate_sdk::normalize(" ＳＥＣＲＥＴ\u{a0}pl\u{200b}an "), "secret plan");
/// ```
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        return normalize_ascii(text);
    }
    normalize_composed(text.nfkc().collect())
}

/// Steps 2 to 4 of [`normalize`], on text in NFKC.
fn normalize_composed(mut composed: String) -> String {
    if composed.chars().any(is_default_ignorable) {
        composed = composed.chars().filter(|&c| !is_default_ignorable(c)).nfkc().collect();
    }
    let mut spaced = String::with_capacity(composed.len());
    let mut space = false;
    for c in composed.chars() {
        if is_white_space(c) {
            space = !spaced.is_empty();
        } else {
            if space {
                spaced.push(' ');
                space = false;
            }
            spaced.push(c);
        }
    }
    let lower = spaced.to_lowercase();
    if lower.contains('ς') {
        lower.replace('ς', "σ")
    } else {
        lower
    }
}

/// [`normalize`] for ASCII, where the steps come down to bytes: NFKC changes nothing, no
/// character is ignorable, White_Space is tab to carriage return and the space, and
/// lower-casing is ASCII's. The common case (English prompts), and the one a padded
/// prompt makes large.
///
/// Eight bytes at a time where they need no more than lower-casing: in a guest every
/// loop pass is metered (fuel, the epoch check), and splitting into words a character at
/// a time cost some 40 instructions a byte, most of a keyword guardrail's time.
fn normalize_ascii(text: &str) -> String {
    // Built with single spaces between words and possibly one at the end, trimmed last.
    let mut normalized = Vec::with_capacity(text.len());
    let mut blocks = text.as_bytes().chunks_exact(8);
    for block in &mut blocks {
        let word = u64::from_le_bytes(block.try_into().expect("chunks of eight"));
        let starts_a_run = block[0] == b' ' && normalized.last().is_none_or(|&b| b == b' ');
        if has_byte_below(word, b' ') || has_adjacent_spaces(word) || starts_a_run {
            block.iter().for_each(|&byte| push_normalized(&mut normalized, byte));
        } else {
            normalized.extend_from_slice(&ascii_lowercase(word).to_le_bytes());
        }
    }
    blocks.remainder().iter().for_each(|&byte| push_normalized(&mut normalized, byte));
    if normalized.last() == Some(&b' ') {
        normalized.pop();
    }
    String::from_utf8(normalized).expect("ASCII in, ASCII out")
}

/// One ASCII byte of [`normalize_ascii`]: White_Space becomes a space unless the text so
/// far is empty or ends in one; anything else is lower-cased.
fn push_normalized(normalized: &mut Vec<u8>, byte: u8) {
    if matches!(byte, b'\t'..=b'\r' | b' ') {
        if normalized.last().is_some_and(|&b| b != b' ') {
            normalized.push(b' ');
        }
    } else {
        normalized.push(byte.to_ascii_lowercase());
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight ASCII bytes in `word` is below `limit` (at most 0x80).
fn has_byte_below(word: u64, limit: u8) -> bool {
    word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGH_BITS != 0
}

/// Whether two neighbouring bytes of `word` are both spaces.
fn has_adjacent_spaces(word: u64) -> bool {
    let xored = word ^ (ONES * u64::from(b' '));
    // The high bit of each byte that was a space, exactly (no carry crosses a byte).
    let spaces = !(((xored & !HIGH_BITS) + !HIGH_BITS) | xored) & HIGH_BITS;
    spaces & (spaces >> 8) != 0
}

/// The eight ASCII bytes of `word`, `A`..=`Z` lower-cased.
fn ascii_lowercase(word: u64) -> u64 {
    // For bytes below 0x80 the sums stay within their byte.
    let at_least_a = word + ONES * (0x80 - u64::from(b'A'));
    let above_z = word + ONES * (0x7f - u64::from(b'Z'));
    let upper = at_least_a & !above_z & HIGH_BITS;
    word | (upper >> 2)
}

/// Whether `c` is a Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt).
#[rustfmt::skip]
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether `c` is White_Space (Unicode's PropList.txt; not [`char::is_whitespace`], which
/// is the same set, but spelled out here as in the other SDKs).
#[rustfmt::skip]
pub fn is_white_space(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{D}' | ' ' | '\u{85}' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}'
        | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// Holds back the end of a stream's answer text, so that a match split across chunks is
/// caught before any of it reaches the client.
///
/// A stream filter checks, for each chunk, the text not yet sent ([`HoldBack::unsent`]:
/// what is held plus what the chunk brings), then lets [`HoldBack::apply`] rewrite the
/// chunk so that it carries only what may go out now: everything but the last `window`
/// characters of each choice. The chunk that ends a choice (it has a `finish_reason`)
/// carries the rest. Nothing is lost and nothing unchecked is sent:
///
/// ```
/// use hookgate_sdk::text::HoldBack;
/// use hookgate_sdk::{Chunk, serde_json::json};
///
/// let mut hold = HoldBack::new(4);
/// let chunk = Chunk::local(json!({"choices": [{"index": 0, "delta": {"content": "the sec"}}]}));
/// assert_eq!(hold.unsent(&chunk), ["the sec"]);
/// hold.apply(&chunk).unwrap();
/// assert_eq!(chunk.text().as_deref(), Some("the"));
/// let chunk = Chunk::local(json!({"choices": [{"index": 0, "delta": {"content": "ret plan"}}]}));
/// assert_eq!(hold.unsent(&chunk), [" secret plan"]);
/// hold.apply(&chunk).unwrap();
/// assert_eq!(chunk.text().as_deref(), Some(" secret "));
/// let last = Chunk::local(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
/// hold.apply(&last).unwrap();
/// assert_eq!(last.text().as_deref(), Some("plan"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldBack {
    window: usize,
    /// Per choice, the text held back.
    held: Vec<String>,
}

impl HoldBack {
    /// Holds back the last `window` characters of each choice, counted as [`normalize`]
    /// keeps them (an invisible character counts for nothing, a run of white space for
    /// one): one less than the longest text to catch suffices for a plain match; a few
    /// more cover what normalization joins (a letter and a combining mark in different
    /// chunks).
    pub fn new(window: usize) -> Self {
        HoldBack { window, held: Vec::new() }
    }

    /// Per choice the chunk touches (by index, from 0), the text not yet sent once this
    /// chunk is in: what is held plus what the chunk brings. What a check should look at.
    pub fn unsent(&self, chunk: &Chunk) -> Vec<String> {
        let incoming = incoming(chunk);
        let choices = incoming.len().max(self.held.len());
        (0..choices)
            .map(|choice| {
                let held = self.held.get(choice).map_or("", String::as_str);
                format!("{held}{}", incoming.get(choice).map_or("", String::as_str))
            })
            .collect()
    }

    /// Takes the chunk's answer text into the window and rewrites the chunk to carry what
    /// may be sent now; a choice that ends in this chunk gets everything still held.
    pub fn apply(&mut self, chunk: &Chunk) -> Result<(), crate::EditError> {
        let incoming = incoming(chunk);
        if self.held.len() < incoming.len() {
            self.held.resize(incoming.len(), String::new());
        }
        for choice in 0..self.held.len() {
            let brought = incoming.get(choice).cloned().unwrap_or_default();
            let index = u32::try_from(choice).unwrap_or(u32::MAX);
            let ends = chunk.finish_reason(index).is_some();
            if brought.is_empty() && !ends {
                continue;
            }
            self.held[choice].push_str(&brought);
            let released = if ends { std::mem::take(&mut self.held[choice]) } else { self.release(choice) };
            if released != brought {
                chunk.set_content(index, &released)?;
            }
        }
        Ok(())
    }

    /// Everything held for `choice`, released (for a stream that ends without a
    /// `finish_reason`).
    pub fn finish(&mut self, choice: usize) -> String {
        self.held.get_mut(choice).map(std::mem::take).unwrap_or_default()
    }

    /// What `choice` may send now: all but its last `window` characters.
    fn release(&mut self, choice: usize) -> String {
        let held = &mut self.held[choice];
        let cut = kept_from(held, self.window);
        held.drain(..cut).collect()
    }
}

/// Where the last `window` characters of `text` start, counted as [`normalize`] keeps
/// them: a Default_Ignorable_Code_Point counts for nothing and a run of White_Space for
/// one. Counted raw, zero-width characters or a run of spaces between a keyword's letters
/// would push its first letters out of the window and to the client before the rest came.
fn kept_from(text: &str, window: usize) -> usize {
    let mut counted = 0;
    // Whether the counted character to the right was White_Space: a run counts once.
    let mut space_after = false;
    for (at, c) in text.char_indices().rev() {
        if is_default_ignorable(c) {
            continue;
        }
        let space = is_white_space(c);
        if !(space && space_after) {
            if counted == window {
                return at + c.len_utf8();
            }
            counted += 1;
        }
        space_after = space;
    }
    0
}

/// Per choice (by index), the answer text a chunk brings.
fn incoming(chunk: &Chunk) -> Vec<String> {
    let mut per_choice: Vec<String> = Vec::new();
    for text in chunk.answer_texts() {
        let choice = text.item.unwrap_or(0);
        if per_choice.len() <= choice {
            per_choice.resize(choice + 1, String::new());
        }
        per_choice[choice].push_str(&text.text);
    }
    per_choice
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast path agrees with the general steps on every string of up to four
    /// characters from an alphabet of each ASCII kind (every White_Space, other controls,
    /// letters of both cases, a digit, punctuation).
    #[test]
    fn the_ascii_path_is_the_general_one() {
        let alphabet = ['\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\0', '\u{1f}', '\u{7f}', 'A', 'z', '7', '.'];
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                strings.iter().flat_map(|s| alphabet.iter().map(move |&c| format!("{s}{c}"))).collect();
            for text in &longer {
                assert_eq!(normalize_ascii(text), normalize_composed(text.clone()), "{text:?}");
            }
            strings = longer;
        }
    }

    /// The same on longer strings, where whole blocks of eight bytes take the fast path:
    /// 50,000 pseudo-random ones of up to 40 bytes, most of them letters and spaces (as
    /// prose is), the rest any ASCII, every ASCII character among them many times.
    #[test]
    fn the_ascii_blocks_are_the_general_path() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let prose = b"  AZaz@[`{Qq.";
        for _ in 0..50_000 {
            let length = (next() % 41) as usize;
            let text: String = (0..length)
                .map(|_| match next() % 4 {
                    0 => char::from((next() % 128) as u8),
                    _ => char::from(prose[(next() % prose.len() as u64) as usize]),
                })
                .collect();
            assert_eq!(normalize_ascii(&text), normalize_composed(text.clone()), "{text:?}");
        }
    }

    /// The block helpers against their byte-by-byte meaning, on every byte value below
    /// 0x80 in every position.
    #[test]
    fn the_block_helpers_mean_what_they_say() {
        for byte in 0..0x80u8 {
            for position in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[position] = byte;
                let word = u64::from_le_bytes(bytes);
                assert_eq!(has_byte_below(word, b' '), byte < b' ', "{byte:#x} at {position}");
                let lowered: Vec<u8> = bytes.iter().map(u8::to_ascii_lowercase).collect();
                assert_eq!(ascii_lowercase(word).to_le_bytes().as_slice(), lowered, "{byte:#x} at {position}");
                if position < 7 {
                    bytes[position + 1] = b' ';
                    let adjacent = byte == b' ';
                    assert_eq!(has_adjacent_spaces(u64::from_le_bytes(bytes)), adjacent, "{byte:#x} at {position}");
                }
            }
        }
        assert!(!has_adjacent_spaces(u64::from_le_bytes(*b" a b c d")));
        assert!(has_adjacent_spaces(u64::from_le_bytes(*b"abcdef  ")));
    }
}
