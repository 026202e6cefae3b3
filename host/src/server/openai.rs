//! The OpenAI-compatible routes: chat and text completions, embeddings, models.
//!
//! A handler only turns HTTP into a [`ClientCall`] and the pipeline's answer back into
//! HTTP; the order of checks is auth, content type, size, then the body itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::admin::refuse_web_pages_without_keys;
use super::stamp::{Overhead, Stamp};
use super::AppState;
use crate::auth::{Crowded, CREDENTIAL_HEADERS};
use crate::error::ApiError;
use crate::pipeline::{self, disabling, request, Admission, ClientCall, Reply};
use crate::types::CallType;

pub use super::stamp::{OVERHEAD_HEADER, REQUEST_ID_HEADER};
pub use crate::error::REJECTED_BY_HEADER;

/// `POST /v1/chat/completions` and `POST /chat/completions`.
pub async fn chat_completions(State(state): State<Arc<AppState>>, request: Request) -> Response {
    serve(&state, CallType::ChatCompletion, request).await
}

/// `POST /v1/completions`.
pub async fn completions(State(state): State<Arc<AppState>>, request: Request) -> Response {
    serve(&state, CallType::TextCompletion, request).await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(state): State<Arc<AppState>>, request: Request) -> Response {
    serve(&state, CallType::Embedding, request).await
}

/// `GET /v1/models`: the models this caller may use.
pub async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let caller = state.keys.authenticate(&headers).map_err(|error| ApiError::new(401, error.to_string()))?;
    refuse_web_pages_without_keys(&state, &headers)?;
    let data: Vec<_> = state
        .pipeline
        .upstreams()
        .model_names()
        .into_iter()
        .filter(|model| caller.may_use(model))
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "hookgate"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

async fn serve(state: &AppState, call_type: CallType, http: Request) -> Response {
    let Stamp { id, received } = http.extensions().get::<Stamp>().cloned().unwrap_or_else(Stamp::now);
    let (mut response, model, upstream_time) = match prepare(state, call_type, http, &id, received).await {
        Ok(call) => {
            // A label for metrics: only configured names, so clients cannot mint series.
            let asked = call.body.model();
            let model = if state.pipeline.upstreams().knows(asked) { asked.to_owned() } else { "unknown".to_owned() };
            // Boxed where it starts: the lifecycle's future is nearly 8 KB (7,816 bytes,
            // measured in a release build), and inline it made this handler's future as
            // large, which the router boxes, and so copies, before the body is read.
            let answer = Box::pin(state.pipeline.handle(call)).await;
            let response = match answer.reply {
                Ok(reply) => reply_response(reply),
                Err(error) => error.into_response(),
            };
            (response, model, answer.upstream_time)
        }
        Err(error) => (error.into_response(), String::new(), Duration::ZERO),
    };
    let overhead = pipeline::overhead(received, upstream_time);
    state.pipeline.metrics().request(call_type.route(), &model, response.status().as_u16(), overhead);
    response.extensions_mut().insert(Overhead(overhead));
    response
}

/// Auth and body checks: everything before the first hook.
async fn prepare(
    state: &AppState,
    call_type: CallType,
    http: Request,
    id: &Arc<str>,
    received: Instant,
) -> Result<ClientCall, ApiError> {
    let (parts, body) = http.into_parts();
    let caller = state.keys.authenticate(&parts.headers).map_err(|error| ApiError::new(401, error.to_string()))?;
    refuse_web_pages_without_keys(state, &parts.headers)?;
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        let essence = content_type.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            let shown = crate::text::for_log(content_type.to_str().unwrap_or("?"), 100).into_owned();
            return Err(ApiError::new(415, format!("Content-Type must be application/json, not {shown:?}.")));
        }
    }
    let parallel = caller.admit().map_err(|crowded| {
        let (whose, limit) = match crowded {
            Crowded::Key(limit) => ("This key", limit),
            Crowded::Team(limit) => ("This key's team", limit),
        };
        ApiError {
            code: Some("max_parallel_requests".into()),
            retry_after: Some(1),
            ..ApiError::new(
                429,
                format!(
                    "{whose} already has {limit} requests in flight, its max_parallel_requests; retry when one ends."
                ),
            )
        }
    })?;
    let (bytes, memory) = read_body(state, &parts.headers, body, state.max_request_bytes).await?;
    let body = request::parse(call_type, &bytes, state.pipeline.body_rules())?;
    drop(bytes);
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !CREDENTIAL_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let disable = disabling::requested(&parts.headers);
    let admission = Admission { parallel, memory: Some(memory) };
    Ok(ClientCall { id: Arc::clone(id), call_type, body, headers, caller, disable, received, admission })
}

