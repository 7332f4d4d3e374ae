//! `protocols.http.cors`: lets browsers on other origins send OTLP/HTTP, with the
//! Collector's keys.
//!
//! ```yaml
//! cors:
//!   allowed_origins: [https://app.example.com, "https://*.example.com"]
//!   allowed_headers: [X-Tenant]   # besides Accept, Content-Type, X-Requested-With
//!   max_age: 7200                 # seconds a browser may cache a preflight answer
//! ```
//!
//! - `allowed_origins`: origins (scheme, host, port) a browser may send from. One `*`
//!   per entry stands for any text, so `https://*.example.com` allows every
//!   subdomain (but not `https://example.com`), and `*` alone allows every origin.
//!   Compared case-insensitively. Empty or left out: CORS is off, as in the Collector.
//! - `allowed_headers`: request headers a cross-origin request may carry besides
//!   `Accept`, `Content-Type` and `X-Requested-With` (always allowed: every OTLP
//!   browser exporter sets `Content-Type`); `*` allows any.
//! - `max_age`: seconds a browser may cache a preflight answer (default: not sent).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered by sloop
//! itself; responses to an allowed origin carry `Access-Control-Allow-Origin` with
//! that origin, other origins get no CORS headers (so the browser blocks the
//! response). Only `POST` is allowed: the receiver has no other route.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::confmap::ConfigError;

/// Request headers always allowed on a cross-origin request.
const ALWAYS_ALLOWED_HEADERS: [&str; 3] = ["accept", "content-type", "x-requested-with"];

/// `protocols.http.cors`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to send, with `*` wildcards.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides the always-allowed ones; `*` for any.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    #[serde(default)]
    pub max_age: Option<u64>,
}

/// One `allowed_origins` entry: the text before and after its `*`, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OriginPattern {
    /// No wildcard: the origin itself (lowercase).
    Exact(String),
    /// `prefix*suffix` (lowercase).
    Wildcard { prefix: String, suffix: String },
}

impl OriginPattern {
    /// Parses an entry; more than one `*` is refused.
    pub(super) fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().to_ascii_lowercase();
        let mut parts = entry.split('*');
        let prefix = parts.next().unwrap_or_default().to_owned();
        match (parts.next(), parts.next()) {
            (None, _) if entry.is_empty() => Err("is empty".into()),
            (None, _) => Ok(Self::Exact(entry)),
            (Some(suffix), None) => Ok(Self::Wildcard {
                prefix,
                suffix: suffix.to_owned(),
            }),
            (Some(_), Some(_)) => Err(format!("{entry:?} has more than one '*'")),
        }
    }

    /// Whether `origin` (as the browser sent it) matches.
    pub(super) fn matches(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        match self {
            Self::Exact(exact) => origin == *exact,
            Self::Wildcard { prefix, suffix } => {
                origin.len() >= prefix.len() + suffix.len() && origin.starts_with(prefix) && origin.ends_with(suffix)
            }
        }
    }
}

impl CorsConfig {
    /// Checks the entries; `path` is `protocols.http.cors`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if let Err(message) = OriginPattern::parse(origin) {
                errors.push(ConfigError::new(format!("{path}.allowed_origins[{i}]"), message));
            }
        }
        for (i, header) in self.allowed_headers.iter().enumerate() {
            if header != "*" && HeaderName::try_from(header.as_str()).is_err() {
                errors.push(ConfigError::new(
                    format!("{path}.allowed_headers[{i}]"),
                    format!("{header:?} is not a valid header name"),
                ));
            }
        }
    }

    /// The layer that answers preflights and adds CORS headers, or `None` when no
    /// origin is allowed (CORS off). Entries that do not parse are left out (the
    /// config was validated before this runs).
    pub(crate) fn layer(&self) -> Option<CorsLayer> {
        let origins: Vec<OriginPattern> = self
            .allowed_origins
            .iter()
            .filter_map(|o| OriginPattern::parse(o).ok())
            .collect();
        if origins.is_empty() {
            return None;
        }
        let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| origins.iter().any(|p| p.matches(o)))
        });
        let allow_headers = if self.allowed_headers.iter().any(|h| h == "*") {
            AllowHeaders::mirror_request()
        } else {
            let names = ALWAYS_ALLOWED_HEADERS.iter().map(|h| HeaderName::from_static(h)).chain(
                self.allowed_headers
                    .iter()
                    .filter_map(|h| HeaderName::try_from(h.as_str()).ok()),
            );
            AllowHeaders::list(names)
        };
        let mut layer = CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST])
            .allow_headers(allow_headers);
        if let Some(seconds) = self.max_age {
            layer = layer.max_age(Duration::from_secs(seconds));
        }
        Some(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, origin: &str) -> bool {
        OriginPattern::parse(pattern).unwrap().matches(origin)
    }

    #[test]
    fn wildcards_match_any_text_in_their_place() {
        assert!(matches("https://*.example.com", "https://app.example.com"));
        assert!(matches("https://*.example.com", "https://a.b.example.com"));
        assert!(matches("https://*.example.com", "HTTPS://App.Example.COM"));
        assert!(!matches("https://*.example.com", "https://example.com"));
        assert!(!matches("https://*.example.com", "http://app.example.com"));
        assert!(!matches("https://*.example.com", "https://app.example.com.evil.io"));
        assert!(!matches("https://*.example.com", "https://evilexample.com"));
        assert!(matches("http://localhost:*", "http://localhost:3000"));
        assert!(matches("*", "https://anything.io"));
        assert!(matches("https://app.example.com", "https://app.example.com"));
        assert!(!matches("https://app.example.com", "https://app.example.com:8443"));
    }

    #[test]
    fn the_prefix_and_suffix_do_not_overlap() {
        // "https://a" is both the prefix and, overlapping, the suffix's start.
        assert!(!matches("https://a*a.io", "https://a.io"));
        assert!(matches("https://a*a.io", "https://aa.io"));
    }

    #[test]
    fn bad_entries_are_refused_with_their_index() {
        let config = CorsConfig {
            allowed_origins: vec!["https://ok.io".into(), "https://*.*.io".into(), " ".into()],
            allowed_headers: vec!["X-Ok".into(), "bad header".into(), "*".into()],
            max_age: None,
        };
        let mut errors = Vec::new();
        config.validate("protocols.http.cors", &mut errors);
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "protocols.http.cors.allowed_origins[1]",
                "protocols.http.cors.allowed_origins[2]",
                "protocols.http.cors.allowed_headers[1]"
            ]
        );
    }

    #[test]
    fn no_origin_means_no_cors() {
        assert!(CorsConfig::default().layer().is_none());
        let config = CorsConfig {
            allowed_origins: vec!["https://*.example.com".into()],
            ..CorsConfig::default()
        };
        assert!(config.layer().is_some());
    }
}
