//! Contract 0.2 (`wit/plugin.wit`): `setup` plus one exported interface per hook, read
//! from the component's exports; the request, the response and stream chunks lent to each
//! call as `content` resources.
//!
//! A hook call lends its values for the call's duration only: the host puts a [`View`]
//! into the store's resource table, passes the guest a borrowed handle, and takes the view
//! back when the call returns, keeping its edits only if the hook returned normally.

use std::borrow::Cow;
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, InstancePre, Linker, Resource};
use wasmtime::Store;

use super::{Call, ChunkOut, GuestError, PostCallOut, PreCallOut, RawRejection, Reply};
use crate::capabilities::kv::KvError;
use crate::capabilities::log::Level;
use crate::content::{Access, BodyKind, EditError, RequestDoc, ResponseDoc, View};
use crate::plugins::state::GuestState;
use crate::types::{CallInfo, CallType, DecisionRecord, Failure, Header, Hook, HookSet, LogEntry};

mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit",
        imports: {
            "hookgate:plugin/kv": async,
            "hookgate:plugin/content": trappable,
        },
        exports: {
            default: async,
        },
        with: {
            // Linked by wasmtime-wasi-http (see `PluginEngine::new`).
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "hookgate:plugin/content.request": super::RequestView,
            "hookgate:plugin/content.response": super::ResponseView,
            "hookgate:plugin/content.chunk": super::ChunkView,
        },
    });
}

use bindings::exports::hookgate::plugin as hooks;
use bindings::hookgate::plugin::{config, content, kv, log, types, types as wit};

/// The request as one hook call sees it.
pub struct RequestView {
    view: View,
    headers: Arc<[Header]>,
}

/// The response as one hook call sees it.
pub struct ResponseView {
    view: View,
    status: u16,
    headers: Vec<Header>,
}

/// A stream chunk as one hook call sees it.
pub struct ChunkView(View);

/// Links the contract's own imports. `wasi:http` and what it uses are linked by the
/// engine (wasmtime-wasi and wasmtime-wasi-http), so the world's `add_to_linker`, which
/// would link them again, is not used.
pub(crate) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    types::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    log::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    config::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    kv::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    content::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

/// The export name of one of the contract's interfaces (semver-matched on lookup: a
/// component built against any 0.2.x is found).
fn export_name(interface: &str) -> String {
    format!("hookgate:plugin/{interface}@0.2.0")
}

/// A 0.2 component, linked, with the hook interfaces it exports.
pub(crate) struct Pre {
    pub(super) instance_pre: InstancePre<GuestState>,
    setup: hooks::setup::GuestIndices,
    pre_call: Option<hooks::pre_call::GuestIndices>,
    moderation: Option<hooks::moderation::GuestIndices>,
    post_call_success: Option<hooks::post_call_success::GuestIndices>,
    post_call_failure: Option<hooks::post_call_failure::GuestIndices>,
    stream_chunk: Option<hooks::stream_chunk::GuestIndices>,
    stream_end: Option<hooks::stream_end::GuestIndices>,
    log_success: Option<hooks::log_success::GuestIndices>,
    log_failure: Option<hooks::log_failure::GuestIndices>,
}

/// A 0.2 instance's exports: `setup`, and the hooks the component has.
pub(crate) struct Guest {
    setup: hooks::setup::Guest,
    pre_call: Option<hooks::pre_call::Guest>,
    moderation: Option<hooks::moderation::Guest>,
    post_call_success: Option<hooks::post_call_success::Guest>,
    post_call_failure: Option<hooks::post_call_failure::Guest>,
    stream_chunk: Option<hooks::stream_chunk::Guest>,
    stream_end: Option<hooks::stream_end::Guest>,
    log_success: Option<hooks::log_success::Guest>,
    log_failure: Option<hooks::log_failure::Guest>,
}

impl Pre {
    /// True when `component` exports the 0.2 `setup` interface.
    pub fn claims(component: &Component) -> bool {
        component.get_export_index(None, export_name("setup")).is_some()
    }

