//! Contract 0.1 (`wit/0.1/plugin.wit`), adapted: every hook is a world-level export taking
//! the request by value with its body as JSON text; edits come back as JSON text; a
//! rejection with status 0 is the guest's own failure (how the 0.1 JS SDK reported an
//! uncaught exception). Components built against it behave as they always did.

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Store;

use super::{Call, ChunkOut, GuestError, PostCallOut, PreCallOut, RawRejection, Reply};
use crate::capabilities::kv::KvError;
use crate::capabilities::log::Level;
use crate::plugins::state::GuestState;
use crate::types::{CallInfo, CallType, Hook, KeyInfo};

mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit/0.1",
        imports: {
            "hookgate:plugin/kv": async,
        },
        exports: {
            default: async,
        },
    });
}

use bindings::hookgate::plugin::{config, kv, log, types as wit};

/// The rejection status a 0.1 guest used to report its own failure.
const UNCAUGHT_EXCEPTION: u16 = 0;

pub(crate) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    bindings::Plugin::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

/// A 0.1 component, linked.
pub(crate) struct Pre(pub(super) bindings::PluginPre<GuestState>);

/// A 0.1 instance's exports.
pub(crate) struct Guest(bindings::Plugin);

impl Pre {
    /// True when `component` exports 0.1's world-level `describe`.
    pub fn claims(component: &Component) -> bool {
        component.get_export_index(None, "describe").is_some()
    }

    pub fn new(linker: &Linker<GuestState>, component: &Component) -> wasmtime::Result<Self> {
        bindings::PluginPre::new(linker.instantiate_pre(component)?).map(Pre)
    }

    pub async fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<Guest> {
        self.0.instantiate_async(store).await.map(Guest)
    }
}

impl Guest {
    pub async fn call(&self, store: &mut Store<GuestState>, call: Call<'_>) -> wasmtime::Result<Reply> {
        let guest = &self.0;
        Ok(match call {
            Call::Prepare => Reply::Done,
            Call::Describe => {
                let info = guest.call_describe(store).await?;
                let hooks = info.hooks.into_iter().map(hook).collect();
                Reply::Describe { name: info.name, version: info.version, hooks: Some(hooks) }
            }
            Call::Init(config) => Reply::Init(guest.call_init(store, config).await?),
            Call::PreCall(info, req) => {
                let outcome = guest.call_pre_call(store, &request(info, req)).await?;
                Reply::PreCall(answer(outcome).map(|outcome| match outcome {
                    wit::PreCallOutcome::Proceed => PreCallOut::Proceed,
                    wit::PreCallOutcome::Modify(body) => PreCallOut::ModifyJson(body),
                    wit::PreCallOutcome::Respond(text) => PreCallOut::Respond(text),
                }))
            }
            Call::Moderation(info, req) => {
                Reply::Verdict(answer(guest.call_moderation(store, &request(info, req)).await?))
            }
            Call::PostCallSuccess(info, req, resp) => {
                let response = wit::Response {
                    status: resp.status,
                    body: resp.body.json().to_owned(),
                    headers: resp.headers.clone(),
                };
                let outcome = guest.call_post_call_success(store, &request(info, req), &response).await?;
                Reply::PostCall(answer(outcome).map(|outcome| match outcome {
                    wit::PostCallOutcome::Proceed => PostCallOut::Proceed,
                    wit::PostCallOutcome::Modify(edit) => {
                        PostCallOut::ModifyJson { body: edit.body, headers: edit.headers }
                    }
                }))
            }
            Call::PostCallFailure(info, req, failure) => {
                let failure = wit::Failure {
                    status: failure.status,
                    error_type: failure.error_type.clone(),
                    message: failure.message.clone(),
                    code: failure.code.clone(),
                };
                Reply::Verdict(answer(guest.call_post_call_failure(store, &request(info, req), &failure).await?))
            }
            Call::StreamChunk(info, req, loan) => {
                let chunk = loan.take().ok_or_else(|| wasmtime::format_err!("stream-chunk without a chunk"))?;
                let outcome = guest.call_stream_chunk(store, &context(info, req.model()), chunk.json()).await;
                loan.give_back(chunk);
                let outcome = outcome?;
                Reply::Chunk(answer(outcome).map(|outcome| match outcome {
                    wit::ChunkOutcome::Proceed => ChunkOut::Proceed,
                    wit::ChunkOutcome::Replace(chunk) => ChunkOut::ReplaceJson(chunk),
                    wit::ChunkOutcome::Drop => ChunkOut::Drop,
                }))
            }
            Call::StreamEnd(info, req, text) => {
                Reply::Verdict(answer(guest.call_stream_end(store, &context(info, req.model()), text).await?))
            }
            Call::LogSuccess(input) => {
                guest.call_log_success(store, input.payload_0_1()).await?;
                Reply::Logged(Ok(()))
            }
            Call::LogFailure(input) => {
                guest.call_log_failure(store, input.payload_0_1()).await?;
                Reply::Logged(Ok(()))
            }
        })
    }
}

