//! `health_check` extension config.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};
use crate::receivers::otlp::check_endpoint;

/// `extensions.health_check`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// `host:port` to listen on (default `localhost:13133`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Readiness path (default `/`).
    #[serde(default = "default_path")]
    pub path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            endpoint: default_endpoint(),
            path: default_path(),
        }
    }
}

fn default_endpoint() -> String {
    "localhost:13133".into()
}

fn default_path() -> String {
    "/".into()
}

impl Validate for HealthCheckConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = check_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        if !self.path.starts_with('/') {
            errors.push(ConfigError::new("path", "must start with '/'"));
        }
        errors
    }
}
