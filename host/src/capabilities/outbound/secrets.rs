//! `${secret:<name>}` placeholders: filled in after a request leaves the guest, and put
//! back wherever a response would show the value to the guest.

use std::collections::BTreeMap;

use super::grant::{BoundSecret, Target};

const OPEN: &[u8] = b"${secret:";

/// Why a request's placeholders could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The plugin has no secret of that name.
    #[error("it names ${{secret:{0}}}, which is not bound to this plugin (plugins.outbound.<plugin>.secrets)")]
    Unknown(String),
    /// The secret is bound, but not for this destination.
    #[error("${{secret:{0}}} may not be sent to this destination (its `only` list)")]
    NotForDestination(String),
    /// With its secrets filled in, the text would be longer than it may be.
    #[error("with its secrets filled in it would be over {0} bytes")]
    TooLarge(usize),
}

/// `text` with every `${secret:<name>}` replaced by the secret's value, if each named
/// secret is bound and may go to `target`, and the result is no longer than `max_bytes`
/// (or than `text`, if that is longer): a placeholder of a dozen bytes can stand for a
/// secret of hundreds, and the cap on what a plugin sends must hold for what is sent.
/// Text without placeholders is returned as is.
pub fn fill(
    text: &[u8],
    secrets: &BTreeMap<String, BoundSecret>,
    target: &Target,
    max_bytes: usize,
) -> Result<Vec<u8>, SecretError> {
    let limit = max_bytes.max(text.len());
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find(rest, OPEN) {
        if out.len() > limit {
            return Err(SecretError::TooLarge(max_bytes));
        }
        out.extend_from_slice(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.iter().position(|&b| b == b'}') else {
            // An unclosed `${secret:` is text, not a placeholder.
            out.extend_from_slice(&rest[start..]);
            rest = &[];
            break;
        };
        let name = String::from_utf8_lossy(&after[..end]).into_owned();
        let secret = secrets.get(&name).ok_or_else(|| SecretError::Unknown(name.clone()))?;
        if let Some(only) = &secret.only {
            if !only.iter().any(|destination| destination.allows(target)) {
                return Err(SecretError::NotForDestination(name));
            }
        }
        out.extend_from_slice(secret.value.expose().as_bytes());
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest);
    match out.len() > limit {
        true => Err(SecretError::TooLarge(max_bytes)),
        false => Ok(out),
    }
}

/// `bytes` with every secret value replaced by its placeholder again: what a service
/// echoes back reaches the guest as `${secret:<name>}`, never as the value.
pub fn scrub(bytes: &[u8], secrets: &BTreeMap<String, BoundSecret>) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (name, secret) in secrets {
        let value = secret.value.expose().as_bytes();
        if value.is_empty() || find(&out, value).is_none() {
            continue;
        }
        let placeholder = format!("${{secret:{name}}}");
        let mut replaced = Vec::with_capacity(out.len());
        let mut rest = out.as_slice();
        while let Some(at) = find(rest, value) {
            replaced.extend_from_slice(&rest[..at]);
            replaced.extend_from_slice(placeholder.as_bytes());
            rest = &rest[at + value.len()..];
        }
        replaced.extend_from_slice(rest);
        out = replaced;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::outbound::grant::Destination;
    use crate::secret::Secret;

    fn secrets() -> BTreeMap<String, BoundSecret> {
        let mut secrets = BTreeMap::new();
        secrets.insert("key".to_owned(), BoundSecret { value: Secret::new("R0UT1NG"), only: None });
        let only = Some(vec![Destination::parse("https://a.test/", false).unwrap()]);
        secrets.insert("narrow".to_owned(), BoundSecret { value: Secret::new("N4RR0W"), only });
        secrets
    }

    fn target(url: &str) -> Target {
        Target::of(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn placeholders_are_filled_for_allowed_destinations_only() {
        let s = secrets();
        let b = target("https://b.test/x");
        let fill = |text: &[u8], target: &Target| super::fill(text, &s, target, 1024);
        assert_eq!(fill(br#"{"k":"${secret:key}"}"#, &b).unwrap(), br#"{"k":"R0UT1NG"}"#);
        assert_eq!(fill(b"no placeholder ${secret:", &b).unwrap(), b"no placeholder ${secret:");
        assert_eq!(fill(b"${secret:nope}", &b), Err(SecretError::Unknown("nope".into())));
        assert_eq!(fill(b"${secret:narrow}", &b), Err(SecretError::NotForDestination("narrow".into())));
        assert_eq!(fill(b"${secret:narrow}", &target("https://a.test/y")).unwrap(), b"N4RR0W");
    }

    /// A placeholder stands for more bytes than it takes: filled in, a text may not pass
    /// the cap it was checked against (or its own length, if that was longer).
    #[test]
    fn filling_in_secrets_cannot_grow_a_text_past_its_cap() {
        let mut s = secrets();
        s.insert("long".to_owned(), BoundSecret { value: Secret::new("L".repeat(200)), only: None });
        let b = target("https://b.test/x");
        let (key, long) = ("${secret:key}", "${secret:long}");
        // Ten placeholders of 14 bytes: 140 bytes as sent by the plugin, 2,000 filled in.
        assert_eq!(fill(long.repeat(10).as_bytes(), &s, &b, 1000), Err(SecretError::TooLarge(1000)));
        assert_eq!(fill(long.repeat(10).as_bytes(), &s, &b, 2000).unwrap().len(), 2000);
        // A text longer than the cap may stay as long, not grow.
        let text = "x".repeat(1500);
        assert_eq!(fill(text.as_bytes(), &s, &b, 1000).unwrap().len(), 1500, "no placeholder: as it came");
        assert_eq!(fill(format!("{text}{key}").as_bytes(), &s, &b, 1000).unwrap().len(), 1507, "shorter filled in");
        assert_eq!(fill(format!("{text}{long}").as_bytes(), &s, &b, 1000), Err(SecretError::TooLarge(1000)));
        let unclosed = format!("{}${{secret:", long.repeat(10));
        assert_eq!(fill(unclosed.as_bytes(), &s, &b, 1000), Err(SecretError::TooLarge(1000)));
    }

    #[test]
    fn echoed_values_go_back_to_placeholders() {
        assert_eq!(
            scrub(b"got R0UT1NG and R0UT1NG, N4RR0W", &secrets()),
            b"got ${secret:key} and ${secret:key}, ${secret:narrow}"
        );
    }
}
