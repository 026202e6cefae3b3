//! The admin console: a static page at `/ui` (HTML and a script, embedded in the binary)
//! that reads the admin API with the master key the operator types in, plus the few
//! routes only it needs.
//!
//! - `GET /ui`, `GET /ui/console.js`: the page; no data, so no key needed. The key stays
//!   in the browser (`sessionStorage`) and goes out as a Bearer header; the server keeps
//!   nothing.
//! - `GET /ui/api/events?after=<seq>`: the most recent decisions and faults.
//! - `POST /plugins/{name}/quarantine` (`?seconds=`, default the configured cool-down)
//!   and `POST /plugins/{name}/release`: by hand.
//! - `PUT /plugins/{name}` (the component) and `PUT /plugins/{name}/settings` (its
//!   sidecar YAML): an upload into the plugin directory, written atomically and loaded
//!   by a rescan, held to the same rules as a file copied there (sidecar ceilings, trust).
//!
//! Every data route needs the master key, as the rest of the admin API does. The page
//! writes what it shows as text, never as HTML: plugin names, errors and messages
//! cannot inject script, and a Content-Security-Policy allows only the page's own
//! script.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::{master_body, require_master};
use super::AppState;
use crate::error::ApiError;
use crate::plugins::directory::Trigger;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
/// The largest component an upload takes: Python and JavaScript components are 12–20 MB.
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;
/// The largest sidecar an upload takes.
const MAX_SETTINGS_BYTES: usize = 64 << 10;

