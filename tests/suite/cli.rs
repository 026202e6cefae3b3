//! `hookgate plugin check` and `hookgate plugin run`, as an author runs them.

use std::process::Command;

use hookgate_tests::{guest_dir, hookgate_bin};

fn run(args: &[&str]) -> (bool, serde_json::Value, String) {
    let output = Command::new(hookgate_bin()).args(args).env("HOOKGATE_LOG", "warn").output().unwrap_or_else(|e| {
        panic!("running {}: {e} (build it with `cargo build --bins --tests` at the root)", hookgate_bin().display())
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (output.status.success(), json, stderr)
}

fn write(dir: &std::path::Path, name: &str, value: serde_json::Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `hookgate plugin run COMPONENT --hook post-call-success` on the request at `request`
/// and the sample answer `examples/response.json`.
fn run_post_call_success(component: &str, request: &str) -> (bool, serde_json::Value, String) {
    let response = hookgate_tests::workspace_root().join("examples/response.json");
    let response = response.to_str().unwrap();
    run(&["plugin", "run", component, "--hook", "post-call-success", "--request", request, "--response", response])
}

fn wasm(name: &str) -> String {
    guest_dir().join(format!("{name}.wasm")).to_str().unwrap().to_owned()
}

#[test]
fn check_reports_what_a_component_implements() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "cfg.json", serde_json::json!({"keywords": ["forbidden"]}));
    let (ok, report, stderr) = run(&["plugin", "check", &wasm("banned_keywords"), "--config", &config]);
    assert!(ok, "{stderr}");
    assert_eq!(report["describes_itself_as"], "banned-keywords");
    assert_eq!(report["wit"], "hookgate:plugin@0.2.0");
    let hooks: Vec<&str> = report["hooks"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(hooks, ["pre-call", "post-call-success", "stream-chunk"], "the hook interfaces it exports");
    assert!(report["size_bytes"].as_u64().unwrap() > 0);

    // The same plugin built against contract 0.1 (kept as a fixture): its hooks are the
    // ones its `describe` lists.
    let fixture = hookgate_tests::contract_0_1_fixture("banned-keywords");
    let (ok, report, stderr) = run(&["plugin", "check", fixture.to_str().unwrap(), "--config", &config]);
    assert!(ok, "{stderr}");
    assert_eq!(report["wit"], "hookgate:plugin@0.1.0");
    let hooks: Vec<&str> = report["hooks"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(hooks, ["pre-call", "post-call-success", "stream-chunk"]);

    let (ok, _, stderr) = run(&["plugin", "check", &wasm("banned_keywords")]);
    assert!(!ok, "a config the plugin refuses fails the check");
    assert!(stderr.contains("refused its config"), "{stderr}");
}

#[test]
fn run_prints_an_outcome_or_a_classified_fault() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "cfg.json", serde_json::json!({"keywords": ["forbidden"]}));
    let request = write(
        dir.path(),
        "req.json",
        serde_json::json!({"model": "mock/echo", "messages": [{"role": "user", "content": "a FORBIDDEN word; TRIGGER"}]}),
    );
    let (ok, out, stderr) = run(&[
        "plugin",
        "run",
        &wasm("banned_keywords"),
        "--hook",
        "pre-call",
        "--request",
        &request,
        "--config",
        &config,
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(out["outcome"]["decision"], "reject");
    assert_eq!(out["outcome"]["status"], 400);
    assert!(out["call"]["fuel_used"].as_u64().unwrap() > 0);

    let (ok, out, stderr) = run(&[
        "plugin",
        "run",
        &wasm("infinite_loop"),
        "--hook",
        "pre-call",
        "--request",
        &request,
        "--timeout-ms",
        "30",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(out["outcome"]["decision"], "fault");
    assert!(["deadline", "out_of_fuel"].contains(&out["outcome"]["kind"].as_str().unwrap()), "{out}");
}

/// `plugin run --hook stream-chunk` with an array: the chunks go through one instance as a
/// stream's do, so a keyword split across chunks is caught, and what a filter holds back
/// shows in its decisions.
#[test]
fn run_streams_an_array_of_chunks_through_one_instance() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "cfg.json", serde_json::json!({"keywords": ["secret plan"]}));
    let request = write(
        dir.path(),
        "req.json",
        serde_json::json!({"model": "mock/echo", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    );
    let chunk = |text: &str| serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
    let chunks = write(
        dir.path(),
        "chunks.json",
        serde_json::json!([chunk("all is well, "), chunk("the sec"), chunk("ret plan")]),
    );
    let args = ["plugin", "run", &wasm("banned_keywords"), "--hook", "stream-chunk", "--request", &request];
    let (ok, out, stderr) = run(&[&args[..], &["--config", &config, "--input", &chunks]].concat());
    assert!(ok, "{stderr}");
    let decisions = out["outcome"]["chunks"].as_array().unwrap_or_else(|| panic!("{out}"));
    assert_eq!(decisions.len(), 3, "{out}");
    // The first two chunks go out without what could start the keyword; the third is
    // refused.
    let sent = |d: &serde_json::Value| d["chunk"]["choices"][0]["delta"]["content"].as_str().unwrap_or("").to_owned();
    let so_far = sent(&decisions[0]) + &sent(&decisions[1]);
    assert!(!so_far.contains("sec"), "held back: {out}");
    assert_eq!(decisions[2]["decision"], "reject", "{out}");
}

/// `hookgate serve` refuses a bad config before listening, naming the file, the key path
/// and what is wrong.
#[test]
fn serve_refuses_a_bad_config_with_file_and_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "model_list:\n  - {model_name: m, litellm_params: {model: openai/x, api_base: ftp://nope}}\n",
            "model_list[0].litellm_params.api_base",
        ),
        ("general_settings: {master_key: sk-1234}\n", "allow_insecure_master_key"),
        ("general_settings: {master_key: os.environ/HOOKGATE_TEST_UNSET_VAR}\n", "HOOKGATE_TEST_UNSET_VAR"),
        ("plugins: {dir: plugins, wacth: true}\n", "plugins.wacth"),
        ("litellm_settings: {callbacks: [absent]}\nplugins: {dir: .}\n", "absent.wasm"),
        // LiteLLM's own form names a module and a handler: the error says how to build it.
        (
            "litellm_settings: {callbacks: custom_callbacks.proxy_handler_instance}\nplugins: {dir: .}\n",
            "hookgate plugin build custom_callbacks.py --handler proxy_handler_instance",
        ),
    ];
    // A plugin whose sidecar has a bad value: the error names the sidecar and the key.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(wasm("banned_keywords"), plugins.join("banned-keywords.wasm")).unwrap();
    std::fs::write(plugins.join("banned-keywords.yaml"), "priority: high\n").unwrap();
    let sidecar_case = format!("plugins: {{dir: '{}'}}\n", plugins.display());
    let cases = cases.into_iter().chain([(sidecar_case.as_str(), "banned-keywords.yaml: priority")]);
    for (index, (yaml, expected)) in cases.enumerate() {
        let path = dir.path().join(format!("config-{index}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let (ok, _, stderr) = run(&["serve", "--config", path.to_str().unwrap(), "--port", "0"]);
        assert!(!ok, "{yaml} must not start");
        assert!(stderr.contains(expected), "{yaml}: expected {expected:?} in:\n{stderr}");
        if index < 4 {
            assert!(stderr.contains(&format!("config-{index}.yaml")), "the error names the file:\n{stderr}");
        }
    }
}

/// A SIGTERM the moment the proxy says it is listening is a graceful shutdown (it logs
/// "shutting down" and exits 0), not the signal's default death: the proxy takes the
/// signals over before it says so, not when its accept loop first gets to them, which a
/// loaded machine can delay past the first requests.
#[test]
fn sigterm_right_after_listening_is_a_graceful_shutdown() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "model_list:\n  - {model_name: m, litellm_params: {model: mock/echo}}\n").unwrap();
    for round in 0..5 {
        let mut child = Command::new(hookgate_bin())
            .args(["serve", "--config", config.to_str().unwrap(), "--port", "0"])
            .env("HOOKGATE_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("hookgate listening") {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "round {round}: the proxy ended before listening");
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "round {round}: {:?}\n{log}", output.status);
        assert!(log.contains("shutting down"), "round {round}:\n{log}");
    }
}

/// `hookgate plugin build FILE.py --handler NAME...`: a LiteLLM callback file, unchanged,
/// into one checked component per handler, named as LiteLLM's `callbacks:` names them;
/// the built banned-keywords handler then refuses a banned prompt. The module's top
/// level runs at build time without the build machine's environment: the rate limiter
/// reads `BENCH_RATE_LIMIT_RPM` there and keeps its default though the build had it set.
#[tokio::test]
async fn plugin_build_turns_litellm_handlers_into_checked_components() {
    // Two componentize-py builds and two compiles: not beside the fuzzer or the soak.
    let _machine = hookgate_tests::machine_to_myself().await;
    let dir = tempfile::tempdir().unwrap();
    let file = hookgate_tests::workspace_root().join("bench/litellm/custom_callbacks.py");
    let output = Command::new(hookgate_bin())
        .args(["plugin", "build", file.to_str().unwrap(), "--handler", "banned_keywords", "--handler", "rate_limiter"])
        .arg("-o")
        .arg(dir.path().join("built"))
        .env("HOOKGATE_LOG", "warn")
        .env("BENCH_RATE_LIMIT_RPM", "7")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // One `plugin check` report per component, each naming its hooks.
    let reports: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&stdout).into_iter().collect::<Result<_, _>>().unwrap();
    let hooks: Vec<(&str, &serde_json::Value)> =
        reports.iter().map(|report| (report["name"].as_str().unwrap(), &report["hooks"])).collect();
    assert_eq!(
        hooks,
        [
            (
                "custom_callbacks.banned_keywords",
                &serde_json::json!(["pre-call", "post-call-success", "stream-chunk", "stream-end"])
            ),
            ("custom_callbacks.rate_limiter", &serde_json::json!(["pre-call", "post-call-success"])),
        ],
        "{stdout}"
    );
    let built =
        |handler: &str| dir.path().join(format!("built/custom_callbacks.{handler}.wasm")).to_str().unwrap().to_owned();
    let request = write(
        dir.path(),
        "req.json",
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "the Secret Plan"}]}),
    );
    let (ok, out, stderr) =
        run(&["plugin", "run", &built("banned_keywords"), "--hook", "pre-call", "--request", &request]);
    assert!(ok, "{stderr}");
    assert_eq!(out["outcome"]["decision"], "reject", "{out}");
    assert_eq!(out["outcome"]["message"], "This request mentions a topic we do not serve.", "{out}");
    let (ok, out, stderr) = run_post_call_success(&built("rate_limiter"), &request);
    assert!(ok, "{stderr}");
    assert!(
        out.to_string().contains(r#""x-ratelimit-limit-requests","100000000""#),
        "the default, not the build's 7: {out}"
    );

    // A handler the file does not have: the helper's error, and a failed command.
    let output = Command::new(hookgate_bin())
        .args(["plugin", "build", file.to_str().unwrap(), "--handler", "nope", "-o"])
        .arg(dir.path().join("nope.wasm"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no module-level `nope = SomeHandler(...)`"), "{stderr}");
}

/// `hookgate plugin build FILE.py --handler A --handler B --bundle NAME`: the handlers as
/// one checked component, the plugin NAME, exporting every hook either needs; one hook
/// call runs both, in the order given (the limiter's headers before the injector's).
#[tokio::test]
async fn plugin_build_bundles_litellm_handlers_into_one_component() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let dir = tempfile::tempdir().unwrap();
    let file = hookgate_tests::workspace_root().join("bench/litellm/custom_callbacks.py");
    let build = |handlers: &[&str]| {
        let mut command = Command::new(hookgate_bin());
        command.args(["plugin", "build", file.to_str().unwrap()]);
        for handler in handlers {
            command.args(["--handler", handler]);
        }
        command
            .args(["--bundle", "limits-and-headers", "-o"])
            .arg(dir.path())
            .env("HOOKGATE_LOG", "warn")
            .output()
            .unwrap()
    };
    let output = build(&["rate_limiter", "banned_keywords", "header_injector"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["name"], "limits-and-headers", "{report}");
    assert_eq!(report["hooks"], serde_json::json!(["pre-call", "post-call-success", "stream-chunk", "stream-end"]));
    let built = dir.path().join("limits-and-headers.wasm");
    let built = built.to_str().unwrap();
    let request = write(
        dir.path(),
        "req.json",
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "the Secret Plan"}]}),
    );
    let (ok, out, stderr) = run(&["plugin", "run", built, "--hook", "pre-call", "--request", &request]);
    assert!(ok, "{stderr}");
    assert_eq!(out["outcome"]["message"], "This request mentions a topic we do not serve.", "{out}");
    let (ok, out, stderr) = run_post_call_success(built, &request);
    assert!(ok, "{stderr}");
    let text = out.to_string();
    let limiter = text.find("x-ratelimit-limit-requests").expect("the limiter's headers");
    let injector = text.find("x-served-by").expect("the injector's headers");
    assert!(limiter < injector, "the members run in --handler order: {out}");

    // A bundle of one is refused before anything is built.
    let output = build(&["rate_limiter"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--bundle needs two or more --handler"), "{stderr}");
}

/// A LiteLLM callback file whose top level, which componentize-py runs while it builds,
/// reads a config beside it, writes wherever it can, and lists what it can see; at run
/// time it tells. It gets its own Python sources only: nothing beside them, no writable
/// SDK (which later builds run on the build machine), no site-packages.
const SNEAKY: &str = r#"
import json
import os

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    with open(os.path.join(HERE, "config.yaml"), encoding="utf-8") as _file:
        LEAK = _file.read()
except OSError:
    LEAK = ""
SEEN = []
# componentize-py mounts each folder of the import path as /0, /1, ...
for _root in [f"/{i}" for i in range(16)]:
    for _folder, _dirs, _files in os.walk(_root):
        SEEN += [os.path.join(_folder, name) for name in _dirs + _files]
    try:
        with open(os.path.join(_root, "written"), "w", encoding="utf-8") as _file:
            _file.write("x")
    except OSError:
        pass
try:
    with open(os.path.join(HERE, "written"), "w", encoding="utf-8") as _file:
        _file.write("x")
except OSError:
    pass


class Sneaky(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        raise HTTPException(status_code=400, detail=json.dumps({"leak": LEAK, "seen": SEEN}))


sneaky = Sneaky()
"#;

#[tokio::test]
async fn a_build_gives_the_module_its_own_python_sources_and_nothing_else() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), "general_settings: {master_key: sk-canary-0123456789}\n").unwrap();
    std::fs::write(dir.path().join("sneaky.py"), SNEAKY).unwrap();
    std::fs::create_dir(dir.path().join("helpers")).unwrap();
    std::fs::write(dir.path().join("helpers/__init__.py"), "").unwrap();
    std::fs::write(dir.path().join("helpers/keys.txt"), "not python").unwrap();
    let built = dir.path().join("built.wasm");
    let output = Command::new(hookgate_bin())
        .args(["plugin", "build", dir.path().join("sneaky.py").to_str().unwrap(), "--handler", "sneaky", "-o"])
        .arg(&built)
        .env("HOOKGATE_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let sdk = hookgate_tests::workspace_root().join("guest-sdk/python");
    for folder in [dir.path().to_owned(), sdk.clone(), sdk.join("compat"), sdk.join("hookgate_sdk")] {
        let written = folder.join("written");
        let found = written.exists();
        let _ = std::fs::remove_file(&written);
        assert!(!found, "the build wrote {}", written.display());
    }
    let request = write(dir.path(), "req.json", serde_json::json!({"model": "m", "messages": []}));
    let (ok, out, stderr) =
        run(&["plugin", "run", built.to_str().unwrap(), "--hook", "pre-call", "--request", &request]);
    assert!(ok, "{stderr}");
    let told: serde_json::Value = serde_json::from_str(out["outcome"]["message"].as_str().unwrap()).unwrap();
    assert_eq!(told["leak"], "", "the config beside the module was read at build time");
    let seen: Vec<&str> = told["seen"].as_array().unwrap().iter().map(|path| path.as_str().unwrap()).collect();
    assert!(seen.iter().any(|path| path.ends_with("/sneaky.py")), "{seen:?}");
    assert!(seen.iter().any(|path| path.ends_with("/helpers/__init__.py")), "its packages come along: {seen:?}");
    // Nothing but Python sources and their folders: not the config or a package's other
    // files, not the SDK's own folder (build.py, its tests), not site-packages.
    let not_python = |path: &&&str| {
        let name = path.rsplit('/').next().unwrap_or_default();
        let compiled = path.contains("/__pycache__/");
        !compiled
            && (!name.ends_with(".py") && name.contains('.') || path.contains("site-packages/") || name == "tests")
    };
    let others: Vec<&&str> = seen.iter().filter(not_python).collect();
    assert!(others.is_empty(), "only the module's, the SDK's and compat's Python sources are in reach: {others:?}");
}

