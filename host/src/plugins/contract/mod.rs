//! The plugin contracts the host speaks, and the one shape the rest of the runtime sees.
//!
//! - [`v0_2`]: `hookgate:plugin@0.2.0` (`wit/plugin.wit`), the current contract: a hook per
//!   exported interface, the request, response and chunks as `content` resources.
//! - [`v0_1`]: `hookgate:plugin@0.1.0` (`wit/0.1/plugin.wit`), kept working: the host
//!   adapts 0.1 components, serializing bodies for them and parsing what they return.
//!
//! A component's version is read from its exports when it is loaded ([`GuestPre::new`]).
//! From there on the instance speaks in [`Call`]s and [`Reply`]s, which name host values
//! only (`content`, `types`), so nothing outside this module knows which version a plugin
//! was built against.

pub(crate) mod v0_1;
pub(crate) mod v0_2;

use wasmtime::component::{Component, Linker};
use wasmtime::Store;

use super::state::GuestState;
use crate::content::{Body, RequestDoc, ResponseDoc};
use crate::types::{CallInfo, Failure, Header, Hook, HookSet, LogEntry};

/// Adds every version's imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker(linker)?;
    v0_2::add_to_linker(linker)
}

/// The contract versions a component may be built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `hookgate:plugin@0.1.x`, adapted.
    V0_1,
    /// `hookgate:plugin@0.2.x`.
    V0_2,
}

impl Version {
    /// The package version, as shown in `/plugins`.
    pub fn label(self) -> &'static str {
        match self {
            Version::V0_1 => "hookgate:plugin@0.1",
            Version::V0_2 => "hookgate:plugin@0.2",
        }
    }
}

/// A linked component, ready to instantiate, in its contract version.
pub(crate) enum GuestPre {
    V0_1(v0_1::Pre),
    V0_2(v0_2::Pre),
}

impl GuestPre {
    /// The compiled component, for what it imports and exports.
    pub(crate) fn component(&self) -> &wasmtime::component::Component {
        match self {
            Self::V0_1(pre) => pre.0.instance_pre().component(),
            Self::V0_2(pre) => pre.instance_pre.component(),
        }
    }
}

/// Why a component does not fit a contract.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// It exports neither contract's entry points.
    #[error(
        "it exports neither `hookgate:plugin/setup@0.2.x` (contract 0.2) nor the `describe` function of \
         contract 0.1: build it with a hookgate SDK, or against wit/plugin.wit"
    )]
    NotAPlugin,
    /// It claims a version but its imports or exports do not match it.
    #[error("{0:#}")]
    Mismatch(wasmtime::Error),
}

impl GuestPre {
    /// Links `component` against the contract its exports name.
    pub fn new(linker: &Linker<GuestState>, component: &Component) -> Result<Self, LinkError> {
        if v0_2::Pre::claims(component) {
            return v0_2::Pre::new(linker, component).map(GuestPre::V0_2).map_err(LinkError::Mismatch);
        }
        if v0_1::Pre::claims(component) {
            return v0_1::Pre::new(linker, component).map(GuestPre::V0_1).map_err(LinkError::Mismatch);
        }
        Err(LinkError::NotAPlugin)
    }

    /// The contract version.
    pub fn version(&self) -> Version {
        match self {
            GuestPre::V0_1(_) => Version::V0_1,
            GuestPre::V0_2(_) => Version::V0_2,
        }
    }

    /// The hooks the component exports, when its contract says so by exports (0.2); 0.1
    /// components list theirs in `describe`.
    pub fn exported_hooks(&self) -> Option<HookSet> {
        match self {
            GuestPre::V0_1(_) => None,
            GuestPre::V0_2(pre) => Some(pre.hooks()),
        }
    }

    /// A new instance in `store`.
    pub async fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::V0_1(pre) => Guest::V0_1(pre.instantiate(store).await?),
            GuestPre::V0_2(pre) => Guest::V0_2(pre.instantiate(store).await?),
        })
    }
}

/// A live instance's exports, in its contract version.
// A 0.1 guest's are bindgen's (240 bytes), a 0.2 guest's an instance and its component's
// export table (24): boxing the larger would allocate once more per 0.1 instance, which
// already lives inside a store many times that size.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Guest {
    V0_1(v0_1::Guest),
    V0_2(v0_2::Guest),
}

impl Guest {
    /// Makes one call. A `wasmtime::Error` is a trap (or a host-side failure that ends
    /// the call); everything the guest returned comes back as a [`Reply`].
    pub async fn call(&self, store: &mut Store<GuestState>, call: Call<'_>) -> wasmtime::Result<Reply> {
        match self {
            Guest::V0_1(guest) => guest.call(store, call).await,
            Guest::V0_2(guest) => guest.call(store, call).await,
        }
    }
}

