//! Per-request callback disabling and the management routes, over real HTTP.

use std::time::Duration;

use hookgate_tests::proxy::{chat_body, ProxyBuilder, MASTER_KEY};
use serde_json::Value;

const BANNED: &str = "{config: {keywords: [forbidden]}}";

/// A chat request mentioning a banned word, with `headers`, as `key`: `"rejected"` when
/// banned-keywords rejected it (a 400 naming it), `"served"` when it was served.
async fn banned_word(proxy: &hookgate_tests::proxy::Proxy, key: &str, headers: &[(&str, &str)]) -> &'static str {
    let mut request = proxy
        .client()
        .post(format!("{}/v1/chat/completions", proxy.base))
        .bearer_auth(key)
        .json(&chat_body("mock-echo", "the forbidden word"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let rejected_by = response.headers().get("x-hookgate-rejected-by").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    match (status, rejected_by.as_deref()) {
        (400, Some("banned-keywords")) => {
            assert_eq!(body["error"]["code"], "banned_keyword", "{body}");
            "rejected"
        }
        (200, None) => {
            assert_eq!(body["choices"][0]["message"]["content"], "the forbidden word", "{body}");
            "served"
        }
        other => panic!("neither rejected by banned-keywords nor served: {other:?} {body}"),
    }
}

const KEYS: &str = "keys:
  - {key: sk-default-key, alias: default}
  - {key: sk-granted-key, alias: granted, allow_disabling_callbacks: true}
  - {key: sk-quiet-key, alias: quiet, disabled_callbacks: [banned-keywords]}
";

#[tokio::test]
async fn disabling_by_header_is_granted_per_key_case_insensitive_and_audited() {
    let proxy = ProxyBuilder::new(KEYS)
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", BANNED)
        .start()
        .await;
    assert_eq!(banned_word(&proxy, MASTER_KEY, &[]).await, "rejected");
    let header = [("x-litellm-disable-callbacks", " Banned-KEYWORDS , no-such-plugin")];
    assert_eq!(banned_word(&proxy, MASTER_KEY, &header).await, "served", "the master key may; unknown names ignored");
    let alias = [("x-hookgate-disable-callbacks", "banned-keywords")];
    assert_eq!(banned_word(&proxy, MASTER_KEY, &alias).await, "served", "the hookgate alias works too");
    let log = proxy.wait_for_log("a request chose its plugins", Duration::from_secs(5)).await;
    let audit = log.lines().find(|line| line.contains("a request chose its plugins")).unwrap();
    assert!(audit.contains("master") && audit.contains("banned-keywords"), "{audit}");

    // A virtual key may not switch a guardrail off unless the operator granted it.
    assert_eq!(banned_word(&proxy, "sk-default-key", &header).await, "rejected", "not granted by default");
    assert_eq!(banned_word(&proxy, "sk-default-key", &alias).await, "rejected");
    assert_eq!(banned_word(&proxy, "sk-granted-key", &header).await, "served", "granted");
    assert_eq!(banned_word(&proxy, "sk-quiet-key", &[]).await, "served", "the key's disabled_callbacks always apply");
}

#[tokio::test]
async fn disabling_has_no_effect_when_switched_off_or_on_required_plugins() {
    let off = ProxyBuilder::new("litellm_settings: {allow_dynamic_callback_disabling: false}\n")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", BANNED)
        .start()
        .await;
    let header = [("x-litellm-disable-callbacks", "banned-keywords")];
    assert_eq!(banned_word(&off, MASTER_KEY, &header).await, "rejected");
    drop(off);

    let required = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{required: true, config: {keywords: [forbidden]}}")
        .start()
        .await;
    assert_eq!(banned_word(&required, MASTER_KEY, &header).await, "rejected");
}

#[tokio::test]
async fn management_routes_need_the_master_key_and_show_plugins_and_their_counters() {
    let proxy = ProxyBuilder::new("keys:\n  - {key: sk-user-key, alias: user}\n")
        .plugin("banned-keywords", "banned-keywords")
        .plugin("probe", "probe")
        .plugin("panic", "panic")
        .settings("banned-keywords", BANNED)
        .settings("panic", "{config: {always: true}}")
        .plugins_option("quarantine_after: 1")
        .plugins_option("quarantine_seconds: 60")
        .start()
        .await;
    let get = |path: &str, key: Option<&str>| {
        let mut request = proxy.client().get(format!("{}{path}", proxy.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    for path in ["/callbacks/list", "/plugins"] {
        assert_eq!(get(path, None).await.0, 401, "{path} without a key");
        assert_eq!(get(path, Some("sk-user-key")).await.0, 401, "{path} with a non-admin key");
    }
    let (status, callbacks) = get("/callbacks/list", Some(MASTER_KEY)).await;
    assert_eq!(status, 200);
    let mut all: Vec<&str> =
        callbacks["success_and_failure"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    all.sort();
    assert_eq!(all, ["banned-keywords", "panic", "probe"], "{callbacks}");
    assert_eq!(callbacks["success"], serde_json::json!([]));
    assert_eq!(callbacks["failure"], serde_json::json!([]));

    assert_eq!(banned_word(&proxy, MASTER_KEY, &[]).await, "rejected");
    let broken = proxy.chat(&chat_body("mock-echo", "hello")).await;
    assert_eq!(broken.status(), 200, "panic is broken and fail-open: skipped");
    let (status, listing) = get("/plugins", Some(MASTER_KEY)).await;
    assert_eq!(status, 200);
    let plugin =
        |name: &str| listing["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    let banned = plugin("banned-keywords");
    assert_eq!((banned["state"].as_str(), banned["rejections"].as_u64()), (Some("active"), Some(1)), "{banned}");
    assert_eq!(banned["sha256"].as_str().unwrap().len(), 64);
    assert!(banned["hooks"].as_array().unwrap().iter().any(|hook| hook == "pre-call"));
    let panic = plugin("panic");
    assert_eq!((panic["state"].as_str(), panic["faults"].as_u64()), (Some("quarantined"), Some(1)), "{panic}");
    assert_eq!(plugin("probe")["state"], "active");
}

#[tokio::test]
async fn a_sidecar_configures_its_plugin_and_the_main_config_overrides_it_key_by_key() {
    let sidecar_only = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .sidecar("banned-keywords", "priority: 7\nconfig: {keywords: [sidecarword]}\n")
        .start()
        .await;
    let text = |word: &str| chat_body("mock-echo", &format!("about the {word}"));
    assert_eq!(sidecar_only.chat(&text("sidecarword")).await.status(), 400);
    drop(sidecar_only);

    let overridden = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .sidecar("banned-keywords", "priority: 7\non_error: fail-closed\nconfig: {keywords: [sidecarword]}\n")
        .settings("banned-keywords", "{config: {keywords: [configword]}}")
        .start()
        .await;
    assert_eq!(overridden.chat(&text("configword")).await.status(), 400, "the config's `config` wins");
    assert_eq!(overridden.chat(&text("sidecarword")).await.status(), 200);
    let listing: Value = overridden
        .client()
        .get(format!("{}/plugins", overridden.base))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plugin = &listing["plugins"][0];
    assert_eq!((plugin["priority"].as_i64(), plugin["on_error"].as_str()), (Some(7), Some("fail-closed")), "{plugin}");
}
