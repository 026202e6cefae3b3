//! The vocabulary every part of the crate shares: what a request is for (its endpoint and
//! its caller), the hooks, the errors hooks observe, and content hashes.
//!
//! A leaf: it depends on nothing else in the crate, so the server, the pipeline, the
//! upstreams, the runtime and the metrics can all use it without depending on each other.
//! The plugin contracts' generated types convert from these at the sandbox's edge
//! (`plugins::contract`).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

/// The OpenAI-compatible endpoint a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallType {
    /// `POST /v1/chat/completions` (and `/chat/completions`).
    ChatCompletion,
    /// `POST /v1/completions`.
    TextCompletion,
    /// `POST /v1/embeddings`.
    Embedding,
}

impl CallType {
    /// The name in logs, metrics and the logging payload: `chat_completion`,
    /// `text_completion`, `embedding` (LiteLLM's spelling).
    pub fn name(self) -> &'static str {
        match self {
            CallType::ChatCompletion => "chat_completion",
            CallType::TextCompletion => "text_completion",
            CallType::Embedding => "embedding",
        }
    }

    /// The route, as the metrics' `route` label and the trace's span name say it.
    pub fn route(self) -> &'static str {
        match self {
            CallType::ChatCompletion => "chat/completions",
            CallType::TextCompletion => "completions",
            CallType::Embedding => "embeddings",
        }
    }
}

impl fmt::Display for CallType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who is calling, as hooks and logs may know it: never the raw key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's alias from the config; `master` for the master key.
    pub alias: Option<String>,
    /// The key's id: lower-case hex HMAC-SHA256 of the raw key under the server's secret.
    pub id: String,
    /// The user id configured for the key.
    pub user_id: Option<String>,
    /// The team id configured for the key.
    pub team_id: Option<String>,
    /// The key's metadata from the config, as JSON text of an object (`{}` when none).
    pub metadata: String,
}

/// An HTTP header as (name, value); names lower-case.
pub type Header = (String, String);

/// What every hook of one request is told about it; created once per request.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The request id the proxy generated (`x-hookgate-request-id`); never repeats.
    pub id: Arc<str>,
    /// The endpoint.
    pub call_type: CallType,
    /// The caller, shared with the key store.
    pub key: Arc<KeyInfo>,
    /// Whether the client asked for a streamed answer.
    pub stream: bool,
    /// The context as a plugin contract passes it to hooks, made from the fields above on
    /// the request's first hook call (`plugins::contract`); start it empty.
    pub lowered: PerRequest,
}

/// Something made from a [`CallInfo`] on the first hook call of its request and lent to
/// the others: building the context each call copied its strings again, some 1,000
/// instructions a hook call. Type-erased, so that this module stays a leaf.
///
/// A clone starts empty, so a copy changed after cloning never carries what was made from
/// the original; a [`CallInfo`] is not changed in place once hooks have seen it.
#[derive(Default)]
pub struct PerRequest(OnceLock<Box<dyn Any + Send + Sync>>);

impl PerRequest {
    /// What `make` makes, made on the first call; `None` if a value of another type was
    /// made first.
    pub fn get_or_make<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref()
    }
}

impl Clone for PerRequest {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl fmt::Debug for PerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() { "PerRequest(made)" } else { "PerRequest(empty)" })
    }
}

/// An error on its way to the client, as `post-call-failure` hooks and the logging hooks
/// see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status the client gets.
    pub status: u16,
    /// The OpenAI error type, e.g. `invalid_request_error`.
    pub error_type: String,
    /// The error message.
    pub message: String,
    /// The error code, if any.
    pub code: Option<String>,
    /// The plugin that rejected the request, when one did.
    pub rejected_by: Option<String>,
}

/// Token counts an upstream reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
}

impl Usage {
    /// The `usage` object of an OpenAI answer, when it has the three counts.
    pub fn from_json(usage: &serde_json::Value) -> Option<Self> {
        let count = |name: &str| usage.get(name).and_then(serde_json::Value::as_u64);
        Some(Self {
            prompt_tokens: count("prompt_tokens").unwrap_or(0),
            completion_tokens: count("completion_tokens").unwrap_or(0),
            total_tokens: count("total_tokens")?,
        })
    }
}

/// What one plugin decided at one hook of a request, for the logging hooks. Stream chunks
/// with the same decision are folded into one record with a call count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionRecord {
    /// The plugin.
    pub plugin: String,
    /// The hook.
    pub hook: &'static str,
    /// `proceed`, `modify`, `respond`, `reject`, `replace` (a chunk), `drop`, `fault:<kind>`,
    /// `overloaded` or `quarantined`.
    pub decision: &'static str,
    /// For a fault: whom it was charged to (`plugin`, `input`, `load` or `outside`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// Calls folded into this record.
    pub calls: u32,
    /// When the (first) call started, in milliseconds since the request arrived.
    pub started_ms: f64,
    /// Time spent in those calls, in milliseconds.
    pub elapsed_ms: f64,
}

