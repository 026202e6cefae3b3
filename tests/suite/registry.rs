//! Plugins from a real OCI registry (Debian's `docker-registry`): published and signed
//! with `hookgate plugin push|sign`, pulled by proxies, a moved tag reaching every
//! replica under load, a registry outage, and the trust policy refusing unsigned,
//! wrongly signed and tampered artifacts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hookgate_tests::proxy::{chat_body, Proxy, ProxyBuilder};
use hookgate_tests::registry::RegistryServer;
use hookgate_tests::{guest_dir, hookgate_bin};
use serde_json::Value;

/// Poll interval of the test proxies; a moved tag must show within a few of them.
const POLL_SECONDS: u64 = 1;
const SWAP_WAIT: Duration = Duration::from_secs(15);

fn component(crate_name: &str) -> PathBuf {
    guest_dir().join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// Runs `hookgate <args>`: (success, stdout as JSON, stderr).
fn hookgate(args: &[&str]) -> (bool, Value, String) {
    hookgate_with(args, &[])
}

/// As [`hookgate`], with `envs` added to its environment.
fn hookgate_with(args: &[&str], envs: &[(&str, &str)]) -> (bool, Value, String) {
    let output = Command::new(hookgate_bin())
        .args(args)
        .env("HOOKGATE_LOG", "warn")
        .env_remove("HOOKGATE_REGISTRY_USERNAME")
        .env_remove("HOOKGATE_REGISTRY_PASSWORD")
        .envs(envs.iter().copied())
        .output()
        .expect("run hookgate");
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.success(), json, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// `hookgate plugin push`; returns the pushed manifest digest.
fn push(crate_name: &str, reference: &str) -> String {
    let file = component(crate_name);
    let (ok, report, stderr) = hookgate(&["plugin", "push", file.to_str().unwrap(), reference]);
    assert!(ok, "push {crate_name} to {reference}: {stderr}");
    report["digest"].as_str().expect("the push prints the digest").to_owned()
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let out = dir.join(name);
    let (ok, report, stderr) = hookgate(&["plugin", "keygen", "--out", out.to_str().unwrap()]);
    assert!(ok, "keygen: {stderr}");
    (out.with_extension("key"), out.with_extension("pub"), report["key_id"].as_str().unwrap().to_owned())
}

fn sign(reference: &str, key: &Path) {
    let (ok, _, stderr) = hookgate(&["plugin", "sign", reference, "--key", key.to_str().unwrap()]);
    assert!(ok, "sign {reference}: {stderr}");
}

/// The `x-plugin-version` header of one chat call, or the failure.
async fn version_served(proxy: &Proxy) -> Result<String, String> {
    let response = proxy.chat(&chat_body("mock-echo", "hello")).await;
    let status = response.status().as_u16();
    let version = response.headers().get("x-plugin-version").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match (status, version) {
        (200, Some(version)) => Ok(version),
        (status, version) => {
            Err(format!("{status} with version {version:?}: {}", response.text().await.unwrap_or_default()))
        }
    }
}

fn fleet_proxy(reference: &str) -> ProxyBuilder {
    ProxyBuilder::new("")
        .plugins_option(&format!("sources: {{versioned: '{reference}'}}"))
        .plugins_option(&format!("registry: {{poll_seconds: {POLL_SECONDS}}}"))
}

#[tokio::test]
async fn a_moved_tag_reaches_both_replicas_under_load_and_an_outage_unloads_nothing() {
    // Two proxies under a steady load: alone with the other heavy tests.
    let _machine = hookgate_tests::machine_to_myself().await;
    let mut registry = RegistryServer::start().await;
    let tag = registry.reference("guards/versioned:stable");
    let first = push("version-a", &tag);
    let replicas = [Arc::new(fleet_proxy(&tag).start().await), Arc::new(fleet_proxy(&tag).start().await)];
    for proxy in &replicas {
        assert_eq!(version_served(proxy).await.as_deref(), Ok("version-a"));
        let entry = proxy.plugin_entry("versioned").await;
        assert_eq!(entry["source"]["kind"], "oci", "{entry}");
        assert_eq!(entry["source"]["ref"], tag, "{entry}");
        assert_eq!(entry["source"]["digest"], first, "/plugins shows the digest serving: {entry}");
        assert!(entry["source"]["last_checked"].is_string(), "{entry}");
    }

    // Load on both replicas throughout: not one request may fail while the tag moves.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let load: Vec<_> = replicas
        .iter()
        .cycle()
        .take(4)
        .map(|proxy| {
            let (proxy, stop, served, failures) = (proxy.clone(), stop.clone(), served.clone(), failures.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(failure) = version_served(&proxy).await {
                        failures.lock().unwrap().push(failure);
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let second = push("version-b", &tag);
    assert_ne!(first, second);
    for proxy in &replicas {
        proxy
            .until("the moved tag to be served", SWAP_WAIT, || async {
                (version_served(proxy).await.as_deref() == Ok("version-b")).then_some(())
            })
            .await;
        assert_eq!(proxy.plugin_entry("versioned").await["source"]["digest"], second);
    }

    // The registry goes away: both keep serving what they have, and say why they could
    // not check.
    registry.kill().await;
    for proxy in &replicas {
        let entry = proxy
            .until("the failed check to show in /plugins", SWAP_WAIT, || async {
                let entry = proxy.plugin_entry("versioned").await;
                entry["source"]["error"].is_string().then_some(entry)
            })
            .await;
        assert!(entry["source"]["error"].as_str().unwrap().contains("unreachable"), "{entry}");
        assert_eq!(entry["source"]["digest"], second, "{entry}");
        assert_eq!(entry["state"], "active", "{entry}");
    }
    tokio::time::sleep(Duration::from_secs(2 * POLL_SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    {
        let failures = failures.lock().unwrap();
        let some = &failures[..failures.len().min(3)];
        assert!(failures.is_empty(), "{} failed requests, e.g. {some:?}", failures.len());
    }
    assert!(served.load(Ordering::Relaxed) >= 20, "the load ran throughout");
    for proxy in &replicas {
        assert_eq!(version_served(proxy).await.as_deref(), Ok("version-b"), "still serving during the outage");
    }

    // A replica started during the outage starts from the last verified version.
    let late = fleet_proxy(&tag).start().await;
    assert_eq!(version_served(&late).await.as_deref(), Ok("version-b"));
    assert!(late.plugin_entry("versioned").await["source"]["error"].is_string());

    // Back up: a digest-pinned source never moves, whatever the tag does.
    registry.restart().await;
    let pinned = fleet_proxy(&format!("{}@{first}", registry.reference("guards/versioned"))).start().await;
    assert_eq!(version_served(&pinned).await.as_deref(), Ok("version-a"));
    push("version-a", &tag);
    tokio::time::sleep(Duration::from_secs(3 * POLL_SECONDS)).await;
    assert_eq!(version_served(&pinned).await.as_deref(), Ok("version-a"));
}

#[tokio::test]
async fn trust_refuses_unsigned_wrongly_signed_tampered_and_unlisted_plugins() {
    let registry = RegistryServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (release_key, release_pub, release_id) = keygen(keys.path(), "release");
    let (stranger_key, _, _) = keygen(keys.path(), "stranger");
    let signed = registry.reference("guards/versioned:signed");
    let unsigned = registry.reference("guards/versioned:unsigned");
    let wrongly = registry.reference("guards/versioned:wrongly-signed");
    push("version-a", &signed);
    sign(&signed, &release_key);
    // Different components: the same one pushed twice within a second is the same
    // manifest (same `created`), and a signature of it would sign both tags.
    push("version-b", &unsigned);
    push("scripted", &wrongly);
    sign(&wrongly, &stranger_key);
    let trust = format!("trust: {{keys: ['{}']}}", release_pub.display());

    // Signed by the trusted key: loads, and /plugins names the signer.
    let proxy = fleet_proxy(&signed).plugins_option(&trust).start().await;
    assert_eq!(version_served(&proxy).await.as_deref(), Ok("version-a"));
    let entry = proxy.plugin_entry("versioned").await;
    assert_eq!(entry["source"]["signer"]["key_id"], release_id, "{entry}");
    assert_eq!(entry["source"]["signer"]["key"], "release.pub", "{entry}");

    // Unsigned, or signed by a key not trusted: the proxy refuses to start without it.
    let refused = fleet_proxy(&unsigned).plugins_option(&trust).try_start().await.err().expect("unsigned refused");
    assert!(refused.contains("has no signature"), "{refused}");
    let refused = fleet_proxy(&wrongly).plugins_option(&trust).try_start().await.err().expect("wrong signer refused");
    assert!(refused.contains("signed by no trusted key"), "{refused}");

    // The same checks from the CLI, as a CI job would run them.
    let pub_path = release_pub.to_str().unwrap();
    assert!(hookgate(&["plugin", "verify", &signed, "--key", pub_path]).0);
    let (ok, _, stderr) = hookgate(&["plugin", "verify", &wrongly, "--key", pub_path]);
    assert!(!ok && stderr.contains("signed by no trusted key"), "{stderr}");

    // A running proxy whose tag moves to an unsigned version keeps the signed one and
    // shows why.
    push("version-b", &signed);
    let entry = proxy
        .until("the refused version to show in /plugins", SWAP_WAIT, || async {
            let entry = proxy.plugin_entry("versioned").await;
            entry["source"]["error"].as_str().is_some_and(|e| e.contains("no signature")).then_some(entry)
        })
        .await;
    assert_eq!(entry["source"]["signer"]["key_id"], release_id, "{entry}");
    assert_eq!(version_served(&proxy).await.as_deref(), Ok("version-a"));

    // A tampered component blob: the digest check refuses it (a private cache, so the
    // blob is really fetched).
    let tampered = registry.reference("guards/tampered:v1");
    push("noop", &tampered);
    sign(&tampered, &release_key);
    let noop_hex = sha256_hex(&std::fs::read(component("noop")).unwrap());
    let blob = registry.blob_file(&noop_hex);
    let mut bytes = std::fs::read(&blob).expect("the registry's copy of the component");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let refused = ProxyBuilder::new("")
        .private_cache()
        .plugins_option(&format!("sources: {{noop: '{tampered}'}}"))
        .plugins_option(&trust)
        .try_start()
        .await
        .err()
        .expect("a tampered blob is refused");
    assert!(refused.contains("digest mismatch"), "{refused}");
    let (ok, _, stderr) = hookgate(&["plugin", "verify", &tampered, "--key", pub_path]);
    assert!(!ok && stderr.contains("digest mismatch"), "{stderr}");

    // Files in the plugin directory: allowed only when their digest is listed.
    let noop_digest = format!("sha256:{noop_hex}");
    let refused = ProxyBuilder::new("")
        .plugin("noop", "noop")
        .plugins_option(&trust)
        .try_start()
        .await
        .err()
        .expect("an unlisted file");
    assert!(refused.contains("not in plugins.trust.digests"), "{refused}");
    let listed = ProxyBuilder::new("")
        .plugin("noop", "noop")
        .plugins_option(&format!("trust: {{digests: ['{noop_digest}']}}"))
        .start()
        .await;
    assert_eq!(listed.plugin_entry("noop").await["source"]["trusted_by"], "digest allow-list");
}

#[tokio::test]
async fn without_a_trust_section_plugins_load_with_a_start_up_warning() {
    let proxy = ProxyBuilder::new("").plugin("noop", "noop").start().await;
    assert!(proxy.log().contains("plugins.trust is not set: plugins are not verified"), "{}", proxy.log());
    assert!(proxy.plugin_entry("noop").await["source"]["trusted_by"].is_null());
}

fn sha256_hex(bytes: &[u8]) -> String {
    hookgate::types::ContentHash::of(bytes).to_string()
}

#[tokio::test]
async fn a_version_that_fails_to_load_keeps_the_old_one_serving_and_named() {
    let registry = RegistryServer::start().await;
    let tag = registry.reference("guards/versioned:stable");
    let first = push("version-a", &tag);
    let proxy = fleet_proxy(&tag).start().await;
    // Another tool pushes something that is not a component (the CLI would refuse it).
    let client = hookgate::oci::RegistryClient::new(vec![], hookgate::oci::Credentials::default());
    let reference = hookgate::oci::Reference::parse(&tag).unwrap();
    let broken = hookgate::oci::push(&client, &reference, b"\0asm not a component", vec![], vec![], "broken.wasm")
        .await
        .expect("the registry takes any bytes");
    let entry = proxy
        .until("the load error in /plugins", SWAP_WAIT, || async {
            let entry = proxy.plugin_entry("versioned").await;
            entry["load_error"].is_string().then_some(entry)
        })
        .await;
    assert_eq!(entry["state"], "active", "{entry}");
    assert_eq!(entry["source"]["digest"], first, "the digest shown is the one serving: {entry}");
    assert_eq!(entry["source"]["latest_verified"], broken.digest_string(), "{entry}");
    assert_eq!(version_served(&proxy).await.as_deref(), Ok("version-a"));
}

/// A test user's htpasswd line: `fleet` with the password [`PASSWORD`], bcrypt cost 5.
const HTPASSWD: &str = "fleet:$2b$05$7UFrFikcEMAcVUuxLnBFQuoT9RkK3ELrlaYnIpL5bRPXW25.yLefG";
const PASSWORD: &str = "fleet-test-password";

#[tokio::test]
async fn registry_credentials_come_from_the_environment_or_a_docker_config_and_never_show() {
    let registry = RegistryServer::start_with_basic_auth(HTPASSWD).await;
    let tag = registry.reference("guards/versioned:stable");
    let file = component("version-a");
    let push_args = ["plugin", "push", file.to_str().unwrap(), tag.as_str()];

    let (ok, _, stderr) = hookgate_with(&push_args, &[]);
    assert!(!ok && stderr.contains("401") && stderr.contains("HOOKGATE_REGISTRY_USERNAME"), "{stderr}");
    let from_env = [("HOOKGATE_REGISTRY_USERNAME", "fleet"), ("HOOKGATE_REGISTRY_PASSWORD", PASSWORD)];
    let (ok, _, stderr) = hookgate_with(&push_args, &from_env);
    assert!(ok, "{stderr}");

    // A proxy without credentials cannot pull, and says where credentials come from.
    let refused = fleet_proxy(&tag).private_cache().try_start().await.err().expect("no credentials");
    assert!(refused.contains("HOOKGATE_REGISTRY_USERNAME"), "{refused}");

    // From the environment.
    let proxy = fleet_proxy(&tag)
        .private_cache()
        .env("HOOKGATE_REGISTRY_USERNAME", "fleet")
        .env("HOOKGATE_REGISTRY_PASSWORD", PASSWORD)
        .start()
        .await;
    assert_eq!(version_served(&proxy).await.as_deref(), Ok("version-a"));
    let listing = proxy.admin_get("/plugins").await.to_string();
    assert!(!listing.contains(PASSWORD) && !proxy.log().contains(PASSWORD), "the password never shows");

    // From a Docker config file, as `docker login` writes it.
    let docker = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("fleet:{PASSWORD}"));
    let config = format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, registry.host());
    std::fs::write(docker.path().join("config.json"), config).unwrap();
    let proxy = fleet_proxy(&tag).private_cache().env("DOCKER_CONFIG", docker.path().to_str().unwrap()).start().await;
    assert_eq!(version_served(&proxy).await.as_deref(), Ok("version-a"));
}
