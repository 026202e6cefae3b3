//! Plugin faults: everything that goes wrong inside a plugin that is not a rejection.
//!
//! A fault never reaches the client as the plugin's answer. The pipeline hands it to the
//! plugin's `on_error` policy and counts it; the instance that faulted is dropped at once
//! (a trap poisons a wasmtime store).

use std::fmt;
use std::time::Duration;

use crate::types::Hook;

/// What kind of fault a plugin had: the key of fault metrics and circuit breaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The hook used up its fuel (CPU budget).
    OutOfFuel,
    /// The hook ran past its wall-clock deadline, computing or blocked in a host call.
    Deadline,
    /// The plugin tried to grow its memories past its memory cap.
    MemoryLimit,
    /// The guest overflowed its WebAssembly stack.
    StackOverflow,
    /// Any other trap: a panic, `unreachable`, an out-of-bounds access, a host-call error.
    Trap,
    /// The plugin reported its own failure: contract 0.2's `hook-error.fail` (what the
    /// SDKs turn an uncaught exception into), or 0.1's status-0 rejection.
    Failed,
    /// The plugin could not be instantiated (no free slot, a failing start function, ...).
    Instantiate,
    /// The hook returned output the host cannot use (not JSON where JSON is required,
    /// bigger than allowed, an invalid header).
    BadOutput,
    /// The guest trapped after a kv call found the store unavailable (Redis down): the
    /// plugin gave up on a dependency. `on_error` applies, but it does not count towards
    /// quarantine, so service resumes the moment the store is back.
    KvUnavailable,
}

/// A fault kind's two spellings from one list: its name, and the decision a faulted call
/// records (`fault:` and the name, a constant so that recording one allocates nothing).
macro_rules! names {
    ($($kind:ident => $name:literal,)*) => {
        /// The kind's stable name, as in logs and metrics: `out_of_fuel`, `deadline`, ...
        pub fn name(self) -> &'static str {
            match self {
                $(FaultKind::$kind => $name,)*
            }
        }

        /// The decision a call that faulted this way records (`fault:<name>`), in the
        /// logging payload, traces and the console's recent events.
        pub fn decision(self) -> &'static str {
            match self {
                $(FaultKind::$kind => concat!("fault:", $name),)*
            }
        }
    };
}

impl FaultKind {
    names! {
        OutOfFuel => "out_of_fuel",
        Deadline => "deadline",
        MemoryLimit => "memory_limit",
        StackOverflow => "stack_overflow",
        Trap => "trap",
        Failed => "failed",
        Instantiate => "instantiate",
        BadOutput => "bad_output",
        KvUnavailable => "kv_unavailable",
    }

    /// Whether a fault of this kind could be the plugin's own (and so count towards its
    /// quarantine). An unavailable kv store is an outage outside the plugin.
    pub fn is_the_plugins(self) -> bool {
        self != FaultKind::KvUnavailable
    }

    /// Whether the input could have caused a fault of this kind, so that probing the hook
    /// on a harmless input tells whose fault it is. An instance that cannot even be
    /// created never saw the input.
    pub fn may_be_the_inputs(self) -> bool {
        !matches!(self, FaultKind::Instantiate | FaultKind::KvUnavailable)
    }
}

/// Who a fault is charged to. Only the plugin's own faults count towards its quarantine,
/// and only they are subject to its `on_error` policy: a fault its input caused never lets
/// that input through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCause {
    /// The plugin is broken: it also faults on a harmless input (or could not even be
    /// instantiated).
    Plugin,
    /// The input (the request, or the upstream's answer) drove the plugin past its limits
    /// or into a bug: the plugin handles a harmless input fine.
    Input,
    /// A dependency outside the plugin failed (its kv store was unavailable).
    Outside,
    /// The call ran out of time while the guest mostly waited for a CPU, on a plugin that
    /// handles a harmless input: the machine was too busy for the check to finish, and
    /// neither the input nor the plugin is to blame.
    Load,
}

