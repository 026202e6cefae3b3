//! The wasm OCI artifact layout (CNCF TAG Runtime's "Wasm OCI Artifact"): an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and whose one layer
//! is the component, `application/wasm`. `wkg oci push` writes it, and `oras push` with a
//! v0 config; hookgate pushes the same, so `wkg oci pull` reads what hookgate pushed.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::OCI_MANIFEST;
use crate::types::ContentHash;

/// The config media type of a wasm artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The media type of the component layer.
pub const WASM_LAYER: &str = "application/wasm";

/// A blob a manifest points at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations (cosign keeps a signature in one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Descriptor {
    /// The descriptor of `bytes` as `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: ContentHash::of(bytes).digest_string(),
            size: bytes.len() as u64,
            annotations: None,
        }
    }

    /// The digest, if it is a well-formed sha256 one.
    pub fn hash(&self) -> Option<ContentHash> {
        ContentHash::parse_digest(&self.digest)
    }
}

/// An OCI image manifest, as far as hookgate reads one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Manifest {
    /// A manifest of `config` and `layers`.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self { schema_version: 2, media_type: Some(OCI_MANIFEST.to_owned()), config, layers, annotations: None }
    }

    /// The manifest's canonical bytes (what is pushed and hashed).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serializes")
    }
}

/// Why a manifest is not a wasm component artifact hookgate loads.
#[derive(Debug, thiserror::Error)]
#[error("not a wasm component artifact: {0}")]
pub struct NotWasm(String);

/// The component layer of a wasm artifact manifest: checks the config media type and
/// that there is exactly one layer, `application/wasm` (the layout says consumers
/// should refuse more than one).
pub fn component_layer(manifest: &[u8]) -> Result<Descriptor, NotWasm> {
    let manifest: Manifest =
        serde_json::from_slice(manifest).map_err(|error| NotWasm(format!("the manifest does not parse: {error}")))?;
    if manifest.config.media_type != WASM_CONFIG {
        return Err(NotWasm(format!(
            "its config is `{}`, not `{WASM_CONFIG}` (push with `hookgate plugin push`, `wkg oci push`, or oras with a v0 config)",
            manifest.config.media_type
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(NotWasm(format!("it has {} layers; a wasm artifact has exactly one", manifest.layers.len())));
    };
    if layer.media_type != WASM_LAYER {
        return Err(NotWasm(format!("its layer is `{}`, not `{WASM_LAYER}`", layer.media_type)));
    }
    if layer.hash().is_none() {
        return Err(NotWasm(format!("its layer digest `{}` is not sha256:<64 hex>", layer.digest)));
    }
    Ok(layer.clone())
}

/// A component packaged for pushing: the config blob, the layer, and the manifest.
pub struct Packaged {
    /// The config JSON.
    pub config: Vec<u8>,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
}

/// Packages `wasm` in the wasm artifact layout, with what it imports and exports (the
/// config's `component` section) and `created` (RFC 3339).
pub fn package(wasm: &[u8], imports: Vec<String>, exports: Vec<String>, created: &str, title: &str) -> Packaged {
    let layer_digest = ContentHash::of(wasm).digest_string();
    let config = json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": {"exports": exports, "imports": imports, "target": null},
    });
    let config = serde_json::to_vec(&config).expect("the config serializes");
    let mut layer = Descriptor::of(WASM_LAYER, wasm);
    layer.annotations = Some([("org.opencontainers.image.title".to_owned(), json!(title))].into_iter().collect());
    let manifest = Manifest::new(Descriptor::of(WASM_CONFIG, &config), vec![layer]).to_bytes();
    Packaged { config, manifest }
}

/// `time` as RFC 3339 in UTC (`2026-12-01T18:09:44Z`).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let seconds = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packaged_component_is_a_valid_artifact() {
        let packaged = package(
            b"\0asm\x0d\0\x01\0",
            vec!["wasi:io/streams@0.2.0".into()],
            vec!["describe".into()],
            "2026-12-01T00:00:00Z",
            "x.wasm",
        );
        let layer = component_layer(&packaged.manifest).unwrap();
        assert_eq!(layer.hash(), Some(ContentHash::of(b"\0asm\x0d\0\x01\0")));
        let config: serde_json::Value = serde_json::from_slice(&packaged.config).unwrap();
        assert_eq!(config["layerDigests"][0], layer.digest);
        assert_eq!(config["os"], "wasip2");
    }

    #[test]
    fn other_layouts_are_refused_with_why() {
        let oras_default = Manifest::new(
            Descriptor::of("application/vnd.oci.empty.v1+json", b"{}"),
            vec![Descriptor::of("application/vnd.oci.image.layer.v1.tar", b"x")],
        );
        let error = component_layer(&oras_default.to_bytes()).unwrap_err().to_string();
        assert!(error.contains("not `application/vnd.wasm.config.v0+json`"), "{error}");
        let two = Manifest::new(
            Descriptor::of(WASM_CONFIG, b"{}"),
            vec![Descriptor::of(WASM_LAYER, b"a"), Descriptor::of(WASM_LAYER, b"b")],
        );
        assert!(component_layer(&two.to_bytes()).unwrap_err().to_string().contains("2 layers"));
    }

    #[test]
    fn rfc3339_dates_are_civil() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_148_584);
        assert_eq!(rfc3339(at), "2026-12-01T18:09:44Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
