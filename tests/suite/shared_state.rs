//! State that outlives a request: the `kv` capability on its two backends (memory and a
//! real `redis-server`), the `rate-limiter` and `failure-alerter` plugins on it, several
//! proxies sharing one Redis, and Redis outages.
//!
//! The behavioural tests run once per backend: the in-memory store must behave like
//! Redis for a single process.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hookgate::capabilities::kv::{Kv, KvError, KvQuota};
use hookgate_tests::fixtures::{assert_overloaded, send_chats, sentinel_logged};
use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder};
use hookgate_tests::redis::{FreezingRelay, RedisServer};
use serde_json::{json, Value};

/// Where the proxies of a test keep their kv state.
enum Store {
    Memory,
    Redis(RedisServer),
}

impl Store {
    async fn redis() -> Self {
        Store::Redis(RedisServer::start().await)
    }

    /// The top of a proxy config that selects this store.
    fn yaml(&self) -> String {
        match self {
            Store::Memory => String::new(),
            Store::Redis(server) => format!("redis_url: {}\n", server.url()),
        }
    }

    fn server(&self) -> &RedisServer {
        match self {
            Store::Redis(server) => server,
            Store::Memory => panic!("not a Redis store"),
        }
    }
}

const FAILING_MODEL: &str = "\nmodel_list:\n  - {model_name: mock-echo, litellm_params: {model: mock/echo}}\n  - {model_name: mock-down, litellm_params: {model: mock/down, mock_error_status: 503}}\n";

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(2)
}