/// A JavaScript plugin's top level runs at build time too, in node, to find its hooks:
/// under node's permission model, with no environment, it writes nothing on the build
/// machine; and an import of a file outside its folder (not the SDK, not an npm package)
/// is refused rather than bundled into the component.
#[tokio::test]
async fn a_js_build_runs_the_plugin_sandboxed_and_bundles_only_its_own_files() {
    let _machine = hookgate_tests::machine_to_myself().await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("plugin");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(dir.path().join("keys.json"), r#"{"master_key": "sk-canary-0123456789"}"#).unwrap();
    let written = dir.path().join("written");
    let sneaky = format!(
        "import {{ Plugin }} from 'hookgate-sdk';\n\
         const fs = globalThis.process?.getBuiltinModule?.('node:fs');\n\
         try {{ fs.writeFileSync({written:?}, Object.keys(globalThis.process.env).join(',')); }} catch {{}}\n\
         export default class Sneaky extends Plugin {{ preCall() {{ return undefined; }} }}\n"
    );
    std::fs::write(folder.join("sneaky.js"), sneaky).unwrap();
    std::fs::write(
        folder.join("reader.js"),
        "import { Plugin } from 'hookgate-sdk';\nimport keys from '../keys.json';\n\
         export default class Reader extends Plugin { preCall() { return keys ? undefined : undefined; } }\n",
    )
    .unwrap();
    let build = hookgate_tests::workspace_root().join("guest-sdk/js/build.mjs");
    let node = |source: &str| {
        Command::new("node").arg(&build).arg(folder.join(source)).arg("-o").arg(dir.path().join("out.wasm")).output()
    };
    let built = node("sneaky.js").unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    assert!(!written.exists(), "the plugin's top level wrote on the build machine");
    let refused = node("reader.js").unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("outside the plugin's folder"), "{stderr}");
}
