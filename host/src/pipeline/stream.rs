//! Streamed answers: forwards each upstream chunk through the `stream-chunk` hooks to the
//! client as it arrives, then runs `stream-end` and the logging hooks.
//!
//! The stream runs in its own task and writes SSE events into a small channel that is
//! the response body. When the client goes away the channel closes, the task stops, and
//! dropping the upstream stream cancels the upstream request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::events;
use super::hook_runner::RequestPlugins;
use super::log_record::LogRecord;
use super::logging::LoggingQueue;
use crate::content::{Body, RequestDoc};
use crate::error::ApiError;
use crate::types::{Hook, HookSet};
use crate::upstream::{answers, ChunkStream, UpstreamError};

/// Events buffered between the stream task and the client connection: enough to absorb
/// scheduling jitter, small enough that a slow client slows the upstream read.
const BUFFERED_EVENTS: usize = 16;

/// Everything a streamed answer needs after the response head is sent.
pub(crate) struct StreamJob {
    pub plugins: RequestPlugins,
    pub request: RequestDoc,
    pub log: LogRecord,
    pub chunks: ChunkStream,
    pub logging: LoggingQueue,
    /// How long one event may wait for the client to take it.
    pub write_timeout: Duration,
    /// What the request holds (its key's place, its memory share): freed when the stream
    /// ends.
    pub admission: super::Admission,
}

/// Starts forwarding `job`'s stream; the receiver yields the SSE body.
pub(crate) fn spawn(job: StreamJob) -> mpsc::Receiver<Bytes> {
    let (sender, receiver) = mpsc::channel(BUFFERED_EVENTS);
    tokio::spawn(pump(job, sender));
    receiver
}

/// The client went away mid-stream: logged as the request's failure.
fn client_gone() -> ApiError {
    ApiError {
        error_type: "client_disconnected".into(),
        ..ApiError::new(499, "the client closed the connection mid-stream")
    }
}

/// The client stopped reading mid-stream: dropped like one that left, so that it cannot
/// hold its plugin instances and the upstream connection forever.
fn client_stalled(waited: Duration) -> ApiError {
    ApiError {
        error_type: "client_disconnected".into(),
        ..ApiError::new(499, format!("the client read nothing for {} s mid-stream; dropped", waited.as_secs()))
    }
}

/// Hands `event` to the client, waiting at most `timeout` for it to read.
async fn send(sender: &mpsc::Sender<Bytes>, event: Bytes, timeout: Duration) -> Result<(), ApiError> {
    match tokio::time::timeout(timeout, sender.send(event)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(client_gone()),
        Err(_) => Err(client_stalled(timeout)),
    }
}

async fn pump(job: StreamJob, sender: mpsc::Sender<Bytes>) {
    let StreamJob { mut plugins, request, mut log, mut chunks, logging, write_timeout, admission } = job;
    let mut text = String::new();
    // Chunks are parsed only for the hooks that read them: stream-chunk, and stream-end
    // and logging (the assembled text and usage).
    let filter = plugins.implements(Hook::StreamChunk);
    let assemble = plugins.implements(Hook::StreamEnd) || plugins.logs();
    let mut outcome: Result<(), ApiError> = loop {
        let chunk = match chunks.next().await {
            None => break Ok(()),
            Some(Err(error)) => break Err(ApiError::from(error)),
            Some(Ok(chunk)) => chunk,
        };
        log.first_token();
        if !filter && !assemble {
            if let Err(gone) = send(&sender, events::data(&chunk), write_timeout).await {
                break Err(gone);
            }
            continue;
        }
        let parsed = match parse(chunk) {
            Ok(parsed) => Arc::new(parsed),
            Err(error) => break Err(error),
        };
        let forwarded = match filter {
            false => parsed,
            true => match plugins.stream_chunk(&request, parsed).await {
                Ok(Some(forwarded)) => forwarded,
                Ok(None) => continue,
                Err(error) => break Err(error),
            },
        };
        if assemble {
            text.push_str(&answers::chunk_text(forwarded.value()));
            if let Some(usage) = forwarded.value().get("usage").filter(|usage| !usage.is_null()) {
                log.streamed_usage(usage);
            }
        }
        if let Err(gone) = send(&sender, events::data(forwarded.json()), write_timeout).await {
            break Err(gone);
        }
    };
    // Stop reading (and cancel) the upstream before the end hooks run.
    drop(chunks);
    if outcome.is_ok() {
        outcome = plugins.stream_end(&request, &text).await;
    }
    log.answered_text(text);
    plugins.release_unless(HookSet::default());
    match outcome {
        Ok(()) => {
            let _ = send(&sender, events::done(), write_timeout).await;
        }
        Err(error) => {
            let client_left = error.status == 499;
            let error = if client_left { error } else { plugins.post_call_failure(&request, error).await };
            if !client_left {
                // OpenAI's in-band error event, then the end of the stream.
                let _ = send(&sender, events::data(&error.body().to_string()), write_timeout).await;
                let _ = send(&sender, events::done(), write_timeout).await;
            }
            log.failed(&error);
        }
    }
    drop(sender);
    drop(admission);
    let (decisions, plugins) = plugins.finish(log.hook());
    logging.submit(log, decisions, plugins);
}

/// An upstream chunk as hooks read it. It is forwarded as it came, so it must mean to the
/// client what it meant to the hooks: a chunk that is not JSON (whose text the hooks could
/// not read) or has a duplicated key (which parsers read two ways) ends the stream. A
/// blank one holds nothing to read or hide.
fn parse(chunk: String) -> Result<Body, ApiError> {
    if chunk.trim().is_empty() {
        return Ok(Body::with_json(serde_json::Value::Null, chunk));
    }
    match crate::strict_json::from_str(&chunk, crate::strict_json::Limits::NONE) {
        Ok(value) => Ok(Body::with_json(value, chunk)),
        Err(error) => Err(ApiError::from(UpstreamError::new(
            502,
            "upstream_error",
            format!("the upstream sent a stream chunk the hooks cannot read as one JSON value: {error}"),
        ))),
    }
}

/// A complete stream of pre-made events (a `respond` answer), already closed.
pub(crate) fn canned(events: Vec<Bytes>) -> mpsc::Receiver<Bytes> {
    let (sender, receiver) = mpsc::channel(events.len().max(1));
    for event in events {
        sender.try_send(event).expect("the channel holds every event");
    }
    receiver
}

/// The time an upstream call took, beside its result.
///
/// The call's future (the HTTP client's) is boxed on the way in, so that running this
/// future beside the moderation hooks moves a pointer, not a copy of the call
/// (bench/instructions/count.sh).
pub(crate) fn timed<T>(call: impl std::future::Future<Output = T>) -> impl std::future::Future<Output = (T, Duration)> {
    let call = Box::pin(call);
    async move {
        let started = std::time::Instant::now();
        let result = call.await;
        (result, started.elapsed())
    }
}
