//! Management routes (master key only): what plugins are loaded and how they are doing.
//!
//! - `GET /callbacks/list`: LiteLLM's shape, `{"success":[..],"failure":[..],"success_and_failure":[..]}`.
//! - `GET /plugins`: every plugin with its version, hash, hooks, settings, state and counters.
//! - `POST /plugins/reload`: rescan the plugin directory now.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::error::ApiError;
use crate::oci::Verdict;
use crate::plugins::registry::ActivePlugin;
use crate::types::{ContentHash, Hook};

/// `GET /callbacks/list`: plugin names grouped as LiteLLM groups its callbacks.
///
/// A plugin whose only logging-side hook is `log-success` is a `success` callback; one
/// that only observes failures (`log-failure`, `post-call-failure`) is a `failure`
/// callback; every other plugin (including call hooks like pre-call) runs on both paths.
pub async fn callbacks_list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require_master(&state, &headers)?;
    let (mut success, mut failure, mut both) = (vec![], vec![], vec![]);
    for plugin in state.pipeline.registry().snapshot().iter() {
        let name = plugin.name().to_owned();
        match callback_kind(plugin) {
            CallbackKind::Success => success.push(name),
            CallbackKind::Failure => failure.push(name),
            CallbackKind::SuccessAndFailure => both.push(name),
        }
    }
    Ok(Json(json!({"success": success, "failure": failure, "success_and_failure": both})))
}

/// `GET /plugins`: every active plugin in call order, then the plugins that failed to
/// load and serve no older version. An active plugin whose new version failed carries
/// that error as `load_error`.
pub async fn plugins(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require_master(&state, &headers)?;
    let failures = state.directory.as_ref().map(|directory| directory.failures()).unwrap_or_default();
    let active = state.pipeline.registry().snapshot();
    let mut plugins: Vec<Value> = active
        .iter()
        .map(|plugin| {
            let mut entry = describe(plugin);
            entry["source"] = source_of(&state, plugin.name(), Some(plugin.plugin.hash()));
            entry["load_error"] = json!(failures.get(plugin.name()));
            entry["runs_for"] = state.pipeline.policy().where_on(plugin.name());
            entry
        })
        .collect();
    for (name, error) in &failures {
        if !active.iter().any(|plugin| plugin.name() == name) {
            plugins.push(json!({"name": name, "state": "failed-to-load", "load_error": error, "source": source_of(&state, name, None)}));
        }
    }
    Ok(Json(json!({"plugins": plugins, "logging": {
        "queue_depth": state.pipeline.logging().depth(),
        "dropped": state.pipeline.logging().dropped(),
    }})))
}

/// Where plugin `name` comes from: its file, or its registry reference with the digest
/// serving, who signed it, when the registry was last asked and the last check's error.
fn source_of(state: &AppState, name: &str, serving: Option<ContentHash>) -> Value {
    let Some(directory) = &state.directory else { return Value::Null };
    let sources = directory.sources();
    let Some(reference) = sources.reference(name) else {
        // A file is trusted only by its digest being listed.
        let trusted_by = (directory.trusts_files() && serving.is_some()).then_some("digest allow-list");
        let path = directory.dir().map(|dir| dir.join(format!("{name}.wasm")).display().to_string());
        return json!({"kind": "file", "path": path, "trusted_by": trusted_by});
    };
    let status = sources.status(name);
    // What serves: the version whose component the loaded plugin is (an older one when
    // the newest failed to load); for a plugin not loaded, the newest verified.
    let current = match serving {
        Some(component) => status.version_with(&component),
        None => status.current.as_ref(),
    };
    json!({
        "kind": "oci",
        "ref": reference.to_string(),
        "digest": current.map(|artifact| artifact.manifest.digest_string()),
        "latest_verified": status.current.as_ref().map(|artifact| artifact.manifest.digest_string()),
        "trusted_by": current.and_then(|artifact| artifact.verdict.as_ref()).map(Verdict::describe),
        "signer": current.and_then(|artifact| match &artifact.verdict {
            Some(Verdict::SignedBy { id, name }) => Some(json!({"key_id": id, "key": name})),
            _ => None,
        }),
        "last_checked": status.checked_at.map(crate::oci::artifact::rfc3339),
        "error": status.error,
    })
}

