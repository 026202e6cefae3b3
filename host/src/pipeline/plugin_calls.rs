//! What the hook runner needs of a plugin, as two small traits, so that the runner's
//! policy (order, `on_error`, quarantine, first rejection wins, moderation racing the
//! upstream) can be tested in-process with fakes, and runs in production on the registry's
//! [`ActivePlugin`] and its wasm [`PluginInstance`].

use std::future::Future;
use std::sync::Arc;

use super::attribution::{self, ProbeShape};
use crate::content::{RequestDoc, ResponseDoc};
use crate::plugins::registry::{ActivePlugin, CallEnd, QuarantinePolicy};
use crate::plugins::{
    CallStats, ChunkDecision, ChunkLoan, Fault, FaultCause, HookError, OnError, PluginInstance, PostCallDecision,
    PreCallDecision, Teardown,
};
use crate::types::{CallInfo, Failure, Hook, HookSet};

/// How a plugin runs for one request: the hooks it may run there (a guardrail's `mode`
/// narrows them) and the config its team or key gives it, if any.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    /// The hooks called for this request.
    pub hooks: HookSet,
    /// The config (JSON text) instead of the plugin's own.
    pub config: Option<Arc<str>>,
}

/// One plugin as every request sees it: its name, hooks and policy, its health, and how
/// to get an instance of it for one request.
pub(crate) trait HookPlugin: Send + Sync + 'static {
    /// The plugin's per-request instance.
    type Instance: HookInstance;

    /// The registered name.
    fn name(&self) -> &str;
    /// The hooks it implements: the only ones called.
    fn hooks(&self) -> HookSet;
    /// What a fault of its own does to a guarding hook's request.
    fn on_error(&self) -> OnError;
    /// True while the circuit breaker keeps the plugin out.
    fn is_quarantined(&self) -> bool;
    /// True when its instances may serve later requests (`instances: reuse`); for traces.
    fn reuses_instances(&self) -> bool {
        false
    }
    /// Records how one call that ran ended (health, quarantine, metrics).
    fn record_call(&self, hook: Hook, end: CallEnd, stats: Option<CallStats>, policy: QuarantinePolicy);
    /// A fresh, lazily instantiated instance for the request `request_id`, running with
    /// `config` instead of the plugin's own when given.
    fn instance(self: &Arc<Self>, request_id: Arc<str>, config: Option<Arc<str>>) -> Self::Instance;
    /// Whom `fault` (raised by `hook`, whose call `stats` describe) is charged to.
    fn cause_of(
        &self,
        hook: Hook,
        fault: &Fault,
        stats: Option<CallStats>,
        shape: &ProbeShape,
    ) -> impl Future<Output = FaultCause> + Send;
}

/// A plugin's instance for one request: the guarding and observing hooks of the
/// request's way through the proxy (the logging hooks run later, off the response path).
pub(crate) trait HookInstance: Send {
    /// `pre-call`.
    fn pre_call(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
    ) -> impl Future<Output = Result<PreCallDecision, HookError>> + Send;
    /// `moderation`.
    fn moderation(&mut self, info: &CallInfo, req: &RequestDoc) -> impl Future<Output = Result<(), HookError>> + Send;
    /// `post-call-success`.
    fn post_call_success(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        resp: &ResponseDoc,
    ) -> impl Future<Output = Result<PostCallDecision, HookError>> + Send;
    /// `post-call-failure`.
    fn post_call_failure(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        failure: &Failure,
    ) -> impl Future<Output = Result<(), HookError>> + Send;
    /// `stream-chunk`.
    fn stream_chunk(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        chunk: &ChunkLoan,
    ) -> impl Future<Output = Result<ChunkDecision, HookError>> + Send;
    /// `stream-end`.
    fn stream_end(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        text: &str,
    ) -> impl Future<Output = Result<(), HookError>> + Send;
    /// The cost of the last call, if one ran.
    fn last_call(&self) -> Option<CallStats>;
    /// The request is done with the instance for now (its pool slot goes back): a
    /// reused plugin's goes back to its warm pool now; one to tear down goes into
    /// `teardown`, for the caller to drop off the request's path.
    fn release_into(&mut self, teardown: &mut Teardown);
}

impl HookPlugin for ActivePlugin {
    type Instance = PluginInstance;

    fn name(&self) -> &str {
        ActivePlugin::name(self)
    }

    fn hooks(&self) -> HookSet {
        self.plugin.info().hooks
    }

    fn on_error(&self) -> OnError {
        self.plugin.settings().on_error
    }

    fn reuses_instances(&self) -> bool {
        self.plugin.settings().instances == crate::plugins::Instances::Reuse
    }

    fn is_quarantined(&self) -> bool {
        self.health.quarantined_for().is_some()
    }

    fn record_call(&self, hook: Hook, end: CallEnd, stats: Option<CallStats>, policy: QuarantinePolicy) {
        ActivePlugin::record_call(self, hook, end, stats, policy);
    }

    fn instance(self: &Arc<Self>, request_id: Arc<str>, config: Option<Arc<str>>) -> PluginInstance {
        self.plugin.instance(request_id).with_config(config)
    }

    fn cause_of(
        &self,
        hook: Hook,
        fault: &Fault,
        stats: Option<CallStats>,
        shape: &ProbeShape,
    ) -> impl Future<Output = FaultCause> + Send {
        attribution::cause_of(self, hook, fault, stats, shape)
    }
}

impl HookInstance for PluginInstance {
    fn pre_call(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
    ) -> impl Future<Output = Result<PreCallDecision, HookError>> + Send {
        PluginInstance::pre_call(self, info, req)
    }

    fn moderation(&mut self, info: &CallInfo, req: &RequestDoc) -> impl Future<Output = Result<(), HookError>> + Send {
        PluginInstance::moderation(self, info, req)
    }

    fn post_call_success(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        resp: &ResponseDoc,
    ) -> impl Future<Output = Result<PostCallDecision, HookError>> + Send {
        PluginInstance::post_call_success(self, info, req, resp)
    }

    fn post_call_failure(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        failure: &Failure,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        PluginInstance::post_call_failure(self, info, req, failure)
    }

    fn stream_chunk(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        chunk: &ChunkLoan,
    ) -> impl Future<Output = Result<ChunkDecision, HookError>> + Send {
        PluginInstance::stream_chunk(self, info, req, chunk)
    }

    fn stream_end(
        &mut self,
        info: &CallInfo,
        req: &RequestDoc,
        text: &str,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        PluginInstance::stream_end(self, info, req, text)
    }

    fn last_call(&self) -> Option<CallStats> {
        PluginInstance::last_call(self)
    }

    fn release_into(&mut self, teardown: &mut Teardown) {
        PluginInstance::release_into(self, teardown);
    }
}