    pub fn new(linker: &Linker<GuestState>, component: &Component) -> wasmtime::Result<Self> {
        let instance_pre = linker.instantiate_pre(component)?;
        // A hook the component does not export is a hook it does not have; one it exports
        // must have the contract's signature.
        let exported = |hook: Hook| component.get_export_index(None, export_name(hook.name())).is_some();
        macro_rules! optional {
            ($hook:expr, $module:ident) => {
                if exported($hook) {
                    Some(hooks::$module::GuestIndices::new(&instance_pre)?)
                } else {
                    None
                }
            };
        }
        Ok(Self {
            setup: hooks::setup::GuestIndices::new(&instance_pre)?,
            pre_call: optional!(Hook::PreCall, pre_call),
            moderation: optional!(Hook::Moderation, moderation),
            post_call_success: optional!(Hook::PostCallSuccess, post_call_success),
            post_call_failure: optional!(Hook::PostCallFailure, post_call_failure),
            stream_chunk: optional!(Hook::StreamChunk, stream_chunk),
            stream_end: optional!(Hook::StreamEnd, stream_end),
            log_success: optional!(Hook::LogSuccess, log_success),
            log_failure: optional!(Hook::LogFailure, log_failure),
            instance_pre,
        })
    }

    /// The hooks the component exports.
    pub fn hooks(&self) -> HookSet {
        let present = [
            (Hook::PreCall, self.pre_call.is_some()),
            (Hook::Moderation, self.moderation.is_some()),
            (Hook::PostCallSuccess, self.post_call_success.is_some()),
            (Hook::PostCallFailure, self.post_call_failure.is_some()),
            (Hook::StreamChunk, self.stream_chunk.is_some()),
            (Hook::StreamEnd, self.stream_end.is_some()),
            (Hook::LogSuccess, self.log_success.is_some()),
            (Hook::LogFailure, self.log_failure.is_some()),
        ];
        present.into_iter().filter(|(_, present)| *present).map(|(hook, _)| hook).collect()
    }

    pub async fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<Guest> {
        let instance = self.instance_pre.instantiate_async(&mut *store).await?;
        macro_rules! load {
            ($field:ident) => {
                self.$field.as_ref().map(|indices| indices.load(&mut *store, &instance)).transpose()?
            };
        }
        Ok(Guest {
            setup: self.setup.load(&mut *store, &instance)?,
            pre_call: load!(pre_call),
            moderation: load!(moderation),
            post_call_success: load!(post_call_success),
            post_call_failure: load!(post_call_failure),
            stream_chunk: load!(stream_chunk),
            stream_end: load!(stream_end),
            log_success: load!(log_success),
            log_failure: load!(log_failure),
        })
    }
}

/// A value lent to the guest for one call: in the store's table, handed over borrowed.
struct Lent<T: 'static> {
    own: Resource<T>,
}

impl<T: Send + 'static> Lent<T> {
    fn new(store: &mut Store<GuestState>, value: T) -> wasmtime::Result<Self> {
        Ok(Self { own: store.data_mut().table.push(value)? })
    }

    fn borrow(&self) -> Resource<T> {
        Resource::new_borrow(self.own.rep())
    }

    fn take_back(self, store: &mut Store<GuestState>) -> wasmtime::Result<T> {
        Ok(store.data_mut().table.delete(self.own)?)
    }
}

/// The export a hook call needs, which the component declared by exporting it.
fn export<T>(export: &Option<T>, hook: Hook) -> wasmtime::Result<&T> {
    export.as_ref().ok_or_else(|| wasmtime::format_err!("the plugin does not export `{hook}`"))
}

