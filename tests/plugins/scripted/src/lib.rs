//! Test plugin: every hook answers what a script says, so tests (and the outcome fuzzer)
//! can drive any output a plugin may return through every hook, valid or not.
//!
//! The script is the request body's `hookgate_script` field, or else the plugin config's
//! `script` (which applies to every request: a plugin broken the same way for all). It
//! maps a hook name (`pre-call`, `moderation`, `post-call-success`, `post-call-failure`,
//! `stream-chunk`, `stream-end`, `log-success`, `log-failure`) to an action:
//!
//! ```json
//! {"do": "proceed" | "reject" | "fail" | "modify" | "respond" | "replace" | "drop" | "trap" | "spin",
//!  "status": 400, "message": "text", "message_repeat": 1, "code": "c",
//!  "body": "raw text the hook sets as the body (need not be JSON)",
//!  "texts": [[0, "the text at position 0 of the request's texts"]],
//!  "headers": [["name", "value"]], "header_count": 0, "header_value_bytes": 1,
//!  "log": "a line for the log import", "log_repeat": 1, "print": "a line for stdout",
//!  "eprint": "a line for stderr", "keep_bytes": 0, "whoami": false}
//! ```
//!
//! `trap` panics, `spin` loops until the deadline, `fail` returns the contract's failure
//! with `message`. `modify` sets the body (pre-call, post-call-success; an edit the host
//! refuses makes the call a failure), or in pre-call with `texts` replaces those texts
//! by position without reading them first, and in post-call-success sets the `headers`;
//! `replace` sets a chunk's body. The side effects run first, in this order:
//! `keep_bytes` (allocate that many bytes and keep them on the instance, so its memory
//! grows), `print`, `log` (`log_repeat` times), `eprint`, `whoami`; then `do`.
//!
//! `whoami` shows which instance served the hook, for tests of warm instances
//! (`instances: reuse`): it logs `scripted instance <born> requests <n> kept <bytes>`
//! through the log import, where `<born>` names the instance by its first hook call
//! (`<request id>/<hook>`: no two instances serving requests share it), `<n>` counts the
//! pre-call hooks it has run (one per request it served) and `<bytes>` is what
//! `keep_bytes` made it keep. In `post-call-success` it also sets those three as the
//! response headers `x-scripted-instance`, `x-scripted-requests` and
//! `x-scripted-kept-bytes`. (These describe the instance, so they live on the plugin
//! value, which lives as long as the instance; a request's own state would go in `Ctx`.)
//!
//! Every hook is given the request, so every hook reads the script from it.

use std::cell::{Cell, RefCell};

use hookgate_sdk::log;
use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{self, Value};

#[derive(Default)]
struct Scripted {
    /// The config's script, for every request.
    always: Value,
    /// `<request id>/<hook>` of this instance's first hook call.
    born: RefCell<Option<String>>,
    /// Pre-call hooks this instance has run.
    requests: Cell<u32>,
    /// What `keep_bytes` allocated, kept for the instance's life.
    kept: RefCell<Vec<Vec<u8>>>,
}

impl Scripted {
    /// The action for `hook` on `req`: the request's script, else the config's.
    fn action(&self, req: &Request, hook: &str) -> Value {
        if self.born.borrow().is_none() {
            *self.born.borrow_mut() = Some(format!("{}/{hook}", req.id()));
        }
        let script = req.field("hookgate_script").and_then(|json| serde_json::from_str::<Value>(&json).ok());
        match script.as_ref().map(|script| &script[hook]) {
            Some(action) if !action.is_null() => action.clone(),
            _ => self.always[hook].clone(),
        }
    }

    fn kept_bytes(&self) -> usize {
        self.kept.borrow().iter().map(Vec::len).sum()
    }

    fn identity_headers(&self) -> Vec<(String, String)> {
        vec![
            ("x-scripted-instance".to_owned(), self.born.borrow().clone().unwrap_or_default()),
            ("x-scripted-requests".to_owned(), self.requests.get().to_string()),
            ("x-scripted-kept-bytes".to_owned(), self.kept_bytes().to_string()),
        ]
    }

