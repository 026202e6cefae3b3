//! The glue between a [`Plugin`] and the component's exports.
//!
//! [`#[hookgate_sdk::plugin]`](macro@crate::plugin) generates, in the plugin's crate, the
//! exports of exactly the hooks the `impl` block defines (wit-bindgen's, from
//! `wit/plugin.wit`), each forwarding to the function of this module with its name. These
//! keep the instance's plugin value and the current request's context in a thread-local
//! slot: the plugin value lives as long as the instance; the context is made afresh
//! whenever a hook arrives for another request id.

use std::any::Any;
use std::cell::RefCell;

use crate::bindings::content as host;
use crate::bindings::wit;
use crate::{Chunk, ChunkOutcome, Config, Plugin, PreCall, Request, Response};

/// What the attribute declares about a plugin: its name and version.
pub trait Exported: Plugin {
    /// The name `describe` reports.
    const NAME: &'static str;
    /// The version `describe` reports.
    const VERSION: &'static str;
}

/// An instance's plugin value and the context of the request it is serving.
struct Instance<P: Plugin> {
    plugin: P,
    request_id: Option<String>,
    ctx: P::Ctx,
}

thread_local! {
    /// This instance's `Instance<P>`, made by `init` or the first hook.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs a hook on the plugin value, with the context of the request `call` belongs to
/// (fresh if this is the first hook of that request on this instance). Public for the
/// SDK's own tests of that guarantee.
#[doc(hidden)]
pub fn with<P: Exported, R>(call: &wit::CallContext, run: impl FnOnce(&P, &mut P::Ctx) -> R) -> R {
    INSTANCE.with_borrow_mut(|slot| {
        let instance = slot.get_or_insert_with(|| Box::new(Instance::<P>::new(create::<P>())));
        let instance = instance.downcast_mut::<Instance<P>>().expect("the slot holds the exported plugin type");
        if instance.request_id.as_deref() != Some(call.request_id.as_str()) {
            instance.ctx = P::Ctx::default();
            instance.request_id = Some(call.request_id.clone());
        }
        run(&instance.plugin, &mut instance.ctx)
    })
}

impl<P: Plugin> Instance<P> {
    fn new(plugin: P) -> Self {
        Instance { plugin, request_id: None, ctx: P::Ctx::default() }
    }
}

/// Creates the plugin from the host's config. The host validated that config with
/// `init` at load, so a refusal here is a plugin bug: trap with a message saying so.
fn create<P: Exported>() -> P {
    P::new(crate::config::get()).unwrap_or_else(|message| {
        panic!("plugin `{}` refused at request time the config it accepted at load: {message}", P::NAME)
    })
}

/// `setup.describe`: the plugin's name and version.
pub fn describe<P: Exported>() -> (String, String) {
    (P::NAME.to_owned(), P::VERSION.to_owned())
}

/// `setup.init`: makes the plugin from `config`, or says why it cannot.
pub fn init<P: Exported>(config: String) -> Result<(), String> {
    let plugin = P::new(Config::from(config))?;
    INSTANCE.set(Some(Box::new(Instance::new(plugin))));
    Ok(())
}

/// The `pre-call` export.
pub fn pre_call<P: Exported>(call: wit::CallContext, req: &host::Request) -> Result<PreCall, wit::HookError> {
    let req = Request::from_host(&call, req);
    with(&call, |plugin: &P, ctx| plugin.pre_call(ctx, &req)).map_err(wit::HookError::from)
}

/// The `moderation` export.
pub fn moderation<P: Exported>(call: wit::CallContext, req: &host::Request) -> Result<(), wit::HookError> {
    let req = Request::from_host(&call, req);
    with(&call, |plugin: &P, ctx| plugin.moderation(ctx, &req)).map_err(wit::HookError::from)
}

/// The `post-call-success` export.
pub fn post_call_success<P: Exported>(
    call: wit::CallContext,
    req: &host::Request,
    resp: &host::Response,
) -> Result<(), wit::HookError> {
    let (req, resp) = (Request::from_host(&call, req), Response::from_host(resp));
    with(&call, |plugin: &P, ctx| plugin.post_call_success(ctx, &req, &resp)).map_err(wit::HookError::from)
}

/// The `post-call-failure` export.
pub fn post_call_failure<P: Exported>(
    call: wit::CallContext,
    req: &host::Request,
    failure: wit::Failure,
) -> Result<(), wit::HookError> {
    let req = Request::from_host(&call, req);
    with(&call, |plugin: &P, ctx| plugin.post_call_failure(ctx, &req, &failure)).map_err(wit::HookError::from)
}

/// The `stream-chunk` export.
pub fn stream_chunk<P: Exported>(
    call: wit::CallContext,
    req: &host::Request,
    chunk: &host::Chunk,
) -> Result<ChunkOutcome, wit::HookError> {
    let (req, chunk) = (Request::from_host(&call, req), Chunk::from_host(chunk));
    with(&call, |plugin: &P, ctx| plugin.stream_chunk(ctx, &req, &chunk)).map_err(wit::HookError::from)
}

/// The `stream-end` export.
pub fn stream_end<P: Exported>(
    call: wit::CallContext,
    req: &host::Request,
    text: String,
) -> Result<(), wit::HookError> {
    let req = Request::from_host(&call, req);
    with(&call, |plugin: &P, ctx| plugin.stream_end(ctx, &req, &text)).map_err(wit::HookError::from)
}

/// The `log-success` export.
pub fn log_success<P: Exported>(
    call: wit::CallContext,
    req: &host::Request,
    resp: &host::Response,
    entry: wit::LogEntry,
) -> Result<(), String> {
    let (req, resp) = (Request::from_host(&call, req), Response::from_host(resp));
    with(&call, |plugin: &P, ctx| plugin.log_success(ctx, &req, &resp, &entry))
}

/// The `log-failure` export.
pub fn log_failure<P: Exported>(
    call: wit::CallContext,
    req: &host::Request,
    entry: wit::LogEntry,
) -> Result<(), String> {
    let req = Request::from_host(&call, req);
    with(&call, |plugin: &P, ctx| plugin.log_failure(ctx, &req, &entry))
}
