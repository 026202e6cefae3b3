//! Hand-written matchers for the three patterns of plugins/pii-redactor/app.py:
//!
//! ```text
//! EMAIL     [A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}
//! PHONE     (?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?!\w)
//! OPEN_TAIL [\d().+\- ]*\S*$
//! ```
//!
//! Each finds what Python's `re` finds: the leftmost match, and at that position the one
//! its backtracking tries first (greedy quantifiers longest first, an optional part
//! present before absent). A regex engine would cost more to set up per instance than a
//! request's scanning costs in all; these cost nothing until called.
//!
//! Positions are byte offsets into UTF-8 text, always on character boundaries.

use std::ops::Range;

/// The first e-mail address in `text` that starts at or after `from`.
pub fn find_email(text: &str, from: usize) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(offset) = text[at..].find('@') {
        at += offset;
        // The local part cannot contain `@`, so every start position the regex tries
        // before this `@` fails or reaches it; the leftmost such start is the beginning
        // of the run of local characters that ends here.
        let start = at - bytes[from..at].iter().rev().take_while(|&&b| is_local(b)).count();
        if start < at {
            if let Some(end) = domain_end(bytes, at + 1) {
                return Some(start..end);
            }
        }
        at += 1;
    }
    None
}

/// Where the domain of an address starting at `at` (just after its `@`) ends, if one does.
///
/// The domain is labels joined by dots, ending in a dot and two or more letters. The
/// labels are maximal runs (each must be followed by a dot), so only the final part can
/// stop short: `(?:\.label)*` first takes every label and then gives them back one at a
/// time, and the first label (from the right) that starts with two letters ends the match
/// after those letters.
fn domain_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut end = label_end(bytes, at);
    if end == at {
        return None;
    }
    let mut found = None;
    while bytes.get(end) == Some(&b'.') {
        let label = end + 1;
        end = label_end(bytes, label);
        if end == label {
            break;
        }
        let letters = bytes[label..end].iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if letters >= 2 {
            found = Some(label + letters);
        }
    }
    found
}

/// The end of the run of `[A-Za-z0-9-]` starting at `at`.
fn label_end(bytes: &[u8], at: usize) -> usize {
    at + bytes[at..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-').count()
}

/// `[A-Za-z0-9._%+-]`: a character of an address's local part.
fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

/// The first phone number in `text` that starts at or after `from`.
pub fn find_phone(text: &str, from: usize) -> Option<Range<usize>> {
    // A number starts with `+`, `(` or a digit: skip to the next byte that may be one
    // (a non-ASCII digit starts with a byte from 0xC0).
    let may_start = |word| ascii_digits(word) | bytes_equal(word, b'+') | bytes_equal(word, b'(') | (word & word << 1);
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(offset) = first_marked(&bytes[at..], may_start) {
        at += offset;
        let c = text[at..].chars().next().expect("`at` is on a character boundary");
        // Not just after a word character or a `+` (the lookbehind): so never inside a
        // run of digits.
        if (c == '+' || c == '(' || is_digit(c))
            && !text[..at].chars().next_back().is_some_and(|p| p == '+' || is_word(p))
        {
            if let Some(end) = phone_at(text, at) {
                return Some(at..end);
            }
        }
        at += c.len_utf8();
    }
    None
}

/// Whether `text` may hold an address or a number: it has an `@`, an ASCII digit, or a
/// non-ASCII character (which may be a digit of another script). Every text of every
/// request goes through this, so it reads eight bytes at a time.
pub fn may_hold_pii(text: &str) -> bool {
    first_marked(text.as_bytes(), |word| bytes_equal(word, b'@') | ascii_digits(word) | word).is_some()
}

/// The position of the first byte of `bytes` that `marks` marks. `marks` looks at eight
/// bytes at once (a little-endian word) and sets the high bit of each byte it marks (its
/// other bits do not count). It must not mark a zero byte, which pads the end.
fn first_marked(bytes: &[u8], marks: impl Fn(u64) -> u64) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let marked = marks(u64::from_le_bytes(chunk.try_into().expect("eight bytes"))) & HIGH_BITS;
        if marked != 0 {
            return Some(offset + marked.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let mut last = [0; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let marked = marks(u64::from_le_bytes(last)) & HIGH_BITS;
    (marked != 0).then(|| offset + marked.trailing_zeros() as usize / 8)
}

const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Marks the bytes of `word` equal to `byte` (exactly: no carries between bytes).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & LOW_BITS) + LOW_BITS) | x | LOW_BITS)
}

