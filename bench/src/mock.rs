//! The mock upstream every scenario calls: an OpenAI-compatible `chat/completions` that
//! echoes the last user message, so a plugin's edit to the request shows in the answer.
//!
//! The model name picks the timing, so one mock serves every figure:
//! - `mock-instant`: answers at once; a stream's chunks follow each other without pause.
//! - `mock-20ms`: waits 20 ms before answering, like a fast real model.
//! - `mock-paced`: streams its chunks [`MockOptions::chunk_gap`] apart (the stall test).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// How long `mock-20ms` waits before it answers.
const UPSTREAM_DELAY: Duration = Duration::from_millis(20);

/// How the mock streams.
#[derive(Clone, Copy, Debug)]
pub struct MockOptions {
    /// Chunks per streamed answer.
    pub chunks: usize,
    /// The pause between chunks of `mock-paced`.
    pub chunk_gap: Duration,
}

/// Serves the mock on `listener` until the process ends.
pub async fn serve(listener: TcpListener, options: MockOptions) -> Result<()> {
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, options));
            // A client hanging up mid-stream is normal under load; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
        });
    }
}

/// Binds a loopback port (0: any free one) and says where, for the bench to read.
pub async fn bind(port: u16) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

type Body = BoxBody<Bytes, Infallible>;

async fn answer(request: Request<Incoming>, options: MockOptions) -> Result<Response<Body>, Infallible> {
    if request.method() != hyper::Method::POST || !request.uri().path().ends_with("/chat/completions") {
        return Ok(error(StatusCode::NOT_FOUND, "the mock serves only POST /v1/chat/completions"));
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(error(StatusCode::BAD_REQUEST, "could not read the body")),
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return Ok(error(StatusCode::BAD_REQUEST, "the body is not JSON"));
    };
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let (delay, gap) = match model.as_str() {
        "mock-instant" => (Duration::ZERO, Duration::ZERO),
        "mock-20ms" => (UPSTREAM_DELAY, Duration::ZERO),
        "mock-paced" => (Duration::ZERO, options.chunk_gap),
        _ => return Ok(error(StatusCode::NOT_FOUND, "unknown model: use mock-instant, mock-20ms or mock-paced")),
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let text = last_user_text(&body);
    let usage = usage(&body, &text);
    if body["stream"] == Value::Bool(true) {
        let with_usage = body["stream_options"]["include_usage"] == Value::Bool(true);
        return Ok(stream_answer(&model, &text, usage, with_usage, options.chunks, gap));
    }
    let completion = json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    });
    Ok(json_response(StatusCode::OK, &completion))
}

/// The text of the last user message (string content or text parts).
fn last_user_text(body: &Value) -> String {
    let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    messages
        .iter()
        .rev()
        .find(|message| message["role"] == "user")
        .map_or_else(String::new, |last| text_of(&last["content"]))
}

/// A message's text: string content, or its text parts joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// Token counts by words: plausible numbers, so cost plugins have something to price.
fn usage(body: &Value, answer: &str) -> Value {
    let prompt_words: usize = body["messages"]
        .as_array()
        .map(|messages| messages.iter().map(|m| text_of(&m["content"]).split_whitespace().count()).sum())
        .unwrap_or(0);
    let completion = answer.split_whitespace().count();
    json!({"prompt_tokens": prompt_words, "completion_tokens": completion, "total_tokens": prompt_words + completion})
}

/// The answer as server-sent events: the text in `chunks` pieces `gap` apart, a final
/// chunk with `finish_reason`, the usage if asked for, then `[DONE]`.
fn stream_answer(
    model: &str,
    text: &str,
    usage: Value,
    with_usage: bool,
    chunks: usize,
    gap: Duration,
) -> Response<Body> {
    let mut events: Vec<Bytes> = split(text, chunks)
        .into_iter()
        .enumerate()
        .map(|(index, piece)| {
            let delta =
                if index == 0 { json!({"role": "assistant", "content": piece}) } else { json!({"content": piece}) };
            event(&chunk(model, delta, Value::Null, None))
        })
        .collect();
    events.push(event(&chunk(model, json!({}), json!("stop"), None)));
    if with_usage {
        events.push(event(&chunk(model, Value::Null, Value::Null, Some(usage))));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let frames = stream::unfold((events.into_iter(), true), move |(mut rest, first)| async move {
        let next = rest.next()?;
        if !first && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        Some((Ok::<_, Infallible>(Frame::data(next)), (rest, false)))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .expect("static headers are valid")
}

fn chunk(model: &str, delta: Value, finish_reason: Value, usage: Option<Value>) -> Value {
    let choices =
        if delta.is_null() { json!([]) } else { json!([{"index": 0, "delta": delta, "finish_reason": finish_reason}]) };
    let mut chunk = json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": choices,
    });
    if let Some(usage) = usage {
        chunk["usage"] = usage;
    }
    chunk
}

fn event(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// `text` cut into `pieces` parts of about equal length, on character boundaries.
fn split(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let pieces = pieces.clamp(1, chars.len().max(1));
    let size = chars.len().div_ceil(pieces).max(1);
    let parts: Vec<String> = chars.chunks(size).map(|part| part.iter().collect()).collect();
    if parts.is_empty() {
        vec![String::new()]
    } else {
        parts
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(Full::new(Bytes::from(value.to_string()))))
        .expect("static headers are valid")
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({"error": {"message": message, "type": "invalid_request_error", "code": null}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_character_in_order() {
        let text = "Write to bob@example.com today, please.";
        let parts = split(text, 20);
        assert_eq!(parts.len(), 20);
        assert_eq!(parts.concat(), text);
        assert_eq!(split("ab", 20), vec!["a", "b"]);
        assert_eq!(split("", 5), vec![""]);
    }

    #[test]
    fn echoes_the_last_user_message() {
        let body = json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ]});
        assert_eq!(last_user_text(&body), "second");
        assert_eq!(usage(&body, "two words")["total_tokens"], 5);
    }
}
