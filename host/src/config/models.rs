//! `model_list`: the model names clients may ask for, and where each one is served.

use std::time::Duration;

use super::error::Invalid;
use super::lenient::Warnings;
use super::path;
use super::raw::{RawModel, RawParams, RawPrice};
use crate::secret::Secret;

/// Where OpenAI-compatible requests go when `api_base` is not set (LiteLLM's default).
pub(crate) const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";
/// Provider request timeout when none is set: LiteLLM's default of 600 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// `litellm_params.model` prefix selecting the built-in mock provider.
const MOCK_PREFIX: &str = "mock/";
/// LiteLLM's provider prefix for OpenAI-compatible endpoints, stripped before sending.
const OPENAI_PREFIX: &str = "openai/";

/// One `model_list` entry: a name clients send as `model`, and the provider serving it.
///
/// Several entries may share a `model_name` (LiteLLM's deployments of one model).
#[derive(Debug, Clone)]
pub struct ModelDeployment {
    /// The name clients send as `model`.
    pub model_name: String,
    /// Who answers requests for it.
    pub provider: ProviderConfig,
    /// What a token costs, when configured: the logging payload's `response_cost`.
    pub price: Option<TokenPrice>,
}

/// Per-token prices in USD (`input_cost_per_token`, `output_cost_per_token`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TokenPrice {
    /// USD per prompt token.
    pub input_per_token: f64,
    /// USD per completion token.
    pub output_per_token: f64,
}

impl TokenPrice {
    /// The cost of a call from its OpenAI `usage` object; `None` when the usage has no
    /// token counts (the upstream did not report them).
    pub fn cost(&self, usage: &serde_json::Value) -> Option<f64> {
        let tokens = |field: &str| usage.get(field).and_then(serde_json::Value::as_u64);
        let prompt = tokens("prompt_tokens");
        let completion = tokens("completion_tokens");
        if prompt.is_none() && completion.is_none() {
            return None;
        }
        let prompt = prompt.unwrap_or(0) as f64;
        let completion = completion.unwrap_or(0) as f64;
        Some(prompt * self.input_per_token + completion * self.output_per_token)
    }
}

/// The provider behind a deployment, chosen by `litellm_params.model`.
#[derive(Debug, Clone)]
pub enum ProviderConfig {
    /// `mock/<anything>`: answered in-process, for tests, demos and load tests without
    /// a real provider.
    Mock(MockParams),
    /// Anything else: an OpenAI-compatible HTTP endpoint.
    OpenAi(OpenAiParams),
}

/// How the mock provider answers.
#[derive(Debug, Clone)]
pub struct MockParams {
    /// A fixed answer; `None` echoes the last user message.
    pub response: Option<String>,
    /// Delay before answering.
    pub latency: Duration,
    /// Number of chunks when streaming; `None` is one chunk per word.
    pub stream_chunks: Option<usize>,
    /// Delay between streamed chunks.
    pub chunk_delay: Duration,
    /// When set, every request is answered with this error.
    pub error: Option<MockError>,
}

/// An error the mock provider answers every request with.
#[derive(Debug, Clone)]
pub struct MockError {
    /// HTTP status, 400..=599.
    pub status: u16,
    /// The error message in the OpenAI error body.
    pub message: String,
}

/// An OpenAI-compatible HTTP provider.
#[derive(Debug, Clone)]
pub struct OpenAiParams {
    /// The model name sent upstream (`litellm_params.model` without a leading `openai/`).
    pub model: String,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub api_base: String,
    /// Sent as `Authorization: Bearer`, when set.
    pub api_key: Option<Secret>,
    /// Limit on one upstream call: a whole answer, or all the time spent waiting for a
    /// stream, from the request to its last chunk.
    pub timeout: Duration,
    /// Limit on a stream's first chunk (LiteLLM's `stream_timeout`), when shorter than
    /// `timeout`: a provider that is slow to start is given up on early.
    pub stream_timeout: Option<Duration>,
}

/// Checks and converts `model_list`.
pub(crate) fn build(raw: Option<Vec<RawModel>>, warnings: &mut Warnings) -> Result<Vec<ModelDeployment>, Invalid> {
    raw.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, model)| build_one(&path::index("model_list", i), model, warnings))
        .collect()
}

