//! LiteLLM's end-user block list routes (master key only), writing the kv store of the
//! `blocked-users` plugin, which refuses blocked users' requests:
//!
//! - `POST /user/block`, `POST /customer/block`: `{"user_ids": [..]}` →
//!   `{"blocked_users": [..]}`.
//! - `POST /user/unblock`, `POST /customer/unblock`: `{"user_ids": [..]}` →
//!   `{"unblocked_users": [..]}` (LiteLLM lists the users still blocked; kv cannot be
//!   listed, so the answer names the ones unblocked).
//!
//! The entries live in the plugin's kv namespace (`blocked:<user>`), so with Redis a block
//! written through one replica holds on all of them at once. Without a loaded
//! `blocked-users` plugin the routes answer 400, as LiteLLM's do without its check: a
//! block nobody enforces would only mislead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::master_body;
use super::AppState;
use crate::error::ApiError;

/// The plugin whose kv namespace holds the list.
pub const PLUGIN: &str = "blocked-users";
/// Most user ids one call may name.
const MAX_USERS: usize = 1000;
/// Longest user id.
const MAX_USER_ID: usize = 256;
/// The largest body: the most users, each id at its longest and escaped, and the rest.
const MAX_BODY_BYTES: usize = MAX_USERS * (6 * MAX_USER_ID + 4) + 1024;
/// How long a kv write may take before the call answers 503.
const KV_DEADLINE: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockUsers {
    user_ids: Vec<String>,
}

/// The kv key of `user`'s entry in the plugin's namespace.
pub fn entry_key(user: &str) -> String {
    format!("blocked:{user}")
}

/// `POST /user/block`.
pub async fn block(State(state): State<Arc<AppState>>, request: Request) -> Result<Json<Value>, ApiError> {
    let (body, _memory) = master_body(&state, request, MAX_BODY_BYTES).await?;
    let users = update(&state, &body, true).await?;
    Ok(Json(json!({"blocked_users": users})))
}

/// `POST /user/unblock`.
pub async fn unblock(State(state): State<Arc<AppState>>, request: Request) -> Result<Json<Value>, ApiError> {
    let (body, _memory) = master_body(&state, request, MAX_BODY_BYTES).await?;
    let users = update(&state, &body, false).await?;
    Ok(Json(json!({"unblocked_users": users})))
}

/// Writes (`blocked`) or deletes the entries of the users the body names; those users.
async fn update(state: &AppState, body: &[u8], blocked: bool) -> Result<Vec<String>, ApiError> {
    let users = checked(state, body)?;
    let deadline = Instant::now() + KV_DEADLINE;
    for user in &users {
        let key = entry_key(user);
        match blocked {
            true => state.kv.set(PLUGIN, &key, "1".into(), None, deadline).await.map_err(unavailable)?,
            false => state.kv.delete(PLUGIN, &key, deadline).await.map(drop).map_err(unavailable)?,
        }
    }
    tracing::info!(users = ?users, blocked, "block list changed");
    Ok(users)
}

/// A loaded `blocked-users` plugin, and a body naming users.
fn checked(state: &AppState, body: &[u8]) -> Result<Vec<String>, ApiError> {
    if !state.pipeline.registry().snapshot().iter().any(|plugin| plugin.name() == PLUGIN) {
        return Err(ApiError::bad_request(format!(
            "Blocked user check was never set. This call has no effect: load the {PLUGIN} plugin \
             (plugins/dist/{PLUGIN}.wasm) to enforce the list."
        )));
    }
    let request: BlockUsers = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("Expected {{\"user_ids\": [\"...\"]}}: {error}")))?;
    if request.user_ids.is_empty() || request.user_ids.len() > MAX_USERS {
        return Err(ApiError::bad_request(format!("user_ids must name between 1 and {MAX_USERS} users")));
    }
    if let Some(bad) = request
        .user_ids
        .iter()
        .find(|user| user.is_empty() || user.len() > MAX_USER_ID || user.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(format!(
            "user_ids: {bad:?} is not a user id (1 to {MAX_USER_ID} bytes, no control characters)"
        )));
    }
    Ok(request.user_ids)
}

fn unavailable(error: crate::capabilities::kv::KvError) -> ApiError {
    ApiError::new(503, format!("The block list's store is unavailable: {error}"))
}
