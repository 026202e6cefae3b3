//! Test plugin: every hook answers what a script says, so tests (and the outcome fuzzer)
//! can drive any output a plugin may return through every hook, valid or not.
//!
//! The script is the request body's `hookgate_script` field, or else the plugin config's
//! `script` (which applies to every request: a plugin broken the same way for all). It
//! maps a hook name (`pre-call`, `moderation`, `post-call-success`, `post-call-failure`,
//! `stream-chunk`, `stream-end`, `log-success`, `log-failure`) to an action:
//!
//! ```json
//! {"do": "proceed" | "reject" | "modify" | "respond" | "replace" | "drop" | "trap" | "spin",
//!  "status": 400, "message": "text", "message_repeat": 1, "code": "c",
//!  "body": "raw text the hook returns (need not be JSON)",
//!  "headers": [["name", "value"]], "header_count": 0, "header_value_bytes": 1,
//!  "log": "a line for the log import", "log_repeat": 1, "print": "a line for stdout"}
//! ```
//!
//! `trap` panics, `spin` loops until the deadline. The stream hooks and logging hooks see
//! no request body: pre-call keeps the request's script for them (one instance serves the
//! request's hooks); the logging hooks read it from the payload's messages when shown.

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::Value;
use hookgate_sdk::log;

struct Scripted {
    /// The config's script, for every request.
    always: Value,
    /// This request's script, kept by pre-call.
    request: Value,
}

impl Scripted {
    fn action(&self, hook: &str) -> Value {
        let from_request = &self.request[hook];
        if !from_request.is_null() {
            return from_request.clone();
        }
        self.always[hook].clone()
    }

    fn remember(&mut self, req: &Request) {
        if let Some(script) = req.json().get("hookgate_script") {
            self.request = script.clone();
        }
    }
}

/// Side effects every action may ask for, then whether it rejects.
fn perform(action: &Value) -> Result<(), Rejection> {
    if let Some(line) = action["print"].as_str() {
        println!("{line}");
    }
    if let Some(line) = action["log"].as_str() {
        for _ in 0..action["log_repeat"].as_u64().unwrap_or(1) {
            log::info(line);
        }
    }
    match action["do"].as_str() {
        Some("trap") => panic!("scripted trap"),
        Some("spin") => {
            let mut spins = 0u64;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        Some("reject") => {
            let message = action["message"].as_str().unwrap_or("scripted rejection");
            let message = message.repeat(action["message_repeat"].as_u64().unwrap_or(1) as usize);
            let status = action["status"].as_u64().unwrap_or(400) as u16;
            let mut rejection = Rejection::new(status, message);
            if let Some(code) = action["code"].as_str() {
                rejection = rejection.with_code(code);
            }
            Err(rejection)
        }
        _ => Ok(()),
    }
}

fn body(action: &Value) -> String {
    match &action["body"] {
        Value::String(text) => text.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

fn headers(action: &Value) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = action["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned())))
        .collect();
    let value = "v".repeat(action["header_value_bytes"].as_u64().unwrap_or(1) as usize);
    for i in 0..action["header_count"].as_u64().unwrap_or(0) {
        headers.push((format!("x-scripted-{i}"), value.clone()));
    }
    headers
}

#[hookgate_sdk::plugin]
impl Plugin for Scripted {
    fn new(config: Config) -> Result<Self, String> {
        Ok(Scripted { always: config.json()["script"].clone(), request: Value::Null })
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        self.remember(req);
        let action = self.action("pre-call");
        perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("modify") => PreCall::Modify(body(&action)),
            Some("respond") => PreCall::respond(body(&action)),
            _ => PreCall::Proceed,
        })
    }

    fn moderation(&mut self, req: &Request) -> Result<(), Rejection> {
        self.remember(req);
        perform(&self.action("moderation"))
    }

    fn post_call_success(&mut self, req: &Request, _resp: &Response) -> Result<PostCall, Rejection> {
        self.remember(req);
        let action = self.action("post-call-success");
        perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("modify") => PostCall::Modify {
                body: (!action["body"].is_null()).then(|| body(&action)),
                headers: headers(&action),
            },
            _ => PostCall::Proceed,
        })
    }

    fn post_call_failure(&mut self, req: &Request, _failure: &Failure) -> Result<(), Rejection> {
        self.remember(req);
        perform(&self.action("post-call-failure"))
    }

    fn stream_chunk(&mut self, _ctx: &CallContext, _chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        let action = self.action("stream-chunk");
        perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("replace") => ChunkOutcome::Replace(body(&action)),
            Some("drop") => ChunkOutcome::Drop,
            _ => ChunkOutcome::Proceed,
        })
    }

    fn stream_end(&mut self, _ctx: &CallContext, _text: &str) -> Result<(), Rejection> {
        perform(&self.action("stream-end"))
    }

    fn log_success(&mut self, payload: &LogPayload) {
        self.request = script_in(payload);
        let _ = perform(&self.action("log-success"));
    }

    fn log_failure(&mut self, payload: &LogPayload) {
        self.request = script_in(payload);
        let _ = perform(&self.action("log-failure"));
    }
}

/// The script of a logged request, when the payload shows its body (it shows the
/// messages; a script for logging hooks is a message's `hookgate_script`).
fn script_in(payload: &LogPayload) -> Value {
    let json = payload.json();
    json["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|message| message.get("hookgate_script").cloned())
        .unwrap_or(Value::Null)
}
