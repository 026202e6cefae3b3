//! The mock provider: OpenAI-shaped answers made up locally.
//!
//! It lets hookgate run, be demonstrated and be tested with no API key and no network,
//! while exercising the same paths as a real upstream: latency, streaming with a chunk
//! cadence, and errors.
//!
//! The answer's text is, most specific first: the request's `mock_response` field (as in
//! LiteLLM), the deployment's configured `response`, or an echo of the prompt.

use std::time::Duration;

use serde_json::{json, Value};

use super::answers::{self, word_count};
use super::{ChunkStream, UpstreamError, UpstreamResponse, UpstreamStream};
use crate::config::MockParams;
use crate::content::Body;
use crate::types::CallType;

/// How many dimensions the mock's embeddings have: enough to tell inputs apart.
const EMBEDDING_DIMENSIONS: usize = 8;

/// A deployment served by the mock.
#[derive(Debug)]
pub(super) struct MockProvider {
    params: MockParams,
}

impl MockProvider {
    /// A mock answering as `params` say.
    pub(super) fn new(params: MockParams) -> Self {
        MockProvider { params }
    }

    /// One non-streaming answer, after the configured latency.
    pub(super) async fn call(
        &self,
        call_type: CallType,
        body: &Value,
        model_name: &str,
    ) -> Result<UpstreamResponse, UpstreamError> {
        self.before_answering().await?;
        let model = requested_model(body, model_name);
        let body = match self.text_and_prompt_tokens(call_type, body) {
            Some((text, prompt_tokens)) => {
                answers::completion(call_type, &answer_id(call_type), model, &text, prompt_tokens)
            }
            None => embeddings(model, body)?,
        };
        Ok(UpstreamResponse { status: 200, body: Body::measured(body), headers: Vec::new() })
    }

    /// A streaming answer: the configured latency and error apply before the stream is
    /// returned, the chunk delay between its text pieces.
    pub(super) async fn stream(
        &self,
        call_type: CallType,
        body: &Value,
        model_name: &str,
        add_usage: bool,
    ) -> Result<UpstreamStream, UpstreamError> {
        self.before_answering().await?;
        let model = requested_model(body, model_name);
        let Some((text, prompt_tokens)) = self.text_and_prompt_tokens(call_type, body) else {
            return Err(UpstreamError::from_status(400, "embeddings cannot be streamed"));
        };
        let include_usage =
            add_usage || body.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
        let pieces = split_text(&text, self.params.stream_chunks);
        let usage = include_usage.then(|| answers::usage(prompt_tokens, word_count(&text)));
        let chunks = answers::chunks(call_type, &answer_id(call_type), model, &pieces, usage);
        // The chunk delay goes between text pieces: not before the first, nor around the
        // role, finish and usage chunks.
        let first_piece = usize::from(call_type == CallType::ChatCompletion);
        let paced_chunks = chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| (i > first_piece && i < first_piece + pieces.len(), chunk.to_string()))
            .collect();
        Ok(UpstreamStream { headers: Vec::new(), chunks: paced(paced_chunks, self.params.chunk_delay) })
    }

    /// Waits out the configured latency, then fails if the mock is configured to.
    async fn before_answering(&self) -> Result<(), UpstreamError> {
        if !self.params.latency.is_zero() {
            tokio::time::sleep(self.params.latency).await;
        }
        match &self.params.error {
            Some(e) => Err(UpstreamError::from_status(e.status, e.message.clone())),
            None => Ok(()),
        }
    }

    /// The answer's text and the request's prompt tokens; `None` for embeddings, which
    /// have no text answer.
    fn text_and_prompt_tokens(&self, call_type: CallType, body: &Value) -> Option<(String, u64)> {
        match call_type {
            CallType::ChatCompletion => Some((self.answer_text(body, chat_echo(body)), word_count_of_messages(body))),
            CallType::TextCompletion => Some((self.answer_text(body, prompt_echo(body)), word_count_of_prompt(body))),
            CallType::Embedding => None,
        }
    }

    /// The answer's text: the request's override, else the configured text, else `echo`.
    fn answer_text(&self, body: &Value, echo: String) -> String {
        if let Some(text) = body.get("mock_response").and_then(Value::as_str) {
            return text.to_string();
        }
        self.params.response.clone().unwrap_or(echo)
    }
}

/// The model the client asked for, which the mock reports back.
fn requested_model<'a>(body: &'a Value, model_name: &'a str) -> &'a str {
    body.get("model").and_then(Value::as_str).unwrap_or(model_name)
}

/// The text of the last user message: a string content, or its text parts joined.
fn chat_echo(body: &Value) -> String {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| messages.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default()
}

/// The text of a message content: a string, or the `text` of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

