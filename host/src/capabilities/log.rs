//! Guest logging: the `log` import and captured stdout/stderr, both written to the host's
//! `tracing` log under the plugin's name and the request id.
//!
//! Guests are untrusted, so what they can put in the log is bounded: one line is cut at
//! [`MAX_LINE_BYTES`], one instance writes at most [`MAX_BYTES_PER_INSTANCE`] in all
//! (stdout, stderr and the `log` import together) before the rest is dropped (with one
//! line saying so), and control characters are escaped, so a plugin cannot forge a log
//! line of its own.

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
/// The `tracing` target of every guest line. Each of its events is escaped whole by
/// [`write`] (message and fields), so a log subscriber need not sanitize it again.
pub const TARGET: &str = "hookgate::guest";
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

/// How much an instance may still write to the log, shared by its stdout, stderr and
/// `log` import. A warm (reused) instance gets a fresh budget per request.
#[derive(Debug, Clone, Default)]
pub struct LogBudget(Arc<Mutex<BudgetState>>);

#[derive(Debug, Default)]
struct BudgetState {
    written: usize,
    exhausted: bool,
}

impl LogBudget {
    /// Takes up to `wanted` bytes of the budget: how many may be written, and whether this
    /// call used it up (the caller says so, once).
    fn take(&self, wanted: usize) -> (usize, bool) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_BYTES_PER_INSTANCE.saturating_sub(state.written);
        state.written = state.written.saturating_add(wanted);
        let granted = wanted.min(room);
        let newly_exhausted = granted < wanted && !std::mem::replace(&mut state.exhausted, true);
        (granted, newly_exhausted)
    }

    /// A new request starts: the budget is whole again.
    pub fn reset(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = BudgetState::default();
    }

    /// Bytes written (or attempted) so far.
    pub fn written(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).written
    }
}

