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

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The roles a chat message may have.
const ROLES: [&str; 6] = ["system", "developer", "user", "assistant", "tool", "function"];

/// Checks the chat `messages` (at most `max_messages`) and the other text-carrying chat
/// fields (`tools`, `functions`, `response_format`, `prediction`).
pub(crate) fn check_chat(fields: &Map<String, Value>, max_messages: usize) -> Result<(), ApiError> {
    let messages = match fields.get("messages") {
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
        check_message(&format!("messages[{index}]"), message)?;
    }
    if let Some(tools) = present(fields, "tools") {
        let tools = array(tools, "tools", "must be an array of tool objects")?;
        for (index, tool) in tools.iter().enumerate() {
            check_tool(&format!("tools[{index}]"), tool)?;
        }
    }
    if let Some(functions) = present(fields, "functions") {
        let functions = array(functions, "functions", "must be an array of function objects")?;
        for (index, function) in functions.iter().enumerate() {
            check_function_definition(&format!("functions[{index}]"), function)?;
        }
    }
    if let Some(format) = present(fields, "response_format") {
        check_response_format(format)?;
    }
    if let Some(prediction) = present(fields, "prediction") {
        let prediction = object(prediction, "prediction")?;
        match prediction.get("content") {
            Some(content) => check_content("prediction.content", content, &["text"])?,
            None => return Err(missing("prediction.content")),
        }
    }
    Ok(())
}

/// Checks a completion's `prompt` (text, or token ids) and `suffix`.
pub(crate) fn check_completion(fields: &Map<String, Value>) -> Result<(), ApiError> {
    match fields.get("prompt") {
        Some(prompt) => check_text_or_tokens("prompt", prompt)?,
        None => return Err(missing("prompt")),
    }
    if let Some(suffix) = present(fields, "suffix") {
        string(suffix, "suffix")?;
    }
    Ok(())
}

/// Checks an embedding's `input` (text, or token ids).
pub(crate) fn check_embedding(fields: &Map<String, Value>) -> Result<(), ApiError> {
    match fields.get("input") {
        Some(input) => check_text_or_tokens("input", input),
        None => Err(missing("input")),
    }
}

fn check_message(at: &str, message: &Value) -> Result<(), ApiError> {
    let message = object(message, at)?;
    let role = match message.get("role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
        Some(Value::String(role)) => {
            return Err(invalid(&format!("{at}.role"), &format!("`{role}` is not one of {}", ROLES.join(", "))))
        }
        Some(_) => return Err(invalid(&format!("{at}.role"), "must be a string")),
        None => return Err(missing(&format!("{at}.role"))),
    };
    if let Some(name) = present(message, "name") {
        string(name, &format!("{at}.name"))?;
    }
    let content_at = format!("{at}.content");
    let content = present(message, "content");
    match role {
        "system" | "developer" => check_content(&content_at, required(content, &content_at)?, &["text"])?,
        "user" => {
            check_content(&content_at, required(content, &content_at)?, &["text", "image_url", "input_audio", "file"])?
        }
        "tool" => {
            check_content(&content_at, required(content, &content_at)?, &["text"])?;
            string(
                required(present(message, "tool_call_id"), &format!("{at}.tool_call_id"))?,
                &format!("{at}.tool_call_id"),
            )?;
        }
        "function" => {
            if let Some(content) = content {
                string(content, &content_at)?;
            }
            string(required(present(message, "name"), &format!("{at}.name"))?, &format!("{at}.name"))?;
        }
        _ => {
            // assistant: content may be absent when the message calls tools.
            let calls = present(message, "tool_calls").is_some() || present(message, "function_call").is_some();
            match content {
                Some(content) => check_content(&content_at, content, &["text", "refusal"])?,
                None if calls || present(message, "audio").is_some() => {}
                None => return Err(missing(&content_at)),
            }
            if let Some(refusal) = present(message, "refusal") {
                string(refusal, &format!("{at}.refusal"))?;
            }
            if let Some(calls) = present(message, "tool_calls") {
                let calls = array(calls, &format!("{at}.tool_calls"), "must be an array of tool calls")?;
                for (index, call) in calls.iter().enumerate() {
                    check_tool_call(&format!("{at}.tool_calls[{index}]"), call)?;
                }
            }
            if let Some(call) = present(message, "function_call") {
                check_function_call(&format!("{at}.function_call"), call)?;
            }
        }
    }
    if role != "assistant" {
        for field in ["tool_calls", "function_call", "refusal"] {
            if present(message, field).is_some() {
                return Err(invalid(&format!("{at}.{field}"), "is only allowed on assistant messages"));
            }
        }
    }
    Ok(())
}

