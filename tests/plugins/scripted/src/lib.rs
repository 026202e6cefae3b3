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
//!  "log": "a line for the log import", "log_repeat": 1, "print": "a line for stdout",
//!  "eprint": "a line for stderr", "keep_bytes": 0, "whoami": false}
//! ```
//!
//! `trap` panics, `spin` loops until the deadline. The side effects run first, in this
//! order: `keep_bytes` (allocate that many bytes and keep them on the instance, so its
//! memory grows), `print`, `log` (`log_repeat` times), `eprint`, `whoami`; then `do`.
//!
//! `whoami` shows which instance served the hook, for tests of warm instances
//! (`instances: reuse`): it logs `scripted instance <born> requests <n> kept <bytes>`
//! through the log import, where `<born>` names the instance by its first hook call
//! (`<request id>/<hook>`: no two instances serving requests share it), `<n>` counts the
//! pre-call hooks it has run (one per request it served) and `<bytes>` is what
//! `keep_bytes` made it keep. In `post-call-success` it also adds those three as the
//! response headers `x-scripted-instance`, `x-scripted-requests` and
//! `x-scripted-kept-bytes` (so the hook's decision is `modify`, whatever `do` says).
//!
//! The stream hooks and logging hooks see no request body: pre-call keeps the request's
//! script for them (one instance serves the request's hooks); the logging hooks read it
//! from the payload's messages when shown. A warm instance forgets the script of the
//! request it served before.

use hookgate_sdk::log;
use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::Value;

#[derive(Default)]
struct Scripted {
    /// The config's script, for every request.
    always: Value,
    /// This request's script, kept by pre-call.
    request: Value,
    /// The id of the request `request` belongs to.
    request_id: String,
    /// `<request id>/<hook>` of this instance's first hook call.
    born: Option<String>,
    /// Pre-call hooks this instance has run.
    requests: u32,
    /// What `keep_bytes` allocated, kept for the instance's life.
    kept: Vec<Vec<u8>>,
}

impl Scripted {
    fn action(&self, hook: &str) -> Value {
        let from_request = &self.request[hook];
        if !from_request.is_null() {
            return from_request.clone();
        }
        self.always[hook].clone()
    }

    /// Notes that `hook` runs for request `id`: names the instance on its first call,
    /// and forgets the script of an earlier request.
    fn enter(&mut self, id: &str, hook: &str) {
        if self.born.is_none() {
            self.born = Some(format!("{id}/{hook}"));
        }
        if self.request_id != id {
            self.request_id = id.to_owned();
            self.request = Value::Null;
        }
    }

    fn remember(&mut self, req: &Request, hook: &str) {
        self.enter(&req.id, hook);
        if let Some(script) = req.json().get("hookgate_script") {
            self.request = script.clone();
        }
    }

    fn kept_bytes(&self) -> usize {
        self.kept.iter().map(Vec::len).sum()
    }

    fn identity_headers(&self) -> Vec<(String, String)> {
        vec![
            ("x-scripted-instance".to_owned(), self.born.clone().unwrap_or_default()),
            ("x-scripted-requests".to_owned(), self.requests.to_string()),
            ("x-scripted-kept-bytes".to_owned(), self.kept_bytes().to_string()),
        ]
    }

    /// Side effects the action asks for, then whether it rejects.
    fn perform(&mut self, action: &Value) -> Result<(), Rejection> {
        if let Some(bytes) = action["keep_bytes"].as_u64().filter(|&bytes| bytes > 0) {
            self.kept.push(vec![0x5a; bytes as usize]);
        }
        if let Some(line) = action["print"].as_str() {
            println!("{line}");
        }
        if let Some(line) = action["log"].as_str() {
            for _ in 0..action["log_repeat"].as_u64().unwrap_or(1) {
                log::info(line);
            }
        }
        if let Some(line) = action["eprint"].as_str() {
            eprintln!("{line}");
        }
        if action["whoami"].as_bool() == Some(true) {
            log::info(format!(
                "scripted instance {} requests {} kept {}",
                self.born.as_deref().unwrap_or("-"),
                self.requests,
                self.kept_bytes()
            ));
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
        Ok(Scripted { always: config.json()["script"].clone(), ..Scripted::default() })
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        self.remember(req, "pre-call");
        self.requests += 1;
        let action = self.action("pre-call");
        self.perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("modify") => PreCall::Modify(body(&action)),
            Some("respond") => PreCall::respond(body(&action)),
            _ => PreCall::Proceed,
        })
    }

    fn moderation(&mut self, req: &Request) -> Result<(), Rejection> {
        self.remember(req, "moderation");
        let action = self.action("moderation");
        self.perform(&action)
    }

    fn post_call_success(&mut self, req: &Request, _resp: &Response) -> Result<PostCall, Rejection> {
        self.remember(req, "post-call-success");
        let action = self.action("post-call-success");
        self.perform(&action)?;
        let mut added = match action["do"].as_str() {
            Some("modify") => headers(&action),
            _ => Vec::new(),
        };
        if action["whoami"].as_bool() == Some(true) {
            added.extend(self.identity_headers());
        }
        Ok(match action["do"].as_str() {
            Some("modify") => {
                PostCall::Modify { body: (!action["body"].is_null()).then(|| body(&action)), headers: added }
            }
            _ if !added.is_empty() => PostCall::Modify { body: None, headers: added },
            _ => PostCall::Proceed,
        })
    }

    fn post_call_failure(&mut self, req: &Request, _failure: &Failure) -> Result<(), Rejection> {
        self.remember(req, "post-call-failure");
        let action = self.action("post-call-failure");
        self.perform(&action)
    }

    fn stream_chunk(&mut self, ctx: &CallContext, _chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        self.enter(&ctx.id, "stream-chunk");
        let action = self.action("stream-chunk");
        self.perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("replace") => ChunkOutcome::Replace(body(&action)),
            Some("drop") => ChunkOutcome::Drop,
            _ => ChunkOutcome::Proceed,
        })
    }

    fn stream_end(&mut self, ctx: &CallContext, _text: &str) -> Result<(), Rejection> {
        self.enter(&ctx.id, "stream-end");
        let action = self.action("stream-end");
        self.perform(&action)
    }

    fn log_success(&mut self, payload: &LogPayload) {
        self.logged(payload, "log-success");
    }

    fn log_failure(&mut self, payload: &LogPayload) {
        self.logged(payload, "log-failure");
    }
}

impl Scripted {
    fn logged(&mut self, payload: &LogPayload, hook: &str) {
        let json = payload.json();
        self.enter(json["id"].as_str().unwrap_or("-"), hook);
        self.request = script_in(&json);
        let action = self.action(hook);
        let _ = self.perform(&action);
    }
}

/// The script of a logged request, when the payload shows its body (it shows the
/// messages; a script for logging hooks is a message's `hookgate_script`).
fn script_in(json: &Value) -> Value {
    json["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|message| message.get("hookgate_script").cloned())
        .unwrap_or(Value::Null)
}
