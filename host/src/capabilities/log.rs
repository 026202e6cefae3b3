//! Guest logging: the `log` import and captured stdout/stderr, both written to the host's
//! `tracing` log under the plugin's name and the request id.
//!
//! Guests are untrusted, so what they can put in the log is bounded: one line is cut at
//! [`MAX_LINE_BYTES`], and one instance writes at most [`MAX_BYTES_PER_INSTANCE`] of
//! stdout/stderr before the rest is dropped (with one line saying so).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest single log line kept from a guest, in bytes.
pub const MAX_LINE_BYTES: usize = 4096;
/// Most stdout+stderr bytes one plugin instance may write to the log.
pub const MAX_BYTES_PER_INSTANCE: usize = 64 * 1024;
/// How many of the last stderr lines are kept to explain a fault.
const TAIL_LINES: usize = 8;

/// Severity of a guest log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Who is writing: attached to every guest log line.
#[derive(Debug, Clone)]
pub struct LogScope {
    /// The plugin's name.
    pub plugin: Arc<str>,
    /// The request the instance serves.
    pub request_id: RequestIdCell,
}

/// The id of the request an instance serves, shared by everything that logs for it
/// (the `log` import, captured stdout and stderr): a reused instance is re-pointed at
/// each request it serves, so its lines always name the right one.
#[derive(Debug, Clone)]
pub struct RequestIdCell(Arc<Mutex<Arc<str>>>);

impl RequestIdCell {
    /// A cell holding `id`.
    pub fn new(id: Arc<str>) -> Self {
        Self(Arc::new(Mutex::new(id)))
    }

    /// The current request's id.
    pub fn get(&self) -> Arc<str> {
        Arc::clone(&self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Points every holder of this cell at another request.
    pub fn set(&self, id: Arc<str>) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = id;
    }
}

impl From<&str> for RequestIdCell {
    fn from(id: &str) -> Self {
        Self::new(id.into())
    }
}

/// Writes one guest log line (from the `log` import or a captured stream).
pub fn write(scope: &LogScope, level: Level, source: &str, message: &str) {
    let message = truncate(message, MAX_LINE_BYTES);
    let request_id = scope.request_id.get();
    let (plugin, request_id) = (&*scope.plugin, &*request_id);
    match level {
        Level::Trace => tracing::trace!(target: "hookgate::guest", plugin, request_id, source, "{message}"),
        Level::Debug => tracing::debug!(target: "hookgate::guest", plugin, request_id, source, "{message}"),
        Level::Info => tracing::info!(target: "hookgate::guest", plugin, request_id, source, "{message}"),
        Level::Warn => tracing::warn!(target: "hookgate::guest", plugin, request_id, source, "{message}"),
        Level::Error => tracing::error!(target: "hookgate::guest", plugin, request_id, source, "{message}"),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A guest's stdout or stderr: complete lines go to the log as they are written.
///
/// Clones share one buffer, so the instance can read the last lines after a fault (a Rust
/// panic message arrives on stderr just before the trap).
#[derive(Clone)]
pub struct GuestOutput {
    scope: LogScope,
    source: &'static str,
    level: Level,
    state: Arc<Mutex<OutputState>>,
}

#[derive(Default)]
struct OutputState {
    partial: Vec<u8>,
    tail: VecDeque<String>,
    written: usize,
    truncated: bool,
}

impl GuestOutput {
    /// Captures the guest's stdout (logged at info).
    pub fn stdout(scope: LogScope) -> Self {
        Self::new(scope, "stdout", Level::Info)
    }

    /// Captures the guest's stderr (logged at warn).
    pub fn stderr(scope: LogScope) -> Self {
        Self::new(scope, "stderr", Level::Warn)
    }

    fn new(scope: LogScope, source: &'static str, level: Level) -> Self {
        Self { scope, source, level, state: Arc::default() }
    }

    /// The last lines written (including an unterminated one), oldest first.
    pub fn tail(&self) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines: Vec<&str> = state.tail.iter().map(String::as_str).collect();
        let partial = String::from_utf8_lossy(&state.partial);
        if !partial.is_empty() {
            lines.push(&partial);
        }
        let text = lines.join("\n");
        (!text.trim().is_empty()).then_some(text)
    }

    fn append(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_BYTES_PER_INSTANCE.saturating_sub(state.written);
        state.written = state.written.saturating_add(bytes.len());
        if bytes.len() > room && !state.truncated {
            state.truncated = true;
            write(&self.scope, Level::Warn, self.source, "guest output over the per-request cap; the rest is dropped");
        }
        for &byte in &bytes[..bytes.len().min(room)] {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(&state.partial).into_owned();
                state.partial.clear();
                write(&self.scope, self.level, self.source, &line);
                if state.tail.len() == TAIL_LINES {
                    state.tail.pop_front();
                }
                state.tail.push_back(truncate(&line, MAX_LINE_BYTES).to_owned());
            } else if state.partial.len() < MAX_LINE_BYTES {
                state.partial.push(byte);
            }
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: the cap drops bytes instead of blocking or failing the guest,
        // so a chatty plugin is truncated rather than made to trap.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> LogScope {
        LogScope { plugin: "p".into(), request_id: "r".into() }
    }

    #[test]
    fn tail_keeps_last_lines_and_partial() {
        let out = GuestOutput::stderr(scope());
        for i in 0..20 {
            out.append(format!("line {i}\n").as_bytes());
        }
        out.append(b"unterminated");
        let tail = out.tail().unwrap();
        assert!(tail.starts_with("line 12\n"), "{tail}");
        assert!(tail.ends_with("line 19\nunterminated"), "{tail}");
    }

    #[test]
    fn output_past_the_cap_is_dropped() {
        let out = GuestOutput::stdout(scope());
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..200 {
            out.append(line.as_bytes());
        }
        let state = out.state.lock().unwrap();
        assert!(state.truncated);
        assert_eq!(state.written, 200 * 1024);
    }
}
