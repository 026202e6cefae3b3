//! The plugin directory over real files and real HTTP: hot swap without a restart,
//! broken replacements, unloading, reloads on request and on SIGHUP, de-duplication
//! and the plugin limit.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookgate_tests::guest_dir;
use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder};
use serde_json::Value;

const SWAP_WAIT: Duration = Duration::from_secs(20);

fn component(crate_name: &str) -> std::path::PathBuf {
    guest_dir().join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// Copies a built component into place the way an operator would: `cp` over the file.
fn install(crate_name: &str, to: &Path) {
    std::fs::copy(component(crate_name), to).expect("copy the component");
}

/// One chat call: (status, x-plugin-version header, content).
async fn versioned_call(proxy: &Proxy) -> (u16, Option<String>, String) {
    let response = proxy.chat(&chat_body("mock-echo", "hello")).await;
    let status = response.status().as_u16();
    let version = response.headers().get("x-plugin-version").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    (status, version, body["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned())
}

async fn names_in_callbacks_list(proxy: &Proxy) -> Vec<String> {
    let list = proxy.admin_get("/callbacks/list").await;
    ["success", "failure", "success_and_failure"]
        .iter()
        .flat_map(|kind| list[kind].as_array().cloned().unwrap_or_default())
        .map(|name| name.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_plugin_replaced_50_times_under_load_fails_no_request_and_each_response_is_one_version() {
    let proxy = Arc::new(ProxyBuilder::new("").plugin("versioned", "version-a").start().await);
    let target = proxy.plugin_dir().join("versioned.wasm");
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let load: Vec<_> = (0..3)
        .map(|_| {
            let (proxy, stop, served, problems) = (proxy.clone(), stop.clone(), served.clone(), problems.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (status, version, content) = versioned_call(&proxy).await;
                    let consistent = version.as_ref().is_some_and(|v| content == format!("[{v}] hello"));
                    if status != 200 || !consistent {
                        problems.lock().unwrap().push(format!("{status} {version:?} {content:?}"));
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for swap in 0..50 {
        let version = if swap % 2 == 0 { "version-b" } else { "version-a" };
        install(version, &target);
        proxy
            .until(&format!("swap {swap} to {version}"), SWAP_WAIT, || async {
                (versioned_call(&proxy).await.1.as_deref() == Some(version)).then_some(())
            })
            .await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let problems = problems.lock().unwrap();
    assert!(problems.is_empty(), "{} bad responses, e.g. {:?}", problems.len(), &problems[..problems.len().min(5)]);
    assert!(served.load(Ordering::Relaxed) >= 50, "the load ran throughout");
    let log = proxy.log();
    let failures: Vec<&str> = log.lines().filter(|line| line.contains("plugin not loaded")).collect();
    assert!(failures.is_empty(), "a cp in progress is not reported as a failure: {failures:#?}");
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_old_version_serving_and_shows_the_error() {
    let proxy = ProxyBuilder::new("").plugin("versioned", "version-a").start().await;
    let target = proxy.plugin_dir().join("versioned.wasm");
    std::fs::write(&target, b"\0asm this is not a component").unwrap();
    let entry = proxy
        .until("the load error in GET /plugins", SWAP_WAIT, || async {
            let listing = proxy.admin_get("/plugins").await;
            let entry = listing["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "versioned").cloned()?;
            entry["load_error"].is_string().then_some(entry)
        })
        .await;
    assert_eq!(entry["state"], "active", "the old version still serves: {entry}");
    assert!(entry["load_error"].as_str().unwrap().contains("not a valid WebAssembly component"), "{entry}");
    let (status, version, _) = versioned_call(&proxy).await;
    assert_eq!((status, version.as_deref()), (200, Some("version-a")));
    assert!(proxy.log().contains("plugin not loaded"), "the failure is logged");

    install("version-b", &target);
    proxy
        .until("the fixed file to load", SWAP_WAIT, || async {
            (versioned_call(&proxy).await.1.as_deref() == Some("version-b")).then_some(())
        })
        .await;
    let listing = proxy.admin_get("/plugins").await;
    assert!(listing["plugins"][0]["load_error"].is_null(), "{listing}");
}

#[tokio::test]
async fn adding_loads_and_deleting_unloads_without_a_restart() {
    let proxy = ProxyBuilder::new("").start().await;
    assert!(names_in_callbacks_list(&proxy).await.is_empty());
    let added = proxy.plugin_dir().join("added.wasm");
    install("version-a", &added);
    proxy
        .until("the new plugin in /callbacks/list", SWAP_WAIT, || async {
            names_in_callbacks_list(&proxy).await.contains(&"added".to_owned()).then_some(())
        })
        .await;
    assert_eq!(versioned_call(&proxy).await.1.as_deref(), Some("version-a"));
    std::fs::remove_file(&added).unwrap();
    proxy
        .until("the deleted plugin to go", SWAP_WAIT, || async {
            names_in_callbacks_list(&proxy).await.is_empty().then_some(())
        })
        .await;
    let (status, version, content) = versioned_call(&proxy).await;
    assert_eq!((status, version, content.as_str()), (200, None, "hello"));
}

#[tokio::test]
async fn without_watching_a_reload_request_or_sighup_rescans() {
    let (proxy, control) =
        tokio::join!(ProxyBuilder::new("").plugins_option("watch: false").start(), ProxyBuilder::new("").start());
    // The same file lands in both directories: the watching control proxy shows how long
    // a new file takes to load when the change is noticed.
    let copied = Instant::now();
    install("version-a", &proxy.plugin_dir().join("first.wasm"));
    install("version-a", &control.plugin_dir().join("first.wasm"));
    control
        .until("the watching control proxy to load the file", SWAP_WAIT, || async {
            names_in_callbacks_list(&control).await.contains(&"first".to_owned()).then_some(())
        })
        .await;
    // Well beyond that, the proxy that does not watch still has nothing.
    let beyond = Instant::now() + (copied.elapsed() * 5).max(Duration::from_secs(2));
    while Instant::now() < beyond {
        assert!(names_in_callbacks_list(&proxy).await.is_empty(), "not watched: nothing changes by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(control);
    let reload = proxy
        .client()
        .post(format!("{}/plugins/reload", proxy.base))
        .bearer_auth(hookgate_tests::proxy::MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let report: Value = reload.json().await.unwrap();
    assert_eq!(report["loaded"], serde_json::json!(["first"]), "{report}");
    let unauthorised = proxy.client().post(format!("{}/plugins/reload", proxy.base)).send().await.unwrap();
    assert_eq!(unauthorised.status(), 401);

    install("version-b", &proxy.plugin_dir().join("second.wasm"));
    proxy.hangup().await;
    proxy
        .until("SIGHUP to load the second plugin", SWAP_WAIT, || async {
            names_in_callbacks_list(&proxy).await.contains(&"second".to_owned()).then_some(())
        })
        .await;
}

#[tokio::test]
async fn the_same_component_and_config_registers_once_and_max_plugins_is_enforced() {
    let twins = ProxyBuilder::new("").plugin("one", "version-a").plugin("two", "version-a").start().await;
    assert_eq!(names_in_callbacks_list(&twins).await, ["one"]);
    let listing = twins.admin_get("/plugins").await;
    let two = listing["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "two").unwrap();
    assert_eq!(two["state"], "failed-to-load");
    assert!(two["load_error"].as_str().unwrap().contains("registered once"), "{two}");
    drop(twins);

    let limited = ProxyBuilder::new("")
        .plugin("one", "version-a")
        .plugin("two", "version-b")
        .plugins_option("max_plugins: 1")
        .start()
        .await;
    assert_eq!(names_in_callbacks_list(&limited).await, ["one"]);
    let listing = limited.admin_get("/plugins").await;
    let two = listing["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "two").unwrap();
    assert!(two["load_error"].as_str().unwrap().contains("max_plugins (1)"), "{two}");
    for _ in 0..5 {
        assert_eq!(limited.chat(&chat_body("mock-echo", "x")).await.status(), 200);
    }
    let refusals = limited.log().matches("max_plugins (1) reached").count();
    assert_eq!(refusals, 1, "refused once, not once per request");
}

#[tokio::test]
async fn a_sidecar_change_reloads_and_an_init_refusal_keeps_the_old_settings() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .sidecar("banned-keywords", "config: {keywords: [alpha]}\n")
        .start()
        .await;
    let status_for = |word: &'static str| {
        let proxy = &proxy;
        async move { proxy.chat(&chat_body("mock-echo", &format!("say {word}"))).await.status().as_u16() }
    };
    assert_eq!(status_for("alpha").await, 400);
    let sidecar = proxy.plugin_dir().join("banned-keywords.yaml");
    std::fs::write(&sidecar, "config: {keywords: [beta]}\n").unwrap();
    proxy
        .until("the new sidecar to apply", SWAP_WAIT, || async { (status_for("beta").await == 400).then_some(()) })
        .await;
    assert_eq!(status_for("alpha").await, 200);

    // The plugin's init refuses this config: the old settings keep serving.
    std::fs::write(&sidecar, "config: {keywords: [gamma], status: 200}\n").unwrap();
    let error = proxy
        .until("the init refusal in GET /plugins", SWAP_WAIT, || async {
            let listing = proxy.admin_get("/plugins").await;
            listing["plugins"][0]["load_error"].as_str().map(str::to_owned)
        })
        .await;
    assert!(error.contains("refused its config") && error.contains("must be a 4xx"), "{error}");
    assert_eq!(status_for("beta").await, 400, "the previous settings still apply");
}