/// Writes a message from the guest's `log` import, within the instance's budget.
pub fn write_from_import(scope: &LogScope, budget: &LogBudget, level: Level, message: &str) {
    let (granted, exhausted) = budget.take(message.len());
    if exhausted {
        write(scope, Level::Warn, "log", "guest output over the per-request cap; the rest is dropped");
    }
    if granted > 0 {
        write(scope, level, "log", crate::text::truncate(message, granted));
    }
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

/// Writes one guest log line (from the `log` import or a captured stream), cut at
/// [`MAX_LINE_BYTES`] and with control characters escaped. The other fields are strings,
/// which tracing writes with `Debug`, escaped; so no field of a [`TARGET`] event carries
/// a control character.
pub fn write(scope: &LogScope, level: Level, source: &str, message: &str) {
    let message = crate::text::for_log(message, MAX_LINE_BYTES);
    let request_id = scope.request_id.get();
    let (plugin, request_id) = (&*scope.plugin, &*request_id);
    match level {
        Level::Trace => tracing::trace!(target: TARGET, plugin, request_id, source, "{message}"),
        Level::Debug => tracing::debug!(target: TARGET, plugin, request_id, source, "{message}"),
        Level::Info => tracing::info!(target: TARGET, plugin, request_id, source, "{message}"),
        Level::Warn => tracing::warn!(target: TARGET, plugin, request_id, source, "{message}"),
        Level::Error => tracing::error!(target: TARGET, plugin, request_id, source, "{message}"),
    }
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
    budget: LogBudget,
    state: Arc<Mutex<OutputState>>,
}

#[derive(Default)]
struct OutputState {
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl GuestOutput {
    /// Captures the guest's stdout (logged at info), within `budget`.
    pub fn stdout(scope: LogScope, budget: LogBudget) -> Self {
        Self::new(scope, "stdout", Level::Info, budget)
    }

    /// Captures the guest's stderr (logged at warn), within `budget`.
    pub fn stderr(scope: LogScope, budget: LogBudget) -> Self {
        Self::new(scope, "stderr", Level::Warn, budget)
    }

    fn new(scope: LogScope, source: &'static str, level: Level, budget: LogBudget) -> Self {
        Self { scope, source, level, budget, state: Arc::default() }
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
        let (granted, exhausted) = self.budget.take(bytes.len());
        if exhausted {
            write(&self.scope, Level::Warn, self.source, "guest output over the per-request cap; the rest is dropped");
        }
        for &byte in &bytes[..granted] {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(&state.partial).into_owned();
                state.partial.clear();
                write(&self.scope, self.level, self.source, &line);
                if state.tail.len() == TAIL_LINES {
                    state.tail.pop_front();
                }
                state.tail.push_back(crate::text::truncate(&line, MAX_LINE_BYTES).to_owned());
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
        let out = GuestOutput::stderr(scope(), LogBudget::default());
        for i in 0..20 {
            out.append(format!("line {i}\n").as_bytes());
        }
        out.append(b"unterminated");
        let tail = out.tail().unwrap();
        assert!(tail.starts_with("line 12\n"), "{tail}");
        assert!(tail.ends_with("line 19\nunterminated"), "{tail}");
    }

    /// Captures the lines `write` emits, via a thread-local subscriber that, like the
    /// proxy's for [`TARGET`], leaves the escaping to `write`.
    fn logged(run: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_ansi_sanitization(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn output_past_the_cap_is_dropped_and_said_once() {
        let budget = LogBudget::default();
        let out = GuestOutput::stdout(scope(), budget.clone());
        let line = format!("{}\n", "x".repeat(1023));
        let lines = logged(|| {
            for _ in 0..200 {
                out.append(line.as_bytes());
            }
        });
        let kept = lines.iter().filter(|l| l.contains(&"x".repeat(1023))).count();
        assert_eq!(kept, MAX_BYTES_PER_INSTANCE / 1024, "output stopped at the cap");
        assert_eq!(lines.iter().filter(|l| l.contains("over the per-request cap")).count(), 1);
    }

    #[test]
    fn stdout_stderr_and_the_log_import_share_one_budget() {
        let budget = LogBudget::default();
        let out = GuestOutput::stdout(scope(), budget.clone());
        let err = GuestOutput::stderr(scope(), budget.clone());
        let lines = logged(|| {
            out.append(&vec![b'a'; 30 * 1024]);
            err.append(&vec![b'b'; 30 * 1024]);
            write_from_import(&scope(), &budget, Level::Info, &"c".repeat(10 * 1024));
            write_from_import(&scope(), &budget, Level::Info, "after the cap");
        });
        assert!(!lines.iter().any(|l| l.contains("after the cap")), "{lines:?}");
        assert_eq!(lines.iter().filter(|l| l.contains("over the per-request cap")).count(), 1);
        budget.reset();
        let lines = logged(|| write_from_import(&scope(), &budget, Level::Info, "a new request"));
        assert!(lines.iter().any(|l| l.contains("a new request")), "{lines:?}");
    }

    #[test]
    fn a_guest_cannot_forge_a_log_line() {
        let lines = logged(|| {
            write(&scope(), Level::Info, "log", "innocent\n2026-01-01T00:00:00Z ERROR hookgate: forged\rline");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("innocent\\n2026-01-01T00:00:00Z ERROR hookgate: forged\\rline"), "{lines:?}");
    }

    #[test]
    fn no_field_of_a_guest_line_carries_a_control_character() {
        let controls = "\u{1b}[2J\u{7}\u{8}\u{c}\u{7f}\u{9b}31m\u{85}";
        let scope = LogScope {
            plugin: format!("plugin{controls}").into(),
            request_id: RequestIdCell::new(format!("req{controls}").into()),
        };
        let lines = logged(|| write(&scope, Level::Info, "log", &format!("message{controls}")));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        for field in ["message", "plugin", "req"] {
            assert!(
                line.contains(&format!("{field}\\u{{1b}}[2J\\u{{7}}\\u{{8}}\\u{{c}}\\u{{7f}}\\u{{9b}}31m\\u{{85}}")),
                "{line:?}"
            );
        }
    }
}
