//! Rejects requests and responses that mention a banned keyword, case-insensitively.
//!
//! Config:
//!
//! ```json
//! {"keywords": ["forbidden", "secret plan"], "message": "optional text", "status": 400}
//! ```
//!
//! `pre_call` checks the request's texts, `post_call_success` the response's, and
//! `stream_chunk` each streamed delta. A rejection has the configured `status` (400 by
//! default), code `banned_keyword`, and the configured `message` or one naming the
//! keyword.

use hookgate_sdk::prelude::*;
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
    /// Lower-cased, to match lower-cased text.
    keywords: Vec<String>,
    message: Option<String>,
    status: u16,
    /// The end of the stream so far: the last `longest - 1` characters, lower-cased, so
    /// that a keyword split across two chunks is still found.
    tail: String,
    /// Characters in the longest keyword.
    longest: usize,
}

#[hookgate_sdk::plugin]
impl Plugin for BannedKeywords {
    fn new(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if !(400..=499).contains(&settings.status) {
            return Err(format!("invalid config: `status` must be a 4xx HTTP status, not {}", settings.status));
        }
        let keywords: Vec<String> = settings.keywords.iter().map(|k| k.to_lowercase()).collect();
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
        let Some(delta) = chunk.delta_text() else {
            return Ok(ChunkOutcome::Proceed);
        };
        let window = std::mem::take(&mut self.tail) + &delta.to_lowercase();
        self.check(&window, "Response")?;
        let keep = self.longest - 1;
        let skip = window.chars().count().saturating_sub(keep);
        self.tail = window.chars().skip(skip).collect();
        Ok(ChunkOutcome::Proceed)
    }
}

impl BannedKeywords {
    fn check_all(&self, texts: &[String], what: &str) -> Result<(), Rejection> {
        texts.iter().try_for_each(|text| self.check(&text.to_lowercase(), what))
    }

    /// Rejects `text` (lower-cased) if it contains a keyword; `what` names its source.
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
