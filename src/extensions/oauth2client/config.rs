//! `oauth2client` extension config, with the Collector's keys.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::component::auth::Secret;
use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// `extensions.oauth2client`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2ClientConfig {
    /// The client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// A file holding the client id, read at every token fetch (takes precedence).
    #[serde(default)]
    pub client_id_file: Option<PathBuf>,
    /// The client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret, read at every token fetch (takes precedence).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The token endpoint (`http://` or `https://`).
    pub token_url: String,
    /// Scopes asked for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// More form parameters of the token request (`audience`).
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    /// How long one token request may take (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// A token is renewed this long before it expires (default 5m).
    #[serde(default = "default_expiry_buffer", deserialize_with = "deserialize_duration")]
    pub expiry_buffer: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_expiry_buffer() -> Duration {
    Duration::from_secs(300)
}

impl Validate for OAuth2ClientConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.client_id.as_deref().unwrap_or("").is_empty() && self.client_id_file.is_none() {
            errors.push(ConfigError::new(
                "client_id",
                "missing: set client_id or client_id_file",
            ));
        }
        if self.client_secret.as_ref().is_none_or(Secret::is_empty) && self.client_secret_file.is_none() {
            errors.push(ConfigError::new(
                "client_secret",
                "missing: set client_secret or client_secret_file",
            ));
        }
        match self.token_url.parse::<http::Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
            _ => errors.push(ConfigError::new(
                "token_url",
                format!("{:?} is not an http:// or https:// URL", self.token_url),
            )),
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        errors
    }
}