fn describe(active: &ActivePlugin) -> Value {
    let plugin = &active.plugin;
    let settings = plugin.settings();
    let counters = active.health.counters();
    let quarantined = active.health.quarantined_for();
    json!({
        "name": plugin.name(),
        "describes_itself_as": plugin.info().name,
        "version": plugin.info().version,
        "wit": plugin.wit_version().map(|v| format!("hookgate:plugin@{v}")),
        "sha256": plugin.hash().to_string(),
        "size_bytes": plugin.size_bytes(),
        "hooks": plugin.info().hooks.iter().map(Hook::name).collect::<Vec<_>>(),
        "priority": settings.priority,
        "on_error": settings.on_error,
        "required": settings.required,
        // Where it may call out, and the names (never the values) of its secrets.
        "outbound": settings.outbound.as_ref().map(|grant| json!({
            "allow": grant.allow.iter().map(|d| format!("{}://{}:{}{}", d.scheme, d.host, d.port, d.path_prefix)).collect::<Vec<_>>(),
            "secrets": grant.secrets.keys().collect::<Vec<_>>(),
            "timeout_ms": grant.timeout.as_millis() as u64,
        })),
        "state": if quarantined.is_some() { "quarantined" } else { "active" },
        "quarantined_for_s": quarantined.map(|left| left.as_secs_f64()),
        "calls": counters.calls,
        "faults": counters.faults,
        "input_faults": counters.input_faults,
        "load_faults": counters.load_faults,
        "outside_faults": counters.outside_faults,
        "rejections": counters.rejections,
        "quarantines": counters.quarantines,
    })
}

/// `GET /guardrails/list`: the `guardrails` entries in LiteLLM's shape (its
/// `guardrail_endpoints.py`), each with hookgate's plugin and whether it is loaded. Like
/// LiteLLM, any valid key may list them; nothing secret is in them.
pub async fn guardrails_list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.keys.authenticate(&headers).map_err(|error| ApiError::new(401, error.to_string()))?;
    let active = state.pipeline.registry().snapshot();
    let guardrails: Vec<Value> = state
        .pipeline
        .policy()
        .guardrails()
        .iter()
        .map(|g| {
            let loaded = active.iter().any(|plugin| plugin.name() == g.plugin);
            json!({
                "guardrail_id": null,
                "guardrail_name": g.name,
                "litellm_params": {
                    "guardrail": g.guardrail,
                    "mode": match g.modes.as_slice() {
                        [one] => json!(one.name()),
                        many => json!(many.iter().map(|m| m.name()).collect::<Vec<_>>()),
                    },
                    "default_on": g.default_on,
                    "hookgate_plugin": g.plugin,
                },
                "guardrail_info": g.info.clone().unwrap_or_else(|| json!({})),
                "hookgate": {"plugin": g.plugin, "loaded": loaded},
            })
        })
        .collect();
    Ok(Json(json!({ "guardrails": guardrails })))
}

enum CallbackKind {
    Success,
    Failure,
    SuccessAndFailure,
}

fn callback_kind(plugin: &ActivePlugin) -> CallbackKind {
    let hooks = plugin.plugin.info().hooks;
    let failure_only = [Hook::LogFailure, Hook::PostCallFailure];
    if hooks.iter().all(|hook| hook == Hook::LogSuccess) && !hooks.is_empty() {
        CallbackKind::Success
    } else if hooks.iter().all(|hook| failure_only.contains(&hook)) && !hooks.is_empty() {
        CallbackKind::Failure
    } else {
        CallbackKind::SuccessAndFailure
    }
}