/// A message content: a string, or a non-empty array of parts whose types are in `parts`.
fn check_content(at: &str, content: &Value, parts: &[&str]) -> Result<(), ApiError> {
    let items = match content {
        Value::String(_) => return Ok(()),
        Value::Array(items) if items.is_empty() => return Err(invalid(at, "must not be an empty array")),
        Value::Array(items) => items,
        _ => return Err(invalid(at, "must be a string or an array of content parts")),
    };
    for (index, part) in items.iter().enumerate() {
        let part_at = format!("{at}[{index}]");
        let part = object(part, &part_at)?;
        let kind = match part.get("type") {
            Some(Value::String(kind)) if parts.contains(&kind.as_str()) => kind.as_str(),
            Some(Value::String(kind)) => {
                return Err(invalid(
                    &format!("{part_at}.type"),
                    &format!("`{kind}` is not a content part allowed here ({})", parts.join(", ")),
                ))
            }
            _ => return Err(missing(&format!("{part_at}.type"))),
        };
        match kind {
            "text" => string(required(part.get("text"), &format!("{part_at}.text"))?, &format!("{part_at}.text"))?,
            "refusal" => {
                string(required(part.get("refusal"), &format!("{part_at}.refusal"))?, &format!("{part_at}.refusal"))?
            }
            "image_url" => {
                let image = object(
                    required(part.get("image_url"), &format!("{part_at}.image_url"))?,
                    &format!("{part_at}.image_url"),
                )?;
                string(
                    required(image.get("url"), &format!("{part_at}.image_url.url"))?,
                    &format!("{part_at}.image_url.url"),
                )?;
            }
            "input_audio" => {
                object(
                    required(part.get("input_audio"), &format!("{part_at}.input_audio"))?,
                    &format!("{part_at}.input_audio"),
                )?;
            }
            _ => {
                object(required(part.get("file"), &format!("{part_at}.file"))?, &format!("{part_at}.file"))?;
            }
        }
    }
    Ok(())
}

fn check_tool_call(at: &str, call: &Value) -> Result<(), ApiError> {
    let call = object(call, at)?;
    match call.get("type").and_then(Value::as_str) {
        None | Some("function") => {
            check_function_call(&format!("{at}.function"), required(call.get("function"), &format!("{at}.function"))?)
        }
        Some("custom") => {
            let custom = object(required(call.get("custom"), &format!("{at}.custom"))?, &format!("{at}.custom"))?;
            string(required(custom.get("name"), &format!("{at}.custom.name"))?, &format!("{at}.custom.name"))?;
            string(required(custom.get("input"), &format!("{at}.custom.input"))?, &format!("{at}.custom.input"))
        }
        Some(other) => {
            Err(invalid(&format!("{at}.type"), &format!("`{other}` is not a tool call type (function, custom)")))
        }
    }
}

/// `{name, arguments}`, both strings (arguments is JSON text the model wrote).
fn check_function_call(at: &str, call: &Value) -> Result<(), ApiError> {
    let call = object(call, at)?;
    string(required(call.get("name"), &format!("{at}.name"))?, &format!("{at}.name"))?;
    string(required(call.get("arguments"), &format!("{at}.arguments"))?, &format!("{at}.arguments"))
}

