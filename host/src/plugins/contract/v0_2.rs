//! Contract 0.2 (`wit/plugin.wit`): `setup` plus one exported interface per hook, read
//! from the component's exports; the request, the response and stream chunks lent to each
//! call as `content` resources.
//!
//! A hook call lends its values for the call's duration only: the host puts a [`View`]
//! into the store's resource table, passes the guest a borrowed handle, and takes the view
//! back when the call returns, keeping its edits only if the hook returned normally.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, HasSelf, Instance, InstancePre, Lift, Linker, Lower, Resource,
    TypedFunc,
};
use wasmtime::Store;

use super::{Call, ChunkOut, GuestError, PostCallOut, PreCallOut, RawRejection, Reply};
use crate::capabilities::kv::KvError;
use crate::capabilities::log::Level;
use crate::content::{Access, BodyKind, EditError, RequestDoc, ResponseDoc, View};
use crate::plugins::state::{GuestState, MemoryLimiter};
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

/// A 0.2 component, linked, with the contract functions it exports.
pub(crate) struct Pre {
    pub(super) instance_pre: InstancePre<GuestState>,
    exports: Arc<Exports>,
}

/// A 0.2 instance: its contract functions are looked up when called.
pub(crate) struct Guest {
    instance: Instance,
    exports: Arc<Exports>,
}

/// The contract's functions: `setup`'s two, then one per hook, in [`Hook::ALL`]'s order.
#[derive(Debug, Clone, Copy)]
enum ContractFunc {
    Describe,
    Init,
    Hook(Hook),
}

impl ContractFunc {
    const COUNT: usize = 2 + Hook::ALL.len();

    fn slot(self) -> usize {
        match self {
            ContractFunc::Describe => 0,
            ContractFunc::Init => 1,
            ContractFunc::Hook(hook) => 2 + hook.index(),
        }
    }

    /// The exported interface and the function's name in it.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            ContractFunc::Describe => ("setup", "describe"),
            ContractFunc::Init => ("setup", "init"),
            ContractFunc::Hook(hook) => (hook.name(), hook.name()),
        }
    }
}

/// Where a component's contract functions are, found once per component, and whether
/// their types were checked.
///
/// wasmtime type-checks a typed function each time one is made from an instance's export,
/// and bindgen's generated `load` made one of every export of every new instance: about
/// 26,000 instructions a request (3%) with the bench's five Rust plugins on fresh
/// instances (`bench/instructions/count.sh`). Every instance of one `InstancePre` has the
/// same types, so the functions are checked on the component's first instance (the
/// load's, before any request) and used unchecked on the later ones; and a function is
/// looked up only when called, as a fresh instance calls few of them.
struct Exports {
    /// Per [`ContractFunc::slot`], the function's export, `None` for a hook not exported.
    funcs: [Option<ComponentExportIndex>; ContractFunc::COUNT],
    /// Set once every exported function passed wasmtime's type check, with the
    /// signatures of [`Guest`]'s accessors.
    checked: AtomicBool,
}

impl Pre {
    /// True when `component` exports the 0.2 `setup` interface.
    pub fn claims(component: &Component) -> bool {
        component.get_export_index(None, export_name("setup")).is_some()
    }

    pub fn new(linker: &Linker<GuestState>, component: &Component) -> wasmtime::Result<Self> {
        let instance_pre = linker.instantiate_pre(component)?;
        // A hook the component does not export is a hook it does not have; an interface it
        // exports must have its function (and, checked on the first instance, its type).
        let find = |func: ContractFunc| -> wasmtime::Result<Option<ComponentExportIndex>> {
            let (interface, name) = func.names();
            let interface_name = export_name(interface);
            let Some(exported) = component.get_export_index(None, &interface_name) else {
                return match func {
                    ContractFunc::Hook(_) => Ok(None),
                    _ => Err(wasmtime::format_err!("no exported instance named `{interface_name}`")),
                };
            };
            component.get_export_index(Some(&exported), name).map(Some).ok_or_else(|| {
                wasmtime::format_err!("instance export `{interface_name}` does not have export `{name}`")
            })
        };
        let mut funcs = [None; ContractFunc::COUNT];
        let every = [ContractFunc::Describe, ContractFunc::Init].into_iter().chain(Hook::ALL.map(ContractFunc::Hook));
        for func in every {
            funcs[func.slot()] = find(func)?;
        }
        Ok(Self { instance_pre, exports: Arc::new(Exports { funcs, checked: AtomicBool::new(false) }) })
    }

