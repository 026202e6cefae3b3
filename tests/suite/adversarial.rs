//! Hostile plugins: each is stopped, classified, and leaves everything else working.
//!
//! Every adversarial plugin misbehaves only when the request contains `TRIGGER`, so each
//! test can show that (1) the fault is classified (the kind says which limit stopped
//! it), (2) it ends, within a bound far above its deadline that only an unstopped guest
//! would pass, (3) a healthy plugin serving the same request, concurrently, is
//! unaffected, (4) the next request to the same plugin works, and (5) the process's
//! instance slots all come back.

use std::time::{Duration, Instant};

use hookgate::plugins::{FaultKind, HookError, PluginSettings, PreCallDecision};
use hookgate_tests::{chat_request, load_on, private_engine};

/// How long past its deadline a faulting call may take: far above any scheduling noise
/// on a busy 2-core machine, far below the 30 s that `sleeper` blocks for (and an
/// infinite loop is unbounded), so only a guest nothing stopped passes it.
const GENEROUS: Duration = Duration::from_secs(10);

fn settings(timeout_ms: u64) -> PluginSettings {
    PluginSettings { timeout_ms, ..PluginSettings::default() }
}

/// Runs the whole containment scenario and returns the fault for kind-specific checks.
async fn assert_contained(plugin: &str, settings: PluginSettings, expected: FaultKind) -> hookgate::plugins::Fault {
    let (deadline, budget) = (settings.timeout(), settings.fuel);
    let engine = private_engine(4);
    let bad = load_on(&engine, plugin, settings).await.expect("adversarial plugin loads");
    let healthy = load_on(&engine, "probe", PluginSettings::default()).await.expect("probe loads");
    let request = chat_request(&format!("{plugin}-1"), "please TRIGGER the bad behaviour");

    let mut bad_instance = bad.instance(request.id());
    let mut healthy_instance = healthy.instance(request.id());
    let started = Instant::now();
    let (bad_result, healthy_result) = tokio::join!(
        async {
            let result = bad_instance.pre_call(&request.info, &request.doc).await;
            (result, started.elapsed())
        },
        async {
            let result = healthy_instance.pre_call(&request.info, &request.doc).await;
            (result, started.elapsed())
        }
    );

    let (bad_result, bad_elapsed) = bad_result;
    let fault = match bad_result {
        Err(HookError::Fault(fault)) => *fault,
        other => panic!("{plugin}: expected a {expected} fault, got {other:?}"),
    };
    assert_eq!(fault.kind, expected, "{plugin}: {fault}");
    assert!(bad_elapsed <= deadline + GENEROUS, "{plugin}: stopped after {bad_elapsed:?}, deadline {deadline:?}");
    assert!(!bad_instance.is_instantiated(), "{plugin}: a faulted instance must be dropped");
    // What the faulted call burned is still counted (metrics report it).
    let burned = bad_instance.last_call().expect("the faulted call is recorded").fuel_used;
    match expected {
        FaultKind::OutOfFuel => assert_eq!(burned, budget, "{plugin}: the whole tank"),
        _ => assert!(burned <= budget, "{plugin}: {burned} > {budget}"),
    }

    // The healthy plugin answered the same request, on the same task, while the bad one ran.
    let (healthy_result, healthy_elapsed) = healthy_result;
    match healthy_result {
        Ok(PreCallDecision::Modify(body)) => assert_eq!(body.value()["probe_calls"], 1),
        other => panic!("{plugin}: the healthy plugin was affected: {other:?}"),
    }
    // A plugin held until its deadline did not hold the healthy one up: it was done first.
    if expected == FaultKind::Deadline {
        assert!(healthy_elapsed < bad_elapsed, "healthy {healthy_elapsed:?}, {plugin} stopped at {bad_elapsed:?}");
    }

    // The same plugin serves the next request, and so does the faulted request's own
    // instance handle (with a fresh instance).
    let next = chat_request(&format!("{plugin}-2"), "an ordinary question");
    assert_eq!(bad.instance(next.id()).pre_call(&next.info, &next.doc).await.unwrap(), PreCallDecision::Proceed);
    assert_eq!(bad_instance.pre_call(&next.info, &next.doc).await.unwrap(), PreCallDecision::Proceed);

    assert_eq!(engine.free_slots(), 2, "{plugin}: only the two live instances hold slots");
    drop((bad_instance, healthy_instance));
    assert_eq!(engine.free_slots(), 4, "{plugin}: every instance slot came back");
    fault
}

#[tokio::test]
async fn infinite_loop_is_stopped_at_its_deadline() {
    let settings = PluginSettings { fuel: u64::MAX / 4, ..settings(500) };
    let fault = assert_contained("infinite-loop", settings, FaultKind::Deadline).await;
    assert!(fault.elapsed >= Duration::from_millis(500), "not before its deadline: {fault:?}");
}