    /// Side effects the action asks for, then whether it rejects or fails.
    fn perform(&self, action: &Value) -> HookResult<()> {
        if let Some(bytes) = action["keep_bytes"].as_u64().filter(|&bytes| bytes > 0) {
            self.kept.borrow_mut().push(vec![0x5a; bytes as usize]);
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
                self.born.borrow().as_deref().unwrap_or("-"),
                self.requests.get(),
                self.kept_bytes()
            ));
        }
        let message = || {
            let message = action["message"].as_str().unwrap_or("scripted rejection");
            message.repeat(action["message_repeat"].as_u64().unwrap_or(1) as usize)
        };
        match action["do"].as_str() {
            Some("trap") => panic!("scripted trap"),
            Some("spin") => {
                let mut spins = 0u64;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            Some("fail") => Err(fail(message())),
            Some("reject") => {
                let status = action["status"].as_u64().unwrap_or(400) as u16;
                let mut rejection = Rejection::new(status, message());
                if let Some(code) = action["code"].as_str() {
                    rejection = rejection.with_code(code);
                }
                Err(rejection.into())
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
    type Ctx = ();

    fn new(config: Config) -> Result<Self, String> {
        Ok(Scripted { always: config.json()["script"].clone(), ..Scripted::default() })
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        let action = self.action(req, "pre-call");
        self.requests.set(self.requests.get() + 1);
        self.perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("modify") => {
                match action["texts"].as_array() {
                    Some(edits) => req.set_texts(edits.iter().map(|edit| {
                        (edit[0].as_u64().unwrap_or(u64::MAX) as usize, edit[1].as_str().unwrap_or_default().to_owned())
                    }))?,
                    None => req.set_body(&body(&action))?,
                }
                PreCall::Proceed
            }
            Some("respond") => PreCall::respond(body(&action)),
            _ => PreCall::Proceed,
        })
    }

    fn moderation(&self, _ctx: &mut (), req: &Request) -> HookResult<()> {
        let action = self.action(req, "moderation");
        self.perform(&action)
    }

    fn post_call_success(&self, _ctx: &mut (), req: &Request, resp: &Response) -> HookResult<()> {
        let action = self.action(req, "post-call-success");
        self.perform(&action)?;
        let mut set = Vec::new();
        if action["do"].as_str() == Some("modify") {
            if !action["body"].is_null() {
                resp.set_body(&body(&action))?;
            }
            set = headers(&action);
        }
        if action["whoami"].as_bool() == Some(true) {
            set.extend(self.identity_headers());
        }
        for (name, value) in set {
            resp.set_header(&name, &value)?;
        }
        Ok(())
    }

    fn post_call_failure(&self, _ctx: &mut (), req: &Request, _failure: &Failure) -> HookResult<()> {
        let action = self.action(req, "post-call-failure");
        self.perform(&action)
    }

    fn stream_chunk(&self, _ctx: &mut (), req: &Request, chunk: &Chunk) -> HookResult<ChunkOutcome> {
        let action = self.action(req, "stream-chunk");
        self.perform(&action)?;
        Ok(match action["do"].as_str() {
            Some("replace") => {
                chunk.set_body(&body(&action))?;
                ChunkOutcome::Proceed
            }
            Some("drop") => ChunkOutcome::Drop,
            _ => ChunkOutcome::Proceed,
        })
    }

    fn stream_end(&self, _ctx: &mut (), req: &Request, _text: &str) -> HookResult<()> {
        let action = self.action(req, "stream-end");
        self.perform(&action)
    }

    fn log_success(&self, _ctx: &mut (), req: &Request, _resp: &Response, _entry: &LogEntry) -> Result<(), String> {
        let action = self.action(req, "log-success");
        self.perform(&action).map_err(|error| error.to_string())
    }

    fn log_failure(&self, _ctx: &mut (), req: &Request, _entry: &LogEntry) -> Result<(), String> {
        let action = self.action(req, "log-failure");
        self.perform(&action).map_err(|error| error.to_string())
    }
}
