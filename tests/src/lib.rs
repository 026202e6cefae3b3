//! Shared fixtures for hookgate's end-to-end tests: where the built guest components
//! are, one engine per test process, request builders, and ([`proxy`]) a real proxy
//! process to talk to over HTTP.

pub mod browser;
pub mod fixtures;
pub mod proxy;
pub mod redis;
pub mod registry;
pub mod soak;
pub mod upstream;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use hookgate::capabilities::kv::Kv;
use hookgate::content::{Body, RequestDoc, ResponseDoc};
use hookgate::plugins::{EngineOptions, LoadError, LoadedPlugin, PluginEngine, PluginSettings};
use hookgate::types::{CallInfo, CallType, KeyInfo};

/// The longest prefix of `text` of at most `max` bytes, for quoting in a message.
pub fn truncate(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Held by the tests that load the whole machine (the fuzzer, the soak, LiteLLM run side
/// by side, a browser, two replicas under load): on two cores, one of them starves another's proxy of CPU, and a pool wait
/// or a deadline that holds on a quiet machine then fails. Other tests run beside them.
pub async fn machine_to_myself() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Where `make guests` puts the compiled components: `$HOOKGATE_GUEST_DIR`, or the
/// workspace target directory's `wasm32-wasip2/guest`.
pub fn guest_dir() -> PathBuf {
    std::env::var_os("HOOKGATE_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/wasm32-wasip2/guest"))
}

/// The bytes of a built guest component, by crate name (`banned-keywords`, `panic`, ...).
pub fn guest_wasm(crate_name: &str) -> Vec<u8> {
    let path = guest_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read {} ({e}): build the guests first with `make guests` (or run `make test`)", path.display())
    })
}

/// A component built against contract 0.1, kept in `tests/fixtures/contract-0.1`.
pub fn contract_0_1_fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures/contract-0.1").join(format!("{name}.wasm"))
}

/// The path of the `hookgate` binary: `$HOOKGATE_BIN` (the Makefile sets it to the one it
/// just built), or the debug build in `$CARGO_TARGET_DIR` or `target/`.
///
/// Panics when the binary is older than any source it is built from: a test must never
/// pass or fail on a stale build (`cargo test` does not rebuild a binary that is not a
/// dependency of the test).
pub fn hookgate_bin() -> PathBuf {
    static CHECKED: OnceLock<PathBuf> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let bin = std::env::var_os("HOOKGATE_BIN").map(PathBuf::from).unwrap_or_else(|| {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| workspace_root().join("target"));
                target.join("debug/hookgate")
            });
            let built = std::fs::metadata(&bin).and_then(|meta| meta.modified()).unwrap_or_else(|error| {
                panic!(
                    "{} ({error}): build it with `cargo build --bins --tests` at the root (make test does)",
                    bin.display()
                )
            });
            if let Some((source, changed)) = newest_source() {
                assert!(
                    changed <= built,
                    "{} is older than {}: rebuild it with `cargo build --bins --tests` at the root (make test does)",
                    bin.display(),
                    source.display()
                );
            }
            bin
        })
        .clone()
}

/// The most recently changed file the `hookgate` binary is built from.
fn newest_source() -> Option<(PathBuf, std::time::SystemTime)> {
    fn walk(dir: &std::path::Path, newest: &mut Option<(PathBuf, std::time::SystemTime)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(changed) = entry.metadata().and_then(|meta| meta.modified()) {
                if newest.as_ref().is_none_or(|(_, at)| changed > *at) {
                    *newest = Some((path, changed));
                }
            }
        }
    }
    let root = workspace_root();
    let mut newest = None;
    // Everything the binary is built from: the host, the content crate, the contract.
    walk(&root.join("host/src"), &mut newest);
    walk(&root.join("content/src"), &mut newest);
    walk(&root.join("wit"), &mut newest);
    for file in ["host/Cargo.toml", "content/Cargo.toml"] {
        let path = root.join(file);
        if let Ok(changed) = std::fs::metadata(&path).and_then(|meta| meta.modified()) {
            if newest.as_ref().is_none_or(|(_, at)| changed > *at) {
                newest = Some((path, changed));
            }
        }
    }
    newest
}