/// One call into a plugin, with host values.
#[expect(clippy::enum_variant_names, reason = "the variants are the contract's hooks, named as in the WIT")]
pub(crate) enum Call<'a> {
    /// No call: only instantiate.
    Prepare,
    Describe,
    Init(&'a str),
    PreCall(&'a CallInfo, &'a RequestDoc),
    Moderation(&'a CallInfo, &'a RequestDoc),
    PostCallSuccess(&'a CallInfo, &'a RequestDoc, &'a ResponseDoc),
    PostCallFailure(&'a CallInfo, &'a RequestDoc, &'a Failure),
    StreamChunk(&'a CallInfo, &'a RequestDoc, &'a super::ChunkLoan),
    StreamEnd(&'a CallInfo, &'a RequestDoc, &'a str),
    LogSuccess(&'a LogInput),
    LogFailure(&'a LogInput),
}

impl Call<'_> {
    /// The hook this call runs; `None` for instantiation, `describe` and `init`.
    pub fn hook(&self) -> Option<Hook> {
        match self {
            Call::Prepare | Call::Describe | Call::Init(_) => None,
            Call::PreCall(..) => Some(Hook::PreCall),
            Call::Moderation(..) => Some(Hook::Moderation),
            Call::PostCallSuccess(..) => Some(Hook::PostCallSuccess),
            Call::PostCallFailure(..) => Some(Hook::PostCallFailure),
            Call::StreamChunk(..) => Some(Hook::StreamChunk),
            Call::StreamEnd(..) => Some(Hook::StreamEnd),
            Call::LogSuccess(_) => Some(Hook::LogSuccess),
            Call::LogFailure(_) => Some(Hook::LogFailure),
        }
    }

    /// The call's name in faults and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Prepare => "instantiate",
            Call::Describe => "describe",
            Call::Init(_) => "init",
            other => other.hook().map_or("?", Hook::name),
        }
    }
}

/// What the logging hooks of one finished request read: its content (cut to the logging
/// budget), the entry describing it, and for 0.1 plugins the same as one JSON payload.
#[derive(Debug, Clone)]
pub struct LogInput {
    /// The request's context.
    pub info: CallInfo,
    /// The request as sent upstream.
    pub request: RequestDoc,
    /// The answer (`log-success` only): the upstream's response, or for a stream or a
    /// `respond` the completion the proxy assembled.
    pub response: Option<ResponseDoc>,
    /// What happened.
    pub entry: LogEntry,
    /// The 0.1 logging payload (JSON text); empty when no 0.1 plugin logs the request.
    pub payload_0_1: String,
}

impl LogInput {
    /// The 0.1 logging payload.
    pub fn payload_0_1(&self) -> &str {
        &self.payload_0_1
    }
}

/// A guest's rejection as it sent it (unchecked).
#[derive(Debug, Clone)]
pub(crate) struct RawRejection {
    pub status: u16,
    pub message: String,
    pub code: Option<String>,
}

/// Why a guest's hook did not go on: its answer, or its own failure.
#[derive(Debug, Clone)]
pub(crate) enum GuestError {
    Reject(RawRejection),
    Fail(String),
}

/// What a `pre-call` returned, before it is checked.
pub(crate) enum PreCallOut {
    Proceed,
    /// 0.1: a replacement body as JSON text.
    ModifyJson(String),
    /// 0.2: the request as the hook edited it.
    Edited(Body),
    Respond(String),
}

/// What a `post-call-success` returned, before it is checked.
pub(crate) enum PostCallOut {
    Proceed,
    /// 0.1: a replacement body as JSON text and headers to add.
    ModifyJson {
        body: Option<String>,
        headers: Vec<Header>,
    },
    /// 0.2: the response body as the hook edited it, and the headers it set (checked).
    Edited {
        body: Option<Body>,
        headers: Vec<Header>,
    },
}

/// What a `stream-chunk` returned, before it is checked.
pub(crate) enum ChunkOut {
    Proceed,
    /// 0.1: a replacement chunk as JSON text.
    ReplaceJson(String),
    /// 0.2: the chunk as the hook edited it.
    Edited(Body),
    Drop,
}

/// What a call returned, before it is checked.
pub(crate) enum Reply {
    Done,
    Describe {
        name: String,
        version: String,
        hooks: Option<HookSet>,
    },
    Init(Result<(), String>),
    PreCall(Result<PreCallOut, GuestError>),
    PostCall(Result<PostCallOut, GuestError>),
    Chunk(Result<ChunkOut, GuestError>),
    Verdict(Result<(), GuestError>),
    /// A logging hook: 0.2 may report a failure.
    Logged(Result<(), String>),
}
