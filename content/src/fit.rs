//! A body cut to a byte budget, still valid JSON, for the logging hooks.
//!
//! The logging queue holds finished requests until their logging hooks run. Holding each
//! one's full request and response would let a burst of large requests pin memory after
//! they were answered, so bodies bigger than `plugins.max_logged_field_bytes` are cut:
//! long strings are shortened (at a character boundary), and arrays and objects end after
//! the last entry that fits. The result keeps its shape, so a logging hook reads it with
//! the same `content` calls as any other body.

use serde_json::{Map, Value};

use super::json_string_len;

/// `value` cut so that its JSON text is at most about `budget` bytes.
pub fn fit(value: &Value, budget: usize) -> Value {
    let mut remaining = budget;
    cut(value, &mut remaining).unwrap_or(Value::Null)
}

/// What of `value` fits in `remaining` bytes (taking them), or `None` when nothing does.
fn cut(value: &Value, remaining: &mut usize) -> Option<Value> {
    match value {
        Value::String(text) => {
            let cost = json_string_len(text);
            if cost <= *remaining {
                *remaining -= cost;
                return Some(value.clone());
            }
            if *remaining < 2 {
                return None;
            }
            let mut used = 2;
            let mut end = 0;
            for (at, c) in text.char_indices() {
                let width = json_string_len(c.encode_utf8(&mut [0; 4])) - 2;
                if used + width > *remaining {
                    break;
                }
                used += width;
                end = at + c.len_utf8();
            }
            *remaining = 0;
            Some(Value::String(text[..end].to_owned()))
        }
        Value::Array(items) => {
            *remaining = remaining.checked_sub(2)?;
            let mut kept = Vec::new();
            for item in items {
                if *remaining == 0 {
                    break;
                }
                match cut(item, remaining) {
                    Some(item) => kept.push(item),
                    None => break,
                }
                *remaining = remaining.saturating_sub(1);
            }
            Some(Value::Array(kept))
        }
        Value::Object(fields) => {
            *remaining = remaining.checked_sub(2)?;
            let mut kept = Map::new();
            for (key, item) in fields {
                let key_cost = json_string_len(key) + 2;
                if key_cost >= *remaining {
                    break;
                }
                *remaining -= key_cost;
                match cut(item, remaining) {
                    Some(item) => {
                        kept.insert(key.clone(), item);
                    }
                    None => break,
                }
            }
            Some(Value::Object(kept))
        }
        other => {
            let cost = other.to_string().len();
            *remaining = remaining.checked_sub(cost)?;
            Some(other.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_that_fits_is_unchanged() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 1, "ok": true});
        assert_eq!(fit(&body, 1000), body);
    }

    #[test]
    fn a_long_body_keeps_its_shape_within_the_budget() {
        let body = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "é".repeat(5000)}, {"role": "user", "content": "later"}],
            "input": (0..5000).collect::<Vec<_>>(),
        });
        for budget in [0, 1, 10, 50, 200, 4000] {
            let cut = fit(&body, budget);
            assert!(cut.to_string().len() <= budget.max(4), "budget {budget}: {} bytes", cut.to_string().len());
        }
        let cut = fit(&body, 200);
        assert_eq!(cut["model"], "m");
        let content = cut["messages"][0]["content"].as_str().unwrap();
        assert!(content.starts_with("éé") && content.len() < 200, "shortened at a character boundary");
    }
}