/// The process's shared engine (one pooling allocator per process, as in the proxy).
pub fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let options = EngineOptions { max_instances: 64, ..EngineOptions::default() };
        PluginEngine::new(options, Kv::in_memory()).expect("engine")
    })
}

/// An engine of its own with a small pool, for tests that account for every slot.
pub fn private_engine(max_instances: u32) -> PluginEngine {
    let options = EngineOptions { max_instances, ..EngineOptions::default() };
    PluginEngine::new(options, Kv::in_memory()).expect("engine")
}

/// Loads a built guest under `settings` on the shared engine.
pub async fn load(crate_name: &str, settings: PluginSettings) -> Result<Arc<LoadedPlugin>, LoadError> {
    load_on(engine(), crate_name, settings).await
}

/// Loads a built guest under `settings` on `engine`.
pub async fn load_on(
    engine: &PluginEngine,
    crate_name: &str,
    settings: PluginSettings,
) -> Result<Arc<LoadedPlugin>, LoadError> {
    LoadedPlugin::load(engine, crate_name, guest_wasm(crate_name), settings).await
}

/// The key every test request comes from.
pub fn test_key() -> KeyInfo {
    KeyInfo {
        alias: Some("test-key".into()),
        id: "ab".repeat(32),
        user_id: Some("user-1".into()),
        team_id: Some("team-1".into()),
        metadata: "{}".into(),
    }
}

/// A request as the hooks of an in-process test get it: its context and its body.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// What every hook is told about it.
    pub info: CallInfo,
    /// The request itself.
    pub doc: RequestDoc,
}

impl TestRequest {
    /// A request `id` on `call_type` with `body` (a JSON object).
    pub fn new(id: &str, call_type: CallType, body: serde_json::Value) -> Self {
        let serde_json::Value::Object(fields) = body else { panic!("a request body is an object") };
        let stream = fields.get("stream").and_then(serde_json::Value::as_bool).unwrap_or(false);
        let info = CallInfo { id: id.into(), call_type, key: test_key().into(), stream, lowered: Default::default() };
        let size = serde_json::to_string(&fields).unwrap().len();
        let doc = RequestDoc::new(fields, size, vec![("content-type".into(), "application/json".into())]);
        Self { info, doc }
    }

    /// The request id.
    pub fn id(&self) -> Arc<str> {
        Arc::clone(&self.info.id)
    }

    /// The body, parsed.
    pub fn body(&self) -> &serde_json::Value {
        self.doc.body.value()
    }
}

/// A chat completion request whose last user message is `text`.
pub fn chat_request(id: &str, text: &str) -> TestRequest {
    let body = serde_json::json!({
        "model": "mock/echo",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": text}
        ]
    });
    TestRequest::new(id, CallType::ChatCompletion, body)
}

/// A chat completion response whose assistant message is `text`.
pub fn chat_response(text: &str) -> ResponseDoc {
    let body = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "mock/echo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    });
    ResponseDoc { status: 200, body: Arc::new(Body::measured(body)), headers: vec![] }
}

/// One streamed chunk whose delta content is `text`, with the JSON text it was read from
/// (as the proxy makes a chunk it received).
pub fn chunk(text: &str) -> Arc<Body> {
    let chunk = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "mock/echo",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    });
    Arc::new(Body::with_json(chunk.clone(), chunk.to_string()))
}

/// Everything logged in this test process so far, as formatted lines.
///
/// The first call installs a global subscriber that records every event (thread-local
/// subscribers miss events in parallel tests: tracing caches each callsite's interest
/// process-wide). Tests filter the lines by their own unique request id.
pub fn captured_logs() -> String {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    #[derive(Clone)]
    struct Writer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Writer(Arc::clone(&buffer));
        // INFO, and no `log` bridge: Cranelift's trace records would make every compile
        // in the process crawl.
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buffer
    });
    let bytes = buffer.lock().unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}
