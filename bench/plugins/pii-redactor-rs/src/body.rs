//! Finding the strings a hook masks in a JSON body, and patching them where they sit.
//!
//! app.py parses the body, masks its strings and serializes it all again. This port finds
//! the string literals in the body's text instead, lent by serde_json without copies, and
//! rewrites only those it masks: the rest of the body (key order, numbers, spacing) goes
//! on byte for byte, and a body with nothing to mask costs one pass over its text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Which strings of a body a hook masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A request: the content of every message, a string or a list of parts whose `text`
    /// strings count (app.py's `pre_call`).
    Request,
    /// A response: the string content of every choice's message (app.py's
    /// `post_call_success`).
    Response,
}

/// The JSON string literals (quotes included) at the places `shape` names in `body`, as
/// slices of `body`, in order. An error when the body is not JSON.
pub fn literals(body: &str, shape: Shape) -> Result<Vec<&str>, serde_json::Error> {
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(body);
    let at = match shape {
        Shape::Request => At::Request,
        Shape::Response => At::Response,
    };
    Walk { at, found: &mut found }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(found)
}

/// The text of a JSON string literal; `None` if `literal` is not one.
pub fn decode(literal: &str) -> Option<Cow<'_, str>> {
    // Without a backslash there are no escapes: the text is what the quotes enclose.
    if !literal.contains('\\') {
        let text = literal.strip_prefix('"')?.strip_suffix('"')?;
        return Some(Cow::Borrowed(text));
    }
    serde_json::from_str::<String>(literal).ok().map(Cow::Owned)
}

/// `text` as a JSON string literal.
pub fn encode(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// `body` with each `(old, new)` of `edits` applied: `old` a slice of `body` (from
/// [`literals`]), `new` the JSON text to put in its place. Edits are in body order.
pub fn patch(body: &str, edits: &[(&str, String)]) -> String {
    let added: usize = edits.iter().map(|(_, new)| new.len()).sum();
    let mut out = String::with_capacity(body.len() + added);
    let mut copied = 0;
    for (old, new) in edits {
        let start = offset_in(body, old);
        out.push_str(&body[copied..start]);
        out.push_str(new);
        copied = start + old.len();
    }
    out.push_str(&body[copied..]);
    out
}

/// Where `part`, a slice of `text`, starts in it.
pub fn offset_in(text: &str, part: &str) -> usize {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    assert!(start <= text.len() && part.len() <= text.len() - start, "not a slice of the body");
    start
}

/// Where the walk is in a body's shape.
#[derive(Debug, Clone, Copy)]
enum At {
    Request,
    Messages,
    Message,
    Content,
    Parts,
    Part,
    Response,
    Choices,
    Choice,
    ChoiceMessage,
    Text,
}

impl At {
    /// For an object: the key to follow, and where its value is.
    fn key(self) -> Option<(&'static str, At)> {
        match self {
            At::Request => Some(("messages", At::Messages)),
            At::Message => Some(("content", At::Content)),
            At::Part => Some(("text", At::Text)),
            At::Response => Some(("choices", At::Choices)),
            At::Choice => Some(("message", At::ChoiceMessage)),
            At::ChoiceMessage => Some(("content", At::Text)),
            _ => None,
        }
    }

    /// For an array: where each element is.
    fn element(self) -> Option<At> {
        match self {
            At::Messages => Some(At::Message),
            At::Parts => Some(At::Part),
            At::Choices => Some(At::Choice),
            _ => None,
        }
    }
}

/// Walks one JSON value at `at`, collecting the literals of the strings to mask. A value
/// of an unexpected type is skipped, as app.py's `isinstance` checks skip it.
struct Walk<'w, 'de> {
    at: At,
    found: &'w mut Vec<&'de str>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if !matches!(self.at, At::Content | At::Text) {
            return deserializer.deserialize_any(self);
        }
        // A string to mask: take its literal, escapes and all, to know where it is.
        let literal = <&RawValue>::deserialize(deserializer)?.get();
        match literal.as_bytes()[0] {
            b'"' => self.found.push(literal),
            // A list of parts: walked in the literal, which is a slice of the body too.
            b'[' if matches!(self.at, At::Content) => {
                let mut parts = serde_json::Deserializer::from_str(literal);
                Walk { at: At::Parts, found: self.found }.deserialize(&mut parts).map_err(de::Error::custom)?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((wanted, value)) = self.at.key() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(hit) = map.next_key_seed(IsKey(wanted))? {
            if hit {
                map.next_value_seed(Walk { at: value, found: &mut *self.found })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.at.element() {
            Some(element) => while seq.next_element_seed(Walk { at: element, found: &mut *self.found })?.is_some() {},
            None => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Deserializes an object key into whether it is `.0`, without copying it.
struct IsKey(&'static str);

impl<'de> DeserializeSeed<'de> for IsKey {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsKey {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_message_contents_and_text_parts() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"a"},{"content":[{"type":"text","text":"b\n"},{"type":"image_url","image_url":{"url":"u"}}]},{"content":null},"odd",{"content":7}],"user":"x"}"#;
        assert_eq!(literals(body, Shape::Request).unwrap(), [r#""a""#, r#""b\n""#]);
    }

    #[test]
    fn finds_choice_contents() {
        let body = r#"{"id":"c","choices":[{"message":{"role":"assistant","content":"a"}},{"message":{"content":["no"]}},{"text":"t"}],"usage":{}}"#;
        assert_eq!(literals(body, Shape::Response).unwrap(), [r#""a""#]);
    }

    #[test]
    fn patches_in_place() {
        let body = r#"{"messages": [{"content": "x", "role": "user"}], "n": 1.50}"#;
        let found = literals(body, Shape::Request).unwrap();
        assert_eq!(decode(found[0]).unwrap(), "x");
        let patched = patch(body, &[(found[0], encode("\"y\""))]);
        assert_eq!(patched, r#"{"messages": [{"content": "\"y\"", "role": "user"}], "n": 1.50}"#);
    }

    #[test]
    fn rejects_what_is_not_json() {
        assert!(literals("{\"messages\": [", Shape::Request).is_err());
        assert!(literals("{} {}", Shape::Request).is_err());
    }
}
