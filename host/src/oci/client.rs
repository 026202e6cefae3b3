//! A small client of the OCI distribution API: what pulling, pushing and signing a plugin
//! needs (manifests and blobs), with every byte checked against its digest.
//!
//! Registries on a loopback address (`localhost`, `127.0.0.0/8`, `[::1]`) and those listed
//! as insecure are spoken to over plain HTTP, as Docker does; every other one over HTTPS.
//! Credentials come from the environment or a Docker config file ([`Credentials`]),
//! never from the proxy's config.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::reference::Reference;
use crate::types::ContentHash;

/// The OCI image manifest media type: the one the wasm artifact layout uses.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The largest manifest read: real ones are a few hundred bytes.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// The largest blob read: a Python component is under 20 MB.
pub const MAX_BLOB_BYTES: usize = 256 << 20;

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or the connection broke.
    #[error("registry {registry} unreachable: {source}")]
    Unreachable {
        /// `host:port`.
        registry: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("registry {registry} answered {status} to {what}: {body}")]
    Status {
        /// `host:port`.
        registry: String,
        /// The HTTP status.
        status: StatusCode,
        /// What was asked.
        what: String,
        /// The start of the registry's error body.
        body: String,
    },
    /// What the registry sent does not hash to the digest it was asked for: tampered or
    /// corrupt.
    #[error("digest mismatch for {what}: expected sha256:{expected}, got sha256:{actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: ContentHash,
        /// The digest of what arrived.
        actual: ContentHash,
    },
    /// Something else about the answer was wrong (too large, a missing header).
    #[error("registry {registry}: {why}")]
    Protocol {
        /// `host:port`.
        registry: String,
        /// What was wrong.
        why: String,
    },
}

/// A username and password (or token) for one registry.
#[derive(Clone)]
pub struct Login {
    username: String,
    password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, <redacted>)", self.username)
    }
}

/// Registry credentials: `HOOKGATE_REGISTRY_USERNAME` and `HOOKGATE_REGISTRY_PASSWORD`
/// for every registry, else the `auths` of the Docker config file
/// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) for its registry, else
/// anonymous.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    everywhere: Option<Login>,
    by_registry: HashMap<String, Login>,
}

impl Credentials {
    /// Reads the environment and the Docker config file. A file that cannot be read or
    /// parsed is ignored with a warning: anonymous pulls may still work.
    pub fn from_environment() -> Self {
        let everywhere =
            match (std::env::var("HOOKGATE_REGISTRY_USERNAME"), std::env::var("HOOKGATE_REGISTRY_PASSWORD")) {
                (Ok(username), Ok(password)) => Some(Login { username, password }),
                _ => None,
            };
        let docker_config = std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".docker")))
            .map(|dir| dir.join("config.json"));
        let by_registry = docker_config
            .and_then(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
            .map(|(path, bytes)| {
                docker_auths(&bytes).unwrap_or_else(|why| {
                    tracing::warn!(file = %path.display(), %why, "Docker config ignored");
                    HashMap::new()
                })
            })
            .unwrap_or_default();
        Self { everywhere, by_registry }
    }

    fn for_registry(&self, registry: &str) -> Option<&Login> {
        self.everywhere.as_ref().or_else(|| self.by_registry.get(registry))
    }
}

/// The `auths` of a Docker config: `{"auths": {"host": {"auth": base64("user:pass")}}}`.
fn docker_auths(bytes: &[u8]) -> Result<HashMap<String, Login>, String> {
    let config: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    let mut logins = HashMap::new();
    for (host, entry) in config["auths"].as_object().into_iter().flatten() {
        let Some(auth) = entry["auth"].as_str() else { continue };
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth).map_err(|error| error.to_string())?;
        let decoded = String::from_utf8(decoded).map_err(|_| "an auth is not UTF-8".to_owned())?;
        let (username, password) = decoded.split_once(':').ok_or("an auth is not user:password")?;
        let host = host.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
        logins.insert(host.to_owned(), Login { username: username.to_owned(), password: password.to_owned() });
    }
    Ok(logins)
}

/// A manifest as fetched: its bytes, their digest and the media type.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The bytes, exactly as served (the digest covers them).
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub digest: ContentHash,
}

/// A client of OCI registries.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    insecure: Vec<String>,
    credentials: Credentials,
    /// Bearer tokens by registry and scope, from the registry's token service.
    tokens: Mutex<HashMap<(String, String), String>>,
    /// Registries that asked for Basic credentials: sent up front from then on, saving a
    /// round trip per call.
    basic: Mutex<std::collections::HashSet<String>>,
}

