//! `debug` exporter config.

use serde::Deserialize;

use crate::confmap::Validate;
use crate::exporters::{default_timeout, HelperSettings, QueueConfig, RetryConfig};

/// `exporters.debug`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// How much to write.
    #[serde(default)]
    pub verbosity: Verbosity,
}

/// Output detail, named as in the Collector.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per batch.
    #[default]
    Basic,
    /// One line per item.
    Normal,
    /// Everything, as pretty OTLP/JSON.
    Detailed,
}

impl Validate for DebugConfig {}

/// Writing to stderr needs no retries; a small queue keeps the pipeline from waiting
/// on a slow terminal.
pub fn helper() -> HelperSettings {
    HelperSettings {
        timeout: default_timeout(),
        queue: QueueConfig {
            enabled: true,
            num_consumers: 1,
            queue_size: 100,
            ..QueueConfig::default()
        },
        retry: RetryConfig {
            enabled: false,
            ..RetryConfig::default()
        },
    }
}
