//! cosign's key-pair signatures, so `cosign verify --key` accepts what `hookgate plugin
//! sign` wrote, and hookgate accepts what `cosign sign --key` wrote (in the classic
//! `.sig` tag format: Distribution 2.8 has no referrers API).
//!
//! A signature of manifest `sha256:D` lives at tag `sha256-D.sig` of the same
//! repository: an OCI manifest with one layer per signature, each a "simple signing"
//! payload that names `D`, its ECDSA-P256/SHA-256 signature (ASN.1 DER, base64) in the
//! layer annotation `dev.cosignproject.cosign/signature`. The payload is fetched by its
//! digest and the signature checked over its exact bytes.

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::json;

use super::reference::Reference;
use crate::types::ContentHash;

/// The media type of a cosign signature payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation that holds the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` of a cosign payload.
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// A public key whose signatures are trusted, with the id `/plugins` shows for it.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// Where it came from (the file name), for people.
    pub name: String,
    /// `sha256:` and the first 16 hex digits of the SHA-256 of its DER encoding: tells
    /// keys apart without showing them.
    pub id: String,
    key: VerifyingKey,
}

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl TrustedKey {
    /// A PEM `PUBLIC KEY` (PKIX, as `cosign generate-key-pair` writes `cosign.pub`) on
    /// curve P-256.
    pub fn from_pem(name: &str, pem: &str) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|error| {
            KeyError(format!("{name}: not a PEM `PUBLIC KEY` on curve P-256 (ECDSA-P256, cosign's default): {error}"))
        })?;
        Ok(Self { name: name.to_owned(), id: key_id(&key), key })
    }

    /// True when `signature` (DER, as cosign writes it) is this key's over `payload`.
    fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Signature::from_der(signature) else { return false };
        self.key.verify(payload, &signature).is_ok()
    }
}

fn key_id(key: &VerifyingKey) -> String {
    let der = key.to_public_key_der().map(|der| der.as_bytes().to_vec()).unwrap_or_default();
    format!("sha256:{}", &ContentHash::of(&der).to_string()[..16])
}

/// A private key that signs plugins.
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// A PEM `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC1) on curve P-256. cosign's
    /// password-encrypted keys are not read: sign those with `cosign sign --key`.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if pem.contains("ENCRYPTED") {
            return Err(KeyError(
                "an encrypted (cosign) private key: sign with `cosign sign --key` instead, or use a key from `hookgate plugin keygen`".into(),
            ));
        }
        SigningKey::from_pkcs8_pem(pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem).map(SigningKey::from))
            .map(Self)
            .map_err(|_| KeyError("not a PEM `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` on curve P-256".into()))
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self(SigningKey::random(&mut rand_core::OsRng))
    }

    /// The private key as PEM `PRIVATE KEY` (PKCS#8). Keep it secret.
    pub fn to_pem(&self) -> String {
        self.0.to_pkcs8_pem(LineEnding::LF).expect("a P-256 key encodes").to_string()
    }

    /// The public key as PEM `PUBLIC KEY`: what `plugins.trust.keys` lists.
    pub fn public_pem(&self) -> String {
        self.0.verifying_key().to_public_key_pem(LineEnding::LF).expect("a P-256 key encodes")
    }

    /// The key id `/plugins` shows for signatures by this key.
    pub fn id(&self) -> String {
        key_id(self.0.verifying_key())
    }

    /// The base64 DER signature over `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.0.sign(payload);
        let der: DerSignature = signature.to_der();
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
    }
}

/// The simple-signing payload that says `digest` of `reference`'s repository is signed.
pub fn payload(reference: &Reference, digest: &ContentHash) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{}", reference.registry, reference.repository)},
            "image": {"docker-manifest-digest": digest.digest_string()},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&payload).expect("the payload serializes")
}