/// A 0.1 result: a rejection with status 0 is the guest's failure, not an answer.
fn answer<T>(result: Result<T, wit::Rejection>) -> Result<T, GuestError> {
    result.map_err(|rejection| {
        if rejection.status == UNCAUGHT_EXCEPTION {
            GuestError::Fail(format!("uncaught exception: {}", rejection.message))
        } else {
            GuestError::Reject(RawRejection {
                status: rejection.status,
                message: rejection.message,
                code: rejection.code,
            })
        }
    })
}

fn request(info: &CallInfo, req: &crate::content::RequestDoc) -> wit::Request {
    wit::Request {
        id: info.id.to_string(),
        call_type: call_type(info.call_type),
        model: req.model().to_owned(),
        body: req.body.json().to_owned(),
        headers: req.headers.to_vec(),
        key: key(&info.key),
    }
}

fn context(info: &CallInfo, model: &str) -> wit::CallContext {
    wit::CallContext {
        id: info.id.to_string(),
        call_type: call_type(info.call_type),
        model: model.to_owned(),
        key: key(&info.key),
    }
}

fn call_type(call_type: CallType) -> wit::CallType {
    match call_type {
        CallType::ChatCompletion => wit::CallType::ChatCompletion,
        CallType::TextCompletion => wit::CallType::TextCompletion,
        CallType::Embedding => wit::CallType::Embedding,
    }
}

fn key(key: &KeyInfo) -> wit::KeyInfo {
    wit::KeyInfo {
        alias: key.alias.clone(),
        hash: key.id.clone(),
        user_id: key.user_id.clone(),
        team_id: key.team_id.clone(),
        metadata: key.metadata.clone(),
    }
}

fn hook(hook: wit::Hook) -> Hook {
    match hook {
        wit::Hook::PreCall => Hook::PreCall,
        wit::Hook::Moderation => Hook::Moderation,
        wit::Hook::PostCallSuccess => Hook::PostCallSuccess,
        wit::Hook::PostCallFailure => Hook::PostCallFailure,
        wit::Hook::StreamChunk => Hook::StreamChunk,
        wit::Hook::StreamEnd => Hook::StreamEnd,
        wit::Hook::LogSuccess => Hook::LogSuccess,
        wit::Hook::LogFailure => Hook::LogFailure,
    }
}

// --- the 0.1 imports, on the shared capabilities -------------------------------------

impl wit::Host for GuestState {}

impl log::Host for GuestState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        let level = match level {
            wit::LogLevel::Trace => Level::Trace,
            wit::LogLevel::Debug => Level::Debug,
            wit::LogLevel::Info => Level::Info,
            wit::LogLevel::Warn => Level::Warn,
            wit::LogLevel::Error => Level::Error,
        };
        self.log_line(level, &message);
    }
}

impl config::Host for GuestState {
    fn get(&mut self) -> String {
        self.config_text()
    }
}

fn kv_error(error: KvError) -> kv::KvError {
    match error {
        KvError::Unavailable(message) | KvError::Late(message) => kv::KvError::Unavailable(message),
        KvError::Invalid(message) => kv::KvError::Invalid(message),
    }
}

impl kv::Host for GuestState {
    async fn get(&mut self, key: String) -> Result<Option<String>, kv::KvError> {
        self.kv_get(&key).await.map_err(kv_error)
    }

    async fn set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Result<(), kv::KvError> {
        self.kv_set(&key, value, ttl_ms).await.map_err(kv_error)
    }

    async fn incr(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> Result<i64, kv::KvError> {
        self.kv_incr(&key, delta, ttl_ms).await.map_err(kv_error)
    }

    async fn delete(&mut self, key: String) -> Result<bool, kv::KvError> {
        self.kv_delete(&key).await.map_err(kv_error)
    }
}
