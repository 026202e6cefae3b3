//! Test plugin: well-behaved, and shows what each hook saw, so tests can check the
//! plumbing of hook calls (per-request context, outcomes, host imports, guest output).
//!
//! Triggers in the request's texts: `RESPOND` answers from pre-call; `REWRITE` replaces
//! the last text with what the plugin knows of the caller; `MODERATE` is rejected by
//! moderation (403), after spinning 300 ms for `MODERATE_SLOWLY`; a streamed chunk whose
//! text is `DROPME` is dropped, others are upper-cased; a stream whose assembled text
//! has `ENDREJECT` is rejected by stream-end. A failure of a request with `RECOVER` is
//! answered with a 418 rejection. The logging hooks log what they were told
//! (`probe entry <json>`) for a request with `SHOWPAYLOAD`. A request with `SCATTER`
//! counts the pages of two buffers (one in the memory image, one zero-initialized) that
//! differ from how the component starts, then dirties every other page of both: the
//! count (`x-probe-leftover-pages`) must be 0 on a fresh instance however scattered what
//! the last instance in the slot wrote.
//!
//! Every hook counts itself in the request's context (`calls`), so the count shows the
//! hooks of one request and never another's. Pre-call sets the body field `probe_calls`.
//! Config: optional `{"tag": "..."}`, echoed back in a response header; with
//! `"fail_after_edit": true`, stream-chunk fails after upper-casing every chunk.

use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{json, Value};
use hookgate_sdk::{kv, log};

struct Probe {
    /// The config's `tag`, if any.
    tag: Option<String>,
    /// Whether stream-chunk fails after its edit.
    fail_after_edit: bool,
}

/// One request's state.
#[derive(Default)]
struct Calls {
    /// Hook calls of this request so far, this one included.
    calls: u32,
    /// `stream-chunk` calls of this request so far.
    chunks: u32,
    /// For `SCATTER`: pages found changed before this request wrote any.
    leftover_pages: Option<usize>,
}

const PAGE: usize = 4096;
/// Pages in each scatter buffer: dirtying every other one makes 64 separate runs per
/// buffer, more than the 32 a pool slot's reset gathers per scan.
const SCATTER_PAGES: usize = 128;
const IMAGE_BYTE: u8 = 0x5a;
/// Starts as `IMAGE_BYTE`s: part of the component's memory image.
static mut IMAGE_BUFFER: [u8; SCATTER_PAGES * PAGE] = [IMAGE_BYTE; SCATTER_PAGES * PAGE];
/// Starts zeroed: memory the image does not cover.
static mut ZERO_BUFFER: [u8; SCATTER_PAGES * PAGE] = [0; SCATTER_PAGES * PAGE];

/// Counts the pages of both buffers that differ from their start, then dirties every
/// other page of both.
fn scatter() -> usize {
    // SAFETY: a guest is single-threaded and nothing else holds references to these.
    // Through `&raw mut`, not `&mut STATIC` (which clippy suggests): a reference made
    // straight from a `static mut` is what the `static_mut_refs` lint warns of.
    #[allow(clippy::deref_addrof)]
    let (image, zero) = unsafe { (&mut *(&raw mut IMAGE_BUFFER), &mut *(&raw mut ZERO_BUFFER)) };
    let mut leftover = 0;
    for (buffer, start) in [(image, IMAGE_BYTE), (zero, 0)] {
        for (index, page) in buffer.chunks_mut(PAGE).enumerate() {
            if page.iter().any(|&byte| byte != start) {
                leftover += 1;
            }
            if index % 2 == 0 {
                page[index % PAGE] = start.wrapping_add(1);
            }
        }
    }
    leftover
}

fn mentions(req: &Request, marker: &str) -> bool {
    req.texts().iter().any(|text| text.contains(marker))
}

#[hookgate_sdk::plugin]
impl Plugin for Probe {
    type Ctx = Calls;

    fn new(config: Config) -> Result<Self, String> {
        let tag = config.json()["tag"].as_str().map(str::to_owned);
        let fail_after_edit = config.json()["fail_after_edit"] == json!(true);
        Ok(Probe { tag, fail_after_edit })
    }

    fn pre_call(&self, ctx: &mut Calls, req: &Request) -> HookResult<PreCall> {
        ctx.calls += 1;
        log::info(format!("probe pre-call {}", req.id()));
        println!("probe stdout {}", req.id());
        if mentions(req, "RESPOND") {
            return Ok(PreCall::respond("probe responds"));
        }
        req.set_field("probe_calls", Some(&ctx.calls.to_string()))?;
        if mentions(req, "SCATTER") {
            ctx.leftover_pages = Some(scatter());
        }
        if mentions(req, "REWRITE") {
            // Replaces the last text, so an echoing upstream shows the edit.
            let credentials = req.headers().iter().any(|(name, _)| name == "authorization" || name == "api-key");
            let key = req.key();
            let rewritten = format!(
                "rewritten by probe (key {}, user {}, team {}, id {}, metadata {}, credentials {})",
                key.alias().unwrap_or("-"),
                key.user_id().unwrap_or("-"),
                key.team_id().unwrap_or("-"),
                key.id(),
                key.metadata(),
                if credentials { "visible" } else { "hidden" },
            );
            let last = req.texts().len().saturating_sub(1);
            req.set_text(last, rewritten)?;
        }
        Ok(PreCall::Proceed)
    }

