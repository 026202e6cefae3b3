//! Fake services on 127.0.0.1: upstreams that a proxy (hookgate or LiteLLM) forwards to,
//! a scripted one ([`serve`]) whose every answer a test writes byte for byte, and an
//! OpenAI-shaped echo model ([`echo_chat`]) for comparing two proxies on the same answers;
//! and recording stand-ins ([`StandIn`]) for the services plugins call out to.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Starts a fake upstream that answers each request with the raw HTTP response `answer`
/// returns for its JSON body (`Null` when the body is not JSON), one request per
/// connection. Returns its `api_base`: `http://127.0.0.1:<port>/v1`.
pub async fn serve(answer: impl Fn(Value) -> Vec<u8> + Send + Sync + 'static) -> String {
    let stand_in = StandIn::start(move |request: &Received| answer(request.json())).await;
    format!("{}/v1", stand_in.base)
}

/// A request a [`StandIn`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    /// The headers as sent, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A local stand-in for a service on 127.0.0.1 (an upstream, PagerDuty, a moderation
/// API) that records every request it receives and answers each with the raw HTTP
/// response its `answer` returns, one request per connection, after `delay`.
#[derive(Clone)]
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The port.
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl StandIn {
    /// A stand-in that answers at once.
    pub async fn start(answer: impl Fn(&Received) -> Vec<u8> + Send + Sync + 'static) -> Self {
        Self::start_after(std::time::Duration::ZERO, answer).await
    }

    /// A stand-in that waits `delay` before each answer (a slow or hanging service).
    pub async fn start_after(
        delay: std::time::Duration,
        answer: impl Fn(&Received) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let answer = std::sync::Arc::new(answer);
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (answer, log) = (std::sync::Arc::clone(&answer), std::sync::Arc::clone(&log));
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else { return };
                    log.lock().unwrap().push(request.clone());
                    tokio::time::sleep(delay).await;
                    let _ = socket.write_all(&answer(&request)).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { base: format!("http://{address}"), port: address.port(), received }
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request: the head and a `Content-Length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut request = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut start = lines.next().unwrap_or_default().split(' ');
        let (method, path) = (start.next().unwrap_or_default().to_owned(), start.next().unwrap_or_default().to_owned());
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse::<usize>().ok())
            .unwrap_or(0);
        let body = &request[head_end + 4..];
        if body.len() >= length {
            return Some(Received { method, path, headers, body: body[..length].to_vec() });
        }
    }
}

/// A whole HTTP/1.1 response with this status line's status, content type and body.
pub fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// A `chat/completions` model for [`serve`] that answers `echo: <the last message's
/// text>`, as one JSON body or, when the request asks to stream, one SSE event per word
/// (the last one with `finish_reason: stop` and the usage) and `[DONE]`. The answer's `model` is the
/// request's, so a proxy's routing shows; usage counts words.
pub fn echo_chat(request: Value) -> Vec<u8> {
    let model = request["model"].as_str().unwrap_or("unknown").to_owned();
    let asked = request["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .map(|message| match &message["content"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let text = format!("echo: {asked}");
    let prompt_tokens = request["messages"].to_string().split_whitespace().count();
    let completion_tokens = text.split_whitespace().count();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    if request["stream"] != json!(true) {
        let body = json!({
            "id": "chatcmpl-echo",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        });
        return http("200 OK", "application/json", body.to_string().as_bytes());
    }
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let mut events = String::new();
    for (index, word) in words.iter().enumerate() {
        let last = index + 1 == words.len();
        let delta = if index == 0 { json!({"role": "assistant", "content": word}) } else { json!({"content": word}) };
        let mut chunk = json!({
            "id": "chatcmpl-echo",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": if last { json!("stop") } else { Value::Null }}],
        });
        if last {
            chunk["usage"] = usage.clone();
        }
        events.push_str(&format!("data: {chunk}\n\n"));
    }
    events.push_str("data: [DONE]\n\n");
    event_stream(&events)
}

/// A whole event-stream response ([`event_stream`]) of chat chunks, each given as its
/// choice's `index`, `delta` and `finish_reason`, then `[DONE]`.
pub fn chat_chunks(chunks: &[(u64, Value, Value)]) -> Vec<u8> {
    let mut events = String::new();
    for (index, delta, finish) in chunks {
        let chunk = json!({"choices": [{"index": index, "delta": delta, "finish_reason": finish}]});
        events.push_str(&format!("data: {chunk}\n\n"));
    }
    events.push_str("data: [DONE]\n\n");
    event_stream(&events)
}

/// A whole HTTP/1.1 event-stream response carrying `events` (SSE text), ended by closing
/// the connection, as streaming upstreams answer.
pub fn event_stream(events: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{events}").into_bytes()
}