    /// The hooks the component exports.
    pub fn hooks(&self) -> HookSet {
        Hook::ALL.into_iter().filter(|&hook| self.exports.funcs[ContractFunc::Hook(hook).slot()].is_some()).collect()
    }

    pub async fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<Guest> {
        let instance = self.instance_pre.instantiate_async(&mut *store).await?;
        let guest = Guest { instance, exports: Arc::clone(&self.exports) };
        if !self.exports.checked.load(Ordering::Acquire) {
            guest.check(store)?;
            self.exports.checked.store(true, Ordering::Release);
        }
        Ok(guest)
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

/// A contract function of one instance, typed, or why it is not there.
type Typed<P, R> = wasmtime::Result<TypedFunc<P, R>>;

/// What every hook is passed first: the request's context.
type Context<'a> = &'a wit::CallContext;

/// The request, lent.
type LentRequest = Resource<RequestView>;

/// The response, lent.
type LentResponse = Resource<ResponseView>;

/// A hook's result, as the contract types it.
type HookResult<T> = (Result<T, wit::HookError>,);

/// A logging hook's result.
type LogResult = (Result<(), String>,);

impl Guest {
    /// Type-checks every function the component exports against the accessors below.
    fn check(&self, store: &mut Store<GuestState>) -> wasmtime::Result<()> {
        self.describe(store)?;
        self.init(store)?;
        for hook in Hook::ALL {
            if self.exports.funcs[ContractFunc::Hook(hook).slot()].is_none() {
                continue; // not exported: a hook the plugin does not have
            }
            match hook {
                Hook::PreCall => self.pre_call(store).map(drop)?,
                Hook::Moderation => self.moderation(store).map(drop)?,
                Hook::PostCallSuccess => self.post_call_success(store).map(drop)?,
                Hook::PostCallFailure => self.post_call_failure(store).map(drop)?,
                Hook::StreamChunk => self.stream_chunk(store).map(drop)?,
                Hook::StreamEnd => self.stream_end(store).map(drop)?,
                Hook::LogSuccess => self.log_success(store).map(drop)?,
                Hook::LogFailure => self.log_failure(store).map(drop)?,
            }
        }
        Ok(())
    }

    /// The function `func` of this instance with the signature `P -> R`: type-checked
    /// until the component's first instance has checked all of them, unchecked after.
    ///
    /// Only the accessors below call this, one per function, so a function is always
    /// asked for with the same signature: the one its check passed with.
    fn typed<P, R>(&self, store: &mut Store<GuestState>, func: ContractFunc) -> Typed<P, R>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let missing = || wasmtime::format_err!("the plugin does not export `{}`", func.names().1);
        let index = self.exports.funcs[func.slot()].as_ref().ok_or_else(missing)?;
        let found = self.instance.get_func(&mut *store, index).ok_or_else(missing)?;
        if self.exports.checked.load(Ordering::Acquire) {
            // SAFETY: `P -> R` is the signature `func` passed wasmtime's type check with on
            // an instance of the same `InstancePre` (see above), and every instance of one
            // `InstancePre` has the same component and resource types.
            Ok(unsafe { TypedFunc::new_unchecked(found) })
        } else {
            found.typed::<P, R>(&*store)
        }
    }

    fn describe(&self, store: &mut Store<GuestState>) -> Typed<(), (hooks::setup::PluginInfo,)> {
        self.typed(store, ContractFunc::Describe)
    }

    fn init<'a>(&self, store: &mut Store<GuestState>) -> Typed<(&'a str,), LogResult> {
        self.typed(store, ContractFunc::Init)
    }