impl RegistryClient {
    /// A client that speaks plain HTTP to loopback registries and to `insecure` ones
    /// (`host:port` as in references).
    pub fn new(insecure: Vec<String>, credentials: Credentials) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .expect("a reqwest client with rustls builds");
        Self { http, insecure, credentials, tokens: Mutex::new(HashMap::new()), basic: Mutex::default() }
    }

    fn base(&self, registry: &str) -> String {
        let host = registry
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(registry, |(host, _)| host);
        let loopback = host == "localhost" || host == "[::1]" || host.starts_with("127.");
        let scheme = if loopback || self.insecure.iter().any(|listed| listed == registry) { "http" } else { "https" };
        format!("{scheme}://{registry}")
    }

    /// Sends a request, answering a registry's 401 once: with Basic credentials, or a
    /// Bearer token from the token service its `WWW-Authenticate` names.
    async fn send(
        &self,
        registry: &str,
        scope: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let unreachable = |source| RegistryError::Unreachable { registry: registry.to_owned(), source };
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(registry.to_owned(), scope.to_owned()))
            .cloned();
        let login = self.credentials.for_registry(registry);
        let basic_known = self.basic.lock().unwrap_or_else(|e| e.into_inner()).contains(registry);
        let first = match (&cached, login) {
            (Some(token), _) => build(&self.http).bearer_auth(token),
            (None, Some(login)) if basic_known => build(&self.http).basic_auth(&login.username, Some(&login.password)),
            _ => build(&self.http),
        };
        let response = first.send().await.map_err(unreachable)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let retry = if challenge.to_ascii_lowercase().starts_with("bearer") {
            let token = self.token(registry, scope, &challenge, login).await?;
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((registry.to_owned(), scope.to_owned()), token.clone());
            build(&self.http).bearer_auth(token)
        } else if let Some(login) = login.filter(|_| !basic_known) {
            self.basic.lock().unwrap_or_else(|e| e.into_inner()).insert(registry.to_owned());
            build(&self.http).basic_auth(&login.username, Some(&login.password))
        } else {
            return Ok(response);
        };
        retry.send().await.map_err(unreachable)
    }

    /// A Bearer token for `scope` from the token service of `challenge`
    /// (`Bearer realm="…",service="…"`).
    async fn token(
        &self,
        registry: &str,
        scope: &str,
        challenge: &str,
        login: Option<&Login>,
    ) -> Result<String, RegistryError> {
        let protocol = |why: String| RegistryError::Protocol { registry: registry.to_owned(), why };
        let params = challenge_params(challenge);
        let realm =
            params.get("realm").ok_or_else(|| protocol(format!("a Bearer challenge without a realm: {challenge}")))?;
        let mut request = self.http.get(realm).query(&[("scope", scope)]);
        if let Some(service) = params.get("service") {
            request = request.query(&[("service", service)]);
        }
        if let Some(login) = login {
            request = request.basic_auth(&login.username, Some(&login.password));
        }
        let response = request
            .send()
            .await
            .map_err(|source| RegistryError::Unreachable { registry: registry.to_owned(), source })?;
        let response = checked(registry, "a token", response).await?;
        let body: serde_json::Value =
            response.json().await.map_err(|error| protocol(format!("token answer: {error}")))?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| protocol("the token service answered without a token".to_owned()))
    }

    /// The manifest `reference` names, checked against its digest when it is pinned.
    pub async fn manifest(&self, reference: &Reference) -> Result<FetchedManifest, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base(&reference.registry),
            reference.repository,
            reference.api_target()
        );
        let scope = pull_scope(reference);
        let response =
            self.send(&reference.registry, &scope, |http| http.get(&url).header(ACCEPT, OCI_MANIFEST)).await?;
        let response = checked(&reference.registry, &format!("the manifest of {reference}"), response).await?;
        let bytes = limited_body(&reference.registry, response, MAX_MANIFEST_BYTES).await?;
        let digest = ContentHash::of(&bytes);
        if let Some(expected) = reference.digest() {
            if *expected != digest {
                return Err(RegistryError::DigestMismatch {
                    what: reference.to_string(),
                    expected: *expected,
                    actual: digest,
                });
            }
        }
        Ok(FetchedManifest { bytes, digest })
    }

    /// The digest a tag points at now, `None` when the tag does not exist. Asks with
    /// `HEAD` (cheap enough to poll), then with `GET` if the registry does not say.
    pub async fn current_digest(&self, reference: &Reference) -> Result<Option<ContentHash>, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base(&reference.registry),
            reference.repository,
            reference.api_target()
        );
        let scope = pull_scope(reference);
        let response =
            self.send(&reference.registry, &scope, |http| http.head(&url).header(ACCEPT, OCI_MANIFEST)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = checked(&reference.registry, &format!("the manifest of {reference}"), response).await?;
        let said = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(ContentHash::parse_digest);
        match said {
            Some(digest) => Ok(Some(digest)),
            None => Ok(Some(self.manifest(reference).await?.digest)),
        }
    }

    /// The blob `digest` of `reference`'s repository, at most `max` bytes, checked
    /// against the digest.
    pub async fn blob(
        &self,
        reference: &Reference,
        digest: &ContentHash,
        max: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/sha256:{digest}", self.base(&reference.registry), reference.repository);
        let response = self.send(&reference.registry, &pull_scope(reference), |http| http.get(&url)).await?;
        let what = format!("blob sha256:{digest} of {reference}");
        let response = checked(&reference.registry, &what, response).await?;
        let bytes = limited_body(&reference.registry, response, max).await?;
        let actual = ContentHash::of(&bytes);
        if actual != *digest {
            return Err(RegistryError::DigestMismatch { what, expected: *digest, actual });
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob of `reference`'s repository (skipped when the registry
    /// has it already); returns its digest.
    pub async fn push_blob(&self, reference: &Reference, bytes: &[u8]) -> Result<ContentHash, RegistryError> {
        let digest = ContentHash::of(bytes);
        let base = self.base(&reference.registry);
        let scope = push_scope(reference);
        let head_url = format!("{base}/v2/{}/blobs/sha256:{digest}", reference.repository);
        let exists = self.send(&reference.registry, &scope, |http| http.head(&head_url)).await?;
        if exists.status().is_success() {
            return Ok(digest);
        }
        let start_url = format!("{base}/v2/{}/blobs/uploads/", reference.repository);
        let started = self
            .send(&reference.registry, &scope, |http| http.post(&start_url).header(reqwest::header::CONTENT_LENGTH, 0))
            .await?;
        let started = checked(&reference.registry, "starting an upload", started).await?;
        let location = started.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            RegistryError::Protocol { registry: reference.registry.clone(), why: "an upload without a Location".into() }
        })?;
        let mut upload = if location.starts_with('/') { format!("{base}{location}") } else { location.to_owned() };
        upload.push(if upload.contains('?') { '&' } else { '?' });
        upload.push_str(&format!("digest=sha256:{digest}"));
        let body = bytes.to_vec();
        let done = self
            .send(&reference.registry, &scope, |http| {
                http.request(Method::PUT, &upload).header(CONTENT_TYPE, "application/octet-stream").body(body.clone())
            })
            .await?;
        checked(&reference.registry, &format!("uploading blob sha256:{digest}"), done).await?;
        Ok(digest)
    }

    /// Stores `manifest` (an OCI image manifest) under `reference`'s tag or digest;
    /// returns its digest.
    pub async fn push_manifest(&self, reference: &Reference, manifest: &[u8]) -> Result<ContentHash, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base(&reference.registry),
            reference.repository,
            reference.api_target()
        );
        let body = manifest.to_vec();
        let response = self
            .send(&reference.registry, &push_scope(reference), |http| {
                http.put(&url).header(CONTENT_TYPE, OCI_MANIFEST).body(body.clone())
            })
            .await?;
        checked(&reference.registry, &format!("storing the manifest of {reference}"), response).await?;
        Ok(ContentHash::of(manifest))
    }
}

