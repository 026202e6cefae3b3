//! The two things done to JSON values on every request, made cheaper than serde_json's
//! general-purpose way: finding a field, and writing a value as compact text.
//!
//! - [`field`]: a request checks and reads some twenty fields of its body, most of them
//!   absent. A `Map` finds a key by hashing it (SipHash); comparing the few short keys an
//!   object has costs a fraction of that.
//! - [`to_vec`] and [`write_value`]: byte for byte what `serde_json::to_vec` makes.
//!   serde_json escapes a string by looking each of its bytes up in a table; counted
//!   (`bench/instructions/count.sh`), writing the upstream's copy of a request that way
//!   cost about 5,500 instructions for the bench's 400-byte prompt. A prompt rarely holds
//!   a quote, a backslash or a control character, so each string is first checked for
//!   those sixteen bytes at a time, which the compiler does in vector registers, and
//!   copied whole when it has none. A string with any, and every number, is written by
//!   serde_json itself, so the rules stay serde_json's and the two texts cannot differ.

use serde_json::{Map, Value};

/// Objects up to this many keys are searched by comparing keys, not by hashing the name.
pub const SCANNED_UP_TO: usize = 16;

/// `fields[key]`, found by comparing keys in an object of up to [`SCANNED_UP_TO`] keys.
/// A larger object, which a client may send on purpose, is searched by its hash, so a
/// lookup never compares more than that many keys.
pub fn field<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if fields.len() <= SCANNED_UP_TO {
        fields.iter().find_map(|(name, value)| (name == key).then_some(value))
    } else {
        fields.get(key)
    }
}

/// `value[key]` when `value` is an object, found as [`field`] finds it: what
/// `value.get(key)` returns, without hashing the name (SipHash, some hundred
/// instructions a lookup) in the small objects a chunk or a message is made of.
pub fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    field(value.as_object()?, key)
}

/// `fields[key]` to change, found as [`field`] finds it.
pub fn field_mut<'a>(fields: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    if fields.len() <= SCANNED_UP_TO {
        fields.iter_mut().find_map(|(name, value)| (name == key).then_some(value))
    } else {
        fields.get_mut(key)
    }
}

/// Sets `fields[key]` to `value` and returns it: replaced in place when the key is there
/// (found as [`field_mut`] finds it), added at the end when not.
pub fn set<'a>(fields: &'a mut Map<String, Value>, key: &str, value: Value) -> &'a mut Value {
    if field(fields, key).is_none() {
        fields.insert(key.to_owned(), Value::Null);
    }
    let slot = field_mut(fields, key).expect("the key is there: it was just added if it was not");
    *slot = value;
    slot
}

/// Takes `fields[key]` out, keeping the other keys' order. Removing hashes the key; a
/// small object without the key (the usual case) is answered by comparing keys first.
pub fn remove(fields: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if fields.len() <= SCANNED_UP_TO && field(fields, key).is_none() {
        return None;
    }
    fields.shift_remove(key)
}

/// `value` as compact JSON text: what `serde_json::to_vec(value)` returns.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// `value` as compact JSON text: what `serde_json::to_string(value)` returns.
pub fn to_string(value: &Value) -> String {
    String::from_utf8(to_vec(value)).expect("JSON text is UTF-8")
}

/// Appends `value` as compact JSON text to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => serde_json::to_writer(&mut *out, number).expect("a number serializes"),
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => write_object(out, fields),
    }
}

/// Appends `text` as a JSON string, quotes included.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    if needs_escaping(text) {
        serde_json::to_writer(&mut *out, text).expect("a string serializes");
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

fn write_object(out: &mut Vec<u8>, fields: &Map<String, Value>) {
    let mut object = ObjectText::start(out);
    for (name, value) in fields {
        write_value(object.key(name), value);
    }
    object.finish();
}

/// A JSON object written field by field, for a caller that changes some fields on the
/// way (the upstream's copy of a request sets its own `model`).
pub struct ObjectText<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ObjectText<'a> {
    /// Opens an object at the end of `out`.
    pub fn start(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes the field name `name` and returns the text for the caller to append the
    /// field's value to, with [`write_value`], [`write_str`] or a literal.
    pub fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_str(self.out, name);
        self.out.push(b':');
        self.out
    }

    /// Closes the object.
    pub fn finish(self) {
        self.out.push(b'}');
    }
}

/// True when `text` holds a byte JSON escapes: a control character (below U+0020), a
/// quote or a backslash. serde_json escapes exactly these and writes every other
/// character, `/` and DEL and non-ASCII included, as it is.
pub fn needs_escaping(text: &str) -> bool {
    let (blocks, rest) = text.as_bytes().as_chunks::<16>();
    if blocks.iter().any(block_needs_escaping) {
        return true;
    }
    // The tail checked as one more block, padded with spaces: a byte at a time cost
    // about eight instructions a byte, more than the whole block.
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    block_needs_escaping(&last)
}

