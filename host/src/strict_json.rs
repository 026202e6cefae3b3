//! JSON parsing that refuses duplicate object keys and bounds what a body may become.
//!
//! `{"content": "hello", "content": "the secret plan"}` is valid JSON whose meaning
//! depends on the parser: serde_json keeps the last value, other parsers the first. A
//! guardrail and the upstream must never read two different requests, so a client body
//! with a duplicated key is refused outright. (The upstream also always gets the body
//! re-serialized from what the hooks saw, never the client's raw bytes.) Answers go the
//! other way: an upstream's answer, or a stream chunk that hooks or the log read, with a
//! duplicated key is a 502, so the text a client gets as it was sent means what the hooks
//! read.
//!
//! An answer that no hook may read is only checked ([`check`]): the same refusals, no
//! tree. Its tree is made later, by plain serde_json, if a hook or the log asks for it;
//! with no duplicated key that is the tree [`from_str`] would have made.
//!
//! A parsed body takes many times its size in memory (an 8 MB body of tiny messages is
//! some 100 MB of values), so parsing stops early: at the `max_messages`-th + 1 entry of
//! the top-level `messages` array, and at [`Limits::max_values`] values in all.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// How much a body may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most entries of the top-level `messages` array.
    pub max_messages: usize,
    /// Most JSON values (every object, array, string, number...) in all.
    pub max_values: usize,
}

impl Limits {
    /// No limit but the duplicate keys: for upstream answers, which
    /// `max_upstream_response_mb` already bounds.
    pub const NONE: Limits = Limits { max_messages: usize::MAX, max_values: usize::MAX };
}

/// Parses `bytes` as JSON, failing on a duplicated key in any object and past `limits`.
pub(crate) fn from_slice(bytes: &[u8], limits: Limits) -> Result<Value, serde_json::Error> {
    // Parsing bytes, serde_json checks every string for UTF-8 on its own: counted, about
    // 100 instructions per string, some 3,400 a request. Checking the whole text once
    // and parsing it as a `str` costs a fraction of that. Bytes that are not UTF-8 are
    // parsed as bytes, so that the error says where the bad byte is.
    match std::str::from_utf8(bytes) {
        Ok(text) => from_str(text, limits),
        Err(_) => parse(serde_json::Deserializer::from_slice(bytes), limits),
    }
}

/// Parses `text` as JSON, like [`from_slice`].
pub(crate) fn from_str(text: &str, limits: Limits) -> Result<Value, serde_json::Error> {
    parse(serde_json::Deserializer::from_str(text), limits)
}

/// Checks that `text` is one JSON value without a duplicated key in any object, as
/// [`from_str`] with [`Limits::NONE`] would, without building it (a tree of an answer
/// costs more than the rest of a request without plugins).
pub(crate) fn check(text: &str) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let keys = RefCell::new(Vec::new());
    Check { keys: &keys }.deserialize(&mut deserializer)?;
    deserializer.end()
}

fn parse<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
    limits: Limits,
) -> Result<Value, serde_json::Error> {
    let budget = Cell::new(limits.max_values);
    let value = Strict { budget: &budget, limits, top: true }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A `Value` visitor like serde_json's own, except for duplicate keys and the limits.
#[derive(Clone, Copy)]
struct Strict<'a> {
    /// Values that may still be made.
    budget: &'a Cell<usize>,
    limits: Limits,
    /// True for the top-level value (whose `messages` is capped).
    top: bool,
}

impl Strict<'_> {
    fn inner(self) -> Self {
        Self { top: false, ..self }
    }

    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "the body holds more than {} JSON values, more than this proxy accepts",
                self.limits.max_values
            ))),
        }
    }
}

/// The top-level `messages` array, refused at its `max`-th + 1 entry.
struct Messages<'a>(Strict<'a>);

impl<'de> DeserializeSeed<'de> for Messages<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Messages<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        self.0.spend()?;
        let max = self.0.limits.max_messages;
        let mut values = Vec::new();
        while let Some(value) = items.next_element_seed(self.0)? {
            if values.len() == max {
                return Err(de::Error::custom(format!(
                    "'messages' has more than {max} messages, more than this proxy accepts"
                )));
            }
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    // Anything else than an array is left for the shape checks to name.
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        self.0.visit_bool(value)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        self.0.visit_i64(value)
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        self.0.visit_u64(value)
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        self.0.visit_f64(value)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        self.0.visit_str(value)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.visit_unit()
    }
    fn visit_map<A: MapAccess<'de>>(self, entries: A) -> Result<Value, A::Error> {
        self.0.visit_map(entries)
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        self.spend()?;
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(value))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut values = Vec::with_capacity(items.size_hint().unwrap_or(0).min(1024));
        while let Some(value) = items.next_element_seed(self.inner())? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut map = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            let value = if self.top && key == "messages" {
                entries.next_value_seed(Messages(self.inner()))?
            } else {
                entries.next_value_seed(self.inner())?
            };
            // One lookup both finds a duplicate and places the value.
            match map.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(taken) => return Err(duplicate(taken.key())),
            }
        }
        Ok(Value::Object(map))
    }
}

/// The error for a key met twice in one object.
fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format!("duplicate key `{}` in an object", crate::text::truncate(key, 64)))
}

/// [`check`]'s visitor: keeps nothing but the keys of the objects it is inside of.
#[derive(Clone, Copy)]
struct Check<'a, 'de> {
    /// The keys of every object being read, outermost first: an object's own are the end
    /// of it, from where it began, and are taken off when it ends. One vector for the
    /// whole text, so that an object costs no allocation of its own.
    keys: &'a RefCell<Vec<Cow<'de, str>>>,
}