#[tokio::test]
async fn fuel_bomb_runs_out_of_fuel() {
    // The kind (out_of_fuel, not deadline) says fuel, not the 2 s clock, stopped it.
    let settings = PluginSettings { fuel: 5_000_000, ..settings(2_000) };
    assert_contained("fuel-bomb", settings, FaultKind::OutOfFuel).await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_cap() {
    let settings = PluginSettings { memory_mb: 32, fuel: u64::MAX / 4, ..settings(2_000) };
    let fault = assert_contained("memory-bomb", settings, FaultKind::MemoryLimit).await;
    assert!(fault.message.contains("memory limit"), "{fault:?}");
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack() {
    assert_contained("deep-recursion", settings(2_000), FaultKind::StackOverflow).await;
}

#[tokio::test]
async fn panic_is_a_trap_with_its_message_location_and_backtrace() {
    let fault = assert_contained("panic", settings(2_000), FaultKind::Trap).await;
    let stderr = fault.guest_stderr.clone().unwrap_or_default();
    assert!(stderr.contains("exploding on purpose"), "panic message missing: {fault:?}");
    // Guests are linked whole (fat LTO), so the plugin's `pre_call` is inlined into the
    // export and the backtrace ends at the hook's export, not the plugin's function: the
    // panic's own file and line, in what the guest wrote, say where it was.
    assert!(stderr.contains("panicked at tests/plugins/panic/src/lib.rs:"), "no source location: {stderr}");
    let backtrace = fault.backtrace.as_deref().unwrap_or_default();
    assert!(backtrace.contains("panic.wasm!hookgate:plugin/pre-call@0.2.0#pre-call"), "no hook in: {backtrace}");
}

#[tokio::test]
async fn huge_output_is_bad_output() {
    let settings = PluginSettings { max_output_bytes: 1 << 20, memory_mb: 128, ..settings(2_000) };
    let fault = assert_contained("huge-output", settings, FaultKind::BadOutput).await;
    assert!(fault.message.contains("max_output_bytes"), "{fault:?}");
}

/// The host refuses an edit that is not JSON; the plugin gives up on it (`?` on the
/// `EditError`), which is its failure. (A 0.1 plugin returning such a body is a
/// `bad_output` fault: `contract_0_1.rs`.)
#[tokio::test]
async fn a_body_edit_that_is_not_json_is_refused_and_the_plugin_fails() {
    let fault = assert_contained("bad-output", settings(2_000), FaultKind::Failed).await;
    assert!(fault.message.contains("edit refused: not valid JSON"), "{fault:?}");
}

#[tokio::test]
async fn reading_a_file_is_denied() {
    let fault = assert_contained("read-file", settings(2_000), FaultKind::Trap).await;
    assert!(fault.guest_stderr.unwrap_or_default().contains("read-file denied"));
}

#[tokio::test]
async fn reading_the_environment_is_denied() {
    let fault = assert_contained("read-env", settings(2_000), FaultKind::Trap).await;
    assert!(fault.guest_stderr.unwrap_or_default().contains("read-env denied"));
}

#[tokio::test]
async fn opening_a_socket_is_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let settings = PluginSettings { config: serde_json::json!({ "addr": addr }), ..settings(2_000) };
    let fault = assert_contained("open-socket", settings, FaultKind::Trap).await;
    assert!(fault.guest_stderr.unwrap_or_default().contains("open-socket denied"));
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the guest reached the listener: {accepted:?}"
    );
}

#[tokio::test]
async fn blocking_in_a_host_call_is_cut_off_at_the_deadline() {
    let fault = assert_contained("sleeper", settings(500), FaultKind::Deadline).await;
    assert!(fault.message.contains("host call"), "{fault:?}");
    assert!(fault.elapsed >= Duration::from_millis(500), "not before its deadline: {fault:?}");
}

#[tokio::test]
async fn a_plugin_that_cannot_fit_its_limits_is_refused_at_load_with_a_clear_error() {
    // Pool memory slots of 1 MiB cannot hold a Rust guest's initial memory (a 1 MiB stack
    // plus data): wasmtime refuses the component before anything runs.
    let options = hookgate::plugins::EngineOptions { max_instances: 2, max_memory_mb: 1, ..Default::default() };
    let engine = hookgate::plugins::PluginEngine::new(options, hookgate::capabilities::kv::Kv::in_memory()).unwrap();
    match load_on(&engine, "noop", PluginSettings::default()).await {
        Err(error @ hookgate::plugins::LoadError::Compile { .. }) => {
            assert!(error.to_string().contains("exceeds the limit"), "{error}");
        }
        Err(other) => panic!("expected a compile-time refusal, got {other}"),
        Ok(_) => panic!("a component that cannot fit its memory slot was loaded"),
    }

    // A per-plugin memory cap below the guest's initial memory: instantiation itself
    // fails, while loading, and is classified as the memory limit it is.
    let engine = private_engine(2);
    let settings = PluginSettings { memory_mb: 1, ..PluginSettings::default() };
    match load_on(&engine, "noop", settings).await {
        Err(hookgate::plugins::LoadError::Fault { fault }) => {
            assert_eq!(fault.kind, FaultKind::MemoryLimit, "{fault}");
            assert_eq!(fault.hook, None, "it failed while loading, before any hook");
        }
        Err(other) => panic!("expected a memory-limit fault, got {other}"),
        Ok(_) => panic!("a plugin whose memory cap is below its initial memory was loaded"),
    }
    assert_eq!(engine.free_slots(), 2, "the failed instantiation returned its slot");
}
