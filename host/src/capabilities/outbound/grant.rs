//! A plugin's outbound grant: where it may call, with which secrets, within what limits.
//!
//! Grants live only in the operator's main config (`plugins.outbound.<plugin>`), never in
//! a plugin's sidecar: a plugin author cannot grant themselves the network.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

/// Network time one hook call may spend in outbound calls, by default.
const DEFAULT_TIMEOUT_MS: u64 = 1000;
const MAX_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_MAX_CALLS_PER_HOOK: u32 = 4;
const DEFAULT_MAX_CALLS_PER_REQUEST: u32 = 16;
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// `plugins.outbound.<plugin>` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `allow` (and optionally `secrets`, limits, `resolve`)")]
pub(crate) struct RawGrant {
    allow: Vec<RawDestination>,
    #[serde(default)]
    secrets: BTreeMap<String, RawSecret>,
    timeout_ms: Option<u64>,
    max_calls_per_hook: Option<u32>,
    max_calls_per_request: Option<u32>,
    max_request_bytes: Option<usize>,
    max_response_bytes: Option<usize>,
    #[serde(default)]
    resolve: BTreeMap<String, IpAddr>,
}

/// An `allow` entry: a URL prefix, or `{url, private}`.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a URL such as https://host/path/, or {url: ..., private: true}")]
enum RawDestination {
    Url(String),
    Long {
        url: String,
        #[serde(default)]
        private: bool,
    },
}

/// A `secrets` entry: the value, or `{value, only: [URL prefixes]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a secret value (e.g. os.environ/NAME), or {value: ..., only: [URL prefixes]}")]
enum RawSecret {
    Value(Secret),
    Long { value: Secret, only: Vec<String> },
}

/// Where a plugin may send requests, and what its calls may spend.
#[derive(Debug, Clone)]
pub struct OutboundGrant {
    /// The destinations the plugin may call; anything else is refused.
    pub allow: Vec<Destination>,
    /// Secrets the host substitutes for `${secret:<name>}` in outgoing headers and bodies.
    pub secrets: BTreeMap<String, BoundSecret>,
    /// Network time one hook call may spend calling out, all its calls together; it is
    /// added to the hook's wall-clock budget.
    pub timeout: Duration,
    /// Most calls one hook call may make.
    pub max_calls_per_hook: u32,
    /// Most calls one instance may make for one request (all its hooks together).
    pub max_calls_per_request: u32,
    /// Largest request body a call may send, in bytes.
    pub max_request_bytes: usize,
    /// Largest response body a call may receive, in bytes.
    pub max_response_bytes: usize,
    /// Names resolved to fixed addresses instead of through DNS (still checked).
    pub resolve: BTreeMap<String, IpAddr>,
    /// The HTTP client of this grant's calls, built on first use: its resolver knows the
    /// grant's `resolve` names and which names may be private.
    client: OnceLock<reqwest::Client>,
}

impl PartialEq for OutboundGrant {
    fn eq(&self, other: &Self) -> bool {
        self.allow == other.allow
            && self.secrets == other.secrets
            && self.timeout == other.timeout
            && self.max_calls_per_hook == other.max_calls_per_hook
            && self.max_calls_per_request == other.max_calls_per_request
            && self.max_request_bytes == other.max_request_bytes
            && self.max_response_bytes == other.max_response_bytes
            && self.resolve == other.resolve
    }
}

/// A secret bound to a plugin, and the destinations it may be sent to.
#[derive(Debug, Clone)]
pub struct BoundSecret {
    /// The value; never handed to the guest.
    pub value: Secret,
    /// When set, the only destinations the secret may go to (each also in `allow`).
    pub only: Option<Vec<Destination>>,
}

impl PartialEq for BoundSecret {
    fn eq(&self, other: &Self) -> bool {
        self.value.expose() == other.value.expose() && self.only == other.only
    }
}

/// One allowed destination: scheme, host and port exactly, and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
    /// Requests must have a path starting with this (`/` allows any path).
    pub path_prefix: String,
    /// Whether the host may resolve to a loopback or private address. An IP-literal host
    /// is taken as meant; a name must say so, so that whoever controls its DNS cannot
    /// turn an allowed name into a door to the proxy's own network.
    pub private: bool,
}

/// A request's target, parsed the way [`Destination`]s are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host (IPv6 without brackets).
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// The path, without the query.
    pub path: String,
}

impl Target {
    /// The target of an absolute URI, if it is an http(s) URI with a host.
    pub fn of(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = default_port(&scheme)?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        Some(Self { port: uri.port_u16().unwrap_or(default_port), scheme, host, path: uri.path().to_owned() })
    }