/// Marks the bytes of `word` that are ASCII digits: at least `0` and below `:`, compared
/// on the low seven bits (which cannot carry) of bytes without the high bit.
fn ascii_digits(word: u64) -> u64 {
    let low = word & LOW_BITS;
    (low + ONES * (0x80 - u64::from(b'0'))) & !(low + ONES * (0x80 - u64::from(b':'))) & !word & HIGH_BITS
}

/// Where a phone number starting exactly at `at` ends: the optional `+` and country code
/// (with its greedy choices tried first), then the rest.
fn phone_at(text: &str, at: usize) -> Option<usize> {
    if text.as_bytes()[at] == b'+' {
        let code = digits(text, at + 1, 3);
        for &end in code.ends().iter().rev() {
            let found = separator_after(text, end).and_then(|after| area_onwards(text, after));
            if let Some(found) = found.or_else(|| area_onwards(text, end)) {
                return Some(found);
            }
        }
    }
    area_onwards(text, at)
}

/// `(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])` at `at`, then the subscriber number.
fn area_onwards(text: &str, at: usize) -> Option<usize> {
    if text.as_bytes().get(at) == Some(&b'(') {
        let area = digits(text, at + 1, 4);
        for &end in area.ends().iter().skip(1).rev() {
            if text.as_bytes().get(end) == Some(&b')') {
                let found = separator_after(text, end + 1).and_then(|after| subscriber(text, after));
                if let Some(found) = found.or_else(|| subscriber(text, end + 1)) {
                    return Some(found);
                }
            }
        }
        return None;
    }
    let area = digits(text, at, 4);
    area.ends().iter().skip(1).rev().find_map(|&end| subscriber(text, separator_after(text, end)?))
}

/// `\d{3,4}[ .-]?\d{3,4}(?!\w)` at `at`.
fn subscriber(text: &str, at: usize) -> Option<usize> {
    let first = digits(text, at, 4);
    for &end in first.ends().iter().skip(2).rev() {
        let found = separator_after(text, end).and_then(|after| last_block(text, after));
        if let Some(found) = found.or_else(|| last_block(text, end)) {
            return Some(found);
        }
    }
    None
}

/// `\d{3,4}(?!\w)` at `at`.
fn last_block(text: &str, at: usize) -> Option<usize> {
    let block = digits(text, at, 4);
    block.ends().iter().skip(2).rev().copied().find(|&end| !text[end..].chars().next().is_some_and(is_word))
}

/// Just past a `[ .-]` at `at`, if there is one.
fn separator_after(text: &str, at: usize) -> Option<usize> {
    matches!(text.as_bytes().get(at), Some(b' ' | b'.' | b'-')).then_some(at + 1)
}

/// Up to `max` (at most 4) digits from `at`: where each of them ends, so that a greedy
/// `\d{m,n}` can try its lengths longest first.
fn digits(text: &str, at: usize, max: usize) -> Digits {
    let mut run = Digits { ends: [0; 4], len: 0 };
    let mut end = at;
    for c in text[at..].chars().take(max).take_while(|&c| is_digit(c)) {
        end += c.len_utf8();
        run.ends[run.len] = end;
        run.len += 1;
    }
    run
}

struct Digits {
    ends: [usize; 4],
    len: usize,
}

impl Digits {
    /// The end of the first digit, of the first two, and so on.
    fn ends(&self) -> &[usize] {
        &self.ends[..self.len]
    }
}

/// Where the tail of streamed text that could still grow into an address or a number
/// begins: the start of Python's `OPEN_TAIL.search(text)`.
///
/// That is the last word (`\S*`) with the run of digits, spaces and `().+-` before it.
/// Python's `$` also matches before a final newline, and the leftmost match wins, so a
/// text ending in `\n` has its tail end before that newline (and the newline is held with
/// it).
pub fn open_tail(text: &str) -> usize {
    let end = text.strip_suffix('\n').map_or(text.len(), str::len);
    let word: usize = text[..end].chars().rev().take_while(|&c| !is_space(c)).map(char::len_utf8).sum();
    let before = end - word;
    let run: usize = text[..before].chars().rev().take_while(|&c| is_tail_char(c)).map(char::len_utf8).sum();
    before - run
}