/// The prompt of a text completion: a string, or the first of an array of strings.
fn prompt_echo(body: &Value) -> String {
    match body.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(prompts)) => prompts.first().and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// The prompt tokens of a chat request: the words of every message's content.
fn word_count_of_messages(body: &Value) -> u64 {
    body.get("messages").and_then(Value::as_array).map_or(0, |messages| {
        messages.iter().filter_map(|m| m.get("content")).map(|c| word_count(&content_text(c))).sum()
    })
}

/// The prompt tokens of a text completion request: the words of every prompt string.
fn word_count_of_prompt(body: &Value) -> u64 {
    match body.get("prompt") {
        Some(Value::String(s)) => word_count(s),
        Some(Value::Array(prompts)) => prompts.iter().filter_map(Value::as_str).map(word_count).sum(),
        _ => 0,
    }
}

/// A fresh answer id for the mock: OpenAI's prefix, then `mock-` and a random part.
fn answer_id(call_type: CallType) -> String {
    answers::id(call_type, &format!("mock-{}", uuid::Uuid::new_v4().simple()))
}

/// An embeddings `list` with one vector per input string.
fn embeddings(model: &str, body: &Value) -> Result<Value, UpstreamError> {
    let inputs: Vec<&str> = match body.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => {
            items.iter().map(Value::as_str).collect::<Option<_>>().ok_or_else(bad_embedding_input)?
        }
        _ => return Err(bad_embedding_input()),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": embedding_of(text)}))
        .collect();
    let prompt_tokens: u64 = inputs.iter().map(|t| word_count(t)).sum();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }))
}

fn bad_embedding_input() -> UpstreamError {
    UpstreamError::from_status(400, "the mock embeds `input` given as a string or an array of strings")
}

/// A unit vector derived from `text` alone, so equal inputs embed equally (and caches or
/// similarity hooks can be tested) while different inputs almost surely differ.
fn embedding_of(text: &str) -> Vec<f64> {
    // FNV-1a seeds a splitmix64 sequence: tiny, stable across builds and platforms.
    let mut state =
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let raw: Vec<f64> = (0..EMBEDDING_DIMENSIONS)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // The top 53 bits as a fraction in [0, 1), stretched to [-1, 1).
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    raw.iter()
        // Six decimals keep the JSON short; the vector stays unit-length to ~1e-6.
        .map(|x| if norm > 0.0 { (x / norm * 1e6).round() / 1e6 } else { 0.0 })
        .collect()
}

/// Cuts `text` into the pieces a stream delivers.
///
/// Without `chunks`, one piece per word, each keeping the whitespace after it; with
/// `Some(n)`, `n` pieces of nearly equal length in chars (at most one per char). Either
/// way the pieces concatenate back to `text`, and an empty text has no pieces.
fn split_text(text: &str, chunks: Option<usize>) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let starts: Vec<usize> = match chunks {
        None => {
            // A piece starts at each word start, except the first (which takes any
            // leading whitespace along).
            let (mut in_word, mut seen_word) = (false, false);
            text.char_indices()
                .filter_map(|(i, c)| {
                    let starts_word = !c.is_whitespace() && !in_word;
                    let cut = starts_word && seen_word;
                    in_word = !c.is_whitespace();
                    seen_word |= in_word;
                    cut.then_some(i)
                })
                .collect()
        }
        Some(n) => {
            let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            let n = n.clamp(1, offsets.len());
            let (base, extra) = (offsets.len() / n, offsets.len() % n);
            // The first `extra` pieces get one more char.
            (1..n).map(|k| offsets[k * base + k.min(extra)]).collect()
        }
    };
    let mut pieces = Vec::with_capacity(starts.len() + 1);
    let mut from = 0;
    for start in starts {
        pieces.push(&text[from..start]);
        from = start;
    }
    pieces.push(&text[from..]);
    pieces
}

