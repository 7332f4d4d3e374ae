//! `bearertokenauth` extension config, with the Collector's keys.

use std::path::PathBuf;

use serde::Deserialize;

use crate::component::auth::Secret;
use crate::confmap::{ConfigError, Validate};

/// `extensions.bearertokenauth`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenAuthConfig {
    /// Put before the token in the header value, with a space (default `Bearer`;
    /// empty: the header is the token alone).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// More tokens a receiver accepts (an exporter sends the first).
    #[serde(default)]
    pub tokens: Vec<Secret>,
    /// A file holding the token (whitespace around it ignored), re-read when it
    /// changes. Excludes `token` and `tokens`.
    #[serde(default)]
    pub filename: Option<PathBuf>,
    /// The header carrying it (default `Authorization`).
    #[serde(default = "default_header")]
    pub header: String,
}

fn default_scheme() -> String {
    "Bearer".into()
}

fn default_header() -> String {
    "Authorization".into()
}

impl BearerTokenAuthConfig {
    /// The tokens given inline, `token` first.
    pub fn inline_tokens(&self) -> Vec<Secret> {
        self.token.iter().chain(&self.tokens).cloned().collect()
    }
}

impl Validate for BearerTokenAuthConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let inline = self.inline_tokens();
        match (&self.filename, inline.is_empty()) {
            (None, true) => errors.push(ConfigError::new("token", "missing: set token, tokens or filename")),
            (Some(_), false) => errors.push(ConfigError::new(
                "filename",
                "set either filename or token/tokens, not both",
            )),
            _ => {}
        }
        if self.filename.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
            errors.push(ConfigError::new("filename", "must not be empty"));
        }
        for (i, token) in inline.iter().enumerate() {
            let at = if self.token.is_some() && i == 0 {
                "token".to_string()
            } else {
                format!("tokens[{}]", i - usize::from(self.token.is_some()))
            };
            if token.is_empty() {
                errors.push(ConfigError::new(at, "must not be empty"));
            } else if http::HeaderValue::from_str(&format!("{} {}", self.scheme, token.expose())).is_err() {
                // The value is not shown: it is a secret.
                errors.push(ConfigError::new(
                    at,
                    "is not valid in an HTTP header (control characters?)",
                ));
            }
        }
        if http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            errors.push(ConfigError::new(
                "header",
                format!("{:?} is not a valid header name", self.header),
            ));
        }
        if self.scheme.contains(char::is_whitespace) {
            errors.push(ConfigError::new("scheme", "must not contain spaces"));
        }
        errors
    }
}
