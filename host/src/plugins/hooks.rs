//! The hooks a plugin can implement, and sets of them.

use std::fmt;

use super::bindings::types as wit;

/// One lifecycle hook of the `hookgate:plugin` world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Before the upstream call, sequential by priority.
    PreCall,
    /// Concurrently with the upstream call.
    Moderation,
    /// After a successful non-streaming upstream call.
    PostCallSuccess,
    /// After an upstream or proxy error.
    PostCallFailure,
    /// Once per streamed chunk.
    StreamChunk,
    /// Once at the end of a stream.
    StreamEnd,
    /// Off the response path, after a success.
    LogSuccess,
    /// Off the response path, after a failure.
    LogFailure,
}

impl Hook {
    /// Every hook, in lifecycle order.
    pub const ALL: [Hook; 8] = [
        Hook::PreCall,
        Hook::Moderation,
        Hook::PostCallSuccess,
        Hook::PostCallFailure,
        Hook::StreamChunk,
        Hook::StreamEnd,
        Hook::LogSuccess,
        Hook::LogFailure,
    ];

    /// The hook's WIT name, e.g. `pre-call`: used in logs, metrics and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            Hook::PreCall => "pre-call",
            Hook::Moderation => "moderation",
            Hook::PostCallSuccess => "post-call-success",
            Hook::PostCallFailure => "post-call-failure",
            Hook::StreamChunk => "stream-chunk",
            Hook::StreamEnd => "stream-end",
            Hook::LogSuccess => "log-success",
            Hook::LogFailure => "log-failure",
        }
    }

    /// Parses a WIT hook name such as `pre-call`.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.name() == name)
    }

    /// True for the hooks whose outcome decides what the client gets (they may refuse
    /// the request or the response): a check that fails there must not let it through.
    /// Observers (`post-call-failure`, the logging hooks) never hold a response back.
    pub fn guards(self) -> bool {
        matches!(self, Hook::PreCall | Hook::Moderation | Hook::PostCallSuccess | Hook::StreamChunk | Hook::StreamEnd)
    }

    /// The hook's position in [`Hook::ALL`], for per-hook tables.
    pub fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<wit::Hook> for Hook {
    fn from(hook: wit::Hook) -> Self {
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
}

/// The set of hooks a plugin implements, as declared by its `describe`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct HookSet(u16);

impl HookSet {
    /// True when the set contains `hook`.
    pub fn contains(self, hook: Hook) -> bool {
        self.0 & hook.bit() != 0
    }

    /// Adds `hook` to the set.
    pub fn insert(&mut self, hook: Hook) {
        self.0 |= hook.bit();
    }

    /// The hooks in the set, in lifecycle order.
    pub fn iter(self) -> impl Iterator<Item = Hook> {
        Hook::ALL.into_iter().filter(move |hook| self.contains(*hook))
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set with `hook` added.
    pub fn with(mut self, hook: Hook) -> HookSet {
        self.insert(hook);
        self
    }

    /// True when the two sets share a hook.
    pub fn intersects(self, other: HookSet) -> bool {
        self.0 & other.0 != 0
    }
}

impl FromIterator<Hook> for HookSet {
    fn from_iter<I: IntoIterator<Item = Hook>>(iter: I) -> Self {
        let mut set = HookSet::default();
        for hook in iter {
            set.insert(hook);
        }
        set
    }
}

impl fmt::Debug for HookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Hook::name)).finish()
    }
}
