//! The admin console at `/ui` in a real headless Chromium (Debian's `chromium` driven by
//! `chromedriver`): sign in, plugins and figures after traffic, a fault appearing, reload,
//! quarantine and release by hand, and an uploaded plugin serving requests. Screenshots
//! go to `target/console-screenshots/`. The routes the console adds are also checked
//! over plain HTTP for what a browser cannot show: the key they need and what they refuse.

use std::time::Duration;

use hookgate_tests::browser::Browser;
use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder, MASTER_KEY};
use hookgate_tests::{guest_dir, workspace_root};
use serde_json::{json, Value};

const SEEN: Duration = Duration::from_secs(15);

fn console_proxy() -> ProxyBuilder {
    ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{priority: 10, on_error: fail-closed, config: {keywords: [forbidden]}}")
        .plugin("header-injector", "header-injector")
        .settings("header-injector", "{priority: 20, config: {headers: {x-served-by: hookgate}}}")
        .plugin("scripted", "scripted")
        .settings("scripted", "{priority: 30}")
}

async fn chat(proxy: &Proxy, body: &Value) -> (u16, reqwest::header::HeaderMap) {
    let response = proxy.chat(body).await;
    (response.status().as_u16(), response.headers().clone())
}

fn screenshot(name: &str) -> std::path::PathBuf {
    workspace_root().join("target/console-screenshots").join(name)
}

