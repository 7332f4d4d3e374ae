//! Settings shared by exporters, with the Collector's key names and defaults:
//! `sending_queue`, `retry_on_failure`, `timeout`, `compression`, `tls`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// The exporterhelper settings the topology applies around an exporter.
#[derive(Debug, Clone)]
pub struct HelperSettings {
    /// Per-attempt deadline.
    pub timeout: Duration,
    /// `sending_queue`.
    pub queue: QueueConfig,
    /// `retry_on_failure`.
    pub retry: RetryConfig,
}

/// `sending_queue`: a bounded in-memory queue drained by `num_consumers` workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// With the queue off, the pipeline waits for each export (and its retries).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Concurrent sends (default 10).
    #[serde(default = "default_num_consumers")]
    pub num_consumers: usize,
    /// Batches the queue holds before refusing more (default 1000).
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: default_num_consumers(),
            queue_size: default_queue_size(),
        }
    }
}

impl Validate for QueueConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.enabled && self.queue_size == 0 {
            errors.push(ConfigError::new("queue_size", "must be greater than 0"));
        }
        if self.enabled && self.num_consumers == 0 {
            errors.push(ConfigError::new("num_consumers", "must be greater than 0"));
        }
        errors
    }
}

fn yes() -> bool {
    true
}
fn default_num_consumers() -> usize {
    10
}
fn default_queue_size() -> usize {
    1000
}

/// `retry_on_failure`: exponential backoff with jitter, bounded in total time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Off: a failed attempt drops the batch (counted).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// First wait (default 5s).
    #[serde(default = "default_initial_interval", deserialize_with = "deserialize_duration")]
    pub initial_interval: Duration,
    /// Jitter: each wait is scaled by a random factor in `[1-r, 1+r]` (default 0.5).
    #[serde(default = "default_randomization_factor")]
    pub randomization_factor: f64,
    /// Growth per attempt (default 1.5).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Longest single wait (default 30s).
    #[serde(default = "default_max_interval", deserialize_with = "deserialize_duration")]
    pub max_interval: Duration,
    /// Give up after this long in total; 0 retries forever (default 300s).
    #[serde(default = "default_max_elapsed_time", deserialize_with = "deserialize_duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: default_initial_interval(),
            randomization_factor: default_randomization_factor(),
            multiplier: default_multiplier(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed_time(),
        }
    }
}

impl Validate for RetryConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            errors.push(ConfigError::new("randomization_factor", "must be between 0 and 1"));
        }
        if self.multiplier < 1.0 || !self.multiplier.is_finite() {
            errors.push(ConfigError::new("multiplier", "must be at least 1"));
        }
        if self.initial_interval.is_zero() && self.enabled {
            errors.push(ConfigError::new("initial_interval", "must be greater than 0"));
        }
        if self.max_interval < self.initial_interval {
            errors.push(ConfigError::new(
                "max_interval",
                "must not be less than initial_interval",
            ));
        }
        errors
    }
}

fn default_initial_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_randomization_factor() -> f64 {
    0.5
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_max_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_max_elapsed_time() -> Duration {
    Duration::from_secs(300)
}

/// The default per-attempt `timeout` (5s, as in the Collector).
pub fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `compression` for OTLP exporters (default gzip, as in the Collector).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (default).
    #[default]
    Gzip,
    /// zstd.
    Zstd,
    /// No compression.
    None,
}

/// `tls` for exporters. Without it, the connection uses TLS with the system roots
/// unless the endpoint says `http://`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// Plaintext (no TLS at all).
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of CA certificates to trust instead of the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Validate for ClientTls {
    fn validate(&self) -> Vec<ConfigError> {
        match &self.ca_file {
            Some(path) if !path.is_file() => vec![ConfigError::new(
                "ca_file",
                format!("{} does not exist or is not a file", path.display()),
            )],
            _ => Vec::new(),
        }
    }
}

/// Runs the `Validate` checks of the shared blocks of an exporter config, with paths.
pub fn validate_helper(queue: &QueueConfig, retry: &RetryConfig, timeout: Duration) -> Vec<ConfigError> {
    let mut errors: Vec<ConfigError> = queue.validate().into_iter().map(|e| e.under("sending_queue")).collect();
    errors.extend(retry.validate().into_iter().map(|e| e.under("retry_on_failure")));
    if timeout.is_zero() {
        errors.push(ConfigError::new("timeout", "must be greater than 0"));
    }
    errors
}
