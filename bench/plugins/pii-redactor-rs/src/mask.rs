//! Masking a text: app.py's `PHONE.sub(mask_phone, EMAIL.sub(mask_email, text))`.

use std::borrow::Cow;
use std::ops::Range;

use crate::scan::{find_email, find_phone, may_hold_pii};

/// The two replacements, ready to apply.
#[derive(Debug)]
pub struct Masker {
    email: Template,
    phone: Template,
}

impl Masker {
    /// Masks with `mask_email` and `mask_phone`, read as `re.sub` reads a replacement.
    pub fn new(mask_email: &str, mask_phone: &str) -> Result<Self, String> {
        let template = |name, source| Template::parse(source).map_err(|e| format!("`{name}` {source:?}: {e}"));
        Ok(Masker { email: template("mask_email", mask_email)?, phone: template("mask_phone", mask_phone)? })
    }

    /// `text` with its e-mail addresses masked, then its phone numbers: in that order, so a
    /// number inside an address is masked with the address and a mask's own digits count.
    /// Borrowed when nothing matched.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        // The fast path: an address needs an `@` and a number a digit (of any script).
        if !may_hold_pii(text) {
            return Cow::Borrowed(text);
        }
        let emailed = replace_all(text, find_email, &self.email);
        let phoned = replace_all(emailed.as_deref().unwrap_or(text), find_phone, &self.phone);
        match phoned.or(emailed) {
            Some(masked) => Cow::Owned(masked),
            None => Cow::Borrowed(text),
        }
    }
}

/// `text` with every match `find` returns replaced, searching on where the last match
/// ended (as `re.sub`); `None` when there is none.
fn replace_all(text: &str, find: fn(&str, usize) -> Option<Range<usize>>, template: &Template) -> Option<String> {
    // Matches are never empty, so nothing copied means nothing found.
    let mut out = String::new();
    let mut copied = 0;
    while let Some(found) = find(text, copied) {
        out.push_str(&text[copied..found.start]);
        template.expand(&text[found.clone()], &mut out);
        copied = found.end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// A replacement as Python's `re.sub` reads it: `\n`-style escapes, `\\`, octal escapes,
/// and `\g<0>` for the matched text. EMAIL and PHONE have no groups, so any other group
/// reference is an error, as are `\` plus an unknown ASCII letter and a trailing `\`.
/// Other escapes (`\[`) stay as written.
#[derive(Debug, PartialEq)]
struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Matched,
}

impl Template {
    /// Python reports a bad replacement when a hook first masks; this port refuses it with
    /// the config instead, so the plugin is refused at load rather than failing requests.
    fn parse(source: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                text.push(c);
                continue;
            }
            let escaped = chars.next().ok_or("bad escape (end of pattern)")?;
            let octal = |c: &char| ('0'..='7').contains(c);
            match escaped {
                'g' => {
                    if chars.next_if_eq(&'<').is_none() {
                        return Err("missing <".into());
                    }
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('>') => break,
                            Some(c) => name.push(c),
                            None if name.is_empty() => return Err("missing group name".into()),
                            None => return Err("missing >, unterminated name".into()),
                        }
                    }
                    group_zero(&name)?;
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Piece::Matched);
                }
                '0' => {
                    // `\0` and up to two more octal digits.
                    let mut value = 0;
                    for _ in 0..2 {
                        let Some(digit) = chars.next_if(octal) else { break };
                        value = value * 8 + digit.to_digit(8).expect("an octal digit");
                    }
                    text.push(char::from(value as u8));
                }
                '1'..='9' => {
                    // Three octal digits are a character; one or two digits a group.
                    let Some(second) = chars.next_if(char::is_ascii_digit) else {
                        return Err(format!("invalid group reference {escaped}"));
                    };
                    let Some(third) = chars.next_if(octal).filter(|_| octal(&escaped) && octal(&second)) else {
                        return Err(format!("invalid group reference {escaped}{second}"));
                    };
                    let value = [escaped, second, third].iter().fold(0, |v, d| v * 8 + d.to_digit(8).expect("octal"));
                    let byte = u8::try_from(value).map_err(|_| {
                        format!("octal escape value \\{escaped}{second}{third} outside of range 0-0o377")
                    })?;
                    text.push(char::from(byte));
                }
                'a' => text.push('\x07'),
                'b' => text.push('\x08'),
                'f' => text.push('\x0c'),
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                'v' => text.push('\x0b'),
                '\\' => text.push('\\'),
                c if c.is_ascii_alphabetic() => return Err(format!("bad escape \\{c}")),
                c => {
                    text.push('\\');
                    text.push(c);
                }
            }
        }
        pieces.push(Piece::Text(text));
        pieces.retain(|piece| *piece != Piece::Text(String::new()));
        Ok(Template { pieces })
    }

    fn expand(&self, matched: &str, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Matched => out.push_str(matched),
            }
        }
    }
}

/// Checks that `\g<name>` names the whole match: group 0 (`0`, `00`...) is the only group.
fn group_zero(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing group name".into());
    }
    if !name.bytes().all(|b| b.is_ascii_digit()) {
        let identifier = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        return Err(if identifier {
            format!("unknown group name {name:?}")
        } else {
            format!("bad character in group name {name:?}")
        });
    }
    match name.trim_start_matches('0') {
        "" => Ok(()),
        index => Err(format!("invalid group reference {index}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_masker() -> Masker {
        Masker::new("[EMAIL]", "[PHONE]").unwrap()
    }

    #[test]
    fn masks_addresses_and_numbers() {
        let masker = default_masker();
        assert_eq!(
            masker.mask("mail bob@example.com or ring +44 20 7946 0958, not 12 apples"),
            "mail [EMAIL] or ring [PHONE], not 12 apples"
        );
        assert_eq!(masker.mask("(555) 123-4567"), "[PHONE]");
        assert_eq!(masker.mask("555.123.4567"), "[PHONE]");
        assert_eq!(masker.mask("call 555-123-4567 or 555 987 6543."), "call [PHONE] or [PHONE].");
    }

    #[test]
    fn leaves_other_text_borrowed() {
        let masker = default_masker();
        assert!(matches!(masker.mask("Write a haiku about proxies."), Cow::Borrowed(_)));
        assert!(matches!(masker.mask("12 apples, 2024-01-15, a@b"), Cow::Borrowed(_)));
        assert!(matches!(masker.mask("naïve café"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_addresses_before_numbers() {
        // The address takes its digits with it; a mask with digits is then a number.
        let masker = Masker::new("555 123 4567", "[PHONE]").unwrap();
        assert_eq!(masker.mask("to 5551234567@example.com"), "to [PHONE]");
    }

    #[test]
    fn reads_masks_as_python_replacements() {
        let mask = |source| {
            let masker = Masker::new(source, "[PHONE]")?;
            Ok::<_, String>(masker.mask("bob@example.com").into_owned())
        };
        assert_eq!(mask("<\\g<0>>").unwrap(), "<bob@example.com>");
        assert_eq!(mask("a\\tb\\\\c\\[d").unwrap(), "a\tb\\c\\[d");
        assert_eq!(mask("\\0\\101\\08").unwrap(), "\0A\x008");
        assert_eq!(mask("\\d").unwrap_err(), "`mask_email` \"\\\\d\": bad escape \\d");
        assert!(mask("\\1").is_err());
        assert!(mask("\\g<1>").is_err());
        assert!(mask("\\g<name>").is_err());
        assert!(mask("\\400").is_err());
        assert!(mask("trailing\\").is_err());
    }
}