/// A block's bytes compared at once (in vector registers): no early exit inside it.
#[inline(always)]
fn block_needs_escaping(block: &[u8; 16]) -> bool {
    let mut any = 0u8;
    for &byte in block {
        any |= u8::from(byte < 0x20) | u8::from(byte == b'"') | u8::from(byte == b'\\');
    }
    any != 0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A small deterministic generator, so that a failure names a seed that repeats it.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn a_field_is_found_the_same_in_small_and_large_objects() {
        for size in [0, 1, SCANNED_UP_TO - 1, SCANNED_UP_TO, SCANNED_UP_TO + 1, 4 * SCANNED_UP_TO] {
            let mut fields = Map::new();
            for index in 0..size {
                fields.insert(format!("k{index}"), json!(index));
            }
            for index in 0..size + 2 {
                let key = format!("k{index}");
                assert_eq!(field(&fields, &key), fields.get(&key), "{key} among {size} keys");
                let mut copy = fields.clone();
                *field_mut(&mut copy, &key).unwrap_or(&mut Value::Null) = json!("changed");
                let changed = json!("changed");
                assert_eq!(copy.get(&key), fields.get(&key).map(|_| &changed));
                let mut copy = fields.clone();
                assert_eq!(remove(&mut copy, &key), fields.get(&key).cloned(), "{key} among {size} keys");
                assert_eq!(copy.len(), fields.len() - usize::from(fields.contains_key(&key)));
                let order =
                    |map: &Map<String, Value>| map.keys().filter(|name| **name != key).cloned().collect::<Vec<_>>();
                assert_eq!(order(&copy), order(&fields), "the other keys keep their order");
                let mut by_set = fields.clone();
                let mut by_insert = fields.clone();
                assert_eq!(*set(&mut by_set, &key, json!("set")), json!("set"));
                by_insert.insert(key.clone(), json!("set"));
                let keys = |map: &Map<String, Value>| map.keys().cloned().collect::<Vec<_>>();
                assert_eq!((keys(&by_set), &by_set), (keys(&by_insert), &by_insert), "{key} set among {size} keys");
                let object = Value::Object(fields.clone());
                assert_eq!(get(&object, &key), object.get(&key));
            }
            assert_eq!(field(&fields, ""), None);
        }
        assert_eq!(get(&json!(["k0"]), "k0"), None, "only an object has fields");
    }

    #[test]
    fn every_ascii_character_is_written_as_serde_json_writes_it() {
        for code in 0u32..0x80 {
            let text = char::from_u32(code).unwrap().to_string();
            for padded in [text.clone(), format!("{}{text}{}", "a".repeat(15), "b".repeat(17))] {
                let value = Value::String(padded.clone());
                assert_eq!(to_string(&value), serde_json::to_string(&value).unwrap(), "U+{code:04X} in {padded:?}");
                let expected = padded.contains(|c: char| (c as u32) < 0x20 || c == '"' || c == '\\');
                assert_eq!(needs_escaping(&padded), expected, "U+{code:04X}");
            }
        }
    }

    #[test]
    fn random_strings_match_serde_json_at_every_length_and_position() {
        // Escapes at every offset of a 16-byte block and in the tail after the blocks.
        let alphabet = ["a", "Z", " ", "/", "\"", "\\", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "→", "😀"];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for case in 0..4_000 {
            let length = (next(&mut state) % 70) as usize;
            let plain = next(&mut state).is_multiple_of(2);
            let text: String = (0..length)
                .map(|_| {
                    let pick = (next(&mut state) % alphabet.len() as u64) as usize;
                    if plain && (4..11).contains(&pick) {
                        "q"
                    } else {
                        alphabet[pick]
                    }
                })
                .collect();
            let value = json!({ text.clone(): [text.clone(), {"k": text.clone()}] });
            assert_eq!(to_string(&value), serde_json::to_string(&value).unwrap(), "case {case}: {text:?}");
        }
    }

    #[test]
    fn numbers_and_nesting_match_serde_json() {
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-0.0),
            json!(1.0),
            json!(0.1),
            json!(1e300),
            json!(-2.5e-300),
            json!(f64::MAX),
            json!(f64::MIN_POSITIVE),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(123456789012345678u64),
            json!([]),
            json!({}),
            json!([[], {}, [null, [1, [2.5, {"a": {}}]]]]),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi \"there\"\n"}], "temperature": 0.7, "n": 1, "stream": false}),
        ];
        for value in values {
            assert_eq!(to_string(&value), serde_json::to_string(&value).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn an_object_written_field_by_field_is_valid_json_in_order() {
        let mut out = Vec::new();
        let mut object = ObjectText::start(&mut out);
        write_str(object.key("b\""), "x");
        object.key("a").extend_from_slice(b"true");
        write_value(object.key("c"), &json!([1, {"d": null}]));
        object.finish();
        assert_eq!(out, br#"{"b\"":"x","a":true,"c":[1,{"d":null}]}"#);
        let mut empty = Vec::new();
        ObjectText::start(&mut empty).finish();
        assert_eq!(empty, b"{}");
    }
}
