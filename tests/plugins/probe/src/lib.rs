//! Test plugin: well-behaved, and shows what each hook saw, so tests can check the
//! plumbing of hook calls (per-request instances, outcomes, host imports, guest output).
//!
//! Triggers in the request body: `RESPOND` answers from pre-call; `REWRITE` replaces the
//! last message with what the plugin knows of the caller; `MODERATE` is rejected by
//! moderation (403), after spinning 300 ms for `MODERATE_SLOWLY`; a streamed chunk whose
//! text is `DROPME` is dropped, others are upper-cased; a stream whose assembled text
//! has `ENDREJECT` is rejected by stream-end. A failure of a request
//! with `RECOVER` is answered with a 418 rejection. The logging hooks log the whole
//! payload (`probe payload <json>`) of a request with `SHOWPAYLOAD`.
//!
//! Every hook counts itself in `calls`: state on `self` lives as long as the request's
//! instance, so the count shows which hooks shared an instance. Config: optional
//! `{"tag": "..."}`, echoed back in a response header.

use hookgate_sdk::prelude::*;
use hookgate_sdk::{kv, log};

struct Probe {
    /// Hook calls this instance has served, this one included.
    calls: u32,
    /// The config's `tag`, if any.
    tag: Option<String>,
}

#[hookgate_sdk::plugin]
impl Plugin for Probe {
    fn new(config: Config) -> Result<Self, String> {
        let tag = config.json()["tag"].as_str().map(str::to_owned);
        Ok(Probe { calls: 0, tag })
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        self.calls += 1;
        log::info(format!("probe pre-call {}", req.id));
        println!("probe stdout {}", req.id);
        if req.body.contains("RESPOND") {
            return Ok(PreCall::respond("probe responds"));
        }
        let mut body = req.json();
        body["probe_calls"] = self.calls.into();
        if req.body.contains("REWRITE") {
            // Replaces the last message, so an echoing upstream shows the edit.
            if let Some(last) = body["messages"].as_array_mut().and_then(|messages| messages.last_mut()) {
                let credentials = req.headers.iter().any(|(name, _)| name == "authorization" || name == "api-key");
                last["content"] = format!(
                    "rewritten by probe (key {}, user {}, team {}, hash {}, metadata {}, credentials {})",
                    req.key.alias.as_deref().unwrap_or("-"),
                    req.key.user_id.as_deref().unwrap_or("-"),
                    req.key.team_id.as_deref().unwrap_or("-"),
                    req.key.hash,
                    req.key.metadata,
                    if credentials { "visible" } else { "hidden" },
                )
                .into();
            }
        }
        Ok(PreCall::modify_json(&body))
    }

    fn moderation(&mut self, req: &Request) -> Result<(), Rejection> {
        self.calls += 1;
        if req.body.contains("MODERATE_SLOWLY") {
            // Long enough for the upstream request to be on the wire before the verdict.
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_millis(300) {
                std::hint::spin_loop();
            }
        }
        if req.body.contains("MODERATE") {
            return Err(Rejection::forbidden("probe moderation: MODERATE found").with_code("probe_moderation"));
        }
        Ok(())
    }

    fn post_call_success(&mut self, req: &Request, _resp: &Response) -> Result<PostCall, Rejection> {
        self.calls += 1;
        let edit = PostCall::add_header("x-probe-calls", self.calls.to_string())
            .with_header("x-probe-request-id", req.id.clone());
        Ok(match &self.tag {
            Some(tag) => edit.with_header("x-probe-config", tag.clone()),
            None => edit,
        })
    }

    fn post_call_failure(&mut self, req: &Request, failure: &Failure) -> Result<(), Rejection> {
        self.calls += 1;
        if req.body.contains("RECOVER") {
            return Err(Rejection::new(418, format!("probe saw failure: {}", failure.message)));
        }
        Ok(())
    }

    fn stream_chunk(&mut self, _ctx: &CallContext, chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        self.calls += 1;
        if chunk.delta_text().as_deref().map(str::trim) == Some("DROPME") {
            return Ok(ChunkOutcome::Drop);
        }
        let Ok(mut parsed) = chunk.parse() else {
            return Ok(ChunkOutcome::Proceed);
        };
        for content in parsed.choices.iter_mut().filter_map(|choice| choice.delta.content.as_mut()) {
            *content = content.to_uppercase();
        }
        Ok(ChunkOutcome::replace_json(&parsed))
    }

    fn stream_end(&mut self, _ctx: &CallContext, text: &str) -> Result<(), Rejection> {
        self.calls += 1;
        if text.contains("ENDREJECT") {
            return Err(Rejection::bad_request(format!("probe stream-end: {} chunk calls seen", self.calls - 1)));
        }
        Ok(())
    }

    fn log_success(&mut self, payload: &LogPayload) {
        self.count("log-success", payload);
    }

    fn log_failure(&mut self, payload: &LogPayload) {
        self.count("log-failure", payload);
    }
}

impl Probe {
    /// Counts a logging hook in the kv store (which outlives the instance) and logs the
    /// payload's request id (or the whole payload, when asked).
    fn count(&mut self, counter: &str, payload: &LogPayload) {
        if payload.raw().contains("SHOWPAYLOAD") {
            log::info(format!("probe payload {}", payload.raw()));
        }
        self.calls += 1;
        if let Err(e) = kv::incr(counter, 1, None) {
            log::warn(format!("probe {counter}: {e}"));
        }
        let json = payload.json();
        log::info(format!("probe {counter} {}", json["id"].as_str().unwrap_or("(no id)")));
    }
}
