//! Rejects requests and responses that mention a banned keyword.
//!
//! Texts and keywords are compared after [`normalize`] (NFKC, invisible characters
//! removed, whitespace runs as one space, lower-cased), so `SECRET PLAN`,
//! `secret<NBSP>plan`, fullwidth `ｓｅｃｒｅｔ plan` and `se<ZWSP>cret plan` all match the
//! keyword `secret plan`. Look-alike letters from other scripts are not folded.
//!
//! Config:
//!
//! ```json
//! {"keywords": ["forbidden", "secret plan"], "message": "optional text", "status": 400}
//! ```
//!
//! `pre_call` checks every text of the request the model reads ([`Request::texts`]:
//! message contents and names, tool calls, tool and schema descriptions, prompts, ...),
//! a content's text parts also joined (the model reads them as one text),
//! `post_call_success` the response's texts, and `stream_chunk` the texts each chunk adds,
//! with the stream's last normalized characters kept so that a keyword split across
//! chunks is still found. While streaming it also holds the end of the answer back
//! ([`HoldBack`], twice the longest keyword), so a keyword split across chunks is
//! refused before any of it reaches the client. A rejection has the configured `status`
//! (400 by default), code `banned_keyword`, and the configured `message` or one naming
//! the (normalized) keyword.
//!
//! The plugin reads texts through the host's view of the request: it has no JSON parser
//! of its own for bodies.

use hookgate_sdk::prelude::*;
use hookgate_sdk::text::{is_default_ignorable, is_white_space};
use hookgate_sdk::Text;
use memchr::memmem::Finder;
use serde::{de::Error as _, Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(deserialize_with = "keyword_list")]
    keywords: Vec<String>,
    message: Option<String>,
    #[serde(default = "bad_request")]
    status: u16,
}

fn bad_request() -> u16 {
    400
}

/// A non-empty list of non-empty strings, with an error that names the field (serde's
/// own would only say "expected a string").
fn keyword_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let invalid = || D::Error::custom("`keywords` must be a non-empty list of non-empty strings");
    let keywords = Vec::<String>::deserialize(deserializer).map_err(|_| invalid())?;
    if keywords.is_empty() || keywords.iter().any(|k| k.trim().is_empty()) {
        return Err(invalid());
    }
    Ok(keywords)
}

struct BannedKeywords {
    /// Normalized, to match normalized text, each with its searcher (linear in the text
    /// searched, whatever a client sends).
    keywords: Vec<(String, Finder<'static>)>,
    message: Option<String>,
    status: u16,
    /// Characters in the longest (normalized) keyword.
    longest: usize,
}

/// One streamed answer's state.
#[derive(Default)]
struct Stream {
    /// The end of the stream so far, normalized: its last `longest` characters, so that
    /// a keyword split across two chunks is still found.
    tail: String,
    /// The answer text not yet sent.
    hold: Option<HoldBack>,
}

#[hookgate_sdk::plugin]
impl Plugin for BannedKeywords {
    type Ctx = Stream;

    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if !(400..=499).contains(&settings.status) {
            return Err(format!("invalid config: `status` must be a 4xx HTTP status, not {}", settings.status));
        }
        let keywords: Vec<String> = settings.keywords.iter().map(|k| normalize(k)).collect();
        if keywords.iter().any(String::is_empty) {
            return Err("invalid config: `keywords` must be a non-empty list of non-empty strings".into());
        }
        let longest = keywords.iter().map(|k| k.chars().count()).max().unwrap_or(0);
        let keywords = keywords
            .into_iter()
            .map(|keyword| {
                let finder = Finder::new(&keyword).into_owned();
                (keyword, finder)
            })
            .collect();
        Ok(BannedKeywords { keywords, message: settings.message, status: settings.status, longest })
    }

    fn pre_call(&self, _ctx: &mut Stream, req: &Request) -> HookResult<PreCall> {
        self.check_all(&req.texts(), "Request")?;
        Ok(PreCall::Proceed)
    }

    fn post_call_success(&self, _ctx: &mut Stream, _req: &Request, resp: &Response) -> HookResult<()> {
        self.check_all(&resp.texts(), "Response")?;
        Ok(())
    }

