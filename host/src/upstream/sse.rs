//! A small incremental Server-Sent Events parser: the `data:` payloads of a byte stream.
//!
//! It understands what OpenAI-compatible streams use: lines ending in `\n` or `\r\n`
//! (split anywhere across network chunks), `data:` fields (several in one event are joined
//! with `\n`), comments (`:`), a blank line ending an event, and `data: [DONE]` ending the
//! stream. Other fields (`event:`, `id:`, `retry:`) are ignored. Events are handed out as
//! soon as their blank line arrives; nothing is buffered beyond the event being read.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// The most an event may grow to (its data plus the unfinished line) before the stream is
/// abandoned: an upstream that never sends a newline must not exhaust memory.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The payload that ends an OpenAI stream.
const DONE: &str = "[DONE]";

/// Why the payload stream ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SseError<E> {
    /// Reading the underlying byte stream failed.
    #[error(transparent)]
    Transport(E),
    /// One event grew past [`MAX_EVENT_BYTES`].
    #[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
    EventTooLarge,
}

/// The `data` payload of each event in `bytes`, in order, ending at `[DONE]` or at the end
/// of `bytes`. The first error ends the stream.
pub(crate) fn data_payloads<S, E>(bytes: S) -> impl Stream<Item = Result<String, SseError<E>>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let state = State { bytes, parser: Parser::default(), ready: VecDeque::new(), ended: false };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(data) = st.ready.pop_front() {
                return Some((Ok(data), st));
            }
            if st.ended || st.parser.done {
                return None;
            }
            match st.bytes.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = st.parser.feed(&chunk, &mut st.ready) {
                        st.ended = true;
                        return Some((Err(e), st));
                    }
                }
                Some(Err(e)) => {
                    st.ended = true;
                    return Some((Err(SseError::Transport(e)), st));
                }
                None => {
                    st.parser.finish(&mut st.ready);
                    st.ended = true;
                }
            }
        }
    })
}

/// The state [`data_payloads`] carries between items.
struct State<S> {
    bytes: S,
    parser: Parser,
    /// Payloads parsed from the last network chunk and not yet handed out.
    ready: VecDeque<String>,
    ended: bool,
}

/// The parser proper, fed bytes as they arrive; knows nothing of streams.
#[derive(Debug, Default)]
struct Parser {
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The data of the event being read; `None` until its first `data:` line.
    data: Option<String>,
    /// `[DONE]` was seen: everything after it is ignored.
    done: bool,
}

impl Parser {
    /// Parses `chunk`, appending the payload of each event it completes to `out`.
    fn feed<E>(&mut self, chunk: &[u8], out: &mut VecDeque<String>) -> Result<(), SseError<E>> {
        let mut rest = chunk;
        while !self.done {
            let Some(newline) = memchr::memchr(b'\n', rest) else {
                break;
            };
            let (head, tail) = rest.split_at(newline);
            rest = &tail[1..];
            if self.line.is_empty() {
                self.line_ended(head, out);
            } else {
                // The line began in an earlier chunk.
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.line_ended(&line, out);
            }
        }
        if !self.done {
            self.line.extend_from_slice(rest);
            let pending = self.line.len() + self.data.as_ref().map_or(0, String::len);
            if pending > MAX_EVENT_BYTES {
                return Err(SseError::EventTooLarge);
            }
        }
        Ok(())
    }

