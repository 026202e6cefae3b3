//! The checks a client body passes before any hook sees it: valid JSON, an object, the
//! fields its endpoint requires with the right types. Each failure is a 400 that names
//! the field, so a client learns what to fix.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::plugins::CallType;

/// A request body that passed the checks for its endpoint.
#[derive(Debug, Clone)]
pub struct ClientBody {
    /// The body as a JSON object.
    pub fields: Map<String, Value>,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

impl ClientBody {
    /// A body known to pass [`check`] (the client's own, unchanged by hooks).
    pub(crate) fn checked(fields: Map<String, Value>) -> Self {
        let stream = fields.get("stream").and_then(Value::as_bool).unwrap_or(false);
        Self { fields, stream }
    }

    /// The `model` field (checked to be a non-empty string).
    pub fn model(&self) -> &str {
        self.fields.get("model").and_then(Value::as_str).unwrap_or_default()
    }
}

/// Parses and checks a client body for `call_type`.
pub fn parse(call_type: CallType, bytes: &[u8], enforce_user_param: bool) -> Result<ClientBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("The request body is empty; send a JSON object."));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::bad_request(format!("The request body is not valid JSON: {error}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_request("The request body must be a JSON object."));
    };
    check(call_type, fields, enforce_user_param)
}

/// Checks a body object for `call_type`: also used on bodies that pre-call hooks rewrote.
pub fn check(
    call_type: CallType,
    fields: Map<String, Value>,
    enforce_user_param: bool,
) -> Result<ClientBody, ApiError> {
    match fields.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => {}
        Some(Value::String(_)) => return Err(field_error("model", "must not be empty")),
        Some(_) => return Err(field_error("model", "must be a string")),
        None => return Err(missing("model")),
    }
    match call_type {
        CallType::ChatCompletion => check_messages(fields.get("messages"))?,
        CallType::TextCompletion => match fields.get("prompt") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            Some(_) => return Err(field_error("prompt", "must be a string or an array")),
            None => return Err(missing("prompt")),
        },
        CallType::Embedding => match fields.get("input") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            Some(_) => return Err(field_error("input", "must be a string or an array")),
            None => return Err(missing("input")),
        },
    }
    let stream = match fields.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(field_error("stream", "must be a boolean")),
    };
    if stream && call_type == CallType::Embedding {
        return Err(field_error("stream", "is not supported for embeddings"));
    }
    match fields.get("user") {
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
    Ok(ClientBody { fields, stream })
}

fn check_messages(messages: Option<&Value>) -> Result<(), ApiError> {
    let messages = match messages {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => return Err(field_error("messages", "must not be empty")),
        Some(_) => return Err(field_error("messages", "must be an array of message objects")),
        None => return Err(missing("messages")),
    };
    for (index, message) in messages.iter().enumerate() {
        let param = format!("messages[{index}]");
        let Value::Object(message) = message else {
            return Err(field_error(&param, "must be an object"));
        };
        if !message.get("role").is_some_and(Value::is_string) {
            return Err(field_error(&format!("{param}.role"), "is required and must be a string"));
        }
    }
    Ok(())
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_request(format!("Missing required parameter: '{field}'.")).with_param(field)
}

fn field_error(field: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid parameter '{field}': {what}.")).with_param(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: &str) -> Result<ClientBody, ApiError> {
        parse(CallType::ChatCompletion, body.as_bytes(), false)
    }

    #[test]
    fn good_bodies_pass() {
        let body = chat(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#).unwrap();
        assert!(body.stream);
        assert_eq!(body.model(), "m");
        assert!(parse(CallType::Embedding, br#"{"model":"m","input":["a"]}"#, false).is_ok());
        assert!(parse(CallType::TextCompletion, br#"{"model":"m","prompt":"a"}"#, false).is_ok());
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
            (r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#, "'stream': must be a boolean"),
            (r#"{"model":"m","messages":[{"role":"user"}],"user":7}"#, "'user': must be a string"),
        ];
        for (body, expected) in cases {
            let error = chat(body).unwrap_err();
            assert_eq!(error.status, 400, "{body}");
            assert!(error.message.contains(expected), "{body}: {}", error.message);
        }
    }

    #[test]
    fn enforce_user_param_requires_a_user() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let error = parse(CallType::ChatCompletion, body, true).unwrap_err();
        assert!(error.message.contains("enforce_user_param"));
        assert_eq!(error.param.as_deref(), Some("user"));
        let with_user = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u1"}"#;
        assert!(parse(CallType::ChatCompletion, with_user, true).is_ok());
    }

    #[test]
    fn embeddings_do_not_stream() {
        let error = parse(CallType::Embedding, br#"{"model":"m","input":"a","stream":true}"#, false).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("stream"));
    }
}