/// `[\d().+\- ]`.
fn is_tail_char(c: char) -> bool {
    matches!(c, '(' | ')' | '.' | '+' | '-' | ' ') || is_digit(c)
}

/// Python's `\d` on a `str`: a decimal digit of any script (category Nd), so that
/// `٥٥٥ ١٢٣ ٤٥٦٧` is a number to this port as to app.py.
fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    let c = u32::from(c);
    let at = DIGIT.partition_point(|&(_, last)| last < c);
    DIGIT.get(at).is_some_and(|&(first, _)| first <= c)
}

/// Python's `\w`: a letter or number of any script, or `_`. Rust's `is_alphanumeric`
/// also counts the few marks with the Alphabetic property; no phone number cares.
fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Python's `\s` (`str.isspace`): Rust's whitespace plus the four ASCII information
/// separators.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// The non-ASCII decimal digits (Unicode 16.0 category Nd, as the Python that builds
/// app.py), in ranges.
#[rustfmt::skip]
static DIGIT: [(u32, u32); 70] = [
    (0x00660, 0x00669), (0x006f0, 0x006f9), (0x007c0, 0x007c9), (0x00966, 0x0096f), (0x009e6, 0x009ef),
    (0x00a66, 0x00a6f), (0x00ae6, 0x00aef), (0x00b66, 0x00b6f), (0x00be6, 0x00bef), (0x00c66, 0x00c6f),
    (0x00ce6, 0x00cef), (0x00d66, 0x00d6f), (0x00de6, 0x00def), (0x00e50, 0x00e59), (0x00ed0, 0x00ed9),
    (0x00f20, 0x00f29), (0x01040, 0x01049), (0x01090, 0x01099), (0x017e0, 0x017e9), (0x01810, 0x01819),
    (0x01946, 0x0194f), (0x019d0, 0x019d9), (0x01a80, 0x01a89), (0x01a90, 0x01a99), (0x01b50, 0x01b59),
    (0x01bb0, 0x01bb9), (0x01c40, 0x01c49), (0x01c50, 0x01c59), (0x0a620, 0x0a629), (0x0a8d0, 0x0a8d9),
    (0x0a900, 0x0a909), (0x0a9d0, 0x0a9d9), (0x0a9f0, 0x0a9f9), (0x0aa50, 0x0aa59), (0x0abf0, 0x0abf9),
    (0x0ff10, 0x0ff19), (0x104a0, 0x104a9), (0x10d30, 0x10d39), (0x10d40, 0x10d49), (0x11066, 0x1106f),
    (0x110f0, 0x110f9), (0x11136, 0x1113f), (0x111d0, 0x111d9), (0x112f0, 0x112f9), (0x11450, 0x11459),
    (0x114d0, 0x114d9), (0x11650, 0x11659), (0x116c0, 0x116c9), (0x116d0, 0x116e3), (0x11730, 0x11739),
    (0x118e0, 0x118e9), (0x11950, 0x11959), (0x11bf0, 0x11bf9), (0x11c50, 0x11c59), (0x11d50, 0x11d59),
    (0x11da0, 0x11da9), (0x11f50, 0x11f59), (0x16130, 0x16139), (0x16a60, 0x16a69), (0x16ac0, 0x16ac9),
    (0x16b50, 0x16b59), (0x16d70, 0x16d79), (0x1ccf0, 0x1ccf9), (0x1d7ce, 0x1d7ff), (0x1e140, 0x1e149),
    (0x1e2f0, 0x1e2f9), (0x1e4f0, 0x1e4f9), (0x1e5f1, 0x1e5fa), (0x1e950, 0x1e959), (0x1fbf0, 0x1fbf9),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(text: &str) -> Vec<&str> {
        all(text, find_email)
    }

    fn phones(text: &str) -> Vec<&str> {
        all(text, find_phone)
    }

    /// Every match, each search starting where the last match ended (as `re.sub`).
    fn all(text: &str, find: fn(&str, usize) -> Option<Range<usize>>) -> Vec<&str> {
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(range) = find(text, from) {
            from = range.end;
            found.push(&text[range]);
        }
        found
    }

    #[test]
    fn finds_email_addresses() {
        assert_eq!(emails("mail bob@example.com or ring"), ["bob@example.com"]);
        assert_eq!(emails("a.b-c+tag%x@mail.sub-domain.example.co.uk."), ["a.b-c+tag%x@mail.sub-domain.example.co.uk"]);
        assert_eq!(emails("x@y@example.com"), ["y@example.com"]);
        assert_eq!(emails("one@a.io,two@b.org"), ["one@a.io", "two@b.org"]);
        assert!(emails("no@tld, no@dot., @example.com, a@b.c").is_empty());
    }

    #[test]
    fn email_top_level_domain_stops_at_its_letters() {
        // `\.[A-Za-z]{2,}` ends the match after the letters; the rest stays.
        assert_eq!(emails("bob@example.com2x"), ["bob@example.com"]);
        // The last label that starts with two letters ends the match.
        assert_eq!(emails("bob@host.example.c0m.x"), ["bob@host.example"]);
        // The next address starts where the previous match ended.
        assert_eq!(emails("bob@example.com2x@foo.org"), ["bob@example.com", "2x@foo.org"]);
    }

    #[test]
    fn finds_phone_numbers() {
        assert_eq!(phones("ring +44 20 7946 0958, not 12 apples"), ["+44 20 7946 0958"]);
        assert_eq!(phones("(555) 123-4567"), ["(555) 123-4567"]);
        assert_eq!(phones("555.123.4567"), ["555.123.4567"]);
        assert_eq!(phones("call +1-555-123-4567 now"), ["+1-555-123-4567"]);
        assert_eq!(phones("+4420 7946 0958"), ["+4420 7946 0958"]);
        assert_eq!(phones("(555)1234567"), ["(555)1234567"]);
        assert_eq!(phones("55 1234567"), ["55 1234567"]);
    }

    #[test]
    fn phone_numbers_stand_alone() {
        // Not after a word character or `+`, not before one.
        assert!(phones("x555 123 4567").is_empty());
        assert!(phones("555 123 4567x").is_empty());
        assert!(phones("5551234567").is_empty());
        assert!(phones("++555 123 4567").is_empty());
        assert!(phones("12 apples, 2024-01-15, v1.2.3").is_empty());
        // Greedy blocks give digits back to let a shorter number end before a word.
        assert_eq!(phones("555 1234 5678 9"), ["555 1234 5678"]);
    }

    #[test]
    fn phone_digits_are_any_script() {
        assert_eq!(phones("رقم ٥٥٥ ١٢٣ ٤٥٦٧."), ["٥٥٥ ١٢٣ ٤٥٦٧"]);
        // `é` is a word character, so the number does not stand alone.
        assert!(phones("é555 123 4567").is_empty());
    }

    #[test]
    fn word_marks_agree_with_byte_tests() {
        for byte in 0..=255u8 {
            let text = [b'x', b'x', b'x', b'x', b'x', b'x', b'x', b'x', b'x', byte];
            let at = first_marked(&text, |word| bytes_equal(word, b'@') | ascii_digits(word) | word);
            assert_eq!(at.is_some(), byte == b'@' || byte.is_ascii_digit() || !byte.is_ascii(), "{byte:#x}");
            assert_eq!(at.unwrap_or(9), 9);
            let phone =
                first_marked(&text[1..], |word| ascii_digits(word) | bytes_equal(word, b'(') | (word & word << 1));
            assert_eq!(phone.is_some(), byte == b'(' || byte.is_ascii_digit() || byte >= 0xc0, "{byte:#x}");
        }
        assert!(!may_hold_pii("Write a haiku about proxies, please!"));
        assert!(may_hold_pii("Write a haiku about proxies, please!1"));
        assert!(may_hold_pii("naïve"));
    }

    #[test]
    fn open_tail_is_the_last_word_and_number_run_before_it() {
        let tail = |text: &'static str| &text[open_tail(text)..];
        assert_eq!(tail("Hello"), "Hello");
        assert_eq!(tail("Hello wor"), " wor");
        assert_eq!(tail("Hello "), " ");
        assert_eq!(tail("call +44 20 79"), " +44 20 79");
        assert_eq!(tail("write to bob@exa"), " bob@exa");
        assert_eq!(tail("line\n"), "line\n");
        assert_eq!(tail("line \n"), " \n");
        assert_eq!(tail("a\n\n"), "\n");
        assert_eq!(tail(""), "");
    }
}
