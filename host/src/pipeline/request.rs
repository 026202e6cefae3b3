//! The checks a client body passes before any hook sees it: valid JSON without duplicate
//! keys, an object, the fields its endpoint requires with OpenAI's shapes wherever the
//! model reads text (see `shapes`). Each failure is a 400 that names the field, so a
//! client learns what to fix.

use serde_json::{Map, Value};

use super::shapes::{self, invalid as field_error, missing};
use crate::content::json;
use crate::error::ApiError;
use crate::strict_json;
use crate::types::CallType;

/// Most JSON values a body may hold (strings, numbers, objects... in all): far above any
/// real request (300,000 embedding tokens, 2,048 messages with tool calls), and a bound
/// on the memory one parsed body takes.
pub const MAX_JSON_VALUES: usize = 1_000_000;

/// The rules a body is checked against.
#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    /// Requests must carry `user` (`general_settings.enforce_user_param`).
    pub enforce_user_param: bool,
    /// Most `messages` a chat request may have (`general_settings.max_request_messages`).
    pub max_messages: usize,
}

impl Default for BodyRules {
    fn default() -> Self {
        Self { enforce_user_param: false, max_messages: 2048 }
    }
}

/// A request body that passed the checks for its endpoint.
#[derive(Debug, Clone)]
pub struct ClientBody {
    /// The body as a JSON object.
    pub fields: Map<String, Value>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The body's length in bytes, as it arrived.
    pub size: usize,
    /// The guardrails the request opted in to (`guardrails` at the top level or in
    /// `metadata`), taken out of the body.
    pub guardrails: Vec<String>,
}

impl ClientBody {
    /// The `model` field (checked to be a non-empty string).
    pub fn model(&self) -> &str {
        json::field(&self.fields, "model").and_then(Value::as_str).unwrap_or_default()
    }
}

/// Parses and checks a client body for `call_type`.
pub fn parse(call_type: CallType, bytes: &[u8], rules: BodyRules) -> Result<ClientBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("The request body is empty; send a JSON object."));
    }
    let limits = strict_json::Limits { max_messages: rules.max_messages, max_values: MAX_JSON_VALUES };
    let value = strict_json::from_slice(bytes, limits)
        .map_err(|error| ApiError::bad_request(format!("The request body is not valid JSON: {error}")))?;
    let Value::Object(mut fields) = value else {
        return Err(ApiError::bad_request("The request body must be a JSON object."));
    };
    let guardrails = super::selection::take_guardrails(&mut fields)?;
    let stream = check(call_type, &fields, rules)?;
    Ok(ClientBody { fields, stream, size: bytes.len(), guardrails })
}

/// Checks a body object for `call_type`: also used on bodies that pre-call hooks rewrote.
/// Returns whether the body asks for a stream.
pub fn check(call_type: CallType, fields: &Map<String, Value>, rules: BodyRules) -> Result<bool, ApiError> {
    let enforce_user_param = rules.enforce_user_param;
    match json::field(fields, "model") {
        Some(Value::String(model)) if !model.trim().is_empty() => {}
        Some(Value::String(_)) => return Err(field_error("model", "must not be empty")),
        Some(_) => return Err(field_error("model", "must be a string")),
        None => return Err(missing("model")),
    }
    match call_type {
        CallType::ChatCompletion => shapes::check_chat(fields, rules.max_messages)?,
        CallType::TextCompletion => shapes::check_completion(fields)?,
        CallType::Embedding => shapes::check_embedding(fields)?,
    }
    let stream = match json::field(fields, "stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(field_error("stream", "must be a boolean")),
    };
    if stream && call_type == CallType::Embedding {
        return Err(field_error("stream", "is not supported for embeddings"));
    }
    match json::field(fields, "user") {
        Some(Value::String(user)) if !user.is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) if enforce_user_param => {
            return Err(ApiError::bad_request(
                "This proxy requires the `user` field (general_settings.enforce_user_param is on); \
                 pass a non-empty string identifying the end user.",
            )
            .with_param("user"))
        }
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(field_error("user", "must be a string")),
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: &str) -> Result<ClientBody, ApiError> {
        parse(CallType::ChatCompletion, body.as_bytes(), BodyRules::default())
    }

    fn enforcing() -> BodyRules {
        BodyRules { enforce_user_param: true, ..BodyRules::default() }
    }

    #[test]
    fn good_bodies_pass() {
        let body = chat(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#).unwrap();
        assert!(body.stream);
        assert_eq!(body.model(), "m");
        assert!(parse(CallType::Embedding, br#"{"model":"m","input":["a"]}"#, BodyRules::default()).is_ok());
        assert!(parse(CallType::TextCompletion, br#"{"model":"m","prompt":"a"}"#, BodyRules::default()).is_ok());
    }

    #[test]
    fn each_bad_body_names_its_problem() {
        let cases = [
            ("", "empty"),
            ("{nope", "not valid JSON"),
            ("[1]", "JSON object"),
            (r#"{"messages":[{"role":"user"}]}"#, "'model'"),
            (r#"{"model":5,"messages":[]}"#, "'model': must be a string"),
            (r#"{"model":"m"}"#, "'messages'"),
            (r#"{"model":"m","messages":[]}"#, "must not be empty"),
            (r#"{"model":"m","messages":"hi"}"#, "array of message objects"),
            (r#"{"model":"m","messages":[{"content":"x"}]}"#, "messages[0].role"),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
                "'stream': must be a boolean",
            ),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"user":7}"#, "'user': must be a string"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x","content":"y"}]}"#, "duplicate key"),
        ];
        for (body, expected) in cases {
            let error = chat(body).unwrap_err();
            assert_eq!(error.status, 400, "{body}");
            assert!(error.message.contains(expected), "{body}: {}", error.message);
        }
    }

    #[test]
    fn the_body_keeps_its_key_order() {
        // A tool's parameters and a structured output's schema are read by the model in
        // the order written: hooks and the upstream must get that order, not a sorted one.
        let text = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"}}}}}]}"#;
        let body = chat(text).unwrap();
        assert_eq!(serde_json::to_string(&Value::Object(body.fields)).unwrap(), text);
    }

    #[test]
    fn enforce_user_param_requires_a_user() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let error = parse(CallType::ChatCompletion, body, enforcing()).unwrap_err();
        assert!(error.message.contains("enforce_user_param"));
        assert_eq!(error.param.as_deref(), Some("user"));
        let with_user = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u1"}"#;
        assert!(parse(CallType::ChatCompletion, with_user, enforcing()).is_ok());
    }

    #[test]
    fn embeddings_do_not_stream() {
        let error = parse(CallType::Embedding, br#"{"model":"m","input":"a","stream":true}"#, BodyRules::default())
            .unwrap_err();
        assert_eq!(error.param.as_deref(), Some("stream"));
    }
}