/// The first of `keys` whose signature `signature_b64` is over `payload`, when the
/// payload is a cosign payload for `digest` in `repository`. The identity
/// (`docker-reference`) must name the same repository path; its registry host is not
/// compared, so an artifact copied to a mirror keeps its signature. Without the path, a
/// signed component of one repository (a harmless plugin, say) could be pushed as
/// another's (a guardrail) by anyone who may push, signing key or not.
pub fn verify<'k>(
    keys: &'k [TrustedKey],
    digest: &ContentHash,
    repository: &str,
    payload: &[u8],
    signature_b64: &str,
) -> Result<&'k TrustedKey, String> {
    let parsed: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| "a signature payload that is not JSON".to_owned())?;
    if parsed["critical"]["type"] != PAYLOAD_TYPE {
        return Err("a signature payload of another type".into());
    }
    let signed = parsed["critical"]["image"]["docker-manifest-digest"].as_str().and_then(ContentHash::parse_digest);
    if signed != Some(*digest) {
        return Err("a signature of another artifact".into());
    }
    let identity = parsed["critical"]["identity"]["docker-reference"].as_str().unwrap_or_default();
    if repository_of(identity) != repository {
        return Err(format!("a signature for the repository `{identity}`, not `{repository}`"));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| "a signature that is not base64".to_owned())?;
    keys.iter().find(|key| key.verifies(payload, &signature)).ok_or_else(|| "signed by no trusted key".to_owned())
}

/// The repository path of a `docker-reference` (`host[:port]/path`, or a Docker Hub
/// `path`): its first component is a registry host when it has a `.` or a `:`, or is
/// `localhost`, as Docker reads references.
fn repository_of(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => path,
        _ => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Reference {
        Reference::parse("oci://127.0.0.1:5000/guards/pii:v1").unwrap()
    }

    const REPOSITORY: &str = "guards/pii";

    /// A signature names its repository: pushed under another one (a harmless plugin's
    /// signed component as a guardrail's), it does not verify; on a mirror it does.
    #[test]
    fn a_signature_verifies_in_its_own_repository_only() {
        let signer = PrivateKey::generate();
        let trusted = vec![TrustedKey::from_pem("release.pub", &signer.public_pem()).unwrap()];
        let digest = ContentHash::of(b"manifest");
        let payload = payload(&reference(), &digest);
        let signature = signer.sign(&payload);
        assert!(verify(&trusted, &digest, "guards/pii", &payload, &signature).is_ok());
        let moved = verify(&trusted, &digest, "guards/banned-keywords", &payload, &signature).unwrap_err();
        assert!(moved.contains("`127.0.0.1:5000/guards/pii`, not `guards/banned-keywords`"), "{moved}");
        let mirrored = Reference::parse("oci://mirror.example:443/guards/pii:v1").unwrap();
        let payload = super::payload(&mirrored, &digest);
        assert!(verify(&trusted, &digest, "guards/pii", &payload, &signer.sign(&payload)).is_ok());
        assert_eq!(repository_of("docker.io/library/x"), "library/x");
        assert_eq!(repository_of("localhost/x"), "x");
        assert_eq!(repository_of("team/x"), "team/x");
    }

    #[test]
    fn a_signature_verifies_with_its_public_key_only() {
        let signer = PrivateKey::generate();
        let other = PrivateKey::generate();
        let trusted = vec![TrustedKey::from_pem("release.pub", &signer.public_pem()).unwrap()];
        let digest = ContentHash::of(b"manifest");
        let payload = payload(&reference(), &digest);
        let signature = signer.sign(&payload);
        assert_eq!(verify(&trusted, &digest, REPOSITORY, &payload, &signature).unwrap().id, signer.id());
        let forged = other.sign(&payload);
        assert_eq!(verify(&trusted, &digest, REPOSITORY, &payload, &forged).unwrap_err(), "signed by no trusted key");
        // A valid signature of another artifact does not carry over.
        let elsewhere = ContentHash::of(b"another manifest");
        assert_eq!(
            verify(&trusted, &elsewhere, REPOSITORY, &payload, &signature).unwrap_err(),
            "a signature of another artifact"
        );
        // A payload changed after signing fails, even if it names the same digest.
        let mut tampered = payload.clone();
        tampered.extend_from_slice(b" ");
        assert!(verify(&trusted, &digest, REPOSITORY, &tampered, &signature).is_err());
    }

    #[test]
    fn keys_round_trip_through_pem_and_encrypted_keys_are_explained() {
        let key = PrivateKey::generate();
        let again = PrivateKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(again.id(), key.id());
        let encrypted =
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----";
        assert!(PrivateKey::from_pem(encrypted).err().unwrap().to_string().contains("cosign sign --key"));
        assert!(TrustedKey::from_pem("x.pub", "not a key").is_err());
    }
}