    fn stream_chunk(&self, stream: &mut Stream, _req: &Request, chunk: &Chunk) -> HookResult<ChunkOutcome> {
        let delta: String = chunk.texts().iter().map(|text| text.text.as_str()).collect();
        if !delta.is_empty() {
            // The tail is normalized already; normalizing it again with the delta joins a
            // keyword split across chunks. `normalize` trims: text that ends in white space
            // keeps one space, so that the next chunk's first word does not join this one's last.
            let text = std::mem::take(&mut stream.tail) + &delta;
            let mut window = normalize(&text);
            if !window.is_empty() && ends_in_white_space(&text) {
                window.push(' ');
            }
            self.check(&window, "Response")?;
            // A keyword wholly in the tail was found already; keeping one character more than
            // `longest - 1` covers a split that normalization merges (`cafe` + U+0301 = `café`).
            let skip = window.chars().count().saturating_sub(self.longest);
            stream.tail = window.chars().skip(skip).collect();
        }
        // Send only what cannot be the start of a keyword still arriving.
        stream.hold.get_or_insert_with(|| HoldBack::new(2 * self.longest)).apply(chunk)?;
        Ok(ChunkOutcome::Proceed)
    }
}

/// The texts of each content made of several parts (`.../content/<n>/text` or
/// `/refusal`), in order: a client can split `secret plan` into the parts `the secret`
/// and ` plan`, which no text holds alone.
fn content_part_runs(texts: &[Text]) -> Vec<Vec<&str>> {
    fn content_of(text: &Text) -> Option<&str> {
        let part = text.path.strip_suffix("/text").or_else(|| text.path.strip_suffix("/refusal"))?;
        let (content, index) = part.rsplit_once('/')?;
        (content.ends_with("/content") && index.bytes().all(|b| b.is_ascii_digit())).then_some(content)
    }
    let mut runs: Vec<(&str, Vec<&str>)> = Vec::new();
    for text in texts {
        let Some(content) = content_of(text) else { continue };
        match runs.last_mut() {
            Some((last, parts)) if *last == content => parts.push(&text.text),
            _ => runs.push((content, vec![&text.text])),
        }
    }
    runs.into_iter().filter(|(_, parts)| parts.len() > 1).map(|(_, parts)| parts).collect()
}

/// Whether the last character of `text` that is not an invisible one is White_Space.
fn ends_in_white_space(text: &str) -> bool {
    text.chars().rev().find(|&c| !is_default_ignorable(c)).is_some_and(is_white_space)
}

impl BannedKeywords {
    fn check_all(&self, texts: &[Text], what: &str) -> Result<(), Rejection> {
        texts.iter().try_for_each(|text| self.check(&normalize(text), what))?;
        // The model reads a message's text parts as one text, joined back to back or with
        // a line break: a phrase split across them is checked joined both ways.
        for parts in content_part_runs(texts) {
            for separator in ["", " "] {
                self.check(&normalize(&parts.join(separator)), what)?;
            }
        }
        Ok(())
    }

    /// Rejects `text` (normalized) if it contains a keyword; `what` names its source.
    fn check(&self, text: &str, what: &str) -> Result<(), Rejection> {
        let Some((keyword, _)) = self.keywords.iter().find(|(_, finder)| finder.find(text.as_bytes()).is_some()) else {
            return Ok(());
        };
        let message = match &self.message {
            Some(message) => message.clone(),
            None => format!("{what} contains a banned keyword: {keyword}"),
        };
        Err(Rejection::new(self.status, message).with_code("banned_keyword"))
    }
}

#[cfg(test)]
mod tests {
    use hookgate_sdk::serde_json::json;

    use super::*;

