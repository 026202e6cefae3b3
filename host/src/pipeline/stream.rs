//! Streamed answers: forwards each upstream chunk through the `stream-chunk` hooks to the
//! client as it arrives, then runs `stream-end` and the logging hooks.
//!
//! The stream is the response body itself ([`Events`]): the client connection's task
//! polls it, reads the next upstream chunk, runs the hooks and writes the event, so a
//! chunk costs that one task a wake-up. (A task of its own, writing into a channel the
//! body read, woke two tasks per chunk: BENCHMARKS.md, "Streams without a hop".) A client
//! that stops reading stops the stream with it, and the connection's write timeout
//! (`server::write_timeout`) drops a client that reads nothing for
//! `stream_write_timeout_seconds`. When the client goes away the connection drops the
//! body: the upstream stream is dropped, which cancels the upstream request, and
//! [`Ending`] logs the request as the client's departure (499).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::events;
use super::hook_runner::RequestPlugins;
use super::log_record::LogRecord;
use super::logging::LoggingQueue;
use crate::content::{json, Body, RequestDoc};
use crate::error::ApiError;
use crate::types::{Hook, HookSet};
use crate::upstream::answers::StreamedAnswer;
use crate::upstream::{ChunkStream, UpstreamError};

/// A streamed answer's SSE events, each item one or more complete events: the response
/// body, produced as the connection polls it.
pub type Events = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// Everything a streamed answer needs after the response head is sent.
pub(crate) struct StreamJob {
    pub plugins: RequestPlugins,
    pub request: RequestDoc,
    pub log: LogRecord,
    pub chunks: ChunkStream,
    pub logging: LoggingQueue,
    /// What the request holds (its key's place, its memory share): freed when the stream
    /// ends.
    pub admission: super::Admission,
    /// Whether the upstream was asked for a usage chunk the client did not ask for.
    pub usage_added: bool,
}

/// The body that forwards `job`'s stream.
pub(crate) fn events(job: StreamJob) -> Events {
    let outbox = Arc::new(Outbox::default());
    Box::pin(Forwarded { pump: Some(Box::pin(pump(job, Arc::clone(&outbox)))), outbox })
}

/// The one event the pump has made and the body has not yet handed to the connection.
#[derive(Default)]
struct Outbox(Mutex<Option<Bytes>>);

impl Outbox {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Bytes>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `event` to the connection, and returns once it has taken it: the pump goes
    /// on only when the connection asks for the next event.
    async fn send(&self, event: Bytes) {
        *self.slot() = Some(event);
        std::future::poll_fn(|_| if self.slot().is_none() { Poll::Ready(()) } else { Poll::Pending }).await
    }

    /// Hands `event` to the connection without waiting: the pump's last.
    fn send_last(&self, event: Bytes) {
        *self.slot() = Some(event);
    }
}

/// The pump, polled by the connection: each poll runs it until it has an event (or is
/// waiting for the upstream), then hands that event over.
struct Forwarded<F> {
    pump: Option<Pin<Box<F>>>,
    outbox: Arc<Outbox>,
}