/// Streams `chunks`, sleeping `delay` before those marked for it. The sleeps are plain
/// futures of the stream, so dropping the stream cancels them.
fn paced(chunks: Vec<(bool, String)>, delay: Duration) -> ChunkStream {
    Box::pin(futures_util::stream::unfold(chunks.into_iter(), move |mut chunks| async move {
        let (delayed, chunk) = chunks.next()?;
        if delayed && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok(chunk), chunks))
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures_util::StreamExt;

    use super::*;
    use crate::config::MockError;

    fn params() -> MockParams {
        MockParams {
            response: None,
            latency: Duration::ZERO,
            stream_chunks: None,
            chunk_delay: Duration::ZERO,
            error: None,
        }
    }

    fn chat_body(content: Value) -> Value {
        json!({
            "model": "mock/echo",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "an earlier question"},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": content},
            ],
        })
    }

    async fn chat(params: MockParams, body: &Value) -> Value {
        MockProvider::new(params)
            .call(CallType::ChatCompletion, body, "configured-name")
            .await
            .unwrap()
            .body
            .into_value()
    }

    async fn chunks(params: MockParams, call_type: CallType, body: &Value) -> Vec<Value> {
        MockProvider::new(params)
            .stream(call_type, body, "configured-name", false)
            .await
            .unwrap()
            .chunks
            .map(|c| serde_json::from_str(&c.unwrap()).unwrap())
            .collect()
            .await
    }

    /// The streamed text of chat chunks, piece by piece.
    fn deltas(chunks: &[Value]) -> Vec<&str> {
        chunks
            .iter()
            .filter_map(|c| c.pointer("/choices/0/delta/content")?.as_str())
            .filter(|s| !s.is_empty())
            .collect()
    }

    #[tokio::test]
    async fn chat_echoes_the_last_user_message() {
        let body = chat(params(), &chat_body(json!("hello there world"))).await;
        assert_eq!(body["object"], "chat.completion");
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
        assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(body["model"], "mock/echo");
        assert_eq!(
            body["choices"],
            json!([{
                "index": 0,
                "message": {"role": "assistant", "content": "hello there world"},
                "logprobs": null,
                "finish_reason": "stop",
            }])
        );
        // Prompt: 2 + 3 + 2 + 3 words over all messages.
        assert_eq!(body["usage"], json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}));
    }

    #[tokio::test]
    async fn chat_echoes_text_parts() {
        let content = json!([
            {"type": "text", "text": "look "},
            {"type": "image_url", "image_url": {"url": "data:,"}},
            {"type": "text", "text": "here"},
        ]);
        let body = chat(params(), &chat_body(content)).await;
        assert_eq!(body["choices"][0]["message"]["content"], "look here");
    }

    #[tokio::test]
    async fn echo_of_nothing_is_empty() {
        let body = chat(params(), &json!({"messages": "not a list"})).await;
        assert_eq!(body["choices"][0]["message"]["content"], "");
        // Without a model in the body, the deployment's name stands in.
        assert_eq!(body["model"], "configured-name");
    }

    #[tokio::test]
    async fn fixed_response_and_per_request_override() {
        let fixed = MockParams { response: Some("fixed answer".into()), ..params() };
        let body = chat(fixed.clone(), &chat_body(json!("hi"))).await;
        assert_eq!(body["choices"][0]["message"]["content"], "fixed answer");

        let mut request = chat_body(json!("hi"));
        request["mock_response"] = json!("overridden");
        let body = chat(fixed, &request).await;
        assert_eq!(body["choices"][0]["message"]["content"], "overridden");
    }

    #[tokio::test]
    async fn text_completion_shape() {
        let body = MockProvider::new(params())
            .call(CallType::TextCompletion, &json!({"model": "m", "prompt": ["say this", "not this"]}), "m")
            .await
            .unwrap()
            .body
            .into_value();
        assert_eq!(body["object"], "text_completion");
        assert!(body["id"].as_str().unwrap().starts_with("cmpl-mock-"));
        assert_eq!(
            body["choices"],
            json!([{"text": "say this", "index": 0, "logprobs": null, "finish_reason": "stop"}])
        );
        assert_eq!(body["usage"], json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}));
    }

    #[tokio::test]
    async fn embeddings_are_deterministic() {
        let mock = MockProvider::new(params());
        let embed = |input: Value| {
            let body = json!({"model": "embed", "input": input});
            let mock = &mock;
            async move { mock.call(CallType::Embedding, &body, "embed").await.map(|r| r.body.into_value()) }
        };
        let body = embed(json!(["alpha", "beta", "alpha"])).await.unwrap();
        assert_eq!(body["object"], "list");
        assert_eq!(body["model"], "embed");
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        let vectors: Vec<&Value> = data.iter().map(|d| &d["embedding"]).collect();
        for (i, d) in data.iter().enumerate() {
            assert_eq!(d["object"], "embedding");
            assert_eq!(d["index"], i);
            let v = d["embedding"].as_array().unwrap();
            assert_eq!(v.len(), EMBEDDING_DIMENSIONS);
            let norm: f64 = v.iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
            assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
        }
        assert_eq!(vectors[0], vectors[2]);
        assert_ne!(vectors[0], vectors[1]);

        let single = embed(json!("alpha")).await.unwrap();
        assert_eq!(&single["data"][0]["embedding"], vectors[0]);
        assert_eq!(single["usage"]["prompt_tokens"], 1);

        let err = embed(json!([1, 2, 3])).await.unwrap_err();
        assert_eq!((err.status, err.error_type.as_str()), (400, "invalid_request_error"));
    }

    #[test]
    fn default_split_is_one_word_per_piece() {
        let text = "  The quick\tbrown  fox\n";
        let pieces = split_text(text, None);
        assert_eq!(pieces, ["  The ", "quick\t", "brown  ", "fox\n"]);
        assert_eq!(split_text("one", None), ["one"]);
        assert!(split_text("", None).is_empty());
        assert!(split_text("", Some(3)).is_empty());
    }

    #[test]
    fn split_into_n_nearly_equal_pieces() {
        let text = "h\u{e9}llo w\u{f6}rld!"; // 12 chars, multi-byte ones included
        for n in 1..=15 {
            let pieces = split_text(text, Some(n));
            assert_eq!(pieces.concat(), text);
            assert_eq!(pieces.len(), n.min(12));
            let lens: Vec<usize> = pieces.iter().map(|p| p.chars().count()).collect();
            let (min, max) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
            assert!(max - min <= 1, "{n}: {lens:?}");
        }
        assert_eq!(split_text("abcde", Some(2)), ["abc", "de"]);
        assert_eq!(split_text("abc", Some(0)), ["abc"]);
    }

    #[tokio::test]
    async fn chat_stream_chunks() {
        let all = chunks(params(), CallType::ChatCompletion, &chat_body(json!("one two  three"))).await;
        assert_eq!(all.len(), 5);
        let id = &all[0]["id"];
        assert!(id.as_str().unwrap().starts_with("chatcmpl-mock-"));
        for c in &all {
            assert_eq!(&c["id"], id);
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["model"], "mock/echo");
            assert!(c.get("usage").is_none());
        }
        assert_eq!(all[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas(&all), ["one ", "two  ", "three"]);
        let last = &all[4]["choices"][0];
        assert_eq!(last["delta"], json!({}));
        assert_eq!(last["finish_reason"], "stop");
        assert!(all[..4].iter().all(|c| c["choices"][0]["finish_reason"].is_null()));
    }

    #[tokio::test]
    async fn chat_stream_in_n_pieces_with_usage() {
        let p = MockParams { response: Some("abcdefg".into()), stream_chunks: Some(3), ..params() };
        let mut body = chat_body(json!("x"));
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let all = chunks(p, CallType::ChatCompletion, &body).await;
        assert_eq!(deltas(&all), ["abc", "de", "fg"]);
        assert_eq!(all.len(), 6);
        assert_eq!(all[4]["choices"][0]["finish_reason"], "stop");
        assert!(all[..5].iter().all(|c| c["usage"].is_null()));
        assert_eq!(all[5]["choices"], json!([]));
        assert_eq!(all[5]["usage"], json!({"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9}));
    }

    #[tokio::test]
    async fn text_completion_stream_chunks() {
        let body = json!({"model": "t", "prompt": "a b c"});
        let all = chunks(params(), CallType::TextCompletion, &body).await;
        assert_eq!(all.len(), 4);
        let texts: Vec<&str> = all.iter().map(|c| c["choices"][0]["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["a ", "b ", "c", ""]);
        for c in &all {
            assert_eq!(c["object"], "text_completion");
            assert!(c["id"].as_str().unwrap().starts_with("cmpl-mock-"));
        }
        assert_eq!(all[3]["choices"][0]["finish_reason"], "stop");
        assert!(all[2]["choices"][0]["finish_reason"].is_null());
    }

    #[tokio::test]
    async fn streaming_an_embedding_is_refused() {
        let err = MockProvider::new(params())
            .stream(CallType::Embedding, &json!({"input": "x"}), "m", false)
            .await
            .err()
            .unwrap();
        assert_eq!(err.status, 400);
        assert_eq!(err.error_type, "invalid_request_error");
    }

    #[tokio::test]
    async fn latency_and_chunk_delay_are_honoured() {
        let p = MockParams {
            response: Some("a b c".into()),
            latency: Duration::from_millis(150),
            chunk_delay: Duration::from_millis(50),
            ..params()
        };
        let mock = MockProvider::new(p);
        let started = Instant::now();
        mock.call(CallType::ChatCompletion, &json!({}), "m").await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150));

        let started = Instant::now();
        let mut stream = mock.stream(CallType::ChatCompletion, &json!({}), "m", false).await.unwrap().chunks;
        assert!(started.elapsed() >= Duration::from_millis(150));
        let mut n = 0;
        while stream.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 5);
        // Two delays: between the three words.
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[tokio::test]
    async fn configured_error_after_latency() {
        let p = MockParams {
            latency: Duration::from_millis(50),
            error: Some(MockError { status: 429, message: "slow down".into() }),
            ..params()
        };
        let mock = MockProvider::new(p);
        let started = Instant::now();
        let err = mock.call(CallType::ChatCompletion, &json!({}), "m").await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            err,
            UpstreamError {
                status: 429,
                error_type: "rate_limit_error".into(),
                message: "slow down".into(),
                code: None,
            }
        );
        let err = mock.stream(CallType::ChatCompletion, &json!({}), "m", false).await.err().unwrap();
        assert_eq!(err.status, 429);
    }
}