    fn plugin(keywords: &str) -> BannedKeywords {
        BannedKeywords::new(Config::from(format!(r#"{{"keywords": {keywords}}}"#))).unwrap()
    }

    /// Streams `pieces` as chat chunks (then a finish chunk): the index of the chunk that
    /// was rejected, if any, and the text that was forwarded before it.
    fn stream(keywords: &str, pieces: &[&str]) -> (Option<usize>, String) {
        let plugin = plugin(keywords);
        let mut ctx = Stream::default();
        let req = Request::local(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let mut sent = String::new();
        let chunks = pieces
            .iter()
            .map(|piece| json!({"choices": [{"index": 0, "delta": {"content": piece}}]}))
            .chain([json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})]);
        for (index, chunk) in chunks.enumerate() {
            let chunk = Chunk::local(chunk);
            if plugin.stream_chunk(&mut ctx, &req, &chunk).is_err() {
                return (Some(index), sent);
            }
            sent.push_str(&chunk.text().unwrap_or_default());
        }
        (None, sent)
    }

    fn rejection(result: HookResult<PreCall>) -> Rejection {
        match result {
            Err(HookError::Reject(rejection)) => rejection,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_phrase_split_across_text_parts_is_found() {
        let p = plugin(r#"["secret plan", "forbidden"]"#);
        for parts in [json!(["tell me the secret", " plan"]), json!(["the secret ", "plan"]), json!(["forb", "idden"])]
        {
            let parts: Vec<_> =
                parts.as_array().unwrap().iter().map(|text| json!({"type": "text", "text": text})).collect();
            let req = Request::local(json!({"messages": [{"role": "user", "content": parts}]}));
            rejection(p.pre_call(&mut Stream::default(), &req));
        }
        // Two messages are two texts: the model reads them apart.
        let req = Request::local(json!({"messages": [{"role": "user", "content": "the secret"},
                                                     {"role": "user", "content": "plan"}]}));
        assert!(p.pre_call(&mut Stream::default(), &req).is_ok());
    }

    #[test]
    fn matches_normalized_text_everywhere_the_model_reads() {
        let p = plugin(r#"["Secret Plan"]"#);
        for body in [
            json!({"messages": [{"role": "user", "content": "the ｓｅｃｒｅｔ\u{a0}PLAN"}]}),
            json!({"messages": [{"role": "user", "content": "the se\u{200b}cret\n\tplan"}]}),
            json!({"messages": [{"role": "user", "name": "secret plan", "content": "hi"}]}),
            json!({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "description": "the secret plan"}}]}),
        ] {
            let rejection = rejection(p.pre_call(&mut Stream::default(), &Request::local(body.clone())));
            assert_eq!((rejection.status, rejection.code.as_deref()), (400, Some("banned_keyword")), "{body}");
            assert_eq!(rejection.message, "Request contains a banned keyword: secret plan");
        }
        let cyrillic = Request::local(json!({"messages": [{"role": "user", "content": "s\u{435}cret plan"}]}));
        assert_eq!(p.pre_call(&mut Stream::default(), &cyrillic), Ok(PreCall::Proceed));
    }

    #[test]
    fn finds_keywords_split_across_chunks() {
        assert_eq!(stream(r#"["secret plan"]"#, &["the sec", "ret plan"]).0, Some(1));
        assert_eq!(stream(r#"["secret plan"]"#, &["the secret ", "\u{200b}", "plan"]).0, Some(2));
        assert_eq!(stream(r#"["secret plan"]"#, &["the SECRET\u{a0}", "ＰＬＡＮ"]).0, Some(1));
        assert_eq!(stream(r#"["secret plan"]"#, &["the secret", "plan"]).0, None);
        assert_eq!(stream(r#"["café"]"#, &["cafe", "\u{301}"]).0, Some(1));
        assert_eq!(stream(r#"["xy"]"#, &["x", "y"]).0, Some(1));
    }

    #[test]
    fn no_part_of_a_split_keyword_reaches_the_client() {
        let (rejected, sent) = stream(r#"["secret plan"]"#, &["Here is the sec", "ret plan in full"]);
        assert_eq!(rejected, Some(1));
        assert!(!sent.contains("sec"), "held back until checked: {sent:?}");
    }

    #[test]
    fn a_clean_stream_arrives_whole_despite_the_hold_back() {
        let pieces = ["The weather ", "is fine ", "today, ", "with some sun."];
        let (rejected, sent) = stream(r#"["secret plan"]"#, &pieces);
        assert_eq!(rejected, None);
        assert_eq!(sent, pieces.concat(), "everything held back is released by the finish chunk");
    }

    #[test]
    fn refuses_keywords_that_normalize_to_nothing() {
        assert!(BannedKeywords::new(Config::from(r#"{"keywords": ["\u{200b}"]}"#)).is_err());
    }
}