    /// Handles the end of the input. Unlike the SSE spec, which drops an unfinished event,
    /// this delivers it: some servers close the stream right after the last `data:` line.
    fn finish(&mut self, out: &mut VecDeque<String>) {
        if self.done {
            return;
        }
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.line_ended(&line, out);
        }
        self.line_ended(b"", out);
    }

    /// Handles one complete line (without its `\n`).
    fn line_ended(&mut self, line: &[u8], out: &mut VecDeque<String>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // a comment, e.g. a keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field != b"data" {
            return;
        }
        // Payloads are JSON, which is UTF-8; a broken byte becomes U+FFFD and fails to parse
        // later, rather than failing here.
        // (`from_utf8` first: it checks ASCII a word at a time, the lossy walk a byte.)
        let value = match std::str::from_utf8(value) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        match &mut self.data {
            Some(data) => {
                data.push('\n');
                data.push_str(&value);
            }
            None => self.data = Some(value.into_owned()),
        }
    }

    /// Ends the current event, handing out its payload.
    fn dispatch(&mut self, out: &mut VecDeque<String>) {
        let Some(data) = self.data.take() else {
            return; // an event without data is no event
        };
        if data.trim() == DONE {
            self.done = true;
            self.line.clear();
        } else {
            out.push_back(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::stream;

    use super::*;

    /// Parses `chunks` as if they arrived one by one.
    async fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let chunks: Vec<Result<Bytes, Infallible>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        data_payloads(stream::iter(chunks)).map(|item| item.unwrap()).collect().await
    }

    /// Every way of cutting `input` into three chunks gives the same payloads.
    async fn parse_all_splits(input: &[u8]) -> Vec<String> {
        let whole = parse(&[input]).await;
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let parts = [&input[..i], &input[i..j], &input[j..]];
                assert_eq!(parse(&parts).await, whole, "split at {i} and {j}");
            }
        }
        whole
    }

    #[tokio::test]
    async fn events_split_anywhere() {
        let input = b"data: {\"a\":1}\n\ndata: {\"b\":\"\xc3\xa9\"}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n";
        assert_eq!(parse_all_splits(input).await, ["{\"a\":1}", "{\"b\":\"\u{e9}\"}"]);
    }

    #[tokio::test]
    async fn a_byte_that_is_not_utf8_becomes_the_replacement_character() {
        let input = b"data: {\"a\":\"\xff\"}\n\ndata: {\"b\":\"\xc3\xa9\"}\n\n";
        assert_eq!(parse_all_splits(input).await, ["{\"a\":\"\u{fffd}\"}", "{\"b\":\"\u{e9}\"}"]);
    }

    #[tokio::test]
    async fn multi_line_data_is_joined_with_newlines() {
        let input = b"data: first\r\ndata:second\ndata:  third\n\n";
        assert_eq!(parse_all_splits(input).await, ["first\nsecond\n third"]);
    }

    #[tokio::test]
    async fn comments_and_other_fields_are_ignored() {
        let input = b": hello\nevent: message\nid: 7\nretry: 10\ndata: x\n\n:\n\n";
        assert_eq!(parse_all_splits(input).await, ["x"]);
    }

    #[tokio::test]
    async fn done_ends_the_stream() {
        let input = b"data: 1\n\ndata: [DONE]\n\ndata: 2\n\n";
        assert_eq!(parse(&[input]).await, ["1"]);
        // The bytes after [DONE] are never asked for.
        let rest = stream::iter([Ok(Bytes::from_static(b"data: 1\n\ndata: [DONE]\n\n")), Err("must not be read")]);
        let got: Vec<_> = data_payloads(rest).collect().await;
        assert!(matches!(got.as_slice(), [Ok(one)] if one == "1"));
    }

    #[tokio::test]
    async fn unfinished_last_event_is_delivered() {
        assert_eq!(parse(&[b"data: 1\n\ndata: 2"]).await, ["1", "2"]);
        assert_eq!(parse(&[b"data: 1\n"]).await, ["1"]);
        assert!(parse(&[b"event: x\n"]).await.is_empty());
    }

    #[tokio::test]
    async fn events_are_handed_out_before_more_bytes_are_read() {
        let chunks = stream::iter([Ok(Bytes::from_static(b"data: 1\n\n")), Err("boom")]);
        let mut payloads = Box::pin(data_payloads(chunks));
        assert_eq!(payloads.next().await.unwrap().unwrap(), "1");
        assert!(matches!(payloads.next().await, Some(Err(SseError::Transport("boom")))));
        assert!(payloads.next().await.is_none());
    }

    #[tokio::test]
    async fn endless_line_is_refused() {
        let big = Bytes::from(vec![b'x'; MAX_EVENT_BYTES / 2 + 1]);
        let chunks = stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"data: ")), Ok(big.clone()), Ok(big)]);
        let got: Vec<_> = data_payloads(chunks).collect().await;
        assert!(matches!(got.as_slice(), [Err(SseError::EventTooLarge)]));
    }
}
