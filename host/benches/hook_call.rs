//! Cost of one hook call: on a fresh instance (the default: one instance per request),
//! instantiation alone, and on a reused instance for comparison; the same plugins built
//! against contract 0.1 (the fixtures in `tests/fixtures/contract-0.1`, adapted by the
//! host) and 0.2, side by side; and the same pre-call written in Rust, Python and
//! JavaScript, with each component's size and load time.
//!
//! Needs the guests built (`make guests`). Run with `make bench-hooks`.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookgate::capabilities::kv::Kv;
use hookgate::content::{Body, RequestDoc, ResponseDoc};
use hookgate::plugins::{EngineOptions, LoadedPlugin, PluginEngine, PluginSettings};
use hookgate::types::{CallInfo, CallType, KeyInfo};
use serde_json::{json, Value};

fn guest(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("HOOKGATE_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/guest"));
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make guests` first", path.display()))
}

/// A component built against contract 0.1, kept as a test fixture.
fn fixture_0_1(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/contract-0.1/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request as the hooks get it: what they are told about it, and its body.
#[derive(Clone)]
struct Req {
    info: CallInfo,
    doc: RequestDoc,
}

/// A chat request whose body is about `bytes` long: a system prompt, then the user's
/// message holding the filler, as chat requests usually look.
fn request(bytes: usize) -> Req {
    let filler = "lorem ipsum dolor sit amet ".repeat(bytes / 27 + 1);
    let mut body = json!({
        "model": "mock/echo",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": ""}
        ]
    });
    let overhead = body.to_string().len();
    body["messages"][1]["content"] = filler[..bytes.saturating_sub(overhead)].into();
    let size = body.to_string().len();
    let Value::Object(fields) = body else { unreachable!() };
    let info = CallInfo {
        id: "bench".into(),
        call_type: CallType::ChatCompletion,
        key: KeyInfo {
            alias: Some("bench".into()),
            id: "ab".repeat(32),
            user_id: None,
            team_id: None,
            metadata: "{}".into(),
        }
        .into(),
        stream: false,
        lowered: Default::default(),
    };
    let headers = vec![("content-type".into(), "application/json".into())];
    Req { info, doc: RequestDoc::new(fields, size, headers) }
}

/// A chat completion whose answer is about `bytes` long.
fn response(bytes: usize) -> ResponseDoc {
    let text = "lorem ipsum dolor sit amet ".repeat(bytes / 27 + 1);
    let body = json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "mock/echo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": &text[..bytes]}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    });
    ResponseDoc { status: 200, body: Arc::new(Body::measured(body)), headers: Vec::new() }
}

fn load(runtime: &tokio::runtime::Runtime, engine: &PluginEngine, name: &str, config: Value) -> Arc<LoadedPlugin> {
    load_bytes(runtime, engine, name, guest(name), config)
}

fn load_bytes(
    runtime: &tokio::runtime::Runtime,
    engine: &PluginEngine,
    name: &str,
    wasm: Vec<u8>,
    config: Value,
) -> Arc<LoadedPlugin> {
    let settings = PluginSettings { config, ..PluginSettings::default() };
    runtime.block_on(LoadedPlugin::load(engine, name, wasm, settings)).expect("plugin loads")
}

fn hook_calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let engine =
        PluginEngine::new(EngineOptions { max_instances: 16, ..EngineOptions::default() }, Kv::in_memory()).unwrap();
    let noop = load(&runtime, &engine, "noop", serde_json::Value::Null);
    // The same plugin on an engine that returns every page to the kernel when a slot is
    // recycled (keep_resident_bytes = 0): what the in-place reset saves, in one run.
    let lean_options = EngineOptions { max_instances: 16, keep_resident_bytes: 0, ..EngineOptions::default() };
    let lean_engine = PluginEngine::new(lean_options, Kv::in_memory()).unwrap();
    let noop_lean = load(&runtime, &lean_engine, "noop", serde_json::Value::Null);
    let banned =
        load(&runtime, &engine, "banned-keywords", serde_json::json!({"keywords": ["forbidden", "secret plan"]}));

    c.bench_function("instantiate_only", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut instance = noop.instance("bench");
            instance.prepare().await.unwrap();
        })
    });

    let mut group = c.benchmark_group("pre_call");
    for size in [1024, 16 * 1024] {
        let req = request(size);
        let label = format!("{}KB", size / 1024);
        group.throughput(Throughput::Bytes(req.doc.body.size() as u64));
        group.bench_with_input(BenchmarkId::new("noop_fresh_instance", &label), &req, |b, req| {
            b.to_async(&runtime).iter(|| async {
                let mut instance = noop.instance("bench");
                instance.pre_call(&req.info, &req.doc).await.unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("noop_fresh_instance_no_keep_resident", &label), &req, |b, req| {
            b.to_async(&runtime).iter(|| async {
                let mut instance = noop_lean.instance("bench");
                instance.pre_call(&req.info, &req.doc).await.unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("noop_reused_instance", &label), &req, |b, req| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (noop, req) = (Arc::clone(&noop), req.clone());
                async move {
                    let mut instance = noop.instance("bench");
                    instance.prepare().await.unwrap();
                    let started = std::time::Instant::now();
                    for _ in 0..iters {
                        instance.pre_call(&req.info, &req.doc).await.unwrap();
                    }
                    started.elapsed()
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("banned_keywords_fresh_instance", &label), &req, |b, req| {
            b.to_async(&runtime).iter(|| async {
                let mut instance = banned.instance("bench");
                instance.pre_call(&req.info, &req.doc).await.unwrap()
            })
        });
    }
    group.finish();
}

/// The same pre-call (parse the body, append to the last message, return the edit) in
/// three languages: `version-a` (Rust), `py-probe` (Python), `js-probe` (JavaScript).
const BY_LANGUAGE: [(&str, &str); 3] = [("rust", "version-a"), ("python", "py-probe"), ("javascript", "js-probe")];

/// Size and load time of each language's component, compiled cold and then loaded from
/// the compiled-artifact cache. Seconds-long compiles do not suit criterion's sampling:
/// three loads each, printed as a table.
fn load_times(runtime: &tokio::runtime::Runtime) {
    println!("| language | component | size | cold load (compile), median of 3 | cached load, median of 3 |");
    println!("| --- | --- | --- | --- | --- |");
    for (language, name) in BY_LANGUAGE {
        let bytes = guest(name);
        let mut cold = Vec::new();
        let mut cached = Vec::new();
        for _ in 0..3 {
            let cache = tempfile_dir();
            let options = EngineOptions { cache_dir: Some(cache.clone()), ..EngineOptions::default() };
            let engine = PluginEngine::new(options, Kv::in_memory()).unwrap();
            for times in [&mut cold, &mut cached] {
                let started = std::time::Instant::now();
                let settings = PluginSettings::default();
                runtime.block_on(LoadedPlugin::load(&engine, name, bytes.clone(), settings)).expect("plugin loads");
                times.push(started.elapsed());
            }
            let _ = std::fs::remove_dir_all(cache);
        }
        let median = |times: &mut Vec<std::time::Duration>| {
            times.sort();
            times[1]
        };
        println!(
            "| {language} | `{name}` | {:.1} MB | {:.2} s | {:.1} ms |",
            bytes.len() as f64 / 1e6,
            median(&mut cold).as_secs_f64(),
            median(&mut cached).as_secs_f64() * 1000.0
        );
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hookgate-bench-cache-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn languages(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    load_times(&runtime);
    let engine =
        PluginEngine::new(EngineOptions { max_instances: 16, ..EngineOptions::default() }, Kv::in_memory()).unwrap();
    let req = request(1024);
    let mut group = c.benchmark_group("pre_call_by_language");
    for (language, name) in BY_LANGUAGE {
        let plugin = load(&runtime, &engine, name, serde_json::Value::Null);
        group.bench_with_input(BenchmarkId::new("fresh_instance", language), &req, |b, req| {
            b.to_async(&runtime).iter(|| async {
                let mut instance = plugin.instance("bench");
                instance.pre_call(&req.info, &req.doc).await.unwrap()
            })
        });
        // The instantiation alone: how much of the call is the fresh instance.
        group.bench_function(BenchmarkId::new("instantiate_only", language), |b| {
            b.to_async(&runtime).iter(|| async {
                let mut instance = plugin.instance("bench");
                instance.prepare().await.unwrap();
            })
        });
    }
    // Whether the interpreted guests' cost is the pages they dirty: the same Python and
    // JS calls on an engine that keeps 64 MiB of each slot resident instead of 1 MiB.
    let roomy_options = EngineOptions { max_instances: 16, keep_resident_bytes: 64 << 20, ..EngineOptions::default() };
    let roomy = PluginEngine::new(roomy_options, Kv::in_memory()).unwrap();
    for (language, name) in &BY_LANGUAGE[1..] {
        let plugin = load(&runtime, &roomy, name, serde_json::Value::Null);
        group.bench_with_input(BenchmarkId::new("fresh_instance_keep_64MiB_resident", language), &req, |b, req| {
            b.to_async(&runtime).iter(|| async {
                let mut instance = plugin.instance("bench");
                instance.pre_call(&req.info, &req.doc).await.unwrap()
            })
        });
    }
    group.finish();
}

/// The same plugins built against contract 0.1 (adapted by the host: the request lowered
/// as JSON text, parsed again in the guest) and 0.2 (the request lent as a resource the
/// guest reads lazily): per-hook cost, side by side in one run.
fn contracts(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let engine =
        PluginEngine::new(EngineOptions { max_instances: 16, ..EngineOptions::default() }, Kv::in_memory()).unwrap();
    let keywords = json!({"keywords": ["forbidden", "secret plan"]});
    let versions = [
        ("0.1", fixture_0_1("noop"), fixture_0_1("banned-keywords")),
        ("0.2", guest("noop"), guest("banned-keywords")),
    ];
    let mut group = c.benchmark_group("contract");
    for (version, noop_wasm, banned_wasm) in versions {
        // Fuel for the largest body: a 0.1 guest parsing and normalizing 256 KB needs more
        // than the default 50 M.
        let roomy = |config: Value| PluginSettings { config, fuel: 2_000_000_000, ..PluginSettings::default() };
        let load = |name, wasm, config| {
            runtime.block_on(LoadedPlugin::load(&engine, name, wasm, roomy(config))).expect("plugin loads")
        };
        let noop = load("noop", noop_wasm, Value::Null);
        let banned = load("banned-keywords", banned_wasm, keywords.clone());
        assert!(noop.contract().label().ends_with(version) && banned.contract() == noop.contract());
        for size in [1024, 16 * 1024, 256 * 1024] {
            let req = request(size);
            let label = format!("{version}/{}KB", size / 1024);
            group.bench_with_input(BenchmarkId::new("noop_pre_call_fresh", &label), &req, |b, req| {
                b.to_async(&runtime).iter(|| async {
                    let mut instance = noop.instance("bench");
                    instance.pre_call(&req.info, &req.doc).await.unwrap()
                })
            });
            group.bench_with_input(BenchmarkId::new("banned_keywords_pre_call_fresh", &label), &req, |b, req| {
                b.to_async(&runtime).iter(|| async {
                    let mut instance = banned.instance("bench");
                    instance.pre_call(&req.info, &req.doc).await.unwrap()
                })
            });
            // On one instance: the call alone, without instantiation, where the contract's
            // copying and parsing is all there is.
            group.bench_with_input(BenchmarkId::new("banned_keywords_pre_call_reused", &label), &req, |b, req| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let (banned, req) = (Arc::clone(&banned), req.clone());
                    async move {
                        let mut instance = banned.instance("bench");
                        instance.prepare().await.unwrap();
                        let started = std::time::Instant::now();
                        for _ in 0..iters {
                            instance.pre_call(&req.info, &req.doc).await.unwrap();
                        }
                        started.elapsed()
                    }
                })
            });
        }
        // post-call-success: the request (1 KB) and a 4 KB answer; banned-keywords reads
        // the answer's texts.
        let (req, resp) = (request(1024), response(4096));
        group.bench_function(BenchmarkId::new("banned_keywords_post_call_reused", format!("{version}/4KB")), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (banned, req, resp) = (Arc::clone(&banned), req.clone(), resp.clone());
                async move {
                    let mut instance = banned.instance("bench");
                    instance.prepare().await.unwrap();
                    let started = std::time::Instant::now();
                    for _ in 0..iters {
                        instance.post_call_success(&req.info, &req.doc, &resp).await.unwrap();
                    }
                    started.elapsed()
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, contracts, hook_calls, languages);
criterion_main!(benches);
