//! `resourcedetection` processor config, with the Collector's keys.

use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// `processors.resourcedetection`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDetectionConfig {
    /// The detectors to run, in order of precedence: when two detect the same
    /// attribute, the earlier one wins.
    #[serde(default)]
    pub detectors: Vec<DetectorKind>,
    /// Whether detected attributes replace attributes the resource already has
    /// (default false: existing values are kept; the Collector's default is true).
    #[serde(default, rename = "override")]
    pub override_existing: bool,
    /// How long detection may take (default 5s). sloop's detectors only read the
    /// environment and local files, so they finish well within it.
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// One detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    Env,
    /// `host.name` and `os.type`.
    System,
    /// Pod, namespace, node and pod IP from the downward-API variables the Helm chart
    /// sets (`K8S_POD_NAME`, `K8S_NAMESPACE_NAME`, `K8S_NODE_NAME`, `K8S_POD_IP`).
    K8sDownward,
}

impl Validate for ResourceDetectionConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.detectors.is_empty() {
            errors.push(ConfigError::new(
                "detectors",
                "at least one detector is required (env, system, k8s_downward)",
            ));
        }
        for (i, d) in self.detectors.iter().enumerate() {
            if self.detectors[..i].contains(d) {
                errors.push(ConfigError::new(format!("detectors[{i}]"), "listed twice"));
            }
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        errors
    }
}