/// Every kv call, with the same arguments, answers the same on both backends.
#[tokio::test]
async fn kv_backends_answer_alike() {
    let server = RedisServer::start().await;
    let memory = Kv::in_memory();
    let redis = Kv::redis(&server.url(), "hookgate", KvQuota::default()).expect("a redis URL");
    // A TTL none of these checks can outlive, however slow the machine: expiry is shown
    // below, by polling.
    let hour = Some(Duration::from_secs(3600));
    for kv in [&memory, &redis] {
        let backend = kv.backend_name();
        assert_eq!(kv.get("p", "missing", soon()).await, Ok(None), "{backend}");
        assert_eq!(kv.set("p", "k", "v1".into(), None, soon()).await, Ok(()), "{backend}");
        assert_eq!(kv.get("p", "k", soon()).await, Ok(Some("v1".into())), "{backend}");
        assert_eq!(kv.get("q", "k", soon()).await, Ok(None), "{backend}: namespaces are apart");
        assert_eq!(kv.incr("p", "n", 5, hour, soon()).await, Ok(5), "{backend}");
        assert_eq!(kv.incr("p", "n", -2, None, soon()).await, Ok(3), "{backend}");
        assert!(matches!(kv.incr("p", "k", 1, None, soon()).await, Err(KvError::Invalid(_))), "{backend}");
        kv.set("p", "big", i64::MAX.to_string(), None, soon()).await.unwrap();
        assert!(matches!(kv.incr("p", "big", 1, None, soon()).await, Err(KvError::Invalid(_))), "{backend}");
        assert_eq!(kv.delete("p", "k", soon()).await, Ok(true), "{backend}");
        assert_eq!(kv.delete("p", "k", soon()).await, Ok(false), "{backend}");
        assert!(matches!(kv.get("p", "", soon()).await, Err(KvError::Invalid(_))), "{backend}");
    }
    // Expiry: a key set with a TTL, and a counter created with one and incremented after
    // without one, are gone once the TTL has passed. Keys that never expired would make
    // the polling time out.
    let short = Some(Duration::from_millis(200));
    for kv in [&memory, &redis] {
        let backend = kv.backend_name();
        assert_eq!(kv.set("p", "short", "x".into(), short, soon()).await, Ok(()), "{backend}");
        let mut attempts = 0;
        loop {
            kv.delete("p", "n", soon()).await.unwrap();
            assert_eq!(kv.incr("p", "n", 5, short, soon()).await, Ok(5), "{backend}");
            // -2 means the counter expired between the two calls (a slow moment) and the
            // second call created a new one, without a TTL: start again.
            match kv.incr("p", "n", -2, None, soon()).await {
                Ok(3) => break,
                Ok(-2) if attempts < 20 => attempts += 1,
                other => panic!("{backend}: {other:?}"),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while kv.get("p", "short", soon()).await != Ok(None) || kv.get("p", "n", soon()).await != Ok(None) {
            assert!(Instant::now() < deadline, "{backend}: a 200 ms TTL did not expire within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(kv.incr("p", "n", 1, hour, soon()).await, Ok(1), "{backend}: a new key after expiry");
    }
    // In Redis the keys are `hookgate:<namespace>:<key>`, beside the namespace's quota
    // bookkeeping, which no plugin key can name (`#` is in no plugin name).
    assert_eq!(server.keys("hookgate:p:*").await, ["hookgate:p:big", "hookgate:p:n"]);
    assert_eq!(server.keys("hookgate:p#*").await, ["hookgate:p#bytes", "hookgate:p#expiries", "hookgate:p#sizes"]);
}

/// Each plugin's kv quota holds on both backends alike: a write past it fails `invalid`
/// (nothing written, other plugins unaffected), and whatever expires or is deleted gives
/// its room back. On Redis, without it, one plugin could fill Redis to its `maxmemory`
/// and make every other plugin's writes fail, fail-open guardrails passing.
#[tokio::test]
async fn kv_quotas_hold_alike_on_both_backends() {
    let server = RedisServer::start().await;
    let quota = KvQuota { max_entries: 3, max_bytes: 40 };
    let memory = Kv::in_memory_with(quota);
    let redis = Kv::redis(&server.url(), "hookgate", quota).expect("a redis URL");
    let full =
        |answer: Result<(), KvError>| matches!(answer, Err(KvError::Invalid(why)) if why.contains("quota is full"));
    let short = Some(Duration::from_millis(200));
    for kv in [&memory, &redis] {
        let backend = kv.backend_name();
        // Entries: three fit, a fourth does not, rewriting one of the three does.
        for key in ["a", "b", "c"] {
            assert_eq!(kv.set("p", key, "v".into(), None, soon()).await, Ok(()), "{backend}");
        }
        assert!(full(kv.set("p", "d", "v".into(), None, soon()).await), "{backend}: a fourth entry");
        assert_eq!(kv.get("p", "d", soon()).await, Ok(None), "{backend}: a refused write wrote nothing");
        assert_eq!(kv.set("p", "a", "w".into(), None, soon()).await, Ok(()), "{backend}: a rewrite is no new entry");
        // Another plugin's quota is its own.
        assert_eq!(kv.set("q", "d", "v".into(), None, soon()).await, Ok(()), "{backend}");
        // A counter that would be a fourth entry is refused and not left behind.
        let counted = kv.incr("p", "n", 1, None, soon()).await;
        assert!(
            matches!(&counted, Err(KvError::Invalid(why)) if why.contains("quota is full")),
            "{backend}: {counted:?}"
        );
        assert_eq!(kv.get("p", "n", soon()).await, Ok(None), "{backend}");
        // Bytes: keys and values, 40 at most. "a" + 36 bytes and the two others' 4: 41.
        assert!(full(kv.set("p", "a", "x".repeat(36), None, soon()).await), "{backend}: over the bytes");
        assert_eq!(kv.get("p", "a", soon()).await, Ok(Some("w".into())), "{backend}: the old value stays");
        assert_eq!(kv.set("p", "a", "x".repeat(35), None, soon()).await, Ok(()), "{backend}: exactly 40");
        // A counter's digits count: one more is refused, its value kept.
        assert_eq!(kv.delete("p", "a", soon()).await, Ok(true), "{backend}");
        assert_eq!(kv.incr("p", "n", 999_999_999, None, soon()).await, Ok(999_999_999), "{backend}");
        assert_eq!(kv.set("p", "b", "x".repeat(27), None, soon()).await, Ok(()), "{backend}: 10 + 28 + 2 = 40");
        let grown = kv.incr("p", "n", 1, None, soon()).await;
        assert!(matches!(&grown, Err(KvError::Invalid(why)) if why.contains("quota is full")), "{backend}: {grown:?}");
        assert_eq!(kv.get("p", "n", soon()).await, Ok(Some("999999999".into())), "{backend}: kept as it was");
        // Deleting gives room back, and so does expiry.
        for key in ["b", "c", "n"] {
            assert_eq!(kv.delete("p", key, soon()).await, Ok(true), "{backend}");
        }
        for key in ["e", "f", "g"] {
            assert_eq!(kv.set("p", key, "v".into(), short, soon()).await, Ok(()), "{backend}");
        }
        assert!(full(kv.set("p", "h", "v".into(), None, soon()).await), "{backend}: full of short-lived entries");
        let deadline = Instant::now() + Duration::from_secs(10);
        while full(kv.set("p", "h", "v".into(), None, soon()).await) {
            assert!(Instant::now() < deadline, "{backend}: expired entries never gave their room back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A key gone behind the proxy's back (evicted, deleted by hand) gives its room back too.
    for key in ["i", "j"] {
        redis.set("p", key, "v".into(), None, soon()).await.unwrap();
    }
    assert!(full(redis.set("p", "k", "v".into(), None, soon()).await));
    server.cli(&["DEL", "hookgate:p:i"]).await.expect("redis answers");
    assert_eq!(redis.set("p", "k", "v".into(), None, soon()).await, Ok(()), "the deleted key's room is found");
}

/// A window of 100 years: the rate-limiter aligns windows to the clock, and no window
/// boundary can fall inside a test of this one.
const WINDOW_SECONDS: u64 = 3_153_600_000;

/// The limiter of the concurrency tests, which are about counting (no update lost between
/// concurrent requests or replicas): a 2 s hook gives each kv call 1.5 s, so that the load
/// of the rest of the suite cannot make the proxy hear an answer late. What a late answer
/// does is `a_kv_answer_the_busy_proxy_heard_late_is_overload_never_a_fail_open_pass`.
fn limiter_config(limit: u32) -> String {
    format!("{{timeout_ms: 2000, config: {{limit: {limit}, window_seconds: {WINDOW_SECONDS}}}}}")
}

/// Sends `total` requests at once, spread round-robin over `proxies`; the statuses and
/// bodies of the answers.
async fn burst(proxies: &[&Proxy], total: usize) -> Vec<(u16, Value)> {
    let requests = (0..total).map(|i| async move {
        let response = proxies[i % proxies.len()].chat(&chat_body("mock-echo", "count me")).await;
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON"))
    });
    join_all(requests).await
}

/// Exactly `limit` of a concurrent burst get through; the rest get 429 saying when to retry.
fn assert_exact_limit(answers: &[(u16, Value)], limit: usize) {
    let accepted = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(accepted, limit, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{limit} requests per {WINDOW_SECONDS} s per API key")), "{message}");
        assert!(message.contains("retry in "), "{message}");
    }
}

async fn limit_holds_under_concurrency(store: Store) {
    let proxy = ProxyBuilder::new(&store.yaml())
        .plugin("rate-limiter", "rate-limiter")
        .settings("rate-limiter", &limiter_config(7))
        .start()
        .await;
    let answers = burst(&[&proxy], 20).await;
    assert_exact_limit(&answers, 7);
    // The key has spent its window.
    let response = proxy.chat(&chat_body("mock-echo", "one more")).await;
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn rate_limit_holds_under_concurrency_in_memory() {
    limit_holds_under_concurrency(Store::Memory).await;
}

#[tokio::test]
async fn rate_limit_holds_under_concurrency_on_redis() {
    limit_holds_under_concurrency(Store::redis().await).await;
}

#[tokio::test]
async fn two_proxies_on_one_redis_enforce_one_combined_limit() {
    let store = Store::redis().await;
    let start = || {
        ProxyBuilder::new(&store.yaml())
            .plugin("rate-limiter", "rate-limiter")
            .settings("rate-limiter", &limiter_config(10))
            .start()
    };
    let (first, second) = tokio::join!(start(), start());
    // Before the burst: each proxy alone could serve 10; together they may serve 10.
    let answers = burst(&[&first, &second], 30).await;
    assert_exact_limit(&answers, 10);
    // Both proxies counted all 30 in one counter.
    let counters = store.server().keys("hookgate:rate-limiter:key:*").await;
    assert_eq!(counters.len(), 1, "one shared counter: {counters:?}");
    assert_eq!(store.server().cli(&["GET", &counters[0]]).await.as_deref(), Some("30"));
}

/// The headers a successful response gets, and the count going down.
#[tokio::test]
async fn rate_limit_headers_count_down() {
    let proxy = ProxyBuilder::new("")
        .plugin("rate-limiter", "rate-limiter")
        .settings("rate-limiter", &limiter_config(3))
        .start()
        .await;
    for remaining in ["2", "1", "0"] {
        let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(headers["x-ratelimit-remaining-requests"], remaining);
        let reset = headers["x-ratelimit-reset-requests"].to_str().unwrap();
        let seconds: f64 = reset.strip_suffix('s').unwrap().parse().unwrap();
        assert!((1.0..=WINDOW_SECONDS as f64).contains(&seconds), "{reset}");
    }
    let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-hookgate-rejected-by"], "rate-limiter");
}

/// Two plugins using the same key name each see only their own counter.
async fn plugin_keys_do_not_collide(store: Store) {
    let proxy = ProxyBuilder::new(&store.yaml())
        .plugin("limiter-a", "rate-limiter")
        .plugin("limiter-b", "rate-limiter")
        .settings("limiter-a", &limiter_config(3))
        .settings("limiter-b", &limiter_config(2))
        .start()
        .await;
    // limiter-a runs first (same priority, then by name). Were the keys shared, each
    // request would count twice and limiter-b would refuse the second request.
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
        let by = response.headers().get("x-hookgate-rejected-by").map(|v| v.to_str().unwrap().to_owned());
        outcomes.push((response.status().as_u16(), by));
    }
    let by = |plugin: &str| Some(plugin.to_owned());
    assert_eq!(outcomes, [(200, None), (200, None), (429, by("limiter-b")), (429, by("limiter-a"))]);
    if let Store::Redis(server) = &store {
        // limiter-a counted all four; limiter-b the three it was asked about.
        let a = server.keys("hookgate:limiter-a:*").await;
        let b = server.keys("hookgate:limiter-b:*").await;
        assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
        assert_eq!(server.cli(&["GET", &a[0]]).await.as_deref(), Some("4"));
        assert_eq!(server.cli(&["GET", &b[0]]).await.as_deref(), Some("3"));
    }
}

#[tokio::test]
async fn plugin_keys_do_not_collide_in_memory() {
    plugin_keys_do_not_collide(Store::Memory).await;
}

#[tokio::test]
async fn plugin_keys_do_not_collide_on_redis() {
    plugin_keys_do_not_collide(Store::redis().await).await;
}

fn alerter_config() -> &'static str {
    "{config: {threshold: 3, window_seconds: 2}}"
}

/// A proxy with the failure-alerter and, after it (priority), the `probe` plugin as a
/// sentinel: a request's logging hooks run in call order, so probe's `log-failure` line
/// for a request says the alerter's `log-failure` for it has finished.
fn alerting_proxy(store: &Store) -> ProxyBuilder {
    ProxyBuilder::new(&format!("{}{FAILING_MODEL}", store.yaml()))
        .plugin("failure-alerter", "failure-alerter")
        .plugin("probe", "probe")
        .settings("failure-alerter", alerter_config())
        .settings("probe", "{priority: 10}")
}

fn alerts(log: &str) -> usize {
    log.matches("ALERT model=mock-down").count()
}

/// Sends `count` requests to the failing model through `proxy`; their ids.
async fn fail(proxy: &Proxy, count: usize) -> Vec<String> {
    send_chats(proxy, "mock-down", 503, count).await
}

/// Waits until the alerter's `log-failure` hooks have finished for every request in `ids`.
async fn logged(proxy: &Proxy, ids: &[String]) {
    sentinel_logged(proxy, "log-failure", ids).await;
}

async fn alerts_once_per_burst(store: Store) {
    let proxy = alerting_proxy(&store).start().await;
    // Client errors do not count: 400s for an unknown model.
    let mut ids = send_chats(&proxy, "no-such-model", 400, 4).await;
    ids.extend(fail(&proxy, 2).await);
    logged(&proxy, &ids).await;
    assert_eq!(alerts(&proxy.log()), 0, "below the threshold");
    let ids = fail(&proxy, 4).await;
    logged(&proxy, &ids).await;
    let log = proxy.log();
    assert_eq!(alerts(&log), 1, "one alert for the burst:\n{log}");
    // Logging hooks of several requests may run at once: the alert counts at least 3.
    let line = log.lines().find(|line| line.contains("ALERT model=mock-down")).unwrap();
    let failures: u64 = line.split("failures=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((3..=6).contains(&failures), "{line}");
    assert!(line.contains("window_s=2 threshold=3: last error 503"), "{line}");
    // The 2 s window passes with no failure (this waits for time itself, not for an
    // event); a new burst alerts again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ids = fail(&proxy, 3).await;
    logged(&proxy, &ids).await;
    assert_eq!(alerts(&proxy.log()), 2, "{}", proxy.log());
    if let Store::Redis(server) = &store {
        let record = server.cli(&["GET", "hookgate:failure-alerter:alert:mock-down"]).await.expect("recorded");
        let record: Value = serde_json::from_str(&record).expect("JSON");
        assert_eq!(record["model"], "mock-down", "{record}");
        assert!((3..=6).contains(&record["failures"].as_u64().unwrap()), "{record}");
        assert_eq!(record["last_status"], 503);
    }
}

#[tokio::test]
async fn failure_alerter_alerts_once_per_burst_in_memory() {
    alerts_once_per_burst(Store::Memory).await;
}

#[tokio::test]
async fn failure_alerter_alerts_once_per_burst_on_redis() {
    alerts_once_per_burst(Store::redis().await).await;
}

#[tokio::test]
async fn two_proxies_on_one_redis_count_failures_together_and_alert_once() {
    let store = Store::redis().await;
    let (first, second) = tokio::join!(alerting_proxy(&store).start(), alerting_proxy(&store).start());
    // Two failures each: neither proxy alone reaches 3.
    let (mut on_first, mut on_second) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        on_first.extend(fail(&first, 1).await);
        on_second.extend(fail(&second, 1).await);
    }
    logged(&first, &on_first).await;
    logged(&second, &on_second).await;
    let (one, two) = (alerts(&first.log()), alerts(&second.log()));
    assert_eq!(one + two, 1, "one alert between them:\n{}\n---\n{}", first.log(), second.log());
}

async fn readiness(proxy: &Proxy) -> Value {
    let response = proxy.client().get(format!("{}/health/readiness", proxy.base)).send().await.unwrap();
    assert_eq!(response.status(), 200, "readiness stays 200: a Redis outage must not pull every replica");
    response.json().await.unwrap()
}

/// One request through `proxy`; its status and how long it took.
async fn timed(proxy: &Proxy) -> (u16, Duration, Value) {
    let started = Instant::now();
    let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
    let status = response.status().as_u16();
    (status, started.elapsed(), response.json().await.unwrap())
}

/// The rate-limiter's settings in the outage test. Its kv calls give up 300 ms into its
/// 400 ms hook (the last quarter is left for the plugin to handle that): a hook whose kv
/// call gave up in time faults as `kv_unavailable`, one whose call hung would have been
/// cut off by the hook's deadline instead (`deadline`).
fn outage_limiter(on_error: &str) -> String {
    format!("{{on_error: {on_error}, timeout_ms: 400, config: {{requests_per_minute: 100000}}}}")
}

/// Far above the hook's 400 ms deadline: a request that takes longer hangs.
const HANG: Duration = Duration::from_secs(10);

/// The rate-limiter's pre-call faults of `kind` so far, whoever they were charged to.
async fn limiter_faults(proxy: &Proxy, kind: &str) -> f64 {
    let metrics = proxy.client().get(format!("{}/metrics", proxy.base)).send().await.unwrap();
    let series = format!(r#"hookgate_plugin_faults_total{{plugin="rate-limiter",hook="pre-call",kind="{kind}","#);
    metrics
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|line| line.starts_with(&series))
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

/// During an outage every request is answered with the plugin's on_error, because the
/// kv call answered `unavailable` before the hook's deadline (every request's fault is
/// `kv_unavailable`, none a `deadline`); and `hookgate_redis_up` reads 0.
async fn outage_answers(open: &Proxy, closed: &Proxy) {
    let mut before = Vec::new();
    for proxy in [open, closed] {
        before.push((limiter_faults(proxy, "kv_unavailable").await, limiter_faults(proxy, "deadline").await));
    }
    for _ in 0..6 {
        let (status, took, body) = timed(open).await;
        assert_eq!(status, 200, "fail-open serves without the limiter: {body}");
        assert!(took < HANG, "fail-open took {took:?}");
        let (status, took, body) = timed(closed).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "plugin_error", "{body}");
        assert!(took < HANG, "fail-closed took {took:?}");
    }
    for (proxy, (unavailable, deadline)) in [open, closed].into_iter().zip(before) {
        assert_eq!(limiter_faults(proxy, "kv_unavailable").await - unavailable, 6.0, "{}", proxy.log());
        assert_eq!(limiter_faults(proxy, "deadline").await - deadline, 0.0, "{}", proxy.log());
        assert_eq!(proxy.metric("hookgate_redis_up").await, 0.0, "during the outage");
    }
}

/// Waits until the limiter counts again: a 200 with its headers (a fail-open 200 alone
/// could be the plugin giving up).
async fn recovers(proxy: &Proxy) {
    proxy
        .until("the limiter counts again", Duration::from_secs(10), async || {
            let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
            (response.status() == 200 && response.headers().contains_key("x-ratelimit-remaining-requests"))
                .then_some(())
        })
        .await;
}

/// A Redis at its `maxmemory` refuses writes (`OOM`): the writing plugin's `on_error`
/// applies to that call, but Redis answers, so it is not taken for down. Before, one full
/// write marked Redis unreachable for every plugin (a plugin filling the store could
/// switch the others' kv off), and the next writes waited for the outage probe.
#[tokio::test]
async fn a_full_redis_fails_the_write_not_the_store() {
    let store = Store::redis().await;
    let proxy = ProxyBuilder::new(&store.yaml())
        .plugin("rate-limiter", "rate-limiter")
        .settings("rate-limiter", &outage_limiter("fail-closed"))
        .start()
        .await;
    assert_eq!(timed(&proxy).await.0, 200);
    let server = store.server();
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]).await.expect("redis answers");
    server.cli(&["CONFIG", "SET", "maxmemory", "1"]).await.expect("redis answers");
    let (status, _, body) = timed(&proxy).await;
    assert_eq!(status, 503, "fail-closed: the count could not be kept: {body}");
    assert_eq!(proxy.metric("hookgate_redis_up").await, 1.0, "Redis answered: it is not down");
    assert_eq!(readiness(&proxy).await["redis"], "connected");
    server.cli(&["CONFIG", "SET", "maxmemory", "0"]).await.expect("redis answers");
    let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
    assert_eq!(response.status(), 200, "the next write counts at once, no outage to wait out");
    assert!(response.headers().contains_key("x-ratelimit-remaining-requests"));
    assert!(!proxy.log().contains("redis is unreachable"), "{}", proxy.log());
}

#[tokio::test]
async fn a_redis_outage_applies_on_error_without_hanging_and_service_recovers() {
    let mut store = Store::redis().await;
    let start = |on_error: &str| {
        ProxyBuilder::new(&store.yaml())
            .plugin("rate-limiter", "rate-limiter")
            .settings("rate-limiter", &outage_limiter(on_error))
            .start()
    };
    let (open, closed) = tokio::join!(start("fail-open"), start("fail-closed"));
    assert_eq!(timed(&open).await.0, 200);
    assert_eq!(timed(&closed).await.0, 200);
    assert_eq!(readiness(&open).await["redis"], "connected");
    assert_eq!(open.metric("hookgate_redis_up").await, 1.0);

    // Redis hangs: calls get no answer at all.
    store.server().pause().await;
    outage_answers(&open, &closed).await;
    let ready = readiness(&closed).await;
    assert_eq!((&ready["kv"], &ready["redis"]), (&json!("redis"), &json!("unreachable")), "{ready}");
    assert!(ready["redis_error"].as_str().is_some_and(|e| !e.is_empty()), "{ready}");
    assert!(ready["redis_down_for_s"].is_u64(), "{ready}");
    store.server().resume().await;
    recovers(&closed).await;
    recovers(&open).await;
    assert_eq!(readiness(&closed).await["redis"], "connected");

    // Redis dies: connections drop and reconnecting is refused; then it comes back.
    let Store::Redis(server) = &mut store else { unreachable!() };
    server.kill().await;
    outage_answers(&open, &closed).await;
    server.restart().await;
    recovers(&closed).await;
    recovers(&open).await;

    for (proxy, name) in [(&open, "fail-open"), (&closed, "fail-closed")] {
        let log = proxy.log();
        // Two outages, each said once however many requests met it.
        assert_eq!(log.matches("redis is unreachable").count(), 2, "{name}:\n{log}");
        assert_eq!(log.matches("redis is reachable again").count(), 2, "{name}:\n{log}");
        // The plugin gave up (kv_unavailable) but was never quarantined for it.
        let plugins = proxy.admin_get("/plugins").await;
        let limiter = &plugins["plugins"][0];
        assert_eq!(limiter["state"], "active", "{limiter}");
        assert!(limiter["faults"].as_u64().unwrap() >= 12, "{limiter}");
        assert_eq!(limiter["quarantines"], 0, "{limiter}");
        let metrics = proxy.client().get(format!("{}/metrics", proxy.base)).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        assert!(
            metrics.contains(
                r#"hookgate_plugin_faults_total{plugin="rate-limiter",hook="pre-call",kind="kv_unavailable",cause="outside"}"#
            ),
            "{metrics}"
        );
        assert!(metrics.contains("hookgate_redis_up 1"), "{metrics}");
    }
}

/// A client who loads the proxy until it hears Redis's answers late must not get past a
/// fail-open rate limiter that way: an answer the busy proxy did not hear in time is its
/// own overload (a retryable 503), not Redis's outage, where `on_error` would let the
/// request through. The load comes on cue: a relay stops the proxy (SIGSTOP) the moment
/// it sends its counter's `EVALSHA`, and delivers Redis's answer just after it resumes.
#[tokio::test]
async fn a_kv_answer_the_busy_proxy_heard_late_is_overload_never_a_fail_open_pass() {
    let server = RedisServer::start().await;
    let relay = FreezingRelay::start(&server).await;
    // A 400 ms hook: each kv call waits up to 300 ms, and the call is cut off at 1,600 ms.
    // An 800 ms stop overruns the first, not the second.
    let proxy = ProxyBuilder::new(&format!("redis_url: {}\n", relay.url()))
        .plugin("rate-limiter", "rate-limiter")
        .settings(
            "rate-limiter",
            &format!(
                "{{on_error: fail-open, timeout_ms: 400, config: {{limit: 1, window_seconds: {WINDOW_SECONDS}}}}}"
            ),
        )
        .start()
        .await;
    assert_eq!(timed(&proxy).await.0, 200, "the one request the limit allows");
    for _ in 0..2 {
        relay.freeze_on(b"EVALSHA", proxy.pid(), Duration::from_millis(800));
        let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
        assert!(relay.fired(), "the proxy was stopped mid-call");
        assert_overloaded(response, &proxy.log()).await;
    }
    // Redis never looked unreachable, and neither the plugin nor the input was blamed.
    let log = proxy.log();
    assert!(!log.contains("redis is unreachable"), "{log}");
    assert_eq!(proxy.metric("hookgate_redis_up").await, 1.0);
    assert_eq!(limiter_faults(&proxy, "kv_unavailable").await, 0.0, "{log}");
    let load = r#"hookgate_plugin_faults_total{plugin="rate-limiter",hook="pre-call",kind="deadline",cause="load"}"#;
    assert_eq!(proxy.metric(load).await, 2.0, "{log}");
    let limiter = &proxy.plugin_entry("rate-limiter").await;
    assert_eq!((&limiter["state"], &limiter["quarantines"]), (&json!("active"), &json!(0)), "{limiter}");
    // Unfrozen, the limit holds.
    let (status, _, body) = timed(&proxy).await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn a_proxy_starts_while_redis_is_down_and_says_so() {
    let mut server = RedisServer::start().await;
    let url = server.url();
    server.kill().await;
    let proxy = ProxyBuilder::new(&format!("redis_url: {url}\n"))
        .plugin("rate-limiter", "rate-limiter")
        .settings("rate-limiter", "{config: {requests_per_minute: 100}}")
        .start()
        .await;
    let ready = readiness(&proxy).await;
    assert_eq!(ready["redis"], "unreachable", "{ready}");
    assert!(ready["redis_error"].as_str().is_some_and(|e| !e.is_empty()), "{ready}");
    // fail-open by default: served without the limiter.
    assert_eq!(timed(&proxy).await.0, 200);
    server.restart().await;
    recovers(&proxy).await;
}
