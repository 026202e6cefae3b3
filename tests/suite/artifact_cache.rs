//! The compiled-artifact cache: a second load skips compilation, a damaged artifact is
//! recompiled rather than trusted.

use hookgate::capabilities::kv::Kv;
use hookgate::plugins::{CacheOutcome, EngineOptions, LoadedPlugin, PluginEngine, PluginSettings, PreCallDecision};
use hookgate_tests::{chat_request, guest_wasm};

fn engine_with_cache(dir: &std::path::Path) -> PluginEngine {
    let options = EngineOptions { max_instances: 4, cache_dir: Some(dir.to_path_buf()), ..EngineOptions::default() };
    PluginEngine::new(options, Kv::in_memory()).unwrap()
}

async fn load(engine: &PluginEngine) -> std::sync::Arc<LoadedPlugin> {
    LoadedPlugin::load(engine, "probe", guest_wasm("probe"), PluginSettings::default()).await.unwrap()
}

#[tokio::test]
async fn second_load_comes_from_the_cache_and_a_corrupt_artifact_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let first = load(&engine_with_cache(dir.path())).await;
    assert_eq!(first.cache_outcome(), CacheOutcome::Miss);

    // A new engine (a restart) with the same settings loads the artifact.
    let second = load(&engine_with_cache(dir.path())).await;
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    let request = chat_request("cached", "hi");
    assert!(matches!(
        second.instance("cached").pre_call(&request.info, &request.doc).await.unwrap(),
        PreCallDecision::Modify(_)
    ));

    let artifacts: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert!(artifacts[0].file_name().unwrap().to_str().unwrap().starts_with(&first.hash().to_string()));
    std::fs::write(&artifacts[0], b"not an artifact").unwrap();
    let third = load(&engine_with_cache(dir.path())).await;
    assert_eq!(third.cache_outcome(), CacheOutcome::Miss, "a damaged artifact is recompiled");
    assert!(matches!(
        third.instance("again").pre_call(&request.info, &request.doc).await.unwrap(),
        PreCallDecision::Modify(_)
    ));
}
