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

fn engine_with_capped_cache(dir: &std::path::Path, max_bytes: u64) -> PluginEngine {
    let options = EngineOptions {
        max_instances: 4,
        cache_dir: Some(dir.to_path_buf()),
        cache_max_bytes: max_bytes,
        ..EngineOptions::default()
    };
    PluginEngine::new(options, Kv::in_memory()).unwrap()
}

async fn load_named(engine: &PluginEngine, name: &str) -> std::sync::Arc<LoadedPlugin> {
    LoadedPlugin::load(engine, name, guest_wasm(name), PluginSettings::default()).await.unwrap()
}

/// The artifact of `plugin` in `dir`, if it is there.
fn artifact_of(dir: &std::path::Path, plugin: &LoadedPlugin) -> Option<std::path::PathBuf> {
    let prefix = format!("{}-", plugin.hash());
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_str().unwrap().starts_with(&prefix))
}

fn age(path: &std::path::Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(seconds)).unwrap();
}

#[tokio::test]
async fn the_cache_keeps_under_its_cap_by_dropping_the_least_recently_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let roomy = engine_with_capped_cache(dir.path(), u64::MAX);
    let probe = load_named(&roomy, "probe").await;
    let version_a = load_named(&roomy, "version-a").await;
    let (probe_file, a_file) = (artifact_of(dir.path(), &probe).unwrap(), artifact_of(dir.path(), &version_a).unwrap());
    // probe was compiled first, so it is the older by the clock...
    age(&probe_file, 200);
    age(&a_file, 100);
    // ...until a restart loads it from the cache, which counts as a use.
    assert_eq!(
        load_named(&engine_with_capped_cache(dir.path(), u64::MAX), "probe").await.cache_outcome(),
        CacheOutcome::Hit
    );

    // Room for probe and version-b, not for version-a too (version-a and version-b are
    // one plugin but for a string, so their artifacts are within bytes of each other):
    // the one loaded least recently goes.
    let size = |path: &std::path::Path| std::fs::metadata(path).unwrap().len();
    let capped = engine_with_capped_cache(dir.path(), size(&probe_file) + size(&a_file) * 3 / 2);
    let version_b = load_named(&capped, "version-b").await;
    assert_eq!(version_b.cache_outcome(), CacheOutcome::Miss);
    assert!(artifact_of(dir.path(), &version_b).is_some(), "the artifact just written stays");
    assert!(artifact_of(dir.path(), &probe).is_some(), "the artifact loaded last stays");
    assert!(artifact_of(dir.path(), &version_a).is_none(), "the least recently loaded artifact is removed");
    assert_eq!(load_named(&capped, "version-a").await.cache_outcome(), CacheOutcome::Miss, "and is compiled again");

    // A cap smaller than any artifact keeps only the one written last.
    let tiny = engine_with_capped_cache(dir.path(), 1);
    let newcomer = load_named(&tiny, "fuel-bomb").await;
    assert_eq!(newcomer.cache_outcome(), CacheOutcome::Miss);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(left, vec![artifact_of(dir.path(), &newcomer).unwrap()]);
}