fn with_headers(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /ui`.
pub async fn page() -> Response {
    with_headers(PAGE, "text/html; charset=utf-8")
}

/// `GET /ui/console.js`.
pub async fn script() -> Response {
    with_headers(SCRIPT, "text/javascript; charset=utf-8")
}

/// The query of `GET /ui/api/events`.
#[derive(Deserialize)]
pub struct After {
    #[serde(default)]
    after: u64,
}

/// `GET /ui/api/events?after=<seq>`: decisions and faults newer than `seq`.
pub async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(After { after }): Query<After>,
) -> Result<Json<Value>, ApiError> {
    require_master(&state, &headers)?;
    Ok(Json(json!({"events": state.pipeline.recent().after(after)})))
}

/// The query of `POST /plugins/{name}/quarantine`.
#[derive(Deserialize)]
pub struct Seconds {
    seconds: Option<u64>,
}

fn active_plugin(state: &AppState, name: &str) -> Result<Arc<crate::plugins::registry::ActivePlugin>, ApiError> {
    let set = state.pipeline.registry().snapshot();
    let found = set.iter().find(|plugin| plugin.name() == name).cloned();
    found.ok_or_else(|| ApiError::new(404, format!("No active plugin named `{name}`.")))
}

/// `POST /plugins/{name}/quarantine`: takes a plugin out now, for `seconds` (at most a
/// day; default the configured cool-down). Logged on the audit target.
pub async fn quarantine(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(Seconds { seconds }): Query<Seconds>,
) -> Result<Json<Value>, ApiError> {
    require_master(&state, &headers)?;
    let plugin = active_plugin(&state, &name)?;
    let cooldown = match seconds {
        Some(seconds) if seconds == 0 || seconds > 86_400 => {
            return Err(ApiError::new(400, "`seconds` must be between 1 and 86400."))
        }
        Some(seconds) => Duration::from_secs(seconds),
        None => state.pipeline.registry().policy().cooldown,
    };
    plugin.health.quarantine_by_hand(cooldown);
    tracing::warn!(target: "hookgate::audit", plugin = %name, seconds = cooldown.as_secs(), "a plugin was quarantined by hand");
    Ok(Json(json!({"plugin": name, "state": "quarantined", "quarantined_for_s": cooldown.as_secs_f64()})))
}

/// `POST /plugins/{name}/release`: ends a quarantine now.
pub async fn release(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_master(&state, &headers)?;
    let plugin = active_plugin(&state, &name)?;
    plugin.health.release();
    tracing::warn!(target: "hookgate::audit", plugin = %name, "a plugin was released from quarantine by hand");
    Ok(Json(json!({"plugin": name, "state": "active"})))
}

/// The plugin directory for an upload, or why there is none.
fn upload_dir(state: &AppState, name: &str) -> Result<std::path::PathBuf, ApiError> {
    // A hidden name would be written but never loaded (the directory skips hidden files).
    if name.starts_with('.') || !crate::plugins::loaded::valid_name(name) {
        return Err(ApiError::new(
            400,
            format!("`{name}` is not a valid plugin name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with a dot)."),
        ));
    }
    let directory = state.directory.as_ref().ok_or_else(|| ApiError::new(409, "No plugins.dir to upload into."))?;
    if directory.sources().has(name) {
        return Err(ApiError::new(
            409,
            format!("`{name}` comes from a registry (plugins.sources): publish it there instead."),
        ));
    }
    directory
        .dir()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| ApiError::new(409, "No plugins.dir to upload into."))
}

/// Writes `bytes` to `dir/file` through a hidden temporary file and a rename: a rescan
/// never sees half a file.
fn write_into(dir: &std::path::Path, file: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let temporary = dir.join(format!(".upload-{}.tmp", uuid::Uuid::new_v4()));
    let written = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, dir.join(file)));
    written.map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        ApiError::new(500, format!("Cannot write {file} into the plugin directory: {error}"))
    })
}

/// `PUT /plugins/{name}/settings`: the plugin's sidecar YAML (checked when the plugin
/// loads, against the operator's ceilings, like any sidecar). Upload it before the
/// component; an empty body removes it.
pub async fn upload_settings(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (body, _memory) = master_body(&state, request, MAX_SETTINGS_BYTES).await?;
    let dir = upload_dir(&state, &name)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::new(400, "Settings must be UTF-8 YAML."))?;
    if text.trim().is_empty() {
        let _ = std::fs::remove_file(dir.join(format!("{name}.yaml")));
        tracing::warn!(target: "hookgate::audit", plugin = %name, "a plugin's settings were removed through the console");
        return Ok(Json(json!({"plugin": name, "settings": null})));
    }
    serde_yaml_ng::from_str::<serde_yaml_ng::Mapping>(text)
        .map_err(|error| ApiError::new(400, format!("Settings are not a YAML mapping: {error}")))?;
    write_into(&dir, &format!("{name}.yaml"), text.as_bytes())?;
    tracing::warn!(target: "hookgate::audit", plugin = %name, bytes = text.len(), "a plugin's settings were uploaded through the console");
    Ok(Json(json!({"plugin": name, "settings": "written"})))
}

/// `PUT /plugins/{name}`: the component. Written into the plugin directory, then loaded
/// by a rescan; answers with whether it loaded, or why not (an older version, if any,
/// keeps serving).
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (body, _memory) = master_body(&state, request, MAX_UPLOAD_BYTES).await?;
    let dir = upload_dir(&state, &name)?;
    if !body.starts_with(b"\0asm") {
        return Err(ApiError::new(400, "The body is not a WebAssembly component (it does not start with \\0asm)."));
    }
    write_into(&dir, &format!("{name}.wasm"), &body)?;
    tracing::warn!(target: "hookgate::audit", plugin = %name, bytes = body.len(), "a plugin was uploaded through the console");
    let directory = state.directory.as_ref().expect("upload_dir checked");
    let report = directory.rescan(Trigger::Explicit).await.map_err(|error| ApiError::new(500, error.to_string()))?;
    let error = report.failed.get(&name).or_else(|| report.refused.get(&name));
    Ok(Json(json!({
        "plugin": name,
        "loaded": report.loaded.contains(&name) || report.unchanged.contains(&name),
        "error": error,
    })))
}