impl<'de> DeserializeSeed<'de> for Check<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let start = self.keys.borrow().len();
        while let Some(key) = entries.next_key_seed(Key)? {
            entries.next_value_seed(self)?;
            self.keys.borrow_mut().push(key);
        }
        let mut keys = self.keys.borrow_mut();
        let own = &mut keys[start..];
        // The few keys of most objects are compared pairwise; sorting bounds a large
        // object's cost (an answer is the upstream's to shape) at n log n.
        let repeated = if own.len() <= 16 {
            (1..own.len()).find_map(|later| own[..later].contains(&own[later]).then(|| own[later].clone()))
        } else {
            own.sort_unstable();
            own.windows(2).find_map(|pair| (pair[0] == pair[1]).then(|| pair[0].clone()))
        };
        keys.truncate(start);
        match repeated {
            Some(key) => Err(duplicate(&key)),
            None => Ok(()),
        }
    }
}

/// An object's key, borrowed from the text unless it had escapes to decode.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Limits = Limits { max_messages: 100, max_values: 10_000 };

    fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
        super::from_slice(bytes, ROOMY)
    }

    #[test]
    fn parsing_stops_at_the_message_cap_and_the_value_budget() {
        let messages = |n: usize| {
            format!(r#"{{"model":"m","messages":[{}]}}"#, vec![r#"{"role":"user","content":"x"}"#; n].join(","))
        };
        assert!(from_slice(messages(100).as_bytes()).is_ok());
        let error = from_slice(messages(101).as_bytes()).unwrap_err();
        assert!(error.to_string().contains("more than 100 messages"), "{error}");
        let numbers = format!("{{\"input\":[{}]}}", vec!["1"; 10_001].join(","));
        let error = from_slice(numbers.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("more than 10000 JSON values"), "{error}");
        let nested = r#"{"x":{"messages":[1,2,3]}}"#;
        let tight = Limits { max_messages: 1, max_values: 100 };
        assert!(super::from_slice(nested.as_bytes(), tight).is_ok(), "only the top-level messages are capped");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_where_they_are() {
        let bytes = b"{\"content\":\"ab\xff\"}";
        let error = from_slice(bytes).unwrap_err();
        assert_eq!(error.to_string(), serde_json::from_slice::<Value>(bytes).unwrap_err().to_string());
        assert!(error.to_string().contains("column"), "{error}");
        // Escapes are decoded the same on either path, lone surrogates refused alike.
        for text in [r#"{"a":"\u00e9\ud83d\ude00\n"}"#, r#"{"a":"\ud800"}"#, r#"{"a":1,"a":2}"#] {
            let as_str = super::from_str(text, ROOMY).map_err(|error| error.to_string());
            let as_bytes = super::parse(serde_json::Deserializer::from_slice(text.as_bytes()), ROOMY)
                .map_err(|error| error.to_string());
            assert_eq!(as_str, as_bytes, "{text}");
        }
    }

    #[test]
    fn parses_like_serde_json() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"é"}"#;
        assert_eq!(from_slice(text.as_bytes()).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let error = from_slice(br#"{"messages":[{"role":"user","content":"hi","content":"bye"}]}"#).unwrap_err();
        assert!(error.to_string().contains("duplicate key `content`"), "{error}");
        assert!(from_slice(br#"{"a":1,"a":1}"#).is_err());
        assert!(from_slice(br#"{"a":{"b":1},"c":{"b":2}}"#).is_ok(), "the same key in two objects is fine");
    }

    #[test]
    fn check_refuses_what_the_parser_refuses_and_nothing_else() {
        let many = |repeat: &str| {
            let mut keys: Vec<String> = (0..40).map(|i| format!("\"k{i:02}\":{i}")).collect();
            keys.push(format!("\"{repeat}\":true"));
            format!("{{{}}}", keys.join(","))
        };
        let texts = [
            r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"é"}"#.to_owned(),
            r#"{"a":{"b":1},"c":{"b":2},"b":[{"b":1},{"b":2}]}"#.to_owned(),
            r#"{"a":1,"a":2}"#.to_owned(),
            r#"{"choices":[{"message":{"content":"hi","content":"bye"}}]}"#.to_owned(),
            // The same key once escaped: a duplicate once decoded.
            r#"{"role":"user","\u0072ole":"system"}"#.to_owned(),
            r#"{"x":{"a":1},"a":1}"#.to_owned(),
            many("k39"),
            many("k40"),
            r#"{"a":1} x"#.to_owned(),
            r#"{"a":"\ud800"}"#.to_owned(),
            "[1e999]".to_owned(),
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            "".to_owned(),
        ];
        for text in &texts {
            let parsed = from_str(text, Limits::NONE);
            let checked = check(text);
            assert_eq!(checked.is_ok(), parsed.is_ok(), "{text:.80}: {checked:?} vs {parsed:?}");
            if let (Err(checked), Err(parsed)) = (checked, parsed) {
                let what = |error: &serde_json::Error| error.to_string().split(" at line").next().unwrap().to_owned();
                assert_eq!(what(&checked), what(&parsed), "{text:.80}");
            }
        }
    }

    #[test]
    fn trailing_garbage_and_deep_nesting_are_refused() {
        assert!(from_slice(br#"{"a":1} x"#).is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(from_slice(deep.as_bytes()).is_err(), "serde_json's recursion limit still applies");
    }
}
