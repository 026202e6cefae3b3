//! Server-sent events as OpenAI streams them: one `data:` event per chunk, then `[DONE]`.

use bytes::Bytes;

/// One SSE event carrying `data`.
pub fn data(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// The event that ends every stream.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}
