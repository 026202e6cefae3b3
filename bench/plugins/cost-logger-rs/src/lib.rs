//! One structured log line per successful request, for cost accounting: a Rust port of
//! plugins/cost-logger/plugin.js that writes the same line, byte for byte.
//!
//! On `log_success` it writes, through the proxy's log at info level, a JSON object:
//!
//! ```text
//! {"event":"cost","request_id":"…","model":"gpt-4o-mini","model_used":"gpt-4o-mini",
//!  "key_alias":"team-blue","prompt_tokens":12,"completion_tokens":9,"total_tokens":21,
//!  "cost_usd":0.0000072,"latency_ms":1.359}
//! ```
//!
//! `cost_usd` is the log entry's `response_cost` (null when the model has no price);
//! token counts are null when the upstream reported no usage; `latency_ms` is
//! `end_time - start_time` in milliseconds, rounded to 0.001.
//!
//! Config (optional): `{"event": "cost"}`: the value of the `event` field, to tell these
//! lines apart in a log shipper.
//!
//! Numbers are printed as JavaScript prints them (`12`, not `12.0`; `0.0000072`, not
//! `7.2e-6`). Everything comes typed from the host's log entry: nothing is parsed.

use std::fmt;

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

struct CostLogger {
    event: String,
}

#[hookgate_sdk::plugin(name = "cost-logger")]
impl Plugin for CostLogger {
    type Ctx = ();