    /// Whether the HTTP client, which parses the URI again by the WHATWG URL rules, reads
    /// the same target: it takes a `\` for a `/` and resolves the dot segments that make,
    /// decodes a percent-encoded host, and encodes some characters of a path. A URI it
    /// reads differently would be checked against the grant as one path and sent as
    /// another (`/v1/ok/..\admin` is sent as `/admin`), so it is refused.
    pub fn read_alike(&self, uri: &http::Uri) -> bool {
        let Ok(sent) = reqwest::Url::parse(&uri.to_string()) else { return false };
        let host = sent.host_str().map(|host| host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase());
        let path = if self.path.is_empty() { "/" } else { &self.path };
        sent.scheme() == self.scheme
            && host.as_deref() == Some(self.host.as_str())
            && sent.port_or_known_default() == Some(self.port)
            && sent.path() == path
    }

    /// `scheme://host:port`: the metrics label and what logs name.
    pub fn origin(&self) -> String {
        match self.host.contains(':') {
            true => format!("{}://[{}]:{}", self.scheme, self.host, self.port),
            false => format!("{}://{}:{}", self.scheme, self.host, self.port),
        }
    }

    /// Whether the host is an IP address rather than a name.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Whether a path has a `.` or `..` segment, literal or percent-encoded: a server that
/// normalises it would escape an allowed prefix.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

impl Destination {
    /// Parses an allow-list URL: `scheme://host[:port][/path-prefix]`, no query, no
    /// credentials.
    pub fn parse(url: &str, private: bool) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(format!("{url:?} must not carry credentials; bind them as secrets"));
        }
        if uri.query().is_some() {
            return Err(format!("{url:?} must not have a query: an entry is a scheme, host, port and path prefix"));
        }
        let target = Target::of(&uri).ok_or_else(|| format!("{url:?} must be an absolute http:// or https:// URL"))?;
        if has_dot_segment(&target.path) {
            return Err(format!("{url:?} must not have . or .. path segments"));
        }
        let path_prefix = if target.path.is_empty() { "/".to_owned() } else { target.path };
        Ok(Self { scheme: target.scheme, host: target.host, port: target.port, path_prefix, private })
    }

    /// Whether `target` is this destination: same scheme, host and port, and a path under
    /// the prefix (a prefix `/v2` allows `/v2` and `/v2/...`, not `/v2x`).
    pub fn allows(&self, target: &Target) -> bool {
        if self.scheme != target.scheme || self.host != target.host || self.port != target.port {
            return false;
        }
        if has_dot_segment(&target.path) {
            return false;
        }
        let prefix = self.path_prefix.trim_end_matches('/');
        let path = if target.path.is_empty() { "/" } else { &target.path };
        prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
    }
}