fn build_one(at: &str, raw: RawModel, warnings: &mut Warnings) -> Result<ModelDeployment, Invalid> {
    let model_name = required(raw.model_name, &path::key(at, "model_name"), "the name clients send as `model`")?;
    let params_at = path::key(at, "litellm_params");
    let params = raw.litellm_params.ok_or_else(|| {
        Invalid::at(&params_at, "is required: at least `model`, e.g. `openai/gpt-4o-mini` or `mock/echo`")
    })?;
    let in_params = RawPrice {
        input_cost_per_token: params.input_cost_per_token,
        output_cost_per_token: params.output_cost_per_token,
    };
    let price = price(at, in_params, raw.model_info.unwrap_or_default())?;
    let model_at = path::key(&params_at, "model");
    let model = required(params.model.clone(), &model_at, "e.g. `openai/gpt-4o-mini` or `mock/echo`")?;
    let provider = if model.starts_with(MOCK_PREFIX) {
        ProviderConfig::Mock(mock(&params_at, params, warnings)?)
    } else {
        ProviderConfig::OpenAi(openai(&params_at, &model, params, warnings)?)
    };
    Ok(ModelDeployment { model_name, provider, price })
}

/// The prices set in `litellm_params` or `model_info` (LiteLLM reads both); an unset one
/// of the two is free. Setting one key in both places is refused: which would apply?
fn price(at: &str, in_params: RawPrice, in_info: RawPrice) -> Result<Option<TokenPrice>, Invalid> {
    let pick = |key: &str, params: Option<f64>, info: Option<f64>| -> Result<Option<f64>, Invalid> {
        let (value, at) = match (params, info) {
            (Some(_), Some(_)) => {
                return Err(Invalid::at(
                    path::key(&path::key(at, "model_info"), key),
                    format!("is also set in litellm_params.{key}; set it in one place"),
                ))
            }
            (Some(value), None) => (value, path::key(&path::key(at, "litellm_params"), key)),
            (None, Some(value)) => (value, path::key(&path::key(at, "model_info"), key)),
            (None, None) => return Ok(None),
        };
        if !value.is_finite() || value < 0.0 {
            return Err(Invalid::at(at, format!("must be a price in USD per token, 0 or more (got {value})")));
        }
        Ok(Some(value))
    };
    let input = pick("input_cost_per_token", in_params.input_cost_per_token, in_info.input_cost_per_token)?;
    let output = pick("output_cost_per_token", in_params.output_cost_per_token, in_info.output_cost_per_token)?;
    if input.is_none() && output.is_none() {
        return Ok(None);
    }
    Ok(Some(TokenPrice { input_per_token: input.unwrap_or(0.0), output_per_token: output.unwrap_or(0.0) }))
}

/// A required, non-blank string.
fn required(value: Option<String>, at: &str, hint: &str) -> Result<String, Invalid> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(Invalid::at(at, format!("must not be empty ({hint})"))),
        None => Err(Invalid::at(at, format!("is required ({hint})"))),
    }
}

fn mock(at: &str, params: RawParams, warnings: &mut Warnings) -> Result<MockParams, Invalid> {
    let http_only = [
        ("api_base", params.api_base.is_some()),
        ("api_key", params.api_key.is_some()),
        ("timeout", params.timeout.is_some()),
        ("request_timeout", params.request_timeout.is_some()),
        ("stream_timeout", params.stream_timeout.is_some()),
    ];
    for (key, _) in http_only.iter().filter(|(_, set)| *set) {
        warnings.note(format!("{} has no effect on a mock/ model; ignored", path::key(at, key)));
    }
    if params.mock_stream_chunks == Some(0) {
        return Err(Invalid::at(path::key(at, "mock_stream_chunks"), "must be at least 1"));
    }
    let error = match (params.mock_error_status, params.mock_error_message) {
        (Some(status), message) => {
            if !(400..=599).contains(&status) {
                return Err(Invalid::at(
                    path::key(at, "mock_error_status"),
                    format!("must be an HTTP error status, 400 to 599 (got {status})"),
                ));
            }
            Some(MockError { status, message: message.unwrap_or_else(|| format!("mock error (status {status})")) })
        }
        (None, Some(_)) => {
            return Err(Invalid::at(
                path::key(at, "mock_error_message"),
                "is only used with mock_error_status; set the status too",
            ))
        }
        (None, None) => None,
    };
    Ok(MockParams {
        response: params.mock_response,
        latency: Duration::from_millis(params.mock_latency_ms.unwrap_or(0)),
        stream_chunks: params.mock_stream_chunks,
        chunk_delay: Duration::from_millis(params.mock_chunk_delay_ms.unwrap_or(0)),
        error,
    })
}

