//! Small helpers shared by several suites (waiting on observable effects, reading logs).

use std::time::Duration;

use serde_json::Value;

use crate::proxy::Proxy;

/// Sends `count` chat requests for `model` with the master key, expecting `status`
/// each time; their request ids.
pub async fn send_chats(proxy: &Proxy, model: &str, status: u16, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let response = proxy.chat(&crate::proxy::chat_body(model, "hi")).await;
        assert_eq!(response.status(), status);
        ids.push(request_id(&response));
    }
    ids
}

/// The `x-hookgate-request-id` of a response.
pub fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-hookgate-request-id"].to_str().expect("an ASCII request id").to_owned()
}

/// The proxy's log lines that are JSON (run it with `--log-format json`).
pub fn json_lines(proxy: &Proxy) -> Vec<Value> {
    proxy.log().lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

/// What the 0.2 `probe` logged for request `id` (`probe entry <json>`, for a request whose
/// texts mention `SHOWPAYLOAD`). Needs `--log-format json`.
pub async fn probe_entry(proxy: &Proxy, id: &str) -> Value {
    proxy
        .until("the logged entry", Duration::from_secs(10), || async {
            json_lines(proxy).into_iter().find_map(|line| {
                let entry: Value =
                    serde_json::from_str(line["message"].as_str()?.strip_prefix("probe entry ")?).ok()?;
                (entry["request_id"] == id).then_some(entry)
            })
        })
        .await
}

/// Waits (up to `timeout`) for the first JSON log line `matches` accepts, and returns it.
pub async fn json_line(proxy: &Proxy, what: &str, timeout: Duration, matches: impl Fn(&Value) -> bool) -> Value {
    proxy.until(what, timeout, || async { json_lines(proxy).into_iter().find(|line| matches(line)) }).await
}

/// The line a guest wrote for request `id` whose message starts with `prefix` (the first
/// such line), waiting up to 10 s for it. Needs `--log-format json`.
pub async fn guest_line(proxy: &Proxy, id: &str, prefix: &str) -> Value {
    json_line(proxy, &format!("a guest line `{prefix}…` for {id}"), Duration::from_secs(10), |line| {
        line["target"] == "hookgate::guest"
            && line["request_id"] == id
            && line["message"].as_str().is_some_and(|message| message.starts_with(prefix))
    })
    .await
}

/// The logging payload the `probe` plugin logged for request `id` (it logs the whole
/// payload of a request whose messages contain `SHOWPAYLOAD`). Needs `--log-format json`.
pub async fn probe_payload(proxy: &Proxy, id: &str) -> Value {
    proxy
        .until(&format!("the logging payload of {id}"), Duration::from_secs(10), || async {
            json_lines(proxy).into_iter().find_map(|line| {
                let payload: Value =
                    serde_json::from_str(line["message"].as_str()?.strip_prefix("probe payload ")?).ok()?;
                (payload["id"] == id).then_some(payload)
            })
        })
        .await
}

/// Waits until the sentinel `probe` plugin has run its logging hook (`hook` is
/// `log-success` or `log-failure`) for each of `ids`.
///
/// A request's logging hooks run one plugin after another in call order (priority, then
/// name), so once a `probe` that comes after plugin X has logged for a request, X's
/// logging hook for that request has finished, and whatever it logged is already in the
/// log (one process writes its log lines in order).
pub async fn sentinel_logged(proxy: &Proxy, hook: &str, ids: &[String]) {
    for id in ids {
        proxy.wait_for_log(&format!("probe {hook} {id}"), Duration::from_secs(20)).await;
    }
}

/// Sends `signal` (e.g. `libc::SIGSTOP`) to process `pid`: how tests stop a proxy
/// mid-call, as an overloaded machine would.
pub fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill({pid}, {signal})");
}

/// Asserts that `response` is the proxy's own overload: a 503 `overloaded` that says when
/// to retry (never a pass, never the client's fault). `log` is shown when it is not.
pub async fn assert_overloaded(response: reqwest::Response, log: &str) {
    let (status, retry_after) = (response.status(), response.headers().get("retry-after").cloned());
    let body: Value = response.json().await.expect("an OpenAI error body");
    assert_eq!(status, 503, "the proxy's overload: {body}\n{log}");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert!(retry_after.is_some(), "a retryable answer says when: {body}");
}