#[tokio::test]
async fn the_console_shows_plugins_figures_and_faults_and_its_actions_work_in_a_real_browser() {
    // Chromium takes both cores while it starts and renders: alone with the other heavy tests.
    let _machine = hookgate_tests::machine_to_myself().await;
    let proxy = console_proxy().start().await;
    for _ in 0..5 {
        assert_eq!(chat(&proxy, &chat_body("mock-echo", "hello")).await.0, 200);
    }
    assert_eq!(chat(&proxy, &chat_body("mock-echo", "a forbidden topic")).await.0, 400);

    let browser = Browser::start().await;
    browser.goto(&format!("{}/ui", proxy.base)).await;
    // A wrong key is refused on the form.
    browser.type_into("#key", "sk-not-the-master-key").await;
    browser.click("#login-button").await;
    browser.wait_for_text("#login-error", "the refusal", SEEN, |text| text.contains("not the master key")).await;
    browser.goto(&format!("{}/ui", proxy.base)).await;
    browser.type_into("#key", MASTER_KEY).await;
    browser.click("#login-button").await;

    // Every plugin with its state, and calls counted after the traffic.
    let plugins = browser
        .wait_for_text("#plugins", "the plugins", SEEN, |text| {
            ["banned-keywords", "header-injector", "scripted"].iter().all(|name| text.contains(name))
        })
        .await;
    assert!(plugins.contains("active") && plugins.contains("fail-closed"), "{plugins}");
    let calls = browser.text(r#"#plugins tr[data-plugin="banned-keywords"] td[data-role="calls"]"#).await;
    assert!(calls.parse::<u64>().unwrap() >= 6, "banned-keywords ran for every request: {calls}");
    let hooks = browser
        .wait_for_text("#hooks", "per-hook figures", SEEN, |text| {
            text.contains("banned-keywords") && text.contains("pre-call")
        })
        .await;
    assert!(hooks.contains("≤"), "p50 and p99 from the histogram: {hooks}");
    let events = browser.wait_for_text("#events", "the rejection", SEEN, |text| text.contains("reject")).await;
    assert!(!events.contains("forbidden topic"), "no prompt text in the console: {events}");

    // A plugin faults: it shows in the recent decisions with its kind.
    let trap = {
        let mut body = chat_body("mock-echo", "hello");
        body["hookgate_script"] = json!({"pre-call": {"do": "trap"}});
        body
    };
    chat(&proxy, &trap).await;
    browser
        .wait_for_text("#events", "the fault", SEEN, |text| text.contains("scripted") && text.contains("fault:trap"))
        .await;
    browser.screenshot(&screenshot("1-plugins-and-faults.png")).await;

    // Reload.
    browser.click("#reload").await;
    browser.wait_for_text("#reload-result", "the reload report", SEEN, |text| text.contains("3 unchanged")).await;

    // Quarantine by hand, then release: requests skip it meanwhile.
    browser.click(r#"#plugins tr[data-plugin="header-injector"] button"#).await;
    browser
        .wait_for_text(
            r#"#plugins tr[data-plugin="header-injector"] td[data-role="state"]"#,
            "quarantined",
            SEEN,
            |t| t.contains("quarantined"),
        )
        .await;
    let (_, headers) = chat(&proxy, &chat_body("mock-echo", "hello")).await;
    assert!(headers.get("x-served-by").is_none(), "a quarantined plugin is skipped");
    browser.click(r#"#plugins tr[data-plugin="header-injector"] button"#).await;
    browser
        .wait_for_text(
            r#"#plugins tr[data-plugin="header-injector"] td[data-role="state"]"#,
            "active again",
            SEEN,
            |t| t.contains("active"),
        )
        .await;
    assert_eq!(chat(&proxy, &chat_body("mock-echo", "hello")).await.1.get("x-served-by").unwrap(), "hookgate");

    // Upload a plugin with its settings: it loads and serves the next request.
    let component = guest_dir().join("version_a.wasm");
    browser.type_into("#upload-name", "uploaded").await;
    browser.type_into("#upload-file", component.to_str().unwrap()).await;
    browser.type_into("#upload-settings", "priority: 50").await;
    browser.click("#upload").await;
    browser.wait_for_text("#upload-result", "the upload", SEEN, |text| text.contains("uploaded loaded")).await;
    let (status, headers) = chat(&proxy, &chat_body("mock-echo", "hello")).await;
    assert_eq!((status, headers.get("x-plugin-version").map(|v| v.to_str().unwrap())), (200, Some("version-a")));
    browser.wait_for_text("#plugins", "the uploaded plugin", SEEN, |text| text.contains("uploaded")).await;
    assert_eq!(proxy.plugin_entry("uploaded").await["priority"], 50, "the settings came along");
    browser.screenshot(&screenshot("2-after-upload.png")).await;
}

#[tokio::test]
async fn console_routes_need_the_master_key_and_refuse_bad_uploads() {
    let proxy = console_proxy().start().await;
    let client = proxy.client();
    let url = |path: &str| format!("{}{path}", proxy.base);

    // The page itself holds no data: it is served to anyone, with a strict CSP.
    let page = client.get(url("/ui")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");

    // Everything with data or effect needs the master key.
    let wasm = std::fs::read(guest_dir().join("version_a.wasm")).unwrap();
    for (method, path) in [
        (reqwest::Method::GET, "/ui/api/events"),
        (reqwest::Method::POST, "/plugins/scripted/quarantine"),
        (reqwest::Method::POST, "/plugins/scripted/release"),
        (reqwest::Method::PUT, "/plugins/sneaky"),
        (reqwest::Method::PUT, "/plugins/sneaky/settings"),
    ] {
        // A client of its own per call: the proxy answers 401 without reading the body and
        // then closes the connection, which a pooled client could be writing to again.
        let response = reqwest::Client::new()
            .request(method.clone(), url(path))
            .bearer_auth("sk-wrong")
            .body(wasm.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    assert!(!proxy.plugin_dir().join("sneaky.wasm").exists(), "nothing was written");

    let put = |path: &str, body: Vec<u8>| client.put(url(path)).bearer_auth(MASTER_KEY).body(body).send();
    let answer = put("/plugins/.hidden", wasm.clone()).await.unwrap();
    assert_eq!(answer.status(), 400, "an invalid name");
    let answer = put("/plugins/notwasm", b"#!/bin/sh\necho hi".to_vec()).await.unwrap();
    assert_eq!(answer.status(), 400, "not a component");
    let answer = put("/plugins/badyaml/settings", b"[not: a mapping".to_vec()).await.unwrap();
    assert_eq!(answer.status(), 400, "settings that do not parse");

    // A sidecar over the operator's ceiling: the upload is refused with why, like a copied file.
    let answer = put("/plugins/greedy/settings", b"timeout_ms: 5000".to_vec()).await.unwrap();
    assert_eq!(answer.status(), 200);
    let report: Value = put("/plugins/greedy", wasm.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(report["loaded"], false, "{report}");
    assert!(report["error"].as_str().unwrap().contains("ceiling"), "{report}");

    // Quarantine for a given time, and release; an unknown plugin is a 404.
    let post = |path: &str| client.post(url(path)).bearer_auth(MASTER_KEY).send();
    assert_eq!(post("/plugins/nope/quarantine").await.unwrap().status(), 404);
    assert_eq!(post("/plugins/scripted/quarantine?seconds=0").await.unwrap().status(), 400);
    assert_eq!(post("/plugins/scripted/quarantine?seconds=60").await.unwrap().status(), 200);
    assert_eq!(proxy.plugin_entry("scripted").await["state"], "quarantined");
    assert!(proxy.log().contains("a plugin was quarantined by hand"), "audited");
    assert_eq!(post("/plugins/scripted/release").await.unwrap().status(), 200);
    assert_eq!(proxy.plugin_entry("scripted").await["state"], "active");
}