    fn pre_call<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest), HookResult<hooks::pre_call::PreCallOutcome>> {
        self.typed(store, ContractFunc::Hook(Hook::PreCall))
    }

    fn moderation<'a>(&self, store: &mut Store<GuestState>) -> Typed<(Context<'a>, LentRequest), HookResult<()>> {
        self.typed(store, ContractFunc::Hook(Hook::Moderation))
    }

    fn post_call_success<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest, LentResponse), HookResult<()>> {
        self.typed(store, ContractFunc::Hook(Hook::PostCallSuccess))
    }

    fn post_call_failure<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest, &'a wit::Failure), HookResult<()>> {
        self.typed(store, ContractFunc::Hook(Hook::PostCallFailure))
    }

    fn stream_chunk<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest, Resource<ChunkView>), HookResult<hooks::stream_chunk::ChunkOutcome>> {
        self.typed(store, ContractFunc::Hook(Hook::StreamChunk))
    }

    fn stream_end<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest, &'a str), HookResult<()>> {
        self.typed(store, ContractFunc::Hook(Hook::StreamEnd))
    }

    fn log_success<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest, LentResponse, &'a wit::LogEntry), LogResult> {
        self.typed(store, ContractFunc::Hook(Hook::LogSuccess))
    }

    fn log_failure<'a>(
        &self,
        store: &mut Store<GuestState>,
    ) -> Typed<(Context<'a>, LentRequest, &'a wit::LogEntry), LogResult> {
        self.typed(store, ContractFunc::Hook(Hook::LogFailure))
    }

    pub async fn call(&self, store: &mut Store<GuestState>, call: Call<'_>) -> wasmtime::Result<Reply> {
        let edit = Access::Edit { max_bytes: store.data().max_output_bytes };
        Ok(match call {
            Call::Prepare => Reply::Done,
            Call::Describe => {
                let info = call_one(self.describe(store)?, store, ()).await?;
                Reply::Describe { name: info.name, version: info.version, hooks: None }
            }
            Call::Init(config) => Reply::Init(call_one(self.init(store)?, store, (config,)).await?),
            Call::PreCall(info, req) => {
                let hook = self.pre_call(store)?;
                let lent = Lent::new(store, request_view(req, edit))?;
                let result = call_one(hook, store, (&context(info), lent.borrow())).await;
                let (edited, _) = lent.take_back(store)?.view.finish();
                Reply::PreCall(answer(result?).map(|outcome| match (outcome, edited) {
                    (hooks::pre_call::PreCallOutcome::Respond(text), _) => PreCallOut::Respond(text),
                    (hooks::pre_call::PreCallOutcome::Proceed, Some(body)) => PreCallOut::Edited(body),
                    (hooks::pre_call::PreCallOutcome::Proceed, None) => PreCallOut::Proceed,
                }))
            }
            Call::Moderation(info, req) => {
                let hook = self.moderation(store)?;
                let lent = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let result = call_one(hook, store, (&context(info), lent.borrow())).await;
                lent.take_back(store)?;
                Reply::Verdict(answer(result?))
            }
            Call::PostCallSuccess(info, req, resp) => {
                let hook = self.post_call_success(store)?;
                let request = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let response = Lent::new(store, response_view(resp, edit))?;
                let result = call_one(hook, store, (&context(info), request.borrow(), response.borrow())).await;
                request.take_back(store)?;
                let (body, headers) = response.take_back(store)?.view.finish();
                Reply::PostCall(answer(result?).map(|()| match (body, headers.is_empty()) {
                    (None, true) => PostCallOut::Proceed,
                    (body, _) => PostCallOut::Edited { body, headers },
                }))
            }
            Call::PostCallFailure(info, req, failure) => {
                let hook = self.post_call_failure(store)?;
                let lent = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let failure = wit_failure(failure);
                let result = call_one(hook, store, (&context(info), lent.borrow(), &failure)).await;
                lent.take_back(store)?;
                Reply::Verdict(answer(result?))
            }
            Call::StreamChunk(info, req, loan) => {
                let hook = self.stream_chunk(store)?;
                let request = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let chunk = loan.take().ok_or_else(|| wasmtime::format_err!("stream-chunk without a chunk"))?;
                let lent = Lent::new(store, ChunkView(View::new(BodyKind::Chunk, chunk, edit)))?;
                let result = call_one(hook, store, (&context(info), request.borrow(), lent.borrow())).await;
                request.take_back(store)?;
                // The chunk as lent goes back whatever the call did; an edit is a new body.
                let (edited, lent_chunk) = lent.take_back(store)?.0.finish_keeping_base();
                loan.give_back(lent_chunk);
                Reply::Chunk(answer(result?).map(|outcome| match (outcome, edited) {
                    (hooks::stream_chunk::ChunkOutcome::Drop, _) => ChunkOut::Drop,
                    (hooks::stream_chunk::ChunkOutcome::Proceed, Some(body)) => ChunkOut::Edited(body),
                    (hooks::stream_chunk::ChunkOutcome::Proceed, None) => ChunkOut::Proceed,
                }))
            }
            Call::StreamEnd(info, req, text) => {
                let hook = self.stream_end(store)?;
                let lent = Lent::new(store, request_view(req, Access::ReadOnly))?;
                let result = call_one(hook, store, (&context(info), lent.borrow(), text)).await;
                lent.take_back(store)?;
                Reply::Verdict(answer(result?))
            }
            Call::LogSuccess(input) => {
                let hook = self.log_success(store)?;
                let request = Lent::new(store, request_view(&input.request, Access::ReadOnly))?;
                let response = match &input.response {
                    Some(response) => response_view(response, Access::ReadOnly),
                    None => return Err(wasmtime::format_err!("log-success without a response")),
                };
                let response = Lent::new(store, response)?;
                let entry = log_entry(&input.entry);
                let result =
                    call_one(hook, store, (&context(&input.info), request.borrow(), response.borrow(), &entry)).await;
                request.take_back(store)?;
                response.take_back(store)?;
                Reply::Logged(result?)
            }
            Call::LogFailure(input) => {
                let hook = self.log_failure(store)?;
                let request = Lent::new(store, request_view(&input.request, Access::ReadOnly))?;
                let entry = log_entry(&input.entry);
                let result = call_one(hook, store, (&context(&input.info), request.borrow(), &entry)).await;
                request.take_back(store)?;
                Reply::Logged(result?)
            }
        })
    }
}