/// Whether a request reached the loopback listener as one from this machine: its `Host`
/// names a loopback address (a DNS-rebound page's names its own domain), and no browser
/// marked it as sent by another site (`Origin` on another host, `Sec-Fetch-Site` of
/// `cross-site` or `same-site`: another port of localhost is the same site).
fn from_this_machine(headers: &HeaderMap) -> bool {
    let loopback = |authority: &str| {
        let host = match authority.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(host, _port)| host),
        };
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    let header = |name: http::header::HeaderName| headers.get(name).map(|value| value.to_str().unwrap_or("\u{0}"));
    let host_ok = header(http::header::HOST).is_some_and(loopback);
    let origin_ok = header(http::header::ORIGIN)
        .is_none_or(|origin| origin.split_once("://").is_some_and(|(_scheme, authority)| loopback(authority)));
    let site_ok =
        headers.get("sec-fetch-site").is_none_or(|site| matches!(site.to_str(), Ok("same-origin") | Ok("none")));
    host_ok && origin_ok && site_ok
}

/// `POST /plugins/reload`: rescans the plugin directory now; answers with what changed.
pub async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    require_master(&state, &headers)?;
    let Some(directory) = &state.directory else {
        return Err(ApiError::new(400, "No plugin directory is configured (plugins.dir)."));
    };
    match directory.rescan(crate::plugins::directory::Trigger::Explicit).await {
        Ok(report) => Ok(Json(report).into_response()),
        Err(error) => Err(ApiError::new(500, error.to_string())),
    }
}

/// With auth off (no master key) on a loopback bind, the OpenAI routes too answer only a
/// request no web page sent ([`from_this_machine`]): a page the operator visits could
/// otherwise post prompts through the proxy, on the operator's provider credentials,
/// and, rebinding its own name to 127.0.0.1, read the answers.
pub(super) fn refuse_web_pages_without_keys(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.keys.enabled() || !state.loopback_only || from_this_machine(headers) {
        return Ok(());
    }
    Err(ApiError::new(
        403,
        "Without a master key this proxy answers only requests to localhost, 127.0.0.1 or [::1] that no other web \
         site sent; set general_settings.master_key.",
    ))
}

/// The body of an admin request that may have one, read only once the caller is known to
/// hold the master key, at most `limit` bytes, under the body-read timeout and the
/// in-flight budget (held by the permit until the handler ends).
pub(super) async fn master_body(
    state: &AppState,
    request: axum::extract::Request,
    limit: usize,
) -> Result<(axum::body::Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let (parts, body) = request.into_parts();
    require_master(state, &parts.headers)?;
    super::openai::read_body(state, &parts.headers, body, limit).await
}

/// Admin routes need the master key itself (never an alias). With auth off (no master
/// key) they answer only when the proxy listens on a loopback address: anyone who can
/// reach a public bind must not be able to reload or inspect plugins. And only to a
/// request a web page did not send ([`from_this_machine`]): a page the operator visits
/// can post to 127.0.0.1 (quarantining a guardrail for a day) or rebind its own name to
/// it, and a browser sends no credentials a master key would have asked for.
pub(super) fn require_master(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !state.keys.enabled() {
        if state.loopback_only {
            return match from_this_machine(headers) {
                true => Ok(()),
                false => Err(ApiError::new(
                    403,
                    "Admin routes without a master key answer only requests to localhost, 127.0.0.1 or [::1] that \
                     no other web site sent; set general_settings.master_key.",
                )),
            };
        }
        return Err(ApiError::new(
            403,
            "Admin routes without a master key are served only on a loopback address; set general_settings.master_key.",
        ));
    }
    let caller = state.keys.authenticate(headers).map_err(|error| ApiError::new(401, error.to_string()))?;
    if !caller.is_master {
        return Err(ApiError::new(401, "This route needs the master key."));
    }
    Ok(())
}
