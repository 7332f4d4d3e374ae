//! `file` exporter config.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};
use crate::exporters::{default_timeout, HelperSettings, QueueConfig, RetryConfig};

/// `exporters.file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to append to (created if missing).
    pub path: PathBuf,
    /// Only `json` (OTLP/JSON lines) is supported.
    #[serde(default)]
    pub format: FileFormat,
}

/// Line format.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// OTLP/JSON, one request per line.
    #[default]
    Json,
}

impl Validate for FileConfig {
    fn validate(&self) -> Vec<ConfigError> {
        if self.path.as_os_str().is_empty() {
            return vec![ConfigError::new("path", "must not be empty")];
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                vec![ConfigError::new(
                    "path",
                    format!("directory {} does not exist", dir.display()),
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// Local writes rarely fail transiently; retry briefly, then count the loss.
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
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
            max_elapsed_time: Duration::from_secs(10),
            ..RetryConfig::default()
        },
    }
}
