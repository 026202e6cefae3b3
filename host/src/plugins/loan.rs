//! A stream chunk lent to one `stream-chunk` call.
//!
//! The hook runner hands the chunk over rather than keeping a reference of its own, so
//! that a hook's edit can take the chunk's value instead of copying it (a chunk is
//! edited on nearly every call of a hold-back or redacting plugin). The call gives the
//! chunk back, as it was, on every path it controls; for the one it does not (a call
//! cancelled at its wall-clock deadline leaves the chunk in the instance's store), the
//! runner keeps the chunk's JSON text and reads the chunk again from it.

use std::sync::{Arc, Mutex, PoisonError};

use crate::content::Body;

/// The chunk, while a call has it on loan.
#[derive(Debug)]
pub struct ChunkLoan {
    chunk: Mutex<Option<Arc<Body>>>,
}

impl ChunkLoan {
    /// Lends `chunk`.
    pub fn new(chunk: Arc<Body>) -> Self {
        Self { chunk: Mutex::new(Some(chunk)) }
    }

    /// Takes the chunk for the call; `None` when it was taken already.
    pub(crate) fn take(&self) -> Option<Arc<Body>> {
        self.chunk.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Gives the chunk back after the call.
    pub(crate) fn give_back(&self, chunk: Arc<Body>) {
        *self.chunk.lock().unwrap_or_else(PoisonError::into_inner) = Some(chunk);
    }

    /// The chunk, if it came back (or was never taken).
    pub fn into_chunk(self) -> Option<Arc<Body>> {
        self.chunk.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the runner keeps of a chunk it lends, to pass it on unedited if it does not come
/// back: its JSON text.
///
/// A chunk an earlier hook edited has no text yet; it is made here. That costs nothing
/// extra when no later hook edits the chunk (the client is sent that text), and less
/// than the copy the edit would otherwise take when one does: only a chunk with its text
/// can be left behind as that text ([`Body::take_value_keeping_text`]).
#[derive(Debug)]
pub struct Kept(String);

impl Kept {
    /// Keeps the text of `chunk`, which is about to be lent.
    pub fn of(chunk: &Body) -> Self {
        Self(chunk.json().to_owned())
    }

    /// The chunk as lent, read again from its text. The text is an upstream's, checked
    /// when the chunk was made from it, or the proxy's own of a value: no duplicated key,
    /// so reading it gives the values the chunk had.
    pub fn into_chunk(self) -> Arc<Body> {
        Arc::new(Body::parse_later(self.0))
    }
}