fn check_tool(at: &str, tool: &Value) -> Result<(), ApiError> {
    let tool = object(tool, at)?;
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => check_function_definition(
            &format!("{at}.function"),
            required(tool.get("function"), &format!("{at}.function"))?,
        ),
        Some("custom") => {
            let custom = object(required(tool.get("custom"), &format!("{at}.custom"))?, &format!("{at}.custom"))?;
            string(required(custom.get("name"), &format!("{at}.custom.name"))?, &format!("{at}.custom.name"))?;
            if let Some(description) = present(custom, "description") {
                string(description, &format!("{at}.custom.description"))?;
            }
            Ok(())
        }
        Some(other) => Err(invalid(&format!("{at}.type"), &format!("`{other}` is not a tool type (function, custom)"))),
        None => Err(missing(&format!("{at}.type"))),
    }
}

/// `{name, description?, parameters?}` of a tool or a (deprecated) function.
fn check_function_definition(at: &str, function: &Value) -> Result<(), ApiError> {
    let function = object(function, at)?;
    string(required(function.get("name"), &format!("{at}.name"))?, &format!("{at}.name"))?;
    if let Some(description) = present(function, "description") {
        string(description, &format!("{at}.description"))?;
    }
    if let Some(parameters) = present(function, "parameters") {
        object(parameters, &format!("{at}.parameters"))?;
    }
    Ok(())
}

fn check_response_format(format: &Value) -> Result<(), ApiError> {
    let format = object(format, "response_format")?;
    match format.get("type").and_then(Value::as_str) {
        Some("text" | "json_object") => Ok(()),
        Some("json_schema") => {
            let at = "response_format.json_schema";
            let schema = object(required(format.get("json_schema"), at)?, at)?;
            string(required(schema.get("name"), &format!("{at}.name"))?, &format!("{at}.name"))?;
            if let Some(description) = present(schema, "description") {
                string(description, &format!("{at}.description"))?;
            }
            if let Some(inner) = present(schema, "schema") {
                object(inner, &format!("{at}.schema"))?;
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
fn check_text_or_tokens(at: &str, value: &Value) -> Result<(), ApiError> {
    let items = match value {
        Value::String(_) => return Ok(()),
        Value::Array(items) if items.is_empty() => return Err(invalid(at, "must not be an empty array")),
        Value::Array(items) => items,
        _ => return Err(invalid(at, "must be a string, an array of strings, or token ids")),
    };
    let token = |v: &Value| v.as_u64().is_some();
    let tokens = |v: &Value| v.as_array().is_some_and(|ids| !ids.is_empty() && ids.iter().all(token));
    if items.iter().all(Value::is_string) || items.iter().all(token) || items.iter().all(tokens) {
        return Ok(());
    }
    Err(invalid(at, "must be a string, an array of strings, or token ids (not a mix)"))
}

/// The field's value unless it is absent or `null`.
fn present<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    fields.get(key).filter(|value| !value.is_null())
}

fn required<'a>(value: Option<&'a Value>, at: &str) -> Result<&'a Value, ApiError> {
    value.filter(|value| !value.is_null()).ok_or_else(|| missing(at))
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| invalid(at, "must be an object"))
}

fn array<'a>(value: &'a Value, at: &str, what: &str) -> Result<&'a Vec<Value>, ApiError> {
    value.as_array().ok_or_else(|| invalid(at, what))
}

fn string(value: &Value, at: &str) -> Result<(), ApiError> {
    if value.is_string() {
        Ok(())
    } else {
        Err(invalid(at, "must be a string"))
    }
}

pub(crate) fn missing(field: &str) -> ApiError {
    ApiError::bad_request(format!("Missing required parameter: '{field}'.")).with_param(field)
}

pub(crate) fn invalid(field: &str, what: &str) -> ApiError {
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
    fn too_many_messages_are_refused() {
        let messages: Vec<Value> = (0..11).map(|_| json!({"role": "user", "content": "x"})).collect();
        let error = chat(Value::Array(messages)).unwrap_err();
        assert!(error.message.contains("more than this proxy accepts (10)"), "{}", error.message);
    }
}