impl Guest {
    pub async fn call(&self, store: &mut Store<GuestState>, call: Call<'_>) -> wasmtime::Result<Reply> {
        let edit = Access::Edit { max_bytes: store.data().max_output_bytes };
        Ok(match call {
            Call::Prepare => Reply::Done,
            Call::Describe => {
                let info = self.setup.call_describe(&mut *store).await?;
                Reply::Describe { name: info.name, version: info.version, hooks: None }
            }
            Call::Init(config) => Reply::Init(self.setup.call_init(&mut *store, config).await?),
            Call::PreCall(info, req) => {
                let hook = export(&self.pre_call, Hook::PreCall)?;
                let lent = Lent::new(store, request_view(req, edit))?;
                let result = hook.call_pre_call(&mut *store, &context(info), lent.borrow()).await;
                let (edited, _) = lent.take_back(store)?.view.finish();
                Reply::PreCall(answer(result?).map(|outcome| match (outcome, edited) {
                    (hooks::pre_call::PreCallOutcome::Respond(text), _) => PreCallOut::Respond(text),
                    (hooks::pre_call::PreCallOutcome::Proceed, Some(body)) => PreCallOut::Edited(body),
                    (hooks::pre_call::PreCallOutcome::Proceed, None) => PreCallOut::Proceed,
                }))
            }
            Call::Moderation(info, req) => {
                let hook = export(&self.moderation, Hook::Moderation)?;
                let lent = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let result = hook.call_moderation(&mut *store, &context(info), lent.borrow()).await;
                lent.take_back(store)?;
                Reply::Verdict(answer(result?))
            }
            Call::PostCallSuccess(info, req, resp) => {
                let hook = export(&self.post_call_success, Hook::PostCallSuccess)?;
                let request = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let response = Lent::new(store, response_view(resp, edit))?;
                let result =
                    hook.call_post_call_success(&mut *store, &context(info), request.borrow(), response.borrow()).await;
                request.take_back(store)?;
                let (body, headers) = response.take_back(store)?.view.finish();
                Reply::PostCall(answer(result?).map(|()| match (body, headers.is_empty()) {
                    (None, true) => PostCallOut::Proceed,
                    (body, _) => PostCallOut::Edited { body, headers },
                }))
            }
            Call::PostCallFailure(info, req, failure) => {
                let hook = export(&self.post_call_failure, Hook::PostCallFailure)?;
                let lent = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let result = hook
                    .call_post_call_failure(&mut *store, &context(info), lent.borrow(), &wit_failure(failure))
                    .await;
                lent.take_back(store)?;
                Reply::Verdict(answer(result?))
            }
            Call::StreamChunk(info, req, chunk) => {
                let hook = export(&self.stream_chunk, Hook::StreamChunk)?;
                let request = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let lent = Lent::new(store, ChunkView(View::new(BodyKind::Chunk, Arc::clone(chunk), edit)))?;
                let result = hook.call_stream_chunk(&mut *store, &context(info), request.borrow(), lent.borrow()).await;
                request.take_back(store)?;
                let (edited, _) = lent.take_back(store)?.0.finish();
                Reply::Chunk(answer(result?).map(|outcome| match (outcome, edited) {
                    (hooks::stream_chunk::ChunkOutcome::Drop, _) => ChunkOut::Drop,
                    (hooks::stream_chunk::ChunkOutcome::Proceed, Some(body)) => ChunkOut::Edited(body),
                    (hooks::stream_chunk::ChunkOutcome::Proceed, None) => ChunkOut::Proceed,
                }))
            }
            Call::StreamEnd(info, req, text) => {
                let hook = export(&self.stream_end, Hook::StreamEnd)?;
                let lent = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let result = hook.call_stream_end(&mut *store, &context(info), lent.borrow(), text).await;
                lent.take_back(store)?;
                Reply::Verdict(answer(result?))
            }
            Call::LogSuccess(input) => {
                let hook = export(&self.log_success, Hook::LogSuccess)?;
                let request = Lent::new(store, request_view(&input.request, Access::ReadOnly))?;
                let response = match &input.response {
                    Some(response) => response_view(response, Access::ReadOnly),
                    None => return Err(wasmtime::format_err!("log-success without a response")),
                };
                let response = Lent::new(store, response)?;
                let entry = log_entry(&input.entry);
                let result = hook
                    .call_log_success(&mut *store, &context(&input.info), request.borrow(), response.borrow(), &entry)
                    .await;
                request.take_back(store)?;
                response.take_back(store)?;
                Reply::Logged(result?)
            }
            Call::LogFailure(input) => {
                let hook = export(&self.log_failure, Hook::LogFailure)?;
                let request = Lent::new(store, request_view(&input.request, Access::ReadOnly))?;
                let entry = log_entry(&input.entry);
                let result = hook.call_log_failure(&mut *store, &context(&input.info), request.borrow(), &entry).await;
                request.take_back(store)?;
                Reply::Logged(result?)
            }
        })
    }
}

fn request_view(req: &RequestDoc, access: Access) -> RequestView {
    RequestView { view: View::new(BodyKind::Request, Arc::clone(&req.body), access), headers: Arc::clone(&req.headers) }
}

fn response_view(resp: &ResponseDoc, access: Access) -> ResponseView {
    ResponseView {
        view: View::new(BodyKind::Response, Arc::clone(&resp.body), access),
        status: resp.status,
        headers: resp.headers.clone(),
    }
}