impl<F: Future<Output = ()>> Stream for Forwarded<F> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        if let Some(pump) = &mut this.pump {
            if pump.as_mut().poll(cx).is_ready() {
                this.pump = None;
            }
        }
        // A pending pump with no event waits for the upstream (which wakes this task);
        // one with an event waits for it to be taken, which happens now.
        match this.outbox.slot().take() {
            Some(event) => Poll::Ready(Some(event)),
            None if this.pump.is_none() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

/// The client went away mid-stream: it closed the connection, or read nothing for the
/// write timeout and was dropped. Logged as the request's failure.
fn client_gone() -> ApiError {
    ApiError {
        error_type: "client_disconnected".into(),
        ..ApiError::new(
            499,
            "the client closed the connection mid-stream, or read nothing for stream_write_timeout_seconds and was dropped",
        )
    }
}

/// What a stream holds until it ends: its plugins' instances, its log record and its
/// admission. The pump ends it when the stream runs out; if the connection drops the
/// body first (the client left), dropping this ends it as the client's departure.
struct Ending {
    open: Option<Open>,
    logging: LoggingQueue,
    /// The answer as the client got it, for `stream-end` and logging.
    answer: StreamedAnswer,
}

/// What [`Ending`] gives back when the stream ends.
struct Open {
    plugins: RequestPlugins,
    log: LogRecord,
    admission: super::Admission,
}

impl Ending {
    /// Releases the instances and the admission, and submits the log record (with the
    /// logging hooks' instances), once.
    fn end(&mut self, error: Option<&ApiError>) {
        let Some(Open { mut plugins, mut log, admission }) = self.open.take() else { return };
        log.streamed(std::mem::take(&mut self.answer));
        if let Some(error) = error {
            log.failed(error);
        }
        plugins.release_unless(HookSet::default());
        drop(admission);
        let (decisions, plugins) = plugins.finish(log.hook());
        self.logging.submit(log, decisions, plugins);
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        // Still open: the connection dropped the body before the stream ran out.
        if self.open.is_some() {
            self.end(Some(&client_gone()));
        }
    }
}

async fn pump(job: StreamJob, outbox: Arc<Outbox>) {
    let StreamJob { plugins, request, log, mut chunks, logging, admission, usage_added } = job;
    let mut ending =
        Ending { open: Some(Open { plugins, log, admission }), logging, answer: StreamedAnswer::default() };
    let Ending { open, answer, .. } = &mut ending;
    let Open { plugins, log, .. } = open.as_mut().expect("the stream has not ended");
    // Chunks are parsed only for the hooks that read them: stream-chunk, and stream-end
    // and logging (the assembled answer and usage).
    let filter = plugins.implements(Hook::StreamChunk);
    let checks_streams = filter || plugins.implements(Hook::StreamEnd);
    let assemble = plugins.implements(Hook::StreamEnd) || plugins.logs();
    let mut outcome: Result<(), ApiError> = loop {
        let chunk = match chunks.next().await {
            None => break Ok(()),
            Some(Err(error)) => break Err(ApiError::from(error)),
            Some(Ok(chunk)) => chunk,
        };
        log.first_token();
        if !filter && !assemble {
            outbox.send(events::data(&chunk)).await;
            continue;
        }
        let parsed = match parse(chunk) {
            Ok(parsed) => Arc::new(parsed),
            Err(error) => break Err(error),
        };
        if checks_streams {
            if let Err(error) = one_choice(parsed.value()) {
                break Err(error);
            }
        }
        // The usage chunk the proxy asked for is the log's alone: no hook call, not
        // forwarded.
        if usage_added {
            if let Some(usage) = usage_only(parsed.value()) {
                log.streamed_usage(usage);
                continue;
            }
        }
        let forwarded = match filter {
            false => parsed,
            true => match plugins.stream_chunk(&request, parsed).await {
                // The chunk's tokens and their alternatives are text no hook read.
                Ok(Some(forwarded)) => match crate::content::without_logprobs(&forwarded) {
                    Some(body) => Arc::new(body),
                    None => forwarded,
                },
                Ok(None) => continue,
                Err(error) => break Err(error),
            },
        };
        if assemble {
            answer.push(forwarded.value());
            if let Some(usage) = json::get(forwarded.value(), "usage").filter(|usage| !usage.is_null()) {
                log.streamed_usage(usage);
            }
        }
        outbox.send(events::data(forwarded.json())).await;
    };
    // Stop reading (and cancel) the upstream before the end hooks run.
    drop(chunks);
    // The text is made only for stream-end: logging hooks take the whole answer.
    if outcome.is_ok() && plugins.implements(Hook::StreamEnd) {
        outcome = plugins.stream_end(&request, &answer.text()).await;
    }
    match outcome {
        Ok(()) => {
            ending.end(None);
            outbox.send_last(events::done());
        }
        Err(error) => {
            let error = plugins.post_call_failure(&request, error).await;
            // Logged as this failure even if the client leaves before it reads the error.
            ending.end(Some(&error));
            // OpenAI's in-band error event, then the end of the stream.
            outbox.send(events::data(&error.body().to_string())).await;
            outbox.send_last(events::done());
        }
    }
}

/// Whether a stream's upstream call asks for the usage chunk the client did not: logging
/// hooks get a stream's usage, and its cost, from it. Without it, a client could leave
/// `stream_options.include_usage` out and stream at no logged cost. The usage chunk is
/// then the proxy's, and is not forwarded (the other chunks may carry `"usage": null`).
pub(super) fn adds_usage(plugins: &RequestPlugins, request: &RequestDoc) -> bool {
    let options = json::field(request.fields(), "stream_options");
    let asked = options.and_then(|options| json::get(options, "include_usage"));
    plugins.logs() && asked != Some(&serde_json::Value::Bool(true))
}

/// The `usage` of a chunk that carries nothing else for a client: no choice.
fn usage_only(chunk: &serde_json::Value) -> Option<&serde_json::Value> {
    let usage = json::get(chunk, "usage").filter(|usage| !usage.is_null())?;
    let no_choice = json::get(chunk, "choices")
        .is_none_or(|choices| choices.is_null() || choices.as_array().is_some_and(Vec::is_empty));
    no_choice.then_some(usage)
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

/// While stream hooks run, the request asked for one choice (several are refused before
/// the upstream is called): a chunk with another (an `index` other than 0, several
/// choices in one chunk, `choices` that is not a list) is the upstream's doing. Hooks read
/// a chunk's choices by position and a client by `index`, so such a chunk would put two
/// answers together for the hooks and apart for the client.
fn one_choice(chunk: &serde_json::Value) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::from(UpstreamError::new(
            502,
            "upstream_error",
            format!("the upstream sent a stream chunk with {why}, where one choice was asked for"),
        )))
    };
    let Some(choices) = json::get(chunk, "choices").filter(|choices| !choices.is_null()) else {
        return Ok(());
    };
    let Some(choices) = choices.as_array() else {
        return refuse("`choices` that is not a list");
    };
    match choices.as_slice() {
        [] => Ok(()),
        [choice] => match json::get(choice, "index").filter(|index| !index.is_null()) {
            None => Ok(()),
            Some(index) if index.as_u64() == Some(0) => Ok(()),
            Some(_) => refuse("a choice other than the first"),
        },
        _ => refuse("several choices"),
    }
}

/// A complete stream of pre-made events (a `respond` answer).
pub(crate) fn canned(events: Vec<Bytes>) -> Events {
    Box::pin(futures_util::stream::iter(events))
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
