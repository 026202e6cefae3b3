//! Test plugin: `parity`, as tests/plugins-parity.md specifies it, written once per SDK so
//! that tests/suite/parity.rs can check that the Rust, Python and JavaScript SDKs agree.
//!
//! Every hook notes the request id in the per-request context (if not yet) and appends its
//! name to the context's trail; markers in the request's texts make it report, as JSON, what
//! it was given. (`PARITY-WRONG-OUTCOME` has no Rust form: a hook that returns an outcome
//! that does not fit it does not compile.)

use std::cell::Cell;

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{json, Map, Value};
use hookgate_sdk::{kv, log, CallType};

struct Parity {
    config: Value,
    /// Requests this instance has served: instance state, not per request.
    requests: Cell<u32>,
}

/// One request's context.
#[derive(Default)]
struct Trail {
    trail: Vec<&'static str>,
    request_id: Option<String>,
    chunks: Vec<Option<String>>,
}

fn has(req: &Request, marker: &str) -> bool {
    req.texts().iter().any(|text| text.contains(marker))
}

fn reject(message: Value) -> HookError {
    Rejection::bad_request(message.to_string()).with_code("parity").into()
}

impl Parity {
    fn enter(&self, ctx: &mut Trail, req: &Request, hook: &'static str) {
        if ctx.request_id.is_none() {
            ctx.request_id = Some(req.id().to_owned());
            self.requests.set(self.requests.get() + 1);
        }
        ctx.trail.push(hook);
    }

    fn report(&self, ctx: &Trail, req: &Request, hook: &str) -> Map<String, Value> {
        let mut report = report(ctx, req, hook);
        report.insert("instance_requests".into(), json!(self.requests.get()));
        report
    }

    fn logged(&self, ctx: &Trail, req: &Request, hook: &str, entry: &LogEntry) -> Map<String, Value> {
        let mut line = self.report(ctx, req, hook);
        line.insert("status_code".into(), json!(entry.status_code));
        line.insert("entry_model".into(), json!(entry.model));
        line.insert("failure_status".into(), json!(entry.failure.as_ref().map(|failure| failure.status)));
        line.insert("usage_total".into(), json!(entry.usage.as_ref().map(|usage| usage.total_tokens)));
        line.insert("decisions".into(), json!(entry.decisions.len()));
        line
    }
}

fn report(ctx: &Trail, req: &Request, hook: &str) -> Map<String, Value> {
    let key = req.key();
    let call_type = match req.call_type() {
        CallType::ChatCompletion => "chat_completion".to_owned(),
        CallType::TextCompletion => "text_completion".to_owned(),
        CallType::Embedding => "embedding".to_owned(),
        CallType::Other(name) => name.clone(),
    };
    let texts: Vec<Value> = req
        .texts()
        .into_iter()
        .map(|text| json!({"text": text.text, "path": text.path, "is_key": text.is_key, "item": text.item, "role": text.role}))
        .collect();
    let report = json!({
        "hook": hook,
        "same_request": ctx.request_id.as_deref() == Some(req.id()),
        "trail": ctx.trail,
        "call_type": call_type,
        "stream": req.is_stream(),
        "model": req.model(),
        "key": {
            "alias": key.alias(), "id": key.id(), "user_id": key.user_id(), "team_id": key.team_id(),
            "metadata": key.metadata(),
        },
        "texts": texts,
    });
    let Value::Object(report) = report else { unreachable!("a JSON object") };
    report
}

fn texts_only(texts: Vec<hookgate_sdk::Text>) -> Vec<String> {
    texts.into_iter().map(|text| text.text).collect()
}