fn pull_scope(reference: &Reference) -> String {
    format!("repository:{}:pull", reference.repository)
}

fn push_scope(reference: &Reference) -> String {
    format!("repository:{}:pull,push", reference.repository)
}

/// `realm`, `service`, `scope` of a `Bearer k="v",…` challenge.
fn challenge_params(challenge: &str) -> HashMap<String, String> {
    let params = challenge.split_once(' ').map_or("", |(_, rest)| rest);
    params
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().trim_matches('"').to_owned()))
        .collect()
}

/// `response` if its status is a success, else the registry's error with the start of
/// its body.
async fn checked(registry: &str, what: &str, response: reqwest::Response) -> Result<reqwest::Response, RegistryError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let mut body: String = body.chars().take(300).collect::<String>().trim().to_owned();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        body.push_str(
            " (credentials come from HOOKGATE_REGISTRY_USERNAME and HOOKGATE_REGISTRY_PASSWORD, or the Docker config file's auths)",
        );
    }
    Err(RegistryError::Status { registry: registry.to_owned(), status, what: what.to_owned(), body })
}

/// The body of `response`, refused past `max` bytes without reading more.
async fn limited_body(registry: &str, mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, RegistryError> {
    let too_large =
        || RegistryError::Protocol { registry: registry.to_owned(), why: format!("an answer larger than {max} bytes") };
    if response.content_length().is_some_and(|length| length > max as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|source| RegistryError::Unreachable { registry: registry.to_owned(), source })?
    {
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths_decode() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let config = format!(r#"{{"auths": {{"https://registry.example:5000/": {{"auth": "{auth}"}}}}}}"#);
        let logins = docker_auths(config.as_bytes()).unwrap();
        let login = &logins["registry.example:5000"];
        assert_eq!((login.username.as_str(), login.password.as_str()), ("alice", "s3cret"));
        assert!(!format!("{login:?}").contains("s3cret"), "a login's Debug never shows the password");
    }

    #[test]
    fn bearer_challenges_parse() {
        let params = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
        );
        assert_eq!(params["realm"], "https://auth.example/token");
        assert_eq!(params["service"], "registry.example");
    }

    #[test]
    fn loopback_registries_use_plain_http() {
        let client = RegistryClient::new(vec!["registry.lan:5000".into()], Credentials::default());
        assert_eq!(client.base("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(client.base("localhost"), "http://localhost");
        assert_eq!(client.base("registry.lan:5000"), "http://registry.lan:5000");
        assert_eq!(client.base("ghcr.io"), "https://ghcr.io");
    }
}
