//! `basicauth` extension config, with the Collector's keys.

use std::path::PathBuf;

use serde::Deserialize;

use crate::component::auth::Secret;
use crate::confmap::{ConfigError, Validate};

/// `extensions.basicauth`: `htpasswd` makes it a server authenticator,
/// `client_auth` a client one; one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The accepted users.
    #[serde(default)]
    pub htpasswd: Option<HtpasswdConfig>,
    /// The credentials an exporter sends.
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
}

/// `htpasswd`: `inline` lines and/or a `file`, `user:hash` per line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtpasswdConfig {
    /// An htpasswd file, read at start.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// htpasswd lines in the config (hashes are kept out of `Debug`).
    #[serde(default)]
    pub inline: Option<Secret>,
}

/// `client_auth`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

impl Validate for BasicAuthConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match (&self.htpasswd, &self.client_auth) {
            (None, None) => errors.push(ConfigError::new(
                "htpasswd",
                "missing: set htpasswd (a receiver's authenticator) or client_auth (an exporter's)",
            )),
            (Some(_), Some(_)) => errors.push(ConfigError::new(
                "client_auth",
                "set either htpasswd or client_auth, not both (use two basicauth extensions)",
            )),
            _ => {}
        }
        if let Some(htpasswd) = &self.htpasswd {
            if htpasswd.file.is_none() && htpasswd.inline.is_none() {
                errors.push(ConfigError::new("htpasswd", "missing: set file or inline"));
            }
            if let Some(inline) = &htpasswd.inline {
                if let Err(e) = super::Htpasswd::parse(inline.expose()) {
                    errors.push(ConfigError::new("htpasswd.inline", e));
                }
            }
        }
        if let Some(client) = &self.client_auth {
            if client.username.is_empty() || client.username.contains(':') {
                errors.push(ConfigError::new(
                    "client_auth.username",
                    "must be non-empty and without ':'",
                ));
            }
        }
        errors
    }
}