    // `new` also runs when the host loads the plugin, so a bad config refuses the plugin.
    fn new(config: Config) -> Result<Self, String> {
        let text = config.as_str();
        // No config (or `null`) is `{}`, as the JS SDK hands it to the constructor.
        let fields = if text.trim().is_empty() {
            Some(Vec::new())
        } else {
            let fields =
                serde_json::from_str::<ObjectEntries>(text).map_err(|e| format!("invalid config: not JSON: {e}"))?;
            fields.0
        };
        let Some(fields) = fields else {
            return Err(r#"invalid config: expected an object like {"event": "cost"}"#.into());
        };
        if let Some(unknown) = first_key(fields.iter().map(|(key, _)| key.as_str()).filter(|&key| key != "event")) {
            return Err(format!("invalid config: unknown field `{unknown}`, expected only `event`"));
        }
        // A repeated key's last value wins, as in `JSON.parse`.
        let event = match fields.into_iter().rev().find(|(key, _)| key == "event") {
            None => "cost".to_owned(),
            Some((_, serde_json::Value::String(event))) if !event.is_empty() => event,
            Some(_) => return Err("invalid config: `event` must be a non-empty string".into()),
        };
        Ok(CostLogger { event })
    }

    fn log_success(&self, _ctx: &mut (), req: &Request, _resp: &Response, entry: &LogEntry) -> Result<(), String> {
        hookgate_sdk::log::info(self.line(req.id(), req.key().alias(), entry));
        Ok(())
    }
}

impl CostLogger {
    /// The log line for request `id` by the key `key_alias`, from its log entry.
    fn line(&self, id: &str, key_alias: Option<&str>, entry: &LogEntry) -> String {
        // `Math.round((end - start) * 1e6) / 1000`, in the same floating-point steps.
        let latency = js_round((entry.end_time - entry.start_time) * 1e6) / 1000.0;
        let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
        let mut line = String::with_capacity(256);
        line.push_str("{\"event\":");
        line.push_str(&json_string(&self.event));
        push_field(&mut line, "request_id", &json_string(id));
        push_field(&mut line, "model", &json_string(&entry.model));
        push_field(&mut line, "model_used", &text(entry.model_used.as_deref()));
        push_field(&mut line, "key_alias", &text(key_alias));
        let usage = entry.usage.as_ref();
        let count = |pick: fn(&hookgate_sdk::Usage) -> u64| js_number_json(usage.map(|usage| pick(usage) as f64));
        push_field(&mut line, "prompt_tokens", &count(|usage| usage.prompt_tokens));
        push_field(&mut line, "completion_tokens", &count(|usage| usage.completion_tokens));
        push_field(&mut line, "total_tokens", &count(|usage| usage.total_tokens));
        push_field(&mut line, "cost_usd", &js_number_json(entry.response_cost));
        push_field(&mut line, "latency_ms", &js_number_json(Some(latency)));
        line.push('}');
        line
    }
}

fn push_field(line: &mut String, name: &str, json: &str) {
    line.push_str(",\"");
    line.push_str(name);
    line.push_str("\":");
    line.push_str(json);
}

/// JavaScript's `Math.round`: halves go up (`-2.5` → `-2`), unlike Rust's `f64::round`.
fn js_round(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// `JSON.stringify` of a number: `null` for none or a non-finite one.
fn js_number_json(value: Option<f64>) -> String {
    value.filter(|n| n.is_finite()).map_or_else(|| "null".to_owned(), js_number)
}

/// JavaScript's `Number.prototype.toString()` of a finite number (ECMA-262 `Number::toString`):
/// the shortest digits that read back as the number, in plain notation from 1e-6 to below
/// 1e21 (`0.0000072`) and in exponent notation outside (`7.2e-7`, `1e+21`).
fn js_number(value: f64) -> String {
    // Integers that f64 holds exactly (token counts) print as themselves; -0 prints as 0.
    if value.fract() == 0.0 && value.abs() < 2f64.powi(53) {
        return (value as i64).to_string();
    }
    let scientific = shortest_digits(value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` writes an exponent");
    let digits = mantissa.replace('.', "");
    let k = digits.len() as i32;
    // The value is 0.DIGITS × 10^n.
    let n = exponent.parse::<i32>().expect("an integer exponent") + 1;
    let sign = if value < 0.0 { "-" } else { "" };
    let zeros = |count: i32| "0".repeat(count as usize);
    if k <= n && n <= 21 {
        format!("{sign}{digits}{}", zeros(n - k))
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        format!("{sign}{whole}.{fraction}")
    } else if -6 < n && n <= 0 {
        format!("{sign}0.{}{digits}", zeros(-n))
    } else {
        let exponent = n - 1;
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        format!("{sign}{first}{point}{rest}e{exponent_sign}{}", exponent.abs())
    }
}

/// `value` (positive) in Rust's exponent notation (`7.2e-6`, `1e21`) with the digits
/// ECMA-262 picks: as few as read back as `value`, and of those the closest to it, the
/// even one on a tie. Rust's `{:e}` gives as few, but breaks a tie upwards
/// (`1246986136231272.3` for the double 1246986136231272.25, where JavaScript writes
/// `…272.2`); the same number of digits correctly rounded, ties to even, is the answer
/// whenever it reads back as `value`.
fn shortest_digits(value: f64) -> String {
    let shortest = format!("{value:e}");
    let significant = shortest.split_once('e').map_or(0, |(mantissa, _)| mantissa.replace('.', "").len());
    let rounded = format!("{value:.*e}", significant.saturating_sub(1));
    if rounded != shortest && rounded.parse::<f64>() == Ok(value) {
        rounded
    } else {
        shortest
    }
}

/// A JSON string literal, escaped as `JSON.stringify` escapes: `"`, `\` and control
/// characters only, which is serde_json's escaping too.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// JavaScript's `Object.keys(..)[0]` of an object with `keys` (in document order):
/// integer-like keys come first, smallest first, then the others in order.
fn first_key<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> Option<&'a str> {
    let index = keys.clone().filter_map(|key| array_index(key).map(|i| (i, key))).min();
    index.map(|(_, key)| key).or_else(|| keys.into_iter().next())
}

/// The array index a property key stands for: a canonical integer below 2³² − 1.
fn array_index(key: &str) -> Option<u32> {
    key.parse::<u32>().ok().filter(|&i| i < u32::MAX && i.to_string() == key)
}

/// An object's entries in document order, repeats included (`None` for any other
/// value), so that keys can be listed as JavaScript lists them.
struct ObjectEntries(Option<Vec<(String, serde_json::Value)>>);

impl<'de> serde::Deserialize<'de> for ObjectEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = ObjectEntries;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectEntries, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(ObjectEntries(Some(entries)))
    }

    // `null` is no config: `{}`.
    fn visit_unit<E>(self) -> Result<ObjectEntries, E> {
        Ok(ObjectEntries(Some(Vec::new())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObjectEntries, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ObjectEntries(None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<ObjectEntries, E> {
        Ok(ObjectEntries(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<ObjectEntries, E> {
        Ok(ObjectEntries(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<ObjectEntries, E> {
        Ok(ObjectEntries(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<ObjectEntries, E> {
        Ok(ObjectEntries(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<ObjectEntries, E> {
        Ok(ObjectEntries(None))
    }
}

/// Reads the fields `.0` of an object as raw JSON text, skipping every other field without
/// building it; a repeated field's last value wins, as in `JSON.parse`.
#[cfg(test)]
mod tests {
    use super::*;

    fn logger(config: &str) -> Result<CostLogger, String> {
        CostLogger::new(Config::from(config))
    }

    fn entry() -> LogEntry {
        LogEntry {
            model: "gpt-4o-mini".into(),
            model_used: Some("gpt-4o-mini".into()),
            api_base: None,
            end_user: None,
            status_code: 200,
            usage: Some(hookgate_sdk::Usage { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 }),
            response_cost: Some(7.2e-6),
            start_time: 1795460785.26622,
            end_time: 1795460785.267579,
            completion_start_time: None,
            failure: None,
            decisions: vec![],
            truncated: vec![],
        }
    }

    #[test]
    fn writes_the_cost_line() {
        assert_eq!(
            logger("null").unwrap().line("req-1", Some("team-blue"), &entry()),
            r#"{"event":"cost","request_id":"req-1","model":"gpt-4o-mini","model_used":"gpt-4o-mini","key_alias":"team-blue","prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"cost_usd":0.0000072,"latency_ms":1.359}"#
        );
    }

    #[test]
    fn writes_null_for_what_is_missing() {
        let entry =
            LogEntry { model_used: None, usage: None, response_cost: None, end_time: 1.0, start_time: 1.0, ..entry() };
        assert_eq!(
            logger(r#"{"event": "spend"}"#).unwrap().line("r", None, &entry),
            r#"{"event":"spend","request_id":"r","model":"gpt-4o-mini","model_used":null,"key_alias":null,"prompt_tokens":null,"completion_tokens":null,"total_tokens":null,"cost_usd":null,"latency_ms":0}"#
        );
    }

    #[test]
    fn prints_numbers_as_javascript() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (12.0, "12"),
            (1.359, "1.359"),
            (7.2e-6, "0.0000072"),
            (7.2e-7, "7.2e-7"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            // Two shortest candidates as close: JavaScript takes the even one.
            (1_246_986_136_231_272.0 + 0.25, "1246986136231272.2"),
        ];
        for (value, text) in cases {
            assert_eq!(js_number(value), text, "{value:?}");
        }
        assert_eq!(js_round(-2.5), -2.0);
        assert_eq!(js_round(2.5), 3.0);
        assert_eq!(js_round(0.49999999999999994), 0.0);
        assert_eq!(js_number_json(Some(f64::INFINITY)), "null");
    }

    #[test]
    fn reads_config_as_the_js_original() {
        assert_eq!(logger("").unwrap().event, "cost");
        assert_eq!(logger("{}").unwrap().event, "cost");
        assert_eq!(logger(r#"{"event": "a", "event": "b"}"#).unwrap().event, "b");
        let refused = |config| logger(config).err().unwrap();
        assert_eq!(refused("[]"), r#"invalid config: expected an object like {"event": "cost"}"#);
        assert_eq!(refused(r#"{"event": ""}"#), "invalid config: `event` must be a non-empty string");
        assert_eq!(refused(r#"{"event": null}"#), "invalid config: `event` must be a non-empty string");
        assert_eq!(refused(r#"{"zz": 1, "aa": 2}"#), "invalid config: unknown field `zz`, expected only `event`");
        assert_eq!(refused(r#"{"zz": 1, "7": 2, "3": 3}"#), "invalid config: unknown field `3`, expected only `event`");
    }
}