/// Calls `func` with `params`: its one result.
async fn call_one<P, R>(func: TypedFunc<P, (R,)>, store: &mut Store<GuestState>, params: P) -> wasmtime::Result<R>
where
    P: ComponentNamedList + Lower + Send + Sync,
    (R,): ComponentNamedList + Lift + Send + Sync + 'static,
{
    Ok(func.call_async(store, params).await?.0)
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

/// The view's texts as the guest receives them, unless they would not fit in the memory
/// it may still grow: that is its memory limit's fault, raised before the host builds a
/// list as large as the body's paths can make it.
fn text_parts(view: &View, memory: &MemoryLimiter) -> wasmtime::Result<Vec<content::TextPart>> {
    let parts = view.texts_within(memory.room()).map_err(|more| wasmtime::Error::new(memory.exceeded_by(more)))?;
    Ok(parts
        .into_iter()
        .map(|part| content::TextPart {
            path: part.path,
            is_key: part.is_key,
            item: part.item,
            role: part.role.map(str::to_owned),
            text: part.text.to_owned(),
        })
        .collect())
}

/// Makes the guest's edits of the view's texts, unless the paths of the texts it edits
/// would not fit in the memory it may still grow: the host does no more work for an edit
/// than [`text_parts`] would for the list, and faults the same way.
fn edit_texts(
    view: &mut View,
    memory: &MemoryLimiter,
    edits: Vec<content::TextEdit>,
) -> wasmtime::Result<Result<(), content::EditError>> {
    let edits: Vec<(u32, String)> = edits.into_iter().map(|edit| (edit.index, edit.text)).collect();
    match view.set_texts_within(&edits, memory.room()) {
        Ok(done) => Ok(done.map_err(edit_error)),
        Err(more) => Err(wasmtime::Error::new(memory.exceeded_by(more))),
    }
}

impl content::Host for GuestState {}

impl content::HostRequest for GuestState {
    fn model(&mut self, this: Resource<RequestView>) -> wasmtime::Result<String> {
        let view = &self.table.get(&this)?.view;
        Ok(view.value().get("model").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned())
    }

    fn texts(&mut self, this: Resource<RequestView>) -> wasmtime::Result<Vec<content::TextPart>> {
        text_parts(&self.table.get(&this)?.view, &self.limiter)
    }

    fn set_texts(
        &mut self,
        this: Resource<RequestView>,
        edits: Vec<content::TextEdit>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        edit_texts(&mut self.table.get_mut(&this)?.view, &self.limiter, edits)
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
        text_parts(&self.table.get(&this)?.view, &self.limiter)
    }

    fn set_texts(
        &mut self,
        this: Resource<ResponseView>,
        edits: Vec<content::TextEdit>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        edit_texts(&mut self.table.get_mut(&this)?.view, &self.limiter, edits)
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
        text_parts(&self.table.get(&this)?.0, &self.limiter)
    }

    fn set_texts(
        &mut self,
        this: Resource<ChunkView>,
        edits: Vec<content::TextEdit>,
    ) -> wasmtime::Result<Result<(), content::EditError>> {
        edit_texts(&mut self.table.get_mut(&this)?.0, &self.limiter, edits)
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

#[cfg(test)]
mod tests {
    use crate::capabilities::kv::Kv;
    use crate::plugins::engine::{EngineOptions, PluginEngine};
    use crate::plugins::{LoadedPlugin, PluginSettings};

    /// A 0.2 component (WebAssembly text) whose `setup` is the contract's, with a
    /// `pre-call` of the type `pre_call` if given.
    fn component(pre_call: Option<&str>) -> Vec<u8> {
        let (pre_call, exported) = match pre_call {
            Some(ty) => (ty, r#"(export "hookgate:plugin/pre-call@0.2.0" (instance $pre))"#),
            None => ("(result u32)", ""),
        };
        let wat = format!(
            r#"(component
                (core module $m
                    (memory (export "memory") 1)
                    ;; describe's plugin-info: the name at 100 (3 bytes), the version at 103 (1).
                    (data (i32.const 0) "\64\00\00\00\03\00\00\00\67\00\00\00\01\00\00\00")
                    (data (i32.const 100) "wat0")
                    (func (export "describe") (result i32) (i32.const 0))
                    ;; init's result<_, string>: `ok`, the zeroed bytes at 200.
                    (func (export "init") (param i32 i32) (result i32) (i32.const 200))
                    (func (export "pre-call") (result i32) (i32.const 0))
                    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024)))
                (core instance $i (instantiate $m))
                (type $info' (record (field "name" string) (field "version" string)))
                (export $info "plugin-info" (type $info'))
                (func $describe (result $info) (canon lift (core func $i "describe") (memory (core memory $i "memory"))))
                (func $init (param "config" string) (result (result (error string)))
                    (canon lift (core func $i "init") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
                (func $pre-call {pre_call} (canon lift (core func $i "pre-call")))
                (instance $setup
                    (export "plugin-info" (type $info))
                    (export "describe" (func $describe))
                    (export "init" (func $init)))
                (instance $pre (export "pre-call" (func $pre-call)))
                (export "hookgate:plugin/setup@0.2.0" (instance $setup))
                {exported})"#
        );
        wat.into_bytes()
    }

    /// The unchecked calls rest on the load-time instance's check of every function the
    /// component exports: a hook of the wrong type is refused when the plugin is loaded,
    /// not called.
    #[tokio::test]
    async fn a_hook_of_the_wrong_type_is_refused_at_load() {
        let engine = PluginEngine::new(EngineOptions::default(), Kv::in_memory()).unwrap();
        let plugin = LoadedPlugin::load(&engine, "setup-only", component(None), PluginSettings::default()).await;
        assert!(plugin.is_ok_and(|plugin| plugin.info.name == "wat"), "the component's setup is the contract's");
        let error =
            LoadedPlugin::load(&engine, "wrong-type", component(Some("(result u32)")), PluginSettings::default())
                .await
                .err()
                .expect("refused");
        let error = format!("{error:#}");
        assert!(error.contains("wrong-type") && error.contains("type mismatch"), "{error}");
    }
}