fn answer<T>(result: Result<T, wit::HookError>) -> Result<T, GuestError> {
    result.map_err(|error| match error {
        wit::HookError::Reject(rejection) => GuestError::Reject(RawRejection {
            status: rejection.status,
            message: rejection.message,
            code: rejection.code,
        }),
        wit::HookError::Fail(message) => GuestError::Fail(message),
    })
}

/// The request's context for a hook: made on its first hook call, lent to the rest.
fn context(info: &CallInfo) -> Cow<'_, wit::CallContext> {
    match info.lowered.get_or_make(|| make_context(info)) {
        Some(context) => Cow::Borrowed(context),
        None => Cow::Owned(make_context(info)),
    }
}

fn make_context(info: &CallInfo) -> wit::CallContext {
    wit::CallContext {
        request_id: info.id.to_string(),
        call_type: match info.call_type {
            CallType::ChatCompletion => wit::CallType::ChatCompletion,
            CallType::TextCompletion => wit::CallType::TextCompletion,
            CallType::Embedding => wit::CallType::Embedding,
        },
        key: wit::KeyInfo {
            alias: info.key.alias.clone(),
            id: info.key.id.clone(),
            user_id: info.key.user_id.clone(),
            team_id: info.key.team_id.clone(),
            metadata: info.key.metadata.clone(),
        },
        stream: info.stream,
    }
}

fn wit_failure(failure: &Failure) -> wit::Failure {
    wit::Failure {
        status: failure.status,
        error_type: failure.error_type.clone(),
        message: failure.message.clone(),
        code: failure.code.clone(),
        rejected_by: failure.rejected_by.clone(),
    }
}

fn decision(record: &DecisionRecord) -> wit::Decision {
    wit::Decision {
        plugin: record.plugin.clone(),
        hook: record.hook.to_owned(),
        decision: record.decision.to_owned(),
        cause: record.cause.map(str::to_owned),
        calls: record.calls,
        started_ms: record.started_ms,
        elapsed_ms: record.elapsed_ms,
    }
}

fn log_entry(entry: &LogEntry) -> wit::LogEntry {
    wit::LogEntry {
        model: entry.model.clone(),
        model_used: entry.model_used.clone(),
        api_base: entry.api_base.clone(),
        end_user: entry.end_user.clone(),
        status_code: entry.status_code,
        usage: entry.usage.map(|usage| wit::Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens,
        }),
        response_cost: entry.response_cost,
        start_time: entry.start_time,
        end_time: entry.end_time,
        completion_start_time: entry.completion_start_time,
        failure: entry.failure.as_ref().map(wit_failure),
        decisions: entry.decisions.iter().map(decision).collect(),
        truncated: entry.truncated.iter().map(|field| (*field).to_owned()).collect(),
    }
}

// --- the content resources ------------------------------------------------------------

fn edit_error(error: EditError) -> content::EditError {
    match error {
        EditError::ReadOnly => content::EditError::ReadOnly,
        EditError::NoSuchText(index) => content::EditError::NoSuchText(index),
        EditError::Invalid(message) => content::EditError::Invalid(message),
        EditError::TooLarge(bytes) => content::EditError::TooLarge(bytes),
    }
}

fn text_parts(view: &View) -> Vec<content::TextPart> {
    view.texts()
        .into_iter()
        .map(|part| content::TextPart {
            path: part.path,
            is_key: part.is_key,
            item: part.item,
            role: part.role.map(str::to_owned),
            text: part.text.to_owned(),
        })
        .collect()
}

fn text_edits(edits: Vec<content::TextEdit>) -> Vec<(u32, String)> {
    edits.into_iter().map(|edit| (edit.index, edit.text)).collect()
}

impl content::Host for GuestState {}

impl content::HostRequest for GuestState {
    fn model(&mut self, this: Resource<RequestView>) -> wasmtime::Result<String> {
        let view = &self.table.get(&this)?.view;
        Ok(view.value().get("model").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned())
    }

    fn texts(&mut self, this: Resource<RequestView>) -> wasmtime::Result<Vec<content::TextPart>> {
        Ok(text_parts(&self.table.get(&this)?.view))
    }