/// Reads the whole request body: at most `limit` bytes (413; `max_request_size_mb` for the
/// OpenAI routes) within the body-read timeout (408); a body whose framing is broken (a
/// bad chunk size) is a 400 that says so. Every route with a body reads it here, after its
/// auth: a body read before it, or without the timeout and the budget, is a way to hold
/// connections and memory without a key.
///
/// The body's share of `max_inflight_request_mb` is taken as its bytes arrive, and held
/// to the end of the request: when large requests already hold the budget, this one is
/// answered 503 instead of adding to the proxy's memory. Taken as they arrive, not by the
/// length a request declares: connections that declare large bodies and send nothing
/// would otherwise hold the whole budget, for the body-read timeout, at no cost.
pub(super) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let too_large = || ApiError::new(413, format!("The request body is larger than the limit of {limit} bytes."));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let overloaded = || ApiError {
        error_type: "service_unavailable".into(),
        code: Some("overloaded".into()),
        retry_after: Some(1),
        ..ApiError::new(
            503,
            "The proxy is holding as many large requests as it may (max_inflight_request_mb); retry shortly.",
        )
    };
    let kib = |bytes: usize| u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let mut memory = Arc::clone(&state.inflight).try_acquire_many_owned(1).map_err(|_| overloaded())?;
    let read = async {
        use http_body_util::BodyExt;
        let mut body = http_body_util::Limited::new(body, limit);
        // A body of one frame, the usual, is kept as it came; the frames of a longer one
        // are copied together as they come (a declared length is only a claim), so a
        // body sent a byte per chunk holds its bytes, not a handle per byte.
        let (mut first, mut joined) = (None::<Bytes>, bytes::BytesMut::new());
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| match error.is::<http_body_util::LengthLimitError>() {
                true => too_large(),
                false => ApiError::bad_request(format!(
                    "The request body could not be read: {}",
                    body_error(&*error as &(dyn std::error::Error + 'static))
                )),
            })?;
            let Ok(data) = frame.into_data() else { continue };
            match first.take() {
                None if joined.is_empty() => first = Some(data),
                earlier => {
                    joined.extend_from_slice(&earlier.unwrap_or_default());
                    joined.extend_from_slice(&data);
                }
            }
            let held = kib(first.as_ref().map_or(joined.len(), Bytes::len));
            let reserved = memory.num_permits() as u32;
            if held > reserved {
                let more =
                    Arc::clone(&state.inflight).try_acquire_many_owned(held - reserved).map_err(|_| overloaded())?;
                memory.merge(more);
            }
        }
        Ok::<Bytes, ApiError>(first.unwrap_or_else(|| joined.freeze()))
    };
    let timeout = state.body_read_timeout;
    let bytes = match tokio::time::timeout(timeout, read).await {
        Err(_) => {
            return Err(ApiError::new(
                408,
                format!("The request body did not arrive within {} s.", timeout.as_secs_f64()),
            ))
        }
        Ok(result) => result?,
    };
    Ok((bytes, memory))
}

/// The innermost cause of a body error, for the client.
fn body_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    crate::text::for_log(&innermost.to_string(), 200).into_owned()
}

fn reply_response(reply: Reply) -> Response {
    match reply {
        Reply::Json { body, headers } => {
            // The JSON text a hook already made is sent as it is; otherwise made now.
            let bytes = match body.json_if_made() {
                Some(json) => json.as_bytes().to_vec(),
                None => serde_json::to_vec(body.value()).expect("a JSON value serializes"),
            };
            let response = Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(bytes))
                .expect("static headers are valid");
            with_headers(response, &headers)
        }
        Reply::Stream { headers, events } => {
            let body = Body::from_stream(events.map(Ok::<_, std::convert::Infallible>));
            let response = Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(body)
                .expect("static headers are valid");
            with_headers(response, &headers)
        }
    }
}

/// Adds upstream and hook headers (already validated), never replacing the proxy's own.
fn with_headers(mut response: Response, headers: &[(String, String)]) -> Response {
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (header::HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) else {
            continue;
        };
        if !name.as_str().starts_with("x-hookgate-") {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