impl OutboundGrant {
    /// Checks and converts a grant as written; errors are `(key, why)`.
    pub(crate) fn from_raw(raw: RawGrant) -> Result<Self, (String, String)> {
        if raw.allow.is_empty() {
            return Err(("allow".into(), "must list at least one destination".into()));
        }
        let mut allow = Vec::new();
        for (i, entry) in raw.allow.into_iter().enumerate() {
            let (url, private) = match entry {
                RawDestination::Url(url) => (url, false),
                RawDestination::Long { url, private } => (url, private),
            };
            allow.push(Destination::parse(&url, private).map_err(|why| (format!("allow[{i}]"), why))?);
        }
        let mut secrets = BTreeMap::new();
        for (name, secret) in raw.secrets {
            if !is_secret_name(&name) {
                return Err((
                    format!("secrets.{name}"),
                    "a secret's name is letters, digits, `_` and `-` (it is written ${secret:<name>})".into(),
                ));
            }
            let (value, only) = match secret {
                RawSecret::Value(value) => (value, None),
                RawSecret::Long { value, only } => {
                    let mut parsed = Vec::new();
                    for (i, url) in only.iter().enumerate() {
                        let at = || format!("secrets.{name}.only[{i}]");
                        let destination = Destination::parse(url, false).map_err(|why| (at(), why))?;
                        if !allow.iter().any(|allowed| allowed.allows(&destination.as_target())) {
                            return Err((at(), format!("{url:?} is not under any `allow` entry")));
                        }
                        parsed.push(destination);
                    }
                    (value, Some(parsed))
                }
            };
            if value.expose().is_empty() {
                return Err((format!("secrets.{name}"), "is empty (is its environment variable set?)".into()));
            }
            secrets.insert(name, BoundSecret { value, only });
        }
        let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(("timeout_ms".into(), format!("must be between 1 and {MAX_TIMEOUT_MS} (got {timeout_ms})")));
        }
        let bytes = |key: &str, value: Option<usize>| match value.unwrap_or(DEFAULT_MAX_BODY_BYTES) {
            n if (1..=MAX_BODY_BYTES).contains(&n) => Ok(n),
            n => Err((key.to_owned(), format!("must be between 1 and {MAX_BODY_BYTES} (got {n})"))),
        };
        let calls = |key: &str, value: Option<u32>, default: u32| match value.unwrap_or(default) {
            n if (1..=1000).contains(&n) => Ok(n),
            n => Err((key.to_owned(), format!("must be between 1 and 1000 (got {n})"))),
        };
        Ok(Self {
            allow,
            secrets,
            timeout: Duration::from_millis(timeout_ms),
            max_calls_per_hook: calls("max_calls_per_hook", raw.max_calls_per_hook, DEFAULT_MAX_CALLS_PER_HOOK)?,
            max_calls_per_request: calls(
                "max_calls_per_request",
                raw.max_calls_per_request,
                DEFAULT_MAX_CALLS_PER_REQUEST,
            )?,
            max_request_bytes: bytes("max_request_bytes", raw.max_request_bytes)?,
            max_response_bytes: bytes("max_response_bytes", raw.max_response_bytes)?,
            resolve: raw.resolve.into_iter().map(|(name, ip)| (name.to_ascii_lowercase(), ip)).collect(),
            client: OnceLock::new(),
        })
    }

    /// The client calls under this grant go through: no proxy from the environment, no
    /// redirects followed, no cookies, and a resolver that checks every address.
    pub fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            let private_names =
                self.allow.iter().filter(|d| d.private && d.host.parse::<IpAddr>().is_err()).map(|d| d.host.clone());
            let resolver = super::address::CheckedResolver {
                overrides: Arc::new(self.resolve.clone()),
                private_names: Arc::new(private_names.collect()),
            };
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(resolver))
                .pool_idle_timeout(Duration::from_secs(30))
                .user_agent(concat!("hookgate-plugin/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    /// The allow entry `target` falls under, if any.
    pub fn destination_for(&self, target: &Target) -> Option<&Destination> {
        self.allow.iter().find(|destination| destination.allows(target))
    }
}

impl Destination {
    fn as_target(&self) -> Target {
        Target { scheme: self.scheme.clone(), host: self.host.clone(), port: self.port, path: self.path_prefix.clone() }
    }
}

/// Whether `name` can be a secret's name.
pub(crate) fn is_secret_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::of(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_destination_is_scheme_host_port_and_a_path_prefix() {
        let d = Destination::parse("https://Events.PagerDuty.com/v2/", false).unwrap();
        assert_eq!((d.host.as_str(), d.port, d.path_prefix.as_str()), ("events.pagerduty.com", 443, "/v2/"));
        assert!(d.allows(&target("https://events.pagerduty.com/v2/enqueue")));
        assert!(d.allows(&target("https://events.pagerduty.com:443/v2")));
        assert!(!d.allows(&target("https://events.pagerduty.com/v2x")), "a prefix is a path segment boundary");
        assert!(!d.allows(&target("http://events.pagerduty.com/v2/enqueue")), "the scheme is part of it");
        assert!(!d.allows(&target("https://events.pagerduty.com:8443/v2/enqueue")), "so is the port");
        assert!(!d.allows(&target("https://events.pagerduty.com.evil.test/v2/enqueue")));
        assert!(!d.allows(&target("https://events.pagerduty.com/v2/../admin")), "no escaping the prefix");
        assert!(!d.allows(&target("https://events.pagerduty.com/v2/%2E%2e/admin")));
        let any = Destination::parse("http://127.0.0.1:8000", false).unwrap();
        // What the HTTP client would send elsewhere than the path checked is refused.
        for tricky in ["https://events.pagerduty.com/v2/..\\admin", "https://events.pagerduty.com/v2/%2e%2E\\admin"] {
            let uri: http::Uri = tricky.parse().unwrap();
            assert!(!Target::of(&uri).unwrap().read_alike(&uri), "{tricky}");
        }
        for plain in ["https://events.pagerduty.com/v2/enqueue?x=1", "https://[::1]:8443/a/b", "http://h"] {
            let uri: http::Uri = plain.parse().unwrap();
            assert!(Target::of(&uri).unwrap().read_alike(&uri), "{plain}");
        }
        assert!(any.allows(&target("http://127.0.0.1:8000/anything?q=1")));
    }

    #[test]
    fn entries_with_credentials_queries_or_other_schemes_are_refused() {
        assert!(Destination::parse("https://user:pw@host/", false).is_err());
        assert!(Destination::parse("https://host/?key=1", false).is_err());
        assert!(Destination::parse("ftp://host/", false).is_err());
        assert!(Destination::parse("host/path", false).is_err());
    }
}
