//! The glue between a [`Plugin`] and the component's exports.
//!
//! [`export_plugin!`](crate::export_plugin) (which `#[hookgate_sdk::plugin]` expands to)
//! implements [`Exported`] for the plugin type and exports [`Export<P>`] with the
//! `export!` macro wit-bindgen generated. `Export<P>` keeps the plugin value in a
//! thread-local slot: the component instance lives one request, so the slot does too.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::{wit, Guest};
use crate::{Chunk, Config, Hook, LogPayload, Plugin};

/// What the export macro declares about a plugin: its name, version and hooks.
pub trait Exported: Plugin {
    /// The name `describe` reports.
    const NAME: &'static str;
    /// The version `describe` reports.
    const VERSION: &'static str;
    /// The hooks `describe` reports. Only these reach the plugin; the exports of the
    /// others answer with the no-op.
    const HOOKS: &'static [Hook];
}

/// The component's exports for the plugin type `P`.
pub struct Export<P>(PhantomData<P>);

thread_local! {
    /// This instance's plugin value (a `P`), created by `init` or the first hook.
    static PLUGIN: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `hook` on the instance's plugin value, creating it first if needed; returns
/// `skipped` without touching the plugin when `P` does not implement `hook`.
fn call<P: Exported, R>(hook: Hook, skipped: R, run: impl FnOnce(&mut P) -> R) -> R {
    if !P::HOOKS.contains(&hook) {
        return skipped;
    }
    PLUGIN.with_borrow_mut(|slot| {
        let plugin = slot.get_or_insert_with(|| Box::new(create::<P>()));
        run(plugin.downcast_mut::<P>().expect("the slot holds the exported plugin type"))
    })
}

/// Creates the plugin from the host's config. The host validated that config with
/// `init` at load, so a refusal here is a plugin bug: trap with a message saying so.
fn create<P: Exported>() -> P {
    P::new(crate::config::get()).unwrap_or_else(|message| {
        panic!("plugin `{}` refused at request time the config it accepted at load: {message}", P::NAME)
    })
}

impl<P: Exported> Guest for Export<P> {
    fn describe() -> wit::PluginInfo {
        wit::PluginInfo { name: P::NAME.to_owned(), version: P::VERSION.to_owned(), hooks: P::HOOKS.to_vec() }
    }

    fn init(config: String) -> Result<(), String> {
        let plugin = P::new(Config::from(config))?;
        PLUGIN.set(Some(Box::new(plugin)));
        Ok(())
    }

    fn pre_call(req: wit::Request) -> Result<wit::PreCallOutcome, wit::Rejection> {
        call(Hook::PreCall, Ok(crate::PreCall::Proceed), |p: &mut P| p.pre_call(&req)).map(Into::into)
    }

    fn moderation(req: wit::Request) -> Result<(), wit::Rejection> {
        call(Hook::Moderation, Ok(()), |p: &mut P| p.moderation(&req))
    }

    fn post_call_success(req: wit::Request, resp: wit::Response) -> Result<wit::PostCallOutcome, wit::Rejection> {
        call(Hook::PostCallSuccess, Ok(crate::PostCall::Proceed), |p: &mut P| p.post_call_success(&req, &resp))
            .map(Into::into)
    }

    fn post_call_failure(req: wit::Request, failure: wit::Failure) -> Result<(), wit::Rejection> {
        call(Hook::PostCallFailure, Ok(()), |p: &mut P| p.post_call_failure(&req, &failure))
    }

    fn stream_chunk(ctx: wit::CallContext, chunk: String) -> Result<wit::ChunkOutcome, wit::Rejection> {
        let chunk = Chunk::new(chunk);
        call(Hook::StreamChunk, Ok(crate::ChunkOutcome::Proceed), |p: &mut P| p.stream_chunk(&ctx, &chunk))
            .map(Into::into)
    }

    fn stream_end(ctx: wit::CallContext, text: String) -> Result<(), wit::Rejection> {
        call(Hook::StreamEnd, Ok(()), |p: &mut P| p.stream_end(&ctx, &text))
    }

    fn log_success(payload: String) {
        let payload = LogPayload::new(payload);
        call(Hook::LogSuccess, (), |p: &mut P| p.log_success(&payload));
    }

    fn log_failure(payload: String) {
        let payload = LogPayload::new(payload);
        call(Hook::LogFailure, (), |p: &mut P| p.log_failure(&payload));
    }
}

/// Exports a [`Plugin`] type as the component's plugin, declaring its hooks by hand.
///
/// ```ignore
/// hookgate_sdk::export_plugin!(MyPlugin, hooks = [pre_call, post_call_success]);
/// hookgate_sdk::export_plugin!(MyPlugin, hooks = [pre_call], name = "mine", version = "1.0.0");
/// ```
///
/// `hooks` lists the [`Plugin`] methods the host should call, by method name; the host
/// calls no others, even if the impl defines them. `name` and `version` default to the
/// calling crate's `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`. Use it once per component.
/// [`#[hookgate_sdk::plugin]`](macro@crate::plugin) writes this call for you.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, hooks = [$($hook:ident),* $(,)?] $(, name = $name:expr)? $(, version = $version:expr)? $(,)?) => {
        const _: () = {
            impl $crate::export::Exported for $plugin {
                const NAME: &'static str = $crate::__hookgate_or!($($name)?; ::core::env!("CARGO_PKG_NAME"));
                const VERSION: &'static str = $crate::__hookgate_or!($($version)?; ::core::env!("CARGO_PKG_VERSION"));
                const HOOKS: &'static [$crate::Hook] = &[$($crate::__hookgate_hook!($hook)),*];
            }
            type HookgateExport = $crate::export::Export<$plugin>;
            $crate::bindings::export!(HookgateExport with_types_in $crate::bindings);
        };
    };
}

/// `value; default` → `value`, `; default` → `default`.
#[doc(hidden)]
#[macro_export]
#[rustfmt::skip]
macro_rules! __hookgate_or {
    (; $default:expr) => { $default };
    ($value:expr; $default:expr) => { $value };
}

/// A [`Plugin`] method name → its [`Hook`]; any other name is a compile error.
#[doc(hidden)]
#[macro_export]
#[rustfmt::skip] // a table: one line per entry
macro_rules! __hookgate_hook {
    (pre_call) => { $crate::Hook::PreCall };
    (moderation) => { $crate::Hook::Moderation };
    (post_call_success) => { $crate::Hook::PostCallSuccess };
    (post_call_failure) => { $crate::Hook::PostCallFailure };
    (stream_chunk) => { $crate::Hook::StreamChunk };
    (stream_end) => { $crate::Hook::StreamEnd };
    (log_success) => { $crate::Hook::LogSuccess };
    (log_failure) => { $crate::Hook::LogFailure };
}