impl FaultCause {
    /// The cause's stable name, as in metrics and the logging payload.
    pub fn name(self) -> &'static str {
        match self {
            FaultCause::Plugin => "plugin",
            FaultCause::Input => "input",
            FaultCause::Outside => "outside",
            FaultCause::Load => "load",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A classified plugin fault, with what an operator needs to find its cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin `{plugin}` faulted in {hook_name} ({kind}): {message}")]
pub struct Fault {
    /// The plugin that faulted.
    pub plugin: String,
    /// The hook that was running, or `None` for `describe`/`init` at load time.
    pub hook: Option<Hook>,
    /// The fault's class.
    pub kind: FaultKind,
    /// What happened, in one line.
    pub message: String,
    /// The guest's WebAssembly backtrace, for traps, when wasmtime captured one.
    pub backtrace: Option<String>,
    /// The last lines the guest wrote to stderr before faulting (e.g. a Rust panic message).
    pub guest_stderr: Option<String>,
    /// How long the call ran before it was stopped.
    pub elapsed: Duration,
    /// For a deadline: true when the guest was blocked in a host call (a sleep, a slow
    /// store) rather than computing or waiting for a CPU.
    pub in_host_call: bool,
    pub(crate) hook_name: &'static str,
}

impl Fault {
    /// Builds a fault; `hook` is `None` for the load-time exports.
    pub(crate) fn new(
        plugin: &str,
        hook: Option<Hook>,
        hook_name: &'static str,
        kind: FaultKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            plugin: plugin.to_owned(),
            hook,
            kind,
            message: message.into(),
            backtrace: None,
            guest_stderr: None,
            elapsed: Duration::ZERO,
            in_host_call: false,
            hook_name,
        }
    }

    /// Logs the fault with who caused it and what it did to the request (`outcome`): at
    /// warn, or at debug for a kv outage, which the store logs once for all the calls it
    /// fails. What the guest wrote is cut and escaped: it cannot forge log lines.
    pub fn log(&self, cause: FaultCause, outcome: &str) {
        let (plugin, hook, kind, cause) = (&self.plugin, self.hook_name, self.kind.name(), cause.name());
        let message = crate::text::for_log(&self.message, MAX_LOGGED_FAULT_BYTES);
        let guest_stderr = crate::text::for_log(self.guest_stderr.as_deref().unwrap_or(""), MAX_LOGGED_FAULT_BYTES);
        if self.kind.is_the_plugins() {
            tracing::warn!(plugin, hook, kind, cause, error = %message, %guest_stderr, outcome, "plugin fault");
        } else {
            tracing::debug!(plugin, hook, kind, cause, error = %message, %guest_stderr, outcome, "plugin fault");
        }
    }
}

/// How much of a fault's message and of the guest's stderr tail one log line holds.
const MAX_LOGGED_FAULT_BYTES: usize = 2048;

/// Raised by the memory limiter: growing would pass the plugin's cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded: the plugin asked for {requested} bytes in total")]
pub(crate) struct MemoryLimitExceeded {
    pub limit: usize,
    pub requested: usize,
}

/// wasmtime's message when a guest hands the host more bytes in one call than the store's
/// hostcall fuel allows (set to the plugin's `max_output_bytes`). The error type is
/// private to wasmtime, so it is recognised by its text; the `huge-output` adversarial
/// test fails if a wasmtime upgrade changes it.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Classifies an error returned by wasmtime for a call or instantiation.
///
/// `memory_limit_hit` comes from the store's limiter: a guest may turn a refused growth
/// into its own trap (Rust aborts on allocation failure), which must still count as
/// `memory_limit`.
pub(crate) fn classify(
    error: &wasmtime::Error,
    memory_limit_hit: bool,
    instantiating: bool,
) -> (FaultKind, String, Option<String>) {
    let backtrace =
        error.downcast_ref::<wasmtime::WasmBacktrace>().map(|bt| bt.to_string()).filter(|bt| !bt.trim().is_empty());
    if memory_limit_hit || error.downcast_ref::<MemoryLimitExceeded>().is_some() {
        let message = error
            .downcast_ref::<MemoryLimitExceeded>()
            .map(ToString::to_string)
            .unwrap_or_else(|| "the plugin ran out of memory at its memory cap".to_owned());
        return (FaultKind::MemoryLimit, message, backtrace);
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        let kind = match trap {
            wasmtime::Trap::OutOfFuel => FaultKind::OutOfFuel,
            wasmtime::Trap::Interrupt => FaultKind::Deadline,
            wasmtime::Trap::StackOverflow => FaultKind::StackOverflow,
            _ if instantiating => FaultKind::Instantiate,
            _ => FaultKind::Trap,
        };
        return (kind, trap.to_string(), backtrace);
    }
    let message = format!("{error:#}");
    if message.contains(HOSTCALL_FUEL_EXHAUSTED) {
        let message =
            format!("the plugin handed the host more bytes in one call than its max_output_bytes allows ({message})");
        return (FaultKind::BadOutput, message, backtrace);
    }
    let kind = if instantiating { FaultKind::Instantiate } else { FaultKind::Trap };
    (kind, message, backtrace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_cause_and_phase() {
        let trap = |t: wasmtime::Trap| wasmtime::Error::new(t);
        let kind = |e: &wasmtime::Error, hit, inst| classify(e, hit, inst).0;
        assert_eq!(kind(&trap(wasmtime::Trap::OutOfFuel), false, false), FaultKind::OutOfFuel);
        assert_eq!(kind(&trap(wasmtime::Trap::Interrupt), false, false), FaultKind::Deadline);
        assert_eq!(kind(&trap(wasmtime::Trap::StackOverflow), false, false), FaultKind::StackOverflow);
        assert_eq!(kind(&trap(wasmtime::Trap::UnreachableCodeReached), false, false), FaultKind::Trap);
        // A trap or any other error while instantiating is an instantiation fault...
        assert_eq!(kind(&trap(wasmtime::Trap::UnreachableCodeReached), false, true), FaultKind::Instantiate);
        assert_eq!(kind(&wasmtime::Error::msg("no slot"), false, true), FaultKind::Instantiate);
        // ...unless the limiter refused memory: that is the memory limit, in any phase.
        assert_eq!(kind(&trap(wasmtime::Trap::UnreachableCodeReached), true, false), FaultKind::MemoryLimit);
        assert_eq!(kind(&wasmtime::Error::msg("grow failed"), true, true), FaultKind::MemoryLimit);
        let exceeded = wasmtime::Error::new(MemoryLimitExceeded { limit: 1, requested: 2 });
        assert_eq!(kind(&exceeded, false, false), FaultKind::MemoryLimit);
        let hostcall = wasmtime::Error::msg(format!("too much data: {HOSTCALL_FUEL_EXHAUSTED}"));
        assert_eq!(kind(&hostcall, false, false), FaultKind::BadOutput);
    }
}
