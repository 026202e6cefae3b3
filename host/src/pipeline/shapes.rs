//! OpenAI's request shapes, for every field the model reads as text.
//!
//! A guardrail reads a request through its SDK's text view; the upstream reads the same
//! JSON its own way. Where the two could read it differently (a `content` that is a
//! number or an object, a role the upstream does not know, a content part of a type no
//! text view reads), a client could hide text from the guardrails that the model still
//! sees. So such a request is refused with a 400 that names the field, before any hook
//! sees it (and again after pre-call edits). Fields the model does not read, and fields
//! this proxy does not know (vendor extensions), pass unchanged.
//!
//! The shapes follow OpenAI's API reference (chat completions, completions, embeddings).

use std::fmt;

use serde_json::{Map, Value};

use crate::content::json;
use crate::error::ApiError;

/// Where a checked value sits in the body (`messages[2].content`), written out only when a
/// check fails: a valid body's shapes are checked without formatting or allocating.
#[derive(Clone, Copy)]
enum At<'a> {
    /// A top-level field, or a fixed path from the top.
    Top(&'a str),
    /// A field of an object.
    Field(&'a At<'a>, &'a str),
    /// An item of an array.
    Item(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    fn field(&'a self, name: &'a str) -> At<'a> {
        At::Field(self, name)
    }

    fn item(&'a self, index: usize) -> At<'a> {
        At::Item(self, index)
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Top(path) => f.write_str(path),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
            At::Item(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// The roles a chat message may have.
const ROLES: [&str; 6] = ["system", "developer", "user", "assistant", "tool", "function"];

/// Checks the chat `messages` (at most `max_messages`) and the other text-carrying chat
/// fields (`tools`, `functions`, `response_format`, `prediction`).
pub(crate) fn check_chat(fields: &Map<String, Value>, max_messages: usize) -> Result<(), ApiError> {
    let messages = match json::field(fields, "messages") {
        Some(Value::Array(messages)) if messages.is_empty() => return Err(invalid("messages", "must not be empty")),
        Some(Value::Array(messages)) if messages.len() > max_messages => {
            return Err(invalid(
                "messages",
                &format!("has {} messages, more than this proxy accepts ({max_messages})", messages.len()),
            ))
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(invalid("messages", "must be an array of message objects")),
        None => return Err(missing("messages")),
    };
    for (index, message) in messages.iter().enumerate() {
        check_message(&At::Top("messages").item(index), message)?;
    }
    if let Some(tools) = present(fields, "tools") {
        let tools = array(tools, &At::Top("tools"), "must be an array of tool objects")?;
        for (index, tool) in tools.iter().enumerate() {
            check_tool(&At::Top("tools").item(index), tool)?;
        }
    }
    if let Some(functions) = present(fields, "functions") {
        let functions = array(functions, &At::Top("functions"), "must be an array of function objects")?;
        for (index, function) in functions.iter().enumerate() {
            check_function_definition(&At::Top("functions").item(index), function)?;
        }
    }
    if let Some(format) = present(fields, "response_format") {
        check_response_format(format)?;
    }
    if let Some(prediction) = present(fields, "prediction") {
        let prediction = object(prediction, &At::Top("prediction"))?;
        match json::field(prediction, "content") {
            Some(content) => check_content(&At::Top("prediction").field("content"), content, &["text"])?,
            None => return Err(missing("prediction.content")),
        }
    }
    Ok(())
}

/// Checks a completion's `prompt` (text, or token ids) and `suffix`.
pub(crate) fn check_completion(fields: &Map<String, Value>) -> Result<(), ApiError> {
    match json::field(fields, "prompt") {
        Some(prompt) => check_text_or_tokens(&At::Top("prompt"), prompt)?,
        None => return Err(missing("prompt")),
    }
    if let Some(suffix) = present(fields, "suffix") {
        string(suffix, &At::Top("suffix"))?;
    }
    Ok(())
}

/// Checks an embedding's `input` (text, or token ids).
pub(crate) fn check_embedding(fields: &Map<String, Value>) -> Result<(), ApiError> {
    match json::field(fields, "input") {
        Some(input) => check_text_or_tokens(&At::Top("input"), input),
        None => Err(missing("input")),
    }
}

fn check_message(at: &At<'_>, message: &Value) -> Result<(), ApiError> {
    let message = object(message, at)?;
    let role = match json::field(message, "role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
        Some(Value::String(role)) => {
            return Err(invalid(at.field("role"), &format!("`{role}` is not one of {}", ROLES.join(", "))))
        }
        Some(_) => return Err(invalid(at.field("role"), "must be a string")),
        None => return Err(missing(at.field("role"))),
    };
    if let Some(name) = present(message, "name") {
        string(name, &at.field("name"))?;
    }
    let content_at = at.field("content");
    let content = present(message, "content");
    match role {
        "system" | "developer" => check_content(&content_at, required(content, &content_at)?, &["text"])?,
        "user" => {
            check_content(&content_at, required(content, &content_at)?, &["text", "image_url", "input_audio", "file"])?
        }
        "tool" => {
            check_content(&content_at, required(content, &content_at)?, &["text"])?;
            required_string(message, at, "tool_call_id")?;
        }
        "function" => {
            if let Some(content) = content {
                string(content, &content_at)?;
            }
            required_string(message, at, "name")?;
        }
        _ => {
            // assistant: content may be absent when the message calls tools.
            let calls = present(message, "tool_calls").is_some() || present(message, "function_call").is_some();
            match content {
                Some(content) => check_content(&content_at, content, &["text", "refusal"])?,
                None if calls || present(message, "audio").is_some() => {}
                None => return Err(missing(content_at)),
            }
            if let Some(refusal) = present(message, "refusal") {
                string(refusal, &at.field("refusal"))?;
            }
            if let Some(calls) = present(message, "tool_calls") {
                let calls = array(calls, &at.field("tool_calls"), "must be an array of tool calls")?;
                for (index, call) in calls.iter().enumerate() {
                    check_tool_call(&at.field("tool_calls").item(index), call)?;
                }
            }
            if let Some(call) = present(message, "function_call") {
                check_function_call(&at.field("function_call"), call)?;
            }
        }
    }
    if role != "assistant" {
        for field in ["tool_calls", "function_call", "refusal"] {
            if present(message, field).is_some() {
                return Err(invalid(at.field(field), "is only allowed on assistant messages"));
            }
        }
    }
    Ok(())
}

/// A message content: a string, or a non-empty array of parts whose types are in `parts`.
fn check_content(at: &At<'_>, content: &Value, parts: &[&str]) -> Result<(), ApiError> {
    let items = match content {
        Value::String(_) => return Ok(()),
        Value::Array(items) if items.is_empty() => return Err(invalid(at, "must not be an empty array")),
        Value::Array(items) => items,
        _ => return Err(invalid(at, "must be a string or an array of content parts")),
    };
    for (index, part) in items.iter().enumerate() {
        let part_at = at.item(index);
        let part = object(part, &part_at)?;
        let kind = match json::field(part, "type") {
            Some(Value::String(kind)) if parts.contains(&kind.as_str()) => kind.as_str(),
            Some(Value::String(kind)) => {
                return Err(invalid(
                    part_at.field("type"),
                    &format!("`{kind}` is not a content part allowed here ({})", parts.join(", ")),
                ))
            }
            _ => return Err(missing(part_at.field("type"))),
        };
        match kind {
            "text" => required_string(part, &part_at, "text")?,
            "refusal" => required_string(part, &part_at, "refusal")?,
            "image_url" => {
                let image = required_object(part, &part_at, "image_url")?;
                required_string(image, &part_at.field("image_url"), "url")?;
            }
            "input_audio" => {
                required_object(part, &part_at, "input_audio")?;
            }
            _ => {
                required_object(part, &part_at, "file")?;
            }
        }
    }
    Ok(())
}

fn check_tool_call(at: &At<'_>, call: &Value) -> Result<(), ApiError> {
    let call = object(call, at)?;
    match json::field(call, "type").and_then(Value::as_str) {
        None | Some("function") => {
            check_function_call(&at.field("function"), required(json::field(call, "function"), &at.field("function"))?)
        }
        Some("custom") => {
            let custom = required_object(call, at, "custom")?;
            required_string(custom, &at.field("custom"), "name")?;
            required_string(custom, &at.field("custom"), "input")
        }
        Some(other) => Err(invalid(at.field("type"), &format!("`{other}` is not a tool call type (function, custom)"))),
    }
}

/// `{name, arguments}`, both strings (arguments is JSON text the model wrote).
fn check_function_call(at: &At<'_>, call: &Value) -> Result<(), ApiError> {
    let call = object(call, at)?;
    required_string(call, at, "name")?;
    required_string(call, at, "arguments")
}

fn check_tool(at: &At<'_>, tool: &Value) -> Result<(), ApiError> {
    let tool = object(tool, at)?;
    match json::field(tool, "type").and_then(Value::as_str) {
        Some("function") => check_function_definition(
            &at.field("function"),
            required(json::field(tool, "function"), &at.field("function"))?,
        ),
        Some("custom") => {
            let custom = required_object(tool, at, "custom")?;
            required_string(custom, &at.field("custom"), "name")?;
            if let Some(description) = present(custom, "description") {
                string(description, &at.field("custom").field("description"))?;
            }
            Ok(())
        }
        Some(other) => Err(invalid(at.field("type"), &format!("`{other}` is not a tool type (function, custom)"))),
        None => Err(missing(at.field("type"))),
    }
}

/// `{name, description?, parameters?}` of a tool or a (deprecated) function.
fn check_function_definition(at: &At<'_>, function: &Value) -> Result<(), ApiError> {
    let function = object(function, at)?;
    required_string(function, at, "name")?;
    if let Some(description) = present(function, "description") {
        string(description, &at.field("description"))?;
    }
    if let Some(parameters) = present(function, "parameters") {
        object(parameters, &at.field("parameters"))?;
    }
    Ok(())
}

fn check_response_format(format: &Value) -> Result<(), ApiError> {
    let format = object(format, &At::Top("response_format"))?;
    match json::field(format, "type").and_then(Value::as_str) {
        Some("text" | "json_object") => Ok(()),
        Some("json_schema") => {
            let at = &At::Top("response_format").field("json_schema");
            let schema = required_object(format, &At::Top("response_format"), "json_schema")?;
            required_string(schema, at, "name")?;
            if let Some(description) = present(schema, "description") {
                string(description, &at.field("description"))?;
            }
            if let Some(inner) = present(schema, "schema") {
                object(inner, &at.field("schema"))?;
            }
            Ok(())
        }
        Some(other) => Err(invalid(
            "response_format.type",
            &format!("`{other}` is not a response format (text, json_object, json_schema)"),
        )),
        None => Err(missing("response_format.type")),
    }
}

/// A string, a non-empty array of strings, or token ids (an array of integers, or of
/// arrays of integers).
fn check_text_or_tokens(at: &At<'_>, value: &Value) -> Result<(), ApiError> {
    let items = match value {
        Value::String(_) => return Ok(()),
        Value::Array(items) if items.is_empty() => return Err(invalid(at, "must not be an empty array")),
        Value::Array(items) => items,
        _ => return Err(invalid(at, "must be a string, an array of strings, or token ids")),
    };
    let tokens = |v: &Value| v.as_array().is_some_and(|ids| !ids.is_empty() && ids.iter().all(is_token_id));
    if items.iter().all(Value::is_string) || items.iter().all(is_token_id) || items.iter().all(tokens) {
        return Ok(());
    }
    Err(invalid(at, "must be a string, an array of strings, or token ids (not a mix)"))
}

/// The field of a body that gives its text as token ids (`prompt`, `input`), if any. No
/// hook can read token ids, so a request whose plugins check requests is refused rather
/// than sent on unread (`Pipeline::run`).
pub(super) fn token_ids(fields: &Map<String, Value>) -> Option<&'static str> {
    let ids = |v: &Value| match v {
        Value::Array(items) => {
            items.iter().any(|item| is_token_id(item) || item.as_array().is_some_and(|ids| ids.iter().any(is_token_id)))
        }
        _ => false,
    };
    ["prompt", "input"].into_iter().find(|key| present(fields, key).is_some_and(ids))
}

fn is_token_id(value: &Value) -> bool {
    value.as_u64().is_some()
}

/// The field that asks for several choices, unless the body asks for exactly one: `n`
/// other than absent, `null` or 1 (an upstream may read `"2"` or `2.0` as 2), or a
/// completion's `prompt` given as a list of several prompts (one choice each, streamed
/// interleaved).
pub(super) fn several_choices(fields: &Map<String, Value>) -> Option<&'static str> {
    if present(fields, "n").is_some_and(|n| n.as_u64() != Some(1)) {
        return Some("n");
    }
    present(fields, "prompt").and_then(Value::as_array).is_some_and(|prompts| prompts.len() > 1).then_some("prompt")
}

/// The field's value unless it is absent or `null`.
fn present<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    json::field(fields, key).filter(|value| !value.is_null())
}

fn required<'a>(value: Option<&'a Value>, at: &At<'_>) -> Result<&'a Value, ApiError> {
    value.filter(|value| !value.is_null()).ok_or_else(|| missing(at))
}

/// `object[key]` as an object, required: the error names `at.key`.
fn required_object<'a>(
    object: &'a Map<String, Value>,
    at: &At<'_>,
    key: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let at = at.field(key);
    self::object(required(json::field(object, key), &at)?, &at)
}

/// `object[key]` as a string, required: the error names `at.key`.
fn required_string(object: &Map<String, Value>, at: &At<'_>, key: &str) -> Result<(), ApiError> {
    let at = at.field(key);
    string(required(json::field(object, key), &at)?, &at)
}

fn object<'a>(value: &'a Value, at: &At<'_>) -> Result<&'a Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| invalid(at, "must be an object"))
}