    fn moderation(&self, ctx: &mut Calls, req: &Request) -> HookResult<()> {
        ctx.calls += 1;
        if mentions(req, "MODERATE_SLOWLY") {
            // Long enough for the upstream request to be on the wire before the verdict.
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_millis(300) {
                std::hint::spin_loop();
            }
        }
        if mentions(req, "MODERATE") {
            return Err(Rejection::forbidden("probe moderation: MODERATE found").with_code("probe_moderation").into());
        }
        Ok(())
    }

    fn post_call_success(&self, ctx: &mut Calls, req: &Request, resp: &Response) -> HookResult<()> {
        ctx.calls += 1;
        resp.set_header("x-probe-calls", &ctx.calls.to_string())?;
        resp.set_header("x-probe-request-id", req.id())?;
        if let Some(pages) = ctx.leftover_pages {
            resp.set_header("x-probe-leftover-pages", &pages.to_string())?;
        }
        if let Some(tag) = &self.tag {
            resp.set_header("x-probe-config", tag)?;
        }
        Ok(())
    }

    fn post_call_failure(&self, ctx: &mut Calls, req: &Request, failure: &Failure) -> HookResult<()> {
        ctx.calls += 1;
        if mentions(req, "RECOVER") {
            return Err(Rejection::new(418, format!("probe saw failure: {}", failure.message)).into());
        }
        Ok(())
    }

    fn stream_chunk(&self, ctx: &mut Calls, _req: &Request, chunk: &Chunk) -> HookResult<ChunkOutcome> {
        ctx.calls += 1;
        ctx.chunks += 1;
        if chunk.text().as_deref().map(str::trim) == Some("DROPME") {
            return Ok(ChunkOutcome::Drop);
        }
        chunk.map_texts(|text| text.to_uppercase())?;
        if self.fail_after_edit {
            // A fault after an edit: the chunk must go on as it came, not as edited.
            return Err(fail("probe stream-chunk: failing after an edit"));
        }
        // The SDK keeps the texts it read; an edit must make it read them again.
        if chunk.texts().iter().any(|text| text.text != text.text.to_uppercase()) {
            return Err(fail("probe stream-chunk: the texts read after the edit are the ones before it"));
        }
        Ok(ChunkOutcome::Proceed)
    }

    fn stream_end(&self, ctx: &mut Calls, _req: &Request, text: &str) -> HookResult<()> {
        ctx.calls += 1;
        if text.contains("ENDREJECT") {
            return Err(Rejection::bad_request(format!("probe stream-end: {} chunk calls seen", ctx.chunks)).into());
        }
        Ok(())
    }

    fn log_success(&self, ctx: &mut Calls, req: &Request, resp: &Response, entry: &LogEntry) -> Result<(), String> {
        let answer: Vec<String> = resp.texts().into_iter().map(|text| text.text).collect();
        count(ctx, "log-success", req, entry, json!(answer));
        Ok(())
    }

    fn log_failure(&self, ctx: &mut Calls, req: &Request, entry: &LogEntry) -> Result<(), String> {
        count(ctx, "log-failure", req, entry, Value::Null);
        Ok(())
    }
}

/// Counts a logging hook in the kv store (which outlives the instance) and logs the
/// request id (and, when asked, what the hook was told).
fn count(ctx: &mut Calls, counter: &str, req: &Request, entry: &LogEntry, answer: Value) {
    ctx.calls += 1;
    if mentions(req, "SHOWPAYLOAD") {
        let failure = entry.failure.as_ref().map(|f| {
            json!({"status": f.status, "error_type": f.error_type, "message": f.message, "code": f.code, "rejected_by": f.rejected_by})
        });
        let decisions: Vec<Value> = entry
            .decisions
            .iter()
            .map(|d| json!({"plugin": d.plugin, "hook": d.hook, "decision": d.decision, "cause": d.cause, "calls": d.calls}))
            .collect();
        let shown = json!({
            "request_id": req.id(),
            "texts": req.texts().iter().map(|text| text.text.clone()).collect::<Vec<_>>(),
            "answer": answer,
            "model": entry.model,
            "model_used": entry.model_used,
            "api_base": entry.api_base,
            "end_user": entry.end_user,
            "status_code": entry.status_code,
            "usage": entry.usage.as_ref().map(|u| json!([u.prompt_tokens, u.completion_tokens, u.total_tokens])),
            "response_cost": entry.response_cost,
            "timed": entry.end_time >= entry.start_time,
            "first_token": entry.completion_start_time.is_some(),
            "failure": failure,
            "decisions": decisions,
            "truncated": entry.truncated,
            "calls": ctx.calls,
        });
        log::info(format!("probe entry {shown}"));
    }
    if let Err(e) = kv::incr(counter, 1, None) {
        log::warn(format!("probe {counter}: {e}"));
    }
    log::info(format!("probe {counter} {}", req.id()));
}
