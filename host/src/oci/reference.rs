//! `oci://registry/repository:tag` and `oci://registry/repository@sha256:<hex>`: where a
//! plugin lives in a registry, as the config and the CLI write it.

use std::fmt;

use crate::types::ContentHash;

/// A parsed OCI reference: a registry, a repository in it, and a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host` or `host:port`, as it appears in the reference.
    pub registry: String,
    /// The repository path (`team/pii-redactor`).
    pub repository: String,
    /// What in the repository: a moving tag or a fixed digest.
    pub target: Target,
}

/// A tag (which may move) or a digest (which never does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `:tag`.
    Tag(String),
    /// `@sha256:<hex>`: pinned; polling never changes it.
    Digest(ContentHash),
}

/// Why a string is not an OCI reference.
#[derive(Debug, thiserror::Error)]
#[error("`{given}` is not an OCI reference ({why}); expected oci://registry/repository:tag or oci://registry/repository@sha256:<64 hex>")]
pub struct BadReference {
    given: String,
    why: &'static str,
}

impl Reference {
    /// Parses `oci://registry/repo:tag`, `oci://registry/repo@sha256:…`; the `oci://`
    /// prefix is optional (the CLI takes references as `wkg` and `oras` do). A missing
    /// tag means `latest`, as everywhere in OCI.
    pub fn parse(text: &str) -> Result<Self, BadReference> {
        let bad = |why| BadReference { given: text.to_owned(), why };
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (registry, path) = rest.split_once('/').ok_or_else(|| bad("no repository after the registry"))?;
        if registry.is_empty() || !registry.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) {
            return Err(bad("the registry must be a host or host:port"));
        }
        let (repository, target) = match path.split_once('@') {
            Some((repository, digest)) => {
                let hex = digest.strip_prefix("sha256:").ok_or_else(|| bad("only sha256 digests are supported"))?;
                (
                    repository,
                    Target::Digest(ContentHash::from_hex(hex).ok_or_else(|| bad("a sha256 digest is 64 hex digits"))?),
                )
            }
            None => match path.rsplit_once(':') {
                Some((repository, tag)) => (repository, Target::Tag(tag.to_owned())),
                None => (path, Target::Tag("latest".to_owned())),
            },
        };
        let valid_repository = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !valid_repository {
            return Err(bad("a repository is lowercase letters, digits, `._-`, in `/`-separated parts"));
        }
        if let Target::Tag(tag) = &target {
            let valid_tag = !tag.is_empty()
                && tag.len() <= 128
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && !tag.starts_with(['.', '-']);
            if !valid_tag {
                return Err(bad("a tag is up to 128 of A-Z a-z 0-9 . _ -"));
            }
        }
        Ok(Self { registry: registry.to_owned(), repository: repository.to_owned(), target })
    }

    /// The same repository at `digest`.
    pub fn at(&self, digest: ContentHash) -> Self {
        Self { target: Target::Digest(digest), ..self.clone() }
    }

    /// The same repository at `tag`.
    pub fn tagged(&self, tag: impl Into<String>) -> Self {
        Self { target: Target::Tag(tag.into()), ..self.clone() }
    }

    /// The tag or digest as the registry API takes it in `/manifests/<it>`.
    pub fn api_target(&self) -> String {
        match &self.target {
            Target::Tag(tag) => tag.clone(),
            Target::Digest(digest) => format!("sha256:{digest}"),
        }
    }

    /// The pinned digest, if the reference is one.
    pub fn digest(&self) -> Option<&ContentHash> {
        match &self.target {
            Target::Digest(digest) => Some(digest),
            Target::Tag(_) => None,
        }
    }

    /// Where cosign keeps the signatures of `digest` in this repository:
    /// `sha256-<hex>.sig`.
    pub fn signature_tag(&self, digest: &ContentHash) -> Self {
        self.tagged(format!("sha256-{digest}.sig"))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(tag) => write!(f, "oci://{}/{}:{tag}", self.registry, self.repository),
            Target::Digest(digest) => write!(f, "oci://{}/{}@sha256:{digest}", self.registry, self.repository),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_digests_and_defaults_parse() {
        let tagged = Reference::parse("oci://127.0.0.1:5000/team/pii:v1").unwrap();
        assert_eq!(tagged.registry, "127.0.0.1:5000");
        assert_eq!(tagged.repository, "team/pii");
        assert_eq!(tagged.target, Target::Tag("v1".into()));
        assert_eq!(tagged.to_string(), "oci://127.0.0.1:5000/team/pii:v1");
        let latest = Reference::parse("ghcr.io/acme/guard").unwrap();
        assert_eq!(latest.target, Target::Tag("latest".into()));
        let hex = "ab".repeat(32);
        let pinned = Reference::parse(&format!("oci://r.example/x@sha256:{hex}")).unwrap();
        assert_eq!(pinned.api_target(), format!("sha256:{hex}"));
        assert_eq!(pinned.signature_tag(pinned.digest().unwrap()).api_target(), format!("sha256-{hex}.sig"));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "oci://",
            "oci://host",
            "oci://host/",
            "oci://host/Repo:v1",
            "oci://host/r@sha256:12",
            "oci://host/r@md5:ab",
            "oci://host/r:-x",
            "oci://ho st/r:v1",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