fn array<'a>(value: &'a Value, at: &At<'_>, what: &str) -> Result<&'a Vec<Value>, ApiError> {
    value.as_array().ok_or_else(|| invalid(at, what))
}

fn string(value: &Value, at: &At<'_>) -> Result<(), ApiError> {
    if value.is_string() {
        Ok(())
    } else {
        Err(invalid(at, "must be a string"))
    }
}

pub(crate) fn missing(field: impl fmt::Display) -> ApiError {
    let field = field.to_string();
    ApiError::bad_request(format!("Missing required parameter: '{field}'.")).with_param(field)
}

pub(crate) fn invalid(field: impl fmt::Display, what: &str) -> ApiError {
    let field = field.to_string();
    ApiError::bad_request(format!("Invalid parameter '{field}': {what}.")).with_param(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(messages: Value) -> Result<(), ApiError> {
        check_chat(json!({"model": "m", "messages": messages}).as_object().unwrap(), 10)
    }

    #[test]
    fn openai_shapes_pass() {
        let messages = json!([
            {"role": "system", "content": "be terse"},
            {"role": "developer", "content": [{"type": "text", "text": "rules"}]},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "found it"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}], "refusal": "no"}
        ]);
        chat(messages).unwrap();
        let fields = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
            "prediction": {"type": "content", "content": "x"}
        });
        check_chat(fields.as_object().unwrap(), 10).unwrap();
        for prompt in [json!("a"), json!(["a", "b"]), json!([1, 2]), json!([[1], [2, 3]])] {
            check_completion(json!({"prompt": prompt}).as_object().unwrap()).unwrap();
        }
    }

    #[test]
    fn shapes_a_guardrail_cannot_read_are_refused_naming_the_field() {
        let cases = [
            (json!([{"role": "user", "content": 5}]), "messages[0].content"),
            (json!([{"role": "user", "content": {"x": 1}}]), "messages[0].content"),
            (json!([{"role": "wizard", "content": "hi"}]), "messages[0].role"),
            (json!([{"role": "user"}]), "messages[0].content"),
            (json!([{"role": "user", "content": [{"type": "text"}]}]), "messages[0].content[0].text"),
            (json!([{"role": "user", "content": [{"type": "text", "text": 7}]}]), "messages[0].content[0].text"),
            (
                json!([{"role": "user", "content": [{"type": "secret_channel", "data": "x"}]}]),
                "messages[0].content[0].type",
            ),
            (
                json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
                "messages[0].content[0].type",
            ),
            (json!([{"role": "user", "content": "hi", "name": {"n": 1}}]), "messages[0].name"),
            (
                json!([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (json!([{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
            (json!([{"role": "user", "content": "hi", "tool_calls": []}]), "messages[0].tool_calls"),
            (json!([{"role": "assistant"}]), "messages[0].content"),
            (json!(["hi"]), "messages[0]"),
        ];
        for (messages, param) in cases {
            let error = chat(messages.clone()).unwrap_err();
            assert_eq!(error.status, 400);
            assert_eq!(error.param.as_deref(), Some(param), "{messages}: {}", error.message);
        }
        let tools = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f", "description": 5}}]});
        assert_eq!(
            check_chat(tools.as_object().unwrap(), 10).unwrap_err().param.as_deref(),
            Some("tools[0].function.description")
        );
        let mixed = json!({"prompt": ["a", 1]});
        assert_eq!(check_completion(mixed.as_object().unwrap()).unwrap_err().param.as_deref(), Some("prompt"));
    }

    #[test]
    fn objects_past_the_scanned_size_are_checked_the_same() {
        // A client can pad any object with unknown keys; the checks must find every field
        // whether the object is searched by comparing keys or by hashing.
        for padding in [0, json::SCANNED_UP_TO - 2, json::SCANNED_UP_TO, 3 * json::SCANNED_UP_TO] {
            let mut message = Map::new();
            for index in 0..padding {
                message.insert(format!("x_pad_{index}"), json!(index));
            }
            message.insert("role".into(), json!("user"));
            message.insert("content".into(), json!("hi"));
            message.insert("name".into(), json!({"n": 1}));
            let error = chat(json!([message.clone()])).unwrap_err();
            assert_eq!(error.param.as_deref(), Some("messages[0].name"), "{padding} padding keys");
            message.insert("name".into(), json!("ann"));
            chat(json!([message])).unwrap();
        }
    }

    #[test]
    fn nested_fields_are_named_by_their_whole_path() {
        let user = json!({"role": "user", "content": "x"});
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
                "messages[0].content[0].input_audio",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "file", "file": "f"}]}]}),
                "messages[0].content[0].file",
            ),
            (
                json!({"messages": [{"role": "assistant", "content": [{"type": "refusal", "refusal": 1}]}]}),
                "messages[0].content[0].refusal",
            ),
            (json!({"messages": [{"role": "function", "content": "x"}]}), "messages[0].name"),
            (
                json!({"messages": [{"role": "assistant", "tool_calls": [{"type": "custom", "custom": {"name": "c"}}]}]}),
                "messages[0].tool_calls[0].custom.input",
            ),
            (
                json!({"messages": [user], "tools": [{"type": "custom", "custom": {"name": "c", "description": 2}}]}),
                "tools[0].custom.description",
            ),
            (json!({"messages": [user], "tools": [{"type": "custom"}]}), "tools[0].custom"),
            (json!({"messages": [user], "functions": [{"description": "d"}]}), "functions[0].name"),
            (json!({"messages": [user], "response_format": {"type": "json_schema"}}), "response_format.json_schema"),
            (
                json!({"messages": [user], "response_format": {"type": "json_schema", "json_schema": {}}}),
                "response_format.json_schema.name",
            ),
            (json!({"messages": [user], "prediction": {"content": [{"type": "text"}]}}), "prediction.content[0].text"),
        ];
        for (fields, param) in cases {
            let error = check_chat(fields.as_object().unwrap(), 10).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{fields}: {}", error.message);
        }
    }

    #[test]
    fn too_many_messages_are_refused() {
        let messages: Vec<Value> = (0..11).map(|_| json!({"role": "user", "content": "x"})).collect();
        let error = chat(Value::Array(messages)).unwrap_err();
        assert!(error.message.contains("more than this proxy accepts (10)"), "{}", error.message);
    }
}