fn openai(at: &str, model: &str, params: RawParams, warnings: &mut Warnings) -> Result<OpenAiParams, Invalid> {
    // LiteLLM mocks any model that sets mock_response; hookgate only mocks `mock/`
    // models, so such a config would otherwise call (and pay) the real provider.
    let set_mock_keys = [
        ("mock_response", params.mock_response.is_some()),
        ("mock_latency_ms", params.mock_latency_ms.is_some()),
        ("mock_stream_chunks", params.mock_stream_chunks.is_some()),
        ("mock_chunk_delay_ms", params.mock_chunk_delay_ms.is_some()),
        ("mock_error_status", params.mock_error_status.is_some()),
        ("mock_error_message", params.mock_error_message.is_some()),
    ];
    if let Some((key, _)) = set_mock_keys.into_iter().find(|(_, set)| *set) {
        return Err(Invalid::at(
            path::key(at, key),
            format!(
                "only applies to mock/ models, and `{model}` is served over HTTP; use `model: mock/<name>` to mock it"
            ),
        ));
    }
    let upstream = model.strip_prefix(OPENAI_PREFIX).unwrap_or(model);
    if upstream.trim().is_empty() {
        return Err(Invalid::at(path::key(at, "model"), "needs a model name after `openai/`"));
    }
    let api_base = match params.api_base {
        Some(base) => api_base(&path::key(at, "api_base"), &base)?,
        None => {
            if upstream.contains('/') {
                warnings.note(format!(
                    "{}: `{model}` will be sent as-is to {DEFAULT_API_BASE}; hookgate speaks only the OpenAI API, \
                     so set api_base to an OpenAI-compatible endpoint serving it",
                    path::key(at, "model")
                ));
            }
            DEFAULT_API_BASE.to_owned()
        }
    };
    let timeout = match (params.timeout, params.request_timeout) {
        (Some(_), Some(_)) => {
            return Err(Invalid::at(
                path::key(at, "request_timeout"),
                "set either timeout or request_timeout, not both",
            ))
        }
        (Some(seconds), None) => positive_seconds(&path::key(at, "timeout"), seconds)?,
        (None, Some(seconds)) => positive_seconds(&path::key(at, "request_timeout"), seconds)?,
        (None, None) => DEFAULT_TIMEOUT,
    };
    let stream_timeout =
        params.stream_timeout.map(|seconds| positive_seconds(&path::key(at, "stream_timeout"), seconds)).transpose()?;
    Ok(OpenAiParams { model: upstream.to_owned(), api_base, api_key: params.api_key, timeout, stream_timeout })
}

/// An http(s) base URL without trailing slashes, so paths can be appended as `/chat/completions`.
fn api_base(at: &str, base: &str) -> Result<String, Invalid> {
    let trimmed = base.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() => match reqwest::Url::parse(trimmed) {
            Ok(_) => Ok(trimmed.to_owned()),
            Err(why) => Err(Invalid::at(at, format!("`{base}` is not a valid URL: {why}"))),
        },
        Some(_) => Err(Invalid::at(at, format!("`{base}` has no host"))),
        None => Err(Invalid::at(at, format!("must start with http:// or https:// (got `{base}`)"))),
    }
}

/// A duration given as (possibly fractional) seconds, as LiteLLM writes timeouts.
pub(crate) fn positive_seconds(at: &str, seconds: f64) -> Result<Duration, Invalid> {
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(Invalid::at(at, format!("must be a positive number of seconds (got {seconds})")));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| Invalid::at(at, format!("{seconds} seconds is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_is_checked_and_trimmed() {
        assert_eq!(api_base("x", "http://h:1/v1/").unwrap(), "http://h:1/v1");
        assert!(api_base("x", "ftp://h").is_err());
        assert!(api_base("x", "h/v1").is_err());
        assert!(api_base("x", "https://").is_err());
        assert!(api_base("x", "http://bad host/v1").is_err(), "caught at load, not on every request");
        assert!(api_base("x", "http://h:99999/v1").is_err());
    }

    #[test]
    fn prices_come_from_either_place_but_not_both() {
        let set = |input, output| RawPrice { input_cost_per_token: input, output_cost_per_token: output };
        assert_eq!(price("m", set(None, None), set(None, None)).unwrap(), None);
        let both = price("m", set(Some(0.001), None), set(None, Some(0.002))).unwrap().unwrap();
        assert_eq!(both, TokenPrice { input_per_token: 0.001, output_per_token: 0.002 });
        let error = price("m", set(Some(0.001), None), set(Some(0.001), None)).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("m.model_info.input_cost_per_token"));
        let error = price("m", set(None, Some(-1.0)), set(None, None)).unwrap_err();
        assert_eq!(error.path.as_deref(), Some("m.litellm_params.output_cost_per_token"));
    }

    #[test]
    fn cost_follows_usage() {
        let price = TokenPrice { input_per_token: 0.5, output_per_token: 2.0 };
        let usage = serde_json::json!({"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7});
        assert_eq!(price.cost(&usage), Some(8.0));
        assert_eq!(price.cost(&serde_json::json!({"prompt_tokens": 4, "total_tokens": 4})), Some(2.0));
        assert_eq!(price.cost(&serde_json::Value::Null), None);
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(positive_seconds("x", 1.5).unwrap(), Duration::from_millis(1500));
        assert!(positive_seconds("x", 0.0).is_err());
        assert!(positive_seconds("x", f64::NAN).is_err());
        assert!(positive_seconds("x", f64::INFINITY).is_err());
    }
}
