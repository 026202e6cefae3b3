//! Server-sent events as OpenAI streams them: one `data:` event per chunk, then `[DONE]`.

use bytes::Bytes;

/// One SSE event carrying `data`.
pub fn data(data: &str) -> Bytes {
    // Three copies into one buffer of the right size: `format!` costs several times that
    // a chunk, going through `fmt`'s machinery (a `Display` call per argument, a string
    // that grows as it is written).
    let mut event = Vec::with_capacity(data.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(data.as_bytes());
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// The event that ends every stream.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}
