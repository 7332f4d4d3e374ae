//! `pprof` extension config.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};
use crate::receivers::otlp::check_endpoint;

/// `extensions.pprof`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PprofConfig {
    /// `host:port` to serve `/debug/pprof/` on (default `localhost:1777`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Go's block-profile rate. Accepted only 0 (the default): sloop is not Go.
    #[serde(default)]
    pub block_profile_fraction: i64,
    /// Go's mutex-profile fraction. Accepted only 0 (the default): sloop is not Go.
    #[serde(default)]
    pub mutex_profile_fraction: i64,
    /// A file to write a CPU profile of the whole run to, at shutdown (default: none).
    #[serde(default)]
    pub save_to_file: Option<String>,
}

impl Default for PprofConfig {
    fn default() -> Self {
        Self {
            endpoint: default_endpoint(),
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: None,
        }
    }
}

fn default_endpoint() -> String {
    "localhost:1777".into()
}

impl Validate for PprofConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = check_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        for (key, value, profile) in [
            ("block_profile_fraction", self.block_profile_fraction, "blocking"),
            (
                "mutex_profile_fraction",
                self.mutex_profile_fraction,
                "mutex contention",
            ),
        ] {
            if value != 0 {
                errors.push(ConfigError::new(
                    key,
                    format!(
                        "sampling of {profile} events is a feature of the Go runtime, which sloop does not have; \
                         remove the key or set it to 0 (sloop serves CPU profiles only)"
                    ),
                ));
            }
        }
        if self.save_to_file.as_deref().is_some_and(str::is_empty) {
            errors.push(ConfigError::new("save_to_file", "must be a file path, or left out"));
        }
        errors
    }
}