    fn set_texts(
        &mut self,
        this: Resource<RequestView>,
        edits: Vec<content::TextEdit>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_texts(&text_edits(edits)).map_err(edit_error))
    }

    fn field_names(&mut self, this: Resource<RequestView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&this)?.view.field_names())
    }

    fn field(&mut self, this: Resource<RequestView>, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&this)?.view.field(&name))
    }

    fn set_field(
        &mut self,
        this: Resource<RequestView>,
        name: String,
        value: Option<String>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_field(&name, value.as_deref()).map_err(edit_error))
    }

    fn body(&mut self, this: Resource<RequestView>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.view.body_json())
    }

    fn set_body(
        &mut self,
        this: Resource<RequestView>,
        json: String,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_body(&json).map_err(edit_error))
    }

    fn headers(&mut self, this: Resource<RequestView>) -> wasmtime::Result<Vec<Header>> {
        Ok(self.table.get(&this)?.headers.to_vec())
    }

    fn drop(&mut self, _this: Resource<RequestView>) -> wasmtime::Result<()> {
        // Requests are only ever lent (borrowed): the host takes them back itself.
        Ok(())
    }
}

impl content::HostResponse for GuestState {
    fn status(&mut self, this: Resource<ResponseView>) -> wasmtime::Result<u16> {
        Ok(self.table.get(&this)?.status)
    }

    fn texts(&mut self, this: Resource<ResponseView>) -> wasmtime::Result<Vec<content::TextPart>> {
        Ok(text_parts(&self.table.get(&this)?.view))
    }

    fn set_texts(
        &mut self,
        this: Resource<ResponseView>,
        edits: Vec<content::TextEdit>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_texts(&text_edits(edits)).map_err(edit_error))
    }

    fn field_names(&mut self, this: Resource<ResponseView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&this)?.view.field_names())
    }

    fn field(&mut self, this: Resource<ResponseView>, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&this)?.view.field(&name))
    }

    fn set_field(
        &mut self,
        this: Resource<ResponseView>,
        name: String,
        value: Option<String>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_field(&name, value.as_deref()).map_err(edit_error))
    }

    fn body(&mut self, this: Resource<ResponseView>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.view.body_json())
    }

    fn set_body(
        &mut self,
        this: Resource<ResponseView>,
        json: String,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_body(&json).map_err(edit_error))
    }

    fn headers(&mut self, this: Resource<ResponseView>) -> wasmtime::Result<Vec<Header>> {
        let response = self.table.get(&this)?;
        // The headers so far, with the ones this call set in their place.
        let set = response.view.set_headers();
        let mut headers: Vec<Header> =
            response.headers.iter().filter(|(name, _)| !set.iter().any(|(n, _)| n == name)).cloned().collect();
        headers.extend(set.iter().cloned());
        Ok(headers)
    }

    fn set_header(
        &mut self,
        this: Resource<ResponseView>,
        name: String,
        value: String,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.view.set_header(&name, &value).map_err(edit_error))
    }

    fn drop(&mut self, _this: Resource<ResponseView>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl content::HostChunk for GuestState {
    fn texts(&mut self, this: Resource<ChunkView>) -> wasmtime::Result<Vec<content::TextPart>> {
        Ok(text_parts(&self.table.get(&this)?.0))
    }

    fn set_texts(
        &mut self,
        this: Resource<ChunkView>,
        edits: Vec<content::TextEdit>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.0.set_texts(&text_edits(edits)).map_err(edit_error))
    }

    fn finish_reason(&mut self, this: Resource<ChunkView>, choice: u32) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&this)?.0.finish_reason(choice))
    }

    fn set_content(
        &mut self,
        this: Resource<ChunkView>,
        choice: u32,
        text: String,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.0.set_content(choice, &text).map_err(edit_error))
    }

    fn field(&mut self, this: Resource<ChunkView>, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&this)?.0.field(&name))
    }

    fn body(&mut self, this: Resource<ChunkView>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.0.body_json())
    }

    fn set_body(
        &mut self,
        this: Resource<ChunkView>,
        json: String,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        Ok(self.table.get_mut(&this)?.0.set_body(&json).map_err(edit_error))
    }

    fn drop(&mut self, _this: Resource<ChunkView>) -> wasmtime::Result<()> {
        Ok(())
    }
}

// --- log, config, kv on the shared capabilities ---------------------------------------

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