#[hookgate_sdk::plugin]
impl Plugin for Parity {
    type Ctx = Trail;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Parity { config: config.json(), requests: Cell::new(0) })
    }

    fn pre_call(&self, ctx: &mut Trail, req: &Request) -> HookResult<PreCall> {
        self.enter(ctx, req, "pre-call");
        if has(req, "PARITY-REPORT") {
            let mut report = self.report(ctx, req, "pre-call");
            report.insert("config".into(), self.config.clone());
            report.insert("fields".into(), json!(req.field_names()));
            report.insert("temperature".into(), json!(req.field("temperature")));
            report.insert("x_parity".into(), json!(req.header("x-parity")));
            return Err(reject(Value::Object(report)));
        }
        if has(req, "PARITY-KV-SET") {
            kv::set("ttl", "set", Some(100))?;
            kv::set("kept", "set", Some(60_000))?;
            return Ok(PreCall::Proceed);
        }
        if has(req, "PARITY-KV-GET") {
            return Err(reject(json!({"kv": kv::get("ttl")?, "kept": kv::get("kept")?})));
        }
        if has(req, "PARITY-FAIL") {
            return Err(fail("parity fails on purpose"));
        }
        if has(req, "PARITY-EDIT") {
            let texts = req.texts();
            let last = texts.len() - 1;
            req.set_text(last, format!("{} [edited]", texts[last].text))?;
            req.set_field("temperature", Some("0.5"))?;
            return Ok(PreCall::Proceed);
        }
        if has(req, "PARITY-RESPOND") {
            return Ok(PreCall::respond("parity answers"));
        }
        Ok(PreCall::Proceed)
    }

    fn moderation(&self, ctx: &mut Trail, req: &Request) -> HookResult<()> {
        self.enter(ctx, req, "moderation");
        Ok(())
    }

    fn post_call_success(&self, ctx: &mut Trail, req: &Request, resp: &Response) -> HookResult<()> {
        self.enter(ctx, req, "post-call-success");
        let mut report = self.report(ctx, req, "post-call-success");
        report.insert("status".into(), json!(resp.status()));
        report.insert("response_texts".into(), json!(texts_only(resp.texts())));
        resp.set_header("x-parity", &Value::Object(report).to_string())?;
        Ok(())
    }

    fn post_call_failure(&self, ctx: &mut Trail, req: &Request, failure: &Failure) -> HookResult<()> {
        self.enter(ctx, req, "post-call-failure");
        if has(req, "PARITY-RECOVER") {
            let mut report = self.report(ctx, req, "post-call-failure");
            report.insert(
                "failure".into(),
                json!({"status": failure.status, "error_type": failure.error_type, "message": failure.message,
                       "code": failure.code, "rejected_by": failure.rejected_by}),
            );
            return Err(reject(Value::Object(report)));
        }
        Ok(())
    }

    fn stream_chunk(&self, ctx: &mut Trail, req: &Request, chunk: &Chunk) -> HookResult<ChunkOutcome> {
        self.enter(ctx, req, "stream-chunk");
        ctx.chunks.push(chunk.text());
        Ok(ChunkOutcome::Proceed)
    }

    fn stream_end(&self, ctx: &mut Trail, req: &Request, text: &str) -> HookResult<()> {
        self.enter(ctx, req, "stream-end");
        if has(req, "PARITY-STREAM") {
            let mut report = self.report(ctx, req, "stream-end");
            report.insert("chunks".into(), json!(ctx.chunks));
            report.insert("text".into(), json!(text));
            return Err(reject(Value::Object(report)));
        }
        Ok(())
    }

    fn log_success(&self, ctx: &mut Trail, req: &Request, resp: &Response, entry: &LogEntry) -> Result<(), String> {
        self.enter(ctx, req, "log-success");
        let mut line = self.logged(ctx, req, "log-success", entry);
        line.insert("response_texts".into(), json!(texts_only(resp.texts())));
        log::info(format!("parity-log {}", Value::Object(line)));
        Ok(())
    }

    fn log_failure(&self, ctx: &mut Trail, req: &Request, entry: &LogEntry) -> Result<(), String> {
        self.enter(ctx, req, "log-failure");
        log::info(format!("parity-log {}", Value::Object(self.logged(ctx, req, "log-failure", entry))));
        Ok(())
    }
}
