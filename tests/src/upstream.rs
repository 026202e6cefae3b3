//! Fake upstreams on 127.0.0.1 that a proxy (hookgate or LiteLLM) forwards to: a scripted
//! one ([`serve`]) whose every answer a test writes byte for byte, and an OpenAI-shaped
//! echo model ([`echo_chat`]) for comparing two proxies on the same answers.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Starts a fake upstream that answers each request with the raw HTTP response `answer`
/// returns for its JSON body (`Null` when the body is not JSON), one request per
/// connection. Returns its `api_base`: `http://127.0.0.1:<port>/v1`.
pub async fn serve(answer: impl Fn(Value) -> Vec<u8> + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = std::sync::Arc::clone(&answer);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = vec![0u8; 64 * 1024];
                // Read the head and a Content-Length body.
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    let body = &request[head_end + 4..];
                    if body.len() >= length {
                        let json = serde_json::from_slice(&body[..length]).unwrap_or(Value::Null);
                        let _ = socket.write_all(&answer(json)).await;
                        let _ = socket.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}/v1")
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
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    format!("{head}{events}").into_bytes()
}
