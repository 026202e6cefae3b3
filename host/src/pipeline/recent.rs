//! The most recent hook decisions and faults, for the admin console: a bounded ring in
//! memory, newest last, each with a sequence number so the console asks only for what is
//! new. Pass-through decisions (`proceed`) are not kept: they are the bulk and say
//! nothing. Prompt text is never kept; a rejection's message (which a plugin may fill
//! with prompt text) only when `plugins.recent_messages` is on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use crate::types::Hook;

/// How many events are kept.
pub const CAPACITY: usize = 500;
/// The longest message kept, in bytes.
const MESSAGE_BYTES: usize = 300;

/// One decision or fault.
#[derive(Debug, Clone, Serialize)]
pub struct RecentEvent {
    /// Increases by one per event: `GET /ui/api/events?after=<seq>` returns newer ones.
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The request's id (`x-hookgate-request-id`).
    #[serde(serialize_with = "as_str")]
    pub request_id: Arc<str>,
    /// The plugin.
    pub plugin: String,
    /// The hook.
    pub hook: &'static str,
    /// `reject`, `modify`, `respond`, `replace`, `drop`, `fault:<kind>`, `overloaded`,
    /// `quarantined`.
    pub decision: &'static str,
    /// For a fault: whom it was charged to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// The fault's message; a rejection's, or a plugin's own failure message, only when
    /// messages are shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn as_str<S: serde::Serializer>(text: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(text)
}

/// The ring.
#[derive(Debug)]
pub struct RecentEvents {
    ring: Mutex<(u64, VecDeque<RecentEvent>)>,
    show_rejection_messages: bool,
}

impl RecentEvents {
    /// An empty ring; rejection messages kept only if `show_rejection_messages`.
    pub fn new(show_rejection_messages: bool) -> Self {
        Self { ring: Mutex::new((0, VecDeque::with_capacity(CAPACITY))), show_rejection_messages }
    }

    /// What an event keeps of `text`: cut and escaped, or nothing when it is the
    /// plugin's own text (a rejection's, a `failed` fault's) and messages are not shown.
    pub fn message(&self, text: &str, plugins_own: bool) -> Option<String> {
        (!plugins_own || self.show_rejection_messages).then(|| crate::text::for_log(text, MESSAGE_BYTES).into_owned())
    }

    /// Keeps one event (dropping the oldest when full), with a message from
    /// [`Self::message`].
    pub fn record(
        &self,
        request_id: &Arc<str>,
        plugin: &str,
        hook: Hook,
        decision: &'static str,
        cause: Option<&'static str>,
        message: Option<String>,
    ) {
        let at_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.0 += 1;
        let event = RecentEvent {
            seq: ring.0,
            at_ms,
            request_id: Arc::clone(request_id),
            plugin: plugin.to_owned(),
            hook: hook.name(),
            decision,
            cause,
            message,
        };
        if ring.1.len() == CAPACITY {
            ring.1.pop_front();
        }
        ring.1.push_back(event);
    }

    /// The events after `seq`, oldest first.
    pub fn after(&self, seq: u64) -> Vec<RecentEvent> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.1.iter().filter(|event| event.seq > seq).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_hides_rejection_text_unless_asked() {
        let id: Arc<str> = Arc::from("req-1");
        let hidden = RecentEvents::new(false);
        let said = hidden.message("you said: secret plan", true);
        hidden.record(&id, "banned", Hook::PreCall, "reject", None, said);
        let fault = hidden.message("ran past 100 ms", false);
        hidden.record(&id, "pii", Hook::PreCall, "fault:deadline", Some("plugin"), fault);
        let events = hidden.after(0);
        assert_eq!(events[0].message, None, "a rejection's text is not kept by default");
        assert_eq!(events[1].message.as_deref(), Some("ran past 100 ms"));
        assert_eq!(hidden.after(1).len(), 1);
        let shown = RecentEvents::new(true);
        let said = shown.message("you said: secret plan", true);
        shown.record(&id, "banned", Hook::PreCall, "reject", None, said);
        assert_eq!(shown.after(0)[0].message.as_deref(), Some("you said: secret plan"));
        for _ in 0..CAPACITY + 10 {
            shown.record(&id, "p", Hook::PreCall, "modify", None, None);
        }
        let all = shown.after(0);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all.last().unwrap().seq, CAPACITY as u64 + 11);
    }
}
