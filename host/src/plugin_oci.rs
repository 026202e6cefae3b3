//! `hookgate plugin push|sign|verify|keygen`: publishing a plugin to an OCI registry and
//! signing it, with no other tool. Registry credentials come from
//! `HOOKGATE_REGISTRY_USERNAME`/`_PASSWORD` or the Docker config file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use hookgate::oci::signature::{PrivateKey, TrustedKey};
use hookgate::oci::{self, Credentials, Reference, RegistryClient};

fn client(insecure: Vec<String>) -> RegistryClient {
    RegistryClient::new(insecure, Credentials::from_environment())
}

fn reference(text: &str) -> Result<Reference> {
    Ok(Reference::parse(text)?)
}

/// Pushes `file` (checked as the proxy would load it first) to `target`; prints the
/// digest to pin.
pub async fn push(
    file: &Path,
    target: &str,
    insecure: Vec<String>,
    plugin: &hookgate::plugins::LoadedPlugin,
) -> Result<()> {
    let target = reference(target)?;
    if target.digest().is_some() {
        bail!("push to a tag (oci://registry/repository:tag); the digest is printed after the push");
    }
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (imports, exports) = plugin.interface_names();
    let title = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let digest = oci::push(&client(insecure), &target, &wasm, imports, exports, &title).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "pushed": target.to_string(),
            "digest": digest.digest_string(),
            "pinned": target.at(digest).to_string(),
            "component_sha256": hookgate::types::ContentHash::of(&wasm).digest_string(),
        }))?
    );
    Ok(())
}

/// Signs what `target` names with the PEM private key at `key`.
pub async fn sign(target: &str, key: &Path, insecure: Vec<String>) -> Result<()> {
    let target = reference(target)?;
    let pem = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let key = PrivateKey::from_pem(&pem)?;
    let (digest, at) = oci::sign(&client(insecure), &target, &key).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "signed": target.at(digest).to_string(),
            "signature": at.to_string(),
            "key_id": key.id(),
        }))?
    );
    Ok(())
}

/// Checks that what `target` names is a wasm artifact signed by one of `keys`; exits
/// non-zero otherwise.
pub async fn verify(target: &str, keys: &[PathBuf], insecure: Vec<String>) -> Result<()> {
    let target = reference(target)?;
    let mut trusted = Vec::new();
    for path in keys {
        let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        trusted.push(TrustedKey::from_pem(&name, &pem)?);
    }
    if trusted.is_empty() {
        bail!("give at least one --key (a PEM public key)");
    }
    let trust = oci::Trust { digests: Default::default(), keys: trusted };
    let client = client(insecure);
    let digest = match target.digest() {
        Some(digest) => *digest,
        None => client.current_digest(&target).await?.with_context(|| format!("{target} does not exist"))?,
    };
    let pulled = oci::pull(&client, &target.at(digest), Some(&trust), |_| None).await?;
    let verdict = pulled.verdict.map(|v| v.describe());
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "verified": target.at(pulled.manifest).to_string(),
            "trusted_by": verdict,
            "component_sha256": hookgate::types::ContentHash::of(&pulled.wasm).digest_string(),
        }))?
    );
    Ok(())
}

/// Writes a new P-256 key pair: `<out>.key` (PKCS#8, mode 0600) and `<out>.pub`.
pub fn keygen(out: &Path) -> Result<()> {
    let key = PrivateKey::generate();
    let private = out.with_extension("key");
    let public = out.with_extension("pub");
    for path in [&private, &public] {
        if path.exists() {
            bail!("{} exists: not overwritten", path.display());
        }
    }
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&private)?;
        file.write_all(key.to_pem().as_bytes())?;
    }
    std::fs::write(&public, key.public_pem())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "private_key": private.display().to_string(),
            "public_key": public.display().to_string(),
            "key_id": key.id(),
        }))?
    );
    Ok(())
}
