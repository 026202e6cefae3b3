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
//! `post_call_success` the response's texts, and `stream_chunk` the texts each chunk adds,
//! with the stream's last normalized characters kept so that a keyword split across
//! chunks is still found. A rejection has the configured `status` (400 by default), code
//! `banned_keyword`, and the configured `message` or one naming the (normalized) keyword.

use hookgate_sdk::prelude::*;
use hookgate_sdk::text::{is_default_ignorable, is_white_space};
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
    /// Normalized, to match normalized text.
    keywords: Vec<String>,
    message: Option<String>,
    status: u16,
    /// The end of the stream so far, normalized: its last `longest` characters, so that
    /// a keyword split across two chunks is still found.
    tail: String,
    /// Characters in the longest (normalized) keyword.
    longest: usize,
}

#[hookgate_sdk::plugin]
impl Plugin for BannedKeywords {
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
        Ok(BannedKeywords {
            keywords,
            message: settings.message,
            status: settings.status,
            tail: String::new(),
            longest,
        })
    }

    fn pre_call(&mut self, req: &Request) -> Result<PreCall, Rejection> {
        // A reused instance (`instances: reuse`) starts each request's stream afresh.
        self.tail.clear();
        self.check_all(&req.texts(), "Request")?;
        Ok(PreCall::Proceed)
    }

    fn post_call_success(&mut self, _req: &Request, resp: &Response) -> Result<PostCall, Rejection> {
        self.check_all(&resp.texts(), "Response")?;
        Ok(PostCall::Proceed)
    }

    fn stream_chunk(&mut self, _ctx: &CallContext, chunk: &Chunk) -> Result<ChunkOutcome, Rejection> {
        let delta = chunk.texts().concat();
        if delta.is_empty() {
            return Ok(ChunkOutcome::Proceed);
        }
        // The tail is normalized already; normalizing it again with the delta joins a
        // keyword split across chunks. `normalize` trims: text that ends in white space
        // keeps one space, so that the next chunk's first word does not join this one's last.
        let text = std::mem::take(&mut self.tail) + &delta;
        let mut window = normalize(&text);
        if !window.is_empty() && ends_in_white_space(&text) {
            window.push(' ');
        }
        self.check(&window, "Response")?;
        // A keyword wholly in the tail was found already; keeping one character more than
        // `longest - 1` covers a split that normalization merges (`cafe` + U+0301 = `café`).
        let skip = window.chars().count().saturating_sub(self.longest);
        self.tail = window.chars().skip(skip).collect();
        Ok(ChunkOutcome::Proceed)
    }
}

/// Whether the last character of `text` that is not an invisible one is White_Space.
fn ends_in_white_space(text: &str) -> bool {
    text.chars().rev().find(|&c| !is_default_ignorable(c)).is_some_and(is_white_space)
}

impl BannedKeywords {
    fn check_all(&self, texts: &[String], what: &str) -> Result<(), Rejection> {
        texts.iter().try_for_each(|text| self.check(&normalize(text), what))
    }

    /// Rejects `text` (normalized) if it contains a keyword; `what` names its source.
    fn check(&self, text: &str, what: &str) -> Result<(), Rejection> {
        let Some(keyword) = self.keywords.iter().find(|k| text.contains(k.as_str())) else {
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
    use super::*;

    fn plugin(keywords: &str) -> BannedKeywords {
        BannedKeywords::new(Config::from(format!(r#"{{"keywords": {keywords}}}"#))).unwrap()
    }

    fn request(body: &str) -> Request {
        let key = KeyInfo { alias: None, hash: String::new(), user_id: None, team_id: None, metadata: "{}".into() };
        let call_type = CallType::ChatCompletion;
        Request { id: "r".into(), call_type, model: "m".into(), body: body.into(), headers: vec![], key }
    }

    /// The index of the chunk that was rejected, if any.
    fn stream(keywords: &str, pieces: &[&str]) -> Option<usize> {
        let mut plugin = plugin(keywords);
        let req = request("{}");
        let ctx = CallContext { id: req.id, call_type: req.call_type, model: req.model, key: req.key };
        pieces.iter().position(|piece| {
            let piece = hookgate_sdk::serde_json::to_string(piece).unwrap();
            let chunk = format!(r#"{{"choices": [{{"index": 0, "delta": {{"content": {piece}}}}}]}}"#);
            plugin.stream_chunk(&ctx, &Chunk::new(chunk)).is_err()
        })
    }

    #[test]
    fn matches_normalized_text_everywhere_the_model_reads() {
        let mut p = plugin(r#"["Secret Plan"]"#);
        for body in [
            r#"{"messages": [{"role": "user", "content": "the ｓｅｃｒｅｔ\u00a0PLAN"}]}"#,
            r#"{"messages": [{"role": "user", "content": "the se\u200bcret\n\tplan"}]}"#,
            r#"{"messages": [{"role": "user", "name": "secret plan", "content": "hi"}]}"#,
            r#"{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "description": "the secret plan"}}]}"#,
        ] {
            let rejection = p.pre_call(&request(body)).unwrap_err();
            assert_eq!((rejection.status, rejection.code.as_deref()), (400, Some("banned_keyword")), "{body}");
            assert_eq!(rejection.message, "Request contains a banned keyword: secret plan");
        }
        assert_eq!(
            p.pre_call(&request(r#"{"messages": [{"role": "user", "content": "s\u0435cret plan"}]}"#)),
            Ok(PreCall::Proceed)
        );
    }

    #[test]
    fn finds_keywords_split_across_chunks() {
        assert_eq!(stream(r#"["secret plan"]"#, &["the sec", "ret plan"]), Some(1));
        assert_eq!(stream(r#"["secret plan"]"#, &["the secret ", "\u{200b}", "plan"]), Some(2));
        assert_eq!(stream(r#"["secret plan"]"#, &["the SECRET\u{a0}", "ＰＬＡＮ"]), Some(1));
        assert_eq!(stream(r#"["secret plan"]"#, &["the secret", "plan"]), None);
        assert_eq!(stream(r#"["café"]"#, &["cafe", "\u{301}"]), Some(1));
        assert_eq!(stream(r#"["xy"]"#, &["x", "y"]), Some(1));
    }

    #[test]
    fn refuses_keywords_that_normalize_to_nothing() {
        assert!(BannedKeywords::new(Config::from(r#"{"keywords": ["\u{200b}"]}"#)).is_err());
    }
}
