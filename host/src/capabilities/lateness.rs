//! Telling a dependency that did not answer in time from a proxy too busy to hear it.
//!
//! A kv or outbound call that runs out of time usually means the store or service is slow
//! or down, and the plugin's `on_error` decides what that means. But a client can load the
//! proxy until its timers fire late; if that counted as the dependency's failure, a
//! fail-open plugin would let the client's request through unchecked. So a call whose
//! timeout says more about the proxy than about the other side is marked *late*, and a
//! hook that gives up after it faults as `deadline`: the proxy's overload, charged like any
//! call that ran out of time, never a fail-open pass.

use std::time::Duration;

/// A budget shorter than this was spent before the call, not waiting for an answer: the
/// call fails, but it says nothing about the other side.
pub const MIN_BUDGET_FOR_VERDICT: Duration = Duration::from_millis(5);

/// Why a call that got no answer within `budget`, noticed after `waited`, says more about
/// the proxy than about the other side, if it does; `None` means the other side was slow.
///
/// A timer that fires half its budget late means the process was not running when it was
/// due, so an answer may have come unheard; a budget under [`MIN_BUDGET_FOR_VERDICT`] was
/// used up before the call.
pub fn proxy_was_late(budget: Duration, waited: Duration) -> Option<String> {
    let late_by = waited.saturating_sub(budget);
    if budget < MIN_BUDGET_FOR_VERDICT {
        Some(too_little_left(budget))
    } else if late_by >= budget / 2 {
        Some(format!(
            "the proxy noticed the {} ms deadline {} ms late: it was too busy to hear the answer",
            budget.as_millis(),
            late_by.as_millis()
        ))
    } else {
        None
    }
}

/// Why a call with only `budget` left before its deadline proves nothing about the other
/// side.
pub fn too_little_left(budget: Duration) -> String {
    format!("the hook made the call with {} ms left before its deadline", budget.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_timer_that_fired_on_time_blames_the_other_side() {
        assert_eq!(proxy_was_late(ms(500), ms(500)), None);
        assert_eq!(proxy_was_late(ms(500), ms(749)), None);
    }

    #[test]
    fn a_timer_half_its_budget_late_or_a_budget_spent_before_the_call_blames_the_proxy() {
        let late = proxy_was_late(ms(500), ms(750)).expect("250 ms late on a 500 ms budget");
        assert!(late.contains("250 ms late"), "{late}");
        let short = proxy_was_late(ms(4), ms(4)).expect("4 ms is too little to judge");
        assert!(short.contains("4 ms left"), "{short}");
        assert!(proxy_was_late(ms(0), ms(0)).is_some());
    }
}
