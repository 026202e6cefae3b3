//! The official `openai` Python client against the proxy: what real applications use.
//! `make test` installs it into a virtualenv (`tests/python/requirements.txt`).

use std::path::PathBuf;

use hookgate_tests::proxy::{ProxyBuilder, MASTER_KEY};
use hookgate_tests::workspace_root;
use serde_json::Value;

/// The virtualenv's interpreter: `$HOOKGATE_PYTHON`, or the one `make pyenv` creates.
fn python() -> PathBuf {
    let path = std::env::var_os("HOOKGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/pyenv/bin/python"));
    assert!(path.exists(), "{} is missing: run `make pyenv` (part of `make test`)", path.display());
    path
}

#[tokio::test]
async fn the_openai_python_client_gets_completions_streams_and_bad_request_errors() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden], message: That topic is off limits.}}")
        .start()
        .await;
    let script = workspace_root().join("tests/python/openai_client.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .args([&proxy.base, MASTER_KEY, "mock-echo"])
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client script failed:\n{stderr}\nproxy log:\n{}", proxy.log());
    let result: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    assert_eq!(result["normal"], "hello from python");
    assert_eq!(result["stream"], "streamed words arrive");
    assert!(result["stream_chunks"].as_u64().unwrap() >= 3, "{result}");
    let rejected = &result["rejected"];
    assert_eq!(rejected["exception"], "BadRequestError", "{result}");
    assert_eq!(rejected["status"], 400);
    assert!(rejected["message"].as_str().unwrap().ends_with("That topic is off limits."), "{result}");
    assert_eq!(rejected["body"]["message"], "That topic is off limits.", "the SDK parsed the OpenAI error body");
    assert_eq!(rejected["code"], "banned_keyword");
    assert_eq!(rejected["rejected_by"], "banned-keywords");
}