/// What the logging hooks are told about a finished request besides its content.
#[derive(Debug, Clone, Default)]
pub struct LogEntry {
    /// The model the client asked for.
    pub model: String,
    /// The model sent upstream, once one was chosen.
    pub model_used: Option<String>,
    /// The upstream's base URL (`None` for the mock provider).
    pub api_base: Option<String>,
    /// The body's `user` field, if the client sent one.
    pub end_user: Option<String>,
    /// The HTTP status the client got.
    pub status_code: u16,
    /// Token usage, when the upstream reported it.
    pub usage: Option<Usage>,
    /// Cost in USD from the model's prices and `usage`.
    pub response_cost: Option<f64>,
    /// Unix time in seconds the request arrived.
    pub start_time: f64,
    /// Unix time in seconds the answer was complete.
    pub end_time: f64,
    /// Unix time in seconds of the first token.
    pub completion_start_time: Option<f64>,
    /// The error the client got, on failure.
    pub failure: Option<Failure>,
    /// Every plugin decision of the request, in order.
    pub decisions: Vec<DecisionRecord>,
    /// `request` and/or `response` when that content was cut for logging.
    pub truncated: Vec<&'static str>,
}

/// OpenAI's error type for an HTTP status, for errors that did not come with one of their
/// own (`429` → `rate_limit_error`).
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// SHA-256 of some bytes: identifies a plugin version and keys the artifact cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The hash written as 64 lowercase or uppercase hex digits; `None` otherwise.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// `sha256:<hex>`, the way OCI and the trust allow-list write a digest.
    pub fn parse_digest(text: &str) -> Option<Self> {
        Self::from_hex(text.strip_prefix("sha256:")?)
    }

    /// `sha256:<hex>`.
    pub fn digest_string(&self) -> String {
        format!("sha256:{self}")
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// One lifecycle hook of the plugin contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Before the upstream call, sequential by priority.
    PreCall,
    /// Concurrently with the upstream call.
    Moderation,
    /// After a successful non-streaming upstream call.
    PostCallSuccess,
    /// After an upstream or proxy error.
    PostCallFailure,
    /// Once per streamed chunk.
    StreamChunk,
    /// Once at the end of a stream.
    StreamEnd,
    /// Off the response path, after a success.
    LogSuccess,
    /// Off the response path, after a failure.
    LogFailure,
}

impl Hook {
    /// Every hook, in lifecycle order.
    pub const ALL: [Hook; 8] = [
        Hook::PreCall,
        Hook::Moderation,
        Hook::PostCallSuccess,
        Hook::PostCallFailure,
        Hook::StreamChunk,
        Hook::StreamEnd,
        Hook::LogSuccess,
        Hook::LogFailure,
    ];

    /// The hook's WIT name, e.g. `pre-call`: used in logs, metrics and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            Hook::PreCall => "pre-call",
            Hook::Moderation => "moderation",
            Hook::PostCallSuccess => "post-call-success",
            Hook::PostCallFailure => "post-call-failure",
            Hook::StreamChunk => "stream-chunk",
            Hook::StreamEnd => "stream-end",
            Hook::LogSuccess => "log-success",
            Hook::LogFailure => "log-failure",
        }
    }

    /// Parses a WIT hook name such as `pre-call`.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.name() == name)
    }

    /// True for the hooks whose outcome decides what the client gets (they may refuse
    /// the request or the response): a check that fails there must not let it through.
    /// Observers (`post-call-failure`, the logging hooks) never hold a response back.
    pub fn guards(self) -> bool {
        matches!(self, Hook::PreCall | Hook::Moderation | Hook::PostCallSuccess | Hook::StreamChunk | Hook::StreamEnd)
    }

    /// The hook's position in [`Hook::ALL`], for per-hook tables.
    pub fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of hooks: those a plugin implements (read from its exports), or those still to
/// come on a request.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct HookSet(u16);

impl HookSet {
    /// True when the set contains `hook`.
    pub fn contains(self, hook: Hook) -> bool {
        self.0 & hook.bit() != 0
    }

    /// Adds `hook` to the set.
    pub fn insert(&mut self, hook: Hook) {
        self.0 |= hook.bit();
    }

    /// The hooks in the set, in lifecycle order.
    pub fn iter(self) -> impl Iterator<Item = Hook> {
        Hook::ALL.into_iter().filter(move |hook| self.contains(*hook))
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set with `hook` added.
    pub fn with(mut self, hook: Hook) -> HookSet {
        self.insert(hook);
        self
    }

    /// True when the two sets share a hook.
    pub fn intersects(self, other: HookSet) -> bool {
        self.0 & other.0 != 0
    }

    /// The hooks in either set.
    pub fn union(self, other: HookSet) -> HookSet {
        HookSet(self.0 | other.0)
    }

    /// The hooks in both sets.
    pub fn intersection(self, other: HookSet) -> HookSet {
        HookSet(self.0 & other.0)
    }

    /// Every hook.
    pub fn all() -> HookSet {
        Hook::ALL.into_iter().collect()
    }
}

impl FromIterator<Hook> for HookSet {
    fn from_iter<I: IntoIterator<Item = Hook>>(iter: I) -> Self {
        let mut set = HookSet::default();
        for hook in iter {
            set.insert(hook);
        }
        set
    }
}

impl fmt::Debug for HookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Hook::name)).finish()
    }
}
