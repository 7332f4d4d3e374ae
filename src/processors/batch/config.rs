//! `batch` processor config, with the Collector's keys and defaults.

use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// `processors.batch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send a batch this long after its first item arrived, full or not (default 200ms).
    /// When the pipeline's exporters acknowledge durably (a persistent queue,
    /// `wait_for_result`), a client is answered only once its batch was passed on, so
    /// this is also how long a request that does not fill a batch waits for its answer.
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Send as soon as this many items are waiting (default 8192; 0 = timeout only).
    /// When the exporters acknowledge durably, this is how many items one write to a
    /// persistent queue answers at once (a group commit): clients whose requests add
    /// up to it are answered without waiting for `timeout`.
    #[serde(default = "default_send_batch_size")]
    pub send_batch_size: usize,
    /// Never send more than this many items at once (default 0 = no limit).
    #[serde(default)]
    pub send_batch_max_size: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            timeout: default_timeout(),
            send_batch_size: default_send_batch_size(),
            send_batch_max_size: 0,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_millis(200)
}

fn default_send_batch_size() -> usize {
    8192
}

impl Validate for BatchConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            errors.push(ConfigError::new(
                "send_batch_max_size",
                format!(
                    "must be 0 (no limit) or at least send_batch_size ({})",
                    self.send_batch_size
                ),
            ));
        }
        errors
    }
}
