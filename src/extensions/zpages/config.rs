//! `zpages` extension config.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};
use crate::receivers::otlp::check_endpoint;

/// `extensions.zpages`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZPagesConfig {
    /// `host:port` to serve the pages on (default `localhost:55679`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// `expvar`: Go's runtime variables page. Accepted only disabled.
    #[serde(default)]
    pub expvar: ExpvarConfig,
}

/// `extensions.zpages.expvar`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpvarConfig {
    /// Whether to serve `/debug/expvarz` (default false).
    #[serde(default)]
    pub enabled: bool,
}

impl Default for ZPagesConfig {
    fn default() -> Self {
        Self {
            endpoint: default_endpoint(),
            expvar: ExpvarConfig::default(),
        }
    }
}

fn default_endpoint() -> String {
    "localhost:55679".into()
}

impl Validate for ZPagesConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = check_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        if self.expvar.enabled {
            errors.push(ConfigError::new(
                "expvar.enabled",
                "expvar serves the Go runtime's variables and sloop is not a Go program; \
                 remove it (sloop's own figures are on /debug/pipelinez and at service.telemetry.metrics)",
            ));
        }
        errors
    }
}
